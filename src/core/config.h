/*
 * config — every setting is a flag and a DONGMUL_* environment variable,
 * parsed once at start into one read-only struct (cfg). Prefix: cfg_.
 * After cfg_parse returns, cfg is never written: any thread may read it.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdio.h>

#define CFG_PATH 512
/* The push services of Chrome/Edge/Android (FCM), Firefox, Safari, and
 * legacy Edge: where browsers' push subscriptions point. */
#define PUSH_HOSTS_DEFAULT "fcm.googleapis.com,*.push.services.mozilla.com,*.push.apple.com,*.notify.windows.com"

typedef struct cfg {
	/* serving */
	char http[512];            /* comma list of ADDR (host:port or port) */
	char https[512];
	char cert[CFG_PATH];
	char key[CFG_PATH];
	int tls_self_signed;
	char acme_domain[1024];    /* comma list of names; empty = no ACME */
	char acme_email[256];      /* account contact, may be empty */
	char acme_directory[512];  /* ACME directory URL */
	int acme_retry;            /* seconds before the first retry (doubles) */
	char data[CFG_PATH];
	int threads;               /* civetweb workers (run requests; WebSockets wait in sio); 0: from the cores */
	int max_conns_per_ip;      /* concurrent connections per client address; 0: no cap */
	char cors_origin[1024];    /* comma list; empty = the server's own origin */
	int tz_offset_min;         /* --tz +09:00 */
	int expiry_interval;       /* seconds */
	long max_body;             /* bytes, JSON bodies */
	long max_upload;           /* bytes, photos */
	int max_deadline_days;
	int quota_messages;        /* chat messages per user per minute */
	int quota_posts;           /* item posts per user per hour */
	int quota_upload_mb;       /* MB of photos a user may upload per hour */
	int quota_storage_mb;      /* MB of photos a user's items may hold */
	char log_level[16];
	int access_log;
	/* mail */
	char smtp[512];            /* smtp://[user:pass@]host:port or smtps:// */
	char mail_from[256];
	char push_hosts[512];      /* hosts push endpoints may name ("*.suffix" allowed) */
	char push_subject[256];     /* VAPID "sub" (mailto: or https:), "" = from mail_from */
	char app_url[512];         /* where the web app lives (social redirect) */
	char public_url[512];      /* this server's own external URL, no trailing '/' (OIDC redirect_uri, photo URLs) */
	int legacy_time;           /* times in replies as local wall clock + "Z" (the 2021 shape) */
	char ca_bundle[CFG_PATH];  /* outbound TLS trust */
	/* accounts */
	int no_email_verification;
	int pbkdf2_iterations;
	int hash_wait;             /* seconds a request may wait for a hashing slot */
	int access_ttl;            /* seconds */
	int refresh_ttl_days;
	int code_ttl;              /* seconds an emailed code stays valid */
	int rate_login;            /* failed logins per window per (email, IP); code checks per IP and per email */
	int rate_mail;
	int rate_window;           /* seconds */
	/* social sign-in */
	char kakao_issuer[512];
	char kakao_client_id[256];
	char kakao_client_secret[256];
	char kakao_userinfo[512];
	char kakao_app_id[32];     /* numeric app id ("" = no accessToken sign-in) */
	char kakao_tokeninfo[512]; /* token-info endpoint (the app a token belongs to) */
	char google_issuer[512];
	char google_client_id[256];
	char google_client_secret[256];
	/* trust */
	int report_threshold;      /* distinct reporters in 30 days */
	int suspend_days;
	int report_min_age;        /* days a reporter's account must have existed */
	/* chat */
	int sio_ping_interval;     /* ms */
	int sio_ping_timeout;      /* ms */
	int sio_max_payload;       /* bytes */
	int sio_queue_max;         /* frames queued per connection before it is dropped */
	/* scheduled backups */
	char backup_dir[CFG_PATH]; /* empty: none */
	int backup_every;          /* seconds */
	int backup_keep;
	int wal_autocheckpoint;    /* pages; 0: leave checkpoints to a replicator */
	int sio_max_sessions;      /* Engine.IO sessions open at once, in all */
	int sio_max_per_ip;        /* ... from one address */
	int sio_max_per_user;      /* ... for one user id */
	int sio_connect_timeout;   /* ms to CONNECT and sign in */
} cfg_t;

/* The one configuration, filled by cfg_parse. Read-only afterwards. */
extern cfg_t cfg;

enum { CFG_OK = 0, CFG_HELP = 1, CFG_ERROR = 2 };

/* Fills cfg from defaults, then DONGMUL_* variables, then argv (flags win).
 * argv starts after the subcommand. On CFG_ERROR, err holds a one-line
 * reason. */
int cfg_parse(int argc, char **argv, char *err, size_t errlen);
/* Sets defaults only (for tools and unit tests). */
void cfg_defaults(void);
void cfg_usage(FILE *out);
/* Parses "+09:00" / "-05:30" / "Z" into minutes; DM_OK or DM_EINVAL. */
int cfg_parse_tz(const char *s, int *minutes);

#endif
