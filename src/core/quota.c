/*
 * quota.c — per-user token buckets (see quota.h).
 *
 * Thread-safety: the table is under one mutex; each call holds it for a
 * hash lookup (and, now and then, one pass that drops full buckets). The
 * holder records itself, so *_locked functions can assert they hold it.
 */
#include <pthread.h>
#include <stdlib.h>

#include "config.h"
#include "dm.h"
#include "quota.h"

#define HEADS 4096
#define PRUNE_MIN 4096

typedef struct bucket {
	int64_t uid;
	int kind;
	double tokens;      /* units left */
	int64_t t_ms;       /* when tokens was last brought up to date (monotonic) */
	struct bucket *next;
} bucket_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t lock_owner; /* valid while lock_held; both under lock */
static int lock_held;
static bucket_t *heads[HEADS];
static size_t count, prune_at = PRUNE_MIN;

/* This thread holds lock (in every *_locked function). */
#define ASSERT_LOCKED() dm_assert(lock_held && pthread_equal(lock_owner, pthread_self()))

static void table_lock(void)
{
	pthread_mutex_lock(&lock);
	lock_owner = pthread_self();
	lock_held = 1;
}

static void table_unlock(void)
{
	ASSERT_LOCKED();
	lock_held = 0;
	pthread_mutex_unlock(&lock);
}

/* kind's capacity (units) and window (ms), from the configuration */
static void limits(int kind, double *cap, double *window_ms)
{
	switch (kind) {
	case QUOTA_MESSAGES:
		*cap = cfg.quota_messages;
		*window_ms = 60e3;
		break;
	case QUOTA_POSTS:
		*cap = cfg.quota_posts;
		*window_ms = 3600e3;
		break;
	default:
		*cap = (double)cfg.quota_upload_mb * 1048576.0;
		*window_ms = 3600e3;
	}
}

/* Locked. Brings b's tokens up to now; 1 if it is full. */
static int refill_locked(bucket_t *b, int64_t now)
{
	double cap, win;
	ASSERT_LOCKED();
	limits(b->kind, &cap, &win);
	if (now > b->t_ms) {
		b->tokens += (double)(now - b->t_ms) * cap / win;
		b->t_ms = now;
	}
	if (b->tokens >= cap) {
		b->tokens = cap;
		return 1;
	}
	return 0;
}

/* Locked. Drops every full bucket (they remember nothing). */
static void prune_locked(int64_t now)
{
	ASSERT_LOCKED();
	for (size_t h = 0; h < HEADS; h++)
		for (bucket_t **pp = &heads[h]; *pp;) {
			bucket_t *b = *pp;
			if (refill_locked(b, now)) {
				*pp = b->next;
				free(b);
				dm_assert(count > 0);
				count--;
			} else
				pp = &b->next;
		}
	prune_at = count * 2 > PRUNE_MIN ? count * 2 : PRUNE_MIN;
}

/* Locked. uid's bucket of kind, up to date; created full when missing
 * (NULL on out-of-memory). */
static bucket_t *get_locked(int kind, int64_t uid, int64_t now)
{
	size_t h = ((uint64_t)uid * 0x9E3779B97F4A7C15ull >> 40 ^ (uint64_t)kind) % HEADS;
	bucket_t *b;
	double cap, win;

	ASSERT_LOCKED();
	for (b = heads[h]; b; b = b->next)
		if (b->uid == uid && b->kind == kind) {
			refill_locked(b, now);
			return b;
		}
	if (count >= prune_at)
		prune_locked(now);
	b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	limits(kind, &cap, &win);
	b->uid = uid;
	b->kind = kind;
	b->tokens = cap;
	b->t_ms = now;
	b->next = heads[h];
	heads[h] = b;
	count++;
	return b;
}

/* Seconds until b holds need units (at least 1). */
static int wait_s(const bucket_t *b, double need)
{
	double cap, win, s;
	limits(b->kind, &cap, &win);
	s = (need - b->tokens) * win / cap / 1000.0;
	return s < 1 ? 1 : s > 86400 ? 86400 : (int)(s + 0.999);
}

static int take(int kind, int64_t uid, double amount, int *retry_s)
{
	int64_t now = dm_mono_ms();
	bucket_t *b;
	int rc = DM_OK;

	if (kind < 0 || kind >= QUOTA_KINDS)
		return DM_EINVAL;
	table_lock();
	b = get_locked(kind, uid, now);
	if (!b)
		rc = DM_ENOMEM;
	else if (b->tokens < (amount > 0 ? amount : 1)) {
		rc = DM_ERATE;
		if (retry_s)
			*retry_s = wait_s(b, amount > 0 ? amount : 1);
	} else
		b->tokens -= amount;
	table_unlock();
	return rc;
}

int quota_take(int kind, int64_t uid, int64_t amount, int *retry_s)
{
	return take(kind, uid, (double)amount, retry_s);
}

int quota_check(int kind, int64_t uid, int *retry_s)
{
	return take(kind, uid, 0, retry_s);
}

int quota_init(void)
{
	return DM_OK;
}

void quota_stop(void)
{
	table_lock();
	for (size_t h = 0; h < HEADS; h++)
		while (heads[h]) {
			bucket_t *b = heads[h];
			heads[h] = b->next;
			free(b);
		}
	count = 0;
	prune_at = PRUNE_MIN;
	table_unlock();
}
