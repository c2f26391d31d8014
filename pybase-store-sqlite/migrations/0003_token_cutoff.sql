-- A per-user cut-off for tokens: a password change or reset sets it, and
-- every token of the user issued at or before it is refused from then on,
-- including a refresh that was in flight (rotation checks it in the same
-- transaction) and access tokens after a restart.
ALTER TABLE users ADD COLUMN tokens_valid_after TEXT;
