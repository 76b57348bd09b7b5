'use strict';
// The cached item replies (item.c "feed cache" and "detail cache"): the
// region feed (GET /mainPage with a token) and the detail share pages
// rendered for nobody; a caller the page concerns (owner, partner, kicked)
// must still get their own reply, and every write or passed deadline must
// show at once. Each test reads the same query first as someone else, so
// that the reply it checks would come from the cache if a rule were gone.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { start, sleep } = require('./lib/dongmul');
const img = require('./lib/img');
const { within, connectChat, emitWait } = require('./lib/market');

const HAVE_CHAT = fs.existsSync(path.join(__dirname, '../src/market/chat.c'));
const NO_CHAT = HAVE_CHAT ? false : 'needs the chat part (kick/exchange over Socket.IO)';

// API.md "An item": the keys every viewer gets, in the reply's order; then
// email (owner only) and buyerEmail (owner and partner, once there is one).
const BASE_KEYS = ['itemId', 'icrId', 'image', 'title', 'category', 'wantItem', 'comment', 'deadLine', 'status',
  'statusCode', 'createdDt', 'nickname', 'userId', 'address', 'mannerTemp', 'buyerUserId', 'kickYn'];

let seq = 0;
function later(ms) { return new Date(Date.now() + ms).toISOString(); }

async function postOk(srv, token, over = {}) {
  seq += 1;
  const f = {
    file: { name: 'file', filename: 'p.png', type: 'image/png', data: img.png({ w: 3, h: 3, seed: 7000 + seq }) },
    category: { name: 'category', value: '식물' },
    title: { name: 'title', value: `캐시 물건 ${seq}` },
    wantItem: { name: 'wantItem', value: '아무거나' },
    comment: { name: 'comment', value: '설명' },
    deadLine: { name: 'deadLine', value: later(3 * 24 * 3600e3) },
  };
  for (const [k, v] of Object.entries(over)) f[k] = { name: k, value: v };
  const mp = img.multipart(Object.values(f));
  const r = await srv.req('POST', '/mainPage/write', { body: mp.body, token, headers: { 'content-type': mp.contentType } });
  assert.equal(r.status, 201, r.body);
  return r.json;
}

// owner and other join item's room; then owner emits event with payload.
async function inRoom(srv, owner, other, item, event, payload) {
  const v = await connectChat(srv, other);
  let o;
  try {
    o = await connectChat(srv, owner);
    await emitWait(o, 'joinRoom', { icrId: item.icrId }, 'addUser');
    await emitWait(v, 'joinRoom', { icrId: item.icrId }, 'addUser');
    await emitWait(o, event, payload, event);
  } finally {
    v.close();
    if (o) o.close();
  }
}
const kick = (srv, owner, victim, item) =>
  inRoom(srv, owner, victim, item, 'kickUser', { icrId: item.icrId, itemId: item.itemId, userId: victim.userId });
const exchange = (srv, owner, partner, item) =>
  inRoom(srv, owner, partner, item, 'exchange', { icrId: item.icrId, itemId: item.itemId, consumerUserId: partner.userId });

// Asserts what API.md promises viewer of item x: the keys in order, the
// emails per the privacy rule, kickYn. who: 'owner' | 'partner' | 'other'.
function assertItemFor(x, who, { owner, partner, kicked = false }) {
  const keys = [...BASE_KEYS];
  if (who === 'owner') keys.push('email');
  if ((who === 'owner' || who === 'partner') && partner) keys.push('buyerEmail');
  // the detail adds images (every photo, in order) as its last key
  const got = Object.keys(x);
  if (got.at(-1) === 'images') {
    got.pop();
    assert.ok(Array.isArray(x.images) && x.images.length >= 1 && x.images[0].image === x.image, 'images[0] is the cover');
  }
  assert.deepEqual(got, keys, `keys for ${who}`);
  if (who === 'owner') assert.equal(x.email, owner.email);
  if (keys.includes('buyerEmail')) assert.equal(x.buyerEmail, partner.email);
  assert.equal(x.kickYn, kicked ? 'true' : 'false');
}

async function getOk(srv, p, token) {
  const r = await srv.req('GET', p, { token });
  assert.equal(r.status, 200, `${p}: ${r.body}`);
  return r;
}
const byId = (r, id) => r.json.data.find((i) => i.itemId === id);
// the same item with the viewer-specific keys taken out
function neutral(x) {
  const { email, buyerEmail, ...rest } = x; // eslint-disable-line no-unused-vars
  return { ...rest, kickYn: 'false' };
}

let srv;
test.before(async () => { srv = await start({ args: ['--rate-login', '100000', '--expiry-interval', '3600'] }); });
test.after(async () => {
  const e = await srv.stop();
  assert.equal(e.code, 0, `exit ${JSON.stringify(e)}\n${srv.log().slice(-3000)}`);
});

test('region feed: owner sees their email, others the shared page; the same bytes as the anonymous page of the region', async () => {
  const O = await srv.user({ address: '충청북도 청주시' });
  const Y = await srv.user({ address: '충북 청주시' });
  const Z = await srv.user({ address: '충북 청주시' });
  const own = await postOk(srv, O.token);
  const anonPath = `/mainPage/noLogin?address=${encodeURIComponent('충북 청주시')}`;
  const y1 = await getOk(srv, '/mainPage', Y.token); // builds the shared page
  const o1 = await getOk(srv, '/mainPage', O.token); // the same page concerns O
  const y2 = await getOk(srv, '/mainPage', Y.token);
  const z1 = await getOk(srv, '/mainPage', Z.token); // another viewer at the same time
  const anon = await getOk(srv, anonPath);
  assertItemFor(byId(o1, own.itemId), 'owner', { owner: O });
  for (const r of [y1, y2, z1, anon]) {
    assertItemFor(byId(r, own.itemId), 'other', { owner: O });
    assert.ok(!r.body.includes(O.email), 'no owner email for others');
  }
  assert.equal(y2.body, y1.body);
  assert.equal(z1.body, y1.body, 'one page for every viewer it does not concern');
  assert.equal(anon.body, y1.body, 'the anonymous page of the same region is the same bytes');
  assert.deepEqual(o1.json.data.map(neutral), y1.json.data.map(neutral), 'the owner\'s page differs only in their email');
  assert.equal(o1.json.next, y1.json.next);
  // a later page (cursor) is keyed apart and follows the same rules
  const two = await postOk(srv, O.token, { deadLine: later(2 * 24 * 3600e3) });
  const p1 = await getOk(srv, '/mainPage?limit=1', Y.token);
  assert.equal(p1.json.data[0].itemId, own.itemId);
  const q = `/mainPage?limit=1&cursor=${p1.json.next}`;
  const yp2 = await getOk(srv, q, Y.token);
  const op2 = await getOk(srv, q, O.token);
  assert.equal(yp2.json.data[0].itemId, two.itemId);
  assertItemFor(yp2.json.data[0], 'other', { owner: O });
  assertItemFor(op2.json.data[0], 'owner', { owner: O });
});

test('region feed: a new post, a delete, a move to another region and a passed deadline show at once to a cached viewer', async () => {
  const O = await srv.user({ address: '경상북도 안동시' });
  const Y = await srv.user({ address: '경북 안동시' });
  const ids = (r) => r.json.data.map((i) => i.itemId);
  const first = await postOk(srv, O.token);
  // (i) a new post (by someone else, and one by the viewer: their email)
  await getOk(srv, '/mainPage', Y.token);
  await getOk(srv, '/mainPage', Y.token);
  const fresh = await postOk(srv, O.token, { deadLine: later(5 * 24 * 3600e3) });
  assert.deepEqual(ids(await getOk(srv, '/mainPage', Y.token)).slice(0, 2), [fresh.itemId, first.itemId]);
  const mine = await postOk(srv, Y.token, { deadLine: later(6 * 24 * 3600e3) });
  const ym = await getOk(srv, '/mainPage', Y.token);
  assert.equal(ym.json.data[0].itemId, mine.itemId);
  assertItemFor(ym.json.data[0], 'owner', { owner: Y });
  assertItemFor(byId(await getOk(srv, '/mainPage', O.token), mine.itemId), 'other', { owner: Y });
  // (ii) a delete
  await getOk(srv, '/mainPage', O.token);
  const del = await srv.req('DELETE', '/myPage/delete', { token: Y.token, body: { itemId: mine.itemId } });
  assert.equal(del.status, 200, del.body);
  assert.ok(!ids(await getOk(srv, '/mainPage', O.token)).includes(mine.itemId));
  // (iii) the viewer moves: their feed is the new region's at once
  const moved = await srv.req('POST', '/myPage/address', { token: Y.token, body: { new_address: '경북 포항시' } });
  assert.equal(moved.status, 200, moved.body);
  assert.deepEqual(ids(await getOk(srv, '/mainPage', Y.token)), []);
  const back = await srv.req('POST', '/myPage/address', { token: Y.token, body: { new_address: '경북 안동시' } });
  assert.equal(back.status, 200, back.body);
  // (iv) a deadline a few whole seconds ahead: gone right after it passes
  // (no expiry job runs here), though the page was read just before
  const dl = Math.ceil((Date.now() + 2500) / 1000) * 1000;
  const soon = await postOk(srv, O.token, { deadLine: new Date(dl).toISOString().replace('.000Z', 'Z') });
  while (Date.now() < dl - 300) {
    assert.ok(ids(await getOk(srv, '/mainPage', Y.token)).includes(soon.itemId), 'listed before its deadline');
    await sleep(100);
  }
  // a write, then two reads shortly before the deadline: the page they
  // got was built then, and must not outlive the deadline
  const again = await srv.req('POST', '/myPage/address', { token: O.token, body: { new_address: '경북 안동시' } });
  assert.equal(again.status, 200, again.body);
  for (let k = 0; k < 2; k++) {
    const r = await getOk(srv, '/mainPage', Y.token);
    if (Date.now() < dl) assert.ok(ids(r).includes(soon.itemId), 'listed before its deadline (answered before it)');
  }
  await sleep(Math.max(0, dl + 30 - Date.now()));
  const after = await getOk(srv, '/mainPage', Y.token);
  assert.ok(!ids(after).includes(soon.itemId), 'gone once the deadline passed');
  assert.ok(ids(after).includes(first.itemId));
});

test('kicked: kickYn "true" in the region feed and 403 on the detail at once; others keep the shared page', { todo: NO_CHAT }, async () => {
  const O = await srv.user({ address: '전라남도 순천시' });
  const K = await srv.user({ address: '전남 순천시' });
  const Y = await srv.user({ address: '전남 순천시' });
  const it = await postOk(srv, O.token);
  const other = await postOk(srv, O.token, { deadLine: later(2 * 24 * 3600e3) });
  // the page and the detail are cached (read by K and Y before the kick)
  for (const u of [K, Y, K]) {
    assertItemFor(byId(await getOk(srv, '/mainPage', u.token), it.itemId), 'other', { owner: O });
    await getOk(srv, `/postDetail/${it.itemId}`, u.token);
  }
  await kick(srv, O, K, it);
  const y1 = await getOk(srv, '/mainPage', Y.token);
  const k1 = await getOk(srv, '/mainPage', K.token);
  const y2 = await getOk(srv, '/mainPage', Y.token);
  assertItemFor(byId(k1, it.itemId), 'other', { owner: O, kicked: true });
  assertItemFor(byId(k1, other.itemId), 'other', { owner: O, kicked: false });
  assertItemFor(byId(y1, it.itemId), 'other', { owner: O });
  assert.equal(y2.body, y1.body, 'the other viewer keeps getting the shared page');
  assert.deepEqual(k1.json.data.map(neutral), y1.json.data.map(neutral));
  const d = await srv.req('GET', `/postDetail/${it.itemId}`, { token: K.token });
  assert.equal(d.status, 403, d.body);
  assert.equal(d.json.code, 'KICKED');
  assert.equal((await srv.req('GET', `/postDetail/${it.itemId}`, { token: K.token })).status, 403, 'again');
  assert.equal((await getOk(srv, `/postDetail/${other.itemId}`, K.token)).json.data.kickYn, 'false');
  assertItemFor((await getOk(srv, `/postDetail/${it.itemId}`, Y.token)).json.data, 'other', { owner: O });
  assertItemFor((await getOk(srv, `/postDetail/${it.itemId}`)).json.data, 'other', { owner: O });
});

test('detail: owner, partner, stranger, anonymous each get what API.md promises; a trade shows at once', { todo: NO_CHAT }, async () => {
  const O = await srv.user({ address: '강원도 춘천시' });
  const P = await srv.user({ address: '강원 춘천시' });
  const Y = await srv.user({ address: '강원 춘천시' });
  const it = await postOk(srv, O.token);
  const d = (token) => getOk(srv, `/postDetail/${it.itemId}`, token);
  // before a partner: the owner has email only (no buyerEmail key)
  const a1 = await d();
  const o1 = await d(O.token);
  const a2 = await d();
  assertItemFor(o1.json.data, 'owner', { owner: O });
  assertItemFor(a1.json.data, 'other', { owner: O });
  assert.equal(a2.body, a1.body);
  for (const u of [Y, P]) assert.equal((await d(u.token)).body, a1.body, 'the same bytes for every stranger');
  assert.deepEqual(Object.keys(o1.json), ['msg', 'data', 'createdDt']);
  assert.equal(a1.json.data.statusCode, 'SI01');
  // a trade (a write) shows at once, though the detail was cached just now
  await exchange(srv, O, P, it);
  const a3 = await d();
  assert.equal(a3.json.data.statusCode, 'SI02');
  assert.equal(a3.json.data.buyerUserId, P.userId);
  assertItemFor(a3.json.data, 'other', { owner: O, partner: P });
  const p1 = await d(P.token);
  assertItemFor(p1.json.data, 'partner', { owner: O, partner: P });
  const o2 = await d(O.token);
  assertItemFor(o2.json.data, 'owner', { owner: O, partner: P });
  const y1 = await d(Y.token);
  assert.equal(y1.body, a3.body, 'a stranger gets the shared reply');
  assert.ok(!y1.body.includes(O.email) && !y1.body.includes(P.email));
  assert.deepEqual(neutral(p1.json.data), a3.json.data);
  assert.deepEqual(neutral(o2.json.data), a3.json.data);
  // my page: the same item objects
  assertItemFor((await getOk(srv, '/myPage', P.token)).json.postInfo.find((i) => i.itemId === it.itemId), 'partner', { owner: O, partner: P });
  assertItemFor((await getOk(srv, '/myPage', O.token)).json.postInfo.find((i) => i.itemId === it.itemId), 'owner', { owner: O, partner: P });
});

test('detail: a delete is a 404 at once, though the detail was cached', async () => {
  const O = await srv.user({ address: '대전 유성구' });
  const it = await postOk(srv, O.token);
  for (let k = 0; k < 2; k++) await getOk(srv, `/postDetail/${it.itemId}`);
  const del = await srv.req('DELETE', '/myPage/delete', { token: O.token, body: { itemId: it.itemId } });
  assert.equal(del.status, 200, del.body);
  const r = await srv.req('GET', `/postDetail/${it.itemId}`);
  assert.equal(r.status, 404, r.body);
  assert.equal(r.json.code, 'ITEM_NOT_FOUND');
});
