/*
 * dm.h — what every part of dongmul shares: status codes, logging, time,
 * randomness and small string helpers. Prefix: dm_.
 */
#ifndef DM_H
#define DM_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* One status convention for the whole program. Domain functions return one
 * of these; http maps them to status codes (http_status_of). */
enum {
	DM_OK = 0,
	DM_ERR = -1,        /* our fault (500) */
	DM_EINVAL = -2,     /* bad input (400) */
	DM_EAUTH = -3,      /* no or bad token (401) */
	DM_EFORBID = -4,    /* not allowed (403) */
	DM_ENOTFOUND = -5,  /* 404 */
	DM_ECONFLICT = -6,  /* conflicts with current state (409) */
	DM_ETOOBIG = -7,    /* 413 */
	DM_ERATE = -8,      /* rate limited (429) */
	DM_ENOMEM = -9,     /* out of memory (500) */
	DM_EUNAVAIL = -10   /* shutting down / dependency down (503) */
};

/* Logging to stderr, one line each, with an ISO time. Thread-safe. */
enum { DM_LOG_DEBUG, DM_LOG_INFO, DM_LOG_WARN, DM_LOG_ERROR };
extern int dm_log_level;
void dm_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define dm_debug(...) dm_log(DM_LOG_DEBUG, __VA_ARGS__)
#define dm_info(...)  dm_log(DM_LOG_INFO, __VA_ARGS__)
#define dm_warn(...)  dm_log(DM_LOG_WARN, __VA_ARGS__)
#define dm_error(...) dm_log(DM_LOG_ERROR, __VA_ARGS__)

/* Time. All stored times are UTC milliseconds since the epoch (INTEGER
 * columns named *Dt / deadLine store ms). The configured fixed offset is
 * applied only when formatting and parsing. */
int64_t dm_now_ms(void);
int64_t dm_mono_ms(void);
extern int dm_tz_offset_min;          /* set once by config, e.g. +540 */
/* Formats ms as RFC 3339 with milliseconds in the configured offset:
 * "2026-11-30T18:00:00.000+09:00". buf needs 32 bytes. Returns buf. */
char *dm_fmt_time(int64_t ms, char buf[32]);
/* Parses "YYYY-MM-DD HH:mm", "YYYY-MM-DD HH", "YYYY-MM-DDTHH:mm[:ss[.fff]]"
 * with optional Z or ±HH:MM (without one: the configured offset).
 * Returns DM_OK and *ms, or DM_EINVAL. */
int dm_parse_time(const char *s, int64_t *ms);
/* A decimal id of 1-18 digits (a path capture: /trade/:itemId, ...): the
 * id, or 0 when s is not one (ids start at 1). Nothing but digits: no sign,
 * space or leading "+". */
int64_t dm_parse_id(const char *s);

/* Randomness from getrandom(2) (no /dev needed). DM_OK or DM_ERR. */
int dm_random(void *buf, size_t n);
/* Uniform integer in [0, bound) from dm_random. */
uint32_t dm_random_below(uint32_t bound);

/* base64 without padding in an alphabet: DM_B64URL (RFC 4648 section 5,
 * "-_": tokens, ids) or DM_B64STD (section 4, "+/": PHC password strings).
 * dm_b64_encode writes NUL-terminated text, out needs 4*ceil(n/3)+1 bytes;
 * returns length. dm_b64_decode returns the decoded length, or -1 on bad
 * input (a character outside the alphabet, padding, a non-canonical end)
 * or overflow. dm_b64url_* are the same with DM_B64URL. */
extern const char DM_B64URL[], DM_B64STD[];
size_t dm_b64_encode(const char *alphabet, const void *in, size_t n, char *out);
long dm_b64_decode(const char *alphabet, const char *in, size_t n, void *out, size_t outcap);
size_t dm_b64url_encode(const void *in, size_t n, char *out);
long dm_b64url_decode(const char *in, size_t n, void *out, size_t outcap);
/* Lower-case hex. out needs 2n+1 bytes. */
void dm_hex(const void *in, size_t n, char *out);

/* Strict UTF-8 check (no overlongs, no surrogates, <= U+10FFFF). 1 if valid. */
int dm_utf8_valid(const char *s, size_t n);
/* Number of code points in valid UTF-8. */
size_t dm_utf8_len(const char *s, size_t n);
/* Copies s[0..n) to out with every byte that does not start a valid UTF-8
 * sequence replaced by U+FFFD (EF BF BD); valid sequences are copied as
 * they are. out needs 3n bytes (no NUL is added). Returns the length. */
size_t dm_utf8_repair(const char *s, size_t n, char *out);

/* Safe copies: always NUL-terminate; return DM_OK or DM_ETOOBIG. */
int dm_strlcpy(char *dst, const char *src, size_t cap);
int dm_snprintf(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Assertions that stay on in every build of ours (dev, ASan, static):
 * -DNDEBUG is given to civetweb alone. A failed one logs the condition,
 * file and line, then aborts (a core or ASan report shows the rest). Use
 * them for what must hold whatever a client sends: lock ownership in
 * *_locked functions, reference counts, queue counts, block magic. */
#define dm_assert(cond) \
	((cond) ? (void)0 : dm_assert_fail(#cond, __FILE__, __LINE__, __func__))
void dm_assert_fail(const char *cond, const char *file, int line, const char *func)
	__attribute__((noreturn));

/* A mutex that knows which thread holds it, so that a function which must
 * be called with it held can check: dm_assert(dm_mutex_held(&m)) at the top
 * of every *_locked function. The holder writes its own id into owner
 * right after locking and clears it right before unlocking (condition
 * waits included); nobody else writes it, so a thread that reads its own
 * id there holds the mutex, and any other value means it does not
 * (pthread_mutex_trylock cannot say: EBUSY tells that someone holds it,
 * not who). Initialise with DM_MUTEX_INIT. */
typedef struct dm_mutex {
	pthread_mutex_t mu;
	_Atomic(pthread_t) owner; /* the holder; 0 while free */
} dm_mutex_t;
#define DM_MUTEX_INIT {PTHREAD_MUTEX_INITIALIZER, 0}

static inline void dm_mutex_lock(dm_mutex_t *m)
{
	pthread_mutex_lock(&m->mu);
	atomic_store_explicit(&m->owner, pthread_self(), memory_order_relaxed);
}

/* 1 if the calling thread holds m. */
static inline int dm_mutex_held(dm_mutex_t *m)
{
	return pthread_equal(atomic_load_explicit(&m->owner, memory_order_relaxed), pthread_self());
}

static inline void dm_mutex_unlock(dm_mutex_t *m)
{
	dm_assert(dm_mutex_held(m));
	atomic_store_explicit(&m->owner, (pthread_t)0, memory_order_relaxed);
	pthread_mutex_unlock(&m->mu);
}

/* pthread_cond_wait on m (held by the caller), or pthread_cond_timedwait
 * until abs when it is not NULL; m is held again on return, by the caller.
 * Returns what pthread said (0, ETIMEDOUT). */
static inline int dm_cond_wait(pthread_cond_t *cv, dm_mutex_t *m, const struct timespec *abs)
{
	int rc;
	dm_assert(dm_mutex_held(m));
	atomic_store_explicit(&m->owner, (pthread_t)0, memory_order_relaxed);
	rc = abs ? pthread_cond_timedwait(cv, &m->mu, abs) : pthread_cond_wait(cv, &m->mu);
	atomic_store_explicit(&m->owner, pthread_self(), memory_order_relaxed);
	return rc;
}

/* Set by the signal handler; every loop checks it. */
extern volatile int dm_stopping;

#endif
