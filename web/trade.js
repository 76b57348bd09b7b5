// trade.js — what two people do after an exchange was agreed: complete or
// cancel it (with a reason), review each other (good/bad, tags, comment),
// and report a user. Also the owner profile box shared by several pages.

import { icon } from './icons.js';
import { h, set, field, toast, dialog, temp, confirmDlg } from './ui.js';
import { api } from './api.js';

export const TAGS_GOOD = ['시간약속', '친절', '상태좋음', '응답빠름', '설명일치', '매너좋음'];
export const TAGS_BAD = ['노쇼', '불친절', '시간지각', '상태불량', '응답느림', '설명불일치'];
export const REASONS = { noshow: '약속 장소에 나오지 않았어요', breach: '약속을 어겼어요', abuse: '욕설·비매너', fraud: '사기가 의심돼요', other: '기타' };

// Nickname initial in a circle.
export function avatar(name, sm) {
  return h(`span.avatar${sm ? '.sm' : ''}`, { 'aria-hidden': 'true' }, (name || '?').slice(0, 1));
}

// The owner's box: nickname, region, trades, reviews, temperature bar.
export function ownerBox(p) {
  const t = Number(p.mannerTemp);
  const bar = h('span');
  bar.style.width = `${Math.max(2, Math.min(100, t))}%`;
  return h('a.owner', { href: `/u/${p.userId}` },
    avatar(p.nickname),
    h('div.who', h('div.name', p.nickname), h('div.sub',
      [p.address, p.tradeCount !== undefined ? `교환 ${p.tradeCount}회` : null,
        p.reviews ? `후기 ${(p.reviews.good || 0) + (p.reviews.bad || 0)}개` : null].filter(Boolean).join(' · '))),
    h('div.tempbox', temp(t), h('div.bar', { 'aria-hidden': 'true' }, bar), h('small', '매너온도')));
}

// Report dialog for userId (about itemId, optional). Resolves true if sent.
export async function reportUser(userId, nickname, itemId) {
  const reason = field('신고 사유', 'select', {}, Object.entries(REASONS).map(([k, v]) => h('option', { value: k }, v)));
  const detail = field('자세한 내용 (선택)', 'textarea', { maxlength: 1000 });
  const r = await dialog(`${nickname}님 신고하기`, h('div', h('p.hint', '신고는 운영자가 확인해요. 여러 이웃이 신고하면 이용이 정지될 수 있어요.'), reason.wrap, detail.wrap),
    [{ label: '취소', value: null }, { label: '신고하기', value: true, danger: true }],
    async () => {
      try {
        const body = { userId, reason: reason.input.value };
        if (itemId) body.itemId = itemId;
        if (detail.input.value.trim()) body.detail = detail.input.value.trim();
        const res = await api('POST', '/reports', body);
        toast(res.duplicate ? '이미 신고한 사용자예요. 신고는 한 번만 집계돼요.' : '신고를 접수했어요.');
        return true;
      } catch (e) { return e.message; }
    });
  return r === true;
}

// The trade panel of an item for its owner or partner. item: detail data;
// me: current user; reload(): re-render the page after a change.
export function tradePanel(item, me, reload) {
  const mineOwner = item.userId === me.userId;
  const otherId = mineOwner ? item.buyerUserId : item.userId;
  const panel = h('section.panel', { 'aria-labelledby': 'trade-h' });
  if (item.statusCode === 'SI02') {
    set(panel, h('h2#trade-h', '교환이 진행 중이에요'),
      h('p.hint', '만나서 교환했다면 완료를, 교환이 어렵게 됐다면 취소를 눌러 주세요.'),
      h('div.choice',
        h('button.btn.primary', { type: 'button', on: { click: async () => {
          if (!await confirmDlg('교환 완료', '교환을 마쳤나요? 완료하면 서로 후기를 남길 수 있어요.', '완료하기')) return;
          try { await api('POST', `/trade/${item.itemId}/complete`); toast('교환을 완료했어요. 후기를 남겨 주세요!'); reload(); } catch (e) { toast(e.message); }
        } } }, '교환 완료'),
        h('button.btn.danger', { type: 'button', on: { click: async () => {
          const reason = field('취소 사유', 'textarea', { maxlength: 200, required: true, placeholder: '예) 약속 시간에 만나지 못했어요' });
          const ok = await dialog('교환 취소', h('div', reason.wrap), [{ label: '닫기', value: null }, { label: '교환 취소하기', value: true, danger: true }],
            async () => {
              if (!reason.input.value.trim()) return '취소 사유를 입력해 주세요.';
              try { await api('POST', `/trade/${item.itemId}/cancel`, { reason: reason.input.value.trim() }); return true; } catch (e) { return e.message; }
            });
          if (ok) { toast('교환을 취소했어요.'); reload(); }
        } } }, '교환 취소')));
  } else if (item.statusCode === 'SI04' || item.statusCode === 'SI05') {
    set(panel, h('h2#trade-h', item.statusCode === 'SI04' ? '교환을 마쳤어요' : '교환이 취소됐어요'), reviewForm(item, otherId));
  } else return null;
  panel.appendChild(h('p', h('button.link-btn', { type: 'button', on: { click: () => reportUser(otherId, '상대', item.itemId) } }, '상대 신고하기')));
  return panel;
}

function reviewForm(item) {
  let score = '';
  const chosen = new Set();
  const tagsBox = h('div.tags', { role: 'group', 'aria-label': '어떤 점이 그랬나요? (최대 5개)' });
  const err = h('p.field-error', { role: 'alert' });
  function drawTags() {
    const list = score === 'bad' ? TAGS_BAD : score === 'good' ? TAGS_GOOD : [];
    for (const t of [...chosen]) if (!list.includes(t)) chosen.delete(t);
    set(tagsBox, list.map((t) => h('button.tag', { type: 'button', 'aria-pressed': String(chosen.has(t)), on: { click: (e) => {
      if (chosen.has(t)) chosen.delete(t);
      else if (chosen.size < 5) chosen.add(t);
      e.currentTarget.setAttribute('aria-pressed', String(chosen.has(t)));
    } } }, t)));
  }
  const good = h('button.btn', { type: 'button', 'aria-pressed': 'false', on: { click: () => pick('good') } }, icon('smile'), '좋았어요');
  const bad = h('button.btn', { type: 'button', 'aria-pressed': 'false', on: { click: () => pick('bad') } }, icon('frown'), '별로였어요');
  function pick(s) {
    score = s;
    good.setAttribute('aria-pressed', String(s === 'good'));
    bad.setAttribute('aria-pressed', String(s === 'bad'));
    drawTags();
  }
  const comment = field('후기 (선택, 500자까지)', 'textarea', { maxlength: 500 });
  const box = h('form', { on: { submit: async (e) => {
    e.preventDefault();
    err.textContent = '';
    if (!score) { err.textContent = '좋았는지 별로였는지 골라 주세요.'; good.focus(); return; }
    try {
      const body = { score, tags: [...chosen] };
      if (comment.input.value.trim()) body.comment = comment.input.value.trim();
      await api('POST', `/trade/${item.itemId}/review`, body);
      set(box, h('p', '후기를 보냈어요. 고마워요!'));
    } catch (ex) {
      if (ex.code === 'ALREADY_REVIEWED') set(box, h('p', '이 교환의 후기는 이미 남겼어요.'));
      else err.textContent = ex.message;
    }
  } } },
  h('p', '상대와의 교환은 어땠나요?'), h('div.choice', { role: 'group', 'aria-label': '평가' }, good, bad), tagsBox, comment.wrap, err,
  h('button.btn.primary', { type: 'submit' }, '후기 보내기'));
  return box;
}
