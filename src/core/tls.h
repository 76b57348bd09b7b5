/*
 * tls — server certificate material for civetweb, and the hot swap of the
 * served certificate. Prefix: tls_.
 *
 * civetweb hands us its server mbedtls_ssl_config (tls_init_conf); we add
 * a certificate callback that picks, for every new handshake, the pair
 * (chain + key) current at that moment. tls_install swaps in a new pair
 * (ACME renewal, SIGHUP re-read of --cert/--key): handshakes that started
 * before keep the old pair, open connections are not touched. With ACME
 * the callback also answers TLS-ALPN-01 validation handshakes
 * ("acme-tls/1") with the challenge certificate set by tls_alpn_set.
 *
 * Thread-safety: every function here is thread-safe. A replaced pair is
 * freed only after a grace period far longer than civetweb lets a
 * handshake take (request_timeout_ms), or at tls_shutdown.
 */
#ifndef TLS_H
#define TLS_H

#include <stddef.h>

/* Writes into path the PEM file civetweb serves from (key and certificate
 * in one file, mode 0600, under DATA/tls/): with --tls-self-signed the key
 * and certificate generated once with mbedtls and kept; with --cert/--key
 * their concatenation. DM_OK or DM_ERR (logged). */
int tls_server_pem(char *path, size_t cap);

/* Generates an EC P-256 key and a self-signed certificate for localhost,
 * 127.0.0.1 and ::1 into key_pem / crt_pem (NUL-terminated).
 * DM_OK or DM_ERR. */
int tls_make_self_signed(char *key_pem, size_t keycap, char *crt_pem, size_t crtcap);

/* civetweb's init_ssl callback: conf is the server mbedtls_ssl_config.
 * Loads the pair from the PEM file tls_server_pem wrote, installs the
 * certificate callback and, with ACME on, the ALPN list. 0 or -1. */
int tls_init_conf(void *conf, void *user);

/* Parses a PEM chain (leaf first) and its PEM private key, checks they
 * belong together, and makes them the pair new handshakes get.
 * DM_OK, DM_EINVAL (not parsable or not a pair: nothing changed), DM_ENOMEM. */
int tls_install(const char *key_pem, const char *chain_pem);

/* SIGHUP: re-reads --cert/--key, rewrites the served PEM and installs it.
 * A bad or mismatched pair is refused (logged) and the old one kept.
 * DM_OK, DM_EINVAL, or DM_OK doing nothing without --cert. */
int tls_reload(void);

/* TLS-ALPN-01 (RFC 8737): the self-signed certificate for name carrying
 * the acmeIdentifier extension with SHA-256(keyauth). Replaces an earlier
 * one for the same name. DM_OK, DM_ERR, DM_ETOOBIG (too many names). */
int tls_alpn_set(const char *name, const char *keyauth);
/* Forgets every TLS-ALPN-01 certificate. */
void tls_alpn_clear(void);

/* Writes data to path atomically (temp file, fsync, rename), mode 0600;
 * b may be NULL. DM_OK or DM_ERR (logged). */
int tls_write_private(const char *path, const char *a, const char *b);
/* Reads a whole small file (< 1 MiB), NUL-terminated, ending in a newline;
 * caller frees. NULL on error (logged). */
char *tls_slurp(const char *path);

/* Frees every pair (after http_stop). */
void tls_shutdown(void);

#endif
