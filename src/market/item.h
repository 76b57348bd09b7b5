/*
 * item — posts with a photo and a deadline, the feeds (anonymous and per
 * region, keyset-paged), search (FTS5 trigram), detail and join buttons,
 * my page, region setting, delete, and the deadline: an hour before it
 * the owner is reminded, at it an item nobody was chosen for expires (SI03)
 * and its owner is told (both stored through notify.h, in the same
 * transaction as the change).
 * Routes: /mainPage, /mainPage/noLogin, /mainPage/search, /mainPage/write,
 * /postDetail/:itemId, /postDetail/icrId/:icrId, /myPage, /myPage/address,
 * /myPage/delete, /images/:name, /items/:itemId/images[/:imageId]
 * (see API.md "Items").
 * Prefix: item_.
 */
#ifndef ITEM_H
#define ITEM_H

/* photos one item may have (the first is its cover) */
#define ITEM_IMAGES_MAX 10

/* SQL: the photos of item S (a saleItem alias) in order, as a JSON array
 * of {imageId, image, thumb}: its itemImage rows, or for an item posted
 * before items had several photos, its one photo (imageId null). */
#define ITEM_IMAGES_JSON(S)                                                                                \
	"coalesce((SELECT json(json_group_array(json_object('imageId',CAST(i.itemImageId AS TEXT),"          \
	"'image',dm_image(i.image),'thumb',iif(i.thumb IS NULL,NULL,'/images/'||i.thumb)) ORDER BY i.pos))" \
	" FROM itemImage i WHERE i.itemId = " S ".itemId HAVING count(*) > 0),"                            \
	"json_array(json_object('imageId',NULL,'image',dm_image(" S ".image),"                               \
	"'thumb',iif(" S ".thumb IS NULL,NULL,'/images/'||" S ".thumb))))"

#include <stddef.h>
#include <stdint.h>

/* Registers the routes and the deadline timer (reminders and expiry,
 * every cfg.expiry_interval seconds); removes stale upload temp files.
 * DM_OK or DM_ERR. */
int item_init(void);
void item_stop(void);

/* (item_post.c) The POST /mainPage/write handler: a post with its
 * photos. Registered by item_init. */
struct http_req;
int item_post(struct http_req *r);
/* (item_post.c) The owner's photo edits while the item is open:
 * POST /items/:itemId/images (add), PUT /items/:itemId/images (reorder),
 * DELETE /items/:itemId/images/:imageId (remove). Registered by item_init. */
int item_images_add(struct http_req *r);
int item_images_order(struct http_req *r);
int item_images_remove(struct http_req *r);

/* Is cat one of the seed frontend's categories? 1/0. */
int item_category_ok(const char *cat);

#endif
