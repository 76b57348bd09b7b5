/*
 * item_post.c — POST /mainPage/write: the multipart form (text fields, the
 * photo and its optional thumbnail, each streamed to a temp file while
 * hashed and counted), its validation, the poster's quotas (rates in
 * quota.c, photo storage in the job), and the one write job that places
 * the images and inserts the item, its room and the owner's membership,
 * and stores the keyword alerts it raises (keyword.c); and the owner's
 * photo edits of an open item (add, reorder, remove: /items/:itemId/images),
 * each one write job as well (see item.h, API.md "Items").
 *
 * A refusal found on the way (a check of the form, or inside the job) is a
 * verdict holding a refusal.h row, sent once the temp files are gone.
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

#define FORM_SLACK 65536 /* multipart bytes allowed beyond the photos and thumbnails */
#define THUMB_MAX_BYTES 65536 /* the optional thumbnail: small by design */
#define THUMB_MAX_SIDE 480    /* pixels, longest side */
/* the largest request body: every photo and thumbnail at its limit */
#define BODY_MAX ((long long)ITEM_IMAGES_MAX * ((long long)cfg.max_upload + THUMB_MAX_BYTES) + FORM_SLACK)

enum { F_TITLE, F_CATEGORY, F_WANT, F_COMMENT, F_DEADLINE, F_FREE, NTEXT, F_FILE = 100, F_THUMB = 101, F_NONE = -1 };

static const struct {
	const char *name;
	size_t maxc;      /* characters */
} text_fields[NTEXT] = {
	[F_TITLE] = {"title", 100},   [F_CATEGORY] = {"category", 20}, [F_WANT] = {"wantItem", 100},
	[F_COMMENT] = {"comment", 2000}, [F_DEADLINE] = {"deadLine", 40}, [F_FREE] = {"freeYn", 1},
};

/* The multipart form being received (heap: the worker stack is small). */
typedef struct form {
	int cur;                         /* F_* of the part being read */
	struct {
		char *buf;               /* maxc * 4 bytes + NUL */
		size_t len;
		int seen, toolong, wrongtype;
	} f[NTEXT];
	image_upload_t up[ITEM_IMAGES_MAX];  /* the photos, in order (the first is the cover) */
	image_upload_t th[ITEM_IMAGES_MAX];  /* th[k]: the k-th thumbnail, for up[k] (optional) */
	int nfile, nthumb;               /* parts begun (each one cleaned up by form_free) */
	int thumb_too_big, too_many;
	int too_big, dup, io_error;
	int text_allowed;                /* the text fields are read (not when adding photos) */
} form_t;

/* civetweb: a new part named key (filename: "" for a plain field). The
 * photos (`file`, repeated up to ITEM_IMAGES_MAX times), the thumbnails
 * (`thumb`, the k-th for the k-th photo) and the known text fields are
 * read through form_get; unknown parts are skipped; a repeated text
 * field, a thumbnail without its photo, an 11th photo, or any trouble so
 * far, stops the parsing. */
static int form_found(const char *key, const char *filename, char *path, size_t pathlen, void *ud)
{
	form_t *f = ud;
	(void)path;
	(void)pathlen;
	f->cur = F_NONE;
	if (f->too_big || f->thumb_too_big || f->io_error || f->dup || f->too_many)
		return MG_FORM_FIELD_STORAGE_ABORT;
	if (!strcmp(key, "thumb")) {
		/* the k-th thumbnail belongs to the k-th photo (checked once
		 * the form is read: the parts may come in any order) */
		if (f->nthumb >= ITEM_IMAGES_MAX) {
			f->dup = 1;
			return MG_FORM_FIELD_STORAGE_ABORT;
		}
		if (image_upload_begin(&f->th[f->nthumb]) != DM_OK) {
			f->io_error = 1;
			return MG_FORM_FIELD_STORAGE_ABORT;
		}
		f->nthumb++;
		f->cur = F_THUMB;
		return MG_FORM_FIELD_STORAGE_GET;
	}
	if (!strcmp(key, "file")) {
		if (f->nfile >= ITEM_IMAGES_MAX) {
			f->too_many = 1;
			return MG_FORM_FIELD_STORAGE_ABORT;
		}
		if (image_upload_begin(&f->up[f->nfile]) != DM_OK) {
			f->io_error = 1;
			return MG_FORM_FIELD_STORAGE_ABORT;
		}
		f->nfile++;
		f->cur = F_FILE;
		return MG_FORM_FIELD_STORAGE_GET;
	}
	for (int i = 0; f->text_allowed && i < NTEXT; i++) {
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
	if (f->too_big || f->thumb_too_big || f->io_error || f->dup || f->too_many)
		return MG_FORM_FIELD_HANDLE_ABORT;
	if (f->cur == F_THUMB) {
		image_upload_t *th;
		dm_assert(f->nthumb > 0 && f->nthumb <= ITEM_IMAGES_MAX);
		th = &f->th[f->nthumb - 1];
		if (th->size + (int64_t)len > THUMB_MAX_BYTES) {
			f->thumb_too_big = 1;
			return MG_FORM_FIELD_HANDLE_ABORT;
		}
		if (image_upload_write(th, value, len) != DM_OK) {
			f->io_error = 1;
			return MG_FORM_FIELD_HANDLE_ABORT;
		}
		return MG_FORM_FIELD_HANDLE_GET;
	}
	if (f->cur == F_FILE) {
		image_upload_t *up;
		dm_assert(f->nfile > 0 && f->nfile <= ITEM_IMAGES_MAX);
		up = &f->up[f->nfile - 1];
		if (up->size + (int64_t)len > (int64_t)cfg.max_upload) {
			f->too_big = 1;
			return MG_FORM_FIELD_HANDLE_ABORT;
		}
		if (image_upload_write(up, value, len) != DM_OK) {
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

/* A new form; text: whether the item's text fields are read. */
static form_t *form_new(int text)
{
	form_t *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	f->text_allowed = text;
	for (int i = 0; i < ITEM_IMAGES_MAX; i++)
		f->up[i].fd = f->th[i].fd = -1;
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
	for (int i = 0; i < f->nfile; i++)
		image_upload_cleanup(&f->up[i]);
	for (int i = 0; i < f->nthumb; i++)
		image_upload_cleanup(&f->th[i]);
	for (int i = 0; i < NTEXT; i++)
		free(f->f[i].buf);
	free(f);
}

/* Reads and discards what is left of the request body (bounded), so that a
 * refusal reaches a client still sending its upload. */
static void drain_body(http_req_t *r)
{
	long long cap = BODY_MAX + (1 << 20), got = 0;
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

/* A refusal decided while a request is handled, by a check or inside the
 * write job, sent once the upload's files are cleaned up (so that a client
 * seeing the reply sees no temp file either). */
typedef struct verdict {
	int refused;             /* 0: none (a failed job's status speaks) */
	refusal_t rf;
	int retry_s;             /* RF_RATE_LIMITED: seconds for Retry-After */
} verdict_t;

/* Records refusal rf in v; returns DM_EINVAL (for checks and jobs). */
static int refuse(verdict_t *v, refusal_t rf)
{
	v->refused = 1;
	v->rf = rf;
	return DM_EINVAL;
}

/* Replies with v's refusal: RATE_LIMITED with Retry-After; a photo too
 * big, a deadline too far and the storage quota with the limit that
 * applies. */
static int send_refusal(http_req_t *r, const verdict_t *v)
{
	char detail[64];
	long kb = cfg.max_upload / 1024;

	switch (v->rf) {
	case RF_RATE_LIMITED: return http_fail_rate(r, v->retry_s);
	case RF_PHOTO_TOO_LARGE:
		if (kb >= 1024)
			snprintf(detail, sizeof detail, "%ldMB까지", kb / 1024);
		else
			snprintf(detail, sizeof detail, "%ldKB까지", kb);
		break;
	case RF_DEADLINE_TOO_FAR: snprintf(detail, sizeof detail, "%d일 이내", cfg.max_deadline_days); break;
	case RF_QUOTA_EXCEEDED: snprintf(detail, sizeof detail, "%dMB", cfg.quota_storage_mb); break;
	default: return http_refuse(r, v->rf);
	}
	return http_refuse_detail(r, v->rf, detail);
}

typedef struct post {
	int64_t user_id;
	const char *title, *category, *want, *comment;
	int free;                /* 나눔 (freeYn 'Y') */
	int64_t deadline;
	image_upload_t *up;      /* the photos, n of them (the first is the cover) */
	image_upload_t *th;      /* th[k] goes with up[k] when has_th[k] */
	int n;
	int has_th[ITEM_IMAGES_MAX];
	int created[ITEM_IMAGES_MAX];    /* up[k]'s file was made by this post */
	int th_created[ITEM_IMAGES_MAX]; /* th[k]'s file was made by this post */
	verdict_t v;             /* a refusal found by a check or in the job */
	int64_t item_id, icr_id;
} post_t;

/* Bytes of photo k with its thumbnail. */
static int64_t photo_bytes(const post_t *p, int k)
{
	return p->up[k].size + (p->has_th[k] ? p->th[k].size : 0);
}

/* Whether user_id's photos plus add bytes pass the storage quota: DM_OK,
 * DM_EINVAL (p->v QUOTA_EXCEEDED) or DM_ERR. */
static int storage_ok(sqlite3 *w, post_t *p, int64_t add)
{
	int64_t over = 0;
	if (db_get_int(w, &over, "SELECT coalesce(sum(imageBytes), 0) + ?2 > ?3 FROM saleItem WHERE userId = ?1",
		       DB_INT(p->user_id), DB_INT(add), DB_INT((int64_t)cfg.quota_storage_mb * 1048576)) != DM_OK)
		return DM_ERR;
	return over ? refuse(&p->v, RF_QUOTA_EXCEEDED) : DM_OK;
}

/* Places photos k0..p->n-1 (and their thumbnails) in the images dir and
 * adds them to item_id's itemImage rows from position pos0 on. DM_OK or
 * DM_ERR. On the write lane. */
static int place_photos(sqlite3 *w, post_t *p, int k0, int pos0)
{
	dm_assert(p->n <= ITEM_IMAGES_MAX && pos0 + p->n - k0 <= ITEM_IMAGES_MAX);
	for (int k = k0; k < p->n; k++) {
		if (image_place(&p->up[k], &p->created[k]) != DM_OK)
			return DM_ERR;
		if (p->has_th[k] && image_place(&p->th[k], &p->th_created[k]) != DM_OK)
			return DM_ERR;
		if (db_run(w, "INSERT INTO itemImage(itemId, pos, image, thumb, bytes) VALUES (?1, ?2, ?3, ?4, ?5)",
			   DB_INT(p->item_id), DB_INT(pos0 + k - k0), DB_TEXT(p->up[k].name),
			   DB_TEXT(p->has_th[k] ? p->th[k].name : NULL), DB_INT(photo_bytes(p, k))) != DM_OK)
			return DM_ERR;
	}
	return DM_OK;
}

/* The write job: re-checks the user (suspension, region) at commit time,
 * places the photos, then the item, its photo list, its room and the
 * owner's membership. */
static int post_write(sqlite3 *w, void *arg)
{
	post_t *p = arg;
	sqlite3_stmt *st;
	char region[REGION_MAX] = "";
	int64_t total = 0;
	int rc = DM_EAUTH;

	st = db_query(w, "SELECT address, coalesce(suspendedUntil, 0) > dm_now() FROM user WHERE userId = ?1",
		      DB_INT(p->user_id));
	if (!st)
		return DM_ERR;
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *a = (const char *)sqlite3_column_text(st, 0);
		if (sqlite3_column_int(st, 1))
			rc = refuse(&p->v, RF_SUSPENDED);
		else if (!a || !a[0] || dm_strlcpy(region, a, sizeof region) != DM_OK)
			rc = refuse(&p->v, RF_ADDRESS_REQUIRED);
		else
			rc = DM_OK;
	}
	db_done(st);
	if (rc != DM_OK)
		return rc;
	/* the storage quota: the photos of the user's items, these too */
	for (int k = 0; k < p->n; k++)
		total += photo_bytes(p, k);
	if ((rc = storage_ok(w, p, total)) != DM_OK)
		return rc;

	if (db_run(w, "INSERT INTO saleItem(userId, image, title, category, wantItem, comment, address, deadLine,"
		      " status, statusDt, createdDt, imageBytes, thumb, freeYn)"
		      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'SI01', dm_now(), dm_now(), ?9, ?10, ?11)",
		   DB_INT(p->user_id), DB_TEXT(p->up[0].name), DB_TEXT(p->title), DB_TEXT(p->category), DB_TEXT(p->want),
		   DB_TEXT(p->comment), DB_TEXT(region), DB_INT(p->deadline), DB_INT(total),
		   DB_TEXT(p->has_th[0] ? p->th[0].name : NULL), DB_TEXT(p->free ? "Y" : "N")) != DM_OK)
		return DM_ERR;
	p->item_id = sqlite3_last_insert_rowid(w);
	if ((rc = place_photos(w, p, 0, 0)) != DM_OK)
		return rc;
	if (db_run(w, "INSERT INTO itemChatRoom(itemId, createdDt) VALUES (?1, dm_now())", DB_INT(p->item_id)) != DM_OK)
		return DM_ERR;
	p->icr_id = sqlite3_last_insert_rowid(w);
	if (db_run(w, "INSERT INTO itemChatRoomUser(icrId, userId, chooseYn, createdDt) VALUES (?1, ?2, 'Y', dm_now())",
		   DB_INT(p->icr_id), DB_INT(p->user_id)) != DM_OK)
		return DM_ERR;
	keyword_on_post(w, p->item_id); /* the alerts commit with the post */
	return DM_OK;
}

/* After the commit (or its failure): the files this post stored go again
 * if the post did not make it, unless another item uses the same bytes. */
static void post_done(void *arg, int status)
{
	post_t *p = arg;
	if (status == DM_OK)
		return;
	for (int k = 0; k < p->n; k++) {
		if (p->created[k])
			image_release(db_writer(), p->up[k].name);
		if (p->th_created[k])
			image_release(db_writer(), p->th[k].name);
	}
}

/* The refusal for the user's state (before the body is read, and again in
 * the job). Returns DM_OK when the user may post; else replied. */
static int check_poster(http_req_t *r)
{
	sqlite3_stmt *st = db_query(r->db, "SELECT address, coalesce(suspendedUntil, 0) FROM user WHERE userId = ?1",
				    DB_INT(r->user_id));
	int64_t until = 0;
	int has_addr = 0, found = 0;

	if (!st) {
		http_fail_dm(r, DM_ERR);
		return DM_ERR;
	}
	if (sqlite3_step(st) == SQLITE_ROW) {
		found = 1;
		has_addr = sqlite3_column_type(st, 0) == SQLITE_TEXT && sqlite3_column_bytes(st, 0) > 0;
		until = sqlite3_column_int64(st, 1);
	}
	db_done(st);
	if (!found) {
		http_fail_dm(r, DM_EAUTH);
		return DM_EAUTH;
	}
	if (until > dm_now_ms()) {
		char t[32], until_s[48];
		dm_fmt_time(until, t);
		t[16] = 0; /* "YYYY-MM-DDTHH:MM" */
		t[10] = ' ';
		snprintf(until_s, sizeof until_s, "%s까지", t);
		http_refuse_detail(r, RF_SUSPENDED, until_s);
		return DM_EFORBID;
	}
	if (!has_addr) {
		http_refuse(r, RF_ADDRESS_REQUIRED);
		return DM_EINVAL;
	}
	return DM_OK;
}

/* Validates the received form into p; DM_OK, or DM_EINVAL with v set. */
static int check_form(form_t *f, post_t *p, verdict_t *v)
{
	static const refusal_t bad[NTEXT] = {
		[F_TITLE] = RF_INVALID_TITLE,		[F_CATEGORY] = RF_INVALID_CATEGORY,
		[F_WANT] = RF_INVALID_WANT_ITEM,	[F_COMMENT] = RF_INVALID_ITEM_COMMENT,
		[F_DEADLINE] = RF_INVALID_DEADLINE,	[F_FREE] = RF_INVALID_FREE,
	};
	int64_t now;

	/* freeYn: optional, Y or N; with Y (나눔) wantItem is optional */
	if (f->f[F_FREE].seen && (f->f[F_FREE].wrongtype || f->f[F_FREE].toolong ||
				  (strcmp(f->f[F_FREE].buf, "Y") && strcmp(f->f[F_FREE].buf, "N"))))
		return refuse(v, bad[F_FREE]);
	p->free = f->f[F_FREE].seen && !strcmp(f->f[F_FREE].buf, "Y");
	for (int i = 0; i < NTEXT; i++)
		if (i == F_FREE || (i == F_WANT && p->free && !f->f[i].wrongtype && !f->f[i].toolong &&
				    (!f->f[i].seen || !f->f[i].len)))
			continue;
		else if (!f->f[i].seen || f->f[i].toolong || f->f[i].wrongtype ||
		    !text_ok(f->f[i].buf, f->f[i].len, 1, text_fields[i].maxc, i == F_COMMENT))
			return refuse(v, bad[i]);
	if (!item_category_ok(f->f[F_CATEGORY].buf))
		return refuse(v, bad[F_CATEGORY]);
	if (dm_parse_time(f->f[F_DEADLINE].buf, &p->deadline) != DM_OK)
		return refuse(v, bad[F_DEADLINE]);
	now = dm_now_ms();
	if (p->deadline <= now)
		return refuse(v, RF_DEADLINE_PAST);
	if (p->deadline > now + (int64_t)cfg.max_deadline_days * 86400000LL)
		return refuse(v, RF_DEADLINE_TOO_FAR);
	p->title = f->f[F_TITLE].buf;
	p->category = f->f[F_CATEGORY].buf;
	p->want = f->f[F_WANT].buf;
	p->comment = f->f[F_COMMENT].buf;
	return DM_OK;
}

/* Reads the multipart form of r into f and checks its photos and
 * thumbnails by content into p (p->up, p->th, p->n, p->has_th); text
 * fields are checked by check_form when read. DM_OK, DM_EINVAL (v set:
 * p->n == 0 is FILE_REQUIRED), or DM_ERR. */
static int receive_photos(http_req_t *r, form_t *f, post_t *p, verdict_t *v)
{
	struct mg_form_data_handler fdh;
	int n;

	memset(&fdh, 0, sizeof fdh);
	fdh.field_found = form_found;
	fdh.field_get = form_get;
	fdh.field_store = form_store;
	fdh.user_data = f;
	n = mg_handle_form_request(r->conn, &fdh);
	if (f->too_big || f->thumb_too_big || f->dup || f->io_error || f->too_many || n < 0)
		drain_body(r);
	if (f->too_big)
		return refuse(v, RF_PHOTO_TOO_LARGE);
	if (f->thumb_too_big)
		return refuse(v, RF_THUMB_TOO_LARGE);
	if (f->io_error)
		return DM_ERR;
	if (n < 0)
		return refuse(v, RF_INVALID_MULTIPART);
	if (f->too_many)
		return refuse(v, RF_TOO_MANY_IMAGES);
	if (f->dup || f->nthumb > f->nfile)
		return refuse(v, RF_DUPLICATE_FIELD);
	p->up = f->up;
	p->th = f->th;
	p->n = f->nfile;
	return DM_OK;
}

/* Checks the received photos (p->n of them, at least one) and their
 * thumbnails by content. DM_OK, DM_EINVAL (v set) or DM_ERR. */
static int check_photos(form_t *f, post_t *p, verdict_t *v)
{
	int rc;
	for (int k = 0; k < p->n; k++)
		if (f->up[k].size == 0)
			return refuse(v, RF_FILE_REQUIRED);
	if (p->n == 0)
		return refuse(v, RF_FILE_REQUIRED);
	for (int k = 0; k < p->n; k++) {
		rc = image_upload_finish(&f->up[k]);
		if (rc == DM_EINVAL)
			return refuse(v, RF_INVALID_IMAGE);
		if (rc != DM_OK)
			return DM_ERR;
	}
	for (int k = 0; k < f->nthumb; k++) {
		if (f->th[k].size == 0)
			continue; /* an empty thumbnail part: none for that photo */
		rc = image_upload_finish(&f->th[k]);
		if (rc == DM_EINVAL || (rc == DM_OK && (f->th[k].info.width > THUMB_MAX_SIDE ||
							 f->th[k].info.height > THUMB_MAX_SIDE)))
			return refuse(v, RF_INVALID_THUMB);
		if (rc != DM_OK)
			return DM_ERR;
		p->has_th[k] = 1;
	}
	return DM_OK;
}

/* Bytes of all of p's photos and thumbnails. */
static int64_t photos_bytes(const post_t *p)
{
	int64_t n = 0;
	for (int k = 0; k < p->n; k++)
		n += photo_bytes(p, k);
	return n;
}

/* Receives the form, checks it and the photos, and runs the post job.
 * DM_OK (p's ids set), DM_EINVAL (p->v set), or another DM_* status. */
static int receive_and_post(http_req_t *r, form_t *f, post_t *p)
{
	verdict_t *v = &p->v;
	int rc = receive_photos(r, f, p, v);

	if (rc != DM_OK)
		return rc;
	if (check_form(f, p, v) != DM_OK)
		return DM_EINVAL;
	if ((rc = check_photos(f, p, v)) != DM_OK)
		return rc;
	/* the rates: every photo received counts, a post once it is valid */
	if (quota_take(QUOTA_UPLOAD, r->user_id, photos_bytes(p), &v->retry_s) != DM_OK ||
	    quota_take(QUOTA_POSTS, r->user_id, 1, &v->retry_s) != DM_OK)
		return refuse(v, RF_RATE_LIMITED);
	p->user_id = r->user_id;
	return jobs_write_then(post_write, post_done, p);
}

/* POST /mainPage/write (bearer), multipart: file (1 to ITEM_IMAGES_MAX
 * parts, in order: the first is the cover), category, title, wantItem
 * (optional with freeYn Y), comment, deadLine, freeYn (optional), and
 * optionally thumb parts (the k-th for the k-th photo; each a small image:
 * at most THUMB_MAX_BYTES and THUMB_MAX_SIDE px, checked by content like
 * the photo) -> 201 {msg, itemId, icrId, image (the cover)}. */
int item_post(http_req_t *r)
{
	const char *ct = http_header(r, "Content-Type");
	form_t *f = NULL;
	post_t p;
	char image[IMAGE_NAME_MAX] = "";
	int rc;

	memset(&p, 0, sizeof p);
	if (!ct || strncasecmp(ct, "multipart/form-data;", 20)) {
		drain_body(r);
		return http_refuse(r, RF_INVALID_MULTIPART);
	}
	if (r->ri->content_length > BODY_MAX) {
		drain_body(r);
		refuse(&p.v, RF_PHOTO_TOO_LARGE);
		return send_refusal(r, &p.v);
	}
	if (check_poster(r) != DM_OK) {
		drain_body(r);
		return DM_OK;
	}
	/* over a rate already: refused before the photo is read */
	if (quota_check(QUOTA_POSTS, r->user_id, &p.v.retry_s) != DM_OK ||
	    quota_check(QUOTA_UPLOAD, r->user_id, &p.v.retry_s) != DM_OK) {
		drain_body(r);
		return http_fail_rate(r, p.v.retry_s);
	}
	f = form_new(1);
	if (!f) {
		drain_body(r);
		return http_fail_dm(r, DM_ENOMEM);
	}
	rc = receive_and_post(r, f, &p);
	if (rc == DM_OK)
		dm_strlcpy(image, f->up[0].name, sizeof image);
	form_free(f); /* temp file gone before anyone hears back */
	if (rc != DM_OK && p.v.refused)
		return send_refusal(r, &p.v);
	if (rc != DM_OK)
		return http_fail_dm(r, rc);
	return http_reply_stmt(r, 201,
			       db_query(r->db, "SELECT json_object('msg','success','itemId',CAST(?1 AS TEXT),"
					       "'icrId',CAST(?2 AS TEXT),'image',dm_image(?3))",
					DB_INT(p.item_id), DB_INT(p.icr_id), DB_TEXT(image)));
}

/* ------------------------------------------------------- photo edits */

/* The owner's edit of an item's photos (a write job's argument). */
typedef struct edit {
	post_t p;                /* the item (p.item_id), its owner (p.user_id), added photos */
	int64_t image_id;        /* remove: the photo */
	int64_t order[ITEM_IMAGES_MAX]; /* reorder: every photo's id, in the new order */
	int norder;
	char gone[2][IMAGE_NAME_MAX];   /* remove: its files, released after the commit */
} edit_t;

/* Common start of an edit job: the item exists (else the refusal
 * ITEM_NOT_FOUND), is e's owner's (NOT_OWNER) and open (ITEM_CLOSED_PHOTOS),
 * the owner is not suspended (SUSPENDED);
 * an item without itemImage rows gets its one photo as row 0. Sets *n to
 * the number of photos. DM_OK, DM_EINVAL with e->p.v set, or DM_ERR. */
static int edit_begin(sqlite3 *w, edit_t *e, int *n)
{
	sqlite3_stmt *st = db_query(w, "SELECT s.userId, s.status = 'SI01' AND s.deadLine > dm_now(),"
				       " coalesce(u.suspendedUntil, 0) > dm_now() FROM saleItem s JOIN user u ON u.userId = s.userId"
				       " WHERE s.itemId = ?1",
				    DB_INT(e->p.item_id));
	int64_t count = 0;
	int rc;

	if (!st)
		return DM_ERR;
	if (sqlite3_step(st) != SQLITE_ROW)
		rc = refuse(&e->p.v, RF_ITEM_NOT_FOUND);
	else if (sqlite3_column_int64(st, 0) != e->p.user_id)
		rc = refuse(&e->p.v, RF_NOT_OWNER);
	else if (!sqlite3_column_int(st, 1))
		rc = refuse(&e->p.v, RF_ITEM_CLOSED_PHOTOS);
	else if (sqlite3_column_int(st, 2))
		rc = refuse(&e->p.v, RF_SUSPENDED); /* no posting while suspended: nor photos */
	else
		rc = DM_OK;
	db_done(st);
	if (rc != DM_OK)
		return rc;
	if (db_run(w, "INSERT INTO itemImage(itemId, pos, image, thumb, bytes) SELECT itemId, 0, image, thumb, imageBytes"
		      " FROM saleItem WHERE itemId = ?1 AND NOT EXISTS (SELECT 1 FROM itemImage WHERE itemId = ?1)",
		   DB_INT(e->p.item_id)) != DM_OK ||
	    db_get_int(w, &count, "SELECT count(*) FROM itemImage WHERE itemId = ?1", DB_INT(e->p.item_id)) != DM_OK)
		return DM_ERR;
	*n = (int)count;
	return DM_OK;
}

/* Sets the positions of e's item's photos to the order of ids (n of them;
 * every row of the item is among them), then the cover and the byte count
 * on saleItem. DM_OK or DM_ERR. */
static int edit_finish(sqlite3 *w, edit_t *e, const int64_t *ids, int n)
{
	if (db_run(w, "UPDATE itemImage SET pos = pos + 1000 WHERE itemId = ?1", DB_INT(e->p.item_id)) != DM_OK)
		return DM_ERR;
	for (int i = 0; i < n; i++) {
		int changes = 0;
		if (db_run_changes(w, &changes, "UPDATE itemImage SET pos = ?3 WHERE itemId = ?1 AND itemImageId = ?2",
				   DB_INT(e->p.item_id), DB_INT(ids[i]), DB_INT(i)) != DM_OK ||
		    changes != 1)
			return DM_ERR;
	}
	return db_run(w, "UPDATE saleItem SET image = (SELECT image FROM itemImage WHERE itemId = ?1 AND pos = 0),"
			 " thumb = (SELECT thumb FROM itemImage WHERE itemId = ?1 AND pos = 0),"
			 " imageBytes = (SELECT sum(bytes) FROM itemImage WHERE itemId = ?1) WHERE itemId = ?1",
		      DB_INT(e->p.item_id)) == DM_OK
		       ? DM_OK
		       : DM_ERR;
}

/* The ids of e's item's photos in their order now into ids (up to
 * ITEM_IMAGES_MAX). Returns how many, -1 on error. */
static int edit_ids(sqlite3 *w, edit_t *e, int64_t *ids)
{
	sqlite3_stmt *st = db_query(w, "SELECT itemImageId FROM itemImage WHERE itemId = ?1 ORDER BY pos",
				    DB_INT(e->p.item_id));
	int n = 0, rc;
	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < ITEM_IMAGES_MAX)
		ids[n++] = sqlite3_column_int64(st, 0);
	db_done(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? n : -1;
}

/* Write job: adds e->p's photos after the item's last one. */
static int add_write(sqlite3 *w, void *arg)
{
	edit_t *e = arg;
	int64_t ids[ITEM_IMAGES_MAX];
	int n, rc = edit_begin(w, e, &n);

	if (rc != DM_OK)
		return rc;
	if (n + e->p.n > ITEM_IMAGES_MAX)
		return refuse(&e->p.v, RF_TOO_MANY_IMAGES_ADDED);
	if ((rc = storage_ok(w, &e->p, photos_bytes(&e->p))) != DM_OK)
		return rc;
	if ((rc = place_photos(w, &e->p, 0, n)) != DM_OK)
		return rc;
	if ((n = edit_ids(w, e, ids)) < 0)
		return DM_ERR;
	return edit_finish(w, e, ids, n);
}

/* Write job: removes photo e->image_id (not the last one). */
static int remove_write(sqlite3 *w, void *arg)
{
	edit_t *e = arg;
	int64_t ids[ITEM_IMAGES_MAX], keep[ITEM_IMAGES_MAX];
	sqlite3_stmt *st;
	int n, k = 0, found = 0, rc = edit_begin(w, e, &n);

	if (rc != DM_OK)
		return rc;
	if ((n = edit_ids(w, e, ids)) < 0)
		return DM_ERR;
	for (int i = 0; i < n; i++)
		if (ids[i] == e->image_id)
			found = 1;
		else
			keep[k++] = ids[i];
	if (!found)
		return refuse(&e->p.v, RF_IMAGE_NOT_FOUND);
	if (k == 0)
		return refuse(&e->p.v, RF_LAST_IMAGE);
	st = db_query(w, "DELETE FROM itemImage WHERE itemImageId = ?1 RETURNING image, coalesce(thumb, '')",
		      DB_INT(e->image_id));
	if (!st)
		return DM_ERR;
	rc = DM_ERR;
	if (sqlite3_step(st) == SQLITE_ROW) {
		dm_strlcpy(e->gone[0], (const char *)sqlite3_column_text(st, 0), IMAGE_NAME_MAX);
		dm_strlcpy(e->gone[1], (const char *)sqlite3_column_text(st, 1), IMAGE_NAME_MAX);
		rc = sqlite3_step(st) == SQLITE_DONE ? DM_OK : DM_ERR;
	}
	db_done(st);
	return rc == DM_OK ? edit_finish(w, e, keep, k) : rc;
}

/* After a removal's commit: its files go unless another item uses them. */
static void remove_done(void *arg, int status)
{
	edit_t *e = arg;
	if (status != DM_OK)
		return;
	image_release(db_writer(), e->gone[0]);
	image_release(db_writer(), e->gone[1]);
}

/* Write job: puts the item's photos in the order e->order (every one of
 * them, each once: else INVALID_ORDER). */
static int order_write(sqlite3 *w, void *arg)
{
	edit_t *e = arg;
	int64_t ids[ITEM_IMAGES_MAX];
	int n, rc = edit_begin(w, e, &n);

	if (rc != DM_OK)
		return rc;
	if ((n = edit_ids(w, e, ids)) < 0)
		return DM_ERR;
	if (n != e->norder)
		goto invalid;
	for (int i = 0; i < n; i++) {
		int hits = 0;
		for (int k = 0; k < n; k++)
			hits += e->order[k] == ids[i];
		if (hits != 1)
			goto invalid;
	}
	return edit_finish(w, e, e->order, n);
invalid:
	return refuse(&e->p.v, RF_INVALID_ORDER);
}

/* Replies to a finished edit of item_id: 200 (201 for an add) {msg,
 * itemId, images}, or the refusal in e->p.v, or the one for rc. */
static int edit_reply(http_req_t *r, edit_t *e, int rc, int created)
{
	if (rc != DM_OK)
		return e->p.v.refused ? send_refusal(r, &e->p.v) : http_fail_dm(r, rc);
	return http_reply_stmt(r, created ? 201 : 200,
			       db_query(r->db, "SELECT json_object('msg','success','itemId',CAST(s.itemId AS TEXT),'images',"
					ITEM_IMAGES_JSON("s") ") FROM saleItem s WHERE s.itemId = ?1",
					DB_INT(e->p.item_id)));
}

/* POST /items/:itemId/images (bearer), multipart: file parts (and thumb
 * parts, the k-th for the k-th file) added after the item's photos, up
 * to ITEM_IMAGES_MAX in all -> 201 {msg, itemId, images}. */
int item_images_add(http_req_t *r)
{
	const char *ct = http_header(r, "Content-Type");
	edit_t *e = calloc(1, sizeof *e);
	form_t *f = NULL;
	int rc;

	if (!e) {
		drain_body(r);
		return http_fail_dm(r, DM_ENOMEM);
	}
	e->p.user_id = r->user_id;
	e->p.item_id = dm_parse_id(r->param[0]);
	if (!ct || strncasecmp(ct, "multipart/form-data;", 20)) {
		drain_body(r);
		free(e);
		return http_refuse(r, RF_INVALID_MULTIPART);
	}
	if (r->ri->content_length > BODY_MAX) {
		drain_body(r);
		refuse(&e->p.v, RF_PHOTO_TOO_LARGE);
		rc = send_refusal(r, &e->p.v);
		free(e);
		return rc;
	}
	if (quota_check(QUOTA_UPLOAD, r->user_id, &e->p.v.retry_s) != DM_OK) {
		drain_body(r);
		rc = http_fail_rate(r, e->p.v.retry_s);
		free(e);
		return rc;
	}
	if (!(f = form_new(0))) {
		drain_body(r);
		free(e);
		return http_fail_dm(r, DM_ENOMEM);
	}
	rc = receive_photos(r, f, &e->p, &e->p.v);
	if (rc == DM_OK)
		rc = check_photos(f, &e->p, &e->p.v);
	if (rc == DM_OK && quota_take(QUOTA_UPLOAD, r->user_id, photos_bytes(&e->p), &e->p.v.retry_s) != DM_OK)
		rc = refuse(&e->p.v, RF_RATE_LIMITED);
	if (rc == DM_OK && !e->p.item_id)
		rc = refuse(&e->p.v, RF_ITEM_NOT_FOUND);
	else if (rc == DM_OK)
		rc = jobs_write_then(add_write, post_done, &e->p);
	form_free(f); /* temp files gone before anyone hears back */
	rc = edit_reply(r, e, rc, 1);
	free(e);
	return rc;
}

/* DELETE /items/:itemId/images/:imageId (bearer) -> 200 {msg, itemId, images} */
int item_images_remove(http_req_t *r)
{
	edit_t *e = calloc(1, sizeof *e);
	int rc;

	if (!e)
		return http_fail_dm(r, DM_ENOMEM);
	e->p.user_id = r->user_id;
	e->p.item_id = dm_parse_id(r->param[0]);
	e->image_id = dm_parse_id(r->param[1]);
	if (!e->p.item_id)
		rc = refuse(&e->p.v, RF_ITEM_NOT_FOUND);
	else if (!e->image_id)
		rc = refuse(&e->p.v, RF_IMAGE_NOT_FOUND);
	else
		rc = jobs_write_then(remove_write, remove_done, e);
	rc = edit_reply(r, e, rc, 0);
	free(e);
	return rc;
}

/* PUT /items/:itemId/images (bearer) {order: [imageId, ...]} -> 200 {msg, itemId, images} */
int item_images_order(http_req_t *r)
{
	edit_t *e;
	sqlite3_stmt *st;
	int rc, bad = 0;

	if (http_json(r) != DM_OK)
		return DM_OK;
	if (!(e = calloc(1, sizeof *e)))
		return http_fail_dm(r, DM_ENOMEM);
	e->p.user_id = r->user_id;
	e->p.item_id = dm_parse_id(r->param[0]);
	/* order: an array of 1..ITEM_IMAGES_MAX ids (digit strings or
	 * integers; anything else reads as 0); no rows unless an array */
	st = db_query(r->db, "SELECT CASE WHEN type = 'integer' AND value > 0 THEN value"
			     " WHEN type = 'text' AND value GLOB '[1-9]*' AND NOT value GLOB '*[^0-9]*'"
			     " AND length(value) <= 18 THEN CAST(value AS INTEGER) ELSE 0 END"
			     " FROM json_each(?1, '$.order') WHERE json_type(?1, '$.order') = 'array' ORDER BY key",
		      DB_TEXT(r->body));
	if (!st) {
		free(e);
		return http_fail_dm(r, DM_ERR);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		if (id <= 0 || e->norder == ITEM_IMAGES_MAX)
			bad = 1;
		else
			e->order[e->norder++] = id;
	}
	if (rc != SQLITE_DONE)
		bad = 1;
	db_done(st);
	if (bad || e->norder == 0) {
		free(e);
		return http_refuse(r, RF_INVALID_ORDER);
	}
	if (!e->p.item_id)
		rc = refuse(&e->p.v, RF_ITEM_NOT_FOUND);
	else
		rc = jobs_write_then(order_write, NULL, e);
	rc = edit_reply(r, e, rc, 0);
	free(e);
	return rc;
}
