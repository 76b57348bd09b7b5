// free.js — 나눔 (giving for free): the post page's toggle (no wanted item
// needed then), the badge on cards, the feed's "나눔만" filter
// (?freeYn=Y), and, for the owner in the chat room, each member's manner
// temperature, region and 나눔 received in the last 30 days
// (GET /chat/:icrId/members, the owner's alone) to choose fairly.

import { h } from './ui.js';
import { api } from './api.js';

// The post page's toggle. want: the wanted-item field ({wrap, input});
// with 나눔 on it is optional. Returns {wrap, on()}.
export function freeToggle(want) {
  const box = h('input', { type: 'checkbox', id: 'free-toggle' });
  const hint = h('p.hint', '나눔은 원하는 물건 없이 이웃에게 무료로 드려요.');
  box.addEventListener('change', () => {
    want.input.required = !box.checked;
    want.input.placeholder = box.checked ? '(선택) 받고 싶은 것이 있다면' : '예) 동화책 몇 권';
  });
  return { wrap: h('div.field.free-field', h('label', { for: 'free-toggle' }, box, ' ', h('b', '나눔하기')), hint), on: () => box.checked };
}

// A "나눔" badge for item it (null for barter items).
export function freeBadge(it) {
  return it && it.freeYn === 'Y' ? h('span.free-badge', '나눔') : null;
}

// The feed's filter chip; on: whether it is pressed; go(on) navigates.
export function freeChip(on, go) {
  return h('button.chip.free-chip', { type: 'button', 'aria-pressed': String(on), on: { click: () => go(!on) } }, '나눔만');
}

// The owner's view of the members of room icrId: a Map userId ->
// {address, mannerTemp, freeReceived30d} (empty when not allowed).
export async function memberInfo(icrId) {
  try {
    const r = await api('GET', `/chat/${icrId}/members`);
    return new Map((r.data || []).map((m) => [m.userId, m]));
  } catch { return new Map(); }
}

// The line under a member's name in the owner's list.
export function memberLine(m) {
  if (!m) return null;
  return h('small.member-info', [m.address || '동네 미설정', `나눔 받음 ${m.freeReceived30d}회(30일)`].join(' · '));
}
