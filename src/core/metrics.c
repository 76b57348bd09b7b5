/*
 * metrics.c — the registry of counters and gauges behind GET /metrics (see
 * metrics.h).
 *
 * Thread-safety: the group table is written during start-up only (one
 * thread, no server running); afterwards it is read-only, and each group's
 * read function guards its own state.
 */
#include <stdio.h>
#include <string.h>

#include "dm.h"
#include "metrics.h"

#define MAX_GROUPS 16
#define MAX_PER_GROUP 16

static struct {
	const metrics_def_t *defs;
	size_t n;
	metrics_read_fn read;
} groups[MAX_GROUPS];
static int ngroups;

/* The group and index of the figure called name; -1 when none. */
static int find(const char *name, size_t *idx)
{
	for (int g = 0; g < ngroups; g++)
		for (size_t i = 0; i < groups[g].n; i++)
			if (!strcmp(groups[g].defs[i].name, name)) {
				*idx = i;
				return g;
			}
	return -1;
}

int metrics_add(const metrics_def_t *defs, size_t n, metrics_read_fn read)
{
	size_t idx;
	if (ngroups == MAX_GROUPS || n == 0 || n > MAX_PER_GROUP || !read) {
		dm_error("metrics: cannot register %zu figure(s) (%d groups already)", n, ngroups);
		return DM_ERR;
	}
	for (size_t i = 0; i < n; i++)
		if (find(defs[i].name, &idx) >= 0) {
			dm_error("metrics: %s is registered twice", defs[i].name);
			return DM_ERR;
		}
	groups[ngroups].defs = defs;
	groups[ngroups].n = n;
	groups[ngroups].read = read;
	ngroups++;
	return DM_OK;
}

size_t metrics_format(char *buf, size_t cap)
{
	size_t len = 0;
	if (cap)
		buf[0] = 0;
	for (int g = 0; g < ngroups; g++) {
		unsigned long long v[MAX_PER_GROUP];
		groups[g].read(v);
		for (size_t i = 0; i < groups[g].n; i++) {
			const metrics_def_t *d = &groups[g].defs[i];
			int k = snprintf(len < cap ? buf + len : NULL, len < cap ? cap - len : 0,
					 "# TYPE %s %s\n%s %llu\n", d->name,
					 d->kind == METRICS_COUNTER ? "counter" : "gauge", d->name, v[i]);
			if (k > 0)
				len += (size_t)k;
		}
	}
	return len;
}

int metrics_value(const char *name, unsigned long long *out)
{
	unsigned long long v[MAX_PER_GROUP];
	size_t idx;
	int g = find(name, &idx);
	*out = 0;
	if (g < 0)
		return DM_ENOTFOUND;
	groups[g].read(v);
	*out = v[idx];
	return DM_OK;
}
