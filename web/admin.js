// admin.js — the operator console (/admin): live counts, the reports
// queue (who, why, how many distinct reporters, which items) with
// suspend / unsuspend / dismiss and a reason, and user lookup. The server
// refuses every /operator call from anyone but an operator.

import { h, set, spinner, empty, temp, toast, dialog, field, ago } from './ui.js';
import { api, currentUser } from './api.js';
import { REASONS } from './trade.js';
import { messageContext } from './market.js';

function userLine(u) {
  const susp = u.suspendedUntil && Date.parse(u.suspendedUntil) > Date.now();
  return h('div', h('a', { href: `/u/${u.userId}` }, h('b', u.nickname)), ' ', h('span.hint', u.email || ''), ' ', temp(u.mannerTemp),
    susp ? h('span.pill.red', `정지 ~${new Date(u.suspendedUntil).toLocaleDateString('ko-KR')}`) : null,
    u.admin ? h('span.pill', '운영자') : null);
}

// Suspend / unsuspend / dismiss with a reason (and days for suspend).
async function act(kind, u, done) {
  const titles = { suspend: '이용 정지', unsuspend: '정지 해제', dismiss: '신고 기각' };
  const reason = field('사유 (200자까지)', 'textarea', { maxlength: 200, required: true });
  const days = kind === 'suspend' ? field('정지 일수', 'input', { type: 'number', min: 1, max: 365, value: 7, required: true }) : null;
  const ok = await dialog(`${u.nickname}님 ${titles[kind]}`, h('div', days ? days.wrap : null, reason.wrap),
    [{ label: '취소', value: null }, { label: titles[kind], value: true, danger: kind === 'suspend', primary: kind !== 'suspend' }],
    async () => {
      if (!reason.input.value.trim()) return '사유를 입력해 주세요.';
      const body = { reason: reason.input.value.trim() };
      if (days) body.days = Number(days.input.value);
      try { await api('POST', `/operator/users/${u.userId}/${kind}`, body); return true; } catch (e) { return e.message; }
    });
  if (ok) { toast(`${u.nickname}님: ${titles[kind]} 완료`); done(); }
}

function actions(u, done) {
  const susp = u.suspendedUntil && Date.parse(u.suspendedUntil) > Date.now();
  return h('div.acts',
    susp ? h('button.btn.small', { type: 'button', on: { click: () => act('unsuspend', u, done) } }, '정지 해제')
      : h('button.btn.small.danger', { type: 'button', on: { click: () => act('suspend', u, done) } }, '이용 정지'),
    u.reports ? h('button.btn.small', { type: 'button', on: { click: () => act('dismiss', u, done) } }, '신고 기각') : null);
}

export async function page(main) {
  document.title = '운영자 콘솔 · 동물마켓';
  if (!currentUser().admin) {
    set(main, empty('lock', '운영자만 볼 수 있어요', '운영자 권한은 서버에서 dongmul user admin 명령으로 줍니다.', h('a.btn.primary', { href: '/' }, '홈으로')));
    return;
  }
  const stats = h('div.admin-grid', { 'aria-live': 'polite' });
  const queue = h('div', spinner());
  const found = h('div');
  const q = field('사용자 찾기 (이메일 또는 닉네임)', 'input', { type: 'search', maxlength: 100 });
  set(main, h('h1.page-title', '운영자 콘솔'), stats,
    h('section', { 'aria-labelledby': 'rq-h' }, h('h2#rq-h.page-title', { style: 'font-size:17px' }, '신고 대기열'), queue),
    h('section.page-pad', { 'aria-labelledby': 'us-h' }, h('h2#us-h', { style: 'font-size:17px;margin:0 0 8px' }, '사용자 조회'),
      h('form', { role: 'search', on: { submit: (e) => { e.preventDefault(); lookup(); } } }, h('div.row', q.wrap, h('button.btn', { type: 'submit', style: 'flex:none;margin-bottom:14px' }, '찾기'))),
      found));

  async function loadStats() {
    try {
      const s = await api('GET', '/operator/stats');
      set(stats, [['가입자', s.users], ['열린 물건', s.openItems], ['오늘 메시지', s.messagesToday], ['접속 중 소켓', s.socketsOnline]]
        .map(([k, v]) => h('div.stat', h('b', String(v)), h('span', k))));
    } catch (e) { set(stats, h('p.field-error', e.message)); }
  }

  async function loadQueue() {
    try {
      const r = await api('GET', '/operator/reports');
      const rows = r.data || [];
      if (!rows.length) { set(queue, empty('check', '처리할 신고가 없어요')); return; }
      set(queue, h('ul.list', rows.map((u) => h('li.report',
        userLine(u),
        h('p', { style: 'margin:6px 0' }, h('span.pill.red', `신고한 사람 ${u.reporters}명`), ' ', `신고 ${u.reports.length}건`),
        h('ul.list', u.reports.map((rp) => h('li', { style: 'padding:6px 0' },
          h('span.pill', REASONS[rp.reason] || rp.reason), ' ',
          h('a', { href: `/u/${rp.reporterId}` }, rp.reporterNickname), ' · ', h('small', ago(rp.createdDt)),
          rp.itemId ? h('div', '물건: ', h('a.link-btn', { href: `/item/${rp.itemId}` }, rp.itemTitle || `#${rp.itemId}`)) : null,
          rp.detail ? h('div.hint', rp.detail) : null, messageContext(rp)))),
        actions(u, refreshAll)))));
    } catch (e) { set(queue, h('p.field-error.page-pad', e.message)); }
  }

  async function lookup() {
    const v = q.input.value.trim();
    if (!v) { q.error('이메일이나 닉네임을 입력해 주세요.'); return; }
    q.error('');
    try {
      const r = await api('GET', `/operator/users?q=${encodeURIComponent(v)}`);
      const rows = r.data || [];
      set(found, rows.length ? h('ul.list', rows.map((u) => h('li.report', userLine(u),
        h('div.hint', `${u.address || '동네 미설정'} · 30일 신고 ${u.reports30d}건 · 가입 ${new Date(u.createdDt).toLocaleDateString('ko-KR')}`),
        u.suspendReason ? h('div.hint', `정지 사유: ${u.suspendReason}`) : null,
        actions({ ...u, reports: u.reports30d }, () => { lookup(); refreshAll(); }))))
        : empty('search', '찾는 사용자가 없어요'));
    } catch (e) { q.error(e.message); }
  }

  function refreshAll() { loadStats(); loadQueue(); }
  refreshAll();
  const timer = setInterval(loadStats, 5000);
  return () => clearInterval(timer);
}
