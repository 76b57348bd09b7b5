/*
 * unit_keyword.c — table-driven tests of the keyword part's handling of
 * untrusted text: how a keyword is normalized (trim, full-width space,
 * ASCII case), and which users the matcher alerts for a post — a word at
 * the start, middle or end of a field, 1-, 2- and 3+-character words,
 * words that would only match across two fields, another region, the
 * author, a post that is no longer open — on a real database, against a
 * plain substring search written here.
 */
#include "../src/core/dm.c"
#include "../src/core/config.c"
#include "../src/core/db.c"
#include "../src/core/mem.c"
#include "../src/core/refusal.c"
#include "../src/core/metrics.c"
#include "../src/core/json.c"
#include "../src/core/auth.c"
#include "../src/core/tls.c"
#include "../src/core/jobs.c"
#include "../src/core/net.c"
#include "../src/web/http.c"
/* notify queues Web Push with a plain call: the real push.c (and the net.c
 * it needs) comes along; no user here has a push subscription */
#include "../src/market/push.c"
#include "../src/market/notify.c"
#include "../src/market/keyword.c"

#include <stdlib.h>

#include "unit.h"

#include "unit_live_off.h"

/* nobody here chose mail (emailNotify '[]'): never called */
int mail_queue(sqlite3 *w, const char *to, const char *subject, const char *text, const char *html)
{
	(void)w;
	(void)to;
	(void)subject;
	(void)text;
	(void)html;
	return DM_ERR;
}

static const struct {
	const char *in, *out;
} norm_cases[] = {
	{"자전거", "자전거"},
	{"  자전거 ", "자전거"},
	{"\t자전거\t", "자전거"},
	{"\xe3\x80\x80캠핑\xe3\x80\x80", "캠핑"},        /* U+3000 ideographic space */
	{" \xe3\x80\x80 캠핑 의자 ", "캠핑 의자"},      /* inner space kept */
	{"iPad", "ipad"},
	{"  MacBook Pro  ", "macbook pro"},
	{"   ", ""},
	{"", ""},
	{"\xe3\x80\x80", ""},
	{"ÀÉ", "ÀÉ"},                                    /* only ASCII letters fold */
};

static sqlite3 *w;
static const int64_t NOW = 1780000000000LL;

static int64_t add_user(const char *email, const char *address)
{
	sqlite3_stmt *st = db_prep(w, "INSERT INTO user(email, nickname, address, createdDt) VALUES (?1, 'n', ?2, ?3)");
	sqlite3_bind_text(st, 1, email, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, address, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, NOW);
	sqlite3_step(st);
	sqlite3_finalize(st);
	return sqlite3_last_insert_rowid(w);
}

static void add_word(int64_t uid, const char *word)
{
	sqlite3_stmt *st = db_prep(w, "INSERT INTO keyword(userId, word, head, createdDt) VALUES (?1, ?2, ?3, ?4)");
	sqlite3_bind_int64(st, 1, uid);
	sqlite3_bind_text(st, 2, word, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, word, (int)utf8_prefix(word, 3), SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, NOW);
	sqlite3_step(st);
	sqlite3_finalize(st);
}

static int64_t add_item(int64_t owner, const char *address, const char *title, const char *want, const char *comment,
			const char *status)
{
	sqlite3_stmt *st = db_prep(w, "INSERT INTO saleItem(userId, image, title, category, wantItem, comment, address, "
				      "deadLine, status, createdDt) VALUES (?1, 'x.png', ?2, '기타', ?3, ?4, ?5, ?6, ?7, ?6)");
	sqlite3_bind_int64(st, 1, owner);
	sqlite3_bind_text(st, 2, title, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, want, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, comment, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, address, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, NOW + 86400000);
	sqlite3_bind_text(st, 7, status, -1, SQLITE_STATIC);
	sqlite3_step(st);
	sqlite3_finalize(st);
	return sqlite3_last_insert_rowid(w);
}

/* The keyword notifications of uid about item: 0 or 1. */
static int alerted(int64_t uid, int64_t item)
{
	sqlite3_stmt *st = db_prep(w, "SELECT count(*) FROM notification WHERE userId = ?1 AND type = 'keyword' "
				      "AND payload->>'itemId' = CAST(?2 AS TEXT)");
	int n = -1;
	sqlite3_bind_int64(st, 1, uid);
	sqlite3_bind_int64(st, 2, item);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

#define HERE "서울 마포구"
#define THERE "부산 해운대구"

/* Each post, and the words whose owners (one user per word, in HERE
 * unless listed in far_words) must or must not be alerted. */
static const char *const words[] = {
	"자전거", "거", "전거", "캠핑의자", "ipad", "헬멧", "책", "노트북",
	"자전거캠핑", /* would only match across title and wanted item */
	"어린이자전거", "mini", "의자 두", "가습기",
};
#define NWORDS (sizeof words / sizeof words[0])

static const struct {
	const char *title, *want, *comment, *status;
	const char *hits; /* the indexes into words[] that match, as a string of letters a.. */
	const char *why;
} posts[] = {
	{"어린이자전거", "캠핑", "상태 좋아요", "SI01", "abcj", "title: a word, its 1- and 2-character tails, the whole title"},
	{"태블릿", "노트북이나 iPad", "", "SI01", "eh", "wanted item; ASCII without case"},
	{"의자", "없음", "캠핑의자 두 개, IPAD MINI", "SI01", "dekl", "comment, with an inner space"},
	{"헬멧", "책", "-", "SI01", "fg", "a whole field of 1 and 2 characters"},
	{"가습기", "x", "y", "SI03", "", "not open: nobody"},
	{"냉장고", "x", "y", "SI01", "", "no match"},
};

int main(void)
{
	char dir[] = "/tmp/unit-keyword-XXXXXX";
	int64_t author, far_author, uid[NWORDS], far_uid;

	for (size_t i = 0; i < sizeof norm_cases / sizeof norm_cases[0]; i++) {
		char buf[64];
		dm_strlcpy(buf, norm_cases[i].in, sizeof buf);
		const char *got = normalize(buf);
		CHECK(!strcmp(got, norm_cases[i].out), "normalize(\"%s\") = \"%s\", want \"%s\"", norm_cases[i].in, got,
		      norm_cases[i].out);
	}
	CHECK(utf8_prefix("자전거", 2) == 6, "two Hangul syllables are 6 bytes");
	CHECK(utf8_prefix("ab", 3) == 2, "a prefix stops at the end");
	CHECK(utf8_prefix("", 1) == 0, "nothing in nothing");

	cfg_defaults();
	if (!mkdtemp(dir) || db_open(dir) != DM_OK) {
		printf("cannot open a database in %s\n", dir);
		return 1;
	}
	w = db_writer();
	author = add_user("author@example.com", HERE);
	far_author = add_user("far-author@example.com", THERE);
	for (size_t i = 0; i < NWORDS; i++) {
		char em[40];
		snprintf(em, sizeof em, "w%zu@example.com", i);
		uid[i] = add_user(em, HERE);
		add_word(uid[i], words[i]);
	}
	far_uid = add_user("far@example.com", THERE);
	add_word(far_uid, "자전거");
	add_word(author, "자전거"); /* never alerted for their own post */

	for (size_t p = 0; p < sizeof posts / sizeof posts[0]; p++) {
		int64_t item = add_item(author, HERE, posts[p].title, posts[p].want, posts[p].comment, posts[p].status);
		keyword_on_post(w, item);
		for (size_t i = 0; i < NWORDS; i++) {
			int want = strchr(posts[p].hits, (int)('a' + i)) != NULL;
			CHECK(alerted(uid[i], item) == want, "post %zu (%s): \"%s\" %s", p, posts[p].why, words[i],
			      want ? "should alert" : "should not alert");
		}
		CHECK(alerted(author, item) == 0, "post %zu: not the author", p);
		CHECK(alerted(far_uid, item) == 0, "post %zu: not another region", p);
	}
	/* the other region's post reaches the other region's user only */
	{
		int64_t item = add_item(far_author, THERE, "자전거", "-", "-", "SI01");
		keyword_on_post(w, item);
		CHECK(alerted(far_uid, item) == 1, "another region's own post");
		CHECK(alerted(uid[0], item) == 0, "not here");
	}
	/* coalesced: word 0's owner has one unread keyword notification whose
	 * cnt counts the posts that matched */
	{
		sqlite3_stmt *st = db_prep(w, "SELECT count(*), max(cnt) FROM notification WHERE userId = ?1 AND type = 'keyword'");
		sqlite3_bind_int64(st, 1, uid[6]);
		sqlite3_step(st);
		CHECK(sqlite3_column_int(st, 0) == 1 && sqlite3_column_int(st, 1) == 1, "one notification for one post");
		sqlite3_finalize(st);
	}
	keyword_stop();
	notify_stop();
	db_close();
	{
		char cmd[160];
		snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
		if (system(cmd) != 0)
			printf("could not remove %s\n", dir);
	}
	UNIT_DONE("unit_keyword");
}
