// Automatic HTTPS against a real ACME server (Debian's pebble, started on
// loopback per test, lib/pebble.js): issuance with HTTP-01 and with
// TLS-ALPN-01 (pebble really connects to dongmul to validate), the chain
// verified by a TLS client against pebble's root; renewal of short-lived
// certificates swapped in while a keep-alive connection stays open;
// pebble refusing (a challenge it cannot validate, the server down) with
// the old certificate still served, then recovery; the HTTP -> HTTPS
// redirect except the challenge path and /healthz; SIGHUP re-reading
// --cert/--key.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const tls = require('node:tls');
const { start, freePort, sleep } = require('./lib/dongmul');
const { startPebble } = require('./lib/pebble');
const { makeCA } = require('./lib/testca');

async function waitFor(what, fn, ms = 60000) {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

function count(srv, re) { return (srv.log().match(new RegExp(re, 'g')) || []).length; }

// A TLS handshake to port as "localhost": {serial, issuer, authorized, error}.
function peer(port, ca) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca, rejectUnauthorized: false }, () => {
      const c = s.getPeerCertificate();
      resolve({ serial: c.serialNumber, issuer: c.issuer && c.issuer.CN, authorized: s.authorized, error: s.authorizationError });
      s.end();
    });
    s.on('error', reject);
    s.setTimeout(15000, () => s.destroy(new Error('handshake timeout')));
  });
}

// One TLS connection kept open for several HTTP/1.1 requests.
function keepAlive(port, ca) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca }, () => {
      let buf = '';
      let waiting = null;
      s.setEncoding('utf8');
      s.on('data', (d) => {
        buf += d;
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0 || !waiting) return;
        const m = /content-length: *(\d+)/i.exec(buf.slice(0, end));
        const len = m ? Number(m[1]) : 0;
        if (buf.length < end + 4 + len) return;
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4 + len);
        const w = waiting;
        waiting = null;
        w.resolve(Number(head.split(' ')[1]));
      });
      s.on('close', () => { if (waiting) waiting.reject(new Error('connection closed')); });
      resolve({
        serial: s.getPeerCertificate().serialNumber,
        closed: () => s.destroyed,
        get(p) {
          return new Promise((res, rej) => {
            waiting = { resolve: res, reject: rej };
            s.write(`GET ${p} HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n`);
          });
        },
        end: () => s.end(),
      });
    });
    s.on('error', reject);
  });
}

function mode(file) { return fs.statSync(file).mode & 0o777; }

// dongmul with ACME against pb on fixed ports (pebble validates there).
function acmeServer(pb, ports, extra = {}) {
  return start({
    https: true,
    port: ports.http,
    tport: ports.https,
    httpsOnly: extra.httpsOnly,
    data: extra.data,
    tlsArgs: [],
    args: ['--acme-domain', 'localhost', '--acme-email', 'ops@example.org', '--acme-directory', pb.directory,
      '--ca-bundle', pb.caFile, '--acme-retry', '1', ...(extra.args || [])],
  });
}

const installed = 'acme: certificate for localhost installed';

test('HTTP-01: a certificate from pebble, verified against its root; kept and reused across a restart', async () => {
  const ports = { http: await freePort(), https: await freePort() };
  const pb = await startPebble({ httpPort: ports.http, tlsPort: 1 });
  let srv = await acmeServer(pb, ports);
  try {
    await waitFor('the certificate', () => count(srv, installed) >= 1);
    const root = await pb.root();
    const p = await peer(ports.https, root);
    assert.strictEqual(p.authorized, true, `chain not trusted: ${p.error}`);
    assert.match(p.issuer, /Pebble Intermediate/);
    assert.match(pb.log(), /Attempting to validate w\/ HTTP: http:\/\/localhost:\d+\/\.well-known\/acme-challenge\//);
    const key = path.join(srv.data, 'acme', 'account.key');
    const pem = path.join(srv.data, 'tls', 'acme.pem');
    assert.strictEqual(mode(key), 0o600);
    assert.strictEqual(mode(pem), 0o600);
    const keyBefore = fs.readFileSync(key, 'utf8');

    // plain HTTP: redirected to HTTPS, same host and path; not the
    // challenge path (an unknown token is a 404), not /healthz
    const r = await srv.req('GET', '/postDetail/7?x=1&y=%20z', { headers: { host: `localhost:${ports.http}` } });
    assert.strictEqual(r.status, 301);
    assert.strictEqual(r.headers.location, `https://localhost:${ports.https}/postDetail/7?x=1&y=%20z`);
    const evil = await srv.req('GET', '/a', { headers: { host: 'evil.example' } });
    assert.strictEqual(evil.headers.location, `https://localhost:${ports.https}/a`, 'never an arbitrary Host');
    const ch = await srv.req('GET', '/.well-known/acme-challenge/abcdefghijklmnopqrstuvwxyz');
    assert.strictEqual(ch.status, 404);
    assert.strictEqual((await srv.req('GET', '/healthz')).status, 200);
    assert.strictEqual((await srv.sreq('GET', '/healthz')).status, 200);

    // restart on the same data: the stored certificate is served at once
    // and no new order is placed
    const data = srv.data;
    const requested = count(srv, 'acme: requesting a certificate');
    assert.strictEqual((await srv.stop()).code, 0);
    srv = await acmeServer(pb, ports, { data });
    const again = await peer(ports.https, root);
    assert.strictEqual(again.serial, p.serial);
    assert.strictEqual(again.authorized, true);
    await sleep(2500);
    assert.strictEqual(count(srv, 'acme: requesting a certificate'), requested, 'no new order after a restart');
    assert.strictEqual(fs.readFileSync(key, 'utf8'), keyBefore);
  } finally {
    await srv.stop();
    await pb.stop();
  }
});

test('TLS-ALPN-01 when only HTTPS is open: pebble validates on the HTTPS port', async () => {
  const ports = { http: await freePort(), https: await freePort() };
  const pb = await startPebble({ httpPort: 1, tlsPort: ports.https });
  const srv = await acmeServer(pb, ports, { httpsOnly: true });
  try {
    await waitFor('the certificate', () => count(srv, installed) >= 1);
    const p = await peer(ports.https, await pb.root());
    assert.strictEqual(p.authorized, true, `chain not trusted: ${p.error}`);
    // pebble 2.4 logs no line per TLS-ALPN-01 attempt; its http-01 port
    // is closed here, so only the TLS-ALPN-01 answer can have validated
    assert.match(srv.log(), /acme: answering the tls-alpn-01 challenge for localhost/);
    assert.match(pb.log(), /set VALID by completed challenge/);
    assert.doesNotMatch(pb.log(), /Attempting to validate w\/ HTTP/);
    // an acme-tls/1 handshake outside a validation gets no certificate
    await assert.rejects(new Promise((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: ports.https, servername: 'localhost', ALPNProtocols: ['acme-tls/1'], rejectUnauthorized: false }, () => { s.end(); resolve(); });
      s.on('error', reject);
    }));
  } finally {
    await srv.stop();
    await pb.stop();
  }
});

test('renewal: short-lived certificates are renewed and swapped in; an open connection keeps working', async () => {
  const ports = { http: await freePort(), https: await freePort() };
  // 30 s certificates: renewal at two thirds, about 20 s in
  const pb = await startPebble({ httpPort: ports.http, tlsPort: 1, validity: 30 });
  const srv = await acmeServer(pb, ports);
  try {
    await waitFor('the certificate', () => count(srv, installed) >= 1);
    const root = await pb.root();
    const first = await peer(ports.https, root);
    assert.strictEqual(first.authorized, true);
    const conn = await keepAlive(ports.https, root);
    assert.strictEqual(conn.serial, first.serial);
    assert.strictEqual(await conn.get('/healthz'), 200);
    // keep the connection busy (civetweb closes idle keep-alives after
    // 5 s) until a new handshake sees a new certificate
    const second = await waitFor('a renewed certificate', async () => {
      assert.strictEqual(await conn.get('/healthz'), 200);
      const p = await peer(ports.https, root);
      return p.serial !== first.serial ? p : null;
    }, 90000);
    assert.strictEqual(second.authorized, true, `renewed chain not trusted: ${second.error}`);
    assert.strictEqual(await conn.get('/healthz'), 200, 'the connection opened before the swap still works');
    assert.strictEqual(conn.closed(), false);
    conn.end();
    assert.ok(count(srv, installed) >= 2);
  } finally {
    await srv.stop();
    await pb.stop();
  }
});

test('pebble refusing (a challenge it cannot validate, then down): the old certificate stays; then recovery', async () => {
  const ports = { http: await freePort(), https: await freePort() };
  let pb = await startPebble({ httpPort: ports.http, tlsPort: 1, validity: 20 });
  const { port, mgmtPort, ca } = pb;
  const srv = await acmeServer(pb, ports);
  try {
    await waitFor('the certificate', () => count(srv, installed) >= 1);
    const root = await pb.root();
    const first = await peer(ports.https, root);
    assert.strictEqual(first.authorized, true);

    // the same server address, but validation goes to a closed port: the
    // renewal's http-01 challenge fails
    await pb.stop();
    const closed = await freePort();
    pb = await startPebble({ port, mgmtPort, ca, httpPort: closed, tlsPort: 1, validity: 20 });
    await waitFor('a refused renewal', () => /acme: http-01 for localhost failed/.test(srv.log()), 90000);
    assert.match(srv.log(), /no certificate this time; the current one stays in service/);
    assert.strictEqual((await peer(ports.https, root)).serial, first.serial);
    assert.strictEqual((await srv.sreq('GET', '/healthz')).status, 200);

    // the ACME server down: still the old certificate
    await pb.stop();
    const before = count(srv, 'no certificate this time');
    await waitFor('a failed attempt with pebble down', () => count(srv, 'no certificate this time') > before, 90000);
    assert.match(srv.log(), /directory https:\/\/localhost:\d+\/dir: unreachable/);
    assert.strictEqual((await peer(ports.https, root)).serial, first.serial);

    // back up and validating: the next retry gets a new certificate
    pb = await startPebble({ port, mgmtPort, ca, httpPort: ports.http, tlsPort: 1 });
    await waitFor('recovery', () => count(srv, installed) >= 2, 120000);
    const p = await peer(ports.https, await pb.root());
    assert.notStrictEqual(p.serial, first.serial);
    assert.strictEqual(p.authorized, true);
    // the retries backed off: 1 s (--acme-retry), then doubling
    const waits = [...srv.log().matchAll(/next try in (\d+) s/g)].map((m) => Number(m[1]));
    assert.ok(waits.length >= 2, srv.log());
    waits.forEach((w, i) => assert.strictEqual(w, 2 ** i, `retry waits ${waits}`));
  } finally {
    await srv.stop();
    await pb.stop();
  }
});

test('SIGHUP re-reads --cert/--key: new handshakes get the new pair, a bad pair is refused', async () => {
  const a = makeCA('first');
  const b = makeCA('second');
  const dir = fs.mkdtempSync(path.join(a.dir, 'files-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  fs.writeFileSync(cert, a.cert);
  fs.writeFileSync(key, a.key);
  const srv = await start({ https: true, tlsArgs: ['--cert', cert, '--key', key] });
  try {
    const p1 = await peer(srv.tport, a.ca);
    assert.strictEqual(p1.authorized, true);
    const conn = await keepAlive(srv.tport, a.ca);

    fs.writeFileSync(cert, b.cert);
    fs.writeFileSync(key, b.key);
    srv.proc.kill('SIGHUP');
    const p2 = await waitFor('the new certificate', async () => {
      const p = await peer(srv.tport, b.ca);
      return p.authorized ? p : null;
    }, 30000);
    assert.notStrictEqual(p2.serial, p1.serial);
    assert.strictEqual(await conn.get('/healthz'), 200, 'a connection from before the reload still works');
    conn.end();

    // a key that does not match the certificate: refused, b still served
    fs.writeFileSync(key, a.key);
    srv.proc.kill('SIGHUP');
    await waitFor('the refusal', () => /SIGHUP: .* not a matching certificate chain and private key/.test(srv.log()), 30000);
    const p3 = await peer(srv.tport, b.ca);
    assert.strictEqual(p3.serial, p2.serial);
    assert.strictEqual(p3.authorized, true);
    assert.strictEqual(srv.exited(), null);
  } finally {
    await srv.stop();
    a.cleanup();
    b.cleanup();
  }
});

test('bad ACME flags: exit status 2 with a one-line reason, nothing created', () => {
  const { spawnSync } = require('node:child_process');
  const { BIN } = require('./lib/dongmul');
  const os = require('node:os');
  const cases = [
    [['--acme-domain', 'bad_name.example', '--https', '127.0.0.1:1'], /--acme-domain: expected DNS names/],
    [['--acme-domain', 'a.example"}', '--https', '127.0.0.1:1'], /--acme-domain: expected DNS names/],
    [['--acme-domain', 'a.example'], /--acme-domain needs --https/],
    [['--acme-domain', 'a.example', '--https', '127.0.0.1:1', '--cert', 'c.pem', '--key', 'k.pem'], /no --cert\/--key/],
    [['--acme-domain', 'a.example', '--https', '127.0.0.1:1', '--acme-directory', 'http://ca.example/dir'], /expected an https:\/\/ URL/],
  ];
  for (const [args, re] of cases) {
    const data = path.join(os.tmpdir(), `dongmul-acme-bad-${process.pid}`);
    const r = spawnSync(BIN, ['serve', '--data', data, ...args], { encoding: 'utf8', timeout: 30000 });
    assert.strictEqual(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.strictEqual(fs.existsSync(data), false, 'no data dir made');
  }
});
