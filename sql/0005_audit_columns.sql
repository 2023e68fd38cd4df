-- 0005_audit_columns.sql: audit_append takes each entry's columns from fcrd beside its canonical
-- text, so that the text is no longer parsed as JSON once per entry; and the hash column loses its
-- unique index.
--
-- A line is the canonical text, then tab-separated: at, incident_id, crn, pending_id, allegation,
-- event_id, actor, role, action (as they are; empty for null), before, after, rules (JSON) and
-- ruleset. A line that is the canonical text alone has its columns read from the text, as before
-- (fcrd sends that when a value holds a control character or is an empty string). The chain is
-- computed exactly as before, over the canonical text only.
--
-- The unique index on hash was written at a random place for every entry (the most costly of the
-- table's indexes as it grows) and guarded nothing: the chain's order is kept by the lock on
-- audit_head, and its integrity is checked by recomputing it (fcrctl chain).
ALTER TABLE audit DROP CONSTRAINT audit_hash_key;

CREATE OR REPLACE FUNCTION audit_append(lines text) RETURNS integer
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
        head := encode(sha256(convert_to(head || split_part(entries[i], E'\t', 1), 'UTF8')), 'hex');
        hashes[i] := head;
    END LOOP;
    INSERT INTO audit (at, incident_id, crn, pending_id, allegation, event_id, actor, role, action,
                       before, after, rules, ruleset, entry, prev_hash, hash)
    SELECT CASE WHEN f THEN a[2]::timestamptz ELSE (j->>'at')::timestamptz END,
           CASE WHEN f THEN a[3] ELSE j->>'incident_id' END,
           CASE WHEN f THEN a[4] ELSE j->>'crn' END,
           CASE WHEN f THEN a[5] ELSE j->>'pending_id' END,
           CASE WHEN f THEN a[6] ELSE j->>'allegation' END,
           CASE WHEN f THEN a[7] ELSE j->>'event_id' END,
           CASE WHEN f THEN a[8] ELSE j->>'actor' END,
           CASE WHEN f THEN a[9] ELSE j->>'role' END,
           CASE WHEN f THEN a[10] ELSE j->>'action' END,
           CASE WHEN f THEN a[11]::jsonb ELSE j->'before' END,
           CASE WHEN f THEN a[12]::jsonb ELSE j->'after' END,
           ARRAY(SELECT jsonb_array_elements_text(COALESCE(CASE WHEN f THEN a[13]::jsonb ELSE j->'rules' END,
                                                           '[]'::jsonb))),
           CASE WHEN f THEN a[14] ELSE j->>'ruleset' END,
           a[1], u.prev_hash, u.hash
    FROM unnest(entries, prevs, hashes) WITH ORDINALITY AS u(line, prev_hash, hash, n),
         LATERAL (SELECT string_to_array(u.line, E'\t', '') AS a OFFSET 0) AS s,
         LATERAL (SELECT cardinality(s.a) = 14 AS f OFFSET 0) AS c,
         LATERAL (SELECT CASE WHEN NOT c.f THEN s.a[1]::jsonb END AS j OFFSET 0) AS p
    ORDER BY u.n;
    UPDATE audit_head SET hash = head WHERE id = 1;
    RETURN cardinality(entries);
END
$$;
