/*
 * notify.c — stored, live and mailed notifications (see notify.h).
 *
 * Live delivery after the commit: notify_add runs inside someone's write
 * job, so the row is not yet committed. It records (notificationId,
 * userId) in a pending list and, when the list was empty, queues one
 * empty write job whose done callback (run on the lane after that later
 * batch committed — so after every batch that added to the list) reads
 * each pending row back and emits it to the user's sockets (live.h). Chat jobs need no empty job: chat
 * calls notify_chat_after after its own commit, which delivers at once. A
 * row whose job was rolled back is simply not found (or, if its id was
 * reused, belongs to a different user or is the same row: both checked),
 * so nothing that was rolled back is ever shown.
 *
 * Chat messages are the exception: they are stored in batches, per room,
 * by a flush that runs every second and before any HTTP read of
 * notifications (see "chat, deferred" below): a message's own job does
 * O(1) work for notifications, whatever the room's size.
 *
 * Thread-safety: the pending list and flush_queued are under plock, the
 * deferred chat set under dlock; the hooks, notify_add and in_chat_job
 * belong to the write lane (its statements are db_stmt's, cached on the
 * writer); the timer runs on a pool worker and writes through
 * jobs_write.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "dm.h"
#include "http.h"
#include "jobs.h"
#include "live.h"
#include "mail.h"
#include "notify.h"
#include "push.h"


#define DAY_MS 86400000LL
#define HOUR_MS 3600000LL
#define READ_IDS_MAX 500
#define LIST_MAX 100
#define LIST_DEFAULT 30
#define CLEANUP_READ_DAYS 90   /* read notifications are kept this long */
#define CLEANUP_ALL_DAYS 365   /* and unread ones this long */
#define EXPIRED_SWEEP_DAYS 7   /* the catch-up sweep looks this far back */

/* Every type, with the subject of its mail. */
static const struct {
	const char *type, *subject;
} types[] = {
	{NOTIFY_CHAT, "새 채팅 메시지"},
	{NOTIFY_JOIN, "채팅방에 새 이웃이 들어왔습니다"},
	{NOTIFY_CHOSEN, "교환 상대로 선택되었습니다"},
	{NOTIFY_KICKED, "채팅방에서 강퇴되었습니다"},
	{NOTIFY_EXPIRED, "교환 마감"},
	{NOTIFY_DEADLINE, "마감 1시간 전"},
	{NOTIFY_TRADE_DONE, "교환 완료"},
	{NOTIFY_TRADE_CANCELLED, "교환 취소"},
	{NOTIFY_REVIEW, "새 교환 후기"},
	{NOTIFY_SUSPENDED, "이용 제한 안내"},
	{NOTIFY_KEYWORD, "키워드 알림"},
	{NOTIFY_APPT, "거래약속"},
	{NOTIFY_APPT_REMIND, "거래약속 알림"},
};
#define NTYPES (sizeof types / sizeof types[0])

/* The mail subject of type (a known one). */
static const char *subject_of(const char *type)
{
	for (size_t i = 0; i < NTYPES; i++)
		if (!strcmp(types[i].type, type))
			return types[i].subject;
	return "새 알림";
}

int notify_type_ok(const char *type)
{
	if (!type)
		return 0;
	for (size_t i = 0; i < NTYPES; i++)
		if (!strcmp(types[i].type, type))
			return 1;
	return 0;
}

/* One notification as the API shows it (live and listed); n is the
 * notification row. */
#define OBJ_SQL                                                                                            \
	"json_object('id',CAST(n.notificationId AS TEXT),'type',n.type,'payload',json(n.payload),"        \
	"'cnt',n.cnt,'read',json(CASE n.readYn WHEN 'Y' THEN 'true' ELSE 'false' END),"                   \
	"'createdDt',dm_time(n.createdDt),'updatedDt',dm_time(n.updatedDt))"

/* The sentence shown for a notification (payload j, type ?2). */
#define MSG_SQL                                                                                            \
	"CASE ?2 "                                                                                         \
	"WHEN 'chat' THEN ifnull(j->>'fromNickname','') || ': ' || ifnull(j->>'lastMsg','') "              \
	"WHEN 'join' THEN ifnull(j->>'nickname','') || '님이 「' || ifnull(j->>'title','') || '」 채팅방에 들어왔습니다.' " \
	"WHEN 'chosen' THEN '「' || ifnull(j->>'title','') || '」의 교환 상대로 선택되었습니다.' "          \
	"WHEN 'kicked' THEN '「' || ifnull(j->>'title','') || '」 채팅방에서 강퇴되었습니다.' "              \
	"WHEN 'expired' THEN '「' || ifnull(j->>'title','') || '」의 마감 시간이 지나 교환이 종료되었습니다.' " \
	"WHEN 'deadline' THEN '「' || ifnull(j->>'title','') || '」의 마감까지 1시간도 남지 않았습니다.' "  \
	"WHEN 'trade_done' THEN ifnull(j->>'byNickname','') || '님이 「' || ifnull(j->>'title','') || "   \
	"'」 교환을 완료했습니다. 후기를 남겨 주세요.' "                                                   \
	"WHEN 'trade_cancelled' THEN ifnull(j->>'byNickname','') || '님이 「' || ifnull(j->>'title','') || " \
	"'」 교환을 취소했습니다. (사유: ' || ifnull(j->>'reason','') || ')' "                              \
	"WHEN 'review' THEN ifnull(j->>'fromNickname','') || '님이 「' || ifnull(j->>'title','') || "      \
	"'」 교환 후기를 남겼습니다.' "                                                                    \
	"WHEN 'suspended' THEN replace(substr(ifnull(j->>'until',''), 1, 16), 'T', ' ') || "              \
	"'까지 이용이 제한됩니다. (' || ifnull(j->>'reason','') || ')' "                                   \
	"WHEN 'keyword' THEN '「' || ifnull(j->>'keyword','') || '」 키워드 새 글: ' || ifnull(j->>'title','') " \
	"WHEN 'appointment' THEN ifnull(j->>'byNickname','') || '님이 「' || ifnull(j->>'title','') || '」 거래약속을 ' || " \
	"iif(j->>'status' = 'accepted', '수락했습니다: ', '제안했습니다: ') || "                                  \
	"replace(substr(ifnull(j->>'at',''), 1, 16), 'T', ' ') || ' ' || ifnull(j->>'place','') "                  \
	"WHEN 'appt_remind' THEN '「' || ifnull(j->>'title','') || '」 거래약속 ' || ifnull(j->>'minutes','') || " \
	"'분 전: ' || replace(substr(ifnull(j->>'at',''), 1, 16), 'T', ' ') || ' ' || ifnull(j->>'place','') "     \
	"ELSE '' END"

/* The chat path, deferred: room ?1's messages with ?2 < id <= ?3 (its
 * notifiedMsgId mark .. its newest message) become, for every member but
 * their authors, the room's coalesced notification at time ?4, counting
 * the TXT01 messages after the member joined that they did not write (nor
 * a user they blocked), with the latest of them as payload. One statement per room, however many
 * messages and members: the messages are grouped by author first (a member
 * who joined before the batch counts every other author's, O(authors)),
 * and a payload is built once per distinct latest message. RETURNING:
 * notificationId, userId, whether the row is new (ids above ?5, the
 * largest before the flush: a coalesced update keeps its id), the message
 * text (for mail). */
/* An author au whose messages member cu.userId receives: not one they
 * blocked (a block keeps the blocked user's messages from the blocker,
 * notifications included). */
#define NOT_BLOCKED_AU "NOT EXISTS (SELECT 1 FROM userBlock x WHERE x.userId = cu.userId AND x.blockedUserId = au)"
#define CHAT_SQL                                                                                           \
	"WITH msgs AS MATERIALIZED (SELECT icruMsgId AS id, userId AS au FROM itemChatRoomUserMsg "      \
	"WHERE icrId = ?1 AND icruMsgId > ?2 AND icruMsgId <= ?3 AND msgType = 'TXT01'), "                 \
	"byau AS MATERIALIZED (SELECT au, count(*) AS c, max(id) AS mx FROM msgs GROUP BY au), "          \
	"per AS MATERIALIZED (SELECT cu.userId AS uid, "                                                  \
	"CASE WHEN cu.joinedMsgId <= ?2 THEN (SELECT sum(c) FROM byau WHERE au <> cu.userId AND " NOT_BLOCKED_AU ") "            \
	"ELSE (SELECT count(*) FROM msgs WHERE id > cu.joinedMsgId AND au <> cu.userId AND " NOT_BLOCKED_AU ") END AS n, "        \
	"CASE WHEN cu.joinedMsgId <= ?2 THEN (SELECT max(mx) FROM byau WHERE au <> cu.userId AND " NOT_BLOCKED_AU ") "           \
	"ELSE (SELECT max(id) FROM msgs WHERE id > cu.joinedMsgId AND au <> cu.userId AND " NOT_BLOCKED_AU ") END AS last "       \
	"FROM itemChatRoomUser cu WHERE cu.icrId = ?1), "                                                 \
	"pl AS MATERIALIZED (SELECT m.icruMsgId AS last, json_object('icrId',CAST(m.icrId AS TEXT),"      \
	"'itemId',CAST(s.itemId AS TEXT),'title',s.title,'fromUserId',CAST(u.userId AS TEXT),"            \
	"'fromNickname',u.nickname,'lastMsg',substr(m.chatMsg,1,100),'icruMsgId',CAST(m.icruMsgId AS TEXT),"\
	"'message',u.nickname || ': ' || substr(m.chatMsg,1,100)) AS j "                                  \
	"FROM (SELECT DISTINCT last FROM per WHERE last IS NOT NULL) l "                                  \
	"JOIN itemChatRoomUserMsg m ON m.icruMsgId = l.last JOIN itemChatRoom r ON r.icrId = m.icrId "   \
	"JOIN saleItem s ON s.itemId = r.itemId JOIN user u ON u.userId = m.userId) "                     \
	"INSERT INTO notification(userId, type, payload, coalesceKey, cnt, createdDt, updatedDt) "        \
	"SELECT per.uid, 'chat', pl.j, 'room:' || ?1, per.n, ?4, ?4 FROM per JOIN pl ON pl.last = per.last "\
	"WHERE per.n > 0 "                                                                                \
	"ON CONFLICT(userId, coalesceKey) WHERE coalesceKey IS NOT NULL AND readYn = 'N' "                \
	"DO UPDATE SET cnt = cnt + excluded.cnt, payload = excluded.payload, updatedDt = excluded.updatedDt " \
	"RETURNING notificationId, userId, notificationId > ?5, payload->>'message', payload->>'itemId'"

/* One notification of type ?2 for user ?1 with payload ?3 under coalesce
 * key ?4 (or NULL) at time ?5. */
#define ADD_SQL                                                                                            \
	"INSERT INTO notification(userId, type, payload, coalesceKey, createdDt, updatedDt) "             \
	"SELECT ?1, ?2, json_set(j, '$.message', " MSG_SQL "), ?4, ?5, ?5 "                               \
	"FROM (SELECT json(?3) AS j) WHERE true "                                                         \
	UPSERT_SQL "RETURNING notificationId, userId, cnt, payload->>'message', payload->>'itemId'"

/* A second notification under the same key while the first is unread
 * counts on the first. */
#define UPSERT_SQL                                                                                         \
	"ON CONFLICT(userId, coalesceKey) WHERE coalesceKey IS NOT NULL AND readYn = 'N' "                \
	"DO UPDATE SET cnt = cnt + 1, payload = excluded.payload, updatedDt = excluded.updatedDt "

/* The other statements of the hot path (every chat message runs them for
 * every member). */
#define MAILTO_SQL                                                                                         \
	"SELECT email FROM user WHERE userId = ?1 AND "                                                   \
	"EXISTS (SELECT 1 FROM json_each(emailNotify) WHERE value = ?2)"
#define OBJ_ONE_SQL "SELECT " OBJ_SQL " FROM notification n WHERE n.notificationId = ?1 AND n.userId = ?2"

/* --------------------------------------------------------- live delivery */

typedef struct pend {
	int64_t id, user;
} pend_t;

static pthread_mutex_t plock = PTHREAD_MUTEX_INITIALIZER;
static pend_t *pend;
static size_t npend, cappend;
static int flush_queued;
/* Set (lane only) while a chat job stores notifications: chat calls
 * notify_chat_after after its commit, which delivers, so no empty job is
 * needed for those. */
static int in_chat_job;

static int flush_noop(sqlite3 *w, void *arg)
{
	(void)w;
	(void)arg;
	return DM_OK;
}

static int pend_cmp(const void *a, const void *b)
{
	const pend_t *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Delivers every pending notification. Call only on the lane thread
 * between batches (a done callback): then every pending row is committed
 * (or rolled back and gone), and the writer connection, outside any
 * transaction, reads them. */
static void flush_now(int from_job)
{
	pend_t *list;
	size_t n;
	sqlite3_stmt *st;

	pthread_mutex_lock(&plock);
	list = pend;
	n = npend;
	pend = NULL;
	npend = cappend = 0;
	if (from_job)
		flush_queued = 0;
	pthread_mutex_unlock(&plock);
	if (!n)
		goto done;
	qsort(list, n, sizeof *list, pend_cmp);
	st = db_stmt(db_writer(), OBJ_ONE_SQL);
	if (!st)
		goto done;
	for (size_t i = 0; i < n; i++) {
		if (i && list[i].id == list[i - 1].id && list[i].user == list[i - 1].user)
			continue;
		sqlite3_bind_int64(st, 1, list[i].id);
		sqlite3_bind_int64(st, 2, list[i].user);
		if (sqlite3_step(st) == SQLITE_ROW)
			live_user_emit(list[i].user, "notification", (const char *)sqlite3_column_text(st, 0));
		sqlite3_reset(st);
	}
	db_done(st);
done:
	free(list);
}

/* Done callback of the empty job. */
static void flush_done(void *arg, int status)
{
	(void)arg;
	(void)status;
	flush_now(1);
}

/* Remembers a stored notification for delivery after the commit. */
static void pending_push(int64_t id, int64_t user)
{
	pthread_mutex_lock(&plock);
	if (npend == cappend) {
		size_t ncap = cappend ? cappend * 2 : 64;
		pend_t *np = realloc(pend, ncap * sizeof *np);
		if (!np) {
			pthread_mutex_unlock(&plock);
			dm_warn("notify: out of memory; a live notification is skipped (it stays listed)");
			return;
		}
		pend = np;
		cappend = ncap;
	}
	dm_assert(npend < cappend);
	pend[npend].id = id;
	pend[npend].user = user;
	npend++;
	if (!flush_queued && !in_chat_job && jobs_write_async(flush_noop, flush_done, NULL) == DM_OK)
		flush_queued = 1;
	pthread_mutex_unlock(&plock);
}

/* ------------------------------------------------------------ storing */

static void html_escape(const char *s, char *out, size_t cap)
{
	size_t n = 0;
	for (; *s && n + 7 < cap; s++) {
		const char *rep = NULL;
		switch (*s) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default: break;
		}
		if (rep) {
			size_t k = strlen(rep);
			memcpy(out + n, rep, k);
			n += k;
		} else
			out[n++] = *s;
	}
	out[n] = 0;
}

/* Mails message to user_id if they chose email for type. Best effort. */
static void mail_if_chosen(sqlite3 *w, int64_t user_id, const char *type, const char *message)
{
	char to[400], subject[160], text[2600], esc[4200], html[4600];

	if (db_get_text(w, to, sizeof to, MAILTO_SQL, DB_INT(user_id), DB_TEXT(type)) != DM_OK)
		return;
	snprintf(subject, sizeof subject, "[동물마켓] %s", subject_of(type));
	snprintf(text, sizeof text, "%s\n\n%s%s", message, cfg.app_url[0] ? cfg.app_url : "",
		 cfg.app_url[0] ? "\n" : "");
	html_escape(message, esc, sizeof esc);
	snprintf(html, sizeof html, "<p>%s</p>", esc);
	if (mail_queue(w, to, subject, text, html) != DM_OK)
		dm_warn("notify: could not queue mail for user %lld", (long long)user_id);
}

/* A new notification (not a coalesced update) of type for user_id with
 * its sentence message and item_id (NULL if none): mailed and pushed to
 * the user if they chose that for the type. Best effort. */
static void send_new(sqlite3 *w, int64_t user_id, const char *type, const unsigned char *message,
		     const unsigned char *item_id)
{
	const char *m = message ? (const char *)message : "";
	mail_if_chosen(w, user_id, type, m);
	push_queue(w, user_id, type, subject_of(type), m, (const char *)item_id);
}

/* Steps st, an upsert whose RETURNING rows are (notificationId, userId,
 * cnt, message, itemId): mails and pushes the new ones (cnt 1: a coalesced
 * notification is sent once) and queues each for live delivery. Gives st
 * back (db_done; NULL is an error). Returns the number of rows, or -1 on
 * error (logged). */
static int stored_rows(sqlite3 *w, sqlite3_stmt *st, const char *type)
{
	int n = 0, rc;
	if (!st)
		return -1;
	/* RETURNING: every change is made at the first step, so running
	 * other statements between the steps is safe */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0), uid = sqlite3_column_int64(st, 1);
		if (sqlite3_column_int64(st, 2) == 1)
			send_new(w, uid, type, sqlite3_column_text(st, 3), sqlite3_column_text(st, 4));
		pending_push(id, uid);
		n++;
	}
	if (rc != SQLITE_DONE) {
		dm_error("notify: storing a %s notification: %s", type, sqlite3_errmsg(w));
		n = -1;
	}
	db_done(st);
	return n;
}

int notify_add(sqlite3 *w, int64_t user_id, const char *type, const char *payload, const char *coalesce)
{
	sqlite3_stmt *st = db_query(w, ADD_SQL, DB_INT(user_id), DB_TEXT(type), DB_TEXT(payload ? payload : "{}"),
				    DB_TEXT(coalesce), DB_INT(dm_now_ms()));
	return stored_rows(w, st, type) == 1 ? DM_OK : DM_ERR;
}

/* A growing list of ids (rooms, items). */
typedef struct idlist {
	int64_t *v;
	size_t n, cap;
} idlist_t;

static int idlist_add(idlist_t *l, int64_t id)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 32;
		int64_t *nv = realloc(l->v, ncap * sizeof *nv);
		if (!nv)
			return DM_ENOMEM;
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n++] = id;
	return DM_OK;
}

/* ----------------------------------------------------- chat, deferred */

/* Chat notifications are not stored by the message's own job: that job
 * only marks its room dirty (in memory, here). A flush — every
 * CHAT_FLUSH_MS, and before any read of notifications over HTTP, so that a
 * reader always sees every message committed before its request — stores
 * each dirty room's new messages for all its members with one statement
 * (CHAT_SQL) and moves the room's durable mark (itemChatRoom.notifiedMsgId)
 * in the same transaction: every committed message is counted exactly
 * once. After a start (or a flush that failed) the first flush also scans
 * for rooms with messages past their mark (a restart, a kill -9 between a
 * message's commit and its flush). A message thus costs one hash-set
 * insert; a room of m members costs one O(m) statement per flush, however
 * many messages it got in between. Live: after the flush commits, each
 * stored or updated notification goes to its user's sockets, except to a
 * user with a socket in that room (they got the getMsg itself).
 *
 * Thread-safety: the set and `catchup` are under dlock (the lane adds and
 * takes; HTTP threads and the timer ask whether anything is pending). */
#define CHAT_FLUSH_MS 1000
#define CHAT_FLUSH_ROOMS 500 /* per write job: a backlog (after a restart) goes in
				steps, other jobs in between */

static pthread_mutex_t dlock = PTHREAD_MUTEX_INITIALIZER;
static int64_t *dset;   /* open addressing, 0 = empty slot; dcap a power of 2 */
static size_t dn, dcap;
static int catchup = 1; /* rooms past their mark may exist: scan for them */

static size_t dslot(int64_t icr, size_t cap)
{
	return (size_t)(((uint64_t)icr * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
}

/* Marks room icr as having messages to store (lane, inside the job that
 * stored the message). Out of memory: the catch-up scan finds it. */
static void dirty_add(int64_t icr)
{
	size_t i;
	if (icr <= 0)
		return;
	pthread_mutex_lock(&dlock);
	if ((dn + 1) * 2 > dcap) {
		size_t ncap = dcap ? dcap * 2 : 64;
		int64_t *nv = calloc(ncap, sizeof *nv);
		if (!nv) {
			catchup = 1;
			goto done;
		}
		for (size_t k = 0; k < dcap; k++)
			if (dset[k]) {
				for (i = dslot(dset[k], ncap); nv[i]; i = (i + 1) & (ncap - 1))
					;
				nv[i] = dset[k];
			}
		free(dset);
		dset = nv;
		dcap = ncap;
	}
	/* at most half full: a probe always ends at an empty slot */
	dm_assert(dcap && (dn + 1) * 2 <= dcap);
	for (i = dslot(icr, dcap); dset[i]; i = (i + 1) & (dcap - 1))
		if (dset[i] == icr)
			goto done;
	dset[i] = icr;
	dn++;
done:
	pthread_mutex_unlock(&dlock);
}

/* 1 if a flush has something to do. Any thread. */
static int chat_pending(void)
{
	int p;
	pthread_mutex_lock(&dlock);
	p = dn || catchup;
	pthread_mutex_unlock(&dlock);
	return p;
}

/* One notification a flush stored or updated, for live delivery. */
typedef struct cnote {
	int64_t id, user, icr;
} cnote_t;

/* A flush: its rooms (taken from the set when it runs) and what it stored.
 * Owned by whoever runs it (chat_flush_wait). */
typedef struct cflush {
	idlist_t rooms;
	int catchup;
	int more;  /* rooms were left for the next job */
	cnote_t *out;
	size_t nout, capout;
} cflush_t;

/* Moves the set into f (and the catch-up flag). Lane, inside the flush. */
static int dirty_take(cflush_t *f)
{
	size_t n0 = f->rooms.n;
	int rc = DM_OK;
	pthread_mutex_lock(&dlock);
	for (size_t k = 0; k < dcap && rc == DM_OK; k++)
		if (dset[k])
			rc = idlist_add(&f->rooms, dset[k]);
	if (rc == DM_OK) {
		dm_assert(f->rooms.n - n0 == dn); /* the count matches the set */
		if (dcap)
			memset(dset, 0, dcap * sizeof *dset);
		dn = 0;
		f->catchup = catchup;
		catchup = 0;
	}
	pthread_mutex_unlock(&dlock);
	return rc;
}

/* A flush failed (rolled back): everything it took is pending again. */
static void dirty_restore(const cflush_t *f)
{
	for (size_t i = 0; i < f->rooms.n; i++)
		dirty_add(f->rooms.v[i]);
	pthread_mutex_lock(&dlock);
	if (f->catchup)
		catchup = 1;
	pthread_mutex_unlock(&dlock);
}

/* Adds to f every room with messages past its mark. Runs once after a
 * start: an index seek per room. */
static int catchup_scan(sqlite3 *w, cflush_t *f)
{
	sqlite3_stmt *st = db_stmt(w, "SELECT r.icrId FROM itemChatRoom r WHERE EXISTS (SELECT 1 FROM "
				      "itemChatRoomUserMsg m WHERE m.icrId = r.icrId AND m.icruMsgId > r.notifiedMsgId)");
	int64_t t0 = dm_now_ms();
	size_t n0 = f->rooms.n;
	int rc;
	if (!st)
		return DM_ERR;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (idlist_add(&f->rooms, sqlite3_column_int64(st, 0)) != DM_OK)
			break;
	db_done(st);
	/* the scan read every room once: its pages need not stay in the
	 * writer's cache (megabytes a small host would keep for nothing) */
	sqlite3_db_release_memory(w);
	if (f->rooms.n > n0)
		dm_info("notify: %zu chat rooms have messages left to count from before (scan: %lld ms)",
			f->rooms.n - n0, (long long)(dm_now_ms() - t0));
	return rc == SQLITE_DONE ? DM_OK : DM_ERR;
}

static int cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* Stores room icr's messages past its mark (see CHAT_SQL) and moves the
 * mark. maxid: the largest notificationId before the flush. DM_OK/DM_ERR. */
static int flush_room(sqlite3 *w, cflush_t *f, int64_t icr, int64_t maxid, int64_t now)
{
	sqlite3_stmt *st = db_query(w, "SELECT r.notifiedMsgId, (SELECT max(icruMsgId) FROM itemChatRoomUserMsg m "
				       "WHERE m.icrId = r.icrId) FROM itemChatRoom r WHERE r.icrId = ?1", DB_INT(icr));
	int64_t mark = 0, hi = 0;
	int rc;

	if (!st)
		return DM_ERR;
	if (sqlite3_step(st) == SQLITE_ROW) {
		mark = sqlite3_column_int64(st, 0);
		hi = sqlite3_column_int64(st, 1);
	}
	db_done(st);
	if (hi <= mark)
		return DM_OK; /* gone, or nothing new */
	st = db_query(w, CHAT_SQL, DB_INT(icr), DB_INT(mark), DB_INT(hi), DB_INT(now), DB_INT(maxid));
	if (!st)
		return DM_ERR;
	/* RETURNING: every change is made at the first step, so the mail
	 * lookups between steps are safe */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0), uid = sqlite3_column_int64(st, 1);
		if (sqlite3_column_int(st, 2))
			send_new(w, uid, NOTIFY_CHAT, sqlite3_column_text(st, 3), sqlite3_column_text(st, 4));
		if (f->nout == f->capout) {
			size_t ncap = f->capout ? f->capout * 2 : 64;
			cnote_t *nv = realloc(f->out, ncap * sizeof *nv);
			if (!nv)
				continue; /* stored; only its live copy is skipped */
			f->out = nv;
			f->capout = ncap;
		}
		dm_assert(f->nout < f->capout);
		f->out[f->nout].id = id;
		f->out[f->nout].user = uid;
		f->out[f->nout].icr = icr;
		f->nout++;
	}
	if (rc != SQLITE_DONE) {
		dm_error("notify: storing chat notifications of room %lld: %s", (long long)icr, sqlite3_errmsg(w));
		db_done(st);
		return DM_ERR;
	}
	db_done(st);
	return db_run(w, "UPDATE itemChatRoom SET notifiedMsgId = ?2 WHERE icrId = ?1", DB_INT(icr), DB_INT(hi)) ==
			       DM_OK
		       ? DM_OK
		       : DM_ERR;
}

/* The flush's write job. */
static int chat_flush_job(sqlite3 *w, void *arg)
{
	cflush_t *f = arg;
	int64_t maxid = 0, now = dm_now_ms();

	if (dirty_take(f) != DM_OK)
		return DM_ERR;
	if (f->catchup && catchup_scan(w, f) != DM_OK)
		return DM_ERR;
	if (!f->rooms.n)
		return DM_OK;
	qsort(f->rooms.v, f->rooms.n, sizeof *f->rooms.v, cmp_id);
	if (f->rooms.n > CHAT_FLUSH_ROOMS) {
		/* the rest is pending again (a failure restores all of f) */
		for (size_t i = CHAT_FLUSH_ROOMS; i < f->rooms.n; i++)
			dirty_add(f->rooms.v[i]);
		f->more = 1;
		/* the same room may straddle the cut: it is done twice, harmless */
	}
	if (db_get_int(w, &maxid, "SELECT coalesce(max(notificationId), 0) FROM notification") != DM_OK)
		return DM_ERR;
	for (size_t i = 0; i < f->rooms.n && i < CHAT_FLUSH_ROOMS; i++) {
		if (i && f->rooms.v[i] == f->rooms.v[i - 1])
			continue;
		if (flush_room(w, f, f->rooms.v[i], maxid, now) != DM_OK)
			return DM_ERR;
	}
	return DM_OK;
}

/* The flush's done callback (lane, after the commit): live delivery to
 * users with no socket in the room. */
static void chat_flush_done(void *arg, int status)
{
	cflush_t *f = arg;
	size_t i = 0;

	if (status != DM_OK) {
		dirty_restore(f);
		return;
	}
	while (i < f->nout) {
		int64_t icr = f->out[i].icr, *in = NULL;
		int nin = live_room_users(icr, &in);
		for (; i < f->nout && f->out[i].icr == icr; i++) {
			const cnote_t *c = &f->out[i];
			sqlite3_stmt *st;
			if (nin > 0 && bsearch(&c->user, in, (size_t)nin, sizeof *in, cmp_id))
				continue; /* in the room: they have the getMsg */
			if (!live_online(c->user))
				continue;
			if (!(st = db_stmt(db_writer(), OBJ_ONE_SQL)))
				continue;
			sqlite3_bind_int64(st, 1, c->id);
			sqlite3_bind_int64(st, 2, c->user);
			if (sqlite3_step(st) == SQLITE_ROW)
				live_user_emit(c->user, "notification", (const char *)sqlite3_column_text(st, 0));
			db_done(st);
		}
		free(in);
	}
}

/* Runs a flush if anything is pending and waits until it is committed and
 * delivered (a backlog: every step of it). Any thread but the lane. */
static void chat_flush_wait(void)
{
	cflush_t f;
	int more = chat_pending();
	while (more) {
		memset(&f, 0, sizeof f);
		more = jobs_write_then(chat_flush_job, chat_flush_done, &f) == DM_OK && f.more;
		free(f.rooms.v);
		free(f.out);
	}
}

static void chat_timer_fn(void *unused)
{
	(void)unused;
	chat_flush_wait();
}

/* ------------------------------------------------------------- hooks */

/* Runs sql (int64 parameters ?1 = p1 and, if it has one, ?2 = p2) whose
 * rows are (userId, payload) and adds a notification of type for each,
 * under coalesce (may be NULL). */
static void add_rows(sqlite3 *w, const char *sql, int64_t p1, int64_t p2, const char *type, const char *coalesce)
{
	const db_arg_t args[2] = {DB_INT(p1), DB_INT(p2)};
	sqlite3_stmt *st = db_stmt(w, sql);
	int64_t *users = NULL;
	char **payloads = NULL;
	size_t n = 0, cap = 0;

	if (!st || db_bind_args(st, args, sqlite3_bind_parameter_count(st) >= 2 ? 2 : 1) != DM_OK) {
		db_done(st);
		return;
	}
	/* collect first: notify_add runs other statements */
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			int64_t *nu = realloc(users, ncap * sizeof *nu);
			if (!nu)
				break;
			users = nu;
			char **np = realloc(payloads, ncap * sizeof *np);
			if (!np)
				break;
			payloads = np;
			cap = ncap;
		}
		users[n] = sqlite3_column_int64(st, 0);
		payloads[n] = strdup(sqlite3_column_text(st, 1) ? (const char *)sqlite3_column_text(st, 1) : "{}");
		if (!payloads[n])
			break;
		n++;
	}
	db_done(st);
	for (size_t i = 0; i < n; i++) {
		notify_add(w, users[i], type, payloads[i], coalesce);
		free(payloads[i]);
	}
	free(users);
	free(payloads);
}

void notify_chat_message(sqlite3 *w, int64_t icr_id, int64_t msg_id)
{
	(void)w;
	(void)msg_id;
	dirty_add(icr_id);
}

void notify_joined(sqlite3 *w, int64_t icr_id, int64_t user_id)
{
	add_rows(w,
		 "SELECT s.userId, json_object('icrId',CAST(r.icrId AS TEXT),'itemId',CAST(s.itemId AS TEXT),"
		 "'title',s.title,'userId',CAST(u.userId AS TEXT),'nickname',u.nickname) "
		 "FROM itemChatRoom r JOIN saleItem s ON s.itemId = r.itemId JOIN user u ON u.userId = ?2 "
		 "WHERE r.icrId = ?1 AND s.userId <> ?2",
		 icr_id, user_id, NOTIFY_JOIN, NULL);
}

void notify_kicked(sqlite3 *w, int64_t icr_id, int64_t user_id)
{
	add_rows(w,
		 "SELECT ?2, json_object('icrId',CAST(r.icrId AS TEXT),'itemId',CAST(s.itemId AS TEXT),"
		 "'title',s.title) FROM itemChatRoom r JOIN saleItem s ON s.itemId = r.itemId WHERE r.icrId = ?1",
		 icr_id, user_id, NOTIFY_KICKED, NULL);
}

void notify_chosen(sqlite3 *w, int64_t item_id)
{
	add_rows(w,
		 "SELECT s.buyerUserId, json_object('icrId',CAST(r.icrId AS TEXT),'itemId',CAST(s.itemId AS TEXT),"
		 "'title',s.title,'ownerUserId',CAST(o.userId AS TEXT),'ownerNickname',o.nickname) "
		 "FROM saleItem s JOIN user o ON o.userId = s.userId LEFT JOIN itemChatRoom r ON r.itemId = s.itemId "
		 "WHERE s.itemId = ?1 AND s.buyerUserId IS NOT NULL",
		 item_id, 0, NOTIFY_CHOSEN, NULL);
}

void notify_item_expired(sqlite3 *w, int64_t item_id)
{
	char key[40];
	snprintf(key, sizeof key, "expired:%lld", (long long)item_id);
	/* the key also marks "already sent": never a second notice */
	add_rows(w,
		 "SELECT s.userId, json_object('icrId',CAST(r.icrId AS TEXT),'itemId',CAST(s.itemId AS TEXT),"
		 "'title',s.title,'deadLine',dm_time(s.deadLine)) "
		 "FROM saleItem s LEFT JOIN itemChatRoom r ON r.itemId = s.itemId "
		 "WHERE s.itemId = ?1 AND s.status = 'SI03' AND NOT EXISTS (SELECT 1 FROM notification n "
		 "WHERE n.userId = s.userId AND n.coalesceKey = 'expired:' || s.itemId)",
		 item_id, 0, NOTIFY_EXPIRED, key);
}

/* chat, inside its write job (notify.h). */
void notify_chat_write(sqlite3 *w, const notify_chat_t *n)
{
	if (!n || !n->type)
		return;
	in_chat_job = 1;
	if (!strcmp(n->type, "message"))
		notify_chat_message(w, n->icr_id, n->msg_id);
	else if (!strcmp(n->type, "join"))
		notify_joined(w, n->icr_id, n->actor_id);
	else if (!strcmp(n->type, "kick"))
		notify_kicked(w, n->icr_id, n->target_id);
	else if (!strcmp(n->type, "exchange"))
		notify_chosen(w, n->item_id);
	in_chat_job = 0;
}

/* chat, on the lane after the commit (notify.h): deliver at once rather
 * than after the next batch. */
void notify_chat_after(const notify_chat_t *n)
{
	(void)n;
	flush_now(0);
}

/* ------------------------------------------------------------- timer */

/* Collects the first column of every row of st (finalized here). */
static void collect(sqlite3_stmt *st, idlist_t *l)
{
	if (!st)
		return;
	while (sqlite3_step(st) == SQLITE_ROW)
		if (idlist_add(l, sqlite3_column_int64(st, 0)) != DM_OK)
			break;
	db_done(st);
}

/* Timer task state (never two runs at once). */
static int64_t last_cleanup;
static int swept_once;

typedef struct tick {
	int cleanup;
	int64_t sweep_ms;  /* how far back the expiry catch-up looks */
} tick_t;

/* The timer's write job: the expiry catch-up, cleanup. */
static int timer_job(sqlite3 *w, void *arg)
{
	int64_t now = dm_now_ms();
	idlist_t expired = {0};
	sqlite3_stmt *st;
	const tick_t *tk = arg;

	/* expiry notices the items part did not store (it stores each with
	 * the expiry itself): after a start a week back, then the last hour */
	st = db_query(w, "SELECT s.itemId FROM saleItem s WHERE s.status = 'SI03' AND s.deadLine > ?1 - ?2 "
			 "AND s.deadLine <= ?1 AND NOT EXISTS (SELECT 1 FROM notification n WHERE n.userId = s.userId "
			 "AND n.coalesceKey = 'expired:' || s.itemId)",
		      DB_INT(now), DB_INT(tk->sweep_ms));
	collect(st, &expired);
	for (size_t i = 0; i < expired.n; i++)
		notify_item_expired(w, expired.v[i]);

	if (tk->cleanup &&
	    db_run(w, "DELETE FROM notification WHERE (readYn = 'Y' AND updatedDt < ?1) OR updatedDt < ?2",
		   DB_INT(now - CLEANUP_READ_DAYS * DAY_MS), DB_INT(now - CLEANUP_ALL_DAYS * DAY_MS)) != DM_OK)
		dm_warn("notify: cleanup failed");
	if (expired.n)
		dm_info("notify: %zu expiry notices", expired.n);
	free(expired.v);
	return DM_OK;
}

static void timer_fn(void *unused)
{
	int64_t now = dm_now_ms();
	tick_t tk;
	(void)unused;
	tk.cleanup = now - last_cleanup >= DAY_MS;
	tk.sweep_ms = swept_once ? HOUR_MS : EXPIRED_SWEEP_DAYS * DAY_MS;
	if (jobs_write(timer_job, &tk) == DM_OK) {
		swept_once = 1;
		if (tk.cleanup)
			last_cleanup = now;
	}
}

/* -------------------------------------------------------------- HTTP */

/* A run of 1 to 19 decimal digits at s[0..n) that fits an int64 into
 * *out: DM_OK, or DM_EINVAL for anything else (a blank, a sign, more). */
static int parse_digits(const char *s, size_t n, int64_t *out)
{
	int64_t v = 0;
	if (n < 1 || n > 19)
		return DM_EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (INT64_MAX - (s[i] - '0')) / 10)
			return DM_EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return DM_OK;
}

/* A list cursor "<updatedDt>_<notificationId>" (as the last page's
 * nextCursor wrote it) into *dt, *id. DM_OK or DM_EINVAL. */
static int parse_cursor(const char *s, int64_t *dt, int64_t *id)
{
	const char *us = strchr(s, '_');
	if (!us || parse_digits(s, (size_t)(us - s), dt) != DM_OK ||
	    parse_digits(us + 1, strlen(us + 1), id) != DM_OK)
		return DM_EINVAL;
	return DM_OK;
}

/* GET /notifications?unread=1&limit=30&cursor=... newest first. */
static int h_notifications(http_req_t *r)
{
	char buf[64];
	int unread = 0;
	int64_t limit = LIST_DEFAULT, cur_dt = 0, cur_id = 0;
	int has_cursor = 0, rc;
	sqlite3_stmt *st;

	chat_flush_wait(); /* every message committed before this request counts */
	rc = http_query(r, "unread", buf, sizeof buf);
	if (rc == DM_OK)
		unread = !strcmp(buf, "1") || !strcmp(buf, "true") || !strcmp(buf, "Y");
	else if (rc != DM_ENOTFOUND)
		return http_refuse(r, RF_INVALID_INPUT);
	rc = http_query(r, "limit", buf, sizeof buf);
	if (rc == DM_OK) {
		int64_t v = dm_parse_id(buf); /* digits only: no blank, no sign */
		if (v < 1 || v > LIST_MAX)
			return http_refuse(r, RF_INVALID_NOTIF_LIMIT);
		limit = (int)v;
	} else if (rc != DM_ENOTFOUND)
		return http_refuse(r, RF_INVALID_NOTIF_LIMIT);
	rc = http_query(r, "cursor", buf, sizeof buf);
	if (rc == DM_OK && buf[0]) {
		if (parse_cursor(buf, &cur_dt, &cur_id) != DM_OK)
			return http_refuse(r, RF_INVALID_CURSOR);
		has_cursor = 1;
	} else if (rc != DM_OK && rc != DM_ENOTFOUND)
		return http_refuse(r, RF_INVALID_CURSOR);
	st = db_query(r->db,
		     "WITH page AS (SELECT * FROM notification n WHERE n.userId = ?1 AND (?2 = 0 OR n.readYn = 'N') "
		     "AND (?3 = 0 OR n.updatedDt < ?4 OR (n.updatedDt = ?4 AND n.notificationId < ?5)) "
		     "ORDER BY n.updatedDt DESC, n.notificationId DESC LIMIT ?6 + 1) "
		     "SELECT json_object('msg','success',"
		     "'data',(SELECT json_group_array(json(o)) FROM (SELECT " OBJ_SQL " AS o FROM page n "
		     "ORDER BY n.updatedDt DESC, n.notificationId DESC LIMIT ?6)),"
		     "'next',CASE WHEN (SELECT count(*) FROM page) > ?6 THEN (SELECT updatedDt || '_' || notificationId "
		     "FROM page ORDER BY updatedDt DESC, notificationId DESC LIMIT 1 OFFSET ?6 - 1) END,"
		     "'unreadCount',(SELECT count(*) FROM notification WHERE userId = ?1 AND readYn = 'N'))",
		     DB_INT(r->user_id), DB_INT(unread), DB_INT(has_cursor), DB_INT(cur_dt), DB_INT(cur_id), DB_INT(limit));
	return http_reply_stmt(r, 200, st);
}

typedef struct read_req {
	int64_t user_id;
	int all;
	const char *ids;   /* JSON array text */
	int updated;
} read_req_t;

static int read_job(sqlite3 *w, void *arg)
{
	read_req_t *q = arg;
	return db_run_changes(w, &q->updated,
			      "UPDATE notification SET readYn = 'Y' WHERE userId = ?1 AND readYn = 'N' "
			      "AND (?2 = 1 OR notificationId IN (SELECT CAST(value AS INTEGER) FROM json_each(?3)))",
			      DB_INT(q->user_id), DB_INT(q->all), DB_TEXT(q->ids ? q->ids : "[]")) == DM_OK
		       ? DM_OK
		       : DM_ERR;
}

/* An array of ids: at most max elements, each a string of digits or a
 * non-negative integer. 1/0. */
static int ids_ok(sqlite3 *db, const char *arr, int max)
{
	sqlite3_stmt *st = db_query(db, "SELECT count(*), sum(CASE WHEN (type = 'integer' AND value >= 0) OR "
					"(type = 'text' AND length(value) BETWEEN 1 AND 18 AND value NOT GLOB '*[^0-9]*') "
					"THEN 0 ELSE 1 END) FROM json_each(?1)",
				    DB_TEXT(arr));
	int ok = 0;
	if (st && sqlite3_step(st) == SQLITE_ROW)
		ok = sqlite3_column_int(st, 0) <= max && sqlite3_column_int(st, 1) == 0;
	db_done(st);
	return ok;
}

/* POST /notifications/read {ids:[...]} or {all:true} */
static int h_read(http_req_t *r)
{
	const json_field_t *all, *ids;
	read_req_t q;
	int rc;

	if (http_json(r) != DM_OK)
		return DM_OK;
	memset(&q, 0, sizeof q);
	q.user_id = r->user_id;
	all = json_get(&r->json, "all");
	ids = json_get(&r->json, "ids");
	if (all && all->type != JSON_TRUE && all->type != JSON_FALSE)
		return http_refuse(r, RF_INVALID_ALL_FLAG);
	if (all && all->type == JSON_TRUE)
		q.all = 1;
	else if (ids && ids->type == JSON_ARRAY && ids_ok(r->db, ids->text, READ_IDS_MAX))
		q.ids = ids->text;
	else
		return http_refuse(r, RF_INVALID_IDS);
	chat_flush_wait(); /* reading marks every message committed before it */
	rc = jobs_write(read_job, &q);
	if (rc != DM_OK)
		return http_fail_dm(r, rc);
	return http_reply_stmt(r, 200,
			       db_query(r->db, "SELECT json_object('msg','success','updated',?2,'unreadCount',"
					       "(SELECT count(*) FROM notification WHERE userId = ?1 AND readYn = 'N'))",
					DB_INT(r->user_id), DB_INT(q.updated)));
}

/* The settings reply: the chosen types and every type there is. */
static int reply_settings(http_req_t *r)
{
	char all[400] = "[";
	for (size_t i = 0; i < NTYPES; i++) {
		/* type names are fixed ASCII identifiers: no escaping needed */
		strcat(all, i ? ",\"" : "\"");
		strcat(all, types[i].type);
		strcat(all, "\"");
	}
	strcat(all, "]");
	return http_reply_stmt(r, 200,
			       db_query(r->db, "SELECT json_object('msg','success','email',json(emailNotify),"
					       "'push',json(pushNotify),'types',json(?2)) FROM user WHERE userId = ?1",
					DB_INT(r->user_id), DB_TEXT(all)));
}

static int h_settings_get(http_req_t *r)
{
	return reply_settings(r);
}

typedef struct settings_req {
	int64_t user_id;
	const char *email;  /* JSON array text, validated; NULL = unchanged */
	const char *push;   /* the same for push */
} settings_req_t;

static int settings_job(sqlite3 *w, void *arg)
{
	settings_req_t *q = arg;
	/* distinct, in the order given */
#define DISTINCT_SQL(p) "(SELECT json_group_array(value) FROM (SELECT value, min(key) k FROM json_each(" p ") " \
			"GROUP BY value ORDER BY k))"
	int rc = db_run(w, "UPDATE user SET "
			"emailNotify = CASE WHEN ?2 IS NULL THEN emailNotify ELSE " DISTINCT_SQL("?2") " END, "
			"pushNotify = CASE WHEN ?3 IS NULL THEN pushNotify ELSE " DISTINCT_SQL("?3") " END "
			"WHERE userId = ?1",
			DB_INT(q->user_id), DB_TEXT(q->email), DB_TEXT(q->push));
#undef DISTINCT_SQL
	return rc == DM_OK ? DM_OK : DM_ERR;
}

/* 1 if f is a JSON array of known notification types (at most twice as
 * many entries as there are types: duplicates are dropped later). */
static int types_ok(sqlite3 *db, const json_field_t *f)
{
	sqlite3_stmt *st;
	int bad = 1;

	if (!f || f->type != JSON_ARRAY)
		return 0;
	st = db_query(db, "SELECT count(*), sum(type <> 'text') FROM json_each(?1)", DB_TEXT(f->text));
	if (st && sqlite3_step(st) == SQLITE_ROW)
		bad = sqlite3_column_int(st, 0) > 2 * (int)NTYPES || sqlite3_column_int(st, 1) != 0;
	db_done(st);
	if (bad)
		return 0;
	st = db_query(db, "SELECT value FROM json_each(?1)", DB_TEXT(f->text));
	if (!st)
		return 0;
	while (!bad && sqlite3_step(st) == SQLITE_ROW)
		bad = !notify_type_ok((const char *)sqlite3_column_text(st, 0));
	db_done(st);
	return !bad;
}

/* PUT /notifications/settings {email:[types], push:[types]}: either or
 * both; a field left out keeps its value. */
static int h_settings_put(http_req_t *r)
{
	const json_field_t *email, *push;
	settings_req_t q;
	int rc;

	if (http_json(r) != DM_OK)
		return DM_OK;
	email = json_get(&r->json, "email");
	push = json_get(&r->json, "push");
	if ((!email && !push) || (email && email->type != JSON_ARRAY) || (push && push->type != JSON_ARRAY))
		return http_refuse(r, RF_SETTINGS_NOT_ARRAYS);
	if ((email && !types_ok(r->db, email)) || (push && !types_ok(r->db, push)))
		return http_refuse(r, RF_INVALID_SETTINGS);
	q.user_id = r->user_id;
	q.email = email ? email->text : NULL;
	q.push = push ? push->text : NULL;
	rc = jobs_write(settings_job, &q);
	if (rc != DM_OK)
		return http_fail_dm(r, rc);
	return reply_settings(r);
}

static const http_route_t notify_routes[] = {
	{"GET", "/notifications", h_notifications, HTTP_AUTH},
	{"POST", "/notifications/read", h_read, HTTP_AUTH},
	{"GET", "/notifications/settings", h_settings_get, HTTP_AUTH},
	{"PUT", "/notifications/settings", h_settings_put, HTTP_AUTH},
};

int notify_init(void)
{
	http_routes(notify_routes, sizeof notify_routes / sizeof notify_routes[0]);
	if (jobs_timer("notify-chat", CHAT_FLUSH_MS, chat_timer_fn, NULL) != DM_OK)
		return DM_ERR;
	return jobs_timer("notify", cfg.expiry_interval * 1000, timer_fn, NULL);
}

/* After the pool stopped: drops what was never delivered (it is stored). */
void notify_stop(void)
{
	pthread_mutex_lock(&plock);
	free(pend);
	pend = NULL;
	npend = cappend = 0;
	flush_queued = 0;
	pthread_mutex_unlock(&plock);
	/* what was not flushed is found again by the next start's scan */
	pthread_mutex_lock(&dlock);
	free(dset);
	dset = NULL;
	dn = dcap = 0;
	catchup = 1;
	pthread_mutex_unlock(&dlock);
}
