/*
 * block — a user's private block list. Prefix: block_.
 *
 * Routes: POST /blocks {userId}, DELETE /blocks/:userId, GET /blocks
 * (see docs/API.md "Blocks"). The list is the blocker's alone: the
 * blocked user is never told, and every effect of a block (posts hidden
 * both ways, the blocker's rooms closed to the blocked user, the blocked
 * user's chat messages kept from the blocker) is applied where it shows
 * (item.c, chat.c) by reading the userBlock table.
 */
#ifndef BLOCK_H
#define BLOCK_H

int block_init(void);
void block_stop(void);

#endif
