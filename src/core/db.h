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

/* Steps with typed arguments, on top of db_stmt (so the statement is
 * cached). Arguments are a list of DB_INT(x), DB_TEXT(s), DB_BLOB(p, n),
 * DB_NULL, bound to ?1, ?2, ... in order; the compiler checks each one's
 * type (no format string to get wrong). Text and blobs are bound without
 * a copy: they must live until the statement is done (for db_run and
 * db_get_* that is the call itself). DB_TEXT(NULL) binds NULL.
 *
 *   rc = db_run(w, "UPDATE saleItem SET state=?2 WHERE itemId=?1",
 *               DB_INT(item_id), DB_TEXT("closed"));
 *   rc = db_get_int(r->db, &n, "SELECT count(*) FROM userBlock WHERE userId=?1",
 *                   DB_INT(uid));
 */
typedef struct db_arg {
	char type; /* 'i' int64, 't' text, 'b' blob, 'n' NULL */
	int len;   /* blob length */
	union {
		int64_t i;
		const char *t;
		const void *b;
	} v;
} db_arg_t;
#define DB_INT(x) ((db_arg_t){.type = 'i', .v.i = (int64_t)(x)})
#define DB_TEXT(s) ((db_arg_t){.type = 't', .v.t = (s)})
#define DB_BLOB(p, n) ((db_arg_t){.type = 'b', .len = (int)(n), .v.b = (p)})
#define DB_NULL ((db_arg_t){.type = 'n'})
#define DB_ARGS_(...) (const db_arg_t[]){__VA_ARGS__}, \
	(int)(sizeof((db_arg_t[]){__VA_ARGS__}) / sizeof(db_arg_t))

/* Binds args[0..n) to st's parameters 1..n. DM_OK or DM_ERR (logged). */
int db_bind_args(sqlite3_stmt *st, const db_arg_t *args, int n);
/* db_stmt(db, sql) with the arguments bound, ready to step; the caller
 * steps it and gives it back with db_done. NULL on failure (logged). */
sqlite3_stmt *db_query_(sqlite3 *db, const char *sql, const db_arg_t *args, int n);
#define db_query(db, sql, ...) db_query_((db), (sql), DB_ARGS_(__VA_ARGS__))
/* Runs sql (no rows expected, or rows ignored) with the arguments.
 * DM_OK; DM_ECONFLICT when a constraint failed (UNIQUE, CHECK, FOREIGN
 * KEY: not logged, the caller decides); DM_ERR otherwise (logged). When
 * changes is not NULL it gets sqlite3_changes() of the run. */
int db_run_(sqlite3 *db, int *changes, const char *sql, const db_arg_t *args, int n);
#define db_run(db, sql, ...) db_run_((db), NULL, (sql), DB_ARGS_(__VA_ARGS__))
#define db_run_changes(db, changes, sql, ...) db_run_((db), (changes), (sql), DB_ARGS_(__VA_ARGS__))
/* The first column of the first row as an int64 into *out. DM_OK;
 * DM_ENOTFOUND when there is no row (*out untouched); DM_ERR (logged). */
int db_get_int_(sqlite3 *db, int64_t *out, const char *sql, const db_arg_t *args, int n);
#define db_get_int(db, out, sql, ...) db_get_int_((db), (out), (sql), DB_ARGS_(__VA_ARGS__))
/* The first column of the first row as text into buf (NUL-terminated).
 * DM_OK; DM_ENOTFOUND when there is no row or the value is NULL (buf "");
 * DM_ETOOBIG when it does not fit (buf truncated); DM_ERR (logged). */
int db_get_text_(sqlite3 *db, char *buf, size_t cap, const char *sql, const db_arg_t *args, int n);
#define db_get_text(db, buf, cap, sql, ...) db_get_text_((db), (buf), (cap), (sql), DB_ARGS_(__VA_ARGS__))

/* Health: 1 if a trivial query answers on this thread's reader. */
int db_ping(void);

#endif
