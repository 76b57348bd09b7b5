// sw.js — the service worker for Web Push (served at /sw.js, not hashed,
// so that its scope is the whole app): shows each push dongmul sends,
// {type, title, body, url}, and opens its url on a click (focusing a
// window of the app that is already open).
'use strict';

self.addEventListener('push', (e) => {
  let m = {};
  try { m = e.data ? e.data.json() : {}; } catch { m = { body: e.data ? e.data.text() : '' }; }
  const url = typeof m.url === 'string' && m.url.startsWith('/') && !m.url.startsWith('//') ? m.url : '/alerts';
  e.waitUntil(self.registration.showNotification(m.title || '동물마켓', {
    body: m.body || '',
    tag: m.type === 'chat' ? `chat:${url}` : undefined,
    renotify: m.type === 'chat',
    data: { url },
  }));
});

self.addEventListener('notificationclick', (e) => {
  e.notification.close();
  const url = new URL((e.notification.data && e.notification.data.url) || '/alerts', self.location.origin).href;
  e.waitUntil((async () => {
    const wins = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    for (const w of wins) {
      if (new URL(w.url).origin === self.location.origin && 'navigate' in w) {
        await w.focus();
        return w.navigate(url);
      }
    }
    return self.clients.openWindow(url);
  })());
});
