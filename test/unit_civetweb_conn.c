/*
 * unit_civetweb_conn.c — checks of our civetweb patches on accepted
 * connections (vendor/patches/civetweb-*):
 *
 *   0004  tcp_nodelay is on by default, and on the accepted socket
 *   0008  max_connections_per_ip refuses the connection past the cap and
 *         logs once; closed and detached connections give their place back
 *
 * Shared fixtures: unit_civetweb.h.
 */
#include "unit_civetweb.h"

/* ---- 0004: tcp_nodelay ----------------------------------------------------- */

/* Our process holds both ends: find the server's accepted socket (local
 * port = server port, peer port = our client's port) among our own fds. */
static int accepted_nodelay(int server_port, int client_fd)
{
	struct sockaddr_in me;
	socklen_t sl = sizeof me;
	double end = now_s() + 3;

	if (getsockname(client_fd, (struct sockaddr *)&me, &sl) != 0)
		return -1;
	while (now_s() < end) {
		DIR *d = opendir("/proc/self/fd");
		struct dirent *e;
		int found = -1;
		if (!d)
			return -1;
		while ((e = readdir(d)) != NULL) {
			struct sockaddr_in l, p;
			socklen_t ll = sizeof l, pl = sizeof p;
			int fd = atoi(e->d_name), on = 0;
			socklen_t ol = sizeof on;
			if (e->d_name[0] == '.' || fd == client_fd)
				continue;
			if (getsockname(fd, (struct sockaddr *)&l, &ll) != 0 || l.sin_family != AF_INET ||
			    ntohs(l.sin_port) != server_port)
				continue;
			if (getpeername(fd, (struct sockaddr *)&p, &pl) != 0 || p.sin_port != me.sin_port)
				continue;
			if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &ol) == 0)
				found = on != 0;
		}
		closedir(d);
		if (found >= 0)
			return found;
		sleep_ms(20);
	}
	return -1;
}

static void test_nodelay(struct mg_context *ctx, int port)
{
	const char *opt = mg_get_option(ctx, "tcp_nodelay");
	int fd;

	check(opt && strcmp(opt, "1") == 0, "tcp_nodelay defaults to \"1\"");
	fd = tcp_connect(port, 3000);
	check(fd >= 0 && accepted_nodelay(port, fd) == 1,
	      "the accepted socket has TCP_NODELAY set");
	if (fd >= 0)
		close(fd);
}

/* ---- 0008: max_connections_per_ip ------------------------------------------ */

static void test_ipcap(void)
{
	const char *opts[] = {"listening_ports", "127.0.0.1:0", "num_threads", "2",
	                      "max_connections_per_ip", "3", NULL};
	int port = 0, fd[5], i, eof, ok, logged;
	char buf[64];

	srv_ctx = start_server(opts, &port, NULL);
	if (!srv_ctx || port <= 0) {
		check(0, "server with max_connections_per_ip=3 starts");
		if (srv_ctx)
			mg_stop(srv_ctx);
		return;
	}
	mg_set_request_handler(srv_ctx, "/hello", on_hello, NULL);
	mg_set_request_handler(srv_ctx, "/detach", on_detach, NULL);
	pthread_mutex_lock(&log_mu);
	log_ipcap = 0;
	pthread_mutex_unlock(&log_mu);

	for (i = 0; i < 3; i++)
		fd[i] = tcp_connect(port, 3000);
	sleep_ms(100);
	fd[3] = tcp_connect(port, 3000);
	fd[4] = tcp_connect(port, 3000);
	recv_for(fd[3], buf, sizeof buf, 1000, &eof);
	ok = eof;
	recv_for(fd[4], buf, sizeof buf, 300, &eof);
	ok = ok && eof;
	recv_for(fd[0], buf, sizeof buf, 300, &eof);
	check(ok && !eof, "max_connections_per_ip=3: the 4th and 5th connection are closed, the 3 stay");
	sleep_ms(100);
	pthread_mutex_lock(&log_mu);
	logged = log_ipcap;
	pthread_mutex_unlock(&log_mu);
	check(logged == 1, "the refusal is logged once for the address");

	/* a connection that closes gives its place back */
	close(fd[0]);
	sleep_ms(300);
	fd[0] = tcp_connect(port, 3000);
	check(fd[0] >= 0 && plain_hello(fd[0], 3000), "after one closes, a new connection is served");

	/* a detached connection no longer counts */
	det_reset();
	ok = send_all(fd[1], "GET /detach HTTP/1.1\r\nHost: x\r\n\r\n", 33) == 0 && wait_for(&det_n, 1, 3000);
	fd[3] = tcp_connect(port, 3000);
	check(ok && fd[3] >= 0 && plain_hello(fd[3], 3000),
	      "a connection handed over by mg_detach leaves room for another");
	if (det_n > 0)
		det_free(&dets[0]);
	for (i = 0; i < 5; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	mg_stop(srv_ctx);
	srv_ctx = NULL;
}

/* ---- main ------------------------------------------------------------------ */

int main(void)
{
	char dir[32], cert[64];
	struct mg_context *ctx;
	int port = 0, tls_port = 0;

	if (cw_begin("unit_civetweb_conn", dir, cert) != 0)
		return 1;
	ctx = cw_start_both(cert, &port, &tls_port);
	if (ctx) {
		test_nodelay(ctx, port);
		mg_stop(ctx);
	}
	test_ipcap();
	return cw_end("unit_civetweb_conn", dir, cert);
}
