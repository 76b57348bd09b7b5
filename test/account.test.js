// Accounts against the real binary and a real SMTP server on loopback:
// emailed codes (sign-up and reset), sign-up, login, access and refresh
// tokens, logout, password reset, rate limits, no email enumeration.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { start, sleep } = require('./lib/dongmul');
const { startSmtp, codeOf } = require('./lib/smtp');

let smtp, srv;
const servers = [];

async function boot(args, opts = {}) {
  const s = await start({ ...opts, args: ['--no-email-verification=0', '--smtp', smtp.url, ...args] });
  servers.push(s);
  return s;
}

before(async () => {
  smtp = await startSmtp({ mode: 'plain' });
  srv = await boot(['--rate-login', '1000', '--rate-mail', '1000']);
});

after(async () => {
  for (const s of servers) {
    const r = await s.stop();
    assert.equal(r.code, 0, `dongmul exit ${JSON.stringify(r)}\n${s.log().slice(-2000)}`);
  }
  await smtp.stop();
});

let seq = 0;
function freshEmail() { seq += 1; return `acct${process.pid}x${seq}@example.com`; }

// Asks for a code and reads it from the mailbox.
async function mailCode(s, email, path = '/account/mail') {
  const before_ = smtp.mails.filter((m) => m.to.includes(email)).length;
  const r = await s.req('POST', path, { body: { email } });
  assert.equal(r.status, 200, r.body);
  assert.deepEqual(r.json, { msg: 'success' });
  const t0 = Date.now();
  for (;;) {
    const ms = smtp.mails.filter((m) => m.to.includes(email));
    if (ms.length > before_) return codeOf(ms[ms.length - 1]);
    if (Date.now() - t0 > 15000) throw new Error(`no mail for ${email}`);
    await sleep(50);
  }
}

async function signUp(s, email, password = 'abcd1234', nickname = '동물친구') {
  const code = await mailCode(s, email);
  const c = await s.req('POST', '/account/mail/check', { body: { email, authchkNum: Number(code) } });
  assert.equal(c.status, 200, c.body);
  const r = await s.req('POST', '/account', { body: { email, nickname, password } });
  assert.equal(r.status, 201, r.body);
  const li = await s.req('POST', '/account/login', { body: { email, password } });
  assert.equal(li.status, 200, li.body);
  return { email, password, ...li.json };
}

// A request from another loopback source address (per-IP limits).
function reqFrom(s, ip, method, path, body) {
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const rq = http.request(`${s.url}${path}`, {
      method, localAddress: ip, agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json; try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, json, body: text });
      });
    });
    rq.on('error', reject);
    rq.end(data);
  });
}

test('sign-up flow: code by mail, check, sign up, log in', async () => {
  const email = freshEmail();
  // not verified yet: refused
  const early = await srv.req('POST', '/account', { body: { email, nickname: '이웃', password: 'abcd1234' } });
  assert.equal(early.status, 403);
  assert.equal(early.json.code, 'EMAIL_NOT_VERIFIED');
  const code = await mailCode(srv, email);
  assert.match(code, /^[1-9]\d{5}$/);
  // the code is a JSON number (a string is refused: test/contract.test.js)
  const c = await srv.req('POST', '/account/mail/check', { body: { email, authchkNum: Number(code) } });
  assert.equal(c.status, 200, c.body);
  const r = await srv.req('POST', '/account', { body: { email, nickname: '이웃사촌', password: 'abcd1234' } });
  assert.equal(r.status, 201, r.body);
  assert.ok(r.json.userId);
  const li = await srv.req('POST', '/account/login', { body: { email, password: 'abcd1234' } });
  assert.equal(li.status, 200);
  assert.equal(li.json.email, email);
  assert.equal(li.json.nickname, '이웃사촌');
  assert.equal(li.json.address, null);
  assert.equal(li.json.userId, r.json.userId);
  assert.match(li.json.token, /^bearer [^=]+$/);
  assert.ok(li.json.refreshToken);
  // the email is taken now, for codes and for sign-up
  const again = await srv.req('POST', '/account/mail', { body: { email } });
  assert.equal(again.status, 409);
  assert.equal(again.json.code, 'EMAIL_EXISTS');
  const dup = await srv.req('POST', '/account', { body: { email, nickname: '또다른', password: 'abcd1234' } });
  assert.equal(dup.status, 409);
});

test('a verified code signs up one account only', async () => {
  const email = freshEmail();
  const code = await mailCode(srv, email);
  assert.equal((await srv.req('POST', '/account/mail/check', { body: { email, authchkNum: Number(code) } })).status, 200);
  // checking again: the code is spent on verification
  const twice = await srv.req('POST', '/account/mail/check', { body: { email, authchkNum: Number(code) } });
  assert.equal(twice.status, 400);
});

test('sign-up input is validated: nickname 2-20, password policy, email', async () => {
  const email = freshEmail();
  const code = await mailCode(srv, email);
  assert.equal((await srv.req('POST', '/account/mail/check', { body: { email, authchkNum: Number(code) } })).status, 200);
  const bad = [
    [{ nickname: '가', password: 'abcd1234' }, 'INVALID_NICKNAME'],
    [{ nickname: '가'.repeat(21), password: 'abcd1234' }, 'INVALID_NICKNAME'],
    [{ nickname: '  ', password: 'abcd1234' }, 'INVALID_NICKNAME'],
    [{ nickname: '이웃', password: 'abc1234' }, 'INVALID_PASSWORD'],
    [{ nickname: '이웃', password: 'abcdefgh' }, 'INVALID_PASSWORD'],
    [{ nickname: '이웃', password: '12345678' }, 'INVALID_PASSWORD'],
    [{ nickname: '이웃', password: `a1${'x'.repeat(71)}` }, 'INVALID_PASSWORD'],
  ];
  for (const [b, codeName] of bad) {
    const r = await srv.req('POST', '/account', { body: { email, ...b } });
    assert.equal(r.status, 400, JSON.stringify(b));
    assert.equal(r.json.code, codeName);
  }
  const badEmail = await srv.req('POST', '/account/mail', { body: { email: 'not-an-email' } });
  assert.equal(badEmail.status, 400);
  // the verification is still there for a valid sign-up (20 chars, 72 chars)
  const ok = await srv.req('POST', '/account', { body: { email, nickname: '가'.repeat(20), password: `a1${'x'.repeat(70)}` } });
  assert.equal(ok.status, 201, ok.body);
});

test('five wrong codes kill the code', async () => {
  const email = freshEmail();
  const code = await mailCode(srv, email);
  const wrong = String(((Number(code) - 100000 + 1) % 900000) + 100000);
  for (let i = 1; i <= 5; i++) {
    const r = await srv.req('POST', '/account/mail/check', { body: { email, authchkNum: Number(wrong) } });
    assert.equal(r.status, 400);
    assert.equal(r.json.code, i < 5 ? 'CODE_MISMATCH' : 'CODE_LOCKED');
  }
  const right = await srv.req('POST', '/account/mail/check', { body: { email, authchkNum: Number(code) } });
  assert.equal(right.status, 400);
  assert.equal(right.json.code, 'CODE_LOCKED');
  const su = await srv.req('POST', '/account', { body: { email, nickname: '이웃', password: 'abcd1234' } });
  assert.equal(su.status, 403);
});

test('malformed codes are refused without counting', async () => {
  const email = freshEmail();
  for (const v of [12345, 1234567, 'abc', 12.5, null, '012345']) {
    const r = await srv.req('POST', '/account/mail/check', { body: { email, authchkNum: v } });
    assert.equal(r.status, 400, String(v));
  }
  const none = await srv.req('POST', '/account/mail/check', { body: { email, authchkNum: 123456 } });
  assert.equal(none.json.code, 'CODE_NOT_FOUND');
});

test('one code per minute per email: a resend is 429 with Retry-After', async () => {
  const email = freshEmail();
  await mailCode(srv, email);
  const r = await srv.req('POST', '/account/mail', { body: { email } });
  assert.equal(r.status, 429);
  assert.equal(r.json.code, 'RATE_LIMITED');
  const ra = Number(r.headers['retry-after']);
  assert.ok(ra >= 1 && ra <= 60, `Retry-After ${ra}`);
  await sleep(1200);
  assert.equal(smtp.mails.filter((m) => m.to.includes(email)).length, 1);
});

test('an expired code is refused (--code-ttl)', async () => {
  const s = await boot(['--code-ttl', '1']);
  const email = freshEmail();
  const code = await mailCode(s, email);
  await sleep(1500);
  const r = await s.req('POST', '/account/mail/check', { body: { email, authchkNum: Number(code) } });
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'CODE_EXPIRED');
});

test('login: right and wrong password, unknown email look the same', async () => {
  const u = await signUp(srv, freshEmail());
  const wrong = await srv.req('POST', '/account/login', { body: { email: u.email, password: 'wrong1234' } });
  const unknown = await srv.req('POST', '/account/login', { body: { email: freshEmail(), password: 'wrong1234' } });
  assert.equal(wrong.status, 401);
  assert.equal(unknown.status, 401);
  assert.equal(wrong.body, unknown.body);
  const right = await srv.req('POST', '/account/login', { body: { email: u.email.toUpperCase(), password: u.password } });
  assert.equal(right.status, 200);
  assert.equal(right.json.userId, u.userId);
  const missing = await srv.req('POST', '/account/login', { body: { email: u.email } });
  assert.equal(missing.status, 400);
});

test('an access token expires (--access-ttl 4)', async () => {
  // no periodic writes (expiry, reminders) while it waits: the token must die by its clock alone
  const s = await boot(['--access-ttl', '4', '--no-email-verification', '--expiry-interval', '3600']);
  const u = await s.user();
  // many workers verify it (and keep it in their caches of verified tokens)
  const burst = async () => new Set((await Promise.all(
    Array.from({ length: 48 }, () => s.req('GET', '/myPage', { token: u.token })))).map((x) => x.status));
  assert.equal((await s.req('POST', '/account/reset', { token: u.token })).status, 200);
  await sleep(1500); // the reset's mail is delivered (a write) before the burst
  assert.deepEqual(await burst(), new Set([200]));
  await sleep(4200);
  const r = await s.req('POST', '/account/reset', { token: u.token });
  assert.equal(r.status, 401);
  assert.deepEqual(await burst(), new Set([401]), 'expired on every worker, with no write in between');
  // the refresh token still gives a new pair
  const f = await s.req('POST', '/account/refresh', { body: { refreshToken: u.refreshToken } });
  assert.equal(f.status, 200, f.body);
  assert.equal((await s.req('POST', '/account/reset', { token: f.json.token })).status, 200);
});

test('refresh rotates; a rotated token presented again revokes the family', async () => {
  const u = await signUp(srv, freshEmail());
  const f1 = await srv.req('POST', '/account/refresh', { body: { refreshToken: u.refreshToken } });
  assert.equal(f1.status, 200, f1.body);
  assert.notEqual(f1.json.refreshToken, u.refreshToken);
  assert.equal(f1.json.userId, u.userId);
  assert.equal((await srv.req('POST', '/account/reset', { token: f1.json.token })).status, 200);
  const f2 = await srv.req('POST', '/account/refresh', { body: { refreshToken: f1.json.refreshToken } });
  assert.equal(f2.status, 200);
  // the first token again: theft assumed, the family dies
  const reuse = await srv.req('POST', '/account/refresh', { body: { refreshToken: u.refreshToken } });
  assert.equal(reuse.status, 401);
  assert.equal(reuse.json.code, 'REFRESH_REUSED');
  const latest = await srv.req('POST', '/account/refresh', { body: { refreshToken: f2.json.refreshToken } });
  assert.equal(latest.status, 401);
  // ... and so does every access token of that login
  assert.equal((await srv.req('POST', '/account/reset', { token: f2.json.token })).status, 401);
  // a login on another device is a different family and lives on
  const other = await srv.req('POST', '/account/login', { body: { email: u.email, password: u.password } });
  assert.equal((await srv.req('POST', '/account/reset', { token: other.json.token })).status, 200);
  const junk = await srv.req('POST', '/account/refresh', { body: { refreshToken: 'not-a-token' } });
  assert.equal(junk.status, 401);
});

test('logout ends this session; ?all=1 ends every session', async () => {
  const u = await signUp(srv, freshEmail());
  const other = (await srv.req('POST', '/account/login', { body: { email: u.email, password: u.password } })).json;
  const third = (await srv.req('POST', '/account/login', { body: { email: u.email, password: u.password } })).json;
  const lo = await srv.req('GET', '/account/logout', { token: u.token });
  assert.equal(lo.status, 200);
  assert.equal((await srv.req('POST', '/account/reset', { token: u.token })).status, 401);
  assert.equal((await srv.req('POST', '/account/refresh', { body: { refreshToken: u.refreshToken } })).status, 401);
  // the other logins are untouched
  assert.equal((await srv.req('POST', '/account/reset', { token: other.token })).status, 200);
  const ro = await srv.req('POST', '/account/refresh', { body: { refreshToken: other.refreshToken } });
  assert.equal(ro.status, 200);
  // everywhere
  assert.equal((await srv.req('GET', '/account/logout?all=1', { token: ro.json.token })).status, 200);
  assert.equal((await srv.req('POST', '/account/reset', { token: third.token })).status, 401);
  assert.equal((await srv.req('POST', '/account/refresh', { body: { refreshToken: third.refreshToken } })).status, 401);
  assert.equal((await srv.req('GET', '/account/logout')).status, 401);
});

test('a token verified by many workers (each keeps recent tokens) dies on all of them at once', async () => {
  // 48 requests at a time spread the token over the workers' caches of
  // verified tokens; every revocation must reach all of them at once
  const burst = async (token) => (await Promise.all(
    Array.from({ length: 48 }, () => srv.req('GET', '/myPage', { token })))).map((r) => r.status);
  const u = await signUp(srv, freshEmail());
  const other = (await srv.req('POST', '/account/login', { body: { email: u.email, password: u.password } })).json;
  assert.deepEqual(new Set(await burst(u.token)), new Set([200]));
  assert.deepEqual(new Set(await burst(other.token)), new Set([200]));
  assert.equal((await srv.req('GET', '/account/logout', { token: u.token })).status, 200);
  assert.deepEqual(new Set(await burst(u.token)), new Set([401]), 'logged-out token refused by every worker');
  assert.deepEqual(new Set(await burst(other.token)), new Set([200]), 'the other session lives');
  assert.equal((await srv.req('GET', '/account/logout?all=1', { token: other.token })).status, 200);
  assert.deepEqual(new Set(await burst(other.token)), new Set([401]), 'revoke-all reaches every worker');
});

test('password reset by mailed code revokes every session', async () => {
  const u = await signUp(srv, freshEmail());
  const code = await mailCode(srv, u.email, '/account/sendpassword');
  const m = smtp.mails.filter((x) => x.to.includes(u.email)).pop();
  assert.match(m.subject, /비밀번호 재설정/);
  const wrong = await srv.req('POST', '/account/changepassword', { body: { email: u.email, passwordchkNum: 100000 + ((Number(code) - 99999) % 900000), newpassword: 'newpass123' } });
  assert.equal(wrong.status, 400);
  assert.equal(wrong.json.code, 'CODE_MISMATCH');
  const weak = await srv.req('POST', '/account/changepassword', { body: { email: u.email, passwordchkNum: Number(code), newpassword: 'short' } });
  assert.equal(weak.status, 400);
  const ok = await srv.req('POST', '/account/changepassword', { body: { email: u.email, passwordchkNum: Number(code), newpassword: 'newpass123' } });
  assert.equal(ok.status, 200, ok.body);
  assert.equal((await srv.req('POST', '/account/reset', { token: u.token })).status, 401);
  assert.equal((await srv.req('POST', '/account/refresh', { body: { refreshToken: u.refreshToken } })).status, 401);
  assert.equal((await srv.req('POST', '/account/login', { body: { email: u.email, password: u.password } })).status, 401);
  const li = await srv.req('POST', '/account/login', { body: { email: u.email, password: 'newpass123' } });
  assert.equal(li.status, 200);
  // the code is spent
  const again = await srv.req('POST', '/account/changepassword', { body: { email: u.email, passwordchkNum: Number(code), newpassword: 'other1234' } });
  assert.equal(again.status, 400);
});

test('no email enumeration: sendpassword and changepassword answer alike for unknown emails', async () => {
  const u = await signUp(srv, freshEmail());
  const stranger = freshEmail();
  const known = await srv.req('POST', '/account/sendpassword', { body: { email: u.email } });
  const unknown = await srv.req('POST', '/account/sendpassword', { body: { email: stranger } });
  assert.equal(known.status, unknown.status);
  assert.equal(known.body, unknown.body);
  // the throttle answers alike too
  const known2 = await srv.req('POST', '/account/sendpassword', { body: { email: u.email } });
  const unknown2 = await srv.req('POST', '/account/sendpassword', { body: { email: stranger } });
  assert.equal(known2.status, 429);
  assert.equal(unknown2.status, 429);
  assert.equal(known2.body, unknown2.body);
  const ck = await srv.req('POST', '/account/changepassword', { body: { email: u.email, passwordchkNum: 111111, newpassword: 'abcd12345' } });
  const cu = await srv.req('POST', '/account/changepassword', { body: { email: stranger, passwordchkNum: 111111, newpassword: 'abcd12345' } });
  assert.equal(ck.status, cu.status);
  assert.equal(ck.json.code, cu.json.code);
  await smtp.waitFor((m) => m.to.includes(u.email) && /비밀번호/.test(m.subject));
  await sleep(1500);
  assert.equal(smtp.mails.filter((m) => m.to.includes(stranger)).length, 0);
});

test('login rehashes a password when --pbkdf2-iterations changes', async () => {
  const a = await boot(['--no-email-verification']);
  const u = await a.user();
  assert.equal((await a.stop()).code, 0);
  const b = await boot(['--no-email-verification', '--pbkdf2-iterations', '2000'], { data: a.data });
  const rehashes = () => (b.log().match(/password rehashed with 2000 iterations/g) || []).length;
  const before_ = rehashes();
  assert.equal((await b.req('POST', '/account/login', { body: { email: u.email, password: u.password } })).status, 200);
  assert.equal(rehashes(), before_ + 1);
  // stored with the new count now: no second rehash, and it still verifies
  assert.equal((await b.req('POST', '/account/login', { body: { email: u.email, password: u.password } })).status, 200);
  assert.equal(rehashes(), before_ + 1);
});

test('rate limits per IP and per email, each recovering after the window', async () => {
  const s = await boot(['--rate-login', '3', '--rate-mail', '2', '--rate-window', '2']);
  // (logins are counted per address and per (email, address): see below)
  const cases = [
    ['/account/mail/check', (e) => ({ email: e, authchkNum: 123456 }), 3],
    ['/account/changepassword', (e) => ({ email: e, passwordchkNum: 123456, newpassword: 'abcd12345' }), 3],
    ['/account/mail', (e) => ({ email: e }), 2],
    ['/account/sendpassword', (e) => ({ email: e }), 2],
  ];
  for (const [path, body, limit] of cases) {
    // per IP: different emails from one address
    let last;
    for (let i = 0; i <= limit; i++) last = await reqFrom(s, '127.0.0.2', 'POST', path, body(freshEmail()));
    assert.equal(last.status, 429, `${path} per IP`);
    const ra = Number(last.headers['retry-after']);
    assert.ok(ra >= 1 && ra <= 2, `${path} Retry-After ${ra}`);
    // per email: one email from different addresses
    const email = freshEmail();
    for (let i = 0; i <= limit; i++) last = await reqFrom(s, `127.0.0.${10 + i}`, 'POST', path, body(email));
    assert.equal(last.status, 429, `${path} per email`);
    await sleep(2100);
    // the address recovers ...
    const again = await reqFrom(s, '127.0.0.2', 'POST', path, body(freshEmail()));
    assert.notEqual(again.status, 429, `${path}: the IP recovers`);
    // ... and so does the email (where sending mail, the one-code-a-minute
    // rule still holds for that email: that is a separate limit)
    if (limit === 3) {
      const em = await reqFrom(s, '127.0.0.99', 'POST', path, body(email));
      assert.notEqual(em.status, 429, `${path}: the email recovers`);
    }
  }
});

test('wrong passwords from other addresses do not lock the owner out; guessers are limited per address', async () => {
  const s = await boot(['--rate-login', '3']);
  const owner = await signUp(s, freshEmail());
  const other = await signUp(s, freshEmail());
  const login = (ip, email, password) => reqFrom(s, ip, 'POST', '/account/login', { email, password });
  // a stranger guesses: 3 failures, then refused for that address
  const seen = [];
  for (let i = 0; i < 11; i++) seen.push((await login('127.0.0.2', owner.email, `guess${i}xyz1`)).status);
  assert.deepEqual(seen, [401, 401, 401, 429, 429, 429, 429, 429, 429, 429, 429]);
  // more strangers elsewhere: each address gets its own 3
  for (const ip of ['127.0.0.3', '127.0.0.4']) {
    for (let i = 0; i < 3; i++) assert.equal((await login(ip, owner.email, `other${i}xyz1`)).status, 401);
    assert.equal((await login(ip, owner.email, 'another9xyz')).status, 429, `${ip} is limited for this email`);
  }
  // the owner, from their own address, still gets in, also after a typo
  assert.equal((await login('127.0.0.9', owner.email, 'typo1234x')).status, 401);
  const ok = await login('127.0.0.9', owner.email, owner.password);
  assert.equal(ok.status, 200, ok.body);
  assert.equal(ok.json.userId, owner.userId);
  // per address over every email: the first stranger's address is spent
  // (3 × --rate-login attempts) even for a right password elsewhere ...
  const spent = await login('127.0.0.2', other.email, other.password);
  assert.equal(spent.status, 429);
  assert.ok(Number(spent.headers['retry-after']) > 0);
  // ... while 127.0.0.3, limited for the owner's email only, may still
  // log in to another account
  assert.equal((await login('127.0.0.3', other.email, other.password)).status, 200);
  // successful logins take their attempt back: one address logging in
  // again and again is never limited
  for (let i = 0; i < 12; i++) assert.equal((await login('127.0.0.10', other.email, other.password)).status, 200);
  // guessing many emails from one address: 3 × 3 failures, then 429
  const spray = [];
  for (let i = 0; i < 10; i++) spray.push((await login('127.0.0.11', freshEmail(), 'wrong1234x')).status);
  assert.deepEqual(spray, [401, 401, 401, 401, 401, 401, 401, 401, 401, 429]);
});

// Sprays fresh emails at /account/mail/check from one address: many
// requests in flight on keep-alive connections bound to ip. Resolves with
// a count of replies by status.
async function spray(s, ip, n, inflight = 16) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: inflight, localAddress: ip });
  const counts = {};
  let next = 0;
  const one = () => new Promise((resolve, reject) => {
    const data = JSON.stringify({ email: `spray${next}x${ip}x${process.pid}@example.com`, authchkNum: 123456 });
    next += 1;
    const rq = http.request(`${s.url}/account/mail/check`, {
      method: 'POST', agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
    }, (res) => { res.resume(); res.on('end', () => { counts[res.statusCode] = (counts[res.statusCode] || 0) + 1; resolve(); }); });
    rq.on('error', reject);
    rq.end(data);
  });
  await Promise.all(Array.from({ length: inflight }, async () => { while (next < n) await one(); }));
  agent.destroy();
  return counts;
}

test('spraying fresh keys does not flush the limiter: a refusing counter stays refusing', async () => {
  const s = await boot(['--rate-login', '10']);
  const check = (ip, email) => reqFrom(s, ip, 'POST', '/account/mail/check', { email, authchkNum: 123456 });
  // the victim's email: 10 wrong codes from 10 addresses; the 11th is refused
  const victim = freshEmail();
  for (let i = 0; i < 10; i++) assert.equal((await check(`127.0.1.${i + 1}`, victim)).status, 400);
  assert.equal((await check('127.0.1.50', victim)).status, 429, 'the victim email is limited');
  // the attacker's address: 10 checks, then refused
  for (let i = 0; i < 10; i++) assert.equal((await check('127.0.0.2', freshEmail())).status, 400);
  assert.equal((await check('127.0.0.2', freshEmail())).status, 429, 'the attacker address is limited');
  // spray: far more fresh emails than the limiter has entries (32,768)
  // (before, the attacker's own counter was pushed out again and again:
  // every time, 10 more checks went through)
  const counts = await spray(s, '127.0.0.2', 80000);
  assert.deepEqual(counts, { 429: 80000 }, 'every sprayed check is refused');
  // both counters still hold
  assert.equal((await check('127.0.0.2', freshEmail())).status, 429, 'the attacker address is still limited');
  assert.equal((await check('127.0.1.51', victim)).status, 429, 'the victim email counter was flushed');
  // a spray from 6,000 addresses, 10 fresh emails each (each address
  // within its limit): 66,000 new counters, twice the table
  const addrs = [];
  for (let x = 2; addrs.length < 6000; x++) for (let y = 1; y <= 250 && addrs.length < 6000; y++) addrs.push(`127.0.${x}.${y}`);
  const wide = {};
  let ai = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (ai < addrs.length) {
      const c = await spray(s, addrs[ai++], 10, 1);
      for (const [k, v] of Object.entries(c)) wide[k] = (wide[k] || 0) + v;
    }
  }));
  // each address used exactly its limit, so 6,000 counters end up spent: a
  // few sets of the table can fill with spent counters and then refuse a
  // newcomer (fail closed) until a window ends; nearly every check passes
  assert.ok(wide[400] >= 59400, `each address had (nearly all) its 10 checks: ${JSON.stringify(wide)}`);
  assert.equal(wide[400] + (wide[429] || 0), 60000, `only 400s and fail-closed 429s: ${JSON.stringify(wide)}`);
  assert.equal((await check('127.0.0.2', freshEmail())).status, 429, 'the attacker address is still limited');
  assert.equal((await check('127.0.1.52', victim)).status, 429, 'the victim email is still limited');
});

test('a burst of logins is bounded: some wait, the rest get 503 + Retry-After, other requests are served', async () => {
  // the gate is bounded by waiting time: a 1 s bound with hashes of ~0.5 s
  const s = await boot(['--no-email-verification', '--threads', '8', '--pbkdf2-iterations', '250000', '--hash-wait', '1']);
  const u = await s.user();
  const logins = Array.from({ length: 8 }, () => s.req('POST', '/account/login', { body: { email: u.email, password: u.password } }));
  await sleep(50);
  const h = await s.req('GET', '/healthz');
  const rs = await Promise.all(logins);
  assert.equal(h.status, 200);
  const ok = rs.filter((r) => r.status === 200).length;
  const busy = rs.filter((r) => r.status === 503);
  assert.ok(ok >= 1, `some logins succeed: ${rs.map((r) => r.status)}`);
  assert.ok(busy.length >= 1, `the rest are turned away: ${rs.map((r) => r.status)}`);
  for (const b of busy) {
    assert.equal(b.json.code, 'BUSY');
    assert.equal(b.headers['retry-after'], '1');
  }
});
