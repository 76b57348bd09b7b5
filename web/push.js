// push.js — Web Push in the app: the "푸시 알림 받기" switch on the
// notification settings page (asks the browser's permission, subscribes
// with PushManager using GET /push/vapid, gives the subscription to
// POST /push/subscriptions) and pushOff, which undoes it (also at logout,
// so the next account on this browser can subscribe it).

import { h, toast } from './ui.js';
import { api } from './api.js';

export function pushSupported() {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

async function current() {
  const reg = await navigator.serviceWorker.getRegistration('/');
  return reg ? reg.pushManager.getSubscription() : null;
}

function keyBytes(b64) {
  const s = atob(b64.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

async function pushOn() {
  if (await Notification.requestPermission() !== 'granted') throw new Error('브라우저 설정에서 알림을 허용해 주세요.');
  const reg = await navigator.serviceWorker.register('/sw.js', { scope: '/' });
  await navigator.serviceWorker.ready;
  const { publicKey } = await api('GET', '/push/vapid');
  let sub = await reg.pushManager.getSubscription();
  if (sub) await sub.unsubscribe(); // made with another key, or by another account
  sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(publicKey) });
  const j = sub.toJSON();
  try {
    await api('POST', '/push/subscriptions', { endpoint: j.endpoint, keys: j.keys });
  } catch (ex) {
    await sub.unsubscribe();
    throw ex;
  }
}

// Unsubscribes this browser (here and at dongmul). Never throws.
export async function pushOff() {
  if (!pushSupported()) return;
  try {
    const sub = await current();
    if (!sub) return;
    try { await api('DELETE', '/push/subscriptions', { endpoint: sub.endpoint }, { retry: false }); } catch { /* gone already */ }
    await sub.unsubscribe();
  } catch { /* nothing to undo */ }
}

// The switch, or a line saying why there is none.
export function pushSwitch() {
  if (!pushSupported()) return h('p.page-pad.hint', '이 브라우저는 푸시 알림을 지원하지 않아요.');
  const box = h('input', { type: 'checkbox', id: 'push-on', disabled: true });
  const err = h('p.field-error', { role: 'alert' });
  current().then((s) => { box.checked = !!s && Notification.permission === 'granted'; box.disabled = false; }, () => { box.disabled = false; });
  box.addEventListener('change', async () => {
    box.disabled = true;
    err.textContent = '';
    try {
      if (box.checked) { await pushOn(); toast('이 기기로 푸시 알림을 받아요.'); } else { await pushOff(); toast('푸시 알림을 껐어요.'); }
    } catch (ex) {
      box.checked = !box.checked;
      err.textContent = ex.message || '푸시 알림을 설정하지 못했어요.';
    }
    box.disabled = false;
  });
  return h('div',
    h('ul.list.settings', h('li', h('label', { for: 'push-on' }, '푸시 알림 받기'), box)),
    h('p.page-pad.hint', '앱을 닫아도 채팅, 교환, 후기 알림이 이 기기로 와요.'), h('div.page-pad', err));
}
