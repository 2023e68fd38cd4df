-- 0011_independent_audits.sql: independent audits of recording, the inspectors' method beside the
-- self-audit report (GET /v1/reports/cdi). An auditor draws a reproducible random sample of the
-- incidents first reported in a period, reviews each incident, and records a verdict on what
-- fcrd did with it; the API derives the recording rate from the verdicts (proto/supervisor-api-v1.md).
--
-- Nothing here is incident state: the rules never read these tables, so the API writes them on its
-- own connection, one statement per request, outside the store's transactions.

-- One sample as drawn: who drew it, over which period, with which size, seed and strata.
CREATE TABLE audits (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL,
    role       text NOT NULL,
    from_at    timestamptz NOT NULL,
    to_at      timestamptz NOT NULL CHECK (to_at > from_at),
    size       int NOT NULL CHECK (size >= 1),
    seed       text NOT NULL,
    strata     text[] NOT NULL DEFAULT '{}',
    ruleset    text
);

-- The incidents of a sample: the stratum each was drawn in, and its rank there (1 = first drawn).
CREATE TABLE audit_items (
    audit_id    bigint NOT NULL REFERENCES audits,
    incident_id text NOT NULL,
    stratum     text NOT NULL,
    rank        int NOT NULL,
    PRIMARY KEY (audit_id, incident_id)
);

-- Verdicts, every one kept: a later verdict on the same item replaces the earlier one in the
-- results, but both stay here with who gave them and when. `recorded` is what fcrd had done with
-- the incident when the verdict was given (a crime of it with status 'recorded'), so that a result
-- does not move when the incident changes after its review.
CREATE TABLE audit_verdicts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    audit_id    bigint NOT NULL,
    incident_id text NOT NULL,
    verdict     text NOT NULL CHECK (verdict IN ('correct', 'crime_missed', 'wrong_classification',
                                                 'wrongly_cancelled', 'not_a_crime')),
    offence     text,
    note        text,
    recorded    boolean NOT NULL,
    actor       text NOT NULL,
    role        text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (audit_id, incident_id) REFERENCES audit_items,
    CHECK (offence IS NOT NULL OR verdict NOT IN ('crime_missed', 'wrong_classification'))
);
CREATE INDEX audit_verdicts_item ON audit_verdicts (audit_id, incident_id, id);

-- Like the audit trail, a verdict once given is never changed or removed, by anyone.
CREATE TRIGGER audit_verdicts_no_update_delete BEFORE UPDATE OR DELETE ON audit_verdicts
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_verdicts_no_truncate BEFORE TRUNCATE ON audit_verdicts
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

-- Serving privileges: draw samples and add verdicts; nothing is ever updated or deleted.
REVOKE ALL ON audits, audit_items, audit_verdicts FROM PUBLIC;
GRANT SELECT, INSERT ON audits, audit_items, audit_verdicts TO fcrd_app;
