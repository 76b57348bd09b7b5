/*
 * unit_civetweb.c — checks our civetweb patches (vendor/patches/civetweb-*):
 *
 *   0001  an idle TCP connection to the TLS port costs no CPU and does not
 *         hold up mg_stop()
 *   0002  a WebSocket frame is refused when its declared length exceeds
 *         websocket_max_frame_size (default 1 MiB + 64 KiB), before any
 *         allocation; frames up to the limit still work
 *   0003  wss: mg_websocket_write() from another thread while the worker
 *         reads the same TLS connection (TLS 1.2 and 1.3), payloads intact
 *   0004  tcp_nodelay is on by default, and on the accepted socket
 *   0005  a client's close_notify prints no "SSL read failed" on stderr
 *   0006  mg_detach(): a request handler or the WebSocket ready handler
 *         takes the socket (and TLS context, and bytes read past the
 *         request); civetweb then leaves it alone and frees the worker
 *   0007  the parking set: idle, slowloris and keep-alive connections
 *         (plain and TLS) wait in epoll, not in the 2 workers; timeouts;
 *         mg_park() hands a detached connection back to keep-alive
 *   0008  max_connections_per_ip refuses the connection past the cap and
 *         logs once; closed and detached connections give their place back
 *   0009  the 1 ms keep-alive linger: idle keep-alive connections still
 *         hold no worker
 *
 * civetweb runs in-process on 127.0.0.1 with ephemeral ports; the TLS
 * certificate is made here with mbedtls; the wss client is an mbedtls
 * client thread. Every wait is bounded (socket timeouts, deadlines, and an
 * alarm() as the last resort).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "civetweb.h"
#include "mbedtls/ctr_drbg.h"
#include "mbedtls/ecp.h"
#include "mbedtls/entropy.h"
#include "mbedtls/net_sockets.h"
#include "mbedtls/pk.h"
#include "mbedtls/ssl.h"
#include "mbedtls/x509_crt.h"
#include "psa/crypto.h"

/* dm.c provides mbedtls_hardware_poll() (MBEDTLS_ENTROPY_HARDWARE_ALT) */
#include "../src/core/dm.c"

static int passed, failed;

static void check(int cond, const char *what)
{
	if (cond) {
		passed++;
		printf("ok %d - %s\n", passed + failed, what);
	} else {
		failed++;
		printf("not ok %d - %s\n", passed + failed, what);
	}
	fflush(stdout);
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
	struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
}

static long rss_kib(void)
{
	long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ---- civetweb log: count lines, show them as comments ----------------- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static int log_too_big; /* "exceeds websocket_max_frame_size" lines */
static int log_ipcap;   /* "max_connections_per_ip" lines */

static int on_log(const struct mg_connection *conn, const char *msg)
{
	(void)conn;
	pthread_mutex_lock(&log_mu);
	if (strstr(msg, "websocket_max_frame_size"))
		log_too_big++;
	if (strstr(msg, "max_connections_per_ip"))
		log_ipcap++;
	printf("# civetweb: %s\n", msg);
	fflush(stdout);
	pthread_mutex_unlock(&log_mu);
	return 1;
}

/* ---- a self-signed certificate (key and certificate in one PEM file) --- */

static mbedtls_entropy_context entropy;
static mbedtls_ctr_drbg_context drbg;

static int make_cert(const char *path)
{
	mbedtls_pk_context key;
	mbedtls_x509write_cert crt;
	static unsigned char pem[8192];
	unsigned char serial[] = {0x01, 0x23};
	FILE *f = NULL;
	int rc = -1;

	mbedtls_pk_init(&key);
	mbedtls_x509write_crt_init(&crt);
	if (mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
	    mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key),
	                        mbedtls_ctr_drbg_random, &drbg) != 0)
		goto out;
	f = fopen(path, "w");
	if (!f)
		goto out;
	if (mbedtls_pk_write_key_pem(&key, pem, sizeof pem) != 0)
		goto out;
	fputs((const char *)pem, f);

	mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&crt, &key);
	mbedtls_x509write_crt_set_issuer_key(&crt, &key);
	if (mbedtls_x509write_crt_set_subject_name(&crt, "CN=localhost") != 0 ||
	    mbedtls_x509write_crt_set_issuer_name(&crt, "CN=localhost") != 0 ||
	    mbedtls_x509write_crt_set_serial_raw(&crt, serial, sizeof serial) != 0 ||
	    mbedtls_x509write_crt_set_validity(&crt, "20240101000000", "20991231235959") != 0 ||
	    mbedtls_x509write_crt_pem(&crt, pem, sizeof pem, mbedtls_ctr_drbg_random, &drbg) != 0)
		goto out;
	fputs((const char *)pem, f);
	rc = 0;
out:
	if (f && fclose(f) != 0)
		rc = -1;
	mbedtls_x509write_crt_free(&crt);
	mbedtls_pk_free(&key);
	return rc;
}

/* ---- sockets ------------------------------------------------------------ */

static int tcp_connect(int port, int timeout_ms)
{
	struct sockaddr_in a;
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int send_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static const char ws_request[] =
    "GET /ws HTTP/1.1\r\n"
    "Host: 127.0.0.1\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

/* Sends the upgrade request on a plain socket and reads the reply header.
 * 0 on "101", -1 otherwise. */
static int ws_upgrade_plain(int fd)
{
	char buf[2048];
	size_t n = 0;

	if (send_all(fd, ws_request, sizeof ws_request - 1) != 0)
		return -1;
	/* read byte by byte: nothing after the header may be consumed here */
	while (n < sizeof buf - 1) {
		ssize_t r = recv(fd, buf + n, 1, 0);
		if (r <= 0)
			return -1;
		n++;
		buf[n] = 0;
		if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0)
			return strncmp(buf, "HTTP/1.1 101", 12) == 0 ? 0 : -1;
	}
	return -1;
}

/* A masked client frame: header for `len` payload bytes into hdr (returns
 * its size); the payload is masked in place. */
static size_t ws_client_header(unsigned char *hdr, int opcode, uint64_t len,
                               const unsigned char mask[4])
{
	size_t h = 0;
	hdr[h++] = (unsigned char)(0x80 | opcode);
	if (len < 126) {
		hdr[h++] = (unsigned char)(0x80 | len);
	} else if (len <= 0xffff) {
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (unsigned char)(len >> 8);
		hdr[h++] = (unsigned char)len;
	} else {
		int i;
		hdr[h++] = 0x80 | 127;
		for (i = 7; i >= 0; i--)
			hdr[h++] = (unsigned char)(len >> (8 * i));
	}
	memcpy(hdr + h, mask, 4);
	return h + 4;
}

static void ws_mask(unsigned char *p, size_t n, const unsigned char mask[4])
{
	size_t i;
	for (i = 0; i < n; i++)
		p[i] ^= mask[i & 3];
}

/* Message i of a stream: 4-byte big-endian sequence number, then a pattern
 * that depends on the stream tag. Sizes vary; every 97th is over one TLS
 * record (16 KiB). */
static size_t msg_len(uint32_t i)
{
	return (i % 97 == 0) ? 4 + 20000 + i % 100 : 4 + (i * 7919u) % 3000;
}

static void msg_fill(unsigned char *p, uint32_t i, unsigned tag)
{
	size_t j, n = msg_len(i);
	p[0] = (unsigned char)(i >> 24);
	p[1] = (unsigned char)(i >> 16);
	p[2] = (unsigned char)(i >> 8);
	p[3] = (unsigned char)i;
	for (j = 4; j < n; j++)
		p[j] = (unsigned char)(i * 31u + j * tag + tag);
}

static int msg_ok(const unsigned char *p, size_t n, uint32_t i, unsigned tag)
{
	size_t j;
	if (n != msg_len(i))
		return 0;
	if (((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]) != i)
		return 0;
	for (j = 4; j < n; j++)
		if (p[j] != (unsigned char)(i * 31u + j * tag + tag))
			return 0;
	return 1;
}

/* ---- the server side ----------------------------------------------------- */

enum { TAG_UP = 3, TAG_DOWN = 5 };   /* client->server, broadcast */
#define RACE_N 2000u

static pthread_mutex_t srv_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t srv_cv = PTHREAD_COND_INITIALIZER;
static struct mg_connection *ws_conn; /* registry of one: set in ready */
static int ws_ready;
static int ws_closed;
static int ws_race_mode;       /* data handler: check stream + echo */
static unsigned ws_frames;     /* frames received */
static size_t ws_last_len;
static int ws_last_ok;         /* plain mode: payload pattern intact */
static uint32_t ws_up_next;    /* race mode: next expected sequence */
static int ws_up_bad;
static int ws_echo_fail;

static int ws_connect(const struct mg_connection *conn, void *cb)
{
	(void)conn;
	(void)cb;
	return 0;
}

static void ws_on_ready(struct mg_connection *conn, void *cb)
{
	(void)cb;
	pthread_mutex_lock(&srv_mu);
	ws_conn = conn;
	ws_ready = 1;
	pthread_cond_broadcast(&srv_cv);
	pthread_mutex_unlock(&srv_mu);
}

static int ws_on_data(struct mg_connection *conn, int flags, char *data,
                      size_t len, void *cb)
{
	const unsigned char *p = (const unsigned char *)data;
	int op = flags & 0xf, race;
	(void)cb;

	if (op == MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE)
		return 0;
	if (op != MG_WEBSOCKET_OPCODE_BINARY)
		return 1;
	pthread_mutex_lock(&srv_mu);
	race = ws_race_mode;
	pthread_mutex_unlock(&srv_mu);
	if (race) {
		/* Only this worker thread touches ws_up_next/ws_up_bad until the
		 * connection is closed. */
		if (!msg_ok(p, len, ws_up_next, TAG_UP))
			ws_up_bad++;
		ws_up_next++;
		/* Second writer on the worker thread, racing the broadcaster. */
		if (mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_TEXT, data, len) <= 0)
			ws_echo_fail++;
	}
	pthread_mutex_lock(&srv_mu);
	if (!race) {
		size_t j;
		ws_last_ok = 1;
		for (j = 0; j < len; j++)
			if (p[j] != (unsigned char)(j * 7u + 1u)) {
				ws_last_ok = 0;
				break;
			}
	}
	ws_frames++;
	ws_last_len = len;
	pthread_cond_broadcast(&srv_cv);
	pthread_mutex_unlock(&srv_mu);
	return 1;
}

static void ws_on_close(const struct mg_connection *conn, void *cb)
{
	(void)conn;
	(void)cb;
	pthread_mutex_lock(&srv_mu);
	ws_conn = NULL;
	ws_closed = 1;
	pthread_cond_broadcast(&srv_cv);
	pthread_mutex_unlock(&srv_mu);
}

static void ws_reset(int race)
{
	pthread_mutex_lock(&srv_mu);
	ws_conn = NULL;
	ws_ready = ws_closed = 0;
	ws_race_mode = race;
	ws_frames = 0;
	ws_last_len = 0;
	ws_last_ok = 0;
	ws_up_next = 0;
	ws_up_bad = ws_echo_fail = 0;
	pthread_mutex_unlock(&srv_mu);
}

/* Waits until *flag (read under srv_mu) is at least want, at most ms. */
static int wait_for(const int *flag, int want, int ms)
{
	struct timespec until;
	int ok;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&srv_mu);
	while (*flag < want)
		if (pthread_cond_timedwait(&srv_cv, &srv_mu, &until) != 0)
			break;
	ok = *flag >= want;
	pthread_mutex_unlock(&srv_mu);
	return ok;
}

static int wait_frames(unsigned want, int ms)
{
	double end = now_s() + ms / 1000.0;
	for (;;) {
		unsigned n;
		pthread_mutex_lock(&srv_mu);
		n = ws_frames;
		pthread_mutex_unlock(&srv_mu);
		if (n >= want)
			return 1;
		if (now_s() > end)
			return 0;
		sleep_ms(10);
	}
}

static struct mg_context *start_server(const char **opts, int *port, int *tls_port)
{
	struct mg_callbacks cb;
	struct mg_server_port ports[4];
	struct mg_context *ctx;
	int i, n;

	memset(&cb, 0, sizeof cb);
	cb.log_message = on_log;
	ctx = mg_start(&cb, NULL, opts);
	if (!ctx)
		return NULL;
	mg_set_websocket_handler(ctx, "/ws", ws_connect, ws_on_ready, ws_on_data,
	                         ws_on_close, NULL);
	memset(ports, 0, sizeof ports);
	n = mg_get_server_ports(ctx, 4, ports);
	if (port)
		*port = 0;
	if (tls_port)
		*tls_port = 0;
	for (i = 0; i < n; i++) {
		if (ports[i].is_ssl && tls_port)
			*tls_port = ports[i].port;
		if (!ports[i].is_ssl && port)
			*port = ports[i].port;
	}
	return ctx;
}

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

static int tls_wait(int fd, short ev, double deadline)
{
	struct pollfd p = {fd, ev, 0};
	int ms = (int)((deadline - now_s()) * 1000);
	if (ms <= 0)
		return -1;
	if (ms > 200)
		ms = 200;
	return poll(&p, 1, ms) < 0 && errno != EINTR ? -1 : 0;
}

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

/* ---- 0004: tcp_nodelay ----------------------------------------------------- */

/* Our process holds both ends: find the server's accepted socket (local
 * port = server port, peer port = our client's port) among our own fds. */
static int accepted_nodelay(int server_port, int client_fd)
{
	struct sockaddr_in me;
	socklen_t sl = sizeof me;
	double end = now_s() + 3;

	if (getsockname(client_fd, (struct sockaddr *)&me, &sl) != 0)
		return -1;
	while (now_s() < end) {
		DIR *d = opendir("/proc/self/fd");
		struct dirent *e;
		int found = -1;
		if (!d)
			return -1;
		while ((e = readdir(d)) != NULL) {
			struct sockaddr_in l, p;
			socklen_t ll = sizeof l, pl = sizeof p;
			int fd = atoi(e->d_name), on = 0;
			socklen_t ol = sizeof on;
			if (e->d_name[0] == '.' || fd == client_fd)
				continue;
			if (getsockname(fd, (struct sockaddr *)&l, &ll) != 0 || l.sin_family != AF_INET ||
			    ntohs(l.sin_port) != server_port)
				continue;
			if (getpeername(fd, (struct sockaddr *)&p, &pl) != 0 || p.sin_port != me.sin_port)
				continue;
			if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &ol) == 0)
				found = on != 0;
		}
		closedir(d);
		if (found >= 0)
			return found;
		sleep_ms(20);
	}
	return -1;
}

static void test_nodelay(struct mg_context *ctx, int port)
{
	const char *opt = mg_get_option(ctx, "tcp_nodelay");
	int fd;

	check(opt && strcmp(opt, "1") == 0, "tcp_nodelay defaults to \"1\"");
	fd = tcp_connect(port, 3000);
	check(fd >= 0 && accepted_nodelay(port, fd) == 1,
	      "the accepted socket has TCP_NODELAY set");
	if (fd >= 0)
		close(fd);
}

/* ---- 0006: mg_detach ------------------------------------------------------- */

#define DET_MAX 8
static struct mg_detached dets[DET_MAX]; /* under srv_mu */
static int det_n;                        /* detached so far */
static int det_refused;                  /* mg_detach() returned -1 */
static int wsd_closed;                   /* close handler of /wsd ran */
static struct mg_context *srv_ctx;

/* /detach: the handler takes the connection and replies nothing itself */
static int on_detach(struct mg_connection *conn, void *cb)
{
	struct mg_detached d;
	(void)cb;
	if (mg_detach(conn, &d) != 0) {
		pthread_mutex_lock(&srv_mu);
		det_refused++;
		pthread_mutex_unlock(&srv_mu);
		mg_send_http_error(conn, 500, "%s", "detach refused");
		return 500;
	}
	pthread_mutex_lock(&srv_mu);
	if (det_n < DET_MAX)
		dets[det_n] = d;
	det_n++;
	pthread_cond_broadcast(&srv_cv);
	pthread_mutex_unlock(&srv_mu);
	return 1;
}

/* /chunked: a chunked body cannot be detached; the request is answered */
static int on_chunked(struct mg_connection *conn, void *cb)
{
	struct mg_detached d;
	char body[64];
	(void)cb;
	if (mg_detach(conn, &d) != 0) {
		pthread_mutex_lock(&srv_mu);
		det_refused++;
		pthread_mutex_unlock(&srv_mu);
	}
	while (mg_read(conn, body, sizeof body) > 0)
		;
	mg_printf(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
	return 200;
}

static void wsd_ready(struct mg_connection *conn, void *cb)
{
	on_detach(conn, cb);
}

static void wsd_close(const struct mg_connection *conn, void *cb)
{
	(void)conn;
	(void)cb;
	pthread_mutex_lock(&srv_mu);
	wsd_closed++;
	pthread_mutex_unlock(&srv_mu);
}

static void det_reset(void)
{
	pthread_mutex_lock(&srv_mu);
	det_n = det_refused = wsd_closed = 0;
	memset(dets, 0, sizeof dets);
	pthread_mutex_unlock(&srv_mu);
}

static const char wsd_request[] =
    "GET /wsd HTTP/1.1\r\n"
    "Host: 127.0.0.1\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

/* Frees what a detached connection holds (TLS context, rest, socket). */
static void det_free(struct mg_detached *d)
{
	if (d->ssl) {
		mbedtls_ssl_free(d->ssl);
		free(d->ssl);
	}
	free(d->rest);
	if (d->fd >= 0)
		close(d->fd);
	memset(d, 0, sizeof *d);
	d->fd = -1;
}

/* Reads what arrives on fd within ms into buf (NUL-terminated); returns
 * the length, and *eof = 1 if the peer closed. */
static size_t recv_for(int fd, char *buf, size_t cap, int ms, int *eof)
{
	size_t n = 0;
	double end = now_s() + ms / 1000.0;
	*eof = 0;
	while (n < cap - 1 && now_s() < end) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t r;
		if (poll(&p, 1, 50) <= 0)
			continue;
		r = recv(fd, buf + n, cap - 1 - n, MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno == ECONNRESET)) {
			*eof = 1;
			break;
		}
		if (r > 0)
			n += (size_t)r;
	}
	buf[n] = 0;
	return n;
}

/* Reads from fd until what was read (since the call) contains `end`, at
 * most ms. 1 if it did. */
static int recv_until(int fd, char *buf, size_t cap, const char *end, int ms)
{
	size_t n = 0;
	double stop = now_s() + ms / 1000.0;
	while (n < cap - 1 && now_s() < stop) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t r;
		if (poll(&p, 1, 50) <= 0)
			continue;
		r = recv(fd, buf + n, 1, MSG_DONTWAIT); /* nothing past `end` */
		if (r <= 0)
			return 0;
		n += (size_t)r;
		buf[n] = 0;
		if (strstr(buf, end))
			return 1;
	}
	return 0;
}

static int local_port(int fd)
{
	struct sockaddr_in me;
	socklen_t sl = sizeof me;
	return getsockname(fd, (struct sockaddr *)&me, &sl) == 0 ? ntohs(me.sin_port) : -1;
}

static int peer_port(const struct mg_detached *d)
{
	const struct sockaddr_in *a = (const struct sockaddr_in *)&d->peer;
	return a->sin_family == AF_INET ? ntohs(a->sin_port) : -2;
}

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

/* A minimal blocking TLS client (mbedtls) for wss tests. */
struct tls_cli {
	mbedtls_ssl_context ssl;
	mbedtls_ssl_config conf;
	mbedtls_net_context net;
};

static int tls_cli_open(struct tls_cli *c, int port)
{
	int r;
	double deadline = now_s() + 10;
	mbedtls_ssl_init(&c->ssl);
	mbedtls_ssl_config_init(&c->conf);
	mbedtls_net_init(&c->net);
	c->net.fd = tcp_connect(port, 5000);
	if (c->net.fd < 0)
		return -1;
	mbedtls_net_set_nonblock(&c->net);
	if (mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
	                                MBEDTLS_SSL_PRESET_DEFAULT) != 0)
		return -1;
	mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_NONE);
	mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &drbg);
	if (mbedtls_ssl_setup(&c->ssl, &c->conf) != 0)
		return -1;
	mbedtls_ssl_set_bio(&c->ssl, &c->net, mbedtls_net_send, mbedtls_net_recv, NULL);
	while ((r = mbedtls_ssl_handshake(&c->ssl)) != 0) {
		if (r != MBEDTLS_ERR_SSL_WANT_READ && r != MBEDTLS_ERR_SSL_WANT_WRITE)
			return -1;
		if (tls_wait(c->net.fd, r == MBEDTLS_ERR_SSL_WANT_READ ? POLLIN : POLLOUT, deadline) != 0)
			return -1;
	}
	return 0;
}

static int tls_cli_write(struct tls_cli *c, const void *p, size_t n)
{
	double deadline = now_s() + 5;
	size_t off = 0;
	while (off < n) {
		int r = mbedtls_ssl_write(&c->ssl, (const unsigned char *)p + off, n - off);
		if (r == MBEDTLS_ERR_SSL_WANT_WRITE || r == MBEDTLS_ERR_SSL_WANT_READ) {
			if (tls_wait(c->net.fd, POLLOUT, deadline) != 0)
				return -1;
			continue;
		}
		if (r <= 0)
			return -1;
		off += (size_t)r;
	}
	return 0;
}

/* Reads until `want` bytes or the deadline; returns bytes read, -1 on EOF
 * before any. */
static int tls_cli_read(struct tls_cli *c, char *buf, size_t want, int ms)
{
	double deadline = now_s() + ms / 1000.0;
	size_t n = 0;
	while (n < want && now_s() < deadline) {
		int r = mbedtls_ssl_read(&c->ssl, (unsigned char *)buf + n, want - n);
		if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) {
			tls_wait(c->net.fd, POLLIN, deadline);
			continue;
		}
		if (r <= 0)
			return n ? (int)n : -1;
		n += (size_t)r;
	}
	return (int)n;
}

static void tls_cli_close(struct tls_cli *c)
{
	mbedtls_net_free(&c->net);
	mbedtls_ssl_free(&c->ssl);
	mbedtls_ssl_config_free(&c->conf);
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

/* ---- 0007: the parking set ------------------------------------------------- */

static int on_hello(struct mg_connection *conn, void *cb)
{
	(void)cb;
	mg_printf(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
	return 200;
}

static const char hello_req[] = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
static const char hello_reply_end[] = "\r\n\r\nhi";

/* Sends a request and reads until the "hi" body; 1 if it came. */
static int plain_hello(int fd, int ms)
{
	char buf[512];
	size_t n = 0;
	double end = now_s() + ms / 1000.0;
	if (send_all(fd, hello_req, sizeof hello_req - 1) != 0)
		return 0;
	while (n < sizeof buf - 1 && now_s() < end) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t r;
		if (poll(&p, 1, 50) <= 0)
			continue;
		r = recv(fd, buf + n, sizeof buf - 1 - n, MSG_DONTWAIT);
		if (r <= 0)
			return 0;
		n += (size_t)r;
		buf[n] = 0;
		if (strstr(buf, hello_reply_end))
			return strncmp(buf, "HTTP/1.1 200", 12) == 0;
	}
	return 0;
}

static int tls_hello(struct tls_cli *c, int ms)
{
	char buf[512];
	int n = 0;
	double end = now_s() + ms / 1000.0;
	if (tls_cli_write(c, hello_req, sizeof hello_req - 1) != 0)
		return 0;
	while (n < (int)sizeof buf - 1 && now_s() < end) {
		int r = tls_cli_read(c, buf + n, 1, 200);
		if (r < 0)
			return 0;
		n += r;
		buf[n] = 0;
		if (strstr(buf, hello_reply_end))
			return strncmp(buf, "HTTP/1.1 200", 12) == 0;
	}
	return 0;
}

/* 1 if the peer closes fd within ms (reading and dropping anything). */
static int closed_within(int fd, int ms)
{
	char buf[256];
	int eof = 0;
	double end = now_s() + ms / 1000.0;
	while (!eof && now_s() < end)
		recv_for(fd, buf, sizeof buf, 100, &eof);
	return eof;
}

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

/* ---- 0008: max_connections_per_ip ------------------------------------------ */

static void test_ipcap(void)
{
	const char *opts[] = {"listening_ports", "127.0.0.1:0", "num_threads", "2",
	                      "max_connections_per_ip", "3", NULL};
	int port = 0, fd[5], i, eof, ok, logged;
	char buf[64];

	srv_ctx = start_server(opts, &port, NULL);
	if (!srv_ctx || port <= 0) {
		check(0, "server with max_connections_per_ip=3 starts");
		if (srv_ctx)
			mg_stop(srv_ctx);
		return;
	}
	mg_set_request_handler(srv_ctx, "/hello", on_hello, NULL);
	mg_set_request_handler(srv_ctx, "/detach", on_detach, NULL);
	pthread_mutex_lock(&log_mu);
	log_ipcap = 0;
	pthread_mutex_unlock(&log_mu);

	for (i = 0; i < 3; i++)
		fd[i] = tcp_connect(port, 3000);
	sleep_ms(100);
	fd[3] = tcp_connect(port, 3000);
	fd[4] = tcp_connect(port, 3000);
	recv_for(fd[3], buf, sizeof buf, 1000, &eof);
	ok = eof;
	recv_for(fd[4], buf, sizeof buf, 300, &eof);
	ok = ok && eof;
	recv_for(fd[0], buf, sizeof buf, 300, &eof);
	check(ok && !eof, "max_connections_per_ip=3: the 4th and 5th connection are closed, the 3 stay");
	sleep_ms(100);
	pthread_mutex_lock(&log_mu);
	logged = log_ipcap;
	pthread_mutex_unlock(&log_mu);
	check(logged == 1, "the refusal is logged once for the address");

	/* a connection that closes gives its place back */
	close(fd[0]);
	sleep_ms(300);
	fd[0] = tcp_connect(port, 3000);
	check(fd[0] >= 0 && plain_hello(fd[0], 3000), "after one closes, a new connection is served");

	/* a detached connection no longer counts */
	det_reset();
	ok = send_all(fd[1], "GET /detach HTTP/1.1\r\nHost: x\r\n\r\n", 33) == 0 && wait_for(&det_n, 1, 3000);
	fd[3] = tcp_connect(port, 3000);
	check(ok && fd[3] >= 0 && plain_hello(fd[3], 3000),
	      "a connection handed over by mg_detach leaves room for another");
	if (det_n > 0)
		det_free(&dets[0]);
	for (i = 0; i < 5; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	mg_stop(srv_ctx);
	srv_ctx = NULL;
}

/* ---- main ------------------------------------------------------------------ */

int main(void)
{
	char dir[] = "/tmp/unit_civetweb.XXXXXX", cert[64];
	struct mg_context *ctx;
	int port = 0, tls_port = 0;

	alarm(300); /* the last resort against a hang */
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (psa_crypto_init() != PSA_SUCCESS) {
		printf("Bail out! psa_crypto_init\n");
		return 1;
	}
	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
	                          (const unsigned char *)"unit_civetweb", 13) != 0 ||
	    !mkdtemp(dir)) {
		printf("Bail out! random generator or temp dir\n");
		return 1;
	}
	snprintf(cert, sizeof cert, "%s/cert.pem", dir);
	if (make_cert(cert) != 0) {
		printf("Bail out! cannot make a certificate\n");
		return 1;
	}
	mg_init_library(0);

	test_idle_tls(cert);

	{
		const char *opts[] = {"listening_ports", "127.0.0.1:0,127.0.0.1:0s",
		                      "ssl_certificate", cert, "num_threads", "8", NULL};
		ctx = start_server(opts, &port, &tls_port);
	}
	if (!ctx || port <= 0 || tls_port <= 0) {
		check(0, "plain + TLS server starts");
	} else {
		test_ws_limit(port, ctx);
		test_wss_race(tls_port, 0);
		test_wss_race(tls_port, 1);
		test_quiet_close(tls_port);
		test_nodelay(ctx, port);
		mg_stop(ctx);
	}
	test_ws_limit_option();
	test_detach(cert);
	test_parking(cert);
	test_ipcap();

	mg_exit_library();
	unlink(cert);
	rmdir(dir);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
	mbedtls_psa_crypto_free();

	printf("unit_civetweb: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
