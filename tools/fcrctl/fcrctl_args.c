/* fcrctl_args.c: fcrctl's command line, parsed from one table of commands and one of options. */
#include "fcrctl_args.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcrctl.h"
#include "util/errbuf.h"

#define CMD(c) (1u << (c))
#define ALL_CMDS (~0u)

struct fcrctl_args_command {
    const char *word;
    enum fcrctl_cmd cmd;
    int min_operands, max_operands;
};

static const struct fcrctl_args_command commands[] = {
    {"pending", FCRCTL_CMD_PENDING, 0, 0},       {"show", FCRCTL_CMD_SHOW, 1, 1},
    {"crime", FCRCTL_CMD_CRIME, 1, 1},           {"decide", FCRCTL_CMD_DECIDE, 2, 2},
    {"cancel", FCRCTL_CMD_CANCEL, 2, 2},         {"reclassify", FCRCTL_CMD_RECLASSIFY, 2, 2},
    {"audit", FCRCTL_CMD_AUDIT, 0, 1},           {"report", FCRCTL_CMD_REPORT, 0, 0},
    {"whatif", FCRCTL_CMD_WHATIF, 1, 1},         {"token", FCRCTL_CMD_TOKEN_HASH, 1, 1},
    {"access-log", FCRCTL_CMD_ACCESS_LOG, 0, 0}, {"subject", FCRCTL_CMD_SUBJECT, 1, 1},
    {"retention", FCRCTL_CMD_RETENTION, 1, 1},   {"help", FCRCTL_CMD_HELP, 0, 1},
};

enum fcrctl_args_kind { KIND_FLAG, KIND_TEXT, KIND_NUMBER };

struct fcrctl_args_option {
    const char *name; /* without the leading "--" */
    enum fcrctl_args_kind kind;
    unsigned cmds; /* the commands that take it */
    size_t off;    /* where it goes in struct fcrctl_args */
    long max;      /* KIND_NUMBER: the largest value accepted */
};

#define OPT(name, kind, cmds, field, max) {name, kind, cmds, offsetof(struct fcrctl_args, field), max}
#define WRITES (CMD(FCRCTL_CMD_DECIDE) | CMD(FCRCTL_CMD_CANCEL) | CMD(FCRCTL_CMD_RECLASSIFY))

static const struct fcrctl_args_option options[] = {
    OPT("url", KIND_TEXT, ALL_CMDS, url, 0),
    OPT("token-file", KIND_TEXT, ALL_CMDS, token_file, 0),
    OPT("json", KIND_FLAG, ALL_CMDS, json, 0),
    OPT("purpose", KIND_TEXT, ALL_CMDS, purpose, 0),
    OPT("timeout", KIND_NUMBER, ALL_CMDS, timeout, 3600),
    OPT("ca", KIND_TEXT, ALL_CMDS, ca, 0),
    OPT("cert", KIND_TEXT, ALL_CMDS, cert, 0),
    OPT("key", KIND_TEXT, ALL_CMDS, key, 0),
    OPT("insecure", KIND_FLAG, ALL_CMDS, insecure, 0),
    OPT("overdue", KIND_FLAG, CMD(FCRCTL_CMD_PENDING), overdue, 0),
    OPT("all", KIND_FLAG, CMD(FCRCTL_CMD_PENDING) | CMD(FCRCTL_CMD_ACCESS_LOG), all, 0),
    OPT("flag", KIND_TEXT, CMD(FCRCTL_CMD_PENDING), flag, 0),
    OPT("reason", KIND_TEXT, CMD(FCRCTL_CMD_PENDING), reason, 0),
    OPT("limit", KIND_NUMBER, CMD(FCRCTL_CMD_PENDING) | CMD(FCRCTL_CMD_ACCESS_LOG), limit, 1000),
    OPT("rationale", KIND_TEXT, WRITES, rationale, 0),
    OPT("offence", KIND_TEXT, CMD(FCRCTL_CMD_DECIDE), offence, 0),
    OPT("victim", KIND_TEXT, CMD(FCRCTL_CMD_DECIDE), victim, 0),
    OPT("reason-code", KIND_TEXT, CMD(FCRCTL_CMD_DECIDE), reason_code, 0),
    OPT("to-force", KIND_TEXT, CMD(FCRCTL_CMD_DECIDE) | CMD(FCRCTL_CMD_CANCEL), to_force, 0),
    OPT("duplicate-of", KIND_TEXT, CMD(FCRCTL_CMD_CANCEL), duplicate_of, 0),
    OPT("avi", KIND_TEXT, CMD(FCRCTL_CMD_CANCEL), avi, 0),
    OPT("victim-informed-at", KIND_TEXT, CMD(FCRCTL_CMD_CANCEL), victim_informed_at, 0),
    OPT("incident", KIND_TEXT, CMD(FCRCTL_CMD_AUDIT) | CMD(FCRCTL_CMD_ACCESS_LOG), incident, 0),
    OPT("crn", KIND_TEXT, CMD(FCRCTL_CMD_AUDIT), crn, 0),
    OPT("anchor", KIND_TEXT, CMD(FCRCTL_CMD_AUDIT), anchor, 0),
    OPT("checkpoints", KIND_TEXT, CMD(FCRCTL_CMD_AUDIT), checkpoints, 0),
    OPT("pubkey", KIND_TEXT, CMD(FCRCTL_CMD_AUDIT), pubkey, 0),
    OPT("out", KIND_TEXT, CMD(FCRCTL_CMD_AUDIT) | CMD(FCRCTL_CMD_SUBJECT), out, 0),
    OPT("from", KIND_TEXT, CMD(FCRCTL_CMD_REPORT) | CMD(FCRCTL_CMD_WHATIF) | CMD(FCRCTL_CMD_ACCESS_LOG), from, 0),
    OPT("to", KIND_TEXT, CMD(FCRCTL_CMD_REPORT) | CMD(FCRCTL_CMD_WHATIF) | CMD(FCRCTL_CMD_ACCESS_LOG), to, 0),
    OPT("user", KIND_TEXT, CMD(FCRCTL_CMD_ACCESS_LOG), user, 0),
    OPT("ref", KIND_TEXT, CMD(FCRCTL_CMD_ACCESS_LOG), ref, 0),
    OPT("dry-run", KIND_FLAG, CMD(FCRCTL_CMD_RETENTION), dry_run, 0),
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))
#define MAX_OPERANDS 8

static int fcrctl_args_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fcrctl_args_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    errbuf_vset(err, errlen, fmt, ap);
    va_end(ap);
    return FCRCTL_EXIT_USAGE;
}

static const struct fcrctl_args_option *fcrctl_args_find(const char *name, size_t len)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strlen(options[i].name) == len && memcmp(options[i].name, name, len) == 0)
            return &options[i];
    return NULL;
}

static bool fcrctl_args_number(const char *text, long max, long *out)
{
    if (!*text || *text < '0' || *text > '9')
        return false;
    errno = 0;
    char *end;
    long v = strtol(text, &end, 10);
    if (errno || *end || v < 1 || v > max)
        return false;
    *out = v;
    return true;
}

static bool fcrctl_args_one_of(const char *s, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(s, *set) == 0)
            return true;
    return false;
}

/* The checks that need the whole command line: operands and options that go together. */
static int fcrctl_args_check(struct fcrctl_args *a, const char *const *operands, int n, char *err, size_t errlen)
{
    static const char *const decisions[] = {"record", "no_crime", "transfer", NULL};
    static const char *const cancel_reasons[] = {"C1", "C2", "C3", "C4", NULL};

    if (a->cmd == FCRCTL_CMD_HELP)
        return 0;
    if (!a->cert != !a->key)
        return fcrctl_args_fail(err, errlen, "--cert FILE and --key FILE go together");
    if (a->insecure && a->ca)
        return fcrctl_args_fail(err, errlen, "--insecure checks no certificate, so --ca FILE would not be used: "
                                             "give one or the other");
    for (int i = 0; i < n; i++)
        if (!*operands[i])
            return fcrctl_args_fail(err, errlen, "an operand is empty");
    a->target = n > 0 ? operands[0] : NULL;
    a->choice = n > 1 ? operands[1] : NULL;
    switch (a->cmd) {
    case FCRCTL_CMD_DECIDE:
        if (!fcrctl_args_one_of(a->choice, decisions))
            return fcrctl_args_fail(err, errlen, "decide: the decision is record, no_crime or transfer, not '%s'",
                                    a->choice);
        break;
    case FCRCTL_CMD_CANCEL:
        if (!fcrctl_args_one_of(a->choice, cancel_reasons))
            return fcrctl_args_fail(err, errlen, "cancel: the reason is C1, C2, C3 or C4, not '%s'", a->choice);
        break;
    case FCRCTL_CMD_AUDIT:
        if (a->target && strcmp(a->target, "keygen") == 0) {
            if (!a->out || a->incident || a->crn || a->anchor || a->checkpoints || a->pubkey)
                return fcrctl_args_fail(err, errlen, "audit keygen takes --out KEY and nothing else");
            a->cmd = FCRCTL_CMD_AUDIT_KEYGEN;
            a->target = NULL;
        } else if (a->out) {
            return fcrctl_args_fail(err, errlen, "only 'audit keygen' takes --out");
        } else if (a->target) {
            if (strcmp(a->target, "verify") != 0)
                return fcrctl_args_fail(err, errlen,
                                        "audit: unknown operand '%s' (did you mean 'audit verify' or 'audit keygen'?)",
                                        a->target);
            if (!a->checkpoints != !a->pubkey)
                return fcrctl_args_fail(err, errlen, "--checkpoints FILE and --pubkey KEY go together");
            if (a->incident || a->crn)
                return fcrctl_args_fail(err, errlen, "audit verify walks the whole chain: no --incident or --crn");
            a->cmd = FCRCTL_CMD_AUDIT_VERIFY;
            a->target = NULL;
        } else if (!a->incident == !a->crn) {
            return fcrctl_args_fail(err, errlen, "audit needs exactly one of --incident ID and --crn CRN");
        } else if (a->anchor || a->checkpoints || a->pubkey) {
            return fcrctl_args_fail(err, errlen, "only 'audit verify' takes --anchor, --checkpoints and --pubkey");
        }
        break;
    case FCRCTL_CMD_TOKEN_HASH:
        /* The token itself never comes from argv, where the process list shows it. */
        if (strcmp(a->target, "hash") != 0)
            return fcrctl_args_fail(err, errlen, "token: unknown operand '%s' (did you mean 'token hash'?)",
                                    a->target);
        a->target = NULL;
        break;
    case FCRCTL_CMD_RETENTION:
        if (strcmp(a->target, "run") != 0)
            return fcrctl_args_fail(err, errlen, "retention: unknown operand '%s' (did you mean 'retention run'?)",
                                    a->target);
        a->target = NULL;
        break;
    case FCRCTL_CMD_REPORT:
        if (!a->from || !a->to)
            return fcrctl_args_fail(err, errlen, "report needs --from DATE and --to DATE");
        break;
    case FCRCTL_CMD_WHATIF:
        if (!a->from || !a->to)
            return fcrctl_args_fail(err, errlen, "whatif needs --from DATE and --to DATE");
        break;
    default:
        break;
    }
    if ((CMD(a->cmd) & WRITES) && !a->rationale)
        return fcrctl_args_fail(err, errlen, "this command needs --rationale TEXT (it goes into the audit trail)");
    return 0;
}

int fcrctl_args_parse(struct fcrctl_args *a, int argc, char *const argv[], char *err, size_t errlen)
{
    memset(a, 0, sizeof(*a));
    const char *operands[MAX_OPERANDS];
    int n_operands = 0;
    const struct fcrctl_args_command *command = NULL;
    bool seen[N_OPTIONS] = {false};
    bool help = false, version = false, options_done = false;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (options_done || arg[0] != '-' || strcmp(arg, "-") == 0) {
            if (!command) {
                for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++)
                    if (strcmp(arg, commands[c].word) == 0)
                        command = &commands[c];
                if (!command)
                    return fcrctl_args_fail(err, errlen, "unknown command '%s'", arg);
            } else if (n_operands == MAX_OPERANDS) {
                return fcrctl_args_fail(err, errlen, "too many operands");
            } else {
                operands[n_operands++] = arg;
            }
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            options_done = true;
            continue;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            help = true;
            continue;
        }
        if (strcmp(arg, "--version") == 0) {
            version = true;
            continue;
        }
        if (arg[1] != '-')
            return fcrctl_args_fail(err, errlen, "unknown option '%s'", arg);
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        const struct fcrctl_args_option *o = fcrctl_args_find(name, eq ? (size_t)(eq - name) : strlen(name));
        if (!o)
            return fcrctl_args_fail(err, errlen, "unknown option '%.*s'", eq ? (int)(eq - arg) : (int)strlen(arg), arg);
        size_t idx = (size_t)(o - options);
        if (seen[idx] && o->off == offsetof(struct fcrctl_args, anchor))
            return fcrctl_args_fail(err, errlen, "--anchor given twice: give several anchors as one "
                                                 "comma-separated value, ID:HASH,ID:HASH");
        if (seen[idx])
            return fcrctl_args_fail(err, errlen, "--%s given twice", o->name);
        seen[idx] = true;
        char *field = (char *)a + o->off;
        if (o->kind == KIND_FLAG) {
            if (eq)
                return fcrctl_args_fail(err, errlen, "--%s takes no value", o->name);
            *(bool *)field = true;
            continue;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (!value) {
            if (i + 1 >= argc)
                return fcrctl_args_fail(err, errlen, "--%s needs a value", o->name);
            value = argv[++i];
        }
        if (!*value)
            return fcrctl_args_fail(err, errlen, "--%s needs a value that is not empty", o->name);
        if (o->kind == KIND_NUMBER) {
            if (!fcrctl_args_number(value, o->max, (long *)(void *)field))
                return fcrctl_args_fail(err, errlen, "--%s wants a whole number from 1 to %ld, not '%s'", o->name,
                                        o->max, value);
        } else {
            *(const char **)(void *)field = value;
        }
    }

    if (help || (command && command->cmd == FCRCTL_CMD_HELP)) {
        a->cmd = FCRCTL_CMD_HELP;
        return 0;
    }
    if (version) {
        a->cmd = FCRCTL_CMD_VERSION;
        return 0;
    }
    if (!command)
        return fcrctl_args_fail(err, errlen, "no command given");
    a->cmd = command->cmd;
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (seen[i] && !(options[i].cmds & CMD(a->cmd)))
            return fcrctl_args_fail(err, errlen, "%s does not take --%s", command->word, options[i].name);
    if (n_operands < command->min_operands)
        return fcrctl_args_fail(err, errlen, "%s: missing operand", command->word);
    if (n_operands > command->max_operands)
        return fcrctl_args_fail(err, errlen, "%s: unexpected operand '%s'", command->word,
                                operands[command->max_operands]);
    return fcrctl_args_check(a, operands, n_operands, err, errlen);
}

static const char usage_text[] =
    "usage: fcrctl [GLOBAL OPTIONS] COMMAND [ARGUMENTS]\n"
    "\n"
    "A command-line client of fcrd's supervisor API.\n"
    "\n"
    "Commands:\n"
    "  pending [--overdue] [--flag F] [--reason R] [--limit N] [--all]\n"
    "                          open recording decisions, soonest due first; --all follows\n"
    "                          every page\n"
    "  show INCIDENT_ID        an incident: its crimes, decisions and open pending decisions\n"
    "  crime CRN               one crime with its history\n"
    "  decide PENDING_ID record|no_crime|transfer --rationale TEXT\n"
    "         [--offence CODE] [--victim PERSON] [--reason-code CODE] [--to-force FORCE]\n"
    "                          close a pending decision\n"
    "  cancel CRN C1|C2|C3|C4 --rationale TEXT [--to-force FORCE] [--duplicate-of CRN]\n"
    "         [--avi TEXT] [--victim-informed-at TIME]\n"
    "                          cancel a recorded crime (C1 transferred, C2 additional\n"
    "                          verifiable information, C3 duplicate, C4 recorded in error)\n"
    "  reclassify CRN OFFENCE --rationale TEXT\n"
    "                          change a crime's offence\n"
    "  audit --incident ID | --crn CRN\n"
    "                          the audit entries of an incident or a crime, oldest first\n"
    "  audit verify [--anchor ID:HASH[,ID:HASH...]]\n"
    "                          fetch the whole audit trail and check its hash chains; with\n"
    "                          --anchor, also that each entry ID still has the HASH recorded\n"
    "                          earlier (give every head line of the last run, comma-separated)\n"
    "  audit verify --checkpoints FILE --pubkey KEY\n"
    "                          also check every line of fcrd's checkpoint file: its signature\n"
    "                          by KEY, and that each chain head it names is still in the trail\n"
    "                          with that hash (names the first entry that differs)\n"
    "  audit keygen --out KEY  create a checkpoint signing key: the private key in KEY (mode\n"
    "                          600), the public key in KEY.pub (no request is sent)\n"
    "  report --from DATE --to DATE\n"
    "                          crime-data-integrity figures for the period\n"
    "  whatif FILE --from DATE --to DATE\n"
    "                          replay the incidents first reported in the period through the\n"
    "                          candidate rule set in FILE: the allegations whose outcome or\n"
    "                          offence would change, and counts by offence category; progress\n"
    "                          on stderr; --json prints the server's NDJSON lines\n"
    "  access-log [--user USER] [--incident ID] [--ref REF] [--from DATE] [--to DATE]\n"
    "         [--limit N] [--all]\n"
    "                          who looked at personal data: when, their role, the route, the\n"
    "                          incidents, crimes and person refs the reply held, and why;\n"
    "                          oldest first; --all follows every page\n"
    "  subject REF [--out FILE]\n"
    "                          everything held about the person with command-and-control ref\n"
    "                          REF (a subject access request): a summary per incident, or with\n"
    "                          --json the export; --out FILE writes the export to FILE (mode 600)\n"
    "  retention run [--dry-run]\n"
    "                          redact the personal data of the incidents past their retention\n"
    "                          period and not on legal hold (role fcr), one incident at a time;\n"
    "                          with --dry-run only list them\n"
    "  token hash              read a token from standard input and print the line fcrd's\n"
    "                          tokens file may hold instead of it: sha256:HEX (no request\n"
    "                          is sent)\n"
    "  help                    this text\n"
    "\n"
    "Global options:\n"
    "  --url URL               the API's address (default: $FCRD_URL, else http://127.0.0.1:7879)\n"
    "  --token-file PATH       read the bearer token from the first line of PATH\n"
    "                          (default: the token in $FCRD_TOKEN)\n"
    "  --json                  print the API's JSON instead of tables\n"
    "  --timeout SECONDS       longest wait for one reply (default 30)\n"
    "  --purpose TEXT          why you look (sent as purpose=; fcrd's access log keeps it;\n"
    "                          required for reads of personal data when [api] require_purpose)\n"
    "  --ca FILE               https: trust the CA certificates in FILE (PEM) instead of the\n"
    "                          system's (default: $FCRD_CA)\n"
    "  --cert FILE, --key FILE https: show this client certificate and key (PEM), for an API\n"
    "                          with mutual TLS (default: $FCRD_CERT, $FCRD_KEY)\n"
    "  --insecure              https: check neither the certificate nor the host name (warns;\n"
    "                          anyone on the path can then read the token)\n"
    "  --help, --version\n"
    "\n"
    "Exit status:\n"
    "  0  done\n"
    "  1  any other failure (a reply that cannot be understood, out of memory)\n"
    "  2  usage error: nothing was sent\n"
    "  3  authentication or authorisation refused (HTTP 401, 403)\n"
    "  4  not found (404)\n"
    "  5  refused by the state or the recording rules (409, 422)\n"
    "  6  bad request (400 and other 4xx)\n"
    "  7  server or database unavailable (5xx)\n"
    "  8  no reply: cannot connect, TLS failed, connection lost or timed out; a write may or\n"
    "     may not have been applied, so look before repeating it\n"
    "  9  audit verify: the chain is broken, or a checkpoint is not signed or does not match\n";

void fcrctl_args_usage(FILE *out)
{
    fputs(usage_text, out);
}
