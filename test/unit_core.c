/*
 * unit_core.c — unit tests of the core parts: time, base64url, UTF-8,
 * config parsing, strict JSON, JWT.
 */
#include "../src/core/dm.c"
#include "../src/core/config.c"
#include "../src/core/db.c"
#include "../src/core/mem.c"
#include "../src/core/json.c"
#include "../src/core/jobs.c"
#include "../src/core/auth.c"

#include <stdlib.h>
#include <unistd.h>

#include "unit.h"

static sqlite3 *mem;

static void test_time(void)
{
	char buf[32];
	int64_t ms;
	dm_tz_offset_min = 540;
	CHECK(!strcmp(dm_fmt_time(0, buf), "1970-01-01T09:00:00.000+09:00"), "epoch in +09:00: %s", buf);
	CHECK(!strcmp(dm_fmt_time(1796032800123LL, buf), "2026-11-30T19:00:00.123+09:00"), "2026: %s", buf);
	CHECK(dm_parse_time("2026-11-30 18:00", &ms) == DM_OK && ms == 1796029200000LL, "seed desktop form %lld",
	      (long long)ms);
	CHECK(dm_parse_time("2026-11-30 18", &ms) == DM_OK && ms == 1796029200000LL, "seed mobile form");
	CHECK(dm_parse_time("2026-11-30T09:00:00Z", &ms) == DM_OK && ms == 1796029200000LL, "RFC 3339 Z");
	CHECK(dm_parse_time("2026-11-30T18:00:00.000+09:00", &ms) == DM_OK && ms == 1796029200000LL, "offset");
	CHECK(dm_parse_time("2026-11-30T04:00:00-05:00", &ms) == DM_OK && ms == 1796029200000LL, "neg offset");
	CHECK(!strcmp(dm_fmt_time(1796029200000LL, buf), "2026-11-30T18:00:00.000+09:00"), "round trip %s", buf);
	CHECK(dm_parse_time("2026-02-30 10:00", &ms) == DM_EINVAL, "Feb 30");
	CHECK(dm_parse_time("2027-02-29 10:00", &ms) == DM_EINVAL, "not a leap year");
	CHECK(dm_parse_time("2028-02-29 10:00", &ms) == DM_OK, "leap year");
	CHECK(dm_parse_time("2026-11-30 24:00", &ms) == DM_EINVAL, "hour 24");
	CHECK(dm_parse_time("2026-11-30", &ms) == DM_EINVAL, "date alone");
	CHECK(dm_parse_time("2026-11-30 18:00x", &ms) == DM_EINVAL, "trailing garbage");
	CHECK(dm_parse_time("", &ms) == DM_EINVAL && dm_parse_time(NULL, &ms) == DM_EINVAL, "empty");
	dm_tz_offset_min = -330;
	CHECK(!strcmp(dm_fmt_time(0, buf), "1969-12-31T18:30:00.000-05:30"), "negative offset: %s", buf);
	dm_tz_offset_min = 540;
}

/* dm_parse_id: the ids of paths like /trade/:itemId (hostile input) */
static void test_parse_id(void)
{
	static const struct {
		const char *in;
		int64_t want; /* 0: refused */
	} v[] = {
		{"1", 1},
		{"42", 42},
		{"007", 7},
		{"999999999999999999", 999999999999999999LL}, /* 18 digits */
		{"1000000000000000000", 0},                   /* 19 digits */
		{"99999999999999999999999", 0},
		{"0", 0},
		{"000", 0},
		{"", 0},
		{"-1", 0},
		{"+1", 0},
		{" 1", 0},
		{"1 ", 0},
		{"1a", 0},
		{"0x10", 0},
		{"1.0", 0},
		{"１", 0}, /* a full-width digit */
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		CHECK(dm_parse_id(v[i].in) == v[i].want, "dm_parse_id(\"%s\") = %lld, want %lld", v[i].in,
		      (long long)dm_parse_id(v[i].in), (long long)v[i].want);
	CHECK(dm_parse_id(NULL) == 0, "dm_parse_id(NULL)");
}

static void test_b64_utf8(void)
{
	char out[64];
	unsigned char back[64];
	CHECK(dm_b64url_encode("\xfb\xff", 2, out) == 3 && !strcmp(out, "-_8"), "url alphabet: %s", out);
	CHECK(dm_b64url_decode("-_8", 3, back, sizeof back) == 2 && back[0] == 0xfb && back[1] == 0xff,
	      "decode");
	CHECK(dm_b64url_decode("-_9", 3, back, sizeof back) == -1, "non-canonical trailing bits refused");
	CHECK(dm_b64url_decode("a=", 2, back, sizeof back) == -1, "padding refused");
	CHECK(dm_b64url_decode("abcd", 4, back, 2) == -1, "overflow refused");
	CHECK(dm_b64_encode(DM_B64STD, "\xfb\xff", 2, out) == 3 && !strcmp(out, "+/8"), "standard alphabet: %s", out);
	CHECK(dm_b64_decode(DM_B64STD, "+/8", 3, back, sizeof back) == 2 && back[0] == 0xfb && back[1] == 0xff,
	      "standard decode");
	CHECK(dm_b64_decode(DM_B64STD, "-_8", 3, back, sizeof back) == -1, "url characters refused by standard");
	CHECK(dm_b64url_decode("+/8", 3, back, sizeof back) == -1, "standard characters refused by url");
	CHECK(dm_b64_encode(DM_B64STD, "abcde", 5, out) == 7 && !strcmp(out, "YWJjZGU") &&
		      dm_b64_decode(DM_B64STD, out, 7, back, sizeof back) == 5 && !memcmp(back, "abcde", 5),
	      "standard round trip without padding: %s", out);
	CHECK(dm_utf8_valid("동물마켓", strlen("동물마켓")), "Korean is valid");
	CHECK(dm_utf8_len("동물마켓", strlen("동물마켓")) == 4, "4 characters");
	CHECK(!dm_utf8_valid("\xc0\xaf", 2), "overlong refused");
	CHECK(!dm_utf8_valid("\xed\xa0\x80", 3), "surrogate refused");
	CHECK(!dm_utf8_valid("\xe5\x8a", 2), "truncated refused");
	CHECK(!dm_utf8_valid("\xf4\x90\x80\x80", 4), "above U+10FFFF refused");
	CHECK(dm_utf8_valid("\xf0\x9f\x98\x80", 4), "emoji valid");
}

static void test_config(void)
{
	char err[256];
	char *a1[] = {"--http", "127.0.0.1:9000,[::1]:9000", "--threads=8", "--tz", "-05:30", "--tls-self-signed",
		      "--https", "127.0.0.1:9443"};
	CHECK(cfg_parse(8, a1, err, sizeof err) == CFG_OK, "flags parse: %s", err);
	CHECK(!strcmp(cfg.http, "127.0.0.1:9000,[::1]:9000") && cfg.threads == 8 && cfg.tz_offset_min == -330 &&
		      cfg.tls_self_signed == 1,
	      "flag values");
	char *a2[] = {"--threads", "-1"};
	CHECK(cfg_parse(2, a2, err, sizeof err) == CFG_ERROR && strstr(err, "--threads"), "threads -1: %s", err);
	char *a2b[] = {"--threads", "0"};
	CHECK(cfg_parse(2, a2b, err, sizeof err) == CFG_OK && cfg.threads == 0, "threads 0 (from the cores): %s", err);
	char *a3[] = {"--nope"};
	CHECK(cfg_parse(1, a3, err, sizeof err) == CFG_ERROR && strstr(err, "unknown flag"), "unknown: %s", err);
	char *a4[] = {"--https", "127.0.0.1:9443"};
	CHECK(cfg_parse(2, a4, err, sizeof err) == CFG_ERROR && strstr(err, "--cert"), "https needs cert: %s", err);
	char *a5[] = {"--tz", "+25:00"};
	CHECK(cfg_parse(2, a5, err, sizeof err) == CFG_ERROR, "bad tz");
	char *a6[] = {"--expiry-interval"};
	CHECK(cfg_parse(1, a6, err, sizeof err) == CFG_ERROR && strstr(err, "needs a value"), "missing value");
	char *a7[] = {"--smtp", "http://x"};
	CHECK(cfg_parse(2, a7, err, sizeof err) == CFG_ERROR, "bad smtp scheme");
	char *a9[] = {"--access-log", "0", "--tls-self-signed", "--no-email-verification", "off"};
	CHECK(cfg_parse(5, a9, err, sizeof err) == CFG_OK && cfg.access_log == 0 && cfg.tls_self_signed == 1 &&
		      cfg.no_email_verification == 0,
	      "a boolean flag takes an optional value: %s", err);
	setenv("DONGMUL_EXPIRY_INTERVAL", "7", 1);
	setenv("DONGMUL_CORS_ORIGIN", "https://a.example", 1);
	char *a8[] = {"--expiry-interval", "9"};
	CHECK(cfg_parse(0, a8, err, sizeof err) == CFG_OK && cfg.expiry_interval == 7 &&
		      !strcmp(cfg.cors_origin, "https://a.example"),
	      "environment");
	CHECK(cfg_parse(2, a8, err, sizeof err) == CFG_OK && cfg.expiry_interval == 9, "a flag wins over env");
	setenv("DONGMUL_THREADS", "lots", 1);
	CHECK(cfg_parse(0, a8, err, sizeof err) == CFG_ERROR && strstr(err, "DONGMUL_THREADS"), "bad env: %s", err);
	unsetenv("DONGMUL_THREADS");
	unsetenv("DONGMUL_EXPIRY_INTERVAL");
	unsetenv("DONGMUL_CORS_ORIGIN");
	cfg_defaults();
	CHECK(!strcmp(cfg.http, "0.0.0.0:8080") && cfg.expiry_interval == 60 && cfg.tz_offset_min == 540 &&
		      !strcmp(cfg.data, "./dongmul-data"),
	      "defaults");
}

static int parse(const char *s, json_obj_t *o)
{
	return json_parse(mem, s, strlen(s), o);
}

static void test_json(void)
{
	json_obj_t o;
	int64_t v;
	CHECK(parse("{\"email\":\"a@b.c\",\"n\":12,\"s\":\"34\",\"x\":1.5,\"arr\":[1,2],\"t\":true}", &o) == DM_OK,
	      "object parses");
	CHECK(o.n == 6 && !strcmp(json_str(&o, "email", 1, 10), "a@b.c"), "string field");
	CHECK(json_int(&o, "n", 0, &v) == DM_OK && v == 12, "int field");
	CHECK(json_int(&o, "s", 0, &v) == DM_EINVAL, "string not an int unless allowed");
	CHECK(json_int(&o, "s", 1, &v) == DM_OK && v == 34, "digit string allowed");
	CHECK(json_int(&o, "x", 1, &v) == DM_EINVAL, "real is not an int");
	CHECK(json_get(&o, "arr")->type == JSON_ARRAY && json_get(&o, "t")->type == JSON_TRUE, "types");
	CHECK(json_str(&o, "email", 6, 10) == NULL, "too short");
	CHECK(json_str(&o, "n", 0, 10) == NULL, "number is not a string");
	json_free(&o);
	CHECK(parse("{\"k\":\"동물\\n\"}", &o) == DM_OK && !strcmp(json_str(&o, "k", 1, 5), "동물\n"), "unescaped");
	json_free(&o);
	const char *bad[] = {"{\"a\":1,}", "{'a':1}", "{\"a\":1} x", "{\"a\":1 /*c*/}", "[1,2]", "\"s\"", "",
			     "{\"a\":0x10}", "{a:1}", "{\"a\":NaN}", "{\"a\":\"\xff\"}", "{\"a\":.5}"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK(parse(bad[i], &o) == DM_EINVAL, "refused: %s", bad[i]);
		json_free(&o);
	}
	CHECK(json_parse(mem, "{\"a\":1}\0x", 9, &o) == DM_EINVAL, "embedded NUL refused");
	CHECK(parse("{}", &o) == DM_OK && o.n == 0, "empty object");
	json_free(&o);
}

static void test_jwt(void)
{
	unsigned char key[32], other[32];
	char tok[700], bad[700], payload[200];
	auth_claims_t c;
	int64_t now = 2000000000;
	memset(key, 7, sizeof key);
	memset(other, 8, sizeof other);

	snprintf(payload, sizeof payload, "{\"sub\":\"42\",\"gen\":3,\"iat\":%lld,\"exp\":%lld,\"jti\":\"j1\"}",
		 (long long)now - 10, (long long)now + 3600);
	CHECK(auth_jwt_sign_key(key, 32, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, tok, sizeof tok) == DM_OK,
	      "sign");
	CHECK(strchr(tok, '=') == NULL, "no '=' in a token (the seed splits cookies on '=')");
	CHECK(auth_jwt_verify_key(mem, key, 32, tok, now, &c) == DM_OK && c.sub == 42 && c.gen == 3 &&
		      !strcmp(c.jti, "j1"),
	      "verify");
	CHECK(auth_jwt_verify_key(mem, other, 32, tok, now, &c) == DM_EAUTH, "another key refused");
	CHECK(auth_jwt_verify_key(mem, key, 32, tok, now + 3600, &c) == DM_EAUTH, "expired refused");
	CHECK(auth_jwt_verify_key(mem, key, 32, tok, now - 120, &c) == DM_EAUTH, "issued in the future refused");
	/* flip one signature character */
	strcpy(bad, tok);
	bad[strlen(bad) - 2] = bad[strlen(bad) - 2] == 'A' ? 'B' : 'A';
	CHECK(auth_jwt_verify_key(mem, key, 32, bad, now, &c) == DM_EAUTH, "bad signature refused");
	/* alg none, with and without a signature */
	{
		char h[64], p[300];
		dm_b64url_encode("{\"alg\":\"none\"}", 14, h);
		dm_b64url_encode(payload, strlen(payload), p);
		snprintf(bad, sizeof bad, "%s.%s.", h, p);
		CHECK(auth_jwt_verify_key(mem, key, 32, bad, now, &c) == DM_EAUTH, "alg none refused");
	}
	/* another alg, correctly HMAC-signed with our key: still refused */
	CHECK(auth_jwt_sign_key(key, 32, "{\"alg\":\"HS512\",\"typ\":\"JWT\"}", payload, bad, sizeof bad) == DM_OK &&
		      auth_jwt_verify_key(mem, key, 32, bad, now, &c) == DM_EAUTH,
	      "alg HS512 refused");
	CHECK(auth_jwt_sign_key(key, 32, "{\"alg\":\"RS256\"}", payload, bad, sizeof bad) == DM_OK &&
		      auth_jwt_verify_key(mem, key, 32, bad, now, &c) == DM_EAUTH,
	      "alg RS256 refused");
	/* exp as a string, missing exp */
	CHECK(auth_jwt_sign_key(key, 32, "{\"alg\":\"HS256\"}", "{\"sub\":\"1\",\"iat\":1,\"exp\":\"9999999999\"}",
				bad, sizeof bad) == DM_OK &&
		      auth_jwt_verify_key(mem, key, 32, bad, now, &c) == DM_EAUTH,
	      "exp as a string refused");
	CHECK(auth_jwt_sign_key(key, 32, "{\"alg\":\"HS256\"}", "{\"sub\":\"1\",\"iat\":1}", bad, sizeof bad) ==
			      DM_OK &&
		      auth_jwt_verify_key(mem, key, 32, bad, now, &c) == DM_EAUTH,
	      "no exp refused");
	CHECK(auth_jwt_verify_key(mem, key, 32, "a.b", now, &c) == DM_EAUTH &&
		      auth_jwt_verify_key(mem, key, 32, "a.b.c.d", now, &c) == DM_EAUTH &&
		      auth_jwt_verify_key(mem, key, 32, "", now, &c) == DM_EAUTH,
	      "malformed refused");
	/* JSON5 in the header (single quotes) is not JSON */
	CHECK(auth_jwt_sign_key(key, 32, "{'alg':'HS256'}", payload, bad, sizeof bad) == DM_OK &&
		      auth_jwt_verify_key(mem, key, 32, bad, now, &c) == DM_EAUTH,
	      "JSON5 header refused");
}

static void test_keyfile(void)
{
	char dir[] = "/tmp/dongmul-unit-XXXXXX", path[100];
	struct stat st;
	unsigned char first[32];
	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	CHECK(auth_init(dir) == DM_OK, "key generated");
	memcpy(first, jwt_key, 32);
	snprintf(path, sizeof path, "%s/jwt.key", dir);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == 32, "jwt.key is 0600, 32 bytes");
	auth_shutdown();
	CHECK(auth_init(dir) == DM_OK && !memcmp(first, jwt_key, 32), "the same key on the next start");
	auth_shutdown();
	unlink(path);
	rmdir(dir);
}

static void test_password(void)
{
	char phc[AUTH_PHC_MAX];
	int rehash = -1;
	cfg_defaults();
	cfg.pbkdf2_iterations = 1000;
	CHECK(auth_password_hash("passw0rd!", phc) == DM_OK && !strncmp(phc, "$pbkdf2-sha512$i=1000$", 22),
	      "PHC form: %s", phc);
	CHECK(auth_password_verify("passw0rd!", phc, &rehash) == DM_OK && rehash == 0, "verifies");
	CHECK(auth_password_verify("passw0rd?", phc, &rehash) == DM_EAUTH, "wrong password");
	cfg.pbkdf2_iterations = 2000;
	CHECK(auth_password_verify("passw0rd!", phc, &rehash) == DM_OK && rehash == 1, "rehash when config changed");
	CHECK(auth_password_verify("x", "$argon2id$v=19$m=1,t=1,p=1$AAAA$AAAA", &rehash) == DM_EINVAL, "not ours");
}

/* db_stmt/db_done: one statement per text and connection, reset between
 * uses; nesting gets a private one; eviction; close with cached ones. */
static void test_stmt_cache(void)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *a, *b, *c;
	char sql[64];

	CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK, "open");
	a = db_stmt(db, "SELECT ?1 + 1");
	CHECK(a && sqlite3_bind_int(a, 1, 41) == SQLITE_OK && sqlite3_step(a) == SQLITE_ROW &&
		      sqlite3_column_int(a, 0) == 42,
	      "first use");
	b = db_stmt(db, "SELECT ?1 + 1");
	CHECK(b && b != a, "same text while handed out: a private statement");
	CHECK(sqlite3_step(b) == SQLITE_ROW && sqlite3_column_type(b, 0) == SQLITE_NULL, "private one unbound");
	db_done(b); /* finalized: ASan would report it otherwise */
	db_done(a);
	c = db_stmt(db, "SELECT ?1 + 1");
	CHECK(c == a, "given back: the same statement again");
	CHECK(sqlite3_step(c) == SQLITE_ROW && sqlite3_column_type(c, 0) == SQLITE_NULL,
	      "reset with bindings cleared");
	db_done(c);
	for (int i = 0; i < DB_STMT_CACHE + 5; i++) {
		snprintf(sql, sizeof sql, "SELECT %d", i);
		b = db_stmt(db, sql);
		CHECK(b && sqlite3_step(b) == SQLITE_ROW && sqlite3_column_int(b, 0) == i, "text %d", i);
		db_done(b);
	}
	c = db_stmt(db, "SELECT ?1 + 1");
	CHECK(c && c != a, "least recently used evicted");
	db_done(c);
	for (int i = 0; i < 2; i++) {
		b = db_stmt(db, "SELECT 7;  -- trailing text SQLite may not keep  ");
		CHECK(b && sqlite3_step(b) == SQLITE_ROW && sqlite3_column_int(b, 0) == 7, "trailing text, use %d", i);
		db_done(b);
	}
	c = db_stmt(db, "SELECT nosuchcolumn");
	CHECK(!c, "a bad statement is NULL");
	db_done(NULL);
	a = db_stmt(db, "SELECT 1"); /* left handed out: close_conn must still close */
	CHECK(db_close_conn(db) == SQLITE_OK, "close with cached statements");
}

/* db_run, db_get_int, db_get_text, db_query: typed arguments, statuses. */
static void test_db_steps(void)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st;
	int64_t n = -1;
	int changes = -1;
	char buf[8];
	static const unsigned char blob[3] = {0, 1, 2};

	CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK, "open");
	CHECK(db_run(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, s TEXT UNIQUE, b BLOB)") == DM_OK, "no arguments");
	CHECK(db_run(db, "INSERT INTO t(id, s, b) VALUES (?1, ?2, ?3)", DB_INT(5), DB_TEXT("five"),
		     DB_BLOB(blob, 3)) == DM_OK, "three typed arguments");
	CHECK(db_run(db, "INSERT INTO t(id, s) VALUES (?1, ?2)", DB_INT(6), DB_TEXT(NULL)) == DM_OK, "text NULL");
	CHECK(db_run(db, "INSERT INTO t(id, s) VALUES (?1, ?2)", DB_INT(7), DB_TEXT("five")) == DM_ECONFLICT,
	      "a UNIQUE violation is a conflict");
	CHECK(db_run(db, "INSERT INTO t(id, s) VALUES (?1, ?2)", DB_INT(8), DB_NULL) == DM_OK, "DB_NULL");
	CHECK(db_run_changes(db, &changes, "UPDATE t SET b = NULL WHERE id >= ?1", DB_INT(6)) == DM_OK &&
		      changes == 2, "changes counted (%d)", changes);
	CHECK(db_get_int(db, &n, "SELECT count(*) FROM t WHERE s IS NULL") == DM_OK && n == 2, "count %lld",
	      (long long)n);
	n = -1;
	CHECK(db_get_int(db, &n, "SELECT id FROM t WHERE s = ?1", DB_TEXT("nine")) == DM_ENOTFOUND && n == -1,
	      "no row: not found, out untouched");
	CHECK(db_get_int(db, &n, "SELECT length(b) FROM t WHERE id = ?1", DB_INT(5)) == DM_OK && n == 3,
	      "the blob was bound with its length");
	CHECK(db_get_text(db, buf, sizeof buf, "SELECT s FROM t WHERE id = ?1", DB_INT(5)) == DM_OK &&
		      !strcmp(buf, "five"), "text");
	CHECK(db_get_text(db, buf, sizeof buf, "SELECT s FROM t WHERE id = ?1", DB_INT(6)) == DM_ENOTFOUND &&
		      !buf[0], "a NULL value is not found");
	CHECK(db_get_text(db, buf, sizeof buf, "SELECT 'abcdefghij'") == DM_ETOOBIG && !strcmp(buf, "abcdefg"),
	      "too long: truncated, said so");
	CHECK(db_get_int(db, &n, "SELECT nosuch FROM t") == DM_ERR, "a bad statement is an error");
	CHECK(db_run(db, "INSERT INTO t(id) VALUES (?1)", DB_INT(1), DB_INT(2)) == DM_ERR,
	      "more arguments than parameters is an error");
	st = db_query(db, "SELECT id FROM t WHERE id > ?1 ORDER BY id", DB_INT(5));
	CHECK(st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) == 6, "query steps");
	db_done(st);
	CHECK(db_close_conn(db) == SQLITE_OK, "close");
}

int main(void)
{
	test_parse_id();
	cfg_defaults();
	if (sqlite3_open(":memory:", &mem) != SQLITE_OK)
		return 2;
	test_time();
	test_b64_utf8();
	test_config();
	test_json();
	test_jwt();
	test_keyfile();
	test_password();
	test_stmt_cache();
	test_db_steps();
	db_close_conn(mem); /* with its cached statements (db_stmt) */
	UNIT_DONE("unit_core");
}
