-- Checkpoints the service signs periodically: each (seq, hash) of the audit
-- chain's head, signed with the audit key. Auditors collect them; a later
-- rewrite or truncation of the log no longer matches one. One row per head:
-- replicas signing the same head insert it once.
CREATE TABLE audit_checkpoints (
    seq        BIGINT PRIMARY KEY,
    hash       BYTEA NOT NULL,
    kid        TEXT NOT NULL,
    signature  BYTEA NOT NULL,
    signed_at  BIGINT NOT NULL
);
