/*
 * push.c — Web Push subscriptions, encryption, VAPID and delivery (see
 * push.h).
 *
 * Delivery runs on a pool worker from a timer (never two runs at once, so
 * nothing is sent twice by us and the VAPID key's group is used by one
 * thread at a time). A run reads the due rows on its reader, POSTs each
 * (one HTTPS connection per request, net_http, verified against
 * --ca-bundle), then records every result in one write job: delivered
 * (row deleted), gone (the subscription and its rows deleted), retry
 * later (tries+1, next try after a backoff, or the push service's
 * Retry-After), or given up (refused for good, or still failing when its
 * TTL ran out).
 *
 * Thread-safety: vapid (the key, its public point, the JWT subject) is
 * written by push_init before any thread starts; afterwards the public
 * parts are read-only and the private key is used only by the delivery
 * timer. push_queue runs on the write lane (its statement is db_stmt's,
 * cached on the writer).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/ecdh.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/gcm.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>

#include "config.h"
#include "db.h"
#include "dm.h"
#include "http.h"
#include "jobs.h"
#include "net.h"
#include "push.h"

#define PUSH_MAX_SUBS 10          /* subscriptions per user */
#define ENDPOINT_MAX 1024         /* characters of an endpoint URL */
#define TTL_S 86400               /* how long a push service keeps a message */
#define PUSH_GIVE_UP_MS (TTL_S * 1000LL)
#define MAX_TRIES 16
#define BACKOFF_FIRST_MS 2000LL   /* doubles with every try */
#define BACKOFF_MAX_MS 3600000LL
#define PUSH_BATCH 50
#define TIMER_MS 500
#define SEND_TIMEOUT_BODY 4096    /* largest reply body we read */
#define RECORD_SIZE 4096          /* rs of the aes128gcm header */
#define HEADER_LEN (16 + 4 + 1 + 65)
#define PLAIN_MAX 3000            /* largest payload we encrypt (one record) */
#define PUSH_BODY_MAX (HEADER_LEN + PLAIN_MAX + 1 + 16)
#define JWT_LIFE_S (12 * 3600)    /* RFC 8292: at most 24 hours */

static struct {
	int ready;
	mbedtls_ecp_group grp;
	mbedtls_mpi d;
	unsigned char pub[65];
	char pub_b64[96];
	char sub[300];                /* "mailto:..." or "https://..." */
} vapid;

static int push_rng(void *unused, unsigned char *out, size_t n)
{
	(void)unused;
	return dm_random(out, n) == DM_OK ? 0 : -1;
}

/* ------------------------------------------------------- encryption */

/* HKDF-Expand of prk with info (len bytes) for one block: out gets n <= 32
 * bytes. 0 or an mbedtls error. */
static int expand(const unsigned char prk[32], const void *info, size_t len, unsigned char *out, size_t n)
{
	return mbedtls_hkdf_expand(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), prk, 32, info, len, out, n);
}

/* RFC 8291: encrypts in[0..n) for the user agent whose public key is
 * ua_pub (65 bytes, uncompressed) and auth secret auth, as one aes128gcm
 * record (RFC 8188) with the header salt || rs || idlen || as_public.
 * as_priv (32 bytes) and salt (16) are the sender's key and salt: NULL for
 * fresh random ones (always, except in the RFC's example). grp_in: a
 * loaded P-256 group the caller owns for this thread (it keeps the
 * generator's precomputed table between messages), or NULL for a fresh
 * one. out (cap bytes) gets the whole body. Returns its length, or -1
 * (bad key, n too large, out too small). */
static long push_encrypt(mbedtls_ecp_group *grp_in, const unsigned char ua_pub[65], const unsigned char auth[16],
			 const unsigned char *as_priv, const unsigned char *salt, const void *in, size_t n,
			 unsigned char *out, size_t cap)
{
	mbedtls_ecp_group own, *gp = grp_in ? grp_in : &own;
	mbedtls_mpi d, z;
	mbedtls_ecp_point q, p;
	mbedtls_gcm_context gcm;
	unsigned char as_pub[65], secret[32], key_info[14 + 65 + 65], ikm[32], prk[32], cek[16], nonce[12];
	unsigned char *plain = NULL;
	size_t olen;
	long rc = -1;

	if (n > PLAIN_MAX || cap < HEADER_LEN + n + 1 + 16)
		return -1;
	if (!grp_in)
		mbedtls_ecp_group_init(&own);
	mbedtls_mpi_init(&d);
	mbedtls_mpi_init(&z);
	mbedtls_ecp_point_init(&q);
	mbedtls_ecp_point_init(&p);
	mbedtls_gcm_init(&gcm);
	if (!grp_in && mbedtls_ecp_group_load(&own, MBEDTLS_ECP_DP_SECP256R1) != 0)
		goto done;
	if (as_priv ? mbedtls_mpi_read_binary(&d, as_priv, 32) != 0 || mbedtls_ecp_check_privkey(gp, &d) != 0
		    : mbedtls_ecp_gen_privkey(gp, &d, push_rng, NULL) != 0)
		goto done;
	if (mbedtls_ecp_mul(gp, &q, &d, &gp->G, push_rng, NULL) != 0 ||
	    mbedtls_ecp_point_write_binary(gp, &q, MBEDTLS_ECP_PF_UNCOMPRESSED, &olen, as_pub, sizeof as_pub) != 0 ||
	    olen != 65)
		goto done;
	if (mbedtls_ecp_point_read_binary(gp, &p, ua_pub, 65) != 0 || mbedtls_ecp_check_pubkey(gp, &p) != 0 ||
	    mbedtls_ecdh_compute_shared(gp, &z, &p, &d, push_rng, NULL) != 0 ||
	    mbedtls_mpi_write_binary(&z, secret, 32) != 0)
		goto done;
	/* IKM = HKDF(auth, ecdh_secret, "WebPush: info" 0x00 ua_public as_public, 32) */
	memcpy(key_info, "WebPush: info", 14); /* with its NUL */
	memcpy(key_info + 14, ua_pub, 65);
	memcpy(key_info + 79, as_pub, 65);
	if (mbedtls_hkdf(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), auth, 16, secret, 32, key_info,
			 sizeof key_info, ikm, 32) != 0)
		goto done;
	/* the RFC 8188 header, then its CEK and nonce from salt and IKM */
	if (salt)
		memcpy(out, salt, 16);
	else if (dm_random(out, 16) != DM_OK)
		goto done;
	out[16] = (RECORD_SIZE >> 24) & 0xff;
	out[17] = (RECORD_SIZE >> 16) & 0xff;
	out[18] = (RECORD_SIZE >> 8) & 0xff;
	out[19] = RECORD_SIZE & 0xff;
	out[20] = 65;
	memcpy(out + 21, as_pub, 65);
	if (mbedtls_hkdf_extract(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), out, 16, ikm, 32, prk) != 0 ||
	    expand(prk, "Content-Encoding: aes128gcm", 28, cek, 16) != 0 ||
	    expand(prk, "Content-Encoding: nonce", 24, nonce, 12) != 0)
		goto done;
	/* one record: the plaintext, the last-record delimiter 2, no padding */
	plain = malloc(n + 1);
	if (!plain)
		goto done;
	memcpy(plain, in, n);
	plain[n] = 2;
	if (mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, cek, 128) != 0 ||
	    mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, n + 1, nonce, 12, NULL, 0, plain, out + HEADER_LEN,
				      16, out + HEADER_LEN + n + 1) != 0)
		goto done;
	rc = (long)(HEADER_LEN + n + 1 + 16);
done:
	free(plain);
	mbedtls_gcm_free(&gcm);
	mbedtls_ecp_point_free(&p);
	mbedtls_ecp_point_free(&q);
	mbedtls_mpi_free(&z);
	mbedtls_mpi_free(&d);
	if (!grp_in)
		mbedtls_ecp_group_free(&own);
	mbedtls_platform_zeroize(secret, sizeof secret);
	mbedtls_platform_zeroize(ikm, sizeof ikm);
	mbedtls_platform_zeroize(prk, sizeof prk);
	mbedtls_platform_zeroize(cek, sizeof cek);
	return rc;
}

/* --------------------------------------------------------- validation */

/* Decodes base64url s (trailing '=' allowed) into out of exactly want
 * bytes. 1 if it is that, else 0. */
static int b64_exact(const char *s, unsigned char *out, size_t want)
{
	size_t n = strlen(s);
	while (n && s[n - 1] == '=')
		n--;
	return dm_b64url_decode(s, n, out, want) == (long)want;
}

/* 1 if p (65 bytes) is an uncompressed point on P-256 (not infinity). */
static int point_ok(const unsigned char p[65])
{
	mbedtls_ecp_group grp;
	mbedtls_ecp_point q;
	int ok;
	if (p[0] != 4)
		return 0;
	mbedtls_ecp_group_init(&grp);
	mbedtls_ecp_point_init(&q);
	ok = mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1) == 0 &&
	     mbedtls_ecp_point_read_binary(&grp, &q, p, 65) == 0 && mbedtls_ecp_check_pubkey(&grp, &q) == 0;
	mbedtls_ecp_point_free(&q);
	mbedtls_ecp_group_free(&grp);
	return ok;
}

/* 1 if host is one of --push-hosts: a name in the list, or a subdomain
 * of a "*.suffix" entry (case-insensitive). Without the list, any user
 * could make the server POST to any https host (an internal one too). */
static int host_allowed(const char *host)
{
	const char *p = cfg.push_hosts;
	size_t hl = strlen(host);
	while (*p) {
		size_t n = strcspn(p, ",");
		const char *e = p;
		while (n && *e == ' ')
			e++, n--;
		while (n && e[n - 1] == ' ')
			n--;
		if (n > 2 && e[0] == '*' && e[1] == '.') {
			/* "*.suffix": host ends with ".suffix" and has a label before it */
			if (hl > n - 1 && !strncasecmp(host + hl - (n - 1), e + 1, n - 1))
				return 1;
		} else if (n && n == hl && !strncasecmp(host, e, n))
			return 1;
		p = e + n;
		p += strcspn(p, ",");
		if (*p == ',')
			p++;
	}
	return 0;
}

/* 1 if e is an endpoint we POST to: an https URL of printable ASCII
 * without quotes, backslashes or spaces (it goes into a JWT and a request
 * line), at most ENDPOINT_MAX characters, whose host is in --push-hosts. */
static int endpoint_ok(const char *e)
{
	char host[256], path[2048];
	int tls = 0, port = 0;
	size_t n = strlen(e);
	if (n > ENDPOINT_MAX || strncmp(e, "https://", 8))
		return 0;
	for (const char *c = e; *c; c++)
		if (*c <= 0x20 || *c >= 0x7f || *c == '"' || *c == '\\' || *c == '#')
			return 0;
	return net_parse_url(e, &tls, host, &port, path) == DM_OK && tls && host[0] && host_allowed(host);
}

/* ------------------------------------------------------------- VAPID */

/* The JWT's origin for endpoint: "https://host[:port]". DM_OK/DM_EINVAL. */
static int origin_of(const char *endpoint, char *out, size_t cap)
{
	char host[256], path[2048];
	int tls = 0, port = 0;
	if (net_parse_url(endpoint, &tls, host, &port, path) != DM_OK)
		return DM_EINVAL;
	return dm_snprintf(out, cap, strchr(host, ':') ? "https://[%s]" : "https://%s", host) == DM_OK &&
			       (port == 443 || dm_snprintf(out + strlen(out), cap - strlen(out), ":%d", port) == DM_OK)
		       ? DM_OK
		       : DM_EINVAL;
}

/* The Authorization header line (RFC 8292) for a push to endpoint, valid
 * until now_s + JWT_LIFE_S: "Authorization: vapid t=JWT, k=KEY\r\n".
 * Delivery thread only (signs with the grp_in group). DM_OK or DM_ERR. */
static int vapid_header(const char *endpoint, long long now_s, char *out, size_t cap);

/* The last headers signed, per origin (a push service is one origin, and a
 * signature costs as much as the encryption): reused while at least
 * JWT_REUSE_S of their life is left. Delivery thread only. */
#define JWT_CACHE 8
#define JWT_REUSE_S (JWT_LIFE_S - 3600)
static struct {
	char aud[300];
	long long made;
	char line[700];
} jwt_cache[JWT_CACHE];

/* vapid_header through jwt_cache. */
static int vapid_header_cached(const char *endpoint, long long now_s, char *out, size_t cap)
{
	char aud[300];
	int slot = 0;
	if (origin_of(endpoint, aud, sizeof aud) != DM_OK)
		return DM_ERR;
	for (int i = 0; i < JWT_CACHE; i++) {
		if (!strcmp(jwt_cache[i].aud, aud) && now_s >= jwt_cache[i].made &&
		    now_s - jwt_cache[i].made < JWT_LIFE_S - JWT_REUSE_S)
			return dm_strlcpy(out, jwt_cache[i].line, cap) == DM_OK ? DM_OK : DM_ERR;
		if (jwt_cache[i].made < jwt_cache[slot].made)
			slot = i;
	}
	if (vapid_header(endpoint, now_s, out, cap) != DM_OK)
		return DM_ERR;
	if (strlen(out) < sizeof jwt_cache[slot].line) {
		dm_strlcpy(jwt_cache[slot].aud, aud, sizeof jwt_cache[slot].aud);
		dm_strlcpy(jwt_cache[slot].line, out, sizeof jwt_cache[slot].line);
		jwt_cache[slot].made = now_s;
	}
	return DM_OK;
}

static int vapid_header(const char *endpoint, long long now_s, char *out, size_t cap)
{
	char aud[300], claims[800], input[1400], sigb[96];
	unsigned char h[32], sig[64];
	mbedtls_mpi r, s;
	size_t n;
	int rc = DM_ERR;

	if (origin_of(endpoint, aud, sizeof aud) != DM_OK ||
	    dm_snprintf(claims, sizeof claims, "{\"aud\":\"%s\",\"exp\":%lld,\"sub\":\"%s\"}", aud,
			now_s + JWT_LIFE_S, vapid.sub) != DM_OK)
		return DM_ERR;
	/* {"typ":"JWT","alg":"ES256"} */
	n = dm_b64url_encode("{\"typ\":\"JWT\",\"alg\":\"ES256\"}", 27, input);
	input[n++] = '.';
	if (n + strlen(claims) / 3 * 4 + 8 > sizeof input)
		return DM_ERR;
	n += dm_b64url_encode(claims, strlen(claims), input + n);
	input[n] = 0;
	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	if (mbedtls_sha256((const unsigned char *)input, n, h, 0) == 0 &&
	    mbedtls_ecdsa_sign(&vapid.grp, &r, &s, &vapid.d, h, 32, push_rng, NULL) == 0 &&
	    mbedtls_mpi_write_binary(&r, sig, 32) == 0 && mbedtls_mpi_write_binary(&s, sig + 32, 32) == 0) {
		dm_b64url_encode(sig, 64, sigb);
		rc = dm_snprintf(out, cap, "Authorization: vapid t=%s.%s, k=%s\r\n", input, sigb, vapid.pub_b64);
	}
	mbedtls_mpi_free(&r);
	mbedtls_mpi_free(&s);
	return rc == DM_OK ? DM_OK : DM_ERR;
}

/* Takes the key pair from pk into vapid. DM_OK or DM_ERR. */
static int vapid_take(mbedtls_pk_context *pk)
{
	mbedtls_ecp_point q;
	size_t n = 0;
	int ok;
	mbedtls_ecp_point_init(&q);
	ok = mbedtls_pk_get_type(pk) == MBEDTLS_PK_ECKEY &&
	     mbedtls_ecp_export(mbedtls_pk_ec(*pk), &vapid.grp, &vapid.d, &q) == 0 &&
	     vapid.grp.id == MBEDTLS_ECP_DP_SECP256R1 &&
	     mbedtls_ecp_point_write_binary(&vapid.grp, &q, MBEDTLS_ECP_PF_UNCOMPRESSED, &n, vapid.pub,
					    sizeof vapid.pub) == 0 &&
	     n == 65;
	mbedtls_ecp_point_free(&q);
	if (!ok)
		return DM_ERR;
	dm_b64url_encode(vapid.pub, 65, vapid.pub_b64);
	vapid.ready = 1;
	return DM_OK;
}

/* Reads DIR/vapid.pem, or makes a new P-256 key pair and writes it there
 * (mode 0600, through a temporary file, so a crash leaves no half key).
 * DM_OK or DM_ERR (logged). */
static int vapid_load(const char *dir)
{
	char path[1100], tmp[1120];
	unsigned char buf[1200];
	mbedtls_pk_context pk;
	int fd, rc = DM_ERR;
	ssize_t n;

	mbedtls_pk_init(&pk);
	if (dm_snprintf(path, sizeof path, "%s/vapid.pem", dir) != DM_OK ||
	    dm_snprintf(tmp, sizeof tmp, "%s/vapid.pem.new", dir) != DM_OK)
		goto done;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (n <= 0) {
			dm_error("%s: cannot read it; remove it to make a new key (every push subscription ends)", path);
			goto done;
		}
		buf[n] = 0;
		if (mbedtls_pk_parse_key(&pk, buf, (size_t)n + 1, NULL, 0, push_rng, NULL) != 0 ||
		    vapid_take(&pk) != DM_OK) {
			dm_error("%s: not a P-256 private key; remove it to make a new key "
				 "(every push subscription ends)", path);
			goto done;
		}
		rc = DM_OK;
		goto done;
	}
	if (errno != ENOENT) {
		dm_error("cannot read %s: %s", path, strerror(errno));
		goto done;
	}
	if (mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
	    mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk), push_rng, NULL) != 0 ||
	    mbedtls_pk_write_key_pem(&pk, buf, sizeof buf) != 0 || vapid_take(&pk) != DM_OK) {
		dm_error("push: cannot make the VAPID key pair");
		goto done;
	}
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		dm_error("cannot create %s: %s", tmp, strerror(errno));
		goto done;
	}
	n = (ssize_t)strlen((char *)buf);
	if (write(fd, buf, (size_t)n) != n || fsync(fd) != 0) {
		dm_error("cannot write %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		goto done;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		dm_error("cannot rename %s: %s", tmp, strerror(errno));
		unlink(tmp);
		goto done;
	}
	dm_info("push: made a new VAPID key pair in %s", path);
	rc = DM_OK;
done:
	mbedtls_platform_zeroize(buf, sizeof buf);
	mbedtls_pk_free(&pk);
	return rc;
}

/* The JWT subject: --push-subject, or mailto: the address of --mail-from
 * ("Name <addr>" or "addr"). DM_OK or DM_EINVAL. */
static int vapid_subject(void)
{
	const char *s = cfg.push_subject, *lt, *gt;
	if (s[0]) {
		if (strncmp(s, "mailto:", 7) && strncmp(s, "https://", 8))
			return DM_EINVAL;
		dm_strlcpy(vapid.sub, s, sizeof vapid.sub);
	} else {
		lt = strchr(cfg.mail_from, '<');
		gt = lt ? strchr(lt, '>') : NULL;
		if (lt && gt)
			snprintf(vapid.sub, sizeof vapid.sub, "mailto:%.*s", (int)(gt - lt - 1), lt + 1);
		else
			snprintf(vapid.sub, sizeof vapid.sub, "mailto:%s", cfg.mail_from);
	}
	for (const char *c = vapid.sub; *c; c++)
		if (*c <= 0x20 || *c >= 0x7f || *c == '"' || *c == '\\')
			return DM_EINVAL;
	return DM_OK;
}

/* ------------------------------------------------------------ queueing */

int push_queue(sqlite3 *w, int64_t user_id, const char *type, const char *title, const char *body,
	       const char *item_id)
{
	/* the payload the service worker shows: {type, title, body, url} */
	static const char *sql =
		"INSERT INTO pushOutbox(pushSubId, payload, urgency, nextTryDt, createdDt) "
		"SELECT s.pushSubId, json_object('type',?2,'title',?3,'body',substr(?4,1,200),'url',"
		"CASE WHEN ?5 IS NULL THEN '/alerts' WHEN ?2 = 'chat' THEN '/item/' || ?5 || '/chat' "
		"ELSE '/item/' || ?5 END), "
		"CASE WHEN ?2 IN ('chat','chosen','deadline') THEN 'high' ELSE 'normal' END, ?6, ?6 "
		"FROM pushSubscription s JOIN user u ON u.userId = s.userId WHERE s.userId = ?1 "
		"AND EXISTS (SELECT 1 FROM json_each(u.pushNotify) WHERE value = ?2)";
	if (db_run(w, sql, DB_INT(user_id), DB_TEXT(type), DB_TEXT(title), DB_TEXT(body ? body : ""), DB_TEXT(item_id),
		   DB_INT(dm_now_ms())) != DM_OK) {
		dm_error("push: could not queue a push for user %lld", (long long)user_id);
		return DM_ERR;
	}
	return DM_OK;
}

/* ------------------------------------------------------------ delivery */

enum { R_SENT, R_GONE, R_RETRY, R_GIVEUP };

typedef struct pmsg {
	int64_t id, sub;
	char *endpoint, *payload, *p256dh, *auth;
	int high;             /* Urgency: high */
	int tries;
	int64_t created;
	int result;           /* R_* */
	int64_t next;         /* R_RETRY: when */
	char err[160];
} pmsg_t;

typedef struct prun {
	int n;
	pmsg_t m[PUSH_BATCH];
} prun_t;

/* The backoff before try number tries+1: BACKOFF_FIRST_MS doubled per
 * try, at most BACKOFF_MAX_MS; at least retry_after_s when the service
 * said so. */
static int64_t push_backoff(int tries, long retry_after_s)
{
	int64_t ms = BACKOFF_FIRST_MS << (tries < 20 ? tries : 20);
	if (ms > BACKOFF_MAX_MS)
		ms = BACKOFF_MAX_MS;
	if (retry_after_s > 0 && retry_after_s * 1000LL > ms)
		ms = retry_after_s * 1000LL > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : retry_after_s * 1000LL;
	return ms;
}

/* Sends one message; sets m->result (and m->next, m->err). */
static void send_push(pmsg_t *m, int64_t now)
{
	unsigned char ua[65], auth[16], body[PUSH_BODY_MAX];
	char headers[1800];
	net_http_resp_t resp;
	long len;
	int rc;

	m->result = R_GIVEUP;
	if (!endpoint_ok(m->endpoint)) {
		snprintf(m->err, sizeof m->err, "the endpoint's host is no longer in --push-hosts");
		return;
	}
	if (!b64_exact(m->p256dh, ua, 65) || !b64_exact(m->auth, auth, 16)) {
		snprintf(m->err, sizeof m->err, "stored keys are unreadable");
		return;
	}
	len = push_encrypt(&vapid.grp, ua, auth, NULL, NULL, m->payload, strlen(m->payload), body, sizeof body);
	if (len < 0) {
		snprintf(m->err, sizeof m->err, "cannot encrypt");
		return;
	}
	snprintf(headers, sizeof headers, "TTL: %d\r\nContent-Encoding: aes128gcm\r\n%s", TTL_S,
		 m->high ? "Urgency: high\r\n" : "");
	if (vapid_header_cached(m->endpoint, now / 1000, headers + strlen(headers),
				sizeof headers - strlen(headers)) != DM_OK) {
		snprintf(m->err, sizeof m->err, "cannot sign the VAPID token");
		return;
	}
	memset(&resp, 0, sizeof resp);
	rc = net_http("POST", m->endpoint, headers, "application/octet-stream", (const char *)body, (size_t)len,
		      SEND_TIMEOUT_BODY, 0, &resp);
	free(resp.body);
	if (rc == DM_OK && resp.status >= 200 && resp.status < 300) {
		m->result = R_SENT;
		return;
	}
	if (rc == DM_OK && (resp.status == 404 || resp.status == 410)) {
		m->result = R_GONE;
		snprintf(m->err, sizeof m->err, "HTTP %d", resp.status);
		return;
	}
	if (rc == DM_OK)
		snprintf(m->err, sizeof m->err, "HTTP %d", resp.status);
	else
		snprintf(m->err, sizeof m->err, "cannot reach the push service");
	/* anything but 429 and 5xx is a refusal that a retry will not change */
	if (rc == DM_OK && resp.status != 429 && resp.status < 500)
		return;
	if (m->tries + 1 >= MAX_TRIES || now - m->created >= PUSH_GIVE_UP_MS)
		return;
	m->result = R_RETRY;
	m->next = now + push_backoff(m->tries, rc == DM_OK ? resp.retry_after : -1);
}

/* The write job: records every result of a run. */
static int record_results(sqlite3 *w, void *arg)
{
	prun_t *r = arg;

	dm_assert(r->n >= 0 && r->n <= PUSH_BATCH);
	for (int i = 0; i < r->n; i++) {
		const pmsg_t *m = &r->m[i];
		int rc;
		if (m->result == R_GONE) {
			/* its other queued messages go with it (also without foreign keys) */
			rc = db_run(w, "DELETE FROM pushSubscription WHERE pushSubId = ?1", DB_INT(m->sub));
			if (rc == DM_OK)
				rc = db_run(w, "DELETE FROM pushOutbox WHERE pushSubId = ?1", DB_INT(m->sub));
		} else if (m->result == R_RETRY)
			rc = db_run(w, "UPDATE pushOutbox SET tries = tries + 1, nextTryDt = ?2, lastError = ?3 "
				       "WHERE pushOutboxId = ?1",
				    DB_INT(m->id), DB_INT(m->next), DB_TEXT(m->err));
		else
			rc = db_run(w, "DELETE FROM pushOutbox WHERE pushOutboxId = ?1", DB_INT(m->id));
		if (rc != DM_OK)
			return DM_ERR;
	}
	return DM_OK;
}

static char *col_dup(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	return strdup(t ? t : "");
}

static void run_free(prun_t *r)
{
	for (int i = 0; i < r->n; i++) {
		free(r->m[i].endpoint);
		free(r->m[i].payload);
		free(r->m[i].p256dh);
		free(r->m[i].auth);
	}
	r->n = 0;
}

/* Reads up to PUSH_BATCH due messages into r. Returns how many. */
static int read_due(sqlite3 *db, prun_t *r, int64_t now)
{
	sqlite3_stmt *st = db_query(db, "SELECT o.pushOutboxId, o.pushSubId, s.endpoint, o.payload, s.p256dh, s.auth, "
					"o.urgency = 'high', o.tries, o.createdDt FROM pushOutbox o "
					"JOIN pushSubscription s ON s.pushSubId = o.pushSubId "
					"WHERE o.nextTryDt <= ?1 ORDER BY o.nextTryDt, o.pushOutboxId LIMIT ?2",
				    DB_INT(now), DB_INT(PUSH_BATCH));
	if (!st)
		return 0;
	while (r->n < PUSH_BATCH && sqlite3_step(st) == SQLITE_ROW) {
		pmsg_t *m = &r->m[r->n];
		memset(m, 0, sizeof *m);
		m->id = sqlite3_column_int64(st, 0);
		m->sub = sqlite3_column_int64(st, 1);
		m->endpoint = col_dup(st, 2);
		m->payload = col_dup(st, 3);
		m->p256dh = col_dup(st, 4);
		m->auth = col_dup(st, 5);
		m->high = sqlite3_column_int(st, 6);
		m->tries = sqlite3_column_int(st, 7);
		m->created = sqlite3_column_int64(st, 8);
		if (!m->endpoint || !m->payload || !m->p256dh || !m->auth) {
			/* out of memory: this one waits for the next run */
			free(m->endpoint);
			free(m->payload);
			free(m->p256dh);
			free(m->auth);
			break;
		}
		r->n++;
	}
	db_done(st);
	dm_assert(r->n <= PUSH_BATCH);
	return r->n;
}

/* The timer task: delivers what is due, batch after batch. */
static void deliver_pushes(void *unused)
{
	sqlite3 *db = db_reader();
	prun_t *r;

	(void)unused;
	if (!db || !vapid.ready)
		return;
	r = calloc(1, sizeof *r);
	if (!r)
		return;
	while (!dm_stopping) {
		int64_t now = dm_now_ms();
		int n = read_due(db, r, now), bad = 0;
		if (!n)
			break;
		for (int i = 0; i < n && !dm_stopping; i++) {
			pmsg_t *m = &r->m[i];
			send_push(m, dm_now_ms());
			if (m->result == R_GONE)
				dm_info("push: subscription %lld is gone (%s); deleted", (long long)m->sub, m->err);
			else if (m->result == R_GIVEUP)
				dm_warn("push: message %lld to subscription %lld given up: %s", (long long)m->id,
					(long long)m->sub, m->err);
			else if (m->result == R_RETRY)
				dm_info("push: message %lld: %s; retrying later", (long long)m->id, m->err);
		}
		if (dm_stopping) {
			/* nothing recorded: what was sent in this batch may be sent again */
			break;
		}
		if (jobs_write(record_results, r) != DM_OK) {
			dm_error("push: cannot record delivery results (they will be sent again)");
			bad = 1;
		}
		run_free(r);
		if (bad || n < PUSH_BATCH)
			break;
	}
	run_free(r);
	free(r);
}

/* --------------------------------------------------------------- routes */

/* GET /push/vapid: the application server key for PushManager.subscribe. */
static int h_vapid(http_req_t *r)
{
	char buf[200];
	snprintf(buf, sizeof buf, "{\"msg\":\"success\",\"publicKey\":\"%s\"}", vapid.pub_b64);
	return http_reply_json(r, 200, buf, strlen(buf));
}

typedef struct sub_req {
	int64_t user_id;
	const char *endpoint;
	char p256dh[96], auth[32];  /* canonical base64url */
	int created;                /* out: a new subscription (else updated) */
	int refused;                /* out: refused with rf */
	refusal_t rf;
} sub_req_t;

static int subscribe_job(sqlite3 *w, void *arg)
{
	sub_req_t *q = arg;
	int64_t owner = 0, n = 0;
	int rc = db_get_int(w, &owner, "SELECT userId FROM pushSubscription WHERE endpoint = ?1", DB_TEXT(q->endpoint));

	if (rc != DM_OK && rc != DM_ENOTFOUND)
		return DM_ERR;
	if (owner && owner != q->user_id) {
		q->refused = 1;
		q->rf = RF_PUSH_ENDPOINT_TAKEN;
		return DM_OK;
	}
	if (owner)
		rc = db_run(w, "UPDATE pushSubscription SET p256dh = ?3, auth = ?4 WHERE endpoint = ?2 AND userId = ?1",
			    DB_INT(q->user_id), DB_TEXT(q->endpoint), DB_TEXT(q->p256dh), DB_TEXT(q->auth));
	else {
		if (db_get_int(w, &n, "SELECT count(*) FROM pushSubscription WHERE userId = ?1", DB_INT(q->user_id)) != DM_OK)
			return DM_ERR;
		if (n >= PUSH_MAX_SUBS) {
			q->refused = 1;
			q->rf = RF_PUSH_LIMIT;
			return DM_OK;
		}
		q->created = 1;
		rc = db_run(w, "INSERT INTO pushSubscription(userId, endpoint, p256dh, auth, createdDt) "
			       "VALUES (?1, ?2, ?3, ?4, dm_now())",
			    DB_INT(q->user_id), DB_TEXT(q->endpoint), DB_TEXT(q->p256dh), DB_TEXT(q->auth));
	}
	return rc == DM_OK ? DM_OK : DM_ERR;
}

/* POST /push/subscriptions {endpoint, keys:{p256dh, auth}} */
static int h_subscribe(http_req_t *r)
{
	const json_field_t *keys;
	const char *endpoint;
	sqlite3_stmt *st;
	unsigned char pt[65], auth[16];
	sub_req_t q;
	int ok = 0, rc;

	if (http_json(r) != DM_OK)
		return DM_OK;
	endpoint = json_str(&r->json, "endpoint", 1, ENDPOINT_MAX);
	if (!endpoint || !endpoint_ok(endpoint))
		return http_refuse(r, RF_PUSH_HOST_NOT_ALLOWED);
	keys = json_get(&r->json, "keys");
	if (!keys || keys->type != JSON_OBJECT)
		return http_refuse(r, RF_PUSH_KEYS_REQUIRED);
	memset(&q, 0, sizeof q);
	st = db_query(r->db, "SELECT CASE WHEN json_type(?1,'$.p256dh') = 'text' THEN ?1->>'p256dh' END, "
			     "CASE WHEN json_type(?1,'$.auth') = 'text' THEN ?1->>'auth' END",
		      DB_TEXT(keys->text));
	if (!st)
		return http_fail_dm(r, DM_ERR);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) && sqlite3_column_text(st, 1) &&
	    sqlite3_column_bytes(st, 0) < 100 && sqlite3_column_bytes(st, 1) < 40)
		ok = b64_exact((const char *)sqlite3_column_text(st, 0), pt, 65) && point_ok(pt) &&
		     b64_exact((const char *)sqlite3_column_text(st, 1), auth, 16);
	db_done(st);
	if (!ok)
		return http_refuse(r, RF_INVALID_PUSH_KEYS);
	q.user_id = r->user_id;
	q.endpoint = endpoint;
	dm_b64url_encode(pt, 65, q.p256dh);
	dm_b64url_encode(auth, 16, q.auth);
	rc = jobs_write(subscribe_job, &q);
	if (rc != DM_OK)
		return http_fail_dm(r, rc);
	if (q.refused)
		return http_refuse(r, q.rf);
	return http_reply_json(r, q.created ? 201 : 200, "{\"msg\":\"success\"}", 17);
}

typedef struct unsub_req {
	int64_t user_id;
	const char *endpoint;
	int deleted;
} unsub_req_t;

static int unsubscribe_job(sqlite3 *w, void *arg)
{
	unsub_req_t *q = arg;
	return db_run_changes(w, &q->deleted, "DELETE FROM pushSubscription WHERE endpoint = ?1 AND userId = ?2",
			      DB_TEXT(q->endpoint), DB_INT(q->user_id)) == DM_OK
		       ? DM_OK
		       : DM_ERR;
}

/* DELETE /push/subscriptions {endpoint}: only one's own. */
static int h_unsubscribe(http_req_t *r)
{
	unsub_req_t q;
	int rc;

	if (http_json(r) != DM_OK)
		return DM_OK;
	memset(&q, 0, sizeof q);
	q.endpoint = json_str(&r->json, "endpoint", 1, ENDPOINT_MAX);
	if (!q.endpoint)
		return http_refuse(r, RF_INVALID_ENDPOINT);
	q.user_id = r->user_id;
	rc = jobs_write(unsubscribe_job, &q);
	if (rc != DM_OK)
		return http_fail_dm(r, rc);
	if (!q.deleted)
		return http_refuse(r, RF_PUSH_SUBSCRIPTION_NOT_FOUND);
	return http_ok(r);
}

static const http_route_t push_routes[] = {
	{"GET", "/push/vapid", h_vapid, HTTP_PUBLIC},
	{"POST", "/push/subscriptions", h_subscribe, HTTP_AUTH},
	{"DELETE", "/push/subscriptions", h_unsubscribe, HTTP_AUTH},
};

int push_init(void)
{
	mbedtls_ecp_group_init(&vapid.grp);
	mbedtls_mpi_init(&vapid.d);
	if (vapid_subject() != DM_OK) {
		dm_error("--push-subject: expected mailto:ADDR or https://..., got '%s'", cfg.push_subject);
		return DM_ERR;
	}
	if (vapid_load(cfg.data) != DM_OK)
		return DM_ERR;
	http_routes(push_routes, sizeof push_routes / sizeof push_routes[0]);
	return jobs_timer("push", TIMER_MS, deliver_pushes, NULL);
}

/* After the pool stopped and before the database closes. */
void push_stop(void)
{
	mbedtls_mpi_free(&vapid.d);
	mbedtls_ecp_group_free(&vapid.grp);
	memset(jwt_cache, 0, sizeof jwt_cache);
	vapid.ready = 0;
}
