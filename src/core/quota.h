/*
 * quota — per-user rates: chat messages per minute, item posts per hour,
 * photo bytes uploaded per hour (--quota-messages, --quota-posts,
 * --quota-upload-mb). A token bucket per user and kind, in memory: full at
 * first, refilled continuously over the window. (The storage quota,
 * --quota-storage-mb, is counted in the database by the post job.)
 * Prefix: quota_.
 *
 * Sized for normal use never to meet them; a script that floods is
 * refused (429 / RATE_LIMITED) until its bucket refills. A bucket that is
 * not full is never dropped to make room, so nobody can flush their own
 * counter by spraying other keys; full buckets (nothing to remember) are
 * dropped as the table grows. Thread-safe (one mutex).
 */
#ifndef QUOTA_H
#define QUOTA_H

#include <stdint.h>

enum { QUOTA_MESSAGES, QUOTA_POSTS, QUOTA_UPLOAD, QUOTA_KINDS };

/* Takes amount units (messages, posts, bytes) from uid's bucket of kind.
 * DM_OK, or DM_ERATE with nothing taken and *retry_s (may be NULL) the
 * seconds until it would fit (at least 1). */
int quota_take(int kind, int64_t uid, int64_t amount, int *retry_s);
/* DM_OK if uid's bucket of kind has anything left (takes nothing), else
 * DM_ERATE and *retry_s as above: a refusal before a large body is read. */
int quota_check(int kind, int64_t uid, int *retry_s);

int quota_init(void);
void quota_stop(void);

#endif
