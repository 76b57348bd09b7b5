// Smoke suite for a cross-built (Raspberry Pi) binary: the static binary
// alone in an empty root, run by a static qemu-user emulator copied in
// beside it (what `FROM scratch` or a bare Pi gives, minus the CPU):
// /healthz over HTTP and HTTPS, sign-up, a post with a photo, a Socket.IO
// v2 and v4 chat round trip, an online backup, SIGTERM.
//
//   DONGMUL_BIN=build/static-aarch64/dongmul DONGMUL_EMU=/usr/bin/qemu-aarch64-static \
//     node --test test/cross/smoke.test.js
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { start } = require('../lib/dongmul');
const { connect } = require('../lib/sio');
const img = require('../lib/img');

const BIN = process.env.DONGMUL_BIN;
const EMU = process.env.DONGMUL_EMU;
assert.ok(BIN && EMU, 'set DONGMUL_BIN (the cross binary) and DONGMUL_EMU (a static qemu-user)');

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'dongmul-xroot-'));
fs.copyFileSync(BIN, path.join(root, 'dongmul'));
fs.chmodSync(path.join(root, 'dongmul'), 0o755);
fs.copyFileSync(EMU, path.join(root, 'emu'));
fs.chmodSync(path.join(root, 'emu'), 0o755);
fs.mkdirSync(path.join(root, 'data'));
test.after(() => fs.rmSync(root, { recursive: true, force: true }));
const asRoot = process.getuid() === 0;
// the command that runs a program inside the empty root
const inRoot = (...args) => (asRoot ? ['chroot', root, ...args] : ['unshare', '-r', 'chroot', root, ...args]);

const ADDR = '서울특별시 강남구 역삼동';
let srv;

// ELF header facts: {bits, machine, interp (has a PT_INTERP program header)}
function elfInfo(file) {
  const b = fs.readFileSync(file);
  assert.equal(b.toString('latin1', 0, 4), '\x7fELF', `${file} is not an ELF file`);
  const bits = b[4] === 2 ? 64 : 32;
  const machine = b.readUInt16LE(18);
  const phoff = bits === 64 ? Number(b.readBigUInt64LE(32)) : b.readUInt32LE(28);
  const phentsize = b.readUInt16LE(bits === 64 ? 54 : 42);
  const phnum = b.readUInt16LE(bits === 64 ? 56 : 44);
  let interp = false;
  for (let i = 0; i < phnum; i++) if (b.readUInt32LE(phoff + i * phentsize) === 3) interp = true;
  return { bits, machine, interp };
}

test('the binary is a static ELF for the emulator\'s CPU and runs there', () => {
  const e = elfInfo(BIN);
  const want = /aarch64/.test(EMU) ? { bits: 64, machine: 183 } : { bits: 32, machine: 40 };
  assert.equal(e.bits, want.bits);
  assert.equal(e.machine, want.machine);
  assert.equal(e.interp, false, 'it asks for a dynamic loader');
  const cmd = inRoot('/emu', '/dongmul', 'version');
  const v = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8' });
  assert.equal(v.status, 0, v.stderr);
  assert.match(v.stdout, /^dongmul .* \(SQLite 3\./);
});

test('starts in an empty root and answers /healthz over HTTP and HTTPS (certificate made there)', async () => {
  srv = await start({
    https: true,
    cmd: inRoot('/emu', '/dongmul'),
    data: path.join(root, 'data'),
    dataArg: '/data',
    startMs: 120000,
  });
  const h = await srv.req('GET', '/healthz');
  assert.equal(h.status, 200);
  const s = await srv.sreq('GET', '/healthz');
  assert.equal(s.status, 200);
  assert.equal(s.json.msg, 'success');
  assert.ok(fs.existsSync(path.join(root, 'data', 'tls', 'self-signed.pem')));
});

let O;
let B;
let item;
test('sign-up, and a post with a photo that is served back byte for byte', async () => {
  O = await srv.user({ address: ADDR });
  B = await srv.user({ address: ADDR });
  const bytes = img.png({ w: 7, h: 5, seed: 99 });
  const mp = img.multipart([
    { name: 'file', filename: 'p.png', type: 'image/png', data: bytes },
    { name: 'category', value: '기타 중고물품' },
    { name: 'title', value: '라즈베리 파이' },
    { name: 'wantItem', value: '책' },
    { name: 'comment', value: 'ARM에서 올림' },
    { name: 'deadLine', value: new Date(Date.now() + 2 * 86400e3).toISOString() },
  ]);
  const r = await srv.req('POST', '/mainPage/write', { body: mp.body, headers: { 'content-type': mp.contentType }, token: O.token });
  assert.ok(r.status === 200 || r.status === 201, r.body);
  item = { itemId: String(r.json.itemId), icrId: String(r.json.icrId) };
  const d = await srv.req('GET', `/postDetail/${item.itemId}`, { token: O.token });
  assert.equal(d.status, 200, d.body);
  const sha = crypto.createHash('sha256').update(bytes).digest('hex');
  assert.equal(d.json.data.image, `/images/${sha}.png`);
  const g = await srv.req('GET', d.json.data.image, { raw: true });
  assert.equal(g.status, 200);
  assert.equal(Buffer.compare(g.body, bytes), 0);
});

test('chat round trip between a Socket.IO v4 and a v2 client', async () => {
  const o = await connect(srv, { v: 4, auth: { token: O.token }, query: { icrId: item.icrId }, timeout: 60000 });
  const b = await connect(srv, { v: 2, transports: ['websocket'], query: { icrId: item.icrId }, timeout: 60000 });
  try {
    assert.deepEqual(await b.authenticate(B.token), { msg: 'success' });
    assert.equal((await o.ack('joinRoom', { icrId: item.icrId }, 60000)).msg, 'success');
    assert.equal((await b.ack('joinRoom', { icrId: item.icrId }, 60000)).msg, 'success');
    const a1 = await o.ack('sendMsg', { icrId: item.icrId, chatMsg: '안녕 v2 😀' }, 60000);
    assert.equal(a1.msg, 'success', JSON.stringify(a1));
    const g1 = await b.find('getMsg', (m) => m.chatMsg === '안녕 v2 😀', 60000);
    assert.equal(g1.userId, String(O.userId));
    const a2 = await b.ack('sendMsg', { icrId: item.icrId, chatMsg: '반가워 v4' }, 60000);
    assert.equal(a2.msg, 'success', JSON.stringify(a2));
    const g2 = await o.find('getMsg', (m) => m.chatMsg === '반가워 v4', 60000);
    assert.equal(g2.userId, String(B.userId));
  } finally {
    o.close();
    b.close();
  }
});

test('an online backup taken in the root while the server runs restores and checks', () => {
  const cmd = inRoot('/emu', '/dongmul', 'backup', '/bk', '--data', '/data');
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', timeout: 300000 });
  assert.equal(r.status, 0, r.stderr);
  const rcmd = inRoot('/emu', '/dongmul', 'restore', '/bk', '--data', '/restored');
  const rr = spawnSync(rcmd[0], rcmd.slice(1), { encoding: 'utf8', timeout: 300000 });
  assert.equal(rr.status, 0, rr.stderr);
  assert.match(rr.stdout, /integrity_check ok/);
  fs.rmSync(path.join(root, 'bk'), { recursive: true });
  fs.rmSync(path.join(root, 'restored'), { recursive: true });
});

test('SIGTERM: exit 0, and the root holds nothing but the binary, the emulator and the data', async () => {
  const e = await srv.stop();
  assert.equal(e.code, 0, srv.log());
  assert.deepEqual(fs.readdirSync(root).sort(), ['data', 'dongmul', 'emu']);
});
