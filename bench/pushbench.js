// Web Push delivery rate (bench/README.md figure 9).
//
//   node bench/pushbench.js BINARY WORKDIR N
//
// A push service on loopback (node https, a throwaway CA given to dongmul
// with --ca-bundle) that answers 201 to every POST and timestamps it. Ten
// users subscribe through the API; with dongmul stopped, N pushes are put
// in its outbox (sqlite3 CLI); dongmul starts again and delivers them:
// each one encrypted (RFC 8291, a fresh ECDH key), signed (VAPID ES256)
// and POSTed on a new TLS connection, one at a time. The rate is counted
// at the push service, first request to last. Baseline, in the same run,
// before and after: a separate node process POSTing N bodies of the same
// size, unencrypted and unsigned, also one at a time on a new TLS
// connection each. Prints KEY=VALUE lines.
//
//   node bench/pushbench.js client URL N CAFILE SIZE   (the baseline's client)
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const https = require('node:https');
const net = require('node:net');
const path = require('node:path');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function post(url, body, ca) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: 'POST', ca, agent: false, headers: { 'content-type': 'application/octet-stream', 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function client(url, n, caFile, size) {
  const ca = fs.readFileSync(caFile);
  const body = crypto.randomBytes(size);
  for (let i = 0; i < n; i++) {
    const s = await post(`${url}/base/${i % 10}`, body, ca);
    if (s !== 201) throw new Error(`baseline POST: ${s}`);
  }
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

function api(port, method, p, body, token) {
  return fetch(`http://127.0.0.1:${port}${p}`, {
    method, headers: { 'content-type': 'application/json', ...(token ? { authorization: token } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  }).then(async (r) => ({ status: r.status, json: await r.json().catch(() => null) }));
}

async function main() {
  if (process.argv[2] === 'client') {
    await client(process.argv[3], Number(process.argv[4]), process.argv[5], Number(process.argv[6]));
    return;
  }
  const [bin, work, nStr] = process.argv.slice(2);
  const N = Number(nStr);
  const { makeCA } = require(path.join(__dirname, '../test/lib/testca'));
  const ca = makeCA('bench push');
  fs.mkdirSync(work, { recursive: true });
  const data = path.join(work, 'data');

  // the push service
  let count = 0, first = 0, last = 0, want = 0, bytes = 0, done = null;
  const server = https.createServer({ key: ca.key, cert: ca.cert }, (req, res) => {
    req.on('data', (c) => { bytes += c.length; });
    req.on('end', () => {
      const t = performance.now();
      if (count === 0) first = t;
      count++;
      last = t;
      res.writeHead(201, { 'content-length': 0 });
      res.end();
      if (count === want && done) done();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const rport = server.address().port;
  const base = `https://127.0.0.1:${rport}`;
  const measure = async (n, start, timeoutMs) => {
    count = 0; bytes = 0; want = n;
    const fin = new Promise((r) => { done = r; });
    await start();
    const t = setTimeout(() => done(), timeoutMs);
    await fin;
    clearTimeout(t);
    if (count !== n) throw new Error(`only ${count} of ${n} arrived`);
    return { rate: (n - 1) / ((last - first) / 1000), avgBody: bytes / n };
  };

  // dongmul: users and subscriptions
  const port = await freePort();
  const args = ['serve', '--http', `127.0.0.1:${port}`, '--data', data, '--ca-bundle', ca.caFile, '--access-log=0',
    '--no-email-verification', '--pbkdf2-iterations', '1000', '--rate-login', '100000', '--push-hosts', '127.0.0.1'];
  const log = fs.openSync(path.join(work, 'dongmul-push.log'), 'a');
  const startDm = async () => {
    const p = spawn(bin, args, { stdio: ['ignore', log, log] });
    for (let i = 0; ; i++) {
      try { if ((await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200) break; } catch { /* not yet */ }
      if (i > 1500) throw new Error('dongmul did not start');
      await sleep(10);
    }
    return p;
  };
  const stopDm = (p) => new Promise((r) => { p.on('exit', r); p.kill('SIGTERM'); });
  let dm = await startDm();
  for (let i = 0; i < 10; i++) {
    const email = `push${i}@bench.test`;
    await api(port, 'POST', '/account', { email, nickname: `푸시${i}`, password: 'benchpass1' });
    const li = await api(port, 'POST', '/account/login', { email, password: 'benchpass1' });
    const ecdh = crypto.createECDH('prime256v1');
    ecdh.generateKeys();
    const r = await api(port, 'POST', '/push/subscriptions', {
      endpoint: `${base}/p/${i}`, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: crypto.randomBytes(16).toString('base64url') },
    }, li.json.token);
    if (r.status !== 201) throw new Error(`subscribe: ${r.status} ${JSON.stringify(r.json)}`);
  }
  await stopDm(dm);
  // N pushes in the outbox, as notify would queue them (a chat message's payload)
  execFileSync('sqlite3', [path.join(data, 'dongmul.db'),
    `WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ${N}), ` +
    'subs AS (SELECT pushSubId, row_number() OVER (ORDER BY pushSubId) - 1 AS k FROM pushSubscription) ' +
    'INSERT INTO pushOutbox(pushSubId, payload, urgency, nextTryDt, createdDt) ' +
    "SELECT subs.pushSubId, " +
    "json_object('type','chat','title','새 채팅 메시지','body','이웃' || i || ': 안녕하세요, 자전거 아직 있나요? 내일 저녁에 역 앞에서 볼 수 있을까요?'," +
    "'url','/item/' || i || '/chat'), 'high', 0, 0 FROM s JOIN subs ON subs.k = s.i % 10 ORDER BY s.i"]);

  const baseline = async () => measure(N, async () => {
    const c = spawn(process.execPath, [__filename, 'client', base, String(N), ca.caFile, String(avg)], { stdio: 'inherit' });
    c.on('exit', (code) => { if (code) { console.error(`baseline client exit ${code}`); done(); } });
  }, 600000);
  // the size of an encrypted push: header 86 + the payload + delimiter 1 + tag 16
  const avg = 103 + Number(execFileSync('sqlite3', [path.join(data, 'dongmul.db'),
    'SELECT CAST(avg(length(CAST(payload AS BLOB))) AS INTEGER) FROM pushOutbox']).toString().trim());
  const b1 = await baseline();
  const pushR = await measure(N, async () => { dm = await startDm(); }, 600000);
  // every result recorded (the last batch's write follows its last POST)
  let left = '';
  for (let i = 0; i < 100 && left !== '0'; i++) {
    if (i) await sleep(100);
    left = execFileSync('sqlite3', [path.join(data, 'dongmul.db'), 'SELECT count(*) FROM pushOutbox']).toString().trim();
  }
  await stopDm(dm);
  const b2 = await baseline();
  server.close();
  ca.cleanup();
  const bmean = (b1.rate + b2.rate) / 2;
  console.log(`PUSH_N=${N}`);
  console.log(`PUSH_RATE=${pushR.rate.toFixed(0)}`);
  console.log(`PUSH_BODY=${avg}`);
  console.log(`PUSH_BODY_SEEN=${Math.round(pushR.avgBody)}`);
  console.log(`PUSH_LEFT=${left}`);
  console.log(`PUSH_BASE1=${b1.rate.toFixed(0)}`);
  console.log(`PUSH_BASE2=${b2.rate.toFixed(0)}`);
  console.log(`PUSH_RATIO=${(100 * pushR.rate / bmean).toFixed(1)}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
