-- 0012_person_index.sql: persons by their command-and-control `ref`, across incidents.
--
-- One row per allegation and person named in it with a `ref`: its victim (role 'victim') and each
-- suspect (role 'suspect'). The write statement replaces an incident's rows with every batch that
-- changes the incident, in the same transaction as its state, so every fcrd instance reads the
-- same index. The store reads the victims' rows of the refs its batch names (a course of conduct
-- over several calls, possible duplicates, docs/rules.md "Across incidents"), after taking a
-- transaction-scoped advisory lock per victim ref (daemon/store/store_sql.h, SQL_PERSONS_LOCK);
-- the API counts a victim's incidents (repeat victims).
--
-- victim_ref and suspect_refs (sorted, distinct; empty when no suspect is named, NULL when one has
-- no ref) are those of the allegation, repeated on every row of it, so a lookup by any ref finds
-- the whole allegation. crn is the live crime of the same incident that holds the allegation.
CREATE TABLE person_index (
    ref           text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('victim', 'suspect')),
    incident_id   text        NOT NULL,
    allegation    text        NOT NULL,
    victim_ref    text,
    suspect_refs  text[],
    offence       text,
    offence_group text,
    course        boolean     NOT NULL DEFAULT false,
    occasions     integer     NOT NULL DEFAULT 1,
    occurred_at   timestamptz,
    reported_at   timestamptz,
    crn           text
);
-- The lookups: by ref and role, newest first (courses, duplicates, repeat victims)...
CREATE INDEX person_index_ref ON person_index (ref, role, occurred_at);
-- ...and an incident's rows, replaced by each batch that changes it.
CREATE INDEX person_index_incident ON person_index (incident_id);

-- Rows are replaced, never edited: the serving role inserts and deletes them.
GRANT SELECT, INSERT, DELETE ON person_index TO fcrd_app;
