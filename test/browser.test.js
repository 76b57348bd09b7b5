// The web app in a real browser: Debian's Chromium driven by playwright-core
// against the real binary serving the app it embeds. Three residents and an
// operator go through every page at 360×740 (phone) and the pages again at
// 1280×800 (desktop). Every page fails the test on a console error, an
// uncaught exception or a failed request (unless the step expects that
// exact API refusal), and is checked by axe-core for serious or critical
// accessibility violations. Also: user text like <img onerror> runs
// nothing, a dropped chat reconnects without losing or doubling a message,
// keyboard alone can sign in, post and chat, and a deep link survives a
// reload. Screenshots of every page go to build/screenshots/.
//
// Runs on the dev build only (make test's asan pass skips it: the browser
// is the slow part and the server code is covered by the other suites).
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const net = require('node:net');
const { spawnSync } = require('node:child_process');
const { start, sleep, request, freePort, BIN } = require('./lib/dongmul');
const { startSmtp, codeOf } = require('./lib/smtp');
const { postItem } = require('./lib/market');
const { makeCA } = require('./lib/testca');
const { startProvider } = require('./lib/oidc');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.resolve(__dirname, '../build/screenshots');
const ASAN = /\/asan\//.test(process.env.DONGMUL_BIN || '');
const PHONE = { width: 360, height: 740 };
const DESKTOP = { width: 1280, height: 800 };
const T = 45000; // generous waits: 2 loaded cores

let chromium;
let smtp;
let srv;
let browser;
const contexts = [];

// ---------------------------------------------------------------- helpers

// Waits for a mail to email newer than `since` mails and returns its code.
async function mailCode(email, since) {
  const t0 = Date.now();
  for (;;) {
    const ms = smtp.mails.filter((m) => m.to.includes(email));
    if (ms.length > since) return codeOf(ms[ms.length - 1]);
    if (Date.now() - t0 > T) throw new Error(`no mail for ${email}`);
    await sleep(50);
  }
}
const mailCount = (email) => smtp.mails.filter((m) => m.to.includes(email)).length;

// A user made over the API (sign-up code by SMTP), with a region.
let seq = 0;
async function apiUser(nickname, address = '서울 강남구') {
  seq += 1;
  const email = `b${process.pid}x${seq}@example.com`;
  const password = 'passw0rd1';
  const n = mailCount(email);
  assert.equal((await srv.req('POST', '/account/mail', { body: { email } })).status, 200);
  const code = await mailCode(email, n);
  assert.equal((await srv.req('POST', '/account/mail/check', { body: { email, authchkNum: Number(code) } })).status, 200);
  const su = await srv.req('POST', '/account', { body: { email, nickname, password } });
  assert.equal(su.status, 201, su.body);
  const li = await srv.req('POST', '/account/login', { body: { email, password } });
  const a = await srv.req('POST', '/myPage/address', { body: { new_address: address }, token: li.json.token });
  assert.equal(a.status, 200, a.body);
  return { email, password, nickname, userId: li.json.userId, token: li.json.token };
}

// A TCP relay to the server on its own port: drop() cuts every connection
// through it and refuses new ones until restore() — a real dropped
// network for the tabs that use it (the Host header, and so the origin
// the server checks, is the relay's).
async function relay(port) {
  const conns = new Set();
  let refusing = false;
  const server = net.createServer((c) => {
    if (refusing) { c.destroy(); return; }
    const s = net.connect(port, '127.0.0.1');
    conns.add(c);
    conns.add(s);
    const end = () => { c.destroy(); s.destroy(); conns.delete(c); conns.delete(s); };
    for (const x of [c, s]) { x.on('error', end); x.on('close', end); }
    c.pipe(s);
    s.pipe(c);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    drop() { refusing = true; for (const x of conns) x.destroy(); },
    restore() { refusing = false; },
    close() { for (const x of conns) x.destroy(); return new Promise((r) => server.close(r)); },
  };
}
let net2;

// A browser tab (own context: own cookies) that records every problem.
// allow(re, n): the next n responses ≥ 400 whose "METHOD STATUS path"
// matches re are expected (and so are the console lines Chromium prints
// for them); anything else fails the test at check().
async function tab(name, viewport = PHONE, base = srv.url, more = {}) {
  const ctx = await browser.newContext({ viewport, locale: 'ko-KR', timezoneId: 'Asia/Seoul', deviceScaleFactor: 1,
    isMobile: viewport === PHONE, hasTouch: viewport === PHONE, ...more });
  contexts.push(ctx);
  const page = await ctx.newPage();
  page.setDefaultTimeout(T);
  const t = { name, ctx, page, base, problems: [], allowed: [], softConsole: 0, quietWs: false };
  page.on('pageerror', (e) => t.problems.push(`uncaught: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    if (/Failed to load resource: the server responded with a status of 4\d\d/.test(text) && t.softConsole > 0) {
      t.softConsole -= 1;
      return;
    }
    if (t.quietWs && /WebSocket connection to .* failed|ERR_CONNECTION/.test(text)) return;
    t.problems.push(`console: ${text}`);
  });
  page.on('requestfailed', (r) => {
    const f = r.failure() ? r.failure().errorText : '';
    if (t.quietWs && /ERR_CONNECTION|ERR_EMPTY_RESPONSE/.test(f)) return;
    // a page navigated away from an in-flight request, or a photo left
    // the page (the app redrew) before it finished loading
    if (f === 'net::ERR_ABORTED' && (t.navigating || r.resourceType() === 'image')) return;
    t.problems.push(`request failed: ${r.method()} ${r.url()} ${f}`);
  });
  page.on('response', (r) => {
    if (r.status() < 400) return;
    const u = new URL(r.url());
    const key = `${r.request().method()} ${r.status()} ${u.pathname}`;
    const i = t.allowed.findIndex((a) => a.re.test(key));
    if (i >= 0) {
      t.softConsole += 1;
      if (--t.allowed[i].n === 0) t.allowed.splice(i, 1);
      return;
    }
    t.problems.push(`response: ${key}`);
  });
  t.allow = (re, n = 1) => t.allowed.push({ re, n });
  t.check = (what) => {
    const p = t.problems.splice(0);
    assert.deepEqual(p, [], `${t.name}: problems during ${what}`);
  };
  return t;
}

let axeSource;
// axe-core on the page as it is: no serious or critical violation.
async function axe(t, what) {
  if (!axeSource) axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  // evaluate runs over the DevTools protocol, not as page script: the
  // app's CSP (no inline script) stays on for everything else
  await t.page.evaluate(axeSource);
  const res = await t.page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
  });
  assert.deepEqual(res, [], `axe on ${what} (${t.name})`);
}

// Screenshot + axe + no problems so far, for one page state.
async function snap(t, name) {
  await t.page.waitForFunction(() => !document.querySelector('.loading, .skeleton'), null, { timeout: T });
  await t.page.evaluate(() => { const el = document.getElementById('toast'); if (el) el.classList.remove('show'); return document.fonts.ready; });
  const vp = t.page.viewportSize();
  const file = path.join(SHOTS, `${vp.width === PHONE.width ? 'phone' : 'desktop'}-${name}.png`);
  await t.page.evaluate(() => window.scrollTo(0, 0));
  await t.page.screenshot({ path: file, animations: 'disabled', fullPage: true });
  // nothing wider than the screen (no sideways scrolling on a phone)
  const wide = await t.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(wide <= 0, `${name} (${t.name}) is ${wide}px wider than the window`);
  await axe(t, name);
  t.check(name);
}

// A viewport-sized screenshot for README (make screenshots copies them to docs/).
async function docShot(t, name) {
  await t.page.waitForFunction(() => !document.querySelector('.loading, .skeleton'), null, { timeout: T });
  await t.page.evaluate(() => { const el = document.getElementById('toast'); if (el) el.classList.remove('show'); return document.fonts.ready; });
  await t.page.evaluate(() => Promise.all([...document.images].map((i) => i.decode().catch(() => {}))));
  const vp = t.page.viewportSize();
  await t.page.screenshot({ path: path.join(SHOTS, `docs-${vp.width === PHONE.width ? 'phone' : 'desktop'}-${name}.png`), animations: 'disabled' });
}

// Navigates with a full page load (a deep link), waiting for the app.
async function open(t, p) {
  t.navigating = true;
  await t.page.goto(t.base + p, { waitUntil: 'load' });
  t.navigating = false;
  await t.page.waitForSelector('main#main > *');
}

// Clicks a link or button by its visible text (inside main unless scope).
async function click(t, role, name, scope = 'main') {
  await t.page.locator(scope).getByRole(role, { name, exact: false }).first().click();
}

async function text(t, s) {
  await t.page.getByText(s, { exact: false }).first().waitFor({ state: 'visible' });
}

// A picture like a phone photo: 2400×1800 with shapes, as PNG bytes,
// drawn by the browser itself (nothing from the network).
async function photo(t, hue) {
  const b64 = await t.page.evaluate((hh) => {
    const c = document.createElement('canvas');
    c.width = 2400;
    c.height = 1800;
    const g = c.getContext('2d');
    const grd = g.createLinearGradient(0, 0, 2400, 1800);
    grd.addColorStop(0, `hsl(${hh},70%,80%)`);
    grd.addColorStop(1, `hsl(${(hh + 40) % 360},60%,55%)`);
    g.fillStyle = grd;
    g.fillRect(0, 0, 2400, 1800);
    g.fillStyle = `hsl(${(hh + 180) % 360},55%,45%)`;
    g.beginPath();
    g.arc(1200, 950, 520, 0, Math.PI * 2);
    g.fill();
    g.fillStyle = 'rgba(255,255,255,.85)';
    g.fillRect(900, 500, 600, 260);
    return c.toDataURL('image/png').split(',')[1];
  }, hue);
  return { name: `IMG_${hue}.png`, mimeType: 'image/png', buffer: Buffer.from(b64, 'base64') };
}

// Signs in through the login form.
async function uiLogin(t, u) {
  await open(t, '/login');
  await t.page.getByLabel('이메일').fill(u.email);
  await t.page.getByLabel('비밀번호').fill(u.password);
  await t.page.locator('main').getByRole('button', { name: '로그인' }).click();
  await t.page.waitForURL((url) => url.pathname !== '/login');
}

// Posts an item through the form; returns its id.
async function uiPost(t, o) {
  await t.page.locator('a[href="/new"]:visible').first().click();
  await t.page.waitForURL('**/new');
  await t.page.locator('#photo-file').setInputFiles(await photo(t, o.hue || 20));
  await text(t, '사진 준비 완료');
  await t.page.getByLabel('제목').fill(o.title);
  await t.page.getByLabel('카테고리').selectOption(o.category || '기타 중고물품');
  await t.page.getByLabel('원하는 물건').fill(o.want);
  await t.page.getByLabel('자세한 설명').fill(o.comment || '깨끗하게 썼어요. 역삼역 근처에서 교환해요.');
  await t.page.getByRole('button', { name: '올리기' }).click();
  await t.page.waitForURL(/\/item\/\d+$/);
  return /\/item\/(\d+)$/.exec(t.page.url())[1];
}

// ------------------------------------------------------------------ setup

before(async () => {
  if (ASAN) return;
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} missing: run sh vendor/deps.sh as root (installs chromium)`);
  ({ chromium } = require('playwright-core'));
  fs.mkdirSync(SHOTS, { recursive: true });
  smtp = await startSmtp({ mode: 'plain' });
  srv = await start({ args: ['--no-email-verification=0', '--smtp', smtp.url, '--rate-login', '1000', '--rate-mail', '1000', '--quota-messages', '1000', '--quota-posts', '1000'] });
  // launch() gives Chromium a fresh temporary profile (user-data-dir)
  // every run, removed again by close()
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--lang=ko-KR'],
  });
});

after(async () => {
  if (ASAN) return;
  for (const c of contexts) await c.close().catch(() => {});
  if (browser) await browser.close();
  if (net2) await net2.close();
  if (srv) {
    const r = await srv.stop();
    assert.equal(r.code, 0, `dongmul exit ${JSON.stringify(r)}`);
  }
  if (smtp) await smtp.stop();
});

const skip = ASAN ? 'browser tests run on the dev build only' : false;

// The steps build on each other (users, items, rooms): after one fails,
// the rest are skipped instead of failing for the same reason.
// BROWSER_STEPS=regex runs only the matching steps (while working on one).
let broken = false;
const only = process.env.BROWSER_STEPS ? new RegExp(process.env.BROWSER_STEPS) : null;
function step(name, fn) {
  test(name, { skip: skip || (only && !only.test(name) ? 'not in BROWSER_STEPS' : false) }, async (t) => {
    if (broken) { t.skip('an earlier step failed'); return; }
    try { await fn(); } catch (e) {
      broken = true;
      // what every tab showed when it failed, for the reader of the log
      for (const [i, c] of contexts.entries()) {
        for (const pg of c.pages()) await pg.screenshot({ path: path.join(SHOTS, `FAILED-${i}.png`), fullPage: true }).catch(() => {});
      }
      throw e;
    }
  });
}

// ------------------------------------------------------------------ flows

const XSS = '<img src=x onerror="window.__xss=1">';
const S = {};  // what the steps share: users, tabs, items

step('the app is served: CSP, deep links, app paths vs API 404s', async () => {
  const r = await request(srv.url, 'GET', '/item/123/chat', { headers: { accept: 'text/html' } });
  assert.equal(r.status, 200);
  assert.match(r.headers['content-security-policy'], /script-src 'self'/);
  assert.match(r.body, /<script type="module" src="\/assets\/app\.[0-9a-f]+\.js">/);
  const api404 = await request(srv.url, 'GET', '/mainPage/nope', { headers: { accept: 'text/html' } });
  assert.equal(api404.status, 404);
});

step('first visit transfers at most 100 KB (photos aside); a second one only index.html and data', async () => {
  const t = await tab('bytes');
  const cdp = await t.ctx.newCDPSession(t.page);
  await cdp.send('Network.enable');
  const seen = new Map();
  let got = [];
  cdp.on('Network.responseReceived', (e) => seen.set(e.requestId, { url: new URL(e.response.url).pathname, type: e.type }));
  cdp.on('Network.loadingFinished', (e) => { const r = seen.get(e.requestId); if (r) got.push({ ...r, bytes: e.encodedDataLength }); });
  await open(t, '/');
  await text(t, '아직 올라온 물건이 없어요');
  await t.page.waitForLoadState('networkidle');
  const first = got.filter((r) => r.type !== 'Image').reduce((n, r) => n + r.bytes, 0);
  assert.ok(first <= 100 * 1024, `first load ${first} bytes: ${JSON.stringify(got)}`);
  got = [];
  await open(t, '/');
  await t.page.waitForLoadState('networkidle');
  const again = got.filter((r) => r.bytes > 0).map((r) => r.url);
  assert.ok(again.every((u) => !u.startsWith('/assets/')), `second visit fetched ${again}`);
  t.check('bytes');
  await t.ctx.close();
  contexts.splice(contexts.indexOf(t.ctx), 1);
});

step('Kakao sign-in through the browser, only when the server has Kakao configured', async () => {
  // a real OpenID provider over TLS plays Kakao (test/lib/oidc.js); its
  // test CA is not Chromium's, hence ignoreHTTPSErrors for this tab only
  const ca = makeCA();
  const port = await freePort();
  const client = { client_id: 'kakao-web', client_secret: 'kakao-web-secret' };
  const s2 = await start({ args: ['--ca-bundle', ca.caFile, '--kakao-issuer', `https://127.0.0.1:${port}`,
    '--kakao-client-id', client.client_id, '--kakao-client-secret', client.client_secret] });
  const op = await startProvider({ ca, port, clients: [{ ...client, redirect_uris: [`${s2.url}/account/kakao/callback`] }] });
  try {
    op.addAccount('kakao-1', { email: `kakao${process.pid}@example.com`, email_verified: true, nickname: '카카오이웃' });
    op.setAccount('kakao-1');
    const k = await tab('kakao', PHONE, s2.url, { ignoreHTTPSErrors: true });
    await open(k, '/login');
    assert.equal(await k.page.getByText('Google로 시작하기').count(), 0, 'Google is not configured');
    await snap(k, 'login-social');
    k.navigating = true;
    await k.page.getByRole('link', { name: '카카오로 시작하기' }).click();
    await k.page.waitForURL(`${s2.url}/region`);
    k.navigating = false;
    await text(k, '내 동네 설정');
    assert.equal(new URL(k.page.url()).search, '', 'the one-time code left the address bar');
    await open(k, '/me');
    await text(k, '카카오이웃');
    k.check('kakao');
    await k.ctx.close();
    contexts.splice(contexts.indexOf(k.ctx), 1);
  } finally {
    await s2.stop();
    await op.stop();
    ca.cleanup();
  }
});

step('signed out: pick a neighborhood, see its feed; sign-up with the emailed code', async () => {
  S.anon = await tab('visitor');
  const t = S.anon;
  await open(t, '/');
  await text(t, '아직 올라온 물건이 없어요');
  await snap(t, 'home-empty');
  await click(t, 'link', '동네 선택');
  await t.page.waitForURL('**/region');
  await t.page.getByLabel('시/도').selectOption('서울');
  await t.page.getByLabel('시/군/구').selectOption('강남구');
  await snap(t, 'region');
  await click(t, 'button', '이 동네로 설정');
  await t.page.waitForURL((u) => u.pathname === '/');
  await text(t, '서울 강남구');
  await text(t, '아직 올라온 물건이 없어요');

  // another neighborhood with 45 open items: pages of 20 as you scroll
  const far = await apiUser('해운대주민', '부산 해운대구');
  for (let i = 1; i <= 45; i++) {
    const r = await postItem(srv, far, { title: `해운대 물건 ${i}`, deadLine: Date.now() + (2 + i / 10) * 86400e3 });
    assert.equal(r.status, 201, r.body);
  }
  await open(t, '/region');
  await t.page.getByLabel('시/도').selectOption('부산');
  await t.page.getByLabel('시/군/구').selectOption('해운대구');
  await click(t, 'button', '이 동네로 설정');
  await text(t, '해운대 물건 45');
  assert.equal(await t.page.locator('ul.feed > li').count(), 20);
  for (let i = 0; i < 10 && !(await t.page.getByText('모든 물건을 다 봤어요').count()); i++) {
    await t.page.mouse.wheel(0, 20000);
    await sleep(300);
  }
  await text(t, '모든 물건을 다 봤어요');
  assert.equal(await t.page.locator('ul.feed > li').count(), 45);
  assert.equal(await t.page.locator('ul.feed').getByText('해운대 물건 1', { exact: true }).count(), 1);
  await snap(t, 'home-scrolled');
  // no Kakao/Google buttons: this server has no provider configured
  await open(t, '/login');
  await text(t, '동물마켓 로그인');
  assert.equal(await t.page.getByText(/카카오|Google/).count(), 0);

  // A signs up through the pages, the code from the real mail
  S.A = { email: `a${process.pid}@example.com`, password: 'haru2026ok', nickname: '하루엄마' };
  const A = S.A;
  S.a = await tab('A');
  const a = S.a;
  await open(a, '/signup');
  await a.page.getByLabel('이메일').fill(A.email);
  await snap(a, 'signup');
  const n = mailCount(A.email);
  await click(a, 'button', '인증번호 받기');
  const code = await mailCode(A.email, n);
  // a wrong code: the server's Korean message under the field
  a.allow(/^POST 400 \/account\/mail\/check$/);
  await a.page.getByLabel('인증번호 6자리').fill(code === '123456' ? '654321' : '123456');
  await click(a, 'button', '확인');
  await text(a, '인증번호가 일치하지 않습니다.');
  await a.page.getByLabel('인증번호 6자리').fill(code);
  await click(a, 'button', '확인');
  await a.page.getByLabel('닉네임 (2~20자)').fill(A.nickname);
  await a.page.getByLabel('비밀번호').fill(A.password);
  await click(a, 'button', '가입하기');
  await a.page.waitForURL('**/region');
  await a.page.getByLabel('시/도').selectOption('서울');
  await a.page.getByLabel('시/군/구').selectOption('강남구');
  await click(a, 'button', '이 동네로 설정');
  await a.page.waitForURL((u) => u.pathname === '/');
  await text(a, '아직 올라온 물건이 없어요');
  a.check('sign-up');
});

step('posting: resized in the browser, thumbnail, field errors, XSS title shows as text', async () => {
  const a = S.a;
  // a server-side refusal shows next to its field: a deadline 40 days out
  await a.page.locator('a[href="/new"]:visible').first().click();
  await a.page.waitForURL('**/new');
  await snap(a, 'post-empty');
  await a.page.locator('#photo-file').setInputFiles(await photo(a, 200));
  await text(a, '사진 준비 완료');
  await a.page.getByLabel('제목').fill('아이 자전거 16인치');
  await a.page.getByLabel('카테고리').selectOption('스포츠/레저');
  await a.page.getByLabel('원하는 물건').fill('그림책 세트');
  await a.page.getByLabel('자세한 설명').fill('보조바퀴 포함, 1년 탔어요.\n역삼역 2번 출구에서 교환해요.');
  const far = new Date(Date.now() + 40 * 86400e3);
  const p2 = (x) => String(x).padStart(2, '0');
  await a.page.getByLabel('마감 시간').fill(`${far.getFullYear()}-${p2(far.getMonth() + 1)}-${p2(far.getDate())}T12:00`);
  a.allow(/^POST 400 \/mainPage\/write$/);
  await click(a, 'button', '올리기');
  const dlErr = a.page.locator('#' + (await a.page.getByLabel('마감 시간').getAttribute('aria-describedby')));
  await dlErr.filter({ hasText: /\S/ }).waitFor();
  assert.match(await dlErr.textContent(), /30일|마감/);
  await snap(a, 'post-error');
  // back to the default three days: posted
  const d = new Date(Date.now() + 3 * 86400e3);
  await a.page.getByLabel('마감 시간').fill(`${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())}T${p2(d.getHours())}:00`);
  await click(a, 'button', '올리기');
  await a.page.waitForURL(/\/item\/\d+$/);
  S.item1 = /\/item\/(\d+)$/.exec(a.page.url())[1];
  await text(a, '그림책 세트');
  const dims = await a.page.locator('img.hero').evaluate(async (img) => {
    await img.decode();
    return [img.naturalWidth, img.naturalHeight];
  });
  assert.deepEqual(dims, [1600, 1200], 'the photo was resized in the browser to 1600 px');
  const det = await srv.req('GET', `/postDetail/${S.item1}`);
  assert.ok(det.json.data.thumb && det.json.data.thumb !== det.json.data.image, 'a thumbnail was stored beside the photo');
  const th = await request(srv.url, 'GET', det.json.data.thumb, { raw: true });
  assert.equal(th.status, 200);
  assert.ok(th.body.length < 64 * 1024, `thumbnail ${th.body.length} bytes`);
  await snap(a, 'item-owner');

  // a title that is HTML: shown as text, runs nothing
  S.item2 = await uiPost(a, { title: XSS, want: '<b>굵게</b>', hue: 120, category: '생활용품' });
  await text(a, XSS);
  assert.equal(await a.page.evaluate(() => window.__xss), undefined);
  await text(a, '<b>굵게</b>');
  assert.equal(await a.page.locator('img[src="x"], [onerror]').count(), 0);
  S.item3 = await uiPost(a, { title: '원목 책상 의자', want: '캠핑 의자', hue: 30, category: '가구/인테리어' });
  a.check('posting');
});

step('a resident: feed cards, search, category, item detail, join the chat', async () => {
  S.B = await apiUser('별빛고양이');
  S.C = await apiUser('동네산책러');
  net2 = await relay(srv.port);
  S.b = await tab('B', PHONE, net2.url);
  const b = S.b;
  await uiLogin(b, S.B);
  await text(b, '아이 자전거 16인치');
  const cards = b.page.locator('ul.feed > li');
  assert.equal(await cards.count(), 3);
  const first = await cards.filter({ hasText: '아이 자전거' }).innerText();
  assert.match(first, /그림책 세트/);
  assert.match(first, /[23]일 남음/);
  assert.match(first, /36\.5°C/);
  assert.equal(await b.page.evaluate(() => window.__xss), undefined);
  await snap(b, 'home');
  // search and category
  await b.page.getByLabel('검색어').fill('자전거');
  await b.page.getByLabel('검색어').press('Enter');
  await b.page.waitForURL('**/?q=*');
  await b.page.waitForFunction(() => document.querySelectorAll('ul.feed > li').length === 1);
  await snap(b, 'search');
  await open(b, '/');
  await b.page.getByRole('button', { name: '가구/인테리어' }).click();
  await b.page.waitForFunction(() => document.querySelectorAll('ul.feed > li').length === 1
    && document.querySelector('ul.feed').textContent.includes('원목 책상'));
  await b.page.getByRole('button', { name: '식물' }).click();
  await text(b, '찾는 물건이 없어요');
  await snap(b, 'category-empty');
  await open(b, '/');
  await b.page.locator('ul.feed a', { hasText: '아이 자전거' }).click();
  await b.page.waitForURL(`**/item/${S.item1}`);
  await text(b, '하루엄마');
  await snap(b, 'item');
  await click(b, 'button', '채팅 참여하기');
  await b.page.waitForURL(`**/item/${S.item1}/chat`);
  await text(b, '별빛고양이님이 입장하셨습니다.');
  b.check('join');
});

step('the chat: live messages both ways, members, XSS message, reconnect without loss or doubles', async () => {
  const { a, b } = S;
  await open(a, `/item/${S.item1}/chat`);
  await text(a, '별빛고양이님이 입장하셨습니다.');
  await b.page.getByLabel('메시지 입력').fill('안녕하세요! 자전거 아직 있나요?');
  await b.page.getByLabel('메시지 입력').press('Enter');
  await a.page.locator('.msgs').getByText('안녕하세요! 자전거 아직 있나요?').waitFor();
  await a.page.getByLabel('메시지 입력').fill('네 있어요 :) 주말에 괜찮으세요?');
  await a.page.getByRole('button', { name: '전송' }).click();
  await b.page.locator('.msgs').getByText('주말에 괜찮으세요?').waitFor();
  // C joins and sends HTML as a message
  S.c = await tab('C');
  const c = S.c;
  await uiLogin(c, S.C);
  await open(c, `/item/${S.item1}`);
  await click(c, 'button', '채팅 참여하기');
  await c.page.waitForURL('**/chat');
  await c.page.getByLabel('메시지 입력').fill(XSS);
  await c.page.getByLabel('메시지 입력').press('Enter');
  for (const t of [a, b, c]) {
    await t.page.locator('.msgs').getByText(XSS).waitFor();
    assert.equal(await t.page.evaluate(() => window.__xss), undefined, `${t.name}: the message ran`);
    assert.equal(await t.page.locator('.msgs img').count(), 0);
  }
  // members with online dots and temperatures (the owner's list)
  await a.page.waitForFunction(() => document.querySelectorAll('#members li.member').length >= 4);
  const members = await a.page.locator('#members').innerText();
  assert.match(members, /하루엄마/);
  assert.match(members, /동네산책러/);
  assert.match(members, /36\.5°C/);
  if (!(await a.page.locator('#members').isVisible())) await a.page.getByRole('button', { name: /참여자/ }).click();
  await snap(a, 'chat-owner');
  await snap(b, 'chat');

  // B drops off the network; A sends while B is away; B comes back
  b.quietWs = true;
  net2.drop();
  await b.page.locator('.conn.off').waitFor();
  const away = ['토요일 2시 어때요?', '역삼역 2번 출구요', '헬멧도 같이 드릴게요'];
  for (const m of away) {
    await a.page.getByLabel('메시지 입력').fill(m);
    await a.page.getByLabel('메시지 입력').press('Enter');
    await a.page.locator('.msgs').getByText(m).waitFor();
  }
  // and more than the 200 a reconnect's setRoom carries, from C's own client
  const { io } = require('socket.io-client');
  const icrId = (await srv.req('GET', `/postDetail/${S.item1}`)).json.data.icrId;
  const sc = io(`${srv.url}/chatting`, { auth: { token: S.C.token }, transports: ['websocket'], forceNew: true, reconnection: false });
  await new Promise((r, j) => { sc.on('connect', r); sc.on('connect_error', j); });
  for (let i = 1; i <= 210; i++) {
    assert.equal((await sc.timeout(T).emitWithAck('sendMsg', { icrId, chatMsg: `부재중 ${i}` })).msg, 'success');
  }
  sc.close();
  away.push('부재중 1', '부재중 105', '부재중 210');
  net2.restore();
  await b.page.locator('.conn:not(.off)').waitFor();
  await b.page.locator('.msgs').getByText('부재중 1', { exact: true }).waitFor();
  b.quietWs = false;
  const seen = await b.page.locator('.msgs li.msg').allInnerTexts();
  for (const m of away) assert.equal(seen.filter((x) => x.split('\n').includes(m)).length, 1, `"${m}" shown once`);
  assert.equal(seen.filter((x) => /부재중 \d+/.test(x)).length, 210, 'every message sent during the drop');
  const idx = away.map((m) => seen.findIndex((x) => x.split('\n').includes(m)));
  assert.deepEqual([...idx].sort((x, y) => x - y), idx, 'in order');
  const ids = await b.page.locator('.msgs li.msg').evaluateAll((els) => els.map((e) => Number(e.dataset.id)));
  assert.deepEqual([...ids].sort((x, y) => x - y), ids, 'ids ascending');
  assert.equal(new Set(ids).size, ids.length, 'no message twice');
  b.check('reconnect');
});

step('older history on scroll-up', async () => {
  // 230 messages (more than the 200 a room opens with) from B, sent with
  // the test's own socket.io client: typing them in the page would be slow
  const { io } = require('socket.io-client');
  const s = io(`${srv.url}/chatting`, { auth: { token: S.B.token }, transports: ['websocket'], forceNew: true, reconnection: false });
  await new Promise((r, j) => { s.on('connect', r); s.on('connect_error', j); });
  const icrId = (await srv.req('GET', `/postDetail/${S.item1}`)).json.data.icrId;
  for (let i = 1; i <= 230; i++) {
    const r = await s.timeout(T).emitWithAck('sendMsg', { icrId, chatMsg: `기록 ${i}` });
    assert.equal(r.msg, 'success');
  }
  s.close();
  const { a } = S;
  await open(a, `/item/${S.item1}/chat`);
  await a.page.locator('.msgs').getByText('기록 230').waitFor();
  assert.equal(await a.page.locator('.msgs').getByText('별빛고양이님이 입장하셨습니다.').count(), 0, 'only the latest 200 first');
  for (let i = 0; i < 20; i++) {
    await a.page.locator('.msgs').evaluate((el) => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); });
    if (await a.page.locator('.msgs').getByText('별빛고양이님이 입장하셨습니다.').count()) break;
    await sleep(300);
  }
  await a.page.locator('.msgs').getByText('별빛고양이님이 입장하셨습니다.').waitFor();
  const ids = await a.page.locator('.msgs li.msg').evaluateAll((els) => els.map((e) => Number(e.dataset.id)));
  assert.deepEqual([...ids].sort((x, y) => x - y), ids);
  assert.equal(new Set(ids).size, ids.length);
  a.check('history');
});

step('owner kicks (after confirming) and chooses the partner; trade, reviews, report', async () => {
  const { a, b, c } = S;
  await a.page.locator('.msgs').getByText('기록 230').waitFor();
  if (!(await a.page.locator('#members').isVisible())) await a.page.getByRole('button', { name: /참여자/ }).click();
  await a.page.getByRole('button', { name: '동네산책러님 강퇴' }).click();
  await a.page.getByRole('dialog').getByText('다시 들어올 수 없어요').waitFor();
  await snap(a, 'kick-confirm');
  c.allow(/^GET 403 \/postDetail\/\d+$/);
  await a.page.getByRole('dialog').getByRole('button', { name: '강퇴하기' }).click();
  await a.page.locator('.msgs').getByText('동네산책러님이 강퇴당하셨습니다.').waitFor();
  await c.page.waitForURL(`**/item/${S.item1}`);
  await text(c, '볼 수 없는 물건이에요');
  c.check('kicked');
  // choose B
  await a.page.getByRole('button', { name: '별빛고양이님을 교환 상대로 선택' }).click();
  await a.page.getByRole('dialog').getByRole('button', { name: '선택하기' }).click();
  await a.page.locator('.msgs').getByText('별빛고양이님과 교환을 진행합니다.').waitFor();
  await b.page.locator('.msgs').getByText('별빛고양이님과 교환을 진행합니다.').waitFor();
  // the trade on the item page: complete, then both review
  await open(a, `/item/${S.item1}`);
  await text(a, '교환이 진행 중이에요');
  await snap(a, 'trade');
  await click(a, 'button', '교환 완료');
  await a.page.getByRole('dialog').getByRole('button', { name: '완료하기' }).click();
  await text(a, '교환을 마쳤어요');
  await click(a, 'button', '좋았어요');
  await click(a, 'button', '응답빠름');
  await click(a, 'button', '친절');
  await a.page.getByLabel('후기 (선택, 500자까지)').fill('약속 시간 잘 지켜 주셨어요!');
  await snap(a, 'review');
  await click(a, 'button', '후기 보내기');
  await text(a, '후기를 보냈어요');
  await open(b, `/item/${S.item1}`);
  await text(b, '교환을 마쳤어요');
  await click(b, 'button', '좋았어요');
  await click(b, 'button', '상태좋음');
  await click(b, 'button', '후기 보내기');
  await text(b, '후기를 보냈어요');
  // a second trade, cancelled with a reason, from the partner's side
  await open(b, `/item/${S.item3}`);
  await click(b, 'button', '채팅 참여하기');
  await b.page.waitForURL('**/chat');
  await open(a, `/item/${S.item3}/chat`);
  if (!(await a.page.locator('#members').isVisible())) await a.page.getByRole('button', { name: /참여자/ }).click();
  await a.page.getByRole('button', { name: '별빛고양이님을 교환 상대로 선택' }).click();
  await a.page.getByRole('dialog').getByRole('button', { name: '선택하기' }).click();
  await a.page.locator('.msgs').getByText('교환을 진행합니다.').waitFor();
  await open(b, `/item/${S.item3}`);
  await click(b, 'button', '교환 취소');
  await b.page.getByRole('dialog').getByLabel('취소 사유').fill('일정이 맞지 않았어요');
  await b.page.getByRole('dialog').getByRole('button', { name: '교환 취소하기' }).click();
  await text(b, '교환이 취소됐어요');
  // C reports A from A's profile
  await open(c, `/u/${(await srv.req('POST', '/account/login', { body: { email: S.A.email, password: S.A.password } })).json.userId}`);
  await text(c, '하루엄마');
  await click(c, 'button', '이 사용자 신고하기');
  await c.page.getByRole('dialog').getByLabel('신고 사유').selectOption('abuse');
  await c.page.getByRole('dialog').getByLabel('자세한 내용 (선택)').fill('채팅에서 무례했어요');
  await snap(c, 'report');
  await c.page.getByRole('dialog').getByRole('button', { name: '신고하기' }).click();
  await text(c, '신고를 접수했어요');
  await snap(c, 'profile');
  // and A reports C (the operator will dismiss that one)
  await open(a, `/u/${S.C.userId}`);
  await click(a, 'button', '이 사용자 신고하기');
  await a.page.getByRole('dialog').getByLabel('신고 사유').selectOption('noshow');
  await a.page.getByRole('dialog').getByRole('button', { name: '신고하기' }).click();
  await text(a, '신고를 접수했어요');
  for (const t of [a, b, c]) t.check('trade');
});

step('notifications: live unread count, list, mark read, email settings', async () => {
  const { b } = S;
  await open(b, '/');
  const badge = b.page.locator('#bell .badge');
  await badge.waitFor({ state: 'visible' });
  const before_ = Number(await badge.textContent());
  assert.ok(before_ >= 1);
  // a live one: A posts nothing new, but a review arrives from a new trade? simpler: A's chat message
  const { io } = require('socket.io-client');
  const icr2 = (await srv.req('GET', `/postDetail/${S.item2}`)).json.data.icrId;
  const sB = io(`${srv.url}/chatting`, { auth: { token: S.B.token }, transports: ['websocket'], forceNew: true, reconnection: false });
  await new Promise((r, j) => { sB.on('connect', r); sB.on('connect_error', j); });
  assert.equal((await sB.timeout(T).emitWithAck('joinRoom', { icrId: icr2 })).msg, 'success');
  sB.close();
  await open(S.a, '/');
  const ba = S.a.page.locator('#bell .badge');
  await ba.waitFor({ state: 'visible' });
  const n0 = Number(await ba.textContent());
  const sC = io(`${srv.url}/chatting`, { auth: { token: (await srv.req('POST', '/account/login', { body: { email: S.C.email, password: S.C.password } })).json.token }, transports: ['websocket'], forceNew: true, reconnection: false });
  await new Promise((r, j) => { sC.on('connect', r); sC.on('connect_error', j); });
  assert.equal((await sC.timeout(T).emitWithAck('joinRoom', { icrId: icr2 })).msg, 'success');
  sC.close();
  await S.a.page.waitForFunction((n) => Number(document.querySelector('#bell .badge').textContent) > n, n0);
  await b.page.locator('#bell').click();
  await b.page.waitForURL('**/alerts');
  await text(b, '교환 상대로 선택됐어요');
  await snap(b, 'alerts');
  await click(b, 'button', '모두 읽음');
  await badge.waitFor({ state: 'hidden' });
  await b.page.getByRole('tab', { name: '이메일 알림 설정' }).click();
  await b.page.getByLabel('새 채팅 메시지').check();
  await b.page.getByLabel('새 후기를 받았어요').check();
  await click(b, 'button', '저장');
  await text(b, '이메일 알림 설정을 저장했어요');
  await snap(b, 'alert-settings');
  const st = await srv.req('GET', '/notifications/settings', { token: S.B.token });
  assert.deepEqual([...st.json.email].sort(), ['chat', 'review']);
  b.check('notifications');
});

step('my page tabs and reviews; logout; password reset', async () => {
  const { a, b } = S;
  await open(a, '/me');
  await text(a, XSS);
  await snap(a, 'me');
  await a.page.getByRole('tab', { name: /완료/ }).click();
  await text(a, '아이 자전거 16인치');
  await snap(a, 'me-done');
  await a.page.getByRole('tab', { name: /만료/ }).click();
  await text(a, '만료된 물건이 없어요');
  await a.page.getByRole('tab', { name: '받은 후기' }).click();
  await text(a, '상태좋음');
  await snap(a, 'me-reviews');
  // a deep link survives a reload, and so does the session (cookie)
  await open(b, `/item/${S.item1}`);
  b.navigating = true;
  await b.page.reload();
  b.navigating = false;
  await text(b, '교환을 마쳤어요');  // the partner's panel: signed in again
  // logout: a reload stays signed out
  await open(b, '/me');
  await click(b, 'button', '로그아웃');
  await b.page.waitForURL((u) => u.pathname === '/');
  await open(b, '/me');
  await b.page.waitForURL('**/login?next=*');
  assert.equal((await b.ctx.cookies()).filter((c) => c.httpOnly === false && /rt|token/i.test(c.name)).length, 0);
  assert.equal(await b.page.evaluate(() => JSON.stringify({ ...localStorage }).includes('bearer')), false);
  // password reset with the emailed code
  await open(b, '/password');
  await b.page.getByLabel('가입한 이메일').fill(S.B.email);
  const n = mailCount(S.B.email);
  await click(b, 'button', '인증번호 받기');
  const code = await mailCode(S.B.email, n);
  await b.page.getByLabel('인증번호 6자리').fill(code);
  await b.page.getByLabel('새 비밀번호').fill('newpassw0rd');
  await snap(b, 'password');
  await click(b, 'button', '비밀번호 바꾸기');
  await b.page.waitForURL('**/login');
  S.B.password = 'newpassw0rd';
  await uiLogin(b, S.B);
  await text(b, XSS);
  for (const t of [a, b]) t.check('me');
});

step('the operator: counts, reports queue, suspend, lookup, unsuspend; others are refused', async () => {
  const D = await apiUser('운영자');
  S.D = D;
  const r = spawnSync(process.env.DONGMUL_BIN || BIN, ['user', 'admin', D.email, '--data', srv.data], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  S.d = await tab('operator');
  const d = S.d;
  await uiLogin(d, D);
  await open(d, '/admin');
  await text(d, '신고 대기열');
  await text(d, '신고한 사람 1명');
  await text(d, '채팅에서 무례했어요');
  const stats = await d.page.locator('.admin-grid .stat b').allInnerTexts();
  assert.equal(stats.length, 4);
  assert.ok(Number(stats[0]) >= 4 && Number(stats[1]) >= 1 && Number(stats[2]) >= 230, `counts ${stats}`);
  await snap(d, 'admin');
  // a queue row per reported user, named in bold (reporters are links)
  const row = (nick) => d.page.locator('li.report').filter({ has: d.page.locator('b', { hasText: nick }) });
  await row('동네산책러').getByText('약속 장소에 나오지 않았어요').waitFor();
  // dismiss the report on C
  await row('동네산책러').getByRole('button', { name: '신고 기각' }).click();
  await d.page.getByRole('dialog').getByLabel('사유 (200자까지)').fill('약속 변경을 서로 합의함');
  await d.page.getByRole('dialog').getByRole('button', { name: '신고 기각' }).click();
  await text(d, '신고 기각 완료');
  await row('동네산책러').waitFor({ state: 'detached' });
  // suspend A
  await row('하루엄마').getByRole('button', { name: '이용 정지' }).click();
  await d.page.getByRole('dialog').getByLabel('정지 일수').fill('3');
  await d.page.getByRole('dialog').getByLabel('사유 (200자까지)').fill('채팅 비매너 신고 확인');
  await d.page.getByRole('dialog').getByRole('button', { name: '이용 정지' }).click();
  await text(d, '이용 정지 완료');
  // the suspended resident is told why when posting
  const { a: sa } = S;
  await open(sa, '/new');
  await sa.page.locator('#photo-file').setInputFiles(await photo(sa, 60));
  await text(sa, '사진 준비 완료');
  await sa.page.getByLabel('제목').fill('정지 중에 올리는 글');
  await sa.page.getByLabel('카테고리').selectOption('식물');
  await sa.page.getByLabel('원하는 물건').fill('화분');
  await sa.page.getByLabel('자세한 설명').fill('올라가면 안 돼요');
  sa.allow(/^POST 403 \/mainPage\/write$/);
  await click(sa, 'button', '올리기');
  await text(sa, '이용이 정지된 계정입니다');
  await snap(sa, 'post-suspended');
  await d.page.getByLabel('사용자 찾기 (이메일 또는 닉네임)').fill('하루');
  await click(d, 'button', '찾기');
  await d.page.locator('.pill.red', { hasText: '정지' }).first().waitFor();
  await snap(d, 'admin-lookup');
  await d.page.getByRole('button', { name: '정지 해제' }).first().click();
  await d.page.getByRole('dialog').getByLabel('사유 (200자까지)').fill('소명 확인');
  await d.page.getByRole('dialog').getByRole('button', { name: '정지 해제' }).click();
  await text(d, '정지 해제 완료');
  d.check('admin');
  // a resident on /admin: told, and the API refuses
  const { a } = S;
  await open(a, '/admin');
  await text(a, '운영자만 볼 수 있어요');
  a.check('admin refused page');
  const no = await srv.req('GET', '/operator/stats', { token: S.C.token });
  assert.equal(no.status, 403);
});

step('keyboard alone: sign in, post, chat', async () => {
  const E = await apiUser('키보드이웃');
  const k = await tab('keyboard');
  const kp = k.page;
  // Tab until the focused element matches; then it is ready for keys
  async function tabTo(pred, { back = false, max = 60 } = {}) {
    await kp.waitForFunction(() => !document.querySelector('.loading, .skeleton'));
    for (let i = 0; i < max; i++) {
      await kp.keyboard.press(back ? 'Shift+Tab' : 'Tab');
      if (await kp.evaluate(pred)) return;
    }
    const at = await kp.evaluate(() => document.activeElement.outerHTML.slice(0, 120));
    throw new Error(`keyboard: never reached ${pred} (at ${at}, ${kp.url()})`);
  }
  await open(k, '/');
  await tabTo(() => document.activeElement.matches('nav.tabbar a[href="/me"]'));
  await kp.keyboard.press('Enter');
  await kp.waitForURL('**/login?next=*');
  await kp.waitForFunction(() => document.activeElement.type === 'email');
  await kp.keyboard.type(E.email);
  await kp.keyboard.press('Tab');
  await kp.keyboard.type(E.password);
  await kp.keyboard.press('Enter');
  await kp.waitForURL('**/me');
  // a new page has the focus on its content; the tabs are just before it
  await tabTo(() => document.activeElement.matches('nav.tabbar a[href="/new"]'), { back: true });
  await kp.keyboard.press('Enter');
  await kp.waitForURL('**/new');
  // In two full `make test` runs (never alone) the posting page did not
  // render here after the client-side navigation; keep the evidence, then
  // load it once more (a reload is navigation, not a mouse action).
  try {
    await kp.locator('#photo-file').waitFor({ state: 'attached', timeout: 15000 });
  } catch {
    fs.mkdirSync(SHOTS, { recursive: true });
    fs.writeFileSync(path.join(SHOTS, 'keyboard-new-unrendered.html'), await kp.content());
    await kp.screenshot({ path: path.join(SHOTS, 'keyboard-new-unrendered.png') });
    await kp.reload();
    await kp.locator('#photo-file').waitFor({ state: 'attached' });
  }
  // Once (a full run, never alone) the page rendered but Tab stayed on a
  // stale link to /new; keep that evidence too, reload once, tab again.
  try {
    await tabTo(() => document.activeElement.id === 'photo-file');
  } catch (e) {
    fs.mkdirSync(SHOTS, { recursive: true });
    fs.writeFileSync(path.join(SHOTS, 'keyboard-new-stuck.html'), `<!-- ${e.message} -->\n${await kp.content()}`);
    await kp.screenshot({ path: path.join(SHOTS, 'keyboard-new-stuck.png') });
    await kp.reload();
    await kp.locator('#photo-file').waitFor({ state: 'attached' });
    await tabTo(() => document.activeElement.id === 'photo-file');
  }
  // Space opens the file picker (Enter too, should a loaded machine drop the first)
  let chooser;
  for (const key of ['Space', 'Enter', 'Space']) {
    assert.equal(await kp.evaluate(() => document.activeElement.id), 'photo-file');
    [chooser] = await Promise.all([kp.waitForEvent('filechooser', { timeout: 5000 }).catch(() => null), kp.keyboard.press(key)]);
    if (chooser) break;
  }
  assert.ok(chooser, 'the keyboard opened the file picker');
  await chooser.setFiles(await photo(k, 280));
  await text(k, '사진 준비 완료');
  await tabTo(() => document.activeElement.closest('.field') && document.activeElement.closest('.field').textContent.startsWith('제목'));
  await kp.keyboard.type('키보드로 올린 화분');
  await kp.keyboard.press('Tab');
  await kp.keyboard.press('ArrowDown'); // a select moves with arrows
  await kp.keyboard.press('Tab');
  await kp.keyboard.type('흙 한 포대');
  await kp.keyboard.press('Tab');
  await kp.keyboard.type('잘 자라는 몬스테라예요.');
  await tabTo(() => document.activeElement.matches('button[type=submit]'));
  await kp.keyboard.press('Enter');
  await kp.waitForURL(/\/item\/\d+$/);
  await text(k, '키보드로 올린 화분');
  await tabTo(() => document.activeElement.matches('main a[href$="/chat"]'));
  await kp.keyboard.press('Enter');
  await kp.waitForURL('**/chat');
  // the page puts the focus in the message box once the room is drawn
  await kp.waitForFunction(() => document.activeElement.getAttribute('aria-label') === '메시지 입력');
  await kp.keyboard.type('키보드로 보낸 인사');
  await kp.keyboard.press('Enter');
  await kp.locator('.msgs').getByText('키보드로 보낸 인사').waitFor();
  k.check('keyboard');
});

step('the owner deletes an item; the README screenshots', async () => {
  const { a, b } = S;
  await open(a, `/item/${S.item2}`);
  await click(a, 'button', '삭제');
  await a.page.getByRole('dialog').getByRole('button', { name: '삭제' }).click();
  await a.page.waitForURL('**/me');
  assert.equal((await srv.req('GET', `/postDetail/${S.item2}`)).status, 404);
  // a neighborhood as a newcomer would see it
  await open(a, '/');
  S.item4 = await uiPost(a, { title: '캠핑 의자 2개 (접이식)', want: '보드게임', hue: 95, category: '스포츠/레저',
    comment: '두 번 썼어요. 가방 포함이에요.' });
  S.item5 = await uiPost(a, { title: '유아 그림책 20권', want: '아기 욕조', hue: 330, category: '유아동/유아도서' });
  // a member leaves a room (after confirming) and may join again
  await open(b, `/item/${S.item4}`);
  await click(b, 'button', '채팅 참여하기');
  await b.page.waitForURL('**/chat');
  await text(b, '별빛고양이님이 입장하셨습니다.');
  await click(b, 'button', '나가기');
  await b.page.getByRole('dialog').getByRole('button', { name: '나가기' }).click();
  await b.page.waitForURL(`**/item/${S.item4}`);
  await b.page.getByRole('button', { name: '채팅 참여하기' }).waitFor();
  await open(b, '/');
  await text(b, '유아 그림책 20권');
  await docShot(b, 'home');
  // a shared link straight into a chat: join from there
  await open(b, `/item/${S.item5}/chat`);
  await text(b, '아직 이 채팅방의 참여자가 아니에요.');
  await click(b, 'button', '채팅 참여하기');
  await b.page.locator('.msgs').getByText('별빛고양이님이 입장하셨습니다.').waitFor();
  await open(a, `/item/${S.item5}/chat`);
  const lines = [[b, '안녕하세요! 그림책 아직 있을까요?'], [a, '네 있어요! 욕조 상태는 어떤가요?'], [b, '6개월 썼고 깨끗해요. 내일 저녁 괜찮으세요?'], [a, '좋아요! 7시에 역삼역 2번 출구에서 봬요']];
  for (const [t, m] of lines) {
    await t.page.getByLabel('메시지 입력').fill(m);
    await t.page.getByLabel('메시지 입력').press('Enter');
    await (t === a ? b : a).page.locator('.msgs').getByText(m).waitFor();
  }
  await docShot(b, 'chat');
  const dt = await tab('desktop B', DESKTOP);
  await uiLogin(dt, S.B);
  await open(dt, `/item/${S.item4}`);
  await docShot(dt, 'item');
  for (const t of [a, b, dt]) t.check('docs');
});

step('desktop 1280×800: every page', async () => {
  const pages = [
    [null, '/', 'home-anon'],
    [null, '/login', 'login'],
    [null, '/signup', 'signup'],
    [null, '/region', 'region'],
    [S.A, '/', 'home'],
    [S.A, '/new', 'post'],
    [S.A, `/item/${S.item4}`, 'item-owner'],
    [S.B, `/item/${S.item3}`, 'item-cancelled'],
    [S.A, `/item/${S.item5}/chat`, 'chat'],
    [S.B, '/alerts', 'alerts'],
    [S.A, '/me', 'me'],
    [S.A, '/me?tab=reviews', 'me-reviews'],
    [S.C, `/u/${S.B.userId}`, 'profile'],
    [S.D, '/admin', 'admin'],
    [S.A, '/nowhere', 'not-found'],
  ];
  const tabs = new Map();
  for (const [u, p, name] of pages) {
    const key = u ? u.email : 'anon';
    if (!tabs.has(key)) {
      const t = await tab(`desktop ${u ? u.nickname : 'visitor'}`, DESKTOP);
      if (u) await uiLogin(t, u);
      tabs.set(key, t);
    }
    const t = tabs.get(key);
    await open(t, p);
    await snap(t, name);
  }
});
