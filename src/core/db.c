/*
 * db.c — SQLite connections and the schema (see db.h).
 *
 * Thread-safety: the writer is used by one thread at a time (db_open on
 * main, then only the write lane). Each reader belongs to the thread that
 * opened it, or — lent from the pool inside a scope — to the thread that
 * holds it until db_scope_end; the registry of kept readers and the pool
 * of idle lent ones (for db_close) are under reg_lock (a dm_mutex_t:
 * unlink_reader checks that its caller holds it).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "db.h"
#include "dm.h"
#include "mem.h"

extern const char dm_schema_sql[];
/* 2 (the first version after 1 to be released): AUTOINCREMENT on every id
 * a client sees; saleItem.imageBytes and thumb; user.adminYn;
 * report.handledDt and icruMsgId; operatorLog; keyword, appointment;
 * user.pushNotify, pushSubscription, pushOutbox. */
#define SCHEMA_VERSION 2

typedef struct reader {
	sqlite3 *db;
	int lent;                /* from the pool, for one scope */
	struct reader *next, *prev;
} reader_t;

/* Idle pooled readers kept open; more are closed on return. The pool
 * serves WebSocket callbacks, short and CPU-bound: on 2 cores a handful are
 * busy at once, and each kept one costs RSS (schema, lookaside, statements,
 * its page cache), so only a burst's worth is kept. */
#define POOL_KEEP 16
/* A pooled reader's page cache (KiB, as PRAGMA cache_size): the callbacks
 * look up a few rows; SQLite's default (2 MB) let each kept reader grow
 * with whatever big query it once ran. */
#define POOL_CACHE "-256"

static char db_path[1024];
static sqlite3 *writer;
static dm_mutex_t reg_lock = DM_MUTEX_INIT;
static reader_t *readers;
static __thread reader_t *my_reader;
static __thread int in_scope;
static reader_t *pool_free;   /* idle lent readers (under reg_lock), linked by next */
static int pool_nfree;

/* dm_time(ms) -> RFC 3339 text in the configured offset; NULL stays NULL.
 * With --legacy-time, the 2021 backend's shape instead: the local wall
 * clock labelled "Z" (its frontend adds the browser's offset back). Every
 * time in a reply is made here, so the flag changes them all alike. */
static void fn_time(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	char buf[32];
	(void)argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
		sqlite3_result_null(ctx);
		return;
	}
	dm_fmt_time(sqlite3_value_int64(argv[0]), buf);
	if (cfg.legacy_time)
		memcpy(buf + 23, "Z", 2); /* "YYYY-MM-DDTHH:MM:SS.mmm" is 23 characters */
	sqlite3_result_text(ctx, buf, -1, SQLITE_TRANSIENT);
}

/* dm_image(name) -> the URL of a stored photo: "/images/NAME", made
 * absolute with --public-url when it is set (a web app on another origin
 * resolves a relative URL against its own). NULL stays NULL. */
static void fn_image(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *name = (const char *)sqlite3_value_text(argv[0]);
	char *url;
	(void)argc;
	if (!name) {
		sqlite3_result_null(ctx);
		return;
	}
	url = sqlite3_mprintf("%s/images/%s", cfg.public_url, name);
	if (!url) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	sqlite3_result_text(ctx, url, -1, sqlite3_free);
}

/* dm_now() -> current time in ms (not deterministic: evaluated per statement). */
static void fn_now(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	(void)argv;
	sqlite3_result_int64(ctx, dm_now_ms());
}

static int setup_conn(sqlite3 *db, int writable)
{
	/* readers: no lookaside. Its slots (~120 KB a connection, all touched
	 * when it is set up) served small allocations faster than musl's
	 * malloc; mem.c's thread caches do that now for every connection. */
	if (!writable)
		sqlite3_db_config(db, SQLITE_DBCONFIG_LOOKASIDE, NULL, 0, 0);
	sqlite3_busy_timeout(db, 5000);
	sqlite3_extended_result_codes(db, 1);
	if (sqlite3_create_function(db, "dm_time", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, fn_time, NULL,
				    NULL) != SQLITE_OK ||
	    sqlite3_create_function(db, "dm_now", 0, SQLITE_UTF8, NULL, fn_now, NULL, NULL) != SQLITE_OK ||
	    sqlite3_create_function(db, "dm_image", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, fn_image, NULL,
				    NULL) != SQLITE_OK)
		return DM_ERR;
	if (db_exec(db, "PRAGMA foreign_keys=ON") != DM_OK)
		return DM_ERR;
	if (writable && db_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL") != DM_OK)
		return DM_ERR;
	return DM_OK;
}

sqlite3_stmt *db_prep(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v3(db, sql, -1, 0, &st, NULL) != SQLITE_OK) {
		dm_error("sql prepare: %s: %.120s", sqlite3_errmsg(db), sql);
		return NULL;
	}
	return st;
}

/* ------------------------------------------------ the statement cache */

/* One connection's cache, kept as its client data (freed with it). The
 * statements themselves are finalized by db_close_conn before the close. */
typedef struct {
	uint64_t hash;
	uint64_t used;           /* tick of the last hand-out; 0 = empty slot */
	size_t len;              /* strlen of its text (== strlen(sqlite3_sql)) */
	sqlite3_stmt *st;
	int out;                 /* handed out, not yet given back */
} stmt_ent_t;

typedef struct {
	uint64_t tick;
	stmt_ent_t e[DB_STMT_CACHE];
} stmt_cache_t;

static const char CACHE_KEY[] = "dongmul.stmts";

/* A cheap key for a statement's text: its length and up to 64 bytes from
 * each end (a hit is confirmed with memcmp of the whole text, which is
 * faster than hashing every byte of a 3 KB statement). */
static uint64_t text_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull ^ n;
	size_t head = n < 64 ? n : 64;
	for (size_t i = 0; i < head; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	for (size_t i = n > 64 ? n - 64 : n; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h;
}

sqlite3_stmt *db_stmt(sqlite3 *db, const char *sql)
{
	stmt_cache_t *c = sqlite3_get_clientdata(db, CACHE_KEY);
	stmt_ent_t *slot = NULL;
	sqlite3_stmt *st = NULL;
	size_t len = strlen(sql);
	uint64_t h = text_hash(sql, len);

	if (!c) {
		c = calloc(1, sizeof *c);
		if (c && sqlite3_set_clientdata(db, CACHE_KEY, c, free) != SQLITE_OK)
			c = NULL; /* SQLite called free(c) */
	}
	if (c) {
		for (int i = 0; i < DB_STMT_CACHE; i++) {
			stmt_ent_t *e = &c->e[i];
			if (e->st && !e->out && e->hash == h && e->len == len && !memcmp(sqlite3_sql(e->st), sql, len)) {
				e->out = 1;
				e->used = ++c->tick;
				return e->st;
			}
			if (!e->out && (!slot || e->used < slot->used))
				slot = e;
		}
	}
	if (sqlite3_prepare_v3(db, sql, -1, slot ? SQLITE_PREPARE_PERSISTENT : 0, &st, NULL) != SQLITE_OK) {
		dm_error("sql prepare: %s: %.120s", sqlite3_errmsg(db), sql);
		return NULL;
	}
	/* cached only if SQLite kept the text as given (the memcmp above
	 * must not read past its end) */
	if (slot && strlen(sqlite3_sql(st)) == len) {
		sqlite3_finalize(slot->st);
		slot->st = st;
		slot->hash = h;
		slot->len = len;
		slot->out = 1;
		slot->used = ++c->tick;
	}
	return st;
}

void db_done(sqlite3_stmt *st)
{
	stmt_cache_t *c;

	if (!st)
		return;
	c = sqlite3_get_clientdata(sqlite3_db_handle(st), CACHE_KEY);
	for (int i = 0; c && i < DB_STMT_CACHE; i++)
		if (c->e[i].st == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			c->e[i].out = 0;
			return;
		}
	sqlite3_finalize(st);
}

/* Closes a connection after finalizing the statements of its cache (only
 * those: FTS5 keeps statements of its own on the connection and finalizes
 * them itself); the cache goes with the client data. */
int db_close_conn(sqlite3 *db)
{
	stmt_cache_t *c = db ? sqlite3_get_clientdata(db, CACHE_KEY) : NULL;
	for (int i = 0; c && i < DB_STMT_CACHE; i++) {
		sqlite3_finalize(c->e[i].st);
		c->e[i].st = NULL;
	}
	return sqlite3_close(db);
}

int db_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		dm_error("sql: %s: %.120s", err ? err : sqlite3_errmsg(db), sql);
		sqlite3_free(err);
		return DM_ERR;
	}
	return DM_OK;
}

int db_bind_args(sqlite3_stmt *st, const db_arg_t *args, int n)
{
	for (int i = 0; i < n; i++) {
		int rc;
		switch (args[i].type) {
		case 'i': rc = sqlite3_bind_int64(st, i + 1, args[i].v.i); break;
		case 't': rc = args[i].v.t ? sqlite3_bind_text(st, i + 1, args[i].v.t, -1, SQLITE_STATIC)
					   : sqlite3_bind_null(st, i + 1); break;
		case 'b': rc = sqlite3_bind_blob(st, i + 1, args[i].v.b, args[i].len, SQLITE_STATIC); break;
		case 'n': rc = sqlite3_bind_null(st, i + 1); break;
		default: dm_assert(!"a db_arg_t made by the DB_* macros"); rc = SQLITE_MISUSE;
		}
		if (rc != SQLITE_OK) {
			dm_error("db: bind %d of %s: %s", i + 1, sqlite3_sql(st), sqlite3_errstr(rc));
			return DM_ERR;
		}
	}
	return DM_OK;
}

sqlite3_stmt *db_query_(sqlite3 *db, const char *sql, const db_arg_t *args, int n)
{
	sqlite3_stmt *st = db_stmt(db, sql);
	if (st && db_bind_args(st, args, n) != DM_OK) {
		db_done(st);
		return NULL;
	}
	return st;
}

int db_run_(sqlite3 *db, int *changes, const char *sql, const db_arg_t *args, int n)
{
	sqlite3_stmt *st = db_query_(db, sql, args, n);
	int rc;
	if (!st)
		return DM_ERR;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	db_done(st);
	if (rc == SQLITE_DONE) {
		if (changes)
			*changes = sqlite3_changes(db);
		return DM_OK;
	}
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return DM_ECONFLICT;
	dm_error("db: %s: %s", sql, sqlite3_errmsg(db));
	return DM_ERR;
}

int db_get_int_(sqlite3 *db, int64_t *out, const char *sql, const db_arg_t *args, int n)
{
	sqlite3_stmt *st = db_query_(db, sql, args, n);
	int rc, ret;
	if (!st)
		return DM_ERR;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		ret = DM_OK;
	} else if (rc == SQLITE_DONE) {
		ret = DM_ENOTFOUND;
	} else {
		dm_error("db: %s: %s", sql, sqlite3_errmsg(db));
		ret = DM_ERR;
	}
	db_done(st);
	return ret;
}

int db_get_text_(sqlite3 *db, char *buf, size_t cap, const char *sql, const db_arg_t *args, int n)
{
	sqlite3_stmt *st = db_query_(db, sql, args, n);
	int rc, ret = DM_ENOTFOUND;
	dm_assert(cap > 0);
	buf[0] = 0;
	if (!st)
		return DM_ERR;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		if (v)
			ret = dm_strlcpy(buf, v, cap);
	} else if (rc != SQLITE_DONE) {
		dm_error("db: %s: %s", sql, sqlite3_errmsg(db));
		ret = DM_ERR;
	}
	db_done(st);
	return ret;
}

/* The result of apply_schema when the database is older than this build:
 * db_open migrates it (migrate) and applies again. */
#define NEEDS_MIGRATION 1

static int apply_schema(sqlite3 *db)
{
	int64_t v = -1;
	if (db_get_int(db, &v, "PRAGMA user_version") != DM_OK || v < 0)
		return DM_ERR;
	if (v > SCHEMA_VERSION) {
		dm_error("the database is from a newer dongmul (schema %lld > %d); refusing to open it",
			 (long long)v, SCHEMA_VERSION);
		return DM_ERR;
	}
	if (v == SCHEMA_VERSION)
		return DM_OK;
	if (v > 0)
		return NEEDS_MIGRATION;
	/* a new database */
	if (db_exec(db, "BEGIN IMMEDIATE") != DM_OK)
		return DM_ERR;
	if (db_exec(db, dm_schema_sql) != DM_OK) {
		db_exec(db, "ROLLBACK");
		return DM_ERR;
	}
	if (db_exec(db, "COMMIT") != DM_OK)
		return DM_ERR;
	dm_info("database schema %d created", SCHEMA_VERSION);
	return DM_OK;
}

/* ------------------------------------------------------------ migration */

#define FIX_COLS 64

/* Per-table counts of the values dm_utf8_fix repaired, by column. */
typedef struct fixcount {
	int64_t n[FIX_COLS];
} fixcount_t;

/* dm_utf8_fix(value, k): value as it is, unless it is text that is not
 * valid UTF-8 (JSON escapes once let such bytes in): then the text with
 * each invalid byte replaced by U+FFFD, counted in column k's count. */
static void fn_utf8_fix(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	fixcount_t *fc = sqlite3_user_data(ctx);
	const char *s;
	char *out;
	int n, k = sqlite3_value_int(argv[1]);
	size_t len;

	(void)argc;
	if (sqlite3_value_type(argv[0]) != SQLITE_TEXT) {
		sqlite3_result_value(ctx, argv[0]);
		return;
	}
	s = (const char *)sqlite3_value_text(argv[0]);
	n = sqlite3_value_bytes(argv[0]);
	if (!s || dm_utf8_valid(s, (size_t)n)) {
		sqlite3_result_value(ctx, argv[0]);
		return;
	}
	out = malloc((size_t)n * 3 + 1);
	if (!out) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	len = dm_utf8_repair(s, (size_t)n, out);
	if (k >= 0 && k < FIX_COLS)
		fc->n[k]++;
	sqlite3_result_text(ctx, out, (int)len, free);
}

/* Copies every row of table t from main into the attached database n,
 * the columns both have, each through dm_utf8_fix (logging per column
 * what it repaired). DM_OK or DM_ERR (logged). */
static int copy_table(sqlite3 *db, const char *t, fixcount_t *fc)
{
	sqlite3_stmt *st = db_prep(db, "SELECT o.name FROM pragma_table_info(?1, 'main') o "
				       "WHERE o.name IN (SELECT name FROM pragma_table_info(?1, 'n')) ORDER BY o.cid");
	char *cols = NULL, *vals = NULL, *sql = NULL, *names[FIX_COLS];
	int ncol = 0, rc = DM_ERR;

	if (!st)
		return DM_ERR;
	sqlite3_bind_text(st, 1, t, -1, SQLITE_STATIC);
	cols = sqlite3_mprintf("");
	vals = sqlite3_mprintf("");
	while (cols && vals && sqlite3_step(st) == SQLITE_ROW && ncol < FIX_COLS) {
		const char *c = (const char *)sqlite3_column_text(st, 0);
		char *nc = sqlite3_mprintf("%s%s\"%w\"", cols, ncol ? ", " : "", c);
		char *nv = sqlite3_mprintf("%s%sdm_utf8_fix(\"%w\", %d)", vals, ncol ? ", " : "", c, ncol);
		sqlite3_free(cols);
		sqlite3_free(vals);
		cols = nc;
		vals = nv;
		names[ncol] = sqlite3_mprintf("%s", c);
		if (!names[ncol])
			break;
		ncol++;
	}
	sqlite3_finalize(st);
	if (!cols || !vals || !ncol)
		goto done;
	memset(fc, 0, sizeof *fc);
	sql = sqlite3_mprintf("INSERT INTO n.\"%w\"(%s) SELECT %s FROM main.\"%w\"", t, cols, vals, t);
	if (!sql || db_exec(db, sql) != DM_OK)
		goto done;
	for (int k = 0; k < ncol; k++)
		if (fc->n[k])
			dm_warn("database: repaired %lld value(s) of %s.%s that were not valid UTF-8 "
				"(each invalid byte is now U+FFFD)",
				(long long)fc->n[k], t, names[k]);
	rc = DM_OK;
done:
	for (int k = 0; k < ncol; k++)
		sqlite3_free(names[k]);
	sqlite3_free(cols);
	sqlite3_free(vals);
	sqlite3_free(sql);
	return rc;
}

/* Migrates the database at db_path (open as db, schema from..SCHEMA_VERSION-1)
 * to this schema: a new file tmp gets the schema, every row of the old
 * tables is copied into it (the columns both have; text repaired to valid
 * UTF-8 on the way, see fn_utf8_fix), then the old file is kept as
 * DIR/dongmul.db.v<from> and the new one takes its place. Closes db in
 * every case. A crash before the final rename leaves the old database as it
 * was (the next start migrates again). DM_OK or DM_ERR (logged). */
static int migrate(sqlite3 *db, int64_t from)
{
	char tmp[1100], keep[1100], side[1100];
	sqlite3 *nw = NULL;
	sqlite3_stmt *st = NULL;
	fixcount_t fc;
	int rc = DM_ERR, attached = 0, in_tx = 0;
	int64_t broken = -1;

	if (dm_snprintf(tmp, sizeof tmp, "%s.migrating", db_path) != DM_OK ||
	    dm_snprintf(keep, sizeof keep, "%s.v%lld", db_path, (long long)from) != DM_OK)
		goto close_old;
	dm_info("database schema %lld is older than %d: migrating (the old file stays as %s)", (long long)from,
		SCHEMA_VERSION, keep);
	unlink(tmp);
	if (dm_snprintf(side, sizeof side, "%s-journal", tmp) == DM_OK)
		unlink(side);
	if (sqlite3_open_v2(tmp, &nw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
		    SQLITE_OK ||
	    db_exec(nw, dm_schema_sql) != DM_OK)
		goto close_new;
	sqlite3_close(nw);
	nw = NULL;
	if (sqlite3_create_function(db, "dm_utf8_fix", 2, SQLITE_UTF8, &fc, fn_utf8_fix, NULL, NULL) != SQLITE_OK)
		goto close_old;
	st = db_prep(db, "ATTACH ?1 AS n");
	if (!st)
		goto close_old;
	sqlite3_bind_text(st, 1, tmp, -1, SQLITE_STATIC);
	attached = sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	if (!attached || db_exec(db, "PRAGMA foreign_keys=OFF") != DM_OK || db_exec(db, "BEGIN") != DM_OK)
		goto close_old;
	in_tx = 1;
	/* every table of both, but SQLite's own, the FTS index and its shadow
	 * tables (the new schema's triggers index saleItem rows as they come)
	 * and code (the new schema wrote it) */
	st = db_prep(db, "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' "
			 "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> 'code' "
			 "AND name IN (SELECT name FROM pragma_table_list WHERE schema = 'n' AND type = 'table')");
	if (!st)
		goto close_old;
	while (sqlite3_step(st) == SQLITE_ROW) {
		char *t = sqlite3_mprintf("%s", (const char *)sqlite3_column_text(st, 0));
		int ok = t && copy_table(db, t, &fc) == DM_OK;
		sqlite3_free(t);
		if (!ok) {
			sqlite3_finalize(st);
			goto close_old;
		}
	}
	sqlite3_finalize(st);
	/* ids an older build deleted at the top were never recorded: start
	 * the sequences of items and rooms past every id something still
	 * names (reviews, reports, notification keys and payloads) */
	if (db_exec(db, "DELETE FROM n.sqlite_sequence WHERE name IN ('saleItem', 'itemChatRoom');"
			"INSERT INTO n.sqlite_sequence(name, seq) SELECT 'saleItem', max("
			" coalesce((SELECT max(itemId) FROM n.saleItem), 0),"
			" coalesce((SELECT max(itemId) FROM n.review), 0),"
			" coalesce((SELECT max(itemId) FROM n.report), 0),"
			" coalesce((SELECT max(CAST(payload ->> 'itemId' AS INTEGER)) FROM n.notification"
			"  WHERE json_valid(payload)), 0),"
			" coalesce((SELECT max(CAST(substr(coalesceKey, 9) AS INTEGER)) FROM n.notification"
			"  WHERE coalesceKey LIKE 'expired:%'), 0));"
			"INSERT INTO n.sqlite_sequence(name, seq) SELECT 'itemChatRoom', max("
			" coalesce((SELECT max(icrId) FROM n.itemChatRoom), 0),"
			" coalesce((SELECT max(CAST(payload ->> 'icrId' AS INTEGER)) FROM n.notification"
			"  WHERE json_valid(payload)), 0),"
			" coalesce((SELECT max(CAST(substr(coalesceKey, 6) AS INTEGER)) FROM n.notification"
			"  WHERE coalesceKey LIKE 'room:%'), 0))") != DM_OK)
		goto close_old;
	if (db_get_int(db, &broken, "SELECT count(*) FROM pragma_foreign_key_check(NULL, 'n')") != DM_OK ||
	    broken != 0) {
		dm_error("database migration: the copied rows break foreign keys; the old database is kept");
		goto close_old;
	}
	if (db_exec(db, "COMMIT") != DM_OK)
		goto close_old;
	in_tx = 0;
	db_exec(db, "DETACH n");
	attached = 0;
	/* the old file, whole (its WAL checkpointed into it), under keep; the
	 * new one in its place */
	if (sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) != SQLITE_OK) {
		dm_error("database migration: checkpoint: %s", sqlite3_errmsg(db));
		goto close_old;
	}
	db_close_conn(db);
	db = NULL;
	unlink(keep);
	if (link(db_path, keep) != 0 && errno != EEXIST) {
		dm_error("database migration: cannot keep %s: %s", keep, strerror(errno));
		return DM_ERR;
	}
	if (dm_snprintf(side, sizeof side, "%s-wal", db_path) == DM_OK)
		unlink(side); /* empty after the checkpoint: it must not meet the new file */
	if (dm_snprintf(side, sizeof side, "%s-shm", db_path) == DM_OK)
		unlink(side);
	if (rename(tmp, db_path) != 0) {
		dm_error("database migration: rename %s: %s", tmp, strerror(errno));
		return DM_ERR;
	}
	dm_info("database migrated from schema %lld to %d", (long long)from, SCHEMA_VERSION);
	return DM_OK;
close_new:
	dm_error("database migration: cannot create %s: %s", tmp, nw ? sqlite3_errmsg(nw) : "out of memory");
	sqlite3_close(nw);
close_old:
	if (in_tx)
		db_exec(db, "ROLLBACK");
	if (attached)
		db_exec(db, "DETACH n");
	if (db)
		db_close_conn(db);
	unlink(tmp);
	return rc;
}

/* mkdir -p for one level with mode; an existing directory is fine. */
static int ensure_dir(const char *path)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return DM_OK;
	dm_error("cannot create %s: %s", path, strerror(errno));
	return DM_ERR;
}

int db_open(const char *dir)
{
	int rc;

	if (ensure_dir(dir) != DM_OK)
		return DM_ERR;
	if (dm_snprintf(db_path, sizeof db_path, "%s/dongmul.db", dir) != DM_OK)
		return DM_ERR;
	if (sqlite3_open_v2(db_path, &writer, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		dm_error("cannot open %s: %s", db_path, writer ? sqlite3_errmsg(writer) : "out of memory");
		goto fail;
	}
	if (setup_conn(writer, 1) != DM_OK)
		goto fail;
	rc = apply_schema(writer);
	if (rc == NEEDS_MIGRATION) {
		int64_t from = 0;
		db_get_int(writer, &from, "PRAGMA user_version"); /* apply_schema read it */
		rc = migrate(writer, from); /* closes writer */
		writer = NULL;
		if (rc != DM_OK)
			return DM_ERR;
		if (sqlite3_open_v2(db_path, &writer, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
		    setup_conn(writer, 1) != DM_OK)
			goto fail;
		rc = apply_schema(writer);
	}
	if (rc != DM_OK)
		goto fail;
	/* PASSIVE checkpoints after commits that leave the WAL this long (in
	 * pages); 0 leaves every checkpoint to a replicator such as Litestream,
	 * which holds a read transaction to keep frames it has not copied. */
	sqlite3_wal_autocheckpoint(writer, cfg.wal_autocheckpoint);
	return DM_OK;
fail:
	db_close_conn(writer);
	writer = NULL;
	return DM_ERR;
}

sqlite3 *db_writer(void)
{
	return writer;
}

sqlite3 *db_reader(void)
{
	reader_t *r;

	if (my_reader)
		return my_reader->db;
	if (in_scope) {
		dm_mutex_lock(&reg_lock);
		r = pool_free;
		if (r) {
			dm_assert(pool_nfree > 0 && r->lent);
			pool_free = r->next;
			pool_nfree--;
		}
		dm_mutex_unlock(&reg_lock);
		if (r) {
			my_reader = r;
			return r->db;
		}
	}
	r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->lent = in_scope;
	if (sqlite3_open_v2(db_path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    setup_conn(r->db, 0) != DM_OK ||
	    (r->lent && db_exec(r->db, "PRAGMA cache_size=" POOL_CACHE) != DM_OK)) {
		dm_error("cannot open a reader on %s: %s", db_path, r->db ? sqlite3_errmsg(r->db) : "no memory");
		db_close_conn(r->db);
		free(r);
		return NULL;
	}
	if (!r->lent) {
		dm_mutex_lock(&reg_lock);
		r->next = readers;
		if (readers)
			readers->prev = r;
		readers = r;
		dm_mutex_unlock(&reg_lock);
	}
	my_reader = r;
	return r->db;
}

void db_scope_begin(void)
{
	in_scope = !my_reader; /* a thread that keeps its own reader goes on using it */
}

void db_scope_end(void)
{
	reader_t *r = my_reader;
	int was = in_scope;

	in_scope = 0;
	if (!was || !r || !r->lent)
		return;
	mem_thread_flush(); /* this thread may now wait for hours */
	my_reader = NULL;
	dm_mutex_lock(&reg_lock);
	if (pool_nfree < POOL_KEEP) {
		r->next = pool_free;
		pool_free = r;
		pool_nfree++;
		r = NULL;
	}
	dm_mutex_unlock(&reg_lock);
	if (r) {
		db_close_conn(r->db);
		free(r);
	}
}

/* Takes r off the registry of kept readers; the caller holds reg_lock. */
static void unlink_reader(reader_t *r)
{
	dm_assert(dm_mutex_held(&reg_lock) && !r->lent);
	if (r->prev)
		r->prev->next = r->next;
	else
		readers = r->next;
	if (r->next)
		r->next->prev = r->prev;
}

void db_trim(void)
{
	if (my_reader)
		sqlite3_db_release_memory(my_reader->db);
	mem_trim();
}

void db_thread_exit(void)
{
	reader_t *r = my_reader;
	if (!r)
		return;
	if (r->lent) {
		in_scope = 1;
		db_scope_end();
		return;
	}
	my_reader = NULL;
	dm_mutex_lock(&reg_lock);
	unlink_reader(r);
	dm_mutex_unlock(&reg_lock);
	db_close_conn(r->db);
	free(r);
}

int db_ping(void)
{
	sqlite3 *db = db_reader();
	sqlite3_stmt *st = db ? db_stmt(db, "SELECT count(*) FROM code") : NULL;
	int ok = st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0;
	db_done(st);
	return ok;
}

void db_close(void)
{
	dm_mutex_lock(&reg_lock);
	while (readers) {
		reader_t *r = readers;
		unlink_reader(r);
		db_close_conn(r->db);
		free(r);
	}
	while (pool_free) {
		reader_t *r = pool_free;
		pool_free = r->next;
		db_close_conn(r->db);
		free(r);
	}
	pool_nfree = 0;
	dm_mutex_unlock(&reg_lock);
	my_reader = NULL;
	if (writer) {
		/* PASSIVE: never waits for readers and never resets the WAL under
		 * another process's reader (Litestream copies from it); closing
		 * the last connection checkpoints fully and removes the WAL anyway
		 * when no other process has the file open. */
		sqlite3_wal_checkpoint_v2(writer, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		if (db_close_conn(writer) != SQLITE_OK)
			dm_error("closing the database: %s", sqlite3_errmsg(writer));
		writer = NULL;
	}
}
