/*
 * live — what reaches open Socket.IO connections, in one place: an item
 * room's sockets (the room's names are private to this part), a user's
 * sockets, a login family's sockets, online status, and the message views
 * (the one SQL for a chat message as a client sees it, with the
 * hidden-email placeholder for viewers who may not see the author's
 * email). chat, trust, appt and notify publish through it; it calls only
 * sio and the database. Prefix: live_.
 *
 * Emitting only queues (sio never waits on the network): every function
 * here is thread-safe and may be called from the write lane's done
 * callbacks.
 */
#ifndef LIVE_H
#define LIVE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "sio.h"

/* ---- message views ----
 * SQL of an email the viewer may not see: a stable per-user placeholder
 * that is not an email address ("hidden:<userId>"), the same in userList,
 * addUser, getMsg, kickUser and trade messages, so a client that removes a
 * kicked member by email (the seed frontend) removes that member only.
 * UID is the SQL of the user's id. */
#define LIVE_HIDDEN_EMAIL(UID) "('hidden:' || " UID ")"
/* One message (alias m, its author u, its type's code c) as a JSON object;
 * EMAIL is the SQL of its email field (API.md "a message"). Use it with
 * LIVE_MSG_FROM. */
#define LIVE_MSG_OBJ(EMAIL)                                                                                      \
	"json_object('icruMsgId', CAST(m.icruMsgId AS TEXT), 'icrId', CAST(m.icrId AS TEXT), "                   \
	"'userId', CAST(m.userId AS TEXT), 'email', " EMAIL ", 'nickname', u.nickname, "                         \
	"'msgType', c.codeName, 'chatMsg', m.chatMsg, 'createdDt', dm_time(m.createdDt))"
#define LIVE_MSG_FROM                                                                                            \
	" FROM itemChatRoomUserMsg m JOIN user u ON u.userId = m.userId JOIN code c ON c.codeId = m.msgType "
/* The email as viewer (SQL) sees it in a room of owner (SQL): their own
 * and, for the owner, everyone's; the placeholder otherwise. */
#define LIVE_EMAIL_FOR(OWNER, VIEWER)                                                                           \
	"CASE WHEN " VIEWER " = " OWNER " OR m.userId = " VIEWER " THEN u.email ELSE "                           \
	LIVE_HIDDEN_EMAIL("m.userId") " END"

/* Message msg_id read on db: *with (the author's email: for the author
 * and the item's owner), *without (the placeholder: everyone else) and,
 * if ack is not NULL, *ack ({msg:"success", data: with}). malloc'd, the
 * caller frees. DM_OK, DM_ENOTFOUND or DM_ERR. */
int live_msg_views(sqlite3 *db, int64_t msg_id, char **with, char **without, char **ack);

/* ---- item rooms ----
 * Who gets which version of a frame sent to a room: the item's owner gets
 * to_owner, user `self` (the author, the joiner, the partner) to_self,
 * every other socket to_rest (NULL: nothing); users in mute[0..nmute) get
 * nothing. A user who is both owner and self gets to_owner. With
 * own_email, to_rest is to_owner with other users' emails as hidden
 * placeholders, and each socket given to_rest sees its own entry as
 * to_owner has it (a viewer always sees their own email): one frame is
 * still shared, with one substitution per socket. */
typedef struct live_fanout {
	int64_t owner, self;
	const char *to_owner, *to_self, *to_rest;
	const int64_t *mute;
	size_t nmute;
	int own_email;
} live_fanout_t;
/* Queues event to every socket in room icr_id as f says (each distinct
 * payload framed once). Returns the number of sockets queued. */
int live_room_emit(int64_t icr_id, const char *event, const live_fanout_t *f);
/* getMsg of a message to room icr_id: the owner and the author get with,
 * everyone else without (live_msg_views). */
int live_room_msg(int64_t icr_id, int64_t owner, int64_t author, const char *with, const char *without);
/* Publishes message msg_id, already stored and committed by another part
 * (trade events, appointments: TXT05), to room icr_id as getMsg. Goes
 * through the write lane, so it reaches the room after every message
 * committed before the call. Returns at once. */
void live_publish_msg(int64_t icr_id, int64_t msg_id);
/* Socket s hears room icr_id from now on. DM_OK or DM_EUNAVAIL (closed). */
int live_room_join(sio_sock_t *s, int64_t icr_id);
/* Every socket of user uid stops hearing room icr_id. */
void live_room_leave(int64_t icr_id, int64_t uid);
/* Every socket but those of users a and b stops hearing room icr_id (the
 * exchange: only the owner and the partner keep the room). */
void live_room_keep_pair(int64_t icr_id, int64_t a, int64_t b);
/* Every socket stops hearing room icr_id (the item was deleted: its
 * sockets must not hear anything sent to that room later). Call after the
 * commit. */
void live_room_drop(int64_t icr_id);
/* The users with a socket in room icr_id now (they see its getMsg live):
 * a malloc'd array sorted ascending, duplicates removed, in *uids (NULL
 * when none); returns how many, or -1 on out-of-memory. Caller frees. */
int live_room_users(int64_t icr_id, int64_t **uids);

/* ---- users and logins ---- */
/* Socket s, just authenticated as uid, hears what is sent to uid. */
int live_user_join(sio_sock_t *s, int64_t uid);
/* Queues event with a JSON payload to every socket of user uid. Returns
 * the number of sockets queued. */
int live_user_emit(int64_t uid, const char *event, const char *json);
/* 1 if user uid has a live authenticated socket, else 0. */
int live_online(int64_t uid);
/* Moves socket s from login family old_fam's channel to new_fam's ("" or
 * NULL: none), so that ending a login closes exactly its sockets. */
void live_family_move(sio_sock_t *s, const char *old_fam, const char *new_fam);
/* Closes at once every socket of a login that just ended: those
 * authenticated with a token of login family fam, or with fam NULL or ""
 * every socket of user uid (logout of all sessions, a new password). */
void live_close_sessions(int64_t uid, const char *fam);

/* Registers the SQL function live_online(userId) -> 0/1 on db (once per
 * connection; later calls are free). DM_OK or DM_ERR. Same thread rules
 * as db. */
int live_sql_functions(sqlite3 *db);

#endif
