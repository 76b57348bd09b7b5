/*
 * unit_acme.c — the ACME client's pieces that a black-box run against
 * pebble cannot reach one by one: the JWS (each signature checked with
 * mbedtls against the JWK it carries, base64url vectors, a known key), the
 * parsers of directory, order, authorization and ARI replies on hostile
 * inputs (table-driven), the names we accept, the renewal time, the CSR,
 * and the TLS-ALPN-01 certificate's acmeIdentifier extension.
 */
#include "../src/core/dm.c"
#include "../src/core/config.c"
#include "../src/core/db.c"
#include "../src/core/mem.c"
#include "../src/core/json.c"
#include "../src/core/net.c"
#include "../src/core/tls.c"
#include "../src/web/acme.c"

#include <psa/crypto.h>

#include "unit.h"

/* acme_init's hooks into the pool and HTTP, and what its front handler
 * (the HTTP-01 answers and the HTTPS redirect, exercised by acme.test.js
 * against pebble) calls: stubs, not exercised here */
void http_on_start(void (*fn)(struct mg_context *ctx))
{
	(void)fn;
}
void http_front(http_front_fn fn)
{
	(void)fn;
}
const char *http_header(const http_req_t *r, const char *name)
{
	(void)r;
	(void)name;
	return NULL;
}
int http_header_value_safe(const char *s, size_t max)
{
	(void)s;
	(void)max;
	return 0;
}
int http_refuse(http_req_t *r, refusal_t rf)
{
	(void)r;
	(void)rf;
	return DM_OK;
}
int http_reply_raw(http_req_t *r, int status, const char *ctype, const char *extra_headers, const void *body,
		   size_t len)
{
	(void)r;
	(void)status;
	(void)ctype;
	(void)extra_headers;
	(void)body;
	(void)len;
	return DM_OK;
}
int jobs_timer(const char *name, int interval_ms, jobs_task_fn fn, void *arg)
{
	(void)name;
	(void)interval_ms;
	(void)fn;
	(void)arg;
	return DM_OK;
}
int jobs_task(jobs_task_fn fn, void *arg)
{
	(void)fn;
	(void)arg;
	return DM_OK;
}

static sqlite3 *db;

/* A text column of a one-row query with one text parameter; malloc'd. */
static char *q1(const char *sql, const char *p1)
{
	sqlite3_stmt *q = db_prep(db, sql);
	char *out = NULL;
	if (!q)
		return NULL;
	sqlite3_bind_text(q, 1, p1, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
		out = strdup((const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	return out;
}

/* base64url-decodes s into a malloc'd NUL-terminated buffer; *n its size. */
static char *unb64(const char *s, long *n)
{
	char *out = malloc(strlen(s) + 4);
	*n = out ? dm_b64url_decode(s, strlen(s), out, strlen(s) + 1) : -1;
	if (*n < 0) {
		free(out);
		return NULL;
	}
	out[*n] = 0;
	return out;
}

static void test_b64url(void)
{
	static const struct {
		const char *in;
		size_t n;
		const char *out;
	} v[] = {
		/* RFC 4648 section 10, without padding */
		{"", 0, ""}, {"f", 1, "Zg"}, {"fo", 2, "Zm8"}, {"foo", 3, "Zm9v"}, {"foob", 4, "Zm9vYg"},
		{"fooba", 5, "Zm9vYmE"}, {"foobar", 6, "Zm9vYmFy"},
		/* the two characters that differ from base64: '-' and '_' */
		{"\xfb\xff", 2, "-_8"}, {"\x3e\x3f\xff", 3, "Pj__"},
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		char out[32];
		dm_b64url_encode(v[i].in, v[i].n, out);
		CHECK(!strcmp(out, v[i].out), "b64url %zu: %s", i, out);
	}
}

/* Verifies an ES256 JWS (flattened JSON) against the key: 1 if the
 * signature is 64 bytes r||s and valid for protected.payload. */
static int verify(const akey_t *k, const char *jwsjson, char **prot, char **pay)
{
	char *p64 = q1("SELECT json_extract(?1,'$.protected')", jwsjson);
	char *y64 = q1("SELECT json_extract(?1,'$.payload')", jwsjson);
	char *s64 = q1("SELECT json_extract(?1,'$.signature')", jwsjson);
	long sn = -1, pn, yn;
	char *sig = s64 ? unb64(s64, &sn) : NULL, *input = NULL;
	unsigned char h[32];
	mbedtls_mpi r, s;
	int ok = 0;

	*prot = p64 ? unb64(p64, &pn) : NULL;
	*pay = y64 ? unb64(y64, &yn) : NULL;
	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	if (p64 && y64 && sig && sn == 64 && (input = malloc(strlen(p64) + strlen(y64) + 2))) {
		sprintf(input, "%s.%s", p64, y64);
		ok = mbedtls_sha256((unsigned char *)input, strlen(input), h, 0) == 0 &&
		     mbedtls_mpi_read_binary(&r, (unsigned char *)sig, 32) == 0 &&
		     mbedtls_mpi_read_binary(&s, (unsigned char *)sig + 32, 32) == 0 &&
		     mbedtls_ecdsa_verify((mbedtls_ecp_group *)&k->grp, h, 32, &k->q, &r, &s) == 0;
	}
	mbedtls_mpi_free(&r);
	mbedtls_mpi_free(&s);
	free(p64);
	free(y64);
	free(s64);
	free(sig);
	free(input);
	return ok;
}

static void test_jws(void)
{
	akey_t k, other;
	char *out = NULL, *prot = NULL, *pay = NULL, *v;

	CHECK(key_setup(&k, NULL) == DM_OK && key_setup(&other, NULL) == DM_OK, "keys");
	/* newAccount style: jwk, no kid */
	CHECK(jws(db, &k, "https://ca.example/acct", "nonce-1", NULL, "{\"termsOfServiceAgreed\":true}", &out) ==
		      DM_OK,
	      "jws");
	CHECK(verify(&k, out, &prot, &pay), "signature verifies with the key's public half");
	free(prot);
	free(pay);
	CHECK(!verify(&other, out, &prot, &pay), "and not with another key");
	free(prot);
	free(pay);
	CHECK(verify(&k, out, &prot, &pay), "again");
	CHECK(prot && json_strict_ok(db, prot, strlen(prot)), "protected header is JSON: %s", prot);
	v = q1("SELECT json_extract(?1,'$.alg')||'|'||json_extract(?1,'$.nonce')||'|'||json_extract(?1,'$.url')||'|'||"
	       "(json_extract(?1,'$.kid') IS NULL)||'|'||json(json_extract(?1,'$.jwk'))",
	       prot);
	{
		char want[400];
		snprintf(want, sizeof want, "ES256|nonce-1|https://ca.example/acct|1|%s", k.jwk);
		CHECK(v && !strcmp(v, want), "header %s", v);
	}
	free(v);
	CHECK(pay && !strcmp(pay, "{\"termsOfServiceAgreed\":true}"), "payload %s", pay);
	free(prot);
	free(pay);
	free(out);

	/* POST-as-GET with kid: empty payload, kid and no jwk; hostile
	 * strings from the server stay strings */
	CHECK(jws(db, &k, "https://ca.example/o\"1", "n\"2\\", "https://ca.example/acct/9", NULL, &out) == DM_OK,
	      "jws kid");
	CHECK(verify(&k, out, &prot, &pay), "kid signature");
	CHECK(pay && !*pay, "empty payload");
	v = q1("SELECT json_extract(?1,'$.payload')", out);
	CHECK(v && !strcmp(v, ""), "payload \"\"");
	free(v);
	v = q1("SELECT json_extract(?1,'$.kid')||'|'||(json_extract(?1,'$.jwk') IS NULL)||'|'||json_extract(?1,'$.url')"
	       "||'|'||json_extract(?1,'$.nonce')",
	       prot);
	CHECK(v && !strcmp(v, "https://ca.example/acct/9|1|https://ca.example/o\"1|n\"2\\"), "kid header %s", v);
	free(v);
	free(prot);
	free(pay);
	free(out);
	key_free(&k);
	key_free(&other);
}

/* The ES256 key of RFC 7515 appendix A.3: our JWK must carry its x and y,
 * and the thumbprint is SHA-256 of exactly that member order. */
static void test_known_key(void)
{
	static const char d64[] = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI";
	static const char x64[] = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
	static const char y64[] = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
	unsigned char d[32], h[32];
	char pem[600], want[200], th[48];
	mbedtls_pk_context pk;
	akey_t k;

	mbedtls_pk_init(&pk);
	CHECK(dm_b64url_decode(d64, strlen(d64), d, sizeof d) == 32, "d");
	CHECK(mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) == 0 &&
		      mbedtls_ecp_read_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk), d, 32) == 0 &&
		      mbedtls_ecp_keypair_calc_public(mbedtls_pk_ec(pk), acme_rng, NULL) == 0 &&
		      mbedtls_pk_write_key_pem(&pk, (unsigned char *)pem, sizeof pem) == 0,
	      "key from d");
	CHECK(key_setup(&k, pem) == DM_OK, "key_setup from PEM");
	snprintf(want, sizeof want, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", x64, y64);
	CHECK(!strcmp(k.jwk, want), "jwk %s", k.jwk);
	mbedtls_sha256((unsigned char *)want, strlen(want), h, 0);
	dm_b64url_encode(h, 32, th);
	CHECK(!strcmp(k.thumb, th) && strlen(th) == 43, "thumbprint %s", k.thumb);
	key_free(&k);
	mbedtls_pk_free(&pk);
	/* not a key, an RSA-less garbage PEM: refused */
	CHECK(key_setup(&k, "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n") == DM_EINVAL,
	      "garbage key");
}

static void test_dir(void)
{
	static const struct {
		const char *body;
		int rc;
		const char *ari;
	} v[] = {
		{"{\"newNonce\":\"https://ca/n\",\"newAccount\":\"https://ca/a\",\"newOrder\":\"https://ca/o\","
		 "\"renewalInfo\":\"https://ca/ari/\",\"meta\":{\"x\":1}}",
		 DM_OK, "https://ca/ari/"},
		{"{\"newNonce\":\"https://ca/n\",\"newAccount\":\"https://ca/a\",\"newOrder\":\"https://ca/o\"}", DM_OK,
		 ""},
		/* a bad renewalInfo only turns ARI off */
		{"{\"newNonce\":\"https://ca/n\",\"newAccount\":\"https://ca/a\",\"newOrder\":\"https://ca/o\","
		 "\"renewalInfo\":\"http://ca/ari\"}",
		 DM_OK, ""},
		{"{\"newNonce\":\"https://ca/n\",\"newAccount\":\"https://ca/a\",\"newOrder\":\"https://ca/o\","
		 "\"renewalInfo\":7}",
		 DM_OK, ""},
		{"{\"newNonce\":\"https://ca/n\",\"newAccount\":\"https://ca/a\"}", DM_EINVAL, NULL},
		{"{\"newNonce\":\"http://ca/n\",\"newAccount\":\"https://ca/a\",\"newOrder\":\"https://ca/o\"}", DM_EINVAL,
		 NULL},
		{"{\"newNonce\":\"https://ca/n x\",\"newAccount\":\"https://ca/a\",\"newOrder\":\"https://ca/o\"}",
		 DM_EINVAL, NULL},
		{"{\"newNonce\":\"https://ca/\\r\\nX: y\",\"newAccount\":\"https://ca/a\",\"newOrder\":\"https://ca/o\"}",
		 DM_EINVAL, NULL},
		{"{\"newNonce\":1,\"newAccount\":\"https://ca/a\",\"newOrder\":\"https://ca/o\"}", DM_EINVAL, NULL},
		{"{\"newNonce\":[\"https://ca/n\"],\"newAccount\":\"https://ca/a\",\"newOrder\":\"https://ca/o\"}",
		 DM_EINVAL, NULL},
		{"[{\"newNonce\":\"https://ca/n\"}]", DM_EINVAL, NULL},
		{"{'newNonce':'https://ca/n'}", DM_EINVAL, NULL},
		{"{\"newNonce\":\"https://ca/n\",", DM_EINVAL, NULL},
		{"", DM_EINVAL, NULL},
		{"null", DM_EINVAL, NULL},
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		acme_dir_t d;
		int rc = parse_dir(db, v[i].body, &d);
		CHECK(rc == v[i].rc, "dir %zu: rc %d", i, rc);
		if (rc == DM_OK)
			CHECK(!strcmp(d.renewal_info, v[i].ari) && !strcmp(d.new_order, "https://ca/o"), "dir %zu: %s", i,
			      d.renewal_info);
	}
	{
		/* a URL longer than we keep */
		char *big = malloc(3000);
		acme_dir_t d;
		int n = sprintf(big, "{\"newNonce\":\"https://ca/");
		memset(big + n, 'a', 1000);
		sprintf(big + n + 1000, "\",\"newAccount\":\"https://ca/a\",\"newOrder\":\"https://ca/o\"}");
		CHECK(parse_dir(db, big, &d) == DM_EINVAL, "long URL");
		free(big);
	}
	CHECK(parse_dir(db, NULL, &(acme_dir_t){0}) == DM_EINVAL, "NULL body");
}

static void test_order(void)
{
	static const struct {
		const char *body;
		int rc, status, nauthz;
		const char *cert;
	} v[] = {
		{"{\"status\":\"pending\",\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.example\"}],"
		 "\"authorizations\":[\"https://ca/authz/1\",\"https://ca/authz/2\"],\"finalize\":\"https://ca/f/1\"}",
		 DM_OK, ST_PENDING, 2, ""},
		{"{\"status\":\"valid\",\"authorizations\":[\"https://ca/authz/1\"],\"finalize\":\"https://ca/f/1\","
		 "\"certificate\":\"https://ca/cert/1\"}",
		 DM_OK, ST_VALID, 1, "https://ca/cert/1"},
		{"{\"status\":\"ready\",\"authorizations\":[\"https://ca/authz/1\"],\"finalize\":\"https://ca/f/1\"}", DM_OK,
		 ST_READY, 1, ""},
		{"{\"status\":\"weird\",\"authorizations\":[\"https://ca/authz/1\"],\"finalize\":\"https://ca/f/1\"}", DM_OK,
		 ST_OTHER, 1, ""},
		/* refused */
		{"{\"status\":\"valid\",\"authorizations\":[\"https://ca/authz/1\"],\"finalize\":\"https://ca/f/1\","
		 "\"certificate\":\"ftp://ca/cert\"}",
		 DM_EINVAL, 0, 0, NULL},
		{"{\"status\":\"pending\",\"authorizations\":[],\"finalize\":\"https://ca/f/1\"}", DM_EINVAL, 0, 0, NULL},
		{"{\"status\":\"pending\",\"authorizations\":\"https://ca/authz/1\",\"finalize\":\"https://ca/f/1\"}",
		 DM_EINVAL, 0, 0, NULL},
		{"{\"status\":\"pending\",\"authorizations\":{\"a\":\"https://ca/authz/1\"},\"finalize\":\"https://ca/f\"}",
		 DM_EINVAL, 0, 0, NULL},
		{"{\"status\":\"pending\",\"authorizations\":[\"https://ca/authz/1\",2],\"finalize\":\"https://ca/f/1\"}",
		 DM_EINVAL, 0, 0, NULL},
		{"{\"status\":\"pending\",\"authorizations\":[\"http://ca/authz/1\"],\"finalize\":\"https://ca/f/1\"}",
		 DM_EINVAL, 0, 0, NULL},
		{"{\"status\":\"pending\",\"authorizations\":[\"https://ca/authz/1\"]}", DM_EINVAL, 0, 0, NULL},
		{"{\"status\":1,\"authorizations\":[\"https://ca/authz/1\"],\"finalize\":\"https://ca/f/1\"}", DM_EINVAL, 0,
		 0, NULL},
		{"{\"authorizations\":[\"https://ca/authz/1\"],\"finalize\":\"https://ca/f/1\"}", DM_EINVAL, 0, 0, NULL},
		{"[]", DM_EINVAL, 0, 0, NULL},
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		acme_order_t o;
		int rc = parse_order(db, v[i].body, &o);
		CHECK(rc == v[i].rc, "order %zu: rc %d", i, rc);
		if (rc == DM_OK && v[i].rc == DM_OK)
			CHECK(o.status == v[i].status && o.nauthz == v[i].nauthz && !strcmp(o.certificate, v[i].cert) &&
				      !strcmp(o.finalize, "https://ca/f/1") && !strcmp(o.authz[0], "https://ca/authz/1"),
			      "order %zu: %d %d %s", i, o.status, o.nauthz, o.certificate);
	}
	{
		/* more authorizations than names we could have asked for */
		char body[4096];
		acme_order_t o;
		int n = sprintf(body, "{\"status\":\"pending\",\"finalize\":\"https://ca/f\",\"authorizations\":[");
		for (int i = 0; i <= MAX_NAMES; i++)
			n += sprintf(body + n, "%s\"https://ca/authz/%d\"", i ? "," : "", i);
		sprintf(body + n, "]}");
		CHECK(parse_order(db, body, &o) == DM_EINVAL, "too many authorizations");
	}
}

static void test_authz(void)
{
	static const char tok[] = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
	static const struct {
		const char *body;
		const char *type;
		int rc, status;
	} v[] = {
		{"{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.example\"},\"challenges\":["
		 "{\"type\":\"dns-01\",\"url\":\"https://ca/c/0\",\"token\":\"xxxxxxxxxxxxxxxxxxxxxxxxxx\",\"status\":\"pending\"},"
		 "{\"type\":\"http-01\",\"url\":\"https://ca/c/1\",\"token\":\"evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA\","
		 "\"status\":\"pending\"}]}",
		 "http-01", DM_OK, ST_PENDING},
		{"{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"A.Example\"},\"challenges\":["
		 "{\"type\":\"tls-alpn-01\",\"url\":\"https://ca/c/1\",\"token\":\"evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA\","
		 "\"status\":\"pending\"}]}",
		 "tls-alpn-01", DM_OK, ST_PENDING},
		/* valid: no challenge needed */
		{"{\"status\":\"valid\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.example\"},\"challenges\":[]}",
		 "http-01", DM_OK, ST_VALID},
		/* refused */
		{"{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.example\"},\"challenges\":["
		 "{\"type\":\"dns-01\",\"url\":\"https://ca/c/0\",\"token\":\"evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA\","
		 "\"status\":\"pending\"}]}",
		 "http-01", DM_EINVAL, 0},
		{"{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.example\"},\"challenges\":["
		 "{\"type\":\"http-01\",\"url\":\"https://ca/c/1\",\"token\":\"../../../../etc/passwd/xxxxxxxx\","
		 "\"status\":\"pending\"}]}",
		 "http-01", DM_EINVAL, 0},
		{"{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.example\"},\"challenges\":["
		 "{\"type\":\"http-01\",\"url\":\"https://ca/c/1\",\"token\":\"short\",\"status\":\"pending\"}]}",
		 "http-01", DM_EINVAL, 0},
		{"{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.example\"},\"challenges\":["
		 "{\"type\":\"http-01\",\"url\":\"https://ca/c/1\",\"token\":7,\"status\":\"pending\"}]}",
		 "http-01", DM_EINVAL, 0},
		{"{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.example\"},\"challenges\":["
		 "{\"type\":\"http-01\",\"url\":\"javascript:1\",\"token\":\"evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA\","
		 "\"status\":\"pending\"}]}",
		 "http-01", DM_EINVAL, 0},
		{"{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.example\"},\"challenges\":"
		 "{\"type\":\"http-01\",\"url\":\"https://ca/c/1\",\"token\":\"evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA\","
		 "\"status\":\"pending\"}}",
		 "http-01", DM_EINVAL, 0},
		{"{\"status\":\"pending\",\"identifier\":{\"type\":\"ip\",\"value\":\"127.0.0.1\"},\"challenges\":[]}",
		 "http-01", DM_EINVAL, 0},
		{"{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"a..example\"},\"challenges\":[]}",
		 "http-01", DM_EINVAL, 0},
		{"{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"*.example\"},\"challenges\":[]}",
		 "http-01", DM_EINVAL, 0},
		{"{\"status\":\"pending\",\"challenges\":[]}", "http-01", DM_EINVAL, 0},
		{"\"pending\"", "http-01", DM_EINVAL, 0},
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		acme_authz_t a;
		int rc = parse_authz(db, v[i].body, v[i].type, &a);
		CHECK(rc == v[i].rc, "authz %zu: rc %d", i, rc);
		if (rc == DM_OK && v[i].rc == DM_OK) {
			CHECK(a.status == v[i].status && !strcmp(a.ident, "a.example"), "authz %zu: %d %s", i, a.status,
			      a.ident);
			if (a.status == ST_PENDING)
				CHECK(!strcmp(a.token, tok) && !strcmp(a.url, "https://ca/c/1") && a.chal_status == ST_PENDING,
				      "authz %zu: %s %s", i, a.token, a.url);
		}
	}
}

static void test_ari(void)
{
	static const struct {
		const char *body;
		int rc;
		int64_t s, e;
	} v[] = {
		{"{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\",\"end\":\"2025-01-03T04:00:00Z\"}}", DM_OK,
		 1735790400000LL, 1735876800000LL},
		/* refused; 05:00+01:00 is 04:00Z, before the start */
		{"{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00.5Z\",\"end\":\"2025-01-02T05:00:00+01:00\"},"
		 "\"explanationURL\":\"https://ca/why\"}",
		 DM_EINVAL, 0, 0},
		{"{\"suggestedWindow\":{\"start\":\"2025-01-03T04:00:00Z\",\"end\":\"2025-01-02T04:00:00Z\"}}", DM_EINVAL,
		 0, 0},
		{"{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\",\"end\":\"2025-01-02T04:00:00Z\"}}", DM_EINVAL,
		 0, 0},
		{"{\"suggestedWindow\":{\"start\":2460677.5,\"end\":2460678.5}}", DM_EINVAL, 0, 0},
		{"{\"suggestedWindow\":{\"start\":\"now\",\"end\":\"2025-01-02T04:00:00Z\"}}", DM_EINVAL, 0, 0},
		{"{\"suggestedWindow\":{\"start\":\"2025-13-45T99:99:99Z\",\"end\":\"2026-01-02T04:00:00Z\"}}", DM_EINVAL,
		 0, 0},
		{"{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\"}}", DM_EINVAL, 0, 0},
		{"{\"suggestedWindow\":[\"2025-01-02T04:00:00Z\",\"2025-01-03T04:00:00Z\"]}", DM_EINVAL, 0, 0},
		{"{}", DM_EINVAL, 0, 0},
		{"nope", DM_EINVAL, 0, 0},
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		int64_t s = 0, e = 0;
		int rc = parse_ari(db, v[i].body, &s, &e);
		CHECK(rc == v[i].rc, "ari %zu: rc %d", i, rc);
		if (rc == DM_OK)
			CHECK(s == v[i].s && e == v[i].e, "ari %zu: %lld %lld", i, (long long)s, (long long)e);
	}
	{
		int64_t s, e;
		CHECK(parse_ari(db, "{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00.250Z\",\"end\":"
				    "\"2025-01-02T06:00:00+01:00\"}}",
				&s, &e) == DM_OK &&
			      s == 1735790400250LL && e == 1735794000000LL,
		      "fraction and offset: %lld %lld", (long long)s, (long long)e);
	}
}

static void test_renew_at(void)
{
	const int64_t day = 86400000LL, nb = 1700000000000LL;
	/* no ARI: two thirds of the lifetime */
	CHECK(renew_at(nb, nb + 90 * day, 0, 0, 12345) == nb + 60 * day, "90 days -> day 60");
	CHECK(renew_at(nb, nb + 30000, 0, 0, 0) == nb + 20000, "30 s -> 20 s");
	CHECK(renew_at(nb, nb, 0, 0, 0) == nb, "empty lifetime: now");
	CHECK(renew_at(nb, nb - 5, 0, 0, 0) == nb, "inverted lifetime: now");
	/* an inverted or empty window is ignored */
	CHECK(renew_at(nb, nb + 90 * day, nb + 10 * day, nb + 5 * day, 7) == nb + 60 * day, "inverted window");
	CHECK(renew_at(nb, nb + 90 * day, nb + 10 * day, nb + 10 * day, 7) == nb + 60 * day, "empty window");
	/* ARI: inside [start, end), placed by rnd */
	CHECK(renew_at(nb, nb + 90 * day, nb + 50 * day, nb + 52 * day, 0) == nb + 50 * day, "window start");
	CHECK(renew_at(nb, nb + 90 * day, nb + 50 * day, nb + 52 * day, 1000) == nb + 50 * day + 1000, "rnd 1000");
	for (uint32_t r = 1; r < 4000000000u; r += 397000001u) {
		int64_t t = renew_at(nb, nb + 90 * day, nb + 50 * day, nb + 52 * day, r);
		CHECK(t >= nb + 50 * day && t < nb + 52 * day, "rnd %u in window", r);
	}
	/* a window in the past (revoked, "renew now") stays in the past */
	CHECK(renew_at(nb, nb + 90 * day, 1000, 2000, 5) == 1005, "past window");
}

static void test_names(void)
{
	static const struct {
		const char *in;
		int ok;
		const char *out;
	} v[] = {
		{"example.org", 1, "example.org"}, {"WWW.Example.ORG", 1, "www.example.org"}, {"localhost", 1, "localhost"},
		{"a-b.c0", 1, "a-b.c0"}, {"", 0, NULL}, {".a", 0, NULL}, {"a.", 0, NULL}, {"a..b", 0, NULL},
		{"-a.b", 0, NULL}, {"a-.b", 0, NULL}, {"*.example.org", 0, NULL}, {"a_b.org", 0, NULL},
		{"a b.org", 0, NULL}, {"a/b", 0, NULL}, {"a\"b", 0, NULL}, {"\xed\x95\x9c.kr", 0, NULL},
		{"1234567890123456789012345678901234567890123456789012345678901234.org", 0, NULL},
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		char buf[300];
		snprintf(buf, sizeof buf, "%s", v[i].in);
		int ok = name_ok(buf);
		CHECK(ok == v[i].ok, "name %zu '%s': %d", i, v[i].in, ok);
		if (ok && v[i].ok)
			CHECK(!strcmp(buf, v[i].out), "name %zu: %s", i, buf);
	}
	CHECK(parse_names("a.example,B.example") == DM_OK && st.ndomains == 2 && !strcmp(st.domains[1], "b.example"),
	      "two names");
	CHECK(acme_is_domain("A.EXAMPLE") && !acme_is_domain("c.example"), "is_domain");
	CHECK(parse_names("a.example,,b.example") == DM_EINVAL, "empty name");
	CHECK(parse_names("a.example,evil\"}") == DM_EINVAL, "quote");
	CHECK(parse_names("") == DM_EINVAL, "none");
	CHECK(token_ok("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA") && !token_ok("abc") && !token_ok("a+b/c=d-e_f.ghijklm"),
	      "tokens");
}

static void test_csr(void)
{
	char key[1024], csr64[6000];
	unsigned char der[4096];
	long n;
	mbedtls_x509_csr csr;
	mbedtls_pk_context pk;
	char buf[512];

	CHECK(parse_names("a.example,b.example") == DM_OK, "names");
	CHECK(make_csr(key, sizeof key, csr64, sizeof csr64) == DM_OK, "make_csr");
	n = dm_b64url_decode(csr64, strlen(csr64), der, sizeof der);
	CHECK(n > 0, "csr base64url");
	mbedtls_x509_csr_init(&csr);
	mbedtls_pk_init(&pk);
	CHECK(n > 0 && mbedtls_x509_csr_parse_der(&csr, der, (size_t)n) == 0, "CSR parses");
	CHECK(mbedtls_x509_dn_gets(buf, sizeof buf, &csr.subject) > 0 && !strcmp(buf, "CN=a.example"), "subject %s", buf);
	{
		int names = 0;
		for (const mbedtls_x509_sequence *s = &csr.subject_alt_names; s && s->buf.p; s = s->next)
			names += (s->buf.len == 9 && (!memcmp(s->buf.p, "a.example", 9) || !memcmp(s->buf.p, "b.example", 9)));
		CHECK(names == 2, "both names in the SAN");
	}
	CHECK(mbedtls_pk_get_type(&csr.pk) == MBEDTLS_PK_ECKEY && mbedtls_pk_get_bitlen(&csr.pk) == 256, "P-256");
	CHECK(mbedtls_pk_parse_key(&pk, (unsigned char *)key, strlen(key) + 1, NULL, 0, acme_rng, NULL) == 0 &&
		      mbedtls_pk_check_pair(&csr.pk, &pk, acme_rng, NULL) == 0,
	      "the key PEM is the CSR's key");
	{
		/* the CSR's self-signature verifies */
		unsigned char h[32];
		CHECK(mbedtls_sha256(csr.cri.p, csr.cri.len, h, 0) == 0 &&
			      mbedtls_pk_verify(&csr.pk, MBEDTLS_MD_SHA256, h, 32, csr.MBEDTLS_PRIVATE(sig).p, csr.MBEDTLS_PRIVATE(sig).len) == 0,
		      "CSR signature");
	}
	mbedtls_x509_csr_free(&csr);
	mbedtls_pk_free(&pk);
}

static void test_alpn_cert(void)
{
	static const char oid[] = "\x06\x08\x2b\x06\x01\x05\x05\x07\x01\x1f\x01\x01\xff";
	unsigned char want[34];
	const mbedtls_x509_crt *c;
	int found = 0, crit = 0;

	CHECK(tls_alpn_set("a.example", "tok.thumb") == DM_OK, "alpn cert");
	CHECK(tls_alpn_set("A.example", "tok2.thumb") == DM_OK && nalpn == 1, "same name replaces");
	c = &alpn[0]->chain;
	want[0] = 0x04;
	want[1] = 32;
	mbedtls_sha256((const unsigned char *)"tok2.thumb", 10, want + 2, 0);
	/* extnID acmeIdentifier, critical TRUE, then OCTET STRING { OCTET STRING (32) } */
	for (size_t i = 0; i + sizeof oid - 1 + 2 + 34 <= c->raw.len; i++)
		if (!memcmp(c->raw.p + i, oid, sizeof oid - 1)) {
			crit = 1;
			found = !memcmp(c->raw.p + i + sizeof oid - 1 + 2, want, 34);
		}
	CHECK(crit && found, "critical acmeIdentifier with SHA-256(keyauth)");
	{
		int san = 0;
		for (const mbedtls_x509_sequence *s = &c->subject_alt_names; s && s->buf.p; s = s->next)
			san += s->buf.len == 9 && !memcmp(s->buf.p, "A.example", 9);
		CHECK(san == 1, "SAN is the name");
	}
	tls_alpn_clear();
	CHECK(nalpn == 0, "cleared");
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	dm_log_level = DM_LOG_ERROR;
	cfg_defaults();
	if (psa_crypto_init() != PSA_SUCCESS || sqlite3_open(":memory:", &db) != SQLITE_OK) {
		printf("unit_acme: set-up failed\n");
		return 1;
	}
	test_b64url();
	test_jws();
	test_known_key();
	test_dir();
	test_order();
	test_authz();
	test_ari();
	test_renew_at();
	test_names();
	test_csr();
	test_alpn_cert();
	db_close_conn(db);
	tls_shutdown();
	mbedtls_psa_crypto_free();
	UNIT_DONE("unit_acme");
}
