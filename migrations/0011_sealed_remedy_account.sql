-- remedies.account_ref in clear let a dump join remedied pseudonyms (through
-- the audit log's case ids) to one account. New remedies store it sealed
-- under k_ops instead (aad = remedy id), which only a lift needs to open.
ALTER TABLE remedies ADD COLUMN sealed_account BYTEA;
DROP INDEX remedies_account;
