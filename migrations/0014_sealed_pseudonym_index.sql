-- Issue 11: nothing in a copy of the database may join a pseudonym to its
-- account. The account's index of its pseudonyms becomes one value on the
-- account row, sealed under k_ops (aad = account_ref), written in the
-- account-side transaction of a mint, never in the one that inserts the
-- pseudonym rows. Account-wide revocations are flags inside it, not stamps
-- on the pseudonym rows.
--
-- Moving the old `account_pseudonyms` rows into it needs k_ops, so the
-- service does it at startup (`services::storage_upgrade`): it re-seals the
-- index, turns revocation stamps into flags, rebuilds `pseudonyms` in id
-- order (WITHOUT ROWID on SQLite), randomizes event ids that named a
-- pseudonym, and drops `account_pseudonyms`.
ALTER TABLE accounts ADD COLUMN pseudonym_index BYTEA;

-- A revealed request kept the pseudonym beside the account_ref in clear.
-- It now keeps a keyed tag of the account instead (HMAC under k_ref, its own
-- domain), which no other table holds; the user's transparency read
-- recomputes it. Existing values are re-keyed by the same startup step.
ALTER TABLE break_glass_requests RENAME COLUMN account_ref TO reveal_tag;
