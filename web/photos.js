// photos.js — several photos per item (up to 10, the first is the cover).
// The post page's picker: each photo is resized here, in the browser, like
// the single photo was (1600 px, plus a 320 px thumbnail), and can be moved
// or dropped before upload. The item page's gallery: swipe (scroll-snap)
// between photos; the owner of an open item can move, remove and add
// photos (PUT/DELETE/POST /items/:itemId/images).

import { h, set, toast, resizeImage, confirmDlg } from './ui.js';
import { api } from './api.js';

export const MAX_PHOTOS = 10;
const FULL_SIDE = 1600;
const THUMB_SIDE = 320;

// Resizes the picked files into [{full, thumb}] (at most room of them).
async function prepare(files, room) {
  const out = [];
  for (const f of [...files].slice(0, room)) {
    const [full, thumb] = await Promise.all([resizeImage(f, FULL_SIDE, 0.85), resizeImage(f, THUMB_SIDE, 0.72)]);
    out.push({ full, thumb });
  }
  return out;
}

// Appends photos [{full, thumb}] to a FormData as the API pairs them: the
// k-th `thumb` part belongs to the k-th `file` part.
function appendAll(fd, photos) {
  for (const p of photos) fd.append('file', p.full, 'photo.jpg');
  for (const p of photos) fd.append('thumb', p.thumb, 'thumb.jpg');
}

// Move/remove buttons for position i of n; act(kind, i).
function editButtons(i, n, act) {
  return h('span.ph-acts',
    h('button.btn.small', { type: 'button', disabled: i === 0, 'aria-label': `${i + 1}번째 사진을 앞으로`, on: { click: () => act('left', i) } }, '◀'),
    h('button.btn.small', { type: 'button', disabled: i === n - 1, 'aria-label': `${i + 1}번째 사진을 뒤로`, on: { click: () => act('right', i) } }, '▶'),
    h('button.btn.small.danger', { type: 'button', disabled: n === 1 && act.keepOne, 'aria-label': `${i + 1}번째 사진 빼기`, on: { click: () => act('remove', i) } }, '✕'));
}

// The post page's picker. Returns {strip (the element), add(FileList),
// count(), append(FormData), first() (a preview URL or null), dispose()}.
export function photoPicker(onChange) {
  const photos = []; // {full, thumb, url}
  const strip = h('ul.photo-strip', { 'aria-label': '고른 사진' });
  function act(kind, i) {
    if (kind === 'remove') URL.revokeObjectURL(photos.splice(i, 1)[0].url);
    else {
      const j = kind === 'left' ? i - 1 : i + 1;
      [photos[i], photos[j]] = [photos[j], photos[i]];
    }
    draw();
  }
  function draw() {
    set(strip, photos.map((p, i) => h('li',
      h('img', { src: p.url, alt: `사진 ${i + 1}`, width: 72, height: 72 }),
      i === 0 ? h('span.cover', '대표') : null,
      editButtons(i, photos.length, act))));
    if (onChange) onChange(photos.length);
  }
  return {
    strip,
    async add(files) {
      const room = MAX_PHOTOS - photos.length;
      if (files.length > room) toast(`사진은 ${MAX_PHOTOS}장까지 올릴 수 있어요.`);
      const got = await prepare(files, room);
      for (const p of got) photos.push({ ...p, url: URL.createObjectURL(p.thumb) });
      draw();
    },
    count: () => photos.length,
    append: (fd) => appendAll(fd, photos),
    first: () => (photos[0] ? photos[0].url : null),
    dispose: () => { for (const p of photos) URL.revokeObjectURL(p.url); },
  };
}

// The item page's gallery for detail d. owner: the viewer owns d and it is
// open (then the photos can be edited); reload() re-renders the page.
export function gallery(d, owner, reload) {
  const imgs = d.images && d.images.length ? d.images : [{ imageId: null, image: d.image, thumb: d.thumb }];
  const n = imgs.length;
  const track = h('div.gallery-track', { tabindex: '0', 'aria-label': `${d.title} 사진 ${n}장` },
    imgs.map((im, i) => h('img.hero', { src: im.image, alt: `${d.title} 사진 ${i + 1}/${n}`, width: 680, height: 680,
      loading: i ? 'lazy' : 'eager', decoding: 'async' })));
  const count = h('span.gallery-count', { 'aria-live': 'polite' }, n > 1 ? `1 / ${n}` : '');
  track.addEventListener('scroll', () => {
    const i = Math.round(track.scrollLeft / Math.max(1, track.clientWidth));
    if (n > 1) count.textContent = `${Math.min(n, i + 1)} / ${n}`;
  }, { passive: true });
  const box = h('div.gallery', track, count);
  if (!owner) return box;

  const editor = h('div.gallery-edit', { hidden: true });
  const ids = imgs.map((im) => im.imageId);
  async function save(fn) {
    try { await fn(); reload(); } catch (e) { toast(e.message); }
  }
  async function act(kind, i) {
    if (kind === 'remove') {
      if (!await confirmDlg('사진 빼기', '이 사진을 물건에서 뺄까요?', '빼기', true)) return;
      save(() => api('DELETE', `/items/${d.itemId}/images/${ids[i]}`));
      return;
    }
    const order = [...ids];
    const j = kind === 'left' ? i - 1 : i + 1;
    [order[i], order[j]] = [order[j], order[i]];
    save(() => api('PUT', `/items/${d.itemId}/images`, { order }));
  }
  act.keepOne = true;
  const fileIn = h('input', { type: 'file', id: 'gallery-add', accept: 'image/*', multiple: true, hidden: true });
  fileIn.addEventListener('change', async () => {
    const room = MAX_PHOTOS - n;
    if (fileIn.files.length > room) toast(`사진은 ${MAX_PHOTOS}장까지 올릴 수 있어요.`);
    let got;
    try { got = await prepare(fileIn.files, room); } catch { toast('이 파일은 사진으로 읽을 수 없어요.'); return; }
    if (!got.length) return;
    const fd = new FormData();
    appendAll(fd, got);
    save(() => api('POST', `/items/${d.itemId}/images`, fd));
  });
  // an item posted before photos had ids gets them at its first edit:
  // until then only adding is offered
  set(editor,
    ids.every(Boolean) ? h('ul.photo-strip', imgs.map((im, i) => h('li',
      h('img', { src: im.thumb || im.image, alt: `사진 ${i + 1}`, width: 72, height: 72 }),
      i === 0 ? h('span.cover', '대표') : null,
      editButtons(i, n, act)))) : null,
    n < MAX_PHOTOS ? h('label.btn.small', { for: 'gallery-add' }, `사진 추가 (${n}/${MAX_PHOTOS})`) : null, fileIn);
  const toggle = h('button.btn.small', { type: 'button', 'aria-expanded': 'false', on: { click: () => {
    editor.hidden = !editor.hidden;
    toggle.setAttribute('aria-expanded', String(!editor.hidden));
  } } }, '사진 편집');
  box.append(h('div.gallery-tools', toggle), editor);
  return box;
}
