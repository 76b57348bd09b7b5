// post.js — posting an item. The photos (camera or files, up to 10; the
// picker is photos.js) are resized here, in the browser, before upload: at
// most 1600 px on their longest side, plus a 320 px thumbnail each (the
// server checks them by content). 나눔 (free.js) needs no wanted item.
// The API's Korean errorMsg shows under the field it is about.

import { icon } from './icons.js';
import { h, set, field, toast, CATEGORIES, resizeImage } from './ui.js';
import { api, currentUser } from './api.js';
import { go } from './nav.js';
import { showError } from './auth.js';
import { photoPicker } from './photos.js';
import { freeToggle } from './free.js';

// "YYYY-MM-DDTHH:00" in local time for a datetime-local input.
function localInput(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

export async function page(main) {
  document.title = '내 물건 올리기 · 동물마켓';
  const u = currentUser();
  const picker = photoPicker((n) => {
    set(slot, picker.first() ? h('img', { src: picker.first(), alt: '' }) : [icon('camera', 28), h('span', '사진')]);
    set(photoInfo, n ? `사진 준비 완료 (${n}장, 첫 사진이 대표 사진)` : '사진 최대 10장 (긴 쪽 1600px로 줄여서 올려요)');
  });

  const slot = h('div.slot', { 'aria-hidden': 'true' }, icon('camera', 28), h('span', '사진'));
  const fileIn = h('input', { type: 'file', id: 'photo-file', accept: 'image/*', multiple: true });
  const camIn = h('input', { type: 'file', id: 'photo-cam', accept: 'image/*', capture: 'environment' });
  const photoErr = h('p.field-error', { id: 'photo-err', role: 'alert' });
  const photoInfo = h('p.hint', { id: 'photo-info' }, '사진 최대 10장 (긴 쪽 1600px로 줄여서 올려요)');
  const photoField = { input: fileIn, error: (t) => { photoErr.textContent = t || ''; } };

  async function picked(input) {
    if (!input.files || !input.files.length) return;
    photoField.error('');
    set(photoInfo, '사진을 줄이는 중…');
    try {
      await picker.add(input.files);
    } catch {
      set(photoInfo, '');
      photoField.error('이 파일은 사진으로 읽을 수 없어요. JPEG, PNG, WebP 사진을 골라 주세요.');
    }
    input.value = '';
  }
  fileIn.addEventListener('change', () => picked(fileIn));
  camIn.addEventListener('change', () => picked(camIn));

  const title = field('제목', 'input', { maxlength: 100, required: true, placeholder: '예) 아이 자전거 (16인치)' });
  const category = field('카테고리', 'select', { required: true }, [h('option', { value: '' }, '카테고리 선택'),
    CATEGORIES.map((c) => h('option', { value: c }, c))]);
  const want = field('원하는 물건', 'input', { maxlength: 100, required: true, placeholder: '예) 동화책 몇 권' });
  const comment = field('자세한 설명', 'textarea', { maxlength: 2000, required: true,
    placeholder: '물건 상태, 교환 장소 등 이웃이 알아야 할 것을 적어 주세요.' });
  const free = freeToggle(want);
  // three days from now, on the next full hour (so it reads "3일 남음")
  const dl = new Date(Date.now() + 3 * 86400e3 + 3600e3);
  dl.setMinutes(0, 0, 0);
  const deadline = field('마감 시간', 'input', { type: 'datetime-local', required: true, value: localInput(dl),
    min: localInput(new Date()), max: localInput(new Date(Date.now() + 30 * 86400e3 - 3600e3)) });
  deadline.wrap.appendChild(h('p.hint', '기본 3일, 최대 30일'));
  const err = h('p.field-error', { role: 'alert' });
  const btn = h('button.btn.primary.block', { type: 'submit' }, '올리기');
  const fields = { FILE: photoField, IMAGE: photoField, THUMB: photoField, TITLE: title, CATEGORY: category,
    WANT: want, COMMENT: comment, DEADLINE: deadline };

  const form = h('form.page-pad', { novalidate: true, on: { submit: async (e) => {
    e.preventDefault();
    for (const f of Object.values(fields)) f.error('');
    err.textContent = '';
    const checks = [
      [!picker.count(), photoField, '사진을 한 장 이상 골라 주세요.'],
      [!title.input.value.trim(), title, '제목을 입력해 주세요.'],
      [!category.input.value, category, '카테고리를 골라 주세요.'],
      [!free.on() && !want.input.value.trim(), want, '원하는 물건을 입력해 주세요.'],
      [!comment.input.value.trim(), comment, '설명을 입력해 주세요.'],
      [!deadline.input.value, deadline, '마감 시간을 골라 주세요.'],
    ];
    for (const [bad, f, msg] of checks) {
      if (bad) { f.error(msg); (f === photoField ? fileIn : f.input).focus(); return; }
    }
    const fd = new FormData();
    picker.append(fd);
    fd.append('title', title.input.value.trim());
    fd.append('category', category.input.value);
    if (free.on()) fd.append('freeYn', 'Y');
    if (want.input.value.trim() || !free.on()) fd.append('wantItem', want.input.value.trim());
    fd.append('comment', comment.input.value.trim());
    fd.append('deadLine', new Date(deadline.input.value).toISOString());
    btn.disabled = true;
    set(btn, '올리는 중…');
    try {
      const r = await api('POST', '/mainPage/write', fd);
      toast('물건을 올렸어요!');
      go(`/item/${r.itemId}`, { replace: true });
    } catch (ex) {
      showError(ex, fields, err);
      if (ex.code === 'ADDRESS_REQUIRED') err.appendChild(h('a.link-btn', { href: '/region' }, ' 동네 설정하기'));
    } finally {
      btn.disabled = false;
      set(btn, '올리기');
    }
  } } },
  h('h1.page-title', { style: 'margin:4px 0 16px' }, '내 물건 올리기'),
  !u.address ? h('p.notice', '먼저 내 동네를 설정해야 물건을 올릴 수 있어요. ', h('a.link-btn', { href: '/region' }, '동네 설정하기')) : null,
  h('div.field', h('span', { id: 'photo-label', class: 'label' }, h('b', '사진')),
    h('div.photo-pick', slot,
      h('div.stack', fileIn, h('label.btn', { for: 'photo-file' }, '앨범에서 고르기'),
        camIn, h('label.btn', { for: 'photo-cam' }, '카메라로 찍기'))),
    picker.strip, photoInfo, photoErr),
  free.wrap, title.wrap, category.wrap, want.wrap, comment.wrap, deadline.wrap, err, btn);
  set(main, form);
  return () => picker.dispose();
}
