/*
 * bench/starttime.c — time from exec to the first 200 from GET /healthz.
 *
 *   starttime RUNS PORT BINARY ARGS...
 *
 * RUNS times: fork, exec BINARY ARGS (stdout/stderr to /dev/null), then
 * poll 127.0.0.1:PORT with GET /healthz (a fresh connection each try, a
 * 200 us pause after a refused connect) until a 200; then SIGTERM and wait
 * for the exit. The clock starts just before fork. Prints each time in us,
 * then "median_us min_us max_us".
 */
#include <signal.h>
#include <sys/wait.h>

#include "bt.h"

static pid_t child = -1;

static void on_signal(int sig)
{
	if (child > 0)
		kill(child, SIGKILL);
	_exit(128 + sig);
}

int main(int argc, char **argv)
{
	int runs, port;
	int64_t *t;

	if (argc < 4)
		bt_die("usage: starttime RUNS PORT BINARY ARGS...");
	runs = atoi(argv[1]);
	port = atoi(argv[2]);
	if (runs < 1 || !(t = calloc((size_t)runs, sizeof *t)))
		bt_die("starttime: bad RUNS");
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	for (int i = 0; i < runs; i++) {
		int64_t t0 = bt_now_us(), deadline = t0 + 15000000;
		int st;
		child = fork();
		if (child < 0)
			bt_die("starttime: fork: %s", strerror(errno));
		if (child == 0) {
			int dn = open("/dev/null", O_WRONLY);
			dup2(dn, 1);
			dup2(dn, 2);
			execv(argv[3], argv + 3);
			_exit(127);
		}
		for (;;) {
			int fd = -1;
			bt_reply_t r;
			if (bt_now_us() > deadline) {
				kill(child, SIGKILL);
				bt_die("starttime: no 200 from /healthz within 15 s");
			}
			if (waitpid(child, &st, WNOHANG) == child)
				bt_die("starttime: the server exited before answering (status %d)", st);
			if (bt_http(&fd, "127.0.0.1", port, "GET", "/healthz", "Connection: close\r\n", NULL, &r) ==
			    0) {
				int ok = r.status == 200;
				free(r.body);
				if (fd >= 0)
					close(fd);
				if (ok)
					break;
			}
			usleep(200);
		}
		t[i] = bt_now_us() - t0;
		printf("%lld\n", (long long)t[i]);
		kill(child, SIGTERM);
		waitpid(child, &st, 0);
		child = -1;
	}
	qsort(t, (size_t)runs, sizeof *t, bt_cmp_i64);
	printf("%lld %lld %lld\n", (long long)t[(runs - 1) / 2], (long long)t[0], (long long)t[runs - 1]);
	free(t);
	return 0;
}
