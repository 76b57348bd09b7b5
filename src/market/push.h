/*
 * push — Web Push: notifications that reach a closed phone or browser.
 *
 * A browser subscribes with its push service and gives us the
 * subscription (an https endpoint URL, its P-256 public key p256dh and a
 * 16-byte auth secret); each stored notification whose type the user
 * chose for push (user.pushNotify) is queued in pushOutbox for every
 * subscription of theirs, in the same transaction as the notification,
 * and a pool timer POSTs it to the endpoint (RFC 8030) encrypted with
 * aes128gcm (RFC 8291 / RFC 8188) and signed for the push service with
 * VAPID (RFC 8292: an ES256 JWT of our key pair, made on first start and
 * kept in DIR/vapid.pem, mode 0600). Failed sends are retried with
 * exponential backoff; an endpoint answering 404 or 410 is gone and its
 * subscription is deleted.
 *
 * Routes: GET /push/vapid, POST|DELETE /push/subscriptions (API.md "Push
 * notifications"). Prefix: push_.
 */
#ifndef PUSH_H
#define PUSH_H

#include <sqlite3.h>
#include <stdint.h>

int push_init(void);
void push_stop(void);

/* Queues a push of one notification (type, title, body in Korean; item_id
 * the item it is about, NULL if none) to every subscription of user_id,
 * if they chose push for type. Call INSIDE a write job with the writer
 * connection w, so the push commits (or rolls back) with the notification.
 * Lane thread only. Best effort: DM_OK, or DM_ERR (logged). */
int push_queue(sqlite3 *w, int64_t user_id, const char *type, const char *title, const char *body,
	       const char *item_id);

#endif
