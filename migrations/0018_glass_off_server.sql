-- Issue 12: the reveal happens on the requester's machine, and the online
-- service never holds a break-glass private key, passphrase or share.
--
-- How each account's glass_link was sealed: 1 = HPKE Base, DHKEM(X25519)
-- (before this change), 2 = HPKE Auth, DHKEM(P-256) with veil's sender key.
-- Old links are re-sealed in suite 2 the next time their account mints.
ALTER TABLE accounts ADD COLUMN glass_suite BIGINT NOT NULL DEFAULT 1;
-- The HPKE sender public key the link was sealed with (suite 2), so a link
-- opens whatever sender key a replica holds now.
ALTER TABLE accounts ADD COLUMN glass_sender BYTEA;
-- HMAC under k_ref over (account_ref, suite, sender, link): only the
-- service writes links that are released. Links from before get theirs at
-- the first start of this release (trusted as they are then).
ALTER TABLE accounts ADD COLUMN glass_tag BYTEA;
-- What the startup step looks for, without scanning every account at each
-- start once all links are tagged.
CREATE INDEX accounts_untagged_glass ON accounts (account_ref) WHERE glass_tag IS NULL;
-- Which keys (recipient and sender) sealed the link: a link sealed with
-- other keys than the current ones is re-sealed at the account's next mint.
ALTER TABLE accounts ADD COLUMN glass_key_id BYTEA;

-- The requester's one-time reveal key (SEC1 P-256): custodians seal their
-- partial decryptions to it, so the server relays partials it cannot use.
ALTER TABLE break_glass_requests ADD COLUMN reveal_key BYTEA;

-- Custodians' partial decryptions of one request's link, each sealed to the
-- requester's reveal key. Released with the link, then deleted.
CREATE TABLE break_glass_partials (
    request_id    TEXT NOT NULL,
    custodian     BIGINT NOT NULL,
    submitted_by  TEXT NOT NULL,
    sealed        BYTEA NOT NULL,
    PRIMARY KEY (request_id, custodian)
);

-- Opened shares kept under the online k_ops until a reveal: gone, with the
-- server-side reveal that needed them.
DROP TABLE break_glass_shares;
