/*
 * sio_int.h — what the two files of the sio part share (not for other
 * parts: they use sio.h).
 *
 *   sio.c           sessions and their registry, outgoing queues, rooms,
 *                   the application API (emit, ack, rooms, accessors), the
 *                   Engine.IO/Socket.IO packet decoder, sender threads,
 *                   the reaper, start and stop;
 *   sio_transport.c the two transports on /socket.io/ (WebSocket through
 *                   civetweb's handler, HTTP long-polling through http
 *                   routes) and the upgrade from one to the other.
 *
 * Thread-safety: sio_lock guards every session field marked "locked", the
 * session table, the rooms and the ready list (see the top of sio.c).
 * Functions named *_locked must be called with sio_lock held.
 */
#ifndef SIO_INT_H
#define SIO_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "sio.h"

#define SID_CAP 24 /* an Engine.IO session id (20 characters) + NUL */

enum { S_OPEN, S_CLOSING, S_CLOSED };
enum { T_POLL, T_WS };

struct mg_connection;
typedef struct room room_t;

/* A packet's text, shared by every queue it is in, pre-framed for
 * WebSocket: a server's frames are unmasked, so the RFC 6455 header is the
 * same bytes for every recipient. The last hlen bytes of hdr hold it,
 * right before data (no padding between char arrays: checked in sio.c), so
 * the whole frame is the hlen + len bytes at BLOB_FRAME(b). data is
 * NUL-terminated (not part of len). */
#define BLOB_HDR_MAX 10 /* FIN+opcode, 127, 64-bit length */
typedef struct blob {
	atomic_int refs;
	size_t len;
	unsigned char hlen;
	char hdr[BLOB_HDR_MAX];
	char data[];
} blob_t;
#define BLOB_FRAME(b) ((b)->data - (b)->hlen)

typedef struct qnode {
	struct qnode *next;
	blob_t *b;
} qnode_t;

struct sio_sock {
	/* immutable after creation */
	char sid[SID_CAP];       /* Engine.IO session id */
	char nsid[SID_CAP];      /* Socket.IO socket id (v4 CONNECT reply) */
	int eio;                 /* 3 or 4 */
	char *query;             /* handshake query string */
	char *cookie;            /* handshake Cookie header or NULL */

	/* locked */
	int refs;
	int state;               /* S_* */
	int transport;           /* T_* */
	struct mg_connection *ws;    /* the WebSocket carrying the session */
	struct mg_connection *probe; /* a WebSocket probing the upgrade */
	int upgrading;           /* probe answered: a waiting GET ends with noop */
	int polling;             /* a GET waits */
	pthread_cond_t cv;       /* the waiting GET sleeps here */
	qnode_t *qh, *qt;
	int qn;
	int sending;             /* a sender is writing to ws */
	int64_t write_t0;        /* when that write began (mono ms) */
	int ready_listed;
	sio_sock_t *ready_next;
	int want_close, close_sent;  /* a close frame to send on ws */
	int64_t last_rx;         /* last packet from the client (mono ms) */
	int64_t ping_next;       /* v4: when to send the next ping */
	int64_t ping_sent;       /* v4: ping sent, no answer yet (0: none) */
	int nsp_state;           /* 0 none, 1 connecting, 2 connected */
	room_t **rooms;
	int nrooms, caprooms;
	sio_sock_t *hnext;       /* sid table chain */
	sio_sock_t *all_prev, *all_next;
	sio_sock_t *reap_next;

	/* application */
	_Atomic int64_t uid;
	void *user;
	void (*user_free)(void *);
};

/* A growable byte buffer: p is NUL-terminated, oom set once an append
 * failed (later appends do nothing). The owner frees p. */
typedef struct sbuf {
	char *p;
	size_t n, cap;
	int oom;
} sbuf_t;

void sio_sb_add(sbuf_t *b, const char *s, size_t n);
void sio_sb_str(sbuf_t *b, const char *s);

/* Shared state (defined in sio.c). */
extern pthread_mutex_t sio_lock;
extern pthread_cond_t sio_ws_cv;  /* broadcast when a sender's write ended */
extern const sio_app_t *sio_app;  /* set before the server starts */
extern int sio_stopping;          /* sio_stop began (set under sio_lock) */

/* A blob holding a copy of data[0..len) (refcount 1), NULL on no memory.
 * sio_blob_unref accepts NULL. */
blob_t *sio_blob_new(const char *data, size_t len);
void sio_blob_unref(blob_t *b);
/* Frees a detached list of queue nodes and drops their blobs. */
void sio_queue_free(qnode_t *q);

/* Absolute CLOCK_MONOTONIC time ms from now (for condvars set to it). */
struct timespec sio_mono_after(int64_t ms);

/* A new session, registered (the registry holds the one reference). NULL
 * on out of memory. */
sio_sock_t *sio_session_new(int eio, const char *query, const char *cookie);
/* Locked. The session with this id (in any state), or NULL; no reference
 * taken. */
sio_sock_t *sio_find_locked(const char *sid);
/* Locked. Drops one reference; frees at zero. */
void sio_unref_locked(sio_sock_t *s);
/* Locked. Marks s for closing (the reaper tears it down); why is logged. */
void sio_mark_closing_locked(sio_sock_t *s, const char *why);
/* Locked. Puts a WebSocket session on the senders' ready list. */
void sio_ready_push_locked(sio_sock_t *s);
/* Locked. Appends blob b (its own reference taken) to s's queue. DM_OK,
 * DM_EUNAVAIL (closed, or the queue overflowed: closing) or DM_ENOMEM. */
int sio_enqueue_locked(sio_sock_t *s, blob_t *b);

/* One Engine.IO packet from the session's transport, NUL-terminated at
 * p[n]. DM_OK or an error (the caller closes the session). */
int sio_eio_packet(sio_sock_t *s, const char *p, size_t n);

/* sio_transport.c: registers the polling routes and the WebSocket handler
 * (from sio_init, before HTTP starts). */
void sio_transport_init(void);

#endif
