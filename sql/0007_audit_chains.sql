-- 0007_audit_chains.sql: the audit trail becomes up to 16 hash chains, one per store lane, so
-- that a transaction appending to the trail no longer waits for every other lane's commit (its
-- WAL flush included) to release a single chain head.
--
-- Each chain is a hash chain on its own, exactly as the one chain was: an entry's prev_hash is
-- the hash of the previous entry of the same chain ('' for the chain's first entry) and hash =
-- sha256(prev_hash || entry). The entries of one chain are appended under that chain's head row
-- lock, so within a chain the order of ids is the order of the chain. Every entry written before
-- this migration belongs to chain 1, which simply goes on. The hashed text does not hold the
-- chain number: an entry moved to another chain breaks the links of both.
--
-- Ids are still drawn from one sequence, but no longer in commit order across chains; how the API
-- lists the trail in id order without skipping an entry that commits late is described in
-- audit_append below.
--
-- Quick on a trail of any size: the new column's value for existing rows is kept in the catalog
-- (no rewrite), and its check is not run over them (NOT VALID: they are all 1).
ALTER TABLE audit ADD COLUMN chain smallint NOT NULL DEFAULT 1;
ALTER TABLE audit ALTER COLUMN chain DROP DEFAULT;
ALTER TABLE audit ADD CONSTRAINT audit_chain_range CHECK (chain BETWEEN 1 AND 16) NOT VALID;

ALTER TABLE audit_head DROP CONSTRAINT audit_head_id_check;
ALTER TABLE audit_head ADD CONSTRAINT audit_head_id_check CHECK (id BETWEEN 1 AND 16);
INSERT INTO audit_head (id, hash) SELECT g, '' FROM generate_series(2, 16) AS g;


-- lines as in 0005_audit_columns.sql; chain: which chain to append them to (1 to 16).
CREATE FUNCTION audit_append(lines text, chain int) RETURNS integer
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
    SELECT h.hash INTO STRICT head FROM audit_head h WHERE h.id = audit_append.chain FOR UPDATE;
    -- The entries' ids come from audit_id_seq, after every id drawn so far. Until this
    -- transaction ends, a shared advisory lock keyed by the last id drawn so far tells readers
    -- that ids above that key may still commit (the API lists no entry above the lowest such
    -- key: daemon/api_routes.c, SQL_AUDIT_HORIZON).
    PERFORM pg_advisory_xact_lock_shared(coalesce(pg_sequence_last_value('audit_id_seq'), 0));
    FOR i IN 1 .. cardinality(entries) LOOP
        prevs[i] := head;
        head := encode(sha256(convert_to(head || split_part(entries[i], E'\t', 1), 'UTF8')), 'hex');
        hashes[i] := head;
    END LOOP;
    INSERT INTO audit (at, incident_id, crn, pending_id, allegation, event_id, actor, role, action,
                       before, after, rules, ruleset, entry, prev_hash, hash, chain)
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
           a[1], u.prev_hash, u.hash, audit_append.chain
    FROM unnest(entries, prevs, hashes) WITH ORDINALITY AS u(line, prev_hash, hash, n),
         LATERAL (SELECT string_to_array(u.line, E'\t', '') AS a OFFSET 0) AS s,
         LATERAL (SELECT cardinality(s.a) = 14 AS f OFFSET 0) AS c,
         LATERAL (SELECT CASE WHEN NOT c.f THEN s.a[1]::jsonb END AS j OFFSET 0) AS p
    ORDER BY u.n;
    UPDATE audit_head h SET hash = head WHERE h.id = audit_append.chain;
    RETURN cardinality(entries);
END
$$;

-- The one-argument form, as an fcrd instance of the previous version calls it while others are
-- already upgraded: it appends to chain 1, under the same lock and with the same guarantees.
CREATE OR REPLACE FUNCTION audit_append(lines text) RETURNS integer
LANGUAGE sql AS $$ SELECT audit_append(lines, 1) $$;
