// The web app's pages for keyword alerts, 거래약속 and reporting a message,
// in a real browser (Debian's Chromium driven by playwright-core) at phone
// size (360×740) against the real binary: every step fails on a console
// error, an uncaught exception or an unexpected failed request, and each
// page state is checked by axe-core for serious or critical violations.
// Runs on the dev build only (like browser.test.js).
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { start } = require('./lib/dongmul');
const { postItem, connect, emit, tradeInProgress, userCmd } = require('./lib/market');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.resolve(__dirname, '../build/screenshots');
const ASAN = /\/asan\//.test(process.env.DONGMUL_BIN || '');
const PHONE = { width: 360, height: 740 };
const T = 45000;
const ADDR = '서울 강남구';

let srv;
let browser;
const contexts = [];
const skip = ASAN ? 'browser tests run on the dev build only' : false;

// A phone-sized tab of its own (cookies) recording every problem; allow(re)
// expects one response ≥ 400 whose "METHOD STATUS path" matches.
async function tab(name) {
  const ctx = await browser.newContext({ viewport: PHONE, locale: 'ko-KR', timezoneId: 'Asia/Seoul', isMobile: true, hasTouch: true });
  contexts.push(ctx);
  const page = await ctx.newPage();
  page.setDefaultTimeout(T);
  const t = { name, page, problems: [], allowed: [], soft: 0 };
  page.on('pageerror', (e) => t.problems.push(`uncaught: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (/status of 4\d\d/.test(m.text()) && t.soft > 0) { t.soft -= 1; return; }
    t.problems.push(`console: ${m.text()}`);
  });
  page.on('requestfailed', (r) => { if (!t.navigating) t.problems.push(`request failed: ${r.url()} ${r.failure() && r.failure().errorText}`); });
  page.on('response', (r) => {
    if (r.status() < 400) return;
    const key = `${r.request().method()} ${r.status()} ${new URL(r.url()).pathname}`;
    const i = t.allowed.findIndex((re) => re.test(key));
    if (i >= 0) { t.allowed.splice(i, 1); t.soft += 1; return; }
    t.problems.push(`response: ${key}`);
  });
  t.allow = (re) => t.allowed.push(re);
  return t;
}

let axeSource;
async function snap(t, name) {
  await t.page.waitForFunction(() => !document.querySelector('.loading, .skeleton'), null, { timeout: T });
  await t.page.screenshot({ path: path.join(SHOTS, `phone-${name}.png`), fullPage: true, animations: 'disabled' });
  if (!axeSource) axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  await t.page.evaluate(axeSource);
  const v = await t.page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter((x) => x.impact === 'serious' || x.impact === 'critical')
      .map((x) => `${x.impact} ${x.id}: ${x.help} — ${x.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
  });
  assert.deepEqual(v, [], `axe on ${name}`);
  assert.deepEqual(t.problems.splice(0), [], `${t.name}: problems during ${name}`);
}

async function open(t, p) {
  t.navigating = true;
  await t.page.goto(srv.url + p, { waitUntil: 'load' });
  t.navigating = false;
  await t.page.waitForSelector('main#main > *');
}

async function login(t, u) {
  await open(t, '/login');
  await t.page.getByLabel('이메일').fill(u.email);
  await t.page.getByLabel('비밀번호').fill(u.password);
  await t.page.locator('main').getByRole('button', { name: '로그인' }).click();
  await t.page.waitForURL((url) => url.pathname !== '/login');
}

const see = (t, s) => t.page.getByText(s, { exact: false }).first().waitFor({ state: 'visible' });

before(async () => {
  if (ASAN) return;
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} missing: run sh vendor/deps.sh as root (installs chromium)`);
  const { chromium } = require('playwright-core');
  fs.mkdirSync(SHOTS, { recursive: true });
  srv = await start({ args: ['--rate-login', '1000', '--report-min-age', '0'] });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'] });
});

after(async () => {
  if (ASAN) return;
  for (const c of contexts) await c.close().catch(() => {});
  if (browser) await browser.close();
  if (srv) assert.equal((await srv.stop()).code, 0);
});

test('keywords page: reached from my page, add and remove chips, a duplicate refused; a matching post shows in 알림', { skip }, async () => {
  const A = await srv.user({ address: ADDR });
  const B = await srv.user({ address: ADDR });
  const a = await tab('A');
  await login(a, A);
  await open(a, '/me');
  await a.page.locator('main').getByRole('link', { name: '키워드 알림' }).click();
  await a.page.waitForURL('**/keywords');
  await see(a, '아직 키워드가 없어요');
  await snap(a, 'keywords-empty');
  for (const w of ['자전거', '캠핑']) {
    await a.page.getByLabel('키워드', { exact: true }).fill(w);
    await a.page.locator('main').getByRole('button', { name: '등록' }).click();
    await a.page.getByRole('listitem').filter({ hasText: w }).waitFor();
  }
  await see(a, '2/30');
  await a.page.getByLabel('키워드', { exact: true }).fill('자전거');
  await a.page.locator('main').getByRole('button', { name: '등록' }).click();
  await see(a, '이미 등록한 키워드예요');
  await snap(a, 'keywords');
  await a.page.getByRole('button', { name: '캠핑 삭제' }).click();
  await see(a, '1/30');
  assert.deepEqual((await srv.req('GET', '/keywords', { token: A.token })).json.keywords, ['자전거']);
  // a neighbour's post with the keyword: the alert is listed and links to it
  const p = await postItem(srv, B, { title: '어린이 자전거 바꿔요' });
  assert.equal(p.status, 201);
  await open(a, '/alerts');
  await see(a, '키워드 알림');
  await see(a, '「자전거」');
  await snap(a, 'alerts-keyword');
});

test('거래약속 on the chat page: propose, the other side accepts, both see it, my page lists it', { skip }, async () => {
  const O = await srv.user({ address: ADDR });
  const P = await srv.user({ address: ADDR });
  const { itemId } = await tradeInProgress(srv, O, P);
  const o = await tab('owner');
  const p = await tab('partner');
  await login(o, O);
  await login(p, P);
  await open(o, `/item/${itemId}/chat`);
  await o.page.getByRole('button', { name: '거래약속 잡기' }).click();
  const when = new Date(Date.now() + 2 * 86400000);
  const pad = (n) => String(n).padStart(2, '0');
  // the browser is in Asia/Seoul (+09:00)
  const k = new Date(when.getTime() + 9 * 3600000);
  await o.page.getByLabel('날짜와 시간').fill(`${k.getUTCFullYear()}-${pad(k.getUTCMonth() + 1)}-${pad(k.getUTCDate())}T14:00`);
  await o.page.getByLabel('장소').fill('역삼역 3번 출구');
  await o.page.getByRole('button', { name: '제안하기' }).click();
  await see(o, '상대의 수락을 기다리는 중');
  await snap(o, 'chat-appointment-proposed');

  await open(p, `/item/${itemId}/chat`);
  await see(p, '약속을 제안했어요');
  await p.page.getByRole('button', { name: '수락', exact: true }).click();
  await see(p, '약속이 정해졌어요');
  await snap(p, 'chat-appointment-accepted');
  // the owner's open page hears of it through the room (system message)
  await see(o, '거래약속을 수락했습니다');
  await see(o, '약속이 정해졌어요');
  const a = (await srv.req('GET', `/trade/${itemId}/appointment`, { token: O.token })).json.appointment;
  assert.equal(a.status, 'accepted');
  assert.equal(a.place, '역삼역 3번 출구');
  assert.match(a.at, /T14:00:00\.000\+09:00$|T05:00:00\.000Z$/);
  await open(p, '/me');
  await see(p, '거래약속 1');
  await see(p, '역삼역 3번 출구');
  await snap(p, 'me-appointments');
});

test('reporting a neighbour\'s chat message from its menu', { skip }, async () => {
  const O = await srv.user({ address: ADDR });
  const M = await srv.user({ address: ADDR });
  const it = await postItem(srv, O);
  const { icrId } = it.json;
  const ms = await connect(srv, M);
  assert.equal((await emit(ms, 'joinRoom', { icrId })).msg, 'success');
  const sent = await emit(ms, 'sendMsg', { icrId, chatMsg: '나쁜 말 하는 메시지' });
  ms.close();
  const o = await tab('owner2');
  await login(o, O);
  await open(o, `/item/${it.json.itemId}/chat`);
  await see(o, '나쁜 말 하는 메시지');
  await o.page.getByRole('button', { name: `${M.nickname}님의 메시지 신고` }).first().click();
  await see(o, '운영자가 이 메시지와 앞뒤 대화를 확인해요');
  await snap(o, 'chat-report-message');
  await o.page.getByRole('dialog').getByRole('button', { name: '신고하기' }).click();
  await see(o, '메시지 신고를 접수했어요');
  // once only: the second time says so
  const again = await srv.req('POST', '/reports', { token: O.token, body: { icruMsgId: sent.data.icruMsgId, reason: 'abuse' } });
  assert.equal(again.status, 409);
  assert.deepEqual(o.problems.splice(0), []);
  // the operator's console shows the message in its conversation
  const admin = await srv.user();
  assert.equal(userCmd(srv, 'admin', admin.email).status, 0);
  const ad = await tab('admin');
  await login(ad, admin);
  await open(ad, '/admin');
  await ad.page.getByRole('list', { name: '신고된 메시지와 앞뒤 대화' }).waitFor();
  await see(ad, '나쁜 말 하는 메시지 ← 신고됨');
  await snap(ad, 'admin-message-report');
});
