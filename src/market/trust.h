/*
 * trust — the end of a trade (complete, cancel), reviews, the manner
 * temperature, reports and the suspension they lead to, and the operator's
 * `dongmul user ...` command. Prefix: trust_.
 *
 * Routes: POST /trade/:itemId/complete, POST /trade/:itemId/cancel,
 * POST /trade/:itemId/review, GET /users/:userId, POST /reports
 * (see API.md "Trades, reviews, reports").
 *
 * Manner temperature (stored in user.mannerTemp, so feeds, detail and chat
 * read it cheaply; recomputed in the write job that adds a review or a
 * report, and by a timer once a day so that ageing shows):
 *
 *   w(age)  = 0.5 ^ (age_days / 180)            half-life 180 days
 *   temp    = 36.5
 *           + Σ reviews of the last 365 days   w(age) × (good ? +0.5 : −1.0)
 *           − Σ upheld reports of the last 365 days   2.0 × w(age)
 *   stored  = round(clamp(temp, 0, 99), 1 decimal)
 *
 * Reports: one per reporter and reported user within 30 days (a repeat is
 * answered idempotently with the first one and counts once). A report of
 * one chat message ({icruMsgId}) comes from a member of its room, once per
 * message; it is stored each time but counts like a user report (once per
 * reporter and author within 30 days). More than
 * cfg.report_threshold distinct reporters within 30 days suspend the user
 * for cfg.suspend_days (user.suspendedUntil, suspendReason): no posting,
 * joining, sending or exchanging; reading and logging in still work.
 */
#ifndef TRUST_H
#define TRUST_H

#include <sqlite3.h>
#include <stdint.h>

#define TRUST_BASE_TEMP 36.5
#define TRUST_HALF_LIFE_DAYS 180
#define TRUST_WINDOW_DAYS 365      /* reviews and reports older than this no longer count */
#define TRUST_REPORT_DAYS 30       /* the suspension and duplicate-report window */

int trust_init(void);
void trust_stop(void);

/* 1 if user_id is suspended now (suspendedUntil in the future), else 0
 * (also for an unknown user). db: any connection (a reader or the
 * writer). Thread-safe as far as db is. */
int trust_suspended(sqlite3 *db, int64_t user_id);

/* Recomputes user_id's mannerTemp at time now_ms (the formula above), on
 * the writer inside a write job (or on the operator's own connection).
 * DM_OK or DM_ERR. user_id 0: every user with a review or report in the
 * window or a temperature off the base (the daily run). */
int trust_recompute(sqlite3 *w, int64_t user_id, int64_t now_ms);

/* Suspends user_id for days from now_ms with reason (stored, and a
 * `suspended` notification), on the writer inside a write job (or the
 * operator's own connection). DM_OK or DM_ERR. */
int trust_suspend(sqlite3 *w, int64_t user_id, int64_t now_ms, int days, const char *reason);

/* `dongmul user show EMAIL | suspend EMAIL --days N [--reason TEXT] |
 * unsuspend EMAIL [--dismiss-reports] | admin [--revoke] EMAIL`, each with [--data DIR] (or
 * DONGMUL_DATA) and [--tz +HH:MM]. argv starts after "user". Works while
 * the server runs (its own connection, WAL, busy timeout). Returns the exit
 * status: 0 done, 1 unknown email or database failure, 2 usage. */
int trust_user_cmd(int argc, char **argv);

#endif
