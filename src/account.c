/*
 * account.c — /account/... (see account.h and API.md "Accounts").
 */
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "auth.h"
#include "config.h"
#include "db.h"
#include "dm.h"
#include "http.h"
#include "jobs.h"

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
int account_email_ok(const char *e);
int account_email_ok(const char *e)
{
	const char *at;
	if (!e || strlen(e) > 254 || strlen(e) < 3)
		return 0;
	for (const char *p = e; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '<' || *p == '>' || *p == '"' || *p == ',')
			return 0;
	at = strchr(e, '@');
	if (!at || at == e || strchr(at + 1, '@') || !strchr(at + 1, '.') || at[1] == '.' ||
	    e[strlen(e) - 1] == '.')
		return 0;
	return 1;
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
	sqlite3_stmt *st;
	int rc = DM_ERR;

	if (!cfg.no_email_verification) {
		/* a verified, unused sign-up code for this email */
		st = db_prep(w, "UPDATE emailAuth SET usedYn='Y' WHERE emailAuthId = (SELECT emailAuthId FROM "
				"emailAuth WHERE email=?1 AND purpose='signup' AND usedYn='N' AND verifiedUntil > "
				"dm_now() ORDER BY emailAuthId DESC LIMIT 1)");
		if (!st)
			return DM_ERR;
		sqlite3_bind_text(st, 1, s->email, -1, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE ? DM_OK : DM_ERR;
		sqlite3_finalize(st);
		if (rc != DM_OK)
			return rc;
		if (sqlite3_changes(w) != 1)
			return DM_EFORBID;
	}
	st = db_prep(w, "INSERT INTO user(email, nickname, password, createdDt) VALUES (?1, ?2, ?3, dm_now())");
	if (!st)
		return DM_ERR;
	sqlite3_bind_text(st, 1, s->email, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, s->nickname, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, s->phc, -1, SQLITE_STATIC);
	switch (sqlite3_step(st)) {
	case SQLITE_DONE:
		s->user_id = sqlite3_last_insert_rowid(w);
		rc = DM_OK;
		break;
	case SQLITE_CONSTRAINT:
		rc = DM_ECONFLICT;
		break;
	default:
		rc = DM_ERR;
	}
	sqlite3_finalize(st);
	return rc;
}

static int h_signup(http_req_t *r)
{
	signup_t s;
	int rc;

	if (http_json(r) != DM_OK)
		return DM_OK;
	memset(&s, 0, sizeof s);
	s.email = json_str(&r->json, "email", 3, 254);
	s.nickname = json_str(&r->json, "nickname", 2, 20);
	const char *pw = json_str(&r->json, "password", 1, 200);
	if (!s.email || !account_email_ok(s.email))
		return http_fail(r, 400, "INVALID_EMAIL", "이메일 형식이 올바르지 않습니다.");
	if (!s.nickname)
		return http_fail(r, 400, "INVALID_NICKNAME", "닉네임은 2~20자여야 합니다.");
	if (!password_ok(pw))
		return http_fail(r, 400, "INVALID_PASSWORD", "비밀번호는 영문과 숫자를 포함한 8~72자여야 합니다.");
	if (db_int(r->db, "SELECT count(*) FROM user WHERE email = ?1", s.email, 0) > 0)
		return http_fail(r, 409, "EMAIL_EXISTS", "이미 가입된 이메일입니다.");
	if (auth_password_hash(pw, s.phc) != DM_OK)
		return http_fail_dm(r, DM_ERR);
	rc = jobs_write(signup_write, &s);
	if (rc == DM_ECONFLICT)
		return http_fail(r, 409, "EMAIL_EXISTS", "이미 가입된 이메일입니다.");
	if (rc == DM_EFORBID)
		return http_fail(r, 403, "EMAIL_NOT_VERIFIED", "이메일 인증을 먼저 완료해 주세요.");
	if (rc != DM_OK)
		return http_fail_dm(r, rc);
	{
		sqlite3_stmt *st = db_prep(r->db, "SELECT json_object('msg','success','userId',CAST(?1 AS TEXT))");
		if (st)
			sqlite3_bind_int64(st, 1, s.user_id);
		return http_reply_stmt(r, 201, st);
	}
}

/* ------------------------------------------------------------ sessions */

typedef struct session {
	int64_t user_id;
	const char *family;       /* NULL: new family */
	char token[44], hash[65], fam[44];
	char rehash_phc[AUTH_PHC_MAX];
} session_t;

static int session_write(sqlite3 *w, void *arg)
{
	session_t *s = arg;
	sqlite3_stmt *st;
	int rc;

	st = db_prep(w, "INSERT INTO refreshToken(userId, familyId, tokenHash, expiresDt, createdDt) "
			"VALUES (?1, ?2, ?3, dm_now() + ?4 * 86400000, dm_now())");
	if (!st)
		return DM_ERR;
	sqlite3_bind_int64(st, 1, s->user_id);
	sqlite3_bind_text(st, 2, s->family ? s->family : s->fam, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, s->hash, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, cfg.refresh_ttl_days);
	rc = sqlite3_step(st) == SQLITE_DONE ? DM_OK : DM_ERR;
	sqlite3_finalize(st);
	if (rc == DM_OK && s->rehash_phc[0]) {
		st = db_prep(w, "UPDATE user SET password = ?2 WHERE userId = ?1");
		if (!st)
			return DM_ERR;
		sqlite3_bind_int64(st, 1, s->user_id);
		sqlite3_bind_text(st, 2, s->rehash_phc, -1, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE ? DM_OK : DM_ERR;
		sqlite3_finalize(st);
	}
	return rc;
}

/* Writes the refresh token and replies with the session. rehash_phc may be
 * NULL (no password rehash). */
static int reply_session(http_req_t *r, int64_t user_id, const char *family, const char *rehash_phc)
{
	session_t s;
	char jwt[600];
	auth_claims_t c;
	sqlite3_stmt *st;
	int rc;
	int64_t gen;

	memset(&s, 0, sizeof s);
	{
		char idtxt[24];
		snprintf(idtxt, sizeof idtxt, "%lld", (long long)user_id);
		gen = db_int(r->db, "SELECT tokenGen FROM user WHERE userId = CAST(?1 AS INTEGER)", idtxt, -1);
		if (gen < 0)
			return http_fail_dm(r, DM_EAUTH);
	}
	s.user_id = user_id;
	s.family = family;
	if (rehash_phc)
		dm_strlcpy(s.rehash_phc, rehash_phc, sizeof s.rehash_phc);
	if (auth_refresh_new(s.token, s.hash) != DM_OK)
		return http_fail_dm(r, DM_ERR);
	if (!family) {
		unsigned char rnd[16];
		if (dm_random(rnd, sizeof rnd) != DM_OK)
			return http_fail_dm(r, DM_ERR);
		dm_b64url_encode(rnd, sizeof rnd, s.fam);
	}
	rc = jobs_write(session_write, &s);
	if (rc != DM_OK)
		return http_fail_dm(r, rc);
	if (auth_jwt_sign(user_id, gen, cfg.access_ttl, jwt, sizeof jwt, &c) != DM_OK)
		return http_fail_dm(r, DM_ERR);
	st = db_prep(r->db, "SELECT json_object('msg','success','email',email,'nickname',nickname,'address',address,"
			    "'userId',CAST(userId AS TEXT),'mannerTemp',mannerTemp,'token','bearer '||?2,"
			    "'refreshToken',?3) FROM user WHERE userId = ?1");
	if (st) {
		sqlite3_bind_int64(st, 1, user_id);
		sqlite3_bind_text(st, 2, jwt, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, s.token, -1, SQLITE_STATIC);
	}
	return http_reply_stmt(r, 200, st);
}

int account_reply_session(http_req_t *r, int64_t user_id, const char *family)
{
	return reply_session(r, user_id, family, NULL);
}

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
	if (!email || !pw)
		return http_fail(r, 400, "INVALID_INPUT", "이메일과 비밀번호를 입력해 주세요.");
	st = db_prep(r->db, "SELECT userId, password FROM user WHERE email = ?1");
	if (!st)
		return http_fail_dm(r, DM_ERR);
	sqlite3_bind_text(st, 1, email, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		uid = sqlite3_column_int64(st, 0);
		if (sqlite3_column_text(st, 1))
			dm_strlcpy(phc, (const char *)sqlite3_column_text(st, 1), sizeof phc);
	}
	sqlite3_finalize(st);
	if (!uid || !phc[0]) {
		/* the same work either way: no timing difference for unknown emails */
		char dummy[AUTH_PHC_MAX];
		auth_password_hash(pw, dummy);
		return http_fail(r, 401, "LOGIN_FAILED", "이메일 또는 비밀번호가 올바르지 않습니다.");
	}
	rc = auth_password_verify(pw, phc, &rehash);
	if (rc != DM_OK)
		return http_fail(r, 401, "LOGIN_FAILED", "이메일 또는 비밀번호가 올바르지 않습니다.");
	if (rehash && auth_password_hash(pw, newphc) != DM_OK)
		newphc[0] = 0;
	return reply_session(r, uid, NULL, newphc[0] ? newphc : NULL);
}

/* POST /account/reset: who am I (the seed calls it on every render). */
static int h_reset(http_req_t *r)
{
	sqlite3_stmt *st = db_prep(r->db, "SELECT json_object('msg','success','email',email,'nickname',nickname,"
					  "'address',address,'userId',CAST(userId AS TEXT),'mannerTemp',mannerTemp) "
					  "FROM user WHERE userId = ?1");
	if (st)
		sqlite3_bind_int64(st, 1, r->user_id);
	return http_reply_stmt(r, 200, st);
}

static const http_route_t routes[] = {
	{"POST", "/account", h_signup, HTTP_PUBLIC},
	{"POST", "/account/login", h_login, HTTP_PUBLIC},
	{"POST", "/account/reset", h_reset, HTTP_AUTH},
};

int account_init(void)
{
	http_routes(routes, sizeof routes / sizeof routes[0]);
	return DM_OK;
}

void account_stop(void)
{
}
