-- 0013_incident_links.sql: which incidents link to an incident by a same_report link.
--
-- A same_report link is honoured whichever of the two reports arrives first: when the report a
-- link names arrives after the linking one, it must find the crime the linking report recorded.
-- The link itself is kept in the linking incident's state; this table answers the reverse
-- question, "which incidents link to X", by its key. One row per link (from the linking incident
-- to the incident it names), written in the transaction of the batch that accepts the linking
-- event (daemon/store/store_sql.h, SQL_LINKS_WRITE), while that batch holds the named incident's
-- row lock; round trip 1 of a batch locks the incidents that link to its own
-- (SQL_INCIDENTS_LOCK, SQL_INCIDENTS_LOCK_BACK). A table rather than an index on the states: an
-- index over incidents.state would make every update of a state a non-HOT update
-- (sql/0009_incidents_fillfactor.sql). Links are never removed: a link once made stays in the
-- state too.
CREATE TABLE incident_links (
    to_id   text NOT NULL,
    from_id text NOT NULL,
    PRIMARY KEY (to_id, from_id)
);

-- The links already kept in stored states.
INSERT INTO incident_links (to_id, from_id)
SELECT DISTINCT l->>'incident_id', i.incident_id
FROM incidents i, json_array_elements(COALESCE(i.state->'links', '[]'::json)) AS l
WHERE json_typeof(i.state->'links') = 'array' AND l->>'relation' = 'same_report'
  AND l->>'incident_id' IS NOT NULL AND l->>'incident_id' <> i.incident_id
ON CONFLICT DO NOTHING;
GRANT SELECT, INSERT ON incident_links TO fcrd_app;
