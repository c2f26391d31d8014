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
-- BRIN: `at` grows with `seq`, so a block-range index serves pruning for
-- almost nothing per write.
CREATE INDEX changes_at ON changes USING brin (at);

-- Webhooks on the log: `cursor` is the last event seq a webhook is done
-- with; `attempt`/`next_attempt_at` the retry state of the next one; a
-- delivering instance holds `lease_owner` until `lease_until`. The signing
-- secret is derived from `secret_nonce` and the server's SECRET_KEY.
CREATE TABLE webhooks (
    id              TEXT COLLATE "C" PRIMARY KEY,
    base_id         TEXT COLLATE "C" NOT NULL REFERENCES bases (id) ON DELETE CASCADE,
    table_id        TEXT COLLATE "C",
    url             TEXT NOT NULL,
    events          JSONB NOT NULL,
    enabled         BOOLEAN NOT NULL,
    disabled_reason TEXT,
    created_by      TEXT COLLATE "C" NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    cursor          BIGINT NOT NULL,
    attempt         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ,
    secret_nonce    TEXT NOT NULL,
    lease_owner     TEXT,
    lease_until     TIMESTAMPTZ
);
CREATE INDEX webhooks_base ON webhooks (base_id, created_at, id);

CREATE TABLE webhook_deliveries (
    id            BIGSERIAL PRIMARY KEY,
    webhook_id    TEXT COLLATE "C" NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_seq     BIGINT NOT NULL,
    attempt       INTEGER NOT NULL,
    at            TIMESTAMPTZ NOT NULL,
    status_code   INTEGER,
    error         TEXT,
    duration_ms   BIGINT NOT NULL,
    next_retry_at TIMESTAMPTZ
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);
