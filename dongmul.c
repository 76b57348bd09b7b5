/*
 * dongmul — one static binary that runs a whole neighborhood barter market.
 *
 * main(): the command line, configuration, start and orderly stop of every
 * part. Start order: config, database, token key, parts (routes, timers),
 * thread pool, HTTP. SIGHUP re-reads --cert/--key. Stop order
 * (SIGTERM/SIGINT): stop accepting and close
 * connections, finish queued writes, checkpoint, exit 0.
 */
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <psa/crypto.h>
#include <sqlite3.h>

#include "account.h"
#include "acme.h"
#include "auth.h"
#include "backup.h"
#include "block.h"
#include "chat.h"
#include "config.h"
#include "conform.h"
#include "db.h"
#include "dm.h"
#include "http.h"
#include "image.h"
#include "item.h"
#include "jobs.h"
#include "keyword.h"
#include "mail.h"
#include "mem.h"
#include "notify.h"
#include "oidc.h"
#include "operator.h"
#include "push.h"
#include "quota.h"
#include "refusal.h"
#include "region.h"
#include "sio.h"
#include "tls.h"
#include "trust.h"
#include "web.h"

#ifndef DONGMUL_VERSION
#define DONGMUL_VERSION "dev"
#endif

/* The parts, in start order. Each registers its routes, timers and
 * /metrics figures in init (called before the pool and HTTP start) and
 * releases what it holds in stop (called after HTTP and the pool stopped,
 * in the reverse order); stop is NULL where init holds nothing. The order
 * that matters: http's figures first (the /metrics order), image before
 * item (the photo directory exists before item sweeps it and before
 * anything stores a photo). */
typedef struct part {
	const char *name;
	int (*init)(void);
	void (*stop)(void);
} part_t;

/* The appointments part (appt.c) has no header of its own. */
int appt_init(void);
void appt_stop(void);

static const part_t parts[] = {
	{"http", http_init, NULL},
	{"acme", acme_init, acme_stop},
	{"quota", quota_init, quota_stop},
	{"mail", mail_init, mail_stop},
	{"account", account_init, account_stop},
	{"oidc", oidc_init, oidc_stop},
	{"image", image_init, NULL},
	{"item", item_init, item_stop},
	{"notify", notify_init, notify_stop},
	{"push", push_init, push_stop},
	{"trust", trust_init, trust_stop},
	{"chat", chat_init, chat_stop},
	{"sio", sio_init, sio_stop},
	{"region", region_init, region_stop},
	{"operator", operator_init, NULL},
	{"block", block_init, block_stop},
	{"keyword", keyword_init, keyword_stop},
	{"appt", appt_init, appt_stop},
	{"web", web_init, NULL},
	{"backup", backup_init, NULL},
};
#define NPARTS (sizeof parts / sizeof parts[0])

static int set_log_level(void)
{
	static const char *names[] = {"debug", "info", "warn", "error"};
	for (int i = 0; i < 4; i++)
		if (!strcmp(cfg.log_level, names[i]))
			dm_log_level = i;
	return DM_OK;
}

/* Every open connection is a file descriptor: raise the soft open-files
 * limit to the hard one and say how many connections that holds (a few
 * dozen descriptors go to the database, listeners and event loops). */
static void raise_nofile(void)
{
	struct rlimit rl;
	rlim_t was;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		dm_warn("getrlimit(RLIMIT_NOFILE) failed: connections are limited by the open-files limit");
		return;
	}
	was = rl.rlim_cur;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			rl.rlim_cur = was;
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		dm_info("open files: no limit; connections are limited by memory");
	else
		dm_info("open files: %llu (soft limit was %llu): room for about %llu connections",
			(unsigned long long)rl.rlim_cur, (unsigned long long)was,
			(unsigned long long)(rl.rlim_cur > 64 ? rl.rlim_cur - 64 : 0));
}


/* Starts every part and serves until SIGTERM/SIGINT; with list_routes,
 * starts the parts (they register their routes), prints the route table
 * and stops without serving (`dongmul routes`: the API reference's tests
 * compare it with docs/openapi.json). Returns the exit status. */
static int serve(int list_routes)
{
	sigset_t sigs;
	int sig, rc = 1;
	size_t started = 0;

	/* every thread created from here on inherits the blocked set; only
	 * sigwait below receives SIGINT/SIGTERM/SIGHUP */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (psa_crypto_init() != PSA_SUCCESS) {
		dm_error("crypto initialisation failed");
		return 1;
	}
	if (mem_init() != DM_OK || db_open(cfg.data) != DM_OK)
		return 1;
	if (auth_init(cfg.data) != DM_OK)
		goto close_db;
	for (; started < NPARTS; started++)
		if (parts[started].init() != DM_OK) {
			dm_error("%s: start failed", parts[started].name);
			goto stop_parts;
		}
	if (list_routes) {
		http_print_routes(stdout);
		rc = 0;
		goto stop_parts;
	}
	if (jobs_start(4) != DM_OK) {
		dm_error("cannot start the thread pool");
		goto stop_jobs;
	}
	raise_nofile();
	if (http_start() != DM_OK)
		goto stop_jobs;
	dm_info("dongmul %s serving (data in %s)", DONGMUL_VERSION, cfg.data);

	do {
		if (sigwait(&sigs, &sig) != 0)
			sig = SIGTERM;
		if (sig == SIGHUP)
			tls_reload(); /* new --cert/--key files for new handshakes */
	} while (sig != SIGINT && sig != SIGTERM);
	dm_info("signal %d: stopping", sig);
	dm_stopping = 1;
	rc = 0;
	http_stop();
stop_jobs:
	jobs_stop();
stop_parts:
	while (started > 0) {
		started--;
		if (parts[started].stop)
			parts[started].stop();
	}
	tls_shutdown();
	auth_shutdown();
close_db:
	db_close();
	sqlite3_shutdown(); /* the allocator's caches back to malloc */
	dm_info("stopped");
	mbedtls_psa_crypto_free();
	return rc;
}

int main(int argc, char **argv)
{
	char err[512];
	const char *cmd = "serve";
	int first = 1, r;

	if (argc > 1 && argv[1][0] != '-') {
		cmd = argv[1];
		first = 2;
	}
	if (!strcmp(cmd, "version")) {
		printf("dongmul %s (SQLite %s)\n", DONGMUL_VERSION, sqlite3_libversion());
		return 0;
	}
	if (!strcmp(cmd, "refusals")) {
		refusal_print(stdout);
		return 0;
	}
	/* the protocol test suites' reference app (test-only) */
	if (!strcmp(cmd, "conformance"))
		return conform_cmd(argc - first, argv + first);
	if (!strcmp(cmd, "help")) {
		cfg_usage(stdout);
		return 0;
	}
	/* operator commands: `dongmul user ...` (trust part), `dongmul backup`
	 * and `dongmul restore` (backup part) */
	if (!strcmp(cmd, "user"))
		return trust_user_cmd(argc - first, argv + first);
	if (!strcmp(cmd, "backup"))
		return backup_cmd(argc - first, argv + first);
	if (!strcmp(cmd, "restore"))
		return backup_restore_cmd(argc - first, argv + first);
	if (strcmp(cmd, "serve") && strcmp(cmd, "routes")) {
		fprintf(stderr, "dongmul: unknown command '%s' (see dongmul --help)\n", cmd);
		return 2;
	}
	r = cfg_parse(argc - first, argv + first, err, sizeof err);
	if (r == CFG_HELP) {
		cfg_usage(stdout);
		return 0;
	}
	if (r != CFG_OK) {
		fprintf(stderr, "dongmul: %s\n", err);
		return 2;
	}
	dm_tz_offset_min = cfg.tz_offset_min;
	set_log_level();
	return serve(!strcmp(cmd, "routes"));
}
