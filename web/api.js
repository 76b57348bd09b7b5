// api.js — talks to dongmul's JSON API. The access token lives only in this
// module's memory; the refresh token is an HttpOnly cookie the server sets
// and reads on its cookie refresh path, so a closed page leaves nothing a
// script could read. On a 401 the request is retried once after a refresh.



let token = null;        // "bearer <jwt>", never stored
let me = null;           // {userId, email, nickname, address, mannerTemp, admin?}
let refreshing = null;   // one refresh at a time
let adminKnown = false;  // the login reply said whether I am an operator
const listeners = new Set();

export function currentUser() { return me; }
export function currentToken() { return token; }
export function onSession(fn) { listeners.add(fn); return () => listeners.delete(fn); }
function changed() { for (const fn of listeners) fn(me); }

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.errorMsg) || `요청이 실패했습니다 (${status}).`);
    this.status = status;
    this.code = body && body.code;
    this.body = body;
  }
}

// One request. body: object (JSON) or FormData. Returns the parsed reply;
// throws ApiError with the server's Korean errorMsg on failure.
export async function api(method, path, body, { retry = true } = {}) {
  const headers = {};
  if (token) headers.authorization = token;
  if (path === '/account/login' || path === '/account/social/exchange') headers['x-dongmul-session'] = 'cookie';
  let data;
  if (body instanceof FormData) data = body;
  else if (body !== undefined) { data = JSON.stringify(body); headers['content-type'] = 'application/json'; }
  let res;
  try {
    res = await fetch(path, { method, headers, body: data, credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, { errorMsg: '서버에 연결할 수 없습니다. 잠시 후 다시 시도해 주세요.', code: 'NETWORK' });
  }
  let json = null;
  try { json = await res.json(); } catch { json = null; }
  if (res.status === 401 && retry && token) {
    if (await refresh()) return api(method, path, body, { retry: false });
  }
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}

// A hint on this device that a session cookie exists (not the token, not
// a secret): without it the first page need not wait for a refresh.
const HINT = 'dongmul.session';
export function sessionHint() {
  try { return localStorage.getItem(HINT) === '1'; } catch { return true; }
}
function hint(on) {
  try { if (on) localStorage.setItem(HINT, '1'); else localStorage.removeItem(HINT); } catch { /* private mode */ }
}

function adopt(reply) {
  hint(true);
  token = reply.token;
  me = { userId: reply.userId, email: reply.email, nickname: reply.nickname, address: reply.address,
    mannerTemp: reply.mannerTemp, admin: reply.admin === true };
  adminKnown = typeof reply.admin === 'boolean';
}

// Asks the server for a new access token with the refresh cookie. Resolves
// true when signed in. Called at start and on a 401.
export function refresh() {
  if (!refreshing) {
    refreshing = (async () => {
      try {
        const res = await fetch('/account/session/refresh', { method: 'POST', credentials: 'same-origin' });
        if (!res.ok || res.status === 204) { token = null; me = null; hint(false); return false; }
        adopt(await res.json());
        await loadMe();
        return true;
      } catch {
        return false;
      } finally {
        setTimeout(() => { refreshing = null; }, 0);
        changed();
      }
    })();
  }
  return refreshing;
}

// Fills in what login does not say: the temperature, the operator role.
async function loadMe() {
  try {
    const r = await api('POST', '/account/reset', undefined, { retry: false });
    me = { ...me, mannerTemp: r.mannerTemp, address: r.address, nickname: r.nickname };
  } catch { /* keep what login said */ }
  if (typeof me.admin === 'boolean' && adminKnown) return;
  try {
    await api('GET', '/operator/me', undefined, { retry: false });
    me.admin = true;
  } catch { me.admin = false; }
}

export async function login(email, password) {
  const r = await api('POST', '/account/login', { email, password }, { retry: false });
  adopt(r);
  await loadMe();
  changed();
  return me;
}

// Signs in with a one-time code from the Kakao/Google redirect.
export async function socialExchange(code) {
  const r = await api('POST', '/account/social/exchange', { code }, { retry: false });
  adopt(r);
  await loadMe();
  changed();
  return me;
}

export async function logout() {
  try { await api('POST', '/account/session/logout', undefined, { retry: false }); } catch { /* signed out anyway */ }
  hint(false);
  token = null;
  me = null;
  changed();
}

export function setAddress(address) {
  if (me) { me = { ...me, address }; changed(); }
}

export function setUser(patch) {
  if (me) { me = { ...me, ...patch }; changed(); }
}
