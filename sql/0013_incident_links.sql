-- 0013_incident_links.sql: which incidents link to an incident by a same_report link.
--
-- A same_report link is honoured whichever of the two reports arrives first: when the report a
-- link names arrives after the linking one, it must find the crime the linking report recorded.
-- The link is kept only in the linking incident's state, so finding "the incidents that link to
-- X" is a lookup by the expression below, which this index answers without reading every state.
-- Round trip 1 of a batch locks the incidents it finds this way (daemon/store/store_sql.h,
-- SQL_INCIDENTS_LOCK and SQL_INCIDENTS_LOCK_BACK use the same expression, so the index is used).
CREATE INDEX incidents_same_report ON incidents USING gin
    ((jsonb_path_query_array(state::jsonb, '$.links[*] ? (@.relation == "same_report").incident_id')));
