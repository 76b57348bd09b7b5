/*
 * sock_auth.c — a socket's identity: connect credentials, token binding
 * and the check before each event (see sock_auth.h).
 *
 * Identity comes only from a verified token (auth_bearer), never from a
 * payload: the email a seed client puts in its query is ignored. A
 * socket's verification holds by auth's one rule (auth_token_holds: until
 * the next commit or the token's expiry), the same as an HTTP request's:
 * an event after a commit verifies the token again (auth_token_check, a
 * cheap per-thread cache hit when nothing revoked it), so a token revoked
 * by a logout, a password change or a revoked family acts no more. The
 * seed authenticates before every emit; the same token again is answered
 * from memory while its verification holds.
 *
 * Thread-safety: a sock_auth_t is under its own lock; the token is copied
 * out before it is verified, so no lock is held across a query.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>

#include "auth.h"
#include "db.h"
#include "dm.h"
#include "jobs.h"
#include "json.h"
#include "live.h"
#include "sock_auth.h"

int sock_auth_init(sock_auth_t *a)
{
	memset(a, 0, sizeof *a);
	return pthread_mutex_init(&a->lock, NULL) == 0 ? DM_OK : DM_ERR;
}

void sock_auth_free(sock_auth_t *a)
{
	pthread_mutex_destroy(&a->lock);
	free(a->token);
	a->token = NULL;
}

int sock_auth_bind(sio_sock_t *s, sock_auth_t *a, const char *token, int *first)
{
	auth_claims_t c;
	sqlite3 *db = db_reader();
	uint64_t gen = jobs_commit_gen(); /* before the check (auth_token_holds) */
	int64_t uid;
	int rc = DM_OK, new_fam = 0;
	char old_fam[sizeof a->fam] = "";

	*first = 0;
	if (!db || !token || strlen(token) > SOCK_AUTH_TOKEN_MAX)
		return DM_EAUTH;
	/* the same token again is answered from memory while it holds */
	pthread_mutex_lock(&a->lock);
	if (a->token && !strcmp(a->token, token) && auth_token_holds(a->tok_gen, a->tok_exp) && sio_uid(s)) {
		pthread_mutex_unlock(&a->lock);
		return DM_OK;
	}
	pthread_mutex_unlock(&a->lock);
	if (auth_token_check(db, token, &c) != DM_OK)
		return DM_EAUTH;
	pthread_mutex_lock(&a->lock);
	uid = sio_uid(s);
	if (uid && uid != c.sub)
		rc = DM_EAUTH; /* a socket stays with its user */
	else {
		char *t = strdup(token);
		if (!t)
			rc = DM_ENOMEM;
		else {
			free(a->token);
			a->token = t;
			a->tok_exp = c.exp;
			a->tok_gen = gen;
			if (strcmp(a->fam, c.fam)) {
				memcpy(old_fam, a->fam, sizeof old_fam);
				dm_strlcpy(a->fam, c.fam, sizeof a->fam);
				new_fam = 1;
			}
			if (!uid) {
				sio_set_uid(s, c.sub);
				*first = 1;
			}
		}
	}
	pthread_mutex_unlock(&a->lock);
	if (*first)
		live_user_join(s, c.sub);
	/* the login family's channel: its logout closes exactly its sockets */
	if (new_fam)
		live_family_move(s, old_fam, c.fam);
	return rc;
}

int sock_auth_current(sio_sock_t *s, sock_auth_t *a)
{
	char *tok = NULL;
	int rc = DM_OK, first;

	if (!sio_uid(s))
		return DM_EAUTH;
	pthread_mutex_lock(&a->lock);
	if (!a->token || dm_now_ms() / 1000 >= a->tok_exp)
		rc = DM_EAUTH; /* expired: authenticate again */
	else if (!auth_token_holds(a->tok_gen, a->tok_exp) && !(tok = strdup(a->token)))
		rc = DM_ENOMEM;
	pthread_mutex_unlock(&a->lock);
	if (rc != DM_OK || !tok)
		return rc;
	rc = sock_auth_bind(s, a, tok, &first);
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

int64_t sock_auth_query_id(const sio_conninfo_t *ci, const char *name)
{
	int64_t id = query_id(ci->nsp_query, name);
	return id ? id : query_id(ci->query, name);
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

int sock_auth_connect(sio_sock_t *s, sock_auth_t *a, const sio_conninfo_t *ci)
{
	char tok[SOCK_AUTH_TOKEN_MAX + 1];
	int first, explicit_tok = 0, have = 0;

	if (ci->auth) {
		sqlite3 *db = db_reader();
		json_obj_t o;
		if (db && json_parse(db, ci->auth, strlen(ci->auth), &o) == DM_OK) {
			const char *t = json_str(&o, "token", 1, SOCK_AUTH_TOKEN_MAX);
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
	if (have && sock_auth_bind(s, a, tok, &first) != DM_OK && explicit_tok)
		return DM_EAUTH;
	return DM_OK;
}
