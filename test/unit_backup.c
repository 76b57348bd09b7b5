/*
 * unit_backup.c — the parts of backup.c that judge untrusted input (the
 * paths and the shape of a manifest, table-driven) and the photo hand-off
 * with a running backup (backup_remove_photo under the backup lock).
 */
#include "../src/core/dm.c"
#include "../src/core/config.c"
#include "../src/core/db.c"
#include "../src/core/mem.c"
#include "../src/core/backup.c"

/* backup.c's part init registers a timer: the pool is not linked here */
int jobs_timer(const char *name, int interval_ms, jobs_task_fn fn, void *arg)
{
	(void)name, (void)interval_ms, (void)fn, (void)arg;
	return DM_OK;
}

#include <stdlib.h>

#include "unit.h"

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_paths(void)
{
	static const struct {
		const char *p;
		int ok;
	} t[] = {
	    {"dongmul.db", 1},       {"jwt.key", 1},         {"tls/self-signed.pem", 1}, {"images/" H64 ".png", 1},
	    {"", 0},                 {"/etc/passwd", 0},     {"../x", 0},                {"a/../b", 0},
	    {"..", 0},               {".hidden", 0},         {"tls/.x", 0},              {"a//b", 0},
	    {"a/", 0},               {"a/b/c", 0},           {"a b", 0},                 {"a\\b", 0},
	    {"tls/./x", 0},          {"x\xc3\xa9", 0},       {"a:b", 0},                 {"a\nb", 0},
	};
	char longp[300];
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		CHECK(rel_path_ok(t[i].p) == t[i].ok, "rel_path_ok(\"%s\") != %d", t[i].p, t[i].ok);
	memset(longp, 'a', sizeof longp - 1);
	longp[sizeof longp - 1] = 0;
	CHECK(!rel_path_ok(longp), "a 299-byte path is refused");
}

static void test_photo_names(void)
{
	static const struct {
		const char *n;
		int ok;
	} t[] = {
	    {H64 ".png", 1}, {H64 ".jpg", 1},  {H64 ".webp", 1},  {H64 ".gif", 1},
	    {H64 ".PNG", 0}, {H64 ".exe", 0},  {H64 "png", 0},    {H64 ".png.x", 0},
	    {"0123.png", 0}, {"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef.png", 0},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		CHECK(photo_name_ok(t[i].n) == t[i].ok, "photo_name_ok(\"%s\") != %d", t[i].n, t[i].ok);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* Manifests that must be refused, whatever the files beside them. */
static void test_manifests(const char *dir)
{
	static const char *bad[] = {
	    "",
	    "{",
	    "[]",
	    "{\"format\":\"dongmul-backup\",\"version\":1}",
	    "{\"format\":\"other\",\"version\":1,\"files\":[]}",
	    "{\"format\":\"dongmul-backup\",\"version\":2,\"files\":[]}",
	    "{\"format\":\"dongmul-backup\",\"version\":1,\"files\":{}}",
	    /* no database listed */
	    "{\"format\":\"dongmul-backup\",\"version\":1,\"files\":[]}",
	    /* a field of the wrong type, a bad sha, a bad mode, a negative size */
	    "{\"format\":\"dongmul-backup\",\"version\":1,\"files\":[{\"path\":\"dongmul.db\",\"size\":\"1\","
	    "\"sha256\":\"" H64 "\",\"mode\":\"0600\"}]}",
	    "{\"format\":\"dongmul-backup\",\"version\":1,\"files\":[{\"path\":\"dongmul.db\",\"size\":1,"
	    "\"sha256\":\"" H64 "0\",\"mode\":\"0600\"}]}",
	    "{\"format\":\"dongmul-backup\",\"version\":1,\"files\":[{\"path\":\"dongmul.db\",\"size\":1,"
	    "\"sha256\":\"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\",\"mode\":\"0600\"}]}",
	    "{\"format\":\"dongmul-backup\",\"version\":1,\"files\":[{\"path\":\"dongmul.db\",\"size\":1,"
	    "\"sha256\":\"" H64 "\",\"mode\":\"0800\"}]}",
	    "{\"format\":\"dongmul-backup\",\"version\":1,\"files\":[{\"path\":\"dongmul.db\",\"size\":-1,"
	    "\"sha256\":\"" H64 "\",\"mode\":\"0600\"}]}",
	    "{\"format\":\"dongmul-backup\",\"version\":1,\"files\":[{\"path\":\"dongmul.db\",\"size\":1.5,"
	    "\"sha256\":\"" H64 "\",\"mode\":\"0600\"}]}",
	    /* a duplicate path, a hostile path, a photo name that is not a hash */
	    "{\"format\":\"dongmul-backup\",\"version\":1,\"files\":[{\"path\":\"dongmul.db\",\"size\":1,"
	    "\"sha256\":\"" H64 "\",\"mode\":\"0600\"},{\"path\":\"dongmul.db\",\"size\":1,"
	    "\"sha256\":\"" H64 "\",\"mode\":\"0600\"}]}",
	    "{\"format\":\"dongmul-backup\",\"version\":1,\"files\":[{\"path\":\"dongmul.db\",\"size\":1,"
	    "\"sha256\":\"" H64 "\",\"mode\":\"0600\"},{\"path\":\"../jwt.key\",\"size\":1,"
	    "\"sha256\":\"" H64 "\",\"mode\":\"0600\"}]}",
	    "{\"format\":\"dongmul-backup\",\"version\":1,\"files\":[{\"path\":\"dongmul.db\",\"size\":1,"
	    "\"sha256\":\"" H64 "\",\"mode\":\"0600\"},{\"path\":\"images/evil.png\",\"size\":1,"
	    "\"sha256\":\"" H64 "\",\"mode\":\"0600\"}]}",
	    /* an entry that is not an object */
	    "{\"format\":\"dongmul-backup\",\"version\":1,\"files\":[{\"path\":\"dongmul.db\",\"size\":1,"
	    "\"sha256\":\"" H64 "\",\"mode\":\"0600\"},\"jwt.key\"]}",
	};
	const char *good = "{\"format\":\"dongmul-backup\",\"version\":1,\"files\":[{\"path\":\"dongmul.db\","
			   "\"size\":1,\"sha256\":\"" H64 "\",\"mode\":\"0600\"},{\"path\":\"tls/a.pem\",\"size\":0,"
			   "\"sha256\":\"" H64 "\",\"mode\":\"0644\"}]}";
	char path[600], err[512];
	sqlite3 *m;

	snprintf(path, sizeof path, "%s/" MANIFEST, dir);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		write_file(path, bad[i]);
		m = list_open();
		CHECK(m && load_manifest(dir, m, err, sizeof err) != DM_OK, "manifest %zu was accepted: %s", i, bad[i]);
		list_close(m);
	}
	write_file(path, good);
	m = list_open();
	err[0] = 0;
	CHECK(m && load_manifest(dir, m, err, sizeof err) == DM_OK, "a well-formed manifest was refused: %s", err);
	list_close(m);
	unlink(path);
	m = list_open();
	CHECK(m && load_manifest(dir, m, err, sizeof err) != DM_OK && strstr(err, "did not finish"),
	      "no manifest: %s", err);
	list_close(m);
}

/* A photo released while a backup holds the lock is moved aside; without
 * a backup it is removed. */
static void test_remove_photo(const char *dir)
{
	char lock[600], photo[600], gone[600];
	int fd;

	snprintf(lock, sizeof lock, "%s/" LOCK_NAME, dir);
	snprintf(photo, sizeof photo, "%s/" H64 ".png", dir);
	snprintf(gone, sizeof gone, "%s/" GONE_PREFIX H64 ".png", dir);
	write_file(photo, "x");
	backup_remove_photo(dir, H64 ".png");
	CHECK(access(photo, F_OK) != 0 && access(gone, F_OK) != 0, "no lock file: the photo is removed");

	write_file(photo, "x");
	fd = open(lock, O_RDWR | O_CREAT, 0600);
	CHECK(fd >= 0 && flock(fd, LOCK_SH) == 0, "a backup's shared lock");
	backup_remove_photo(dir, H64 ".png");
	CHECK(access(photo, F_OK) != 0 && access(gone, F_OK) == 0, "during a backup: moved aside");
	flock(fd, LOCK_UN);
	unlink(gone);

	write_file(photo, "x");
	backup_remove_photo(dir, H64 ".png");
	CHECK(access(photo, F_OK) != 0 && access(gone, F_OK) != 0, "lock file present, no backup: removed");
	close(fd);
	unlink(lock);
}

int main(void)
{
	char dir[] = "/tmp/unit_backup_XXXXXX";

	cfg_defaults();
	if (!mkdtemp(dir)) {
		printf("unit_backup: set-up failed\n");
		return 1;
	}
	test_paths();
	test_photo_names();
	test_manifests(dir);
	test_remove_photo(dir);
	rmdir(dir);
	UNIT_DONE("unit_backup");
}
