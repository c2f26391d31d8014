-- Table names are unique in a base ignoring case (issue 11): `name_key` is
-- the name lowercased by core's rules (Rust's to_lowercase, which SQLite's
-- ASCII-only lower() is not), written by the store on create and rename,
-- which checks it inside its write transaction (one writer: two creates of
-- one name cannot both pass); the unique index is the backstop and serves
-- that check as a lookup.
--
-- Existing rows get their keys from the same migration step, in Rust
-- (crate::table_names::add_name_keys), right after this script; the column
-- is NULL only until then. A database written before the rule may hold
-- tables of one base sharing a key: the first (by position, id) gets the
-- plain key, the later ones the key, a U+001F and their id, which no name
-- can fold to (names have no control characters). They keep their names
-- and stay editable under them; renaming one is checked like any rename.
ALTER TABLE tables ADD COLUMN name_key TEXT;
CREATE UNIQUE INDEX tables_base_name_key ON tables (base_id, name_key);
