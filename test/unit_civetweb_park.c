/*
 * unit_civetweb_park.c — checks of our civetweb patches on waiting
 * connections (vendor/patches/civetweb-*):
 *
 *   0007  the parking set: idle, slowloris and keep-alive connections
 *         (plain and TLS) wait in epoll, not in the 2 workers; timeouts;
 *         mg_park() hands a detached connection back to keep-alive
 *   0009  the 1 ms keep-alive linger: idle keep-alive connections still
 *         hold no worker
 *
 * Shared fixtures: unit_civetweb.h.
 */
#include "unit_civetweb.h"

static void test_parking(const char *cert)
{
	/* two workers; short timeouts so the test is quick */
	const char *opts[] = {"listening_ports", "127.0.0.1:0,127.0.0.1:0s", "ssl_certificate", cert,
	                      "num_threads", "2", "request_timeout_ms", "1500",
	                      "keep_alive_timeout_ms", "1000", "enable_keep_alive", "yes", NULL};
	enum { IDLE = 40 };
	int port = 0, tls_port = 0, idle[IDLE], i, ok, fd;
	struct tls_cli tc[3];
	char msg[200];
	double t0, t;

	srv_ctx = start_server(opts, &port, &tls_port);
	if (!srv_ctx || port <= 0 || tls_port <= 0) {
		check(0, "parking server starts");
		if (srv_ctx)
			mg_stop(srv_ctx);
		return;
	}
	mg_set_request_handler(srv_ctx, "/hello", on_hello, NULL);
	mg_set_request_handler(srv_ctx, "/detach", on_detach, NULL);

	/* idle plain and TLS TCP connections, and TLS connections idle after
	 * their handshake, hold no worker */
	for (i = 0; i < IDLE; i++)
		idle[i] = tcp_connect(i % 2 ? tls_port : port, 3000);
	ok = 1;
	for (i = 0; i < 3; i++)
		ok = ok && tls_cli_open(&tc[i], tls_port) == 0;
	check(ok, "three TLS handshakes complete on a 2-worker server with 40 idle connections open");
	fd = tcp_connect(port, 3000);
	check(fd >= 0 && plain_hello(fd, 3000),
	      "20 idle plain + 20 idle TLS-port + 3 idle TLS connections: a request on 2 workers is answered");

	/* keep-alive: the same connection serves again after waiting parked */
	sleep_ms(300);
	check(plain_hello(fd, 3000) && plain_hello(fd, 3000),
	      "keep-alive: two more requests on the same plain connection after 300 ms idle");
	ok = tls_hello(&tc[0], 3000);
	sleep_ms(300);
	ok = ok && tls_hello(&tc[0], 3000) && tls_hello(&tc[1], 3000);
	check(ok, "keep-alive over TLS: requests after the handshake and after 300 ms parked");

	/* three keep-alive connections idle after a request hold neither of
	 * the 2 workers (0009: a worker lingers at most 1 ms for the next) */
	{
		int ka[3], k;
		ok = 1;
		for (k = 0; k < 3; k++) {
			ka[k] = tcp_connect(port, 3000);
			ok = ok && ka[k] >= 0 && plain_hello(ka[k], 3000);
		}
		ok = ok && plain_hello(fd, 3000);
		for (k = 0; k < 3; k++)
			ok = ok && plain_hello(ka[k], 3000);
		check(ok, "three idle keep-alive connections hold no worker; each serves again");
		for (k = 0; k < 3; k++)
			if (ka[k] >= 0)
				close(ka[k]);
	}

	/* pipelined requests in one send */
	{
		char two[128], buf[1024];
		snprintf(two, sizeof two, "%s%s", hello_req, hello_req);
		send_all(fd, two, strlen(two));
		check(recv_until(fd, buf, sizeof buf, "hiHTTP/1.1 200", 2000) &&
		          recv_until(fd, buf, sizeof buf, hello_reply_end, 2000),
		      "two pipelined requests in one send are both answered");
	}

	/* a keep-alive connection idle past keep_alive_timeout_ms is closed */
	t0 = now_s();
	ok = closed_within(fd, 4000);
	t = now_s() - t0;
	snprintf(msg, sizeof msg, "idle keep-alive connection closed after %.2f s (keep_alive_timeout 1 s)", t);
	check(ok && t > 0.5, msg);
	close(fd);

	/* slowloris: a head byte every 300 ms never completes; closed at
	 * request_timeout after accept while others are served */
	{
		static const char head[] = "GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaa";
		int s[4], eof = 0, served = 1;
		size_t k = 0;
		for (i = 0; i < 4; i++)
			s[i] = tcp_connect(port, 3000);
		t0 = now_s();
		while (now_s() - t0 < 4.0 && !eof && k < sizeof head - 1) {
			char c;
			for (i = 0; i < 4; i++)
				send(s[i], head + k, 1, MSG_NOSIGNAL);
			k++;
			fd = tcp_connect(port, 3000);
			served = served && fd >= 0 && plain_hello(fd, 3000);
			if (fd >= 0)
				close(fd);
			sleep_ms(300);
			eof = recv(s[0], &c, 1, MSG_DONTWAIT) == 0;
		}
		t = now_s() - t0;
		snprintf(msg, sizeof msg,
		         "4 slowloris connections (a byte every 300 ms) closed after %.2f s (request_timeout 1.5 s)", t);
		check(eof && t > 1.2 && t < 3.5, msg);
		check(served, "requests are answered while slowloris connections trickle");
		for (i = 0; i < 4; i++)
			close(s[i]);
	}

	/* a new connection that sends nothing is closed at request_timeout */
	check(closed_within(idle[0], 3000) && closed_within(idle[1], 3000),
	      "idle connections (plain, TLS port) are closed at request_timeout");
	for (i = 0; i < IDLE; i++)
		close(idle[i]);
	for (i = 0; i < 3; i++)
		tls_cli_close(&tc[i]);

	/* mg_park: a detached connection answered by its owner serves the next
	 * keep-alive request through civetweb again (plain and TLS) */
	{
		static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
		static const char dreq[] = "GET /detach HTTP/1.1\r\nHost: x\r\n\r\n";
		char buf[256];
		int rc;
		det_reset();
		fd = tcp_connect(port, 3000);
		ok = fd >= 0 && send_all(fd, dreq, sizeof dreq - 1) == 0 && wait_for(&det_n, 1, 3000);
		ok = ok && send_all(dets[0].fd, reply, sizeof reply - 1) == 0;
		rc = ok ? mg_park(srv_ctx, &dets[0]) : -1;
		ok = ok && rc == 0 && dets[0].fd == -1 && recv_until(fd, buf, sizeof buf, "ok", 2000) &&
		     plain_hello(fd, 3000);
		check(ok, "mg_park: the next request on a parked plain connection is served");
		if (fd >= 0)
			close(fd);
		if (rc != 0 && det_n > 0)
			det_free(&dets[0]);

		det_reset();
		ok = tls_cli_open(&tc[0], tls_port) == 0 && tls_cli_write(&tc[0], dreq, sizeof dreq - 1) == 0 &&
		     wait_for(&det_n, 1, 3000);
		rc = -1;
		if (ok) {
			mbedtls_net_context mine;
			double end = now_s() + 3;
			int r;
			mbedtls_net_init(&mine);
			mine.fd = dets[0].fd;
			mbedtls_ssl_set_bio(dets[0].ssl, &mine, mbedtls_net_send, mbedtls_net_recv, NULL);
			while ((r = mbedtls_ssl_write(dets[0].ssl, (const unsigned char *)reply, sizeof reply - 1)) ==
			           MBEDTLS_ERR_SSL_WANT_WRITE &&
			       now_s() < end)
				tls_wait(mine.fd, POLLOUT, end);
			rc = r == (int)sizeof reply - 1 ? mg_park(srv_ctx, &dets[0]) : -1;
			ok = rc == 0 && tls_cli_read(&tc[0], buf, sizeof reply - 1, 2000) == (int)sizeof reply - 1 &&
			     tls_hello(&tc[0], 3000);
		}
		check(ok, "mg_park: the next request on a parked TLS connection is served");
		tls_cli_close(&tc[0]);
		if (rc != 0 && det_n > 0)
			det_free(&dets[0]);
	}

	t0 = now_s();
	mg_stop(srv_ctx);
	srv_ctx = NULL;
	snprintf(msg, sizeof msg, "mg_stop() with parked connections: %.2f s", now_s() - t0);
	check(now_s() - t0 < 3, msg);
}

/* ---- main ------------------------------------------------------------------ */

int main(void)
{
	char dir[32], cert[64];

	if (cw_begin("unit_civetweb_park", dir, cert) != 0)
		return 1;
	test_parking(cert);
	return cw_end("unit_civetweb_park", dir, cert);
}
