/*
 * unit_civetweb_detach.c — checks of our civetweb patch 0006
 * (vendor/patches/civetweb-*): mg_detach(): a request handler or the
 * WebSocket ready handler takes the socket (and TLS context, and bytes
 * read past the request); civetweb then leaves it alone and frees the
 * worker. Plain HTTP, ws and wss.
 *
 * Shared fixtures: unit_civetweb.h.
 */
#include "unit_civetweb.h"

/* Plain HTTP: a handler detaches; civetweb neither writes nor closes the
 * socket afterwards, the bytes past the request come back as rest, and the
 * two workers serve other requests while three detached sockets stay open. */
static void test_detach_plain(int port)
{
	static const char req[] = "GET /detach HTTP/1.1\r\nHost: x\r\n\r\nEXTRA";
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
	int fds[3], i, ok = 1, eof = 0;
	char buf[512], msg[200];

	det_reset();
	for (i = 0; i < 3; i++) {
		fds[i] = tcp_connect(port, 3000);
		if (fds[i] < 0 || send_all(fds[i], req, sizeof req - 1) != 0 ||
		    !wait_for(&det_n, i + 1, 5000))
			ok = 0;
	}
	check(ok, "three requests detached by their handler on a 2-worker server");
	if (!ok)
		goto out;
	pthread_mutex_lock(&srv_mu);
	ok = det_refused == 0;
	for (i = 0; i < 3; i++)
		ok = ok && dets[i].fd >= 0 && dets[i].ssl == NULL && dets[i].is_ssl == 0 &&
		     dets[i].restlen == 5 && memcmp(dets[i].rest, "EXTRA", 5) == 0 &&
		     peer_port(&dets[i]) == local_port(fds[i]) &&
		     (fcntl(dets[i].fd, F_GETFL) & O_NONBLOCK);
	pthread_mutex_unlock(&srv_mu);
	check(ok, "mg_detach: non-blocking fd, no TLS, rest = the bytes past the request, peer address");

	/* the owner answers on the detached socket; civetweb added nothing */
	ok = 1;
	for (i = 0; i < 3; i++) {
		ok = ok && send_all(dets[i].fd, reply, sizeof reply - 1) == 0;
		ok = ok && recv_for(fds[i], buf, sizeof buf, 600, &eof) == sizeof reply - 1 &&
		     strcmp(buf, reply) == 0 && !eof;
	}
	snprintf(msg, sizeof msg,
	         "civetweb neither writes to nor closes a detached socket (got \"%.40s\"%s)", buf,
	         eof ? ", EOF" : "");
	check(ok, msg);

	/* the workers went back to the pool: another request is served */
	{
		static const char creq[] =
		    "POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "2\r\nab\r\n0\r\n\r\n";
		int fd = tcp_connect(port, 3000);
		size_t n = 0;
		if (fd >= 0 && send_all(fd, creq, sizeof creq - 1) == 0)
			n = recv_for(fd, buf, sizeof buf, 3000, &eof);
		check(n > 0 && strncmp(buf, "HTTP/1.1 200", 12) == 0 && strstr(buf, "\r\n\r\nok"),
		      "with three detached sockets open the 2-worker server answers another request");
		pthread_mutex_lock(&srv_mu);
		check(det_refused == 1, "mg_detach refuses a chunked request body (-1), which is then answered");
		pthread_mutex_unlock(&srv_mu);
		if (fd >= 0)
			close(fd);
	}
out:
	for (i = 0; i < 3; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		if (i < det_n)
			det_free(&dets[i]);
	}
}

/* WebSocket: the ready handler detaches; the frame sent along with the
 * upgrade request is in rest, later frames arrive on the fd, and no close
 * handler runs when the connection ends. */
static void test_detach_ws(int port)
{
	static const unsigned char mask[4] = {9, 8, 7, 6};
	unsigned char frame[64], frame2[64];
	char req[512], buf[512];
	size_t h, fl, fl2, n = 0;
	int fd, ok = 0, eof;

	det_reset();
	h = ws_client_header(frame, MG_WEBSOCKET_OPCODE_TEXT, 5, mask);
	memcpy(frame + h, "hello", 5);
	ws_mask(frame + h, 5, mask);
	fl = h + 5;
	h = ws_client_header(frame2, MG_WEBSOCKET_OPCODE_TEXT, 3, mask);
	memcpy(frame2 + h, "two", 3);
	ws_mask(frame2 + h, 3, mask);
	fl2 = h + 3;
	memcpy(req, wsd_request, sizeof wsd_request - 1);
	memcpy(req + sizeof wsd_request - 1, frame, fl);

	fd = tcp_connect(port, 3000);
	if (fd >= 0 && send_all(fd, req, sizeof wsd_request - 1 + fl) == 0 && wait_for(&det_n, 1, 5000)) {
		pthread_mutex_lock(&srv_mu);
		ok = dets[0].fd >= 0 && dets[0].restlen == fl && memcmp(dets[0].rest, frame, fl) == 0;
		pthread_mutex_unlock(&srv_mu);
	}
	check(ok, "ws ready handler detaches; the frame sent with the upgrade request is rest");
	if (ok) {
		size_t got = recv_for(fd, buf, sizeof buf, 2000, &eof);
		ok = got > 12 && strncmp(buf, "HTTP/1.1 101", 12) == 0;
		ok = ok && send_all(fd, frame2, fl2) == 0;
		while (ok && n < fl2) {
			struct pollfd p = {dets[0].fd, POLLIN, 0};
			ssize_t r;
			if (poll(&p, 1, 3000) <= 0)
				break;
			r = recv(dets[0].fd, buf + n, sizeof buf - n, 0);
			if (r <= 0)
				break;
			n += (size_t)r;
		}
		check(ok && n == fl2 && memcmp(buf, frame2, fl2) == 0,
		      "the next frame is read from the detached fd, untouched by civetweb");
	}
	if (fd >= 0)
		close(fd);
	if (det_n > 0)
		det_free(&dets[0]);
	sleep_ms(200);
	pthread_mutex_lock(&srv_mu);
	check(wsd_closed == 0, "no close handler runs for a detached WebSocket");
	pthread_mutex_unlock(&srv_mu);
}

/* wss: the detached TLS context works on the caller's own fd holder */
static void test_detach_wss(int tls_port)
{
	struct tls_cli c;
	mbedtls_net_context mine;
	char buf[256];
	static const unsigned char out[] = {0x81, 3, 'y', 'e', 's'};
	int ok = 0, r = 0;
	double deadline;

	det_reset();
	if (tls_cli_open(&c, tls_port) == 0 && tls_cli_write(&c, wsd_request, sizeof wsd_request - 1) == 0 &&
	    wait_for(&det_n, 1, 5000)) {
		pthread_mutex_lock(&srv_mu);
		ok = dets[0].fd >= 0 && dets[0].ssl != NULL && dets[0].is_ssl == 1;
		pthread_mutex_unlock(&srv_mu);
	}
	check(ok, "wss ready handler detaches: fd and mbedtls context handed over");
	if (ok) {
		ok = tls_cli_read(&c, buf, 12, 3000) == 12 && strncmp(buf, "HTTP/1.1 101", 12) == 0;
		/* skip the rest of the 101 head */
		while (ok && !(buf[0] == '\r' && buf[1] == '\n' && buf[2] == '\r' && buf[3] == '\n')) {
			memmove(buf, buf + 1, 3);
			if (tls_cli_read(&c, buf + 3, 1, 3000) != 1)
				ok = 0;
		}
		mbedtls_net_init(&mine);
		mine.fd = dets[0].fd;
		mbedtls_ssl_set_bio(dets[0].ssl, &mine, mbedtls_net_send, mbedtls_net_recv, NULL);
		deadline = now_s() + 5;
		while (ok && (r = mbedtls_ssl_write(dets[0].ssl, out, sizeof out)) == MBEDTLS_ERR_SSL_WANT_WRITE &&
		       now_s() < deadline)
			tls_wait(mine.fd, POLLOUT, deadline);
		ok = ok && r == (int)sizeof out && tls_cli_read(&c, buf, sizeof out, 3000) == (int)sizeof out &&
		     memcmp(buf, out, sizeof out) == 0;
		check(ok, "the caller writes a frame through the detached TLS context on its own bio");
	}
	tls_cli_close(&c);
	if (det_n > 0)
		det_free(&dets[0]);
}

static void test_detach(const char *cert)
{
	const char *opts[] = {"listening_ports", "127.0.0.1:0,127.0.0.1:0s", "ssl_certificate", cert,
	                      "num_threads", "2", NULL};
	int port = 0, tls_port = 0;

	srv_ctx = start_server(opts, &port, &tls_port);
	if (!srv_ctx || port <= 0 || tls_port <= 0) {
		check(0, "detach server starts");
		if (srv_ctx)
			mg_stop(srv_ctx);
		return;
	}
	mg_set_request_handler(srv_ctx, "/detach", on_detach, NULL);
	mg_set_request_handler(srv_ctx, "/chunked", on_chunked, NULL);
	mg_set_websocket_handler(srv_ctx, "/wsd", ws_connect, wsd_ready, ws_on_data, wsd_close, NULL);
	test_detach_plain(port);
	test_detach_ws(port);
	test_detach_wss(tls_port);
	mg_stop(srv_ctx);
	srv_ctx = NULL;
}

/* ---- main ------------------------------------------------------------------ */

int main(void)
{
	char dir[32], cert[64];

	if (cw_begin("unit_civetweb_detach", dir, cert) != 0)
		return 1;
	test_detach(cert);
	return cw_end("unit_civetweb_detach", dir, cert);
}
