-- PyBase SQLite schema, version 1.
--
-- Ids are TEXT compared by bytes (BINARY collation, the default). Times are
-- TEXT in the format `%Y-%m-%dT%H:%M:%S%.3fZ` (UTC, milliseconds), so byte
-- order is time order. Never edit this file once released: add a new
-- numbered migration instead.

CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE UNIQUE INDEX users_email ON users (email);

CREATE TABLE refresh_tokens (
    id         TEXT PRIMARY KEY NOT NULL,
    family_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    spent_at   TEXT,
    revoked_at TEXT
);
CREATE UNIQUE INDEX refresh_tokens_hash ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE password_resets (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
);
CREATE INDEX password_resets_user ON password_resets (user_id);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    scopes       TEXT NOT NULL,  -- JSON array of scope names
    workspaces   TEXT,           -- JSON array of workspace ids; NULL means all
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    last_used_at TEXT
);
CREATE UNIQUE INDEX api_keys_prefix ON api_keys (prefix);
CREATE INDEX api_keys_user ON api_keys (user_id, created_at, id);

CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    slug        TEXT NOT NULL,
    description TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE UNIQUE INDEX workspaces_slug ON workspaces (slug);

CREATE TABLE members (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer')),
    created_at   TEXT NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
) WITHOUT ROWID;
CREATE INDEX members_user ON members (user_id);

CREATE TABLE bases (
    id           TEXT PRIMARY KEY NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    description  TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX bases_workspace ON bases (workspace_id, created_at, id);

-- `last_autonumber` is the per-table record counter: creating records bumps
-- it inside the write transaction, so numbers are never reused.
CREATE TABLE tables (
    id               TEXT PRIMARY KEY NOT NULL,
    base_id          TEXT NOT NULL REFERENCES bases (id) ON DELETE CASCADE,
    workspace_id     TEXT NOT NULL,
    name             TEXT NOT NULL,
    description      TEXT,
    primary_field_id TEXT,
    position         INTEGER NOT NULL,
    last_autonumber  INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX tables_base ON tables (base_id, position, id);

CREATE TABLE fields (
    id          TEXT PRIMARY KEY NOT NULL,
    table_id    TEXT NOT NULL REFERENCES tables (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT,
    type        TEXT NOT NULL,
    options     TEXT NOT NULL,  -- JSON object, as FieldType::options_json
    position    INTEGER NOT NULL,
    indexed     INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
-- Backstop for core's case-insensitive name check (lower() is ASCII-only).
CREATE UNIQUE INDEX fields_table_name ON fields (table_id, lower(name));
CREATE INDEX fields_table ON fields (table_id, position, id);

CREATE TABLE views (
    id         TEXT PRIMARY KEY NOT NULL,
    table_id   TEXT NOT NULL REFERENCES tables (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    type       TEXT NOT NULL,
    config     TEXT NOT NULL,  -- JSON, as ViewConfig serialises
    position   INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX views_table ON views (table_id, position, id);

-- Cells live in `data` as SQLite JSONB keyed by field id.
CREATE TABLE records (
    id           TEXT PRIMARY KEY NOT NULL,
    table_id     TEXT NOT NULL REFERENCES tables (id) ON DELETE CASCADE,
    data         BLOB NOT NULL,
    autonumber   INTEGER NOT NULL,
    created_by   TEXT,
    updated_by   TEXT,
    created_time TEXT NOT NULL,
    updated_time TEXT NOT NULL,
    deleted_time TEXT
);
-- Serves table scans and keyset pages including soft-deleted rows, and the
-- cascade from `tables`.
CREATE INDEX records_table ON records (table_id, id);
-- Serves the common case: live rows of a table in id order.
CREATE INDEX records_live ON records (table_id, id) WHERE deleted_time IS NULL;

CREATE TABLE attachments (
    id           TEXT PRIMARY KEY NOT NULL,
    table_id     TEXT NOT NULL REFERENCES tables (id) ON DELETE CASCADE,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    storage_key  TEXT NOT NULL,
    created_by   TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX attachments_table ON attachments (table_id);
