/*
 * auth.c — JWT HS256 and bearer verification, password hashing behind an
 * admission gate, emailed-code hashes, RS256 checks and the rate limiter
 * (see auth.h).
 *
 * Thread-safety: the keys are written once by auth_init before any thread
 * starts and only read afterwards; the hashing gate and the rate limiter's
 * table each have their own lock (see there). The verified-token cache is per
 * thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/md.h>

#include "auth.h"
#include "db.h"
#include "dm.h"
#include "jobs.h"

#define KEY_LEN 32
static unsigned char jwt_key[KEY_LEN];
static int have_key;

static int hmac256(const unsigned char *key, size_t keylen, const char *msg, size_t n, unsigned char out[32]);
static unsigned char code_key[32];   /* HMAC key of emailed codes, derived from jwt_key */
static unsigned char rate_seed[32];  /* keys the rate limiter's fingerprints (random per run) */

/* Reads or creates DIR/jwt.key (32 random bytes, mode 0600). */
static int load_key(const char *datadir)
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

int auth_init(const char *datadir)
{
	static const char label[] = "dongmul email code key v1";
	if (load_key(datadir) != DM_OK)
		return DM_ERR;
	if (hmac256(jwt_key, KEY_LEN, label, sizeof label - 1, code_key) != DM_OK ||
	    dm_random(rate_seed, sizeof rate_seed) != DM_OK)
		return DM_ERR;
	return DM_OK;
}

void auth_shutdown(void)
{
	memset(code_key, 0, sizeof code_key);
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
	return auth_jwt_sign_fam(user_id, gen, ttl_s, NULL, out, cap, claims);
}

int auth_jwt_sign_fam(int64_t user_id, int64_t gen, int ttl_s, const char *fam, char *out, size_t cap,
		      auth_claims_t *claims)
{
	unsigned char rnd[16];
	char payload[320], famclaim[80] = "";
	auth_claims_t c;

	if (!have_key || dm_random(rnd, sizeof rnd) != DM_OK)
		return DM_ERR;
	memset(&c, 0, sizeof c);
	dm_b64url_encode(rnd, sizeof rnd, c.jti);
	c.sub = user_id;
	c.gen = gen;
	c.iat = dm_now_ms() / 1000;
	c.exp = c.iat + ttl_s;
	if (fam && *fam) {
		/* families are base64url (no quoting needed); refuse anything else */
		if (strspn(fam, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != strlen(fam) ||
		    dm_strlcpy(c.fam, fam, sizeof c.fam) != DM_OK)
			return DM_EINVAL;
		snprintf(famclaim, sizeof famclaim, ",\"fam\":\"%s\"", fam);
	}
	snprintf(payload, sizeof payload,
		 "{\"sub\":\"%lld\",\"gen\":%lld,\"iat\":%lld,\"exp\":%lld,\"jti\":\"%s\"%s}", (long long)c.sub,
		 (long long)c.gen, (long long)c.iat, (long long)c.exp, c.jti, famclaim);
	if (claims)
		*claims = c;
	return auth_jwt_sign_key(jwt_key, KEY_LEN, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, out, cap);
}

int auth_ct_equal(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char d = 0;
	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}
#define ct_equal auth_ct_equal

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
	st = db_stmt(db,
		     "SELECT json_valid(?1,1) AND json_valid(?2,1) AND json_type(?1)='object' "
		     "AND json_type(?2)='object' AND json_extract(?1,'$.alg') IS 'HS256' "
		     "AND json_type(?1,'$.crit') IS NULL, "
		     "CAST(json_extract(?2,'$.sub') AS INTEGER), json_type(?2,'$.iat'), json_extract(?2,'$.iat'), "
		     "json_type(?2,'$.exp'), json_extract(?2,'$.exp'), json_extract(?2,'$.jti'), "
		     "coalesce(json_extract(?2,'$.gen'), 0), json_extract(?2,'$.fam')");
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
		const char *fam = (const char *)sqlite3_column_text(st, 8);
		if (jti && dm_strlcpy(c.jti, jti, sizeof c.jti) != DM_OK)
			goto done;
		if (fam && sqlite3_column_type(st, 8) == SQLITE_TEXT && dm_strlcpy(c.fam, fam, sizeof c.fam) != DM_OK)
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
	db_done(st);
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
	/* ... and, when it names its login's refresh family, that family was
	 * not revoked (logout, or a stolen refresh token caught on reuse) */
	st = db_stmt(db,
		     "SELECT 1 FROM user u WHERE u.userId = ?1 AND u.tokenGen = ?2 "
		     "AND NOT EXISTS (SELECT 1 FROM revokedToken WHERE jti = ?3) "
		     "AND (?4 = '' OR NOT EXISTS (SELECT 1 FROM refreshToken WHERE familyId = ?4 "
		     "AND revokedYn = 'Y'))");
	if (!st)
		return DM_ERR;
	sqlite3_bind_int64(st, 1, c.sub);
	sqlite3_bind_int64(st, 2, c.gen);
	sqlite3_bind_text(st, 3, c.jti, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, c.fam, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		rc = DM_OK;
		if (claims)
			*claims = c;
	}
	db_done(st);
	return rc;
}

/* ------------------------------------------------- verified tokens */

/* A thread's last few verified tokens. A hit skips the HMAC, the JSON
 * parse of the claims and the revocation query (a quarter of a region
 * feed request). Per thread: malloc'd on the thread's first token (threads
 * that never check one cost nothing) and freed when the thread ends (a
 * pthread key's destructor: HTTP and socket workers alike, no hook).
 * Tokens longer than TOKEN_CACHE_LEN are never cached. */
#define TOKEN_SLOTS 8
#define TOKEN_CACHE_LEN 480
typedef struct {
	uint64_t gen;
	size_t len;
	auth_claims_t c;
	char tok[TOKEN_CACHE_LEN];
} token_ent_t;
typedef struct {
	unsigned next;
	token_ent_t e[TOKEN_SLOTS];
} token_cache_t;
static __thread token_cache_t *tokens;
static pthread_key_t tokens_key;
static pthread_once_t tokens_once = PTHREAD_ONCE_INIT;

static void tokens_key_make(void)
{
	if (pthread_key_create(&tokens_key, free) != 0)
		dm_error("auth: no thread key; token caches of ending threads leak");
}

/* This thread's cache, made on first use; NULL on out-of-memory. */
static token_cache_t *token_cache(void)
{
	if (tokens)
		return tokens;
	pthread_once(&tokens_once, tokens_key_make);
	if (!(tokens = calloc(1, sizeof *tokens)))
		return NULL;
	pthread_setspecific(tokens_key, tokens);
	return tokens;
}

int auth_token_holds(uint64_t gen, int64_t exp_s)
{
	return gen == jobs_commit_gen() && dm_now_ms() / 1000 < exp_s;
}

int auth_token_check(sqlite3 *db, const char *value, auth_claims_t *claims)
{
	uint64_t gen = jobs_commit_gen(); /* before the check: see auth.h */
	size_t len = value ? strlen(value) : 0;
	token_cache_t *cache = tokens;
	auth_claims_t c;
	token_ent_t *e;

	if (!value)
		return DM_EAUTH;
	for (int i = 0; cache && i < TOKEN_SLOTS; i++) {
		e = &cache->e[i];
		if (e->len == len && !memcmp(e->tok, value, len) && auth_token_holds(e->gen, e->c.exp)) {
			if (claims)
				*claims = e->c;
			return DM_OK;
		}
	}
	if (auth_bearer(db, value, &c) != DM_OK)
		return DM_EAUTH;
	if (len > 0 && len < TOKEN_CACHE_LEN && (cache = token_cache())) {
		e = &cache->e[cache->next++ % TOKEN_SLOTS];
		e->gen = gen;
		e->len = len;
		e->c = c;
		memcpy(e->tok, value, len);
	}
	if (claims)
		*claims = c;
	return DM_OK;
}

/* ------------------------------------------------------------ passwords */

#include <time.h>

#include <mbedtls/pkcs5.h>
#include <mbedtls/sha256.h>

#include "config.h"

static int pbkdf2(const char *pw, const unsigned char *salt, size_t saltlen, unsigned iter, unsigned char *out,
		  size_t outlen)
{
	return mbedtls_pkcs5_pbkdf2_hmac_ext(MBEDTLS_MD_SHA512, (const unsigned char *)pw, strlen(pw), salt,
					     saltlen, iter, (uint32_t)outlen, out) == 0
		       ? DM_OK
		       : DM_ERR;
}

/*
 * Hashing admission. One PBKDF2 at 210,000 iterations costs a core for a
 * noticeable time (see the measurement in test/unit_auth.c); a burst of
 * logins run on as many civetweb workers would take every core and every
 * worker, and chat, feeds and the write lane would starve. So hashes are
 * admitted through a counting semaphore: 1 at a time on a machine with 1–2
 * cores (one core always stays free for everything else), 2 with more.
 * Requests wait their turn, bounded by time, not by count: a request is
 * admitted to the queue when its expected wait (hashes ahead of it divided
 * by the slots, times the measured average hash time) is at most
 * --hash-wait, and it waits at most that long; past that the caller
 * gets DM_EUNAVAIL and answers 503 with Retry-After. So twenty neighbours
 * signing up at once all get in (a hash is ~0.1–0.3 s here), while a flood
 * is refused at once instead of piling up. Waiting on a semaphore (rather
 * than handing the work to other threads) keeps the code simple: the
 * worker would have to wait for the result anyway.
 * Thread-safety: hash_lock guards the counters and the average.
 */
static dm_mutex_t hash_lock = DM_MUTEX_INIT;
static pthread_cond_t hash_cond = PTHREAD_COND_INITIALIZER;
static int hash_running, hash_waiting;
static int64_t hash_avg_ms = 200; /* moving average of one hash (a guess until the first), under hash_lock */
static int hash_measured;

static int hash_slots(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 2 ? 2 : 1;
}

/* 1 when a new hash would wait longer than cfg.hash_wait: the hashes
 * ahead of it (those waiting, and those running past the slots) divided
 * by the slots, times the average. Caller holds hash_lock. */
static int hash_wait_too_long_locked(int slots)
{
	int64_t ahead;
	dm_assert(dm_mutex_held(&hash_lock));
	dm_assert(hash_running >= 0 && hash_running <= slots && hash_waiting >= 0);
	if (hash_running < slots)
		return 0;
	ahead = hash_waiting + hash_running - slots + 1; /* hashes that end before ours starts */
	return (ahead + slots - 1) / slots * hash_avg_ms > (int64_t)cfg.hash_wait * 1000;
}

/* Waits for a hashing slot. DM_OK (then call hash_leave) or DM_EUNAVAIL
 * when the expected or the actual wait passes cfg.hash_wait seconds. */
static int hash_enter(void)
{
	int slots = hash_slots();
	struct timespec until;
	int rc = DM_OK;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += cfg.hash_wait;
	dm_mutex_lock(&hash_lock);
	if (hash_wait_too_long_locked(slots)) {
		dm_mutex_unlock(&hash_lock);
		return DM_EUNAVAIL;
	}
	hash_waiting++;
	while (hash_running >= slots && rc == DM_OK)
		if (dm_cond_wait(&hash_cond, &hash_lock, &until) == ETIMEDOUT && hash_running >= slots)
			rc = DM_EUNAVAIL;
	dm_assert(hash_waiting > 0);
	hash_waiting--;
	if (rc == DM_OK)
		hash_running++;
	dm_assert(hash_running <= slots);
	dm_mutex_unlock(&hash_lock);
	return rc;
}

/* Gives the slot back; took_ms (how long the hash ran) feeds the average. */
static void hash_leave(int64_t took_ms)
{
	dm_mutex_lock(&hash_lock);
	dm_assert(hash_running > 0);
	hash_avg_ms = hash_measured++ ? (hash_avg_ms * 7 + took_ms) / 8 : took_ms;
	if (hash_avg_ms < 1)
		hash_avg_ms = 1;
	hash_running--;
	pthread_cond_signal(&hash_cond);
	dm_mutex_unlock(&hash_lock);
}

/* pbkdf2() through the admission gate. */
static int pbkdf2_gated(const char *pw, const unsigned char *salt, size_t saltlen, unsigned iter, unsigned char *out,
			size_t outlen)
{
	int64_t t0;
	int rc = hash_enter();
	if (rc != DM_OK)
		return rc;
	t0 = dm_mono_ms();
	rc = pbkdf2(pw, salt, saltlen, iter, out, outlen);
	hash_leave(dm_mono_ms() - t0);
	return rc;
}

int auth_password_hash(const char *pw, char out[AUTH_PHC_MAX])
{
	unsigned char salt[16], dk[64];
	char s64[32], h64[96];
	int rc;
	if (dm_random(salt, sizeof salt) != DM_OK)
		return DM_ERR;
	rc = pbkdf2_gated(pw, salt, sizeof salt, (unsigned)cfg.pbkdf2_iterations, dk, sizeof dk);
	if (rc != DM_OK)
		return rc;
	dm_b64_encode(DM_B64STD, salt, sizeof salt, s64);
	dm_b64_encode(DM_B64STD, dk, sizeof dk, h64);
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
	sl = dm_b64_decode(DM_B64STD, d1, (size_t)(d2 - d1), salt, sizeof salt);
	hl = dm_b64_decode(DM_B64STD, d2 + 1, strlen(d2 + 1), want, sizeof want);
	if (sl < 8 || hl < 16)
		return DM_EINVAL;
	{
		int rc = pbkdf2_gated(pw, salt, (size_t)sl, (unsigned)iter, got, (size_t)hl);
		if (rc != DM_OK)
			return rc;
	}
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

/* ---------------------------------------------------------- email codes */

void auth_code_hash(const char *purpose, const char *email, const char *code, char out[65])
{
	char msg[400];
	unsigned char mac[32];
	size_t n = 0;
	n = (size_t)snprintf(msg, sizeof msg, "%s\n%s\n%s", purpose, email, code);
	if (n >= sizeof msg)
		n = sizeof msg - 1;
	/* emails are compared case-insensitively (COLLATE NOCASE): hash the
	 * ASCII-lower-cased form */
	for (size_t i = 0; i < n; i++)
		if (msg[i] >= 'A' && msg[i] <= 'Z')
			msg[i] = (char)(msg[i] - 'A' + 'a');
	if (hmac256(code_key, sizeof code_key, msg, n, mac) != DM_OK)
		memset(mac, 0, sizeof mac); /* cannot happen with SHA-256 compiled in */
	dm_hex(mac, sizeof mac, out);
}

/* ----------------------------------------------------------------- RS256 */

#include <mbedtls/rsa.h>

int auth_rs256_verify(const unsigned char *n, size_t nlen, const unsigned char *e, size_t elen, const char *msg,
		      size_t msglen, const unsigned char *sig, size_t siglen)
{
	mbedtls_rsa_context rsa;
	unsigned char hash[32];
	int rc = DM_EAUTH;

	mbedtls_rsa_init(&rsa);
	if (mbedtls_rsa_import_raw(&rsa, n, nlen, NULL, 0, NULL, 0, NULL, 0, e, elen) != 0 ||
	    mbedtls_rsa_complete(&rsa) != 0 || mbedtls_rsa_check_pubkey(&rsa) != 0)
		goto done;
	if (mbedtls_rsa_get_bitlen(&rsa) < 2048 || mbedtls_rsa_get_len(&rsa) != siglen)
		goto done;
	if (mbedtls_sha256((const unsigned char *)msg, msglen, hash, 0) != 0)
		goto done;
	if (mbedtls_rsa_pkcs1_verify(&rsa, MBEDTLS_MD_SHA256, sizeof hash, hash, sig) == 0)
		rc = DM_OK;
done:
	mbedtls_rsa_free(&rsa);
	return rc;
}

/* ------------------------------------------------------------ rate limit */

/*
 * A fixed table: RATE_SETS sets of RATE_WAYS entries (32,768 entries, about
 * 768 KiB). A key's 64-bit fingerprint is a keyed hash (SHA-256 over a
 * random per-run seed), so nobody can aim many keys at one set. A new key
 * takes, in this order: an empty entry, one whose window has ended, or the
 * least-hit entry that still has attempts left (ties: the window that
 * ends first). An entry that has used up its limit is never evicted before
 * its window ends: when all of a set's entries are used up, the new key is
 * refused (fail closed) until the first of them ends. So spraying fresh
 * keys can only push out counters that were hit less than the spray's
 * own, never one that is refusing. Thread-safety: rate_lock guards the
 * table.
 */
#define RATE_SETS 4096
#define RATE_WAYS 8

typedef struct rate_ent {
	uint64_t fp;      /* 0: empty */
	int64_t ends;     /* ms: end of the current window */
	uint32_t count;   /* attempts in the window */
	uint32_t limit;   /* the limit of the last hit: count >= limit is used up */
} rate_ent_t;

static rate_ent_t rate_tab[RATE_SETS][RATE_WAYS];
static dm_mutex_t rate_lock = DM_MUTEX_INIT;

static uint64_t rate_fp(const char *scope, const char *key)
{
	mbedtls_sha256_context h;
	unsigned char d[32];
	uint64_t fp = 0;
	mbedtls_sha256_init(&h);
	mbedtls_sha256_starts(&h, 0);
	mbedtls_sha256_update(&h, rate_seed, sizeof rate_seed);
	mbedtls_sha256_update(&h, (const unsigned char *)scope, strlen(scope) + 1);
	for (const char *p = key; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		mbedtls_sha256_update(&h, &c, 1);
	}
	mbedtls_sha256_finish(&h, d);
	mbedtls_sha256_free(&h);
	memcpy(&fp, d, sizeof fp);
	return fp ? fp : 1;
}

/* The entry of fp in its set, or NULL. Caller holds rate_lock. */
static rate_ent_t *rate_find_locked(uint64_t fp)
{
	rate_ent_t *set = rate_tab[fp % RATE_SETS];
	dm_assert(dm_mutex_held(&rate_lock));
	for (int i = 0; i < RATE_WAYS; i++)
		if (set[i].fp == fp)
			return &set[i];
	return NULL;
}

/* The entry a new key fp may take (see the table's comment), or NULL when
 * every entry of the set is used up and live; then *first_end is when the
 * first of them ends. Caller holds rate_lock. */
static rate_ent_t *rate_victim_locked(uint64_t fp, int64_t now, int64_t *first_end)
{
	rate_ent_t *set = rate_tab[fp % RATE_SETS], *best = NULL;
	dm_assert(dm_mutex_held(&rate_lock));
	*first_end = INT64_MAX;
	for (int i = 0; i < RATE_WAYS; i++) {
		rate_ent_t *e = &set[i];
		if (!e->fp || e->ends <= now)
			return e;
		if (e->count >= e->limit) {
			if (e->ends < *first_end)
				*first_end = e->ends;
			continue;
		}
		if (!best || e->count < best->count || (e->count == best->count && e->ends < best->ends))
			best = e;
	}
	return best;
}

int auth_rate_hit(const char *scope, const char *key, int limit, int window_s, int *retry_after_s)
{
	uint64_t fp = rate_fp(scope, key ? key : "");
	rate_ent_t *e;
	int64_t now = dm_mono_ms(), first_end;
	int rc = DM_OK;

	dm_mutex_lock(&rate_lock);
	e = rate_find_locked(fp);
	if (!e) {
		e = rate_victim_locked(fp, now, &first_end);
		if (!e) {
			dm_mutex_unlock(&rate_lock);
			if (retry_after_s)
				*retry_after_s = (int)((first_end - now + 999) / 1000);
			return DM_ERATE;
		}
		e->fp = fp;
		e->ends = 0;
	}
	if (e->ends <= now) {
		e->ends = now + (int64_t)window_s * 1000;
		e->count = 0;
	}
	e->limit = limit > 0 ? (uint32_t)limit : 0;
	if (e->count < UINT32_MAX)
		e->count++;
	if (e->count > (uint32_t)limit) {
		rc = DM_ERATE;
		if (retry_after_s)
			*retry_after_s = (int)((e->ends - now + 999) / 1000);
	}
	dm_mutex_unlock(&rate_lock);
	return rc;
}

void auth_rate_undo(const char *scope, const char *key)
{
	uint64_t fp = rate_fp(scope, key ? key : "");
	rate_ent_t *e;

	dm_mutex_lock(&rate_lock);
	e = rate_find_locked(fp);
	if (e && e->ends > dm_mono_ms() && e->count > 0)
		e->count--;
	dm_mutex_unlock(&rate_lock);
}
