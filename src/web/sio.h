/*
 * sio — Engine.IO (v3 and v4) and Socket.IO (protocols 4 and 5: socket.io
 * 2.x and 3.x/4.x clients) framing on /socket.io/, over WebSocket and HTTP
 * long-polling, with the upgrade from polling to WebSocket. Prefix: sio_.
 *
 * The protocol layer knows nothing of users or items: one application
 * (chat) registers its namespace and callbacks with sio_set_app. A socket
 * (sio_sock_t) is one Engine.IO session connected to that namespace.
 * The test-only conformance mode (conform.c) registers more namespaces
 * (sio_add_app), takes binary packets and serves an Engine.IO-level
 * application on a path of its own (sio_set_eio_app), through the same
 * code.
 *
 * Emitting only queues (never waits on the network); every function here
 * is thread-safe. A socket is reference counted: a pointer handed to a
 * callback is valid during the callback; keep it longer with sio_ref and
 * release it with sio_unref. Functions on a closed socket do nothing.
 */
#ifndef SIO_H
#define SIO_H

#include <stddef.h>
#include <stdint.h>

typedef struct sio_sock sio_sock_t;

/* What a client sent when it connected to the namespace. Strings are valid
 * during the on_connect call only. */
typedef struct sio_conninfo {
	int eio;               /* Engine.IO version: 3 or 4 */
	const char *query;     /* the handshake's query string ("" if none) */
	const char *nsp_query; /* v3: the query appended to the namespace in
				  CONNECT ("/chatting?a=b"), else NULL */
	const char *cookie;    /* the handshake's Cookie header, or NULL */
	const char *auth;      /* v4: the CONNECT auth payload (JSON), or NULL */
} sio_conninfo_t;

/* A binary attachment (Engine.IO v4 only): len bytes at p. */
typedef struct sio_bin {
	const void *p;
	size_t len;
} sio_bin_t;

typedef struct sio_app {
	const char *nsp; /* the namespace served, e.g. "/chatting" */
	/* A client connects to the namespace. Runs on one of sio's workers
	 * (WebSocket) or a civetweb worker (a polling POST), one packet of a
	 * socket at a time, in order. DM_OK accepts; anything else refuses with err (a short
	 * message for the client, NUL-terminated in errcap bytes). */
	int (*on_connect)(sio_sock_t *s, const sio_conninfo_t *ci, char *err, size_t errcap);
	/* After the CONNECT reply was queued (what on_ready emits follows
	 * it). May be NULL. */
	void (*on_ready)(sio_sock_t *s);
	/* An event: name, its first argument as JSON text (NULL if none) and
	 * the ack id the client wants a reply on (-1: none). Runs like
	 * on_connect; must not block for long (four workers serve every
	 * WebSocket). */
	void (*on_event)(sio_sock_t *s, const char *event, const char *arg, int64_t ack);
	/* The socket closed (once, after on_connect accepted it). Runs on
	 * sio's reaper thread. May be NULL. */
	void (*on_close)(sio_sock_t *s);
	/* Optional; when set it gets every EVENT instead of on_event: the
	 * packet's whole data as JSON text (["name", args...], each binary
	 * attachment as its {"_placeholder":true,"num":i} object) and the
	 * natt attachments (valid during the call). Runs like on_event. */
	void (*on_event_all)(sio_sock_t *s, const char *array, const sio_bin_t *att, int natt, int64_t ack);
	/* 1: binary packets (BINARY_EVENT, BINARY_ACK and their attachments)
	 * are taken from Engine.IO v4 clients; 0: one closes the session. */
	int binary;
} sio_app_t;

/* Sets the application (kept by pointer). Call before the server starts. */
void sio_set_app(const sio_app_t *app);
/* Adds the application of one more namespace (after sio_set_app, before
 * the server starts; SIO_MAX_APPS in all). A session may connect to each.
 * With one namespace served, a DISCONNECT closes the session; with
 * several, it leaves that namespace only (on_close is called then) and
 * the session lives on, as the protocol allows. DM_OK or DM_EINVAL. */
#define SIO_MAX_APPS 4
int sio_add_app(const sio_app_t *app);

/* An application at the Engine.IO level (no Socket.IO): its own path,
 * every message packet handed over as it is. */
typedef struct sio_eio_app {
	const char *path; /* e.g. "/engine.io" (no trailing slash) */
	/* A message: data[0..len) (text is NUL-terminated at data[len]);
	 * binary: it came as a binary packet. Runs like on_event. */
	void (*on_message)(sio_sock_t *s, const char *data, size_t len, int binary);
} sio_eio_app_t;
/* Sets it (kept by pointer). Call before the server starts. */
void sio_set_eio_app(const sio_eio_app_t *app);
/* Queues a message packet (binary: v4 sessions only) to a session of the
 * Engine.IO-level application. Same returns as sio_emit. */
int sio_send(sio_sock_t *s, const void *data, size_t len, int binary);

/* Queues event with a JSON payload (NULL: no argument) to one socket.
 * DM_OK, DM_EINVAL (bad event name), DM_EUNAVAIL (closed, or its queue
 * overflowed: it is being disconnected). */
int sio_emit(sio_sock_t *s, const char *event, const char *json);
/* Queues the reply to the client's ack id. Same returns. */
int sio_ack(sio_sock_t *s, int64_t ack, const char *json);
/* Queues an EVENT on app's namespace whose data the caller built: array
 * is ["name", args...] as JSON text made by SQLite; with natt > 0 (v4
 * sessions, binary apps only) a BINARY_EVENT whose array holds the
 * attachments' placeholders. Same returns. */
int sio_emit_all(sio_sock_t *s, const sio_app_t *app, const char *array, const sio_bin_t *att, int natt);
/* The same for the reply to ack id (array: the reply's arguments). */
int sio_ack_all(sio_sock_t *s, const sio_app_t *app, int64_t ack, const char *array, const sio_bin_t *att,
		int natt);

/* Rooms by name. Joining twice is harmless. DM_OK or DM_EUNAVAIL
 * (closed). A closed socket leaves every room. */
int sio_join(sio_sock_t *s, const char *room);
int sio_leave(sio_sock_t *s, const char *room);
/* 1 if s is in room. */
int sio_in_room(sio_sock_t *s, const char *room);
/* Number of sockets in room. */
int sio_room_size(const char *room);

/* A picker chooses, per socket, which of n payload variants it gets
 * (0..n-1) or -1 to skip it. It runs under sio's lock: it may read
 * sio_uid(s) and its own arg, nothing else of sio. */
typedef int (*sio_pick_fn)(const sio_sock_t *s, void *arg);
/* Queues event to every socket in room; each frame is built once. Returns
 * the number of sockets queued. */
int sio_room_emit(const char *room, const char *event, const char *json);
int sio_room_emit_except(const char *room, const sio_sock_t *except, const char *event, const char *json);
int sio_room_emit_pick(const char *room, const char *event, const char *const *json, int n, sio_pick_fn pick,
		       void *arg);
/* sio_room_emit_pick where a socket given variant tmpl sees its own entry
 * as variant full shows it, one frame shared by all the same: json[tmpl]
 * must be json[full] but for JSON strings that it writes as mark (from
 * its opening quote, e.g. "\"hidden:") followed by a user id; in the
 * frame of a socket whose sio_uid that is, that string is replaced by
 * what json[full] has in its place (the queue holds the shared frame and
 * the one substitution). Frames that differ otherwise go as they are. */
int sio_room_emit_self(const char *room, const char *event, const char *const *json, int n, sio_pick_fn pick,
		       void *arg, int tmpl, int full, const char *mark);
/* Removes from room every socket for which pick returns 1. Returns how
 * many left. */
int sio_room_leave_pick(const char *room, sio_pick_fn pick, void *arg);

/* Marks for closing every socket in room (as sio_close). Returns how
 * many were open. */
int sio_room_close(const char *room);

/* The application's user id for this socket (0: none). Lock-free. */
void sio_set_uid(sio_sock_t *s, int64_t uid);
int64_t sio_uid(const sio_sock_t *s);
/* The application's per-socket data, freed with free_fn (may be NULL)
 * when the socket itself is freed (after on_close and after the last
 * sio_unref). free_fn must not call sio. */
void sio_set_user(sio_sock_t *s, void *user, void (*free_fn)(void *));
void *sio_user(const sio_sock_t *s);

/* Marks the socket for closing; the reaper closes it soon after (never
 * inside the caller's callback). */
void sio_close(sio_sock_t *s);

void sio_ref(sio_sock_t *s);
void sio_unref(sio_sock_t *s);

/* The Engine.IO session id (for logs) and protocol version (3 or 4). */
const char *sio_sid(const sio_sock_t *s);
int sio_eio(const sio_sock_t *s);

/* Counters for /metrics and tests. */
typedef struct sio_stats {
	unsigned long long sessions;     /* open now */
	unsigned long long websockets;   /* open now */
	unsigned long long frames_out;   /* queued since start */
	unsigned long long dropped;      /* sockets closed for queue overflow / slow writes */
	int senders;                     /* threads sio runs for sockets (its event
					    loop and workers) */
} sio_stats_t;
void sio_get_stats(sio_stats_t *out);

/* Number of UTF-16 code units in valid UTF-8 (what JavaScript's
 * String.length counts: Engine.IO v3's polling framing). */
size_t sio_utf16_len(const char *s, size_t n);

int sio_init(void);
void sio_stop(void);

#endif
