/*
 * item_post.c — POST /mainPage/write: the multipart form (text fields, the
 * photo and its optional thumbnail, each streamed to a temp file while
 * hashed and counted), its validation, the poster's quotas (rates in
 * quota.c, photo storage in the job), and the one write job that places
 * the images and inserts the item, its room and the owner's membership,
 * and stores the keyword alerts it raises (keyword.c) (see item.h,
 * API.md "Items").
 *
 * Thread-safety: a form belongs to the worker receiving it; the job runs
 * on the write lane; nothing here is shared.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "dm.h"
#include "http.h"
#include "image.h"
#include "item.h"
#include "jobs.h"
#include "keyword.h"
#include "quota.h"
#include "region.h"

#define THUMB_MAX_BYTES 65536 /* the optional thumbnail: small by design */
#define FORM_SLACK (65536 + THUMB_MAX_BYTES) /* multipart bytes allowed beyond the photo */
#define THUMB_MAX_SIDE 480    /* pixels, longest side */

enum { F_TITLE, F_CATEGORY, F_WANT, F_COMMENT, F_DEADLINE, NTEXT, F_FILE = 100, F_THUMB = 101, F_NONE = -1 };

static const struct {
	const char *name;
	size_t maxc;      /* characters */
} text_fields[NTEXT] = {
	[F_TITLE] = {"title", 100},   [F_CATEGORY] = {"category", 20}, [F_WANT] = {"wantItem", 100},
	[F_COMMENT] = {"comment", 2000}, [F_DEADLINE] = {"deadLine", 40},
};

/* The multipart form being received (heap: the worker stack is small). */
typedef struct form {
	int cur;                         /* F_* of the part being read */
	struct {
		char *buf;               /* maxc * 4 bytes + NUL */
		size_t len;
		int seen, toolong, wrongtype;
	} f[NTEXT];
	image_upload_t up;
	image_upload_t th;               /* the thumbnail (optional) */
	int file_seen, began;
	int thumb_seen, thumb_began, thumb_too_big;
	int too_big, dup, io_error;
} form_t;

/* civetweb: a new part named key (filename: "" for a plain field). The
 * photo, the thumbnail and the known text fields are read through
 * form_get; unknown parts
 * are skipped; a repeated part, or any trouble so far, stops the parsing. */
static int form_found(const char *key, const char *filename, char *path, size_t pathlen, void *ud)
{
	form_t *f = ud;
	(void)path;
	(void)pathlen;
	f->cur = F_NONE;
	if (f->too_big || f->thumb_too_big || f->io_error || f->dup)
		return MG_FORM_FIELD_STORAGE_ABORT;
	if (!strcmp(key, "thumb")) {
		if (f->thumb_seen) {
			f->dup = 1;
			return MG_FORM_FIELD_STORAGE_ABORT;
		}
		f->thumb_seen = 1;
		if (image_upload_begin(&f->th) != DM_OK) {
			f->io_error = 1;
			return MG_FORM_FIELD_STORAGE_ABORT;
		}
		f->thumb_began = 1;
		f->cur = F_THUMB;
		return MG_FORM_FIELD_STORAGE_GET;
	}
	if (!strcmp(key, "file")) {
		if (f->file_seen) {
			f->dup = 1;
			return MG_FORM_FIELD_STORAGE_ABORT;
		}
		f->file_seen = 1;
		if (image_upload_begin(&f->up) != DM_OK) {
			f->io_error = 1;
			return MG_FORM_FIELD_STORAGE_ABORT;
		}
		f->began = 1;
		f->cur = F_FILE;
		return MG_FORM_FIELD_STORAGE_GET;
	}
	for (int i = 0; i < NTEXT; i++) {
		if (strcmp(key, text_fields[i].name))
			continue;
		if (f->f[i].seen) {
			f->dup = 1;
			return MG_FORM_FIELD_STORAGE_ABORT;
		}
		f->f[i].seen = 1;
		if (filename && filename[0]) {
			/* a file where text belongs */
			f->f[i].wrongtype = 1;
			return MG_FORM_FIELD_STORAGE_SKIP;
		}
		f->cur = i;
		return MG_FORM_FIELD_STORAGE_GET;
	}
	return MG_FORM_FIELD_STORAGE_SKIP; /* unknown fields are ignored */
}

/* A chunk of the current part (civetweb passes the key only with the first
 * chunk: the part is tracked in f->cur). The photo goes to its temp file,
 * hashed and counted: past cfg.max_upload (the thumbnail: THUMB_MAX_BYTES)
 * the parsing stops. Once stopped,
 * it stays stopped (civetweb calls once more with the rest of the part). */
static int form_get(const char *key, const char *value, size_t len, void *ud)
{
	form_t *f = ud;
	(void)key;
	if (f->too_big || f->thumb_too_big || f->io_error || f->dup)
		return MG_FORM_FIELD_HANDLE_ABORT;
	if (f->cur == F_THUMB) {
		if (f->th.size + (int64_t)len > THUMB_MAX_BYTES) {
			f->thumb_too_big = 1;
			return MG_FORM_FIELD_HANDLE_ABORT;
		}
		if (image_upload_write(&f->th, value, len) != DM_OK) {
			f->io_error = 1;
			return MG_FORM_FIELD_HANDLE_ABORT;
		}
		return MG_FORM_FIELD_HANDLE_GET;
	}
	if (f->cur == F_FILE) {
		if (f->up.size + (int64_t)len > (int64_t)cfg.max_upload) {
			f->too_big = 1;
			return MG_FORM_FIELD_HANDLE_ABORT;
		}
		if (image_upload_write(&f->up, value, len) != DM_OK) {
			f->io_error = 1;
			return MG_FORM_FIELD_HANDLE_ABORT;
		}
		return MG_FORM_FIELD_HANDLE_GET;
	}
	if (f->cur >= 0 && f->cur < NTEXT) {
		size_t cap = text_fields[f->cur].maxc * 4;
		if (f->f[f->cur].len + len > cap) {
			f->f[f->cur].toolong = 1;
			f->cur = F_NONE;
			return MG_FORM_FIELD_HANDLE_NEXT;
		}
		memcpy(f->f[f->cur].buf + f->f[f->cur].len, value, len);
		f->f[f->cur].len += len;
		f->f[f->cur].buf[f->f[f->cur].len] = 0;
		return MG_FORM_FIELD_HANDLE_GET;
	}
	return MG_FORM_FIELD_HANDLE_NEXT;
}

/* Never used: no part is stored by civetweb itself (the photo is streamed
 * through form_get so that it is hashed and counted on the way). */
static int form_store(const char *path, long long size, void *ud)
{
	(void)path;
	(void)size;
	(void)ud;
	return MG_FORM_FIELD_HANDLE_ABORT;
}

static form_t *form_new(void)
{
	form_t *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	f->up.fd = -1;
	f->th.fd = -1;
	for (int i = 0; i < NTEXT; i++)
		if (!(f->f[i].buf = calloc(1, text_fields[i].maxc * 4 + 1))) {
			for (int k = 0; k < i; k++)
				free(f->f[k].buf);
			free(f);
			return NULL;
		}
	return f;
}

static void form_free(form_t *f)
{
	if (!f)
		return;
	if (f->began)
		image_upload_cleanup(&f->up);
	if (f->thumb_began)
		image_upload_cleanup(&f->th);
	for (int i = 0; i < NTEXT; i++)
		free(f->f[i].buf);
	free(f);
}

/* Reads and discards what is left of the request body (bounded), so that a
 * refusal reaches a client still sending its upload. */
static void drain_body(http_req_t *r)
{
	long long cap = (long long)cfg.max_upload * 2 + (1 << 20), got = 0;
	char *buf;
	int n;

	if (r->ri->content_length > cap)
		return; /* not worth it: the connection closes */
	buf = malloc(16384);
	if (!buf)
		return;
	while (got <= cap && (n = mg_read(r->conn, buf, 16384)) > 0)
		got += n;
	free(buf);
}

/* A text field: valid UTF-8 without NUL or control characters (but tab and
 * newlines in multi-line text), minc..maxc characters, not only spaces. */
static int text_ok(const char *s, size_t len, size_t minc, size_t maxc, int multiline)
{
	size_t n;
	int visible = 0;
	if (strlen(s) != len || !dm_utf8_valid(s, len))
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			if (!multiline || (*p != '\n' && *p != '\r' && *p != '\t'))
				return 0;
		} else if (*p != ' ')
			visible = 1;
	}
	n = dm_utf8_len(s, len);
	return visible && n >= minc && n <= maxc;
}

typedef struct post {
	int64_t user_id;
	const char *title, *category, *want, *comment;
	int64_t deadline;
	image_upload_t *up;
	image_upload_t *th;      /* the thumbnail, or NULL */
	int created;             /* the photo file was made by this post */
	int th_created;          /* the thumbnail file was made by this post */
	const char *reason;      /* code for a refusal found in the job */
	int64_t item_id, icr_id;
} post_t;

/* The write job: re-checks the user (suspension, region) at commit time,
 * places the photo, then the item, its room and the owner's membership. */
static int post_write(sqlite3 *w, void *arg)
{
	post_t *p = arg;
	sqlite3_stmt *st;
	char region[REGION_MAX] = "";
	int rc = DM_EAUTH;

	st = db_prep(w, "SELECT address, coalesce(suspendedUntil, 0) > dm_now() FROM user WHERE userId = ?1");
	if (!st)
		return DM_ERR;
	sqlite3_bind_int64(st, 1, p->user_id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *a = (const char *)sqlite3_column_text(st, 0);
		if (sqlite3_column_int(st, 1)) {
			p->reason = "SUSPENDED";
			rc = DM_EFORBID;
		} else if (!a || !a[0] || dm_strlcpy(region, a, sizeof region) != DM_OK) {
			p->reason = "ADDRESS_REQUIRED";
			rc = DM_EINVAL;
		} else
			rc = DM_OK;
	}
	sqlite3_finalize(st);
	if (rc != DM_OK)
		return rc;
	/* the storage quota: the photos of the user's items, this one too */
	st = db_prep(w, "SELECT coalesce(sum(imageBytes), 0) + ?2 > ?3 FROM saleItem WHERE userId = ?1");
	if (!st)
		return DM_ERR;
	sqlite3_bind_int64(st, 1, p->user_id);
	sqlite3_bind_int64(st, 2, p->up->size + (p->th ? p->th->size : 0));
	sqlite3_bind_int64(st, 3, (int64_t)cfg.quota_storage_mb * 1048576);
	rc = sqlite3_step(st) == SQLITE_ROW ? (sqlite3_column_int(st, 0) ? DM_ERATE : DM_OK) : DM_ERR;
	sqlite3_finalize(st);
	if (rc == DM_ERATE)
		p->reason = "QUOTA_EXCEEDED";
	if (rc != DM_OK)
		return rc;
	if (image_place(p->up, &p->created) != DM_OK)
		return DM_ERR;
	if (p->th && image_place(p->th, &p->th_created) != DM_OK)
		return DM_ERR;

	st = db_prep(w, "INSERT INTO saleItem(userId, image, title, category, wantItem, comment, address, deadLine,"
			" status, statusDt, createdDt, imageBytes, thumb)"
			" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'SI01', dm_now(), dm_now(), ?9, ?10)");
	if (!st)
		return DM_ERR;
	sqlite3_bind_int64(st, 1, p->user_id);
	sqlite3_bind_text(st, 2, p->up->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, p->title, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, p->category, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, p->want, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, p->comment, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, region, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, p->deadline);
	sqlite3_bind_int64(st, 9, p->up->size + (p->th ? p->th->size : 0));
	if (p->th)
		sqlite3_bind_text(st, 10, p->th->name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? DM_OK : DM_ERR;
	sqlite3_finalize(st);
	if (rc != DM_OK)
		return rc;
	p->item_id = sqlite3_last_insert_rowid(w);

	st = db_prep(w, "INSERT INTO itemChatRoom(itemId, createdDt) VALUES (?1, dm_now())");
	if (!st)
		return DM_ERR;
	sqlite3_bind_int64(st, 1, p->item_id);
	rc = sqlite3_step(st) == SQLITE_DONE ? DM_OK : DM_ERR;
	sqlite3_finalize(st);
	if (rc != DM_OK)
		return rc;
	p->icr_id = sqlite3_last_insert_rowid(w);

	st = db_prep(w, "INSERT INTO itemChatRoomUser(icrId, userId, chooseYn, createdDt) VALUES (?1, ?2, 'Y', dm_now())");
	if (!st)
		return DM_ERR;
	sqlite3_bind_int64(st, 1, p->icr_id);
	sqlite3_bind_int64(st, 2, p->user_id);
	rc = sqlite3_step(st) == SQLITE_DONE ? DM_OK : DM_ERR;
	sqlite3_finalize(st);
	if (rc == DM_OK)
		keyword_on_post(w, p->item_id); /* the alerts commit with the post */
	return rc;
}

/* After the commit (or its failure): a photo this post stored goes again
 * if the post did not make it, unless another item uses the same bytes. */
static void post_done(void *arg, int status)
{
	post_t *p = arg;
	if (status != DM_OK && p->created)
		image_release(db_writer(), p->up->name);
	if (status != DM_OK && p->th_created)
		image_release(db_writer(), p->th->name);
}

/* The refusal for the user's state (before the body is read, and again in
 * the job). Returns DM_OK when the user may post; else replied. */
static int check_poster(http_req_t *r)
{
	sqlite3_stmt *st = db_prep(r->db, "SELECT address, coalesce(suspendedUntil, 0) FROM user WHERE userId = ?1");
	int64_t until = 0;
	int has_addr = 0, found = 0;

	if (!st) {
		http_fail_dm(r, DM_ERR);
		return DM_ERR;
	}
	sqlite3_bind_int64(st, 1, r->user_id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		found = 1;
		has_addr = sqlite3_column_type(st, 0) == SQLITE_TEXT && sqlite3_column_bytes(st, 0) > 0;
		until = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	if (!found) {
		http_fail_dm(r, DM_EAUTH);
		return DM_EAUTH;
	}
	if (until > dm_now_ms()) {
		char t[32], msg[200];
		dm_fmt_time(until, t);
		t[16] = 0; /* "YYYY-MM-DDTHH:MM" */
		t[10] = ' ';
		snprintf(msg, sizeof msg, "이용이 정지된 계정입니다 (%s까지). 정지 기간에는 글을 올릴 수 없습니다.", t);
		http_fail(r, 403, "SUSPENDED", msg);
		return DM_EFORBID;
	}
	if (!has_addr) {
		http_fail(r, 400, "ADDRESS_REQUIRED", "글을 올리려면 먼저 내 동네를 설정해 주세요.");
		return DM_EINVAL;
	}
	return DM_OK;
}

/* A refusal decided while the request is being handled, sent once the
 * upload's files are cleaned up (so that a client seeing the reply sees
 * no temp file either). */
typedef struct verdict {
	int status;              /* 0: no refusal */
	const char *code;
	char msg[200];
	int retry_s;             /* RATE_LIMITED: seconds for Retry-After */
} verdict_t;

/* Records a refusal; returns DM_EINVAL (for validators). */
static int refuse(verdict_t *v, int status, const char *code, const char *msg)
{
	v->status = status;
	v->code = code;
	dm_strlcpy(v->msg, msg, sizeof v->msg);
	return DM_EINVAL;
}

static int refuse_too_big(verdict_t *v)
{
	char msg[120];
	long kb = cfg.max_upload / 1024;
	if (kb >= 1024)
		snprintf(msg, sizeof msg, "사진은 %ldMB 이하만 올릴 수 있습니다.", kb / 1024);
	else
		snprintf(msg, sizeof msg, "사진은 %ldKB 이하만 올릴 수 있습니다.", kb);
	return refuse(v, 413, "TOO_LARGE", msg);
}

/* Validates the received form into p; DM_OK, or DM_EINVAL with v set. */
static int check_form(form_t *f, post_t *p, verdict_t *v)
{
	static const struct {
		const char *code, *msg;
	} bad[NTEXT] = {
		[F_TITLE] = {"INVALID_TITLE", "제목은 1~100자로 입력해 주세요."},
		[F_CATEGORY] = {"INVALID_CATEGORY", "카테고리를 목록에서 골라 주세요."},
		[F_WANT] = {"INVALID_WANT_ITEM", "원하는 물건은 1~100자로 입력해 주세요."},
		[F_COMMENT] = {"INVALID_COMMENT", "설명은 1~2,000자로 입력해 주세요."},
		[F_DEADLINE] = {"INVALID_DEADLINE", "마감 시간 형식이 올바르지 않습니다. 예: 2026-12-01 18:00"},
	};
	int64_t now;

	for (int i = 0; i < NTEXT; i++)
		if (!f->f[i].seen || f->f[i].toolong || f->f[i].wrongtype ||
		    !text_ok(f->f[i].buf, f->f[i].len, 1, text_fields[i].maxc, i == F_COMMENT))
			return refuse(v, 400, bad[i].code, bad[i].msg);
	if (!item_category_ok(f->f[F_CATEGORY].buf))
		return refuse(v, 400, bad[F_CATEGORY].code, bad[F_CATEGORY].msg);
	if (dm_parse_time(f->f[F_DEADLINE].buf, &p->deadline) != DM_OK)
		return refuse(v, 400, bad[F_DEADLINE].code, bad[F_DEADLINE].msg);
	now = dm_now_ms();
	if (p->deadline <= now)
		return refuse(v, 400, "DEADLINE_PAST", "마감 시간은 지금 이후여야 합니다.");
	if (p->deadline > now + (int64_t)cfg.max_deadline_days * 86400000LL) {
		char msg[120];
		snprintf(msg, sizeof msg, "마감 시간은 %d일 이내여야 합니다.", cfg.max_deadline_days);
		return refuse(v, 400, "DEADLINE_TOO_FAR", msg);
	}
	if (!f->file_seen || f->up.size == 0)
		return refuse(v, 400, "FILE_REQUIRED", "사진(file)을 올려 주세요.");
	p->title = f->f[F_TITLE].buf;
	p->category = f->f[F_CATEGORY].buf;
	p->want = f->f[F_WANT].buf;
	p->comment = f->f[F_COMMENT].buf;
	return DM_OK;
}

/* Receives the form, checks it and the photo, and runs the post job.
 * DM_OK (p's ids set), DM_EINVAL (v set), or another DM_* status. */
static int receive_and_post(http_req_t *r, form_t *f, post_t *p, verdict_t *v)
{
	struct mg_form_data_handler fdh;
	int n, rc;

	memset(&fdh, 0, sizeof fdh);
	fdh.field_found = form_found;
	fdh.field_get = form_get;
	fdh.field_store = form_store;
	fdh.user_data = f;
	n = mg_handle_form_request(r->conn, &fdh);
	if (f->too_big || f->thumb_too_big || f->dup || f->io_error || n < 0)
		drain_body(r);
	if (f->too_big)
		return refuse_too_big(v);
	if (f->thumb_too_big)
		return refuse(v, 413, "THUMB_TOO_LARGE", "썸네일은 64KB 이하만 올릴 수 있습니다.");
	if (f->io_error)
		return DM_ERR;
	if (n < 0)
		return refuse(v, 400, "INVALID_MULTIPART", "multipart 본문이 올바르지 않습니다.");
	if (f->dup)
		return refuse(v, 400, "DUPLICATE_FIELD", "같은 항목이 두 번 들어 있습니다.");
	if (check_form(f, p, v) != DM_OK)
		return DM_EINVAL;
	rc = image_upload_finish(&f->up);
	if (rc == DM_EINVAL)
		return refuse(v, 400, "INVALID_IMAGE", "사진은 JPEG, PNG, WebP, GIF 이미지만 올릴 수 있습니다.");
	if (rc != DM_OK)
		return DM_ERR;
	if (f->thumb_seen && f->th.size > 0) {
		rc = image_upload_finish(&f->th);
		if (rc == DM_EINVAL || (rc == DM_OK && (f->th.info.width > THUMB_MAX_SIDE ||
							 f->th.info.height > THUMB_MAX_SIDE)))
			return refuse(v, 400, "INVALID_THUMB",
				      "썸네일은 긴 변이 480px 이하인 JPEG, PNG, WebP, GIF 이미지만 올릴 수 있습니다.");
		if (rc != DM_OK)
			return DM_ERR;
		p->th = &f->th;
	}
	/* the rates: every photo received counts, a post once it is valid */
	if (quota_take(QUOTA_UPLOAD, r->user_id, f->up.size + (p->th ? f->th.size : 0), &v->retry_s) != DM_OK ||
	    quota_take(QUOTA_POSTS, r->user_id, 1, &v->retry_s) != DM_OK)
		return refuse(v, 429, "RATE_LIMITED", "");
	p->user_id = r->user_id;
	p->up = &f->up;
	rc = jobs_write_then(post_write, post_done, p);
	if (rc == DM_ERATE && p->reason && !strcmp(p->reason, "QUOTA_EXCEEDED")) {
		char msg[200];
		snprintf(msg, sizeof msg, "사진 저장 공간(%dMB)을 모두 사용했습니다. 지난 물건을 삭제한 뒤 다시 올려 주세요.",
			 cfg.quota_storage_mb);
		return refuse(v, 429, "QUOTA_EXCEEDED", msg);
	}
	if (rc != DM_OK && p->reason && !strcmp(p->reason, "SUSPENDED"))
		return refuse(v, 403, "SUSPENDED", "이용이 정지된 계정입니다. 정지 기간에는 글을 올릴 수 없습니다.");
	if (rc != DM_OK && p->reason && !strcmp(p->reason, "ADDRESS_REQUIRED"))
		return refuse(v, 400, "ADDRESS_REQUIRED", "글을 올리려면 먼저 내 동네를 설정해 주세요.");
	return rc;
}

/* POST /mainPage/write (bearer), multipart: file, category, title,
 * wantItem, comment, deadLine, and optionally thumb (a small image: at
 * most THUMB_MAX_BYTES and THUMB_MAX_SIDE px, checked by content like the
 * photo) -> 201 {msg, itemId, icrId, image}. */
int item_post(http_req_t *r)
{
	const char *ct = http_header(r, "Content-Type");
	form_t *f = NULL;
	post_t p;
	verdict_t v;
	char image[IMAGE_NAME_MAX] = "";
	sqlite3_stmt *st;
	int rc;

	memset(&p, 0, sizeof p);
	memset(&v, 0, sizeof v);
	if (!ct || strncasecmp(ct, "multipart/form-data;", 20)) {
		drain_body(r);
		return http_fail(r, 400, "INVALID_MULTIPART", "multipart/form-data 형식으로 보내 주세요.");
	}
	if (r->ri->content_length > (long long)cfg.max_upload + FORM_SLACK) {
		drain_body(r);
		refuse_too_big(&v);
		return http_fail(r, v.status, v.code, v.msg);
	}
	if (check_poster(r) != DM_OK) {
		drain_body(r);
		return DM_OK;
	}
	/* over a rate already: refused before the photo is read */
	if (quota_check(QUOTA_POSTS, r->user_id, &v.retry_s) != DM_OK ||
	    quota_check(QUOTA_UPLOAD, r->user_id, &v.retry_s) != DM_OK) {
		drain_body(r);
		return http_fail_rate(r, v.retry_s);
	}
	f = form_new();
	if (!f) {
		drain_body(r);
		return http_fail_dm(r, DM_ENOMEM);
	}
	rc = receive_and_post(r, f, &p, &v);
	if (rc == DM_OK)
		dm_strlcpy(image, f->up.name, sizeof image);
	form_free(f); /* temp file gone before anyone hears back */
	if (v.status == 429 && !strcmp(v.code, "RATE_LIMITED"))
		return http_fail_rate(r, v.retry_s);
	if (v.status)
		return http_fail(r, v.status, v.code, v.msg);
	if (rc != DM_OK)
		return http_fail_dm(r, rc);
	st = db_prep(r->db, "SELECT json_object('msg','success','itemId',CAST(?1 AS TEXT),'icrId',CAST(?2 AS TEXT),"
			    "'image',dm_image(?3))");
	if (st) {
		sqlite3_bind_int64(st, 1, p.item_id);
		sqlite3_bind_int64(st, 2, p.icr_id);
		sqlite3_bind_text(st, 3, image, -1, SQLITE_TRANSIENT);
	}
	return http_reply_stmt(r, 201, st);
}
