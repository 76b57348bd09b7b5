/*
 * sio_int.h — what the four files of the sio part share (not for other
 * parts: they use sio.h).
 *
 *   sio.c           sessions and their registry, outgoing queues, the
 *                   application API (emit, ack, accessors), the
 *                   Engine.IO/Socket.IO packet decoder, the reaper, start
 *                   and stop;
 *   sio_room.c      rooms (join, leave, close) and room broadcasts;
 *   sio_transport.c the two transports on /socket.io/ as civetweb sees
 *                   them (the WebSocket handshake, the polling routes) and
 *                   the upgrade from one to the other;
 *   sio_loop.c      the connections civetweb handed over (mg_detach):
 *                   open WebSockets and parked long-polls, read and
 *                   written from the event loop (evloop.c), with the pool
 *                   of workers that runs their packets.
 *
 * Thread-safety: sio_lock guards every session field marked "locked", the
 * session table, the rooms and the ready list (see the top of sio.c).
 * Functions named *_locked must be called with sio_lock held, and check
 * that they are (dm_assert(dm_mutex_held(&sio_lock)): sio_lock records its
 * holder).
 */
#ifndef SIO_INT_H
#define SIO_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dm.h"
#include "sio.h"

#define SID_CAP 24 /* an Engine.IO session id (20 characters) + NUL */

enum { S_OPEN, S_CLOSING, S_CLOSED };
enum { T_POLL, T_WS };

struct mg_detached;
typedef struct room room_t;
typedef struct lconn lconn_t; /* a connection on sio's loop (sio_loop.c) */

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
	unsigned char binary;   /* a binary packet: a binary frame, "b"+base64 in polling */
	char hdr[BLOB_HDR_MAX];
	char data[];
} blob_t;
#define BLOB_FRAME(b) ((b)->data - (b)->hlen)

/* A frame made for one socket from a shared one: the blob's data with the
 * cut bytes at off replaced by sub's slen bytes at soff, under its own
 * WebSocket header. */
typedef struct qsplice {
	blob_t *sub;
	size_t off, cut, soff, slen;
	unsigned char hlen;
	char hdr[BLOB_HDR_MAX];
} qsplice_t;

typedef struct qnode {
	struct qnode *next;
	blob_t *b;
	qsplice_t *sp; /* NULL: b as it is (allocated with the node) */
} qnode_t;

/* A queued frame's payload length. */
static inline size_t sio_qlen(const qnode_t *x)
{
	return x->sp ? x->b->len - x->sp->cut + x->sp->slen : x->b->len;
}

/* The pieces of a queued frame in order (at most 4): with hdr, its
 * WebSocket header first, then its payload. Returns how many. */
static inline int sio_qparts(const qnode_t *x, int hdr, const char **p, size_t *n)
{
	const qsplice_t *sp = x->sp;
	int k = 0;
	if (!sp) {
		p[0] = hdr ? BLOB_FRAME(x->b) : x->b->data;
		n[0] = (hdr ? x->b->hlen : 0) + x->b->len;
		return 1;
	}
	if (hdr) {
		p[k] = sp->hdr;
		n[k++] = sp->hlen;
	}
	p[k] = x->b->data;
	n[k++] = sp->off;
	p[k] = sp->sub->data + sp->soff;
	n[k++] = sp->slen;
	p[k] = x->b->data + sp->off + sp->cut;
	n[k++] = x->b->len - sp->off - sp->cut;
	return k;
}

struct sio_sock {
	/* immutable after creation */
	char sid[SID_CAP];       /* Engine.IO session id */
	char nsid[SID_CAP];      /* Socket.IO socket id (v4 CONNECT reply) */
	int eio;                 /* 3 or 4 */
	int raw;                 /* a session of the Engine.IO-level app */
	int binary_ok;           /* takes binary packets (v4; raw or a binary app) */
	char ip[48];             /* the client's address (caps, logs) */
	int64_t created;         /* mono ms */
	/* the handshake's query (without Engine.IO's parameters) and Cookie
	 * header: read only by the namespace CONNECT (one at a time), freed
	 * once it was accepted */
	char *query;
	char *cookie;
	/* a binary packet waiting for its attachments: read and written only
	 * by the packet decoder, one packet of a socket at a time */
	struct sio_pend *pend;

	/* locked */
	int refs;
	int state;               /* S_* */
	int transport;           /* T_* */
	lconn_t *ws;             /* the WebSocket carrying the session */
	lconn_t *probe;          /* a WebSocket probing the upgrade */
	lconn_t *poll;           /* the parked GET waiting for packets */
	int upgrading;           /* probe answered: a waiting GET ends with noop */
	int polling;             /* a GET is being answered or parked */
	int posting;             /* a POST is being handled */
	int client_closed;       /* the client sent the close packet */
	qnode_t *qh, *qt;
	int qn;
	int ready_listed;
	sio_sock_t *ready_next;
	int want_close, close_sent;  /* a close frame to send on ws */
	int64_t last_rx;         /* last packet from the client (mono ms) */
	int64_t ping_next;       /* v4: when to send the next ping */
	int64_t ping_sent;       /* v4: ping sent, no answer yet (0: none) */
	int nsp_state[SIO_MAX_APPS]; /* per app: 0 none, 1 connecting, 2 connected */
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
extern dm_mutex_t sio_lock;
extern const sio_app_t *sio_app;  /* set before the server starts */
extern const sio_eio_app_t *sio_eio_app; /* the Engine.IO-level app, or NULL */
extern int sio_stopping;          /* sio_stop began (set under sio_lock) */
extern unsigned long long sio_dropped; /* locked: sockets closed for not reading */

/* A blob holding a copy of data[0..len) (refcount 1), NULL on no memory.
 * sio_blob_unref accepts NULL. */
blob_t *sio_blob_new(const char *data, size_t len);
/* The same for a binary packet (framed as a binary WebSocket message). */
blob_t *sio_blob_new_bin(const void *data, size_t len);
void sio_blob_unref(blob_t *b);
/* Frees a detached list of queue nodes and drops their blobs. */
void sio_queue_free(qnode_t *q);

/* Absolute CLOCK_MONOTONIC time ms from now (for condvars set to it). */
struct timespec sio_mono_after(int64_t ms);

/* A new session from address ip (raw: of the Engine.IO-level app),
 * registered (the registry holds the one reference). NULL with *rc
 * DM_ERATE when a cap refuses it (logged), or DM_ENOMEM. */
sio_sock_t *sio_session_new(int eio, int raw, const char *ip, const char *query, const char *cookie, int *rc);
/* Whether a new session from ip would pass the caps now (logged when
 * not): DM_OK or DM_ERATE. */
int sio_session_check(const char *ip);
/* Locked. The session with this id (in any state), or NULL; no reference
 * taken. */
sio_sock_t *sio_find_locked(const char *sid);
/* Locked. Drops one reference; frees at zero. */
void sio_unref_locked(sio_sock_t *s);
/* Locked. Whether s missed its heartbeat deadline at now (mono ms): the
 * reaper closes it soon, and a request that comes meanwhile must not find
 * it alive. */
int sio_overdue_locked(const sio_sock_t *s, int64_t now);
/* Locked. Marks s for closing (the reaper tears it down); why is logged. */
void sio_mark_closing_locked(sio_sock_t *s, const char *why);
/* Locked. Puts a session with a WebSocket or a parked GET on the loop's
 * ready list (and wakes the loop): its queue has frames, it closes, or its
 * GET can be answered. */
void sio_ready_push_locked(sio_sock_t *s);
/* Locked. Takes the whole ready list (linked by ready_next; each entry
 * holds a reference and has ready_listed still set). */
sio_sock_t *sio_ready_take_locked(void);
/* Locked. Appends blob b (its own reference taken) to s's queue. DM_OK,
 * DM_EUNAVAIL (closed, or the queue overflowed: closing) or DM_ENOMEM. */
int sio_enqueue_locked(sio_sock_t *s, blob_t *b);
/* Locked. sio_enqueue_locked of the frame made of b with b's cut bytes at
 * off replaced by sub's slen bytes at soff (sub NULL: b as it is);
 * references to both taken. */
int sio_enqueue_splice_locked(sio_sock_t *s, blob_t *b, blob_t *sub, size_t off, size_t cut, size_t soff,
			      size_t slen);
/* The EVENT packet 42[/nsp,]["event",json] of the application's namespace
 * as a new blob (one reference, the caller's); NULL on a bad event name or
 * no memory. */
blob_t *sio_event_blob(const char *event, const char *json);
/* Buckets of sio's hash tables (sessions by sid, rooms by name), and the
 * bucket of a name. */
#define SIO_NBUCKETS 4096
unsigned sio_hash_str(const char *s);
/* Locked. Takes s out of room r (freeing r when it empties). */
void sio_room_remove_locked(room_t *r, sio_sock_t *s);
/* Locked. Takes the first node off s's queue (its next cleared; the
 * caller owns it and its blob reference); NULL when the queue is empty. */
qnode_t *sio_dequeue_locked(sio_sock_t *s);

/* One Engine.IO packet from the session's transport, NUL-terminated at
 * p[n]. DM_OK or an error (the caller closes the session). */
int sio_eio_packet(sio_sock_t *s, const char *p, size_t n);
/* One binary packet p[0..n) (a binary WebSocket message, or a decoded
 * "b" packet). DM_OK or an error (the caller closes the session). */
int sio_eio_binary(sio_sock_t *s, const char *p, size_t n);

/* sio_transport.c: registers the polling routes and the WebSocket handler
 * (from sio_init, before HTTP starts). */
void sio_transport_init(void);
/* Locked. For a GET of s: takes queued frames (up to maxPayload bytes, at
 * least one) into *q and says what ends the reply: "1" (closed), "6" (no
 * frames: noop) or NULL. Clears s->polling. */
const char *sio_poll_take_locked(sio_sock_t *s, qnode_t **q);
/* The reply body of a GET (framed for version eio) into b; frees q. */
void sio_poll_body(int eio, qnode_t *q, const char *tail, sbuf_t *b);
/* Locked. A parked GET of s may be answered now. */
int sio_poll_answerable_locked(const sio_sock_t *s);

/* sio_loop.c */
int sio_loop_start(void);
/* Stops the workers and the loop, closes every connection on it. */
void sio_loop_stop(void);
/* From civetweb's WebSocket ready handler, after mg_detach: the loop
 * reads and writes the WebSocket of d from now on, carrying session s
 * (probe: an upgrade probe of a polling session; else s becomes a
 * WebSocket session). Sets s->ws or s->probe. Takes d's fd, TLS context
 * and bytes, and a reference to s, in every case. DM_OK, or DM_ENOMEM /
 * DM_EUNAVAIL (the probe is not wanted any more): the connection was
 * closed. */
int sio_loop_adopt_ws(struct mg_detached *d, sio_sock_t *s, int probe);
/* From a polling GET handler after mg_detach: parks the GET of s (eio) on
 * the loop until sio_poll_answerable_locked or its deadline; the reply
 * is "HTTP/1.1 200 OK", Content-Length, then hdr (header lines, copied);
 * keepalive: hand the connection back to civetweb afterwards. Takes d and
 * a reference to s in every case; sets s->poll. DM_OK or DM_ENOMEM (then
 * the GET was answered at once, or closed). */
int sio_loop_park_poll(struct mg_detached *d, sio_sock_t *s, int eio, const char *hdr, int keepalive,
		       int64_t deadline);
/* Closes a detached connection nobody takes (frees its TLS context and
 * bytes). */
void sio_detached_close(struct mg_detached *d);
/* Loop and worker threads sio runs (for the stats). */
int sio_loop_threads(void);

#endif
