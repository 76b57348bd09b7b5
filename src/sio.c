/*
 * sio.c — Engine.IO v3/v4 and Socket.IO framing over WebSocket and HTTP
 * long-polling (see sio.h).
 *
 * Design (threads, queues, numbers)
 * ---------------------------------
 * A session (sio_sock_t) has one bounded outgoing queue of Engine.IO
 * packets (cfg.sio_queue_max, default 1024). Emitting builds the packet
 * text once (a refcounted blob shared by every socket of a room broadcast)
 * and appends a node to each queue: O(1) per socket, no network I/O, so the
 * write lane's done callbacks and any worker may emit. A socket whose queue
 * is full is disconnected (a client that does not read); what it missed is
 * in the database for its next setRoom.
 *
 * Who drains the queues:
 *  - polling: the waiting GET of that session (a civetweb worker) takes
 *    what is queued (up to cfg.sio_max_payload bytes) and replies;
 *  - WebSocket: the connection's worker sits in civetweb's read loop, so
 *    a pool of sender threads writes instead. A socket with pending frames
 *    goes on the ready list; a sender takes it, marks it busy (one sender
 *    per socket at a time, so a socket's frames keep their order), writes
 *    its frames with mg_websocket_write outside the lock, and puts it back
 *    if more arrived. 4 senders start; the reaper starts another (up to 32)
 *    when every sender has been inside one write for more than 500 ms while
 *    other sockets wait, so a few stuck clients cannot stall the rest. A
 *    write still unfinished after 10 s closes that socket (nothing more is
 *    written to it); civetweb's own write timeout (request_timeout_ms,
 *    30 s) then frees the sender. Over TLS, mg_websocket_write from a
 *    sender is safe against the worker's concurrent read thanks to
 *    vendor/patches/civetweb-0003-tls-lock.patch.
 *  - The reaper thread sends v4 heartbeats, closes sessions whose
 *    heartbeat is late (pingInterval + pingTimeout), and tears closed
 *    sessions down: leaves their rooms, calls the app's on_close, drops
 *    the registry's reference. Nothing is freed inside the callback of the
 *    connection that owns it: a session is refcounted (registry, its
 *    WebSocket connection, a waiting poll, a sender, the ready list, app
 *    jobs) and freed by the last sio_unref.
 *
 * Closing a WebSocket from our side: civetweb has no call for it, so a
 * sender writes a close frame; the client answers with its own, the data
 * handler returns 0 and civetweb ends the connection. Until the client
 * answers, the data handler refuses every frame of a closed session.
 *
 * Thread-safety: one mutex (g_lock) guards every session field marked
 * "locked", the session table, the rooms and the ready list. It is never
 * held during network I/O or an application callback, except the pickers of
 * sio_room_emit_pick (documented in sio.h). Network writes happen only in
 * senders (WebSocket), in the poll GET (polling) and in a connection's own
 * data handler (probe answers, WebSocket pongs).
 */
#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <civetweb.h>

#include "config.h"
#include "db.h"
#include "dm.h"
#include "http.h"
#include "json.h"
#include "sio.h"

#define SID_BYTES 15            /* 20 base64url characters */
#define SID_CAP 24
#define NBUCKETS 4096
#define SENDERS_BASE 4
#define SENDERS_MAX 32
#define SLOW_WRITE_MS 500
#define WRITE_DEADLINE_MS 10000
#define POLL_SLICE_MS 200
#define MAX_EVENT_NAME 64
#define MAX_NSP 1024

enum { S_OPEN, S_CLOSING, S_CLOSED };
enum { T_POLL, T_WS };

/* A packet's text, shared by every queue it is in. */
typedef struct blob {
	atomic_int refs;
	size_t len;
	char data[];
} blob_t;

typedef struct qnode {
	struct qnode *next;
	blob_t *b;
} qnode_t;

typedef struct room {
	struct room *hnext;
	char *name;
	sio_sock_t **m;
	int n, cap;
} room_t;

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

/* per WebSocket connection (mg user connection data) */
typedef struct wsconn {
	sio_sock_t *s;           /* holds a reference */
	int probe;               /* still probing the upgrade */
	char *frag;              /* a fragmented message being reassembled */
	size_t fraglen;
} wsconn_t;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t send_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t ws_cv = PTHREAD_COND_INITIALIZER;   /* a write ended */
static pthread_cond_t reap_cv;
static const sio_app_t *app;
static sio_sock_t *by_sid[NBUCKETS];
static sio_sock_t *all_head;
static room_t *rooms[NBUCKETS];
static sio_sock_t *ready_head, *ready_tail;
static pthread_t senders[SENDERS_MAX];
static int nsenders;
static pthread_t reaper;
static int reaper_started, g_stop, g_inited;
static sio_stats_t stats;

/* ------------------------------------------------------------ helpers */

static unsigned hash_str(const char *s)
{
	unsigned h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % NBUCKETS;
}

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

/* A growable byte buffer. */
typedef struct sbuf {
	char *p;
	size_t n, cap;
	int oom;
} sbuf_t;

static void sb_add(sbuf_t *b, const char *s, size_t n)
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

static void sb_str(sbuf_t *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static blob_t *blob_new(const char *data, size_t len)
{
	blob_t *b = malloc(sizeof *b + len + 1);
	if (!b)
		return NULL;
	atomic_init(&b->refs, 1);
	b->len = len;
	memcpy(b->data, data, len);
	b->data[len] = 0;
	return b;
}

static void blob_unref(blob_t *b)
{
	if (b && atomic_fetch_sub(&b->refs, 1) == 1)
		free(b);
}

/* Absolute CLOCK_MONOTONIC time ms from now (for condvars set to it). */
static struct timespec mono_after(int64_t ms)
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
	qnode_t *q = s->qh;
	while (q) {
		qnode_t *nx = q->next;
		blob_unref(q->b);
		free(q);
		q = nx;
	}
	if (s->user_free)
		s->user_free(s->user);
	pthread_cond_destroy(&s->cv);
	free(s->rooms);
	free(s->query);
	free(s->cookie);
	free(s);
}

/* Locked. Drops one reference; frees at zero (no callbacks but user_free,
 * which must not call sio). */
static void unref_locked(sio_sock_t *s)
{
	if (--s->refs == 0)
		sock_free(s);
}

void sio_ref(sio_sock_t *s)
{
	pthread_mutex_lock(&g_lock);
	s->refs++;
	pthread_mutex_unlock(&g_lock);
}

void sio_unref(sio_sock_t *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&g_lock);
	unref_locked(s);
	pthread_mutex_unlock(&g_lock);
}

static sio_sock_t *find_locked(const char *sid)
{
	for (sio_sock_t *s = by_sid[hash_str(sid)]; s; s = s->hnext)
		if (!strcmp(s->sid, sid))
			return s;
	return NULL;
}

static void mark_closing_locked(sio_sock_t *s, const char *why)
{
	if (s->state != S_OPEN)
		return;
	dm_debug("sio %s: closing (%s)", s->sid, why);
	s->state = S_CLOSING;
	pthread_cond_broadcast(&s->cv);
	pthread_cond_signal(&reap_cv);
}

static void ready_push_locked(sio_sock_t *s)
{
	if (s->ready_listed || s->sending || !s->ws)
		return;
	s->ready_listed = 1;
	s->refs++;
	s->ready_next = NULL;
	if (ready_tail)
		ready_tail->ready_next = s;
	else
		ready_head = s;
	ready_tail = s;
	pthread_cond_signal(&send_cv);
}

/* Locked. Appends blob b (its own reference taken) to s's queue. */
static int enqueue_locked(sio_sock_t *s, blob_t *b)
{
	qnode_t *q;
	if (s->state != S_OPEN)
		return DM_EUNAVAIL;
	if (s->qn >= cfg.sio_queue_max) {
		stats.dropped++;
		dm_info("sio %s: %d frames queued, the client does not read: disconnecting", s->sid, s->qn);
		mark_closing_locked(s, "queue overflow");
		return DM_EUNAVAIL;
	}
	q = malloc(sizeof *q);
	if (!q)
		return DM_ENOMEM;
	q->next = NULL;
	q->b = b;
	atomic_fetch_add(&b->refs, 1);
	if (s->qt)
		s->qt->next = q;
	else
		s->qh = q;
	s->qt = q;
	s->qn++;
	stats.frames_out++;
	if (s->transport == T_WS)
		ready_push_locked(s);
	else
		pthread_cond_broadcast(&s->cv);
	return DM_OK;
}

/* Queues raw packet text to one socket. */
static int send_raw(sio_sock_t *s, const char *data, size_t len)
{
	blob_t *b = blob_new(data, len);
	int rc;
	if (!b)
		return DM_ENOMEM;
	pthread_mutex_lock(&g_lock);
	rc = enqueue_locked(s, b);
	pthread_mutex_unlock(&g_lock);
	blob_unref(b);
	return rc;
}

/* A new session, registered (the registry holds the one reference).
 * NULL on out of memory. */
static sio_sock_t *session_new(int eio, const char *query, const char *cookie)
{
	unsigned char rnd[SID_BYTES];
	sio_sock_t *s = calloc(1, sizeof *s);
	int64_t now = dm_mono_ms();
	unsigned h;

	if (!s)
		return NULL;
	if (cond_init_mono(&s->cv) != DM_OK) {
		free(s);
		return NULL;
	}
	s->query = strdup(query ? query : "");
	s->cookie = cookie ? strdup(cookie) : NULL;
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
	s->refs = 1;
	s->state = S_OPEN;
	s->last_rx = now;
	s->ping_next = now + cfg.sio_ping_interval;
	atomic_init(&s->uid, 0);
	pthread_mutex_lock(&g_lock);
	h = hash_str(s->sid);
	s->hnext = by_sid[h];
	by_sid[h] = s;
	s->all_next = all_head;
	if (all_head)
		all_head->all_prev = s;
	all_head = s;
	pthread_mutex_unlock(&g_lock);
	return s;
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

/* ------------------------------------------------------------- rooms */

static room_t *room_get_locked(const char *name, int create)
{
	unsigned h = hash_str(name);
	room_t *r;
	for (r = rooms[h]; r; r = r->hnext)
		if (!strcmp(r->name, name))
			return r;
	if (!create)
		return NULL;
	r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->name = strdup(name);
	if (!r->name) {
		free(r);
		return NULL;
	}
	r->hnext = rooms[h];
	rooms[h] = r;
	return r;
}

static void room_free_if_empty_locked(room_t *r)
{
	room_t **pp;
	if (r->n)
		return;
	for (pp = &rooms[hash_str(r->name)]; *pp; pp = &(*pp)->hnext)
		if (*pp == r) {
			*pp = r->hnext;
			break;
		}
	free(r->m);
	free(r->name);
	free(r);
}

/* Locked. Removes s from r (both sides). */
static void room_remove_locked(room_t *r, sio_sock_t *s)
{
	for (int i = 0; i < r->n; i++)
		if (r->m[i] == s) {
			r->m[i] = r->m[--r->n];
			break;
		}
	for (int i = 0; i < s->nrooms; i++)
		if (s->rooms[i] == r) {
			s->rooms[i] = s->rooms[--s->nrooms];
			break;
		}
	room_free_if_empty_locked(r);
}

int sio_join(sio_sock_t *s, const char *room)
{
	room_t *r;
	int rc = DM_OK;
	pthread_mutex_lock(&g_lock);
	if (s->state != S_OPEN) {
		rc = DM_EUNAVAIL;
		goto done;
	}
	for (int i = 0; i < s->nrooms; i++)
		if (!strcmp(s->rooms[i]->name, room))
			goto done;
	r = room_get_locked(room, 1);
	if (!r) {
		rc = DM_ENOMEM;
		goto done;
	}
	if (r->n == r->cap) {
		int cap = r->cap ? r->cap * 2 : 8;
		sio_sock_t **m = realloc(r->m, (size_t)cap * sizeof *m);
		if (!m) {
			rc = DM_ENOMEM;
			room_free_if_empty_locked(r);
			goto done;
		}
		r->m = m;
		r->cap = cap;
	}
	if (s->nrooms == s->caprooms) {
		int cap = s->caprooms ? s->caprooms * 2 : 4;
		room_t **rr = realloc(s->rooms, (size_t)cap * sizeof *rr);
		if (!rr) {
			rc = DM_ENOMEM;
			room_free_if_empty_locked(r);
			goto done;
		}
		s->rooms = rr;
		s->caprooms = cap;
	}
	r->m[r->n++] = s;
	s->rooms[s->nrooms++] = r;
done:
	pthread_mutex_unlock(&g_lock);
	return rc;
}

int sio_leave(sio_sock_t *s, const char *room)
{
	pthread_mutex_lock(&g_lock);
	for (int i = 0; i < s->nrooms; i++)
		if (!strcmp(s->rooms[i]->name, room)) {
			room_remove_locked(s->rooms[i], s);
			break;
		}
	pthread_mutex_unlock(&g_lock);
	return DM_OK;
}

int sio_in_room(sio_sock_t *s, const char *room)
{
	int in = 0;
	pthread_mutex_lock(&g_lock);
	for (int i = 0; i < s->nrooms && !in; i++)
		in = !strcmp(s->rooms[i]->name, room);
	pthread_mutex_unlock(&g_lock);
	return in;
}

int sio_room_size(const char *room)
{
	room_t *r;
	int n;
	pthread_mutex_lock(&g_lock);
	r = room_get_locked(room, 0);
	n = r ? r->n : 0;
	pthread_mutex_unlock(&g_lock);
	return n;
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

/* "4" + Socket.IO type + "/nsp," (unless "/") into b. */
static void sio_prefix(sbuf_t *b, char type)
{
	char t[2] = {'4', type};
	sb_add(b, t, 2);
	if (app && strcmp(app->nsp, "/")) {
		sb_str(b, app->nsp);
		sb_add(b, ",", 1);
	}
}

/* The EVENT packet ["event",json] as a blob; NULL on bad name / no memory.
 * json is JSON text made by SQLite (never hand-built). */
static blob_t *event_blob(const char *event, const char *json)
{
	sbuf_t b = {0};
	blob_t *bl = NULL;
	if (!event_name_ok(event))
		return NULL;
	sio_prefix(&b, '2');
	sb_add(&b, "[\"", 2);
	sb_str(&b, event);
	sb_add(&b, "\"", 1);
	if (json) {
		sb_add(&b, ",", 1);
		sb_str(&b, json);
	}
	sb_add(&b, "]", 1);
	if (!b.oom)
		bl = blob_new(b.p, b.n);
	free(b.p);
	return bl;
}

int sio_emit(sio_sock_t *s, const char *event, const char *json)
{
	blob_t *b;
	int rc;
	if (!event_name_ok(event))
		return DM_EINVAL;
	b = event_blob(event, json);
	if (!b)
		return DM_ENOMEM;
	pthread_mutex_lock(&g_lock);
	rc = enqueue_locked(s, b);
	pthread_mutex_unlock(&g_lock);
	blob_unref(b);
	return rc;
}

int sio_ack(sio_sock_t *s, int64_t ack, const char *json)
{
	sbuf_t b = {0};
	char id[24];
	int rc;
	if (ack < 0)
		return DM_EINVAL;
	sio_prefix(&b, '3');
	snprintf(id, sizeof id, "%lld[", (long long)ack);
	sb_str(&b, id);
	if (json)
		sb_str(&b, json);
	sb_add(&b, "]", 1);
	rc = b.oom ? DM_ENOMEM : send_raw(s, b.p, b.n);
	free(b.p);
	return rc;
}

int sio_room_emit_pick(const char *room, const char *event, const char *const *json, int n, sio_pick_fn pick,
		       void *arg)
{
	blob_t *bl[8] = {0};
	room_t *r;
	int sent = 0;

	if (n < 1 || n > 8 || !event_name_ok(event))
		return 0;
	for (int i = 0; i < n; i++)
		if (!(bl[i] = event_blob(event, json[i])))
			goto done;
	pthread_mutex_lock(&g_lock);
	r = room_get_locked(room, 0);
	/* enqueue may close a socket (overflow) but never changes rooms */
	for (int i = 0; r && i < r->n; i++) {
		int v = pick ? pick(r->m[i], arg) : 0;
		if (v >= 0 && v < n && enqueue_locked(r->m[i], bl[v]) == DM_OK)
			sent++;
	}
	pthread_mutex_unlock(&g_lock);
done:
	for (int i = 0; i < n; i++)
		blob_unref(bl[i]);
	return sent;
}

int sio_room_emit(const char *room, const char *event, const char *json)
{
	return sio_room_emit_pick(room, event, &json, 1, NULL, NULL);
}

static int pick_except(const sio_sock_t *s, void *arg)
{
	return s == arg ? -1 : 0;
}

int sio_room_emit_except(const char *room, const sio_sock_t *except, const char *event, const char *json)
{
	return sio_room_emit_pick(room, event, &json, 1, pick_except, (void *)except);
}

int sio_room_leave_pick(const char *room, sio_pick_fn pick, void *arg)
{
	room_t *r;
	int left = 0;
	pthread_mutex_lock(&g_lock);
	r = room_get_locked(room, 0);
	while (r) {
		int i, n = r->n;
		for (i = 0; i < n; i++)
			if (pick(r->m[i], arg) == 1)
				break;
		if (i == n)
			break;
		left++;
		/* removing the last member frees the room */
		room_remove_locked(r, r->m[i]);
		if (n == 1)
			break;
	}
	pthread_mutex_unlock(&g_lock);
	return left;
}

/* ------------------------------------------------------- accessors */

void sio_set_uid(sio_sock_t *s, int64_t uid)
{
	atomic_store(&s->uid, uid);
}

int64_t sio_uid(const sio_sock_t *s)
{
	return atomic_load(&((sio_sock_t *)s)->uid);
}

void sio_set_user(sio_sock_t *s, void *user, void (*free_fn)(void *))
{
	pthread_mutex_lock(&g_lock);
	s->user = user;
	s->user_free = free_fn;
	pthread_mutex_unlock(&g_lock);
}

void *sio_user(const sio_sock_t *s)
{
	void *u;
	pthread_mutex_lock(&g_lock);
	u = s->user;
	pthread_mutex_unlock(&g_lock);
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
	pthread_mutex_lock(&g_lock);
	mark_closing_locked(s, "closed by the application");
	pthread_mutex_unlock(&g_lock);
}

void sio_set_app(const sio_app_t *a)
{
	app = a;
}

void sio_get_stats(sio_stats_t *out)
{
	int ws = 0;
	pthread_mutex_lock(&g_lock);
	*out = stats;
	out->sessions = 0;
	for (sio_sock_t *s = all_head; s; s = s->all_next) {
		out->sessions++;
		ws += s->ws != NULL;
	}
	out->websockets = (unsigned long long)ws;
	out->senders = nsenders;
	pthread_mutex_unlock(&g_lock);
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
	st = db_prep(db, s->eio == 4 ? "SELECT json_object('message', ?1)" : "SELECT json_quote(?1)");
	if (!st)
		return;
	sqlite3_bind_text(st, 1, message, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		sb_add(&b, "44", 2);
		if (strcmp(nsp, "/")) {
			sb_str(&b, nsp);
			sb_add(&b, ",", 1);
		}
		sb_str(&b, (const char *)sqlite3_column_text(st, 0));
		if (!b.oom)
			send_raw(s, b.p, b.n);
	}
	sqlite3_finalize(st);
	free(b.p);
}

static void do_connect(sio_sock_t *s, const char *nsp_query, const char *auth)
{
	sio_conninfo_t ci;
	char err[200] = "";
	char reply[MAX_NSP + 64];
	int rc;

	pthread_mutex_lock(&g_lock);
	rc = s->nsp_state;
	if (!rc)
		s->nsp_state = 1;
	pthread_mutex_unlock(&g_lock);
	if (rc)
		return; /* connected already (or connecting on another thread) */
	memset(&ci, 0, sizeof ci);
	ci.eio = s->eio;
	ci.query = s->query;
	ci.nsp_query = nsp_query;
	ci.cookie = s->cookie;
	ci.auth = auth;
	rc = app->on_connect(s, &ci, err, sizeof err);
	if (rc != DM_OK) {
		pthread_mutex_lock(&g_lock);
		s->nsp_state = 0;
		pthread_mutex_unlock(&g_lock);
		connect_error(s, app->nsp, err[0] ? err : "Unauthorization");
		return;
	}
	pthread_mutex_lock(&g_lock);
	s->nsp_state = 2;
	pthread_mutex_unlock(&g_lock);
	if (s->eio == 4)
		snprintf(reply, sizeof reply, "40%s,{\"sid\":\"%s\"}", app->nsp, s->nsid);
	else
		snprintf(reply, sizeof reply, "40%s,", app->nsp);
	send_raw(s, reply, strlen(reply));
	if (app->on_ready)
		app->on_ready(s);
}

/* An EVENT's data: ["name", arg?, ...] → on_event. DM_EINVAL when it is
 * not that shape (a protocol error). */
static int do_event(sio_sock_t *s, const char *data, size_t len, int64_t ack)
{
	sqlite3 *db = db_reader();
	sqlite3_stmt *st;
	int rc = DM_EINVAL;

	if (!db)
		return DM_ERR;
	if (!json_strict_ok(db, data, len))
		return DM_EINVAL;
	st = db_prep(db, "SELECT json_type(?1) = 'array' AND json_type(?1, '$[0]') = 'text', "
			 "json_extract(?1, '$[0]'), ?1 -> '$[1]'");
	if (!st)
		return DM_ERR;
	sqlite3_bind_text(st, 1, data, (int)len, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1) {
		const char *ev = (const char *)sqlite3_column_text(st, 1);
		const char *arg = (const char *)sqlite3_column_text(st, 2);
		char name[MAX_EVENT_NAME + 1];
		rc = DM_OK;
		/* names we do not know are the application's business, but an
		 * absurd one is not passed on */
		if (ev && dm_strlcpy(name, ev, sizeof name) == DM_OK) {
			char *a = arg ? strdup(arg) : NULL;
			sqlite3_finalize(st);
			st = NULL;
			if (arg && !a)
				return DM_ENOMEM;
			app->on_event(s, name, a, ack);
			free(a);
		}
	}
	sqlite3_finalize(st);
	return rc;
}

/* One Socket.IO packet (after the Engine.IO "4"), NUL-terminated at p[n].
 * DM_OK, or an error: the session is closed (protocol error). */
static int sio_packet(sio_sock_t *s, const char *p, size_t n)
{
	size_t i = 1;
	char nsp[MAX_NSP] = "/";
	const char *nq = NULL;
	int64_t ack = -1;
	int type, state;

	if (n < 1 || p[0] < '0' || p[0] > '6')
		return DM_EINVAL;
	type = p[0] - '0';
	if (type == 5 || type == 6) {
		dm_info("sio %s: binary packet refused", s->sid);
		return DM_EINVAL;
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
	if (!app)
		return DM_OK;
	pthread_mutex_lock(&g_lock);
	state = s->nsp_state;
	pthread_mutex_unlock(&g_lock);
	switch (type) {
	case 0: /* CONNECT */
		if (strcmp(nsp, app->nsp)) {
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
			do_connect(s, NULL, p + i);
		} else
			do_connect(s, nq, NULL);
		return DM_OK;
	case 1: /* DISCONNECT */
		if (!strcmp(nsp, app->nsp) && state == 2) {
			pthread_mutex_lock(&g_lock);
			mark_closing_locked(s, "namespace disconnect");
			pthread_mutex_unlock(&g_lock);
		}
		return DM_OK;
	case 2: /* EVENT */
		if (strcmp(nsp, app->nsp) || state != 2)
			return DM_OK; /* not connected there: dropped */
		if (i >= n)
			return DM_EINVAL;
		return do_event(s, p + i, n - i, ack);
	default: /* ACK, CONNECT_ERROR from a client: nothing to do */
		return DM_OK;
	}
}

/* One Engine.IO packet from the session's transport, NUL-terminated at
 * p[n]. DM_OK or an error (close the session). */
static int eio_packet(sio_sock_t *s, const char *p, size_t n)
{
	if (n < 1)
		return DM_EINVAL;
	pthread_mutex_lock(&g_lock);
	s->last_rx = dm_mono_ms();
	if (s->ping_sent) {
		/* v4: anything from the client answers the ping */
		s->ping_sent = 0;
		s->ping_next = s->last_rx + cfg.sio_ping_interval;
	}
	if (s->state != S_OPEN) {
		pthread_mutex_unlock(&g_lock);
		return DM_OK;
	}
	pthread_mutex_unlock(&g_lock);
	switch (p[0]) {
	case '1': /* close */
		pthread_mutex_lock(&g_lock);
		mark_closing_locked(s, "client close");
		pthread_mutex_unlock(&g_lock);
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
		return sio_packet(s, p + 1, n - 1);
	default: /* 'b' (binary) or garbage */
		return DM_EINVAL;
	}
}

/* ---------------------------------------------------------- senders */

static void start_sender_locked(void);

static void *sender_main(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&g_lock);
	for (;;) {
		sio_sock_t *s;
		struct mg_connection *conn;
		qnode_t *q;
		int ok = 1, want_close;

		while (!g_stop && !ready_head)
			pthread_cond_wait(&send_cv, &g_lock);
		if (g_stop)
			break;
		s = ready_head;
		ready_head = s->ready_next;
		if (!ready_head)
			ready_tail = NULL;
		s->ready_listed = 0;
		conn = s->ws;
		if (!conn || s->sending) {
			unref_locked(s);
			continue;
		}
		s->sending = 1;
		s->write_t0 = dm_mono_ms();
		q = s->qh;
		s->qh = s->qt = NULL;
		s->qn = 0;
		want_close = s->want_close && !s->close_sent;
		pthread_mutex_unlock(&g_lock);

		while (q) {
			qnode_t *nx = q->next;
			if (ok && mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_TEXT, q->b->data, q->b->len) <= 0)
				ok = 0;
			blob_unref(q->b);
			free(q);
			q = nx;
		}
		if (ok && want_close)
			mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, "\x03\xe8", 2);

		pthread_mutex_lock(&g_lock);
		s->sending = 0;
		if (want_close)
			s->close_sent = 1;
		pthread_cond_broadcast(&ws_cv);
		if (!ok)
			mark_closing_locked(s, "write failed");
		else if (s->ws == conn && (s->qn > 0 || (s->want_close && !s->close_sent)))
			ready_push_locked(s);
		unref_locked(s);
	}
	pthread_mutex_unlock(&g_lock);
	return NULL;
}

/* Locked. One more sender thread (up to SENDERS_MAX). */
static void start_sender_locked(void)
{
	if (nsenders >= SENDERS_MAX)
		return;
	if (pthread_create(&senders[nsenders], NULL, sender_main, NULL) != 0) {
		dm_warn("sio: cannot start a sender thread");
		return;
	}
	nsenders++;
}

/* ----------------------------------------------------------- reaper */

/* Reaper thread. Tears s down (s referenced by the caller): out of the
 * table and rooms, queue dropped, a close frame asked for, on_close. */
static void teardown(sio_sock_t *s)
{
	int was_connected;
	qnode_t *q;

	pthread_mutex_lock(&g_lock);
	if (s->state == S_CLOSED) {
		pthread_mutex_unlock(&g_lock);
		return;
	}
	s->state = S_CLOSED;
	for (sio_sock_t **pp = &by_sid[hash_str(s->sid)]; *pp; pp = &(*pp)->hnext)
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
		room_remove_locked(s->rooms[0], s);
	q = s->qh;
	s->qh = s->qt = NULL;
	s->qn = 0;
	was_connected = s->nsp_state == 2;
	s->nsp_state = 0;
	if (s->ws) {
		s->want_close = 1;
		ready_push_locked(s);
	}
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&g_lock);
	while (q) {
		qnode_t *nx = q->next;
		blob_unref(q->b);
		free(q);
		q = nx;
	}
	if (was_connected && app && app->on_close)
		app->on_close(s);
	sio_unref(s); /* the registry's reference */
}

/* Locked. Heartbeats of one open session; lowers *next to when it needs
 * looking at again. */
static void heartbeat_locked(sio_sock_t *s, int64_t now, int64_t *next)
{
	int64_t pi = cfg.sio_ping_interval, pt = cfg.sio_ping_timeout, due;

	if (s->eio == 3) {
		/* the client pings every pingInterval */
		due = s->last_rx + pi + pt;
		if (now > due) {
			mark_closing_locked(s, "ping timeout");
			return;
		}
	} else if (s->ping_sent) {
		due = s->ping_sent + pt;
		if (now > due) {
			mark_closing_locked(s, "pong timeout");
			return;
		}
	} else if (now >= s->ping_next) {
		blob_t *b = blob_new("2", 1);
		if (b) {
			s->ping_sent = now;
			enqueue_locked(s, b);
			blob_unref(b);
		}
		due = now + pt;
	} else
		due = s->ping_next;
	if (due + 1 < *next)
		*next = due + 1;
}

static void *reaper_main(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&g_lock);
	while (!g_stop) {
		int64_t now = dm_mono_ms(), next = now + 1000;
		sio_sock_t *dead = NULL;
		int stuck = 0;

		for (sio_sock_t *s = all_head; s; s = s->all_next) {
			if (s->state == S_OPEN)
				heartbeat_locked(s, now, &next);
			if (s->sending && s->state == S_OPEN) {
				int64_t t = now - s->write_t0;
				if (t > WRITE_DEADLINE_MS) {
					stats.dropped++;
					dm_info("sio %s: a write has taken %lld ms: disconnecting", s->sid, (long long)t);
					mark_closing_locked(s, "write deadline");
				} else if (t > SLOW_WRITE_MS)
					stuck++;
				if (next > now + 250)
					next = now + 250;
			}
			if (s->state == S_CLOSING) {
				s->refs++;
				s->reap_next = dead;
				dead = s;
			}
		}
		if (ready_head && stuck >= nsenders)
			start_sender_locked();
		if (dead) {
			pthread_mutex_unlock(&g_lock);
			while (dead) {
				sio_sock_t *s = dead;
				dead = s->reap_next;
				teardown(s);
				sio_unref(s);
			}
			pthread_mutex_lock(&g_lock);
			continue;
		}
		struct timespec ts = mono_after(next - now);
		pthread_cond_timedwait(&reap_cv, &g_lock, &ts);
	}
	pthread_mutex_unlock(&g_lock);
	db_thread_exit();
	return NULL;
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
	if (!app || g_stop)
		return ws_reject(c, 3);
	if (!origin_ok(c))
		return ws_reject(c, 4);
	if (!query_var(ri->query_string, "EIO", eio, sizeof eio) || (strcmp(eio, "3") && strcmp(eio, "4")))
		return ws_reject(c, 5);
	if (!query_var(ri->query_string, "transport", tr, sizeof tr) || strcmp(tr, "websocket"))
		return ws_reject(c, 0);
	if (query_var(ri->query_string, "sid", sid, sizeof sid)) {
		sio_sock_t *s;
		pthread_mutex_lock(&g_lock);
		s = find_locked(sid);
		ok = s && s->state == S_OPEN && s->transport == T_POLL && !s->probe && s->eio == eio[0] - '0';
		pthread_mutex_unlock(&g_lock);
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
		pthread_mutex_lock(&g_lock);
		s = find_locked(sid);
		if (s && s->state == S_OPEN && s->transport == T_POLL && !s->probe) {
			s->probe = c;
			s->refs++;
			wc->s = s;
			wc->probe = 1;
		}
		pthread_mutex_unlock(&g_lock);
		return;
	}
	s = session_new(eio[0] == '3' ? 3 : 4, ri->query_string, mg_get_header(c, "Cookie"));
	if (!s)
		return;
	{
		char open[256];
		int n = open_packet(s, 0, open, sizeof open);
		blob_t *b = blob_new(open, (size_t)n), *b40 = s->eio == 3 ? blob_new("40", 2) : NULL;
		pthread_mutex_lock(&g_lock);
		s->transport = T_WS;
		s->ws = c;
		s->refs++;
		wc->s = s;
		if (b)
			enqueue_locked(s, b);
		if (b40) /* v3: the default namespace is connected at once */
			enqueue_locked(s, b40);
		pthread_mutex_unlock(&g_lock);
		blob_unref(b);
		blob_unref(b40);
	}
}

/* A complete text message on a probing WebSocket. */
static int ws_probe_msg(struct mg_connection *c, wsconn_t *wc, const char *p, size_t n)
{
	sio_sock_t *s = wc->s;
	if (n == 6 && !memcmp(p, "2probe", 6)) {
		if (mg_websocket_write(c, MG_WEBSOCKET_OPCODE_TEXT, "3probe", 6) <= 0)
			return 0;
		pthread_mutex_lock(&g_lock);
		if (s->state == S_OPEN && s->probe == c) {
			s->upgrading = 1;
			pthread_cond_broadcast(&s->cv); /* the waiting GET ends with noop */
		}
		pthread_mutex_unlock(&g_lock);
		return 1;
	}
	if (n == 1 && p[0] == '5') {
		int ok = 0;
		pthread_mutex_lock(&g_lock);
		if (s->state == S_OPEN && s->probe == c) {
			s->probe = NULL;
			s->transport = T_WS;
			s->ws = c;
			s->upgrading = 0;
			s->last_rx = dm_mono_ms();
			wc->probe = 0;
			pthread_cond_broadcast(&s->cv);
			if (s->qn)
				ready_push_locked(s);
			ok = 1;
		}
		pthread_mutex_unlock(&g_lock);
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
	pthread_mutex_lock(&g_lock);
	state = wc->s->state;
	pthread_mutex_unlock(&g_lock);
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
		rc = eio_packet(wc->s, msg, mlen) == DM_OK;
		if (!rc) {
			pthread_mutex_lock(&g_lock);
			mark_closing_locked(wc->s, "protocol error");
			pthread_mutex_unlock(&g_lock);
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
		pthread_mutex_lock(&g_lock);
		if (s->ws == c) {
			/* a sender may be writing to c: c stays valid until it
			 * is done */
			while (s->sending)
				pthread_cond_wait(&ws_cv, &g_lock);
			s->ws = NULL;
			mark_closing_locked(s, "transport closed");
		}
		if (s->probe == c) {
			s->probe = NULL;
			s->upgrading = 0;
		}
		unref_locked(s);
		pthread_mutex_unlock(&g_lock);
	}
	free(wc->frag);
	free(wc);
	mg_set_user_connection_data(c, NULL);
}

static void on_http_start(struct mg_context *ctx)
{
	mg_set_websocket_handler(ctx, "/socket.io", ws_connect, ws_ready, ws_data, ws_close, NULL);
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
	if (!app || g_stop) {
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
	sio_sock_t *s = session_new(eio, r->query, http_header(r, "Cookie"));
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
	pthread_mutex_lock(&g_lock);
	s = find_locked(sid);
	if (s && (s->eio != eio || s->transport != T_POLL))
		s = NULL;
	if (s)
		s->refs++;
	pthread_mutex_unlock(&g_lock);
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
	pthread_mutex_lock(&g_lock);
	if (s->polling) {
		/* two polls at once: the client is broken */
		mark_closing_locked(s, "overlapping polls");
		unref_locked(s);
		pthread_mutex_unlock(&g_lock);
		return eio_error(r, 3);
	}
	s->polling = 1;
	deadline = dm_mono_ms() + cfg.sio_ping_interval;
	while (s->qn == 0 && s->state == S_OPEN && s->transport == T_POLL && !s->upgrading && !dm_stopping &&
	       !g_stop) {
		int64_t left = deadline - dm_mono_ms();
		if (left <= 0)
			break;
		struct timespec ts = mono_after(left < POLL_SLICE_MS ? left : POLL_SLICE_MS);
		pthread_cond_timedwait(&s->cv, &g_lock, &ts);
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
		ready_push_locked(s);
	s->polling = 0;
	pthread_mutex_unlock(&g_lock);

	for (qnode_t *x = q; x; x = x->next) {
		if (eio == 3) {
			char len[24];
			snprintf(len, sizeof len, "%zu:", sio_utf16_len(x->b->data, x->b->len));
			sb_str(&b, len);
		} else if (x != q)
			sb_add(&b, "\x1e", 1);
		sb_add(&b, x->b->data, x->b->len);
	}
	if (tail_pkt) {
		if (eio == 3)
			sb_add(&b, "1:", 2);
		else if (n)
			sb_add(&b, "\x1e", 1);
		sb_str(&b, tail_pkt);
	}
	while (q) {
		qnode_t *nx = q->next;
		blob_unref(q->b);
		free(q);
		q = nx;
	}
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
	rc = eio_packet(s, p, n);
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
	pthread_mutex_lock(&g_lock);
	mark_closing_locked(s, rc == DM_ETOOBIG ? "payload too large" : "bad payload");
	pthread_mutex_unlock(&g_lock);
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

int sio_init(void)
{
	if (cond_init_mono(&reap_cv) != DM_OK)
		return DM_ERR;
	g_inited = 1;
	http_routes(routes, sizeof routes / sizeof routes[0]);
	http_on_start(on_http_start);
	g_stop = 0;
	if (pthread_create(&reaper, NULL, reaper_main, NULL) != 0)
		return DM_ERR;
	reaper_started = 1;
	pthread_mutex_lock(&g_lock);
	for (int i = 0; i < SENDERS_BASE; i++)
		start_sender_locked();
	pthread_mutex_unlock(&g_lock);
	return nsenders ? DM_OK : DM_ERR;
}

/* After HTTP stopped (no connection left): stops the threads, tears every
 * session down (on_close for each), frees everything. */
void sio_stop(void)
{
	int n;
	if (!g_inited)
		return;
	pthread_mutex_lock(&g_lock);
	g_stop = 1;
	pthread_cond_broadcast(&send_cv);
	pthread_cond_broadcast(&reap_cv);
	n = nsenders;
	pthread_mutex_unlock(&g_lock);
	if (reaper_started)
		pthread_join(reaper, NULL);
	reaper_started = 0;
	for (int i = 0; i < n; i++)
		pthread_join(senders[i], NULL);
	nsenders = 0;
	/* what the senders did not take */
	pthread_mutex_lock(&g_lock);
	while (ready_head) {
		sio_sock_t *s = ready_head;
		ready_head = s->ready_next;
		s->ready_listed = 0;
		unref_locked(s);
	}
	ready_tail = NULL;
	pthread_mutex_unlock(&g_lock);
	for (;;) {
		sio_sock_t *s;
		pthread_mutex_lock(&g_lock);
		s = all_head;
		if (s)
			s->refs++;
		pthread_mutex_unlock(&g_lock);
		if (!s)
			break;
		teardown(s);
		sio_unref(s);
	}
	/* teardown asked senders for close frames: nobody is connected now */
	pthread_mutex_lock(&g_lock);
	while (ready_head) {
		sio_sock_t *s = ready_head;
		ready_head = s->ready_next;
		unref_locked(s);
	}
	ready_tail = NULL;
	pthread_mutex_unlock(&g_lock);
	pthread_cond_destroy(&reap_cv);
	g_inited = 0;
}
