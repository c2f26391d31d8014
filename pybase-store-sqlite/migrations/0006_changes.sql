-- The per-base change log (docs/API.md, "Change stream, record history,
-- webhooks"). `change_counters` holds each base's newest sequence number
-- (`last_seq`, bumped inside the writing transaction, so a failed write
-- uses none) and the newest pruned one (`pruned_seq`: cursors below it are
-- gone). Events go with their base.
CREATE TABLE change_counters (
    base_id    TEXT PRIMARY KEY NOT NULL REFERENCES bases (id) ON DELETE CASCADE,
    last_seq   INTEGER NOT NULL,
    pruned_seq INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE changes (
    base_id        TEXT NOT NULL REFERENCES bases (id) ON DELETE CASCADE,
    seq            INTEGER NOT NULL,
    at             TEXT NOT NULL,
    actor          TEXT,
    kind           TEXT NOT NULL,
    table_id       TEXT NOT NULL,
    record_id      TEXT,
    field_id       TEXT,
    view_id        TEXT,
    changed_fields TEXT,
    before         TEXT,
    after          TEXT,
    PRIMARY KEY (base_id, seq)
) WITHOUT ROWID;
CREATE INDEX changes_record ON changes (table_id, record_id, seq) WHERE record_id IS NOT NULL;
CREATE INDEX changes_at ON changes (at);
