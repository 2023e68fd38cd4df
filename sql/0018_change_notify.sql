-- 0018_change_notify.sql: committed changes announced with NOTIFY, so that every fcrd instance on
-- this database can tell its supervisors' pages (GET /v1/stream) what to fetch again.
--
-- Statement-level triggers with transition tables: one statement of a batch that touches a
-- hundred incidents sends a handful of notifications, not a hundred. They are sent in the
-- writing transaction, so a listener hears only what committed, and only after the COMMIT; a
-- batch that rolls back says nothing. PostgreSQL folds identical payloads of one transaction.
--
-- Channel fcrd_changes; the payload is JSON naming ids only (never a name or a narrative):
--   {"kind": "incident", "ids": [incident ids]}  an incident's row was written
--   {"kind": "pending",  "ids": [pending ids]}   an item was opened, or its status changed
-- At most 16 ids per notification: an id is at most 64 characters, and even escaped a payload
-- stays well under NOTIFY's 8000 bytes.
CREATE FUNCTION fcrd_notify_ids(kind text, ids text[]) RETURNS void
LANGUAGE sql VOLATILE AS $$
    SELECT pg_notify('fcrd_changes', json_build_object('kind', kind, 'ids', json_agg(id ORDER BY id))::text)
    FROM (SELECT id, (row_number() OVER (ORDER BY id) - 1) / 16 AS chunk
          FROM (SELECT DISTINCT id FROM unnest(ids) AS t(id) WHERE id IS NOT NULL) AS d) AS c
    GROUP BY chunk
$$;

CREATE FUNCTION fcrd_notify_incidents() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM fcrd_notify_ids('incident', ARRAY(SELECT incident_id FROM changed));
    RETURN NULL;
END
$$;

-- A re-upserted item whose status, due time, reason and flags are unchanged is not news.
CREATE FUNCTION fcrd_notify_pending_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM fcrd_notify_ids('pending', ARRAY(SELECT id FROM changed));
    RETURN NULL;
END
$$;

CREATE FUNCTION fcrd_notify_pending_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM fcrd_notify_ids('pending', ARRAY(
        SELECT n.id FROM changed n JOIN previous o USING (id)
        WHERE (o.status, o.due, o.reason, o.flags) IS DISTINCT FROM (n.status, n.due, n.reason, n.flags)));
    RETURN NULL;
END
$$;

CREATE TRIGGER incidents_notify_insert AFTER INSERT ON incidents
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION fcrd_notify_incidents();
CREATE TRIGGER incidents_notify_update AFTER UPDATE ON incidents
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION fcrd_notify_incidents();
CREATE TRIGGER pending_notify_insert AFTER INSERT ON pending_decisions
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION fcrd_notify_pending_insert();
CREATE TRIGGER pending_notify_update AFTER UPDATE ON pending_decisions
    REFERENCING OLD TABLE AS previous NEW TABLE AS changed FOR EACH STATEMENT
    EXECUTE FUNCTION fcrd_notify_pending_update();
