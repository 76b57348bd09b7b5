// item.js — an item's page: photo, what the owner offers and wants, time
// left, the owner's profile, and the one action the API allows the viewer
// (join the chat, go to the chat, log in first); the owner can delete;
// owner and partner get the trade panel (trade.js).

import { h, set, timeLeft, ago, spinner, empty, toast, confirmDlg, STATUS_TEXT } from './ui.js';
import { api, currentUser } from './api.js';
import { go } from './nav.js';
import { openSocket, ask } from './sock.js';
import { ownerBox, tradePanel, reportUser } from './trade.js';
import { gallery } from './photos.js';
import { freeBadge } from './free.js';

export async function page(main, { params }) {
  const [itemId] = params;
  set(main, spinner());
  let d;
  try {
    d = (await api('GET', `/postDetail/${itemId}`)).data;
  } catch (e) {
    document.title = '물건을 찾을 수 없어요 · 동물마켓';
    set(main, empty(e.status === 403 ? 'lock' : 'box', e.status === 403 ? '볼 수 없는 물건이에요' : '물건을 찾을 수 없어요', e.message,
      h('a.btn.primary', { href: '/' }, '홈으로')));
    return;
  }
  document.title = `${d.title} · 동물마켓`;
  const me = currentUser();
  const mine = me && d.userId === me.userId;
  const partner = me && d.buyerUserId && d.buyerUserId === me.userId;
  const [profile, buttons] = await Promise.all([
    api('GET', `/users/${d.userId}`).catch(() => null),
    me ? api('GET', `/postDetail/icrId/${d.icrId}`).then((r) => r.buttonYn).catch(() => null) : null,
  ]);

  const open = d.statusCode === 'SI01' && Date.parse(d.deadLine) > Date.now();
  let action;
  if (!me) {
    action = h('a.btn.primary', { href: `/login?next=${encodeURIComponent(`/item/${itemId}`)}` }, '로그인하고 채팅 참여');
  } else if (buttons && buttons.groupJoinButton) {
    const joinBtn = h('button.btn.primary', { type: 'button', on: { click: async () => {
      joinBtn.disabled = true;
      let s = null;
      try {
        s = await openSocket();
        const r = await ask(s, 'joinRoom', { icrId: d.icrId });
        if (r.msg !== 'success') throw new Error(r.errorMsg || '참여하지 못했어요.');
        go(`/item/${itemId}/chat`);
      } catch (e) { toast(e.message); joinBtn.disabled = false; } finally { if (s) s.close(); }
    } } }, '채팅 참여하기');
    action = joinBtn;
  } else if (mine || partner || (open && d.kickYn !== 'true')) {
    action = h('a.btn.primary', { href: `/item/${itemId}/chat` }, mine ? '채팅방 보기' : '채팅방 가기');
  } else {
    action = h('span.status-pill', STATUS_TEXT[d.statusCode] || '마감');
  }

  const del = mine && (d.statusCode === 'SI01' || d.statusCode === 'SI03')
    ? h('button.btn.danger.small', { type: 'button', on: { click: async () => {
      if (!await confirmDlg('글 삭제', '이 물건과 채팅방, 메시지가 모두 지워져요. 삭제할까요?', '삭제', true)) return;
      try {
        await api('DELETE', '/myPage/delete', { itemId: d.itemId, icrId: d.icrId });
        toast('삭제했어요.');
        go('/me', { replace: true });
      } catch (e) { toast(e.message); }
    } } }, '삭제') : null;

  const leftText = d.statusCode === 'SI01' ? timeLeft(d.deadLine) : STATUS_TEXT[d.statusCode];
  const reload = () => go(`/item/${itemId}`, { replace: true });
  set(main, h('article.item-wrap',
    h('div', gallery(d, mine && open, reload)),
    h('div',
      profile ? ownerBox(profile) : ownerBox(d),
      h('div.detail',
        h('p', freeBadge(d), h(`span.status-pill.${d.statusCode}`, STATUS_TEXT[d.statusCode])),
        h('h1', d.title),
        h('p.meta', `${d.category} · ${ago(d.createdDt)} · ${d.address}`),
        d.freeYn === 'Y' ? h('div.wantbox', h('div.k', '나눔해요'), h('div.v', d.wantItem || '무료로 드려요'))
          : h('div.wantbox', h('div.k', '이런 물건과 바꾸고 싶어요'), h('div.v', d.wantItem)),
        h('p.comment', d.comment)),
      me && (mine || partner) ? tradePanel(d, me, reload) : null,
      me && !mine && !partner ? h('p.page-pad', h('button.link-btn', { type: 'button', on: { click: () => reportUser(d.userId, d.nickname, d.itemId) } }, '이 사용자 신고하기')) : null,
      h('div.actionbar',
        h('div.info', h('b', leftText), h('small', `마감 ${new Date(d.deadLine).toLocaleString('ko-KR', { month: 'long', day: 'numeric', hour: 'numeric', minute: '2-digit' })}`)),
        del, action))));
}
