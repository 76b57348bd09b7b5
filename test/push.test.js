// Web Push (API.md "Push notifications"): the test runs its own push
// service, an HTTPS server on loopback with a certificate from a test CA
// that dongmul trusts through --ca-bundle. A user subscribes with keys made
// here (as a browser would), a neighbor joins their item's room, and the
// push service receives the RFC 8030 POST: the VAPID JWT (RFC 8292) is
// checked with node's crypto against the k= key (ES256 signature, aud,
// exp, sub), and the body is decrypted by an independent RFC 8291
// implementation (the http_ece package). Then: a push type not chosen is
// not sent, 500 is retried, 410 deletes the subscription, logging out
// everywhere ends the account's subscriptions, and every
// refusal (bad endpoint, bad keys, someone else's subscription, over the
// limit, anonymous) changes nothing.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const https = require('node:https');
const path = require('node:path');
const ece = require('http_ece');
const { start } = require('./lib/dongmul');
const { makeCA } = require('./lib/testca');
const { postItem, connect, emit, until } = require('./lib/market');

const ADDR = '부산광역시 해운대구 우동';

// The push service: records every POST; answers from a per-path queue of
// statuses (201 when empty).
function pushService(ca) {
  const got = [];
  const answers = new Map();
  const server = https.createServer({ key: ca.key, cert: ca.cert }, (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const q = answers.get(req.url) || [];
      const status = q.length ? q.shift() : 201;
      got.push({ path: req.url, method: req.method, headers: req.headers, body: Buffer.concat(chunks), status });
      res.writeHead(status, { 'content-length': 0 });
      res.end();
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    server, got, port: server.address().port,
    answer(p, ...statuses) { answers.set(p, statuses); },
    to(p) { return got.filter((g) => g.path === p); },
  })));
}

// A browser's subscription keys.
function browserKeys() {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  const auth = crypto.randomBytes(16);
  return { ecdh, auth, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: auth.toString('base64url') } };
}

// Checks one received push as the push service and the browser would;
// returns the decrypted JSON payload.
function checkPush(p, { vapidKey, aud, b }) {
  assert.equal(p.method, 'POST');
  assert.equal(p.headers['content-encoding'], 'aes128gcm');
  assert.ok(Number(p.headers.ttl) > 0, `TTL ${p.headers.ttl}`);
  const m = /^vapid t=([\w-]+)\.([\w-]+)\.([\w-]+), k=([\w-]+)$/.exec(p.headers.authorization || '');
  assert.ok(m, `Authorization: ${p.headers.authorization}`);
  assert.equal(m[4], vapidKey, 'k= is the key of GET /push/vapid');
  const header = JSON.parse(Buffer.from(m[1], 'base64url'));
  assert.equal(header.alg, 'ES256');
  const claims = JSON.parse(Buffer.from(m[2], 'base64url'));
  const now = Date.now() / 1000;
  assert.equal(claims.aud, aud);
  assert.ok(claims.exp > now && claims.exp <= now + 86400, `exp ${claims.exp}`);
  assert.equal(claims.sub, 'mailto:no-reply@localhost');
  const pub = Buffer.from(m[4], 'base64url');
  const key = crypto.createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: pub.subarray(1, 33).toString('base64url'), y: pub.subarray(33).toString('base64url') },
    format: 'jwk',
  });
  const sig = Buffer.from(m[3], 'base64url');
  assert.ok(crypto.verify('sha256', Buffer.from(`${m[1]}.${m[2]}`), { key, dsaEncoding: 'ieee-p1363' }, sig),
    'the ES256 signature verifies against k=');
  const plain = ece.decrypt(p.body, { version: 'aes128gcm', privateKey: b.ecdh, authSecret: b.auth.toString('base64url') });
  return JSON.parse(plain.toString('utf8'));
}

test('web push', async (t) => {
  const ca = makeCA();
  const ps = await pushService(ca);
  const srv = await start({ args: ['--ca-bundle', ca.caFile, '--rate-login', '100000', '--push-hosts', '127.0.0.1'] });
  t.after(async () => {
    const e = await srv.stop();
    ps.server.close();
    ca.cleanup();
    assert.equal(e.code, 0, `server exit ${JSON.stringify(e)}`);
  });
  const base = `https://127.0.0.1:${ps.port}`;
  const aud = base;
  const owner = await srv.user({ address: ADDR });
  const other = await srv.user({ address: ADDR });
  const it = await postItem(srv, owner, { title: '자전거' });
  assert.equal(it.status, 201, it.body);
  const { itemId, icrId } = it.json;
  // a new neighbor joins the owner's room: the owner gets a "join"
  const joinBy = async () => {
    const u = await srv.user({ address: ADDR });
    const s = await connect(srv, u);
    try {
      assert.equal((await emit(s, 'joinRoom', { icrId })).msg, 'success');
    } finally {
      s.close();
    }
    return u;
  };
  const subscribe = (u, endpoint, keys) => srv.req('POST', '/push/subscriptions', { token: u.token, body: { endpoint, keys } });

  const v = await srv.req('GET', '/push/vapid');
  assert.equal(v.status, 200, v.body);
  const vapidKey = v.json.publicKey;
  assert.equal(Buffer.from(vapidKey, 'base64url').length, 65);
  assert.equal(Buffer.from(vapidKey, 'base64url')[0], 4);

  const a = browserKeys();
  const b = browserKeys();

  await t.test('the VAPID key pair is kept in the data dir, mode 0600', () => {
    const st = fs.statSync(path.join(srv.data, 'vapid.pem'));
    assert.equal(st.mode & 0o777, 0o600);
    assert.match(fs.readFileSync(path.join(srv.data, 'vapid.pem'), 'utf8'), /PRIVATE KEY/);
  });

  await t.test('the service worker is served at /sw.js, revalidated', async () => {
    const r = await srv.req('GET', '/sw.js');
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^text\/javascript/);
    assert.equal(r.headers['cache-control'], 'no-cache');
    assert.match(r.body, /showNotification/);
    assert.match(r.body, /notificationclick/);
  });

  await t.test('subscribe; refusals change nothing', async () => {
    let r = await subscribe(owner, `${base}/push/a`, a.keys);
    assert.equal(r.status, 201, r.body);
    r = await subscribe(owner, `${base}/push/a`, a.keys); // the same again: updated
    assert.equal(r.status, 200, r.body);
    r = await subscribe(owner, `${base}/push/b`, b.keys);
    assert.equal(r.status, 201, r.body);

    assert.equal((await srv.req('POST', '/push/subscriptions', { body: { endpoint: `${base}/push/x`, keys: a.keys } })).status, 401);
    assert.equal((await srv.req('DELETE', '/push/subscriptions', { body: { endpoint: `${base}/push/a` } })).status, 401);
    const bad = [
      [{ endpoint: `http://127.0.0.1:${ps.port}/push/x`, keys: a.keys }, 'INVALID_ENDPOINT'],
      [{ endpoint: 'javascript:alert(1)', keys: a.keys }, 'INVALID_ENDPOINT'],
      // a host not in --push-hosts
      [{ endpoint: `https://localhost:${ps.port}/push/x`, keys: a.keys }, 'INVALID_ENDPOINT'],
      [{ endpoint: 42, keys: a.keys }, 'INVALID_ENDPOINT'],
      [{ keys: a.keys }, 'INVALID_ENDPOINT'],
      [{ endpoint: `${base}/push/x` }, 'INVALID_PUSH_KEYS'],
      [{ endpoint: `${base}/push/x`, keys: 'k' }, 'INVALID_PUSH_KEYS'],
      [{ endpoint: `${base}/push/x`, keys: { p256dh: a.keys.p256dh } }, 'INVALID_PUSH_KEYS'],
      [{ endpoint: `${base}/push/x`, keys: { p256dh: a.keys.p256dh, auth: crypto.randomBytes(15).toString('base64url') } }, 'INVALID_PUSH_KEYS'],
      [{ endpoint: `${base}/push/x`, keys: { p256dh: a.keys.p256dh, auth: 7 } }, 'INVALID_PUSH_KEYS'],
      // 65 bytes starting with 4, but not a point on the curve
      [{ endpoint: `${base}/push/x`, keys: { p256dh: Buffer.concat([Buffer.from([4]), crypto.randomBytes(64)]).toString('base64url'), auth: a.keys.auth } }, 'INVALID_PUSH_KEYS'],
      [{ endpoint: `${base}/push/x`, keys: { p256dh: crypto.randomBytes(33).toString('base64url'), auth: a.keys.auth } }, 'INVALID_PUSH_KEYS'],
    ];
    for (const [body, code] of bad) {
      r = await srv.req('POST', '/push/subscriptions', { token: other.token, body });
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.body}`);
      assert.equal(r.json.code, code, JSON.stringify(body));
    }
    // someone else's subscription: neither taken over nor deleted
    r = await subscribe(other, `${base}/push/a`, b.keys);
    assert.equal(r.status, 409, r.body);
    assert.equal(r.json.code, 'PUSH_ENDPOINT_TAKEN');
    r = await srv.req('DELETE', '/push/subscriptions', { token: other.token, body: { endpoint: `${base}/push/a` } });
    assert.equal(r.status, 404, r.body);
    assert.equal(r.json.code, 'PUSH_SUBSCRIPTION_NOT_FOUND');
    // at most 10 per user
    for (let i = 0; i < 10; i++) assert.equal((await subscribe(other, `${base}/push/o${i}`, browserKeys().keys)).status, 201);
    r = await subscribe(other, `${base}/push/o10`, browserKeys().keys);
    assert.equal(r.status, 409, r.body);
    assert.equal(r.json.code, 'PUSH_LIMIT');
    // bad settings
    for (const body of [{ push: 'join' }, { push: ['join', 'nope'] }, { push: [1] }]) {
      r = await srv.req('PUT', '/notifications/settings', { token: owner.token, body });
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.json.code, 'INVALID_SETTINGS');
    }
    r = await srv.req('GET', '/notifications/settings', { token: owner.token });
    assert.ok(r.json.push.includes('join') && r.json.push.includes('chat'), r.body);
    assert.deepEqual(r.json.email, []);
  });

  await t.test('a join reaches both subscriptions: VAPID verified, payload decrypted', async () => {
    const u = await joinBy();
    await until(() => ps.to('/push/a').length >= 1 && ps.to('/push/b').length >= 1, 20000, 'the pushes');
    for (const [p, keys] of [[ps.to('/push/a')[0], a], [ps.to('/push/b')[0], b]]) {
      const msg = checkPush(p, { vapidKey, aud, b: keys });
      assert.deepEqual(Object.keys(msg).sort(), ['body', 'title', 'type', 'url']);
      assert.equal(msg.type, 'join');
      assert.equal(msg.url, `/item/${itemId}`);
      assert.ok(msg.body.includes(u.nickname) && msg.body.includes('자전거'), msg.body);
      assert.equal(typeof msg.title, 'string');
      assert.equal(p.headers.urgency, undefined, 'a join is not urgent');
    }
    // the other user's ten subscriptions got nothing
    assert.equal(ps.got.filter((g) => g.path.startsWith('/push/o')).length, 0);
  });

  await t.test('a type not chosen for push is not sent; a chosen one is, with Urgency', async () => {
    let r = await srv.req('PUT', '/notifications/settings', { token: owner.token, body: { push: ['chat', 'chat'] } });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json.push, ['chat']);
    assert.deepEqual(r.json.email, [], 'email unchanged');
    const before = ps.to('/push/b').length;
    const u = await joinBy();
    // then a chat message from that neighbor: pushed (after the join, which is not)
    const s = await connect(srv, u);
    try {
      assert.equal((await emit(s, 'sendMsg', { icrId, chatMsg: '안녕하세요 자전거 있나요' })).msg, 'success');
    } finally {
      s.close();
    }
    await until(() => ps.to('/push/b').length > before, 20000, 'the chat push');
    const got = ps.to('/push/b').slice(before);
    assert.equal(got.length, 1, 'only the chat, not the join');
    const msg = checkPush(got[0], { vapidKey, aud, b });
    assert.equal(msg.type, 'chat');
    assert.equal(msg.url, `/item/${itemId}/chat`);
    assert.ok(msg.body.includes('안녕하세요 자전거 있나요'), msg.body);
    assert.equal(got[0].headers.urgency, 'high');
    r = await srv.req('PUT', '/notifications/settings', { token: owner.token, body: { push: ['join'] } });
    assert.equal(r.status, 200, r.body);
  });

  await t.test('500 is retried; 410 deletes the subscription', async () => {
    const a0 = ps.to('/push/a').length;
    const b0 = ps.to('/push/b').length;
    ps.answer('/push/a', 500, 201);
    ps.answer('/push/b', 410);
    await joinBy();
    await until(() => ps.to('/push/a').length >= a0 + 2 && ps.to('/push/b').length >= b0 + 1, 30000, 'a retry and a 410');
    const [first, second] = ps.to('/push/a').slice(a0);
    assert.equal(first.status, 500);
    assert.equal(second.status, 201);
    assert.equal(checkPush(first, { vapidKey, aud, b: a }).type, 'join');
    assert.equal(checkPush(second, { vapidKey, aud, b: a }).type, 'join');
    assert.notDeepEqual(first.body, second.body, 'each try is encrypted afresh');
    // b is gone: its DELETE finds nothing; the next join goes to a only
    await until(async () => (await srv.req('DELETE', '/push/subscriptions', { token: owner.token, body: { endpoint: `${base}/push/b` } })).status === 404,
      10000, 'the subscription deleted');
    const a1 = ps.to('/push/a').length;
    await joinBy();
    await until(() => ps.to('/push/a').length > a1, 20000, 'the next push');
    assert.equal(ps.to('/push/b').length, b0 + 1, 'nothing more to the deleted subscription');
    // the endpoint is free again: another user may take it
    assert.equal((await srv.req('DELETE', '/push/subscriptions', { token: other.token, body: { endpoint: `${base}/push/o0` } })).status, 200);
    assert.equal((await subscribe(other, `${base}/push/b`, b.keys)).status, 201);
  });

  await t.test('unsubscribe: nothing more is sent', async () => {
    let r = await srv.req('DELETE', '/push/subscriptions', { token: owner.token, body: { endpoint: `${base}/push/a` } });
    assert.equal(r.status, 200, r.body);
    r = await srv.req('DELETE', '/push/subscriptions', { token: owner.token, body: { endpoint: `${base}/push/a` } });
    assert.equal(r.status, 404, r.body);
    // the owner subscribes c, and unsubscribes a: a join reaches c only
    const c = browserKeys();
    assert.equal((await subscribe(owner, `${base}/push/c`, c.keys)).status, 201);
    const a1 = ps.to('/push/a').length;
    await joinBy();
    await until(() => ps.to('/push/c').length >= 1, 20000, 'the push to c');
    assert.equal(checkPush(ps.to('/push/c')[0], { vapidKey, aud, b: c }).type, 'join');
    assert.equal(ps.to('/push/a').length, a1);
  });

  await t.test('logging out everywhere ends every push subscription of the account', async () => {
    const u = await srv.user({ address: ADDR });
    const k = browserKeys();
    assert.equal((await subscribe(u, `${base}/push/u1`, k.keys)).status, 201);
    assert.equal((await subscribe(u, `${base}/push/u2`, k.keys)).status, 201);
    const r = await srv.req('POST', '/account/logout?all=1', { token: u.token });
    assert.equal(r.status, 200, r.body);
    const u2 = await srv.req('POST', '/account/login', { body: { email: u.email, password: u.password } });
    assert.equal(u2.status, 200, u2.body);
    for (const ep of ['u1', 'u2']) {
      const d = await srv.req('DELETE', '/push/subscriptions', { token: u2.json.token, body: { endpoint: `${base}/push/${ep}` } });
      assert.equal(d.status, 404, `${ep}: ${d.body}`);
    }
    // the other users' subscriptions are untouched: owner's c still gets a join
    const c0 = ps.to('/push/c').length;
    await joinBy();
    await until(() => ps.to('/push/c').length > c0, 20000, 'the push to c');
  });
});
