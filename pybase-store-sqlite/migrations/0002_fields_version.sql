-- A counter per table that changes whenever one of its fields does, kept by
-- triggers so that no code path can forget it. The store caches each table's
-- parsed fields keyed by (table, fields_version): a record read checks the
-- counter in the same transaction instead of reading and parsing every field.
ALTER TABLE tables ADD COLUMN fields_version INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER fields_version_insert AFTER INSERT ON fields BEGIN
    UPDATE tables SET fields_version = fields_version + 1 WHERE id = NEW.table_id;
END;

CREATE TRIGGER fields_version_update AFTER UPDATE ON fields BEGIN
    UPDATE tables SET fields_version = fields_version + 1
    WHERE id IN (OLD.table_id, NEW.table_id);
END;

CREATE TRIGGER fields_version_delete AFTER DELETE ON fields BEGIN
    UPDATE tables SET fields_version = fields_version + 1 WHERE id = OLD.table_id;
END;
