/*
 * db — SQLite: open, pragmas, schema apply (schema.sql embedded, versioned
 * with PRAGMA user_version), one read-only connection per thread, and the
 * single read-write connection that only the write lane (jobs) uses.
 * Prefix: db_.
 */
#ifndef DB_H
#define DB_H

#include <sqlite3.h>
#include <stdint.h>

/* Opens DIR/dongmul.db, applies the schema (a database of an older
 * schema is first migrated into a new file, the old one kept as
 * DIR/dongmul.db.v<N>), keeps the writer connection.
 * DM_OK or DM_ERR (logged). Call once at start, before any thread. */
int db_open(const char *dir);
/* Checkpoints and closes every connection. Call after all threads stopped. */
void db_close(void);

/* This thread's read-only connection (opened on first use, closed by
 * db_thread_exit or db_close). Never NULL after a successful db_open,
 * except on out-of-memory (then NULL, logged). Use it only on this thread. */
sqlite3 *db_reader(void);
/* Gives back what this thread's reader caches (its page cache: up to
 * 2 MB that a big scan leaves behind) and this thread's allocator cache.
 * For threads going idle after background work. Safe with no reader. */
void db_trim(void);
/* Closes this thread's reader. Safe to call when it has none. */
void db_thread_exit(void);

/* Scopes: between db_scope_begin and db_scope_end, db_reader() lends this
 * thread a connection from a shared pool instead of keeping one for the
 * thread's life; db_scope_end gives it back (every statement on it must be
 * finalized by then). Threads that hold a WebSocket open for hours (one
 * per chat user) thus cost no reader while they wait; plain HTTP requests
 * keep a per-thread reader (no lock on the hot path). Not nestable. */
void db_scope_begin(void);
void db_scope_end(void);

/* The writer. Only the write lane thread may use it (jobs.c). */
sqlite3 *db_writer(void);

/* Convenience: prepare on db, logging errors. NULL on failure. Caller
 * finalizes. */
sqlite3_stmt *db_prep(sqlite3 *db, const char *sql);
/* A cached prepared statement for sql on db: the first call prepares it
 * (SQLITE_PREPARE_PERSISTENT), later calls with the same text on the same
 * connection hand out the same statement, reset. Give it back with
 * db_done (never sqlite3_finalize it). If the same text is already handed
 * out on db (nesting), a fresh uncached statement is returned; db_done
 * finalizes that one. Keyed by the text's content, so SQL built at run time
 * is fine. Up to DB_STMT_CACHE statements per connection, least recently
 * used evicted. NULL on failure (logged). Same thread rules as the
 * connection itself. */
#define DB_STMT_CACHE 24
sqlite3_stmt *db_stmt(sqlite3 *db, const char *sql);
/* sqlite3_close for a connection db_stmt may have cached statements on
 * (they are finalized first). Returns sqlite3_close's code. */
int db_close_conn(sqlite3 *db);
/* Returns a statement from db_stmt: reset with bindings cleared (cached)
 * or finalized (not cached). NULL is fine. */
void db_done(sqlite3_stmt *st);
/* Runs sql (no rows expected) on db. DM_OK or DM_ERR (logged). */
int db_exec(sqlite3 *db, const char *sql);

/* First column of the first row of sql with one optional text parameter
 * (NULL for none) as an int64; def if no row. */
int64_t db_int(sqlite3 *db, const char *sql, const char *param, int64_t def);

/* Health: 1 if a trivial query answers on this thread's reader. */
int db_ping(void);

#endif
