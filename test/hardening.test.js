// What an attacker with a few accounts and a script found, closed: a
// deleted room's sockets hearing the next room; a JSON escape that stores
// invalid UTF-8 and breaks every member's socket (and its repair in old
// databases); sockets outliving logout and a new password; orphan photos
// after a crash; forged access-log lines; per-user quotas. The real binary,
// real socket.io-client 4.x sockets.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { start, request, sleep } = require('./lib/dongmul');
const { postItem, connect, emit, until } = require('./lib/market');

const ADDR = '서울특별시 마포구 합정동';
const RL = ['--rate-login', '100000', '--rate-mail', '100000'];

const stopOk = async (s) => {
  const e = await s.stop();
  assert.equal(e.code, 0, `exit ${JSON.stringify(e)}\n${s.log().slice(-3000)}`);
};
const disconnected = (s) => new Promise((resolve) => {
  if (!s.connected) resolve('already');
  else s.once('disconnect', resolve);
});
const messages = async (srv, u, icrId) => {
  const r = await srv.req('GET', `/chat/${icrId}/messages?limit=100`, { token: u.token });
  assert.equal(r.status, 200, r.body);
  return r.json.data || r.json.messages || r.json;
};

test('a deleted item: its room\'s sockets hear nothing of the next room; ids are never reused', async (t) => {
  const srv = await start({ args: [...RL, '--expiry-interval', '1'] });
  t.after(() => stopOk(srv));
  const [A, M, B, P] = [await srv.user({ address: ADDR }), await srv.user(), await srv.user({ address: ADDR }), await srv.user()];

  const one = await postItem(srv, A, { title: '지워질 물건' });
  assert.equal(one.status, 201, one.body);
  const ms = await connect(srv, M);
  const bs = await connect(srv, B);
  const ps = await connect(srv, P);
  try {
    assert.equal((await emit(ms, 'joinRoom', { icrId: one.json.icrId })).msg, 'success');
    const del = await srv.req('DELETE', '/myPage/delete', { token: A.token, body: { itemId: one.json.itemId } });
    assert.equal(del.status, 200, del.body);
    // the next item: the deleted one was the newest, so without
    // AUTOINCREMENT it would get the same item and room ids
    const two = await postItem(srv, B, { title: '새 물건' });
    assert.equal(two.status, 201, two.body);
    assert.equal((await emit(ps, 'joinRoom', { icrId: two.json.icrId })).msg, 'success');
    const sent = await emit(bs, 'sendMsg', { icrId: two.json.icrId, chatMsg: '제 번호는 010-1234-5678 입니다' });
    assert.equal(sent.msg, 'success');
    await until(() => (ps.got.getMsg || []).some((m) => m.chatMsg.includes('010-1234')), 10000, 'the member gets it');
    await sleep(300); // anything in flight to M would have arrived with P's copy
    const seen = (ev) => (ms.got[ev] || []).filter((x) => JSON.stringify(x).includes(P.nickname) || JSON.stringify(x).includes(B.nickname));
    assert.deepEqual(seen('addUser'), [], 'the deleted room\'s member saw a join of the new room');
    assert.deepEqual((ms.got.getMsg || []).filter((m) => m.chatMsg.includes('010')), [], 'leaked message');
    // and the member of the deleted room cannot speak into the new one
    const r = await emit(ms, 'sendMsg', { icrId: two.json.icrId, chatMsg: 'hi' });
    assert.equal(r.code, 'NOT_MEMBER');
    assert.notEqual(two.json.itemId, one.json.itemId, 'item id reused');
    assert.notEqual(two.json.icrId, one.json.icrId, 'room id reused');
  } finally {
    ms.close(); bs.close(); ps.close();
  }

  // the expiry notice of a re-posted item is not taken for the deleted one's
  const ofType = async (u, type) => (await srv.req('GET', '/notifications?limit=100', { token: u.token })).json.data
    .filter((n) => n.type === type);
  const e1 = await postItem(srv, A, { title: '곧 마감 1', deadLine: Date.now() + 2500 });
  assert.equal(e1.status, 201, e1.body);
  await until(async () => (await ofType(A, 'expired')).length === 1, 15000, 'first expiry notice');
  const d1 = await srv.req('DELETE', '/myPage/delete', { token: A.token, body: { itemId: e1.json.itemId } });
  assert.equal(d1.status, 200, d1.body);
  const e2 = await postItem(srv, A, { title: '곧 마감 2', deadLine: Date.now() + 2500 });
  assert.equal(e2.status, 201, e2.body);
  assert.notEqual(e2.json.itemId, e1.json.itemId);
  await until(async () => (await ofType(A, 'expired')).length === 2, 15000, 'the re-posted item\'s expiry notice');
  assert.deepEqual((await ofType(A, 'expired')).map((n) => n.payload.itemId).sort(), [e1.json.itemId, e2.json.itemId].sort());
});

test('JSON escapes: a lone surrogate is refused over HTTP and on sockets; a pair (emoji) is fine', async (t) => {
  const srv = await start({ args: RL });
  t.after(() => stopOk(srv));
  const raw = (method, p, body, token) => request(srv.url, method, p, { body, token, headers: { 'content-type': 'application/json' } });

  // sign-up with a nickname holding a lone surrogate: 400, nothing stored
  const email = `sur${process.pid}@example.com`;
  const bad = await raw('POST', '/account', `{"email":"${email}","nickname":"a\\ud800b","password":"abcd1234"}`);
  assert.equal(bad.status, 400, bad.body);
  assert.equal(bad.json.code, 'INVALID_JSON');
  for (const nick of ['\\udc00x', 'x\\ud800\\u0041', '\\ude00\\ud83d', 'a\\u0000b']) {
    const r = await raw('POST', '/account', `{"email":"${email}","nickname":"${nick}","password":"abcd1234"}`);
    assert.equal(r.status, 400, `${nick}: ${r.body}`);
  }
  // a surrogate in a key or nested value is refused just the same
  const nested = await raw('POST', '/account', `{"email":"${email}","nickname":"ok","password":"abcd1234","x":{"\\ud800":1}}`);
  assert.equal(nested.status, 400, nested.body);
  const li = await raw('POST', '/account/login', `{"email":"${email}","password":"abcd1234"}`);
  assert.notEqual(li.status, 200, 'no account was made');
  // an escaped pair is one emoji: accepted and stored as it is
  const ok = await raw('POST', '/account', `{"email":"${email}","nickname":"동물\\ud83d\\ude00","password":"abcd1234"}`);
  assert.ok(ok.status === 200 || ok.status === 201, ok.body);
  const li2 = await raw('POST', '/account/login', `{"email":"${email}","password":"abcd1234"}`);
  assert.equal(li2.status, 200, li2.body);
  const me = await srv.req('GET', `/users/${li2.json.userId}`, { token: li2.json.token });
  assert.equal(me.status, 200, me.body);
  assert.ok(me.body.includes('동물😀'), me.body);

  // sockets: the lone surrogate in sendMsg is refused (the sender's socket
  // is closed as for any malformed packet); nothing is stored, every
  // other member's socket stays up and the room goes on
  const [O, B] = [await srv.user({ address: ADDR }), await srv.user()];
  const it = await postItem(srv, O);
  assert.equal(it.status, 201, it.body);
  const { icrId } = it.json;
  const os = await connect(srv, O, { icrId });
  const bs = await connect(srv, B);
  try {
    assert.equal((await emit(bs, 'joinRoom', { icrId })).msg, 'success');
    const gone = disconnected(bs);
    bs.emit('sendMsg', { icrId, chatMsg: 'x\ud800y' }); // JSON.stringify writes \ud800
    await gone;
    assert.ok(os.connected, 'the owner\'s socket survived');
    assert.equal((await emit(os, 'sendMsg', { icrId, chatMsg: '😀 괜찮아요' })).msg, 'success');
    const all = await messages(srv, O, icrId);
    assert.ok(!all.some((m) => /^x.*y$/.test(m.chatMsg)), `stored: ${JSON.stringify(all)}`);
    assert.ok(all.some((m) => m.chatMsg === '😀 괜찮아요'));
    // a fresh member's setRoom replays the history without breaking
    const again = await connect(srv, B, { icrId });
    await until(() => again.got.setRoom, 10000, 'setRoom');
    again.close();
  } finally {
    os.close(); bs.close();
  }
});

test('start-up repair: invalid UTF-8 stored by an older build is replaced by U+FFFD and logged', async () => {
  // an older database (schema 1) made by this build's start, then written
  // the way the old parser let through: ED A0 80 in a nickname and a title
  const srv0 = await start({ args: RL });
  const u = await srv0.user({ address: ADDR });
  const it = await postItem(srv0, u, { title: 'placeholder' });
  assert.equal(it.status, 201, it.body);
  await stopOk(srv0);
  const db = path.join(srv0.data, 'dongmul.db');
  execFileSync('python3', ['-c', `
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("UPDATE user SET nickname = CAST(x'41eda08042' AS TEXT) WHERE userId = ?", (int(sys.argv[2]),))
c.execute("UPDATE saleItem SET title = CAST(x'ff' || CAST('물건' AS BLOB) AS TEXT) WHERE itemId = ?", (int(sys.argv[3]),))
# an item deleted at the top once expired: its record must not match a new item
c.execute("INSERT INTO notification(userId, type, payload, coalesceKey, createdDt, updatedDt) VALUES (?, 'expired', '{}', ?, 1, 1)", (int(sys.argv[2]), 'expired:%d' % (int(sys.argv[3]) + 5)))
c.execute("PRAGMA user_version = 1")
c.commit()
`, db, String(u.userId), String(it.json.itemId)]);
  const srv = await start({ data: srv0.data, args: RL });
  try {
    const log = srv.log();
    assert.match(log, /repaired 1 value\(s\) of user\.nickname/);
    assert.match(log, /repaired 1 value\(s\) of saleItem\.title/);
    assert.match(log, /database migrated from schema 1 to \d+/);
    const li = await srv.req('POST', '/account/login', { body: { email: u.email, password: u.password } });
    assert.equal(li.status, 200, li.body);
    const me = await srv.req('GET', `/users/${u.userId}`, { token: li.json.token });
    assert.ok(me.body.includes('A\ufffd\ufffd\ufffdB'), me.body);
    const d = await srv.req('GET', `/postDetail/${it.json.itemId}`, { token: li.json.token });
    assert.ok(d.body.includes('\ufffd물건'), d.body);
    assert.ok(fs.existsSync(`${db}.v1`), 'the old file is kept');
    const next = await postItem(srv, { ...u, token: li.json.token });
    assert.equal(next.status, 201, next.body);
    assert.ok(Number(next.json.itemId) > Number(it.json.itemId) + 5, `new item id ${next.json.itemId}`);
  } finally {
    await stopOk(srv);
  }
});

test('logout and a new password close that login\'s sockets at once', async (t) => {
  const srv = await start({ args: RL });
  t.after(() => stopOk(srv));
  const O = await srv.user({ address: ADDR });
  const it = await postItem(srv, O);
  const { icrId } = it.json;
  const U = await srv.user();
  // a second login of the same user (another device: another family)
  const li2 = await srv.req('POST', '/account/login', { body: { email: U.email, password: U.password } });
  const U2 = { ...U, token: li2.json.token };
  const os = await connect(srv, O, { icrId });
  const s1 = await connect(srv, U);
  const s2 = await connect(srv, U2);
  try {
    assert.equal((await emit(s1, 'joinRoom', { icrId })).msg, 'success');
    const gone = disconnected(s1);
    const lo = await srv.req('GET', '/account/logout', { token: U.token });
    assert.equal(lo.status, 200, lo.body);
    assert.ok(await Promise.race([gone, sleep(15000).then(() => false)]), 'socket still open after logout');
    // its token cannot open a new socket; the other login's socket works on
    await assert.rejects(connect(srv, U));
    assert.ok(s2.connected);
    assert.equal((await emit(s2, 'sendMsg', { icrId, chatMsg: '다른 기기' })).msg, 'success');

    // a new password (reset code from the log: no --smtp) ends every session
    const gone2 = disconnected(s2);
    const sp = await srv.req('POST', '/account/sendpassword', { body: { email: U.email } });
    assert.equal(sp.status, 200, sp.body);
    const line = await until(() => srv.log().split('\n').find((l) => l.includes(`mail (no --smtp; not sent) to ${U.email}`)), 10000, 'reset mail');
    const code = line.match(/\b(\d{6})\b/)[1];
    const cp = await srv.req('POST', '/account/changepassword', { body: { email: U.email, passwordchkNum: Number(code), newpassword: 'newpass123' } });
    assert.equal(cp.status, 200, cp.body);
    assert.ok(await Promise.race([gone2, sleep(15000).then(() => false)]), 'socket still open after a new password');
    assert.ok(os.connected, 'the owner was not touched');
  } finally {
    os.close(); s1.close(); s2.close();
  }
});

test('orphan photos: at start, files no item refers to and older than the sweep are removed', async () => {
  const srv0 = await start({ args: RL });
  const u = await srv0.user({ address: ADDR });
  const it = await postItem(srv0, u);
  assert.equal(it.status, 201, it.body);
  await stopOk(srv0);
  const dir = path.join(srv0.data, 'images');
  const used = path.join(dir, path.basename(it.json.image));
  assert.ok(fs.existsSync(used), `the posted photo ${used}`);
  const old = new Date(Date.now() - 3600e3);
  const orphan = path.join(dir, `${'ab'.repeat(32)}.png`);
  const fresh = path.join(dir, `${'cd'.repeat(32)}.jpg`); // "just placed": newer than the sweep
  const other = path.join(dir, 'notes.txt'); // not a photo name: never ours to remove
  for (const f of [orphan, fresh, other]) fs.writeFileSync(f, 'x');
  for (const f of [orphan, used, other]) fs.utimesSync(f, old, old);
  const future = new Date(Date.now() + 3600e3);
  fs.utimesSync(fresh, future, future);
  const srv = await start({ data: srv0.data, args: RL });
  try {
    // the sweep logs its end; without one, give it the same time
    await until(() => /orphan sweep done/.test(srv.log()), 15000, 'the sweep').catch(() => {});
    assert.ok(!fs.existsSync(orphan), 'the orphan is gone');
    assert.ok(fs.existsSync(used), 'the referenced photo stays');
    assert.ok(fs.existsSync(fresh), 'a file newer than the sweep stays');
    assert.ok(fs.existsSync(other), 'other names stay');
    assert.match(srv.log(), new RegExp(`removed ${'ab'.repeat(32)}\\.png`));
    const img = await srv.req('GET', `/images/${path.basename(used)}`);
    assert.equal(img.status, 200);
  } finally {
    await stopOk(srv);
  }
});

test('access log: control characters a client sends are escaped, never a line of their own', async (t) => {
  const srv = await start({ args: RL });
  t.after(() => stopOk(srv));
  const forged = '2026-01-01T00:00:00.000+09:00 info 10.0.0.1 GET /admin 200 0ms user=1';
  const p = `/nope%0a${encodeURIComponent(forged)}%0d%1b[31m%7f`;
  const r = await srv.req('GET', p);
  assert.equal(r.status, 404);
  await until(() => srv.log().includes('/nope'), 5000, 'the access log line');
  const lines = srv.log().split('\n');
  assert.ok(!lines.some((l) => l.startsWith('2026-01-01T00:00:00.000+09:00')), 'a forged line');
  const line = lines.find((l) => l.includes('/nope'));
  assert.ok(line.includes(`/nope\\n${forged}\\r\\x1b[31m\\x7f`), line);
  assert.ok(!/[\x00-\x1f\x7f]/.test(line), line);
});

// A valid PNG of about `bytes` bytes: a real image with a private
// ancillary chunk of random bytes (different content each time).
const img = require('./lib/img');
function bigPng(bytes) {
  const base = img.png({ w: 3, h: 3, seed: Math.floor(Math.random() * 256) });
  const data = require('node:crypto').randomBytes(bytes);
  const td = Buffer.concat([Buffer.from('prVt', 'latin1'), data]);
  const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4); crc.writeUInt32BE(img.crc32(td) >>> 0);
  const iend = base.length - 12;
  return Buffer.concat([base.subarray(0, iend), len, td, crc, base.subarray(iend)]);
}
async function postPhoto(srv, u, photo) {
  const mp = img.multipart([
    { name: 'file', filename: 'p.png', type: 'image/png', data: photo },
    { name: 'category', value: '기타 중고물품' },
    { name: 'title', value: '사진 많은 물건' },
    { name: 'wantItem', value: '책' },
    { name: 'comment', value: '할당량 테스트' },
    { name: 'deadLine', value: new Date(Date.now() + 86400e3).toISOString() },
  ]);
  return srv.req('POST', '/mainPage/write', { body: mp.body, token: u.token, headers: { 'content-type': mp.contentType } });
}

test('quotas: messages, posts and uploads per user are rate limited (429 / RATE_LIMITED); storage per user is capped', async (t) => {
  // by environment (DONGMUL_*, as good as the flags): a build without
  // quotas starts too, and fails on what it lets through
  const srv = await start({ args: RL, env: { DONGMUL_QUOTA_MESSAGES: '5', DONGMUL_QUOTA_POSTS: '3', DONGMUL_QUOTA_UPLOAD_MB: '1' } });
  t.after(() => stopOk(srv));
  const [O, B, C] = [await srv.user({ address: ADDR }), await srv.user(), await srv.user()];

  await t.test('chat messages', async () => {
    const it = await postItem(srv, O);
    assert.equal(it.status, 201, it.body);
    const { icrId } = it.json;
    const b1 = await connect(srv, B);
    const b2 = await connect(srv, B); // a second socket shares the user's rate
    const cs = await connect(srv, C);
    try {
      for (const s of [b1, cs]) assert.equal((await emit(s, 'joinRoom', { icrId })).msg, 'success');
      for (let i = 0; i < 5; i++) assert.equal((await emit(i % 2 ? b2 : b1, 'sendMsg', { icrId, chatMsg: `m${i}` })).msg, 'success', `message ${i}`);
      const r = await emit(b2, 'sendMsg', { icrId, chatMsg: 'one too many' });
      assert.equal(r.code, 'RATE_LIMITED', JSON.stringify(r));
      assert.equal(typeof r.errorMsg, 'string');
      b1.emit('sendMsg', { icrId, chatMsg: 'no ack' });
      await until(() => (b1.got.error || []).some((e) => e.code === 'RATE_LIMITED'), 10000, 'error event');
      // another user is not affected
      assert.equal((await emit(cs, 'sendMsg', { icrId, chatMsg: '저는 괜찮아요' })).msg, 'success');
      const all = await messages(srv, O, icrId);
      assert.ok(!all.some((m) => m.chatMsg === 'one too many' || m.chatMsg === 'no ack'));
    } finally {
      b1.close(); b2.close(); cs.close();
    }
  });

  await t.test('posts', async () => {
    const P = await srv.user({ address: ADDR });
    for (let i = 0; i < 3; i++) assert.equal((await postItem(srv, P)).status, 201, `post ${i}`);
    const r = await postItem(srv, P);
    assert.equal(r.status, 429, r.body);
    assert.equal(r.json.code, 'RATE_LIMITED');
    assert.equal((await postItem(srv, O)).status, 201, 'another user still posts');
  });

  await t.test('uploads', async () => {
    const U = await srv.user({ address: ADDR });
    const a = await postPhoto(srv, U, bigPng(600 * 1024));
    assert.equal(a.status, 201, a.body);
    const before = fs.readdirSync(path.join(srv.data, 'images')).length;
    const b = await postPhoto(srv, U, bigPng(600 * 1024));
    assert.equal(b.status, 429, b.body);
    assert.equal(b.json.code, 'RATE_LIMITED');
    assert.ok(Number(b.headers['retry-after']) >= 1);
    assert.equal(fs.readdirSync(path.join(srv.data, 'images')).length, before, 'the refused photo is not kept');
    assert.equal((await postPhoto(srv, O, bigPng(600 * 1024))).status, 201, 'another user still uploads');
  });
});

test('storage quota: a user whose items hold the quota cannot post more photos until one is deleted', async (t) => {
  const srv = await start({ args: RL, env: { DONGMUL_QUOTA_STORAGE_MB: '1' } });
  t.after(() => stopOk(srv));
  const U = await srv.user({ address: ADDR });
  const a = await postPhoto(srv, U, bigPng(700 * 1024));
  assert.equal(a.status, 201, a.body);
  const before = fs.readdirSync(path.join(srv.data, 'images')).length;
  const b = await postPhoto(srv, U, bigPng(700 * 1024));
  assert.equal(b.status, 429, b.body);
  assert.equal(b.json.code, 'QUOTA_EXCEEDED');
  assert.match(b.json.errorMsg, /1MB/);
  assert.equal(fs.readdirSync(path.join(srv.data, 'images')).length, before, 'the refused photo is not stored');
  const V = await srv.user({ address: ADDR });
  assert.equal((await postPhoto(srv, V, bigPng(700 * 1024))).status, 201, 'another user is not affected');
  const del = await srv.req('DELETE', '/myPage/delete', { token: U.token, body: { itemId: a.json.itemId } });
  assert.equal(del.status, 200, del.body);
  assert.equal((await postPhoto(srv, U, bigPng(700 * 1024))).status, 201, 'room again after a delete');
});
