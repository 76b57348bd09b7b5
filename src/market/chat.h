/*
 * chat — group chat rooms of items: membership, messages, kick (a
 * permanent ban), exchange (choosing the partner), leaving; the domain of
 * API.md "Chat". The framing is sio's: chat registers the /chatting
 * namespace and handles its events. Prefix: chat_.
 *
 * Every change is a write job on the write lane; what the room sees is
 * queued by the job's done callback, after the commit and in commit order.
 */
#ifndef CHAT_H
#define CHAT_H

#include <sqlite3.h>
#include <stdint.h>

/* Queues event with a JSON payload (made by SQLite) to every live socket
 * of user_id (sio room "user:<id>"). Returns the number of sockets queued.
 * Thread-safe; never blocks (the write lane's done callbacks may call it). */
int chat_user_emit(int64_t user_id, const char *event, const char *json);
/* 1 if the user has a live authenticated socket, else 0. */
int chat_online(int64_t user_id);
/* The users with a socket in room icr_id now (they see its getMsg live):
 * a malloc'd array sorted ascending, duplicates removed, in *uids (NULL
 * when none); returns how many, or -1 on out-of-memory. Caller frees.
 * Thread-safe. */
int chat_room_users(int64_t icr_id, int64_t **uids);
/* Closes at once every socket of a login that just ended: those
 * authenticated with a token of login family fam, or with fam NULL or ""
 * every socket of user uid (logout of all sessions, a new password).
 * Thread-safe; never blocks. */
void chat_close_sessions(int64_t uid, const char *fam);
/* Removes every socket from room icr_id (the item was deleted: its
 * sockets must not hear anything sent to that room name later). Call after
 * the commit. Thread-safe; never blocks. */
void chat_room_drop(int64_t icr_id);
/* Publishes message msg_id, already stored and committed by another part
 * (trade events, TXT05), to room icr_id as getMsg. Goes through the write
 * lane, so it reaches the room after every message committed before the
 * call. Thread-safe; returns at once. */
void chat_publish_msg(int64_t icr_id, int64_t msg_id);

/* ---- hook for notifications (issue 6) ----
 * If linked, chat calls notify_chat_write inside the write job, on the
 * writer connection in the same transaction as the change (store
 * notifications there), and notify_chat_after on the lane thread after the
 * commit (it must only queue: e.g. chat_user_emit). */
typedef struct chat_note {
	const char *type;   /* "message", "join", "kick", "exchange", "leave" */
	int64_t icr_id, item_id;
	int64_t owner_id;   /* the item's owner */
	int64_t actor_id;   /* who did it (the token's user) */
	int64_t target_id;  /* the kicked user / the chosen partner, else 0 */
	int64_t msg_id;     /* the message stored for it */
} chat_note_t;
void notify_chat_write(sqlite3 *w, const chat_note_t *n) __attribute__((weak));
void notify_chat_after(const chat_note_t *n) __attribute__((weak));

/* SQL of an email the viewer may not see: a stable per-user placeholder
 * that is not an email address ("hidden:<userId>"), the same in userList,
 * addUser, getMsg, kickUser and trade messages, so a client that removes a
 * kicked member by email (the seed frontend) removes that member only.
 * UID is the SQL of the user's id. */
#define CHAT_HIDDEN_EMAIL(UID) "('hidden:' || " UID ")"

int chat_init(void);
void chat_stop(void);

#endif
