// Kakao and Google sign-in against a real OpenID provider (oidc-provider on
// loopback over TLS, trusted through --ca-bundle with a test CA): the
// server-side code flow with PKCE end to end, the SDK endpoints with real
// and forged tokens, replays, and the email-exists rule.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { start, freePort, BIN } = require('./lib/dongmul');
const { makeCA } = require('./lib/testca');
const { startProvider, followRedirects, sdkLogin, rsaKey } = require('./lib/oidc');

const APP = 'https://app.test/social';
const SDK_CB = 'https://app.test/sdk-callback';
const KAKAO = { client_id: 'kakao-rest-key', client_secret: 'kakao-secret' };
const KAKAO_APP_ID = 1001;
// another Kakao app (someone else's service) on the same provider
const OTHER_APP = { client_id: 'other-app-rest-key', client_secret: 'other-secret' };
const OTHER_APP_ID = 2002;
const GOOGLE = { client_id: 'google-client.apps.test', client_secret: 'google-secret' };

let ca, srv, kakao, google;

before(async () => {
  ca = makeCA();
  const kport = await freePort();
  const gport = await freePort();
  srv = await start({
    args: ['--ca-bundle', ca.caFile, '--app-url', APP,
      '--kakao-issuer', `https://127.0.0.1:${kport}`, '--kakao-client-id', KAKAO.client_id, '--kakao-client-secret', KAKAO.client_secret,
      '--google-issuer', `https://127.0.0.1:${gport}`, '--google-client-id', GOOGLE.client_id, '--google-client-secret', GOOGLE.client_secret,
      '--rate-login', '1000'],
    // the access-token sign-in needs our Kakao app id (environment, so the
    // same file runs against a binary without these flags)
    env: { DONGMUL_KAKAO_APP_ID: String(KAKAO_APP_ID), DONGMUL_KAKAO_TOKENINFO: `https://127.0.0.1:${kport}/v1/user/access_token_info` },
  });
  const cb = (p) => [`${srv.url}/account/${p}/callback`, SDK_CB];
  kakao = await startProvider({
    ca, port: kport,
    clients: [{ ...KAKAO, redirect_uris: cb('kakao') }, { ...OTHER_APP, redirect_uris: [SDK_CB] }],
    appIds: { [KAKAO.client_id]: KAKAO_APP_ID, [OTHER_APP.client_id]: OTHER_APP_ID },
  });
  google = await startProvider({ ca, port: gport, clients: [{ ...GOOGLE, redirect_uris: cb('google') }] });
});

after(async () => {
  const r = await srv.stop();
  await kakao.stop();
  await google.stop();
  ca.cleanup();
  assert.equal(r.code, 0, `dongmul exit ${JSON.stringify(r)}`);
});

let seq = 0;
function account(op, extra = {}) {
  seq += 1;
  const sub = `sub-${process.pid}-${seq}`;
  const claims = { email: `social${process.pid}x${seq}@example.com`, email_verified: true, nickname: `소셜${seq}`, ...extra };
  op.addAccount(sub, claims);
  return { sub, ...claims };
}

// The state cookie a GET /account/<p> set, as a Cookie header ("" if none).
function stateCookie(r) {
  const sc = [].concat(r.headers['set-cookie'] || []).find((c) => c.startsWith('dongmul_oidc_state='));
  return sc ? sc.split(';')[0] : '';
}

// GET /account/<p> and walk through the provider back to dongmul and on to
// the app; returns the app URL dongmul redirected to.
async function browserFlow(provider, op, acct) {
  op.setAccount(acct.sub);
  const r = await srv.req('GET', `/account/${provider}`);
  assert.equal(r.status, 302);
  const cookie = stateCookie(r);
  const loc = new URL(r.headers.location);
  assert.equal(loc.origin, op.issuer);
  assert.equal(loc.searchParams.get('code_challenge_method'), 'S256');
  assert.ok(loc.searchParams.get('state') && loc.searchParams.get('nonce') && loc.searchParams.get('code_challenge'));
  assert.equal(loc.searchParams.get('redirect_uri'), `${srv.url}/account/${provider}/callback`);
  const back = await followRedirects(loc.toString(), { stopAt: srv.url, ca: ca.ca });
  const cb = await srv.req('GET', back.slice(srv.url.length), { headers: { cookie } });
  assert.equal(cb.status, 302, cb.body);
  assert.ok(cb.headers.location.startsWith(APP), cb.headers.location);
  return new URL(cb.headers.location);
}

for (const [name, getOp] of [['kakao', () => kakao], ['google', () => google]]) {
  test(`${name}: code flow with PKCE signs up, then signs in the same user`, async () => {
    const op = getOp();
    const acct = account(op);
    const app = await browserFlow(name, op, acct);
    const code = app.searchParams.get('code');
    assert.ok(code, app.toString());
    const ex = await srv.req('POST', '/account/social/exchange', { body: { code } });
    assert.equal(ex.status, 200, ex.body);
    assert.equal(ex.json.email, acct.email);
    assert.equal(ex.json.nickname, acct.nickname);
    assert.match(ex.json.token, /^bearer /);
    assert.ok(ex.json.refreshToken);
    const me = await srv.req('POST', '/account/reset', { token: ex.json.token });
    assert.equal(me.status, 200);
    assert.equal(me.json.email, acct.email);
    // the one-time code is spent
    const again = await srv.req('POST', '/account/social/exchange', { body: { code } });
    assert.equal(again.status, 401);
    assert.equal(again.json.code, 'CODE_INVALID');
    // a second sign-in finds the same user by (provider, sub)
    const app2 = await browserFlow(name, op, acct);
    const ex2 = await srv.req('POST', '/account/social/exchange', { body: { code: app2.searchParams.get('code') } });
    assert.equal(ex2.status, 200);
    assert.equal(ex2.json.userId, ex.json.userId);
  });
}

test('a social account with the email of a password account is refused (EMAIL_EXISTS)', async () => {
  const u = await srv.user();
  const acct = account(google, { email: u.email });
  const app = await browserFlow('google', google, acct);
  assert.equal(app.searchParams.get('error'), 'EMAIL_EXISTS');
  assert.equal(app.searchParams.get('code'), null);
  // the password account is untouched
  const li = await srv.req('POST', '/account/login', { body: { email: u.email, password: u.password } });
  assert.equal(li.status, 200);
  assert.equal(li.json.userId, u.userId);
});

test('an unverified provider email does not create an account', async () => {
  const acct = account(google, { email_verified: false });
  const app = await browserFlow('google', google, acct);
  assert.equal(app.searchParams.get('error'), 'EMAIL_REQUIRED');
});

test('callback with an unknown or replayed state is refused', async () => {
  const r = await srv.req('GET', '/account/kakao/callback?state=forged&code=abc', { headers: { cookie: 'dongmul_oidc_state=forged' } });
  assert.equal(r.status, 302);
  assert.equal(new URL(r.headers.location).searchParams.get('error'), 'STATE_INVALID');
  // a real state is single use: walk the flow, then replay the callback
  const acct = account(kakao);
  kakao.setAccount(acct.sub);
  const s = await srv.req('GET', '/account/kakao');
  const cookie = stateCookie(s);
  const back = await followRedirects(s.headers.location, { stopAt: srv.url, ca: ca.ca });
  const first = await srv.req('GET', back.slice(srv.url.length), { headers: { cookie } });
  assert.ok(new URL(first.headers.location).searchParams.get('code'));
  const replay = await srv.req('GET', back.slice(srv.url.length), { headers: { cookie } });
  assert.equal(new URL(replay.headers.location).searchParams.get('error'), 'STATE_INVALID');
});

test('googleAuth accepts a real id_token once; a replay is refused', async () => {
  const acct = account(google);
  google.setAccount(acct.sub);
  const tok = await sdkLogin(google, { ...GOOGLE, redirect_uri: SDK_CB, nonce: `n-${seq}`, ca: ca.ca });
  const r = await srv.req('POST', '/account/googleAuth', { body: { idToken: tok.id_token } });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.email, acct.email);
  const again = await srv.req('POST', '/account/googleAuth', { body: { idToken: tok.id_token } });
  assert.equal(again.status, 401);
  assert.equal(again.json.code, 'TOKEN_REPLAYED');
});

test('kakaoAuth accepts a real accessToken through the user-info endpoint', async () => {
  const acct = account(kakao);
  kakao.setAccount(acct.sub);
  const tok = await sdkLogin(kakao, { ...KAKAO, redirect_uri: SDK_CB, nonce: 'x', scope: 'openid account_email profile_nickname', ca: ca.ca });
  const r = await srv.req('POST', '/account/kakaoAuth', { body: { accessToken: tok.access_token } });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.email, acct.email);
  const bad = await srv.req('POST', '/account/kakaoAuth', { body: { accessToken: `${tok.access_token}x` } });
  assert.equal(bad.status, 401);
});

// Access-token substitution: an access token that some other Kakao app
// obtained for the victim (the user signed in to that app) must not sign
// the victim in here, although Kakao's user-info endpoint answers for it.
test('kakaoAuth refuses an accessToken issued to another Kakao app', async () => {
  const victim = account(kakao);
  kakao.setAccount(victim.sub);
  // the victim has an account here (signed up through our own app) ...
  const own = await sdkLogin(kakao, { ...KAKAO, redirect_uri: SDK_CB, nonce: 'own', scope: 'openid account_email profile_nickname', ca: ca.ca });
  const mine = await srv.req('POST', '/account/kakaoAuth', { body: { accessToken: own.access_token } });
  assert.equal(mine.status, 200, mine.body);
  // ... and signed in to the attacker's app, which so holds an access token
  const other = await sdkLogin(kakao, { ...OTHER_APP, redirect_uri: SDK_CB, nonce: 'other', scope: 'openid account_email profile_nickname', ca: ca.ca });
  const r = await srv.req('POST', '/account/kakaoAuth', { body: { accessToken: other.access_token } });
  assert.equal(r.status, 401, `another app's token signed in as ${r.json && r.json.email}`);
  assert.equal(r.json.code, 'TOKEN_INVALID');
  assert.equal(r.json.token, undefined);
  assert.match(srv.log(), /token refused \(access token of another app\)/);
});

test('without --kakao-app-id, kakaoAuth takes idTokens only (ACCESS_TOKEN_UNSUPPORTED)', async () => {
  const kport = new URL(kakao.issuer).port;
  const s = await start({
    args: ['--ca-bundle', ca.caFile, '--kakao-issuer', kakao.issuer, '--kakao-client-id', KAKAO.client_id,
      '--kakao-client-secret', KAKAO.client_secret, '--rate-login', '1000'],
  });
  try {
    const acct = account(kakao);
    kakao.setAccount(acct.sub);
    const tok = await sdkLogin(kakao, { ...KAKAO, redirect_uri: SDK_CB, nonce: `noapp-${kport}`, scope: 'openid account_email profile_nickname', ca: ca.ca });
    const r = await s.req('POST', '/account/kakaoAuth', { body: { accessToken: tok.access_token } });
    assert.equal(r.status, 400, r.body);
    assert.equal(r.json.code, 'ACCESS_TOKEN_UNSUPPORTED');
    const id = await s.req('POST', '/account/kakaoAuth', { body: { idToken: tok.id_token } });
    assert.equal(id.status, 200, id.body);
    assert.equal(id.json.email, acct.email);
  } finally {
    assert.equal((await s.stop()).code, 0);
  }
  // a bad app id or a token-info URL that is not https is a bad flag
  const { spawnSync } = require('node:child_process');
  for (const args of [['--kakao-app-id', 'abc'], ['--kakao-app-id', '1', '--kakao-tokeninfo', 'http://127.0.0.1/']]) {
    const r = spawnSync(BIN, ['serve', ...args], { encoding: 'utf8' });
    assert.equal(r.status, 2, args.join(' '));
    assert.match(r.stderr, /^dongmul: --kakao-/);
  }
});

// Login CSRF: an attacker walks the flow in their own browser, stops at
// the callback URL and gets a victim's browser to open it; the victim
// would be signed in as the attacker. The state is bound to the browser
// that started the flow by a cookie.
test('a callback without the state cookie of the browser that started the flow is refused', async () => {
  const attacker = account(kakao);
  kakao.setAccount(attacker.sub);
  const start_ = await srv.req('GET', '/account/kakao');
  const back = await followRedirects(start_.headers.location, { stopAt: srv.url, ca: ca.ca });
  const path = back.slice(srv.url.length);
  // the victim's browser: no cookie, or the cookie of its own flow
  const victimStart = await srv.req('GET', '/account/kakao');
  for (const headers of [{}, { cookie: stateCookie(victimStart) }, { cookie: 'dongmul_oidc_state=' }]) {
    const r = await srv.req('GET', path, { headers });
    assert.equal(r.status, 302);
    const app = new URL(r.headers.location);
    assert.equal(app.searchParams.get('code'), null, `the victim was signed in as the attacker: ${app}`);
    assert.equal(app.searchParams.get('error'), 'STATE_MISMATCH', `${JSON.stringify(headers)}: ${app}`);
    assert.match([].concat(r.headers['set-cookie'] || []).join('\n'), /dongmul_oidc_state=; .*Max-Age=0/, 'the cookie is cleared');
  }
  // the cookie: the state, for the callback path only, short-lived
  const sc = [].concat(start_.headers['set-cookie'] || []).find((c) => c.startsWith('dongmul_oidc_state='));
  const state = new URL(start_.headers.location).searchParams.get('state');
  assert.equal(sc.split(';')[0], `dongmul_oidc_state=${state}`);
  for (const attr of ['HttpOnly', 'SameSite=Lax', 'Path=/account/kakao/callback', 'Max-Age=600']) {
    assert.ok(sc.split('; ').includes(attr), `${attr} in ${sc}`);
  }
  assert.ok(!/; Secure/.test(sc), 'not Secure over plain HTTP');
  // the attacker's own browser still finishes its sign-in (the refused
  // tries did not spend the state)
  const own = await srv.req('GET', path, { headers: { cookie: sc.split(';')[0] } });
  assert.ok(new URL(own.headers.location).searchParams.get('code'), own.headers.location);
});

test('over HTTPS the state cookie is Secure', async () => {
  const s = await start({
    https: true,
    args: ['--ca-bundle', ca.caFile, '--kakao-issuer', kakao.issuer, '--kakao-client-id', KAKAO.client_id],
  });
  try {
    const r = await s.sreq('GET', '/account/kakao');
    assert.equal(r.status, 302, r.body);
    const sc = [].concat(r.headers['set-cookie'] || []).find((c) => c.startsWith('dongmul_oidc_state='));
    assert.ok(sc && sc.split('; ').includes('Secure'), sc);
  } finally {
    assert.equal((await s.stop()).code, 0);
  }
});

test('forged id_tokens are refused: bad signature, wrong audience, expired, wrong issuer, replayed nonce, alg none', async () => {
  const acct = account(google);
  const now = Math.floor(Date.now() / 1000);
  const base = () => ({ iss: google.issuer, aud: GOOGLE.client_id, sub: acct.sub, email: acct.email, email_verified: true, iat: now, exp: now + 300, nonce: `nonce-${Math.random()}` });
  const other = rsaKey(google.key.kid); // same kid, a different key
  const cases = [
    ['bad signature', google.mint(base(), { key: other.privateKey })],
    ['unknown key', google.mint(base(), { key: other.privateKey, kid: 'not-a-kid' })],
    ['wrong audience', google.mint({ ...base(), aud: 'someone-else' })],
    ['expired', google.mint({ ...base(), iat: now - 7200, exp: now - 3600 })],
    ['wrong issuer', google.mint({ ...base(), iss: kakao.issuer })],
    ['kakao token at google', kakao.mint({ ...base(), iss: kakao.issuer })],
  ];
  for (const [why, t] of cases) {
    const r = await srv.req('POST', '/account/googleAuth', { body: { idToken: t } });
    assert.equal(r.status, 401, `${why}: ${r.status} ${r.body}`);
    assert.equal(r.json.code, 'TOKEN_INVALID', why);
  }
  const h = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
  const p = Buffer.from(JSON.stringify(base())).toString('base64url');
  const none = await srv.req('POST', '/account/googleAuth', { body: { idToken: `${h}.${p}.` } });
  assert.equal(none.status, 401);
  // a good token signs in; a second token with the same nonce is a replay
  const b = base();
  const ok = await srv.req('POST', '/account/googleAuth', { body: { idToken: google.mint(b) } });
  assert.equal(ok.status, 200, ok.body);
  const replay = await srv.req('POST', '/account/googleAuth', { body: { idToken: google.mint({ ...b, iat: now + 1 }) } });
  assert.equal(replay.status, 401);
  assert.equal(replay.json.code, 'TOKEN_REPLAYED');
});

test('a bare {email} is refused by kakaoAuth and googleAuth', async () => {
  const u = await srv.user();
  for (const p of ['kakaoAuth', 'googleAuth']) {
    const r = await srv.req('POST', `/account/${p}`, { body: { email: u.email } });
    assert.equal(r.status, 400, p);
    assert.equal(r.json.code, 'TOKEN_REQUIRED');
    assert.equal(r.json.token, undefined);
  }
});
