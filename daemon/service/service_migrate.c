/* service_migrate.c: `fcrd migrate`: the schema's migrations applied as the schema owner, then exit. */
#include "service/service_migrate.h"

#include "service/config.h"
#include "service/service_state.h"
#include "store/migrate.h"
#include "util/errbuf.h"

int service_migrate_run(const char *config_path, char *msg, size_t msglen)
{
    struct config *cfg = NULL;
    char err[1024];
    if (config_load_migrate(config_path, &cfg, err, sizeof(err)) != 0)
        return errbuf_set(msg, msglen, "%s", err);
    service_state_apply_log(cfg);
    int rc = -1;
    int latest = migrate_latest(cfg->sql_dir, err, sizeof(err));
    if (latest < 0) {
        errbuf_set(msg, msglen, "[database] migrations: %s", err);
        goto out;
    }
    int applied = migrate_run(cfg->db_admin_conninfo, cfg->sql_dir, err, sizeof(err));
    if (applied < 0) {
        errbuf_set(msg, msglen, "%s", err);
        goto out;
    }
    errbuf_set(msg, msglen, "the schema is at migration %d (%d applied now, from %s)", latest, applied, cfg->sql_dir);
    rc = 0;
out:
    config_free(cfg);
    return rc;
}
