-- 0004_json_documents.sql: an incident's state and an event's reply are documents fcrd writes
-- whole and reads back whole; nothing searches inside them. Kept as json (the text as written,
-- checked to be JSON) rather than jsonb, they cost no conversion to the binary form when
-- written and none back to text when read: both took a large share of the database's time per
-- event. The few reads that look inside (an incident's links while locking) work on json alike.
ALTER TABLE incidents ALTER COLUMN state TYPE json USING state::json;
ALTER TABLE raw_events ALTER COLUMN reply TYPE json USING reply::json;
