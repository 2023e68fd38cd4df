-- 0015_event_sources.sql: which source (control room, [sources] in fcrd.conf) each event came from,
-- and which source each incident belongs to.
--
-- raw_events.source: the [sources] name of the feed connection the event arrived by ('default'
-- when fcrd runs without [sources]). incidents.source: the source that opened the incident; an
-- event for it from any other source is rejected wrong_source and changes nothing. Both are
-- written by the store's write statement (daemon/store/store_sql.h, SQL_WRITE) and the incident's
-- is read under its row lock in round trip 1 (SQL_INCIDENTS_LOCK), so that two fcrd instances on
-- one database agree on the owner.
--
-- Rows from before this migration keep NULL: an event stored then has no known source, and an
-- incident opened then belongs to the first named source that writes an accepted event for it
-- afterwards (it adopts that source). Source 'default' never takes an incident: an incident opened
-- or written while [sources] is not configured stays unowned until a named source writes to it.
-- Plain columns with no default: adding them rewrites nothing, and neither is indexed, so writing
-- an incident's source keeps its updates HOT (sql/0009_incidents_fillfactor.sql).
ALTER TABLE raw_events ADD COLUMN source text;
ALTER TABLE incidents ADD COLUMN source text;
