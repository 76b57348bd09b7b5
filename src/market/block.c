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

typedef struct blk {
	int64_t user_id, target;
} blk_t;

/* Write job: adds the block. DM_ENOTFOUND (no such user), DM_ECONFLICT
 * (blocked already), DM_ERATE (BLOCKS_MAX reached), DM_OK. */
static int add_write(sqlite3 *w, void *arg)
{
	blk_t *b = arg;
	sqlite3_stmt *st = db_prep(w, "SELECT EXISTS (SELECT 1 FROM user WHERE userId = ?2),"
				      " EXISTS (SELECT 1 FROM userBlock WHERE userId = ?1 AND blockedUserId = ?2),"
				      " (SELECT count(*) FROM userBlock WHERE userId = ?1)");
	int rc = DM_ERR;

	if (!st)
		return DM_ERR;
	sqlite3_bind_int64(st, 1, b->user_id);
	sqlite3_bind_int64(st, 2, b->target);
	if (sqlite3_step(st) == SQLITE_ROW)
		rc = !sqlite3_column_int(st, 0)	  ? DM_ENOTFOUND
		     : sqlite3_column_int(st, 1)  ? DM_ECONFLICT
		     : sqlite3_column_int(st, 2) >= BLOCKS_MAX ? DM_ERATE
							  : DM_OK;
	sqlite3_finalize(st);
	if (rc != DM_OK)
		return rc;
	st = db_prep(w, "INSERT INTO userBlock(userId, blockedUserId, createdDt) VALUES (?1, ?2, dm_now())");
	if (!st)
		return DM_ERR;
	sqlite3_bind_int64(st, 1, b->user_id);
	sqlite3_bind_int64(st, 2, b->target);
	rc = sqlite3_step(st) == SQLITE_DONE ? DM_OK : DM_ERR;
	sqlite3_finalize(st);
	return rc;
}

/* Write job: lifts the block. DM_ENOTFOUND when there was none. */
static int del_write(sqlite3 *w, void *arg)
{
	blk_t *b = arg;
	sqlite3_stmt *st = db_prep(w, "DELETE FROM userBlock WHERE userId = ?1 AND blockedUserId = ?2");
	int rc;

	if (!st)
		return DM_ERR;
	sqlite3_bind_int64(st, 1, b->user_id);
	sqlite3_bind_int64(st, 2, b->target);
	rc = sqlite3_step(st) == SQLITE_DONE ? (sqlite3_changes(w) == 1 ? DM_OK : DM_ENOTFOUND) : DM_ERR;
	sqlite3_finalize(st);
	return rc;
}

/* POST /blocks {userId} -> 201 {msg, userId} */
static int h_add(http_req_t *r)
{
	blk_t b = {r->user_id, 0};
	sqlite3_stmt *st;
	int rc;

	if (http_json(r) != DM_OK)
		return DM_OK;
	if (json_int(&r->json, "userId", 1, &b.target) != DM_OK || b.target <= 0)
		return http_fail(r, 400, "INVALID_USER", "차단할 사용자(userId)를 지정해 주세요.");
	if (b.target == b.user_id)
		return http_fail(r, 400, "CANNOT_BLOCK_SELF", "자기 자신은 차단할 수 없습니다.");
	rc = jobs_write(add_write, &b);
	switch (rc) {
	case DM_OK: break;
	case DM_ENOTFOUND: return http_fail(r, 404, "USER_NOT_FOUND", "사용자를 찾을 수 없습니다.");
	case DM_ECONFLICT: return http_fail(r, 409, "ALREADY_BLOCKED", "이미 차단한 사용자입니다.");
	case DM_ERATE: return http_fail(r, 409, "TOO_MANY_BLOCKS", "차단은 1,000명까지 할 수 있습니다.");
	default: return http_fail_dm(r, rc);
	}
	st = db_prep(r->db, "SELECT json_object('msg','success','userId',CAST(?1 AS TEXT))");
	if (st)
		sqlite3_bind_int64(st, 1, b.target);
	return http_reply_stmt(r, 201, st);
}

/* DELETE /blocks/:userId -> 200 {msg, userId} */
static int h_del(http_req_t *r)
{
	blk_t b = {r->user_id, dm_parse_id(r->param[0])};
	sqlite3_stmt *st;
	int rc;

	if (!b.target)
		return http_fail(r, 404, "NOT_BLOCKED", "차단한 사용자가 아닙니다.");
	rc = jobs_write(del_write, &b);
	if (rc == DM_ENOTFOUND)
		return http_fail(r, 404, "NOT_BLOCKED", "차단한 사용자가 아닙니다.");
	if (rc != DM_OK)
		return http_fail_dm(r, rc);
	st = db_prep(r->db, "SELECT json_object('msg','success','userId',CAST(?1 AS TEXT))");
	if (st)
		sqlite3_bind_int64(st, 1, b.target);
	return http_reply_stmt(r, 200, st);
}

/* GET /blocks -> {msg, data: [{userId, nickname, createdDt}]}, newest first */
static int h_list(http_req_t *r)
{
	sqlite3_stmt *st = db_prep(
		r->db, "SELECT json_object('msg','success','data',(SELECT json_group_array(json_object("
		       "'userId',CAST(b.blockedUserId AS TEXT),'nickname',u.nickname,'createdDt',dm_time(b.createdDt))"
		       " ORDER BY b.createdDt DESC, b.blockedUserId DESC)"
		       " FROM userBlock b JOIN user u ON u.userId = b.blockedUserId WHERE b.userId = ?1))");
	if (st)
		sqlite3_bind_int64(st, 1, r->user_id);
	return http_reply_stmt(r, 200, st);
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
