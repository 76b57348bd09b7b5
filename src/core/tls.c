/*
 * tls.c — server key and certificate, and their hot swap (see tls.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "config.h"
#include "dm.h"
#include "tls.h"

static int server_pem(char *path, size_t cap);

/* mbedtls's f_rng over getrandom (no DRBG state to seed or share). */
static int pk_rng(void *unused, unsigned char *out, size_t n)
{
	(void)unused;
	return dm_random(out, n) == DM_OK ? 0 : -1;
}

int tls_make_self_signed(char *key_pem, size_t keycap, char *crt_pem, size_t crtcap)
{
	mbedtls_pk_context key;
	mbedtls_x509write_cert crt;
	unsigned char serial[16];
	char nb[16], na[16];
	time_t now = time(NULL);
	struct tm tm;
	int rc = DM_ERR;
	/* SAN: DNS localhost, IP 127.0.0.1, IP ::1 */
	static unsigned char ip4[4] = {127, 0, 0, 1};
	static unsigned char ip6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	mbedtls_x509_san_list san[3];

	mbedtls_pk_init(&key);
	mbedtls_x509write_crt_init(&crt);
	if (mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
	    mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key), pk_rng, NULL) != 0)
		goto done;
	if (dm_random(serial, sizeof serial) != DM_OK)
		goto done;
	serial[0] &= 0x7f; /* positive */
	serial[0] |= 0x01;
	gmtime_r(&now, &tm);
	strftime(nb, sizeof nb, "%Y%m%d%H%M%S", &tm);
	tm.tm_year += 10;
	strftime(na, sizeof na, "%Y%m%d%H%M%S", &tm);

	memset(san, 0, sizeof san);
	san[0].node.type = MBEDTLS_X509_SAN_DNS_NAME;
	san[0].node.san.unstructured_name.p = (unsigned char *)"localhost";
	san[0].node.san.unstructured_name.len = 9;
	san[0].next = &san[1];
	san[1].node.type = MBEDTLS_X509_SAN_IP_ADDRESS;
	san[1].node.san.unstructured_name.p = ip4;
	san[1].node.san.unstructured_name.len = 4;
	san[1].next = &san[2];
	san[2].node.type = MBEDTLS_X509_SAN_IP_ADDRESS;
	san[2].node.san.unstructured_name.p = ip6;
	san[2].node.san.unstructured_name.len = 16;

	mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&crt, &key);
	mbedtls_x509write_crt_set_issuer_key(&crt, &key);
	if (mbedtls_x509write_crt_set_subject_name(&crt, "CN=localhost,O=dongmul") != 0 ||
	    mbedtls_x509write_crt_set_issuer_name(&crt, "CN=localhost,O=dongmul") != 0 ||
	    mbedtls_x509write_crt_set_serial_raw(&crt, serial, sizeof serial) != 0 ||
	    mbedtls_x509write_crt_set_validity(&crt, nb, na) != 0 ||
	    mbedtls_x509write_crt_set_basic_constraints(&crt, 0, -1) != 0 ||
	    mbedtls_x509write_crt_set_subject_alternative_name(&crt, san) != 0)
		goto done;
	if (mbedtls_pk_write_key_pem(&key, (unsigned char *)key_pem, keycap) != 0 ||
	    mbedtls_x509write_crt_pem(&crt, (unsigned char *)crt_pem, crtcap, pk_rng, NULL) != 0)
		goto done;
	rc = DM_OK;
done:
	mbedtls_x509write_crt_free(&crt);
	mbedtls_pk_free(&key);
	return rc;
}

int tls_write_private(const char *path, const char *a, const char *b)
{
	char tmp[1100];
	int fd, ok = 0;
	if (dm_snprintf(tmp, sizeof tmp, "%s.tmp", path) != DM_OK)
		return DM_ERR;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		dm_error("cannot write %s: %s", tmp, strerror(errno));
		return DM_ERR;
	}
	ok = write(fd, a, strlen(a)) == (ssize_t)strlen(a) && (!b || write(fd, b, strlen(b)) == (ssize_t)strlen(b)) &&
	     fsync(fd) == 0;
	close(fd);
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		dm_error("cannot write %s", path);
		return DM_ERR;
	}
	return DM_OK;
}

char *tls_slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;
	if (!f) {
		dm_error("cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n < (1 << 20) && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 2);
		if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) {
			if (n && buf[n - 1] != '\n')
				buf[n++] = '\n';
			buf[n] = 0;
		} else {
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	if (!buf)
		dm_error("cannot read %s", path);
	return buf;
}

static char served[1024]; /* the path tls_server_pem gave civetweb */

int tls_server_pem(char *path, size_t cap)
{
	int rc = server_pem(path, cap);
	if (rc == DM_OK)
		dm_strlcpy(served, path, sizeof served);
	return rc;
}

/* tls_server_pem without remembering the path. */
static int server_pem(char *path, size_t cap)
{
	char dir[1024];
	int rc = DM_ERR;

	if (dm_snprintf(dir, sizeof dir, "%s/tls", cfg.data) != DM_OK)
		return DM_ERR;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		dm_error("cannot create %s: %s", dir, strerror(errno));
		return DM_ERR;
	}
	if (cfg.acme_domain[0]) {
		/* a certificate ACME obtained before, if any (acme checks and
		 * renews it); else the self-signed one until ACME succeeds */
		if (dm_snprintf(path, cap, "%s/acme.pem", dir) != DM_OK)
			return DM_ERR;
		if (access(path, R_OK) == 0)
			return DM_OK;
	}
	if (cfg.cert[0]) {
		char *c = tls_slurp(cfg.cert), *k = c ? tls_slurp(cfg.key) : NULL;
		if (c && k && dm_snprintf(path, cap, "%s/served.pem", dir) == DM_OK)
			rc = tls_write_private(path, k, c);
		free(c);
		free(k);
		return rc;
	}
	if (dm_snprintf(path, cap, "%s/self-signed.pem", dir) != DM_OK)
		return DM_ERR;
	if (access(path, R_OK) == 0)
		return DM_OK;
	{
		char *key = malloc(8192), *crt = malloc(8192);
		if (key && crt && tls_make_self_signed(key, 8192, crt, 8192) == DM_OK) {
			rc = tls_write_private(path, key, crt);
			if (rc == DM_OK)
				dm_info("generated a self-signed TLS certificate in %s", path);
		} else
			dm_error("cannot generate a self-signed certificate");
		free(key);
		free(crt);
	}
	return rc;
}

/* ------------------------------------------------------------ hot swap */

#define GRACE_MS (10 * 60 * 1000) /* >> civetweb's handshake limit (30 s) */
#define MAX_ALPN 16

/* A certificate chain and its key. Immutable once installed. */
typedef struct pair {
	mbedtls_x509_crt chain;
	mbedtls_pk_context key;
	char name[256];       /* TLS-ALPN-01 challenge pairs: the name */
	int64_t retired_at;   /* mono ms; in the retired list */
	struct pair *next;
} pair_t;

/* lock guards cur, alpn[], nalpn and retired (a dm_mutex_t:
 * retire_locked checks that its caller holds it). The callback holds it
 * only to read a pointer and hand it to mbedtls. */
static dm_mutex_t lock = DM_MUTEX_INIT;
static pair_t *cur;
static pair_t *alpn[MAX_ALPN];
static int nalpn;
static pair_t *retired;

static const char *alpn_list[] = {"http/1.1", "acme-tls/1", NULL};

static void pair_free(pair_t *p)
{
	if (!p)
		return;
	mbedtls_x509_crt_free(&p->chain);
	mbedtls_pk_free(&p->key);
	free(p);
}

/* Parses key_pem and chain_pem into a new pair (caller frees with
 * pair_free). NULL if either does not parse or they do not match. */
static pair_t *pair_parse(const char *key_pem, const char *chain_pem)
{
	pair_t *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	mbedtls_x509_crt_init(&p->chain);
	mbedtls_pk_init(&p->key);
	if (mbedtls_x509_crt_parse(&p->chain, (const unsigned char *)chain_pem, strlen(chain_pem) + 1) != 0 ||
	    !p->chain.raw.p ||
	    mbedtls_pk_parse_key(&p->key, (const unsigned char *)key_pem, strlen(key_pem) + 1, NULL, 0, pk_rng,
				 NULL) != 0 ||
	    mbedtls_pk_check_pair(&p->chain.pk, &p->key, pk_rng, NULL) != 0) {
		pair_free(p);
		return NULL;
	}
	return p;
}

/* Moves p to the retired list and frees retired pairs past the grace
 * period. Called with lock held. */
static void retire_locked(pair_t *p)
{
	int64_t now = dm_mono_ms();
	pair_t **pp = &retired;
	dm_assert(dm_mutex_held(&lock));
	if (p) {
		p->retired_at = now;
		p->next = retired;
		retired = p;
	}
	while (*pp) {
		pair_t *q = *pp;
		if (now - q->retired_at > GRACE_MS) {
			*pp = q->next;
			pair_free(q);
		} else
			pp = &q->next;
	}
}

int tls_install(const char *key_pem, const char *chain_pem)
{
	pair_t *p = pair_parse(key_pem, chain_pem), *old;
	if (!p)
		return DM_EINVAL;
	dm_mutex_lock(&lock);
	old = cur;
	cur = p;
	retire_locked(old);
	dm_mutex_unlock(&lock);
	return DM_OK;
}

/* mbedtls certificate callback, run for each handshake after the
 * ClientHello was parsed (SNI and ALPN known). 0, or an mbedtls error to
 * abort the handshake. */
static int cert_cb(mbedtls_ssl_context *ssl)
{
	const char *proto = mbedtls_ssl_get_alpn_protocol(ssl);
	int rc = 0;

	dm_mutex_lock(&lock);
	if (proto && !strcmp(proto, "acme-tls/1")) {
		size_t n = 0;
		const unsigned char *sni = mbedtls_ssl_get_hs_sni(ssl, &n);
		pair_t *hit = NULL;
		for (int i = 0; sni && i < nalpn && !hit; i++)
			if (strlen(alpn[i]->name) == n && !strncasecmp(alpn[i]->name, (const char *)sni, n))
				hit = alpn[i];
		/* a validation handshake for a name we have no challenge for
		 * gets nothing (RFC 8737 section 3: never the real chain) */
		rc = hit ? mbedtls_ssl_set_hs_own_cert(ssl, &hit->chain, &hit->key)
			 : MBEDTLS_ERR_SSL_NO_APPLICATION_PROTOCOL;
	} else if (cur)
		rc = mbedtls_ssl_set_hs_own_cert(ssl, &cur->chain, &cur->key);
	dm_mutex_unlock(&lock);
	return rc;
}

int tls_init_conf(void *ssl_conf, void *user)
{
	char path[1024];
	char *pem;
	int rc;

	(void)user;
	if (served[0])
		dm_strlcpy(path, served, sizeof path);
	else if (tls_server_pem(path, sizeof path) != DM_OK)
		return -1;
	if (!(pem = tls_slurp(path)))
		return -1;
	rc = tls_install(pem, pem);
	free(pem);
	if (rc != DM_OK) {
		dm_error("%s: not a matching certificate chain and private key", path);
		return -1;
	}
	mbedtls_ssl_conf_cert_cb(ssl_conf, cert_cb);
	if (cfg.acme_domain[0] && mbedtls_ssl_conf_alpn_protocols(ssl_conf, alpn_list) != 0)
		return -1;
	return 0;
}

int tls_reload(void)
{
	char path[1024];
	char *c, *k = NULL;
	pair_t *p = NULL, *old;
	int rc = DM_EINVAL;

	if (!cfg.cert[0] || !cfg.https[0])
		return DM_OK;
	c = tls_slurp(cfg.cert);
	if (c)
		k = tls_slurp(cfg.key);
	if (c && k)
		p = pair_parse(k, c);
	if (!p) {
		dm_error("SIGHUP: %s / %s: not a matching certificate chain and private key; still serving the old "
			 "certificate", cfg.cert, cfg.key);
		goto done;
	}
	/* the served copy too, so a restart serves what we serve now */
	if (dm_snprintf(path, sizeof path, "%s/tls/served.pem", cfg.data) == DM_OK)
		tls_write_private(path, k, c);
	dm_mutex_lock(&lock);
	old = cur;
	cur = p;
	retire_locked(old);
	dm_mutex_unlock(&lock);
	p = NULL;
	dm_info("SIGHUP: now serving %s", cfg.cert);
	rc = DM_OK;
done:
	pair_free(p);
	free(c);
	free(k);
	return rc;
}

/* mbedtls_x509_crt_ext_cb_t: accepts the acmeIdentifier extension. */
static int accept_acme_ext(void *ctx, mbedtls_x509_crt const *crt, mbedtls_x509_buf const *oid, int critical,
			   const unsigned char *p, const unsigned char *end)
{
	(void)ctx;
	(void)crt;
	(void)critical;
	(void)p;
	(void)end;
	return oid->len == 8 && !memcmp(oid->p, "\x2b\x06\x01\x05\x05\x07\x01\x1f", 8) ? 0 : -1;
}

int tls_alpn_set(const char *name, const char *keyauth)
{
	/* id-pe-acmeIdentifier, 1.3.6.1.5.5.7.1.31 */
	static const char oid[] = "\x2b\x06\x01\x05\x05\x07\x01\x1f";
	unsigned char ext[2 + 32];
	mbedtls_pk_context key;
	mbedtls_x509write_cert crt;
	mbedtls_x509_san_list san;
	unsigned char serial[16];
	char *der = NULL, *kpem = NULL;
	pair_t *p = NULL;
	int rc = DM_ERR, n;

	if (strlen(name) >= sizeof p->name)
		return DM_EINVAL;
	mbedtls_pk_init(&key);
	mbedtls_x509write_crt_init(&crt);
	der = malloc(4096);
	kpem = malloc(1024);
	if (!der || !kpem)
		goto done;
	ext[0] = 0x04; /* OCTET STRING, 32 bytes: SHA-256(key authorization) */
	ext[1] = 32;
	if (mbedtls_sha256((const unsigned char *)keyauth, strlen(keyauth), ext + 2, 0) != 0 ||
	    dm_random(serial, sizeof serial) != DM_OK)
		goto done;
	serial[0] = (serial[0] & 0x7f) | 1;
	memset(&san, 0, sizeof san);
	san.node.type = MBEDTLS_X509_SAN_DNS_NAME;
	san.node.san.unstructured_name.p = (unsigned char *)name;
	san.node.san.unstructured_name.len = strlen(name);
	if (mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
	    mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key), pk_rng, NULL) != 0)
		goto done;
	mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&crt, &key);
	mbedtls_x509write_crt_set_issuer_key(&crt, &key);
	if (mbedtls_x509write_crt_set_subject_name(&crt, "CN=acme-tls-alpn-01") != 0 ||
	    mbedtls_x509write_crt_set_issuer_name(&crt, "CN=acme-tls-alpn-01") != 0 ||
	    mbedtls_x509write_crt_set_serial_raw(&crt, serial, sizeof serial) != 0 ||
	    mbedtls_x509write_crt_set_validity(&crt, "20000101000000", "20991231235959") != 0 ||
	    mbedtls_x509write_crt_set_subject_alternative_name(&crt, &san) != 0 ||
	    mbedtls_x509write_crt_set_extension(&crt, oid, sizeof oid - 1, 1, ext, sizeof ext) != 0 ||
	    (n = mbedtls_x509write_crt_der(&crt, (unsigned char *)der, 4096, pk_rng, NULL)) <= 0 ||
	    mbedtls_pk_write_key_pem(&key, (unsigned char *)kpem, 1024) != 0)
		goto done;
	/* mbedtls refuses a critical extension it does not know unless a
	 * callback accepts it: ours does, for acmeIdentifier alone */
	if (!(p = calloc(1, sizeof *p)))
		goto done;
	mbedtls_x509_crt_init(&p->chain);
	mbedtls_pk_init(&p->key);
	if (mbedtls_x509_crt_parse_der_with_ext_cb(&p->chain, (unsigned char *)der + 4096 - n, (size_t)n, 1,
						   accept_acme_ext, NULL) != 0 ||
	    mbedtls_pk_parse_key(&p->key, (const unsigned char *)kpem, strlen(kpem) + 1, NULL, 0, pk_rng, NULL) != 0)
		goto done;
	dm_strlcpy(p->name, name, sizeof p->name);
	dm_mutex_lock(&lock);
	rc = DM_ETOOBIG;
	for (int i = 0; i < nalpn; i++)
		if (!strcasecmp(alpn[i]->name, name)) {
			retire_locked(alpn[i]);
			alpn[i] = p;
			p = NULL;
			rc = DM_OK;
			break;
		}
	if (p && nalpn < MAX_ALPN) {
		alpn[nalpn++] = p;
		p = NULL;
		rc = DM_OK;
	}
	dm_mutex_unlock(&lock);
done:
	pair_free(p);
	mbedtls_x509write_crt_free(&crt);
	mbedtls_pk_free(&key);
	free(der);
	free(kpem);
	return rc;
}

void tls_alpn_clear(void)
{
	dm_mutex_lock(&lock);
	for (int i = 0; i < nalpn; i++)
		retire_locked(alpn[i]);
	nalpn = 0;
	dm_mutex_unlock(&lock);
}

void tls_shutdown(void)
{
	dm_mutex_lock(&lock);
	for (int i = 0; i < nalpn; i++)
		pair_free(alpn[i]);
	nalpn = 0;
	pair_free(cur);
	cur = NULL;
	while (retired) {
		pair_t *q = retired;
		retired = q->next;
		pair_free(q);
	}
	dm_mutex_unlock(&lock);
}
