/*
 * metrics — the registry behind GET /metrics. Each part registers the
 * figures it keeps (counters and gauges) from its init; http prints the
 * registry in Prometheus' text format, and any part may read one figure by
 * name (operator's live counts). So http knows no part's counters and no
 * part calls another to read them. Prefix: metrics_.
 *
 * A figure belongs to a group: a table of names read together by one
 * function (figures taken under one lock stay consistent with each other).
 *
 * Thread-safety: groups are registered at start-up, before http_start (one
 * thread); afterwards the registry is read-only and read by worker threads,
 * so a group's read function must be safe to call from any thread.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>

typedef enum { METRICS_COUNTER, METRICS_GAUGE } metrics_kind_t;

typedef struct metrics_def {
	const char *name;        /* "dongmul_sio_sessions" (static) */
	metrics_kind_t kind;     /* a counter only grows; a gauge goes both ways */
} metrics_def_t;

/* Fills v[i] with the current value of the group's defs[i]. */
typedef void (*metrics_read_fn)(unsigned long long *v);

/* Registers n figures (defs kept by pointer: pass a static table) read by
 * read. Printed in registration order. Call before http_start. DM_OK, or
 * DM_ERR when the registry is full or a name is taken (logged). */
int metrics_add(const metrics_def_t *defs, size_t n, metrics_read_fn read);

/* Writes every figure as "# TYPE name kind\nname value\n" lines into buf
 * (NUL-terminated). Returns the length it needed, like snprintf: a value
 * >= cap means buf was too small. */
size_t metrics_format(char *buf, size_t cap);

/* The current value of the figure called name. DM_OK and *out, or
 * DM_ENOTFOUND when no part registered it (*out = 0). */
int metrics_value(const char *name, unsigned long long *out);

#endif
