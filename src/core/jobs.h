/*
 * jobs — the thread pool.
 *
 *  - The write lane: one thread owns the only read-write SQLite connection
 *    and commits queued write jobs in batches (group commit). Each job runs
 *    inside the batch's transaction under its own SAVEPOINT: a job that
 *    fails is rolled back alone; the others commit. Completion callbacks
 *    run after the COMMIT (so a message is published only once durable).
 *  - Pool workers run plain tasks (outbound I/O: SMTP, slow hashing).
 *  - Timers enqueue tasks on the pool at an interval (deadline expiry,
 *    outbox delivery, cleanup, WAL checkpoints).
 * Prefix: jobs_. Every function here is thread-safe.
 */
#ifndef JOBS_H
#define JOBS_H

#include <sqlite3.h>
#include <stdint.h>

/* A write job: runs on the lane thread with the writer connection, inside
 * a transaction. Return DM_OK to keep its changes, anything else to roll
 * them back (the status reaches the waiter / done callback). */
typedef int (*jobs_write_fn)(sqlite3 *w, void *arg);
/* Called on the lane thread after the batch committed (status DM_OK or the
 * job's own error) or failed to commit (DM_ERR). Must not block for long:
 * fan-out just queues frames. */
typedef void (*jobs_done_fn)(void *arg, int status);
typedef void (*jobs_task_fn)(void *arg);

/* Starts the lane, nworkers pool threads and the timer thread.
 * DM_OK or DM_ERR. */
int jobs_start(int nworkers);
/* Stops accepting jobs, runs every queued write job to completion, stops
 * timers and workers, joins all threads. */
void jobs_stop(void);

/* Queues a write job. done may be NULL. Returns DM_OK, or DM_EUNAVAIL when
 * stopping (then neither fn nor done is called). */
int jobs_write_async(jobs_write_fn fn, jobs_done_fn done, void *arg);
/* Queues a write job and waits until its batch committed. Returns the job's
 * status, or DM_ERR if the commit failed, or DM_EUNAVAIL when stopping. */
int jobs_write(jobs_write_fn fn, void *arg);
/* Queues a write job and waits until its done callback (on the lane, after
 * the batch committed or failed) has returned, so done may do after-commit
 * work the caller needs (file removal, fan-out) before the caller replies;
 * done may be NULL. Returns the status done saw: the job's own, DM_ERR if
 * the commit failed; or DM_EUNAVAIL when stopping (then neither fn nor
 * done ran). arg is the caller's until this returns. */
int jobs_write_then(jobs_write_fn fn, jobs_done_fn done, void *arg);

/* Runs fn(arg) on a pool worker. DM_OK or DM_EUNAVAIL. */
int jobs_task(jobs_task_fn fn, void *arg);
/* Every interval_ms, runs fn(arg) on a pool worker (never two runs of the
 * same timer at once). Register before or after jobs_start. DM_OK/DM_ERR. */
int jobs_timer(const char *name, int interval_ms, jobs_task_fn fn, void *arg);

/* How many write batches have finished (COMMIT tried, whether it
 * succeeded or not): a reader that saw the same value before and after
 * building something knows no write committed in between. Thread-safe. */
uint64_t jobs_commit_gen(void);

/* Statistics for /metrics. */
typedef struct jobs_stats {
	unsigned long long batches, jobs, failed;
	unsigned long long queued;  /* now */
} jobs_stats_t;
void jobs_get_stats(jobs_stats_t *out);

#endif
