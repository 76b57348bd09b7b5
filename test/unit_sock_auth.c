/*
 * unit_sock_auth.c — the parsers of what a connecting Socket.IO client
 * sends before it is anyone: the user_login cookie (the seed frontend's
 * token) and the ids in the connect query (icrId), tables of vectors.
 * sio and live are not linked: the few calls sock_auth makes into them are
 * stubbed below (nothing here connects a socket; the black-box tests do).
 */
#include "../src/core/dm.c"
#include "../src/core/config.c"
#include "../src/core/db.c"
#include "../src/core/mem.c"
#include "../src/core/json.c"
#include "../src/core/jobs.c"
#include "../src/core/auth.c"
#include "../src/market/sock_auth.c"

#include "unit.h"

/* sio and live stubs (sock_auth_bind's binding; never reached here) */
int64_t sio_uid(const sio_sock_t *s)
{
	(void)s;
	return 0;
}
void sio_set_uid(sio_sock_t *s, int64_t uid)
{
	(void)s;
	(void)uid;
}
void sio_close(sio_sock_t *s)
{
	(void)s;
}
int live_user_join(sio_sock_t *s, int64_t uid)
{
	(void)s;
	(void)uid;
	return DM_OK;
}
void live_family_move(sio_sock_t *s, const char *old_fam, const char *new_fam)
{
	(void)s;
	(void)old_fam;
	(void)new_fam;
}

static void test_cookie(void)
{
	static const struct {
		const char *hdr;
		const char *want; /* NULL: no token */
	} v[] = {
		{"user_login=abc", "abc"},
		{"a=1; user_login=bearer%20x.y.z; b=2", "bearer x.y.z"},
		{"a=1;user_login=v", "v"},
		{"   user_login=v", "v"},
		{"user_login=\"q%22\"", "q\""},           /* quoted value, then decoded */
		{"user_login=\"", "\""},                  /* one quote is a value */
		{"user_login=\"\"", NULL},                /* quotes around nothing */
		{"user_login=", NULL},
		{"user_login", NULL},                     /* no '=' */
		{"xuser_login=abc", NULL},                /* another name that ends the same */
		{"user_logi=abc", NULL},
		{"user_login_x=abc", NULL},
		{"a=user_login=abc", NULL},               /* the name must start the pair */
		{"user_login=a; user_login=b", "a"},      /* the first one wins */
		{"", NULL},
		{";;;", NULL},
		{NULL, NULL},
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		char out[64] = "unchanged";
		int got = cookie_token(v[i].hdr, out, sizeof out);
		if (v[i].want)
			CHECK(got && !strcmp(out, v[i].want), "cookie %zu [%s]: got %d [%s], want [%s]", i,
			      v[i].hdr, got, out, v[i].want);
		else
			CHECK(!got, "cookie %zu [%s]: got a token [%s]", i, v[i].hdr ? v[i].hdr : "(null)", out);
	}
	/* a value that does not fit is no token (never a truncated one) */
	{
		char small[4];
		CHECK(!cookie_token("user_login=abcdefgh", small, sizeof small), "a value longer than the buffer");
	}
}

static void test_query_id(void)
{
	static const struct {
		const char *q;
		int64_t want;
	} v[] = {
		{"icrId=12", 12},
		{"a=1&icrId=7&b=2", 7},
		{"icrId=%31%32", 12},                      /* URL-encoded digits */
		{"icrId=123456789012345678", 123456789012345678LL}, /* 18 digits */
		{"icrId=1234567890123456789", 0},          /* 19: refused, never overflows */
		{"icrId=0", 0},
		{"icrId=-1", 0},
		{"icrId=+1", 0},
		{"icrId=1e3", 0},
		{"icrId=12abc", 0},
		{"icrId= 12", 0},
		{"icrId=", 0},
		{"icrId", 0},
		{"xicrId=5", 0},
		{"", 0},
		{NULL, 0},
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		int64_t got = query_id(v[i].q, "icrId");
		CHECK(got == v[i].want, "query %zu [%s]: got %lld, want %lld", i, v[i].q ? v[i].q : "(null)",
		      (long long)got, (long long)v[i].want);
	}
	/* the namespace's query first, then the handshake's */
	{
		sio_conninfo_t ci = {.query = "icrId=4", .nsp_query = "icrId=3"};
		CHECK(sock_auth_query_id(&ci, "icrId") == 3, "the namespace query wins");
		ci.nsp_query = "x=1";
		CHECK(sock_auth_query_id(&ci, "icrId") == 4, "else the handshake's");
		ci.nsp_query = NULL;
		CHECK(sock_auth_query_id(&ci, "icrId") == 4, "no namespace query");
		ci.query = "";
		CHECK(sock_auth_query_id(&ci, "icrId") == 0, "none");
	}
}

int main(void)
{
	test_cookie();
	test_query_id();
	UNIT_DONE("unit_sock_auth");
}
