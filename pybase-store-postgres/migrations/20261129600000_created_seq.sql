-- A bulk create's events without history-index entries (issue 14). A
-- record's `record.created` event is always the first of its history, so
-- a create that logs its events in its insert statement
-- (`changes::logged_insert`) keeps that event's seq in the record's row
-- (`created_seq`) and marks the event `in_row`: the history reads it from
-- there by the log's primary key, and the history index leaves such events
-- out. That index was the largest part of a logged bulk create's cost
-- (benches/ANALYSIS.md, "The log's cost, third look"). Every other event
-- (and every event before this migration) stays in the index.
ALTER TABLE changes ADD COLUMN in_row BOOLEAN NOT NULL DEFAULT false;
DROP INDEX changes_record;
CREATE INDEX changes_record ON changes (table_id, record_id, seq)
    WHERE record_id IS NOT NULL AND NOT in_row;

-- Each user table's records table gets the column (tables still in the
-- shared layout get it when they are split: `layout::create_records_table`).
DO $$
DECLARE
    t TEXT;
BEGIN
    FOR t IN SELECT id FROM tables ORDER BY id LOOP
        EXECUTE format('ALTER TABLE IF EXISTS %I ADD COLUMN IF NOT EXISTS created_seq BIGINT',
            'r_' || t);
    END LOOP;
END
$$;
