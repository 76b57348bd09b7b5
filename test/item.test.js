// Items: posting with a photo and a deadline, photos by content, feeds with
// keyset pages, search, detail and buttons, my page, delete, expiry and the
// privacy of emails (API.md "Items").
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { start, sleep, BIN } = require('./lib/dongmul');
const img = require('./lib/img');
const { within, connectChat, emitWait } = require('./lib/market');

const HAVE_CHAT = fs.existsSync(path.join(__dirname, '../src/market/chat.c'));
const NO_CHAT = HAVE_CHAT ? false : 'needs the chat part (src/market/chat.c, kick/exchange over Socket.IO): not built yet';
// the operator command `dongmul user suspend` (trust part)
const HAVE_SUSPEND = spawnSync(BIN, ['user'], { encoding: 'utf8' }).stderr.indexOf('not available') < 0;
const NO_SUSPEND = HAVE_SUSPEND ? false : 'needs `dongmul user suspend` (trust part): not in this build';

const MB = 1024 * 1024;
const KST = 9 * 3600e3;
let seq = 0;

// "YYYY-MM-DD HH:mm" (or "YYYY-MM-DD HH") in +09:00 for a time t (ms)
function kst(t, withMinutes = true) {
  const s = new Date(t + KST).toISOString();
  return withMinutes ? `${s.slice(0, 10)} ${s.slice(11, 16)}` : `${s.slice(0, 10)} ${s.slice(11, 13)}`;
}
// RFC 3339 as the server shows it: milliseconds and +09:00
function rfc(t) {
  return `${new Date(t + KST).toISOString().slice(0, 23)}+09:00`;
}
function later(ms) { return new Date(Date.now() + ms).toISOString(); }

// The seed frontend's fields; over replaces (undefined removes) a field.
function fields(over = {}) {
  seq += 1;
  const base = {
    file: { name: 'file', filename: 'photo.png', type: 'image/png', data: img.png({ w: 3, h: 3, seed: seq }) },
    category: { name: 'category', value: '디지털/가전' },
    title: { name: 'title', value: `물건 ${seq}` },
    wantItem: { name: 'wantItem', value: '아무거나' },
    comment: { name: 'comment', value: '상태 좋아요\n직거래 원해요' },
    deadLine: { name: 'deadLine', value: later(3 * 24 * 3600e3) },
  };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) delete base[k];
    else if (typeof v === 'object' && !Buffer.isBuffer(v)) base[k] = { name: k, ...v };
    else if (k === 'file') base.file = { ...base.file, data: v };
    else base[k] = { name: k, value: v };
  }
  return Object.values(base);
}

async function post(srv, token, over = {}, extraFields = []) {
  const mp = img.multipart([...fields(over), ...extraFields]);
  return srv.req('POST', '/mainPage/write', { body: mp.body, token, headers: { 'content-type': mp.contentType } });
}

async function postOk(srv, token, over = {}) {
  const r = await post(srv, token, over);
  assert.equal(r.status, 201, r.body);
  return r.json;
}

function imagesDir(srv) { return path.join(srv.data, 'images'); }
function imageFiles(srv) { return fs.readdirSync(imagesDir(srv)).sort(); }

function assertFail(r, status, code) {
  assert.equal(r.status, status, `${r.status} ${r.body}`);
  assert.equal(r.json && r.json.msg, 'fail', r.body);
  assert.equal(r.json.code, code, r.body);
  assert.equal(typeof r.json.errorMsg, 'string');
}


// Kicks victim from owner's item over Socket.IO (chat part).
async function kick(srv, owner, victim, item) {
  const v = await connectChat(srv, victim);
  let o;
  try {
    o = await connectChat(srv, owner);
    await emitWait(o, 'joinRoom', { icrId: item.icrId }, 'addUser'); // the owner's socket enters the room
    await emitWait(v, 'joinRoom', { icrId: item.icrId }, 'addUser');
    await emitWait(o, 'kickUser', { icrId: item.icrId, itemId: item.itemId, userId: victim.userId }, 'kickUser');
  } finally {
    v.close();
    if (o) o.close();
  }
}

// owner chooses partner (who joins first) over Socket.IO: SI01 -> SI02.
async function exchange(srv, owner, partner, item) {
  const p = await connectChat(srv, partner);
  let o;
  try {
    o = await connectChat(srv, owner);
    await emitWait(o, 'joinRoom', { icrId: item.icrId }, 'addUser');
    await emitWait(p, 'joinRoom', { icrId: item.icrId }, 'addUser');
    await emitWait(o, 'exchange', { icrId: item.icrId, itemId: item.itemId, consumerUserId: partner.userId }, 'exchange');
  } finally {
    p.close();
    if (o) o.close();
  }
}

let srv, A, B, C, D;

// many users sign in from one address: lift the login rate limit
const MANY = ['--rate-login', '100000'];

test.before(async () => {
  srv = await start({ args: MANY });
  A = await srv.user({ address: '서울특별시 강남구 역삼동 123' });
  B = await srv.user({ address: '서울 강남구' });
  C = await srv.user({ address: '부산광역시 해운대구 우동' });
  D = await srv.user(); // no region
});

test.after(async () => {
  const e = await srv.stop();
  assert.equal(e.code, 0, `exit ${JSON.stringify(e)}\n${srv.log().slice(-3000)}`);
});

// ------------------------------------------------------------- posting

test('post: 201 with string ids; the item, its room and the owner as member exist', async () => {
  const r = await post(srv, A.token, { title: '어린이자전거 팝니다', category: '스포츠/레저' });
  assert.equal(r.status, 201, r.body);
  assert.equal(r.json.msg, 'success');
  assert.match(r.json.itemId, /^[0-9]+$/);
  assert.match(r.json.icrId, /^[0-9]+$/);
  const d = await srv.req('GET', `/postDetail/${r.json.itemId}`, { token: A.token });
  assert.equal(d.status, 200, d.body);
  const it = d.json.data;
  assert.equal(it.itemId, r.json.itemId);
  assert.equal(it.icrId, r.json.icrId);
  assert.equal(it.title, '어린이자전거 팝니다');
  assert.equal(it.category, '스포츠/레저');
  assert.equal(it.wantItem, '아무거나');
  assert.equal(it.comment, '상태 좋아요\n직거래 원해요');
  assert.equal(it.status, 'auction');
  assert.equal(it.statusCode, 'SI01');
  assert.equal(it.address, '서울 강남구');
  assert.equal(it.userId, A.userId);
  assert.equal(it.nickname, A.nickname);
  assert.equal(it.mannerTemp, 36.5);
  assert.equal(it.buyerUserId, null);
  assert.equal(it.email, A.email, 'the owner sees their own email (the seed decides "mine" by it)');
  assert.match(it.image, /^\/images\/[0-9a-f]{64}\.png$/);
  assert.match(it.deadLine, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+09:00$/);
  assert.match(it.createdDt, /T.*\+09:00$/);
  assert.equal(d.json.createdDt, it.createdDt);
  // the owner is already a member: no join button for them
  const b = await srv.req('GET', `/postDetail/icrId/${it.icrId}`, { token: A.token });
  assert.equal(b.status, 200, b.body);
  assert.deepEqual(b.json.buttonYn, { groupJoinButton: false, oneJoinButton: false });
});

test('post: the photo is stored once by content and served immutable with nosniff', async () => {
  const bytes = img.png({ w: 5, h: 4, seed: 201 });
  const one = await postOk(srv, A.token, { file: bytes });
  const two = await postOk(srv, B.token, { file: { filename: 'other-name.gif', type: 'image/gif', data: bytes } });
  const d1 = (await srv.req('GET', `/postDetail/${one.itemId}`)).json.data;
  const d2 = (await srv.req('GET', `/postDetail/${two.itemId}`)).json.data;
  assert.equal(d1.image, d2.image, 'same bytes -> same name, whatever the file name and declared type');
  assert.match(d1.image, /\.png$/);
  const name = d1.image.split('/').pop();
  assert.equal(imageFiles(srv).filter((f) => f === name).length, 1);
  assert.equal(fs.readFileSync(path.join(imagesDir(srv), name)).compare(bytes), 0);
  const g = await srv.req('GET', d1.image, { raw: true });
  assert.equal(g.status, 200);
  assert.equal(g.headers['content-type'], 'image/png');
  assert.equal(g.headers['x-content-type-options'], 'nosniff');
  assert.equal(g.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal(Buffer.compare(g.body, bytes), 0);
  const again = await srv.req('GET', d1.image, { headers: { 'if-none-match': g.headers.etag } });
  assert.equal(again.status, 304);
  const head = await srv.req('HEAD', d1.image);
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], String(bytes.length));
});

test('post: JPEG, PNG, GIF and WebP are recognized by content', async () => {
  const cases = [
    ['jpg', 'image/jpeg', img.jpeg({ w: 24, h: 16, seed: 301, app1: 20000 })],
    ['png', 'image/png', img.png({ w: 7, h: 2, seed: 302 })],
    ['gif', 'image/gif', img.gif({ w: 9, h: 9, seed: 33 })],
    ['webp', 'image/webp', img.webp({ w: 6, h: 3, seed: 34 })],
    ['webp', 'image/webp', img.webp({ w: 4, h: 4, seed: 35, extended: true })],
  ];
  for (const [ext, ctype, data] of cases) {
    // a misleading name and declared type change nothing
    const r = await postOk(srv, A.token, { file: { filename: 'x.txt', type: 'text/plain', data } });
    const d = (await srv.req('GET', `/postDetail/${r.itemId}`)).json.data;
    assert.match(d.image, new RegExp(`^/images/[0-9a-f]{64}\\.${ext}$`));
    const g = await srv.req('GET', d.image, { raw: true });
    assert.equal(g.headers['content-type'], ctype);
    assert.equal(Buffer.compare(g.body, data), 0);
  }
});

test('post: refuses what is not an image, whatever its name (400 INVALID_IMAGE), leaving no file', async () => {
  const before = imageFiles(srv);
  const jpeg = img.jpeg({ w: 8, h: 8 });
  const pngZero = img.png({ w: 1, h: 1 });
  pngZero.writeUInt32BE(0, 16); // width 0
  const cases = [
    { filename: 'cat.jpg', type: 'image/jpeg', data: Buffer.from('this is only text, not a photo\n'.repeat(10)) },
    { filename: 'half.jpg', type: 'image/jpeg', data: jpeg.subarray(0, 40) }, // cut before the frame header
    { filename: 'zero.png', type: 'image/png', data: pngZero },
    { filename: 'zero.gif', type: 'image/gif', data: img.gif({ w: 0, h: 5 }) },
    { filename: 'riff.webp', type: 'image/webp', data: Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WEBPVP8 '), Buffer.alloc(20)]) },
    { filename: 'a.html', type: 'image/png', data: Buffer.from('<html><script>alert(1)</script></html>') },
  ];
  for (const f of cases) {
    const r = await post(srv, A.token, { file: f });
    assertFail(r, 400, 'INVALID_IMAGE');
  }
  assert.deepEqual(imageFiles(srv), before, 'no photo and no temp file left behind');
});

test('post: photos over the limit are 413 (declared length and while streaming); the limit itself is fine', async () => {
  const before = imageFiles(srv);
  const pad = (n) => Buffer.concat([img.png({ w: 2, h: 2, seed: 9 }), Buffer.alloc(n - img.png({ w: 2, h: 2, seed: 9 }).length, 7)]);
  // 11 MB: refused from Content-Length
  let r = await post(srv, A.token, { file: pad(11 * MB) });
  assertFail(r, 413, 'TOO_LARGE');
  // one byte over: the body is small enough to be read, the file part is cut off while streaming
  r = await post(srv, A.token, { file: pad(10 * MB + 1) });
  assertFail(r, 413, 'TOO_LARGE');
  assert.deepEqual(imageFiles(srv), before);
  // exactly the limit
  r = await post(srv, A.token, { file: pad(10 * MB) });
  assert.equal(r.status, 201, r.body);
  const d = (await srv.req('GET', `/postDetail/${r.json.itemId}`)).json.data;
  assert.equal(fs.statSync(path.join(imagesDir(srv), d.image.split('/').pop())).size, 10 * MB);
  // and the server still answers on a new connection
  assert.equal((await srv.req('GET', '/healthz')).status, 200);
});

test('post: malformed or non-multipart bodies are 400 INVALID_MULTIPART', async () => {
  const mp = img.multipart(fields());
  const send = (body, ct) => srv.req('POST', '/mainPage/write', { body, token: A.token, headers: { 'content-type': ct } });
  // no closing boundary
  assertFail(await send(mp.body.subarray(0, mp.body.length - 30), mp.contentType), 400, 'INVALID_MULTIPART');
  // a boundary that does not match the header's
  assertFail(await send(mp.body, 'multipart/form-data; boundary=somethingelse'), 400, 'INVALID_MULTIPART');
  // no boundary at all
  assertFail(await send(mp.body, 'multipart/form-data;'), 400, 'INVALID_MULTIPART');
  // garbage
  assertFail(await send(Buffer.from('hello'), mp.contentType), 400, 'INVALID_MULTIPART');
  // JSON instead of multipart
  const j = await srv.req('POST', '/mainPage/write', { token: A.token, body: { title: 'x' } });
  assertFail(j, 400, 'INVALID_MULTIPART');
  // a part without Content-Disposition
  const bad = Buffer.from(`--abcdefgh\r\nContent-Type: text/plain\r\n\r\nx\r\n--abcdefgh--\r\n`);
  assertFail(await send(bad, 'multipart/form-data; boundary=abcdefgh'), 400, 'INVALID_MULTIPART');
});

test('post: every field is required (400 with the field\'s code)', async () => {
  const codes = {
    file: 'FILE_REQUIRED', category: 'INVALID_CATEGORY', title: 'INVALID_TITLE',
    wantItem: 'INVALID_WANT_ITEM', comment: 'INVALID_COMMENT', deadLine: 'INVALID_DEADLINE',
  };
  for (const [k, code] of Object.entries(codes)) {
    assertFail(await post(srv, A.token, { [k]: undefined }), 400, code);
    if (k !== 'file') assertFail(await post(srv, A.token, { [k]: '' }), 400, code);
  }
  // an empty file part (a browser sends one when no file was chosen)
  assertFail(await post(srv, A.token, { file: { filename: '', type: 'application/octet-stream', data: Buffer.alloc(0) } }), 400, 'FILE_REQUIRED');
  // blank text
  assertFail(await post(srv, A.token, { title: '   ' }), 400, 'INVALID_TITLE');
});

test('post: lengths in characters are enforced (100/100/2,000) and the limits themselves pass', async () => {
  assertFail(await post(srv, A.token, { title: '가'.repeat(101) }), 400, 'INVALID_TITLE');
  assertFail(await post(srv, A.token, { wantItem: 'w'.repeat(101) }), 400, 'INVALID_WANT_ITEM');
  assertFail(await post(srv, A.token, { comment: '설'.repeat(2001) }), 400, 'INVALID_COMMENT');
  assertFail(await post(srv, A.token, { comment: 'x'.repeat(20000) }), 400, 'INVALID_COMMENT');
  const ok = await postOk(srv, A.token, { title: '가'.repeat(100), wantItem: '😀'.repeat(100), comment: '설'.repeat(2000) });
  const d = (await srv.req('GET', `/postDetail/${ok.itemId}`)).json.data;
  assert.equal(d.title, '가'.repeat(100));
  assert.equal(d.wantItem, '😀'.repeat(100));
  assert.equal([...d.comment].length, 2000);
});

test('post: wrong types and values (file in a text field, unknown category, control characters, duplicates, bad UTF-8)', async () => {
  assertFail(await post(srv, A.token, { title: { filename: 't.txt', type: 'text/plain', data: Buffer.from('title') } }), 400, 'INVALID_TITLE');
  assertFail(await post(srv, A.token, { category: '자동차' }), 400, 'INVALID_CATEGORY');
  assertFail(await post(srv, A.token, { title: 'a\u0000b' }), 400, 'INVALID_TITLE');
  assertFail(await post(srv, A.token, { title: 'a\nb' }), 400, 'INVALID_TITLE');
  assertFail(await post(srv, A.token, { title: { data: Buffer.from([0x41, 0xff, 0x42]) } }), 400, 'INVALID_TITLE');
  assertFail(await post(srv, A.token, {}, [{ name: 'title', value: 'twice' }]), 400, 'DUPLICATE_FIELD');
  // a second file is a second photo (several photos per item), not a duplicate
  const two = await post(srv, A.token, {}, [{ name: 'file', filename: 'b.png', type: 'image/png', data: img.png() }]);
  assert.equal(two.status, 201, two.body);
  assert.equal((await srv.req('GET', `/postDetail/${two.json.itemId}`)).json.data.images.length, 2);
  // unknown fields are ignored
  const r = await post(srv, A.token, {}, [{ name: 'email', value: B.email }, { name: 'userId', value: B.userId }]);
  assert.equal(r.status, 201, r.body);
  const d = (await srv.req('GET', `/postDetail/${r.json.itemId}`)).json.data;
  assert.equal(d.userId, A.userId, 'the owner comes from the token, not the body');
  // every category of the seed frontend's list is accepted
  for (const cat of ['디지털/가전', '가구/인테리어', '유아동/유아도서', '식품', '스포츠/레저', '여성잡화', '여성의류',
    '남성패션/잡화', '게임/취미', '뷰티/미용', '반려동물용품', '도서/티켓/음반', '생활용품', '식물', '기타 중고물품']) {
    const c = await post(srv, C.token, { category: cat });
    assert.equal(c.status, 201, `${cat}: ${c.body}`);
  }
});

test('post: deadLine in the seed formats (read at +09:00) and RFC 3339; past and > 30 days refused', async () => {
  const t = Math.floor((Date.now() + 2 * 24 * 3600e3) / 3600e3) * 3600e3; // a whole hour
  let r = await postOk(srv, A.token, { deadLine: kst(t) });
  assert.equal((await srv.req('GET', `/postDetail/${r.itemId}`)).json.data.deadLine, rfc(t));
  r = await postOk(srv, A.token, { deadLine: kst(t + 3600e3, false) });
  assert.equal((await srv.req('GET', `/postDetail/${r.itemId}`)).json.data.deadLine, rfc(t + 3600e3));
  const exact = Date.now() + 5 * 24 * 3600e3 + 1234;
  r = await postOk(srv, A.token, { deadLine: new Date(exact).toISOString() });
  assert.equal((await srv.req('GET', `/postDetail/${r.itemId}`)).json.data.deadLine, rfc(exact));
  r = await postOk(srv, A.token, { deadLine: later(30 * 24 * 3600e3 - 60e3) });
  assertFail(await post(srv, A.token, { deadLine: later(-60e3) }), 400, 'DEADLINE_PAST');
  assertFail(await post(srv, A.token, { deadLine: kst(Date.now() - 2 * 3600e3, false) }), 400, 'DEADLINE_PAST');
  assertFail(await post(srv, A.token, { deadLine: later(31 * 24 * 3600e3) }), 400, 'DEADLINE_TOO_FAR');
  for (const bad of ['내일', '2026-13-01 10:00', '2026-02-30 10', '12/01/2026', '1764000000000', '2026-12-01T10:00+25:00']) {
    assertFail(await post(srv, A.token, { deadLine: bad }), 400, 'INVALID_DEADLINE');
  }
});

test('post: anonymous 401, bad token 401, no region 400 ADDRESS_REQUIRED', async () => {
  const mp = img.multipart(fields());
  const anon = await srv.req('POST', '/mainPage/write', { body: mp.body, headers: { 'content-type': mp.contentType } });
  assertFail(anon, 401, 'UNAUTHORIZED');
  assertFail(await post(srv, 'bearer not.a.token'), 401, 'UNAUTHORIZED');
  assertFail(await post(srv, D.token), 400, 'ADDRESS_REQUIRED');
});

test('post: a suspended user gets 403 SUSPENDED', { todo: NO_SUSPEND }, async () => {
  const S = await srv.user({ address: '경기 성남시' });
  const out = spawnSync(BIN, ['user', 'suspend', S.email, '--days', '1', '--data', srv.data], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  const r = await post(srv, S.token);
  assertFail(r, 403, 'SUSPENDED');
  assert.match(r.json.errorMsg, /정지/);
  const my = await srv.req('GET', '/myPage', { token: S.token });
  assert.equal(my.json.postCnt, 0);
});

// ---------------------------------------------------------------- feeds

test('feeds: open items newest deadline first; the region feed is the caller\'s region with kickYn strings', async () => {
  const W = await srv.user({ address: '울산광역시 울주군 삼남읍' });
  const X = await srv.user({ address: '울산 울주군' });
  const t0 = Date.now() + 24 * 3600e3;
  const i1 = await postOk(srv, W.token, { deadLine: new Date(t0 + 1000).toISOString() });
  const i2 = await postOk(srv, W.token, { deadLine: new Date(t0 + 3000).toISOString() });
  const i3 = await postOk(srv, X.token, { deadLine: new Date(t0 + 2000).toISOString() });
  const r = await srv.req('GET', '/mainPage', { token: X.token });
  assert.equal(r.status, 200, r.body);
  assert.deepEqual(r.json.data.map((i) => i.itemId), [i2.itemId, i3.itemId, i1.itemId]);
  assert.ok(r.json.data.every((i) => i.address === '울산 울주군'));
  assert.ok(r.json.data.every((i) => i.kickYn === 'false'));
  assert.equal(r.json.next, null);
  // anonymous feed: everything open, newest deadline first
  const all = await srv.req('GET', '/mainPage/noLogin?limit=200');
  assert.equal(all.status, 200);
  const dls = all.json.data.map((i) => Date.parse(i.deadLine));
  assert.deepEqual([...dls].sort((a, b) => b - a), dls);
  assert.ok(all.json.data.some((i) => i.address === '서울 강남구') && all.json.data.some((i) => i.address === '울산 울주군'));
  // ?address= is normalized like POST /myPage/address
  for (const q of ['울산광역시 울주군', '울산 울주군 언양읍 123']) {
    const f = await srv.req('GET', `/mainPage/noLogin?address=${encodeURIComponent(q)}`);
    assert.deepEqual(f.json.data.map((i) => i.itemId), [i2.itemId, i3.itemId, i1.itemId]);
  }
  assertFail(await srv.req('GET', `/mainPage/noLogin?address=${encodeURIComponent('울산 해운대구')}`), 400, 'INVALID_ADDRESS');
  assertFail(await srv.req('GET', '/mainPage'), 401, 'UNAUTHORIZED');
  assertFail(await srv.req('GET', '/mainPage', { token: D.token }), 400, 'ADDRESS_REQUIRED');
});

test('feeds: keyset pages stay consistent while items arrive (no duplicates, no skips, equal deadlines)', async () => {
  const P = await srv.user({ address: '제주특별자치도 서귀포시 중문' });
  const base = Date.now() + 10 * 24 * 3600e3;
  const same = new Date(base + 5000).toISOString();
  const made = [];
  for (const off of [9000, 8000, 7000]) made.push(await postOk(srv, P.token, { deadLine: new Date(base + off).toISOString() }));
  for (let k = 0; k < 3; k++) made.push(await postOk(srv, P.token, { deadLine: same })); // three with one deadline
  for (const off of [3000, 1000]) made.push(await postOk(srv, P.token, { deadLine: new Date(base + off).toISOString() }));
  const q = '/mainPage?limit=4';
  const p1 = await srv.req('GET', q, { token: P.token });
  assert.equal(p1.status, 200, p1.body);
  assert.equal(p1.json.data.length, 4);
  assert.equal(typeof p1.json.next, 'string');
  // new items arrive: later, equal and earlier deadlines than the cursor
  await postOk(srv, P.token, { deadLine: new Date(base + 20000).toISOString() });
  await postOk(srv, P.token, { deadLine: same });
  await postOk(srv, P.token, { deadLine: new Date(base + 100).toISOString() });
  const seen = p1.json.data.map((i) => i.itemId);
  let next = p1.json.next;
  while (next) {
    const p = await srv.req('GET', `${q}&cursor=${encodeURIComponent(next)}`, { token: P.token });
    assert.equal(p.status, 200, p.body);
    seen.push(...p.json.data.map((i) => i.itemId));
    next = p.json.next;
  }
  assert.equal(new Set(seen).size, seen.length, 'no duplicates');
  for (const m of made) assert.ok(seen.includes(m.itemId), `item ${m.itemId} was skipped`);
  // order of the original items is the feed order: deadline desc, then id desc
  const orig = seen.filter((id) => made.some((m) => m.itemId === id));
  const expected = [made[0], made[1], made[2], made[5], made[4], made[3], made[6], made[7]].map((m) => m.itemId);
  assert.deepEqual(orig, expected);
  // the last page says there is no next one
  const all = await srv.req('GET', '/mainPage?limit=200', { token: P.token });
  assert.equal(all.json.next, null);
  assert.equal(all.json.data.length, 11);
});

test('feeds: limit and cursor are validated', async () => {
  for (const l of ['0', '201', 'abc', '-1', '1.5']) assertFail(await srv.req('GET', `/mainPage/noLogin?limit=${l}`), 400, 'INVALID_LIMIT');
  for (const c of ['zz', '12', '_1', '1_', 'ABC_1', '1_2_3', '1'.repeat(17) + '_1']) {
    assertFail(await srv.req('GET', `/mainPage/noLogin?cursor=${c}`), 400, 'INVALID_CURSOR');
  }
  const r = await srv.req('GET', '/mainPage/noLogin?limit=1');
  assert.equal(r.json.data.length, 1);
  assert.equal(typeof r.json.next, 'string');
});

// --------------------------------------------------------------- search

test('search: Korean substrings (trigram), 1-2 character fallback, category, open items only, paged', async () => {
  const S1 = await srv.user({ address: '강원특별자치도 춘천시' });
  const a = await postOk(srv, S1.token, { title: '어린이자전거 팝니다', category: '스포츠/레저' });
  const b = await postOk(srv, S1.token, { title: '헬멧', wantItem: '산악자전거 부품', category: '스포츠/레저' });
  const c = await postOk(srv, S1.token, { title: '책상', comment: '자전거랑 바꿔요', category: '가구/인테리어' });
  const ids = async (qs, token) => {
    const r = await srv.req('GET', `/mainPage/search?${qs}`, { token });
    assert.equal(r.status, 200, r.body);
    return r.json.data.map((i) => i.itemId);
  };
  const hits = await ids(`q=${encodeURIComponent('자전거')}&limit=200`);
  for (const x of [a, b, c]) assert.ok(hits.includes(x.itemId), `자전거 should find ${x.itemId}`);
  assert.ok((await ids(`q=${encodeURIComponent('어린이자전거')}`)).includes(a.itemId));
  assert.ok(!(await ids(`q=${encodeURIComponent('어린이자전거')}`)).includes(b.itemId));
  // short: substring scan
  const short = await ids(`q=${encodeURIComponent('자전')}&limit=200`);
  for (const x of [a, b, c]) assert.ok(short.includes(x.itemId));
  assert.ok((await ids(`q=${encodeURIComponent('헬')}&limit=200`)).includes(b.itemId));
  // category
  const cat = await ids(`q=${encodeURIComponent('자전거')}&category=${encodeURIComponent('가구/인테리어')}&limit=200`);
  assert.ok(cat.includes(c.itemId) && !cat.includes(a.itemId) && !cat.includes(b.itemId));
  const onlyCat = await ids(`category=${encodeURIComponent('가구/인테리어')}&limit=200`);
  assert.ok(onlyCat.includes(c.itemId));
  // quotes and FTS syntax are just text
  assert.deepEqual(await ids(`q=${encodeURIComponent('"자전거 OR *')}`), []);
  // pages
  const p1 = await srv.req('GET', `/mainPage/search?q=${encodeURIComponent('자전거')}&limit=1`);
  assert.equal(p1.json.data.length, 1);
  const p2 = await srv.req('GET', `/mainPage/search?q=${encodeURIComponent('자전거')}&limit=1&cursor=${p1.json.next}`);
  assert.equal(p2.json.data.length, 1);
  assert.notEqual(p2.json.data[0].itemId, p1.json.data[0].itemId);
  // optional bearer: with one, kickYn is computed for the caller and the owner sees their email
  const mine = await srv.req('GET', `/mainPage/search?q=${encodeURIComponent('어린이자전거')}`, { token: S1.token });
  assert.equal(mine.json.data.find((i) => i.itemId === a.itemId).email, S1.email);
  // deleted items are gone from search
  assert.equal((await srv.req('DELETE', '/myPage/delete', { token: S1.token, body: { itemId: a.itemId } })).status, 200);
  assert.ok(!(await ids(`q=${encodeURIComponent('어린이자전거')}`)).includes(a.itemId));
  // refusals
  assertFail(await srv.req('GET', '/mainPage/search'), 400, 'INVALID_QUERY');
  assertFail(await srv.req('GET', '/mainPage/search?q=%20%20'), 400, 'INVALID_QUERY');
  assertFail(await srv.req('GET', `/mainPage/search?q=${'a'.repeat(101)}`), 400, 'INVALID_QUERY');
  assertFail(await srv.req('GET', `/mainPage/search?q=abc&category=${encodeURIComponent('자동차')}`), 400, 'INVALID_CATEGORY');
  assertFail(await srv.req('GET', '/mainPage/search?q=abc', { token: 'bearer nope' }), 401, 'UNAUTHORIZED');
});

// ------------------------------------------------------- detail, buttons

test('detail: anonymous and other users see no email; 404 for missing and malformed ids', async () => {
  const it = await postOk(srv, A.token);
  const anon = await srv.req('GET', `/postDetail/${it.itemId}`);
  assert.equal(anon.status, 200);
  assert.equal(anon.json.data.email, undefined);
  assert.equal(anon.json.data.kickYn, 'false');
  const other = await srv.req('GET', `/postDetail/${it.itemId}`, { token: B.token });
  assert.equal(other.json.data.email, undefined);
  assert.equal(other.json.data.userId, A.userId);
  assert.ok(!other.body.includes(A.email));
  assertFail(await srv.req('GET', '/postDetail/999999999'), 404, 'ITEM_NOT_FOUND');
  assertFail(await srv.req('GET', '/postDetail/abc'), 404, 'ITEM_NOT_FOUND');
  assertFail(await srv.req('GET', '/postDetail/1e3'), 404, 'ITEM_NOT_FOUND');
  assertFail(await srv.req('GET', `/postDetail/${it.itemId}`, { token: 'bearer bad' }), 401, 'UNAUTHORIZED');
});

test('buttons: join for a non-member while open; none for the owner; 401 anonymous; 404 unknown room', async () => {
  const it = await postOk(srv, A.token);
  const b = await srv.req('GET', `/postDetail/icrId/${it.icrId}`, { token: B.token });
  assert.equal(b.status, 200, b.body);
  assert.deepEqual(b.json.buttonYn, { groupJoinButton: true, oneJoinButton: false });
  const o = await srv.req('GET', `/postDetail/icrId/${it.icrId}`, { token: A.token });
  assert.deepEqual(o.json.buttonYn, { groupJoinButton: false, oneJoinButton: false });
  assertFail(await srv.req('GET', `/postDetail/icrId/${it.icrId}`), 401, 'UNAUTHORIZED');
  assertFail(await srv.req('GET', '/postDetail/icrId/987654321', { token: B.token }), 404, 'ROOM_NOT_FOUND');
  assertFail(await srv.req('GET', '/postDetail/icrId/x', { token: B.token }), 404, 'ROOM_NOT_FOUND');
});

// The chat-dependent tests run on their own server: the chat part is built
// concurrently, and a failure there must not take the shared server down.
async function withChatServer(fn) {
  const cs = await start({ args: MANY });
  try {
    await fn(cs);
  } finally {
    const e = await cs.stop();
    assert.equal(e.code, 0, `exit ${JSON.stringify(e)}\n${cs.log().slice(-2000)}`);
  }
}

test('kicked user: detail 403 KICKED, kickYn "true" in the feed, no join button', { todo: NO_CHAT }, async () => {
  await withChatServer(async (cs) => {
    const O = await cs.user({ address: '서울 강남구' });
    const K = await cs.user({ address: '서울 강남구' });
    const Y = await cs.user({ address: '서울 강남구' });
    const it = await postOk(cs, O.token);
    await kick(cs, O, K, it);
    assertFail(await cs.req('GET', `/postDetail/${it.itemId}`, { token: K.token }), 403, 'KICKED');
    assert.equal((await cs.req('GET', `/postDetail/${it.itemId}`)).status, 200, 'anonymous still sees it');
    const f = await cs.req('GET', '/mainPage?limit=200', { token: K.token });
    assert.equal(f.json.data.find((i) => i.itemId === it.itemId).kickYn, 'true');
    const other = await cs.req('GET', '/mainPage?limit=200', { token: Y.token });
    assert.equal(other.json.data.find((i) => i.itemId === it.itemId).kickYn, 'false');
    const b = await cs.req('GET', `/postDetail/icrId/${it.icrId}`, { token: K.token });
    assert.deepEqual(b.json.buttonYn, { groupJoinButton: false, oneJoinButton: false });
    const by = await cs.req('GET', `/postDetail/icrId/${it.icrId}`, { token: Y.token });
    assert.equal(by.json.buttonYn.groupJoinButton, true);
    // the room now has members, messages (entered, kicked) and a kick: a
    // delete takes them all along (ON DELETE CASCADE through the room)
    const del = await cs.req('DELETE', '/myPage/delete', { token: O.token, body: { itemId: it.itemId, icrId: it.icrId } });
    assert.equal(del.status, 200, del.body);
    assertFail(await cs.req('GET', `/postDetail/${it.itemId}`, { token: K.token }), 404, 'ITEM_NOT_FOUND');
    assertFail(await cs.req('GET', `/postDetail/icrId/${it.icrId}`, { token: K.token }), 404, 'ROOM_NOT_FOUND');
  });
});

// -------------------------------------------------------------- my page

test('my page: my items newest first with a numeric postCnt; others\' items not included', async () => {
  const M = await srv.user({ address: '대전 유성구' });
  const N = await srv.user({ address: '대전 유성구' });
  const m1 = await postOk(srv, M.token);
  await postOk(srv, N.token);
  const m2 = await postOk(srv, M.token, { deadLine: later(3600e3) });
  const r = await srv.req('GET', '/myPage', { token: M.token });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.msg, 'success');
  assert.equal(r.json.postCnt, 2);
  assert.deepEqual(r.json.postInfo.map((i) => i.itemId), [m2.itemId, m1.itemId]);
  for (const i of r.json.postInfo) {
    assert.equal(i.email, M.email);
    for (const k of ['image', 'title', 'wantItem', 'itemId', 'icrId', 'status']) assert.ok(i[k] !== undefined, k);
  }
  const empty = await srv.req('GET', '/myPage', { token: D.token });
  assert.deepEqual({ c: empty.json.postCnt, l: empty.json.postInfo }, { c: 0, l: [] });
  assertFail(await srv.req('GET', '/myPage'), 401, 'UNAUTHORIZED');
});

test('address: normalized, stored for the token\'s user only (body email ignored); refusals', async () => {
  const E = await srv.user();
  const r = await srv.req('POST', '/myPage/address', { token: E.token, body: { new_address: '경기도 성남시 분당구 정자동 1', email: B.email } });
  assert.equal(r.status, 200, r.body);
  assert.deepEqual(r.json, { msg: 'success', address: '경기 성남시' });
  const who = await srv.req('POST', '/account/reset', { token: E.token });
  assert.equal(who.json.address, '경기 성남시');
  const b = await srv.req('POST', '/account/reset', { token: B.token });
  assert.equal(b.json.address, '서울 강남구', 'the email in the body changed nobody else');
  assertFail(await srv.req('POST', '/myPage/address', { token: E.token, body: {} }), 400, 'INVALID_ADDRESS');
  assertFail(await srv.req('POST', '/myPage/address', { token: E.token, body: { new_address: 42 } }), 400, 'INVALID_ADDRESS');
  assertFail(await srv.req('POST', '/myPage/address', { token: E.token, body: { new_address: '가'.repeat(201) } }), 400, 'INVALID_ADDRESS');
  assertFail(await srv.req('POST', '/myPage/address', { token: E.token, body: { new_address: '화성 어딘가' } }), 400, 'INVALID_ADDRESS');
  assertFail(await srv.req('POST', '/myPage/address', { token: E.token, body: '{"new_address":"서울 강남구",}', headers: { 'content-type': 'application/json' } }), 400, 'INVALID_JSON');
  assertFail(await srv.req('POST', '/myPage/address', { body: { new_address: '서울 강남구' } }), 401, 'UNAUTHORIZED');
  assert.equal((await srv.req('POST', '/account/reset', { token: E.token })).json.address, '경기 성남시', 'refusals changed nothing');
  // a post made now carries the new region; older posts keep theirs
  const it = await postOk(srv, E.token);
  assert.equal((await srv.req('GET', `/postDetail/${it.itemId}`)).json.data.address, '경기 성남시');
  await srv.req('POST', '/myPage/address', { token: E.token, body: { new_address: '경기 용인시' } });
  assert.equal((await srv.req('GET', `/postDetail/${it.itemId}`)).json.data.address, '경기 성남시');
});

// ---------------------------------------------------------------- delete

test('delete: owner only; removes the item and its photo unless another item uses it', async () => {
  const bytes = img.gif({ w: 3, h: 7, seed: 77 });
  const one = await postOk(srv, A.token, { file: bytes });
  const two = await postOk(srv, A.token, { file: bytes });
  const image = (await srv.req('GET', `/postDetail/${one.itemId}`)).json.data.image;
  // refusals first: nothing changes
  assertFail(await srv.req('DELETE', '/myPage/delete', { body: { itemId: one.itemId } }), 401, 'UNAUTHORIZED');
  assertFail(await srv.req('DELETE', '/myPage/delete', { token: B.token, body: { itemId: one.itemId } }), 403, 'NOT_OWNER');
  assertFail(await srv.req('DELETE', '/myPage/delete', { token: A.token, body: {} }), 400, 'INVALID_ITEM_ID');
  assertFail(await srv.req('DELETE', '/myPage/delete', { token: A.token, body: { itemId: { id: 1 } } }), 400, 'INVALID_ITEM_ID');
  assertFail(await srv.req('DELETE', '/myPage/delete', { token: A.token, body: { itemId: 'x1' } }), 400, 'INVALID_ITEM_ID');
  assertFail(await srv.req('DELETE', '/myPage/delete', { token: A.token, body: { itemId: one.itemId, icrId: true } }), 400, 'INVALID_ICR_ID');
  assertFail(await srv.req('DELETE', '/myPage/delete', { token: A.token, body: { itemId: one.itemId, icrId: two.icrId } }), 400, 'ROOM_MISMATCH');
  assertFail(await srv.req('DELETE', '/myPage/delete', { token: A.token, body: { itemId: '987654321' } }), 404, 'ITEM_NOT_FOUND');
  assertFail(await srv.req('DELETE', '/myPage/delete', { token: A.token, body: '{"itemId":1', headers: { 'content-type': 'application/json' } }), 400, 'INVALID_JSON');
  assert.equal((await srv.req('GET', `/postDetail/${one.itemId}`)).status, 200);
  // the seed frontend's body: {itemId, icrId}
  let r = await srv.req('DELETE', '/myPage/delete', { token: A.token, body: { itemId: one.itemId, icrId: one.icrId } });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.msg, 'success');
  assertFail(await srv.req('GET', `/postDetail/${one.itemId}`), 404, 'ITEM_NOT_FOUND');
  assertFail(await srv.req('GET', `/postDetail/icrId/${one.icrId}`, { token: B.token }), 404, 'ROOM_NOT_FOUND');
  assert.equal((await srv.req('GET', image)).status, 200, 'still used by the other item');
  assertFail(await srv.req('DELETE', '/myPage/delete', { token: A.token, body: { itemId: one.itemId } }), 404, 'ITEM_NOT_FOUND');
  // numbers work as well as strings
  r = await srv.req('DELETE', '/myPage/delete', { token: A.token, body: { itemId: Number(two.itemId) } });
  assert.equal(r.status, 200, r.body);
  assert.equal((await srv.req('GET', image)).status, 404, 'the last user of the photo is gone: so is the file');
  assert.ok(!imageFiles(srv).includes(image.split('/').pop()));
  const feed = await srv.req('GET', '/mainPage/noLogin?limit=200');
  assert.ok(!feed.json.data.some((i) => i.itemId === one.itemId || i.itemId === two.itemId));
  const my = await srv.req('GET', '/myPage', { token: A.token });
  assert.ok(!my.json.postInfo.some((i) => i.itemId === one.itemId));
});

test('delete: an item in trade (SI02) is 409 ITEM_NOT_DELETABLE; the partner sees it on my page with the one-to-one button', { todo: NO_CHAT }, async () => {
  await withChatServer(async (cs) => {
    const O = await cs.user({ address: '서울 강남구' });
    const P = await cs.user({ address: '서울 강남구' });
    const Y = await cs.user({ address: '서울 강남구' });
    const it = await postOk(cs, O.token);
    await exchange(cs, O, P, it);
    assertFail(await cs.req('DELETE', '/myPage/delete', { token: O.token, body: { itemId: it.itemId } }), 409, 'ITEM_NOT_DELETABLE');
    const my = await cs.req('GET', '/myPage', { token: P.token });
    const got = my.json.postInfo.find((i) => i.itemId === it.itemId);
    assert.equal(got.status, 'success');
    assert.equal(got.statusCode, 'SI02');
    assert.equal(got.buyerUserId, P.userId);
    assert.equal(got.buyerEmail, P.email);
    assert.equal(got.email, undefined, 'the partner does not see the owner\'s email');
    const own = (await cs.req('GET', '/myPage', { token: O.token })).json.postInfo.find((i) => i.itemId === it.itemId);
    assert.equal(own.buyerEmail, P.email, 'the owner sees the partner\'s email (a member of their room)');
    const seen = await cs.req('GET', `/postDetail/${it.itemId}`, { token: Y.token });
    assert.ok(!seen.body.includes(P.email) && !seen.body.includes(O.email));
    for (const u of [O, P]) {
      const b = await cs.req('GET', `/postDetail/icrId/${it.icrId}`, { token: u.token });
      assert.deepEqual(b.json.buttonYn, { groupJoinButton: false, oneJoinButton: true });
    }
    const b = await cs.req('GET', `/postDetail/icrId/${it.icrId}`, { token: Y.token });
    assert.deepEqual(b.json.buttonYn, { groupJoinButton: false, oneJoinButton: false });
  });
});

// --------------------------------------------------------------- privacy

test('privacy: another user\'s or an anonymous reply never contains the owner\'s email', async () => {
  const O = await srv.user({ address: '광주광역시 광산구' });
  const V = await srv.user({ address: '광주 광산구' });
  const it = await postOk(srv, O.token, { title: '프라이버시 확인용 물건' });
  const replies = [];
  for (const token of [V.token, undefined]) {
    replies.push(await srv.req('GET', `/postDetail/${it.itemId}`, { token }));
    replies.push(await srv.req('GET', '/mainPage/noLogin?limit=200', { token }));
    replies.push(await srv.req('GET', `/mainPage/search?q=${encodeURIComponent('프라이버시')}`, { token }));
    replies.push(await srv.req('GET', `/mainPage/noLogin?address=${encodeURIComponent('광주 광산구')}`, { token }));
  }
  replies.push(await srv.req('GET', '/mainPage', { token: V.token }));
  replies.push(await srv.req('GET', `/postDetail/icrId/${it.icrId}`, { token: V.token }));
  replies.push(await srv.req('GET', '/myPage', { token: V.token }));
  for (const r of replies) {
    assert.equal(r.status, 200, r.body);
    assert.ok(!r.body.toLowerCase().includes(O.email.toLowerCase()), `leaked in ${r.body.slice(0, 200)}`);
  }
  assert.ok(replies[0].body.includes(it.itemId), 'the item itself was in the replies');
  const own = await srv.req('GET', '/mainPage', { token: O.token });
  assert.ok(own.body.includes(O.email), 'the owner does see their own');
});

// ---------------------------------------------------------------- expiry

test('expiry: a passed deadline leaves the feeds at once; the job turns it into fail/SI03', async () => {
  // a server whose expiry job has not run yet: queries alone hide the item
  const slow = await start({ args: ['--expiry-interval', '3600'] });
  const fast = await start({ args: ['--expiry-interval', '1'] });
  try {
    for (const s of [slow, fast]) {
      const u = await s.user({ address: '세종특별자치시 한누리대로 2130' });
      s.u = u;
      s.it = (await (async () => { const r = await post(s, u.token, { deadLine: later(1500) }); assert.equal(r.status, 201, r.body); return r.json; })());
      s.keep = (await (async () => { const r = await post(s, u.token); assert.equal(r.status, 201, r.body); return r.json; })());
      const f = await s.req('GET', '/mainPage', { token: u.token });
      assert.ok(f.json.data.some((i) => i.itemId === s.it.itemId), 'listed while open');
    }
    await sleep(3500);
    for (const s of [slow, fast]) {
      for (const p of ['/mainPage/noLogin', `/mainPage/noLogin?address=${encodeURIComponent('세종')}`, `/mainPage/search?q=${encodeURIComponent('물건')}&limit=200`]) {
        const f = await s.req('GET', p);
        assert.ok(!f.json.data.some((i) => i.itemId === s.it.itemId), `${p}: not open any more`);
        assert.ok(f.json.data.some((i) => i.itemId === s.keep.itemId), `${p}: the other one is`);
      }
      const b = await s.req('GET', `/postDetail/icrId/${s.it.icrId}`, { token: (await s.user()).token });
      assert.equal(b.json.buttonYn.groupJoinButton, false, 'no joining after the deadline');
    }
    const mySlow = await slow.req('GET', '/myPage', { token: slow.u.token });
    assert.equal(mySlow.json.postInfo.find((i) => i.itemId === slow.it.itemId).statusCode, 'SI01', 'the job has not run there');
    // the fast server's job ran (every second)
    let got;
    for (let k = 0; k < 30; k++) {
      const my = await fast.req('GET', '/myPage', { token: fast.u.token });
      got = my.json.postInfo.find((i) => i.itemId === fast.it.itemId);
      if (got.statusCode === 'SI03') break;
      await sleep(200);
    }
    assert.equal(got.statusCode, 'SI03');
    assert.equal(got.status, 'fail');
    const keep = (await fast.req('GET', '/myPage', { token: fast.u.token })).json.postInfo.find((i) => i.itemId === fast.keep.itemId);
    assert.equal(keep.status, 'auction');
    assert.match(fast.log(), /1 item\(s\) expired/);
    // an expired item can be deleted by its owner
    const del = await fast.req('DELETE', '/myPage/delete', { token: fast.u.token, body: { itemId: fast.it.itemId } });
    assert.equal(del.status, 200, del.body);
  } finally {
    for (const s of [slow, fast]) {
      const e = await s.stop();
      assert.equal(e.code, 0, s.log().slice(-2000));
    }
  }
});

test('anonymous feed: cached replies still show a new post, a delete and a passed deadline at once; same bytes twice', async () => {
  // no expiry job during the test: only the feed's own rules hide the item
  const s = await start({ args: ['--expiry-interval', '3600'] });
  try {
    const u = await s.user({ address: '제주특별자치도 제주시 연동' });
    const feed = async (q = '') => {
      const r = await s.req('GET', `/mainPage/noLogin${q}`);
      assert.equal(r.status, 200, r.body);
      return r;
    };
    const ids = (r) => r.json.data.map((i) => i.itemId);
    const first = await postOk(s, u.token);
    // (iv) the same bytes on consecutive requests, for several queries
    for (const q of ['', '?limit=1', `?address=${encodeURIComponent('제주 제주시')}&limit=5`]) {
      const a = await feed(q);
      const b = await feed(q);
      assert.equal(b.body, a.body, q);
      assert.ok(ids(a).includes(first.itemId), q);
    }
    // (i) a new post shows at once (the previous reply was just served twice)
    const fresh = await postOk(s, u.token, { deadLine: later(5 * 24 * 3600e3) });
    assert.deepEqual(ids(await feed()).slice(0, 2), [fresh.itemId, first.itemId]);
    assert.deepEqual(ids(await feed('?limit=1')), [fresh.itemId]);
    // (iv) a cursor page is keyed by its cursor: same bytes, not page 1's
    const p1 = await feed('?limit=1');
    const p2 = await feed(`?limit=1&cursor=${p1.json.next}`);
    assert.equal((await feed(`?limit=1&cursor=${p1.json.next}`)).body, p2.body);
    assert.deepEqual(ids(p2), [first.itemId]);
    // (ii) a deleted item leaves at once
    await feed();
    const del = await s.req('DELETE', '/myPage/delete', { token: u.token, body: { itemId: fresh.itemId } });
    assert.equal(del.status, 200, del.body);
    assert.ok(!ids(await feed()).includes(fresh.itemId));
    assert.deepEqual(ids(await feed('?limit=1')), [first.itemId]);
    // (iii) a deadline a few whole seconds ahead (RFC 3339 with seconds):
    // listed while it is ahead, gone right after it passes with no job run,
    // even though the reply read just before was cached (a write then two
    // reads shortly before the deadline: that reply was built then)
    const dl = Math.ceil((Date.now() + 3000) / 1000) * 1000;
    const soon = await postOk(s, u.token, { deadLine: new Date(dl).toISOString().replace('.000Z', 'Z') });
    assert.equal((await s.req('GET', `/postDetail/${soon.itemId}`)).json.data.deadLine, rfc(dl));
    while (Date.now() < dl - 400) {
      assert.ok(ids(await feed()).includes(soon.itemId), 'listed before its deadline');
      await sleep(100);
    }
    const moved = await s.req('POST', '/myPage/address', { token: u.token, body: { new_address: '제주 제주시' } });
    assert.equal(moved.status, 200, moved.body);
    for (let k = 0; k < 2; k++) {
      const r = await feed();
      if (Date.now() < dl) assert.ok(ids(r).includes(soon.itemId), 'listed before its deadline (answered before it)');
    }
    await sleep(Math.max(0, dl + 30 - Date.now()));
    const after = await feed();
    assert.ok(!ids(after).includes(soon.itemId), 'gone once the deadline passed');
    assert.ok(ids(after).includes(first.itemId), 'the other item is still open');
    const my = await s.req('GET', '/myPage', { token: u.token });
    assert.equal(my.json.postInfo.find((i) => i.itemId === soon.itemId).statusCode, 'SI01', 'the expiry job has not run');
  } finally {
    const e = await s.stop();
    assert.equal(e.code, 0, s.log().slice(-2000));
  }
});

test('start: the feed and search queries use the indexes (query plans checked at start)', async () => {
  const s = await start({ args: ['--log-level', 'debug'] });
  try {
    const log = s.log();
    assert.match(log, /plan feed: .*SEARCH s USING (COVERING )?INDEX saleItem_feed \(status=\? AND deadLine>\?\)/);
    assert.match(log, /plan feed-next: .*SEARCH s USING (COVERING )?INDEX saleItem_feed \(status=\? AND deadLine>\?/);
    assert.match(log, /plan region: .*SEARCH s USING (COVERING )?INDEX saleItem_region \(address=\? AND status=\? AND deadLine>\?\)/);
    assert.match(log, /plan region-next: .*SEARCH s USING (COVERING )?INDEX saleItem_region/);
    // many hits: walk the open items in feed order, keep the hits
    assert.match(log, /plan search: .*SEARCH s USING (COVERING )?INDEX saleItem_feed.*saleItemFts VIRTUAL TABLE INDEX 0:M/);
    // few hits: start from the full-text hits, then each item by its key
    assert.match(log, /plan search-few: .*SCAN f VIRTUAL TABLE INDEX 0:M\d* \| SEARCH s USING INTEGER PRIMARY KEY/);
    assert.doesNotMatch(log, /scans saleItem/);
  } finally {
    assert.equal((await s.stop()).code, 0);
  }
});

test('images: only <sha256>.<jpg|png|webp|gif> names are served; path tricks and unknown files are 404', async () => {
  const it = await postOk(srv, A.token);
  const image = (await srv.req('GET', `/postDetail/${it.itemId}`)).json.data.image;
  const name = image.split('/').pop();
  const hash = name.split('.')[0];
  fs.writeFileSync(path.join(srv.data, 'secret.txt'), 'secret');
  for (const p of [
    `/images/${hash}.jpg`, `/images/${hash.toUpperCase()}.png`, `/images/${hash}.PNG`, `/images/${hash}.png.txt`,
    `/images/${hash.slice(1)}.png`, `/images/${hash}0.png`, '/images/..%2fsecret.txt', '/images/../secret.txt',
    '/images/%2e%2e/secret.txt', '/images/', '/images/dongmul.db', `/images/${'0'.repeat(64)}.png`,
  ]) {
    const r = await srv.req('GET', p);
    assert.ok(r.status === 404 || r.status === 400, `${p}: ${r.status}`);
    assert.ok(!r.body.includes('secret'));
  }
  assert.equal((await srv.req('GET', image)).status, 200);
});
