/* migrate.h: bring the schema up to date (fcrd migrate, as the schema owner), and check what the
 * serving connection sees at start-up. Both block: neither runs on the event loop. */
#ifndef FCRD_MIGRATE_H
#define FCRD_MIGRATE_H

#include <stddef.h>

/* migrate_run: apply every numbered migration in `dir` (files NNNN_name.sql, in order) not yet
 * recorded in fcrd_migrations, each in its own transaction, under an advisory lock so that two
 * instances starting together are safe. Returns the number applied (>= 0) or -1 with err. */
int migrate_run(const char *conninfo, const char *dir, char *err, size_t errlen);

/* migrate_latest: the number of the latest migration in `dir` (0 when it holds none), or -1 with
 * err when the folder cannot be read or two files share a number. */
int migrate_latest(const char *dir, char *err, size_t errlen);

/* What migrate_check_serving found. */
enum migrate_check {
    MIGRATE_CHECK_OK = 0,       /* synchronous_commit on, the schema at the latest migration */
    MIGRATE_CHECK_BEHIND = 1,   /* the schema lacks migrations `dir` holds: run fcrd migrate */
    MIGRATE_CHECK_NO_DB = 2,    /* the database could not be reached */
    MIGRATE_CHECK_REFUSED = -1, /* anything else fcrd must not serve with (err says what) */
};

/* migrate_check_serving: whether the serving connection works, has synchronous_commit = on, and
 * sees the schema at the latest migration in `dir`; err says why not. */
enum migrate_check migrate_check_serving(const char *conninfo, const char *dir, char *err, size_t errlen);

#endif
