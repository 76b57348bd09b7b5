/*
 * image.c — photo checks, content-addressed storage and serving (see
 * image.h).
 *
 * Thread-safety: no shared state. Uploads belong to one request thread;
 * image_place / image_release run only on the write lane, which serializes
 * every "does a file exist / is it still used" decision with the inserts
 * and deletes of items (so a photo is never removed while an item that
 * uses it is being committed).
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "config.h"
#include "db.h"
#include "dm.h"
#include "http.h"
#include "image.h"
#include "jobs.h"

#define MAX_SIDE 65535u
#define TMP_PREFIX ".up-"
#define SERVE_CHUNK 65536

/* ------------------------------------------------------------- sniffing */

/* Reads exactly n bytes at off. 1 on success, 0 on a short read / error. */
static int rd(int fd, int64_t off, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = pread(fd, (char *)buf + got, n - got, (off_t)(off + (int64_t)got));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return 0;
		got += (size_t)k;
	}
	return 1;
}

static uint32_t be16(const unsigned char *b)
{
	return (uint32_t)b[0] << 8 | b[1];
}

static uint32_t be32(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static uint32_t le16(const unsigned char *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8;
}

static uint32_t le24(const unsigned char *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16;
}

static uint32_t le32(const unsigned char *b)
{
	return le24(b) | (uint32_t)b[3] << 24;
}

/* JPEG: walks the marker segments from SOI to the first SOF (baseline,
 * progressive, lossless, arithmetic: C0-CF except DHT C4, JPG C8, DAC CC)
 * and reads its height and width. Scan data or EOI before a SOF: invalid. */
static int sniff_jpeg(int fd, int64_t size, image_info_t *out)
{
	int64_t pos = 2;
	unsigned char b[8];

	for (int seg = 0; seg < 4096; seg++) {
		unsigned m;
		if (!rd(fd, pos, b, 1) || b[0] != 0xFF)
			return DM_EINVAL;
		do { /* fill bytes */
			pos++;
			if (pos >= size || !rd(fd, pos, b, 1))
				return DM_EINVAL;
		} while (b[0] == 0xFF);
		m = b[0];
		pos++; /* past the marker byte */
		if (m == 0x01 || (m >= 0xD0 && m <= 0xD7))
			continue; /* standalone markers */
		if (m == 0x00 || m == 0xD8 || m == 0xD9 || m == 0xDA)
			return DM_EINVAL;
		if (!rd(fd, pos, b, 2))
			return DM_EINVAL;
		uint32_t len = be16(b);
		if (len < 2)
			return DM_EINVAL;
		if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
			if (len < 8 || !rd(fd, pos + 2, b, 5))
				return DM_EINVAL;
			out->height = be16(b + 1);
			out->width = be16(b + 3);
			out->ext = "jpg";
			out->ctype = "image/jpeg";
			return DM_OK;
		}
		pos += len;
		if (pos >= size)
			return DM_EINVAL;
	}
	return DM_EINVAL;
}

int image_sniff_fd(int fd, int64_t size, image_info_t *out)
{
	unsigned char b[32];
	static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
	int rc = DM_EINVAL;

	memset(out, 0, sizeof *out);
	if (size < 12 || !rd(fd, 0, b, 12))
		return DM_EINVAL;
	if (b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) {
		rc = sniff_jpeg(fd, size, out);
	} else if (!memcmp(b, png_sig, 8)) {
		/* the first chunk must be IHDR, 13 bytes */
		if (size >= 33 && rd(fd, 0, b, 24) && be32(b + 8) == 13 && !memcmp(b + 12, "IHDR", 4)) {
			out->width = be32(b + 16);
			out->height = be32(b + 20);
			out->ext = "png";
			out->ctype = "image/png";
			rc = DM_OK;
		}
	} else if (!memcmp(b, "GIF87a", 6) || !memcmp(b, "GIF89a", 6)) {
		/* logical screen descriptor right after the signature */
		out->width = le16(b + 6);
		out->height = le16(b + 8);
		out->ext = "gif";
		out->ctype = "image/gif";
		rc = DM_OK;
	} else if (!memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4)) {
		if (size < 30 || !rd(fd, 0, b, 30) || le32(b + 4) < 22 || (int64_t)le32(b + 4) + 8 > size)
			return DM_EINVAL;
		if (!memcmp(b + 12, "VP8 ", 4)) {
			/* lossy: key frame tag, start code 9d 01 2a, 14-bit sizes */
			if ((b[20] & 1) == 0 && b[23] == 0x9D && b[24] == 0x01 && b[25] == 0x2A) {
				out->width = le16(b + 26) & 0x3FFF;
				out->height = le16(b + 28) & 0x3FFF;
				rc = DM_OK;
			}
		} else if (!memcmp(b + 12, "VP8L", 4)) {
			/* lossless: signature 0x2f, then 14-bit width-1, height-1 */
			if (b[20] == 0x2F) {
				uint32_t bits = le32(b + 21);
				out->width = (bits & 0x3FFF) + 1;
				out->height = ((bits >> 14) & 0x3FFF) + 1;
				rc = DM_OK;
			}
		} else if (!memcmp(b + 12, "VP8X", 4)) {
			/* extended: 24-bit canvas width-1, height-1 */
			out->width = le24(b + 24) + 1;
			out->height = le24(b + 27) + 1;
			rc = DM_OK;
		}
		out->ext = "webp";
		out->ctype = "image/webp";
	}
	if (rc == DM_OK && (out->width == 0 || out->height == 0 || out->width > MAX_SIDE || out->height > MAX_SIDE))
		rc = DM_EINVAL;
	return rc;
}

/* -------------------------------------------------------------- storage */

static int images_dir(char *out, size_t cap)
{
	return dm_snprintf(out, cap, "%s/images", cfg.data);
}

int image_upload_begin(image_upload_t *u)
{
	unsigned char rnd[16];
	char hex[33], dir[520];

	memset(u, 0, sizeof *u);
	u->fd = -1;
	mbedtls_sha256_init(&u->sha);
	if (mbedtls_sha256_starts(&u->sha, 0) != 0 || dm_random(rnd, sizeof rnd) != DM_OK)
		return DM_ERR;
	dm_hex(rnd, sizeof rnd, hex);
	if (images_dir(dir, sizeof dir) != DM_OK ||
	    dm_snprintf(u->tmp, sizeof u->tmp, "%s/" TMP_PREFIX "%s.tmp", dir, hex) != DM_OK) {
		u->tmp[0] = 0;
		return DM_ERR;
	}
	u->fd = open(u->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (u->fd < 0) {
		dm_error("cannot create %s: %s", u->tmp, strerror(errno));
		u->tmp[0] = 0;
		return DM_ERR;
	}
	return DM_OK;
}

int image_upload_write(image_upload_t *u, const void *data, size_t n)
{
	const char *p = data;
	size_t left = n;

	if (u->fd < 0)
		return DM_ERR;
	if (n && mbedtls_sha256_update(&u->sha, data, n) != 0)
		return DM_ERR;
	while (left) {
		ssize_t k = write(u->fd, p, left);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			dm_error("writing %s: %s", u->tmp, strerror(errno));
			return DM_ERR;
		}
		p += k;
		left -= (size_t)k;
	}
	u->size += (int64_t)n;
	return DM_OK;
}

int image_upload_finish(image_upload_t *u)
{
	unsigned char h[32];
	char hex[65], dir[520];
	int rc;

	if (u->fd < 0)
		return DM_ERR;
	rc = image_sniff_fd(u->fd, u->size, &u->info);
	if (rc != DM_OK)
		return rc;
	if (mbedtls_sha256_finish(&u->sha, h) != 0)
		return DM_ERR;
	dm_hex(h, sizeof h, hex);
	if (dm_snprintf(u->name, sizeof u->name, "%s.%s", hex, u->info.ext) != DM_OK ||
	    images_dir(dir, sizeof dir) != DM_OK ||
	    dm_snprintf(u->path, sizeof u->path, "%s/%s", dir, u->name) != DM_OK)
		return DM_ERR;
	/* the bytes are durable before any row can refer to them */
	if (fdatasync(u->fd) != 0) {
		dm_error("syncing %s: %s", u->tmp, strerror(errno));
		return DM_ERR;
	}
	return DM_OK;
}

void image_upload_cleanup(image_upload_t *u)
{
	if (!u)
		return;
	if (u->fd >= 0) {
		close(u->fd);
		u->fd = -1;
	}
	if (u->tmp[0]) {
		if (unlink(u->tmp) != 0 && errno != ENOENT)
			dm_warn("cannot remove %s: %s", u->tmp, strerror(errno));
		u->tmp[0] = 0;
	}
	mbedtls_sha256_free(&u->sha);
}

/* fsync the images directory so a rename or unlink in it is durable. */
static void sync_dir(void)
{
	char dir[520];
	int fd;
	if (images_dir(dir, sizeof dir) != DM_OK)
		return;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fsync(fd) != 0)
		dm_warn("syncing %s: %s", dir, strerror(errno));
	close(fd);
}

int image_place(image_upload_t *u, int *created)
{
	*created = 0;
	if (!u->name[0] || !u->tmp[0])
		return DM_ERR;
	if (access(u->path, F_OK) == 0)
		return DM_OK; /* same content stored already: the temp file goes */
	if (rename(u->tmp, u->path) != 0) {
		dm_error("cannot store %s: %s", u->path, strerror(errno));
		return DM_ERR;
	}
	u->tmp[0] = 0; /* nothing left to clean up */
	*created = 1;
	sync_dir();
	return DM_OK;
}

/* Whether some item refers to the file ?1: as a cover or its thumbnail
 * (saleItem), or as any of its photos or their thumbnails (itemImage). */
#define IMAGE_USED_SQL                                                                                   \
	"SELECT EXISTS (SELECT 1 FROM saleItem WHERE image = ?1) OR EXISTS (SELECT 1 FROM saleItem WHERE thumb = ?1)" \
	" OR EXISTS (SELECT 1 FROM itemImage WHERE image = ?1) OR EXISTS (SELECT 1 FROM itemImage WHERE thumb = ?1)"

/* 1 if some item refers to the file name (or on a database error: keep
 * it), 0 if none does. db: the writer (write lane). */
static int image_used(sqlite3 *db, const char *name)
{
	int64_t used = 1;
	if (db_get_int(db, &used, IMAGE_USED_SQL, DB_TEXT(name)) != DM_OK)
		return 1;
	return used != 0;
}

void image_release(sqlite3 *w, const char *name)
{
	char dir[520];

	if (!name || !name[0] || image_used(w, name) || images_dir(dir, sizeof dir) != DM_OK)
		return;
	/* (moved aside instead while a backup may still need it) */
	backup_remove_photo(dir, name);
	sync_dir();
}

void image_sweep_tmp(void)
{
	char dir[520], path[800];
	DIR *d;
	struct dirent *e;

	if (images_dir(dir, sizeof dir) != DM_OK || !(d = opendir(dir)))
		return;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) &&
		    dm_snprintf(path, sizeof path, "%s/%s", dir, e->d_name) == DM_OK)
			unlink(path);
	closedir(d);
}

/* ---------------------------------------------------------- orphans */

static int name_ok(const char *name, const char **ctype);

#define SWEEP_BATCH 256

typedef struct sweep {
	char name[SWEEP_BATCH][IMAGE_NAME_MAX];
	int n;
	int removed;
} sweep_t;

/* Write job: removes each photo of the batch that no item refers to. On
 * the write lane, so serialized with image_place and the commits of posts:
 * a photo that a post is placing now is referred to by the time this runs,
 * or placed (renamed in, new mtime) after. Changes nothing in the db. */
static int sweep_write(sqlite3 *w, void *arg)
{
	sweep_t *b = arg;
	char dir[520], path[600];

	if (images_dir(dir, sizeof dir) != DM_OK)
		return DM_ERR;
	for (int i = 0; i < b->n; i++) {
		/* a photo or a thumbnail */
		if (image_used(w, b->name[i]) || dm_snprintf(path, sizeof path, "%s/%s", dir, b->name[i]) != DM_OK)
			continue;
		if (unlink(path) == 0) {
			b->removed++;
			dm_info("images: removed %s: no item refers to it", b->name[i]);
		} else if (errno != ENOENT)
			dm_warn("images: cannot remove %s: %s", path, strerror(errno));
	}
	return DM_OK;
}

void image_sweep_orphans(void *unused)
{
	char dir[520], path[800];
	const char *ctype;
	time_t t0 = time(NULL);
	sweep_t *b = calloc(1, sizeof *b);
	int removed = 0, rc = DM_OK;
	struct dirent *e;
	struct stat sb;
	DIR *d;

	(void)unused;
	if (!b || images_dir(dir, sizeof dir) != DM_OK || !(d = opendir(dir))) {
		free(b);
		return;
	}
	while (rc == DM_OK && !dm_stopping) {
		e = readdir(d);
		/* only our names, and only files last changed before the sweep
		 * began: never one a post is placing now */
		if (e && strlen(e->d_name) < IMAGE_NAME_MAX && name_ok(e->d_name, &ctype) &&
		    dm_snprintf(path, sizeof path, "%s/%s", dir, e->d_name) == DM_OK && lstat(path, &sb) == 0 &&
		    S_ISREG(sb.st_mode) && sb.st_mtime < t0)
			dm_strlcpy(b->name[b->n++], e->d_name, IMAGE_NAME_MAX);
		if (b->n && (!e || b->n == SWEEP_BATCH)) {
			b->removed = 0;
			rc = jobs_write(sweep_write, b);
			removed += b->removed;
			b->n = 0;
		}
		if (!e)
			break;
	}
	closedir(d);
	free(b);
	if (removed)
		sync_dir();
	dm_info("images: orphan sweep done: %d photo(s) no item refers to removed", removed);
	db_trim();
}

/* -------------------------------------------------------------- serving */

/* Is name exactly [0-9a-f]{64}\.(jpg|png|webp|gif)? Sets *ctype. */
static int name_ok(const char *name, const char **ctype)
{
	static const struct {
		const char *ext, *ctype;
	} types[] = {{"jpg", "image/jpeg"}, {"png", "image/png"}, {"webp", "image/webp"}, {"gif", "image/gif"}};

	for (int i = 0; i < 64; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	if (name[64] != '.')
		return 0;
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (!strcmp(name + 65, types[i].ext)) {
			*ctype = types[i].ctype;
			return 1;
		}
	return 0;
}

/* Does the If-None-Match header list our ETag ("<hash>", quotes included)
 * or "*"? */
static int etag_matches(const char *inm, const char *etag)
{
	return inm && (strchr(inm, '*') || strstr(inm, etag));
}

/* GET/HEAD /images/:name: streams the file with its content type, a long
 * immutable cache lifetime and nosniff; 304 for a matching If-None-Match;
 * 404 for any other name or a missing file. */
static int h_get(http_req_t *r)
{
	const char *name = r->param[0], *ctype = NULL;
	char path[600], dir[520], cors[700], etag[80];
	struct stat sb;
	int fd, notmod;
	char *buf;

	if (!name || !name_ok(name, &ctype))
		return http_refuse(r, RF_IMAGE_FILE_NOT_FOUND);
	if (images_dir(dir, sizeof dir) != DM_OK || dm_snprintf(path, sizeof path, "%s/%s", dir, name) != DM_OK)
		return http_fail_dm(r, DM_ERR);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		if (fd >= 0)
			close(fd);
		return http_refuse(r, RF_IMAGE_FILE_NOT_FOUND);
	}
	buf = malloc(SERVE_CHUNK);
	if (!buf) {
		close(fd);
		return http_fail_dm(r, DM_ENOMEM);
	}
	snprintf(etag, sizeof etag, "\"%.64s\"", name);
	notmod = etag_matches(http_header(r, "If-None-Match"), etag);
	http_cors_headers(r->conn, cors, sizeof cors);
	r->replied = 1;
	r->status = notmod ? 304 : 200;
	if (notmod)
		mg_printf(r->conn,
			  "HTTP/1.1 304 Not Modified\r\n"
			  "Cache-Control: public, max-age=31536000, immutable\r\n"
			  "ETag: %s\r\n"
			  "%s%s%s\r\n",
			  etag, http_security_headers(), cors, http_conn_header(r->conn));
	else
		mg_printf(r->conn,
			  "HTTP/1.1 200 OK\r\n"
			  "Content-Type: %s\r\n"
			  "Content-Length: %lld\r\n"
			  "Cache-Control: public, max-age=31536000, immutable\r\n"
			  "ETag: %s\r\n"
			  "%s%s%s\r\n",
			  ctype, (long long)sb.st_size, etag, http_security_headers(), cors, http_conn_header(r->conn));
	if (!notmod && strcmp(r->method, "HEAD"))
		for (;;) {
			ssize_t k = read(fd, buf, SERVE_CHUNK);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0 || mg_write(r->conn, buf, (size_t)k) <= 0)
				break;
		}
	free(buf);
	close(fd);
	return DM_OK;
}

static const http_route_t routes[] = {
	{"GET", "/images/:name", h_get, HTTP_PUBLIC},
};

int image_init(void)
{
	char dir[520];
	if (images_dir(dir, sizeof dir) != DM_OK)
		return DM_ERR;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		dm_error("cannot create %s: %s", dir, strerror(errno));
		return DM_ERR;
	}
	http_routes(routes, sizeof routes / sizeof routes[0]);
	return DM_OK;
}
