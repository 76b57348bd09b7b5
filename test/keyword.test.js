// Keyword alerts (docs/API.md "Keyword alerts"): the list's rules and
// refusals; a new post in the user's region matching a keyword in its
// title, wanted item or comment notifies once per post, coalesced, live on
// the socket; never for one's own post, another region, or no match.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { start } = require('./lib/dongmul');
const { postItem, connect, until } = require('./lib/market');

const ADDR = '서울특별시 마포구 합정동';
const OTHER = '부산광역시 해운대구 우동';

const put = (srv, u, keywords) => srv.req('PUT', '/keywords', { token: u && u.token, body: { keywords } });
const notes = async (srv, u) => {
  const r = await srv.req('GET', '/notifications?limit=100', { token: u.token });
  assert.equal(r.status, 200, r.body);
  return r.json.data.filter((n) => n.type === 'keyword');
};

test('keyword list: trimmed, 1–20 characters, no duplicates, at most 30; refusals change nothing', async (t) => {
  const srv = await start({ args: ['--rate-login', '100000'] });
  t.after(() => srv.stop());
  const u = await srv.user({ address: ADDR });
  let r = await srv.req('GET', '/keywords');
  assert.equal(r.status, 401);
  r = await put(srv, null, ['a']);
  assert.equal(r.status, 401);
  r = await srv.req('GET', '/keywords', { token: u.token });
  assert.deepEqual(r.json.keywords, []);
  assert.equal(r.json.max, 30);
  r = await put(srv, u, ['  자전거 ', '　캠핑　', 'iPad', '가'.repeat(20)]);
  assert.equal(r.status, 200, r.body);
  assert.deepEqual(r.json.keywords, ['자전거', '캠핑', 'ipad', '가'.repeat(20)]);
  const kept = r.json.keywords;
  const refusals = [
    [Array.from({ length: 31 }, (_, i) => `단어${i}`), 'TOO_MANY_KEYWORDS'],
    [['자전거', ' 자전거'], 'DUPLICATE_KEYWORD'],
    [['IPAD', 'ipad'], 'DUPLICATE_KEYWORD'],
    [['가'.repeat(21)], 'INVALID_KEYWORD'],
    [['   '], 'INVALID_KEYWORD'],
    [[''], 'INVALID_KEYWORD'],
    [['a\nb'], 'INVALID_KEYWORD'],
    [[1], 'INVALID_KEYWORD'],
    [[null], 'INVALID_KEYWORD'],
    ['자전거', 'INVALID_KEYWORD'],
    [[['자전거']], 'INVALID_KEYWORD'],
  ];
  for (const [kw, code] of refusals) {
    r = await put(srv, u, kw);
    assert.equal(r.status, 400, `${JSON.stringify(kw)}: ${r.body}`);
    assert.equal(r.json.code, code, JSON.stringify(kw));
  }
  r = await srv.req('PUT', '/keywords', { token: u.token, body: {} });
  assert.equal(r.json.code, 'INVALID_KEYWORD');
  r = await srv.req('GET', '/keywords', { token: u.token });
  assert.deepEqual(r.json.keywords, kept, 'the refusals changed nothing');
  // exactly 30 is fine; an empty list clears
  r = await put(srv, u, Array.from({ length: 30 }, (_, i) => `단어${i}`));
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.keywords.length, 30);
  r = await put(srv, u, []);
  assert.deepEqual(r.json.keywords, []);
});

test('a matching new post in my region alerts me once, coalesced; not my own, not another region', async (t) => {
  const srv = await start({ args: ['--rate-login', '100000', '--quota-posts', '1000'] });
  t.after(async () => {
    const e = await srv.stop();
    assert.equal(e.code, 0, `server exit ${JSON.stringify(e)}`);
  });
  const fan = await srv.user({ address: ADDR });
  const far = await srv.user({ address: OTHER });
  const seller = await srv.user({ address: ADDR });
  const farSeller = await srv.user({ address: OTHER });
  assert.equal((await put(srv, fan, ['자전거', 'ipad', '캠', '텐트 세트'])).status, 200);
  assert.equal((await put(srv, far, ['자전거'])).status, 200);
  const live = await connect(srv, fan);
  t.after(() => live.close());

  // no match: nothing
  let p = await postItem(srv, seller, { title: '책상 팝니다', wantItem: '의자', comment: '상태 좋아요' });
  assert.equal(p.status, 201, p.body);
  assert.equal((await notes(srv, fan)).length, 0);

  // a substring of the title (Korean), a match in the comment (ASCII, any case)
  p = await postItem(srv, seller, { title: '어린이자전거 교환', wantItem: '책', comment: '작아졌어요' });
  assert.equal(p.status, 201, p.body);
  let n = await notes(srv, fan);
  assert.equal(n.length, 1);
  assert.equal(n[0].cnt, 1);
  assert.equal(n[0].payload.itemId, p.json.itemId);
  assert.equal(n[0].payload.keyword, '자전거');
  assert.match(n[0].payload.message, /자전거/);
  await until(() => live.notes.some((x) => x.type === 'keyword'), 10000, 'live keyword notification');

  const p2 = await postItem(srv, seller, { title: '태블릿', wantItem: '아이패드', comment: 'old IPAD mini 텐트 세트도 있어요' });
  assert.equal(p2.status, 201, p2.body);
  n = await notes(srv, fan);
  assert.equal(n.length, 1, 'coalesced: one unread keyword notification');
  assert.equal(n[0].cnt, 2);
  assert.equal(n[0].payload.itemId, p2.json.itemId, 'the newest post');

  // a single-character keyword matches a wanted item
  const p3 = await postItem(srv, seller, { title: '의자', wantItem: '캠핑용품', comment: '-' });
  assert.equal(p3.status, 201);
  n = await notes(srv, fan);
  assert.equal(n[0].cnt, 3);

  // the other region's user heard nothing of these
  assert.equal((await notes(srv, far)).length, 0);
  // their own region's post reaches them
  const p4 = await postItem(srv, farSeller, { title: '자전거 헬멧' });
  assert.equal(p4.status, 201);
  n = await notes(srv, far);
  assert.equal(n.length, 1);
  assert.equal(n[0].payload.itemId, p4.json.itemId);
  assert.equal((await notes(srv, fan))[0].cnt, 3, 'not from another region');

  // never for my own post
  const own = await postItem(srv, fan, { title: '자전거 ipad 캠핑' });
  assert.equal(own.status, 201);
  assert.equal((await notes(srv, fan))[0].cnt, 3);

  // once read, the next match starts a new notification
  assert.equal((await srv.req('POST', '/notifications/read', { token: fan.token, body: { all: true } })).status, 200);
  const p5 = await postItem(srv, seller, { title: '캠핑 의자' });
  assert.equal(p5.status, 201);
  n = (await notes(srv, fan)).filter((x) => !x.read);
  assert.equal(n.length, 1);
  assert.equal(n[0].cnt, 1);
  assert.equal(n[0].payload.itemId, p5.json.itemId);

  // a keyword removed no longer matches
  assert.equal((await put(srv, fan, ['ipad'])).status, 200);
  await postItem(srv, seller, { title: '캠핑 자전거' });
  n = (await notes(srv, fan)).filter((x) => !x.read);
  assert.equal(n[0].cnt, 1);

  // the type can be chosen for mail like the others
  const s = await srv.req('PUT', '/notifications/settings', { token: fan.token, body: { email: ['keyword', 'appointment', 'appt_remind'] } });
  assert.equal(s.status, 200, s.body);
});

test('no keyword alert across a block, either way; lifting the block brings alerts back', async (t) => {
  const srv = await start({ args: ['--rate-login', '100000'] });
  t.after(() => srv.stop());
  const [V, A, W] = [await srv.user({ address: ADDR }), await srv.user({ address: ADDR }), await srv.user({ address: ADDR })];
  for (const u of [V, W]) assert.equal((await put(srv, u, ['자전거'])).status, 200);
  // V blocked A; A blocked W: neither hears of A's posts
  assert.equal((await srv.req('POST', '/blocks', { token: V.token, body: { userId: A.userId } })).status < 300, true);
  assert.equal((await srv.req('POST', '/blocks', { token: A.token, body: { userId: W.userId } })).status < 300, true);
  const p1 = await postItem(srv, A, { title: '자전거 나눠요' });
  assert.equal(p1.status, 201, p1.body);
  // a control post by someone else reaches both, so the alerts are flowing
  const C = await srv.user({ address: ADDR });
  const p2 = await postItem(srv, C, { title: '어린이 자전거' });
  assert.equal(p2.status, 201, p2.body);
  for (const u of [V, W]) {
    await until(async () => (await notes(srv, u)).some((n) => n.payload.itemId === p2.json.itemId), 10000, 'the control alert');
    assert.equal((await notes(srv, u)).some((n) => n.payload.itemId === p1.json.itemId), false, 'no alert across the block');
  }
  // lifted: the next post of A alerts V
  assert.equal((await srv.req('DELETE', `/blocks/${A.userId}`, { token: V.token })).status < 300, true);
  const p3 = await postItem(srv, A, { title: '자전거 하나 더' });
  assert.equal(p3.status, 201, p3.body);
  await until(async () => (await notes(srv, V)).some((n) => n.payload.itemId === p3.json.itemId), 10000, 'the alert after the block is lifted');
});
