-- Table names are unique in a base ignoring case (issue 11): `name_key` is
-- the name lowercased by core's rules (Rust's to_lowercase, which SQLite's
-- ASCII-only lower() is not), written by the store on create and rename.
-- Existing rows get theirs from the same migration step, in Rust
-- (crate::table_names::add_name_keys), right after this script.
--
-- Not a unique index: the store checks the key inside its write
-- transaction (one writer, so two creates cannot both pass), and a
-- database written before this rule may hold two tables whose names differ
-- only in case; they keep their names and keys, and only a rename is
-- checked. The index serves the check and the lookup of a taken name.
ALTER TABLE tables ADD COLUMN name_key TEXT NOT NULL DEFAULT '';
CREATE INDEX tables_base_name_key ON tables (base_id, name_key);
