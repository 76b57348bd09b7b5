/*
 * unit_civetweb.h — what the unit_civetweb_*.c programs share: they check
 * our civetweb patches (vendor/patches/civetweb-*), one program per
 * concern:
 *
 *   unit_civetweb_tls.c     0001 idle TLS, 0003 wss from two threads,
 *                           0005 a quiet close_notify
 *   unit_civetweb_ws.c      0002 the WebSocket frame size limit
 *   unit_civetweb_conn.c    0004 tcp_nodelay, 0008 max_connections_per_ip
 *   unit_civetweb_detach.c  0006 mg_detach
 *   unit_civetweb_park.c    0007 the parking set, 0009 the keep-alive linger
 *
 * Here: TAP-like check(), clocks, civetweb's log (counted), a self-signed
 * certificate made with mbedtls, raw sockets and WebSocket client frames,
 * the server's WebSocket handlers and request handlers (/detach,
 * /chunked, /wsd, /hello), a blocking mbedtls client, and the start and
 * end of every program (cw_begin / cw_end).
 *
 * civetweb runs in-process on 127.0.0.1 with ephemeral ports; the TLS
 * certificate is made here with mbedtls; the wss client is an mbedtls
 * client thread. Every wait is bounded (socket timeouts, deadlines, and an
 * alarm() as the last resort). Each program uses only some of what is
 * here: the definitions are marked unused (CW_UNUSED) so that the others
 * compile without warnings.
 */
#ifndef UNIT_CIVETWEB_H
#define UNIT_CIVETWEB_H
#define CW_UNUSED __attribute__((unused))
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

CW_UNUSED static int passed, failed;

CW_UNUSED static void check(int cond, const char *what)
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

CW_UNUSED static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

CW_UNUSED static double cpu_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

CW_UNUSED static void sleep_ms(int ms)
{
	struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
}

CW_UNUSED static long rss_kib(void)
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

CW_UNUSED static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
CW_UNUSED static int log_too_big; /* "exceeds websocket_max_frame_size" lines */
CW_UNUSED static int log_ipcap;   /* "max_connections_per_ip" lines */

CW_UNUSED static int on_log(const struct mg_connection *conn, const char *msg)
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

CW_UNUSED static mbedtls_entropy_context entropy;
CW_UNUSED static mbedtls_ctr_drbg_context drbg;

CW_UNUSED static int make_cert(const char *path)
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

CW_UNUSED static int tcp_connect(int port, int timeout_ms)
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

CW_UNUSED static int send_all(int fd, const void *buf, size_t n)
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

CW_UNUSED static const char ws_request[] =
    "GET /ws HTTP/1.1\r\n"
    "Host: 127.0.0.1\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

/* Sends the upgrade request on a plain socket and reads the reply header.
 * 0 on "101", -1 otherwise. */
CW_UNUSED static int ws_upgrade_plain(int fd)
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
CW_UNUSED static size_t ws_client_header(unsigned char *hdr, int opcode, uint64_t len,
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

CW_UNUSED static void ws_mask(unsigned char *p, size_t n, const unsigned char mask[4])
{
	size_t i;
	for (i = 0; i < n; i++)
		p[i] ^= mask[i & 3];
}

/* Message i of a stream: 4-byte big-endian sequence number, then a pattern
 * that depends on the stream tag. Sizes vary; every 97th is over one TLS
 * record (16 KiB). */
CW_UNUSED static size_t msg_len(uint32_t i)
{
	return (i % 97 == 0) ? 4 + 20000 + i % 100 : 4 + (i * 7919u) % 3000;
}

CW_UNUSED static void msg_fill(unsigned char *p, uint32_t i, unsigned tag)
{
	size_t j, n = msg_len(i);
	p[0] = (unsigned char)(i >> 24);
	p[1] = (unsigned char)(i >> 16);
	p[2] = (unsigned char)(i >> 8);
	p[3] = (unsigned char)i;
	for (j = 4; j < n; j++)
		p[j] = (unsigned char)(i * 31u + j * tag + tag);
}

CW_UNUSED static int msg_ok(const unsigned char *p, size_t n, uint32_t i, unsigned tag)
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

CW_UNUSED static pthread_mutex_t srv_mu = PTHREAD_MUTEX_INITIALIZER;
CW_UNUSED static pthread_cond_t srv_cv = PTHREAD_COND_INITIALIZER;
CW_UNUSED static struct mg_connection *ws_conn; /* registry of one: set in ready */
CW_UNUSED static int ws_ready;
CW_UNUSED static int ws_closed;
CW_UNUSED static int ws_race_mode;       /* data handler: check stream + echo */
CW_UNUSED static unsigned ws_frames;     /* frames received */
CW_UNUSED static size_t ws_last_len;
CW_UNUSED static int ws_last_ok;         /* plain mode: payload pattern intact */
CW_UNUSED static uint32_t ws_up_next;    /* race mode: next expected sequence */
CW_UNUSED static int ws_up_bad;
CW_UNUSED static int ws_echo_fail;

CW_UNUSED static int ws_connect(const struct mg_connection *conn, void *cb)
{
	(void)conn;
	(void)cb;
	return 0;
}

CW_UNUSED static void ws_on_ready(struct mg_connection *conn, void *cb)
{
	(void)cb;
	pthread_mutex_lock(&srv_mu);
	ws_conn = conn;
	ws_ready = 1;
	pthread_cond_broadcast(&srv_cv);
	pthread_mutex_unlock(&srv_mu);
}

CW_UNUSED static int ws_on_data(struct mg_connection *conn, int flags, char *data,
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

CW_UNUSED static void ws_on_close(const struct mg_connection *conn, void *cb)
{
	(void)conn;
	(void)cb;
	pthread_mutex_lock(&srv_mu);
	ws_conn = NULL;
	ws_closed = 1;
	pthread_cond_broadcast(&srv_cv);
	pthread_mutex_unlock(&srv_mu);
}

CW_UNUSED static void ws_reset(int race)
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
CW_UNUSED static int wait_for(const int *flag, int want, int ms)
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

CW_UNUSED static int wait_frames(unsigned want, int ms)
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

CW_UNUSED static struct mg_context *start_server(const char **opts, int *port, int *tls_port)
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


CW_UNUSED static int tls_wait(int fd, short ev, double deadline)
{
	struct pollfd p = {fd, ev, 0};
	int ms = (int)((deadline - now_s()) * 1000);
	if (ms <= 0)
		return -1;
	if (ms > 200)
		ms = 200;
	return poll(&p, 1, ms) < 0 && errno != EINTR ? -1 : 0;
}

/* ---- 0006: mg_detach ------------------------------------------------------- */

#define DET_MAX 8
CW_UNUSED static struct mg_detached dets[DET_MAX]; /* under srv_mu */
CW_UNUSED static int det_n;                        /* detached so far */
CW_UNUSED static int det_refused;                  /* mg_detach() returned -1 */
CW_UNUSED static int wsd_closed;                   /* close handler of /wsd ran */
CW_UNUSED static struct mg_context *srv_ctx;

/* /detach: the handler takes the connection and replies nothing itself */
CW_UNUSED static int on_detach(struct mg_connection *conn, void *cb)
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
CW_UNUSED static int on_chunked(struct mg_connection *conn, void *cb)
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

CW_UNUSED static void wsd_ready(struct mg_connection *conn, void *cb)
{
	on_detach(conn, cb);
}

CW_UNUSED static void wsd_close(const struct mg_connection *conn, void *cb)
{
	(void)conn;
	(void)cb;
	pthread_mutex_lock(&srv_mu);
	wsd_closed++;
	pthread_mutex_unlock(&srv_mu);
}

CW_UNUSED static void det_reset(void)
{
	pthread_mutex_lock(&srv_mu);
	det_n = det_refused = wsd_closed = 0;
	memset(dets, 0, sizeof dets);
	pthread_mutex_unlock(&srv_mu);
}

CW_UNUSED static const char wsd_request[] =
    "GET /wsd HTTP/1.1\r\n"
    "Host: 127.0.0.1\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

/* Frees what a detached connection holds (TLS context, rest, socket). */
CW_UNUSED static void det_free(struct mg_detached *d)
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
CW_UNUSED static size_t recv_for(int fd, char *buf, size_t cap, int ms, int *eof)
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
CW_UNUSED static int recv_until(int fd, char *buf, size_t cap, const char *end, int ms)
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

CW_UNUSED static int local_port(int fd)
{
	struct sockaddr_in me;
	socklen_t sl = sizeof me;
	return getsockname(fd, (struct sockaddr *)&me, &sl) == 0 ? ntohs(me.sin_port) : -1;
}

CW_UNUSED static int peer_port(const struct mg_detached *d)
{
	const struct sockaddr_in *a = (const struct sockaddr_in *)&d->peer;
	return a->sin_family == AF_INET ? ntohs(a->sin_port) : -2;
}

/* A minimal blocking TLS client (mbedtls) for wss tests. */
struct tls_cli {
	mbedtls_ssl_context ssl;
	mbedtls_ssl_config conf;
	mbedtls_net_context net;
};

CW_UNUSED static int tls_cli_open(struct tls_cli *c, int port)
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

CW_UNUSED static int tls_cli_write(struct tls_cli *c, const void *p, size_t n)
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
CW_UNUSED static int tls_cli_read(struct tls_cli *c, char *buf, size_t want, int ms)
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

CW_UNUSED static void tls_cli_close(struct tls_cli *c)
{
	mbedtls_net_free(&c->net);
	mbedtls_ssl_free(&c->ssl);
	mbedtls_ssl_config_free(&c->conf);
}

/* ---- 0007: the parking set ------------------------------------------------- */

CW_UNUSED static int on_hello(struct mg_connection *conn, void *cb)
{
	(void)cb;
	mg_printf(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
	return 200;
}

CW_UNUSED static const char hello_req[] = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
CW_UNUSED static const char hello_reply_end[] = "\r\n\r\nhi";

/* Sends a request and reads until the "hi" body; 1 if it came. */
CW_UNUSED static int plain_hello(int fd, int ms)
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

CW_UNUSED static int tls_hello(struct tls_cli *c, int ms)
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
CW_UNUSED static int closed_within(int fd, int ms)
{
	char buf[256];
	int eof = 0;
	double end = now_s() + ms / 1000.0;
	while (!eof && now_s() < end)
		recv_for(fd, buf, sizeof buf, 100, &eof);
	return eof;
}


/* ---- start and end of a program ------------------------------------------ */

/* The server most checks use: a plain and a TLS listener on 127.0.0.1, 8
 * workers, the /ws handlers. NULL (a failed check) if it does not start. */
CW_UNUSED static struct mg_context *cw_start_both(const char *cert, int *port, int *tls_port)
{
	const char *opts[] = {"listening_ports", "127.0.0.1:0,127.0.0.1:0s",
	                      "ssl_certificate", cert, "num_threads", "8", NULL};
	struct mg_context *ctx = start_server(opts, port, tls_port);
	if (!ctx || *port <= 0 || *tls_port <= 0) {
		check(0, "plain + TLS server starts");
		if (ctx)
			mg_stop(ctx);
		return NULL;
	}
	return ctx;
}

/* Sets up what every program needs: the alarm, SIGPIPE ignored, PSA and a
 * random generator, civetweb's library; with cert non-NULL also a temp dir
 * (dir, 32 bytes) holding a self-signed certificate (its path into cert,
 * 64 bytes). 0, or -1 after printing "Bail out!". */
CW_UNUSED static int cw_begin(const char *name, char *dir, char *cert)
{
	alarm(300); /* the last resort against a hang */
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (psa_crypto_init() != PSA_SUCCESS) {
		printf("Bail out! psa_crypto_init\n");
		return -1;
	}
	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
	                          (const unsigned char *)name, strlen(name)) != 0) {
		printf("Bail out! random generator\n");
		return -1;
	}
	if (cert) {
		snprintf(dir, 32, "/tmp/%s.XXXXXX", "unit_civetweb");
		if (!mkdtemp(dir)) {
			printf("Bail out! temp dir\n");
			return -1;
		}
		snprintf(cert, 64, "%s/cert.pem", dir);
		if (make_cert(cert) != 0) {
			printf("Bail out! cannot make a certificate\n");
			return -1;
		}
	}
	mg_init_library(0);
	return 0;
}

/* The end of a program: frees what cw_begin set up, removes the
 * certificate and its dir (cert NULL: none), prints the summary line;
 * returns the exit status. */
CW_UNUSED static int cw_end(const char *name, const char *dir, const char *cert)
{
	mg_exit_library();
	if (cert) {
		unlink(cert);
		rmdir(dir);
	}
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
	mbedtls_psa_crypto_free();

	printf("%s: %d passed, %d failed\n", name, passed, failed);
	return failed ? 1 : 0;
}

#endif
