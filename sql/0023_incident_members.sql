-- 0023_incident_members.sql: an incident's persons and allegations as rows of their own.
--
-- Until now the whole state document, persons and allegations included, was read, rewritten and
-- compressed into the incident's row by every event: a major incident's hundredth witness cost
-- the hundred before it again. The state's `persons` and `allegations` arrays move to this table,
-- one row per member, keyed by the member's id, with its position in its array (`ord`: the rules
-- replace a known id where it stands and append a new one, so a position never changes). The
-- incident's row keeps the rest of the state. The write statement upserts only the members the
-- batch's events named (daemon/store/store_sql.h, SQL_WRITE); the store reads them back with a
-- statement of its own once it holds the incident's row lock (SQL_MEMBERS_READ), and every writer
-- of an incident's members holds that lock.
--
-- incident_doc(incident_id, state) gives the whole document as before (text), for every reader
-- that wants it: the API, the what-if replay, retention, the subject export.
-- No foreign key to incidents: a member is written only by the statement that writes its
-- incident's row, under that row's lock, and a key check per member (a row lock taken on the
-- incident for each) cost the write path more than any other part of this change.
CREATE TABLE incident_members (
    incident_id text    NOT NULL,
    kind        text    NOT NULL CHECK (kind IN ('persons', 'allegations')),
    ord         integer NOT NULL CHECK (ord >= 0),
    member_id   text    NOT NULL,
    ref         text,   -- a person's command-and-control ref, as in doc (for the index below)
    doc         json    NOT NULL,
    PRIMARY KEY (incident_id, kind, member_id)
);
-- A person by command-and-control ref, for subject access (GET /v1/subjects/{ref}), which had to
-- read every incident's state to find witnesses and reporters. The ref is a column of its own,
-- written by the store, so that neither the index nor its condition parses the member.
CREATE INDEX incident_members_ref ON incident_members (ref) WHERE ref IS NOT NULL;

GRANT SELECT, INSERT, UPDATE ON incident_members TO fcrd_app;
GRANT SELECT, UPDATE (doc) ON incident_members TO fcrd_chain;

-- The state document whole: the row's state with its members' arrays appended, in their order.
-- Text, not json: the store parses it itself, and a reader that wants json casts it.
CREATE FUNCTION incident_doc(id text, state json) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = public, pg_temp AS $$
    SELECT CASE WHEN state IS NULL THEN NULL ELSE
        '{' || CASE WHEN x.body ~ '^\s*$' THEN '' ELSE x.body || ',' END
        || '"persons":' || coalesce((SELECT json_agg(m.doc ORDER BY m.ord)::text FROM incident_members m
                                     WHERE m.incident_id = id AND m.kind = 'persons'), '[]')
        || ',"allegations":' || coalesce((SELECT json_agg(m.doc ORDER BY m.ord)::text FROM incident_members m
                                          WHERE m.incident_id = id AND m.kind = 'allegations'), '[]')
        || '}' END
    FROM (SELECT substr(btrim(state::text, E' \t\r\n'), 2, length(btrim(state::text, E' \t\r\n')) - 2) AS body) AS x
$$;
GRANT EXECUTE ON FUNCTION incident_doc(text, json) TO fcrd_app, fcrd_chain;

-- Existing states: their members become rows, then leave the state. A member without a string id
-- cannot be keyed; the rules never store one, so finding one stops the migration rather than
-- losing it. The change notifications (0018) are not sent for this rewrite: nothing changed for a
-- reader of the API.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM incidents i, unnest(ARRAY['persons', 'allegations']) AS k(kind),
                    json_array_elements(CASE WHEN json_typeof(i.state -> k.kind) = 'array'
                                             THEN i.state -> k.kind ELSE '[]'::json END) AS e(v)
               WHERE i.state IS NOT NULL AND json_typeof(e.v -> 'id') IS DISTINCT FROM 'string') THEN
        RAISE EXCEPTION 'an incident state holds a person or allegation without a string id; it cannot be moved';
    END IF;
END
$$;

INSERT INTO incident_members (incident_id, kind, ord, member_id, ref, doc)
SELECT i.incident_id, k.kind, (e.n - 1)::integer, e.v ->> 'id',
       CASE WHEN k.kind = 'persons' AND json_typeof(e.v -> 'ref') = 'string' THEN e.v ->> 'ref' END, e.v
FROM incidents i, unnest(ARRAY['persons', 'allegations']) AS k(kind),
     json_array_elements(CASE WHEN json_typeof(i.state -> k.kind) = 'array'
                              THEN i.state -> k.kind ELSE '[]'::json END) WITH ORDINALITY AS e(v, n)
WHERE i.state IS NOT NULL
ON CONFLICT (incident_id, kind, member_id) DO NOTHING;

ALTER TABLE incidents DISABLE TRIGGER incidents_notify_update;
UPDATE incidents i
SET state = (SELECT coalesce(json_object_agg(e.key, e.value), '{}'::json)
             FROM json_each(i.state) AS e WHERE e.key NOT IN ('persons', 'allegations'))
WHERE i.state IS NOT NULL AND (i.state::jsonb ? 'persons' OR i.state::jsonb ? 'allegations');
ALTER TABLE incidents ENABLE TRIGGER incidents_notify_update;

-- Retention (0022) redacts the members too: the row's state no longer holds them. As in 0022,
-- with one more statement.
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
    UPDATE incident_members m SET doc = personal_redact(m.doc::jsonb)::json WHERE m.incident_id = incident;
    UPDATE pending_decisions p SET resolution = personal_redact(p.resolution)
        WHERE p.incident_id = incident AND p.resolution IS NOT NULL
          AND p.resolution IS DISTINCT FROM personal_redact(p.resolution);
    GET DIAGNOSTICS np = ROW_COUNT;
    DELETE FROM audit_personal ap USING audit a WHERE a.id = ap.audit_id AND a.incident_id = incident;
    GET DIAGNOSTICS na = ROW_COUNT;
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
