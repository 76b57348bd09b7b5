// 나눔 (giving for free): a post with freeYn=Y needs no wanted item; feeds
// and search filter 나눔 only with ?freeYn=Y; the owner (only) sees each
// member's manner temperature, region and 나눔 received in the last 30
// days (GET /chat/:icrId/members); the choice is the usual exchange.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { start } = require('./lib/dongmul');
const { postItem, connect, emit, tradeInProgress } = require('./lib/market');

const REGION = '대구 수성구';
let srv, O, M, N;

test.before(async () => {
  srv = await start({ args: ['--rate-login', '100000'] });
  O = await srv.user({ address: REGION });
  M = await srv.user({ address: REGION });
  N = await srv.user({ address: '부산 해운대구' });
});
test.after(async () => {
  const e = await srv.stop();
  assert.equal(e.code, 0, `exit ${JSON.stringify(e)}\n${srv.log().slice(-3000)}`);
});

const ids = (r) => r.json.data.map((i) => i.itemId);

test('a 나눔 post needs no wanted item; freeYn Y shows on it, other items keep their keys', async () => {
  const f = await postItem(srv, O, { freeYn: 'Y', title: '나눔 화분' });
  assert.equal(f.status, 201, f.body);
  const d = (await srv.req('GET', `/postDetail/${f.json.itemId}`)).json.data;
  assert.equal(d.freeYn, 'Y');
  assert.equal(d.wantItem, '');
  const p = await postItem(srv, O, { title: '교환 화분' });
  const e = (await srv.req('GET', `/postDetail/${p.json.itemId}`)).json.data;
  assert.ok(!('freeYn' in e), 'a barter item has no freeYn key');
  // freeYn N still needs the wanted item; a bad freeYn is refused
  let r = await postItem(srv, O, { freeYn: 'N', wantItem: '' });
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'INVALID_WANT_ITEM');
  for (const v of ['y', 'YES', '1', 'true']) {
    r = await postItem(srv, O, { freeYn: v });
    assert.equal(r.status, 400, v);
    assert.equal(r.json.code, 'INVALID_FREE');
  }
  // a 나눔 post may still name something (and it is checked)
  r = await postItem(srv, O, { freeYn: 'Y', wantItem: '감사 인사' });
  assert.equal(r.status, 201);
  r = await postItem(srv, O, { freeYn: 'Y', wantItem: '   ' });
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'INVALID_WANT_ITEM');
});

test('feeds and search filter 나눔 only with ?freeYn=Y', async () => {
  const f = await postItem(srv, O, { freeYn: 'Y', title: '필터나눔 의자' });
  const p = await postItem(srv, O, { title: '필터교환 의자' });
  const q = encodeURIComponent(REGION);
  for (let k = 0; k < 2; k++) { // the second from the feed cache
    const all = ids(await srv.req('GET', `/mainPage/noLogin?address=${q}`));
    assert.ok(all.includes(f.json.itemId) && all.includes(p.json.itemId));
    const free = await srv.req('GET', `/mainPage/noLogin?address=${q}&freeYn=Y`);
    assert.ok(free.json.data.length > 0 && free.json.data.every((i) => i.freeYn === 'Y'));
    assert.ok(ids(free).includes(f.json.itemId) && !ids(free).includes(p.json.itemId));
    const mine = await srv.req('GET', '/mainPage?freeYn=Y', { token: M.token });
    assert.ok(ids(mine).includes(f.json.itemId) && !ids(mine).includes(p.json.itemId));
    assert.ok(ids(await srv.req('GET', '/mainPage?freeYn=N', { token: M.token })).includes(p.json.itemId));
    const s = await srv.req('GET', `/mainPage/search?q=${encodeURIComponent('의자')}&freeYn=Y`);
    assert.deepEqual(ids(s).filter((i) => i === f.json.itemId || i === p.json.itemId), [f.json.itemId]);
  }
  for (const v of ['x', 'y', '1']) {
    const r = await srv.req('GET', `/mainPage/noLogin?freeYn=${v}`);
    assert.equal(r.status, 400);
    assert.equal(r.json.code, 'INVALID_INPUT');
  }
});

test('the owner sees members with temperature, region and 나눔 received in 30 days; nobody else does', async () => {
  // M received one 나눔 already (chosen on another 나눔 item)
  await tradeInProgress(srv, O, M, { freeYn: 'Y' });
  const f = await postItem(srv, O, { freeYn: 'Y' });
  const { icrId, itemId } = f.json;
  const ms = await connect(srv, M);
  const ns = await connect(srv, N);
  const os = await connect(srv, O);
  try {
    assert.equal((await emit(ms, 'joinRoom', { icrId })).msg, 'success');
    const nj = await emit(ns, 'joinRoom', { icrId });
    assert.equal(nj.msg, 'success');
    // the Socket.IO user list carries no counts for anyone
    assert.ok(!JSON.stringify(nj).includes('freeReceived30d'));
    const r = await srv.req('GET', `/chat/${icrId}/members`, { token: O.token });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.freeYn, 'Y');
    const byId = Object.fromEntries(r.json.data.map((m) => [m.userId, m]));
    assert.deepEqual(Object.keys(byId).sort(), [String(M.userId), String(N.userId)].sort(), 'the owner is not listed');
    assert.equal(byId[M.userId].freeReceived30d, 1);
    assert.equal(byId[N.userId].freeReceived30d, 0);
    assert.equal(byId[M.userId].address, REGION);
    assert.equal(byId[N.userId].address, '부산 해운대구');
    assert.equal(typeof byId[M.userId].mannerTemp, 'number');
    // members and strangers are refused
    for (const u of [M, N]) {
      const x = await srv.req('GET', `/chat/${icrId}/members`, { token: u.token });
      assert.equal(x.status, 403);
      assert.equal(x.json.code, 'NOT_OWNER');
    }
    assert.equal((await srv.req('GET', `/chat/${icrId}/members`)).status, 401);
    assert.equal((await srv.req('GET', '/chat/999999/members', { token: O.token })).status, 404);
    // the choice is the usual exchange; N's count goes up
    const x = await emit(os, 'exchange', { icrId, itemId, consumerUserId: N.userId });
    assert.equal(x.msg, 'success');
    const g = await postItem(srv, O, { freeYn: 'Y' });
    await emit(ms, 'joinRoom', { icrId: g.json.icrId });
    await emit(ns, 'joinRoom', { icrId: g.json.icrId });
    const r2 = await srv.req('GET', `/chat/${g.json.icrId}/members`, { token: O.token });
    const c = Object.fromEntries(r2.json.data.map((m) => [m.userId, m.freeReceived30d]));
    assert.deepEqual(c, { [M.userId]: 1, [N.userId]: 1 });
  } finally {
    for (const s of [ms, ns, os]) s.close();
  }
});
