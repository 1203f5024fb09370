-- Anti-abuse cases: reputation, hub abuse reports, remedies and the events
-- they write. Every account-scoped row is keyed by account_ref; none holds
-- a pseudonym id next to an account_ref (a dump must link nothing).

-- A timed remedy (mute/suspend with a duration) ends at status_until.
ALTER TABLE accounts ADD COLUMN status_until BIGINT;

-- Reputation events: points that halve every policy half-life when
-- `decays` = 1 (backend signals do not decay). Signals use a keyed id per
-- (account, signal), so seeding one again replaces it.
CREATE TABLE reputation_events (
    id           BYTEA PRIMARY KEY,
    account_ref  BYTEA NOT NULL,
    kind         TEXT NOT NULL,
    points       BIGINT NOT NULL,
    at           BIGINT NOT NULL,
    decays       BIGINT NOT NULL
);
CREATE INDEX reputation_events_account ON reputation_events (account_ref);

-- Abuse reports from hubs. id: keyed tag of the report's hash (so the same
-- report twice is stored once, and the id a hub holds does not find the
-- row); reporter: keyed tag of the hub's client id; sealed: the report
-- under k_ops with aad = account_ref, for case review.
CREATE TABLE abuse_reports (
    id             BYTEA PRIMARY KEY,
    account_ref    BYTEA NOT NULL,
    reporter       BYTEA NOT NULL,
    reason_code    BIGINT NOT NULL,
    received_hour  BIGINT NOT NULL,
    sealed         BYTEA NOT NULL
);
CREATE INDEX abuse_reports_account ON abuse_reports (account_ref);

-- Each reporter's capped weight against an account: one reporter alone
-- cannot push an account over an auto-remedy threshold.
CREATE TABLE report_weights (
    account_ref  BYTEA NOT NULL,
    reporter     BYTEA NOT NULL,
    weight       BIGINT NOT NULL,
    PRIMARY KEY (account_ref, reporter)
);

-- Remedies applied. account_ref is cleared when the account is deleted.
CREATE TABLE remedies (
    id           TEXT PRIMARY KEY,
    account_ref  BYTEA,
    action       TEXT NOT NULL,
    case_id      TEXT NOT NULL,
    reason       TEXT NOT NULL,
    actor        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    affected     BIGINT NOT NULL
);
CREATE INDEX remedies_account ON remedies (account_ref);

-- Audit events, insert-only, written in the transaction of what they
-- record. Never account data: the subject is e.g. a remedy id. (Issue 5
-- makes this a hash-chained log.)
CREATE TABLE audit_events (
    id       TEXT PRIMARY KEY,
    at       BIGINT NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    subject  TEXT NOT NULL,
    case_id  TEXT,
    reason   TEXT NOT NULL
);
