/*
 * mem — SQLite's memory allocator: per-thread caches of freed blocks in
 * size classes over the C library's malloc. Prefix: mem_.
 *
 * Why: musl's malloc takes one process-wide lock and hands memory back to
 * the kernel eagerly (munmap/madvise, each a TLB shootdown across cores).
 * With dozens of civetweb workers running SQLite statements that allocate
 * thousands of times per request, that lock and those shootdowns were most
 * of a request's time in the static build (the glibc build served a detail
 * 7x faster on the same code). SQLite's allocations are now served from a
 * thread's own free lists without a lock; other memory stays with malloc.
 */
#ifndef MEM_H
#define MEM_H

/* Installs the allocator with sqlite3_config(SQLITE_CONFIG_MALLOC). Call
 * once, before any other SQLite call. Under AddressSanitizer it does
 * nothing (ASan must see every block). DM_OK or DM_ERR. */
int mem_init(void);

/* Hands this thread's cached blocks to the shared lists (or back to
 * malloc past a cap). For threads that go idle for long (a WebSocket's
 * worker between messages): they should not sit on memory. Any thread. */
void mem_thread_flush(void);

/* This thread's cache and all the shared lists back to malloc (which may
 * give them to the kernel): for a quiet moment, e.g. after background
 * work. Any thread. */
void mem_trim(void);

/* What the shared lists hold now, in bytes (threads' own caches, at most
 * 128 KB each, are not counted: that would cost a shared counter per
 * allocation). */
long mem_shared_bytes(void);

#endif
