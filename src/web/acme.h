/*
 * acme — automatic HTTPS certificates from an ACME server (RFC 8555; Let's
 * Encrypt by default). Prefix: acme_.
 *
 * With --acme-domain, a pool task gets a certificate for the names (HTTP-01
 * on the HTTP listener when there is one, else TLS-ALPN-01, RFC 8737, on
 * the HTTPS listener), keeps the account key and the certificate in
 * DATA/acme/ and DATA/tls/ (0600), installs it with tls_install (no
 * restart), and renews it in the window ACME Renewal Information (RFC 9773)
 * suggests, else at two thirds of its lifetime. A failed attempt is retried
 * after --acme-retry seconds, doubling up to six hours; the certificate in
 * service stays until a new one is installed.
 *
 * Thread-safety: every exported function is thread-safe. One attempt runs
 * at a time, on a pool worker.
 */
#ifndef ACME_H
#define ACME_H

#include <stddef.h>

/* Part hooks (dongmul.c): reads the names, loads or creates the account
 * key, registers the timer. DM_OK (also when ACME is off) or DM_ERR. */
int acme_init(void);
void acme_stop(void);

/* HTTP-01: the key authorization for token into out. DM_OK, or
 * DM_ENOTFOUND when no challenge with that token is pending. */
int acme_http01(const char *token, char *out, size_t cap);

/* 1 if host (no port) is one of the --acme-domain names. */
int acme_is_domain(const char *host);
/* The first --acme-domain name into out ("" when ACME is off). */
void acme_first_domain(char *out, size_t cap);

#endif
