#!/usr/bin/env node
// bench/chat_fanout.js — chat fan-out latency: N socket.io 4.x clients
// (WebSocket) in one room, one sender; each message is timed from the
// sender's emit to the moment the LAST of the N clients has its getMsg.
// Messages go one at a time (the next after all N got the previous one and
// a short gap). Prints p50/p99/max in ms.
//
//   DONGMUL_BIN=build/static/dongmul node bench/chat_fanout.js \
//       [--clients 100] [--messages 300] [--gap 10]
//
// The clients are node (one process, one event loop), so the figure
// includes the client side's JSON parsing of N frames per message.
'use strict';
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { start, sleep } = require(path.join(__dirname, '../test/lib/dongmul'));
const { connect } = require(path.join(__dirname, '../test/lib/sio'));
const img = require(path.join(__dirname, '../test/lib/img'));

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}
const N = arg('clients', 100);
const M = arg('messages', 300);
const GAP = arg('gap', 10);

function pct(sorted, p) { return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]; }

async function newItem(srv, owner) {
  const mp = img.multipart([
    { name: 'file', filename: 'p.png', type: 'image/png', data: img.png({ w: 2, h: 2, seed: 9 }) },
    { name: 'category', value: '디지털/가전' }, { name: 'title', value: 'bench' },
    { name: 'wantItem', value: '아무거나' }, { name: 'comment', value: 'fan-out' },
    { name: 'deadLine', value: new Date(Date.now() + 86400e3).toISOString() },
  ]);
  const r = await srv.req('POST', '/mainPage/write', { body: mp.body, token: owner.token, headers: { 'content-type': mp.contentType } });
  if (r.status !== 201 && r.status !== 200) throw new Error(`post: ${r.status} ${r.body}`);
  return String(r.json.icrId);
}

(async () => {
  const srv = await start({ args: ['--threads', String(N + 64), '--rate-login', '100000'] });
  const clients = [];
  try {
    const owner = await srv.user({ address: '서울특별시 강남구' });
    const icrId = await newItem(srv, owner);
    const sender = await connect(srv, { v: 4, auth: { token: owner.token }, query: { icrId } });
    await sender.ack('joinRoom', { icrId });
    const arrivals = new Map(); // message index -> count received
    let want = -1, done = null, last = 0;
    for (let i = 0; i < N; i++) {
      const u = await srv.user();
      const c = await connect(srv, { v: 4, auth: { token: u.token }, query: { icrId } });
      const j = await c.ack('joinRoom', { icrId });
      if (j.msg !== 'success') throw new Error(JSON.stringify(j));
      c.sock.on('getMsg', (m) => {
        const k = Number(m.chatMsg.split(' ')[0]);
        const n = (arrivals.get(k) || 0) + 1;
        arrivals.set(k, n);
        if (k === want && n === N) { last = performance.now(); done(); }
      });
      clients.push(c);
    }
    await sleep(300);
    const lat = [];
    const t0all = performance.now();
    for (let k = 0; k < M; k++) {
      want = k;
      const got = new Promise((r) => { done = r; });
      const t0 = performance.now();
      sender.emit('sendMsg', { icrId, chatMsg: `${k} 팬아웃 측정 메시지` });
      await got;
      lat.push(last - t0);
      if (GAP) await sleep(GAP);
    }
    const wall = (performance.now() - t0all) / 1000;
    lat.sort((a, b) => a - b);
    const res = {
      clients: N, messages: M,
      p50_ms: +pct(lat, 50).toFixed(2), p99_ms: +pct(lat, 99).toFixed(2), max_ms: +lat[lat.length - 1].toFixed(2),
      mean_ms: +(lat.reduce((a, b) => a + b, 0) / lat.length).toFixed(2),
      deliveries_per_s: Math.round((N * M) / wall),
    };
    console.log(`fan-out to ${N} clients, ${M} messages: p50 ${res.p50_ms} ms, p99 ${res.p99_ms} ms, max ${res.max_ms} ms`);
    console.log(JSON.stringify(res));
  } finally {
    for (const c of clients) c.close();
    const r = await srv.stop();
    if (r.code !== 0) { console.error(`server exit ${JSON.stringify(r)}`); process.exitCode = 1; }
  }
})().catch((e) => { console.error(e); process.exit(1); });
