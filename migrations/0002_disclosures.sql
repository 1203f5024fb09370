-- Key bindings already accepted by the presentation verifier, so a replayed
-- SD-JWT+KB or SD-CWT KBT is refused by every replica. `binding` is
-- SHA-256 over the (audience, nonce) pair: no presented value is stored.
-- Rows are useless once `expires_at` has passed (the key binding would be
-- refused as stale anyway) and are pruned through the index.
CREATE TABLE kb_replay (
    binding     BYTEA PRIMARY KEY,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX kb_replay_expires_at ON kb_replay (expires_at);
