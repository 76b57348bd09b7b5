/*
 * unit_jobs.c — the write lane: group commit, a failing job rolled back
 * alone, completion after commit, waiting for completion (jobs_write_then),
 * drain on stop; timers.
 */
#include "../src/core/dm.c"
#include "../src/core/config.c"
#include "../src/core/db.c"
#include "../src/core/mem.c"
#include "../src/core/jobs.c"

#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "unit.h"

#define THREADS 8
#define PER_THREAD 200

static int insert_job(sqlite3 *w, void *arg)
{
	long v = (long)(intptr_t)arg;
	sqlite3_stmt *st = db_prep(w, "INSERT INTO code(codeId, codeName, codeDesc) VALUES (?1, 'x', 'y')");
	char id[32];
	int rc;
	snprintf(id, sizeof id, "T%ld", v);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st) == SQLITE_DONE ? DM_OK : DM_ERR;
	sqlite3_finalize(st);
	/* every 10th job fails after writing: its row must vanish alone */
	return v % 10 == 3 ? DM_ECONFLICT : rc;
}

static void *writer_thread(void *arg)
{
	long base = (long)(intptr_t)arg;
	for (long i = 0; i < PER_THREAD; i++) {
		long v = base * PER_THREAD + i;
		int rc = jobs_write(insert_job, (void *)(intptr_t)v);
		if ((v % 10 == 3) != (rc == DM_ECONFLICT))
			return (void *)1;
	}
	return NULL;
}

static atomic_int done_ok, done_seen_committed;
static void on_done(void *arg, int status)
{
	long v = (long)(intptr_t)arg;
	char id[32];
	int64_t n = 0;
	sqlite3 *r = db_reader();
	snprintf(id, sizeof id, "T%ld", v);
	/* called after COMMIT: another connection must already see the row */
	if (status == DM_OK && db_get_int(r, &n, "SELECT count(*) FROM code WHERE codeId = ?1", DB_TEXT(id)) == DM_OK &&
	    n == 1)
		atomic_fetch_add(&done_seen_committed, 1);
	if (status == DM_OK)
		atomic_fetch_add(&done_ok, 1);
}

/* jobs_write_then: a job and a slow done callback; the caller reads what
 * done recorded right after the call returns. */
typedef struct then {
	long v;
	int done_calls, status_seen;
	int64_t rows_seen; /* the job's row, seen from another connection */
} then_t;

static int then_job(sqlite3 *w, void *arg)
{
	return insert_job(w, (void *)(intptr_t)((then_t *)arg)->v);
}

static void then_done(void *arg, int status)
{
	then_t *t = arg;
	char id[32];
	usleep(20000); /* a slow done: the caller must still wait for it */
	snprintf(id, sizeof id, "T%ld", t->v);
	t->rows_seen = -1;
	db_get_int(db_reader(), &t->rows_seen, "SELECT count(*) FROM code WHERE codeId = ?1", DB_TEXT(id));
	t->status_seen = status;
	t->done_calls++;
}

/* a job that holds the lane until the test opens the gate, and slow ones */
static atomic_int gate;
static int gate_job(sqlite3 *w, void *arg)
{
	(void)w;
	(void)arg;
	while (!atomic_load(&gate))
		usleep(1000);
	return DM_OK;
}
static int slow_job(sqlite3 *w, void *arg)
{
	usleep(3000);
	return insert_job(w, arg);
}

static atomic_int ticks;
static void tick(void *arg)
{
	(void)arg;
	atomic_fetch_add(&ticks, 1);
}

int main(void)
{
	char dir[] = "/tmp/dongmul-jobs-XXXXXX", cmd[128];
	pthread_t th[THREADS];
	jobs_stats_t js;
	int bad = 0;

	cfg_defaults();
	dm_log_level = DM_LOG_WARN;
	if (!mkdtemp(dir) || db_open(dir) != DM_OK)
		return 2;
	CHECK(jobs_write(insert_job, (void *)0) == DM_EUNAVAIL, "no writes before start");
	{
		then_t t = {.v = 290000};
		CHECK(jobs_write_then(then_job, then_done, &t) == DM_EUNAVAIL && t.done_calls == 0,
		      "jobs_write_then before start: DM_EUNAVAIL, done not called");
	}
	CHECK(jobs_start(2) == DM_OK, "start");
	CHECK(jobs_timer("tick", 50, tick, NULL) == DM_OK, "timer registered");

	for (long i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, writer_thread, (void *)(intptr_t)i);
	for (int i = 0; i < THREADS; i++) {
		void *r;
		pthread_join(th[i], &r);
		bad |= r != NULL;
	}
	CHECK(!bad, "every job got its own status back");
	sqlite3 *rd = db_reader();
	int64_t rows = -1, n = -1;
	db_get_int(rd, &rows, "SELECT count(*) FROM code WHERE codeId GLOB 'T[0-9]*'");
	CHECK(rows == THREADS * PER_THREAD - THREADS * PER_THREAD / 10, "failed jobs rolled back alone: %lld rows",
	      (long long)rows);
	jobs_get_stats(&js);
	CHECK(js.jobs == THREADS * PER_THREAD && js.batches < js.jobs, "group commit: %llu jobs in %llu batches",
	      js.jobs, js.batches);

	/* jobs_write_then returns only after done ran, with done's status */
	{
		then_t ok = {.v = 300000}, fail = {.v = 300003};
		int rc = jobs_write_then(then_job, then_done, &ok);
		CHECK(rc == DM_OK && ok.done_calls == 1 && ok.status_seen == DM_OK,
		      "jobs_write_then: done ran once before return (rc %d, calls %d)", rc, ok.done_calls);
		CHECK(ok.rows_seen == 1, "jobs_write_then: done ran after the commit (row seen %lld)",
		      (long long)ok.rows_seen);
		rc = jobs_write_then(then_job, then_done, &fail);
		CHECK(rc == DM_ECONFLICT && fail.done_calls == 1 && fail.status_seen == DM_ECONFLICT &&
			      fail.rows_seen == 0,
		      "jobs_write_then: a failing job's status reaches done and the caller, its row rolled back");
		CHECK(jobs_write_then(then_job, NULL, &(then_t){.v = 300010}) == DM_OK, "jobs_write_then: done may be NULL");
		CHECK(db_get_int(rd, &n, "SELECT count(*) FROM code WHERE codeId = 'T300010'") == DM_OK && n == 1,
		      "jobs_write_then without done: committed");
	}

	/* a batch commits once its jobs took ~10 ms; the rest follow in order */
	{
		unsigned long long b0;
		then_t last = {.v = 400990};
		jobs_get_stats(&js);
		b0 = js.batches;
		jobs_write_async(gate_job, NULL, NULL);
		for (long v = 400000; v < 400020; v++)
			jobs_write_async(slow_job, NULL, (void *)(intptr_t)(v * 10));
		atomic_store(&gate, 1);
		CHECK(jobs_write_then(then_job, NULL, &last) == DM_OK, "a job after the slow ones");
		jobs_get_stats(&js);
		CHECK(js.batches - b0 >= 4, "20 jobs of 3 ms queued together: %llu commits (budget 10 ms)",
		      js.batches - b0);
		CHECK(db_get_int(rd, &n, "SELECT count(*) FROM code WHERE codeId GLOB 'T4000[0-1][0-9]0'") == DM_OK &&
			      n == 20,
		      "every slow job committed");
	}

	/* async jobs queued right before stop are all committed */
	for (long v = 100000; v < 100500; v++)
		jobs_write_async(insert_job, on_done, (void *)(intptr_t)(v * 10));
	usleep(200000);
	CHECK(atomic_load(&ticks) >= 2, "timer ran %d times", atomic_load(&ticks));
	for (long v = 200000; v < 200500; v++)
		jobs_write_async(insert_job, on_done, (void *)(intptr_t)(v * 10));
	jobs_stop();
	CHECK(atomic_load(&done_ok) == 1000, "all 1000 async jobs completed before stop returned: %d",
	      atomic_load(&done_ok));
	CHECK(atomic_load(&done_seen_committed) == 1000, "completion ran after commit: %d",
	      atomic_load(&done_seen_committed));
	CHECK(jobs_write_async(insert_job, NULL, NULL) == DM_EUNAVAIL, "no writes after stop");
	db_thread_exit();
	db_close();
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 2;
	UNIT_DONE("unit_jobs");
}
