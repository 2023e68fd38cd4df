/* fuzz_rules.c: libFuzzer target for the recording rules: a stream of feed lines (and people's
 * decisions) parsed, validated and applied to incident states the way the store does it, with the
 * pure engine only (rules_apply, rules_act). No I/O.
 *
 * Input: lines separated by '\n'. A line starting with '!' is a person's decision, JSON:
 *   {"incident": ID, "action": "decide"|"cancel"|"reclassify", "pick": N, "body": {...}, "role": R}
 * where pick chooses the Nth pending item (decide) or crime (cancel, reclassify) of the incident;
 * the body is filtered as the API's field tables filter it before rules_act sees it. Any other
 * line is a feed event; duplicates and seq conflicts are skipped as the store skips them.
 *
 * Checked besides memory safety: rules_apply returns 0 or 1 and rules_act 0 or an HTTP status;
 * a failure carries a code; a success returns a state whose last_seq is the event's seq; the feed
 * never removes a crime or changes the status of one (only people cancel or transfer); crime
 * references are unique; every crime and pending item named in an outcome is in the new state;
 * the outcome has the reply's shape and serialises; the state survives a JSON round trip. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed/feed_event.h"
#include "store/incident.h"
#include "feed/feed_reply.h"
#include "rules/rules.h"
#include "rules/rules_act.h"
#include "rules/ruleset.h"

#define FUZZ_MAX_LINES 48

#define FUZZ_NAME "fuzz_rules"
#include "fuzz_check.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The rule set is read once per process; the fuzzer's state is otherwise per input. */
static struct ruleset *fuzz_rules_rs;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *path = getenv("FCRD_FUZZ_RULES");
    char buf[4096];
    if (!path) {
        const char *root = getenv("FCRD_SOURCE_ROOT");
        snprintf(buf, sizeof buf, "%s/conf/rules/hocr-2025.json", root ? root : ".");
        path = buf;
    }
    char err[1024];
    if (ruleset_load(path, &fuzz_rules_rs, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_rules: cannot load the rule set %s: %s (set FCRD_SOURCE_ROOT or FCRD_FUZZ_RULES)\n",
                path, err);
        exit(2);
    }
    return 0;
}

struct fuzz_rules_run {
    json_t *states; /* incident id -> state */
    json_t *seen;   /* event id -> canonical text */
    json_t *crns;   /* every CRN handed out -> incident id */
    int64_t serial;
};

static int64_t fuzz_rules_next_serial(void *arg)
{
    return ++((struct fuzz_rules_run *)arg)->serial;
}

static const char *fuzz_rules_str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}


static json_t *fuzz_rules_find(const json_t *arr, const char *key, const char *value)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        const char *v = fuzz_rules_str(e, key);
        if (v && value && strcmp(v, value) == 0)
            return e;
    }
    return NULL;
}

/* What must hold between an incident's state before and after any change. */
static void fuzz_rules_check_state(struct fuzz_rules_run *r, const char *incident, const json_t *old, const json_t *now,
                             bool by_feed)
{
    FUZZ_CHECK(json_is_object(now), "no new state");
    const char *id = fuzz_rules_str(now, "incident_id");
    FUZZ_CHECK(id && strcmp(id, incident) == 0, "state of %s names %s", incident, id ? id : "(none)");
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(old, "crimes"), i, c) {
        json_t *n = fuzz_rules_find(json_object_get(now, "crimes"), "crn", fuzz_rules_str(c, "crn"));
        FUZZ_CHECK(n != NULL, "crime %s vanished from %s", fuzz_rules_str(c, "crn"), incident);
        if (by_feed)
            FUZZ_CHECK(json_equal(json_object_get(c, "status"), json_object_get(n, "status")),
                       "the feed changed the status of crime %s from %s to %s", fuzz_rules_str(c, "crn"), fuzz_rules_str(c, "status"),
                       fuzz_rules_str(n, "status"));
    }
    json_t *local = json_object();
    json_array_foreach(json_object_get(now, "crimes"), i, c) {
        const char *crn = fuzz_rules_str(c, "crn");
        const char *status = fuzz_rules_str(c, "status");
        FUZZ_CHECK(crn && *crn, "a crime without a CRN in %s", incident);
        FUZZ_CHECK(fuzz_rules_str(c, "offence") != NULL, "crime %s without an offence", crn);
        FUZZ_CHECK(status && (!strcmp(status, "recorded") || !strcmp(status, "cancelled") ||
                              !strcmp(status, "transferred")),
                   "crime %s status %s", crn, status ? status : "(none)");
        FUZZ_CHECK(!json_object_get(local, crn), "CRN %s twice in %s", crn, incident);
        json_object_set_new(local, crn, json_true());
        const char *owner = fuzz_rules_str(r->crns, crn);
        FUZZ_CHECK(!owner || strcmp(owner, incident) == 0, "CRN %s in both %s and %s", crn, owner, incident);
        json_object_set_new(r->crns, crn, json_string(incident));
    }
    json_decref(local);
    char *text = json_dumps(now, JSON_COMPACT);
    FUZZ_CHECK(text != NULL, "the state does not serialise");
    json_t *back = json_loads(text, 0, NULL);
    FUZZ_CHECK(back && json_equal(back, now), "the state does not survive a JSON round trip");
    json_decref(back);
    free(text);
}

static void fuzz_rules_check_outcome(const json_t *out, const json_t *now, const struct feed_event *ev)
{
    static const char *const arrays[] = {"crimes", "decisions", "pending", "audit"};
    for (size_t k = 0; k < sizeof arrays / sizeof arrays[0]; k++)
        FUZZ_CHECK(!json_object_get(out, arrays[k]) || json_is_array(json_object_get(out, arrays[k])),
                   "outcome %s is not an array", arrays[k]);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(out, "crimes"), i, e)
        FUZZ_CHECK(fuzz_rules_find(json_object_get(now, "crimes"), "crn", fuzz_rules_str(e, "crn")),
                   "the outcome names crime %s, not in the state", fuzz_rules_str(e, "crn"));
    json_array_foreach(json_object_get(out, "pending"), i, e) {
        json_t *p = fuzz_rules_find(json_object_get(now, "pending"), "id", fuzz_rules_str(e, "id"));
        FUZZ_CHECK(p && !strcmp(fuzz_rules_str(p, "status") ? fuzz_rules_str(p, "status") : "", "open"),
                   "the outcome lists pending %s, which is not open in the state", fuzz_rules_str(e, "id"));
    }
    json_array_foreach(json_object_get(out, "audit"), i, e)
        FUZZ_CHECK(fuzz_rules_str(e, "action") != NULL, "an audit entry without an action");
    json_t *reply = feed_reply_outcome("accepted", ev->event_id, ev->incident_id, out);
    size_t len;
    char *line = feed_reply_line(reply, &len);
    FUZZ_CHECK(line != NULL, "the reply does not serialise");
    free(line);
    json_decref(reply);
}

static void fuzz_rules_event_line(struct fuzz_rules_run *r, const char *line, size_t len)
{
    struct feed_event ev;
    struct feed_event_error err;
    if (feed_event_parse(line, len, NULL, &ev, &err) != 0) {
        feed_event_error_clear(&err);
        return;
    }
    const char *canon = fuzz_rules_str(r->seen, ev.event_id);
    json_t *state = json_object_get(r->states, ev.incident_id);
    int64_t last = json_integer_value(json_object_get(state, "last_seq"));
    if (canon || (state && ev.seq <= last)) { /* the store answers duplicate / conflict */
        feed_event_clear(&ev);
        return;
    }
    json_t *linked = incident_linked(r->states, ev.doc, state, ev.incident_id); /* as the store does */
    struct rules_env env = {fuzz_rules_rs, "FZ", fuzz_rules_next_serial, r};
    json_t *ns = NULL, *out = NULL;
    memset(&err, 0, sizeof err);
    int rc = rules_apply(&env, state, json_object_size(linked) ? linked : NULL, &ev, &ns, &out, &err);
    json_decref(linked);
    FUZZ_CHECK(rc == 0 || rc == 1, "rules_apply returned %d", rc);
    if (rc == 1) {
        FUZZ_CHECK(err.code != NULL, "a rejection without a code");
        FUZZ_CHECK(ns == NULL && out == NULL, "a rejection allocated a state");
        json_t *rep = feed_reply_error("rejected", ev.event_id, ev.incident_id, err.code, err.message, err.field);
        FUZZ_CHECK(json_is_object(json_object_get(rep, "error")), "the rejection's text is not valid UTF-8: %s",
                   err.message);
        json_decref(rep);
        feed_event_error_clear(&err);
        feed_event_clear(&ev);
        return;
    }
    FUZZ_CHECK(json_integer_value(json_object_get(ns, "last_seq")) == ev.seq, "last_seq is not the event's seq");
    fuzz_rules_check_state(r, ev.incident_id, state, ns, true);
    fuzz_rules_check_outcome(out, ns, &ev);
    json_object_set_new(r->seen, ev.event_id, json_string(ev.canon));
    json_object_set_new(r->states, ev.incident_id, ns);
    json_decref(out);
    feed_event_clear(&ev);
}

/* Keep what the API's field tables let through: the listed keys, as non-empty strings. */
static json_t *fuzz_rules_api_body(const json_t *body, const char *action)
{
    static const char *const decide[] = {"decision", "rationale", "offence", "victim", "reason_code", "to_force", NULL};
    static const char *const cancel[] = {"reason", "rationale", "avi", "victim_informed_at", "to_force",
                                         "duplicate_of", NULL};
    static const char *const reclassify[] = {"offence", "rationale", NULL};
    const char *const *keys = !strcmp(action, "decide") ? decide : !strcmp(action, "cancel") ? cancel : reclassify;
    json_t *out = json_object();
    for (size_t i = 0; keys[i]; i++) {
        json_t *v = json_object_get(body, keys[i]);
        if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < 4000 &&
            strlen(json_string_value(v)) == json_string_length(v))
            json_object_set(out, keys[i], v);
    }
    const char *need = !strcmp(action, "decide") ? "decision" : !strcmp(action, "cancel") ? "reason" : "offence";
    if (!json_object_get(out, need) || !json_object_get(out, "rationale")) {
        json_decref(out);
        return NULL;
    }
    return out;
}

static void fuzz_rules_act_line(struct fuzz_rules_run *r, const char *line, size_t len)
{
    json_t *a = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
    const char *incident = fuzz_rules_str(a, "incident");
    const char *action = fuzz_rules_str(a, "action");
    json_t *state = incident ? json_object_get(r->states, incident) : NULL;
    if (!state || !action || (strcmp(action, "decide") && strcmp(action, "cancel") && strcmp(action, "reclassify"))) {
        json_decref(a);
        return;
    }
    static const char *const roles[] = {"supervisor", "ddm", "fcr"};
    const char *role = fuzz_rules_str(a, "role");
    if (!role || (strcmp(role, roles[0]) && strcmp(role, roles[1]) && strcmp(role, roles[2])))
        role = "fcr";
    if (strcmp(action, "decide") && !strcmp(role, "supervisor"))
        role = "ddm"; /* the API's route check comes first */
    json_t *list = json_object_get(state, !strcmp(action, "decide") ? "pending" : "crimes");
    size_t n = json_array_size(list);
    json_int_t pick = json_integer_value(json_object_get(a, "pick"));
    const char *target = n ? fuzz_rules_str(json_array_get(list, (size_t)(pick < 0 ? -pick : pick) % n),
                                 !strcmp(action, "decide") ? "id" : "crn")
                           : "no-such-target";
    json_t *body = fuzz_rules_api_body(json_object_get(a, "body"), action);
    if (!body || !target) {
        json_decref(body);
        json_decref(a);
        return;
    }
    json_t *linked = incident_others(r->states, incident); /* as the store does */
    struct rules_env env = {fuzz_rules_rs, "FZ", fuzz_rules_next_serial, r};
    struct rules_act_request req = {action, target, body, "fuzz.user", role, 1800000000000LL};
    json_t *ns = NULL, *out = NULL;
    struct feed_event_error err = {0};
    int rc = rules_act(&env, state, linked, &req, &ns, &out, &err);
    json_decref(linked);
    if (rc != 0) {
        FUZZ_CHECK(rc == 400 || rc == 403 || rc == 404 || rc == 409 || rc == 422, "rules_act returned %d", rc);
        FUZZ_CHECK(err.code != NULL, "a refusal without a code");
        FUZZ_CHECK(ns == NULL && out == NULL, "a refusal allocated a state");
        feed_event_error_clear(&err);
    } else {
        char *copy = strdup(incident);
        fuzz_rules_check_state(r, copy, state, ns, false);
        FUZZ_CHECK(json_is_object(json_object_get(out, "body")), "a decision without a response body");
        json_object_set_new(r->states, copy, ns);
        json_decref(out);
        free(copy);
    }
    json_decref(body);
    json_decref(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_rules_run r = {json_object(), json_object(), json_object(), 0};
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    size_t start = 0;
    for (int lines = 0; start <= size && lines < FUZZ_MAX_LINES; lines++) {
        char *nl = memchr(text + start, '\n', size - start);
        size_t end = nl ? (size_t)(nl - text) : size;
        text[end] = '\0';
        size_t len = end - start;
        if (len > 0 && text[end - 1] == '\r') {
            text[end - 1] = '\0';
            len--;
        }
        if (len > 0 && text[start] == '!')
            fuzz_rules_act_line(&r, text + start + 1, len - 1);
        else if (len > 0)
            fuzz_rules_event_line(&r, text + start, len);
        if (!nl)
            break;
        start = (size_t)(nl - text) + 1;
    }
    free(text);
    json_decref(r.states);
    json_decref(r.seen);
    json_decref(r.crns);
    return 0;
}
