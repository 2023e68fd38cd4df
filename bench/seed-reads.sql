-- seed-reads.sql: fill the fcrd database up to :crimes crimes and :pending open pending
-- decisions (psql variables), for timing the supervisor API's reads at a force's scale.
-- Run by bench/run as the cluster's superuser; never against a database that matters. The rows
-- are written straight into the tables, so they have no audit entries: a chain check of this
-- database reports nothing wrong (the chain is untouched), but the crimes have no history.
\set ON_ERROR_STOP on

SELECT greatest(:crimes - count(*), 0) AS add_crimes FROM crimes \gset
SELECT greatest(:pending - count(*), 0) AS add_pending FROM pending_decisions WHERE status = 'open' \gset
-- A real queue holds far more decided items than open ones; the partial index must skip them.
SELECT :add_pending * 3 AS add_closed \gset

BEGIN;
-- One incident per seeded crime (crimes and pending decisions refer to incidents). A NULL
-- state is what fcrd itself writes for an incident it has only locked so far.
INSERT INTO incidents (incident_id, last_seq, category, opened_at)
SELECT 'SEED-' || g, 1, 'crime', now() - (g % 525600) * interval '1 minute'
FROM generate_series(1, greatest(:add_crimes, :add_pending + :add_closed)) AS g;

-- A year of crimes, about one in seven flagged domestic abuse.
INSERT INTO crimes (crn, incident_id, offence, victim, status, flags, recorded_at, rules, ruleset,
                    first_contact)
SELECT 'XX-SEED-' || g, 'SEED-' || g,
       (ARRAY['8N', '105A', '28E', '19C', '49', '58A', '5D'])[1 + g % 7], 'v1',
       CASE WHEN g % 50 = 0 THEN 'cancelled' ELSE 'recorded' END,
       CASE WHEN g % 7 = 0 THEN ARRAY['domestic_abuse'] ELSE '{}'::text[] END,
       now() - (g % 525600) * interval '1 minute', ARRAY['seed'], 'seed', now() - (g % 525600) * interval '1 minute'
FROM generate_series(1, :add_crimes) AS g;

-- Open decisions over the last three days (so about two in three are overdue), reasons and flags
-- mixed. The minutes are spread by a prime factor, so that a small top-up (the runs before the
-- reads may have opened most of the wanted decisions already) still spans the three days.
INSERT INTO pending_decisions (id, incident_id, allegation, reason, opened_at, due, status, flags, victim,
                               candidate_offence, rules, ruleset, first_contact)
SELECT 'XX-P-SEED-' || g, 'SEED-' || g, 'a1',
       (ARRAY['third_party_unconfirmed', 'insufficient_detail', 'victim_not_traced', 'possible_crime',
              'points_not_proved'])[1 + g % 5],
       t, t + interval '24 hours', 'open',
       CASE WHEN g % 5 = 0 THEN ARRAY['domestic_abuse'] WHEN g % 11 = 0 THEN ARRAY['hate'] ELSE '{}'::text[] END,
       'v1', '8N', ARRAY['seed'], 'seed', now() - (g % 525600) * interval '1 minute'
FROM generate_series(1, :add_pending) AS g, LATERAL (SELECT now() - ((g * 7919) % 4320) * interval '1 minute' AS t) AS x;

INSERT INTO pending_decisions (id, incident_id, allegation, reason, opened_at, due, status, rules, ruleset,
                               closed_at, resolution, first_contact)
SELECT 'XX-PC-SEED-' || g, 'SEED-' || g, 'a1', 'third_party_unconfirmed', t, t + interval '24 hours', 'closed',
       ARRAY['seed'], 'seed', t + interval '2 hours', '{"decision": "record"}', t
FROM generate_series(:add_pending + 1, :add_pending + :add_closed) AS g,
     LATERAL (SELECT now() - (g % 525600) * interval '1 minute' AS t) AS x;
COMMIT;

VACUUM ANALYZE incidents;
VACUUM ANALYZE crimes;
VACUUM ANALYZE pending_decisions;

SELECT format('seeded: %s crimes, %s open and %s closed pending decisions, %s incidents',
              (SELECT count(*) FROM crimes),
              (SELECT count(*) FROM pending_decisions WHERE status = 'open'),
              (SELECT count(*) FROM pending_decisions WHERE status = 'closed'),
              (SELECT count(*) FROM incidents)) AS summary \gset
\echo :summary
