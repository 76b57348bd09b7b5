// me.js — my page (items in progress / completed / expired, reviews I
// received, my neighborhood, logout) and other users' profiles.

import { h, set, spinner, empty, temp, ago, toast } from './ui.js';
import { api, currentUser, logout, setUser } from './api.js';
import { pushOff } from './push.js';
import { go } from './nav.js';
import { card } from './feed.js';
import { ownerBox, reportUser } from './trade.js';
import { myAppointments } from './market.js';
import { blockButton, blockedList } from './blocks.js';

const TABS = [
  ['progress', '진행 중', (it) => it.statusCode === 'SI01' || it.statusCode === 'SI02'],
  ['done', '완료', (it) => it.statusCode === 'SI04' || it.statusCode === 'SI05'],
  ['expired', '만료', (it) => it.statusCode === 'SI03'],
  ['reviews', '받은 후기', null],
];

function reviewsBlock(p) {
  const rv = p.reviews || {};
  const tags = Object.entries(rv.tags || {}).sort((a, b) => b[1] - a[1]);
  const recent = rv.recent || [];
  return h('div',
    h('div.stats',
      h('div.stat', h('b', String(p.tradeCount ?? 0)), h('span', '교환')),
      h('div.stat', h('b', String(rv.good ?? 0)), h('span', '좋았어요')),
      h('div.stat', h('b', String(rv.bad ?? 0)), h('span', '별로예요'))),
    tags.length ? h('div.page-pad', h('h2', { style: 'font-size:16px;margin:0 0 6px' }, '받은 매너 평가'),
      h('div.tags', tags.map(([t, c]) => h('span.pill', `${t} ${c}`)))) : null,
    recent.length
      ? h('ul.list', { 'aria-label': '최근 후기' }, recent.map((r) => h('li.review',
        h('div.rs', r.score === 'good' ? '좋았어요' : '별로였어요', ' ', h('small', ago(r.createdDt))),
        (r.tags || []).length ? h('div.tags', r.tags.map((t) => h('span.pill', t))) : null,
        r.comment ? h('p', { style: 'margin:4px 0 0' }, r.comment) : null)))
      : empty('note', '아직 받은 후기가 없어요', '교환을 마치면 이웃이 후기를 남겨요.'));
}

export async function myPage(main, { query }) {
  document.title = '나의 동물 · 동물마켓';
  const me = currentUser();
  const tab = TABS.find((t) => t[0] === query.get('tab')) || TABS[0];
  set(main, spinner());
  const [mine, prof] = await Promise.all([api('GET', '/myPage'), api('GET', `/users/${me.userId}`).catch(() => null)]);
  if (prof) setUser({ mannerTemp: prof.mannerTemp });
  const items = mine.postInfo || [];
  const tabs = h('div.seg', { role: 'tablist', 'aria-label': '내 물건' }, TABS.map(([k, label, f]) => h('button', {
    type: 'button', role: 'tab', 'aria-selected': String(k === tab[0]),
    on: { click: () => go(`/me?tab=${k}`, { replace: true }) },
  }, f ? `${label} ${items.filter(f).length}` : label)));
  let body;
  if (tab[2]) {
    const list = items.filter(tab[2]);
    body = list.length ? h('ul.feed', list.map((it, i) => card(it, i)))
      : empty(tab[0] === 'progress' ? 'box' : tab[0] === 'done' ? 'handshake' : 'clock',
        { progress: '진행 중인 물건이 없어요', done: '완료한 교환이 없어요', expired: '만료된 물건이 없어요' }[tab[0]],
        tab[0] === 'progress' ? '안 쓰는 물건을 올려 이웃과 바꿔 보세요.' : null,
        tab[0] === 'progress' ? h('a.btn.primary', { href: '/new' }, '물건 올리기') : null);
  } else {
    body = prof ? reviewsBlock(prof) : empty('note', '후기를 불러오지 못했어요');
  }
  set(main,
    h('div.profile', h('span.avatar', { 'aria-hidden': 'true' }, me.nickname.slice(0, 1)),
      h('div', { style: 'flex:1;min-width:0' }, h('h1', me.nickname), h('div.hint', me.email),
        h('div.hint', me.address || '동네 미설정', ' · ', h('a.link-btn', { href: '/region' }, '동네 바꾸기'))),
      temp(prof ? prof.mannerTemp : me.mannerTemp ?? 36.5)),
    h('div.page-pad', { style: 'display:flex;gap:8px;flex-wrap:wrap;padding-top:0' },
      h('a.btn.small', { href: '/alerts?tab=settings' }, '알림 설정'),
      h('a.btn.small', { href: '/keywords' }, '키워드 알림'),
      me.admin ? h('a.btn.small', { href: '/admin' }, '운영자 콘솔') : null,
      h('button.btn.small', { type: 'button', on: { click: async () => { await pushOff(); await logout(); toast('로그아웃했어요.'); go('/', { replace: true }); } } }, '로그아웃')),
    myAppointments(), tabs, body, blockedList());
}

export async function profilePage(main, { params }) {
  const [userId] = params;
  set(main, spinner());
  let p;
  try {
    p = await api('GET', `/users/${userId}`);
  } catch (e) {
    document.title = '사용자를 찾을 수 없어요 · 동물마켓';
    set(main, empty('user', '사용자를 찾을 수 없어요', e.message, h('a.btn.primary', { href: '/' }, '홈으로')));
    return;
  }
  document.title = `${p.nickname}님의 프로필 · 동물마켓`;
  const me = currentUser();
  set(main, h('h1.sr-only', `${p.nickname}님의 프로필`), ownerBox(p), reviewsBlock(p),
    me && me.userId !== p.userId
      ? h('p.page-pad', h('button.link-btn', { type: 'button', on: { click: () => reportUser(p.userId, p.nickname) } }, '이 사용자 신고하기'),
        ' · ', blockButton(p))
      : null);
}
