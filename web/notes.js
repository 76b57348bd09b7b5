// notes.js — the live notification hub: the unread count shown on the bell
// and the `notification` events from the socket, for any page to follow.
// (Its own module so pages and app.js can share it without an import cycle.)

import { api, currentUser } from './api.js';

const listeners = new Set();
const countListeners = new Set();

export function onNotification(fn) { listeners.add(fn); return () => listeners.delete(fn); }
export function onUnread(fn) { countListeners.add(fn); return () => countListeners.delete(fn); }
export function emitNotification(n) { for (const fn of listeners) fn(n); }
export function setUnread(n) { for (const fn of countListeners) fn(Math.max(0, n | 0)); }

// Asks the server for the unread count.
export async function refreshUnread() {
  if (!currentUser()) { setUnread(0); return; }
  try {
    const r = await api('GET', '/notifications?unread=1&limit=1');
    setUnread(r.unreadCount);
  } catch { /* keep the old count */ }
}
