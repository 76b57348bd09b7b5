/*
 * sio_transport.c — the transports of sio as civetweb sees them (see sio.h,
 * and the design notes at the top of sio.c): the WebSocket handshake on
 * /socket.io/ through civetweb's WebSocket handler, HTTP long-polling
 * through two http routes, and the checks of an upgrade from one to the
 * other. civetweb parses the request and does the handshake; then the
 * connection is detached (mg_detach) and handed to sio's loop
 * (sio_loop.c): an upgraded WebSocket at once, a GET when it has to wait.
 * Both hand each Engine.IO packet they receive to sio_eio_packet.
 *
 * Why the ready handler detaches (not a request handler doing the upgrade
 * itself): civetweb already checks the upgrade headers, answers 101 and
 * runs our connect check before it; detaching right after keeps all of
 * that and adds nothing but the hand-over.
 *
 * Thread-safety: everything shared is under sio_lock (sio_int.h); network
 * writes here happen only in a request's own handler (rejections, a GET
 * answered at once, POST replies).
 */
#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <civetweb.h>
#include <mbedtls/base64.h>

#include "config.h"
#include "db.h"
#include "dm.h"
#include "http.h"
#include "sio.h"
#include "sio_int.h"

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
/* A session cap refused the handshake (sio_session_check): 429. */
static const char too_many[] = "{\"code\":3,\"message\":\"Too many sessions\"}";
#define TOO_MANY_HEADERS "Retry-After: 10\r\n"

static int ws_reject_busy(const struct mg_connection *cc)
{
	struct mg_connection *c = (struct mg_connection *)cc;
	mg_printf(c,
		  "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
		  TOO_MANY_HEADERS "Connection: close\r\n\r\n%s",
		  strlen(too_many), too_many);
	return 1;
}

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
	int ok = 1, raw = cb != NULL;

	if (!(raw ? (const void *)sio_eio_app : (const void *)sio_app) || sio_stopping)
		return ws_reject(c, 3);
	if (!origin_ok(c))
		return ws_reject(c, 4);
	if (!query_var(ri->query_string, "EIO", eio, sizeof eio) || (strcmp(eio, "3") && strcmp(eio, "4")))
		return ws_reject(c, 5);
	if (!query_var(ri->query_string, "transport", tr, sizeof tr) || strcmp(tr, "websocket"))
		return ws_reject(c, 0);
	if (query_var(ri->query_string, "sid", sid, sizeof sid)) {
		sio_sock_t *s;
		dm_mutex_lock(&sio_lock);
		s = sio_find_locked(sid);
		/* a session that upgraded or is probing: the handshake goes
		 * on and ws_ready closes the connection, as the reference
		 * server does; an unknown one is a 400 */
		ok = s && s->state == S_OPEN && s->eio == eio[0] - '0' && s->raw == raw;
		dm_mutex_unlock(&sio_lock);
		if (!ok)
			return ws_reject(c, 1);
	} else if (sio_session_check(ri->remote_addr) != DM_OK)
		return ws_reject_busy(c);
	return 0;
}

/* The open packet of a new WebSocket session s (and v3's "40") queued. */
static void ws_queue_open(sio_sock_t *s)
{
	char open[256];
	int n = open_packet(s, 0, open, sizeof open);
	blob_t *b = sio_blob_new(open, (size_t)n), *b40 = s->eio == 3 && !s->raw ? sio_blob_new("40", 2) : NULL;
	dm_mutex_lock(&sio_lock);
	if (b)
		sio_enqueue_locked(s, b);
	if (b40) /* v3: the default namespace is connected at once */
		sio_enqueue_locked(s, b40);
	dm_mutex_unlock(&sio_lock);
	sio_blob_unref(b);
	sio_blob_unref(b40);
}

/* civetweb's ready handler (after the 101): the connection leaves
 * civetweb for sio's loop, carrying a new session or probing the upgrade
 * of a polling one. On any failure it is simply closed. */
static void ws_ready(struct mg_connection *c, void *cb)
{
	const struct mg_request_info *ri = mg_get_request_info(c);
	char eio[4] = "4", sid[SID_CAP + 8];
	struct mg_detached d;
	sio_sock_t *s = NULL;
	int probe = 0, raw = cb != NULL;

	query_var(ri->query_string, "EIO", eio, sizeof eio);
	if (query_var(ri->query_string, "sid", sid, sizeof sid)) {
		dm_mutex_lock(&sio_lock);
		s = sio_find_locked(sid);
		if (s && s->state == S_OPEN && s->transport == T_POLL && !s->probe && s->raw == raw)
			s->refs++;
		else
			s = NULL;
		dm_mutex_unlock(&sio_lock);
		probe = 1;
	} else {
		int rc;
		/* the caps were checked before the handshake; a race lost
		 * here just closes the connection */
		s = sio_session_new(eio[0] == '3' ? 3 : 4, raw, ri->remote_addr, ri->query_string, mg_get_header(c, "Cookie"),
				    &rc);
		if (s)
			sio_ref(s);
	}
	if (!s) {
		/* a lost probe, a cap, no memory: closed without holding the
		 * worker (else the data handler closes it) */
		if (mg_detach(c, &d) == 0)
			sio_detached_close(&d);
		return;
	}
	if (mg_detach(c, &d) != 0) {
		dm_warn("sio %s: cannot take the WebSocket from civetweb", s->sid);
		if (!probe)
			sio_close(s);
		sio_unref(s);
		return;
	}
	/* the reference taken above goes to the loop's connection, which may
	 * end (and the session be torn down) at once: this handler keeps
	 * its own until it is done with s */
	sio_ref(s);
	if (sio_loop_adopt_ws(&d, s, probe) != DM_OK) {
		if (!probe)
			sio_close(s);
	} else if (!probe)
		ws_queue_open(s);
	sio_unref(s);
}

/* civetweb data handler: only reached when the hand-over failed: close. */
static int ws_data(struct mg_connection *c, int bits, char *data, size_t len, void *cb)
{
	(void)c;
	(void)bits;
	(void)data;
	(void)len;
	(void)cb;
	return 0;
}

/* A WebSocket upgrade to any other path: the JSON 404 every unknown path
 * gets (the catalog's NO_ROUTE, made the way http_refuse makes it), as a
 * whole HTTP response (civetweb's own answer to an upgrade it has no
 * handler for has no status line). Always refuses; without the database a
 * bare 500. */
static int ws_nowhere(const struct mg_connection *cc, void *cb)
{
	struct mg_connection *c = (struct mg_connection *)cc;
	sqlite3 *db = db_reader();
	char body[400] = "";
	int status = refusal_status(RF_NO_ROUTE);
	(void)cb;
	if (!db || db_get_text(db, body, sizeof body, "SELECT json_object('msg','fail','errorMsg',?1,'code',?2)",
			       DB_TEXT(refusal_msg(RF_NO_ROUTE)), DB_TEXT(refusal_code(RF_NO_ROUTE))) != DM_OK) {
		status = 500;
		body[0] = 0;
	}
	mg_printf(c,
		  "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: %zu\r\n"
		  "Cache-Control: no-store\r\nConnection: close\r\n\r\n%s",
		  status, mg_get_response_code_text(c, status), strlen(body), body);
	return 1;
}

/* The callback data of the Engine.IO-level app's WebSocket handler (the
 * handlers' cb is NULL for /socket.io). */
static int raw_tag;

static void on_http_start(struct mg_context *ctx)
{
	mg_set_websocket_handler(ctx, "/socket.io", ws_connect, ws_ready, ws_data, NULL, NULL);
	if (sio_eio_app)
		mg_set_websocket_handler(ctx, sio_eio_app->path, ws_connect, ws_ready, ws_data, NULL, &raw_tag);
	/* a pattern: looked at after every exact and prefix match */
	mg_set_websocket_handler(ctx, "**", ws_nowhere, NULL, NULL, NULL, NULL);
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

static int handshake(http_req_t *r, int eio, int raw)
{
	char open[256], body[300];
	int n, rc;
	sio_sock_t *s = sio_session_new(eio, raw, r->ip, r->query, http_header(r, "Cookie"), &rc);

	if (!s && rc == DM_ERATE)
		return http_reply_raw(r, 429, "application/json", "Cache-Control: no-store\r\n" TOO_MANY_HEADERS,
				      too_many, strlen(too_many));
	if (!s)
		return http_fail_dm(r, DM_ENOMEM);
	n = open_packet(s, 1, open, sizeof open);
	if (eio == 3 && raw)
		n = snprintf(body, sizeof body, "%d:%s", n, open);
	else if (eio == 3) /* v3 framing; the default namespace connects at once */
		n = snprintf(body, sizeof body, "%d:%s2:40", n, open);
	else
		n = snprintf(body, sizeof body, "%s", open);
	return poll_reply(r, body, (size_t)n);
}

/* Finds the open session of a polling request and references it; replies
 * 400 and returns NULL when there is none, it is closing or it does not
 * poll. */
static sio_sock_t *poll_session(http_req_t *r, int eio, int raw, const char *sid)
{
	sio_sock_t *s;
	dm_mutex_lock(&sio_lock);
	s = sio_find_locked(sid);
	/* a closing session is over for new requests (a waiting GET still
	 * gets its answer from the loop) */
	if (s && (s->eio != eio || s->raw != raw || s->transport != T_POLL || s->state != S_OPEN))
		s = NULL;
	if (s && sio_overdue_locked(s, dm_mono_ms())) {
		sio_mark_closing_locked(s, "pong timeout");
		s = NULL;
	}
	if (s)
		s->refs++;
	dm_mutex_unlock(&sio_lock);
	if (!s)
		eio_error(r, 1);
	return s;
}

const char *sio_poll_take_locked(sio_sock_t *s, qnode_t **q)
{
	qnode_t **tail = q;
	size_t bytes = 0;
	int n = 0;

	dm_assert(dm_mutex_held(&sio_lock));
	dm_assert(!s->qh == !s->qt && !s->qh == !s->qn && s->polling);
	*q = NULL;
	/* frames up to maxPayload bytes (at least one) */
	while (s->qh && (n == 0 || bytes + sio_qlen(s->qh) <= (size_t)cfg.sio_max_payload)) {
		qnode_t *x = sio_dequeue_locked(s);
		*tail = x;
		tail = &x->next;
		bytes += sio_qlen(x);
		n++;
	}
	if (s->transport == T_WS && s->qn)
		sio_ready_push_locked(s);
	s->polling = 0;
	if (s->state != S_OPEN) /* closed: tell the client, unless it closed */
		return s->client_closed ? "6" : "1";
	return n ? NULL : "6"; /* nothing (upgrade, timeout, stopping): noop */
}

/* A binary packet as polling carries it: "b" + base64 (v4 only). */
static void poll_b64(sbuf_t *b, const blob_t *x)
{
	size_t cap = (x->len + 2) / 3 * 4 + 1, out = 0;
	char *enc = malloc(cap);
	if (!enc || mbedtls_base64_encode((unsigned char *)enc, cap, &out, (const unsigned char *)x->data, x->len)) {
		b->oom = 1;
		free(enc);
		return;
	}
	sio_sb_add(b, "b", 1);
	sio_sb_add(b, enc, out);
	free(enc);
}

void sio_poll_body(int eio, qnode_t *q, const char *tail, sbuf_t *b)
{
	for (qnode_t *x = q; x; x = x->next) {
		if (x->b->binary) { /* only ever queued to v4 sessions */
			if (x != q)
				sio_sb_add(b, "\x1e", 1);
			poll_b64(b, x->b);
			continue;
		}
		const char *pp[4];
		size_t pn[4];
		int k = sio_qparts(x, 0, pp, pn);
		if (eio == 3) {
			char len[24];
			size_t units = 0;
			for (int i = 0; i < k; i++)
				units += sio_utf16_len(pp[i], pn[i]);
			snprintf(len, sizeof len, "%zu:", units);
			sio_sb_str(b, len);
		} else if (x != q)
			sio_sb_add(b, "\x1e", 1);
		for (int i = 0; i < k; i++)
			sio_sb_add(b, pp[i], pn[i]);
	}
	if (tail) {
		if (eio == 3)
			sio_sb_add(b, "1:", 2);
		else if (q)
			sio_sb_add(b, "\x1e", 1);
		sio_sb_str(b, tail);
	}
	sio_queue_free(q);
}

int sio_poll_answerable_locked(const sio_sock_t *s)
{
	dm_assert(dm_mutex_held(&sio_lock));
	return s->qn > 0 || s->state != S_OPEN || s->transport != T_POLL || s->upgrading || sio_stopping ||
	       dm_stopping;
}

/* Parks the GET r of s (referenced) on the loop. DM_OK when parked (the
 * reference went with it), else DM_EUNAVAIL (not detached: answer now). */
static int poll_park(http_req_t *r, sio_sock_t *s, int eio)
{
	char hdr[1200], cors[700];
	const struct mg_request_info *ri = r->ri;
	const char *conn_hdr = http_header(r, "Connection");
	struct mg_detached d;
	int keepalive;

	http_cors_headers(r->conn, cors, sizeof cors);
	snprintf(hdr, sizeof hdr, "Content-Type: text/plain; charset=UTF-8\r\n%s%sCache-Control: no-store\r\n",
		 http_security_headers(), cors);
	keepalive = ri->http_version && !strcmp(ri->http_version, "1.1") &&
		    !(conn_hdr && !strcasecmp(conn_hdr, "close"));
	if (mg_detach(r->conn, &d) != 0)
		return DM_EUNAVAIL;
	r->replied = 1; /* the loop answers */
	r->status = 200;
	/* v3: a noop at pingInterval; v4: the server's ping ends the wait,
	 * the deadline is only a fallback after it */
	sio_loop_park_poll(&d, s, eio, hdr, keepalive,
			   dm_mono_ms() + cfg.sio_ping_interval + (eio == 4 ? cfg.sio_ping_timeout : 0));
	return DM_OK;
}

/* GET: the handshake, or a long poll that takes what is queued (parked on
 * the loop when there is nothing yet). */
static int poll_get(http_req_t *r, int raw)
{
	char sid[SID_CAP + 8];
	int eio;
	sio_sock_t *s;
	qnode_t *q;
	const char *tail_pkt;
	sbuf_t b = {0};

	if (poll_params(r, &eio, sid, sizeof sid) != DM_OK)
		return DM_OK;
	if (!sid[0])
		return handshake(r, eio, raw);
	if (!(s = poll_session(r, eio, raw, sid)))
		return DM_OK;
	dm_mutex_lock(&sio_lock);
	if (s->polling) {
		/* two polls at once: the client is broken */
		sio_mark_closing_locked(s, "overlapping polls");
		sio_unref_locked(s);
		dm_mutex_unlock(&sio_lock);
		return eio_error(r, 3);
	}
	s->polling = 1;
	if (!sio_poll_answerable_locked(s)) {
		dm_mutex_unlock(&sio_lock);
		if (poll_park(r, s, eio) == DM_OK)
			return DM_OK;
		dm_mutex_lock(&sio_lock);
	}
	tail_pkt = sio_poll_take_locked(s, &q);
	dm_mutex_unlock(&sio_lock);
	sio_poll_body(eio, q, tail_pkt, &b);
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
static int poll_post(http_req_t *r, int raw)
{
	char sid[SID_CAP + 8];
	int eio, rc;
	sio_sock_t *s;
	const char *ct;

	if (poll_params(r, &eio, sid, sizeof sid) != DM_OK)
		return DM_OK;
	if (!sid[0])
		return eio_error(r, 2);
	if (!(s = poll_session(r, eio, raw, sid)))
		return DM_OK;
	dm_mutex_lock(&sio_lock);
	if (s->posting) {
		/* two POSTs at once: the client is broken */
		sio_mark_closing_locked(s, "overlapping posts");
		sio_unref_locked(s);
		dm_mutex_unlock(&sio_lock);
		return eio_error(r, 3);
	}
	s->posting = 1;
	dm_mutex_unlock(&sio_lock);
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
			/* 64-bit arithmetic: ten digits overflow a 32-bit size_t
			 * (on a Pi, "4294967297:" would read as 1) */
			uint64_t units = 0, want = 0;
			size_t k = 0;
			char *d;
			while (p < end && isdigit((unsigned char)*p) && k < 10) {
				want = want * 10 + (uint64_t)(*p++ - '0');
				k++;
			}
			if (!k || p >= end || *p != ':' || want > (uint64_t)(end - p)) {
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
	dm_mutex_lock(&sio_lock);
	dm_assert(s->posting); /* this request's: an overlapping one left it */
	s->posting = 0;
	dm_mutex_unlock(&sio_lock);
	sio_unref(s);
	return http_reply_raw(r, 200, "text/html; charset=UTF-8", "Cache-Control: no-store\r\n", "ok", 2);
bad:
	dm_mutex_lock(&sio_lock);
	dm_assert(s->posting);
	s->posting = 0;
	sio_mark_closing_locked(s, rc == DM_ETOOBIG ? "payload too large" : "bad payload");
	dm_mutex_unlock(&sio_lock);
	sio_unref(s);
	if (rc == DM_ETOOBIG)
		return http_refuse(r, RF_TOO_LARGE);
	return eio_error(r, 3);
}

/* Another method. Without a sid it is a handshake that is not a GET:
 * the protocol makes sid mandatory on every request but the opening GET
 * and a missing mandatory parameter a 400 ("Bad handshake method", as
 * POST gets); with one, 405 naming the methods the path has. */
static int poll_other(http_req_t *r)
{
	char sid[SID_CAP + 8];
	int eio;
	if (poll_params(r, &eio, sid, sizeof sid) != DM_OK)
		return DM_OK;
	if (!sid[0])
		return eio_error(r, 2);
	/* the router's 405 for a method a path does not have */
	return http_refuse_hdr(r, RF_METHOD_NOT_ALLOWED, "Allow: GET, HEAD, POST, OPTIONS\r\n");
}

static int h_poll_get(http_req_t *r)
{
	return poll_get(r, 0);
}

static int h_poll_post(http_req_t *r)
{
	return poll_post(r, 0);
}

static int h_eio_get(http_req_t *r)
{
	return poll_get(r, 1);
}

static int h_eio_post(http_req_t *r)
{
	return poll_post(r, 1);
}

static const http_route_t routes[] = {
	{"GET", "/socket.io/*", h_poll_get, HTTP_PUBLIC},
	{"POST", "/socket.io/*", h_poll_post, HTTP_PUBLIC},
	{"PUT", "/socket.io/*", poll_other, HTTP_PUBLIC},
	{"GET", "/socket.io", h_poll_get, HTTP_PUBLIC},
	{"POST", "/socket.io", h_poll_post, HTTP_PUBLIC},
	{"PUT", "/socket.io", poll_other, HTTP_PUBLIC},
};

/* The Engine.IO-level app's routes (its path, set before start). */
static char eio_pat[2][128];
static http_route_t eio_routes[] = {
	{"GET", eio_pat[0], h_eio_get, HTTP_PUBLIC},
	{"POST", eio_pat[0], h_eio_post, HTTP_PUBLIC},
	{"PUT", eio_pat[0], poll_other, HTTP_PUBLIC},
	{"GET", eio_pat[1], h_eio_get, HTTP_PUBLIC},
	{"POST", eio_pat[1], h_eio_post, HTTP_PUBLIC},
	{"PUT", eio_pat[1], poll_other, HTTP_PUBLIC},
};

/* -------------------------------------------------------- lifecycle */

void sio_transport_init(void)
{
	http_routes(routes, sizeof routes / sizeof routes[0]);
	if (sio_eio_app) {
		snprintf(eio_pat[0], sizeof eio_pat[0], "%s/*", sio_eio_app->path);
		snprintf(eio_pat[1], sizeof eio_pat[1], "%s", sio_eio_app->path);
		http_routes(eio_routes, sizeof eio_routes / sizeof eio_routes[0]);
	}
	http_on_start(on_http_start);
}
