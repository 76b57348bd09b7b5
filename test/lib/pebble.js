// Debian's pebble, a real ACME server (Let's Encrypt's test server), started
// on loopback for one test: its own config in a temporary directory, its
// HTTPS listener on a certificate from a throwaway CA (dongmul trusts that
// CA through --ca-bundle), and its validation authority pointed at
// dongmul's ports: pebble really connects to dongmul's HTTP-01 responder
// (httpPort) or TLS-ALPN-01 responder (tlsPort) for the name "localhost".
//
//   const pb = await startPebble({ httpPort, tlsPort, validity: 30 });
//   pb.directory   // https://localhost:PORT/dir
//   pb.caFile      // trust for pebble's own TLS (give dongmul --ca-bundle)
//   await pb.root() // PEM of the root that signs issued chains (/roots/0)
//   await pb.stop()
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const https = require('node:https');
const { makeCA } = require('./testca');
const { freePort, sleep } = require('./dongmul');

function pebbleBin() {
  for (const p of [process.env.PEBBLE_BIN, '/usr/bin/pebble']) if (p && fs.existsSync(p)) return p;
  try { return execFileSync('sh', ['-c', 'command -v pebble'], { encoding: 'utf8' }).trim(); } catch { return null; }
}

function get(url, ca) {
  return new Promise((resolve, reject) => {
    const rq = https.get(url, { ca, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
    });
    rq.on('error', reject);
    rq.setTimeout(10000, () => rq.destroy(new Error(`timeout: ${url}`)));
  });
}

// opts: httpPort, tlsPort (where pebble validates), validity (seconds of
// issued certificates; pebble's default is five years), port / mgmtPort
// (reuse an address, e.g. to restart "the same" server), ca (reuse a CA).
async function startPebble(opts = {}) {
  const bin = pebbleBin();
  if (!bin) throw new Error('pebble not installed (vendor/deps.sh installs it)');
  const ca = opts.ca || makeCA('pebble listener');
  const port = opts.port || await freePort();
  const mgmtPort = opts.mgmtPort || await freePort();
  const dir = fs.mkdtempSync(path.join(ca.dir, 'pebble-'));
  const conf = {
    pebble: {
      listenAddress: `127.0.0.1:${port}`,
      managementListenAddress: `127.0.0.1:${mgmtPort}`,
      certificate: path.join(ca.dir, 'srv.crt'),
      privateKey: path.join(ca.dir, 'srv.key'),
      httpPort: opts.httpPort || 1,
      tlsPort: opts.tlsPort || 1,
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
    },
  };
  if (opts.validity) conf.pebble.certificateValidityPeriod = opts.validity;
  fs.writeFileSync(path.join(dir, 'pebble.json'), JSON.stringify(conf));
  const logFile = path.join(dir, 'pebble.log');
  const log = fs.openSync(logFile, 'a');
  const proc = spawn(bin, ['-config', path.join(dir, 'pebble.json')], {
    stdio: ['ignore', log, log],
    // no artificial validation delays; validate every order afresh (no
    // authorization reuse) so each issuance really reaches dongmul
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_AUTHZREUSE: '0', ...(opts.env || {}) },
  });
  fs.closeSync(log);
  let exited = null;
  const exitP = new Promise((resolve) => proc.on('exit', (code, sig) => { exited = { code, sig }; resolve(exited); }));
  process.on('exit', () => { if (!exited) proc.kill('SIGKILL'); });
  const directory = `https://localhost:${port}/dir`;
  const t0 = Date.now();
  for (;;) {
    if (exited) throw new Error(`pebble exited: ${fs.readFileSync(logFile, 'utf8')}`);
    try {
      const r = await get(directory, ca.ca);
      if (r.status === 200) break;
    } catch { /* not up yet */ }
    if (Date.now() - t0 > 20000) { proc.kill('SIGKILL'); throw new Error('pebble did not start in 20 s'); }
    await sleep(50);
  }
  return {
    directory, port, mgmtPort, ca, caFile: ca.caFile, logFile,
    log: () => fs.readFileSync(logFile, 'utf8'),
    async root() {
      const r = await get(`https://localhost:${mgmtPort}/roots/0`, ca.ca);
      if (r.status !== 200) throw new Error(`pebble /roots/0: ${r.status}`);
      return r.body;
    },
    async stop() {
      if (!exited) { proc.kill('SIGTERM'); await exitP; }
    },
  };
}

module.exports = { startPebble, pebbleBin };
