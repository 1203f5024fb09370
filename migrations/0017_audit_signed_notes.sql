-- Issue 12: audit checkpoints become C2SP signed notes over the RFC 9162
-- Merkle tree of the log (src/services/audit/{merkle,note}.rs). `seq` is
-- now the tree size and `hash` the tree head; `note` keeps the signed note
-- exactly as signed, so it is served byte for byte even after the audit
-- key rotates. Rows signed before this migration signed the old chain
-- head, which no verifier reads any more: they are dropped.
DELETE FROM audit_checkpoints;
ALTER TABLE audit_checkpoints ADD COLUMN note TEXT;
