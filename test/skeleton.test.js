// The skeleton: serving, TLS, CORS, limits, errors, configuration, stop.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const tls = require('node:tls');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');
const { start, request, sleep, BIN } = require('./lib/dongmul');

function cpuTicks(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime (clock ticks)
}

// A minimal TLS ClientHello at the given record/client version with
// ECDHE+AES-CBC/GCM suites and no supported_versions extension (so it
// cannot negotiate 1.3). Returns the first record the server sends back.
function rawHello(port, version) {
  const random = Buffer.alloc(32, 7);
  const suites = Buffer.from([0x00, 0x06, 0xc0, 0x13, 0xc0, 0x2f, 0xc0, 0x2b]);
  const groups = Buffer.from([0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x17]); // secp256r1
  const points = Buffer.from([0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);
  const sigalgs = Buffer.from([0x00, 0x0d, 0x00, 0x06, 0x00, 0x04, 0x04, 0x03, 0x04, 0x01]);
  const ext = Buffer.concat([groups, points, sigalgs]);
  const body = Buffer.concat([
    Buffer.from([version >> 8, version & 0xff]), random, Buffer.from([0]), suites,
    Buffer.from([1, 0]), Buffer.from([ext.length >> 8, ext.length & 0xff]), ext,
  ]);
  const hs = Buffer.concat([Buffer.from([1, 0, body.length >> 8, body.length & 0xff]), body]);
  const rec = Buffer.concat([Buffer.from([0x16, version >> 8, version & 0xff, hs.length >> 8, hs.length & 0xff]), hs]);
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(rec));
    let got = Buffer.alloc(0);
    s.on('data', (d) => { got = Buffer.concat([got, d]); if (got.length >= 5) { s.destroy(); resolve(got); } });
    s.on('close', () => resolve(got));
    s.on('error', () => resolve(got));
    s.setTimeout(5000, () => { s.destroy(); resolve(got); });
  });
}

function tlsVersion(port, min, max) {
  return new Promise((resolve) => {
    const s = tls.connect({ port, host: '127.0.0.1', minVersion: min, maxVersion: max, rejectUnauthorized: false }, () => {
      const v = s.getProtocol();
      s.end();
      resolve(v);
    });
    s.on('error', (e) => resolve(`error: ${e.code || e.message}`));
  });
}

test('serving, TLS and configuration', async (t) => {
  const srv = await start({ https: true });
  t.after(async () => { await srv.kill(); });

  await t.test('healthz answers with JSON, local time and security headers', async () => {
    const r = await srv.req('GET', '/healthz');
    assert.equal(r.status, 200);
    assert.equal(r.json.msg, 'success');
    assert.match(r.json.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+09:00$/);
    assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.headers['x-frame-options'], 'DENY');
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.equal(r.headers['access-control-allow-origin'], undefined, 'no CORS header without an Origin');
  });

  await t.test('HTTPS with the generated certificate: TLS 1.3 and 1.2 answer, 1.1 is refused', async () => {
    const r = await srv.sreq('GET', '/healthz');
    assert.equal(r.status, 200);
    assert.equal(await tlsVersion(srv.tport, 'TLSv1.3', 'TLSv1.3'), 'TLSv1.3');
    assert.equal(await tlsVersion(srv.tport, 'TLSv1.2', 'TLSv1.2'), 'TLSv1.2');
    const ok12 = await rawHello(srv.tport, 0x0303);
    assert.equal(ok12[0], 0x16, 'a TLS 1.2 hello gets a handshake record (control)');
    const no11 = await rawHello(srv.tport, 0x0302);
    assert.notEqual(no11[0], 0x16, 'a TLS 1.1 hello gets no ServerHello');
    if (no11.length) assert.equal(no11[0], 0x15, 'an alert, if anything');
    const pem = fs.readFileSync(path.join(srv.data, 'tls', 'self-signed.pem'), 'utf8');
    assert.match(pem, /BEGIN CERTIFICATE/);
    assert.equal(fs.statSync(path.join(srv.data, 'tls', 'self-signed.pem')).mode & 0o777, 0o600);
  });

  await t.test('unknown path 404, wrong method 405, both in the error shape', async () => {
    const a = await srv.req('GET', '/nope');
    assert.equal(a.status, 404);
    assert.deepEqual(Object.keys(a.json).sort(), ['code', 'errorMsg', 'msg']);
    assert.equal(a.json.msg, 'fail');
    assert.equal(a.json.code, 'NOT_FOUND');
    const b = await srv.req('DELETE', '/healthz');
    assert.equal(b.status, 405);
    assert.equal(b.json.code, 'METHOD_NOT_ALLOWED');
  });

  await t.test('malformed and non-strict JSON is a 400, never a crash', async () => {
    for (const body of ['{"email":', '{"a":1,}', "{'a':1}", '{"a":1} x', '[1]', '{"a":1 /* c */}',
      Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d])]) {
      const r = await srv.req('POST', '/account/login', { body, headers: { 'content-type': 'application/json' } });
      assert.equal(r.status, 400, String(body));
      assert.equal(r.json.code, 'INVALID_JSON');
    }
    assert.equal((await srv.req('GET', '/healthz')).status, 200);
  });

  await t.test('a body over the limit is a 413', async () => {
    const big = JSON.stringify({ email: 'x'.repeat(70000) });
    const r = await srv.req('POST', '/account/login', { body: big, headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 413);
    assert.equal(r.json.code, 'TOO_LARGE');
  });

  await t.test('default CORS: only the server\'s own origin', async () => {
    const own = await srv.req('GET', '/healthz', { headers: { origin: srv.url } });
    assert.equal(own.headers['access-control-allow-origin'], srv.url);
    const other = await srv.req('GET', '/healthz', { headers: { origin: 'http://evil.example' } });
    assert.equal(other.headers['access-control-allow-origin'], undefined);
    const pre = await srv.req('OPTIONS', '/account/login', { headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } });
    assert.equal(pre.status, 403);
  });

  await t.test('one access-log line per request', async () => {
    await srv.req('GET', '/healthz?probe=accesslog');
    await sleep(50);
    const lines = srv.log().split('\n').filter((l) => l.includes(' GET /healthz '));
    assert.ok(lines.length >= 2, 'healthz requests are logged');
    assert.match(lines[0], /127\.0\.0\.1 GET \/healthz 200 \d+ms/);
  });

  await t.test('the JWT key is made once, mode 0600, and survives a restart', async () => {
    const key = path.join(srv.data, 'jwt.key');
    assert.equal(fs.statSync(key).mode & 0o777, 0o600);
    assert.equal(fs.statSync(key).size, 32);
  });

  await t.test('SIGTERM: exit 0, promptly, with an idle TCP connection open on the TLS port', async () => {
    const idle = net.connect(srv.tport, '127.0.0.1');
    await new Promise((r) => idle.on('connect', r));
    const before = cpuTicks(srv.proc.pid);
    await sleep(2000);
    const used = cpuTicks(srv.proc.pid) - before; // ticks are 10 ms
    assert.ok(used <= 10, `an idle TLS connection must not burn CPU: ${used} ticks in 2 s`);
    const e = await srv.stop();
    idle.destroy();
    assert.equal(e.code, 0);
    assert.ok(e.ms < 5000, `stopped in ${e.ms} ms`);
  });
});

// The parts register their figures with the registry behind /metrics (http's,
// the write lane's, sio's): every figure exported so far keeps its name, its
// type and its order, and counts what it says.
test('/metrics lists every figure the parts register, in Prometheus text format', async () => {
  const srv = await start();
  try {
    const names = [
      ['dongmul_http_requests_total', 'counter'],
      ['dongmul_http_server_errors_total', 'counter'],
      ['dongmul_write_batches_total', 'counter'],
      ['dongmul_write_jobs_total', 'counter'],
      ['dongmul_write_jobs_failed_total', 'counter'],
      ['dongmul_write_queue', 'gauge'],
      ['dongmul_sio_sessions', 'gauge'],
      ['dongmul_sio_websockets', 'gauge'],
      ['dongmul_sio_frames_out_total', 'counter'],
      ['dongmul_sio_dropped_total', 'counter'],
      ['dongmul_sio_senders', 'gauge'],
    ];
    const read = async () => {
      const r = await srv.req('GET', '/metrics');
      assert.equal(r.status, 200);
      assert.match(r.headers['content-type'], /^text\/plain; version=0\.0\.4/);
      const lines = r.body.split('\n').filter((l) => l);
      const got = {};
      for (let i = 0; i < lines.length; i += 2) {
        const t = lines[i].match(/^# TYPE (\S+) (counter|gauge)$/);
        assert.ok(t, `a TYPE line: ${lines[i]}`);
        const v = lines[i + 1].match(/^(\S+) (\d+)$/);
        assert.ok(v && v[1] === t[1], `a value of ${t[1]}: ${lines[i + 1]}`);
        got[t[1]] = { type: t[2], value: Number(v[2]) };
      }
      assert.deepEqual(Object.keys(got).filter((n) => names.some(([m]) => m === n)), names.map(([n]) => n));
      for (const [n, type] of names) assert.equal(got[n].type, type, n);
      return got;
    };
    const a = await read();
    await srv.user(); // a sign-up: requests and a write
    const b = await read();
    assert.ok(b.dongmul_http_requests_total.value > a.dongmul_http_requests_total.value);
    assert.ok(b.dongmul_write_jobs_total.value > a.dongmul_write_jobs_total.value);
    assert.equal(b.dongmul_sio_sessions.value, 0);
    assert.ok(b.dongmul_sio_senders.value >= 1, 'sio runs its sender threads');
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }
});

test('a token survives a restart (same data dir, same key)', async () => {
  const a = await start();
  const u = await a.user();
  assert.equal((await a.stop()).code, 0);
  const b = await start({ data: a.data });
  const r = await b.req('POST', '/account/reset', { token: u.token });
  assert.equal(r.status, 200);
  assert.equal(r.json.email, u.email);
  assert.equal((await b.stop()).code, 0);
});

test('configured CORS origins, --tz and several listeners', async () => {
  const srv = await start({ args: ['--cors-origin', 'http://app.example, http://other.example', '--tz', '+00:00'] });
  try {
    const r = await srv.req('GET', '/healthz', { headers: { origin: 'http://app.example' } });
    assert.equal(r.headers['access-control-allow-origin'], 'http://app.example');
    assert.equal(r.headers['access-control-allow-credentials'], 'true');
    assert.match(r.json.time, /\+00:00$/);
    // the seed frontend sends Access-Control-Allow-Origin as a request header
    const pre = await srv.req('OPTIONS', '/account', {
      headers: {
        origin: 'http://other.example', 'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type, authorization, access-control-allow-origin',
      },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers['access-control-allow-origin'], 'http://other.example');
    assert.equal(pre.headers['access-control-allow-credentials'], 'true');
    assert.match(pre.headers['access-control-allow-methods'], /POST/);
    assert.match(pre.headers['access-control-allow-headers'], /access-control-allow-origin/);
    const raw = await new Promise((resolve) => {
      const s = net.connect(srv.port, '127.0.0.1', () => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\nOrigin: http://app.example\r\nConnection: close\r\n\r\n'));
      let d = ''; s.on('data', (c) => { d += c; }); s.on('end', () => resolve(d));
    });
    assert.equal(raw.match(/^access-control-allow-origin:/gim).length, 1, 'exactly one Access-Control-Allow-Origin');
    const no = await srv.req('GET', '/healthz', { headers: { origin: 'http://evil.example' } });
    assert.equal(no.headers['access-control-allow-origin'], undefined);
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }
});

test('the command line: version, help, bad flags exit 2 with one line', () => {
  const v = execFileSync(BIN, ['version']).toString();
  assert.match(v, /^dongmul \S+ \(SQLite 3\.\d+\.\d+\)\n$/);
  const h = execFileSync(BIN, ['--help']).toString();
  for (const f of ['--http', '--https', '--cert', '--key', '--tls-self-signed', '--data', '--threads', '--cors-origin',
    '--tz', '--expiry-interval', '--smtp', '--mail-from', '--app-url']) assert.ok(h.includes(f), f);
  assert.ok(h.includes('DONGMUL_EXPIRY_INTERVAL'));
  for (const args of [['--threads', 'x'], ['--bogus'], ['--https', '127.0.0.1:1'], ['--tz', 'Asia/Seoul'], ['frobnicate'], ['--http']]) {
    const r = spawnSync(BIN, args);
    assert.equal(r.status, 2, args.join(' '));
    const err = r.stderr.toString();
    assert.equal(err.trim().split('\n').length, 1, `one line: ${err}`);
    assert.match(err, /^dongmul: /);
  }
  const env = spawnSync(BIN, ['serve'], { env: { ...process.env, DONGMUL_EXPIRY_INTERVAL: '0' } });
  assert.equal(env.status, 2);
  assert.match(env.stderr.toString(), /DONGMUL_EXPIRY_INTERVAL/);
});

test('a port in use is a clear start-up failure', async () => {
  const a = await start();
  try {
    const r = spawnSync(BIN, ['serve', '--http', `127.0.0.1:${a.port}`, '--data', a.data + '-b'], { timeout: 10000 });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr.toString(), /cannot start the HTTP server/);
  } finally {
    assert.equal((await a.stop()).code, 0);
  }
});
