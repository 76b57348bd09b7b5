// feed.js — the home page: open items of my neighborhood (or, signed out,
// of one I pick, remembered on this device), category chips, search, and
// infinite scroll over the API's cursor pages.

import { icon } from './icons.js';
import { h, set, timeLeft, ago, temp, CATEGORIES, spinner, empty } from './ui.js';
import { api, currentUser } from './api.js';
import { go } from './nav.js';
import { freeBadge, freeChip } from './free.js';

const PAGE = 20;
const PICK_KEY = 'dongmul.region';  // a signed-out visitor's neighborhood (not a secret)

export function pickedRegion() {
  try { return localStorage.getItem(PICK_KEY) || ''; } catch { return ''; }
}
export function pickRegion(r) {
  try { localStorage.setItem(PICK_KEY, r); } catch { /* private mode */ }
}

// One item card (also used by my page and profiles).
export function card(it, i = 99) {
  const left = timeLeft(it.deadLine);
  const soon = Date.parse(it.deadLine) - Date.now() < 6 * 3600e3;
  return h('li', h('a.card', { href: `/item/${it.itemId}` },
    h('img.thumb', { src: it.thumb || it.image, alt: '', width: 108, height: 108, loading: i < 6 ? 'eager' : 'lazy', decoding: 'async',
      elementtiming: i === 0 ? 'first-photo' : null, fetchpriority: i < 2 ? 'high' : null }),
    h('div.card-body',
      h('h3.card-title', it.title),
      h('div.card-meta', `${it.address || ''} · ${ago(it.createdDt)}`),
      it.freeYn === 'Y' ? h('div.want', freeBadge(it), it.wantItem || '')
        : h('div.want', h('span.wl', '원해요'), it.wantItem),
      h('div.card-foot',
        it.statusCode && it.statusCode !== 'SI01'
          ? h(`span.status-pill.${it.statusCode}`, statusText(it.statusCode))
          : h(`span.left${soon ? '.soon' : ''}`, left),
        temp(it.mannerTemp)))));
}

function statusText(c) {
  return { SI02: '거래 진행 중', SI03: '기한 만료', SI04: '거래 완료', SI05: '거래 취소' }[c] || '';
}

function skeleton() {
  return h('ul.feed.skeleton', { 'aria-hidden': 'true' }, [0, 1, 2, 3].map(() => h('li.card',
    h('div.thumb'), h('div.card-body', h('div.sk', { style: 'width:70%' }), h('div.sk', { style: 'width:40%' }), h('div.sk', { style: 'width:55%' })))));
}

export async function page(main, { query }) {
  const u = currentUser();
  const region = u ? u.address || '' : pickedRegion();
  const q = (query.get('q') || '').trim();
  const cat = CATEGORIES.includes(query.get('category')) ? query.get('category') : '';
  const free = query.get('freeYn') === 'Y';
  document.title = `${region || '우리 동네'} 물물교환 · 동물마켓`;

  const regionBtn = h('a.region-btn', { href: '/region' },
    region || '동네 선택', h('span', { 'aria-hidden': 'true' }, ' ▾'), h('span.sr-only', ' (동네 바꾸기)'));
  const search = h('input', { type: 'search', name: 'q', value: q, placeholder: '물건이나 원하는 것을 검색', 'aria-label': '검색어',
    enterkeyhint: 'search', maxlength: 100 });
  const form = h('form.search', { role: 'search', on: { submit: (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    if (search.value.trim()) p.set('q', search.value.trim());
    if (cat) p.set('category', cat);
    if (free) p.set('freeYn', 'Y');
    go(`/${p.toString() ? `?${p}` : ''}`, { replace: true });
  } } }, search, h('button.btn', { type: 'submit' }, '검색'));
  const chips = h('div.chips', { role: 'group', 'aria-label': '카테고리' },
    ['', ...CATEGORIES].map((c) => h('button.chip', { type: 'button', 'aria-pressed': String(c === cat), on: { click: () => {
      const p = new URLSearchParams();
      if (q) p.set('q', q);
      if (c) p.set('category', c);
      if (free) p.set('freeYn', 'Y');
      go(`/${p.toString() ? `?${p}` : ''}`, { replace: true });
    } } }, c || '전체')));
  chips.prepend(freeChip(free, (on) => {
    const p = new URLSearchParams();
    if (q) p.set('q', q);
    if (cat) p.set('category', cat);
    if (on) p.set('freeYn', 'Y');
    go(`/${p.toString() ? `?${p}` : ''}`, { replace: true });
  }));
  const list = h('ul.feed', { 'aria-label': '물건 목록' });
  const status = h('div', { 'aria-live': 'polite' });
  const sentinel = h('div.sentinel', { 'aria-hidden': 'true' });
  const fab = u ? h('a.fab', { href: '/new' }, icon('plus', 20), '글쓰기') : null;

  set(main,
    h('div.feed-head', h('h1.page-title', regionBtn, h('span.sr-only', ' 물건 목록'))),
    form, chips,
    u && !u.address ? h('p.notice', '내 동네를 정하면 이웃의 물건이 보여요. ', h('a.link-btn', { href: '/region' }, '동네 설정하기')) : null,
    list, status, sentinel, fab);

  let next = null;
  let loading = false;
  let done = false;
  let count = 0;
  let gone = false;

  function url(cursor) {
    const p = new URLSearchParams({ limit: String(PAGE) });
    if (cursor) p.set('cursor', cursor);
    if (free) p.set('freeYn', 'Y');
    if (q || cat) {
      if (q) p.set('q', q);
      if (cat) p.set('category', cat);
      if (region) p.set('address', region);
      return `/mainPage/search?${p}`;
    }
    if (u && u.address) return `/mainPage?${p}`;
    if (region) p.set('address', region);
    return `/mainPage/noLogin?${p}`;
  }

  async function more() {
    if (loading || done || gone) return;
    loading = true;
    set(status, count ? spinner() : skeleton());
    try {
      const r = await api('GET', url(next));
      if (gone) return;
      for (const it of r.data || []) list.appendChild(card(it, count++));
      next = r.next || null;
      done = !next;
      set(status);
      if (!count) {
        set(status, q || cat
          ? empty('search', '찾는 물건이 없어요', '다른 검색어나 카테고리로 찾아보세요.')
          : empty('sprout', '아직 올라온 물건이 없어요', region ? `${region}의 첫 물건을 올려 보세요.` : '동네를 골라 보세요.',
            u ? h('a.btn.primary', { href: '/new' }, '물건 올리기') : h('a.btn.primary', { href: '/region' }, '동네 고르기')));
      } else if (done) {
        set(status, h('p.end', '모든 물건을 다 봤어요'));
      }
    } catch (e) {
      set(status, h('div.empty', h('p.empty-text', e.message), h('button.btn', { type: 'button', on: { click: more } }, '다시 시도')));
    } finally {
      loading = false;
    }
    if (!done && !gone && sentinel.getBoundingClientRect().top < innerHeight + 600) more();
  }

  const io = new IntersectionObserver((es) => { if (es.some((e) => e.isIntersecting)) more(); }, { rootMargin: '600px 0px' });
  io.observe(sentinel);
  await more();
  return () => { gone = true; io.disconnect(); };
}
