/*
 * json.c — strict JSON input through SQLite (see json.h).
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "dm.h"
#include "json.h"

/* The value of the 4 hex digits at s (bounds checked by the caller), or
 * -1 if they are not hex. */
static long hex4(const char *s)
{
	long v = 0;
	for (int i = 0; i < 4; i++) {
		int c = (unsigned char)s[i], d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			d = (c | 0x20) - 'a' + 10;
		else
			return -1;
		v = v << 4 | d;
	}
	return v;
}

/* 1 if every \u escape in the JSON text s[0..len) decodes to a character a
 * string may hold: a high surrogate (\uD800-\uDBFF) only directly followed
 * by a low one (\uDC00-\uDFFF, the pair is one character: emoji), never a
 * lone low surrogate, never \u0000; else 0. SQLite decodes a lone surrogate
 * into the bytes of no character (ED A0 80), which would be stored and then
 * break every WebSocket text frame that carries it, and \u0000 would cut a
 * C string short. Outside strings valid JSON has no backslash, and inside
 * one "\\" is a whole escape, so a scan for backslashes is enough; reads are
 * bounds checked, so any text is safe to scan (json_valid judges the rest). */
static int escapes_ok(const char *s, size_t len)
{
	const char *p = s, *end = s + len;
	while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
		long v, lo;
		if (end - p < 2)
			return 0;
		if (p[1] != 'u') {
			p += 2;
			continue;
		}
		if (end - p < 6 || (v = hex4(p + 2)) < 0 || v == 0)
			return 0;
		p += 6;
		if (v >= 0xDC00 && v <= 0xDFFF)
			return 0;
		if (v >= 0xD800 && v <= 0xDBFF) {
			if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || (lo = hex4(p + 2)) < 0xDC00 || lo > 0xDFFF)
				return 0;
			p += 6;
		}
	}
	return 1;
}

/* The JSON type of s[0..len) ("object", "array", ...) into type (cap
 * bytes), or "" if s is not strict RFC 8259 JSON in valid UTF-8 without NUL
 * whose strings also decode to valid UTF-8 without NUL (escapes_ok):
 * one statement answers both questions. DM_OK, or DM_ERR (SQLite failed). */
static int strict_type(sqlite3 *db, const char *s, size_t len, char *type, size_t cap)
{
	sqlite3_stmt *st;
	const unsigned char *t;

	type[0] = 0;
	/* json_valid(X, 1): RFC 8259 only (no JSON5). A NUL inside is not
	 * JSON either: bind exactly len bytes. */
	if (len > 0x7fffffff || !dm_utf8_valid(s, len) || memchr(s, 0, len) || !escapes_ok(s, len))
		return DM_OK;
	st = db_stmt(db, "SELECT CASE WHEN json_valid(?1, 1) THEN json_type(?1) END");
	if (!st)
		return DM_ERR;
	sqlite3_bind_text(st, 1, s, (int)len, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW && (t = sqlite3_column_text(st, 0)))
		dm_strlcpy(type, (const char *)t, cap);
	db_done(st);
	return DM_OK;
}

int json_strict_ok(sqlite3 *db, const char *s, size_t len)
{
	char type[16];
	return strict_type(db, s, len, type, sizeof type) == DM_OK && type[0];
}

static int type_of(const char *t)
{
	if (!strcmp(t, "null"))
		return JSON_NULL;
	if (!strcmp(t, "true"))
		return JSON_TRUE;
	if (!strcmp(t, "false"))
		return JSON_FALSE;
	if (!strcmp(t, "integer"))
		return JSON_INT;
	if (!strcmp(t, "real"))
		return JSON_REAL;
	if (!strcmp(t, "text"))
		return JSON_TEXT;
	if (!strcmp(t, "array"))
		return JSON_ARRAY;
	dm_assert(!strcmp(t, "object")); /* json_each's eight types, whatever the text */
	return JSON_OBJECT;
}

int json_parse(sqlite3 *db, const char *body, size_t len, json_obj_t *out)
{
	sqlite3_stmt *st = NULL;
	char type[16];
	int rc = DM_EINVAL;

	memset(out, 0, sizeof *out);
	if (strict_type(db, body, len, type, sizeof type) != DM_OK)
		return DM_ERR;
	if (strcmp(type, "object")) /* not JSON, or not an object */
		return DM_EINVAL;
	/* key, type, value: for text the unescaped string; for containers the
	 * JSON text; numbers as written (json_each's atom as text). */
	st = db_stmt(db,
		     "SELECT j.key, j.type, CASE WHEN j.type IN ('array','object') THEN j.value "
		     "ELSE CAST(j.atom AS TEXT) END, j.atom "
		     "FROM json_each(?1) j");
	if (!st)
		return DM_ERR;
	sqlite3_bind_text(st, 1, body, (int)len, SQLITE_STATIC);
	for (;;) {
		int s = sqlite3_step(st);
		if (s == SQLITE_DONE)
			break;
		if (s != SQLITE_ROW) {
			rc = DM_EINVAL;
			goto done;
		}
		if (out->n == JSON_MAX_FIELDS) {
			rc = DM_EINVAL;
			goto done;
		}
		json_field_t *f = &out->f[out->n];
		const char *k = (const char *)sqlite3_column_text(st, 0);
		const char *t = (const char *)sqlite3_column_text(st, 1);
		const char *v = (const char *)sqlite3_column_text(st, 2);
		f->key = strdup(k ? k : "");
		f->type = type_of(t ? t : "null");
		f->text = v ? strdup(v) : NULL;
		if (!f->key || (v && !f->text)) {
			free(f->key);
			free(f->text);
			rc = DM_ENOMEM;
			goto done;
		}
		if (f->type == JSON_INT && sqlite3_column_type(st, 3) != SQLITE_INTEGER) {
			/* an integer outside int64: SQLite keeps it as a REAL;
			 * clamping it would change what the client said */
			free(f->key);
			free(f->text);
			rc = DM_EINVAL;
			goto done;
		}
		if (f->type == JSON_INT || f->type == JSON_REAL) {
			f->i = sqlite3_column_int64(st, 3);
			f->r = sqlite3_column_double(st, 3);
		} else if (f->type == JSON_TRUE)
			f->i = 1;
		out->n++;
	}
	rc = DM_OK;
done:
	db_done(st);
	if (rc != DM_OK)
		json_free(out);
	return rc;
}

void json_free(json_obj_t *o)
{
	if (!o)
		return;
	for (int i = 0; i < o->n; i++) {
		free(o->f[i].key);
		free(o->f[i].text);
	}
	o->n = 0;
}

const json_field_t *json_get(const json_obj_t *o, const char *key)
{
	/* the last duplicate wins, as in most parsers */
	dm_assert(o->n >= 0 && o->n <= JSON_MAX_FIELDS);
	for (int i = o->n - 1; i >= 0; i--)
		if (!strcmp(o->f[i].key, key))
			return &o->f[i];
	return NULL;
}

const char *json_str(const json_obj_t *o, const char *key, size_t minc, size_t maxc)
{
	const json_field_t *f = json_get(o, key);
	size_t n;
	if (!f || f->type != JSON_TEXT || !f->text)
		return NULL;
	n = dm_utf8_len(f->text, strlen(f->text));
	if (n < minc || n > maxc)
		return NULL;
	return f->text;
}

int json_int(const json_obj_t *o, const char *key, int allow_string, int64_t *out)
{
	const json_field_t *f = json_get(o, key);
	if (!f)
		return DM_EINVAL;
	if (f->type == JSON_INT) {
		*out = f->i;
		return DM_OK;
	}
	if (allow_string && f->type == JSON_TEXT && f->text && f->text[0] && strlen(f->text) <= 18) {
		int64_t v = 0;
		for (const char *p = f->text; *p; p++) {
			if (*p < '0' || *p > '9')
				return DM_EINVAL;
			v = v * 10 + (*p - '0');
		}
		*out = v;
		return DM_OK;
	}
	return DM_EINVAL;
}
