-- 0001_schema.sql: incidents, raw events, persons and allegations as received, crimes,
-- pending decisions and the append-only audit trail.

-- One row per command-and-control incident. `state` is the rules engine's document for the
-- incident (see daemon/rules.h); the other columns are copies for querying. A row with a NULL
-- state is a placeholder created to take the row lock before the first event is applied.
CREATE TABLE incidents (
    incident_id text PRIMARY KEY,
    last_seq    bigint NOT NULL DEFAULT 0,
    category    text,
    opened_at   timestamptz,
    closed_at   timestamptz,
    state       jsonb,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Every accepted event, exactly once (event_id is the idempotency key), with the reply it got.
CREATE TABLE raw_events (
    event_id    text PRIMARY KEY,
    incident_id text NOT NULL,
    seq         bigint NOT NULL,
    type        text NOT NULL,
    at          timestamptz NOT NULL,
    body        text NOT NULL,   -- canonical serialisation: equal content <=> equal text
    reply       jsonb NOT NULL,  -- crimes, decisions, pending, warnings, rules as first answered
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX raw_events_incident ON raw_events (incident_id, seq);

-- Persons and allegations as last received (an entry replaces its predecessor whole).
CREATE TABLE persons (
    incident_id text NOT NULL REFERENCES incidents,
    person_id   text NOT NULL,
    doc         jsonb NOT NULL,
    event_id    text NOT NULL,
    PRIMARY KEY (incident_id, person_id)
);
CREATE TABLE allegations (
    incident_id   text NOT NULL REFERENCES incidents,
    allegation_id text NOT NULL,
    doc           jsonb NOT NULL,
    event_id      text NOT NULL,
    PRIMARY KEY (incident_id, allegation_id)
);

CREATE TABLE crimes (
    crn         text PRIMARY KEY,
    incident_id text NOT NULL REFERENCES incidents,
    offence     text NOT NULL,
    victim      text,
    status      text NOT NULL CHECK (status IN ('recorded', 'cancelled', 'transferred')),
    flags       text[] NOT NULL DEFAULT '{}',
    recorded_at timestamptz NOT NULL,
    rules       text[] NOT NULL,
    ruleset     text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX crimes_incident ON crimes (incident_id);
CREATE INDEX crimes_recorded_at ON crimes (recorded_at);

CREATE TABLE pending_decisions (
    id                text PRIMARY KEY,
    incident_id       text NOT NULL REFERENCES incidents,
    allegation        text,
    reason            text NOT NULL,
    opened_at         timestamptz NOT NULL,
    due               timestamptz NOT NULL,
    status            text NOT NULL CHECK (status IN ('open', 'closed')),
    flags             text[] NOT NULL DEFAULT '{}',
    victim            text,
    candidate_offence text,
    rules             text[] NOT NULL DEFAULT '{}',
    ruleset           text,
    closed_at         timestamptz,
    resolution        jsonb
);
CREATE INDEX pending_open_due ON pending_decisions (due, id) WHERE status = 'open';
CREATE INDEX pending_incident ON pending_decisions (incident_id);

-- Numbers for crime reference numbers and pending-decision ids (handed out in blocks).
CREATE SEQUENCE serials;

-- The audit trail: every change of state, by the rules or by a person. Append-only, enforced
-- here (trigger and privileges), not by the daemon's good manners.
CREATE TABLE audit (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    incident_id text,
    crn         text,
    pending_id  text,
    allegation  text,
    event_id    text,
    actor       text NOT NULL,   -- user id, or 'rules'
    role        text NOT NULL,   -- API role, or 'rules'
    action      text NOT NULL,
    before      jsonb,
    after       jsonb,
    rules       text[] NOT NULL DEFAULT '{}',
    ruleset     text,
    -- Hash chain: `entry` is the exact canonical text (compact JSON, sorted keys) of the fields
    -- above; hash = sha256(prev_hash || entry) in lowercase hex; the first entry's prev_hash is ''.
    entry       text NOT NULL,
    prev_hash   text NOT NULL,
    hash        text NOT NULL UNIQUE
);
-- The chain's head: locked by every transaction that appends, so entries chain in one order
-- whichever connection or fcrd instance writes them.
CREATE TABLE audit_head (
    id   int PRIMARY KEY CHECK (id = 1),
    hash text NOT NULL
);
INSERT INTO audit_head VALUES (1, '');
CREATE INDEX audit_incident ON audit (incident_id, id);
CREATE INDEX audit_crn ON audit (crn, id);

CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit entries are append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_no_update_delete BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_head_no_delete BEFORE DELETE OR TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

-- Serving privileges: no DDL, no UPDATE/DELETE on raw events or the audit trail.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
GRANT SELECT, INSERT ON raw_events, audit TO fcrd_app;
GRANT SELECT, UPDATE ON audit_head TO fcrd_app;
GRANT SELECT, INSERT, UPDATE ON incidents, persons, allegations, crimes, pending_decisions TO fcrd_app;
GRANT USAGE ON SEQUENCE serials, audit_id_seq TO fcrd_app;
