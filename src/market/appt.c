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
#define PAYLOAD_MAX 4096 /* bytes of a notification's payload: a title, a place, a nickname, JSON-escaped */

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
/* The arguments of a statement with APPT_OBJ: ?1 first (DB_NULL when the
 * statement has none), the viewer as ?9. */
#define APPT_ARGS(first, viewer) (first), DB_NULL, DB_NULL, DB_NULL, DB_NULL, DB_NULL, DB_NULL, DB_NULL, DB_INT(viewer)

typedef struct step {
	int64_t item_id, actor, appt_id; /* appt_id: accept's, then the one written */
	int64_t at;                      /* propose */
	const char *place;               /* propose */
	int accept;
	int refused;                     /* out: the job refused (why) */
	refusal_t why;
	int64_t icr_id, msg_id;          /* out: the TXT05 message */
} step_t;

/* Records refusal why in t; returns DM_EINVAL (the job rolls back). */
static int refuse(step_t *t, refusal_t why)
{
	t->refused = 1;
	t->why = why;
	return DM_EINVAL;
}

/* The write job of propose and accept: the rules, the row, the room's
 * message, the other side's notification. */
static int step_job(sqlite3 *w, void *arg)
{
	step_t *t = arg;
	sqlite3_stmt *st;
	int64_t owner = 0, buyer = 0, now = dm_now_ms(), other;
	int suspended = 0, found = 0, rc;
	char status[8] = "", payload[PAYLOAD_MAX];

	st = db_query(w, "SELECT s.userId, ifnull(s.buyerUserId, 0), s.status, ifnull(r.icrId, 0), "
			 "(SELECT coalesce(suspendedUntil, 0) > ?2 FROM user WHERE userId = ?3) "
			 "FROM saleItem s LEFT JOIN itemChatRoom r ON r.itemId = s.itemId WHERE s.itemId = ?1",
		      DB_INT(t->item_id), DB_INT(now), DB_INT(t->actor));
	if (!st)
		return DM_ERR;
	if (sqlite3_step(st) == SQLITE_ROW) {
		found = 1;
		owner = sqlite3_column_int64(st, 0);
		buyer = sqlite3_column_int64(st, 1);
		dm_strlcpy(status, (const char *)sqlite3_column_text(st, 2), sizeof status);
		t->icr_id = sqlite3_column_int64(st, 3);
		suspended = sqlite3_column_int(st, 4);
	}
	db_done(st);
	if (!found)
		return refuse(t, RF_ITEM_NOT_FOUND);
	if (t->actor != owner && (!buyer || t->actor != buyer))
		return refuse(t, RF_NOT_A_PARTY);
	if (strcmp(status, "SI02"))
		return refuse(t, RF_APPT_TRADE_NOT_IN_PROGRESS);
	if (suspended)
		return refuse(t, RF_SUSPENDED);
	other = t->actor == owner ? buyer : owner;

	if (t->accept) {
		int64_t proposer = 0, at = 0;
		found = 0;
		st = db_query(w, "SELECT proposerId, apptDt FROM appointment WHERE itemId = ?1 AND apptId = ?2 "
				 "AND status = 'proposed'",
			      DB_INT(t->item_id), DB_INT(t->appt_id));
		if (!st)
			return DM_ERR;
		if (sqlite3_step(st) == SQLITE_ROW) {
			found = 1;
			proposer = sqlite3_column_int64(st, 0);
			at = sqlite3_column_int64(st, 1);
		}
		db_done(st);
		if (!found)
			return refuse(t, RF_NO_SUCH_PROPOSAL);
		if (proposer == t->actor)
			return refuse(t, RF_OWN_PROPOSAL);
		if (at <= now)
			return refuse(t, RF_APPOINTMENT_PASSED);
		if (db_run(w, "UPDATE appointment SET status = 'accepted', acceptedDt = ?2 WHERE apptId = ?1",
			   DB_INT(t->appt_id), DB_INT(now)) != DM_OK)
			return DM_ERR;
	} else {
		if (db_run(w, "UPDATE appointment SET status = 'superseded' WHERE itemId = ?1 "
			      "AND status IN ('proposed','accepted')",
			   DB_INT(t->item_id)) != DM_OK ||
		    db_run(w, "INSERT INTO appointment(itemId, proposerId, apptDt, place, createdDt) "
			      "VALUES (?1, ?2, ?3, ?4, ?5)",
			   DB_INT(t->item_id), DB_INT(t->actor), DB_INT(t->at), DB_TEXT(t->place), DB_INT(now)) != DM_OK)
			return DM_ERR;
		t->appt_id = sqlite3_last_insert_rowid(w);
	}

	/* the room's system message, written by the actor */
	if (t->icr_id) {
		int changes = 0;
		if (db_run_changes(w, &changes,
				   "INSERT INTO itemChatRoomUserMsg(icrId, userId, msgType, chatMsg, createdDt) "
				   "SELECT ?1, ?2, 'TXT05', u.nickname || iif(a.status = 'accepted', "
				   "'님이 거래약속을 수락했습니다: ', '님이 거래약속을 제안했습니다: ') || "
				   "replace(substr(dm_time(a.apptDt), 1, 16), 'T', ' ') || ', ' || a.place, ?4 "
				   "FROM appointment a JOIN user u ON u.userId = ?2 WHERE a.apptId = ?3",
				   DB_INT(t->icr_id), DB_INT(t->actor), DB_INT(t->appt_id), DB_INT(now)) != DM_OK ||
		    changes != 1)
			return DM_ERR;
		t->msg_id = sqlite3_last_insert_rowid(w);
	}

	/* the other side hears of it */
	rc = db_get_text(w, payload, sizeof payload,
			 "SELECT json_object('apptId',CAST(a.apptId AS TEXT),'itemId',CAST(s.itemId AS TEXT),"
			 "'icrId',CAST(?3 AS TEXT),'title',s.title,'status',a.status,'at',dm_time(a.apptDt),"
			 "'place',a.place,'byUserId',CAST(u.userId AS TEXT),'byNickname',u.nickname) "
			 "FROM appointment a JOIN saleItem s ON s.itemId = a.itemId JOIN user u ON u.userId = ?2 "
			 "WHERE a.apptId = ?1",
			 DB_INT(t->appt_id), DB_INT(t->actor), DB_INT(t->icr_id));
	if (rc == DM_ERR)
		return DM_ERR;
	if (rc == DM_OK)
		notify_add(w, other, NOTIFY_APPT, payload, NULL);
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
	return http_reply_stmt(r, status,
			       db_query(r->db, "SELECT json_object('msg','success','appointment'," APPT_OBJ ") "
					       "FROM appointment a JOIN saleItem s ON s.itemId = a.itemId WHERE a.apptId = ?1",
					APPT_ARGS(DB_INT(appt_id), r->user_id)));
}

static int run_step(http_req_t *r, step_t *t)
{
	int rc = jobs_write_then(step_job, step_done, t);
	if (rc != DM_OK && t->refused)
		return http_refuse(r, t->why);
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
		return http_refuse(r, RF_ITEM_NOT_FOUND);
	if (http_json(r) != DM_OK)
		return DM_OK;
	at = json_str(&r->json, "at", 1, 40);
	if (!at || dm_parse_time(at, &t.at) != DM_OK || t.at <= now + MIN_MS || t.at > now + AHEAD_MAX_DAYS * DAY_MS)
		return http_refuse(r, RF_INVALID_TIME);
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
		return http_refuse(r, RF_INVALID_PLACE);
	t.actor = r->user_id;
	return run_step(r, &t);
}

/* POST /trade/:itemId/appointment/accept {apptId} */
static int h_accept(http_req_t *r)
{
	step_t t;

	memset(&t, 0, sizeof t);
	if ((t.item_id = dm_parse_id(r->param[0])) == 0)
		return http_refuse(r, RF_ITEM_NOT_FOUND);
	if (http_json(r) != DM_OK)
		return DM_OK;
	if (json_int(&r->json, "apptId", 1, &t.appt_id) != DM_OK || t.appt_id <= 0)
		return http_refuse(r, RF_INVALID_APPOINTMENT);
	t.actor = r->user_id;
	t.accept = 1;
	return run_step(r, &t);
}

/* GET /trade/:itemId/appointment: the live one (proposed or accepted) or
 * null; for the two parties only. */
static int h_get(http_req_t *r)
{
	int64_t item_id, party = 0;
	int rc;

	if ((item_id = dm_parse_id(r->param[0])) == 0)
		return http_refuse(r, RF_ITEM_NOT_FOUND);
	rc = db_get_int(r->db, &party, "SELECT ?2 IN (userId, ifnull(buyerUserId, 0)) FROM saleItem WHERE itemId = ?1",
			DB_INT(item_id), DB_INT(r->user_id));
	if (rc == DM_ENOTFOUND)
		return http_refuse(r, RF_ITEM_NOT_FOUND);
	if (rc != DM_OK)
		return http_fail_dm(r, rc);
	if (!party)
		return http_refuse(r, RF_NOT_A_PARTY);
	return http_reply_stmt(r, 200,
			       db_query(r->db, "SELECT json_object('msg','success','appointment',(SELECT " APPT_OBJ
					       " FROM appointment a JOIN saleItem s ON s.itemId = a.itemId WHERE a.itemId = ?1"
					       " AND a.status IN ('proposed','accepted')))",
					APPT_ARGS(DB_INT(item_id), r->user_id)));
}

/* GET /appointments: mine (as either side), live ones of trades in
 * progress or ended within the last 7 days, soonest first (my page). */
static int h_mine(http_req_t *r)
{
	return http_reply_stmt(
		r, 200,
		db_query(r->db, "SELECT json_object('msg','success','data',(SELECT json_group_array(json(j)) FROM "
				"(SELECT " APPT_OBJ " AS j FROM appointment a JOIN saleItem s ON s.itemId = a.itemId "
				"WHERE ?9 IN (s.userId, s.buyerUserId) AND a.status IN ('proposed','accepted') "
				"AND a.apptDt > dm_now() - 7 * 86400000 ORDER BY a.apptDt LIMIT 50)))",
			 APPT_ARGS(DB_NULL, r->user_id)));
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
		st = db_query(w, "UPDATE appointment SET remind60Dt = ?1 WHERE status = 'accepted' AND remind60Dt IS NULL "
				 "AND apptDt > ?1 + 600000 AND apptDt <= ?1 + 3600000 "
				 "AND itemId IN (SELECT itemId FROM saleItem WHERE status = 'SI02') RETURNING apptId",
			      DB_INT(now));
	else
		st = db_query(w, "UPDATE appointment SET remind10Dt = ?1, remind60Dt = ifnull(remind60Dt, ?1) "
				 "WHERE status = 'accepted' AND remind10Dt IS NULL AND apptDt > ?1 AND apptDt <= ?1 + 600000 "
				 "AND itemId IN (SELECT itemId FROM saleItem WHERE status = 'SI02') RETURNING apptId",
			      DB_INT(now));
	if (!st)
		return;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			int64_t *ni = realloc(ids, nc * sizeof *ni);
			if (!ni)
				break;
			ids = ni;
			cap = nc;
		}
		dm_assert(n < cap);
		ids[n++] = sqlite3_column_int64(st, 0);
	}
	db_done(st);
	for (size_t i = 0; i < n; i++) {
		st = db_query(w, "SELECT u.value, json_object('apptId',CAST(a.apptId AS TEXT),'itemId',CAST(s.itemId AS TEXT),"
				 "'icrId',(SELECT CAST(icrId AS TEXT) FROM itemChatRoom WHERE itemId = s.itemId),"
				 "'title',s.title,'at',dm_time(a.apptDt),'place',a.place,'minutes',?2) "
				 "FROM appointment a JOIN saleItem s ON s.itemId = a.itemId "
				 "JOIN json_each(json_array(s.userId, s.buyerUserId)) u WHERE a.apptId = ?1",
			      DB_INT(ids[i]), DB_INT(minutes));
		while (st && sqlite3_step(st) == SQLITE_ROW) {
			int64_t uid = sqlite3_column_int64(st, 0);
			char *payload = strdup((const char *)sqlite3_column_text(st, 1));
			if (payload && uid)
				notify_add(w, uid, NOTIFY_APPT_REMIND, payload, NULL);
			free(payload);
		}
		db_done(st);
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
