/*
 * evloop — one epoll thread for connections that wait: sio's WebSockets
 * and parked long-polls, once civetweb handed them over (mg_detach). The
 * loop only waits and dispatches; what a connection does lives with its
 * owner (sio_loop.c). Prefix: ev_.
 *
 * Thread-safety: ev_add/ev_mod/ev_del may be called from any thread
 * (epoll_ctl is); a watch's callback and the hook run on the loop thread
 * only, one at a time. ev_wake is async-signal-safe and lock-free.
 */
#ifndef EVLOOP_H
#define EVLOOP_H

#include <stdint.h>
#include <sys/epoll.h>

typedef struct ev_watch ev_watch_t;
/* Called on the loop thread with the epoll events that fired. */
typedef void (*ev_fn)(ev_watch_t *w, uint32_t events);
struct ev_watch {
	int fd;
	ev_fn fn;
};

/* Called on the loop thread after every wake-up (ev_wake, fd events, or
 * its own deadline); returns how many ms it may sleep at most (-1: until
 * something happens). now is CLOCK_MONOTONIC ms. */
typedef int (*ev_hook_fn)(int64_t now);

/* Starts the loop thread. DM_OK or DM_ERR. */
int ev_start(ev_hook_fn hook);
/* Stops and joins the loop thread (watches stay registered: their owner
 * closes the fds). */
void ev_stop(void);

/* Watches w->fd for events (EPOLLIN, EPOLLOUT, EPOLLRDHUP...; level
 * triggered). DM_OK or DM_ERR. */
int ev_add(ev_watch_t *w, uint32_t events);
int ev_mod(ev_watch_t *w, uint32_t events);
/* Stops watching (before the fd is closed). */
void ev_del(ev_watch_t *w);

/* Makes the loop run its hook soon. */
void ev_wake(void);
/* 1 on the loop thread. */
int ev_on_loop(void);

#endif
