/* migrate.h: bring the schema up to date at start-up, and check the serving connection. Both run
 * before the event loop starts and may block. */
#ifndef FCRD_MIGRATE_H
#define FCRD_MIGRATE_H

#include <stddef.h>

/* migrate_run: apply every numbered migration in `dir` (files NNNN_name.sql, in order) not yet
 * recorded in fcrd_migrations, each in its own transaction, under an advisory lock so that two
 * instances starting together are safe. Returns the number applied (>= 0) or -1 with err. */
int migrate_run(const char *conninfo, const char *dir, char *err, size_t errlen);

/* migrate_check_serving: the serving connection works, has synchronous_commit = on, and sees the
 * schema at the latest migration in `dir`. Returns 0 or -1 with err. */
int migrate_check_serving(const char *conninfo, const char *dir, char *err, size_t errlen);

#endif
