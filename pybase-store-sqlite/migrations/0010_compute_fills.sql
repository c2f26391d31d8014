-- Background fills of computed fields (issue 12, API.md `status`): a field
-- reads `computing` while the fill of its table runs, and the fill's state
-- lives here so it survives a restart. One row per table: `after_id` is the
-- resume point (the last record id done, NULL: from the start); the
-- instance running it holds `lease_owner` until `lease_until`.
ALTER TABLE fields ADD COLUMN status TEXT NOT NULL DEFAULT 'ready';

CREATE TABLE compute_fills (
    table_id    TEXT PRIMARY KEY REFERENCES tables (id) ON DELETE CASCADE,
    after_id    TEXT,
    lease_owner TEXT,
    lease_until TEXT,
    queued_at   TEXT NOT NULL
);
