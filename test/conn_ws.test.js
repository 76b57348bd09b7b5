// Connections that wait cost no thread: open WebSockets (ws and wss) and
// parked long-polls live on sio's event loop, read and framed by sio itself
// (src/web/sio_loop.c, src/core/ws.c); caps keep one client from taking the server.
// Real clients: socket.io-client 4.x and 2.x, plus a hand-rolled RFC 6455
// client over net/tls for the framing rules a library client never breaks.
// Bounds on answers are generous (the failure these guard against is no
// answer at all).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const tls = require('node:tls');
const crypto = require('node:crypto');
const { io: io4 } = require('socket.io-client');
const io2 = require('socket.io-client-v2');
const { start, sleep } = require('./lib/dongmul');
const { RawPolling, raw } = require('./lib/sio');
const { postItem } = require('./lib/market');

const ADDR = '서울특별시 강남구 역삼동';
const RL = ['--rate-login', '100000'];
const BOUND = 10000; // ms: "still answers", not a speed measure

// An event with an ack, on a 2.x or 4.x socket.
function emit(s, ev, payload) {
  return bounded(BOUND, `ack of ${ev}`, new Promise((resolve) => s.emit(ev, payload, resolve)));
}

function threads(pid) {
  return Number(fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/Threads:\s+(\d+)/)[1]);
}

function bounded(ms, what, p) {
  let t;
  return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`no answer in ${ms} ms: ${what}`)), ms); })])
    .finally(() => clearTimeout(t));
}

// One socket.io client on /chatting authenticated as u. v 4: websocket
// only; v 2: the seed's default (polling, then the upgrade).
function sock(srv, u, { v = 4, secure = false, query } = {}) {
  const base = secure ? srv.surl : srv.url;
  if (v === 2) {
    return io2(`${base}/chatting`, {
      query: `token=${encodeURIComponent(u.token)}${query ? `&${query}` : ''}`,
      transports: ['polling', 'websocket'], forceNew: true, reconnection: false, rejectUnauthorized: false, timeout: 60000,
    });
  }
  return io4(`${base}/chatting`, {
    auth: { token: u.token }, query, transports: ['websocket'], forceNew: true, reconnection: false,
    rejectUnauthorized: false, timeout: 60000,
  });
}

function connected(s, ms = 60000) {
  return bounded(ms, 'socket connect', new Promise((resolve, reject) => {
    if (s.connected) { resolve(s); return; }
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  }));
}

// n sockets over users (at most perUser each), opened 100 at a time.
async function openMany(srv, users, n, opts) {
  const out = [];
  for (let i = 0; i < n; i += 100) {
    const batch = [];
    for (let k = i; k < Math.min(n, i + 100); k++) {
      const o = typeof opts === 'function' ? opts(k) : opts;
      batch.push(sock(srv, users[k % users.length], o));
    }
    out.push(...batch);
    await Promise.all(batch.map((s) => connected(s)));
  }
  return out;
}

// /healthz, a feed, and a chat round trip (a message sent by one member
// reaches the other) each answer within BOUND.
async function stillServes(srv, owner, guest, icrId, { secure = false } = {}) {
  const req = secure ? srv.sreq : srv.req;
  const h = await bounded(BOUND, '/healthz', req('GET', '/healthz'));
  assert.equal(h.status, 200);
  const f = await bounded(BOUND, 'feed', req('GET', '/mainPage', { token: owner.token }));
  assert.equal(f.status, 200, f.body);
  assert.ok(Array.isArray(f.json.data), 'a feed');
  const a = await connected(sock(srv, owner, { secure, query: { icrId } }));
  const b = await connected(sock(srv, guest, { secure, query: { icrId } }));
  try {
    const j = await bounded(BOUND, 'joinRoom', emit(b, 'joinRoom', { icrId }));
    assert.equal(j.msg, 'success', JSON.stringify(j));
    const text = `왕복 ${Date.now()}`;
    const got = bounded(BOUND, 'getMsg', new Promise((resolve) => a.on('getMsg', (m) => {
      if (JSON.stringify(m).includes(text)) resolve(m);
    })));
    const ack = await bounded(BOUND, 'sendMsg', emit(b, 'sendMsg', { icrId, chatMsg: text }));
    assert.equal(ack.msg, 'success', JSON.stringify(ack));
    await got;
  } finally {
    a.close();
    b.close();
  }
}

async function market(srv) {
  const owner = await srv.user({ address: ADDR });
  const guest = await srv.user({ address: ADDR });
  const it = await postItem(srv, owner);
  assert.equal(it.status, 201, it.body);
  return { owner, guest, icrId: String(it.json.icrId) };
}

async function users(srv, n) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await srv.user());
  return out;
}

// ------------------------------------------------- 1,000 open WebSockets

for (const secure of [false, true]) {
  test(`1,000 open socket.io ${secure ? 'wss' : 'ws'} sockets (v4 websocket-only and v2 polling→upgrade) cost no thread; /healthz, a feed and a chat round trip still answer; SIGTERM exits in 5 s`, async () => {
    const srv = await start({ https: secure, args: RL });
    let stopped = false;
    try {
      const { owner, guest, icrId } = await market(srv);
      const us = await users(srv, 20);
      const t0 = threads(srv.proc.pid);
      const socks = await openMany(srv, us, 1000, (k) => ({ secure, v: secure || k % 4 ? 4 : 2 }));
      // v2 clients upgrade from polling: wait for every one to be on a WebSocket
      const onWs = () => socks.filter((s) => (s.io.engine.transport.name || s.io.engine.transport.query?.transport) === 'websocket').length;
      for (let i = 0; i < 200 && onWs() < socks.length; i++) await sleep(100);
      assert.equal(onWs(), socks.length, 'every socket on a WebSocket');
      const metric = async (name) => Number((await srv.req('GET', '/metrics')).body.match(new RegExp(`^${name} (\\d+)$`, 'm'))[1]);
      assert.equal(await metric('dongmul_sio_websockets'), 1000);
      const t1 = threads(srv.proc.pid);
      assert.ok(t1 <= t0 + 4, `threads ${t0} before, ${t1} with 1,000 sockets`);
      await stillServes(srv, owner, guest, icrId, { secure });
      // every socket is live: a v4 emit gets its ack
      const sample = socks.filter((s, k) => k % 97 === 0);
      const acks = await bounded(BOUND * 3, 'acks', Promise.all(sample.map((s) => emit(s, 'authenticate', { token: owner.token }).catch((e) => e))));
      assert.ok(acks.every((a) => a && typeof a === 'object' && !(a instanceof Error)), JSON.stringify(acks.slice(0, 3)));
      const r = await srv.stop();
      stopped = true;
      assert.equal(r.code, 0, srv.log().slice(-2000));
      assert.ok(r.ms < 5000, `SIGTERM took ${r.ms} ms with 1,000 sockets open`);
      for (const s of socks) s.close();
    } finally {
      if (!stopped) await srv.kill();
    }
  });
}

// ------------------------------------------------------ parked long-polls

test('200 waiting long-polls (many more than the worker threads) are parked: /healthz answers; each GET is answered by a frame or at pingInterval', async () => {
  // pingInterval 8 s: a GET held by a thread would keep /healthz waiting
  // behind rounds of them (200 from one address: under --max-conns-per-ip)
  const srv = await start({ args: [...RL, '--sio-ping-interval', '8000', '--sio-ping-timeout', '20000'] });
  try {
    const { owner, guest, icrId } = await market(srv);
    const t0 = threads(srv.proc.pid);
    const polls = [];
    for (let i = 0; i < 200; i++) {
      const p = new RawPolling(srv, i % 2 ? 4 : 3);
      await p.open();
      polls.push(p);
    }
    const started = Date.now();
    const gets = polls.map((p) => p.get());
    await sleep(500);
    assert.ok(threads(srv.proc.pid) <= t0 + 4, 'no thread per waiting GET');
    const h = await bounded(BOUND, '/healthz', srv.req('GET', '/healthz'));
    assert.equal(h.status, 200);
    await stillServes(srv, owner, guest, icrId);
    const rs = await bounded(BOUND * 4, 'the parked GETs', Promise.all(gets));
    for (const r of rs) assert.equal(r.status, 200, r.body);
    // v4: the ping at pingInterval; v3: a noop when pingInterval passed
    assert.ok(rs.filter((r, i) => i % 2).every((r) => r.packets.includes('2')), 'v4 pings');
    assert.ok(rs.filter((r, i) => !(i % 2)).every((r) => r.packets.includes('6')), 'v3 noops');
    assert.ok(Date.now() - started >= 6000, 'the GETs waited');
    // a parked GET gets a frame queued while it waits (a v3 pong)
    const p = polls[0];
    const g = p.get();
    await sleep(300);
    const post = await p.post(['2hello']);
    assert.equal(post.status, 200);
    const r = await bounded(BOUND, 'pong to a parked GET', g);
    assert.deepEqual(r.packets, ['3hello']);
    // overlapping GETs: the session is closed (as before)
    const p2 = polls[2];
    const g1 = p2.get();
    await sleep(200);
    const g2 = await p2.get();
    assert.equal(g2.status, 400);
    const r1 = await bounded(BOUND, 'first GET of an overlap', g1);
    assert.ok(r1.packets.includes('1'), `closed: ${r1.body}`);
  } finally {
    const r = await srv.stop();
    assert.equal(r.code, 0, srv.log().slice(-2000));
  }
});

test('a polling client whose GET waits and the upgrade probe: v2 polling→upgrade delivers what was queued, in order', async () => {
  const srv = await start({ args: RL });
  try {
    const { owner, guest, icrId } = await market(srv);
    const a = io2(`${srv.url}/chatting`, { query: `token=${encodeURIComponent(owner.token)}&icrId=${icrId}`, forceNew: true, reconnection: false });
    await connected(a);
    const b = await connected(sock(srv, guest, { query: { icrId } }));
    assert.equal((await emit(b, 'joinRoom', { icrId })).msg, 'success');
    const got = [];
    a.on('getMsg', (m) => got.push(JSON.stringify(m)));
    for (let i = 0; i < 20; i++) {
      const ack = await emit(b, 'sendMsg', { icrId, chatMsg: `순서 ${i}` });
      assert.equal(ack.msg, 'success');
    }
    for (let i = 0; i < 100 && got.length < 20; i++) await sleep(100);
    assert.equal(got.length, 20);
    got.forEach((m, i) => assert.ok(m.includes(`순서 ${i}`), `message ${i} in order: ${m}`));
    assert.equal(a.io.engine.transport.name, 'websocket', 'upgraded');
    a.close();
    b.close();
  } finally {
    await srv.stop();
  }
});

// -------------------------------------------------------- RFC 6455 rules

// A hand-made WebSocket client (so it can break the rules).
async function rawClient(srv, { secure = false, query = 'EIO=4&transport=websocket' } = {}) {
  const port = secure ? srv.tport : srv.port;
  const sk = secure ? tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }) : net.connect({ host: '127.0.0.1', port });
  await new Promise((res, rej) => { sk.once(secure ? 'secureConnect' : 'connect', res); sk.once('error', rej); });
  const key = crypto.randomBytes(16).toString('base64');
  sk.write(`GET /socket.io/?${query} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  let buf = Buffer.alloc(0);
  const frames = [];
  const waiters = [];
  let ended = false;
  let head = null;
  const pump = () => {
    if (!head) {
      const i = buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      head = buf.subarray(0, i).toString();
      buf = buf.subarray(i + 4);
    }
    for (;;) {
      if (buf.length < 2) break;
      let len = buf[1] & 0x7f, off = 2;
      if (len === 126) { if (buf.length < 4) break; len = buf.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (buf.length < 10) break; len = Number(buf.readBigUInt64BE(2)); off = 10; }
      if (buf[1] & 0x80) throw new Error('a server frame must not be masked');
      if (buf.length < off + len) break;
      frames.push({ fin: !!(buf[0] & 0x80), op: buf[0] & 0x0f, data: buf.subarray(off, off + len) });
      buf = buf.subarray(off + len);
    }
  };
  sk.on('data', (d) => { buf = Buffer.concat([buf, d]); pump(); waiters.splice(0).forEach((w) => w()); });
  sk.on('close', () => { ended = true; waiters.splice(0).forEach((w) => w()); });
  sk.on('error', () => {});
  const c = {
    sk,
    // the next frame (pred: skip others), or null once the connection ended
    next(pred = () => true, ms = BOUND) {
      return bounded(ms, 'a frame', new Promise((resolve) => {
        const look = () => {
          while (frames.length) { const f = frames.shift(); if (pred(f)) { resolve(f); return; } }
          if (ended) { resolve(null); return; }
          waiters.push(look);
        };
        look();
      }));
    },
    text(pred = () => true) { return c.next((f) => f.op === 1 && pred(f.data.toString())).then((f) => f && f.data.toString()); },
    ended() { return bounded(BOUND, 'the server closing the TCP connection', new Promise((resolve) => { const w = () => (ended ? resolve() : waiters.push(w)); w(); })); },
    head: () => head,
    // a frame: op, payload; o: fin, mask (default true), rsv, len (declared)
    send(op, payload, o = {}) {
      const data = Buffer.from(payload);
      const mask = o.mask !== false;
      const len = o.len !== undefined ? o.len : data.length;
      const hdr = [((o.fin === false ? 0 : 0x80) | (o.rsv || 0) | op)];
      if (len < 126) hdr.push((mask ? 0x80 : 0) | len);
      else if (len < 65536) hdr.push((mask ? 0x80 : 0) | 126, len >> 8, len & 255);
      else { hdr.push((mask ? 0x80 : 0) | 127); const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(len)); hdr.push(...b); }
      const parts = [Buffer.from(hdr)];
      if (mask) {
        const k = crypto.randomBytes(4);
        parts.push(k, Buffer.from(data.map((x, i) => x ^ k[i & 3])));
      } else parts.push(data);
      sk.write(Buffer.concat(parts));
    },
    closeCode: (f) => (f && f.op === 8 && f.data.length >= 2 ? f.data.readUInt16BE(0) : null),
  };
  // the reply head (101, or a refusal)
  await bounded(BOUND, 'the handshake reply', new Promise((resolve) => { const w = () => (head || ended ? resolve() : waiters.push(w)); w(); }));
  return c;
}

test('RFC 6455 on the event loop (ws and wss): fragments with a ping between, pong, close handshake both ways, and every violation closed with its code', async () => {
  const srv = await start({ https: true, args: RL });
  try {
    const u = await srv.user();
    for (const secure of [false, true]) {
      // fragmented CONNECT with a ping between the fragments
      let c = await rawClient(srv, { secure });
      assert.match(c.head(), /^HTTP\/1.1 101/);
      assert.match(await c.text(), /^0\{"sid"/);
      const msg = `40/chatting,${JSON.stringify({ token: u.token })}`;
      c.send(1, msg.slice(0, 5), { fin: false });
      c.send(9, 'ping!');
      c.send(0, msg.slice(5, 20), { fin: false });
      c.send(0, msg.slice(20));
      const pong = await c.next((f) => f.op === 10);
      assert.equal(pong.data.toString(), 'ping!');
      assert.match(await c.text(), /^40\/chatting,\{"sid":"/);
      // an ack through the workers
      c.send(1, `42/chatting,7${JSON.stringify(['authenticate', { token: u.token }])}`);
      assert.match(await c.text((t) => t.startsWith('43')), /^43\/chatting,7\[\{"msg":"success"/);
      // a text frame of 100 KB (64-bit length field not needed; 16-bit is) arrives whole
      c.send(1, `42/chatting,8${JSON.stringify(['authenticate', { token: u.token, pad: 'x'.repeat(100000) }])}`);
      assert.match(await c.text((t) => t.startsWith('43')), /^43\/chatting,8/);
      // the client closes: the server answers with a close frame and ends TCP
      c.send(8, Buffer.from([0x03, 0xe8]));
      const cf = await c.next((f) => f.op === 8);
      assert.equal(c.closeCode(cf), 1000);
      await c.ended();

      // the server closes (Engine.IO close packet): close frame, then it
      // waits for ours
      c = await rawClient(srv, { secure });
      await c.text();
      c.send(1, '1');
      const sf = await c.next((f) => f.op === 8);
      assert.equal(c.closeCode(sf), 1000);
      c.send(8, Buffer.from([0x03, 0xe8]));
      await c.ended();

      const violations = [
        ['an unmasked frame', (x) => x.send(1, '2', { mask: false }), 1002],
        ['RSV bits', (x) => x.send(1, '2', { rsv: 0x40 }), 1002],
        ['a continuation first', (x) => x.send(0, '2'), 1002],
        ['a fragmented ping', (x) => x.send(9, 'p', { fin: false }), 1002],
        ['text that is not UTF-8', (x) => x.send(1, Buffer.from([0x34, 0xc3, 0x28])), 1007],
        ['a binary frame', (x) => x.send(2, 'abc'), 1003],
        ['a frame declaring 2 MB', (x) => x.send(1, 'abc', { len: 2 * 1024 * 1024 }), 1009],
      ];
      for (const [what, act, code] of violations) {
        const x = await rawClient(srv, { secure });
        await x.text();
        act(x);
        const f = await x.next((fr) => fr.op === 8);
        assert.equal(x.closeCode(f), code, `${what} (${secure ? 'wss' : 'ws'})`);
        await x.ended();
      }
    }
    const h = await srv.req('GET', '/healthz');
    assert.equal(h.status, 200, 'the server is fine afterwards');
  } finally {
    const r = await srv.stop();
    assert.equal(r.code, 0, srv.log().slice(-2000));
  }
});

// ------------------------------------------------------------------- caps

test('caps: sessions per address and in all refuse the handshake with 429 and one log line naming the flag', async () => {
  for (const [flag, n] of [['--sio-max-per-ip', 3], ['--sio-max-sessions', 2]]) {
    const srv = await start({ args: [...RL, flag, String(n)] });
    try {
      const open = [];
      for (let i = 0; i < n; i++) { const p = new RawPolling(srv, 4); await p.open(); open.push(p); }
      const r = await raw(srv.url, 'GET', '/socket.io/?EIO=4&transport=polling');
      assert.equal(r.status, 429, r.body);
      assert.match(r.body, /Too many sessions/);
      const w = await rawClient(srv);
      assert.match(w.head(), /^HTTP\/1.1 429/, 'the WebSocket handshake is refused before the 101');
      await sleep(200);
      assert.ok(srv.log().includes(flag.slice(2)), `log names ${flag}`);
      assert.match(srv.log(), /refused a session from 127\.0\.0\.1/);
      // closing one makes room again
      await open[0].post(['1']);
      let ok = null;
      for (let i = 0; i < 50 && !ok; i++) {
        await sleep(100);
        const again = await raw(srv.url, 'GET', '/socket.io/?EIO=4&transport=polling');
        if (again.status === 200) ok = again;
      }
      assert.ok(ok, 'a session closed: a new one is let in');
    } finally {
      await srv.stop();
    }
  }
});

test('caps: sessions per user — the socket over --sio-max-per-user is closed, with one log line; the others stay', async () => {
  const srv = await start({ args: [...RL, '--sio-max-per-user', '2'] });
  try {
    const u = await srv.user();
    const a = await connected(sock(srv, u));
    const b = await connected(sock(srv, u, { v: 2 }));
    const c = sock(srv, u);
    // refused after its CONNECT was checked: the transport closes
    await bounded(BOUND, 'the third socket closed', new Promise((resolve) => c.io.on('close', resolve)));
    assert.ok(!c.connected, 'the third socket is not connected');
    await sleep(200);
    assert.match(srv.log(), /sio-max-per-user/);
    assert.ok(a.connected && b.connected, 'the first two stay');
    assert.equal((await emit(a, 'authenticate', { token: u.token })).msg, 'success');
    // another user is not counted with u
    const v = await srv.user();
    const d = await connected(sock(srv, v));
    a.close();
    // room again for u once one closed
    await sleep(500);
    const e = await connected(sock(srv, u));
    await sleep(300);
    assert.ok(e.connected, 'a fresh socket once one closed');
    for (const s of [b, d, e]) s.close();
  } finally {
    await srv.stop();
  }
});

test('caps: a session that never connects or never signs in is closed after --sio-connect-timeout; a signed-in one stays', async () => {
  const srv = await start({ args: [...RL, '--sio-connect-timeout', '1500'] });
  try {
    const u = await srv.user();
    const good = await connected(sock(srv, u));
    // never CONNECT: a raw WebSocket that only reads
    const silent = await rawClient(srv);
    await silent.text();
    // CONNECT without a token, never authenticates
    const anon = io4(`${srv.url}/chatting`, { transports: ['websocket'], forceNew: true, reconnection: false });
    await connected(anon);
    const anonGone = new Promise((resolve) => anon.on('disconnect', resolve));
    // a polling session that never sends anything: its GET learns it closed
    const p = new RawPolling(srv, 4);
    await p.open();
    const closeFrame = await silent.next((f) => f.op === 8, BOUND);
    assert.equal(silent.closeCode(closeFrame), 1000);
    await bounded(BOUND, 'the unauthenticated socket closed', anonGone);
    const g = await bounded(BOUND, 'poll', p.get());
    assert.ok(g.packets.includes('1') || g.status === 400, `poll after the timeout: ${g.status} ${g.body}`);
    assert.match(srv.log(), /sio-connect-timeout/);
    await sleep(500);
    assert.ok(good.connected, 'a signed-in socket stays');
    good.close();
  } finally {
    await srv.stop();
  }
});
