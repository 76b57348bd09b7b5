// node bench/ws_idle_rss.js BINARY [N]: N authenticated Engine.IO v4
// WebSocket clients sit idle on one server; prints the server's open
// dongmul.db descriptors (one per SQLite connection) and its VmRSS.
'use strict';
const { start, sleep } = require('../test/lib/dongmul');
const WebSocket = require('../test/node_modules/ws');
const fs = require('fs');
const N = Number(process.argv[3] || 300);
(async () => {
  const s = await start({ bin: process.argv[2], args: ['--threads', String(N + 100)] });
  const u = await s.user();
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
  const pid = s.proc.pid;
  const fds = fs.readdirSync(`/proc/${pid}/fd`).map((f) => { try { return fs.readlinkSync(`/proc/${pid}/fd/${f}`); } catch { return ''; } });
  const dbfds = fds.filter((l) => l.endsWith('dongmul.db')).length;
  const rss = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1];
  console.log(`${process.argv[2]}: ${N} authenticated ws: dongmul.db fds=${dbfds} VmRSS=${rss} kB`);
  for (const w of socks) w.terminate();
  console.log(await s.stop());
})();
