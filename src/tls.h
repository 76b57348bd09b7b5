/*
 * tls — server certificate material for civetweb. Prefix: tls_.
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

#endif
