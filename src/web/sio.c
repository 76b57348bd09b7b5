/*
 * sio.c — Engine.IO v3/v4 and Socket.IO framing over WebSocket and HTTP
 * long-polling (see sio.h): sessions, their queues, the application API,
 * the packet decoder and the reaper. Rooms and room broadcasts are in
 * sio_room.c; the transports themselves (civetweb's WebSocket handler, the
 * polling routes, the upgrade between them) in sio_transport.c; the
 * connections held on the event loop and the workers that run their
 * packets in sio_loop.c; what the four files share is declared in
 * sio_int.h.
 *
 * Design (threads, queues, numbers)
 * ---------------------------------
 * A session (sio_sock_t) has one bounded outgoing queue of Engine.IO
 * packets (cfg.sio_queue_max, default 1024). Emitting builds the packet
 * text once (a refcounted blob shared by every socket of a room broadcast)
 * and appends a node to each queue: O(1) per socket, no network I/O, so the
 * write lane's done callbacks and any worker may emit. A broadcast in which
 * each member sees their own entry (sio_room_emit_self) still shares the
 * one blob: a member's node adds a splice (that entry's bytes, taken from
 * another shared variant) and its own WebSocket header.
 *
 * The real server serves one namespace and refuses binary packets. The
 * conformance mode (conform.c) adds namespaces (a DISCONNECT then leaves
 * one namespace, not the session), binary packets (attachments collected
 * per session until the packet is whole) and an Engine.IO-level app on
 * its own path whose sessions ("raw") skip Socket.IO altogether. A socket whose queue
 * is full is disconnected (a client that does not read); what it missed is
 * in the database for its next setRoom.
 *
 * Who drains the queues: sio's event loop (sio_loop.c). civetweb does the
 * HTTP and the WebSocket handshake, then hands the connection over
 * (mg_detach); from then on no thread waits for it:
 *  - WebSocket: a socket with pending frames goes on the ready list and the
 *    loop is woken; the loop copies its frames (pre-framed once per packet:
 *    the blob holds the WebSocket header right before the text, the same
 *    bytes for every recipient) into the connection's output buffer, at
 *    most 64 KB ahead of what the kernel took, and writes them when the
 *    socket is writable. What does not fit stays queued, so a client that
 *    does not read overflows its queue and is dropped; one whose writes
 *    make no progress for 10 s is dropped too.
 *  - polling: a GET with nothing to take is parked on the loop and
 *    answered from there when frames arrive, the session closes or
 *    upgrades, or pingInterval passes.
 *  - Packets a client sends are decoded on the loop and run by sio's
 *    workers (the application's callbacks use the database), one worker
 *    per connection at a time, so a socket's packets keep their order.
 *  - The reaper thread sends v4 heartbeats, closes sessions whose
 *    heartbeat is late (pingInterval + pingTimeout), and tears closed
 *    sessions down: leaves their rooms, calls the app's on_close, drops
 *    the registry's reference. Nothing is freed inside the callback of the
 *    connection that owns it: a session is refcounted (registry, its
 *    connections on the loop, the ready list, app jobs) and freed by the
 *    last sio_unref.
 *
 * Caps (so one client cannot take the server): sessions open at once in
 * all (--sio-max-sessions), from one address (--sio-max-per-ip) and per
 * signed-in user (--sio-max-per-user); a session that has not connected to
 * the namespace and signed in within --sio-connect-timeout is closed. A
 * refusal is logged in one line naming the flag (at most one line a second
 * per cap, with a count of those not logged). A session keeps only the
 * handshake's query without Engine.IO's own parameters and its Cookie
 * header, and drops both once the namespace CONNECT was accepted.
 *
 * Closing a WebSocket from our side: teardown asks for a close frame; the
 * loop sends it and ends the connection when the client answers (or after
 * 5 s).
 *
 * Thread-safety: one mutex (sio_lock) guards every session field marked
 * "locked", the session table, the rooms and the ready list; it records
 * its holder (dm_mutex_t), and every *_locked function asserts that its
 * caller is the holder. It is never held during network I/O or an
 * application callback, except the pickers of sio_room_emit_pick
 * (documented in sio.h). Network I/O on a session's connections happens on
 * the loop thread only (and in a polling GET answered at once, on its
 * civetweb worker).
 */
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "db.h"
#include "dm.h"
#include "json.h"
#include "metrics.h"
#include "sio.h"
#include "sio_int.h"
#include "evloop.h"
#include "ws.h"

#include <mbedtls/base64.h>

#define SID_BYTES 15            /* 20 base64url characters */
#define MAX_EVENT_NAME 64
#define CAP_BUCKETS 1024
#define REAP_BATCH_MS 50
#define MAX_NSP 1024
#define MAX_ATTACH 64           /* attachments of one binary packet */

/* A binary packet (BINARY_EVENT/BINARY_ACK) waiting for its attachments:
 * its data (JSON text with placeholders) and what arrived so far. */
typedef struct sio_pend {
	int app;            /* index in apps */
	int type;           /* 5 or 6 */
	int64_t ack;
	int need, have;
	size_t bytes;       /* attachments' total, at most maxPayload */
	sio_bin_t att[MAX_ATTACH];
	size_t len;
	char data[];        /* NUL-terminated */
} pend_t;


dm_mutex_t sio_lock = DM_MUTEX_INIT;
const sio_app_t *sio_app;
const sio_eio_app_t *sio_eio_app;
/* every namespace served (apps[0] is sio_app); set before the server
 * starts, read-only after */
static const sio_app_t *apps[SIO_MAX_APPS];
static int napps;
int sio_stopping;
unsigned long long sio_dropped;
static pthread_cond_t reap_cv;
/* When the reaper will next look at the sessions by itself (mono ms,
 * locked; 0 while it is running a pass): a new session due earlier wakes
 * it, so its first heartbeat and connect deadline are kept. */
static int64_t reap_wake_at;
static sio_sock_t *by_sid[SIO_NBUCKETS];
static sio_sock_t *all_head;
static sio_sock_t *ready_head, *ready_tail;
static pthread_t reaper;
static int reaper_started, g_inited;
static sio_stats_t stats;

/* How many sessions per address / per user id (locked). */
typedef struct counter {
	struct counter *next;
	int n;
	char key[]; /* the address, or the user id in decimal */
} counter_t;
static counter_t *by_ip[CAP_BUCKETS], *by_user[CAP_BUCKETS];
static int nopen; /* sessions registered (locked) */

/* ------------------------------------------------------------ helpers */

unsigned sio_hash_str(const char *s)
{
	unsigned h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % SIO_NBUCKETS;
}

/* Locked. The counter for key in table t (created at 0 when create). */
static counter_t *counter_get_locked(counter_t **t, const char *key, int create)
{
	unsigned h = sio_hash_str(key) % CAP_BUCKETS;
	counter_t *c;
	dm_assert(dm_mutex_held(&sio_lock));
	for (c = t[h]; c; c = c->next)
		if (!strcmp(c->key, key))
			return c;
	if (!create || !(c = calloc(1, sizeof *c + strlen(key) + 1)))
		return NULL;
	strcpy(c->key, key);
	c->next = t[h];
	t[h] = c;
	return c;
}

/* Locked. One less for key, which has a counter (one counted before, or
 * one just made at 0: then it goes); the counter goes at zero. */
static void counter_dec_locked(counter_t **t, const char *key)
{
	unsigned h = sio_hash_str(key) % CAP_BUCKETS;
	dm_assert(dm_mutex_held(&sio_lock));
	for (counter_t **pp = &t[h]; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->key, key)) {
			counter_t *c = *pp;
			dm_assert(c->n >= 0);
			if (--c->n <= 0) {
				*pp = c->next;
				free(c);
			}
			return;
		}
	dm_assert(!"a counter for every key counted");
}

/* One log line for a refusal by cap kind (0 total, 1 address, 2 user, 3
 * connect timeout), at most one a second per kind; the next line says how
 * many were not logged. Thread-safe (its own lock). */
static void cap_log(int kind, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cap_log(int kind, const char *fmt, ...)
{
	static pthread_mutex_t lk = PTHREAD_MUTEX_INITIALIZER;
	static int64_t last[4];
	static unsigned long quiet[4];
	int64_t now = dm_mono_ms();
	unsigned long q = 0;
	char line[300];
	va_list ap;

	pthread_mutex_lock(&lk);
	if (last[kind] && now - last[kind] < 1000) {
		quiet[kind]++;
		pthread_mutex_unlock(&lk);
		return;
	}
	last[kind] = now;
	q = quiet[kind];
	quiet[kind] = 0;
	pthread_mutex_unlock(&lk);
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (q)
		dm_warn("%s (and %lu more like it not logged)", line, q);
	else
		dm_warn("%s", line);
}

/* The handshake query without Engine.IO's own parameters (malloc'd). */
static char *query_keep(const char *q)
{
	static const char *const eio_params[] = {"EIO", "transport", "t", "sid", "b64", "j"};
	size_t n = strlen(q);
	char *out = malloc(n + 1), *o = out;
	if (!out)
		return NULL;
	while (*q) {
		const char *amp = strchr(q, '&'), *eq;
		size_t len = amp ? (size_t)(amp - q) : strlen(q), klen;
		int drop = 0;
		eq = memchr(q, '=', len);
		klen = eq ? (size_t)(eq - q) : len;
		for (size_t i = 0; i < sizeof eio_params / sizeof eio_params[0]; i++)
			if (strlen(eio_params[i]) == klen && !memcmp(q, eio_params[i], klen))
				drop = 1;
		if (!drop && len) {
			if (o != out)
				*o++ = '&';
			memcpy(o, q, len);
			o += len;
		}
		q += len + (amp ? 1 : 0);
	}
	*o = 0;
	return out;
}

int sio_session_check(const char *ip)
{
	counter_t *c;
	int cap = -1; /* the cap that refuses (cap_log's kind), -1 none */
	dm_mutex_lock(&sio_lock);
	if (nopen >= cfg.sio_max_sessions)
		cap = 0;
	else if ((c = counter_get_locked(by_ip, ip, 0)) && c->n >= cfg.sio_max_per_ip)
		cap = 1;
	dm_mutex_unlock(&sio_lock);
	if (cap == 0)
		cap_log(0, "sio: refused a session from %s: %d open in all (--sio-max-sessions)", ip,
			cfg.sio_max_sessions);
	else if (cap == 1)
		cap_log(1, "sio: refused a session from %s: %d open from that address (--sio-max-per-ip)", ip,
			cfg.sio_max_per_ip);
	return cap < 0 ? DM_OK : DM_ERATE;
}

void sio_sb_add(sbuf_t *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->n + n + 1)
			cap *= 2;
		char *np = realloc(b->p, cap);
		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
}

void sio_sb_str(sbuf_t *b, const char *s)
{
	sio_sb_add(b, s, strlen(s));
}

_Static_assert(offsetof(blob_t, data) == offsetof(blob_t, hdr) + BLOB_HDR_MAX,
	       "a blob's WebSocket header must end where its data begins");

/* A blob of len bytes (refcount 1, framed as a text or binary message,
 * NUL at data[len]) whose data the caller fills; NULL on no memory. */
static blob_t *blob_alloc_as(size_t len, int binary)
{
	blob_t *b = malloc(sizeof *b + len + 1);
	if (!b)
		return NULL;
	unsigned char h[WS_HDR_MAX];
	atomic_init(&b->refs, 1);
	b->len = len;
	b->binary = binary != 0;
	b->hlen = (unsigned char)ws_header(h, binary ? WS_OP_BINARY : WS_OP_TEXT, len);
	memcpy(b->data - b->hlen, h, b->hlen);
	b->data[len] = 0;
	return b;
}

static blob_t *blob_alloc(size_t len)
{
	return blob_alloc_as(len, 0);
}

blob_t *sio_blob_new(const char *data, size_t len)
{
	blob_t *b = blob_alloc(len);
	if (b)
		memcpy(b->data, data, len);
	return b;
}

blob_t *sio_blob_new_bin(const void *data, size_t len)
{
	blob_t *b = blob_alloc_as(len, 1);
	if (b && len)
		memcpy(b->data, data, len);
	return b;
}

static void pend_free(pend_t *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->have; i++)
		free((void *)p->att[i].p);
	free(p);
}

void sio_blob_unref(blob_t *b)
{
	int was;
	if (!b)
		return;
	was = atomic_fetch_sub(&b->refs, 1);
	dm_assert(was > 0);
	if (was == 1)
		free(b);
}

void sio_queue_free(qnode_t *q)
{
	while (q) {
		qnode_t *nx = q->next;
		sio_blob_unref(q->b);
		if (q->sp)
			sio_blob_unref(q->sp->sub);
		free(q);
		q = nx;
	}
}

struct timespec sio_mono_after(int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

static int cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t a;
	int rc;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	rc = pthread_cond_init(cv, &a);
	pthread_condattr_destroy(&a);
	return rc == 0 ? DM_OK : DM_ERR;
}

/* --------------------------------------------------------- sessions */

static void sock_free(sio_sock_t *s)
{
	/* the last reference: no connection, nor the ready list, points here */
	dm_assert(s->refs == 0 && !s->ws && !s->probe && !s->poll && !s->ready_listed);
	sio_queue_free(s->qh);
	pend_free(s->pend);
	if (s->user_free)
		s->user_free(s->user);
	free(s->rooms);
	free(s->query);
	free(s->cookie);
	free(s);
}

/* Locked. Drops one reference; frees at zero (no callbacks but user_free,
 * which must not call sio). */
void sio_unref_locked(sio_sock_t *s)
{
	dm_assert(dm_mutex_held(&sio_lock));
	dm_assert(s->refs > 0);
	if (--s->refs == 0)
		sock_free(s);
}

void sio_ref(sio_sock_t *s)
{
	dm_mutex_lock(&sio_lock);
	dm_assert(s->refs > 0); /* only a holder of a reference takes another */
	s->refs++;
	dm_mutex_unlock(&sio_lock);
}

void sio_unref(sio_sock_t *s)
{
	if (!s)
		return;
	dm_mutex_lock(&sio_lock);
	sio_unref_locked(s);
	dm_mutex_unlock(&sio_lock);
}

sio_sock_t *sio_find_locked(const char *sid)
{
	dm_assert(dm_mutex_held(&sio_lock));
	for (sio_sock_t *s = by_sid[sio_hash_str(sid)]; s; s = s->hnext)
		if (!strcmp(s->sid, sid))
			return s;
	return NULL;
}

void sio_mark_closing_locked(sio_sock_t *s, const char *why)
{
	dm_assert(dm_mutex_held(&sio_lock));
	dm_assert(s->refs > 0);
	if (s->state != S_OPEN)
		return;
	dm_debug("sio %s: closing (%s)", s->sid, why);
	s->state = S_CLOSING;
	sio_ready_push_locked(s); /* a parked GET answers "1" */
	pthread_cond_signal(&reap_cv);
}

void sio_ready_push_locked(sio_sock_t *s)
{
	dm_assert(dm_mutex_held(&sio_lock));
	dm_assert(!ready_head == !ready_tail);
	if (s->ready_listed || (!s->ws && !s->poll))
		return;
	dm_assert(s->refs > 0);
	s->ready_listed = 1;
	s->refs++;
	s->ready_next = NULL;
	if (ready_tail)
		ready_tail->ready_next = s;
	else {
		ready_head = s;
		ev_wake(); /* the list was empty: the loop may be asleep */
	}
	ready_tail = s;
}

sio_sock_t *sio_ready_take_locked(void)
{
	sio_sock_t *s = ready_head;
	dm_assert(dm_mutex_held(&sio_lock));
	dm_assert(!ready_head == !ready_tail);
	ready_head = ready_tail = NULL;
	return s;
}

/* Locked. Appends b to s's queue, or with sub the frame made of b with
 * b's cut bytes at off replaced by sub's slen bytes at soff (references
 * taken). */
int sio_enqueue_splice_locked(sio_sock_t *s, blob_t *b, blob_t *sub, size_t off, size_t cut, size_t soff,
				 size_t slen)
{
	qnode_t *q;
	int was;
	dm_assert(dm_mutex_held(&sio_lock));
	dm_assert(!s->qh == !s->qt && !s->qh == !s->qn && s->qn >= 0);
	if (s->state != S_OPEN)
		return DM_EUNAVAIL;
	if (s->qn >= cfg.sio_queue_max) {
		sio_dropped++;
		dm_info("sio %s: %d frames queued, the client does not read: disconnecting", s->sid, s->qn);
		sio_mark_closing_locked(s, "queue overflow");
		return DM_EUNAVAIL;
	}
	q = malloc(sizeof *q + (sub ? sizeof *q->sp : 0));
	if (!q)
		return DM_ENOMEM;
	q->next = NULL;
	q->b = b;
	q->sp = NULL;
	was = atomic_fetch_add(&b->refs, 1);
	dm_assert(was > 0); /* the caller holds one */
	if (sub) {
		unsigned char h[WS_HDR_MAX];
		qsplice_t *sp = q->sp = (qsplice_t *)(q + 1);
		sp->sub = sub;
		atomic_fetch_add(&sub->refs, 1);
		sp->off = off;
		sp->cut = cut;
		sp->soff = soff;
		sp->slen = slen;
		sp->hlen = (unsigned char)ws_header(h, WS_OP_TEXT, b->len - cut + slen);
		memcpy(sp->hdr, h, sp->hlen);
	}
	if (s->qt)
		s->qt->next = q;
	else
		s->qh = q;
	s->qt = q;
	s->qn++;
	stats.frames_out++;
	sio_ready_push_locked(s);
	return DM_OK;
}

int sio_enqueue_locked(sio_sock_t *s, blob_t *b)
{
	return sio_enqueue_splice_locked(s, b, NULL, 0, 0, 0, 0);
}

qnode_t *sio_dequeue_locked(sio_sock_t *s)
{
	qnode_t *x = s->qh;
	dm_assert(dm_mutex_held(&sio_lock));
	if (!x)
		return NULL;
	s->qh = x->next;
	if (!s->qh)
		s->qt = NULL;
	s->qn--;
	dm_assert(!s->qh == !s->qn && s->qn >= 0);
	x->next = NULL;
	return x;
}

/* Queues blob b to one socket and gives up the caller's reference to it
 * (b NULL: out of memory). The status of sio_enqueue_locked. */
static int send_blob(sio_sock_t *s, blob_t *b)
{
	int rc;
	if (!b)
		return DM_ENOMEM;
	dm_mutex_lock(&sio_lock);
	rc = sio_enqueue_locked(s, b);
	dm_mutex_unlock(&sio_lock);
	sio_blob_unref(b);
	return rc;
}

/* Queues raw packet text to one socket. */
static int send_raw(sio_sock_t *s, const char *data, size_t len)
{
	return send_blob(s, sio_blob_new(data, len));
}

/* A new session, registered (the registry holds the one reference).
 * NULL on out of memory. */
sio_sock_t *sio_session_new(int eio, int raw, const char *ip, const char *query, const char *cookie, int *rc)
{
	unsigned char rnd[SID_BYTES];
	sio_sock_t *s = calloc(1, sizeof *s);
	int64_t now = dm_mono_ms();
	counter_t *c;
	unsigned h;

	*rc = DM_ENOMEM;
	if (!s)
		return NULL;
	s->query = query_keep(query ? query : "");
	s->cookie = cookie ? strdup(cookie) : NULL;
	if (dm_strlcpy(s->ip, ip ? ip : "", sizeof s->ip) != DM_OK)
		s->ip[0] = 0;
	if (!s->query || (cookie && !s->cookie) || dm_random(rnd, sizeof rnd) != DM_OK) {
		sock_free(s);
		return NULL;
	}
	dm_b64url_encode(rnd, sizeof rnd, s->sid);
	if (dm_random(rnd, sizeof rnd) != DM_OK) {
		sock_free(s);
		return NULL;
	}
	dm_b64url_encode(rnd, sizeof rnd, s->nsid);
	s->eio = eio;
	s->raw = raw;
	for (int i = 0; i < napps && !s->binary_ok; i++)
		s->binary_ok = apps[i]->binary;
	s->binary_ok = eio == 4 && (raw || s->binary_ok);
	s->state = S_OPEN;
	s->created = now;
	s->last_rx = now;
	s->ping_next = now + cfg.sio_ping_interval;
	atomic_init(&s->uid, 0);
	dm_mutex_lock(&sio_lock);
	/* the caps hold under the lock that registers */
	c = counter_get_locked(by_ip, s->ip, 1);
	if (!c || nopen >= cfg.sio_max_sessions || c->n >= cfg.sio_max_per_ip) {
		int total = nopen >= cfg.sio_max_sessions;
		if (c && !c->n)
			counter_dec_locked(by_ip, s->ip);
		dm_mutex_unlock(&sio_lock);
		if (c) {
			*rc = DM_ERATE;
			if (total)
				cap_log(0, "sio: refused a session from %s: %d open in all (--sio-max-sessions)", s->ip,
					cfg.sio_max_sessions);
			else
				cap_log(1, "sio: refused a session from %s: %d open from that address (--sio-max-per-ip)",
					s->ip, cfg.sio_max_per_ip);
		}
		sock_free(s);
		return NULL;
	}
	c->n++;
	nopen++;
	s->refs = 1; /* the registry's */
	*rc = DM_OK;
	h = sio_hash_str(s->sid);
	s->hnext = by_sid[h];
	by_sid[h] = s;
	s->all_next = all_head;
	if (all_head)
		all_head->all_prev = s;
	all_head = s;
	if (reap_wake_at && s->ping_next < reap_wake_at)
		pthread_cond_signal(&reap_cv);
	dm_mutex_unlock(&sio_lock);
	return s;
}


/* ----------------------------------------------------------- packets */

static int event_name_ok(const char *e)
{
	size_t n = 0;
	for (; *e; e++, n++)
		if (n >= MAX_EVENT_NAME || !(isalnum((unsigned char)*e) || *e == '_' || *e == '-'))
			return 0;
	return n > 0;
}

/* app's namespace as a packet names it ("/nsp,"), or NULL for "/". */
static const char *nsp_of(const sio_app_t *app)
{
	return app && strcmp(app->nsp, "/") ? app->nsp : NULL;
}

/* "4" + Socket.IO type + "/nsp," (unless "/") into b. */
static void sio_prefix(sbuf_t *b, const sio_app_t *app, char type)
{
	char t[2] = {'4', type};
	sio_sb_add(b, t, 2);
	if (nsp_of(app)) {
		sio_sb_str(b, app->nsp);
		sio_sb_add(b, ",", 1);
	}
}

/* The EVENT packet 42[/nsp,]["event",json] as a blob, built in place (one
 * allocation: a room's packet can be a 150 KB member list); NULL on bad
 * name / no memory. json is JSON text made by SQLite (never hand-built). */
blob_t *sio_event_blob(const char *event, const char *json)
{
	const char *nsp = nsp_of(sio_app);
	size_t ln = nsp ? strlen(nsp) : 0, le = strlen(event), lj = json ? strlen(json) : 0;
	size_t len = 2 + (nsp ? ln + 1 : 0) + 2 + le + 1 + (json ? 1 + lj : 0) + 1;
	blob_t *bl;
	char *p;

	if (!event_name_ok(event) || !(bl = blob_alloc(len)))
		return NULL;
	p = bl->data;
	*p++ = '4';
	*p++ = '2';
	if (nsp) {
		memcpy(p, nsp, ln);
		p += ln;
		*p++ = ',';
	}
	*p++ = '[';
	*p++ = '"';
	memcpy(p, event, le);
	p += le;
	*p++ = '"';
	if (json) {
		*p++ = ',';
		memcpy(p, json, lj);
		p += lj;
	}
	*p++ = ']';
	dm_assert(p == bl->data + len);
	return bl;
}

int sio_emit(sio_sock_t *s, const char *event, const char *json)
{
	if (!event_name_ok(event))
		return DM_EINVAL;
	return send_blob(s, sio_event_blob(event, json));
}

int sio_ack(sio_sock_t *s, int64_t ack, const char *json)
{
	sbuf_t b = {0};
	char id[24];
	int rc;
	if (ack < 0)
		return DM_EINVAL;
	sio_prefix(&b, sio_app, '3');
	snprintf(id, sizeof id, "%lld[", (long long)ack);
	sio_sb_str(&b, id);
	if (json)
		sio_sb_str(&b, json);
	sio_sb_add(&b, "]", 1);
	rc = b.oom ? DM_ENOMEM : send_raw(s, b.p, b.n);
	free(b.p);
	return rc;
}

/* Queues 4<type>[<natt>-][/nsp,][<ack>]<array> (type '2' EVENT or '3'
 * ACK; their binary kinds with attachments) and then its attachments, in
 * one hold of the lock so nothing comes between them. */
static int send_packet(sio_sock_t *s, const sio_app_t *app, char type, int64_t ack, const char *array,
		       const sio_bin_t *att, int natt)
{
	blob_t *bl[1 + MAX_ATTACH] = {0};
	sbuf_t b = {0};
	char num[24], t[2] = {'4', type};
	int rc = DM_OK, nb = 0;

	if (!app || !array || natt < 0 || natt > MAX_ATTACH || (natt && (!app->binary || s->eio != 4)))
		return DM_EINVAL;
	if (natt)
		t[1] = (char)(type + 3); /* BINARY_EVENT, BINARY_ACK */
	sio_sb_add(&b, t, 2);
	if (natt) {
		snprintf(num, sizeof num, "%d-", natt);
		sio_sb_str(&b, num);
	}
	if (nsp_of(app)) {
		sio_sb_str(&b, app->nsp);
		sio_sb_add(&b, ",", 1);
	}
	if (ack >= 0) {
		snprintf(num, sizeof num, "%lld", (long long)ack);
		sio_sb_str(&b, num);
	}
	sio_sb_str(&b, array);
	if (b.oom || !(bl[nb++] = sio_blob_new(b.p, b.n)))
		rc = DM_ENOMEM;
	for (int i = 0; i < natt && rc == DM_OK; i++)
		if (!(bl[nb++] = sio_blob_new_bin(att[i].p, att[i].len)))
			rc = DM_ENOMEM;
	if (rc == DM_OK) {
		dm_mutex_lock(&sio_lock);
		for (int i = 0; i < nb && rc == DM_OK; i++)
			if ((rc = sio_enqueue_locked(s, bl[i])) != DM_OK && i)
				sio_mark_closing_locked(s, "a binary packet without its attachments");
		dm_mutex_unlock(&sio_lock);
	}
	for (int i = 0; i < nb; i++)
		sio_blob_unref(bl[i]);
	free(b.p);
	return rc;
}

int sio_emit_all(sio_sock_t *s, const sio_app_t *app, const char *array, const sio_bin_t *att, int natt)
{
	return send_packet(s, app, '2', -1, array, att, natt);
}

int sio_ack_all(sio_sock_t *s, const sio_app_t *app, int64_t ack, const char *array, const sio_bin_t *att, int natt)
{
	return ack < 0 ? DM_EINVAL : send_packet(s, app, '3', ack, array, att, natt);
}

int sio_send(sio_sock_t *s, const void *data, size_t len, int binary)
{
	blob_t *b;
	if (!s->raw || (binary && s->eio != 4))
		return DM_EINVAL;
	if (binary)
		b = sio_blob_new_bin(data, len);
	else if ((b = blob_alloc(len + 1))) {
		b->data[0] = '4';
		memcpy(b->data + 1, data, len);
	}
	return send_blob(s, b);
}

/* ------------------------------------------------------- accessors */

void sio_set_uid(sio_sock_t *s, int64_t uid)
{
	char key[24];
	counter_t *c = NULL;
	int64_t old;

	dm_mutex_lock(&sio_lock);
	old = atomic_load(&s->uid);
	if (old == uid || s->state == S_CLOSED) {
		atomic_store(&s->uid, uid);
		dm_mutex_unlock(&sio_lock);
		return;
	}
	if (uid) {
		snprintf(key, sizeof key, "%lld", (long long)uid);
		c = counter_get_locked(by_user, key, 1);
		if (!c || c->n >= cfg.sio_max_per_user) {
			if (c && !c->n)
				counter_dec_locked(by_user, key);
			sio_mark_closing_locked(s, "too many sessions for the user");
			dm_mutex_unlock(&sio_lock);
			cap_log(2, "sio: refused a session of user %lld from %s: %d open for that user (--sio-max-per-user)",
				(long long)uid, s->ip, cfg.sio_max_per_user);
			return;
		}
	}
	if (old) {
		snprintf(key, sizeof key, "%lld", (long long)old);
		counter_dec_locked(by_user, key);
	}
	if (c)
		c->n++;
	atomic_store(&s->uid, uid);
	dm_mutex_unlock(&sio_lock);
}

int64_t sio_uid(const sio_sock_t *s)
{
	return atomic_load(&((sio_sock_t *)s)->uid);
}

void sio_set_user(sio_sock_t *s, void *user, void (*free_fn)(void *))
{
	dm_mutex_lock(&sio_lock);
	s->user = user;
	s->user_free = free_fn;
	dm_mutex_unlock(&sio_lock);
}

void *sio_user(const sio_sock_t *s)
{
	void *u;
	dm_mutex_lock(&sio_lock);
	u = s->user;
	dm_mutex_unlock(&sio_lock);
	return u;
}

const char *sio_sid(const sio_sock_t *s)
{
	return s->sid;
}

int sio_eio(const sio_sock_t *s)
{
	return s->eio;
}

void sio_close(sio_sock_t *s)
{
	dm_mutex_lock(&sio_lock);
	sio_mark_closing_locked(s, "closed by the application");
	dm_mutex_unlock(&sio_lock);
}

void sio_set_app(const sio_app_t *a)
{
	sio_app = apps[0] = a;
	napps = a ? 1 : 0;
}

int sio_add_app(const sio_app_t *a)
{
	if (!a || !a->nsp || a->nsp[0] != '/' || !napps || napps == SIO_MAX_APPS)
		return DM_EINVAL;
	for (int i = 0; i < napps; i++)
		if (!strcmp(apps[i]->nsp, a->nsp))
			return DM_EINVAL;
	apps[napps++] = a;
	return DM_OK;
}

void sio_set_eio_app(const sio_eio_app_t *a)
{
	sio_eio_app = a;
}

void sio_get_stats(sio_stats_t *out)
{
	int ws = 0;
	dm_mutex_lock(&sio_lock);
	*out = stats;
	out->dropped = sio_dropped;
	out->sessions = 0;
	for (sio_sock_t *s = all_head; s; s = s->all_next) {
		out->sessions++;
		ws += s->ws != NULL;
	}
	out->websockets = (unsigned long long)ws;
	out->senders = sio_loop_threads();
	dm_mutex_unlock(&sio_lock);
}

/* ------------------------------------------------ Socket.IO packets */

/* CONNECT_ERROR for nsp with message (JSON made by SQLite). */
static void connect_error(sio_sock_t *s, const char *nsp, const char *message)
{
	sqlite3 *db = db_reader();
	sqlite3_stmt *st;
	sbuf_t b = {0};

	if (!db)
		return;
	st = db_stmt(db, s->eio == 4 ? "SELECT json_object('message', ?1)" : "SELECT json_quote(?1)");
	if (!st)
		return;
	sqlite3_bind_text(st, 1, message, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		sio_sb_add(&b, "44", 2);
		if (strcmp(nsp, "/")) {
			sio_sb_str(&b, nsp);
			sio_sb_add(&b, ",", 1);
		}
		sio_sb_str(&b, (const char *)sqlite3_column_text(st, 0));
		if (!b.oom)
			send_raw(s, b.p, b.n);
	}
	db_done(st);
	free(b.p);
}

/* The index of the app serving nsp, or -1. */
static int app_find(const char *nsp)
{
	for (int i = 0; i < napps; i++)
		if (!strcmp(apps[i]->nsp, nsp))
			return i;
	return -1;
}

/* Locked. Whether s is connected to some namespace. */
static int connected_locked(const sio_sock_t *s)
{
	for (int i = 0; i < napps; i++)
		if (s->nsp_state[i] == 2)
			return 1;
	return 0;
}

static void do_connect(sio_sock_t *s, int ai, const char *nsp_query, const char *auth)
{
	const sio_app_t *app = apps[ai];
	sio_conninfo_t ci;
	char err[200] = "";
	char reply[MAX_NSP + 64];
	const char *nsp = nsp_of(app) ? app->nsp : "";
	int rc;

	dm_mutex_lock(&sio_lock);
	rc = s->nsp_state[ai];
	if (!rc)
		s->nsp_state[ai] = 1;
	dm_mutex_unlock(&sio_lock);
	if (rc)
		return; /* connected already (or connecting on another thread) */
	memset(&ci, 0, sizeof ci);
	ci.eio = s->eio;
	ci.query = s->query ? s->query : "";
	ci.nsp_query = nsp_query;
	ci.cookie = s->cookie;
	ci.auth = auth;
	rc = app->on_connect(s, &ci, err, sizeof err);
	if (rc != DM_OK) {
		dm_mutex_lock(&sio_lock);
		/* connecting is this thread's alone (teardown may have reset it) */
		dm_assert(s->nsp_state[ai] == 1 || s->state == S_CLOSED);
		s->nsp_state[ai] = 0;
		dm_mutex_unlock(&sio_lock);
		connect_error(s, app->nsp, err[0] ? err : "Unauthorization");
		return;
	}
	dm_mutex_lock(&sio_lock);
	dm_assert(s->nsp_state[ai] == 1 || s->state == S_CLOSED);
	s->nsp_state[ai] = 2;
	dm_mutex_unlock(&sio_lock);
	/* connected: the handshake's query and cookie are not read again
	 * (with several namespaces, the next CONNECT sees none either) */
	free(s->query);
	free(s->cookie);
	s->query = s->cookie = NULL;
	if (s->eio == 4)
		snprintf(reply, sizeof reply, "40%s%s{\"sid\":\"%s\"}", nsp, nsp[0] ? "," : "", s->nsid);
	else
		snprintf(reply, sizeof reply, "40%s%s", nsp, nsp[0] ? "," : "");
	send_raw(s, reply, strlen(reply));
	if (app->on_ready)
		app->on_ready(s);
}

/* An EVENT's data: ["name", arg?, ...] (with natt attachments) → the
 * app's on_event_all or on_event. DM_EINVAL when it is not that shape (a
 * protocol error). */
static int do_event(sio_sock_t *s, const sio_app_t *app, const char *data, size_t len, int64_t ack,
		    const sio_bin_t *att, int natt)
{
	sqlite3 *db = db_reader();
	sqlite3_stmt *st;
	int rc = DM_EINVAL;

	if (!db)
		return DM_ERR;
	if (!json_strict_ok(db, data, len))
		return DM_EINVAL;
	st = db_stmt(db, "SELECT json_type(?1) = 'array' AND json_type(?1, '$[0]') = 'text', "
			 "json_extract(?1, '$[0]'), ?1 -> '$[1]'");
	if (!st)
		return DM_ERR;
	sqlite3_bind_text(st, 1, data, (int)len, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1) {
		const char *ev = (const char *)sqlite3_column_text(st, 1);
		const char *arg = (const char *)sqlite3_column_text(st, 2);
		char name[MAX_EVENT_NAME + 1];
		rc = DM_OK;
		if (app->on_event_all) {
			db_done(st);
			app->on_event_all(s, data, att, natt, ack);
			return DM_OK;
		}
		/* names we do not know are the application's business, but an
		 * absurd one is not passed on */
		if (ev && dm_strlcpy(name, ev, sizeof name) == DM_OK) {
			char *a = arg ? strdup(arg) : NULL;
			db_done(st);
			st = NULL;
			if (arg && !a)
				return DM_ENOMEM;
			app->on_event(s, name, a, ack);
			free(a);
		}
	}
	db_done(st);
	return rc;
}

/* A complete binary packet (all its attachments arrived): a BINARY_EVENT
 * goes to the app, a BINARY_ACK answers nothing we asked. Frees p. */
static int pend_done(sio_sock_t *s, pend_t *p)
{
	int rc = DM_OK;
	if (p->type == 5)
		rc = do_event(s, apps[p->app], p->data, p->len, p->ack, p->att, p->have);
	pend_free(p);
	return rc;
}

/* The client of s was heard from just now: its liveness clock restarts
 * and, in v4, anything it sends answers a pending ping. 1 if s is open
 * (a closing session's packets are dropped). */
static int heard(sio_sock_t *s)
{
	int open;
	dm_mutex_lock(&sio_lock);
	s->last_rx = dm_mono_ms();
	if (s->ping_sent) {
		s->ping_sent = 0;
		s->ping_next = s->last_rx + cfg.sio_ping_interval;
	}
	open = s->state == S_OPEN;
	dm_mutex_unlock(&sio_lock);
	return open;
}

/* One Socket.IO packet (after the Engine.IO "4"), NUL-terminated at p[n]:
 * <type>[<attachments>-][/nsp,][<ack id>][data]. DM_OK, or an error: the
 * session is closed (protocol error). */
static int sio_packet(sio_sock_t *s, const char *p, size_t n)
{
	size_t i = 1;
	char nsp[MAX_NSP] = "/";
	const char *nq = NULL;
	int64_t ack = -1;
	int type, state, ai, natt = -1;

	if (n < 1 || p[0] < '0' || p[0] > '6')
		return DM_EINVAL;
	if (s->pend) /* text where an attachment was due */
		return DM_EINVAL;
	type = p[0] - '0';
	if (type == 5 || type == 6) {
		size_t st = i;
		natt = 0;
		while (i < n && isdigit((unsigned char)p[i]) && natt <= MAX_ATTACH)
			natt = natt * 10 + (p[i++] - '0');
		if (i == st || i >= n || p[i] != '-' || natt > MAX_ATTACH) {
			dm_info("sio %s: binary packet refused (bad attachment count)", s->sid);
			return DM_EINVAL;
		}
		i++;
	}
	if (i < n && p[i] == '/') {
		size_t st = i;
		while (i < n && p[i] != ',')
			i++;
		if (i - st >= sizeof nsp)
			return DM_EINVAL;
		memcpy(nsp, p + st, i - st);
		nsp[i - st] = 0;
		if (i < n)
			i++;
		char *q = strchr(nsp, '?');
		if (q) {
			*q = 0;
			nq = q + 1;
		}
	}
	if (i < n && isdigit((unsigned char)p[i])) {
		size_t st = i;
		ack = 0;
		while (i < n && isdigit((unsigned char)p[i])) {
			if (i - st >= 15)
				return DM_EINVAL;
			ack = ack * 10 + (p[i] - '0');
			i++;
		}
	}
	if (!sio_app)
		return DM_OK;
	ai = app_find(nsp);
	if (natt >= 0 && (ai < 0 || !apps[ai]->binary || !s->binary_ok)) {
		dm_info("sio %s: binary packet refused", s->sid);
		return DM_EINVAL;
	}
	dm_mutex_lock(&sio_lock);
	state = ai >= 0 ? s->nsp_state[ai] : 0;
	dm_mutex_unlock(&sio_lock);
	switch (type) {
	case 0: /* CONNECT */
		if (ai < 0) {
			if (strcmp(nsp, "/") || s->eio == 4)
				connect_error(s, nsp, "Invalid namespace");
			return DM_OK; /* v3: "/" is connected on open */
		}
		if (s->eio == 4 && i < n) {
			sqlite3 *db = db_reader();
			if (!db || !json_strict_ok(db, p + i, n - i)) {
				connect_error(s, nsp, "Invalid auth payload");
				return DM_OK;
			}
			do_connect(s, ai, NULL, p + i);
		} else
			do_connect(s, ai, nq, NULL);
		return DM_OK;
	case 1: /* DISCONNECT */
		if (ai >= 0 && state == 2) {
			dm_mutex_lock(&sio_lock);
			if (napps == 1) /* nothing else to connect to */
				sio_mark_closing_locked(s, "namespace disconnect");
			else
				s->nsp_state[ai] = 0;
			dm_mutex_unlock(&sio_lock);
			if (napps > 1 && apps[ai]->on_close)
				apps[ai]->on_close(s);
		}
		return DM_OK;
	case 2: /* EVENT */
	case 3: /* ACK */
	case 5: /* BINARY_EVENT */
	case 6: /* BINARY_ACK */
		if (ai < 0 || state != 2) {
			/* not connected there: the protocol says the server
			 * MUST close (v3's "/", connected on open, excepted) */
			if (s->eio == 3 && !strcmp(nsp, "/"))
				return DM_OK;
			dm_info("sio %s: packet type %d before CONNECT on %s: closed", s->sid, type, nsp);
			return DM_EINVAL;
		}
		if (i >= n)
			return DM_EINVAL;
		if (natt > 0) {
			pend_t *pd;
			sqlite3 *db = db_reader();
			if (!db || !json_strict_ok(db, p + i, n - i))
				return DM_EINVAL;
			if (!(pd = calloc(1, sizeof *pd + (n - i) + 1)))
				return DM_ENOMEM;
			pd->app = ai;
			pd->type = type;
			pd->ack = ack;
			pd->need = natt;
			pd->len = n - i;
			memcpy(pd->data, p + i, n - i);
			s->pend = pd;
			return DM_OK;
		}
		if (type == 3 || type == 6) /* an answer to an ack we never ask for */
			return DM_OK;
		return do_event(s, apps[ai], p + i, n - i, ack, NULL, 0);
	default: /* CONNECT_ERROR from a client: nothing to do */
		return DM_OK;
	}
}

int sio_eio_binary(sio_sock_t *s, const char *p, size_t n)
{
	pend_t *pd = s->pend;
	void *copy;

	if (!s->binary_ok) {
		dm_info("sio %s: binary packet refused", s->sid);
		return DM_EINVAL;
	}
	if (!heard(s))
		return DM_OK;
	if (s->raw) {
		sio_eio_app->on_message(s, p, n, 1);
		return DM_OK;
	}
	if (!pd || pd->bytes + n > (size_t)cfg.sio_max_payload) /* no packet wants it, or too much */
		return DM_EINVAL;
	if (!(copy = malloc(n ? n : 1)))
		return DM_ENOMEM;
	memcpy(copy, p, n);
	pd->att[pd->have].p = copy;
	pd->att[pd->have].len = n;
	pd->have++;
	pd->bytes += n;
	if (pd->have < pd->need)
		return DM_OK;
	s->pend = NULL;
	return pend_done(s, pd);
}

/* A "b" packet: base64 of a binary packet (v4 polling). */
static int eio_b64_packet(sio_sock_t *s, const char *p, size_t n)
{
	size_t out = 0;
	unsigned char *buf;
	int rc;
	if (!s->binary_ok) {
		dm_info("sio %s: binary packet refused", s->sid);
		return DM_EINVAL;
	}
	if (!(buf = malloc(n / 4 * 3 + 3)))
		return DM_ENOMEM;
	if (mbedtls_base64_decode(buf, n / 4 * 3 + 3, &out, (const unsigned char *)p, n) != 0)
		rc = DM_EINVAL;
	else
		rc = sio_eio_binary(s, (const char *)buf, out);
	free(buf);
	return rc;
}

/* One Engine.IO packet from the session's transport, NUL-terminated at
 * p[n]. DM_OK or an error (close the session). */
int sio_eio_packet(sio_sock_t *s, const char *p, size_t n)
{
	/* the application's callbacks use the database: never on the loop */
	dm_assert(!ev_on_loop());
	if (n < 1)
		return DM_EINVAL;
	if (p[0] == 'b')
		return eio_b64_packet(s, p + 1, n - 1);
	if (!heard(s))
		return DM_OK;
	switch (p[0]) {
	case '1': /* close */
		dm_mutex_lock(&sio_lock);
		s->client_closed = 1; /* a waiting GET gets a noop, not "1" */
		sio_mark_closing_locked(s, "client close");
		dm_mutex_unlock(&sio_lock);
		return DM_OK;
	case '2': { /* ping (v3 heartbeat): pong with the same data */
		char *pong = malloc(n + 1);
		if (!pong)
			return DM_ENOMEM;
		memcpy(pong, p, n + 1);
		pong[0] = '3';
		send_raw(s, pong, n);
		free(pong);
		return DM_OK;
	}
	case '3': /* pong (v4 heartbeat): noted above */
	case '5': /* upgrade on the session itself: nothing to do */
	case '6': /* noop */
		return DM_OK;
	case '4':
		if (s->raw) {
			sio_eio_app->on_message(s, p + 1, n - 1, 0);
			return DM_OK;
		}
		return sio_packet(s, p + 1, n - 1);
	default: /* garbage */
		return DM_EINVAL;
	}
}

/* ----------------------------------------------------------- reaper */

/* Reaper thread. Tears s down (s referenced by the caller): out of the
 * table and rooms, queue dropped, a close frame asked for, on_close. */
static void teardown(sio_sock_t *s)
{
	int was[SIO_MAX_APPS] = {0};
	qnode_t *q;

	dm_mutex_lock(&sio_lock);
	if (s->state == S_CLOSED) {
		dm_mutex_unlock(&sio_lock);
		return;
	}
	s->state = S_CLOSED;
	counter_dec_locked(by_ip, s->ip);
	dm_assert(nopen > 0);
	nopen--;
	if (atomic_load(&s->uid)) {
		char key[24];
		snprintf(key, sizeof key, "%lld", (long long)atomic_load(&s->uid));
		counter_dec_locked(by_user, key);
	}
	for (sio_sock_t **pp = &by_sid[sio_hash_str(s->sid)]; *pp; pp = &(*pp)->hnext)
		if (*pp == s) {
			*pp = s->hnext;
			break;
		}
	if (s->all_prev)
		s->all_prev->all_next = s->all_next;
	else
		all_head = s->all_next;
	if (s->all_next)
		s->all_next->all_prev = s->all_prev;
	while (s->nrooms)
		sio_room_remove_locked(s->rooms[0], s);
	q = s->qh;
	s->qh = s->qt = NULL;
	s->qn = 0;
	for (int i = 0; i < napps; i++) {
		was[i] = s->nsp_state[i] == 2;
		s->nsp_state[i] = 0;
	}
	if (s->ws)
		s->want_close = 1;
	sio_ready_push_locked(s); /* the close frame, or "1" to a parked GET */
	dm_mutex_unlock(&sio_lock);
	sio_queue_free(q);
	for (int i = 0; i < napps; i++)
		if (was[i] && apps[i]->on_close)
			apps[i]->on_close(s);
	sio_unref(s); /* the registry's reference */
}

int sio_overdue_locked(const sio_sock_t *s, int64_t now)
{
	if (s->eio == 3)
		return now > s->last_rx + cfg.sio_ping_interval + cfg.sio_ping_timeout;
	return s->ping_sent && now >= s->ping_sent + cfg.sio_ping_timeout;
}

/* Locked. Heartbeats of one open session; lowers *next to when it needs
 * looking at again. */
static void heartbeat_locked(sio_sock_t *s, int64_t now, int64_t *next)
{
	int64_t pi = cfg.sio_ping_interval, pt = cfg.sio_ping_timeout, due;

	dm_assert(dm_mutex_held(&sio_lock));
	dm_assert(s->state == S_OPEN);

	if (!s->raw && (!connected_locked(s) || !atomic_load(&s->uid))) {
		due = s->created + cfg.sio_connect_timeout;
		if (now > due) {
			cap_log(3, "sio %s: closed: not connected and signed in after %d ms (--sio-connect-timeout), from %s",
				s->sid, cfg.sio_connect_timeout, s->ip);
			sio_mark_closing_locked(s, "connect timeout");
			return;
		}
		if (due + 1 < *next)
			*next = due + 1;
	}
	if (s->eio == 3) {
		/* the client pings every pingInterval */
		due = s->last_rx + pi + pt;
		if (now > due) {
			sio_mark_closing_locked(s, "ping timeout");
			return;
		}
	} else if (s->ping_sent) {
		due = s->ping_sent + pt;
		if (now > due) {
			sio_mark_closing_locked(s, "pong timeout");
			return;
		}
	} else if (now >= s->ping_next) {
		blob_t *b = sio_blob_new("2", 1);
		if (b) {
			/* the timeout counts from when the ping was due, as
			 * the client's own deadline does (a late pass must not
			 * push the close past pingInterval + pingTimeout) */
			s->ping_sent = s->ping_next;
			sio_enqueue_locked(s, b);
			sio_blob_unref(b);
		}
		due = b ? s->ping_sent + pt : now + REAP_BATCH_MS;
	} else
		due = s->ping_next;
	if (due + 1 < *next)
		*next = due + 1;
}

static void *reaper_main(void *unused)
{
	(void)unused;
	dm_mutex_lock(&sio_lock);
	while (!sio_stopping) {
		int64_t now = dm_mono_ms(), next = now + 1000;
		sio_sock_t *dead = NULL;

		for (sio_sock_t *s = all_head; s; s = s->all_next) {
			if (s->state == S_OPEN)
				heartbeat_locked(s, now, &next);
			if (s->state == S_CLOSING) {
				s->refs++;
				s->reap_next = dead;
				dead = s;
			}
		}
		if (dead) {
			dm_mutex_unlock(&sio_lock);
			while (dead) {
				sio_sock_t *s = dead;
				dead = s->reap_next;
				teardown(s);
				sio_unref(s);
			}
			dm_mutex_lock(&sio_lock);
			continue;
		}
		/* heartbeats fall due one session at a time: one pass over
		 * every session serves all that fall due within REAP_BATCH_MS
		 * (closing sessions signal reap_cv and are not delayed) */
		if (next < now + REAP_BATCH_MS)
			next = now + REAP_BATCH_MS;
		struct timespec ts = sio_mono_after(next - now);
		reap_wake_at = next;
		dm_cond_wait(&reap_cv, &sio_lock, &ts);
		reap_wake_at = 0;
	}
	dm_mutex_unlock(&sio_lock);
	db_thread_exit();
	return NULL;
}

/* -------------------------------------------------------- lifecycle */

/* sio's figures for GET /metrics, read from one sio_get_stats snapshot. */
static const metrics_def_t sio_metrics[] = {
	{"dongmul_sio_sessions", METRICS_GAUGE},
	{"dongmul_sio_websockets", METRICS_GAUGE},
	{"dongmul_sio_frames_out_total", METRICS_COUNTER},
	{"dongmul_sio_dropped_total", METRICS_COUNTER},
	{"dongmul_sio_senders", METRICS_GAUGE},
};

static void sio_metrics_read(unsigned long long *v)
{
	sio_stats_t ss;
	sio_get_stats(&ss);
	v[0] = ss.sessions;
	v[1] = ss.websockets;
	v[2] = ss.frames_out;
	v[3] = ss.dropped;
	v[4] = (unsigned long long)ss.senders;
}

int sio_init(void)
{
	if (cond_init_mono(&reap_cv) != DM_OK)
		return DM_ERR;
	g_inited = 1;
	if (metrics_add(sio_metrics, sizeof sio_metrics / sizeof sio_metrics[0], sio_metrics_read) != DM_OK)
		return DM_ERR;
	sio_transport_init();
	sio_stopping = 0;
	if (pthread_create(&reaper, NULL, reaper_main, NULL) != 0)
		return DM_ERR;
	reaper_started = 1;
	return sio_loop_start();
}

/* Drops what is left on the ready list (at stop: the loop is gone). */
static void ready_drop(void)
{
	sio_sock_t *s, *next;
	dm_mutex_lock(&sio_lock);
	for (s = sio_ready_take_locked(); s; s = next) {
		next = s->ready_next;
		dm_assert(s->ready_listed);
		s->ready_listed = 0;
		sio_unref_locked(s);
	}
	dm_mutex_unlock(&sio_lock);
}

/* After HTTP stopped: stops the threads, closes the connections on the
 * loop, tears every session down (on_close for each), frees everything. */
void sio_stop(void)
{
	if (!g_inited)
		return;
	dm_mutex_lock(&sio_lock);
	sio_stopping = 1;
	pthread_cond_broadcast(&reap_cv);
	dm_mutex_unlock(&sio_lock);
	if (reaper_started)
		pthread_join(reaper, NULL);
	reaper_started = 0;
	sio_loop_stop();
	/* what the loop did not take */
	ready_drop();
	for (;;) {
		sio_sock_t *s;
		dm_mutex_lock(&sio_lock);
		s = all_head;
		if (s)
			s->refs++;
		dm_mutex_unlock(&sio_lock);
		if (!s)
			break;
		teardown(s);
		sio_unref(s);
	}
	/* teardown asked the loop for close frames: nobody is connected now */
	ready_drop();
	pthread_cond_destroy(&reap_cv);
	g_inited = 0;
}
