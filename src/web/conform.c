/*
 * conform.c — `dongmul conformance`: the reference application that the
 * official Engine.IO and Socket.IO protocol test suites talk to, served by
 * sio — the very code of the real server, no protocol line of its own — so
 * that the suites can check sio as a third-party client meets it. A test
 * command only: nothing of the market runs (no accounts, no chat), the
 * database is a scratch one in a temporary directory. Prefix: conform_.
 *
 * What it serves (the suites' settings are the defaults: 127.0.0.1:3000,
 * pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1000000; any server
 * flag given after them wins):
 *   - /engine.io/: an Engine.IO-level echo: every message packet goes back
 *     as it came, text or binary (sio_set_eio_app);
 *   - /socket.io/, namespaces "/" and "/custom" (sio_set_app, sio_add_app):
 *     a CONNECT is accepted with any auth object, and an "auth" event
 *     echoes it ({} when there is none); an event "message" comes back as
 *     "message-back" with the same arguments, "message-with-ack" is
 *     answered on its ack with its arguments — binary attachments
 *     included: these namespaces take binary packets (sio_app_t.binary),
 *     which the real server's /chatting refuses.
 * Each connection counts as its own signed-in user (there are no
 * accounts), so sio's connect deadline is met by connecting.
 *
 * The "auth" event goes out in a later write than the CONNECT reply
 * (AUTH_LATER_MS): the suites read with ws 8.5, which emits every frame of
 * one read at once, and attach the listener for the "auth" frame only
 * after the CONNECT frame's listener ran, so two frames in one read lose
 * the second. The reference server writes one packet at a time; sio
 * writes what is queued together (that is how a room broadcast stays
 * cheap), so the mode waits a moment instead.
 *
 * Thread-safety: callbacks run on sio's threads; shared state is an atomic
 * counter and the list of delayed emits (later_lock). A socket's conform
 * data is written by on_connect and read by on_ready, which sio runs one
 * after the other for one packet.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>
#include <psa/crypto.h>
#include <sqlite3.h>

#include "config.h"
#include "conform.h"
#include "db.h"
#include "dm.h"
#include "http.h"
#include "jobs.h"
#include "mem.h"
#include "sio.h"

enum { NS_ROOT, NS_CUSTOM, NS_COUNT };

/* Per socket: the auth payload of each namespace's CONNECT, from
 * on_connect until on_ready sent it back. */
typedef struct conform_sock {
	char *auth[NS_COUNT];
} conform_sock_t;

#define AUTH_LATER_MS 10

static _Atomic int64_t next_uid = 1;

/* An "auth" event to send from the timer (holds a reference to s). */
typedef struct later {
	struct later *next;
	sio_sock_t *s;
	const sio_app_t *app;
	char *arr;
} later_t;
static pthread_mutex_t later_lock = PTHREAD_MUTEX_INITIALIZER;
static later_t *later_head; /* later_lock */

/* Timer: sends the delayed emits queued before this tick. */
static void later_run(void *unused)
{
	later_t *l, *rev = NULL;
	(void)unused;
	pthread_mutex_lock(&later_lock);
	l = later_head;
	later_head = NULL;
	pthread_mutex_unlock(&later_lock);
	/* the list is newest first: sent oldest first */
	for (later_t *nx; l; l = nx) {
		nx = l->next;
		l->next = rev;
		rev = l;
	}
	l = rev;
	while (l) {
		later_t *nx = l->next;
		sio_emit_all(l->s, l->app, l->arr, NULL, 0);
		sio_unref(l->s);
		free(l->arr);
		free(l);
		l = nx;
	}
}

static void sock_free(void *p)
{
	conform_sock_t *c = p;
	for (int i = 0; i < NS_COUNT; i++)
		free(c->auth[i]);
	free(c);
}

/* The first column of sql run with ?1 = arg on this thread's reader, as
 * malloc'd text; NULL on NULL, a failure or no memory. */
static char *json_of(const char *sql, const char *arg)
{
	sqlite3 *db = db_reader();
	sqlite3_stmt *st;
	char *out = NULL;
	if (!db || !(st = db_query(db, sql, DB_TEXT(arg))))
		return NULL;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		out = strdup((const char *)sqlite3_column_text(st, 0));
	db_done(st);
	return out;
}

/* CONNECT to namespace ns: any auth that is an object (or none). */
static int on_connect_ns(int ns, sio_sock_t *s, const sio_conninfo_t *ci, char *err, size_t errcap)
{
	conform_sock_t *c = sio_user(s);
	char *auth = json_of("SELECT CASE WHEN json_type(?1) = 'object' THEN json(?1) END", ci->auth ? ci->auth : "{}");

	if (!auth) {
		dm_strlcpy(err, "Invalid auth payload", errcap);
		return DM_EINVAL;
	}
	if (!c) {
		if (!(c = calloc(1, sizeof *c))) {
			free(auth);
			return DM_ENOMEM;
		}
		sio_set_user(s, c, sock_free);
	}
	free(c->auth[ns]);
	c->auth[ns] = auth;
	if (!sio_uid(s))
		sio_set_uid(s, atomic_fetch_add(&next_uid, 1));
	return DM_OK;
}

/* After the CONNECT reply: 42[/nsp,]["auth",<the payload>]. */
static void on_ready_ns(int ns, const sio_app_t *app, sio_sock_t *s)
{
	conform_sock_t *c = sio_user(s);
	char *arr;
	if (!c || !c->auth[ns])
		return;
	arr = json_of("SELECT json_array('auth', json(?1))", c->auth[ns]);
	free(c->auth[ns]);
	c->auth[ns] = NULL;
	if (!arr)
		return;
	later_t *l = malloc(sizeof *l);
	if (!l) {
		sio_emit_all(s, app, arr, NULL, 0);
		free(arr);
		return;
	}
	sio_ref(s);
	l->s = s;
	l->app = app;
	l->arr = arr;
	pthread_mutex_lock(&later_lock);
	l->next = later_head;
	later_head = l;
	pthread_mutex_unlock(&later_lock);
}

/* Echo: "message" back as "message-back", "message-with-ack" answered on
 * its ack; the attachments go back with them. Other events: nothing. */
static void on_event_ns(const sio_app_t *app, sio_sock_t *s, const char *array, const sio_bin_t *att, int natt,
			int64_t ack)
{
	char *name = json_of("SELECT json_extract(?1, '$[0]')", array), *out = NULL;
	if (!name)
		return;
	if (!strcmp(name, "message")) {
		if ((out = json_of("SELECT json_set(?1, '$[0]', 'message-back')", array)))
			sio_emit_all(s, app, out, att, natt);
	} else if (!strcmp(name, "message-with-ack") && ack >= 0) {
		if ((out = json_of("SELECT json_remove(?1, '$[0]')", array)))
			sio_ack_all(s, app, ack, out, att, natt);
	}
	free(out);
	free(name);
}

static const sio_app_t app_root, app_custom;

static int root_connect(sio_sock_t *s, const sio_conninfo_t *ci, char *err, size_t errcap)
{
	return on_connect_ns(NS_ROOT, s, ci, err, errcap);
}

static int custom_connect(sio_sock_t *s, const sio_conninfo_t *ci, char *err, size_t errcap)
{
	return on_connect_ns(NS_CUSTOM, s, ci, err, errcap);
}

static void root_ready(sio_sock_t *s)
{
	on_ready_ns(NS_ROOT, &app_root, s);
}

static void custom_ready(sio_sock_t *s)
{
	on_ready_ns(NS_CUSTOM, &app_custom, s);
}

static void root_event(sio_sock_t *s, const char *array, const sio_bin_t *att, int natt, int64_t ack)
{
	on_event_ns(&app_root, s, array, att, natt, ack);
}

static void custom_event(sio_sock_t *s, const char *array, const sio_bin_t *att, int natt, int64_t ack)
{
	on_event_ns(&app_custom, s, array, att, natt, ack);
}

static const sio_app_t app_root = {
	.nsp = "/",
	.on_connect = root_connect,
	.on_ready = root_ready,
	.on_event_all = root_event,
	.binary = 1,
};

static const sio_app_t app_custom = {
	.nsp = "/custom",
	.on_connect = custom_connect,
	.on_ready = custom_ready,
	.on_event_all = custom_event,
	.binary = 1,
};

/* Engine.IO level: every message back as it came. */
static void eio_message(sio_sock_t *s, const char *data, size_t len, int binary)
{
	sio_send(s, data, len, binary);
}

static const sio_eio_app_t app_eio = {
	.path = "/engine.io",
	.on_message = eio_message,
};

/* Removes the scratch data directory dir (what db_open put there). */
static void scratch_remove(const char *dir)
{
	static const char *const files[] = {"dongmul.db", "dongmul.db-wal", "dongmul.db-shm", "dongmul.db-journal"};
	char p[CFG_PATH + 32];
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
		if (dm_snprintf(p, sizeof p, "%s/%s", dir, files[i]) == DM_OK)
			unlink(p);
	if (dm_snprintf(p, sizeof p, "%s/images", dir) == DM_OK)
		rmdir(p);
	if (rmdir(dir) != 0)
		dm_warn("conformance: could not remove %s", dir);
}

/* Serves until SIGINT/SIGTERM. Returns the exit status. */
static int conform_serve(void)
{
	sigset_t sigs;
	int sig, rc = 1;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (psa_crypto_init() != PSA_SUCCESS) {
		dm_error("crypto initialisation failed");
		return 1;
	}
	if (mem_init() != DM_OK || db_open(cfg.data) != DM_OK)
		goto free_crypto;
	sio_set_app(&app_root);
	if (sio_add_app(&app_custom) != DM_OK)
		goto close_db;
	sio_set_eio_app(&app_eio);
	if (sio_init() != DM_OK) {
		dm_error("sio: start failed");
		goto stop_sio;
	}
	if (jobs_timer("conformance auth", AUTH_LATER_MS, later_run, NULL) != DM_OK || jobs_start(1) != DM_OK) {
		dm_error("cannot start the thread pool");
		goto stop_jobs;
	}
	if (http_start() != DM_OK)
		goto stop_jobs;
	dm_info("dongmul conformance serving on %s: Engine.IO echo on /engine.io/, Socket.IO on /socket.io/ "
		"(namespaces / and /custom)", cfg.http);
	do {
		if (sigwait(&sigs, &sig) != 0)
			sig = SIGTERM;
	} while (sig != SIGINT && sig != SIGTERM);
	dm_stopping = 1;
	rc = 0;
	http_stop();
stop_jobs:
	jobs_stop();
	later_run(NULL); /* what the timer did not send: references dropped */
stop_sio:
	sio_stop();
close_db:
	db_close();
	sqlite3_shutdown();
free_crypto:
	mbedtls_psa_crypto_free();
	return rc;
}

int conform_cmd(int argc, char **argv)
{
	static const char *const defaults[] = {"--http", "127.0.0.1:3000", "--sio-ping-interval", "300",
					       "--sio-ping-timeout", "200", "--sio-max-payload", "1000000"};
	enum { ND = sizeof defaults / sizeof defaults[0] };
	char scratch[] = "/tmp/dongmul-conformance-XXXXXX", err[512];
	char **args = calloc((size_t)argc + ND + 3, sizeof *args);
	int n = 0, own_data = 0, rc;

	if (!args)
		return 1;
	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], "--data") || !strncmp(argv[i], "--data=", 7))
			own_data = 1;
	for (int i = 0; i < ND; i++)
		args[n++] = (char *)defaults[i];
	if (!own_data && getenv("DONGMUL_DATA") == NULL) {
		if (!mkdtemp(scratch)) {
			fprintf(stderr, "dongmul conformance: cannot make a scratch directory in /tmp\n");
			free(args);
			return 1;
		}
		args[n++] = "--data";
		args[n++] = scratch;
	} else
		scratch[0] = 0;
	for (int i = 0; i < argc; i++)
		args[n++] = argv[i];
	rc = cfg_parse(n, args, err, sizeof err);
	free(args);
	if (rc == CFG_HELP) {
		printf("dongmul conformance [FLAGS]: the reference app of the Engine.IO/Socket.IO protocol test\n"
		       "suites (a test command). Defaults: --http 127.0.0.1:3000 --sio-ping-interval 300\n"
		       "--sio-ping-timeout 200 --sio-max-payload 1000000, a scratch --data; the server's\n"
		       "flags below apply.\n\n");
		cfg_usage(stdout);
		rc = 0;
	} else if (rc != CFG_OK) {
		fprintf(stderr, "dongmul conformance: %s\n", err);
		rc = 2;
	} else {
		if (!strcmp(cfg.log_level, "debug"))
			dm_log_level = DM_LOG_DEBUG;
		else if (!strcmp(cfg.log_level, "warn"))
			dm_log_level = DM_LOG_WARN;
		else if (!strcmp(cfg.log_level, "error"))
			dm_log_level = DM_LOG_ERROR;
		rc = conform_serve();
	}
	if (scratch[0])
		scratch_remove(scratch);
	return rc;
}
