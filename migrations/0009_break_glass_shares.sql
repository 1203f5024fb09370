-- Custodian shares submitted with break-glass approvals (issue 5), each
-- sealed under k_ops (bound to its request) until the one reveal that
-- combines them; the reveal and a denial delete them.
CREATE TABLE break_glass_shares (
    request_id  TEXT NOT NULL,
    approver    TEXT NOT NULL,
    sealed      BYTEA NOT NULL,
    PRIMARY KEY (request_id, approver)
);
