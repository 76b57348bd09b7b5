/*
 * unit_cursor.c — table-driven tests of the feeds' paging parameters, a
 * client's query string (hostile input): item.c's read_paging (?limit=
 * 1..200 and the opaque cursor "<hex>_<hex>" of the item feeds) and
 * notify.c's notification list (?limit= 1..100, cursor "<ms>_<id>"). Both
 * are static; the test includes the two files with what they link to,
 * and stubs the parts that do not take part (images, regions, chat, mail).
 *
 * A row is a query string and its outcome: refused (a 400 with its code)
 * or accepted with the limit and cursor it reads as.
 */
#include "../src/core/dm.c"
#include "../src/core/config.c"
#include "../src/core/db.c"
#include "../src/core/mem.c"
#include "../src/core/json.c"
#include "../src/core/refusal.c"
#include "../src/core/metrics.c"
#include "../src/core/auth.c"
#include "../src/core/tls.c"
#include "../src/core/jobs.c"
#include "../src/web/http.c"
#include "../src/market/notify.c"
#include "../src/market/item.c"

#include <stdlib.h>

#include "unit.h"

/* the parts item.c and notify.c link to that take no part here */
int push_queue(sqlite3 *w, int64_t user_id, const char *type, const char *title, const char *body,
	       const char *item_id)
{
	(void)w;
	(void)user_id;
	(void)type;
	(void)title;
	(void)body;
	(void)item_id;
	return DM_OK;
}
#include "unit_live_off.h"
void image_release(sqlite3 *w, const char *name)
{
	(void)w;
	(void)name;
}
void image_sweep_tmp(void)
{
}
void image_sweep_orphans(void *unused)
{
	(void)unused;
}
int image_h_get(http_req_t *r)
{
	return http_fail_dm(r, DM_ENOTFOUND);
}
int item_post(struct http_req *r)
{
	return http_fail_dm(r, DM_ENOTFOUND);
}
int item_images_add(struct http_req *r)
{
	return http_fail_dm(r, DM_ENOTFOUND);
}
int item_images_order(struct http_req *r)
{
	return http_fail_dm(r, DM_ENOTFOUND);
}
int item_images_remove(struct http_req *r)
{
	return http_fail_dm(r, DM_ENOTFOUND);
}
int mail_queue(sqlite3 *w, const char *to, const char *subject, const char *text, const char *html)
{
	(void)w;
	(void)to;
	(void)subject;
	(void)text;
	(void)html;
	return DM_OK;
}
int region_normalize(const char *in, char *out, size_t cap)
{
	return dm_strlcpy(out, in, cap);
}

/* A request with query q (NULL: none) and no connection: replies go
 * nowhere, their status stays in r->status. */
static void req_init(http_req_t *r, const char *q)
{
	memset(r, 0, sizeof *r);
	r->method = "GET";
	r->query = q;
	r->db = db_reader();
	r->user_id = 1;
	dm_strlcpy(r->ip, "127.0.0.1", sizeof r->ip);
}

#define OK DM_OK
#define BAD DM_EINVAL
#define NO -1 /* no cursor */

/* item.c read_paging */
static const struct {
	const char *q;
	int rc;
	int64_t limit, cd, ci; /* cd NO: no cursor */
} item_rows[] = {
	{NULL, OK, 50, NO, 0},
	{"", OK, 50, NO, 0},
	{"other=1", OK, 50, NO, 0},
	/* limit */
	{"limit=1", OK, 1, NO, 0},
	{"limit=200", OK, 200, NO, 0},
	{"limit=007", OK, 7, NO, 0},
	{"limit=%31%30", OK, 10, NO, 0},
	{"limit=201", BAD, 0, 0, 0},
	{"limit=0", BAD, 0, 0, 0},
	{"limit=-1", BAD, 0, 0, 0},
	{"limit=+1", BAD, 0, 0, 0},
	{"limit=", BAD, 0, 0, 0},
	{"limit=1e2", BAD, 0, 0, 0},
	{"limit=1.0", BAD, 0, 0, 0},
	{"limit=%201", BAD, 0, 0, 0},
	{"limit=0x10", BAD, 0, 0, 0},
	{"limit=9999999999999999999999", BAD, 0, 0, 0},
	{"limit=18446744073709551617", BAD, 0, 0, 0}, /* 2^64 + 1 */
	{"limit=1111111111111111111111111111111111111111111111111111111111111111111111", BAD, 0, 0, 0},
	/* cursor */
	{"cursor=", OK, 50, NO, 0},
	{"cursor=0_0", OK, 50, 0, 0},
	{"cursor=1a_2b", OK, 50, 0x1a, 0x2b},
	{"cursor=19a0c1e2f00_ff&limit=3", OK, 3, 0x19a0c1e2f00LL, 0xff},
	{"cursor=7fffffffffffffff_7fffffffffffffff", OK, 50, INT64_MAX, INT64_MAX},
	{"cursor=0000000000000001_1", OK, 50, 1, 1},
	{"cursor=1%5f2", OK, 50, 1, 2},
	{"cursor=8000000000000000_1", BAD, 0, 0, 0},
	{"cursor=1_8000000000000000", BAD, 0, 0, 0},
	{"cursor=ffffffffffffffff_1", BAD, 0, 0, 0},
	{"cursor=00000000000000001_1", BAD, 0, 0, 0}, /* 17 digits */
	{"cursor=1A_2", BAD, 0, 0, 0},
	{"cursor=1_2B", BAD, 0, 0, 0},
	{"cursor=g_1", BAD, 0, 0, 0},
	{"cursor=_1", BAD, 0, 0, 0},
	{"cursor=1_", BAD, 0, 0, 0},
	{"cursor=_", BAD, 0, 0, 0},
	{"cursor=1", BAD, 0, 0, 0},
	{"cursor=1_2_3", BAD, 0, 0, 0},
	{"cursor=1__2", BAD, 0, 0, 0},
	{"cursor=-1_2", BAD, 0, 0, 0},
	{"cursor=+1_2", BAD, 0, 0, 0}, /* '+' decodes to a blank */
	{"cursor=1_2+", BAD, 0, 0, 0},
	{"cursor=0x1_2", BAD, 0, 0, 0},
	{"cursor=1_2&limit=0", BAD, 0, 0, 0},
	{"cursor=%eb%8f%99_1", BAD, 0, 0, 0},
	{"cursor=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa_1", BAD, 0, 0, 0},
	/* a decoded NUL or bytes that are not UTF-8: refused, not cut or dropped */
	{"limit=5%00x", BAD, 0, 0, 0},
	{"limit=%ff", BAD, 0, 0, 0},
	{"cursor=1_2%00x", BAD, 0, 0, 0},
	{"cursor=%ff_1", BAD, 0, 0, 0},
};

static void test_item_paging(void)
{
	for (size_t i = 0; i < sizeof item_rows / sizeof item_rows[0]; i++) {
		http_req_t *r = malloc(sizeof *r);
		paging_t pg;
		int rc;
		const char *q = item_rows[i].q;
		if (!r)
			return;
		req_init(r, q);
		rc = read_paging(r, &pg);
		CHECK(rc == item_rows[i].rc, "item paging '%s': %d, want %d", q ? q : "(none)", rc, item_rows[i].rc);
		if (item_rows[i].rc == OK) {
			CHECK(!r->replied, "item paging '%s': no reply", q ? q : "(none)");
			CHECK(pg.limit == item_rows[i].limit, "item paging '%s': limit %lld", q ? q : "(none)",
			      (long long)pg.limit);
			if (item_rows[i].cd == NO)
				CHECK(!pg.has_cursor, "item paging '%s': no cursor", q ? q : "(none)");
			else
				CHECK(pg.has_cursor && pg.cd == item_rows[i].cd && pg.ci == item_rows[i].ci,
				      "item paging '%s': cursor %d %llx_%llx", q ? q : "(none)", pg.has_cursor,
				      (unsigned long long)pg.cd, (unsigned long long)pg.ci);
		} else
			CHECK(r->replied && r->status == 400, "item paging '%s': replied 400 (%d)", q ? q : "(none)",
			      r->status);
		free(r);
	}
}

/* notify.c h_notifications: 400 for a bad limit or cursor, else a page (200) */
static const struct {
	const char *q;
	int status;
} notify_rows[] = {
	{NULL, 200},
	{"unread=1", 200},
	{"limit=1", 200},
	{"limit=100", 200},
	{"limit=101", 400},
	{"limit=0", 400},
	{"limit=-5", 400},
	{"limit=", 400},
	{"limit=1x", 400},
	{"limit=99999999999999999999999", 400},
	{"cursor=", 200},
	{"cursor=1796029200000_12", 200},
	{"cursor=0_0", 200},
	{"cursor=9223372036854775807_9223372036854775807", 200},
	{"cursor=1_2&limit=5", 200},
	{"cursor=1", 400},
	{"cursor=1_", 400},
	{"cursor=_2", 400},
	{"cursor=1_2x", 400},
	{"cursor=1_2_3", 400},
	{"cursor=-1_2", 400},
	{"cursor=1_-2", 400},
	{"cursor=a_b", 400},
	{"cursor=1.5_2", 400},
	{"cursor=1__2", 400},
	{"cursor=%eb%8f%99", 400},
	/* digits only, and they must fit: no blank, sign or overflow */
	{"cursor=+1_2", 400},
	{"cursor=%201_2", 400},
	{"cursor=1_%202", 400},
	{"cursor=%0a1_2", 400},
	{"cursor=99999999999999999999_1", 400},
	{"cursor=1_99999999999999999999", 400},
	{"cursor=9223372036854775808_1", 400},
	{"limit=%205", 400},
	{"limit=+5", 400},
	/* a decoded NUL or bytes that are not UTF-8 */
	{"cursor=%ff", 400},
	{"limit=5%00x", 400},
	{"limit=%ff", 400},
	{"unread=%ff", 400},
};

static void test_notify_cursor(void)
{
	for (size_t i = 0; i < sizeof notify_rows / sizeof notify_rows[0]; i++) {
		http_req_t *r = malloc(sizeof *r);
		const char *q = notify_rows[i].q;
		if (!r)
			return;
		req_init(r, q);
		h_notifications(r);
		CHECK(r->replied && r->status == notify_rows[i].status, "notifications '%s': %d, want %d",
		      q ? q : "(none)", r->status, notify_rows[i].status);
		free(r);
	}
}

int main(void)
{
	char dir[] = "/tmp/dm-unit-cursor-XXXXXX";

	cfg_defaults();
	dm_log_level = DM_LOG_ERROR;
	if (!mkdtemp(dir) || db_open(dir) != DM_OK) {
		printf("cannot open a database in %s\n", dir);
		return 2;
	}
	test_item_paging();
	test_notify_cursor();
	db_close();
	{
		char cmd[128];
		snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", dir);
	}
	UNIT_DONE("unit_cursor");
}
