-- Proofs of possession already accepted for disclosures (issue 11): a proof
-- is single use. The key is SHA-256 of the proof's jti, so the table holds
-- nothing the holder chose verbatim; rows past expires_at are stale proofs
-- anyway and are pruned in small batches.
CREATE TABLE pop_replay (
    jti_hash    BYTEA PRIMARY KEY,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX pop_replay_expires_at ON pop_replay (expires_at);
