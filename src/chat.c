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
 * COMMIT and in commit order, only queues frames (sio) — so nobody sees a
 * message that is not durable, and a room sees messages in commit order.
 * Refusals go to the sender only: the ack reply if it asked for one, else
 * an `error` event.
 *
 * Privacy (API.md): a user's email is shown only to that user and to the
 * item's owner. A message goes out in two versions: with the author's
 * email (to the owner's and the author's sockets) and with the author's
 * placeholder (CHAT_HIDDEN_EMAIL) to everyone else. A userList is built for
 * the owner (every email), for the user it is sent to alone (their own
 * email), and for the rest of a room (placeholders only: one shared frame
 * per broadcast, not one per member).
 *
 * Exchange: when the owner chooses a partner, every other membership of
 * the room is deleted (API.md: "everyone leaves the room"), so only owner
 * and partner keep the room and its history; the item is no longer open,
 * so nobody can join again.
 *
 * Thread-safety: per-socket state (cconn_t) is under its own mutex, except
 * the atomic in-flight counter. Jobs own their cjob_t.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "chat.h"
#include "config.h"
#include "db.h"
#include "dm.h"
#include "http.h"
#include "jobs.h"
#include "json.h"
#include "quota.h"
#include "sio.h"

#define NSP "/chatting"
#define HISTORY_MAX 200
#define INFLIGHT_MAX 64            /* write jobs one socket may have queued */
#define AUTH_RECHECK_MS 60000      /* re-verify a socket's token this often */
#define TOKEN_MAX 4096

/* ---------------------------------------------------------- refusals */

enum {
	F_NONE,
	F_INTERNAL,
	F_UNAUTH,
	F_INVALID,
	F_MSG_LEN,
	F_NO_ROOM,
	F_NOT_MEMBER,
	F_KICKED,
	F_SUSPENDED,
	F_CLOSED,
	F_NOT_OWNER,
	F_KICK_OWNER,
	F_BAD_PARTNER,
	F_NO_USER,
	F_TARGET_NOT_MEMBER,
	F_OWNER_LEAVE,
	F_PARTNER_LEAVE,
	F_PARTNER_KICK,
	F_RATE,
	F_UNKNOWN_EVENT,
	F_UNAVAIL,
	F_COUNT
};

static const struct {
	const char *code, *msg;
} fails[F_COUNT] = {
	[F_NONE] = {"", ""},
	[F_INTERNAL] = {"INTERNAL", "서버 오류가 발생했습니다."},
	[F_UNAUTH] = {"UNAUTHORIZED", "Unauthorization"},
	[F_INVALID] = {"INVALID_INPUT", "입력값이 올바르지 않습니다."},
	[F_MSG_LEN] = {"INVALID_MESSAGE", "메시지는 1~1,000자여야 합니다."},
	[F_NO_ROOM] = {"ROOM_NOT_FOUND", "채팅방을 찾을 수 없습니다."},
	[F_NOT_MEMBER] = {"NOT_MEMBER", "채팅방 참여자가 아닙니다."},
	[F_KICKED] = {"KICKED", "강퇴된 채팅방입니다."},
	[F_SUSPENDED] = {"SUSPENDED", "이용이 정지된 계정입니다."},
	[F_CLOSED] = {"ITEM_CLOSED", "교환 신청이 마감된 물건입니다."},
	[F_NOT_OWNER] = {"NOT_OWNER", "물건을 올린 사람만 할 수 있습니다."},
	[F_KICK_OWNER] = {"CANNOT_KICK_OWNER", "방장은 강퇴할 수 없습니다."},
	[F_BAD_PARTNER] = {"INVALID_PARTNER", "자기 자신과는 교환할 수 없습니다."},
	[F_NO_USER] = {"USER_NOT_FOUND", "사용자를 찾을 수 없습니다."},
	[F_TARGET_NOT_MEMBER] = {"TARGET_NOT_MEMBER", "상대가 채팅방 참여자가 아닙니다."},
	[F_OWNER_LEAVE] = {"OWNER_CANNOT_LEAVE", "방장은 채팅방을 나갈 수 없습니다."},
	[F_PARTNER_LEAVE] = {"PARTNER_CANNOT_LEAVE", "교환 상대는 채팅방을 나갈 수 없습니다."},
	[F_PARTNER_KICK] = {"PARTNER_CHOSEN", "교환 상대로 정한 사용자는 강퇴할 수 없습니다."},
	[F_RATE] = {"RATE_LIMITED", "요청이 너무 많습니다. 잠시 후 다시 시도해 주세요."},
	[F_UNKNOWN_EVENT] = {"UNKNOWN_EVENT", "알 수 없는 요청입니다."},
	[F_UNAVAIL] = {"UNAVAILABLE", "잠시 후 다시 시도해 주세요."},
};

/* {"msg":"fail","errorMsg":...,"code":...} per refusal, built by SQLite at
 * init; read-only afterwards. */
static char *fail_json[F_COUNT];
static const char ok_json[] = "{\"msg\":\"success\"}";

/* Sends refusal f to the sender only. */
static void refuse(sio_sock_t *s, int64_t ack, int f)
{
	if (f <= F_NONE || f >= F_COUNT || !fail_json[f])
		f = F_INTERNAL;
	if (!fail_json[f])
		return;
	if (ack >= 0)
		sio_ack(s, ack, fail_json[f]);
	else
		sio_emit(s, "error", fail_json[f]);
}

static void reply_ok(sio_sock_t *s, int64_t ack, const char *json)
{
	if (ack >= 0)
		sio_ack(s, ack, json ? json : ok_json);
}

/* ------------------------------------------------------ socket state */

typedef struct cconn {
	pthread_mutex_t lock;
	int64_t icr_query;      /* icrId named in the handshake (0: none) */
	int setroom_done;
	char *token;            /* the last verified token */
	int64_t tok_exp_ms;     /* its expiry (wall ms) */
	int64_t tok_checked_ms; /* when it was last verified against the db */
	char fam[48];           /* the login family of that token ("" if none): room "fam:<fam>" */
	atomic_int inflight;
} cconn_t;

static void cconn_free(void *p)
{
	cconn_t *cc = p;
	if (!cc)
		return;
	pthread_mutex_destroy(&cc->lock);
	free(cc->token);
	free(cc);
}

static void room_name(char *buf, size_t cap, const char *kind, int64_t id)
{
	snprintf(buf, cap, "%s:%lld", kind, (long long)id);
}

int chat_online(int64_t uid)
{
	char room[40];
	room_name(room, sizeof room, "user", uid);
	return sio_room_size(room) > 0;
}

int chat_user_emit(int64_t uid, const char *event, const char *json)
{
	char room[40];
	room_name(room, sizeof room, "user", uid);
	return sio_room_emit(room, event, json);
}

static int pick_all(const sio_sock_t *s, void *arg)
{
	(void)s;
	(void)arg;
	return 1;
}

void chat_close_sessions(int64_t uid, const char *fam)
{
	char room[64];
	int n;
	if (fam && fam[0])
		n = dm_snprintf(room, sizeof room, "fam:%s", fam) == DM_OK ? sio_room_close(room) : 0;
	else {
		room_name(room, sizeof room, "user", uid);
		n = sio_room_close(room);
	}
	if (n)
		dm_info("chat: closed %d socket(s) of user %lld (session ended)", n, (long long)uid);
}

void chat_room_drop(int64_t icr_id)
{
	char room[40];
	room_name(room, sizeof room, "icr", icr_id);
	sio_room_leave_pick(room, pick_all, NULL);
}

/* chat_room_users' collector: a picker that records every socket's user
 * and never picks (runs under sio's lock; touches only its own arg). */
typedef struct uidset {
	int64_t *v;
	int n, cap, oom;
} uidset_t;

static int pick_collect(const sio_sock_t *s, void *arg)
{
	uidset_t *u = arg;
	int64_t uid = sio_uid(s);
	if (!uid || u->oom)
		return 0;
	if (u->n == u->cap) {
		int ncap = u->cap ? u->cap * 2 : 16;
		int64_t *nv = realloc(u->v, (size_t)ncap * sizeof *nv);
		if (!nv) {
			u->oom = 1;
			return 0;
		}
		u->v = nv;
		u->cap = ncap;
	}
	u->v[u->n++] = uid;
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

int chat_room_users(int64_t icr_id, int64_t **uids)
{
	char room[40];
	uidset_t u = {0};
	int n = 0;

	room_name(room, sizeof room, "icr", icr_id);
	sio_room_leave_pick(room, pick_collect, &u);
	*uids = NULL;
	if (u.oom) {
		free(u.v);
		return -1;
	}
	if (u.n)
		qsort(u.v, (size_t)u.n, sizeof *u.v, cmp_i64);
	for (int i = 0; i < u.n; i++)
		if (!n || u.v[i] != u.v[n - 1])
			u.v[n++] = u.v[i];
	*uids = u.v;
	return n;
}

/* SQL function chat_online(userId) -> 0/1, registered once per connection
 * that builds user lists (the writer). */
static void fn_online(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	sqlite3_result_int(ctx, chat_online(sqlite3_value_int64(argv[0])));
}

static int ensure_fns(sqlite3 *db)
{
	static const char key[] = "dongmul.chat";
	if (sqlite3_get_clientdata(db, key))
		return DM_OK;
	if (sqlite3_create_function(db, "chat_online", 1, SQLITE_UTF8, NULL, fn_online, NULL, NULL) != SQLITE_OK)
		return DM_ERR;
	return sqlite3_set_clientdata(db, key, (void *)1, NULL) == SQLITE_OK ? DM_OK : DM_ERR;
}

/* ----------------------------------------------------------- queries */

/* Every statement here comes from db_stmt (db.h): prepared once per
 * connection — the writer for the jobs, a reader for HTTP — and given back
 * with db_done (the write lane runs every chat job: parsing the same SQL
 * for each message was most of its time). */

/* The first row's first column of st as a malloc'd string (NULL if no row
 * or NULL). Gives st back (db_done). */
static char *sql_text(sqlite3_stmt *st)
{
	char *out = NULL;
	if (!st)
		return NULL;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		out = strdup((const char *)sqlite3_column_text(st, 0));
	db_done(st);
	return out;
}

/* Runs a statement that returns no rows. DM_OK or DM_ERR. Gives st back. */
static int sql_done(sqlite3_stmt *st)
{
	int rc;
	if (!st)
		return DM_ERR;
	rc = sqlite3_step(st) == SQLITE_DONE ? DM_OK : DM_ERR;
	if (rc != DM_OK)
		dm_error("chat: %s", sqlite3_errmsg(sqlite3_db_handle(st)));
	db_done(st);
	return rc;
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
	sqlite3_stmt *st = db_stmt(
		db, "SELECT r.itemId, s.userId, s.buyerUserId, s.status = 'SI01' AND s.deadLine > dm_now(), "
		    "s.status = 'SI02', "
		    "COALESCE((SELECT suspendedUntil > dm_now() FROM user WHERE userId = ?2), 0), "
		    "EXISTS (SELECT 1 FROM kickUser WHERE icrId = r.icrId AND userId = ?2), "
		    "m.icruId, m.joinedMsgId, m.chooseYn = 'Y', "
		    "EXISTS (SELECT 1 FROM userBlock WHERE userId = s.userId AND blockedUserId = ?2) "
		    "FROM itemChatRoom r JOIN saleItem s ON s.itemId = r.itemId "
		    "LEFT JOIN itemChatRoomUser m ON m.icrId = r.icrId AND m.userId = ?2 "
		    "WHERE r.icrId = ?1");
	int rc;
	memset(ri, 0, sizeof *ri);
	if (!st)
		return DM_ERR;
	sqlite3_bind_int64(st, 1, icr);
	sqlite3_bind_int64(st, 2, uid);
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
	sqlite3_stmt *st = db_stmt(db, "SELECT 1 FROM itemChatRoomUser WHERE icrId = ?1 AND userId = ?2");
	int rc;
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, icr);
	sqlite3_bind_int64(st, 2, uid);
	rc = sqlite3_step(st);
	db_done(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* The user named by id (>0) or else by email; 0 if none. */
static int64_t resolve_user(sqlite3 *db, int64_t id, const char *email)
{
	sqlite3_stmt *st;
	int64_t uid = 0;
	if (id > 0) {
		st = db_stmt(db, "SELECT userId FROM user WHERE userId = ?1");
		if (st)
			sqlite3_bind_int64(st, 1, id);
	} else if (email) {
		st = db_stmt(db, "SELECT userId FROM user WHERE email = ?1");
		if (st)
			sqlite3_bind_text(st, 1, email, -1, SQLITE_STATIC);
	} else
		return 0;
	if (st && sqlite3_step(st) == SQLITE_ROW)
		uid = sqlite3_column_int64(st, 0);
	db_done(st);
	return uid;
}

/* Stores a message by uid in room icr. text: the chat text, or NULL for
 * "<nickname of nick_uid><suffix>". Returns the new icruMsgId, 0 on error. */
static int64_t msg_insert(sqlite3 *w, int64_t icr, int64_t uid, const char *type, const char *text,
			  int64_t nick_uid, const char *suffix)
{
	sqlite3_stmt *st = db_stmt(w, "INSERT INTO itemChatRoomUserMsg(icrId, userId, msgType, chatMsg, createdDt) "
				      "SELECT ?1, ?2, ?3, COALESCE(?4, nickname || ?6), dm_now() "
				      "FROM user WHERE userId = ?5");
	int64_t id = 0;
	if (!st)
		return 0;
	sqlite3_bind_int64(st, 1, icr);
	sqlite3_bind_int64(st, 2, uid);
	sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
	if (text)
		sqlite3_bind_text(st, 4, text, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, nick_uid ? nick_uid : uid);
	sqlite3_bind_text(st, 6, suffix ? suffix : "", -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(w) == 1)
		id = sqlite3_last_insert_rowid(w);
	else
		dm_error("chat: storing a message: %s", sqlite3_errmsg(w));
	db_done(st);
	return id;
}

/* One message as a JSON object; EMAIL is the SQL for its email field. */
#define MSG_OBJ(EMAIL)                                                                                           \
	"json_object('icruMsgId', CAST(m.icruMsgId AS TEXT), 'icrId', CAST(m.icrId AS TEXT), "                   \
	"'userId', CAST(m.userId AS TEXT), 'email', " EMAIL ", 'nickname', u.nickname, "                         \
	"'msgType', c.codeName, 'chatMsg', m.chatMsg, 'createdDt', dm_time(m.createdDt))"
#define MSG_FROM                                                                                                 \
	" FROM itemChatRoomUserMsg m JOIN user u ON u.userId = m.userId JOIN code c ON c.codeId = m.msgType "

/* Message id as JSON: *with (the author's email), *without (email null)
 * and *ack ({msg:"success", data: with}); malloc'd. DM_OK or DM_ERR. */
static int msg_json(sqlite3 *db, int64_t id, char **with, char **without, char **ack)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT " MSG_OBJ("u.email") ", " MSG_OBJ(CHAT_HIDDEN_EMAIL("m.userId")) ", "
				       "json_object('msg', 'success', 'data', " MSG_OBJ("u.email") ")" MSG_FROM
				       "WHERE m.icruMsgId = ?1");
	int rc = DM_ERR;
	if (!st)
		return DM_ERR;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*with = strdup((const char *)sqlite3_column_text(st, 0));
		*without = strdup((const char *)sqlite3_column_text(st, 1));
		if (ack)
			*ack = strdup((const char *)sqlite3_column_text(st, 2));
		rc = *with && *without && (!ack || *ack) ? DM_OK : DM_ERR;
	}
	db_done(st);
	return rc;
}

/* The members of icr as seen by viewer (0: someone who is neither the
 * owner nor a member shown): JSON array, malloc'd. Needs chat_online on
 * db (ensure_fns). */
static char *user_list(sqlite3 *db, int64_t icr, int64_t owner, int64_t viewer)
{
	sqlite3_stmt *st = db_stmt(
		db, "SELECT json_group_array(json_object('icruId', CAST(r.icruId AS TEXT), "
		    "'userId', CAST(r.userId AS TEXT), "
		    "'email', CASE WHEN ?3 = ?2 OR r.userId = ?3 THEN u.email ELSE " CHAT_HIDDEN_EMAIL("r.userId") " END, "
		    "'nickname', u.nickname, "
		    "'chooseYn', r.chooseYn, 'isBoss', json(CASE WHEN r.userId = ?2 THEN 'true' ELSE 'false' END), "
		    "'mannerTemp', u.mannerTemp, "
		    "'online', json(CASE WHEN chat_online(r.userId) THEN 'true' ELSE 'false' END)) ORDER BY r.icruId) "
		    "FROM itemChatRoomUser r JOIN user u ON u.userId = r.userId WHERE r.icrId = ?1");
	if (!st)
		return NULL;
	sqlite3_bind_int64(st, 1, icr);
	sqlite3_bind_int64(st, 2, owner);
	sqlite3_bind_int64(st, 3, viewer);
	return sql_text(st);
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
	sqlite3_stmt *st = db_stmt(
		db, "SELECT json_group_array(json(j) ORDER BY id) FROM (SELECT m.icruMsgId AS id, "
		    MSG_OBJ("CASE WHEN ?3 = ?2 OR m.userId = ?3 THEN u.email ELSE " CHAT_HIDDEN_EMAIL("m.userId") " END") " AS j" MSG_FROM
		    "WHERE m.icrId = ?1 AND m.icruMsgId > ?4 AND m.icruMsgId < ?5 AND " NOT_BLOCKED_MSG
		    " ORDER BY m.icruMsgId DESC LIMIT ?6)");
	if (!st)
		return NULL;
	sqlite3_bind_int64(st, 1, icr);
	sqlite3_bind_int64(st, 2, owner);
	sqlite3_bind_int64(st, 3, viewer);
	sqlite3_bind_int64(st, 4, after);
	sqlite3_bind_int64(st, 5, before);
	sqlite3_bind_int(st, 6, limit);
	return sql_text(st);
}

/* setRoom / addUser payloads: icrId, a userList and a message (NULL: none). */
static char *room_payload(sqlite3 *db, int setroom, int64_t icr, const char *ul, const char *msgs)
{
	sqlite3_stmt *st = db_stmt(
		db, setroom ? "SELECT json_object('icrId', CAST(?1 AS TEXT), 'userList', json(?2), 'msgList', json(?3))"
			    : "SELECT json_object('icrId', CAST(?1 AS TEXT), 'userList', json(?2), 'msgList', "
			      "CASE WHEN ?3 IS NULL THEN json_object('msg', 'success') "
			      "ELSE json_object('msg', 'success', 'data', json(?3)) END)");
	if (!st || !ul)
		goto fail;
	sqlite3_bind_int64(st, 1, icr);
	sqlite3_bind_text(st, 2, ul, -1, SQLITE_STATIC);
	if (msgs)
		sqlite3_bind_text(st, 3, msgs, -1, SQLITE_STATIC);
	return sql_text(st);
fail:
	db_done(st);
	return NULL;
}

/* --------------------------------------------------------------- jobs */

enum { J_SETROOM, J_JOIN, J_SEND, J_KICK, J_EXCHANGE, J_LEAVE, J_PUBLISH };

/* One chat write job: inputs from the event, outputs for the done
 * callback. Owned by the job; freed by job_done. */
typedef struct cjob {
	int kind;
	sio_sock_t *s;      /* the sender, referenced (NULL: J_PUBLISH) */
	cconn_t *cc;        /* its state (lives as long as s) */
	int64_t ack;        /* -1: none */
	int64_t uid;        /* the actor: the socket's authenticated user */
	int64_t icr, item;  /* item: 0 unless given */
	int64_t target;     /* kick / exchange: by id, or resolved */
	char *email;        /* kick / exchange: by email */
	char *text;         /* sendMsg */
	/* results */
	int fail;
	int skip;           /* setRoom: nothing to send */
	int repeat;         /* joinRoom by a member */
	int64_t owner, msg_id;
	int64_t *deaf;      /* sendMsg: members who blocked the author (get no copy) */
	size_t ndeaf;
	char *out[3];
	char *ack_json;
	chat_note_t note;
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

/* Ends a job that changed something: the notification hook, status. */
static int job_changed(sqlite3 *w, cjob_t *j, const char *type, int64_t target)
{
	j->note.type = type;
	j->note.icr_id = j->icr;
	j->note.item_id = j->item;
	j->note.owner_id = j->owner;
	j->note.actor_id = j->uid;
	j->note.target_id = target;
	j->note.msg_id = j->msg_id;
	if (notify_chat_write)
		notify_chat_write(w, &j->note);
	return DM_OK;
}

/* Fails the job with f (rolled back by the lane). */
static int job_fail(cjob_t *j, int f)
{
	j->fail = f;
	return f == F_INTERNAL ? DM_ERR : DM_EFORBID;
}

/* Common start: the room (exists, item matches) for the actor. */
static int job_room(sqlite3 *w, cjob_t *j, rinfo_t *ri)
{
	int rc;
	if (ensure_fns(w) != DM_OK)
		return job_fail(j, F_INTERNAL);
	rc = room_info(w, j->icr, j->uid, ri);
	if (rc == DM_ENOTFOUND)
		return job_fail(j, F_NO_ROOM);
	if (rc != DM_OK)
		return job_fail(j, F_INTERNAL);
	if (j->item && j->item != ri->item)
		return job_fail(j, F_NO_ROOM);
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
		j->fail = F_NONE;
		j->skip = 1;
		return DM_OK;
	}
	ul = user_list(w, j->icr, ri.owner, j->uid);
	ml = history(w, j->icr, ri.owner, j->uid, ri.joined, INT64_MAX, HISTORY_MAX);
	j->out[0] = ml ? room_payload(w, 1, j->icr, ul, ml) : NULL;
	free(ul);
	free(ml);
	if (!j->out[0])
		return job_fail(j, F_INTERNAL);
	return DM_OK;
}

static int job_join(sqlite3 *w, void *arg)
{
	cjob_t *j = arg;
	rinfo_t ri;
	char *with = NULL, *without = NULL, *ul[3] = {0};
	sqlite3_stmt *st;
	int rc = job_room(w, j, &ri);

	if (rc != DM_OK)
		return rc;
	if (ri.kicked)
		return job_fail(j, F_KICKED);
	if (ri.suspended)
		return job_fail(j, F_SUSPENDED);
	if (ri.icru) {
		/* joining again: harmless, no new message */
		j->repeat = 1;
		ul[0] = user_list(w, j->icr, ri.owner, j->uid);
		j->out[0] = room_payload(w, 0, j->icr, ul[0], NULL);
		free(ul[0]);
		return j->out[0] ? DM_OK : job_fail(j, F_INTERNAL);
	}
	/* blocked by the owner: refused as if the item were closed (the
	 * blocked user is never told of the block) */
	if (!ri.open || ri.blocked)
		return job_fail(j, F_CLOSED);
	st = db_stmt(w, "INSERT INTO itemChatRoomUser(icrId, userId, chooseYn, joinedMsgId, createdDt) "
			"VALUES (?1, ?2, 'N', COALESCE((SELECT max(icruMsgId) FROM itemChatRoomUserMsg "
			"WHERE icrId = ?1), 0), dm_now())");
	if (st) {
		sqlite3_bind_int64(st, 1, j->icr);
		sqlite3_bind_int64(st, 2, j->uid);
	}
	if (sql_done(st) != DM_OK)
		return job_fail(j, F_INTERNAL);
	j->msg_id = msg_insert(w, j->icr, j->uid, "TXT02", NULL, 0, "님이 입장하셨습니다.");
	if (!j->msg_id || msg_json(w, j->msg_id, &with, &without, NULL) != DM_OK)
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
		return job_fail(j, F_INTERNAL);
	return job_changed(w, j, "join", 0);
fail:
	free(with);
	free(without);
	return job_fail(j, F_INTERNAL);
}

/* The members of j's room who blocked j's author (j->uid) into j->deaf
 * (malloc'd, owned by the job). DM_OK or DM_ERR. */
static int load_deaf(sqlite3 *w, cjob_t *j)
{
	sqlite3_stmt *st = db_stmt(w, "SELECT b.userId FROM userBlock b JOIN itemChatRoomUser m"
				      " ON m.icrId = ?1 AND m.userId = b.userId WHERE b.blockedUserId = ?2");
	size_t cap = 0;
	int rc;
	if (!st)
		return DM_ERR;
	sqlite3_bind_int64(st, 1, j->icr);
	sqlite3_bind_int64(st, 2, j->uid);
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
		return job_fail(j, ri.kicked ? F_KICKED : F_NOT_MEMBER);
	if (ri.suspended)
		return job_fail(j, F_SUSPENDED);
	j->msg_id = msg_insert(w, j->icr, j->uid, "TXT01", j->text, 0, NULL);
	if (!j->msg_id || msg_json(w, j->msg_id, &j->out[0], &j->out[1], &j->ack_json) != DM_OK ||
	    load_deaf(w, j) != DM_OK)
		return job_fail(j, F_INTERNAL);
	return job_changed(w, j, "message", 0);
}

static int job_kick(sqlite3 *w, void *arg)
{
	cjob_t *j = arg;
	rinfo_t ri;
	sqlite3_stmt *st;
	int64_t target;
	int m, rc = job_room(w, j, &ri);

	if (rc != DM_OK)
		return rc;
	if (ri.owner != j->uid)
		return job_fail(j, F_NOT_OWNER);
	target = resolve_user(w, j->target, j->email);
	if (!target)
		return job_fail(j, F_NO_USER);
	if (target == ri.owner)
		return job_fail(j, F_KICK_OWNER);
	m = is_member(w, j->icr, target);
	if (m < 0)
		return job_fail(j, F_INTERNAL);
	if (!m)
		return job_fail(j, F_TARGET_NOT_MEMBER);
	if (ri.si02 && ri.buyer == target)
		return job_fail(j, F_PARTNER_KICK);
	j->target = target;
	st = db_stmt(w, "INSERT OR IGNORE INTO kickUser(icrId, userId, createdDt) VALUES (?1, ?2, dm_now())");
	if (st) {
		sqlite3_bind_int64(st, 1, j->icr);
		sqlite3_bind_int64(st, 2, target);
	}
	if (sql_done(st) != DM_OK)
		return job_fail(j, F_INTERNAL);
	j->msg_id = msg_insert(w, j->icr, target, "TXT03", NULL, 0, "님이 강퇴당하셨습니다.");
	if (!j->msg_id)
		return job_fail(j, F_INTERNAL);
	st = db_stmt(w, "DELETE FROM itemChatRoomUser WHERE icrId = ?1 AND userId = ?2");
	if (st) {
		sqlite3_bind_int64(st, 1, j->icr);
		sqlite3_bind_int64(st, 2, target);
	}
	if (sql_done(st) != DM_OK || msg_json(w, j->msg_id, &j->out[0], &j->out[1], NULL) != DM_OK)
		return job_fail(j, F_INTERNAL);
	return job_changed(w, j, "kick", target);
}

static int job_exchange(sqlite3 *w, void *arg)
{
	cjob_t *j = arg;
	rinfo_t ri;
	sqlite3_stmt *st;
	int64_t partner;
	char *with = NULL, *without = NULL;
	int m, rc = job_room(w, j, &ri);

	if (rc != DM_OK)
		return rc;
	if (ri.owner != j->uid)
		return job_fail(j, F_NOT_OWNER);
	if (ri.suspended)
		return job_fail(j, F_SUSPENDED);
	if (!ri.open)
		return job_fail(j, F_CLOSED);
	partner = resolve_user(w, j->target, j->email);
	if (!partner)
		return job_fail(j, F_NO_USER);
	if (partner == ri.owner)
		return job_fail(j, F_BAD_PARTNER);
	m = is_member(w, j->icr, partner);
	if (m < 0)
		return job_fail(j, F_INTERNAL);
	if (!m)
		return job_fail(j, F_TARGET_NOT_MEMBER);
	j->target = partner;
	st = db_stmt(w, "UPDATE saleItem SET status = 'SI02', buyerUserId = ?2, statusDt = dm_now() "
			"WHERE itemId = ?1 AND status = 'SI01'");
	if (st) {
		sqlite3_bind_int64(st, 1, ri.item);
		sqlite3_bind_int64(st, 2, partner);
	}
	if (sql_done(st) != DM_OK)
		return job_fail(j, F_INTERNAL);
	if (sqlite3_changes(w) != 1)
		return job_fail(j, F_CLOSED);
	/* the partner is chosen; everyone else leaves the room */
	st = db_stmt(w, "UPDATE itemChatRoomUser SET chooseYn = 'Y' WHERE icrId = ?1 AND userId = ?2");
	if (st) {
		sqlite3_bind_int64(st, 1, j->icr);
		sqlite3_bind_int64(st, 2, partner);
	}
	if (sql_done(st) != DM_OK)
		return job_fail(j, F_INTERNAL);
	st = db_stmt(w, "DELETE FROM itemChatRoomUser WHERE icrId = ?1 AND userId NOT IN (?2, ?3)");
	if (st) {
		sqlite3_bind_int64(st, 1, j->icr);
		sqlite3_bind_int64(st, 2, ri.owner);
		sqlite3_bind_int64(st, 3, partner);
	}
	if (sql_done(st) != DM_OK)
		return job_fail(j, F_INTERNAL);
	j->msg_id = msg_insert(w, j->icr, ri.owner, "TXT05", NULL, partner, "님과 교환을 진행합니다.");
	if (!j->msg_id || msg_json(w, j->msg_id, &with, &without, NULL) != DM_OK)
		goto fail;
	/* three views: the owner (partner's email, the message with the
	 * owner's), the partner (its own email), everyone else */
	for (int v = 0; v < 3; v++) {
		st = db_stmt(w, "SELECT json_object('msg', 'success', 'itemId', CAST(?1 AS TEXT), "
				"'icrId', CAST(?2 AS TEXT), 'partner', json_object('userId', CAST(u.userId AS TEXT), "
				"'nickname', u.nickname, 'email', CASE WHEN ?4 THEN u.email ELSE " CHAT_HIDDEN_EMAIL("u.userId") " END), "
				"'data', json(?5)) "
				"FROM user u WHERE u.userId = ?3");
		if (!st)
			goto fail;
		sqlite3_bind_int64(st, 1, ri.item);
		sqlite3_bind_int64(st, 2, j->icr);
		sqlite3_bind_int64(st, 3, partner);
		sqlite3_bind_int(st, 4, v < 2);
		sqlite3_bind_text(st, 5, v == 0 ? with : without, -1, SQLITE_STATIC);
		if (!(j->out[v] = sql_text(st)))
			goto fail;
	}
	free(with);
	free(without);
	return job_changed(w, j, "exchange", partner);
fail:
	free(with);
	free(without);
	return job_fail(j, F_INTERNAL);
}

static int job_leave(sqlite3 *w, void *arg)
{
	cjob_t *j = arg;
	rinfo_t ri;
	sqlite3_stmt *st;
	int rc = job_room(w, j, &ri);

	if (rc != DM_OK)
		return rc;
	if (!ri.icru)
		return job_fail(j, F_NOT_MEMBER);
	if (ri.owner == j->uid)
		return job_fail(j, F_OWNER_LEAVE);
	if (ri.chosen)
		return job_fail(j, F_PARTNER_LEAVE);
	j->msg_id = msg_insert(w, j->icr, j->uid, "TXT04", NULL, 0, "님이 나가셨습니다.");
	if (!j->msg_id)
		return job_fail(j, F_INTERNAL);
	st = db_stmt(w, "DELETE FROM itemChatRoomUser WHERE icrId = ?1 AND userId = ?2");
	if (st) {
		sqlite3_bind_int64(st, 1, j->icr);
		sqlite3_bind_int64(st, 2, j->uid);
	}
	if (sql_done(st) != DM_OK || msg_json(w, j->msg_id, &j->out[0], &j->out[1], NULL) != DM_OK)
		return job_fail(j, F_INTERNAL);
	return job_changed(w, j, "leave", 0);
}

/* A message another part stored: its author and owner, both versions. */
static int job_publish(sqlite3 *w, void *arg)
{
	cjob_t *j = arg;
	sqlite3_stmt *st = db_stmt(w, "SELECT m.userId, s.userId FROM itemChatRoomUserMsg m "
				      "JOIN itemChatRoom r ON r.icrId = m.icrId JOIN saleItem s ON s.itemId = r.itemId "
				      "WHERE m.icruMsgId = ?1 AND m.icrId = ?2");
	int found = 0;
	if (!st)
		return job_fail(j, F_INTERNAL);
	sqlite3_bind_int64(st, 1, j->msg_id);
	sqlite3_bind_int64(st, 2, j->icr);
	if (sqlite3_step(st) == SQLITE_ROW) {
		j->uid = sqlite3_column_int64(st, 0);
		j->owner = sqlite3_column_int64(st, 1);
		found = 1;
	}
	db_done(st);
	if (!found) {
		j->skip = 1;
		return DM_OK;
	}
	if (msg_json(w, j->msg_id, &j->out[0], &j->out[1], NULL) != DM_OK)
		return job_fail(j, F_INTERNAL);
	return DM_OK;
}

/* ------------------------------------------------- fan-out (lane) */

/* Pickers (run under sio's lock; read only the job). */
static int pick_author(const sio_sock_t *s, void *arg)
{
	const cjob_t *j = arg;
	int64_t uid = sio_uid(s);
	/* the message's author: the sender, or the kicked user */
	int64_t author = j->kind == J_KICK ? j->target : j->uid;
	return uid == j->owner || uid == author ? 0 : 1;
}

/* sendMsg: like pick_author, but the members who blocked the author get
 * nothing (-1). */
static int pick_message(const sio_sock_t *s, void *arg)
{
	const cjob_t *j = arg;
	int64_t uid = sio_uid(s);
	for (size_t i = 0; i < j->ndeaf; i++)
		if (j->deaf[i] == uid)
			return -1;
	return pick_author(s, arg);
}

static int pick_join(const sio_sock_t *s, void *arg)
{
	const cjob_t *j = arg;
	int64_t uid = sio_uid(s);
	return uid == j->owner ? 0 : uid == j->uid ? 1 : 2;
}

static int pick_exchange(const sio_sock_t *s, void *arg)
{
	const cjob_t *j = arg;
	int64_t uid = sio_uid(s);
	return uid == j->owner ? 0 : uid == j->target ? 1 : 2;
}

static int pick_uid(const sio_sock_t *s, void *arg)
{
	return sio_uid(s) == *(const int64_t *)arg;
}

static int pick_not_pair(const sio_sock_t *s, void *arg)
{
	const cjob_t *j = arg;
	int64_t uid = sio_uid(s);
	return uid != j->owner && uid != j->target;
}

/* Done callback, on the lane thread after the commit: only queues. */
static void job_done(void *arg, int status)
{
	cjob_t *j = arg;
	char room[40];

	room_name(room, sizeof room, "icr", j->icr);
	if (status != DM_OK && !j->fail)
		j->fail = F_INTERNAL;
	if (j->kind == J_PUBLISH) {
		if (!j->fail && !j->skip)
			sio_room_emit_pick(room, "getMsg", (const char *const *)j->out, 2, pick_author, j);
		job_free(j);
		return;
	}
	if (j->fail) {
		refuse(j->s, j->ack, j->fail);
		goto done;
	}
	switch (j->kind) {
	case J_SETROOM:
		if (!j->skip) {
			sio_join(j->s, room);
			sio_emit(j->s, "setRoom", j->out[0]);
		}
		goto done;
	case J_JOIN:
		sio_join(j->s, room);
		if (j->repeat)
			sio_emit(j->s, "addUser", j->out[0]);
		else
			sio_room_emit_self(room, "addUser", (const char *const *)j->out, 3, pick_join, j, 2, 0, "\"hidden:");
		break;
	case J_SEND:
		sio_join(j->s, room);
		sio_room_emit_pick(room, "getMsg", (const char *const *)j->out, 2, pick_message, j);
		break;
	case J_KICK:
		sio_room_emit_pick(room, "kickUser", (const char *const *)j->out, 2, pick_author, j);
		sio_room_leave_pick(room, pick_uid, &j->target);
		break;
	case J_EXCHANGE:
		sio_room_emit_pick(room, "exchange", (const char *const *)j->out, 3, pick_exchange, j);
		sio_room_leave_pick(room, pick_not_pair, j);
		break;
	case J_LEAVE:
		sio_room_emit_pick(room, "getMsg", (const char *const *)j->out, 2, pick_author, j);
		sio_room_leave_pick(room, pick_uid, &j->uid);
		break;
	}
	reply_ok(j->s, j->ack, j->ack_json);
	if (j->note.type && notify_chat_after)
		notify_chat_after(&j->note);
done:
	atomic_fetch_sub(&j->cc->inflight, 1);
	sio_unref(j->s);
	job_free(j);
}

/* Queues job j for socket s (takes j). */
static void submit(sio_sock_t *s, cconn_t *cc, cjob_t *j, jobs_write_fn fn)
{
	if (atomic_fetch_add(&cc->inflight, 1) >= INFLIGHT_MAX) {
		atomic_fetch_sub(&cc->inflight, 1);
		refuse(s, j->ack, F_RATE);
		job_free(j);
		return;
	}
	sio_ref(s);
	j->s = s;
	j->cc = cc;
	if (jobs_write_async(fn, job_done, j) != DM_OK) {
		atomic_fetch_sub(&cc->inflight, 1);
		sio_unref(s);
		refuse(s, j->ack, F_UNAVAIL);
		job_free(j);
	}
}

void chat_publish_msg(int64_t icr_id, int64_t msg_id)
{
	cjob_t *j = calloc(1, sizeof *j);
	if (!j)
		return;
	j->kind = J_PUBLISH;
	j->ack = -1;
	j->icr = icr_id;
	j->msg_id = msg_id;
	if (jobs_write_async(job_publish, job_done, j) != DM_OK)
		job_free(j);
}

/* ------------------------------------------------------ authentication */

/* Verifies token (reader db) and binds its user to the socket, or checks
 * it is the one already bound. *first is set when this bound the socket.
 * DM_OK or DM_EAUTH. */
static int bind_token(sio_sock_t *s, cconn_t *cc, const char *token, int *first)
{
	auth_claims_t c;
	sqlite3 *db = db_reader();
	int64_t now = dm_now_ms(), uid;
	int rc = DM_OK, new_fam = 0;
	char old_fam[sizeof cc->fam] = "";

	*first = 0;
	if (!db || !token || strlen(token) > TOKEN_MAX)
		return DM_EAUTH;
	/* the seed authenticates before every emit: the same token again is
	 * answered from memory (re-verified against the db every minute) */
	pthread_mutex_lock(&cc->lock);
	if (cc->token && !strcmp(cc->token, token) && now < cc->tok_exp_ms &&
	    now - cc->tok_checked_ms < AUTH_RECHECK_MS && sio_uid(s)) {
		pthread_mutex_unlock(&cc->lock);
		return DM_OK;
	}
	pthread_mutex_unlock(&cc->lock);
	if (auth_bearer(db, token, &c) != DM_OK)
		return DM_EAUTH;
	pthread_mutex_lock(&cc->lock);
	uid = sio_uid(s);
	if (uid && uid != c.sub)
		rc = DM_EAUTH; /* a socket stays with its user */
	else {
		char *t = strdup(token);
		if (!t)
			rc = DM_ENOMEM;
		else {
			free(cc->token);
			cc->token = t;
			cc->tok_exp_ms = c.exp * 1000;
			cc->tok_checked_ms = now;
			if (strcmp(cc->fam, c.fam)) {
				memcpy(old_fam, cc->fam, sizeof old_fam);
				dm_strlcpy(cc->fam, c.fam, sizeof cc->fam);
				new_fam = 1;
			}
			if (!uid) {
				sio_set_uid(s, c.sub);
				*first = 1;
			}
		}
	}
	pthread_mutex_unlock(&cc->lock);
	if (*first) {
		char room[40];
		room_name(room, sizeof room, "user", c.sub);
		sio_join(s, room);
	}
	/* the login family's room: its logout closes exactly its sockets */
	if (new_fam) {
		char room[64];
		if (old_fam[0] && dm_snprintf(room, sizeof room, "fam:%s", old_fam) == DM_OK)
			sio_leave(s, room);
		if (c.fam[0] && dm_snprintf(room, sizeof room, "fam:%s", c.fam) == DM_OK)
			sio_join(s, room);
	}
	return rc;
}

/* Is the socket's authentication still good for an event? Expired: the
 * client must authenticate again. Revoked (logout, password change): the
 * socket is closed. */
static int auth_current(sio_sock_t *s, cconn_t *cc)
{
	int64_t now = dm_now_ms();
	char *tok = NULL;
	int rc = DM_OK, first;

	if (!sio_uid(s))
		return DM_EAUTH;
	pthread_mutex_lock(&cc->lock);
	if (!cc->token || now >= cc->tok_exp_ms)
		rc = DM_EAUTH;
	else if (now - cc->tok_checked_ms >= AUTH_RECHECK_MS && !(tok = strdup(cc->token)))
		rc = DM_ENOMEM;
	pthread_mutex_unlock(&cc->lock);
	if (rc != DM_OK || !tok)
		return rc;
	rc = bind_token(s, cc, tok, &first);
	free(tok);
	if (rc != DM_OK)
		sio_close(s);
	return rc;
}

/* A positive id from a query string; 0 if absent or bad. */
static int64_t query_id(const char *q, const char *name)
{
	char buf[32];
	int n;
	if (!q)
		return 0;
	n = mg_get_var(q, strlen(q), name, buf, sizeof buf);
	if (n <= 0 || n > 18)
		return 0;
	for (int i = 0; i < n; i++)
		if (!isdigit((unsigned char)buf[i]))
			return 0;
	return strtoll(buf, NULL, 10);
}

/* The user_login cookie (URL-decoded) into out; 1 if found. */
static int cookie_token(const char *hdr, char *out, size_t cap)
{
	const char *p = hdr;
	while (p && *p) {
		const char *end = strchr(p, ';'), *eq;
		size_t n;
		while (*p == ' ')
			p++;
		n = end ? (size_t)(end - p) : strlen(p);
		eq = memchr(p, '=', n);
		if (eq && (size_t)(eq - p) == 10 && !strncmp(p, "user_login", 10)) {
			const char *v = eq + 1;
			size_t vl = n - 11;
			if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
				v++;
				vl -= 2;
			}
			return mg_url_decode(v, (int)vl, out, (int)cap, 0) > 0;
		}
		p = end ? end + 1 : NULL;
	}
	return 0;
}

/* ------------------------------------------------------ sio callbacks */

static int on_connect(sio_sock_t *s, const sio_conninfo_t *ci, char *err, size_t errcap)
{
	cconn_t *cc = calloc(1, sizeof *cc);
	char tok[TOKEN_MAX + 1];
	int first, explicit_tok = 0, have = 0;

	if (!cc || pthread_mutex_init(&cc->lock, NULL) != 0) {
		free(cc);
		dm_strlcpy(err, "서버 오류가 발생했습니다.", errcap);
		return DM_ENOMEM;
	}
	atomic_init(&cc->inflight, 0);
	sio_set_user(s, cc, cconn_free);
	cc->icr_query = query_id(ci->nsp_query, "icrId");
	if (!cc->icr_query)
		cc->icr_query = query_id(ci->query, "icrId");
	/* credentials, first found wins: the v4 auth payload, the token query
	 * parameter, the seed's user_login cookie. An explicit bad token is
	 * refused; a stale cookie leaves the socket unauthenticated (it may
	 * still send `authenticate`). The email in the query is ignored. */
	if (ci->auth) {
		sqlite3 *db = db_reader();
		json_obj_t o;
		if (db && json_parse(db, ci->auth, strlen(ci->auth), &o) == DM_OK) {
			const char *t = json_str(&o, "token", 1, TOKEN_MAX);
			if (t) {
				dm_strlcpy(tok, t, sizeof tok);
				explicit_tok = have = 1;
			} else if (json_get(&o, "token")) {
				explicit_tok = 1; /* a token that is not a string */
				tok[0] = 0;
				have = 1;
			}
			json_free(&o);
		}
	}
	if (!have && ci->nsp_query && mg_get_var(ci->nsp_query, strlen(ci->nsp_query), "token", tok, sizeof tok) > 0)
		explicit_tok = have = 1;
	if (!have && ci->query && mg_get_var(ci->query, strlen(ci->query), "token", tok, sizeof tok) > 0)
		explicit_tok = have = 1;
	if (!have && ci->cookie && cookie_token(ci->cookie, tok, sizeof tok))
		have = 1;
	if (have && bind_token(s, cc, tok, &first) != DM_OK && explicit_tok) {
		dm_strlcpy(err, "Unauthorization", errcap);
		return DM_EAUTH;
	}
	return DM_OK;
}

/* setRoom for a socket that is authenticated and named a room (once). */
static void maybe_setroom(sio_sock_t *s, cconn_t *cc)
{
	cjob_t *j;
	int go;
	pthread_mutex_lock(&cc->lock);
	go = !cc->setroom_done && cc->icr_query && sio_uid(s);
	if (go)
		cc->setroom_done = 1;
	pthread_mutex_unlock(&cc->lock);
	if (!go || !(j = calloc(1, sizeof *j)))
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
	const char *t = o ? json_str(o, "token", 1, TOKEN_MAX) : NULL;
	int first;
	if (!t || bind_token(s, cc, t, &first) != DM_OK) {
		refuse(s, ack, F_UNAUTH);
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
		refuse(s, ack, F_INTERNAL);
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
		refuse(s, ack, sio_uid(s) ? F_UNKNOWN_EVENT : F_UNAUTH);
		goto done;
	}
	/* before anything else: who is acting (never the payload) */
	if (auth_current(s, cc) != DM_OK) {
		refuse(s, ack, F_UNAUTH);
		goto done;
	}
	if (!parsed) {
		refuse(s, ack, F_INVALID);
		goto done;
	}
	if (!(j = calloc(1, sizeof *j))) {
		refuse(s, ack, F_INTERNAL);
		goto done;
	}
	j->kind = kind;
	j->ack = ack;
	j->uid = sio_uid(s);
	j->icr = field_id(&o, "icrId");
	if (json_get(&o, "itemId") && !(j->item = field_id(&o, "itemId")))
		j->icr = 0; /* a bad itemId is bad input */
	if (!j->icr) {
		refuse(s, ack, F_INVALID);
		job_free(j);
		goto done;
	}
	if (kind == J_SEND) {
		const char *m = json_str(&o, "chatMsg", 1, 1000);
		if (!m || !(j->text = strdup(m))) {
			refuse(s, ack, m ? F_INTERNAL : F_MSG_LEN);
			job_free(j);
			goto done;
		}
		/* the user's message rate (all their sockets together) */
		if (quota_take(QUOTA_MESSAGES, j->uid, 1, NULL) != DM_OK) {
			refuse(s, ack, F_RATE);
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
			refuse(s, ack, F_INVALID);
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
	sqlite3_stmt *st;

	if (!icr)
		return http_fail(r, 404, "ROOM_NOT_FOUND", "채팅방을 찾을 수 없습니다.");
	rc = http_query(r, "before", buf, sizeof buf);
	if (rc == DM_OK && !(before = parse_id(buf)))
		return http_fail(r, 400, "INVALID_INPUT", "before는 메시지 id여야 합니다.");
	if (rc == DM_ETOOBIG)
		return http_fail(r, 400, "INVALID_INPUT", "before는 메시지 id여야 합니다.");
	rc = http_query(r, "limit", buf, sizeof buf);
	if (rc == DM_OK) {
		int64_t l = parse_id(buf);
		if (l < 1 || l > HISTORY_MAX)
			return http_fail(r, 400, "INVALID_INPUT", "limit은 1~200이어야 합니다.");
		limit = (int)l;
	} else if (rc == DM_ETOOBIG)
		return http_fail(r, 400, "INVALID_INPUT", "limit은 1~200이어야 합니다.");
	rc = room_info(r->db, icr, r->user_id, &ri);
	if (rc == DM_ENOTFOUND)
		return http_fail(r, 404, "ROOM_NOT_FOUND", "채팅방을 찾을 수 없습니다.");
	if (rc != DM_OK)
		return http_fail_dm(r, DM_ERR);
	if (ri.kicked)
		return http_fail(r, 403, fails[F_KICKED].code, fails[F_KICKED].msg);
	if (!ri.icru)
		return http_fail(r, 403, fails[F_NOT_MEMBER].code, fails[F_NOT_MEMBER].msg);
	st = db_stmt(r->db,
		     "WITH page AS (SELECT m.icruMsgId AS id, "
		     MSG_OBJ("CASE WHEN ?3 = ?2 OR m.userId = ?3 THEN u.email ELSE " CHAT_HIDDEN_EMAIL("m.userId") " END") " AS j" MSG_FROM
		     "WHERE m.icrId = ?1 AND m.icruMsgId > ?4 AND m.icruMsgId < ?5 AND " NOT_BLOCKED_MSG
		     " ORDER BY m.icruMsgId DESC LIMIT ?6) "
		     "SELECT json_object('msg', 'success', 'icrId', CAST(?1 AS TEXT), "
		     "'data', (SELECT json_group_array(json(j) ORDER BY id) FROM page), "
		     "'next', CASE WHEN EXISTS (SELECT 1 FROM itemChatRoomUserMsg m WHERE m.icrId = ?1 AND m.icruMsgId > ?4 "
		     "AND m.icruMsgId < (SELECT min(id) FROM page) AND " NOT_BLOCKED_MSG ") THEN CAST((SELECT min(id) FROM page) AS TEXT) END)");
	if (!st)
		return http_fail_dm(r, DM_ERR);
	sqlite3_bind_int64(st, 1, icr);
	sqlite3_bind_int64(st, 2, ri.owner);
	sqlite3_bind_int64(st, 3, r->user_id);
	sqlite3_bind_int64(st, 4, ri.joined);
	sqlite3_bind_int64(st, 5, before);
	sqlite3_bind_int(st, 6, limit);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT)
		rc = http_reply_json(r, 200, (const char *)sqlite3_column_text(st, 0),
				     (size_t)sqlite3_column_bytes(st, 0));
	else
		rc = http_fail_dm(r, DM_ERR);
	db_done(st);
	return rc;
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
	sqlite3_stmt *st;
	int rc;

	if (!icr)
		return http_fail(r, 404, "ROOM_NOT_FOUND", "채팅방을 찾을 수 없습니다.");
	rc = room_info(r->db, icr, r->user_id, &ri);
	if (rc == DM_ENOTFOUND)
		return http_fail(r, 404, "ROOM_NOT_FOUND", "채팅방을 찾을 수 없습니다.");
	if (rc != DM_OK)
		return http_fail_dm(r, DM_ERR);
	if (ri.owner != r->user_id)
		return http_fail(r, 403, fails[F_NOT_OWNER].code, fails[F_NOT_OWNER].msg);
	st = db_stmt(r->db,
		     "SELECT json_object('msg', 'success', 'icrId', CAST(?1 AS TEXT), 'freeYn', s.freeYn, "
		     "'data', (SELECT json_group_array(json_object('userId', CAST(m.userId AS TEXT), "
		     "'nickname', u.nickname, 'mannerTemp', u.mannerTemp, 'address', u.address, 'chooseYn', m.chooseYn, "
		     "'freeReceived30d', (SELECT count(*) FROM saleItem g WHERE g.buyerUserId = m.userId "
		     "AND g.freeYn = 'Y' AND g.statusDt > ?3 AND g.status IN ('SI02', 'SI04'))) ORDER BY m.icruId) "
		     "FROM itemChatRoomUser m JOIN user u ON u.userId = m.userId WHERE m.icrId = ?1 AND m.userId <> ?2)) "
		     "FROM itemChatRoom c JOIN saleItem s ON s.itemId = c.itemId WHERE c.icrId = ?1");
	if (!st)
		return http_fail_dm(r, DM_ERR);
	sqlite3_bind_int64(st, 1, icr);
	sqlite3_bind_int64(st, 2, r->user_id);
	sqlite3_bind_int64(st, 3, dm_now_ms() - 30LL * 86400000);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT)
		rc = http_reply_json(r, 200, (const char *)sqlite3_column_text(st, 0),
				     (size_t)sqlite3_column_bytes(st, 0));
	else
		rc = http_fail_dm(r, DM_ERR);
	db_done(st);
	return rc;
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
	for (int f = F_NONE + 1; f < F_COUNT; f++) {
		sqlite3_stmt *st = db_prep(mem, "SELECT json_object('msg', 'fail', 'errorMsg', ?1, 'code', ?2)");
		if (!st)
			goto done;
		sqlite3_bind_text(st, 1, fails[f].msg, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, fails[f].code, -1, SQLITE_STATIC);
		if (!(fail_json[f] = sql_text(st)))
			goto done;
	}
	http_routes(routes, sizeof routes / sizeof routes[0]);
	sio_set_app(&chat_app);
	rc = DM_OK;
done:
	sqlite3_close(mem);
	return rc;
}

void chat_stop(void)
{
	for (int f = 0; f < F_COUNT; f++) {
		free(fail_json[f]);
		fail_json[f] = NULL;
	}
}
