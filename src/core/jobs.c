/*
 * jobs.c — the write lane (group commit), pool workers and timers (see
 * jobs.h).
 *
 * Thread-safety: the write queue is under wlock/wcond; the task queue under
 * tlock/tcond; timers under tlock (a dm_mutex_t: push_task_locked checks
 * that its caller holds it). A waiter in jobs_write(_then) sleeps on
 * its own condition variable, signalled by the lane after the commit and
 * after the job's done callback returned.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "dm.h"
#include "jobs.h"

#define MAX_BATCH 512
/* A batch commits once its jobs have run this long, even with more taken:
 * the rest go in the next transaction. Every job's output (replies, frames
 * to send) waits for its batch's commit, so an unbounded batch held a chat
 * burst's memory for seconds (a 120 MB peak with 1,000 clients) and made
 * the first jobs wait for the last. */
#define BATCH_BUDGET_NS (10 * 1000000LL)
#define MAX_TIMERS 16
#define MAX_WORKERS 64

typedef struct wjob {
	jobs_write_fn fn;
	jobs_done_fn done;
	void *arg;
	int status;
	/* synchronous waiters */
	int waited, finished;
	pthread_cond_t *cv;
	struct wjob *next;
} wjob_t;

typedef struct task {
	jobs_task_fn fn;
	void *arg;
	struct task *next;
} task_t;

typedef struct timer {
	char name[32];
	int interval_ms;
	jobs_task_fn fn;
	void *arg;
	int64_t due;
	int running;
} timer_t_;

static pthread_mutex_t wlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wcond = PTHREAD_COND_INITIALIZER;
static wjob_t *whead, *wtail;
static int wstop, wstarted;
static pthread_t lane;

static dm_mutex_t tlock = DM_MUTEX_INIT;
static pthread_cond_t tcond = PTHREAD_COND_INITIALIZER;
static task_t *thead, *ttail;
static int tstop;
static pthread_t workers[MAX_WORKERS];
static int nworkers;
static pthread_t timer_thread;
static timer_t_ timers[MAX_TIMERS];
static int ntimers;
static pthread_cond_t timer_cond = PTHREAD_COND_INITIALIZER;

static jobs_stats_t stats; /* under wlock */
static atomic_uint_least64_t commit_gen; /* +1 after every batch's COMMIT */

uint64_t jobs_commit_gen(void)
{
	return atomic_load(&commit_gen);
}

/* db_exec for the lane's per-job statements, through the statement cache
 * (SAVEPOINT/RELEASE/ROLLBACK TO parsed anew per job were 2% of a chat
 * message). DM_OK or DM_ERR (logged). */
static int lane_exec(sqlite3 *w, const char *sql)
{
	sqlite3_stmt *st = db_stmt(w, sql);
	int rc = st && sqlite3_step(st) == SQLITE_DONE ? DM_OK : DM_ERR;
	if (st && rc != DM_OK)
		dm_error("sql: %s: %s", sqlite3_errmsg(w), sql);
	db_done(st);
	return rc;
}

static long long mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Runs a batch's jobs in one transaction, each under its own savepoint,
 * until they have taken BATCH_BUDGET_NS; commits, completes those, and
 * returns the jobs it did not run (NULL when all ran). */
static wjob_t *run_batch(wjob_t *batch)
{
	sqlite3 *w = db_writer();
	int commit_ok;
	unsigned long long n = 0, failed = 0;
	long long t0 = mono_ns();
	wjob_t *rest = NULL;

	if (db_exec(w, "BEGIN IMMEDIATE") != DM_OK) {
		for (wjob_t *j = batch; j; j = j->next)
			j->status = DM_ERR;
		goto finish;
	}
	for (wjob_t *j = batch; j; j = j->next) {
		n++;
		if (lane_exec(w, "SAVEPOINT job") != DM_OK) {
			j->status = DM_ERR;
			continue;
		}
		j->status = j->fn(w, j->arg);
		if (j->status != DM_OK) {
			failed++;
			lane_exec(w, "ROLLBACK TO job");
		}
		lane_exec(w, "RELEASE job");
		if (j->next && mono_ns() - t0 > BATCH_BUDGET_NS) {
			rest = j->next;
			j->next = NULL;
			break;
		}
	}
	commit_ok = db_exec(w, "COMMIT") == DM_OK;
	if (!commit_ok) {
		dm_error("write lane: commit failed: %s", sqlite3_errmsg(w));
		if (!sqlite3_get_autocommit(w))
			db_exec(w, "ROLLBACK");
		for (wjob_t *j = batch; j; j = j->next)
			j->status = DM_ERR;
	}
	/* before any done callback or waiter: a reply after a write sees it */
	atomic_fetch_add(&commit_gen, 1);
finish:
	pthread_mutex_lock(&wlock);
	stats.batches++;
	stats.jobs += n;
	stats.failed += failed;
	pthread_mutex_unlock(&wlock);
	/* completion: callbacks (after the commit, so a published message is
	 * durable), then wake synchronous waiters */
	while (batch) {
		wjob_t *j = batch;
		batch = j->next;
		if (j->done)
			j->done(j->arg, j->status);
		if (j->waited) {
			dm_assert(j->cv && !j->finished);
			pthread_mutex_lock(&wlock);
			j->finished = 1;
			pthread_cond_signal(j->cv);
			pthread_mutex_unlock(&wlock);
		} else
			free(j);
	}
	return rest;
}

static void *lane_main(void *unused)
{
	(void)unused;
	for (;;) {
		wjob_t *batch, *last;
		int n = 1;

		pthread_mutex_lock(&wlock);
		while (!whead && !wstop)
			pthread_cond_wait(&wcond, &wlock);
		if (!whead && wstop) {
			pthread_mutex_unlock(&wlock);
			break;
		}
		batch = last = whead;
		while (last->next && n < MAX_BATCH) {
			last = last->next;
			n++;
		}
		whead = last->next;
		if (!whead)
			wtail = NULL;
		last->next = NULL;
		/* queued counts the jobs on the list */
		dm_assert(stats.queued >= (unsigned long long)n && (whead || stats.queued == (unsigned long long)n));
		stats.queued -= (unsigned long long)n;
		pthread_mutex_unlock(&wlock);
		while (batch)
			batch = run_batch(batch);
	}
	return NULL;
}

static int enqueue(wjob_t *j)
{
	pthread_mutex_lock(&wlock);
	if (wstop || !wstarted) {
		pthread_mutex_unlock(&wlock);
		return DM_EUNAVAIL;
	}
	dm_assert(!whead == !wtail && !whead == !stats.queued);
	if (wtail)
		wtail->next = j;
	else
		whead = j;
	wtail = j;
	stats.queued++;
	pthread_cond_signal(&wcond);
	pthread_mutex_unlock(&wlock);
	return DM_OK;
}

int jobs_write_async(jobs_write_fn fn, jobs_done_fn done, void *arg)
{
	wjob_t *j = calloc(1, sizeof *j);
	int rc;
	if (!j)
		return DM_ENOMEM;
	j->fn = fn;
	j->done = done;
	j->arg = arg;
	rc = enqueue(j);
	if (rc != DM_OK)
		free(j);
	return rc;
}

int jobs_write_then(jobs_write_fn fn, jobs_done_fn done, void *arg)
{
	pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
	wjob_t j;
	int rc;

	memset(&j, 0, sizeof j);
	j.fn = fn;
	j.done = done;
	j.arg = arg;
	j.waited = 1;
	j.cv = &cv;
	rc = enqueue(&j);
	if (rc != DM_OK)
		return rc;
	pthread_mutex_lock(&wlock);
	while (!j.finished)
		pthread_cond_wait(&cv, &wlock);
	pthread_mutex_unlock(&wlock);
	pthread_cond_destroy(&cv);
	return j.status;
}

int jobs_write(jobs_write_fn fn, void *arg)
{
	return jobs_write_then(fn, NULL, arg);
}

/* ---------------------------------------------------------------- pool */

static void *worker_main(void *unused)
{
	(void)unused;
	for (;;) {
		task_t *t;
		dm_mutex_lock(&tlock);
		while (!thead && !tstop)
			dm_cond_wait(&tcond, &tlock, NULL);
		if (!thead) {
			dm_mutex_unlock(&tlock);
			break;
		}
		t = thead;
		thead = t->next;
		if (!thead)
			ttail = NULL;
		dm_mutex_unlock(&tlock);
		t->fn(t->arg);
		free(t);
		/* background work (timers) runs seconds apart: what a task read
		 * need not stay in this worker's page cache meanwhile */
		db_trim();
	}
	db_thread_exit();
	return NULL;
}

/* Caller holds tlock. */
static int push_task_locked(jobs_task_fn fn, void *arg)
{
	task_t *t;
	dm_assert(dm_mutex_held(&tlock));
	dm_assert(!thead == !ttail);
	if (tstop)
		return DM_EUNAVAIL;
	t = calloc(1, sizeof *t);
	if (!t)
		return DM_ENOMEM;
	t->fn = fn;
	t->arg = arg;
	if (ttail)
		ttail->next = t;
	else
		thead = t;
	ttail = t;
	pthread_cond_signal(&tcond);
	return DM_OK;
}

int jobs_task(jobs_task_fn fn, void *arg)
{
	int rc;
	dm_mutex_lock(&tlock);
	rc = push_task_locked(fn, arg);
	dm_mutex_unlock(&tlock);
	return rc;
}

/* A timer's run: the task, then mark the timer free again. */
static void timer_run(void *arg)
{
	timer_t_ *t = arg;
	t->fn(t->arg);
	dm_mutex_lock(&tlock);
	dm_assert(t->running); /* set when timer_main queued this run */
	t->running = 0;
	t->due = dm_mono_ms() + t->interval_ms;
	pthread_cond_signal(&timer_cond);
	dm_mutex_unlock(&tlock);
}

int jobs_timer(const char *name, int interval_ms, jobs_task_fn fn, void *arg)
{
	dm_mutex_lock(&tlock);
	if (ntimers == MAX_TIMERS) {
		dm_mutex_unlock(&tlock);
		return DM_ERR;
	}
	timer_t_ *t = &timers[ntimers++];
	dm_strlcpy(t->name, name, sizeof t->name);
	t->interval_ms = interval_ms;
	t->fn = fn;
	t->arg = arg;
	t->due = dm_mono_ms() + interval_ms;
	pthread_cond_signal(&timer_cond);
	dm_mutex_unlock(&tlock);
	return DM_OK;
}

static void *timer_main(void *unused)
{
	(void)unused;
	dm_mutex_lock(&tlock);
	while (!tstop) {
		int64_t now = dm_mono_ms(), next = now + 1000;
		for (int i = 0; i < ntimers; i++) {
			timer_t_ *t = &timers[i];
			if (t->running)
				continue;
			if (t->due <= now) {
				if (push_task_locked(timer_run, t) == DM_OK)
					t->running = 1;
				continue;
			}
			if (t->due < next)
				next = t->due;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t wait = next - now;
		if (wait < 1)
			wait = 1;
		ts.tv_sec += wait / 1000;
		ts.tv_nsec += (wait % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		dm_cond_wait(&timer_cond, &tlock, &ts);
	}
	dm_mutex_unlock(&tlock);
	return NULL;
}

int jobs_start(int n)
{
	if (n < 1)
		n = 1;
	if (n > MAX_WORKERS)
		n = MAX_WORKERS;
	wstop = tstop = 0;
	wstarted = 1;
	if (pthread_create(&lane, NULL, lane_main, NULL) != 0)
		return DM_ERR;
	for (nworkers = 0; nworkers < n; nworkers++)
		if (pthread_create(&workers[nworkers], NULL, worker_main, NULL) != 0)
			return DM_ERR;
	if (pthread_create(&timer_thread, NULL, timer_main, NULL) != 0)
		return DM_ERR;
	return DM_OK;
}

void jobs_stop(void)
{
	/* timers and workers first: a running task may still queue writes */
	dm_mutex_lock(&tlock);
	tstop = 1;
	pthread_cond_broadcast(&tcond);
	pthread_cond_broadcast(&timer_cond);
	dm_mutex_unlock(&tlock);
	pthread_join(timer_thread, NULL);
	for (int i = 0; i < nworkers; i++)
		pthread_join(workers[i], NULL);
	nworkers = 0;
	/* queued tasks that never ran */
	while (thead) {
		task_t *t = thead;
		thead = t->next;
		free(t);
	}
	ttail = NULL;
	/* then the lane: it drains every queued write before it exits */
	pthread_mutex_lock(&wlock);
	wstop = 1;
	pthread_cond_broadcast(&wcond);
	pthread_mutex_unlock(&wlock);
	if (wstarted)
		pthread_join(lane, NULL);
	wstarted = 0;
}

void jobs_get_stats(jobs_stats_t *out)
{
	pthread_mutex_lock(&wlock);
	*out = stats;
	pthread_mutex_unlock(&wlock);
}
