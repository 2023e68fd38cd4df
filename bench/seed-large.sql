-- seed-large.sql: ten years of a large force, scaled by :scale (psql variable; 1.0 is 9,000,000
-- incidents with one raw event each, 3,000,000 crimes with their audit entries, 1,000,000
-- victim refs in the person index, 300,000 closed and 10,000 open pending decisions), written
-- straight into the tables with generate_series, for timing fcrd on a database of that size
-- (bench/run, step large). Run as the cluster's superuser; never against a database that matters.
--
-- What it is and is not:
-- - Every seeded incident's state, persons and allegations (rows of incident_members, sql/0023),
--   raw event body and reply are copies of one real incident that the run's warm-up opened
--   through the feed (a confirmed assault recording one crime), its ids replaced, so fcrd reads
--   and serves them like its own; one incident in three has its crime row,
--   one in a hundred of those is cancelled (with its crime.cancelled entry).
-- - The audit entries (one per crime, one per cancellation) have the shape of fcrd's but are not
--   chained: prev_hash and hash are stand-ins, the chain heads still name fcrd's own last entries.
--   The audit chain check (fcrctl verify) reports these rows as broken links; do not run it on a
--   seeded database. Nothing else in fcrd reads the hashes.
-- - The session runs with session_replication_role = replica: the audit guard's triggers
--   (sql/0014) and the change notifications (sql/0018) would otherwise turn each statement into
--   one database-made entry listing every seeded row, and foreign keys are not checked row by row
--   (the rows are consistent by construction). The counts of recorded crimes the triggers of
--   sql/0027 keep are added by hand.
\set ON_ERROR_STOP on
\timing off

SELECT greatest(1, round(9000000 * :scale))::bigint AS n_incidents,
       greatest(1, round(3000000 * :scale))::bigint AS n_crimes,
       greatest(1, round(1000000 * :scale))::bigint AS n_refs,
       greatest(1, round(300000 * :scale))::bigint AS n_closed,
       greatest(100, round(10000 * :scale))::bigint AS n_open,
       5256000 AS minutes \gset
-- crimes, refs and decisions each point at a distinct incident: the incident count bounds them
SELECT least(:n_crimes, :n_incidents / 3) AS n_crimes, least(:n_refs, :n_incidents) AS n_refs,
       least(:n_closed + :n_open, (:n_incidents - 1) / 3) AS n_pending \gset

-- The template: an incident the warm-up opened, with its crime, its opening event and the
-- crime.recorded entry.
SELECT i.incident_id AS t_inc, i.state::text AS t_state, e.body AS t_body, e.reply::text AS t_reply,
       a.entry AS t_entry, coalesce(a.after::text, '{}') AS t_after
FROM incidents i
JOIN raw_events e ON e.incident_id = i.incident_id AND e.seq = 1
JOIN crimes c ON c.incident_id = i.incident_id
JOIN audit a ON a.incident_id = i.incident_id AND a.action = 'crime.recorded'
WHERE i.state IS NOT NULL AND i.incident_id NOT LIKE 'L-%'
ORDER BY i.incident_id LIMIT 1 \gset

SET session_replication_role = replica;
SET maintenance_work_mem = '256MB';

-- L-g: the incident; opened (g * 7919 mod ten years of minutes) ago, so that every month holds
-- its share whatever the scale; closed two hours later. Every series here is bigint: g * 7919 (and
-- 3 * k * 7919) passes the int range from about 270,000 (90,000) on, i.e. at any scale over 0.03.
\echo seeding :n_incidents incidents
BEGIN;
INSERT INTO incidents (incident_id, last_seq, category, opened_at, closed_at, state, updated_at)
SELECT 'L-' || g, 1, 'crime', t, t + interval '2 hours',
       replace(replace(:'t_state', '"' || :'t_inc' || '"', '"L-' || g || '"'),
               '"' || :'t_inc' || '-', '"L-' || g || '-')::json, t
FROM generate_series(1::bigint, :n_incidents) AS g,
     LATERAL (SELECT now() - interval '1 day' - ((g * 7919) % :minutes) * interval '1 minute' AS t) AS x;
COMMIT;

-- Its persons and allegations, as the template's.
\echo seeding the persons and allegations of :n_incidents incidents
BEGIN;
-- (the template's rows are read once: as a subquery joined to the series, PostgreSQL may scan the
-- table for each incident)
WITH m AS MATERIALIZED (SELECT kind, ord, member_id, ref, doc FROM incident_members WHERE incident_id = :'t_inc')
INSERT INTO incident_members (incident_id, kind, ord, member_id, ref, doc)
SELECT 'L-' || g, m.kind, m.ord, m.member_id, m.ref, m.doc
FROM generate_series(1::bigint, :n_incidents) AS g, m;
COMMIT;

\echo seeding :n_incidents raw events
BEGIN;
INSERT INTO raw_events (event_id, incident_id, seq, type, at, body, reply, received_at)
SELECT 'L-' || g || '-1', 'L-' || g, 1, 'incident.opened', t,
       replace(replace(:'t_body', '"' || :'t_inc' || '"', '"L-' || g || '"'), '"' || :'t_inc' || '-', '"L-' || g || '-'),
       replace(replace(:'t_reply', '"' || :'t_inc' || '"', '"L-' || g || '"'), '"' || :'t_inc' || '-', '"L-' || g || '-')::json,
       t
FROM generate_series(1::bigint, :n_incidents) AS g,
     LATERAL (SELECT now() - interval '1 day' - ((g * 7919) % :minutes) * interval '1 minute' AS t) AS x;
COMMIT;

-- Crimes of incidents L-3k, recorded five minutes after the call; the offences mixed, one in seven
-- flagged domestic abuse, one in a hundred cancelled; each with its crime.recorded entry.
\echo seeding :n_crimes crimes and their audit entries
BEGIN;
INSERT INTO crimes (crn, incident_id, offence, victim, victim_ref, status, flags, recorded_at, rules, ruleset,
                    updated_at, first_contact)
SELECT 'XX-L-' || k, 'L-' || (3 * k), (ARRAY['8N', '105A', '28E', '19C', '49', '58A', '5D'])[1 + k % 7], 'v1',
       CASE WHEN k <= :n_refs THEN 'BV-L' || k END,
       CASE WHEN k % 100 = 0 THEN 'cancelled' ELSE 'recorded' END,
       CASE WHEN k % 7 = 0 THEN ARRAY['domestic_abuse'] ELSE '{}'::text[] END,
       t + interval '5 minutes', ARRAY['R-record'], 'hocr-2025', t + interval '5 minutes', t
FROM generate_series(1::bigint, :n_crimes) AS k,
     LATERAL (SELECT now() - interval '1 day' - ((3 * k * 7919) % :minutes) * interval '1 minute' AS t) AS x;
-- With the triggers off, the recorded crimes are counted here (sql/0027_crime_counts.sql).
INSERT INTO crime_counts (offence, n)
SELECT offence, count(*) FROM crimes WHERE crn LIKE 'XX-L-%' AND status = 'recorded' GROUP BY offence;

INSERT INTO audit (at, incident_id, crn, event_id, actor, role, action, after, rules, ruleset, entry, prev_hash,
                   hash, chain)
SELECT t + interval '5 minutes', 'L-' || (3 * k), 'XX-L-' || k, 'L-' || (3 * k) || '-1', 'rules', 'rules',
       'crime.recorded', :'t_after'::jsonb, ARRAY['R-record'], 'hocr-2025',
       replace(:'t_entry', '"' || :'t_inc', '"L-' || (3 * k)),
       md5('L-p' || k) || md5('L-q' || k), md5('L-h' || k) || md5('L-i' || k), 1 + k % 4
FROM generate_series(1::bigint, :n_crimes) AS k,
     LATERAL (SELECT now() - interval '1 day' - ((3 * k * 7919) % :minutes) * interval '1 minute' AS t) AS x;

INSERT INTO audit (at, incident_id, crn, actor, role, action, after, rules, ruleset, entry, prev_hash, hash, chain)
SELECT t + interval '3 days', 'L-' || (3 * k), 'XX-L-' || k, 'bench-registrar', 'fcr', 'crime.cancelled',
       '{"cancellation": {"reason": "C1", "note": "seeded"}}'::jsonb, '{}', 'hocr-2025',
       '{"action":"crime.cancelled","crn":"XX-L-' || k || '"}',
       md5('L-cp' || k) || md5('L-cq' || k), md5('L-ch' || k) || md5('L-ci' || k), 1 + k % 4
FROM generate_series(100::bigint, :n_crimes, 100) AS k,
     LATERAL (SELECT now() - interval '1 day' - ((3 * k * 7919) % :minutes) * interval '1 minute' AS t) AS x;
COMMIT;

-- Pending decisions of incidents L-(3k+1): the open ones due over the last three days and the
-- next one (about two in three overdue), the rest closed long ago.
\echo seeding :n_pending pending decisions (:n_open open)
BEGIN;
INSERT INTO pending_decisions (id, incident_id, allegation, reason, opened_at, due, status, flags, victim,
                               candidate_offence, rules, ruleset, closed_at, resolution, first_contact)
SELECT 'XX-P-L-' || k, 'L-' || (3 * k + 1), 'a1',
       (ARRAY['third_party_unconfirmed', 'insufficient_detail', 'victim_not_traced', 'possible_crime',
              'points_not_proved'])[1 + k % 5],
       t, t + interval '24 hours', CASE WHEN k <= :n_open THEN 'open' ELSE 'closed' END,
       CASE WHEN k % 5 = 0 THEN ARRAY['domestic_abuse'] WHEN k % 11 = 0 THEN ARRAY['hate'] ELSE '{}'::text[] END,
       'v1', '8N', ARRAY['seed'], 'hocr-2025',
       CASE WHEN k > :n_open THEN t + interval '2 hours' END,
       CASE WHEN k > :n_open THEN '{"decision": "no_crime", "how": "person"}'::jsonb END,
       now() - interval '1 day' - (((3 * k + 1) * 7919) % :minutes) * interval '1 minute'
FROM generate_series(1::bigint, :n_pending) AS k,
     LATERAL (SELECT CASE WHEN k <= :n_open THEN now() - ((k * 7919) % 4320) * interval '1 minute'
                          ELSE now() - interval '1 day' - (((3 * k + 1) * 7919) % :minutes) * interval '1 minute'
                     END AS t) AS x;
COMMIT;

-- The person index: each crime's victim ref BV-Lk, and its suspect (one of 50,000) on the same
-- allegation.
\echo seeding :n_refs victim refs
BEGIN;
INSERT INTO person_index (ref, role, incident_id, allegation, victim_ref, suspect_refs, offence, offence_group,
                          course, occasions, occurred_at, reported_at, crn)
SELECT CASE WHEN r.role = 'victim' THEN 'BV-L' || k ELSE 'BS-L' || (k % 50000) END, r.role, 'L-' || (3 * k), 'a1',
       'BV-L' || k, ARRAY['BS-L' || (k % 50000)], '8N', 'violence', false, 1, t, t, 'XX-L-' || k
FROM generate_series(1::bigint, least(:n_refs, :n_crimes)) AS k,
     LATERAL (SELECT now() - interval '1 day' - ((3 * k * 7919) % :minutes) * interval '1 minute' AS t) AS x,
     (VALUES ('victim'), ('suspect')) AS r(role);
COMMIT;

RESET session_replication_role;
VACUUM ANALYZE incidents;
VACUUM ANALYZE incident_members;
VACUUM ANALYZE raw_events;
VACUUM ANALYZE crimes;
VACUUM ANALYZE audit;
VACUUM ANALYZE pending_decisions;
VACUUM ANALYZE person_index;

SELECT format('seeded: %s incidents, %s raw events, %s crimes, %s audit entries, %s person index rows,'
              ' %s open and %s closed pending decisions, %s persons and allegations; database %s',
              (SELECT count(*) FROM incidents), (SELECT count(*) FROM raw_events), (SELECT count(*) FROM crimes),
              (SELECT count(*) FROM audit), (SELECT count(*) FROM person_index),
              (SELECT count(*) FROM pending_decisions WHERE status = 'open'),
              (SELECT count(*) FROM pending_decisions WHERE status = 'closed'),
              (SELECT count(*) FROM incident_members),
              pg_size_pretty(pg_database_size(current_database()))) AS summary \gset
\echo :summary
