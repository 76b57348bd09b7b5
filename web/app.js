// app.js — the entry module: the page shell (header, bottom tab bar on
// phones, top navigation on desktops), the router, the session at start,
// and the live unread-notification count on the bell.

import { h, set, toast } from './ui.js';
import { icon } from './icons.js';
import { refresh, currentUser, onSession, socialExchange, sessionHint } from './api.js';
import { onUnread, setUnread, refreshUnread, emitNotification } from './notes.js';
import { onNavigate, go, back } from './nav.js';
import { openSocket } from './sock.js';
import * as feed from './feed.js';
import * as auth from './auth.js';

// [pattern, the page function (pages past the first load come as their
// own module when first visited), tab to highlight, needs sign-in]
const lazy = (load, name) => async (...a) => (await load())[name](...a);
const routes = [
  [/^\/$/, feed.page, 'home', false],
  [/^\/login$/, auth.loginPage, 'me', false],
  [/^\/signup$/, auth.signupPage, 'me', false],
  [/^\/password$/, auth.passwordPage, 'me', false],
  [/^\/region$/, auth.regionPage, 'home', false],
  [/^\/new$/, lazy(() => import('./post.js'), 'page'), 'new', true],
  [/^\/item\/(\d+)$/, lazy(() => import('./item.js'), 'page'), 'home', false],
  [/^\/item\/(\d+)\/chat$/, lazy(() => import('./chat.js'), 'page'), 'chat', true],
  [/^\/alerts$/, lazy(() => import('./alerts.js'), 'page'), 'alerts', true],
  [/^\/me$/, lazy(() => import('./me.js'), 'myPage'), 'me', true],
  [/^\/u\/(\d+)$/, lazy(() => import('./me.js'), 'profilePage'), 'home', false],
  [/^\/admin$/, lazy(() => import('./admin.js'), 'page'), 'admin', true],
  [/^\/keywords$/, lazy(() => import('./market.js'), 'keywordsPage'), 'me', true],
];

const main = h('main#main', { tabindex: '-1' });
const badge = h('span.badge', { hidden: true, 'aria-hidden': 'true' });
const bellLabel = h('span.sr-only', '알림');
const tabBadge = h('span.badge', { hidden: true, 'aria-hidden': 'true' });
const navLinks = {};
let cleanup = null;
let notifySock = null;
let backBtn = null;

function tabLink(key, href, ic, label, extra) {
  const a = h('a', { href }, h('span.ti', icon(ic)), h('span', label), extra || null);
  (navLinks[key] = navLinks[key] || []).push(a);
  return a;
}

function shell() {
  const adminTop = h('a', { href: '/admin', hidden: true }, '운영');
  (navLinks.admin = navLinks.admin || []).push(adminTop);
  const userTop = h('a', { href: '/me' }, '나의 동물');
  (navLinks.me = navLinks.me || []).push(userTop);
  backBtn = h('button.icon-btn.back-btn', { type: 'button', hidden: true, on: { click: () => back('/') } },
    icon('back'), h('span.sr-only', '뒤로'));
  const top = h('header.top', backBtn,
    h('a.brand', { href: '/' }, h('span.brand-mark', { 'aria-hidden': 'true' }, '동'), '동물마켓'),
    h('span.spacer'),
    h('nav.top-nav', { 'aria-label': '주 메뉴' },
      tabLinkTop('home', '/', '홈'), tabLinkTop('new', '/new', '글쓰기'), tabLinkTop('alerts', '/alerts', '알림'), userTop, adminTop),
    h('a.icon-btn', { href: '/alerts', id: 'bell' }, icon('bell'), bellLabel, badge));
  const tabs = h('nav.tabbar', { 'aria-label': '아래 메뉴' },
    tabLink('home', '/', 'home', '홈'),
    tabLink('new', '/new', 'plus', '글쓰기'),
    tabLink('alerts', '/alerts', 'bell', '알림', tabBadge),
    tabLink('me', '/me', 'user', '나의 동물'));
  document.body.replaceChildren(
    h('a.skip', { href: '#main' }, '본문으로 건너뛰기'),
    top, tabs, main, h('div#toast', { role: 'status', 'aria-live': 'polite' }));
}

function tabLinkTop(key, href, label) {
  const a = h('a', { href }, label);
  (navLinks[key] = navLinks[key] || []).push(a);
  return a;
}

function highlight(tab) {
  for (const [k, links] of Object.entries(navLinks)) {
    for (const a of links) {
      if (k === tab) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }
}

function showUnread(unread) {
  for (const b of [badge, tabBadge]) {
    b.hidden = unread === 0;
    b.textContent = unread > 99 ? '99+' : String(unread);
  }
  bellLabel.textContent = unread ? `알림 (읽지 않음 ${unread}개)` : '알림';
}


// One socket per signed-in tab, only for live notifications.
function sessionChanged(u) {
  for (const a of navLinks.admin || []) a.hidden = !(u && u.admin);
  if (u && !notifySock) {
    notifySock = openSocket().then((s) => {
      s.on('notification', (n) => {
        refreshUnread();
        emitNotification(n);
      });
      s.on('connect', refreshUnread);
      return s;
    }).catch(() => null);
  } else if (!u && notifySock) {
    notifySock.then((s) => s && s.close());
    notifySock = null;
  }
  if (!u) setUnread(0);
}

async function route(initial) {
  if (cleanup) { try { cleanup(); } catch { /* page gone */ } cleanup = null; }
  const path = location.pathname;
  const query = new URLSearchParams(location.search);
  const started = document.activeElement;
  // phones get a back arrow on pages below the tabs
  backBtn.hidden = ['/', '/new', '/alerts', '/me'].includes(path);
  for (const [re, fn, tab, needsUser] of routes) {
    const m = re.exec(path);
    if (!m) continue;
    highlight(tab);
    if (needsUser && !currentUser()) {
      go(`/login?next=${encodeURIComponent(path + location.search)}`, { replace: true });
      return;
    }
    set(main);
    window.scrollTo(0, 0);
    try {
      cleanup = (await fn(main, { params: m.slice(1), query })) || null;
    } catch (e) {
      set(main, h('div.empty', h('p.empty-title', '페이지를 보여 줄 수 없습니다'), h('p.empty-text', e.message)));
    }
    // focus the new page unless the user has moved on while it loaded
    const now = document.activeElement;
    // (not on the first page of a visit: the document starts at its top)
    if (initial !== true && (now === started || now === document.body || !now || !now.isConnected)) main.focus({ preventScroll: true });
    return;
  }
  highlight('');
  document.title = '찾을 수 없는 페이지 · 동물마켓';
  set(main, h('div.empty', h('div.empty-icon', icon('compass', 44)), h('h1.empty-title', '페이지를 찾을 수 없습니다'),
    h('a.btn.primary', { href: '/' }, '홈으로')));
}

document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download') || a.dataset.external !== undefined) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.hash === '#main') return;
  e.preventDefault();
  go(url.pathname + url.search);
});
window.addEventListener('popstate', route);
onNavigate(route);
onSession(sessionChanged);
onUnread(showUnread);

async function boot() {
  shell();
  const q = new URLSearchParams(location.search);
  if (location.pathname === '/' && q.get('code')) {
    // back from Kakao/Google: trade the one-time code for a session
    try {
      const u = await socialExchange(q.get('code'));
      history.replaceState(null, '', u.address ? '/' : '/region');
    } catch (e) {
      history.replaceState(null, '', '/login');
      toast(e.message);
    }
  } else {
    if (location.pathname === '/' && q.get('error')) {
      history.replaceState(null, '', '/login');
      toast('소셜 로그인에 실패했습니다. 다시 시도해 주세요.');
    }
    if (location.pathname === '/' && !sessionHint()) {
      // most likely signed out: show the feed at once, and again signed
      // in should the cookie say otherwise
      const r = refresh();
      await route(true);
      if (await r) await route(true);
      return;
    }
    await refresh();
  }
  await route(true);
}

boot();
