/*
 * bench/bt.h — small helpers shared by the benchmark tools (header-only:
 * each tool is one .c file that includes this). Not part of dongmul.
 *
 * bt_now_us: monotonic microseconds. bt_connect: a TCP connection to
 * 127.0.0.1-style numeric host:port (blocking or not). bt_http: one HTTP/1.1
 * request on a blocking keep-alive socket, reading a Content-Length or
 * chunked reply. bt_pct: a percentile of a sorted array. bt_rss_kb: VmRSS or
 * VmHWM of a process from /proc.
 */
#ifndef BT_H
#define BT_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline int64_t bt_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline void bt_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Raises the open-file limit to its hard maximum (1,000+ sockets). */
static inline void bt_nofile_max(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* A TCP socket connected (or connecting, when nonblock) to host:port.
 * Returns the fd or -1. */
static inline int bt_connect(const char *host, int port, int nonblock)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0), one = 1;
	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && !(nonblock && errno == EINPROGRESS)) {
		close(fd);
		return -1;
	}
	return fd;
}

static inline int bt_write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* A reply read by bt_http: status, body (malloc'd, NUL-terminated). */
typedef struct bt_reply {
	int status;
	char *body;
	size_t len;
} bt_reply_t;

/* Reads more bytes into *buf (growing it). Returns bytes read, 0 at EOF,
 * -1 on error. */
static inline ssize_t bt_fill(int fd, char **buf, size_t *len, size_t *cap)
{
	ssize_t r;
	if (*cap - *len < 65536) {
		*cap = *cap * 2 + 65536;
		*buf = realloc(*buf, *cap);
		if (!*buf)
			bt_die("out of memory");
	}
	do
		r = read(fd, *buf + *len, *cap - *len - 1);
	while (r < 0 && errno == EINTR);
	if (r > 0)
		*len += (size_t)r;
	return r;
}

/* One request on a blocking keep-alive socket *fd (reconnected when -1 or
 * when the server closed it). extra: more header lines ("Name: v\r\n") or
 * NULL; body: JSON or NULL. 0 and *out filled, or -1. */
static inline int bt_http(int *fd, const char *host, int port, const char *method, const char *path,
			  const char *extra, const char *body, bt_reply_t *out)
{
	char head[8192];
	char *buf = NULL;
	size_t len = 0, cap = 0, hlen, clen;
	int n, tries;

	memset(out, 0, sizeof *out);
	if (body)
		n = snprintf(head, sizeof head,
			     "%s %s HTTP/1.1\r\nHost: %s:%d\r\n%sContent-Type: application/json\r\n"
			     "Content-Length: %zu\r\n\r\n",
			     method, path, host, port, extra ? extra : "", strlen(body));
	else
		n = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: %s:%d\r\n%s\r\n", method, path, host,
			     port, extra ? extra : "");
	if (n <= 0 || (size_t)n >= sizeof head)
		return -1;
	for (tries = 0; tries < 2; tries++) {
		if (*fd < 0 && (*fd = bt_connect(host, port, 0)) < 0)
			return -1;
		if (bt_write_all(*fd, head, (size_t)n) == 0 && (!body || bt_write_all(*fd, body, strlen(body)) == 0))
			break;
		close(*fd);
		*fd = -1;
	}
	if (tries == 2)
		return -1;
	for (;;) {
		char *e;
		if (len) {
			buf[len] = 0;
			if ((e = strstr(buf, "\r\n\r\n")))
				break;
		}
		if (bt_fill(*fd, &buf, &len, &cap) <= 0)
			goto fail;
	}
	hlen = (size_t)(strstr(buf, "\r\n\r\n") - buf) + 4;
	if (sscanf(buf, "HTTP/1.%*d %d", &out->status) != 1)
		goto fail;
	{
		char *cl = strcasestr(buf, "\r\nContent-Length:");
		if (cl && cl < buf + hlen)
			clen = strtoul(cl + 17, NULL, 10);
		else if (strcasestr(buf, "\r\nTransfer-Encoding: chunked") &&
			 strcasestr(buf, "\r\nTransfer-Encoding: chunked") < buf + hlen) {
			/* de-chunk into body */
			size_t pos = hlen, blen = 0;
			char *b = malloc(1);
			for (;;) {
				char *nl;
				size_t sz;
				buf[len] = 0;
				while (!(nl = strstr(buf + pos, "\r\n")))
					if (bt_fill(*fd, &buf, &len, &cap) <= 0)
						goto fail;
				sz = strtoul(buf + pos, NULL, 16);
				while (len < (size_t)(nl - buf) + 2 + sz + 2)
					if (bt_fill(*fd, &buf, &len, &cap) <= 0)
						goto fail;
				nl = strstr(buf + pos, "\r\n");
				b = realloc(b, blen + sz + 1);
				memcpy(b + blen, nl + 2, sz);
				blen += sz;
				pos = (size_t)(nl - buf) + 2 + sz + 2;
				if (sz == 0)
					break;
			}
			b[blen] = 0;
			out->body = b;
			out->len = blen;
			free(buf);
			return 0;
		} else
			clen = 0;
	}
	while (len < hlen + clen)
		if (bt_fill(*fd, &buf, &len, &cap) <= 0)
			goto fail;
	out->body = malloc(clen + 1);
	memcpy(out->body, buf + hlen, clen);
	out->body[clen] = 0;
	out->len = clen;
	if (strcasestr(buf, "\r\nConnection: close") && strcasestr(buf, "\r\nConnection: close") < buf + hlen) {
		close(*fd);
		*fd = -1;
	}
	free(buf);
	return 0;
fail:
	free(buf);
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	return -1;
}

static int bt_cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* The p-th percentile (0..100) of n sorted values (nearest rank). */
static inline int64_t bt_pct(const int64_t *v, size_t n, double p)
{
	size_t k;
	if (!n)
		return 0;
	k = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

/* VmRSS ("VmRSS") or peak ("VmHWM") of pid in kB, or -1. */
static inline long bt_rss_kb(int pid, const char *field)
{
	char path[64], line[256];
	long v = -1;
	size_t fl = strlen(field);
	FILE *f;
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, field, fl) && line[fl] == ':') {
			v = strtol(line + fl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

#endif
