/*
 * oidc.c — Kakao and Google sign-in (see oidc.h).
 *
 * Thread-safety: each provider's cached discovery document and JWKS are
 * under that provider's lock; they are copied out under the lock and the
 * network fetches run without it. Everything else lives in the request.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "account.h"
#include "auth.h"
#include "config.h"
#include "db.h"
#include "dm.h"
#include "http.h"
#include "jobs.h"
#include "net.h"
#include "oidc.h"

#define DISC_TTL_MS (3600 * 1000)      /* discovery document kept an hour */
#define JWKS_TTL_MS (3600 * 1000)      /* JWKS kept an hour ... */
#define JWKS_REFETCH_MS 10000          /* ... and refetched on an unknown kid at most every 10 s */
#define STATE_TTL_MS (10 * 60 * 1000)  /* an authorization request may take 10 minutes */
#define SOCIAL_CODE_TTL_MS (2 * 60 * 1000)
#define CLOCK_SKEW_S 60
#define MAX_DOC (256 * 1024)
#define URLCAP 1024

typedef struct disc {
	char iss[512], authz[URLCAP], token[URLCAP], jwks[URLCAP], userinfo[URLCAP];
} disc_t;

typedef struct prov {
	const char *name;              /* "kakao" / "google" */
	const char *issuer, *client_id, *client_secret, *userinfo_cfg, *scope;
	pthread_mutex_t lock;          /* guards the caches below */
	int have_disc;
	int64_t disc_at;
	disc_t disc;
	char *jwks;                    /* the JWKS document (malloc'd) */
	int64_t jwks_at;
} prov_t;

static prov_t provs[2] = {
	{.name = "kakao", .scope = "openid account_email profile_nickname", .lock = PTHREAD_MUTEX_INITIALIZER},
	{.name = "google", .scope = "openid email profile", .lock = PTHREAD_MUTEX_INITIALIZER},
};

static prov_t *prov_by_name(const char *name)
{
	for (size_t i = 0; i < sizeof provs / sizeof provs[0]; i++)
		if (!strcmp(provs[i].name, name))
			return &provs[i];
	return NULL;
}

static int prov_enabled(const prov_t *p)
{
	return p->issuer[0] && p->client_id[0];
}

/* ------------------------------------------------------------ fetching */

/* GETs url (https only) and checks the reply is a JSON object. *doc is
 * malloc'd (caller frees). DM_OK or DM_EUNAVAIL. */
static int fetch_json(sqlite3 *db, const char *url, const char *headers, char **doc, int *status)
{
	net_http_resp_t resp;
	int64_t object = 0;
	int rc = net_http("GET", url, headers, NULL, NULL, 0, MAX_DOC, 0, &resp);
	*doc = NULL;
	if (status)
		*status = resp.status;
	if (rc != DM_OK || !resp.body) {
		free(resp.body);
		return DM_EUNAVAIL;
	}
	if (resp.status != 200 || !json_strict_ok(db, resp.body, resp.body_len) ||
	    db_get_int(db, &object, "SELECT json_type(?1) = 'object'", DB_TEXT(resp.body)) != DM_OK || object != 1) {
		dm_warn("oidc: GET %s: status %d or not a JSON object", url, resp.status);
		free(resp.body);
		return DM_EUNAVAIL;
	}
	*doc = resp.body;
	return DM_OK;
}

/* Copies text column i into dst (cap); DM_OK or DM_EINVAL if NULL/too long. */
static int col_copy(sqlite3_stmt *st, int i, char *dst, size_t cap, int required)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	if (!t || sqlite3_column_type(st, i) != SQLITE_TEXT) {
		dst[0] = 0;
		return required ? DM_EINVAL : DM_OK;
	}
	return dm_strlcpy(dst, t, cap) == DM_OK ? DM_OK : DM_EINVAL;
}

/* The provider's discovery document (cached for an hour). DM_OK or
 * DM_EUNAVAIL. */
static int discover(prov_t *p, sqlite3 *db, disc_t *out)
{
	char url[700], *doc = NULL;
	sqlite3_stmt *st;
	disc_t d;
	int rc = DM_EUNAVAIL;

	pthread_mutex_lock(&p->lock);
	if (p->have_disc && dm_mono_ms() - p->disc_at < DISC_TTL_MS) {
		*out = p->disc;
		pthread_mutex_unlock(&p->lock);
		return DM_OK;
	}
	pthread_mutex_unlock(&p->lock);

	snprintf(url, sizeof url, "%s%s.well-known/openid-configuration", p->issuer,
		 p->issuer[strlen(p->issuer) - 1] == '/' ? "" : "/");
	if (fetch_json(db, url, NULL, &doc, NULL) != DM_OK)
		goto done;
	st = db_query(db, "SELECT json_extract(?1,'$.issuer'), json_extract(?1,'$.authorization_endpoint'), "
			  "json_extract(?1,'$.token_endpoint'), json_extract(?1,'$.jwks_uri'), "
			  "json_extract(?1,'$.userinfo_endpoint')",
		      DB_TEXT(doc));
	if (!st)
		goto done;
	memset(&d, 0, sizeof d);
	if (sqlite3_step(st) == SQLITE_ROW && col_copy(st, 0, d.iss, sizeof d.iss, 1) == DM_OK &&
	    col_copy(st, 1, d.authz, sizeof d.authz, 1) == DM_OK && col_copy(st, 2, d.token, sizeof d.token, 1) == DM_OK &&
	    col_copy(st, 3, d.jwks, sizeof d.jwks, 1) == DM_OK &&
	    col_copy(st, 4, d.userinfo, sizeof d.userinfo, 0) == DM_OK)
		rc = DM_OK;
	db_done(st);
	/* the document must be the configured issuer's own (OpenID Connect
	 * Discovery 4.3), and every endpoint https */
	if (rc == DM_OK && strcmp(d.iss, p->issuer)) {
		dm_warn("oidc %s: discovery names issuer %s, configured %s", p->name, d.iss, p->issuer);
		rc = DM_EUNAVAIL;
	}
	if (rc == DM_OK && (strncmp(d.authz, "https://", 8) || strncmp(d.token, "https://", 8) ||
			    strncmp(d.jwks, "https://", 8) || (d.userinfo[0] && strncmp(d.userinfo, "https://", 8)))) {
		dm_warn("oidc %s: discovery endpoints must be https", p->name);
		rc = DM_EUNAVAIL;
	}
	if (rc == DM_OK && p->userinfo_cfg[0])
		dm_strlcpy(d.userinfo, p->userinfo_cfg, sizeof d.userinfo);
	if (rc == DM_OK) {
		pthread_mutex_lock(&p->lock);
		p->disc = d;
		p->have_disc = 1;
		p->disc_at = dm_mono_ms();
		pthread_mutex_unlock(&p->lock);
		*out = d;
	}
done:
	free(doc);
	if (rc != DM_OK)
		dm_warn("oidc %s: discovery at %s failed", p->name, url);
	return rc;
}

/* Looks kid up in a JWKS document: an RSA signing key. n and e decoded
 * into the buffers. DM_OK or DM_ENOTFOUND. */
static int jwks_find(sqlite3 *db, const char *jwks, const char *kid, unsigned char *n, size_t *nlen, unsigned char *e,
		     size_t *elen)
{
	sqlite3_stmt *st = db_query(db, "SELECT json_extract(value,'$.n'), json_extract(value,'$.e') "
					"FROM json_each(?1,'$.keys') WHERE json_extract(value,'$.kty') = 'RSA' "
					"AND coalesce(json_extract(value,'$.use'),'sig') = 'sig' "
					"AND coalesce(json_extract(value,'$.alg'),'RS256') = 'RS256' "
					"AND (?2 IS NULL OR json_extract(value,'$.kid') = ?2)",
				    DB_TEXT(jwks), DB_TEXT(kid));
	int rc = DM_ENOTFOUND, rows = 0;
	if (!st)
		return DM_ENOTFOUND;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *tn = (const char *)sqlite3_column_text(st, 0), *te = (const char *)sqlite3_column_text(st, 1);
		long ln, le;
		if (++rows > 1 && !kid) {
			rc = DM_ENOTFOUND; /* no kid and several keys: ambiguous */
			break;
		}
		if (!tn || !te)
			continue;
		ln = dm_b64url_decode(tn, strlen(tn), n, 1024);
		le = dm_b64url_decode(te, strlen(te), e, 16);
		if (ln <= 0 || le <= 0)
			continue;
		*nlen = (size_t)ln;
		*elen = (size_t)le;
		rc = DM_OK;
		if (kid)
			break;
	}
	db_done(st);
	return rc;
}

/* The provider's key for kid from the cached JWKS, fetching the JWKS when
 * missing, older than an hour, or when kid is unknown (a key rotation; at
 * most once every 10 s, so forged kids cannot make us hammer the
 * provider). DM_OK or DM_EAUTH. */
static int jwks_key(prov_t *p, sqlite3 *db, const disc_t *d, const char *kid, unsigned char *n, size_t *nlen,
		    unsigned char *e, size_t *elen)
{
	char *copy = NULL, *doc = NULL;
	int64_t age;
	int rc;

	pthread_mutex_lock(&p->lock);
	age = dm_mono_ms() - p->jwks_at;
	if (p->jwks && age < JWKS_TTL_MS)
		copy = strdup(p->jwks);
	pthread_mutex_unlock(&p->lock);
	if (copy) {
		rc = jwks_find(db, copy, kid, n, nlen, e, elen);
		free(copy);
		if (rc == DM_OK)
			return DM_OK;
		if (age < JWKS_REFETCH_MS)
			return DM_EAUTH;
	}
	if (fetch_json(db, d->jwks, NULL, &doc, NULL) != DM_OK)
		return DM_EAUTH;
	rc = jwks_find(db, doc, kid, n, nlen, e, elen);
	pthread_mutex_lock(&p->lock);
	free(p->jwks);
	p->jwks = doc; /* owned by the cache now */
	p->jwks_at = dm_mono_ms();
	pthread_mutex_unlock(&p->lock);
	return rc == DM_OK ? DM_OK : DM_EAUTH;
}

/* ------------------------------------------------------------ id_token */

/* Who the provider says signed in. */
typedef struct ident {
	char sub[256];
	char email[256];
	char nickname[256];
	char nonce[256];      /* the id_token's nonce ("" if none) */
	int email_unverified; /* the provider said email_verified: false */
	int64_t exp;          /* seconds */
} ident_t;

/* Verifies an id_token from p: RS256 signature with the JWKS key, iss is
 * the discovered issuer, aud is (or, with azp, contains) our client id,
 * exp in the future, iat not in the future, and when want_nonce is given,
 * the nonce equals it. Fills *id. DM_OK, DM_EAUTH (refused; why says
 * which check), DM_EUNAVAIL (provider unreachable). */
static int verify_id_token(prov_t *p, sqlite3 *db, const char *tok, const char *want_nonce, ident_t *id,
			   const char **why)
{
	const char *d1, *d2;
	char header[1024], *payload = NULL, kid[256] = "", alg[32] = "";
	unsigned char sig[1024], n[1024], e[16];
	size_t nlen = 0, elen = 0;
	long hl, pl, sl;
	sqlite3_stmt *st = NULL;
	disc_t d;
	int rc = DM_EAUTH, have_kid = 0;
	int64_t now = dm_now_ms() / 1000;

	*why = "malformed";
	memset(id, 0, sizeof *id);
	if (!tok || strlen(tok) > 16384)
		return DM_EAUTH;
	d1 = strchr(tok, '.');
	d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	if (!d2 || strchr(d2 + 1, '.'))
		return DM_EAUTH;
	hl = dm_b64url_decode(tok, (size_t)(d1 - tok), header, sizeof header - 1);
	sl = dm_b64url_decode(d2 + 1, strlen(d2 + 1), sig, sizeof sig);
	if (hl <= 0 || sl <= 0)
		return DM_EAUTH;
	header[hl] = 0;
	if (!json_strict_ok(db, header, (size_t)hl))
		return DM_EAUTH;
	/* (strict JSON has no NUL: header is all of its hl bytes) */
	st = db_query(db, "SELECT json_type(?1) = 'object', json_extract(?1,'$.alg'), json_extract(?1,'$.kid'), "
			  "json_type(?1,'$.kid') = 'text', json_type(?1,'$.crit') IS NULL",
		      DB_TEXT(header));
	if (!st)
		return DM_ERR;
	if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int(st, 0) != 1 || sqlite3_column_int(st, 4) != 1 ||
	    col_copy(st, 1, alg, sizeof alg, 1) != DM_OK) {
		db_done(st);
		return DM_EAUTH;
	}
	have_kid = sqlite3_column_int(st, 3) == 1 && col_copy(st, 2, kid, sizeof kid, 1) == DM_OK;
	db_done(st);
	st = NULL;
	if (strcmp(alg, "RS256")) {
		*why = "algorithm";
		return DM_EAUTH;
	}
	if (discover(p, db, &d) != DM_OK)
		return DM_EUNAVAIL;
	if (jwks_key(p, db, &d, have_kid ? kid : NULL, n, &nlen, e, &elen) != DM_OK) {
		*why = "unknown key";
		return DM_EAUTH;
	}
	if (auth_rs256_verify(n, nlen, e, elen, tok, (size_t)(d2 - tok), sig, (size_t)sl) != DM_OK) {
		*why = "signature";
		return DM_EAUTH;
	}
	/* signed by the provider: now read the claims */
	payload = malloc((size_t)(d2 - d1));
	if (!payload)
		return DM_ENOMEM;
	pl = dm_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), payload, (size_t)(d2 - d1) - 1);
	if (pl <= 0)
		goto done;
	payload[pl] = 0;
	if (!json_strict_ok(db, payload, (size_t)pl))
		goto done;
	st = db_query(db, "SELECT json_type(?1) = 'object', json_extract(?1,'$.iss'), "
			  "CASE json_type(?1,'$.aud') WHEN 'text' THEN json_extract(?1,'$.aud') = ?2 "
			  " WHEN 'array' THEN EXISTS (SELECT 1 FROM json_each(?1,'$.aud') WHERE value = ?2) "
			  " AND (json_array_length(?1,'$.aud') = 1 OR json_extract(?1,'$.azp') IS ?2) ELSE 0 END, "
			  "json_type(?1,'$.exp') IN ('integer','real'), CAST(json_extract(?1,'$.exp') AS INTEGER), "
			  "json_type(?1,'$.iat') IN ('integer','real'), CAST(json_extract(?1,'$.iat') AS INTEGER), "
			  "CAST(json_extract(?1,'$.sub') AS TEXT), json_extract(?1,'$.email'), "
			  "json_extract(?1,'$.email_verified') IN (0, 'false'), "
			  "coalesce(json_extract(?1,'$.nickname'), json_extract(?1,'$.name')), "
			  "json_extract(?1,'$.nonce'), json_type(?1,'$.azp') IS NULL OR json_extract(?1,'$.azp') = ?2",
		      DB_TEXT(payload), DB_TEXT(p->client_id));
	if (!st) {
		rc = DM_ERR;
		goto done;
	}
	if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int(st, 0) != 1)
		goto done;
	{
		const char *iss = (const char *)sqlite3_column_text(st, 1);
		int iss_ok = iss && (!strcmp(iss, d.iss) ||
				     /* Google also writes its issuer without the scheme */
				     (!strcmp(d.iss, "https://accounts.google.com") && !strcmp(iss, "accounts.google.com")));
		if (!iss_ok) {
			*why = "issuer";
			goto done;
		}
	}
	if (sqlite3_column_int(st, 2) != 1 || sqlite3_column_int(st, 12) != 1) {
		*why = "audience";
		goto done;
	}
	if (sqlite3_column_int(st, 3) != 1 || sqlite3_column_int64(st, 4) + CLOCK_SKEW_S <= now) {
		*why = "expired";
		goto done;
	}
	id->exp = sqlite3_column_int64(st, 4);
	if (sqlite3_column_int(st, 5) != 1 || sqlite3_column_int64(st, 6) > now + CLOCK_SKEW_S) {
		*why = "issued-at";
		goto done;
	}
	if (col_copy(st, 7, id->sub, sizeof id->sub, 1) != DM_OK || !id->sub[0]) {
		*why = "subject";
		goto done;
	}
	col_copy(st, 8, id->email, sizeof id->email, 0);
	id->email_unverified = sqlite3_column_int(st, 9) == 1;
	col_copy(st, 10, id->nickname, sizeof id->nickname, 0);
	if (col_copy(st, 11, id->nonce, sizeof id->nonce, 0) != DM_OK) {
		*why = "nonce";
		goto done;
	}
	if (want_nonce && strcmp(id->nonce, want_nonce)) {
		*why = "nonce";
		goto done;
	}
	rc = DM_OK;
done:
	db_done(st);
	free(payload);
	return rc;
}

/* An access token fit to go into an Authorization header: at most 4000
 * bytes of the RFC 6750 token characters. */
static int access_token_ok(const char *access)
{
	return strlen(access) <= 4000 &&
	       strspn(access, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=") == strlen(access);
}

/* GETs the JSON document at url with access as the bearer token (checked
 * by access_token_ok). *doc is malloc'd (caller frees). DM_OK, DM_EAUTH
 * (an unfit token, or the endpoint refused it: 400, 401, 403),
 * DM_EUNAVAIL. */
static int fetch_with_token(sqlite3 *db, const char *url, const char *access, char **doc)
{
	char hdr[4200];
	int status = 0;

	*doc = NULL;
	if (!access_token_ok(access))
		return DM_EAUTH;
	snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", access);
	if (fetch_json(db, url, hdr, doc, &status) != DM_OK)
		return status == 401 || status == 403 || status == 400 ? DM_EAUTH : DM_EUNAVAIL;
	return DM_OK;
}

/* Kakao {accessToken}: asks the user-info endpoint who it belongs to.
 * Both shapes are read: OpenID ({sub, email, email_verified, nickname})
 * and Kakao's own ({id, kakao_account:{email, is_email_verified,
 * profile:{nickname}}}). DM_OK, DM_EAUTH, DM_EUNAVAIL. */
static int userinfo(prov_t *p, sqlite3 *db, const char *access, ident_t *id)
{
	char *doc = NULL;
	disc_t d;
	sqlite3_stmt *st;
	int rc;

	memset(id, 0, sizeof *id);
	if (!access_token_ok(access)) /* before anything goes out */
		return DM_EAUTH;
	if (discover(p, db, &d) != DM_OK)
		return DM_EUNAVAIL;
	if (!d.userinfo[0] || strncmp(d.userinfo, "https://", 8))
		return DM_EUNAVAIL;
	rc = fetch_with_token(db, d.userinfo, access, &doc);
	if (rc != DM_OK)
		return rc;
	rc = DM_EAUTH;
	st = db_query(db, "SELECT CAST(coalesce(json_extract(?1,'$.sub'), json_extract(?1,'$.id')) AS TEXT), "
			  "coalesce(json_extract(?1,'$.email'), json_extract(?1,'$.kakao_account.email')), "
			  "coalesce(json_extract(?1,'$.email_verified'), json_extract(?1,'$.kakao_account.is_email_verified')) "
			  "IN (0, 'false'), "
			  "coalesce(json_extract(?1,'$.nickname'), json_extract(?1,'$.kakao_account.profile.nickname'), "
			  "json_extract(?1,'$.properties.nickname'))",
		      DB_TEXT(doc));
	if (st) {
		if (sqlite3_step(st) == SQLITE_ROW && col_copy(st, 0, id->sub, sizeof id->sub, 1) == DM_OK &&
		    id->sub[0]) {
			col_copy(st, 1, id->email, sizeof id->email, 0);
			id->email_unverified = sqlite3_column_int(st, 2) == 1;
			col_copy(st, 3, id->nickname, sizeof id->nickname, 0);
			rc = DM_OK;
		}
		db_done(st);
	}
	free(doc);
	return rc;
}

/* Kakao {accessToken}, before anything trusts it: asks the token-info
 * endpoint (--kakao-tokeninfo) which app the token was issued to; it must
 * be ours (--kakao-app-id), since the user-info endpoint answers for a
 * token of any app, and another app's token must not sign anyone in here.
 * The user id it names goes into who (cap bytes) for the caller to match
 * against the user-info answer. DM_OK, DM_EAUTH (not our app's, or not a
 * live token), DM_EUNAVAIL. */
static int token_app_check(sqlite3 *db, const char *access, char *who, size_t cap)
{
	char *doc = NULL;
	sqlite3_stmt *st;
	int rc;

	who[0] = 0;
	rc = fetch_with_token(db, cfg.kakao_tokeninfo, access, &doc);
	if (rc != DM_OK)
		return rc;
	rc = DM_EAUTH;
	st = db_query(db, "SELECT json_type(?1,'$.app_id') = 'integer' AND json_extract(?1,'$.app_id') = "
			  "CAST(?2 AS INTEGER), CAST(json_extract(?1,'$.id') AS TEXT), json_type(?1,'$.id') "
			  "IN ('integer','text')",
		      DB_TEXT(doc), DB_TEXT(cfg.kakao_app_id));
	if (st) {
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1 && sqlite3_column_int(st, 2) == 1 &&
		    col_copy(st, 1, who, cap, 1) == DM_OK && who[0])
			rc = DM_OK;
		db_done(st);
	} else
		rc = DM_ERR;
	free(doc);
	return rc;
}

/* -------------------------------------------------------- social login */

typedef struct social {
	const char *provider;
	const ident_t *id;
	char replay_key[300];  /* oidcNonce key ("" = no replay check) */
	int64_t replay_until;  /* ms */
	int want_code;         /* callback: issue a one-time code */
	char code[44];         /* out */
	int64_t user_id;       /* out */
	int refused;           /* out: the sign-in was refused ... */
	refusal_t why;         /* ... for this reason */
} social_t;

/* A nickname from the provider's name, else the email's local part, cut
 * to 20 characters; "이웃" plus digits when nothing usable is left. */
static void pick_nickname(const ident_t *id, char *out, size_t cap)
{
	const char *srcs[2] = {id->nickname, id->email};
	for (int k = 0; k < 2; k++) {
		char buf[256];
		size_t i = 0, chars = 0;
		dm_strlcpy(buf, srcs[k], sizeof buf);
		if (k == 1)
			buf[strcspn(buf, "@")] = 0;
		/* keep at most 20 code points, drop control characters */
		char tmp[256];
		size_t o = 0;
		while (buf[i] && chars < 20) {
			size_t len = 1;
			unsigned char c = (unsigned char)buf[i];
			if (c >= 0xF0)
				len = 4;
			else if (c >= 0xE0)
				len = 3;
			else if (c >= 0xC0)
				len = 2;
			if (c < 0x20 || c == 0x7f) {
				i++;
				continue;
			}
			if (o + len >= sizeof tmp)
				break;
			memcpy(tmp + o, buf + i, len);
			o += len;
			i += len;
			chars++;
		}
		tmp[o] = 0;
		if (dm_utf8_valid(tmp, o) && account_nickname_ok(tmp)) {
			dm_strlcpy(out, tmp, cap);
			return;
		}
	}
	snprintf(out, cap, "이웃%04u", dm_random_below(10000));
}

/* Ends a sign-in with refusal why. DM_OK (the job itself ran, and the
 * nonce it spent is committed). */
static int social_refused(social_t *s, refusal_t why)
{
	s->refused = 1;
	s->why = why;
	return DM_OK;
}

/* Write job: spends the nonce (a replay is refused), finds the user by
 * (provider, sub) or creates one (refused when the email is taken by any
 * other account), and with want_code issues the one-time login code. The
 * nonce is committed even when the sign-in is refused. */
static int social_write(sqlite3 *w, void *arg)
{
	social_t *s = arg;
	int changed = 0;

	if (s->replay_key[0]) {
		if (db_run_changes(w, &changed, "INSERT OR IGNORE INTO oidcNonce(nonce, expiresDt) VALUES (?1, ?2)",
				   DB_TEXT(s->replay_key), DB_INT(s->replay_until)) != DM_OK)
			return DM_ERR;
		if (changed != 1)
			return social_refused(s, RF_TOKEN_REPLAYED);
	}
	if (db_get_int(w, &s->user_id, "SELECT userId FROM user WHERE provider = ?1 AND providerSub = ?2",
		       DB_TEXT(s->provider), DB_TEXT(s->id->sub)) == DM_ERR)
		return DM_ERR;
	if (!s->user_id) {
		char nick[128];
		int64_t one;
		if (!s->id->email[0] || s->id->email_unverified || !account_email_ok(s->id->email))
			return social_refused(s, RF_EMAIL_REQUIRED);
		if (db_get_int(w, &one, "SELECT 1 FROM user WHERE email = ?1", DB_TEXT(s->id->email)) == DM_OK)
			return social_refused(s, RF_EMAIL_EXISTS);
		pick_nickname(s->id, nick, sizeof nick);
		if (db_run(w, "INSERT INTO user(email, nickname, password, provider, providerSub, createdDt) "
			      "VALUES (?1, ?2, NULL, ?3, ?4, dm_now())",
			   DB_TEXT(s->id->email), DB_TEXT(nick), DB_TEXT(s->provider), DB_TEXT(s->id->sub)) != DM_OK)
			return DM_ERR;
		s->user_id = sqlite3_last_insert_rowid(w);
	}
	if (s->want_code) {
		char hash[65];
		if (auth_refresh_new(s->code, hash) != DM_OK ||
		    db_run(w, "INSERT INTO socialLogin(codeHash, userId, expiresDt) VALUES (?1, ?2, ?3)", DB_TEXT(hash),
			   DB_INT(s->user_id), DB_INT(dm_now_ms() + SOCIAL_CODE_TTL_MS)) != DM_OK)
			return DM_ERR;
	}
	return DM_OK;
}

/* ------------------------------------------------------------- helpers */

/* This server's base URL: --public-url, else from the request's Host
 * (only host-name characters accepted). DM_OK or DM_EINVAL. */
static int base_url(http_req_t *r, char *out, size_t cap)
{
	const char *host;
	size_t n;
	if (cfg.public_url[0]) {
		if (dm_strlcpy(out, cfg.public_url, cap) != DM_OK)
			return DM_EINVAL;
		n = strlen(out);
		if (n && out[n - 1] == '/')
			out[n - 1] = 0;
		return DM_OK;
	}
	host = http_header(r, "Host");
	if (!host || !*host || strlen(host) > 255 ||
	    strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") != strlen(host))
		return DM_EINVAL;
	return dm_snprintf(out, cap, "%s://%s", r->ri->is_ssl ? "https" : "http", host) == DM_OK ? DM_OK : DM_EINVAL;
}

/* Appends "&name=urlencoded(value)" (or "?" first) to url. */
static int add_param(char *url, size_t cap, const char *name, const char *value)
{
	char enc[3 * 1024 + 1];
	size_t l = strlen(url);
	if (mg_url_encode(value, enc, sizeof enc) < 0)
		return DM_ETOOBIG;
	return dm_snprintf(url + l, cap - l, "%s%s=%s", strchr(url, '?') ? "&" : "?", name, enc);
}

/* Which provider a path names: /account/<name>[/callback]. */
static prov_t *path_prov(http_req_t *r)
{
	char name[16];
	const char *p = r->path + strlen("/account/");
	size_t n = strcspn(p, "/A");
	if (n >= sizeof name)
		return NULL;
	memcpy(name, p, n);
	name[n] = 0;
	return prov_by_name(name);
}

/*
 * The browser that started a sign-in must be the one that finishes it
 * (against login CSRF: an attacker's own code and state, planted in a
 * victim's browser, would sign the victim in as the attacker). The start
 * sets the state in a cookie that only the provider's callback path
 * receives (HttpOnly, SameSite=Lax so the provider's top-level redirect
 * back carries it, Secure over HTTPS, gone after the state's 10 minutes);
 * the callback refuses a state its cookie does not match, and clears it.
 */
#define STATE_COOKIE "dongmul_oidc_state"

/* The Set-Cookie value for p's state cookie: value, or "" to clear it. */
static void state_cookie(http_req_t *r, const prov_t *p, const char *value, char *out, size_t cap)
{
	int secure = r->ri->is_ssl || !strncmp(cfg.public_url, "https://", 8);
	snprintf(out, cap, STATE_COOKIE "=%s; Path=/account/%s/callback; Max-Age=%d; HttpOnly; SameSite=Lax%s", value,
		 p->name, value[0] ? STATE_TTL_MS / 1000 : 0, secure ? "; Secure" : "");
}

/* Redirects to the app with ?code= or ?error= (the end of a callback: the
 * state cookie is cleared). */
static int to_app(http_req_t *r, const char *name, const char *value)
{
	char url[2048], cookie[200];
	prov_t *p = path_prov(r);
	if (cfg.app_url[0])
		dm_strlcpy(url, cfg.app_url, sizeof url);
	else if (base_url(r, url, sizeof url - 2) == DM_OK)
		strcat(url, "/");
	else
		return http_refuse(r, RF_BAD_HOST);
	if (add_param(url, sizeof url, name, value) != DM_OK)
		return http_fail_dm(r, DM_ERR);
	if (!p)
		return http_redirect(r, url);
	state_cookie(r, p, "", cookie, sizeof cookie);
	return http_redirect_cookie(r, url, cookie);
}

/*
 * A failed callback redirects with ?error=CODE: the web app's codes, not
 * refusal replies (a redirect carries no status and no message; the app
 * words it). STATE_INVALID, STATE_MISMATCH, CANCELLED and PROVIDER_ERROR
 * exist only there; where the same failure is also a refusal of the JSON
 * endpoints (PROVIDER_UNAVAILABLE, TOKEN_INVALID, BAD_HOST, the sign-in
 * refusals), the code is that refusal's wire code.
 */
static int to_app_refused(http_req_t *r, refusal_t why)
{
	return to_app(r, "error", refusal_code(why));
}

/* Random base64url of n bytes into out (4n/3+2). */
static int rand_b64(size_t n, char *out)
{
	unsigned char rnd[48];
	if (n > sizeof rnd || dm_random(rnd, n) != DM_OK)
		return DM_ERR;
	dm_b64url_encode(rnd, n, out);
	return DM_OK;
}

/* ------------------------------------------------------------ handlers */

typedef struct state_row {
	char state[64], provider[16], nonce[64], verifier[64];
	int64_t expires;
	int found;
} state_row_t;

static int state_put_write(sqlite3 *w, void *arg)
{
	state_row_t *s = arg;
	return db_run(w, "INSERT INTO oidcState(state, provider, nonce, verifier, expiresDt) VALUES (?1, ?2, ?3, ?4, ?5)",
		      DB_TEXT(s->state), DB_TEXT(s->provider), DB_TEXT(s->nonce), DB_TEXT(s->verifier),
		      DB_INT(s->expires));
}

/* Write job: spends a state (single use), returning its row. */
static int state_take_write(sqlite3 *w, void *arg)
{
	state_row_t *s = arg;
	sqlite3_stmt *st = db_query(w, "DELETE FROM oidcState WHERE state = ?1 "
				       "RETURNING provider, nonce, verifier, expiresDt",
				    DB_TEXT(s->state));
	int rc;
	if (!st)
		return DM_ERR;
	/* (the row is deleted by the first step) */
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		col_copy(st, 0, s->provider, sizeof s->provider, 0);
		col_copy(st, 1, s->nonce, sizeof s->nonce, 0);
		col_copy(st, 2, s->verifier, sizeof s->verifier, 0);
		s->expires = sqlite3_column_int64(st, 3);
		s->found = 1;
	}
	db_done(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? DM_OK : DM_ERR;
}

/* GET /account/kakao, /account/google: off to the provider. */
static int h_start(http_req_t *r)
{
	prov_t *p = path_prov(r);
	state_row_t s;
	disc_t d;
	char url[4096], base[600], redirect[700], challenge[48], cookie[200];
	unsigned char h[32];
	int rc;

	if (!p || !prov_enabled(p))
		return http_refuse(r, RF_PROVIDER_DISABLED);
	if (base_url(r, base, sizeof base) != DM_OK)
		return http_refuse(r, RF_BAD_HOST);
	if (discover(p, r->db, &d) != DM_OK)
		return http_refuse(r, RF_PROVIDER_UNAVAILABLE);
	memset(&s, 0, sizeof s);
	if (rand_b64(32, s.state) != DM_OK || rand_b64(32, s.nonce) != DM_OK || rand_b64(32, s.verifier) != DM_OK)
		return http_fail_dm(r, DM_ERR);
	dm_strlcpy(s.provider, p->name, sizeof s.provider);
	s.expires = dm_now_ms() + STATE_TTL_MS;
	rc = jobs_write(state_put_write, &s);
	if (rc != DM_OK)
		return http_fail_dm(r, rc);
	mbedtls_sha256((const unsigned char *)s.verifier, strlen(s.verifier), h, 0);
	dm_b64url_encode(h, sizeof h, challenge);
	snprintf(redirect, sizeof redirect, "%s/account/%s/callback", base, p->name);
	dm_strlcpy(url, d.authz, sizeof url);
	if (add_param(url, sizeof url, "response_type", "code") != DM_OK ||
	    add_param(url, sizeof url, "client_id", p->client_id) != DM_OK ||
	    add_param(url, sizeof url, "redirect_uri", redirect) != DM_OK ||
	    add_param(url, sizeof url, "scope", p->scope) != DM_OK ||
	    add_param(url, sizeof url, "state", s.state) != DM_OK ||
	    add_param(url, sizeof url, "nonce", s.nonce) != DM_OK ||
	    add_param(url, sizeof url, "code_challenge", challenge) != DM_OK ||
	    add_param(url, sizeof url, "code_challenge_method", "S256") != DM_OK)
		return http_fail_dm(r, DM_ERR);
	state_cookie(r, p, s.state, cookie, sizeof cookie);
	return http_redirect_cookie(r, url, cookie);
}

/* Spends the nonce and signs the user in; fills s. Returns the write
 * status. */
static int sign_in(social_t *s, prov_t *p, const ident_t *id, const char *replay_key, int want_code)
{
	memset(s, 0, sizeof *s);
	s->provider = p->name;
	s->id = id;
	s->want_code = want_code;
	if (replay_key)
		snprintf(s->replay_key, sizeof s->replay_key, "%s:%s", p->name, replay_key);
	s->replay_until = (id->exp > 0 ? id->exp * 1000 : dm_now_ms()) + 86400000LL;
	return jobs_write(social_write, s);
}

/* GET /account/{provider}/callback?code&state[&iss] or ?error&state. */
static int h_callback(http_req_t *r)
{
	prov_t *p = path_prov(r);
	state_row_t s;
	disc_t d;
	ident_t id;
	social_t so;
	char code[1024], iss[600], err[128], base[600], redirect[700], form[4096], bound[64], *idtok = NULL;
	net_http_resp_t resp;
	const char *why = "";
	int rc;

	if (!p || !prov_enabled(p))
		return http_refuse(r, RF_PROVIDER_DISABLED);
	memset(&s, 0, sizeof s);
	if (http_query(r, "state", s.state, sizeof s.state) != DM_OK)
		return to_app(r, "error", "STATE_INVALID");
	/* only the browser that started this sign-in may finish it */
	if (http_cookie(r, STATE_COOKIE, bound, sizeof bound) != DM_OK || strlen(bound) != strlen(s.state) ||
	    !auth_ct_equal(bound, s.state, strlen(s.state)))
		return to_app(r, "error", "STATE_MISMATCH");
	rc = jobs_write(state_take_write, &s);
	if (rc != DM_OK)
		return http_fail_dm(r, rc);
	if (!s.found || strcmp(s.provider, p->name) || s.expires <= dm_now_ms())
		return to_app(r, "error", "STATE_INVALID");
	if (http_query(r, "error", err, sizeof err) == DM_OK)
		return to_app(r, "error", !strcmp(err, "access_denied") ? "CANCELLED" : "PROVIDER_ERROR");
	if (http_query(r, "code", code, sizeof code) != DM_OK || !code[0])
		return to_app(r, "error", "PROVIDER_ERROR");
	if (discover(p, r->db, &d) != DM_OK)
		return to_app_refused(r, RF_PROVIDER_UNAVAILABLE);
	/* RFC 9207: when the provider names itself, it must be the one we asked */
	if (http_query(r, "iss", iss, sizeof iss) == DM_OK && strcmp(iss, d.iss))
		return to_app(r, "error", "PROVIDER_ERROR");
	if (base_url(r, base, sizeof base) != DM_OK)
		return to_app_refused(r, RF_BAD_HOST);
	snprintf(redirect, sizeof redirect, "%s/account/%s/callback", base, p->name);
	form[0] = 0;
	if (add_param(form, sizeof form, "grant_type", "authorization_code") != DM_OK ||
	    add_param(form, sizeof form, "code", code) != DM_OK ||
	    add_param(form, sizeof form, "redirect_uri", redirect) != DM_OK ||
	    add_param(form, sizeof form, "client_id", p->client_id) != DM_OK ||
	    (p->client_secret[0] && add_param(form, sizeof form, "client_secret", p->client_secret) != DM_OK) ||
	    add_param(form, sizeof form, "code_verifier", s.verifier) != DM_OK)
		return http_fail_dm(r, DM_ERR);
	rc = net_http("POST", d.token, NULL, "application/x-www-form-urlencoded", form + 1, strlen(form + 1), MAX_DOC,
		      0, &resp);
	if (rc != DM_OK || resp.status != 200 || !json_strict_ok(r->db, resp.body, resp.body_len)) {
		dm_warn("oidc %s: token endpoint answered %d", p->name, resp.status);
		free(resp.body);
		return rc == DM_OK ? to_app(r, "error", "PROVIDER_ERROR") : to_app_refused(r, RF_PROVIDER_UNAVAILABLE);
	}
	{
		/* (strict JSON has no NUL: the body is all of its bytes) */
		sqlite3_stmt *st = db_query(r->db, "SELECT json_extract(?1,'$.id_token')", DB_TEXT(resp.body));
		if (st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT)
			idtok = strdup((const char *)sqlite3_column_text(st, 0));
		db_done(st);
	}
	free(resp.body);
	if (!idtok)
		return to_app(r, "error", "PROVIDER_ERROR");
	rc = verify_id_token(p, r->db, idtok, s.nonce, &id, &why);
	free(idtok);
	if (rc != DM_OK) {
		dm_warn("oidc %s: id_token refused (%s)", p->name, why);
		return to_app_refused(r, rc == DM_EUNAVAIL ? RF_PROVIDER_UNAVAILABLE : RF_TOKEN_INVALID);
	}
	rc = sign_in(&so, p, &id, id.nonce, 1);
	if (rc != DM_OK)
		return http_fail_dm(r, rc);
	if (so.refused)
		return to_app_refused(r, so.why);
	return to_app(r, "code", so.code);
}

/* Write job: spends a one-time social login code. */
typedef struct exch {
	char hash[65];
	int64_t user_id;
} exch_t;

static int exchange_write(sqlite3 *w, void *arg)
{
	exch_t *x = arg;
	sqlite3_stmt *st = db_query(w, "DELETE FROM socialLogin WHERE codeHash = ?1 RETURNING userId, expiresDt",
				    DB_TEXT(x->hash));
	int rc;
	if (!st)
		return DM_ERR;
	/* (the row is deleted by the first step) */
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_int64(st, 1) > dm_now_ms())
		x->user_id = sqlite3_column_int64(st, 0);
	db_done(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? DM_OK : DM_ERR;
}

/* POST /account/social/exchange {code}: the one-time code for a session. */
static int h_exchange(http_req_t *r)
{
	exch_t x;
	const char *code;
	int ra = 0, rc;

	if (http_json(r) != DM_OK)
		return DM_OK;
	if (auth_rate_hit("social-exchange/ip", r->ip, cfg.rate_login, cfg.rate_window, &ra) != DM_OK)
		return http_fail_rate(r, ra);
	code = json_str(&r->json, "code", 1, 200);
	if (!code)
		return http_refuse(r, RF_OIDC_CODE_REQUIRED);
	if (account_cookie_refused(r)) /* before the code is spent */
		return DM_OK;
	memset(&x, 0, sizeof x);
	auth_sha256_hex(code, x.hash);
	rc = jobs_write(exchange_write, &x);
	if (rc != DM_OK)
		return http_fail_dm(r, rc);
	if (!x.user_id)
		return http_refuse(r, RF_CODE_INVALID);
	return account_reply_session(r, x.user_id, NULL);
}

/* POST /account/kakaoAuth, /account/googleAuth: {idToken} (Kakao also
 * {accessToken}, only with --kakao-app-id: see token_app_check); verified
 * server-side. A bare {email} is refused. */
static int h_sdk(http_req_t *r)
{
	prov_t *p = path_prov(r);
	const char *idtok, *access, *why = "";
	ident_t id;
	social_t so;
	char tokhash[65] = "";
	int ra = 0, rc;

	if (!p || !prov_enabled(p))
		return http_refuse(r, RF_PROVIDER_DISABLED);
	if (http_json(r) != DM_OK)
		return DM_OK;
	if (auth_rate_hit("social-sdk/ip", r->ip, cfg.rate_login, cfg.rate_window, &ra) != DM_OK)
		return http_fail_rate(r, ra);
	idtok = json_str(&r->json, "idToken", 1, 16384);
	access = !strcmp(p->name, "kakao") ? json_str(&r->json, "accessToken", 1, 4000) : NULL;
	if (!idtok && !access)
		return http_refuse(r, RF_TOKEN_REQUIRED);
	if (idtok) {
		rc = verify_id_token(p, r->db, idtok, NULL, &id, &why);
		if (rc == DM_OK && !id.nonce[0])
			auth_sha256_hex(idtok, tokhash); /* no nonce: the token itself is spent */
	} else if (!cfg.kakao_app_id[0]) {
		return http_refuse(r, RF_ACCESS_TOKEN_UNSUPPORTED);
	} else {
		char who[256];
		/* the token must be our app's before its user-info is believed,
		 * and both endpoints must name the same user */
		why = "access token of another app";
		rc = token_app_check(r->db, access, who, sizeof who);
		if (rc == DM_OK) {
			why = "access token";
			rc = userinfo(p, r->db, access, &id);
			if (rc == DM_OK && strcmp(who, id.sub)) {
				why = "token-info and user-info name different users";
				rc = DM_EAUTH;
			}
		}
	}
	if (rc == DM_EUNAVAIL)
		return http_refuse(r, RF_PROVIDER_UNAVAILABLE);
	if (rc != DM_OK) {
		dm_warn("oidc %s: token refused (%s)", p->name, why);
		return http_refuse(r, RF_TOKEN_INVALID);
	}
	rc = sign_in(&so, p, &id, idtok ? (id.nonce[0] ? id.nonce : tokhash) : NULL, 0);
	if (rc != DM_OK)
		return http_fail_dm(r, rc);
	if (so.refused)
		return http_refuse(r, so.why);
	return account_reply_session(r, so.user_id, NULL);
}

/* ------------------------------------------------------------- cleanup */

static int cleanup_write(sqlite3 *w, void *unused)
{
	(void)unused;
	return db_exec(w, "DELETE FROM oidcState WHERE expiresDt < dm_now();"
			  "DELETE FROM oidcNonce WHERE expiresDt < dm_now();"
			  "DELETE FROM socialLogin WHERE expiresDt < dm_now();");
}

static void cleanup(void *unused)
{
	(void)unused;
	if (jobs_write(cleanup_write, NULL) != DM_OK)
		dm_warn("oidc: cleanup failed");
}

/* GET /account/providers (public): {msg, providers:[names]}, the
 * providers configured here, so the web app shows only their buttons. */
static int h_providers(http_req_t *r)
{
	return http_reply_stmt(r, 200,
			       db_query(r->db, "SELECT json_object('msg','success','providers',"
					       "(SELECT json_group_array(value) FROM json_each(json_array(?1,?2)) "
					       "WHERE value IS NOT NULL))",
					DB_TEXT(prov_enabled(&provs[0]) ? provs[0].name : NULL),
					DB_TEXT(prov_enabled(&provs[1]) ? provs[1].name : NULL)));
}

static const http_route_t routes[] = {
	{"GET", "/account/providers", h_providers, HTTP_PUBLIC},
	{"GET", "/account/kakao", h_start, HTTP_PUBLIC},
	{"GET", "/account/google", h_start, HTTP_PUBLIC},
	{"GET", "/account/kakao/callback", h_callback, HTTP_PUBLIC},
	{"GET", "/account/google/callback", h_callback, HTTP_PUBLIC},
	{"POST", "/account/social/exchange", h_exchange, HTTP_PUBLIC},
	{"POST", "/account/kakaoAuth", h_sdk, HTTP_PUBLIC},
	{"POST", "/account/googleAuth", h_sdk, HTTP_PUBLIC},
};

int oidc_init(void)
{
	provs[0].issuer = cfg.kakao_issuer;
	provs[0].client_id = cfg.kakao_client_id;
	provs[0].client_secret = cfg.kakao_client_secret;
	provs[0].userinfo_cfg = cfg.kakao_userinfo;
	provs[1].issuer = cfg.google_issuer;
	provs[1].client_id = cfg.google_client_id;
	provs[1].client_secret = cfg.google_client_secret;
	provs[1].userinfo_cfg = "";
	for (size_t i = 0; i < sizeof provs / sizeof provs[0]; i++) {
		prov_t *p = &provs[i];
		if (!prov_enabled(p))
			continue;
		if (strncmp(p->issuer, "https://", 8)) {
			dm_error("--%s-issuer must be an https:// URL", p->name);
			return DM_ERR;
		}
		dm_info("oidc: %s sign-in through %s", p->name, p->issuer);
	}

	http_routes(routes, sizeof routes / sizeof routes[0]);
	return jobs_timer("oidc-cleanup", 10 * 60 * 1000, cleanup, NULL);
}

void oidc_stop(void)
{
	for (size_t i = 0; i < sizeof provs / sizeof provs[0]; i++) {
		pthread_mutex_lock(&provs[i].lock);
		free(provs[i].jwks);
		provs[i].jwks = NULL;
		provs[i].have_disc = 0;
		pthread_mutex_unlock(&provs[i].lock);
	}
}
