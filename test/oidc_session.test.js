// Social sign-in into a browser session: with only Kakao configured,
// GET /account/providers names only it; the one-time code of the redirect
// flow, exchanged with X-Dongmul-Session: cookie, gives the refresh token as
// the HttpOnly cookie (not in the JSON) and refreshes through it. A real
// OpenID provider (oidc-provider over TLS, lib/oidc.js), as in oidc.test.js.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { start, freePort } = require('./lib/dongmul');
const { makeCA } = require('./lib/testca');
const { startProvider, followRedirects } = require('./lib/oidc');

const CLIENT = { client_id: 'kakao-web-key', client_secret: 'kakao-web-secret' };
let ca, srv, op;

before(async () => {
  ca = makeCA();
  const port = await freePort();
  srv = await start({
    args: ['--ca-bundle', ca.caFile, '--kakao-issuer', `https://127.0.0.1:${port}`,
      '--kakao-client-id', CLIENT.client_id, '--kakao-client-secret', CLIENT.client_secret],
  });
  op = await startProvider({ ca, port, clients: [{ ...CLIENT, redirect_uris: [`${srv.url}/account/kakao/callback`] }] });
});

after(async () => {
  const r = await srv.stop();
  await op.stop();
  ca.cleanup();
  assert.equal(r.code, 0, `dongmul exit ${JSON.stringify(r)}`);
});

test('GET /account/providers names the configured provider only', async () => {
  const r = await srv.req('GET', '/account/providers');
  assert.deepEqual(r.json, { msg: 'success', providers: ['kakao'] });
});

test('the social code exchanged in cookie mode: refresh token only in the cookie, and it refreshes', async () => {
  const sub = `web-${process.pid}`;
  op.addAccount(sub, { email: `web${process.pid}@example.com`, email_verified: true, nickname: '웹이웃' });
  op.setAccount(sub);
  const start302 = await srv.req('GET', '/account/kakao');
  assert.equal(start302.status, 302);
  // the state cookie binds the callback to this browser (oidc.test.js)
  const stateCk = [].concat(start302.headers['set-cookie'] || []).find((c) => c.startsWith('dongmul_oidc_state=')).split(';')[0];
  const back = await followRedirects(start302.headers.location, { stopAt: srv.url, ca: ca.ca });
  const cb = await srv.req('GET', back.slice(srv.url.length), { headers: { cookie: stateCk } });
  assert.equal(cb.status, 302, cb.body);
  // without --app-url the app is this server's own "/"
  const app = new URL(cb.headers.location);
  assert.equal(`${app.origin}${app.pathname}`, `${srv.url}/`);
  const code = app.searchParams.get('code');
  assert.ok(code);
  // a foreign page cannot turn the code into a cookie session (and the code stays good)
  const foreign = await srv.req('POST', '/account/social/exchange', {
    body: { code }, headers: { 'x-dongmul-session': 'cookie', origin: 'http://evil.example' },
  });
  assert.equal(foreign.status, 403);
  assert.equal(foreign.json.code, 'BAD_ORIGIN');
  const ex = await srv.req('POST', '/account/social/exchange', {
    body: { code }, headers: { 'x-dongmul-session': 'cookie', origin: srv.url },
  });
  assert.equal(ex.status, 200, ex.body);
  assert.equal(ex.json.nickname, '웹이웃');
  assert.equal(ex.json.refreshToken, undefined);
  assert.equal(ex.json.admin, false);
  const sc = ex.headers['set-cookie'][0];
  assert.match(sc, /^dm_rt=[A-Za-z0-9_-]+; Path=\/account\/session; Max-Age=\d+; HttpOnly; SameSite=Strict$/);
  const cookie = sc.split(';')[0];
  const r = await srv.req('POST', '/account/session/refresh', { headers: { cookie, origin: srv.url } });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.userId, ex.json.userId);
});
