/*
 * unit_live_off.h — for unit tests that include parts which deliver live
 * (notify, trust, item) without live.c and sio: nobody is online, so
 * nothing is delivered and no room has members.
 */
#ifndef UNIT_LIVE_OFF_H
#define UNIT_LIVE_OFF_H
#include "../src/core/dm.h"
#include "../src/market/live.h"

int live_user_emit(int64_t uid, const char *event, const char *json)
{
	(void)uid;
	(void)event;
	(void)json;
	return 0;
}
int live_online(int64_t uid)
{
	(void)uid;
	return 0;
}
int live_room_users(int64_t icr_id, int64_t **uids)
{
	(void)icr_id;
	*uids = NULL;
	return 0;
}
int live_msg_views(sqlite3 *db, int64_t msg_id, char **with, char **without, char **ack)
{
	(void)db;
	(void)msg_id;
	(void)ack;
	*with = *without = NULL;
	return DM_ENOTFOUND;
}
int live_room_msg(int64_t icr_id, int64_t owner, int64_t author, const char *with, const char *without)
{
	(void)icr_id;
	(void)owner;
	(void)author;
	(void)with;
	(void)without;
	return 0;
}
void live_room_drop(int64_t icr_id)
{
	(void)icr_id;
}

#endif
