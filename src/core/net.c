/*
 * net.c — outbound TCP/TLS connections and a small HTTPS client (see net.h).
 *
 * Thread-safety: the CA chain and the TLS client configuration are built
 * once, under conf_lock, on first use, and only read afterwards (mbedtls
 * allows one mbedtls_ssl_config to serve many contexts on many threads).
 * A connection is used by one thread at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "config.h"
#include "dm.h"
#include "net.h"

#define IO_TIMEOUT_MS 15000
#define RBUF 4096

struct net_conn {
	int fd;
	int tls;
	int timeout_ms;
	char host[256];
	mbedtls_ssl_context ssl;
	unsigned char rbuf[RBUF];
	size_t rpos, rlen;
};

static pthread_mutex_t conf_lock = PTHREAD_MUTEX_INITIALIZER;
static int conf_ready;
static mbedtls_x509_crt cachain;
static mbedtls_ssl_config conf;

static void set_err(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;
	if (!err || !cap)
		return;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

/* mbedtls's RNG callback over getrandom(2). */
static int rng(void *unused, unsigned char *out, size_t n)
{
	(void)unused;
	return dm_random(out, n) == DM_OK ? 0 : -1;
}

/* Builds the shared client configuration once. DM_OK or DM_EUNAVAIL. */
static int conf_get(char *err, size_t errcap)
{
	int rc = DM_OK, e;
	pthread_mutex_lock(&conf_lock);
	if (conf_ready)
		goto done;
	mbedtls_x509_crt_init(&cachain);
	mbedtls_ssl_config_init(&conf);
	e = mbedtls_x509_crt_parse_file(&cachain, cfg.ca_bundle);
	if (e < 0 || !cachain.raw.p) {
		set_err(err, errcap, "cannot load the CA bundle %s (-0x%04x)", cfg.ca_bundle, (unsigned)-e);
		rc = DM_EUNAVAIL;
		goto fail;
	}
	if (mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
					MBEDTLS_SSL_PRESET_DEFAULT) != 0) {
		set_err(err, errcap, "TLS configuration failed");
		rc = DM_EUNAVAIL;
		goto fail;
	}
	mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_ca_chain(&conf, &cachain, NULL);
	mbedtls_ssl_conf_rng(&conf, rng, NULL);
	mbedtls_ssl_conf_min_tls_version(&conf, MBEDTLS_SSL_VERSION_TLS1_2);
	conf_ready = 1;
	goto done;
fail:
	mbedtls_ssl_config_free(&conf);
	mbedtls_x509_crt_free(&cachain);
done:
	pthread_mutex_unlock(&conf_lock);
	return rc;
}

void net_shutdown(void)
{
	pthread_mutex_lock(&conf_lock);
	if (conf_ready) {
		mbedtls_ssl_config_free(&conf);
		mbedtls_x509_crt_free(&cachain);
		conf_ready = 0;
	}
	pthread_mutex_unlock(&conf_lock);
}

/* Waits until fd is readable (events POLLIN) or writable. 1 ready, 0
 * timeout or error. */
static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = events};
	int n;
	do
		n = poll(&p, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	return n > 0;
}

/* Non-blocking connect to one address with a timeout. fd or -1. */
static int connect_one(const struct addrinfo *ai, int timeout_ms)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
	int soerr = 0, one = 1;
	socklen_t len = sizeof soerr;
	if (fd < 0)
		return -1;
	/* every exchange here is request/reply of small TLS records: Nagle
	 * would hold each behind the peer's delayed ACK */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS || !wait_fd(fd, POLLOUT, timeout_ms) ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* mbedtls BIO over our non-blocking socket, with the connection's timeout. */
static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	net_conn_t *c = ctx;
	for (;;) {
		ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (n >= 0)
			return (int)n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return MBEDTLS_ERR_NET_SEND_FAILED;
		if (!wait_fd(c->fd, POLLOUT, c->timeout_ms))
			return MBEDTLS_ERR_SSL_TIMEOUT;
	}
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
	net_conn_t *c = ctx;
	for (;;) {
		ssize_t n = recv(c->fd, buf, len, 0);
		if (n >= 0)
			return (int)n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return MBEDTLS_ERR_NET_RECV_FAILED;
		if (!wait_fd(c->fd, POLLIN, c->timeout_ms))
			return MBEDTLS_ERR_SSL_TIMEOUT;
	}
}

/* Runs the TLS handshake on c (plain so far). DM_OK or DM_EUNAVAIL. */
static int tls_start(net_conn_t *c, char *err, size_t errcap)
{
	int e;
	uint32_t flags;

	if (conf_get(err, errcap) != DM_OK)
		return DM_EUNAVAIL;
	mbedtls_ssl_init(&c->ssl);
	c->tls = 1;
	if (mbedtls_ssl_setup(&c->ssl, &conf) != 0 || mbedtls_ssl_set_hostname(&c->ssl, c->host) != 0) {
		set_err(err, errcap, "TLS set-up failed");
		return DM_EUNAVAIL;
	}
	mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
	while ((e = mbedtls_ssl_handshake(&c->ssl)) != 0) {
		if (e == MBEDTLS_ERR_SSL_WANT_READ || e == MBEDTLS_ERR_SSL_WANT_WRITE)
			continue;
		flags = mbedtls_ssl_get_verify_result(&c->ssl);
		if (flags && flags != (uint32_t)-1) {
			char why[256];
			mbedtls_x509_crt_verify_info(why, sizeof why, "", flags);
			why[strcspn(why, "\n")] = 0;
			set_err(err, errcap, "TLS: %s: certificate not trusted (%s)", c->host, why);
		} else {
			char why[128];
			mbedtls_strerror(e, why, sizeof why);
			set_err(err, errcap, "TLS handshake with %s failed: %s", c->host, why);
		}
		return DM_EUNAVAIL;
	}
	return DM_OK;
}

int net_connect(const char *host, int port, int tls, int timeout_ms, net_conn_t **out, char *err, size_t errcap)
{
	struct addrinfo hints, *res = NULL;
	char portstr[16];
	net_conn_t *c;
	int fd = -1, e;

	*out = NULL;
	if (!host || !*host || strlen(host) >= sizeof c->host || port <= 0 || port > 65535) {
		set_err(err, errcap, "bad host or port");
		return DM_EUNAVAIL;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(portstr, sizeof portstr, "%d", port);
	e = getaddrinfo(host, portstr, &hints, &res);
	if (e != 0) {
		set_err(err, errcap, "cannot resolve %s: %s", host, gai_strerror(e));
		return DM_EUNAVAIL;
	}
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
		fd = connect_one(ai, timeout_ms);
	freeaddrinfo(res);
	if (fd < 0) {
		set_err(err, errcap, "cannot connect to %s:%d", host, port);
		return DM_EUNAVAIL;
	}
	c = calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		return DM_ENOMEM;
	}
	c->fd = fd;
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : IO_TIMEOUT_MS;
	dm_strlcpy(c->host, host, sizeof c->host);
	if (tls && tls_start(c, err, errcap) != DM_OK) {
		net_close(c);
		return DM_EUNAVAIL;
	}
	*out = c;
	return DM_OK;
}

int net_starttls(net_conn_t *c, char *err, size_t errcap)
{
	if (c->tls || c->rlen > c->rpos) {
		/* bytes sent before the handshake could be injected by a
		 * man in the middle: refuse (CVE-2011-0411 class) */
		set_err(err, errcap, "STARTTLS: unexpected data before the handshake");
		return DM_EUNAVAIL;
	}
	return tls_start(c, err, errcap);
}

int net_is_tls(const net_conn_t *c)
{
	return c && c->tls;
}

void net_close(net_conn_t *c)
{
	if (!c)
		return;
	if (c->tls) {
		mbedtls_ssl_close_notify(&c->ssl);
		mbedtls_ssl_free(&c->ssl);
	}
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

int net_write_all(net_conn_t *c, const void *buf, size_t n)
{
	const unsigned char *p = buf;
	while (n > 0) {
		int w;
		if (c->tls) {
			w = mbedtls_ssl_write(&c->ssl, p, n);
			if (w == MBEDTLS_ERR_SSL_WANT_READ || w == MBEDTLS_ERR_SSL_WANT_WRITE)
				continue;
		} else
			w = bio_send(c, p, n);
		if (w <= 0)
			return DM_EUNAVAIL;
		p += w;
		n -= (size_t)w;
	}
	return DM_OK;
}

/* Fills the read buffer. >0 bytes, 0 end of stream, -1 error/timeout. */
static long fill(net_conn_t *c)
{
	int n;
	c->rpos = c->rlen = 0;
	for (;;) {
		if (c->tls) {
			n = mbedtls_ssl_read(&c->ssl, c->rbuf, sizeof c->rbuf);
			if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE ||
			    n == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
				continue;
			if (n == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
				return 0;
		} else
			n = bio_recv(c, c->rbuf, sizeof c->rbuf);
		if (n < 0)
			return -1;
		dm_assert((size_t)n <= sizeof c->rbuf);
		c->rlen = (size_t)n;
		return n;
	}
}

long net_read(net_conn_t *c, void *buf, size_t n)
{
	size_t have;
	dm_assert(c->rpos <= c->rlen && c->rlen <= sizeof c->rbuf);
	if (c->rpos >= c->rlen) {
		long f = fill(c);
		if (f <= 0)
			return f;
	}
	have = c->rlen - c->rpos;
	if (have > n)
		have = n;
	memcpy(buf, c->rbuf + c->rpos, have);
	c->rpos += have;
	return (long)have;
}

long net_read_line(net_conn_t *c, char *buf, size_t cap)
{
	size_t len = 0;
	dm_assert(c->rpos <= c->rlen && c->rlen <= sizeof c->rbuf && cap > 0);
	for (;;) {
		if (c->rpos >= c->rlen && fill(c) <= 0)
			return -1;
		unsigned char ch = c->rbuf[c->rpos++];
		if (ch == '\n')
			break;
		if (len + 1 >= cap)
			return -1;
		buf[len++] = (char)ch;
	}
	if (len && buf[len - 1] == '\r')
		len--;
	buf[len] = 0;
	return (long)len;
}

/* ------------------------------------------------------------------ HTTP */

int net_parse_url(const char *url, int *tls, char host[256], int *port, char path[2048])
{
	const char *p, *hend, *slash;
	size_t hl;

	if (!strncmp(url, "https://", 8)) {
		*tls = 1;
		*port = 443;
		p = url + 8;
	} else if (!strncmp(url, "http://", 7)) {
		*tls = 0;
		*port = 80;
		p = url + 7;
	} else
		return DM_EINVAL;
	slash = p + strcspn(p, "/?#");
	if (memchr(p, '@', (size_t)(slash - p)))
		return DM_EINVAL; /* no credentials in URLs */
	if (*p == '[') {
		hend = memchr(p, ']', (size_t)(slash - p));
		if (!hend)
			return DM_EINVAL;
		hl = (size_t)(hend - p - 1);
		if (hl == 0 || hl >= 256)
			return DM_EINVAL;
		memcpy(host, p + 1, hl);
		host[hl] = 0;
		hend++;
	} else {
		hend = p;
		while (hend < slash && *hend != ':')
			hend++;
		hl = (size_t)(hend - p);
		if (hl == 0 || hl >= 256)
			return DM_EINVAL;
		memcpy(host, p, hl);
		host[hl] = 0;
	}
	if (hend < slash) {
		char *end;
		long v;
		if (*hend != ':')
			return DM_EINVAL;
		v = strtol(hend + 1, &end, 10);
		if (end != slash || v <= 0 || v > 65535)
			return DM_EINVAL;
		*port = (int)v;
	}
	if (*slash == '#' || !*slash)
		return dm_strlcpy(path, "/", 2048) == DM_OK ? DM_OK : DM_EINVAL;
	if (*slash == '?') {
		if (dm_snprintf(path, 2048, "/%s", slash) != DM_OK)
			return DM_EINVAL;
	} else if (dm_strlcpy(path, slash, 2048) != DM_OK)
		return DM_EINVAL;
	path[strcspn(path, "#")] = 0;
	for (const char *q = path; *q; q++)
		if ((unsigned char)*q <= ' ' || *q == 0x7f)
			return DM_EINVAL;
	for (const char *q = host; *q; q++)
		if ((unsigned char)*q <= ' ' || *q == 0x7f || *q == '/' || *q == '\\')
			return DM_EINVAL;
	return DM_OK;
}

/* Growing byte buffer for reply bodies. */
typedef struct buf {
	char *p;
	size_t len, cap, max;
} buf_t;

static int buf_add(buf_t *b, const void *d, size_t n)
{
	if (b->len + n > b->max)
		return DM_ETOOBIG;
	if (b->len + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap : 4096;
		while (nc < b->len + n + 1)
			nc *= 2;
		char *np = realloc(b->p, nc);
		if (!np)
			return DM_ENOMEM;
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
	b->p[b->len] = 0;
	return DM_OK;
}

/* Copies exactly n body bytes (or until close when n < 0) into b. */
static int read_body(net_conn_t *c, buf_t *b, long long n)
{
	char tmp[4096];
	while (n != 0) {
		size_t want = sizeof tmp;
		if (n > 0 && (long long)want > n)
			want = (size_t)n;
		long got = net_read(c, tmp, want);
		if (got == 0 && n < 0)
			return DM_OK;
		if (got <= 0)
			return DM_EUNAVAIL;
		if (buf_add(b, tmp, (size_t)got) != DM_OK)
			return DM_EUNAVAIL;
		if (n > 0)
			n -= got;
	}
	return DM_OK;
}

static int read_chunked(net_conn_t *c, buf_t *b)
{
	char line[256];
	for (;;) {
		char *end;
		if (net_read_line(c, line, sizeof line) < 0)
			return DM_EUNAVAIL;
		long long n = strtoll(line, &end, 16);
		if (end == line || n < 0 || (size_t)n > b->max)
			return DM_EUNAVAIL;
		if (n == 0) {
			/* trailers until the empty line */
			long l;
			while ((l = net_read_line(c, line, sizeof line)) > 0)
				;
			return l == 0 ? DM_OK : DM_EUNAVAIL;
		}
		if (read_body(c, b, n) != DM_OK || net_read_line(c, line, sizeof line) != 0)
			return DM_EUNAVAIL;
	}
}

/* Copies a header value (leading blanks skipped) into dst; a value too
 * long for dst leaves it empty (a cut URL or nonce would be wrong). */
static void header_copy(const char *v, char *dst, size_t cap)
{
	while (*v == ' ' || *v == '\t')
		v++;
	if (dm_strlcpy(dst, v, cap) != DM_OK)
		dst[0] = 0;
}

int net_http(const char *method, const char *url, const char *headers, const char *ctype, const char *body,
	     size_t body_len, size_t max_body, int allow_plain, net_http_resp_t *resp)
{
	char host[256], path[2048], line[4096], err[256] = "";
	int tls, port, rc = DM_EUNAVAIL, chunked = 0;
	long long clen = -1;
	net_conn_t *c = NULL;
	buf_t b = {.max = max_body};
	char *req = NULL;
	size_t reqcap;

	memset(resp, 0, sizeof *resp);
	resp->retry_after = -1;
	if (net_parse_url(url, &tls, host, &port, path) != DM_OK)
		return DM_EINVAL;
	if (!tls && !allow_plain)
		return DM_EINVAL;
	/* the head and the body go out in one write: two small writes would
	 * wait on the peer's delayed ACK (Nagle), ~40 ms per request */
	reqcap = strlen(path) + strlen(host) + (headers ? strlen(headers) : 0) + 512 + (body ? body_len : 0);
	req = malloc(reqcap);
	if (!req)
		return DM_ENOMEM;
	{
		char hostport[300];
		int dflt = tls ? port == 443 : port == 80;
		if (strchr(host, ':')) /* IPv6 literal */
			snprintf(hostport, sizeof hostport, dflt ? "[%s]" : "[%s]:%d", host, port);
		else
			snprintf(hostport, sizeof hostport, dflt ? "%s" : "%s:%d", host, port);
		snprintf(req, reqcap,
			 "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: dongmul\r\nAccept: application/json\r\n"
			 "Connection: close\r\n%s",
			 method, path, hostport, headers ? headers : "");
	}
	if (body) {
		size_t l = strlen(req);
		snprintf(req + l, reqcap - l, "Content-Type: %s\r\nContent-Length: %zu\r\n",
			 ctype ? ctype : "application/octet-stream", body_len);
	}
	strncat(req, "\r\n", reqcap - strlen(req) - 1);
	if (net_connect(host, port, tls, IO_TIMEOUT_MS, &c, err, sizeof err) != DM_OK) {
		dm_warn("%s %s: %s", method, url, err);
		goto done;
	}
	{
		size_t hl = strlen(req);
		if (body)
			memcpy(req + hl, body, body_len);
		if (net_write_all(c, req, hl + (body ? body_len : 0)) != DM_OK)
			goto done;
	}
	/* status line, skipping 1xx replies */
	for (;;) {
		if (net_read_line(c, line, sizeof line) < 0 || strncmp(line, "HTTP/1.", 7) || strlen(line) < 12)
			goto done;
		resp->status = atoi(line + 9);
		if (resp->status < 100 || resp->status > 599)
			goto done;
		if (resp->status >= 200)
			break;
		while (net_read_line(c, line, sizeof line) > 0)
			;
	}
	for (;;) {
		long l = net_read_line(c, line, sizeof line);
		if (l < 0)
			goto done;
		if (l == 0)
			break;
		if (!strncasecmp(line, "Content-Length:", 15)) {
			char *end;
			clen = strtoll(line + 15, &end, 10);
			if (clen < 0 || (size_t)clen > max_body)
				goto done;
		} else if (!strncasecmp(line, "Transfer-Encoding:", 18) && strcasestr(line + 18, "chunked"))
			chunked = 1;
		else if (!strncasecmp(line, "Content-Type:", 13))
			header_copy(line + 13, resp->ctype, sizeof resp->ctype);
		else if (!strncasecmp(line, "Location:", 9))
			header_copy(line + 9, resp->location, sizeof resp->location);
		else if (!strncasecmp(line, "Replay-Nonce:", 13))
			header_copy(line + 13, resp->nonce, sizeof resp->nonce);
		else if (!strncasecmp(line, "Retry-After:", 12)) {
			char *end;
			long v = strtol(line + 12, &end, 10);
			if (end != line + 12 && v >= 0)
				resp->retry_after = v;
		}
	}
	if (!strcmp(method, "HEAD") || resp->status == 204 || resp->status == 304)
		rc = DM_OK;
	else if (chunked)
		rc = read_chunked(c, &b);
	else
		rc = read_body(c, &b, clen);
	if (rc == DM_OK && !b.p)
		rc = buf_add(&b, "", 0);
done:
	net_close(c);
	free(req);
	if (rc != DM_OK) {
		free(b.p);
		b.p = NULL;
		b.len = 0;
		if (rc != DM_ENOMEM)
			rc = DM_EUNAVAIL;
	}
	resp->body = b.p;
	resp->body_len = b.len;
	return rc;
}
