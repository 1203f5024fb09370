-- Issue 5: the audit log becomes hash-chained. Each new event gets the next
-- sequence number and hash = SHA-256(prev_hash || canonical entry), so an
-- edit, deletion, reordering or forged row breaks the chain (see
-- src/audit/chain.rs). Events recorded before this migration keep a NULL
-- seq: they predate the chain and are not part of it.
ALTER TABLE audit_events ADD COLUMN seq BIGINT;
ALTER TABLE audit_events ADD COLUMN prev_hash BYTEA;
ALTER TABLE audit_events ADD COLUMN hash BYTEA;
-- Only in a break-glass reveal entry: the revealed account, HPKE-sealed to
-- the break-glass public key (never in clear).
ALTER TABLE audit_events ADD COLUMN sealed BYTEA;
-- Backstop: two appenders can never both write the same position.
CREATE UNIQUE INDEX audit_events_seq ON audit_events (seq);

-- The head of the chain, one row. Every append first updates it, which
-- takes its row lock (PostgreSQL) or the write lock (SQLite): appends from
-- any number of replicas are serialized in the database and never fork.
-- A NULL hash is the genesis (32 zero bytes).
CREATE TABLE audit_head (
    id    BIGINT PRIMARY KEY,
    seq   BIGINT NOT NULL,
    hash  BYTEA
);
INSERT INTO audit_head (id, seq) VALUES (1, 0);
