-- 0014_audit_guard.sql: the audit trail holds against fcrd's own database role, and every change to
-- crimes and pending decisions is in it, whoever makes it.
--
-- 1. The serving role (fcrd_app) no longer writes the trail's tables: it loses INSERT on audit,
--    UPDATE on audit_head and the use of audit_id_seq (it keeps SELECT). It appends only through
--    audit_append, which now runs as fcrd_chain (SECURITY DEFINER, sql/roles.sql), a role nobody
--    logs in as and that may do exactly what appending needs: INSERT on audit, SELECT and UPDATE on
--    audit_head, the sequence. So a stolen serving password can add entries through the function,
--    chained like any other, but cannot insert an unchained row, move a chain head or skip a link.
--    The functions keep their text and their behaviour; their search_path is fixed so that a
--    caller's setting cannot send their unqualified names elsewhere.
--
-- 2. Triggers on crimes and pending_decisions append an entry made by the database for every
--    statement that changes them (INSERT, UPDATE, DELETE: one entry per statement, table and kind
--    of change; TRUNCATE too), through the same function, so a direct SQL statement of the serving
--    role (or of anyone who does not disable triggers, which needs the owner) shows in the chain.
--    Statement-level with transition tables, so the cost is one append per statement rather than
--    one per row: fcrd's own write statement adds up to two such entries per table to a batch.
--
--    The entry (role 'database', action 'db.<table>.<insert|update|delete|truncate>', actor the
--    session's login) lists in `after` each changed row's key (crimes: crn; pending_decisions: id)
--    with the kind of change and the SHA-256 of the row's text before and after it, the row as
--    PostgreSQL writes a whole row as text (`SELECT encode(sha256(convert_to(c::text, 'UTF8')),
--    'hex') FROM crimes c WHERE crn = ...` recomputes it), so that anyone can check the rows now
--    stored against the last digest the chain holds for them.
--
--    The chain: the one the transaction already appends to, which fcrd names per session with
--    set_config('fcrd.chain', N) (each store lane has its own, sql/0007_audit_chains.sql), so that a
--    batch holds one chain head's lock, never two (two lanes each holding one head and waiting for
--    the other's would deadlock). Chain 1 when it is not set, as for a person's SQL session.
--    An fcrd instance of the previous version, which does not set it, appends its batches' own
--    entries to its lane's chain after the trigger has locked chain 1: every such transaction takes
--    chain 1 first, so they wait for each other there but cannot deadlock. Upgrade every instance.

-- ---- 1. the append functions run as fcrd_chain -----------------------------------------------

GRANT INSERT ON audit TO fcrd_chain;
GRANT SELECT, UPDATE ON audit_head TO fcrd_chain;
GRANT USAGE, SELECT ON SEQUENCE audit_id_seq TO fcrd_chain;

-- A function's new owner must be allowed to create in its schema: for the hand-over only.
GRANT CREATE ON SCHEMA public TO fcrd_chain;
ALTER FUNCTION audit_append(text, int) OWNER TO fcrd_chain;
ALTER FUNCTION audit_append(text) OWNER TO fcrd_chain;
REVOKE CREATE ON SCHEMA public FROM fcrd_chain;

ALTER FUNCTION audit_append(text, int) SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION audit_append(text) SECURITY DEFINER SET search_path = public, pg_temp;
REVOKE EXECUTE ON FUNCTION audit_append(text, int), audit_append(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_append(text, int), audit_append(text) TO fcrd_app;

REVOKE INSERT ON audit FROM fcrd_app;
REVOKE UPDATE ON audit_head FROM fcrd_app;
REVOKE USAGE ON SEQUENCE audit_id_seq FROM fcrd_app;

-- ---- 2. database-made entries for crimes and pending_decisions ---------------------------------

-- The chain this transaction appends to: fcrd.chain when it is a chain's number, else 1.
CREATE FUNCTION audit_db_chain() RETURNS int
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    SELECT CASE WHEN s ~ '^[0-9]{1,2}$' AND s::int BETWEEN 1 AND 16 THEN s::int ELSE 1 END
    FROM coalesce(current_setting('fcrd.chain', true), '') AS t(s)
$$;

-- audit_db_append: one database-made entry for a statement on `tab` (kind `op`). rows_text: the
-- changed rows' objects, comma-separated, sorted by key. The canonical text is written here as fcrd
-- writes its own (compact JSON, keys sorted), and audit_append reads the columns from it. The entry
-- names its rows in `after` only, not in the crn, pending_id and incident_id columns: fcrd's own
-- write statements make such an entry in every batch, and a crime's or an incident's history lists
-- what fcrd and people did, which those entries would repeat.
CREATE FUNCTION audit_db_append(tab text, op text, rows_text text) RETURNS void
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
    actor  text := session_user;
    action text := 'db.' || tab || '.' || op;
    at     text := to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
    after  text := '{"rows":[' || coalesce(rows_text, '') || '],"table":' || to_json(tab)::text
                   || ',"user":' || to_json(current_user::text)::text || '}';
    entry  text;
BEGIN
    entry := '{"action":' || to_json(action)::text || ',"actor":' || to_json(actor)::text || ',"after":' || after
          || ',"at":' || to_json(at)::text || ',"role":"database","rules":[]}';
    -- The columns beside the text (0010_rulesets.sql's 15 fields), so that audit_append does not
    -- parse a text of every changed row once per column; the text alone when a value could end
    -- a field or a line (a login name with a tab in it).
    PERFORM audit_append(CASE WHEN actor ~ '[\t\n\r]' THEN entry
                              ELSE concat_ws(E'\t', entry, at, '', '', '', '', '', actor, 'database', action, '',
                                             after, '{}', '', '')
                         END || E'\n', audit_db_chain());
END
$$;

-- The statement triggers' function: TG_ARGV[0] is the table's key column (crn or id). A row's
-- object: {"key", "new", "old", "op"}, the digests null where there is no such row version. A
-- statement that changed no row (an upsert's UPDATE half, say) appends nothing.
CREATE FUNCTION audit_db_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
    k      text := TG_ARGV[0];
    op     text := lower(TG_OP);
    n      int;
    rows   text;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM audit_db_append(TG_TABLE_NAME, op, NULL);
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        SELECT count(*),
               string_agg('{"key":' || to_json(x.key)::text || ',"new":' || to_json(x.nd)::text
                          || ',"old":null,"op":"insert"}', ',' ORDER BY x.key)
        INTO n, rows
        FROM (SELECT to_jsonb(r) ->> k AS key,
                     encode(sha256(convert_to(r::text, 'UTF8')), 'hex') AS nd FROM audit_db_new AS r) AS x;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT count(*),
               string_agg('{"key":' || to_json(x.key)::text || ',"new":null,"old":' || to_json(x.od)::text
                          || ',"op":"delete"}', ',' ORDER BY x.key)
        INTO n, rows
        FROM (SELECT to_jsonb(r) ->> k AS key,
                     encode(sha256(convert_to(r::text, 'UTF8')), 'hex') AS od FROM audit_db_old AS r) AS x;
    ELSE
        -- Old and new versions grouped by key (not joined: no join plan is needed, whatever the
        -- session's planner settings); a row whose key changed shows as its old key (old digest
        -- only) and its new key (new digest only).
        SELECT count(*),
               string_agg('{"key":' || to_json(x.key)::text || ',"new":' || coalesce(to_json(x.nd)::text, 'null')
                          || ',"old":' || coalesce(to_json(x.od)::text, 'null') || ',"op":"update"}', ','
                          ORDER BY x.key)
        INTO n, rows
        FROM (SELECT y.key, max(y.od) AS od, max(y.nd) AS nd
              FROM (SELECT to_jsonb(r) ->> k AS key, encode(sha256(convert_to(r::text, 'UTF8')), 'hex') AS od,
                           NULL::text AS nd FROM audit_db_old AS r
                    UNION ALL
                    SELECT to_jsonb(r) ->> k, NULL, encode(sha256(convert_to(r::text, 'UTF8')), 'hex')
                    FROM audit_db_new AS r) AS y
              GROUP BY y.key) AS x;
    END IF;
    IF n > 0 THEN
        PERFORM audit_db_append(TG_TABLE_NAME, op, rows);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER crimes_audit_insert AFTER INSERT ON crimes REFERENCING NEW TABLE AS audit_db_new
    FOR EACH STATEMENT EXECUTE FUNCTION audit_db_change('crn');
CREATE TRIGGER crimes_audit_update AFTER UPDATE ON crimes REFERENCING OLD TABLE AS audit_db_old NEW TABLE AS audit_db_new
    FOR EACH STATEMENT EXECUTE FUNCTION audit_db_change('crn');
CREATE TRIGGER crimes_audit_delete AFTER DELETE ON crimes REFERENCING OLD TABLE AS audit_db_old
    FOR EACH STATEMENT EXECUTE FUNCTION audit_db_change('crn');
CREATE TRIGGER crimes_audit_truncate AFTER TRUNCATE ON crimes
    FOR EACH STATEMENT EXECUTE FUNCTION audit_db_change('crn');

CREATE TRIGGER pending_audit_insert AFTER INSERT ON pending_decisions REFERENCING NEW TABLE AS audit_db_new
    FOR EACH STATEMENT EXECUTE FUNCTION audit_db_change('id');
CREATE TRIGGER pending_audit_update AFTER UPDATE ON pending_decisions
    REFERENCING OLD TABLE AS audit_db_old NEW TABLE AS audit_db_new
    FOR EACH STATEMENT EXECUTE FUNCTION audit_db_change('id');
CREATE TRIGGER pending_audit_delete AFTER DELETE ON pending_decisions REFERENCING OLD TABLE AS audit_db_old
    FOR EACH STATEMENT EXECUTE FUNCTION audit_db_change('id');
CREATE TRIGGER pending_audit_truncate AFTER TRUNCATE ON pending_decisions
    FOR EACH STATEMENT EXECUTE FUNCTION audit_db_change('id');
