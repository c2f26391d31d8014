-- The derived fields (formula, lookup, rollup, count) by table. A
-- single-record write's one-statement fast path checks that its base has
-- none; through this index it visits the derived fields (usually none)
-- instead of every field of every table of the base, a cost that grew
-- with the number of tables in the base (benches/ANALYSIS.md, "PostgreSQL
-- at T = 500").
CREATE INDEX fields_derived ON fields (table_id)
    WHERE type IN ('formula', 'lookup', 'rollup', 'count');
