/*
 * mail.c — the outbox and SMTP delivery (see mail.h).
 *
 * Delivery runs on a pool worker from a timer (never two runs at once, so
 * no message is sent twice by us). A run reads the due rows on its reader,
 * sends them over one SMTP session, then records every result in one write
 * job: sent, retry later (tries+1, next try after a backoff), or given up
 * (a permanent 5xx refusal, or still failing two days later).
 *
 * Thread-safety: the parsed --smtp settings are written once by mail_init
 * before any thread starts and read-only afterwards.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/base64.h>

#include "config.h"
#include "db.h"
#include "dm.h"
#include "jobs.h"
#include "mail.h"
#include "net.h"

#define BATCH 20
#define SMTP_TIMEOUT_MS 10000
#define GIVE_UP_MS (2LL * 86400 * 1000)
#define NEVER 9000000000000000LL /* nextTryDt of a message given up on */

static struct {
	int on;               /* --smtp given */
	int tls;              /* smtps:// */
	char host[256];
	int port;
	char user[256], pass[256];
	char from_addr[256];  /* envelope sender */
	char helo[256];
} smtp;

/* ---------------------------------------------------------- encoding */

/* Standard base64 of n bytes, lines of at most 76 characters ending in
 * CR LF, appended to out (cap). DM_OK or DM_ETOOBIG. */
static int b64_lines(const unsigned char *in, size_t n, char *out, size_t cap)
{
	size_t len = strlen(out);
	for (size_t i = 0; i < n; i += 57) {
		size_t chunk = n - i > 57 ? 57 : n - i, olen = 0;
		if (mbedtls_base64_encode((unsigned char *)out + len, cap - len, &olen, in + i, chunk) != 0 ||
		    len + olen + 3 > cap)
			return DM_ETOOBIG;
		len += olen;
		memcpy(out + len, "\r\n", 3);
		len += 2;
	}
	return DM_OK;
}

static int plain_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

int mail_encode_header(const char *s, char *out, size_t cap)
{
	size_t n = strlen(s), i = 0, len = 0;

	if (plain_ascii(s) && !strstr(s, "=?"))
		return dm_strlcpy(out, s, cap);
	out[0] = 0;
	while (i < n) {
		/* at most 39 bytes (52 base64 characters: a word of 64, so
		 * "Subject: " and the first word stay within 76), cut before a
		 * UTF-8 continuation byte */
		size_t take = n - i > 39 ? 39 : n - i, olen = 0;
		while (take > 0 && i + take < n && ((unsigned char)s[i + take] & 0xC0) == 0x80)
			take--;
		if (take == 0)
			return DM_ETOOBIG;
		if (len + 80 > cap)
			return DM_ETOOBIG;
		if (len) {
			memcpy(out + len, "\r\n ", 3);
			len += 3;
		}
		memcpy(out + len, "=?UTF-8?B?", 10);
		len += 10;
		if (mbedtls_base64_encode((unsigned char *)out + len, cap - len, &olen, (const unsigned char *)s + i,
					  take) != 0)
			return DM_ETOOBIG;
		len += olen;
		memcpy(out + len, "?=", 3);
		len += 2;
		i += take;
	}
	return DM_OK;
}

/* Splits "Name <addr>" (or a bare "addr") into its parts. */
static void split_from(const char *from, char *name, size_t ncap, char *addr, size_t acap)
{
	const char *lt = strchr(from, '<'), *gt = lt ? strchr(lt, '>') : NULL;
	name[0] = 0;
	if (!lt || !gt) {
		dm_strlcpy(addr, from, acap);
		return;
	}
	snprintf(addr, acap, "%.*s", (int)(gt - lt - 1), lt + 1);
	size_t nl = (size_t)(lt - from);
	while (nl && from[nl - 1] == ' ')
		nl--;
	snprintf(name, ncap, "%.*s", (int)nl, from);
}

char *mail_build(const char *from, const char *to, const char *subject, const char *text, const char *html)
{
	char name[256], addr[256], ename[1024], esubj[4096], date[64], bnd[40], mid[40];
	unsigned char rnd[16];
	size_t cap = strlen(text) * 2 + strlen(html) * 2 + strlen(to) + 8192;
	char *out = malloc(cap);
	time_t now = time(NULL);
	struct tm tm;

	if (!out)
		return NULL;
	split_from(from, name, sizeof name, addr, sizeof addr);
	if (mail_encode_header(subject, esubj, sizeof esubj) != DM_OK || dm_random(rnd, sizeof rnd) != DM_OK)
		goto fail;
	ename[0] = 0;
	if (name[0] && mail_encode_header(name, ename, sizeof ename) != DM_OK)
		goto fail;
	dm_hex(rnd, 8, bnd);
	dm_hex(rnd + 8, 8, mid);
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	snprintf(out, cap,
		 "From: %s%s<%s>\r\n"
		 "To: <%s>\r\n"
		 "Subject: %s\r\n"
		 "Date: %s\r\n"
		 "Message-ID: <%s@%s>\r\n"
		 "MIME-Version: 1.0\r\n"
		 "Content-Type: multipart/alternative; boundary=\"=_dm_%s\"\r\n"
		 "\r\n"
		 "This is a multi-part message in MIME format.\r\n"
		 "--=_dm_%s\r\n"
		 "Content-Type: text/plain; charset=UTF-8\r\n"
		 "Content-Transfer-Encoding: base64\r\n\r\n",
		 ename, ename[0] ? " " : "", addr, to, esubj, date, mid,
		 strchr(addr, '@') ? strchr(addr, '@') + 1 : "localhost", bnd, bnd);
	if (b64_lines((const unsigned char *)text, strlen(text), out, cap) != DM_OK)
		goto fail;
	{
		size_t l = strlen(out);
		snprintf(out + l, cap - l,
			 "--=_dm_%s\r\n"
			 "Content-Type: text/html; charset=UTF-8\r\n"
			 "Content-Transfer-Encoding: base64\r\n\r\n",
			 bnd);
	}
	if (b64_lines((const unsigned char *)html, strlen(html), out, cap) != DM_OK)
		goto fail;
	{
		size_t l = strlen(out);
		snprintf(out + l, cap - l, "--=_dm_%s--\r\n", bnd);
	}
	return out;
fail:
	free(out);
	return NULL;
}

/* -------------------------------------------------------------- outbox */

/* An address we are willing to put in a header and an RCPT command. */
static int addr_ok(const char *a)
{
	const char *at = strchr(a, '@');
	if (!at || at == a || !at[1] || strlen(a) > 254)
		return 0;
	for (; *a; a++)
		if ((unsigned char)*a <= ' ' || *a == 0x7f || *a == '<' || *a == '>' || *a == '"' || *a == ',' ||
		    *a == ';' || *a == '\\')
			return 0;
	return 1;
}

int mail_queue(sqlite3 *w, const char *to, const char *subject, const char *text, const char *html)
{
	if (!to || !addr_ok(to) || !subject || !text || !html)
		return DM_EINVAL;
	return db_run(w, "INSERT INTO outbox(toAddr, subject, textBody, htmlBody, nextTryDt, createdDt) "
			 "VALUES (?1, ?2, ?3, ?4, dm_now(), dm_now())",
		      DB_TEXT(to), DB_TEXT(subject), DB_TEXT(text), DB_TEXT(html)) == DM_OK
		       ? DM_OK
		       : DM_ERR;
}

enum { R_SENT, R_RETRY, R_GIVEUP };

typedef struct msg {
	int64_t id, created;
	int tries;
	char *to, *subject, *text, *html;
	int result;
	char err[200];
} msg_t;

typedef struct run {
	msg_t m[BATCH];
	int n;
} run_t;

/* Next try after tries failures: 1 s, 2 s, 4 s … at most 5 minutes. */
static int64_t backoff_ms(int tries)
{
	int64_t d = 1000;
	for (int i = 0; i < tries && d < 300000; i++)
		d *= 2;
	return d > 300000 ? 300000 : d;
}

/* Write job: records every result of a run. */
static int record_write(sqlite3 *w, void *arg)
{
	static const char sql[] = "UPDATE outbox SET tries = tries + ?2, sentDt = ?3, nextTryDt = ?4, lastError = ?5 "
				  "WHERE outboxId = ?1";
	run_t *r = arg;
	int64_t now = dm_now_ms();
	int rc = DM_OK;

	dm_assert(r->n >= 0 && r->n <= BATCH);
	for (int i = 0; i < r->n && rc == DM_OK; i++) {
		msg_t *m = &r->m[i];
		int giveup = m->result == R_GIVEUP || now - m->created > GIVE_UP_MS;
		if (m->result == R_SENT) {
			rc = db_run(w, sql, DB_INT(m->id), DB_INT(0), DB_INT(now), DB_INT(now), DB_NULL);
			continue;
		}
		if (giveup)
			dm_error("mail %lld to %s: giving up: %s", (long long)m->id, m->to, m->err);
		else
			dm_warn("mail %lld to %s: will retry: %s", (long long)m->id, m->to, m->err);
		rc = db_run(w, sql, DB_INT(m->id), DB_INT(1), DB_NULL, DB_INT(giveup ? NEVER : now + backoff_ms(m->tries)),
			    DB_TEXT(m->err));
	}
	return rc == DM_OK ? DM_OK : DM_ERR;
}

/* ---------------------------------------------------------------- SMTP */

typedef struct smtp_sess {
	net_conn_t *c;
	int starttls, auth_plain, auth_login, auth_any;
	char last[512];   /* last reply line, for errors */
} smtp_sess_t;

/* Reads one (possibly multi-line) reply; notes EHLO capabilities. Returns
 * the code, or -1 on a network error. */
static int reply(smtp_sess_t *s)
{
	char line[1024];
	int code = -1;
	for (;;) {
		long n = net_read_line(s->c, line, sizeof line);
		if (n < 4)
			return -1;
		code = atoi(line);
		dm_strlcpy(s->last, line, sizeof s->last);
		const char *kw = line + 4;
		if (!strncasecmp(kw, "STARTTLS", 8))
			s->starttls = 1;
		else if (!strncasecmp(kw, "AUTH", 4) && (kw[4] == ' ' || kw[4] == '=')) {
			s->auth_any = 1;
			if (strcasestr(kw, " PLAIN") || strcasestr(kw, "=PLAIN"))
				s->auth_plain = 1;
			if (strcasestr(kw, " LOGIN") || strcasestr(kw, "=LOGIN"))
				s->auth_login = 1;
		}
		if (line[3] == ' ' || line[3] == 0)
			return code;
		if (line[3] != '-')
			return -1;
	}
}

/* Sends a command line and reads the reply code (-1 on network error). */
static int cmd(smtp_sess_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cmd(smtp_sess_t *s, const char *fmt, ...)
{
	char line[1200];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof line - 2)
		return -1;
	memcpy(line + n, "\r\n", 3);
	if (net_write_all(s->c, line, (size_t)n + 2) != DM_OK)
		return -1;
	return reply(s);
}

static int b64(const char *in, size_t n, char *out, size_t cap)
{
	size_t olen;
	return mbedtls_base64_encode((unsigned char *)out, cap, &olen, (const unsigned char *)in, n) == 0 ? DM_OK
													   : DM_ERR;
}

static int is_loopback(const char *host)
{
	return !strcmp(host, "localhost") || !strncmp(host, "127.", 4) || !strcmp(host, "::1");
}

/* Connects, greets, upgrades to TLS and authenticates. DM_OK or
 * DM_EUNAVAIL with err set. */
static int smtp_open(smtp_sess_t *s, char *err, size_t ecap)
{
	memset(s, 0, sizeof *s);
	if (net_connect(smtp.host, smtp.port, smtp.tls, SMTP_TIMEOUT_MS, &s->c, err, ecap) != DM_OK)
		return DM_EUNAVAIL;
	if (reply(s) != 220)
		goto proto;
	if (cmd(s, "EHLO %s", smtp.helo) != 250)
		goto proto;
	if (!smtp.tls && s->starttls) {
		if (cmd(s, "STARTTLS") != 220)
			goto proto;
		if (net_starttls(s->c, err, ecap) != DM_OK)
			return DM_EUNAVAIL;
		s->starttls = s->auth_any = s->auth_plain = s->auth_login = 0;
		if (cmd(s, "EHLO %s", smtp.helo) != 250)
			goto proto;
	}
	if (smtp.user[0]) {
		char buf[800], enc[1200];
		int n;
		if (!net_is_tls(s->c) && !is_loopback(smtp.host)) {
			dm_snprintf(err, ecap, "%s offers no TLS: not sending the password in the clear", smtp.host);
			return DM_EUNAVAIL;
		}
		if (s->auth_plain || !s->auth_login) {
			n = snprintf(buf, sizeof buf, "%c%s%c%s", 0, smtp.user, 0, smtp.pass);
			if (n < 0 || (size_t)n >= sizeof buf || b64(buf, (size_t)n, enc, sizeof enc) != DM_OK)
				goto proto;
			if (cmd(s, "AUTH PLAIN %s", enc) != 235)
				goto auth;
		} else {
			if (cmd(s, "AUTH LOGIN") != 334 || b64(smtp.user, strlen(smtp.user), enc, sizeof enc) != DM_OK ||
			    cmd(s, "%s", enc) != 334 || b64(smtp.pass, strlen(smtp.pass), enc, sizeof enc) != DM_OK ||
			    cmd(s, "%s", enc) != 235)
				goto auth;
		}
	}
	return DM_OK;
auth:
	dm_snprintf(err, ecap, "SMTP authentication refused: %s", s->last);
	return DM_EUNAVAIL;
proto:
	dm_snprintf(err, ecap, "SMTP: %s", s->last[0] ? s->last : "connection lost");
	return DM_EUNAVAIL;
}

/* Sends the message with dot-stuffing and the final ".". DM_OK/DM_EUNAVAIL. */
static int send_data(smtp_sess_t *s, const char *msg)
{
	const char *p = msg;
	while (*p) {
		const char *e = strstr(p, "\r\n");
		size_t n = e ? (size_t)(e - p) + 2 : strlen(p);
		if (*p == '.' && net_write_all(s->c, ".", 1) != DM_OK)
			return DM_EUNAVAIL;
		if (net_write_all(s->c, p, n) != DM_OK)
			return DM_EUNAVAIL;
		p += n;
	}
	return net_write_all(s->c, ".\r\n", 3);
}

/* Sends one message in an open session; sets m->result. Returns DM_OK, or
 * DM_EUNAVAIL when the session is lost (the caller stops). */
static int send_one(smtp_sess_t *s, msg_t *m)
{
	char *text = mail_build(cfg.mail_from, m->to, m->subject, m->text, m->html);
	int code, rc = DM_OK;

	m->result = R_RETRY;
	if (!text) {
		snprintf(m->err, sizeof m->err, "cannot build the message");
		return DM_OK;
	}
	code = cmd(s, "MAIL FROM:<%s>", smtp.from_addr);
	if (code == 250) {
		code = cmd(s, "RCPT TO:<%s>", m->to);
		if (code == 250 || code == 251) {
			code = cmd(s, "DATA");
			if (code == 354) {
				code = send_data(s, text) == DM_OK ? reply(s) : -1;
			}
		}
	}
	if (code == 250)
		m->result = R_SENT;
	else if (code < 0) {
		snprintf(m->err, sizeof m->err, "connection lost");
		rc = DM_EUNAVAIL;
	} else {
		dm_strlcpy(m->err, s->last, sizeof m->err);
		if (code >= 500)
			m->result = R_GIVEUP;
		if (cmd(s, "RSET") != 250)
			rc = DM_EUNAVAIL;
	}
	free(text);
	return rc;
}

/* Replaces line breaks so one mail is one log line. */
static void one_line(const char *in, char *out, size_t cap)
{
	size_t o = 0;
	for (; *in && o + 4 < cap; in++) {
		if (*in == '\r')
			continue;
		if (*in == '\n') {
			memcpy(out + o, " / ", 3);
			o += 3;
		} else
			out[o++] = *in;
	}
	out[o] = 0;
}

static void deliver(run_t *r)
{
	smtp_sess_t s;
	char err[256] = "";
	int i = 0;

	if (!smtp.on) {
		for (; i < r->n; i++) {
			char body[2048];
			one_line(r->m[i].text, body, sizeof body);
			dm_info("mail (no --smtp; not sent) to %s: %s: %s", r->m[i].to, r->m[i].subject, body);
			r->m[i].result = R_SENT;
		}
		return;
	}
	if (smtp_open(&s, err, sizeof err) == DM_OK) {
		for (; i < r->n && !dm_stopping; i++)
			if (send_one(&s, &r->m[i]) != DM_OK) {
				i++;
				break;
			}
		if (i == r->n)
			cmd(&s, "QUIT");
	}
	net_close(s.c);
	for (; i < r->n; i++) {
		r->m[i].result = R_RETRY;
		dm_strlcpy(r->m[i].err, err[0] ? err : "not attempted", sizeof r->m[i].err);
	}
}

static char *dup_col(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	return strdup(t ? t : "");
}

/* The timer task: delivers what is due. */
static void deliver_due(void *unused)
{
	sqlite3 *db = db_reader();
	sqlite3_stmt *st;
	run_t *r;

	(void)unused;
	if (!db || dm_stopping)
		return;
	r = calloc(1, sizeof *r);
	if (!r)
		return;
	st = db_query(db, "SELECT outboxId, toAddr, subject, textBody, htmlBody, tries, createdDt FROM outbox "
			  "WHERE sentDt IS NULL AND nextTryDt <= dm_now() ORDER BY nextTryDt, outboxId LIMIT ?1",
		      DB_INT(BATCH));
	if (!st)
		goto done;
	while (r->n < BATCH && sqlite3_step(st) == SQLITE_ROW) {
		msg_t *m = &r->m[r->n++];
		m->id = sqlite3_column_int64(st, 0);
		m->to = dup_col(st, 1);
		m->subject = dup_col(st, 2);
		m->text = dup_col(st, 3);
		m->html = dup_col(st, 4);
		m->tries = sqlite3_column_int(st, 5);
		m->created = sqlite3_column_int64(st, 6);
		if (!m->to || !m->subject || !m->text || !m->html) {
			r->n--;
			free(m->to);
			free(m->subject);
			free(m->text);
			free(m->html);
			break;
		}
	}
	db_done(st);
	if (r->n == 0)
		goto done;
	deliver(r);
	if (jobs_write(record_write, r) != DM_OK)
		dm_error("mail: cannot record delivery results (they will be sent again)");
done:
	for (int i = 0; i < r->n; i++) {
		free(r->m[i].to);
		free(r->m[i].subject);
		free(r->m[i].text);
		free(r->m[i].html);
	}
	free(r);
}

/* Percent-decodes s[0..n) into out. DM_OK or DM_EINVAL. */
static int pct_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '%' && i + 2 < n) {
			char hx[3] = {s[i + 1], s[i + 2], 0};
			char *end;
			c = (int)strtol(hx, &end, 16);
			if (*end)
				return DM_EINVAL;
			i += 2;
		} else if (c == '%')
			return DM_EINVAL;
		if (o + 1 >= cap || c == 0)
			return DM_EINVAL;
		out[o++] = (char)c;
	}
	out[o] = 0;
	return DM_OK;
}

/* Parses cfg.smtp into smtp. DM_OK or DM_EINVAL. */
static int parse_smtp(void)
{
	const char *p = cfg.smtp, *at, *hostp, *end;
	char hostport[300];

	smtp.tls = !strncmp(p, "smtps://", 8);
	p += smtp.tls ? 8 : 7;
	end = p + strcspn(p, "/?#");
	at = NULL;
	for (const char *q = p; q < end; q++)
		if (*q == '@')
			at = q;
	hostp = p;
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		if (!colon || pct_decode(p, (size_t)(colon - p), smtp.user, sizeof smtp.user) != DM_OK ||
		    pct_decode(colon + 1, (size_t)(at - colon - 1), smtp.pass, sizeof smtp.pass) != DM_OK ||
		    !smtp.user[0])
			return DM_EINVAL;
		hostp = at + 1;
	}
	if ((size_t)(end - hostp) >= sizeof hostport)
		return DM_EINVAL;
	snprintf(hostport, sizeof hostport, "%.*s", (int)(end - hostp), hostp);
	{
		char url[400], path[2048];
		int tls;
		snprintf(url, sizeof url, "http://%s/", hostport);
		smtp.port = 0;
		if (net_parse_url(url, &tls, smtp.host, &smtp.port, path) != DM_OK)
			return DM_EINVAL;
		if (!strchr(hostport + (hostport[0] == '[' ? strcspn(hostport, "]") : 0), ':'))
			smtp.port = smtp.tls ? 465 : 25;
	}
	return DM_OK;
}

int mail_init(void)
{
	char name[256];
	memset(&smtp, 0, sizeof smtp);
	split_from(cfg.mail_from, name, sizeof name, smtp.from_addr, sizeof smtp.from_addr);
	if (!addr_ok(smtp.from_addr)) {
		dm_error("--mail-from: '%s' has no usable address", cfg.mail_from);
		return DM_ERR;
	}
	dm_strlcpy(smtp.helo, strchr(smtp.from_addr, '@') + 1, sizeof smtp.helo);
	if (cfg.smtp[0]) {
		if (parse_smtp() != DM_OK) {
			dm_error("--smtp: cannot parse '%s' (smtp://[user:pass@]host:port or smtps://...)", cfg.smtp);
			return DM_ERR;
		}
		smtp.on = 1;
		dm_info("mail: delivering by SMTP to %s:%d (%s%s)", smtp.host, smtp.port,
			smtp.tls ? "TLS" : "STARTTLS when offered", smtp.user[0] ? ", with authentication" : "");
	} else
		dm_info("mail: no --smtp configured: mail is written to this log instead of being sent");
	return jobs_timer("mail", 1000, deliver_due, NULL);
}

void mail_stop(void)
{
	memset(smtp.pass, 0, sizeof smtp.pass);
	net_shutdown();
}
