// A real OpenID provider (oidc-provider 8.x) on loopback over TLS, to play
// Kakao or Google for dongmul. Interactions are answered headlessly: login
// as the account chosen with setAccount(), consent granted by a grant that
// covers what was asked (loadExistingGrant).
//
//   const op = await startProvider({ ca, port, clients: [{client_id, client_secret, redirect_uris}] });
//   op.issuer                         // https://127.0.0.1:PORT
//   op.addAccount('sub-1', {email, email_verified: true, nickname});
//   op.setAccount('sub-1');           // who logs in next
//   op.mint(payload, {key, kid})      // an RS256 JWT (default: the provider's own key)
//   op.tokenInfo                      // Kakao's token-info endpoint, GET with Bearer:
//                                     // {id, expires_in, app_id} (app_id from opts.appIds[client_id])
//   await op.stop();
//
// followRedirects(url, {stopAt}) drives a browser-like walk (cookie jar,
// redirects) through the provider until a Location starting with stopAt.
'use strict';
const crypto = require('node:crypto');
const https = require('node:https');
const http = require('node:http');

function b64url(buf) { return Buffer.from(buf).toString('base64url'); }

function rsaKey(kid) {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { privateKey, jwk: { ...jwk, kid, alg: 'RS256', use: 'sig' }, kid };
}

// Signs an RS256 JWT with key (a KeyObject).
function signJwt(payload, key, kid, alg = 'RS256') {
  const h = b64url(JSON.stringify({ alg, typ: 'JWT', kid }));
  const p = b64url(JSON.stringify(payload));
  const sig = crypto.sign('sha256', Buffer.from(`${h}.${p}`), key);
  return `${h}.${p}.${b64url(sig)}`;
}

async function startProvider(opts) {
  const { default: Provider } = await import('oidc-provider');
  const port = opts.port;
  const issuer = `https://127.0.0.1:${port}`;
  const key = rsaKey(opts.kid || `k-${port}`);
  const accounts = new Map();
  let next = null;

  const provider = new Provider(issuer, {
    clients: opts.clients.map((c) => ({
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
      id_token_signed_response_alg: 'RS256',
      ...c,
    })),
    jwks: { keys: [key.jwk] },
    cookies: { keys: ['dongmul-test-cookie-key'] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'nickname'],
      account_email: ['email', 'email_verified'],
      profile_nickname: ['nickname'],
    },
    // scope claims go into the id_token (as Google and Kakao do)
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    async findAccount(ctx, id) {
      if (!accounts.has(id)) return undefined;
      return { accountId: id, async claims() { return { sub: id, ...accounts.get(id) }; } };
    },
    // consent: a grant with whatever was asked
    async loadExistingGrant(ctx) {
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope(ctx.oidc.params.scope || 'openid');
      await grant.save();
      return grant;
    },
    pkce: { required: () => true },
    ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 600, Grant: 600 },
  });
  provider.on('server_error', (ctx, err) => { console.error('oidc-provider server_error', err); });
  const handler = provider.callback();

  const appIds = opts.appIds || {};
  const server = https.createServer({ key: opts.ca.key, cert: opts.ca.cert }, async (req, res) => {
    // Kakao's GET /v1/user/access_token_info: which app (and user) an
    // access token belongs to; 401 for a token that is not live
    if (req.url.split('?')[0] === '/v1/user/access_token_info') {
      const m = /^Bearer (.+)$/i.exec(req.headers.authorization || '');
      const tok = m ? await provider.AccessToken.find(m[1]) : undefined;
      res.setHeader('content-type', 'application/json;charset=UTF-8');
      if (!tok || tok.isExpired) {
        res.statusCode = 401;
        res.end(JSON.stringify({ msg: 'this access token does not exist', code: -401 }));
        return;
      }
      res.end(JSON.stringify({ id: tok.accountId, expires_in: tok.exp - Math.floor(Date.now() / 1000), app_id: appIds[tok.clientId] }));
      return;
    }
    if (req.url.startsWith('/interaction/')) {
      try {
        await provider.interactionDetails(req, res);
        await provider.interactionFinished(req, res, { login: { accountId: next } }, { mergeWithLastSubmission: false });
      } catch (e) {
        res.statusCode = 500;
        res.end(String(e));
      }
      return;
    }
    handler(req, res);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    issuer,
    tokenInfo: `${issuer}/v1/user/access_token_info`,
    provider,
    key,
    addAccount(sub, claims) { accounts.set(sub, claims); },
    setAccount(sub) { next = sub; },
    // mints an id_token-like JWT; defaults: the provider's key and kid
    mint(payload, o = {}) { return signJwt(payload, o.key || key.privateKey, o.kid || key.kid, o.alg); },
    stop() { return new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }); },
  };
}

// One request; returns {status, headers, body}. ca: extra trust for https.
function rawRequest(url, { method = 'GET', headers = {}, body, ca } = {}) {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const rq = mod.request(u, { method, headers, ca, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    rq.on('error', reject);
    rq.setTimeout(20000, () => rq.destroy(new Error(`timeout ${url}`)));
    if (body) rq.write(body);
    rq.end();
  });
}

// Follows redirects from url like a browser with a cookie jar, until a
// Location starts with stopAt (returned, not fetched). Throws after 20 hops
// or on a non-redirect reply.
async function followRedirects(url, { stopAt, ca, jar = new Map() }) {
  let cur = url;
  for (let hop = 0; hop < 20; hop++) {
    const u = new URL(cur);
    const cookies = [...jar.values()].filter((c) => u.pathname.startsWith(c.path)).map((c) => `${c.name}=${c.value}`);
    const r = await rawRequest(cur, { headers: cookies.length ? { cookie: cookies.join('; ') } : {}, ca });
    for (const sc of [].concat(r.headers['set-cookie'] || [])) {
      const [nv, ...attrs] = sc.split(';');
      const i = nv.indexOf('=');
      const name = nv.slice(0, i).trim();
      const value = nv.slice(i + 1).trim();
      let p = '/';
      for (const a of attrs) { const [k, v] = a.trim().split('='); if (k.toLowerCase() === 'path') p = v; }
      const expired = /expires=Thu, 01 Jan 1970/i.test(sc) || value === '';
      if (expired) jar.delete(`${name}|${p}`); else jar.set(`${name}|${p}`, { name, value, path: p });
    }
    if (r.status < 300 || r.status > 399 || !r.headers.location) {
      throw new Error(`no redirect from ${cur}: ${r.status} ${r.body.slice(0, 300)}`);
    }
    const next = new URL(r.headers.location, cur).toString();
    if (next.startsWith(stopAt)) return next;
    cur = next;
  }
  throw new Error('too many redirects');
}

// Acts as an app with the provider's SDK: runs the code flow for client
// (redirect_uri must be registered) and returns the token reply
// ({id_token, access_token, ...}).
async function sdkLogin(op, { client_id, client_secret, redirect_uri, nonce, scope = 'openid email profile', ca }) {
  const verifier = b64url(crypto.randomBytes(32));
  const challenge = b64url(crypto.createHash('sha256').update(verifier).digest());
  const q = new URLSearchParams({
    response_type: 'code', client_id, redirect_uri, scope, state: b64url(crypto.randomBytes(8)),
    code_challenge: challenge, code_challenge_method: 'S256',
  });
  if (nonce) q.set('nonce', nonce);
  const auth = await rawRequest(`${op.issuer}/.well-known/openid-configuration`, { ca });
  const disc = JSON.parse(auth.body);
  const back = await followRedirects(`${disc.authorization_endpoint}?${q}`, { stopAt: redirect_uri, ca });
  const code = new URL(back).searchParams.get('code');
  const form = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri, client_id, client_secret, code_verifier: verifier }).toString();
  const tok = await rawRequest(disc.token_endpoint, {
    method: 'POST', ca, body: form,
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(form) },
  });
  if (tok.status !== 200) throw new Error(`token endpoint: ${tok.status} ${tok.body}`);
  return JSON.parse(tok.body);
}

module.exports = { startProvider, followRedirects, rawRequest, sdkLogin, signJwt, rsaKey };
