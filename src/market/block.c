/*
 * block.c — the block list of a user (see block.h and docs/API.md
 * "Blocks"): add, lift, list. Writes go through the write lane, so each
 * one bumps jobs_commit_gen() and no cached feed page or detail built
 * before it is served after it.
 *
 * Thread-safety: handlers share nothing; the jobs own their arguments.
 */
#include <stdio.h>
#include <string.h>

#include "block.h"
#include "db.h"
#include "dm.h"
#include "http.h"
#include "jobs.h"
#include "json.h"

#define BLOCKS_MAX 1000 /* blocks one user may keep */
/* the reply of an add or a lift: {msg, userId: ?1} */
#define REPLY_SQL "SELECT json_object('msg','success','userId',CAST(?1 AS TEXT))"

typedef struct blk {
	int64_t user_id, target;
} blk_t;

/* Write job: adds the block. DM_ENOTFOUND (no such user), DM_ECONFLICT
 * (blocked already), DM_ERATE (BLOCKS_MAX reached), DM_OK. */
static int add_write(sqlite3 *w, void *arg)
{
	blk_t *b = arg;
	/* 0 ok, 1 no such user, 2 blocked already, 3 the list is full */
	int64_t why = 0;
	int rc = db_get_int(w, &why,
			    "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM user WHERE userId = ?2) THEN 1"
			    " WHEN EXISTS (SELECT 1 FROM userBlock WHERE userId = ?1 AND blockedUserId = ?2) THEN 2"
			    " WHEN (SELECT count(*) FROM userBlock WHERE userId = ?1) >= ?3 THEN 3 ELSE 0 END",
			    DB_INT(b->user_id), DB_INT(b->target), DB_INT(BLOCKS_MAX));

	if (rc != DM_OK)
		return DM_ERR;
	if (why)
		return why == 1 ? DM_ENOTFOUND : why == 2 ? DM_ECONFLICT : DM_ERATE;
	return db_run(w, "INSERT INTO userBlock(userId, blockedUserId, createdDt) VALUES (?1, ?2, dm_now())",
		      DB_INT(b->user_id), DB_INT(b->target)) == DM_OK ? DM_OK : DM_ERR;
}

/* Write job: lifts the block. DM_ENOTFOUND when there was none. */
static int del_write(sqlite3 *w, void *arg)
{
	blk_t *b = arg;
	int changes = 0;
	if (db_run_changes(w, &changes, "DELETE FROM userBlock WHERE userId = ?1 AND blockedUserId = ?2",
			   DB_INT(b->user_id), DB_INT(b->target)) != DM_OK)
		return DM_ERR;
	return changes == 1 ? DM_OK : DM_ENOTFOUND;
}

/* POST /blocks {userId} -> 201 {msg, userId} */
static int h_add(http_req_t *r)
{
	blk_t b = {r->user_id, 0};
	int rc;

	if (http_json(r) != DM_OK)
		return DM_OK;
	if (json_int(&r->json, "userId", 1, &b.target) != DM_OK || b.target <= 0)
		return http_refuse(r, RF_BLOCK_USER_REQUIRED);
	if (b.target == b.user_id)
		return http_refuse(r, RF_CANNOT_BLOCK_SELF);
	rc = jobs_write(add_write, &b);
	switch (rc) {
	case DM_OK: break;
	case DM_ENOTFOUND: return http_refuse(r, RF_USER_NOT_FOUND);
	case DM_ECONFLICT: return http_refuse(r, RF_ALREADY_BLOCKED);
	case DM_ERATE: return http_refuse(r, RF_TOO_MANY_BLOCKS);
	default: return http_fail_dm(r, rc);
	}
	return http_reply_stmt(r, 201, db_query(r->db, REPLY_SQL, DB_INT(b.target)));
}

/* DELETE /blocks/:userId -> 200 {msg, userId} */
static int h_del(http_req_t *r)
{
	blk_t b = {r->user_id, dm_parse_id(r->param[0])};
	int rc;

	if (!b.target)
		return http_refuse(r, RF_NOT_BLOCKED);
	rc = jobs_write(del_write, &b);
	if (rc == DM_ENOTFOUND)
		return http_refuse(r, RF_NOT_BLOCKED);
	if (rc != DM_OK)
		return http_fail_dm(r, rc);
	return http_reply_stmt(r, 200, db_query(r->db, REPLY_SQL, DB_INT(b.target)));
}

/* GET /blocks -> {msg, data: [{userId, nickname, createdDt}]}, newest first */
static int h_list(http_req_t *r)
{
	return http_reply_stmt(
		r, 200,
		db_query(r->db, "SELECT json_object('msg','success','data',(SELECT json_group_array(json_object("
				"'userId',CAST(b.blockedUserId AS TEXT),'nickname',u.nickname,'createdDt',dm_time(b.createdDt))"
				" ORDER BY b.createdDt DESC, b.blockedUserId DESC)"
				" FROM userBlock b JOIN user u ON u.userId = b.blockedUserId WHERE b.userId = ?1))",
			 DB_INT(r->user_id)));
}

static const http_route_t routes[] = {
	{"POST", "/blocks", h_add, HTTP_AUTH},
	{"GET", "/blocks", h_list, HTTP_AUTH},
	{"DELETE", "/blocks/:userId", h_del, HTTP_AUTH},
};

int block_init(void)
{
	http_routes(routes, sizeof routes / sizeof routes[0]);
	return DM_OK;
}

void block_stop(void)
{
}
