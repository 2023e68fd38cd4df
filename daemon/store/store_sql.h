/* store_sql.h: the SQL of the write path, one place to read it whole. Every parameter is JSON,
 * so a batch of any size is a fixed number of statements with no string-built SQL. */
#ifndef FCRD_STORE_SQL_H
#define FCRD_STORE_SQL_H

/* Id lists arrive as text[] literals, so that a prepared statement's generic plan looks them up
 * by primary key. */

/* $1: the incident ids the batch's events (or people's decisions) link to, and those of all its
 * items (updates, closings, decisions, and openings too). Creates the missing ones as rows with
 * no state so that they can be locked: an incident being opened (or linked to) by another
 * transaction right now makes this wait for that transaction's end, so that the item is decided
 * on what it committed. A linked id never opened stays a row with no state. Sorted, so that two
 * fcrd instances lock in the same order. Openings are created here too (their row, with no state,
 * is then updated by the write statement) so that a batch that reads first never waits on a row
 * after its ref locks (SQL_PERSONS_LOCK): the report a same_report link names is opened, on one
 * instance, while the linking report, on another, creates its row and takes the victim's ref
 * lock; had the opening been inserted only by the write statement, after taking that same ref
 * lock, each would wait for the other. Only a direct batch (which takes no ref lock) inserts its
 * openings whole in the write statement, which fails if another transaction created the incident
 * meanwhile (see SQL_WRITE). A batch with nothing to create skips this. */
#define SQL_INCIDENTS_CREATE                                                                                 \
    "INSERT INTO incidents (incident_id) SELECT DISTINCT x FROM unnest($1::text[]) AS t(x) ORDER BY x"       \
    " ON CONFLICT (incident_id) DO NOTHING"

/* The incidents that have a same_report link to one of `ids` (sql/0013_incident_links.sql). */
#define SQL_LINKED_BACK(ids) "ARRAY(SELECT from_id FROM incident_links WHERE to_id = ANY (" ids "))"

/* $1: the batch's incident ids; $2: the ids its events and decisions link to; $3: the lane's
 * cache keys for them (store_cache_keys).
 * Locks, in one sorted statement, the batch's incidents, the incidents its events link to, the
 * incidents their stored state links to and the incidents whose stored state links to them (a
 * same_report link is honoured whichever report arrives first), and reads their state. Reading
 * linked incidents under the lock means a same_report link sees a crime another instance is
 * committing. The source each incident belongs to (sql/0015_event_sources.sql) comes with its
 * state, so checking an event's source against it costs no round trip, and two instances see the
 * same owner: the row is locked until the batch that sets it commits. */
#define SQL_LOCKED_IDS                                                                                       \
    "$1::text[] || $2::text[] || ARRAY(SELECT l->>'incident_id' FROM incidents s,"                           \
    "  json_array_elements(COALESCE(s.state->'links', '[]'::json)) AS l"                                     \
    "  WHERE s.incident_id = ANY ($1::text[])) || " SQL_LINKED_BACK("$1::text[]")
/* The version of an incident's row (of table alias t) as a lane's state cache keeps it
 * (store_cache.h): the transaction that wrote the row and when. Every write of the row changes its
 * xmin; updated_at guards against an xid seen again after wraparound. */
#define SQL_ROW_VERSION(t)                                                                                   \
    "(" t ".xmin::text || '.' || (extract(epoch FROM " t ".updated_at) * 1000000)::bigint::text)"
/* Whether the lane's cache holds the row at its version: keys is a text[] of "version:id"
 * (store_cache_keys). */
#define SQL_ROW_CACHED(t, keys) "(" SQL_ROW_VERSION(t) " || ':' || " t ".incident_id = ANY (" keys "::text[]))"
/* The columns both lock statements read: id, state (NULL for a row the cache holds as it stands),
 * source, version, cached. */
#define SQL_LOCKED_COLUMNS(keys)                                                                             \
    "SELECT incidents.incident_id, CASE WHEN " SQL_ROW_CACHED("incidents", keys) " THEN NULL"                \
    " ELSE incidents.state::text END, incidents.source, " SQL_ROW_VERSION("incidents") ","                  \
    " " SQL_ROW_CACHED("incidents", keys) " FROM incidents"
#define SQL_INCIDENTS_LOCK                                                                                   \
    SQL_LOCKED_COLUMNS("$3") " WHERE incident_id = ANY (" SQL_LOCKED_IDS ")"                                 \
    " ORDER BY incident_id FOR UPDATE"

/* $1: the batch's incident ids, $2: the cache keys. Sent right after SQL_INCIDENTS_LOCK: the incidents that link to the
 * batch's by a same_report link, looked up again once the batch's own rows are locked, locked and
 * read. Why again: SQL_INCIDENTS_LOCK's lookup reads the snapshot its statement started with, and a
 * transaction that wrote a link to one of the batch's incidents held that incident's row lock
 * (every link target is created and locked by the linking batch, SQL_INCIDENTS_CREATE), so once
 * the batch holds its rows no new link to them can commit (SQL_LINKS_WRITE is written under that
 * lock), and this statement's fresh snapshot sees every one. The rows already locked are locked again at no cost, without waiting.
 * Deadlock: a link that committed before SQL_INCIDENTS_LOCK began is locked there, in the one
 * sorted order, so two lanes or two fcrd instances wait for each other only in that order. Only a
 * link committed while SQL_INCIDENTS_LOCK waited for its rows is locked here, after the others;
 * the linking transaction has then ended, and another transaction holding that linking incident
 * and waiting for ours would have to have begun on it in that same instant: PostgreSQL's deadlock
 * check then ends one of the two, which is rolled back and decided again like any refused
 * transaction (the same one rare wait SQL_PERSONS_LOCK describes). */
#define SQL_INCIDENTS_LOCK_BACK                                                                              \
    SQL_LOCKED_COLUMNS("$2") " WHERE incident_id = ANY (" SQL_LINKED_BACK("$1::text[]") ")"                  \
    " ORDER BY incident_id FOR UPDATE"

/* $1, $2, $3: as SQL_INCIDENTS_LOCK's. Sent after SQL_INCIDENTS_LOCK_BACK: the persons and
 * allegations (sql/0023_incident_members.sql) of every incident those two locked and sent the
 * state of (not those the lane's cache holds as they stand), one row per incident and kind, the kind's members in their order as a JSON array. Why a statement of its own: a row
 * locked after waiting for another transaction is read as that transaction committed it, but the
 * rest of the locking statement reads the snapshot it began with, which may predate the members
 * that transaction wrote. This statement's snapshot is taken once every lock is held, and every
 * writer of an incident's members holds its row lock, so it reads them as they stand. Its ids may
 * include incidents linked since (links are only ever added); the store ignores those. */
#define SQL_MEMBERS_READ                                                                                     \
    "SELECT incident_id, kind, json_agg(doc ORDER BY ord)::text FROM incident_members"                       \
    " WHERE incident_id = ANY (ARRAY(SELECT incidents.incident_id FROM incidents"                            \
    "  WHERE incidents.incident_id = ANY (" SQL_LOCKED_IDS ") AND NOT " SQL_ROW_CACHED("incidents", "$3") "))" \
    " GROUP BY incident_id, kind"

/* $1: the victim refs the batch's events name; $2: the batch's incident ids. The victim refs of a
 * batch are those refs and the victims' refs the person index holds for its incidents (an update
 * may name a victim only by the id an earlier event gave). Takes a transaction-scoped advisory
 * lock per ref, in the order of the lock keys, after the incidents' row locks and before reading
 * the index (SQL_PERSONS_READ, its own statement, so its snapshot is taken once the locks are
 * held). Why a lock per ref rather than locking the other incidents' rows: the incidents a ref
 * leads to are known only by reading the index, which another transaction may be changing, and
 * locking rows found that way could not be done in one sorted statement with the batch's own.
 * A lock per victim ref serialises exactly the transactions that could count the same course or
 * see the same duplicate, across lanes and fcrd instances. The ref locks come after the row locks
 * so that the refs the index holds for the batch's incidents are read once those incidents are
 * locked, and cannot change before the commit. Every transaction takes its row locks (sorted),
 * then its ref locks (sorted), all in round trip 1, so no two wait for each other's locks: a batch
 * that reads first has created every row it will write (SQL_INCIDENTS_CREATE, openings included),
 * so its write statement inserts no incident and never waits for another transaction's new row.
 * A direct batch takes no ref lock, so an event naming a victim with a ref is never in one
 * (store_batch_all_openings). Two refs may share a key: they then wait for each other, harmlessly. */
#define SQL_PERSONS_REFS                                                                                         "SELECT unnest($1::text[]) UNION SELECT p.ref FROM person_index p"                                           " WHERE p.incident_id = ANY ($2::text[]) AND p.role = 'victim'"
#define SQL_PERSONS_LOCK                                                                                         "SELECT count(pg_advisory_xact_lock(t.k)) FROM (SELECT DISTINCT hashtextextended('fcrd.person:' || r.x, 0)"     " AS k FROM (" SQL_PERSONS_REFS ") AS r(x) ORDER BY 1) AS t"

/* The person index's victim rows of the same refs, each as one JSON object (store_persons.h). */
#define SQL_PERSONS_READ                                                                                         "SELECT p.incident_id, row_to_json(p)::text FROM person_index p"                                             " WHERE p.role = 'victim' AND p.ref IN (" SQL_PERSONS_REFS ")"

/* $1: the batch's event ids. */
#define SQL_EVENTS_SEEN "SELECT event_id, body, reply::text, source FROM raw_events WHERE event_id = ANY ($1::text[])"

/* $1: how many serials (CRN and pending id numbers) to fetch: those the batch needs and spare ones
 * that the lane keeps for later batches of the same session (a direct batch fetches them with its
 * writes). nextval is not transactional, and its advance is made durable by the first commit that
 * follows it in the log: any transaction that uses a number commits after it was fetched, so a
 * committed number is never handed out again. Kept numbers are forgotten when the session ends:
 * after a server crash, one fetched but never followed by a commit could be handed out again. A
 * number fetched and never used is simply skipped. */
#define SQL_SERIALS "SELECT nextval('serials') FROM generate_series(1, $1::int)"

/* The audit trail is this many hash chains (sql/0007_audit_chains.sql); lane k appends to chain
 * k % AUDIT_CHAINS + 1, so that lanes do not wait for each other's commits to append. Two fcrd
 * instances' lanes of one number share a chain, which its head row's lock keeps in one order. */
#define AUDIT_CHAINS 16

/* $1: the batch's audit entries, one canonical text per line, chained by the database in that
 * order under the head row lock of chain $2 (sql/0007_audit_chains.sql; the function itself is
 * sql/0008_audit_append_lean.sql's, the line format daemon/audit.h's). Last in the transaction,
 * so the lock is held only while the entries are hashed, inserted and committed. */
#define SQL_AUDIT_APPEND "SELECT audit_append($1::text, $2::int)"

/* $1 version, $2 sha256, $3 canonical text, $4 host: the rule set deciding the batch, stored in
 * the batch's own transaction when the store does not yet know it is stored (after a reload), so
 * that a decision naming a hash never commits without the rule set that hash names. A version
 * stored meanwhile, by another fcrd instance, with another hash makes ruleset_store fail: the
 * batch is rolled back (sql/0010_rulesets.sql). */
#define SQL_RULESET_STORE "SELECT ruleset_store($1::text, $2::text, $3::text, $4::text)"

/* A new crime's or pending decision's first contact (sql/0025_first_contact.sql), by which the
 * self-audit report finds a period's rows: its incident's opened_at, from the batch's own incident
 * rows (ix). The batch writes crimes and decisions only of incidents it writes (store_write.c,
 * write_incidents), so ix always holds the incident. */
#define SQL_FIRST_CONTACT "f.opened_at"
#define SQL_FIRST_CONTACT_JOIN " LEFT JOIN ix AS f ON f.incident_id = x.incident_id"

/* $1 events: one line each, the fields event_id, incident_id, seq, type, at, body, reply, source
 * separated by tabs (no field holds a tab or a newline); $2 incidents that had a row when the batch locked
 * them, $5 incidents that had none (new ones): one line each, as incident_row_line (incident.h)
 * writes it, tab-separated fields or the row as one JSON object; $3 crimes, $4 pending: JSON
 * arrays (a row's JSON array of strings becomes its text[] column directly). Incidents go as lines
 * because json_to_recordset over their states cost about four times what validating the states as
 * json does. A crime row carries its victim's command-and-control `ref` for the API's same-victim
 * lookup. $6: the persons and allegations the batch's events named, as they now stand (lines of
 * tab-separated fields, incident_members_rows): an incident's members are rows of their own
 * (sql/0023_incident_members.sql) and its row's state holds the rest, so an update writes what it
 * changed, not everything the incident has gathered. Sorted, as the incidents are.
 *
 * A new incident is inserted here, whole, with no ON CONFLICT: if another transaction created the
 * same incident meanwhile (another fcrd instance opening it, or linking to it), the insert waits
 * for that transaction and then fails on the primary key, and the batch is rolled back and decided
 * again with the incident's row locked. Sorted, so that two instances insert in the same order.
 *
 * Sources (sql/0015_event_sources.sql): each event row keeps its source; an incident with no
 * source yet (new, or from before sources were recorded) takes that of its accepted events in the
 * batch (`es`: the batch decided them all from one source, store_batch.c), and one that has a
 * source keeps it. Source 'default' (no [sources] configured) never takes an incident.
 *
 * Its row: the events and the crimes written, and a line "incident id TAB row version" for every
 * incident row written, for the lane's state cache (store_cache.h). */
#define SQL_WRITE                                                                                            \
    "WITH ev AS ("                                                                                           \
    " INSERT INTO raw_events (event_id, incident_id, seq, type, at, body, reply, source)"                    \
    " SELECT a[1], a[2], a[3]::bigint, a[4], a[5]::timestamptz, a[6], a[7]::json, a[8]"                      \
    " FROM string_to_table($1::text, E'\\n') AS l, string_to_array(l, E'\\t') AS a"                          \
    " WHERE l <> '' RETURNING 1),"                                                                           \
    " es AS MATERIALIZED ("                                                                                  \
    " SELECT DISTINCT ON (a[2]) a[2] AS incident_id, a[8] AS source"                                         \
    " FROM string_to_table($1::text, E'\\n') AS l, string_to_array(l, E'\\t') AS a"                          \
    " WHERE l <> '' AND a[8] <> 'default'),"                                                                 \
    " ix AS MATERIALIZED ("                                                                                  \
    " SELECT y.new, CASE WHEN y.f THEN y.a[1] ELSE y.j->>'incident_id' END AS incident_id,"                  \
    "  (CASE WHEN y.f THEN y.a[2] ELSE y.j->>'last_seq' END)::bigint AS last_seq,"                           \
    "  CASE WHEN y.f THEN y.a[3] ELSE y.j->>'category' END AS category,"                                     \
    "  (CASE WHEN y.f THEN y.a[4] ELSE y.j->>'opened_at' END)::timestamptz AS opened_at,"                    \
    "  (CASE WHEN y.f THEN y.a[5] ELSE y.j->>'closed_at' END)::timestamptz AS closed_at,"                    \
    "  CASE WHEN y.f THEN y.a[6]::json ELSE y.j->'state' END AS state"                                       \
    " FROM (SELECT x.new, x.a, x.f, CASE WHEN NOT x.f THEN x.a[1]::json END AS j"                            \
    "  FROM (SELECT t.new, s.a, cardinality(s.a) = 6 AS f"                                                   \
    "   FROM (SELECT l, false AS new FROM string_to_table($2::text, E'\\n') AS l"                            \
    "    UNION ALL SELECT l, true FROM string_to_table($5::text, E'\\n') AS l) AS t,"                        \
    "   string_to_array(t.l, E'\\t', '') AS s(a) WHERE t.l <> '') AS x) AS y),"                              \
    " inc AS ("                                                                                              \
    " UPDATE incidents i SET last_seq = x.last_seq, category = x.category, opened_at = x.opened_at,"         \
    "  closed_at = x.closed_at, state = x.state, updated_at = now(), source = COALESCE(i.source, es.source)" \
    " FROM ix AS x LEFT JOIN es ON es.incident_id = x.incident_id"                                           \
    " WHERE NOT x.new AND i.incident_id = x.incident_id RETURNING i.incident_id, " SQL_ROW_VERSION("i") " AS v)," \
    " ni AS ("                                                                                               \
    " INSERT INTO incidents (incident_id, last_seq, category, opened_at, closed_at, state, source)"          \
    " SELECT x.incident_id, x.last_seq, x.category, x.opened_at, x.closed_at, x.state, es.source"            \
    " FROM ix AS x LEFT JOIN es ON es.incident_id = x.incident_id WHERE x.new ORDER BY x.incident_id"        \
    " RETURNING incidents.incident_id, " SQL_ROW_VERSION("incidents") " AS v),"                             \
    " cr AS ("                                                                                               \
    " INSERT INTO crimes (crn, incident_id, offence, victim, victim_ref, status, flags, recorded_at, rules," \
    "  ruleset, ruleset_sha256, first_contact)"                                                              \
    " SELECT x.crn, x.incident_id, x.offence, x.victim, x.victim_ref, x.status,"                             \
    "  x.flags, x.recorded_at, x.rules, x.ruleset, x.ruleset_sha256, " SQL_FIRST_CONTACT                     \
    " FROM jsonb_to_recordset($3::jsonb) AS x(crn text, incident_id text, offence text, victim text,"        \
    "  victim_ref text, status text, flags text[], recorded_at timestamptz, rules text[], ruleset text,"     \
    "  ruleset_sha256 text)" SQL_FIRST_CONTACT_JOIN                                                          \
    " ON CONFLICT (crn) DO UPDATE SET offence = EXCLUDED.offence, victim = EXCLUDED.victim,"                 \
    "  victim_ref = EXCLUDED.victim_ref, status = EXCLUDED.status, flags = EXCLUDED.flags,"                  \
    "  rules = EXCLUDED.rules, ruleset = EXCLUDED.ruleset, ruleset_sha256 = EXCLUDED.ruleset_sha256,"        \
    "  updated_at = now()"                                                                                   \
    "  WHERE crimes.incident_id = EXCLUDED.incident_id"                                                      \
    "  AND (crimes.offence, crimes.victim, crimes.victim_ref, crimes.status, crimes.flags, crimes.rules)"    \
    "   IS DISTINCT FROM (EXCLUDED.offence, EXCLUDED.victim, EXCLUDED.victim_ref, EXCLUDED.status,"          \
    "   EXCLUDED.flags, EXCLUDED.rules) RETURNING 1),"                                                       \
    " pd AS ("                                                                                               \
    " INSERT INTO pending_decisions (id, incident_id, allegation, reason, opened_at, due, status, flags,"    \
    "  victim, candidate_offence, rules, ruleset, ruleset_sha256, closed_at, resolution, first_contact)"     \
    " SELECT x.id, x.incident_id, x.allegation, x.reason, x.opened_at, x.due, x.status,"                     \
    "  x.flags, x.victim, x.candidate_offence, x.rules, x.ruleset, x.ruleset_sha256, x.closed_at,"           \
    "  x.resolution, " SQL_FIRST_CONTACT                                                                     \
    " FROM jsonb_to_recordset($4::jsonb) AS x(id text, incident_id text, allegation text, reason text,"      \
    "  opened_at timestamptz, due timestamptz, status text, flags text[], victim text,"                      \
    "  candidate_offence text, rules text[], ruleset text, ruleset_sha256 text, closed_at timestamptz,"      \
    "  resolution jsonb)" SQL_FIRST_CONTACT_JOIN                                                             \
    " ON CONFLICT (id) DO UPDATE SET reason = EXCLUDED.reason, due = EXCLUDED.due,"                          \
    "  status = EXCLUDED.status, flags = EXCLUDED.flags, victim = EXCLUDED.victim,"                          \
    "  candidate_offence = EXCLUDED.candidate_offence, rules = EXCLUDED.rules,"                              \
    "  ruleset = EXCLUDED.ruleset, ruleset_sha256 = EXCLUDED.ruleset_sha256,"                                \
    "  closed_at = EXCLUDED.closed_at, resolution = EXCLUDED.resolution"                                     \
    "  WHERE pending_decisions.incident_id = EXCLUDED.incident_id"                                           \
    " RETURNING 1),"                                                                                         \
    " mb AS ("                                                                                               \
    " INSERT INTO incident_members (incident_id, kind, ord, member_id, ref, doc)"                            \
    " SELECT a[1], a[2], a[3]::integer, a[4], CASE WHEN a[5] <> '' THEN a[5]::json #>> '{}' END, a[6]::json" \
    " FROM string_to_table($6::text, E'\\n') AS l, string_to_array(l, E'\\t') AS a"                          \
    " WHERE l <> '' ORDER BY 1, 2, 4"                                                                        \
    " ON CONFLICT (incident_id, kind, member_id) DO UPDATE SET ord = EXCLUDED.ord, ref = EXCLUDED.ref,"      \
    "  doc = EXCLUDED.doc"                                                                                   \
    " RETURNING 1)"                                                                                          \
    " SELECT (SELECT count(*) FROM ev), (SELECT count(*) FROM cr),"                                          \
    "  (SELECT string_agg(r.incident_id || E'\\t' || r.v, E'\\n') FROM"                                        \
    "   (SELECT incident_id, v FROM inc UNION ALL SELECT incident_id, v FROM ni) AS r)"

/* $1, $2: the same_report links of the batch's accepted events, from ($1, the linking incident)
 * to ($2, the incident named), as parallel text[]. Sent after SQL_WRITE in the same transaction,
 * which holds every named incident's row lock (SQL_INCIDENTS_CREATE / SQL_INCIDENTS_LOCK), so a
 * transaction that later locks the named incident sees the link (SQL_INCIDENTS_LOCK_BACK).
 * Sorted, so that two instances insert in the same order. A batch whose events make no such link
 * skips it. */
#define SQL_LINKS_WRITE                                                                                      \
    "INSERT INTO incident_links (from_id, to_id) SELECT DISTINCT f, t FROM unnest($1::text[], $2::text[])"  \
    " AS x(f, t) WHERE f <> t ORDER BY t, f ON CONFLICT DO NOTHING"

/* $1: the incidents the batch changed (text[]); $2: their person index rows, a JSON array
 * (store_persons_rows). Every row of those incidents is replaced (sql/0012_person_index.sql). Sent
 * right after SQL_WRITE in the same pipeline and transaction: the index never shows a state that
 * did not commit. A direct batch whose incidents name no person with a ref skips it. */
#define SQL_PERSONS_WRITE                                                                                    \
    "WITH d AS (DELETE FROM person_index WHERE incident_id = ANY ($1::text[]) RETURNING 1)"                  \
    " INSERT INTO person_index (ref, role, incident_id, allegation, victim_ref, suspect_refs, offence,"      \
    "  offence_group, course, occasions, occurred_at, reported_at, crn)"                                    \
    " SELECT x.ref, x.role, x.incident_id, x.allegation, x.victim_ref, x.suspect_refs, x.offence,"          \
    "  x.offence_group, x.course, x.occasions, x.occurred_at, x.reported_at, x.crn"                         \
    " FROM jsonb_to_recordset($2::jsonb) AS x(ref text, role text, incident_id text, allegation text,"      \
    "  victim_ref text, suspect_refs text[], offence text, offence_group text, course boolean,"             \
    "  occasions integer, occurred_at timestamptz, reported_at timestamptz, crn text)"

#endif
