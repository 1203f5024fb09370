-- Issue 14: Token Status Lists. A pseudonym that has been disclosed in an
-- SD-JWT or SD-CWT holds one entry of a published status list: a random
-- slot (list = slot / 2^20, index = slot mod 2^20), chosen when it is first
-- needed, so no slot tells a reader of the database or of the list which
-- other pseudonyms share an account, or when they were minted.
ALTER TABLE pseudonyms ADD COLUMN status_slot BIGINT;
CREATE UNIQUE INDEX pseudonyms_status_slot ON pseudonyms (status_slot);
