// Several photos per item: POST /mainPage/write takes 1-10 `file` parts in
// order (the first is the cover) with optional `thumb` parts (the k-th for
// the k-th photo); `image`/`thumb` stay the cover's, the detail's `images`
// lists them all. The owner adds (up to 10), removes (not the last) and
// reorders photos while the item is open; everyone else is refused.
// Files are shared by content, counted in the storage quota, and removed
// with the item (or the photo) unless another item uses them.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { start } = require('./lib/dongmul');
const img = require('./lib/img');
const { tradeInProgress } = require('./lib/market');

let srv, O, X, P;
let seq = 0;

test.before(async () => {
  srv = await start({ args: ['--rate-login', '100000', '--quota-storage-mb', '1'] });
  O = await srv.user({ address: '서울 종로구' });
  X = await srv.user({ address: '서울 종로구' });
  P = await srv.user({ address: '서울 종로구' });
});
test.after(async () => {
  const e = await srv.stop();
  assert.equal(e.code, 0, `exit ${JSON.stringify(e)}\n${srv.log().slice(-3000)}`);
});

const files = () => fs.readdirSync(path.join(srv.data, 'images')).filter((n) => !n.startsWith('.')).sort();
const photo = (k) => ({ name: 'file', filename: `p${k}.png`, type: 'image/png', data: img.png({ w: 20 + k, h: 10, seed: (seq * 13 + k) & 0xff }) });
const thumb = (k) => ({ name: 'thumb', filename: `t${k}.webp`, type: 'image/webp', data: img.webp({ w: 8 + k, h: 6, seed: (seq * 7 + k) & 0xff }) });

async function post(parts, token = O.token) {
  seq += 1;
  const mp = img.multipart([
    ...parts,
    { name: 'title', value: `사진 여러 장 ${seq}` }, { name: 'category', value: '식물' },
    { name: 'wantItem', value: '화분' }, { name: 'comment', value: '여러 장' },
    { name: 'deadLine', value: new Date(Date.now() + 86400000).toISOString() },
  ]);
  return srv.req('POST', '/mainPage/write', { body: mp.body, token, headers: { 'content-type': mp.contentType } });
}
async function add(itemId, parts, token = O.token) {
  const mp = img.multipart(parts);
  return srv.req('POST', `/items/${itemId}/images`, { body: mp.body, token, headers: { 'content-type': mp.contentType } });
}
const detail = async (id) => (await srv.req('GET', `/postDetail/${id}`)).json.data;

test('a post with three photos and two thumbnails: cover first, images in order, feeds show the cover', async () => {
  seq += 1;
  const parts = [photo(0), photo(1), photo(2), thumb(0), thumb(1)];
  const r = await post(parts);
  assert.equal(r.status, 201, r.body);
  const d = await detail(r.json.itemId);
  assert.equal(d.images.length, 3);
  assert.equal(d.image, r.json.image);
  assert.equal(d.images[0].image, d.image);
  assert.equal(d.images[0].thumb, d.thumb);
  assert.ok(d.images[1].thumb && !d.images[2].thumb, 'the second has its thumbnail, the third none');
  assert.equal(new Set(d.images.map((i) => i.image)).size, 3);
  for (const i of d.images) {
    assert.match(i.imageId, /^[0-9]+$/);
    assert.equal((await srv.req('GET', i.image, { raw: true })).status, 200);
  }
  const f = (await srv.req('GET', '/mainPage', { token: X.token })).json.data.find((i) => i.itemId === r.json.itemId);
  assert.equal(f.image, d.image);
  assert.equal(f.images, undefined, 'feeds carry the cover only');
  // the single-file 2021 form still works: images has the one photo
  const one = await post([photo(9)]);
  assert.equal(one.status, 201);
  const d1 = await detail(one.json.itemId);
  assert.deepEqual(d1.images.map((i) => i.image), [d1.image]);
});

test('refusals of the post form: 11 photos, more thumbnails than photos; nothing stored', async () => {
  const before = files();
  let r = await post(Array.from({ length: 11 }, (_, k) => photo(k)));
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'TOO_MANY_IMAGES');
  r = await post([photo(0), thumb(0), thumb(1)]);
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'DUPLICATE_FIELD');
  r = await post([photo(0), { name: 'file', filename: 'x.png', type: 'image/png', data: Buffer.from('not an image') }]);
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'INVALID_IMAGE');
  assert.deepEqual(files(), before, 'no file left behind');
});

test('the owner adds, reorders and removes while open; the cover and image follow; files go unless shared', async () => {
  seq += 1;
  const r = await post([photo(0), photo(1)]);
  const id = r.json.itemId;
  // others are refused, and nothing changes
  let a = await add(id, [photo(5)], X.token);
  assert.equal(a.status, 403);
  assert.equal(a.json.code, 'NOT_OWNER');
  assert.equal((await add(999999, [photo(5)])).json.code, 'ITEM_NOT_FOUND');
  assert.equal((await srv.req('PUT', `/items/${id}/images`, { body: { order: [] } })).status, 401);
  a = await add(id, [photo(2), thumb(2)]);
  assert.equal(a.status, 201, a.body);
  assert.equal(a.json.images.length, 3);
  assert.ok(a.json.images[2].thumb);
  const ids = a.json.images.map((i) => i.imageId);
  // reorder: the third becomes the cover (and its thumbnail the item's thumb)
  let o = await srv.req('PUT', `/items/${id}/images`, { token: X.token, body: { order: [ids[2], ids[0], ids[1]] } });
  assert.equal(o.status, 403);
  for (const order of [[ids[0], ids[1]], [ids[0], ids[0], ids[1]], [ids[0], ids[1], '999999'], 'x', [ids[0], ids[1], -1]]) {
    o = await srv.req('PUT', `/items/${id}/images`, { token: O.token, body: { order } });
    assert.equal(o.status, 400, JSON.stringify(order));
    assert.equal(o.json.code, 'INVALID_ORDER');
  }
  o = await srv.req('PUT', `/items/${id}/images`, { token: O.token, body: { order: [ids[2], ids[0], ids[1]] } });
  assert.equal(o.status, 200, o.body);
  assert.deepEqual(o.json.images.map((i) => i.imageId), [ids[2], ids[0], ids[1]]);
  let d = await detail(id);
  assert.equal(d.image, o.json.images[0].image);
  assert.equal(d.thumb, o.json.images[0].thumb);
  const feed = (await srv.req('GET', '/mainPage', { token: X.token })).json.data.find((i) => i.itemId === id);
  assert.equal(feed.image, d.image, 'the feed shows the new cover at once');
  // remove: not by others, not an unknown photo, not the last one
  const gone = d.images[1].image.replace('/images/', '');
  let x = await srv.req('DELETE', `/items/${id}/images/${ids[0]}`, { token: X.token });
  assert.equal(x.status, 403);
  x = await srv.req('DELETE', `/items/${id}/images/999999`, { token: O.token });
  assert.equal(x.status, 404);
  assert.equal(x.json.code, 'IMAGE_NOT_FOUND');
  x = await srv.req('DELETE', `/items/${id}/images/${ids[0]}`, { token: O.token });
  assert.equal(x.status, 200, x.body);
  assert.ok(!files().includes(gone), 'the removed photo\'s file is gone');
  x = await srv.req('DELETE', `/items/${id}/images/${ids[1]}`, { token: O.token });
  assert.equal(x.status, 200);
  x = await srv.req('DELETE', `/items/${id}/images/${ids[2]}`, { token: O.token });
  assert.equal(x.status, 409);
  assert.equal(x.json.code, 'LAST_IMAGE');
  d = await detail(id);
  assert.deepEqual(d.images.map((i) => i.imageId), [ids[2]]);
  // up to 10 in all
  a = await add(id, Array.from({ length: 9 }, (_, k) => photo(20 + k)));
  assert.equal(a.status, 201, a.body);
  a = await add(id, [photo(40)]);
  assert.equal(a.status, 409);
  assert.equal(a.json.code, 'TOO_MANY_IMAGES');
  // deleting the item removes every file it alone used
  const mine = (await detail(id)).images.flatMap((i) => [i.image, i.thumb]).filter(Boolean).map((u) => u.replace('/images/', ''));
  const del = await srv.req('DELETE', '/myPage/delete', { token: O.token, body: { itemId: id } });
  assert.equal(del.status, 200, del.body);
  const left = files();
  for (const n of mine) assert.ok(!left.includes(n), `${n} removed with the item`);
});

test('a photo shared by two items stays until neither uses it', async () => {
  seq += 1;
  const shared = photo(77);
  const a = await post([photo(1), shared]);
  const b = await post([shared]);
  const name = (await detail(b.json.itemId)).image.replace('/images/', '');
  const ia = (await detail(a.json.itemId)).images;
  assert.equal(ia[1].image, `/images/${name}`);
  assert.equal((await srv.req('DELETE', `/items/${a.json.itemId}/images/${ia[1].imageId}`, { token: O.token })).status, 200);
  assert.ok(files().includes(name), 'still used by b');
  assert.equal((await srv.req('DELETE', '/myPage/delete', { token: O.token, body: { itemId: b.json.itemId } })).status, 200);
  assert.ok(!files().includes(name), 'gone with b');
});

test('no photo edits while the owner is suspended', async () => {
  const S = await srv.user({ address: '서울 종로구' });
  seq += 1;
  const r = await post([photo(0), photo(1)], S.token);
  const d = await detail(r.json.itemId);
  const { userCmd } = require('./lib/market');
  assert.equal(userCmd(srv, 'suspend', S.email, '--days', '3').status, 0);
  for (const x of [
    await add(r.json.itemId, [photo(2)], S.token),
    await srv.req('PUT', `/items/${r.json.itemId}/images`, { token: S.token, body: { order: [d.images[1].imageId, d.images[0].imageId] } }),
    await srv.req('DELETE', `/items/${r.json.itemId}/images/${d.images[1].imageId}`, { token: S.token }),
  ]) {
    assert.equal(x.status, 403, x.body);
    assert.equal(x.json.code, 'SUSPENDED');
  }
  assert.deepEqual((await detail(r.json.itemId)).images, d.images, 'nothing changed');
});

test('no edits once the item is not open', async () => {
  const t = await tradeInProgress(srv, O, P);
  const d = await detail(t.itemId);
  const a = await add(t.itemId, [photo(3)]);
  assert.equal(a.status, 409);
  assert.equal(a.json.code, 'ITEM_CLOSED');
  const x = await srv.req('PUT', `/items/${t.itemId}/images`, { token: O.token, body: { order: [d.images[0].imageId] } });
  assert.equal(x.status, 409);
  assert.equal(x.json.code, 'ITEM_CLOSED');
});

test('photos count in the storage quota (1 MB here): adding past it is QUOTA_EXCEEDED and stores nothing', async () => {
  const U = await srv.user({ address: '서울 종로구' });
  // 60 KB JPEGs (an APP1 segment of padding): the 1 MB quota holds 17 of them
  const big = (k) => ({ name: 'file', filename: `b${k}.jpg`, type: 'image/jpeg', data: img.jpeg({ seed: 5000 + k, app1: 60000 }) });
  const r = await post(Array.from({ length: 10 }, (_, k) => big(k)), U.token);
  assert.equal(r.status, 201, r.body);
  const r2 = await post(Array.from({ length: 6 }, (_, k) => big(10 + k)), U.token);
  assert.equal(r2.status, 201, r2.body);
  const before = files();
  const a = await add(r2.json.itemId, [big(30), big(31)], U.token);
  assert.equal(a.status, 429, a.body);
  assert.equal(a.json.code, 'QUOTA_EXCEEDED');
  assert.deepEqual(files(), before, 'nothing stored');
  assert.equal((await detail(r2.json.itemId)).images.length, 6);
  // removing a photo frees its bytes: one more fits again
  const d = await detail(r.json.itemId);
  assert.equal((await srv.req('DELETE', `/items/${r.json.itemId}/images/${d.images[9].imageId}`, { token: U.token })).status, 200);
  assert.equal((await srv.req('DELETE', `/items/${r.json.itemId}/images/${d.images[8].imageId}`, { token: U.token })).status, 200);
  assert.equal((await add(r2.json.itemId, [big(30)], U.token)).status, 201);
});

test('the orphan sweep at start keeps every photo and thumbnail an item refers to, not only covers', async () => {
  const srv0 = await start({ args: ['--log-level', 'debug'] });
  const U = await srv0.user({ address: '서울 종로구' });
  seq += 1;
  const mp = img.multipart([photo(0), photo(1), photo(2), thumb(0), thumb(1), thumb(2),
    { name: 'title', value: '스윕' }, { name: 'category', value: '식물' }, { name: 'wantItem', value: '화분' },
    { name: 'comment', value: '여러 장' }, { name: 'deadLine', value: new Date(Date.now() + 86400000).toISOString() }]);
  const r = await srv0.req('POST', '/mainPage/write', { body: mp.body, token: U.token, headers: { 'content-type': mp.contentType } });
  assert.equal(r.status, 201, r.body);
  // the list queries' plans (including 나눔 and blocks) use the indexes
  assert.doesNotMatch(srv0.log(), /scans saleItem/);
  assert.match(srv0.log(), /plan region-free-blocks/);
  assert.equal((await srv0.stop()).code, 0);
  const dir = path.join(srv0.data, 'images');
  const mine = fs.readdirSync(dir).filter((n) => !n.startsWith('.'));
  assert.equal(mine.length, 6, 'three photos and three thumbnails');
  const orphan = path.join(dir, `${'ef'.repeat(32)}.png`);
  fs.writeFileSync(orphan, 'x');
  const old = new Date(Date.now() - 3600e3);
  for (const n of [...mine, path.basename(orphan)]) fs.utimesSync(path.join(dir, n), old, old);
  const srv1 = await start({ data: srv0.data });
  try {
    const t0 = Date.now();
    while (!/orphan sweep done/.test(srv1.log()) && Date.now() - t0 < 15000) await new Promise((res) => setTimeout(res, 50));
    assert.ok(!fs.existsSync(orphan), 'the orphan is gone (the sweep ran)');
    for (const n of mine) assert.ok(fs.existsSync(path.join(dir, n)), `${n} stays`);
  } finally {
    assert.equal((await srv1.stop()).code, 0);
  }
});
