// Socket.IO client helpers for the chat tests: real clients from npm
// (socket.io-client 4.8.1 and the seed's 2.4.0) wrapped with an event log,
// waiting and acks; and a raw Engine.IO client (polling over HTTP, ws) for
// protocol-level tests.
//
//   const c = await connect(srv, { v: 2, query: { icrId }, token: u.token });
//   await c.authenticate(u.token);            // {msg:'success'}
//   const ack = await c.ack('sendMsg', { icrId, chatMsg: '안녕' });
//   const m = await c.next('getMsg');          // the next getMsg not yet taken
//   c.close();
'use strict';
const http = require('node:http');
const https = require('node:https');
const { io: io4 } = require('socket.io-client');
const io2 = require('socket.io-client-v2');
const WebSocket = require('ws');

// Events the server sends (v2 clients have no onAny).
const EVENTS = ['setRoom', 'addUser', 'getMsg', 'kickUser', 'exchange', 'error', 'notification'];

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

// A client. opts: v (2|4, default 4), transports, query (object), auth
// (object, v4), token (sent in the handshake query), cookie (Cookie header
// value), secure (use srv.surl), nsp ('/chatting'), timeout (connect, ms),
// expectError (resolve on connect_error instead of throwing).
async function connect(srv, opts = {}) {
  const v = opts.v || 4;
  const base = opts.secure ? srv.surl : srv.url;
  const nsp = opts.nsp || '/chatting';
  const query = { ...(opts.query || {}) };
  if (opts.token) query.token = opts.token;
  const extraHeaders = opts.cookie ? { Cookie: opts.cookie } : undefined;
  let sock;
  if (v === 2) {
    const q = Object.entries(query).map(([k, val]) => `${encodeURIComponent(k)}=${encodeURIComponent(val)}`).join('&');
    sock = io2(base + nsp, {
      query: q || undefined,
      transports: opts.transports || ['polling', 'websocket'],
      forceNew: true,
      reconnection: !!opts.reconnection,
      extraHeaders,
      rejectUnauthorized: false,
      timeout: 10000,
    });
  } else {
    sock = io4(base + nsp, {
      query,
      auth: opts.auth,
      transports: opts.transports || ['websocket'],
      forceNew: true,
      reconnection: !!opts.reconnection,
      extraHeaders,
      rejectUnauthorized: false,
      timeout: 10000,
    });
  }
  const c = new Client(sock, v);
  await c.connected(opts.timeout || 10000, opts.expectError);
  return c;
}

class Client {
  constructor(sock, v) {
    this.sock = sock;
    this.v = v;
    this.log = [];          // every event received: {event, data}
    this.taken = new Map(); // event -> how many next() consumed
    this.waiters = [];
    this.disconnected = false;
    this.disconnectReason = null;
    const record = (event, data) => {
      this.log.push({ event, data });
      this.waiters = this.waiters.filter((w) => !w.check());
    };
    if (v === 4) sock.onAny((event, data) => record(event, data));
    else for (const e of EVENTS) sock.on(e, (data) => record(e, data));
    sock.on('disconnect', (reason) => {
      this.disconnected = true;
      this.disconnectReason = reason;
      this.waiters = this.waiters.filter((w) => !w.check());
    });
  }

  connected(ms, expectError) {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('connect timeout')), ms);
      const ok = () => { clearTimeout(t); resolve(this); };
      const bad = (err) => {
        clearTimeout(t);
        this.connectError = err;
        if (expectError) resolve(this);
        else reject(new Error(`connect failed: ${err && (err.message || JSON.stringify(err))}`));
      };
      this.sock.once('connect', ok);
      // v4: connect_error; v2: an ERROR packet arrives as 'error'
      this.sock.once('connect_error', bad);
      if (this.v === 2) this.sock.once('error', (e) => { if (!this.sock.connected) bad(e); });
    });
  }

  get transport() {
    const eng = this.v === 4 ? this.sock.io.engine : this.sock.io.engine;
    return eng && eng.transport && eng.transport.name;
  }

  // Emits with an ack; resolves with the ack's first argument.
  ack(event, payload, ms = 10000) {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ack for ${event}`)), ms);
      this.sock.emit(event, payload, (res) => { clearTimeout(t); resolve(res); });
    });
  }

  emit(event, payload) { this.sock.emit(event, payload); }

  authenticate(token) { return this.ack('authenticate', { token }); }

  // Events named `event` received so far.
  all(event) { return this.log.filter((e) => e.event === event).map((e) => e.data); }

  // The next `event` not yet taken by next() (in arrival order).
  next(event, ms = 10000) {
    return this.waitUntil(() => {
      const list = this.all(event);
      const k = this.taken.get(event) || 0;
      if (list.length > k) { this.taken.set(event, k + 1); return { v: list[k] }; }
      return null;
    }, ms, `no ${event}`);
  }

  // Waits for the first `event` (ever received) matching pred.
  find(event, pred = () => true, ms = 10000) {
    return this.waitUntil(() => {
      const hit = this.all(event).find(pred);
      return hit === undefined ? null : { v: hit };
    }, ms, `no matching ${event}`);
  }

  // Waits until `count` events named `event` were received.
  count(event, count, ms = 20000) {
    return this.waitUntil(() => (this.all(event).length >= count ? { v: this.all(event) } : null), ms,
      `fewer than ${count} ${event}`);
  }

  waitDisconnect(ms = 10000) {
    return this.waitUntil(() => (this.disconnected ? { v: this.disconnectReason } : null), ms, 'still connected');
  }

  waitUntil(fn, ms, what) {
    return new Promise((resolve, reject) => {
      const w = {
        check: () => {
          const r = fn();
          if (r) { clearTimeout(w.t); resolve(r.v); return true; }
          return false;
        },
      };
      if (w.check()) return;
      // re-checked on every event, and every 25 ms for state that changes
      // without one (the transport)
      const iv = setInterval(() => { if (w.check()) this.waiters = this.waiters.filter((x) => x !== w); }, 25);
      const check = w.check;
      w.check = () => { const done = check(); if (done) clearInterval(iv); return done; };
      w.t = setTimeout(() => {
        clearInterval(iv);
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`timeout: ${what} (got ${JSON.stringify(this.log.map((e) => e.event))})`));
      }, ms);
      this.waiters.push(w);
    });
  }

  // Nothing named `event` arrives within ms (beyond what already did).
  async quiet(event, ms = 300) {
    const before = this.all(event).length;
    await sleep(ms);
    return this.all(event).length === before;
  }

  close() { this.sock.disconnect(); this.sock.close && this.sock.close(); }
}

// ------------------------------------------------------------ raw Engine.IO

// One HTTP request to the server; returns {status, headers, body}.
function raw(base, method, path, { body, headers = {} } = {}) {
  const url = new URL(path, base);
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    if (body !== undefined) h['content-length'] = Buffer.byteLength(body);
    const rq = mod.request(url, { method, headers: h, agent: false, rejectUnauthorized: false }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    rq.on('error', reject);
    rq.setTimeout(60000, () => rq.destroy(new Error(`timeout ${method} ${path}`)));
    if (body !== undefined) rq.write(body);
    rq.end();
  });
}

// Engine.IO v3 payload: "<len>:<packet>..." with len in UTF-16 units.
function decodeV3(s) {
  const out = [];
  let i = 0;
  while (i < s.length) {
    const c = s.indexOf(':', i);
    if (c < 0) throw new Error(`bad v3 payload: ${s}`);
    const n = Number(s.slice(i, c));
    out.push(s.substr(c + 1, n));
    i = c + 1 + n;
  }
  return out;
}
function encodeV3(packets) { return packets.map((p) => `${p.length}:${p}`).join(''); }
function decodeV4(s) { return s.split('\x1e'); }
function encodeV4(packets) { return packets.join('\x1e'); }

// A raw polling session: open(), get(), post(packets). opts.path: the
// Engine.IO path (default /socket.io/).
class RawPolling {
  constructor(srv, eio, { query = '', headers = {}, secure = false, path = '/socket.io/' } = {}) {
    this.base = secure ? srv.surl : srv.url;
    this.ePath = path;
    this.eio = eio;
    this.query = query;
    this.headers = headers;
  }
  path(extra = '') {
    return `${this.ePath}?EIO=${this.eio}&transport=polling${this.sid ? `&sid=${this.sid}` : ''}${this.query ? `&${this.query}` : ''}${extra}`;
  }
  decode(body) { return this.eio === 3 ? decodeV3(body) : decodeV4(body); }
  encode(packets) { return this.eio === 3 ? encodeV3(packets) : encodeV4(packets); }
  async open() {
    const r = await raw(this.base, 'GET', this.path(), { headers: this.headers });
    if (r.status !== 200) throw new Error(`handshake ${r.status} ${r.body}`);
    this.handshake = r;
    const packets = this.decode(r.body);
    this.openInfo = JSON.parse(packets[0].slice(1));
    this.sid = this.openInfo.sid;
    return packets;
  }
  async get() {
    const r = await raw(this.base, 'GET', this.path(`&t=${Date.now()}`), { headers: this.headers });
    return { ...r, packets: r.status === 200 ? this.decode(r.body) : [] };
  }
  post(packets, headers = {}) {
    return raw(this.base, 'POST', this.path(), {
      body: typeof packets === 'string' ? packets : this.encode(packets),
      headers: { 'content-type': 'text/plain;charset=UTF-8', ...this.headers, ...headers },
    });
  }
}

// A raw WebSocket to /socket.io/ (or opts.path) with a message queue.
function rawWs(srv, eio, { sid, query = '', secure = false, headers, path = '/socket.io/' } = {}) {
  const base = (secure ? srv.surl : srv.url).replace(/^http/, 'ws');
  const url = `${base}${path}?EIO=${eio}&transport=websocket${sid ? `&sid=${sid}` : ''}${query ? `&${query}` : ''}`;
  const ws = new WebSocket(url, { rejectUnauthorized: false, headers });
  const q = [];
  const waiters = [];
  ws.closed = new Promise((resolve) => ws.on('close', (code) => { ws.closeCode = code; resolve(code); waiters.splice(0).forEach((w) => w()); }));
  ws.on('error', () => {});
  ws.on('message', (d, isBinary) => { q.push(isBinary ? d : d.toString('utf8')); waiters.splice(0).forEach((w) => w()); });
  ws.opened = new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('unexpected-response', (req, res) => reject(new Error(`ws refused: ${res.statusCode}`))); ws.once('error', reject); });
  // the next message (optionally: the next one matching pred, skipping others)
  ws.next = (ms = 10000, pred = () => true) => new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('ws: no message')), ms);
    const look = () => {
      while (q.length) {
        const m = q.shift();
        if (pred(m)) { clearTimeout(t); resolve(m); return; }
      }
      if (ws.readyState === WebSocket.CLOSED) { clearTimeout(t); reject(new Error('ws closed')); return; }
      waiters.push(look);
    };
    look();
  });
  ws.pending = q;
  return ws;
}

module.exports = { connect, Client, RawPolling, rawWs, raw, decodeV3, encodeV3, decodeV4, encodeV4, sleep, EVENTS };
