/*
 * keyword — keyword alerts (키워드 알림): each user keeps up to
 * KEYWORD_MAX words; a new open post in their region whose title, wanted
 * item or comment contains one of them (a substring, ASCII letters
 * without case, as search) notifies them once per post (type "keyword",
 * one unread notification coalesced under the key "keyword", cnt counting
 * posts). Never for their own post, nor for the post of a user they
 * block or who block them (the userBlock table, read in the match). Prefix: keyword_.
 *
 * Routes: GET /keywords, PUT /keywords (see docs/API.md "Keyword alerts").
 */
#ifndef KEYWORD_H
#define KEYWORD_H

#include <sqlite3.h>
#include <stdint.h>

#define KEYWORD_MAX 30        /* words per user */
#define KEYWORD_MAX_CHARS 20  /* characters per word */

int keyword_init(void);
void keyword_stop(void);

/* The matcher: called by the post's write job (item_post.c) on the writer
 * w, in the post's transaction, after item_id was inserted. Stores the
 * alerts (notify_add, delivered after the commit). Best effort: a failure
 * is logged and never fails the post. */
void keyword_on_post(sqlite3 *w, int64_t item_id);

#endif
