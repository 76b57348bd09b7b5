/*
 * image — item photos: content checks, content-addressed storage under
 * DATA/images, and serving at GET /images/<sha256hex>.<ext>.
 * Prefix: image_.
 *
 * A photo is identified by its content only: JPEG, PNG, WebP or GIF by the
 * signature AND dimensions parsed from the headers (JPEG SOF marker, PNG
 * IHDR, WebP VP8/VP8L/VP8X, GIF logical screen descriptor); never by the
 * file name or the declared type. It is stored once as
 * DATA/images/<sha256hex>.<ext> (same bytes -> one file).
 *
 * Life of an upload (all of it on one request thread, except image_place
 * and image_release which run on the write lane so that they are
 * serialized with every insert and delete of items):
 *   image_upload_begin -> image_upload_write* -> image_upload_finish
 *   -> [write job] image_place -> (commit) -> [done] image_release on
 *   failure -> image_upload_cleanup (always).
 */
#ifndef IMAGE_H
#define IMAGE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/sha256.h>

#include "http.h"

/* "<64 hex>.<ext>" plus NUL */
#define IMAGE_NAME_MAX 72

typedef struct image_info {
	const char *ext;     /* "jpg", "png", "webp", "gif" (static) */
	const char *ctype;   /* "image/jpeg", ... (static) */
	uint32_t width, height;
} image_info_t;

/* An upload being received. Owned by one thread. */
typedef struct image_upload {
	int fd;                          /* temp file, -1 when closed */
	char tmp[600];                   /* its path ("" when none) */
	char name[IMAGE_NAME_MAX];       /* set by image_upload_finish */
	char path[600];                  /* DATA/images/<name> */
	mbedtls_sha256_context sha;
	int64_t size;
	image_info_t info;
} image_upload_t;

/* Checks the first bytes of an image read through fd (pread, from offset
 * 0; size = file size). DM_OK and *out, or DM_EINVAL when the content is not
 * a JPEG/PNG/WebP/GIF with sane dimensions (1..65535 per side). */
int image_sniff_fd(int fd, int64_t size, image_info_t *out);

/* Opens a new temp file under DATA/images. DM_OK or DM_ERR (logged). */
int image_upload_begin(image_upload_t *u);
/* Appends a chunk (hashing it). DM_OK or DM_ERR. */
int image_upload_write(image_upload_t *u, const void *data, size_t n);
/* Checks the content (DM_EINVAL if not an image), syncs the file and
 * computes its final name. DM_OK, DM_EINVAL or DM_ERR. */
int image_upload_finish(image_upload_t *u);
/* Closes and removes the temp file if it is still there. Safe to call more
 * than once and on an upload that never began. */
void image_upload_cleanup(image_upload_t *u);

/* Write lane only: makes the finished upload DATA/images/<name>. If that
 * file exists already (same content), the temp file is left for cleanup
 * and *created = 0; else it is renamed into place and *created = 1.
 * DM_OK or DM_ERR. */
int image_place(image_upload_t *u, int *created);
/* Write lane only, after the commit (done callbacks): removes
 * DATA/images/<name> when no item refers to it any more. w: the writer. */
void image_release(sqlite3 *w, const char *name);

/* Removes temp files a crash may have left (at start). */
void image_sweep_tmp(void);
/* Removes photo files no item refers to (a crash between placing a photo
 * and committing its item leaves one), last changed before the sweep
 * began; each decision and removal runs on the write lane (batches of
 * write jobs), so a photo being posted now is never removed. Logs each
 * removal and a total. A jobs_task: queue it at start. */
void image_sweep_orphans(void *unused);

/* Creates DATA/images if it is missing and registers GET /images/:name
 * (public). Call before any part that stores or sweeps photos starts.
 * DM_OK or DM_ERR (logged). */
int image_init(void);

#endif
