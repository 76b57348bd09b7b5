// GET /openapi.json is the contract, machine-readable: it lists exactly the
// routes the binary serves (compared with `dongmul routes`), it is a valid
// OpenAPI 3.1 document whose schemas compile, and every reply of a real
// tour of the API (test/lib/tour.js) validates against the schema of its
// route, method and status. docs/openapi.json is the same document.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const Ajv2020 = require('ajv/dist/2020');
const { start, BIN } = require('./lib/dongmul');
const { tour } = require('./lib/tour');

// the route table as the binary prints it, in the document's path syntax:
// ":name" -> "{name}"; the Engine.IO transport's "/socket.io" and
// "/socket.io/*" are one documented path "/socket.io/"
function routeTable() {
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'dongmul-routes-'));
  const r = spawnSync(BIN, ['routes', '--data', data], { encoding: 'utf8', timeout: 30000 });
  assert.equal(r.status, 0, r.stderr);
  const set = new Set();
  for (const line of r.stdout.trim().split('\n')) {
    const [method, p] = line.split(' ');
    let doc = p.replace(/:([A-Za-z]+)/g, '{$1}');
    if (doc === '/socket.io' || doc === '/socket.io/*') doc = '/socket.io/';
    set.add(`${method.toLowerCase()} ${doc}`);
  }
  return set;
}

function validator(doc) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addSchema({ $id: 'openapi', components: doc.components }, 'openapi');
  const fix = (s) => JSON.parse(JSON.stringify(s).replace(/"#\/components\//g, '"openapi#/components/'));
  return (schema) => ajv.compile(fix(schema));
}

let srv;
let doc;
test.before(async () => { srv = await start(); });
test.after(async () => { if (srv) await srv.stop(); });

test('GET /openapi.json is docs/openapi.json, OpenAPI 3.1', async () => {
  const r = await srv.req('GET', '/openapi.json');
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'], /^application\/json/);
  doc = r.json;
  assert.ok(doc, 'valid JSON');
  assert.match(doc.openapi, /^3\.1\./);
  assert.deepEqual(doc, JSON.parse(fs.readFileSync(path.join(__dirname, '../docs/openapi.json'), 'utf8')));
});

test('the document and the route table list the same routes', () => {
  const served = routeTable();
  const documented = new Set();
  for (const [p, ops] of Object.entries(doc.paths)) for (const m of Object.keys(ops)) documented.add(`${m} ${p}`);
  assert.deepEqual([...served].filter((x) => !documented.has(x)), [], 'served but not documented');
  assert.deepEqual([...documented].filter((x) => !served.has(x)), [], 'documented but not served');
});

test('every schema compiles and every operation documents its failures as Fail', () => {
  const compile = validator(doc);
  for (const [p, ops] of Object.entries(doc.paths)) {
    for (const [m, op] of Object.entries(ops)) {
      assert.ok(op.summary, `${m} ${p}: summary`);
      for (const [st, rep] of Object.entries(op.responses)) {
        const c = rep.content && (rep.content['application/json'] || Object.values(rep.content)[0]);
        if (c && c.schema) compile(c.schema);
        if (Number(st) >= 400 && p !== '/socket.io/') assert.match(JSON.stringify(c.schema), /Fail/, `${m} ${p} ${st}`);
      }
    }
  }
});

test('every reply of a real tour of the API validates against its schema', async () => {
  const compile = validator(doc);
  const seen = new Set();
  const replies = await tour(srv);
  for (const r of replies) {
    const op = doc.paths[r.route] && doc.paths[r.route][r.method.toLowerCase()];
    assert.ok(op, `${r.method} ${r.route}: not in the document`);
    const rep = op.responses[String(r.status)];
    assert.ok(rep, `${r.method} ${r.path}: status ${r.status} is not documented (${r.body && r.body.slice(0, 200)})`);
    seen.add(`${r.method.toLowerCase()} ${r.route}`);
    const c = rep.content && rep.content['application/json'];
    if (!c || !c.schema || !r.json) continue;
    const v = compile(c.schema);
    assert.ok(v(r.json), `${r.method} ${r.path} ${r.status}: ${JSON.stringify(v.errors)}\n${r.body.slice(0, 400)}`);
  }
  // the tour covers every documented operation
  const missing = [];
  for (const [p, ops] of Object.entries(doc.paths)) for (const m of Object.keys(ops)) if (!seen.has(`${m} ${p}`)) missing.push(`${m} ${p}`);
  assert.deepEqual(missing, [], 'operations the tour does not exercise');
});

// every error code the source can send, and every code the document names,
// is in docs/API.md's table of error codes
test('docs/API.md lists every error code', () => {
  const api = fs.readFileSync(path.join(__dirname, '../docs/API.md'), 'utf8');
  const table = api.slice(api.indexOf('## Error codes'));
  const documented = new Set(table.match(/`[A-Z][A-Z0-9_]+`/g).map((c) => c.slice(1, -1)));
  const src = path.join(__dirname, '../src');
  const found = new Set();
  const patterns = [
    /http_fail\(\s*r\s*,\s*\d+\s*,\s*"([A-Z][A-Z0-9_]+)"/g, // replies
    /\[F_[A-Z_]+\]\s*=\s*\{\s*"([A-Z][A-Z0-9_]+)"/g,        // chat's refusal table
    /'code'\s*,\s*'([A-Z][A-Z0-9_]+)'/g,                     // replies built by SQL
    /to_app\(\s*r\s*,\s*"error"\s*,\s*"([A-Z][A-Z0-9_]+)"/g, // social ?error= redirects
  ];
  for (const f of fs.readdirSync(src, { recursive: true }).filter((n) => n.endsWith('.c'))) {
    const text = fs.readFileSync(path.join(src, f), 'utf8');
    for (const re of patterns) for (const m of text.matchAll(re)) found.add(m[1]);
    // and any other UPPER_SNAKE literal with an underscore (refusal codes
    // carried in struct fields), less the environment's names
    for (const m of text.matchAll(/"([A-Z][A-Z0-9]*_[A-Z0-9_]+)"/g)) if (!/^(DONGMUL|SQLITE|MBEDTLS)_/.test(m[1])) found.add(m[1]);
  }
  // the catalog of refusals (src/core/refusal.h, printed by `dongmul refusals`)
  const rf = spawnSync(BIN, ['refusals'], { encoding: 'utf8', timeout: 30000 });
  assert.equal(rf.status, 0, rf.stderr);
  const rows = rf.stdout.trim().split('\n').map((l) => l.split('\t'));
  assert.ok(rows.length > 100, `the catalog has its rows (${rows.length})`);
  for (const [name, code, status, msg] of rows) {
    assert.match(code, /^[A-Z][A-Z0-9_]+$/, `${name}: a wire code`);
    assert.ok(+status >= 400 && +status < 600, `${name}: an error status (${status})`);
    assert.ok(msg && msg.length > 1, `${name}: a message`);
    found.add(code);
  }
  assert.ok(found.size > 40, `the scan and the catalog find the codes (${found.size})`);
  assert.equal(new Set(rows.map((r) => r[0])).size, rows.length, 'each refusal is named once');
  const said = new Map();
  for (const [name, code, , msg] of rows) {
    if (said.has(msg)) assert.notEqual(said.get(msg), code, `${name} repeats another row of ${code} word for word`);
    said.set(msg, code);
  }
  const enums = JSON.stringify(doc).match(/"enum":\["[A-Z][A-Z0-9_]+"[^\]]*\]/g) || [];
  for (const e of enums) for (const c of JSON.parse(e.slice(7))) if (/^[A-Z][A-Z0-9_]+$/.test(c) && c.includes('_') || /^(BUSY|KICKED|SUSPENDED|CONFLICT|FORBIDDEN|INTERNAL|UNAUTHORIZED|CANCELLED)$/.test(c)) found.add(c);
  assert.deepEqual([...found].filter((c) => !documented.has(c)).sort(), [], 'codes missing from docs/API.md');
});
