/*
 * net — outbound TCP and TLS client connections (SMTP, OpenID Connect) and a
 * minimal HTTPS client. Prefix: net_.
 *
 * TLS peers are always verified: the certificate chain against the CA
 * bundle (cfg.ca_bundle, loaded once on first use) and the certificate's
 * name against the host we connected to. Every read and write has a
 * timeout, so a silent peer cannot hold a thread for long.
 *
 * Thread-safety: a net_conn_t belongs to one thread at a time. The shared
 * TLS client configuration is built once under a lock and read-only after.
 */
#ifndef NET_H
#define NET_H

#include <stddef.h>

typedef struct net_conn net_conn_t;

/* Connects to host:port (every address the name resolves to is tried in
 * turn) within timeout_ms; with tls, performs the TLS handshake at once.
 * *out is a new connection the caller frees with net_close.
 * DM_OK, DM_EUNAVAIL (cannot connect / handshake / verify; err says why),
 * DM_ENOMEM. err may be NULL. */
int net_connect(const char *host, int port, int tls, int timeout_ms, net_conn_t **out, char *err, size_t errcap);
/* Upgrades a plain connection to TLS (SMTP STARTTLS), verifying the peer
 * against the CA bundle and the host name given to net_connect.
 * DM_OK or DM_EUNAVAIL. */
int net_starttls(net_conn_t *c, char *err, size_t errcap);
/* 1 if the connection is TLS. */
int net_is_tls(const net_conn_t *c);
/* Closes (TLS close-notify if TLS) and frees. NULL is fine. */
void net_close(net_conn_t *c);

/* Writes all n bytes. DM_OK or DM_EUNAVAIL (error or timeout). */
int net_write_all(net_conn_t *c, const void *buf, size_t n);
/* Reads one line ending in "\n" (the CR LF / LF is stripped) into buf.
 * Returns the line length, or -1 on error, timeout, close before a line,
 * or a line longer than cap-1. */
long net_read_line(net_conn_t *c, char *buf, size_t cap);
/* Reads up to n bytes (buffered data first). Returns bytes read, 0 at end
 * of stream, -1 on error or timeout. */
long net_read(net_conn_t *c, void *buf, size_t n);

/* ---- HTTP(S) client (one request per connection) ---- */

typedef struct net_http_resp {
	int status;
	char *body;          /* NUL-terminated; caller frees (free) */
	size_t body_len;
	char ctype[128];     /* Content-Type, possibly empty (empty if longer) */
	char location[1024]; /* Location, possibly empty (empty if longer) */
	char nonce[256];     /* Replay-Nonce (ACME), possibly empty */
	long retry_after;    /* Retry-After in seconds (delta form), -1 if none */
} net_http_resp_t;

/* Sends method url with optional extra headers ("Name: v\r\n"...) and body
 * (ctype its Content-Type), reads the reply (Content-Length, chunked, or
 * until close; at most max_body bytes). url is https://host[:port]/path;
 * http:// is refused unless allow_plain. resp->body must be freed by the
 * caller even on an error status. DM_OK (any HTTP status), DM_EINVAL (bad
 * url), DM_EUNAVAIL (network, TLS, timeout, malformed reply, too large). */
int net_http(const char *method, const char *url, const char *headers, const char *ctype, const char *body,
	     size_t body_len, size_t max_body, int allow_plain, net_http_resp_t *resp);

/* Splits an http(s) URL. host needs 256 bytes, path 2048. DM_OK/DM_EINVAL. */
int net_parse_url(const char *url, int *tls, char host[256], int *port, char path[2048]);

/* Frees the shared TLS configuration (at exit). */
void net_shutdown(void);

#endif
