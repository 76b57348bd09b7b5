/*
 * json — request JSON in and out, with SQLite as the JSON library.
 *
 * Input is first checked strictly: valid UTF-8, RFC 8259 (json_valid(X,1)
 * rejects JSON5), no \u escape that would decode to invalid UTF-8 (a lone
 * surrogate) or NUL, an object at the top. Then fields are read with
 * json_each into a small table. Replies are built by SQL (json_object,
 * json_group_array); this file only helps with the few built in C.
 * Prefix: json_.
 */
#ifndef JSON_H
#define JSON_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_FIELDS 32

enum { JSON_NULL, JSON_TRUE, JSON_FALSE, JSON_INT, JSON_REAL, JSON_TEXT, JSON_ARRAY, JSON_OBJECT, JSON_MISSING };

typedef struct json_field {
	char *key;
	int type;      /* JSON_* */
	char *text;    /* TEXT: the string; INT/REAL: as written; ARRAY/OBJECT: the JSON text */
	int64_t i;     /* INT (also TRUE=1/FALSE=0) */
	double r;      /* REAL or INT */
} json_field_t;

/* A parsed top-level object. Owns its strings. */
typedef struct json_obj {
	int n;
	json_field_t f[JSON_MAX_FIELDS];
} json_obj_t;

/* Parses body (len bytes, need not be NUL-terminated) on db. Returns DM_OK,
 * DM_EINVAL (not strict JSON, bad UTF-8 raw or escaped, not an object, too
 * many fields).
 * Free with json_free. */
int json_parse(sqlite3 *db, const char *body, size_t len, json_obj_t *out);
void json_free(json_obj_t *o);

/* Field lookup: NULL when missing. */
const json_field_t *json_get(const json_obj_t *o, const char *key);
/* A string field: returns it, or NULL when missing, not a string, or its
 * length in characters is outside [minc, maxc]. */
const char *json_str(const json_obj_t *o, const char *key, size_t minc, size_t maxc);
/* An integer field (JSON number without fraction; also a string of digits
 * when allow_string). DM_OK or DM_EINVAL. */
int json_int(const json_obj_t *o, const char *key, int allow_string, int64_t *out);

/* Strict validity check alone (UTF-8 raw and escaped + RFC 8259, any
 * top-level value). */
int json_strict_ok(sqlite3 *db, const char *s, size_t len);

#endif
