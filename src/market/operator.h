/*
 * operator — the operator's API for the web app's /admin pages (reports
 * queue, suspend / unsuspend / dismiss, user lookup, live counts): see
 * operator.c. Prefix: operator_.
 */
#ifndef OPERATOR_H
#define OPERATOR_H

/* Registers the /operator/ routes. DM_OK. */
int operator_init(void);

#endif
