-- seed-persons.sql: fill the person index (sql/0012_person_index.sql) up to :refs victim refs, for
-- timing the write path's cross-incident lookups at a force's scale (bench/run, step persons).
-- Run as the cluster's superuser; never against a database that matters. Each seeded ref is a
-- victim of one harassment allegation a year back or less, by one of 50,000 suspects, with its
-- suspect row too (so the table holds two rows a ref); the incidents themselves are not seeded:
-- the index is all the lookups read.
\set ON_ERROR_STOP on

SELECT greatest(:refs - count(*), 0) AS add_refs FROM person_index WHERE role = 'victim' \gset

BEGIN;
INSERT INTO person_index (ref, role, incident_id, allegation, victim_ref, suspect_refs, offence, offence_group,
                          course, occasions, occurred_at, reported_at, crn)
SELECT CASE WHEN r.role = 'victim' THEN 'BV-' || g ELSE 'BS-' || (g % 50000) END, r.role, 'PSEED-' || g, 'a1',
       'BV-' || g, ARRAY['BS-' || (g % 50000)], '8L', 'violence', true, 1,
       now() - (g % 525600) * interval '1 minute', now() - (g % 525600) * interval '1 minute', NULL
FROM generate_series(1, :add_refs) AS g, (VALUES ('victim'), ('suspect')) AS r(role);
COMMIT;
ANALYZE person_index;
SELECT count(*) AS person_index_rows, count(DISTINCT ref) FILTER (WHERE role = 'victim') AS victim_refs
FROM person_index;
