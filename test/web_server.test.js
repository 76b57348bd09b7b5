// The web app as the server serves it (src/web/web.c, web/build.sh): the
// embedded index.html and hashed assets with their headers (CSP, nosniff,
// ETag/304, cache lifetimes, gzip), the deep-link fallback against the
// API's 404s, the build step itself on a scratch folder, GET /regions,
// GET /account/providers, the browser session cookie
// (/account/session/refresh and /logout), and the schema migration from
// version 1.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');
const { execFileSync, spawnSync } = require('node:child_process');
const { start } = require('./lib/dongmul');

const ROOT = path.resolve(__dirname, '..');
let srv;

test.before(async () => { srv = await start(); });
test.after(async () => {
  const e = await srv.stop();
  assert.equal(e.code, 0, `exit ${JSON.stringify(e)}\n${srv.log().slice(-3000)}`);
});

const get = (p, headers = {}) => srv.req('GET', p, { headers, raw: true });

function assertAppHeaders(r, what) {
  const csp = r.headers['content-security-policy'];
  assert.ok(csp, `${what}: CSP`);
  for (const d of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'",
    "base-uri 'none'", "object-src 'none'", "form-action 'self'"]) {
    assert.ok(csp.split(';').map((s) => s.trim()).includes(d), `${what}: CSP has ${d}: ${csp}`);
  }
  assert.ok(!/unsafe-inline|unsafe-eval/.test(csp), `${what}: no unsafe-* in ${csp}`);
  assert.equal(r.headers['x-content-type-options'], 'nosniff', what);
  assert.equal(r.headers['x-frame-options'], 'DENY', what);
  assert.match(r.headers.vary || '', /Accept-Encoding/, what);
  assert.ok(r.headers.etag, `${what}: ETag`);
}

function assetRefs(html) {
  return [...new Set(html.match(/\/assets\/[A-Za-z0-9._-]+/g) || [])];
}

test('GET / is index.html: CSP, nosniff, no-cache, ETag and 304', async () => {
  const r = await get('/');
  assert.equal(r.status, 200, r.body.toString());
  assert.match(r.headers['content-type'], /^text\/html/);
  assert.equal(r.headers['cache-control'], 'no-cache');
  assertAppHeaders(r, '/');
  const html = r.body.toString();
  assert.match(html, /<html/i);
  // no inline script may run under the policy: index.html has none
  for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) {
    assert.match(m[1], /\bsrc=/, `inline script in index.html: ${m[0].slice(0, 80)}`);
    assert.equal(m[2].trim(), '', 'a script with src has no body');
  }
  assert.doesNotMatch(html, /\son[a-z]+\s*=/i, 'no inline event handlers');
  const again = await get('/', { 'if-none-match': r.headers.etag });
  assert.equal(again.status, 304);
  assert.equal(again.body.length, 0);
  assert.equal(again.headers.etag, r.headers.etag);
  assertAppHeaders(again, '/ 304');
  const other = await get('/', { 'if-none-match': '"0000000000000000"' });
  assert.equal(other.status, 200);
  const head = await srv.req('HEAD', '/');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.equal(Number(head.headers['content-length']), r.body.length);
});

test('gzip when accepted (the same bytes), plain otherwise, different ETags', async () => {
  const plain = await get('/');
  const gz = await get('/', { 'accept-encoding': 'gzip, deflate, br' });
  assert.equal(gz.status, 200);
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.equal(plain.headers['content-encoding'], undefined);
  assert.deepEqual(zlib.gunzipSync(gz.body), plain.body);
  assert.ok(gz.body.length < plain.body.length);
  assert.notEqual(gz.headers.etag, plain.headers.etag);
  const refused = await get('/', { 'accept-encoding': 'gzip;q=0, identity' });
  assert.equal(refused.headers['content-encoding'], undefined);
  assert.deepEqual(refused.body, plain.body);
  const gz304 = await get('/', { 'accept-encoding': 'gzip', 'if-none-match': gz.headers.etag });
  assert.equal(gz304.status, 304);
});

test('every asset index.html names: hashed name, a year immutable, type, gzip, 304', async () => {
  const html = (await get('/')).body.toString();
  const refs = assetRefs(html);
  assert.ok(refs.length >= 2, `index.html references assets: ${refs}`);
  const seen = new Set();
  const queue = [...refs];
  let socketio = false;
  while (queue.length) {
    const a = queue.shift();
    if (seen.has(a)) continue;
    seen.add(a);
    assert.match(a, /^\/assets\/[A-Za-z0-9._-]+\.[0-9a-f]{10}(\.[a-z0-9]+)?$/, a);
    const r = await get(a, { 'accept-encoding': 'gzip' });
    assert.equal(r.status, 200, a);
    assert.equal(r.headers['cache-control'], 'public, max-age=31536000, immutable', a);
    assertAppHeaders(r, a);
    const ext = a.split('.').pop();
    const types = { js: /^text\/javascript/, css: /^text\/css/, svg: /^image\/svg\+xml/, png: /^image\/png/, webp: /^image\/webp/ };
    if (types[ext]) assert.match(r.headers['content-type'], types[ext], a);
    const body = r.headers['content-encoding'] === 'gzip' ? zlib.gunzipSync(r.body) : r.body;
    if (['js', 'css', 'svg'].includes(ext)) {
      assert.equal(r.headers['content-encoding'], 'gzip', `${a} is sent compressed`);
      const text = body.toString();
      // modules import each other by hashed names only
      for (const m of text.matchAll(/from\s*['"]([^'"]+)['"]/g)) {
        assert.match(m[1], /^\/assets\//, `${a} imports ${m[1]}`);
      }
      assert.doesNotMatch(text, /sourceMappingURL/, `${a}: no source map reference`);
      for (const x of assetRefs(text)) queue.push(x);
      if (text.includes('Socket.IO v4.')) socketio = true;
    }
    const r304 = await get(a, { 'accept-encoding': 'gzip', 'if-none-match': r.headers.etag });
    assert.equal(r304.status, 304, a);
  }
  assert.ok(socketio, 'the socket.io-client 4.x browser build is one of the assets');
  const miss = await get('/assets/nope.0123456789.js', { accept: 'text/html' });
  assert.equal(miss.status, 404);
  assert.equal(JSON.parse(miss.body).code, 'NOT_FOUND');
});

test('deep links get index.html; API paths and non-HTML requests keep their JSON', async () => {
  const index = (await get('/')).body;
  const html = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };
  for (const p of ['/login', '/item/42', '/item/42/chat', '/me?tab=done', '/u/7', '/admin/reports', '/alerts', '/new']) {
    const r = await get(p, html);
    assert.equal(r.status, 200, p);
    assert.match(r.headers['content-type'], /^text\/html/, p);
    assert.equal(r.headers['cache-control'], 'no-cache', p);
    assert.deepEqual(r.body, index, p);
    assertAppHeaders(r, p);
  }
  // the same app path without Accept: text/html (fetch, curl) is a JSON 404
  const j = await get('/item/42', { accept: 'application/json' });
  assert.equal(j.status, 404);
  assert.equal(JSON.parse(j.body).code, 'NOT_FOUND');
  assert.match(j.headers['content-type'], /json/);
  // API paths never turn into the app, whatever the Accept header says
  for (const p of ['/account/nope', '/mainPage/nope', '/users/x/y', '/operator', '/operator/nope', '/socket.io/x/y/z',
    '/postDetail/1/2', '/chat/1', '/healthz/x', '/regions/x', '/images/x/y']) {
    const r = await get(p, html);
    assert.notEqual(r.status, 200, p);
    assert.match(r.headers['content-type'], /json/, `${p}: ${r.headers['content-type']}`);
    assert.equal(r.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'", p);
  }
  const api = await get('/healthz', html);
  assert.equal(api.status, 200);
  assert.equal(JSON.parse(api.body).status, 'ok');
  // only GET and HEAD fall back
  const post = await srv.req('POST', '/item/42', { headers: html, body: {} });
  assert.equal(post.status, 404);
  assert.equal(post.json.code, 'NOT_FOUND');
});

// ---- the build step on a scratch folder

function build(dir, extra = []) {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dongmul-webc-')), 'out.c');
  const r = spawnSync('sh', [path.join(ROOT, 'web/build.sh'), dir, out, ...extra], { encoding: 'utf8' });
  return { ...r, c: r.status === 0 ? fs.readFileSync(out, 'utf8') : '' };
}

function scratch(files) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'dongmul-web-'));
  for (const [n, t] of Object.entries(files)) fs.writeFileSync(path.join(d, n), t);
  return d;
}

// the embedded bytes of one row of the generated table, as text
function embedded(c, pathRe) {
  const row = c.split('\n').find((l) => pathRe.test(l) && l.includes('{"/'));
  assert.ok(row, `row ${pathRe}`);
  const sym = row.match(/, (d\d+), \d+,/)[1];
  const arr = c.match(new RegExp(`static const unsigned char ${sym}\\[\\] = \\{([\\s\\S]*?)\\};`))[1];
  const bytes = arr.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  bytes.pop(); // the NUL the generator appends
  return Buffer.from(bytes).toString();
}

test('web/build.sh: hashes leaves first, rewrites ./NAME references, is reproducible, refuses cycles', () => {
  const d = scratch({
    'index.html': '<script type="module" src="./app.js"></script><link rel="stylesheet" href="./app.css">./app.js stays',
    'app.js': "import { x } from './util.js';\nimport('./lazy.js');\nconst notme = 'myutil.js';\n",
    'util.js': 'export const x = 1;\n',
    'lazy.js': "import { x } from './util.js'; export default x;\n",
    'app.css': 'body{background:url(./dot.svg)}\n',
    'dot.svg': '<svg xmlns="http://www.w3.org/2000/svg"/>\n',
    'README.md': 'not served',
    'build.sh': 'not served',
  });
  const a = build(d);
  assert.equal(a.status, 0, a.stderr);
  const b = build(d);
  assert.equal(b.c, a.c, 'the same input gives the same C file');
  assert.doesNotMatch(a.c, /"\/assets\/(README|build)/);
  const index = embedded(a.c, /\{"\/",/);
  const app = embedded(a.c, /"\/assets\/app\.[0-9a-f]{10}\.js"/);
  const util = a.c.match(/"(\/assets\/util\.[0-9a-f]{10}\.js)"/)[1];
  const lazy = a.c.match(/"(\/assets\/lazy\.[0-9a-f]{10}\.js)"/)[1];
  const css = a.c.match(/"(\/assets\/app\.[0-9a-f]{10}\.css)"/)[1];
  const svg = a.c.match(/"(\/assets\/dot\.[0-9a-f]{10}\.svg)"/)[1];
  const appPath = a.c.match(/"(\/assets\/app\.[0-9a-f]{10}\.js)"/)[1];
  assert.ok(index.includes(`src="${appPath}"`) && index.includes(`href="${css}"`), index);
  assert.ok(index.endsWith('./app.js stays'), 'only quoted references are rewritten');
  assert.ok(app.includes(`from '${util}'`) && app.includes(`import('${lazy}')`), app);
  assert.ok(app.includes("'myutil.js'"));
  assert.ok(embedded(a.c, /"\/assets\/app\.[0-9a-f]{10}\.css"/).includes(`url(${svg})`));
  // a change in a leaf renames every file that (transitively) references it
  fs.writeFileSync(path.join(d, 'util.js'), 'export const x = 2;\n');
  const c2 = build(d);
  assert.equal(c2.status, 0, c2.stderr);
  assert.ok(!c2.c.includes(util) && !c2.c.includes(lazy) && !c2.c.includes(appPath));
  assert.ok(c2.c.includes(css), 'unrelated files keep their names');
  // a cycle and a bad name stop the build
  fs.writeFileSync(path.join(d, 'util.js'), "import './lazy.js';\n");
  const cyc = build(d);
  assert.notEqual(cyc.status, 0);
  assert.match(cyc.stderr, /cycle/);
  const bad = build(scratch({ 'index.html': 'x', 'a b.js': '1' }));
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /only A-Z/);
  // the gzip'd copy is gzip -9n of the plain bytes (no name, no time)
  assert.match(a.c, /static const unsigned char z0\[\] = \{\n31,139,8,0,0,0,0,0,2,3,/);
});

// ---- GET /regions

test('GET /regions: the server\'s own table, and every pair is a valid address', async () => {
  const r = await srv.req('GET', '/regions');
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.msg, 'success');
  const regions = r.json.regions;
  assert.equal(regions.length, 17);
  const byName = Object.fromEntries(regions.map((x) => [x.province, x.districts]));
  assert.ok(byName['서울'].includes('강남구'));
  assert.equal(byName['서울'].length, 25);
  assert.ok(byName['경기'].includes('성남시'));
  assert.deepEqual(byName['세종'], ['세종시']);
  assert.ok(byName['대구'].includes('군위군') && !byName['경북'].includes('군위군'));
  // 인천's districts after the 2026 reorganization: the former 중구 and 동구
  // are still accepted in addresses, but not offered
  assert.ok(byName['인천'].includes('제물포구') && byName['인천'].includes('영종구') && byName['인천'].includes('검단구'));
  assert.ok(!byName['인천'].includes('중구') && !byName['인천'].includes('동구'));
  assert.ok(byName['부산'].includes('중구'), 'other provinces keep their 중구');
  assert.match(r.headers['cache-control'], /public/);
  const u = await srv.user();
  let n = 0;
  for (const { province, districts } of regions) {
    for (const dname of districts) {
      const a = await srv.req('POST', '/myPage/address', { token: u.token, body: { new_address: `${province} ${dname}` } });
      assert.equal(a.status, 200, `${province} ${dname}: ${a.body}`);
      assert.equal(a.json.address, `${province} ${dname}`);
      n++;
    }
  }
  assert.ok(n > 200, `${n} regions`);
  const again = await srv.req('GET', '/regions');
  assert.equal(again.body, r.body);
  assert.equal((await srv.req('POST', '/regions', { body: {} })).status, 405);
});

test('GET /account/providers lists only configured providers', async () => {
  const r = await srv.req('GET', '/account/providers');
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { msg: 'success', providers: [] });
});

// ---- browser sessions

function cookieOf(r) {
  const sc = r.headers['set-cookie'];
  assert.ok(sc && sc.length === 1, `one Set-Cookie: ${JSON.stringify(sc)}`);
  const [pair, ...attrs] = sc[0].split(';').map((s) => s.trim());
  const [name, value] = pair.split('=');
  assert.equal(name, 'dm_rt');
  return { value, attrs, raw: sc[0] };
}

async function cookieLogin(u, extra = {}) {
  return srv.req('POST', '/account/login', {
    body: { email: u.email, password: u.password },
    headers: { 'x-dongmul-session': 'cookie', origin: srv.url, ...extra },
  });
}

test('cookie login: refresh token only in an HttpOnly SameSite=Strict cookie; JSON login unchanged', async () => {
  const u = await srv.user();
  // the JSON flow is as before: refreshToken in the body, no cookie, no admin key
  assert.ok(u.login.refreshToken);
  assert.equal(u.login.admin, undefined);
  const plain = await srv.req('POST', '/account/login', { body: { email: u.email, password: u.password } });
  assert.equal(plain.headers['set-cookie'], undefined);
  assert.deepEqual(Object.keys(plain.json), ['msg', 'email', 'nickname', 'address', 'userId', 'mannerTemp', 'token', 'refreshToken']);

  const r = await cookieLogin(u);
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.refreshToken, undefined);
  assert.equal(r.json.admin, false);
  assert.match(r.json.token, /^bearer /);
  assert.equal(r.headers['cache-control'], 'no-store');
  const c = cookieOf(r);
  assert.match(c.value, /^[A-Za-z0-9_-]{40,}$/);
  for (const a of ['HttpOnly', 'SameSite=Strict', 'Path=/account/session', 'Max-Age=2592000']) {
    assert.ok(c.attrs.includes(a), `${a} in ${c.raw}`);
  }
  assert.ok(!c.attrs.includes('Secure'), 'no Secure over plain HTTP');
  // the access token works
  assert.equal((await srv.req('POST', '/account/reset', { token: r.json.token })).status, 200);
  // a foreign page cannot ask for a cookie session
  const foreign = await cookieLogin(u, { origin: 'http://evil.example' });
  assert.equal(foreign.status, 403);
  assert.equal(foreign.json.code, 'BAD_ORIGIN');
  assert.equal(foreign.headers['set-cookie'], undefined);
});

test('session refresh: rotates the cookie; CSRF and replay refused; no cookie is 204', async () => {
  const u = await srv.user();
  const c1 = cookieOf(await cookieLogin(u)).value;
  const refresh = (cookie, origin = srv.url) => srv.req('POST', '/account/session/refresh', {
    headers: { ...(cookie ? { cookie: `dm_rt=${cookie}` } : {}), ...(origin ? { origin } : {}) },
  });
  // CSRF: no Origin, or another one, is refused and the cookie stays good
  for (const o of [null, 'http://evil.example', 'null']) {
    const x = await refresh(c1, o);
    assert.equal(x.status, 403, `origin ${o}`);
    assert.equal(x.json.code, 'BAD_ORIGIN');
  }
  const r = await refresh(c1);
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.userId, u.userId);
  assert.equal(r.json.refreshToken, undefined);
  assert.equal(r.json.admin, false);
  const c2 = cookieOf(r).value;
  assert.notEqual(c2, c1);
  assert.equal((await srv.req('GET', '/myPage', { token: r.json.token })).status, 200);
  // the rotated cookie again: reuse, the family ends, the cookie is cleared
  const reuse = await refresh(c1);
  assert.equal(reuse.status, 401);
  assert.equal(reuse.json.code, 'REFRESH_REUSED');
  const cleared = cookieOf(reuse);
  assert.equal(cleared.value, '');
  assert.ok(cleared.attrs.includes('Max-Age=0'));
  const after = await refresh(c2);
  assert.equal(after.status, 401, 'the whole family ended');
  const junk = await refresh('not-a-token');
  assert.equal(junk.status, 401);
  assert.equal(junk.json.code, 'REFRESH_INVALID');
  assert.equal(cookieOf(junk).value, '');
  const none = await refresh(null);
  assert.equal(none.status, 204);
  assert.equal(none.body, '');
  // the JSON refresh of other clients is unchanged
  const j = await srv.req('POST', '/account/refresh', { body: { refreshToken: u.refreshToken } });
  assert.equal(j.status, 200);
  assert.ok(j.json.refreshToken);
  assert.equal(j.headers['set-cookie'], undefined);
});

test('session logout ends the access token and the cookie\'s family, and clears the cookie', async () => {
  const u = await srv.user();
  const li = await cookieLogin(u);
  const cookie = cookieOf(li).value;
  const logout = (headers) => srv.req('POST', '/account/session/logout', { headers });
  const refused = await logout({ cookie: `dm_rt=${cookie}`, authorization: li.json.token });
  assert.equal(refused.status, 403, 'no Origin: refused');
  assert.equal((await srv.req('POST', '/account/reset', { token: li.json.token })).status, 200, 'still signed in');
  const out = await logout({ cookie: `dm_rt=${cookie}`, authorization: li.json.token, origin: srv.url });
  assert.equal(out.status, 200, out.body);
  assert.deepEqual(out.json, { msg: 'success' });
  assert.equal(cookieOf(out).value, '');
  assert.equal((await srv.req('POST', '/account/reset', { token: li.json.token })).status, 401);
  const r = await srv.req('POST', '/account/session/refresh', { headers: { cookie: `dm_rt=${cookie}`, origin: srv.url } });
  assert.equal(r.status, 401);
  // the user's other (JSON) session is untouched
  assert.equal((await srv.req('POST', '/account/reset', { token: u.token })).status, 200);
  // the cookie alone (access token lost with the page) also ends the session
  const li2 = await cookieLogin(u);
  const c2 = cookieOf(li2).value;
  const out2 = await logout({ cookie: `dm_rt=${c2}`, origin: srv.url, authorization: 'bearer expired.or.junk' });
  assert.equal(out2.status, 200);
  assert.equal((await srv.req('POST', '/account/session/refresh', { headers: { cookie: `dm_rt=${c2}`, origin: srv.url } })).status, 401);
  // nothing to end: still 200, still cleared
  const out3 = await logout({ origin: srv.url });
  assert.equal(out3.status, 200);
  assert.equal(cookieOf(out3).value, '');
});

test('over HTTPS the session cookie is Secure', async () => {
  const s = await start({ https: true });
  try {
    const su = await s.sreq('POST', '/account', { body: { email: 'tls@example.com', nickname: '보안이웃', password: 'passw0rd!' } });
    assert.equal(su.status, 201, su.body);
    const r = await s.sreq('POST', '/account/login', {
      body: { email: 'tls@example.com', password: 'passw0rd!' },
      headers: { 'x-dongmul-session': 'cookie', origin: s.surl },
    });
    assert.equal(r.status, 200, r.body);
    const c = cookieOf(r);
    assert.ok(c.attrs.includes('Secure'), c.raw);
    const rr = await s.sreq('POST', '/account/session/refresh', { headers: { cookie: `dm_rt=${c.value}`, origin: s.surl } });
    assert.equal(rr.status, 200, rr.body);
    assert.ok(cookieOf(rr).attrs.includes('Secure'));
    // the plain-HTTP origin is another origin
    const x = await s.sreq('POST', '/account/session/refresh', { headers: { cookie: `dm_rt=${cookieOf(rr).value}`, origin: s.url } });
    assert.equal(x.status, 403);
  } finally {
    assert.equal((await s.stop()).code, 0);
  }
});

// ---- schema migration

test('a version-1 database is migrated and keeps its data', async (t) => {
  let v1;
  try {
    // schema.sql as it was at version 1 (the commit before version 2)
    v1 = execFileSync('git', ['-C', ROOT, 'show', '2008f5a:schema.sql'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    t.skip('no git history here');
    return;
  }
  assert.match(v1, /PRAGMA user_version = 1;/);
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'dongmul-v1-'));
  const sq = spawnSync('sqlite3', [path.join(data, 'dongmul.db')], {
    input: `${v1}\nINSERT INTO user(email, nickname, password, createdDt) VALUES ('old@example.com', '옛이웃', NULL, 1);\n`,
    encoding: 'utf8',
  });
  assert.equal(sq.status, 0, sq.stderr);
  const bin = process.env.DONGMUL_BIN || path.join(ROOT, 'dongmul');
  // the operator command does not touch an old schema: the server upgrades it
  const early = spawnSync(bin, ['user', 'show', 'old@example.com', '--data', data], { encoding: 'utf8' });
  assert.equal(early.status, 1);
  assert.match(early.stderr, /older dongmul; start `dongmul serve`/);
  const s = await start({ data });
  try {
    assert.match(s.log(), /migrated from schema 1 to \d+/);
    assert.ok(fs.existsSync(path.join(data, 'dongmul.db.v1')), 'the old file is kept');
    const adm = spawnSync(bin, ['user', 'admin', 'old@example.com', '--data', data], { encoding: 'utf8' });
    assert.equal(adm.status, 0, adm.stderr);
    assert.match(adm.stdout, /operator:\s+yes/);
  } finally {
    assert.equal((await s.stop()).code, 0);
  }
});
