/*
 * config.c — flags and DONGMUL_* variables into cfg (see config.h).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dm.h"

cfg_t cfg;

enum { T_STR, T_INT, T_LONG, T_BOOL, T_TZ, T_DUR };

typedef struct opt {
	const char *name;     /* flag without "--"; env is DONGMUL_ + upper(name) */
	int type;
	size_t off;
	size_t size;          /* for T_STR */
	const char *def;
	long min, max;        /* for T_INT / T_LONG */
	const char *help;
} opt_t;

#define S(f) T_STR, offsetof(cfg_t, f), sizeof(((cfg_t *)0)->f)
#define I(f) T_INT, offsetof(cfg_t, f), 0
#define L(f) T_LONG, offsetof(cfg_t, f), 0
#define B(f) T_BOOL, offsetof(cfg_t, f), 0
#define D(f) T_DUR, offsetof(cfg_t, f), 0

static const opt_t opts[] = {
	{"http", S(http), "0.0.0.0:8080", 0, 0, "ADDR[,ADDR...] plain HTTP listeners (host:port or port); empty for none"},
	{"https", S(https), "", 0, 0, "ADDR[,ADDR...] HTTPS listeners (needs --cert/--key, --tls-self-signed or --acme-domain)"},
	{"cert", S(cert), "", 0, 0, "FILE PEM certificate chain for --https"},
	{"key", S(key), "", 0, 0, "FILE PEM private key for --https"},
	{"tls-self-signed", B(tls_self_signed), "0", 0, 0, "generate a key and certificate once, kept in the data dir"},
	{"acme-domain", S(acme_domain), "", 0, 0, "NAME[,NAME...] get and renew a certificate for these names by ACME"},
	{"acme-email", S(acme_email), "", 0, 0, "ADDR contact address of the ACME account"},
	{"acme-directory", S(acme_directory), "https://acme-v02.api.letsencrypt.org/directory", 0, 0,
	 "URL ACME directory (default: Let's Encrypt production)"},
	{"acme-retry", I(acme_retry), "60", 1, 86400, "SECONDS before the first retry of a failed ACME order (doubles)"},
	{"data", S(data), "./dongmul-data", 0, 0, "DIR where the database, photos and keys live"},
	{"threads", I(threads), "0", 0, 10000, "N threads that run requests; 0: max(8, 4 x cores), at most 64 (waiting connections hold none)"},
	{"max-conns-per-ip", I(max_conns_per_ip), "256", 0, 1000000, "N connections one client address may hold at once; 0: no cap"},
	{"cors-origin", S(cors_origin), "", 0, 0, "ORIGIN[,ORIGIN...] allowed browser origins (default: the server's own)"},
	{"tz", T_TZ, offsetof(cfg_t, tz_offset_min), 0, "+09:00", 0, 0, "+HH:MM fixed offset for times shown and read"},
	{"expiry-interval", I(expiry_interval), "60", 1, 86400, "SECONDS between deadline expiry runs"},
	{"max-body", L(max_body), "65536", 1024, 16777216, "BYTES largest JSON request body"},
	{"max-upload", L(max_upload), "10485760", 1024, 104857600, "BYTES largest photo upload"},
	{"max-deadline-days", I(max_deadline_days), "30", 1, 365, "DAYS furthest allowed item deadline"},
	{"quota-messages", I(quota_messages), "120", 1, 1000000, "N chat messages per user per minute"},
	{"quota-posts", I(quota_posts), "30", 1, 1000000, "N item posts per user per hour"},
	{"quota-upload-mb", I(quota_upload_mb), "300", 1, 1000000, "MB of photos a user may upload per hour"},
	{"quota-storage-mb", I(quota_storage_mb), "1024", 1, 10000000, "MB of photos the items of one user may hold"},
	{"log-level", S(log_level), "info", 0, 0, "debug|info|warn|error"},
	{"access-log", B(access_log), "1", 0, 0, "one line per request on stderr (0 to turn off)"},
	{"smtp", S(smtp), "", 0, 0, "URL smtp://[user:pass@]host:port (STARTTLS) or smtps://; empty: mail goes to the log"},
	{"mail-from", S(mail_from), "dongmul <no-reply@localhost>", 0, 0, "ADDR sender of outgoing mail"},
	{"push-hosts", S(push_hosts), PUSH_HOSTS_DEFAULT, 0, 0,
	 "HOST[,*.SUFFIX...] the push services a Web Push subscription may point at (default: the browsers' own)"},
	{"push-subject", S(push_subject), "", 0, 0,
	 "URI contact sent to push services with each Web Push (mailto: or https:); empty: mailto: of --mail-from"},
	{"app-url", S(app_url), "", 0, 0, "URL of the web app (social sign-in redirects there)"},
	{"public-url", S(public_url), "", 0, 0, "URL this server is reached at (OIDC redirect_uri base; photo URLs become absolute)"},
	{"legacy-time", B(legacy_time), "0", 0, 0, "times in replies as the 2021 backend sent them: local wall clock labelled Z"},
	{"ca-bundle", S(ca_bundle), "/etc/ssl/certs/ca-certificates.crt", 0, 0, "FILE CA certificates for outbound TLS"},
	{"no-email-verification", B(no_email_verification), "0", 0, 0, "sign-up without a verified email"},
	{"pbkdf2-iterations", I(pbkdf2_iterations), "210000", 1000, 10000000, "N PBKDF2-HMAC-SHA512 iterations for new hashes"},
	{"hash-wait", I(hash_wait), "8", 1, 120, "SECONDS a login or sign-up may wait for its password hash before 503 BUSY"},
	{"access-ttl", I(access_ttl), "3600", 1, 86400 * 7, "SECONDS access token lifetime"},
	{"refresh-ttl-days", I(refresh_ttl_days), "30", 1, 365, "DAYS refresh token lifetime"},
	{"code-ttl", I(code_ttl), "600", 1, 86400, "SECONDS an emailed sign-up or reset code stays valid"},
	{"rate-login", I(rate_login), "10", 1, 100000, "N failed logins per window per (email, IP) (3N per IP); N code checks per IP and per email"},
	{"rate-mail", I(rate_mail), "5", 1, 100000, "N mail/code requests per window per IP and per email"},
	{"rate-window", I(rate_window), "300", 1, 86400, "SECONDS rate limit window"},
	{"kakao-issuer", S(kakao_issuer), "https://kauth.kakao.com", 0, 0, "URL Kakao OpenID issuer"},
	{"kakao-client-id", S(kakao_client_id), "", 0, 0, "ID Kakao REST API key"},
	{"kakao-client-secret", S(kakao_client_secret), "", 0, 0, "SECRET Kakao client secret"},
	{"kakao-userinfo", S(kakao_userinfo), "", 0, 0, "URL Kakao user-info endpoint (default: from discovery)"},
	{"kakao-app-id", S(kakao_app_id), "", 0, 0, "N Kakao numeric app id; without it POST /account/kakaoAuth takes idTokens only"},
	{"kakao-tokeninfo", S(kakao_tokeninfo), "https://kapi.kakao.com/v1/user/access_token_info", 0, 0,
	 "URL Kakao token-info endpoint (which app an accessToken was issued to)"},
	{"google-issuer", S(google_issuer), "https://accounts.google.com", 0, 0, "URL Google OpenID issuer"},
	{"google-client-id", S(google_client_id), "", 0, 0, "ID Google OAuth client id"},
	{"google-client-secret", S(google_client_secret), "", 0, 0, "SECRET Google OAuth client secret"},
	{"report-threshold", I(report_threshold), "3", 1, 1000, "N distinct reporters in 30 days past which a user is suspended"},
	{"suspend-days", I(suspend_days), "7", 1, 3650, "DAYS a report suspension lasts"},
	{"report-min-age", I(report_min_age), "3", 0, 3650, "DAYS a reporter's account must have existed for its reports to count"},
	{"sio-ping-interval", I(sio_ping_interval), "25000", 100, 600000, "MS Engine.IO ping interval"},
	{"sio-ping-timeout", I(sio_ping_timeout), "20000", 100, 600000, "MS Engine.IO ping timeout"},
	{"sio-max-payload", I(sio_max_payload), "1000000", 1024, 100000000, "BYTES largest Engine.IO payload"},
	{"sio-queue-max", I(sio_queue_max), "1024", 8, 1000000, "N frames queued per chat connection before it is dropped"},
	{"backup-dir", S(backup_dir), "", 0, 0, "DIR take scheduled online backups into DIR/dongmul-<UTC time> (empty: none)"},
	{"backup-every", D(backup_every), "24h", 1, 30 * 86400, "DURATION between scheduled backups (90s, 15m, 6h, 1d)"},
	{"backup-keep", I(backup_keep), "7", 1, 10000, "N newest scheduled backups kept; older ones are removed"},
	{"wal-autocheckpoint", I(wal_autocheckpoint), "1000", 0, 1000000, "PAGES of WAL after which a commit checkpoints (PASSIVE); 0: leave it to Litestream"},
	{"sio-max-sessions", I(sio_max_sessions), "50000", 1, 10000000, "N Engine.IO sessions open at once, in all"},
	{"sio-max-per-ip", I(sio_max_per_ip), "2048", 1, 10000000, "N Engine.IO sessions open at once from one address"},
	{"sio-max-per-user", I(sio_max_per_user), "64", 1, 10000000, "N Engine.IO sessions one signed-in user may hold"},
	{"sio-connect-timeout", I(sio_connect_timeout), "30000", 100, 3600000, "MS for a new session to connect to the chat namespace and sign in"},
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

int cfg_parse_tz(const char *s, int *minutes)
{
	if (!s || !*s)
		return DM_EINVAL;
	if (strcmp(s, "Z") == 0 || strcmp(s, "UTC") == 0) {
		*minutes = 0;
		return DM_OK;
	}
	if ((s[0] != '+' && s[0] != '-') || !isdigit((unsigned char)s[1]) ||
	    !isdigit((unsigned char)s[2]))
		return DM_EINVAL;
	int h = (s[1] - '0') * 10 + (s[2] - '0'), m = 0;
	const char *p = s + 3;
	if (*p == ':')
		p++;
	if (*p) {
		if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]) || p[2])
			return DM_EINVAL;
		m = (p[0] - '0') * 10 + (p[1] - '0');
	}
	if (h > 14 || m > 59)
		return DM_EINVAL;
	*minutes = (s[0] == '-' ? -1 : 1) * (h * 60 + m);
	return DM_OK;
}

/* Sets one option from text. Returns DM_OK or DM_EINVAL with err filled. */
static int set_opt(const opt_t *o, const char *val, char *err, size_t errlen)
{
	char *base = (char *)&cfg;
	char *end;
	long v;

	switch (o->type) {
	case T_STR:
		if (dm_strlcpy(base + o->off, val, o->size) != DM_OK) {
			snprintf(err, errlen, "--%s: value too long (at most %zu bytes)", o->name, o->size - 1);
			return DM_EINVAL;
		}
		return DM_OK;
	case T_BOOL:
		if (!strcmp(val, "1") || !strcmp(val, "true") || !strcmp(val, "yes") || !strcmp(val, "on"))
			*(int *)(base + o->off) = 1;
		else if (!strcmp(val, "0") || !strcmp(val, "false") || !strcmp(val, "no") || !strcmp(val, "off"))
			*(int *)(base + o->off) = 0;
		else {
			snprintf(err, errlen, "--%s: expected 1/0, true/false, yes/no or on/off, got '%s'", o->name, val);
			return DM_EINVAL;
		}
		return DM_OK;
	case T_TZ:
		if (cfg_parse_tz(val, (int *)(base + o->off)) != DM_OK) {
			snprintf(err, errlen, "--%s: expected an offset like +09:00, got '%s'", o->name, val);
			return DM_EINVAL;
		}
		return DM_OK;
	case T_DUR:
		errno = 0;
		v = strtol(val, &end, 10);
		if (!errno && end != val && v >= 0) {
			static const struct {
				char unit;
				long secs;
			} units[] = {{0, 1}, {'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
			long mul = 0;
			for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
				if (*end == units[i].unit && (!*end || !end[1]))
					mul = units[i].secs;
			if (mul && v <= o->max / mul && v * mul >= o->min) {
				*(int *)(base + o->off) = (int)(v * mul);
				return DM_OK;
			}
		}
		snprintf(err, errlen, "--%s: expected a duration like 90s, 15m, 6h or 1d (from %lds to %ldd), got '%s'",
			 o->name, o->min, o->max / 86400, val);
		return DM_EINVAL;
	case T_INT:
	case T_LONG:
		errno = 0;
		v = strtol(val, &end, 10);
		if (errno || end == val || *end || v < o->min || v > o->max) {
			snprintf(err, errlen, "--%s: expected a whole number from %ld to %ld, got '%s'", o->name,
				 o->min, o->max, val);
			return DM_EINVAL;
		}
		if (o->type == T_INT)
			*(int *)(base + o->off) = (int)v;
		else
			*(long *)(base + o->off) = v;
		return DM_OK;
	}
	return DM_EINVAL;
}

static int is_bool_word(const char *v)
{
	static const char *w[] = {"0", "1", "true", "false", "yes", "no", "on", "off"};
	for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
		if (!strcmp(v, w[i]))
			return 1;
	return 0;
}

static void env_name(const opt_t *o, char *buf, size_t cap)
{
	size_t n = (size_t)snprintf(buf, cap, "DONGMUL_");
	for (const char *p = o->name; *p && n + 1 < cap; p++)
		buf[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
	buf[n] = 0;
}

void cfg_defaults(void)
{
	char err[256];
	memset(&cfg, 0, sizeof cfg);
	for (size_t i = 0; i < NOPTS; i++)
		if (set_opt(&opts[i], opts[i].def, err, sizeof err) != DM_OK)
			abort(); /* a bad default is a programming error */
}

/* One listener address: PORT, IPv4:PORT or [IPv6]:PORT with PORT 1-65535
 * (what civetweb's listening_ports takes; a host name is not). 1 if valid. */
static int listen_addr_ok(const char *a, size_t n)
{
	char host[64], tmp[72];
	const char *colon, *port;
	unsigned char bin[16];
	long v = 0;

	if (!n || n >= sizeof tmp)
		return 0;
	memcpy(tmp, a, n);
	tmp[n] = 0;
	colon = strrchr(tmp, ':');
	port = colon ? colon + 1 : tmp;
	if (!*port || strlen(port) > 5)
		return 0;
	for (const char *d = port; *d; d++) {
		if (!isdigit((unsigned char)*d))
			return 0;
		v = v * 10 + (*d - '0');
	}
	if (v < 1 || v > 65535)
		return 0;
	if (!colon)
		return 1;
	n = (size_t)(colon - tmp);
	if (n >= 2 && tmp[0] == '[' && tmp[n - 1] == ']') {
		memcpy(host, tmp + 1, n - 2);
		host[n - 2] = 0;
		return inet_pton(AF_INET6, host, bin) == 1;
	}
	memcpy(host, tmp, n);
	host[n] = 0;
	return inet_pton(AF_INET, host, bin) == 1;
}

/* Checks a comma list of listener addresses for flag name. CFG_OK or
 * CFG_ERROR with err set. */
static int check_listeners(const char *name, const char *list, char *err, size_t errlen)
{
	for (const char *p = list; *p;) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (!listen_addr_ok(p, n)) {
			snprintf(err, errlen, "--%s: '%.*s' is not PORT, IPv4:PORT or [IPv6]:PORT (port 1-65535)", name,
				 (int)(n > 80 ? 80 : n), p);
			return CFG_ERROR;
		}
		if (!e)
			break;
		p = e + 1;
	}
	return CFG_OK;
}

static int check_all(char *err, size_t errlen)
{
	if (check_listeners("http", cfg.http, err, errlen) != CFG_OK ||
	    check_listeners("https", cfg.https, err, errlen) != CFG_OK)
		return CFG_ERROR;
	if (cfg.https[0] && !cfg.tls_self_signed && !cfg.acme_domain[0] && (!cfg.cert[0] || !cfg.key[0])) {
		snprintf(err, errlen, "--https needs --cert and --key, --tls-self-signed or --acme-domain");
		return CFG_ERROR;
	}
	if (cfg.acme_domain[0] && (!cfg.https[0] || cfg.cert[0] || cfg.key[0])) {
		snprintf(err, errlen, "--acme-domain needs --https and no --cert/--key");
		return CFG_ERROR;
	}
	for (const char *c = cfg.acme_domain; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '-' && *c != '.' && *c != ',') {
			snprintf(err, errlen, "--acme-domain: expected DNS names separated by commas, got '%s'",
				 cfg.acme_domain);
			return CFG_ERROR;
		}
	if (cfg.acme_domain[0] && strncmp(cfg.acme_directory, "https://", 8)) {
		snprintf(err, errlen, "--acme-directory: expected an https:// URL, got '%s'", cfg.acme_directory);
		return CFG_ERROR;
	}
	if (!cfg.http[0] && !cfg.https[0]) {
		snprintf(err, errlen, "nothing to listen on: give --http or --https");
		return CFG_ERROR;
	}
	if (strcmp(cfg.log_level, "debug") && strcmp(cfg.log_level, "info") &&
	    strcmp(cfg.log_level, "warn") && strcmp(cfg.log_level, "error")) {
		snprintf(err, errlen, "--log-level: expected debug, info, warn or error, got '%s'", cfg.log_level);
		return CFG_ERROR;
	}
	if (cfg.smtp[0] && strncmp(cfg.smtp, "smtp://", 7) && strncmp(cfg.smtp, "smtps://", 8)) {
		snprintf(err, errlen, "--smtp: expected smtp://host:port or smtps://host:port, got '%s'", cfg.smtp);
		return CFG_ERROR;
	}
	if (cfg.public_url[0]) {
		size_t n = strlen(cfg.public_url);
		if ((strncmp(cfg.public_url, "http://", 7) && strncmp(cfg.public_url, "https://", 8)) ||
		    strcspn(cfg.public_url, " \"'<>\\^`{|}") != n) {
			snprintf(err, errlen, "--public-url: expected http://host[:port][/path] or https://…, got '%.200s'",
				 cfg.public_url);
			return CFG_ERROR;
		}
		for (const char *c = cfg.public_url; *c; c++)
			if ((unsigned char)*c <= 0x20 || *c == 0x7f) {
				snprintf(err, errlen, "--public-url: control characters or spaces are not allowed");
				return CFG_ERROR;
			}
		while (n && cfg.public_url[n - 1] == '/')
			cfg.public_url[--n] = 0;
	}
	if (cfg.kakao_app_id[0] &&
	    (strspn(cfg.kakao_app_id, "0123456789") != strlen(cfg.kakao_app_id) || strlen(cfg.kakao_app_id) > 18)) {
		snprintf(err, errlen, "--kakao-app-id: expected Kakao's numeric app id, got '%s'", cfg.kakao_app_id);
		return CFG_ERROR;
	}
	if (strncmp(cfg.kakao_tokeninfo, "https://", 8)) {
		snprintf(err, errlen, "--kakao-tokeninfo: expected an https:// URL, got '%s'", cfg.kakao_tokeninfo);
		return CFG_ERROR;
	}
	if (!cfg.data[0]) {
		snprintf(err, errlen, "--data: must not be empty");
		return CFG_ERROR;
	}
	return CFG_OK;
}

int cfg_parse(int argc, char **argv, char *err, size_t errlen)
{
	char name[96];

	cfg_defaults();
	for (size_t i = 0; i < NOPTS; i++) {
		env_name(&opts[i], name, sizeof name);
		const char *v = getenv(name);
		if (v && set_opt(&opts[i], v, err, errlen) != DM_OK) {
			/* name the variable, not the flag */
			char tmp[256];
			snprintf(tmp, sizeof tmp, "%s (from %s)", err, name);
			dm_strlcpy(err, tmp, errlen);
			return CFG_ERROR;
		}
	}
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			return CFG_HELP;
		if (strncmp(a, "--", 2) != 0) {
			snprintf(err, errlen, "unexpected argument '%s' (see --help)", a);
			return CFG_ERROR;
		}
		a += 2;
		const char *eq = strchr(a, '=');
		size_t len = eq ? (size_t)(eq - a) : strlen(a);
		const opt_t *o = NULL;
		for (size_t k = 0; k < NOPTS; k++)
			if (strlen(opts[k].name) == len && !strncmp(opts[k].name, a, len)) {
				o = &opts[k];
				break;
			}
		if (!o) {
			snprintf(err, errlen, "unknown flag '--%.*s' (see --help)", (int)len, a);
			return CFG_ERROR;
		}
		const char *val;
		if (eq)
			val = eq + 1;
		else if (o->type == T_BOOL) {
			/* "--flag" alone is on; "--flag 0" / "--flag off" also work */
			val = "1";
			if (i + 1 < argc && is_bool_word(argv[i + 1]))
				val = argv[++i];
		}
		else if (i + 1 < argc)
			val = argv[++i];
		else {
			snprintf(err, errlen, "--%s needs a value", o->name);
			return CFG_ERROR;
		}
		if (set_opt(o, val, err, errlen) != DM_OK)
			return CFG_ERROR;
	}
	return check_all(err, errlen);
}

void cfg_usage(FILE *out)
{
	char env[96];
	fprintf(out,
		"usage: dongmul [serve] [flags]     run the server (the default)\n"
		"       dongmul version             print the version\n"
		"       dongmul routes [flags]      print the HTTP route table (docs/openapi.json lists the same)\n"
		"       dongmul refusals            print the catalog of refusals: name, code, status, message\n"
		"       dongmul conformance [flags] the protocol test suites' reference app (a test command)\n"
		"       dongmul user show EMAIL | suspend EMAIL --days N [--reason TEXT]\n"
		"                   | unsuspend EMAIL [--dismiss-reports]\n"
		"                   | admin [--revoke] EMAIL   (operator; see: dongmul user)\n"
		"       dongmul backup DEST [--data DIR]   online backup (the server may be running)\n"
		"       dongmul restore SRC --data DIR     restore a backup into a new data dir\n"
		"\n"
		"Every flag can also be set by the environment variable shown (a flag wins).\n\n");
	for (size_t i = 0; i < NOPTS; i++) {
		env_name(&opts[i], env, sizeof env);
		fprintf(out, "  --%-22s %s\n  %-24s   [%s, default '%s']\n", opts[i].name, opts[i].help, "",
			env, opts[i].def);
	}
}
