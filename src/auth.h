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
} auth_claims_t;

/* Signs {"alg":"HS256","typ":"JWT"}.{sub,gen,iat,exp,jti} with the server key.
 * out gets the compact token (no '='); returns DM_OK or DM_ETOOBIG. */
int auth_jwt_sign(int64_t user_id, int64_t gen, int ttl_s, char *out, size_t cap, auth_claims_t *claims);
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

#endif

/* ---- passwords: PBKDF2-HMAC-SHA512 in PHC string form ----
 * "$pbkdf2-sha512$i=210000$<salt b64>$<hash b64>" (standard base64, no
 * padding, as PHC strings use). */
#define AUTH_PHC_MAX 200
/* Hashes pw with cfg.pbkdf2_iterations and a random 16-byte salt.
 * DM_OK or DM_ERR. */
int auth_password_hash(const char *pw, char out[AUTH_PHC_MAX]);
/* Checks pw against a PHC string in constant time. DM_OK if it matches
 * (and *rehash set when its parameters differ from the configured ones),
 * DM_EAUTH if not, DM_EINVAL if phc is not ours. */
int auth_password_verify(const char *pw, const char *phc, int *rehash);

/* ---- refresh tokens: opaque, stored as SHA-256 hex ---- */
/* 32 random bytes, base64url: token needs 44 bytes; hash needs 65. */
int auth_refresh_new(char token[44], char hash_hex[65]);
void auth_sha256_hex(const char *s, char out[65]);
