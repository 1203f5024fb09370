-- Operators (issue 12): the people behind admin clients. Break-glass
-- approvals count distinct operators, not tokens, so one person holding
-- two admin tokens is still one approver. A new operator is `pending`
-- until another operator approves it (or `veilctl operator add` on the
-- host adds it, audited); only an `active` operator's clients act as admin.
CREATE TABLE operators (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    -- pending | active | revoked
    status        TEXT NOT NULL,
    -- The operator who asked for it; NULL: bootstrap, host (veilctl) or upgrade.
    requested_by  TEXT,
    approved_by   TEXT,
    created_at    BIGINT NOT NULL,
    -- When it became active: the policy's min_operator_age counts from here.
    activated_at  BIGINT,
    revoked_at    BIGINT
);

-- Admin clients name their operator; other clients have none.
ALTER TABLE api_clients ADD COLUMN operator_id TEXT;

-- Upgrade: each existing admin client becomes its own operator, named after
-- it and with its id, so existing tokens keep working (and still count as
-- separate people until an operator revokes the duplicates).
INSERT INTO operators (id, name, status, created_at, activated_at, revoked_at)
    SELECT id, name, CASE WHEN revoked_at IS NULL THEN 'active' ELSE 'revoked' END,
           created_at, created_at, revoked_at
    FROM api_clients WHERE (' ' || scopes || ' ') LIKE '% admin %';
UPDATE api_clients SET operator_id = id WHERE (' ' || scopes || ' ') LIKE '% admin %';

-- Break-glass: who asked and who approved, as operators. Migrated ids equal
-- the client ids, so requests in flight keep their approvals.
ALTER TABLE break_glass_requests ADD COLUMN requester_operator TEXT;
UPDATE break_glass_requests SET requester_operator = requester;
ALTER TABLE break_glass_approvals ADD COLUMN approver_operator TEXT;
UPDATE break_glass_approvals SET approver_operator = approver;
CREATE UNIQUE INDEX break_glass_approvals_operator
    ON break_glass_approvals (request_id, approver_operator);

-- One row every revocation of an admin or operator updates first: the
-- update serializes those transactions on both backends (PostgreSQL row
-- lock, SQLite write lock), so the "someone is left" check that follows
-- sees every earlier revocation, even under READ COMMITTED.
CREATE TABLE admin_guard (
    id         BIGINT PRIMARY KEY,
    revisions  BIGINT NOT NULL
);
INSERT INTO admin_guard (id, revisions) VALUES (1, 0);
