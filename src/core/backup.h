/*
 * backup — online backups of a live data dir and their restore.
 * Prefix: backup_.
 *
 * A backup is a directory: dongmul.db (a consistent snapshot taken with
 * SQLite's online backup API inside one read transaction, so writers never
 * wait for it), the photos that snapshot references (images/), the data
 * dir's other files (jwt.key, tls/..., kept with their modes: secrets stay
 * 0600) and MANIFEST.json (every file's path, size, sha256 and mode),
 * written last: a backup without a manifest did not finish.
 *
 *   dongmul backup DEST            (while the server runs, or not)
 *   dongmul restore SRC --data DIR
 *   serve --backup-dir DIR --backup-every 24h --backup-keep 7
 */
#ifndef BACKUP_H
#define BACKUP_H

/* `dongmul backup DEST [flags]` and `dongmul restore SRC [flags]`: argv
 * starts after the command word. Exit status: 0 done, 1 refused or failed
 * (the reason on stderr), 2 bad usage. */
int backup_cmd(int argc, char **argv);
int backup_restore_cmd(int argc, char **argv);

/* Takes a backup of data dir DATA into DEST (absent, or an empty
 * directory). DM_OK, or an error with a one-line reason in err (what was
 * written to DEST is removed again). Blocking; any thread. */
int backup_run(const char *data, const char *dest, char *err, size_t errlen);

/* The part: registers the scheduled backup (--backup-dir) on the pool.
 * (No stop: the pool's stop waits for a running backup, which gives up
 * early once dm_stopping is set.) */
int backup_init(void);

/* Removes photo NAME from the images directory DIR, unless a backup is
 * copying photos right now: then it is moved aside (.gone-NAME) for that
 * backup to find, and the backup removes it when done. For image_release
 * on the write lane. */
void backup_remove_photo(const char *dir, const char *name);

#endif
