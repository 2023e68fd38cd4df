-- 0022_retention_floor.sql: no redaction before a floor the database keeps.
--
-- retention_redact (0020, 0021) redacts whatever incident its caller names, for the period the
-- caller says: the serving role, or a daemon someone has taken over, could erase a victim's
-- account the day after it was reported. The floor is the shortest time any incident's personal
-- data is kept after its last event or closure, held in a table that only the schema owner may
-- change (the serving role and fcrd_chain read it). retention_redact refuses (returns false, and
-- changes nothing) an incident more recent than the longer of the period it is given and the
-- floor; retention_due lists only incidents past both, so a dry run and a run agree. The default,
-- one year, is the shortest period the shipped configuration applies ([retention] incident_s);
-- a force that keeps less changes it as the schema owner:
--     UPDATE retention_floor SET seconds = ... WHERE id = 1;
CREATE TABLE retention_floor (
    id      integer PRIMARY KEY CHECK (id = 1),
    seconds bigint  NOT NULL CHECK (seconds >= 0)
);
INSERT INTO retention_floor (id, seconds) VALUES (1, 31536000);
REVOKE ALL ON retention_floor FROM PUBLIC;
GRANT SELECT ON retention_floor TO fcrd_app, fcrd_chain;

CREATE OR REPLACE FUNCTION retention_due(incident_seconds bigint, crime_seconds bigint, groups text)
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
      AND p.since + make_interval(secs => greatest(coalesce(split_part(p.crime, ':', 1)::bigint, incident_seconds),
                                                   coalesce((SELECT f.seconds FROM retention_floor f WHERE f.id = 1), 0)))
          < now()
    ORDER BY p.since, p.incident_id
$$;

CREATE OR REPLACE FUNCTION retention_redact(incident text, period text, seconds bigint, actor text, role text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    ne bigint; np bigint; na bigint; nv bigint; old bigint;
    since timestamptz; floor_s bigint;
BEGIN
    PERFORM 1 FROM incidents i WHERE i.incident_id = incident AND NOT i.legal_hold AND i.redacted_at IS NULL
        FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    -- Never before the floor, whatever period the caller names: the incident's last event (or its
    -- closure) must lie further back than the longer of the two.
    SELECT greatest(i.closed_at, (SELECT max(e.at) FROM raw_events e WHERE e.incident_id = i.incident_id))
        INTO since FROM incidents i WHERE i.incident_id = incident;
    SELECT f.seconds INTO floor_s FROM retention_floor f WHERE f.id = 1;
    IF since IS NULL OR since + make_interval(secs => greatest(seconds, coalesce(floor_s, 0))) >= now() THEN
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
    -- A verdict names its audit item by (audit_id, incident_id), the incident's own id (the foreign
    -- key to audit_items), so the verdicts on every item of this incident, in every audit, are
    -- those with its incident_id. The condition is the index's (audit_verdicts_note_due); notes
    -- already redacted and verdicts without one are left alone, and not counted.
    UPDATE audit_verdicts v SET note = '[redacted]' WHERE v.incident_id = incident AND v.note <> '[redacted]';
    GET DIAGNOSTICS nv = ROW_COUNT;
    SELECT count(*) INTO old FROM audit a, audit_personal_start s WHERE a.incident_id = incident AND a.id <= s.last_id;
    PERFORM audit_sql_append(incident, actor, role, 'retention.redacted',
        '{"audit_personal":' || na || ',"audit_verdicts":' || nv || ',"kinds":' || to_json(personal_members())::text
        || ',"old_entries":' || old || ',"pending_decisions":' || np || ',"period":' || to_json(period)::text
        || ',"raw_events":' || ne || ',"seconds":' || seconds || '}', NULL);
    RETURN true;
END
$$;
