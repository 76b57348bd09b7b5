/*
 * account.c — /account/... (see account.h and API.md "Accounts"): emailed
 * codes, sign-up, login, access and refresh tokens, logout, password reset.
 *
 * Identity comes only from a verified token (r->user_id) or from proof:
 * the password, a code that reached the mailbox, a refresh token. Every
 * code endpoint is rate limited per IP and per email (auth.c); logins per
 * IP and per (email, IP), never per email alone (see login_limited).
 * Email enumeration: /account/sendpassword and /account/changepassword
 * answer the same whether or not the email exists, and login fails the
 * same way (after the same hashing work) for an unknown email. The
 * sign-up endpoints (/account/mail, POST /account) say EMAIL_EXISTS, as
 * the API contract requires; they are rate limited like the rest.
 *
 * Thread-safety: handlers run on civetweb workers and keep everything in
 * the request; writes go through the write lane (jobs_write).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "account.h"
#include "auth.h"
#include "config.h"
#include "db.h"
#include "dm.h"
#include "http.h"
#include "jobs.h"
#include "live.h"
#include "mail.h"

#define CODE_TRIES 5                 /* wrong tries that kill a code */
#define CODE_RESEND_MS 60000         /* one send per minute per email */
#define VERIFIED_MS (30 * 60 * 1000) /* a checked sign-up code is good for 30 min */

/* Password policy: 8–72 characters with a letter and a digit. */
static int password_ok(const char *pw)
{
	size_t n;
	int letter = 0, digit = 0;
	if (!pw)
		return 0;
	n = dm_utf8_len(pw, strlen(pw));
	if (n < 8 || n > 72)
		return 0;
	for (const char *p = pw; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
			letter = 1;
		else if (*p >= '0' && *p <= '9')
			digit = 1;
	}
	return letter && digit;
}

/* A plausible email: one @, non-empty local and domain parts with a dot,
 * no spaces or control characters, at most 254 bytes. */
int account_email_ok(const char *e)
{
	const char *at;
	if (!e || strlen(e) > 254 || strlen(e) < 3)
		return 0;
	for (const char *p = e; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '<' || *p == '>' || *p == '"' || *p == ',' ||
		    *p == ';' || *p == '\\')
			return 0;
	at = strchr(e, '@');
	if (!at || at == e || strchr(at + 1, '@') || !strchr(at + 1, '.') || at[1] == '.' ||
	    e[strlen(e) - 1] == '.')
		return 0;
	return 1;
}

/* Nickname: 2–20 characters, no control characters, not blank. */
int account_nickname_ok(const char *s)
{
	size_t n;
	int visible = 0;
	if (!s)
		return 0;
	n = dm_utf8_len(s, strlen(s));
	if (n < 2 || n > 20)
		return 0;
	for (const char *p = s; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return 0;
		if (*p != ' ')
			visible = 1;
	}
	return visible;
}

/* 503 BUSY with Retry-After: too many password hashes already waiting. */
static int fail_busy(http_req_t *r)
{
	return http_refuse_hdr(r, RF_BUSY, "Retry-After: 1\r\n");
}

/* Counts this request against scope's limit per IP and then (when given)
 * per email. Replies 429 with Retry-After and returns DM_ERATE when over
 * either; DM_OK otherwise. An address already over its limit is refused
 * before its email is counted, so one address cannot fill the limiter
 * with counters of made-up emails. */
static int limited(http_req_t *r, const char *scope, const char *email, int limit)
{
	char sc[48];
	int ra = 0;
	snprintf(sc, sizeof sc, "%s/ip", scope);
	if (auth_rate_hit(sc, r->ip, limit, cfg.rate_window, &ra) != DM_OK)
		goto refused;
	if (email && *email) {
		snprintf(sc, sizeof sc, "%s/email", scope);
		if (auth_rate_hit(sc, email, limit, cfg.rate_window, &ra) != DM_OK)
			goto refused;
	}
	return DM_OK;
refused:
	http_fail_rate(r, ra);
	return DM_ERATE;
}

/*
 * Login attempts are counted per source address (over all emails, up to
 * LOGIN_IP_FACTOR × --rate-login: a home or office behind one address has
 * room for its people's typos) and per (email, source address) (up to
 * --rate-login), never per email alone: guesses from elsewhere cannot lock
 * the owner out of their account, and a guesser is bounded per address
 * (and, over all addresses, by the hashing admission gate). A successful
 * login takes its attempt back, so only failures accumulate.
 */
#define LOGIN_IP_FACTOR 3

/* The (email, address) key of a login counter into key (cap bytes). */
static void login_key(http_req_t *r, const char *email, char *key, size_t cap)
{
	snprintf(key, cap, "%s %s", r->ip, email ? email : "");
}

/* Counts a login attempt (see above); replies 429 and returns DM_ERATE
 * when over a limit. */
static int login_limited(http_req_t *r, const char *email)
{
	char key[320];
	int ra = 0;
	login_key(r, email, key, sizeof key);
	if (auth_rate_hit("login/ip", r->ip, cfg.rate_login * LOGIN_IP_FACTOR, cfg.rate_window, &ra) != DM_OK ||
	    auth_rate_hit("login/email-ip", key, cfg.rate_login, cfg.rate_window, &ra) != DM_OK) {
		http_fail_rate(r, ra);
		return DM_ERATE;
	}
	return DM_OK;
}

/* Takes back the attempt of a login that succeeded. */
static void login_forgive(http_req_t *r, const char *email)
{
	char key[320];
	auth_rate_undo("login/ip", r->ip);
	login_key(r, email, key, sizeof key);
	auth_rate_undo("login/email-ip", key);
}

/* ---------------------------------------------------------------- codes */

/* The mail for a code: Korean subject, text and HTML with the code and
 * the site name. Buffers: subj 200, text 1024, html 3000. */
static void code_mail(const char *purpose, const char *code, char *subj, char *text, char *html)
{
	int signup = !strcmp(purpose, "signup");
	const char *what = signup ? "회원가입" : "비밀번호 재설정";
	char ttl[32];
	if (cfg.code_ttl % 60 == 0)
		snprintf(ttl, sizeof ttl, "%d분", cfg.code_ttl / 60);
	else
		snprintf(ttl, sizeof ttl, "%d초", cfg.code_ttl);
	snprintf(subj, 200, "[동물마켓] %s 인증번호 안내", what);
	snprintf(text, 1024,
		 "안녕하세요, 동물마켓입니다.\n\n%s 인증번호는 %s 입니다.\n\n"
		 "이 번호는 %s 동안 유효합니다. 본인이 요청하지 않았다면 이 메일을 무시해 주세요.\n\n동물마켓 드림\n",
		 what, code, ttl);
	snprintf(html, 3000,
		 "<!DOCTYPE html><html lang=\"ko\"><head><meta charset=\"utf-8\"><title>동물마켓</title></head>"
		 "<body style=\"font-family:sans-serif\"><h2>동물마켓</h2>"
		 "<p>안녕하세요, 동물마켓입니다.</p><p>%s 인증번호는</p>"
		 "<p style=\"font-size:28px;letter-spacing:4px\"><strong>%s</strong></p>"
		 "<p>입니다. 이 번호는 %s 동안 유효합니다.</p>"
		 "<p style=\"color:#888\">본인이 요청하지 않았다면 이 메일을 무시해 주세요.</p></body></html>",
		 what, code, ttl);
}

typedef struct code_issue {
	const char *purpose;   /* "signup" or "reset" */
	const char *email;
	int64_t retry_ms;      /* out: throttled for this long */
} code_issue_t;

/* Write job: issues a new code for (email, purpose) unless one was sent in
 * the last minute (DM_ERATE), or, for sign-up, the email is taken
 * (DM_ECONFLICT). Older unused codes die. The mail is queued in the same
 * transaction. For a reset of an email with no password account, the code
 * row is written (so the throttle answers exactly as for a real account)
 * but nothing is mailed. */
static int code_issue_write(sqlite3 *w, void *arg)
{
	code_issue_t *c = arg;
	char code[8], hash[65], to[256] = "";
	int64_t now = dm_now_ms(), last = 0;
	int rc = DM_ERR, mail = 0;

	if (db_get_int(w, &last, "SELECT max(createdDt) FROM emailAuth WHERE email = ?1 AND purpose = ?2",
		       DB_TEXT(c->email), DB_TEXT(c->purpose)) == DM_ERR)
		return DM_ERR;
	if (last && now - last < CODE_RESEND_MS) {
		c->retry_ms = CODE_RESEND_MS - (now - last);
		return DM_ERATE;
	}
	if (db_get_text(w, to, sizeof to, "SELECT email FROM user WHERE email = ?1 "
					"AND (?2 = 'signup' OR password IS NOT NULL)",
			DB_TEXT(c->email), DB_TEXT(c->purpose)) == DM_ERR)
		return DM_ERR;
	if (!strcmp(c->purpose, "signup")) {
		if (to[0])
			return DM_ECONFLICT;
		dm_strlcpy(to, c->email, sizeof to);
		mail = 1;
	} else
		mail = to[0] != 0;

	/* 6 digits, the first not zero */
	snprintf(code, sizeof code, "%06u", 100000u + dm_random_below(900000u));
	auth_code_hash(c->purpose, c->email, code, hash);

	/* (a failed step is DM_ERR here: DM_ECONFLICT means the email is taken) */
	if (db_run(w, "UPDATE emailAuth SET usedYn = 'Y' WHERE email = ?1 AND purpose = ?2 AND usedYn = 'N'",
		   DB_TEXT(c->email), DB_TEXT(c->purpose)) != DM_OK)
		return DM_ERR;
	rc = db_run(w, "INSERT INTO emailAuth(email, purpose, codeHash, expiresDt, createdDt) "
		       "VALUES (?1, ?2, ?3, ?4, ?5)",
		    DB_TEXT(c->email), DB_TEXT(c->purpose), DB_TEXT(hash), DB_INT(now + (int64_t)cfg.code_ttl * 1000),
		    DB_INT(now)) == DM_OK ? DM_OK : DM_ERR;
	if (rc == DM_OK && mail) {
		char subj[200], text[1024], html[3000];
		code_mail(c->purpose, code, subj, text, html);
		rc = mail_queue(w, to, subj, text, html);
	}
	memset(code, 0, sizeof code);
	return rc;
}

typedef struct code_check {
	const char *purpose, *email;
	char code[8];
	const char *newphc;    /* reset: the new password's hash */
	int refused;           /* out: the code was not accepted ... */
	refusal_t why;         /* ... for this reason */
	int64_t user_id;       /* reset: whose password was set */
} code_check_t;

/* Ends a code check with refusal why. DM_OK (the check itself ran). */
static int check_refused(code_check_t *c, refusal_t why)
{
	c->refused = 1;
	c->why = why;
	return DM_OK;
}

/* Write job: checks a code against the newest live code of (email,
 * purpose). A wrong code counts a try (and the job commits that); the
 * fifth wrong try kills the code. A right sign-up code marks the email
 * verified for 30 minutes; a right reset code sets the new password, bumps
 * tokenGen (every access token dies) and revokes every refresh token. */
static int code_check_write(sqlite3 *w, void *arg)
{
	code_check_t *c = arg;
	sqlite3_stmt *st;
	char hash[65], stored[65] = "";
	int64_t id = 0, expires = 0, now = dm_now_ms();
	int tries = 0, rc;

	st = db_query(w, "SELECT emailAuthId, codeHash, tries, expiresDt FROM emailAuth WHERE email = ?1 "
			 "AND purpose = ?2 AND usedYn = 'N' AND verifiedUntil IS NULL ORDER BY emailAuthId DESC LIMIT 1",
		      DB_TEXT(c->email), DB_TEXT(c->purpose));
	if (!st)
		return DM_ERR;
	if (sqlite3_step(st) == SQLITE_ROW) {
		id = sqlite3_column_int64(st, 0);
		dm_strlcpy(stored, (const char *)sqlite3_column_text(st, 1), sizeof stored);
		tries = sqlite3_column_int(st, 2);
		expires = sqlite3_column_int64(st, 3);
	}
	db_done(st);
	if (!id)
		return check_refused(c, RF_CODE_NOT_FOUND);
	if (tries >= CODE_TRIES)
		return check_refused(c, RF_CODE_LOCKED);
	if (expires <= now)
		return check_refused(c, RF_CODE_EXPIRED);
	auth_code_hash(c->purpose, c->email, c->code, hash);
	if (strlen(stored) != 64 || !auth_ct_equal(hash, stored, 64)) {
		rc = db_run(w, "UPDATE emailAuth SET tries = tries + 1 WHERE emailAuthId = ?1", DB_INT(id));
		check_refused(c, tries + 1 >= CODE_TRIES ? RF_CODE_LOCKED : RF_CODE_MISMATCH);
		return rc;
	}
	if (!strcmp(c->purpose, "signup"))
		return db_run(w, "UPDATE emailAuth SET verifiedUntil = ?2 WHERE emailAuthId = ?1", DB_INT(id),
			      DB_INT(now + VERIFIED_MS));
	/* reset: the code is used up, the password set, every session ends */
	rc = db_run(w, "UPDATE emailAuth SET usedYn = 'Y' WHERE emailAuthId = ?1", DB_INT(id));
	if (rc != DM_OK)
		return rc;
	rc = db_get_int(w, &c->user_id, "UPDATE user SET password = ?2, tokenGen = tokenGen + 1 WHERE email = ?1 "
					"AND password IS NOT NULL RETURNING userId",
			DB_TEXT(c->email), DB_TEXT(c->newphc));
	if (rc == DM_ENOTFOUND) /* no such account (a code that was never mailed): as if never sent */
		return check_refused(c, RF_CODE_NOT_FOUND);
	if (rc != DM_OK)
		return rc;
	return db_run(w, "UPDATE refreshToken SET revokedYn = 'Y' WHERE userId = ?1", DB_INT(c->user_id));
}

/* Reads a 6-digit code field (a JSON number: API.md types it so, and a
 * string is refused like any other wrong type) into code. DM_OK or
 * DM_EINVAL. */
static int read_code(http_req_t *r, const char *field, char code[8])
{
	int64_t v;
	if (json_int(&r->json, field, 0, &v) != DM_OK || v < 100000 || v > 999999)
		return DM_EINVAL;
	snprintf(code, 8, "%06lld", (long long)v);
	return DM_OK;
}

/* The start of the four email-code handlers: parses the body, rate-limits
 * scope by IP and (when it is well-formed) by its "email", and checks that
 * email. Returns the email (in r->json), or NULL when it already replied. */
static const char *code_email(http_req_t *r, const char *scope, int limit)
{
	const char *email;
	if (http_json(r) != DM_OK)
		return NULL;
	email = json_str(&r->json, "email", 3, 254);
	if (limited(r, scope, account_email_ok(email) ? email : NULL, limit) != DM_OK)
		return NULL;
	if (!account_email_ok(email)) {
		http_refuse(r, RF_INVALID_EMAIL);
		return NULL;
	}
	return email;
}

/* Checks the code in c (purpose, email, code; newphc for a reset) and
 * replies (shared by /account/mail/check and changepassword). */
static int check_and_reply(http_req_t *r, code_check_t *c)
{
	int rc = jobs_write(code_check_write, c);
	if (rc != DM_OK)
		return http_fail_dm(r, rc);
	if (c->refused)
		return http_refuse(r, c->why);
	if (c->user_id)
		live_close_sessions(c->user_id, NULL); /* the new password ends every session */
	return http_ok(r);
}

/* Issues a code and replies (shared by /account/mail and sendpassword). */
static int issue_and_reply(http_req_t *r, const char *purpose, const char *email)
{
	code_issue_t c = {.purpose = purpose, .email = email};
	int rc = jobs_write(code_issue_write, &c);
	if (rc == DM_ERATE)
		return http_fail_rate(r, (int)((c.retry_ms + 999) / 1000));
	if (rc == DM_ECONFLICT)
		return http_refuse(r, RF_EMAIL_EXISTS);
	if (rc != DM_OK)
		return http_fail_dm(r, rc);
	return http_ok(r);
}

/* 1 when email has an account (on db, a reader). */
static int email_taken(sqlite3 *db, const char *email)
{
	int64_t one;
	return db_get_int(db, &one, "SELECT 1 FROM user WHERE email = ?1", DB_TEXT(email)) == DM_OK;
}

/* POST /account/mail {email}: sends a sign-up code. */
static int h_mail(http_req_t *r)
{
	const char *email = code_email(r, "mail", cfg.rate_mail);
	if (!email)
		return DM_OK;
	if (email_taken(r->db, email))
		return http_refuse(r, RF_EMAIL_EXISTS);
	return issue_and_reply(r, "signup", email);
}

/* POST /account/mail/check {email, authchkNum}: verifies a sign-up code. */
static int h_mail_check(http_req_t *r)
{
	code_check_t c;
	const char *email = code_email(r, "check", cfg.rate_login);

	if (!email)
		return DM_OK;
	memset(&c, 0, sizeof c);
	if (read_code(r, "authchkNum", c.code) != DM_OK)
		return http_refuse(r, RF_INVALID_CODE);
	c.purpose = "signup";
	c.email = email;
	return check_and_reply(r, &c);
}

/* POST /account/sendpassword {email}: a reset code, the same reply whether
 * or not the email has an account. */
static int h_sendpassword(http_req_t *r)
{
	const char *email = code_email(r, "sendpw", cfg.rate_mail);
	if (!email)
		return DM_OK;
	return issue_and_reply(r, "reset", email);
}

/* POST /account/changepassword {email, passwordchkNum, newpassword}. */
static int h_changepassword(http_req_t *r)
{
	code_check_t c;
	char phc[AUTH_PHC_MAX];
	const char *email = code_email(r, "changepw", cfg.rate_login), *pw;
	int rc;

	if (!email)
		return DM_OK;
	memset(&c, 0, sizeof c);
	pw = json_str(&r->json, "newpassword", 1, 200);
	if (read_code(r, "passwordchkNum", c.code) != DM_OK)
		return http_refuse(r, RF_INVALID_CODE);
	if (!password_ok(pw))
		return http_refuse(r, RF_INVALID_PASSWORD);
	rc = auth_password_hash(pw, phc);
	if (rc == DM_EUNAVAIL)
		return fail_busy(r);
	if (rc != DM_OK)
		return http_fail_dm(r, DM_ERR);
	c.purpose = "reset";
	c.email = email;
	c.newphc = phc;
	return check_and_reply(r, &c);
}

/* ------------------------------------------------------------- sign-up */

typedef struct signup {
	const char *email, *nickname;
	char phc[AUTH_PHC_MAX];
	int64_t user_id;
} signup_t;

static int signup_write(sqlite3 *w, void *arg)
{
	signup_t *s = arg;
	int rc, changed = 0;

	if (!cfg.no_email_verification) {
		/* a verified, unused sign-up code for this email */
		rc = db_run_changes(w, &changed, "UPDATE emailAuth SET usedYn='Y' WHERE emailAuthId = (SELECT emailAuthId "
						 "FROM emailAuth WHERE email=?1 AND purpose='signup' AND usedYn='N' AND "
						 "verifiedUntil > dm_now() ORDER BY emailAuthId DESC LIMIT 1)",
				    DB_TEXT(s->email));
		if (rc != DM_OK)
			return DM_ERR;
		if (changed != 1)
			return DM_EFORBID;
	}
	/* DM_ECONFLICT: the email was taken meanwhile */
	rc = db_run(w, "INSERT INTO user(email, nickname, password, createdDt) VALUES (?1, ?2, ?3, dm_now())",
		    DB_TEXT(s->email), DB_TEXT(s->nickname), DB_TEXT(s->phc));
	if (rc == DM_OK)
		s->user_id = sqlite3_last_insert_rowid(w);
	return rc;
}

/* POST /account {email, nickname, password}. */
static int h_signup(http_req_t *r)
{
	signup_t s;
	int64_t n;
	int rc;

	if (http_json(r) != DM_OK)
		return DM_OK;
	memset(&s, 0, sizeof s);
	s.email = json_str(&r->json, "email", 3, 254);
	s.nickname = json_str(&r->json, "nickname", 2, 20);
	const char *pw = json_str(&r->json, "password", 1, 200);
	if (!s.email || !account_email_ok(s.email))
		return http_refuse(r, RF_INVALID_EMAIL);
	if (!account_nickname_ok(s.nickname))
		return http_refuse(r, RF_INVALID_NICKNAME);
	if (!password_ok(pw))
		return http_refuse(r, RF_INVALID_PASSWORD);
	if (email_taken(r->db, s.email))
		return http_refuse(r, RF_EMAIL_EXISTS);
	if (!cfg.no_email_verification &&
	    db_get_int(r->db, &n, "SELECT 1 FROM emailAuth WHERE email = ?1 AND purpose = 'signup' AND usedYn = 'N' "
				  "AND verifiedUntil > dm_now()", DB_TEXT(s.email)) != DM_OK)
		return http_refuse(r, RF_EMAIL_NOT_VERIFIED);
	rc = auth_password_hash(pw, s.phc);
	if (rc == DM_EUNAVAIL)
		return fail_busy(r);
	if (rc != DM_OK)
		return http_fail_dm(r, DM_ERR);
	rc = jobs_write(signup_write, &s);
	if (rc == DM_ECONFLICT)
		return http_refuse(r, RF_EMAIL_EXISTS);
	if (rc == DM_EFORBID)
		return http_refuse(r, RF_EMAIL_NOT_VERIFIED);
	if (rc != DM_OK)
		return http_fail_dm(r, rc);
	return http_reply_stmt(r, 201, db_query(r->db, "SELECT json_object('msg','success','userId',CAST(?1 AS TEXT))",
						DB_INT(s.user_id)));
}

/* ------------------------------------------------------------ sessions */

typedef struct session {
	int64_t user_id;          /* in (new) or out (rotated) */
	char fam[48];             /* the refresh-token family (new: generated) */
	char token[44], hash[65]; /* the new refresh token */
	char old_hash[65];        /* rotation: the presented token's hash */
	char rehash_phc[AUTH_PHC_MAX];
	int refused;              /* out, rotation: the token was refused ... */
	refusal_t why;            /* ... for this reason */
} session_t;

static int insert_refresh(sqlite3 *w, session_t *s)
{
	return db_run(w, "INSERT INTO refreshToken(userId, familyId, tokenHash, expiresDt, createdDt) "
			 "VALUES (?1, ?2, ?3, dm_now() + ?4 * 86400000, dm_now())",
		      DB_INT(s->user_id), DB_TEXT(s->fam), DB_TEXT(s->hash), DB_INT(cfg.refresh_ttl_days));
}

/* Write job: a new session (a new refresh token in s->fam, and the
 * password rehash when asked). */
static int session_write(sqlite3 *w, void *arg)
{
	session_t *s = arg;
	int rc = insert_refresh(w, s);
	if (rc == DM_OK && s->rehash_phc[0]) {
		rc = db_run(w, "UPDATE user SET password = ?2 WHERE userId = ?1", DB_INT(s->user_id),
			    DB_TEXT(s->rehash_phc));
		if (rc == DM_OK)
			dm_info("user %lld: password rehashed with %d iterations", (long long)s->user_id,
				cfg.pbkdf2_iterations);
	}
	return rc;
}

/* Write job: rotates the refresh token whose hash is s->old_hash. A token
 * already rotated (or revoked by reuse detection) revokes its whole family
 * (refused REFRESH_REUSED, committed); unknown, expired or logged-out
 * tokens are refused REFRESH_INVALID. */
static int rotate_write(sqlite3 *w, void *arg)
{
	session_t *s = arg;
	sqlite3_stmt *st;
	int64_t id = 0, expires = 0;
	int used = 0, revoked = 0, rc;

	st = db_query(w, "SELECT refreshTokenId, userId, familyId, usedYn = 'Y', revokedYn = 'Y', expiresDt "
			 "FROM refreshToken WHERE tokenHash = ?1",
		      DB_TEXT(s->old_hash));
	if (!st)
		return DM_ERR;
	if (sqlite3_step(st) == SQLITE_ROW) {
		id = sqlite3_column_int64(st, 0);
		s->user_id = sqlite3_column_int64(st, 1);
		dm_strlcpy(s->fam, (const char *)sqlite3_column_text(st, 2), sizeof s->fam);
		used = sqlite3_column_int(st, 3);
		revoked = sqlite3_column_int(st, 4);
		expires = sqlite3_column_int64(st, 5);
	}
	db_done(st);
	s->refused = 1;
	s->why = RF_REFRESH_INVALID;
	if (!id || (revoked && !used) || expires <= dm_now_ms())
		return DM_OK;
	if (used) {
		/* a rotated token came back: someone holds a copy. End the
		 * whole family (and so every access token issued in it). */
		s->why = RF_REFRESH_REUSED;
		dm_warn("refresh token reuse for user %lld: session family revoked", (long long)s->user_id);
		return db_run(w, "UPDATE refreshToken SET revokedYn = 'Y' WHERE familyId = ?1", DB_TEXT(s->fam));
	}
	rc = db_run(w, "UPDATE refreshToken SET usedYn = 'Y' WHERE refreshTokenId = ?1", DB_INT(id));
	if (rc == DM_OK)
		rc = insert_refresh(w, s);
	if (rc == DM_OK)
		s->refused = 0;
	return rc;
}

/* The browser-session cookie: the refresh token, HttpOnly (no script
 * reads it), SameSite=Strict (no other site's page sends it), scoped to
 * the two /account/session endpoints, Secure over HTTPS. */
#define SESSION_COOKIE "dm_rt"
#define SESSION_PATH "/account/session"

/* 1 when the client asked for a browser session (X-Dongmul-Session:
 * cookie): the refresh token then travels only in the cookie. */
static int cookie_mode(const http_req_t *r)
{
	const char *h = http_header(r, "X-Dongmul-Session");
	return h && !strcasecmp(h, "cookie");
}

/* "Set-Cookie: ...\r\nCache-Control: no-store\r\n" for token (NULL: the
 * cookie is cleared) into buf. */
static void session_cookie(const http_req_t *r, const char *token, char *buf, size_t cap)
{
	snprintf(buf, cap,
		 "Set-Cookie: " SESSION_COOKIE "=%s; Path=" SESSION_PATH "; Max-Age=%lld; HttpOnly; SameSite=Strict%s\r\n"
		 "Cache-Control: no-store\r\n",
		 token ? token : "", token ? (long long)cfg.refresh_ttl_days * 86400 : 0LL,
		 r->ri->is_ssl ? "; Secure" : "");
}

/* Signs the access token for s (after its write committed) and replies
 * like login; in cookie mode (the web app) without refreshToken in the
 * JSON, with admin (the operator role), and with the cookie instead. */
static int reply_tokens(http_req_t *r, session_t *s, int cookie)
{
	char jwt[700], extra[400];
	sqlite3_stmt *st;
	int64_t gen;
	int rc;

	if (db_get_int(r->db, &gen, "SELECT tokenGen FROM user WHERE userId = ?1", DB_INT(s->user_id)) != DM_OK)
		return http_fail_dm(r, DM_EAUTH);
	if (auth_jwt_sign_fam(s->user_id, gen, cfg.access_ttl, s->fam, jwt, sizeof jwt, NULL) != DM_OK)
		return http_fail_dm(r, DM_ERR);
	if (!cookie)
		return http_reply_stmt(r, 200,
				       db_query(r->db, "SELECT json_object('msg','success','email',email,'nickname',"
						       "nickname,'address',address,'userId',CAST(userId AS TEXT),"
						       "'mannerTemp',mannerTemp,'token','bearer '||?2,'refreshToken',?3) "
						       "FROM user WHERE userId = ?1",
						DB_INT(s->user_id), DB_TEXT(jwt), DB_TEXT(s->token)));
	st = db_query(r->db, "SELECT json_object('msg','success','email',email,'nickname',nickname,'address',address,"
			     "'userId',CAST(userId AS TEXT),'mannerTemp',mannerTemp,'token','bearer '||?2,"
			     "'admin',json(iif(adminYn = 'Y','true','false'))) FROM user WHERE userId = ?1",
		      DB_INT(s->user_id), DB_TEXT(jwt));
	if (!st)
		return http_fail_dm(r, DM_ERR);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		session_cookie(r, s->token, extra, sizeof extra);
		http_reply_raw(r, 200, "application/json; charset=utf-8", extra, sqlite3_column_text(st, 0),
			       (size_t)sqlite3_column_bytes(st, 0));
	} else
		http_fail_dm(r, rc == SQLITE_DONE ? DM_EAUTH : DM_ERR);
	db_done(st);
	return DM_OK;
}

static int fail_origin(http_req_t *r)
{
	return http_refuse(r, RF_BAD_ORIGIN);
}

int account_cookie_refused(http_req_t *r)
{
	if (!cookie_mode(r) || http_origin_ok(r))
		return 0;
	fail_origin(r);
	return 1;
}

/* A new session for user_id: a refresh token in a new family (or family),
 * the password rehash when rehash_phc, then the reply. */
static int reply_session(http_req_t *r, int64_t user_id, const char *family, const char *rehash_phc)
{
	session_t s;
	int rc;

	memset(&s, 0, sizeof s);
	s.user_id = user_id;
	if (rehash_phc)
		dm_strlcpy(s.rehash_phc, rehash_phc, sizeof s.rehash_phc);
	if (auth_refresh_new(s.token, s.hash) != DM_OK)
		return http_fail_dm(r, DM_ERR);
	if (family) {
		if (dm_strlcpy(s.fam, family, sizeof s.fam) != DM_OK)
			return http_fail_dm(r, DM_EINVAL);
	} else {
		unsigned char rnd[16];
		if (dm_random(rnd, sizeof rnd) != DM_OK)
			return http_fail_dm(r, DM_ERR);
		dm_b64url_encode(rnd, sizeof rnd, s.fam);
	}
	if (account_cookie_refused(r))
		return DM_OK;
	rc = jobs_write(session_write, &s);
	if (rc != DM_OK)
		return http_fail_dm(r, rc);
	return reply_tokens(r, &s, cookie_mode(r));
}

int account_reply_session(http_req_t *r, int64_t user_id, const char *family)
{
	return reply_session(r, user_id, family, NULL);
}

static int fail_login(http_req_t *r)
{
	return http_refuse(r, RF_LOGIN_FAILED);
}

/* POST /account/login {email, password}. */
static int h_login(http_req_t *r)
{
	const char *email, *pw;
	sqlite3_stmt *st;
	int64_t uid = 0;
	char phc[AUTH_PHC_MAX] = "", newphc[AUTH_PHC_MAX] = "";
	int rehash = 0, rc;

	if (http_json(r) != DM_OK)
		return DM_OK;
	email = json_str(&r->json, "email", 1, 254);
	pw = json_str(&r->json, "password", 1, 200);
	if (login_limited(r, email) != DM_OK)
		return DM_OK;
	if (!email || !pw)
		return http_refuse(r, RF_LOGIN_FIELDS_REQUIRED);
	if (account_cookie_refused(r))
		return DM_OK;
	st = db_query(r->db, "SELECT userId, password FROM user WHERE email = ?1", DB_TEXT(email));
	if (!st)
		return http_fail_dm(r, DM_ERR);
	if (sqlite3_step(st) == SQLITE_ROW) {
		uid = sqlite3_column_int64(st, 0);
		if (sqlite3_column_text(st, 1))
			dm_strlcpy(phc, (const char *)sqlite3_column_text(st, 1), sizeof phc);
	}
	db_done(st);
	if (!uid || !phc[0]) {
		/* the same work either way: no timing difference for unknown emails */
		char dummy[AUTH_PHC_MAX];
		if (auth_password_hash(pw, dummy) == DM_EUNAVAIL)
			return fail_busy(r);
		return fail_login(r);
	}
	rc = auth_password_verify(pw, phc, &rehash);
	if (rc == DM_EUNAVAIL)
		return fail_busy(r);
	if (rc != DM_OK)
		return fail_login(r);
	login_forgive(r, email);
	if (rehash && auth_password_hash(pw, newphc) != DM_OK)
		newphc[0] = 0;
	return reply_session(r, uid, NULL, newphc[0] ? newphc : NULL);
}

/* POST /account/refresh {refreshToken}: a new pair; the old token is spent.
 * A spent token presented again revokes its whole family. */
/* Rotates the refresh token tok and replies with the new session (in
 * cookie mode: the new token in the cookie; a refused token clears it). */
static int rotate_and_reply(http_req_t *r, const char *tok, int cookie)
{
	session_t s;
	char extra[400];
	int rc;

	memset(&s, 0, sizeof s);
	auth_sha256_hex(tok, s.old_hash);
	if (auth_refresh_new(s.token, s.hash) != DM_OK)
		return http_fail_dm(r, DM_ERR);
	rc = jobs_write(rotate_write, &s);
	if (rc != DM_OK)
		return http_fail_dm(r, rc);
	if (!s.refused)
		return reply_tokens(r, &s, cookie);
	if (s.why == RF_REFRESH_REUSED)
		live_close_sessions(s.user_id, s.fam); /* the family's sockets end with it */
	if (!cookie)
		return http_refuse(r, s.why);
	/* the cookie is dead: tell the browser to drop it */
	session_cookie(r, NULL, extra, sizeof extra);
	return http_refuse_hdr(r, s.why, extra);
}

/* POST /account/refresh {refreshToken}: the JSON flow (apps, scripts). */
static int h_refresh(http_req_t *r)
{
	const char *tok;

	if (http_json(r) != DM_OK)
		return DM_OK;
	tok = json_str(&r->json, "refreshToken", 1, 200);
	if (limited(r, "refresh", NULL, cfg.rate_login * 10) != DM_OK)
		return DM_OK;
	if (!tok)
		return http_refuse(r, RF_REFRESH_TOKEN_REQUIRED);
	return rotate_and_reply(r, tok, 0);
}

/* POST /account/session/refresh (no body): the browser flow. The refresh
 * token comes from the cookie; CSRF: the cookie is SameSite=Strict and the
 * request must carry the server's own (or a --cors-origin) Origin. */
static int h_session_refresh(http_req_t *r)
{
	char tok[200];

	if (!http_origin_ok(r))
		return fail_origin(r);
	if (limited(r, "refresh", NULL, cfg.rate_login * 10) != DM_OK)
		return DM_OK;
	/* no cookie: simply signed out (204, not an error the console shows) */
	if (http_cookie(r, SESSION_COOKIE, tok, sizeof tok) != DM_OK || !tok[0])
		return http_reply_raw(r, 204, "application/json; charset=utf-8", "Cache-Control: no-store\r\n", "", 0);
	return rotate_and_reply(r, tok, 1);
}

typedef struct logout {
	int64_t user_id, exp_ms;
	const char *jti, *fam;
	int all;
} logout_t;

/* Write job: revokes the access token (jti) and the refresh tokens of its
 * family (all of the user's, with all, or when the token names no
 * family); with all, also bumps tokenGen so every access token dies. */
static int logout_write(sqlite3 *w, void *arg)
{
	logout_t *l = arg;
	int rc;

	rc = db_run(w, "INSERT OR IGNORE INTO revokedToken(jti, expiresDt) VALUES (?1, ?2)", DB_TEXT(l->jti),
		    DB_INT(l->exp_ms));
	if (rc != DM_OK)
		return rc;
	if (l->all || !l->fam || !*l->fam)
		rc = db_run(w, "UPDATE refreshToken SET revokedYn = 'Y' WHERE userId = ?1", DB_INT(l->user_id));
	else
		rc = db_run(w, "UPDATE refreshToken SET revokedYn = 'Y' WHERE userId = ?1 AND familyId = ?2",
			    DB_INT(l->user_id), DB_TEXT(l->fam));
	if (rc == DM_OK && l->all)
		rc = db_run(w, "UPDATE user SET tokenGen = tokenGen + 1 WHERE userId = ?1", DB_INT(l->user_id));
	return rc;
}

/* GET /account/logout[?all=1]: ends this session — this access token and
 * every refresh token of its login (its family), so the other devices stay
 * signed in; ?all=1 ends every session of the user. */
static int h_logout(http_req_t *r)
{
	auth_claims_t c;
	logout_t l;
	char all[8];
	int rc;

	if (auth_bearer(r->db, http_header(r, "Authorization"), &c) != DM_OK || c.sub != r->user_id)
		return http_fail_dm(r, DM_EAUTH);
	memset(&l, 0, sizeof l);
	l.user_id = r->user_id;
	l.exp_ms = c.exp * 1000;
	l.jti = c.jti;
	l.fam = c.fam;
	l.all = http_query(r, "all", all, sizeof all) == DM_OK && (!strcmp(all, "1") || !strcmp(all, "true"));
	rc = jobs_write(logout_write, &l);
	if (rc != DM_OK)
		return http_fail_dm(r, rc);
	live_close_sessions(l.user_id, l.all ? NULL : l.fam);
	return http_ok(r);
}

typedef struct session_logout {
	logout_t l;              /* the bearer's session, when l.jti */
	char hash[65];           /* the cookie's refresh token hash, or "" */
} session_logout_t;

/* Write job: ends the bearer's session (logout_write) and the cookie's
 * refresh family, whichever were presented. */
static int session_logout_write(sqlite3 *w, void *arg)
{
	session_logout_t *x = arg;
	int rc = DM_OK;

	if (x->l.jti)
		rc = logout_write(w, &x->l);
	if (rc != DM_OK || !x->hash[0])
		return rc;
	return db_run(w, "UPDATE refreshToken SET revokedYn = 'Y' WHERE familyId = "
			 "(SELECT familyId FROM refreshToken WHERE tokenHash = ?1)",
		      DB_TEXT(x->hash));
}

/* POST /account/session/logout: the browser's logout. Ends the session of
 * the bearer token (if one is sent) and the login family of the cookie's
 * refresh token (if there is one), and clears the cookie; an invalid or
 * expired bearer token is ignored. Same CSRF check
 * as the session refresh. */
static int h_session_logout(http_req_t *r)
{
	session_logout_t x;
	auth_claims_t c;
	char tok[200], extra[400];
	int rc;

	if (!http_origin_ok(r))
		return fail_origin(r);
	memset(&x, 0, sizeof x);
	/* an expired or revoked access token is no reason to keep the cookie */
	if (auth_bearer(r->db, http_header(r, "Authorization"), &c) == DM_OK) {
		x.l.user_id = c.sub;
		x.l.exp_ms = c.exp * 1000;
		x.l.jti = c.jti;
		x.l.fam = c.fam;
	}
	if (http_cookie(r, SESSION_COOKIE, tok, sizeof tok) == DM_OK && tok[0])
		auth_sha256_hex(tok, x.hash);
	if (x.l.jti || x.hash[0]) {
		rc = jobs_write(session_logout_write, &x);
		if (rc != DM_OK)
			return http_fail_dm(r, rc);
	}
	session_cookie(r, NULL, extra, sizeof extra);
	return http_reply_raw(r, 200, "application/json; charset=utf-8", extra, "{\"msg\":\"success\"}", 17);
}

/* POST /account/reset: who am I (the seed calls it on every render). */
static int h_reset(http_req_t *r)
{
	return http_reply_stmt(r, 200, db_query(r->db, "SELECT json_object('msg','success','email',email,'nickname',"
						       "nickname,'address',address,'userId',CAST(userId AS TEXT),"
						       "'mannerTemp',mannerTemp) FROM user WHERE userId = ?1",
						DB_INT(r->user_id)));
}

/* ------------------------------------------------------------- cleanup */

static int cleanup_write(sqlite3 *w, void *unused)
{
	(void)unused;
	return db_exec(w, "DELETE FROM emailAuth WHERE max(expiresDt, coalesce(verifiedUntil, 0)) < dm_now() - 86400000;"
			  "DELETE FROM revokedToken WHERE expiresDt < dm_now();"
			  "DELETE FROM refreshToken WHERE expiresDt < dm_now();"
			  "DELETE FROM outbox WHERE sentDt < dm_now() - 7 * 86400000 "
			  "  OR (sentDt IS NULL AND createdDt < dm_now() - 30 * 86400000);");
}

/* Timer: drops expired codes, revoked-token entries, refresh tokens and
 * old mail. */
static void cleanup(void *unused)
{
	(void)unused;
	if (jobs_write(cleanup_write, NULL) != DM_OK)
		dm_warn("account: cleanup failed");
}

static const http_route_t routes[] = {
	{"POST", "/account", h_signup, HTTP_PUBLIC},
	{"POST", "/account/mail", h_mail, HTTP_PUBLIC},
	{"POST", "/account/mail/check", h_mail_check, HTTP_PUBLIC},
	{"POST", "/account/login", h_login, HTTP_PUBLIC},
	{"POST", "/account/refresh", h_refresh, HTTP_PUBLIC},
	{"POST", "/account/session/refresh", h_session_refresh, HTTP_PUBLIC},
	{"POST", "/account/session/logout", h_session_logout, HTTP_PUBLIC},
	{"GET", "/account/logout", h_logout, HTTP_AUTH},
	{"POST", "/account/logout", h_logout, HTTP_AUTH},
	{"POST", "/account/reset", h_reset, HTTP_AUTH},
	{"POST", "/account/sendpassword", h_sendpassword, HTTP_PUBLIC},
	{"POST", "/account/changepassword", h_changepassword, HTTP_PUBLIC},
};

int account_init(void)
{
	http_routes(routes, sizeof routes / sizeof routes[0]);
	return jobs_timer("account-cleanup", 10 * 60 * 1000, cleanup, NULL);
}

void account_stop(void)
{
}
