/*
 * notify — notifications: stored per user (table notification), delivered
 * live on the user's open Socket.IO connections as the event
 * `notification` {id, type, payload, cnt, read, createdDt, updatedDt}
 * after the change that caused them is committed, listed over HTTP, and
 * mailed through the outbox and sent by Web Push (push.h) for the types a
 * user chose.
 *
 * Routes: GET /notifications, POST /notifications/read,
 * GET|PUT /notifications/settings (see API.md "Notifications").
 * Timer: every cfg.expiry_interval seconds, a catch-up sweep for expiry
 * notices (exactly once: a notice per item is stored under the key
 * "expired:<itemId>" and never stored twice).
 *
 * How events arrive: chat calls notify_chat_write (inside its write job)
 * and notify_chat_after (after the commit); the items part's deadline
 * timer calls notify_add (the hour-before reminder) and
 * notify_item_expired (item.c); trust calls notify_add. The hooks below run INSIDE the caller's write
 * job, on the write lane, with the writer connection w: the notification
 * commits (or rolls back) with the change. They are best effort: a failure
 * is logged and never fails the caller's job.
 * Prefix: notify_.
 */
#ifndef NOTIFY_H
#define NOTIFY_H

#include <sqlite3.h>
#include <stdint.h>

/* Notification types (the `type` field). */
#define NOTIFY_CHAT "chat"                 /* a new message in a room I'm in (coalesced per room) */
#define NOTIFY_JOIN "join"                 /* someone joined my item's room */
#define NOTIFY_CHOSEN "chosen"             /* I was chosen as the partner */
#define NOTIFY_KICKED "kicked"             /* I was kicked from a room */
#define NOTIFY_EXPIRED "expired"           /* my item's deadline passed with no partner */
#define NOTIFY_DEADLINE "deadline"         /* my item's deadline is an hour away */
#define NOTIFY_TRADE_DONE "trade_done"     /* the other side completed our trade */
#define NOTIFY_TRADE_CANCELLED "trade_cancelled" /* the other side cancelled it */
#define NOTIFY_REVIEW "review"             /* I got a review */
#define NOTIFY_SUSPENDED "suspended"       /* my account was suspended */
#define NOTIFY_KEYWORD "keyword"           /* a new post in my region matches my keywords (coalesced) */
#define NOTIFY_APPT "appointment"          /* the other side proposed or accepted a 거래약속 */
#define NOTIFY_APPT_REMIND "appt_remind"   /* our 거래약속 is an hour / ten minutes away */

int notify_init(void);
void notify_stop(void);

/* 1 if type is one of the NOTIFY_* names above. */
int notify_type_ok(const char *type);

/* Stores one notification of type for user_id with payload (a JSON object
 * text, normally built by SQL; NULL = {}), mails it when the user chose
 * email for the type, and queues it for live delivery after the commit.
 * coalesce: NULL, or a key under which the user has at most one unread
 * notification: a second one with the same key while the first is unread
 * adds 1 to its cnt and replaces its payload (mail goes out only for the
 * first). Call on the write lane inside a job. DM_OK or DM_ERR (logged). */
int notify_add(sqlite3 *w, int64_t user_id, const char *type, const char *payload, const char *coalesce);

/* Chat: message msg_id was stored in room icr_id: every member but its
 * author gets a coalesced "chat" notification for the room. Deferred: this
 * only marks the room; a flush within a second (and before any HTTP read
 * of notifications) stores all of the room's new messages at once, exactly
 * once (a durable per-room mark, itemChatRoom.notifiedMsgId). */
void notify_chat_message(sqlite3 *w, int64_t icr_id, int64_t msg_id);
/* Chat: user_id joined room icr_id: the item's owner gets "join". */
void notify_joined(sqlite3 *w, int64_t icr_id, int64_t user_id);
/* Chat: user_id was kicked from room icr_id: they get "kicked". */
void notify_kicked(sqlite3 *w, int64_t icr_id, int64_t user_id);
/* Chat: item_id went SI01 -> SI02: its buyerUserId gets "chosen". */
void notify_chosen(sqlite3 *w, int64_t item_id);
/* What a chat change was, for notify_chat_write. */
typedef struct notify_chat {
	const char *type;   /* "message", "join", "kick", "exchange", "leave" */
	int64_t icr_id, item_id;
	int64_t owner_id;   /* the item's owner */
	int64_t actor_id;   /* who did it (the token's user) */
	int64_t target_id;  /* the kicked user / the chosen partner, else 0 */
	int64_t msg_id;     /* the message stored for it */
} notify_chat_t;
/* Chat, inside its write job on the writer w, in the same transaction as
 * the change: stores the notifications change n causes (the matching
 * notify_chat_message / notify_joined / notify_kicked / notify_chosen). */
void notify_chat_write(sqlite3 *w, const notify_chat_t *n);
/* Chat, on the lane thread after that job's commit: delivers what it
 * stored at once (it only queues). */
void notify_chat_after(const notify_chat_t *n);
/* Items: item_id expired (SI03): its owner gets "expired", once per item
 * however often this is called. */
void notify_item_expired(sqlite3 *w, int64_t item_id);

#endif
