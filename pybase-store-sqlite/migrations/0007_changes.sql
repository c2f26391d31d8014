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
-- No index on `at`: pruning (hourly) scans the log, which keeps every write
-- one index cheaper.

-- Webhooks on the log: `cursor` is the last event seq a webhook is done
-- with; `attempt`/`next_attempt_at` the retry state of the next one; a
-- delivering instance holds `lease_owner` until `lease_until`. The signing
-- secret is derived from `secret_nonce` and the server's SECRET_KEY.
CREATE TABLE webhooks (
    id              TEXT PRIMARY KEY NOT NULL,
    base_id         TEXT NOT NULL REFERENCES bases (id) ON DELETE CASCADE,
    table_id        TEXT,
    url             TEXT NOT NULL,
    events          TEXT NOT NULL,
    enabled         INTEGER NOT NULL,
    disabled_reason TEXT,
    created_by      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    cursor          INTEGER NOT NULL,
    attempt         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    secret_nonce    TEXT NOT NULL,
    lease_owner     TEXT,
    lease_until     TEXT
);
CREATE INDEX webhooks_base ON webhooks (base_id, created_at, id);

CREATE TABLE webhook_deliveries (
    id            INTEGER PRIMARY KEY,
    webhook_id    TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_seq     INTEGER NOT NULL,
    attempt       INTEGER NOT NULL,
    at            TEXT NOT NULL,
    status_code   INTEGER,
    error         TEXT,
    duration_ms   INTEGER NOT NULL,
    next_retry_at TEXT
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);
