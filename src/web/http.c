/*
 * http.c — civetweb setup, routing, replies, CORS, limits, access log
 * (see http.h).
 *
 * Thread-safety: the route table is filled before http_start and read-only
 * afterwards. Counters are atomics. Everything else lives in the request.
 */
#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "db.h"
#include "dm.h"
#include "http.h"
#include "jobs.h"
#include "metrics.h"
#include "tls.h"

#define MAX_ROUTE_SETS 32

static struct {
	const http_route_t *r;
	size_t n;
} sets[MAX_ROUTE_SETS];
static int nsets;
static struct mg_context *civet_ctx;
static atomic_ullong n_requests, n_errors;

void http_routes(const http_route_t *routes, size_t n)
{
	if (nsets == MAX_ROUTE_SETS) {
		dm_error("too many route tables");
		abort();
	}
	sets[nsets].r = routes;
	sets[nsets].n = n;
	nsets++;
}

struct mg_context *http_ctx(void)
{
	return civet_ctx;
}

#define MAX_START_HOOKS 4
static void (*start_hooks[MAX_START_HOOKS])(struct mg_context *);
static int nstart_hooks;

void http_on_start(void (*fn)(struct mg_context *))
{
	if (nstart_hooks == MAX_START_HOOKS) {
		dm_error("too many http start hooks");
		abort();
	}
	start_hooks[nstart_hooks++] = fn;
}

/* ------------------------------------------------------------- replies */

const char *http_security_headers(void)
{
	return "X-Content-Type-Options: nosniff\r\n"
	       "X-Frame-Options: DENY\r\n"
	       "Referrer-Policy: no-referrer\r\n"
	       "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
	       "Cross-Origin-Resource-Policy: cross-origin\r\n";
}

/* Will civetweb close the connection after this reply? Then the reply
 * must say so (RFC 9112 9.6): a client that is not told reuses the socket
 * and its next request fails. civetweb's rule (should_keep_alive): a
 * Connection header without a "keep-alive" token closes (so "close" does),
 * and without the header anything but HTTP/1.1 closes. */
const char *http_conn_header(const struct mg_connection *conn)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	const char *h = mg_get_header(conn, "Connection");
	int keep = 0;

	if (!h)
		keep = ri && ri->http_version && !strcmp(ri->http_version, "1.1");
	for (const char *p = h; p && *p;) {
		size_t n;
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		n = strcspn(p, ", \t");
		keep |= n == 10 && !strncasecmp(p, "keep-alive", 10);
		p += n;
	}
	return keep ? "" : "Connection: close\r\n";
}

/* Is origin (scheme://host[:port]) allowed? With no list configured, only
 * the server's own origin (the request's Host, same scheme). */
static int origin_allowed(const struct mg_connection *conn, const char *origin)
{
	const char *list = cfg.cors_origin;
	size_t olen = strlen(origin);

	if (!olen || olen > 512)
		return 0;
	if (list[0]) {
		const char *p = list;
		while (*p) {
			const char *e = strchr(p, ',');
			size_t n = e ? (size_t)(e - p) : strlen(p);
			while (n && *p == ' ') {
				p++;
				n--;
			}
			while (n && p[n - 1] == ' ')
				n--;
			if ((n == olen && !strncasecmp(p, origin, n)) || (n == 1 && *p == '*'))
				return 1;
			if (!e)
				break;
			p = e + 1;
		}
		return 0;
	}
	{
		const struct mg_request_info *ri = mg_get_request_info(conn);
		const char *host = mg_get_header(conn, "Host");
		char own[600];
		if (!host)
			return 0;
		snprintf(own, sizeof own, "%s://%s", ri->is_ssl ? "https" : "http", host);
		return !strcasecmp(own, origin);
	}
}

/* Only header-safe characters may be echoed back. */
int http_header_value_safe(const char *s, size_t max)
{
	size_t n = 0;
	for (; *s; s++, n++)
		if (n >= max || (unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

int http_origin_ok(const http_req_t *r)
{
	const char *origin = mg_get_header(r->conn, "Origin");
	return origin && http_header_value_safe(origin, 512) && origin_allowed(r->conn, origin);
}

void http_cors_headers(const struct mg_connection *conn, char *buf, size_t cap)
{
	const char *origin = mg_get_header(conn, "Origin");
	buf[0] = 0;
	if (!origin || !http_header_value_safe(origin, 512) || !origin_allowed(conn, origin))
		return;
	snprintf(buf, cap,
		 "Access-Control-Allow-Origin: %s\r\n"
		 "Access-Control-Allow-Credentials: true\r\n"
		 "Vary: Origin\r\n",
		 origin);
}

/* Sends status line, headers and body with one write (one TCP segment
 * train with TCP_NODELAY, not three: civetweb sends each mg_printf and
 * mg_write on its own). Falls back to two writes if the buffer cannot be
 * allocated. */
/* A worker's reply buffer, reused across its replies up to REPLY_BUF_MAX
 * bytes (bigger ones are malloc'd and freed each time): a fresh 30 KB
 * block per feed reply cost musl's malloc lock and an munmap/madvise (a
 * TLB shootdown) per request. Thread-local; freed by on_exit_thread. */
#define REPLY_BUF_MAX 65536
static __thread char *reply_buf;
static __thread size_t reply_cap;

/* A buffer of need bytes for one reply: the thread's own, or a new one
 * (the caller frees it when it is not reply_buf). NULL if out of memory. */
static char *reply_buf_get(size_t need)
{
	if (need > REPLY_BUF_MAX)
		return malloc(need);
	if (need > reply_cap) {
		size_t cap = need < 16384 ? 16384 : REPLY_BUF_MAX;
		char *b = realloc(reply_buf, cap);
		if (!b)
			return NULL;
		reply_buf = b;
		reply_cap = cap;
	}
	return reply_buf;
}

int http_reply_raw(http_req_t *r, int status, const char *ctype, const char *extra, const void *body, size_t len)
{
	char cors[700];
	char *buf;
	int n;
	size_t blen;

	if (r->replied) {
		dm_error("%s %s: a second reply (bug)", r->method, r->path);
		return DM_OK;
	}
	r->replied = 1;
	r->status = status;
	http_cors_headers(r->conn, cors, sizeof cors);
#define REPLY_HEAD "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s%s%s\r\n"
#define REPLY_ARGS                                                                                          \
	status, mg_get_response_code_text(r->conn, status), ctype, len, http_security_headers(), cors, \
		http_conn_header(r->conn), extra ? extra : ""
	n = snprintf(NULL, 0, REPLY_HEAD, REPLY_ARGS);
	if (n < 0)
		return DM_ERR;
	blen = strcmp(r->method, "HEAD") ? len : 0;
	buf = reply_buf_get((size_t)n + 1 + blen);
	if (!buf) {
		mg_printf(r->conn, REPLY_HEAD, REPLY_ARGS);
		if (blen)
			mg_write(r->conn, body, blen);
		return DM_OK;
	}
	snprintf(buf, (size_t)n + 1, REPLY_HEAD, REPLY_ARGS);
	if (blen)
		memcpy(buf + n, body, blen);
	mg_write(r->conn, buf, (size_t)n + blen);
	if (buf != reply_buf)
		free(buf);
	return DM_OK;
#undef REPLY_HEAD
#undef REPLY_ARGS
}

int http_reply_json(http_req_t *r, int status, const char *json, size_t len)
{
	return http_reply_raw(r, status, "application/json; charset=utf-8", "Cache-Control: no-store\r\n", json,
			      len);
}

int http_reply_stmt(http_req_t *r, int status, sqlite3_stmt *st)
{
	int rc;
	if (!st)
		return http_fail_dm(r, DM_ERR);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		const char *j = (const char *)sqlite3_column_text(st, 0);
		http_reply_json(r, status, j, (size_t)sqlite3_column_bytes(st, 0));
	} else if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		http_fail_dm(r, DM_ENOTFOUND);
	else {
		dm_error("%s %s: %s", r->method, r->path, sqlite3_errmsg(sqlite3_db_handle(st)));
		http_fail_dm(r, DM_ERR);
	}
	db_done(st); /* finalizes one from db_prep */
	return DM_OK;
}

int http_ok(http_req_t *r)
{
	static const char ok[] = "{\"msg\":\"success\"}";
	return http_reply_json(r, 200, ok, sizeof ok - 1);
}

/* Replies with status, code and msg as {msg:"fail", errorMsg, code}, with
 * extra header lines ("Name: value\r\n"...) after the usual ones; extra
 * may be NULL. Cache-Control: no-store unless extra says otherwise. */
static int fail_with(http_req_t *r, int status, const char *code, const char *msg, const char *extra)
{
	sqlite3_stmt *st = r->db ? db_query(r->db, "SELECT json_object('msg','fail','errorMsg',?1,'code',?2)",
					    DB_TEXT(msg), DB_TEXT(code))
				 : NULL;
	char hdr[256];
	atomic_fetch_add(&n_errors, status >= 500);
	if (!st || sqlite3_step(st) != SQLITE_ROW) {
		static const char bad[] = "{\"msg\":\"fail\",\"errorMsg\":\"서버 오류가 발생했습니다.\",\"code\":\"INTERNAL\"}";
		db_done(st);
		return http_reply_json(r, 500, bad, sizeof bad - 1);
	}
	snprintf(hdr, sizeof hdr, "%s%s", extra && strcasestr(extra, "Cache-Control:") ? "" : "Cache-Control: no-store\r\n",
		 extra ? extra : "");
	http_reply_raw(r, status, "application/json; charset=utf-8", hdr, sqlite3_column_text(st, 0),
		       (size_t)sqlite3_column_bytes(st, 0));
	db_done(st);
	return DM_OK;
}

int http_refuse_hdr(http_req_t *r, refusal_t rf, const char *extra)
{
	return fail_with(r, refusal_status(rf), refusal_code(rf), refusal_msg(rf), extra);
}

int http_refuse(http_req_t *r, refusal_t rf)
{
	return http_refuse_hdr(r, rf, NULL);
}

int http_refuse_detail(http_req_t *r, refusal_t rf, const char *detail)
{
	char msg[400];
	snprintf(msg, sizeof msg, "%s (%s)", refusal_msg(rf), detail);
	return fail_with(r, refusal_status(rf), refusal_code(rf), msg, NULL);
}

int http_status_of(int s)
{
	switch (s) {
	case DM_OK: return 200;
	case DM_EINVAL: return 400;
	case DM_EAUTH: return 401;
	case DM_EFORBID: return 403;
	case DM_ENOTFOUND: return 404;
	case DM_ECONFLICT: return 409;
	case DM_ETOOBIG: return 413;
	case DM_ERATE: return 429;
	case DM_EUNAVAIL: return 503;
	default: return 500;
	}
}

int http_fail_dm(http_req_t *r, int s)
{
	if (s == DM_ERATE)
		return http_fail_rate(r, 60);
	return http_refuse(r, refusal_of_status(s));
}

int http_fail_rate(http_req_t *r, int retry_after_s)
{
	char extra[64];
	if (retry_after_s < 1)
		retry_after_s = 1;
	snprintf(extra, sizeof extra, "Retry-After: %d\r\n", retry_after_s);
	return http_refuse_hdr(r, RF_RATE_LIMITED, extra);
}

int http_redirect(http_req_t *r, const char *url)
{
	return http_redirect_cookie(r, url, NULL);
}

int http_redirect_cookie(http_req_t *r, const char *url, const char *set_cookie)
{
	char extra[2800];
	if (!http_header_value_safe(url, 2000) || (set_cookie && !http_header_value_safe(set_cookie, 500)))
		return http_fail_dm(r, DM_ERR);
	snprintf(extra, sizeof extra, "Location: %s\r\n%s%s%sCache-Control: no-store\r\n", url,
		 set_cookie ? "Set-Cookie: " : "", set_cookie ? set_cookie : "", set_cookie ? "\r\n" : "");
	return http_reply_raw(r, 302, "text/plain; charset=utf-8", extra, "", 0);
}

/* -------------------------------------------------------------- input */

int http_read_body(http_req_t *r, size_t limit)
{
	long long cl = r->ri->content_length;
	size_t cap, len = 0;
	char *buf;

	if (r->body)
		return DM_OK;
	if (cl > (long long)limit)
		return DM_ETOOBIG;
	cap = cl > 0 ? (size_t)cl + 1 : 4096;
	buf = malloc(cap);
	if (!buf)
		return DM_ENOMEM;
	for (;;) {
		if (len + 1 >= cap) {
			if (cap > limit) {
				free(buf);
				return DM_ETOOBIG;
			}
			size_t ncap = cap * 2 > limit + 2 ? limit + 2 : cap * 2;
			char *nb = realloc(buf, ncap);
			if (!nb) {
				free(buf);
				return DM_ENOMEM;
			}
			buf = nb;
			cap = ncap;
		}
		int n = mg_read(r->conn, buf + len, cap - 1 - len);
		if (n < 0) {
			free(buf);
			return DM_EINVAL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > limit) {
			free(buf);
			return DM_ETOOBIG;
		}
	}
	buf[len] = 0;
	r->body = buf;
	r->body_len = len;
	return DM_OK;
}

int http_json(http_req_t *r)
{
	int rc;
	if (r->json_parsed)
		return DM_OK;
	rc = http_read_body(r, (size_t)cfg.max_body);
	if (rc == DM_ETOOBIG) {
		http_refuse(r, RF_TOO_LARGE);
		return rc;
	}
	if (rc != DM_OK) {
		http_fail_dm(r, rc);
		return rc;
	}
	rc = json_parse(r->db, r->body, r->body_len, &r->json);
	if (rc != DM_OK) {
		if (rc == DM_EINVAL)
			http_refuse(r, RF_INVALID_JSON);
		else
			http_fail_dm(r, rc);
		return rc;
	}
	r->json_parsed = 1;
	return DM_OK;
}

int http_query(const http_req_t *r, const char *name, char *buf, size_t cap)
{
	int n;
	if (!r->query)
		return DM_ENOTFOUND;
	n = mg_get_var(r->query, strlen(r->query), name, buf, cap);
	if (n == -1)
		return DM_ENOTFOUND;
	if (n < 0)
		return DM_ETOOBIG;
	/* a decoded NUL would cut the value short; bytes that are not UTF-8
	 * are no text: both are refused, not read as something else */
	return !memchr(buf, 0, (size_t)n) && dm_utf8_valid(buf, (size_t)n) ? DM_OK : DM_EINVAL;
}

const char *http_header(const http_req_t *r, const char *name)
{
	return mg_get_header(r->conn, name);
}

int http_cookie(const http_req_t *r, const char *name, char *buf, size_t cap)
{
	const char *c = mg_get_header(r->conn, "Cookie");
	char raw[2048];
	int n;
	if (!c || mg_get_cookie(c, name, raw, sizeof raw) < 0)
		return DM_ENOTFOUND;
	if ((n = mg_url_decode(raw, (int)strlen(raw), buf, (int)cap, 0)) < 0)
		return DM_ENOTFOUND;
	return !memchr(buf, 0, (size_t)n) && dm_utf8_valid(buf, (size_t)n) ? DM_OK : DM_EINVAL;
}

/* ------------------------------------------------------------ routing */

/* Matches path against pattern; on success fills r->param. 1/0. */
static int match(http_req_t *r, const char *pattern)
{
	const char *p = pattern, *s = r->path;
	char *out = r->parambuf;
	size_t left = sizeof r->parambuf;

	r->nparam = 0;
	while (*p && *s) {
		if (*p == '*' && p[1] == 0)
			return 1;
		if (*p == ':') {
			size_t n = strcspn(s, "/");
			if (n == 0 || n >= left || r->nparam == HTTP_MAX_PARAMS)
				return 0;
			memcpy(out, s, n);
			out[n] = 0;
			r->param[r->nparam++] = out;
			out += n + 1;
			left -= n + 1;
			s += n;
			p += strcspn(p, "/");
			continue;
		}
		if (*p != *s)
			return 0;
		p++;
		s++;
	}
	if (*p == '*' && p[1] == 0)
		return 1;
	return *p == 0 && *s == 0;
}

static int preflight(http_req_t *r)
{
	const char *origin = mg_get_header(r->conn, "Origin");
	const char *meth = mg_get_header(r->conn, "Access-Control-Request-Method");
	const char *hdrs = mg_get_header(r->conn, "Access-Control-Request-Headers");
	char extra[1500];

	if (!origin || !meth || !origin_allowed(r->conn, origin) || !http_header_value_safe(origin, 512))
		return http_refuse(r, RF_CORS_ORIGIN);
	if (strcmp(meth, "GET") && strcmp(meth, "POST") && strcmp(meth, "PUT") && strcmp(meth, "DELETE") &&
	    strcmp(meth, "HEAD"))
		return http_refuse(r, RF_CORS_METHOD);
	/* allow what is asked, if it is a plain header-name list */
	if (hdrs) {
		for (const char *h = hdrs; *h; h++)
			if (!isalnum((unsigned char)*h) && !strchr("-_, ", *h))
				return http_refuse(r, RF_CORS_HEADERS);
		if (strlen(hdrs) > 800)
			return http_refuse(r, RF_CORS_HEADERS);
	}
	r->replied = 1;
	r->status = 204;
	snprintf(extra, sizeof extra,
		 "HTTP/1.1 204 No Content\r\n"
		 "Access-Control-Allow-Origin: %s\r\n"
		 "Access-Control-Allow-Credentials: true\r\n"
		 "Access-Control-Allow-Methods: GET, POST, PUT, DELETE, HEAD\r\n"
		 "%s%s%s"
		 "Access-Control-Max-Age: 600\r\n"
		 "Vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers\r\n"
		 "%sContent-Length: 0\r\n\r\n",
		 origin, hdrs ? "Access-Control-Allow-Headers: " : "", hdrs ? hdrs : "", hdrs ? "\r\n" : "",
		 http_conn_header(r->conn));
	mg_write(r->conn, extra, strlen(extra));
	return DM_OK;
}

/* Appends method to the Allow list in buf (once; GET brings HEAD). */
static void allow_add(char *buf, size_t cap, const char *method)
{
	const char *m[2] = {method, !strcmp(method, "GET") ? "HEAD" : NULL};
	for (int i = 0; i < 2 && m[i]; i++) {
		size_t n = strlen(buf), k = strlen(m[i]);
		const char *p = buf;
		int dup = 0;
		while ((p = strstr(p, m[i])) && !dup) {
			dup = (p == buf || p[-1] == ' ') && (p[k] == ',' || !p[k]);
			p += k;
		}
		if (!dup && n + k + 3 < cap)
			snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", m[i]);
	}
}

static http_handler_fn fallback;
/* The handler tried before the route table (http_front), or NULL. */
static http_front_fn front;

void http_front(http_front_fn fn)
{
	dm_assert(!front || front == fn);
	front = fn;
}

void http_fallback(http_handler_fn fn)
{
	fallback = fn;
}

/* 1 if some route's pattern starts with the same first segment as path
 * ("/account/x" and "/account/:y" share "account"; "/" has none). */
static int segment_claimed(const char *path)
{
	size_t n = strcspn(path + 1, "/");
	for (int i = 0; i < nsets; i++)
		for (size_t k = 0; k < sets[i].n; k++) {
			const char *p = sets[i].r[k].pattern + 1;
			if (n && strcspn(p, "/") == n && !strncmp(p, path + 1, n))
				return 1;
		}
	return 0;
}

static int dispatch(http_req_t *r)
{
	const http_route_t *found = NULL;
	char allow[96] = "";

	for (int i = 0; i < nsets && !found; i++)
		for (size_t k = 0; k < sets[i].n; k++) {
			const http_route_t *rt = &sets[i].r[k];
			if (!match(r, rt->pattern))
				continue;
			allow_add(allow, sizeof allow, rt->method);
			if (!strcmp(rt->method, r->method) ||
			    (!strcmp(r->method, "HEAD") && !strcmp(rt->method, "GET"))) {
				found = rt;
				break;
			}
		}
	if (!found) {
		if (!strcmp(r->method, "OPTIONS"))
			return preflight(r);
		if (allow[0]) {
			/* RFC 9110 15.5.6: a 405 says which methods the path has */
			char hdr[128];
			allow_add(allow, sizeof allow, "OPTIONS");
			snprintf(hdr, sizeof hdr, "Allow: %s\r\n", allow);
			return http_refuse_hdr(r, RF_METHOD_NOT_ALLOWED, hdr);
		}
		if (fallback && (!strcmp(r->method, "GET") || !strcmp(r->method, "HEAD")) && !segment_claimed(r->path))
			return fallback(r);
		return http_refuse(r, RF_NO_ROUTE);
	}
	/* match() again: the loop may have overwritten params with a later
	 * candidate's captures */
	match(r, found->pattern);
	if (found->auth != HTTP_PUBLIC) {
		const char *h = mg_get_header(r->conn, "Authorization");
		auth_claims_t c;
		if (h) {
			/* the scheme is required (RFC 6750 2.1); auth_bearer alone
			 * also takes a bare token, as sockets send one */
			while (*h == ' ')
				h++;
			if (strncasecmp(h, "bearer ", 7) || auth_token_check(r->db, h, &c) != DM_OK)
				return http_refuse(r, RF_UNAUTHORIZED);
			r->user_id = c.sub;
			r->token_exp = c.exp * 1000;
			dm_strlcpy(r->jti, c.jti, sizeof r->jti);
		} else if (found->auth == HTTP_AUTH)
			return http_refuse(r, RF_UNAUTHORIZED);
	}
	return found->fn(r);
}

/* civetweb's request handler for every path (return 1: we handled it). */

static int on_request(struct mg_connection *conn, void *unused)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	http_req_t *r;
	int rc;

	(void)unused;
	r = calloc(1, sizeof *r);
	if (!r) {
		mg_send_http_error(conn, 503, "%s", "out of memory");
		return 503;
	}
	r->t0 = dm_mono_ms();
	r->conn = conn;
	r->ri = ri;
	r->method = ri->request_method;
	r->query = ri->query_string;
	dm_strlcpy(r->ip, ri->remote_addr, sizeof r->ip);
	r->db = db_reader();
	atomic_fetch_add(&n_requests, 1);
	if (!r->db) {
		mg_send_http_error(conn, 503, "%s", "database unavailable");
		free(r);
		return 503;
	}
	if (dm_strlcpy(r->path, ri->local_uri ? ri->local_uri : "/", sizeof r->path) != DM_OK ||
	    !dm_utf8_valid(r->path, strlen(r->path)))
		rc = http_refuse(r, RF_BAD_PATH);
	else if (front && front(r))
		rc = DM_OK;
	else
		rc = dispatch(r);
	if (!r->replied)
		http_fail_dm(r, rc == DM_OK ? DM_ERR : rc);
	if (cfg.access_log)
		dm_info("%s %s %s %d %lldms user=%lld", r->ip, r->method, r->path, r->status,
			(long long)(dm_mono_ms() - r->t0), (long long)r->user_id);
	if (r->json_parsed)
		json_free(&r->json);
	free(r->body);
	rc = r->status;
	free(r);
	return rc;
}

static int on_log_message(const struct mg_connection *conn, const char *msg)
{
	(void)conn;
	/* every TLS client disconnect would print this */
	if (strstr(msg, "SSL read failed") || strstr(msg, "-30848"))
		return 1;
	dm_warn("civetweb: %s", msg);
	return 1;
}

static void on_exit_thread(const struct mg_context *c, int type, void *user)
{
	(void)c;
	(void)type;
	(void)user;
	db_thread_exit();
	free(reply_buf);
	reply_buf = NULL;
	reply_cap = 0;
}

/* ------------------------------------------------------------- routes */

static int h_healthz(http_req_t *r)
{
	if (!db_ping())
		return http_refuse(r, RF_DB_DOWN);
	return http_reply_stmt(r, 200, db_stmt(r->db, "SELECT json_object('msg','success','status','ok',"
						      "'time',dm_time(dm_now()))"));
}

/* GET /metrics: every registered figure (metrics.c), Prometheus' text
 * format. */
static int h_metrics(http_req_t *r)
{
	char buf[4096];
	size_t n = metrics_format(buf, sizeof buf);
	if (n >= sizeof buf)
		return http_fail_dm(r, DM_ERR);
	return http_reply_raw(r, 200, "text/plain; version=0.0.4", "Cache-Control: no-store\r\n", buf, n);
}

/* http's own figures and the write lane's, for /metrics. */
static const metrics_def_t http_metrics[] = {
	{"dongmul_http_requests_total", METRICS_COUNTER},
	{"dongmul_http_server_errors_total", METRICS_COUNTER},
	{"dongmul_write_batches_total", METRICS_COUNTER},
	{"dongmul_write_jobs_total", METRICS_COUNTER},
	{"dongmul_write_jobs_failed_total", METRICS_COUNTER},
	{"dongmul_write_queue", METRICS_GAUGE},
};

static void http_metrics_read(unsigned long long *v)
{
	jobs_stats_t js;
	jobs_get_stats(&js);
	v[0] = atomic_load(&n_requests);
	v[1] = atomic_load(&n_errors);
	v[2] = js.batches;
	v[3] = js.jobs;
	v[4] = js.failed;
	v[5] = js.queued;
}

int http_init(void)
{
	return metrics_add(http_metrics, sizeof http_metrics / sizeof http_metrics[0], http_metrics_read);
}

/* docs/openapi.json, compacted and embedded at build time (Makefile) */
extern const char dm_openapi_json[];

/* GET /openapi.json: the HTTP contract, machine-readable. */
static int h_openapi(http_req_t *r)
{
	return http_reply_raw(r, 200, "application/json; charset=utf-8", "Cache-Control: no-cache\r\n", dm_openapi_json,
			      strlen(dm_openapi_json));
}

static const http_route_t base_routes[] = {
	{"GET", "/healthz", h_healthz, HTTP_PUBLIC},
	{"GET", "/metrics", h_metrics, HTTP_PUBLIC},
	{"GET", "/openapi.json", h_openapi, HTTP_PUBLIC},
};

/* Appends civetweb's port list for one comma list of addresses. */
static int add_ports(char *out, size_t cap, const char *list, int tls)
{
	const char *p = list;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		size_t len = strlen(out);
		if (n) {
			if (len + n + 3 >= cap)
				return DM_ETOOBIG;
			if (len)
				out[len++] = ',';
			memcpy(out + len, p, n);
			len += n;
			if (tls)
				out[len++] = 's';
			out[len] = 0;
		}
		if (!e)
			break;
		p = e + 1;
	}
	return DM_OK;
}

/* Handler threads: --threads, or from the core count. Connections wait in
 * civetweb's parking set and sio's event loop, not in these threads, so
 * the pool only needs to cover work: 4 per core keeps the cores busy while
 * some handlers wait (a write-lane commit, a TLS handshake bounded by the
 * request timeout), 8 at least so a few slow handshakes starve no one, 64
 * at most (more only adds memory and scheduling). */
static int http_threads(void)
{
	long cores;
	int n;
	if (cfg.threads > 0)
		return cfg.threads;
	cores = sysconf(_SC_NPROCESSORS_ONLN);
	n = cores > 0 && cores < 1000 ? 4 * (int)cores : 8;
	return n < 8 ? 8 : n > 64 ? 64 : n;
}

int http_start(void)
{
	char ports[1200] = "", threads[16], wsto[16], pem[1024] = "", percap[16];
	const char *civet_opts[40];
	int n = 0;
	struct mg_callbacks cb;

	http_routes(base_routes, sizeof base_routes / sizeof base_routes[0]);
	if (add_ports(ports, sizeof ports, cfg.http, 0) != DM_OK ||
	    add_ports(ports, sizeof ports, cfg.https, 1) != DM_OK) {
		dm_error("too many listeners");
		return DM_ERR;
	}
	if (cfg.https[0] && tls_server_pem(pem, sizeof pem) != DM_OK)
		return DM_ERR;
	snprintf(threads, sizeof threads, "%d", http_threads());
	snprintf(percap, sizeof percap, "%d", cfg.max_conns_per_ip);
	snprintf(wsto, sizeof wsto, "%d", (cfg.sio_ping_interval + cfg.sio_ping_timeout) * 2);
	civet_opts[n++] = "listening_ports";
	civet_opts[n++] = ports;
	civet_opts[n++] = "num_threads";
	civet_opts[n++] = threads;
	civet_opts[n++] = "tcp_nodelay";
	civet_opts[n++] = "1";
	civet_opts[n++] = "enable_keep_alive";
	civet_opts[n++] = "yes";
	civet_opts[n++] = "keep_alive_timeout_ms";
	civet_opts[n++] = "5000";
	civet_opts[n++] = "request_timeout_ms";
	civet_opts[n++] = "30000";
	civet_opts[n++] = "websocket_timeout_ms";
	civet_opts[n++] = wsto;
	civet_opts[n++] = "connection_queue";
	civet_opts[n++] = "1024";
	civet_opts[n++] = "listen_backlog";
	civet_opts[n++] = "1024";
	civet_opts[n++] = "max_connections_per_ip";
	civet_opts[n++] = percap;
	/* CORS is ours alone: civetweb would add "*" on its own */
	civet_opts[n++] = "access_control_allow_origin";
	civet_opts[n++] = "";
	civet_opts[n++] = "access_control_allow_methods";
	civet_opts[n++] = "";
	civet_opts[n++] = "access_control_allow_headers";
	civet_opts[n++] = "";
	if (pem[0]) {
		civet_opts[n++] = "ssl_certificate";
		civet_opts[n++] = pem;
	}
	civet_opts[n] = NULL;

	memset(&cb, 0, sizeof cb);
	cb.log_message = on_log_message;
	cb.exit_thread = on_exit_thread;
	cb.init_ssl = tls_init_conf;
	civet_ctx = mg_start(&cb, NULL, civet_opts);
	if (!civet_ctx) {
		dm_error("cannot start the HTTP server on %s (in use? bad address?)", ports);
		return DM_ERR;
	}
	mg_set_request_handler(civet_ctx, "/", on_request, NULL);
	for (int i = 0; i < nstart_hooks; i++)
		start_hooks[i](civet_ctx);
	dm_info("%s threads run requests; %d connections per client address at most%s", threads,
		cfg.max_conns_per_ip, cfg.max_conns_per_ip ? "" : " (no cap)");
	if (cfg.http[0])
		dm_info("listening on http %s", cfg.http);
	if (cfg.https[0])
		dm_info("listening on https %s", cfg.https);
	return DM_OK;
}

/* Prints every route as "METHOD PATH" lines, the base routes first, then
 * the parts' tables in the order they were registered. */
void http_print_routes(FILE *f)
{
	for (size_t i = 0; i < sizeof base_routes / sizeof base_routes[0]; i++)
		fprintf(f, "%s %s\n", base_routes[i].method, base_routes[i].pattern);
	for (int k = 0; k < nsets; k++)
		for (size_t i = 0; i < sets[k].n; i++)
			fprintf(f, "%s %s\n", sets[k].r[i].method, sets[k].r[i].pattern);
}

void http_stop(void)
{
	if (civet_ctx) {
		mg_stop(civet_ctx);
		civet_ctx = NULL;
	}
}
