-- 0017_chain_heads.sql: chain_heads(), every hash chain's head in one snapshot, for the signed
-- checkpoints fcrd writes outside the database (docs/operations.md, "Audit checkpoints").
--
-- One row per chain: its name ('audit.1' .. 'audit.16', and 'access' for the access log of
-- sql/0016_access_log.sql), and the id and hash of its last entry (last_id NULL and hash '' for a
-- chain with no entry yet). A later hash chain is added by replacing this function with one that
-- adds its rows; the callers need no change.
--
-- The access log is one chain appended under its head row's lock, ids drawn inside that lock: the
-- highest id this snapshot sees is the record the head names.
--
-- The head row's hash names the last entry, found through the unique index on audit.hash, so
-- the function costs the same on a trail of any size. The entry is looked up in the head's own
-- chain: a head whose hash names no entry of its chain (entries deleted, the head left as it
-- was) is returned with last_id NULL and its hash, which fcrd refuses to sign.
--
-- One SQL statement: the heads are read in one snapshot, and every chain's head row and entries
-- are written in one transaction (audit_append), so the heads agree with each other.
CREATE FUNCTION chain_heads() RETURNS TABLE (chain text, last_id bigint, hash text)
LANGUAGE sql STABLE AS $$
    SELECT c.chain, c.last_id, c.hash FROM (
        SELECT h.id AS ord, 'audit.' || h.id AS chain, a.id AS last_id, h.hash
        FROM audit_head h
        LEFT JOIN audit a ON a.hash = h.hash AND a.chain = h.id AND h.hash <> ''
        UNION ALL
        SELECT 100, 'access', (SELECT max(l.id) FROM access_log l), ah.hash
        FROM access_log_head ah WHERE ah.id = 1
    ) AS c
    ORDER BY c.ord
$$;
REVOKE ALL ON FUNCTION chain_heads() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION chain_heads() TO fcrd_app;
