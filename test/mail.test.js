// Mail delivery against real SMTP servers on loopback: STARTTLS and
// smtps:// with certificates from a test CA (--ca-bundle), AUTH PLAIN and
// LOGIN, the MIME shape of a code mail, an untrusted certificate, an SMTP
// outage, a dongmul restart with mail still queued, and the log fallback.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { start, sleep, freePort } = require('./lib/dongmul');
const { startSmtp, codeOf } = require('./lib/smtp');
const { makeCA } = require('./lib/testca');

let ca, rogue;
const cleanup = [];

before(() => { ca = makeCA(); rogue = makeCA('rogue'); });
after(async () => {
  for (const f of cleanup.reverse()) await f();
  ca.cleanup();
  rogue.cleanup();
});

async function boot(args, opts = {}) {
  const s = await start({ ...opts, args: ['--ca-bundle', ca.caFile, '--rate-mail', '1000', ...args] });
  cleanup.push(async () => { const r = await s.stop(); assert.equal(r.code, 0, s.log().slice(-2000)); });
  return s;
}
async function smtpServer(o) {
  const m = await startSmtp(o);
  cleanup.push(() => m.stop());
  return m;
}

let seq = 0;
function freshEmail() { seq += 1; return `mail${process.pid}x${seq}@example.com`; }

test('STARTTLS + AUTH PLAIN: a Korean multipart/alternative code mail', async () => {
  const smtp = await smtpServer({ tls: ca, mode: 'starttls', auth: { user: 'dongmul', pass: 'p@ss:word' } });
  const s = await boot(['--smtp', smtp.url, '--mail-from', '동물마켓 <no-reply@dongmul.test>']);
  const email = freshEmail();
  assert.equal((await s.req('POST', '/account/mail', { body: { email } })).status, 200);
  const m = await smtp.waitFor((x) => x.to.includes(email));
  assert.equal(m.secure, true, 'upgraded with STARTTLS');
  assert.equal(m.user, 'dongmul');
  assert.equal(m.from, 'no-reply@dongmul.test');
  assert.equal(m.subject, '[동물마켓] 회원가입 인증번호 안내');
  assert.match(m.mail.headerLines.find((h) => h.key === 'subject').line, /=\?UTF-8\?B\?/);
  assert.equal(m.mail.from.value[0].name, '동물마켓');
  assert.match(m.mail.headers.get('content-type').value, /multipart\/alternative/);
  const code = codeOf(m);
  assert.match(code, /^[1-9]\d{5}$/);
  assert.match(m.text, /동물마켓/);
  assert.ok(m.html.includes(code) && m.html.includes('동물마켓'), m.html);
  // the code works
  const c = await s.req('POST', '/account/mail/check', { body: { email, authchkNum: Number(code) } });
  assert.equal(c.status, 200);
});

test('smtps:// (TLS from the first byte) with AUTH LOGIN', async () => {
  const smtp = await smtpServer({ tls: ca, mode: 'implicit', auth: { user: 'u1', pass: 'secret' }, authMethods: ['LOGIN'] });
  const s = await boot(['--smtp', smtp.url]);
  const email = freshEmail();
  assert.equal((await s.req('POST', '/account/sendpassword', { body: { email } })).status, 200);
  // an unknown email gets no mail: sign one up first and ask for its reset
  const u = await s.user();
  assert.equal((await s.req('POST', '/account/sendpassword', { body: { email: u.email } })).status, 200);
  const m = await smtp.waitFor((x) => x.to.includes(u.email));
  assert.equal(m.secure, true);
  assert.equal(m.user, 'u1');
  assert.match(m.subject, /비밀번호 재설정/);
  assert.equal(smtp.mails.filter((x) => x.to.includes(email)).length, 0);
});

test('a certificate from an untrusted CA is refused; nothing is sent', async () => {
  const smtp = await smtpServer({ tls: rogue, mode: 'starttls' });
  const s = await boot(['--smtp', smtp.url]);
  const email = freshEmail();
  assert.equal((await s.req('POST', '/account/mail', { body: { email } })).status, 200);
  const t0 = Date.now();
  while (!/not trusted/.test(s.log()) && Date.now() - t0 < 10000) await sleep(50);
  assert.match(s.log(), /certificate not trusted/);
  assert.equal(smtp.mails.length, 0);
});

test('wrong SMTP credentials: the mail waits in the outbox', async () => {
  const smtp = await smtpServer({ tls: ca, mode: 'starttls', auth: { user: 'a', pass: 'right' } });
  const url = smtp.url.replace(':right@', ':wrong@');
  const s = await boot(['--smtp', url]);
  const email = freshEmail();
  assert.equal((await s.req('POST', '/account/mail', { body: { email } })).status, 200);
  const t0 = Date.now();
  while (!/authentication refused/.test(s.log()) && Date.now() - t0 < 10000) await sleep(50);
  assert.match(s.log(), /SMTP authentication refused/);
  assert.equal(smtp.mails.length, 0);
});

test('the SMTP server down for a while: the mail arrives after it comes back', async () => {
  const smtp = await smtpServer({ tls: ca, mode: 'starttls' });
  await smtp.stop();
  const s = await boot(['--smtp', smtp.url]);
  const email = freshEmail();
  assert.equal((await s.req('POST', '/account/mail', { body: { email } })).status, 200);
  const t0 = Date.now();
  while ((s.log().match(/will retry/g) || []).length < 2 && Date.now() - t0 < 15000) await sleep(50);
  assert.ok((s.log().match(/will retry/g) || []).length >= 2, 'retried while down');
  await smtp.restart();
  const m = await smtp.waitFor((x) => x.to.includes(email), 30000);
  assert.match(codeOf(m), /^\d{6}$/);
});

test('no mail is lost across a restart', async () => {
  const port = await freePort();
  const url = `smtp://127.0.0.1:${port}`;
  const a = await start({ args: ['--ca-bundle', ca.caFile, '--smtp', url] });
  const email = freshEmail();
  assert.equal((await a.req('POST', '/account/mail', { body: { email } })).status, 200);
  assert.equal((await a.stop()).code, 0);
  const smtp = await smtpServer({ tls: ca, mode: 'starttls', port });
  const b = await boot(['--smtp', url], { data: a.data });
  const m = await smtp.waitFor((x) => x.to.includes(email), 30000);
  assert.match(codeOf(m), /^\d{6}$/);
  assert.equal(smtp.mails.filter((x) => x.to.includes(email)).length, 1);
  assert.ok(b);
});

test('without --smtp each mail goes to the log, and start-up says so', async () => {
  const s = await boot([]);
  assert.match(s.log(), /no --smtp configured/);
  const email = freshEmail();
  assert.equal((await s.req('POST', '/account/mail', { body: { email } })).status, 200);
  const t0 = Date.now();
  let x;
  while (!(x = new RegExp(`to ${email.replace(/\./g, '\\.')}: .*인증번호는 (\\d{6})`).exec(s.log())) && Date.now() - t0 < 10000) await sleep(50);
  assert.ok(x, 'the code is in the log');
  const c = await s.req('POST', '/account/mail/check', { body: { email, authchkNum: Number(x[1]) } });
  assert.equal(c.status, 200);
});

test('a bad --smtp URL stops the start with a clear message', async () => {
  await assert.rejects(start({ args: ['--smtp', 'smtp://user@host:25'] }), /--smtp: cannot parse/);
});
