/*
 * chat — group chat rooms of items: membership, messages, kick (a
 * permanent ban), exchange (choosing the partner), leaving; the domain of
 * API.md "Chat". The framing is sio's: chat registers the /chatting
 * namespace and handles its events. Prefix: chat_.
 *
 * Every change is a write job on the write lane; what the room sees is
 * queued by the job's done callback, after the commit and in commit order,
 * through live (live.h: rooms, message views); the notifications a change
 * causes are stored by notify inside the same job (notify_chat_write) and
 * delivered after the commit (notify_chat_after).
 */
#ifndef CHAT_H
#define CHAT_H

int chat_init(void);
void chat_stop(void);

#endif
