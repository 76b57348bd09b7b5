/*
 * unit_auth.c — unit tests of accounts' building blocks: password hashing
 * (with the cost of one hash at the default 210,000 iterations measured and
 * printed), the hashing admission gate, the rate limiter (limits, windows,
 * bounded memory, threads), emailed-code hashes, JWT family claims, MIME
 * mail building and RFC 2047 headers, URL parsing, RS256 verification
 * (id_tokens).
 */
#include "../src/core/dm.c"
#include "../src/core/config.c"
#include "../src/core/db.c"
#include "../src/core/mem.c"
#include "../src/core/json.c"
#include "../src/core/jobs.c"
#include "../src/core/auth.c"
#include "../src/core/net.c"
#include "../src/core/mail.c"

#include <mbedtls/base64.h>
#include <mbedtls/rsa.h>
#include <psa/crypto.h>

#include "unit.h"

static sqlite3 *the_mem;
static sqlite3 *mem_db(void)
{
	return the_mem;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void test_passwords(void)
{
	char phc[AUTH_PHC_MAX], phc2[AUTH_PHC_MAX];
	int rehash = -1;
	double t[3];

	cfg.pbkdf2_iterations = 1000;
	CHECK(auth_password_hash("abcd1234", phc) == DM_OK, "hash");
	CHECK(!strncmp(phc, "$pbkdf2-sha512$i=1000$", 22), "PHC form: %s", phc);
	CHECK(auth_password_verify("abcd1234", phc, &rehash) == DM_OK && rehash == 0, "verify, no rehash");
	CHECK(auth_password_verify("abcd1235", phc, &rehash) == DM_EAUTH, "wrong password");
	CHECK(auth_password_verify("abcd1234", "$2b$10$bcrypt", &rehash) == DM_EINVAL, "not ours");
	CHECK(auth_password_hash("abcd1234", phc2) == DM_OK && strcmp(phc, phc2), "salted: two hashes differ");
	cfg.pbkdf2_iterations = 2000;
	CHECK(auth_password_verify("abcd1234", phc, &rehash) == DM_OK && rehash == 1, "rehash when iterations change");

	/* the measurement: one hash at the default (OWASP) 210,000 */
	cfg.pbkdf2_iterations = 210000;
	for (int i = 0; i < 3; i++) {
		double t0 = now_ms();
		int rc = auth_password_hash("correct horse 1", phc);
		t[i] = now_ms() - t0;
		CHECK(rc == DM_OK, "hash at 210000");
	}
	qsort(t, 3, sizeof t[0], cmp_double);
	CHECK(auth_password_verify("correct horse 1", phc, &rehash) == DM_OK && rehash == 0, "verify at 210000");
	printf("measure: one PBKDF2-HMAC-SHA512 password hash at 210000 iterations: %.1f ms (median of 3; %.1f-%.1f)\n",
	       t[1], t[0], t[2]);
	cfg.pbkdf2_iterations = 1000;
}

/* ---- the admission gate ---- */

static int gate_rc[2];
static void *gate_worker(void *arg)
{
	char phc[AUTH_PHC_MAX];
	int *rc = arg;
	*rc = auth_password_hash("abcd1234", phc);
	return NULL;
}

static void test_gate(void)
{
	pthread_t th[2];
	char phc[AUTH_PHC_MAX];
	int slots = hash_slots(), waited = 0;

	/* the gate is bounded by expected waiting time, not by count: with a
	 * measured hash of 1 s, two waiters (2 s ahead of a third on one slot)
	 * are fine under --hash-wait (5 s here) and one more is turned away at once */
	cfg.hash_wait = 5;
	hash_measured = 1;
	hash_avg_ms = 1000;
	/* occupy every slot, as running hashes would */
	for (int i = 0; i < slots; i++)
		CHECK(hash_enter() == DM_OK, "enter slot %d", i);
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, gate_worker, &gate_rc[i]);
	for (int i = 0; i < 2000; i++) {
		dm_mutex_lock(&hash_lock);
		waited = hash_waiting;
		dm_mutex_unlock(&hash_lock);
		if (waited == 2)
			break;
		usleep(1000);
	}
	CHECK(waited == 2, "two requests wait their turn (%d)", waited);
	dm_mutex_lock(&hash_lock);
	hash_waiting += 2 * slots + 1; /* as if more were queued: the expected wait passes 5 s */
	dm_mutex_unlock(&hash_lock);
	CHECK(auth_password_hash("abcd1234", phc) == DM_EUNAVAIL, "one past the waiting-time bound is turned away at once");
	dm_mutex_lock(&hash_lock);
	hash_waiting -= 2 * slots + 1;
	dm_mutex_unlock(&hash_lock);
	for (int i = 0; i < slots; i++)
		hash_leave(1000);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	CHECK(gate_rc[0] == DM_OK && gate_rc[1] == DM_OK, "the waiters ran when slots freed");
	CHECK(hash_running == 0 && hash_waiting == 0, "gate empty again");
	CHECK(hash_avg_ms < 1000, "the average follows the measured hashes (%lld ms)", (long long)hash_avg_ms);
	CHECK(slots >= 1 && slots <= 2, "1-2 slots (%d)", slots);
}

/* ---- rate limiter ---- */

static int rate_ok_total;
static pthread_mutex_t rate_ok_lock = PTHREAD_MUTEX_INITIALIZER;
static void *rate_worker(void *unused)
{
	(void)unused;
	int ok = 0;
	for (int i = 0; i < 5000; i++)
		if (auth_rate_hit("t-threads", "shared", 3000, 60, NULL) == DM_OK)
			ok++;
	pthread_mutex_lock(&rate_ok_lock);
	rate_ok_total += ok;
	pthread_mutex_unlock(&rate_ok_lock);
	return NULL;
}

static void test_rate(void)
{
	int ra = 0, n_ok = 0;
	pthread_t th[4];
	char key[64];

	for (int i = 0; i < 3; i++)
		CHECK(auth_rate_hit("login/ip", "10.0.0.1", 3, 1, &ra) == DM_OK, "attempt %d allowed", i + 1);
	CHECK(auth_rate_hit("login/ip", "10.0.0.1", 3, 1, &ra) == DM_ERATE && ra == 1, "4th limited, retry %d", ra);
	CHECK(auth_rate_hit("login/ip", "10.0.0.2", 3, 1, &ra) == DM_OK, "another key is separate");
	CHECK(auth_rate_hit("login/email", "10.0.0.1", 3, 1, &ra) == DM_OK, "another scope is separate");
	for (int i = 0; i < 3; i++)
		auth_rate_hit("mail/email", "Someone@Example.com", 3, 60, &ra);
	CHECK(auth_rate_hit("mail/email", "someone@example.COM", 3, 60, &ra) == DM_ERATE && ra >= 59 && ra <= 60,
	      "case-insensitive keys, retry %d", ra);
	usleep(1100 * 1000);
	CHECK(auth_rate_hit("login/ip", "10.0.0.1", 3, 1, &ra) == DM_OK, "recovers after the window");

	/* bounded memory: far more keys than entries; the table stays the
	 * same static size and keeps answering */
	for (int i = 0; i < 100000; i++) {
		snprintf(key, sizeof key, "flood-%d", i);
		if (auth_rate_hit("flood", key, 2, 60, NULL) == DM_OK)
			n_ok++;
	}
	CHECK(n_ok == 100000, "each new key gets its first attempt (%d)", n_ok);
	CHECK(sizeof rate_tab == (size_t)RATE_SETS * RATE_WAYS * sizeof(rate_ent_t), "fixed table");
	/* a key hit recently is kept over idle ones that end sooner */
	for (int i = 0; i < 3; i++)
		auth_rate_hit("login/ip", "victim", 3, 300, &ra);
	for (int i = 0; i < 50000; i++) {
		snprintf(key, sizeof key, "short-%d", i);
		auth_rate_hit("x", key, 2, 1, NULL);
	}
	CHECK(auth_rate_hit("login/ip", "victim", 3, 300, &ra) == DM_ERATE, "long window survives short-window churn");

	/* spraying fresh keys (each hit once, with attempts left) pushes out
	 * neither a counter that is used up nor one hit more often than they */
	for (int i = 0; i < 10; i++)
		auth_rate_hit("spray/ip", "attacker", 10, 300, NULL);
	for (int i = 0; i < 4; i++)
		auth_rate_hit("spray/email", "victim@example.com", 10, 300, NULL);
	for (int i = 0; i < 300000; i++) {
		snprintf(key, sizeof key, "spray-%d@example.com", i);
		auth_rate_hit("spray/email", key, 10, 300, NULL);
	}
	CHECK(auth_rate_hit("spray/ip", "attacker", 10, 300, &ra) == DM_ERATE && ra > 290,
	      "a used-up counter survives 300,000 fresh keys (retry %d)", ra);
	n_ok = 0;
	for (int i = 0; i < 6; i++)
		n_ok += auth_rate_hit("spray/email", "victim@example.com", 10, 300, NULL) == DM_OK;
	CHECK(n_ok == 6 && auth_rate_hit("spray/email", "victim@example.com", 10, 300, NULL) == DM_ERATE,
	      "a counter hit 4 times survives keys hit once: 6 more allowed, then refused (%d)", n_ok);

	/* fail closed: when every entry of a set is used up, a new key there
	 * is refused until the first of them ends */
	{
		int refused = 0, ra_max = 0;
		for (int i = 0; i < 200000; i++) {
			snprintf(key, sizeof key, "full-%d", i);
			if (auth_rate_hit("full", key, 1, 1, &ra) == DM_ERATE) {
				refused++;
				ra_max = ra > ra_max ? ra : ra_max;
			}
		}
		CHECK(refused > 0 && ra_max <= 1, "a full table refuses new keys (%d refused, retry <= %d)", refused,
		      ra_max);
		CHECK(auth_rate_hit("spray/ip", "attacker", 10, 300, NULL) == DM_ERATE, "... and keeps used-up counters");
		usleep(1100 * 1000);
		CHECK(auth_rate_hit("full", "full-late", 1, 1, NULL) == DM_OK, "room again once their windows end");
	}

	/* an attempt taken back (a successful login) does not count */
	for (int i = 0; i < 3; i++) {
		CHECK(auth_rate_hit("undo", "k", 2, 60, NULL) == DM_OK, "attempt %d then taken back", i + 1);
		auth_rate_undo("undo", "k");
	}
	auth_rate_hit("undo", "k", 2, 60, NULL);
	auth_rate_hit("undo", "k", 2, 60, NULL);
	CHECK(auth_rate_hit("undo", "k", 2, 60, NULL) == DM_ERATE, "failures still add up");

	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, rate_worker, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	CHECK(rate_ok_total == 3000, "threads: exactly the limit allowed (%d)", rate_ok_total);
}

static void test_codes(void)
{
	char a[65], b[65], c[65], d[65];
	auth_code_hash("signup", "Kim@Example.com", "123456", a);
	auth_code_hash("signup", "kim@example.com", "123456", b);
	auth_code_hash("reset", "kim@example.com", "123456", c);
	auth_code_hash("signup", "kim@example.com", "123457", d);
	CHECK(strlen(a) == 64 && !strcmp(a, b), "same code, email case ignored");
	CHECK(strcmp(a, c) && strcmp(a, d), "purpose and code matter");
	{
		/* keyed: not the bare SHA-256 of the message */
		char plain[65];
		auth_sha256_hex("signup\nkim@example.com\n123456", plain);
		CHECK(strcmp(a, plain), "keyed hash");
	}
	/* six digits, first not zero */
	int okd = 1;
	for (int i = 0; i < 2000; i++) {
		uint32_t v = 100000u + dm_random_below(900000u);
		if (v < 100000 || v > 999999)
			okd = 0;
	}
	CHECK(okd, "codes are 6 digits with a non-zero first digit");
}

static void test_jwt_fam(void)
{
	char tok[700];
	auth_claims_t c;
	CHECK(auth_jwt_sign_fam(7, 2, 60, "fam_ILY-1", tok, sizeof tok, NULL) == DM_OK, "sign with fam");
	CHECK(auth_jwt_verify(mem_db(), tok, &c) == DM_OK && !strcmp(c.fam, "fam_ILY-1") && c.sub == 7 && c.gen == 2,
	      "fam survives: %s", c.fam);
	CHECK(auth_jwt_sign(7, 2, 60, tok, sizeof tok, NULL) == DM_OK && auth_jwt_verify(mem_db(), tok, &c) == DM_OK &&
		      c.fam[0] == 0,
	      "no fam");
	CHECK(auth_jwt_sign_fam(7, 2, 60, "bad\"fam", tok, sizeof tok, NULL) == DM_EINVAL, "unsafe fam refused");
}

/* decodes every "=?UTF-8?B?...?=" word of h and concatenates */
static int decode_words(const char *h, char *out, size_t cap, int *maxword)
{
	size_t o = 0;
	*maxword = 0;
	while ((h = strstr(h, "=?UTF-8?B?"))) {
		const char *e = strstr(h + 10, "?=");
		size_t olen = 0;
		if (!e)
			return -1;
		if ((int)(e + 2 - h) > *maxword)
			*maxword = (int)(e + 2 - h);
		if (mbedtls_base64_decode((unsigned char *)out + o, cap - o, &olen, (const unsigned char *)h + 10,
					  (size_t)(e - h - 10)) != 0)
			return -1;
		if (!dm_utf8_valid(out + o, olen))
			return -2; /* a word split a character */
		o += olen;
		h = e + 2;
	}
	out[o] = 0;
	return 0;
}

static void test_mime(void)
{
	char enc[4096], dec[4096];
	int maxw = 0;
	const char *subj = "[동물마켓] 회원가입 인증번호 안내 — 아주 긴 제목이 여러 개의 인코딩된 단어로 나뉘는지 확인합니다";
	CHECK(mail_encode_header("plain ascii", enc, sizeof enc) == DM_OK && !strcmp(enc, "plain ascii"), "ascii as is");
	CHECK(mail_encode_header(subj, enc, sizeof enc) == DM_OK, "encode");
	CHECK(decode_words(enc, dec, sizeof dec, &maxw) == 0 && !strcmp(dec, subj), "round trip: %s", dec);
	CHECK(maxw <= 75, "words at most 75 characters (%d)", maxw);
	CHECK(strstr(enc, "\r\n ") != NULL, "long header folded");
	CHECK(mail_encode_header("=?UTF-8?B?x?=", enc, sizeof enc) == DM_OK && strcmp(enc, "=?UTF-8?B?x?="),
	      "text that looks encoded is encoded");

	char *m = mail_build("동물마켓 <no-reply@dongmul.test>", "a@b.c", subj, "코드 123456\n끝", "<p>123456</p>");
	CHECK(m != NULL, "build");
	if (m) {
		int bare_lf = 0, long_line = 0;
		size_t linelen = 0;
		for (const char *p = m; *p; p++) {
			if (*p == '\n') {
				if (p == m || p[-1] != '\r')
					bare_lf = 1;
				if (linelen > 78)
					long_line = 1;
				linelen = 0;
			} else
				linelen++;
		}
		CHECK(!bare_lf, "CR LF line ends only");
		CHECK(!long_line, "no line over 78 characters");
		CHECK(strstr(m, "Content-Type: multipart/alternative; boundary=") != NULL, "multipart/alternative");
		CHECK(strstr(m, "Content-Type: text/plain; charset=UTF-8") && strstr(m, "Content-Type: text/html; charset=UTF-8"),
		      "text and html parts");
		CHECK(strstr(m, "From: =?UTF-8?B?") && strstr(m, "<no-reply@dongmul.test>"), "encoded display name");
		CHECK(strstr(m, "MIME-Version: 1.0\r\n") && strstr(m, "Date: ") && strstr(m, "Message-ID: <"), "headers");
		free(m);
	}
	CHECK(!addr_ok("a@b.c>\r\nBcc: x@y.z") && !addr_ok("nobody") && addr_ok("a.b+c@d.e"), "header-safe addresses");
}

static void test_url(void)
{
	char host[256], path[2048];
	int tls, port;
	CHECK(net_parse_url("https://127.0.0.1:8443/token?a=1", &tls, host, &port, path) == DM_OK && tls &&
		      !strcmp(host, "127.0.0.1") && port == 8443 && !strcmp(path, "/token?a=1"),
	      "https url");
	CHECK(net_parse_url("https://accounts.google.com", &tls, host, &port, path) == DM_OK && port == 443 &&
		      !strcmp(path, "/"),
	      "default port and path");
	CHECK(net_parse_url("http://[::1]:25/", &tls, host, &port, path) == DM_OK && !tls && !strcmp(host, "::1") &&
		      port == 25,
	      "IPv6 literal");
	CHECK(net_parse_url("https://user:pw@evil.test/", &tls, host, &port, path) == DM_EINVAL, "no userinfo");
	CHECK(net_parse_url("ftp://x/", &tls, host, &port, path) == DM_EINVAL, "scheme");
	CHECK(net_parse_url("https://x:99999/", &tls, host, &port, path) == DM_EINVAL, "port range");
	CHECK(net_parse_url("https://x/a b", &tls, host, &port, path) == DM_EINVAL, "no spaces");
}

static int test_rng(void *p, unsigned char *out, size_t n)
{
	(void)p;
	return dm_random(out, n) == DM_OK ? 0 : -1;
}

static void test_rs256(void)
{
	mbedtls_rsa_context rsa;
	unsigned char n[512], e[8], hash[32], sig[512];
	const char *msg = "header.payload";
	size_t nlen, elen = 3;

	mbedtls_rsa_init(&rsa);
	CHECK(mbedtls_rsa_gen_key(&rsa, test_rng, NULL, 2048, 65537) == 0, "gen 2048");
	nlen = mbedtls_rsa_get_len(&rsa);
	mbedtls_rsa_export_raw(&rsa, n, nlen, NULL, 0, NULL, 0, NULL, 0, e, elen);
	mbedtls_sha256((const unsigned char *)msg, strlen(msg), hash, 0);
	CHECK(mbedtls_rsa_pkcs1_sign(&rsa, test_rng, NULL, MBEDTLS_MD_SHA256, 32, hash, sig) == 0, "sign");
	CHECK(auth_rs256_verify(n, nlen, e, elen, msg, strlen(msg), sig, nlen) == DM_OK, "verify");
	CHECK(auth_rs256_verify(n, nlen, e, elen, "header.payloaD", 14, sig, nlen) == DM_EAUTH, "other message");
	sig[10] ^= 1;
	CHECK(auth_rs256_verify(n, nlen, e, elen, msg, strlen(msg), sig, nlen) == DM_EAUTH, "flipped bit");
	CHECK(auth_rs256_verify(n, nlen, e, elen, msg, strlen(msg), sig, nlen - 1) == DM_EAUTH, "short signature");
	mbedtls_rsa_free(&rsa);

	mbedtls_rsa_init(&rsa);
	CHECK(mbedtls_rsa_gen_key(&rsa, test_rng, NULL, 1024, 65537) == 0, "gen 1024");
	nlen = mbedtls_rsa_get_len(&rsa);
	mbedtls_rsa_export_raw(&rsa, n, nlen, NULL, 0, NULL, 0, NULL, 0, e, elen);
	mbedtls_rsa_pkcs1_sign(&rsa, test_rng, NULL, MBEDTLS_MD_SHA256, 32, hash, sig);
	CHECK(auth_rs256_verify(n, nlen, e, elen, msg, strlen(msg), sig, nlen) == DM_EAUTH, "1024-bit keys refused");
	mbedtls_rsa_free(&rsa);
}


int main(void)
{
	char dir[] = "/tmp/unit_auth_XXXXXX";
	setvbuf(stdout, NULL, _IOLBF, 0);
	dm_log_level = DM_LOG_WARN;
	cfg_defaults();
	if (psa_crypto_init() != PSA_SUCCESS || !mkdtemp(dir) || auth_init(dir) != DM_OK) {
		printf("unit_auth: set-up failed\n");
		return 1;
	}
	sqlite3_open(":memory:", &the_mem);
	test_passwords();
	test_gate();
	test_rate();
	test_codes();
	test_jwt_fam();
	test_mime();
	test_url();
	test_rs256();
	db_close_conn(the_mem); /* with its cached statements (db_stmt) */
	auth_shutdown();
	net_shutdown();
	{
		char key[600];
		snprintf(key, sizeof key, "%s/jwt.key", dir);
		unlink(key);
		rmdir(dir);
	}
	mbedtls_psa_crypto_free();
	UNIT_DONE("unit_auth");
}
