-- 0006_persons_in_state.sql: persons and allegations are kept once, in the incident's state.
--
-- The persons and allegations tables held each entry as last received, which the incident's
-- state (incidents.state, members "persons" and "allegations") holds too, with the same rule: an
-- entry sent again with the same id replaces the stored one whole. Every event body is kept in
-- raw_events, so which event last sent an entry can still be read from there. Writing them twice
-- cost every batch three rows, three index entries and three foreign-key checks per event.
--
-- Their one reader looked up a crime's victim by command-and-control `ref` (the API's C3
-- cancellation with no surviving crime named). A crime row now carries that `ref` as victim_ref,
-- written with the crime from the incident's state, with an index for the lookup.
--
-- An fcrd of an earlier version still writing to this database fails its write statements from
-- here on, and answers retry: nothing of those batches is written. Upgrade every instance.
ALTER TABLE crimes ADD COLUMN victim_ref text;
UPDATE crimes c SET victim_ref = p.doc->>'ref'
FROM persons p
WHERE p.incident_id = c.incident_id AND p.person_id = c.victim AND p.doc->>'ref' IS NOT NULL;
CREATE INDEX crimes_victim_ref ON crimes (victim_ref, offence) WHERE victim_ref IS NOT NULL;
DROP TABLE persons;
DROP TABLE allegations;
