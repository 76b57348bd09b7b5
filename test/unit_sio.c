/*
 * unit_sio.c — table-driven tests of what sio decodes from a client
 * (hostile input), both protocol versions:
 *
 *  - sio_eio_packet / sio_packet (sio.c): Engine.IO packet types, then
 *    Socket.IO's: type, namespace (with a query), ack id, binary types,
 *    the EVENT's JSON array, CONNECT's auth payload (v4);
 *  - the polling POST body's framing (sio_transport.c h_poll_post): v3's
 *    "<len>:<packet>" with len counted in UTF-16 code units, v4's packets
 *    separated by 0x1e; the body cap;
 *  - what polling sends back (sio_poll_body) and the UTF-16 count
 *    (sio_utf16_len) it rests on;
 *  - the WebSocket side on sio's loop (sio_loop.c ws_parse_all, the frame
 *    reader of unit_ws.c with what the loop does with each event): which
 *    Engine.IO packets reach the workers, what the loop answers itself
 *    (pong, close with which code, "3probe"), the upgrade probe; every
 *    stream is fed whole and one byte at a time.
 *
 * A row is a packet (or a body) fed to a real session of sio's registry
 * (no threads are started: the reaper's teardown is called here) with an
 * application that records what reaches it. Expected per row: the status,
 * what the application saw (C: a namespace CONNECT, E: an event), what
 * was queued to the client (packets joined by "|", the v4 socket id shown
 * as NSID) and whether the session is closing.
 *
 */
#include "../src/core/dm.c"
#include "../src/core/config.c"
#include "../src/core/db.c"
#include "../src/core/mem.c"
#include "../src/core/json.c"
#include "../src/core/refusal.c"
#include "../src/core/metrics.c"
#include "../src/core/auth.c"
#include "../src/core/tls.c"
#include "../src/web/http.c"
#include "../src/core/evloop.c"
#include "../src/core/ws.c"
#include "../src/web/sio.c"
#include "../src/web/sio_room.c"
#include "../src/web/sio_loop.c"
#include "../src/web/sio_transport.c"

#include <stdlib.h>
#include <unistd.h>

#include "unit.h"
#include "unit_hex.h"

/* jobs' counters are not part of this test */
uint64_t jobs_commit_gen(void)
{
	return 0;
}
void jobs_get_stats(jobs_stats_t *out)
{
	memset(out, 0, sizeof *out);
}

/* ------------------------------------------------ the recording app */

static char seen[4096]; /* what reached the application, "|"-joined */

static void seen_add(const char *s)
{
	if (seen[0])
		strncat(seen, "|", sizeof seen - strlen(seen) - 1);
	strncat(seen, s, sizeof seen - strlen(seen) - 1);
}

/* accepts, unless the namespace query or the auth payload says "deny" */
static int app_connect(sio_sock_t *s, const sio_conninfo_t *ci, char *err, size_t errcap)
{
	char one[1024];
	(void)s;
	snprintf(one, sizeof one, "C:q=%s:auth=%s", ci->nsp_query ? ci->nsp_query : "-",
		 ci->auth ? ci->auth : "-");
	seen_add(one);
	if ((ci->nsp_query && strstr(ci->nsp_query, "deny")) || (ci->auth && strstr(ci->auth, "deny"))) {
		snprintf(err, errcap, "denied");
		return DM_EAUTH;
	}
	return DM_OK;
}

static void app_event(sio_sock_t *s, const char *event, const char *arg, int64_t ack)
{
	char one[1024];
	(void)s;
	snprintf(one, sizeof one, "E:%s:%s:%lld", event, arg ? arg : "-", (long long)ack);
	seen_add(one);
}

static const sio_app_t app = {
	.nsp = "/chatting", .on_connect = app_connect, .on_event = app_event, .binary = 0};

/* ---------------------------------------------------------- helpers */

/* Appends s[0..n) to out, bytes outside printable ASCII as \xNN (UTF-8
 * above 0x7f is kept). */
static void shown(char *out, size_t cap, const char *s, size_t n)
{
	size_t k = strlen(out);
	for (size_t i = 0; i < n && k + 5 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			k += (size_t)snprintf(out + k, cap - k, "\\x%02x", c);
		else
			out[k++] = (char)c;
	}
	out[k] = 0;
}

/* Takes what is queued to s, "|"-joined into out, its socket id as NSID. */
static void drain(sio_sock_t *s, char *out, size_t cap)
{
	qnode_t *q;
	out[0] = 0;
	dm_mutex_lock(&sio_lock);
	q = s->qh;
	s->qh = s->qt = NULL;
	s->qn = 0;
	dm_mutex_unlock(&sio_lock);
	for (qnode_t *x = q; x; x = x->next) {
		char one[2048] = "";
		const char *id;
		shown(one, sizeof one, x->b->data, x->b->len);
		if ((id = strstr(one, s->nsid)) != NULL) {
			size_t at = (size_t)(id - one), idn = strlen(s->nsid);
			memmove(one + at + 4, one + at + idn, strlen(one + at + idn) + 1);
			memcpy(one + at, "NSID", 4);
		}
		if (out[0])
			strncat(out, "|", cap - strlen(out) - 1);
		strncat(out, one, cap - strlen(out) - 1);
	}
	sio_queue_free(q);
}

static int closing(sio_sock_t *s)
{
	int c;
	dm_mutex_lock(&sio_lock);
	c = s->state != S_OPEN;
	dm_mutex_unlock(&sio_lock);
	return c;
}

/* Feeds one Engine.IO packet as the transports do: a copy of exactly n
 * bytes, NUL-terminated at [n]. */
static int feed(sio_sock_t *s, const char *p, size_t n)
{
	char *c = malloc(n + 1);
	int rc;
	if (!c)
		return DM_ENOMEM;
	memcpy(c, p, n);
	c[n] = 0;
	rc = sio_eio_packet(s, c, n);
	free(c);
	return rc;
}

/* A new polling session of version eio; connected to /chatting when asked
 * (what that took is drained and forgotten). */
static sio_sock_t *session(int eio, int connected)
{
	int rc;
	char junk[512];
	sio_sock_t *s = sio_session_new(eio, 0, "127.0.0.1", "EIO=4&transport=polling", NULL, &rc);
	if (!s)
		return NULL;
	if (connected) {
		feed(s, "40/chatting,", 12);
		drain(s, junk, sizeof junk);
	}
	seen[0] = 0;
	return s;
}

/* The end of a session: the reaper's teardown, its last reference. */
static void end(sio_sock_t *s)
{
	sio_ref(s);
	teardown(s);
	sio_unref(s);
}

/* ------------------------------------------------- packets, one by one */

#define OK DM_OK
#define BAD DM_EINVAL

typedef struct prow {
	const char *name;
	int eio;
	int connected; /* connected to /chatting first */
	const char *in;
	size_t len; /* 0: strlen(in) */
	int rc;
	const char *seen; /* what the application saw */
	const char *out;  /* what was queued to the client */
	int closing;
} prow_t;

static const prow_t prows[] = {
	/* Engine.IO */
	{"empty packet", 4, 0, "", 0, BAD, "", "", 0},
	{"close", 4, 0, "1", 0, OK, "", "", 1},
	{"ping v4 (a client does not ping, but it is answered)", 4, 0, "2", 0, OK, "", "3", 0},
	{"ping v3", 3, 0, "2", 0, OK, "", "3", 0},
	{"ping probe", 3, 0, "2probe", 0, OK, "", "3probe", 0},
	{"ping with UTF-8 data", 3, 0, "2\xeb\x8f\x99", 0, OK, "", "3\xeb\x8f\x99", 0},
	{"ping with a NUL echoes it whole", 3, 0, "2a\0b", 4, OK, "", "3a\\x00b", 0},
	{"pong", 4, 0, "3", 0, OK, "", "", 0},
	{"upgrade", 4, 0, "5", 0, OK, "", "", 0},
	{"noop", 4, 0, "6", 0, OK, "", "", 0},
	{"type 0 from a client", 4, 0, "0", 0, BAD, "", "", 0},
	{"type 7", 4, 0, "7", 0, BAD, "", "", 0},
	{"binary (v3 base64)", 3, 0, "b4AQID", 0, BAD, "", "", 0},
	{"a letter", 4, 0, "x", 0, BAD, "", "", 0},
	{"NUL as type", 4, 0, "\0" "2", 2, BAD, "", "", 0},
	{"message without a Socket.IO packet", 4, 0, "4", 0, BAD, "", "", 0},
	/* Socket.IO packet types */
	{"Socket.IO type 7", 4, 0, "47", 0, BAD, "", "", 0},
	{"Socket.IO type a letter", 4, 0, "4x", 0, BAD, "", "", 0},
	{"BINARY_EVENT refused", 4, 1, "451-/chatting,[\"a\",{\"_placeholder\":true,\"num\":0}]", 0, BAD, "", "", 0},
	{"BINARY_ACK refused", 4, 1, "461-/chatting,1[{\"_placeholder\":true,\"num\":0}]", 0, BAD, "", "", 0},
	{"BINARY_EVENT, huge attachment count", 4, 1, "4599999999999999999999-[\"a\"]", 0, BAD, "", "", 0},
	{"CONNECT_ERROR from a client is ignored", 4, 1, "44/chatting,{\"message\":\"x\"}", 0, OK, "", "", 0},
	/* CONNECT, v4 */
	{"v4 CONNECT", 4, 0, "40/chatting,", 0, OK, "C:q=-:auth=-", "40/chatting,{\"sid\":\"NSID\"}", 0},
	{"v4 CONNECT without the comma", 4, 0, "40/chatting", 0, OK, "C:q=-:auth=-",
	 "40/chatting,{\"sid\":\"NSID\"}", 0},
	{"v4 CONNECT with auth", 4, 0, "40/chatting,{\"token\":\"t\"}", 0, OK, "C:q=-:auth={\"token\":\"t\"}",
	 "40/chatting,{\"sid\":\"NSID\"}", 0},
	{"v4 CONNECT with a query", 4, 0, "40/chatting?token=t,", 0, OK, "C:q=token=t:auth=-",
	 "40/chatting,{\"sid\":\"NSID\"}", 0},
	{"v4 CONNECT with bad auth JSON", 4, 0, "40/chatting,{\"token\":", 0, OK, "",
	 "44/chatting,{\"message\":\"Invalid auth payload\"}", 0},
	{"v4 CONNECT with auth not UTF-8-safe", 4, 0, "40/chatting,{\"t\":\"\\ud800\"}", 0, OK, "",
	 "44/chatting,{\"message\":\"Invalid auth payload\"}", 0},
	{"v4 CONNECT with auth and trailing garbage", 4, 0, "40/chatting,{}x", 0, OK, "",
	 "44/chatting,{\"message\":\"Invalid auth payload\"}", 0},
	{"v4 CONNECT refused by the app", 4, 0, "40/chatting,{\"t\":\"deny\"}", 0, OK, "C:q=-:auth={\"t\":\"deny\"}",
	 "44/chatting,{\"message\":\"denied\"}", 0},
	{"v4 CONNECT to the main namespace", 4, 0, "40", 0, OK, "", "44{\"message\":\"Invalid namespace\"}", 0},
	{"v4 CONNECT to another namespace", 4, 0, "40/admin,", 0, OK, "",
	 "44/admin,{\"message\":\"Invalid namespace\"}", 0},
	{"v4 CONNECT to a namespace with a quote", 4, 0, "40/a\"b,", 0, OK, "",
	 "44/a\"b,{\"message\":\"Invalid namespace\"}", 0},
	{"v4 CONNECT to a prefix of the namespace", 4, 0, "40/chat,", 0, OK, "",
	 "44/chat,{\"message\":\"Invalid namespace\"}", 0},
	{"v4 CONNECT to a longer namespace", 4, 0, "40/chattingx,", 0, OK, "",
	 "44/chattingx,{\"message\":\"Invalid namespace\"}", 0},
	{"v4 CONNECT twice", 4, 1, "40/chatting,", 0, OK, "", "", 0},
	/* CONNECT, v3 */
	{"v3 CONNECT", 3, 0, "40/chatting", 0, OK, "C:q=-:auth=-", "40/chatting,", 0},
	{"v3 CONNECT with a query", 3, 0, "40/chatting?token=t&x=%20", 0, OK, "C:q=token=t&x=%20:auth=-",
	 "40/chatting,", 0},
	{"v3 CONNECT: a payload is no auth", 3, 0, "40/chatting,{\"token\":\"t\"}", 0, OK, "C:q=-:auth=-",
	 "40/chatting,", 0},
	{"v3 CONNECT refused", 3, 0, "40/chatting?deny=1", 0, OK, "C:q=deny=1:auth=-", "44/chatting,\"denied\"", 0},
	{"v3 CONNECT to the main namespace (connected on open)", 3, 0, "40", 0, OK, "", "", 0},
	{"v3 CONNECT elsewhere", 3, 0, "40/admin", 0, OK, "", "44/admin,\"Invalid namespace\"", 0},
	/* EVENT and ACK */
	{"event", 4, 1, "42/chatting,[\"sendMsg\",{\"a\":1}]", 0, OK, "E:sendMsg:{\"a\":1}:-1", "", 0},
	{"event without an argument", 4, 1, "42/chatting,[\"x\"]", 0, OK, "E:x:-:-1", "", 0},
	{"event: only the first argument goes on", 4, 1, "42/chatting,[\"x\",1,2]", 0, OK, "E:x:1:-1", "", 0},
	{"event with an ack id", 4, 1, "42/chatting,12[\"x\"]", 0, OK, "E:x:-:12", "", 0},
	{"event with ack id 0", 4, 1, "42/chatting,0[\"x\"]", 0, OK, "E:x:-:0", "", 0},
	{"event with a 15-digit ack id", 4, 1, "42/chatting,999999999999999[\"x\"]", 0, OK, "E:x:-:999999999999999",
	 "", 0},
	{"event with a 16-digit ack id", 4, 1, "42/chatting,9999999999999999[\"x\"]", 0, BAD, "", "", 0},
	{"event with a 30-digit ack id", 4, 1, "42/chatting,999999999999999999999999999999[\"x\"]", 0, BAD, "", "",
	 0},
	{"event with a negative ack id", 4, 1, "42/chatting,-1[\"x\"]", 0, BAD, "", "", 0},
	{"event with a Korean name and text", 4, 1,
	 "42/chatting,[\"\xeb\x8f\x99\",\"\xeb\xac\xbc\"]", 0, OK, "E:\xeb\x8f\x99:\"\xeb\xac\xbc\":-1", "", 0},
	{"event name of 64 bytes", 4, 1,
	 "42/chatting,[\"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee\"]", 0, OK,
	 "E:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee:-:-1", "", 0},
	{"event name of 65 bytes is not passed on", 4, 1,
	 "42/chatting,[\"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee\"]", 0, OK, "", "", 0},
	{"event: empty array", 4, 1, "42/chatting,[]", 0, BAD, "", "", 0},
	{"event: a number for a name", 4, 1, "42/chatting,[1]", 0, BAD, "", "", 0},
	{"event: an object", 4, 1, "42/chatting,{\"a\":1}", 0, BAD, "", "", 0},
	{"event: a string", 4, 1, "42/chatting,\"x\"", 0, BAD, "", "", 0},
	{"event: nothing", 4, 1, "42/chatting,", 0, BAD, "", "", 0},
	{"event: cut JSON", 4, 1, "42/chatting,[\"x\"", 0, BAD, "", "", 0},
	{"event: trailing garbage", 4, 1, "42/chatting,[\"x\"]]", 0, BAD, "", "", 0},
	{"event: lone surrogate", 4, 1, "42/chatting,[\"x\",\"\\ud800\"]", 0, BAD, "", "", 0},
	{"event: escaped NUL", 4, 1, "42/chatting,[\"x\",\"\\u0000\"]", 0, BAD, "", "", 0},
	{"event: raw NUL", 4, 1, "42/chatting,[\"x\",\"a\0\"]", 22, BAD, "", "", 0},
	{"event: invalid UTF-8", 4, 1, "42/chatting,[\"x\",\"\xff\"]", 0, BAD, "", "", 0},
	{"event: JSON5", 4, 1, "42/chatting,['x']", 0, BAD, "", "", 0},
	{"event on the main namespace (v4: not connected there)", 4, 1, "42[\"x\"]", 0, BAD, "", "", 0},
	{"event before CONNECT (v4)", 4, 0, "42/chatting,[\"x\"]", 0, BAD, "", "", 0},
	{"event before CONNECT (v3, main namespace)", 3, 0, "42[\"x\"]", 0, OK, "", "", 0},
	{"event before CONNECT (v3, the namespace)", 3, 0, "42/chatting,[\"x\"]", 0, BAD, "", "", 0},
	{"event v3", 3, 1, "42/chatting,5[\"sendMsg\",\"hi\"]", 0, OK, "E:sendMsg:\"hi\":5", "", 0},
	{"ACK from a client", 4, 1, "43/chatting,1[]", 0, OK, "", "", 0},
	{"ACK before CONNECT", 4, 0, "43/chatting,1[]", 0, BAD, "", "", 0},
	/* DISCONNECT */
	{"DISCONNECT", 4, 1, "41/chatting,", 0, OK, "", "", 1},
	{"DISCONNECT of another namespace", 4, 1, "41/admin,", 0, OK, "", "", 0},
	{"DISCONNECT before CONNECT", 4, 0, "41/chatting,", 0, OK, "", "", 0},
};

static void test_packets(void)
{
	for (size_t i = 0; i < sizeof prows / sizeof prows[0]; i++) {
		const prow_t *r = &prows[i];
		size_t n = r->len ? r->len : strlen(r->in);
		sio_sock_t *s = session(r->eio, r->connected);
		char out[4096];
		int rc;

		if (!s) {
			CHECK(0, "%s: no session", r->name);
			continue;
		}
		rc = feed(s, r->in, n);
		drain(s, out, sizeof out);
		CHECK(rc == r->rc, "%s: status %d, want %d", r->name, rc, r->rc);
		CHECK(!strcmp(seen, r->seen), "%s: the app saw '%s', want '%s'", r->name, seen, r->seen);
		CHECK(!strcmp(out, r->out), "%s: queued '%s', want '%s'", r->name, out, r->out);
		CHECK(closing(s) == r->closing, "%s: closing %d, want %d", r->name, closing(s), r->closing);
		end(s);
	}
}

/* Namespaces up to MAX_NSP - 1 bytes (with the '/') are read; longer
 * ones are a protocol error. */
static void test_nsp_len(void)
{
	static const struct {
		size_t len;
		int rc;
	} v[] = {{2, DM_OK}, {1000, DM_OK}, {1023, DM_OK}, {1024, DM_EINVAL}, {1025, DM_EINVAL}, {5000, DM_EINVAL}};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		sio_sock_t *s = session(4, 0);
		char *p = malloc(v[i].len + 4), out[8192];
		int rc;
		if (!s || !p) {
			free(p);
			if (s)
				end(s);
			return;
		}
		memcpy(p, "40/", 3);
		memset(p + 3, 'x', v[i].len - 1);
		p[v[i].len + 2] = ',';
		rc = feed(s, p, v[i].len + 3);
		drain(s, out, sizeof out);
		CHECK(rc == v[i].rc, "a namespace of %zu bytes: %d", v[i].len, rc);
		CHECK(rc != DM_OK || (strstr(out, "Invalid namespace") && strlen(out) > v[i].len),
		      "a namespace of %zu bytes: refused by name", v[i].len);
		free(p);
		end(s);
	}
}

/* A closed session takes nothing more (its packets are dropped quietly). */
static void test_after_close(void)
{
	sio_sock_t *s = session(4, 1);
	char out[256];
	if (!s)
		return;
	CHECK(feed(s, "1", 1) == DM_OK && closing(s), "closed by the client");
	CHECK(feed(s, "42/chatting,[\"x\"]", 18) == DM_OK && !seen[0], "an event after close is not run");
	CHECK(feed(s, "2", 1) == DM_OK, "a ping after close");
	drain(s, out, sizeof out);
	CHECK(!out[0], "nothing queued after close: '%s'", out);
	end(s);
}

/* -------------------------------------------- polling POST framing */

typedef struct frow {
	const char *name;
	int eio;
	const char *body;
	size_t len; /* 0: strlen(body) */
	int status;
	const char *out; /* pongs and replies queued, in order */
	int closing;
} frow_t;

static const frow_t frows[] = {
	/* v3: "<len>:<packet>", len in UTF-16 code units */
	{"v3 one packet", 3, "1:2", 0, 200, "3", 0},
	{"v3 two packets", 3, "5:2abcd3:2ef", 0, 200, "3abcd|3ef", 0},
	{"v3 back to back", 3, "1:21:21:2", 0, 200, "3|3|3", 0},
	{"v3 a leading zero", 3, "01:2", 0, 200, "3", 0},
	{"v3 Korean is 1 unit a character", 3, "3:2\xeb\x8f\x99\xeb\xac\xbc", 0, 200,
	 "3\xeb\x8f\x99\xeb\xac\xbc", 0},
	{"v3 an emoji is 2 units", 3, "3:2\xf0\x9f\x98\x80", 0, 200, "3\xf0\x9f\x98\x80", 0},
	{"v3 an emoji counted as 1 unit (bytes or code points)", 3, "2:2\xf0\x9f\x98\x80", 0, 400, "", 1},
	{"v3 Korean counted in bytes", 3, "7:2\xeb\x8f\x99\xeb\xac\xbc", 0, 400, "", 1},
	{"v3 length longer than the body", 3, "3:2a", 0, 400, "", 1},
	{"v3 length shorter: the rest is no frame", 3, "1:2a", 0, 400, "3", 1},
	{"v3 length 0", 3, "0:", 0, 400, "", 1},
	{"v3 length 0 then a packet", 3, "0:1:2", 0, 400, "", 1},
	{"v3 no length", 3, ":2", 0, 400, "", 1},
	{"v3 no colon", 3, "12", 0, 400, "", 1},
	{"v3 colon at the end", 3, "1:", 0, 400, "", 1},
	{"v3 a sign", 3, "+1:2", 0, 400, "", 1},
	{"v3 negative", 3, "-1:2", 0, 400, "", 1},
	{"v3 blank before the length", 3, " 1:2", 0, 400, "", 1},
	{"v3 length of 10 digits (past the body)", 3, "9999999999:2", 0, 400, "", 1},
	{"v3 length 2^32 + 1 (wraps a 32-bit size_t to 1)", 3, "4294967297:2", 0, 400, "", 1},
	{"v3 length of 11 digits", 3, "99999999999:2", 0, 400, "", 1},
	{"v3 length of 20 digits (wraps size_t)", 3, "18446744073709551617:2", 0, 400, "", 1},
	{"v3 a bad packet inside good framing", 3, "1:2" "1:x", 0, 400, "3", 1},
	{"v3 an empty Socket.IO message", 3, "1:4", 0, 400, "", 1},
	{"v3 a NUL inside a packet", 3, "3:2\0a", 5, 200, "3\\x00a", 0},
	{"v3 a v4 separator is a byte of the packet", 3, "3:2\x1e" "2", 0, 200, "3\\x1e2", 0},
	{"v3 not UTF-8", 3, "2:2\xff", 0, 400, "", 1},
	{"v3 UTF-8 cut at the end", 3, "2:2\xeb\x8f", 0, 400, "", 1},
	{"v3 empty body", 3, "", 0, 400, "", 1},
	{"v3 close", 3, "1:1", 0, 200, "", 1},
	/* v4: packets separated by 0x1e */
	{"v4 one packet", 4, "2", 0, 200, "3", 0},
	{"v4 two packets", 4, "2a\x1e" "2b", 0, 200, "3a|3b", 0},
	{"v4 three packets", 4, "2a\x1e" "2b\x1e" "2c", 0, 200, "3a|3b|3c", 0},
	{"v4 a trailing separator", 4, "2\x1e", 0, 400, "3", 1},
	{"v4 a leading separator", 4, "\x1e" "2", 0, 400, "", 1},
	{"v4 two separators", 4, "2\x1e\x1e" "2", 0, 400, "3", 1},
	{"v4 only a separator", 4, "\x1e", 0, 400, "", 1},
	{"v4 v3 framing is a bad packet", 4, "1:2", 0, 200, "", 1}, /* "1..." is close */
	{"v4 a v3 length reads as a packet type (3: pong)", 4, "3:42/chatting,[\"x\"]", 0, 200, "", 0},
	{"v4 a v3 length reads as a packet type (7)", 4, "7:2abcdef", 0, 400, "", 1},
	{"v4 binary", 4, "bAQID", 0, 400, "", 1},
	{"v4 a NUL inside a packet", 4, "2a\0b", 4, 200, "3a\\x00b", 0},
	{"v4 not UTF-8", 4, "2\xc0\xaf", 0, 400, "", 1},
	{"v4 Korean", 4, "2\xeb\x8f\x99\x1e" "2\xeb\xac\xbc", 0, 200, "3\xeb\x8f\x99|3\xeb\xac\xbc", 0},
	{"v4 empty body", 4, "", 0, 400, "", 1},
	{"v4 close then a ping", 4, "1\x1e" "2", 0, 200, "", 1},
};

/* POSTs body to s's session the way civetweb hands it to h_poll_post:
 * the body already read (r->body), no connection (replies go nowhere).
 * Returns the reply's status. */
static int post(sio_sock_t *s, const char *body, size_t len, long long content_length)
{
	struct mg_request_info ri;
	http_req_t *r = calloc(1, sizeof *r);
	char q[128];
	int status;

	if (!r)
		return -1;
	memset(&ri, 0, sizeof ri);
	ri.content_length = content_length;
	snprintf(q, sizeof q, "EIO=%d&transport=polling&t=x&sid=%s", s->eio, s->sid);
	r->ri = &ri;
	r->method = "POST";
	r->query = q;
	dm_strlcpy(r->path, "/socket.io/", sizeof r->path);
	dm_strlcpy(r->ip, "127.0.0.1", sizeof r->ip);
	r->db = db_reader();
	if (body) {
		r->body = malloc(len + 1);
		if (!r->body) {
			free(r);
			return -1;
		}
		memcpy(r->body, body, len);
		r->body[len] = 0;
		r->body_len = len;
	}
	h_poll_post(r);
	status = r->replied ? r->status : -1;
	free(r->body);
	free(r);
	return status;
}

static void test_framing(void)
{
	for (size_t i = 0; i < sizeof frows / sizeof frows[0]; i++) {
		const frow_t *f = &frows[i];
		size_t n = f->len ? f->len : strlen(f->body);
		sio_sock_t *s = session(f->eio, 0);
		char out[4096];
		int status;

		if (!s) {
			CHECK(0, "%s: no session", f->name);
			continue;
		}
		status = post(s, f->body, n, (long long)n);
		drain(s, out, sizeof out);
		CHECK(status == f->status, "%s: status %d, want %d", f->name, status, f->status);
		CHECK(!strcmp(out, f->out), "%s: queued '%s', want '%s'", f->name, out, f->out);
		CHECK(closing(s) == f->closing, "%s: closing %d, want %d", f->name, closing(s), f->closing);
		end(s);
	}
	/* events arrive in order, both versions */
	for (int eio = 3; eio <= 4; eio++) {
		sio_sock_t *s = session(eio, 1);
		char out[256];
		const char *body = eio == 3 ? "19:42/chatting,[\"a\",1]19:42/chatting,[\"b\",2]"
					    : "42/chatting,[\"a\",1]\x1e" "42/chatting,[\"b\",2]";
		if (!s)
			continue;
		CHECK(post(s, body, strlen(body), (long long)strlen(body)) == 200 &&
			      !strcmp(seen, "E:a:1:-1|E:b:2:-1"),
		      "v%d: two events in one POST, in order: %s", eio, seen);
		drain(s, out, sizeof out);
		end(s);
	}
	/* the body cap (--sio-max-payload): refused from Content-Length,
	 * before anything is read; the session is closed */
	{
		sio_sock_t *s = session(4, 0);
		if (s) {
			CHECK(post(s, NULL, 0, (long long)cfg.sio_max_payload + 1) == 413 && closing(s),
			      "a body over --sio-max-payload: 413, closed");
			end(s);
		}
		s = session(4, 0);
		if (s) {
			CHECK(post(s, NULL, 0, 1LL << 62) == 413 && closing(s), "a huge Content-Length: 413");
			end(s);
		}
	}
	/* the query: another session id, another version */
	{
		sio_sock_t *s = session(4, 0);
		if (s) {
			struct mg_request_info ri;
			http_req_t r;
			char body[] = "2";
			memset(&ri, 0, sizeof ri);
			memset(&r, 0, sizeof r);
			r.ri = &ri;
			r.method = "POST";
			r.db = db_reader();
			r.body = body;
			r.body_len = 1;
			r.query = "EIO=3&transport=polling&sid=";
			char q[128];
			snprintf(q, sizeof q, "EIO=3&transport=polling&sid=%s", s->sid);
			r.query = q;
			h_poll_post(&r);
			CHECK(r.status == 400, "a v4 session posted to as v3: 400 (%d)", r.status);
			memset(&r, 0, sizeof r);
			r.ri = &ri;
			r.method = "POST";
			r.db = db_reader();
			r.body = body;
			r.body_len = 1;
			r.query = "EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAA";
			h_poll_post(&r);
			CHECK(r.status == 400, "an unknown sid: 400 (%d)", r.status);
			memset(&r, 0, sizeof r);
			r.ri = &ri;
			r.method = "POST";
			r.db = db_reader();
			r.body = body;
			r.body_len = 1;
			snprintf(q, sizeof q, "EIO=4&transport=websocket&sid=%s", s->sid);
			r.query = q;
			h_poll_post(&r);
			CHECK(r.status == 400, "transport=websocket on the polling route: 400 (%d)", r.status);
			memset(&r, 0, sizeof r);
			r.ri = &ri;
			r.method = "POST";
			r.db = db_reader();
			r.body = body;
			r.body_len = 1;
			snprintf(q, sizeof q, "EIO=5&transport=polling&sid=%s", s->sid);
			r.query = q;
			h_poll_post(&r);
			CHECK(r.status == 400, "EIO=5: 400 (%d)", r.status);
			CHECK(!closing(s), "requests that name no session of theirs leave it open");
			end(s);
		}
	}
}

/* ------------------------------------------ the polling GET's query */

/* A GET with query q and no connection; returns the reply's status. */
static int get(const char *q)
{
	struct mg_request_info ri;
	http_req_t *r = calloc(1, sizeof *r);
	int status;
	if (!r)
		return -1;
	memset(&ri, 0, sizeof ri);
	r->ri = &ri;
	r->method = "GET";
	r->query = q;
	dm_strlcpy(r->path, "/socket.io/", sizeof r->path);
	dm_strlcpy(r->ip, "127.0.0.1", sizeof r->ip);
	r->db = db_reader();
	h_poll_get(r);
	status = r->replied ? r->status : -1;
	free(r);
	return status;
}

/* Tears down every session a handshake row made. */
static void end_all(void)
{
	for (;;) {
		sio_sock_t *s;
		dm_mutex_lock(&sio_lock);
		s = all_head;
		if (s)
			s->refs++;
		dm_mutex_unlock(&sio_lock);
		if (!s)
			break;
		teardown(s);
		sio_unref(s);
	}
}

static const struct {
	const char *q;
	int status;
	int sessions; /* sessions open afterwards */
} grows[] = {
	{"EIO=4&transport=polling", 200, 1},
	{"EIO=3&transport=polling&t=Nx1", 200, 1},
	{"EIO=4&EIO=3&transport=polling", 200, 1}, /* the first one counts */
	{"EIO=5&transport=polling", 400, 0},
	{"EIO=2&transport=polling", 400, 0},
	{"EIO=44&transport=polling", 400, 0},
	{"EIO=&transport=polling", 400, 0},
	{"EIO=99999&transport=polling", 400, 0},
	{"transport=polling", 400, 0},
	{"EIO=4", 400, 0},
	{"EIO=4&transport=websocket", 400, 0},
	{"EIO=4&transport=Polling", 400, 0},
	{"EIO=4&transport=polling&j=0", 400, 0}, /* JSONP */
	{"EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAA", 400, 0},
	{"EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 400, 0},
	{NULL, 400, 0},
};

static void test_get(void)
{
	for (size_t i = 0; i < sizeof grows / sizeof grows[0]; i++) {
		int st = get(grows[i].q), n = 0;
		dm_mutex_lock(&sio_lock);
		for (sio_sock_t *s = all_head; s; s = s->all_next)
			n++;
		dm_mutex_unlock(&sio_lock);
		CHECK(st == grows[i].status && n == grows[i].sessions, "GET ?%s: %d, %d sessions",
		      grows[i].q ? grows[i].q : "(none)", st, n);
		end_all();
	}
	/* a long poll takes what is queued, in one answer */
	{
		sio_sock_t *s = session(4, 1);
		char q[128];
		if (!s)
			return;
		sio_emit(s, "a", "1");
		sio_emit(s, "b", NULL);
		snprintf(q, sizeof q, "EIO=4&transport=polling&sid=%s", s->sid);
		CHECK(get(q) == 200 && s->qn == 0 && !s->polling && !closing(s), "a poll takes the queue");
		/* two polls at once: the second one closes the session */
		dm_mutex_lock(&sio_lock);
		s->polling = 1;
		dm_mutex_unlock(&sio_lock);
		CHECK(get(q) == 400 && closing(s), "an overlapping poll: 400, closed");
		snprintf(q, sizeof q, "EIO=3&transport=polling&sid=%s", s->sid);
		CHECK(get(q) == 400, "a closing session, or another version: 400");
		end(s);
	}
}

/* ----------------------------------------------- what polling sends */

static const struct {
	const char *s;
	size_t units;
} u16_rows[] = {
	{"", 0},
	{"abc", 3},
	{"\xc3\xa9", 1},                         /* é */
	{"\xeb\x8f\x99\xeb\xac\xbc", 2},         /* 동물 */
	{"\xf0\x9f\x98\x80", 2},                 /* an emoji: a surrogate pair */
	{"a\xf0\x9f\x98\x80" "b\xf0\x9f\x98\x81", 6},
	{"\xef\xbf\xbf", 1},                     /* U+FFFF */
	{"\xf4\x8f\xbf\xbf", 2},                 /* U+10FFFF */
};

typedef struct brow {
	const char *name;
	int eio;
	const char *packets[4]; /* queued, NULL-ended */
	const char *tail;       /* a closing packet, or NULL */
	const char *want;
} brow_t;

static const brow_t brows[] = {
	{"v3 one", 3, {"42[\"a\"]", NULL}, NULL, "7:42[\"a\"]"},
	{"v3 two", 3, {"2", "3probe", NULL}, NULL, "1:26:3probe"},
	{"v3 Korean", 3, {"42\xeb\x8f\x99", NULL}, NULL, "3:42\xeb\x8f\x99"},
	{"v3 an emoji counts 2", 3, {"4\xf0\x9f\x98\x80", NULL}, NULL, "3:4\xf0\x9f\x98\x80"},
	{"v3 with a tail", 3, {"2", NULL}, "1", "1:21:1"},
	{"v3 only a tail", 3, {NULL}, "6", "1:6"},
	{"v4 one", 4, {"42[\"a\"]", NULL}, NULL, "42[\"a\"]"},
	{"v4 three", 4, {"2", "42[1]", "6", NULL}, NULL, "2\x1e" "42[1]\x1e" "6"},
	{"v4 with a tail", 4, {"2", NULL}, "1", "2\x1e" "1"},
	{"v4 only a tail", 4, {NULL}, "6", "6"},
};

static void test_poll_body(void)
{
	for (size_t i = 0; i < sizeof u16_rows / sizeof u16_rows[0]; i++)
		CHECK(sio_utf16_len(u16_rows[i].s, strlen(u16_rows[i].s)) == u16_rows[i].units,
		      "UTF-16 length of row %zu", i);
	for (size_t i = 0; i < sizeof brows / sizeof brows[0]; i++) {
		const brow_t *r = &brows[i];
		qnode_t *q = NULL, **tail = &q;
		sbuf_t b = {0};
		for (int k = 0; r->packets[k]; k++) {
			qnode_t *x = calloc(1, sizeof *x);
			if (!x)
				return;
			x->b = sio_blob_new(r->packets[k], strlen(r->packets[k]));
			*tail = x;
			tail = &x->next;
		}
		sio_poll_body(r->eio, q, r->tail, &b);
		CHECK(!b.oom && b.p && !strcmp(b.p, r->want), "poll body %s: '%s'", r->name, b.p ? b.p : "(null)");
		free(b.p);
	}
}

/* --------------------------------------- the WebSocket side, on the loop */

typedef struct wrow {
	const char *name;
	int probe;        /* the connection is probing an upgrade */
	const char *hex;  /* client bytes, as in unit_ws.c ("K": a zero mask) */
	const char *in;   /* Engine.IO packets handed to the workers */
	const char *out;  /* frames the loop itself sends */
	int ended;        /* the loop closes (a close frame goes out) */
	int upgraded;     /* probe: the session moved to this WebSocket */
} wrow_t;

static const wrow_t wrows[] = {
	{"a packet", 0, "81 81 K 32", "2", "", 0, 0},
	{"an event", 0, "81 91 K 34322f6368617474696e672c5b2278225d", "42/chatting,[\"x\"]", "", 0, 0},
	{"two packets in one read", 0, "81 81 K 32 81 82 K 3361", "2|3a", "", 0, 0},
	{"a fragmented packet", 0, "01 82 K 3432 80 83 K 5b315d", "42[1]", "", 0, 0},
	{"an empty text frame is handed on (sio refuses it)", 0, "81 80 K", "", "", 0, 0},
	{"a Korean packet", 0, "81 84 K 34eb8f99", "4\xeb\x8f\x99", "", 0, 0},
	{"a NUL inside a packet", 0, "81 83 K 320061", "2\\x00a", "", 0, 0},
	{"ping", 0, "89 82 K 6162", "", "PONG:ab", 0, 0},
	{"ping between fragments", 0, "01 81 K 34 89 80 K 80 81 K 32", "42", "PONG:", 0, 0},
	{"pong", 0, "8a 80 K", "", "", 0, 0},
	{"binary frame", 0, "82 81 K 34", "", "CLOSE:1003", 1, 0},
	{"binary after a packet", 0, "81 81 K 32 82 81 K 34", "2", "CLOSE:1003", 1, 0},
	{"close without a code", 0, "88 80 K", "", "CLOSE:1000", 1, 0},
	{"close 1001", 0, "88 82 K 03e9", "", "CLOSE:1001", 1, 0},
	{"close 4000 is echoed", 0, "88 82 K 0fa0", "", "CLOSE:4000", 1, 0},
	{"nothing is read after a close", 0, "88 80 K 81 81 K 32", "", "CLOSE:1000", 1, 0},
	{"unmasked", 0, "81 01 32", "", "CLOSE:1002", 1, 0},
	{"text not UTF-8", 0, "81 82 K 32ff", "", "CLOSE:1007", 1, 0},
	{"bad close code", 0, "88 82 K 03ed", "", "CLOSE:1002", 1, 0},
	{"a message at --sio-max-payload", 0,
	 "81 c0 K 32616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161",
	 "2aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "", 0, 0},
	{"a message over --sio-max-payload", 0,
	 "81 c1 K 3261616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161",
	 "", "CLOSE:1009", 1, 0},
	{"fragments over --sio-max-payload", 0, "01 a0 K 3261616161616161616161616161616161616161616161616161616161616161 80 a1 K 616161616161616161616161616161616161616161616161616161616161616161",
	 "", "CLOSE:1009", 1, 0},
	{"declared 2^63 - 1 bytes", 0, "81 ff 7fffffffffffffff", "", "CLOSE:1009", 1, 0},
	/* the upgrade probe (a session still polling) */
	{"probe: 2probe", 1, "81 86 K 3270726f6265", "", "TEXT:3probe", 0, 0},
	{"probe: 2probe then 5", 1, "81 86 K 3270726f6265 81 81 K 35", "", "TEXT:3probe", 0, 1},
	{"probe: 5 alone", 1, "81 81 K 35", "", "", 0, 1},
	{"probe: then a packet goes to the workers", 1, "81 81 K 35 81 81 K 32", "2", "", 0, 1},
	{"probe: a packet before 5 is dropped", 1, "81 81 K 32", "", "", 0, 0},
	{"probe: 2probex is no probe", 1, "81 87 K 3270726f626578", "", "", 0, 0},
	{"probe: 2PROBE is no probe", 1, "81 86 K 3250524f4245", "", "", 0, 0},
	{"probe: 55 is no upgrade", 1, "81 82 K 3535", "", "", 0, 0},
	{"probe: ping", 1, "89 80 K", "", "PONG:", 0, 0},
	{"probe: binary", 1, "82 81 K 35", "", "CLOSE:1003", 1, 0},
};

/* The frames in lc's output, described ("TEXT:...", "PONG:...",
 * "CLOSE:code"), "|"-joined. */
static void out_frames(const lconn_t *lc, char *got, size_t cap)
{
	size_t i = lc->ooff;
	got[0] = 0;
	while (i + 2 <= lc->olen) {
		const unsigned char *f = (const unsigned char *)lc->out + i;
		int op = f[0] & 0x0f;
		size_t n = f[1] & 0x7f, h = 2;
		char one[300] = "";
		if (n == 126) {
			n = (size_t)f[2] << 8 | f[3];
			h = 4;
		}
		if (i + h + n > lc->olen || n > 200)
			break;
		if (op == WS_OP_CLOSE)
			snprintf(one, sizeof one, "CLOSE:%d", n >= 2 ? f[h] << 8 | f[h + 1] : 0);
		else {
			snprintf(one, sizeof one, "%s:", op == WS_OP_PONG ? "PONG" : op == WS_OP_TEXT ? "TEXT" : "OTHER");
			shown(one, sizeof one, (const char *)f + h, n);
		}
		if (got[0])
			strncat(got, "|", cap - strlen(got) - 1);
		strncat(got, one, cap - strlen(got) - 1);
		i += h + n;
	}
}

/* Feeds in[0..n) to a connection of a fresh session, step bytes at a time
 * (0: all at once), as ws_input does: what is not consumed is kept for
 * the next read. Describes what came of it. */
static void ws_run(const wrow_t *r, const unsigned char *in, size_t n, size_t step, char *pkts, char *outs,
		   size_t cap, int *ended, int *upgraded)
{
	sio_sock_t *s = session(4, 0);
	lconn_t *lc = calloc(1, sizeof *lc);
	unsigned char buf[512];
	size_t have = 0, fed = 0;

	pkts[0] = outs[0] = 0;
	*ended = *upgraded = -1;
	if (!s || !lc) {
		free(lc);
		return;
	}
	atomic_store(&lc->refs, 1); /* the test holds it, as the loop would */
	lc->kind = LC_WS;
	lc->s = s;
	lc->state = LS_OPEN;
	lc->probe = r->probe;
	dm_mutex_lock(&sio_lock);
	if (r->probe)
		s->probe = lc;
	else {
		s->transport = T_WS;
		s->ws = lc;
	}
	dm_mutex_unlock(&sio_lock);
	while (fed < n) {
		size_t add = step ? step : n;
		ssize_t used;
		if (add > n - fed)
			add = n - fed;
		memcpy(buf + have, in + fed, add);
		have += add;
		fed += add;
		used = ws_parse_all(lc, buf, have);
		if (used < 0)
			break;
		memmove(buf, buf + used, have - (size_t)used);
		have -= (size_t)used;
	}
	for (pkt_t *p = lc->inh; p; p = p->next) {
		if (p != lc->inh)
			strncat(pkts, "|", cap - strlen(pkts) - 1);
		shown(pkts, cap, p->data, p->len);
	}
	out_frames(lc, outs, cap);
	*ended = lc->state != LS_OPEN;
	dm_mutex_lock(&sio_lock);
	*upgraded = s->transport == T_WS && s->ws == lc;
	/* what the test set up or the loop would take over: the session's
	 * pointers to lc, the ready list, the run queue */
	s->ws = s->probe = NULL;
	while (ready_head) {
		sio_sock_t *x = ready_head;
		ready_head = x->ready_next;
		x->ready_listed = 0;
		sio_unref_locked(x);
	}
	ready_tail = NULL;
	dm_mutex_unlock(&sio_lock);
	dm_mutex_lock(&pool_lock);
	runq_head = runq_tail = NULL;
	lc->scheduled = 0; /* taken off the run queue above */
	lc->resume_listed = 0;
	dm_mutex_unlock(&pool_lock);
	sio_ref(s); /* lc_free's */
	lc_free(lc);
	end(s);
}

static void test_ws_side(void)
{
	int keep = cfg.sio_max_payload;
	cfg.sio_max_payload = 64; /* below the option's floor: rows stay short */
	for (size_t i = 0; i < sizeof wrows / sizeof wrows[0]; i++) {
		const wrow_t *r = &wrows[i];
		unsigned char in[512];
		size_t n = unhex(r->hex, in, sizeof in);
		for (int by_byte = 0; by_byte <= 1; by_byte++) {
			char pkts[1024], outs[1024];
			int ended, upgraded;
			const char *how = by_byte ? "byte by byte" : "all at once";
			ws_run(r, in, n, by_byte ? 1 : 0, pkts, outs, sizeof pkts, &ended, &upgraded);
			CHECK(!strcmp(pkts, r->in), "ws %s (%s): handed on '%s', want '%s'", r->name, how, pkts, r->in);
			CHECK(!strcmp(outs, r->out), "ws %s (%s): sent '%s', want '%s'", r->name, how, outs, r->out);
			CHECK(ended == r->ended, "ws %s (%s): ended %d", r->name, how, ended);
			if (r->probe)
				CHECK(upgraded == r->upgraded, "ws %s (%s): upgraded %d", r->name, how, upgraded);
		}
	}
	cfg.sio_max_payload = keep;
}

int main(void)
{
	char dir[] = "/tmp/dm-unit-sio-XXXXXX";

	cfg_defaults();
	dm_log_level = DM_LOG_ERROR; /* the refusals log at info */
	if (!mkdtemp(dir) || db_open(dir) != DM_OK) {
		printf("cannot open a database in %s\n", dir);
		return 2;
	}
	sio_set_app(&app);
	test_packets();
	test_nsp_len();
	test_after_close();
	test_framing();
	test_get();
	test_poll_body();
	test_ws_side();
	db_close();
	{
		char cmd[128];
		snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", dir);
	}
	UNIT_DONE("unit_sio");
}
