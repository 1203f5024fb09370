-- Issue 15: a pseudonym with several devices. Each further client of a
-- pseudonym has its own key and certificate, whose SAN holds the pseudonym
-- URI and the client URI mimi://<domain>/d/<client id>.
--
-- A user adds a new device to several pseudonyms one after another, so the
-- rows' write order (SQLite rowid, PostgreSQL heap order) would group those
-- pseudonyms if a row could be told to belong to one. So a row holds
-- nothing a hub sees: keyed tags (HMAC under k_ref) of the client id, of the
-- pseudonym id and of the key, the client id, pseudonym id and end sealed
-- under k_ops (aad = the client's tag), and the day the client expires.
CREATE TABLE pseudonym_clients (
    id_tag         BYTEA PRIMARY KEY,
    pseudonym_tag  BYTEA NOT NULL,
    key_tag        BYTEA NOT NULL UNIQUE,
    sealed         BYTEA NOT NULL,
    expires_day    BIGINT NOT NULL,
    revoked        BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX pseudonym_clients_pseudonym ON pseudonym_clients (pseudonym_tag);
