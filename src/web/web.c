/*
 * web.c — serves the web app embedded at build time (see web.h): the
 * hashed assets under /assets/, index.html for "/" and for every app
 * path, so that a deep link survives a reload, and the service worker at
 * /sw.js.
 *
 * App paths: a GET or HEAD whose first path segment no API route claims
 * (http_fallback); it gets index.html when the client asks for HTML
 * (Accept: text/html; "/" always), else the API's JSON 404. So an app path
 * can never shadow an API path, and fetch() of an unknown path stays 404.
 *
 * Replies: gzip when the client accepts it (else the plain bytes), an
 * ETag with If-None-Match -> 304, a year of caching for hashed names and
 * revalidation for index.html, and the app's own Content-Security-Policy
 * (API replies keep http's stricter one).
 *
 * Thread-safety: only read-only data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dm.h"
#include "http.h"
#include "web.h"

/* The app's policy: nothing inline, nothing from elsewhere; WebSockets to
 * the same host (connect-src 'self' covers ws: only in newer browsers). */
#define WEB_CSP                                                                                           \
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "           \
	"connect-src 'self' ws: wss:; font-src 'self'; object-src 'none'; frame-ancestors 'none'; "       \
	"base-uri 'none'; form-action 'self'"
#define WEB_HEADERS                                  \
	"Content-Security-Policy: " WEB_CSP "\r\n"   \
	"X-Content-Type-Options: nosniff\r\n"        \
	"X-Frame-Options: DENY\r\n"                  \
	"Referrer-Policy: no-referrer\r\n"           \
	"Cross-Origin-Opener-Policy: same-origin\r\n" \
	"Vary: Accept-Encoding\r\n"
#define CACHE_IMMUTABLE "public, max-age=31536000, immutable"
#define CACHE_INDEX "no-cache"

const web_asset_t *web_find(const char *path)
{
	for (unsigned i = 0; i < web_nassets; i++)
		if (!strcmp(web_assets[i].path, path))
			return &web_assets[i];
	return NULL;
}

/* 1 if the header value lists token (case-insensitive, as a whole
 * comma-separated element, optionally with parameters) without q=0. */
static int header_has(const char *v, const char *token)
{
	size_t tl = strlen(token);
	while (v && *v) {
		const char *e = strchr(v, ',');
		size_t n;
		v += strspn(v, " \t");
		n = e ? (size_t)(e - v) : strlen(v);
		if (n >= tl && !strncasecmp(v, token, tl) && (n == tl || v[tl] == ';' || v[tl] == ' ')) {
			const char *q = strstr(v + tl, "q=");
			if (!q || q >= v + n || strtod(q + 2, NULL) > 0)
				return 1;
		}
		v = e ? e + 1 : NULL;
	}
	return 0;
}

/* 1 if If-None-Match (a list of entity tags, or "*") matches etag, with
 * the weak comparison of RFC 9110 (a W/ prefix is ignored). */
static int etag_matches(const char *inm, const char *etag)
{
	size_t el = strlen(etag);
	if (!inm)
		return 0;
	for (const char *p = inm; *p;) {
		p += strspn(p, " \t,");
		if (*p == '*')
			return 1;
		if (!strncmp(p, "W/", 2))
			p += 2;
		if (!strncmp(p, etag, el) && (p[el] == 0 || p[el] == ',' || p[el] == ' '))
			return 1;
		p += strcspn(p, ",");
	}
	return 0;
}

/* Sends asset a (gzip'd when the client accepts it), or 304 when the
 * client's copy is current. Always DM_OK. */
static int send_asset(http_req_t *r, const web_asset_t *a, const char *cache)
{
	char head[1400], etag[40];
	int gz = a->gz && header_has(http_header(r, "Accept-Encoding"), "gzip");
	const void *body = gz ? a->gz : a->data;
	size_t len = gz ? a->gzlen : a->len;
	int n, fresh;

	/* the two encodings are different bytes: different entity tags */
	if (gz) {
		size_t l = strlen(a->etag);
		snprintf(etag, sizeof etag, "%.*s-gz\"", (int)(l - 1), a->etag);
	} else
		dm_strlcpy(etag, a->etag, sizeof etag);
	fresh = etag_matches(http_header(r, "If-None-Match"), etag);
	if (fresh)
		n = snprintf(head, sizeof head,
			     "HTTP/1.1 304 Not Modified\r\nETag: %s\r\nCache-Control: %s\r\n" WEB_HEADERS "\r\n", etag,
			     cache);
	else
		n = snprintf(head, sizeof head,
			     "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sETag: %s\r\n"
			     "Cache-Control: %s\r\n" WEB_HEADERS "\r\n",
			     a->ctype, len, gz ? "Content-Encoding: gzip\r\n" : "", etag, cache);
	if (n < 0 || (size_t)n >= sizeof head) /* not with the table's short strings */
		return http_fail_dm(r, DM_ERR);
	r->replied = 1;
	r->status = fresh ? 304 : 200;
	mg_write(r->conn, head, (size_t)n);
	if (!fresh && strcmp(r->method, "HEAD"))
		mg_write(r->conn, body, len);
	return DM_OK;
}

/* GET /assets/:name */
static int h_asset(http_req_t *r)
{
	const web_asset_t *a = web_find(r->path);
	if (!a)
		return http_refuse(r, RF_NO_ROUTE);
	return send_asset(r, a, CACHE_IMMUTABLE);
}

/* The service worker web/sw.js, whose hashed name is /assets/sw.HASH.js,
 * or NULL. */
static const web_asset_t *service_worker(void)
{
	for (unsigned i = 0; i < web_nassets; i++) {
		const char *p = web_assets[i].path;
		size_t n = strlen(p);
		/* "/assets/sw." HASH ".js", HASH without dots */
		if (n > 14 && !strncmp(p, "/assets/sw.", 11) && strchr(p + 11, '.') == p + n - 3 &&
		    !strcmp(p + n - 3, ".js"))
			return &web_assets[i];
	}
	return NULL;
}

/* The fallback for paths no API route claims: /sw.js (the service worker
 * at a stable path, revalidated, so that its scope is the whole app),
 * index.html for a browser navigation (or "/"), the JSON 404 otherwise. */
static int h_app(http_req_t *r)
{
	const web_asset_t *a = web_find("/");
	const char *accept = http_header(r, "Accept");
	if (!strcmp(r->path, "/sw.js")) {
		a = service_worker();
		return a ? send_asset(r, a, CACHE_INDEX) : http_refuse(r, RF_NO_ROUTE);
	}
	if (!a || (strcmp(r->path, "/") && !(accept && strstr(accept, "text/html"))))
		return http_refuse(r, RF_NO_ROUTE);
	return send_asset(r, a, CACHE_INDEX);
}

static const http_route_t routes[] = {
	{"GET", "/assets/:name", h_asset, HTTP_PUBLIC},
};

int web_init(void)
{
	http_routes(routes, sizeof routes / sizeof routes[0]);
	http_fallback(h_app);
	if (!web_find("/"))
		dm_warn("web: no app embedded (web/index.html missing at build time)");
	return DM_OK;
}
