// Small, real images built byte by byte (no packages): PNG (zlib + CRC-32),
// baseline JPEG (one gray color: every 8x8 block is a DC-only block coded
// with one-symbol Huffman tables), GIF89a, and lossless WebP (VP8L with
// one-symbol prefix codes: a solid color), bare or in a VP8X container.
// Each function takes {w, h} and returns a Buffer. `seed` varies the bytes
// (the color) so that different calls give different content hashes.
'use strict';
const zlib = require('node:zlib');

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function u32be(n) { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; }
function u16be(n) { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; }
function u16le(n) { const b = Buffer.alloc(2); b.writeUInt16LE(n); return b; }
function u32le(n) { const b = Buffer.alloc(4); b.writeUInt32LE(n >>> 0); return b; }

// PNG, 8-bit grayscale, every pixel = seed & 0xff.
function png({ w = 2, h = 2, seed = 0x80 } = {}) {
  const chunk = (type, data) => {
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    return Buffer.concat([u32be(data.length), td, u32be(crc32(td))]);
  };
  const ihdr = Buffer.concat([u32be(w), u32be(h), Buffer.from([8, 0, 0, 0, 0])]);
  const raw = Buffer.alloc((w + 1) * h);
  for (let y = 0; y < h; y++) raw.fill(seed & 0xff, y * (w + 1) + 1, (y + 1) * (w + 1));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// Baseline JPEG, one component. Each block: DC difference category 0 (code
// "0"), then EOB (code "0"): 2 bits per block; the first block's DC is 0,
// i.e. mid gray. seed goes into a COM segment so contents differ. app1:
// bytes of an APP1 segment put before the frame header (the SOF must be
// found past it).
function jpeg({ w = 8, h = 8, seed = 0, app1 = 0 } = {}) {
  const seg = (marker, data) => Buffer.concat([Buffer.from([0xff, marker]), u16be(data.length + 2), data]);
  const counts = Buffer.alloc(16); counts[0] = 1; // one code of length 1
  const blocks = Math.ceil(w / 8) * Math.ceil(h / 8);
  const bits = blocks * 2;
  const scan = Buffer.alloc(Math.ceil(bits / 8), 0);
  // codes are all zero bits; pad the last byte with ones
  const used = bits % 8;
  if (used) scan[scan.length - 1] = (1 << (8 - used)) - 1;
  const parts = [
    Buffer.from([0xff, 0xd8]),
    seg(0xe0, Buffer.from([0x4a, 0x46, 0x49, 0x46, 0x00, 1, 1, 0, 0, 1, 0, 1, 0, 0])),
    seg(0xfe, Buffer.from(`dongmul test ${seed}`)),
  ];
  if (app1) parts.push(seg(0xe1, Buffer.alloc(app1, 0x45)));
  parts.push(
    seg(0xdb, Buffer.concat([Buffer.from([0]), Buffer.alloc(64, 1)])),
    seg(0xc0, Buffer.concat([Buffer.from([8]), u16be(h), u16be(w), Buffer.from([1, 1, 0x11, 0])])),
    seg(0xc4, Buffer.concat([Buffer.from([0x00]), counts, Buffer.from([0x00])])),
    seg(0xc4, Buffer.concat([Buffer.from([0x10]), counts, Buffer.from([0x00])])),
    seg(0xda, Buffer.from([1, 1, 0x00, 0, 63, 0])),
    scan,
    Buffer.from([0xff, 0xd9]),
  );
  return Buffer.concat(parts);
}

// GIF89a: a w x h logical screen with a 2-color table and one 1x1 image.
function gif({ w = 1, h = 1, seed = 0 } = {}) {
  return Buffer.concat([
    Buffer.from('GIF89a', 'latin1'),
    u16le(w), u16le(h), Buffer.from([0x80, 0, 0]),
    Buffer.from([seed & 0xff, 0xff, 0xff, 0, 0, 0]),
    Buffer.from([0x2c]), u16le(0), u16le(0), u16le(1), u16le(1), Buffer.from([0]),
    Buffer.from([2, 2, 0x44, 0x01, 0]),
    Buffer.from([0x3b]),
  ]);
}

// VP8L bit writer (least significant bit first).
function vp8l({ w, h, seed }) {
  const out = [];
  let acc = 0, n = 0;
  const put = (v, bits) => {
    for (let i = 0; i < bits; i++) {
      acc |= ((v >>> i) & 1) << n;
      n++;
      if (n === 8) { out.push(acc); acc = 0; n = 0; }
    }
  };
  put(0x2f, 8);          // signature
  put(w - 1, 14);
  put(h - 1, 14);
  put(0, 1);             // alpha_is_used
  put(0, 3);             // version
  put(0, 1);             // no transform
  put(0, 1);             // no color cache
  put(0, 1);             // no meta prefix codes
  // five simple prefix codes with one symbol each: green, red, blue, alpha, distance
  const one8 = (sym) => { put(1, 1); put(0, 1); put(1, 1); put(sym, 8); };
  one8(seed & 0xff);     // green
  one8(0x40);            // red
  one8(0x20);            // blue
  one8(0xff);            // alpha
  put(1, 1); put(0, 1); put(0, 1); put(0, 1); // distance: one 1-bit symbol 0
  // pixels: every code has one symbol, so they take no bits
  if (n) out.push(acc);
  return Buffer.from(out);
}

function riffChunk(type, data) {
  const pad = data.length & 1 ? Buffer.alloc(1) : Buffer.alloc(0);
  return Buffer.concat([Buffer.from(type, 'latin1'), u32le(data.length), data, pad]);
}

// Lossless WebP (simple format: one VP8L chunk), or extended (VP8X + VP8L)
// with {extended: true}.
function webp({ w = 1, h = 1, seed = 0x80, extended = false } = {}) {
  const chunks = [];
  if (extended) {
    const x = Buffer.alloc(10);
    x.writeUIntLE(w - 1, 4, 3);
    x.writeUIntLE(h - 1, 7, 3);
    chunks.push(riffChunk('VP8X', x));
  }
  chunks.push(riffChunk('VP8L', vp8l({ w, h, seed })));
  const body = Buffer.concat([Buffer.from('WEBP', 'latin1'), ...chunks]);
  return Buffer.concat([Buffer.from('RIFF', 'latin1'), u32le(body.length), body]);
}

// A multipart/form-data body by hand. fields: [{name, value}] or
// [{name, filename, type, data}]. Returns {body, contentType}.
function multipart(fields, boundary = `----dongmul${Math.random().toString(16).slice(2)}`) {
  const parts = [];
  for (const f of fields) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${f.name}"`;
    if (f.filename !== undefined) head += `; filename="${f.filename}"`;
    head += '\r\n';
    if (f.type) head += `Content-Type: ${f.type}\r\n`;
    head += '\r\n';
    const data = f.data !== undefined ? f.data : Buffer.from(String(f.value), 'utf8');
    parts.push(Buffer.from(head, 'utf8'), Buffer.isBuffer(data) ? data : Buffer.from(data), Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}

module.exports = { png, jpeg, gif, webp, multipart, crc32 };
