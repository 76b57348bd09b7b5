// `dongmul conformance`: the reference app the official Engine.IO and
// Socket.IO protocol test suites talk to (their code is not in this
// repository). What the mode adds is checked here black-box, with our own
// code written from the protocol documents (engine.io-protocol v4,
// socket.io-protocol v5): the Engine.IO-level echo on /engine.io/, the
// Socket.IO echo, acks and auth echo on / and /custom, binary packets
// taken there; and that the real server's /chatting still refuses binary
// packets.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { start, request, freePort, sleep, BIN } = require('./lib/dongmul');
const { RawPolling, rawWs, raw } = require('./lib/sio');

const live = new Set();
process.on('exit', () => { for (const p of live) { try { p.kill('SIGKILL'); } catch { /* gone */ } } });

// Starts `dongmul conformance` on a free port with extra flags; resolves
// once it answers HTTP. Returns {url, port, stop(), log()}.
async function conformance(args = []) {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dongmul-conf-'));
  const logFile = path.join(dir, 'server.log');
  const log = fs.openSync(logFile, 'a');
  const proc = spawn(BIN, ['conformance', '--http', `127.0.0.1:${port}`, ...args], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  live.add(proc);
  let exited = null;
  const exitP = new Promise((resolve) => proc.on('exit', (code, sig) => { exited = { code, sig }; live.delete(proc); resolve(exited); }));
  const url = `http://127.0.0.1:${port}`;
  const t0 = Date.now();
  for (;;) {
    if (exited) throw new Error(`dongmul conformance exited early (${JSON.stringify(exited)}):\n${fs.readFileSync(logFile, 'utf8')}`);
    try {
      await request(url, 'GET', '/');
      break;
    } catch { /* not up yet */ }
    if (Date.now() - t0 > 15000) throw new Error('dongmul conformance did not answer in 15 s');
    await sleep(25);
  }
  return {
    url, port,
    log: () => fs.readFileSync(logFile, 'utf8'),
    async stop() {
      if (!exited) proc.kill('SIGTERM');
      const e = await exitP;
      const text = fs.readFileSync(logFile, 'utf8');
      fs.rmSync(dir, { recursive: true, force: true });
      return { ...e, log: text };
    },
  };
}

const EIO = { path: '/engine.io/' };
const notPing = (m) => m !== '2';
// A WebSocket connected to the Socket.IO namespace nsp ("" for "/"), its
// CONNECT reply and auth echo read. Long heartbeats: pings never interfere.
async function sioWs(srv, nsp = '') {
  const ws = rawWs(srv, 4);
  await ws.opened;
  await ws.next();
  ws.send(`40${nsp ? `${nsp},` : ''}`);
  assert.match(await ws.next(), new RegExp(`^40${nsp ? `${nsp},` : ''}\\{"sid":"[^"]+"\\}$`));
  assert.equal(await ws.next(), `42${nsp ? `${nsp},` : ''}["auth",{}]`);
  return ws;
}

let srv, quick;
test.before(async () => {
  // the suites' own settings (the defaults) for what is about them; long
  // heartbeats for the rest, so that a loaded machine cannot miss a pong
  quick = await conformance();
  srv = await conformance(['--sio-ping-interval', '60000', '--sio-ping-timeout', '60000']);
});
test.after(async () => {
  for (const s of [srv, quick]) {
    if (!s) continue;
    const e = await s.stop();
    assert.equal(e.code, 0, e.log.slice(-3000));
  }
});

test('defaults are the suites\' settings: pingInterval 300, pingTimeout 200, maxPayload 1000000, on both paths', async () => {
  for (const p of ['/engine.io/', '/socket.io/']) {
    const r = new RawPolling(quick, 4, { path: p });
    await r.open();
    assert.deepEqual(Object.keys(r.openInfo).sort(), ['maxPayload', 'pingInterval', 'pingTimeout', 'sid', 'upgrades']);
    assert.deepEqual(r.openInfo.upgrades, ['websocket']);
    assert.equal(r.openInfo.pingInterval, 300);
    assert.equal(r.openInfo.pingTimeout, 200);
    assert.equal(r.openInfo.maxPayload, 1000000);
  }
});

test('a poll after pingInterval + pingTimeout without a pong finds the session closed (400)', async () => {
  const p = new RawPolling(quick, 4, EIO);
  await p.open();
  await sleep(300 + 200 + 100);
  assert.equal((await p.get()).status, 400);
});

test('Engine.IO level on /engine.io/, polling: text and binary packets come back as they came', async () => {
  const p = new RawPolling(srv, 4, EIO);
  await p.open();
  const post = await p.post('4hello\x1e4two\x1ebAQIDBA==');
  assert.equal(post.status, 200);
  assert.equal(post.body, 'ok');
  const g = await p.get();
  assert.equal(g.status, 200);
  assert.equal(g.body, '4hello\x1e4two\x1ebAQIDBA==');
  // a session of one path is unknown on the other
  const other = await raw(srv.url, 'GET', `/socket.io/?EIO=4&transport=polling&sid=${p.sid}`);
  assert.equal(other.status, 400);
  // an invalid packet closes the session
  assert.equal((await p.post('abc')).status, 400);
  assert.equal((await p.get()).status, 400);
});

test('Engine.IO level on /engine.io/, WebSocket: text and binary messages come back as they came', async () => {
  const ws = rawWs(srv, 4, EIO);
  await ws.opened;
  const open = await ws.next();
  assert.match(open, /^0\{/);
  assert.deepEqual(JSON.parse(open.slice(1)).upgrades, []);
  ws.send('4hello');
  assert.equal(await ws.next(), '4hello');
  ws.send(Buffer.from([1, 2, 3, 4]), { binary: true });
  assert.deepEqual(await ws.next(), Buffer.from([1, 2, 3, 4]));
  // Socket.IO framing means nothing here: "40" is the message "0"
  ws.send('40');
  assert.equal(await ws.next(), '40');
  ws.close();
});

test('polling upgrade on /engine.io/: probe, noop to the waiting GET, then the WebSocket carries the session; a second WebSocket with that sid is closed', async () => {
  const p = new RawPolling(srv, 4, EIO);
  await p.open();
  const ws = rawWs(srv, 4, { ...EIO, sid: p.sid });
  await ws.opened;
  ws.send('2probe');
  assert.equal(await ws.next(), '3probe');
  assert.deepEqual((await p.get()).packets, ['6']);
  ws.send('5');
  ws.send('4hi');
  assert.equal(await ws.next(), '4hi');
  assert.equal((await p.get()).status, 400, 'polling after the upgrade');
  const again = rawWs(srv, 4, { ...EIO, sid: p.sid });
  await again.closed;
  ws.send('4still');
  assert.equal(await ws.next(), '4still');
  ws.close();
  // an unknown sid is a 400 before any handshake
  const unknown = rawWs(srv, 4, { ...EIO, sid: 'nope' });
  await assert.rejects(unknown.opened, /400/);
});

test('a PUT on the polling path: 400 without sid (a handshake that is not a GET), 405 with Allow with one', async () => {
  for (const p of ['/engine.io/', '/socket.io/']) {
    const r = await raw(srv.url, 'PUT', `${p}?EIO=4&transport=polling`);
    assert.equal(r.status, 400, p);
    assert.equal(JSON.parse(r.body).code, 2);
    const s = new RawPolling(srv, 4, { path: p });
    await s.open();
    const r2 = await raw(srv.url, 'PUT', `${p}?EIO=4&transport=polling&sid=${s.sid}`);
    assert.equal(r2.status, 405, p);
    assert.equal(r2.headers.allow, 'GET, HEAD, POST, OPTIONS');
    assert.equal(JSON.parse(r2.body).code, 'METHOD_NOT_ALLOWED');
  }
});

test('Socket.IO CONNECT to / and /custom: the handshake, then the auth payload echoed; an unknown namespace or a non-object auth is refused', async () => {
  const cases = [
    ['40', /^40\{"sid":"[^"]+"\}$/, '42["auth",{}]'],
    ['40{"token":"123"}', /^40\{"sid":"[^"]+"\}$/, '42["auth",{"token":"123"}]'],
    ['40/custom,', /^40\/custom,\{"sid":"[^"]+"\}$/, '42/custom,["auth",{}]'],
    ['40/custom,{"token":"abc"}', /^40\/custom,\{"sid":"[^"]+"\}$/, '42/custom,["auth",{"token":"abc"}]'],
  ];
  for (const [send, reply, auth] of cases) {
    const ws = rawWs(srv, 4);
    await ws.opened;
    await ws.next();
    ws.send(send);
    assert.match(await ws.next(), reply, send);
    assert.equal(await ws.next(), auth, send);
    ws.close();
  }
  const ws = rawWs(srv, 4);
  await ws.opened;
  await ws.next();
  ws.send('40/random');
  assert.equal(await ws.next(), '44/random,{"message":"Invalid namespace"}');
  ws.send('40"a string"');
  assert.equal(await ws.next(), '44{"message":"Invalid auth payload"}');
  ws.close();
});

test('Socket.IO CONNECTs to / and /custom sent together: each answered, the auth echoes in the order of the CONNECTs', async () => {
  const ws = rawWs(srv, 4);
  await ws.opened;
  await ws.next();
  ws.send('40{"n":1}');
  ws.send('40/custom,{"n":2}');
  const got = [];
  for (let i = 0; i < 4; i++) got.push(await ws.next(10000, notPing));
  assert.equal(got.filter((m) => m.startsWith('40')).length, 2);
  assert.deepEqual(got.filter((m) => m.startsWith('42')), ['42["auth",{"n":1}]', '42/custom,["auth",{"n":2}]']);
  ws.close();
});

test('Socket.IO echo on / and /custom: events come back as message-back, acks are answered with the arguments', async () => {
  const ws = await sioWs(srv);
  ws.send('42["message",1,"2",{"3":[true]}]');
  assert.equal(await ws.next(), '42["message-back",1,"2",{"3":[true]}]');
  ws.send('42456["message-with-ack",1,"2",{"3":[false]}]');
  assert.equal(await ws.next(), '43456[1,"2",{"3":[false]}]');
  // other events get nothing
  ws.send('42["other",1]');
  ws.send('42["message","after"]');
  assert.equal(await ws.next(), '42["message-back","after"]');
  // a second namespace on the same session
  ws.send('40/custom,');
  assert.match(await ws.next(), /^40\/custom,/);
  assert.equal(await ws.next(), '42/custom,["auth",{}]');
  ws.send('42/custom,7["message-with-ack","x"]');
  assert.equal(await ws.next(), '43/custom,7["x"]');
  ws.close();
});

test('Socket.IO binary packets are taken in this mode: attachments come back with the echo and the ack (WebSocket)', async () => {
  const ws = await sioWs(srv);
  ws.send('452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
  ws.send(Buffer.from([1, 2, 3]), { binary: true });
  ws.send(Buffer.from([4, 5, 6]), { binary: true });
  assert.equal(await ws.next(10000, notPing), '452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
  assert.deepEqual(await ws.next(), Buffer.from([1, 2, 3]));
  assert.deepEqual(await ws.next(), Buffer.from([4, 5, 6]));
  ws.send('452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
  ws.send(Buffer.from([7]), { binary: true });
  ws.send(Buffer.from([]), { binary: true });
  assert.equal(await ws.next(), '462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
  assert.deepEqual(await ws.next(), Buffer.from([7]));
  assert.deepEqual(await ws.next(), Buffer.from([]));
  // a text packet where an attachment is due is a protocol error
  ws.send('451-["message",{"_placeholder":true,"num":0}]');
  ws.send('42["message",1]');
  await ws.closed;
});

test('malformed binary packets close the session: no attachment count, no dash, too many attachments, an attachment nobody asked for', async () => {
  for (const bad of ['45-["message"]', '451["message",{"_placeholder":true,"num":0}]', '4565-["message"]', 'bAQID']) {
    const ws = await sioWs(srv);
    ws.send(bad);
    await ws.closed;
  }
  // and the same session survives a well-formed one with no attachments
  const ws = await sioWs(srv);
  ws.send('450-["message","plain"]');
  assert.equal(await ws.next(), '42["message-back","plain"]');
  ws.close();
});

test('Socket.IO binary packets over polling: attachments as "b" packets, both ways', async () => {
  const p = new RawPolling(srv, 4);
  await p.open();
  assert.equal((await p.post('40/custom,')).status, 200);
  const got = [];
  while (got.length < 2) got.push(...(await p.get()).packets);
  assert.match(got[0], /^40\/custom,\{"sid":/);
  assert.equal(got[1], '42/custom,["auth",{}]');
  assert.equal((await p.post('451-/custom,["message",{"_placeholder":true,"num":0}]\x1ebAQID')).status, 200);
  const g = await p.get();
  assert.deepEqual(g.packets, ['451-/custom,["message-back",{"_placeholder":true,"num":0}]', 'bAQID']);
  // an attachment no packet asked for closes the session
  assert.equal((await p.post('bAQID')).status, 400);
});

test('Socket.IO DISCONNECT from one namespace leaves the other connected and the session open; a packet to the one left closes it', async () => {
  const ws = await sioWs(srv);
  ws.send('40/custom');
  assert.match(await ws.next(), /^40\/custom,/);
  assert.equal(await ws.next(), '42/custom,["auth",{}]');
  ws.send('41/custom');
  ws.send('42["message","to main"]');
  assert.equal(await ws.next(), '42["message-back","to main"]');
  ws.send('41');
  ws.send('40');
  assert.match(await ws.next(), /^40\{"sid":/, 'the session outlived leaving its last namespace');
  assert.equal(await ws.next(), '42["auth",{}]');
  ws.send('42/custom,["message","x"]');
  await ws.closed;
});

test('the real server still refuses binary packets on /chatting', async () => {
  const real = await start();
  try {
    const u = await real.user();
    const ws = rawWs(real, 4);
    await ws.opened;
    await ws.next();
    ws.send(`40/chatting,${JSON.stringify({ token: u.token })}`);
    assert.match(await ws.next(), /^40\/chatting,/);
    ws.send('451-/chatting,["sendMsg",{"_placeholder":true,"num":0}]');
    await ws.closed;
    const ws2 = rawWs(real, 4);
    await ws2.opened;
    await ws2.next();
    ws2.send(Buffer.from([1, 2, 3]), { binary: true });
    assert.equal(await ws2.closed, 1003);
    const p = new RawPolling(real, 4);
    await p.open();
    assert.equal((await p.post('bAQID')).status, 400);
    // and it has no Engine.IO-level path
    assert.equal((await real.req('GET', '/engine.io/?EIO=4&transport=polling')).status, 404);
  } finally {
    const e = await real.stop();
    assert.equal(e.code, 0, real.log().slice(-3000));
  }
});
