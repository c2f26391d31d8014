//! The backend's private error type and its mapping into [`StoreError`].

use pybase_core::StoreError;
use rusqlite::ErrorCode;

/// Backend name reported in [`StoreError::Backend`].
pub(crate) const BACKEND: &str = "sqlite";

/// What can go wrong inside the backend.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// A driver error; unique violations are turned into conflicts on the way out.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// A semantic outcome decided by the backend (`NotFound`, `Conflict`, ...).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored value that does not decode (a corrupt or foreign database).
    #[error("corrupt {what}: {detail}")]
    Corrupt {
        /// Which column or value.
        what: &'static str,
        /// Why it did not decode.
        detail: String,
    },
    /// JSON (de)serialisation of a stored value failed.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A blocking task panicked or was cancelled.
    #[error("blocking task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// Opening the database failed for a reason other than SQLite itself.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The database was written by a newer build.
    #[error("database schema version {found} is newer than this build knows ({known})")]
    TooNew {
        /// `user_version` of the file.
        found: i64,
        /// Newest migration this build has.
        known: i64,
    },
}

/// A backend result.
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn corrupt(what: &'static str, detail: impl Into<String>) -> Self {
        Self::Corrupt {
            what,
            detail: detail.into(),
        }
    }

    pub(crate) fn not_found(entity: &'static str, id: impl ToString) -> Self {
        Self::Store(StoreError::not_found(entity, id))
    }

    pub(crate) fn conflict(
        entity: &'static str,
        field: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self::Store(StoreError::conflict(entity, field, message))
    }
}

/// Unique constraints and indexes, as SQLite names them in its message,
/// with the entity and field a `Conflict` reports.
const UNIQUES: &[(&str, &str, &str, &str)] = &[
    ("users.email", "user", "email", "email is already taken"),
    (
        "index 'users_email'",
        "user",
        "email",
        "email is already taken",
    ),
    (
        "workspaces.slug",
        "workspace",
        "slug",
        "slug is already taken",
    ),
    (
        "index 'workspaces_slug'",
        "workspace",
        "slug",
        "slug is already taken",
    ),
    (
        "api_keys.prefix",
        "api_key",
        "prefix",
        "key prefix is already taken",
    ),
    (
        "index 'api_keys_prefix'",
        "api_key",
        "prefix",
        "key prefix is already taken",
    ),
    (
        "index 'fields_table_name'",
        "field",
        "name",
        "a field with this name already exists in the table",
    ),
    (
        "members.workspace_id",
        "member",
        "user",
        "user is already a member",
    ),
    (
        "refresh_tokens.token_hash",
        "refresh_token",
        "token_hash",
        "token already exists",
    ),
    (
        "index 'refresh_tokens_hash'",
        "refresh_token",
        "token_hash",
        "token already exists",
    ),
    ("users.id", "user", "id", "id is already taken"),
    ("workspaces.id", "workspace", "id", "id is already taken"),
    ("bases.id", "base", "id", "id is already taken"),
    ("tables.id", "table", "id", "id is already taken"),
    ("fields.id", "field", "id", "id is already taken"),
    ("views.id", "view", "id", "id is already taken"),
    ("records.id", "record", "id", "id is already taken"),
    ("attachments.id", "attachment", "id", "id is already taken"),
    ("api_keys.id", "api_key", "id", "id is already taken"),
    (
        "refresh_tokens.id",
        "refresh_token",
        "id",
        "id is already taken",
    ),
    (
        "password_resets.token_hash",
        "password_reset",
        "token_hash",
        "token already exists",
    ),
];

fn unique_conflict(message: &str) -> Option<StoreError> {
    let detail = message.strip_prefix("UNIQUE constraint failed: ")?;
    UNIQUES
        .iter()
        .find(|(name, ..)| detail.starts_with(name))
        .map(|(_, entity, field, msg)| StoreError::conflict(entity, *field, *msg))
        .or_else(|| Some(StoreError::conflict("row", "unique", "duplicate value")))
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        match e {
            Error::Store(s) => s,
            Error::Sqlite(rusqlite::Error::SqliteFailure(f, Some(msg)))
                if f.code == ErrorCode::ConstraintViolation
                    && msg.starts_with("UNIQUE constraint failed") =>
            {
                unique_conflict(&msg).unwrap_or_else(|| {
                    Self::backend(
                        BACKEND,
                        rusqlite::Error::SqliteFailure(f, Some(msg.clone())),
                    )
                })
            }
            other => Self::backend(BACKEND, other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_messages_map_to_named_conflicts() {
        let c = unique_conflict("UNIQUE constraint failed: users.email");
        assert!(
            matches!(c, Some(StoreError::Conflict { entity: "user", ref field, .. }) if field == "email")
        );
        let c = unique_conflict("UNIQUE constraint failed: index 'fields_table_name'");
        assert!(
            matches!(c, Some(StoreError::Conflict { entity: "field", ref field, .. }) if field == "name")
        );
        let c = unique_conflict("UNIQUE constraint failed: members.workspace_id, members.user_id");
        assert!(
            matches!(c, Some(StoreError::Conflict { entity: "member", ref field, .. }) if field == "user")
        );
        assert!(unique_conflict("NOT NULL constraint failed: users.name").is_none());
    }
}
