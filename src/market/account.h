/*
 * account — /account/...: sign-up, login, tokens, reset. Prefix: account_.
 */
#ifndef ACCOUNT_H
#define ACCOUNT_H

#include <sqlite3.h>
#include <stdint.h>

#include "http.h"

/* Registers the /account routes. */
int account_init(void);
void account_stop(void);

/* Issues an access token and a refresh token for user_id (a new refresh
 * family when family is NULL) and replies like login:
 * {msg, email, nickname, address, userId, mannerTemp, token:"bearer …",
 * refreshToken}. Used by login, refresh and social sign-in. */
int account_reply_session(http_req_t *r, int64_t user_id, const char *family);

/* For a request asking for a browser session (X-Dongmul-Session: cookie)
 * from an origin that is not allowed: replies 403 BAD_ORIGIN and returns
 * 1. Otherwise 0 (nothing sent). Login and the social exchange call it
 * before they spend anything. */
int account_cookie_refused(http_req_t *r);

/* 1 if e looks like an email we accept (one @, a dotted domain, no spaces,
 * control characters or header-breaking punctuation, at most 254 bytes). */
int account_email_ok(const char *e);
/* 1 if s is an acceptable nickname: 2–20 characters, no control
 * characters, not blank. */
int account_nickname_ok(const char *s);

#endif
