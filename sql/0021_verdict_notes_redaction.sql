-- 0021_verdict_notes_redaction.sql: retention also redacts the free-text notes of independent audit
-- verdicts (sql/0011_independent_audits.sql), which an auditor may write about the people of the
-- incident reviewed.
--
-- A verdict stays append-only, with one exception made for retention: its note (and nothing else)
-- may be replaced by the marker retention writes everywhere else ("[redacted]", personal_redact in
-- sql/0020_audit_personal.sql), and only when the current user is fcrd_chain, that is inside a
-- SECURITY DEFINER function that role owns (retention_redact). fcrd_chain cannot log in and the
-- serving role is not a member of it, so the serving role still cannot change a verdict in any way:
-- it holds no UPDATE on the table, and the trigger would refuse it if it did. The schema owner, who
-- may act as fcrd_chain, could always drop the trigger anyway.
--
-- retention_redact is replaced by the same function with one more step: the notes of the verdicts
-- on the audit items of the incident being redacted become the marker, and the redaction's entry
-- counts them (`audit_verdicts`). Everything else it does is as in 0020.

-- Retention looks verdicts up by incident, once per incident redacted; the table's only index
-- leads with the audit. Only verdicts with a note still to redact are indexed, so the index stays
-- small and a verdict leaves it once redacted.
CREATE INDEX audit_verdicts_note_due ON audit_verdicts (incident_id) WHERE note <> '[redacted]';

-- The row trigger of audit_verdicts: refuses every UPDATE and DELETE except fcrd_chain's
-- replacement of a note by the marker with every other column as it was (compared as a whole row,
-- so a column added later is covered without changing this function).
CREATE FUNCTION audit_verdicts_refuse_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_user = 'fcrd_chain'
       AND OLD.note IS NOT NULL AND NEW.note = '[redacted]'
       AND to_jsonb(NEW) - 'note' = to_jsonb(OLD) - 'note' THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit verdicts are append-only (% refused; retention alone may replace a note by "[redacted]")',
        TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;

-- Same name, same timing and events as 0011's trigger; only its function changes.
CREATE OR REPLACE TRIGGER audit_verdicts_no_update_delete BEFORE UPDATE OR DELETE ON audit_verdicts
    FOR EACH ROW EXECUTE FUNCTION audit_verdicts_refuse_change();

-- What retention_redact needs: the note column to write, and the columns its WHERE reads.
GRANT SELECT (incident_id, note), UPDATE (note) ON audit_verdicts TO fcrd_chain;

-- retention_redact as in 0020_audit_personal.sql, redacting verdict notes too (see above). CREATE OR
-- REPLACE keeps its owner (fcrd_chain) and its grants; the SECURITY DEFINER and search_path are
-- part of the definition and stated again.
CREATE OR REPLACE FUNCTION retention_redact(incident text, period text, seconds bigint, actor text, role text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    ne bigint; np bigint; na bigint; nv bigint; old bigint;
BEGIN
    PERFORM 1 FROM incidents i WHERE i.incident_id = incident AND NOT i.legal_hold AND i.redacted_at IS NULL
        FOR UPDATE;
    IF NOT FOUND THEN
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
