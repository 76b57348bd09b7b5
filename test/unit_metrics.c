/*
 * unit_metrics.c — the registry behind GET /metrics: figures print in
 * registration order with their TYPE lines, each group read once per
 * print, a name registered twice or a group too large is refused and
 * changes nothing, a short buffer is never overrun and the needed length
 * is reported, and one figure can be read by name.
 */
#include "../src/core/dm.c"
#include "../src/core/metrics.c"

#include <stdlib.h>

#include "unit.h"

static int reads_a, reads_b;

static const metrics_def_t group_a[] = {
	{"t_requests_total", METRICS_COUNTER},
	{"t_queue", METRICS_GAUGE},
};

static void read_a(unsigned long long *v)
{
	reads_a++;
	v[0] = 42;
	v[1] = 7;
}

static const metrics_def_t group_b[] = {
	{"t_sessions", METRICS_GAUGE},
};

static void read_b(unsigned long long *v)
{
	reads_b++;
	v[0] = 18446744073709551615ull;
}

static const char want[] = "# TYPE t_requests_total counter\nt_requests_total 42\n"
			   "# TYPE t_queue gauge\nt_queue 7\n"
			   "# TYPE t_sessions gauge\nt_sessions 18446744073709551615\n";

static void test_format(void)
{
	char buf[512];
	size_t n;

	n = metrics_format(buf, sizeof buf);
	CHECK(n == 0 && buf[0] == 0, "an empty registry prints nothing (%zu)", n);
	CHECK(metrics_add(group_a, 2, read_a) == DM_OK, "group a registered");
	CHECK(metrics_add(group_b, 1, read_b) == DM_OK, "group b registered");
	n = metrics_format(buf, sizeof buf);
	CHECK(n == sizeof want - 1 && !strcmp(buf, want), "registration order, TYPE lines: %s", buf);
	CHECK(reads_a == 1 && reads_b == 1, "each group read once per print (%d, %d)", reads_a, reads_b);
}

/* every cap from 0 to the full length: NUL-terminated inside cap, the
 * needed length reported, the bytes after cap untouched */
static void test_short_buffer(void)
{
	char buf[sizeof want + 8];
	for (size_t cap = 0; cap < sizeof want; cap++) {
		size_t n;
		memset(buf, 'x', sizeof buf);
		n = metrics_format(buf, cap);
		CHECK(n == sizeof want - 1, "cap %zu: needed length %zu", cap, n);
		CHECK(cap == 0 || (strlen(buf) < cap && !strncmp(buf, want, strlen(buf))),
		      "cap %zu: a terminated prefix", cap);
		CHECK(buf[cap] == 'x' && buf[sizeof buf - 1] == 'x', "cap %zu: nothing written past cap", cap);
	}
}

static void test_refused(void)
{
	static const metrics_def_t dup[] = {{"t_new", METRICS_GAUGE}, {"t_queue", METRICS_GAUGE}};
	static metrics_def_t big[MAX_PER_GROUP + 1];
	static const metrics_def_t one[] = {{"t_one", METRICS_GAUGE}};
	char buf[512];
	unsigned long long v;

	CHECK(metrics_add(dup, 2, read_a) == DM_ERR, "a name registered twice is refused");
	CHECK(metrics_value("t_new", &v) == DM_ENOTFOUND, "a refused group leaves nothing behind");
	for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
		big[i] = (metrics_def_t){"t_big", METRICS_GAUGE};
	CHECK(metrics_add(big, sizeof big / sizeof big[0], read_a) == DM_ERR, "a group too large is refused");
	CHECK(metrics_add(one, 0, read_a) == DM_ERR, "an empty group is refused");
	CHECK(metrics_add(one, 1, NULL) == DM_ERR, "a group without a read function is refused");
	CHECK(metrics_format(buf, sizeof buf) == sizeof want - 1 && !strcmp(buf, want), "the registry is as it was");
}

static void test_value(void)
{
	unsigned long long v = 1;
	CHECK(metrics_value("t_queue", &v) == DM_OK && v == 7, "a figure by name (%llu)", v);
	CHECK(metrics_value("t_sessions", &v) == DM_OK && v == 18446744073709551615ull, "the whole range");
	CHECK(metrics_value("t_missing", &v) == DM_ENOTFOUND && v == 0, "an unknown name reads 0");
	CHECK(metrics_value("t_queu", &v) == DM_ENOTFOUND, "names match whole");
}

/* the registry holds MAX_GROUPS groups; the next is refused */
static void test_full(void)
{
	static metrics_def_t defs[MAX_GROUPS][1];
	static char names[MAX_GROUPS][24];
	unsigned long long v;
	int ok = 0, g;
	for (g = 0; g < MAX_GROUPS; g++) {
		snprintf(names[g], sizeof names[g], "t_full_%d", g);
		defs[g][0] = (metrics_def_t){names[g], METRICS_COUNTER};
		if (metrics_add(defs[g], 1, read_b) == DM_OK)
			ok++;
	}
	CHECK(ok == MAX_GROUPS - 2, "fills up after the two groups already there (%d)", ok);
	CHECK(metrics_value("t_full_13", &v) == DM_OK, "the last one fits");
	CHECK(metrics_value("t_full_14", &v) == DM_ENOTFOUND, "the one past the end is not there");
}

int main(void)
{
	dm_log_level = DM_LOG_ERROR + 1; /* the refusals log errors on purpose */
	test_format();
	test_short_buffer();
	test_refused();
	test_value();
	test_full();
	UNIT_DONE("unit_metrics");
}
