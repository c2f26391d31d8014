//! Mapping of driver errors to [`StoreError`].
//!
//! A unique violation becomes `Conflict` naming the field (found by the
//! constraint's name), a foreign-key violation `NotFound` when the call site
//! says what was missing, a NUL character in text `Invalid`, a deadlock or
//! serialization failure `Contention` (retried by [`crate::retry`] on the
//! schema-changing paths), a lost connection `Unavailable`, and everything
//! else `Backend { backend: "postgres" }`.

use pybase_core::StoreError;

/// The backend name reported in errors and by `backend_name`.
pub(crate) const BACKEND: &str = "postgres";

/// What went wrong inside this crate, before it is reported as a [`StoreError`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum PgError {
    /// The driver or the database failed.
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    /// A migration failed.
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// `(entity, field)` of a unique constraint, by its name in the migrations:
/// the entity and field a unique constraint of the schema names, or
/// `("row", "unique")` for one this table does not know (a test checks that
/// no constraint of a freshly migrated database falls there).
pub fn unique_constraint(name: &str) -> (&'static str, &'static str) {
    match name {
        "users_email_key" => ("user", "email"),
        "users_pkey" => ("user", "id"),
        "workspaces_slug_key" => ("workspace", "slug"),
        "workspaces_pkey" => ("workspace", "id"),
        "workspace_members_pkey" => ("member", "user"),
        "bases_pkey" => ("base", "id"),
        "tables_pkey" => ("table", "id"),
        "tables_base_name_key" => ("table", "name"),
        "fields_table_name_key" => ("field", "name"),
        "fields_pkey" => ("field", "id"),
        "views_pkey" => ("view", "id"),
        "records_pkey" => ("record", "id"),
        // The primary key of a records table (crate::layout): `r_<table>_pkey`.
        n if n.starts_with("r_") && n.ends_with("_pkey") => ("record", "id"),
        "attachments_pkey" => ("attachment", "id"),
        "sessions_pkey" => ("refresh_token", "id"),
        "sessions_token_hash_key" => ("refresh_token", "token_hash"),
        "password_resets_pkey" => ("password_reset", "token_hash"),
        "api_keys_prefix_key" => ("api_key", "prefix"),
        "api_keys_pkey" => ("api_key", "id"),
        // The change log: numbers come from the base's counter row, so
        // these fire only on a bug.
        "change_counters_pkey" => ("change_counter", "base_id"),
        "changes_pkey" => ("change", "seq"),
        "webhooks_pkey" => ("webhook", "id"),
        "webhook_deliveries_pkey" => ("webhook_delivery", "id"),
        // One background fill per table (upserted, so only on a bug).
        "compute_fills_pkey" => ("compute_fill", "table_id"),
        _ => ("row", "unique"),
    }
}

/// The user table id in PostgreSQL's `relation "r_<id>" does not exist`.
fn missing_records_table(message: &str) -> Option<&str> {
    let name = message
        .strip_prefix("relation \"r_")?
        .strip_suffix("\" does not exist")?;
    crate::layout::ddl_id(name).ok()
}

/// The SQLSTATE of a database error, if it is one.
pub(crate) fn sqlstate(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

impl From<PgError> for StoreError {
    fn from(e: PgError) -> Self {
        match e {
            PgError::Sqlx(sqlx::Error::Database(db)) => match db.code().as_deref() {
                // unique_violation
                Some("23505") => {
                    let (entity, field) = unique_constraint(db.constraint().unwrap_or(""));
                    Self::conflict(entity, field)
                }
                // foreign_key_violation not handled by the call site
                Some("23503") => Self::NotFound {
                    entity: "row",
                    id: db.constraint().unwrap_or("").to_owned(),
                },
                // untranslatable_character (\u0000 in text or JSONB)
                // The database's own words stay in the log, not the answer.
                Some("22P05" | "22021") => {
                    tracing::debug!(message = db.message(), "text the database refused");
                    Self::Invalid {
                        field: "value".to_owned(),
                        expected: "text without NUL characters".to_owned(),
                    }
                }
                // undefined_table: a records table (crate::layout) whose
                // user table was deleted after the caller's checks.
                Some("42P01") if missing_records_table(db.message()).is_some() => {
                    Self::not_found("table", missing_records_table(db.message()).unwrap_or(""))
                }
                // serialization_failure, deadlock_detected: this
                // transaction lost to a concurrent one and was rolled back
                // whole; running it again may succeed (crate::retry).
                Some("40001" | "40P01") => Self::Contention {
                    backend: BACKEND,
                    source: Box::new(sqlx::Error::Database(db)),
                },
                // connection_exception (08xxx), admin_shutdown,
                // crash_shutdown, cannot_connect_now: the server is going
                // away or coming back; a retry may succeed.
                Some(code) if code.starts_with("08") || code.starts_with("57P") => {
                    Self::Unavailable {
                        backend: BACKEND,
                        source: Box::new(sqlx::Error::Database(db)),
                    }
                }
                _ => Self::backend(BACKEND, sqlx::Error::Database(db)),
            },
            PgError::Sqlx(
                e @ (sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::WorkerCrashed),
            ) => Self::Unavailable {
                backend: BACKEND,
                source: Box::new(e),
            },
            PgError::Sqlx(other) => Self::backend(BACKEND, other),
            PgError::Migrate(m) => Self::backend(BACKEND, m),
        }
    }
}

/// Maps driver results into store results.
pub(crate) trait ResultExt<T> {
    /// Maps any error through [`PgError`].
    fn db(self) -> Result<T, StoreError>;
    /// Like [`ResultExt::db`], but a foreign-key violation means `entity`
    /// `id` does not exist.
    fn or_missing(self, entity: &'static str, id: &str) -> Result<T, StoreError>;
}

impl<T> ResultExt<T> for Result<T, sqlx::Error> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(|e| PgError::from(e).into())
    }

    fn or_missing(self, entity: &'static str, id: &str) -> Result<T, StoreError> {
        self.map_err(|e| {
            if sqlstate(&e).as_deref() == Some("23503") {
                StoreError::not_found(entity, id)
            } else {
                PgError::from(e).into()
            }
        })
    }
}

/// A decode error for a stored value that does not parse.
pub(crate) fn decode_error(column: &str, message: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: format!("invalid stored value: {message}").into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_constraints_name_their_field() {
        assert_eq!(unique_constraint("users_email_key"), ("user", "email"));
        assert_eq!(
            unique_constraint("fields_table_name_key"),
            ("field", "name")
        );
        assert_eq!(unique_constraint("tables_base_name_key"), ("table", "name"));
        assert_eq!(
            unique_constraint("workspace_members_pkey"),
            ("member", "user")
        );
        assert_eq!(
            unique_constraint("api_keys_prefix_key"),
            ("api_key", "prefix")
        );
        assert_eq!(unique_constraint("nope"), ("row", "unique"));
    }

    /// A database error with only a SQLSTATE, as the driver reports one.
    #[derive(Debug)]
    struct Coded(&'static str);

    impl std::fmt::Display for Coded {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "error {}", self.0)
        }
    }

    impl std::error::Error for Coded {}

    impl sqlx::error::DatabaseError for Coded {
        fn message(&self) -> &str {
            "error"
        }
        fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
            Some(self.0.into())
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn mapped(code: &'static str) -> StoreError {
        PgError::from(sqlx::Error::Database(Box::new(Coded(code)))).into()
    }

    #[test]
    fn deadlocks_and_serialization_failures_are_contention() {
        for code in ["40P01", "40001"] {
            let e = mapped(code);
            assert!(
                matches!(
                    e,
                    StoreError::Contention {
                        backend: "postgres",
                        ..
                    }
                ),
                "{code}: {e:?}"
            );
        }
        // Neighbouring codes keep their meaning.
        assert!(matches!(mapped("40002"), StoreError::Backend { .. }));
        assert!(matches!(mapped("08006"), StoreError::Unavailable { .. }));
        assert!(matches!(mapped("23505"), StoreError::Conflict { .. }));
    }

    #[test]
    fn unreachable_databases_are_unavailable_and_other_errors_backend_errors() {
        for e in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        ] {
            let e: StoreError = PgError::from(e).into();
            assert!(
                matches!(
                    e,
                    StoreError::Unavailable {
                        backend: "postgres",
                        ..
                    }
                ),
                "{e:?}"
            );
        }
        let e: StoreError = PgError::from(sqlx::Error::RowNotFound).into();
        assert!(matches!(
            e,
            StoreError::Backend {
                backend: "postgres",
                ..
            }
        ));
    }
}
