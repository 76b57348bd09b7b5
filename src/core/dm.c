/*
 * dm.c — shared helpers (see dm.h), and mbedtls's entropy source.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "dm.h"

int dm_log_level = DM_LOG_INFO;
int dm_tz_offset_min = 540;
volatile int dm_stopping;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

/* Copies in to out (cap bytes, always NUL-terminated, cut short at a
 * whole escape) so that the result is one line of printable text: a
 * backslash becomes \\, \n \r \t their escapes, every other control
 * character (C0, DEL, and C1 written in UTF-8) and every byte that is not
 * part of valid UTF-8 becomes \xHH. Valid UTF-8 text (Korean) stays as is.
 * A log line carries paths, nicknames and messages clients chose: they must
 * not start a line of their own. Returns the length written. */
static size_t log_escape(const char *in, char *out, size_t cap)
{
	static const char hx[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0, n = strlen(in);

	for (size_t i = 0; i < n;) {
		char esc[8];
		size_t k = 0, len = 1;
		unsigned char c = s[i];
		if (c >= 0x80) {
			len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
			if (len > n - i || !dm_utf8_valid(in + i, len) || (c == 0xC2 && s[i + 1] < 0xA0))
				len = 1; /* not UTF-8, or a C1 control: escape this byte */
			else {
				if (o + len >= cap)
					break;
				memcpy(out + o, in + i, len);
				o += len;
				i += len;
				continue;
			}
		}
		if (c == '\\' || c == '\n' || c == '\r' || c == '\t') {
			esc[k++] = '\\';
			esc[k++] = c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : '\\';
		} else if (c < 0x20 || c >= 0x7f) {
			esc[k++] = '\\';
			esc[k++] = 'x';
			esc[k++] = hx[c >> 4];
			esc[k++] = hx[c & 15];
		} else
			esc[k++] = (char)c;
		if (o + k >= cap)
			break;
		memcpy(out + o, esc, k);
		o += k;
		i++;
	}
	if (cap)
		out[o] = 0;
	return o;
}

void dm_log(int level, const char *fmt, ...)
{
	static const char *names[] = {"debug", "info", "warn", "error"};
	char line[2048], safe[4096], ts[32];
	va_list ap;

	if (level < dm_log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	log_escape(line, safe, sizeof safe);
	dm_fmt_time(dm_now_ms(), ts);
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s %s %s\n", ts, names[level & 3], safe);
	pthread_mutex_unlock(&log_lock);
}

int64_t dm_now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int64_t dm_mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

char *dm_fmt_time(int64_t ms, char buf[32])
{
	char tmp[64];
	char *out = buf;
	buf = tmp;
	int64_t local = ms + (int64_t)dm_tz_offset_min * 60000;
	int64_t days = local >= 0 ? local / 86400000 : -((-local + 86399999) / 86400000);
	int64_t rem = local - days * 86400000;
	int y, mo, d, off = dm_tz_offset_min < 0 ? -dm_tz_offset_min : dm_tz_offset_min;

	civil_from_days(days, &y, &mo, &d);
	if (y < 0 || y > 9999)
		y = y < 0 ? 0 : 9999;
	snprintf(buf, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03d%c%02d:%02d", y, mo, d, (int)(rem / 3600000),
		 (int)(rem / 60000 % 60), (int)(rem / 1000 % 60), (int)(rem % 1000),
		 dm_tz_offset_min < 0 ? '-' : '+', off / 60, off % 60);
	memcpy(out, tmp, 30);
	out[29] = 0;
	return out;
}

/* Reads exactly n digits at *p into *v. 1 on success. */
static int digits(const char **p, int n, int *v)
{
	int x = 0;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return 0;
		x = x * 10 + (c - '0');
	}
	*p += n;
	*v = x;
	return 1;
}

int64_t dm_parse_id(const char *s)
{
	int64_t v = 0;
	size_t n = 0;
	if (!s || !*s)
		return 0;
	for (; *s; s++, n++) {
		if (*s < '0' || *s > '9' || n >= 18)
			return 0;
		v = v * 10 + (*s - '0');
	}
	return v;
}

int dm_parse_time(const char *s, int64_t *ms)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, off = dm_tz_offset_min;
	const char *p = s;

	if (!s || !digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
	    !digits(&p, 2, &d))
		return DM_EINVAL;
	if (*p != ' ' && *p != 'T')
		return DM_EINVAL;
	p++;
	if (!digits(&p, 2, &h))
		return DM_EINVAL;
	if (*p == ':') {
		p++;
		if (!digits(&p, 2, &mi))
			return DM_EINVAL;
		if (*p == ':') {
			p++;
			if (!digits(&p, 2, &sec))
				return DM_EINVAL;
			if (*p == '.') {
				int n = 0, scale = 100;
				p++;
				while (*p >= '0' && *p <= '9') {
					if (n++ < 3) {
						frac += (*p - '0') * scale;
						scale /= 10;
					}
					p++;
				}
				if (!n)
					return DM_EINVAL;
			}
		}
	}
	if (*p == 'Z' || *p == 'z') {
		off = 0;
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om, sign = *p == '-' ? -1 : 1;
		p++;
		if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 || om > 59)
			return DM_EINVAL;
		off = sign * (oh * 60 + om);
	}
	if (*p)
		return DM_EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
		return DM_EINVAL;
	if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return DM_EINVAL;
	if (sec == 60)
		sec = 59;
	*ms = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) - (int64_t)off * 60) * 1000 + frac;
	return DM_OK;
}

int dm_random(void *buf, size_t n)
{
	unsigned char *p = buf;
	while (n > 0) {
		ssize_t got = getrandom(p, n, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return DM_ERR;
		}
		p += got;
		n -= (size_t)got;
	}
	return DM_OK;
}

uint32_t dm_random_below(uint32_t bound)
{
	uint32_t x, limit;
	if (bound < 2)
		return 0;
	limit = UINT32_MAX - UINT32_MAX % bound;
	do {
		if (dm_random(&x, sizeof x) != DM_OK)
			x = 0; /* getrandom cannot fail for a 4-byte read once seeded */
	} while (x >= limit);
	return x % bound;
}

/* mbedtls's entropy source (MBEDTLS_ENTROPY_HARDWARE_ALT): getrandom(2),
 * so TLS works in an empty root with no /dev. */
int mbedtls_hardware_poll(void *data, unsigned char *output, size_t len, size_t *olen);
int mbedtls_hardware_poll(void *data, unsigned char *output, size_t len, size_t *olen)
{
	(void)data;
	if (dm_random(output, len) != DM_OK) {
		*olen = 0;
		return -1;
	}
	*olen = len;
	return 0;
}

const char DM_B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const char DM_B64STD[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t dm_b64_encode(const char *alphabet, const void *in, size_t n, char *out)
{
	const unsigned char *s = in;
	size_t o = 0, i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
		out[o++] = alphabet[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)s[i] << 16;
		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
	}
	out[o] = 0;
	return o;
}

/* The value of c in alphabet (whose first 62 characters are A-Z a-z 0-9,
 * as in both of ours), or -1. */
static int b64val(const char *alphabet, unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (unsigned char)alphabet[62])
		return 62;
	if (c == (unsigned char)alphabet[63])
		return 63;
	return -1;
}

long dm_b64_decode(const char *alphabet, const char *in, size_t n, void *out, size_t outcap)
{
	unsigned char *o = out;
	size_t len = 0;
	uint32_t acc = 0;
	int bits = 0;

	if (n % 4 == 1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int v = b64val(alphabet, (unsigned char)in[i]);
		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (len >= outcap)
				return -1;
			o[len++] = (unsigned char)(acc >> bits);
		}
	}
	/* leftover bits must be zero (canonical encoding) */
	if (bits && (acc & ((1u << bits) - 1)))
		return -1;
	return (long)len;
}

size_t dm_b64url_encode(const void *in, size_t n, char *out)
{
	return dm_b64_encode(DM_B64URL, in, n, out);
}

long dm_b64url_decode(const char *in, size_t n, void *out, size_t outcap)
{
	return dm_b64_decode(DM_B64URL, in, n, out, outcap);
}

void dm_hex(const void *in, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	const unsigned char *s = in;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[s[i] >> 4];
		out[2 * i + 1] = hx[s[i] & 15];
	}
	out[2 * n] = 0;
}

int dm_utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t need;
		uint32_t cp;
		if (c >= 0xC2 && c <= 0xDF) {
			need = 1;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			need = 2;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			need = 3;
			cp = c & 0x07;
		} else
			return 0;
		if (need >= n - i) /* the sequence runs past the end */
			return 0;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3F);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		i += need + 1;
	}
	return 1;
}

size_t dm_utf8_repair(const char *str, size_t n, char *out)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		size_t len = s[i] < 0x80 ? 1 : s[i] >= 0xF0 ? 4 : s[i] >= 0xE0 ? 3 : s[i] >= 0xC0 ? 2 : 0;
		if (len && len <= n - i && dm_utf8_valid(str + i, len)) {
			memcpy(out + o, str + i, len);
			o += len;
			i += len;
			continue;
		}
		memcpy(out + o, "\xEF\xBF\xBD", 3);
		o += 3;
		i++;
	}
	return o;
}

size_t dm_utf8_len(const char *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			c++;
	return c;
}

int dm_strlcpy(char *dst, const char *src, size_t cap)
{
	size_t n = strlen(src);
	if (cap == 0)
		return DM_ETOOBIG;
	if (n >= cap) {
		memcpy(dst, src, cap - 1);
		dst[cap - 1] = 0;
		return DM_ETOOBIG;
	}
	memcpy(dst, src, n + 1);
	return DM_OK;
}

int dm_snprintf(char *dst, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(dst, cap, fmt, ap);
	va_end(ap);
	return (n < 0 || (size_t)n >= cap) ? DM_ETOOBIG : DM_OK;
}

void dm_assert_fail(const char *cond, const char *file, int line, const char *func)
{
	dm_log(DM_LOG_ERROR, "assertion failed: %s (%s:%d, %s)", cond, file, line, func);
	abort();
}
