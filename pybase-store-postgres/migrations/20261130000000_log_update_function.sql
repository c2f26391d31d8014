-- A one-statement record update logs its event through a function
-- (issue 14). The update's statement is a table's own (each user table is
-- its own relation), so every connection prepares and plans it per table,
-- and with many tables most executions plan it cold. While the log's part
-- (the changed cells, the counter's bump, the event's insert) was common
-- table expressions of that statement, it was planned with it, per table:
-- at 1,000 tables the log added about 500 µs to a 1.6 ms update, against
-- 120 µs on one table (benches/ANALYSIS.md, "The log's cost at scale,
-- eighth look").
-- PL/pgSQL keeps the plans of its statements for the session, whatever
-- table the calling statement updates, so the log is planned once a
-- connection. Called by `changes::logged_update` with the updated row's
-- cells before and after; the caller has locked the record's row, so the
-- counter's row is the last lock taken, as for every writer.
--
-- `p_replace`, `p_set` and `p_unset` are the update's patch: a merge can
-- change only the cells it sets or unsets, so only those are compared; a
-- replace compares every cell of both sides. An update that changed no
-- cell (or of a table that is gone) logs nothing and returns NULLs.
CREATE FUNCTION pybase_log_update(
    p_table   TEXT,
    p_record  TEXT,
    p_old     JSONB,
    p_new     JSONB,
    p_replace BOOLEAN,
    p_set     JSONB,
    p_unset   TEXT[],
    p_at      TIMESTAMPTZ,
    p_actor   TEXT,
    p_kind    TEXT,
    OUT log_base TEXT,
    OUT log_seq  BIGINT
) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_before JSONB;
    v_after  JSONB;
BEGIN
    -- One statement, so one executor's setup a call. A key both set and
    -- unset only repeats an entry of the same value. `changed_fields`
    -- stays NULL: they are the keys of both sides, which the reader lists.
    -- The counter's row is updated, not upserted (a speculative insert
    -- first costs more): a base has it from its first event on.
    WITH d AS (
        SELECT coalesce(jsonb_object_agg(k, p_old -> k) FILTER (WHERE p_old ? k), '{}'::jsonb)
                   AS before,
               coalesce(jsonb_object_agg(k, p_new -> k) FILTER (WHERE p_new ? k), '{}'::jsonb)
                   AS after
        FROM (SELECT jsonb_object_keys(CASE WHEN p_replace THEN p_old || p_new ELSE p_set END)
              UNION ALL SELECT unnest(p_unset)) AS x(k)
        WHERE (p_old -> k) IS DISTINCT FROM (p_new -> k)
    ), c AS (
        UPDATE change_counters cc SET last_seq = cc.last_seq + 1
        FROM d, tables t
        WHERE t.id = p_table AND cc.base_id = t.base_id
          AND (d.before <> '{}'::jsonb OR d.after <> '{}'::jsonb)
        RETURNING cc.base_id, cc.last_seq
    ), e AS (
        INSERT INTO changes (base_id, seq, at, actor, kind, table_id, record_id, before, after)
        SELECT c.base_id, c.last_seq, p_at, p_actor, p_kind, p_table, p_record, d.before, d.after
        FROM c, d
    )
    SELECT c.base_id, c.last_seq, d.before, d.after
    INTO log_base, log_seq, v_before, v_after
    FROM d LEFT JOIN c ON true;
    IF log_base IS NOT NULL OR (v_before = '{}'::jsonb AND v_after = '{}'::jsonb) THEN
        RETURN;
    END IF;
    -- The base's first event: its counter's row is new.
    INSERT INTO change_counters AS cc (base_id, last_seq)
    SELECT t.base_id, 1 FROM tables t WHERE t.id = p_table
    ON CONFLICT (base_id) DO UPDATE SET last_seq = cc.last_seq + 1
    RETURNING cc.base_id, cc.last_seq INTO log_base, log_seq;
    IF log_base IS NOT NULL THEN
        INSERT INTO changes (base_id, seq, at, actor, kind, table_id, record_id, before, after)
        VALUES (log_base, log_seq, p_at, p_actor, p_kind, p_table, p_record, v_before, v_after);
    END IF;
END
$$;
