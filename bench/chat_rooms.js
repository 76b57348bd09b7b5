#!/usr/bin/env node
// bench/chat_rooms.js — chat throughput across busy rooms: R rooms of K
// members each (socket.io 4.x over WebSocket); in every room S members
// send as fast as the server acknowledges, each keeping W messages
// unacknowledged, for D seconds. Prints committed messages per second
// (sendMsg acks: a message is acked after its commit and fan-out), the
// deliveries per second (getMsg received by members) and ack latency.
//
//   DONGMUL_BIN=build/static/dongmul node bench/chat_rooms.js \
//       [--rooms 10] [--members 10] [--senders 2] [--window 16] [--seconds 10]
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
const R = arg('rooms', 10);
const K = arg('members', 10);
const S = arg('senders', 2);
const W = arg('window', 16);
const D = arg('seconds', 10);

function pct(sorted, p) { return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]; }

async function newItem(srv, owner, n) {
  const mp = img.multipart([
    { name: 'file', filename: 'p.png', type: 'image/png', data: img.png({ w: 2, h: 2, seed: n }) },
    { name: 'category', value: '디지털/가전' }, { name: 'title', value: `bench ${n}` },
    { name: 'wantItem', value: '아무거나' }, { name: 'comment', value: 'rooms' },
    { name: 'deadLine', value: new Date(Date.now() + 86400e3).toISOString() },
  ]);
  const r = await srv.req('POST', '/mainPage/write', { body: mp.body, token: owner.token, headers: { 'content-type': mp.contentType } });
  if (r.status !== 201 && r.status !== 200) throw new Error(`post: ${r.status} ${r.body}`);
  return String(r.json.icrId);
}

(async () => {
  const srv = await start({ args: ['--threads', String(R * K + 64), '--rate-login', '100000'] });
  const all = [];
  try {
    const rooms = [];
    for (let r = 0; r < R; r++) {
      const owner = await srv.user({ address: '서울특별시 강남구' });
      const icrId = await newItem(srv, owner, r + 1);
      const members = [];
      for (let k = 0; k < K; k++) {
        const u = k === 0 ? owner : await srv.user();
        const c = await connect(srv, { v: 4, auth: { token: u.token }, query: { icrId } });
        const j = await c.ack('joinRoom', { icrId });
        if (j.msg !== 'success') throw new Error(JSON.stringify(j));
        c.delivered = 0;
        c.sock.on('getMsg', () => { c.delivered += 1; });
        members.push(c);
        all.push(c);
      }
      rooms.push({ icrId, members });
    }
    await sleep(300);
    let stop = false, acked = 0, failed = 0;
    const ackLat = [];
    const t0 = performance.now();
    const loops = [];
    for (const room of rooms) {
      for (let s = 0; s < S; s++) {
        const c = room.members[s];
        for (let w = 0; w < W; w++) {
          loops.push((async () => {
            let k = 0;
            while (!stop) {
              const t = performance.now();
              const a = await c.ack('sendMsg', { icrId: room.icrId, chatMsg: `${s}-${w}-${k++} 처리량 측정` }, 30000);
              if (a.msg === 'success') { acked += 1; ackLat.push(performance.now() - t); } else failed += 1;
            }
          })());
        }
      }
    }
    await sleep(D * 1000);
    stop = true;
    await Promise.all(loops);
    const secs = (performance.now() - t0) / 1000;
    await sleep(500); // let deliveries drain
    const delivered = all.reduce((a, c) => a + c.delivered, 0);
    ackLat.sort((a, b) => a - b);
    const res = {
      rooms: R, members: K, senders_per_room: S, window: W, seconds: +secs.toFixed(2),
      messages: acked, refused: failed, messages_per_s: Math.round(acked / secs),
      deliveries: delivered, deliveries_per_s: Math.round(delivered / secs),
      ack_p50_ms: +pct(ackLat, 50).toFixed(2), ack_p99_ms: +pct(ackLat, 99).toFixed(2),
    };
    if (delivered !== acked * K) console.log(`note: ${delivered} deliveries for ${acked} messages x ${K} members`);
    console.log(`${R} rooms x ${K} members: ${res.messages_per_s} messages/s committed and fanned out, ${res.deliveries_per_s} deliveries/s; ack p50 ${res.ack_p50_ms} ms, p99 ${res.ack_p99_ms} ms`);
    console.log(JSON.stringify(res));
  } finally {
    for (const c of all) c.close();
    const r = await srv.stop();
    if (r.code !== 0) { console.error(`server exit ${JSON.stringify(r)}`); process.exitCode = 1; }
  }
})().catch((e) => { console.error(e); process.exit(1); });
