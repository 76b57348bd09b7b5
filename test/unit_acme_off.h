/*
 * unit_acme_off.h — for unit tests that include http.c without acme.c:
 * the ACME front door stays shut (no --acme-domain), so these three are
 * what http.c links to and never calls.
 */
#ifndef UNIT_ACME_OFF_H
#define UNIT_ACME_OFF_H
#include "../src/web/acme.h"
#include "../src/core/dm.h"

int acme_http01(const char *token, char *out, size_t cap)
{
	(void)token;
	(void)out;
	(void)cap;
	return DM_ENOTFOUND;
}
int acme_is_domain(const char *host)
{
	(void)host;
	return 0;
}
void acme_first_domain(char *out, size_t cap)
{
	dm_strlcpy(out, "", cap);
}
#endif
