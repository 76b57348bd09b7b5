// The contract kept where dongmul was more lenient or different than its
// reference says, and where a third-party client (Node's keep-alive agent,
// the 2021 React frontend on its own origin) met it: Connection: close is
// echoed, the bearer scheme is required, codes are numbers, a bad listener
// address exits 2 before anything starts, the password-hash gate is
// bounded by waiting time, photo URLs can be absolute, and the 2021 time
// shape is on offer behind a flag.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { start, BIN } = require('./lib/dongmul');
const { postItem } = require('./lib/market');

function get(url, agent, headers = {}) {
  return new Promise((resolve) => {
    http.get(url, { agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers }));
    }).on('error', (e) => resolve({ status: e.code || String(e) }));
  });
}

// one raw HTTP exchange; resolves with the whole reply text once the server closes
function raw(port, text) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(text));
    let buf = '';
    s.on('data', (d) => { buf += d; });
    s.on('end', () => resolve(buf));
    s.on('error', reject);
    s.setTimeout(10000, () => { s.destroy(); reject(new Error('no close within 10 s')); });
  });
}

test('Connection: close is echoed, so a keep-alive client does not reuse a socket the server closes', async () => {
  const srv = await start();
  try {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const got = [];
    for (const p of ['/healthz', '/healthz', '/no-such-route', '/healthz']) {
      const r = await get(srv.url + p, agent, { connection: 'close' });
      got.push(r.status);
      assert.equal(r.headers && r.headers.connection, 'close', `${p}: ${JSON.stringify(r.headers)}`);
    }
    assert.deepEqual(got, [200, 200, 404, 200]);
    agent.destroy();
    // HTTP/1.0 without keep-alive: told, and closed
    const r10 = await raw(srv.port, 'GET /healthz HTTP/1.0\r\n\r\n');
    assert.match(r10, /^HTTP\/1\.1 200/);
    assert.match(r10, /\r\nConnection: close\r\n/i);
    // a plain HTTP/1.1 request keeps the connection and does not say close
    const ka = await get(srv.url + '/healthz', new http.Agent({ keepAlive: true }));
    assert.equal(ka.status, 200);
    assert.notEqual(ka.headers.connection, 'close');
  } finally { await srv.stop(); }
});

test('Authorization without the bearer scheme is 401, with it the token works', async () => {
  const srv = await start();
  try {
    const u = await srv.user();
    const bare = u.token.replace(/^bearer /i, '');
    const no = await srv.req('GET', '/myPage', { headers: { authorization: bare } });
    assert.equal(no.status, 401);
    assert.equal(no.json.code, 'UNAUTHORIZED');
    const other = await srv.req('GET', '/myPage', { headers: { authorization: `Token ${bare}` } });
    assert.equal(other.status, 401);
    // optional-auth routes refuse a malformed header too, rather than ignoring it
    const opt = await srv.req('GET', '/mainPage/noLogin', { headers: { authorization: bare } });
    assert.equal(opt.status, 200, 'a public route does not look at Authorization');
    const opt2 = await srv.req('GET', '/mainPage/search?q=abc', { headers: { authorization: bare } });
    assert.equal(opt2.status, 401);
    // the scheme is case-insensitive (RFC 7235)
    for (const h of [`bearer ${bare}`, `Bearer ${bare}`, `BEARER ${bare}`]) {
      const ok = await srv.req('GET', '/myPage', { headers: { authorization: h } });
      assert.equal(ok.status, 200, h.slice(0, 7));
    }
  } finally { await srv.stop(); }
});

test('an emailed code sent as a JSON string is 400 INVALID_CODE (it is a number)', async () => {
  const srv = await start({ args: ['--no-email-verification=0'] });
  try {
    const email = `code${process.pid}@example.com`;
    for (const [p, body] of [
      ['/account/mail/check', { email, authchkNum: '123456' }],
      ['/account/changepassword', { email, passwordchkNum: '123456', newpassword: 'newpassw0rd!' }],
    ]) {
      const r = await srv.req('POST', p, { body });
      assert.equal(r.status, 400, `${p}: ${r.body}`);
      assert.equal(r.json.code, 'INVALID_CODE', p);
    }
    const n = await srv.req('POST', '/account/mail/check', { body: { email, authchkNum: 123456 } });
    assert.notEqual(n.json.code, 'INVALID_CODE', 'a number is read as a code');
  } finally { await srv.stop(); }
});

test('a bad listener address exits 2 with one line, before anything starts', () => {
  for (const a of ['127.0.0.1:99999', '127.0.0.1:abc', '127.0.0.1:', 'localhost:8080', '0', '[::1]:70000']) {
    const data = fs.mkdtempSync(path.join(os.tmpdir(), 'dongmul-cfg-'));
    fs.rmdirSync(data);
    for (const flag of ['--http', '--https']) {
      const r = spawnSync(BIN, ['serve', flag, a, '--tls-self-signed', '--data', data], { encoding: 'utf8', timeout: 10000 });
      assert.equal(r.status, 2, `${flag} ${a}: status ${r.status} ${r.stderr}`);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `${flag} ${a}: ${r.stderr}`);
      assert.match(lines[0], new RegExp(`${flag}: .*port 1-65535`));
      assert.equal(fs.existsSync(data), false, 'no data dir was made: nothing started');
    }
  }
  const r = spawnSync(BIN, ['serve', '--public-url', 'ftp://x', '--data', '/nonexistent/x'], { encoding: 'utf8', timeout: 10000 });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--public-url/);
});

test('twenty neighbours signing up at once all get in: the hash gate is bounded by waiting time, not by count', async () => {
  // 20 concurrent sign-ups on 1-2 hashing slots: the old gate turned away
  // every request past threads/4 waiting (16 with 64 threads)
  const srv = await start({ args: ['--pbkdf2-iterations', '50000'] });
  try {
    const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => srv.req('POST', '/account', {
      body: { email: `burst${process.pid}x${i}@example.com`, nickname: `버스트${i}`, password: 'passw0rd!' },
    })));
    assert.deepEqual(rs.map((r) => r.status).filter((s) => s !== 200 && s !== 201), [], rs.map((r) => r.body).join('\n'));
  } finally { await srv.stop(); }
});

test('past the waiting-time bound a hash request gets 503 BUSY with Retry-After, and other requests are served', async () => {
  const srv = await start({ args: ['--pbkdf2-iterations', '1000000', '--hash-wait', '1'] });
  try {
    const u = await srv.user();
    const logins = Array.from({ length: 6 }, () => srv.req('POST', '/account/login', { body: { email: u.email, password: u.password } }));
    const h = await srv.req('GET', '/healthz');
    assert.equal(h.status, 200);
    const rs = await Promise.all(logins);
    const busy = rs.filter((r) => r.status === 503);
    assert.ok(rs.some((r) => r.status === 200), rs.map((r) => r.status).join());
    assert.ok(busy.length >= 1, rs.map((r) => r.status).join());
    for (const b of busy) {
      assert.equal(b.json.code, 'BUSY');
      assert.equal(b.headers['retry-after'], '1');
    }
  } finally { await srv.stop(); }
});

test('--public-url makes every photo URL absolute (a frontend on its own origin shows photos); without it they stay relative', async () => {
  for (const pub of ['http://market.example:8080/', null]) {
    const srv = await start({ args: pub ? ['--public-url', pub] : [] });
    try {
      const u = await srv.user({ address: '서울특별시 강남구 역삼동' });
      const p = await postItem(srv, u);
      assert.equal(p.status, 201, p.body);
      const want = (img) => (pub ? `http://market.example:8080/images/${img}` : `/images/${img}`);
      const name = p.json.image.split('/').pop();
      assert.equal(p.json.image, want(name));
      const d = await srv.req('GET', `/postDetail/${p.json.itemId}`, { token: u.token });
      assert.equal(d.json.data ? d.json.data.image : d.json.image, want(name), d.body);
      const feed = await srv.req('GET', '/mainPage/noLogin');
      const it = JSON.parse(feed.body).data.find((x) => x.itemId === p.json.itemId);
      assert.ok(it, feed.body.slice(0, 300));
      assert.equal(it.image, want(name));
      const mine = await srv.req('GET', '/mainPage', { token: u.token });
      assert.equal(mine.json.data.find((x) => x.itemId === p.json.itemId).image, want(name));
      // and the URL serves the photo
      const img = await srv.req('GET', `/images/${name}`, { raw: true });
      assert.equal(img.status, 200);
    } finally { await srv.stop(); }
  }
});

test('--legacy-time: times are the local wall clock labelled Z, as the 2021 backend sent them', async () => {
  const t = new Date(Date.now() + 86400000);
  const deadLine = Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate(), 3, 0, 0); // 12:00 in +09:00, tomorrow
  const day = new Date(deadLine).toISOString().slice(0, 10);
  for (const legacy of [true, false]) {
    const srv = await start({ args: legacy ? ['--legacy-time'] : [] });
    try {
      const u = await srv.user({ address: '서울특별시 강남구 역삼동' });
      const p = await postItem(srv, u, { deadLine });
      assert.equal(p.status, 201, p.body);
      const d = await srv.req('GET', `/postDetail/${p.json.itemId}`, { token: u.token });
      const item = d.json.data || d.json;
      assert.equal(item.deadLine, legacy ? `${day}T12:00:00.000Z` : `${day}T12:00:00.000+09:00`, d.body);
      assert.match(item.createdDt, legacy ? /T\d\d:\d\d:\d\d\.\d{3}Z$/ : /\+09:00$/);
    } finally { await srv.stop(); }
  }
});

test('a 405 says which methods the path has (Allow), on the polling path too', async () => {
  const srv = await start();
  try {
    // the polling path: a PUT without sid is a handshake that is not a GET
    // (400, Engine.IO error 2: sid is mandatory on every request but the
    // opening GET); with one, the path's 405
    const hs = await srv.req('PUT', '/socket.io/?EIO=4&transport=polling');
    assert.equal(hs.status, 400);
    assert.equal(hs.json.code, 2);
    const open = await srv.req('GET', '/socket.io/?EIO=4&transport=polling');
    const sid = JSON.parse(open.body.slice(1)).sid;
    const cases = [
      ['PUT', `/socket.io/?EIO=4&transport=polling&sid=${sid}`, ['GET', 'HEAD', 'POST', 'OPTIONS']],
      ['DELETE', '/account/logout', ['GET', 'HEAD', 'POST', 'OPTIONS']],
      ['POST', '/healthz', ['GET', 'HEAD', 'OPTIONS']],
    ];
    for (const [m, p, want] of cases) {
      const r = await srv.req(m, p);
      assert.equal(r.status, 405, `${m} ${p}`);
      assert.equal(r.json.code, 'METHOD_NOT_ALLOWED');
      assert.deepEqual(r.headers.allow.split(', ').sort(), [...want].sort(), `${m} ${p}: ${r.headers.allow}`);
    }
  } finally { await srv.stop(); }
});
