-- Anti-abuse: rate limits enforced in the database, so they hold across
-- every veild replica on one PostgreSQL. Every hot row is keyed by one
-- column (account_ref, or the API client id) for a distributed PostgreSQL.

-- Pseudonyms minted and not revoked, checked and bumped in the mint
-- transaction (`max_active`).
ALTER TABLE accounts ADD COLUMN active_pseudonyms BIGINT NOT NULL DEFAULT 0;

-- Fixed-window counters. subject: the account_ref (per-account limits) or a
-- constant tag (the global limit); action names the limit; window_start is
-- the window's first second. The mint transaction deletes the subject's
-- passed windows, so a returning account keeps at most a few rows.
CREATE TABLE rate_windows (
    subject       BYTEA NOT NULL,
    action        TEXT NOT NULL,
    window_start  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    n             BIGINT NOT NULL,
    PRIMARY KEY (subject, action, window_start)
);

-- Token buckets per API client, in thousandths of a request so the refill
-- needs no floating point.
CREATE TABLE rate_buckets (
    client_id    TEXT PRIMARY KEY,
    millitokens  BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
