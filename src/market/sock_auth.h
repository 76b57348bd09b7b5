/*
 * sock_auth — who a Socket.IO socket is: the credentials a client brings
 * when it connects (the v4 auth payload, a token query parameter, the
 * seed's user_login cookie) or later in `authenticate`, verified and bound
 * to the socket (sio_set_uid, the user's and the login family's channels
 * in live.h), and the check before every event that the binding still
 * holds (expired: authenticate again; revoked: the socket is closed).
 * chat keeps a sock_auth_t in its per-socket state. Prefix: sock_auth_.
 */
#ifndef SOCK_AUTH_H
#define SOCK_AUTH_H

#include <pthread.h>
#include <stdint.h>

#include "sio.h"

#define SOCK_AUTH_TOKEN_MAX 4096

/* One socket's verification. Thread-safety: under its own lock (the
 * socket's packets are handled one at a time, but the write lane's done
 * callbacks and other workers may look at the same socket). */
typedef struct sock_auth {
	pthread_mutex_t lock;
	char *token;            /* the last verified token (malloc'd) */
	int64_t tok_exp;        /* its expiry (seconds) */
	uint64_t tok_gen;       /* jobs_commit_gen() its verification was made at */
	char fam[48];           /* its login family ("" if none) */
} sock_auth_t;

/* Initializes a. DM_OK or DM_ERR. */
int sock_auth_init(sock_auth_t *a);
/* Frees what a holds (not a itself). Must not call sio (sio_set_user's
 * free function calls it). */
void sock_auth_free(sock_auth_t *a);

/* The credentials of a connecting client, first found wins: the v4 auth
 * payload's token, the token query parameter (namespace query, then the
 * handshake's), the user_login cookie. An explicit bad token is refused
 * (DM_EAUTH); a stale cookie, or none, leaves the socket unauthenticated
 * (DM_OK: it may still send `authenticate`). Call from on_connect. */
int sock_auth_connect(sio_sock_t *s, sock_auth_t *a, const sio_conninfo_t *ci);
/* Verifies token and binds its user to s, or checks it is the user
 * already bound (a socket stays with its user). *first is set when this
 * bound the socket. DM_OK, DM_EAUTH or DM_ENOMEM. */
int sock_auth_bind(sio_sock_t *s, sock_auth_t *a, const char *token, int *first);
/* Is the socket's binding still good for an event? DM_OK; DM_EAUTH when
 * it has none or its token expired (the client must authenticate again)
 * or was revoked (logout, password change: s is also closed). */
int sock_auth_current(sio_sock_t *s, sock_auth_t *a);
/* A positive id named `name` in the connect query (the namespace's, then
 * the handshake's); 0 if absent or not a positive integer. */
int64_t sock_auth_query_id(const sio_conninfo_t *ci, const char *name);

#endif
