/*
 * unit_civetweb_tls.c — checks of our civetweb patches on TLS
 * (vendor/patches/civetweb-*):
 *
 *   0001  an idle TCP connection to the TLS port costs no CPU and does not
 *         hold up mg_stop()
 *   0003  wss: mg_websocket_write() from another thread while the worker
 *         reads the same TLS connection (TLS 1.2 and 1.3), payloads intact
 *   0005  a client's close_notify prints no "SSL read failed" on stderr
 *
 * Shared fixtures: unit_civetweb.h.
 */
#include "unit_civetweb.h"

/* ---- 0001: idle TLS connection ------------------------------------------ */

static void test_idle_tls(const char *cert)
{
	const char *opts[] = {"listening_ports", "127.0.0.1:0s", "ssl_certificate", cert,
	                      "num_threads", "4", NULL};
	struct mg_context *ctx;
	int tls_port = 0, fd;
	double c0, c1, t0, t1;
	char msg[160];

	ctx = start_server(opts, NULL, &tls_port);
	check(ctx != NULL && tls_port > 0, "TLS server starts on an ephemeral port");
	if (!ctx || tls_port <= 0)
		return;

	fd = tcp_connect(tls_port, 3000);
	if (fd < 0) {
		check(0, "connect to the TLS port");
		mg_stop(ctx);
		return;
	}
	sleep_ms(300); /* let a worker pick the connection up */
	c0 = cpu_s();
	sleep_ms(1500);
	c1 = cpu_s();
	snprintf(msg, sizeof msg,
	         "idle TCP connection to the TLS port: %.3f s CPU in 1.5 s (< 0.3)", c1 - c0);
	check(c1 - c0 < 0.3, msg);

	t0 = now_s();
	mg_stop(ctx);
	t1 = now_s();
	snprintf(msg, sizeof msg,
	         "mg_stop() with the idle TLS connection open: %.2f s (< 2)", t1 - t0);
	check(t1 - t0 < 2.0, msg);
	close(fd);
}

/* ---- 0003: wss, two server threads on one TLS connection ------------------ */

struct race_client {
	int port;
	int tls13;
	int quit_after_upgrade; /* just close_notify once upgraded */
	/* results */
	int connected;
	uint32_t sent, got_down, got_echo;
	int bad_down, bad_echo;
	char err[128];
};


/* Parses complete server frames at the front of buf; returns bytes used. */
static size_t parse_frames(struct race_client *rc, const unsigned char *buf, size_t n)
{
	size_t used = 0;
	for (;;) {
		const unsigned char *p = buf + used;
		size_t left = n - used, h = 2;
		uint64_t len;
		int op;
		if (left < 2)
			break;
		op = p[0] & 0xf;
		len = p[1] & 0x7f;
		if (p[1] & 0x80) {
			snprintf(rc->err, sizeof rc->err, "server frame is masked");
			rc->bad_down++;
		}
		if (len == 126) {
			if (left < 4)
				break;
			len = (uint64_t)p[2] << 8 | p[3];
			h = 4;
		} else if (len == 127) {
			int i;
			if (left < 10)
				break;
			len = 0;
			for (i = 0; i < 8; i++)
				len = len << 8 | p[2 + i];
			h = 10;
		}
		if (len > 65536) {
			snprintf(rc->err, sizeof rc->err, "absurd frame length %llu", (unsigned long long)len);
			rc->bad_down++;
			return n; /* stream is corrupt: drop everything */
		}
		if (left < h + len)
			break;
		if (op == MG_WEBSOCKET_OPCODE_BINARY) {
			if (!msg_ok(p + h, (size_t)len, rc->got_down, TAG_DOWN))
				rc->bad_down++;
			rc->got_down++;
		} else if (op == MG_WEBSOCKET_OPCODE_TEXT) {
			if (!msg_ok(p + h, (size_t)len, rc->got_echo, TAG_UP))
				rc->bad_echo++;
			rc->got_echo++;
		} else {
			snprintf(rc->err, sizeof rc->err, "unexpected opcode %d", op);
			rc->bad_down++;
		}
		used += h + (size_t)len;
	}
	return used;
}

static void *race_client_main(void *arg)
{
	struct race_client *rc = arg;
	mbedtls_ssl_context ssl;
	mbedtls_ssl_config conf;
	mbedtls_net_context net;
	static const unsigned char mask[4] = {0x5a, 0xa5, 0x3c, 0xc3};
	unsigned char *obuf = malloc(65536), *rbuf = malloc(1 << 17);
	size_t olen = 0, opos = 0, rlen = 0, rcap = 1 << 17;
	double deadline = now_s() + 60;
	int r, fd, hdr_done = 0;

	mbedtls_ssl_init(&ssl);
	mbedtls_ssl_config_init(&conf);
	mbedtls_net_init(&net);
	if (!obuf || !rbuf) {
		snprintf(rc->err, sizeof rc->err, "out of memory");
		goto out;
	}
	fd = tcp_connect(rc->port, 5000);
	if (fd < 0) {
		snprintf(rc->err, sizeof rc->err, "connect failed");
		goto out;
	}
	net.fd = fd;
	mbedtls_net_set_nonblock(&net);
	if (mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
	                                MBEDTLS_SSL_PRESET_DEFAULT) != 0) {
		snprintf(rc->err, sizeof rc->err, "ssl config");
		goto out;
	}
	mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_NONE);
	mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
	if (rc->tls13) {
		mbedtls_ssl_conf_min_tls_version(&conf, MBEDTLS_SSL_VERSION_TLS1_3);
	} else {
		mbedtls_ssl_conf_max_tls_version(&conf, MBEDTLS_SSL_VERSION_TLS1_2);
	}
	if (mbedtls_ssl_setup(&ssl, &conf) != 0) {
		snprintf(rc->err, sizeof rc->err, "ssl setup");
		goto out;
	}
	mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, mbedtls_net_recv, NULL);
	while ((r = mbedtls_ssl_handshake(&ssl)) != 0) {
		if (r != MBEDTLS_ERR_SSL_WANT_READ && r != MBEDTLS_ERR_SSL_WANT_WRITE) {
			snprintf(rc->err, sizeof rc->err, "handshake failed: -0x%04x", (unsigned)-r);
			goto out;
		}
		if (tls_wait(fd, r == MBEDTLS_ERR_SSL_WANT_READ ? POLLIN : POLLOUT, deadline) != 0) {
			snprintf(rc->err, sizeof rc->err, "handshake timed out");
			goto out;
		}
	}
	if ((rc->tls13 != 0) != (mbedtls_ssl_get_version_number(&ssl) == MBEDTLS_SSL_VERSION_TLS1_3)) {
		snprintf(rc->err, sizeof rc->err, "negotiated %s", mbedtls_ssl_get_version(&ssl));
		goto out;
	}

	/* the upgrade request goes out as the first "frame" */
	memcpy(obuf, ws_request, sizeof ws_request - 1);
	olen = sizeof ws_request - 1;

	while (now_s() < deadline) {
		int progress = 0;

		/* write: the current buffer, then the next frame */
		for (;;) {
			if (opos == olen && hdr_done && rc->sent < RACE_N) {
				size_t n = msg_len(rc->sent), h;
				h = ws_client_header(obuf, MG_WEBSOCKET_OPCODE_BINARY, n, mask);
				msg_fill(obuf + h, rc->sent, TAG_UP);
				ws_mask(obuf + h, n, mask);
				olen = h + n;
				opos = 0;
				rc->sent++;
			}
			if (opos == olen)
				break;
			/* after WANT_WRITE, called again with the same arguments */
			r = mbedtls_ssl_write(&ssl, obuf + opos, olen - opos);
			if (r == MBEDTLS_ERR_SSL_WANT_WRITE || r == MBEDTLS_ERR_SSL_WANT_READ)
				break;
			if (r < 0) {
				snprintf(rc->err, sizeof rc->err, "ssl_write: -0x%04x", (unsigned)-r);
				goto out;
			}
			opos += (size_t)r;
			progress = 1;
			if (!hdr_done && opos == olen)
				break; /* wait for the 101 before sending frames */
		}

		/* read everything mbedtls can give now */
		for (;;) {
			if (rlen == rcap) {
				snprintf(rc->err, sizeof rc->err, "receive buffer full");
				goto out;
			}
			r = mbedtls_ssl_read(&ssl, rbuf + rlen, rcap - rlen);
			if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
				break;
			if (r <= 0) {
				snprintf(rc->err, sizeof rc->err, "ssl_read: -0x%04x", (unsigned)-r);
				goto out;
			}
			rlen += (size_t)r;
			progress = 1;
			if (!hdr_done) {
				unsigned char *e = memmem(rbuf, rlen, "\r\n\r\n", 4);
				size_t hl;
				if (!e)
					continue;
				if (strncmp((char *)rbuf, "HTTP/1.1 101", 12) != 0) {
					snprintf(rc->err, sizeof rc->err, "upgrade refused");
					goto out;
				}
				hl = (size_t)(e - rbuf) + 4;
				memmove(rbuf, rbuf + hl, rlen - hl);
				rlen -= hl;
				hdr_done = 1;
				rc->connected = 1;
			}
			{
				size_t used = parse_frames(rc, rbuf, rlen);
				memmove(rbuf, rbuf + used, rlen - used);
				rlen -= used;
			}
		}
		if (rc->bad_down || rc->bad_echo)
			break;
		if (hdr_done && rc->quit_after_upgrade) {
			/* a TLS close with no WebSocket close frame first */
			(void)mbedtls_ssl_close_notify(&ssl);
			goto out;
		}
		if (hdr_done && rc->sent == RACE_N && opos == olen && rc->got_down == RACE_N &&
		    rc->got_echo == RACE_N)
			break;
		if (!progress) {
			struct pollfd p = {fd, POLLIN, 0};
			if (opos < olen)
				p.events |= POLLOUT;
			poll(&p, 1, 100);
		}
	}
	if (now_s() >= deadline)
		snprintf(rc->err, sizeof rc->err, "timed out");

	/* close frame, close_notify (best effort) */
	{
		unsigned char cf[8];
		size_t h = ws_client_header(cf, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, 0, mask);
		double end = now_s() + 2;
		while ((r = mbedtls_ssl_write(&ssl, cf, h)) == MBEDTLS_ERR_SSL_WANT_WRITE && now_s() < end)
			tls_wait(fd, POLLOUT, end);
		(void)mbedtls_ssl_close_notify(&ssl);
	}
out:
	mbedtls_net_free(&net);
	mbedtls_ssl_free(&ssl);
	mbedtls_ssl_config_free(&conf);
	free(obuf);
	free(rbuf);
	return NULL;
}

struct broadcaster {
	uint32_t sent;
	int fail;
};

static void *broadcast_main(void *arg)
{
	struct broadcaster *b = arg;
	unsigned char *m = malloc(65536);
	uint32_t i;

	if (!m) {
		b->fail = 1;
		return NULL;
	}
	for (i = 0; i < RACE_N; i++) {
		int r = -1;
		msg_fill(m, i, TAG_DOWN);
		/* the registry lock is held while writing, as dongmul does */
		pthread_mutex_lock(&srv_mu);
		if (ws_conn)
			r = mg_websocket_write(ws_conn, MG_WEBSOCKET_OPCODE_BINARY, (const char *)m,
			                       msg_len(i));
		pthread_mutex_unlock(&srv_mu);
		if (r <= 0) {
			b->fail = 1;
			break;
		}
		b->sent++;
	}
	free(m);
	return NULL;
}

static void test_wss_race(int tls_port, int tls13)
{
	struct race_client rc;
	struct broadcaster b;
	pthread_t ct, bt;
	char msg[512];
	int ready, ok;

	memset(&rc, 0, sizeof rc);
	memset(&b, 0, sizeof b);
	rc.port = tls_port;
	rc.tls13 = tls13;
	ws_reset(1);
	if (pthread_create(&ct, NULL, race_client_main, &rc) != 0) {
		check(0, "client thread");
		return;
	}
	ready = wait_for(&ws_ready, 1, 10000);
	if (ready && pthread_create(&bt, NULL, broadcast_main, &b) == 0)
		pthread_join(bt, NULL);
	else
		b.fail = 1;
	pthread_join(ct, NULL);
	wait_for(&ws_closed, 1, 5000);

	pthread_mutex_lock(&srv_mu);
	ok = ready && rc.connected && !rc.err[0] && !b.fail && b.sent == RACE_N &&
	     rc.sent == RACE_N && rc.got_down == RACE_N && rc.got_echo == RACE_N &&
	     !rc.bad_down && !rc.bad_echo && ws_up_next == RACE_N && !ws_up_bad &&
	     !ws_echo_fail;
	snprintf(msg, sizeof msg,
	         "wss %s, %u messages each way while another thread writes: "
	         "client sent %u, got %u broadcast (%d bad) + %u echo (%d bad); "
	         "server got %u (%d bad), broadcast %u%s%s",
	         tls13 ? "TLS 1.3" : "TLS 1.2", RACE_N, rc.sent, rc.got_down, rc.bad_down,
	         rc.got_echo, rc.bad_echo, ws_up_next, ws_up_bad, b.sent, rc.err[0] ? "; " : "",
	         rc.err);
	pthread_mutex_unlock(&srv_mu);
	check(ok, msg);
}

/* 0005: a peer's close_notify is a normal close, not an error on stderr */
static void test_quiet_close(int tls_port)
{
	struct race_client rc;
	pthread_t ct;
	char path[] = "/tmp/unit_civetweb_stderr.XXXXXX", buf[4096];
	int tmp, saved, closed;
	ssize_t n;

	memset(&rc, 0, sizeof rc);
	rc.port = tls_port;
	rc.tls13 = 1;
	rc.quit_after_upgrade = 1;
	tmp = mkstemp(path);
	if (tmp < 0) {
		check(0, "temp file for stderr");
		return;
	}
	unlink(path);
	ws_reset(0);
	fflush(stderr);
	saved = dup(2);
	dup2(tmp, 2);
	if (pthread_create(&ct, NULL, race_client_main, &rc) == 0)
		pthread_join(ct, NULL);
	closed = wait_for(&ws_closed, 1, 5000);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(tmp, buf, sizeof buf - 1, 0);
	close(tmp);
	buf[n > 0 ? n : 0] = 0;
	if (n > 0)
		printf("# stderr meanwhile: %s", buf);
	check(rc.connected && closed && !strstr(buf, "SSL read failed"),
	      "a client's close_notify closes the wss connection without an "
	      "\"SSL read failed\" line on stderr");
}

/* ---- main ------------------------------------------------------------------ */

int main(void)
{
	char dir[32], cert[64];
	struct mg_context *ctx;
	int port = 0, tls_port = 0;

	if (cw_begin("unit_civetweb_tls", dir, cert) != 0)
		return 1;
	test_idle_tls(cert);
	ctx = cw_start_both(cert, &port, &tls_port);
	if (ctx) {
		test_wss_race(tls_port, 0);
		test_wss_race(tls_port, 1);
		test_quiet_close(tls_port);
		mg_stop(ctx);
	}
	return cw_end("unit_civetweb_tls", dir, cert);
}
