/*
 * auth — JWT HS256 (mbedtls HMAC), bearer verification against the user's
 * sessions, password hashing, refresh tokens, rate limiting.
 * Prefix: auth_.
 */
#ifndef AUTH_H
#define AUTH_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* Loads DIR/jwt.key or generates 32 random bytes there (mode 0600).
 * DM_OK or DM_ERR. */
int auth_init(const char *datadir);
void auth_shutdown(void);

typedef struct auth_claims {
	int64_t sub;        /* userId */
	int64_t iat, exp;   /* seconds */
	int64_t gen;        /* the user's tokenGen when issued */
	char jti[48];
	char fam[48];       /* the refresh-token family of the login ("" if none) */
} auth_claims_t;

/* Signs {"alg":"HS256","typ":"JWT"}.{sub,gen,iat,exp,jti} with the server key.
 * out gets the compact token (no '='); returns DM_OK or DM_ETOOBIG. */
int auth_jwt_sign(int64_t user_id, int64_t gen, int ttl_s, char *out, size_t cap, auth_claims_t *claims);
/* The same, with the refresh-token family of the login in a "fam" claim
 * (fam NULL or "": none), so logout can end exactly that session. */
int auth_jwt_sign_fam(int64_t user_id, int64_t gen, int ttl_s, const char *fam, char *out, size_t cap,
		      auth_claims_t *claims);
/* Verifies a compact token: alg must be HS256 (not none, not another),
 * signature constant-time, exp in the future, iat not in the future beyond
 * 60 s. DM_OK and *claims, or DM_EAUTH. Uses db only to parse the JSON. */
int auth_jwt_verify(sqlite3 *db, const char *token, auth_claims_t *claims);
/* Same with an explicit key and clock (unit tests). now_s = 0: real time. */
int auth_jwt_verify_key(sqlite3 *db, const unsigned char *key, size_t keylen, const char *token,
			int64_t now_s, auth_claims_t *claims);
int auth_jwt_sign_key(const unsigned char *key, size_t keylen, const char *header_json,
		      const char *payload_json, char *out, size_t cap);

/* Verifies an Authorization header value ("bearer <jwt>", scheme any case)
 * or a bare "<jwt>": the JWT, then that the user exists, the token was not
 * revoked (logout) and carries the user's current tokenGen (a password
 * change bumps it: every older token dies).
 * DM_OK and *claims, or DM_EAUTH. db is the caller's reader. */
int auth_bearer(sqlite3 *db, const char *value, auth_claims_t *claims);
/* auth_bearer through a small per-thread cache of verified tokens, for
 * every caller that checks a token per request or per socket event (HTTP
 * routes, sockets). One revocation rule: a verification holds until the
 * next commit (jobs_commit_gen() moves: a logout, a password change or a
 * revoked family is a commit, and its reply goes out after the generation
 * moved) or the token's expiry, whichever comes first. Same contract as
 * auth_bearer. */
int auth_token_check(sqlite3 *db, const char *value, auth_claims_t *claims);
/* That rule for a verification kept elsewhere (a socket's): one made when
 * jobs_commit_gen() was gen (read before the check), of a token that
 * expires at exp_s, still holds. 1 or 0. */
int auth_token_holds(uint64_t gen, int64_t exp_s);

/* ---- passwords: PBKDF2-HMAC-SHA512 in PHC string form ----
 * "$pbkdf2-sha512$i=210000$<salt b64>$<hash b64>" (standard base64, no
 * padding, as PHC strings use). */
#define AUTH_PHC_MAX 200
/* Hashes pw with cfg.pbkdf2_iterations and a random 16-byte salt.
 * DM_OK, DM_ERR, or DM_EUNAVAIL when too many hashes already wait (see
 * "hashing admission" in auth.c: the caller answers 503 + Retry-After). */
int auth_password_hash(const char *pw, char out[AUTH_PHC_MAX]);
/* Checks pw against a PHC string in constant time. DM_OK if it matches
 * (and *rehash set when its parameters differ from the configured ones),
 * DM_EAUTH if not, DM_EINVAL if phc is not ours, DM_EUNAVAIL as above. */
int auth_password_verify(const char *pw, const char *phc, int *rehash);

/* ---- refresh tokens: opaque, stored as SHA-256 hex ---- */
/* 32 random bytes, base64url: token needs 44 bytes; hash needs 65. */
int auth_refresh_new(char token[44], char hash_hex[65]);
void auth_sha256_hex(const char *s, char out[65]);

/* Constant-time comparison of n bytes: 1 if equal. */
int auth_ct_equal(const void *a, const void *b, size_t n);

/* ---- emailed codes ----
 * The hex HMAC-SHA256 of "purpose\nemail(lower-cased)\ncode", keyed with a
 * server secret derived from the token key: a stolen database does not
 * give the codes away (a bare hash of a 6-digit number would). */
void auth_code_hash(const char *purpose, const char *email, const char *code, char out[65]);

/* ---- RS256 (OpenID id_tokens) ----
 * Verifies an RSASSA-PKCS1-v1_5 SHA-256 signature over msg with the RSA
 * public key (n, e as big-endian bytes, from a JWK); keys under 2048 bits
 * are refused. DM_OK or DM_EAUTH. */
int auth_rs256_verify(const unsigned char *n, size_t nlen, const unsigned char *e, size_t elen, const char *msg,
		      size_t msglen, const unsigned char *sig, size_t siglen);

/* ---- rate limiting ----
 * Counts one attempt of scope (e.g. "login-ip") by key (an IP, an email;
 * compared case-insensitively) in fixed windows of window_s seconds.
 * DM_OK while at most limit attempts fell in the current window, else
 * DM_ERATE with *retry_after_s (seconds until the window ends). Memory is
 * a fixed table (set-associative, keyed-hash fingerprints); a counter that
 * has used up its limit is never evicted before its window ends, and a new
 * key that finds no room is refused (DM_ERATE: fail closed). Thread-safe. */
int auth_rate_hit(const char *scope, const char *key, int limit, int window_s, int *retry_after_s);
/* Takes back one attempt counted by auth_rate_hit in the current window
 * (an attempt that turned out to be no guess: a successful login). */
void auth_rate_undo(const char *scope, const char *key);

#endif
