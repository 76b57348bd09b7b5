/*
 * evloop.c — the epoll thread that holds waiting connections (see
 * evloop.h). Why it exists: a connection that waits (an open chat
 * WebSocket, a long-poll with nothing to say yet) must cost a few hundred
 * bytes in a poll set, not a thread; threads only run work.
 *
 * One thread: reading, framing and writing a few thousand small frames a
 * second is far below one core; the database work of each packet runs on
 * sio's worker pool, not here. The wake-up is an eventfd that the hook's
 * producers write to (only when they turn a list from empty to non-empty,
 * so a broadcast to 1,000 sockets costs one write).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "dm.h"
#include "evloop.h"

#define MAX_EVENTS 256

static int epfd = -1, wakefd = -1;
static pthread_t loop_thread;
static int started;
static atomic_int stopping;
static ev_hook_fn g_hook;
static __thread int on_loop;

static void *loop_main(void *unused)
{
	struct epoll_event evs[MAX_EVENTS];
	int timeout = 0;

	(void)unused;
	on_loop = 1;
	while (!atomic_load(&stopping)) {
		int n = epoll_wait(epfd, evs, MAX_EVENTS, timeout);
		if (n < 0 && errno != EINTR) {
			dm_error("evloop: epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			ev_watch_t *w = evs[i].data.ptr;
			if (!w) {
				uint64_t v;
				if (read(wakefd, &v, sizeof v) < 0 && errno != EAGAIN)
					dm_warn("evloop: eventfd read: %s", strerror(errno));
				continue;
			}
			w->fn(w, evs[i].events);
		}
		timeout = g_hook(dm_mono_ms());
	}
	return NULL;
}

int ev_start(ev_hook_fn hook)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};

	dm_assert(!started && hook);
	g_hook = hook;
	atomic_store(&stopping, 0);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (epfd < 0 || wakefd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, wakefd, &ev) != 0)
		goto fail;
	if (pthread_create(&loop_thread, NULL, loop_main, NULL) != 0)
		goto fail;
	started = 1;
	return DM_OK;
fail:
	dm_error("evloop: cannot start: %s", strerror(errno));
	if (epfd >= 0)
		close(epfd);
	if (wakefd >= 0)
		close(wakefd);
	epfd = wakefd = -1;
	return DM_ERR;
}

void ev_stop(void)
{
	if (!started)
		return;
	dm_assert(!on_loop); /* the loop cannot join itself */
	atomic_store(&stopping, 1);
	ev_wake();
	pthread_join(loop_thread, NULL);
	started = 0;
	close(epfd);
	close(wakefd);
	epfd = wakefd = -1;
}

int ev_add(ev_watch_t *w, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};
	dm_assert(w->fd >= 0 && w->fn); /* NULL data is the wake-up's */
	return epoll_ctl(epfd, EPOLL_CTL_ADD, w->fd, &ev) == 0 ? DM_OK : DM_ERR;
}

int ev_mod(ev_watch_t *w, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};
	return epoll_ctl(epfd, EPOLL_CTL_MOD, w->fd, &ev) == 0 ? DM_OK : DM_ERR;
}

void ev_del(ev_watch_t *w)
{
	struct epoll_event ev = {0};
	epoll_ctl(epfd, EPOLL_CTL_DEL, w->fd, &ev);
}

void ev_wake(void)
{
	uint64_t one = 1;
	if (wakefd >= 0 && write(wakefd, &one, sizeof one) < 0 && errno != EAGAIN)
		return;
}

int ev_on_loop(void)
{
	return on_loop;
}
