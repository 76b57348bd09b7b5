// Thumbnails: POST /mainPage/write takes an optional small image `thumb`
// next to the photo, checks it by content and size like the photo, stores
// it beside (content-addressed, under /images/), and every item JSON
// carries `thumb` as its last key when the post had one (items without one
// keep their keys). Refusals change nothing: no item, no file left.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { start } = require('./lib/dongmul');
const img = require('./lib/img');

let srv, U;
let seq = 0;

test.before(async () => {
  srv = await start();
  U = await srv.user({ address: '서울 강남구' });
});
test.after(async () => {
  const e = await srv.stop();
  assert.equal(e.code, 0, `exit ${JSON.stringify(e)}\n${srv.log().slice(-3000)}`);
});

// Posts with photo and (optionally) thumb: Buffers, or {data, name}.
async function post(thumb, { token = U.token, photo } = {}) {
  seq += 1;
  const fd = new FormData();
  fd.append('file', new Blob([photo || img.png({ w: 40, h: 30, seed: seq })], { type: 'image/png' }), 'photo.png');
  if (thumb !== undefined) fd.append('thumb', new Blob([thumb], { type: 'image/webp' }), 'thumb.webp');
  fd.append('title', `썸네일 물건 ${seq}`);
  fd.append('category', '식물');
  fd.append('wantItem', '화분');
  fd.append('comment', '작은 사진도 같이');
  fd.append('deadLine', new Date(Date.now() + 3 * 86400000).toISOString());
  const res = await fetch(`${srv.url}/mainPage/write`, { method: 'POST', headers: { authorization: token }, body: fd });
  const text = await res.text();
  return { status: res.status, json: JSON.parse(text), body: text };
}

const images = () => fs.readdirSync(path.join(srv.data, 'images')).sort();
const count = async () => (await srv.req('GET', '/mainPage', { token: U.token })).json.data.length;

function find(list, itemId) {
  const x = list.find((i) => i.itemId === itemId);
  assert.ok(x, `item ${itemId} in list`);
  return x;
}

test('a thumbnail is stored beside the photo and every item JSON names it', async () => {
  const thumb = img.webp({ w: 320, h: 240, seed: 5 });
  const r = await post(thumb);
  assert.equal(r.status, 201, r.body);
  const id = r.json.itemId;
  const feeds = [
    (await srv.req('GET', '/mainPage', { token: U.token })).json.data,
    (await srv.req('GET', `/mainPage/noLogin?address=${encodeURIComponent('서울 강남구')}`)).json.data,
    (await srv.req('GET', `/mainPage/search?category=${encodeURIComponent('식물')}`)).json.data,
    (await srv.req('GET', '/myPage', { token: U.token })).json.postInfo,
    [(await srv.req('GET', `/postDetail/${id}`)).json.data],
  ];
  for (const [i, list] of feeds.entries()) {
    const x = find(list, id);
    assert.match(x.thumb, /^\/images\/[0-9a-f]{64}\.webp$/);
    assert.equal(x.image, r.json.image, 'image is the photo, unchanged');
    assert.notEqual(x.thumb, x.image);
    const keys = Object.keys(x);
    // (the detail then adds images, every photo with its thumbnail)
    if (i === 4) assert.deepEqual(keys.splice(-1), ['images']);
    assert.equal(keys.at(-1), 'thumb', 'thumb comes last');
    if (i === 4) assert.deepEqual(x.images[0], { imageId: x.images[0].imageId, image: x.image, thumb: x.thumb });
    assert.equal(keys.includes('email'), i === 0 || i === 3, 'the email only to the owner (token)');
  }
  const x = find(feeds[0], id);
  const got = await srv.req('GET', x.thumb, { raw: true });
  assert.equal(got.status, 200);
  assert.match(got.headers['content-type'], /^image\/webp/);
  assert.deepEqual(got.body, thumb);
});

test('without a thumbnail the item has no thumb key (clients show image)', async () => {
  const r = await post(undefined);
  assert.equal(r.status, 201, r.body);
  const x = find((await srv.req('GET', '/mainPage', { token: U.token })).json.data, r.json.itemId);
  assert.equal(x.thumb, undefined);
  assert.equal(x.image, r.json.image);
  // an empty thumb part is no thumbnail
  const e = await post(Buffer.alloc(0));
  assert.equal(e.status, 201, e.body);
  assert.equal(find((await srv.req('GET', '/mainPage', { token: U.token })).json.data, e.json.itemId).thumb, undefined);
});

test('bad thumbnails are refused and change nothing', async () => {
  const before = { n: await count(), files: images() };
  const cases = [
    [Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'), 400, 'INVALID_THUMB'],
    [Buffer.from('GIF89a but not really'), 400, 'INVALID_THUMB'],
    [img.png({ w: 481, h: 10, seed: 1 }), 400, 'INVALID_THUMB'],
    [img.png({ w: 10, h: 600, seed: 2 }), 400, 'INVALID_THUMB'],
    [Buffer.concat([img.jpeg({ w: 16, h: 16, seed: 3 }), Buffer.alloc(70000, 1)]), 413, 'THUMB_TOO_LARGE'],
  ];
  for (const [data, status, code] of cases) {
    const r = await post(data);
    assert.equal(r.status, status, `${code}: ${r.body}`);
    assert.equal(r.json.code, code);
    assert.ok(r.json.errorMsg);
  }
  // two thumb parts
  const fd = new FormData();
  fd.append('file', new Blob([img.png({ w: 5, h: 5, seed: 99 })]), 'p.png');
  fd.append('thumb', new Blob([img.png({ w: 5, h: 5, seed: 98 })]), 't.png');
  fd.append('thumb', new Blob([img.png({ w: 5, h: 5, seed: 97 })]), 't.png');
  for (const [k, v] of [['title', 't'], ['category', '식물'], ['wantItem', 'w'], ['comment', 'c'], ['deadLine', new Date(Date.now() + 86400000).toISOString()]]) fd.append(k, v);
  const dup = await fetch(`${srv.url}/mainPage/write`, { method: 'POST', headers: { authorization: U.token }, body: fd });
  assert.equal(dup.status, 400);
  assert.equal((await dup.json()).code, 'DUPLICATE_FIELD');
  assert.equal(await count(), before.n, 'no item was made');
  assert.deepEqual(images(), before.files, 'no file left behind');
  // anonymous: the usual 401, before anything is read
  const anon = await post(img.png({ w: 5, h: 5, seed: 4 }), { token: 'bearer nope' });
  assert.equal(anon.status, 401);
});

test('deleting the item removes its thumbnail unless another item uses the same bytes', async () => {
  const thumb = img.png({ w: 100, h: 80, seed: 77 });
  const a = await post(thumb);
  const b = await post(thumb);
  assert.equal(a.status, 201);
  assert.equal(b.status, 201);
  const name = find((await srv.req('GET', '/mainPage', { token: U.token })).json.data, a.json.itemId).thumb.slice('/images/'.length);
  assert.ok(images().includes(name));
  const del = (it) => srv.req('DELETE', '/myPage/delete', { token: U.token, body: { itemId: it.itemId, icrId: it.icrId } });
  assert.equal((await del(a.json)).status, 200);
  assert.ok(images().includes(name), 'still used by the other item');
  assert.equal((await del(b.json)).status, 200);
  assert.ok(!images().includes(name), 'gone with the last item');
  // the same bytes as someone's photo stay while that photo is in use
  const shared = img.png({ w: 60, h: 60, seed: 55 });
  const c = await post(shared);
  const d = await post(undefined, { photo: shared });
  assert.equal(c.status, 201);
  assert.equal(d.status, 201);
  assert.equal((await del(c.json)).status, 200);
  assert.ok(images().includes(d.json.image.slice('/images/'.length)), 'the other item\'s photo stays');
});
