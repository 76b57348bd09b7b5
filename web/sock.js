// sock.js — Socket.IO connections to /chatting with the real socket.io-client
// 4.x browser build (the global `io` from ./socket.io.min.js, served by the
// binary), loaded on first use so a signed-out visitor's first page does
// not wait for it. The token goes in the CONNECT auth payload and is read
// afresh at every (re)connection, so a reconnect after a refresh uses the
// new one.

import { currentToken, refresh } from './api.js';

let loading = null;
function loadIo() {
  if (window.io) return Promise.resolve();
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const el = document.createElement('script');
      el.src = './socket.io.min.js';
      el.onload = resolve;
      el.onerror = () => { loading = null; el.remove(); reject(new Error('socket.io-client')); };
      document.head.appendChild(el);
    });
  }
  return loading;
}

// Opens a socket (resolves once the client library is loaded); query:
// handshake query (e.g. {icrId}). A refused handshake (expired token)
// refreshes the session once and retries.
export async function openSocket(query) {
  await loadIo();
  const s = window.io('/chatting', {
    auth: (cb) => cb({ token: currentToken() }),
    query,
    transports: ['websocket'],
    forceNew: true,
    reconnectionDelay: 500,
    reconnectionDelayMax: 4000,
  });
  let retried = false;
  s.on('connect', () => { retried = false; });
  s.on('connect_error', async () => {
    if (retried || s.active) return;
    retried = true;
    if (await refresh()) s.connect();
  });
  return s;
}

// Emits and resolves with the ack reply ({msg:"fail", errorMsg} included);
// rejects only on timeout.
export function ask(s, ev, payload, ms = 15000) {
  return s.timeout(ms).emitWithAck(ev, payload);
}
