/* fcrctl.c: fcrctl's main and commands: each one HTTP call (or a walk over pages, or a streamed
 * reply), shown or passed through. */
#include "fcrctl.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/tokens.h"
#include "service/checkpoint_sign.h"
#include "fcrctl_args.h"
#include "fcrctl_chain.h"
#include "fcrctl_checkpoints.h"
#include "fcrctl_http.h"
#include "fcrctl_keygen.h"
#include "fcrctl_table.h"
#include "fcrctl_tls.h"

#define FCRCTL_DEFAULT_URL "http://127.0.0.1:7879"
#define FCRCTL_TOKEN_MAX 4096
#define FCRCTL_VERIFY_PAGE "1000"

/* One run: the parsed command line and the connection. */
struct fcrctl {
    const struct fcrctl_args *args;
    struct fcrctl_http *http;
    FILE *out;
    const struct fcrctl_checkpoints *checkpoints; /* audit verify --checkpoints: what was checked */
};

#define COLS(a) (a), sizeof(a) / sizeof((a)[0])

static const struct fcrctl_table_column access_cols[] = {
    {"ID", "id"},       {"AT", "at"},       {"USER", "user"},          {"ROLE", "role"},   {"ROUTE", "route"},
    {"INCIDENTS", "incident_ids"}, {"CRNS", "crns"}, {"REFS", "person_refs"}, {"PURPOSE", "purpose"},
};

static const struct fcrctl_table_column pending_cols[] = {
    {"ID", "id"}, {"INCIDENT", "incident_id"}, {"REASON", "reason"},
    {"DUE", "due"}, {"OVERDUE", "overdue"},     {"FLAGS", "flags"},
};
static const struct fcrctl_table_column incident_pending_cols[] = {
    {"ID", "id"},   {"REASON", "reason"},           {"OPENED_AT", "opened_at"},
    {"DUE", "due"}, {"ALLEGATION", "allegation"}, {"FLAGS", "flags"},
};
static const struct fcrctl_table_column crime_cols[] = {
    {"CRN", "crn"},       {"OFFENCE", "offence"},         {"VICTIM", "victim"}, {"STATUS", "status"},
    {"FLAGS", "flags"},   {"RECORDED_AT", "recorded_at"}, {"RULES", "rules"},
};
static const struct fcrctl_table_column decision_cols[] = {
    {"ALLEGATION", "allegation"}, {"OUTCOME", "outcome"}, {"OFFENCE", "offence"}, {"CRN", "crn"},
    {"REASON", "reason"},         {"CODE", "code"},       {"RULES", "rules"},
};
/* SUBJECT is made from the item (see fcrctl_audit_subject), hence no key. */
static const struct fcrctl_table_column audit_cols[] = {
    {"ID", "id"},     {"AT", "at"},         {"ACTOR", "actor"},
    {"ROLE", "role"}, {"ACTION", "action"}, {"SUBJECT", NULL},
};
static const struct fcrctl_table_column strata_cols[] = {
    {"NAME", "name"},
    {"INCIDENTS", "incidents"},
    {"CRIMES", "crimes"},
    {"RATE", "rate"},
    {"CI_LOW", "ci_low"},
    {"CI_HIGH", "ci_high"},
    {"FIRST_CONTACT_SHARE", "first_contact_share"},
    {"WITHIN_24H_SHARE", "within_24h_share"},
    {"OVERDUE_PENDING", "overdue_pending"},
};

/* ---- errors and replies --------------------------------------------------------------------- */

static void fcrctl_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fcrctl_say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fcrctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Print what went wrong with a request on stderr; returns the exit status it means. */
static int fcrctl_fail_reply(const struct fcrctl *ctl, const char *method, const struct fcrctl_http_reply *r)
{
    int code = fcrctl_http_exit_code(r->status);
    if (r->status == 0) {
        if (strcmp(method, "POST") == 0)
            fcrctl_say("%s; the change may or may not have been made: look before repeating it", r->error);
        else
            fcrctl_say("%s", r->error);
        return code;
    }
    json_error_t jerr;
    json_t *doc = r->body ? json_loadb(r->body, r->len, 0, &jerr) : NULL;
    json_t *e = json_object_get(doc, "error");
    const char *ecode = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    const char *field = json_string_value(json_object_get(e, "field"));
    char *s_code = fcrctl_table_safe(ecode ? ecode : "");
    char *s_msg = fcrctl_table_safe(msg ? msg : "");
    char *s_field = fcrctl_table_safe(field ? field : "");
    if (s_code && s_msg && s_field && (ecode || msg)) {
        fcrctl_say("HTTP %d: %s%s%s%s%s%s", r->status, s_code, *s_code && *s_msg ? ": " : "", s_msg,
                   field ? " (field: " : "", s_field, field ? ")" : "");
    } else {
        /* Not the API's error shape: perhaps a proxy in between. Show the start of it. */
        char head[201];
        snprintf(head, sizeof(head), "%s", r->body ? r->body : "");
        head[strcspn(head, "\r\n")] = '\0';
        char *s_head = fcrctl_table_safe(head);
        fcrctl_say("HTTP %d%s%s", r->status, s_head && *s_head ? ": " : "", s_head ? s_head : "");
        free(s_head);
    }
    free(s_code);
    free(s_msg);
    free(s_field);
    json_decref(doc);
    if (r->status == 401 && !fcrctl_http_has_token(ctl->http))
        fcrctl_say("no token was given: set FCRD_TOKEN or use --token-file PATH");
    if (r->status >= 300 && r->status < 400)
        fcrctl_say("the server redirects; give its final address with --url");
    return code == FCRCTL_EXIT_OK ? FCRCTL_EXIT_FAILURE : code;
}

/* One request whose reply must be a JSON object. Returns 0 with *doc (owned by the caller) and
 * *reply (cleared by the caller), or an exit status, the problem already told. */
static int fcrctl_call(struct fcrctl *ctl, const char *method, const char *target, const json_t *body, json_t **doc,
                       struct fcrctl_http_reply *reply)
{
    *doc = NULL;
    char *text = NULL;
    if (body && !(text = json_dumps(body, JSON_COMPACT))) {
        memset(reply, 0, sizeof(*reply));
        fcrctl_say("out of memory");
        return FCRCTL_EXIT_FAILURE;
    }
    /* The purpose goes with every request as a query parameter, which every route accepts. */
    char *with = NULL;
    if (ctl->args->purpose && (!(with = strdup(target)) || fcrctl_http_query_add(&with, "purpose", ctl->args->purpose))) {
        free(with);
        free(text);
        memset(reply, 0, sizeof(*reply));
        fcrctl_say("out of memory");
        return FCRCTL_EXIT_FAILURE;
    }
    int rc = fcrctl_http_request(ctl->http, method, with ? with : target, text, reply);
    free(with);
    free(text);
    if (rc != 0 || fcrctl_http_exit_code(reply->status) != FCRCTL_EXIT_OK)
        return fcrctl_fail_reply(ctl, method, reply);
    json_error_t jerr;
    *doc = json_loadb(reply->body, reply->len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(*doc)) {
        json_decref(*doc);
        *doc = NULL;
        fcrctl_say("HTTP %d, but the reply is not a JSON object%s%s", reply->status, jerr.text[0] ? ": " : "",
                   jerr.text);
        return FCRCTL_EXIT_FAILURE;
    }
    return 0;
}

/* --json: the API's body as it came. */
static void fcrctl_print_raw(const struct fcrctl *ctl, const struct fcrctl_http_reply *r)
{
    fwrite(r->body, 1, r->len, ctl->out);
    if (r->len == 0 || r->body[r->len - 1] != '\n')
        fputc('\n', ctl->out);
}

static char *fcrctl_path(const char *before, const char *segment, const char *after)
{
    char *enc = fcrctl_http_encode(segment);
    char *path = NULL;
    if (!enc || asprintf(&path, "%s%s%s", before, enc, after) < 0)
        path = NULL;
    free(enc);
    if (!path)
        fcrctl_say("out of memory");
    return path;
}

/* ---- output --------------------------------------------------------------------------------- */

/* What an audit entry is about: the crime, else the pending decision, else the incident (and
 * allegation). Borrowed from the item or written into buf. */
static const char *fcrctl_audit_subject(const json_t *item, char *buf, size_t len)
{
    const char *crn = json_string_value(json_object_get(item, "crn"));
    const char *pending = json_string_value(json_object_get(item, "pending_id"));
    const char *incident = json_string_value(json_object_get(item, "incident_id"));
    const char *allegation = json_string_value(json_object_get(item, "allegation"));
    if (crn && *crn)
        return crn;
    if (pending && *pending)
        return pending;
    if (incident && allegation && *allegation) {
        snprintf(buf, len, "%s:%s", incident, allegation);
        return buf;
    }
    return incident;
}

static int fcrctl_audit_row(struct fcrctl_table *t, const json_t *item)
{
    char subject[512];
    char *cells[6] = {NULL};
    for (size_t c = 0; c < 5; c++)
        cells[c] = fcrctl_table_cell(json_object_get(item, audit_cols[c].key));
    const char *s = fcrctl_audit_subject(item, subject, sizeof(subject));
    cells[5] = strdup(s ? s : "-");
    int rc = -1;
    if (cells[0] && cells[1] && cells[2] && cells[3] && cells[4] && cells[5])
        rc = fcrctl_table_add_row(t, (const char *const *)cells);
    for (size_t c = 0; c < 6; c++)
        free(cells[c]);
    return rc;
}

/* A titled table of the objects in arr (audit entries when cols is audit_cols), after a blank
 * line; with no title, the bare table. Absent: nothing; empty: "title: none". */
static int fcrctl_print_section(const struct fcrctl *ctl, const char *title, const json_t *arr,
                                const struct fcrctl_table_column *cols, size_t ncols)
{
    if (!arr)
        return 0;
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        char *cell = fcrctl_table_cell(arr);
        fprintf(ctl->out, "\n%s: %s\n", title ? title : "items", cell && strcmp(cell, "-") != 0 ? cell : "none");
        free(cell);
        return 0;
    }
    struct fcrctl_table *t = fcrctl_table_new(cols, ncols);
    if (!t)
        return -1;
    size_t i;
    const json_t *item;
    int rc = 0;
    json_array_foreach(arr, i, item)
    {
        rc = cols == audit_cols ? fcrctl_audit_row(t, item) : fcrctl_table_add_item(t, item);
        if (rc != 0)
            break;
    }
    if (rc == 0) {
        if (title)
            fprintf(ctl->out, "\n%s:\n", title);
        fcrctl_table_print(t, ctl->out);
    }
    fcrctl_table_free(t);
    return rc;
}

/* A crime as GET /v1/crimes/{crn}, cancel and reclassify return it. */
static int fcrctl_print_crime(const struct fcrctl *ctl, const json_t *doc)
{
    static const char *const skip[] = {"history", NULL};
    fcrctl_table_print_fields(doc, skip, ctl->out);
    return fcrctl_print_section(ctl, "history", json_object_get(doc, "history"), COLS(audit_cols));
}

/* ---- list endpoints ------------------------------------------------------------------------- */

/* Fetch a list endpoint, following `next` while all is set; the items collect in *items (owned
 * by the caller). With --json the body is printed as it came when one page holds the answer,
 * and as one merged {"items", "next"} object otherwise. *more tells that items were left. */
static int fcrctl_list(struct fcrctl *ctl, const char *target, bool all, json_t **items, bool *more)
{
    *items = json_array();
    *more = false;
    char *cursor = NULL;
    int rc = 0;
    int pages = 0;
    struct fcrctl_http_reply single = {0};
    if (!*items) {
        fcrctl_say("out of memory");
        return FCRCTL_EXIT_FAILURE;
    }
    for (;;) {
        char *t = strdup(target);
        if (!t || (cursor && fcrctl_http_query_add(&t, "after", cursor) != 0)) {
            free(t);
            fcrctl_say("out of memory");
            rc = FCRCTL_EXIT_FAILURE;
            break;
        }
        json_t *doc;
        struct fcrctl_http_reply reply;
        rc = fcrctl_call(ctl, "GET", t, NULL, &doc, &reply);
        free(t);
        if (rc != 0) {
            fcrctl_http_reply_clear(&reply);
            break;
        }
        json_t *page = json_object_get(doc, "items");
        const json_t *next = json_object_get(doc, "next");
        if (!json_is_array(page) || (next && !json_is_null(next) && !json_is_string(next))) {
            fcrctl_say("the reply is not a list (no items array)");
            rc = FCRCTL_EXIT_FAILURE;
        } else if (json_array_extend(*items, page) != 0) {
            fcrctl_say("out of memory");
            rc = FCRCTL_EXIT_FAILURE;
        }
        pages++;
        const char *n = json_is_string(next) ? json_string_value(next) : NULL;
        bool again = rc == 0 && n && json_array_size(page) > 0;
        if (again && cursor && strcmp(cursor, n) == 0) {
            fcrctl_say("the server returned the same cursor twice; stopping");
            rc = FCRCTL_EXIT_FAILURE;
            again = false;
        }
        free(cursor);
        cursor = again ? strdup(n) : NULL;
        json_decref(doc);
        if (pages == 1) {
            single = reply;
        } else {
            fcrctl_http_reply_clear(&reply);
        }
        if (rc != 0 || !again)
            break;
        if (!all) {
            *more = true;
            break;
        }
        if (!cursor) {
            fcrctl_say("out of memory");
            rc = FCRCTL_EXIT_FAILURE;
            break;
        }
    }
    free(cursor);
    if (rc == 0 && ctl->args->json) {
        if (pages == 1) {
            fcrctl_print_raw(ctl, &single);
        } else {
            json_t *merged = json_pack("{s:O, s:n}", "items", *items, "next");
            char *s = merged ? json_dumps(merged, JSON_COMPACT) : NULL;
            if (s) {
                fprintf(ctl->out, "%s\n", s);
            } else {
                fcrctl_say("out of memory");
                rc = FCRCTL_EXIT_FAILURE;
            }
            free(s);
            json_decref(merged);
        }
    }
    fcrctl_http_reply_clear(&single);
    return rc;
}

/* ---- commands ------------------------------------------------------------------------------- */

static int fcrctl_cmd_pending(struct fcrctl *ctl)
{
    const struct fcrctl_args *a = ctl->args;
    char *target = strdup("/v1/pending");
    char limit[24];
    snprintf(limit, sizeof(limit), "%ld", a->limit);
    if (!target || (a->overdue && fcrctl_http_query_add(&target, "overdue", "true") != 0) ||
        (a->flag && fcrctl_http_query_add(&target, "flag", a->flag) != 0) ||
        (a->reason && fcrctl_http_query_add(&target, "reason", a->reason) != 0) ||
        (a->limit && fcrctl_http_query_add(&target, "limit", limit) != 0)) {
        free(target);
        fcrctl_say("out of memory");
        return FCRCTL_EXIT_FAILURE;
    }
    json_t *items;
    bool more;
    int rc = fcrctl_list(ctl, target, a->all, &items, &more);
    free(target);
    if (rc == 0 && !a->json) {
        struct fcrctl_table *t = fcrctl_table_new(COLS(pending_cols));
        size_t i;
        const json_t *item;
        json_array_foreach(items, i, item)
        {
            if (!t || fcrctl_table_add_item(t, item) != 0) {
                rc = FCRCTL_EXIT_FAILURE;
                break;
            }
        }
        if (rc == 0 && fcrctl_table_rows(t) > 0)
            fcrctl_table_print(t, ctl->out);
        else if (rc == 0)
            fcrctl_say("no pending decisions");
        fcrctl_table_free(t);
    }
    if (rc == 0 && more)
        fcrctl_say("more pending decisions than shown: --all fetches every page");
    json_decref(items);
    return rc;
}

static int fcrctl_cmd_show(struct fcrctl *ctl)
{
    static const char *const skip[] = {"crimes", "decisions", "pending", NULL};
    char *target = fcrctl_path("/v1/incidents/", ctl->args->target, "");
    if (!target)
        return FCRCTL_EXIT_FAILURE;
    json_t *doc;
    struct fcrctl_http_reply reply;
    int rc = fcrctl_call(ctl, "GET", target, NULL, &doc, &reply);
    free(target);
    if (rc == 0 && ctl->args->json) {
        fcrctl_print_raw(ctl, &reply);
    } else if (rc == 0) {
        fcrctl_table_print_fields(doc, skip, ctl->out);
        if (fcrctl_print_section(ctl, "crimes", json_object_get(doc, "crimes"), COLS(crime_cols)) != 0 ||
            fcrctl_print_section(ctl, "decisions", json_object_get(doc, "decisions"), COLS(decision_cols)) != 0 ||
            fcrctl_print_section(ctl, "pending", json_object_get(doc, "pending"), COLS(incident_pending_cols)) != 0)
            rc = FCRCTL_EXIT_FAILURE;
    }
    json_decref(doc);
    fcrctl_http_reply_clear(&reply);
    return rc;
}

/* GET or POST something that answers with a crime, and show it. */
static int fcrctl_crime_call(struct fcrctl *ctl, const char *method, const char *after, const json_t *body)
{
    char *target = fcrctl_path("/v1/crimes/", ctl->args->target, after);
    if (!target)
        return FCRCTL_EXIT_FAILURE;
    json_t *doc;
    struct fcrctl_http_reply reply;
    int rc = fcrctl_call(ctl, method, target, body, &doc, &reply);
    free(target);
    if (rc == 0 && ctl->args->json)
        fcrctl_print_raw(ctl, &reply);
    else if (rc == 0 && fcrctl_print_crime(ctl, doc) != 0)
        rc = FCRCTL_EXIT_FAILURE;
    json_decref(doc);
    fcrctl_http_reply_clear(&reply);
    return rc;
}

static int fcrctl_cmd_crime(struct fcrctl *ctl)
{
    return fcrctl_crime_call(ctl, "GET", "", NULL);
}

/* Set key in body when value was given. Returns 0 or -1 (out of memory). */
static int fcrctl_body_set(json_t *body, const char *key, const char *value)
{
    return !value ? 0 : json_object_set_new(body, key, json_string(value));
}

static int fcrctl_cmd_decide(struct fcrctl *ctl)
{
    static const char *const skip[] = {"crimes", NULL};
    const struct fcrctl_args *a = ctl->args;
    json_t *body = json_object();
    if (!body || fcrctl_body_set(body, "decision", a->choice) || fcrctl_body_set(body, "rationale", a->rationale) ||
        fcrctl_body_set(body, "offence", a->offence) || fcrctl_body_set(body, "victim", a->victim) ||
        fcrctl_body_set(body, "reason_code", a->reason_code) || fcrctl_body_set(body, "to_force", a->to_force)) {
        json_decref(body);
        fcrctl_say("out of memory");
        return FCRCTL_EXIT_FAILURE;
    }
    char *target = fcrctl_path("/v1/pending/", a->target, "/decision");
    if (!target) {
        json_decref(body);
        return FCRCTL_EXIT_FAILURE;
    }
    json_t *doc;
    struct fcrctl_http_reply reply;
    int rc = fcrctl_call(ctl, "POST", target, body, &doc, &reply);
    free(target);
    json_decref(body);
    if (rc == 0 && a->json) {
        fcrctl_print_raw(ctl, &reply);
    } else if (rc == 0) {
        fcrctl_table_print_fields(doc, skip, ctl->out);
        if (fcrctl_print_section(ctl, "crimes", json_object_get(doc, "crimes"), COLS(crime_cols)) != 0)
            rc = FCRCTL_EXIT_FAILURE;
    }
    json_decref(doc);
    fcrctl_http_reply_clear(&reply);
    return rc;
}

static int fcrctl_cmd_cancel(struct fcrctl *ctl)
{
    const struct fcrctl_args *a = ctl->args;
    json_t *body = json_object();
    int rc = FCRCTL_EXIT_FAILURE;
    if (!body || fcrctl_body_set(body, "reason", a->choice) || fcrctl_body_set(body, "rationale", a->rationale) ||
        fcrctl_body_set(body, "to_force", a->to_force) || fcrctl_body_set(body, "duplicate_of", a->duplicate_of) ||
        fcrctl_body_set(body, "avi", a->avi) || fcrctl_body_set(body, "victim_informed_at", a->victim_informed_at))
        fcrctl_say("out of memory");
    else
        rc = fcrctl_crime_call(ctl, "POST", "/cancel", body);
    json_decref(body);
    return rc;
}

static int fcrctl_cmd_reclassify(struct fcrctl *ctl)
{
    const struct fcrctl_args *a = ctl->args;
    json_t *body = json_object();
    int rc = FCRCTL_EXIT_FAILURE;
    if (!body || fcrctl_body_set(body, "offence", a->choice) || fcrctl_body_set(body, "rationale", a->rationale))
        fcrctl_say("out of memory");
    else
        rc = fcrctl_crime_call(ctl, "POST", "/reclassify", body);
    json_decref(body);
    return rc;
}

static int fcrctl_cmd_audit(struct fcrctl *ctl)
{
    const struct fcrctl_args *a = ctl->args;
    char *target = strdup("/v1/audit");
    if (!target || fcrctl_http_query_add(&target, a->incident ? "incident_id" : "crn",
                                         a->incident ? a->incident : a->crn) != 0) {
        free(target);
        fcrctl_say("out of memory");
        return FCRCTL_EXIT_FAILURE;
    }
    json_t *items;
    bool more;
    /* An incident's or a crime's trail is short and read whole. */
    int rc = fcrctl_list(ctl, target, true, &items, &more);
    free(target);
    if (rc == 0 && !a->json) {
        if (json_array_size(items) == 0)
            fcrctl_say("no audit entries");
        else if (fcrctl_print_section(ctl, NULL, items, COLS(audit_cols)) != 0)
            rc = FCRCTL_EXIT_FAILURE;
    }
    json_decref(items);
    return rc;
}

/* The head of every chain that has entries, in chain order, as --json lists them. */
static json_t *fcrctl_verify_heads(const struct fcrctl_chain *chain)
{
    json_t *heads = json_array();
    for (int n = 1; heads && n <= FCRCTL_CHAIN_MAX; n++) {
        const struct fcrctl_chain_head *h = fcrctl_chain_head(chain, n);
        if (h->count > 0 && json_array_append_new(heads, json_pack("{s:i, s:I, s:s}", "chain", n, "id",
                                                                   (json_int_t)h->last_id, "hash",
                                                                   h->last_hash)) != 0) {
            json_decref(heads);
            heads = NULL;
        }
    }
    return heads;
}

static int fcrctl_verify_result(struct fcrctl *ctl, const struct fcrctl_chain *chain, long long bad_id,
                                const char *why)
{
    if (ctl->args->json) {
        const struct fcrctl_chain_head *last = chain->count ? fcrctl_chain_head(chain, chain->last_chain) : NULL;
        json_t *r = why ? json_pack("{s:b, s:I, s:I, s:s}", "ok", 0, "entries", (json_int_t)chain->count, "bad_id",
                                    (json_int_t)bad_id, "problem", why)
                        : json_pack("{s:b, s:I, s:I, s:s, s:o}", "ok", 1, "entries", (json_int_t)chain->count,
                                    "head_id", (json_int_t)(last ? chain->last_id : 0), "head_hash",
                                    last ? last->last_hash : "", "heads", fcrctl_verify_heads(chain));
        if (r && ctl->checkpoints && json_object_set_new(r, "checkpoints", json_integer((json_int_t)ctl->checkpoints->lines)) != 0) {
            json_decref(r);
            r = NULL;
        }
        char *s = r ? json_dumps(r, JSON_COMPACT) : NULL;
        if (s)
            fprintf(ctl->out, "%s\n", s);
        free(s);
        json_decref(r);
        if (!s) {
            fcrctl_say("out of memory");
            return FCRCTL_EXIT_FAILURE;
        }
    } else if (why) {
        if (bad_id >= 0)
            fprintf(ctl->out, "audit chain BROKEN at entry %lld: %s\n", bad_id, why);
        else
            fprintf(ctl->out, "audit chain BROKEN after entry %lld: %s\n", chain->count ? chain->last_id : 0, why);
        fprintf(ctl->out, "entries before it checked good: %lld\n", chain->count);
    } else {
        fprintf(ctl->out, "audit chain OK: %lld entries\n", chain->count);
        if (ctl->checkpoints)
            fprintf(ctl->out, "checkpoints OK: %zu signed checkpoint(s), %zu chain head(s) found with their hashes\n",
                    ctl->checkpoints->lines, ctl->checkpoints->n);
        for (int n = 1; n <= FCRCTL_CHAIN_MAX; n++) {
            const struct fcrctl_chain_head *h = fcrctl_chain_head(chain, n);
            if (h->count > 0)
                fprintf(ctl->out, "head: %lld:%s\n", h->last_id, h->last_hash);
        }
    }
    return why ? FCRCTL_EXIT_CHAIN : FCRCTL_EXIT_OK;
}

/* The whole trail, page by page, oldest first; only each chain's head is kept between pages. */
static int fcrctl_verify_walk(struct fcrctl *ctl, struct fcrctl_checkpoints *ck);

/* With --checkpoints, their signatures first: a file that does not verify is not worth walking
 * the trail for. */
static int fcrctl_cmd_audit_verify(struct fcrctl *ctl)
{
    if (!ctl->args->checkpoints)
        return fcrctl_verify_walk(ctl, NULL);
    struct fcrctl_checkpoints ck;
    char why[1024];
    int rc = fcrctl_checkpoints_load(&ck, ctl->args->checkpoints, ctl->args->pubkey, why, sizeof(why));
    if (rc == FCRCTL_EXIT_CHAIN) {
        fprintf(ctl->out, "audit checkpoints BROKEN: %s\n", why);
        return rc;
    }
    if (rc != 0) {
        fcrctl_say("%s", why);
        return rc;
    }
    if (ck.other > 0)
        fcrctl_say("%zu checkpointed head(s) of chains other than the audit trail's are not checked here", ck.other);
    ctl->checkpoints = &ck;
    rc = fcrctl_verify_walk(ctl, &ck);
    ctl->checkpoints = NULL;
    fcrctl_checkpoints_clear(&ck);
    return rc;
}

/* The item just added to chain, checked against the checkpoints (when given). */
static int fcrctl_verify_checkpointed(struct fcrctl_checkpoints *ck, const struct fcrctl_chain *chain, long long id,
                                      char *why, size_t whylen)
{
    if (!ck)
        return 0;
    const struct fcrctl_chain_head *h = fcrctl_chain_head(chain, chain->last_chain);
    return fcrctl_checkpoints_entry(ck, id, chain->last_chain, h->last_hash, why, whylen);
}

static int fcrctl_verify_walk(struct fcrctl *ctl, struct fcrctl_checkpoints *ck)
{
    struct fcrctl_chain chain;
    fcrctl_chain_init(&chain);
    char why_anchor[256];
    if (ctl->args->anchor && fcrctl_chain_set_anchors(&chain, ctl->args->anchor, why_anchor, sizeof(why_anchor)) != 0) {
        fcrctl_say("--anchor: %s", why_anchor);
        return FCRCTL_EXIT_USAGE;
    }
    char *cursor = NULL;
    for (;;) {
        char *target = strdup("/v1/audit");
        if (!target || fcrctl_http_query_add(&target, "limit", FCRCTL_VERIFY_PAGE) != 0 ||
            (cursor && fcrctl_http_query_add(&target, "after", cursor) != 0)) {
            free(target);
            free(cursor);
            fcrctl_say("out of memory");
            return FCRCTL_EXIT_FAILURE;
        }
        json_t *doc;
        struct fcrctl_http_reply reply;
        int rc = fcrctl_call(ctl, "GET", target, NULL, &doc, &reply);
        free(target);
        fcrctl_http_reply_clear(&reply);
        if (rc != 0) {
            free(cursor);
            return rc;
        }
        const json_t *items = json_object_get(doc, "items");
        const json_t *next = json_object_get(doc, "next");
        if (!json_is_array(items)) {
            json_decref(doc);
            free(cursor);
            fcrctl_say("the reply is not a list (no items array)");
            return FCRCTL_EXIT_FAILURE;
        }
        size_t i;
        const json_t *item;
        json_array_foreach(items, i, item)
        {
            char why[1024];
            long long id;
            if (fcrctl_chain_add(&chain, item, &id, why, sizeof(why)) != 0 ||
                fcrctl_verify_checkpointed(ck, &chain, id, why, sizeof(why)) != 0) {
                json_decref(doc);
                free(cursor);
                return fcrctl_verify_result(ctl, &chain, id, why);
            }
        }
        const char *n = json_is_string(next) ? json_string_value(next) : NULL;
        bool again = n && json_array_size(items) > 0;
        if (again && cursor && strcmp(cursor, n) == 0) {
            json_decref(doc);
            free(cursor);
            fcrctl_say("the server returned the same cursor twice; stopping");
            return FCRCTL_EXIT_FAILURE;
        }
        free(cursor);
        cursor = again ? strdup(n) : NULL;
        json_decref(doc);
        if (!again)
            break;
        if (!cursor) {
            fcrctl_say("out of memory");
            return FCRCTL_EXIT_FAILURE;
        }
    }
    char why[1024];
    if (fcrctl_chain_finish(&chain, why, sizeof(why)) != 0 || (ck && fcrctl_checkpoints_finish(ck, why, sizeof(why)) != 0))
        return fcrctl_verify_result(ctl, &chain, -1, why);
    return fcrctl_verify_result(ctl, &chain, -1, NULL);
}

static int fcrctl_cmd_report(struct fcrctl *ctl)
{
    static const char *const skip[] = {"strata", NULL};
    char *target = strdup("/v1/reports/cdi");
    if (!target || fcrctl_http_query_add(&target, "from", ctl->args->from) != 0 ||
        fcrctl_http_query_add(&target, "to", ctl->args->to) != 0) {
        free(target);
        fcrctl_say("out of memory");
        return FCRCTL_EXIT_FAILURE;
    }
    json_t *doc;
    struct fcrctl_http_reply reply;
    int rc = fcrctl_call(ctl, "GET", target, NULL, &doc, &reply);
    free(target);
    if (rc == 0 && ctl->args->json) {
        fcrctl_print_raw(ctl, &reply);
    } else if (rc == 0) {
        fcrctl_table_print_fields(doc, skip, ctl->out);
        if (fcrctl_print_section(ctl, "strata", json_object_get(doc, "strata"), COLS(strata_cols)) != 0)
            rc = FCRCTL_EXIT_FAILURE;
    }
    json_decref(doc);
    fcrctl_http_reply_clear(&reply);
    return rc;
}

/* ---- whatif: a streamed reply ----------------------------------------------------------------- */

#define FCRCTL_WHATIF_MAX_FILE ((long)1 << 20)
#define FCRCTL_WHATIF_MAX_LINE ((size_t)16 << 20)

static const struct fcrctl_table_column whatif_cols[] = {
    {"INCIDENT", NULL},       {"ALLEGATION", NULL},    {"BEFORE", NULL},
    {"OFFENCE_BEFORE", NULL}, {"CRN", NULL},           {"AFTER", NULL},
    {"OFFENCE_AFTER", NULL},
};
static const struct fcrctl_table_column whatif_category_cols[] = {{"CATEGORY", NULL}, {"CHANGED", NULL}};

/* The lines of a what-if reply as they arrive: changes gathered into a table (or, with --json,
 * each line printed as it comes), progress on stderr, the summary or error kept for the end. */
struct fcrctl_whatif {
    struct fcrctl *ctl;
    struct fcrctl_table *changes;
    json_t *summary, *error;
    char *partial; /* a line not yet ended */
    size_t plen;
    bool tty;      /* progress rewrites one stderr line */
    int shown;     /* tenths of the total last shown (not a tty) */
    bool failed;
};

static void fcrctl_whatif_progress(struct fcrctl_whatif *w, const json_t *p)
{
    json_int_t done = json_integer_value(json_object_get(p, "done"));
    json_int_t total = json_integer_value(json_object_get(p, "total"));
    json_int_t changed = json_integer_value(json_object_get(p, "changed"));
    int tenth = total > 0 ? (int)(done * 10 / total) : 10;
    if (w->tty) {
        fprintf(stderr, "\rwhatif: %lld of %lld incidents replayed, %lld changes", (long long)done, (long long)total,
                (long long)changed);
    } else if (tenth != w->shown) {
        w->shown = tenth;
        fprintf(stderr, "whatif: %lld of %lld incidents replayed, %lld changes\n", (long long)done, (long long)total,
                (long long)changed);
    }
    fflush(stderr);
}

static void fcrctl_whatif_change(struct fcrctl_whatif *w, const json_t *c)
{
    const json_t *b = json_object_get(c, "before"), *a = json_object_get(c, "after");
    const json_t *v[7] = {json_object_get(c, "incident_id"), json_object_get(c, "allegation"),
                          json_object_get(b, "outcome"),     json_object_get(b, "offence"),
                          json_object_get(b, "crn"),         json_object_get(a, "outcome"),
                          json_object_get(a, "offence")};
    char *cells[7] = {NULL};
    bool ok = true;
    for (int i = 0; i < 7; i++)
        ok = (cells[i] = fcrctl_table_cell(v[i])) != NULL && ok;
    if (!ok || fcrctl_table_add_row(w->changes, (const char *const *)cells) != 0)
        w->failed = true;
    for (int i = 0; i < 7; i++)
        free(cells[i]);
}

static void fcrctl_whatif_line(struct fcrctl_whatif *w, const char *line, size_t len)
{
    if (len == 0)
        return;
    if (w->ctl->args->json) {
        fwrite(line, 1, len, w->ctl->out);
        fputc('\n', w->ctl->out);
    }
    json_t *doc = json_loadb(line, len, 0, NULL);
    const json_t *x;
    if ((x = json_object_get(doc, "progress")) != NULL) {
        fcrctl_whatif_progress(w, x);
    } else if ((x = json_object_get(doc, "change")) != NULL) {
        if (!w->ctl->args->json)
            fcrctl_whatif_change(w, x);
    } else if ((x = json_object_get(doc, "summary")) != NULL) {
        json_decref(w->summary);
        w->summary = json_incref((json_t *)x);
    } else if ((x = json_object_get(doc, "error")) != NULL) {
        json_decref(w->error);
        w->error = json_incref((json_t *)x);
    } else {
        w->failed = true; /* not a line this version knows */
    }
    json_decref(doc);
}

static int fcrctl_whatif_chunk(void *arg, const char *data, size_t len)
{
    struct fcrctl_whatif *w = arg;
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) : len;
        if (w->plen + take > FCRCTL_WHATIF_MAX_LINE) {
            w->failed = true;
            return -1;
        }
        char *grown = realloc(w->partial, w->plen + take + 1);
        if (!grown) {
            w->failed = true;
            return -1;
        }
        w->partial = grown;
        memcpy(w->partial + w->plen, data, take);
        w->plen += take;
        if (!nl)
            break;
        fcrctl_whatif_line(w, w->partial, w->plen);
        w->plen = 0;
        data = nl + 1;
        len -= take + 1;
    }
    return 0;
}

/* The file's text as a JSON document; NULL (said why) when it cannot be read or is not JSON. */
static json_t *fcrctl_whatif_file(const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        fcrctl_say("cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    json_error_t jerr;
    json_t *doc = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
    long size = ftell(f);
    if (f != stdin)
        fclose(f);
    if (!doc) {
        fcrctl_say("%s: line %d column %d: %s", path, jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(doc) || size > FCRCTL_WHATIF_MAX_FILE) {
        fcrctl_say("%s: %s", path, json_is_object(doc) ? "larger than 1 MiB" : "not a rule-set document (a JSON object)");
        json_decref(doc);
        return NULL;
    }
    return doc;
}

static int fcrctl_whatif_finish(struct fcrctl_whatif *w)
{
    struct fcrctl *ctl = w->ctl;
    if (w->tty)
        fputc('\n', stderr);
    if (w->error) {
        char *msg = fcrctl_table_cell(json_object_get(w->error, "message"));
        fcrctl_say("the run stopped: %s", msg ? msg : "?");
        free(msg);
        return FCRCTL_EXIT_UNAVAILABLE;
    }
    if (!w->summary || w->failed) {
        fcrctl_say("the reply ended without a summary, or held a line that cannot be read");
        return FCRCTL_EXIT_FAILURE;
    }
    if (ctl->args->json)
        return 0;
    if (fcrctl_table_rows(w->changes) > 0)
        fcrctl_table_print(w->changes, ctl->out);
    else
        fprintf(ctl->out, "no allegation would change\n");
    static const char *const skip[] = {"by_category", NULL};
    fputc('\n', ctl->out);
    fcrctl_table_print_fields(w->summary, skip, ctl->out);
    const json_t *cats = json_object_get(w->summary, "by_category");
    if (json_object_size(cats) == 0)
        return 0;
    struct fcrctl_table *t = fcrctl_table_new(COLS(whatif_category_cols));
    const char *cat;
    json_t *n;
    int rc = t ? 0 : -1;
    json_object_foreach((json_t *)cats, cat, n)
    {
        char *cells[2] = {fcrctl_table_safe(cat), fcrctl_table_cell(n)};
        if (rc == 0 && (!cells[0] || !cells[1] || fcrctl_table_add_row(t, (const char *const *)cells) != 0))
            rc = -1;
        free(cells[0]);
        free(cells[1]);
    }
    if (rc == 0) {
        fputc('\n', ctl->out);
        fcrctl_table_print(t, ctl->out);
    }
    fcrctl_table_free(t);
    return rc == 0 ? 0 : FCRCTL_EXIT_FAILURE;
}

static int fcrctl_cmd_whatif(struct fcrctl *ctl)
{
    json_t *rs = fcrctl_whatif_file(ctl->args->target);
    if (!rs)
        return FCRCTL_EXIT_USAGE;
    json_t *body = json_pack("{s:o, s:s, s:s}", "ruleset", rs, "from", ctl->args->from, "to", ctl->args->to);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    struct fcrctl_whatif w = {.ctl = ctl, .changes = fcrctl_table_new(COLS(whatif_cols)), .tty = isatty(2) == 1,
                              .shown = -1};
    if (!text || !w.changes) {
        free(text);
        fcrctl_table_free(w.changes);
        fcrctl_say("out of memory");
        return FCRCTL_EXIT_FAILURE;
    }
    struct fcrctl_http_reply reply;
    int rc = fcrctl_http_stream(ctl->http, "POST", "/v1/whatif", text, fcrctl_whatif_chunk, &w, &reply);
    free(text);
    if (rc == 0 && reply.status == 200) {
        if (w.plen > 0)
            fcrctl_whatif_line(&w, w.partial, w.plen);
        rc = fcrctl_whatif_finish(&w);
    } else if (rc == 0 || strcmp(reply.error, "stopped") != 0) {
        /* said as of a read: a what-if changes nothing, whatever became of the request */
        rc = fcrctl_fail_reply(ctl, "GET", &reply);
    } else {
        rc = fcrctl_whatif_finish(&w);
    }
    fcrctl_http_reply_clear(&reply);
    fcrctl_table_free(w.changes);
    json_decref(w.summary);
    json_decref(w.error);
    free(w.partial);
    return rc;
}

/* ---- start-up ------------------------------------------------------------------------------- */

static char *fcrctl_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* fcrctl_tls_env: $FCRD_CA, $FCRD_CERT and $FCRD_KEY where the command line left them out. Only
 * for an https URL, so that a shell that sets them for one server does not break plain http to
 * another. There is no variable for --insecure: not checking must be asked for each time. A
 * certificate and key come together, from the command line or from the environment. */
static void fcrctl_tls_env(struct fcrctl_tls_options *tls)
{
    const char *ca = getenv("FCRD_CA"), *cert = getenv("FCRD_CERT"), *key = getenv("FCRD_KEY");
    if (!tls->ca && !tls->insecure && ca && *ca)
        tls->ca = ca;
    if (!tls->cert && cert && *cert) {
        tls->cert = cert;
        tls->key = key && *key ? key : NULL;
    }
}

/* The token: the first line of --token-file ("-": standard input), else $FCRD_TOKEN, else none.
 * Never from an argument, which other users could read in the process list. Returns 0 with
 * *out (malloc'd or NULL), or an exit status. */
static int fcrctl_token(const struct fcrctl_args *a, char **out)
{
    *out = NULL;
    if (!a->token_file) {
        const char *env = getenv("FCRD_TOKEN");
        if (!env)
            return 0;
        char *copy = strdup(env);
        char *t = copy ? fcrctl_trim(copy) : NULL;
        if (t && *t && !(*out = strdup(t)))
            t = NULL;
        if (copy)
            memset(copy, 0, strlen(copy));
        free(copy);
        if (!t) {
            fcrctl_say("out of memory");
            return FCRCTL_EXIT_FAILURE;
        }
        return 0;
    }
    bool std_in = strcmp(a->token_file, "-") == 0;
    FILE *f = std_in ? stdin : fopen(a->token_file, "r");
    if (!f) {
        fcrctl_say("cannot open the token file %s: %s", a->token_file, strerror(errno));
        return FCRCTL_EXIT_USAGE;
    }
    char line[FCRCTL_TOKEN_MAX];
    bool got = fgets(line, sizeof(line), f) != NULL;
    if (!std_in)
        fclose(f);
    char *t = got ? fcrctl_trim(line) : NULL;
    if (!t || !*t) {
        fcrctl_say("the token file %s is empty", a->token_file);
        return FCRCTL_EXIT_USAGE;
    }
    *out = strdup(t);
    memset(line, 0, sizeof(line));
    if (!*out) {
        fcrctl_say("out of memory");
        return FCRCTL_EXIT_FAILURE;
    }
    return 0;
}

/* token hash: the first line of standard input, trimmed, in the hashed form of the tokens file.
 * Nothing is sent; the token is wiped from memory once hashed. */
static int fcrctl_cmd_token_hash(void)
{
    if (isatty(STDIN_FILENO))
        fputs("token (then Enter): ", stderr);
    char line[FCRCTL_TOKEN_MAX];
    bool got = fgets(line, sizeof(line), stdin) != NULL;
    char *t = got ? fcrctl_trim(line) : NULL;
    if (!t || !*t) {
        memset(line, 0, sizeof(line));
        fcrctl_say("token hash: no token on standard input");
        return FCRCTL_EXIT_USAGE;
    }
    char out[TOKENS_HASH_TEXT_LEN + 1], err[256];
    int rc = tokens_hash(t, out, sizeof(out), err, sizeof(err));
    memset(line, 0, sizeof(line));
    if (rc != 0) {
        fcrctl_say("token hash: %s", err);
        return FCRCTL_EXIT_USAGE;
    }
    printf("%s\n", out);
    return FCRCTL_EXIT_OK;
}

/* audit keygen: nothing is sent; the key id is printed, as the checkpoints will carry it. */
static int fcrctl_cmd_audit_keygen(const struct fcrctl_args *a)
{
    char key_id[CHECKPOINT_KEY_ID_LEN], why[600];
    int rc = fcrctl_keygen_write(a->out, key_id, why, sizeof(why));
    if (rc != 0) {
        fcrctl_say("audit keygen: %s", why);
        return rc;
    }
    printf("private key: %s (mode 600: give it to fcrd's user, [audit] checkpoint_key)\n"
           "public key:  %s.pub (keep a copy away from this machine, for 'audit verify --pubkey')\n"
           "key id:      %s\n",
           a->out, a->out, key_id);
    return FCRCTL_EXIT_OK;
}

static int fcrctl_cmd_access_log(struct fcrctl *ctl)
{
    const struct fcrctl_args *a = ctl->args;
    char *target = strdup("/v1/access-log");
    char limit[24];
    snprintf(limit, sizeof(limit), "%ld", a->limit);
    if (!target || (a->user && fcrctl_http_query_add(&target, "user", a->user) != 0) ||
        (a->incident && fcrctl_http_query_add(&target, "incident_id", a->incident) != 0) ||
        (a->ref && fcrctl_http_query_add(&target, "ref", a->ref) != 0) ||
        (a->from && fcrctl_http_query_add(&target, "from", a->from) != 0) ||
        (a->to && fcrctl_http_query_add(&target, "to", a->to) != 0) ||
        (a->limit && fcrctl_http_query_add(&target, "limit", limit) != 0)) {
        free(target);
        fcrctl_say("out of memory");
        return FCRCTL_EXIT_FAILURE;
    }
    json_t *items;
    bool more;
    int rc = fcrctl_list(ctl, target, a->all, &items, &more);
    free(target);
    if (rc == 0 && !a->json) {
        if (json_array_size(items) == 0)
            fcrctl_say("no access records");
        else if (fcrctl_print_section(ctl, NULL, items, COLS(access_cols)) != 0)
            rc = FCRCTL_EXIT_FAILURE;
    }
    if (rc == 0 && more)
        fcrctl_say("more access records than shown: --all fetches every page");
    json_decref(items);
    return rc;
}

/* The export, as it came, into a file only its owner may read: it is a person's whole record. */
static int fcrctl_subject_write(const char *path, const struct fcrctl_http_reply *r)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || fchmod(fd, 0600) != 0) {
        fcrctl_say("cannot write %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return FCRCTL_EXIT_FAILURE;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        fcrctl_say("cannot write %s: %s", path, strerror(errno));
        return FCRCTL_EXIT_FAILURE;
    }
    fwrite(r->body, 1, r->len, f);
    if (r->len == 0 || r->body[r->len - 1] != '\n')
        fputc('\n', f);
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0 || bad) {
        fcrctl_say("cannot write %s", path);
        return FCRCTL_EXIT_FAILURE;
    }
    return 0;
}

static const struct fcrctl_table_column subject_cols[] = {
    {"INCIDENT", NULL}, {"PERSONS", NULL}, {"ALLEGATIONS", NULL}, {"CRIMES", NULL}, {"PENDING", NULL}, {"AUDIT", NULL},
};

/* A line per incident: how much the export holds of each kind. */
static int fcrctl_subject_summary(const struct fcrctl *ctl, const json_t *doc)
{
    static const char *const kinds[] = {"persons", "allegations", "crimes", "pending", "audit"};
    const json_t *incidents = json_object_get(doc, "incidents");
    if (json_array_size(incidents) == 0) {
        fcrctl_say("nothing is held about this person");
        return 0;
    }
    struct fcrctl_table *t = fcrctl_table_new(COLS(subject_cols));
    size_t i;
    const json_t *inc;
    int rc = t ? 0 : -1;
    json_array_foreach(incidents, i, inc)
    {
        if (rc != 0)
            break;
        char counts[5][24];
        const char *cells[6] = {json_string_value(json_object_get(inc, "incident_id"))};
        for (size_t k = 0; k < 5; k++) {
            snprintf(counts[k], sizeof(counts[k]), "%zu", json_array_size(json_object_get(inc, kinds[k])));
            cells[k + 1] = counts[k];
        }
        if (!cells[0])
            cells[0] = "-";
        rc = fcrctl_table_add_row(t, cells);
    }
    if (rc == 0)
        fcrctl_table_print(t, ctl->out);
    fcrctl_table_free(t);
    return rc;
}

static int fcrctl_cmd_subject(struct fcrctl *ctl)
{
    char *target = fcrctl_path("/v1/subjects/", ctl->args->target, "");
    if (!target)
        return FCRCTL_EXIT_FAILURE;
    json_t *doc;
    struct fcrctl_http_reply reply;
    int rc = fcrctl_call(ctl, "GET", target, NULL, &doc, &reply);
    free(target);
    if (rc == 0 && ctl->args->out)
        rc = fcrctl_subject_write(ctl->args->out, &reply);
    if (rc == 0 && ctl->args->json && !ctl->args->out)
        fcrctl_print_raw(ctl, &reply);
    else if (rc == 0 && !ctl->args->json && fcrctl_subject_summary(ctl, doc) != 0)
        rc = FCRCTL_EXIT_FAILURE;
    json_decref(doc);
    fcrctl_http_reply_clear(&reply);
    return rc;
}

/* ---- retention ------------------------------------------------------------------------------ */

static const struct fcrctl_table_column retention_cols[] = {
    {"INCIDENT", "incident_id"}, {"PERIOD", "period"}, {"SECONDS", "seconds"},
    {"SINCE", "since"}, {"OLD_ENTRIES", "old_entries"}, {"REDACTED", "redacted"},
};

static int fcrctl_cmd_retention(struct fcrctl *ctl)
{
    json_t *body = json_pack("{s:b}", "dry_run", ctl->args->dry_run);
    json_t *doc;
    struct fcrctl_http_reply reply;
    int rc = body ? fcrctl_call(ctl, "POST", "/v1/retention/run", body, &doc, &reply) : FCRCTL_EXIT_FAILURE;
    json_decref(body);
    if (rc != 0)
        return rc;
    if (ctl->args->json) {
        fcrctl_print_raw(ctl, &reply);
    } else {
        rc = fcrctl_print_section(ctl, ctl->args->dry_run ? "due" : "incidents", json_object_get(doc, "incidents"),
                                  COLS(retention_cols));
        fprintf(ctl->out, "%s: %lld due, %lld redacted\n", ctl->args->dry_run ? "dry run" : "run",
                json_integer_value(json_object_get(doc, "due")), json_integer_value(json_object_get(doc, "redacted")));
    }
    json_decref(doc);
    fcrctl_http_reply_clear(&reply);
    return rc;
}

static int fcrctl_run(struct fcrctl *ctl)
{
    switch (ctl->args->cmd) {
    case FCRCTL_CMD_PENDING:
        return fcrctl_cmd_pending(ctl);
    case FCRCTL_CMD_SHOW:
        return fcrctl_cmd_show(ctl);
    case FCRCTL_CMD_CRIME:
        return fcrctl_cmd_crime(ctl);
    case FCRCTL_CMD_DECIDE:
        return fcrctl_cmd_decide(ctl);
    case FCRCTL_CMD_CANCEL:
        return fcrctl_cmd_cancel(ctl);
    case FCRCTL_CMD_RECLASSIFY:
        return fcrctl_cmd_reclassify(ctl);
    case FCRCTL_CMD_AUDIT:
        return fcrctl_cmd_audit(ctl);
    case FCRCTL_CMD_AUDIT_VERIFY:
        return fcrctl_cmd_audit_verify(ctl);
    case FCRCTL_CMD_REPORT:
        return fcrctl_cmd_report(ctl);
    case FCRCTL_CMD_WHATIF:
        return fcrctl_cmd_whatif(ctl);
    case FCRCTL_CMD_ACCESS_LOG:
        return fcrctl_cmd_access_log(ctl);
    case FCRCTL_CMD_SUBJECT:
        return fcrctl_cmd_subject(ctl);
    case FCRCTL_CMD_RETENTION:
        return fcrctl_cmd_retention(ctl);
    default:
        return FCRCTL_EXIT_USAGE;
    }
}

int main(int argc, char **argv)
{
    struct fcrctl_args args;
    char err[512];
    if (fcrctl_args_parse(&args, argc, argv, err, sizeof(err)) != 0) {
        fcrctl_say("%s (try 'fcrctl --help')", err);
        return FCRCTL_EXIT_USAGE;
    }
    if (args.cmd == FCRCTL_CMD_HELP) {
        fcrctl_args_usage(stdout);
        return fflush(stdout) == 0 ? FCRCTL_EXIT_OK : FCRCTL_EXIT_FAILURE;
    }
    if (args.cmd == FCRCTL_CMD_VERSION) {
        printf("fcrctl %s\n", FCRD_VERSION);
        return fflush(stdout) == 0 ? FCRCTL_EXIT_OK : FCRCTL_EXIT_FAILURE;
    }
    if (args.cmd == FCRCTL_CMD_TOKEN_HASH || args.cmd == FCRCTL_CMD_AUDIT_KEYGEN) {
        int rc = args.cmd == FCRCTL_CMD_TOKEN_HASH ? fcrctl_cmd_token_hash() : fcrctl_cmd_audit_keygen(&args);
        if (fflush(stdout) != 0 || ferror(stdout))
            return rc ? rc : FCRCTL_EXIT_FAILURE;
        return rc;
    }
    const char *url = args.url;
    if (!url) {
        url = getenv("FCRD_URL");
        if (!url || !*url)
            url = FCRCTL_DEFAULT_URL;
    }
    char *token;
    int rc = fcrctl_token(&args, &token);
    if (rc != 0)
        return rc;
    struct fcrctl_tls_options tls = {args.ca, args.cert, args.key, args.insecure};
    bool https = strncmp(url, "https://", 8) == 0;
    if (https)
        fcrctl_tls_env(&tls);
    if (https && tls.insecure)
        fcrctl_say("warning: --insecure: the server's certificate and name are not checked, so whoever sits "
                   "between here and %s can read the token and change the replies", url);
    struct fcrctl ctl = {.args = &args, .out = stdout};
    rc = fcrctl_http_new(&ctl.http, url, token, (int)args.timeout, &tls, err, sizeof(err));
    if (token)
        memset(token, 0, strlen(token));
    free(token);
    if (rc != 0) {
        fcrctl_say("%s", err);
        return rc;
    }
    /* A server that closes the connection mid-request must give an error, not kill us. */
    signal(SIGPIPE, SIG_IGN);
    rc = fcrctl_run(&ctl);
    ctl.http = fcrctl_http_free(ctl.http);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (errno != EPIPE)
            fcrctl_say("cannot write the output: %s", strerror(errno));
        return rc ? rc : FCRCTL_EXIT_FAILURE;
    }
    return rc;
}
