/*
 * trust.c — trades, reviews, manner temperature, reports, suspension and
 * the operator's `dongmul user` command (see trust.h).
 *
 * Every check that decides a write (who may act, in which state) is made
 * again inside the write job on the writer connection, so two requests
 * racing each other cannot both pass.
 *
 * Thread-safety: no shared mutable state except last_recompute, which only
 * the (never concurrent) timer task touches.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "db.h"
#include "dm.h"
#include "http.h"
#include "jobs.h"
#include "live.h"
#include "notify.h"
#include "trust.h"

#define DAY_MS 86400000LL
#define TAGS_MAX 5
#define COMMENT_MAX 500
#define REASON_MAX 200
#define DETAIL_MAX 1000

/* Review tags a client may send (each 1–20 characters). */
static const char *const review_tags[] = {
	"시간약속", "친절", "상태좋음", "응답빠름", "설명일치", "매너좋음",
	"노쇼", "불친절", "시간지각", "상태불량", "응답느림", "설명불일치",
};
#define NTAGS (sizeof review_tags / sizeof review_tags[0])

static const char *const report_reasons[] = {"noshow", "breach", "abuse", "fraud", "other"};

/* ----------------------------------------------------- temperature */

/* The formula of trust.h as one SQL expression over the user row `user`
 * at time ?2 (ms). */
#define STR_(x) #x
#define STR(x) STR_(x)
#define WEIGHT_SQL(col) "pow(0.5, max(0, ?2 - " col ") / 86400000.0 / " STR(TRUST_HALF_LIFE_DAYS) ".0)"
#define WINDOW_SQL "?2 - " STR(TRUST_WINDOW_DAYS) " * 86400000"
#define TEMP_SQL                                                                                           \
	"max(0.0, min(99.0, round(" STR(TRUST_BASE_TEMP)                                                   \
	" + ifnull((SELECT sum(" WEIGHT_SQL("rv.createdDt") " * CASE rv.score WHEN 'good' THEN 0.5 ELSE -1.0 END)" \
	" FROM review rv WHERE rv.revieweeId = user.userId AND rv.createdDt >= " WINDOW_SQL "), 0)"         \
	" - ifnull((SELECT sum(2.0 * " WEIGHT_SQL("rp.createdDt") ")"                                      \
	" FROM report rp WHERE rp.reportedId = user.userId AND rp.upheldYn = 'Y'"                         \
	" AND rp.createdDt >= " WINDOW_SQL "), 0), 1)))"

int trust_recompute(sqlite3 *w, int64_t user_id, int64_t now_ms)
{
	const char *sql = user_id ? "UPDATE user SET mannerTemp = " TEMP_SQL " WHERE userId = ?1"
				  : "UPDATE user SET mannerTemp = " TEMP_SQL " WHERE ?1 = 0 AND (mannerTemp <> "
				    STR(TRUST_BASE_TEMP) " OR userId IN (SELECT revieweeId FROM review WHERE createdDt > "
				    WINDOW_SQL " - 86400000) OR userId IN (SELECT reportedId FROM report WHERE createdDt > "
				    WINDOW_SQL " - 86400000))";
	return db_run(w, sql, DB_INT(user_id), DB_INT(now_ms)) == DM_OK ? DM_OK : DM_ERR;
}

int trust_suspended(sqlite3 *db, int64_t user_id)
{
	int64_t s = 0;
	if (db_get_int(db, &s, "SELECT coalesce(suspendedUntil, 0) > ?2 FROM user WHERE userId = ?1", DB_INT(user_id),
		       DB_INT(dm_now_ms())) != DM_OK)
		return 0;
	return s != 0;
}

static int64_t last_recompute; /* timer task only */

static int recompute_all_job(sqlite3 *w, void *arg)
{
	(void)arg;
	return trust_recompute(w, 0, dm_now_ms());
}

/* Hourly tick; the recompute itself runs once a day (and at the first tick
 * after a start, to catch up after downtime). */
static void recompute_tick(void *unused)
{
	int64_t now = dm_now_ms();
	(void)unused;
	if (now - last_recompute < DAY_MS)
		return;
	if (jobs_write(recompute_all_job, NULL) == DM_OK)
		last_recompute = now;
}

/* --------------------------------------------------------- helpers */

/* The parties of an item, read on the writer inside a job. */
typedef struct parties {
	int64_t owner, buyer, icr_id;
	char status[8];
} parties_t;

/* DM_OK and *p, DM_ENOTFOUND (no item) or DM_ERR. */
static int read_parties(sqlite3 *w, int64_t item_id, parties_t *p)
{
	sqlite3_stmt *st = db_query(w, "SELECT s.userId, ifnull(s.buyerUserId, 0), s.status, ifnull(r.icrId, 0) "
				       "FROM saleItem s LEFT JOIN itemChatRoom r ON r.itemId = s.itemId WHERE s.itemId = ?1",
				    DB_INT(item_id));
	int rc = DM_ENOTFOUND;
	if (!st)
		return DM_ERR;
	if (sqlite3_step(st) == SQLITE_ROW) {
		p->owner = sqlite3_column_int64(st, 0);
		p->buyer = sqlite3_column_int64(st, 1);
		dm_strlcpy(p->status, (const char *)sqlite3_column_text(st, 2), sizeof p->status);
		p->icr_id = sqlite3_column_int64(st, 3);
		rc = DM_OK;
	}
	db_done(st);
	return rc;
}

/* Adds a notification of type for user_id (none when 0) whose payload is
 * the single JSON value sql yields with the arguments (DB_INT, DB_TEXT...,
 * as for db_query). */
#define notify_with(w, user_id, type, sql, ...) notify_with_((w), (user_id), (type), (sql), DB_ARGS_(__VA_ARGS__))
static void notify_with_(sqlite3 *w, int64_t user_id, const char *type, const char *sql, const db_arg_t *args, int n)
{
	sqlite3_stmt *st;
	if (!user_id)
		return;
	st = db_query_(w, sql, args, n);
	if (st && sqlite3_step(st) == SQLITE_ROW)
		notify_add(w, user_id, type, (const char *)sqlite3_column_text(st, 0), NULL);
	db_done(st);
}

/* What a write job refused, for the reply: set with verdict_refuse()
 * when the job returns a refusal; a job's error without one (DM_ERR, or a
 * status from the lane itself) is answered by its DM status. */
typedef struct verdict {
	int refused;
	refusal_t rf;
} verdict_t;

/* Records rf in v; returns status (the job's return value). */
static int verdict_refuse(verdict_t *v, refusal_t rf, int status)
{
	dm_assert(status != DM_OK && status != DM_ERR && rf < RF_COUNT);
	v->refused = 1;
	v->rf = rf;
	return status;
}

/* The reply to a write job that returned rc (not DM_OK). */
static int verdict_reply(http_req_t *r, const verdict_t *v, int rc)
{
	dm_assert(rc != DM_OK);
	return v->refused ? http_refuse(r, v->rf) : http_fail_dm(r, rc);
}

/* ------------------------------------------------------------ trades */

typedef struct trade {
	int64_t item_id, actor, owner;
	int complete;            /* 1: SI02 -> SI04; 0: SI02 -> SI05 */
	const char *reason;      /* cancel only */
	verdict_t no;            /* out: the refusal */
	int64_t icr_id, msg_id;  /* out: the TXT05 message */
	char *msg[2];            /* it as chat shows it: with the author's email, without */
} trade_t;

static int trade_job(sqlite3 *w, void *arg)
{
	trade_t *t = arg;
	parties_t p;
	int64_t now = dm_now_ms(), other;
	int rc, added = 0;

	if ((rc = read_parties(w, t->item_id, &p)) != DM_OK)
		return rc == DM_ENOTFOUND ? verdict_refuse(&t->no, RF_ITEM_NOT_FOUND, rc) : rc;
	if (t->actor != p.owner && (!p.buyer || t->actor != p.buyer))
		return verdict_refuse(&t->no, RF_NOT_A_PARTY, DM_EFORBID);
	if (strcmp(p.status, "SI02"))
		return verdict_refuse(&t->no, RF_TRADE_NOT_IN_PROGRESS, DM_ECONFLICT);
	rc = db_run(w, "UPDATE saleItem SET status = ?2, statusDt = ?3, cancelReason = ?4, cancelledBy = ?5 "
		       "WHERE itemId = ?1 AND status = 'SI02'",
		    DB_INT(t->item_id), DB_TEXT(t->complete ? "SI04" : "SI05"), DB_INT(now),
		    DB_TEXT(t->complete ? NULL : t->reason), t->complete ? DB_NULL : DB_INT(t->actor));
	if (rc != DM_OK)
		return rc;

	/* the event in the room, written by the actor */
	if (p.icr_id) {
		rc = db_run_changes(w, &added,
				    "INSERT INTO itemChatRoomUserMsg(icrId, userId, msgType, chatMsg, createdDt) "
				    "SELECT ?1, ?2, 'TXT05', CASE WHEN ?4 THEN nickname || '님이 교환을 완료했습니다.' "
				    "ELSE nickname || '님이 교환을 취소했습니다. (사유: ' || ?5 || ')' END, ?3 "
				    "FROM user WHERE userId = ?2",
				    DB_INT(p.icr_id), DB_INT(t->actor), DB_INT(now), DB_INT(t->complete),
				    DB_TEXT(t->reason ? t->reason : ""));
		if (rc != DM_OK)
			return rc;
		if (added != 1)
			return DM_ERR;
		t->icr_id = p.icr_id;
		t->msg_id = sqlite3_last_insert_rowid(w);
		t->owner = p.owner;
		/* as the room will see it (live delivery is best effort) */
		live_msg_views(w, t->msg_id, &t->msg[0], &t->msg[1], NULL);
	}

	other = t->actor == p.owner ? p.buyer : p.owner;
	notify_with(w, other, t->complete ? NOTIFY_TRADE_DONE : NOTIFY_TRADE_CANCELLED,
		    "SELECT json_object('itemId',CAST(s.itemId AS TEXT),'icrId',(SELECT CAST(icrId AS TEXT) FROM "
		    "itemChatRoom WHERE itemId = s.itemId),'title',s.title,'byUserId',CAST(u.userId AS TEXT),"
		    "'byNickname',u.nickname,'reason',s.cancelReason) "
		    "FROM saleItem s JOIN user u ON u.userId = ?2 WHERE s.itemId = ?1",
		    DB_INT(t->item_id), DB_INT(t->actor));
	return DM_OK;
}

/* After the commit, on the lane (so the room sees it in commit order). */
static void trade_done(void *arg, int status)
{
	trade_t *t = arg;
	if (status == DM_OK && t->msg[0] && t->msg[1])
		live_room_msg(t->icr_id, t->owner, t->actor, t->msg[0], t->msg[1]);
}

/* POST /trade/:itemId/complete and /cancel {reason}. */
static int trade(http_req_t *r, int complete)
{
	trade_t t;
	int rc;

	memset(&t, 0, sizeof t);
	if ((t.item_id = dm_parse_id(r->param[0])) == 0)
		return http_refuse(r, RF_ITEM_NOT_FOUND);
	t.actor = r->user_id;
	t.complete = complete;
	if (!complete) {
		if (http_json(r) != DM_OK)
			return DM_OK;
		t.reason = json_str(&r->json, "reason", 1, REASON_MAX);
		if (!t.reason)
			return http_refuse(r, RF_INVALID_CANCEL_REASON);
	}
	rc = jobs_write_then(trade_job, trade_done, &t);
	free(t.msg[0]);
	free(t.msg[1]);
	if (rc != DM_OK)
		return verdict_reply(r, &t.no, rc);
	return http_reply_stmt(r, 200,
			       db_query(r->db, "SELECT json_object('msg','success','itemId',CAST(s.itemId AS TEXT),"
					       "'status',c.codeName,'statusCode',s.status,'cancelReason',s.cancelReason) "
					       "FROM saleItem s JOIN code c ON c.codeId = s.status WHERE s.itemId = ?1",
					DB_INT(t.item_id)));
}

static int h_complete(http_req_t *r)
{
	return trade(r, 1);
}

static int h_cancel(http_req_t *r)
{
	return trade(r, 0);
}

/* ----------------------------------------------------------- reviews */

typedef struct review {
	int64_t item_id, actor, reviewee, review_id;
	const char *score, *tags, *comment;
	verdict_t no;  /* out: the refusal */
} review_t;

static int review_job(sqlite3 *w, void *arg)
{
	review_t *v = arg;
	parties_t p;
	int64_t now = dm_now_ms();
	int rc;

	if ((rc = read_parties(w, v->item_id, &p)) != DM_OK)
		return rc == DM_ENOTFOUND ? verdict_refuse(&v->no, RF_ITEM_NOT_FOUND, rc) : rc;
	if (v->actor != p.owner && (!p.buyer || v->actor != p.buyer))
		return verdict_refuse(&v->no, RF_NOT_A_PARTY, DM_EFORBID);
	if (strcmp(p.status, "SI04") && strcmp(p.status, "SI05"))
		return verdict_refuse(&v->no, RF_TRADE_NOT_FINISHED, DM_ECONFLICT);
	v->reviewee = v->actor == p.owner ? p.buyer : p.owner;
	rc = db_run(w, "INSERT INTO review(itemId, reviewerId, revieweeId, score, tags, comment, createdDt) "
		       "VALUES (?1, ?2, ?3, ?4, json(?5), ?6, ?7)",
		    DB_INT(v->item_id), DB_INT(v->actor), DB_INT(v->reviewee), DB_TEXT(v->score),
		    DB_TEXT(v->tags ? v->tags : "[]"), DB_TEXT(v->comment && v->comment[0] ? v->comment : NULL), DB_INT(now));
	if (rc != DM_OK)
		return rc == DM_ECONFLICT ? verdict_refuse(&v->no, RF_ALREADY_REVIEWED, rc) : rc;
	v->review_id = sqlite3_last_insert_rowid(w);
	if ((rc = trust_recompute(w, v->reviewee, now)) != DM_OK)
		return rc;
	notify_with(w, v->reviewee, NOTIFY_REVIEW,
		    "SELECT json_object('itemId',CAST(s.itemId AS TEXT),'title',s.title,'reviewId',CAST(?3 AS TEXT),"
		    "'score',(SELECT score FROM review WHERE reviewId = ?3),"
		    "'fromUserId',CAST(u.userId AS TEXT),'fromNickname',u.nickname) "
		    "FROM saleItem s JOIN user u ON u.userId = ?2 WHERE s.itemId = ?1",
		    DB_INT(v->item_id), DB_INT(v->actor), DB_INT(v->review_id));
	return DM_OK;
}

/* tags: a JSON array of at most TAGS_MAX distinct strings from
 * review_tags. 1/0. */
static int tags_ok(sqlite3 *db, const char *arr)
{
	sqlite3_stmt *st = db_query(db, "SELECT type, value FROM json_each(?1)", DB_TEXT(arr));
	const char *seen[TAGS_MAX];
	int n = 0, ok = 1;

	if (!st)
		return 0;
	while (ok && sqlite3_step(st) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(st, 0);
		const char *val = (const char *)sqlite3_column_text(st, 1);
		const char *known = NULL;
		if (n == TAGS_MAX || !type || strcmp(type, "text") || !val) {
			ok = 0;
			break;
		}
		for (size_t i = 0; i < NTAGS; i++)
			if (!strcmp(review_tags[i], val))
				known = review_tags[i];
		for (int i = 0; known && i < n; i++)
			if (seen[i] == known)
				known = NULL;
		if (!known)
			ok = 0;
		else
			seen[n++] = known;
	}
	db_done(st);
	return ok;
}

/* POST /trade/:itemId/review {score, tags?, comment?} */
static int h_review(http_req_t *r)
{
	review_t v;
	const json_field_t *f;
	int rc;

	memset(&v, 0, sizeof v);
	if ((v.item_id = dm_parse_id(r->param[0])) == 0)
		return http_refuse(r, RF_ITEM_NOT_FOUND);
	if (http_json(r) != DM_OK)
		return DM_OK;
	v.actor = r->user_id;
	v.score = json_str(&r->json, "score", 3, 4);
	if (!v.score || (strcmp(v.score, "good") && strcmp(v.score, "bad")))
		return http_refuse(r, RF_INVALID_SCORE);
	f = json_get(&r->json, "tags");
	if (f && f->type != JSON_NULL) {
		if (f->type != JSON_ARRAY || !tags_ok(r->db, f->text))
			return http_refuse(r, RF_INVALID_TAGS);
		v.tags = f->text;
	}
	f = json_get(&r->json, "comment");
	if (f && f->type != JSON_NULL) {
		v.comment = json_str(&r->json, "comment", 0, COMMENT_MAX);
		if (!v.comment)
			return http_refuse(r, RF_INVALID_COMMENT);
	}
	rc = jobs_write(review_job, &v);
	if (rc != DM_OK)
		return verdict_reply(r, &v.no, rc);
	return http_reply_stmt(r, 201,
			       db_query(r->db, "SELECT json_object('msg','success','reviewId',CAST(rv.reviewId AS TEXT),"
					       "'revieweeUserId',CAST(rv.revieweeId AS TEXT),'score',rv.score,'tags',json(rv.tags),"
					       "'comment',rv.comment,'mannerTemp',u.mannerTemp) "
					       "FROM review rv JOIN user u ON u.userId = rv.revieweeId WHERE rv.reviewId = ?1",
					DB_INT(v.review_id)));
}

/* ------------------------------------------------------------- users */

/* GET /users/:userId: the public profile. The caller's own profile also
 * shows the suspension. */
static int h_user(http_req_t *r)
{
	int64_t uid;
	sqlite3_stmt *st;

	if ((uid = dm_parse_id(r->param[0])) == 0)
		return http_refuse(r, RF_USER_NOT_FOUND);
	st = db_query(r->db,
		     "SELECT json_object('msg','success','userId',CAST(u.userId AS TEXT),'nickname',u.nickname,"
		     "'address',u.address,'mannerTemp',u.mannerTemp,"
		     "'tradeCount',(SELECT count(*) FROM saleItem WHERE status = 'SI04' AND "
		     "(userId = u.userId OR buyerUserId = u.userId)),"
		     "'reviews',json_object("
		     "'good',(SELECT count(*) FROM review WHERE revieweeId = u.userId AND score = 'good'),"
		     "'bad',(SELECT count(*) FROM review WHERE revieweeId = u.userId AND score = 'bad'),"
		     "'tags',(SELECT json_group_object(tag, c) FROM (SELECT j.value AS tag, count(*) AS c "
		     "FROM review rv, json_each(rv.tags) j WHERE rv.revieweeId = u.userId GROUP BY j.value "
		     "ORDER BY c DESC, tag)),"
		     "'recent',(SELECT json_group_array(json(o)) FROM (SELECT json_object('score',rv.score,"
		     "'tags',json(rv.tags),'comment',rv.comment,'createdDt',dm_time(rv.createdDt),"
		     "'reviewerUserId',CAST(rv.reviewerId AS TEXT),'reviewerNickname',ru.nickname) AS o "
		     "FROM review rv JOIN user ru ON ru.userId = rv.reviewerId WHERE rv.revieweeId = u.userId "
		     "ORDER BY rv.createdDt DESC, rv.reviewId DESC LIMIT 10))),"
		     "'suspendedUntil',CASE WHEN u.userId = ?2 AND u.suspendedUntil > ?3 "
		     "THEN dm_time(u.suspendedUntil) END) "
		     "FROM user u WHERE u.userId = ?1",
		     DB_INT(uid), DB_INT(r->user_id), DB_INT(dm_now_ms()));
	if (!st)
		return http_fail_dm(r, DM_ERR);
	if (sqlite3_step(st) != SQLITE_ROW) {
		db_done(st);
		return http_refuse(r, RF_USER_NOT_FOUND);
	}
	sqlite3_reset(st);
	return http_reply_stmt(r, 200, st);
}

/* ----------------------------------------------------------- reports */

typedef struct report {
	int64_t reporter, reported, item_id, report_id;
	int64_t msg_id;           /* a reported chat message, else 0 */
	const char *reason, *detail;
	verdict_t no;             /* out: the refusal */
	int duplicate, suspended;
	int counts;               /* out: the report counts (see report_counts) */
} report_t;

/*
 * Whether a new report counts toward suspension (and the temperature):
 * only when the reporter's account has existed for --report-min-age days
 * and the two users have dealt with each other — a trade between them, or
 * a room both were in (as its owner, a member, or a member kicked out).
 * So a handful of fresh accounts cannot suspend a stranger. A report that
 * does not count is stored all the same (upheldYn 'U') for the operator,
 * who sees it in `dongmul user show`. Runs on the writer. 1, 0, or DM_ERR.
 */
static int report_counts(sqlite3 *w, int64_t reporter, int64_t reported, int64_t now)
{
#define ROOMS_OF(u)                                                                                       \
	"SELECT icrId FROM itemChatRoomUser WHERE userId = " u " UNION SELECT icrId FROM kickUser WHERE userId = " u \
	" UNION SELECT r.icrId FROM itemChatRoom r JOIN saleItem s ON s.itemId = r.itemId WHERE s.userId = " u
	int64_t counts = 0;
	int rc = db_get_int(w, &counts,
			    "WITH a(icrId) AS (" ROOMS_OF("?1") "), b(icrId) AS (" ROOMS_OF("?2") ") "
			    "SELECT coalesce((SELECT createdDt FROM user WHERE userId = ?1) <= ?3 - ?4, 0) AND "
			    "(EXISTS (SELECT 1 FROM saleItem WHERE (userId = ?1 AND buyerUserId = ?2) "
			    "OR (userId = ?2 AND buyerUserId = ?1)) "
			    "OR EXISTS (SELECT 1 FROM a JOIN b USING (icrId)))",
			    DB_INT(reporter), DB_INT(reported), DB_INT(now), DB_INT((int64_t)cfg.report_min_age * DAY_MS));
#undef ROOMS_OF
	return rc == DM_OK ? counts == 1 : DM_ERR;
}

/* Suspends user_id until now + days (replacing any suspension) and
 * notifies them. reason is stored for the operator and shown to them. */
int trust_suspend(sqlite3 *w, int64_t user_id, int64_t now, int days, const char *reason)
{
	char until[32];
	int rc = db_run(w, "UPDATE user SET suspendedUntil = ?2, suspendReason = ?3 WHERE userId = ?1", DB_INT(user_id),
			DB_INT(now + days * DAY_MS), DB_TEXT(reason));

	if (rc != DM_OK)
		return rc;
	dm_fmt_time(now + days * DAY_MS, until);
	notify_with(w, user_id, NOTIFY_SUSPENDED, "SELECT json_object('until',?1,'reason',?2)", DB_TEXT(until),
		    DB_TEXT(reason));
	return DM_OK;
}

/*
 * A message report: the message must be a chat message (TXT01) of a room
 * the reporter is in now (not kicked, not left) and shown to them (after
 * they joined), written by someone else, and not reported by them before.
 * Sets q->reported and q->item_id from the message. DM_OK, or a refusal
 * in q->no: DM_ENOTFOUND, DM_EFORBID, DM_EINVAL, DM_ECONFLICT; DM_ERR.
 */
static int msg_report_check(sqlite3 *w, report_t *q)
{
	sqlite3_stmt *st = db_query(w, "SELECT m.userId, m.msgType = 'TXT01', r.itemId, "
				      "(SELECT m.icruMsgId > cu.joinedMsgId FROM itemChatRoomUser cu "
				      " WHERE cu.icrId = m.icrId AND cu.userId = ?2) AND NOT EXISTS (SELECT 1 FROM kickUser k "
				      " WHERE k.icrId = m.icrId AND k.userId = ?2), "
				      "EXISTS (SELECT 1 FROM report WHERE reporterId = ?2 AND icruMsgId = ?1) "
				      "FROM itemChatRoomUserMsg m JOIN itemChatRoom r ON r.icrId = m.icrId WHERE m.icruMsgId = ?1",
				    DB_INT(q->msg_id), DB_INT(q->reporter));
	int rc;
	if (!st)
		return DM_ERR;
	if (sqlite3_step(st) != SQLITE_ROW)
		rc = verdict_refuse(&q->no, RF_MESSAGE_NOT_FOUND, DM_ENOTFOUND);
	else if (sqlite3_column_int(st, 3) != 1)
		rc = verdict_refuse(&q->no, RF_NOT_A_MEMBER, DM_EFORBID);
	else if (!sqlite3_column_int(st, 1))
		rc = verdict_refuse(&q->no, RF_NOT_A_CHAT_MESSAGE, DM_EINVAL);
	else if (sqlite3_column_int64(st, 0) == q->reporter)
		rc = verdict_refuse(&q->no, RF_CANNOT_REPORT_SELF, DM_EINVAL);
	else if (sqlite3_column_int(st, 4))
		rc = verdict_refuse(&q->no, RF_ALREADY_REPORTED, DM_ECONFLICT);
	else {
		q->reported = sqlite3_column_int64(st, 0);
		q->item_id = sqlite3_column_int64(st, 2);
		rc = DM_OK;
	}
	db_done(st);
	return rc;
}

static int report_job(sqlite3 *w, void *arg)
{
	report_t *q = arg;
	int64_t now = dm_now_ms(), until = 0, reporters = 0;
	int rc, counted_before = 0;

	if (q->msg_id && (rc = msg_report_check(w, q)) != DM_OK)
		return rc;
	rc = db_get_int(w, &until, "SELECT coalesce(suspendedUntil, 0) FROM user WHERE userId = ?1", DB_INT(q->reported));
	if (rc != DM_OK)
		return rc == DM_ENOTFOUND ? verdict_refuse(&q->no, RF_USER_NOT_FOUND, rc) : rc;

	/* one report per reporter and reported user within the window */
	rc = db_get_int(w, &q->report_id,
			"SELECT reportId FROM report WHERE reporterId = ?1 AND reportedId = ?2 AND createdDt > ?3 "
			"ORDER BY reportId LIMIT 1",
			DB_INT(q->reporter), DB_INT(q->reported), DB_INT(now - TRUST_REPORT_DAYS * DAY_MS));
	if (rc == DM_ERR)
		return rc;
	q->duplicate = rc == DM_OK;
	/* a message report is always stored (the operator sees each message),
	 * but counts only where a user report would: once per reporter and
	 * reported user within the window */
	if (q->duplicate && !q->msg_id)
		return DM_OK;
	counted_before = q->duplicate;
	q->duplicate = 0;

	q->counts = counted_before ? 0 : report_counts(w, q->reporter, q->reported, now);
	if (q->counts < 0)
		return DM_ERR;
	rc = db_run(w, "INSERT INTO report(reporterId, reportedId, itemId, reason, detail, createdDt, upheldYn, icruMsgId) "
		       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
		    DB_INT(q->reporter), DB_INT(q->reported), q->item_id ? DB_INT(q->item_id) : DB_NULL,
		    DB_TEXT(q->reason), DB_TEXT(q->detail && q->detail[0] ? q->detail : NULL), DB_INT(now),
		    DB_TEXT(q->counts ? "Y" : "U"), q->msg_id ? DB_INT(q->msg_id) : DB_NULL);
	if (rc != DM_OK) /* a conflict: a racing twin */
		return rc == DM_ECONFLICT ? verdict_refuse(&q->no, RF_ALREADY_REPORTED, rc) : rc;
	q->report_id = sqlite3_last_insert_rowid(w);
	if (!q->counts && counted_before)
		return DM_OK;
	if (!q->counts) {
		dm_info("trust: report %lld of user %lld by user %lld stored, not counted (reporter's account under "
			"%d days old, or no room or trade shared)", (long long)q->report_id, (long long)q->reported,
			(long long)q->reporter, cfg.report_min_age);
		return DM_OK;
	}
	if ((rc = trust_recompute(w, q->reported, now)) != DM_OK)
		return rc;

	if (db_get_int(w, &reporters, "SELECT count(DISTINCT reporterId) FROM report WHERE reportedId = ?1 "
				      "AND upheldYn = 'Y' AND createdDt > ?2",
		       DB_INT(q->reported), DB_INT(now - TRUST_REPORT_DAYS * DAY_MS)) != DM_OK)
		return DM_ERR;
	if (reporters > cfg.report_threshold && until <= now) {
		if ((rc = trust_suspend(w, q->reported, now, cfg.suspend_days, "신고 누적")) != DM_OK)
			return rc;
		q->suspended = 1;
		dm_info("trust: user %lld suspended for %d days (%d reporters in %d days)", (long long)q->reported,
			cfg.suspend_days, (int)reporters, TRUST_REPORT_DAYS);
	}
	return DM_OK;
}

/* POST /reports {userId, itemId?, reason, detail?} or
 * {icruMsgId, reason, detail?} (a chat message: its author and item). */
static int h_report(http_req_t *r)
{
	report_t q;
	const json_field_t *f;
	int64_t found = 0;
	int rc, known = 0;

	if (http_json(r) != DM_OK)
		return DM_OK;
	memset(&q, 0, sizeof q);
	q.reporter = r->user_id;
	f = json_get(&r->json, "icruMsgId");
	if (f && f->type != JSON_NULL &&
	    (json_int(&r->json, "icruMsgId", 1, &q.msg_id) != DM_OK || q.msg_id <= 0))
		return http_refuse(r, RF_INVALID_MSG_ID);
	if (q.msg_id && (json_get(&r->json, "userId") || json_get(&r->json, "itemId")))
		return http_refuse(r, RF_MSG_REPORT_EXTRA_FIELDS);
	if (!q.msg_id && (json_int(&r->json, "userId", 1, &q.reported) != DM_OK || q.reported <= 0))
		return http_refuse(r, RF_REPORT_USER_REQUIRED);
	if (!q.msg_id && q.reported == q.reporter)
		return http_refuse(r, RF_CANNOT_REPORT_SELF);
	q.reason = json_str(&r->json, "reason", 1, 10);
	for (size_t i = 0; q.reason && i < sizeof report_reasons / sizeof report_reasons[0]; i++)
		known |= !strcmp(q.reason, report_reasons[i]);
	if (!known)
		return http_refuse(r, RF_INVALID_REASON);
	f = json_get(&r->json, "detail");
	if (f && f->type != JSON_NULL) {
		q.detail = json_str(&r->json, "detail", 0, DETAIL_MAX);
		if (!q.detail)
			return http_refuse(r, RF_INVALID_DETAIL);
	}
	f = json_get(&r->json, "itemId");
	if (f && f->type != JSON_NULL) {
		if (json_int(&r->json, "itemId", 1, &q.item_id) != DM_OK || q.item_id <= 0)
			return http_refuse(r, RF_INVALID_ITEM);
		if (db_get_int(r->db, &found, "SELECT count(*) FROM saleItem WHERE itemId = ?1", DB_INT(q.item_id)) !=
			    DM_OK ||
		    !found)
			return http_refuse(r, RF_ITEM_NOT_FOUND);
	}
	rc = jobs_write(report_job, &q);
	if (rc != DM_OK)
		return verdict_reply(r, &q.no, rc);
	return http_reply_stmt(r, q.duplicate ? 200 : 201,
			       db_query(r->db, "SELECT json_object('msg','success','reportId',CAST(?1 AS TEXT),"
					       "'duplicate',json(CASE WHEN ?2 THEN 'true' ELSE 'false' END))",
					DB_INT(q.report_id), DB_INT(q.duplicate)));
}

static const http_route_t trust_routes[] = {
	{"POST", "/trade/:itemId/complete", h_complete, HTTP_AUTH},
	{"POST", "/trade/:itemId/cancel", h_cancel, HTTP_AUTH},
	{"POST", "/trade/:itemId/review", h_review, HTTP_AUTH},
	{"GET", "/users/:userId", h_user, HTTP_AUTH_OPT},
	{"POST", "/reports", h_report, HTTP_AUTH},
};

int trust_init(void)
{
	http_routes(trust_routes, sizeof trust_routes / sizeof trust_routes[0]);
	return jobs_timer("manner", 3600 * 1000, recompute_tick, NULL);
}

void trust_stop(void)
{
}

/* --------------------------------------------------- operator command */

static void cmd_usage(FILE *out)
{
	fprintf(out, "usage: dongmul user show EMAIL [--data DIR]\n"
		     "       dongmul user suspend EMAIL --days N [--reason TEXT] [--data DIR]\n"
		     "       dongmul user unsuspend EMAIL [--dismiss-reports] [--data DIR]\n"
		     "       dongmul user admin [--revoke] EMAIL [--data DIR]   (the operator role: /admin)\n"
		     "--data defaults to $DONGMUL_DATA or ./dongmul-data; --tz (or $DONGMUL_TZ) sets the\n"
		     "offset times are shown in (default +09:00). Works while the server runs.\n");
}

typedef struct cmd {
	const char *verb, *email, *data, *reason;
	int days, dismiss, revoke;
} cmd_t;

/* Parses argv (after "user"). DM_OK or DM_EINVAL (message printed). */
static int cmd_parse(int argc, char **argv, cmd_t *c)
{
	const char *tz = getenv("DONGMUL_TZ");
	int tzmin = 540;

	memset(c, 0, sizeof *c);
	c->data = getenv("DONGMUL_DATA");
	if (!c->data || !c->data[0])
		c->data = "./dongmul-data";
	c->reason = "운영자 조치";
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		const char *eq = strncmp(a, "--", 2) ? NULL : strchr(a, '=');
		char name[32];
		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			return DM_EINVAL;
		if (strncmp(a, "--", 2)) {
			if (!c->verb)
				c->verb = a;
			else if (!c->email)
				c->email = a;
			else {
				fprintf(stderr, "dongmul user: unexpected argument '%s'\n", a);
				return DM_EINVAL;
			}
			continue;
		}
		if (dm_snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - a) : (int)strlen(a), a) != DM_OK) {
			fprintf(stderr, "dongmul user: unknown flag '%s'\n", a);
			return DM_EINVAL;
		}
		if (!strcmp(name, "--dismiss-reports")) {
			c->dismiss = 1;
			continue;
		}
		if (!strcmp(name, "--revoke")) {
			c->revoke = 1;
			continue;
		}
		if (strcmp(name, "--data") && strcmp(name, "--days") && strcmp(name, "--reason") && strcmp(name, "--tz")) {
			fprintf(stderr, "dongmul user: unknown flag '%s'\n", a);
			return DM_EINVAL;
		}
		if (eq)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else {
			fprintf(stderr, "dongmul user: %s needs a value\n", name);
			return DM_EINVAL;
		}
		if (!strcmp(name, "--data"))
			c->data = val;
		else if (!strcmp(name, "--reason"))
			c->reason = val;
		else if (!strcmp(name, "--tz"))
			tz = val;
		else {
			char *end;
			long d;
			errno = 0;
			d = strtol(val, &end, 10);
			if (errno || end == val || *end || d < 1 || d > 3650) {
				fprintf(stderr, "dongmul user: --days: expected a whole number from 1 to 3650, got '%s'\n",
					val);
				return DM_EINVAL;
			}
			c->days = (int)d;
		}
	}
	if (tz && tz[0] && cfg_parse_tz(tz, &tzmin) != DM_OK) {
		fprintf(stderr, "dongmul user: --tz: expected an offset like +09:00, got '%s'\n", tz);
		return DM_EINVAL;
	}
	dm_tz_offset_min = tzmin;
	if (!c->verb || !c->email) {
		fprintf(stderr, "dongmul user: give a command and an email\n");
		return DM_EINVAL;
	}
	if (strcmp(c->verb, "show") && strcmp(c->verb, "suspend") && strcmp(c->verb, "unsuspend") &&
	    strcmp(c->verb, "admin")) {
		fprintf(stderr, "dongmul user: unknown command '%s'\n", c->verb);
		return DM_EINVAL;
	}
	if (!strcmp(c->verb, "suspend") && !c->days) {
		fprintf(stderr, "dongmul user suspend: --days N is required\n");
		return DM_EINVAL;
	}
	if (strcmp(c->verb, "suspend") && c->days) {
		fprintf(stderr, "dongmul user %s: --days applies to suspend only\n", c->verb);
		return DM_EINVAL;
	}
	if (strcmp(c->verb, "admin") && c->revoke) {
		fprintf(stderr, "dongmul user %s: --revoke applies to admin only\n", c->verb);
		return DM_EINVAL;
	}
	if (strcmp(c->verb, "unsuspend") && c->dismiss) {
		fprintf(stderr, "dongmul user %s: --dismiss-reports applies to unsuspend only\n", c->verb);
		return DM_EINVAL;
	}
	if (!dm_utf8_valid(c->reason, strlen(c->reason)) || dm_utf8_len(c->reason, strlen(c->reason)) > REASON_MAX ||
	    !c->reason[0]) {
		fprintf(stderr, "dongmul user: --reason: 1 to 200 characters of UTF-8\n");
		return DM_EINVAL;
	}
	return DM_OK;
}

/* Lists the reports of uid in the last 30 days, each with whether it
 * counts: "counted", "not counted" (stored only: see report_counts) or
 * "dismissed" (by the operator). DM_OK or DM_ERR. */
static int show_reports(sqlite3 *db, int64_t uid, int64_t now)
{
	sqlite3_stmt *st = db_query(db, "SELECT r.createdDt, u.email, r.reporterId, r.reason, "
					"CASE r.upheldYn WHEN 'Y' THEN 'counted' WHEN 'U' THEN 'not counted' "
					"ELSE 'dismissed' END FROM report r JOIN user u ON u.userId = r.reporterId "
					"WHERE r.reportedId = ?1 AND r.createdDt > ?2 ORDER BY r.reportId",
				    DB_INT(uid), DB_INT(now - TRUST_REPORT_DAYS * DAY_MS));
	char t[32];
	if (!st)
		return DM_ERR;
	while (sqlite3_step(st) == SQLITE_ROW)
		printf("  report %s  by %s (userId %lld)  %s  %s\n", dm_fmt_time(sqlite3_column_int64(st, 0), t),
		       sqlite3_column_text(st, 1), (long long)sqlite3_column_int64(st, 2), sqlite3_column_text(st, 3),
		       sqlite3_column_text(st, 4));
	db_done(st);
	return DM_OK;
}

/* Prints the user's state. DM_OK, or DM_ENOTFOUND. */
static int cmd_show(sqlite3 *db, int64_t uid)
{
	sqlite3_stmt *st;
	int64_t now = dm_now_ms();
	char t[32];
	int rc = DM_ENOTFOUND;

	st = db_query(db, "SELECT email, nickname, mannerTemp, coalesce(suspendedUntil, 0), suspendReason, "
			 "(SELECT count(*) FROM report WHERE reportedId = u.userId AND createdDt > ?2), "
			 "(SELECT count(DISTINCT reporterId) FROM report WHERE reportedId = u.userId AND upheldYn = 'Y' "
			 "AND createdDt > ?2), "
			 "(SELECT count(*) FROM saleItem WHERE status = 'SI04' AND (userId = u.userId OR buyerUserId = u.userId)), "
			 "adminYn = 'Y' FROM user u WHERE userId = ?1",
		      DB_INT(uid), DB_INT(now - TRUST_REPORT_DAYS * DAY_MS));
	if (!st)
		return DM_ERR;
	if (sqlite3_step(st) == SQLITE_ROW) {
		int64_t until = sqlite3_column_int64(st, 3);
		printf("email:            %s\n", sqlite3_column_text(st, 0));
		printf("nickname:         %s\n", sqlite3_column_text(st, 1));
		printf("userId:           %lld\n", (long long)uid);
		printf("mannerTemp:       %.1f\n", sqlite3_column_double(st, 2));
		printf("operator:         %s\n", sqlite3_column_int(st, 8) ? "yes" : "no");
		if (until > now)
			printf("suspendedUntil:   %s (%s)\n", dm_fmt_time(until, t),
			       sqlite3_column_text(st, 4) ? (const char *)sqlite3_column_text(st, 4) : "");
		else
			printf("suspendedUntil:   not suspended\n");
		printf("reports (30 d):   %d (%d distinct upheld reporters)\n", sqlite3_column_int(st, 5),
		       sqlite3_column_int(st, 6));
		printf("trades completed: %d\n", sqlite3_column_int(st, 7));
		rc = DM_OK;
	}
	db_done(st);
	if (rc == DM_OK)
		rc = show_reports(db, uid, now);
	return rc;
}

int trust_user_cmd(int argc, char **argv)
{
	cmd_t c;
	char path[1100];
	sqlite3 *db = NULL;
	int64_t uid = 0, version = 0, now = dm_now_ms();
	int status = 1, in_tx = 0, dismissed = 0;

	if (cmd_parse(argc, argv, &c) != DM_OK) {
		cmd_usage(stderr);
		return 2;
	}
	if (dm_snprintf(path, sizeof path, "%s/dongmul.db", c.data) != DM_OK || access(path, F_OK) != 0) {
		fprintf(stderr, "dongmul user: no database at %s (give --data DIR)\n", path);
		return 2;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		fprintf(stderr, "dongmul user: cannot open %s: %s\n", path, db ? sqlite3_errmsg(db) : "out of memory");
		goto done;
	}
	sqlite3_busy_timeout(db, 10000);
	if (db_exec(db, "PRAGMA foreign_keys=ON") != DM_OK)
		goto done;
	if (db_get_int(db, &version, "PRAGMA user_version") != DM_OK || version < 1) {
		fprintf(stderr, "dongmul user: %s is not a dongmul database\n", path);
		goto done;
	}
	/* the command reads and writes user.adminYn (schema 2) */
	if (version < 2) {
		fprintf(stderr, "dongmul user: %s is from an older dongmul; start `dongmul serve` on it once to "
				"upgrade it\n", path);
		goto done;
	}
	/* one transaction: the lookup and the change see the same state */
	if (db_exec(db, "BEGIN IMMEDIATE") != DM_OK)
		goto done;
	in_tx = 1;
	if (db_get_int(db, &uid, "SELECT userId FROM user WHERE email = ?1", DB_TEXT(c.email)) != DM_OK) {
		fprintf(stderr, "dongmul user: no user with email %s\n", c.email);
		goto done;
	}
	if (!strcmp(c.verb, "suspend")) {
		if (trust_suspend(db, uid, now, c.days, c.reason) != DM_OK)
			goto done;
		printf("suspended %s for %d day%s\n", c.email, c.days, c.days == 1 ? "" : "s");
	} else if (!strcmp(c.verb, "unsuspend")) {
		if (db_run(db, "UPDATE user SET suspendedUntil = NULL, suspendReason = NULL WHERE userId = ?1",
			   DB_INT(uid)) != DM_OK)
			goto done;
		if (c.dismiss) {
			if (db_run_changes(db, &dismissed,
					   "UPDATE report SET upheldYn = 'N' WHERE reportedId = ?1 AND upheldYn = 'Y' "
					   "AND createdDt > ?2",
					   DB_INT(uid), DB_INT(now - TRUST_REPORT_DAYS * DAY_MS)) != DM_OK)
				goto done;
			printf("dismissed %d report%s\n", dismissed, dismissed == 1 ? "" : "s");
			if (trust_recompute(db, uid, now) != DM_OK)
				goto done;
		}
		printf("unsuspended %s\n", c.email);
	} else if (!strcmp(c.verb, "admin")) {
		if (db_run(db, "UPDATE user SET adminYn = ?2 WHERE userId = ?1", DB_INT(uid),
			   DB_TEXT(c.revoke ? "N" : "Y")) != DM_OK)
			goto done;
		printf("%s %s\n", c.email, c.revoke ? "is no longer an operator" : "is now an operator");
	}
	if (db_exec(db, "COMMIT") != DM_OK)
		goto done;
	in_tx = 0;
	if (cmd_show(db, uid) != DM_OK)
		goto done;
	status = 0;
done:
	if (in_tx)
		db_exec(db, "ROLLBACK");
	/* suspend stored a notification: its live delivery is the server's
	 * (db_close_conn finalizes the statements cached on db) */
	notify_stop();
	db_close_conn(db);
	return status;
}
