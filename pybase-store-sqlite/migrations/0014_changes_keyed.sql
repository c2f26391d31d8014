-- The change log keyed by one integer, a record's history as a chain
-- (issue 14). SQLite writes every page a transaction changes to the WAL
-- whole (4 KiB and two writes each), so each B-tree an event touches costs
-- a logged single update about as much as a fifth of the update itself:
-- the event's row, the `(base_id, seq)` key and the `changes_record`
-- history index made three pages on top of the record's one.
--
-- Now an event is one row of one B-tree: its rowid `k` is the base's
-- number (`change_counters.no`) times 2^40 plus the seq, so a base's log
-- is one range of rowids, in order, and its newest event the last of that
-- range. The history index gives way to a chain: each record row holds
-- the seq of its newest event (`records.last_seq`) and each record event
-- the seq of the record's event before it (`prev_seq`); the record row is
-- written by the same transaction anyway, on a page already in the WAL.
-- benches/RESULTS.md, "Issue 14: one page an event".
DROP TRIGGER IF EXISTS changes_forget_base;

-- Every base gets its number; the counters keep their meaning.
CREATE TABLE change_counters_numbered (
    no         INTEGER PRIMARY KEY,
    base_id    TEXT NOT NULL UNIQUE,
    last_seq   INTEGER NOT NULL DEFAULT 0,
    pruned_seq INTEGER NOT NULL DEFAULT 0
);
INSERT INTO change_counters_numbered (base_id, last_seq, pruned_seq)
SELECT b.id, coalesce(cc.last_seq, 0), coalesce(cc.pruned_seq, 0)
FROM bases b LEFT JOIN change_counters cc ON cc.base_id = b.id
ORDER BY b.rowid;

-- Each record row points at its newest event (the old history index
-- finds it).
ALTER TABLE records ADD COLUMN last_seq INTEGER;
UPDATE records SET last_seq = newest.seq
FROM (
    SELECT table_id, record_id, max(seq) AS seq FROM changes
    WHERE record_id IS NOT NULL GROUP BY table_id, record_id
) AS newest
WHERE records.table_id = newest.table_id AND records.id = newest.record_id;

CREATE TABLE changes_keyed (
    k              INTEGER PRIMARY KEY,
    prev_seq       INTEGER,
    at             TEXT NOT NULL,
    actor          TEXT,
    kind           TEXT NOT NULL,
    table_id       TEXT NOT NULL,
    record_id      TEXT,
    field_id       TEXT,
    view_id        TEXT,
    changed_fields TEXT,
    before         TEXT,
    after          TEXT
);
INSERT INTO changes_keyed (k, prev_seq, at, actor, kind, table_id, record_id, field_id,
    view_id, changed_fields, before, after)
SELECT n.no * 1099511627776 + c.seq,
    CASE WHEN c.record_id IS NULL THEN NULL
        ELSE lag(c.seq) OVER (PARTITION BY c.table_id, c.record_id ORDER BY c.seq) END,
    c.at, c.actor, c.kind, c.table_id, c.record_id, c.field_id, c.view_id,
    c.changed_fields, c.before, c.after
FROM changes c JOIN change_counters_numbered n ON n.base_id = c.base_id
ORDER BY 1;

DROP TABLE changes;
ALTER TABLE changes_keyed RENAME TO changes;
DROP TABLE change_counters;
ALTER TABLE change_counters_numbered RENAME TO change_counters;

-- A base's events and number go with it (also when the base goes by
-- cascade with its workspace).
CREATE TRIGGER changes_forget_base AFTER DELETE ON bases
BEGIN
    DELETE FROM changes WHERE k BETWEEN
        (SELECT no FROM change_counters WHERE base_id = OLD.id) * 1099511627776
        AND (SELECT no FROM change_counters WHERE base_id = OLD.id) * 1099511627776
            + 1099511627775;
    DELETE FROM change_counters WHERE base_id = OLD.id;
END;
