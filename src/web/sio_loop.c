/*
 * sio_loop.c — the connections sio holds without a thread: WebSockets and
 * parked long-poll GETs that civetweb handed over (mg_detach), read and
 * written on the event loop (evloop.c) with non-blocking I/O, plain or
 * through mbedtls; and the small pool of workers that runs the packets
 * they bring (the application's callbacks use the database, which the
 * loop never waits on). See the design notes at the top of sio.c.
 *
 * A connection (lconn_t):
 *  - WebSocket: the loop reads what is there, decodes frames (ws.c),
 *    answers pings, runs the close handshake, handles an upgrade probe
 *    ("2probe"/"5") itself, and appends every other message to the
 *    connection's inbound list; one worker at a time drains that list into
 *    sio_eio_packet, so a socket's packets keep their order. Over 1 MB
 *    waiting there, the loop stops reading that socket until a worker
 *    caught up. Outgoing frames are copied from the session's queue into
 *    the connection's output buffer (at most OUT_HIGH bytes ahead of the
 *    kernel) and written when the socket is writable.
 *  - a parked GET: watched for the peer hanging up; answered when its
 *    session has frames, closes or upgrades, or at its deadline; then the
 *    connection goes back to civetweb (mg_park) or is closed.
 *
 * TLS: the mbedtls context civetweb made for the handshake is pointed at
 * our own non-blocking send/recv (mbedtls_ssl_set_bio). WANT_READ /
 * WANT_WRITE mean "wait for the socket"; an mbedtls_ssl_write that said
 * WANT_WRITE is repeated with the same length (mbedtls' rule); reads go on
 * until WANT_READ so no decrypted bytes stay behind in mbedtls unseen.
 *
 * Lifetime: a connection is reference counted (atomically): the loop holds
 * one from adoption until it ends the connection, a worker one while the
 * connection is on the run queue. Ending it (loop thread) closes the
 * socket at once; the structure is freed by the last reference, and never
 * inside the loop's own callback for it: ended connections are put on a
 * list that the loop's hook drops after dispatch.
 *
 * Thread-safety: a connection's I/O state (buffers, TLS, ws_in) is the
 * loop thread's alone. pool_lock guards the inbound lists, the run queue,
 * the incoming and resume lists. sio_lock (sio_int.h) guards the session
 * fields. The two locks are never held together (pool_take asserts it).
 * Functions for the loop thread alone assert that they run there (or on
 * sio_loop_stop's thread once the loop is gone).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <civetweb.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>

#include "config.h"
#include "db.h"
#include "dm.h"
#include "evloop.h"
#include "http.h"
#include "sio.h"
#include "sio_int.h"
#include "ws.h"

#define WORKERS 4
#define OUT_HIGH (64 * 1024)          /* output buffered ahead of the kernel */
#define IN_HIGH (1024 * 1024)         /* inbound bytes waiting for a worker: stop reading */
#define IN_LOW (256 * 1024)           /* ... read again below this */
#define READ_CHUNK (64 * 1024)
/* A frame's payload limit: the same default as civetweb's
 * websocket_max_frame_size (civetweb-0002-ws-frame-limit.patch). */
#define MAX_FRAME 1114112
#define CLOSE_WAIT_MS 5000            /* for the peer's close frame / our last bytes */
#define WRITE_STALL_MS 10000          /* output pending without progress: drop */
#define SCAN_MS 1000

enum { LC_WS, LC_POLL };
enum { LS_OPEN, LS_CLOSE_SENT, LS_FLUSH_END, LS_ENDED };

typedef struct pkt {
	struct pkt *next;
	size_t len;
	int binary;  /* a binary message (sessions with binary_ok only) */
	char data[]; /* NUL-terminated */
} pkt_t;

struct lconn {
	ev_watch_t w;                 /* w.fd */
	int kind;                     /* LC_* */
	atomic_int refs;
	sio_sock_t *s;                /* referenced */
	struct mg_detached d;         /* poll: what mg_park gets back */
	mbedtls_ssl_context *ssl;     /* NULL: plain */

	/* loop thread only */
	int state;                    /* LS_* */
	int registered;               /* taken from the incoming list: the loop
					 may read, write and end it */
	int probe;                    /* WebSocket still probing an upgrade */
	uint32_t mask;                /* epoll events registered (0: none) */
	int64_t deadline;             /* CLOSE_SENT/FLUSH_END: end; poll: answer */
	int64_t stall_t0;             /* output pending since (no progress) */
	unsigned char *rbuf;          /* unconsumed input (a partial frame) */
	size_t rlen, rcap;
	ws_in_t win;
	char *out;                    /* bytes to write: out[ooff..olen) */
	size_t olen, ooff, ocap;
	size_t tls_wlen;              /* an mbedtls_ssl_write to repeat (0: none) */
	qnode_t *sendq;               /* frames taken from the session, to write */
	int close_pending;            /* a close frame goes after them */
	int more;                     /* frames stayed queued (OUT_HIGH) */
	lconn_t *prev, *next;         /* the loop's live list */
	lconn_t *dead_next;
	int eio, keepalive;           /* poll */
	char *hdr;                    /* poll: header lines after Content-Length */

	/* pool_lock */
	pkt_t *inh, *intl;
	size_t inbytes;
	int scheduled, paused, resume_listed;
	lconn_t *run_next, *list_next; /* run queue; incoming / resume lists */
};

static dm_mutex_t pool_lock = DM_MUTEX_INIT;
static pthread_cond_t pool_cv = PTHREAD_COND_INITIALIZER;
static lconn_t *runq_head, *runq_tail;  /* pool_lock */
static lconn_t *incoming, *resuming;    /* pool_lock */
static int pool_stopping;               /* pool_lock */
static pthread_t workers[WORKERS];
static int nworkers, loop_started;

/* loop thread only */
static lconn_t *live;
static lconn_t *dead;
static int64_t next_scan;
static unsigned char rchunk[READ_CHUNK];
/* sio_loop_stop runs after civetweb stopped: the TLS configuration the
 * contexts point to is freed, so nothing may be written through them */
static int tls_gone;

static void lc_free(lconn_t *lc)
{
	dm_assert(!lc->scheduled && !lc->resume_listed);
	while (lc->inh) {
		pkt_t *p = lc->inh;
		lc->inh = p->next;
		free(p);
	}
	sio_queue_free(lc->sendq);
	free(lc->hdr);
	free(lc->rbuf);
	free(lc->out);
	ws_in_free(&lc->win);
	free(lc->d.rest);
	sio_unref(lc->s);
	free(lc);
}

static void lc_unref(lconn_t *lc)
{
	int was = atomic_fetch_sub(&lc->refs, 1);
	dm_assert(was > 0);
	if (was == 1)
		lc_free(lc);
}

/* One more reference to lc, from a holder of one. */
static void lc_ref(lconn_t *lc)
{
	int was = atomic_fetch_add(&lc->refs, 1);
	dm_assert(was > 0);
}

/* Takes pool_lock, never while holding sio_lock (the two are never held
 * together). */
static void pool_take(void)
{
	dm_assert(!dm_mutex_held(&sio_lock));
	dm_mutex_lock(&pool_lock);
}

/* The loop's own connection state (buffers, TLS, lists) is touched by the
 * loop thread, or by sio_loop_stop's thread once the loop is gone. */
static int on_loop_thread(void)
{
	return ev_on_loop() || !loop_started;
}

/* ------------------------------------------------------------- TLS */

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	lconn_t *lc = ctx;
	ssize_t n = send(lc->w.fd, buf, len, MSG_NOSIGNAL);
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
	lconn_t *lc = ctx;
	ssize_t n = recv(lc->w.fd, buf, len, 0);
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_READ;
	return MBEDTLS_ERR_NET_RECV_FAILED;
}

/* Frees the TLS context civetweb made (see mg_detached in civetweb.h). */
static void ssl_drop(mbedtls_ssl_context *ssl)
{
	if (ssl) {
		mbedtls_ssl_free(ssl);
		free(ssl);
	}
}

/* ----------------------------------------------------------- plain I/O */

/* Reads up to cap bytes: > 0 bytes, 0 nothing now (would block), -1 the
 * connection is over (EOF, error, TLS close). */
static ssize_t lc_read(lconn_t *lc, unsigned char *buf, size_t cap)
{
	if (lc->ssl) {
		int n = mbedtls_ssl_read(lc->ssl, buf, cap);
		if (n > 0)
			return n;
		if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE)
			return 0;
		return -1;
	}
	ssize_t n = recv(lc->w.fd, buf, cap, 0);
	if (n > 0)
		return n;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	return -1;
}

/* Writes from p: > 0 bytes taken, 0 would block, -1 error. */
static ssize_t lc_write(lconn_t *lc, const char *p, size_t n)
{
	if (lc->ssl) {
		size_t len = lc->tls_wlen ? lc->tls_wlen : n;
		int r = mbedtls_ssl_write(lc->ssl, (const unsigned char *)p, len);
		if (r > 0) {
			lc->tls_wlen = 0;
			return r;
		}
		if (r == MBEDTLS_ERR_SSL_WANT_WRITE || r == MBEDTLS_ERR_SSL_WANT_READ) {
			lc->tls_wlen = len;
			return 0;
		}
		return -1;
	}
	ssize_t r = send(lc->w.fd, p, n, MSG_NOSIGNAL);
	if (r >= 0)
		return r;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return 0;
	return -1;
}

/* Appends n bytes to the output buffer. DM_OK or DM_ENOMEM. */
static int out_add(lconn_t *lc, const void *p, size_t n)
{
	if (lc->ooff && lc->ooff == lc->olen)
		lc->ooff = lc->olen = 0;
	if (lc->olen + n > lc->ocap) {
		size_t cap = lc->ocap ? lc->ocap : 1024;
		char *np;
		if (lc->ooff) { /* compact first */
			memmove(lc->out, lc->out + lc->ooff, lc->olen - lc->ooff);
			lc->olen -= lc->ooff;
			lc->ooff = 0;
		}
		while (cap < lc->olen + n)
			cap *= 2;
		if (cap != lc->ocap) {
			np = realloc(lc->out, cap);
			if (!np)
				return DM_ENOMEM;
			lc->out = np;
			lc->ocap = cap;
		}
	}
	memcpy(lc->out + lc->olen, p, n);
	lc->olen += n;
	return DM_OK;
}

static size_t out_pending(const lconn_t *lc)
{
	return lc->olen - lc->ooff;
}

static void lc_end(lconn_t *lc, const char *why);

/* The epoll events lc wants now. */
static uint32_t lc_mask(const lconn_t *lc)
{
	uint32_t m = 0;
	/* no EPOLLRDHUP while not reading: level-triggered, it would spin */
	if (lc->kind == LC_WS && !lc->paused && lc->state != LS_FLUSH_END)
		m |= EPOLLIN | EPOLLRDHUP;
	if (lc->kind == LC_POLL && lc->state == LS_OPEN)
		m |= EPOLLRDHUP;
	if (out_pending(lc))
		m |= EPOLLOUT;
	return m;
}

static void lc_update_mask(lconn_t *lc)
{
	uint32_t m;
	if (lc->state == LS_ENDED)
		return;
	m = lc_mask(lc);
	if (m != lc->mask && ev_mod(&lc->w, m) == DM_OK)
		lc->mask = m;
}

static void poll_done(lconn_t *lc);

/* Writes what is pending. Ends the connection on an error, or when it was
 * waiting to end once flushed. */
static void lc_flush(lconn_t *lc)
{
	int64_t now = dm_mono_ms();
	while (out_pending(lc)) {
		ssize_t n = lc_write(lc, lc->out + lc->ooff, out_pending(lc));
		if (n < 0) {
			lc_end(lc, "write failed");
			return;
		}
		if (n == 0)
			break;
		lc->ooff += (size_t)n;
		lc->stall_t0 = now;
	}
	if (!out_pending(lc)) {
		/* nothing stays allocated while a socket idles */
		free(lc->out);
		lc->out = NULL;
		lc->olen = lc->ooff = lc->ocap = 0;
		lc->stall_t0 = 0;
		if (lc->kind == LC_POLL) {
			poll_done(lc);
			return;
		}
		if (lc->state == LS_FLUSH_END) {
			lc_end(lc, NULL);
			return;
		}
		/* room again: take what stayed in the session's queue */
		dm_mutex_lock(&sio_lock);
		if (lc->s->ws == lc && (lc->s->qn || (lc->s->want_close && !lc->s->close_sent)))
			sio_ready_push_locked(lc->s);
		dm_mutex_unlock(&sio_lock);
	} else if (!lc->stall_t0)
		lc->stall_t0 = now;
	lc_update_mask(lc);
}

/* ---------------------------------------------------------- WebSocket */

/* Queues a control or text frame the loop itself sends. */
static void ws_send(lconn_t *lc, int op, const void *p, size_t n)
{
	unsigned char h[WS_HDR_MAX];
	size_t hl = ws_header(h, op, n);
	if (out_add(lc, h, hl) != DM_OK || (n && out_add(lc, p, n) != DM_OK))
		lc_end(lc, "out of memory");
}

/* Sends a close frame with code and ends the connection once it is out
 * (or after CLOSE_WAIT_MS). */
static void ws_close_with(lconn_t *lc, int code)
{
	unsigned char f[4];
	if (lc->state != LS_OPEN && lc->state != LS_CLOSE_SENT)
		return;
	if (lc->state == LS_OPEN) {
		ws_close_frame(f, code);
		if (out_add(lc, f, sizeof f) != DM_OK) {
			lc_end(lc, "out of memory");
			return;
		}
	}
	lc->state = LS_FLUSH_END;
	lc->deadline = dm_mono_ms() + CLOSE_WAIT_MS;
}

/* A message on a probing WebSocket (loop thread; no database needed). */
static void ws_probe_msg(lconn_t *lc, const char *p, size_t n)
{
	sio_sock_t *s = lc->s;
	if (n == 6 && !memcmp(p, "2probe", 6)) {
		ws_send(lc, WS_OP_TEXT, "3probe", 6);
		dm_mutex_lock(&sio_lock);
		if (s->state == S_OPEN && s->probe == lc) {
			s->upgrading = 1;
			sio_ready_push_locked(s); /* the waiting GET ends with noop */
		}
		dm_mutex_unlock(&sio_lock);
		return;
	}
	if (n == 1 && p[0] == '5') {
		int ok = 0;
		dm_mutex_lock(&sio_lock);
		if (s->state == S_OPEN && s->probe == lc) {
			/* a probe is adopted for a polling session only, once */
			dm_assert(s->transport == T_POLL && !s->ws);
			s->probe = NULL;
			s->transport = T_WS;
			s->ws = lc;
			s->upgrading = 0;
			s->last_rx = dm_mono_ms();
			lc->probe = 0;
			ok = 1;
			sio_ready_push_locked(s); /* queued frames; a parked GET's noop */
		}
		dm_mutex_unlock(&sio_lock);
		if (!ok)
			ws_close_with(lc, WS_CLOSE_NORMAL);
	}
	/* anything else before the upgrade is ignored */
}

/* Hands a message to the workers (data copied unless owned is given). */
static void ws_deliver(lconn_t *lc, const char *data, size_t len, char *owned, int binary)
{
	pkt_t *p = malloc(sizeof *p + len + 1);
	int wake = 0;
	if (p) {
		p->next = NULL;
		p->len = len;
		p->binary = binary;
		memcpy(p->data, data, len);
		p->data[len] = 0;
	}
	free(owned); /* data pointed there: one copy keeps the list simple */
	if (!p) {
		ws_close_with(lc, WS_CLOSE_TOO_BIG);
		return;
	}
	pool_take();
	dm_assert(!lc->inh == !lc->intl);
	if (lc->intl)
		lc->intl->next = p;
	else
		lc->inh = p;
	lc->intl = p;
	lc->inbytes += len;
	if (lc->inbytes > IN_HIGH)
		lc->paused = 1;
	if (!lc->scheduled) {
		lc->scheduled = 1;
		lc_ref(lc);
		lc->run_next = NULL;
		if (runq_tail)
			runq_tail->run_next = lc;
		else
			runq_head = lc;
		runq_tail = lc;
		wake = 1;
	}
	dm_mutex_unlock(&pool_lock);
	if (wake)
		pthread_cond_signal(&pool_cv);
}

/* One decoded event. 0 to go on, -1 when the connection ended or stops
 * reading. */
static int ws_event(lconn_t *lc, const ws_ev_t *ev)
{
	switch (ev->kind) {
	case WS_EV_MSG:
		if (lc->state != LS_OPEN) {
			free(ev->owned); /* after our close frame: dropped */
			return 0;
		}
		if (ev->op != WS_OP_TEXT && (!lc->s->binary_ok || lc->probe)) {
			free(ev->owned);
			dm_info("sio %s: binary WebSocket frame refused", lc->s->sid);
			ws_close_with(lc, WS_CLOSE_UNSUPPORTED);
			return -1;
		}
		if (lc->probe) {
			ws_probe_msg(lc, ev->data, ev->len);
			free(ev->owned);
		} else
			ws_deliver(lc, ev->data, ev->len, ev->owned, ev->op != WS_OP_TEXT);
		return 0;
	case WS_EV_PING:
		if (lc->state == LS_OPEN)
			ws_send(lc, WS_OP_PONG, ev->data, ev->len);
		return 0;
	case WS_EV_PONG:
	case WS_EV_NONE:
		return 0;
	case WS_EV_CLOSE:
		if (lc->state == LS_CLOSE_SENT) {
			lc_end(lc, NULL);
			return -1;
		}
		ws_close_with(lc, ev->code == WS_CLOSE_NO_STATUS ? WS_CLOSE_NORMAL : ev->code);
		return -1;
	default: /* WS_EV_ERROR */
		dm_info("sio %s: WebSocket %s: closing (%d)", lc->s->sid, ev->why, ev->code);
		ws_close_with(lc, ev->code);
		return -1;
	}
}

/* Parses buf[0..len) into events; returns the bytes consumed, or -1 when
 * reading stops (ended, closing or paused). */
static ssize_t ws_parse_all(lconn_t *lc, unsigned char *buf, size_t len)
{
	size_t off = 0;
	size_t max_msg = (size_t)cfg.sio_max_payload;
	while (off < len) {
		ws_ev_t ev;
		size_t used = ws_parse(&lc->win, buf + off, len - off, MAX_FRAME, max_msg, &ev);
		if (ev.kind == WS_EV_NEED)
			break;
		off += used;
		if (ws_event(lc, &ev) < 0)
			return -1;
	}
	return (ssize_t)off;
}

/* Keeps buf[0..len) as the start of the next frame. DM_OK or DM_ENOMEM. */
static int keep_rest(lconn_t *lc, const unsigned char *buf, size_t len)
{
	if (len > lc->rcap) {
		unsigned char *np = realloc(lc->rbuf, len);
		if (!np)
			return DM_ENOMEM;
		lc->rbuf = np;
		lc->rcap = len;
	}
	memmove(lc->rbuf, buf, len);
	lc->rlen = len;
	return DM_OK;
}

/* Reads and decodes everything the socket (and mbedtls) has, until it
 * would block, the connection stops reading, or ends. */
static void ws_input(lconn_t *lc)
{
	for (;;) {
		ssize_t n, used;
		int paused;
		if (lc->state == LS_ENDED || lc->state == LS_FLUSH_END)
			return;
		pool_take();
		paused = lc->paused;
		dm_mutex_unlock(&pool_lock);
		if (paused)
			return;
		if (!lc->rlen) {
			/* the common case: whole frames straight from one read */
			n = lc_read(lc, rchunk, sizeof rchunk);
			if (n < 0) {
				lc_end(lc, "peer closed");
				return;
			}
			if (n == 0)
				return;
			used = ws_parse_all(lc, rchunk, (size_t)n);
			if (used < 0)
				return;
			if ((size_t)used < (size_t)n && keep_rest(lc, rchunk + used, (size_t)n - (size_t)used) != DM_OK) {
				lc_end(lc, "out of memory");
				return;
			}
			continue;
		}
		/* a partial frame is kept: read after it */
		if (lc->rcap - lc->rlen < READ_CHUNK) {
			size_t cap = lc->rcap * 2 > lc->rlen + READ_CHUNK ? lc->rcap * 2 : lc->rlen + READ_CHUNK;
			unsigned char *np = realloc(lc->rbuf, cap);
			if (!np) {
				lc_end(lc, "out of memory");
				return;
			}
			lc->rbuf = np;
			lc->rcap = cap;
		}
		n = lc_read(lc, lc->rbuf + lc->rlen, lc->rcap - lc->rlen);
		if (n < 0) {
			lc_end(lc, "peer closed");
			return;
		}
		if (n == 0)
			return;
		lc->rlen += (size_t)n;
		used = ws_parse_all(lc, lc->rbuf, lc->rlen);
		if (used < 0)
			return;
		memmove(lc->rbuf, lc->rbuf + used, lc->rlen - (size_t)used);
		lc->rlen -= (size_t)used;
		if (!lc->rlen) {
			free(lc->rbuf);
			lc->rbuf = NULL;
			lc->rcap = 0;
		}
	}
}

/* After reading: writes what the reading queued (pongs, probe answers,
 * close frames) and sets the events lc waits for. */
static void lc_after(lconn_t *lc)
{
	if (lc->state == LS_ENDED)
		return;
	if (out_pending(lc))
		lc_flush(lc);
	else
		lc_update_mask(lc);
}

static void on_io(ev_watch_t *w, uint32_t events)
{
	lconn_t *lc = (lconn_t *)w;
	if (lc->state == LS_ENDED)
		return;
	if (lc->kind == LC_POLL) {
		if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
			lc_end(lc, "peer closed");
			return;
		}
		if (events & EPOLLOUT)
			lc_flush(lc);
		return;
	}
	if (events & EPOLLOUT)
		lc_flush(lc);
	if (lc->state != LS_ENDED && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		ws_input(lc);
	if (lc->state != LS_ENDED && (events & (EPOLLHUP | EPOLLERR)))
		lc_end(lc, "peer closed");
	lc_after(lc);
}

/* --------------------------------------------------------------- ends */

/* Loop thread. Closes lc's socket (or gives it back to civetweb when
 * handback) and unhooks it from its session; the loop's reference is
 * dropped after this round's dispatch. why: logged (NULL: a normal end). */
static void lc_end_ex(lconn_t *lc, const char *why, int handback)
{
	sio_sock_t *s = lc->s;
	dm_assert(on_loop_thread());
	if (lc->state == LS_ENDED)
		return;
	lc->state = LS_ENDED;
	if (lc->mask)
		ev_del(&lc->w);
	lc->mask = 0;
	if (lc->prev)
		lc->prev->next = lc->next;
	else if (live == lc)
		live = lc->next;
	if (lc->next)
		lc->next->prev = lc->prev;
	lc->prev = lc->next = NULL;
	if (handback) {
		/* civetweb takes the socket, its TLS context and bytes */
		lc->d.fd = lc->w.fd;
		lc->d.ssl = lc->ssl;
		if (mg_park(http_ctx(), &lc->d) != 0)
			handback = 0;
		else {
			lc->d.rest = NULL;
			lc->d.restlen = 0;
		}
	}
	if (!handback) {
		if (lc->ssl && !tls_gone)
			mbedtls_ssl_close_notify(lc->ssl); /* best effort, non-blocking */
		ssl_drop(lc->ssl);
		close(lc->w.fd);
	}
	lc->ssl = NULL;
	lc->w.fd = -1;
	free(lc->rbuf);
	free(lc->out);
	lc->rbuf = NULL;
	lc->out = NULL;
	lc->rlen = lc->rcap = lc->olen = lc->ooff = lc->ocap = 0;
	ws_in_free(&lc->win);
	dm_mutex_lock(&sio_lock);
	if (s->ws == lc) {
		s->ws = NULL;
		sio_mark_closing_locked(s, why ? why : "transport closed");
	}
	if (s->probe == lc) {
		s->probe = NULL;
		s->upgrading = 0;
	}
	if (s->poll == lc) {
		s->poll = NULL;
		s->polling = 0;
	}
	dm_mutex_unlock(&sio_lock);
	if (why)
		dm_debug("sio %s: connection ends (%s)", s->sid, why);
	lc->dead_next = dead;
	dead = lc;
}

static void lc_end(lconn_t *lc, const char *why)
{
	lc_end_ex(lc, why, 0);
}

/* ---------------------------------------------------------------- polls */

/* A parked GET's reply is out: back to civetweb's keep-alive set (with
 * any bytes of a next request civetweb had read), or closed. */
static void poll_done(lconn_t *lc)
{
	lc_end_ex(lc, NULL, lc->keepalive);
}

/* Answers the parked GET lc with what sio_poll_take_locked gave. */
static void poll_answer(lconn_t *lc, qnode_t *q, const char *tail)
{
	sbuf_t b = {0};
	char head[96];
	int n;

	dm_assert(on_loop_thread() && lc->kind == LC_POLL && lc->state == LS_OPEN);
	sio_poll_body(lc->eio, q, tail, &b);
	if (b.oom) {
		free(b.p);
		lc_end(lc, "out of memory");
		return;
	}
	n = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n", b.n);
	if (out_add(lc, head, (size_t)n) != DM_OK || out_add(lc, lc->hdr, strlen(lc->hdr)) != DM_OK ||
	    out_add(lc, lc->keepalive ? "\r\n" : "Connection: close\r\n\r\n", lc->keepalive ? 2 : 21) != DM_OK ||
	    out_add(lc, b.p, b.n) != DM_OK) {
		free(b.p);
		lc_end(lc, "out of memory");
		return;
	}
	free(b.p);
	lc->state = LS_FLUSH_END;
	lc->deadline = dm_mono_ms() + CLOSE_WAIT_MS;
	lc_flush(lc);
}

/* --------------------------------------------------------------- hook */

/* Loop thread, locked. Takes a WebSocket session's queued frames (at most
 * OUT_HIGH bytes ahead of the kernel, at least one) onto lc->sendq, and
 * the close frame when asked; ws_send_taken writes them after the lock.
 * Nothing follows our close frame. 1 when something was taken. */
static int ws_take_locked(sio_sock_t *s, lconn_t *lc)
{
	size_t budget = out_pending(lc);
	qnode_t **tail = &lc->sendq;
	int took = 0;

	dm_assert(dm_mutex_held(&sio_lock) && on_loop_thread());
	dm_assert(s->ws == lc && !s->qh == !s->qt && !s->qh == !s->qn);
	if (lc->state != LS_OPEN)
		return 0;
	while (*tail)
		tail = &(*tail)->next;
	while (s->qh && (budget < OUT_HIGH || !took)) {
		qnode_t *x = sio_dequeue_locked(s);
		*tail = x;
		tail = &x->next;
		budget += (x->sp ? x->sp->hlen : x->b->hlen) + sio_qlen(x);
		took = 1;
	}
	if (!s->qh && s->want_close && !s->close_sent) {
		s->close_sent = 1;
		lc->close_pending = 1;
		took = 1;
	}
	lc->more = s->qh != NULL;
	return took;
}

/* Loop thread, no lock. Writes the taken frames: straight from their
 * blobs with one sendmsg when nothing is pending (plain sockets), what the
 * kernel did not take (and everything over TLS) through the output
 * buffer; then flushes. */
static void ws_send_taken(lconn_t *lc)
{
	qnode_t *q = lc->sendq, *x;
	size_t skip = 0;

	dm_assert(on_loop_thread());
	lc->sendq = NULL;
	if (q && !out_pending(lc) && !lc->ssl) {
		struct iovec iov[64];
		struct msghdr mh;
		int n = 0;
		ssize_t w;
		for (x = q; x && n + 4 <= 64; x = x->next) {
			const char *pp[4];
			size_t pn[4];
			int k = sio_qparts(x, 1, pp, pn);
			for (int i = 0; i < k; i++, n++) {
				iov[n].iov_base = (void *)pp[i];
				iov[n].iov_len = pn[i];
			}
		}
		memset(&mh, 0, sizeof mh);
		mh.msg_iov = iov;
		mh.msg_iovlen = (size_t)n;
		w = sendmsg(lc->w.fd, &mh, MSG_NOSIGNAL);
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			sio_queue_free(q);
			lc_end(lc, "write failed");
			return;
		}
		skip = w > 0 ? (size_t)w : 0;
	}
	for (x = q; x; x = x->next) {
		const char *pp[4];
		size_t pn[4];
		int k = sio_qparts(x, 1, pp, pn);
		for (int i = 0; i < k; i++) {
			if (skip >= pn[i]) {
				skip -= pn[i];
				continue;
			}
			if (out_add(lc, pp[i] + skip, pn[i] - skip) != DM_OK) {
				sio_queue_free(q);
				lc_end(lc, "out of memory");
				return;
			}
			skip = 0;
		}
	}
	sio_queue_free(q);
	if (lc->close_pending) {
		unsigned char f[4];
		/* taken while open; only the loop changes the state */
		dm_assert(lc->state == LS_OPEN);
		lc->close_pending = 0;
		ws_close_frame(f, WS_CLOSE_NORMAL);
		if (out_add(lc, f, sizeof f) != DM_OK) {
			lc_end(lc, "out of memory");
			return;
		}
		lc->state = LS_CLOSE_SENT;
		lc->deadline = dm_mono_ms() + CLOSE_WAIT_MS;
	}
	if (out_pending(lc))
		lc_flush(lc); /* drained, it asks for the rest itself */
	else {
		lc->stall_t0 = 0;
		if (lc->more) {
			dm_mutex_lock(&sio_lock);
			if (lc->s->ws == lc && lc->s->qn)
				sio_ready_push_locked(lc->s);
			dm_mutex_unlock(&sio_lock);
		}
	}
}

typedef struct answer {
	lconn_t *lc;
	qnode_t *q;
	const char *tail;
} answer_t;

/* The ready list: fill WebSockets, answer parked GETs. */
static void run_ready(void)
{
	sio_sock_t *s, *nx;
	lconn_t *flush = NULL; /* linked through dead_next while not dead */
	answer_t ans[64];
	int nans = 0, more = 0;

	dm_assert(on_loop_thread());
	dm_mutex_lock(&sio_lock);
	s = sio_ready_take_locked();
	for (; s; s = nx) {
		nx = s->ready_next;
		dm_assert(s->ready_listed);
		s->ready_listed = 0;
		if (nans == (int)(sizeof ans / sizeof ans[0])) {
			/* the rest next round */
			sio_ready_push_locked(s);
			sio_unref_locked(s);
			more = 1;
			continue;
		}
		/* a connection still on the incoming list is left alone: its
		 * session is pushed again once the loop took it */
		if (s->ws && s->ws->registered && s->ws->state != LS_ENDED) {
			lconn_t *lc = s->ws;
			int listed = lc->sendq || lc->close_pending;
			if (ws_take_locked(s, lc) && !listed) {
				lc->dead_next = flush;
				flush = lc;
			}
		}
		if (s->poll && s->poll->registered && s->poll->state == LS_OPEN && sio_poll_answerable_locked(s)) {
			lconn_t *lc = s->poll;
			ans[nans].lc = lc;
			ans[nans].tail = sio_poll_take_locked(s, &ans[nans].q);
			s->poll = NULL;
			nans++;
		}
		sio_unref_locked(s);
	}
	dm_mutex_unlock(&sio_lock);
	while (flush) {
		lconn_t *lc = flush;
		flush = lc->dead_next;
		lc->dead_next = NULL;
		ws_send_taken(lc);
	}
	for (int i = 0; i < nans; i++)
		poll_answer(ans[i].lc, ans[i].q, ans[i].tail);
	if (more)
		ev_wake();
}

/* Deadlines: parked GETs, close handshakes, stalled writes. Returns the
 * next time a scan is needed. */
static int64_t scan(int64_t now)
{
	int64_t next = now + SCAN_MS;
	lconn_t *lc = live, *nx;
	dm_assert(on_loop_thread());
	for (; lc; lc = nx) {
		nx = lc->next;
		if (lc->kind == LC_POLL && lc->state == LS_OPEN) {
			if (now >= lc->deadline) {
				qnode_t *q;
				const char *tail;
				dm_mutex_lock(&sio_lock);
				if (lc->s->poll == lc) {
					lc->s->poll = NULL;
					tail = sio_poll_take_locked(lc->s, &q);
				} else {
					tail = "6";
					q = NULL;
				}
				dm_mutex_unlock(&sio_lock);
				poll_answer(lc, q, tail);
			} else if (lc->deadline < next)
				next = lc->deadline;
			continue;
		}
		if ((lc->state == LS_CLOSE_SENT || lc->state == LS_FLUSH_END) && now >= lc->deadline) {
			lc_end(lc, lc->state == LS_CLOSE_SENT ? "no close frame from the peer" : "close not flushed");
			continue;
		}
		if (lc->stall_t0 && now - lc->stall_t0 > WRITE_STALL_MS) {
			dm_mutex_lock(&sio_lock);
			sio_dropped++;
			dm_mutex_unlock(&sio_lock);
			dm_info("sio %s: no write progress for %d ms: disconnecting", lc->s->sid, WRITE_STALL_MS);
			lc_end(lc, "write stalled");
		}
	}
	return next;
}

static int loop_hook(int64_t now)
{
	lconn_t *inc, *res;

	pool_take();
	inc = incoming;
	incoming = NULL;
	res = resuming;
	resuming = NULL;
	for (lconn_t *lc = res; lc; lc = lc->list_next) {
		lc->resume_listed = 0;
		lc->paused = 0;
	}
	dm_mutex_unlock(&pool_lock);

	dm_assert(on_loop_thread());
	while (inc) {
		lconn_t *lc = inc;
		inc = lc->list_next;
		dm_assert(!lc->registered && lc->state == LS_OPEN);
		lc->next = live;
		if (live)
			live->prev = lc;
		live = lc;
		lc->registered = 1;
		lc->mask = lc_mask(lc);
		if (ev_add(&lc->w, lc->mask) != DM_OK) {
			lc->mask = 0;
			lc_end(lc, "epoll_ctl failed");
			continue;
		}
		/* what was queued or became answerable before it was taken */
		dm_mutex_lock(&sio_lock);
		if (lc->s->ws == lc || lc->s->poll == lc)
			sio_ready_push_locked(lc->s);
		dm_mutex_unlock(&sio_lock);
		if (lc->kind == LC_WS) {
			/* civetweb's leftover bytes, then what TLS holds */
			if (lc->d.rest && lc->d.restlen) {
				ssize_t used = ws_parse_all(lc, (unsigned char *)lc->d.rest, lc->d.restlen);
				if (used >= 0 && (size_t)used < lc->d.restlen &&
				    keep_rest(lc, (unsigned char *)lc->d.rest + used, lc->d.restlen - (size_t)used) != DM_OK)
					lc_end(lc, "out of memory");
			}
			free(lc->d.rest);
			lc->d.rest = NULL;
			lc->d.restlen = 0;
			ws_input(lc);
			lc_after(lc);
		} else if (lc->deadline < next_scan)
			next_scan = lc->deadline;
	}
	while (res) {
		lconn_t *lc = res;
		res = lc->list_next;
		lc_update_mask(lc);
		ws_input(lc);
		lc_after(lc);
		lc_unref(lc);
	}
	run_ready();
	if (now >= next_scan)
		next_scan = scan(now);
	while (dead) {
		lconn_t *lc = dead;
		dead = lc->dead_next;
		lc_unref(lc);
	}
	now = dm_mono_ms();
	return next_scan > now ? (int)(next_scan - now) : 0;
}

/* -------------------------------------------------------------- workers */

static void *worker_main(void *unused)
{
	(void)unused;
	pool_take();
	for (;;) {
		lconn_t *lc;
		while (!pool_stopping && !runq_head)
			dm_cond_wait(&pool_cv, &pool_lock, NULL);
		if (pool_stopping)
			break;
		lc = runq_head;
		runq_head = lc->run_next;
		if (!runq_head)
			runq_tail = NULL;
		dm_assert(lc->scheduled);
		while (lc->inh && !pool_stopping) {
			pkt_t *p = lc->inh;
			int wake = 0;
			lc->inh = p->next;
			if (!lc->inh)
				lc->intl = NULL;
			dm_assert(lc->inbytes >= p->len);
			lc->inbytes -= p->len;
			if (lc->paused && lc->inbytes < IN_LOW && !lc->resume_listed) {
				lc->resume_listed = 1;
				lc_ref(lc);
				lc->list_next = resuming;
				resuming = lc;
				wake = 1;
			}
			dm_mutex_unlock(&pool_lock);
			if (wake)
				ev_wake();
			if ((p->binary ? sio_eio_binary : sio_eio_packet)(lc->s, p->data, p->len) != DM_OK) {
				dm_mutex_lock(&sio_lock);
				sio_mark_closing_locked(lc->s, "protocol error");
				dm_mutex_unlock(&sio_lock);
			}
			free(p);
			pool_take();
		}
		lc->scheduled = 0;
		dm_mutex_unlock(&pool_lock);
		lc_unref(lc);
		pool_take();
	}
	dm_mutex_unlock(&pool_lock);
	db_thread_exit();
	return NULL;
}

/* --------------------------------------------------------------- adopt */

static lconn_t *lc_new(struct mg_detached *d, sio_sock_t *s, int kind)
{
	lconn_t *lc = calloc(1, sizeof *lc);
	if (!lc)
		return NULL;
	lc->w.fd = d->fd;
	lc->w.fn = on_io;
	lc->kind = kind;
	atomic_init(&lc->refs, 1);
	lc->s = s;
	lc->d = *d;
	lc->ssl = d->ssl;
	if (lc->ssl)
		mbedtls_ssl_set_bio(lc->ssl, lc, bio_send, bio_recv, NULL);
	return lc;
}

void sio_detached_close(struct mg_detached *d)
{
	ssl_drop(d->ssl);
	close(d->fd);
	free(d->rest);
}

static void hand_to_loop(lconn_t *lc)
{
	pool_take();
	lc->list_next = incoming;
	incoming = lc;
	dm_mutex_unlock(&pool_lock);
	ev_wake();
}

int sio_loop_adopt_ws(struct mg_detached *d, sio_sock_t *s, int probe)
{
	lconn_t *lc = lc_new(d, s, LC_WS);
	int ok;
	if (!lc) {
		sio_detached_close(d);
		sio_unref(s);
		return DM_ENOMEM;
	}
	lc->probe = probe;
	dm_mutex_lock(&sio_lock);
	if (probe) {
		ok = s->state == S_OPEN && s->transport == T_POLL && !s->probe && !sio_stopping;
		if (ok)
			s->probe = lc;
	} else {
		ok = s->state == S_OPEN && !sio_stopping;
		if (ok) {
			/* a new session: nothing carries it yet */
			dm_assert(!s->ws && !s->probe && !s->poll);
			s->transport = T_WS;
			s->ws = lc;
		}
	}
	dm_mutex_unlock(&sio_lock);
	if (!ok) {
		lc->d.rest = NULL;
		sio_detached_close(d);
		lc_free(lc);
		return DM_EUNAVAIL;
	}
	hand_to_loop(lc);
	return DM_OK;
}

int sio_loop_park_poll(struct mg_detached *d, sio_sock_t *s, int eio, const char *hdr, int keepalive,
		       int64_t deadline)
{
	lconn_t *lc = lc_new(d, s, LC_POLL);
	if (!lc || !(lc->hdr = strdup(hdr))) {
		if (lc)
			lc->d.rest = NULL;
		free(lc);
		sio_detached_close(d);
		dm_mutex_lock(&sio_lock);
		s->polling = 0;
		sio_unref_locked(s);
		dm_mutex_unlock(&sio_lock);
		return DM_ENOMEM;
	}
	lc->eio = eio;
	lc->keepalive = keepalive;
	lc->deadline = deadline;
	/* before the loop can see lc (it may end it, and the session go, at
	 * once); the loop pushes the session when it takes lc */
	dm_mutex_lock(&sio_lock);
	s->poll = lc;
	dm_mutex_unlock(&sio_lock);
	hand_to_loop(lc);
	return DM_OK;
}

/* ------------------------------------------------------------ lifecycle */

int sio_loop_threads(void)
{
	return nworkers + loop_started;
}

int sio_loop_start(void)
{
	pool_stopping = 0;
	tls_gone = 0;
	next_scan = 0;
	if (ev_start(loop_hook) != DM_OK)
		return DM_ERR;
	loop_started = 1;
	for (int i = 0; i < WORKERS; i++) {
		if (pthread_create(&workers[i], NULL, worker_main, NULL) != 0) {
			dm_error("sio: cannot start a worker thread");
			return DM_ERR;
		}
		nworkers++;
	}
	return DM_OK;
}

void sio_loop_stop(void)
{
	lconn_t *lc;

	pool_take();
	pool_stopping = 1;
	pthread_cond_broadcast(&pool_cv);
	dm_mutex_unlock(&pool_lock);
	for (int i = 0; i < nworkers; i++)
		pthread_join(workers[i], NULL);
	nworkers = 0;
	if (loop_started)
		ev_stop();
	loop_started = 0;
	/* the loop is gone: this thread ends what it held */
	tls_gone = 1;
	pool_take();
	while ((lc = runq_head)) {
		runq_head = lc->run_next;
		lc->scheduled = 0;
		dm_mutex_unlock(&pool_lock);
		lc_unref(lc);
		pool_take();
	}
	runq_tail = NULL;
	while ((lc = resuming)) {
		resuming = lc->list_next;
		lc->resume_listed = 0;
		dm_mutex_unlock(&pool_lock);
		lc_unref(lc);
		pool_take();
	}
	lc = incoming;
	incoming = NULL;
	dm_mutex_unlock(&pool_lock);
	while (lc) { /* adopted, never registered */
		lconn_t *nx = lc->list_next;
		lc->next = live;
		if (live)
			live->prev = lc;
		live = lc;
		lc = nx;
	}
	while (live) {
		unsigned char f[4];
		lc = live;
		if (lc->kind == LC_WS && lc->state == LS_OPEN && !lc->ssl) {
			/* going away: one try, without waiting (plain only: see
			 * tls_gone) */
			ws_close_frame(f, WS_CLOSE_GOING_AWAY);
			if (out_add(lc, f, sizeof f) == DM_OK)
				lc_write(lc, lc->out + lc->ooff, out_pending(lc));
		}
		lc->mask = 0; /* the epoll set is closed */
		lc_end(lc, NULL);
	}
	while (dead) {
		lc = dead;
		dead = lc->dead_next;
		lc_unref(lc);
	}
}
