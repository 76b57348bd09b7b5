/*
 * bench/hget.c — sequential HTTP latency: one keep-alive connection, COUNT
 * GET requests one after another (after WARM unmeasured ones), each timed
 * from the first byte written to the last byte of the body read.
 *
 *   hget HOST PORT PATH COUNT [HEADER-LINE]
 *
 * A "%x" in PATH becomes the request's number in hex (0, 1, 2, ...): every
 * request then asks for a different URL (to get past a reply cache).
 * Prints one line: "p50_us p90_us p99_us mean_us n status bytes". Exits 1 if
 * any reply is not 200.
 */
#include "bt.h"

#define WARM 20

int main(int argc, char **argv)
{
	const char *host, *path;
	char extra[4096] = "";
	int port, count, fd = -1;
	int64_t *lat, sum = 0;
	size_t bytes = 0;

	if (argc < 5)
		bt_die("usage: hget HOST PORT PATH COUNT [HEADER-LINE]");
	host = argv[1];
	port = atoi(argv[2]);
	path = argv[3];
	count = atoi(argv[4]);
	if (argc > 5)
		snprintf(extra, sizeof extra, "%s\r\n", argv[5]);
	if (count < 1 || !(lat = calloc((size_t)count, sizeof *lat)))
		bt_die("hget: bad COUNT");
	for (int i = -WARM; i < count; i++) {
		bt_reply_t r;
		char url[2048];
		const char *x = strstr(path, "%x");
		int64_t t0;
		if (x)
			snprintf(url, sizeof url, "%.*s%x%s", (int)(x - path), path, (unsigned)(i + WARM), x + 2);
		else
			snprintf(url, sizeof url, "%s", path);
		t0 = bt_now_us();
		if (bt_http(&fd, host, port, "GET", url, extra, NULL, &r) != 0)
			bt_die("hget: request %d failed", i);
		if (r.status != 200)
			bt_die("hget: %s answered %d: %.200s", path, r.status, r.body ? r.body : "");
		if (i >= 0) {
			lat[i] = bt_now_us() - t0;
			sum += lat[i];
			bytes = r.len;
		}
		free(r.body);
	}
	qsort(lat, (size_t)count, sizeof *lat, bt_cmp_i64);
	printf("%lld %lld %lld %lld %d 200 %zu\n", (long long)bt_pct(lat, (size_t)count, 50),
	       (long long)bt_pct(lat, (size_t)count, 90), (long long)bt_pct(lat, (size_t)count, 99),
	       (long long)(sum / count), count, bytes);
	if (fd >= 0)
		close(fd);
	free(lat);
	return 0;
}
