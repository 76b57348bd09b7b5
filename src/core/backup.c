/*
 * backup.c — online backup and restore of a data dir (see backup.h).
 *
 * Why it is safe while the server writes: the database is in WAL mode, so
 * one read transaction sees one snapshot for as long as it stays open and
 * never blocks a writer (only WAL checkpoints cannot go past it, so the WAL
 * grows a little while a backup runs). The snapshot is copied with
 * sqlite3_backup_step in slices of STEP_PAGES pages with a short sleep
 * between them and an fdatasync every 16 MiB, so the copy competes gently
 * for the CPU and never floods the disk's write queue. The
 * photos are content-addressed and never rewritten; the only race is an
 * item deleted during the backup, whose photo image_release would unlink:
 * a backup holds a shared flock on images/.backup-lock while it runs, and
 * backup_remove_photo (under an exclusive try-lock) moves such a photo
 * aside as .gone-NAME instead, for the backup to copy; the last backup out
 * removes the leftovers.
 *
 * A backup writes MANIFEST.json last (through a temporary name, after
 * syncing everything else), so a half-written backup has no manifest and
 * restore refuses it. The manifest is built and parsed by SQLite (an
 * in-memory database holds the file list; its statements go through
 * db.h's cache, so it is closed with list_close).
 *
 * Thread-safety: no shared state; the scheduled backup runs on one pool
 * worker at a time (a timer never overlaps itself).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/sha256.h>
#include <sqlite3.h>

#include "backup.h"
#include "config.h"
#include "db.h"
#include "dm.h"
#include "jobs.h"

#ifndef DONGMUL_VERSION
#define DONGMUL_VERSION "dev"
#endif

#define MANIFEST "MANIFEST.json"
#define FORMAT "dongmul-backup"
#define FORMAT_VERSION 1
#define LOCK_NAME ".backup-lock"
#define GONE_PREFIX ".gone-"
/* 256 pages (1 MiB at SQLite's default page size) a step, then a pause */
#define STEP_PAGES 256
#define STEP_SLEEP_US 2000
/* the copy is pushed to disk every this many steps (16 MiB), so its dirty
 * pages never pile up into a writeback burst that the live database's
 * checkpoint fsync would have to wait behind */
#define SYNC_EVERY_STEPS 16
#define COPY_BUF 65536
#define MAX_MANIFEST (1L << 30)
#define PATHN 1100
#define BACKUP_NICE 10

/* ------------------------------------------------------------- helpers */

static void fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Is name a stored photo's name: [0-9a-f]{64}.(jpg|png|webp|gif)? */
static int photo_name_ok(const char *name)
{
	static const char *ext[] = {"jpg", "png", "webp", "gif"};
	for (int i = 0; i < 64; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	if (name[64] != '.')
		return 0;
	for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
		if (!strcmp(name + 65, ext[i]))
			return 1;
	return 0;
}

/* Is p a safe relative path from a manifest: one or two components of
 * [A-Za-z0-9._-], none empty or starting with '.' (so no "..", no hidden
 * files, no absolute paths), at most 255 bytes? */
static int rel_path_ok(const char *p)
{
	int comps = 0;
	size_t n = strlen(p);
	if (n == 0 || n > 255)
		return 0;
	for (const char *c = p; *c;) {
		if (*c == '.' || *c == '/')
			return 0; /* a component starts with '.' or is empty */
		comps++;
		while (*c && *c != '/') {
			char ch = *c++;
			if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
			      ch == '.' || ch == '_' || ch == '-'))
				return 0;
		}
		if (*c == '/' && !*++c)
			return 0; /* trailing slash */
	}
	return comps <= 2;
}

/* Is DIR absent (0), an empty directory (1), something else (-1), or not
 * even examinable (-2, errno set: e.g. a parent that is a file)? */
static int dir_state(const char *dir)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	int empty = 1;

	if (stat(dir, &st) != 0)
		return errno == ENOENT ? 0 : -2;
	if (!S_ISDIR(st.st_mode) || !(d = opendir(dir)))
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			empty = 0;
			break;
		}
	closedir(d);
	return empty ? 1 : -1;
}

static void sync_path(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* Copies src to dst (dst NULL: only reads), hashing the bytes. dst is
 * created exclusively with mode (and chmod'ed to it, past the umask).
 * Returns DM_OK with *size and hex (65 bytes) filled, DM_ENOTFOUND if src
 * does not exist, else DM_ERR with err filled (a partial dst is removed). */
static int copy_hash(const char *src, const char *dst, unsigned mode, int64_t *size, char *hex, char *err,
		     size_t errlen)
{
	mbedtls_sha256_context sha;
	unsigned char h[32], *buf = malloc(COPY_BUF);
	int in = -1, out = -1, rc = DM_ERR;
	int64_t total = 0;

	mbedtls_sha256_init(&sha);
	if (!buf || mbedtls_sha256_starts(&sha, 0) != 0) {
		fail(err, errlen, "out of memory");
		goto done;
	}
	in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (in < 0) {
		rc = errno == ENOENT ? DM_ENOTFOUND : DM_ERR;
		fail(err, errlen, "cannot read %s: %s", src, strerror(errno));
		goto done;
	}
	if (dst) {
		out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode & 0777);
		if (out < 0 || fchmod(out, mode & 0777) != 0) {
			fail(err, errlen, "cannot create %s: %s", dst, strerror(errno));
			goto done;
		}
	}
	for (;;) {
		ssize_t k = read(in, buf, COPY_BUF);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			fail(err, errlen, "reading %s: %s", src, strerror(errno));
			goto done;
		}
		if (k == 0)
			break;
		mbedtls_sha256_update(&sha, buf, (size_t)k);
		total += k;
		for (ssize_t off = 0; out >= 0 && off < k;) {
			ssize_t w = write(out, buf + off, (size_t)(k - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				fail(err, errlen, "writing %s: %s", dst, w < 0 ? strerror(errno) : "short write");
				goto done;
			}
			off += w;
		}
	}
	if (mbedtls_sha256_finish(&sha, h) != 0) {
		fail(err, errlen, "sha256 failed");
		goto done;
	}
	dm_hex(h, sizeof h, hex);
	*size = total;
	rc = DM_OK;
done:
	if (out >= 0 && rc == DM_OK && fsync(out) != 0) {
		fail(err, errlen, "syncing %s: %s", dst, strerror(errno));
		rc = DM_ERR;
	}
	if (out >= 0 && close(out) != 0 && rc == DM_OK) {
		fail(err, errlen, "writing %s: %s", dst, strerror(errno));
		rc = DM_ERR;
	}
	if (rc != DM_OK && out >= 0)
		unlink(dst);
	if (in >= 0)
		close(in);
	mbedtls_sha256_free(&sha);
	free(buf);
	return rc;
}

/* Closes a list (NULL is fine). */
static void list_close(sqlite3 *m)
{
	db_close_conn(m);
}

/* The file list of a backup or restore: an in-memory table
 * f(path PRIMARY KEY, size, sha256, mode), which also builds and parses the
 * manifest's JSON. */
static sqlite3 *list_open(void)
{
	sqlite3 *m = NULL;
	if (sqlite3_open_v2(":memory:", &m, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite3_exec(m,
			 "CREATE TABLE f(path TEXT PRIMARY KEY, size INTEGER NOT NULL, sha256 TEXT NOT NULL,"
			 " mode TEXT NOT NULL); BEGIN",
			 NULL, NULL, NULL) != SQLITE_OK) {
		list_close(m);
		return NULL;
	}
	return m;
}

static int list_add(sqlite3 *m, const char *path, int64_t size, const char *sha, unsigned mode)
{
	char ms[8];
	snprintf(ms, sizeof ms, "%04o", mode & 0777);
	return db_run(m, "INSERT INTO f VALUES (?1, ?2, ?3, ?4)", DB_TEXT(path), DB_INT(size), DB_TEXT(sha),
		      DB_TEXT(ms)) == DM_OK
		       ? DM_OK
		       : DM_ERR;
}

/* Calls fn(root/P) for every path P that sql (on the list m) yields. */
static void list_each(sqlite3 *m, const char *sql, const char *root, void (*fn)(const char *))
{
	char path[PATHN];
	sqlite3_stmt *st = m ? db_query(m, sql) : NULL;
	while (st && sqlite3_step(st) == SQLITE_ROW)
		if (dm_snprintf(path, sizeof path, "%s/%s", root, (const char *)sqlite3_column_text(st, 0)) == DM_OK)
			fn(path);
	db_done(st);
}

/* The subdirectories the listed paths are in (photos: always images). */
#define LIST_DIRS "SELECT DISTINCT substr(path, 1, instr(path, '/') - 1) FROM f WHERE instr(path, '/')"

static void remove_file(const char *path)
{
	unlink(path);
}

static void remove_dir(const char *path)
{
	rmdir(path);
}

/* Removes what a failed backup or restore wrote under root: every path in
 * the list, the subdirectories they made, and root itself if made_root. */
static void list_undo(sqlite3 *m, const char *root, int made_root)
{
	list_each(m, "SELECT path FROM f UNION ALL SELECT 'MANIFEST.json.tmp'", root, remove_file);
	/* the subdirectories (empty now unless someone else wrote there) */
	list_each(m, LIST_DIRS " UNION SELECT 'images'", root, remove_dir);
	if (made_root)
		rmdir(root);
}

/* ------------------------------------------------------------- backup */

/* Copies the snapshot of DATA/dongmul.db into dest_db and lists the
 * photos that snapshot references into the in-memory table photo(name).
 * The read transaction on src spans both, so they agree. */
static int snapshot(const char *data, const char *dest_db, sqlite3 *m, int64_t *snap_ms, char *err, size_t errlen)
{
	char path[PATHN];
	sqlite3 *src = NULL, *dst = NULL;
	sqlite3_backup *b = NULL;
	sqlite3_stmt *st = NULL;
	int rc = DM_ERR, step = SQLITE_ERROR, syncfd = -1;
	long nsteps = 0;

	if (dm_snprintf(path, sizeof path, "%s/dongmul.db", data) != DM_OK)
		return DM_ERR;
	/* read-write without CREATE: also works when the server is stopped
	 * (a read-only connection could not recover a WAL left behind) */
	if (sqlite3_open_v2(path, &src, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		fail(err, errlen, "cannot open %s: %s", path, src ? sqlite3_errmsg(src) : "out of memory");
		goto close_src;
	}
	sqlite3_busy_timeout(src, 5000);
	/* the snapshot starts with the first read of this transaction */
	if (sqlite3_exec(src, "BEGIN; SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) != SQLITE_OK) {
		fail(err, errlen, "cannot read %s: %s", path, sqlite3_errmsg(src));
		goto close_src;
	}
	*snap_ms = dm_now_ms();
	if (sqlite3_open_v2(dest_db, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK ||
	    !(b = sqlite3_backup_init(dst, "main", src, "main"))) {
		fail(err, errlen, "cannot create %s: %s", dest_db, dst ? sqlite3_errmsg(dst) : "out of memory");
		goto close_dst;
	}
	do {
		if (dm_stopping) {
			fail(err, errlen, "stopped");
			break;
		}
		step = sqlite3_backup_step(b, STEP_PAGES);
		if (++nsteps % SYNC_EVERY_STEPS == 0 && (syncfd >= 0 || (syncfd = open(dest_db, O_RDONLY | O_CLOEXEC)) >= 0))
			fdatasync(syncfd);
		if (step == SQLITE_OK || step == SQLITE_BUSY || step == SQLITE_LOCKED)
			usleep(STEP_SLEEP_US);
	} while (step == SQLITE_OK || step == SQLITE_BUSY || step == SQLITE_LOCKED);
	if (syncfd >= 0)
		close(syncfd);
	if (sqlite3_backup_finish(b) != SQLITE_OK || step != SQLITE_DONE) {
		if (!dm_stopping)
			fail(err, errlen, "copying the database into %s: %s", dest_db, sqlite3_errmsg(dst));
		goto close_dst;
	}
	/* the photos of exactly this snapshot */
	if (sqlite3_exec(m, "CREATE TABLE photo(name TEXT PRIMARY KEY)", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(src, "SELECT DISTINCT image FROM saleItem", -1, &st, NULL) != SQLITE_OK) {
		fail(err, errlen, "listing the photos: %s", sqlite3_errmsg(src));
		goto close_dst;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		if (!name || !photo_name_ok(name)) {
			fail(err, errlen, "the database names a photo '%.80s' that is not a stored photo's name",
			     name ? name : "(null)");
			goto close_dst;
		}
		if (db_run(m, "INSERT OR IGNORE INTO photo VALUES (?1)", DB_TEXT(name)) != DM_OK) {
			fail(err, errlen, "out of memory listing the photos");
			goto close_dst;
		}
	}
	if (step != SQLITE_DONE) {
		fail(err, errlen, "listing the photos: %s", sqlite3_errmsg(src));
		goto close_dst;
	}
	rc = DM_OK;
close_dst:
	sqlite3_finalize(st);
	sqlite3_close(dst);
close_src:
	if (src)
		sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(src);
	return rc;
}

/* Makes the copy a self-contained file (rollback journal: no -wal beside
 * it) and checks it. DM_OK or DM_ERR with err. */
static int check_copy(const char *file, int set_delete, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = DM_ERR;

	if (sqlite3_open_v2(file, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		fail(err, errlen, "cannot open %s: %s", file, db ? sqlite3_errmsg(db) : "out of memory");
		goto close;
	}
	if (set_delete && sqlite3_exec(db, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) != SQLITE_OK) {
		fail(err, errlen, "%s: %s", file, sqlite3_errmsg(db));
		goto close;
	}
	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		fail(err, errlen, "%s: integrity_check: %s", file, sqlite3_errmsg(db));
		goto close;
	}
	if (strcmp((const char *)sqlite3_column_text(st, 0), "ok")) {
		fail(err, errlen, "%s: integrity_check: %.200s", file, sqlite3_column_text(st, 0));
		goto close;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_user_version WHERE user_version > 0 AND"
				   " EXISTS (SELECT 1 FROM sqlite_schema WHERE name = 'saleItem')",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		fail(err, errlen, "%s is not a dongmul database", file);
		goto close;
	}
	rc = DM_OK;
close:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

/* Copies the snapshot's photos from DATA/images (or, when deleted since the
 * snapshot, their .gone- copy) into dest/images, checking each against its
 * content-addressed name. */
static int copy_photos(const char *data, const char *dest, sqlite3 *m, char *err, size_t errlen)
{
	char src[PATHN], dst[PATHN], rel[80], hex[65];
	sqlite3_stmt *st = NULL;
	int64_t size;
	int rc = DM_OK, r;
	struct stat sb;

	if (!(st = db_query(m, "SELECT name FROM photo")))
		return DM_ERR;
	while (rc == DM_OK && sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		unsigned mode = 0600;
		if (dm_stopping) {
			fail(err, errlen, "stopped");
			rc = DM_ERR;
			break;
		}
		snprintf(rel, sizeof rel, "images/%s", name);
		if (dm_snprintf(src, sizeof src, "%s/images/%s", data, name) != DM_OK ||
		    dm_snprintf(dst, sizeof dst, "%s/%s", dest, rel) != DM_OK) {
			fail(err, errlen, "path too long");
			rc = DM_ERR;
			break;
		}
		if (stat(src, &sb) == 0)
			mode = sb.st_mode & 0777;
		r = copy_hash(src, dst, mode, &size, hex, err, errlen);
		if (r == DM_ENOTFOUND) {
			/* deleted since the snapshot: moved aside for us */
			if (dm_snprintf(src, sizeof src, "%s/images/" GONE_PREFIX "%s", data, name) != DM_OK)
				break;
			r = copy_hash(src, dst, mode, &size, hex, err, errlen);
			if (r == DM_ENOTFOUND)
				fail(err, errlen, "photo %s, which the database uses, is missing from %s/images", name,
				     data);
		}
		if (r != DM_OK) {
			rc = DM_ERR;
			break;
		}
		if (strncmp(hex, name, 64)) {
			unlink(dst);
			fail(err, errlen, "photo %s/images/%s is damaged: its content does not match its name", data,
			     name);
			rc = DM_ERR;
			break;
		}
		if (list_add(m, rel, size, hex, mode) != DM_OK) {
			unlink(dst);
			fail(err, errlen, "out of memory");
			rc = DM_ERR;
		}
	}
	db_done(st);
	return rc;
}

/* Should a top-level data dir entry be copied as one of the "other files"?
 * The database and its WAL/shm, the photos and logs are not. */
static int other_file(const char *name)
{
	size_t n = strlen(name);
	if (name[0] == '.' || !strcmp(name, "images") || !strncmp(name, "dongmul.db", 10))
		return 0;
	return !(n > 4 && !strcmp(name + n - 4, ".log"));
}

/* Copies the data dir's other regular files: top level and one directory
 * deep (jwt.key, tls/...), with their modes. Directories whose real path
 * is skip1 or skip2 (this backup, the scheduled backups) are left out. */
static int copy_others(const char *data, const char *dest, const char *skip1, const char *skip2, sqlite3 *m,
		       char *err, size_t errlen)
{
	char src[PATHN], dst[PATHN], rel[600], hex[65];
	DIR *d = opendir(data), *sd;
	struct dirent *e, *se;
	struct stat sb;
	int64_t size;
	int rc = DM_OK;

	if (!d) {
		fail(err, errlen, "cannot list %s: %s", data, strerror(errno));
		return DM_ERR;
	}
	while (rc == DM_OK && (e = readdir(d))) {
		if (!other_file(e->d_name) || !rel_path_ok(e->d_name) ||
		    dm_snprintf(src, sizeof src, "%s/%s", data, e->d_name) != DM_OK || lstat(src, &sb) != 0)
			continue;
		if (S_ISREG(sb.st_mode)) {
			if (dm_snprintf(dst, sizeof dst, "%s/%s", dest, e->d_name) != DM_OK ||
			    copy_hash(src, dst, sb.st_mode, &size, hex, err, errlen) != DM_OK ||
			    list_add(m, e->d_name, size, hex, sb.st_mode) != DM_OK)
				rc = DM_ERR;
			continue;
		}
		if (!S_ISDIR(sb.st_mode))
			continue;
		{
			char real[PATHN];
			if (realpath(src, real) && (!strcmp(real, skip1) || !strcmp(real, skip2)))
				continue;
		}
		if (!(sd = opendir(src)))
			continue;
		if (dm_snprintf(dst, sizeof dst, "%s/%s", dest, e->d_name) != DM_OK ||
		    (mkdir(dst, 0700) != 0 && errno != EEXIST)) {
			fail(err, errlen, "cannot create %s: %s", dst, strerror(errno));
			rc = DM_ERR;
		}
		while (rc == DM_OK && (se = readdir(sd))) {
			char s2[PATHN], d2[PATHN];
			if (se->d_name[0] == '.' ||
			    dm_snprintf(rel, sizeof rel, "%s/%s", e->d_name, se->d_name) != DM_OK || !rel_path_ok(rel) ||
			    dm_snprintf(s2, sizeof s2, "%s/%s", data, rel) != DM_OK || lstat(s2, &sb) != 0 ||
			    !S_ISREG(sb.st_mode))
				continue;
			if (dm_snprintf(d2, sizeof d2, "%s/%s", dest, rel) != DM_OK ||
			    copy_hash(s2, d2, sb.st_mode, &size, hex, err, errlen) != DM_OK ||
			    list_add(m, rel, size, hex, sb.st_mode) != DM_OK)
				rc = DM_ERR;
		}
		closedir(sd);
	}
	closedir(d);
	return rc;
}

/* Writes dest/MANIFEST.json from the list, through a temporary name, after
 * syncing the directories of the backup (its files are synced already). */
static int write_manifest(const char *dest, sqlite3 *m, int64_t snap_ms, char *err, size_t errlen)
{
	char tmp[PATHN], fin[PATHN], t1[32], t2[32];
	sqlite3_stmt *st = NULL;
	const char *json;
	int fd = -1, rc = DM_ERR, n;

	if (dm_snprintf(tmp, sizeof tmp, "%s/" MANIFEST ".tmp", dest) != DM_OK ||
	    dm_snprintf(fin, sizeof fin, "%s/" MANIFEST, dest) != DM_OK)
		return DM_ERR;
	dm_fmt_time(snap_ms, t1);
	dm_fmt_time(dm_now_ms(), t2);
	st = db_query(m,
		      "SELECT json_object('format', ?1, 'version', ?2, 'dongmul', ?3, 'snapshot', ?4,"
		      " 'finished', ?5, 'files', (SELECT json_group_array(json_object('path', path, 'size',"
		      " size, 'sha256', sha256, 'mode', mode)) FROM (SELECT * FROM f ORDER BY path)))",
		      DB_TEXT(FORMAT), DB_INT(FORMAT_VERSION), DB_TEXT(DONGMUL_VERSION), DB_TEXT(t1), DB_TEXT(t2));
	if (!st) {
		fail(err, errlen, "building the manifest: %s", sqlite3_errmsg(m));
		return DM_ERR;
	}
	if (sqlite3_step(st) != SQLITE_ROW || !(json = (const char *)sqlite3_column_text(st, 0))) {
		fail(err, errlen, "building the manifest: %s", sqlite3_errmsg(m));
		goto done;
	}
	n = sqlite3_column_bytes(st, 0);
	/* everything the manifest vouches for is on disk before it is: every
	 * copied file was fsync'ed (the database by SQLite's commit), and
	 * here the directories that name them */
	list_each(m, LIST_DIRS, dest, sync_path);
	sync_path(dest);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, json, (size_t)n) != n || write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
		fail(err, errlen, "writing %s: %s", tmp, strerror(errno));
		goto done;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, fin) != 0) {
		fail(err, errlen, "cannot rename %s: %s", tmp, strerror(errno));
		goto done;
	}
	sync_path(dest);
	rc = DM_OK;
done:
	if (fd >= 0)
		close(fd);
	if (rc != DM_OK)
		unlink(tmp);
	db_done(st);
	return rc;
}

/* After a backup: if no other backup holds the lock, removes the photos
 * moved aside for backups (.gone-*). */
static void sweep_gone(const char *data, int lockfd)
{
	char dir[PATHN], path[PATHN + 300];
	DIR *d;
	struct dirent *e;

	if (flock(lockfd, LOCK_EX | LOCK_NB) != 0 || dm_snprintf(dir, sizeof dir, "%s/images", data) != DM_OK ||
	    !(d = opendir(dir)))
		return;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, GONE_PREFIX, strlen(GONE_PREFIX)) &&
		    dm_snprintf(path, sizeof path, "%s/%s", dir, e->d_name) == DM_OK)
			unlink(path);
	closedir(d);
}

int backup_run(const char *data, const char *dest, char *err, size_t errlen)
{
	char path[PATHN], skip[PATHN], self[PATHN], hex[65];
	sqlite3 *m = NULL;
	int lockfd = -1, made = 0, rc = DM_ERR, state;
	int64_t snap_ms = 0, size;
	struct stat sb;

	if (dm_snprintf(path, sizeof path, "%s/dongmul.db", data) != DM_OK || stat(path, &sb) != 0) {
		fail(err, errlen, "no database at %s/dongmul.db (is --data right?)", data);
		return DM_EINVAL;
	}
	state = dir_state(dest);
	if (state == -2) {
		fail(err, errlen, "cannot create %s: %s", dest, strerror(errno));
		return DM_ERR;
	}
	if (state < 0) {
		fail(err, errlen, "%s exists and is not an empty directory: a backup needs a new or empty one", dest);
		return DM_EINVAL;
	}
	if (state == 0) {
		if (mkdir(dest, 0700) != 0) {
			fail(err, errlen, "cannot create %s: %s", dest, strerror(errno));
			return DM_ERR;
		}
		made = 1;
	}
	if (!(m = list_open())) {
		fail(err, errlen, "out of memory");
		goto undo;
	}
	if (dm_snprintf(path, sizeof path, "%s/images", dest) != DM_OK || mkdir(path, 0700) != 0) {
		fail(err, errlen, "cannot create %s/images: %s", dest, strerror(errno));
		goto undo;
	}
	/* photos deleted from now on are moved aside, not unlinked */
	if (dm_snprintf(path, sizeof path, "%s/images/" LOCK_NAME, data) != DM_OK ||
	    (lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0 || flock(lockfd, LOCK_SH) != 0) {
		fail(err, errlen, "cannot lock %s: %s", path, strerror(errno));
		goto undo;
	}
	if (dm_snprintf(path, sizeof path, "%s/dongmul.db", dest) != DM_OK ||
	    snapshot(data, path, m, &snap_ms, err, errlen) != DM_OK)
		goto undo_db;
	if (check_copy(path, 1, err, errlen) != DM_OK || chmod(path, 0600) != 0 ||
	    copy_hash(path, NULL, 0, &size, hex, err, errlen) != DM_OK ||
	    list_add(m, "dongmul.db", size, hex, 0600) != DM_OK)
		goto undo_db;
	if (copy_photos(data, dest, m, err, errlen) != DM_OK)
		goto undo;
	if (!cfg.backup_dir[0] || !realpath(cfg.backup_dir, skip))
		skip[0] = 0;
	if (!realpath(dest, self))
		self[0] = 0;
	if (copy_others(data, dest, self, skip, m, err, errlen) != DM_OK)
		goto undo;
	if (write_manifest(dest, m, snap_ms, err, errlen) != DM_OK)
		goto undo;
	rc = DM_OK;
	goto done;
undo_db:
	/* the copy may not be listed yet; its journal may be beside it */
	unlink(path);
	if (dm_snprintf(path, sizeof path, "%s/dongmul.db-journal", dest) == DM_OK)
		unlink(path);
undo:
	list_undo(m, dest, made);
done:
	if (lockfd >= 0) {
		flock(lockfd, LOCK_UN);
		sweep_gone(data, lockfd);
		close(lockfd);
	}
	list_close(m);
	return rc;
}

void backup_remove_photo(const char *dir, const char *name)
{
	char path[PATHN], lock[PATHN], gone[PATHN];
	int fd;

	if (dm_snprintf(path, sizeof path, "%s/%s", dir, name) != DM_OK ||
	    dm_snprintf(lock, sizeof lock, "%s/" LOCK_NAME, dir) != DM_OK ||
	    dm_snprintf(gone, sizeof gone, "%s/" GONE_PREFIX "%s", dir, name) != DM_OK)
		return;
	fd = open(lock, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0) {
		/* a backup is running: it may still need this photo */
		if (rename(path, gone) != 0 && errno != ENOENT)
			dm_warn("cannot move %s aside: %s", path, strerror(errno));
	} else if (unlink(path) != 0 && errno != ENOENT)
		dm_warn("cannot remove %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd); /* drops the lock */
}

/* ------------------------------------------------------------ restore */

/* Loads SRC/MANIFEST.json into the list and checks its shape: the format,
 * safe unique paths, sizes, sha256s, modes, the database present. */
static int load_manifest(const char *src, sqlite3 *m, char *err, size_t errlen)
{
	char path[PATHN];
	char *text = NULL;
	struct stat sb;
	sqlite3_stmt *st = NULL;
	int fd = -1, rc = DM_ERR;

	if (dm_snprintf(path, sizeof path, "%s/" MANIFEST, src) != DM_OK)
		return DM_ERR;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fail(err, errlen, "%s: %s (a backup writes its manifest last: without one it did not finish)", path,
		     strerror(errno));
		return DM_ERR;
	}
	if (fstat(fd, &sb) != 0 || sb.st_size > MAX_MANIFEST || !(text = malloc((size_t)sb.st_size + 1)) ||
	    read(fd, text, (size_t)sb.st_size) != sb.st_size) {
		fail(err, errlen, "cannot read %s", path);
		goto done;
	}
	text[sb.st_size] = 0;
	if (sqlite3_prepare_v2(m,
			       "SELECT json_valid(?1) AND json_type(?1) = 'object' AND ?1->>'$.format' = ?2"
			       " AND ?1->>'$.version' = ?3 AND json_type(?1, '$.files') = 'array'",
			       -1, &st, NULL) != SQLITE_OK) {
		fail(err, errlen, "reading the manifest: %s", sqlite3_errmsg(m));
		goto done;
	}
	sqlite3_bind_text(st, 1, text, (int)sb.st_size, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, FORMAT, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, FORMAT_VERSION);
	if (sqlite3_step(st) != SQLITE_ROW || !sqlite3_column_int(st, 0)) {
		fail(err, errlen, "%s is not a dongmul backup manifest (damaged or cut short?)", path);
		goto done;
	}
	sqlite3_finalize(st);
	/* every entry: text path, integer size >= 0, 64 lower-case hex, octal
	 * mode; a duplicate path fails the PRIMARY KEY */
	if (sqlite3_prepare_v2(m,
			       "INSERT INTO f SELECT value->>'path', value->>'size', value->>'sha256', value->>'mode'"
			       " FROM json_each(?1, '$.files') WHERE json_type(value) = 'object'"
			       " AND json_type(value, '$.path') = 'text' AND json_type(value, '$.size') = 'integer'"
			       " AND value->>'size' >= 0 AND json_type(value, '$.sha256') = 'text'"
			       " AND length(value->>'sha256') = 64 AND NOT value->>'sha256' GLOB '*[^0-9a-f]*'"
			       " AND json_type(value, '$.mode') = 'text' AND length(value->>'mode') = 4"
			       " AND NOT value->>'mode' GLOB '*[^0-7]*'",
			       -1, &st, NULL) != SQLITE_OK) {
		fail(err, errlen, "reading the manifest: %s", sqlite3_errmsg(m));
		goto done;
	}
	sqlite3_bind_text(st, 1, text, (int)sb.st_size, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		fail(err, errlen, "%s: %s", path, sqlite3_errmsg(m));
		goto done;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(m, "SELECT (SELECT count(*) FROM f) = json_array_length(?1, '$.files')"
				  " AND EXISTS (SELECT 1 FROM f WHERE path = 'dongmul.db')",
			       -1, &st, NULL) != SQLITE_OK) {
		fail(err, errlen, "reading the manifest: %s", sqlite3_errmsg(m));
		goto done;
	}
	sqlite3_bind_text(st, 1, text, (int)sb.st_size, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW || !sqlite3_column_int(st, 0)) {
		fail(err, errlen, "%s: an entry is malformed, or the database is not listed", path);
		goto done;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(m, "SELECT path FROM f", -1, &st, NULL) != SQLITE_OK)
		goto done;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *p = (const char *)sqlite3_column_text(st, 0);
		if (!rel_path_ok(p) || (!strncmp(p, "images/", 7) && !photo_name_ok(p + 7))) {
			fail(err, errlen, "%s: refusing the path '%.100s'", path, p);
			goto done;
		}
	}
	rc = DM_OK;
done:
	sqlite3_finalize(st);
	free(text);
	close(fd);
	return rc;
}

/* Does every photo the restored database file refers to exist in
 * DATA/images? DM_OK, or DM_ERR with err naming the first one missing. */
static int photos_present(const char *data, const char *file, char *err, size_t errlen)
{
	char path[PATHN];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = DM_ERR, step;

	if (sqlite3_open_v2(file, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT DISTINCT image FROM saleItem", -1, &st, NULL) != SQLITE_OK) {
		fail(err, errlen, "%s: %s", file, db ? sqlite3_errmsg(db) : "out of memory");
		goto done;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		if (!name || !photo_name_ok(name) || dm_snprintf(path, sizeof path, "%s/images/%s", data, name) != DM_OK ||
		    access(path, F_OK) != 0) {
			fail(err, errlen, "the database refers to photo %.80s, which the backup does not have",
			     name ? name : "(null)");
			goto done;
		}
	}
	if (step == SQLITE_DONE)
		rc = DM_OK;
	else
		fail(err, errlen, "%s: %s", file, sqlite3_errmsg(db));
done:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

/* Restores backup SRC into data dir DATA (absent or empty). Every file is
 * copied and checked against the manifest (size, sha256; a photo also
 * against its name), then the database's integrity_check and that every
 * photo it refers to came along; on any failure
 * what was written is removed again. */
static int restore_run(const char *src, const char *data, char *err, size_t errlen)
{
	char s[PATHN], d[PATHN], hex[65];
	sqlite3 *m = NULL;
	sqlite3_stmt *st = NULL;
	sqlite3 *done_list = NULL; /* the files written so far, for undo */
	int made = 0, state, rc = DM_ERR;
	int64_t size, total = 0, nfiles = 0;

	if (!(m = list_open()) || !(done_list = list_open())) {
		fail(err, errlen, "out of memory");
		goto undo;
	}
	if (load_manifest(src, m, err, errlen) != DM_OK)
		goto undo;
	state = dir_state(data);
	if (state == -2) {
		fail(err, errlen, "cannot create %s: %s", data, strerror(errno));
		goto undo;
	}
	if (state < 0) {
		fail(err, errlen, "%s exists and is not an empty directory: restore only into a new or empty one",
		     data);
		goto undo;
	}
	if (state == 0) {
		if (mkdir(data, 0700) != 0) {
			fail(err, errlen, "cannot create %s: %s", data, strerror(errno));
			goto undo;
		}
		made = 1;
	}
	if (!(st = db_query(m, "SELECT path, size, sha256, mode FROM f ORDER BY path")))
		goto undo;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *p = (const char *)sqlite3_column_text(st, 0), *sha = (const char *)sqlite3_column_text(st, 2);
		unsigned mode = (unsigned)strtoul((const char *)sqlite3_column_text(st, 3), NULL, 8);
		const char *slash = strchr(p, '/');
		if (dm_snprintf(s, sizeof s, "%s/%s", src, p) != DM_OK || dm_snprintf(d, sizeof d, "%s/%s", data, p) != DM_OK)
			goto undo;
		if (slash) {
			char sub[PATHN];
			snprintf(sub, sizeof sub, "%s/%.*s", data, (int)(slash - p), p);
			if (mkdir(sub, 0700) != 0 && errno != EEXIST) {
				fail(err, errlen, "cannot create %s: %s", sub, strerror(errno));
				goto undo;
			}
		}
		if (copy_hash(s, d, mode, &size, hex, err, errlen) != DM_OK)
			goto undo;
		list_add(done_list, p, size, hex, mode);
		if (size != sqlite3_column_int64(st, 1) || strcmp(hex, sha)) {
			fail(err, errlen, "%s does not match the manifest (%s): the backup is damaged", s,
			     size != sqlite3_column_int64(st, 1) ? "size" : "sha256");
			goto undo;
		}
		if (!strncmp(p, "images/", 7) && strncmp(hex, p + 7, 64)) {
			fail(err, errlen, "%s: its content does not match its name: the backup is damaged", s);
			goto undo;
		}
		total += size;
		nfiles++;
	}
	if (dm_snprintf(d, sizeof d, "%s/dongmul.db", data) != DM_OK || check_copy(d, 0, err, errlen) != DM_OK ||
	    photos_present(data, d, err, errlen) != DM_OK)
		goto undo;
	/* the photos directory exists even with no photos */
	if (dm_snprintf(d, sizeof d, "%s/images", data) == DM_OK)
		mkdir(d, 0700);
	sync_path(data);
	if (dm_snprintf(d, sizeof d, "%s/images", data) == DM_OK)
		sync_path(d);
	printf("restored %lld files (%lld bytes) from %s into %s; integrity_check ok\n", (long long)nfiles,
	       (long long)total, src, data);
	rc = DM_OK;
	goto done;
undo:
	list_undo(done_list, data, made);
done:
	db_done(st);
	list_close(m);
	list_close(done_list);
	return rc;
}

/* ----------------------------------------------------------- commands */

/* `WORD PATH [flags]`: PATH must come first; the flags go to cfg_parse
 * (so --data and DONGMUL_DATA work as for serve). Returns 0, or 2 with a
 * message on stderr. */
static int parse_cmd(const char *cmd, int argc, char **argv, const char **pathp)
{
	char err[512];
	int r;

	*pathp = argc > 0 && argv[0][0] != '-' && argv[0][0] ? argv[0] : NULL;
	r = cfg_parse(argc - (*pathp != NULL), argv + (*pathp != NULL), err, sizeof err);
	if (r == CFG_HELP || (r == CFG_OK && !*pathp)) {
		fprintf(stderr, "usage: dongmul %s\n",
			!strcmp(cmd, "backup") ? "backup DEST [--data DIR]" : "restore SRC --data DIR");
		return 2;
	}
	if (r != CFG_OK) {
		fprintf(stderr, "dongmul %s: %s\n", cmd, err);
		return 2;
	}
	return 0;
}

int backup_cmd(int argc, char **argv)
{
	char err[1024];
	const char *dest;
	int r = parse_cmd("backup", argc, argv, &dest);
	if (r)
		return r;
	/* the server beside it comes first: the copy's integrity_check and
	 * sha256s are tens of seconds of CPU on a big database */
	if (setpriority(PRIO_PROCESS, 0, BACKUP_NICE) != 0)
		dm_warn("backup: cannot lower its priority: %s", strerror(errno));
	if (backup_run(cfg.data, dest, err, sizeof err) != DM_OK) {
		fprintf(stderr, "dongmul backup: %s\n", err);
		return 1;
	}
	printf("backup of %s written to %s\n", cfg.data, dest);
	return 0;
}

int backup_restore_cmd(int argc, char **argv)
{
	char err[1024];
	const char *src;
	int r = parse_cmd("restore", argc, argv, &src);
	if (r)
		return r;
	if (restore_run(src, cfg.data, err, sizeof err) != DM_OK) {
		fprintf(stderr, "dongmul restore: %s\n", err);
		return 1;
	}
	return 0;
}

/* ---------------------------------------------------------- scheduled */

/* Removes a finished or partial backup directory of ours: its files (two
 * levels at most) and itself. */
static void remove_backup_dir(const char *dir)
{
	char p[PATHN], q[PATHN + 300];
	DIR *d = opendir(dir), *sd;
	struct dirent *e, *se;

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    dm_snprintf(p, sizeof p, "%s/%s", dir, e->d_name) != DM_OK)
			continue;
		if (unlink(p) == 0 || errno != EISDIR)
			continue;
		if ((sd = opendir(p))) {
			while ((se = readdir(sd)))
				if (se->d_name[0] != '.' || (strcmp(se->d_name, ".") && strcmp(se->d_name, "..")))
					if (dm_snprintf(q, sizeof q, "%s/%s", p, se->d_name) == DM_OK)
						unlink(q);
			closedir(sd);
		}
		rmdir(p);
	}
	closedir(d);
	rmdir(dir);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Keeps the newest cfg.backup_keep finished backups (dongmul-<UTC stamp>,
 * which sort by time) and removes the older ones and any partial ones. */
static void prune(void)
{
	char p[PATHN];
	char **names = NULL;
	size_t n = 0, cap = 0;
	DIR *d = opendir(cfg.backup_dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strncmp(e->d_name, ".partial-", 9)) {
			if (dm_snprintf(p, sizeof p, "%s/%s", cfg.backup_dir, e->d_name) == DM_OK)
				remove_backup_dir(p);
			continue;
		}
		if (strncmp(e->d_name, "dongmul-", 8))
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof *names);
			if (!nn)
				break;
			names = nn;
		}
		if (!(names[n] = strdup(e->d_name)))
			break;
		n++;
	}
	closedir(d);
	if (names)
		qsort(names, n, sizeof *names, cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (i + (size_t)cfg.backup_keep < n && dm_snprintf(p, sizeof p, "%s/%s", cfg.backup_dir, names[i]) == DM_OK) {
			remove_backup_dir(p);
			dm_info("backup: removed %s (keeping %d)", p, cfg.backup_keep);
		}
		free(names[i]);
	}
	free(names);
}

/* The timer: one backup into DIR/.partial-STAMP, renamed to
 * DIR/dongmul-STAMP once its manifest is written, then the pruning. */
static void scheduled(void *arg)
{
	char stamp[32], part[PATHN], fin[PATHN], err[1024];
	time_t now = time(NULL);
	struct tm tm;
	int64_t t0 = dm_mono_ms();

	(void)arg;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
	if (dm_snprintf(part, sizeof part, "%s/.partial-%s", cfg.backup_dir, stamp) != DM_OK ||
	    dm_snprintf(fin, sizeof fin, "%s/dongmul-%s", cfg.backup_dir, stamp) != DM_OK)
		return;
	if (access(fin, F_OK) == 0)
		return; /* one a second at most */
	if (backup_run(cfg.data, part, err, sizeof err) != DM_OK) {
		dm_error("backup: %s", err);
		remove_backup_dir(part);
	} else if (rename(part, fin) != 0) {
		dm_error("backup: cannot rename %s: %s", part, strerror(errno));
		remove_backup_dir(part);
	} else {
		sync_path(cfg.backup_dir);
		dm_info("backup: %s written in %lld ms", fin, (long long)(dm_mono_ms() - t0));
	}
	prune();
}

int backup_init(void)
{
	if (!cfg.backup_dir[0])
		return DM_OK;
	if (mkdir(cfg.backup_dir, 0700) != 0 && errno != EEXIST) {
		dm_error("--backup-dir: cannot create %s: %s", cfg.backup_dir, strerror(errno));
		return DM_ERR;
	}
	if (access(cfg.backup_dir, W_OK) != 0) {
		dm_error("--backup-dir: %s is not writable: %s", cfg.backup_dir, strerror(errno));
		return DM_ERR;
	}
	dm_info("backup: every %d s into %s, keeping %d", cfg.backup_every, cfg.backup_dir, cfg.backup_keep);
	return jobs_timer("backup", cfg.backup_every * 1000, scheduled, NULL);
}
