// 거래약속 (docs/API.md "거래약속 (appointments)"): propose, counter,
// accept after an exchange, each shown in the room and notified; every
// refusal; the reminders an hour and ten minutes before, exactly once, also
// across a restart; my page's list; a no-show report linked to the item.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { start } = require('./lib/dongmul');
const { postItem, connect, emit, until, tradeInProgress } = require('./lib/market');

const ADDR = '서울특별시 마포구 합정동';
const inMin = (m) => new Date(Date.now() + m * 60000).toISOString();
const notes = async (srv, u, type) => {
  const r = await srv.req('GET', '/notifications?limit=100', { token: u.token });
  assert.equal(r.status, 200, r.body);
  return r.json.data.filter((n) => n.type === type);
};

test('propose, counter, accept: parties only, after an exchange; in the room, notified, on my page', async (t) => {
  const srv = await start({ args: ['--rate-login', '100000', '--report-min-age', '0'] });
  t.after(async () => {
    const e = await srv.stop();
    assert.equal(e.code, 0, `server exit ${JSON.stringify(e)}`);
  });
  const owner = await srv.user({ address: ADDR });
  const partner = await srv.user({ address: ADDR });
  const third = await srv.user({ address: ADDR });
  const req = (u, method, p, body) => srv.req(method, p, { token: u && u.token, body });

  // before an exchange: refused
  const open = await postItem(srv, owner);
  let r = await req(owner, 'POST', `/trade/${open.json.itemId}/appointment`, { at: inMin(120), place: '합정역' });
  assert.equal(r.status, 409, r.body);
  assert.equal(r.json.code, 'TRADE_NOT_IN_PROGRESS');

  const { itemId, icrId } = await tradeInProgress(srv, owner, partner);
  const ap = `/trade/${itemId}/appointment`;
  // the partner's socket in the room sees the system messages
  const ps = await connect(srv, partner);
  t.after(() => ps.close());
  assert.equal((await emit(ps, 'joinRoom', { icrId })).msg, 'success');

  r = await req(null, 'POST', ap, { at: inMin(120), place: '합정역' });
  assert.equal(r.status, 401);
  r = await req(third, 'POST', ap, { at: inMin(120), place: '합정역' });
  assert.equal(r.status, 403, r.body);
  assert.equal(r.json.code, 'NOT_A_PARTY');
  r = await req(third, 'GET', ap);
  assert.equal(r.status, 403);
  assert.equal(r.json.code, 'NOT_A_PARTY');
  for (const at of [inMin(-5), inMin(0), inMin(91 * 24 * 60), 'tomorrow', '', 12345, null]) {
    r = await req(owner, 'POST', ap, { at, place: '합정역' });
    assert.equal(r.status, 400, `${at}: ${r.body}`);
    assert.equal(r.json.code, 'INVALID_TIME');
  }
  for (const place of ['', '   ', 'ㄱ'.repeat(101), '합정\n역', 7, null]) {
    r = await req(owner, 'POST', ap, { at: inMin(120), place });
    assert.equal(r.status, 400, `${JSON.stringify(place)}: ${r.body}`);
    assert.equal(r.json.code, 'INVALID_PLACE');
  }
  r = await req(owner, 'POST', '/trade/999999/appointment', { at: inMin(120), place: '합정역' });
  assert.equal(r.status, 404);
  assert.equal((await req(owner, 'GET', ap)).json.appointment, null, 'the refusals stored nothing');

  // the owner proposes
  r = await req(owner, 'POST', ap, { at: inMin(120), place: '합정역 7번 출구' });
  assert.equal(r.status, 201, r.body);
  const first = r.json.appointment;
  assert.equal(first.status, 'proposed');
  assert.equal(first.mine, true);
  assert.equal(first.otherUserId, String(partner.userId));
  await until(() => (ps.got.getMsg || []).some((m) => m.msgType === 'system' && /거래약속을 제안/.test(m.chatMsg)), 10000, 'the room sees the proposal');
  let n = await notes(srv, partner, 'appointment');
  assert.equal(n.length, 1);
  assert.equal(n[0].payload.apptId, first.apptId);
  assert.equal(n[0].payload.place, '합정역 7번 출구');

  // the proposer cannot accept it; a third party cannot either
  r = await req(owner, 'POST', `${ap}/accept`, { apptId: first.apptId });
  assert.equal(r.status, 403, r.body);
  assert.equal(r.json.code, 'OWN_PROPOSAL');
  r = await req(third, 'POST', `${ap}/accept`, { apptId: first.apptId });
  assert.equal(r.json.code, 'NOT_A_PARTY');
  r = await req(partner, 'POST', `${ap}/accept`, { apptId: 'x' });
  assert.equal(r.json.code, 'INVALID_APPOINTMENT');

  // the partner counters: the first proposal is replaced
  r = await req(partner, 'POST', ap, { at: inMin(180), place: '망원시장 입구' });
  assert.equal(r.status, 201, r.body);
  const second = r.json.appointment;
  r = await req(owner, 'POST', `${ap}/accept`, { apptId: first.apptId });
  assert.equal(r.status, 409, r.body);
  assert.equal(r.json.code, 'NO_SUCH_PROPOSAL');
  r = await req(owner, 'GET', ap);
  assert.equal(r.json.appointment.apptId, second.apptId);
  assert.equal(r.json.appointment.mine, false);

  // the owner accepts it
  r = await req(owner, 'POST', `${ap}/accept`, { apptId: second.apptId });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.appointment.status, 'accepted');
  r = await req(partner, 'POST', `${ap}/accept`, { apptId: second.apptId });
  assert.equal(r.json.code, 'NO_SUCH_PROPOSAL', 'accepted once');
  await until(() => (ps.got.getMsg || []).some((m) => m.msgType === 'system' && /거래약속을 수락/.test(m.chatMsg) && /망원시장 입구/.test(m.chatMsg)), 10000, 'the room sees the acceptance');
  n = await notes(srv, partner, 'appointment');
  assert.ok(n.some((x) => x.payload.status === 'accepted'), JSON.stringify(n));
  // the room's history keeps both lines
  const h = await req(third, 'GET', `/chat/${icrId}/messages?limit=50`);
  assert.equal(h.status, 403, 'history is for members only');
  const hist = await req(partner, 'GET', `/chat/${icrId}/messages?limit=50`);
  assert.equal(hist.json.data.filter((m) => /거래약속/.test(m.chatMsg)).length, 3);

  // my page, for both sides
  for (const u of [owner, partner]) {
    r = await req(u, 'GET', '/appointments');
    assert.equal(r.status, 200);
    assert.equal(r.json.data.length, 1);
    assert.equal(r.json.data[0].apptId, second.apptId);
    assert.equal(r.json.data[0].place, '망원시장 입구');
  }
  assert.equal((await req(third, 'GET', '/appointments')).json.data.length, 0);

  // a no-show is reported against the other side, linked to the item
  r = await req(owner, 'POST', '/reports', { userId: partner.userId, itemId, reason: 'noshow' });
  assert.equal(r.status, 201, r.body);

  // once the trade ended, no more proposals
  assert.equal((await req(owner, 'POST', `/trade/${itemId}/complete`)).status, 200);
  r = await req(owner, 'POST', ap, { at: inMin(120), place: '합정역' });
  assert.equal(r.json.code, 'TRADE_NOT_IN_PROGRESS');
});

test('reminders an hour and ten minutes before, each exactly once, also across a restart', async (t) => {
  const args = ['--rate-login', '100000', '--expiry-interval', '1'];
  let srv = await start({ args });
  t.after(() => srv.stop());
  const owner = await srv.user({ address: ADDR });
  const partner = await srv.user({ address: ADDR });
  const later = await tradeInProgress(srv, owner, partner); // 30 minutes ahead: the hour reminder
  const soon = await tradeInProgress(srv, owner, partner); // 5 minutes ahead: the ten-minute one only
  const far = await tradeInProgress(srv, owner, partner); // 2 hours ahead: none yet
  const agree = async (it, min) => {
    const p = await srv.req('POST', `/trade/${it.itemId}/appointment`, { token: owner.token, body: { at: inMin(min), place: '합정역' } });
    assert.equal(p.status, 201, p.body);
    const a = await srv.req('POST', `/trade/${it.itemId}/appointment/accept`, { token: partner.token, body: { apptId: p.json.appointment.apptId } });
    assert.equal(a.status, 200, a.body);
    return p.json.appointment.apptId;
  };
  // a proposal not accepted gets no reminder
  const pending = await tradeInProgress(srv, owner, partner);
  await srv.req('POST', `/trade/${pending.itemId}/appointment`, { token: owner.token, body: { at: inMin(20), place: '합정역' } });
  const a30 = await agree(later, 30);
  const a5 = await agree(soon, 5);
  await agree(far, 120);
  const reminders = async (u) => (await notes(srv, u, 'appt_remind')).map((n) => `${n.payload.apptId}:${n.payload.minutes}`).sort();
  const want = [`${a30}:60`, `${a5}:10`].sort();
  for (const u of [owner, partner]) await until(async () => (await reminders(u)).length >= 2, 15000, 'reminders');
  assert.deepEqual(await reminders(owner), want);
  assert.deepEqual(await reminders(partner), want);
  await new Promise((r) => setTimeout(r, 2500)); // more timer runs
  assert.deepEqual(await reminders(owner), want, 'exactly once');
  // a restart: the timer runs again on the same data, nothing repeats
  await srv.stop();
  srv = await start({ args, data: srv.data });
  await new Promise((r) => setTimeout(r, 3000));
  assert.deepEqual(await reminders(owner), want, 'exactly once across a restart');
  assert.deepEqual(await reminders(partner), want);
  const n = (await notes(srv, partner, 'appt_remind')).find((x) => x.payload.apptId === a5);
  assert.match(n.payload.message, /10분/);
  assert.equal(n.payload.place, '합정역');
});
