/*
 * acme.c — automatic HTTPS certificates by ACME (see acme.h).
 *
 * One attempt (a pool task, never two at once): directory, a nonce,
 * newAccount (the same key always finds the same account, so a server that
 * forgot us is no special case), newOrder, for every authorization one
 * challenge (http-01 when we listen on plain HTTP, else tls-alpn-01),
 * polling until valid, then finalize with a CSR for a fresh P-256 key,
 * polling the order, and downloading the chain. Every request is a JWS
 * (RFC 7515, ES256: the signature is r||s, not DER) in the flattened JSON
 * serialization, with jwk for newAccount and kid after; a badNonce reply
 * is retried with the nonce it carries. Everything the server sends is
 * checked before use: URLs must be https, tokens base64url, statuses known.
 *
 * Thread-safety: st (below) is guarded by st.lock; the account key and the
 * run's nonce belong to the one running attempt (st.running).
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#include "acme.h"
#include "config.h"
#include "db.h"
#include "dm.h"
#include "http.h"
#include "jobs.h"
#include "json.h"
#include "net.h"
#include "tls.h"

#define MAX_NAMES 16
#define URL_MAX 512
#define MAX_REPLY (1 << 20)
#define POLL_TRIES 120            /* x about 1 s: give up on a stuck order */
#define BACKOFF_MAX_S (6 * 3600)
#define ARI_RECHECK_MS (6LL * 3600 * 1000)

enum { ST_PENDING, ST_READY, ST_PROCESSING, ST_VALID, ST_INVALID, ST_OTHER };

typedef struct acme_dir {
	char new_nonce[URL_MAX], new_account[URL_MAX], new_order[URL_MAX];
	char renewal_info[URL_MAX]; /* "" when the server has no ARI */
} acme_dir_t;

typedef struct acme_order {
	int status;
	char finalize[URL_MAX];
	char certificate[URL_MAX]; /* "" until valid */
	int nauthz;
	char authz[MAX_NAMES][URL_MAX];
} acme_order_t;

typedef struct acme_authz {
	int status;
	char ident[256];
	char url[URL_MAX];    /* of the challenge of the wanted type */
	char token[129];
	int chal_status;
} acme_authz_t;

/* An ES256 key with its public JWK and thumbprint (RFC 7638). */
typedef struct akey {
	mbedtls_pk_context pk;
	mbedtls_ecp_group grp;
	mbedtls_mpi d;
	mbedtls_ecp_point q;
	char jwk[200];
	char thumb[48];
	int ready;
} akey_t;

/* A pending HTTP-01 answer. */
typedef struct pending {
	char token[129];
	char keyauth[200];
} pending_t;

static struct {
	pthread_mutex_t lock;
	int ndomains;
	char domains[MAX_NAMES][254];
	int running;       /* an attempt is under way */
	int listening;     /* HTTP started: challenges can be answered */
	int have_cert;     /* a certificate for all names is in service */
	int64_t due_ms;    /* wall clock: next attempt */
	int backoff_s;     /* wait after the next failure */
	int64_t nb_ms, na_ms;
	int64_t ari_check_ms;
	char ari_id[200];  /* ARI certificate identifier of the one in service */
	int npending;
	pending_t pending[MAX_NAMES];
} st = {.lock = PTHREAD_MUTEX_INITIALIZER};

static akey_t account_key; /* used by the running attempt only */

/* Run state of one attempt. */
typedef struct run {
	sqlite3 *db;
	acme_dir_t dir;
	char nonce[256];
	char kid[URL_MAX];
} run_t;

static int acme_rng(void *unused, unsigned char *out, size_t n)
{
	(void)unused;
	return dm_random(out, n) == DM_OK ? 0 : -1;
}

/* ------------------------------------------------------------ checks */

/* A URL the server gave us: https, printable, no blanks, fits URL_MAX. */
static int url_ok(const char *u)
{
	size_t n = strlen(u);
	if (n >= URL_MAX || strncmp(u, "https://", 8) || n < 9)
		return 0;
	for (; *u; u++)
		if ((unsigned char)*u <= ' ' || (unsigned char)*u >= 0x7f)
			return 0;
	return 1;
}

/* An ACME token: base64url, 16..128 characters. */
static int token_ok(const char *t)
{
	size_t n = strlen(t);
	if (n < 16 || n > 128)
		return 0;
	for (; *t; t++)
		if (!strchr(DM_B64URL, *t))
			return 0;
	return 1;
}

/* A DNS name we ask for: lower-case letters, digits, '-' and '.' labels
 * of 1..63 characters, no label starting or ending in '-', 1..253 long.
 * Lower-cases s in place. 1 if good. */
static int name_ok(char *s)
{
	size_t n = strlen(s), lab = 0;
	if (n == 0 || n > 253 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (size_t i = 0; i <= n; i++) {
		char c = s[i];
		if (c == '.' || c == 0) {
			if (lab == 0 || lab > 63 || s[i - 1] == '-' || s[i - lab] == '-')
				return 0;
			lab = 0;
			continue;
		}
		if (c >= 'A' && c <= 'Z')
			s[i] = (char)(c - 'A' + 'a');
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return 0;
		lab++;
	}
	return 1;
}

static int status_of(const char *s)
{
	static const char *names[] = {"pending", "ready", "processing", "valid", "invalid"};
	for (int i = 0; i < 5; i++)
		if (s && !strcmp(s, names[i]))
			return i;
	return ST_OTHER;
}

/* Copies text column i into dst: DM_OK, or DM_EINVAL when it is not text,
 * too long, or (want_url) not an acceptable URL. A NULL column is DM_OK
 * with dst "" unless required. */
static int col(sqlite3_stmt *q, int i, char *dst, size_t cap, int required, int want_url)
{
	const char *t = (const char *)sqlite3_column_text(q, i);
	dst[0] = 0;
	if (sqlite3_column_type(q, i) == SQLITE_NULL)
		return required ? DM_EINVAL : DM_OK;
	if (sqlite3_column_type(q, i) != SQLITE_TEXT || !t || dm_strlcpy(dst, t, cap) != DM_OK)
		return DM_EINVAL;
	if (want_url && !url_ok(dst)) {
		dst[0] = 0;
		return DM_EINVAL;
	}
	return DM_OK;
}

/* ------------------------------------------------------------ parsing */

/* 1 when body is there and strict JSON (the parsers' first test). */
static int strict(sqlite3 *db, const char *body)
{
	return body && json_strict_ok(db, body, strlen(body));
}

/* Directory object (RFC 8555 section 7.1.1). DM_OK or DM_EINVAL. */
static int parse_dir(sqlite3 *db, const char *body, acme_dir_t *d)
{
	sqlite3_stmt *q;
	int rc = DM_EINVAL;
	memset(d, 0, sizeof *d);
	if (!strict(db, body))
		return DM_EINVAL;
	q = db_query(db, "SELECT json_extract(?1,'$.newNonce'), json_extract(?1,'$.newAccount'), "
			 "json_extract(?1,'$.newOrder'), json_extract(?1,'$.renewalInfo') WHERE json_type(?1)='object'",
		     DB_TEXT(body));
	if (!q)
		return DM_ERR;
	if (sqlite3_step(q) == SQLITE_ROW && col(q, 0, d->new_nonce, URL_MAX, 1, 1) == DM_OK &&
	    col(q, 1, d->new_account, URL_MAX, 1, 1) == DM_OK && col(q, 2, d->new_order, URL_MAX, 1, 1) == DM_OK) {
		/* ARI is optional: a bad entry only turns it off */
		if (col(q, 3, d->renewal_info, URL_MAX, 0, 1) != DM_OK)
			d->renewal_info[0] = 0;
		rc = DM_OK;
	}
	db_done(q);
	return rc;
}

/* Order object (section 7.1.3). DM_OK or DM_EINVAL. */
static int parse_order(sqlite3 *db, const char *body, acme_order_t *o)
{
	sqlite3_stmt *q;
	char status[16];
	int rc = DM_EINVAL;
	memset(o, 0, sizeof *o);
	if (!strict(db, body))
		return DM_EINVAL;
	q = db_query(db, "SELECT json_extract(?1,'$.status'), json_extract(?1,'$.finalize'), "
			 "json_extract(?1,'$.certificate') WHERE json_type(?1)='object' "
			 "AND json_type(?1,'$.authorizations')='array'",
		     DB_TEXT(body));
	if (!q)
		return DM_ERR;
	if (sqlite3_step(q) == SQLITE_ROW && col(q, 0, status, sizeof status, 1, 0) == DM_OK &&
	    col(q, 1, o->finalize, URL_MAX, 1, 1) == DM_OK && col(q, 2, o->certificate, URL_MAX, 0, 1) == DM_OK)
		rc = DM_OK;
	db_done(q);
	if (rc != DM_OK)
		return rc;
	o->status = status_of(status);
	q = db_query(db, "SELECT value FROM json_each(?1,'$.authorizations')", DB_TEXT(body));
	if (!q)
		return DM_ERR;
	while (rc == DM_OK && sqlite3_step(q) == SQLITE_ROW) {
		if (o->nauthz >= MAX_NAMES || col(q, 0, o->authz[o->nauthz], URL_MAX, 1, 1) != DM_OK)
			rc = DM_EINVAL;
		else
			o->nauthz++;
	}
	db_done(q);
	if (rc == DM_OK && o->nauthz == 0)
		rc = DM_EINVAL;
	return rc;
}

/* Authorization object (section 7.1.4) and, in it, the challenge of type.
 * A valid authorization needs no challenge; otherwise one of the type
 * must be there. DM_OK or DM_EINVAL. */
static int parse_authz(sqlite3 *db, const char *body, const char *type, acme_authz_t *a)
{
	sqlite3_stmt *q;
	char status[16], ctype[16];
	int rc = DM_EINVAL;
	memset(a, 0, sizeof *a);
	if (!strict(db, body))
		return DM_EINVAL;
	q = db_query(db, "SELECT json_extract(?1,'$.status'), json_extract(?1,'$.identifier.value'), "
			 "json_extract(?1,'$.identifier.type') WHERE json_type(?1)='object'",
		     DB_TEXT(body));
	if (!q)
		return DM_ERR;
	if (sqlite3_step(q) == SQLITE_ROW && col(q, 0, status, sizeof status, 1, 0) == DM_OK &&
	    col(q, 1, a->ident, sizeof a->ident, 1, 0) == DM_OK && col(q, 2, ctype, sizeof ctype, 1, 0) == DM_OK &&
	    !strcmp(ctype, "dns") && name_ok(a->ident))
		rc = DM_OK;
	db_done(q);
	if (rc != DM_OK)
		return rc;
	a->status = status_of(status);
	if (a->status == ST_VALID)
		return DM_OK;
	rc = DM_EINVAL;
	q = db_query(db, "SELECT json_extract(value,'$.url'), json_extract(value,'$.token'), "
			 "json_extract(value,'$.status') FROM json_each(?1,'$.challenges') "
			 "WHERE json_type(?1,'$.challenges')='array' AND json_type(value)='object' "
			 "AND json_extract(value,'$.type') IS ?2 LIMIT 1",
		     DB_TEXT(body), DB_TEXT(type));
	if (!q)
		return DM_ERR;
	if (sqlite3_step(q) == SQLITE_ROW && col(q, 0, a->url, URL_MAX, 1, 1) == DM_OK &&
	    col(q, 1, a->token, sizeof a->token, 1, 0) == DM_OK && token_ok(a->token) &&
	    col(q, 2, status, sizeof status, 1, 0) == DM_OK) {
		a->chal_status = status_of(status);
		rc = DM_OK;
	}
	db_done(q);
	return rc;
}

/* ARI reply (RFC 9773 section 4.2): the suggested window in wall ms.
 * DM_OK, or DM_EINVAL (not an object, times missing or not RFC 3339
 * text, start not before end). */
static int parse_ari(sqlite3 *db, const char *body, int64_t *start, int64_t *end)
{
	sqlite3_stmt *q;
	int rc = DM_EINVAL;
	if (!strict(db, body))
		return DM_EINVAL;
	q = db_query(db, "SELECT CAST(unixepoch(s,'subsec')*1000 AS INTEGER), CAST(unixepoch(e,'subsec')*1000 AS INTEGER) "
			 "FROM (SELECT json_extract(?1,'$.suggestedWindow.start') s, "
			 "json_extract(?1,'$.suggestedWindow.end') e WHERE json_type(?1)='object' "
			 "AND json_type(?1,'$.suggestedWindow.start')='text' AND json_type(?1,'$.suggestedWindow.end')='text' "
			 "AND json_extract(?1,'$.suggestedWindow.start') GLOB "
			 "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9][Tt][0-9][0-9]:[0-9][0-9]:[0-9][0-9]*' "
			 "AND json_extract(?1,'$.suggestedWindow.end') GLOB "
			 "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9][Tt][0-9][0-9]:[0-9][0-9]:[0-9][0-9]*')",
		     DB_TEXT(body));
	if (!q)
		return DM_ERR;
	if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) == SQLITE_INTEGER &&
	    sqlite3_column_type(q, 1) == SQLITE_INTEGER) {
		*start = sqlite3_column_int64(q, 0);
		*end = sqlite3_column_int64(q, 1);
		if (*start < *end)
			rc = DM_OK;
	}
	db_done(q);
	return rc;
}

/* A problem document's type and detail (RFC 7807), for logs and for
 * badNonce. type/detail get "" when absent. Control characters in the
 * detail become '?'. */
static void parse_problem(sqlite3 *db, const char *body, char *type, size_t tcap, char *detail, size_t dcap)
{
	sqlite3_stmt *q;
	type[0] = detail[0] = 0;
	if (!strict(db, body))
		return;
	q = db_query(db, "SELECT json_extract(?1,'$.type'), json_extract(?1,'$.detail') WHERE json_type(?1)='object'",
		     DB_TEXT(body));
	if (!q)
		return;
	if (sqlite3_step(q) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(q, 0), *d = (const char *)sqlite3_column_text(q, 1);
		if (t && sqlite3_column_type(q, 0) == SQLITE_TEXT)
			snprintf(type, tcap, "%s", t);
		if (d && sqlite3_column_type(q, 1) == SQLITE_TEXT)
			snprintf(detail, dcap, "%s", d);
	}
	db_done(q);
	for (char *p = type; *p; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			*p = '?';
	for (char *p = detail; *p; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			*p = '?';
}

/* When to renew a certificate valid from nb to na (wall ms): at a point
 * of the ARI window [ws, we) picked by rnd when the server suggested one
 * (ws < we), else at two thirds of the lifetime. */
static int64_t renew_at(int64_t nb, int64_t na, int64_t ws, int64_t we, uint32_t rnd)
{
	if (ws < we)
		return ws + (int64_t)(rnd % (uint64_t)(we - ws));
	if (na <= nb)
		return nb;
	return nb + (na - nb) / 3 * 2;
}

/* ------------------------------------------------------------ keys, JWS */

static void key_free(akey_t *k)
{
	mbedtls_pk_free(&k->pk);
	mbedtls_ecp_group_free(&k->grp);
	mbedtls_mpi_free(&k->d);
	mbedtls_ecp_point_free(&k->q);
	k->ready = 0;
}

/* Fills k from a PEM P-256 private key (or a new one when pem is NULL):
 * the signing parts, the JWK and its thumbprint. DM_OK or DM_EINVAL. */
static int key_setup(akey_t *k, const char *pem)
{
	unsigned char pt[65], h[32];
	char x[48], y[48];
	size_t n;

	memset(k, 0, sizeof *k);
	mbedtls_pk_init(&k->pk);
	mbedtls_ecp_group_init(&k->grp);
	mbedtls_mpi_init(&k->d);
	mbedtls_ecp_point_init(&k->q);
	if (pem) {
		if (mbedtls_pk_parse_key(&k->pk, (const unsigned char *)pem, strlen(pem) + 1, NULL, 0, acme_rng, NULL) != 0)
			goto fail;
	} else if (mbedtls_pk_setup(&k->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
		   mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(k->pk), acme_rng, NULL) != 0)
		goto fail;
	if (mbedtls_pk_get_type(&k->pk) != MBEDTLS_PK_ECKEY ||
	    mbedtls_ecp_export(mbedtls_pk_ec(k->pk), &k->grp, &k->d, &k->q) != 0 ||
	    k->grp.id != MBEDTLS_ECP_DP_SECP256R1 ||
	    mbedtls_ecp_point_write_binary(&k->grp, &k->q, MBEDTLS_ECP_PF_UNCOMPRESSED, &n, pt, sizeof pt) != 0 ||
	    n != 65)
		goto fail;
	dm_b64url_encode(pt + 1, 32, x);
	dm_b64url_encode(pt + 33, 32, y);
	/* members in lexicographic order, no blanks: the RFC 7638 input */
	snprintf(k->jwk, sizeof k->jwk, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", x, y);
	if (mbedtls_sha256((const unsigned char *)k->jwk, strlen(k->jwk), h, 0) != 0)
		goto fail;
	dm_b64url_encode(h, 32, k->thumb);
	k->ready = 1;
	return DM_OK;
fail:
	key_free(k);
	return DM_EINVAL;
}

/* ES256 over in: the 64-byte r||s of RFC 7518 section 3.4 into sig.
 * DM_OK or DM_ERR. */
static int es256(akey_t *k, const char *in, size_t n, unsigned char sig[64])
{
	unsigned char h[32];
	mbedtls_mpi r, s;
	int rc = DM_ERR;
	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	if (mbedtls_sha256((const unsigned char *)in, n, h, 0) == 0 &&
	    mbedtls_ecdsa_sign(&k->grp, &r, &s, &k->d, h, 32, acme_rng, NULL) == 0 &&
	    mbedtls_mpi_write_binary(&r, sig, 32) == 0 && mbedtls_mpi_write_binary(&s, sig + 32, 32) == 0)
		rc = DM_OK;
	mbedtls_mpi_free(&r);
	mbedtls_mpi_free(&s);
	return rc;
}

/* base64url of s (malloc'd; caller frees). NULL on no memory. */
static char *b64s(const char *s, size_t n)
{
	char *out = malloc(n / 3 * 4 + 8);
	if (out)
		dm_b64url_encode(s, n, out);
	return out;
}

/* The flattened JWS (RFC 7515 section 7.2.2) for an ACME POST to url:
 * protected header {alg ES256, nonce, url, and kid, or jwk when kid is
 * NULL}, payload (NULL: the empty payload of POST-as-GET). *out is
 * malloc'd (caller frees). DM_OK, DM_ERR, DM_ENOMEM. */
static int jws(sqlite3 *db, akey_t *k, const char *url, const char *nonce, const char *kid, const char *payload,
	       char **out)
{
	sqlite3_stmt *q = NULL;
	char *prot = NULL, *pay = NULL, *input = NULL, sigb[96];
	unsigned char sig[64];
	int rc = DM_ERR;

	*out = NULL;
	q = db_query(db, kid ? "SELECT json_object('alg','ES256','kid',?3,'nonce',?1,'url',?2)"
			     : "SELECT json_object('alg','ES256','jwk',json(?3),'nonce',?1,'url',?2)",
		     DB_TEXT(nonce), DB_TEXT(url), DB_TEXT(kid ? kid : k->jwk));
	if (!q)
		return DM_ERR;
	if (sqlite3_step(q) != SQLITE_ROW || !sqlite3_column_text(q, 0))
		goto done;
	prot = b64s((const char *)sqlite3_column_text(q, 0), (size_t)sqlite3_column_bytes(q, 0));
	pay = b64s(payload ? payload : "", payload ? strlen(payload) : 0);
	rc = DM_ENOMEM;
	if (!prot || !pay || !(input = malloc(strlen(prot) + strlen(pay) + 2)))
		goto done;
	sprintf(input, "%s.%s", prot, pay);
	rc = DM_ERR;
	if (es256(k, input, strlen(input), sig) != DM_OK)
		goto done;
	dm_b64url_encode(sig, sizeof sig, sigb);
	db_done(q);
	q = db_query(db, "SELECT json_object('protected',?1,'payload',?2,'signature',?3)", DB_TEXT(prot), DB_TEXT(pay),
		     DB_TEXT(sigb));
	if (!q)
		goto done;
	if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0)) {
		*out = strdup((const char *)sqlite3_column_text(q, 0));
		rc = *out ? DM_OK : DM_ENOMEM;
	}
done:
	db_done(q);
	free(prot);
	free(pay);
	free(input);
	return rc;
}

/* ------------------------------------------------------------ protocol */

/* Sleeps ms in short steps; 0 if stopping. */
static int nap(int64_t ms)
{
	for (int64_t t = 0; t < ms; t += 100) {
		if (dm_stopping)
			return 0;
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL);
	}
	return !dm_stopping;
}

/* A fresh nonce into r->nonce. DM_OK or DM_EUNAVAIL. */
static int new_nonce(run_t *r)
{
	net_http_resp_t resp;
	int rc = net_http("HEAD", r->dir.new_nonce, NULL, NULL, NULL, 0, MAX_REPLY, 0, &resp);
	free(resp.body);
	if (rc != DM_OK || !resp.nonce[0] || !token_ok(resp.nonce)) {
		dm_warn("acme: no nonce from %s (status %d)", r->dir.new_nonce, resp.status);
		return DM_EUNAVAIL;
	}
	dm_strlcpy(r->nonce, resp.nonce, sizeof r->nonce);
	return DM_OK;
}

/* POSTs a JWS to url (payload NULL: POST-as-GET), with jwk until r->kid
 * is known; retries a badNonce reply with the nonce it brought (at most
 * 5 times). resp is the caller's to free (body). DM_OK (any status),
 * DM_EUNAVAIL. */
static int post(run_t *r, const char *url, const char *payload, net_http_resp_t *resp)
{
	char *body = NULL;
	memset(resp, 0, sizeof *resp);
	resp->retry_after = -1;
	for (int tries = 0;; tries++) {
		int rc;
		if (!r->nonce[0] && new_nonce(r) != DM_OK)
			return DM_EUNAVAIL;
		if (jws(r->db, &account_key, url, r->nonce, r->kid[0] ? r->kid : NULL, payload, &body) != DM_OK)
			return DM_EUNAVAIL;
		r->nonce[0] = 0;
		rc = net_http("POST", url, NULL, "application/jose+json", body, strlen(body), MAX_REPLY, 0, resp);
		free(body);
		if (resp->nonce[0] && token_ok(resp->nonce))
			dm_strlcpy(r->nonce, resp->nonce, sizeof r->nonce);
		if (rc != DM_OK)
			return DM_EUNAVAIL;
		if (resp->status == 400 && tries < 5) {
			char type[128], detail[8];
			parse_problem(r->db, resp->body, type, sizeof type, detail, sizeof detail);
			if (!strcmp(type, "urn:ietf:params:acme:error:badNonce")) {
				free(resp->body);
				resp->body = NULL;
				continue;
			}
		}
		return DM_OK;
	}
}

/* Logs a failed reply with the server's problem detail. */
static void log_problem(run_t *r, const char *what, const net_http_resp_t *resp)
{
	char type[128], detail[512];
	parse_problem(r->db, resp->body, type, sizeof type, detail, sizeof detail);
	dm_warn("acme: %s: status %d %s %s", what, resp->status, type, detail);
}

/* Sets or clears (keyauth NULL) the answer for token. */
static void pending_set(const char *token, const char *keyauth)
{
	pthread_mutex_lock(&st.lock);
	dm_assert(st.npending >= 0 && st.npending <= MAX_NAMES);
	if (!keyauth)
		st.npending = 0;
	else if (st.npending < MAX_NAMES) {
		dm_strlcpy(st.pending[st.npending].token, token, sizeof st.pending[0].token);
		dm_strlcpy(st.pending[st.npending].keyauth, keyauth, sizeof st.pending[0].keyauth);
		st.npending++;
	}
	pthread_mutex_unlock(&st.lock);
}

/* POST-as-GET url until its status is final (valid, invalid) or, for an
 * order, ready. parse decides the status. DM_OK with *status, or
 * DM_EUNAVAIL. The last body is left in *body (caller frees). */
static int poll_status(run_t *r, const char *url, int is_order, const char *type, int *status, char **body)
{
	*body = NULL;
	for (int i = 0; i < POLL_TRIES; i++) {
		net_http_resp_t resp;
		int s = ST_OTHER;
		if (post(r, url, NULL, &resp) != DM_OK || resp.status != 200) {
			log_problem(r, "poll", &resp);
			free(resp.body);
			return DM_EUNAVAIL;
		}
		if (is_order) {
			acme_order_t o;
			if (parse_order(r->db, resp.body, &o) == DM_OK)
				s = o.status;
		} else {
			acme_authz_t a;
			if (parse_authz(r->db, resp.body, type, &a) == DM_OK)
				s = a.status;
		}
		if (s == ST_OTHER) {
			dm_warn("acme: %s: not a valid %s", url, is_order ? "order" : "authorization");
			free(resp.body);
			return DM_EUNAVAIL;
		}
		if (s == ST_VALID || s == ST_INVALID || (is_order && s == ST_READY)) {
			*status = s;
			*body = resp.body;
			return DM_OK;
		}
		free(resp.body);
		if (!nap(resp.retry_after > 0 && resp.retry_after < 10 ? resp.retry_after * 1000 : 500))
			return DM_EUNAVAIL;
	}
	dm_warn("acme: %s: still not final, giving up", url);
	return DM_EUNAVAIL;
}

/* Answers one authorization. DM_OK when valid, else DM_EUNAVAIL. */
static int authorize(run_t *r, const char *url, const char *type)
{
	net_http_resp_t resp;
	acme_authz_t a;
	char keyauth[200], *body = NULL;
	int status, rc = DM_EUNAVAIL;

	if (post(r, url, NULL, &resp) != DM_OK || resp.status != 200 ||
	    parse_authz(r->db, resp.body, type, &a) != DM_OK) {
		dm_warn("acme: authorization %s: unusable reply (status %d, no %s challenge?)", url, resp.status, type);
		free(resp.body);
		return DM_EUNAVAIL;
	}
	free(resp.body);
	if (a.status == ST_VALID)
		return DM_OK;
	if (a.status != ST_PENDING || !acme_is_domain(a.ident)) {
		dm_warn("acme: authorization for %s is not pending or not ours", a.ident);
		return DM_EUNAVAIL;
	}
	snprintf(keyauth, sizeof keyauth, "%s.%s", a.token, account_key.thumb);
	dm_info("acme: answering the %s challenge for %s", type, a.ident);
	if (!strcmp(type, "http-01"))
		pending_set(a.token, keyauth);
	else if (tls_alpn_set(a.ident, keyauth) != DM_OK) {
		dm_warn("acme: cannot make the tls-alpn-01 certificate for %s", a.ident);
		return DM_EUNAVAIL;
	}
	if (post(r, a.url, "{}", &resp) != DM_OK || resp.status != 200) {
		log_problem(r, "challenge", &resp);
		free(resp.body);
		return DM_EUNAVAIL;
	}
	free(resp.body);
	if (poll_status(r, url, 0, type, &status, &body) == DM_OK) {
		if (status == ST_VALID)
			rc = DM_OK;
		else {
			char t[128], d[512], *err = NULL;
			/* the first challenge's error, a problem document */
			sqlite3_stmt *q = db_query(r->db, "SELECT json_extract(value,'$.error') FROM json_each(?1,'$.challenges') "
							  "WHERE json_extract(value,'$.error') IS NOT NULL LIMIT 1",
						   DB_TEXT(body));
			if (q && sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
				err = strdup((const char *)sqlite3_column_text(q, 0));
			db_done(q);
			parse_problem(r->db, err, t, sizeof t, d, sizeof d);
			free(err);
			dm_warn("acme: %s for %s failed: %s %s", type, a.ident, t, d);
		}
	}
	free(body);
	return rc;
}

/* A new P-256 key (PEM into key_pem) and a CSR for every name (DER,
 * base64url into csr_b64). DM_OK or DM_ERR. */
static int make_csr(char *key_pem, size_t kcap, char *csr_b64, size_t ccap)
{
	mbedtls_pk_context key;
	mbedtls_x509write_csr csr;
	mbedtls_x509_san_list san[MAX_NAMES];
	unsigned char *der = malloc(4096);
	char subject[300];
	int n, rc = DM_ERR;

	mbedtls_pk_init(&key);
	mbedtls_x509write_csr_init(&csr);
	if (!der)
		goto done;
	memset(san, 0, sizeof san);
	for (int i = 0; i < st.ndomains; i++) {
		san[i].node.type = MBEDTLS_X509_SAN_DNS_NAME;
		san[i].node.san.unstructured_name.p = (unsigned char *)st.domains[i];
		san[i].node.san.unstructured_name.len = strlen(st.domains[i]);
		san[i].next = i + 1 < st.ndomains ? &san[i + 1] : NULL;
	}
	/* names are letters, digits, '-' and '.': nothing to escape */
	snprintf(subject, sizeof subject, "CN=%s", st.domains[0]);
	if (mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
	    mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key), acme_rng, NULL) != 0)
		goto done;
	mbedtls_x509write_csr_set_md_alg(&csr, MBEDTLS_MD_SHA256);
	mbedtls_x509write_csr_set_key(&csr, &key);
	if ((strlen(st.domains[0]) <= 64 && mbedtls_x509write_csr_set_subject_name(&csr, subject) != 0) ||
	    mbedtls_x509write_csr_set_subject_alternative_name(&csr, san) != 0)
		goto done;
	n = mbedtls_x509write_csr_der(&csr, der, 4096, acme_rng, NULL);
	if (n <= 0 || (size_t)n / 3 * 4 + 8 > ccap || mbedtls_pk_write_key_pem(&key, (unsigned char *)key_pem, kcap) != 0)
		goto done;
	dm_b64url_encode(der + 4096 - n, (size_t)n, csr_b64);
	rc = DM_OK;
done:
	mbedtls_x509write_csr_free(&csr);
	mbedtls_pk_free(&key);
	free(der);
	return rc;
}

/* mbedtls time to wall ms. */
static int64_t x509_ms(const mbedtls_x509_time *t)
{
	struct tm tm = {0};
	tm.tm_year = t->year - 1900;
	tm.tm_mon = t->mon - 1;
	tm.tm_mday = t->day;
	tm.tm_hour = t->hour;
	tm.tm_min = t->min;
	tm.tm_sec = t->sec;
	return (int64_t)timegm(&tm) * 1000;
}

/* 1 if the leaf's DNS names include every --acme-domain name. */
static int covers(const mbedtls_x509_crt *c)
{
	for (int i = 0; i < st.ndomains; i++) {
		int found = 0;
		for (const mbedtls_x509_sequence *s = &c->subject_alt_names; s && s->buf.p && !found; s = s->next)
			found = (s->buf.tag & MBEDTLS_ASN1_TAG_VALUE_MASK) == MBEDTLS_X509_SAN_DNS_NAME &&
				s->buf.len == strlen(st.domains[i]) &&
				!strncasecmp((const char *)s->buf.p, st.domains[i], s->buf.len);
		if (!found)
			return 0;
	}
	return 1;
}

/* Reads the leaf of a PEM chain: validity, ARI id ("AKI.serial" in
 * base64url), whether it covers our names. DM_OK or DM_EINVAL. */
static int cert_facts(const char *pem, int64_t *nb, int64_t *na, char *ari_id, size_t cap, int *cov)
{
	mbedtls_x509_crt c;
	int rc = DM_EINVAL;
	mbedtls_x509_crt_init(&c);
	if (mbedtls_x509_crt_parse(&c, (const unsigned char *)pem, strlen(pem) + 1) == 0 && c.raw.p) {
		const mbedtls_x509_buf *aki = &c.authority_key_id.keyIdentifier;
		*nb = x509_ms(&c.valid_from);
		*na = x509_ms(&c.valid_to);
		*cov = covers(&c);
		ari_id[0] = 0;
		if (aki->p && aki->len && aki->len <= 64 && c.serial.len <= 40 && cap >= 200) {
			size_t n = dm_b64url_encode(aki->p, aki->len, ari_id);
			ari_id[n++] = '.';
			dm_b64url_encode(c.serial.p, c.serial.len, ari_id + n);
		}
		rc = DM_OK;
	}
	mbedtls_x509_crt_free(&c);
	return rc;
}

static int dir_fetch(run_t *r)
{
	net_http_resp_t resp;
	int rc = net_http("GET", cfg.acme_directory, NULL, NULL, NULL, 0, MAX_REPLY, 0, &resp);
	if (rc != DM_OK || resp.status != 200 || parse_dir(r->db, resp.body, &r->dir) != DM_OK) {
		dm_warn("acme: directory %s: unreachable or not an ACME directory (status %d)", cfg.acme_directory,
			resp.status);
		rc = DM_EUNAVAIL;
	}
	free(resp.body);
	return rc;
}

/* Asks ARI when to renew the certificate in service and sets st.due_ms.
 * Quietly keeps the two-thirds time when the server has no ARI or fails. */
static void ari_check(run_t *r)
{
	char url[URL_MAX + 220], id[200];
	net_http_resp_t resp;
	int64_t ws, we, nb, na, recheck = ARI_RECHECK_MS;

	pthread_mutex_lock(&st.lock);
	dm_strlcpy(id, st.ari_id, sizeof id);
	nb = st.nb_ms;
	na = st.na_ms;
	pthread_mutex_unlock(&st.lock);
	if (!id[0] || !r->dir.renewal_info[0])
		goto done;
	snprintf(url, sizeof url, "%s%s%s", r->dir.renewal_info,
		 r->dir.renewal_info[strlen(r->dir.renewal_info) - 1] == '/' ? "" : "/", id);
	if (net_http("GET", url, NULL, NULL, NULL, 0, MAX_REPLY, 0, &resp) == DM_OK && resp.status == 200 &&
	    parse_ari(r->db, resp.body, &ws, &we) == DM_OK) {
		int64_t due = renew_at(nb, na, ws, we, dm_random_below(UINT32_MAX));
		if (resp.retry_after > 0)
			recheck = resp.retry_after * 1000LL;
		pthread_mutex_lock(&st.lock);
		st.due_ms = due;
		pthread_mutex_unlock(&st.lock);
		dm_info("acme: renewal information: renew after %lld s", (long long)((due - dm_now_ms()) / 1000));
	} else
		dm_debug("acme: no renewal information (status %d)", resp.status);
	free(resp.body);
done:
	pthread_mutex_lock(&st.lock);
	st.ari_check_ms = dm_now_ms() + recheck;
	pthread_mutex_unlock(&st.lock);
}

/* Takes the certificate in pem (key + chain) into service: facts, due
 * time. Called at start with the stored one and after an issuance. */
static int adopt(const char *pem)
{
	int64_t nb, na;
	char id[200];
	int cov;
	if (cert_facts(pem, &nb, &na, id, sizeof id, &cov) != DM_OK)
		return DM_EINVAL;
	pthread_mutex_lock(&st.lock);
	st.nb_ms = nb;
	st.na_ms = na;
	dm_strlcpy(st.ari_id, id, sizeof st.ari_id);
	st.have_cert = cov;
	st.due_ms = cov ? renew_at(nb, na, 0, 0, 0) : 0;
	st.ari_check_ms = 0;
	st.backoff_s = cfg.acme_retry;
	pthread_mutex_unlock(&st.lock);
	return DM_OK;
}

/* One whole issuance. DM_OK when a new certificate is in service. */
static int issue(run_t *r)
{
	const char *type = cfg.http[0] ? "http-01" : "tls-alpn-01";
	char payload[4096], *kpem = NULL, *csr = NULL, *body = NULL, *file = NULL;
	char order_url[URL_MAX], path[1100];
	net_http_resp_t resp = {0};
	acme_order_t o;
	int rc = DM_EUNAVAIL, status, n;

	r->kid[0] = 0;
	if (new_nonce(r) != DM_OK)
		return DM_EUNAVAIL;
	/* account: newAccount with our key finds or creates it */
	if (db_get_text(r->db, payload, sizeof payload,
			"SELECT CASE WHEN ?1 = '' THEN json_object('termsOfServiceAgreed',json('true')) ELSE "
			"json_object('termsOfServiceAgreed',json('true'),'contact',json_array('mailto:'||?1)) END",
			DB_TEXT(cfg.acme_email)) != DM_OK)
		return DM_ERR;
	if (post(r, r->dir.new_account, payload, &resp) != DM_OK || (resp.status != 200 && resp.status != 201) ||
	    !url_ok(resp.location)) {
		log_problem(r, "newAccount", &resp);
		goto done;
	}
	dm_strlcpy(r->kid, resp.location, sizeof r->kid);
	free(resp.body);
	resp.body = NULL;

	/* order: names were checked by name_ok, so plain quoting is JSON */
	n = snprintf(payload, sizeof payload, "{\"identifiers\":[");
	for (int i = 0; i < st.ndomains; i++)
		n += snprintf(payload + n, sizeof payload - (size_t)n, "%s{\"type\":\"dns\",\"value\":\"%s\"}",
			      i ? "," : "", st.domains[i]);
	snprintf(payload + n, sizeof payload - (size_t)n, "]}");
	if (post(r, r->dir.new_order, payload, &resp) != DM_OK || resp.status != 201 || !url_ok(resp.location) ||
	    parse_order(r->db, resp.body, &o) != DM_OK) {
		log_problem(r, "newOrder", &resp);
		goto done;
	}
	dm_strlcpy(order_url, resp.location, sizeof order_url);
	free(resp.body);
	resp.body = NULL;
	for (int i = 0; i < o.nauthz; i++)
		if (authorize(r, o.authz[i], type) != DM_OK)
			goto done;

	/* finalize with a CSR for a new key */
	kpem = malloc(1024);
	csr = malloc(6000);
	if (!kpem || !csr || make_csr(kpem, 1024, csr, 6000) != DM_OK) {
		rc = DM_ERR;
		goto done;
	}
	snprintf(payload, sizeof payload, "{\"csr\":\"%s\"}", csr);
	if (post(r, o.finalize, payload, &resp) != DM_OK || resp.status != 200) {
		log_problem(r, "finalize", &resp);
		goto done;
	}
	free(resp.body);
	resp.body = NULL;
	if (poll_status(r, order_url, 1, type, &status, &body) != DM_OK || status != ST_VALID ||
	    parse_order(r->db, body, &o) != DM_OK || !o.certificate[0]) {
		dm_warn("acme: order %s did not become valid", order_url);
		goto done;
	}
	if (post(r, o.certificate, NULL, &resp) != DM_OK || resp.status != 200 || !resp.body ||
	    !strstr(resp.body, "-----BEGIN CERTIFICATE-----")) {
		log_problem(r, "certificate download", &resp);
		goto done;
	}
	/* key first, then the chain: the layout civetweb and tls read */
	file = malloc(strlen(kpem) + resp.body_len + 2);
	if (!file) {
		rc = DM_ENOMEM;
		goto done;
	}
	sprintf(file, "%s%s", kpem, resp.body);
	{
		int64_t nb, na;
		char id[200];
		int cov = 0;
		if (cert_facts(resp.body, &nb, &na, id, sizeof id, &cov) != DM_OK || !cov) {
			dm_warn("acme: the certificate received does not name every --acme-domain name");
			goto done;
		}
	}
	if (tls_install(kpem, resp.body) != DM_OK) {
		dm_warn("acme: the certificate received does not match our key");
		goto done;
	}
	if (dm_snprintf(path, sizeof path, "%s/tls/acme.pem", cfg.data) != DM_OK ||
	    tls_write_private(path, file, NULL) != DM_OK)
		dm_warn("acme: certificate in service but not saved");
	adopt(file);
	rc = DM_OK;
done:
	free(resp.body);
	free(body);
	free(kpem);
	free(csr);
	free(file);
	return rc;
}

/* The timer's task: an attempt when one is due, an ARI check when that
 * is due. One at a time. */
static void tick(void *unused)
{
	run_t r;
	int64_t now = dm_now_ms();
	int attempt, ari, ok;

	(void)unused;
	pthread_mutex_lock(&st.lock);
	attempt = st.listening && !st.running && now >= st.due_ms;
	ari = st.listening && !st.running && !attempt && st.have_cert && now >= st.ari_check_ms;
	if (attempt || ari)
		st.running = 1;
	pthread_mutex_unlock(&st.lock);
	if (!attempt && !ari)
		return;
	memset(&r, 0, sizeof r);
	r.db = db_reader();
	ok = r.db && dir_fetch(&r) == DM_OK;
	if (ari) {
		if (ok)
			ari_check(&r);
		else {
			pthread_mutex_lock(&st.lock);
			st.ari_check_ms = now + 600 * 1000;
			pthread_mutex_unlock(&st.lock);
		}
	} else {
		int64_t t0 = dm_mono_ms();
		dm_info("acme: requesting a certificate for %s from %s", cfg.acme_domain, cfg.acme_directory);
		ok = ok && issue(&r) == DM_OK;
		pending_set(NULL, NULL);
		tls_alpn_clear();
		if (ok) {
			dm_info("acme: certificate for %s installed after %lld ms", cfg.acme_domain,
				(long long)(dm_mono_ms() - t0));
			ari_check(&r);
		} else {
			pthread_mutex_lock(&st.lock);
			st.due_ms = dm_now_ms() + st.backoff_s * 1000LL;
			dm_warn("acme: no certificate this time; %s; next try in %d s",
				st.have_cert ? "the current one stays in service" : "serving the self-signed one",
				st.backoff_s);
			st.backoff_s = st.backoff_s * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : st.backoff_s * 2;
			pthread_mutex_unlock(&st.lock);
		}
	}
	pthread_mutex_lock(&st.lock);
	st.running = 0;
	pthread_mutex_unlock(&st.lock);
}

/* ------------------------------------------------------------ part */

int acme_http01(const char *token, char *out, size_t cap)
{
	int rc = DM_ENOTFOUND;
	pthread_mutex_lock(&st.lock);
	dm_assert(st.npending >= 0 && st.npending <= MAX_NAMES);
	for (int i = 0; i < st.npending; i++)
		if (!strcmp(st.pending[i].token, token)) {
			rc = dm_strlcpy(out, st.pending[i].keyauth, cap) == DM_OK ? DM_OK : DM_ERR;
			break;
		}
	pthread_mutex_unlock(&st.lock);
	return rc;
}

int acme_is_domain(const char *host)
{
	/* st.domains is written only by acme_init, before any thread */
	for (int i = 0; i < st.ndomains; i++)
		if (!strcasecmp(st.domains[i], host))
			return 1;
	return 0;
}

void acme_first_domain(char *out, size_t cap)
{
	dm_strlcpy(out, st.ndomains ? st.domains[0] : "", cap);
}

/* Splits list (comma-separated) into st.domains. DM_OK or DM_EINVAL. */
static int parse_names(const char *list)
{
	const char *p = list;
	st.ndomains = 0;
	while (*p) {
		size_t n = strcspn(p, ",");
		char name[254];
		if (n == 0 || n >= sizeof name || st.ndomains >= MAX_NAMES)
			return DM_EINVAL;
		memcpy(name, p, n);
		name[n] = 0;
		if (!name_ok(name))
			return DM_EINVAL;
		memcpy(st.domains[st.ndomains++], name, n + 1);
		p += n;
		if (*p == ',')
			p++;
	}
	return st.ndomains ? DM_OK : DM_EINVAL;
}

/* The HTTPS port redirects go to: that of the first --https listener. */
static int https_port(void)
{
	const char *e = cfg.https + strcspn(cfg.https, ",");
	const char *c = e;
	while (c > cfg.https && c[-1] != ':')
		c--;
	return atoi(c) > 0 ? atoi(c) : 443;
}

/* With ACME on: answers HTTP-01 challenges (on either listener) and sends
 * every plain HTTP request but /healthz to the same path on HTTPS (301).
 * The redirect's host is the request's Host when it is one of the ACME
 * names, else the first name (never an arbitrary Host). 1 if it replied. */
static int front(http_req_t *r)
{
	static const char pfx[] = "/.well-known/acme-challenge/";
	char loc[2600], host[256], port[16] = "";
	const char *h, *q;
	size_t n;

	if (!cfg.acme_domain[0])
		return 0;
	if (!strncmp(r->path, pfx, sizeof pfx - 1)) {
		char ka[512];
		if (acme_http01(r->path + sizeof pfx - 1, ka, sizeof ka) == DM_OK)
			http_reply_raw(r, 200, "application/octet-stream", "Cache-Control: no-store\r\n", ka, strlen(ka));
		else
			http_refuse(r, RF_NO_ROUTE);
		return 1;
	}
	if (r->ri->is_ssl || !strcmp(r->path, "/healthz"))
		return 0;
	h = http_header(r, "Host");
	n = h ? strcspn(h, ":") : 0;
	if (h && *h == '[')
		n = 0; /* an IP literal is never an ACME name */
	host[0] = 0;
	if (n > 0 && n < sizeof host) {
		memcpy(host, h, n);
		host[n] = 0;
	}
	if (!host[0] || !acme_is_domain(host))
		acme_first_domain(host, sizeof host);
	if (https_port() != 443)
		snprintf(port, sizeof port, ":%d", https_port());
	if (dm_snprintf(loc, sizeof loc, "https://%s%s", host, port) != DM_OK)
		return http_refuse(r, RF_BAD_PATH), 1;
	/* the decoded path, percent-encoded again */
	n = strlen(loc);
	for (const unsigned char *p = (const unsigned char *)r->path; *p && n + 4 < sizeof loc; p++) {
		if (isalnum(*p) || strchr("-._~/!$&'()*+,;=:@", *p))
			loc[n++] = (char)*p;
		else
			n += (size_t)snprintf(loc + n, 4, "%%%02X", *p);
	}
	loc[n] = 0;
	q = r->query;
	if ((q && (strlen(loc) + strlen(q) + 2 > sizeof loc || dm_snprintf(loc + n, sizeof loc - n, "?%s", q) != DM_OK)) ||
	    !http_header_value_safe(loc, sizeof loc) || strchr(loc, ' ')) {
		http_refuse(r, RF_BAD_PATH);
		return 1;
	}
	{
		char extra[2700];
		snprintf(extra, sizeof extra, "Location: %s\r\nCache-Control: no-store\r\n", loc);
		http_reply_raw(r, 301, "text/plain; charset=utf-8", extra, "", 0);
	}
	return 1;
}

static void on_http_start(struct mg_context *ctx)
{
	(void)ctx;
	pthread_mutex_lock(&st.lock);
	st.listening = 1;
	pthread_mutex_unlock(&st.lock);
	jobs_task(tick, NULL);
}

int acme_init(void)
{
	char dir[1100], path[1200], *pem;

	if (!cfg.acme_domain[0])
		return DM_OK;
	if (parse_names(cfg.acme_domain) != DM_OK) {
		dm_error("--acme-domain: '%s': expected DNS names (letters, digits, '-', '.') separated by commas, "
			 "at most %d", cfg.acme_domain, MAX_NAMES);
		return DM_ERR;
	}
	if (dm_snprintf(dir, sizeof dir, "%s/acme", cfg.data) != DM_OK ||
	    (mkdir(dir, 0700) != 0 && errno != EEXIST)) {
		dm_error("cannot create %s: %s", dir, strerror(errno));
		return DM_ERR;
	}
	snprintf(path, sizeof path, "%s/account.key", dir);
	if (access(path, F_OK) == 0) {
		pem = tls_slurp(path);
		if (!pem || key_setup(&account_key, pem) != DM_OK) {
			dm_error("%s: not a P-256 private key (remove it to register a new account)", path);
			free(pem);
			return DM_ERR;
		}
		free(pem);
	} else {
		char buf[1024];
		if (key_setup(&account_key, NULL) != DM_OK ||
		    mbedtls_pk_write_key_pem(&account_key.pk, (unsigned char *)buf, sizeof buf) != 0 ||
		    tls_write_private(path, buf, NULL) != DM_OK) {
			dm_error("cannot create the ACME account key %s", path);
			key_free(&account_key);
			return DM_ERR;
		}
	}
	st.backoff_s = cfg.acme_retry;
	st.due_ms = 0;
	snprintf(path, sizeof path, "%s/tls/acme.pem", cfg.data);
	if (access(path, R_OK) == 0 && (pem = tls_slurp(path))) {
		if (adopt(pem) == DM_OK && st.have_cert)
			dm_info("acme: certificate in %s valid until %lld, renewal due in %lld s", path,
				(long long)(st.na_ms / 1000), (long long)((st.due_ms - dm_now_ms()) / 1000));
		free(pem);
	}
	http_front(front);
	http_on_start(on_http_start);
	return jobs_timer("acme", 1000, tick, NULL);
}

void acme_stop(void)
{
	if (account_key.ready)
		key_free(&account_key);
}
