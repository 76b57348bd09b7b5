// Notifications: every type produced exactly once, delivered live on a
// socket.io-client 4.x connection and listed over HTTP for anyone (also
// offline); chat coalescing; read marking and paging; email settings;
// the hour-before-deadline reminder and the expiry notice from the timer,
// exactly once across timer runs and a restart (API.md "Notifications").
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { start, sleep } = require('./lib/dongmul');
const { postItem, connect, emit, until, tradeInProgress } = require('./lib/market');

const ADDR = '부산광역시 해운대구 우동';

const list = async (srv, u, q = '') => {
  const r = await srv.req('GET', `/notifications${q}`, { token: u.token });
  assert.equal(r.status, 200, r.body);
  return r.json;
};
const ofType = async (srv, u, type) => (await list(srv, u, '?limit=100')).data.filter((n) => n.type === type);
// mails written to the log (no --smtp): "mail (no --smtp; not sent) to EMAIL: SUBJECT: BODY"
const mailsTo = (srv, email, subject) => srv.log().split('\n')
  .filter((l) => l.includes(`mail (no --smtp; not sent) to ${email}: `) && (!subject || l.includes(subject))).length;

test('notifications', async (t) => {
  let srv = await start({ args: ['--expiry-interval', '1', '--rate-login', '100000'] });
  t.after(async () => {
    const e = await srv.stop();
    assert.equal(e.code, 0, `server exit ${JSON.stringify(e)}`);
  });
  const owner = await srv.user({ address: ADDR });
  const partner = await srv.user({ address: ADDR });
  const member = await srv.user({ address: ADDR }); // stays offline
  const kicked = await srv.user({ address: ADDR });

  await t.test('chat, join, chosen, kicked: live to connected users, listed for offline ones, once each', async () => {
    const it = await postItem(srv, owner, { title: '캠핑 의자' });
    assert.equal(it.status, 201, it.body);
    const { itemId, icrId } = it.json;
    const os = await connect(srv, owner);
    const ps = await connect(srv, partner);
    const ks = await connect(srv, kicked);
    const ms = await connect(srv, member);
    try {
      assert.equal((await emit(ps, 'joinRoom', { icrId })).msg, 'success');
      assert.equal((await emit(ms, 'joinRoom', { icrId })).msg, 'success');
      assert.equal((await emit(ks, 'joinRoom', { icrId })).msg, 'success');
      ms.close(); // the member goes offline
      // three joins: the owner is told of each, live
      await until(() => os.notes.filter((n) => n.type === 'join').length === 3, 5000, 'three live joins');
      const joins = await ofType(srv, owner, 'join');
      assert.equal(joins.length, 3);
      assert.deepEqual(joins.map((n) => n.payload.userId).sort(), [partner.userId, member.userId, kicked.userId].sort());
      assert.equal(joins[0].payload.title, '캠핑 의자');
      assert.equal(joins[0].payload.itemId, itemId);
      assert.equal(typeof joins[0].payload.message, 'string');
      const live = os.notes.find((n) => n.type === 'join');
      assert.deepEqual(Object.keys(live).sort(), ['cnt', 'createdDt', 'id', 'payload', 'read', 'type', 'updatedDt']);
      assert.match(live.createdDt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+09:00$/);

      // three messages by the owner: one unread chat notification per
      // member with cnt 3 (the author gets none). Live, only to a member
      // whose sockets are not in the room: the ones in it got the getMsg.
      const elsewhere = await connect(srv, member); // online, not in the room
      for (const m of ['안녕하세요', '의자 상태 좋아요', '언제 가능하세요?']) {
        assert.equal((await emit(os, 'sendMsg', { icrId, chatMsg: m })).msg, 'success');
      }
      try {
        await until(() => elsewhere.notes.some((n) => n.type === 'chat' && n.cnt === 3), 5000, 'live chat cnt 3');
      } finally {
        elsewhere.close();
      }
      for (const u of [partner, member, kicked]) {
        const c = await ofType(srv, u, 'chat');
        assert.equal(c.length, 1, `one coalesced chat notification for ${u.nickname}`);
        assert.equal(c[0].cnt, 3);
        assert.equal(c[0].read, false);
        assert.equal(c[0].payload.icrId, icrId);
        assert.equal(c[0].payload.lastMsg, '언제 가능하세요?');
        assert.equal(c[0].payload.fromUserId, owner.userId);
      }
      assert.equal((await ofType(srv, owner, 'chat')).length, 0, 'no chat notification for the author');
      const pl = elsewhere.notes.filter((n) => n.type === 'chat');
      assert.deepEqual(pl.map((n) => n.cnt), [...pl.map((n) => n.cnt)].sort((a, b) => a - b), 'each live update carries the count');
      assert.equal(new Set(pl.map((n) => n.id)).size, 1, 'all the same notification');
      assert.equal(pl[0].id, (await ofType(srv, member, 'chat'))[0].id, 'the listed one');
      assert.equal(ps.notes.filter((n) => n.type === 'chat').length, 0, 'none live to a socket in the room');
      assert.equal(ks.notes.filter((n) => n.type === 'chat').length, 0, 'none live to a socket in the room');
      assert.equal(ps.got.getMsg.length, 3, 'the room got the messages themselves');

      // kicked: the kicked user is told
      assert.equal((await emit(os, 'kickUser', { icrId, itemId, userId: kicked.userId })).msg, 'success');
      await until(() => ks.notes.some((n) => n.type === 'kicked'), 5000, 'live kicked');
      const kn = await ofType(srv, kicked, 'kicked');
      assert.equal(kn.length, 1);
      assert.equal(kn[0].payload.icrId, icrId);

      // chosen: the partner is told, live
      assert.equal((await emit(os, 'exchange', { icrId, itemId, consumerUserId: partner.userId })).msg, 'success');
      await until(() => ps.notes.some((n) => n.type === 'chosen'), 5000, 'live chosen');
      const cn = await ofType(srv, partner, 'chosen');
      assert.equal(cn.length, 1);
      assert.equal(cn[0].payload.ownerUserId, owner.userId);
      assert.equal(cn[0].payload.itemId, itemId);
      await sleep(300);
      assert.equal(ps.notes.filter((n) => n.type === 'chosen').length, 1, 'delivered once');
      assert.equal(os.notes.filter((n) => n.type === 'join').length, 3, 'no repeats');
      // nobody got another type by accident
      assert.deepEqual((await list(srv, member)).data.map((n) => n.type), ['chat']);

      // trade_done for the other side, review for the reviewee
      assert.equal((await srv.req('POST', `/trade/${itemId}/complete`, { token: owner.token })).status, 200);
      await until(() => ps.notes.some((n) => n.type === 'trade_done'), 5000, 'live trade_done');
      assert.equal((await ofType(srv, partner, 'trade_done')).length, 1);
      assert.equal((await ofType(srv, owner, 'trade_done')).length, 0, 'not for the actor');
      const rv = await srv.req('POST', `/trade/${itemId}/review`, { token: partner.token, body: { score: 'good' } });
      assert.equal(rv.status, 201);
      await until(() => os.notes.some((n) => n.type === 'review'), 5000, 'live review');
      const rn = await ofType(srv, owner, 'review');
      assert.equal(rn.length, 1);
      assert.equal(rn[0].payload.score, 'good');
      assert.equal(rn[0].payload.fromUserId, partner.userId);
    } finally {
      for (const s of [os, ps, ks, ms]) s.close();
    }
  });

  await t.test('trade_cancelled is listed for an offline partner', async () => {
    const c = await tradeInProgress(srv, owner, partner);
    const r = await srv.req('POST', `/trade/${c.itemId}/cancel`, { token: owner.token, body: { reason: '일정이 안 맞아요' } });
    assert.equal(r.status, 200);
    const n = await ofType(srv, partner, 'trade_cancelled');
    assert.equal(n.length, 1);
    assert.equal(n[0].payload.reason, '일정이 안 맞아요');
    assert.match(n[0].payload.message, /일정이 안 맞아요/);
  });

  await t.test('read: by ids (only one\'s own), all; after reading, a new message starts a new count', async () => {
    const before = await list(srv, member, '?unread=1');
    assert.equal(before.unreadCount, 1);
    const id = before.data[0].id;
    // someone else cannot mark it
    let r = await srv.req('POST', '/notifications/read', { token: partner.token, body: { ids: [id] } });
    assert.equal(r.status, 200);
    assert.equal(r.json.updated, 0);
    for (const body of [{}, { ids: 'x' }, { ids: ['a1'] }, { ids: [-1] }, { all: 'yes' }, { ids: Array(501).fill('1') }]) {
      r = await srv.req('POST', '/notifications/read', { token: member.token, body });
      assert.equal(r.status, 400, JSON.stringify(body).slice(0, 60));
    }
    assert.equal((await srv.req('POST', '/notifications/read', { body: { all: true } })).status, 401);
    assert.equal((await list(srv, member, '?unread=1')).unreadCount, 1, 'refusals changed nothing');
    r = await srv.req('POST', '/notifications/read', { token: member.token, body: { ids: [id] } });
    assert.equal(r.status, 200);
    assert.equal(r.json.updated, 1);
    assert.equal(r.json.unreadCount, 0);
    assert.equal((await list(srv, member, '?unread=1')).data.length, 0);
    assert.equal((await list(srv, member)).data[0].read, true, 'still listed, as read');

    // a new message in that room: a new unread notification with cnt 1 — but
    // the member left the room by now (exchange), so use a fresh room
    const it = await postItem(srv, owner);
    const ms = await connect(srv, member);
    const os = await connect(srv, owner);
    try {
      assert.equal((await emit(ms, 'joinRoom', { icrId: it.json.icrId })).msg, 'success');
      assert.equal((await emit(os, 'sendMsg', { icrId: it.json.icrId, chatMsg: '하나' })).msg, 'success');
      assert.equal((await emit(os, 'sendMsg', { icrId: it.json.icrId, chatMsg: '둘' })).msg, 'success');
      await until(async () => (await ofType(srv, member, 'chat')).some((n) => n.payload.icrId === it.json.icrId && n.cnt === 2), 5000, 'cnt 2');
      const n = (await ofType(srv, member, 'chat')).find((x) => x.payload.icrId === it.json.icrId);
      await srv.req('POST', '/notifications/read', { token: member.token, body: { ids: [n.id] } });
      assert.equal((await emit(os, 'sendMsg', { icrId: it.json.icrId, chatMsg: '셋' })).msg, 'success');
      await until(async () => (await list(srv, member, '?unread=1')).unreadCount === 1, 5000, 'a new unread');
      const fresh = (await list(srv, member, '?unread=1')).data[0];
      assert.equal(fresh.cnt, 1);
      assert.notEqual(fresh.id, n.id);
      assert.equal(fresh.payload.lastMsg, '셋');
    } finally {
      ms.close();
      os.close();
    }
    r = await srv.req('POST', '/notifications/read', { token: owner.token, body: { all: true } });
    assert.equal(r.status, 200);
    assert.ok(r.json.updated >= 5);
    assert.equal((await list(srv, owner, '?unread=1')).unreadCount, 0);
  });

  await t.test('paging: newest first, limit and cursor', async () => {
    const all = (await list(srv, owner, '?limit=100')).data;
    assert.ok(all.length >= 5);
    const seen = [];
    let cursor = '';
    for (;;) {
      const page = await list(srv, owner, `?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      assert.ok(page.data.length <= 2);
      seen.push(...page.data.map((n) => n.id));
      if (!page.next) break;
      cursor = encodeURIComponent(page.next);
    }
    assert.deepEqual(seen, all.map((n) => n.id), 'the pages together are the whole list, in order');
    const times = all.map((n) => Date.parse(n.updatedDt));
    assert.deepEqual(times, [...times].sort((a, b) => b - a), 'newest first');
    for (const q of ['?limit=0', '?limit=101', '?limit=x', '?cursor=abc']) {
      assert.equal((await srv.req('GET', `/notifications${q}`, { token: owner.token })).status, 400, q);
    }
    assert.equal((await srv.req('GET', '/notifications')).status, 401);
  });

  await t.test('email: chosen types only, a coalesced chat mailed once', async () => {
    let r = await srv.req('GET', '/notifications/settings', { token: member.token });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.email, []);
    assert.ok(r.json.types.includes('deadline') && r.json.types.includes('trade_cancelled'));
    for (const body of [{}, { email: 'chat' }, { email: ['chat', 'nope'] }, { email: [1] }]) {
      r = await srv.req('PUT', '/notifications/settings', { token: member.token, body });
      assert.equal(r.status, 400, JSON.stringify(body));
    }
    r = await srv.req('PUT', '/notifications/settings', { token: member.token, body: { email: ['chat', 'kicked', 'chat'] } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.email, ['chat', 'kicked']);
    assert.deepEqual((await srv.req('GET', '/notifications/settings', { token: member.token })).json.email, ['chat', 'kicked']);

    await srv.req('POST', '/notifications/read', { token: member.token, body: { all: true } });
    const it = await postItem(srv, owner);
    const ms = await connect(srv, member);
    const os = await connect(srv, owner);
    try {
      assert.equal((await emit(ms, 'joinRoom', { icrId: it.json.icrId })).msg, 'success');
      for (let i = 0; i < 3; i++) assert.equal((await emit(os, 'sendMsg', { icrId: it.json.icrId, chatMsg: `메일 ${i}` })).msg, 'success');
      await until(() => mailsTo(srv, member.email, '새 채팅 메시지') >= 1, 5000, 'the chat mail');
      await sleep(1500); // the outbox timer runs every second
      assert.equal(mailsTo(srv, member.email, '새 채팅 메시지'), 1, 'three messages, one unread: one mail');
      assert.equal((await emit(os, 'kickUser', { icrId: it.json.icrId, itemId: it.json.itemId, userId: member.userId })).msg, 'success');
      await until(() => mailsTo(srv, member.email, '강퇴') === 1, 5000, 'the kick mail');
    } finally {
      ms.close();
      os.close();
    }
    assert.equal(mailsTo(srv, owner.email), 0, 'the owner chose no mail');
  });

  await t.test('deadline reminder and expiry notice from the timer: exactly once, also across a restart', async () => {
    const os = await connect(srv, owner);
    let soon, exp, far;
    try {
      // deadline 30 minutes away: the reminder comes at the next timer run
      soon = await postItem(srv, owner, { title: '30분 남은 물건', deadLine: Date.now() + 30 * 60000 });
      assert.equal(soon.status, 201);
      // deadline 3 seconds away: a reminder, then the expiry
      exp = await postItem(srv, partner, { title: '곧 마감', deadLine: Date.now() + 3000 });
      assert.equal(exp.status, 201);
      // two days away: no reminder
      far = await postItem(srv, owner, { title: '넉넉한 물건' });
      await until(() => os.notes.some((n) => n.type === 'deadline'), 8000, 'live deadline reminder');
    } finally {
      os.close();
    }
    await until(async () => (await ofType(srv, partner, 'expired')).length === 1, 10000, 'expiry notice');
    const dl = await ofType(srv, owner, 'deadline');
    assert.equal(dl.length, 1);
    assert.equal(dl[0].payload.itemId, soon.json.itemId);
    assert.ok(!dl.some((n) => n.payload.itemId === far.json.itemId));
    assert.equal((await ofType(srv, partner, 'deadline')).length, 1, 'the 3-second item was reminded once');
    await sleep(2500); // more timer runs
    const check = async (s) => {
      const d = (await s.req('GET', '/notifications?limit=100', { token: owner.token })).json.data;
      assert.equal(d.filter((n) => n.type === 'deadline').length, 1, 'one reminder');
      const p = (await s.req('GET', '/notifications?limit=100', { token: partner.token })).json.data;
      assert.equal(p.filter((n) => n.type === 'deadline').length, 1);
      const e = p.filter((n) => n.type === 'expired');
      assert.equal(e.length, 1, 'one expiry notice');
      assert.equal(e[0].payload.itemId, exp.json.itemId);
    };
    await check(srv);
    // reading them must not let them come back
    await srv.req('POST', '/notifications/read', { token: partner.token, body: { all: true } });
    // restart on the same data: still exactly once
    const e = await srv.stop();
    assert.equal(e.code, 0);
    srv = await start({ data: srv.data, args: ['--expiry-interval', '1', '--rate-login', '100000'] });
    await sleep(2500);
    await check(srv);
  });
});
