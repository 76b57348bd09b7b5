/*
 * unit_mem — SQLite's allocator (src/core/mem.c): size classes, thread caches,
 * frees from other threads, realloc across classes, the caps, and SQLite
 * running on it. The block functions are called directly too, so the ASan
 * build (where mem_init leaves SQLite on malloc) still checks them. Also
 * the checks that stop the program (dm_assert, in a child process): a
 * block freed twice or a pointer that is not a block, and dm_mutex_t's
 * record of its holder (held by the locker only, cleared while it waits).
 */
#include "../src/core/dm.c"
#include "../src/core/mem.c"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"

static void test_classes(void)
{
	int bad = 0;
	for (size_t n = 1; n <= MAX_SMALL; n++) {
		unsigned c = size_class(n);
		if (c >= NCLS || class_size(c) < n || (c > 0 && class_size(c - 1) >= n))
			bad++;
	}
	CHECK(bad == 0, "every size 1..%d in the smallest class that fits (%d wrong)", MAX_SMALL, bad);
	CHECK(size_class(MAX_SMALL) == NCLS - 1, "the last class is MAX_SMALL");
	CHECK(class_size(size_class(129)) == 160 && class_size(size_class(257)) == 320, "quarter steps");
	CHECK(x_roundup(100) == 112 && x_roundup(MAX_SMALL + 1) == MAX_SMALL + 8, "roundup");
}

static void test_blocks(void)
{
	char *p = x_malloc(100), *q;
	CHECK(p && ((uintptr_t)p & 15) == 0 && x_size(p) == 112, "100 bytes: class 112, 16-aligned");
	memset(p, 0xab, 100);
	x_free(p);
	q = x_malloc(110);
	CHECK(q == p, "a freed block comes back for its class");
	q = x_realloc(q, 112);
	CHECK(q == p, "realloc within the class keeps the block");
	memset(q, 7, 112);
	q = x_realloc(q, 5000);
	CHECK(q && x_size(q) >= 5000 && q[0] == 7 && q[111] == 7, "realloc to another class keeps the bytes");
	q = x_realloc(q, 100000);
	CHECK(q && x_size(q) == 100000 && q[111] == 7, "realloc to a big block");
	memset(q, 9, 100000);
	q = x_realloc(q, 200000);
	CHECK(q && x_size(q) == 200000 && q[99999] == 9, "big to bigger");
	q = x_realloc(q, 64);
	CHECK(q && x_size(q) == 64 && q[63] == 9, "big back to small");
	x_free(q);
	q = x_malloc(0);
	CHECK(q != NULL && x_size(q) == 16, "0 bytes is a valid block");
	x_free(q);
}

/* Threads take blocks, fill them with their pattern, hand half to the
 * shared ring (freed there by other threads), check and free the rest. */
#define RING 4096
static struct {
	unsigned char *p;
	int n;
} ring[RING];
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int corrupt;

/* 1 if the n bytes at b all hold n's tag */
static int intact(const unsigned char *b, int n)
{
	for (int k = 0; k < n; k++)
		if (b[k] != (unsigned char)(n * 31))
			return 0;
	return 1;
}

static void *worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u + 1;
	for (int i = 0; i < 40000; i++) {
		unsigned r = seed = seed * 1103515245u + 12345u;
		int n = (int)((r >> 8) % ((r & 1) ? 256 : 40000)) + 1, on = 0;
		unsigned char *b = x_malloc(n), *old;
		if (!b)
			continue;
		memset(b, (unsigned char)(n * 31), (size_t)n);
		if ((r >> 20) & 1) {
			if (!intact(b, n))
				atomic_fetch_add(&corrupt, 1);
			x_free(b);
			continue;
		}
		pthread_mutex_lock(&ring_lock);
		old = ring[(r >> 4) % RING].p;
		on = ring[(r >> 4) % RING].n;
		ring[(r >> 4) % RING].p = b;
		ring[(r >> 4) % RING].n = n;
		pthread_mutex_unlock(&ring_lock);
		if (old) {
			if (!intact(old, on))
				atomic_fetch_add(&corrupt, 1);
			x_free(old);
		}
	}
	return NULL;
}

static void test_threads(void)
{
	pthread_t t[4];
	for (uintptr_t i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, worker, (void *)(i + 1));
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	CHECK(atomic_load(&corrupt) == 0, "no block overwritten while in use (%d)", atomic_load(&corrupt));
	CHECK(mem_shared_bytes() <= SHARED_CAP, "shared lists within their cap: %ld", mem_shared_bytes());
	CHECK(mem_shared_bytes() > 0, "exited threads left their caches to the shared lists");
	for (int i = 0; i < RING; i++)
		if (ring[i].p) {
			if (!intact(ring[i].p, ring[i].n))
				atomic_fetch_add(&corrupt, 1);
			x_free(ring[i].p);
			ring[i].p = NULL;
		}
	CHECK(atomic_load(&corrupt) == 0, "blocks freed by other threads intact");
	mem_thread_flush();
	for (unsigned c = 0; c < NCLS; c++)
		CHECK(tc.head[c] == NULL, "flushed class %u", c);
	CHECK(mem_shared_bytes() > 0, "the flush went to the shared lists");
	mem_trim();
	CHECK(mem_shared_bytes() == 0, "mem_trim gave the shared lists back to malloc");
}

static void test_sqlite(void)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int ok;
	CHECK(mem_init() == DM_OK, "installed before SQLite starts");
	CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK, "open on it");
	ok = sqlite3_exec(db,
			  "CREATE TABLE t(a, b); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
			  " WHERE i < 20000) INSERT INTO t SELECT i, printf('%0*d', i % 3000, i) FROM n;",
			  NULL, NULL, NULL) == SQLITE_OK;
	CHECK(ok, "20,000 rows of up to 3 KB");
	ok = sqlite3_prepare_v2(db, "SELECT count(*), sum(length(b)), length(json_group_array(json_object('a',a,'b',b)))"
				" FROM t", -1, &st, NULL) == SQLITE_OK &&
	     sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 20000 &&
	     sqlite3_column_int64(st, 2) > sqlite3_column_int64(st, 1);
	CHECK(ok, "aggregates and a big JSON value");
	sqlite3_finalize(st);
	CHECK(sqlite3_close(db) == SQLITE_OK, "close");
	CHECK(sqlite3_shutdown() == SQLITE_OK, "shutdown");
#if !defined(__SANITIZE_ADDRESS__)
	CHECK(mem_shared_bytes() == 0, "shutdown emptied the shared lists");
#endif
}

/* Runs fn in a child process (stderr silenced: the assertion's log line);
 * 1 when the child was stopped by SIGABRT, as a failed dm_assert does. */
static int aborts(void (*fn)(void))
{
	pid_t pid;
	int st;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, 2);
		fn();
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return 0;
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

static void free_twice(void)
{
	void *p = x_malloc(100);
	x_free(p);
	x_free(p);
}

static void free_foreign(void)
{
	char *p = calloc(1, 64); /* a header of zeros, not a block of ours */
	x_free(p + HDR);
}

static void realloc_freed(void)
{
	void *p = x_malloc(40);
	x_free(p);
	x_realloc(p, 4000);
}

static void free_ok(void)
{
	void *p = x_malloc(100), *q = x_realloc(x_malloc(50000), 60000);
	x_free(p);
	x_free(q);
}

static dm_mutex_t mu = DM_MUTEX_INIT;
static pthread_cond_t mu_cv = PTHREAD_COND_INITIALIZER;
static int mu_step;

static void *other_thread(void *arg)
{
	int *held = arg;
	*held = dm_mutex_held(&mu); /* main holds it */
	dm_mutex_lock(&mu);         /* main waits on mu_cv: free */
	held[1] = dm_mutex_held(&mu);
	mu_step = 1;
	pthread_cond_signal(&mu_cv);
	dm_mutex_unlock(&mu);
	return NULL;
}

static void unlock_unheld(void)
{
	dm_mutex_unlock(&mu);
}

static void test_checks(void)
{
	pthread_t t;
	int held[2] = {-1, -1};

	CHECK(aborts(free_twice), "a block freed twice stops the program");
	CHECK(aborts(free_foreign), "freeing a pointer that is not a block stops the program");
	CHECK(aborts(realloc_freed), "realloc of a freed block stops the program");
	CHECK(!aborts(free_ok), "blocks freed once are fine (the checks do not fire by themselves)");

	CHECK(!dm_mutex_held(&mu), "a free mutex is held by nobody");
	dm_mutex_lock(&mu);
	CHECK(dm_mutex_held(&mu), "held by the thread that locked it");
	pthread_create(&t, NULL, other_thread, held);
	while (!mu_step)
		dm_cond_wait(&mu_cv, &mu, NULL);
	CHECK(dm_mutex_held(&mu), "held again after a condition wait");
	dm_mutex_unlock(&mu);
	pthread_join(t, NULL);
	CHECK(held[0] == 0, "not held by a thread that did not lock it");
	CHECK(held[1] == 1, "held by the other thread once it locked it (during the wait)");
	CHECK(!dm_mutex_held(&mu), "not held after unlocking");
	CHECK(aborts(unlock_unheld), "unlocking a mutex one does not hold stops the program");
}

int main(void)
{
	test_classes();
	test_blocks();
	test_threads();
	test_sqlite();
	test_checks();
	x_shutdown(NULL); /* what test_blocks left, under ASan too */
	UNIT_DONE("unit_mem");
}
