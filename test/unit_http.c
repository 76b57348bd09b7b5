/*
 * unit_http.c — table-driven tests of what http.c reads from a request
 * (hostile input):
 *
 *  - the route matcher (match): literal segments, ":name" captures, a
 *    trailing "*", the capture cap (HTTP_MAX_PARAMS) and the capture
 *    buffer, called directly;
 *  - the whole path on a real civetweb on 127.0.0.1 (http_start with our
 *    on_request): what civetweb's percent-decoding and dot-segment removal
 *    make of a path before match sees it, BAD_PATH for a path that is not
 *    UTF-8 or too long, 404 and 405;
 *  - http_cookie (Cookie header → a named value, percent-decoded);
 *  - the Authorization header of routes that take a token: the scheme,
 *    blanks, a bare token, tampered, expired and revoked tokens.
 *
 * Tokens are signed here with auth.c and checked against a real database
 * (a user row with its token generation).
 */
#include "../src/core/dm.c"
#include "../src/core/config.c"
#include "../src/core/db.c"
#include "../src/core/mem.c"
#include "../src/core/json.c"
#include "../src/core/refusal.c"
#include "../src/core/metrics.c"
#include "../src/core/auth.c"
#include "../src/core/tls.c"
#include "../src/core/jobs.c"
#include "../src/web/http.c"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "unit.h"


/* ------------------------------------------------- match, directly */

typedef struct mrow {
	const char *pattern, *path;
	int match;
	const char *params; /* the captures "|"-joined, when it matches */
} mrow_t;

static const mrow_t mrows[] = {
	{"/a", "/a", 1, ""},
	{"/a", "/A", 0, NULL},
	{"/a", "/a/", 0, NULL},
	{"/a/", "/a", 0, NULL},
	{"/a", "/ab", 0, NULL},
	{"/ab", "/a", 0, NULL},
	{"/", "/", 1, ""},
	{"/", "/a", 0, NULL},
	{"/postDetail/:itemId", "/postDetail/42", 1, "42"},
	{"/postDetail/:itemId", "/postDetail/", 0, NULL},
	{"/postDetail/:itemId", "/postDetail", 0, NULL},
	{"/postDetail/:itemId", "/postDetail/42/", 0, NULL},
	{"/postDetail/:itemId", "/postDetail/42/x", 0, NULL},
	{"/postDetail/:itemId", "/postDetail//42", 0, NULL},
	{"/postDetail/:itemId", "/postDetail/4 2", 1, "4 2"},
	{"/postDetail/:itemId", "/postDetail/\xeb\x8f\x99", 1, "\xeb\x8f\x99"},
	{"/postDetail/:itemId", "/postDetail/..", 1, ".."}, /* match takes any segment; ids are parsed later */
	{"/a/:x/b", "/a/1/b", 1, "1"},
	{"/a/:x/b", "/a/1/c", 0, NULL},
	{"/a/:x/b", "/a//b", 0, NULL},
	{"/a/:x/:y", "/a/1/2", 1, "1|2"},
	{"/a/:x/:y", "/a/1", 0, NULL},
	{"/a/:x/:y", "/a/1/", 0, NULL},
	{"/:a/:b/:c/:d", "/1/2/3/4", 1, "1|2|3|4"},
	{"/:a/:b/:c/:d/:e", "/1/2/3/4/5", 0, NULL}, /* over HTTP_MAX_PARAMS */
	{"/socket.io/*", "/socket.io/", 1, ""},
	{"/socket.io/*", "/socket.io/x/y?z", 1, ""},
	{"/socket.io/*", "/socket.io", 0, NULL},
	{"/socket.io/*", "/socket.iox", 0, NULL},
	{"/a/:x/*", "/a/1/rest/of/it", 1, "1"},
	{"/a/:x/*", "/a/1", 0, NULL},
	{"/images/:name", "/images/a.jpg", 1, "a.jpg"},
};

static void test_match(void)
{
	http_req_t *r = calloc(1, sizeof *r);
	if (!r)
		return;
	for (size_t i = 0; i < sizeof mrows / sizeof mrows[0]; i++) {
		const mrow_t *m = &mrows[i];
		char got[1100] = "";
		int ok;
		dm_strlcpy(r->path, m->path, sizeof r->path);
		ok = match(r, m->pattern);
		CHECK(ok == m->match, "match(%s, %s) = %d", m->pattern, m->path, ok);
		if (!ok || !m->params)
			continue;
		for (int k = 0; k < r->nparam; k++) {
			if (k)
				strcat(got, "|");
			strncat(got, r->param[k], sizeof got - strlen(got) - 1);
		}
		CHECK(!strcmp(got, m->params), "match(%s, %s): params '%s', want '%s'", m->pattern, m->path, got,
		      m->params);
	}
	/* long segments: the captures share parambuf (1024 bytes, each with
	 * its NUL) */
	{
		char path[1024];
		memset(path, 'x', sizeof path);
		path[0] = '/';
		path[sizeof path - 1] = 0; /* one segment of 1022 bytes */
		dm_strlcpy(r->path, path, sizeof r->path);
		CHECK(match(r, "/:a") && r->nparam == 1 && strlen(r->param[0]) == 1022, "a capture of 1022 bytes");
		path[600] = '/'; /* 599 + 422 bytes, 1023 with both NULs */
		dm_strlcpy(r->path, path, sizeof r->path);
		CHECK(match(r, "/:a/:b") && strlen(r->param[0]) == 599 && strlen(r->param[1]) == 422,
		      "two captures filling the buffer but one byte");
		CHECK(r->param[1] + strlen(r->param[1]) < r->parambuf + sizeof r->parambuf, "inside parambuf");
		CHECK(!match(r, "/:a/b") && !match(r, "/a/:b"), "a literal segment still has to match");
	}
	free(r);
}

/* ------------------------------------------- a real server, raw requests */

static int port;

static int h_params(http_req_t *r)
{
	char body[2200] = "";
	for (int k = 0; k < r->nparam; k++) {
		if (k)
			strcat(body, "|");
		strncat(body, r->param[k], sizeof body - strlen(body) - 1);
	}
	return http_reply_raw(r, 200, "text/plain", NULL, body, strlen(body));
}

static int h_cookie(http_req_t *r)
{
	char v[256], body[300];
	int rc = http_cookie(r, "token", v, sizeof v);
	if (rc == DM_OK)
		snprintf(body, sizeof body, "=%s", v);
	else
		snprintf(body, sizeof body, "none");
	return http_reply_raw(r, 200, "text/plain", NULL, body, strlen(body));
}

/* a small buffer: a value that does not fit is refused, not cut */
static int h_cookie8(http_req_t *r)
{
	char v[8], body[32];
	int rc = http_cookie(r, "token", v, sizeof v);
	snprintf(body, sizeof body, rc == DM_OK ? "=%s" : "none", v);
	return http_reply_raw(r, 200, "text/plain", NULL, body, strlen(body));
}

static int h_me(http_req_t *r)
{
	char body[32];
	snprintf(body, sizeof body, "%lld", (long long)r->user_id);
	return http_reply_raw(r, 200, "text/plain", NULL, body, strlen(body));
}

static const http_route_t routes[] = {
	{"GET", "/t/:a/:b", h_params, HTTP_PUBLIC},
	{"GET", "/one/:a", h_params, HTTP_PUBLIC},
	{"POST", "/post/:a", h_params, HTTP_PUBLIC},
	{"GET", "/star/*", h_params, HTTP_PUBLIC},
	{"GET", "/cookie", h_cookie, HTTP_PUBLIC},
	{"GET", "/cookie8", h_cookie8, HTTP_PUBLIC},
	{"GET", "/me", h_me, HTTP_AUTH},
	{"GET", "/maybe", h_me, HTTP_AUTH_OPT},
};

/* Sends a raw request (Connection: close is added), reads the reply;
 * returns its status, its body into body. -1 when no reply. */
static int request(const char *method, const char *target, const char *headers, char *body, size_t cap)
{
	struct sockaddr_in a;
	struct timeval tv = {20, 0};
	char *req, buf[16384];
	size_t n = 0;
	int fd, status = -1;
	ssize_t k;
	const char *b;

	body[0] = 0;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	req = malloc(strlen(target) + strlen(headers) + 128);
	if (!req || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		free(req);
		close(fd);
		return -1;
	}
	sprintf(req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Length: 0\r\nConnection: close\r\n\r\n", method,
		target, headers);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		free(req);
		close(fd);
		return -1;
	}
	free(req);
	while (n + 1 < sizeof buf && (k = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
		n += (size_t)k;
	buf[n] = 0;
	close(fd);
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	if ((b = strstr(buf, "\r\n\r\n")) != NULL)
		dm_strlcpy(body, b + 4, cap);
	return status;
}

typedef struct prow {
	const char *method, *target;
	int status;
	const char *body; /* the captures ("|"-joined), or a wire code the body holds */
} prow_t;

static const prow_t prows[] = {
	{"GET", "/t/1/2", 200, "1|2"},
	{"GET", "/t/1/2?x=/3", 200, "1|2"},
	{"GET", "/t/a%20b/c", 200, "a b|c"},
	{"GET", "/t/%eb%8f%99/%EB%AC%BC", 200, "\xeb\x8f\x99|\xeb\xac\xbc"},
	{"GET", "/t/%2e/x", 404, "NOT_FOUND"},           /* "." removed: /t/x */
	{"GET", "/t/1/2/../3", 200, "1|3"},              /* dot segments go before matching */
	{"GET", "/t/../t/1/2", 200, "1|2"},
	{"GET", "/t/1%2F2/3", 404, "NOT_FOUND"},         /* a decoded slash separates */
	{"GET", "/one/1%2F2", 404, "NOT_FOUND"},
	{"GET", "/one/%25", 200, "%"},
	{"GET", "/one/%2", 200, "%2"},                   /* a cut escape stays as written */
	{"GET", "/one/%zz", 200, "%zz"},
	{"GET", "/one/%ff", 400, "BAD_PATH"},            /* not UTF-8 */
	{"GET", "/one/%c0%af", 400, "BAD_PATH"},         /* overlong */
	{"GET", "/one/%ed%a0%80", 400, "BAD_PATH"},      /* a surrogate */
	{"GET", "/one/%eb%8f", 400, "BAD_PATH"},         /* cut */
	{"GET", "/one/a%0ab", 200, "a\nb"},
	{"GET", "/one/", 404, "NOT_FOUND"},
	{"GET", "/one", 404, "NOT_FOUND"},
	{"GET", "/one/1/", 404, "NOT_FOUND"},
	{"GET", "/ONE/1", 404, "NOT_FOUND"},
	{"GET", "//one/1", 200, "1"},                    /* civetweb merges the slashes */
	{"POST", "/one/1", 405, "METHOD_NOT_ALLOWED"},
	{"PUT", "/post/1", 405, "METHOD_NOT_ALLOWED"},
	{"POST", "/post/%41", 200, "A"},
	{"HEAD", "/one/1", 200, ""},
	{"GET", "/star/", 200, ""},
	{"GET", "/star/a/b/c", 200, ""},
	{"GET", "/star", 404, "NOT_FOUND"},
};

static void test_paths(void)
{
	char body[4096];
	for (size_t i = 0; i < sizeof prows / sizeof prows[0]; i++) {
		const prow_t *p = &prows[i];
		int st = request(p->method, p->target, "", body, sizeof body);
		CHECK(st == p->status, "%s %s: status %d, want %d", p->method, p->target, st, p->status);
		if (st == 200)
			CHECK(!strcmp(body, p->body), "%s %s: body '%s', want '%s'", p->method, p->target, body, p->body);
		else
			CHECK(strstr(body, p->body) != NULL, "%s %s: body '%.80s' names %s", p->method, p->target, body,
			      p->body);
	}
	/* a decoded path over 1023 bytes: BAD_PATH, whatever it would match */
	{
		char target[1100];
		memcpy(target, "/one/", 5);
		memset(target + 5, 'x', 1030);
		target[1035] = 0;
		CHECK(request("GET", target, "", body, sizeof body) == 400 && strstr(body, "BAD_PATH"),
		      "a path of 1035 bytes: BAD_PATH (%.60s)", body);
		target[1023] = 0; /* 1023 bytes: fits with its NUL */
		CHECK(request("GET", target, "", body, sizeof body) == 200 && strlen(body) == 1018,
		      "a path of 1023 bytes matches (%zu)", strlen(body));
	}
}

/* Cookie header → http_cookie("token") */
static const struct {
	const char *cookie; /* NULL: no header */
	const char *want;   /* "=value", or "none" */
	int small;          /* through an 8-byte buffer */
} crows[] = {
	{NULL, "none", 0},
	{"token=abc", "=abc", 0},
	{"a=1; token=abc; b=2", "=abc", 0},
	{"a=1;token=abc", "none", 0}, /* RFC 6265: pairs are separated by "; " */
	{"token=abc; token=def", "=abc", 0},
	{"xtoken=abc", "none", 0},
	{"tokenx=abc", "none", 0},
	{"a=token=abc", "none", 0},
	{"a=1", "none", 0},
	{"token=a%20b", "=a b", 0},
	{"token=a%3Bb", "=a;b", 0},
	{"token=a+b", "=a+b", 0},
	{"token=%eb%8f%99", "=\xeb\x8f\x99", 0},
	{"token=eyJ.eyJ.sig-_", "=eyJ.eyJ.sig-_", 0},
	{"token=1234567", "=1234567", 1},
	{"token=12345678", "none", 1}, /* does not fit 8 bytes with its NUL */
	{"token=%41%41%41%41%41%41%41", "=AAAAAAA", 1}, /* decoded, it fits */
};

static void test_cookies(void)
{
	char body[4096], hdr[4200];
	for (size_t i = 0; i < sizeof crows / sizeof crows[0]; i++) {
		int st;
		if (crows[i].cookie)
			snprintf(hdr, sizeof hdr, "Cookie: %s\r\n", crows[i].cookie);
		else
			hdr[0] = 0;
		st = request("GET", crows[i].small ? "/cookie8" : "/cookie", hdr, body, sizeof body);
		CHECK(st == 200 && !strcmp(body, crows[i].want), "cookie '%s': '%s', want '%s'",
		      crows[i].cookie ? crows[i].cookie : "(none)", body, crows[i].want);
	}
	/* a value longer than http_cookie's 2 KB of raw text is absent */
	{
		char big[3000];
		memset(big, 'a', sizeof big);
		big[sizeof big - 1] = 0;
		snprintf(hdr, sizeof hdr, "Cookie: token=%s\r\n", big);
		CHECK(request("GET", "/cookie", hdr, body, sizeof body) == 200 && !strcmp(body, "none"),
		      "a 3 KB cookie value: none");
	}
}

/* ----------------------------------------------- Authorization */

static char tok[600], tok_gen[600], tok_nouser[600], tok_expired[600], tok_revoked[600];

static int mint(int64_t uid, int64_t gen, int ttl, char *out, auth_claims_t *c)
{
	auth_claims_t cl;
	return auth_jwt_sign(uid, gen, ttl, out, 600, c ? c : &cl);
}

static int setup_tokens(void)
{
	sqlite3 *w = db_writer();
	auth_claims_t c;
	if (!w || db_exec(w, "INSERT INTO user(userId, email, nickname, tokenGen, createdDt) "
			     "VALUES (7, 'a@b.c', 'a', 3, 0)") != DM_OK)
		return DM_ERR;
	if (mint(7, 3, 3600, tok, NULL) || mint(7, 2, 3600, tok_gen, NULL) || mint(8, 0, 3600, tok_nouser, NULL) ||
	    mint(7, 3, -120, tok_expired, NULL) || mint(7, 3, 3600, tok_revoked, &c))
		return DM_ERR;
	{
		char sql[256];
		snprintf(sql, sizeof sql, "INSERT INTO revokedToken(jti, expiresDt) VALUES ('%s', %lld)", c.jti,
			 (long long)c.exp);
		if (db_exec(w, sql) != DM_OK)
			return DM_ERR;
	}
	return DM_OK;
}

/* fmt with every "%s" replaced by tk, into out */
static void expand(char *out, size_t cap, const char *fmt, const char *tk)
{
	size_t n = 0;
	for (const char *p = fmt; *p && n + 1 < cap; p++) {
		if (p[0] == '%' && p[1] == 's') {
			size_t k = strlen(tk);
			if (n + k + 1 >= cap)
				break;
			memcpy(out + n, tk, k);
			n += k;
			p++;
		} else
			out[n++] = *p;
	}
	out[n] = 0;
}

static void test_authorization(void)
{
	char body[4096], hdr[2000], bad[600];
	const struct {
		const char *fmt; /* %s: the token */
		const char *tk;
		const char *path;
		int status;
		const char *want; /* the user id seen, or a wire code */
	} arows[] = {
		{"", NULL, "/me", 401, "UNAUTHORIZED"},
		{"", NULL, "/maybe", 200, "0"},
		{"Authorization: Bearer %s\r\n", tok, "/me", 200, "7"},
		{"Authorization: Bearer %s\r\n", tok, "/maybe", 200, "7"},
		{"Authorization: bearer %s\r\n", tok, "/me", 200, "7"},
		{"Authorization: BEARER %s\r\n", tok, "/me", 200, "7"},
		{"Authorization:    Bearer %s\r\n", tok, "/me", 200, "7"},
		{"Authorization: Bearer    %s\r\n", tok, "/me", 200, "7"},
		{"Authorization: %s\r\n", tok, "/me", 401, "UNAUTHORIZED"},   /* no scheme */
		{"Authorization: %s\r\n", tok, "/maybe", 401, "UNAUTHORIZED"},
		{"Authorization: Basic %s\r\n", tok, "/me", 401, "UNAUTHORIZED"},
		{"Authorization: Bearer%s\r\n", tok, "/me", 401, "UNAUTHORIZED"},
		{"Authorization: Bearer\t%s\r\n", tok, "/me", 400, "Bad Request"}, /* civetweb refuses the tab */
		{"Authorization: Bearer\r\n", NULL, "/me", 401, "UNAUTHORIZED"},
		{"Authorization: Bearer \r\n", NULL, "/me", 401, "UNAUTHORIZED"},
		{"Authorization: \r\n", NULL, "/maybe", 401, "UNAUTHORIZED"},
		{"Authorization: Bearer %sx\r\n", tok, "/me", 401, "UNAUTHORIZED"},
		{"Authorization: Bearer x%s\r\n", tok, "/me", 401, "UNAUTHORIZED"},
		{"Authorization: Bearer %s, Bearer %s\r\n", tok, "/me", 401, "UNAUTHORIZED"},
		{"Authorization: Bearer %s\r\n", bad, "/me", 401, "UNAUTHORIZED"},       /* one bit changed */
		{"Authorization: Bearer %s\r\n", tok_gen, "/me", 401, "UNAUTHORIZED"},   /* an older generation */
		{"Authorization: Bearer %s\r\n", tok_nouser, "/me", 401, "UNAUTHORIZED"},
		{"Authorization: Bearer %s\r\n", tok_expired, "/me", 401, "UNAUTHORIZED"},
		{"Authorization: Bearer %s\r\n", tok_revoked, "/me", 401, "UNAUTHORIZED"},
		{"Authorization: Bearer %s\r\n", tok_revoked, "/maybe", 401, "UNAUTHORIZED"},
		{"Authorization: Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOjd9.\r\n", NULL, "/me", 401, "UNAUTHORIZED"},
		{"Authorization: Bearer a.b.c\r\n", NULL, "/me", 401, "UNAUTHORIZED"},
		{"Authorization: Bearer ...\r\n", NULL, "/me", 401, "UNAUTHORIZED"},
		{"Authorization: Bearer %s\r\nCookie: token=x\r\n", tok, "/me", 200, "7"},
	};

	dm_strlcpy(bad, tok, sizeof bad);
	bad[strlen(bad) - 3] ^= 1; /* inside the signature */
	for (size_t i = 0; i < sizeof arows / sizeof arows[0]; i++) {
		int st;
		expand(hdr, sizeof hdr, arows[i].fmt, arows[i].tk ? arows[i].tk : "");
		st = request("GET", arows[i].path, hdr, body, sizeof body);
		CHECK(st == arows[i].status && strstr(body, arows[i].want), "row %zu (%.40s... on %s): %d %.60s", i,
		      arows[i].fmt, arows[i].path, st, body);
	}
}

int main(void)
{
	char dir[] = "/tmp/dm-unit-http-XXXXXX";
	struct mg_server_port ports[4];
	int n;

	cfg_defaults();
	dm_log_level = DM_LOG_ERROR;
	dm_strlcpy(cfg.http, "127.0.0.1:0", sizeof cfg.http);
	cfg.https[0] = 0;
	cfg.access_log = 0;
	if (!mkdtemp(dir) || db_open(dir) != DM_OK || auth_init(dir) != DM_OK || setup_tokens() != DM_OK) {
		printf("cannot set up in %s\n", dir);
		return 2;
	}
	test_match();
	http_routes(routes, sizeof routes / sizeof routes[0]);
	if (http_start() != DM_OK) {
		printf("cannot start http\n");
		return 2;
	}
	n = mg_get_server_ports(http_ctx(), 4, ports);
	port = n > 0 ? ports[0].port : 0;
	CHECK(port > 0, "listening on a port");
	test_paths();
	test_cookies();
	test_authorization();
	http_stop();
	auth_shutdown();
	db_close();
	{
		char cmd[128];
		snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", dir);
	}
	UNIT_DONE("unit_http");
}
