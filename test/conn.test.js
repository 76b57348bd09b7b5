// No connection waits in a civetweb worker: idle TCP connections, slowloris
// (a request head trickling in a byte every 2 s), idle TLS connections and
// keep-alive connections between requests wait in civetweb's epoll parking
// set (vendor/patches/civetweb-0007), so /healthz and a feed still answer
// while thousands of them are open, with default flags. Also: keep-alive
// reuse (plain and TLS), `Connection: close`, the request timeout for a
// head that never completes, the per-address cap (--max-conns-per-ip).
//
// The connections are held by child processes (`sh -c 'ulimit -n ...; node
// -e ...'`: a test runner may start with a 1,024 open-files limit), spread
// over source addresses 127.0.0.2, .3, ... so the default cap of 256 per
// address is not what is tested (loopback is not exempt from it).
// Bounds on answers are generous: the failure guarded against is no answer
// at all (64 idle connections silenced the server before).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const http = require('node:http');
const https = require('node:https');
const readline = require('node:readline');
const { spawn } = require('node:child_process');
const { start, sleep } = require('./lib/dongmul');

const BOUND = 5000; // ms: "still answers", not a speed measure
const PER_ADDR = 200; // connections per source address (< the default cap 256)

function threads(pid) {
  return Number(fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/Threads:\s+(\d+)/)[1]);
}

// The holder: a child node process that opens connections and reports on
// stdout, one JSON object a line. argv: JSON {port, n, mode, first}, where
// mode is 'idle' (TCP, sends nothing), 'tls' (TLS handshake, then nothing)
// or 'slow' (a request head, one byte every 2 s, never finished), and first
// is the first source address's last octet.
const HOLDER = `
const net = require('net'), tls = require('tls');
const o = JSON.parse(process.argv[1]);
const PER = ${PER_ADDR};
const socks = []; let open = 0, failed = 0, closed = 0; const closedAt = [];
const t0 = Date.now();
function report(extra) { process.stdout.write(JSON.stringify({ open, failed, closed, closedAt, ...extra }) + '\\n'); }
function one(i) {
  return new Promise((resolve) => {
    const localAddress = '127.0.0.' + (o.first + Math.floor(i / PER));
    const opts = { host: '127.0.0.1', port: o.port, localAddress };
    let s, done = false;
    const ok = () => { if (!done) { done = true; open++; resolve(); } };
    const bad = () => { if (!done) { done = true; failed++; resolve(); } };
    if (o.mode === 'tls') s = tls.connect({ ...opts, rejectUnauthorized: false }, ok);
    else s = net.connect(opts, ok);
    s.on('error', bad);
    s.on('close', () => { if (done) { closed++; closedAt.push(Date.now() - t0); } bad(); });
    s.on('data', () => {});
    socks.push(s);
  });
}
(async () => {
  for (let i = 0; i < o.n; i += 50) {
    const batch = [];
    for (let j = i; j < Math.min(o.n, i + 50); j++) batch.push(one(j));
    await Promise.all(batch);
  }
  report({ ready: true });
  if (o.mode === 'slow') {
    const head = 'GET /healthz HTTP/1.1\\r\\nHost: x\\r\\nX-Slow: ' + 'a'.repeat(4000);
    let k = 0;
    setInterval(() => { for (const s of socks) if (!s.destroyed) s.write(head[k] || 'a'); k++; }, 2000);
  }
  setInterval(() => report({}), 1000);
})();
`;

// Starts a holder; resolves once its connections are open. .last is its
// latest report; .stop() kills it.
function holder(port, n, mode, first) {
  const child = spawn('sh', ['-c', 'ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" -e "$1" "$2"',
    process.execPath, HOLDER, JSON.stringify({ port, n, mode, first })], { stdio: ['ignore', 'pipe', 'inherit'] });
  const h = { child, last: null, stop() { try { child.kill('SIGKILL'); } catch { /* gone */ } } };
  const rl = readline.createInterface({ input: child.stdout });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`holder (${mode}) not ready in 120 s: ${JSON.stringify(h.last)}`)), 120000);
    rl.on('line', (l) => {
      try { h.last = JSON.parse(l); } catch { return; }
      if (h.last.ready) { clearTimeout(timer); resolve(h); }
    });
    child.on('exit', () => { clearTimeout(timer); reject(new Error(`holder (${mode}) exited: ${JSON.stringify(h.last)}`)); });
  });
}

// One request with a hard bound; {status, body, ms}. agent: reuse one.
function get(base, path, { agent, localAddress, headers } = {}) {
  const url = new URL(path, base);
  const mod = url.protocol === 'https:' ? https : http;
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const rq = mod.request(url, { agent: agent || false, localAddress, headers, rejectUnauthorized: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, body, ms: Date.now() - t0, reused: rq.reusedSocket, port: rq.socket && rq.socket.localPort }));
    });
    rq.on('error', reject);
    rq.setTimeout(BOUND, () => rq.destroy(new Error(`no answer in ${BOUND} ms: GET ${path}`)));
    rq.end();
  });
}

const FEED = '/mainPage/noLogin?limit=20';

test('2,000 idle TCP + 500 slowloris connections: /healthz and a feed answer; slowloris closed at the request timeout', { timeout: 240000 }, async () => {
  const srv = await start();
  const hs = [];
  try {
    const t0 = threads(srv.proc.pid);
    hs.push(await holder(srv.port, 1000, 'idle', 2));
    hs.push(await holder(srv.port, 1000, 'idle', 7));
    const slow = await holder(srv.port, 500, 'slow', 12);
    const opened = Date.now();
    hs.push(slow);
    assert.equal(hs[0].last.open + hs[1].last.open, 2000, `idle connections open: ${JSON.stringify(hs.map((h) => h.last))}`);
    assert.equal(slow.last.open, 500);
    await sleep(5000); // slowloris has sent a few bytes each
    const h = await get(srv.url, '/healthz');
    assert.equal(h.status, 200);
    const f = await get(srv.url, FEED);
    assert.equal(f.status, 200, f.body);
    JSON.parse(f.body); // a whole JSON reply
    // a whole request on a fresh connection between the others, several times
    for (let i = 0; i < 5; i++) assert.equal((await get(srv.url, '/healthz')).status, 200);
    const t1 = threads(srv.proc.pid);
    console.log(`# threads: ${t0} before, ${t1} with 2,500 connections; /healthz ${h.ms} ms, feed ${f.ms} ms`);
    assert.ok(t1 <= t0 + 2, `threads ${t0} before, ${t1} with 2,500 connections`);
    // none of them was closed early (before the request timeout, 30 s)
    assert.equal(hs[0].last.closed + hs[1].last.closed + slow.last.closed, 0);

    // the slowloris heads never complete: closed at request_timeout (30 s
    // after accept) although each sends a byte every 2 s
    const deadline = opened + 70000;
    while (slow.last.closed < 500 && Date.now() < deadline) await sleep(1000);
    assert.equal(slow.last.closed, 500, `slowloris connections closed: ${slow.last.closed} of 500`);
    const at = slow.last.closedAt;
    console.log(`# slowloris closed between ${Math.min(...at)} and ${Math.max(...at)} ms after the holder started`);
    assert.ok(Math.min(...at) >= 25000, `a slowloris connection was closed after ${Math.min(...at)} ms, before the 30 s request timeout`);
    assert.equal((await get(srv.url, '/healthz')).status, 200);
  } finally {
    for (const h of hs) h.stop();
    await srv.stop();
  }
});

test('idle TLS connections (before and after the handshake): /healthz and a feed answer over HTTPS and HTTP', { timeout: 240000 }, async () => {
  const srv = await start({ https: true });
  const hs = [];
  try {
    hs.push(await holder(srv.tport, 1000, 'idle', 2));
    hs.push(await holder(srv.tport, 600, 'tls', 7));
    assert.equal(hs[0].last.open, 1000);
    assert.equal(hs[1].last.open, 600, `TLS handshakes: ${JSON.stringify(hs[1].last)}`);
    for (const base of [srv.surl, srv.url]) {
      assert.equal((await get(base, '/healthz')).status, 200);
      assert.equal((await get(base, FEED)).status, 200);
    }
    assert.equal(hs[0].last.closed + hs[1].last.closed, 0);
  } finally {
    for (const h of hs) h.stop();
    await srv.stop();
  }
});

test('keep-alive: several requests on one connection, plain and TLS, with pauses between them', { timeout: 60000 }, async () => {
  const srv = await start({ https: true });
  try {
    for (const [base, Agent] of [[srv.url, http.Agent], [srv.surl, https.Agent]]) {
      const agent = new Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
      const rs = [];
      for (let i = 0; i < 6; i++) {
        rs.push(await get(base, i % 2 ? FEED : '/healthz', { agent }));
        if (i === 2) await sleep(1500); // parked between requests, within the 5 s keep-alive
      }
      agent.destroy();
      assert.deepEqual(rs.map((r) => r.status), [200, 200, 200, 200, 200, 200]);
      assert.deepEqual(rs.map((r) => r.reused), [false, true, true, true, true, true], `${base}: one connection reused`);
      assert.equal(new Set(rs.map((r) => r.port)).size, 1);
    }
  } finally {
    await srv.stop();
  }
});

// Raw socket: sends req, reads until the server closes or ms pass.
function raw(port, req, ms) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let data = '';
    const t0 = Date.now();
    const timer = setTimeout(() => { s.destroy(); resolve({ data, closed: false, ms: Date.now() - t0 }); }, ms);
    s.on('connect', () => { if (req) s.write(req); });
    s.on('data', (c) => { data += c; });
    s.on('error', () => {});
    s.on('close', () => { clearTimeout(timer); resolve({ data, closed: true, ms: Date.now() - t0 }); });
  });
}

test('Connection: close is answered and then closed; pipelined requests are both answered', { timeout: 60000 }, async () => {
  const srv = await start();
  try {
    const r = await raw(srv.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 10000);
    assert.match(r.data, /^HTTP\/1\.1 200/);
    assert.match(r.data, /"status":"ok"/);
    assert.ok(r.closed, 'the server closed the connection after the reply');
    const two = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
    const p = await raw(srv.port, two, 10000);
    assert.equal((p.data.match(/HTTP\/1\.1 200/g) || []).length, 2, p.data);
    assert.ok(p.closed);
  } finally {
    await srv.stop();
  }
});

test('a head that never completes is closed at the request timeout; an idle keep-alive connection at the keep-alive timeout', { timeout: 90000 }, async () => {
  const srv = await start();
  try {
    const [partial, silent, ka] = await Promise.all([
      raw(srv.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n', 60000),
      raw(srv.port, '', 60000),
      raw(srv.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 60000),
    ]);
    for (const [what, r] of [['partial head', partial], ['silent', silent]]) {
      assert.ok(r.closed, `${what}: closed`);
      assert.equal(r.data, '', `${what}: no reply`);
      assert.ok(r.ms >= 25000 && r.ms < 45000, `${what}: closed after ${r.ms} ms (request timeout 30 s)`);
    }
    assert.match(ka.data, /^HTTP\/1\.1 200/);
    assert.ok(ka.closed && ka.ms >= 4000 && ka.ms < 15000, `keep-alive closed after ${ka.ms} ms (keep-alive timeout 5 s)`);
  } finally {
    await srv.stop();
  }
});

test('--max-conns-per-ip: the N+1th connection from an address is refused, logged once; other addresses are served', { timeout: 60000 }, async () => {
  const srv = await start({ args: ['--max-conns-per-ip', '20'] });
  const socks = [];
  try {
    const open = (localAddress) => new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: srv.port, localAddress });
      socks.push(s);
      s.on('connect', () => resolve(s));
      s.on('error', () => resolve(s));
    });
    for (let i = 0; i < 20; i++) await open('127.0.0.1');
    await sleep(300);
    const closedWithin = (s, ms) => new Promise((resolve) => {
      if (s.destroyed) { resolve(true); return; }
      const t = setTimeout(() => resolve(false), ms);
      s.on('close', () => { clearTimeout(t); resolve(true); });
    });
    const extra = [await open('127.0.0.1'), await open('127.0.0.1')];
    assert.ok(await closedWithin(extra[0], 3000), 'the 21st connection is closed');
    assert.ok(await closedWithin(extra[1], 3000), 'the 22nd connection is closed');
    assert.ok(!socks[0].destroyed && !socks[19].destroyed, 'the first 20 stay open');
    // another address is not affected
    assert.equal((await get(srv.url, '/healthz', { localAddress: '127.0.0.2' })).status, 200);
    const lines = srv.log().split('\n').filter((l) => /refusing connections from 127\.0\.0\.1/.test(l));
    assert.equal(lines.length, 1, `one log line:\n${lines.join('\n')}`);
    assert.match(lines[0], /max_connections_per_ip is 20/);
    // a connection that ends gives its place back
    socks[0].destroy();
    await sleep(500);
    assert.equal((await get(srv.url, '/healthz', { localAddress: '127.0.0.1' })).status, 200);
  } finally {
    for (const s of socks) s.destroy();
    await srv.stop();
  }
});

test('the default cap (256) leaves a browser-like client alone: 6 keep-alive connections from one address', { timeout: 60000 }, async () => {
  const srv = await start();
  try {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 6 });
    const rs = await Promise.all(Array.from({ length: 60 }, (_, i) => get(srv.url, i % 2 ? FEED : '/healthz', { agent })));
    agent.destroy();
    assert.ok(rs.every((r) => r.status === 200));
    assert.ok(srv.log().indexOf('refusing connections') < 0);
    assert.match(srv.log(), /open files: \d+.*room for about \d+ connections/);
  } finally {
    await srv.stop();
  }
});
