// Online backup and restore (`dongmul backup`, `dongmul restore`,
// --backup-dir/--backup-every/--backup-keep): the restore drill — chat and
// posting load on the real server, a backup taken by the command while it
// runs, kill -9, restore into a new directory, start there — and the
// refusals: a damaged or half-written backup or destination is never
// reported as success.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { start, sleep, BIN } = require('./lib/dongmul');
// the drills send far more than a neighbour would: lift the per-user quotas
const LOAD = ['--quota-messages', '1000000', '--quota-posts', '100000', '--quota-upload-mb', '100000'];
const { connect } = require('./lib/sio');
const img = require('./lib/img');

const bin = process.env.DONGMUL_BIN || BIN;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dongmul-backup-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const ADDR = '서울특별시 강남구 역삼동';

function sha256(buf) { return crypto.createHash('sha256').update(buf).digest('hex'); }

// Runs `dongmul ...args` to completion. {status, stdout, stderr}
function run(...args) {
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 300000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// The same without blocking the event loop (the load goes on meanwhile).
function runAsync(...args) {
  return new Promise((resolve) => {
    const p = spawn(bin, args);
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

let seq = 0;
// Posts an item with a fresh PNG as u; returns {itemId, icrId, photo (sha256 hex)}.
async function post(srv, u) {
  seq += 1;
  const bytes = img.png({ w: 2 + (seq % 40), h: 2 + Math.floor(seq / 40), seed: (seq * 29) & 0xff });
  const mp = img.multipart([
    { name: 'file', filename: 'p.png', type: 'image/png', data: bytes },
    { name: 'category', value: '기타 중고물품' },
    { name: 'title', value: `백업 물건 ${seq}` },
    { name: 'wantItem', value: '책' },
    { name: 'comment', value: '복구 훈련' },
    { name: 'deadLine', value: new Date(Date.now() + 2 * 86400e3).toISOString() },
  ]);
  const r = await srv.req('POST', '/mainPage/write', { body: mp.body, headers: { 'content-type': mp.contentType }, token: u.token });
  assert.ok(r.status === 200 || r.status === 201, `post: ${r.status} ${r.body}`);
  return { itemId: String(r.json.itemId), icrId: String(r.json.icrId), photo: sha256(bytes) };
}

// Every message of a room, paging back to its start.
async function allMessages(srv, u, icrId) {
  const out = [];
  let before = '';
  for (;;) {
    const r = await srv.req('GET', `/chat/${icrId}/messages?limit=200${before ? `&before=${before}` : ''}`, { token: u.token });
    assert.equal(r.status, 200, r.body);
    out.unshift(...r.json.data);
    if (!r.json.next) return out;
    before = r.json.next;
  }
}

// Lists a directory's entries, [] if it does not exist.
function ls(dir) { try { return fs.readdirSync(dir).sort(); } catch { return []; } }

test('restore drill: backup under chat and posting load, kill -9, restore, start: everything acknowledged before the snapshot is there', async (t) => {
  const srv = await start({ args: LOAD });
  const O = await srv.user({ address: ADDR });
  const B = await srv.user();
  const room = await post(srv, O);
  const o = await connect(srv, { v: 4, auth: { token: O.token }, query: { icrId: room.icrId } });
  assert.equal((await o.ack('joinRoom', { icrId: room.icrId })).msg, 'success');
  const b = await connect(srv, { v: 2, auth: { token: B.token }, query: { icrId: room.icrId } });
  assert.deepEqual(await b.authenticate(B.token), { msg: 'success' });
  assert.equal((await b.ack('joinRoom', { icrId: room.icrId })).msg, 'success');

  // load: two chatters (v4 and v2 clients) and a poster, each recording
  // what the server acknowledged and when
  const acked = []; // {text, at}
  const posted = []; // {itemId, photo, at}
  let stop = false;
  const chatter = async (c, name) => {
    for (let i = 0; !stop; i++) {
      const text = `${name} ${i}`;
      const r = await c.ack('sendMsg', { icrId: room.icrId, chatMsg: text }, 30000);
      assert.equal(r.msg, 'success', JSON.stringify(r));
      acked.push({ text, at: Date.now() });
    }
  };
  const poster = async () => {
    while (!stop) {
      const p = await post(srv, O);
      posted.push({ ...p, at: Date.now() });
    }
  };
  const load = Promise.all([chatter(o, 'v4'), chatter(b, 'v2'), poster()]);
  await sleep(1500);

  const dest = path.join(tmp, 'drill-backup');
  const began = Date.now(); // the snapshot begins after this instant
  const bk = await runAsync('backup', dest, '--data', srv.data);
  await sleep(500); // the load goes on after the backup too
  stop = true;
  await load;
  assert.equal(bk.status, 0, bk.stderr);
  assert.match(bk.stdout, /backup of .* written to /);
  const before = { msgs: acked.filter((m) => m.at < began), items: posted.filter((p) => p.at < began) };
  assert.ok(before.msgs.length >= 4 && before.items.length >= 2, `load too thin: ${before.msgs.length} messages, ${before.items.length} items`);
  assert.ok(acked.length > before.msgs.length || posted.length > before.items.length, 'no writes during or after the backup');
  t.diagnostic(`acknowledged before the backup began: ${before.msgs.length} messages, ${before.items.length} items; in all: ${acked.length} messages, ${posted.length} items`);
  o.close();
  b.close();
  await srv.kill(); // kill -9: no orderly checkpoint

  // the manifest: every file with size and sha256; secrets 0600
  const man = JSON.parse(fs.readFileSync(path.join(dest, 'MANIFEST.json'), 'utf8'));
  assert.equal(man.format, 'dongmul-backup');
  const files = new Map(man.files.map((f) => [f.path, f]));
  for (const f of man.files) {
    const buf = fs.readFileSync(path.join(dest, f.path));
    assert.equal(buf.length, f.size, f.path);
    assert.equal(sha256(buf), f.sha256, f.path);
  }
  assert.equal(files.get('jwt.key').mode, '0600');
  assert.equal(fs.statSync(path.join(dest, 'jwt.key')).mode & 0o777, 0o600);
  assert.ok(files.has('dongmul.db'));

  const data = path.join(tmp, 'drill-restored');
  const rs = run('restore', dest, '--data', data);
  assert.equal(rs.status, 0, rs.stderr);
  assert.match(rs.stdout, /integrity_check ok/);
  assert.equal(fs.statSync(path.join(data, 'jwt.key')).mode & 0o777, 0o600);

  const srv2 = await start({ data, args: LOAD });
  try {
    // the same token key: O's token from before still works
    const msgs = (await allMessages(srv2, O, room.icrId)).filter((m) => m.msgType === 'chat').map((m) => m.chatMsg);
    const have = new Set(msgs);
    for (const m of before.msgs) assert.ok(have.has(m.text), `message "${m.text}" acknowledged before the snapshot is missing`);
    for (const p of [room, ...before.items]) {
      const d = await srv2.req('GET', `/postDetail/${p.itemId}`, { token: O.token });
      assert.equal(d.status, 200, `item ${p.itemId}: ${d.body}`);
      assert.equal(d.json.data.image, `/images/${p.photo}.png`);
      const g = await srv2.req('GET', d.json.data.image, { raw: true });
      assert.equal(g.status, 200);
      assert.equal(sha256(g.body), p.photo, `photo of item ${p.itemId}`);
    }
    // and it takes writes again
    const n = await post(srv2, O);
    assert.ok(n.itemId);
  } finally {
    assert.equal((await srv2.stop()).code, 0);
  }
});

test('refusals: a non-empty or unwritable destination, a missing data dir; nothing reported as success', async () => {
  const srv = await start({ args: LOAD });
  const u = await srv.user({ address: ADDR });
  await post(srv, u);
  try {
    // an existing non-empty destination: refused and left as it was
    const full = path.join(tmp, 'full');
    fs.mkdirSync(full);
    fs.writeFileSync(path.join(full, 'keep.txt'), 'mine');
    let r = run('backup', full, '--data', srv.data);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /not an empty directory/);
    assert.deepEqual(ls(full), ['keep.txt']);
    // a destination that cannot be created (its parent is a file), and one
    // where nothing may be written (even as root)
    const file = path.join(tmp, 'a-file');
    fs.writeFileSync(file, 'x');
    r = run('backup', path.join(file, 'sub'), '--data', srv.data);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot create/);
    r = run('backup', '/proc/dongmul-backup-test', '--data', srv.data);
    assert.equal(r.status, 1);
    assert.doesNotMatch(r.stdout, /written/);
    if (process.getuid && process.getuid() !== 0) {
      const ro = path.join(tmp, 'ro');
      fs.mkdirSync(ro, 0o500);
      r = run('backup', path.join(ro, 'b'), '--data', srv.data);
      assert.equal(r.status, 1);
    }
    // an empty destination directory is fine
    const empty = path.join(tmp, 'empty-dest');
    fs.mkdirSync(empty);
    r = run('backup', empty, '--data', srv.data);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(ls(empty).includes('MANIFEST.json'));
    // no database there
    r = run('backup', path.join(tmp, 'nodb'), '--data', path.join(tmp, 'no-such-data'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no database/);
    assert.deepEqual(ls(path.join(tmp, 'nodb')), []);
    // usage
    assert.equal(run('backup').status, 2);
    assert.equal(run('restore', '--data', path.join(tmp, 'x')).status, 2);
  } finally {
    await srv.stop();
  }
});

// Copies a backup directory (two levels) so each damage starts from a good one.
function copyBackup(from, to) {
  fs.cpSync(from, to, { recursive: true });
  return to;
}

test('restore refuses a damaged or half-written backup, a non-empty target and hostile manifest paths, and leaves the target as it was', async () => {
  const srv = await start({ https: true });
  const u = await srv.user({ address: ADDR });
  const p = await post(srv, u);
  const good = path.join(tmp, 'good');
  const r0 = run('backup', good, '--data', srv.data);
  assert.equal(r0.status, 0, r0.stderr);
  await srv.stop();
  assert.ok(fs.existsSync(path.join(good, 'tls', 'self-signed.pem')), 'TLS material is in the backup');
  assert.ok(fs.existsSync(path.join(good, 'images', `${p.photo}.png`)));

  const refuse = (src, why, re) => {
    const target = path.join(tmp, `target-${why}`);
    const r = run('restore', src, '--data', target);
    assert.equal(r.status, 1, `${why}: ${r.stdout}`);
    assert.match(r.stderr, re, why);
    assert.deepEqual(ls(target), [], `${why}: the target was left with files`);
  };
  // half-written: no manifest
  let b = copyBackup(good, path.join(tmp, 'b-nomanifest'));
  fs.unlinkSync(path.join(b, 'MANIFEST.json'));
  refuse(b, 'nomanifest', /did not finish/);
  // a truncated manifest
  b = copyBackup(good, path.join(tmp, 'b-truncated'));
  const mtext = fs.readFileSync(path.join(b, 'MANIFEST.json'), 'utf8');
  fs.writeFileSync(path.join(b, 'MANIFEST.json'), mtext.slice(0, Math.floor(mtext.length / 2)));
  refuse(b, 'truncated', /not a dongmul backup manifest/);
  // one flipped byte in a photo
  b = copyBackup(good, path.join(tmp, 'b-photo'));
  const ph = path.join(b, 'images', `${p.photo}.png`);
  const bytes = fs.readFileSync(ph);
  bytes[bytes.length >> 1] ^= 0x01;
  fs.writeFileSync(ph, bytes);
  refuse(b, 'photo', /does not match the manifest/);
  // a flipped byte in the database
  b = copyBackup(good, path.join(tmp, 'b-db'));
  const dbf = path.join(b, 'dongmul.db');
  const db = fs.readFileSync(dbf);
  db[5000] ^= 0x40;
  fs.writeFileSync(dbf, db);
  refuse(b, 'db', /does not match the manifest/);
  // a listed file missing
  b = copyBackup(good, path.join(tmp, 'b-missing'));
  fs.unlinkSync(path.join(b, 'jwt.key'));
  refuse(b, 'missing', /cannot read/);
  // a consistent manifest that left out a photo the database uses
  b = copyBackup(good, path.join(tmp, 'b-nophoto'));
  const lean = JSON.parse(mtext);
  lean.files = lean.files.filter((f) => !f.path.startsWith('images/'));
  fs.writeFileSync(path.join(b, 'MANIFEST.json'), JSON.stringify(lean));
  fs.rmSync(path.join(b, 'images'), { recursive: true });
  refuse(b, 'nophoto', /refers to photo .* the backup does not have/);
  // hostile paths in an otherwise consistent manifest
  for (const evil of ['../evil', '/etc/evil', 'images/../../evil', '.hidden', 'a/b/c']) {
    b = copyBackup(good, path.join(tmp, `b-evil-${seq++}`));
    const m = JSON.parse(mtext);
    m.files.find((f) => f.path === 'jwt.key').path = evil;
    fs.writeFileSync(path.join(b, 'MANIFEST.json'), JSON.stringify(m));
    refuse(b, `evil-${seq}`, /refusing the path/);
  }
  assert.equal(fs.existsSync(path.join(tmp, 'evil')), false);
  // a non-empty target: refused, untouched
  const busy = path.join(tmp, 'busy');
  fs.mkdirSync(busy);
  fs.writeFileSync(path.join(busy, 'dongmul.db'), 'not mine to overwrite');
  const r = run('restore', good, '--data', busy);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /not an empty directory/);
  assert.deepEqual(ls(busy), ['dongmul.db']);
  assert.equal(fs.readFileSync(path.join(busy, 'dongmul.db'), 'utf8'), 'not mine to overwrite');
  // and the good one restores, and serves HTTPS with the same certificate
  const data = path.join(tmp, 'good-restored');
  assert.equal(run('restore', good, '--data', data).status, 0);
  const s2 = await start({ data, https: true });
  try {
    assert.equal((await s2.sreq('GET', '/healthz')).status, 200);
    assert.equal((await s2.req('GET', `/postDetail/${p.itemId}`, { token: u.token })).status, 200);
  } finally {
    await s2.stop();
  }
  assert.equal(fs.readFileSync(path.join(data, 'tls', 'self-signed.pem'), 'utf8'),
    fs.readFileSync(path.join(good, 'tls', 'self-signed.pem'), 'utf8'));
});

test('scheduled backups: --backup-every runs them in the server, --backup-keep keeps the newest N', async () => {
  const dir = path.join(tmp, 'scheduled');
  const srv = await start({ args: ['--backup-dir', dir, '--backup-every', '1s', '--backup-keep', '2'] });
  try {
    const u = await srv.user({ address: ADDR });
    await post(srv, u);
    const t0 = Date.now();
    while ((srv.log().match(/backup: .* written in/g) || []).length < 4) {
      assert.ok(Date.now() - t0 < 60000, `fewer than 4 scheduled backups in 60 s:\n${srv.log()}`);
      await sleep(200);
    }
    // a new backup is renamed in before the oldest is removed: between
    // the two there are keep + 1; in the steady state between backups, keep
    let kept;
    const t1 = Date.now();
    for (;;) {
      kept = ls(dir).filter((n) => n.startsWith('dongmul-'));
      assert.ok(kept.length <= 3, `more than keep + 1 backups: ${kept.join(' ')}`);
      if (kept.length === 2 || Date.now() - t1 > 10000) break;
      await sleep(50);
    }
    assert.equal(kept.length, 2, kept.join(' '));
    assert.match(srv.log(), /backup: removed/);
    for (const k of kept) assert.ok(ls(path.join(dir, k)).includes('MANIFEST.json'), k);
    const data = path.join(tmp, 'scheduled-restored');
    const r = run('restore', path.join(dir, kept[1]), '--data', data);
    assert.equal(r.status, 0, r.stderr);
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }
  // bad flags are refused with a clear message
  for (const v of ['0s', '5x', '-1m', '31d', '']) {
    const r = run('serve', '--data', path.join(tmp, 'unused'), '--backup-every', v);
    assert.equal(r.status, 2, v);
    assert.match(r.stderr, /--backup-every: expected a duration/);
  }
});

test('--wal-autocheckpoint 0 leaves the WAL to a replicator (Litestream); the default keeps it near 1000 pages', async () => {
  const walPages = (srv) => {
    const st = fs.statSync(path.join(srv.data, 'dongmul.db-wal'), { throwIfNoEntry: false });
    return st ? Math.floor((st.size - 32) / (24 + 4096)) : 0;
  };
  // one commit at a time, each a few pages: `count` messages, or (count
  // undefined) until the WAL holds 1500 pages. Returns {pages, sent}.
  const load = async (srv, count) => {
    const u = await srv.user({ address: ADDR });
    const room = await post(srv, u);
    const c = await connect(srv, { v: 4, auth: { token: u.token }, query: { icrId: room.icrId } });
    let sent = 0;
    try {
      assert.equal((await c.ack('joinRoom', { icrId: room.icrId })).msg, 'success');
      while (count === undefined ? walPages(srv) < 1500 && sent < 5000 : sent < count) {
        const r = await c.ack('sendMsg', { icrId: room.icrId, chatMsg: `wal ${sent} ${'가'.repeat(300)}` }, 30000);
        assert.equal(r.msg, 'success');
        sent += 1;
      }
    } finally {
      c.close();
    }
    return { pages: walPages(srv), sent };
  };
  const off = await start({ args: [...LOAD, '--wal-autocheckpoint', '0'] });
  let grown;
  try {
    grown = await load(off);
    assert.ok(grown.pages >= 1500, `the WAL did not grow past 1500 pages with --wal-autocheckpoint 0 (${grown.pages} after ${grown.sent} messages)`);
  } finally {
    assert.equal((await off.stop()).code, 0);
  }
  const on = await start({ args: LOAD });
  try {
    const { pages } = await load(on, grown.sent);
    assert.ok(pages < 1300, `the WAL has ${pages} pages after ${grown.sent} messages with the default (checkpoints at 1000)`);
  } finally {
    assert.equal((await on.stop()).code, 0);
  }
});
