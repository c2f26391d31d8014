-- The per-base change log (docs/API.md, "Change stream, record history,
-- webhooks"). `change_counters.last_seq` is each base's newest sequence
-- number: a write bumps it as the last statement of its transaction, so the
-- row lock serialises only the end of concurrent writers to one base, a
-- failed write uses no number, and numbers become visible in order.
-- `pruned_seq` is the newest pruned one (cursors below it are gone).
CREATE TABLE change_counters (
    base_id    TEXT COLLATE "C" PRIMARY KEY REFERENCES bases (id) ON DELETE CASCADE,
    last_seq   BIGINT NOT NULL,
    pruned_seq BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE changes (
    base_id        TEXT COLLATE "C" NOT NULL REFERENCES bases (id) ON DELETE CASCADE,
    seq            BIGINT NOT NULL,
    at             TIMESTAMPTZ NOT NULL,
    actor          TEXT COLLATE "C",
    kind           TEXT NOT NULL,
    table_id       TEXT COLLATE "C" NOT NULL,
    record_id      TEXT COLLATE "C",
    field_id       TEXT COLLATE "C",
    view_id        TEXT COLLATE "C",
    changed_fields JSONB,
    before         JSONB,
    after          JSONB,
    PRIMARY KEY (base_id, seq)
);
CREATE INDEX changes_record ON changes (table_id, record_id, seq) WHERE record_id IS NOT NULL;
CREATE INDEX changes_at ON changes (at);
