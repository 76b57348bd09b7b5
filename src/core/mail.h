/*
 * mail — the outbox (a table, so no mail is lost across a restart) and its
 * delivery by SMTP over mbedtls: smtp:// upgrades with STARTTLS when the
 * server offers it, smtps:// is TLS from the first byte, the server's
 * certificate is verified against --ca-bundle, credentials go with AUTH
 * PLAIN or LOGIN. Failed sends are retried with backoff. Without --smtp
 * every mail is written to the log instead (a Pi with no mail server still
 * works: the operator reads the code there). Prefix: mail_.
 */
#ifndef MAIL_H
#define MAIL_H

#include <sqlite3.h>
#include <stddef.h>

/* Checks --smtp, says at start-up where mail goes, and starts the delivery
 * timer. DM_OK or DM_ERR (bad --smtp). */
int mail_init(void);
void mail_stop(void);

/* Queues one mail. Call INSIDE a write job with the writer connection w,
 * so the mail is committed together with the change that caused it (and
 * rolled back with it). subject, text and html are UTF-8; html is the
 * HTML alternative of text. DM_OK, DM_EINVAL (bad address), DM_ERR. */
int mail_queue(sqlite3 *w, const char *to, const char *subject, const char *text, const char *html);

/* Builds the whole RFC 5322 message (CR LF line ends, multipart/alternative,
 * base64 parts, RFC 2047 encoded headers). Returns a malloc'd string the
 * caller frees, or NULL. Exposed for unit tests. */
char *mail_build(const char *from, const char *to, const char *subject, const char *text, const char *html);

/* RFC 2047: s as one or more "=?UTF-8?B?...?=" words of at most 75
 * characters, never splitting a UTF-8 sequence, folded with CR LF SP; plain
 * printable ASCII is copied as is. DM_OK or DM_ETOOBIG. */
int mail_encode_header(const char *s, char *out, size_t cap);

#endif
