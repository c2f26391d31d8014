-- A one-statement record update logs its event from its own `RETURNING`
-- list (issue 14), through `pybase_log_cells`, which replaces
-- `pybase_log_update`. Measured on the update's statement with its real
-- parameters (`pgbench -M prepared`, benches/ANALYSIS.md, "tenth look"):
--
-- - Called in `RETURNING`, the function needs no common table expression
--   around the update and no lateral join, whose function scan kept its
--   one row in a tuple store.
-- - A merge's changed cells are found by a loop over the field ids the
--   patch names (bound by the caller), in PL/pgSQL's simple expressions,
--   which run without an executor of their own; the aggregate over
--   `jsonb_object_keys` set one up for every call. A replace, or a merge
--   naming more than 16 fields, still compares with the aggregate (the
--   loop's repeated `||` copies the object it grows).
-- - The counter's bump and the event's insert stay one statement: one
--   executor for both.
--
-- As before, the caller has locked the record's row when the function
-- runs (it is evaluated for the updated row only), so the counter's row is
-- the last lock taken, as for every writer; an update that changed no
-- cell, or of a table that is gone, logs nothing and returns NULL. The
-- answer is `<base id>:<seq>`, the base's newest number.
DROP FUNCTION pybase_log_update(
    TEXT, TEXT, JSONB, JSONB, BOOLEAN, JSONB, TEXT[], TIMESTAMPTZ, TEXT, TEXT
);

CREATE FUNCTION pybase_log_cells(
    p_table  TEXT,
    p_record TEXT,
    p_old    JSONB,
    p_new    JSONB,
    p_keys   TEXT[],
    p_at     TIMESTAMPTZ,
    p_actor  TEXT,
    p_kind   TEXT
) RETURNS TEXT LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    k        TEXT;
    o        JSONB;
    n        JSONB;
    v_before JSONB := '{}'::jsonb;
    v_after  JSONB := '{}'::jsonb;
    v_base   TEXT;
    v_seq    BIGINT;
BEGIN
    -- `p_keys` NULL: a replace, which may change any cell of either side.
    IF p_keys IS NULL OR cardinality(p_keys) > 16 THEN
        SELECT coalesce(jsonb_object_agg(x.k, p_old -> x.k) FILTER (WHERE p_old ? x.k), '{}'::jsonb),
               coalesce(jsonb_object_agg(x.k, p_new -> x.k) FILTER (WHERE p_new ? x.k), '{}'::jsonb)
        INTO v_before, v_after
        FROM (SELECT DISTINCT y.k FROM unnest(coalesce(p_keys,
                  ARRAY(SELECT jsonb_object_keys(p_old || p_new)))) AS y(k)) AS x
        WHERE (p_old -> x.k) IS DISTINCT FROM (p_new -> x.k);
    ELSE
        -- A key named twice (set and unset) only writes one entry again.
        FOREACH k IN ARRAY p_keys LOOP
            o := p_old -> k;
            n := p_new -> k;
            IF o IS DISTINCT FROM n THEN
                IF o IS NOT NULL THEN
                    v_before := v_before || jsonb_build_object(k, o);
                END IF;
                IF n IS NOT NULL THEN
                    v_after := v_after || jsonb_build_object(k, n);
                END IF;
            END IF;
        END LOOP;
    END IF;
    IF v_before = '{}'::jsonb AND v_after = '{}'::jsonb THEN
        RETURN NULL;
    END IF;
    -- The counter's row is updated, not upserted (a speculative insert
    -- first costs more): a base has it from its first event on.
    -- `changed_fields` stays NULL: they are the keys of both sides, which
    -- the reader lists.
    WITH c AS (
        UPDATE change_counters cc SET last_seq = cc.last_seq + 1
        FROM tables t
        WHERE t.id = p_table AND cc.base_id = t.base_id
        RETURNING cc.base_id, cc.last_seq
    )
    INSERT INTO changes (base_id, seq, at, actor, kind, table_id, record_id, before, after)
    SELECT c.base_id, c.last_seq, p_at, p_actor, p_kind, p_table, p_record, v_before, v_after
    FROM c
    RETURNING base_id, seq INTO v_base, v_seq;
    IF v_base IS NULL THEN
        -- The base's first event: its counter's row is new.
        INSERT INTO change_counters AS cc (base_id, last_seq)
        SELECT t.base_id, 1 FROM tables t WHERE t.id = p_table
        ON CONFLICT (base_id) DO UPDATE SET last_seq = cc.last_seq + 1
        RETURNING cc.base_id, cc.last_seq INTO v_base, v_seq;
        IF v_base IS NULL THEN
            RETURN NULL;
        END IF;
        INSERT INTO changes (base_id, seq, at, actor, kind, table_id, record_id, before, after)
        VALUES (v_base, v_seq, p_at, p_actor, p_kind, p_table, p_record, v_before, v_after);
    END IF;
    RETURN v_base || ':' || v_seq;
END
$$;
