-- The change log's rows no longer check their base by foreign key: the
-- check ran a lookup (with a KEY SHARE lock on the base) for every event,
-- which was most of the log's cost on bulk writes (benches/RESULTS.md,
-- "the change log's cost"). Every event is written in a transaction that
-- has just written that base's counter row, and `change_counters` keeps
-- its foreign key, so a base's events still go with it: a trigger deletes
-- them when the base is deleted (also when its workspace is). It is named
-- so that it fires after the cascades of the foreign keys.
ALTER TABLE changes DROP CONSTRAINT changes_base_id_fkey;

CREATE FUNCTION changes_forget_base() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM changes WHERE base_id = OLD.id;
    RETURN OLD;
END
$$;

CREATE TRIGGER zz_changes_forget_base AFTER DELETE ON bases
    FOR EACH ROW EXECUTE FUNCTION changes_forget_base();
