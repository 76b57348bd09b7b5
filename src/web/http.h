/*
 * http — civetweb setup, the route table, request and reply helpers, auth
 * extraction, CORS, limits, security headers, the access log.
 * Prefix: http_.
 *
 * A handler runs on a civetweb worker thread. It reads on db_reader() and
 * writes through jobs_write(). It must send exactly one reply (http_reply*
 * / http_refuse* / http_fail_*) and return DM_OK; if it returns an error status without
 * having replied, http sends the matching error reply for it.
 */
#ifndef HTTP_H
#define HTTP_H

#include <civetweb.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "json.h"
#include "refusal.h"

#define HTTP_MAX_PARAMS 4

typedef struct http_req {
	struct mg_connection *conn;
	const struct mg_request_info *ri;
	const char *method;
	char path[1024];                 /* decoded path, no query */
	const char *query;               /* raw query string or NULL */
	const char *param[HTTP_MAX_PARAMS]; /* ":name" captures, in order, into path */
	int nparam;
	char parambuf[1024];             /* backing store of param[] */
	int64_t t0;                      /* start, ms (monotonic) */
	sqlite3 *db;                     /* this thread's reader */
	int64_t user_id;                 /* from a verified token; 0 if none */
	char jti[48];                    /* of that token */
	int64_t token_exp;               /* ms */
	char ip[48];                     /* remote address */
	char *body;                      /* read by http_read_body; NUL-terminated */
	size_t body_len;
	json_obj_t json;                 /* parsed by http_json */
	int json_parsed;
	int status;                      /* reply status, for the access log */
	int replied;
} http_req_t;

typedef int (*http_handler_fn)(http_req_t *r);

enum {
	HTTP_PUBLIC = 0,     /* no token looked at */
	HTTP_AUTH_OPT = 1,   /* a valid token sets user_id; a bad one is a 401 */
	HTTP_AUTH = 2        /* a valid token is required (401) */
};

typedef struct http_route {
	const char *method;   /* "GET", "POST", "DELETE", "PUT" */
	const char *pattern;  /* "/postDetail/:itemId"; a trailing "*" matches the rest */
	http_handler_fn fn;
	int auth;
} http_route_t;

/* Adds routes (kept by pointer: pass static arrays). Call before
 * http_start. Routes are matched in registration order. */
void http_routes(const http_route_t *routes, size_t n);
/* Prints every registered route as "METHOD PATH" lines (dongmul routes). */
void http_print_routes(FILE *f);

/* A handler tried before the route table for every request: it returns 1
 * when it replied, 0 to let the routes answer. ACME sets one (its HTTP-01
 * challenges and the redirect of plain HTTP to HTTPS), so http needs no
 * knowledge of ACME. At most one; call before http_start. */
typedef int (*http_front_fn)(http_req_t *r);
void http_front(http_front_fn fn);

/* Sets the handler for a GET or HEAD that no route matches and whose first
 * path segment no route claims (the web app's paths: see web.c). Call
 * before http_start. */
void http_fallback(http_handler_fn fn);

/* Registers http's figures (requests, server errors) and the write lane's
 * with /metrics. Call before the parts start (their figures follow).
 * DM_OK or DM_ERR. */
int http_init(void);
/* Starts civetweb on cfg's listeners. DM_OK or DM_ERR (logged). */
int http_start(void);
/* Stops accepting, closes connections, joins civetweb's threads. */
void http_stop(void);
/* The civetweb context (for sio to set WebSocket handlers). */
struct mg_context *http_ctx(void);
/* Registers fn, called with the civetweb context right after http_start
 * started it (sio sets its WebSocket handler there: the context does not
 * exist before). Call before http_start; at most 4 hooks. */
void http_on_start(void (*fn)(struct mg_context *ctx));

/* Reads the whole body (at most limit bytes, else DM_ETOOBIG). */
int http_read_body(http_req_t *r, size_t limit);
/* Reads and strictly parses a JSON object body into r->json.
 * DM_OK, DM_EINVAL (replied 400), DM_ETOOBIG (replied 413). */
int http_json(http_req_t *r);

/* Sends status with a JSON body (copied). Always DM_OK. */
int http_reply_json(http_req_t *r, int status, const char *json, size_t len);
/* Runs sql (bound with the given text/int parameters by the caller) whose
 * first row's first column is the whole JSON reply; sends it with status.
 * No row: 404 NOT_FOUND. Gives st back with db_done (finalizes one from
 * db_prep, returns one from db_stmt to the cache). */
int http_reply_stmt(http_req_t *r, int status, sqlite3_stmt *st);
/* {"msg":"success"} */
int http_ok(http_req_t *r);
/* {"msg":"fail","errorMsg":msg,"code":code} with the refusal's status,
 * code and message from the catalog (refusal.h). Always DM_OK. */
int http_refuse(http_req_t *r, refusal_t rf);
/* The same with the value that applies appended to the message in
 * brackets ("사진은 ... (1MB까지)"): a configured limit, a date. detail is
 * our own text, never a client's. Always DM_OK. */
int http_refuse_detail(http_req_t *r, refusal_t rf, const char *detail);
/* The same with extra header lines ("Name: value\r\n"...: a Retry-After,
 * a cleared cookie); Cache-Control: no-store is added unless extra has its
 * own. Always DM_OK. */
int http_refuse_hdr(http_req_t *r, refusal_t rf, const char *extra);
/* The HTTP status for a DM_* status. */
int http_status_of(int dm_status);
/* Fails with the status, code and Korean message that fit a DM_* status. */
int http_fail_dm(http_req_t *r, int dm_status);
/* 429 RATE_LIMITED (refusal.h) with Retry-After: seconds. */
int http_fail_rate(http_req_t *r, int retry_after_s);
/* A redirect (302) to url. */
int http_redirect(http_req_t *r, const char *url);
/* The same, with a Set-Cookie header (set_cookie: its value; NULL: none). */
int http_redirect_cookie(http_req_t *r, const char *url, const char *set_cookie);
/* Sends raw bytes with a content type and extra headers ("Name: v\r\n"...). */
int http_reply_raw(http_req_t *r, int status, const char *ctype, const char *extra_headers,
		   const void *body, size_t len);

/* A query parameter (decoded) into buf; DM_OK, DM_ENOTFOUND, DM_ETOOBIG,
 * or DM_EINVAL when the decoded value holds a NUL or is not UTF-8 (the
 * caller answers 400: it is not read as absent or cut short). */
int http_query(const http_req_t *r, const char *name, char *buf, size_t cap);
/* 1 if s (at most max bytes) is safe inside a reply header: no CR, LF
 * or other control character. */
int http_header_value_safe(const char *s, size_t max);
/* A request header or NULL. */
const char *http_header(const http_req_t *r, const char *name);
/* A cookie value (decoded) into buf; DM_OK, DM_ENOTFOUND, or DM_EINVAL
 * when the decoded value holds a NUL or is not UTF-8. */
int http_cookie(const http_req_t *r, const char *name, char *buf, size_t cap);

/* Writes the CORS headers for this request's Origin (if allowed) into buf
 * as "Name: value\r\n" lines. Used by http itself and by sio's polling. */
void http_cors_headers(const struct mg_connection *conn, char *buf, size_t cap);
/* 1 if the request carries an Origin header naming an allowed origin (the
 * server's own, or one of --cors-origin): the CSRF check of endpoints that
 * act on a cookie. 0 when Origin is missing or foreign. */
int http_origin_ok(const http_req_t *r);
/* Security headers as "Name: value\r\n" lines (static string). */
const char *http_security_headers(void);
/* "Connection: close\r\n" when civetweb will close after this request's
 * reply (the client asked, or HTTP/1.0 without keep-alive), else "". */
const char *http_conn_header(const struct mg_connection *conn);

#endif
