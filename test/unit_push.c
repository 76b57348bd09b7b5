/*
 * unit_push.c — Web Push's pieces one by one: the RFC 8291 encryption
 * against the RFC's own example (fixed keys and salt give exactly its
 * body), the checks of what a client sends (endpoints, keys; hostile
 * inputs, table-driven), the JWT audience, the VAPID header (its ES256
 * signature verified with mbedtls against the k= key it carries) and the
 * retry backoff. The black-box test (push.test.js) decrypts with an
 * independent implementation.
 */
#include "../src/core/dm.c"
#include "../src/core/config.c"
#include "../src/core/db.c"
#include "../src/core/mem.c"
#include "../src/core/json.c"
#include "../src/core/net.c"
#include "../src/core/tls.c"
#include "../src/market/push.c"

#include <psa/crypto.h>

#include "unit.h"

/* push_init's and the handlers' hooks into HTTP and the pool: the routes
 * are exercised by push.test.js, not here */
void http_routes(const http_route_t *rt, size_t n)
{
	(void)rt;
	(void)n;
}
int http_json(http_req_t *r)
{
	(void)r;
	return DM_EINVAL;
}
int http_refuse(http_req_t *r, refusal_t rf)
{
	(void)r;
	(void)rf;
	return DM_OK;
}
int http_fail_dm(http_req_t *r, int s)
{
	(void)r;
	(void)s;
	return DM_OK;
}
int http_reply_json(http_req_t *r, int status, const char *json, size_t len)
{
	(void)r;
	(void)status;
	(void)json;
	(void)len;
	return DM_OK;
}
int http_ok(http_req_t *r)
{
	(void)r;
	return DM_OK;
}
int jobs_write(jobs_write_fn fn, void *arg)
{
	(void)fn;
	(void)arg;
	return DM_EUNAVAIL;
}
int jobs_timer(const char *name, int interval_ms, jobs_task_fn fn, void *arg)
{
	(void)name;
	(void)interval_ms;
	(void)fn;
	(void)arg;
	return DM_OK;
}
void http_on_start(void (*fn)(struct mg_context *ctx))
{
	(void)fn;
}

static long unb64(const char *s, unsigned char *out, size_t cap)
{
	return dm_b64url_decode(s, strlen(s), out, cap);
}

/* RFC 8291 section 5 and appendix A. */
static void test_rfc8291(void)
{
	static const struct {
		const char *plaintext, *as_private, *as_public, *ua_public, *auth, *salt, *body;
	} v[] = {
		{"When I grow up, I want to be a watermelon", "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw",
		 "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8",
		 "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
		 "BTBZMqHH6r4Tts7J_aSIgg", "DGv6ra1nlYgDCS1FRnbzlw",
		 "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzA"
		 "C8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"},
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		unsigned char asd[32], asp[65], ua[65], auth[16], salt[16], want[300], out[PUSH_BODY_MAX], again[PUSH_BODY_MAX];
		long wn, n, n2;
		CHECK(unb64(v[i].as_private, asd, 32) == 32 && unb64(v[i].as_public, asp, 65) == 65 &&
			      unb64(v[i].ua_public, ua, 65) == 65 && unb64(v[i].auth, auth, 16) == 16 &&
			      unb64(v[i].salt, salt, 16) == 16,
		      "vector %zu decodes", i);
		wn = unb64(v[i].body, want, sizeof want);
		n = push_encrypt(NULL, ua, auth, asd, salt, v[i].plaintext, strlen(v[i].plaintext), out, sizeof out);
		CHECK(n == wn && n > 0 && !memcmp(out, want, (size_t)n), "vector %zu: the RFC's body, byte for byte", i);
		CHECK(n > 86 && !memcmp(out + 21, asp, 65), "vector %zu: keyid is as_public", i);
		{
			/* with a group kept between messages (as delivery does), twice */
			mbedtls_ecp_group g;
			mbedtls_ecp_group_init(&g);
			CHECK(mbedtls_ecp_group_load(&g, MBEDTLS_ECP_DP_SECP256R1) == 0, "group");
			for (int k = 0; k < 2; k++) {
				n2 = push_encrypt(&g, ua, auth, asd, salt, v[i].plaintext, strlen(v[i].plaintext), again,
						  sizeof again);
				CHECK(n2 == wn && !memcmp(again, want, (size_t)wn), "vector %zu, shared group, run %d", i, k);
			}
			mbedtls_ecp_group_free(&g);
		}
		/* fresh key and salt: same length, different bytes */
		n2 = push_encrypt(NULL, ua, auth, NULL, NULL, v[i].plaintext, strlen(v[i].plaintext), again, sizeof again);
		CHECK(n2 == n && memcmp(again, out, 16) && memcmp(again + 21, out + 21, 65), "vector %zu: fresh key", i);
		/* refusals: a point off the curve, an output too small, too much */
		ua[64] ^= 1;
		CHECK(push_encrypt(NULL, ua, auth, NULL, NULL, "x", 1, out, sizeof out) < 0, "off-curve ua key refused");
		ua[64] ^= 1;
		CHECK(push_encrypt(NULL, ua, auth, NULL, NULL, "x", 1, out, 100) < 0, "small output refused");
		CHECK(push_encrypt(NULL, ua, auth, NULL, NULL, again, PLAIN_MAX + 1, out, sizeof out) < 0, "too long refused");
	}
}

static void test_endpoints(void)
{
	static const struct {
		const char *e;
		int ok;
	} v[] = {
		/* the default --push-hosts: the browsers' push services only */
		{"https://fcm.googleapis.com/fcm/send/abc:def", 1},
		{"https://FCM.googleapis.com/fcm/send/abc:def", 1},
		{"https://updates.push.services.mozilla.com/wpush/v2/gAAAA", 1},
		{"https://web.push.apple.com/QGm", 1},
		{"https://wns2-by3p.notify.windows.com/w/?token=x", 1},
		{"https://push.services.mozilla.com/x", 0},
		{"https://xpush.services.mozilla.com/x", 0},
		{"https://evil.example/fcm.googleapis.com/", 0},
		{"https://fcm.googleapis.com.evil.example/x", 0},
		{"https://127.0.0.1:8443/push/1", 0},
		{"https://[::1]:8443/p", 0},
		{"https://localhost/p", 0},
		{"http://fcm.googleapis.com/fcm/send/1", 0},
		{"ftp://push.example/1", 0},
		{"https://", 0},
		{"https:///path", 0},
		{"https://a b/", 0},
		{"https://fcm.googleapis.com/\"x", 0},
		{"https://fcm.googleapis.com/\\x", 0},
		{"https://fcm.googleapis.com/\x01", 0},
		{"https://fcm.googleapis.com/\xc3\xa9", 0},
		{"https://fcm.googleapis.com/#frag", 0},
		{"javascript:alert(1)", 0},
		{"", 0},
	};
	static const struct {
		const char *hosts, *e;
		int ok;
	} w[] = {
		{"127.0.0.1", "https://127.0.0.1:8443/push/1", 1},
		{"127.0.0.1", "https://127.0.0.2/push/1", 0},
		{" push.example , *.svc.example", "https://push.example/1", 1},
		{" push.example , *.svc.example", "https://a.svc.example/1", 1},
		{" push.example , *.svc.example", "https://svc.example/1", 0},
		{"::1", "https://[::1]:8443/p", 1},
		{"", "https://fcm.googleapis.com/fcm/send/1", 0},
		{"*.", "https://a./x", 0},
	};
	char longer[1100] = "https://fcm.googleapis.com/";
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		CHECK(endpoint_ok(v[i].e) == v[i].ok, "endpoint_ok(%s) = %d", v[i].e, v[i].ok);
	for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
		strcpy(cfg.push_hosts, w[i].hosts);
		CHECK(endpoint_ok(w[i].e) == w[i].ok, "--push-hosts '%s': endpoint_ok(%s) = %d", w[i].hosts, w[i].e,
		      w[i].ok);
	}
	strcpy(cfg.push_hosts, PUSH_HOSTS_DEFAULT);
	memset(longer + strlen(longer), 'a', 1100 - 1 - strlen(longer));
	longer[1099] = 0;
	CHECK(!endpoint_ok(longer), "an endpoint over 1024 characters");
}

static void test_origin(void)
{
	static const struct {
		const char *e, *aud;
	} v[] = {
		{"https://fcm.googleapis.com/fcm/send/x", "https://fcm.googleapis.com"},
		{"https://push.example:443/x", "https://push.example"},
		{"https://127.0.0.1:8443/push/1", "https://127.0.0.1:8443"},
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		char aud[300] = "";
		CHECK(origin_of(v[i].e, aud, sizeof aud) == DM_OK && !strcmp(aud, v[i].aud), "aud of %s: %s", v[i].e,
		      aud);
	}
}

static void test_keys(void)
{
	static const struct {
		const char *p256dh, *auth;
		int ok;
	} v[] = {
		{"BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
		 "BTBZMqHH6r4Tts7J_aSIgg", 1},
		/* padded base64url is accepted too */
		{"BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4=",
		 "BTBZMqHH6r4Tts7J_aSIgg==", 1},
		/* the y coordinate changed: not on the curve */
		{"BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw5",
		 "BTBZMqHH6r4Tts7J_aSIgg", 0},
		/* compressed form (0x03 ...) is not accepted */
		{"AyVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcx", "BTBZMqHH6r4Tts7J_aSIgg", 0},
		/* auth of 15 and 17 bytes */
		{"BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
		 "BTBZMqHH6r4Tts7J_aSI", 0},
		{"BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
		 "BTBZMqHH6r4Tts7J_aSIggAA", 0},
		/* standard base64 characters, empty */
		{"BCVxsr7N/eNgVRqvHtD0zTZsEc6+VV+JvLexhqUzORcxaOzi6+AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
		 "BTBZMqHH6r4Tts7J_aSIgg", 0},
		{"", "", 0},
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		unsigned char pt[65], auth[16];
		int ok = b64_exact(v[i].p256dh, pt, 65) && point_ok(pt) && b64_exact(v[i].auth, auth, 16);
		CHECK(ok == v[i].ok, "keys %zu: %d", i, v[i].ok);
	}
}

/* The VAPID header: a JWT whose signature verifies against the k= key,
 * with the endpoint's origin as aud, exp within 24 hours, our subject. */
static void test_vapid(void)
{
	mbedtls_pk_context pk;
	char hdr[1800], *t, *k, *dot2, claims[400];
	unsigned char h[32], sig[64], kpub[65];
	mbedtls_ecp_point q;
	mbedtls_mpi r, s;
	long n;

	mbedtls_pk_init(&pk);
	mbedtls_ecp_group_init(&vapid.grp);
	mbedtls_mpi_init(&vapid.d);
	CHECK(mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) == 0 &&
		      mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk), push_rng, NULL) == 0 &&
		      vapid_take(&pk) == DM_OK,
	      "a key pair");
	mbedtls_pk_free(&pk);
	strcpy(cfg.mail_from, "동물마켓 <no-reply@dongmul.example>");
	CHECK(vapid_subject() == DM_OK && !strcmp(vapid.sub, "mailto:no-reply@dongmul.example"), "subject %s",
	      vapid.sub);
	CHECK(vapid_header("https://127.0.0.1:8443/push/1", 1700000000, hdr, sizeof hdr) == DM_OK, "header");
	t = strstr(hdr, "vapid t=");
	k = strstr(hdr, ", k=");
	CHECK(!strncmp(hdr, "Authorization: vapid t=", 23) && t && k && strstr(hdr, "\r\n"), "header shape: %s", hdr);
	if (!t || !k)
		return;
	t += 8;
	*k = 0;
	k += 4;
	k[strcspn(k, "\r")] = 0;
	CHECK(!strcmp(k, vapid.pub_b64) && unb64(k, kpub, 65) == 65, "k= is our public key");
	dot2 = strrchr(t, '.');
	CHECK(dot2 && unb64(dot2 + 1, sig, 64) == 64, "a 64-byte signature");
	if (!dot2)
		return;
	n = dm_b64url_decode(strchr(t, '.') + 1, (size_t)(dot2 - strchr(t, '.') - 1), claims, sizeof claims - 1);
	CHECK(n > 0, "claims decode");
	claims[n > 0 ? n : 0] = 0;
	CHECK(!strcmp(claims, "{\"aud\":\"https://127.0.0.1:8443\",\"exp\":1700043200,"
			      "\"sub\":\"mailto:no-reply@dongmul.example\"}"),
	      "claims %s", claims);
	mbedtls_ecp_point_init(&q);
	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	CHECK(mbedtls_sha256((const unsigned char *)t, (size_t)(dot2 - t), h, 0) == 0 &&
		      mbedtls_ecp_point_read_binary(&vapid.grp, &q, kpub, 65) == 0 &&
		      mbedtls_mpi_read_binary(&r, sig, 32) == 0 && mbedtls_mpi_read_binary(&s, sig + 32, 32) == 0 &&
		      mbedtls_ecdsa_verify(&vapid.grp, h, 32, &q, &r, &s) == 0,
	      "the ES256 signature verifies against k=");
	h[0] ^= 1;
	CHECK(mbedtls_ecdsa_verify(&vapid.grp, h, 32, &q, &r, &s) != 0, "and not for other bytes");
	{
		/* the cache: the same origin gets the same header for an hour,
		 * another origin its own, a later one a new token */
		char c1[1800], c2[1800], c3[1800], c4[1800];
		CHECK(vapid_header_cached("https://push.example/a", 1700000000, c1, sizeof c1) == DM_OK &&
			      vapid_header_cached("https://push.example/b", 1700003599, c2, sizeof c2) == DM_OK &&
			      !strcmp(c1, c2),
		      "same origin within the hour: reused");
		CHECK(vapid_header_cached("https://other.example/a", 1700000000, c3, sizeof c3) == DM_OK && strcmp(c1, c3),
		      "another origin: its own");
		CHECK(vapid_header_cached("https://push.example/a", 1700003600, c4, sizeof c4) == DM_OK && strcmp(c1, c4),
		      "an hour later: a new token");
	}
	mbedtls_mpi_free(&r);
	mbedtls_mpi_free(&s);
	mbedtls_ecp_point_free(&q);
	/* subjects we refuse to put into a JWT */
	strcpy(cfg.push_subject, "mailto:a\"b@x");
	CHECK(vapid_subject() != DM_OK, "a quote in the subject");
	strcpy(cfg.push_subject, "tel:123");
	CHECK(vapid_subject() != DM_OK, "not mailto: or https:");
	cfg.push_subject[0] = 0;
	push_stop();
}

static void test_backoff(void)
{
	static const struct {
		int tries;
		long retry_after;
		int64_t ms;
	} v[] = {
		{0, -1, 2000},      {1, -1, 4000},       {5, -1, 64000},     {11, -1, 3600000},
		{40, -1, 3600000},  {0, 30, 30000},      {3, 1, 16000},      {0, 999999, 3600000},
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		CHECK(push_backoff(v[i].tries, v[i].retry_after) == v[i].ms, "backoff(%d, %ld) = %lld", v[i].tries,
		      v[i].retry_after, (long long)push_backoff(v[i].tries, v[i].retry_after));
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	dm_log_level = DM_LOG_ERROR;
	cfg_defaults();
	if (psa_crypto_init() != PSA_SUCCESS) {
		printf("unit_push: set-up failed\n");
		return 1;
	}
	test_rfc8291();
	test_endpoints();
	test_origin();
	test_keys();
	test_vapid();
	test_backoff();
	mbedtls_psa_crypto_free();
	UNIT_DONE("unit_push");
}
