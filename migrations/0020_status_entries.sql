-- Issue 14: Token Status Lists. Each SD-JWT or SD-CWT disclosure holds one
-- entry of a published status list: a random slot (list = slot / 2^20,
-- index = slot mod 2^20). The pseudonym it belongs to is sealed under k_ops
-- (aad = the slot), and the row expires by day: a copy of the database
-- cannot tell whose entries sit side by side, in the list or in the file.
CREATE TABLE status_entries (
    slot         BIGINT PRIMARY KEY,
    holder       BYTEA NOT NULL,
    expires_day  BIGINT NOT NULL
);
CREATE INDEX status_entries_expiry ON status_entries (expires_day);
