/*
 * item — posts with a photo and a deadline, the feeds (anonymous and per
 * region, keyset-paged), search (FTS5 trigram), detail and join buttons,
 * my page, region setting, delete, and deadline expiry.
 * Routes: /mainPage, /mainPage/noLogin, /mainPage/search, /mainPage/write,
 * /postDetail/:itemId, /postDetail/icrId/:icrId, /myPage, /myPage/address,
 * /myPage/delete, /images/:name (see API.md "Items").
 * Prefix: item_.
 */
#ifndef ITEM_H
#define ITEM_H

#include <stddef.h>
#include <stdint.h>

/* Registers the routes and the expiry timer (every cfg.expiry_interval
 * seconds); removes stale upload temp files. DM_OK or DM_ERR. */
int item_init(void);
void item_stop(void);

/* Hook for the notify part: called after each committed expiry batch with
 * the ids of the items that just turned SI01 -> SI03 (ids owned by the
 * caller: copy them to keep them). Runs on a pool worker thread, never on
 * the write lane, so it may itself queue write jobs. Set it once from an
 * init function (before the pool starts); NULL means nobody listens. */
extern void (*item_on_expired)(const int64_t *item_ids, size_t n);

/* (item_post.c) The POST /mainPage/write handler: a post with its photo.
 * Registered by item_init. */
struct http_req;
int item_post(struct http_req *r);

/* Is cat one of the seed frontend's categories? 1/0. */
int item_category_ok(const char *cat);

#endif
