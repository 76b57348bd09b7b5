/*
 * unit_civetweb_ws.c — checks of our civetweb patch 0002
 * (vendor/patches/civetweb-*): a WebSocket frame is refused when its
 * declared length exceeds websocket_max_frame_size (default 1 MiB +
 * 64 KiB), before any allocation; frames up to the limit still work.
 *
 * Shared fixtures: unit_civetweb.h.
 */
#include "unit_civetweb.h"

/* ---- 0002: WebSocket frame size limit ------------------------------------ */

/* Sends one masked binary frame of n pattern bytes (j*7+1). */
static int send_pattern_frame(int fd, size_t n)
{
	static const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
	unsigned char *buf = malloc(n + 14);
	size_t h, j;
	int rc;

	if (!buf)
		return -1;
	h = ws_client_header(buf, MG_WEBSOCKET_OPCODE_BINARY, n, mask);
	for (j = 0; j < n; j++)
		buf[h + j] = (unsigned char)(j * 7u + 1u);
	ws_mask(buf + h, n, mask);
	rc = send_all(fd, buf, h + n);
	free(buf);
	return rc;
}

/* After a refused frame: 1 if the server sent close code 1009 and then
 * closed the connection within the socket timeout. *closed tells whether
 * the connection ended at all. */
static int expect_close_1009(int fd, int *closed)
{
	unsigned char buf[64];
	size_t n = 0;
	int saw1009 = 0;

	*closed = 0;
	for (;;) {
		ssize_t r = recv(fd, buf + n, sizeof buf - n, 0);
		if (r == 0 || (r < 0 && errno == ECONNRESET)) {
			*closed = 1;
			break;
		}
		if (r < 0)
			break; /* timeout */
		n += (size_t)r;
		if (n >= 4 && buf[0] == 0x88 && buf[1] == 2 && buf[2] == 0x03 && buf[3] == 0xf1)
			saw1009 = 1;
		if (n == sizeof buf)
			n = 0;
	}
	return saw1009 && *closed;
}

static void test_ws_limit(int port, struct mg_context *ctx)
{
	static const unsigned char mask[4] = {1, 2, 3, 4};
	unsigned char hdr[16];
	char msg[160];
	const char *opt;
	int fd, closed = 0;
	long rss0, rss1;
	size_t h, sent = 0;
	static char junk[65536];

	opt = mg_get_option(ctx, "websocket_max_frame_size");
	check(opt && strcmp(opt, "1114112") == 0,
	      "websocket_max_frame_size defaults to 1114112 (1 MiB + 64 KiB)");

	/* a 1,000,000-byte frame (Socket.IO maxPayload) still works */
	ws_reset(0);
	fd = tcp_connect(port, 5000);
	if (fd < 0 || ws_upgrade_plain(fd) != 0 || !wait_for(&ws_ready, 1, 3000)) {
		check(0, "plain ws upgrade");
		if (fd >= 0)
			close(fd);
		return;
	}
	send_pattern_frame(fd, 1000000);
	check(wait_frames(1, 5000) && ws_last_len == 1000000 && ws_last_ok,
	      "a 1,000,000-byte frame is accepted intact");
	close(fd);
	wait_for(&ws_closed, 1, 3000);

	/* a frame declaring 1 GiB is refused before anything is allocated */
	ws_reset(0);
	fd = tcp_connect(port, 3000);
	if (fd < 0 || ws_upgrade_plain(fd) != 0 || !wait_for(&ws_ready, 1, 3000)) {
		check(0, "plain ws upgrade");
		if (fd >= 0)
			close(fd);
		return;
	}
	sleep_ms(100);
	rss0 = rss_kib();
	h = ws_client_header(hdr, MG_WEBSOCKET_OPCODE_BINARY, (uint64_t)1 << 30, mask);
	send_all(fd, hdr, h);
	check(expect_close_1009(fd, &closed),
	      "a frame declaring 1 GiB: close 1009, then the connection is closed");
	/* keep sending payload: an unpatched server would be filling its 1 GiB
	 * buffer now */
	memset(junk, 'x', sizeof junk);
	while (sent < ((size_t)16 << 20) && send_all(fd, junk, sizeof junk) == 0)
		sent += sizeof junk;
	sleep_ms(200);
	rss1 = rss_kib();
	snprintf(msg, sizeof msg, "RSS after the 1 GiB frame: %+ld KiB (< 8 MiB; %zu bytes sent after it)",
	         rss1 - rss0, sent);
	check(rss0 > 0 && rss1 - rss0 < 8 * 1024, msg);
	close(fd);
	wait_for(&ws_closed, 1, 3000);
	pthread_mutex_lock(&log_mu);
	check(log_too_big >= 1, "the refusal is logged");
	pthread_mutex_unlock(&log_mu);
}

static void test_ws_limit_option(void)
{
	const char *opts[] = {"listening_ports", "127.0.0.1:0", "num_threads", "4",
	                      "websocket_max_frame_size", "65536", NULL};
	struct mg_context *ctx;
	int port = 0, fd, closed = 0, ok;

	ctx = start_server(opts, &port, NULL);
	if (!ctx || port <= 0) {
		check(0, "server with websocket_max_frame_size=65536 starts");
		if (ctx)
			mg_stop(ctx);
		return;
	}
	ws_reset(0);
	fd = tcp_connect(port, 3000);
	if (fd < 0 || ws_upgrade_plain(fd) != 0 || !wait_for(&ws_ready, 1, 3000)) {
		check(0, "plain ws upgrade");
	} else {
		send_pattern_frame(fd, 65536);
		ok = wait_frames(1, 3000) && ws_last_len == 65536 && ws_last_ok;
		send_pattern_frame(fd, 65537);
		ok = ok && expect_close_1009(fd, &closed);
		pthread_mutex_lock(&srv_mu);
		ok = ok && ws_frames == 1;
		pthread_mutex_unlock(&srv_mu);
		check(ok, "websocket_max_frame_size=65536: 65536 bytes pass, 65537 refused");
	}
	if (fd >= 0)
		close(fd);
	wait_for(&ws_closed, 1, 3000);
	mg_stop(ctx);
}

/* ---- main ------------------------------------------------------------------ */

int main(void)
{
	char dir[32], cert[64];
	struct mg_context *ctx;
	int port = 0, tls_port = 0;

	if (cw_begin("unit_civetweb_ws", dir, cert) != 0)
		return 1;
	ctx = cw_start_both(cert, &port, &tls_port);
	if (ctx) {
		test_ws_limit(port, ctx);
		mg_stop(ctx);
	}
	test_ws_limit_option();
	return cw_end("unit_civetweb_ws", dir, cert);
}
