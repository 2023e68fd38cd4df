/* service_migrate.h: `fcrd migrate --config FILE`: the schema brought up to date as its owner, by a
 * command of its own, so that the serving daemon never holds the owner's credentials. */
#ifndef FCRD_SERVICE_MIGRATE_H
#define FCRD_SERVICE_MIGRATE_H

#include <stddef.h>

/* service_migrate_run: reads config_path as fcrd migrate does (config_load_migrate: the [database]
 * section, admin_conninfo required), applies every migration of [database] migrations the schema
 * lacks, with admin_conninfo, and writes what it did into msg ("the schema is at migration 14 (2
 * applied)"). BLOCKING. Returns 0, or -1 with the reason in msg (the file's problem, the database's
 * refusal, a migration that failed: it is rolled back, and those before it stay applied). */
int service_migrate_run(const char *config_path, char *msg, size_t msglen);

#endif
