// Blocking a user (POST/DELETE/GET /blocks): private to the blocker. The
// blocked user cannot join the blocker's rooms (refused as ITEM_CLOSED, as
// if the item were closed) and does not see the blocker's posts (feeds,
// search, detail 404); the blocked user's posts leave the blocker's feeds
// and search; in a room both are in already, the blocked user's messages
// reach everyone but the blocker (live, in history and in notifications), and the blocker's
// still reach everyone. The feeds' shared cached pages are never served to
// a user with blocks.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { start, sleep } = require('./lib/dongmul');
const { postItem, connect, emit, until } = require('./lib/market');

const REGION = '서울 마포구';
let srv, A, B, C;

test.before(async () => {
  srv = await start({ args: ['--rate-login', '100000'] });
  A = await srv.user({ address: REGION });   // the blocker
  B = await srv.user({ address: REGION });   // the blocked
  C = await srv.user({ address: REGION });   // a third neighbor
});
test.after(async () => {
  const e = await srv.stop();
  assert.equal(e.code, 0, `exit ${JSON.stringify(e)}\n${srv.log().slice(-3000)}`);
});

const ids = (r) => r.json.data.map((i) => i.itemId);
const anonFeed = () => srv.req('GET', `/mainPage/noLogin?address=${encodeURIComponent(REGION)}`);
const feed = (u) => srv.req('GET', '/mainPage', { token: u.token });
const search = (u, q) => srv.req('GET', `/mainPage/search?q=${encodeURIComponent(q)}`, { token: u.token });

test('refusals: no token, bad id, myself, unknown user, twice, lifting what is not blocked', async () => {
  assert.equal((await srv.req('POST', '/blocks', { body: { userId: B.userId } })).status, 401);
  assert.equal((await srv.req('GET', '/blocks')).status, 401);
  for (const body of [{}, { userId: 'x' }, { userId: -3 }, { userId: null }, { userId: [1] }]) {
    const r = await srv.req('POST', '/blocks', { body, token: A.token });
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.json.code, 'INVALID_USER');
  }
  let r = await srv.req('POST', '/blocks', { body: { userId: A.userId }, token: A.token });
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'CANNOT_BLOCK_SELF');
  r = await srv.req('POST', '/blocks', { body: { userId: '987654321' }, token: A.token });
  assert.equal(r.status, 404);
  assert.equal(r.json.code, 'USER_NOT_FOUND');
  r = await srv.req('DELETE', `/blocks/${C.userId}`, { token: A.token });
  assert.equal(r.status, 404);
  assert.equal(r.json.code, 'NOT_BLOCKED');
  r = await srv.req('DELETE', '/blocks/abc', { token: A.token });
  assert.equal(r.status, 404);
  assert.deepEqual((await srv.req('GET', '/blocks', { token: A.token })).json, { msg: 'success', data: [] });
  // block, then again: refused, the list has it once
  r = await srv.req('POST', '/blocks', { body: { userId: C.userId }, token: A.token });
  assert.equal(r.status, 201, r.body);
  r = await srv.req('POST', '/blocks', { body: { userId: C.userId }, token: A.token });
  assert.equal(r.status, 409);
  assert.equal(r.json.code, 'ALREADY_BLOCKED');
  const l = (await srv.req('GET', '/blocks', { token: A.token })).json.data;
  assert.equal(l.length, 1);
  assert.equal(l[0].userId, String(C.userId));
  assert.equal(l[0].nickname, C.nickname);
  // the list is the blocker's alone
  assert.deepEqual((await srv.req('GET', '/blocks', { token: C.token })).json.data, []);
  r = await srv.req('DELETE', `/blocks/${C.userId}`, { token: A.token });
  assert.equal(r.status, 200, r.body);
  assert.deepEqual((await srv.req('GET', '/blocks', { token: A.token })).json.data, []);
});

test('posts: hidden both ways in feeds, search and (for the blocked) detail; the shared cache never leaks them', async () => {
  const a = await postItem(srv, A, { title: '블록테스트 에이 물건' });
  const b = await postItem(srv, B, { title: '블록테스트 비 물건' });
  const c = await postItem(srv, C, { title: '블록테스트 씨 물건' });
  for (const p of [a, b, c]) assert.equal(p.status, 201, p.body);
  // before: everyone sees all three (and the anonymous page is cached)
  for (const u of [A, B, C]) {
    const f = ids(await feed(u));
    for (const p of [a, b, c]) assert.ok(f.includes(p.json.itemId));
  }
  assert.ok(ids(await anonFeed()).includes(a.json.itemId));
  assert.equal((await srv.req('POST', '/blocks', { body: { userId: B.userId }, token: A.token })).status, 201);
  // the blocker: B's post gone from feed and search, own and C's stay
  for (let k = 0; k < 2; k++) { // twice: the second may come from a cache
    let f = ids(await feed(A));
    assert.ok(!f.includes(b.json.itemId), 'B gone from A\'s feed');
    assert.ok(f.includes(a.json.itemId) && f.includes(c.json.itemId));
    f = ids(await search(A, '블록테스트'));
    assert.ok(!f.includes(b.json.itemId), 'B gone from A\'s search');
    assert.ok(f.includes(c.json.itemId));
    // the blocked: A's post gone from feed, search, and its detail is a 404
    f = ids(await feed(B));
    assert.ok(!f.includes(a.json.itemId), 'A gone from B\'s feed');
    assert.ok(f.includes(b.json.itemId) && f.includes(c.json.itemId));
    f = ids(await search(B, '블록테스트'));
    assert.ok(!f.includes(a.json.itemId), 'A gone from B\'s search');
    const d = await srv.req('GET', `/postDetail/${a.json.itemId}`, { token: B.token });
    assert.equal(d.status, 404);
    assert.equal(d.json.code, 'ITEM_NOT_FOUND');
    // a third party and the anonymous feed are untouched
    f = ids(await feed(C));
    for (const p of [a, b, c]) assert.ok(f.includes(p.json.itemId));
    f = ids(await anonFeed());
    for (const p of [a, b, c]) assert.ok(f.includes(p.json.itemId));
  }
  // the blocker may still open B's post; B's own view of it is unchanged
  assert.equal((await srv.req('GET', `/postDetail/${b.json.itemId}`, { token: A.token })).status, 200);
  // the join button is off for B on A's item (as if closed)
  const bt = await srv.req('GET', `/postDetail/icrId/${a.json.icrId}`, { token: B.token });
  assert.equal(bt.json.buttonYn.groupJoinButton, false);
  assert.equal((await srv.req('GET', `/postDetail/icrId/${a.json.icrId}`, { token: C.token })).json.buttonYn.groupJoinButton, true);
  // lifted: everything is back at once
  assert.equal((await srv.req('DELETE', `/blocks/${B.userId}`, { token: A.token })).status, 200);
  assert.ok(ids(await feed(A)).includes(b.json.itemId));
  assert.ok(ids(await feed(B)).includes(a.json.itemId));
  assert.equal((await srv.req('GET', `/postDetail/${a.json.itemId}`, { token: B.token })).status, 200);
});

test('rooms: a blocked user cannot join (ITEM_CLOSED, as if closed); others can', async () => {
  const a = await postItem(srv, A);
  assert.equal(a.status, 201);
  assert.equal((await srv.req('POST', '/blocks', { body: { userId: B.userId }, token: A.token })).status, 201);
  const bs = await connect(srv, B);
  const cs = await connect(srv, C);
  try {
    const r = await emit(bs, 'joinRoom', { icrId: a.json.icrId });
    assert.equal(r.msg, 'fail');
    assert.equal(r.code, 'ITEM_CLOSED');
    assert.equal((await emit(cs, 'joinRoom', { icrId: a.json.icrId })).msg, 'success');
    // B's refusal changed nothing: not a member
    const m = await srv.req('GET', `/chat/${a.json.icrId}/messages`, { token: B.token });
    assert.equal(m.status, 403);
    assert.equal(m.json.code, 'NOT_MEMBER');
    // the blocker can still join the blocked user's room
    const b = await postItem(srv, B);
    const as = await connect(srv, A);
    try { assert.equal((await emit(as, 'joinRoom', { icrId: b.json.icrId })).msg, 'success'); } finally { as.close(); }
  } finally {
    bs.close();
    cs.close();
    await srv.req('DELETE', `/blocks/${B.userId}`, { token: A.token });
  }
});

test('a room both are in: the blocked user\'s messages reach all but the blocker, live and in history', async () => {
  const it = await postItem(srv, C);
  const { icrId } = it.json;
  const as = await connect(srv, A);
  const bs = await connect(srv, B);
  const cs = await connect(srv, C);
  try {
    for (const s of [cs, as, bs]) assert.equal((await emit(s, 'joinRoom', { icrId })).msg, 'success');
    assert.equal((await srv.req('POST', '/blocks', { body: { userId: B.userId }, token: A.token })).status, 201);
    const got = (s, text) => (s.got.getMsg || []).some((m) => m.chatMsg === text);
    let r = await emit(bs, 'sendMsg', { icrId, chatMsg: '비의 메시지' });
    assert.equal(r.msg, 'success', 'the blocked user is not told');
    // nor as a notification (its text is in the payload and in mail): once
    // C's shows it (one flush covers every member of the room), A's has none
    const notes = async (u) => JSON.stringify((await srv.req('GET', '/notifications?limit=50', { token: u.token })).json);
    await until(async () => (await notes(C)).includes('비의 메시지'), 10000, 'C notified of B');
    assert.ok(!(await notes(A)).includes('비의 메시지'), 'no notification of B\'s message for A');
    r = await emit(as, 'sendMsg', { icrId, chatMsg: '에이의 메시지' });
    assert.equal(r.msg, 'success');
    // A's message reaches B and C; B's reaches C (and B) but not A
    await until(() => got(cs, '에이의 메시지') && got(bs, '에이의 메시지') && got(cs, '비의 메시지'), 10000, 'delivery');
    r = await emit(cs, 'sendMsg', { icrId, chatMsg: '씨의 메시지' });
    await until(() => got(as, '씨의 메시지'), 10000, 'C to A');
    // C's message came after B's on the same lane: had B's been sent to A it would be here
    await sleep(200);
    assert.ok(!got(as, '비의 메시지'), 'B\'s message not delivered to A');
    assert.ok(!JSON.stringify(as.notes).includes('비의 메시지'), 'no live notification of it either');
    // history: A's leaves B's chat out; B's and C's keep it
    const hist = async (u) => (await srv.req('GET', `/chat/${icrId}/messages`, { token: u.token })).json.data.map((m) => m.chatMsg);
    const ha = await hist(A);
    assert.ok(!ha.includes('비의 메시지') && ha.includes('에이의 메시지') && ha.includes('씨의 메시지'), JSON.stringify(ha));
    for (const u of [B, C]) assert.ok((await hist(u)).includes('비의 메시지'));
    // setRoom on a new socket: the same rule
    const a2 = await connect(srv, A, { icrId: String(icrId) });
    try {
      await until(() => a2.got.setRoom, 10000, 'setRoom');
      const ml = a2.got.setRoom[0].msgList.map((m) => m.chatMsg);
      assert.ok(!ml.includes('비의 메시지') && ml.includes('에이의 메시지'), JSON.stringify(ml));
    } finally { a2.close(); }
    // lifted: B's messages reach A again (and the old one is back in history)
    assert.equal((await srv.req('DELETE', `/blocks/${B.userId}`, { token: A.token })).status, 200);
    await emit(bs, 'sendMsg', { icrId, chatMsg: '비의 두번째' });
    await until(() => got(as, '비의 두번째'), 10000, 'B to A after lifting');
    assert.ok((await hist(A)).includes('비의 메시지'));
  } finally {
    for (const s of [as, bs, cs]) s.close();
  }
});
