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

#endif
