// Trades, reviews, manner temperature, reports, suspension and the
// operator's `dongmul user` command (API.md "Trades, reviews, reports").
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { start } = require('./lib/dongmul');
const { postItem, connect, emit, until, tradeInProgress, userCmd } = require('./lib/market');

const ADDR = '서울특별시 마포구 합정동';

// The documented formula (README "Manner temperature, reports and
// notifications"): w(age) = 0.5^(age_days/180); reviews and upheld reports
// of the last 365 days; good +0.5·w, bad −1.0·w, report −2.0·w; clamped to
// 0..99; one decimal.
function mannerTemp(reviews, reports = []) {
  const w = (ageDays) => 0.5 ** (ageDays / 180);
  let t = 36.5;
  for (const r of reviews) if (r.ageDays <= 365) t += w(r.ageDays) * (r.score === 'good' ? 0.5 : -1.0);
  for (const r of reports) if (r.ageDays <= 365) t -= 2.0 * w(r.ageDays);
  t = Math.min(99, Math.max(0, t));
  return Math.round(t * 10) / 10;
}

const post = (srv, u, p, body) => srv.req('POST', p, { token: u && u.token, body });
const notes = async (srv, u, type) => {
  const r = await srv.req('GET', '/notifications?limit=100', { token: u.token });
  assert.equal(r.status, 200, r.body);
  return r.json.data.filter((n) => !type || n.type === type);
};

test('trades, reviews, reports', async (t) => {
  const srv = await start({ args: ['--report-threshold', '2', '--suspend-days', '3', '--rate-login', '100000', '--report-min-age', '0'] });
  t.after(async () => {
    const e = await srv.stop();
    assert.equal(e.code, 0, `server exit ${JSON.stringify(e)}`);
  });
  const owner = await srv.user({ address: ADDR });
  const partner = await srv.user({ address: ADDR });
  const third = await srv.user({ address: ADDR });
  let done; // the completed trade {itemId, icrId}

  await t.test('a trade completes: refusals first, then SI02 -> SI04 with a room message and a notification', async () => {
    const open = await postItem(srv, owner);
    assert.equal(open.status, 201, open.body);
    let r = await post(srv, owner, `/trade/${open.json.itemId}/complete`);
    assert.equal(r.status, 409, 'an open item (SI01) is not a trade in progress');
    assert.equal(r.json.code, 'TRADE_NOT_IN_PROGRESS');

    done = await tradeInProgress(srv, owner, partner);
    const os = await connect(srv, owner, { icrId: done.icrId });
    try {
      await until(() => os.got.setRoom, 5000, 'setRoom');
      r = await post(srv, owner, `/trade/${done.itemId}/review`, { score: 'good' });
      assert.equal(r.status, 409, 'no review while the trade is in progress');
      assert.equal(r.json.code, 'TRADE_NOT_FINISHED');
      r = await post(srv, third, `/trade/${done.itemId}/complete`);
      assert.equal(r.status, 403, 'a third party cannot complete');
      assert.equal(r.json.code, 'NOT_A_PARTY');
      r = await post(srv, third, `/trade/${done.itemId}/cancel`, { reason: '그냥' });
      assert.equal(r.status, 403, 'a third party cannot cancel');
      r = await post(srv, null, `/trade/${done.itemId}/complete`);
      assert.equal(r.status, 401, 'no token');
      r = await post(srv, owner, '/trade/999999/complete');
      assert.equal(r.status, 404);
      r = await post(srv, owner, '/trade/abc/complete');
      assert.equal(r.status, 404);
      const d0 = await srv.req('GET', `/postDetail/${done.itemId}`, { token: owner.token });
      assert.equal(d0.json.data.statusCode, 'SI02', 'the refusals changed nothing');

      r = await post(srv, partner, `/trade/${done.itemId}/complete`);
      assert.equal(r.status, 200, r.body);
      assert.equal(r.json.statusCode, 'SI04');
      assert.equal(r.json.status, 'done');
      const d = await srv.req('GET', `/postDetail/${done.itemId}`, { token: owner.token });
      assert.equal(d.json.data.statusCode, 'SI04');

      // the room's record: a TXT05 message written by the actor, seen live
      const m = await srv.req('GET', `/chat/${done.icrId}/messages`, { token: owner.token });
      const sys = m.json.data.filter((x) => x.msgType === 'system' && x.userId === partner.userId);
      assert.equal(sys.length, 1, JSON.stringify(m.json.data));
      assert.match(sys[0].chatMsg, /완료/);
      await until(() => (os.got.getMsg || []).some((x) => x.icruMsgId === sys[0].icruMsgId), 5000, 'live getMsg');
      // the other side is told, live and listed; the actor is not
      await until(() => os.notes.some((n) => n.type === 'trade_done'), 5000, 'live trade_done');
      const on = await notes(srv, owner, 'trade_done');
      assert.equal(on.length, 1);
      assert.equal(on[0].payload.itemId, done.itemId);
      assert.equal(on[0].payload.byUserId, partner.userId);
      assert.equal((await notes(srv, partner, 'trade_done')).length, 0);
    } finally {
      os.close();
    }

    r = await post(srv, owner, `/trade/${done.itemId}/complete`);
    assert.equal(r.status, 409, 'completing twice');
    r = await post(srv, owner, `/trade/${done.itemId}/cancel`, { reason: '변심' });
    assert.equal(r.status, 409, 'cancelling a completed trade');
  });

  await t.test('a trade is cancelled with a reason: SI02 -> SI05, the other side is told', async () => {
    const c = await tradeInProgress(srv, owner, partner);
    let r = await post(srv, owner, `/trade/${c.itemId}/cancel`, {});
    assert.equal(r.status, 400);
    assert.equal(r.json.code, 'INVALID_REASON');
    r = await post(srv, owner, `/trade/${c.itemId}/cancel`, { reason: 'x'.repeat(201) });
    assert.equal(r.status, 400, 'a reason over 200 characters');
    r = await post(srv, owner, `/trade/${c.itemId}/cancel`, { reason: 7 });
    assert.equal(r.status, 400, 'a reason that is not a string');
    r = await srv.req('POST', `/trade/${c.itemId}/cancel`, { token: owner.token, body: '{"reason":"a",}' });
    assert.equal(r.status, 400, 'malformed JSON');
    const d0 = await srv.req('GET', `/postDetail/${c.itemId}`, { token: owner.token });
    assert.equal(d0.json.data.statusCode, 'SI02', 'refused cancels changed nothing');

    r = await post(srv, owner, `/trade/${c.itemId}/cancel`, { reason: '상대가 연락이 안 돼요' });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.statusCode, 'SI05');
    assert.equal(r.json.status, 'cancelled');
    assert.equal(r.json.cancelReason, '상대가 연락이 안 돼요');
    const pn = await notes(srv, partner, 'trade_cancelled');
    assert.equal(pn.length, 1);
    assert.equal(pn[0].payload.reason, '상대가 연락이 안 돼요');
    assert.equal(pn[0].payload.byUserId, owner.userId);
    const m = await srv.req('GET', `/chat/${c.icrId}/messages`, { token: partner.token });
    const sys = m.json.data.filter((x) => x.msgType === 'system' && x.userId === owner.userId && /취소/.test(x.chatMsg));
    assert.equal(sys.length, 1);
    assert.match(sys[0].chatMsg, /상대가 연락이 안 돼요/);
    r = await post(srv, partner, `/trade/${c.itemId}/complete`);
    assert.equal(r.status, 409, 'completing a cancelled trade');
    // both sides may review a broken-off trade
    r = await post(srv, partner, `/trade/${c.itemId}/review`, { score: 'bad', tags: ['노쇼'] });
    assert.equal(r.status, 201, r.body);
    assert.equal(r.json.revieweeUserId, owner.userId);
  });

  await t.test('reviews: validated, only the two sides, once per side', async () => {
    const p = `/trade/${done.itemId}/review`;
    const bad = [
      [{ score: 'great' }, 'INVALID_SCORE'],
      [{}, 'INVALID_SCORE'],
      [{ score: 'good', tags: '친절' }, 'INVALID_TAGS'],
      [{ score: 'good', tags: ['최고예요'] }, 'INVALID_TAGS'],
      [{ score: 'good', tags: ['친절', '친절'] }, 'INVALID_TAGS'],
      [{ score: 'good', tags: ['친절', '시간약속', '상태좋음', '응답빠름', '설명일치', '매너좋음'] }, 'INVALID_TAGS'],
      [{ score: 'good', tags: [1] }, 'INVALID_TAGS'],
      [{ score: 'good', comment: 'ㄱ'.repeat(501) }, 'INVALID_COMMENT'],
      [{ score: 'good', comment: 5 }, 'INVALID_COMMENT'],
    ];
    for (const [body, code] of bad) {
      const r = await post(srv, owner, p, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.json.code, code, JSON.stringify(body));
    }
    let u = await srv.req('GET', `/users/${partner.userId}`);
    assert.deepEqual([u.json.reviews.good, u.json.reviews.bad], [0, 0], 'refused reviews stored nothing');

    let r = await post(srv, third, p, { score: 'good' });
    assert.equal(r.status, 403, 'a third party cannot review');
    r = await post(srv, owner, p, { score: 'good', tags: ['친절', '시간약속'], comment: '친절하셨어요' });
    assert.equal(r.status, 201, r.body);
    assert.equal(r.json.revieweeUserId, partner.userId, 'the reviewee is the other side');
    assert.equal(r.json.mannerTemp, mannerTemp([{ score: 'good', ageDays: 0 }]));
    r = await post(srv, owner, p, { score: 'bad' });
    assert.equal(r.status, 409, 'a second review by the same side');
    assert.equal(r.json.code, 'ALREADY_REVIEWED');
    r = await post(srv, partner, p, { score: 'good', tags: ['응답빠름'] });
    assert.equal(r.status, 201, 'the other side reviews too');

    u = await srv.req('GET', `/users/${partner.userId}`);
    assert.equal(u.status, 200);
    assert.equal(u.json.nickname, partner.nickname);
    assert.equal(u.json.address, '서울 마포구');
    assert.equal(u.json.tradeCount, 1, 'one completed trade (the cancelled one does not count)');
    assert.deepEqual(u.json.reviews.tags, { 친절: 1, 시간약속: 1 });
    assert.equal(u.json.reviews.good, 1);
    assert.equal(u.json.reviews.recent[0].comment, '친절하셨어요');
    assert.equal(u.json.email, undefined, 'no email in a public profile');
    assert.equal((await notes(srv, partner, 'review')).length, 1, 'the reviewee is told once');
    assert.equal((await srv.req('GET', '/users/99999')).status, 404);
    assert.equal((await srv.req('GET', '/users/x1')).status, 404);
  });

  await t.test('manner temperature: 3 good + 1 bad today, then a report (worked numbers)', async () => {
    const x = await srv.user({ address: ADDR });
    const scores = ['good', 'good', 'good', 'bad'];
    const ps = [];
    let last;
    for (const score of scores) {
      const p = await srv.user({ address: ADDR });
      ps.push(p);
      last = await tradeInProgress(srv, x, p);
      assert.equal((await post(srv, p, `/trade/${last.itemId}/complete`)).status, 200);
      const r = await post(srv, p, `/trade/${last.itemId}/review`, { score });
      assert.equal(r.status, 201, r.body);
    }
    const want = mannerTemp(scores.map((score) => ({ score, ageDays: 0 })));
    assert.equal(want, 37.0, '36.5 + 1.5 − 1.0');
    let u = await srv.req('GET', `/users/${x.userId}`);
    assert.equal(u.json.mannerTemp, want);
    assert.equal(u.json.tradeCount, 4);
    assert.deepEqual([u.json.reviews.good, u.json.reviews.bad], [3, 1]);

    const r = await post(srv, ps[3], '/reports', { userId: x.userId, itemId: last.itemId, reason: 'breach' });
    assert.equal(r.status, 201, r.body);
    const want2 = mannerTemp(scores.map((score) => ({ score, ageDays: 0 })), [{ ageDays: 0 }]);
    assert.equal(want2, 35.0, '37.0 − 2.0');
    u = await srv.req('GET', `/users/${x.userId}`);
    assert.equal(u.json.mannerTemp, want2);
    // the stored value is what feeds and details show
    const d = await srv.req('GET', `/postDetail/${last.itemId}`, { token: ps[0].token });
    assert.equal(d.json.data.mannerTemp, want2);
    const me = await srv.req('POST', '/account/reset', { token: x.token });
    assert.equal(me.json.mannerTemp, want2);
  });

  await t.test('reports: validated; a repeat counts once; more reporters than the threshold suspend', async () => {
    const s = await srv.user({ address: ADDR });
    const m = await srv.user({ address: ADDR });
    const other = await srv.user({ address: ADDR });
    const reporters = [await srv.user(), await srv.user(), await srv.user()];
    // s owns an open item that m joined, and is a member of other's room
    const a = await postItem(srv, s);
    const b = await postItem(srv, other);
    const c = await postItem(srv, other);
    const ms = await connect(srv, m);
    const ss = await connect(srv, s);
    try {
      assert.equal((await emit(ms, 'joinRoom', { icrId: a.json.icrId })).msg, 'success');
      assert.equal((await emit(ss, 'joinRoom', { icrId: b.json.icrId })).msg, 'success');
      // the reporters were in s's room (a report counts only between users who met)
      for (const rp of reporters) {
        const rs = await connect(srv, rp);
        assert.equal((await emit(rs, 'joinRoom', { icrId: a.json.icrId })).msg, 'success');
        rs.close();
      }

      const refused = [
        [{ userId: s.userId }, 400, 'INVALID_REASON'],
        [{ userId: s.userId, reason: 'spam' }, 400, 'INVALID_REASON'],
        [{ reason: 'abuse' }, 400, 'INVALID_USER'],
        [{ userId: 'abc', reason: 'abuse' }, 400, 'INVALID_USER'],
        [{ userId: reporters[0].userId, reason: 'abuse' }, 400, 'CANNOT_REPORT_SELF'],
        [{ userId: s.userId, reason: 'abuse', detail: 'ㄱ'.repeat(1001) }, 400, 'INVALID_DETAIL'],
        [{ userId: s.userId, reason: 'abuse', itemId: '999999' }, 404, 'ITEM_NOT_FOUND'],
        [{ userId: '999999', reason: 'abuse' }, 404, 'USER_NOT_FOUND'],
      ];
      for (const [body, status, code] of refused) {
        const r = await post(srv, reporters[0], '/reports', body);
        assert.equal(r.status, status, JSON.stringify(body));
        assert.equal(r.json.code, code, JSON.stringify(body));
      }
      assert.equal((await post(srv, null, '/reports', { userId: s.userId, reason: 'abuse' })).status, 401);
      let shown = userCmd(srv, 'show', s.email);
      assert.match(shown.stdout, /reports \(30 d\):\s+0 /, 'refused reports stored nothing');

      const r1 = await post(srv, reporters[0], '/reports', { userId: s.userId, itemId: a.json.itemId, reason: 'noshow', detail: '약속 장소에 안 나왔어요' });
      assert.equal(r1.status, 201, r1.body);
      assert.equal(r1.json.duplicate, false);
      const again = await post(srv, reporters[0], '/reports', { userId: s.userId, reason: 'fraud' });
      assert.equal(again.status, 200, 'a repeat within 30 days is answered idempotently');
      assert.equal(again.json.duplicate, true);
      assert.equal(again.json.reportId, r1.json.reportId);
      assert.equal((await post(srv, reporters[1], '/reports', { userId: s.userId, reason: 'abuse' })).status, 201);
      assert.equal((await post(srv, reporters[1], '/reports', { userId: s.userId, reason: 'abuse' })).json.duplicate, true);
      shown = userCmd(srv, 'show', s.email);
      assert.match(shown.stdout, /reports \(30 d\):\s+2 \(2 distinct/, shown.stdout);
      assert.match(shown.stdout, /not suspended/, 'two reporters are not more than the threshold (2)');
      assert.equal((await postItem(srv, s)).status, 201, 'not suspended yet: may post');
      let u = await srv.req('GET', `/users/${s.userId}`);
      assert.equal(u.json.mannerTemp, mannerTemp([], [{ ageDays: 0 }, { ageDays: 0 }]), 'each reporter counted once');

      const r3 = await post(srv, reporters[2], '/reports', { userId: s.userId, reason: 'abuse' });
      assert.equal(r3.status, 201);
      shown = userCmd(srv, 'show', s.email);
      assert.match(shown.stdout, /suspendedUntil:\s+\d{4}-\d\d-\d\dT.*\(신고 누적\)/, shown.stdout);
      u = await srv.req('GET', `/users/${s.userId}`, { token: s.token });
      assert.ok(u.json.suspendedUntil, 'the user sees their own suspension');
      const days = (Date.parse(u.json.suspendedUntil) - Date.now()) / 86400000;
      assert.ok(days > 2.9 && days <= 3, `--suspend-days 3 (got ${days})`);
      assert.equal((await srv.req('GET', `/users/${s.userId}`, { token: m.token })).json.suspendedUntil, null,
        'others do not see it');
      assert.equal(u.json.mannerTemp, mannerTemp([], [{ ageDays: 0 }, { ageDays: 0 }, { ageDays: 0 }]));
      assert.equal((await notes(srv, s, 'suspended')).length, 1, 'the user is told');

      // suspended: no posting, joining, sending or exchanging …
      const p = await postItem(srv, s);
      assert.equal(p.status, 403);
      assert.equal(p.json.code, 'SUSPENDED');
      let e = await emit(ss, 'joinRoom', { icrId: c.json.icrId });
      assert.equal(e.code, 'SUSPENDED', JSON.stringify(e));
      assert.match(e.errorMsg, /정지/);
      e = await emit(ss, 'sendMsg', { icrId: b.json.icrId, chatMsg: '안녕하세요' });
      assert.equal(e.code, 'SUSPENDED', JSON.stringify(e));
      e = await emit(ss, 'exchange', { icrId: a.json.icrId, itemId: a.json.itemId, consumerUserId: m.userId });
      assert.equal(e.code, 'SUSPENDED', JSON.stringify(e));
      const d = await srv.req('GET', `/postDetail/${a.json.itemId}`);
      assert.equal(d.json.data.statusCode, 'SI01', 'the refused exchange changed nothing');
      // … but reading and logging in still work
      assert.equal((await srv.req('POST', '/account/login', { body: { email: s.email, password: s.password } })).status, 200);
      assert.equal((await srv.req('GET', '/mainPage/noLogin')).status, 200);
      assert.equal((await srv.req('GET', `/chat/${b.json.icrId}/messages`, { token: s.token })).status, 200);

      // the operator lifts it and dismisses the reports: allowed again, temperature restored
      const un = userCmd(srv, 'unsuspend', s.email, '--dismiss-reports');
      assert.equal(un.status, 0, un.stderr);
      assert.match(un.stdout, /dismissed 3 reports/);
      assert.equal((await srv.req('GET', `/users/${s.userId}`)).json.mannerTemp, 36.5);
      e = await emit(ss, 'sendMsg', { icrId: b.json.icrId, chatMsg: '다시 왔어요' });
      assert.equal(e.msg, 'success', JSON.stringify(e));
      assert.equal((await postItem(srv, s)).status, 201);
    } finally {
      ms.close();
      ss.close();
    }
  });

  await t.test('dongmul user: suspend and unsuspend from the command line while the server runs', async () => {
    const u = await srv.user({ address: ADDR });
    const host = await srv.user({ address: ADDR });
    const room = await postItem(srv, host);
    // usage errors: 2; unknown email: 1
    assert.equal(userCmd(srv).status, 2);
    assert.equal(userCmd(srv, 'show').status, 2);
    assert.equal(userCmd(srv, 'frobnicate', u.email).status, 2);
    assert.equal(userCmd(srv, 'suspend', u.email).status, 2, '--days is required');
    assert.equal(userCmd(srv, 'suspend', u.email, '--days', '0').status, 2);
    assert.equal(userCmd(srv, 'suspend', u.email, '--days', 'x').status, 2);
    assert.equal(userCmd(srv, 'show', u.email, '--bogus').status, 2);
    const nobody = userCmd(srv, 'show', 'nobody@example.com');
    assert.equal(nobody.status, 1);
    assert.match(nobody.stderr, /no user/);
    assert.equal(userCmd(srv, 'suspend', 'nobody@example.com', '--days', '1').status, 1);

    const shown = userCmd(srv, 'show', u.email);
    assert.equal(shown.status, 0, shown.stderr);
    assert.match(shown.stdout, new RegExp(`email:\\s+${u.email}`));
    assert.match(shown.stdout, new RegExp(`userId:\\s+${u.userId}\\b`));
    assert.match(shown.stdout, /mannerTemp:\s+36\.5/);
    assert.match(shown.stdout, /trades completed:\s+0/);

    const sus = userCmd(srv, 'suspend', u.email, '--days', '2', '--reason', '욕설');
    assert.equal(sus.status, 0, sus.stderr);
    assert.match(sus.stdout, /suspended .* for 2 days/);
    assert.match(sus.stdout, /suspendedUntil:.*\(욕설\)/);
    const sn = await notes(srv, u, 'suspended');
    assert.equal(sn.length, 1, 'the user finds a notification');
    assert.equal(sn[0].payload.reason, '욕설');
    const p = await postItem(srv, u);
    assert.equal(p.status, 403, 'refused at once by the running server');
    assert.equal(p.json.code, 'SUSPENDED');
    const us = await connect(srv, u);
    try {
      const e = await emit(us, 'joinRoom', { icrId: room.json.icrId });
      assert.equal(e.code, 'SUSPENDED');
      const un = userCmd(srv, 'unsuspend', u.email);
      assert.equal(un.status, 0, un.stderr);
      assert.match(un.stdout, /not suspended/);
      assert.equal((await postItem(srv, u)).status, 201, 'allowed again at once');
      assert.equal((await emit(us, 'joinRoom', { icrId: room.json.icrId })).msg, 'success');
    } finally {
      us.close();
    }
    // DONGMUL_DATA instead of --data
    const { spawnSync } = require('node:child_process');
    const env = spawnSync(process.env.DONGMUL_BIN || require('./lib/dongmul').BIN, ['user', 'show', u.email],
      { encoding: 'utf8', env: { ...process.env, DONGMUL_DATA: srv.data } });
    assert.equal(env.status, 0, env.stderr);
    assert.match(env.stdout, /not suspended/);
  });
});

// Sybil reports: throwaway accounts must not be able to suspend a stranger.
// A report counts only when the reporter's account is older than
// --report-min-age days and the two shared a room or a trade; the others
// are stored for the operator and listed by `dongmul user show`.
test('reports from new accounts or from users who never met the reported user do not suspend', async (t) => {
  const args = ['--report-threshold', '2', '--rate-login', '100000'];
  let srv = await start({ args }); // --report-min-age: the default (3 days)
  t.after(async () => { await srv.stop(); });
  const victim = await srv.user({ address: ADDR });
  const item = await postItem(srv, victim);
  assert.equal(item.status, 201, item.body);
  const strangers = [];
  for (let i = 0; i < 4; i++) strangers.push(await srv.user());
  const members = [];
  for (let i = 0; i < 4; i++) members.push(await srv.user());
  for (const m of members) {
    const s = await connect(srv, m);
    assert.equal((await emit(s, 'joinRoom', { icrId: item.json.icrId })).msg, 'success');
    s.close();
  }

  // four fresh accounts that never met the victim, then four fresh
  // accounts that joined the victim's room: none of the eight counts
  for (const u of [...strangers, ...members]) {
    const r = await post(srv, u, '/reports', { userId: victim.userId, reason: 'fraud' });
    assert.equal(r.status, 201, r.body);
  }
  let shown = userCmd(srv, 'show', victim.email);
  assert.match(shown.stdout, /not suspended/, shown.stdout);
  assert.match(shown.stdout, /reports \(30 d\):\s+8 \(0 distinct/, shown.stdout);
  assert.equal((shown.stdout.match(/ fraud {2}not counted/g) || []).length, 8, 'each report is stored and listed');
  assert.equal((await postItem(srv, victim)).status, 201, 'the victim may still post');
  assert.equal((await srv.req('GET', `/users/${victim.userId}`)).json.mannerTemp, 36.5, 'no temperature lost');

  // the same data with --report-min-age 0: the accounts are old enough
  // now, but only those who shared a room with the new victim count
  await srv.stop();
  srv = await start({ data: srv.data, args: [...args, '--report-min-age', '0'] });
  const victim2 = await srv.user({ address: ADDR });
  const item2 = await postItem(srv, victim2);
  for (const u of strangers) {
    const r = await post(srv, u, '/reports', { userId: victim2.userId, reason: 'abuse' });
    assert.equal(r.status, 201, r.body);
  }
  shown = userCmd(srv, 'show', victim2.email);
  assert.match(shown.stdout, /not suspended/, `strangers never count: ${shown.stdout}`);
  for (const m of members.slice(0, 3)) {
    const s = await connect(srv, m);
    assert.equal((await emit(s, 'joinRoom', { icrId: item2.json.icrId })).msg, 'success');
    s.close();
    assert.equal((await post(srv, m, '/reports', { userId: victim2.userId, reason: 'abuse' })).status, 201);
  }
  shown = userCmd(srv, 'show', victim2.email);
  assert.match(shown.stdout, /suspendedUntil:\s+\d{4}-.*\(신고 누적\)/, `three who met the victim: ${shown.stdout}`);
  assert.match(shown.stdout, /reports \(30 d\):\s+7 \(3 distinct/, shown.stdout);
  assert.equal((shown.stdout.match(/ abuse {2}not counted/g) || []).length, 4);
  assert.equal((shown.stdout.match(/ abuse {2}counted/g) || []).length, 3);
});
