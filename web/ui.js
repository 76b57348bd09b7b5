// ui.js — the few DOM helpers every page uses. User text only ever becomes
// a Text node (h() never parses HTML), so a title like <img onerror=…>
// shows as those characters and runs nothing.

import { icon } from './icons.js';

// h('div.card#x', {attrs, on: {click}}, children…) → Element.
// Strings and numbers become text nodes; null/false children are skipped.
export function h(tag, attrs, ...kids) {
  const m = /^([a-z0-9-]+)((?:[.#][\w-]+)*)$/i.exec(tag);
  const el = document.createElement(m ? m[1] : tag);
  if (m && m[2]) {
    for (const part of m[2].match(/[.#][\w-]+/g)) {
      if (part[0] === '.') el.classList.add(part.slice(1));
      else el.id = part.slice(1);
    }
  }
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    kids.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === 'class') el.className = v;
    else if (k === 'style') el.style.cssText = v;
    else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, kids);
  return el;
}

function append(el, kids) {
  for (const k of kids) {
    if (k === null || k === undefined || k === false) continue;
    if (Array.isArray(k)) append(el, k);
    else if (k instanceof Node) el.appendChild(k);
    else el.appendChild(document.createTextNode(String(k)));
  }
}

// Replaces el's children.
export function set(el, ...kids) {
  el.replaceChildren();
  append(el, kids);
  return el;
}

// "3일 남음", "2시간 남음", "15분 남음", "마감" for a deadline.
export function timeLeft(iso, now = Date.now()) {
  const ms = Date.parse(iso) - now;
  if (!(ms > 0)) return '마감';
  const min = Math.floor(ms / 60000);
  if (min >= 1440) return `${Math.floor(min / 1440)}일 남음`;
  if (min >= 60) return `${Math.floor(min / 60)}시간 남음`;
  return `${Math.max(1, min)}분 남음`;
}

// "방금 전", "5분 전", "3시간 전", "2일 전", then the date.
export function ago(iso, now = Date.now()) {
  const s = Math.floor((now - Date.parse(iso)) / 1000);
  if (!(s >= 60)) return '방금 전';
  if (s < 3600) return `${Math.floor(s / 60)}분 전`;
  if (s < 86400) return `${Math.floor(s / 3600)}시간 전`;
  if (s < 86400 * 7) return `${Math.floor(s / 86400)}일 전`;
  return dateText(iso);
}

export function dateText(iso) {
  const d = new Date(iso);
  return `${d.getFullYear()}.${d.getMonth() + 1}.${d.getDate()}`;
}

// "오후 3:05" from an RFC 3339 time, in the viewer's zone.
export function clock(iso) {
  const d = new Date(iso);
  const hr = d.getHours();
  return `${hr < 12 ? '오전' : '오후'} ${hr % 12 || 12}:${String(d.getMinutes()).padStart(2, '0')}`;
}

// The manner temperature badge: colder is bluer, warmer is redder.
export function temp(t) {
  const v = Number(t);
  const cls = v >= 45 ? 'hot' : v >= 37 ? 'warm' : v >= 30 ? 'mild' : 'cold';
  return h(`span.temp.${cls}`, { title: '매너온도' }, `${v.toFixed(1)}°C`);
}

export const CATEGORIES = ['디지털/가전', '가구/인테리어', '유아동/유아도서', '식품', '스포츠/레저', '여성잡화',
  '여성의류', '남성패션/잡화', '게임/취미', '뷰티/미용', '반려동물용품', '도서/티켓/음반', '생활용품', '식물',
  '기타 중고물품'];

export const STATUS_TEXT = {
  SI01: '교환 가능', SI02: '거래 진행 중', SI03: '기한 만료', SI04: '거래 완료', SI05: '거래 취소',
};

// A short message at the bottom of the screen, read out by screen readers.
let toastTimer = 0;
export function toast(text) {
  const el = document.getElementById('toast');
  if (!el) return;
  el.textContent = text;
  el.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove('show'), 3200);
}

// A modal dialog (native <dialog>): body is an Element; buttons
// [{label, value, primary, danger}]. Resolves with the chosen value, or
// null when dismissed (Esc). form: run before closing; returning a string
// keeps the dialog open and shows it as the error.
export function dialog(title, body, buttons, form) {
  return new Promise((resolve) => {
    const err = h('p.field-error', { role: 'alert' });
    const dlg = h('dialog.dlg', { 'aria-labelledby': 'dlg-title' },
      h('h2#dlg-title', title), body, err,
      h('div.dlg-actions', buttons.map((b) => h(`button.btn${b.primary ? '.primary' : ''}${b.danger ? '.danger' : ''}`,
        { type: 'button', on: { click: async () => {
          if (b.value !== null && form) {
            const e = await form(b.value);
            if (typeof e === 'string') { err.textContent = e; return; }
          }
          dlg.close(); dlg.remove(); resolve(b.value);
        } } }, b.label))));
    dlg.addEventListener('cancel', () => { dlg.remove(); resolve(null); });
    document.body.appendChild(dlg);
    dlg.showModal();
  });
}

export function confirmDlg(title, text, okLabel, danger) {
  return dialog(title, h('p', text), [
    { label: '취소', value: null }, { label: okLabel, value: true, primary: !danger, danger },
  ]);
}

// A labelled form field. kind: 'input' | 'textarea' | 'select'.
// Returns {wrap, input, error(text)} — the error sits under the field and
// is announced (aria-describedby + role=alert).
let fieldSeq = 0;
export function field(label, kind, attrs = {}, options) {
  fieldSeq += 1;
  const id = `f${fieldSeq}`;
  const eid = `${id}-err`;
  const input = kind === 'select'
    ? h('select', { id, ...attrs, 'aria-describedby': eid }, options)
    : h(kind, { id, ...attrs, 'aria-describedby': eid });
  const err = h('p.field-error', { id: eid, role: 'alert' });
  const wrap = h('div.field', h('label', { for: id }, label), input, err);
  return { wrap, input, error: (t) => { err.textContent = t || ''; input.setAttribute('aria-invalid', t ? 'true' : 'false'); } };
}

export function spinner(text = '불러오는 중…') {
  return h('div.loading', { role: 'status' }, h('span.spin', { 'aria-hidden': 'true' }), text);
}

export function empty(ic, title, text, action) {
  return h('div.empty', h('div.empty-icon', icon(ic, 44)), h('p.empty-title', title),
    text ? h('p.empty-text', text) : null, action || null);
}

// Reads an image file and draws it at most maxSide px on its longest side;
// resolves with a JPEG Blob (quality q). Orientation from EXIF is applied.
export async function resizeImage(file, maxSide, q) {
  const bmp = await createImageBitmap(file, { imageOrientation: 'from-image' });
  const scale = Math.min(1, maxSide / Math.max(bmp.width, bmp.height));
  const w = Math.max(1, Math.round(bmp.width * scale));
  const hgt = Math.max(1, Math.round(bmp.height * scale));
  const c = document.createElement('canvas');
  c.width = w;
  c.height = hgt;
  const ctx = c.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, w, hgt);
  ctx.drawImage(bmp, 0, 0, w, hgt);
  bmp.close();
  return new Promise((resolve, reject) => c.toBlob((b) => (b ? resolve(b) : reject(new Error('toBlob'))), 'image/jpeg', q));
}
