/*
 * auth.c — JWT HS256 and bearer verification (see auth.h).
 *
 * Thread-safety: the key is written once by auth_init before any thread
 * starts and only read afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/md.h>

#include "auth.h"
#include "db.h"
#include "dm.h"

#define KEY_LEN 32
static unsigned char jwt_key[KEY_LEN];
static int have_key;

/* Reads or creates DIR/jwt.key (32 random bytes, mode 0600). */
int auth_init(const char *datadir)
{
	char path[1024];
	int fd, rc = DM_ERR;
	ssize_t n;

	if (dm_snprintf(path, sizeof path, "%s/jwt.key", datadir) != DM_OK)
		return DM_ERR;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, jwt_key, KEY_LEN);
		close(fd);
		if (n != KEY_LEN) {
			dm_error("%s: expected %d bytes; remove it to make a new key (every session ends)", path,
				 KEY_LEN);
			return DM_ERR;
		}
		have_key = 1;
		return DM_OK;
	}
	if (errno != ENOENT) {
		dm_error("cannot read %s: %s", path, strerror(errno));
		return DM_ERR;
	}
	if (dm_random(jwt_key, KEY_LEN) != DM_OK)
		return DM_ERR;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		dm_error("cannot create %s: %s", path, strerror(errno));
		return DM_ERR;
	}
	if (write(fd, jwt_key, KEY_LEN) == KEY_LEN && fsync(fd) == 0)
		rc = DM_OK;
	close(fd);
	if (rc != DM_OK) {
		unlink(path);
		dm_error("cannot write %s", path);
		return rc;
	}
	dm_info("generated a new token key in %s", path);
	have_key = 1;
	return DM_OK;
}

void auth_shutdown(void)
{
	memset(jwt_key, 0, sizeof jwt_key);
	have_key = 0;
}

static int hmac256(const unsigned char *key, size_t keylen, const char *msg, size_t n, unsigned char out[32])
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	return md && mbedtls_md_hmac(md, key, keylen, (const unsigned char *)msg, n, out) == 0 ? DM_OK : DM_ERR;
}

int auth_jwt_sign_key(const unsigned char *key, size_t keylen, const char *header_json, const char *payload_json,
		      char *out, size_t cap)
{
	size_t hl = strlen(header_json), pl = strlen(payload_json);
	size_t need = (hl + 2) / 3 * 4 + (pl + 2) / 3 * 4 + 2 + 43 + 1;
	unsigned char mac[32];
	size_t n;

	if (need > cap)
		return DM_ETOOBIG;
	n = dm_b64url_encode(header_json, hl, out);
	out[n++] = '.';
	n += dm_b64url_encode(payload_json, pl, out + n);
	if (hmac256(key, keylen, out, n, mac) != DM_OK)
		return DM_ERR;
	out[n++] = '.';
	dm_b64url_encode(mac, sizeof mac, out + n);
	return DM_OK;
}

int auth_jwt_sign(int64_t user_id, int64_t gen, int ttl_s, char *out, size_t cap, auth_claims_t *claims)
{
	unsigned char rnd[16];
	char payload[256];
	auth_claims_t c;

	if (!have_key || dm_random(rnd, sizeof rnd) != DM_OK)
		return DM_ERR;
	memset(&c, 0, sizeof c);
	dm_b64url_encode(rnd, sizeof rnd, c.jti);
	c.sub = user_id;
	c.gen = gen;
	c.iat = dm_now_ms() / 1000;
	c.exp = c.iat + ttl_s;
	snprintf(payload, sizeof payload, "{\"sub\":\"%lld\",\"gen\":%lld,\"iat\":%lld,\"exp\":%lld,\"jti\":\"%s\"}",
		 (long long)c.sub, (long long)c.gen, (long long)c.iat, (long long)c.exp, c.jti);
	if (claims)
		*claims = c;
	return auth_jwt_sign_key(jwt_key, KEY_LEN, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, out, cap);
}

/* Constant-time comparison of n bytes. */
static int ct_equal(const unsigned char *a, const unsigned char *b, size_t n)
{
	unsigned char d = 0;
	for (size_t i = 0; i < n; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

int auth_jwt_verify_key(sqlite3 *db, const unsigned char *key, size_t keylen, const char *token, int64_t now_s,
			auth_claims_t *claims)
{
	const char *dot1, *dot2;
	char header[256], payload[1024];
	unsigned char sig[64], mac[32];
	long hl, pl, sl;
	sqlite3_stmt *st = NULL;
	int rc = DM_EAUTH;

	if (!token || strlen(token) > 2048)
		return DM_EAUTH;
	dot1 = strchr(token, '.');
	if (!dot1)
		return DM_EAUTH;
	dot2 = strchr(dot1 + 1, '.');
	if (!dot2 || strchr(dot2 + 1, '.'))
		return DM_EAUTH;
	/* signature first: nothing of an unsigned token is read */
	sl = dm_b64url_decode(dot2 + 1, strlen(dot2 + 1), sig, sizeof sig);
	if (sl != 32)
		return DM_EAUTH;
	if (hmac256(key, keylen, token, (size_t)(dot2 - token), mac) != DM_OK || !ct_equal(mac, sig, 32))
		return DM_EAUTH;
	hl = dm_b64url_decode(token, (size_t)(dot1 - token), header, sizeof header - 1);
	pl = dm_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), payload, sizeof payload - 1);
	if (hl <= 0 || pl <= 0)
		return DM_EAUTH;
	header[hl] = payload[pl] = 0;
	if (!dm_utf8_valid(header, (size_t)hl) || !dm_utf8_valid(payload, (size_t)pl))
		return DM_EAUTH;
	/* alg must be exactly HS256 (never none, never another algorithm) */
	st = db_prep(db,
		     "SELECT json_valid(?1,1) AND json_valid(?2,1) AND json_type(?1)='object' "
		     "AND json_type(?2)='object' AND json_extract(?1,'$.alg') IS 'HS256' "
		     "AND json_type(?1,'$.crit') IS NULL, "
		     "CAST(json_extract(?2,'$.sub') AS INTEGER), json_type(?2,'$.iat'), json_extract(?2,'$.iat'), "
		     "json_type(?2,'$.exp'), json_extract(?2,'$.exp'), json_extract(?2,'$.jti'), "
		     "coalesce(json_extract(?2,'$.gen'), 0)");
	if (!st)
		return DM_ERR;
	sqlite3_bind_text(st, 1, header, (int)hl, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, payload, (int)pl, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int(st, 0) != 1)
		goto done;
	{
		const char *it = (const char *)sqlite3_column_text(st, 2);
		const char *et = (const char *)sqlite3_column_text(st, 4);
		const char *jti = (const char *)sqlite3_column_text(st, 6);
		auth_claims_t c;
		memset(&c, 0, sizeof c);
		if (!it || !et || strcmp(it, "integer") || strcmp(et, "integer"))
			goto done;
		c.sub = sqlite3_column_int64(st, 1);
		c.iat = sqlite3_column_int64(st, 3);
		c.exp = sqlite3_column_int64(st, 5);
		c.gen = sqlite3_column_int64(st, 7);
		if (jti && dm_strlcpy(c.jti, jti, sizeof c.jti) != DM_OK)
			goto done;
		if (now_s == 0)
			now_s = dm_now_ms() / 1000;
		if (c.sub <= 0 || c.exp <= now_s || c.iat > now_s + 60)
			goto done;
		if (claims)
			*claims = c;
		rc = DM_OK;
	}
done:
	sqlite3_finalize(st);
	return rc;
}

int auth_jwt_verify(sqlite3 *db, const char *token, auth_claims_t *claims)
{
	if (!have_key)
		return DM_EAUTH;
	return auth_jwt_verify_key(db, jwt_key, KEY_LEN, token, 0, claims);
}

int auth_bearer(sqlite3 *db, const char *value, auth_claims_t *claims)
{
	auth_claims_t c;
	sqlite3_stmt *st;
	int rc = DM_EAUTH;

	if (!value)
		return DM_EAUTH;
	while (*value == ' ')
		value++;
	if (!strncasecmp(value, "bearer ", 7)) {
		value += 7;
		while (*value == ' ')
			value++;
	}
	if (auth_jwt_verify(db, value, &c) != DM_OK)
		return DM_EAUTH;
	/* the user exists, the token is not revoked (logout), and it carries
	 * the user's current token generation (a revoke-all bumps it) */
	st = db_prep(db,
		     "SELECT 1 FROM user u WHERE u.userId = ?1 AND u.tokenGen = ?2 "
		     "AND NOT EXISTS (SELECT 1 FROM revokedToken WHERE jti = ?3)");
	if (!st)
		return DM_ERR;
	sqlite3_bind_int64(st, 1, c.sub);
	sqlite3_bind_int64(st, 2, c.gen);
	sqlite3_bind_text(st, 3, c.jti, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		rc = DM_OK;
		if (claims)
			*claims = c;
	}
	sqlite3_finalize(st);
	return rc;
}

/* ------------------------------------------------------------ passwords */

#include <mbedtls/pkcs5.h>
#include <mbedtls/sha256.h>

#include "config.h"

static const char b64std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 without padding (PHC). out needs 4*ceil(n/3)+1. */
static void b64_nopad(const unsigned char *s, size_t n, char *out)
{
	size_t o = 0, i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		out[o++] = b64std[v >> 18];
		out[o++] = b64std[(v >> 12) & 63];
		out[o++] = b64std[(v >> 6) & 63];
		out[o++] = b64std[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)s[i] << 16;
		out[o++] = b64std[v >> 18];
		out[o++] = b64std[(v >> 12) & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
		out[o++] = b64std[v >> 18];
		out[o++] = b64std[(v >> 12) & 63];
		out[o++] = b64std[(v >> 6) & 63];
	}
	out[o] = 0;
}

/* Decodes standard base64 without padding; -1 on bad input. */
static long b64_nopad_decode(const char *in, size_t n, unsigned char *out, size_t cap)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		const char *p = strchr(b64std, in[i]);
		if (!p || !in[i])
			return -1;
		acc = acc << 6 | (uint32_t)(p - b64std);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (len >= cap)
				return -1;
			out[len++] = (unsigned char)(acc >> bits);
		}
	}
	return (long)len;
}

static int pbkdf2(const char *pw, const unsigned char *salt, size_t saltlen, unsigned iter, unsigned char *out,
		  size_t outlen)
{
	return mbedtls_pkcs5_pbkdf2_hmac_ext(MBEDTLS_MD_SHA512, (const unsigned char *)pw, strlen(pw), salt,
					     saltlen, iter, (uint32_t)outlen, out) == 0
		       ? DM_OK
		       : DM_ERR;
}

int auth_password_hash(const char *pw, char out[AUTH_PHC_MAX])
{
	unsigned char salt[16], dk[64];
	char s64[32], h64[96];
	if (dm_random(salt, sizeof salt) != DM_OK ||
	    pbkdf2(pw, salt, sizeof salt, (unsigned)cfg.pbkdf2_iterations, dk, sizeof dk) != DM_OK)
		return DM_ERR;
	b64_nopad(salt, sizeof salt, s64);
	b64_nopad(dk, sizeof dk, h64);
	return dm_snprintf(out, AUTH_PHC_MAX, "$pbkdf2-sha512$i=%d$%s$%s", cfg.pbkdf2_iterations, s64, h64) ==
			       DM_OK
		       ? DM_OK
		       : DM_ERR;
}

int auth_password_verify(const char *pw, const char *phc, int *rehash)
{
	static const char prefix[] = "$pbkdf2-sha512$i=";
	unsigned char salt[64], want[64], got[64];
	const char *p, *d1, *d2;
	long iter, sl, hl;
	char *end;

	if (!phc || strncmp(phc, prefix, sizeof prefix - 1))
		return DM_EINVAL;
	p = phc + sizeof prefix - 1;
	iter = strtol(p, &end, 10);
	if (end == p || *end != '$' || iter < 1 || iter > 100000000)
		return DM_EINVAL;
	d1 = end + 1;
	d2 = strchr(d1, '$');
	if (!d2)
		return DM_EINVAL;
	sl = b64_nopad_decode(d1, (size_t)(d2 - d1), salt, sizeof salt);
	hl = b64_nopad_decode(d2 + 1, strlen(d2 + 1), want, sizeof want);
	if (sl < 8 || hl < 16)
		return DM_EINVAL;
	if (pbkdf2(pw, salt, (size_t)sl, (unsigned)iter, got, (size_t)hl) != DM_OK)
		return DM_ERR;
	if (!ct_equal(got, want, (size_t)hl))
		return DM_EAUTH;
	if (rehash)
		*rehash = iter != cfg.pbkdf2_iterations || hl != 64 || sl != 16;
	return DM_OK;
}

void auth_sha256_hex(const char *s, char out[65])
{
	unsigned char h[32];
	mbedtls_sha256((const unsigned char *)s, strlen(s), h, 0);
	dm_hex(h, sizeof h, out);
}

int auth_refresh_new(char token[44], char hash_hex[65])
{
	unsigned char rnd[32];
	if (dm_random(rnd, sizeof rnd) != DM_OK)
		return DM_ERR;
	dm_b64url_encode(rnd, sizeof rnd, token);
	auth_sha256_hex(token, hash_hex);
	return DM_OK;
}
