-- PyBase schema for PostgreSQL.
--
-- Ids are Airtable-style base62 text compared by bytes (COLLATE "C"), so both
-- backends order them alike. Timestamps are timestamptz (core truncates them to
-- milliseconds). Deleting a workspace cascades to its bases, tables, fields,
-- views, records and attachments.

CREATE TABLE users (
    id            TEXT COLLATE "C" PRIMARY KEY,
    email         TEXT COLLATE "C" NOT NULL,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email)
);

CREATE TABLE workspaces (
    id          TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT NOT NULL,
    slug        TEXT COLLATE "C" NOT NULL,
    description TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT workspaces_slug_key UNIQUE (slug)
);

CREATE TABLE workspace_members (
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer')),
    created_at   TIMESTAMPTZ NOT NULL,
    CONSTRAINT workspace_members_pkey PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX workspace_members_user_idx ON workspace_members (user_id);

CREATE TABLE bases (
    id           TEXT COLLATE "C" PRIMARY KEY,
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    description  TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX bases_workspace_idx ON bases (workspace_id, created_at, id);

-- next_autonumber is the last autonumber handed out; bumping it with
-- UPDATE ... RETURNING also serialises concurrent inserts into one table.
CREATE TABLE tables (
    id               TEXT COLLATE "C" PRIMARY KEY,
    base_id          TEXT COLLATE "C" NOT NULL REFERENCES bases (id) ON DELETE CASCADE,
    workspace_id     TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    description      TEXT,
    primary_field_id TEXT COLLATE "C",
    position         BIGINT NOT NULL,
    next_autonumber  BIGINT NOT NULL DEFAULT 0,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX tables_base_idx ON tables (base_id, position, id);

-- name_key is the name lowercased by core's rules (Rust's to_lowercase), so
-- uniqueness ignoring case does not depend on the database locale.
CREATE TABLE fields (
    id          TEXT COLLATE "C" PRIMARY KEY,
    table_id    TEXT COLLATE "C" NOT NULL REFERENCES tables (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    name_key    TEXT COLLATE "C" NOT NULL,
    description TEXT,
    type        TEXT NOT NULL,
    options     JSONB NOT NULL,
    position    BIGINT NOT NULL,
    indexed     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT fields_table_name_key UNIQUE (table_id, name_key)
);

CREATE TABLE views (
    id         TEXT COLLATE "C" PRIMARY KEY,
    table_id   TEXT COLLATE "C" NOT NULL REFERENCES tables (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    type       TEXT NOT NULL,
    config     JSONB NOT NULL,
    position   BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX views_table_idx ON views (table_id, position, id);

-- Cells live in data, keyed by field id. created_by/updated_by have no foreign
-- key: records keep the id of a user who was deleted.
CREATE TABLE records (
    id           TEXT COLLATE "C" NOT NULL,
    table_id     TEXT COLLATE "C" NOT NULL REFERENCES tables (id) ON DELETE CASCADE,
    autonumber   BIGINT NOT NULL,
    data         JSONB NOT NULL,
    created_by   TEXT COLLATE "C",
    updated_by   TEXT COLLATE "C",
    created_time TIMESTAMPTZ NOT NULL,
    updated_time TIMESTAMPTZ NOT NULL,
    deleted_time TIMESTAMPTZ,
    CONSTRAINT records_pkey PRIMARY KEY (table_id, id)
);
-- Live rows of a table in id order: table scans and keyset pages.
CREATE INDEX records_live_idx ON records (table_id, id) WHERE deleted_time IS NULL;
-- Containment (@>) on cells: equality, has_any, has_all, upsert matching.
CREATE INDEX records_data_idx ON records USING GIN (data jsonb_path_ops);

CREATE TABLE attachments (
    id           TEXT COLLATE "C" PRIMARY KEY,
    table_id     TEXT COLLATE "C" NOT NULL REFERENCES tables (id) ON DELETE CASCADE,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL CHECK (size >= 0),
    sha256       TEXT NOT NULL,
    storage_key  TEXT NOT NULL,
    created_by   TEXT COLLATE "C",
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX attachments_table_idx ON attachments (table_id);

-- Refresh tokens; only their hash is kept.
CREATE TABLE sessions (
    id         TEXT COLLATE "C" PRIMARY KEY,
    family_id  TEXT COLLATE "C" NOT NULL,
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT COLLATE "C" NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    spent_at   TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    CONSTRAINT sessions_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX sessions_family_idx ON sessions (family_id);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE password_resets (
    token_hash TEXT COLLATE "C" PRIMARY KEY,
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id);

-- API keys; only a hash of the secret is kept. workspaces NULL means all.
CREATE TABLE api_keys (
    id           TEXT COLLATE "C" PRIMARY KEY,
    user_id      TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT COLLATE "C" NOT NULL,
    scopes       TEXT[] NOT NULL,
    workspaces   TEXT[] COLLATE "C",
    secret_hash  TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    CONSTRAINT api_keys_prefix_key UNIQUE (prefix)
);
CREATE INDEX api_keys_user_idx ON api_keys (user_id, created_at, id);
