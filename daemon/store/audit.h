/* audit.h: the audit trail's entries as canonical text. Each entry is kept with the exact text
 * that was hashed, so that anyone can recompute the chain without re-serialising anything. */
#ifndef FCRD_AUDIT_H
#define FCRD_AUDIT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The fields an entry's canonical text holds, in the audit table's column names. */
extern const char *const audit_fields[];

/* The member names whose values are personal (names, narratives, free text, AVI details), at any
 * depth of an entry's before and after: the hashed text holds {"pd": digest} in their place. */
extern const char *const audit_personal_members[];

struct jsonwrite_buf;

/* Members that replace an entry's own when writing its line (NULL: the entry's member stands). */
struct audit_override {
    const char *incident_id, *event_id, *actor, *role, *ruleset;
    const char *ruleset_sha256;
};

#define AUDIT_AT_SIZE 96 /* room for any year snprintf could print */
/* at_ms as an entry's "at": RFC 3339, UTC, always with milliseconds. */
void audit_at(int64_t at_ms, char at[AUDIT_AT_SIZE]);

/* audit_line: one entry's line, as audit_lines below writes it, with the members of `o` (may be
 * NULL) in place of the entry's own, and `at` when the entry has none. The entry is not changed. */
void audit_line(struct jsonwrite_buf *b, const json_t *entry, const struct audit_override *o, const char *at);

/* audit_lines: for each entry of `entries` in order, with "at" (at_ms, RFC 3339 with
 * milliseconds) when absent and "rules" as [] when not an array, write one line: its
 * canonical text (a compact JSON object of audit_fields, absent ones as null, keys sorted), then,
 * tab-separated, the table's columns at, incident_id, crn, pending_id, allegation, event_id,
 * actor, role, action (as they are, empty for null), before, after (compact JSON), rules (a
 * PostgreSQL array literal, or compact JSON when a rule is not a string free of control
 * characters), ruleset and ruleset_sha256 (sql/0010_rulesets.sql), so that the database need not parse the text. When a text column is
 * not a non-empty string free of control characters, the line holds the canonical text alone and
 * the database reads the columns from it. The database chains the texts in the order given
 * (audit_append in sql/0008_audit_append_lean.sql): hash = sha256(prev_hash || text), hex.
 * An entry whose before or after holds a personal member (audit_personal_members) has, in the
 * canonical text and the columns, {"pd": hex sha256(salt || canonical JSON of the value)} in place
 * of each such value, and one more tab-separated field: {"salt", "v": {digest: text}}
 * (sql/0020_audit_personal.sql). Malloc'd, caller frees; NULL when memory runs out. */
char *audit_lines(json_t *entries, int64_t at_ms);

#endif
