// The operator's API (/operator/..., src/market/operator.c) and the role behind it
// (`dongmul user admin [--revoke] EMAIL`): every endpoint refuses anonymous
// callers (401) and signed-in non-operators (403 NOT_ADMIN); the reports
// queue, suspend / unsuspend / dismiss with a reason, user lookup and the
// live counts; refusals change nothing.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { start } = require('./lib/dongmul');
const { postItem, userCmd, connectChat, emitWait, connect, emit } = require('./lib/market');

let srv, A, N, X, Y, Z, W;

const ENDPOINTS = [
  ['GET', '/operator/me'],
  ['GET', '/operator/stats'],
  ['GET', '/operator/reports'],
  ['GET', '/operator/users?q=a'],
  ['POST', '/operator/users/1/suspend', { days: 3, reason: '테스트' }],
  ['POST', '/operator/users/1/unsuspend', { reason: '테스트' }],
  ['POST', '/operator/users/1/dismiss', { reason: '테스트' }],
];

test.before(async () => {
  // reports count only from accounts old enough, between users who met
  srv = await start({ args: ['--report-min-age', '0'] });
  A = await srv.user({ nickname: '운영자', address: '서울 강남구' });
  N = await srv.user({ nickname: '보통이웃' });
  X = await srv.user({ nickname: '신고대상', address: '서울 강남구' });
  Y = await srv.user({ nickname: '신고자하나' });
  Z = await srv.user({ nickname: '신고자둘' });
  W = await srv.user({ nickname: '다른대상' });
  const g = userCmd(srv, 'admin', A.email);
  assert.equal(g.status, 0, g.stderr);
  assert.match(g.stdout, /is now an operator/);
  assert.match(g.stdout, /operator:\s+yes/);
});
test.after(async () => {
  const e = await srv.stop();
  assert.equal(e.code, 0, `exit ${JSON.stringify(e)}\n${srv.log().slice(-3000)}`);
});

const op = (m, p, body, token = A.token) => srv.req(m, p, { token, body });
const snapshot = async () => (await op('GET', `/operator/users?q=${encodeURIComponent(X.email)}`)).json.data[0];

test('every operator endpoint: 401 anonymous, 401 bad token, 403 NOT_ADMIN for residents', async () => {
  for (const [m, p, body] of ENDPOINTS) {
    const anon = await srv.req(m, p, { body });
    assert.equal(anon.status, 401, `${m} ${p} anonymous`);
    assert.equal(anon.json.code, 'UNAUTHORIZED');
    const bad = await srv.req(m, p, { body, token: 'bearer x.y.z' });
    assert.equal(bad.status, 401, `${m} ${p} bad token`);
    const res = await srv.req(m, p, { body, token: N.token });
    assert.equal(res.status, 403, `${m} ${p} resident`);
    assert.equal(res.json.code, 'NOT_ADMIN');
    assert.equal(res.json.errorMsg, '운영자만 할 수 있습니다.');
  }
  // nothing happened to user 1 through the refused actions
  const u = (await op('GET', '/operator/users?q=1')).json.data.find((x) => x.userId === '1');
  assert.equal(u.suspendedUntil, null);
});

test('dongmul user admin grants and --revoke takes the role at once; bad usage exits 2', async () => {
  const T = await srv.user({ nickname: '임시운영자' });
  assert.equal((await op('GET', '/operator/me', undefined, T.token)).status, 403);
  assert.equal(userCmd(srv, 'admin', T.email).status, 0);
  const me = await op('GET', '/operator/me', undefined, T.token);
  assert.equal(me.status, 200);
  assert.deepEqual(me.json, { msg: 'success', admin: true });
  // the browser session says so too
  const li = await srv.req('POST', '/account/login', {
    body: { email: T.email, password: T.password }, headers: { 'x-dongmul-session': 'cookie', origin: srv.url },
  });
  assert.equal(li.json.admin, true);
  const rv = userCmd(srv, 'admin', '--revoke', T.email);
  assert.equal(rv.status, 0, rv.stderr);
  assert.match(rv.stdout, /no longer an operator/);
  assert.equal((await op('GET', '/operator/stats', undefined, T.token)).status, 403, 'revoked: refused at once');
  assert.equal(userCmd(srv, 'admin', 'nobody@example.com').status, 1);
  assert.equal(userCmd(srv, 'show', '--revoke', T.email).status, 2);
  assert.equal(userCmd(srv, 'admin').status, 2);
});

test('the reports queue: who, why, distinct reporters, the items; dismiss settles it', async () => {
  const item = await postItem(srv, X, { title: '신고된 물건' });
  assert.equal(item.status, 201, item.body);
  // the reporters met X in its item's room (only then do reports count)
  for (const u of [Y, Z]) {
    const s = await connect(srv, u);
    assert.equal((await emit(s, 'joinRoom', { icrId: item.json.icrId })).msg, 'success');
    s.close();
  }
  const rep = (from, to, body) => srv.req('POST', '/reports', { token: from.token, body: { userId: to.userId, ...body } });
  assert.equal((await rep(Y, X, { reason: 'noshow', itemId: item.json.itemId, detail: '안 나왔어요' })).status, 201);
  assert.equal((await rep(Z, X, { reason: 'abuse', detail: '<b>욕설</b>' })).status, 201);
  assert.equal((await rep(Y, W, { reason: 'other' })).status, 201);
  const q = await op('GET', '/operator/reports');
  assert.equal(q.status, 200, q.body);
  assert.equal(q.json.data.length, 2);
  const [first, second] = q.json.data;
  assert.equal(first.userId, X.userId, 'most distinct reporters first');
  assert.equal(first.nickname, '신고대상');
  assert.equal(first.email, X.email);
  assert.equal(first.reporters, 2);
  assert.equal(first.reports.length, 2);
  const byReason = Object.fromEntries(first.reports.map((x) => [x.reason, x]));
  assert.equal(byReason.noshow.reporterNickname, '신고자하나');
  assert.equal(byReason.noshow.itemTitle, '신고된 물건');
  assert.equal(byReason.noshow.itemId, item.json.itemId);
  assert.equal(byReason.noshow.detail, '안 나왔어요');
  assert.equal(byReason.abuse.detail, '<b>욕설</b>', 'text stays text');
  assert.equal(byReason.abuse.itemId, null);
  assert.equal(second.userId, W.userId);
  assert.equal(second.reporters, 1);
  const tempBefore = (await snapshot()).mannerTemp;
  assert.ok(tempBefore < 36.5, 'upheld reports lower the temperature');

  // refusals change nothing
  const bad = [
    ['/operator/users/' + X.userId + '/dismiss', {}, 400, 'INVALID_REASON'],
    ['/operator/users/' + X.userId + '/dismiss', { reason: '   ' }, 400, 'INVALID_REASON'],
    ['/operator/users/' + X.userId + '/dismiss', { reason: 'a\u0007b' }, 400, 'INVALID_REASON'],
    ['/operator/users/' + X.userId + '/dismiss', { reason: 'x'.repeat(201) }, 400, 'INVALID_REASON'],
    ['/operator/users/999999/dismiss', { reason: '없음' }, 404, 'USER_NOT_FOUND'],
    ['/operator/users/abc/dismiss', { reason: '없음' }, 404, 'USER_NOT_FOUND'],
    ['/operator/users/' + A.userId + '/dismiss', { reason: '나' }, 400, 'SELF_ACTION'],
  ];
  for (const [p, body, status, code] of bad) {
    const r = await op('POST', p, body);
    assert.equal(r.status, status, `${p} ${JSON.stringify(body)}: ${r.body}`);
    assert.equal(r.json.code, code);
  }
  assert.deepEqual((await op('GET', '/operator/reports')).json, q.json, 'the queue is unchanged');

  const d = await op('POST', `/operator/users/${X.userId}/dismiss`, { reason: '오해로 확인됨' });
  assert.equal(d.status, 200, d.body);
  assert.equal(d.json.user.userId, X.userId);
  assert.equal(d.json.user.openReports, 0);
  assert.equal(d.json.user.mannerTemp, 36.5, 'dismissed reports stop counting');
  const after = await op('GET', '/operator/reports');
  assert.deepEqual(after.json.data.map((x) => x.userId), [W.userId]);
});

test('suspend with a reason blocks posting and notifies; unsuspend lifts it', async () => {
  const refused = [
    [{ reason: '사기' }, 'INVALID_DAYS'],
    [{ reason: '사기', days: 0 }, 'INVALID_DAYS'],
    [{ reason: '사기', days: 366 }, 'INVALID_DAYS'],
    [{ reason: '사기', days: 1.5 }, 'INVALID_DAYS'],
    [{ reason: '사기', days: '3' }, 'INVALID_DAYS'],
    [{ days: 3 }, 'INVALID_REASON'],
  ];
  for (const [body, code] of refused) {
    const r = await op('POST', `/operator/users/${W.userId}/suspend`, body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.json.code, code);
  }
  assert.equal((await snapshot()).suspendedUntil, null);
  const s = await op('POST', `/operator/users/${W.userId}/suspend`, { days: 7, reason: '반복된 노쇼' });
  assert.equal(s.status, 200, s.body);
  assert.ok(s.json.user.suspendedUntil);
  assert.equal(s.json.user.suspendReason, '반복된 노쇼');
  assert.equal(s.json.user.openReports, 0, 'the open report is settled');
  assert.deepEqual((await op('GET', '/operator/reports')).json.data, []);
  const p = await postItem(srv, { ...W, token: W.token }, {});
  assert.equal(p.status, 403, 'a suspended user cannot post');
  const notes = await srv.req('GET', '/notifications', { token: W.token });
  assert.ok(notes.json.data.some((n) => n.type === 'suspended'), JSON.stringify(notes.json));
  const u = await op('POST', `/operator/users/${W.userId}/unsuspend`, { reason: '이의 신청 받아들임' });
  assert.equal(u.status, 200, u.body);
  assert.equal(u.json.user.suspendedUntil, null);
  assert.equal(u.json.user.suspendReason, null);
});

test('user lookup by email, nickname part or id; bad queries refused', async () => {
  const byEmail = await op('GET', `/operator/users?q=${encodeURIComponent(X.email)}`);
  assert.equal(byEmail.status, 200);
  assert.equal(byEmail.json.data[0].userId, X.userId);
  assert.deepEqual(Object.keys(byEmail.json.data[0]), ['userId', 'email', 'nickname', 'address', 'mannerTemp', 'admin',
    'suspendedUntil', 'suspendReason', 'reports30d', 'openReports', 'createdDt']);
  assert.equal(byEmail.json.data[0].reports30d, 2);
  const byNick = await op('GET', `/operator/users?q=${encodeURIComponent('신고자')}`);
  assert.deepEqual(byNick.json.data.map((x) => x.nickname).sort(), ['신고자둘', '신고자하나']);
  const byId = await op('GET', `/operator/users?q=${A.userId}`);
  assert.ok(byId.json.data.some((x) => x.userId === A.userId && x.admin === true));
  const none = await op('GET', '/operator/users?q=%25');
  assert.deepEqual(none.json.data, [], '% is a character, not a wildcard');
  for (const q of ['', 'x'.repeat(101)]) {
    const r = await op('GET', `/operator/users?q=${q}`);
    assert.equal(r.status, 400);
    assert.equal(r.json.code, 'INVALID_INPUT');
  }
  assert.equal((await op('GET', '/operator/users')).status, 400);
});

test('live counts: users, open items, messages today, sockets online', async () => {
  const s0 = await op('GET', '/operator/stats');
  assert.equal(s0.status, 200, s0.body);
  assert.deepEqual(Object.keys(s0.json), ['msg', 'users', 'openItems', 'messagesToday', 'socketsOnline']);
  assert.ok(s0.json.users >= 6);
  const it = await postItem(srv, A, {});
  assert.equal(it.status, 201);
  const sock = await connectChat(srv, A);
  try {
    await emitWait(sock, 'joinRoom', { icrId: it.json.icrId }, 'addUser');
    for (let i = 0; i < 3; i++) await emitWait(sock, 'sendMsg', { icrId: it.json.icrId, chatMsg: `안녕 ${i}` }, 'getMsg');
    const s1 = await op('GET', '/operator/stats');
    assert.equal(s1.json.openItems, s0.json.openItems + 1);
    assert.equal(s1.json.messagesToday, s0.json.messagesToday + 3);
    assert.ok(s1.json.socketsOnline >= 1, JSON.stringify(s1.json));
    assert.equal(s1.json.users, s0.json.users);
  } finally {
    sock.close();
  }
});
