/* main.c: fcrd's entry point: the arguments, then the service (service/service.h) does the rest:
 * start-up checks, wiring of the modules, signals, systemd notification. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "rules/ruleset.h"
#include "service/service.h"
#include "service/service_migrate.h"
#include "service/service_state.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: fcrd --config FILE [--check]\n"
                 "       fcrd migrate --config FILE\n"
                 "       fcrd --version\n"
                 "       fcrd --routes\n"
                 "  --config FILE  configuration file (INI)\n"
                 "  --check        validate the configuration, the rule set, the tokens file, the TLS\n"
                 "                 files and the audit checkpoint key, then exit\n"
                 "  migrate        apply the schema migrations of [database] migrations that the database\n"
                 "                 lacks, connected with [database] admin_conninfo (the schema owner), then\n"
                 "                 exit: 0 when the schema is up to date. FILE needs only a [database]\n"
                 "                 section. Run it before starting fcrd: the serving daemon does not\n"
                 "                 migrate, and stays not ready while the schema is behind\n"
                 "  --routes       list the API's routes (METHOD PATH ROLE), then exit\n");
}

/* fcrd migrate --config FILE */
static int main_migrate(int argc, char **argv)
{
    const char *config_path = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config_path = argv[++i];
        } else {
            fprintf(stderr, "fcrd migrate: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!config_path) {
        fprintf(stderr, "fcrd migrate: --config FILE is required\n");
        usage(stderr);
        return 2;
    }
    char msg[1400];
    if (service_migrate_run(config_path, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "fcrd migrate: %s\n", msg);
        return 1;
    }
    printf("fcrd migrate: %s\n", msg);
    return 0;
}

int main(int argc, char **argv)
{
    bool check = false;
    const char *config_path = NULL;
    if (argc > 1 && strcmp(argv[1], "migrate") == 0)
        return main_migrate(argc, argv);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config_path = argv[++i];
        } else if (strcmp(argv[i], "--check") == 0) {
            check = true;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("fcrd %s (allocator %s)\n", FCRD_VERSION, FCRD_ALLOCATOR);
            return 0;
        } else if (strcmp(argv[i], "--routes") == 0) {
            api_routes_print(stdout);
            return 0;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "fcrd: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!config_path) {
        usage(stderr);
        return 2;
    }
    char err[1400];
    struct service *svc = service_new(config_path, err, sizeof(err));
    if (!svc) {
        fprintf(stderr, "fcrd: %s\n", err);
        return 1;
    }
    if (check) {
        printf("fcrd: %s is valid (rule set %s)\n", config_path, ruleset_version(service_current(svc)->rs));
        service_free(svc);
        return 0;
    }
    if (service_start(svc, FCRD_ALLOCATOR) != 0) {
        service_free(svc);
        return 1;
    }
    service_run(svc);
    service_free(svc);
    return 0;
}
