// Socket.IO / Engine.IO protocol rules, each written from the protocol
// documents (socket.io-protocol v5, engine.io-protocol v4) and checked
// black-box on the wire, raw HTTP and raw WebSocket where a client library
// would hide the behaviour; socket.io-client 4.x for the heartbeat timing a
// real client enforces.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { start, sleep } = require('./lib/dongmul');
const { connect, RawPolling, rawWs, raw } = require('./lib/sio');

const PI = 300; // the official suites' ping interval and timeout
const PT = 200;
let srv, A;

test.before(async () => {
  srv = await start({
    args: ['--rate-login', '100000', '--threads', '32', '--sio-ping-interval', String(PI), '--sio-ping-timeout', String(PT),
      '--sio-connect-timeout', '60000'],
  });
  A = await srv.user();
});

test.after(async () => {
  const r = await srv.stop();
  assert.equal(r.code, 0, `exit ${JSON.stringify(r)}\n${srv.log().slice(-3000)}`);
});

// Engine.IO v4: the server sends a ping every pingInterval; the client
// closes when none came within pingInterval + pingTimeout. The first ping
// of a fresh session must come on time too (six sessions in a row: each
// starts at another point of the server's own timers).
test('heartbeat: socket.io-client 4 stays connected over several short intervals, six sessions in a row', async () => {
  for (let i = 0; i < 6; i++) {
    const c = await connect(srv, { token: A.token, transports: ['websocket'] });
    await sleep(PI * 5);
    assert.equal(c.disconnected, false, `session ${i}: disconnected (${c.disconnectReason})`);
    c.sock.disconnect();
  }
});

test('heartbeat over polling: the first ping of a fresh session comes on time', async () => {
  for (let i = 0; i < 3; i++) {
    const c = await connect(srv, { token: A.token, transports: ['polling'] });
    await sleep(PI * 4);
    assert.equal(c.disconnected, false, `session ${i}: disconnected (${c.disconnectReason})`);
    c.sock.disconnect();
  }
});

// Socket.IO v5: a packet other than CONNECT on a namespace the client is
// not connected to is a protocol violation: the server MUST close.
test('an EVENT before CONNECT closes the connection (WebSocket)', async () => {
  for (const pkt of ['42/chatting,["chatting",{}]', '42["hello"]', '43/chatting,1[]']) {
    const ws = rawWs(srv, 4);
    // answer the heartbeat, so that only the violation can close it
    ws.on('message', (d) => { if (d.toString() === '2') ws.send('3'); });
    await ws.opened;
    assert.equal((await ws.next())[0], '0');
    ws.send(pkt);
    // the close comes, without a CONNECT first
    const code = await Promise.race([ws.closed, sleep(10000).then(() => 'still open')]);
    assert.notEqual(code, 'still open', `${pkt}: connection kept`);
    assert.ok(ws.pending.every((m) => !m.startsWith('40')), `${pkt}: ${JSON.stringify(ws.pending)}`);
    assert.match(srv.log(), /before CONNECT/);
  }
});

test('an EVENT before CONNECT closes the session (polling): 400, and the session is gone', async () => {
  const p = new RawPolling(srv, 4);
  await p.open();
  const r = await p.post(['42/chatting,["chatting",{}]']);
  assert.equal(r.status, 400);
  const g = await p.get();
  assert.equal(g.status, 400);
});

test('after CONNECT the same EVENT is accepted (control)', async () => {
  const p = new RawPolling(srv, 4);
  await p.open();
  assert.equal((await p.post([`40/chatting,${JSON.stringify({ token: A.token })}`])).status, 200);
  let got = [];
  while (!got.some((x) => x.startsWith('40/chatting,'))) got.push(...(await p.get()).packets);
  assert.equal((await p.post(['42/chatting,["hello-unknown-event"]'])).status, 200);
  assert.equal((await p.get()).status, 200);
});

// Engine.IO v4 (polling): "the server MUST close the session" on
// overlapping requests of one kind: a second POST while one is handled.
test('overlapping polling POSTs: the second gets 400 and the session is closed', async () => {
  const p = new RawPolling(srv, 4);
  await p.open();
  // a first POST whose body has not all arrived: still being handled
  const s1 = net.connect(srv.port, '127.0.0.1');
  await new Promise((r) => s1.once('connect', r));
  let first = '';
  s1.on('data', (d) => { first += d.toString(); });
  s1.on('error', () => {});
  s1.write(`POST ${p.path()} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 2\r\n\r\n4`);
  await sleep(300);
  const r2 = await p.post(['3']);
  assert.equal(r2.status, 400);
  const g = await p.get();
  assert.equal(g.status, 400, 'the session is closed');
  s1.end('2');
  await sleep(200);
  s1.destroy();
});

test('sequential POSTs are fine (control)', async () => {
  const p = new RawPolling(srv, 4);
  await p.open();
  for (let i = 0; i < 3; i++) assert.equal((await p.post(['6'])).status, 200);
});

// Engine.IO v4: when the client closes the session with a "1" packet, the
// pending GET is answered with a noop ("6"), as the reference server and
// the official test suite do; the session is gone afterwards.
test('client close: the pending GET gets a noop "6", the next request 400', async () => {
  const p = new RawPolling(srv, 4);
  await p.open();
  const pending = p.get();
  await sleep(100);
  const r = await p.post(['1']);
  assert.equal(r.status, 200);
  const g = await pending;
  assert.equal(g.status, 200);
  assert.equal(g.body, '6');
  assert.equal((await p.get()).status, 400);
});

// Engine.IO v4: once closed, the session is unknown: a request that comes
// right after the close packet (before the server has torn it down) too.
test('client close: requests right after the close packet get 400', async () => {
  for (let i = 0; i < 5; i++) {
    const p = new RawPolling(srv, 4);
    await p.open();
    // the GET first, waiting, then the close (sent together, the close may
    // overtake the GET on a loaded machine and the GET rightly gets 400)
    const pending = p.get();
    await sleep(100);
    const post = await p.post(['1']);
    const get = await pending;
    assert.equal(post.status, 200);
    assert.equal(get.status, 200);
    assert.equal(get.body, '6');
    const [g2, p2] = await Promise.all([p.get(), p.post(['6'])]);
    assert.equal(g2.status, 400, `GET after close: ${g2.body}`);
    assert.equal(p2.status, 400, `POST after close: ${p2.body}`);
  }
});

test('duplicate GET: the server closes, the pending GET gets the close packet "1" (control)', async () => {
  const p = new RawPolling(srv, 4);
  await p.open();
  const pending = p.get();
  await sleep(100);
  const second = await p.get();
  assert.equal(second.status, 400);
  const g = await pending;
  assert.equal(g.body, '1');
});

// RFC 9112: every answer is a status line and headers; a WebSocket upgrade
// to a path without a WebSocket endpoint is no exception.
test('an upgrade request to a path without a WebSocket endpoint gets a full HTTP response', async () => {
  for (const path of ['/nothing', '/chatting', '/healthz']) {
    const s = net.connect(srv.port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => { got += d.toString(); });
    s.on('error', () => {});
    const done = new Promise((r) => { s.on('close', r); setTimeout(r, 5000); });
    s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    await done;
    s.destroy();
    assert.match(got, /^HTTP\/1\.1 (400|404|426) /, `${path}: ${JSON.stringify(got.slice(0, 200))}`);
    assert.match(got, /\r\nContent-Length: \d+\r\n/i, `${path}: ${JSON.stringify(got.slice(0, 300))}`);
  }
});

// Engine.IO v4 (polling): the server's ping is what answers a waiting GET;
// the GET must not end with a noop just before the ping falls due.
test('heartbeat over raw polling: each waiting GET is answered by the ping "2", round after round', async () => {
  for (let n = 0; n < 3; n++) {
    const p = new RawPolling(srv, 4);
    await p.open();
    for (let i = 0; i < 4; i++) {
      const g = await p.get();
      assert.equal(g.status, 200);
      assert.deepEqual(g.packets, ['2'], `session ${n} round ${i}`);
      assert.equal((await p.post(['3'])).status, 200);
    }
  }
});
