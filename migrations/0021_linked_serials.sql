-- Issue 14: the CRL lists linked X.509 disclosures too. Their serials are
-- random, so each is recorded with the pseudonym whose key it certifies,
-- sealed under k_ops (aad = the serial), and a day to forget it after: a
-- copy of the database learns neither whose certificate it is nor which
-- certificates were issued together. A pseudonym's own certificate needs no
-- row: its serial is derived from its id.
CREATE TABLE linked_certificates (
    serial       BYTEA PRIMARY KEY,
    holder       BYTEA NOT NULL,
    expires_day  BIGINT NOT NULL
);
CREATE INDEX linked_certificates_expiry ON linked_certificates (expires_day);
