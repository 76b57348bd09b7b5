/*
 * live.c — rooms, user and login-family channels, online status and
 * message views over sio (see live.h).
 *
 * sio knows rooms by name only; the names are made here and nowhere else:
 * "icr:<icrId>" (an item's chat room), "user:<userId>" (every socket of a
 * user), "fam:<familyId>" (every socket of one login). Who gets which
 * version of a frame is decided by a picker that runs under sio's lock and
 * reads only sio_uid and its own argument.
 *
 * Thread-safety: no state of its own; sio's functions are thread-safe and
 * the SQL runs on the connection the caller passes (or, for
 * live_publish_msg, the writer inside a write job).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "dm.h"
#include "jobs.h"
#include "live.h"

/* ------------------------------------------------------------ names */

static void room_name(char *buf, size_t cap, const char *kind, int64_t id)
{
	snprintf(buf, cap, "%s:%lld", kind, (long long)id);
}

/* "fam:<fam>" into buf; DM_OK, or DM_ETOOBIG (no such room). */
static int fam_room(char *buf, size_t cap, const char *fam)
{
	return dm_snprintf(buf, cap, "fam:%s", fam);
}

/* ----------------------------------------------------- message views */

int live_msg_views(sqlite3 *db, int64_t msg_id, char **with, char **without, char **ack)
{
	sqlite3_stmt *st = db_query(db,
				    "SELECT " LIVE_MSG_OBJ("u.email") ", " LIVE_MSG_OBJ(LIVE_HIDDEN_EMAIL("m.userId")) ", "
				    "json_object('msg', 'success', 'data', " LIVE_MSG_OBJ("u.email") ")" LIVE_MSG_FROM
				    "WHERE m.icruMsgId = ?1",
				    DB_INT(msg_id));
	int rc;

	*with = *without = NULL;
	if (ack)
		*ack = NULL;
	if (!st)
		return DM_ERR;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*with = strdup((const char *)sqlite3_column_text(st, 0));
		*without = strdup((const char *)sqlite3_column_text(st, 1));
		if (ack)
			*ack = strdup((const char *)sqlite3_column_text(st, 2));
		rc = *with && *without && (!ack || *ack) ? DM_OK : DM_ENOMEM;
	} else
		rc = rc == SQLITE_DONE ? DM_ENOTFOUND : DM_ERR;
	db_done(st);
	if (rc == DM_OK)
		return DM_OK;
	free(*with);
	free(*without);
	*with = *without = NULL;
	if (ack) {
		free(*ack);
		*ack = NULL;
	}
	return rc == DM_ENOTFOUND ? DM_ENOTFOUND : DM_ERR;
}

/* ------------------------------------------------------------- rooms */

/* A fanout with its payloads numbered for sio (each distinct one once). */
typedef struct fan {
	const live_fanout_t *f;
	int i_owner, i_self, i_rest; /* indexes into the payload list; -1: none */
} fan_t;

/* Picker: which payload a socket gets (under sio's lock). */
static int pick_fan(const sio_sock_t *s, void *arg)
{
	const fan_t *p = arg;
	int64_t uid = sio_uid(s);
	for (size_t i = 0; i < p->f->nmute; i++)
		if (p->f->mute[i] == uid)
			return -1;
	if (uid && uid == p->f->owner)
		return p->i_owner;
	if (uid && uid == p->f->self)
		return p->i_self;
	return p->i_rest;
}

/* Index of payload j in v[0..*n), appending it if new; -1 for NULL. */
static int payload_index(const char **v, int *n, const char *j)
{
	if (!j)
		return -1;
	for (int i = 0; i < *n; i++)
		if (v[i] == j)
			return i;
	v[*n] = j;
	return (*n)++;
}

int live_room_emit(int64_t icr_id, const char *event, const live_fanout_t *f)
{
	const char *v[3];
	int n = 0;
	fan_t p = {.f = f};
	char room[40];

	p.i_owner = payload_index(v, &n, f->to_owner);
	p.i_self = payload_index(v, &n, f->to_self);
	p.i_rest = payload_index(v, &n, f->to_rest);
	if (!n)
		return 0;
	room_name(room, sizeof room, "icr", icr_id);
	if (f->own_email && p.i_rest >= 0 && p.i_owner >= 0 && p.i_rest != p.i_owner)
		return sio_room_emit_self(room, event, v, n, pick_fan, &p, p.i_rest, p.i_owner, "\"hidden:");
	return sio_room_emit_pick(room, event, v, n, pick_fan, &p);
}

int live_room_msg(int64_t icr_id, int64_t owner, int64_t author, const char *with, const char *without)
{
	live_fanout_t f = {
		.owner = owner, .self = author, .to_owner = with, .to_self = with, .to_rest = without};
	return live_room_emit(icr_id, "getMsg", &f);
}

int live_room_join(sio_sock_t *s, int64_t icr_id)
{
	char room[40];
	room_name(room, sizeof room, "icr", icr_id);
	return sio_join(s, room);
}

static int pick_uid(const sio_sock_t *s, void *arg)
{
	return sio_uid(s) == *(const int64_t *)arg;
}

void live_room_leave(int64_t icr_id, int64_t uid)
{
	char room[40];
	room_name(room, sizeof room, "icr", icr_id);
	sio_room_leave_pick(room, pick_uid, &uid);
}

static int pick_not_pair(const sio_sock_t *s, void *arg)
{
	const int64_t *pair = arg;
	int64_t uid = sio_uid(s);
	return uid != pair[0] && uid != pair[1];
}

void live_room_keep_pair(int64_t icr_id, int64_t a, int64_t b)
{
	int64_t pair[2] = {a, b};
	char room[40];
	room_name(room, sizeof room, "icr", icr_id);
	sio_room_leave_pick(room, pick_not_pair, pair);
}

static int pick_all(const sio_sock_t *s, void *arg)
{
	(void)s;
	(void)arg;
	return 1;
}

void live_room_drop(int64_t icr_id)
{
	char room[40];
	room_name(room, sizeof room, "icr", icr_id);
	sio_room_leave_pick(room, pick_all, NULL);
}

/* live_room_users' collector: records every socket's user and picks none
 * (sio has no read-only walk of a room; a picker that never picks leaves
 * the room as it was). Runs under sio's lock; touches only its arg. */
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

int live_room_users(int64_t icr_id, int64_t **uids)
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

/* ------------------------------------------------------ publishing */

/* A message another part stored, published from the write lane. Owned by
 * the job; freed by publish_done. */
typedef struct publish {
	int64_t icr, msg, owner, author;
	char *with, *without;
} publish_t;

/* Write job: the message's author, its room's owner, both views. */
static int publish_job(sqlite3 *w, void *arg)
{
	publish_t *p = arg;
	sqlite3_stmt *st = db_query(w,
				    "SELECT m.userId, s.userId FROM itemChatRoomUserMsg m "
				    "JOIN itemChatRoom r ON r.icrId = m.icrId JOIN saleItem s ON s.itemId = r.itemId "
				    "WHERE m.icruMsgId = ?1 AND m.icrId = ?2",
				    DB_INT(p->msg), DB_INT(p->icr));
	int found = 0;
	if (!st)
		return DM_ERR;
	if (sqlite3_step(st) == SQLITE_ROW) {
		p->author = sqlite3_column_int64(st, 0);
		p->owner = sqlite3_column_int64(st, 1);
		found = 1;
	}
	db_done(st);
	if (!found)
		return DM_OK; /* gone (rolled back, or the item deleted): nothing to say */
	return live_msg_views(w, p->msg, &p->with, &p->without, NULL) == DM_ERR ? DM_ERR : DM_OK;
}

/* After the commit, on the lane: to the room, in commit order. */
static void publish_done(void *arg, int status)
{
	publish_t *p = arg;
	if (status == DM_OK && p->with && p->without)
		live_room_msg(p->icr, p->owner, p->author, p->with, p->without);
	free(p->with);
	free(p->without);
	free(p);
}

void live_publish_msg(int64_t icr_id, int64_t msg_id)
{
	publish_t *p = calloc(1, sizeof *p);
	if (!p) {
		dm_warn("live: out of memory; message %lld is stored but not published", (long long)msg_id);
		return;
	}
	p->icr = icr_id;
	p->msg = msg_id;
	if (jobs_write_async(publish_job, publish_done, p) != DM_OK)
		free(p);
}

/* ---------------------------------------------------- users, logins */

int live_user_join(sio_sock_t *s, int64_t uid)
{
	char room[40];
	room_name(room, sizeof room, "user", uid);
	return sio_join(s, room);
}

int live_user_emit(int64_t uid, const char *event, const char *json)
{
	char room[40];
	room_name(room, sizeof room, "user", uid);
	return sio_room_emit(room, event, json);
}

int live_online(int64_t uid)
{
	char room[40];
	room_name(room, sizeof room, "user", uid);
	return sio_room_size(room) > 0;
}

void live_family_move(sio_sock_t *s, const char *old_fam, const char *new_fam)
{
	char room[64];
	if (old_fam && new_fam && !strcmp(old_fam, new_fam))
		return;
	if (old_fam && old_fam[0] && fam_room(room, sizeof room, old_fam) == DM_OK)
		sio_leave(s, room);
	if (new_fam && new_fam[0] && fam_room(room, sizeof room, new_fam) == DM_OK)
		sio_join(s, room);
}

void live_close_sessions(int64_t uid, const char *fam)
{
	char room[64];
	int n;
	if (fam && fam[0])
		n = fam_room(room, sizeof room, fam) == DM_OK ? sio_room_close(room) : 0;
	else {
		room_name(room, sizeof room, "user", uid);
		n = sio_room_close(room);
	}
	if (n)
		dm_info("live: closed %d socket(s) of user %lld (session ended)", n, (long long)uid);
}

/* ------------------------------------------------------------- SQL */

/* SQL function live_online(userId) -> 0/1. */
static void fn_online(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	sqlite3_result_int(ctx, live_online(sqlite3_value_int64(argv[0])));
}

int live_sql_functions(sqlite3 *db)
{
	static const char key[] = "dongmul.live";
	if (sqlite3_get_clientdata(db, key))
		return DM_OK;
	if (sqlite3_create_function(db, "live_online", 1, SQLITE_UTF8, NULL, fn_online, NULL, NULL) != SQLITE_OK)
		return DM_ERR;
	return sqlite3_set_clientdata(db, key, (void *)1, NULL) == SQLITE_OK ? DM_OK : DM_ERR;
}
