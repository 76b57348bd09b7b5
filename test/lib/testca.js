// A throwaway certificate authority for tests that talk TLS to local
// servers (SMTP, OpenID provider): a CA and a server certificate for
// localhost / 127.0.0.1 signed by it, made with the openssl command line in
// a temporary directory. dongmul trusts the CA through --ca-bundle.
//
//   const ca = makeCA();          // {dir, caFile, ca, key, cert}
//   const rogue = makeCA('rogue'); // a second, untrusted authority
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function openssl(args, cwd) {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCA(name = 'dongmul test') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dongmul-ca-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', `/CN=${name} CA`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  openssl(['req', ...ec, '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=localhost'], dir);
  fs.writeFileSync(path.join(dir, 'ext.cnf'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' +
    'keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n');
  openssl(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'srv.crt', '-days', '2', '-extfile', 'ext.cnf'], dir);
  return {
    dir,
    caFile: path.join(dir, 'ca.crt'),
    ca: fs.readFileSync(path.join(dir, 'ca.crt')),
    key: fs.readFileSync(path.join(dir, 'srv.key')),
    cert: fs.readFileSync(path.join(dir, 'srv.crt')),
    cleanup() { fs.rmSync(dir, { recursive: true, force: true }); },
  };
}

module.exports = { makeCA };
