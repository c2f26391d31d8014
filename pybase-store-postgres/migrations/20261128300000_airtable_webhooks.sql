-- Airtable-style webhooks (`/v0`, AIRTABLE.md §11): the base's newest seq
-- at creation (their payload cursors count from it) and their
-- specification and expiry as JSON (NULL for native webhooks).
ALTER TABLE webhooks ADD COLUMN start_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN airtable JSONB;
UPDATE webhooks SET start_seq = cursor;
