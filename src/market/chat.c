/*
 * chat.c — rooms, membership, messages, kick, exchange, leave (see chat.h
 * and API.md "Chat").
 *
 * Flow of an event: sio calls on_event on the connection's thread; chat
 * checks that the socket is authenticated and the payload well formed,
 * then queues a write job (jobs_write_async). The job runs on the write
 * lane with the writer connection and decides everything against the
 * database as it is now (member? kicked? owner? open? suspended?), writes,
 * and prepares the JSON the room will see; the done callback, after the
 * COMMIT and in commit order, only queues frames (live, sio) — so nobody sees a
 * message that is not durable, and a room sees messages in commit order.
 * Refusals (refusal.h's chat rows) go to the sender only: the ack reply
 * if it asked for one, else an `error` event.
 *
 * Privacy (API.md): a user's email is shown only to that user and to the
 * item's owner. A message goes out in two versions: with the author's
 * email (to the owner's and the author's sockets) and with the author's
 * placeholder (LIVE_HIDDEN_EMAIL) to everyone else. A userList is built for
 * the owner (every email), for the user it is sent to alone (their own
 * email), and for the rest of a room (placeholders, one shared frame per
 * broadcast, in which sio substitutes each member's own entry: a viewer
 * always sees their own email; see live_fanout_t.own_email).
 *
 * Exchange: when the owner chooses a partner, every other membership of
 * the room is deleted (API.md: "everyone leaves the room"), so only owner
 * and partner keep the room and its history; the item is no longer open,
 * so nobody can join again.
 *
 * Who a socket is (its token, its user) is sock_auth's (sock_auth.h); what
 * rooms and users hear goes through live (live.h).
 *
 * Thread-safety: per-socket state (cconn_t): the identity under
 * sock_auth's lock, chat's own fields atomics or set once in on_connect.
 * Jobs own their cjob_t.
 */
#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "config.h"
#include "db.h"
#include "dm.h"
#include "http.h"
#include "jobs.h"
#include "json.h"
#include "live.h"
#include "notify.h"
#include "quota.h"
#include "refusal.h"
#include "sio.h"
#include "sock_auth.h"

#define NSP "/chatting"
#define HISTORY_MAX 200
#define INFLIGHT_MAX 64            /* write jobs one socket may have queued */

/* ---------------------------------------------------------- refusals */

/* {"msg":"fail","errorMsg":...,"code":...} per refusal (refusal.h), built
 * by SQLite at init; read-only afterwards. */
static char *fail_json[RF_COUNT];
static const char ok_json[] = "{\"msg\":\"success\"}";

/* Sends refusal rf to the sender only: the ack reply if it asked for one,
 * else an `error` event. */
static void refuse(sio_sock_t *s, int64_t ack, refusal_t rf)
{
	const char *json = fail_json[rf] ? fail_json[rf] : fail_json[RF_INTERNAL];
	if (!json)
		return;
	if (ack >= 0)
		sio_ack(s, ack, json);
	else
		sio_emit(s, "error", json);
}

static void reply_ok(sio_sock_t *s, int64_t ack, const char *json)
{
	if (ack >= 0)
		sio_ack(s, ack, json ? json : ok_json);
}

/* ------------------------------------------------------ socket state */

/* A socket's chat state (sio_user); lives as long as the socket. */
typedef struct cconn {
	sock_auth_t auth;       /* who it is (sock_auth.h) */
	int64_t icr_query;      /* icrId named in the handshake (0: none) */
	atomic_int setroom_done;
	atomic_int inflight;    /* write jobs queued, not yet done */
} cconn_t;

static void cconn_free(void *p)
{
	cconn_t *cc = p;
	if (!cc)
		return;
	sock_auth_free(&cc->auth);
	free(cc);
}

/* ----------------------------------------------------------- queries */

/* Every statement here comes from db_stmt (db.h, through db_query /
 * db_run / db_get_int): prepared once per connection — the writer for the
 * jobs, a reader for HTTP — and given back with db_done (the write lane
 * runs every chat job: parsing the same SQL for each message was most of
 * its time). */

/* The first row's first column of a statement from db_query as a
 * malloc'd string (NULL if no row, NULL, or st NULL). Gives st back. */
static char *first_text(sqlite3_stmt *st)
{
	char *out = NULL;
	if (st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		out = strdup((const char *)sqlite3_column_text(st, 0));
	db_done(st);
	return out;
}

/* A room as seen by one user. */
typedef struct rinfo {
	int64_t item, owner, buyer;
	int open;          /* SI01 and the deadline ahead */
	int si02;          /* status SI02 */
	int suspended;     /* the user */
	int kicked;        /* the user */
	int64_t icru;      /* the user's membership, 0 if none */
	int64_t joined;    /* its joinedMsgId */
	int chosen;        /* its chooseYn = 'Y' */
	int blocked;       /* the owner blocked the user */
} rinfo_t;

/* Loads room icr for user uid. DM_OK, DM_ENOTFOUND or DM_ERR. */
static int room_info(sqlite3 *db, int64_t icr, int64_t uid, rinfo_t *ri)
{
	sqlite3_stmt *st = db_query(
		db, "SELECT r.itemId, s.userId, s.buyerUserId, s.status = 'SI01' AND s.deadLine > dm_now(), "
		    "s.status = 'SI02', "
		    "COALESCE((SELECT suspendedUntil > dm_now() FROM user WHERE userId = ?2), 0), "
		    "EXISTS (SELECT 1 FROM kickUser WHERE icrId = r.icrId AND userId = ?2), "
		    "m.icruId, m.joinedMsgId, m.chooseYn = 'Y', "
		    "EXISTS (SELECT 1 FROM userBlock WHERE userId = s.userId AND blockedUserId = ?2) "
		    "FROM itemChatRoom r JOIN saleItem s ON s.itemId = r.itemId "
		    "LEFT JOIN itemChatRoomUser m ON m.icrId = r.icrId AND m.userId = ?2 "
		    "WHERE r.icrId = ?1",
		DB_INT(icr), DB_INT(uid));
	int rc;
	memset(ri, 0, sizeof *ri);
	if (!st)
		return DM_ERR;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		ri->item = sqlite3_column_int64(st, 0);
		ri->owner = sqlite3_column_int64(st, 1);
		ri->buyer = sqlite3_column_int64(st, 2);
		ri->open = sqlite3_column_int(st, 3);
		ri->si02 = sqlite3_column_int(st, 4);
		ri->suspended = sqlite3_column_int(st, 5);
		ri->kicked = sqlite3_column_int(st, 6);
		ri->icru = sqlite3_column_int64(st, 7);
		ri->joined = sqlite3_column_int64(st, 8);
		ri->chosen = sqlite3_column_int(st, 9);
		ri->blocked = sqlite3_column_int(st, 10);
		rc = DM_OK;
	} else
		rc = rc == SQLITE_DONE ? DM_ENOTFOUND : DM_ERR;
	db_done(st);
	return rc;
}

/* Is uid a member of room icr? 1/0 (-1 on error). */
static int is_member(sqlite3 *db, int64_t icr, int64_t uid)
{
	int64_t one;
	int rc = db_get_int(db, &one, "SELECT 1 FROM itemChatRoomUser WHERE icrId = ?1 AND userId = ?2", DB_INT(icr),
			    DB_INT(uid));
	return rc == DM_OK ? 1 : rc == DM_ENOTFOUND ? 0 : -1;
}

/* The user named by id (>0) or else by email; 0 if none. */
static int64_t resolve_user(sqlite3 *db, int64_t id, const char *email)
{
	int64_t uid = 0;
	if (id > 0)
		db_get_int(db, &uid, "SELECT userId FROM user WHERE userId = ?1", DB_INT(id));
	else if (email)
		db_get_int(db, &uid, "SELECT userId FROM user WHERE email = ?1", DB_TEXT(email));
	return uid;
}

/* Stores a message by uid in room icr. text: the chat text, or NULL for
 * "<nickname of nick_uid><suffix>". Returns the new icruMsgId, 0 on error. */
static int64_t msg_insert(sqlite3 *w, int64_t icr, int64_t uid, const char *type, const char *text,
			  int64_t nick_uid, const char *suffix)
{
	int changes = 0;
	int rc = db_run_changes(w, &changes,
				"INSERT INTO itemChatRoomUserMsg(icrId, userId, msgType, chatMsg, createdDt) "
				"SELECT ?1, ?2, ?3, COALESCE(?4, nickname || ?6), dm_now() "
				"FROM user WHERE userId = ?5",
				DB_INT(icr), DB_INT(uid), DB_TEXT(type), DB_TEXT(text), DB_INT(nick_uid ? nick_uid : uid),
				DB_TEXT(suffix ? suffix : ""));
	if (rc == DM_OK && changes == 1)
		return sqlite3_last_insert_rowid(w);
	dm_error("chat: storing a message: %s", sqlite3_errmsg(w));
	return 0;
}

/* The members of icr as seen by viewer (0: someone who is neither the
 * owner nor a member shown): JSON array, malloc'd. Needs live_online on
 * db (live_sql_functions). */
static char *user_list(sqlite3 *db, int64_t icr, int64_t owner, int64_t viewer)
{
	return first_text(db_query(
		db, "SELECT json_group_array(json_object('icruId', CAST(r.icruId AS TEXT), "
		    "'userId', CAST(r.userId AS TEXT), "
		    "'email', CASE WHEN ?3 = ?2 OR r.userId = ?3 THEN u.email ELSE " LIVE_HIDDEN_EMAIL("r.userId") " END, "
		    "'nickname', u.nickname, "
		    "'chooseYn', r.chooseYn, 'isBoss', json(CASE WHEN r.userId = ?2 THEN 'true' ELSE 'false' END), "
		    "'mannerTemp', u.mannerTemp, "
		    "'online', json(CASE WHEN live_online(r.userId) THEN 'true' ELSE 'false' END)) ORDER BY r.icruId) "
		    "FROM itemChatRoomUser r JOIN user u ON u.userId = r.userId WHERE r.icrId = ?1",
		DB_INT(icr), DB_INT(owner), DB_INT(viewer)));
}

/* A message m is shown to viewer ?3 unless it is a chat message by a user
 * the viewer blocked (join, leave and system lines still show). */
#define NOT_BLOCKED_MSG                                                                                  \
	"NOT (m.msgType = 'TXT01' AND EXISTS (SELECT 1 FROM userBlock x WHERE x.userId = ?3"             \
	" AND x.blockedUserId = m.userId))"

/* Messages of icr with after < id < before, the newest `limit`, oldest
 * first, as viewer sees them (NOT_BLOCKED_MSG): JSON array, malloc'd. */
static char *history(sqlite3 *db, int64_t icr, int64_t owner, int64_t viewer, int64_t after, int64_t before,
		     int limit)
{
	return first_text(db_query(
		db, "SELECT json_group_array(json(j) ORDER BY id) FROM (SELECT m.icruMsgId AS id, "
		    LIVE_MSG_OBJ(LIVE_EMAIL_FOR("?2", "?3")) " AS j" LIVE_MSG_FROM
		    "WHERE m.icrId = ?1 AND m.icruMsgId > ?4 AND m.icruMsgId < ?5 AND " NOT_BLOCKED_MSG
		    " ORDER BY m.icruMsgId DESC LIMIT ?6)",
		DB_INT(icr), DB_INT(owner), DB_INT(viewer), DB_INT(after), DB_INT(before), DB_INT(limit)));
}

/* setRoom / addUser payloads: icrId, a userList and a message (NULL: none). */
static char *room_payload(sqlite3 *db, int setroom, int64_t icr, const char *ul, const char *msgs)
{
	if (!ul)
		return NULL;
	return first_text(db_query(
		db, setroom ? "SELECT json_object('icrId', CAST(?1 AS TEXT), 'userList', json(?2), 'msgList', json(?3))"
			    : "SELECT json_object('icrId', CAST(?1 AS TEXT), 'userList', json(?2), 'msgList', "
			      "CASE WHEN ?3 IS NULL THEN json_object('msg', 'success') "
			      "ELSE json_object('msg', 'success', 'data', json(?3)) END)",
		DB_INT(icr), DB_TEXT(ul), DB_TEXT(msgs)));
}

/* --------------------------------------------------------------- jobs */

enum { J_SETROOM, J_JOIN, J_SEND, J_KICK, J_EXCHANGE, J_LEAVE };

/* One chat write job: inputs from the event, outputs for the done
 * callback. Owned by the job; freed by job_done. */
typedef struct cjob {
	int kind;
	sio_sock_t *s;      /* the sender, referenced */
	cconn_t *cc;        /* its state (lives as long as s) */
	int64_t ack;        /* -1: none */
	int64_t uid;        /* the actor: the socket's authenticated user */
	int64_t icr, item;  /* item: 0 unless given */
	int64_t target;     /* kick / exchange: by id, or resolved */
	char *email;        /* kick / exchange: by email */
	char *text;         /* sendMsg */
	/* results */
	int failed;         /* refused: rf says why */
	refusal_t rf;
	int skip;           /* setRoom: nothing to send */
	int repeat;         /* joinRoom by a member */
	int64_t owner, msg_id;
	int64_t *deaf;      /* sendMsg: members who blocked the author (get no copy) */
	size_t ndeaf;
	char *out[3];
	char *ack_json;
	notify_chat_t note;
} cjob_t;

static void job_free(cjob_t *j)
{
	if (!j)
		return;
	free(j->email);
	free(j->text);
	free(j->deaf);
	for (int i = 0; i < 3; i++)
		free(j->out[i]);
	free(j->ack_json);
	free(j);
}

/* Ends a job that changed something: the notifications it causes are
 * stored in the same transaction (notify_chat_write). DM_OK. */
static int job_changed(sqlite3 *w, cjob_t *j, const char *type, int64_t target)
{
	j->note.type = type;
	j->note.icr_id = j->icr;
	j->note.item_id = j->item;
	j->note.owner_id = j->owner;
	j->note.actor_id = j->uid;
	j->note.target_id = target;
	j->note.msg_id = j->msg_id;
	notify_chat_write(w, &j->note);
	return DM_OK;
}

/* Fails the job with refusal rf (rolled back by the lane). */
static int job_fail(cjob_t *j, refusal_t rf)
{
	j->failed = 1;
	j->rf = rf;
	return rf == RF_INTERNAL ? DM_ERR : DM_EFORBID;
}

/* The user a kick or an exchange names (by id or email) into *target: a
 * member of the room other than its owner (naming the owner is refused
 * with if_owner). DM_OK, or the job failed with the refusal. */
static int job_target(sqlite3 *w, cjob_t *j, const rinfo_t *ri, refusal_t if_owner, int64_t *target)
{
	int m;
	*target = resolve_user(w, j->target, j->email);
	if (!*target)
		return job_fail(j, RF_USER_NOT_FOUND);
	if (*target == ri->owner)
		return job_fail(j, if_owner);
	m = is_member(w, j->icr, *target);
	if (m < 0)
		return job_fail(j, RF_INTERNAL);
	if (!m)
		return job_fail(j, RF_TARGET_NOT_MEMBER);
	return DM_OK;
}

/* Common start: the room (exists, item matches) for the actor. */
static int job_room(sqlite3 *w, cjob_t *j, rinfo_t *ri)
{
	int rc;
	if (live_sql_functions(w) != DM_OK)
		return job_fail(j, RF_INTERNAL);
	rc = room_info(w, j->icr, j->uid, ri);
	if (rc == DM_ENOTFOUND)
		return job_fail(j, RF_ROOM_NOT_FOUND);
	if (rc != DM_OK)
		return job_fail(j, RF_INTERNAL);
	if (j->item && j->item != ri->item)
		return job_fail(j, RF_ROOM_NOT_FOUND);
	j->item = ri->item;
	j->owner = ri->owner;
	return DM_OK;
}

static int job_setroom(sqlite3 *w, void *arg)
{
	cjob_t *j = arg;
	rinfo_t ri;
	char *ul, *ml;
	int rc = job_room(w, j, &ri);
	if (rc != DM_OK || !ri.icru || ri.kicked) {
		/* not a member (any more): no setRoom */
		j->failed = 0;
		j->skip = 1;
		return DM_OK;
	}
	ul = user_list(w, j->icr, ri.owner, j->uid);
	ml = history(w, j->icr, ri.owner, j->uid, ri.joined, INT64_MAX, HISTORY_MAX);
	j->out[0] = ml ? room_payload(w, 1, j->icr, ul, ml) : NULL;
	free(ul);
	free(ml);
	if (!j->out[0])
		return job_fail(j, RF_INTERNAL);
	return DM_OK;
}

static int job_join(sqlite3 *w, void *arg)
{
	cjob_t *j = arg;
	rinfo_t ri;
	char *with = NULL, *without = NULL, *ul[3] = {0};
	int rc = job_room(w, j, &ri);

	if (rc != DM_OK)
		return rc;
	if (ri.kicked)
		return job_fail(j, RF_KICKED);
	if (ri.suspended)
		return job_fail(j, RF_SUSPENDED);
	if (ri.icru) {
		/* joining again: harmless, no new message */
		j->repeat = 1;
		ul[0] = user_list(w, j->icr, ri.owner, j->uid);
		j->out[0] = room_payload(w, 0, j->icr, ul[0], NULL);
		free(ul[0]);
		return j->out[0] ? DM_OK : job_fail(j, RF_INTERNAL);
	}
	/* blocked by the owner: refused as if the item were closed (the
	 * blocked user is never told of the block) */
	if (!ri.open || ri.blocked)
		return job_fail(j, RF_ITEM_CLOSED);
	if (db_run(w, "INSERT INTO itemChatRoomUser(icrId, userId, chooseYn, joinedMsgId, createdDt) "
			"VALUES (?1, ?2, 'N', COALESCE((SELECT max(icruMsgId) FROM itemChatRoomUserMsg "
			"WHERE icrId = ?1), 0), dm_now())",
		   DB_INT(j->icr), DB_INT(j->uid)) != DM_OK)
		return job_fail(j, RF_INTERNAL);
	j->msg_id = msg_insert(w, j->icr, j->uid, "TXT02", NULL, 0, "님이 입장하셨습니다.");
	if (!j->msg_id || live_msg_views(w, j->msg_id, &with, &without, NULL) != DM_OK)
		goto fail;
	/* three views: the owner, the joiner, everyone else */
	ul[0] = user_list(w, j->icr, ri.owner, ri.owner);
	ul[1] = user_list(w, j->icr, ri.owner, j->uid);
	ul[2] = user_list(w, j->icr, ri.owner, 0);
	j->out[0] = room_payload(w, 0, j->icr, ul[0], with);
	j->out[1] = room_payload(w, 0, j->icr, ul[1], with);
	j->out[2] = room_payload(w, 0, j->icr, ul[2], without);
	for (int i = 0; i < 3; i++)
		free(ul[i]);
	free(with);
	free(without);
	if (!j->out[0] || !j->out[1] || !j->out[2])
		return job_fail(j, RF_INTERNAL);
	return job_changed(w, j, "join", 0);
fail:
	free(with);
	free(without);
	return job_fail(j, RF_INTERNAL);
}

/* The members of j's room who blocked j's author (j->uid) into j->deaf
 * (malloc'd, owned by the job). DM_OK or DM_ERR. */
static int load_deaf(sqlite3 *w, cjob_t *j)
{
	sqlite3_stmt *st = db_query(w, "SELECT b.userId FROM userBlock b JOIN itemChatRoomUser m"
				       " ON m.icrId = ?1 AND m.userId = b.userId WHERE b.blockedUserId = ?2",
				    DB_INT(j->icr), DB_INT(j->uid));
	size_t cap = 0;
	int rc;
	if (!st)
		return DM_ERR;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (j->ndeaf == cap) {
			int64_t *n = realloc(j->deaf, (cap = cap ? cap * 2 : 4) * sizeof *n);
			if (!n) {
				db_done(st);
				return DM_ERR;
			}
			j->deaf = n;
		}
		j->deaf[j->ndeaf++] = sqlite3_column_int64(st, 0);
	}
	db_done(st);
	return rc == SQLITE_DONE ? DM_OK : DM_ERR;
}

static int job_send(sqlite3 *w, void *arg)
{
	cjob_t *j = arg;
	rinfo_t ri;
	int rc = job_room(w, j, &ri);
	if (rc != DM_OK)
		return rc;
	if (!ri.icru)
		return job_fail(j, ri.kicked ? RF_KICKED : RF_NOT_MEMBER);
	if (ri.suspended)
		return job_fail(j, RF_SUSPENDED);
	j->msg_id = msg_insert(w, j->icr, j->uid, "TXT01", j->text, 0, NULL);
	if (!j->msg_id || live_msg_views(w, j->msg_id, &j->out[0], &j->out[1], &j->ack_json) != DM_OK ||
	    load_deaf(w, j) != DM_OK)
		return job_fail(j, RF_INTERNAL);
	return job_changed(w, j, "message", 0);
}

static int job_kick(sqlite3 *w, void *arg)
{
	cjob_t *j = arg;
	rinfo_t ri;
	int64_t target;
	int rc = job_room(w, j, &ri);

	if (rc != DM_OK)
		return rc;
	if (ri.owner != j->uid)
		return job_fail(j, RF_NOT_OWNER);
	if ((rc = job_target(w, j, &ri, RF_CANNOT_KICK_OWNER, &target)) != DM_OK)
		return rc;
	if (ri.si02 && ri.buyer == target)
		return job_fail(j, RF_PARTNER_CHOSEN);
	j->target = target;
	if (db_run(w, "INSERT OR IGNORE INTO kickUser(icrId, userId, createdDt) VALUES (?1, ?2, dm_now())",
		   DB_INT(j->icr), DB_INT(target)) != DM_OK)
		return job_fail(j, RF_INTERNAL);
	j->msg_id = msg_insert(w, j->icr, target, "TXT03", NULL, 0, "님이 강퇴당하셨습니다.");
	if (!j->msg_id)
		return job_fail(j, RF_INTERNAL);
	if (db_run(w, "DELETE FROM itemChatRoomUser WHERE icrId = ?1 AND userId = ?2",
		   DB_INT(j->icr), DB_INT(target)) != DM_OK || live_msg_views(w, j->msg_id, &j->out[0], &j->out[1], NULL) != DM_OK)
		return job_fail(j, RF_INTERNAL);
	return job_changed(w, j, "kick", target);
}

static int job_exchange(sqlite3 *w, void *arg)
{
	cjob_t *j = arg;
	rinfo_t ri;
	int64_t partner;
	char *with = NULL, *without = NULL;
	int changed = 0, rc = job_room(w, j, &ri);

	if (rc != DM_OK)
		return rc;
	if (ri.owner != j->uid)
		return job_fail(j, RF_NOT_OWNER);
	if (ri.suspended)
		return job_fail(j, RF_SUSPENDED);
	if (!ri.open)
		return job_fail(j, RF_ITEM_CLOSED);
	if ((rc = job_target(w, j, &ri, RF_INVALID_PARTNER, &partner)) != DM_OK)
		return rc;
	j->target = partner;
	if (db_run_changes(w, &changed, "UPDATE saleItem SET status = 'SI02', buyerUserId = ?2, statusDt = dm_now() "
			"WHERE itemId = ?1 AND status = 'SI01'",
		   DB_INT(ri.item), DB_INT(partner)) != DM_OK)
		return job_fail(j, RF_INTERNAL);
	if (changed != 1)
		return job_fail(j, RF_ITEM_CLOSED);
	/* the partner is chosen; everyone else leaves the room */
	if (db_run(w, "UPDATE itemChatRoomUser SET chooseYn = 'Y' WHERE icrId = ?1 AND userId = ?2",
		   DB_INT(j->icr), DB_INT(partner)) != DM_OK)
		return job_fail(j, RF_INTERNAL);
	if (db_run(w, "DELETE FROM itemChatRoomUser WHERE icrId = ?1 AND userId NOT IN (?2, ?3)",
		   DB_INT(j->icr), DB_INT(ri.owner), DB_INT(partner)) != DM_OK)
		return job_fail(j, RF_INTERNAL);
	j->msg_id = msg_insert(w, j->icr, ri.owner, "TXT05", NULL, partner, "님과 교환을 진행합니다.");
	if (!j->msg_id || live_msg_views(w, j->msg_id, &with, &without, NULL) != DM_OK)
		goto fail;
	/* three views: the owner (partner's email, the message with the
	 * owner's), the partner (its own email), everyone else */
	for (int v = 0; v < 3; v++) {
		j->out[v] = first_text(db_query(
			w, "SELECT json_object('msg', 'success', 'itemId', CAST(?1 AS TEXT), "
			   "'icrId', CAST(?2 AS TEXT), 'partner', json_object('userId', CAST(u.userId AS TEXT), "
			   "'nickname', u.nickname, 'email', CASE WHEN ?4 THEN u.email ELSE " LIVE_HIDDEN_EMAIL("u.userId") " END), "
			   "'data', json(?5)) "
			   "FROM user u WHERE u.userId = ?3",
			DB_INT(ri.item), DB_INT(j->icr), DB_INT(partner), DB_INT(v < 2), DB_TEXT(v == 0 ? with : without)));
		if (!j->out[v])
			goto fail;
	}
	free(with);
	free(without);
	return job_changed(w, j, "exchange", partner);
fail:
	free(with);
	free(without);
	return job_fail(j, RF_INTERNAL);
}

static int job_leave(sqlite3 *w, void *arg)
{
	cjob_t *j = arg;
	rinfo_t ri;
	int rc = job_room(w, j, &ri);

	if (rc != DM_OK)
		return rc;
	if (!ri.icru)
		return job_fail(j, RF_NOT_MEMBER);
	if (ri.owner == j->uid)
		return job_fail(j, RF_OWNER_CANNOT_LEAVE);
	if (ri.chosen)
		return job_fail(j, RF_PARTNER_CANNOT_LEAVE);
	j->msg_id = msg_insert(w, j->icr, j->uid, "TXT04", NULL, 0, "님이 나가셨습니다.");
	if (!j->msg_id)
		return job_fail(j, RF_INTERNAL);
	if (db_run(w, "DELETE FROM itemChatRoomUser WHERE icrId = ?1 AND userId = ?2",
		   DB_INT(j->icr), DB_INT(j->uid)) != DM_OK || live_msg_views(w, j->msg_id, &j->out[0], &j->out[1], NULL) != DM_OK)
		return job_fail(j, RF_INTERNAL);
	return job_changed(w, j, "leave", 0);
}

/* ------------------------------------------------- fan-out (lane) */

/* Done callback, on the lane thread after the commit: only queues. */
static void job_done(void *arg, int status)
{
	cjob_t *j = arg;
	/* the message's author sees their email: the sender, or the kicked user */
	live_fanout_t f = {.owner = j->owner, .self = j->kind == J_KICK ? j->target : j->uid,
			   .to_owner = j->out[0], .to_self = j->out[0], .to_rest = j->out[1]};

	if (status != DM_OK && !j->failed)
		job_fail(j, RF_INTERNAL);
	if (j->failed) {
		refuse(j->s, j->ack, j->rf);
		goto done;
	}
	switch (j->kind) {
	case J_SETROOM:
		if (!j->skip) {
			live_room_join(j->s, j->icr);
			sio_emit(j->s, "setRoom", j->out[0]);
		}
		goto done;
	case J_JOIN:
		live_room_join(j->s, j->icr);
		if (j->repeat)
			sio_emit(j->s, "addUser", j->out[0]);
		else {
			/* three views: the owner, the joiner, everyone else
			 * (who still see their own email) */
			f.to_self = j->out[1];
			f.to_rest = j->out[2];
			f.own_email = 1;
			live_room_emit(j->icr, "addUser", &f);
		}
		break;
	case J_SEND:
		live_room_join(j->s, j->icr);
		/* the members who blocked the author get nothing */
		f.mute = j->deaf;
		f.nmute = j->ndeaf;
		live_room_emit(j->icr, "getMsg", &f);
		break;
	case J_KICK:
		live_room_emit(j->icr, "kickUser", &f);
		live_room_leave(j->icr, j->target);
		break;
	case J_EXCHANGE:
		/* three views: the owner, the partner, everyone else */
		f.self = j->target;
		f.to_self = j->out[1];
		f.to_rest = j->out[2];
		live_room_emit(j->icr, "exchange", &f);
		live_room_keep_pair(j->icr, j->owner, j->target);
		break;
	case J_LEAVE:
		live_room_emit(j->icr, "getMsg", &f);
		live_room_leave(j->icr, j->uid);
		break;
	}
	reply_ok(j->s, j->ack, j->ack_json);
	if (j->note.type)
		notify_chat_after(&j->note);
done:
	dm_assert(atomic_fetch_sub(&j->cc->inflight, 1) > 0);
	sio_unref(j->s);
	job_free(j);
}

/* Queues job j for socket s (takes j). */
static void submit(sio_sock_t *s, cconn_t *cc, cjob_t *j, jobs_write_fn fn)
{
	if (atomic_fetch_add(&cc->inflight, 1) >= INFLIGHT_MAX) {
		atomic_fetch_sub(&cc->inflight, 1);
		refuse(s, j->ack, RF_RATE_LIMITED);
		job_free(j);
		return;
	}
	sio_ref(s);
	j->s = s;
	j->cc = cc;
	if (jobs_write_async(fn, job_done, j) != DM_OK) {
		atomic_fetch_sub(&cc->inflight, 1);
		sio_unref(s);
		refuse(s, j->ack, RF_UNAVAILABLE);
		job_free(j);
	}
}

/* ------------------------------------------------------ sio callbacks */

static int on_connect(sio_sock_t *s, const sio_conninfo_t *ci, char *err, size_t errcap)
{
	cconn_t *cc = calloc(1, sizeof *cc);

	if (!cc || sock_auth_init(&cc->auth) != DM_OK) {
		free(cc);
		dm_strlcpy(err, "서버 오류가 발생했습니다.", errcap);
		return DM_ENOMEM;
	}
	atomic_init(&cc->inflight, 0);
	atomic_init(&cc->setroom_done, 0);
	sio_set_user(s, cc, cconn_free);
	cc->icr_query = sock_auth_query_id(ci, "icrId");
	if (sock_auth_connect(s, &cc->auth, ci) != DM_OK) {
		dm_strlcpy(err, "Unauthorization", errcap);
		return DM_EAUTH;
	}
	return DM_OK;
}

/* setRoom for a socket that is authenticated and named a room (once). */
static void maybe_setroom(sio_sock_t *s, cconn_t *cc)
{
	cjob_t *j;
	if (!cc->icr_query || !sio_uid(s) || atomic_exchange(&cc->setroom_done, 1))
		return;
	if (!(j = calloc(1, sizeof *j)))
		return;
	j->kind = J_SETROOM;
	j->ack = -1;
	j->uid = sio_uid(s);
	j->icr = cc->icr_query;
	submit(s, cc, j, job_setroom);
}

static void on_ready(sio_sock_t *s)
{
	cconn_t *cc = sio_user(s);
	if (cc)
		maybe_setroom(s, cc);
}

/* authenticate {token}: ack {msg:"success"} or the refusal. */
static void ev_authenticate(sio_sock_t *s, cconn_t *cc, const json_obj_t *o, int64_t ack)
{
	const char *t = o ? json_str(o, "token", 1, SOCK_AUTH_TOKEN_MAX) : NULL;
	int first;
	if (!t || sock_auth_bind(s, &cc->auth, t, &first) != DM_OK) {
		refuse(s, ack, RF_SOCK_UNAUTHORIZED);
		return;
	}
	reply_ok(s, ack, NULL);
	if (first)
		maybe_setroom(s, cc);
}

/* An id field: a positive integer, as a number or a string of digits. */
static int64_t field_id(const json_obj_t *o, const char *key)
{
	int64_t v;
	if (!json_get(o, key) || json_int(o, key, 1, &v) != DM_OK || v <= 0)
		return 0;
	return v;
}

static void on_event(sio_sock_t *s, const char *event, const char *arg, int64_t ack)
{
	cconn_t *cc = sio_user(s);
	sqlite3 *db = db_reader();
	json_obj_t o;
	int parsed = 0, kind;
	jobs_write_fn fn;
	cjob_t *j;

	if (!cc || !db) {
		refuse(s, ack, RF_INTERNAL);
		return;
	}
	if (arg && json_parse(db, arg, strlen(arg), &o) == DM_OK)
		parsed = 1;
	if (!strcmp(event, "authenticate")) {
		ev_authenticate(s, cc, parsed ? &o : NULL, ack);
		goto done;
	}
	if (!strcmp(event, "joinRoom")) {
		kind = J_JOIN;
		fn = job_join;
	} else if (!strcmp(event, "sendMsg")) {
		kind = J_SEND;
		fn = job_send;
	} else if (!strcmp(event, "kickUser")) {
		kind = J_KICK;
		fn = job_kick;
	} else if (!strcmp(event, "exchange")) {
		kind = J_EXCHANGE;
		fn = job_exchange;
	} else if (!strcmp(event, "leaveRoom")) {
		kind = J_LEAVE;
		fn = job_leave;
	} else {
		refuse(s, ack, sio_uid(s) ? RF_UNKNOWN_EVENT : RF_SOCK_UNAUTHORIZED);
		goto done;
	}
	/* before anything else: who is acting (never the payload) */
	if (sock_auth_current(s, &cc->auth) != DM_OK) {
		refuse(s, ack, RF_SOCK_UNAUTHORIZED);
		goto done;
	}
	if (!parsed) {
		refuse(s, ack, RF_INVALID_INPUT);
		goto done;
	}
	if (!(j = calloc(1, sizeof *j))) {
		refuse(s, ack, RF_INTERNAL);
		goto done;
	}
	j->kind = kind;
	j->ack = ack;
	j->uid = sio_uid(s);
	j->icr = field_id(&o, "icrId");
	if (json_get(&o, "itemId") && !(j->item = field_id(&o, "itemId")))
		j->icr = 0; /* a bad itemId is bad input */
	if (!j->icr) {
		refuse(s, ack, RF_INVALID_INPUT);
		job_free(j);
		goto done;
	}
	if (kind == J_SEND) {
		const char *m = json_str(&o, "chatMsg", 1, 1000);
		if (!m || !(j->text = strdup(m))) {
			refuse(s, ack, m ? RF_INTERNAL : RF_INVALID_MESSAGE);
			job_free(j);
			goto done;
		}
		/* the user's message rate (all their sockets together) */
		if (quota_take(QUOTA_MESSAGES, j->uid, 1, NULL) != DM_OK) {
			refuse(s, ack, RF_RATE_LIMITED);
			job_free(j);
			goto done;
		}
	} else if (kind == J_KICK || kind == J_EXCHANGE) {
		/* the target (never the actor): by id, else by email */
		const char *idk = kind == J_KICK ? "userId" : "consumerUserId";
		const char *ek = kind == J_KICK ? "email" : "consumerEmail";
		const char *e = json_str(&o, ek, 3, 254);
		const json_field_t *idf = json_get(&o, idk);
		j->target = field_id(&o, idk);
		if (!j->target && idf && idf->type != JSON_NULL)
			j->icr = 0; /* an id that is not one */
		else if (!j->target && e && !(j->email = strdup(e)))
			j->icr = 0;
		if (!j->icr || (!j->target && !j->email)) {
			refuse(s, ack, RF_INVALID_INPUT);
			job_free(j);
			goto done;
		}
	}
	submit(s, cc, j, fn);
done:
	if (parsed)
		json_free(&o);
}

static void on_close(sio_sock_t *s)
{
	dm_debug("chat: socket %s of user %lld closed", sio_sid(s), (long long)sio_uid(s));
}

static const sio_app_t chat_app = {
	.nsp = NSP,
	.on_connect = on_connect,
	.on_ready = on_ready,
	.on_event = on_event,
	.on_close = on_close,
};

/* --------------------------------------------------------------- HTTP */

/* A positive decimal id of at most 18 digits; 0 if not. */
static int64_t parse_id(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > 18)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return strtoll(s, NULL, 10);
}

/* GET /chat/:icrId/messages?before=<icruMsgId>&limit=50 — members only:
 * older messages (after the member joined), oldest first, and `next` (the
 * before= of the page after this one, null at the start). */
static int h_messages(http_req_t *r)
{
	char buf[32];
	int64_t icr = parse_id(r->param[0]), before = INT64_MAX;
	int limit = 50, rc;
	rinfo_t ri;

	if (!icr)
		return http_refuse(r, RF_ROOM_NOT_FOUND);
	rc = http_query(r, "before", buf, sizeof buf);
	if ((rc == DM_OK && !(before = parse_id(buf))) || (rc != DM_OK && rc != DM_ENOTFOUND))
		return http_refuse(r, RF_INVALID_BEFORE);
	rc = http_query(r, "limit", buf, sizeof buf);
	if (rc == DM_OK) {
		int64_t l = parse_id(buf);
		if (l < 1 || l > HISTORY_MAX)
			return http_refuse(r, RF_INVALID_MSG_LIMIT);
		limit = (int)l;
	} else if (rc != DM_ENOTFOUND)
		return http_refuse(r, RF_INVALID_MSG_LIMIT);
	rc = room_info(r->db, icr, r->user_id, &ri);
	if (rc == DM_ENOTFOUND)
		return http_refuse(r, RF_ROOM_NOT_FOUND);
	if (rc != DM_OK)
		return http_fail_dm(r, DM_ERR);
	if (ri.kicked)
		return http_refuse(r, RF_KICKED);
	if (!ri.icru)
		return http_refuse(r, RF_NOT_MEMBER);
	return http_reply_stmt(r, 200, db_query(r->db,
		     "WITH page AS (SELECT m.icruMsgId AS id, "
		     LIVE_MSG_OBJ(LIVE_EMAIL_FOR("?2", "?3")) " AS j" LIVE_MSG_FROM
		     "WHERE m.icrId = ?1 AND m.icruMsgId > ?4 AND m.icruMsgId < ?5 AND " NOT_BLOCKED_MSG
		     " ORDER BY m.icruMsgId DESC LIMIT ?6) "
		     "SELECT json_object('msg', 'success', 'icrId', CAST(?1 AS TEXT), "
		     "'data', (SELECT json_group_array(json(j) ORDER BY id) FROM page), "
		     "'next', CASE WHEN EXISTS (SELECT 1 FROM itemChatRoomUserMsg m WHERE m.icrId = ?1 AND m.icruMsgId > ?4 "
		     "AND m.icruMsgId < (SELECT min(id) FROM page) AND " NOT_BLOCKED_MSG ") THEN CAST((SELECT min(id) FROM page) AS TEXT) END)",
		     DB_INT(icr), DB_INT(ri.owner), DB_INT(r->user_id), DB_INT(ri.joined), DB_INT(before), DB_INT(limit)));
}

/* GET /chat/:icrId/members — the owner only (403 NOT_OWNER for anyone
 * else): the room's other members with what helps choose a partner
 * fairly, above all for 나눔: manner temperature, region, and how many
 * items they received as 나눔 in the last 30 days (chosen as partner of
 * a 나눔 item whose status changed since then, not cancelled). */
static int h_members(http_req_t *r)
{
	int64_t icr = parse_id(r->param[0]);
	rinfo_t ri;
	int rc;

	if (!icr)
		return http_refuse(r, RF_ROOM_NOT_FOUND);
	rc = room_info(r->db, icr, r->user_id, &ri);
	if (rc == DM_ENOTFOUND)
		return http_refuse(r, RF_ROOM_NOT_FOUND);
	if (rc != DM_OK)
		return http_fail_dm(r, DM_ERR);
	if (ri.owner != r->user_id)
		return http_refuse(r, RF_NOT_OWNER);
	return http_reply_stmt(r, 200, db_query(r->db,
		     "SELECT json_object('msg', 'success', 'icrId', CAST(?1 AS TEXT), 'freeYn', s.freeYn, "
		     "'data', (SELECT json_group_array(json_object('userId', CAST(m.userId AS TEXT), "
		     "'nickname', u.nickname, 'mannerTemp', u.mannerTemp, 'address', u.address, 'chooseYn', m.chooseYn, "
		     "'freeReceived30d', (SELECT count(*) FROM saleItem g WHERE g.buyerUserId = m.userId "
		     "AND g.freeYn = 'Y' AND g.statusDt > ?3 AND g.status IN ('SI02', 'SI04'))) ORDER BY m.icruId) "
		     "FROM itemChatRoomUser m JOIN user u ON u.userId = m.userId WHERE m.icrId = ?1 AND m.userId <> ?2)) "
		     "FROM itemChatRoom c JOIN saleItem s ON s.itemId = c.itemId WHERE c.icrId = ?1",
		     DB_INT(icr), DB_INT(r->user_id), DB_INT(dm_now_ms() - 30LL * 86400000)));
}

static const http_route_t routes[] = {
	{"GET", "/chat/:icrId/messages", h_messages, HTTP_AUTH},
	{"GET", "/chat/:icrId/members", h_members, HTTP_AUTH},
};

/* ---------------------------------------------------------- lifecycle */

int chat_init(void)
{
	sqlite3 *mem = NULL;
	int rc = DM_ERR;

	/* the refusal bodies, built once by SQLite */
	if (sqlite3_open_v2(":memory:", &mem, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
		goto done;
	for (int f = 0; f < RF_COUNT; f++)
		if (!(fail_json[f] = first_text(db_query(mem, "SELECT json_object('msg', 'fail', 'errorMsg', ?1, 'code', ?2)",
							 DB_TEXT(refusal_msg(f)), DB_TEXT(refusal_code(f))))))
			goto done;
	http_routes(routes, sizeof routes / sizeof routes[0]);
	sio_set_app(&chat_app);
	rc = DM_OK;
done:
	db_close_conn(mem); /* with the statements db_query cached on it */
	return rc;
}

void chat_stop(void)
{
	for (int f = 0; f < RF_COUNT; f++) {
		free(fail_json[f]);
		fail_json[f] = NULL;
	}
}
