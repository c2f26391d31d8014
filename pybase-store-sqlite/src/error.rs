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

    pub(crate) fn conflict(entity: &'static str, field: &'static str) -> Self {
        Self::Store(StoreError::conflict(entity, field))
    }
}

/// Unique constraints and indexes, as SQLite names them in its message,
/// with the entity and field a `Conflict` reports.
const UNIQUES: &[(&str, &str, &str)] = &[
    ("users.email", "user", "email"),
    ("index 'users_email'", "user", "email"),
    ("workspaces.slug", "workspace", "slug"),
    ("index 'workspaces_slug'", "workspace", "slug"),
    ("api_keys.prefix", "api_key", "prefix"),
    ("index 'api_keys_prefix'", "api_key", "prefix"),
    ("index 'fields_table_name'", "field", "name"),
    ("tables.base_id, tables.name_key", "table", "name"),
    ("members.workspace_id", "member", "user"),
    ("refresh_tokens.token_hash", "refresh_token", "token_hash"),
    ("index 'refresh_tokens_hash'", "refresh_token", "token_hash"),
    ("users.id", "user", "id"),
    ("workspaces.id", "workspace", "id"),
    ("bases.id", "base", "id"),
    ("tables.id", "table", "id"),
    ("fields.id", "field", "id"),
    ("views.id", "view", "id"),
    // A record id is unique in its table (crate::layout).
    ("records.table_id, records.id", "record", "id"),
    // The side index of cells: written with OR REPLACE / DO NOTHING, so
    // these fire only on a bug.
    ("cell_index.rec", "cell_index", "rec"),
    ("cell_indexes.field_id", "cell_index", "field_id"),
    ("attachments.id", "attachment", "id"),
    ("api_keys.id", "api_key", "id"),
    ("refresh_tokens.id", "refresh_token", "id"),
    ("password_resets.token_hash", "password_reset", "token_hash"),
    // One row per (link field, target, source): a cell lists a target once.
    ("record_links.field_id", "link", "target"),
    // The change log: numbers come from the base's counter row, so these
    // fire only on a bug.
    ("change_counters.base_id", "change_counter", "base_id"),
    ("changes.k", "change", "seq"),
    ("webhooks.id", "webhook", "id"),
    // One background fill per table (upserted, so only on a bug).
    ("compute_fills.table_id", "compute_fill", "table_id"),
];

fn unique_conflict(message: &str) -> Option<StoreError> {
    let detail = message.strip_prefix("UNIQUE constraint failed: ")?;
    UNIQUES
        .iter()
        .find(|(name, ..)| detail.starts_with(name))
        .map(|(_, entity, field)| StoreError::conflict(entity, *field))
        .or_else(|| Some(StoreError::conflict("row", "unique")))
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

    /// Every unique index of a freshly migrated database maps to a named
    /// entity and field: a new one without its entry in `UNIQUES` fails here.
    #[test]
    fn every_unique_index_maps_to_a_named_field() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::migrate::migrate(&mut conn, crate::migrate::MIGRATIONS).unwrap();
        let tables: Vec<String> = conn
            .prepare(
                "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut checked = 0;
        for t in &tables {
            let indexes: Vec<(String, bool)> = conn
                .prepare(&format!("PRAGMA index_list(\"{t}\")"))
                .unwrap()
                .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, bool>(2)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            for (index, unique) in indexes.into_iter().filter(|(_, u)| *u) {
                let _ = unique;
                let columns: Vec<Option<String>> = conn
                    .prepare(&format!("PRAGMA index_info(\"{index}\")"))
                    .unwrap()
                    .query_map([], |r| r.get(2))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                // What SQLite says when the index is violated.
                let named = if columns.iter().all(Option::is_some) {
                    columns
                        .iter()
                        .flatten()
                        .map(|c| format!("{t}.{c}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                } else {
                    format!("index '{index}'")
                };
                let c = unique_conflict(&format!("UNIQUE constraint failed: {named}"));
                assert!(
                    !matches!(c, Some(StoreError::Conflict { entity: "row", .. }) | None),
                    "{t}: unique index {index} ({named}) has no entry in UNIQUES"
                );
                checked += 1;
            }
        }
        assert!(checked >= 10, "only {checked} unique indexes found");
    }
}
