// Test harness: starts the real dongmul binary on a free loopback port with
// a temporary data directory, and gives small helpers to talk to it.
//
//   const { start } = require('./lib/dongmul');
//   const srv = await start({ args: ['--no-email-verification'] });
//   const r = await srv.req('GET', '/healthz');   // {status, headers, body, json}
//   const u = await srv.user();                    // a signed-up, logged-in user
//   await srv.stop();                              // SIGTERM, waits, checks exit 0
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');
const http = require('node:http');
const https = require('node:https');

const BIN = process.env.DONGMUL_BIN || path.resolve(__dirname, '../../dongmul');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

// One HTTP(S) request. body: object (sent as JSON), Buffer or string.
// Returns {status, headers, body (string), json (parsed or undefined)}.
function request(base, method, p, { body, headers = {}, token, raw } = {}) {
  const url = new URL(p, base);
  const mod = url.protocol === 'https:' ? https : http;
  const h = { ...headers };
  let data;
  if (body !== undefined) {
    if (Buffer.isBuffer(body) || typeof body === 'string') data = body;
    else { data = JSON.stringify(body); h['content-type'] = h['content-type'] || 'application/json'; }
  }
  if (token) h.authorization = token.startsWith('bearer ') ? token : `bearer ${token}`;
  if (data !== undefined) h['content-length'] = Buffer.byteLength(data);
  return new Promise((resolve, reject) => {
    const rq = mod.request(url, { method, headers: h, rejectUnauthorized: false, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        const text = buf.toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, body: raw ? buf : text, json });
      });
    });
    rq.on('error', reject);
    rq.setTimeout(30000, () => rq.destroy(new Error(`timeout: ${method} ${p}`)));
    if (data !== undefined) rq.write(data);
    rq.end();
  });
}

let userSeq = 0;
const live = new Set();
// a test process that dies must not leave servers behind
process.on('exit', () => { for (const p of live) { try { p.kill('SIGKILL'); } catch { /* gone */ } } });

// Starts dongmul. opts.args: extra flags; opts.https: also serve TLS
// (self-signed, or opts.tlsArgs instead of --tls-self-signed);
// opts.httpsOnly: no plain listener; opts.port / opts.tport: fixed ports;
// opts.data: reuse a data dir; opts.env: extra environment;
// opts.cmd: [program, ...args] that runs the binary (e.g. chroot ROOT
// EMULATOR /dongmul), then opts.dataArg is the --data it is given (the
// path inside the root) while opts.data is where the test finds it;
// opts.startMs: how long to wait for /healthz (default 15 s).
async function start(opts = {}) {
  const port = opts.port || await freePort();
  const tport = opts.https ? (opts.tport || await freePort()) : 0;
  const data = opts.data || fs.mkdtempSync(path.join(os.tmpdir(), 'dongmul-test-'));
  const args = ['serve', '--http', opts.httpsOnly ? '' : `127.0.0.1:${port}`, '--data', opts.dataArg || data];
  if (opts.https) args.push('--https', `127.0.0.1:${tport}`, ...(opts.tlsArgs || ['--tls-self-signed']));
  // fast hashing and no mail round trip unless a test asks otherwise (a
  // later flag wins: e.g. '--no-email-verification=0')
  if (opts.defaults !== false) args.push('--pbkdf2-iterations', '1000', '--no-email-verification');
  args.push(...(opts.args || []));
  const logFile = path.join(data, 'test-server.log');
  const log = fs.openSync(logFile, 'a');
  const cmd = opts.cmd || [opts.bin || BIN];
  const proc = spawn(cmd[0], [...cmd.slice(1), ...args], {
    stdio: ['ignore', log, log],
    env: { ...process.env, ...(opts.env || {}) },
  });
  fs.closeSync(log);
  live.add(proc);
  let exited = null;
  const exitP = new Promise((resolve) => proc.on('exit', (code, sig) => { exited = { code, sig }; live.delete(proc); resolve(exited); }));
  const url = `http://127.0.0.1:${port}`;
  const surl = opts.https ? `https://127.0.0.1:${tport}` : null;
  const t0 = Date.now();
  for (;;) {
    if (exited) throw new Error(`dongmul exited early (${JSON.stringify(exited)}):\n${fs.readFileSync(logFile, 'utf8')}`);
    try {
      const r = await request(opts.httpsOnly ? surl : url, 'GET', '/healthz');
      if (r.status === 200) break;
    } catch { /* not up yet */ }
    if (Date.now() - t0 > (opts.startMs || 15000)) {
      proc.kill('SIGKILL');
      throw new Error(`dongmul did not answer /healthz in ${(opts.startMs || 15000) / 1000} s`);
    }
    await sleep(25);
  }
  const srv = {
    url, surl, port, tport, data, proc, logFile, args,
    req: (method, p, o) => request(url, method, p, o),
    sreq: (method, p, o) => request(surl, method, p, o),
    log: () => fs.readFileSync(logFile, 'utf8'),
    exited: () => exited,
    // SIGTERM; resolves with {code, sig, ms}
    async stop() {
      if (exited) return exited;
      const t = Date.now();
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10000);
      const e = await exitP;
      clearTimeout(timer);
      return { ...e, ms: Date.now() - t };
    },
    async kill() { if (!exited) { proc.kill('SIGKILL'); await exitP; } },
    // Signs up (needs --no-email-verification) and logs in a fresh user.
    // Returns {email, password, nickname, userId, token, refreshToken, login}.
    async user(o = {}) {
      userSeq += 1;
      const email = o.email || `u${process.pid}x${userSeq}@example.com`;
      const password = o.password || 'passw0rd!';
      const nickname = o.nickname || `이웃${userSeq}`;
      const su = await request(url, 'POST', '/account', { body: { email, nickname, password } });
      if (su.status !== 200 && su.status !== 201) throw new Error(`sign-up failed: ${su.status} ${su.body}`);
      const li = await request(url, 'POST', '/account/login', { body: { email, password } });
      if (li.status !== 200) throw new Error(`login failed: ${li.status} ${li.body}`);
      const u = { email, password, nickname, userId: li.json.userId, token: li.json.token, refreshToken: li.json.refreshToken, login: li.json };
      if (o.address) {
        const a = await request(url, 'POST', '/myPage/address', { body: { new_address: o.address }, token: u.token });
        if (a.status !== 200) throw new Error(`address failed: ${a.status} ${a.body}`);
        u.address = a.json.address;
      }
      return u;
    },
  };
  return srv;
}

module.exports = { start, request, freePort, sleep, BIN };
