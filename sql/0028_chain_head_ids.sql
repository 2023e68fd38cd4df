-- 0028_chain_head_ids.sql: each audit chain's head row keeps the id of its last entry, so that
-- chain_heads() (0017), which the signed checkpoints read, costs the same on a trail of any size.
--
-- 0017 found a head's last entry "through the unique index on audit.hash", but 0005 had dropped
-- that index before 0017 was written: chain_heads() joined the whole audit table on the hash,
-- 1.4 s on a million entries, and ten years of a large force hold tens of millions, past the
-- 30-second timeout of the checkpoint's reading.
--
-- audit_head.last_id is written by audit_append under the head row's lock, with the hash, as
-- that is the only way entries are appended. chain_heads() returns it only when the entry of
-- that id is in the head's chain and has the head's hash (a lookup by primary key); otherwise
-- last_id NULL, which fcrd refuses to sign, as before for a head naming no entry: a head changed
-- by anything but audit_append (entries deleted, the head set back) is not signed. The ids of
-- the existing heads are found once here, in one pass over the trail.

-- (The ALTER holds audit_head's lock until this migration commits, so no append can come between
-- the ids found below and the new audit_append.)
ALTER TABLE audit_head ADD COLUMN last_id bigint;

UPDATE audit_head h SET last_id = x.id
FROM (SELECT a.chain, max(a.id) AS id
      FROM audit a JOIN audit_head hh ON a.chain = hh.id AND a.hash = hh.hash AND hh.hash <> ''
      GROUP BY a.chain) AS x
WHERE x.chain = h.id;

-- audit_append as in 0020_audit_personal.sql, writing the last entry's id with the head.
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
    -- The last entry's id beside its hash (the rows were inserted in order, their ids drawn from
    -- audit_id_seq by this session): chain_heads() reads it from here.
    UPDATE audit_head h SET hash = head, last_id = currval('audit_id_seq') WHERE h.id = audit_append.chain;
    RETURN n;
END
$$;


-- As in 0017, the audit chains' last ids from their head rows: one lookup by id per chain.
CREATE OR REPLACE FUNCTION chain_heads() RETURNS TABLE (chain text, last_id bigint, hash text)
LANGUAGE sql STABLE AS $$
    SELECT c.chain, c.last_id, c.hash FROM (
        SELECT h.id AS ord, 'audit.' || h.id AS chain,
               (SELECT a.id FROM audit a
                WHERE a.id = h.last_id AND a.chain = h.id AND a.hash = h.hash AND h.hash <> '') AS last_id,
               h.hash
        FROM audit_head h
        UNION ALL
        SELECT 100, 'access', (SELECT max(l.id) FROM access_log l), ah.hash
        FROM access_log_head ah WHERE ah.id = 1
    ) AS c
    ORDER BY c.ord
$$;
