// alerts.js — notifications: the list (newest first, live additions from
// the socket), mark one or all as read, and which types also come by mail.

import { h, set, ago, spinner, empty, toast } from './ui.js';
import { icon } from './icons.js';
import { api } from './api.js';
import { go } from './nav.js';
import { onNotification, refreshUnread } from './notes.js';
import { pushSwitch } from './push.js';

const TYPES = {
  chat: ['chat', '새 채팅 메시지'],
  join: ['hand', '내 물건 채팅방에 이웃이 들어왔어요'],
  chosen: ['handshake', '교환 상대로 선택됐어요'],
  kicked: ['door', '채팅방에서 내보내졌어요'],
  expired: ['clock', '물건의 마감 시간이 지났어요'],
  deadline: ['clock', '마감 1시간 전이에요'],
  trade_done: ['check', '교환이 완료됐어요'],
  trade_cancelled: ['undo', '교환이 취소됐어요'],
  review: ['star', '새 후기를 받았어요'],
  suspended: ['alert', '이용이 정지됐어요'],
  keyword: ['search', '키워드 알림: 새 물건이 올라왔어요'],
  appointment: ['handshake', '거래약속'],
  appt_remind: ['clock', '거래약속 시간이 다가와요'],
};

function text(n) {
  const p = n.payload || {};
  const [ic, base] = TYPES[n.type] || ['bell', '알림'];
  let detail = p.title || '';
  if (n.type === 'chat' && n.cnt > 1) detail = `${detail} · 메시지 ${n.cnt}개`;
  if (n.type === 'keyword') detail = `「${p.keyword || ''}」 ${detail}${n.cnt > 1 ? ` 외 ${n.cnt - 1}개` : ''}`;
  if (n.type === 'appointment' || n.type === 'appt_remind') detail = p.message || detail;
  if (n.type === 'suspended' && p.until) detail = `${new Date(p.until).toLocaleDateString('ko-KR')}까지${p.reason ? ` · ${p.reason}` : ''}`;
  return { icon: ic, base, detail, href: p.itemId ? (['chat', 'appointment', 'appt_remind'].includes(n.type) ? `/item/${p.itemId}/chat` : `/item/${p.itemId}`) : null };
}

export async function page(main, { query }) {
  document.title = '알림 · 동물마켓';
  const tab = query.get('tab') === 'settings' ? 'settings' : 'list';
  const body = h('div');
  const tabs = h('div.seg', { role: 'tablist', 'aria-label': '알림' },
    h('button', { type: 'button', role: 'tab', 'aria-selected': String(tab === 'list'), on: { click: () => go('/alerts', { replace: true }) } }, '알림 목록'),
    h('button', { type: 'button', role: 'tab', 'aria-selected': String(tab === 'settings'), on: { click: () => go('/alerts?tab=settings', { replace: true }) } }, '이메일 알림 설정'));
  set(main, h('h1.page-title', '알림'), tabs, body);
  if (tab === 'settings') return settings(body);

  const list = h('ul.list', { 'aria-label': '알림 목록' });
  const seen = new Map();
  let next = null;
  const moreBtn = h('button.btn.block', { type: 'button', hidden: true, on: { click: () => load(next) } }, '더 보기');
  const readAll = h('button.btn.small', { type: 'button', on: { click: async () => {
    try {
      await api('POST', '/notifications/read', { all: true });
      for (const li of list.querySelectorAll('.unread')) li.classList.remove('unread');
      for (const b of list.querySelectorAll('.mark')) b.remove();
      refreshUnread();
      toast('모두 읽음으로 표시했어요.');
    } catch (e) { toast(e.message); }
  } } }, '모두 읽음');
  set(body, h('div.page-pad', { style: 'display:flex;justify-content:flex-end;padding-bottom:0' }, readAll), list, h('div.page-pad', moreBtn));

  function row(n) {
    const t = text(n);
    const unread = !n.read;
    const mark = unread ? h('button.btn.small.mark', { type: 'button', on: { click: async (e) => {
      e.preventDefault();
      try {
        await api('POST', '/notifications/read', { ids: [n.id] });
        li.querySelector('.nitem').classList.remove('unread');
        mark.remove();
        refreshUnread();
      } catch (ex) { toast(ex.message); }
    } } }, h('span.sr-only', `${t.base}: `), '읽음') : null;
    const inner = [h('span.ni', icon(t.icon)),
      h('div.nb', h('div.nt', t.base), t.detail ? h('div', t.detail) : null, h('small', ago(n.updatedDt || n.createdDt)),
        unread ? h('span.sr-only', ' (읽지 않음)') : null)];
    const li = h('li', { 'data-id': n.id }, h(`div.nitem${unread ? '.unread' : ''}`,
      t.href ? h('a', { href: t.href, style: 'display:flex;gap:12px;flex:1;min-width:0', on: { click: () => {
        if (unread) api('POST', '/notifications/read', { ids: [n.id] }).then(refreshUnread).catch(() => {});
      } } }, inner) : h('div', { style: 'display:flex;gap:12px;flex:1' }, inner), mark));
    return li;
  }

  function put(n, top) {
    const old = seen.get(n.id);
    const el = row(n);
    if (old) old.replaceWith(el);
    seen.set(n.id, el);
    if (!old) { if (top) list.prepend(el); else list.appendChild(el); }
  }

  async function load(cursor) {
    const status = h('div', spinner());
    body.appendChild(status);
    try {
      const r = await api('GET', `/notifications?limit=30${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      for (const n of r.data || []) put(n, false);
      next = r.next || null;
      moreBtn.hidden = !next;
      if (!seen.size) list.replaceWith(list, empty('bell', '아직 알림이 없어요', '채팅, 교환, 후기 소식이 여기에 모여요.'));
    } catch (e) { toast(e.message); } finally { status.remove(); }
  }
  await load(null);
  const off = onNotification((n) => {
    const e = body.querySelector('.empty');
    if (e) e.remove();
    put(n, true);
  });
  return off;
}

async function settings(body) {
  set(body, spinner());
  const r = await api('GET', '/notifications/settings');
  const on = new Set(r.email || []);
  const types = r.types || Object.keys(TYPES);
  const err = h('p.field-error', { role: 'alert' });
  const boxes = types.map((t) => {
    const id = `mail-${t}`;
    return h('li', h('label', { for: id }, (TYPES[t] || ['', t])[1]), h('input', { type: 'checkbox', id, value: t, checked: on.has(t) }));
  });
  set(body, pushSwitch(), h('form', { on: { submit: async (e) => {
    e.preventDefault();
    const email = [...body.querySelectorAll('input[type=checkbox]')].filter((c) => c.checked).map((c) => c.value);
    try { await api('PUT', '/notifications/settings', { email }); toast('이메일 알림 설정을 저장했어요.'); err.textContent = ''; } catch (ex) { err.textContent = ex.message; }
  } } },
  h('p.page-pad.hint', '체크한 알림은 앱과 함께 이메일로도 받아요.'),
  h('ul.list.settings', boxes), h('div.page-pad', err, h('button.btn.primary.block', { type: 'submit' }, '저장'))));
}
