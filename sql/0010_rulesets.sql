-- 0010_rulesets.sql: every rule set fcrd decides with is kept, and every crime, pending decision
-- and audit entry names the exact rule set that decided it: its version and the SHA-256 of its
-- canonical text (docs/rules.md).
--
-- A version names one content: version and sha256 are both unique, so two different rule sets can
-- never be stored under one version, even by two fcrd instances loading them at the same moment.
-- The hash is checked against the text by the table itself, so a row always says what it holds.
-- Rows are never changed or removed: a decision's rule set must stay readable as long as the
-- decision is.
CREATE TABLE rulesets (
    sha256    text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    version   text NOT NULL UNIQUE CHECK (version <> ''),
    -- The canonical text: the parsed file dumped with sorted keys, compact (docs/rules.md).
    text      text NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now(), -- when an fcrd instance first loaded it
    loaded_by text,                               -- that instance's host name
    CONSTRAINT rulesets_hash_of_text CHECK (encode(sha256(convert_to(text, 'UTF8')), 'hex') = sha256)
);

CREATE FUNCTION rulesets_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'stored rule sets are never changed (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER rulesets_no_update_delete BEFORE UPDATE OR DELETE ON rulesets
    FOR EACH ROW EXECUTE FUNCTION rulesets_refuse_change();
CREATE TRIGGER rulesets_no_truncate BEFORE TRUNCATE ON rulesets
    FOR EACH STATEMENT EXECUTE FUNCTION rulesets_refuse_change();

-- ruleset_store: store a rule set unless it is stored already. Returns true when this call stored
-- it. A version already stored with another hash is refused with an error that names the version
-- and both hashes (SQLSTATE 23505, unique_violation). Two transactions storing the same version
-- at once: the second waits for the first and then sees its row, so it is either the same rule set
-- (nothing to do) or refused.
CREATE FUNCTION ruleset_store(p_version text, p_sha256 text, p_text text, p_by text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    stored text;
BEGIN
    INSERT INTO rulesets (sha256, version, text, loaded_by) VALUES (p_sha256, p_version, p_text, p_by)
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        RETURN true;
    END IF;
    SELECT r.sha256 INTO stored FROM rulesets r WHERE r.version = p_version;
    IF stored IS DISTINCT FROM p_sha256 THEN
        RAISE EXCEPTION 'rule set version % is stored with sha256 %; this one has sha256 %: a changed rule set needs a new version',
            p_version, coalesce(stored, '(none)'), p_sha256
            USING ERRCODE = 'unique_violation';
    END IF;
    RETURN false;
END
$$;

-- The hash beside the version. NULL in rows written before this migration (their rule set was
-- never kept) and in rows an fcrd instance of an earlier version writes.
ALTER TABLE crimes ADD COLUMN ruleset_sha256 text;
ALTER TABLE pending_decisions ADD COLUMN ruleset_sha256 text;
ALTER TABLE audit ADD COLUMN ruleset_sha256 text;

-- audit_append as in 0008_audit_append_lean.sql, with one more column: a line is the canonical
-- text, then tab-separated at, incident_id, crn, pending_id, allegation, event_id, actor, role,
-- action, before, after, rules, ruleset and now ruleset_sha256 (15 fields). A line of 14 fields
-- (an fcrd instance of the previous version) is read as before and leaves ruleset_sha256 NULL; a
-- line that is the canonical text alone has every column read from the text. The canonical text
-- of a new entry holds "ruleset_sha256"; that of an older entry does not. The chain is computed
-- exactly as before, over the canonical text only, under the same locks, so old and new entries
-- verify alike.
CREATE OR REPLACE FUNCTION audit_append(lines text, chain int) RETURNS integer
LANGUAGE plpgsql AS $$
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
    SELECT h.hash INTO STRICT head FROM audit_head h WHERE h.id = audit_append.chain FOR UPDATE;
    -- As in 0007_audit_chains.sql: until this transaction ends, a shared advisory lock keyed by
    -- the last id drawn so far tells readers that ids above it may still commit.
    PERFORM pg_advisory_xact_lock_shared(coalesce(pg_sequence_last_value('audit_id_seq'), 0));
    prevs := array_fill(NULL::text, ARRAY[n]);
    hashes := prevs;
    FOR i IN 1 .. n LOOP
        prevs[i] := head;
        head := encode(sha256(convert_to(head || split_part(entries[i], E'\t', 1), 'UTF8')), 'hex');
        hashes[i] := head;
    END LOOP;
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
    ORDER BY u.n;
    UPDATE audit_head h SET hash = head WHERE h.id = audit_append.chain;
    RETURN n;
END
$$;

-- Serving privileges: rule sets are read and added, never changed.
REVOKE ALL ON rulesets FROM PUBLIC;
GRANT SELECT, INSERT ON rulesets TO fcrd_app;
