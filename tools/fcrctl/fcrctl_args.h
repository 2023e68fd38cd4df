/* fcrctl_args.h: fcrctl's command line: which command, its operands and options. */
#ifndef FCRCTL_ARGS_H
#define FCRCTL_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum fcrctl_cmd {
    FCRCTL_CMD_NONE = 0,
    FCRCTL_CMD_HELP,
    FCRCTL_CMD_VERSION,
    FCRCTL_CMD_PENDING,
    FCRCTL_CMD_SHOW,
    FCRCTL_CMD_CRIME,
    FCRCTL_CMD_DECIDE,
    FCRCTL_CMD_CANCEL,
    FCRCTL_CMD_RECLASSIFY,
    FCRCTL_CMD_AUDIT,        /* audit --incident ID | --crn CRN */
    FCRCTL_CMD_AUDIT_VERIFY, /* audit verify */
    FCRCTL_CMD_REPORT,
    FCRCTL_CMD_WHATIF,       /* whatif FILE --from D --to D */
    FCRCTL_CMD_TOKEN_HASH,   /* token hash: the token from standard input, its tokens-file form out */
    FCRCTL_CMD_AUDIT_KEYGEN, /* audit keygen --out KEY: a checkpoint signing key pair */
    FCRCTL_CMD_ACCESS_LOG,   /* access-log [--user U] [--incident ID] [--ref REF] [--from D] [--to D] */
    FCRCTL_CMD_SUBJECT,      /* subject REF [--out FILE] */
    FCRCTL_CMD_RETENTION,    /* retention run [--dry-run] */
};

/* The parsed command line. Every string is borrowed from argv (nothing to free); NULL when
 * not given. Environment variables are not consulted here: main() applies FCRD_URL,
 * FCRD_TOKEN, FCRD_CA, FCRD_CERT and FCRD_KEY, so that parsing stays a pure function of argv. */
struct fcrctl_args {
    enum fcrctl_cmd cmd;

    /* global options */
    const char *url;
    const char *token_file;
    bool json;
    const char *purpose; /* why: sent with every request (purpose=), kept in the access log */
    long timeout; /* seconds; 0 = not given */
    /* https: CA file (NULL: the system store), client certificate and key (together or neither),
     * and whether no check at all is made */
    const char *ca;
    const char *cert;
    const char *key;
    bool insecure;

    /* operands: target is the INCIDENT_ID, CRN or PENDING_ID; choice is decide's decision,
     * cancel's reason (C1..C4) or reclassify's offence */
    const char *target;
    const char *choice;

    /* pending */
    bool overdue;
    bool all;
    const char *flag;
    const char *reason;
    long limit; /* 0 = not given */

    /* decide, cancel, reclassify */
    const char *rationale;
    const char *offence;
    const char *victim;
    const char *reason_code;
    const char *to_force;
    const char *duplicate_of;
    const char *avi;
    const char *victim_informed_at;

    /* audit */
    const char *incident;
    const char *crn;
    const char *anchor; /* audit verify: "ID:HASH" of entries recorded earlier, comma-separated */
    const char *checkpoints; /* audit verify: fcrd's signed checkpoint file */
    const char *pubkey;      /* audit verify: the public key the checkpoints are checked with */
    const char *out;         /* audit keygen: where the private key goes (the public key: OUT.pub);
                                subject: the file the export is written to */

    /* report, whatif, access-log */
    const char *from;
    const char *to;

    /* access-log (with incident, from, to, limit, all) */
    const char *user;
    const char *ref;

    /* retention run */
    bool dry_run;
};

/* fcrctl_args_parse: fill *a from argv[1..argc-1]. Returns 0, or FCRCTL_EXIT_USAGE with a
 * one-line explanation in err. Options may come before or after the command word, as
 * "--name value" or "--name=value"; "--" ends the options. */
int fcrctl_args_parse(struct fcrctl_args *a, int argc, char *const argv[], char *err, size_t errlen);

/* fcrctl_args_usage: the help text, exit statuses included. */
void fcrctl_args_usage(FILE *out);

#endif
