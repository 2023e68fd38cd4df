-- 0016_access_log.sql: the access log ('access' chain): every look at personal data through the
-- API, with who looked, from where, at what, and why (DPA 2018 Part 3 s.62: logs of consultation
-- and disclosure with the justification, date and time and the identity of the person).
--
-- Append-only and hash-chained like the audit trail: `entry` is the canonical text fcrd writes
-- (compact JSON, sorted keys) of the record, prev_hash the hash of the previous record ('' for
-- the first) and hash = sha256(prev_hash || entry) in lowercase hex. One chain, under the row
-- lock of access_log_head, so the order of ids is the order of the chain.
--
-- The serving role cannot write the table itself: it may read it and append through
-- access_log_append, a SECURITY DEFINER function owned by fcrd_chain (a role that cannot log
-- in). Nothing the serving login can do edits, removes or reorders a record.
CREATE TABLE access_log (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL,
    user_id      text        NOT NULL,
    role         text        NOT NULL,
    client       text,                   -- the client's address as fcrd saw it
    method       text        NOT NULL,
    route        text        NOT NULL,   -- the route's pattern (proto/openapi.yaml), then the path
    path         text        NOT NULL,
    incident_ids text[]      NOT NULL DEFAULT '{}',
    crns         text[]      NOT NULL DEFAULT '{}',
    person_refs  text[]      NOT NULL DEFAULT '{}',
    purpose      text,
    entry        text        NOT NULL,
    prev_hash    text        NOT NULL,
    hash         text        NOT NULL
);
-- Who looked at an incident or a person (the data protection officer's questions), and what a
-- user looked at.
CREATE INDEX access_log_incidents ON access_log USING gin (incident_ids);
CREATE INDEX access_log_refs ON access_log USING gin (person_refs);
CREATE INDEX access_log_user ON access_log (user_id, id);
CREATE INDEX access_log_at ON access_log (at);

CREATE TABLE access_log_head (
    id   int PRIMARY KEY CHECK (id = 1),
    hash text NOT NULL
);
INSERT INTO access_log_head VALUES (1, '');

CREATE TRIGGER access_log_no_update_delete BEFORE UPDATE OR DELETE ON access_log
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER access_log_head_no_delete BEFORE DELETE OR TRUNCATE ON access_log_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

-- lines: one record's canonical text per line (newline-separated; JSON escapes every newline
-- inside a value): {"at", "client", "crns", "incident_ids", "method", "path", "person_refs",
-- "purpose", "role", "route", "user"}. The columns are read from the text, so they cannot
-- disagree with what is hashed. Returns how many records were appended.
CREATE FUNCTION access_log_append(lines text) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    entries text[] := array_remove(string_to_array(lines, E'\n'), '');
    n       int := coalesce(cardinality(entries), 0);
    prevs   text[];
    hashes  text[];
    head    text;
BEGIN
    IF n = 0 THEN
        RETURN 0;
    END IF;
    SELECT h.hash INTO STRICT head FROM access_log_head h WHERE h.id = 1 FOR UPDATE;
    prevs := array_fill(NULL::text, ARRAY[n]);
    hashes := prevs;
    FOR i IN 1 .. n LOOP
        prevs[i] := head;
        head := encode(sha256(convert_to(head || entries[i], 'UTF8')), 'hex');
        hashes[i] := head;
    END LOOP;
    INSERT INTO access_log (at, user_id, role, client, method, route, path, incident_ids, crns, person_refs,
                            purpose, entry, prev_hash, hash)
    SELECT (j->>'at')::timestamptz, j->>'user', j->>'role', j->>'client', j->>'method', j->>'route', j->>'path',
           ARRAY(SELECT jsonb_array_elements_text(coalesce(j->'incident_ids', '[]'::jsonb))),
           ARRAY(SELECT jsonb_array_elements_text(coalesce(j->'crns', '[]'::jsonb))),
           ARRAY(SELECT jsonb_array_elements_text(coalesce(j->'person_refs', '[]'::jsonb))),
           j->>'purpose', u.line, u.prev_hash, u.hash
    FROM unnest(entries, prevs, hashes) WITH ORDINALITY AS u(line, prev_hash, hash, n),
         LATERAL (SELECT u.line::jsonb AS j) AS p
    ORDER BY u.n;
    UPDATE access_log_head h SET hash = head WHERE h.id = 1;
    RETURN n;
END
$$;

-- The function runs with its owner's rights: fcrd_chain, which holds exactly what appending
-- needs. Changing the owner needs CREATE on the schema for the new owner, only for the moment.
GRANT CREATE ON SCHEMA public TO fcrd_chain;
ALTER FUNCTION access_log_append(text) OWNER TO fcrd_chain;
REVOKE CREATE ON SCHEMA public FROM fcrd_chain;
GRANT SELECT, INSERT ON access_log TO fcrd_chain;
GRANT SELECT, UPDATE ON access_log_head TO fcrd_chain;
GRANT USAGE ON SEQUENCE access_log_id_seq TO fcrd_chain;

REVOKE ALL ON FUNCTION access_log_append(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION access_log_append(text) TO fcrd_app;
REVOKE ALL ON access_log, access_log_head FROM PUBLIC;
GRANT SELECT ON access_log, access_log_head TO fcrd_app;
