/*
 * sio_transport.c — the transports of sio (see sio.h, and the design notes
 * at the top of sio.c): WebSocket on /socket.io/ through civetweb's
 * WebSocket handler, HTTP long-polling through two http routes, and the
 * upgrade from polling to WebSocket (probe, then "5"). Both hand each
 * Engine.IO packet they receive to sio_eio_packet; sessions, queues and
 * the senders that drain WebSocket queues live in sio.c.
 *
 * Thread-safety: everything shared is under sio_lock (sio_int.h); network
 * writes here happen only in a connection's own callbacks (WebSocket probe
 * answers and pongs, rejections) and in the polling GET that drains its
 * session's queue.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include <civetweb.h>

#include "config.h"
#include "db.h"
#include "dm.h"
#include "http.h"
#include "sio.h"
#include "sio_int.h"

#define POLL_SLICE_MS 200

/* A connection's first packets (CONNECT, the room calls) are followed by
 * a stack trim; later ones only at heartbeats (see stack_trim). */
#define TRIM_FIRST_PACKETS 8
/* Bytes below the trimming function's frame that stay mapped: its own
 * callees (madvise's wrapper) live there during the call. */
#define TRIM_MARGIN 2048

/* per WebSocket connection (mg user connection data) */
typedef struct wsconn {
	sio_sock_t *s;           /* holds a reference */
	int probe;               /* still probing the upgrade */
	char *frag;              /* a fragmented message being reassembled */
	size_t fraglen;
	unsigned npackets;       /* data callbacks so far (saturates) */
} wsconn_t;

/* ------------------------------------------------------ stack pages */

/*
 * stack_trim: gives back to the kernel the pages of this thread's stack
 * below the caller's frame (minus TRIM_MARGIN), with MADV_DONTNEED.
 *
 * Why: every open WebSocket holds a civetweb worker thread. Its handshake
 * (civetweb's request parsing and printf buffers) and our callbacks (token
 * check, JSON parsing and SQL on a reader) touch ~36 KB of stack once, and
 * touched pages stay resident while the connection idles: ~40 KB per
 * client, most of the RSS of 1,000 connected clients. Those frames are dead
 * once the callback returned; the next deep call faults fresh zero pages.
 *
 * Safe because it only runs on the thread that owns the stack, for pages
 * entirely below its current frame (nothing live is there: the margin
 * covers this function's callees and the red zone). Called after the
 * upgrade, after a connection's first TRIM_FIRST_PACKETS data callbacks,
 * at heartbeats (an idle client's only traffic: every pingInterval), and at
 * close (the worker goes back to civetweb's idle pool) — never per chat
 * message of a busy client, so the cost (one syscall, a few page faults
 * later) stays off the hot path. Thread-safety: the bounds are per thread.
 */
static __thread uintptr_t stack_lo; /* lowest usable address; 1: unknown */

static __attribute__((noinline)) void stack_trim(void)
{
	volatile char here = 0;
	long ps = sysconf(_SC_PAGESIZE); /* the real one: madvise rounds to it */
	uintptr_t page = ps > 0 ? (uintptr_t)ps : 4096, top;

	if (!stack_lo) {
		pthread_attr_t a;
		void *addr = NULL;
		size_t size = 0;
		stack_lo = 1;
		if (pthread_getattr_np(pthread_self(), &a) == 0) {
			if (pthread_attr_getstack(&a, &addr, &size) == 0 && addr)
				stack_lo = ((uintptr_t)addr + page - 1) & ~(page - 1);
			pthread_attr_destroy(&a);
		}
	}
	if (stack_lo == 1)
		return;
	top = ((uintptr_t)&here - TRIM_MARGIN) & ~(page - 1);
	if (top > stack_lo + page && top - stack_lo < (64u << 20))
		madvise((void *)stack_lo, top - stack_lo, MADV_DONTNEED);
	(void)here;
}

/* ------------------------------------------------------------ packets */

size_t sio_utf16_len(const char *s, size_t n)
{
	size_t u = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c & 0xc0) != 0x80)
			u += c >= 0xf0 ? 2 : 1;
	}
	return u;
}

/* The open packet: "0{...}" (only numbers and base64url: no escaping). */
static int open_packet(const sio_sock_t *s, int can_upgrade, char *out, size_t cap)
{
	return snprintf(out, cap,
			"0{\"sid\":\"%s\",\"upgrades\":[%s],\"pingInterval\":%d,\"pingTimeout\":%d,"
			"\"maxPayload\":%d}",
			s->sid, can_upgrade ? "\"websocket\"" : "", cfg.sio_ping_interval, cfg.sio_ping_timeout,
			cfg.sio_max_payload);
}

/* -------------------------------------------------------- WebSocket */

static int query_var(const char *q, const char *name, char *buf, size_t cap)
{
	if (!q)
		return 0;
	return mg_get_var(q, strlen(q), name, buf, cap) > 0;
}

/* Origin: absent (not a browser) or allowed by the CORS configuration. */
static int origin_ok(const struct mg_connection *c)
{
	char cors[700];
	if (!mg_get_header(c, "Origin"))
		return 1;
	http_cors_headers(c, cors, sizeof cors);
	return cors[0] != 0;
}

static const char *eio_errors[] = {
	"{\"code\":0,\"message\":\"Transport unknown\"}",
	"{\"code\":1,\"message\":\"Session ID unknown\"}",
	"{\"code\":2,\"message\":\"Bad handshake method\"}",
	"{\"code\":3,\"message\":\"Bad request\"}",
	"{\"code\":4,\"message\":\"Forbidden\"}",
	"{\"code\":5,\"message\":\"Unsupported protocol version\"}",
};

static int ws_reject(const struct mg_connection *cc, int code)
{
	struct mg_connection *c = (struct mg_connection *)cc;
	const char *body = eio_errors[code];
	mg_printf(c,
		  "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
		  "Connection: close\r\n\r\n%s",
		  code == 4 ? 403 : 400, code == 4 ? "Forbidden" : "Bad Request", strlen(body), body);
	return 1;
}

/* Before the handshake: a known version, transport=websocket, and for an
 * upgrade a polling session that can take it. 0 proceeds, 1 refuses. */
static int ws_connect(const struct mg_connection *c, void *cb)
{
	const struct mg_request_info *ri = mg_get_request_info(c);
	char eio[4], tr[16], sid[SID_CAP + 8];
	int ok = 1;

	(void)cb;
	if (!sio_app || sio_stopping)
		return ws_reject(c, 3);
	if (!origin_ok(c))
		return ws_reject(c, 4);
	if (!query_var(ri->query_string, "EIO", eio, sizeof eio) || (strcmp(eio, "3") && strcmp(eio, "4")))
		return ws_reject(c, 5);
	if (!query_var(ri->query_string, "transport", tr, sizeof tr) || strcmp(tr, "websocket"))
		return ws_reject(c, 0);
	if (query_var(ri->query_string, "sid", sid, sizeof sid)) {
		sio_sock_t *s;
		pthread_mutex_lock(&sio_lock);
		s = sio_find_locked(sid);
		ok = s && s->state == S_OPEN && s->transport == T_POLL && !s->probe && s->eio == eio[0] - '0';
		pthread_mutex_unlock(&sio_lock);
		if (!ok)
			return ws_reject(c, 1);
	}
	return 0;
}

static void ws_ready(struct mg_connection *c, void *cb)
{
	const struct mg_request_info *ri = mg_get_request_info(c);
	char eio[4] = "4", sid[SID_CAP + 8];
	wsconn_t *wc = calloc(1, sizeof *wc);
	sio_sock_t *s;

	(void)cb;
	if (!wc)
		return; /* no connection data: the data handler closes */
	mg_set_user_connection_data(c, wc);
	query_var(ri->query_string, "EIO", eio, sizeof eio);
	if (query_var(ri->query_string, "sid", sid, sizeof sid)) {
		pthread_mutex_lock(&sio_lock);
		s = sio_find_locked(sid);
		if (s && s->state == S_OPEN && s->transport == T_POLL && !s->probe) {
			s->probe = c;
			s->refs++;
			wc->s = s;
			wc->probe = 1;
		}
		pthread_mutex_unlock(&sio_lock);
		return;
	}
	s = sio_session_new(eio[0] == '3' ? 3 : 4, ri->query_string, mg_get_header(c, "Cookie"));
	if (!s)
		return;
	{
		char open[256];
		int n = open_packet(s, 0, open, sizeof open);
		blob_t *b = sio_blob_new(open, (size_t)n), *b40 = s->eio == 3 ? sio_blob_new("40", 2) : NULL;
		pthread_mutex_lock(&sio_lock);
		s->transport = T_WS;
		s->ws = c;
		s->refs++;
		wc->s = s;
		if (b)
			sio_enqueue_locked(s, b);
		if (b40) /* v3: the default namespace is connected at once */
			sio_enqueue_locked(s, b40);
		pthread_mutex_unlock(&sio_lock);
		sio_blob_unref(b);
		sio_blob_unref(b40);
	}
}

/* A complete text message on a probing WebSocket. */
static int ws_probe_msg(struct mg_connection *c, wsconn_t *wc, const char *p, size_t n)
{
	sio_sock_t *s = wc->s;
	if (n == 6 && !memcmp(p, "2probe", 6)) {
		if (mg_websocket_write(c, MG_WEBSOCKET_OPCODE_TEXT, "3probe", 6) <= 0)
			return 0;
		pthread_mutex_lock(&sio_lock);
		if (s->state == S_OPEN && s->probe == c) {
			s->upgrading = 1;
			pthread_cond_broadcast(&s->cv); /* the waiting GET ends with noop */
		}
		pthread_mutex_unlock(&sio_lock);
		return 1;
	}
	if (n == 1 && p[0] == '5') {
		int ok = 0;
		pthread_mutex_lock(&sio_lock);
		if (s->state == S_OPEN && s->probe == c) {
			s->probe = NULL;
			s->transport = T_WS;
			s->ws = c;
			s->upgrading = 0;
			s->last_rx = dm_mono_ms();
			wc->probe = 0;
			pthread_cond_broadcast(&s->cv);
			if (s->qn)
				sio_ready_push_locked(s);
			ok = 1;
		}
		pthread_mutex_unlock(&sio_lock);
		return ok;
	}
	return 1; /* anything else before the upgrade is ignored */
}

/* civetweb data handler: 1 keeps the connection, 0 closes it. */
static int ws_data(struct mg_connection *c, int bits, char *data, size_t len, void *cb)
{
	wsconn_t *wc = mg_get_user_connection_data(c);
	int op = bits & 0x0f, fin = bits & 0x80, state, rc;
	char *msg;
	size_t mlen;

	(void)cb;
	if (!wc || !wc->s)
		return 0;
	pthread_mutex_lock(&sio_lock);
	state = wc->s->state;
	pthread_mutex_unlock(&sio_lock);
	if (state != S_OPEN)
		return 0;
	switch (op) {
	case MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE:
		return 0;
	case MG_WEBSOCKET_OPCODE_PING:
		mg_websocket_write(c, MG_WEBSOCKET_OPCODE_PONG, data, len);
		return 1;
	case MG_WEBSOCKET_OPCODE_PONG:
		return 1;
	case MG_WEBSOCKET_OPCODE_TEXT:
		if (wc->frag)
			return 0; /* a new message inside a fragmented one */
		break;
	case MG_WEBSOCKET_OPCODE_CONTINUATION:
		if (!wc->frag)
			return 0;
		break;
	default: /* binary */
		dm_info("sio %s: binary WebSocket frame refused", wc->s->sid);
		return 0;
	}
	if (len > (size_t)cfg.sio_max_payload || wc->fraglen + len > (size_t)cfg.sio_max_payload) {
		dm_info("sio %s: message over %d bytes: closing", wc->s->sid, cfg.sio_max_payload);
		return 0;
	}
	/* collect (fragments, or a copy with a terminating NUL) */
	msg = realloc(wc->frag, wc->fraglen + len + 1);
	if (!msg)
		return 0;
	memcpy(msg + wc->fraglen, data, len);
	mlen = wc->fraglen + len;
	msg[mlen] = 0;
	if (!fin) {
		wc->frag = msg;
		wc->fraglen = mlen;
		return 1;
	}
	wc->frag = NULL;
	wc->fraglen = 0;
	if (!dm_utf8_valid(msg, mlen)) {
		free(msg);
		return 0;
	}
	if (wc->probe)
		rc = ws_probe_msg(c, wc, msg, mlen);
	else {
		rc = sio_eio_packet(wc->s, msg, mlen) == DM_OK;
		if (!rc) {
			pthread_mutex_lock(&sio_lock);
			sio_mark_closing_locked(wc->s, "protocol error");
			pthread_mutex_unlock(&sio_lock);
		}
	}
	free(msg);
	return rc;
}

static void ws_close(const struct mg_connection *c, void *cb)
{
	wsconn_t *wc = mg_get_user_connection_data(c);
	(void)cb;
	if (!wc)
		return;
	if (wc->s) {
		sio_sock_t *s = wc->s;
		pthread_mutex_lock(&sio_lock);
		if (s->ws == c) {
			/* a sender may be writing to c: c stays valid until it
			 * is done */
			while (s->sending)
				pthread_cond_wait(&sio_ws_cv, &sio_lock);
			s->ws = NULL;
			sio_mark_closing_locked(s, "transport closed");
		}
		if (s->probe == c) {
			s->probe = NULL;
			s->upgrading = 0;
		}
		sio_unref_locked(s);
		pthread_mutex_unlock(&sio_lock);
	}
	free(wc->frag);
	free(wc);
	mg_set_user_connection_data(c, NULL);
}

/* The civetweb callbacks run on the worker thread that holds the WebSocket
 * for its whole life. That thread gives up the reader it kept for plain
 * HTTP (db_thread_exit), and each callback borrows one from the pool for
 * its own duration only (db_scope_*), so 1,000 idle chat users hold no
 * reader while plain HTTP keeps its lock-free per-thread reader. */
static int ws_connect_scoped(const struct mg_connection *c, void *cb)
{
	int rc;
	db_thread_exit();
	db_scope_begin();
	rc = ws_connect(c, cb);
	db_scope_end();
	return rc;
}

static void ws_ready_scoped(struct mg_connection *c, void *cb)
{
	db_scope_begin();
	ws_ready(c, cb);
	db_scope_end();
	stack_trim(); /* the handshake's frames */
}

/* A heartbeat: v4 pong "3", v3 ping "2" (not "2probe" of an upgrade). */
static int is_heartbeat(int bits, const char *data, size_t len)
{
	return (bits & 0x0f) == MG_WEBSOCKET_OPCODE_TEXT && len == 1 && (data[0] == '2' || data[0] == '3');
}

static int ws_data_scoped(struct mg_connection *c, int bits, char *data, size_t len, void *cb)
{
	wsconn_t *wc = mg_get_user_connection_data(c);
	int rc, trim;

	trim = is_heartbeat(bits, data, len) || (wc && wc->npackets < TRIM_FIRST_PACKETS);
	if (wc && wc->npackets < TRIM_FIRST_PACKETS)
		wc->npackets++;
	db_scope_begin();
	rc = ws_data(c, bits, data, len, cb);
	db_scope_end();
	if (trim)
		stack_trim();
	return rc;
}

static void ws_close_scoped(const struct mg_connection *c, void *cb)
{
	db_scope_begin();
	ws_close(c, cb);
	db_scope_end();
	stack_trim(); /* the worker goes back to the idle pool */
}

static void on_http_start(struct mg_context *ctx)
{
	mg_set_websocket_handler(ctx, "/socket.io", ws_connect_scoped, ws_ready_scoped, ws_data_scoped,
				 ws_close_scoped, NULL);
}

/* ----------------------------------------------------------- polling */

static int eio_error(http_req_t *r, int code)
{
	const char *body = eio_errors[code];
	return http_reply_raw(r, code == 4 ? 403 : 400, "application/json", "Cache-Control: no-store\r\n", body,
			      strlen(body));
}

static int poll_reply(http_req_t *r, const char *body, size_t len)
{
	return http_reply_raw(r, 200, "text/plain; charset=UTF-8", "Cache-Control: no-store\r\n", body, len);
}

/* Common checks of a polling request: version, transport, no JSONP,
 * Origin. Sets *eio and sid ("" for a handshake). DM_OK, or replied. */
static int poll_params(http_req_t *r, int *eio, char *sid, size_t cap)
{
	char v[4], tr[16], j[8];
	if (!sio_app || sio_stopping) {
		eio_error(r, 3);
		return DM_EUNAVAIL;
	}
	if (!origin_ok(r->conn)) {
		eio_error(r, 4);
		return DM_EFORBID;
	}
	if (http_query(r, "EIO", v, sizeof v) != DM_OK || (strcmp(v, "3") && strcmp(v, "4"))) {
		eio_error(r, 5);
		return DM_EINVAL;
	}
	if (http_query(r, "transport", tr, sizeof tr) != DM_OK || strcmp(tr, "polling") ||
	    http_query(r, "j", j, sizeof j) == DM_OK) {
		eio_error(r, 0);
		return DM_EINVAL;
	}
	*eio = v[0] - '0';
	sid[0] = 0;
	if (http_query(r, "sid", sid, cap) == DM_ETOOBIG) {
		eio_error(r, 1);
		return DM_EINVAL;
	}
	return DM_OK;
}

static int handshake(http_req_t *r, int eio)
{
	char open[256], body[300];
	sio_sock_t *s = sio_session_new(eio, r->query, http_header(r, "Cookie"));
	int n;

	if (!s)
		return http_fail_dm(r, DM_ENOMEM);
	n = open_packet(s, 1, open, sizeof open);
	if (eio == 3) /* v3 framing; the default namespace connects at once */
		n = snprintf(body, sizeof body, "%d:%s2:40", n, open);
	else
		n = snprintf(body, sizeof body, "%s", open);
	return poll_reply(r, body, (size_t)n);
}

/* Finds the session of a polling request and references it; replies 400
 * and returns NULL when there is none or it does not poll. */
static sio_sock_t *poll_session(http_req_t *r, int eio, const char *sid)
{
	sio_sock_t *s;
	pthread_mutex_lock(&sio_lock);
	s = sio_find_locked(sid);
	if (s && (s->eio != eio || s->transport != T_POLL))
		s = NULL;
	if (s)
		s->refs++;
	pthread_mutex_unlock(&sio_lock);
	if (!s)
		eio_error(r, 1);
	return s;
}

/* GET: the handshake, or a long poll that takes what is queued. */
static int h_poll_get(http_req_t *r)
{
	char sid[SID_CAP + 8];
	int eio, n = 0;
	sio_sock_t *s;
	qnode_t *q = NULL, **tail = &q;
	size_t bytes = 0;
	int64_t deadline;
	const char *tail_pkt = NULL;
	sbuf_t b = {0};

	if (poll_params(r, &eio, sid, sizeof sid) != DM_OK)
		return DM_OK;
	if (!sid[0])
		return handshake(r, eio);
	if (!(s = poll_session(r, eio, sid)))
		return DM_OK;
	pthread_mutex_lock(&sio_lock);
	if (s->polling) {
		/* two polls at once: the client is broken */
		sio_mark_closing_locked(s, "overlapping polls");
		sio_unref_locked(s);
		pthread_mutex_unlock(&sio_lock);
		return eio_error(r, 3);
	}
	s->polling = 1;
	deadline = dm_mono_ms() + cfg.sio_ping_interval;
	while (s->qn == 0 && s->state == S_OPEN && s->transport == T_POLL && !s->upgrading && !dm_stopping &&
	       !sio_stopping) {
		int64_t left = deadline - dm_mono_ms();
		if (left <= 0)
			break;
		struct timespec ts = sio_mono_after(left < POLL_SLICE_MS ? left : POLL_SLICE_MS);
		pthread_cond_timedwait(&s->cv, &sio_lock, &ts);
	}
	/* take frames up to maxPayload bytes (at least one) */
	while (s->qh && (n == 0 || bytes + s->qh->b->len <= (size_t)cfg.sio_max_payload)) {
		qnode_t *x = s->qh;
		s->qh = x->next;
		if (!s->qh)
			s->qt = NULL;
		s->qn--;
		x->next = NULL;
		*tail = x;
		tail = &x->next;
		bytes += x->b->len;
		n++;
	}
	if (s->state != S_OPEN)
		tail_pkt = "1"; /* closed: tell the client */
	else if (!n)
		tail_pkt = "6"; /* nothing (upgrade, timeout, stopping): noop */
	if (s->transport == T_WS && s->qn)
		sio_ready_push_locked(s);
	s->polling = 0;
	pthread_mutex_unlock(&sio_lock);

	for (qnode_t *x = q; x; x = x->next) {
		if (eio == 3) {
			char len[24];
			snprintf(len, sizeof len, "%zu:", sio_utf16_len(x->b->data, x->b->len));
			sio_sb_str(&b, len);
		} else if (x != q)
			sio_sb_add(&b, "\x1e", 1);
		sio_sb_add(&b, x->b->data, x->b->len);
	}
	if (tail_pkt) {
		if (eio == 3)
			sio_sb_add(&b, "1:", 2);
		else if (n)
			sio_sb_add(&b, "\x1e", 1);
		sio_sb_str(&b, tail_pkt);
	}
	sio_queue_free(q);
	if (b.oom)
		http_fail_dm(r, DM_ENOMEM);
	else
		poll_reply(r, b.p, b.n);
	free(b.p);
	sio_unref(s);
	return DM_OK;
}

/* Feeds one polling packet p[0..n) (terminated temporarily). */
static int post_packet(sio_sock_t *s, char *p, size_t n)
{
	char save = p[n];
	int rc;
	p[n] = 0;
	rc = sio_eio_packet(s, p, n);
	p[n] = save;
	return rc;
}

/* POST: packets from the client. */
static int h_poll_post(http_req_t *r)
{
	char sid[SID_CAP + 8];
	int eio, rc;
	sio_sock_t *s;
	const char *ct;

	if (poll_params(r, &eio, sid, sizeof sid) != DM_OK)
		return DM_OK;
	if (!sid[0])
		return eio_error(r, 2);
	if (!(s = poll_session(r, eio, sid)))
		return DM_OK;
	ct = http_header(r, "Content-Type");
	if (ct && !strncasecmp(ct, "application/octet-stream", 24)) {
		rc = DM_EINVAL; /* a binary payload */
		goto bad;
	}
	rc = http_read_body(r, (size_t)cfg.sio_max_payload);
	if (rc != DM_OK)
		goto bad;
	if (!r->body_len || !dm_utf8_valid(r->body, r->body_len)) {
		rc = DM_EINVAL;
		goto bad;
	}
	if (eio == 4) {
		char *p = r->body, *end = r->body + r->body_len;
		while (p <= end && rc == DM_OK) {
			char *e = memchr(p, 0x1e, (size_t)(end - p));
			if (!e)
				e = end;
			rc = post_packet(s, p, (size_t)(e - p));
			p = e + 1;
		}
	} else {
		/* "<len>:<packet>" with len in UTF-16 code units */
		char *p = r->body, *end = r->body + r->body_len;
		while (p < end && rc == DM_OK) {
			size_t units = 0, want = 0, k = 0;
			char *d;
			while (p < end && isdigit((unsigned char)*p) && k < 10) {
				want = want * 10 + (size_t)(*p++ - '0');
				k++;
			}
			if (!k || p >= end || *p != ':') {
				rc = DM_EINVAL;
				break;
			}
			d = ++p;
			while (p < end && units < want) {
				unsigned char ch = (unsigned char)*p;
				units += ch >= 0xf0 ? 2 : 1;
				p += ch < 0x80 ? 1 : ch < 0xe0 ? 2 : ch < 0xf0 ? 3 : 4;
			}
			if (units != want || p > end) {
				rc = DM_EINVAL;
				break;
			}
			rc = post_packet(s, d, (size_t)(p - d));
		}
	}
	if (rc != DM_OK)
		goto bad;
	sio_unref(s);
	return http_reply_raw(r, 200, "text/html; charset=UTF-8", "Cache-Control: no-store\r\n", "ok", 2);
bad:
	pthread_mutex_lock(&sio_lock);
	sio_mark_closing_locked(s, rc == DM_ETOOBIG ? "payload too large" : "bad payload");
	pthread_mutex_unlock(&sio_lock);
	sio_unref(s);
	if (rc == DM_ETOOBIG)
		return http_fail(r, 413, "TOO_LARGE", "요청이 너무 큽니다.");
	return eio_error(r, 3);
}

static const http_route_t routes[] = {
	{"GET", "/socket.io/*", h_poll_get, HTTP_PUBLIC},
	{"POST", "/socket.io/*", h_poll_post, HTTP_PUBLIC},
	{"GET", "/socket.io", h_poll_get, HTTP_PUBLIC},
	{"POST", "/socket.io", h_poll_post, HTTP_PUBLIC},
};

/* -------------------------------------------------------- lifecycle */

void sio_transport_init(void)
{
	http_routes(routes, sizeof routes / sizeof routes[0]);
	http_on_start(on_http_start);
}
