// A revoked token stops acting on an open socket at once, as it does over
// HTTP: the browser's logout (POST /account/session/logout) revokes the
// access token and its login family without closing that login's sockets,
// so the socket's next event must find the token revoked — not a minute
// later. The real binary, real socket.io-client 4.x sockets.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { start } = require('./lib/dongmul');
const { postItem, connect, emit } = require('./lib/market');

const ADDR = '서울특별시 마포구 합정동';
const RL = ['--rate-login', '100000', '--rate-mail', '100000'];

// The reply to an event, or 'closed' when the server closed the socket
// instead of answering.
const attempt = (s, ev, payload) => new Promise((resolve) => {
  if (!s.connected) return resolve('closed');
  s.once('disconnect', () => resolve('closed'));
  emit(s, ev, payload).then(resolve, () => resolve('closed'));
});

test('after a session logout its token acts no more on an open socket: no message stored, no re-authentication', async (t) => {
  const srv = await start({ args: RL });
  t.after(async () => {
    const e = await srv.stop();
    assert.equal(e.code, 0, `exit ${JSON.stringify(e)}\n${srv.log().slice(-3000)}`);
  });
  const O = await srv.user({ address: ADDR });
  const it = await postItem(srv, O);
  assert.equal(it.status, 201, it.body);
  const { icrId } = it.json;
  const U = await srv.user();
  const s1 = await connect(srv, U);
  const s2 = await connect(srv, U);
  try {
    assert.equal((await emit(s1, 'joinRoom', { icrId })).msg, 'success');
    assert.equal((await emit(s1, 'sendMsg', { icrId, chatMsg: '로그아웃 전' })).msg, 'success');
    assert.equal((await emit(s2, 'authenticate', { token: U.token })).msg, 'success');

    const out = await srv.req('POST', '/account/session/logout', { headers: { authorization: U.token, origin: srv.url } });
    assert.equal(out.status, 200, out.body);
    assert.equal((await srv.req('POST', '/account/reset', { token: U.token })).status, 401, 'dead over HTTP');

    // the socket's next event: refused (or the socket closed), nothing stored
    const sent = await attempt(s1, 'sendMsg', { icrId, chatMsg: '로그아웃 후' });
    assert.ok(sent === 'closed' || (sent.msg === 'fail' && sent.code === 'UNAUTHORIZED'), JSON.stringify(sent));
    const h = await srv.req('GET', `/chat/${icrId}/messages?limit=100`, { token: O.token });
    assert.equal(h.status, 200, h.body);
    const texts = h.json.data.map((m) => m.chatMsg);
    assert.ok(texts.includes('로그아웃 전'), JSON.stringify(texts));
    assert.ok(!texts.includes('로그아웃 후'), 'a message was stored with a logged-out token');

    // nor does the same token authenticate again on another open socket
    const again = await attempt(s2, 'authenticate', { token: U.token });
    assert.ok(again === 'closed' || (again.msg === 'fail' && again.code === 'UNAUTHORIZED'), JSON.stringify(again));
    assert.ok(O.token && (await srv.req('POST', '/account/reset', { token: O.token })).status === 200, 'others untouched');
  } finally {
    s1.close(); s2.close();
  }
});
