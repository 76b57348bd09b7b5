/*
 * unit_trust.c — the manner temperature formula with reviews and reports of
 * chosen ages (which the black-box tests cannot make: the server stamps
 * everything "now"), its clamps and windows, and the daily recompute.
 *
 * The formula (trust.h, README "Manner temperature, reports and
 * notifications"): w(age) = 0.5^(age_days/180);
 * temp = clamp(36.5 + Σ reviews ≤ 365 d w·(good ? +0.5 : −1.0)
 *                   − Σ upheld reports ≤ 365 d 2.0·w, 0, 99), one decimal.
 * Expected values below are computed here from that formula, independently
 * of the SQL in trust.c.
 */
#include "../src/core/dm.c"
#include "../src/core/config.c"
#include "../src/core/db.c"
#include "../src/core/mem.c"
#include "../src/core/refusal.c"
#include "../src/core/metrics.c"
#include "../src/core/json.c"
#include "../src/core/auth.c"
#include "../src/core/tls.c"
#include "../src/core/jobs.c"
#include "../src/core/net.c"
#include "../src/web/http.c"
/* notify queues Web Push with a plain call: the real push.c (and the net.c
 * it needs) comes along; no user here has a push subscription */
#include "../src/market/push.c"
#include "../src/market/notify.c"
#include "../src/market/trust.c"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "unit.h"

/* The first column of sql's first row as an integer; -1 when there is no
 * row or the statement fails (no check here expects -1). */
static int64_t one_int(sqlite3 *db, const char *sql)
{
	int64_t v = -1;
	return db_get_int(db, &v, sql) == DM_OK ? v : -1;
}


#include "unit_live_off.h"

/* notify.c mails through the outbox: count instead (mail.c's outbox and
 * SMTP are mail.test.js's) */
static int mails;
int mail_queue(sqlite3 *w, const char *to, const char *subject, const char *text, const char *html)
{
	(void)w;
	(void)to;
	(void)subject;
	(void)text;
	(void)html;
	mails++;
	return DM_OK;
}

#define NOW 1800000000000LL /* a fixed "now" (2027-01-15) */

static sqlite3 *w;
static int64_t next_item = 1000;

static int64_t add_user(const char *email)
{
	CHECK(db_run(w, "INSERT INTO user(email, nickname, createdDt) VALUES (?1, 'n', 0)", DB_TEXT(email)) == DM_OK,
	      "user %s inserted", email);
	return sqlite3_last_insert_rowid(w);
}

static void add_review(int64_t reviewer, int64_t reviewee, const char *score, double age_days)
{
	CHECK(db_run(w, "INSERT INTO review(itemId, reviewerId, revieweeId, score, createdDt) VALUES (?1, ?2, ?3, ?4, ?5)",
		     DB_INT(next_item++), DB_INT(reviewer), DB_INT(reviewee), DB_TEXT(score),
		     DB_INT(NOW - (int64_t)(age_days * 86400000.0))) == DM_OK,
	      "review inserted");
}

static void add_report(int64_t reporter, int64_t reported, double age_days, int upheld)
{
	CHECK(db_run(w, "INSERT INTO report(reporterId, reportedId, reason, upheldYn, createdDt) "
			"VALUES (?1, ?2, 'noshow', ?3, ?4)",
		     DB_INT(reporter), DB_INT(reported), DB_TEXT(upheld ? "Y" : "N"),
		     DB_INT(NOW - (int64_t)(age_days * 86400000.0))) == DM_OK,
	      "report inserted");
}

static double temp_of(int64_t uid)
{
	sqlite3_stmt *st = db_query(w, "SELECT mannerTemp FROM user WHERE userId = ?1", DB_INT(uid));
	double t = -1;
	if (st && sqlite3_step(st) == SQLITE_ROW)
		t = sqlite3_column_double(st, 0);
	db_done(st);
	return t;
}

/* The documented formula, in C. */
static double wgt(double age_days)
{
	return pow(0.5, age_days / 180.0);
}

static double expect(double raw)
{
	if (raw < 0)
		raw = 0;
	if (raw > 99)
		raw = 99;
	return round(raw * 10) / 10;
}

#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

int main(void)
{
	char dir[] = "/tmp/unit-trust-XXXXXX";
	char path[128];
	int64_t a, b, c, d, e, f, r[25];
	double want;

	cfg_defaults();
	if (!mkdtemp(dir) || db_open(dir) != DM_OK) {
		printf("cannot open a database in %s\n", dir);
		return 1;
	}
	w = db_writer();
	for (int i = 0; i < 25; i++) {
		char em[40];
		snprintf(em, sizeof em, "r%d@example.com", i);
		r[i] = add_user(em);
	}

	/* a: 3 good + 1 bad today: 36.5 + 1.5 − 1.0 = 37.0 */
	a = add_user("a@example.com");
	add_review(r[0], a, "good", 0);
	add_review(r[1], a, "good", 0);
	add_review(r[2], a, "good", 0);
	add_review(r[3], a, "bad", 0);
	CHECK(trust_recompute(w, a, NOW) == DM_OK, "recompute a");
	CHECK(NEAR(temp_of(a), 37.0), "3 good + 1 bad today: 37.0, got %.2f", temp_of(a));

	/* b: ageing. good today (+0.5), good 180 d ago (+0.25), bad 90 d ago
	 * (−0.7071), good 400 d ago (ignored), an upheld report 30 d ago
	 * (−2·0.8909), a dismissed report today (ignored), an upheld report 370 d
	 * ago (ignored) */
	b = add_user("b@example.com");
	add_review(r[0], b, "good", 0);
	add_review(r[1], b, "good", 180);
	add_review(r[2], b, "bad", 90);
	add_review(r[3], b, "good", 400);
	add_report(r[4], b, 30, 1);
	add_report(r[5], b, 0, 0);
	add_report(r[6], b, 370, 1);
	CHECK(trust_recompute(w, b, NOW) == DM_OK, "recompute b");
	want = expect(36.5 + 0.5 * wgt(0) + 0.5 * wgt(180) - 1.0 * wgt(90) - 2.0 * wgt(30));
	CHECK(NEAR(want, 34.8), "the worked example itself: 34.76 -> 34.8 (%.2f)", want);
	CHECK(NEAR(temp_of(b), want), "aged reviews and reports: want %.1f, got %.2f", want, temp_of(b));

	/* c: clamped at 99 (140 good reviews today would be 106.5) */
	c = add_user("c@example.com");
	for (int i = 0; i < 140; i++)
		add_review(r[i % 25], c, "good", i / 25); /* ages 0..5 days */
	CHECK(trust_recompute(w, c, NOW) == DM_OK, "recompute c");
	CHECK(NEAR(temp_of(c), 99.0), "clamped at 99, got %.2f", temp_of(c));

	/* d: clamped at 0 (20 upheld reports today: 36.5 − 40) */
	d = add_user("d@example.com");
	for (int i = 0; i < 20; i++)
		add_report(r[i], d, 0, 1);
	CHECK(trust_recompute(w, d, NOW) == DM_OK, "recompute d");
	CHECK(NEAR(temp_of(d), 0.0), "clamped at 0, got %.2f", temp_of(d));

	/* e: a half-life exactly: one bad review 180 d ago: 36.5 − 0.5 = 36.0 */
	e = add_user("e@example.com");
	add_review(r[0], e, "bad", 180);
	CHECK(trust_recompute(w, e, NOW) == DM_OK, "recompute e");
	CHECK(NEAR(temp_of(e), 36.0), "bad review one half-life ago: 36.0, got %.2f", temp_of(e));

	/* the daily run: f's only review aged out (400 d) but the stored value
	 * is stale; e is recomputed a year later (its review is then 545 d old:
	 * ignored) */
	f = add_user("f@example.com");
	add_review(r[0], f, "good", 400);
	db_exec(w, "UPDATE user SET mannerTemp = 40.0 WHERE email = 'f@example.com'");
	CHECK(trust_recompute(w, 0, NOW) == DM_OK, "recompute all");
	CHECK(NEAR(temp_of(f), 36.5), "a review past 365 days no longer counts: 36.5, got %.2f", temp_of(f));
	CHECK(NEAR(temp_of(a), 37.0) && NEAR(temp_of(b), want) && NEAR(temp_of(c), 99.0) && NEAR(temp_of(d), 0.0),
	      "the daily run keeps current values");
	CHECK(NEAR(temp_of(r[0]), 36.5), "a user with no reviews stays at 36.5");
	CHECK(trust_recompute(w, 0, NOW + 365LL * 86400000) == DM_OK, "recompute a year later");
	CHECK(NEAR(temp_of(e), 36.5), "a year later e's review aged out: 36.5, got %.2f", temp_of(e));
	want = expect(36.5 + 1.5 * wgt(365) - 1.0 * wgt(365));
	CHECK(NEAR(temp_of(a), want), "a year later a's reviews weigh %.3f: want %.1f, got %.2f", wgt(365), want,
	      temp_of(a));

	/* suspension helper */
	db_exec(w, "UPDATE user SET suspendedUntil = 9999999999999 WHERE email = 'a@example.com'");
	CHECK(trust_suspended(w, a) == 1, "suspended in the future");
	CHECK(trust_suspended(w, b) == 0, "never suspended");
	db_exec(w, "UPDATE user SET suspendedUntil = 1 WHERE email = 'b@example.com'");
	CHECK(trust_suspended(w, b) == 0, "a past suspension is over");
	CHECK(trust_suspended(w, 999999) == 0, "unknown user");

	/* notify_add coalescing, mail-once and push-once (no lane: nothing is
	 * delivered live); a has a push subscription and chose push for chat, b
	 * has one and chose no push */
	db_exec(w, "UPDATE user SET emailNotify = '[\"chat\"]', pushNotify = '[\"chat\"]' WHERE email = 'a@example.com'");
	db_exec(w, "UPDATE user SET pushNotify = '[]' WHERE email = 'b@example.com'");
	CHECK(db_run(w, "INSERT INTO pushSubscription(userId, endpoint, p256dh, auth, createdDt) VALUES "
			"(?1, 'https://push.example/a', 'k', 'x', 0), (?2, 'https://push.example/b', 'k', 'x', 0)",
		     DB_INT(a), DB_INT(b)) == DM_OK,
	      "subscriptions");
	mails = 0;
	for (int i = 0; i < 3; i++)
		CHECK(notify_add(w, a, NOTIFY_CHAT, "{\"lastMsg\":\"hi\"}", "room:7") == DM_OK, "chat %d", i);
	CHECK(one_int(w, "SELECT count(*) FROM notification WHERE coalesceKey = 'room:7'") == 1,
	      "one row");
	CHECK(one_int(w, "SELECT cnt FROM notification WHERE coalesceKey = 'room:7'") == 3, "cnt 3");
	CHECK(mails == 1, "mailed once for the coalesced unread, got %d", mails);
	db_exec(w, "UPDATE notification SET readYn = 'Y'");
	CHECK(notify_add(w, a, NOTIFY_CHAT, "{}", "room:7") == DM_OK, "after reading");
	CHECK(one_int(w, "SELECT count(*) FROM notification WHERE coalesceKey = 'room:7'") == 2,
	      "a new unread row after the first was read");
	CHECK(mails == 2, "and a new mail, got %d", mails);
	CHECK(notify_add(w, b, NOTIFY_CHAT, "{}", "room:7") == DM_OK && mails == 2, "no mail for who did not ask");
	CHECK(one_int(w, "SELECT count(*) FROM pushOutbox o JOIN pushSubscription s USING (pushSubId) "
			"WHERE s.endpoint = 'https://push.example/a' AND o.payload->>'type' = 'chat' "
			"AND o.payload->>'url' = '/alerts' AND o.urgency = 'high'") == 2,
	      "pushed once per new unread row (2), through push.c");
	CHECK(one_int(w, "SELECT count(*) FROM pushOutbox") == 2, "no push for who did not ask");

	notify_stop();
	db_close();
	snprintf(path, sizeof path, "rm -rf %s", dir);
	if (system(path) != 0)
		printf("could not remove %s\n", dir);
	UNIT_DONE("unit_trust");
}
