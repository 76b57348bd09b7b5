/*
 * item.c — items and neighborhoods (see item.h and API.md "Items").
 *
 * Every reply is built by SQLite from one shared item fragment (ITEM_JSON
 * over ITEM_FROM), so feeds, search, detail and my page show an item the
 * same way and apply the same privacy rule. Writes go through the write
 * lane; a post (item_post.c: photo file + item + room + owner membership)
 * and a delete (rows, then the room's sockets and the photo after the
 * commit) are single write
 * jobs whose file work is serialized on the lane with every other item
 * write (image.h).
 *
 * Decisions (documented in API terms):
 *  - posting or reading the region feed without a region set is a 400
 *    ADDRESS_REQUIRED (the seed frontend sends such users to the "set your
 *    location" page first);
 *  - search with q shorter than 3 characters (the trigram minimum) falls
 *    back to a substring scan over open items (instr), still paged, not a
 *    400; q may be left out when a category is given (browse a category);
 *    with neither it is a 400 INVALID_QUERY;
 *  - /myPage lists all of a user's items (posted or received) unpaged.
 *
 * The deadline timer (expiry_tick, every cfg.expiry_interval seconds)
 * reminds owners an hour before an item's deadline and expires the items
 * whose deadline passed; each job stores its notifications through
 * notify.h in the same transaction as the change.
 *
 * Statements come from the per-connection cache (db_stmt, through
 * db_query/db_get_*). Refusals are refusal.h rows (http_refuse).
 * Pages rendered for nobody are cached (feed pages, item details) and
 * served to every caller they do not concern; see "feed cache".
 *
 * Thread-safety: handlers run on civetweb workers and share nothing but the
 * read-only tables here and the two caches (feed_cache under feed_lock,
 * detail_cache under detail_lock).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "db.h"
#include "dm.h"
#include "http.h"
#include "image.h"
#include "item.h"
#include "jobs.h"
#include "live.h"
#include "notify.h"
#include "region.h"

#define FEED_DEFAULT 50
#define FEED_MAX 200
#define EXPIRE_BATCH 500
#define SEARCH_MAX_CHARS 100
#define LIST_SQL_MAX 12288        /* bytes of a list query (list_sql) */
#define FEED_CACHE_MAX 32         /* cached feed pages (anonymous and region) */
#define FEED_CACHE_TTL_MS 1000    /* safety net: an entry's longest life */
#define FEED_KEY_MAX (REGION_MAX + 96)
#define DETAIL_CACHE 256          /* cached item details (by itemId) */

static const char *const categories[] = {
	"디지털/가전", "가구/인테리어", "유아동/유아도서", "식품", "스포츠/레저", "여성잡화", "여성의류",
	"남성패션/잡화", "게임/취미", "뷰티/미용", "반려동물용품", "도서/티켓/음반", "생활용품", "식물",
	"기타 중고물품", NULL};

int item_category_ok(const char *cat)
{
	for (const char *const *c = categories; cat && *c; c++)
		if (!strcmp(*c, cat))
			return 1;
	return 0;
}

/* --------------------------------------------------------- SQL fragments */

/* The tables of one item: s (saleItem), u (owner), c (its room), b (the
 * chosen partner, if any). */
#define ITEM_JOINS                                                                           \
	" JOIN user u ON u.userId = s.userId JOIN itemChatRoom c ON c.itemId = s.itemId" \
	" LEFT JOIN user b ON b.userId = s.buyerUserId "
#define ITEM_FROM " saleItem s" ITEM_JOINS

/* The keys of one item, in the reply's order, up to kickYn. */
#define ITEM_KEYS                                                                                     \
	"'itemId',CAST(s.itemId AS TEXT),'icrId',CAST(c.icrId AS TEXT),'image',dm_image(s.image),"        \
	"'title',s.title,'category',s.category,'wantItem',s.wantItem,'comment',s.comment,"                \
	"'deadLine',dm_time(s.deadLine),'status',(SELECT codeName FROM code WHERE codeId = s.status),"    \
	"'statusCode',s.status,'createdDt',dm_time(s.createdDt),'nickname',u.nickname,"                   \
	"'userId',CAST(s.userId AS TEXT),'address',s.address,'mannerTemp',u.mannerTemp,"                  \
	"'buyerUserId',CAST(s.buyerUserId AS TEXT),"                                                       \
	"'kickYn',CASE WHEN EXISTS (SELECT 1 FROM kickUser k WHERE k.icrId = c.icrId AND k.userId = @me)" \
	" THEN 'true' ELSE 'false' END"

/* One item as JSON for the caller @me (NULL when anonymous), built by one
 * json_object. Privacy: the owner's email only to the owner; the partner's
 * email (buyerEmail, left out while there is no partner) only to the owner
 * and to the partner; kickYn "true" when @me is banned from the item. Key
 * order: ITEM_KEYS, then email, buyerEmail, then thumb when the post came
 * with a thumbnail (clients show image otherwise; items without one keep
 * the keys they always had), then freeYn "Y" for a 나눔 item (left out
 * otherwise, for the same reason). Both are added by json_insert, which does
 * nothing when given the existing path $.image: a second copy of the
 * json_object variants instead made every cached feed statement twice as
 * big (~80 KB more per worker). */
#define ITEM_JSON                                                                                     \
	"json_insert(CASE WHEN s.userId = @me THEN CASE WHEN b.email IS NULL THEN json_object(" ITEM_KEYS \
	",'email',u.email) ELSE json_object(" ITEM_KEYS ",'email',u.email,'buyerEmail',b.email) END"      \
	" WHEN s.buyerUserId = @me THEN json_object(" ITEM_KEYS ",'buyerEmail',b.email)"                  \
	" ELSE json_object(" ITEM_KEYS ") END,"                                                           \
	"iif(s.thumb IS NULL,'$.image','$.thumb'),'/images/'||s.thumb,"                                         \
	"iif(s.freeYn = 'Y','$.freeYn','$.image'),'Y')"

/* What a list query filters on, on top of "open now". */
enum {
	L_ADDR = 1,     /* s.address = @addr */
	L_CAT = 2,      /* s.category = @cat */
	L_CURSOR = 4,   /* after (@cd, @ci) in (deadLine DESC, itemId DESC) */
	L_FTS = 8,      /* full-text match of @q (>= 3 characters), many hits */
	L_INSTR = 16,   /* substring scan for @q (1-2 characters) */
	L_FTS_FEW = 32, /* full-text match of @q with few hits */
	L_META = 64,    /* a third column: who is on the page (page_meta) */
	L_FREE = 128,   /* 나눔 only (s.freeYn = 'Y') */
	L_BLOCK = 256   /* leave out items of users @me blocked or who blocked @me */
};

/* The items of users who blocked @me or whom @me blocked are left out
 * (both directions: blocking hides each side's posts from the other). */
#define NOT_BLOCKED(OWNER)                                                                   \
	" NOT EXISTS (SELECT 1 FROM userBlock x WHERE x.userId = @me AND x.blockedUserId = " OWNER ")" \
	" AND NOT EXISTS (SELECT 1 FROM userBlock x WHERE x.userId = " OWNER " AND x.blockedUserId = @me)"



/* The FTS5 query for @q: one phrase, i.e. a substring of >= 3 characters
 * (trigram tokenizer); quotes in q are doubled, so q is only ever text. */
#define FTS_PHRASE "'\"' || replace(@q, '\"', '\"\"') || '\"'"
/* Up to this many hits, a search starts from the full-text hits and sorts
 * them; with more, it walks the open items in feed order and keeps those
 * among the hits (stops after a page). */
#define FTS_FEW 2000

/* The items shown on a page: the first @lim of ids, joined to their rows. */
#define PAGE_ROWS                                                                                  \
	" (SELECT d, i FROM ids ORDER BY d DESC, i DESC LIMIT @lim) p CROSS JOIN saleItem s ON s.itemId = p.i"

/* Builds the list query for flags into buf. The reply: {msg, data:[item],
 * next}: items open at @now (SI01 and deadLine > @now), newest deadline
 * first, @lim per page; next is the cursor after the last one, or null.
 * A second column is the earliest deadLine (ms) among the rows the reply
 * depends on (the page and the one after it), NULL if none: the reply
 * stays the same until then unless something is written. With L_META, a
 * third column lists who the page's items concern, for the feed cache:
 * "owner buyer icrId" per item (buyer 0 if none), space-separated.
 * The ids of the page come first (from the index alone where it can: one
 * extra row tells whether there is a next page), then only those items
 * are turned into JSON, each by one json_object straight into the array.
 * Returns buf, or NULL if it does not fit. */
static const char *list_sql(int flags, char *buf, size_t cap)
{
	int n = snprintf(
		buf, cap,
		"WITH ids AS MATERIALIZED (SELECT s.deadLine AS d, s.itemId AS i FROM %s"
		" WHERE s.status = 'SI01' AND s.deadLine > @now%s%s%s%s%s%s%s"
		" ORDER BY s.deadLine DESC, s.itemId DESC LIMIT @lim + 1) "
		"SELECT json_object('msg','success',"
		"'data',(SELECT json_group_array(" ITEM_JSON " ORDER BY p.d DESC, p.i DESC) FROM" PAGE_ROWS
		ITEM_JOINS "),"
		"'next',CASE WHEN (SELECT count(*) FROM ids) > @lim THEN"
		" (SELECT printf('%%x_%%x', d, i) FROM ids ORDER BY d DESC, i DESC LIMIT 1 OFFSET @lim - 1) END),"
		"(SELECT min(d) FROM ids)%s",
		(flags & L_FTS_FEW) ? "saleItemFts f CROSS JOIN saleItem s ON s.itemId = f.rowid" : "saleItem s",
		(flags & L_ADDR) ? " AND s.address = @addr" : "", (flags & L_CAT) ? " AND s.category = @cat" : "",
		(flags & L_FREE) ? " AND s.freeYn = 'Y'" : "", (flags & L_BLOCK) ? " AND" NOT_BLOCKED("s.userId") : "",
		(flags & L_CURSOR) ? " AND (s.deadLine, s.itemId) < (@cd, @ci)" : "",
		(flags & L_FTS) ? " AND s.itemId IN (SELECT rowid FROM saleItemFts WHERE saleItemFts MATCH " FTS_PHRASE ")"
		: (flags & L_FTS_FEW) ? " AND f.saleItemFts MATCH " FTS_PHRASE
				      : "",
		(flags & L_INSTR) ? " AND (instr(lower(s.title), lower(@q)) > 0 OR instr(lower(s.wantItem), lower(@q)) > 0"
				    " OR instr(lower(s.comment), lower(@q)) > 0)"
				  : "",
		(flags & L_META) ? ",(SELECT group_concat(s.userId || ' ' || coalesce(s.buyerUserId, 0) || ' ' || c.icrId,"
				   " ' ') FROM" PAGE_ROWS " JOIN itemChatRoom c ON c.itemId = s.itemId)"
				 : "");
	return n > 0 && (size_t)n < cap ? buf : NULL;
}

/* The detail reply, then who it concerns: owner, buyer (0 if none), icrId
 * (for the detail cache). */
static const char detail_sql[] =
	"SELECT json_object('msg','success','data',json_set(" ITEM_JSON ",'$.images'," ITEM_IMAGES_JSON("s") "),"
	"'createdDt',dm_time(s.createdDt)),"
	" s.userId, coalesce(s.buyerUserId, 0), c.icrId FROM " ITEM_FROM "WHERE s.itemId = @id";

/* items I posted or received (partner), newest first */
static const char mypage_sql[] =
	"SELECT json_object('msg','success','postCnt',count(*),"
	"'postInfo',json_group_array(" ITEM_JSON " ORDER BY s.createdDt DESC, s.itemId DESC)) FROM " ITEM_FROM
	"WHERE s.userId = @me OR (s.buyerUserId = @me AND s.userId <> @me)";

/* the join buttons of a room for @me */
static const char buttons_sql[] =
	"SELECT json_object('msg','success','buttonYn',json_object("
	"'groupJoinButton',json(CASE WHEN m.icruId IS NULL AND k.kickUserId IS NULL AND s.status = 'SI01'"
	" AND s.deadLine > @now AND NOT EXISTS (SELECT 1 FROM userBlock x WHERE x.userId = s.userId"
	" AND x.blockedUserId = @me) THEN 'true' ELSE 'false' END),"
	"'oneJoinButton',json(CASE WHEN s.buyerUserId IS NOT NULL AND s.status IN ('SI02','SI04','SI05')"
	" AND (s.userId = @me OR s.buyerUserId = @me) THEN 'true' ELSE 'false' END)))"
	" FROM itemChatRoom c JOIN saleItem s ON s.itemId = c.itemId"
	" LEFT JOIN itemChatRoomUser m ON m.icrId = c.icrId AND m.userId = @me"
	" LEFT JOIN kickUser k ON k.icrId = c.icrId AND k.userId = @me"
	" WHERE c.icrId = @icr";

/* Named parameter binders: a name the statement does not use is skipped. */
static void bind_i64(sqlite3_stmt *st, const char *name, int64_t v)
{
	int i = sqlite3_bind_parameter_index(st, name);
	if (i)
		sqlite3_bind_int64(st, i, v);
}

static void bind_text(sqlite3_stmt *st, const char *name, const char *v)
{
	int i = sqlite3_bind_parameter_index(st, name);
	if (i)
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

/* @me: the caller, or NULL when anonymous. */
static void bind_me(sqlite3_stmt *st, int64_t user_id)
{
	int i = sqlite3_bind_parameter_index(st, "@me");
	if (i && user_id > 0)
		sqlite3_bind_int64(st, i, user_id);
}

/* ------------------------------------------------------------- helpers */

/* A decimal id from a path capture: 1-18 digits. 0 if not one. */
static int64_t parse_id(const char *s)
{
	int64_t v = 0;
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 18)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* Strict lower-case hex of 1-16 digits into *v. 1/0. */
static int parse_hex(const char *s, size_t n, int64_t *v)
{
	uint64_t x = 0;
	if (n == 0 || n > 16)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int d;
		if (s[i] >= '0' && s[i] <= '9')
			d = s[i] - '0';
		else if (s[i] >= 'a' && s[i] <= 'f')
			d = s[i] - 'a' + 10;
		else
			return 0;
		x = x << 4 | (uint64_t)d;
	}
	if (x > INT64_MAX)
		return 0;
	*v = (int64_t)x;
	return 1;
}

typedef struct paging {
	int64_t limit;
	int has_cursor;
	int64_t cd, ci;   /* the cursor: (deadLine, itemId) of the last item seen */
} paging_t;

/* Reads ?limit= (1..200, default 50) and ?cursor= (opaque "<hex>_<hex>").
 * DM_OK, or replied 400 and DM_EINVAL. */
static int read_paging(http_req_t *r, paging_t *pg)
{
	char buf[64];
	int rc;

	memset(pg, 0, sizeof *pg);
	pg->limit = FEED_DEFAULT;
	rc = http_query(r, "limit", buf, sizeof buf);
	if (rc == DM_OK) {
		int64_t v = parse_id(buf);
		if (v < 1 || v > FEED_MAX) {
			http_refuse(r, RF_INVALID_LIMIT);
			return DM_EINVAL;
		}
		pg->limit = v;
	} else if (rc != DM_ENOTFOUND) {
		http_refuse(r, RF_INVALID_LIMIT);
		return DM_EINVAL;
	}
	rc = http_query(r, "cursor", buf, sizeof buf);
	if (rc == DM_OK && buf[0]) {
		const char *us = strchr(buf, '_');
		if (!us || !parse_hex(buf, (size_t)(us - buf), &pg->cd) || !parse_hex(us + 1, strlen(us + 1), &pg->ci)) {
			http_refuse(r, RF_INVALID_CURSOR);
			return DM_EINVAL;
		}
		pg->has_cursor = 1;
	} else if (rc != DM_OK && rc != DM_ENOTFOUND) {
		http_refuse(r, RF_INVALID_CURSOR);
		return DM_EINVAL;
	}
	return DM_OK;
}

typedef struct list_args {
	const char *addr;   /* normalized region or NULL */
	const char *cat;    /* category or NULL */
	const char *q;      /* search text or NULL */
	int free;           /* 나눔 only */
} list_args_t;

/* Whether user me (> 0) blocked anyone or is blocked by anyone: 1/0, -1
 * on error. Such a caller never shares a page rendered for nobody. */
static int has_blocks(sqlite3 *db, int64_t me)
{
	int64_t any = 0;
	if (db_get_int(db, &any,
		       "SELECT EXISTS (SELECT 1 FROM userBlock WHERE userId = ?1)"
		       " OR EXISTS (SELECT 1 FROM userBlock WHERE blockedUserId = ?1)",
		       DB_INT(me)) != DM_OK)
		return -1;
	return any != 0;
}

/* ?freeYn=Y (나눔 only) or N / absent (all) into a->free. DM_OK, or
 * replied 400 and DM_EINVAL. */
static int query_free(http_req_t *r, list_args_t *a)
{
	char buf[8];
	int rc = http_query(r, "freeYn", buf, sizeof buf);
	if (rc == DM_ENOTFOUND || (rc == DM_OK && (!buf[0] || !strcmp(buf, "N"))))
		return DM_OK;
	if (rc == DM_OK && !strcmp(buf, "Y")) {
		a->free = 1;
		return DM_OK;
	}
	http_refuse(r, RF_INVALID_FREE_FILTER);
	return DM_EINVAL;
}

/* How many items match q in full text, counting at most FTS_FEW + 1.
 * -1 on error. */
static int64_t fts_hits(sqlite3 *db, const char *q)
{
	int64_t n = -1;
	/* named parameters are numbered as they first appear: @q ?1, @few ?2 */
	if (db_get_int(db, &n,
		       "SELECT count(*) FROM (SELECT 1 FROM saleItemFts WHERE saleItemFts MATCH " FTS_PHRASE
		       " LIMIT @few + 1)",
		       DB_TEXT(q), DB_INT(FTS_FEW)) != DM_OK)
		return -1;
	return n;
}

/* Prepares the list query of one page of open items matching a, bound
 * for the caller (or, with meta, for nobody, with the L_META column: a
 * page for the feed cache) and now_ms. NULL after replying with an error.
 * The caller gives it back with db_done. */
static sqlite3_stmt *prep_list(http_req_t *r, const list_args_t *a, const paging_t *pg, int64_t now_ms, int meta)
{
	char sql[LIST_SQL_MAX];
	int flags = 0;
	sqlite3_stmt *st;

	if (a->addr)
		flags |= L_ADDR;
	if (a->cat)
		flags |= L_CAT;
	if (pg->has_cursor)
		flags |= L_CURSOR;
	if (a->free)
		flags |= L_FREE;
	if (!meta && r->user_id > 0) {
		int b = has_blocks(r->db, r->user_id);
		if (b < 0) {
			http_fail_dm(r, DM_ERR);
			return NULL;
		}
		if (b)
			flags |= L_BLOCK;
	}
	if (a->q && dm_utf8_len(a->q, strlen(a->q)) < 3)
		flags |= L_INSTR;
	else if (a->q) {
		int64_t hits = fts_hits(r->db, a->q);
		if (hits < 0) {
			http_fail_dm(r, DM_ERR);
			return NULL;
		}
		flags |= hits <= FTS_FEW ? L_FTS_FEW : L_FTS;
	}
	if (meta)
		flags |= L_META;
	if (!list_sql(flags, sql, sizeof sql) || !(st = db_stmt(r->db, sql))) {
		http_fail_dm(r, DM_ERR);
		return NULL;
	}
	if (!meta)
		bind_me(st, r->user_id);
	bind_i64(st, "@now", now_ms);
	bind_i64(st, "@lim", pg->limit);
	if (a->addr)
		bind_text(st, "@addr", a->addr);
	if (a->cat)
		bind_text(st, "@cat", a->cat);
	if (a->q)
		bind_text(st, "@q", a->q);
	if (pg->has_cursor) {
		bind_i64(st, "@cd", pg->cd);
		bind_i64(st, "@ci", pg->ci);
	}
	return st;
}

/* Replies with one page of open items matching a. */
static int reply_list(http_req_t *r, const list_args_t *a, const paging_t *pg)
{
	sqlite3_stmt *st = prep_list(r, a, pg, dm_now_ms(), 0);
	return st ? http_reply_stmt(r, 200, st) : DM_OK;
}

/* ---------------------------------------------------------- feed cache */

/* A page of the feed rendered for nobody (no @me: no email, kickYn
 * "false") is the same bytes for every anonymous caller, and for every
 * signed-in caller the page does not concern (they own none of its items,
 * are the partner of none, are kicked from none of its rooms: then their
 * reply has nothing of their own either). So such pages are kept here,
 * keyed by the normalized query (region, limit, cursor): the anonymous
 * feed (GET /mainPage/noLogin) and the region feed (GET /mainPage, keyed
 * like the anonymous feed of the caller's region) share them. Each entry
 * keeps who its page concerns (feed_body_t.who); a caller it concerns gets
 * a reply rendered for them instead (feed_for_anyone).
 * An entry is used only while (a) jobs_commit_gen() is still the value
 * read before its query ran (no write committed since: new items, status
 * changes, deletes, kicks, profile edits) and (b) now is before its
 * deadline: the earliest deadLine among the rows of its page (an item
 * leaving the open set by time changes the page) and at most
 * FEED_CACHE_TTL_MS after it was built.
 * A key being built is listed in feed_building: other callers missing the
 * same key wait (feed_cond) for that build instead of all running the
 * same query at once (after an expiry or a write, every connection would).
 * Thread-safety: feed_cache, feed_seq and feed_building under feed_lock
 * (an owned_lock_t: the *_locked functions assert that their caller holds it),
 * held only to look up / take a reference / insert, never while SQL runs;
 * a reply's bytes (feed_body_t) are shared by reference count, freed by
 * whoever drops the last one. item_stop frees. */
typedef struct feed_body {
	atomic_int refs;   /* the cache's entry + each reply being sent */
	size_t n;          /* items the page shows */
	int64_t *who;      /* n × {owner, buyer (0: none), icrId}; NULL if n == 0 */
	size_t len;
	char data[];       /* the whole JSON reply */
} feed_body_t;

typedef struct feed_entry {
	char key[FEED_KEY_MAX];
	uint64_t gen;      /* jobs_commit_gen() read before the query */
	int64_t built;     /* dm_now_ms() the query ran at */
	int64_t until;     /* valid while built <= now < until */
	uint64_t seq;      /* insertion order (evict the smallest) */
	feed_body_t *body; /* NULL = free slot */
} feed_entry_t;

/* A mutex that records which thread holds it, so that a *_locked function
 * can assert that its caller does (trylock cannot tell who holds it). A
 * thread is named by the address of its copy of lock_self. */
typedef struct owned_lock {
	pthread_mutex_t m;
	atomic_uintptr_t holder; /* (uintptr_t)&lock_self of the holder; 0: free */
} owned_lock_t;
#define OWNED_LOCK_INIT {PTHREAD_MUTEX_INITIALIZER, 0}

static _Thread_local char lock_self;

static void owned_lock(owned_lock_t *l)
{
	pthread_mutex_lock(&l->m);
	dm_assert(atomic_load(&l->holder) == 0);
	atomic_store(&l->holder, (uintptr_t)&lock_self);
}

/* 1 if the calling thread holds l. */
static int owned_held(owned_lock_t *l)
{
	return atomic_load(&l->holder) == (uintptr_t)&lock_self;
}

static void owned_unlock(owned_lock_t *l)
{
	dm_assert(owned_held(l));
	atomic_store(&l->holder, 0);
	pthread_mutex_unlock(&l->m);
}

/* pthread_cond_wait on l (held), which is released while waiting. */
static void owned_wait(owned_lock_t *l, pthread_cond_t *c)
{
	dm_assert(owned_held(l));
	atomic_store(&l->holder, 0);
	pthread_cond_wait(c, &l->m);
	atomic_store(&l->holder, (uintptr_t)&lock_self);
}

static owned_lock_t feed_lock = OWNED_LOCK_INIT;
static pthread_cond_t feed_cond = PTHREAD_COND_INITIALIZER;
static feed_entry_t feed_cache[FEED_CACHE_MAX];
static uint64_t feed_seq;
static char feed_building[FEED_CACHE_MAX][FEED_KEY_MAX]; /* "" = unused */

/* A new body (one reference, the caller's) holding a copy of json and the
 * parsed "owner buyer icrId ..." triples of meta (NULL: none). NULL when
 * out of memory or when meta is not whole triples. */
static feed_body_t *feed_body_new(const char *json, size_t len, const char *meta)
{
	feed_body_t *b = malloc(sizeof *b + len);
	size_t words = 0, k = 0;
	const char *p;

	if (!b)
		return NULL;
	atomic_init(&b->refs, 1);
	b->len = len;
	b->n = 0;
	b->who = NULL;
	memcpy(b->data, json, len);
	for (p = meta; p && *p; p++)
		if (*p != ' ' && (p == meta || p[-1] == ' '))
			words++;
	if (words % 3 || (words && !(b->who = malloc(words * sizeof *b->who)))) {
		free(b);
		return NULL;
	}
	for (p = meta; p && k < words;) {
		char *end;
		b->who[k++] = strtoll(p, &end, 10);
		p = end;
	}
	b->n = words / 3;
	dm_assert(k == words);
	return b;
}

/* Takes one more reference to b, which the caller already holds one of
 * (directly or through a cache entry it reads under the cache's lock). */
static void feed_body_ref(feed_body_t *b)
{
	int before = atomic_fetch_add(&b->refs, 1);
	dm_assert(before > 0);
}

/* Drops one reference to b (NULL is fine); frees it with the last. */
static void feed_body_unref(feed_body_t *b)
{
	int before;
	if (!b)
		return;
	before = atomic_fetch_sub(&b->refs, 1);
	dm_assert(before > 0);
	if (before == 1) {
		free(b->who);
		free(b);
	}
}

/* Whether the page in b is also what the caller me would get: 1 if me is
 * nobody (0) or the page concerns them in no way (owner or partner of
 * none of its items, kicked from none of its rooms, and no block either
 * way — a shared page may show users they must not see: read now, on
 * db), 0 if me needs a reply of their own, -1 on a database error. */
static int feed_for_anyone(sqlite3 *db, const feed_body_t *b, int64_t me)
{
	sqlite3_stmt *st;
	int rc, ok = 1;

	if (me <= 0 || b->n == 0)
		return 1;
	for (size_t i = 0; i < b->n; i++)
		if (b->who[3 * i] == me || b->who[3 * i + 1] == me)
			return 0;
	/* a user is kicked from few rooms, if any: their kicks against the
	 * page's rooms; and a row 0 (no room has that id) when they have a
	 * block, in one statement (this runs on every cached feed reply) */
	if (!(st = db_query(db, "SELECT icrId FROM kickUser WHERE userId = ?1 UNION ALL SELECT 0 WHERE"
				" EXISTS (SELECT 1 FROM userBlock WHERE userId = ?1)"
				" OR EXISTS (SELECT 1 FROM userBlock WHERE blockedUserId = ?1)",
			    DB_INT(me))))
		return -1;
	while (ok && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t icr = sqlite3_column_int64(st, 0);
		if (icr == 0) {
			ok = 0;
			break;
		}
		for (size_t i = 0; i < b->n; i++)
			if (b->who[3 * i + 2] == icr) {
				ok = 0;
				break;
			}
	}
	if (ok && rc != SQLITE_DONE)
		ok = -1;
	db_done(st);
	return ok;
}

/* Index of key in feed_building, or -1. */
static int feed_building_find_locked(const char *key)
{
	dm_assert(owned_held(&feed_lock));
	for (int i = 0; i < FEED_CACHE_MAX; i++)
		if (feed_building[i][0] && !strcmp(feed_building[i], key))
			return i;
	return -1;
}

/* Takes a reference to the entry for key (*body; the caller drops it with
 * feed_body_unref) if it is still valid (built at gen == the current
 * jobs_commit_gen(), now before its deadline) and returns 1. Else, if
 * another thread is building key, waits for it and looks again; else marks
 * key as built by the caller (*slot >= 0: pass it to feed_cache_done) and
 * returns 0, with *gen (read before the caller's query) and *now (its
 * @now) set. */
static int feed_cache_get(const char *key, uint64_t *gen, int64_t *now, feed_body_t **body, int *slot)
{
	int found = 0;
	*slot = -1;
	owned_lock(&feed_lock);
	for (;;) {
		*gen = jobs_commit_gen();
		*now = dm_now_ms();
		for (size_t i = 0; i < FEED_CACHE_MAX; i++) {
			feed_entry_t *e = &feed_cache[i];
			if (!e->body || strcmp(e->key, key))
				continue;
			if (e->gen == *gen && *now >= e->built && *now < e->until) {
				feed_body_ref(e->body);
				*body = e->body;
				found = 1;
			}
			break;
		}
		if (found || feed_building_find_locked(key) < 0 || dm_stopping)
			break;
		owned_wait(&feed_lock, &feed_cond);
	}
	for (int i = 0; !found && i < FEED_CACHE_MAX; i++)
		if (!feed_building[i][0]) {
			dm_strlcpy(feed_building[i], key, FEED_KEY_MAX);
			*slot = i;
			break;
		}
	owned_unlock(&feed_lock);
	return found;
}

/* The build marked by feed_cache_get (slot, may be -1) is over (cached or
 * not): wakes the callers waiting for it. */
static void feed_cache_done(int slot)
{
	if (slot < 0)
		return;
	dm_assert(slot < FEED_CACHE_MAX);
	owned_lock(&feed_lock);
	feed_building[slot][0] = 0;
	pthread_cond_broadcast(&feed_cond);
	owned_unlock(&feed_lock);
}

/* The entry to keep key in: the one with the same key, else a free one,
 * else the oldest. */
static feed_entry_t *feed_slot_locked(const char *key)
{
	feed_entry_t *slot = NULL;
	dm_assert(owned_held(&feed_lock));
	for (size_t i = 0; i < FEED_CACHE_MAX; i++) {
		feed_entry_t *e = &feed_cache[i];
		if (e->body && !strcmp(e->key, key))
			return e;
		if (!slot || (slot->body && (!e->body || e->seq < slot->seq)))
			slot = e;
	}
	return slot;
}

/* Keeps body for key (one more reference; replacing an entry with the
 * same key, else a free slot, else the oldest). */
static void feed_cache_put(const char *key, uint64_t gen, int64_t built, int64_t until, feed_body_t *body)
{
	feed_body_t *old = NULL;
	feed_entry_t *slot;
	feed_body_ref(body);
	owned_lock(&feed_lock);
	slot = feed_slot_locked(key);
	old = slot->body;
	dm_strlcpy(slot->key, key, sizeof slot->key);
	slot->gen = gen;
	slot->built = built;
	slot->until = until;
	slot->seq = ++feed_seq;
	slot->body = body;
	owned_unlock(&feed_lock);
	feed_body_unref(old);
}

/* Frees every entry. */
static void feed_cache_clear(void)
{
	owned_lock(&feed_lock);
	for (size_t i = 0; i < FEED_CACHE_MAX; i++) {
		feed_body_unref(feed_cache[i].body);
		memset(&feed_cache[i], 0, sizeof feed_cache[i]);
	}
	owned_unlock(&feed_lock);
}

/* The page for a/pg rendered for nobody, from the cache or by running the
 * query (then cached if no write committed meanwhile). Returns a
 * reference (the caller drops it with feed_body_unref), or NULL after
 * replying with an error. */
static feed_body_t *feed_page(http_req_t *r, const list_args_t *a, const paging_t *pg)
{
	char key[FEED_KEY_MAX];
	feed_body_t *body = NULL;
	uint64_t gen; /* read before the query: a commit during it invalidates */
	int64_t now;
	sqlite3_stmt *st;
	int rc, slot;

	if (pg->has_cursor)
		snprintf(key, sizeof key, "%s\n%lld\n%d\n%llx_%llx", a->addr ? a->addr : "", (long long)pg->limit,
			 a->free, (unsigned long long)pg->cd, (unsigned long long)pg->ci);
	else
		snprintf(key, sizeof key, "%s\n%lld\n%d\n-", a->addr ? a->addr : "", (long long)pg->limit, a->free);
	if (feed_cache_get(key, &gen, &now, &body, &slot))
		return body;
	if (!(st = prep_list(r, a, pg, now, 1))) {
		feed_cache_done(slot);
		return NULL;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		const char *j = (const char *)sqlite3_column_text(st, 0);
		size_t n = (size_t)sqlite3_column_bytes(st, 0);
		int64_t until = now + FEED_CACHE_TTL_MS;
		if (sqlite3_column_type(st, 1) != SQLITE_NULL && sqlite3_column_int64(st, 1) < until)
			until = sqlite3_column_int64(st, 1);
		if (!j || !(body = feed_body_new(j, n, (const char *)sqlite3_column_text(st, 2))))
			http_fail_dm(r, DM_ENOMEM);
		else if (jobs_commit_gen() == gen)
			feed_cache_put(key, gen, now, until, body);
	} else if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		http_fail_dm(r, DM_ENOTFOUND);
	else {
		dm_error("%s %s: %s", r->method, r->path, sqlite3_errmsg(r->db));
		http_fail_dm(r, DM_ERR);
	}
	db_done(st);
	feed_cache_done(slot);
	return body;
}

/* Replies with the feed page for a/pg: the cached page when it is also
 * the caller's (feed_for_anyone: never for a caller with blocks), else
 * one rendered for the caller. */
static int reply_feed(http_req_t *r, const list_args_t *a, const paging_t *pg)
{
	feed_body_t *body = feed_page(r, a, pg);
	int mine;

	if (!body)
		return DM_OK;
	mine = feed_for_anyone(r->db, body, r->user_id);
	if (mine > 0)
		http_reply_json(r, 200, body->data, body->len);
	else if (mine == 0)
		reply_list(r, a, pg);
	else
		http_fail_dm(r, DM_ERR);
	feed_body_unref(body);
	return DM_OK;
}

/* The caller's region into out (REGION_MAX). DM_OK, DM_ENOTFOUND (none
 * set), DM_EAUTH (no such user), DM_ERR. */
static int user_region(http_req_t *r, char *out)
{
	int rc = db_get_text(r->db, out, REGION_MAX, "SELECT ifnull(address, '') FROM user WHERE userId = ?1",
			     DB_INT(r->user_id));
	if (rc == DM_ENOTFOUND)
		return DM_EAUTH; /* no such user */
	if (rc == DM_OK && !out[0])
		return DM_ENOTFOUND;
	return rc == DM_OK ? DM_OK : DM_ERR;
}

/* ?address= normalized into out; DM_ENOTFOUND when absent or empty;
 * replied 400 and DM_EINVAL when not a known region. */
static int query_region(http_req_t *r, char *out)
{
	char raw[512];
	int rc = http_query(r, "address", raw, sizeof raw);
	if (rc == DM_ENOTFOUND || (rc == DM_OK && !raw[0]))
		return DM_ENOTFOUND;
	if (rc != DM_OK || region_normalize(raw, out, REGION_MAX) != DM_OK) {
		http_refuse(r, RF_INVALID_ADDRESS);
		return DM_EINVAL;
	}
	return DM_OK;
}

/* --------------------------------------------------------------- feeds */

/* GET /mainPage/noLogin[?address=&limit=&cursor=] */
static int h_feed_anon(http_req_t *r)
{
	paging_t pg;
	list_args_t a = {0};
	char region[REGION_MAX];
	int rc;

	if (read_paging(r, &pg) != DM_OK)
		return DM_OK;
	rc = query_region(r, region);
	if (rc == DM_EINVAL)
		return DM_OK;
	if (rc == DM_OK)
		a.addr = region;
	if (query_free(r, &a) != DM_OK)
		return DM_OK;
	return reply_feed(r, &a, &pg);
}

/* GET /mainPage[?limit=&cursor=]: the caller's region, with kickYn. */
static int h_feed(http_req_t *r)
{
	paging_t pg;
	list_args_t a = {0};
	char region[REGION_MAX];
	int rc;

	if (read_paging(r, &pg) != DM_OK)
		return DM_OK;
	rc = user_region(r, region);
	if (rc == DM_ENOTFOUND)
		return http_refuse(r, RF_ADDRESS_REQUIRED);
	if (rc != DM_OK)
		return http_fail_dm(r, rc);
	a.addr = region;
	if (query_free(r, &a) != DM_OK)
		return DM_OK;
	return reply_feed(r, &a, &pg);
}

/* Trims ASCII whitespace at both ends, in place. */
static char *trim(char *s)
{
	size_t n;
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = 0;
	return s;
}

/* GET /mainPage/search?q=&category=[&address=&limit=&cursor=] */
static int h_search(http_req_t *r)
{
	paging_t pg;
	list_args_t a = {0};
	char qbuf[1024], cat[128], region[REGION_MAX];
	char *q = NULL;
	int rc;

	if (read_paging(r, &pg) != DM_OK)
		return DM_OK;
	rc = http_query(r, "q", qbuf, sizeof qbuf);
	if (rc == DM_OK) {
		q = trim(qbuf);
		if (dm_utf8_len(q, strlen(q)) > SEARCH_MAX_CHARS)
			return http_refuse(r, RF_QUERY_TOO_LONG);
		if (!q[0])
			q = NULL;
	} else if (rc != DM_ENOTFOUND)
		return http_refuse(r, RF_QUERY_TOO_LONG);
	rc = http_query(r, "category", cat, sizeof cat);
	if (rc == DM_OK && cat[0]) {
		if (!item_category_ok(cat))
			return http_refuse(r, RF_INVALID_CATEGORY);
		a.cat = cat;
	} else if (rc != DM_OK && rc != DM_ENOTFOUND)
		return http_refuse(r, RF_INVALID_CATEGORY);
	if (!q && !a.cat)
		return http_refuse(r, RF_QUERY_REQUIRED);
	rc = query_region(r, region);
	if (rc == DM_EINVAL)
		return DM_OK;
	if (rc == DM_OK)
		a.addr = region;
	a.q = q;
	if (query_free(r, &a) != DM_OK)
		return DM_OK;
	return reply_list(r, &a, &pg);
}

/* -------------------------------------------------------------- detail */

/* Like http_reply_stmt, but "no row" is the refusal none (a 404). Gives
 * st back (db_done). */
static int reply_or_404(http_req_t *r, sqlite3_stmt *st, refusal_t none)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT)
		http_reply_json(r, 200, (const char *)sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0));
	else if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		http_refuse(r, none);
	else {
		dm_error("%s %s: %s", r->method, r->path, sqlite3_errmsg(sqlite3_db_handle(st)));
		http_fail_dm(r, DM_ERR);
	}
	db_done(st);
	return DM_OK;
}

/* The detail cache: an item's detail rendered for nobody (no email,
 * kickYn "false"), which is also the reply of every signed-in caller who
 * is neither its owner nor its partner nor kicked from it (kicked callers
 * get 403). Direct-mapped by itemId; an entry is used only while
 * jobs_commit_gen() is still the value read before its query ran (the
 * detail depends on no clock: an item changes only through a write).
 * Thread-safety: detail_cache under detail_lock (held only to look up /
 * take a reference / replace); bodies are feed_body_t (who: 1 triple),
 * shared by reference count. item_stop frees. */
typedef struct detail_entry {
	int64_t id;
	uint64_t gen;
	feed_body_t *body; /* NULL = empty */
} detail_entry_t;

static owned_lock_t detail_lock = OWNED_LOCK_INIT;
static detail_entry_t detail_cache[DETAIL_CACHE];

/* A reference to item id's cached detail if still valid, else NULL. */
static feed_body_t *detail_cache_get(int64_t id)
{
	detail_entry_t *e = &detail_cache[(uint64_t)id % DETAIL_CACHE];
	feed_body_t *b = NULL;
	owned_lock(&detail_lock);
	if (e->body && e->id == id && e->gen == jobs_commit_gen()) {
		b = e->body;
		feed_body_ref(b);
	}
	owned_unlock(&detail_lock);
	return b;
}

/* Sets entry e to body b (NULL: empty) for item id built at gen; returns
 * the body it held (the caller drops that reference). */
static feed_body_t *detail_set_locked(detail_entry_t *e, int64_t id, uint64_t gen, feed_body_t *b)
{
	feed_body_t *old = e->body;
	dm_assert(owned_held(&detail_lock));
	e->id = id;
	e->gen = gen;
	e->body = b;
	return old;
}

/* Keeps b (one more reference) as item id's detail built at gen. */
static void detail_cache_put(int64_t id, uint64_t gen, feed_body_t *b)
{
	feed_body_t *old;
	feed_body_ref(b);
	owned_lock(&detail_lock);
	old = detail_set_locked(&detail_cache[(uint64_t)id % DETAIL_CACHE], id, gen, b);
	owned_unlock(&detail_lock);
	feed_body_unref(old);
}

static void detail_cache_clear(void)
{
	owned_lock(&detail_lock);
	for (size_t i = 0; i < DETAIL_CACHE; i++)
		feed_body_unref(detail_set_locked(&detail_cache[i], 0, 0, NULL));
	owned_unlock(&detail_lock);
}

/* Item id's detail rendered for nobody: from the cache, or by the query
 * (then cached if no write committed meanwhile). A reference (drop with
 * feed_body_unref), or NULL with *status DM_ENOTFOUND (no such item) or
 * another DM_* error. */
static feed_body_t *detail_page(sqlite3 *db, int64_t id, int *status)
{
	feed_body_t *b = detail_cache_get(id);
	uint64_t gen;
	sqlite3_stmt *st;
	int rc;

	*status = DM_OK;
	if (b)
		return b;
	gen = jobs_commit_gen();
	if (!(st = db_stmt(db, detail_sql))) {
		*status = DM_ERR;
		return NULL;
	}
	bind_i64(st, "@id", id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT) {
		char meta[96];
		snprintf(meta, sizeof meta, "%lld %lld %lld", (long long)sqlite3_column_int64(st, 1),
			 (long long)sqlite3_column_int64(st, 2), (long long)sqlite3_column_int64(st, 3));
		b = feed_body_new((const char *)sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0), meta);
		if (!b)
			*status = DM_ENOMEM;
		else if (jobs_commit_gen() == gen)
			detail_cache_put(id, gen, b);
	} else if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		*status = DM_ENOTFOUND;
	else {
		dm_error("item detail %lld: %s", (long long)id, sqlite3_errmsg(db));
		*status = DM_ERR;
	}
	db_done(st);
	return b;
}

/* Whether me (> 0) is kicked from room icr: 1/0, -1 on error. */
static int kicked_from(sqlite3 *db, int64_t icr, int64_t me)
{
	int64_t one;
	int rc = db_get_int(db, &one, "SELECT 1 FROM kickUser WHERE icrId = ?1 AND userId = ?2", DB_INT(icr), DB_INT(me));
	return rc == DM_OK ? 1 : rc == DM_ENOTFOUND ? 0 : -1;
}

/* Whether owner blocked me: 1/0, -1 on error. */
static int blocked_by(sqlite3 *db, int64_t owner, int64_t me)
{
	int64_t one;
	int rc = db_get_int(db, &one, "SELECT 1 FROM userBlock WHERE userId = ?1 AND blockedUserId = ?2", DB_INT(owner),
			    DB_INT(me));
	return rc == DM_OK ? 1 : rc == DM_ENOTFOUND ? 0 : -1;
}

/* GET /postDetail/:itemId (optional token): 404 missing, 403 KICKED for a
 * user banned from the item. The owner and the partner get a reply of
 * their own (with the emails); everyone else the cached one. */
static int h_detail(http_req_t *r)
{
	int64_t id = parse_id(r->param[0]);
	feed_body_t *b;
	sqlite3_stmt *st;
	int rc, kicked = 0;

	if (!id)
		return http_refuse(r, RF_ITEM_NOT_FOUND);
	b = detail_page(r->db, id, &rc);
	if (!b)
		return rc == DM_ENOTFOUND ? http_refuse(r, RF_ITEM_NOT_FOUND)
					  : http_fail_dm(r, rc);
	/* blocked by the owner: as if there were no such item */
	dm_assert(b->n == 1); /* who: owner, buyer, icrId */
	if (r->user_id > 0 && b->who[0] != r->user_id && (kicked = blocked_by(r->db, b->who[0], r->user_id)) != 0) {
		feed_body_unref(b);
		return kicked > 0 ? http_refuse(r, RF_ITEM_NOT_FOUND)
				  : http_fail_dm(r, DM_ERR);
	}
	if (r->user_id > 0 && (kicked = kicked_from(r->db, b->who[2], r->user_id)) != 0) {
		feed_body_unref(b);
		return kicked > 0 ? http_refuse(r, RF_KICKED_ITEM_VIEW)
				  : http_fail_dm(r, DM_ERR);
	}
	if (r->user_id <= 0 || (b->who[0] != r->user_id && b->who[1] != r->user_id)) {
		http_reply_json(r, 200, b->data, b->len);
		feed_body_unref(b);
		return DM_OK;
	}
	feed_body_unref(b);
	st = db_stmt(r->db, detail_sql);
	if (!st)
		return http_fail_dm(r, DM_ERR);
	bind_me(st, r->user_id);
	bind_i64(st, "@id", id);
	/* deleted in between: 404 as well */
	return reply_or_404(r, st, RF_ITEM_NOT_FOUND);
}

/* GET /postDetail/icrId/:icrId (bearer): the join buttons. */
static int h_buttons(http_req_t *r)
{
	int64_t icr = parse_id(r->param[0]);
	sqlite3_stmt *st;

	if (!icr)
		return http_refuse(r, RF_ROOM_NOT_FOUND);
	st = db_stmt(r->db, buttons_sql);
	if (!st)
		return http_fail_dm(r, DM_ERR);
	bind_me(st, r->user_id);
	bind_i64(st, "@now", dm_now_ms());
	bind_i64(st, "@icr", icr);
	return reply_or_404(r, st, RF_ROOM_NOT_FOUND);
}

/* ------------------------------------------------------------- my page */

/* GET /myPage (bearer) */
static int h_mypage(http_req_t *r)
{
	sqlite3_stmt *st = db_stmt(r->db, mypage_sql);
	if (!st)
		return http_fail_dm(r, DM_ERR);
	bind_me(st, r->user_id);
	return http_reply_stmt(r, 200, st);
}

typedef struct set_addr {
	int64_t user_id;
	const char *region;
} set_addr_t;

static int set_addr_write(sqlite3 *w, void *arg)
{
	set_addr_t *a = arg;
	int changes = 0;
	if (db_run_changes(w, &changes, "UPDATE user SET address = ?2 WHERE userId = ?1", DB_INT(a->user_id),
			   DB_TEXT(a->region)) != DM_OK)
		return DM_ERR;
	return changes == 1 ? DM_OK : DM_EAUTH;
}

/* POST /myPage/address {new_address} -> {msg, address}. The body's email
 * (the seed sends one) is ignored: the token says who. */
static int h_address(http_req_t *r)
{
	const char *in;
	char region[REGION_MAX];
	set_addr_t a;
	int rc;

	if (http_json(r) != DM_OK)
		return DM_OK;
	in = json_str(&r->json, "new_address", 1, 200);
	if (!in)
		return http_refuse(r, RF_ADDRESS_TOO_LONG);
	if (region_normalize(in, region, sizeof region) != DM_OK)
		return http_refuse(r, RF_INVALID_ADDRESS);
	a.user_id = r->user_id;
	a.region = region;
	rc = jobs_write(set_addr_write, &a);
	if (rc != DM_OK)
		return http_fail_dm(r, rc);
	return http_reply_stmt(r, 200, db_query(r->db, "SELECT json_object('msg','success','address',?1)", DB_TEXT(region)));
}

/* -------------------------------------------------------------- delete */

typedef struct del {
	int64_t user_id, item_id, icr_id;  /* icr_id 0: not given */
	char image[IMAGE_NAME_MAX];
	char thumb[IMAGE_NAME_MAX];        /* "" when none */
	char more[2 * ITEM_IMAGES_MAX][IMAGE_NAME_MAX]; /* its other photos and thumbnails */
	int nmore;
} del_t;

static int del_write(sqlite3 *w, void *arg)
{
	del_t *d = arg;
	sqlite3_stmt *st;
	int rc = DM_ENOTFOUND;

	int changes = 0;

	st = db_query(w, "SELECT s.userId, s.status, s.image, c.icrId, coalesce(s.thumb, '') FROM saleItem s"
			 " JOIN itemChatRoom c ON c.itemId = s.itemId WHERE s.itemId = ?1",
		      DB_INT(d->item_id));
	if (!st)
		return DM_ERR;
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *status = (const char *)sqlite3_column_text(st, 1);
		if (d->icr_id && sqlite3_column_int64(st, 3) != d->icr_id)
			rc = DM_EINVAL;
		else if (sqlite3_column_int64(st, 0) != d->user_id)
			rc = DM_EFORBID;
		else if (!status || (strcmp(status, "SI01") && strcmp(status, "SI03")))
			rc = DM_ECONFLICT;
		else {
			rc = dm_strlcpy(d->image, (const char *)sqlite3_column_text(st, 2), sizeof d->image) == DM_OK &&
					     dm_strlcpy(d->thumb, (const char *)sqlite3_column_text(st, 4),
							sizeof d->thumb) == DM_OK
				     ? DM_OK
				     : DM_ERR;
			d->icr_id = sqlite3_column_int64(st, 3);
		}
	}
	db_done(st);
	if (rc != DM_OK)
		return rc;
	/* every photo of the item, released after the commit */
	st = db_query(w, "SELECT image FROM itemImage WHERE itemId = ?1 UNION SELECT thumb FROM itemImage"
			 " WHERE itemId = ?1 AND thumb IS NOT NULL",
		      DB_INT(d->item_id));
	if (!st)
		return DM_ERR;
	while (d->nmore < 2 * ITEM_IMAGES_MAX && sqlite3_step(st) == SQLITE_ROW)
		dm_strlcpy(d->more[d->nmore++], (const char *)sqlite3_column_text(st, 0), IMAGE_NAME_MAX);
	db_done(st);
	/* the room, its members, messages and kicks go with it (ON DELETE
	 * CASCADE through itemChatRoom); the FTS row by trigger */
	if (db_run_changes(w, &changes, "DELETE FROM saleItem WHERE itemId = ?1", DB_INT(d->item_id)) != DM_OK)
		return DM_ERR;
	return changes == 1 ? DM_OK : DM_ERR;
}

/* After the commit: every socket leaves the room (none may hear what a
 * later room carries), and the photo and thumbnail go unless another item
 * uses them. */
static void del_done(void *arg, int status)
{
	del_t *d = arg;
	if (status != DM_OK)
		return;
	live_room_drop(d->icr_id);
	image_release(db_writer(), d->image);
	image_release(db_writer(), d->thumb);
	for (int i = 0; i < d->nmore; i++)
		image_release(db_writer(), d->more[i]);
}

/* Reads an optional id field: absent/null -> 0; a number or digit string ->
 * *out; anything else DM_EINVAL. */
static int opt_id(const json_obj_t *o, const char *key, int64_t *out)
{
	const json_field_t *f = json_get(o, key);
	*out = 0;
	if (!f || f->type == JSON_NULL)
		return DM_OK;
	if (json_int(o, key, 1, out) != DM_OK || *out <= 0)
		return DM_EINVAL;
	return DM_OK;
}

/* DELETE /myPage/delete {itemId, icrId?}: owner only, open or expired. */
static int h_delete(http_req_t *r)
{
	del_t d;
	int rc;

	if (http_json(r) != DM_OK)
		return DM_OK;
	memset(&d, 0, sizeof d);
	if (json_int(&r->json, "itemId", 1, &d.item_id) != DM_OK || d.item_id <= 0)
		return http_refuse(r, RF_INVALID_ITEM_ID);
	if (opt_id(&r->json, "icrId", &d.icr_id) != DM_OK)
		return http_refuse(r, RF_INVALID_ICR_ID);
	d.user_id = r->user_id;
	rc = jobs_write_then(del_write, del_done, &d);
	switch (rc) {
	case DM_OK:
		return http_reply_stmt(
			r, 200, db_query(r->db, "SELECT json_object('msg','success','itemId',CAST(?1 AS TEXT))", DB_INT(d.item_id)));
	case DM_ENOTFOUND: return http_refuse(r, RF_ITEM_NOT_FOUND);
	case DM_EINVAL: return http_refuse(r, RF_ROOM_MISMATCH);
	case DM_EFORBID: return http_refuse(r, RF_NOT_OWNER);
	case DM_ECONFLICT: return http_refuse(r, RF_ITEM_NOT_DELETABLE);
	default: return http_fail_dm(r, rc);
	}
}

/* -------------------------------------------------------------- expiry */

typedef struct expire {
	int64_t ids[EXPIRE_BATCH];
	size_t n;
} expire_t;

/* Runs st (an UPDATE ... RETURNING itemId, bound) and collects up to
 * EXPIRE_BATCH ids into e. Gives st back. DM_OK or DM_ERR. */
static int collect_ids(sqlite3_stmt *st, expire_t *e)
{
	int rc;
	e->n = 0;
	if (!st)
		return DM_ERR;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (e->n < EXPIRE_BATCH)
			e->ids[e->n++] = sqlite3_column_int64(st, 0);
	db_done(st);
	return rc == SQLITE_DONE ? DM_OK : DM_ERR;
}

/* The deadline reminder: at most EXPIRE_BATCH open items whose deadline
 * is an hour away or less are marked reminded (saleItem.remindedYn: once
 * per item) and their owners get a "deadline" notification, in the same
 * transaction (so never twice, never lost). Collects their ids. */
static int remind_write(sqlite3 *w, void *arg)
{
	expire_t *e = arg;
	int rc = collect_ids(db_query(w, "UPDATE saleItem SET remindedYn = 'Y' WHERE itemId IN (SELECT itemId FROM saleItem"
					 " WHERE status = 'SI01' AND remindedYn = 'N' AND deadLine > ?1"
					 " AND deadLine <= ?1 + 3600000 LIMIT ?2) RETURNING itemId",
					 DB_INT(dm_now_ms()), DB_INT(EXPIRE_BATCH)),
			     e);
	for (size_t i = 0; rc == DM_OK && i < e->n; i++) {
		sqlite3_stmt *st = db_query(w, "SELECT s.userId, json_object('icrId',CAST(r.icrId AS TEXT),"
					    "'itemId',CAST(s.itemId AS TEXT),'title',s.title,'deadLine',dm_time(s.deadLine))"
					    " FROM saleItem s LEFT JOIN itemChatRoom r ON r.itemId = s.itemId WHERE s.itemId = ?1",
					    DB_INT(e->ids[i]));
		int64_t owner = 0;
		char *payload = NULL;
		if (st && sqlite3_step(st) == SQLITE_ROW) {
			owner = sqlite3_column_int64(st, 0);
			payload = strdup((const char *)sqlite3_column_text(st, 1));
		}
		db_done(st); /* notify_add runs statements of its own */
		if (owner && payload)
			notify_add(w, owner, NOTIFY_DEADLINE, payload, NULL);
		free(payload);
	}
	return rc;
}

/* Turns at most EXPIRE_BATCH open items whose deadline has passed into
 * SI03 (fail), oldest deadline first, collects their ids and stores each
 * owner's "expired" notice (notify_item_expired: once per item) in the
 * same transaction. */
static int expire_write(sqlite3 *w, void *arg)
{
	expire_t *e = arg;
	int rc = collect_ids(db_query(w, "UPDATE saleItem SET status = 'SI03', statusDt = dm_now() WHERE itemId IN"
					 " (SELECT itemId FROM saleItem WHERE status = 'SI01' AND deadLine <= dm_now()"
					 " ORDER BY deadLine LIMIT ?1) RETURNING itemId",
					 DB_INT(EXPIRE_BATCH)),
			     e);
	for (size_t i = 0; rc == DM_OK && i < e->n; i++)
		notify_item_expired(w, e->ids[i]);
	return rc;
}

/* Runs job (remind_write or expire_write) in batches until a batch comes
 * back short; what names the batches in the log. */
static void in_batches(int (*job)(sqlite3 *, void *), expire_t *e, const char *what)
{
	int rc;
	do {
		e->n = 0;
		rc = jobs_write(job, e);
		dm_assert(e->n <= EXPIRE_BATCH);
		if (rc == DM_OK && e->n)
			dm_info("item: %zu %s", e->n, what);
	} while (rc == DM_OK && e->n == EXPIRE_BATCH && !dm_stopping);
}

/* Timer task (pool worker): the deadline reminders, then the expiry. */
static void expiry_tick(void *unused)
{
	expire_t *e = malloc(sizeof *e);
	(void)unused;
	if (!e)
		return;
	in_batches(remind_write, e, "deadline reminder(s)");
	in_batches(expire_write, e, "item(s) expired");
	free(e);
}

/* -------------------------------------------------------------- routes */

static const http_route_t item_routes[] = {
	{"GET", "/mainPage/noLogin", h_feed_anon, HTTP_PUBLIC},
	{"GET", "/mainPage/search", h_search, HTTP_AUTH_OPT},
	{"POST", "/mainPage/write", item_post, HTTP_AUTH},
	{"GET", "/mainPage", h_feed, HTTP_AUTH},
	{"GET", "/postDetail/icrId/:icrId", h_buttons, HTTP_AUTH},
	{"GET", "/postDetail/:itemId", h_detail, HTTP_AUTH_OPT},
	{"GET", "/myPage", h_mypage, HTTP_AUTH},
	{"POST", "/myPage/address", h_address, HTTP_AUTH},
	{"DELETE", "/myPage/delete", h_delete, HTTP_AUTH},
	{"POST", "/items/:itemId/images", item_images_add, HTTP_AUTH},
	{"PUT", "/items/:itemId/images", item_images_order, HTTP_AUTH},
	{"DELETE", "/items/:itemId/images/:imageId", item_images_remove, HTTP_AUTH},
};

/* Checks at start that the list queries use the indexes (schema.sql's
 * saleItem_feed / saleItem_region / the FTS table) instead of scanning
 * saleItem: logs each plan at debug level and warns about a full scan.
 * Runs on this thread's reader. Returns the number of plans with a scan. */
static int check_plans(void)
{
	static const struct {
		const char *what;
		int flags;
	} plans[] = {
		{"feed", 0},
		{"feed-next", L_CURSOR},
		{"region", L_ADDR},
		{"region-next", L_ADDR | L_CURSOR},
		{"search", L_FTS},
		{"search-category", L_FTS | L_CAT},
		{"search-few", L_FTS_FEW},
		{"search-few-next", L_FTS_FEW | L_CURSOR | L_ADDR},
		{"region-free-blocks", L_ADDR | L_FREE | L_BLOCK},
	};
	sqlite3 *db = db_reader();
	int bad = 0;

	for (size_t i = 0; db && i < sizeof plans / sizeof plans[0]; i++) {
		char sql[LIST_SQL_MAX + 32], line[1024];
		size_t len = 0;
		int scan = 0;
		sqlite3_stmt *st;

		memcpy(sql, "EXPLAIN QUERY PLAN ", 19);
		if (!list_sql(plans[i].flags, sql + 19, sizeof sql - 19) || !(st = db_prep(db, sql)))
			continue;
		line[0] = 0;
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *d = (const char *)sqlite3_column_text(st, 3);
			if (!d)
				continue;
			if (!strcmp(d, "SCAN s") || !strncmp(d, "SCAN s ", 7) || !strcmp(d, "SCAN saleItem") ||
			    !strncmp(d, "SCAN saleItem ", 14))
				scan = 1;
			len += (size_t)snprintf(line + len, len < sizeof line ? sizeof line - len : 0, "%s%s",
						len ? " | " : "", d);
			if (len >= sizeof line)
				len = sizeof line - 1;
		}
		sqlite3_finalize(st);
		if (scan) {
			bad++;
			dm_warn("item: the %s query scans saleItem (missing index?): %s", plans[i].what, line);
		} else
			dm_debug("item: plan %s: %s", plans[i].what, line);
	}
	return bad;
}

int item_init(void)
{
	image_sweep_tmp();
	if (jobs_task(image_sweep_orphans, NULL) != DM_OK)
		dm_warn("item: cannot queue the sweep of orphan photos");
	check_plans();
	http_routes(item_routes, sizeof item_routes / sizeof item_routes[0]);
	if (jobs_timer("item-expiry", cfg.expiry_interval * 1000, expiry_tick, NULL) != DM_OK) {
		dm_error("item: cannot register the expiry timer");
		return DM_ERR;
	}
	return DM_OK;
}

void item_stop(void)
{
	feed_cache_clear();
	detail_cache_clear();
}
