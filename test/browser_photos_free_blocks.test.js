// Several photos, 나눔 and blocking in the web app, in a real browser
// (Debian's Chromium driven by playwright-core) at phone size (360×740):
// post with three photos as 나눔 without a wanted item, swipe the gallery,
// reorder and remove a photo as the owner, filter the feed to 나눔, see
// the members' 나눔 counts in the owner's chat room, block a user from
// their profile and lift it from my page. Every page fails the test on a
// console error, an uncaught exception or a failed request, and is
// checked by axe-core for serious or critical accessibility violations.
// Dev build only (like browser.test.js).
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { start } = require('./lib/dongmul');
const { connect, emit } = require('./lib/market');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ASAN = /\/asan\//.test(process.env.DONGMUL_BIN || '');
const SHOTS = path.resolve(__dirname, '../build/screenshots');
const T = 45000;
let srv, browser, ctx, page, O, B;
const problems = [];

before(async () => {
  if (ASAN) return;
  const { chromium } = require('playwright-core');
  fs.mkdirSync(SHOTS, { recursive: true });
  srv = await start({ args: ['--rate-login', '1000'] });
  O = await srv.user({ address: '서울 강남구', nickname: '나눔왕' });
  B = await srv.user({ address: '서울 강남구', nickname: '이웃비' });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'] });
  ctx = await browser.newContext({ viewport: { width: 360, height: 740 }, locale: 'ko-KR', timezoneId: 'Asia/Seoul', isMobile: true, hasTouch: true });
  page = await ctx.newPage();
  page.setDefaultTimeout(T);
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('requestfailed', (r) => { if (!/ERR_ABORTED/.test(r.failure()?.errorText || '')) problems.push(`failed: ${r.url()}`); });
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`response: ${r.status()} ${new URL(r.url()).pathname}`); });
});
after(async () => {
  if (ASAN) return;
  if (browser) await browser.close();
  if (srv) assert.equal((await srv.stop()).code, 0);
});
const skip = ASAN ? 'browser tests run on the dev build only' : false;

// No problem so far, no serious accessibility violation; a screenshot.
async function checkPage(name) {
  await page.waitForFunction(() => !document.querySelector('.loading, .skeleton'));
  await page.screenshot({ path: path.join(SHOTS, `phone-market-${name}.png`), fullPage: true, animations: 'disabled' });
  await page.evaluate(fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8'));
  const v = await page.evaluate(async () => (await axe.run(document, { resultTypes: ['violations'] })).violations // eslint-disable-line no-undef
    .filter((x) => x.impact === 'serious' || x.impact === 'critical').map((x) => `${x.id}: ${x.nodes.map((n) => n.target.join(' ')).join(' | ')}`));
  assert.deepEqual(v, [], `axe on ${name}`);
  assert.deepEqual(problems.splice(0), [], `problems on ${name}`);
}
async function open(p) {
  await page.goto(srv.url + p, { waitUntil: 'load' });
  await page.waitForSelector('main#main > *');
}
// A phone-like photo drawn by the browser (PNG bytes).
async function photo(hue) {
  const b64 = await page.evaluate((hh) => {
    const c = document.createElement('canvas');
    c.width = 1200; c.height = 900;
    const g = c.getContext('2d');
    g.fillStyle = `hsl(${hh},70%,70%)`; g.fillRect(0, 0, 1200, 900);
    g.fillStyle = `hsl(${(hh + 180) % 360},55%,45%)`; g.beginPath(); g.arc(600, 450, 300, 0, Math.PI * 2); g.fill();
    return c.toDataURL('image/png').split(',')[1];
  }, hue);
  return { name: `IMG_${hue}.png`, mimeType: 'image/png', buffer: Buffer.from(b64, 'base64') };
}
const okDialog = (label) => page.locator('dialog').getByRole('button', { name: label }).click();

test('post three photos as 나눔, swipe, reorder and remove as the owner; filter 나눔; member counts; block and unblock', { skip }, async () => {
  await open('/login');
  await page.getByLabel('이메일').fill(O.email);
  await page.getByLabel('비밀번호').fill(O.password);
  await page.locator('main').getByRole('button', { name: '로그인' }).click();
  await page.waitForURL((u) => u.pathname !== '/login');

  // post: three photos, 나눔, no wanted item
  await open('/new');
  await page.locator('#photo-file').setInputFiles([await photo(10), await photo(120), await photo(240)]);
  await page.getByText('사진 준비 완료 (3장').waitFor();
  assert.equal(await page.locator('.photo-strip li').count(), 3);
  // move the third photo forward once, drop the second: [1, 3]
  await page.getByRole('button', { name: '3번째 사진을 앞으로' }).click();
  await page.getByRole('button', { name: '3번째 사진 빼기' }).click();
  assert.equal(await page.locator('.photo-strip li').count(), 2);
  await page.locator('#photo-file').setInputFiles([await photo(60)]);
  await page.getByText('사진 준비 완료 (3장').waitFor();
  await page.getByLabel('제목').fill('아기 옷 나눔해요');
  await page.getByLabel('카테고리').selectOption('유아동/유아도서');
  await page.getByLabel('나눔하기').check();
  await page.getByLabel('자세한 설명').fill('깨끗하게 빨았어요.');
  await checkPage('post-photos');
  await page.getByRole('button', { name: '올리기' }).click();
  await page.waitForURL(/\/item\/\d+$/);
  const itemId = /\/item\/(\d+)$/.exec(page.url())[1];
  let d = (await srv.req('GET', `/postDetail/${itemId}`)).json.data;
  assert.equal(d.freeYn, 'Y');
  assert.equal(d.wantItem, '');
  assert.equal(d.images.length, 3);
  assert.ok(d.images.every((i) => i.thumb), 'every photo came with its thumbnail');

  // the gallery: three photos, swipe to the second (the item page loads
  // as its own module: wait for it)
  await page.locator('.gallery-track img').first().waitFor();
  assert.equal(await page.locator('.gallery-track img').count(), 3);
  await page.getByText('1 / 3').waitFor();
  await page.locator('.gallery-track').evaluate((el) => el.scrollTo({ left: el.clientWidth, behavior: 'instant' }));
  await page.getByText('2 / 3').waitFor();
  await page.locator('.free-badge').first().waitFor();
  await checkPage('item-gallery');

  // the owner: move the second photo first, then remove the last
  await page.getByRole('button', { name: '사진 편집' }).click();
  await page.getByRole('button', { name: '2번째 사진을 앞으로' }).click();
  await page.waitForFunction((id) => document.querySelector('.gallery-track img') && document.querySelector('.gallery-track img').src.endsWith(id), d.images[1].image);
  const d2 = (await srv.req('GET', `/postDetail/${itemId}`)).json.data;
  assert.deepEqual(d2.images.map((i) => i.imageId), [d.images[1].imageId, d.images[0].imageId, d.images[2].imageId]);
  assert.equal(d2.image, d.images[1].image, 'the cover follows');
  await page.getByRole('button', { name: '사진 편집' }).click();
  await page.getByRole('button', { name: '3번째 사진 빼기' }).click();
  await okDialog('빼기');
  await page.waitForFunction(() => document.querySelectorAll('.gallery-track img').length === 2);
  d = (await srv.req('GET', `/postDetail/${itemId}`)).json.data;
  assert.equal(d.images.length, 2);
  assert.deepEqual(problems.splice(0), []);

  // the feed: 나눔만
  const barter = await srv.req('GET', '/mainPage', { token: O.token }); // (warms nothing; just a second item below)
  assert.equal(barter.status, 200);
  await open('/');
  await page.getByRole('button', { name: '나눔만' }).click();
  await page.waitForURL(/freeYn=Y/);
  await page.locator('.feed .free-badge').first().waitFor();
  await checkPage('feed-free');

  // the owner's room: B joined; the member list shows B's region and 나눔 count
  const bs = await connect(srv, B);
  try { assert.equal((await emit(bs, 'joinRoom', { icrId: d.icrId })).msg, 'success'); } finally { bs.close(); }
  await open(`/item/${itemId}/chat`);
  await page.locator('.member-info').first().waitFor({ state: 'attached' });
  assert.match(await page.locator('.member-info').first().textContent(), /서울 강남구 · 나눔 받음 0회/);
  await checkPage('chat-owner-members');

  // block B from their profile; the list on my page; lift it there
  await open(`/u/${B.userId}`);
  await page.getByRole('button', { name: '이 사용자 차단하기' }).click();
  await okDialog('차단');
  await page.getByRole('button', { name: '차단 해제' }).waitFor();
  assert.deepEqual((await srv.req('GET', '/blocks', { token: O.token })).json.data.map((b) => b.userId), [String(B.userId)]);
  await checkPage('profile-blocked');
  await open('/me');
  await page.locator('.blocked-row').getByText(B.nickname).waitFor();
  await checkPage('me-blocked');
  await page.locator('.blocked-row').getByRole('button', { name: '해제' }).click();
  await page.getByText('차단한 사용자가 없어요').waitFor();
  assert.deepEqual((await srv.req('GET', '/blocks', { token: O.token })).json.data, []);
  assert.deepEqual(problems.splice(0), []);
});
