// A real SMTP server on loopback (smtp-server) that keeps every mail it
// receives, parsed (mailparser), so tests can read the codes dongmul sends.
//
//   const smtp = await startSmtp({ tls: ca, mode: 'starttls', auth: {user, pass} });
//   dongmul flag: `--smtp ${smtp.url}` (and --ca-bundle ca.caFile)
//   const m = await smtp.waitFor((m) => m.to.includes(email));
//   codeOf(m) -> '123456'
//   await smtp.stop(); await smtp.restart();   // an outage and a recovery
//
// mode: 'starttls' (plain, offers STARTTLS: needs tls), 'implicit' (TLS from
// the first byte: smtps://), 'plain' (no TLS at all).
'use strict';
const { SMTPServer } = require('smtp-server');
const { simpleParser } = require('mailparser');

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

async function startSmtp(opts = {}) {
  const mode = opts.mode || (opts.tls ? 'starttls' : 'plain');
  const mails = [];
  const sessions = [];
  let server = null;
  let port = opts.port || 0;

  function make() {
    return new SMTPServer({
      secure: mode === 'implicit',
      key: opts.tls ? opts.tls.key : undefined,
      cert: opts.tls ? opts.tls.cert : undefined,
      hideSTARTTLS: mode === 'plain',
      authOptional: !opts.auth,
      disabledCommands: opts.auth ? [] : ['AUTH'],
      authMethods: opts.authMethods || ['PLAIN', 'LOGIN'],
      logger: false,
      onConnect(session, cb) { sessions.push(session); cb(); },
      onAuth(auth, session, cb) {
        if (opts.auth && auth.username === opts.auth.user && auth.password === opts.auth.pass) {
          cb(null, { user: auth.username, method: auth.method });
        } else cb(new Error('Invalid username or password'));
      },
      onData(stream, session, cb) {
        simpleParser(stream).then((mail) => {
          mails.push({
            from: session.envelope.mailFrom.address,
            to: session.envelope.rcptTo.map((r) => r.address),
            secure: session.secure,
            user: session.user,
            mail,
            text: mail.text || '',
            html: mail.html || '',
            subject: mail.subject || '',
          });
          cb();
        }, cb);
      },
    });
  }

  async function listen() {
    server = make();
    server.on('error', () => { /* a client hanging up mid-session */ });
    await new Promise((resolve, reject) => {
      server.server.once('error', reject);
      server.listen(port, '127.0.0.1', () => { port = server.server.address().port; resolve(); });
    });
  }
  await listen();

  const userinfo = opts.auth ? `${encodeURIComponent(opts.auth.user)}:${encodeURIComponent(opts.auth.pass)}@` : '';
  const api = {
    mails,
    sessions,
    get port() { return port; },
    get url() { return `${mode === 'implicit' ? 'smtps' : 'smtp'}://${userinfo}127.0.0.1:${port}`; },
    // Waits until a mail matching pred arrived (default 15 s).
    async waitFor(pred, ms = 15000) {
      const t0 = Date.now();
      for (;;) {
        const m = mails.find(pred);
        if (m) return m;
        if (Date.now() - t0 > ms) throw new Error('no such mail arrived');
        await sleep(50);
      }
    },
    // Closes the listener (an outage); restart() listens on the same port.
    stop() { return new Promise((resolve) => { if (!server) return resolve(); const s = server; server = null; s.close(() => resolve()); }); },
    restart() { return listen(); },
  };
  return api;
}

// The 6-digit code in a mail's text part.
function codeOf(m) {
  const x = /(\d{6})/.exec(m.text);
  if (!x) throw new Error(`no code in: ${m.text}`);
  return x[1];
}

module.exports = { startSmtp, codeOf };
