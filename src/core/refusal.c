/*
 * refusal — the catalog's accessors (the table itself is DM_REFUSALS in
 * refusal.h, so that the enum and the rows cannot drift apart).
 */
#include <stdio.h>

#include "dm.h"
#include "refusal.h"

static const struct {
	const char *name, *code, *msg;
	int status;
} rows[RF_COUNT] = {
#define X(n, wire, st, m) [RF_##n] = {#n, wire, m, st},
	DM_REFUSALS(X)
#undef X
};

const char *refusal_code(refusal_t rf)
{
	dm_assert((unsigned)rf < RF_COUNT);
	return rows[rf].code;
}

int refusal_status(refusal_t rf)
{
	dm_assert((unsigned)rf < RF_COUNT);
	return rows[rf].status;
}

const char *refusal_msg(refusal_t rf)
{
	dm_assert((unsigned)rf < RF_COUNT);
	return rows[rf].msg;
}

refusal_t refusal_of_status(int s)
{
	switch (s) {
	case DM_EINVAL: return RF_INVALID_INPUT;
	case DM_EAUTH: return RF_UNAUTHORIZED;
	case DM_EFORBID: return RF_FORBIDDEN;
	case DM_ENOTFOUND: return RF_NOT_FOUND;
	case DM_ECONFLICT: return RF_CONFLICT;
	case DM_ETOOBIG: return RF_TOO_LARGE;
	case DM_ERATE: return RF_RATE_LIMITED;
	case DM_EUNAVAIL: return RF_UNAVAILABLE;
	default: return RF_INTERNAL;
	}
}

void refusal_print(FILE *f)
{
	for (int i = 0; i < RF_COUNT; i++)
		fprintf(f, "%s\t%s\t%d\t%s\n", rows[i].name, rows[i].code, rows[i].status, rows[i].msg);
}
