/*
 * appt.c — 거래약속 (appointments): once the owner has chosen a partner
 * (status SI02), either side proposes a time and place for the hand-over;
 * the other accepts it or proposes another (which replaces it). Each step
 * leaves a system message (TXT05) in the item's room, published to the
 * room as getMsg, and notifies the other side ("appointment"). Both sides
 * get a reminder ("appt_remind") an hour and ten minutes before an
 * accepted appointment, each exactly once: the reminder is stored in the
 * same transaction that marks it sent (appointment.remind60Dt,
 * remind10Dt), so neither a restart nor a second timer run repeats it.
 * A no-show is then reported with POST /reports {userId, itemId, reason:
 * "noshow"} (trust.c). Prefix: appt_.
 *
 * Routes: GET /appointments, GET|POST /trade/:itemId/appointment,
 * POST /trade/:itemId/appointment/accept (docs/API.md "거래약속").
 * Timer: every cfg.expiry_interval seconds, the reminders.
 *
 * Thread-safety: handlers read on their worker's reader and write through
 * the write lane (every rule checked again inside the job); nothing here
 * is shared.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "dm.h"
#include "http.h"
#include "jobs.h"
#include "live.h"
#include "notify.h"

#define PLACE_MAX_CHARS 100
#define AHEAD_MAX_DAYS 90 /* how far ahead an appointment may be */
#define DAY_MS 86400000LL
#define MIN_MS 60000LL

/* One appointment as the API shows it; a is the appointment row, s its
 * item, ?9 the viewer's user id (numbered: a named parameter would take
 * the first free number where it first appears). */
#define APPT_OBJ                                                                                            \
	"json_object('apptId',CAST(a.apptId AS TEXT),'itemId',CAST(a.itemId AS TEXT),"                    \
	"'icrId',(SELECT CAST(icrId AS TEXT) FROM itemChatRoom WHERE itemId = a.itemId),'title',s.title,"    \
	"'status',a.status,'at',dm_time(a.apptDt),'place',a.place,'proposerId',CAST(a.proposerId AS TEXT),"  \
	"'otherUserId',CAST(iif(s.userId = ?9, s.buyerUserId, s.userId) AS TEXT),"                          \
	"'otherNickname',(SELECT nickname FROM user WHERE userId = iif(s.userId = ?9, s.buyerUserId, s.userId)),"\
	"'mine',json(iif(a.proposerId = ?9,'true','false')),'itemStatus',s.status,"                        \
	"'past',json(iif(a.apptDt <= dm_now(),'true','false')),'createdDt',dm_time(a.createdDt))"

typedef struct step {
	int64_t item_id, actor, appt_id; /* appt_id: accept's, then the one written */
	int64_t at;                      /* propose */
	const char *place;               /* propose */
	int accept;
	const char *code, *msg;          /* out: a refusal */
	int64_t icr_id, msg_id;          /* out: the TXT05 message */
} step_t;

static int refuse(step_t *t, int rc, const char *code, const char *msg)
{
	t->code = code;
	t->msg = msg;
	return rc;
}

/* Runs st (bound) expecting no rows; finalizes it. DM_OK or DM_ERR. */
static int run(sqlite3_stmt *st)
{
	int rc;
	if (!st)
		return DM_ERR;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? DM_OK : DM_ERR;
}

/* The write job of propose and accept: the rules, the row, the room's
 * message, the other side's notification. */
static int step_job(sqlite3 *w, void *arg)
{
	step_t *t = arg;
	sqlite3_stmt *st;
	int64_t owner = 0, buyer = 0, now = dm_now_ms(), other;
	int suspended = 0, found = 0;
	char status[8] = "";

	st = db_prep(w, "SELECT s.userId, ifnull(s.buyerUserId, 0), s.status, ifnull(r.icrId, 0), "
			"(SELECT coalesce(suspendedUntil, 0) > ?2 FROM user WHERE userId = ?3) "
			"FROM saleItem s LEFT JOIN itemChatRoom r ON r.itemId = s.itemId WHERE s.itemId = ?1");
	if (!st)
		return DM_ERR;
	sqlite3_bind_int64(st, 1, t->item_id);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, t->actor);
	if (sqlite3_step(st) == SQLITE_ROW) {
		found = 1;
		owner = sqlite3_column_int64(st, 0);
		buyer = sqlite3_column_int64(st, 1);
		dm_strlcpy(status, (const char *)sqlite3_column_text(st, 2), sizeof status);
		t->icr_id = sqlite3_column_int64(st, 3);
		suspended = sqlite3_column_int(st, 4);
	}
	sqlite3_finalize(st);
	if (!found)
		return refuse(t, DM_ENOTFOUND, "ITEM_NOT_FOUND", "물건을 찾을 수 없습니다.");
	if (t->actor != owner && (!buyer || t->actor != buyer))
		return refuse(t, DM_EFORBID, "NOT_A_PARTY", "교환 당사자(글쓴이와 선택된 상대)만 할 수 있습니다.");
	if (strcmp(status, "SI02"))
		return refuse(t, DM_ECONFLICT, "TRADE_NOT_IN_PROGRESS", "진행 중인 교환에만 거래약속을 잡을 수 있습니다.");
	if (suspended)
		return refuse(t, DM_EFORBID, "SUSPENDED", "이용이 정지된 계정입니다.");
	other = t->actor == owner ? buyer : owner;

	if (t->accept) {
		int64_t proposer = 0, at = 0;
		found = 0;
		st = db_prep(w, "SELECT proposerId, apptDt FROM appointment WHERE itemId = ?1 AND apptId = ?2 "
				"AND status = 'proposed'");
		if (!st)
			return DM_ERR;
		sqlite3_bind_int64(st, 1, t->item_id);
		sqlite3_bind_int64(st, 2, t->appt_id);
		if (sqlite3_step(st) == SQLITE_ROW) {
			found = 1;
			proposer = sqlite3_column_int64(st, 0);
			at = sqlite3_column_int64(st, 1);
		}
		sqlite3_finalize(st);
		if (!found)
			return refuse(t, DM_ECONFLICT, "NO_SUCH_PROPOSAL",
				      "수락할 제안이 없습니다. 이미 수락되었거나 새 제안으로 바뀌었습니다.");
		if (proposer == t->actor)
			return refuse(t, DM_EFORBID, "OWN_PROPOSAL", "내 제안은 상대가 수락합니다.");
		if (at <= now)
			return refuse(t, DM_ECONFLICT, "APPOINTMENT_PASSED", "이미 지난 시간입니다. 새 시간을 제안해 주세요.");
		st = db_prep(w, "UPDATE appointment SET status = 'accepted', acceptedDt = ?2 WHERE apptId = ?1");
		if (!st)
			return DM_ERR;
		sqlite3_bind_int64(st, 1, t->appt_id);
		sqlite3_bind_int64(st, 2, now);
		if (run(st) != DM_OK)
			return DM_ERR;
	} else {
		st = db_prep(w, "UPDATE appointment SET status = 'superseded' WHERE itemId = ?1 "
				"AND status IN ('proposed','accepted')");
		if (!st)
			return DM_ERR;
		sqlite3_bind_int64(st, 1, t->item_id);
		if (run(st) != DM_OK)
			return DM_ERR;
		st = db_prep(w, "INSERT INTO appointment(itemId, proposerId, apptDt, place, createdDt) "
				"VALUES (?1, ?2, ?3, ?4, ?5)");
		if (!st)
			return DM_ERR;
		sqlite3_bind_int64(st, 1, t->item_id);
		sqlite3_bind_int64(st, 2, t->actor);
		sqlite3_bind_int64(st, 3, t->at);
		sqlite3_bind_text(st, 4, t->place, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, now);
		if (run(st) != DM_OK)
			return DM_ERR;
		t->appt_id = sqlite3_last_insert_rowid(w);
	}

	/* the room's system message, written by the actor */
	if (t->icr_id) {
		st = db_prep(w, "INSERT INTO itemChatRoomUserMsg(icrId, userId, msgType, chatMsg, createdDt) "
				"SELECT ?1, ?2, 'TXT05', u.nickname || iif(a.status = 'accepted', "
				"'님이 거래약속을 수락했습니다: ', '님이 거래약속을 제안했습니다: ') || "
				"replace(substr(dm_time(a.apptDt), 1, 16), 'T', ' ') || ', ' || a.place, ?4 "
				"FROM appointment a JOIN user u ON u.userId = ?2 WHERE a.apptId = ?3");
		if (!st)
			return DM_ERR;
		sqlite3_bind_int64(st, 1, t->icr_id);
		sqlite3_bind_int64(st, 2, t->actor);
		sqlite3_bind_int64(st, 3, t->appt_id);
		sqlite3_bind_int64(st, 4, now);
		if (run(st) != DM_OK || sqlite3_changes(w) != 1)
			return DM_ERR;
		t->msg_id = sqlite3_last_insert_rowid(w);
	}

	/* the other side hears of it */
	st = db_prep(w, "SELECT json_object('apptId',CAST(a.apptId AS TEXT),'itemId',CAST(s.itemId AS TEXT),"
			"'icrId',CAST(?3 AS TEXT),'title',s.title,'status',a.status,'at',dm_time(a.apptDt),"
			"'place',a.place,'byUserId',CAST(u.userId AS TEXT),'byNickname',u.nickname) "
			"FROM appointment a JOIN saleItem s ON s.itemId = a.itemId JOIN user u ON u.userId = ?2 "
			"WHERE a.apptId = ?1");
	if (!st)
		return DM_ERR;
	sqlite3_bind_int64(st, 1, t->appt_id);
	sqlite3_bind_int64(st, 2, t->actor);
	sqlite3_bind_int64(st, 3, t->icr_id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		char *payload = strdup((const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
		if (payload)
			notify_add(w, other, NOTIFY_APPT, payload, NULL);
		free(payload);
	} else
		sqlite3_finalize(st);
	return DM_OK;
}

/* After the commit, on the lane: the room sees the message in order. */
static void step_done(void *arg, int status)
{
	step_t *t = arg;
	if (status == DM_OK && t->msg_id)
		live_publish_msg(t->icr_id, t->msg_id);
}

/* Replies with the appointment appt_id as viewer sees it (status). */
static int reply_appt(http_req_t *r, int status, int64_t appt_id)
{
	sqlite3_stmt *st = db_prep(r->db, "SELECT json_object('msg','success','appointment'," APPT_OBJ ") "
					  "FROM appointment a JOIN saleItem s ON s.itemId = a.itemId WHERE a.apptId = ?1");
	if (st) {
		sqlite3_bind_int64(st, 1, appt_id);
		sqlite3_bind_int64(st, 9, r->user_id);
	}
	return http_reply_stmt(r, status, st);
}

static int run_step(http_req_t *r, step_t *t)
{
	int rc = jobs_write_then(step_job, step_done, t);
	if (rc != DM_OK && t->code)
		return http_fail(r, http_status_of(rc), t->code, t->msg);
	if (rc != DM_OK)
		return http_fail_dm(r, rc);
	return reply_appt(r, t->accept ? 200 : 201, t->appt_id);
}

/* POST /trade/:itemId/appointment {at, place}: propose (or counter). */
static int h_propose(http_req_t *r)
{
	step_t t;
	const char *at;
	int64_t now = dm_now_ms();

	memset(&t, 0, sizeof t);
	if ((t.item_id = dm_parse_id(r->param[0])) == 0)
		return http_fail(r, 404, "ITEM_NOT_FOUND", "물건을 찾을 수 없습니다.");
	if (http_json(r) != DM_OK)
		return DM_OK;
	at = json_str(&r->json, "at", 1, 40);
	if (!at || dm_parse_time(at, &t.at) != DM_OK || t.at <= now + MIN_MS || t.at > now + AHEAD_MAX_DAYS * DAY_MS)
		return http_fail(r, 400, "INVALID_TIME", "약속 시간은 지금부터 90일 안의 앞으로의 시간이어야 합니다.");
	t.place = json_str(&r->json, "place", 1, PLACE_MAX_CHARS);
	if (t.place) {
		/* no control characters, not only spaces */
		int blank = 1;
		for (const char *p = t.place; *p; p++) {
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				t.place = NULL;
			if (*p != ' ')
				blank = 0;
			if (!t.place)
				break;
		}
		if (blank)
			t.place = NULL;
	}
	if (!t.place)
		return http_fail(r, 400, "INVALID_PLACE", "약속 장소를 1~100자로 입력해 주세요.");
	t.actor = r->user_id;
	return run_step(r, &t);
}

/* POST /trade/:itemId/appointment/accept {apptId} */
static int h_accept(http_req_t *r)
{
	step_t t;

	memset(&t, 0, sizeof t);
	if ((t.item_id = dm_parse_id(r->param[0])) == 0)
		return http_fail(r, 404, "ITEM_NOT_FOUND", "물건을 찾을 수 없습니다.");
	if (http_json(r) != DM_OK)
		return DM_OK;
	if (json_int(&r->json, "apptId", 1, &t.appt_id) != DM_OK || t.appt_id <= 0)
		return http_fail(r, 400, "INVALID_APPOINTMENT", "수락할 약속(apptId)을 지정해 주세요.");
	t.actor = r->user_id;
	t.accept = 1;
	return run_step(r, &t);
}

/* GET /trade/:itemId/appointment: the live one (proposed or accepted) or
 * null; for the two parties only. */
static int h_get(http_req_t *r)
{
	int64_t item_id;
	sqlite3_stmt *st;
	int party = -1;

	if ((item_id = dm_parse_id(r->param[0])) == 0)
		return http_fail(r, 404, "ITEM_NOT_FOUND", "물건을 찾을 수 없습니다.");
	st = db_prep(r->db, "SELECT ?2 IN (userId, ifnull(buyerUserId, 0)) FROM saleItem WHERE itemId = ?1");
	if (!st)
		return http_fail_dm(r, DM_ERR);
	sqlite3_bind_int64(st, 1, item_id);
	sqlite3_bind_int64(st, 2, r->user_id);
	if (sqlite3_step(st) == SQLITE_ROW)
		party = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (party < 0)
		return http_fail(r, 404, "ITEM_NOT_FOUND", "물건을 찾을 수 없습니다.");
	if (!party)
		return http_fail(r, 403, "NOT_A_PARTY", "교환 당사자(글쓴이와 선택된 상대)만 볼 수 있습니다.");
	st = db_prep(r->db, "SELECT json_object('msg','success','appointment',(SELECT " APPT_OBJ " FROM appointment a "
			    "JOIN saleItem s ON s.itemId = a.itemId WHERE a.itemId = ?1 AND a.status IN "
			    "('proposed','accepted')))");
	if (st) {
		sqlite3_bind_int64(st, 1, item_id);
		sqlite3_bind_int64(st, 9, r->user_id);
	}
	return http_reply_stmt(r, 200, st);
}

/* GET /appointments: mine (as either side), live ones of trades in
 * progress or ended within the last 7 days, soonest first (my page). */
static int h_mine(http_req_t *r)
{
	sqlite3_stmt *st = db_prep(r->db, "SELECT json_object('msg','success','data',(SELECT json_group_array(json(j)) FROM "
					  "(SELECT " APPT_OBJ " AS j FROM appointment a JOIN saleItem s ON s.itemId = a.itemId "
					  "WHERE ?9 IN (s.userId, s.buyerUserId) AND a.status IN ('proposed','accepted') "
					  "AND a.apptDt > dm_now() - 7 * 86400000 ORDER BY a.apptDt LIMIT 50)))");
	if (st)
		sqlite3_bind_int64(st, 9, r->user_id);
	return http_reply_stmt(r, 200, st);
}

/* ------------------------------------------------------------ timer */

/* Marks the due reminders of one kind sent and stores them for both
 * sides. The hour reminder: accepted, an hour or less away but more than
 * ten minutes; the ten-minute one: ten minutes or less away (it also
 * marks the hour one, never sent late after it). Only trades in progress. */
static void remind(sqlite3 *w, int64_t now, int minutes)
{
	sqlite3_stmt *st;
	int64_t *ids = NULL;
	size_t n = 0, cap = 0;

	if (minutes == 60)
		st = db_prep(w, "UPDATE appointment SET remind60Dt = ?1 WHERE status = 'accepted' AND remind60Dt IS NULL "
				"AND apptDt > ?1 + 600000 AND apptDt <= ?1 + 3600000 "
				"AND itemId IN (SELECT itemId FROM saleItem WHERE status = 'SI02') RETURNING apptId");
	else
		st = db_prep(w, "UPDATE appointment SET remind10Dt = ?1, remind60Dt = ifnull(remind60Dt, ?1) "
				"WHERE status = 'accepted' AND remind10Dt IS NULL AND apptDt > ?1 AND apptDt <= ?1 + 600000 "
				"AND itemId IN (SELECT itemId FROM saleItem WHERE status = 'SI02') RETURNING apptId");
	if (!st)
		return;
	sqlite3_bind_int64(st, 1, now);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			int64_t *ni = realloc(ids, nc * sizeof *ni);
			if (!ni)
				break;
			ids = ni;
			cap = nc;
		}
		ids[n++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	for (size_t i = 0; i < n; i++) {
		st = db_prep(w, "SELECT u.value, json_object('apptId',CAST(a.apptId AS TEXT),'itemId',CAST(s.itemId AS TEXT),"
				"'icrId',(SELECT CAST(icrId AS TEXT) FROM itemChatRoom WHERE itemId = s.itemId),"
				"'title',s.title,'at',dm_time(a.apptDt),'place',a.place,'minutes',?2) "
				"FROM appointment a JOIN saleItem s ON s.itemId = a.itemId "
				"JOIN json_each(json_array(s.userId, s.buyerUserId)) u WHERE a.apptId = ?1");
		if (!st)
			continue;
		sqlite3_bind_int64(st, 1, ids[i]);
		sqlite3_bind_int(st, 2, minutes);
		while (sqlite3_step(st) == SQLITE_ROW) {
			int64_t uid = sqlite3_column_int64(st, 0);
			char *payload = strdup((const char *)sqlite3_column_text(st, 1));
			if (payload && uid)
				notify_add(w, uid, NOTIFY_APPT_REMIND, payload, NULL);
			free(payload);
		}
		sqlite3_finalize(st);
	}
	if (n)
		dm_info("appt: %zu %d-minute reminders", n, minutes);
	free(ids);
}

static int timer_job(sqlite3 *w, void *arg)
{
	int64_t now = dm_now_ms();
	(void)arg;
	remind(w, now, 10);
	remind(w, now, 60);
	return DM_OK;
}

static void timer_fn(void *unused)
{
	(void)unused;
	jobs_write(timer_job, NULL);
}

static const http_route_t routes[] = {
	{"GET", "/appointments", h_mine, HTTP_AUTH},
	{"GET", "/trade/:itemId/appointment", h_get, HTTP_AUTH},
	{"POST", "/trade/:itemId/appointment", h_propose, HTTP_AUTH},
	{"POST", "/trade/:itemId/appointment/accept", h_accept, HTTP_AUTH},
};

int appt_init(void)
{
	http_routes(routes, sizeof routes / sizeof routes[0]);
	return jobs_timer("appt", cfg.expiry_interval * 1000, timer_fn, NULL);
}

void appt_stop(void)
{
}
