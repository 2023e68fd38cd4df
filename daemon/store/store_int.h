/* store_int.h: what the write path's files share (store.c, store_lane.c, store_batch.c,
 * store_write.c): queued items, lanes, the store itself. Not for use outside daemon/store/. */
#ifndef FCRD_STORE_INT_H
#define FCRD_STORE_INT_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "feed/feed_event.h"
#include "store/audit.h"
#include "store/store.h"
#include "store/store_cache.h"
#include "store/store_lane.h"
#include "util/jsonwrite.h"

struct pgconn;

/* One submitted event or person's decision, queued, then carried by a lane's batch. */
struct store_item {
    struct feed_event ev; /* for a person's decision: only incident_id is set */
    json_t *act;     /* a person's decision (see store_submit_action), or NULL for a feed event */
    store_reply_fn fn;
    void *arg;
    bool in_doubt; /* its batch's COMMIT was sent but its outcome never arrived */
    int attempts;
    unsigned serial_boost; /* fetch this many times the usual serials (after its batch ran short) */
    bool read_first;       /* a direct batch that held it was refused: decide it after reading */
    json_t *reply;  /* decided in round trip 1, delivered after COMMIT */
    struct store *charged_to; /* whose store_bytes count `charge`; NULL once released */
    size_t charge;
    struct store_item *next;
};

/* A lane: one store connection and the batch it carries. Lanes run their transactions at the same
 * time, so one batch is decided in memory while another is written and committed. */
struct store_lane {
    struct store *st;
    struct pgconn *db;
    struct event *timeout; /* a round trip that takes too long */
    enum store_lane_state state; /* changed by store_lane_state_set only */
    struct store_item **batch;
    size_t nbatch;
    bool direct;          /* the batch was decided without a read round trip (kept to its end) */
    bool refill;          /* its writes' round trip also fetches serials for later batches */
    double batch_started; /* metrics_clock() when the batch in flight began */
    double commit_sent;   /* ... when its writes and COMMIT were sent; 0: no COMMIT in flight */
    /* Serials for CRNs and pending ids not yet used: serials[serial_pos .. nserials), fetched by
     * this connection's session (forgotten when it ends). */
    int64_t *serials;
    size_t nserials, serial_pos, serial_cap;
    char chain[4]; /* the audit chain this lane appends to: its number, 1 to 16 (lanes <= 16) */
    /* The batch in flight also stores its rule set (SQL_RULESET_STORE): its hash, and where the
     * statement's result is among the writes' ("" and -1 when it does not). */
    char rs_storing[RULESET_SHA256_SIZE];
    int rs_query;
    /* The states this lane's commits left (store_cache.h). The batch in flight's written states
     * (incident id -> state) wait in `written` for its COMMIT, with the row versions the write
     * statement (at write_query among the writes) gave them in `versions`. */
    struct store_cache cache;
    json_t *written, *versions;
    int write_query;
};

struct store {
    struct event_base *base;
    struct store_params p;
    char *force;
    char *conninfo;
    const struct ruleset *rs;
    /* The hash of a rule set known to be stored (sql/0010_rulesets.sql): a batch decided with
     * another one stores it in its own transaction. "" at first, so the first batch makes sure. */
    char rs_stored[RULESET_SHA256_SIZE];
    char host[256]; /* this host's name, for a rule set's loaded_by */
    struct event *kick; /* deferred: start a batch when possible */
    /* waiting items, FIFO */
    struct store_item *head, *tail;
    size_t queued;
    size_t bytes; /* charged by the items queued and in batches (store_bytes) */
    struct store_lane *lanes; /* p.lanes of them */
    /* set by store_fail_queued: how batches it abandons are answered (static strings) */
    const char *fail_code, *fail_message;
    const char *hold_code, *hold_message; /* store_set_hold: static strings, or NULL */
};

/* ---- store.c: items and the queue ---- */
struct store_item *store_item_free(struct store_item *it); /* NULL-safe; the reply is not sent */
/* store_deliver: hands `reply` (taken) to the item's sender, then frees the item. */
void store_deliver(struct store_item *it, json_t *reply);
/* store_action_reply: a person's decision's error reply (new reference). */
json_t *store_action_reply(int status, const char *code, const char *message, const char *field);
/* store_answer_retry: answers the item retry/`code` and frees it. */
void store_answer_retry(struct store_item *it, const char *code, const char *message);
void store_push_front(struct store *st, struct store_item *it);
/* store_answer_queued: answers every queued item retry/`code`, except those in doubt. */
void store_answer_queued(struct store *st, const char *code, const char *message);
/* store_schedule: start batches from the loop, soon. */
void store_schedule(struct store *st);

/* ---- store_lane.c: lanes and their round trips ---- */
/* store_lane_init: lane number k of st, with its connection (connecting at once). -1 on failure
 * (what was made is freed by store_lane_clear). */
int store_lane_init(struct store_lane *ln, struct store *st, size_t k);
void store_lane_clear(struct store_lane *ln); /* frees the batch unanswered */
/* store_lane_start: takes and starts a batch when the lane is idle and its connection ready. */
void store_lane_start(struct store_lane *ln);
/* store_lane_abandon: a batch that has not sent its COMMIT is dropped with its connection. */
void store_lane_abandon(struct store_lane *ln, const char *why);
/* store_lane_serial: the next unused serial, or false when the lane has none left. */
bool store_lane_serial(struct store_lane *ln, int64_t *serial);

/* ---- store_batch.c: deciding a batch in memory ---- */
struct store_write;
/* What deciding a batch found besides its answers: how the round trip goes on. */
struct store_decision {
    size_t accepted;   /* items to be written */
    bool serial_short; /* an item needed more serials than the lane held: decide again with more */
    bool state_lost;   /* memory ran out while an incident's state was being changed in place */
};
/* store_batch_decide: decides the lane's batch, item by item in arrival order, against `states`
 * (incident id -> state, or null for a row with none), which it updates, and `owners` (incident id
 * -> the source it belongs to, for those that have one; an incident a decided event gives its
 * source is added), with the stored events `seen` (event id -> {body, reply, source?}) and the person index's victim rows of the batch's refs
 * `persons` (incident id -> rows, store_persons.h), which it updates as the batch changes its
 * incidents. Sets each item's reply and fills w. */
struct store_decision store_batch_decide(struct store_lane *ln, json_t *states, json_t *owners, json_t *seen,
                                         json_t *persons, struct store_write *w);
/* store_batch_all_openings: every item opens an incident on its own (see batch_direct in store_lane.c). */
bool store_batch_all_openings(struct store_item *const *b, size_t n);
/* store_batch_serials_needed: the serials an item usually consumes. */
size_t store_batch_serials_needed(const struct store_item *it);
/* store_batch_incidents: the incidents an item touches, its own first, then those its event or
 * decision links to (strings borrowed from the item), written to ids (room for `room`); returns
 * how many there are (more than room: only room were written). */
size_t store_batch_incidents(const struct store_item *it, const char **ids, size_t room);

/* ---- store_write.c: the statements' parameters ---- */
/* The batch's rows, written straight into the write statement's parameters: events and
 * incidents as lines of tab-separated fields (no field holds a tab or a newline: ids hold no
 * control characters and compact JSON escapes them), crimes and pending decisions as JSON arrays.
 * Audit entries as lines too (audit_line), which the database hashes into the chain; those with no
 * time of their own get the batch's. */
struct store_write {
    struct jsonwrite_buf events, incidents, new_incidents, crimes, pending, audit, persons, changed;
    struct jsonwrite_buf link_from, link_to; /* the accepted events' same_report links (SQL_LINKS_WRITE) */
    const struct ruleset *rs; /* for the person index's offence groups (borrowed) */
    char at[AUDIT_AT_SIZE];
    struct jsonwrite_buf members;            /* the changed persons' and allegations' rows (incident_members.h) */
    json_t *touched; /* incident id -> true */
    json_t *touched_members; /* incident id -> {kind -> {member id -> true}} (incident_members_touch) */
    bool lost;               /* memory ran out recording what the batch changed: nothing may be written */
    const char *ruleset_sha256; /* the hash of the rule set deciding the batch (borrowed) */
};
/* store_write_init: an empty write for a batch decided with the rule set whose hash is
 * ruleset_sha256 (borrowed: the rule set outlives the batch's deciding). */
void store_write_init(struct store_write *w, const char *ruleset_sha256, const struct ruleset *rs);
void store_write_clear(struct store_write *w);
/* store_write_event: an accepted event's row (body: its stored reply body) and its rules' audit
 * entries (from outcome). */
void store_write_event(struct store_write *w, const struct store_item *it, const json_t *body, const json_t *outcome);
/* store_write_audit: one audit entry's line (audit_line, with o; the batch's time when it has none). */
void store_write_audit(struct store_write *w, const json_t *entry, const struct audit_override *o);
/* store_write_touch: the incident changed: its final state is written (store_write_params). */
void store_write_touch(struct store_write *w, const char *incident_id);
/* store_write_params: rows for the final state of every incident the batch changed (updates of the
 * rows the batch locked, `existing`, inserts of the others), then the write statement's $1..$5 in
 * p[0..4], the audit lines in p[5], and SQL_PERSONS_WRITE's $1 and $2 (the changed incidents'
 * ids and their person index rows) in p[6] and p[7], SQL_LINKS_WRITE's $1 and $2 in p[8] and p[9],
 * the write statement's $6 (the changed members' rows) in p[10] (each the caller's to free). Clears
 * w. Returns false when memory ran out (the p[] that could be made are still set, the others NULL). */
#define STORE_WRITE_NPARAMS 11
bool store_write_params(struct store_write *w, json_t *states, const json_t *existing, char *p[STORE_WRITE_NPARAMS]);
/* store_write_refs: the victim refs of the batch's events, as a text[] literal (see
 * SQL_PERSONS_LOCK). Malloc'd; NULL when memory runs out. */
char *store_write_refs(struct store_item *const *b, size_t n);
/* store_write_ids: the batch's incident (or event) ids as a text[] literal (repeats are harmless
 * in the queries). Malloc'd; NULL when memory runs out. */
char *store_write_ids(struct store_item *const *b, size_t n, bool incidents);
/* store_write_link_ids: the incident ids the batch's events and decisions link to, as a text[]
 * literal; with `own`, also the incidents of its items, openings included (see
 * SQL_INCIDENTS_CREATE). Malloc'd; NULL when memory runs out. */
char *store_write_link_ids(struct store_item *const *b, size_t n, bool own);

#endif
