// Reporting one chat message (docs/API.md "Trades, reviews, reports"):
// POST /reports {icruMsgId, reason, detail?} by a member of the room; the
// refusals; the operator's queue with the messages around it; counting
// toward suspension as user reports do.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { start } = require('./lib/dongmul');
const { postItem, connect, emit, userCmd } = require('./lib/market');

const ADDR = '서울특별시 마포구 합정동';

test('report a message: members only, not one\'s own, once; the queue shows its context; it counts', async (t) => {
  const srv = await start({ args: ['--report-threshold', '1', '--rate-login', '100000', '--report-min-age', '0'] });
  t.after(async () => {
    const e = await srv.stop();
    assert.equal(e.code, 0, `server exit ${JSON.stringify(e)}`);
  });
  const owner = await srv.user({ address: ADDR });
  const bad = await srv.user({ address: ADDR });
  const member = await srv.user({ address: ADDR });
  const outsider = await srv.user({ address: ADDR });
  const kicked = await srv.user({ address: ADDR });
  const admin = await srv.user();
  assert.equal(userCmd(srv, 'admin', admin.email).status, 0);

  const it = await postItem(srv, owner);
  assert.equal(it.status, 201, it.body);
  const { icrId } = it.json;
  const socks = {};
  for (const [name, u] of Object.entries({ owner, bad, member, kicked })) {
    socks[name] = await connect(srv, u);
    if (name !== 'owner') assert.equal((await emit(socks[name], 'joinRoom', { icrId })).msg, 'success');
  }
  t.after(() => Object.values(socks).forEach((s) => s.close()));
  const ids = [];
  for (let i = 1; i <= 9; i++) {
    const who = i === 5 ? socks.bad : (i % 2 ? socks.owner : socks.member);
    const a = await emit(who, 'sendMsg', { icrId, chatMsg: i === 5 ? '욕설 메시지' : `메시지 ${i}` });
    assert.equal(a.msg, 'success', JSON.stringify(a));
    ids.push(a.data.icruMsgId);
  }
  const target = ids[4];
  // the kicked member saw it, then was kicked
  assert.equal((await emit(socks.owner, 'kickUser', { icrId, userId: kicked.userId })).msg, 'success');

  const rep = (u, body) => srv.req('POST', '/reports', { token: u && u.token, body });
  let r = await rep(null, { icruMsgId: target, reason: 'abuse' });
  assert.equal(r.status, 401);
  r = await rep(outsider, { icruMsgId: target, reason: 'abuse' });
  assert.equal(r.status, 403, r.body);
  assert.equal(r.json.code, 'NOT_A_MEMBER');
  r = await rep(kicked, { icruMsgId: target, reason: 'abuse' });
  assert.equal(r.status, 403, r.body);
  assert.equal(r.json.code, 'NOT_A_MEMBER');
  r = await rep(bad, { icruMsgId: target, reason: 'abuse' });
  assert.equal(r.status, 400, r.body);
  assert.equal(r.json.code, 'CANNOT_REPORT_SELF');
  r = await rep(member, { icruMsgId: '99999999', reason: 'abuse' });
  assert.equal(r.status, 404, r.body);
  assert.equal(r.json.code, 'MESSAGE_NOT_FOUND');
  for (const v of ['abc', -1, 0, 1.5, {}]) {
    r = await rep(member, { icruMsgId: v, reason: 'abuse' });
    assert.equal(r.status, 400, `${JSON.stringify(v)}: ${r.body}`);
    assert.equal(r.json.code, 'INVALID_MESSAGE');
  }
  r = await rep(member, { icruMsgId: target, userId: owner.userId, reason: 'abuse' });
  assert.equal(r.json.code, 'INVALID_MESSAGE');
  r = await rep(member, { icruMsgId: target, reason: 'spam' });
  assert.equal(r.json.code, 'INVALID_REASON');
  // the kick's own system message is not a chat message
  const hist = await srv.req('GET', `/chat/${icrId}/messages?limit=50`, { token: member.token });
  const sys = hist.json.data.find((m) => m.msgType !== 'chat');
  assert.ok(sys, 'a system message in the room');
  r = await rep(member, { icruMsgId: sys.icruMsgId, reason: 'abuse' });
  assert.equal(r.status, 400, r.body);
  assert.equal(r.json.code, 'NOT_A_CHAT_MESSAGE');
  // nothing stored by the refusals
  let q = await srv.req('GET', '/operator/reports', { token: admin.token });
  assert.equal(q.json.data.length, 0, q.body);

  r = await rep(member, { icruMsgId: target, reason: 'abuse', detail: '욕을 했어요' });
  assert.equal(r.status, 201, r.body);
  const reportId = r.json.reportId;
  r = await rep(member, { icruMsgId: target, reason: 'abuse' });
  assert.equal(r.status, 409, r.body);
  assert.equal(r.json.code, 'ALREADY_REPORTED');

  q = await srv.req('GET', '/operator/reports', { token: admin.token });
  assert.equal(q.status, 200);
  const row = q.json.data.find((u) => u.userId === String(bad.userId));
  assert.ok(row, q.body);
  const rp = row.reports.find((x) => x.reportId === reportId);
  assert.equal(rp.icruMsgId, String(target));
  assert.equal(rp.itemId, String(it.json.itemId));
  assert.deepEqual(rp.context.map((m) => m.icruMsgId), ids.slice(1, 8).map(String), 'three before, three after');
  assert.deepEqual(rp.context.map((m) => m.reported), [false, false, false, true, false, false, false]);
  assert.equal(rp.context[3].chatMsg, '욕설 메시지');
  assert.equal(rp.context[3].nickname, bad.nickname);

  // it counted: threshold 1, a second member's report suspends
  r = await rep(owner, { icruMsgId: ids[4], reason: 'abuse' });
  assert.equal(r.status, 201, r.body);
  const u = await srv.req('GET', `/operator/users?q=${bad.userId}`, { token: admin.token });
  assert.ok(u.json.data[0].suspendedUntil, `suspended: ${u.body}`);
  assert.ok(u.json.data[0].mannerTemp < 36.5);
});

test('a message report from the same reporter counts once with their user report', async (t) => {
  const srv = await start({ args: ['--rate-login', '100000', '--report-min-age', '0'] });
  t.after(() => srv.stop());
  const owner = await srv.user({ address: ADDR });
  const bad = await srv.user({ address: ADDR });
  const it = await postItem(srv, owner);
  const { icrId } = it.json;
  const bs = await connect(srv, bad);
  t.after(() => bs.close());
  assert.equal((await emit(bs, 'joinRoom', { icrId })).msg, 'success');
  const m1 = await emit(bs, 'sendMsg', { icrId, chatMsg: '하나' });
  const m2 = await emit(bs, 'sendMsg', { icrId, chatMsg: '둘' });
  let r = await srv.req('POST', '/reports', { token: owner.token, body: { icruMsgId: m1.data.icruMsgId, reason: 'abuse' } });
  assert.equal(r.status, 201, r.body);
  const t1 = (await srv.req('GET', `/users/${bad.userId}`)).json.mannerTemp;
  assert.equal(t1, 34.5);
  r = await srv.req('POST', '/reports', { token: owner.token, body: { icruMsgId: m2.data.icruMsgId, reason: 'abuse' } });
  assert.equal(r.status, 201, r.body);
  r = await srv.req('POST', '/reports', { token: owner.token, body: { userId: bad.userId, reason: 'abuse' } });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.duplicate, true);
  assert.equal((await srv.req('GET', `/users/${bad.userId}`)).json.mannerTemp, 34.5, 'counted once');
});
