/*
 * mem.c — SQLite's allocator: thread caches over malloc (see mem.h).
 *
 * A block is a 16-byte header (its class, or BIG and the size asked for,
 * and a magic number) followed by the memory SQLite uses. Sizes up to
 * MAX_SMALL fall into 40 classes (16-byte steps to 128, then four per power
 * of two), so a freed block fits any later request of its class. Larger
 * ones go straight to malloc/free. The magic says whether a block is
 * SQLite's (MAGIC) or in a cache (FREE_MAGIC); free, realloc and size check
 * it, so a pointer that is not a block of ours, or a block freed twice,
 * stops the program there (dm_assert) instead of corrupting the caches.
 *
 * Thread-safety: each thread's cache (tc) is its own (__thread); a block
 * freed by another thread than the one that took it simply joins the
 * freeing thread's cache. The shared lists (one per class) are under their
 * own mutex; a thread's cache is bounded (per class and in bytes) and
 * spills half a class to the shared list when full; the shared lists are
 * bounded too (SHARED_CAP) and free() the excess, so a burst does not pin
 * its peak memory forever. A thread's cache is flushed when it exits (a
 * pthread key destructor) or when it asks (mem_thread_flush).
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dm.h"
#include "mem.h"

#define HDR 16
#define MAX_SMALL 32768
#define NCLS 40
#define BIG 0xffffu
#define MAGIC 0x6d656d21u          /* "mem!": a block SQLite holds */
#define FREE_MAGIC 0x6d656d2du     /* "mem-": a block in a cache */
#define THREAD_CAP (128 * 1024)    /* bytes one thread's cache may hold */
#define SHARED_CAP (2L << 20)      /* bytes all shared lists may hold */

typedef struct {
	uint32_t cls;
	uint32_t magic;
	uint64_t size; /* BIG: the size asked for */
} hdr_t;

typedef struct {
	void *head[NCLS];
	uint16_t n[NCLS];
	size_t bytes;
	int keyed; /* the exit destructor is registered */
} tcache_t;

typedef struct {
	pthread_mutex_t lock;
	void *head;
	size_t n;
} shared_t;

static __thread tcache_t tc;
static shared_t shared[NCLS];
static atomic_long shared_bytes;
static pthread_key_t exit_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

#define NEXT(b) (*(void **)((char *)(b) + HDR))

/* The class of n bytes (1 <= n <= MAX_SMALL). */
static unsigned size_class(size_t n)
{
	size_t m = n - 1;
	unsigned p;
	if (n <= 128)
		return (unsigned)(m / 16);
	p = 63u - (unsigned)__builtin_clzll((unsigned long long)m);
	return 8 + (p - 7) * 4 + (unsigned)((m >> (p - 2)) & 3);
}

/* The usable size of class c. */
static size_t class_size(unsigned c)
{
	unsigned p, q;
	if (c < 8)
		return (size_t)(c + 1) * 16;
	p = 7 + (c - 8) / 4;
	q = (c - 8) % 4;
	return (size_t)(5 + q) << (p - 2);
}

/* How many blocks of class c a thread keeps before spilling. */
static unsigned class_limit(unsigned c)
{
	size_t l = 16384 / class_size(c);
	return l < 2 ? 2 : l > 64 ? 64 : (unsigned)l;
}

/* Frees a chain of blocks to malloc. */
static void free_chain(void *b)
{
	while (b) {
		void *next = NEXT(b);
		dm_assert(((hdr_t *)b)->magic == FREE_MAGIC);
		free(b);
		b = next;
	}
}

/* Moves a chain of k blocks of class c (head..tail) to the shared list, or
 * to malloc if the shared lists are full. */
static void spill(unsigned c, void *head, void *tail, size_t k)
{
	long bytes = (long)(k * (class_size(c) + HDR));
	if (atomic_load(&shared_bytes) + bytes > SHARED_CAP) {
		NEXT(tail) = NULL;
		free_chain(head);
		return;
	}
	atomic_fetch_add(&shared_bytes, bytes);
	pthread_mutex_lock(&shared[c].lock);
	NEXT(tail) = shared[c].head;
	shared[c].head = head;
	shared[c].n += k;
	pthread_mutex_unlock(&shared[c].lock);
}

/* Empties class c of this thread's cache into the shared list. */
static void flush_class(unsigned c)
{
	void *head = tc.head[c], *tail = head;
	size_t k = tc.n[c], len = 1;
	if (!head)
		return;
	while (NEXT(tail)) {
		tail = NEXT(tail);
		len++;
	}
	dm_assert(len == k && tc.bytes >= k * (class_size(c) + HDR));
	tc.head[c] = NULL;
	tc.n[c] = 0;
	tc.bytes -= k * (class_size(c) + HDR);
	spill(c, head, tail, k);
}

void mem_thread_flush(void)
{
	for (unsigned c = 0; c < NCLS; c++)
		flush_class(c);
}

static void on_thread_exit(void *arg)
{
	(void)arg;
	mem_thread_flush();
	tc.keyed = 0; /* a free in a later destructor registers again */
}

static void make_key(void)
{
	if (pthread_key_create(&exit_key, on_thread_exit) != 0)
		dm_error("mem: no thread key; caches of exiting threads are lost to malloc");
}

/* Takes up to half a cache's worth of class c from the shared list into
 * this thread's cache. 1 if it got any. */
static int refill(unsigned c)
{
	unsigned want = class_limit(c) / 2 + 1;
	void *head, *b;
	size_t k = 0;
	long bytes, before;

	pthread_mutex_lock(&shared[c].lock);
	head = b = shared[c].head;
	while (b && ++k < want)
		b = NEXT(b);
	if (b) {
		shared[c].head = NEXT(b);
		NEXT(b) = NULL;
	} else {
		shared[c].head = NULL;
	}
	dm_assert(shared[c].n >= k);
	shared[c].n -= k;
	pthread_mutex_unlock(&shared[c].lock);
	if (!k)
		return 0;
	bytes = (long)(k * (class_size(c) + HDR));
	/* spill counts a chain in before it joins a list, refill out after
	 * it left: the count never falls below what the lists hold */
	before = atomic_fetch_sub(&shared_bytes, bytes);
	dm_assert(before >= bytes);
	tc.head[c] = head;
	tc.n[c] = (uint16_t)k;
	tc.bytes += (size_t)bytes;
	return 1;
}

/* The header of p, a block SQLite holds (checked: its magic and class). */
static hdr_t *block_of(void *p)
{
	hdr_t *h = (hdr_t *)((char *)p - HDR);
	dm_assert(h->magic == MAGIC && (h->cls < NCLS || h->cls == BIG));
	return h;
}

/* sqlite3_mem_methods.xMalloc: n bytes, 8-aligned (16 here), or NULL. */
static void *x_malloc(int n)
{
	hdr_t *h;
	unsigned c;

	if (n <= 0)
		n = 1;
	if (n > MAX_SMALL) {
		h = malloc(HDR + (size_t)n);
		if (!h)
			return NULL;
		h->cls = BIG;
		h->magic = MAGIC;
		h->size = (uint64_t)n;
		return (char *)h + HDR;
	}
	c = size_class((size_t)n);
	if (!tc.head[c] && !refill(c)) {
		h = malloc(HDR + class_size(c));
		if (!h)
			return NULL;
		h->cls = c;
		h->magic = MAGIC;
		h->size = 0;
		return (char *)h + HDR;
	}
	h = tc.head[c];
	dm_assert(h->magic == FREE_MAGIC && h->cls == c && tc.n[c] > 0);
	tc.head[c] = NEXT(h);
	tc.n[c]--;
	tc.bytes -= class_size(c) + HDR;
	h->magic = MAGIC;
	return (char *)h + HDR;
}

/* sqlite3_mem_methods.xFree: p from x_malloc/x_realloc, never NULL. */
static void x_free(void *p)
{
	hdr_t *h = block_of(p);
	unsigned c = h->cls;

	h->magic = FREE_MAGIC;
	if (c == BIG) {
		free(h);
		return;
	}
	if (!tc.keyed) {
		tc.keyed = 1;
		pthread_once(&key_once, make_key);
		pthread_setspecific(exit_key, &tc);
	}
	NEXT(h) = tc.head[c];
	tc.head[c] = h;
	tc.n[c]++;
	tc.bytes += class_size(c) + HDR;
	if (tc.bytes > THREAD_CAP) {
		flush_class(c);
	} else if (tc.n[c] > class_limit(c)) {
		/* keep the newest half (still warm in the cache), spill the rest */
		void *keep_tail = tc.head[c], *rest;
		unsigned keep = tc.n[c] / 2, k = tc.n[c] - keep;
		for (unsigned i = 1; i < keep; i++)
			keep_tail = NEXT(keep_tail);
		rest = NEXT(keep_tail);
		NEXT(keep_tail) = NULL;
		tc.n[c] = (uint16_t)keep;
		tc.bytes -= k * (class_size(c) + HDR);
		{
			void *tail = rest;
			unsigned len = 1;
			while (NEXT(tail)) {
				tail = NEXT(tail);
				len++;
			}
			dm_assert(len == k);
			spill(c, rest, tail, k);
		}
	}
}

/* sqlite3_mem_methods.xSize: usable bytes of p. */
static int x_size(void *p)
{
	hdr_t *h = block_of(p);
	return h->cls == BIG ? (int)h->size : (int)class_size(h->cls);
}

/* sqlite3_mem_methods.xRealloc: p resized to n bytes (contents kept), or
 * NULL with p untouched. */
static void *x_realloc(void *p, int n)
{
	hdr_t *h = block_of(p);
	void *q;
	int old = x_size(p);

	if (n <= 0)
		n = 1;
	if (h->cls != BIG && n <= MAX_SMALL && size_class((size_t)n) == h->cls)
		return p;
	if (h->cls == BIG && n > MAX_SMALL) {
		hdr_t *g = realloc(h, HDR + (size_t)n);
		if (!g)
			return NULL;
		g->size = (uint64_t)n;
		return (char *)g + HDR;
	}
	q = x_malloc(n);
	if (!q)
		return NULL;
	memcpy(q, p, (size_t)(old < n ? old : n));
	x_free(p);
	return q;
}

/* sqlite3_mem_methods.xRoundup: what x_malloc(n) really gives. */
static int x_roundup(int n)
{
	if (n <= 0)
		n = 1;
	if (n > MAX_SMALL)
		return (n + 7) & ~7;
	return (int)class_size(size_class((size_t)n));
}

static int x_init(void *arg)
{
	(void)arg;
	return SQLITE_OK;
}

/* sqlite3_shutdown: every cached block back to malloc (no leaks at exit).
 * Other threads have exited by then (their caches went to the shared
 * lists). */
static void x_shutdown(void *arg)
{
	(void)arg;
	for (unsigned c = 0; c < NCLS; c++) {
		free_chain(tc.head[c]);
		tc.head[c] = NULL;
		tc.n[c] = 0;
		pthread_mutex_lock(&shared[c].lock);
		free_chain(shared[c].head);
		shared[c].head = NULL;
		shared[c].n = 0;
		pthread_mutex_unlock(&shared[c].lock);
	}
	tc.bytes = 0;
	atomic_store(&shared_bytes, 0);
}

void mem_trim(void)
{
	mem_thread_flush();
	for (unsigned c = 0; c < NCLS; c++) {
		void *head;
		size_t n;
		if (!shared[c].head)
			continue;
		pthread_mutex_lock(&shared[c].lock);
		head = shared[c].head;
		n = shared[c].n;
		shared[c].head = NULL;
		shared[c].n = 0;
		pthread_mutex_unlock(&shared[c].lock);
		long bytes = (long)(n * (class_size(c) + HDR));
		long before = atomic_fetch_sub(&shared_bytes, bytes);
		dm_assert(before >= bytes);
		free_chain(head);
	}
}

long mem_shared_bytes(void)
{
	return atomic_load(&shared_bytes);
}

static const sqlite3_mem_methods methods = {
	x_malloc, x_free, x_realloc, x_size, x_roundup, x_init, x_shutdown, NULL,
};

int mem_init(void)
{
#if defined(__SANITIZE_ADDRESS__)
	(void)methods;
	return DM_OK;
#else
	for (unsigned c = 0; c < NCLS; c++)
		pthread_mutex_init(&shared[c].lock, NULL);
	if (sqlite3_config(SQLITE_CONFIG_MALLOC, &methods) != SQLITE_OK) {
		dm_error("mem: sqlite3_config(SQLITE_CONFIG_MALLOC) refused (SQLite already initialized?)");
		return DM_ERR;
	}
	return DM_OK;
#endif
}
