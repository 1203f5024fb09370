-- Break-glass requests (issue 5): the only way from a pseudonym to an
-- account id. A request needs approvals from other admins, then its
-- requester may reveal once within a window. `account_ref` (never the
-- account) is set only at the reveal, so the backend can later show the
-- user what was revealed about them (after `embargo_until`; NULL: never).
CREATE TABLE break_glass_requests (
    id                  TEXT PRIMARY KEY,
    pseudonym           TEXT NOT NULL,
    reason_code         TEXT NOT NULL,
    case_id             TEXT NOT NULL,
    justification       TEXT NOT NULL,
    requester           TEXT NOT NULL,
    -- pending | approved | denied | revealed (expiry is computed from expires_at)
    status              TEXT NOT NULL,
    approvals_required  BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    -- While pending: when the request lapses. Once approved: the end of the reveal window.
    expires_at          BIGINT NOT NULL,
    decided_at          BIGINT,
    revealed_at         BIGINT,
    account_ref         BYTEA,
    embargo_until       BIGINT
);
CREATE INDEX break_glass_requests_account ON break_glass_requests (account_ref);

-- One row per approving admin: the primary key refuses a second approval by the same one.
CREATE TABLE break_glass_approvals (
    request_id  TEXT NOT NULL,
    approver    TEXT NOT NULL,
    at          BIGINT NOT NULL,
    PRIMARY KEY (request_id, approver)
);
