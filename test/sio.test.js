// Socket.IO / Engine.IO protocol layer (src/web/sio.c) with the chat
// namespace's authentication (src/market/chat.c): handshakes, framing of both
// Engine.IO generations, the upgrade, heartbeats, namespaces, every way to
// authenticate, refusals, limits, CORS, wss. Real clients from npm
// (socket.io-client 4.8.1 and the seed's 2.4.0) plus a raw Engine.IO client
// for what the libraries hide.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { start, sleep } = require('./lib/dongmul');
const { connect, RawPolling, rawWs, raw } = require('./lib/sio');

const PI = 1000; // ping interval (ms) of the main server
const PT = 800;  // ping timeout
const MAXP = 8192;
const ORIGIN = 'http://app.example';
let srv, A, B;

test.before(async () => {
  srv = await start({
    args: ['--rate-login', '100000', '--threads', '96', '--sio-ping-interval', String(PI), '--sio-ping-timeout', String(PT),
      '--sio-max-payload', String(MAXP), '--cors-origin', ORIGIN],
  });
  A = await srv.user();
  B = await srv.user();
});

test.after(async () => {
  const r = await srv.stop();
  assert.equal(r.code, 0, `exit ${JSON.stringify(r)}\n${srv.log().slice(-3000)}`);
});

// ------------------------------------------------------------ handshakes

test('v4 polling handshake: the open packet carries sid, upgrades and the configured timers', async () => {
  const p = new RawPolling(srv, 4);
  const packets = await p.open();
  assert.equal(packets.length, 1);
  assert.equal(packets[0][0], '0');
  assert.match(p.handshake.headers['content-type'], /^text\/plain/);
  const o = p.openInfo;
  assert.match(o.sid, /^[A-Za-z0-9_-]{20}$/);
  assert.deepEqual(o.upgrades, ['websocket']);
  assert.equal(o.pingInterval, PI);
  assert.equal(o.pingTimeout, PT);
  assert.equal(o.maxPayload, MAXP);
  // a second handshake is another session
  const p2 = new RawPolling(srv, 4);
  await p2.open();
  assert.notEqual(p2.sid, p.sid);
});

test('v3 polling handshake: "<len>:0{...}" then the automatic "40", lengths exact', async () => {
  const p = new RawPolling(srv, 3);
  const packets = await p.open();
  const body = p.handshake.body;
  // exact framing: each packet prefixed by its length
  assert.equal(body, `${packets[0].length}:${packets[0]}2:40`);
  assert.equal(packets[1], '40');
  assert.equal(p.openInfo.pingInterval, PI);
  assert.equal(p.openInfo.pingTimeout, PT);
});

test('polling errors use Engine.IO codes: unknown sid, bad version, unknown transport, JSONP, POST without sid', async () => {
  const bad = async (method, path, code, status = 400) => {
    const r = await raw(srv.url, method, path, method === 'POST' ? { body: '1:6' } : {});
    assert.equal(r.status, status, `${method} ${path}: ${r.body}`);
    assert.equal(JSON.parse(r.body).code, code, path);
  };
  await bad('GET', '/socket.io/?EIO=4&transport=polling&sid=nosuchsession000000', 1);
  await bad('GET', '/socket.io/?EIO=5&transport=polling', 5);
  await bad('GET', '/socket.io/?transport=polling', 5);
  await bad('GET', '/socket.io/?EIO=4&transport=flashsocket', 0);
  await bad('GET', '/socket.io/?EIO=3&transport=polling&j=0', 0);
  await bad('POST', '/socket.io/?EIO=3&transport=polling', 2);
  // a WebSocket for an unknown session is refused before the handshake
  const ws = rawWs(srv, 4, { sid: 'nosuchsession000000' });
  await assert.rejects(ws.opened, /400/);
});

// --------------------------------------------------------------- framing

test('v3 framing counts UTF-16 code units, like JavaScript, for Korean and astral characters', async () => {
  const p = new RawPolling(srv, 3);
  await p.open();
  await p.get(); // the queued "40" if not taken by the handshake
  const ping = '2한글😀 ping 🐶';
  assert.equal(ping.length, 13); // 2 Korean (1 unit each), 2 astral (2 units each)
  const r = await p.post(`${ping.length}:${ping}`);
  assert.equal(r.status, 200, r.body);
  assert.equal(r.body, 'ok');
  const g = await p.get();
  const pong = `3${ping.slice(1)}`;
  assert.equal(g.body, `${pong.length}:${pong}`);
  // two packets in one payload, the first with astral characters
  const r2 = await p.post(`3:2😀1:2`);
  assert.equal(r2.status, 200, r2.body);
  const g2 = await p.get();
  assert.deepEqual(g2.packets, ['3😀', '3']);
  // a length counted in bytes is wrong: 400 and the session is gone
  const r3 = await p.post(`${Buffer.byteLength(ping)}:${ping}`);
  assert.equal(r3.status, 400);
  await sleep(100);
  const g3 = await p.get();
  assert.equal(g3.status, 400);
});

test('v4 polling joins packets with \\x1e both ways (connect + event in one POST)', async () => {
  const p = new RawPolling(srv, 4);
  await p.open();
  const r = await p.post([`40/chatting,${JSON.stringify({ token: A.token })}`,
    `42/chatting,7${JSON.stringify(['authenticate', { token: A.token }])}`]);
  assert.equal(r.status, 200, r.body);
  const got = [];
  while (got.length < 2) got.push(...(await p.get()).packets);
  assert.match(got[0], /^40\/chatting,\{"sid":"[A-Za-z0-9_-]{20}"\}$/);
  assert.notEqual(JSON.parse(got[0].slice('40/chatting,'.length)).sid, p.sid);
  assert.equal(got[1], '43/chatting,7[{"msg":"success"}]');
});

// --------------------------------------------------------------- upgrade

test('upgrade: 2probe/3probe on the WebSocket, the waiting poll ends with noop, 5 moves the session', async () => {
  const p = new RawPolling(srv, 4);
  await p.open();
  const waiting = p.get(); // a long poll that will be ended by the probe
  await sleep(50);
  const ws = rawWs(srv, 4, { sid: p.sid });
  await ws.opened;
  ws.send('2probe');
  assert.equal(await ws.next(), '3probe');
  const ended = await waiting;
  assert.deepEqual(ended.packets, ['6']);
  ws.send('5');
  // the session now lives on the WebSocket
  ws.send(`40/chatting,${JSON.stringify({ token: A.token })}`);
  assert.match(await ws.next(), /^40\/chatting,\{"sid":/);
  ws.send(`42/chatting,3${JSON.stringify(['authenticate', { token: A.token }])}`);
  assert.equal(await ws.next(), '43/chatting,3[{"msg":"success"}]');
  // polling on an upgraded session is refused
  const g = await p.get();
  assert.equal(g.status, 400);
  ws.close();
});

test('a 2.4.0 client (the seed) starts with polling and upgrades to WebSocket', async () => {
  const c = await connect(srv, { v: 2, query: { email: 'ignored@example.com' } });
  await c.waitUntil(() => (c.transport === 'websocket' ? { v: 1 } : null), 5000, 'upgrade');
  assert.deepEqual(await c.authenticate(A.token), { msg: 'success' });
  // still answers after the upgrade
  assert.equal((await c.ack('joinRoom', { icrId: '999999' })).code, 'ROOM_NOT_FOUND');
  c.close();
});

// ------------------------------------------------------------ heartbeats

test('v4 heartbeat: the server pings every pingInterval; a client that stops answering is closed', async () => {
  const ws = rawWs(srv, 4);
  await ws.opened;
  const open = JSON.parse((await ws.next()).slice(1));
  assert.equal(open.pingInterval, PI);
  const t0 = Date.now();
  assert.equal(await ws.next(PI + 2000), '2');
  assert.ok(Date.now() - t0 >= PI - 150, `first ping after ${Date.now() - t0} ms`);
  ws.send('3');
  assert.equal(await ws.next(PI + 2000), '2');
  // no pong now: closed after pingTimeout
  const code = await Promise.race([ws.closed, sleep(PT + 3000).then(() => 'still open')]);
  assert.notEqual(code, 'still open');
});

test('v3 heartbeat: the server answers pings; without pings the session ends after pingInterval + pingTimeout', async () => {
  const p = new RawPolling(srv, 3);
  await p.open();
  await p.post(['2']);
  const g = await p.get();
  assert.ok(g.packets.includes('3'), JSON.stringify(g.packets));
  await sleep(PI + PT + 1500);
  const g2 = await p.get();
  assert.ok(g2.status === 400 || g2.packets.includes('1'), `${g2.status} ${g2.body}`);
});

test('idle clients stay connected across several heartbeats (long polls end with noop or ping)', async () => {
  const cs = [
    await connect(srv, { v: 2, transports: ['polling'], token: A.token }),
    await connect(srv, { v: 4, transports: ['polling'], auth: { token: A.token } }),
    await connect(srv, { v: 2, token: A.token }),
    await connect(srv, { v: 4, auth: { token: A.token } }),
  ];
  await sleep(3 * PI + PT);
  for (const c of cs) {
    assert.equal(c.disconnected, false, `${c.v} ${c.transport}: ${c.disconnectReason}`);
    assert.equal(await authenticated(c), true);
    c.close();
  }
});

// ------------------------------------------------------------ namespaces

test('namespaces: v2 CONNECT echo, v4 CONNECT reply with a socket id, unknown namespaces refused', async () => {
  const v3 = new RawPolling(srv, 3);
  await v3.open();
  await v3.post(['40/chatting?email=x%40y.z&icrId=1,']);
  let got = [];
  while (!got.includes('40/chatting,')) got.push(...(await v3.get()).packets);
  await v3.post(['40/nowhere,']);
  got = [];
  while (!got.length) got = (await v3.get()).packets;
  assert.deepEqual(got, ['44/nowhere,"Invalid namespace"']);

  const v4 = new RawPolling(srv, 4);
  await v4.open();
  await v4.post(['40']); // the main namespace is not served
  got = (await v4.get()).packets;
  assert.equal(got[0], '44{"message":"Invalid namespace"}');
  await v4.post(['40/chatting,{}']); // no credentials: connected, not authenticated
  got = (await v4.get()).packets;
  assert.match(got[0], /^40\/chatting,\{"sid":/);
  await v4.post([`42/chatting,1${JSON.stringify(['joinRoom', { icrId: '1' }])}`]);
  got = (await v4.get()).packets;
  assert.equal(JSON.parse(got[0].slice('43/chatting,1'.length))[0].code, 'UNAUTHORIZED');
  // an event before CONNECT is a protocol violation: the server closes
  // the session (the POST 400, then the session is unknown)
  const v4b = new RawPolling(srv, 4);
  await v4b.open();
  const bad = await v4b.post([`42/chatting,5${JSON.stringify(['authenticate', { token: A.token }])}`, '40/chatting,{}']);
  assert.equal(bad.status, 400);
  assert.equal((await v4b.get()).status, 400);
});

// -------------------------------------------------------- authentication

async function authenticated(c) {
  // an authenticated socket gets past the auth check: a missing room
  const r = await c.ack('joinRoom', { icrId: '987654321' });
  return r.code !== 'UNAUTHORIZED';
}

test('auth: the v4 CONNECT auth payload {token}', async () => {
  const c = await connect(srv, { v: 4, auth: { token: A.token } });
  assert.equal(await authenticated(c), true);
  c.close();
  // polling transport too
  const p = await connect(srv, { v: 4, auth: { token: A.token }, transports: ['polling'] });
  assert.equal(await authenticated(p), true);
  p.close();
});

test('auth: the token query parameter of the handshake (v2 and v4)', async () => {
  const c2 = await connect(srv, { v: 2, token: A.token, query: { email: B.email } });
  assert.equal(await authenticated(c2), true);
  c2.close();
  const c4 = await connect(srv, { v: 4, token: A.token });
  assert.equal(await authenticated(c4), true);
  c4.close();
});

test('auth: the seed\'s user_login cookie ("bearer <jwt>", URL-encoded or not)', async () => {
  const enc = `other=1; user_login=${encodeURIComponent(A.token)}; x=y`;
  const c2 = await connect(srv, { v: 2, cookie: enc, query: { email: B.email } }); // polling first
  assert.equal(await authenticated(c2), true);
  c2.close();
  const c4 = await connect(srv, { v: 4, cookie: `user_login=${A.token}` }); // raw space, WebSocket
  assert.equal(await authenticated(c4), true);
  c4.close();
  // a stale cookie leaves the socket connected but not authenticated
  const stale = await connect(srv, { v: 4, cookie: 'user_login=bearer%20garbage' });
  assert.equal(await authenticated(stale), false);
  assert.deepEqual(await stale.authenticate(A.token), { msg: 'success' });
  assert.equal(await authenticated(stale), true);
  stale.close();
});

test('auth: the authenticate event, ack success or {msg:"fail",errorMsg:"Unauthorization"}', async () => {
  const c = await connect(srv, { v: 2 });
  assert.equal(await authenticated(c), false);
  const bad = await c.authenticate('bearer not.a.jwt');
  assert.equal(bad.msg, 'fail');
  assert.equal(bad.errorMsg, 'Unauthorization');
  assert.equal(await authenticated(c), false);
  assert.deepEqual(await c.authenticate(A.token), { msg: 'success' });
  assert.equal(await authenticated(c), true);
  // again with the same token (the seed does this before every emit)
  for (let i = 0; i < 5; i++) assert.deepEqual(await c.authenticate(A.token), { msg: 'success' });
  // a socket stays with its user: B's token does not switch it
  const sw = await c.authenticate(B.token);
  assert.equal(sw.msg, 'fail');
  // without an ack the failure arrives as an error event
  c.emit('authenticate', { token: 'nope' });
  const e = await c.next('error');
  assert.equal(e.code, 'UNAUTHORIZED');
  c.close();
});

test('auth: before authentication every other event is refused (ack, else an error event)', async () => {
  const c = await connect(srv, { v: 4, query: { email: A.email } });
  for (const ev of ['joinRoom', 'sendMsg', 'kickUser', 'exchange', 'leaveRoom']) {
    const r = await c.ack(ev, { icrId: '1', chatMsg: 'x', email: A.email, userId: A.userId });
    assert.deepEqual(r, { msg: 'fail', errorMsg: 'Unauthorization', code: 'UNAUTHORIZED' }, ev);
  }
  c.emit('sendMsg', { icrId: '1', chatMsg: 'hi', email: A.email });
  assert.equal((await c.next('error')).code, 'UNAUTHORIZED');
  // malformed payloads after authentication are 400-style refusals
  await c.authenticate(A.token);
  assert.equal((await c.ack('joinRoom', 'just a string')).code, 'INVALID_INPUT');
  assert.equal((await c.ack('joinRoom', { icrId: 'abc' })).code, 'INVALID_INPUT');
  assert.equal((await c.ack('whatever', {})).code, 'UNKNOWN_EVENT');
  c.close();
});

test('auth: an explicit bad token is refused with CONNECT_ERROR (v4 {message}, v2 a string)', async () => {
  const c4 = await connect(srv, { v: 4, auth: { token: 'bearer bad' }, expectError: true });
  assert.equal(c4.connectError.message, 'Unauthorization');
  c4.close();
  const c2 = await connect(srv, { v: 2, token: 'bad', expectError: true });
  assert.equal(c2.connectError, 'Unauthorization');
  c2.close();
  // raw: the exact packets
  const p = new RawPolling(srv, 4);
  await p.open();
  await p.post(['40/chatting,{"token":"x"}']);
  assert.deepEqual((await p.get()).packets, ['44/chatting,{"message":"Unauthorization"}']);
  const p3 = new RawPolling(srv, 3);
  await p3.open();
  await p3.post(['40/chatting?token=x,']);
  let got = [];
  while (!got.length || got[0] === '40') got = (await p3.get()).packets.filter((x) => x !== '40');
  assert.deepEqual(got, ['44/chatting,"Unauthorization"']);
});

test('auth: a logged-out token no longer authenticates', async () => {
  const u = await srv.user();
  const c = await connect(srv, { v: 4 });
  assert.deepEqual(await c.authenticate(u.token), { msg: 'success' });
  const out = await srv.req('GET', '/account/logout', { token: u.token });
  assert.equal(out.status, 200, out.body);
  const c2 = await connect(srv, { v: 4 });
  assert.equal((await c2.authenticate(u.token)).msg, 'fail');
  c.close();
  c2.close();
});

// ---------------------------------------------------- refusals and limits

test('binary packets are refused: the connection is closed', async () => {
  // a real client emitting a Buffer (a BINARY_EVENT over WebSocket)
  const c = await connect(srv, { v: 4, auth: { token: A.token } });
  c.emit('sendMsg', { icrId: '1', file: Buffer.from([1, 2, 3]) });
  await c.waitDisconnect(5000);
  // a raw binary WebSocket frame
  const ws = rawWs(srv, 4);
  await ws.opened;
  await ws.next();
  ws.send(Buffer.from([0x34, 0x00]), { binary: true });
  await Promise.race([ws.closed, sleep(3000).then(() => assert.fail('still open'))]);
  // polling: a "b" (base64) packet, a binary event type, an octet-stream body
  for (const body of ['bAQID', '451-/chatting,["x",{"_placeholder":true,"num":0}]']) {
    const p = new RawPolling(srv, 4);
    await p.open();
    assert.equal((await p.post(body)).status, 400, body);
  }
  const p = new RawPolling(srv, 3);
  await p.open();
  assert.equal((await p.post('1:6', { 'content-type': 'application/octet-stream' })).status, 400);
});

test('payload limit: a larger POST is 413, a larger WebSocket message closes the connection', async () => {
  const p = new RawPolling(srv, 4);
  await p.open();
  const big = `42/chatting,["sendMsg",{"chatMsg":"${'x'.repeat(MAXP)}"}]`;
  assert.equal((await p.post(big)).status, 413);
  const g = await p.get();
  assert.ok(g.status === 400 || g.packets.includes('1'));
  const ws = rawWs(srv, 4);
  await ws.opened;
  await ws.next();
  ws.send(big);
  await Promise.race([ws.closed, sleep(3000).then(() => assert.fail('still open'))]);
  // just under the limit is fine
  const c = await connect(srv, { v: 4, auth: { token: A.token } });
  const r = await c.ack('sendMsg', { icrId: '1', chatMsg: 'y'.repeat(1001) });
  assert.equal(r.code, 'INVALID_MESSAGE');
  c.close();
});

test('CORS for polling: the allowed Origin is echoed with credentials; others are refused', async () => {
  const ok = await raw(srv.url, 'GET', '/socket.io/?EIO=3&transport=polling', { headers: { Origin: ORIGIN } });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers['access-control-allow-origin'], ORIGIN);
  assert.equal(ok.headers['access-control-allow-credentials'], 'true');
  const evil = await raw(srv.url, 'GET', '/socket.io/?EIO=3&transport=polling', { headers: { Origin: 'http://evil.example' } });
  assert.equal(evil.status, 403);
  assert.equal(evil.headers['access-control-allow-origin'], undefined);
  // a cross-site POST into someone's session is refused too
  const p = new RawPolling(srv, 4);
  await p.open();
  const post = await p.post(['40/chatting,{}'], { Origin: 'http://evil.example' });
  assert.equal(post.status, 403);
  // and a cross-site WebSocket
  const ws = rawWs(srv, 4, { headers: { Origin: 'http://evil.example' } });
  await assert.rejects(ws.opened, /403/);
  const ws2 = rawWs(srv, 4, { headers: { Origin: ORIGIN } });
  await ws2.opened;
  ws2.close();
});

// ------------------------------------------------------------------- wss

test('wss: many clients, frames written by sender threads while the workers read, counted in /metrics', async () => {
  const s = await start({ https: true, args: ['--threads', '64'] });
  try {
    const u = await s.user();
    const clients = [];
    for (let i = 0; i < 8; i++) clients.push(await connect(s, { v: i % 2 ? 2 : 4, secure: true, auth: { token: u.token }, token: u.token }));
    await Promise.all(clients.map(async (c) => {
      for (let k = 0; k < 40; k++) {
        const r = await Promise.all([c.authenticate(u.token), c.ack('joinRoom', { icrId: String(900000 + k) })]);
        assert.deepEqual(r[0], { msg: 'success' });
        assert.equal(r[1].code, 'ROOM_NOT_FOUND');
      }
    }));
    // GET /metrics counts sio's sessions and the frames queued to them
    const metric = async (name) => {
      const m = (await s.req('GET', '/metrics')).body.match(new RegExp(`^${name} (\\d+)$`, 'm'));
      assert.ok(m, `${name} in /metrics`);
      return Number(m[1]);
    };
    assert.equal(await metric('dongmul_sio_sessions'), clients.length);
    assert.ok(await metric('dongmul_sio_frames_out_total') >= clients.length * 40 * 2, 'every ack was a frame');
    for (const c of clients) c.close();
    let open = clients.length;
    for (let i = 0; i < 100 && open > 0; i++) {
      await sleep(100);
      open = await metric('dongmul_sio_sessions');
    }
    assert.equal(open, 0, 'closed sessions leave the gauge');
  } finally {
    const r = await s.stop();
    assert.equal(r.code, 0, s.log().slice(-2000));
  }
});

// ------------------------------------------- batched WebSocket writes

// A sender thread writes every frame queued to a socket with one write
// (pre-framed packets gathered up to 32 KB; bigger ones straight from
// their buffer, after what was gathered). Packets sent in one burst make
// the server queue their answers together; each must arrive whole, exact
// and in order, whatever its size: 7-bit, 16-bit and 64-bit lengths, around
// the gathering limit, over ws and wss.
test('WebSocket writes: a burst of v3 pongs of every size arrives whole and in order (ws and wss)', async () => {
  const s = await start({ https: true, args: ['--sio-max-payload', '300000'] });
  try {
    // payload sizes of the answers ("3" + the ping's data)
    const sizes = [1, 125, 126, 127, 65535, 65536, 70000, 2, 32760, 32768, 32769, 300, 150000, 5, 4000, 4000, 4000,
      4000, 4000, 4000, 4000, 4000, 4000, 1000, 126, 1];
    for (const secure of [false, true]) {
      const ws = rawWs(s, 3, { secure });
      await ws.opened;
      assert.match(await ws.next(), /^0\{/);
      assert.equal(await ws.next(), '40');
      const sent = sizes.map((n, i) => {
        const tag = `${i}:`;
        // Korean text in one of them: UTF-8 must survive the gathering
        const fill = i === 12 ? '가나다라'.repeat(Math.floor((n - 1 - tag.length) / 12)) : '';
        return tag + fill + 'x'.repeat(n - 1 - tag.length - Buffer.byteLength(fill) > 0 ? n - 1 - tag.length - Buffer.byteLength(fill) : 0);
      });
      for (const d of sent) ws.send(`2${d}`);
      for (let i = 0; i < sent.length; i++) {
        const m = await ws.next(20000, (x) => x !== '2'); // (a ping of the server's own would be "2")
        assert.equal(m.length, sent[i].length + 1, `answer ${i} (${secure ? 'wss' : 'ws'}) has the right length`);
        assert.equal(m, `3${sent[i]}`, `answer ${i} (${secure ? 'wss' : 'ws'}) is exact`);
      }
      ws.close();
    }
  } finally {
    const r = await s.stop();
    assert.equal(r.code, 0, s.log().slice(-2000));
  }
});

test('WebSocket writes: 150 acks queued to one v4 socket arrive in order, each frame whole (ws and wss)', async () => {
  const s = await start({ https: true });
  try {
    const u = await s.user();
    for (const secure of [false, true]) {
      const ws = rawWs(s, 4, { secure });
      await ws.opened;
      assert.match(await ws.next(), /^0\{/);
      ws.send(`40/chatting,${JSON.stringify({ token: u.token })}`);
      assert.match(await ws.next(), /^40\/chatting,\{"sid":/);
      const N = 150;
      // authenticate is answered at once (room calls go through the write
      // lane, and a socket's jobs may complete out of order)
      for (let k = 0; k < N; k++) ws.send(`42/chatting,${k}${JSON.stringify(['authenticate', { token: u.token }])}`);
      for (let k = 0; k < N; k++) {
        const m = await ws.next(20000, (x) => x !== '2');
        const p = m.match(/^43\/chatting,(\d+)(\[.*\])$/);
        assert.ok(p, `an ack: ${m.slice(0, 80)}`);
        assert.equal(Number(p[1]), k, `ack ${k} in order (${secure ? 'wss' : 'ws'})`);
        assert.deepEqual(JSON.parse(p[2]), [{ msg: 'success' }]);
      }
      ws.close();
    }
  } finally {
    const r = await s.stop();
    assert.equal(r.code, 0, s.log().slice(-2000));
  }
});
