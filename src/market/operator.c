/*
 * operator.c — the operator's API for the web app's /admin pages: the
 * reports queue, suspend / unsuspend / dismiss with a reason, user lookup
 * and live counts. Prefix: operator_.
 *
 * Every route is under /operator/ (not an app path), needs a verified
 * bearer token (401 otherwise) and the operator role, user.adminYn = 'Y',
 * granted with `dongmul user admin EMAIL` (403 NOT_ADMIN otherwise). The
 * role is read from the database on every request, so a revoke applies at
 * once. Every action is recorded in operatorLog with its reason; the open
 * reports it settles leave the queue (report.handledDt).
 *
 * Thread-safety: handlers read on their worker's reader and write through
 * the write lane; nothing is shared.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "dm.h"
#include "http.h"
#include "jobs.h"
#include "metrics.h"
#include "operator.h"
#include "trust.h"

#define REASON_MAX_CHARS 200
#define SUSPEND_MAX_DAYS 365
#define DAY_MS 86400000LL

/* Replies 403 NOT_ADMIN unless the caller has the operator role. DM_OK
 * when they have it; otherwise replied. */
static int require_admin(http_req_t *r)
{
	int64_t admin = 0;
	if (db_get_int(r->db, &admin, "SELECT adminYn = 'Y' FROM user WHERE userId = ?1", DB_INT(r->user_id)) == DM_OK &&
	    admin == 1)
		return DM_OK;
	http_refuse(r, RF_NOT_ADMIN);
	return DM_EFORBID;
}

/* One user as the operator sees them (?1: userId). */
#define USER_JSON                                                                                           \
	"json_object('userId',CAST(u.userId AS TEXT),'email',u.email,'nickname',u.nickname,'address',u.address," \
	"'mannerTemp',u.mannerTemp,'admin',json(iif(u.adminYn = 'Y','true','false')),"                          \
	"'suspendedUntil',iif(u.suspendedUntil > dm_now(),dm_time(u.suspendedUntil),NULL),"                    \
	"'suspendReason',iif(u.suspendedUntil > dm_now(),u.suspendReason,NULL),"                                \
	"'reports30d',(SELECT count(*) FROM report WHERE reportedId = u.userId AND createdDt > dm_now() - "       \
	"30 * 86400000),'openReports',(SELECT count(*) FROM report WHERE reportedId = u.userId AND "             \
	"handledDt IS NULL),'createdDt',dm_time(u.createdDt))"

/* GET /operator/me: 200 for an operator (the app shows its admin link). */
static int h_me(http_req_t *r)
{
	static const char ok[] = "{\"msg\":\"success\",\"admin\":true}";
	if (require_admin(r) != DM_OK)
		return DM_OK;
	return http_reply_json(r, 200, ok, sizeof ok - 1);
}

/* The first message id at or after since_ms, assuming ids follow commit
 * time (they do: the write lane assigns both); 0 if none. A binary search
 * over the rowid: a few dozen index lookups instead of a scan. */
static int64_t first_msg_since(sqlite3 *db, int64_t since_ms)
{
	int64_t lo = 0, hi = 0;
	if (db_get_int(db, &hi, "SELECT coalesce(max(icruMsgId), 0) FROM itemChatRoomUserMsg") != DM_OK)
		return 0;
	hi++;
	/* invariant: messages with id < lo are older; id >= hi are not */
	while (lo < hi) {
		int64_t mid = lo + (hi - lo) / 2, id = 0, t = 0;
		sqlite3_stmt *st = db_query(db, "SELECT icruMsgId, createdDt FROM itemChatRoomUserMsg "
						"WHERE icruMsgId >= ?1 ORDER BY icruMsgId LIMIT 1", DB_INT(mid));
		if (!st)
			return 0;
		if (sqlite3_step(st) == SQLITE_ROW) {
			id = sqlite3_column_int64(st, 0);
			t = sqlite3_column_int64(st, 1);
		}
		db_done(st);
		if (!id) {
			hi = mid;
			continue;
		}
		if (t < since_ms)
			lo = id + 1;
		else
			hi = mid;
	}
	return lo;
}

/* GET /operator/stats: {msg, users, openItems, messagesToday, socketsOnline}.
 * messagesToday: chat messages since local midnight (--tz). */
static int h_stats(http_req_t *r)
{
	int64_t off = (int64_t)dm_tz_offset_min * 60000, now = dm_now_ms();
	int64_t midnight = (now + off) / DAY_MS * DAY_MS - off;
	unsigned long long sockets;

	if (require_admin(r) != DM_OK)
		return DM_OK;
	metrics_value("dongmul_sio_sessions", &sockets); /* sio's; 0 without it */
	return http_reply_stmt(
		r, 200,
		db_query(r->db, "SELECT json_object('msg','success','users',(SELECT count(*) FROM user),"
				"'openItems',(SELECT count(*) FROM saleItem WHERE status = 'SI01' AND deadLine > dm_now()),"
				"'messagesToday',(SELECT count(*) FROM itemChatRoomUserMsg WHERE icruMsgId >= ?1 "
				"AND createdDt >= ?2 AND msgType = 'TXT01'),'socketsOnline',?3)",
			 DB_INT(first_msg_since(r->db, midnight)), DB_INT(midnight), DB_INT(sockets)));
}

/* A reported message with the CONTEXT_MSGS before and after it in its
 * room, oldest first ("reported": true on it); NULL for a user report or
 * a message gone with its item. o is the report row. */
#define CONTEXT_MSGS "3"
#define CONTEXT_ROW                                                                                        \
	"SELECT m.icruMsgId AS id, m.userId AS uid, m.msgType AS ty, m.chatMsg AS tx, m.createdDt AS dt "   \
	"FROM itemChatRoomUserMsg m WHERE m.icrId = (SELECT icrId FROM itemChatRoomUserMsg WHERE icruMsgId = o.icruMsgId) "
#define CONTEXT_SQL                                                                                        \
	"(SELECT json_group_array(json_object('icruMsgId',CAST(c.id AS TEXT),'userId',CAST(c.uid AS TEXT),"   \
	"'nickname',cu.nickname,'msgType',cc.codeName,'chatMsg',c.tx,'createdDt',dm_time(c.dt),"              \
	"'reported',json(iif(c.id = o.icruMsgId,'true','false'))) ORDER BY c.id) FROM (SELECT * FROM ("                      \
	CONTEXT_ROW "AND m.icruMsgId <= o.icruMsgId ORDER BY m.icruMsgId DESC LIMIT " CONTEXT_MSGS " + 1) "    \
	"UNION ALL SELECT * FROM (" CONTEXT_ROW "AND m.icruMsgId > o.icruMsgId ORDER BY m.icruMsgId LIMIT "    \
	CONTEXT_MSGS ")) c JOIN user cu ON cu.userId = c.uid JOIN code cc ON cc.codeId = c.ty "    \
	"WHERE o.icruMsgId IS NOT NULL HAVING count(*) > 0)"

/* GET /operator/reports: users with open reports, most distinct reporters
 * first (at most 200 users), each with those reports (newest first). */
static int h_reports(http_req_t *r)
{
	sqlite3_stmt *st;
	if (require_admin(r) != DM_OK)
		return DM_OK;
	st = db_stmt(
		r->db,
		"WITH o AS (SELECT rp.*, ru.nickname AS rn, s.title AS it FROM report rp"
		"  JOIN user ru ON ru.userId = rp.reporterId LEFT JOIN saleItem s ON s.itemId = rp.itemId"
		"  WHERE rp.handledDt IS NULL),"
		" g AS (SELECT reportedId AS uid, count(DISTINCT reporterId) AS n, max(createdDt) AS last FROM o"
		"  GROUP BY reportedId ORDER BY n DESC, last DESC LIMIT 200)"
		" SELECT json_object('msg','success','data',(SELECT json_group_array(json_object("
		"  'userId',CAST(u.userId AS TEXT),'nickname',u.nickname,'email',u.email,'mannerTemp',u.mannerTemp,"
		"  'suspendedUntil',iif(u.suspendedUntil > dm_now(),dm_time(u.suspendedUntil),NULL),"
		"  'suspendReason',iif(u.suspendedUntil > dm_now(),u.suspendReason,NULL),'reporters',g.n,"
		"  'reports',(SELECT json_group_array(json_object('reportId',CAST(o.reportId AS TEXT),"
		"   'reporterId',CAST(o.reporterId AS TEXT),'reporterNickname',o.rn,'reason',o.reason,'detail',o.detail,"
		"   'itemId',CAST(o.itemId AS TEXT),'itemTitle',o.it,'createdDt',dm_time(o.createdDt),"
		"   'icruMsgId',CAST(o.icruMsgId AS TEXT),'context'," CONTEXT_SQL ")"
		"   ORDER BY o.createdDt DESC, o.reportId DESC) FROM o WHERE o.reportedId = g.uid))"
		"  ORDER BY g.n DESC, g.last DESC) FROM g JOIN user u ON u.userId = g.uid))");
	return http_reply_stmt(r, 200, st);
}

/* GET /operator/users?q=: by email (exact), user id (digits) or nickname
 * (containing q); at most 20. */
static int h_users(http_req_t *r)
{
	char q[256];

	if (require_admin(r) != DM_OK)
		return DM_OK;
	if (http_query(r, "q", q, sizeof q) != DM_OK || !q[0] || dm_utf8_len(q, strlen(q)) > 100)
		return http_refuse(r, RF_INVALID_USER_QUERY);
	return http_reply_stmt(
		r, 200,
		db_query(r->db, "SELECT json_object('msg','success','data',(SELECT json_group_array(json(j)) FROM ("
				"SELECT " USER_JSON " AS j FROM user u WHERE u.email = ?1"
				" OR (?1 GLOB '[0-9]*' AND ?1 NOT GLOB '*[^0-9]*' AND u.userId = CAST(?1 AS INTEGER))"
				" OR instr(u.nickname, ?1) > 0 ORDER BY u.email = ?1 DESC, u.userId LIMIT 20)))",
			 DB_TEXT(q)));
}

/* A reason: no control characters, not only spaces (json_str checked the
 * length and UTF-8). */
static int reason_ok(const char *s)
{
	int visible = 0;
	if (!s)
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return 0;
		if (*p != ' ')
			visible = 1;
	}
	return visible;
}

enum { ACT_SUSPEND, ACT_UNSUSPEND, ACT_DISMISS };
static const char *const act_names[] = {"suspend", "unsuspend", "dismiss"};

typedef struct action {
	int act;
	int64_t operator_id, user_id;
	int days;
	const char *reason;
	int found;                 /* out: the user exists */
} action_t;

/* Write job: the action on a->user_id, its log row, and the open reports
 * it settles. */
static int action_write(sqlite3 *w, void *arg)
{
	action_t *a = arg;
	int64_t now = dm_now_ms(), n = 0;
	int rc;

	a->found = db_get_int(w, &n, "SELECT count(*) FROM user WHERE userId = ?1", DB_INT(a->user_id)) == DM_OK &&
		   n == 1;
	if (!a->found)
		return DM_ENOTFOUND;
	switch (a->act) {
	case ACT_SUSPEND:
		rc = trust_suspend(w, a->user_id, now, a->days, a->reason);
		if (rc == DM_OK)
			rc = db_run(w, "UPDATE report SET handledDt = ?2 WHERE reportedId = ?1 AND handledDt IS NULL",
				    DB_INT(a->user_id), DB_INT(now));
		break;
	case ACT_UNSUSPEND:
		rc = db_run(w, "UPDATE user SET suspendedUntil = NULL, suspendReason = NULL WHERE userId = ?1",
			    DB_INT(a->user_id));
		break;
	default: /* ACT_DISMISS: the open reports stop counting */
		rc = db_run(w, "UPDATE report SET handledDt = ?2, upheldYn = 'N' WHERE reportedId = ?1 "
			       "AND handledDt IS NULL", DB_INT(a->user_id), DB_INT(now));
		if (rc == DM_OK)
			rc = trust_recompute(w, a->user_id, now);
		break;
	}
	if (rc == DM_OK)
		rc = db_run(w, "INSERT INTO operatorLog(operatorId, userId, action, reason, createdDt) "
			       "VALUES (?1, ?2, ?3, ?4, ?5)", DB_INT(a->operator_id), DB_INT(a->user_id),
			    DB_TEXT(act_names[a->act]), DB_TEXT(a->reason), DB_INT(now));
	return rc;
}

/* POST /operator/users/:userId/{suspend|unsuspend|dismiss} {reason[, days]}
 * -> {msg, user}. */
static int h_action(http_req_t *r)
{
	action_t a;
	const char *verb = strrchr(r->path, '/') + 1;
	char *end;
	int64_t days = 0;
	int rc;

	if (require_admin(r) != DM_OK)
		return DM_OK;
	memset(&a, 0, sizeof a);
	a.act = !strcmp(verb, "suspend") ? ACT_SUSPEND : !strcmp(verb, "unsuspend") ? ACT_UNSUSPEND : ACT_DISMISS;
	a.operator_id = r->user_id;
	a.user_id = strtoll(r->param[0], &end, 10);
	if (*end || a.user_id <= 0 || r->param[0][0] == '+' || r->param[0][0] == ' ')
		return http_refuse(r, RF_USER_NOT_FOUND);
	if (http_json(r) != DM_OK)
		return DM_OK;
	a.reason = json_str(&r->json, "reason", 1, REASON_MAX_CHARS);
	if (!reason_ok(a.reason))
		return http_refuse(r, RF_INVALID_SUSPEND_REASON);
	if (a.act == ACT_SUSPEND) {
		if (json_int(&r->json, "days", 0, &days) != DM_OK || days < 1 || days > SUSPEND_MAX_DAYS)
			return http_refuse(r, RF_INVALID_DAYS);
		a.days = (int)days;
	}
	if (a.user_id == r->user_id)
		return http_refuse(r, RF_SELF_ACTION);
	rc = jobs_write(action_write, &a);
	if (rc == DM_ENOTFOUND)
		return http_refuse(r, RF_USER_NOT_FOUND);
	if (rc != DM_OK)
		return http_fail_dm(r, rc);
	dm_info("operator %lld: %s user %lld (%s)", (long long)a.operator_id, act_names[a.act], (long long)a.user_id,
		a.reason);
	return http_reply_stmt(r, 200,
			       db_query(r->db, "SELECT json_object('msg','success','user'," USER_JSON ") FROM user u "
					       "WHERE u.userId = ?1", DB_INT(a.user_id)));
}

static const http_route_t routes[] = {
	{"GET", "/operator/me", h_me, HTTP_AUTH},
	{"GET", "/operator/stats", h_stats, HTTP_AUTH},
	{"GET", "/operator/reports", h_reports, HTTP_AUTH},
	{"GET", "/operator/users", h_users, HTTP_AUTH},
	{"POST", "/operator/users/:userId/suspend", h_action, HTTP_AUTH},
	{"POST", "/operator/users/:userId/unsuspend", h_action, HTTP_AUTH},
	{"POST", "/operator/users/:userId/dismiss", h_action, HTTP_AUTH},
};

int operator_init(void)
{
	http_routes(routes, sizeof routes / sizeof routes[0]);
	return DM_OK;
}
