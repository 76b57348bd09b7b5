/*
 * unit_json.c — table-driven tests of src/json.c, the strict JSON reader
 * every request body and every Socket.IO event goes through (hostile
 * input): RFC 8259 only (no JSON5), number forms, string escapes and
 * surrogates, raw bytes that are not UTF-8, NUL, trailing garbage, nesting
 * depth, duplicate keys, the field cap, and what json_int / json_str make
 * of what parsed.
 *
 * Each row is a text (with an explicit length when it holds a NUL) and
 * what must come of it: json_strict_ok (any JSON value) and json_parse (an
 * object only). Rows with a key also say what that field reads back as.
 */
#include "../src/core/dm.c"
#include "../src/core/config.c"
#include "../src/core/db.c"
#include "../src/core/mem.c"
#include "../src/core/json.c"

#include <stdlib.h>

#include "unit.h"

static sqlite3 *mem;

enum { NOKEY = -1 };

typedef struct row {
	const char *name;
	const char *text;
	size_t len;     /* 0: strlen(text) */
	int strict;     /* json_strict_ok */
	int parse;      /* json_parse's status */
	const char *key; /* then: the field's type, and its text ("" not checked) */
	int type;
	const char *val;
} row_t;

#define OK DM_OK
#define BAD DM_EINVAL

static const row_t rows[] = {
	/* shapes */
	{"empty object", "{}", 0, 1, OK, NULL, 0, NULL},
	{"whitespace around", " \t\r\n{ \"a\" : 1 }\n ", 0, 1, OK, "a", JSON_INT, "1"},
	{"array at the top", "[1,2]", 0, 1, BAD, NULL, 0, NULL},
	{"string at the top", "\"s\"", 0, 1, BAD, NULL, 0, NULL},
	{"number at the top", "1", 0, 1, BAD, NULL, 0, NULL},
	{"null at the top", "null", 0, 1, BAD, NULL, 0, NULL},
	{"empty text", "", 0, 0, BAD, NULL, 0, NULL},
	{"only blanks", "   ", 0, 0, BAD, NULL, 0, NULL},
	{"cut object", "{\"a\":1", 0, 0, BAD, NULL, 0, NULL},
	{"cut string", "{\"a\":\"x", 0, 0, BAD, NULL, 0, NULL},
	{"cut after colon", "{\"a\":", 0, 0, BAD, NULL, 0, NULL},
	{"missing value", "{\"a\"}", 0, 0, BAD, NULL, 0, NULL},
	{"unbalanced close", "{\"a\":[1}}", 0, 0, BAD, NULL, 0, NULL},
	/* trailing garbage */
	{"trailing letter", "{\"a\":1}x", 0, 0, BAD, NULL, 0, NULL},
	{"two objects", "{\"a\":1}{\"b\":2}", 0, 0, BAD, NULL, 0, NULL},
	{"trailing comma after the object", "{\"a\":1},", 0, 0, BAD, NULL, 0, NULL},
	{"trailing NUL", "{\"a\":1}\0", 8, 0, BAD, NULL, 0, NULL},
	{"NUL inside", "{\"a\":1\0}", 8, 0, BAD, NULL, 0, NULL},
	{"NUL inside a string", "{\"a\":\"x\0y\"}", 11, 0, BAD, NULL, 0, NULL},
	{"byte order mark", "\xef\xbb\xbf{}", 0, 0, BAD, NULL, 0, NULL},
	/* JSON5 and other lax forms are not JSON */
	{"trailing comma in object", "{\"a\":1,}", 0, 0, BAD, NULL, 0, NULL},
	{"trailing comma in array", "{\"a\":[1,]}", 0, 0, BAD, NULL, 0, NULL},
	{"unquoted key", "{a:1}", 0, 0, BAD, NULL, 0, NULL},
	{"single quotes", "{'a':1}", 0, 0, BAD, NULL, 0, NULL},
	{"comment", "{\"a\":1 /* c */}", 0, 0, BAD, NULL, 0, NULL},
	{"line comment", "{\"a\":1}// c", 0, 0, BAD, NULL, 0, NULL},
	{"NaN", "{\"a\":NaN}", 0, 0, BAD, NULL, 0, NULL},
	{"Infinity", "{\"a\":Infinity}", 0, 0, BAD, NULL, 0, NULL},
	{"hex number", "{\"a\":0x10}", 0, 0, BAD, NULL, 0, NULL},
	{"leading plus", "{\"a\":+1}", 0, 0, BAD, NULL, 0, NULL},
	{"leading zero", "{\"a\":01}", 0, 0, BAD, NULL, 0, NULL},
	{"leading dot", "{\"a\":.5}", 0, 0, BAD, NULL, 0, NULL},
	{"trailing dot", "{\"a\":1.}", 0, 0, BAD, NULL, 0, NULL},
	{"exponent without digits", "{\"a\":1e}", 0, 0, BAD, NULL, 0, NULL},
	{"minus alone", "{\"a\":-}", 0, 0, BAD, NULL, 0, NULL},
	{"capital TRUE", "{\"a\":TRUE}", 0, 0, BAD, NULL, 0, NULL},
	{"vertical tab as blank", "{\"a\":\v1}", 0, 0, BAD, NULL, 0, NULL},
	/* number forms */
	{"zero", "{\"a\":0}", 0, 1, OK, "a", JSON_INT, "0"},
	{"minus zero", "{\"a\":-0}", 0, 1, OK, "a", JSON_INT, ""},
	{"negative", "{\"a\":-42}", 0, 1, OK, "a", JSON_INT, "-42"},
	{"fraction", "{\"a\":0.5}", 0, 1, OK, "a", JSON_REAL, ""},
	{"exponent", "{\"a\":1e5}", 0, 1, OK, "a", JSON_REAL, ""},
	{"exponent with sign", "{\"a\":1E+5}", 0, 1, OK, "a", JSON_REAL, ""},
	{"negative exponent", "{\"a\":-1.5e-3}", 0, 1, OK, "a", JSON_REAL, ""},
	{"largest int64", "{\"a\":9223372036854775807}", 0, 1, OK, "a", JSON_INT, "9223372036854775807"},
	{"smallest int64", "{\"a\":-9223372036854775808}", 0, 1, OK, "a", JSON_INT, "-9223372036854775808"},
	/* integers outside int64: valid JSON text, but json_parse refuses them
	 * (never clamped to the nearest int64) */
	{"int64 max + 1", "{\"a\":9223372036854775808}", 0, 1, BAD, NULL, 0, NULL},
	{"int64 min - 1", "{\"a\":-9223372036854775809}", 0, 1, BAD, NULL, 0, NULL},
	{"twenty nines", "{\"a\":99999999999999999999}", 0, 1, BAD, NULL, 0, NULL},
	/* strings and escapes */
	{"short escapes", "{\"a\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}", 0, 1, OK, "a", JSON_TEXT, "\"\\/\b\f\n\r\t"},
	{"escape \\a", "{\"a\":\"\\a\"}", 0, 0, BAD, NULL, 0, NULL},
	{"escape \\x41", "{\"a\":\"\\x41\"}", 0, 0, BAD, NULL, 0, NULL},
	{"escape \\'", "{\"a\":\"\\'\"}", 0, 0, BAD, NULL, 0, NULL},
	{"escape \\U0041", "{\"a\":\"\\U0041\"}", 0, 0, BAD, NULL, 0, NULL},
	{"escape \\u with 3 digits", "{\"a\":\"\\u004\"}", 0, 0, BAD, NULL, 0, NULL},
	{"escape \\u with a letter", "{\"a\":\"\\u00g1\"}", 0, 0, BAD, NULL, 0, NULL},
	{"escape \\u0041", "{\"a\":\"\\u0041\"}", 0, 1, OK, "a", JSON_TEXT, "A"},
	{"escape \\u00E9 upper case", "{\"a\":\"\\u00E9\"}", 0, 1, OK, "a", JSON_TEXT, "\xc3\xa9"},
	{"escape \\u0001 (a control, escaped)", "{\"a\":\"\\u0001\"}", 0, 1, OK, "a", JSON_TEXT, "\x01"},
	{"escape \\u0000", "{\"a\":\"\\u0000\"}", 0, 0, BAD, NULL, 0, NULL},
	{"escape \\uFFFF", "{\"a\":\"\\uffff\"}", 0, 1, OK, "a", JSON_TEXT, "\xef\xbf\xbf"},
	{"highest pair U+10FFFF", "{\"a\":\"\\udbff\\udfff\"}", 0, 1, OK, "a", JSON_TEXT, "\xf4\x8f\xbf\xbf"},
	{"lowest pair U+10000", "{\"a\":\"\\ud800\\udc00\"}", 0, 1, OK, "a", JSON_TEXT, "\xf0\x90\x80\x80"},
	{"lone high surrogate at the end", "{\"a\":\"x\\udbff\"}", 0, 0, BAD, NULL, 0, NULL},
	{"lone low surrogate", "{\"a\":\"\\udfff\"}", 0, 0, BAD, NULL, 0, NULL},
	{"high then an escaped backslash", "{\"a\":\"\\ud800\\\\udc00\"}", 0, 0, BAD, NULL, 0, NULL},
	{"raw tab in a string", "{\"a\":\"x\ty\"}", 0, 0, BAD, NULL, 0, NULL},
	{"raw newline in a string", "{\"a\":\"x\ny\"}", 0, 0, BAD, NULL, 0, NULL},
	{"raw 0x1f in a string", "{\"a\":\"\x1f\"}", 0, 0, BAD, NULL, 0, NULL},
	{"raw DEL in a string", "{\"a\":\"\x7f\"}", 0, 1, OK, "a", JSON_TEXT, "\x7f"},
	{"raw Korean", "{\"a\":\"\xeb\x8f\x99\xeb\xac\xbc\"}", 0, 1, OK, "a", JSON_TEXT, "\xeb\x8f\x99\xeb\xac\xbc"},
	{"raw emoji", "{\"a\":\"\xf0\x9f\x98\x80\"}", 0, 1, OK, "a", JSON_TEXT, "\xf0\x9f\x98\x80"},
	/* raw bytes that are not UTF-8 */
	{"0xff in a string", "{\"a\":\"\xff\"}", 0, 0, BAD, NULL, 0, NULL},
	{"overlong slash", "{\"a\":\"\xc0\xaf\"}", 0, 0, BAD, NULL, 0, NULL},
	{"encoded surrogate", "{\"a\":\"\xed\xa0\x80\"}", 0, 0, BAD, NULL, 0, NULL},
	{"above U+10FFFF", "{\"a\":\"\xf4\x90\x80\x80\"}", 0, 0, BAD, NULL, 0, NULL},
	{"cut sequence", "{\"a\":\"\xeb\x8f\"}", 0, 0, BAD, NULL, 0, NULL},
	{"stray continuation", "{\"a\":\"\x80\"}", 0, 0, BAD, NULL, 0, NULL},
	{"0xff in a key", "{\"\xff\":1}", 0, 0, BAD, NULL, 0, NULL},
	{"0xff outside strings", "{\"a\":1\xff}", 0, 0, BAD, NULL, 0, NULL},
	/* keys */
	{"duplicate keys: the last wins", "{\"a\":1,\"a\":2}", 0, 1, OK, "a", JSON_INT, "2"},
	{"duplicate keys of two types", "{\"a\":\"x\",\"a\":true}", 0, 1, OK, "a", JSON_TRUE, ""},
	{"empty key", "{\"\":1}", 0, 1, OK, "", JSON_INT, "1"},
	{"escaped key", "{\"\\u0061\":1}", 0, 1, OK, "a", JSON_INT, "1"},
	{"number as key", "{1:1}", 0, 0, BAD, NULL, 0, NULL},
	/* containers come back as their JSON text */
	{"nested object", "{\"a\":{\"b\":[1,\"x\"]}}", 0, 1, OK, "a", JSON_OBJECT, "{\"b\":[1,\"x\"]}"},
	{"array field", "{\"a\":[]}", 0, 1, OK, "a", JSON_ARRAY, "[]"},
	{"null field", "{\"a\":null}", 0, 1, OK, "a", JSON_NULL, ""},
	{"false field", "{\"a\":false}", 0, 1, OK, "a", JSON_FALSE, ""},
};

static void test_rows(void)
{
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const row_t *r = &rows[i];
		size_t len = r->len ? r->len : strlen(r->text);
		/* a heap copy of exactly len bytes: ASan sees any read past it */
		char *t = malloc(len ? len : 1);
		json_obj_t o;
		int rc;

		if (!t)
			return;
		memcpy(t, r->text, len);
		CHECK(json_strict_ok(mem, t, len) == r->strict, "%s: json_strict_ok should be %d", r->name, r->strict);
		rc = json_parse(mem, t, len, &o);
		CHECK(rc == r->parse, "%s: json_parse gave %d, want %d", r->name, rc, r->parse);
		if (rc != DM_OK)
			CHECK(o.n == 0, "%s: nothing kept after a refusal", r->name);
		if (rc == DM_OK && r->key) {
			const json_field_t *f = json_get(&o, r->key);
			CHECK(f && f->type == r->type, "%s: field type %d, want %d", r->name, f ? f->type : -1, r->type);
			if (f && r->val && r->val[0])
				CHECK(f->text && !strcmp(f->text, r->val), "%s: field text '%s', want '%s'", r->name,
				      f->text ? f->text : "(null)", r->val);
		}
		json_free(&o);
		free(t);
	}
}

/* json_int on what a client sends as an id: a JSON integer, or (when
 * allowed) a string of 1 to 18 digits; nothing else, never a wrapped or
 * rounded value */
static const struct {
	const char *text;
	int allow_string;
	int rc;
	int64_t want;
} int_rows[] = {
	{"{\"a\":42}", 0, DM_OK, 42},
	{"{\"a\":-7}", 0, DM_OK, -7},
	{"{\"a\":-0}", 0, DM_OK, 0},
	{"{\"a\":9223372036854775807}", 0, DM_OK, INT64_MAX},
	{"{\"a\":1.0}", 0, DM_EINVAL, 0},
	{"{\"a\":1e2}", 0, DM_EINVAL, 0},
	{"{\"a\":1e400}", 0, DM_EINVAL, 0},
	{"{\"a\":-1e400}", 0, DM_EINVAL, 0},
	{"{\"a\":true}", 0, DM_EINVAL, 0},
	{"{\"a\":null}", 0, DM_EINVAL, 0},
	{"{\"a\":[1]}", 0, DM_EINVAL, 0},
	{"{\"b\":1}", 0, DM_EINVAL, 0},
	{"{\"a\":\"42\"}", 0, DM_EINVAL, 0},
	{"{\"a\":\"42\"}", 1, DM_OK, 42},
	{"{\"a\":\"0099\"}", 1, DM_OK, 99},
	{"{\"a\":\"999999999999999999\"}", 1, DM_OK, 999999999999999999LL},
	{"{\"a\":\"9999999999999999999\"}", 1, DM_EINVAL, 0},
	{"{\"a\":\"-1\"}", 1, DM_EINVAL, 0},
	{"{\"a\":\"+1\"}", 1, DM_EINVAL, 0},
	{"{\"a\":\" 1\"}", 1, DM_EINVAL, 0},
	{"{\"a\":\"1 \"}", 1, DM_EINVAL, 0},
	{"{\"a\":\"\"}", 1, DM_EINVAL, 0},
	{"{\"a\":\"1e3\"}", 1, DM_EINVAL, 0},
	{"{\"a\":\"\uff11\"}", 1, DM_EINVAL, 0}, /* a full-width digit */
};

static void test_int(void)
{
	for (size_t i = 0; i < sizeof int_rows / sizeof int_rows[0]; i++) {
		json_obj_t o;
		int64_t v = -12345;
		int rc;
		const char *t = int_rows[i].text;
		CHECK(json_parse(mem, t, strlen(t), &o) == DM_OK, "json_int row %s parses", t);
		rc = json_int(&o, "a", int_rows[i].allow_string, &v);
		CHECK(rc == int_rows[i].rc && (rc != DM_OK || v == int_rows[i].want),
		      "json_int(%s, allow_string %d): %d %lld, want %d %lld", t, int_rows[i].allow_string, rc,
		      (long long)v, int_rows[i].rc, (long long)int_rows[i].want);
		if (rc != DM_OK)
			CHECK(v == -12345, "json_int(%s) leaves the output alone on refusal", t);
		json_free(&o);
	}
}

/* json_str bounds count characters (code points), not bytes */
static void test_str(void)
{
	json_obj_t o;
	const char *t = "{\"k\":\"\xeb\x8f\x99\xeb\xac\xbc\",\"e\":\"\\ud83d\\ude00\",\"z\":\"\",\"n\":1}";
	CHECK(json_parse(mem, t, strlen(t), &o) == DM_OK, "json_str text parses");
	CHECK(json_str(&o, "k", 2, 2) != NULL, "two Korean syllables are 2 characters (6 bytes)");
	CHECK(json_str(&o, "k", 3, 6) == NULL, "...not 3 or more");
	CHECK(json_str(&o, "k", 0, 1) == NULL, "...not 1 or fewer");
	CHECK(json_str(&o, "e", 1, 1) != NULL, "an escaped pair is one character");
	CHECK(json_str(&o, "z", 1, 10) == NULL && json_str(&o, "z", 0, 10) != NULL, "empty string vs minimum");
	CHECK(json_str(&o, "n", 0, 10) == NULL, "a number is not a string");
	CHECK(json_str(&o, "missing", 0, 10) == NULL, "missing key");
	json_free(&o);
}

/* a text of depth nested arrays inside {"a": ...}, into a heap block of
 * exactly its length */
static char *nested(int depth, size_t *len)
{
	size_t n = 6 + 2 * (size_t)depth;
	char *b = malloc(n);
	size_t k = 0;
	if (!b)
		return NULL;
	memcpy(b, "{\"a\":", 5);
	k = 5;
	for (int i = 0; i < depth; i++)
		b[k++] = '[';
	for (int i = 0; i < depth; i++)
		b[k++] = ']';
	b[k++] = '}';
	*len = k;
	return b;
}

/* sizes: SQLite's nesting limit (1000 levels, the object counts) and the
 * 32-field cap of json_obj_t */
static void test_sizes(void)
{
	static const struct {
		int depth, ok;
	} depths[] = {{1, 1}, {998, 1}, {999, 1}, {1000, 0}, {1001, 0}, {100000, 0}};
	for (size_t i = 0; i < sizeof depths / sizeof depths[0]; i++) {
		size_t len;
		char *b = nested(depths[i].depth, &len);
		json_obj_t o;
		if (!b)
			return;
		CHECK(json_strict_ok(mem, b, len) == depths[i].ok, "%d arrays deep in an object: strict %d",
		      depths[i].depth, depths[i].ok);
		CHECK(json_parse(mem, b, len, &o) == (depths[i].ok ? DM_OK : DM_EINVAL), "%d arrays deep: parse",
		      depths[i].depth);
		json_free(&o);
		free(b);
	}
	for (int nf = 31; nf <= 33; nf++) {
		char b[1024];
		int k = snprintf(b, sizeof b, "{");
		json_obj_t o;
		int rc;
		for (int i = 0; i < nf; i++)
			k += snprintf(b + k, sizeof b - (size_t)k, "%s\"k%d\":%d", i ? "," : "", i, i);
		k += snprintf(b + k, sizeof b - (size_t)k, "}");
		rc = json_parse(mem, b, (size_t)k, &o);
		if (nf <= JSON_MAX_FIELDS) {
			int64_t v = -1;
			CHECK(rc == DM_OK && o.n == nf && json_int(&o, "k0", 0, &v) == DM_OK && v == 0,
			      "%d fields kept", nf);
		} else
			CHECK(rc == DM_EINVAL && o.n == 0, "%d fields refused, nothing kept", nf);
		json_free(&o);
	}
	/* a long string is fine (the body cap is http's business) */
	{
		size_t n = 1 << 20;
		char *b = malloc(n + 16);
		json_obj_t o;
		if (!b)
			return;
		memcpy(b, "{\"a\":\"", 6);
		memset(b + 6, 'x', n);
		memcpy(b + 6 + n, "\"}", 2);
		CHECK(json_parse(mem, b, n + 8, &o) == DM_OK && json_str(&o, "a", n, n) != NULL,
		      "a 1 MiB string reads back whole");
		json_free(&o);
		free(b);
	}
}

int main(void)
{
	cfg_defaults();
	if (sqlite3_open(":memory:", &mem) != SQLITE_OK)
		return 2;
	test_rows();
	test_int();
	test_str();
	test_sizes();
	db_close_conn(mem);
	UNIT_DONE("unit_json");
}
