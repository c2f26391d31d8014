-- The change log becomes a rowid table (issue 14): `WITHOUT ROWID` keeps
-- each whole event in its primary key's B-tree, and with events of a few
-- hundred bytes (a record's cells on `after`) every few appends split a
-- page the expensive way (`balance_nonroot`); a rowid table appends at its
-- end (`balance_quick`) and keeps `(base_id, seq)` as a small unique
-- index. Events no longer check their base by foreign key (a lookup of the
-- base for every event): every event is written by the store in a
-- transaction that found its base, and a trigger deletes a base's events
-- with it (also when the base goes by cascade with its workspace), as the
-- foreign key's cascade did. Together about 4,700 fewer instructions an
-- event (benches/RESULTS.md, "the log's cost after Nagle's 40 ms").
DROP TRIGGER IF EXISTS changes_forget_base;
CREATE TABLE changes_rowid (
    base_id        TEXT NOT NULL,
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
);
INSERT INTO changes_rowid (base_id, seq, at, actor, kind, table_id, record_id, field_id,
    view_id, changed_fields, before, after)
SELECT base_id, seq, at, actor, kind, table_id, record_id, field_id, view_id,
    changed_fields, before, after
FROM changes ORDER BY base_id, seq;
DROP TABLE changes;
ALTER TABLE changes_rowid RENAME TO changes;
CREATE INDEX changes_record ON changes (table_id, record_id, seq) WHERE record_id IS NOT NULL;
CREATE TRIGGER changes_forget_base AFTER DELETE ON bases
BEGIN
    DELETE FROM changes WHERE base_id = OLD.id;
END;
