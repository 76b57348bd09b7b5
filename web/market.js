// market.js — three market features where the app shows them: reporting
// one chat message (a menu on a neighbour's message, also its long-press /
// context menu), 거래약속 (the appointment panel on the chat page after an
// exchange and the list on my page) and the keyword-alerts page
// (/keywords). Kept apart from the pages they plug into (chat.js, me.js),
// which only call in.

import { h, set, toast, dialog, field, spinner, empty } from './ui.js';
import { api } from './api.js';
import { icon } from './icons.js';
import { REASONS } from './trade.js';

// ------------------------------------------------------ message reports

// The report dialog for message m (as chat draws it). Resolves true if sent.
export async function reportMessage(m) {
  const reason = field('신고 사유', 'select', {}, Object.entries(REASONS)
    .filter(([k]) => k !== 'noshow').map(([k, v]) => h('option', { value: k }, v)));
  reason.input.value = 'abuse';
  const detail = field('자세한 내용 (선택)', 'textarea', { maxlength: 1000 });
  const r = await dialog(`${m.nickname}님의 메시지 신고`, h('div',
    h('p.hint', '운영자가 이 메시지와 앞뒤 대화를 확인해요.'),
    h('blockquote', { style: 'margin:8px 0;padding:8px 12px;border-left:3px solid #d1d3d8;white-space:pre-wrap;word-break:break-word' }, m.chatMsg),
    reason.wrap, detail.wrap),
  [{ label: '취소', value: null }, { label: '신고하기', value: true, danger: true }],
  async () => {
    try {
      const body = { icruMsgId: m.icruMsgId, reason: reason.input.value };
      if (detail.input.value.trim()) body.detail = detail.input.value.trim();
      await api('POST', '/reports', body);
      toast('메시지 신고를 접수했어요.');
      return true;
    } catch (e) {
      if (e.code === 'ALREADY_REPORTED') { toast(e.message); return true; }
      return e.message;
    }
  });
  return r === true;
}

// el (a neighbour's bubble) opens the report dialog on a long press or the
// context menu; returns el.
export function reportable(el, m) {
  let timer = null;
  const cancel = () => { clearTimeout(timer); timer = null; };
  el.addEventListener('contextmenu', (e) => { e.preventDefault(); cancel(); reportMessage(m); });
  el.addEventListener('touchstart', () => { cancel(); timer = setTimeout(() => { timer = null; reportMessage(m); }, 600); }, { passive: true });
  for (const ev of ['touchend', 'touchmove', 'touchcancel']) el.addEventListener(ev, cancel, { passive: true });
  return el;
}

// The small menu button beside a neighbour's message.
export function msgMenu(m) {
  return h('button.icon-btn', { type: 'button', 'aria-label': `${m.nickname}님의 메시지 신고`, title: '메시지 신고',
    style: 'min-width:28px;min-height:28px;padding:0;font-size:16px;color:#6b7079;background:none;border:0;cursor:pointer',
    on: { click: () => reportMessage(m) } }, '⋯');
}

// The operator's view of a message report (GET /operator/reports): the
// reported message with the few before and after it; null for a user report.
export function messageContext(rp) {
  if (!rp.icruMsgId) return null;
  if (!Array.isArray(rp.context)) return h('div.hint', '신고된 메시지는 물건과 함께 삭제됐어요.');
  return h('ol', { 'aria-label': '신고된 메시지와 앞뒤 대화', style: 'list-style:none;margin:6px 0;padding:6px 8px;background:#f5f6f8;border-radius:8px;font-size:13px' },
    rp.context.map((m) => h('li', { style: m.reported ? 'font-weight:700;color:#b42318' : (m.msgType === 'chat' ? '' : 'color:#6b7079') },
      m.msgType === 'chat' ? `${m.nickname}: ` : '', m.chatMsg, m.reported ? ' ← 신고됨' : '')));
}

// --------------------------------------------------------- 거래약속

function when(iso) {
  return new Date(iso).toLocaleString('ko-KR', { month: 'long', day: 'numeric', weekday: 'short', hour: '2-digit', minute: '2-digit' });
}

// A datetime-local value for a Date (the browser's own time zone).
function localValue(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

// The propose / counter dialog. Resolves the new appointment or null.
async function propose(itemId, prev) {
  const start = prev ? new Date(prev.at) : new Date(Date.now() + 24 * 3600000);
  if (!prev) start.setMinutes(0, 0, 0);
  const at = field('날짜와 시간', 'input', { type: 'datetime-local', required: true, value: localValue(start),
    min: localValue(new Date(Date.now() + 2 * 60000)) });
  const place = field('장소', 'input', { type: 'text', maxlength: 100, required: true, placeholder: '예: 역삼역 3번 출구', value: prev ? prev.place : '' });
  let made = null;
  const r = await dialog(prev ? '다른 약속 제안하기' : '거래약속 잡기', h('div', at.wrap, place.wrap),
    [{ label: '취소', value: null }, { label: '제안하기', value: true, primary: true }],
    async () => {
      const t = new Date(at.input.value);
      if (!at.input.value || Number.isNaN(t.getTime())) return '날짜와 시간을 골라 주세요.';
      if (!place.input.value.trim()) return '장소를 입력해 주세요.';
      try {
        made = (await api('POST', `/trade/${itemId}/appointment`, { at: t.toISOString(), place: place.input.value.trim() })).appointment;
        return true;
      } catch (e) { return e.message; }
    });
  return r === true ? made : null;
}

async function noshow(a) {
  const r = await dialog('노쇼 신고', h('p', `${a.otherNickname || '상대'}님이 ${when(a.at)} 약속에 나오지 않았나요? 운영자가 확인해요.`),
    [{ label: '취소', value: null }, { label: '신고하기', value: true, danger: true }],
    async () => {
      try {
        const res = await api('POST', '/reports', { userId: a.otherUserId, itemId: a.itemId, reason: 'noshow', detail: `거래약속 ${when(a.at)} · ${a.place}` });
        toast(res.duplicate ? '이미 신고한 사용자예요. 신고는 한 번만 집계돼요.' : '노쇼 신고를 접수했어요.');
        return true;
      } catch (e) { return e.message; }
    });
  return r === true;
}

// One appointment's lines and actions; changed() after a change.
function apptView(a, changed) {
  const head = a.status === 'accepted' ? '약속이 정해졌어요' : a.mine ? '상대의 수락을 기다리는 중' : `${a.otherNickname || '상대'}님이 약속을 제안했어요`;
  const acts = [];
  if (a.itemStatus === 'SI02') {
    if (a.status === 'proposed' && !a.mine) {
      acts.push(h('button.btn.small.primary', { type: 'button', on: { click: async () => {
        try { await api('POST', `/trade/${a.itemId}/appointment/accept`, { apptId: a.apptId }); toast('약속을 수락했어요. 1시간 전과 10분 전에 알려 드려요.'); changed(); } catch (e) { toast(e.message); changed(); }
      } } }, '수락'));
    }
    acts.push(h('button.btn.small', { type: 'button', on: { click: async () => { if (await propose(a.itemId, a)) { toast('새 약속을 제안했어요.'); changed(); } } } },
      a.status === 'proposed' && !a.mine ? '다른 시간 제안' : '약속 바꾸기'));
  }
  if (a.status === 'accepted' && a.past) acts.push(h('button.btn.small.danger', { type: 'button', on: { click: () => noshow(a) } }, '노쇼 신고'));
  return h('div', { style: 'display:flex;flex-direction:column;gap:6px' },
    h('b', head),
    h('span', { style: 'display:flex;align-items:center;gap:4px;flex-wrap:wrap' }, icon('clock', 16), h('time', { datetime: a.at }, when(a.at)),
      icon('pin', 16), h('span', a.place)),
    acts.length ? h('div', { style: 'display:flex;gap:6px;flex-wrap:wrap' }, acts) : null);
}

// The chat page's appointment panel for itemId: {el, refresh()}. Hidden
// unless the viewer is a party of a trade in progress (or has one).
export function apptPanel(itemId) {
  const el = h('section.notice', { 'aria-label': '거래약속', hidden: true, style: 'margin:8px 12px;padding:10px 12px;border:1px solid #e4e6ea;border-radius:12px;background:#fffaf5' });
  let busy = null;
  async function refresh() {
    if (busy) return busy;
    busy = (async () => {
      try {
        const r = await api('GET', `/trade/${itemId}/appointment`);
        const a = r.appointment;
        if (!a) {
          set(el, h('div', { style: 'display:flex;align-items:center;gap:8px;flex-wrap:wrap' },
            h('span', { style: 'flex:1' }, '교환할 시간과 장소를 정해 보세요.'),
            h('button.btn.small.primary', { type: 'button', on: { click: async () => { if (await propose(itemId)) { toast('약속을 제안했어요.'); refresh(); } } } }, '거래약속 잡기')));
        } else set(el, apptView(a, refresh));
        el.hidden = false;
      } catch { el.hidden = true; } finally { busy = null; }
    })();
    return busy;
  }
  return { el, refresh };
}

// My page's block: my appointments, soonest first (nothing when none).
export function myAppointments() {
  const el = h('section', { 'aria-label': '거래약속', hidden: true, style: 'padding:0 16px 8px' });
  (async function load() {
    try {
      const r = await api('GET', '/appointments');
      const list = r.data || [];
      el.hidden = !list.length;
      set(el, h('h2', { style: 'font-size:16px;margin:8px 0' }, `거래약속 ${list.length}`),
        h('ul.list', list.map((a) => h('li', { style: 'padding:10px 0;border-bottom:1px solid #eceef1' },
          h('a', { href: `/item/${a.itemId}/chat`, style: 'font-weight:600' }, a.title),
          h('span.hint', ` · ${a.otherNickname || ''}`),
          apptView(a, load)))));
    } catch { el.hidden = true; }
  })();
  return el;
}

// ------------------------------------------------------ keyword alerts

export async function keywordsPage(main) {
  document.title = '키워드 알림 · 동물마켓';
  set(main, spinner());
  let words = [];
  let max = 30;
  try {
    const r = await api('GET', '/keywords');
    words = r.keywords || [];
    max = r.max || 30;
  } catch (e) {
    set(main, empty('bell', '키워드를 불러오지 못했어요', e.message));
    return;
  }
  const input = field('키워드', 'input', { type: 'text', maxlength: 20, placeholder: '예: 자전거', autocomplete: 'off', enterkeyhint: 'done' });
  const count = h('span.hint');
  const chips = h('div.chips', { 'aria-label': '내 키워드', style: 'flex-wrap:wrap;padding-left:0;padding-right:0' });

  function draw() {
    count.textContent = `${words.length}/${max}`;
    if (words.length) chips.setAttribute('role', 'list'); else chips.removeAttribute('role');
    set(chips, words.length ? words.map((w) => h('span.chip', { role: 'listitem' }, w,
      h('button', { type: 'button', 'aria-label': `${w} 삭제`, style: 'margin-left:6px;border:0;background:none;cursor:pointer;font-size:15px',
        on: { click: () => save(words.filter((x) => x !== w)) } }, '×')))
      : h('p.hint', '아직 키워드가 없어요. 갖고 싶은 물건을 등록해 보세요.'));
  }
  async function save(next) {
    try {
      const r = await api('PUT', '/keywords', { keywords: next });
      words = r.keywords;
      input.error('');
      draw();
      return true;
    } catch (e) { input.error(e.message); return false; }
  }
  async function add(e) {
    e.preventDefault();
    const w = input.input.value.trim();
    if (!w) return;
    if (words.length >= max) { input.error(`키워드는 ${max}개까지 등록할 수 있어요.`); return; }
    if (words.includes(w.toLowerCase()) || words.includes(w)) { input.error('이미 등록한 키워드예요.'); return; }
    if (await save([...words, w])) { input.input.value = ''; toast(`「${w}」 키워드를 등록했어요.`); }
    input.input.focus();
  }
  set(main, h('h1.page-title', '키워드 알림'),
    h('div.page-pad',
      h('p.hint', { style: 'margin-top:0' }, '내 동네에 키워드가 들어간 새 물건이 올라오면 알려 드려요. 제목, 원하는 물건, 설명에서 찾아요.'),
      h('form', { on: { submit: add }, style: 'display:flex;gap:8px;align-items:flex-end' },
        h('div', { style: 'flex:1' }, input.wrap), h('button.btn.primary', { type: 'submit' }, '등록')),
      h('div', { style: 'display:flex;justify-content:space-between;margin-top:12px' }, h('b', '등록한 키워드'), count),
      chips));
  draw();
}
