// sock.js — Socket.IO connections to /chatting with the real socket.io-client
// 4.x browser build (the global `io` from ./socket.io.min.js, served by the
// binary). The token goes in the CONNECT auth payload and is read afresh at
// every (re)connection, so a reconnect after a refresh uses the new one.

import { currentToken, refresh } from './api.js';

// Opens a socket; query: handshake query (e.g. {icrId}). A refused
// handshake (expired token) refreshes the session once and retries.
export function openSocket(query) {
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
