/*
 * unit_utf8.c — table-driven tests of what keeps text valid UTF-8 and logs
 * one line each: the JSON escape check (json.c escapes_ok, and through it
 * json_strict_ok / json_parse), the repair of stored text (dm_utf8_repair)
 * and the log escaping (dm.c log_escape).
 */
#include "../src/core/dm.c"
#include "../src/core/config.c"
#include "../src/core/db.c"
#include "../src/core/mem.c"
#include "../src/core/json.c"

#include <stdlib.h>

#include "unit.h"

static sqlite3 *mem;

/* JSON texts: is every string escape one that decodes to valid UTF-8
 * without NUL? */
static const struct {
	const char *json;
	int ok;
	const char *why;
} esc_cases[] = {
	{"{\"a\":\"plain\"}", 1, "no escapes"},
	{"{\"a\":\"\\u00e9\\u4e00\"}", 1, "BMP escapes"},
	{"{\"a\":\"\\ud83d\\ude00\"}", 1, "a surrogate pair (emoji)"},
	{"{\"a\":\"\\uD83D\\uDE00\"}", 1, "a pair in upper case"},
	{"{\"a\":\"x\\ud83d\\ude00y\\ud83d\\ude01\"}", 1, "two pairs"},
	{"{\"a\":\"\\\\ud800\"}", 1, "an escaped backslash then the letters ud800"},
	{"{\"a\":\"\\\\\\ud83d\\ude00\"}", 1, "an escaped backslash then a pair"},
	{"{\"a\":\"\\n\\t\\\"\\/\"}", 1, "short escapes"},
	{"{\"a\":\"\\ud800\"}", 0, "a lone high surrogate"},
	{"{\"a\":\"\\udc00\"}", 0, "a lone low surrogate"},
	{"{\"a\":\"\\ude00\\ud83d\"}", 0, "a pair in the wrong order"},
	{"{\"a\":\"\\ud800x\"}", 0, "a high surrogate then a letter"},
	{"{\"a\":\"\\ud800\\u0041\"}", 0, "a high surrogate then a non-surrogate escape"},
	{"{\"a\":\"\\ud800\\ud800\"}", 0, "two high surrogates"},
	{"{\"a\":\"\\ud800\\n\"}", 0, "a high surrogate then a short escape"},
	{"{\"a\":\"\\u0000\"}", 0, "NUL"},
	{"{\"\\ud800\":1}", 0, "a lone surrogate in a key"},
	{"{\"a\":[\"ok\",{\"b\":\"\\udfff\"}]}", 0, "a lone surrogate nested"},
	{"[\"sendMsg\",{\"chatMsg\":\"\\ud800\"}]", 0, "a socket event's payload"},
	{"{\"a\":\"\\\\\\ud800\"}", 0, "an escaped backslash then a lone surrogate"},
	{"\"\\ud8", 0, "cut inside an escape"},
	{"\"\\ud83d\\ude", 0, "cut inside the low half"},
	{"\"\\", 0, "cut after a backslash"},
	{"\"\\uzzzz\"", 0, "not hex"},
};

static void test_escapes(void)
{
	for (size_t i = 0; i < sizeof esc_cases / sizeof esc_cases[0]; i++) {
		const char *j = esc_cases[i].json;
		CHECK(escapes_ok(j, strlen(j)) == esc_cases[i].ok, "escapes_ok: %s", esc_cases[i].why);
		/* the strict check refuses what escapes_ok refuses, and a valid
		 * pair still parses */
		if (!esc_cases[i].ok)
			CHECK(!json_strict_ok(mem, j, strlen(j)), "json_strict_ok refuses: %s", esc_cases[i].why);
	}
	/* a pair decodes to the 4-byte character; the field reads back */
	json_obj_t o;
	const char *body = "{\"m\":\"a\\ud83d\\ude00b\"}";
	CHECK(json_parse(mem, body, strlen(body), &o) == DM_OK && json_str(&o, "m", 1, 10) &&
		      !strcmp(json_str(&o, "m", 1, 10), "a\xf0\x9f\x98\x80" "b"),
	      "a pair decodes to U+1F600");
	json_free(&o);
	body = "{\"m\":\"a\\ud800b\"}";
	CHECK(json_parse(mem, body, strlen(body), &o) == DM_EINVAL, "json_parse refuses a lone surrogate");
	json_free(&o);
}

static const struct {
	const char *in;
	size_t n;
	const char *out;
	const char *why;
} repair_cases[] = {
	{"abc", 3, "abc", "ASCII unchanged"},
	{"\xeb\x8f\x99\xeb\xac\xbc", 6, "\xeb\x8f\x99\xeb\xac\xbc", "Korean unchanged"},
	{"\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80", "emoji unchanged"},
	{"A\xed\xa0\x80" "B", 5, "A\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "B", "an encoded surrogate: one U+FFFD a byte"},
	{"\xff", 1, "\xef\xbf\xbd", "a byte that is never UTF-8"},
	{"\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd", "overlong"},
	{"x\xe5\x8a", 3, "x\xef\xbf\xbd\xef\xbf\xbd", "cut at the end"},
	{"\x80\xeb\x8f\x99", 4, "\xef\xbf\xbd\xeb\x8f\x99", "a stray continuation byte, then valid"},
	{"a\0b", 3, "a\0b", "NUL kept (valid UTF-8)"},
};

static void test_repair(void)
{
	char out[64];
	for (size_t i = 0; i < sizeof repair_cases / sizeof repair_cases[0]; i++) {
		size_t n = dm_utf8_repair(repair_cases[i].in, repair_cases[i].n, out);
		size_t want = strlen(repair_cases[i].out);
		if (repair_cases[i].n == 3 && !repair_cases[i].in[1])
			want = 3;
		CHECK(n == want && !memcmp(out, repair_cases[i].out, n) && dm_utf8_valid(out, n), "repair: %s",
		      repair_cases[i].why);
	}
}

static const struct {
	const char *in, *out, *why;
} log_cases[] = {
	{"GET /a 200", "GET /a 200", "plain"},
	{"/x\n2026-12-07 info forged", "/x\\n2026-12-07 info forged", "a newline cannot start a line"},
	{"a\r\tb", "a\\r\\tb", "CR and tab"},
	{"back\\slash", "back\\\\slash", "a backslash is doubled (so \\n in a path stays distinct)"},
	{"\x1b[31mred", "\\x1b[31mred", "ESC"},
	{"del\x7f", "del\\x7f", "DEL"},
	{"c1 \xc2\x9b", "c1 \\xc2\\x9b", "a C1 control (CSI) in UTF-8"},
	{"\xeb\x8f\x99\xeb\xac\xbc \xc2\xa0", "\xeb\x8f\x99\xeb\xac\xbc \xc2\xa0", "Korean and NBSP kept"},
	{"bad \xed\xa0\x80", "bad \\xed\\xa0\\x80", "invalid UTF-8 escaped"},
	{"cut \xeb\x8f", "cut \\xeb\\x8f", "a cut sequence escaped"},
};

static void test_log_escape(void)
{
	char out[128];
	for (size_t i = 0; i < sizeof log_cases / sizeof log_cases[0]; i++) {
		log_escape(log_cases[i].in, out, sizeof out);
		CHECK(!strcmp(out, log_cases[i].out), "log: %s: got %s", log_cases[i].why, out);
	}
	/* cut short at a whole escape, always terminated */
	CHECK(log_escape("ab\n", out, 4) == 2 && !strcmp(out, "ab"), "no half escape at the end: %s", out);
	CHECK(log_escape("\xeb\x8f\x99", out, 3) == 0 && !out[0], "no half character at the end");
}

int main(void)
{
	cfg_defaults();
	if (sqlite3_open(":memory:", &mem) != SQLITE_OK)
		return 2;
	test_escapes();
	test_repair();
	test_log_escape();
	db_close_conn(mem);
	UNIT_DONE("unit_utf8");
}
