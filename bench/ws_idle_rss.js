// node bench/ws_idle_rss.js BINARY [N]: N authenticated Engine.IO v4
// WebSocket clients sit idle on one server; prints the server's open
// dongmul.db descriptors (one per SQLite connection), its VmRSS, and from
// /proc/PID/smaps how much of it is thread stacks: civetweb's workers are
// the 260 KiB mappings (-DUSE_STACK_SIZE=262144 + a guard page), one per
// --threads, and only their touched pages count. Run it before and after a
// change to see what one idle client costs: (VmRSS(N) - VmRSS(0)) / N.
'use strict';
const { start, sleep } = require('../test/lib/dongmul');
const WebSocket = require('../test/node_modules/ws');
const fs = require('fs');
const N = Number(process.argv[3] || 300);

// {stacks kB, stacks counted, rest kB} from smaps
function smaps(pid) {
  let size = 0, stacks = 0, nstacks = 0, rest = 0;
  for (const l of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = l.match(/^([0-9a-f]+)-([0-9a-f]+) /);
    if (m) { size = (parseInt(m[2], 16) - parseInt(m[1], 16)) / 1024; continue; }
    const r = l.match(/^Rss:\s+(\d+)/);
    if (!r) continue;
    if (size === 260) { stacks += Number(r[1]); nstacks++; } else rest += Number(r[1]);
  }
  return { stacks, nstacks, rest };
}

function report(pid, what) {
  const fds = fs.readdirSync(`/proc/${pid}/fd`).map((f) => { try { return fs.readlinkSync(`/proc/${pid}/fd/${f}`); } catch { return ''; } });
  const dbfds = fds.filter((l) => l.endsWith('dongmul.db')).length;
  const rss = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1];
  const s = smaps(pid);
  console.log(`${what}: dongmul.db fds=${dbfds} VmRSS=${rss} kB (worker stacks ${s.stacks} kB in ${s.nstacks}, the rest ${s.rest} kB)`);
}

(async () => {
  const s = await start({ bin: process.argv[2], args: ['--threads', String(N + 100)] });
  const u = await s.user();
  const pid = s.proc.pid;
  await sleep(300);
  report(pid, `${process.argv[2]}: 0 ws`);
  const socks = [];
  for (let i = 0; i < N; i++) {
    const ws = new WebSocket(`ws://127.0.0.1:${s.port}/socket.io/?EIO=4&transport=websocket`);
    await new Promise((res, rej) => { ws.once('message', () => res()); ws.once('error', rej); });
    const ok = new Promise((res) => ws.on('message', (m) => { m = String(m); if (m.startsWith('40/chatting')) res(m); if (m === '2') ws.send('3'); }));
    ws.send(`40/chatting,${JSON.stringify({ token: u.token })}`);
    await ok;
    socks.push(ws);
  }
  await sleep(500);
  report(pid, `${process.argv[2]}: ${N} authenticated ws`);
  for (const w of socks) w.terminate();
  console.log(await s.stop());
})();
