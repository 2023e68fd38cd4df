-- 0003_audit_append.sql: the database chains audit entries, so that the chain head is locked only
-- at the end of a writing transaction and two transactions can decide their events at the same
-- time. The caller passes the entries' canonical texts, one per line, in order; each entry gets
-- prev_hash (the head before it, '' for the very first) and hash = sha256(prev_hash || entry) in
-- lowercase hex, exactly as before; every other column is read from the text itself.
CREATE FUNCTION audit_append(lines text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    entries text[];
    prevs   text[] := '{}';
    hashes  text[] := '{}';
    head    text;
BEGIN
    entries := ARRAY(SELECT l FROM string_to_table(lines, E'\n') WITH ORDINALITY AS t(l, n)
                     WHERE l <> '' ORDER BY n);
    IF cardinality(entries) = 0 THEN
        RETURN 0;
    END IF;
    SELECT hash INTO STRICT head FROM audit_head WHERE id = 1 FOR UPDATE;
    FOR i IN 1 .. cardinality(entries) LOOP
        prevs[i] := head;
        head := encode(sha256(convert_to(head || entries[i], 'UTF8')), 'hex');
        hashes[i] := head;
    END LOOP;
    INSERT INTO audit (at, incident_id, crn, pending_id, allegation, event_id, actor, role, action,
                       before, after, rules, ruleset, entry, prev_hash, hash)
    SELECT (j->>'at')::timestamptz, j->>'incident_id', j->>'crn', j->>'pending_id', j->>'allegation',
           j->>'event_id', j->>'actor', j->>'role', j->>'action', j->'before', j->'after',
           ARRAY(SELECT jsonb_array_elements_text(COALESCE(j->'rules', '[]'::jsonb))), j->>'ruleset',
           u.entry, u.prev_hash, u.hash
    FROM unnest(entries, prevs, hashes) WITH ORDINALITY AS u(entry, prev_hash, hash, n),
         LATERAL (SELECT u.entry::jsonb AS j OFFSET 0) AS p
    ORDER BY u.n;
    UPDATE audit_head SET hash = head WHERE id = 1;
    RETURN cardinality(entries);
END
$$;
