-- 0027_crime_counts.sql: the number of recorded crimes per offence, kept as crimes change, so that
-- the figures fcrd exports (fcrd_crimes_recorded, daemon/service/metrics_db.c) cost the same on
-- ten years of crimes as on one day's.
--
-- Until now every refresh of those figures (every 15 s by default, on every instance) counted
-- the whole crimes table by offence: on a million crimes 0.25-0.45 s, with two parallel workers
-- on both cores of the benchmark's machine, and ten years of a large force hold three million.
--
-- crime_counts holds signed counts: the number of recorded crimes of an offence is the sum of its
-- rows. Every statement that changes crimes adds, per offence, how many recorded crimes it added
-- or took away (INSERT: the new rows recorded; DELETE: minus the old ones; UPDATE: the
-- difference, a change of status or offence). Rows are only inserted, so the writers of crimes
-- (the store's lanes, the API, other instances, a person's SQL session) never wait for one
-- another here, and a rolled-back statement leaves nothing. crime_counts_fold() replaces the rows
-- it can see by one row per offence, in one statement; each refresh of the figures calls it
-- first, so the table holds about one row per offence plus what was written since the last one.
--
-- The count is made by the audit guard's statement triggers on crimes (audit_db_change, 0014 and
-- 0026), which already fire for every such statement with its rows at hand. Triggers of its own
-- would be two more trigger calls for each of fcrd's upserts: over four rounds of 500 lone events
-- each, alternating, a lone event's median latency was 4.28 ms without any count, 4.37 ms with
-- the count in the guard's call and 4.68 ms with triggers of its own.
-- Like the guard, the count follows every change made with the triggers on. A session that turns
-- triggers off (session_replication_role = replica, which needs a superuser) changes crimes
-- without it: bench/seed-large.sql adds its crimes by hand.
-- fcrd_app may insert and fold rows: a stolen serving password can make the figure wrong, as it
-- can make the crimes themselves wrong; neither escapes the audit guard.

CREATE TABLE crime_counts (
    offence text   NOT NULL,
    n       bigint NOT NULL
);

-- Writers of crimes wait until this migration commits: one committing between the count below
-- and the new trigger function (an instance still running, say) would be in neither.
LOCK TABLE crimes IN SHARE MODE;

INSERT INTO crime_counts (offence, n)
SELECT offence, count(*) FROM crimes WHERE status = 'recorded' GROUP BY offence;

-- audit_db_change as in 0026, counting recorded crimes (above) for a statement on crimes.
CREATE OR REPLACE FUNCTION audit_db_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
    k      text := TG_ARGV[0];
    op     text := lower(TG_OP);
    n      int;
    rows   text;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        IF TG_TABLE_NAME = 'crimes' THEN
            DELETE FROM crime_counts;
        END IF;
        PERFORM audit_db_append(TG_TABLE_NAME, op, NULL);
        RETURN NULL;
    END IF;
    -- A statement that changed no row (an upsert's other half, most often) leaves at once.
    IF TG_OP = 'DELETE' THEN
        IF NOT EXISTS (SELECT FROM audit_db_old) THEN
            RETURN NULL;
        END IF;
    ELSIF NOT EXISTS (SELECT FROM audit_db_new) THEN
        RETURN NULL;
    END IF;
    -- (The statements naming crimes' columns are planned only for the crimes triggers, which
    -- alone reach them.)
    IF TG_TABLE_NAME = 'crimes' THEN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO crime_counts (offence, n)
            SELECT offence, count(*) FROM audit_db_new WHERE status = 'recorded' GROUP BY offence;
        ELSIF TG_OP = 'DELETE' THEN
            INSERT INTO crime_counts (offence, n)
            SELECT offence, -count(*) FROM audit_db_old WHERE status = 'recorded' GROUP BY offence;
        ELSE
            INSERT INTO crime_counts (offence, n)
            SELECT offence, sum(d)
            FROM (SELECT offence, 1 AS d FROM audit_db_new WHERE status = 'recorded'
                  UNION ALL
                  SELECT offence, -1 FROM audit_db_old WHERE status = 'recorded') AS x
            GROUP BY offence
            HAVING sum(d) <> 0;
        END IF;
    END IF;
    IF TG_OP = 'INSERT' THEN
        SELECT count(*),
               string_agg('{"key":' || to_json(x.key)::text || ',"new":' || to_json(x.nd)::text
                          || ',"old":null,"op":"insert"}', ',' ORDER BY x.key)
        INTO n, rows
        FROM (SELECT to_jsonb(r) ->> k AS key,
                     encode(sha256(convert_to(r::text, 'UTF8')), 'hex') AS nd FROM audit_db_new AS r) AS x;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT count(*),
               string_agg('{"key":' || to_json(x.key)::text || ',"new":null,"old":' || to_json(x.od)::text
                          || ',"op":"delete"}', ',' ORDER BY x.key)
        INTO n, rows
        FROM (SELECT to_jsonb(r) ->> k AS key,
                     encode(sha256(convert_to(r::text, 'UTF8')), 'hex') AS od FROM audit_db_old AS r) AS x;
    ELSE
        -- Old and new versions grouped by key (not joined: no join plan is needed, whatever the
        -- session's planner settings); a row whose key changed shows as its old key (old digest
        -- only) and its new key (new digest only).
        SELECT count(*),
               string_agg('{"key":' || to_json(x.key)::text || ',"new":' || coalesce(to_json(x.nd)::text, 'null')
                          || ',"old":' || coalesce(to_json(x.od)::text, 'null') || ',"op":"update"}', ','
                          ORDER BY x.key)
        INTO n, rows
        FROM (SELECT y.key, max(y.od) AS od, max(y.nd) AS nd
              FROM (SELECT to_jsonb(r) ->> k AS key, encode(sha256(convert_to(r::text, 'UTF8')), 'hex') AS od,
                           NULL::text AS nd FROM audit_db_old AS r
                    UNION ALL
                    SELECT to_jsonb(r) ->> k, NULL, encode(sha256(convert_to(r::text, 'UTF8')), 'hex')
                    FROM audit_db_new AS r) AS y
              GROUP BY y.key) AS x;
    END IF;
    IF n > 0 THEN
        PERFORM audit_db_append(TG_TABLE_NAME, op, rows);
    END IF;
    RETURN NULL;
END
$$;

-- One row per offence for every row this statement can see. The DELETE and the INSERT share one
-- snapshot, so a delta committed meanwhile is neither deleted nor summed, and stays for the next
-- fold; two folds at once each sum only the rows their own DELETE removed. In a read-only
-- transaction (a standby, or a server set read-only) it does nothing, so that the figures'
-- refresh goes on reading there: nothing is written to fold.
CREATE FUNCTION crime_counts_fold() RETURNS void
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
    IF current_setting('transaction_read_only') = 'on' THEN
        RETURN;
    END IF;
    WITH gone AS (DELETE FROM crime_counts RETURNING offence, n)
    INSERT INTO crime_counts (offence, n)
    SELECT offence, sum(n) FROM gone GROUP BY offence HAVING sum(n) <> 0;
END
$$;

GRANT SELECT, INSERT, DELETE ON crime_counts TO fcrd_app;
GRANT EXECUTE ON FUNCTION crime_counts_fold() TO fcrd_app;
