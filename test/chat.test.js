// Group chat (src/market/chat.c over src/web/sio.c): rooms of items, setRoom, join,
// messages, kick (a permanent ban), exchange, leave, history over HTTP,
// privacy of emails, every refusal; fan-out to many clients exactly once
// and in order; durability across SIGKILL; slow clients. Real clients:
// socket.io-client 4.8.1 and the seed's 2.4.0.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const { start, sleep, BIN } = require('./lib/dongmul');
const { connect, RawPolling, rawWs } = require('./lib/sio');
const img = require('./lib/img');

const ADDR = '서울특별시 강남구 역삼동';
// many users sign in from one address: no login rate limit here
const RL = ['--rate-login', '100000'];
let srv;
let seq = 0;

test.before(async () => {
  srv = await start({ args: [...RL, '--threads', '192'] });
});

test.after(async () => {
  const r = await srv.stop();
  assert.equal(r.code, 0, `exit ${JSON.stringify(r)}\n${srv.log().slice(-3000)}`);
});

// An item (and its room) posted by owner: {itemId, icrId}.
async function newItem(s, owner) {
  seq += 1;
  const mp = img.multipart([
    { name: 'file', filename: 'photo.png', type: 'image/png', data: img.png({ w: 2, h: 2, seed: seq + 7 }) },
    { name: 'category', value: '디지털/가전' },
    { name: 'title', value: `채팅 물건 ${seq}` },
    { name: 'wantItem', value: '아무거나' },
    { name: 'comment', value: '채팅 테스트' },
    { name: 'deadLine', value: new Date(Date.now() + 2 * 86400e3).toISOString() },
  ]);
  const r = await s.req('POST', '/mainPage/write', { body: mp.body, token: owner.token, headers: { 'content-type': mp.contentType } });
  assert.ok(r.status === 200 || r.status === 201, `post item: ${r.status} ${r.body}`);
  return { itemId: String(r.json.itemId), icrId: String(r.json.icrId) };
}

const owner = (s = srv) => s.user({ address: ADDR });

// A connected member of room icrId (joins unless join === false).
async function member(s, u, icrId, opts = {}) {
  const c = await connect(s, { v: 4, auth: { token: u.token }, query: { icrId }, ...opts });
  if (opts.v === 2 && !opts.token && !opts.cookie) assert.deepEqual(await c.authenticate(u.token), { msg: 'success' });
  if (opts.join !== false) {
    const r = await c.ack('joinRoom', { icrId });
    assert.equal(r.msg, 'success', JSON.stringify(r));
  }
  return c;
}

// The seed's way: authenticate before every emit, emit without an ack.
async function seedEmit(c, u, event, payload) {
  const a = await c.authenticate(u.token);
  assert.deepEqual(a, { msg: 'success' });
  c.emit(event, payload);
}

async function history(s, u, icrId, q = '') {
  const r = await s.req('GET', `/chat/${icrId}/messages${q}`, { token: u.token });
  return r;
}

// Every message of the room a member can see, paging to the start.
async function allMessages(s, u, icrId) {
  const out = [];
  let before = '';
  for (;;) {
    const r = await history(s, u, icrId, `?limit=200${before ? `&before=${before}` : ''}`);
    assert.equal(r.status, 200, r.body);
    out.unshift(...r.json.data);
    if (!r.json.next) return out;
    before = r.json.next;
  }
}

const closeAll = (...cs) => cs.forEach((c) => c && c.close());

// ------------------------------------------------------------------ rooms

test('setRoom: a member connecting with icrId gets the members and the history; others get none', async () => {
  const O = await owner();
  const B = await srv.user();
  const { icrId } = await newItem(srv, O);
  const o = await connect(srv, { v: 4, auth: { token: O.token }, query: { icrId, email: B.email } });
  const sr = await o.next('setRoom');
  assert.equal(sr.icrId, icrId);
  assert.deepEqual(sr.msgList, []);
  assert.equal(sr.userList.length, 1);
  const me = sr.userList[0];
  assert.equal(me.userId, String(O.userId));
  assert.equal(me.email, O.email);
  assert.equal(me.nickname, O.nickname);
  assert.equal(me.isBoss, true);
  assert.equal(me.chooseYn, 'Y');
  assert.equal(me.online, true);
  assert.equal(me.mannerTemp, 36.5);
  assert.match(me.icruId, /^\d+$/);
  // a non-member naming the room gets no setRoom (and no history over HTTP)
  const b = await connect(srv, { v: 2, token: B.token, query: { email: O.email, icrId } });
  assert.equal(await b.quiet('setRoom', 400), true);
  assert.equal((await history(srv, B, icrId)).status, 403);
  // setRoom comes once authenticated: via the authenticate event too
  const o2 = await connect(srv, { v: 2, query: { icrId } });
  assert.equal(await o2.quiet('setRoom', 200), true);
  await o2.authenticate(O.token);
  assert.equal((await o2.next('setRoom')).icrId, icrId);
  await o2.authenticate(O.token);
  assert.equal(await o2.quiet('setRoom', 200), true); // once
  closeAll(o, b, o2);
});

test('joinRoom (the seed\'s way): TXT02, addUser to the room with per-viewer emails; joining again is harmless', async () => {
  const O = await owner();
  const [B, C] = [await srv.user(), await srv.user()];
  const { icrId } = await newItem(srv, O);
  const o = await member(srv, O, icrId, { join: false });
  await o.next('setRoom');
  // B: socket.io 2.4.0, polling then WebSocket, the email in the query ignored
  const b = await connect(srv, { v: 2, query: { email: O.email, icrId } });
  await seedEmit(b, B, 'joinRoom', { icrId, email: O.email });
  const ob = await o.next('addUser');
  assert.equal(ob.icrId, icrId);
  assert.equal(ob.msgList.msg, 'success');
  const m = ob.msgList.data;
  assert.equal(m.msgType, 'in');
  assert.equal(m.chatMsg, `${B.nickname}님이 입장하셨습니다.`);
  assert.equal(m.userId, String(B.userId));
  assert.equal(m.email, B.email); // the owner sees it
  assert.equal(m.icrId, icrId);
  assert.match(m.createdDt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+09:00$/);
  assert.deepEqual(ob.userList.map((u) => [u.userId, u.email, u.isBoss]),
    [[String(O.userId), O.email, true], [String(B.userId), B.email, false]]);
  const bb = await b.next('addUser');
  assert.equal(bb.msgList.data.email, B.email); // the author sees their own
  assert.deepEqual(bb.userList.map((u) => u.email), [`hidden:${O.userId}`, B.email]);
  // C joins: B sees each hidden email as that user's stable placeholder
  // (not an email address) but its own email (a viewer always sees their
  // own: the room's shared frame with B's entry substituted); the owner
  // sees C's
  const c = await member(srv, C, icrId);
  const bc = await b.next('addUser');
  assert.equal(bc.msgList.data.userId, String(C.userId));
  assert.equal(bc.msgList.data.email, `hidden:${C.userId}`);
  assert.deepEqual(bc.userList.map((u) => u.email), [`hidden:${O.userId}`, B.email, `hidden:${C.userId}`]);
  for (const u of bc.userList) if (u.userId !== String(B.userId)) assert.doesNotMatch(u.email, /@/);
  assert.equal((await o.next('addUser')).msgList.data.email, C.email);
  assert.deepEqual((await c.next('addUser')).userList.map((u) => u.email), [`hidden:${O.userId}`, `hidden:${B.userId}`, C.email]);
  const before = (await allMessages(srv, O, icrId)).length;
  // B joins again: addUser to B alone with {msg:"success"} only; no message
  const again = await b.ack('joinRoom', { icrId });
  assert.equal(again.msg, 'success');
  const rb = await b.next('addUser');
  assert.deepEqual(rb.msgList, { msg: 'success' });
  assert.equal(rb.userList.length, 3);
  assert.equal(await o.quiet('addUser', 300), true);
  assert.equal((await allMessages(srv, O, icrId)).length, before);
  closeAll(o, b, c);
});

test('a join seen by the other members: each sees its own email and only placeholders for the rest (WebSocket, polling, two tabs of one user)', async () => {
  const O = await owner();
  const [B, C, D] = [await srv.user(), await srv.user(), await srv.user()];
  const { icrId } = await newItem(srv, O);
  const o = await member(srv, O, icrId, { join: false });
  const b = await member(srv, B, icrId, { transports: ['websocket'] });
  const b2 = await member(srv, B, icrId, { join: false, transports: ['polling'] });
  await o.next('setRoom');
  await b2.next('setRoom');
  const c = await member(srv, C, icrId, { transports: ['polling'] });
  await b.waitUntil(() => (b.all('addUser').length >= 2 ? { v: 1 } : null), 10000, 'C joined');
  const d = await member(srv, D, icrId);
  const own = (x, viewer) => x.userList.map((u) => (u.userId === String(viewer.userId) ? u.email : u.email.startsWith('hidden:') ? 'hidden' : u.email));
  const last = async (cl) => {
    await cl.waitUntil(() => (cl.all('addUser').some((a) => a.msgList.data && a.msgList.data.userId === String(D.userId)) ? { v: 1 } : null), 10000, 'D joined');
    return cl.all('addUser').find((a) => a.msgList.data && a.msgList.data.userId === String(D.userId));
  };
  assert.deepEqual(own(await last(b), B), ['hidden', B.email, 'hidden', 'hidden']);
  assert.deepEqual(own(await last(b2), B), ['hidden', B.email, 'hidden', 'hidden']);
  assert.deepEqual(own(await last(c), C), ['hidden', 'hidden', C.email, 'hidden']);
  // the owner sees every email, the joiner its own
  assert.deepEqual((await last(o)).userList.map((u) => u.email), [O.email, B.email, C.email, D.email]);
  assert.deepEqual(own(await last(d), D), ['hidden', 'hidden', 'hidden', D.email]);
  // the rest of the frame is the shared one: the join message keeps D's placeholder
  assert.equal((await last(c)).msgList.data.email, `hidden:${D.userId}`);
  closeAll(o, b, b2, c, d);
});

test('sendMsg: stored, then every member gets getMsg; email only for owner and author; Korean and astral text over v3 polling', async () => {
  const O = await owner();
  const [B, C] = [await srv.user(), await srv.user()];
  const { icrId } = await newItem(srv, O);
  const o = await member(srv, O, icrId);
  const b = await member(srv, B, icrId, { v: 2, transports: ['polling'] });
  const c = await member(srv, C, icrId, { transports: ['polling'] });
  const text = '안녕하세요 😀🐶 반가워요 — "quotes" \\ <b>';
  await seedEmit(b, B, 'sendMsg', { icrId, chatMsg: text });
  const [mo, mb, mc] = await Promise.all([o.next('getMsg'), b.next('getMsg'), c.next('getMsg')]);
  for (const x of [mo, mb, mc]) {
    assert.equal(x.chatMsg, text);
    assert.equal(x.msgType, 'chat');
    assert.equal(x.userId, String(B.userId));
    assert.equal(x.nickname, B.nickname);
    assert.equal(x.icruMsgId, mo.icruMsgId);
    assert.ok(x.createdDt.includes('T'));
  }
  assert.equal(mo.email, B.email);
  assert.equal(mb.email, B.email);
  assert.equal(mc.email, `hidden:${B.userId}`);
  // stored (the owner's history), with an ack carrying the message
  const ack = await c.ack('sendMsg', { icrId, chatMsg: '두 번째' });
  assert.equal(ack.msg, 'success');
  assert.equal(ack.data.chatMsg, '두 번째');
  assert.equal(ack.data.email, C.email);
  const all = await allMessages(srv, O, icrId);
  assert.deepEqual(all.slice(-2).map((x) => x.chatMsg), [text, '두 번째']);
  assert.equal(all.slice(-1)[0].icruMsgId, ack.data.icruMsgId);
  closeAll(o, b, c);
});

test('sendMsg refusals: non-member, bad length, unknown room; a forged email/userId does not change who speaks', async () => {
  const O = await owner();
  const [B, D] = [await srv.user(), await srv.user()];
  const { icrId } = await newItem(srv, O);
  const o = await member(srv, O, icrId);
  const b = await member(srv, B, icrId);
  const d = await connect(srv, { v: 4, auth: { token: D.token } });
  assert.equal((await d.ack('sendMsg', { icrId, chatMsg: 'hi' })).code, 'NOT_MEMBER');
  d.emit('sendMsg', { icrId, chatMsg: 'hi', email: O.email });
  assert.equal((await d.next('error')).code, 'NOT_MEMBER');
  assert.equal((await b.ack('sendMsg', { icrId, chatMsg: '' })).code, 'INVALID_MESSAGE');
  assert.equal((await b.ack('sendMsg', { icrId, chatMsg: '가'.repeat(1001) })).code, 'INVALID_MESSAGE');
  assert.equal((await b.ack('sendMsg', { icrId, chatMsg: 5 })).code, 'INVALID_MESSAGE');
  assert.equal((await b.ack('sendMsg', { icrId: '99999999', chatMsg: 'x' })).code, 'ROOM_NOT_FOUND');
  assert.equal((await b.ack('sendMsg', { chatMsg: 'x' })).code, 'INVALID_INPUT');
  assert.equal((await b.ack('sendMsg', { icrId, chatMsg: '가'.repeat(1000) })).msg, 'success');
  // the payload claims to be the owner: it is still B speaking
  const r = await b.ack('sendMsg', { icrId, chatMsg: 'forged', email: O.email, userId: String(O.userId), nickname: 'owner' });
  assert.equal(r.msg, 'success');
  const got = await o.find('getMsg', (m) => m.chatMsg === 'forged');
  assert.equal(got.userId, String(B.userId));
  assert.equal(got.email, B.email);
  assert.equal(got.nickname, B.nickname);
  const all = await allMessages(srv, O, icrId);
  assert.deepEqual(all.filter((m) => m.msgType === 'chat').map((m) => [m.userId, m.chatMsg.length]),
    [[String(B.userId), 1000], [String(B.userId), 6]]);
  closeAll(o, b, d);
});

test('history over HTTP: members page back from their join; others refused; bad input is 400', async () => {
  const O = await owner();
  const [B, D] = [await srv.user(), await srv.user()];
  const { icrId } = await newItem(srv, O);
  const o = await member(srv, O, icrId);
  for (let i = 1; i <= 7; i++) assert.equal((await o.ack('sendMsg', { icrId, chatMsg: `m${i}` })).msg, 'success');
  let r = await history(srv, O, icrId, '?limit=3');
  assert.equal(r.status, 200, r.body);
  assert.deepEqual(r.json.data.map((m) => m.chatMsg), ['m5', 'm6', 'm7']);
  assert.equal(r.json.next, r.json.data[0].icruMsgId);
  r = await history(srv, O, icrId, `?limit=3&before=${r.json.next}`);
  assert.deepEqual(r.json.data.map((m) => m.chatMsg), ['m2', 'm3', 'm4']);
  r = await history(srv, O, icrId, `?limit=3&before=${r.json.next}`);
  assert.deepEqual(r.json.data.map((m) => m.chatMsg), ['m1']);
  assert.equal(r.json.next, null);
  assert.equal((await history(srv, O, icrId)).json.data.length, 7); // default limit 50
  // B joins later: sees from the join on
  const b = await member(srv, B, icrId);
  await o.ack('sendMsg', { icrId, chatMsg: 'after' });
  r = await history(srv, B, icrId);
  assert.deepEqual(r.json.data.map((m) => m.msgType), ['in', 'chat']);
  assert.equal(r.json.data[1].email, `hidden:${O.userId}`); // the owner's email hidden from B
  // refusals
  assert.equal((await history(srv, D, icrId)).json.code, 'NOT_MEMBER');
  assert.equal((await srv.req('GET', `/chat/${icrId}/messages`)).status, 401);
  for (const q of ['?limit=0', '?limit=201', '?limit=abc', '?before=x', '?before=-1']) {
    assert.equal((await history(srv, O, icrId, q)).status, 400, q);
  }
  assert.equal((await history(srv, O, '99999999')).status, 404);
  assert.equal((await history(srv, O, 'abc')).status, 404);
  closeAll(o, b);
});

// --------------------------------------------------------------- kick

test('kick: owner only, never the owner; the kicked user gets kickUser, leaves, and is banned for good', async () => {
  const O = await owner();
  const [B, C, D] = [await srv.user(), await srv.user(), await srv.user()];
  const { icrId, itemId } = await newItem(srv, O);
  const o = await member(srv, O, icrId);
  const b = await member(srv, B, icrId, { v: 2 });
  const c = await member(srv, C, icrId);
  // refusals
  assert.equal((await c.ack('kickUser', { icrId, itemId, email: B.email })).code, 'NOT_OWNER');
  assert.equal((await c.ack('kickUser', { icrId, itemId, userId: String(B.userId), email: O.email })).code, 'NOT_OWNER');
  assert.equal((await o.ack('kickUser', { icrId, itemId, email: O.email })).code, 'CANNOT_KICK_OWNER');
  assert.equal((await o.ack('kickUser', { icrId, itemId, email: D.email })).code, 'TARGET_NOT_MEMBER');
  assert.equal((await o.ack('kickUser', { icrId, itemId, email: 'nobody@example.com' })).code, 'USER_NOT_FOUND');
  assert.equal((await o.ack('kickUser', { icrId, itemId: '99999999', email: B.email })).code, 'ROOM_NOT_FOUND');
  // the seed's payload: by email
  const ack = await o.ack('kickUser', { icrId, itemId, email: B.email });
  assert.equal(ack.msg, 'success', JSON.stringify(ack));
  const [ko, kb, kc] = await Promise.all([o.next('kickUser'), b.next('kickUser'), c.next('kickUser')]);
  for (const k of [ko, kb, kc]) {
    assert.equal(k.msgType, 'out');
    assert.equal(k.chatMsg, `${B.nickname}님이 강퇴당하셨습니다.`);
    assert.equal(k.userId, String(B.userId));
  }
  assert.equal(kb.email, B.email); // the seed goes home when it is its own
  assert.equal(ko.email, B.email);
  assert.equal(kc.email, `hidden:${B.userId}`);
  // the seed frontend drops the member whose email is the kickUser's: on
  // C's list (its join's addUser) that is B alone, not every hidden email
  const cList = (await c.next('addUser')).userList;
  assert.deepEqual(cList.filter((u) => u.email !== kc.email).map((u) => u.userId), [String(O.userId), String(C.userId)]);
  // B's connection left the room: the next message does not reach it
  await o.ack('sendMsg', { icrId, chatMsg: 'after the kick' });
  await c.find('getMsg', (m) => m.chatMsg === 'after the kick');
  assert.equal(await b.quiet('getMsg', 300), true);
  // banned: no rejoin, no sending, no history, no setRoom, 403 on the item
  assert.equal((await b.ack('joinRoom', { icrId })).code, 'KICKED');
  assert.equal((await b.ack('sendMsg', { icrId, chatMsg: 'let me in' })).code, 'KICKED');
  assert.equal((await history(srv, B, icrId)).json.code, 'KICKED');
  const b2 = await connect(srv, { v: 2, token: B.token, query: { icrId } });
  assert.equal(await b2.quiet('setRoom', 400), true);
  assert.equal((await srv.req('GET', `/postDetail/${itemId}`, { token: B.token })).status, 403);
  // kicked again (not a member any more)
  assert.equal((await o.ack('kickUser', { icrId, itemId, email: B.email })).code, 'TARGET_NOT_MEMBER');
  // by userId
  assert.equal((await o.ack('kickUser', { icrId, userId: String(C.userId) })).msg, 'success');
  assert.equal((await c.next('kickUser')).email, C.email);
  const all = await allMessages(srv, O, icrId);
  assert.deepEqual(all.filter((m) => m.msgType === 'out').map((m) => m.userId), [String(B.userId), String(C.userId)]);
  closeAll(o, b, c, b2);
});

// ----------------------------------------------------------- exchange

test('exchange: owner only, partner a member, item open; SI01→SI02; the room gets exchange; only owner and partner stay', async () => {
  const O = await owner();
  const [B, C, D, E] = [await srv.user(), await srv.user(), await srv.user(), await srv.user()];
  const { icrId, itemId } = await newItem(srv, O);
  const o = await member(srv, O, icrId);
  const b = await member(srv, B, icrId, { v: 2 });
  const c = await member(srv, C, icrId);
  const d = await member(srv, D, icrId, { transports: ['polling'] });
  assert.equal((await b.ack('exchange', { icrId, itemId, consumerEmail: B.email })).code, 'NOT_OWNER');
  assert.equal((await o.ack('exchange', { icrId, itemId, consumerEmail: E.email })).code, 'TARGET_NOT_MEMBER');
  assert.equal((await o.ack('exchange', { icrId, itemId, consumerEmail: O.email })).code, 'INVALID_PARTNER');
  assert.equal((await o.ack('exchange', { icrId, itemId })).code, 'INVALID_INPUT');
  const ack = await o.ack('exchange', { icrId, itemId, consumerEmail: B.email });
  assert.equal(ack.msg, 'success', JSON.stringify(ack));
  const [xo, xb, xc, xd] = await Promise.all([o, b, c, d].map((x) => x.next('exchange')));
  for (const x of [xo, xb, xc, xd]) {
    assert.equal(x.msg, 'success');
    assert.equal(x.itemId, itemId);
    assert.equal(x.partner.userId, String(B.userId));
    assert.equal(x.partner.nickname, B.nickname);
  }
  assert.equal(xo.partner.email, B.email);
  assert.equal(xb.partner.email, B.email);
  assert.equal(xc.partner.email, `hidden:${B.userId}`);
  // the item is in trade with B
  const det = await srv.req('GET', `/postDetail/${itemId}`, { token: O.token });
  assert.equal(det.json.data.status, 'success');
  assert.equal(det.json.data.statusCode, 'SI02');
  // everyone else left: memberships gone, sockets out of the room
  assert.equal((await history(srv, C, icrId)).json.code, 'NOT_MEMBER');
  assert.equal((await history(srv, D, icrId)).json.code, 'NOT_MEMBER');
  await o.ack('sendMsg', { icrId, chatMsg: '언제 만날까요?' });
  assert.equal((await b.find('getMsg', (m) => m.chatMsg === '언제 만날까요?')).userId, String(O.userId));
  assert.equal(await c.quiet('getMsg', 300), true);
  assert.equal(await d.quiet('getMsg', 10), true);
  const sr = await connect(srv, { v: 4, auth: { token: O.token }, query: { icrId } });
  const users = (await sr.next('setRoom')).userList;
  assert.deepEqual(users.map((u) => [u.userId, u.chooseYn]), [[String(O.userId), 'Y'], [String(B.userId), 'Y']]);
  // closed to new joins and to another exchange; the partner cannot be kicked
  assert.equal((await c.ack('joinRoom', { icrId })).code, 'ITEM_CLOSED');
  assert.equal((await o.ack('exchange', { icrId, itemId, consumerUserId: String(B.userId) })).code, 'ITEM_CLOSED');
  assert.equal((await o.ack('kickUser', { icrId, itemId, userId: String(B.userId) })).code, 'PARTNER_CHOSEN');
  assert.equal((await b.ack('leaveRoom', { icrId })).code, 'PARTNER_CANNOT_LEAVE');
  // completing the trade (another part) is shown in the room, after the commit
  const done = await srv.req('POST', `/trade/${itemId}/complete`, { token: B.token });
  assert.equal(done.status, 200, done.body);
  const sys = await o.find('getMsg', (m) => m.msgType === 'system' && m.userId === String(B.userId));
  assert.equal(sys.email, B.email);
  assert.equal((await b.find('getMsg', (m) => m.msgType === 'system' && m.userId === String(B.userId))).icruMsgId, sys.icruMsgId);
  closeAll(o, b, c, d, sr);
});

test('leaveRoom: a member leaves with TXT04; the owner cannot; a non-member cannot', async () => {
  const O = await owner();
  const [B, D] = [await srv.user(), await srv.user()];
  const { icrId } = await newItem(srv, O);
  const o = await member(srv, O, icrId);
  const b = await member(srv, B, icrId);
  const d = await connect(srv, { v: 4, auth: { token: D.token } });
  assert.equal((await o.ack('leaveRoom', { icrId })).code, 'OWNER_CANNOT_LEAVE');
  assert.equal((await d.ack('leaveRoom', { icrId })).code, 'NOT_MEMBER');
  assert.equal((await b.ack('leaveRoom', { icrId, email: O.email })).msg, 'success');
  const m = await o.find('getMsg', (x) => x.msgType === 'leave');
  assert.equal(m.chatMsg, `${B.nickname}님이 나가셨습니다.`);
  assert.equal(m.userId, String(B.userId));
  assert.equal((await history(srv, B, icrId)).json.code, 'NOT_MEMBER');
  await o.ack('sendMsg', { icrId, chatMsg: 'bye' });
  assert.equal(await b.quiet('getMsg', 300), true);
  // a member who left may come back while the item is open
  assert.equal((await b.ack('joinRoom', { icrId })).msg, 'success');
  await o.waitUntil(() => (o.all('addUser').filter((a) => a.msgList.data && a.msgList.data.userId === String(B.userId)).length === 2 ? { v: 1 } : null), 5000, 'second addUser');
  closeAll(o, b, d);
});

test('suspended users cannot join, send or exchange', async () => {
  const O = await owner();
  const [B, E] = [await srv.user(), await srv.user()];
  const { icrId, itemId } = await newItem(srv, O);
  const o = await member(srv, O, icrId);
  const b = await member(srv, B, icrId);
  const e = await connect(srv, { v: 4, auth: { token: E.token } });
  const suspend = (u) => execFileSync(BIN, ['user', 'suspend', u.email, '--days', '1', '--data', srv.data]);
  suspend(B);
  suspend(E);
  assert.equal((await b.ack('sendMsg', { icrId, chatMsg: 'hi' })).code, 'SUSPENDED');
  assert.equal((await e.ack('joinRoom', { icrId })).code, 'SUSPENDED');
  suspend(O);
  assert.equal((await o.ack('exchange', { icrId, itemId, consumerEmail: B.email })).code, 'SUSPENDED');
  assert.equal((await o.ack('sendMsg', { icrId, chatMsg: 'x' })).code, 'SUSPENDED');
  // nothing was stored
  const all = await allMessages(srv, O, icrId);
  assert.deepEqual(all.map((m) => m.msgType), ['in']);
  closeAll(o, b, e);
});

test('reconnect: setRoom brings what was missed; online reflects live sockets', async () => {
  const O = await owner();
  const [B, C] = [await srv.user(), await srv.user()];
  const { icrId } = await newItem(srv, O);
  const o = await member(srv, O, icrId);
  const b = await member(srv, B, icrId, { v: 2 });
  b.close();
  await sleep(200);
  for (const t of ['하나', '둘', '셋']) await o.ack('sendMsg', { icrId, chatMsg: t });
  // C joins: B is offline, O and C online
  const c = await member(srv, C, icrId);
  const ul = (await c.next('addUser')).userList;
  assert.deepEqual(ul.map((u) => [u.userId, u.online]),
    [[String(O.userId), true], [String(B.userId), false], [String(C.userId), true]]);
  const b2 = await connect(srv, { v: 2, token: B.token, query: { email: B.email, icrId } });
  const sr = await b2.next('setRoom');
  assert.deepEqual(sr.msgList.map((m) => m.chatMsg),
    [`${B.nickname}님이 입장하셨습니다.`, '하나', '둘', '셋', `${C.nickname}님이 입장하셨습니다.`]);
  assert.deepEqual(sr.userList.map((u) => u.online), [true, true, true]);
  // live again
  await o.ack('sendMsg', { icrId, chatMsg: '넷' });
  assert.equal((await b2.next('getMsg')).chatMsg, '넷');
  closeAll(o, b2, c);
});

// ------------------------------------------------------------ fan-out

test('50 clients in one room each receive every message exactly once and in commit order', async () => {
  const O = await owner();
  const { icrId } = await newItem(srv, O);
  const users = [];
  for (let i = 0; i < 50; i++) users.push(i === 0 ? O : await srv.user());
  const kinds = [{ v: 4 }, { v: 2 }, { v: 4, transports: ['polling'] }, { v: 2, transports: ['polling'] }];
  const clients = [];
  for (let i = 0; i < 50; i++) clients.push(await member(srv, users[i], icrId, kinds[i % 4]));
  const N = 5, K = 20;
  const sent = [];
  await Promise.all(clients.slice(0, N).map(async (c, k) => {
    const acks = [];
    for (let j = 0; j < K; j++) acks.push(c.ack('sendMsg', { icrId, chatMsg: `s${k}-${j}` }));
    for (const a of await Promise.all(acks)) { assert.equal(a.msg, 'success'); sent.push(a.data.icruMsgId); }
  }));
  const order = sent.map(Number).sort((a, b) => a - b).map(String);
  const lists = await Promise.all(clients.map((c) => c.count('getMsg', N * K, 30000)));
  for (const [i, list] of lists.entries()) {
    const ids = list.map((m) => m.icruMsgId);
    assert.equal(ids.length, N * K, `client ${i}: ${ids.length}`);
    assert.deepEqual(ids, order, `client ${i} (${JSON.stringify(kinds[i % 4])}) order`);
  }
  // each sender's own messages in the order it sent them
  for (let k = 0; k < N; k++) {
    const mine = lists[1].filter((m) => m.chatMsg.startsWith(`s${k}-`)).map((m) => m.chatMsg);
    assert.deepEqual(mine, Array.from({ length: K }, (_, j) => `s${k}-${j}`));
  }
  // and that is what the database holds
  const stored = (await allMessages(srv, O, icrId)).filter((m) => m.msgType === 'chat').map((m) => m.icruMsgId);
  assert.deepEqual(stored, order);
  await sleep(200);
  for (const c of clients) assert.equal(c.all('getMsg').length, N * K); // nothing more arrived
  closeAll(...clients);
});

test('wss: members over TLS receive every broadcast in order', async () => {
  const s = await start({ https: true, args: [...RL, '--threads', '64'] });
  try {
    const O = await owner(s);
    const { icrId } = await newItem(s, O);
    const clients = [await member(s, O, icrId, { secure: true })];
    for (let i = 0; i < 9; i++) clients.push(await member(s, await s.user(), icrId, { secure: true, v: i % 2 ? 2 : 4 }));
    const acks = [];
    for (let j = 0; j < 30; j++) acks.push(clients[j % 3].ack('sendMsg', { icrId, chatMsg: `tls ${j} 안녕` }));
    const ids = (await Promise.all(acks)).map((a) => Number(a.data.icruMsgId)).sort((a, b) => a - b).map(String);
    for (const c of clients) assert.deepEqual((await c.count('getMsg', 30)).map((m) => m.icruMsgId), ids);
    closeAll(...clients);
  } finally {
    const r = await s.stop();
    assert.equal(r.code, 0, s.log().slice(-2000));
  }
});

// ------------------------------------------------------- slow clients

test('slow clients: a poller that stops polling and a WebSocket that stops reading are dropped; the others keep up', async () => {
  // one user sends thousands of messages here: no message quota
  const s = await start({ args: [...RL, '--threads', '64', '--sio-queue-max', '300', '--quota-messages', '1000000'] });
  try {
    const O = await owner(s);
    const [B, C, W] = [await s.user(), await s.user(), await s.user()];
    const { icrId } = await newItem(s, O);
    const o = await member(s, O, icrId);
    const c = await member(s, C, icrId, { transports: ['polling'] });
    // B: a raw poller that joins, then never polls again
    const p = new RawPolling(s, 4);
    await p.open();
    await p.post([`40/chatting,${JSON.stringify({ token: B.token })}`, `42/chatting,1${JSON.stringify(['joinRoom', { icrId }])}`]);
    let got = [];
    while (!got.some((x) => x.startsWith('43/chatting,1'))) got.push(...(await p.get()).packets);
    // W: a WebSocket that joins, then stops reading
    const ws = rawWs(s, 4);
    await ws.opened;
    const wsid = JSON.parse((await ws.next()).slice(1)).sid;
    ws.send(`40/chatting,${JSON.stringify({ token: W.token })}`);
    ws.send(`42/chatting,1${JSON.stringify(['joinRoom', { icrId }])}`);
    await ws.next(5000, (m) => m.startsWith('43/chatting,1'));
    ws._socket.pause();
    const big = '가'.repeat(990);
    // in windows of 32 (a socket may have at most 64 writes queued) until
    // the server reports the reader dropped (the kernel buffers of a
    // paused socket take a few MB first)
    const dropped = (sid) => s.log().includes(`sio ${sid}: 300 frames queued, the client does not read: disconnecting`);
    let sent = 0;
    while (sent < 4000 && !(dropped(p.sid) && dropped(wsid))) {
      const acks = [];
      for (let k = sent; k < sent + 32; k++) acks.push(o.ack('sendMsg', { icrId, chatMsg: `${k} ${big}` }));
      for (const a of await Promise.all(acks)) assert.equal(a.msg, 'success');
      sent += 32;
    }
    assert.ok(dropped(p.sid) && dropped(wsid), `sent ${sent}`);
    assert.ok(!dropped(c.sock.io.engine.id) && !dropped(o.sock.io.engine.id));
    // the others got everything, in order
    for (const x of [o, c]) {
      const list = await x.count('getMsg', sent, 180000); // generous: a loaded 2-core CI box parses ~4 MB of polling slowly
      assert.equal(list.length, sent);
      assert.deepEqual(list.map((m) => Number(m.chatMsg.split(' ')[0])), Array.from({ length: sent }, (_, k) => k));
    }
    // the poller's session is gone
    const g = await p.get();
    assert.ok(g.status === 400 || g.packets.includes('1'), `${g.status} ${g.body.slice(0, 100)}`);
    // both show offline (a fresh setRoom of the owner)
    const sr0 = await (async () => {
      const x = await connect(s, { v: 4, auth: { token: O.token }, query: { icrId } });
      const r = await x.next('setRoom');
      x.close();
      return r;
    })();
    assert.deepEqual(sr0.userList.filter((u) => u.userId === String(B.userId) || u.userId === String(W.userId)).map((u) => u.online),
      [false, false]);
    ws.terminate();
    // what B missed is in the database for its next setRoom: the latest 200
    const b = await connect(s, { v: 2, token: B.token, query: { icrId } });
    const sr = await b.next('setRoom');
    assert.equal(sr.msgList.length, 200);
    assert.deepEqual(sr.msgList.map((m) => Number(m.chatMsg.split(' ')[0])), Array.from({ length: 200 }, (_, k) => sent - 200 + k));
    closeAll(o, c, b);
  } finally {
    const r = await s.stop();
    assert.equal(r.code, 0, s.log().slice(-2000));
  }
});

// ---------------------------------------------------------- durability

test('SIGKILL during a burst: every message any client received is there after a restart', async () => {
  const s = await start({ args: [...RL, '--threads', '64'] });
  let s2;
  try {
    const O = await owner(s);
    const { icrId } = await newItem(s, O);
    const clients = [await member(s, O, icrId)];
    for (let i = 0; i < 4; i++) clients.push(await member(s, await s.user(), icrId, { v: i % 2 ? 2 : 4 }));
    let stop = false;
    const senders = clients.map(async (c, k) => {
      for (let j = 0; !stop; j++) {
        c.emit('sendMsg', { icrId, chatMsg: `burst ${k}-${j}` });
        await sleep(2);
      }
    });
    await clients[0].count('getMsg', 150, 20000);
    await s.kill(); // SIGKILL in the middle of the burst
    stop = true;
    await Promise.all(senders);
    const seen = new Map();
    for (const c of clients) for (const m of c.all('getMsg')) seen.set(m.icruMsgId, m.chatMsg);
    assert.ok(seen.size >= 150);
    s2 = await start({ data: s.data, args: ['--threads', '16'] });
    const stored = new Map((await allMessages(s2, O, icrId)).map((m) => [m.icruMsgId, m.chatMsg]));
    for (const [id, text] of seen) assert.equal(stored.get(id), text, `message ${id} lost`);
    closeAll(...clients);
  } finally {
    if (s2) {
      const r = await s2.stop();
      assert.equal(r.code, 0, s2.log().slice(-2000));
    }
  }
});
