-- Issue 16: a `delete` remedy left nothing behind, so the deleted abuser's
-- account id minted again with a clean record. A deletion now leaves a keyed
-- tombstone, HMAC(k_ref, "deleted account" || account_ref) in its own
-- domain: it names no account and joins no other table, and a mint that
-- would create the account anew is refused while `account.deleted_may_return`
-- is false (the default).
CREATE TABLE account_tombstones (
    tag  BYTEA PRIMARY KEY
);
