// chat.js — an item's group chat over Socket.IO (socket.io-client 4.x).
// Messages are kept in a Map by icruMsgId and drawn in id order, so the
// history a reconnect brings (setRoom) and live messages (getMsg) merge
// without duplicates and in commit order. Older pages come over HTTP when
// the list is scrolled to the top. The owner kicks (after a confirmation)
// and chooses the exchange partner from the member list; others can leave.

import { h, set, clock, temp, spinner, empty, toast, confirmDlg } from './ui.js';
import { api, currentUser } from './api.js';
import { go } from './nav.js';
import { openSocket, ask } from './sock.js';
import { avatar, reportUser } from './trade.js';
import { apptPanel, reportable, msgMenu } from './market.js';
import { memberInfo, memberLine } from './free.js';

const SYS = new Set(['in', 'out', 'leave', 'system']);

export async function page(main, { params }) {
  const [itemId] = params;
  set(main, spinner('채팅방을 여는 중…'));
  let d;
  try {
    d = (await api('GET', `/postDetail/${itemId}`)).data;
  } catch (e) {
    set(main, empty('chat', '채팅방을 열 수 없어요', e.message, h('a.btn.primary', { href: '/' }, '홈으로')));
    return;
  }
  document.title = `${d.title} 채팅 · 동물마켓`;
  const me = currentUser();
  const owner = d.userId === me.userId;
  const icrId = d.icrId;

  const msgs = new Map();           // icruMsgId → message
  let members = [];
  let info = new Map(); // the owner's view of members (free.js)
  let oldest = null;                // smallest id shown
  let olderDone = false;
  let loadingOlder = false;
  let gone = false;

  const list = h('ol.msgs', { 'aria-label': '대화 내용', 'aria-live': 'polite', 'aria-relevant': 'additions', tabindex: '0' });
  const olderBox = h('li.older');
  const memberList = h('ul.members', { id: 'members', 'aria-label': '참여자' });
  const conn = h('small.conn', { role: 'status' }, '연결 중…');
  const memberBtn = h('button.btn.small.member-toggle', { type: 'button', 'aria-expanded': 'false', 'aria-controls': 'members',
    on: { click: () => {
      const open = memberList.classList.toggle('open');
      memberBtn.setAttribute('aria-expanded', String(open));
    } } }, '참여자');
  const input = h('input', { type: 'text', maxlength: 1000, placeholder: '메시지 보내기', 'aria-label': '메시지 입력', autocomplete: 'off', enterkeyhint: 'send' });
  const sendBtn = h('button.btn.primary', { type: 'submit' }, '전송');
  const leaveBtn = !owner && d.buyerUserId !== me.userId
    ? h('button.btn.small', { type: 'button', on: { click: leave } }, '나가기') : null;
  const banner = h('div');
  const appt = apptPanel(itemId);

  set(main, h('section.chat', { 'aria-label': '채팅' },
    h('div.chat-head',
      h('img', { src: d.thumb || d.image, alt: '', width: 44, height: 44 }),
      h('div.t', h('h1.sr-only', `${d.title} 채팅`), h('b', h('a', { href: `/item/${itemId}` }, d.title)), h('small', `원해요: ${d.wantItem}`), conn),
      memberBtn, leaveBtn),
    banner, appt.el,
    h('div.chat-body', list, memberList),
    h('form.composer', { on: { submit: send } }, input, sendBtn)));

  function isMine(m) { return m.userId === me.userId; }

  function msgEl(m) {
    if (SYS.has(m.msgType)) return h('li.msg.sys', { 'data-id': m.icruMsgId }, h('span', m.chatMsg));
    const mine = isMine(m);
    return h(`li.msg${mine ? '.mine' : ''}`, { 'data-id': m.icruMsgId },
      mine ? null : avatar(m.nickname, true),
      h('div', mine ? null : h('p.who', m.nickname), mine ? h('div.bubble', m.chatMsg) : reportable(h('div.bubble', m.chatMsg), m)),
      h('time', { datetime: m.createdDt }, clock(m.createdDt)), mine ? null : msgMenu(m));
  }

  // Adds messages; redraws only when one lands before the newest shown.
  function merge(arr) {
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    const prevH = list.scrollHeight;
    const prevTop = list.scrollTop;
    let lastId = 0n;
    for (const li of list.querySelectorAll('li.msg')) lastId = BigInt(li.dataset.id);
    let needRedraw = false;
    const add = [];
    for (const m of arr) {
      if (!m || !m.icruMsgId || msgs.has(m.icruMsgId)) continue;
      msgs.set(m.icruMsgId, m);
      if (BigInt(m.icruMsgId) < lastId) needRedraw = true;
      else add.push(m);
      if (oldest === null || BigInt(m.icruMsgId) < BigInt(oldest)) oldest = m.icruMsgId;
    }
    if (needRedraw) {
      const sorted = [...msgs.values()].sort((a, b) => (BigInt(a.icruMsgId) < BigInt(b.icruMsgId) ? -1 : 1));
      set(list, olderBox, sorted.map(msgEl));
      list.scrollTop = prevTop + (list.scrollHeight - prevH);
    } else {
      add.sort((a, b) => (BigInt(a.icruMsgId) < BigInt(b.icruMsgId) ? -1 : 1));
      if (!list.contains(olderBox)) list.prepend(olderBox);
      for (const m of add) list.appendChild(msgEl(m));
      if (atBottom || add.some(isMine)) list.scrollTop = list.scrollHeight;
    }
    if (!msgs.size) set(olderBox, h('p.hint', '아직 메시지가 없어요. 먼저 인사해 보세요!'));
    else if (olderBox.querySelector('.hint') && !olderDone) set(olderBox);
  }

  function drawMembers() {
    memberBtn.textContent = `참여자 ${members.length}`;
    set(memberList, h('li.member', h('b', `참여자 ${members.length}명`)), members.map((u) => {
      const self = u.userId === me.userId;
      const acts = [];
      if (owner && !self && !u.isBoss && d.statusCode === 'SI01') {
        acts.push(h('button.btn.small', { type: 'button', 'aria-label': `${u.nickname}님을 교환 상대로 선택`, on: { click: () => choose(u) } }, '선택'));
        acts.push(h('button.btn.small.danger', { type: 'button', 'aria-label': `${u.nickname}님 강퇴`, on: { click: () => kick(u) } }, '강퇴'));
      }
      if (!self && !owner) acts.push(h('button.btn.small', { type: 'button', 'aria-label': `${u.nickname}님 신고`, on: { click: () => reportUser(u.userId, u.nickname, itemId) } }, '신고'));
      return h('li.member',
        h(`span.dot${u.online ? '.on' : ''}`, { role: 'img', 'aria-label': u.online ? '접속 중' : '오프라인' }),
        h('a.nm', { href: `/u/${u.userId}` }, u.nickname, u.isBoss ? h('span.boss', '방장') : null, self ? ' (나)' : null,
          owner && !self ? memberLine(info.get(u.userId)) : null),
        temp(u.mannerTemp), acts.length ? h('span.acts', acts) : null);
    }));
  }

  function setMembers(ul) {
    if (Array.isArray(ul)) { members = ul; drawMembers(); }
    // the owner's view: temperature, region, 나눔 received (free.js)
    if (owner && Array.isArray(ul)) memberInfo(icrId).then((m) => { info = m; if (!gone) drawMembers(); });
  }

  async function older() {
    if (loadingOlder || olderDone || oldest === null || gone) return;
    loadingOlder = true;
    set(olderBox, spinner('이전 메시지…'));
    try {
      const r = await api('GET', `/chat/${icrId}/messages?before=${oldest}&limit=50`);
      if (!r.next) olderDone = true;
      set(olderBox, olderDone ? h('p.hint', '대화의 처음이에요') : null);
      merge(r.data || []);
    } catch (e) {
      set(olderBox, h('button.btn.small', { type: 'button', on: { click: older } }, '이전 메시지 다시 불러오기'));
    } finally { loadingOlder = false; }
  }
  list.addEventListener('scroll', () => { if (list.scrollTop < 60) older(); });

  // a deep link by someone who is not in the room yet: offer to join
  const buttons = await api('GET', `/postDetail/icrId/${icrId}`).then((r) => r.buttonYn).catch(() => null);
  if (buttons && buttons.groupJoinButton) {
    const joinBtn = h('button.btn.primary', { type: 'button', on: { click: async () => {
      joinBtn.disabled = true;
      const r = await ask(s, 'joinRoom', { icrId }).catch(() => ({ msg: 'fail', errorMsg: '연결이 끊겼어요.' }));
      if (r.msg !== 'success') { toast(r.errorMsg); joinBtn.disabled = false; return; }
      set(banner);
      // a new handshake brings the room (setRoom) as a member sees it
      s.disconnect().connect();
    } } }, '채팅 참여하기');
    set(banner, h('p.notice', '아직 이 채팅방의 참여자가 아니에요. ', joinBtn));
  }

  const s = await openSocket({ icrId });
  if (gone) { s.close(); return undefined; }
  s.on('connect', () => { conn.textContent = '연결됨'; conn.classList.remove('off'); });
  s.on('disconnect', () => { conn.textContent = '연결이 끊겼어요. 다시 연결하는 중…'; conn.classList.add('off'); });
  // The newest id shown, 0n if none.
  function newest() {
    let n = 0n;
    for (const id of msgs.keys()) if (BigInt(id) > n) n = BigInt(id);
    return n;
  }

  // After a reconnect: setRoom brings the latest 200 only; when even its
  // oldest is newer than what was shown, the messages in between come over
  // HTTP, page by page back to the last one shown.
  async function fillGap(list, had) {
    let before = list[0].icruMsgId;
    while (!gone) {
      const r = await api('GET', `/chat/${icrId}/messages?before=${before}&limit=200`).catch(() => null);
      const page = (r && r.data) || [];
      merge(page);
      if (!page.length || !r.next || BigInt(page[0].icruMsgId) <= had) break;
      before = page[0].icruMsgId;
    }
  }

  s.on('setRoom', (p) => {
    if (p.icrId !== icrId) return;
    setMembers(p.userList);
    const first = msgs.size === 0;
    const had = newest();
    const list = Array.isArray(p.msgList) ? p.msgList : [];
    if (!first && list.length && BigInt(list[0].icruMsgId) > had + 1n) fillGap(list, had);
    merge(list);
    if (first) {
      list.scrollTop = list.scrollHeight;
      if (Array.isArray(p.msgList) && p.msgList.length < 200) olderDone = true;
    }
  });
  s.on('addUser', (p) => {
    if (p.icrId !== icrId) return;
    setMembers(p.userList);
    if (p.msgList && p.msgList.data) merge([p.msgList.data]);
  });
  s.on('getMsg', (m) => {
    if (m.icrId !== icrId) return;
    merge([m]);
    if (m.msgType === 'system') appt.refresh();
    if (m.msgType === 'leave') { members = members.filter((u) => u.userId !== m.userId); drawMembers(); }
    // whoever just wrote is connected right now
    const u = members.find((x) => x.userId === m.userId);
    if (u && !u.online && m.msgType === 'chat') { u.online = true; drawMembers(); }
  });
  s.on('kickUser', (m) => {
    if (m.icrId !== icrId) return;
    merge([m]);
    members = members.filter((u) => u.userId !== m.userId);
    drawMembers();
    if (m.userId === me.userId) {
      toast('방장이 나를 채팅방에서 내보냈어요.');
      go(`/item/${itemId}`, { replace: true });
    }
  });
  s.on('exchange', (p) => {
    if (p.icrId && p.icrId !== icrId) return;
    if (p.data) merge([p.data]);
    d.statusCode = 'SI02';
    const partnerId = p.partner && p.partner.userId;
    members = members.filter((u) => u.isBoss || u.userId === partnerId);
    drawMembers();
    if (!owner && partnerId !== me.userId) {
      toast(`${p.partner ? p.partner.nickname : '다른 이웃'}님과 교환이 정해졌어요.`);
      go(`/item/${itemId}`, { replace: true });
      return;
    }
    appt.refresh();
    set(banner, h('p.notice', `${p.partner ? p.partner.nickname : ''}님과 교환을 진행해요. `, h('a.link-btn', { href: `/item/${itemId}` }, '거래 완료·후기는 물건 페이지에서')));
  });
  s.on('error', (e) => { if (e && e.errorMsg) toast(e.errorMsg); });

  async function send(e) {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    sendBtn.disabled = true;
    try {
      const r = await ask(s, 'sendMsg', { icrId, chatMsg: text });
      if (r && r.msg === 'fail') { toast(r.errorMsg); return; }
      if (r && r.data) merge([r.data]);
      input.value = '';
    } catch { toast('메시지를 보내지 못했어요. 연결을 확인해 주세요.'); } finally {
      sendBtn.disabled = false;
      input.focus();
    }
  }

  async function kick(u) {
    if (!await confirmDlg('강퇴', `${u.nickname}님을 내보낼까요? 이 물건의 채팅방에는 다시 들어올 수 없어요.`, '강퇴하기', true)) return;
    const r = await ask(s, 'kickUser', { icrId, itemId, userId: u.userId }).catch(() => ({ msg: 'fail', errorMsg: '연결이 끊겼어요.' }));
    if (r.msg !== 'success') toast(r.errorMsg);
    else toast(`${u.nickname}님을 내보냈어요.`);
  }

  async function choose(u) {
    if (!await confirmDlg('교환 상대 선택', `${u.nickname}님과 교환할까요? 다른 참여자는 채팅방에서 나가게 돼요.`, '선택하기')) return;
    const r = await ask(s, 'exchange', { icrId, itemId, consumerUserId: u.userId }).catch(() => ({ msg: 'fail', errorMsg: '연결이 끊겼어요.' }));
    if (r.msg !== 'success') toast(r.errorMsg);
  }

  async function leave() {
    if (!await confirmDlg('채팅방 나가기', '채팅방에서 나갈까요? 물건이 아직 열려 있으면 다시 들어올 수 있어요.', '나가기')) return;
    const r = await ask(s, 'leaveRoom', { icrId }).catch(() => ({ msg: 'fail', errorMsg: '연결이 끊겼어요.' }));
    if (r.msg !== 'success') { toast(r.errorMsg); return; }
    toast('채팅방에서 나왔어요.');
    go(`/item/${itemId}`, { replace: true });
  }

  if (d.statusCode !== 'SI01') appt.refresh();
  input.focus();
  return () => { gone = true; s.close(); };
}
