// Helpers for black-box tests that need items, chat rooms and trades:
// post an item (multipart, a real PNG), connect a socket.io-client 4.x
// socket to /chatting, emit with an ack, and bring a trade to SI02.
'use strict';
const { io } = require('socket.io-client');
const { png } = require('./img');
const { spawnSync } = require('node:child_process');
const { BIN } = require('./dongmul');

let seq = 0;

// POST /mainPage/write as u. o: {title, deadLine (ms), category, wantItem,
// comment, freeYn ('Y': 나눔; then wantItem is left out unless given),
// photos (how many, default 1)}. Returns {status, json}.
async function postItem(srv, u, o = {}) {
  seq += 1;
  const fd = new FormData();
  for (let k = 0; k < (o.photos || 1); k++) {
    // a different picture each time (size and shade)
    const img = png({ w: 2 + (seq % 50), h: 2 + Math.floor(seq / 50) + k * 60, seed: (seq * 37) & 0xff });
    fd.append('file', new Blob([img], { type: 'image/png' }), 'photo.png');
  }
  fd.append('title', o.title || `물건 ${seq}`);
  fd.append('category', o.category || '기타 중고물품');
  if (o.freeYn) fd.append('freeYn', o.freeYn);
  if (o.wantItem !== undefined || o.freeYn !== 'Y') fd.append('wantItem', o.wantItem !== undefined ? o.wantItem : '책');
  fd.append('comment', o.comment || '상태 좋아요');
  fd.append('deadLine', new Date(o.deadLine || Date.now() + 2 * 86400000).toISOString());
  const res = await fetch(`${srv.url}/mainPage/write`, { method: 'POST', headers: { authorization: u.token }, body: fd });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, json, body: text };
}

// A socket.io-client 4.x socket on /chatting authenticated as u; resolves
// once connected. Collects `notification` events in s.notes and other
// events by name in s.got[name].
function connect(srv, u, query) {
  return new Promise((resolve, reject) => {
    const s = io(`${srv.url}/chatting`, {
      auth: { token: u.token }, query, transports: ['websocket'], forceNew: true, reconnection: false,
    });
    s.notes = [];
    s.got = {};
    s.on('notification', (n) => s.notes.push(n));
    s.onAny((ev, arg) => { if (ev !== 'notification') (s.got[ev] = s.got[ev] || []).push(arg); });
    const t = setTimeout(() => { s.close(); reject(new Error('socket connect timeout')); }, 10000);
    s.on('connect', () => { clearTimeout(t); resolve(s); });
    s.on('connect_error', (e) => { clearTimeout(t); s.close(); reject(e); });
  });
}

// Emits ev with payload and resolves with the ack reply.
function emit(s, ev, payload) {
  return s.timeout(10000).emitWithAck(ev, payload);
}

// Waits until pred() is true (polling every 50 ms), at most ms.
async function until(pred, ms = 10000, what = 'condition') {
  const t0 = Date.now();
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// owner posts an item, partner joins its room, owner chooses partner: SI02.
// Returns {itemId, icrId}.
async function tradeInProgress(srv, owner, partner, o = {}) {
  const it = await postItem(srv, owner, o);
  if (it.status !== 201) throw new Error(`post failed: ${it.status} ${it.body}`);
  const { itemId, icrId } = it.json;
  const ps = await connect(srv, partner);
  const os = await connect(srv, owner);
  try {
    const j = await emit(ps, 'joinRoom', { icrId });
    if (j.msg !== 'success') throw new Error(`join failed: ${JSON.stringify(j)}`);
    const x = await emit(os, 'exchange', { icrId, itemId, consumerUserId: partner.userId });
    if (x.msg !== 'success') throw new Error(`exchange failed: ${JSON.stringify(x)}`);
  } finally {
    ps.close();
    os.close();
  }
  return { itemId, icrId };
}

// Runs `dongmul user ...args` against srv's data dir. Returns {status, stdout, stderr}.
function userCmd(srv, ...args) {
  const r = spawnSync(process.env.DONGMUL_BIN || BIN, ['user', ...args, '--data', srv.data], { encoding: 'utf8', timeout: 30000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// A promise that rejects after ms (socket waits must be bounded).
function within(ms, what, fn) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timeout: ${what}`)), ms);
    fn((v) => { clearTimeout(t); resolve(v); }, (e) => { clearTimeout(t); reject(e); });
  });
}

// A Socket.IO (v4) connection to /chatting authenticated as u.
function connectChat(srv, u) {
  return within(5000, 'socket connect', (resolve, reject) => {
    const s = io(`${srv.url}/chatting`, { auth: { token: u.token }, transports: ['websocket'], forceNew: true, reconnection: false });
    s.on('connect', () => resolve(s));
    s.on('connect_error', (e) => { s.close(); reject(e); });
  });
}

// Emits event on socket s and waits for the reply event on it.
function emitWait(s, event, payload, reply) {
  return within(5000, event, (resolve, reject) => {
    s.once(reply, resolve);
    s.once('error', (e) => reject(new Error(JSON.stringify(e))));
    s.emit(event, payload);
  });
}

module.exports = { postItem, connect, emit, until, tradeInProgress, userCmd, within, connectChat, emitWait };
