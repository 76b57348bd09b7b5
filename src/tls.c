/*
 * tls.c — server key and certificate (see tls.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "config.h"
#include "dm.h"
#include "tls.h"

/* mbedtls's f_rng over getrandom (no DRBG state to seed or share). */
static int rng(void *unused, unsigned char *out, size_t n)
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
	    mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key), rng, NULL) != 0)
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
	    mbedtls_x509write_crt_pem(&crt, (unsigned char *)crt_pem, crtcap, rng, NULL) != 0)
		goto done;
	rc = DM_OK;
done:
	mbedtls_x509write_crt_free(&crt);
	mbedtls_pk_free(&key);
	return rc;
}

/* Writes data to path atomically (temp file + rename), mode 0600. */
static int write_private(const char *path, const char *a, const char *b)
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
	ok = write(fd, a, strlen(a)) == (ssize_t)strlen(a) && write(fd, b, strlen(b)) == (ssize_t)strlen(b) &&
	     fsync(fd) == 0;
	close(fd);
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		dm_error("cannot write %s", path);
		return DM_ERR;
	}
	return DM_OK;
}

/* Reads a whole (small) file; caller frees. NULL on error (logged). */
static char *slurp(const char *path)
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

int tls_server_pem(char *path, size_t cap)
{
	char dir[1024];
	int rc = DM_ERR;

	if (dm_snprintf(dir, sizeof dir, "%s/tls", cfg.data) != DM_OK)
		return DM_ERR;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		dm_error("cannot create %s: %s", dir, strerror(errno));
		return DM_ERR;
	}
	if (cfg.cert[0]) {
		char *c = slurp(cfg.cert), *k = c ? slurp(cfg.key) : NULL;
		if (c && k && dm_snprintf(path, cap, "%s/served.pem", dir) == DM_OK)
			rc = write_private(path, k, c);
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
			rc = write_private(path, key, crt);
			if (rc == DM_OK)
				dm_info("generated a self-signed TLS certificate in %s", path);
		} else
			dm_error("cannot generate a self-signed certificate");
		free(key);
		free(crt);
	}
	return rc;
}
