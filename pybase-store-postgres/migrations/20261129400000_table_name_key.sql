-- Table names are unique in a base ignoring case (issue 11). name_key is
-- the name lowercased by core's rules (Rust's to_lowercase), written by the
-- store on create and rename; the unique index makes two concurrent
-- creates of one name end with one table (the other answers the name
-- conflict) and serves the lookup of a taken name.
--
-- Existing rows: a name of ASCII characters only is lowercased here (under
-- the C collation lower() folds A-Z only, which is what Rust does to
-- ASCII); the others are keyed right after the migrations, in Rust
-- (crate::table_names::key_remaining, run by PgStore::migrate), and are
-- NULL until then (the partial index finds them; a unique index admits
-- any number of NULLs).
--
-- A database written before the rule may hold tables of one base sharing
-- a key: the first (by position, id) gets the plain key, the later ones the
-- key, a U+001F and their id, which no name can fold to (names have no
-- control characters). They keep their names and stay editable under
-- them; renaming one is checked like any rename.
ALTER TABLE tables ADD COLUMN name_key TEXT COLLATE "C";

UPDATE tables SET name_key = lower(name COLLATE "C") WHERE name ~ '^[\x01-\x7f]*$';

UPDATE tables t SET name_key = t.name_key || chr(31) || t.id
FROM (
    SELECT id, row_number() OVER (PARTITION BY base_id, name_key ORDER BY position, id) AS n
    FROM tables WHERE name_key IS NOT NULL
) d
WHERE d.id = t.id AND d.n > 1;

CREATE UNIQUE INDEX tables_base_name_key ON tables (base_id, name_key);
CREATE INDEX tables_unkeyed ON tables (id) WHERE name_key IS NULL;
