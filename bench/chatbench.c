/*
 * bench/chatbench.c — chat load generator for dongmul: many Socket.IO
 * clients (Engine.IO v4 over WebSocket, namespace /chatting) in one
 * process, one thread, epoll and non-blocking sockets, with a minimal
 * WebSocket framing of its own (RFC 6455: masked client frames, text,
 * continuation, ping/pong, close). A node client would be the bottleneck
 * long before the server.
 *
 *   chatbench login  --port P --first UID --count N --password PW --out FILE
 *       POST /account/login for users u<UID>@bench.test .. (4 threads);
 *       FILE gets "userId<TAB>bearer <jwt>" lines.
 *   chatbench join   --port P --tokens FILE --from I --count N --rooms ICR[,ICR...] --per K
 *                    [--conc C]
 *       tokens I..I+N-1: user j joins rooms[(j-I)/K] with a short-lived
 *       connection (connect, authenticate, joinRoom, wait for the answer,
 *       close), at most C at a time (default 1: a join is broadcast to the
 *       connected members of the room, so a big room is joined one by one).
 *   chatbench fanout --port P --tokens FILE --room ICR --receivers N --messages M
 *                    [--pid PID] [--gap-ms G] [--enter join|query|none] [--hold S]
 *                    [--max-seconds S]
 *       tokens 0..N-1 receive, token N sends; all are members already. M
 *       messages one at a time: each is timed from the write of sendMsg
 *       until the last of the N receivers has its getMsg; at most S seconds
 *       of sending (default 180; fanout_messages says how many were timed).
 *       --hold: stay connected S seconds more (to look at the server).
 *       --enter: how a member gets its socket into the room: joinRoom again
 *       (default), the handshake query's icrId (setRoom), or not at all.
 *       --ack 1: time each message from the write of sendMsg until the
 *       sender's ack instead (send → ack; the receivers only listen).
 *       --until-file F: stop sending once F exists (e.g. touched when a
 *       backup running beside it finishes).
 *   chatbench tp     --port P --tokens FILE --rooms ICR[,...] --per K --window W
 *                    --duration S [--kill PID --kill-after S2] [--ids FILE]
 *                    [--enter join|query]
 *       room r's members are tokens r*K..r*K+K-1; the first one sends,
 *       keeping up to W messages unacknowledged (acked by the sendMsg ack,
 *       or by its own getMsg echo, whichever comes first). After S seconds
 *       sending stops and deliveries drain. With --kill, PID gets SIGKILL
 *       S2 seconds after sending started (sending never stops) and the
 *       tool ends when every connection is gone. --ids: every icruMsgId any
 *       client received (getMsg, acks), one per line.
 *   chatbench hold   --port P --tokens FILE --count N [--sources K] [--pid PID]
 *                    [--ready FILE] [--hold S]
 *       tokens 0..N-1 connect (CONNECT auth payload) and stay connected,
 *       answering pings; client i connects from 127.0.0.(1 + i % K) (the
 *       server caps sessions per address). Once all are in: hold_* lines,
 *       with the server's VmRSS and thread count when --pid; FILE is
 *       created; then S seconds more (default 60) before closing.
 *   chatbench idle   --port P --count N [--sources K] [--ready FILE] [--hold S]
 *       N plain TCP connections that send nothing, held S seconds.
 *
 * Output: "key=value" lines on stdout (read by bench/run.sh); progress and
 * problems on stderr. Exit status 1 when the run itself failed.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>

#include "bt.h"

#define NSP "/chatting"
#define MAX_PENDING 64         /* connections in their handshake at once */

enum { ST_CONNECTING, ST_UPGRADE, ST_OPEN, ST_AUTH, ST_READY, ST_DONE };

typedef struct cl {
	int fd, idx, st;
	int64_t uid;
	const char *token;
	char *rb;
	size_t rlen, rcap;
	char *wb;
	size_t wlen, wcap;
	char *frag;
	size_t fraglen;
	int want_out;
	int entered;             /* in the room (setRoom / addUser / join ack) */
	int room;                /* index into rooms[] */
	int64_t join_ack;        /* the ack id of our joinRoom, -1 none */
	/* tp sender */
	int sender;
	int64_t next_seq, inflight;
	unsigned char *done;     /* per seq: acked already */
	size_t done_cap;
} cl_t;

/* ---------------------------------------------------------------- options */

static const char *o_host = "127.0.0.1", *o_tokens, *o_out, *o_password, *o_ids, *o_enter = "join";
static int o_port, o_first, o_count, o_from, o_per = 1, o_conc = 1, o_receivers, o_messages, o_pid, o_window = 8;
static int o_gap_ms = 2, o_kill_pid, o_hold, o_max_s = 180, o_ack, o_sources = 1;
static const char *o_until_file, *o_ready;
static double o_duration = 10, o_kill_after = 0;
static int64_t *o_rooms;
static int o_nrooms;

static void parse_rooms(const char *s)
{
	o_nrooms = 0;
	for (const char *p = s; p && *p;) {
		o_rooms = realloc(o_rooms, sizeof *o_rooms * (size_t)(o_nrooms + 1));
		o_rooms[o_nrooms++] = strtoll(p, NULL, 10);
		p = strchr(p, ',');
		if (p)
			p++;
	}
}

static void parse_opts(int argc, char **argv)
{
	for (int i = 2; i < argc; i++) {
		const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			bt_die("%s needs a value", k);
		i++;
		if (!strcmp(k, "--host"))
			o_host = v;
		else if (!strcmp(k, "--port"))
			o_port = atoi(v);
		else if (!strcmp(k, "--tokens"))
			o_tokens = v;
		else if (!strcmp(k, "--out"))
			o_out = v;
		else if (!strcmp(k, "--password"))
			o_password = v;
		else if (!strcmp(k, "--first"))
			o_first = atoi(v);
		else if (!strcmp(k, "--count"))
			o_count = atoi(v);
		else if (!strcmp(k, "--from"))
			o_from = atoi(v);
		else if (!strcmp(k, "--rooms") || !strcmp(k, "--room"))
			parse_rooms(v);
		else if (!strcmp(k, "--per"))
			o_per = atoi(v);
		else if (!strcmp(k, "--conc"))
			o_conc = atoi(v);
		else if (!strcmp(k, "--receivers"))
			o_receivers = atoi(v);
		else if (!strcmp(k, "--messages"))
			o_messages = atoi(v);
		else if (!strcmp(k, "--pid"))
			o_pid = atoi(v);
		else if (!strcmp(k, "--window"))
			o_window = atoi(v);
		else if (!strcmp(k, "--duration"))
			o_duration = atof(v);
		else if (!strcmp(k, "--kill"))
			o_kill_pid = atoi(v);
		else if (!strcmp(k, "--kill-after"))
			o_kill_after = atof(v);
		else if (!strcmp(k, "--ids"))
			o_ids = v;
		else if (!strcmp(k, "--gap-ms"))
			o_gap_ms = atoi(v);
		else if (!strcmp(k, "--max-seconds"))
			o_max_s = atoi(v);
		else if (!strcmp(k, "--hold"))
			o_hold = atoi(v);
		else if (!strcmp(k, "--enter"))
			o_enter = v;
		else if (!strcmp(k, "--ack"))
			o_ack = atoi(v);
		else if (!strcmp(k, "--until-file"))
			o_until_file = v;
		else if (!strcmp(k, "--sources"))
			o_sources = atoi(v);
		else if (!strcmp(k, "--ready"))
			o_ready = v;
		else
			bt_die("unknown option %s", k);
	}
	if (o_port <= 0)
		bt_die("--port is required");
}

/* ------------------------------------------------------------------ tokens */

typedef struct tok {
	int64_t uid;
	char *token;
} tok_t;
static tok_t *toks;
static int ntoks;

static void load_tokens(void)
{
	FILE *f = fopen(o_tokens, "r");
	char line[2048];
	if (!f)
		bt_die("cannot open %s", o_tokens ? o_tokens : "(no --tokens)");
	while (fgets(line, sizeof line, f)) {
		char *tab = strchr(line, '\t');
		if (!tab)
			continue;
		line[strcspn(line, "\r\n")] = 0;
		toks = realloc(toks, sizeof *toks * (size_t)(ntoks + 1));
		toks[ntoks].uid = strtoll(line, NULL, 10);
		toks[ntoks].token = strdup(tab + 1);
		ntoks++;
	}
	fclose(f);
}

/* ------------------------------------------------------------------- login */

static pthread_mutex_t login_lock = PTHREAD_MUTEX_INITIALIZER;
static int login_next, login_fail;
static FILE *login_out;

/* The value of "key":"..." in json (no escapes expected) into out. */
static int json_text(const char *json, const char *key, char *out, size_t cap)
{
	char pat[64];
	const char *p, *e;
	snprintf(pat, sizeof pat, "\"%s\":\"", key);
	if (!(p = strstr(json, pat)))
		return -1;
	p += strlen(pat);
	if (!(e = strchr(p, '"')) || (size_t)(e - p) >= cap)
		return -1;
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = 0;
	return 0;
}

static void *login_main(void *unused)
{
	int fd = -1;
	(void)unused;
	for (;;) {
		char body[512], tok[1024], uid[32];
		bt_reply_t r;
		int i;
		pthread_mutex_lock(&login_lock);
		i = login_next++;
		pthread_mutex_unlock(&login_lock);
		if (i >= o_count)
			break;
		snprintf(body, sizeof body, "{\"email\":\"u%d@bench.test\",\"password\":\"%s\"}", o_first + i,
			 o_password);
		/* 503 BUSY: the server's password-hash queue is full; it asks
		 * for a retry (Retry-After) */
		int hrc;
		for (int tries = 0;; tries++) {
			memset(&r, 0, sizeof r);
			hrc = bt_http(&fd, o_host, o_port, "POST", "/account/login", NULL, body, &r);
			if (hrc != 0 || r.status != 503 || tries >= 200)
				break;
			free(r.body);
			usleep(20000);
		}
		if (hrc != 0 || r.status != 200 ||
		    json_text(r.body, "token", tok, sizeof tok) || json_text(r.body, "userId", uid, sizeof uid)) {
			fprintf(stderr, "login u%d: %d %.200s\n", o_first + i, r.status, r.body ? r.body : "");
			pthread_mutex_lock(&login_lock);
			login_fail++;
			pthread_mutex_unlock(&login_lock);
		} else {
			pthread_mutex_lock(&login_lock);
			fprintf(login_out, "%s\t%s\n", uid, tok);
			pthread_mutex_unlock(&login_lock);
		}
		free(r.body);
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static int cmd_login(void)
{
	pthread_t th[4];
	int64_t t0 = bt_now_us();
	if (!o_out || !o_password || o_count < 1)
		bt_die("login needs --out, --password, --count");
	if (!(login_out = fopen(o_out, "w")))
		bt_die("cannot write %s", o_out);
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, login_main, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	fclose(login_out);
	printf("login_ok=%d\nlogin_failed=%d\nlogin_ms=%lld\n", o_count - login_fail, login_fail,
	       (long long)(bt_now_us() - t0) / 1000);
	return login_fail ? 1 : 0;
}

/* --------------------------------------------------------------- the loop */

static int ep;
static int quiet;              /* the server was killed on purpose: no complaints */
static int ncomplaints;
static cl_t *cls;
static int ncls;
static int npending;           /* connections in their handshake */
static int nready, nclosed;
static int next_to_open;       /* connections are opened in index order */
static int nto_open;           /* how many of cls to open */
static int max_open = 1 << 30; /* open at most this many at once (join) */
static int nopen;              /* opened and not yet closed */

/* Phase hooks (set per command). */
static void (*on_ready_fn)(cl_t *c);
static void (*on_event_fn)(cl_t *c, const char *name, const char *arg, size_t len);
static void (*on_ack_fn)(cl_t *c, int64_t id, const char *arg, size_t len);
static void (*on_closed_fn)(cl_t *c);

static void want_out(cl_t *c, int on)
{
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
	if (c->want_out == on)
		return;
	c->want_out = on;
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void cl_close(cl_t *c, const char *why)
{
	if (c->fd < 0)
		return;
	if (why && c->st != ST_DONE && !quiet && ++ncomplaints <= 10)
		fprintf(stderr, "client %d (user %lld): %s%s\n", c->idx, (long long)c->uid, why,
			ncomplaints == 10 ? " (and so on: no more of these)" : "");
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	if (c->st < ST_READY)
		npending--;
	else
		nready--;
	c->st = ST_DONE;
	nclosed++;
	nopen--;
	c->rlen = c->wlen = 0;
	free(c->frag);
	c->frag = NULL;
	c->fraglen = 0;
	if (on_closed_fn)
		on_closed_fn(c);
}

/* Writes what is buffered; keeps the rest for EPOLLOUT. */
static void cl_flush(cl_t *c)
{
	size_t off = 0;
	while (off < c->wlen) {
		ssize_t w = write(c->fd, c->wb + off, c->wlen - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w <= 0) {
			cl_close(c, "write failed");
			return;
		}
		off += (size_t)w;
	}
	memmove(c->wb, c->wb + off, c->wlen - off);
	c->wlen -= off;
	want_out(c, c->wlen > 0);
}

static void cl_buf(cl_t *c, const void *p, size_t n)
{
	if (c->wlen + n > c->wcap) {
		c->wcap = (c->wlen + n) * 2 + 256;
		if (!(c->wb = realloc(c->wb, c->wcap)))
			bt_die("out of memory");
	}
	memcpy(c->wb + c->wlen, p, n);
	c->wlen += n;
}

/* Queues one masked WebSocket frame (opcode op) and flushes. */
static void ws_send(cl_t *c, int op, const char *p, size_t n)
{
	unsigned char h[14], key[4];
	size_t hl = 0;
	uint32_t r = (uint32_t)random();
	char *m;
	if (c->fd < 0)
		return;
	h[hl++] = (unsigned char)(0x80 | op);
	if (n < 126)
		h[hl++] = (unsigned char)(0x80 | n);
	else if (n < 65536) {
		h[hl++] = 0x80 | 126;
		h[hl++] = (unsigned char)(n >> 8);
		h[hl++] = (unsigned char)n;
	} else {
		h[hl++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			h[hl++] = (unsigned char)((uint64_t)n >> (8 * i));
	}
	memcpy(key, &r, 4);
	memcpy(h + hl, key, 4);
	hl += 4;
	cl_buf(c, h, hl);
	if (c->wlen + n > c->wcap) {
		c->wcap = (c->wlen + n) * 2 + 256;
		if (!(c->wb = realloc(c->wb, c->wcap)))
			bt_die("out of memory");
	}
	m = c->wb + c->wlen;
	for (size_t i = 0; i < n; i++)
		m[i] = (char)(p[i] ^ key[i & 3]);
	c->wlen += n;
	cl_flush(c);
}

static void ws_text(cl_t *c, const char *s)
{
	ws_send(c, 1, s, strlen(s));
}

/* Emits event with a JSON argument; ack >= 0 asks for an ack with that id. */
static void sio_emit(cl_t *c, int64_t ack, const char *event, const char *json)
{
	char buf[4096];
	if (ack >= 0)
		snprintf(buf, sizeof buf, "42" NSP ",%lld[\"%s\",%s]", (long long)ack, event, json);
	else
		snprintf(buf, sizeof buf, "42" NSP ",[\"%s\",%s]", event, json);
	ws_text(c, buf);
}

/* A non-blocking connection to the server from 127.0.0.(1 + i % sources). */
static int connect_from(int i)
{
	struct sockaddr_in a, src;
	int fd, one = 1;
	if (o_sources <= 1)
		return bt_connect(o_host, o_port, 1);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	memset(&src, 0, sizeof src);
	src.sin_family = AF_INET;
	src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(i % o_sources));
#ifdef IP_BIND_ADDRESS_NO_PORT
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
#endif
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)o_port);
	if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0 || inet_pton(AF_INET, o_host, &a.sin_addr) != 1 ||
	    (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void cl_start(cl_t *c)
{
	struct epoll_event ev;
	c->fd = connect_from(c->idx);
	if (c->fd < 0)
		bt_die("cannot connect to %s:%d: %s", o_host, o_port, strerror(errno));
	c->st = ST_CONNECTING;
	c->want_out = 1;
	c->entered = 0;
	c->join_ack = -1;
	ev.events = EPOLLIN | EPOLLOUT;
	ev.data.ptr = c;
	epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	npending++;
	nopen++;
}

/* Opens more connections while under the handshake and open limits. */
static void open_more(void)
{
	while (next_to_open < nto_open && npending < MAX_PENDING && nopen < max_open)
		cl_start(&cls[next_to_open++]);
}

static void on_connected(cl_t *c)
{
	char req[1024];
	char q[64] = "";
	int err = 0;
	socklen_t el = sizeof err;
	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
	if (err == ECONNREFUSED && !quiet)
		bt_die("chatbench: connection refused: is the server (still) running on %s:%d?", o_host, o_port);
	if (err) {
		cl_close(c, strerror(err));
		return;
	}
	if (!strcmp(o_enter, "query") && c->room >= 0)
		snprintf(q, sizeof q, "&icrId=%lld", (long long)o_rooms[c->room]);
	snprintf(req, sizeof req,
		 "GET /socket.io/?EIO=4&transport=websocket%s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
		 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		 "Sec-WebSocket-Version: 13\r\n\r\n",
		 q, o_host, o_port);
	c->st = ST_UPGRADE;
	cl_buf(c, req, strlen(req));
	cl_flush(c);
}

/* One Engine.IO packet (a whole text message). */
static void on_packet(cl_t *c, char *p, size_t n)
{
	p[n] = 0;
	if (n == 0)
		return;
	switch (p[0]) {
	case '0': /* open */
		if (c->st == ST_OPEN) {
			char buf[2048];
			snprintf(buf, sizeof buf, "40" NSP ",{\"token\":\"%s\"}", c->token);
			c->st = ST_AUTH;
			ws_text(c, buf);
		}
		return;
	case '2': /* ping */
		ws_text(c, "3");
		return;
	case '1':
		cl_close(c, "server closed the session");
		return;
	case '4':
		break;
	default:
		return;
	}
	/* Socket.IO packet: p[1] type, then "/chatting," */
	if (strncmp(p + 2, NSP ",", sizeof NSP) != 0) {
		if (p[1] == '0' || p[1] == '4')
			cl_close(c, "connect reply for another namespace");
		return;
	}
	char *b = p + 2 + sizeof NSP;
	size_t bl = n - (size_t)(b - p);
	if (p[1] == '0') {
		if (c->st == ST_AUTH) {
			c->st = ST_READY;
			npending--;
			nready++;
			if (on_ready_fn)
				on_ready_fn(c);
		}
	} else if (p[1] == '4') {
		fprintf(stderr, "client %d: connect refused: %s\n", c->idx, b);
		cl_close(c, NULL);
	} else if (p[1] == '2' || p[1] == '3') {
		int64_t id = -1;
		if (*b >= '0' && *b <= '9') {
			id = 0;
			while (*b >= '0' && *b <= '9')
				id = id * 10 + (*b++ - '0');
		}
		bl = n - (size_t)(b - p);
		if (p[1] == '3') {
			if (on_ack_fn)
				on_ack_fn(c, id, b, bl);
			return;
		}
		/* ["name",arg] */
		if (bl < 4 || b[0] != '[' || b[1] != '"')
			return;
		char *ne = strchr(b + 2, '"');
		if (!ne)
			return;
		*ne = 0;
		const char *arg = ne + 1;
		if (*arg == ',')
			arg++;
		if (on_event_fn)
			on_event_fn(c, b + 2, arg, n - (size_t)(arg - p));
	}
}

/* Parses what arrived: the upgrade reply, then WebSocket frames. */
static void on_input(cl_t *c)
{
	size_t off = 0;
	if (c->st == ST_UPGRADE) {
		char *e;
		c->rb[c->rlen] = 0;
		if (!(e = strstr(c->rb, "\r\n\r\n")))
			return;
		if (strncmp(c->rb, "HTTP/1.1 101", 12) != 0) {
			fprintf(stderr, "client %d: upgrade refused: %.200s\n", c->idx, c->rb);
			cl_close(c, NULL);
			return;
		}
		off = (size_t)(e - c->rb) + 4;
		c->st = ST_OPEN;
	}
	while (c->fd >= 0 && c->rlen - off >= 2) {
		unsigned char *h = (unsigned char *)c->rb + off;
		size_t avail = c->rlen - off, hl = 2, len = h[1] & 0x7f;
		int fin = h[0] & 0x80, op = h[0] & 0x0f;
		if (h[1] & 0x80) {
			cl_close(c, "masked frame from the server");
			return;
		}
		if (len == 126) {
			if (avail < 4)
				break;
			len = (size_t)h[2] << 8 | h[3];
			hl = 4;
		} else if (len == 127) {
			if (avail < 10)
				break;
			len = 0;
			for (int i = 0; i < 8; i++)
				len = len << 8 | h[2 + i];
			hl = 10;
		}
		if (avail < hl + len)
			break;
		char *pl = c->rb + off + hl;
		off += hl + len;
		if (op == 8) {
			cl_close(c, c->st == ST_DONE ? NULL : "close frame");
			return;
		}
		if (op == 9) {
			ws_send(c, 10, pl, len);
			continue;
		}
		if (op == 10)
			continue;
		if (op == 1 && fin) {
			/* on_packet writes a NUL at pl[len]: save that byte */
			char save = pl[len];
			on_packet(c, pl, len);
			if (c->fd >= 0 && off <= c->rlen)
				c->rb[off] = save;
			continue;
		}
		/* fragmented */
		c->frag = realloc(c->frag, c->fraglen + len + 1);
		memcpy(c->frag + c->fraglen, pl, len);
		c->fraglen += len;
		if (fin) {
			char *f = c->frag;
			size_t fl = c->fraglen;
			c->frag = NULL;
			c->fraglen = 0;
			on_packet(c, f, fl);
			free(f);
		}
	}
	if (c->fd >= 0) {
		memmove(c->rb, c->rb + off, c->rlen - off);
		c->rlen -= off;
	}
}

static void on_io(cl_t *c, uint32_t evs)
{
	if (c->st == ST_CONNECTING && (evs & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		on_connected(c);
		if (c->fd < 0)
			return;
	} else if ((evs & EPOLLOUT) && c->wlen)
		cl_flush(c);
	if (c->fd >= 0 && (evs & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
		for (;;) {
			ssize_t r;
			if (c->rcap - c->rlen < 65536 + 1) {
				c->rcap = c->rcap * 2 + 131072;
				if (!(c->rb = realloc(c->rb, c->rcap)))
					bt_die("out of memory");
			}
			r = read(c->fd, c->rb + c->rlen, c->rcap - c->rlen - 1);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 && errno == EAGAIN)
				break;
			if (r <= 0) {
				cl_close(c, c->st == ST_DONE ? NULL : (r == 0 ? "server closed the connection" : strerror(errno)));
				return;
			}
			c->rlen += (size_t)r;
			on_input(c);
			if (c->fd < 0)
				return;
			if ((size_t)r < 65536)
				break;
		}
	}
}

/* Runs the loop until done() says so or the deadline (us) passes; tick()
 * runs at least every ms. Returns 0, or -1 on the deadline. */
static int run_loop(int (*done)(void), void (*tick)(int64_t now), int64_t deadline)
{
	struct epoll_event evs[256];
	for (;;) {
		int64_t now = bt_now_us();
		open_more();
		if (tick)
			tick(now);
		if (done())
			return 0;
		if (now > deadline)
			return -1;
		int n = epoll_wait(ep, evs, 256, 1);
		for (int i = 0; i < n; i++)
			on_io((cl_t *)evs[i].data.ptr, evs[i].events);
	}
}

static void clients_init(int n, int from)
{
	ncls = n;
	cls = calloc((size_t)n, sizeof *cls);
	if (from + n > ntoks)
		bt_die("need %d tokens from %d, the file has %d", n, from, ntoks);
	for (int i = 0; i < n; i++) {
		cls[i].idx = i;
		cls[i].fd = -1;
		cls[i].uid = toks[from + i].uid;
		cls[i].token = toks[from + i].token;
		cls[i].room = -1;
		cls[i].join_ack = -1;
	}
	nto_open = n;
	next_to_open = 0;
	npending = nready = nclosed = nopen = 0;
}

static void close_all(void)
{
	for (int i = 0; i < ncls; i++)
		if (cls[i].fd >= 0) {
			ws_send(&cls[i], 8, "\x03\xe8", 2);
			cl_close(&cls[i], NULL);
		}
}

static char *icr_str(int room, char *buf)
{
	sprintf(buf, "%lld", (long long)o_rooms[room]);
	return buf;
}

/* --------------------------------------------------------- entering rooms */

static int64_t ack_seq = 1;
static int nentered, nfailed;
static void entered(cl_t *c, int ok, const char *why, size_t len);

static void enter_room(cl_t *c)
{
	char json[128], r[32];
	if (!strcmp(o_enter, "query"))
		return; /* setRoom will come */
	if (!strcmp(o_enter, "none")) {
		entered(c, 1, NULL, 0); /* connected and authenticated is enough */
		return;
	}
	snprintf(json, sizeof json, "{\"icrId\":\"%s\"}", icr_str(c->room, r));
	c->join_ack = ack_seq++;
	sio_emit(c, c->join_ack, "joinRoom", json);
}

static void entered(cl_t *c, int ok, const char *why, size_t len)
{
	if (c->entered)
		return;
	c->entered = 1;
	if (ok)
		nentered++;
	else {
		nfailed++;
		if (nfailed <= 5)
			fprintf(stderr, "client %d (user %lld): join failed: %.*s\n", c->idx, (long long)c->uid,
				(int)(len > 300 ? 300 : len), why);
	}
}

/* Join answers: the ack (if the server acks joinRoom), addUser or setRoom
 * naming our room, or an error event. */
static int join_event(cl_t *c, const char *name, const char *arg, size_t len)
{
	if (!strcmp(name, "addUser") || !strcmp(name, "setRoom")) {
		entered(c, 1, NULL, 0);
		return 1;
	}
	if (!strcmp(name, "error")) {
		entered(c, 0, arg, len);
		return 1;
	}
	return 0;
}

static void join_ack(cl_t *c, int64_t id, const char *arg, size_t len)
{
	if (id != c->join_ack)
		return;
	entered(c, strstr(arg, "\"fail\"") == NULL, arg, len);
}

/* ---------------------------------------------------------------- join */

static int join_done(void)
{
	return nentered + nfailed >= ncls || (nclosed >= ncls && next_to_open >= nto_open);
}

static void join_ready(cl_t *c)
{
	enter_room(c);
}

static void join_on_event(cl_t *c, const char *name, const char *arg, size_t len)
{
	if (join_event(c, name, arg, len) && c->entered) {
		ws_send(c, 8, "\x03\xe8", 2);
		cl_close(c, NULL);
	}
}

static void join_on_ack(cl_t *c, int64_t id, const char *arg, size_t len)
{
	join_ack(c, id, arg, len);
	if (c->entered) {
		ws_send(c, 8, "\x03\xe8", 2);
		cl_close(c, NULL);
	}
}

static void join_on_closed(cl_t *c)
{
	if (!c->entered) {
		c->entered = 1;
		nfailed++;
	}
}

static int cmd_join(void)
{
	int64_t t0 = bt_now_us();
	int rc;
	load_tokens();
	if (o_count < 1 || o_nrooms < 1)
		bt_die("join needs --count and --rooms");
	clients_init(o_count, o_from);
	for (int i = 0; i < ncls; i++) {
		cls[i].room = i / o_per;
		if (cls[i].room >= o_nrooms)
			bt_die("not enough rooms for %d users at %d per room", o_count, o_per);
	}
	max_open = o_conc;
	on_ready_fn = join_ready;
	on_event_fn = join_on_event;
	on_ack_fn = join_on_ack;
	on_closed_fn = join_on_closed;
	rc = run_loop(join_done, NULL, t0 + 300 * 1000000LL);
	close_all();
	printf("join_ok=%d\njoin_failed=%d\njoin_ms=%lld\n", nentered, nfailed + (ncls - nentered - nfailed),
	       (long long)(bt_now_us() - t0) / 1000);
	return rc || nfailed || nentered < ncls ? 1 : 0;
}

/* -------------------------------------------------------------- fan-out */

static int64_t *fo_sent_at, *fo_lat;
static int *fo_got;
static int fo_seq = -1, fo_done_n, fo_alive, fo_lost;
static int64_t fo_next_send;
static cl_t *fo_sender;

/* The number after prefix at the start of the chatMsg value, or -1. */
static long msg_tag(const char *arg, size_t len, char prefix, long *room)
{
	const char *p = memmem(arg, len, "\"chatMsg\":\"", 11);
	char *e;
	long v;
	if (!p || p[11] != prefix)
		return -1;
	v = strtol(p + 12, &e, 10);
	if (room)
		*room = *e == ':' ? strtol(e + 1, NULL, 10) : -1;
	return v;
}

static int64_t msg_id(const char *arg, size_t len)
{
	const char *p = memmem(arg, len, "\"icruMsgId\":", 12);
	if (!p)
		return -1;
	p += 12;
	if (*p == '"')
		p++;
	return strtoll(p, NULL, 10);
}

static void fo_event(cl_t *c, const char *name, const char *arg, size_t len)
{
	long seq;
	int64_t now;
	if (!c->entered) {
		join_event(c, name, arg, len);
		return;
	}
	if (strcmp(name, "getMsg") || c == fo_sender || o_ack)
		return;
	seq = msg_tag(arg, len, 'f', NULL);
	if (seq < 0 || seq >= o_messages)
		return;
	now = bt_now_us();
	if (++fo_got[seq] == fo_alive) {
		fo_lat[fo_done_n++] = now - fo_sent_at[seq];
		fo_next_send = now + o_gap_ms * 1000LL;
	}
}

static void fo_ack(cl_t *c, int64_t id, const char *arg, size_t len)
{
	if (!c->entered)
		join_ack(c, id, arg, len);
	else if (c == fo_sender && strstr(arg, "\"fail\""))
		fprintf(stderr, "sendMsg failed: %.*s\n", (int)(len > 300 ? 300 : len), arg);
	else if (c == fo_sender && o_ack && fo_seq >= 0 && fo_seq < o_messages && fo_got[fo_seq] < fo_alive) {
		/* send → ack: the message is complete for everyone */
		int64_t now = bt_now_us();
		fo_got[fo_seq] = fo_alive;
		fo_lat[fo_done_n++] = now - fo_sent_at[fo_seq];
		fo_next_send = now + o_gap_ms * 1000LL;
	}
}

static int tp_never(void)
{
	return 0;
}

static int fo_all_in(void)
{
	return nentered + nfailed >= ncls || nclosed > 0;
}

static int fo_done(void)
{
	return fo_done_n >= o_messages || fo_sender->fd < 0 || fo_alive == 0 ||
	       (o_until_file && fo_next_send != INT64_MAX && access(o_until_file, F_OK) == 0);
}

/* A receiver the server disconnected: the rest still count. */
static void fo_closed(cl_t *c)
{
	if (c == fo_sender || !c->entered)
		return;
	fo_alive--;
	fo_lost++;
	if (fo_seq >= 0 && fo_seq < o_messages && fo_got[fo_seq] >= fo_alive && fo_alive > 0 &&
	    fo_next_send == INT64_MAX) {
		/* the one it was waiting for is gone: the message is complete */
		int64_t now = bt_now_us();
		fo_lat[fo_done_n++] = now - fo_sent_at[fo_seq];
		fo_next_send = now + o_gap_ms * 1000LL;
	}
}

static void fo_tick(int64_t now)
{
	char json[128], r[32];
	if (fo_seq >= o_messages - 1 || now < fo_next_send)
		return;
	if (fo_seq >= 0 && fo_got[fo_seq] < fo_alive) {
		/* not all got it yet: give up on it after 5 s */
		if (now - fo_sent_at[fo_seq] < 5000000)
			return;
		fprintf(stderr, "fanout: message %d reached %d of %d\n", fo_seq, fo_got[fo_seq], fo_alive);
		fo_lat[fo_done_n++] = now - fo_sent_at[fo_seq];
	}
	fo_seq++;
	snprintf(json, sizeof json, "{\"icrId\":\"%s\",\"chatMsg\":\"f%d\"}", icr_str(0, r), fo_seq);
	fo_next_send = INT64_MAX;
	fo_sent_at[fo_seq] = bt_now_us();
	sio_emit(fo_sender, ack_seq++, "sendMsg", json);
}

static int cmd_fanout(void)
{
	int64_t t0 = bt_now_us(), t1;
	long rss_before = -1, rss_in = -1, rss_after = -1, hwm = -1;
	int rc;
	load_tokens();
	if (o_receivers < 1 || o_messages < 1 || o_nrooms != 1)
		bt_die("fanout needs --receivers, --messages and one --room");
	if (o_pid)
		rss_before = bt_rss_kb(o_pid, "VmRSS");
	clients_init(o_receivers + 1, 0);
	for (int i = 0; i < ncls; i++)
		cls[i].room = 0;
	fo_sender = &cls[o_receivers];
	fo_sent_at = calloc((size_t)o_messages, sizeof *fo_sent_at);
	fo_lat = calloc((size_t)o_messages, sizeof *fo_lat);
	fo_got = calloc((size_t)o_messages, sizeof *fo_got);
	on_ready_fn = enter_room;
	on_event_fn = fo_event;
	on_ack_fn = fo_ack;
	on_closed_fn = NULL;
	rc = run_loop(fo_all_in, NULL, t0 + 120 * 1000000LL);
	t1 = bt_now_us();
	printf("fanout_clients=%d\nfanout_entered=%d\nfanout_connect_ms=%lld\n", ncls, nentered,
	       (long long)(t1 - t0) / 1000);
	if (rc || nentered < ncls) {
		fprintf(stderr, "fanout: only %d of %d clients entered the room (%d failed, %d closed)\n", nentered,
			ncls, nfailed, nclosed);
		close_all();
		return 1;
	}
	/* settle: let the server finish what the joins queued */
	fo_alive = o_receivers;
	on_closed_fn = fo_closed;
	run_loop(fo_done, NULL, bt_now_us() + 1000000);
	if (o_pid)
		rss_in = bt_rss_kb(o_pid, "VmRSS");
	fo_next_send = 0;
	t1 = bt_now_us();
	/* a time limit: report what was measured by then (the count shows) */
	run_loop(fo_done, fo_tick, t1 + o_max_s * 1000000LL);
	rc = fo_sender->fd < 0 ? -1 : 0;
	if (fo_done_n < o_messages)
		fprintf(stderr, "fanout: %d of %d messages in the %d s limit\n", fo_done_n, o_messages, o_max_s);
	if (o_pid) {
		rss_after = bt_rss_kb(o_pid, "VmRSS");
		hwm = bt_rss_kb(o_pid, "VmHWM");
	}
	qsort(fo_lat, (size_t)fo_done_n, sizeof *fo_lat, bt_cmp_i64);
	printf("fanout_lost_clients=%d\n", fo_lost);
	printf("fanout_messages=%d\nfanout_p50_us=%lld\nfanout_p90_us=%lld\nfanout_p99_us=%lld\nfanout_max_us=%lld\n"
	       "fanout_send_ms=%lld\n",
	       fo_done_n, (long long)bt_pct(fo_lat, (size_t)fo_done_n, 50), (long long)bt_pct(fo_lat, (size_t)fo_done_n, 90),
	       (long long)bt_pct(fo_lat, (size_t)fo_done_n, 99), (long long)(fo_done_n ? fo_lat[fo_done_n - 1] : 0),
	       (long long)(bt_now_us() - t1) / 1000);
	if (o_pid)
		printf("rss_before_kb=%ld\nrss_clients_kb=%ld\nrss_after_kb=%ld\nrss_peak_kb=%ld\n", rss_before, rss_in,
		       rss_after, hwm);
	if (o_hold > 0) {
		/* keep the clients connected (answering pings) for inspection */
		fflush(stdout);
		fprintf(stderr, "fanout: holding %d clients for %d s\n", nready, o_hold);
		run_loop(tp_never, NULL, bt_now_us() + o_hold * 1000000LL);
	}
	close_all();
	return rc || fo_done_n == 0 ? 1 : 0;
}

/* ----------------------------------------------------------- throughput */

static int tp_sending, tp_killed;
static int64_t tp_t0, tp_t1, tp_acked, tp_acked_win, tp_sent, tp_delivered, tp_failed, tp_delivered_win;
static int64_t *tp_ids;
static size_t tp_nids, tp_capids;

static void tp_record(int64_t id)
{
	if (!o_ids || id <= 0)
		return;
	if (tp_nids == tp_capids) {
		tp_capids = tp_capids * 2 + 65536;
		if (!(tp_ids = realloc(tp_ids, tp_capids * sizeof *tp_ids)))
			bt_die("out of memory");
	}
	tp_ids[tp_nids++] = id;
}

static void tp_send_more(cl_t *c)
{
	char json[128], r[32];
	while (tp_sending && c->fd >= 0 && c->inflight < o_window) {
		int64_t seq = c->next_seq++;
		if ((size_t)seq >= c->done_cap) {
			size_t old = c->done_cap;
			c->done_cap = c->done_cap * 2 + 4096;
			c->done = realloc(c->done, c->done_cap);
			memset(c->done + old, 0, c->done_cap - old);
		}
		snprintf(json, sizeof json, "{\"icrId\":\"%s\",\"chatMsg\":\"t%lld:%d\"}", icr_str(c->room, r),
			 (long long)seq, c->room);
		/* the ack id is the sequence number + 1 (0 is a valid id too) */
		sio_emit(c, seq + 1, "sendMsg", json);
		c->inflight++;
		tp_sent++;
	}
}

static void tp_complete(cl_t *c, int64_t seq, int ok)
{
	if (seq < 0 || (size_t)seq >= c->done_cap || seq >= c->next_seq || c->done[seq])
		return;
	c->done[seq] = 1;
	c->inflight--;
	if (ok) {
		int64_t now = bt_now_us();
		tp_acked++;
		if (now >= tp_t0 && now <= tp_t1)
			tp_acked_win++;
	} else
		tp_failed++;
	tp_send_more(c);
}

static void tp_event(cl_t *c, const char *name, const char *arg, size_t len)
{
	long seq, room;
	if (!c->entered) {
		join_event(c, name, arg, len);
		return;
	}
	if (strcmp(name, "getMsg"))
		return;
	seq = msg_tag(arg, len, 't', &room);
	if (seq < 0)
		return;
	tp_delivered++;
	{
		int64_t now = bt_now_us();
		if (now >= tp_t0 && now <= tp_t1)
			tp_delivered_win++;
	}
	tp_record(msg_id(arg, len));
	if (c->sender && room == c->room && (int64_t)msg_id(arg, len) > 0) {
		/* our own echo: as good as an ack (the message is committed) */
		const char *u = memmem(arg, len, "\"userId\":", 9);
		if (u) {
			u += 9;
			if (*u == '"')
				u++;
			if (strtoll(u, NULL, 10) == c->uid)
				tp_complete(c, seq, 1);
		}
	}
}

static void tp_ack(cl_t *c, int64_t id, const char *arg, size_t len)
{
	if (!c->entered) {
		join_ack(c, id, arg, len);
		return;
	}
	if (!c->sender || id < 1)
		return;
	if (strstr(arg, "\"fail\"")) {
		if (tp_failed < 5)
			fprintf(stderr, "sendMsg failed: %.*s\n", (int)(len > 300 ? 300 : len), arg);
		tp_complete(c, id - 1, 0);
		return;
	}
	tp_record(msg_id(arg, len));
	tp_complete(c, id - 1, 1);
}

static int tp_all_in(void)
{
	return nentered + nfailed >= ncls || nclosed > 0;
}

static int tp_stop_flag;
static int tp_stop(void)
{
	return tp_stop_flag;
}

static void tp_tick(int64_t now)
{
	if (tp_sending && now >= tp_t1 && !o_kill_pid) {
		tp_sending = 0;
	}
	if (o_kill_pid && !tp_killed && now >= tp_t0 + (int64_t)(o_kill_after * 1e6)) {
		kill(o_kill_pid, SIGKILL);
		tp_killed = 1;
		quiet = 1;
		fprintf(stderr, "tp: sent SIGKILL to %d after %.1f s (%lld messages acked so far)\n", o_kill_pid,
			o_kill_after, (long long)tp_acked);
	}
	if (o_kill_pid) {
		if (tp_killed && nready == 0 && npending == 0)
			tp_stop_flag = 1;
		return;
	}
	if (!tp_sending) {
		int64_t inflight = 0;
		static int64_t last_change, last_delivered = -1;
		for (int i = 0; i < ncls; i++)
			if (cls[i].sender && cls[i].fd >= 0)
				inflight += cls[i].inflight;
		if (tp_delivered != last_delivered) {
			last_delivered = tp_delivered;
			last_change = now;
		}
		if ((inflight == 0 && tp_delivered >= tp_acked * o_per) || now - last_change > 2000000)
			tp_stop_flag = 1;
	}
}

static int cmd_tp(void)
{
	int64_t t0 = bt_now_us(), t_end;
	int rc;
	long rss = -1;
	load_tokens();
	if (o_nrooms < 1 || o_per < 1)
		bt_die("tp needs --rooms and --per");
	clients_init(o_nrooms * o_per, 0);
	for (int i = 0; i < ncls; i++) {
		cls[i].room = i / o_per;
		cls[i].sender = i % o_per == 0;
	}
	on_ready_fn = enter_room;
	on_event_fn = tp_event;
	on_ack_fn = tp_ack;
	on_closed_fn = NULL;
	rc = run_loop(tp_all_in, NULL, t0 + 120 * 1000000LL);
	if (rc || nentered < ncls) {
		fprintf(stderr, "tp: only %d of %d clients entered their rooms\n", nentered, ncls);
		close_all();
		return 1;
	}
	fprintf(stderr, "tp: %d clients in %d rooms after %lld ms\n", ncls, o_nrooms,
		(long long)(bt_now_us() - t0) / 1000);
	run_loop(tp_stop, NULL, bt_now_us() + 500000); /* settle */
	on_closed_fn = NULL;
	tp_sending = 1;
	tp_t0 = bt_now_us();
	tp_t1 = tp_t0 + (int64_t)(o_duration * 1e6);
	for (int i = 0; i < ncls; i++)
		if (cls[i].sender)
			tp_send_more(&cls[i]);
	rc = run_loop(tp_stop, tp_tick, tp_t1 + 60 * 1000000LL);
	t_end = bt_now_us();
	if (o_pid)
		rss = bt_rss_kb(o_pid, "VmRSS");
	if (o_kill_pid)
		printf("dur_sent=%lld\ndur_acked=%lld\ndur_delivered=%lld\ndur_killed=%d\n", (long long)tp_sent,
		       (long long)tp_acked, (long long)tp_delivered, tp_killed);
	else
		printf("tp_closed_by_server=%d\n", nclosed);
	if (!o_kill_pid)
		printf("tp_clients=%d\ntp_seconds=%.2f\ntp_sent=%lld\ntp_acked=%lld\ntp_failed=%lld\n"
		       "tp_acked_in_window=%lld\ntp_msgs_per_s=%.0f\ntp_delivered=%lld\ntp_expected=%lld\n"
		       "tp_deliveries_per_s=%.0f\ntp_drain_ms=%lld\n",
		       ncls, o_duration, (long long)tp_sent, (long long)tp_acked, (long long)tp_failed,
		       (long long)tp_acked_win, (double)tp_acked_win / o_duration, (long long)tp_delivered,
		       (long long)(tp_acked * o_per), (double)tp_delivered_win / o_duration,
		       (long long)(t_end - tp_t1) / 1000);
	if (rss >= 0)
		printf("tp_rss_kb=%ld\n", rss);
	if (o_ids) {
		FILE *f = fopen(o_ids, "w");
		if (!f)
			bt_die("cannot write %s", o_ids);
		qsort(tp_ids, tp_nids, sizeof *tp_ids, bt_cmp_i64);
		size_t u = 0;
		for (size_t i = 0; i < tp_nids; i++)
			if (i == 0 || tp_ids[i] != tp_ids[i - 1]) {
				fprintf(f, "%lld\n", (long long)tp_ids[i]);
				u++;
			}
		fclose(f);
		printf("%s_ids=%zu\n", o_kill_pid ? "dur" : "tp", u);
	}
	close_all();
	return rc ? 1 : 0;
}

/* ----------------------------------------------------------------- hold */

static int hold_all_in(void)
{
	return nready + nclosed >= ncls;
}

/* The Threads: line of /proc/PID/status, or -1. */
static long proc_threads(int pid)
{
	char path[64], line[256];
	long n = -1;
	FILE *f;
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "Threads:", 8))
			n = atol(line + 8);
	fclose(f);
	return n;
}

static void touch_ready(void)
{
	FILE *f;
	fflush(stdout);
	if (o_ready && (f = fopen(o_ready, "w")))
		fclose(f);
}

static int cmd_hold(void)
{
	int64_t t0 = bt_now_us();
	long rss0 = -1, th0 = -1;
	int rc;
	load_tokens();
	if (o_count < 1)
		bt_die("hold needs --count");
	if (o_pid) {
		rss0 = bt_rss_kb(o_pid, "VmRSS");
		th0 = proc_threads(o_pid);
	}
	clients_init(o_count, 0);
	on_ready_fn = NULL;
	on_event_fn = NULL;
	on_ack_fn = NULL;
	on_closed_fn = NULL;
	rc = run_loop(hold_all_in, NULL, t0 + 600 * 1000000LL);
	/* settle: the server finishes what the connects queued */
	run_loop(tp_never, NULL, bt_now_us() + 2000000);
	printf("hold_clients=%d\nhold_connected=%d\nhold_closed=%d\nhold_connect_ms=%lld\n", ncls, nready, nclosed,
	       (long long)(bt_now_us() - t0) / 1000);
	if (o_pid) {
		long rss = bt_rss_kb(o_pid, "VmRSS");
		printf("hold_rss_before_kb=%ld\nhold_rss_kb=%ld\nhold_threads_before=%ld\nhold_threads=%ld\n", rss0, rss,
		       th0, proc_threads(o_pid));
	}
	touch_ready();
	run_loop(tp_never, NULL, bt_now_us() + (o_hold > 0 ? o_hold : 60) * 1000000LL);
	printf("hold_still_connected=%d\n", nready - nclosed);
	close_all();
	return rc || nready < ncls ? 1 : 0;
}

static int cmd_idle(void)
{
	int *fds, n = 0;
	if (o_count < 1)
		bt_die("idle needs --count");
	fds = calloc((size_t)o_count, sizeof *fds);
	for (int i = 0; i < o_count; i++) {
		fds[i] = connect_from(i);
		if (fds[i] >= 0)
			n++;
	}
	usleep(300000);
	printf("idle_opened=%d\n", n);
	touch_ready();
	sleep((unsigned)(o_hold > 0 ? o_hold : 60));
	for (int i = 0; i < o_count; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	return n == o_count ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		bt_die("usage: chatbench login|join|fanout|tp|hold|idle [options] (see the comment at the top)");
	signal(SIGPIPE, SIG_IGN);
	bt_nofile_max();
	srandom((unsigned)bt_now_us());
	parse_opts(argc, argv);
	ep = epoll_create1(0);
	if (!strcmp(argv[1], "login"))
		return cmd_login();
	if (!strcmp(argv[1], "join"))
		return cmd_join();
	if (!strcmp(argv[1], "fanout"))
		return cmd_fanout();
	if (!strcmp(argv[1], "tp"))
		return cmd_tp();
	if (!strcmp(argv[1], "hold"))
		return cmd_hold();
	if (!strcmp(argv[1], "idle"))
		return cmd_idle();
	bt_die("unknown command %s", argv[1]);
	return 1;
}
