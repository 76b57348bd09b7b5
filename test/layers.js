#!/usr/bin/env node
// test/layers.js — the source layout's rules, checked by `make test`:
//   - src/ is in three layers, one folder each: core (the program's
//     machinery: time, memory, SQLite, JSON, config, the write lane, tokens,
//     sockets, TLS, the event loop, WebSocket framing, the refusal catalog,
//     metrics, quotas, mail, backups), web (HTTP, Socket.IO and the
//     transports under it, ACME, the web app's files), market (the
//     neighbourhood market itself: accounts, items, chat, trades, ...).
//     core includes only core; web includes core and web; market includes
//     all three. dongmul.c, at the top, may include anything.
//   - the parts' include graph has no circle (a part is a file's name less
//     its extension; X_int.h is part X's private header);
//   - no weak symbol anywhere in our C: every dependency is a visible call.
// `node test/layers.js --graph` prints the graph, a part a line.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const src = path.join(root, 'src');
const LAYERS = ['core', 'web', 'market'];
const may = { core: ['core'], web: ['core', 'web'], market: ['core', 'web', 'market'] };

const files = [];
for (const layer of LAYERS) {
  const dir = path.join(src, layer);
  if (!fs.existsSync(dir)) continue;
  for (const f of fs.readdirSync(dir)) if (/\.[ch]$/.test(f)) files.push({ layer, name: f, file: path.join(dir, f) });
}
const errors = [];
for (const f of fs.readdirSync(src)) if (/\.[ch]$/.test(f)) errors.push(`src/${f} is in no layer (src/core, src/web or src/market)`);
if (!files.length) errors.push('no source files found under src/core, src/web, src/market');

const partOf = (name) => name.replace(/\.[ch]$/, '').replace(/_int$/, '');
const layerOfHeader = new Map(files.filter((f) => f.name.endsWith('.h')).map((f) => [f.name, f.layer]));
const graph = new Map();
const scan = (from, layer, file, rel) => {
  const text = fs.readFileSync(file, 'utf8');
  if (/__attribute__\s*\(\(\s*weak|#\s*pragma\s+weak/.test(text)) errors.push(`${rel}: a weak symbol`);
  for (const m of text.matchAll(/^\s*#\s*include\s+"([^"]+)"/gm)) {
    const h = path.basename(m[1]);
    const hl = layerOfHeader.get(h);
    if (!hl) continue; // generated or vendor headers
    if (layer && !may[layer].includes(hl)) errors.push(`${rel} (${layer}) includes ${h} (${hl})`);
    const to = partOf(h);
    if (from && to !== from) {
      if (!graph.has(from)) graph.set(from, new Set());
      graph.get(from).add(to);
    }
  }
};
for (const f of files) scan(partOf(f.name), f.layer, f.file, `src/${f.layer}/${f.name}`);
scan(null, null, path.join(root, 'dongmul.c'), 'dongmul.c');

// circles: Tarjan's strongly connected components
const index = new Map(), low = new Map(), stack = [], on = new Set();
let n = 0;
const strong = (v) => {
  index.set(v, n); low.set(v, n); n++; stack.push(v); on.add(v);
  for (const w of graph.get(v) || []) {
    if (!index.has(w)) { strong(w); low.set(v, Math.min(low.get(v), low.get(w))); }
    else if (on.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
  }
  if (low.get(v) === index.get(v)) {
    const comp = [];
    let w;
    do { w = stack.pop(); on.delete(w); comp.push(w); } while (w !== v);
    if (comp.length > 1) errors.push(`include circle: ${comp.sort().join(' <-> ')}`);
  }
};
for (const v of [...graph.keys()].sort()) if (!index.has(v)) strong(v);

if (process.argv.includes('--graph')) {
  const layerOfPart = new Map(files.map((f) => [partOf(f.name), f.layer]));
  for (const layer of LAYERS)
    for (const p of [...graph.keys()].filter((k) => layerOfPart.get(k) === layer).sort())
      console.log(`${layer}/${p} -> ${[...graph.get(p)].sort().join(' ')}`);
}
if (errors.length) {
  for (const e of errors) console.error(`layers: ${e}`);
  process.exit(1);
}
console.log(`layers: ${files.length} files in ${LAYERS.join(', ')}; ${graph.size} parts, no circle, no weak symbol`);
