-- Relation keys the backend attaches at mint time (e.g. a normalized email
-- or phone), stored only as keyed HMAC tags under k_ref: a remedy with
-- `related: true` reaches every account sharing a tag, while a dump shows
-- no email or phone.
CREATE TABLE account_relations (
    tag          BYTEA NOT NULL,
    account_ref  BYTEA NOT NULL,
    PRIMARY KEY (tag, account_ref)
);
CREATE INDEX account_relations_account ON account_relations (account_ref);
