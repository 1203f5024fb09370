-- Issue 16: the admin listings of break-glass requests and remedies page
-- by keyset (`ORDER BY created_at DESC, id`, resumed strictly after the
-- last row's `(created_at, id)`) instead of stopping at 500 rows. These
-- indexes serve each page as a range scan in listing order, on SQLite and
-- PostgreSQL alike: without them every page sorted the whole table.
CREATE INDEX remedies_listing ON remedies (created_at DESC, id);
CREATE INDEX break_glass_requests_listing ON break_glass_requests (created_at DESC, id);
-- The listing filtered by status (`?status=pending` is what approvers read).
CREATE INDEX break_glass_requests_status_listing
    ON break_glass_requests (status, created_at DESC, id);
