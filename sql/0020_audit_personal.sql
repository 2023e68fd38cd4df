-- 0020_audit_personal.sql: personal data leaves the hashed audit text, and is retired on schedule.
--
-- 1. Personal values of an audit entry (the members daemon/store/audit.c lists in
--    audit_personal_members: names, narratives, notes, rationales, AVI details, a person's
--    employer) are written in the canonical (hashed) text as {"pd": D}, where D is the lowercase
--    hex SHA-256 of the entry's salt followed by the value's canonical JSON text. The plaintext
--    lives beside the entry in audit_personal: one row per entry that has any, with the entry's
--    random salt and `vals`, an object from each digest D to the exact JSON text that was digested,
--    so that anyone can recheck sha256(salt || text) = D without re-serialising anything. Retention
--    deletes the row; the chain, which never held the plaintext, verifies as before.
--
--    A line may carry this side data as one more tab-separated field after the 15 of
--    0010_rulesets.sql (16 fields), or after a canonical text sent alone (2 fields): a JSON object
--    {"salt": S, "v": {D: TEXT, ...}}. Lines of 14 or 15 fields or a text alone (fcrd instances of
--    earlier versions, the database's own entries) are read exactly as before.
--
--    Entries written before this migration keep their text as it was: their plaintext is part of
--    the hashed text and cannot be removed without breaking the chain. audit_personal_start holds
--    the last id of those entries; retention counts them per incident instead of touching them.
--
-- 2. Retention: incidents gain a legal hold (set and cleared by an FCR through the API, audited)
--    and the time their personal data was redacted. retention_due lists the incidents past their
--    period; retention_redact (SECURITY DEFINER, owned by fcrd_chain) redacts one incident in the
--    caller's transaction and appends a 'retention.redacted' entry; the procedure retention_run
--    commits after each incident, so a run stopped halfway leaves each incident whole or redacted.
--    The serving role gains no UPDATE on raw_events or audit and no DELETE on audit_personal.

CREATE TABLE audit_personal (
    audit_id bigint PRIMARY KEY,
    salt     text  NOT NULL,
    vals     jsonb NOT NULL
);

CREATE TABLE audit_personal_start (
    id      int PRIMARY KEY CHECK (id = 1),
    last_id bigint NOT NULL
);
INSERT INTO audit_personal_start SELECT 1, coalesce(max(id), 0) FROM audit;

ALTER TABLE incidents ADD COLUMN legal_hold boolean NOT NULL DEFAULT false;
ALTER TABLE incidents ADD COLUMN legal_hold_reason text;
ALTER TABLE incidents ADD COLUMN redacted_at timestamptz;

-- The member names whose values are personal, as the redaction functions read them. The daemon's
-- own list (daemon/store/audit.c, audit_personal_members) must name the same members.
CREATE FUNCTION personal_members() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['avi', 'employer', 'name', 'narrative', 'note', 'rationale', 'reason_text']
$$;

-- j with every personal member's value (at any depth) replaced by the marker "[redacted]".
CREATE FUNCTION personal_redact(j jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE jsonb_typeof(j)
        WHEN 'object' THEN coalesce((SELECT jsonb_object_agg(e.key,
                                        CASE WHEN e.key = ANY(personal_members()) AND jsonb_typeof(e.value) <> 'null'
                                             THEN '"[redacted]"'::jsonb ELSE personal_redact(e.value) END)
                                     FROM jsonb_each(j) AS e), '{}'::jsonb)
        WHEN 'array' THEN coalesce((SELECT jsonb_agg(personal_redact(e.value) ORDER BY e.n)
                                    FROM jsonb_array_elements(j) WITH ORDINALITY AS e(value, n)), '[]'::jsonb)
        ELSE j END
$$;

-- An entry's before or after as the API shows it: each {"pd": D} replaced by its plaintext while
-- audit_personal holds it (vals), by "[redacted]" after.
CREATE FUNCTION audit_pd_merge(j jsonb, vals jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN j IS NULL OR strpos(j::text, '"pd"') = 0 THEN j
        WHEN jsonb_typeof(j) = 'object' AND j ? 'pd' AND (SELECT count(*) FROM jsonb_object_keys(j)) = 1
            THEN coalesce((vals ->> (j ->> 'pd'))::jsonb, '"[redacted]"'::jsonb)
        WHEN jsonb_typeof(j) = 'object' THEN coalesce((SELECT jsonb_object_agg(e.key, audit_pd_merge(e.value, vals))
                                                       FROM jsonb_each(j) AS e), '{}'::jsonb)
        WHEN jsonb_typeof(j) = 'array' THEN coalesce((SELECT jsonb_agg(audit_pd_merge(e.value, vals) ORDER BY e.n)
                                                      FROM jsonb_array_elements(j) WITH ORDINALITY AS e(value, n)),
                                                     '[]'::jsonb)
        ELSE j END
$$;

-- audit_append as in 0010_rulesets.sql, reading a line's side data (above) into audit_personal.
CREATE OR REPLACE FUNCTION audit_append(lines text, chain int) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    entries text[] := array_remove(string_to_array(lines, E'\n'), '');
    n       int := coalesce(cardinality(entries), 0);
    prevs   text[];
    hashes  text[];
    sides   text[];
    parts   text[];
    head    text;
    any_pd  boolean := false;
BEGIN
    IF n = 0 THEN
        RETURN 0;
    END IF;
    SELECT h.hash INTO STRICT head FROM audit_head h WHERE h.id = audit_append.chain FOR UPDATE;
    -- As in 0007_audit_chains.sql: until this transaction ends, a shared advisory lock keyed by
    -- the last id drawn so far tells readers that ids above it may still commit.
    PERFORM pg_advisory_xact_lock_shared(coalesce(pg_sequence_last_value('audit_id_seq'), 0));
    prevs := array_fill(NULL::text, ARRAY[n]);
    hashes := prevs;
    sides := prevs;
    FOR i IN 1 .. n LOOP
        prevs[i] := head;
        head := encode(sha256(convert_to(head || split_part(entries[i], E'\t', 1), 'UTF8')), 'hex');
        hashes[i] := head;
        -- Only lines with side data pay for a second split.
        IF right(entries[i], 1) = '}' AND strpos(entries[i], E'\t{"salt":') > 0 THEN
            parts := string_to_array(entries[i], E'\t');
            IF cardinality(parts) IN (2, 16) THEN
                sides[i] := parts[cardinality(parts)];
                entries[i] := array_to_string(parts[1:cardinality(parts) - 1], E'\t');
                any_pd := true;
            END IF;
        END IF;
    END LOOP;
    WITH ins AS (
    INSERT INTO audit (at, incident_id, crn, pending_id, allegation, event_id, actor, role, action,
                       before, after, rules, ruleset, ruleset_sha256, entry, prev_hash, hash, chain)
    SELECT CASE WHEN f THEN a[2]::timestamptz ELSE (a[1]::jsonb->>'at')::timestamptz END,
           CASE WHEN f THEN a[3] ELSE a[1]::jsonb->>'incident_id' END,
           CASE WHEN f THEN a[4] ELSE a[1]::jsonb->>'crn' END,
           CASE WHEN f THEN a[5] ELSE a[1]::jsonb->>'pending_id' END,
           CASE WHEN f THEN a[6] ELSE a[1]::jsonb->>'allegation' END,
           CASE WHEN f THEN a[7] ELSE a[1]::jsonb->>'event_id' END,
           CASE WHEN f THEN a[8] ELSE a[1]::jsonb->>'actor' END,
           CASE WHEN f THEN a[9] ELSE a[1]::jsonb->>'role' END,
           CASE WHEN f THEN a[10] ELSE a[1]::jsonb->>'action' END,
           CASE WHEN f THEN a[11]::jsonb ELSE a[1]::jsonb->'before' END,
           CASE WHEN f THEN a[12]::jsonb ELSE a[1]::jsonb->'after' END,
           CASE WHEN f AND left(a[13], 1) = '{' THEN a[13]::text[]
                ELSE ARRAY(SELECT jsonb_array_elements_text(
                               COALESCE(CASE WHEN f THEN a[13]::jsonb ELSE a[1]::jsonb->'rules' END, '[]'::jsonb)))
           END,
           CASE WHEN f THEN a[14] ELSE a[1]::jsonb->>'ruleset' END,
           CASE WHEN f THEN a[15] ELSE a[1]::jsonb->>'ruleset_sha256' END,
           a[1], u.prev_hash, u.hash, audit_append.chain
    FROM (SELECT u.prev_hash, u.hash, u.n, s.a, cardinality(s.a) IN (14, 15) AS f
          FROM unnest(entries, prevs, hashes) WITH ORDINALITY AS u(line, prev_hash, hash, n),
               string_to_array(u.line, E'\t', '') AS s(a)
          OFFSET 0) AS u
    ORDER BY u.n
    RETURNING id, hash)
    INSERT INTO audit_personal (audit_id, salt, vals)
    SELECT ins.id, (d.side::jsonb)->>'salt', (d.side::jsonb)->'v'
    FROM ins JOIN unnest(hashes, sides) AS d(hash, side) ON d.hash = ins.hash
    WHERE any_pd AND d.side IS NOT NULL;
    UPDATE audit_head h SET hash = head WHERE h.id = audit_append.chain;
    RETURN n;
END
$$;

GRANT SELECT, INSERT ON audit_personal TO fcrd_chain;
GRANT SELECT ON audit_personal, audit_personal_start TO fcrd_app;
REVOKE ALL ON audit_personal FROM PUBLIC;

-- ---- 2. retention --------------------------------------------------------------------------

-- One entry made here (not by fcrd), with optional side data, appended to the caller's chain
-- (audit_db_chain, 0014_audit_guard.sql). after_text is compact JSON with sorted keys.
CREATE FUNCTION audit_sql_append(incident text, actor text, role text, action text, after_text text,
                                 side text) RETURNS void
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
    at    text := to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
    entry text;
BEGIN
    entry := '{"action":' || to_json(action)::text || ',"actor":' || to_json(actor)::text || ',"after":'
          || after_text || ',"allegation":null,"at":' || to_json(at)::text || ',"before":null,"crn":null'
          || ',"event_id":null,"incident_id":' || to_json(incident)::text || ',"pending_id":null,"role":'
          || to_json(role)::text || ',"rules":[],"ruleset":null,"ruleset_sha256":null}';
    PERFORM audit_append(entry || CASE WHEN side IS NULL THEN '' ELSE E'\t' || side END || E'\n',
                         audit_db_chain());
END
$$;

-- Legal hold: set (hold true, with a reason) or cleared by an FCR. The reason is free text, so the
-- entry holds its digest, the plaintext kept in audit_personal. Returns false for no such incident.
CREATE FUNCTION incident_legal_hold(incident text, hold boolean, reason text, actor text, role text)
RETURNS boolean
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
    salt text := left(encode(sha256(convert_to(random()::text || clock_timestamp()::text, 'UTF8')), 'hex'), 32);
    rt   text := to_json(reason)::text;
    d    text;
BEGIN
    UPDATE incidents SET legal_hold = hold, legal_hold_reason = reason WHERE incident_id = incident;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF reason IS NULL THEN
        PERFORM audit_sql_append(incident, actor, role, 'incident.legal_hold',
                                 '{"hold":' || hold::text || ',"reason":null}', NULL);
    ELSE
        d := encode(sha256(convert_to(salt || rt, 'UTF8')), 'hex');
        PERFORM audit_sql_append(incident, actor, role, 'incident.legal_hold',
                                 '{"hold":' || hold::text || ',"reason":{"pd":"' || d || '"}}',
                                 json_build_object('salt', salt, 'v', json_build_object(d, rt))::text);
    END IF;
    RETURN true;
END
$$;

-- The incidents past their retention period, not on hold and not yet redacted. An incident's clock
-- starts at the later of its closure and its last event's time (the feed's `at`). Its period: the
-- longest of its recorded crimes' (crime_groups[offence group] or crime_seconds), else
-- incident_seconds. groups: "group=seconds,..." as in fcrd's [retention] crime_groups.
CREATE FUNCTION retention_due(incident_seconds bigint, crime_seconds bigint, groups text)
RETURNS TABLE (incident_id text, period text, seconds bigint, since timestamptz, old_entries bigint)
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    WITH g AS (SELECT split_part(x, '=', 1) AS grp, split_part(x, '=', 2)::bigint AS secs
               FROM unnest(string_to_array(nullif(groups, ''), ',')) AS x),
    p AS (SELECT i.incident_id,
                 greatest(i.closed_at, (SELECT max(e.at) FROM raw_events e WHERE e.incident_id = i.incident_id)) AS since,
                 (SELECT max(coalesce(g.secs, crime_seconds) || ':' || coalesce('group ' || g.grp, 'crime'))
                  FROM crimes c
                  LEFT JOIN LATERAL (SELECT pi.offence_group FROM person_index pi
                                     WHERE pi.crn = c.crn AND pi.offence_group IS NOT NULL LIMIT 1) AS og ON true
                  LEFT JOIN g ON g.grp = og.offence_group
                  WHERE c.incident_id = i.incident_id AND c.status = 'recorded') AS crime
          FROM incidents i
          WHERE NOT i.legal_hold AND i.redacted_at IS NULL AND i.state IS NOT NULL)
    SELECT p.incident_id,
           coalesce(split_part(p.crime, ':', 2), 'incident'),
           coalesce(split_part(p.crime, ':', 1)::bigint, incident_seconds),
           p.since,
           (SELECT count(*) FROM audit a, audit_personal_start s
            WHERE a.incident_id = p.incident_id AND a.id <= s.last_id)
    FROM p
    WHERE p.since IS NOT NULL
      AND p.since + make_interval(secs => coalesce(split_part(p.crime, ':', 1)::bigint, incident_seconds)) < now()
    ORDER BY p.since, p.incident_id
$$;

-- Redacts one incident's personal data, in the caller's transaction: the raw events' bodies, the
-- incident's state, its pending decisions' resolutions and the plaintext beside its audit entries
-- (rows deleted). Codes, counts, dates, decisions, CRNs, person refs and the chains stay. Appends
-- one 'retention.redacted' entry naming the period applied and what was redacted (no personal
-- data). Returns false, doing nothing, when the incident is on hold, already redacted or absent,
-- so a second run changes nothing.
CREATE FUNCTION retention_redact(incident text, period text, seconds bigint, actor text, role text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    ne bigint; np bigint; na bigint; old bigint;
BEGIN
    PERFORM 1 FROM incidents i WHERE i.incident_id = incident AND NOT i.legal_hold AND i.redacted_at IS NULL
        FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE raw_events e SET body = personal_redact(e.body::jsonb)::text WHERE e.incident_id = incident;
    GET DIAGNOSTICS ne = ROW_COUNT;
    UPDATE incidents i SET state = personal_redact(i.state::jsonb)::json, legal_hold_reason = NULL, redacted_at = now()
        WHERE i.incident_id = incident;
    UPDATE pending_decisions p SET resolution = personal_redact(p.resolution)
        WHERE p.incident_id = incident AND p.resolution IS NOT NULL
          AND p.resolution IS DISTINCT FROM personal_redact(p.resolution);
    GET DIAGNOSTICS np = ROW_COUNT;
    DELETE FROM audit_personal ap USING audit a WHERE a.id = ap.audit_id AND a.incident_id = incident;
    GET DIAGNOSTICS na = ROW_COUNT;
    SELECT count(*) INTO old FROM audit a, audit_personal_start s WHERE a.incident_id = incident AND a.id <= s.last_id;
    PERFORM audit_sql_append(incident, actor, role, 'retention.redacted',
        '{"audit_personal":' || na || ',"kinds":' || to_json(personal_members())::text
        || ',"old_entries":' || old || ',"pending_decisions":' || np || ',"period":' || to_json(period)::text
        || ',"raw_events":' || ne || ',"seconds":' || seconds || '}', NULL);
    RETURN true;
END
$$;

-- A run: each due incident redacted in its own transaction (COMMIT after each), so a run stopped
-- at any point leaves every incident whole or redacted, and the next run finishes. dry_run lists
-- only. result: a JSON array of {incident_id, period, seconds, since, old_entries, redacted}.
-- Called with CALL outside a transaction block. No SET clause: a procedure with one cannot commit,
-- so the names it uses are schema-qualified.
CREATE PROCEDURE retention_run(dry_run boolean, incident_seconds bigint, crime_seconds bigint, groups text,
                               actor text, role text, INOUT result jsonb DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    r   record;
    acc jsonb := '[]'::jsonb;
    ok  boolean;
BEGIN
    FOR r IN SELECT * FROM public.retention_due(incident_seconds, crime_seconds, groups) LOOP
        ok := false;
        IF NOT dry_run THEN
            ok := public.retention_redact(r.incident_id, r.period, r.seconds, actor, role);
            COMMIT;
        END IF;
        acc := acc || jsonb_build_object('incident_id', r.incident_id, 'period', r.period, 'seconds', r.seconds,
                                         'since', to_char(r.since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                                         'old_entries', r.old_entries, 'redacted', ok);
    END LOOP;
    result := acc;
END
$$;

GRANT UPDATE (body) ON raw_events TO fcrd_chain;
GRANT SELECT, UPDATE (state, legal_hold_reason, redacted_at) ON incidents TO fcrd_chain;
GRANT SELECT, UPDATE (resolution) ON pending_decisions TO fcrd_chain;
GRANT SELECT ON raw_events, audit TO fcrd_chain;
GRANT DELETE ON audit_personal TO fcrd_chain;
GRANT EXECUTE ON FUNCTION audit_sql_append(text, text, text, text, text, text) TO fcrd_chain;
GRANT SELECT ON audit_personal_start TO fcrd_chain;

GRANT CREATE ON SCHEMA public TO fcrd_chain;
ALTER FUNCTION retention_redact(text, text, bigint, text, text) OWNER TO fcrd_chain;
REVOKE CREATE ON SCHEMA public FROM fcrd_chain;
REVOKE ALL ON FUNCTION retention_redact(text, text, bigint, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION retention_redact(text, text, bigint, text, text) TO fcrd_app;
REVOKE ALL ON FUNCTION incident_legal_hold(text, boolean, text, text, text), audit_sql_append(text, text, text, text, text, text),
    retention_due(bigint, bigint, text) FROM PUBLIC;
REVOKE ALL ON PROCEDURE retention_run(boolean, bigint, bigint, text, text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION incident_legal_hold(text, boolean, text, text, text), audit_sql_append(text, text, text, text, text, text),
    retention_due(bigint, bigint, text) TO fcrd_app;
GRANT EXECUTE ON PROCEDURE retention_run(boolean, bigint, bigint, text, text, text, jsonb) TO fcrd_app;
