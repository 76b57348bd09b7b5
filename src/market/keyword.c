/*
 * keyword.c — keyword alerts (키워드 알림): the user's list (GET/PUT
 * /keywords) and the matcher run by a new post's write job (see keyword.h).
 *
 * The matcher is a reverse match: rather than testing every stored word
 * against the post (10,000 users × 30 words), it probes the index of
 * keyword.head (each word's first min(3, length) characters) with every
 * distinct 1-, 2- and 3-character piece of the post's text. A word occurs
 * in the text only if its head does, so the probes find every candidate;
 * each candidate is then checked with strstr and its owner's region. The
 * cost is about 3 probes per character of the post (a post of 300
 * characters: under a thousand index lookups), independent of how many
 * words are stored; bench/run.sh measures it (BENCH_ONLY=keywords).
 *
 * Thread-safety: handlers read on their worker's reader and write through
 * the write lane; the matcher runs on the lane. Nothing is shared.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "dm.h"
#include "http.h"
#include "jobs.h"
#include "keyword.h"
#include "notify.h"

#define POST_TEXT_MAX 8192 /* bytes of title + wantItem + comment (the form allows ~6.6 KB) */

/* Normalizes a word in place: trims spaces (ASCII and U+3000) at both
 * ends, lower-cases ASCII letters. Returns the word (inside buf). */
static char *normalize(char *buf)
{
	char *s = buf, *e;
	for (;;) {
		if (*s == ' ' || *s == '\t')
			s++;
		else if (!strncmp(s, "\xe3\x80\x80", 3))
			s += 3;
		else
			break;
	}
	e = s + strlen(s);
	for (;;) {
		if (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		else if (e - s >= 3 && !strncmp(e - 3, "\xe3\x80\x80", 3))
			e -= 3;
		else
			break;
	}
	*e = '\0';
	for (char *p = s; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return s;
}

/* Bytes of the first n characters of the UTF-8 text s (stops at its end). */
static size_t utf8_prefix(const char *s, size_t n)
{
	size_t i = 0;
	while (s[i] && n) {
		i++;
		while ((s[i] & 0xc0) == 0x80)
			i++;
		n--;
	}
	return i;
}

/* ------------------------------------------------------------- HTTP */

/* GET /keywords -> {msg, keywords: [words, oldest first], max} */
static int h_get(http_req_t *r)
{
	return http_reply_stmt(r, 200,
			       db_query(r->db, "SELECT json_object('msg','success','keywords',(SELECT json_group_array(word) "
					       "FROM (SELECT word FROM keyword WHERE userId = ?1 ORDER BY createdDt, word)),"
					       "'max',?2)",
					DB_INT(r->user_id), DB_INT(KEYWORD_MAX)));
}

typedef struct kwset {
	int64_t user_id;
	int n;
	char words[KEYWORD_MAX][KEYWORD_MAX_CHARS * 4 + 1];
} kwset_t;

/* Replaces the user's list with k's words, in k's order (createdDt). The
 * head is the word's first 3 characters (substr counts characters of
 * UTF-8 text, as utf8_prefix does; the words are valid UTF-8). */
static int put_job(sqlite3 *w, void *arg)
{
	kwset_t *k = arg;
	int64_t now = dm_now_ms();
	int rc = db_run(w, "DELETE FROM keyword WHERE userId = ?1", DB_INT(k->user_id));

	for (int i = 0; i < k->n && rc == DM_OK; i++)
		rc = db_run(w, "INSERT INTO keyword(userId, word, head, createdDt) VALUES (?1, ?2, substr(?2, 1, 3), ?3)",
			    DB_INT(k->user_id), DB_TEXT(k->words[i]), DB_INT(now + i));
	return rc == DM_OK ? DM_OK : DM_ERR;
}

/* PUT /keywords {keywords: [words]}: the whole list (at most KEYWORD_MAX
 * words, each 1–KEYWORD_MAX_CHARS characters once trimmed, no control
 * characters, no two equal) -> as GET. */
static int h_put(http_req_t *r)
{
	const json_field_t *f;
	sqlite3_stmt *st;
	kwset_t *k;
	int rc = DM_OK, count = -1;

	if (http_json(r) != DM_OK)
		return DM_OK;
	f = json_get(&r->json, "keywords");
	if (!f || f->type != JSON_ARRAY)
		return http_refuse(r, RF_KEYWORDS_NOT_ARRAY);
	st = db_query(r->db, "SELECT count(*), ifnull(sum(type <> 'text'), 0) FROM json_each(?1)", DB_TEXT(f->text));
	if (!st)
		return http_fail_dm(r, DM_ERR);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 1) == 0)
		count = sqlite3_column_int(st, 0);
	db_done(st);
	if (count < 0)
		return http_refuse(r, RF_KEYWORDS_NOT_ARRAY);
	if (count > KEYWORD_MAX)
		return http_refuse(r, RF_TOO_MANY_KEYWORDS);
	k = calloc(1, sizeof *k);
	if (!k)
		return http_fail_dm(r, DM_ENOMEM);
	k->user_id = r->user_id;
	st = db_query(r->db, "SELECT value FROM json_each(?1) ORDER BY key", DB_TEXT(f->text));
	if (!st) {
		free(k);
		return http_fail_dm(r, DM_ERR);
	}
	while (rc == DM_OK && sqlite3_step(st) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		size_t len = (size_t)sqlite3_column_bytes(st, 0), chars;
		char buf[KEYWORD_MAX_CHARS * 4 * 4 + 1], *word;
		int ctl = 0;
		if (!v || len >= sizeof buf || !dm_utf8_valid(v, len)) {
			rc = DM_EINVAL;
			break;
		}
		memcpy(buf, v, len + 1);
		for (size_t i = 0; i < len; i++)
			ctl |= (unsigned char)buf[i] < 0x20 || buf[i] == 0x7f;
		word = normalize(buf);
		chars = dm_utf8_len(word, strlen(word));
		if (ctl || chars < 1 || chars > KEYWORD_MAX_CHARS) {
			rc = DM_EINVAL;
			break;
		}
		for (int i = 0; i < k->n; i++)
			if (!strcmp(k->words[i], word))
				rc = DM_ECONFLICT;
		if (rc == DM_OK)
			dm_strlcpy(k->words[k->n++], word, sizeof k->words[0]);
	}
	db_done(st);
	if (rc == DM_EINVAL) {
		free(k);
		return http_refuse(r, RF_INVALID_KEYWORD);
	}
	if (rc == DM_ECONFLICT) {
		free(k);
		return http_refuse(r, RF_DUPLICATE_KEYWORD);
	}
	rc = jobs_write(put_job, k);
	free(k);
	if (rc != DM_OK)
		return http_fail_dm(r, rc);
	return h_get(r);
}

/* ---------------------------------------------------------- matcher */

/* A set of byte ranges of the text (the pieces probed already): open
 * addressing over (offset, length), compared by content. */
typedef struct pieces {
	const char *text;
	uint32_t *slot; /* offset << 4 | length; 0 = empty (offset 0 stored + 1) */
	size_t cap;
} pieces_t;

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h;
}

/* 1 if the piece (off, len) was new (now added), 0 if seen. */
static int pieces_add(pieces_t *p, size_t off, size_t len)
{
	size_t i = (size_t)hash_bytes(p->text + off, len) & (p->cap - 1);
	for (;; i = (i + 1) & (p->cap - 1)) {
		uint32_t v = p->slot[i];
		if (!v) {
			p->slot[i] = (uint32_t)((off + 1) << 4 | len);
			return 1;
		}
		if ((v & 15) == len && !memcmp(p->text + (v >> 4) - 1, p->text + off, len))
			return 0;
	}
}

typedef struct hit {
	int64_t user;
	char word[KEYWORD_MAX_CHARS * 4 + 1];
} hit_t;

static int cmp_hit(const void *a, const void *b)
{
	const hit_t *x = a, *y = b;
	return x->user < y->user ? -1 : x->user > y->user;
}

/* 1 if viewer blocked author or author blocked viewer (block.c's userBlock
 * table): then viewer gets no alert for author's posts, as they do not see
 * them. On the writer, inside the post's job. */
static int blocked_either(sqlite3 *w, int64_t viewer, int64_t author)
{
	int64_t hit = 0;
	db_get_int(w, &hit,
		   "SELECT EXISTS (SELECT 1 FROM userBlock WHERE userId = ?1 AND blockedUserId = ?2)"
		   " OR EXISTS (SELECT 1 FROM userBlock WHERE userId = ?2 AND blockedUserId = ?1)",
		   DB_INT(viewer), DB_INT(author));
	return hit != 0;
}

/* The matcher's statements (on the writer, from db_stmt's cache): the
 * stored words whose head is ?1, of users other than the author ?2 in the
 * post's region ?3; and the payload of item ?1's alert for word ?2. */
#define PROBE_SQL                                                          \
	"SELECT k.userId, k.word FROM keyword k JOIN user u ON u.userId = k.userId " \
	"WHERE k.head = ?1 AND k.userId <> ?2 AND u.address = ?3"
#define PAYLOAD_SQL                                                                                 \
	"SELECT json_object('itemId',CAST(s.itemId AS TEXT),'icrId',(SELECT CAST(icrId AS TEXT) "       \
	"FROM itemChatRoom WHERE itemId = s.itemId),'title',s.title,'keyword',?2,'address',s.address) " \
	"FROM saleItem s WHERE s.itemId = ?1"
#define PAYLOAD_MAX 4096 /* bytes: a title, a word and a region, JSON-escaped */

void keyword_on_post(sqlite3 *w, int64_t item_id)
{
	sqlite3_stmt *st;
	char *text = NULL, region[128] = "";
	int64_t author = 0;
	size_t len = 0, nhits = 0, caphits = 0, users = 0, probes = 0;
	hit_t *hits = NULL;
	pieces_t pc = {0};
	struct timespec t0, t1, t2;

	clock_gettime(CLOCK_MONOTONIC, &t0);

	st = db_query(w, "SELECT userId, address, lower(title) || char(10) || lower(wantItem) || char(10) || "
			 "lower(comment) FROM saleItem WHERE itemId = ?1 AND status = 'SI01' AND address IS NOT NULL",
		      DB_INT(item_id));
	if (!st)
		return;
	if (sqlite3_step(st) == SQLITE_ROW) {
		author = sqlite3_column_int64(st, 0);
		dm_strlcpy(region, (const char *)sqlite3_column_text(st, 1), sizeof region);
		len = (size_t)sqlite3_column_bytes(st, 2);
		if (len > POST_TEXT_MAX)
			len = POST_TEXT_MAX;
		text = malloc(len + 1);
		if (text) {
			memcpy(text, sqlite3_column_text(st, 2), len);
			text[len] = '\0';
		}
	}
	db_done(st);
	if (!text || !region[0])
		goto free_text;

	pc.text = text;
	for (pc.cap = 64; pc.cap < len * 6; pc.cap *= 2)
		;
	pc.slot = calloc(pc.cap, sizeof *pc.slot);
	if (!pc.slot)
		goto free_text;

	for (size_t i = 0, step; i < len; i += step) {
		step = utf8_prefix(text + i, 1);
		if (!step)
			break; /* a NUL inside the text: the rest is not text */
		if (text[i] == '\n')
			continue;
		for (size_t n = 1; n <= 3; n++) {
			size_t b = utf8_prefix(text + i, n);
			char piece[16]; /* 3 characters of at most 4 bytes */
			sqlite3_stmt *probe;
			if (memchr(text + i, '\n', b) || utf8_prefix(text + i, n - 1) == b)
				break; /* across a field, or the text ended */
			if (!pieces_add(&pc, i, b))
				continue;
			probes++;
			dm_assert(b < sizeof piece);
			memcpy(piece, text + i, b);
			piece[b] = '\0';
			if (!(probe = db_query(w, PROBE_SQL, DB_TEXT(piece), DB_INT(author), DB_TEXT(region))))
				continue;
			while (sqlite3_step(probe) == SQLITE_ROW) {
				const char *word = (const char *)sqlite3_column_text(probe, 1);
				if (!word || !strstr(text, word))
					continue;
				if (nhits == caphits) {
					size_t nc = caphits ? caphits * 2 : 32;
					hit_t *nh = realloc(hits, nc * sizeof *nh);
					if (!nh)
						break;
					hits = nh;
					caphits = nc;
				}
				dm_assert(nhits < caphits);
				hits[nhits].user = sqlite3_column_int64(probe, 0);
				dm_strlcpy(hits[nhits].word, word, sizeof hits[nhits].word);
				nhits++;
			}
			db_done(probe);
		}
	}

	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* one alert per user (the first word that matched), once per post */
	if (nhits)
		qsort(hits, nhits, sizeof *hits, cmp_hit);
	for (size_t i = 0; i < nhits; i++) {
		char payload[PAYLOAD_MAX];
		if (i && hits[i].user == hits[i - 1].user)
			continue;
		if (blocked_either(w, hits[i].user, author))
			continue;
		if (db_get_text(w, payload, sizeof payload, PAYLOAD_SQL, DB_INT(item_id), DB_TEXT(hits[i].word)) == DM_OK &&
		    notify_add(w, hits[i].user, NOTIFY_KEYWORD, payload, "keyword") == DM_OK)
			users++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t2);
	dm_debug("keyword: item %lld: %zu probes, %zu matches in %ld µs; %zu alerts stored in %ld µs", (long long)item_id,
		 probes, nhits, (long)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000), users,
		 (long)((t2.tv_sec - t1.tv_sec) * 1000000 + (t2.tv_nsec - t1.tv_nsec) / 1000));
	free(hits);
	free(pc.slot);
free_text:
	free(text);
}

static const http_route_t keyword_routes[] = {
	{"GET", "/keywords", h_get, HTTP_AUTH},
	{"PUT", "/keywords", h_put, HTTP_AUTH},
};

int keyword_init(void)
{
	http_routes(keyword_routes, sizeof keyword_routes / sizeof keyword_routes[0]);
	return DM_OK;
}

void keyword_stop(void)
{
}
