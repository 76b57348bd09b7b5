/*
 * sio_room.c — sio's rooms: named sets of sockets (an item's chat, a
 * user's sockets, a login family), joining and leaving, and the room
 * broadcasts — one blob per distinct payload shared by every member's
 * queue, a picker choosing each socket's variant, and the variant in which
 * each member sees their own entry (a splice per queue node). Part of sio
 * (sio.h is the API, sio_int.h what its files share); split from sio.c
 * along this seam.
 *
 * Thread-safety: the room table and every room's member list are under
 * sio_lock, like the sessions they point to; a socket's own list of its
 * rooms (sio_sock_t.rooms) too.
 */
#include <ctype.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dm.h"
#include "sio.h"
#include "sio_int.h"
#include "ws.h"

struct room {
	struct room *hnext;
	char *name;
	sio_sock_t **m;
	int n, cap;
};

/* The rooms by name (under sio_lock). */
static room_t *rooms[SIO_NBUCKETS];

/* ------------------------------------------------------------- rooms */

static room_t *room_get_locked(const char *name, int create)
{
	unsigned h = sio_hash_str(name);
	room_t *r;
	dm_assert(dm_mutex_held(&sio_lock));
	for (r = rooms[h]; r; r = r->hnext)
		if (!strcmp(r->name, name))
			return r;
	if (!create)
		return NULL;
	r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->name = strdup(name);
	if (!r->name) {
		free(r);
		return NULL;
	}
	r->hnext = rooms[h];
	rooms[h] = r;
	return r;
}

static void room_free_if_empty_locked(room_t *r)
{
	room_t **pp;
	dm_assert(dm_mutex_held(&sio_lock));
	dm_assert(r->n >= 0);
	if (r->n)
		return;
	for (pp = &rooms[sio_hash_str(r->name)]; *pp; pp = &(*pp)->hnext)
		if (*pp == r) {
			*pp = r->hnext;
			break;
		}
	free(r->m);
	free(r->name);
	free(r);
}

/* Locked. Removes s from r (both sides: s is a member of r exactly when r
 * is one of s's rooms). */
void sio_room_remove_locked(room_t *r, sio_sock_t *s)
{
	int in_r = 0, in_s = 0;
	dm_assert(dm_mutex_held(&sio_lock));
	for (int i = 0; i < r->n; i++)
		if (r->m[i] == s) {
			r->m[i] = r->m[--r->n];
			in_r = 1;
			break;
		}
	for (int i = 0; i < s->nrooms; i++)
		if (s->rooms[i] == r) {
			s->rooms[i] = s->rooms[--s->nrooms];
			in_s = 1;
			break;
		}
	dm_assert(in_r && in_s);
	room_free_if_empty_locked(r);
}

/* arr (n of *cap elements of elt bytes used) with room for one more:
 * arr itself, or arr grown to twice its size (first when empty) with *cap
 * updated; NULL when out of memory (arr and *cap are left as they were). */
static void *room_for_one(void *arr, int n, int *cap, size_t elt, int first)
{
	int want = *cap ? *cap * 2 : first;
	void *grown;
	if (n < *cap)
		return arr;
	if (!(grown = realloc(arr, (size_t)want * elt)))
		return NULL;
	*cap = want;
	return grown;
}

int sio_join(sio_sock_t *s, const char *room)
{
	room_t *r, **rr;
	sio_sock_t **m;
	int rc = DM_OK;
	dm_mutex_lock(&sio_lock);
	if (s->state != S_OPEN) {
		rc = DM_EUNAVAIL;
		goto done;
	}
	for (int i = 0; i < s->nrooms; i++)
		if (!strcmp(s->rooms[i]->name, room))
			goto done;
	r = room_get_locked(room, 1);
	if (!r) {
		rc = DM_ENOMEM;
		goto done;
	}
	m = room_for_one(r->m, r->n, &r->cap, sizeof *r->m, 8);
	rr = m ? room_for_one(s->rooms, s->nrooms, &s->caprooms, sizeof *s->rooms, 4) : NULL;
	if (m)
		r->m = m;
	if (!rr) {
		rc = DM_ENOMEM;
		room_free_if_empty_locked(r);
		goto done;
	}
	s->rooms = rr;
	r->m[r->n++] = s;
	s->rooms[s->nrooms++] = r;
done:
	dm_mutex_unlock(&sio_lock);
	return rc;
}

int sio_leave(sio_sock_t *s, const char *room)
{
	dm_mutex_lock(&sio_lock);
	for (int i = 0; i < s->nrooms; i++)
		if (!strcmp(s->rooms[i]->name, room)) {
			sio_room_remove_locked(s->rooms[i], s);
			break;
		}
	dm_mutex_unlock(&sio_lock);
	return DM_OK;
}

int sio_in_room(sio_sock_t *s, const char *room)
{
	int in = 0;
	dm_mutex_lock(&sio_lock);
	for (int i = 0; i < s->nrooms && !in; i++)
		in = !strcmp(s->rooms[i]->name, room);
	dm_mutex_unlock(&sio_lock);
	return in;
}

int sio_room_size(const char *room)
{
	room_t *r;
	int n;
	dm_mutex_lock(&sio_lock);
	r = room_get_locked(room, 0);
	n = r ? r->n : 0;
	dm_mutex_unlock(&sio_lock);
	return n;
}

/* ------------------------------------------------------- room emits */

int sio_room_emit_pick(const char *room, const char *event, const char *const *json, int n, sio_pick_fn pick,
		       void *arg)
{
	blob_t *bl[8] = {0};
	room_t *r;
	int sent = 0;

	if (n < 1 || n > 8)
		return 0;
	for (int i = 0; i < n; i++) /* NULL for a bad event name too */
		if (!(bl[i] = sio_event_blob(event, json[i])))
			goto done;
	dm_mutex_lock(&sio_lock);
	r = room_get_locked(room, 0);
	/* enqueue may close a socket (overflow) but never changes rooms */
	for (int i = 0; r && i < r->n; i++) {
		int v = pick ? pick(r->m[i], arg) : 0;
		if (v >= 0 && v < n && sio_enqueue_locked(r->m[i], bl[v]) == DM_OK)
			sent++;
	}
	dm_mutex_unlock(&sio_lock);
done:
	for (int i = 0; i < n; i++)
		sio_blob_unref(bl[i]);
	return sent;
}

/* Where a socket's own entry is in the shared frame of sio_room_emit_self
 * (t: that frame, f: the one whose text replaces it). */
typedef struct slot {
	int64_t uid;
	size_t off, cut, soff, slen;
} slot_t;

static int slot_cmp(const void *a, const void *b)
{
	int64_t x = ((const slot_t *)a)->uid, y = ((const slot_t *)b)->uid;
	return x < y ? -1 : x > y;
}

/* The end (after the closing quote) of the JSON string starting at
 * d[i] == '"', or 0 if it does not end. */
static size_t json_str_end(const char *d, size_t len, size_t i)
{
	for (size_t k = i + 1; k < len; k++) {
		if (d[k] == '\\')
			k++;
		else if (d[k] == '"')
			return k + 1;
	}
	return 0;
}

/* Aligns t with f, the same text but for JSON strings that t writes as
 * mark (starting with its quote) and a user id: one slot per such string,
 * sorted by user id, into *out (malloc'd). Returns how many, or -1 when the
 * two differ otherwise (or no memory). */
static int align_slots(const blob_t *t, const blob_t *f, const char *mark, slot_t **out)
{
	size_t i = 0, j = 0, tok_t = 0, tok_f = 0, ml = strlen(mark);
	int in = 0, n = 0, cap = 0;
	slot_t *v = NULL;

	*out = NULL;
	while (i < t->len && j < f->len) {
		char c = t->data[i];
		if (c == f->data[j]) {
			if (in && c == '\\' && i + 1 < t->len && j + 1 < f->len && t->data[i + 1] == f->data[j + 1]) {
				i += 2;
				j += 2;
				continue;
			}
			if (c == '"') {
				in = !in;
				tok_t = i;
				tok_f = j;
			}
			i++;
			j++;
			continue;
		}
		/* they differ inside a string: t's must be mark + digits */
		size_t k = tok_t + ml, tend, fend;
		int64_t uid = 0;
		if (!in || t->len - tok_t < ml || memcmp(t->data + tok_t, mark, ml))
			goto fail;
		for (; k < t->len && isdigit((unsigned char)t->data[k]) && k - tok_t - ml < 18; k++)
			uid = uid * 10 + (t->data[k] - '0');
		if (k == tok_t + ml || k >= t->len || t->data[k] != '"' || !(fend = json_str_end(f->data, f->len, tok_f)))
			goto fail;
		tend = k + 1;
		if (n == cap) {
			slot_t *nv = realloc(v, (size_t)(cap = cap ? cap * 2 : 16) * sizeof *v);
			if (!nv)
				goto fail;
			v = nv;
		}
		v[n++] = (slot_t){uid, tok_t, tend - tok_t, tok_f, fend - tok_f};
		i = tend;
		j = fend;
		in = 0;
	}
	if (i != t->len || j != f->len)
		goto fail;
	qsort(v, (size_t)n, sizeof *v, slot_cmp);
	*out = v;
	return n;
fail:
	free(v);
	return -1;
}

int sio_room_emit_self(const char *room, const char *event, const char *const *json, int n, sio_pick_fn pick,
		       void *arg, int tmpl, int full, const char *mark)
{
	blob_t *bl[8] = {0};
	slot_t *slots = NULL;
	room_t *r;
	int sent = 0, ns = -1;

	if (n < 1 || n > 8 || tmpl < 0 || tmpl >= n || full < 0 || full >= n)
		return 0;
	for (int i = 0; i < n; i++) /* NULL for a bad event name too */
		if (!(bl[i] = sio_event_blob(event, json[i])))
			goto done;
	ns = align_slots(bl[tmpl], bl[full], mark, &slots);
	if (ns < 0)
		dm_warn("sio: %s frames differ beyond the %s strings: sent as they are", event, mark);
	dm_mutex_lock(&sio_lock);
	r = room_get_locked(room, 0);
	for (int i = 0; r && i < r->n; i++) {
		int v = pick ? pick(r->m[i], arg) : 0;
		slot_t key = {.uid = sio_uid(r->m[i])}, *sl;
		if (v < 0 || v >= n)
			continue;
		sl = v == tmpl && ns > 0 ? bsearch(&key, slots, (size_t)ns, sizeof *slots, slot_cmp) : NULL;
		if ((sl ? sio_enqueue_splice_locked(r->m[i], bl[v], bl[full], sl->off, sl->cut, sl->soff, sl->slen)
			: sio_enqueue_locked(r->m[i], bl[v])) == DM_OK)
			sent++;
	}
	dm_mutex_unlock(&sio_lock);
done:
	free(slots);
	for (int i = 0; i < n; i++)
		sio_blob_unref(bl[i]);
	return sent;
}

int sio_room_emit(const char *room, const char *event, const char *json)
{
	return sio_room_emit_pick(room, event, &json, 1, NULL, NULL);
}

static int pick_except(const sio_sock_t *s, void *arg)
{
	return s == arg ? -1 : 0;
}

int sio_room_emit_except(const char *room, const sio_sock_t *except, const char *event, const char *json)
{
	return sio_room_emit_pick(room, event, &json, 1, pick_except, (void *)except);
}

int sio_room_leave_pick(const char *room, sio_pick_fn pick, void *arg)
{
	room_t *r;
	int left = 0;
	dm_mutex_lock(&sio_lock);
	r = room_get_locked(room, 0);
	while (r) {
		int i, n = r->n;
		for (i = 0; i < n; i++)
			if (pick(r->m[i], arg) == 1)
				break;
		if (i == n)
			break;
		left++;
		/* removing the last member frees the room */
		sio_room_remove_locked(r, r->m[i]);
		if (n == 1)
			break;
	}
	dm_mutex_unlock(&sio_lock);
	return left;
}

/* ------------------------------------------------- closing by room */

int sio_room_close(const char *room)
{
	room_t *r;
	int n = 0;
	dm_mutex_lock(&sio_lock);
	r = room_get_locked(room, 0);
	/* marking does not leave the room (the reaper's teardown does): the
	 * members stay put while counted */
	for (int i = 0; r && i < r->n; i++)
		if (r->m[i]->state == S_OPEN) {
			sio_mark_closing_locked(r->m[i], "closed by the application");
			n++;
		}
	dm_mutex_unlock(&sio_lock);
	return n;
}
