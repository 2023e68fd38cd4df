-- 0024_period_indexes.sql: reads of a period (the self-audit report, GET /v1/reports/cdi; the
-- what-if run over a period) find the period's incidents and cancellations by index, so that
-- their cost follows the rows of the period and not the size of the tables.
--
-- incidents_opened_at: the period is chosen by first contact (opened_at). Without it every such
-- read scanned the whole of incidents (some 2 kB a row with its state): a month's report on ten
-- years of data read all ten years. Only opened_at is indexed, not state: an index naming state
-- (even in a predicate) would stop every update of an incident, each of which rewrites its state,
-- from being a heap-only update (sql/0009_incidents_fillfactor.sql). An update that leaves
-- opened_at as it was (all but an incident's first) stays heap-only.
--
-- audit_cancellations: the report counts the crime.cancelled and crime.transferred entries of the
-- period's incidents. Those are about one crime in a hundred, so a partial index of them is small
-- and the lookup no longer goes through audit_incident or a scan of the whole trail.
--
-- Cost of applying: each CREATE INDEX reads its whole table once and blocks writes to it until
-- the migration commits (fcrd migrate runs before fcrd starts, so nothing is writing then). On
-- the benchmark's seeded database at scale 0.1 (994,000 incidents, 1.9 GB; 618,000 audit
-- entries, 910 MB; pages cached) they took 3.9 s and 1.7 s, at 0.02 0.7 s and 2.3 s (the audit
-- pages not cached). Time grows with the tables' size: at ten years of a large force (some
-- 19 GB of incidents) expect about 40 s with the table cached and minutes read from disk, during
-- which fcrd stays stopped.
-- It carries incident_id and category, so that counting a period's incidents (the report) reads
-- the index alone where the visibility map allows: a row that has no state yet (an incident only
-- locked or linked to) has no opened_at either, so the period's range finds only opened incidents
-- without reading state. category is set by the opening and seldom changed, so updates stay
-- heap-only.
CREATE INDEX incidents_opened_at ON incidents (opened_at) INCLUDE (incident_id, category);
CREATE INDEX audit_cancellations ON audit (incident_id)
    WHERE action IN ('crime.cancelled', 'crime.transferred');
