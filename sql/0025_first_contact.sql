-- 0025_first_contact.sql: crimes and pending decisions carry their incident's first contact, so
-- that the self-audit report (GET /v1/reports/cdi) finds a period's crimes and decisions by index.
--
-- The report chooses by first contact (the incident's opened_at). Until now it reached a period's
-- crimes through its incidents: a hash join that read every crime ever recorded (3,000,000 in ten
-- years of a large force) for a month's report, or one index probe per incident of the period
-- (900,000 for a year's). With the incident's opened_at on the rows, a period's crimes and
-- decisions are one index range each, and the report's cost follows the period, not the years.
--
-- first_contact is the incident's opened_at, which the first event sets and nothing changes. The
-- store's write statement fills it for every crime and decision it inserts (store_sql.h,
-- SQL_WRITE); it is null only for a row whose incident has no opened_at, which the rules never
-- make.
--
-- The audit guard (0014) chains every change to these tables with the SHA-256 of each row's text,
-- and a new column changes that text for every row. So that the chain still accounts for every
-- stored row, the change is made in the open: one entry db.<table>.alter says the table's rows
-- changed shape, and the rows are then filled by UPDATE statements of 10,000 rows each, whose
-- entries (db.<table>.update) carry each row's digest before and after, as for any other change.
-- The change notifications (0018) are off meanwhile: nothing a supervisor sees changes.
--
-- Cost of applying: on the benchmark's database at scale 0.1 (309,000 crimes, 32,000 decisions)
-- 31 s; it grows with the number of crimes (some 5 minutes expected at ten years of a large force,
-- not measured),
-- during which fcrd stays stopped (fcrd migrate runs before it starts). The update leaves dead
-- row versions behind, which autovacuum reclaims.

ALTER TABLE crimes ADD COLUMN first_contact timestamptz;
ALTER TABLE pending_decisions ADD COLUMN first_contact timestamptz;
SELECT audit_db_append('crimes', 'alter', NULL);
SELECT audit_db_append('pending_decisions', 'alter', NULL);

-- Fills tab's first_contact from its incidents, in key order (column k), 10,000 rows a statement.
CREATE FUNCTION first_contact_fill(tab text, k text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    lo text := '';
    hi text;
BEGIN
    LOOP
        EXECUTE format('SELECT max(b.%1$I) FROM (SELECT %1$I FROM %2$I WHERE %1$I > $1 ORDER BY %1$I LIMIT 10000) AS b',
                       k, tab) INTO hi USING lo;
        EXIT WHEN hi IS NULL;
        EXECUTE format('UPDATE %2$I AS t SET first_contact = i.opened_at FROM incidents AS i'
                       ' WHERE t.%1$I > $1 AND t.%1$I <= $2 AND i.incident_id = t.incident_id'
                       ' AND i.opened_at IS NOT NULL', k, tab) USING lo, hi;
        lo := hi;
    END LOOP;
END
$$;

ALTER TABLE pending_decisions DISABLE TRIGGER pending_notify_update;
SELECT first_contact_fill('crimes', 'crn');
SELECT first_contact_fill('pending_decisions', 'id');
ALTER TABLE pending_decisions ENABLE TRIGGER pending_notify_update;
DROP FUNCTION first_contact_fill(text, text);

CREATE INDEX crimes_first_contact ON crimes (first_contact);
CREATE INDEX pending_first_contact ON pending_decisions (first_contact);
