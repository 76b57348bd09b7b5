// A tour of the HTTP API as its clients use it: every route, answered for
// real by the binary, each reply recorded as {method, route, status,
// headers, json}. test/openapi.test.js validates every recorded reply
// against docs/openapi.json. route is the documented path template
// ("/postDetail/{itemId}"), not the concrete path.
'use strict';
const { postItem, tradeInProgress, userCmd, connect, emit } = require('./market');

async function tour(srv) {
  const out = [];
  async function call(method, route, path, o = {}) {
    const r = await srv.req(method, path, o);
    out.push({ method, route, path, status: r.status, headers: r.headers, json: r.json, body: r.body });
    return r;
  }
  const owner = await srv.user({ address: '서울특별시 강남구 역삼동' });
  const partner = await srv.user({ address: '서울 강남구' });
  const third = await srv.user({ address: '부산 해운대구' });

  await call('GET', '/healthz', '/healthz');
  await call('GET', '/openapi.json', '/openapi.json');
  // accounts
  await call('POST', '/account/mail', '/account/mail', { body: { email: `tour${process.pid}@example.com` } });
  await call('POST', '/account/mail', '/account/mail', { body: { email: owner.email } });
  await call('POST', '/account/mail/check', '/account/mail/check', { body: { email: `tour${process.pid}@example.com`, authchkNum: 123456 } });
  await call('POST', '/account/mail/check', '/account/mail/check', { body: { email: 'x', authchkNum: 1 } });
  await call('POST', '/account', '/account', { body: { email: `tour2${process.pid}@example.com`, nickname: '투어', password: 'abcd1234' } });
  await call('POST', '/account', '/account', { body: { email: 'bad', nickname: '', password: 'x' } });
  const li = await call('POST', '/account/login', '/account/login', { body: { email: third.email, password: third.password } });
  await call('POST', '/account/login', '/account/login', { body: { email: third.email, password: 'wrong-pass1' } });
  const rf = await call('POST', '/account/refresh', '/account/refresh', { body: { refreshToken: li.json.refreshToken } });
  await call('POST', '/account/refresh', '/account/refresh', { body: { refreshToken: 'nope' } });
  await call('POST', '/account/reset', '/account/reset', { token: owner.token });
  await call('POST', '/account/reset', '/account/reset', {});
  await call('POST', '/account/sendpassword', '/account/sendpassword', { body: { email: third.email } });
  await call('POST', '/account/changepassword', '/account/changepassword', { body: { email: third.email, passwordchkNum: 111111, newpassword: 'abcd12345' } });
  await call('GET', '/account/kakao', '/account/kakao');
  await call('GET', '/account/google', '/account/google');
  await call('GET', '/account/kakao/callback', '/account/kakao/callback?state=x&code=y');
  await call('GET', '/account/google/callback', '/account/google/callback?state=x&code=y');
  await call('POST', '/account/social/exchange', '/account/social/exchange', { body: { code: 'nope' } });
  await call('POST', '/account/kakaoAuth', '/account/kakaoAuth', { body: { accessToken: 'x' } });
  await call('POST', '/account/googleAuth', '/account/googleAuth', { body: { idToken: 'x' } });
  // items
  const p = await postItem(srv, owner);
  out.push({ method: 'POST', route: '/mainPage/write', path: '/mainPage/write', status: p.status, json: p.json, body: p.body });
  const bad = await srv.req('POST', '/mainPage/write', { token: owner.token, body: 'x', headers: { 'content-type': 'text/plain' } });
  out.push({ method: 'POST', route: '/mainPage/write', path: '/mainPage/write', status: bad.status, json: bad.json, body: bad.body });
  const { itemId, icrId } = p.json;
  await call('GET', '/mainPage/noLogin', '/mainPage/noLogin?limit=5');
  await call('GET', '/mainPage/noLogin', '/mainPage/noLogin?cursor=%%%');
  await call('GET', '/mainPage', '/mainPage', { token: partner.token });
  await call('GET', '/mainPage', '/mainPage');
  await call('GET', '/mainPage/search', `/mainPage/search?q=${encodeURIComponent('물건')}`);
  await call('GET', '/postDetail/{itemId}', `/postDetail/${itemId}`, { token: owner.token });
  await call('GET', '/postDetail/{itemId}', `/postDetail/${itemId}`);
  await call('GET', '/postDetail/{itemId}', '/postDetail/999999');
  await call('GET', '/postDetail/icrId/{icrId}', `/postDetail/icrId/${icrId}`, { token: partner.token });
  await call('GET', '/myPage', '/myPage', { token: owner.token });
  await call('POST', '/myPage/address', '/myPage/address', { token: third.token, body: { new_address: '부산광역시 해운대구 우동' } });
  await call('POST', '/myPage/address', '/myPage/address', { token: third.token, body: { new_address: '화성 어딘가' } });
  const img = p.json.image.replace(/^.*\/images\//, '');
  await call('GET', '/images/{name}', `/images/${img}`);
  await call('GET', '/images/{name}', '/images/nope.png');
  // trades
  const t = await tradeInProgress(srv, owner, partner);
  await call('GET', '/chat/{icrId}/messages', `/chat/${t.icrId}/messages?limit=5`, { token: partner.token });
  await call('GET', '/chat/{icrId}/messages', `/chat/${t.icrId}/messages`, { token: third.token });
  await call('POST', '/trade/{itemId}/complete', `/trade/${t.itemId}/complete`, { token: third.token });
  await call('POST', '/trade/{itemId}/complete', `/trade/${t.itemId}/complete`, { token: partner.token });
  const t2 = await tradeInProgress(srv, owner, partner);
  await call('POST', '/trade/{itemId}/cancel', `/trade/${t2.itemId}/cancel`, { token: owner.token, body: { reason: '일정이 안 맞아요' } });
  await call('POST', '/trade/{itemId}/review', `/trade/${t.itemId}/review`, { token: owner.token, body: { score: 'good', tags: ['친절'], comment: '감사합니다' } });
  await call('POST', '/trade/{itemId}/review', `/trade/${t.itemId}/review`, { token: owner.token, body: { score: 'good' } });
  await call('GET', '/users/{userId}', `/users/${partner.userId}`);
  await call('GET', '/users/{userId}', '/users/999999');
  await call('POST', '/reports', '/reports', { token: third.token, body: { userId: partner.userId, reason: 'abuse', detail: '욕설' } });
  await call('POST', '/reports', '/reports', { token: third.token, body: { userId: 999999, reason: 'abuse' } });
  // a message report (in t2's room, where owner and partner are)
  const ps = await connect(srv, partner);
  const sent = await emit(ps, 'sendMsg', { icrId: t2.icrId, chatMsg: '신고될 메시지' });
  ps.close();
  const mid = sent.data.icruMsgId;
  await call('POST', '/reports', '/reports', { token: owner.token, body: { icruMsgId: mid, reason: 'abuse' } });
  await call('POST', '/reports', '/reports', { token: owner.token, body: { icruMsgId: mid, reason: 'abuse' } });
  await call('POST', '/reports', '/reports', { token: third.token, body: { icruMsgId: mid, reason: 'abuse' } });
  await call('POST', '/reports', '/reports', { token: owner.token, body: { icruMsgId: '99999999', reason: 'abuse' } });
  // 거래약속
  const t3 = await tradeInProgress(srv, owner, partner);
  const soon = new Date(Date.now() + 2 * 3600000).toISOString();
  const ap = `/trade/${t3.itemId}/appointment`;
  await call('GET', '/trade/{itemId}/appointment', ap, { token: owner.token });
  await call('GET', '/trade/{itemId}/appointment', ap, { token: third.token });
  await call('GET', '/trade/{itemId}/appointment', '/trade/999999/appointment', { token: owner.token });
  const pr = await call('POST', '/trade/{itemId}/appointment', ap, { token: owner.token, body: { at: soon, place: '역삼역 3번 출구' } });
  await call('POST', '/trade/{itemId}/appointment', ap, { token: owner.token, body: { at: '2001-01-01T00:00:00Z', place: '역삼역' } });
  await call('POST', '/trade/{itemId}/appointment', ap, { token: third.token, body: { at: soon, place: '역삼역' } });
  await call('POST', '/trade/{itemId}/appointment', '/trade/999999/appointment', { token: owner.token, body: { at: soon, place: '역삼역' } });
  await call('POST', '/trade/{itemId}/appointment', `/trade/${t.itemId}/appointment`, { token: owner.token, body: { at: soon, place: '역삼역' } });
  await call('POST', '/trade/{itemId}/appointment/accept', `${ap}/accept`, { token: owner.token, body: { apptId: pr.json.appointment.apptId } });
  await call('POST', '/trade/{itemId}/appointment/accept', `${ap}/accept`, { token: partner.token, body: { apptId: pr.json.appointment.apptId } });
  await call('POST', '/trade/{itemId}/appointment/accept', `${ap}/accept`, { token: partner.token, body: { apptId: pr.json.appointment.apptId } });
  await call('POST', '/trade/{itemId}/appointment/accept', `${ap}/accept`, { token: partner.token, body: {} });
  await call('POST', '/trade/{itemId}/appointment/accept', '/trade/999999/appointment/accept', { token: partner.token, body: { apptId: '1' } });
  await call('GET', '/trade/{itemId}/appointment', ap, { token: partner.token });
  await call('GET', '/appointments', '/appointments', { token: partner.token });
  await call('GET', '/appointments', '/appointments');
  // keyword alerts
  await call('PUT', '/keywords', '/keywords', { token: third.token, body: { keywords: ['자전거', ' 캠핑 ', 'iPad'] } });
  await call('PUT', '/keywords', '/keywords', { token: third.token, body: { keywords: ['자전거', '자전거'] } });
  await call('PUT', '/keywords', '/keywords', { token: third.token, body: { keywords: Array.from({ length: 31 }, (_, i) => `k${i}`) } });
  await call('GET', '/keywords', '/keywords', { token: third.token });
  await call('GET', '/keywords', '/keywords');
  // blocks
  await call('POST', '/blocks', '/blocks', { token: third.token, body: { userId: partner.userId } });
  await call('POST', '/blocks', '/blocks', { token: third.token, body: { userId: third.userId } });
  await call('POST', '/blocks', '/blocks', { token: third.token, body: { userId: 999999 } });
  await call('POST', '/blocks', '/blocks', { token: third.token, body: { userId: partner.userId } });
  await call('POST', '/blocks', '/blocks', { token: third.token, body: {} });
  await call('POST', '/blocks', '/blocks', { body: { userId: partner.userId } });
  await call('GET', '/blocks', '/blocks', { token: third.token });
  await call('GET', '/blocks', '/blocks');
  await call('DELETE', '/blocks/{userId}', `/blocks/${partner.userId}`, { token: third.token });
  await call('DELETE', '/blocks/{userId}', `/blocks/${partner.userId}`, { token: third.token });
  await call('DELETE', '/blocks/{userId}', `/blocks/${partner.userId}`);
  // 나눔 and several photos
  const fp = await postItem(srv, owner, { freeYn: 'Y', photos: 2 });
  out.push({ method: 'POST', route: '/mainPage/write', path: '/mainPage/write', status: fp.status, json: fp.json, body: fp.body });
  await call('GET', '/mainPage/noLogin', '/mainPage/noLogin?freeYn=Y');
  await call('GET', '/mainPage/noLogin', '/mainPage/noLogin?freeYn=maybe');
  await call('GET', '/mainPage', '/mainPage?freeYn=Y', { token: partner.token });
  await call('GET', '/mainPage', '/mainPage?freeYn=x', { token: partner.token });
  await call('GET', '/mainPage/search', `/mainPage/search?q=${encodeURIComponent('물건')}&freeYn=Y`);
  await call('GET', '/mainPage/search', `/mainPage/search?q=${encodeURIComponent('물건')}&freeYn=1`);
  const fd = await call('GET', '/postDetail/{itemId}', `/postDetail/${fp.json.itemId}`, { token: partner.token });
  await call('GET', '/chat/{icrId}/members', `/chat/${fp.json.icrId}/members`, { token: owner.token });
  await call('GET', '/chat/{icrId}/members', `/chat/${fp.json.icrId}/members`, { token: partner.token });
  await call('GET', '/chat/{icrId}/members', '/chat/999999/members', { token: owner.token });
  await call('GET', '/chat/{icrId}/members', `/chat/${fp.json.icrId}/members`);
  const photoIds = fd.json.data.images.map((i) => i.imageId);
  await call('PUT', '/items/{itemId}/images', `/items/${fp.json.itemId}/images`, { token: owner.token, body: { order: [...photoIds].reverse() } });
  await call('PUT', '/items/{itemId}/images', `/items/${fp.json.itemId}/images`, { token: owner.token, body: { order: [photoIds[0]] } });
  await call('PUT', '/items/{itemId}/images', `/items/${fp.json.itemId}/images`, { token: partner.token, body: { order: photoIds } });
  await call('PUT', '/items/{itemId}/images', '/items/999999/images', { token: owner.token, body: { order: photoIds } });
  await call('PUT', '/items/{itemId}/images', `/items/${t.itemId}/images`, { token: owner.token, body: { order: ['1'] } });
  await call('PUT', '/items/{itemId}/images', `/items/${fp.json.itemId}/images`, { body: { order: photoIds } });
  {
    const { png } = require('./img');
    const fdata = new FormData();
    fdata.append('file', new Blob([png({ w: 33, h: 44, seed: 9 })], { type: 'image/png' }), 'p.png');
    const add = async (id, token, form) => {
      const res = await fetch(`${srv.url}/items/${id}/images`, { method: 'POST', headers: token ? { authorization: token } : {}, body: form });
      const text = await res.text();
      let json;
      try { json = JSON.parse(text); } catch { json = undefined; }
      out.push({ method: 'POST', route: '/items/{itemId}/images', path: `/items/${id}/images`, status: res.status, json, body: text });
    };
    await add(fp.json.itemId, owner.token, fdata);
    await add(fp.json.itemId, partner.token, fdata);
    await add(999999, owner.token, fdata);
    await add(t.itemId, owner.token, fdata);
    await add(fp.json.itemId, null, fdata);
    const bad = new FormData();
    bad.append('file', new Blob([Buffer.from('not an image')], { type: 'image/png' }), 'x.png');
    await add(fp.json.itemId, owner.token, bad);
  }
  await call('DELETE', '/items/{itemId}/images/{imageId}', `/items/${fp.json.itemId}/images/${photoIds[0]}`, { token: owner.token });
  await call('DELETE', '/items/{itemId}/images/{imageId}', `/items/${fp.json.itemId}/images/${photoIds[0]}`, { token: owner.token });
  await call('DELETE', '/items/{itemId}/images/{imageId}', `/items/${fp.json.itemId}/images/${photoIds[1]}`, { token: partner.token });
  await call('DELETE', '/items/{itemId}/images/{imageId}', `/items/999999/images/${photoIds[1]}`, { token: owner.token });
  await call('DELETE', '/items/{itemId}/images/{imageId}', `/items/${t.itemId}/images/1`, { token: owner.token });
  await call('DELETE', '/items/{itemId}/images/{imageId}', `/items/${fp.json.itemId}/images/${photoIds[1]}`);
  // notifications
  await call('GET', '/notifications', '/notifications?limit=10', { token: partner.token });
  await call('POST', '/notifications/read', '/notifications/read', { token: partner.token, body: { all: true } });
  await call('GET', '/notifications/settings', '/notifications/settings', { token: partner.token });
  await call('PUT', '/notifications/settings', '/notifications/settings', { token: partner.token, body: { email: ['chat', 'review'] } });
  await call('PUT', '/notifications/settings', '/notifications/settings', { token: partner.token, body: { email: ['nope'] } });
  await call('PUT', '/notifications/settings', '/notifications/settings', { token: partner.token, body: { push: ['chat', 'chosen'] } });
  // Web Push (a subscription removed at once: nothing is sent)
  await call('GET', '/push/vapid', '/push/vapid');
  const ecdh = require('node:crypto').createECDH('prime256v1');
  ecdh.generateKeys();
  const endpoint = `https://fcm.googleapis.com/fcm/send/tour-${process.pid}`;
  const keys = { p256dh: ecdh.getPublicKey().toString('base64url'), auth: Buffer.alloc(16, 7).toString('base64url') };
  await call('POST', '/push/subscriptions', '/push/subscriptions', { token: partner.token, body: { endpoint, keys } });
  await call('POST', '/push/subscriptions', '/push/subscriptions', { token: partner.token, body: { endpoint, keys } });
  await call('POST', '/push/subscriptions', '/push/subscriptions', { token: third.token, body: { endpoint, keys } });
  await call('POST', '/push/subscriptions', '/push/subscriptions', { token: partner.token, body: { endpoint: 'http://x/', keys } });
  await call('POST', '/push/subscriptions', '/push/subscriptions', { body: { endpoint, keys } });
  await call('DELETE', '/push/subscriptions', '/push/subscriptions', { token: third.token, body: { endpoint } });
  await call('DELETE', '/push/subscriptions', '/push/subscriptions', { token: partner.token, body: { endpoint } });
  await call('DELETE', '/myPage/delete', '/myPage/delete', { token: owner.token, body: { itemId } });
  await call('DELETE', '/myPage/delete', '/myPage/delete', { token: partner.token, body: { itemId: t.itemId } });
  await call('GET', '/metrics', '/metrics');
  // the web app's endpoints
  await call('GET', '/regions', '/regions');
  await call('GET', '/account/providers', '/account/providers');
  const origin = { origin: srv.url };
  const cl = await call('POST', '/account/login', '/account/login', { body: { email: partner.email, password: partner.password }, headers: { ...origin, 'x-dongmul-session': 'cookie' } });
  const cookie = (cl.headers['set-cookie'] || []).map((c) => c.split(';')[0]).join('; ');
  await call('POST', '/account/login', '/account/login', { body: { email: partner.email, password: partner.password }, headers: { origin: 'https://evil.example', 'x-dongmul-session': 'cookie' } });
  await call('POST', '/account/session/refresh', '/account/session/refresh', { headers: origin });
  const sr = await call('POST', '/account/session/refresh', '/account/session/refresh', { headers: { ...origin, cookie } });
  await call('POST', '/account/session/refresh', '/account/session/refresh', { headers: { ...origin, cookie } }); // the rotated-out token
  await call('POST', '/account/session/logout', '/account/session/logout', { headers: { ...origin, cookie: (sr.headers['set-cookie'] || []).map((c) => c.split(';')[0]).join('; ') } });
  await call('POST', '/account/session/logout', '/account/session/logout', { headers: { origin: 'https://evil.example' } });
  const index = await srv.req('GET', '/', { headers: { accept: 'text/html' } });
  const asset = (index.body.match(/\/assets\/[^"']+/) || [])[0];
  if (asset) await call('GET', '/assets/{name}', asset);
  await call('GET', '/assets/{name}', '/assets/nope.0000000000.js');
  const admin = await srv.user();
  const granted = userCmd(srv, 'admin', admin.email);
  if (granted.status !== 0) throw new Error(`dongmul user admin: ${granted.stderr}`);
  const A = { token: admin.token };
  await call('GET', '/operator/me', '/operator/me', A);
  await call('GET', '/operator/me', '/operator/me', { token: third.token });
  await call('GET', '/operator/me', '/operator/me');
  await call('GET', '/operator/stats', '/operator/stats', A);
  await call('GET', '/operator/reports', '/operator/reports', A);
  await call('GET', '/operator/users', `/operator/users?q=${encodeURIComponent(partner.nickname)}`, A);
  await call('GET', '/operator/users', '/operator/users?q=', A);
  const ou = `/operator/users/${partner.userId}`;
  await call('POST', '/operator/users/{userId}/suspend', `${ou}/suspend`, { ...A, body: { days: 3, reason: '신고 누적' } });
  await call('POST', '/operator/users/{userId}/suspend', `${ou}/suspend`, { ...A, body: { days: 0, reason: '신고 누적' } });
  await call('POST', '/operator/users/{userId}/unsuspend', `${ou}/unsuspend`, { ...A, body: { reason: '소명 확인' } });
  await call('POST', '/operator/users/{userId}/unsuspend', '/operator/users/999999/unsuspend', { ...A, body: { reason: '소명 확인' } });
  await call('POST', '/operator/users/{userId}/dismiss', `${ou}/dismiss`, { ...A, body: { reason: '오해' } });
  await call('POST', '/operator/users/{userId}/dismiss', `/operator/users/${admin.userId}/dismiss`, { ...A, body: { reason: '오해' } });
  // socket.io polling handshake (the transport's own framing)
  await call('GET', '/socket.io/', '/socket.io/?EIO=4&transport=polling');
  await call('POST', '/socket.io/', '/socket.io/?EIO=4&transport=polling&sid=nope', { body: '40', headers: { 'content-type': 'text/plain' } });
  await call('PUT', '/socket.io/', '/socket.io/?EIO=4&transport=polling');
  await call('PUT', '/socket.io/', '/socket.io/?EIO=4&transport=polling&sid=nope');
  // logout last (it revokes)
  await call('POST', '/account/logout', '/account/logout', { token: rf.json.token });
  await call('GET', '/account/logout', '/account/logout', { token: owner.token });
  await call('GET', '/account/logout', '/account/logout');
  return out;
}

module.exports = { tour };
