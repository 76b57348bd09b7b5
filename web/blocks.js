// blocks.js — blocking a user, privately (the other side is never told):
// a block/unblock button on a profile, and my blocked users on my page
// (POST/DELETE/GET /blocks).

import { h, set, toast, confirmDlg, empty } from './ui.js';
import { api } from './api.js';

// The block/unblock button for user p ({userId, nickname}) on a profile.
export function blockButton(p) {
  const btn = h('button.link-btn', { type: 'button' }, '…');
  let blocked = false;
  function draw() { btn.textContent = blocked ? '차단 해제' : '이 사용자 차단하기'; }
  api('GET', '/blocks').then((r) => { blocked = (r.data || []).some((b) => b.userId === p.userId); draw(); }).catch(draw);
  btn.addEventListener('click', async () => {
    try {
      if (blocked) {
        await api('DELETE', `/blocks/${p.userId}`);
        blocked = false;
        toast('차단을 해제했어요.');
      } else {
        if (!await confirmDlg(`${p.nickname}님 차단`, '서로의 글이 보이지 않고, 이 사용자는 내 물건의 채팅에 참여할 수 없어요. 상대에게는 알리지 않아요.', '차단', true)) return;
        await api('POST', '/blocks', { userId: p.userId });
        blocked = true;
        toast('차단했어요.');
      }
      draw();
    } catch (e) { toast(e.message); }
  });
  return btn;
}

// My blocked users, each with an unblock button.
export function blockedList() {
  const box = h('section.page-pad.blocked', { 'aria-labelledby': 'blocked-h' }, h('h2#blocked-h', '차단한 사용자'));
  const list = h('ul.list');
  async function load() {
    try {
      const r = await api('GET', '/blocks');
      set(list, (r.data || []).map((b) => h('li.blocked-row',
        h('a', { href: `/u/${b.userId}` }, b.nickname),
        h('button.btn.small', { type: 'button', on: { click: async () => {
          try { await api('DELETE', `/blocks/${b.userId}`); toast('차단을 해제했어요.'); load(); } catch (e) { toast(e.message); }
        } } }, '해제'))));
      if (!(r.data || []).length) set(list, h('li', empty('user', '차단한 사용자가 없어요')));
    } catch (e) { set(list, h('li.hint', e.message)); }
  }
  box.appendChild(list);
  load();
  return box;
}
