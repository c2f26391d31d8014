-- Who decided a field's `indexed` flag: 'manual' (the schema's author),
-- 'automatic' (PyBase, from the queries run) or 'declined' (turned off by
-- hand: PyBase does not index it again on its own).
ALTER TABLE fields ADD COLUMN index_origin TEXT NOT NULL DEFAULT 'manual'
    CHECK (index_origin IN ('manual', 'automatic', 'declined'));
