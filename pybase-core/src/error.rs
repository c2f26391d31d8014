//! Errors of PyBase's core.
//!
//! Two error types, by layer:
//! - [`StoreError`]: what a storage backend reports. Backends map their
//!   driver errors into it (a unique violation becomes `Conflict`, a missing
//!   row `NotFound`, anything else `Backend`).
//! - [`Error`]: what the facade ([`crate::Pybase`]) reports to an embedding
//!   program or the server: permission failures, validation failures with the
//!   field and what was expected, and store errors passed through. The server
//!   maps each variant to one HTTP status.

use std::collections::BTreeMap;

/// A store result.
pub type StoreResult<T, E = StoreError> = std::result::Result<T, E>;

/// A facade result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a storage backend reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The addressed row does not exist (or is not visible to the operation).
    #[error("{entity} {id} not found")]
    NotFound {
        /// Kind of thing, e.g. "record".
        entity: &'static str,
        /// Its id or key.
        id: String,
    },
    /// The write would break a uniqueness or integrity rule. Stores name
    /// the entity and the field or rule; core writes the words
    /// ([`conflict_message`]), so every backend says the same.
    #[error("{}", conflict_message(entity, field))]
    Conflict {
        /// Kind of thing, e.g. "field".
        entity: &'static str,
        /// The field or rule involved, e.g. "name" or "last_owner".
        field: String,
    },
    /// Input the store itself could not accept.
    #[error("{field}: expected {expected}")]
    Invalid {
        /// The field involved.
        field: String,
        /// What was expected.
        expected: String,
    },
    /// The backend cannot be reached right now (connection refused or
    /// lost, pool exhausted, server shutting down): a retry may succeed.
    #[error("{backend} backend unavailable: {source}")]
    Unavailable {
        /// Backend name, e.g. "postgres".
        backend: &'static str,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The write lost to a concurrent one (a deadlock or a serialization
    /// failure, which the database resolved by aborting it) and was rolled
    /// back whole: running it again may succeed. Stores retry such a write
    /// themselves where that is safe; this is what is left when their
    /// retries ran out, or where they do not retry.
    #[error("{backend} backend: a concurrent change conflicted: {source}")]
    Contention {
        /// Backend name, e.g. "postgres".
        backend: &'static str,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A change-log cursor older than the oldest kept event: the events
    /// after it were pruned.
    #[error("changes after {after} are no longer kept (oldest kept: {oldest})")]
    Gone {
        /// The cursor asked for.
        after: i64,
        /// The oldest sequence number still kept.
        oldest: i64,
    },
    /// The backend failed (I/O, corruption, a bug, ...).
    #[error("{backend} backend error: {source}")]
    Backend {
        /// Backend name, e.g. "sqlite".
        backend: &'static str,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StoreError {
    /// A `NotFound` for `entity` with `id`.
    #[allow(clippy::needless_pass_by_value)] // callers pass ids by value
    pub fn not_found(entity: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            entity,
            id: id.to_string(),
        }
    }

    /// A `Conflict` on `entity`'s `field` (or rule, such as `last_owner`).
    pub fn conflict(entity: &'static str, field: impl Into<String>) -> Self {
        Self::Conflict {
            entity,
            field: field.into(),
        }
    }

    /// A `Backend` error from `backend`.
    pub fn backend(
        backend: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Backend {
            backend,
            source: source.into(),
        }
    }
}

/// Validation failures keyed by field name (or `records[3].Qty` in batches).
pub type FieldErrors = BTreeMap<String, String>;

/// What the facade reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Not signed in, bad credentials, or a token that is invalid, expired or revoked.
    #[error("{0}")]
    Unauthorized(String),
    /// Signed in and a member, but the role or key scope is too low.
    #[error("{0}")]
    Forbidden(String),
    /// Missing, or not visible to the caller (non-members never learn more).
    #[error("{entity} not found")]
    NotFound {
        /// Kind of thing, e.g. "table".
        entity: &'static str,
    },
    /// Would break a uniqueness or integrity rule.
    #[error("{message}")]
    Conflict {
        /// The field or rule involved.
        field: String,
        /// Short human explanation.
        message: String,
    },
    /// Input failed validation; `fields` says which and what was expected.
    #[error("{message}")]
    Validation {
        /// Summary.
        message: String,
        /// Per-field explanations.
        fields: FieldErrors,
    },
    /// A formula (a `formula=` filter, a formula check) that does not parse
    /// or check: the message and where, in characters from 0, `end`
    /// exclusive (API.md: `details.formula`).
    #[error("formula: {message}")]
    InvalidFormula {
        /// What is wrong, e.g. `Unknown field names: qtty`.
        message: String,
        /// First character of the culprit.
        start: usize,
        /// One past its last character.
        end: usize,
    },
    /// A computed field whose options would make the base's computed fields
    /// depend on themselves (API.md: 422 with `details.cycle`).
    #[error("{field}: options without a cycle, got one: {}", path.join(" → "))]
    FormulaCycle {
        /// The field being saved.
        field: String,
        /// The field names along the cycle, starting and ending with it.
        path: Vec<String>,
    },
    /// Malformed request that is not about a field (bad cursor, bad JSON shape).
    #[error("{0}")]
    BadRequest(String),
    /// An upload or body is larger than allowed.
    #[error("payload larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// Too many attempts; retry after the given number of seconds.
    #[error("too many attempts, retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
    },
    /// What was asked for is no longer kept (a change-log cursor older than
    /// the retention period).
    #[error("{0}")]
    Gone(String),
    /// A dependency failed; details are logged, never shown to clients.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A dependency (the database) cannot be reached right now; a retry may
    /// succeed. Details are logged, never shown to clients.
    #[error("service unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The change lost to a concurrent change of the same rows and was
    /// rolled back whole ([`StoreError::Contention`] after the store's own
    /// retries); sending it again may succeed. Details are logged, never
    /// shown to clients.
    #[error("a concurrent change conflicted with this one; retry it")]
    Contention(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// A validation error about one field. Both texts are cut to a bounded
    /// length (a client's value echoed in them may be as long as a body
    /// allows).
    pub fn invalid(field: impl Into<String>, expected: impl Into<String>) -> Self {
        let field = bounded(field.into(), MAX_FIELD_TEXT);
        let expected = bounded(expected.into(), MAX_EXPECTED_TEXT);
        let mut fields = FieldErrors::new();
        fields.insert(field.clone(), expected.clone());
        Self::Validation {
            message: format!("{field}: {expected}"),
            fields,
        }
    }

    /// A `NotFound` for `entity`.
    pub fn not_found(entity: &'static str) -> Self {
        Self::NotFound { entity }
    }

    /// A `Forbidden` with a message.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden(message.into())
    }
}

/// The longest field name a validation error repeats, in bytes.
pub const MAX_FIELD_TEXT: usize = 256;
/// The longest expectation a validation error repeats, in bytes.
pub const MAX_EXPECTED_TEXT: usize = 1024;

/// `text` cut to at most `max` bytes on a character boundary, marked with
/// an ellipsis where it was cut: for error texts that may echo a client's
/// value ([`Error::invalid`], and the server's answers).
pub fn bounded(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
    text
}

/// The words of a store conflict on `entity`'s `field`: the same on every
/// backend.
pub fn conflict_message(entity: &str, field: &str) -> String {
    match (entity, field) {
        ("user", "email") => "email already registered".into(),
        ("workspace", "slug") => "workspace slug is already taken".into(),
        ("field", "name") => "a field with this name already exists in the table".into(),
        ("table", "name") => "a table with this name already exists in the base".into(),
        ("member", "user") => "already a member of this workspace".into(),
        ("member", "last_owner") => {
            "the last owner of a workspace cannot be removed or demoted".into()
        }
        ("record", "merge_on") => "more than one record matches the merge fields".into(),
        ("table", "fields") => "a field of this table was converted (its type or options \
                                changed) while this write was checked against it; nothing was \
                                written, try again"
            .into(),
        (entity, field) => format!("{} {field} is already taken", entity.replace('_', " ")),
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { entity, .. } => Self::NotFound { entity },
            StoreError::Conflict { entity, field } => Self::Conflict {
                message: conflict_message(entity, &field),
                field,
            },
            StoreError::Invalid { field, expected } => Self::invalid(field, expected),
            StoreError::Gone { .. } => Self::Gone(e.to_string()),
            StoreError::Unavailable { .. } => Self::Unavailable(Box::new(e)),
            StoreError::Contention { .. } => Self::Contention(Box::new(e)),
            StoreError::Backend { .. } => Self::Internal(Box::new(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Error, MAX_EXPECTED_TEXT, MAX_FIELD_TEXT};

    /// A value echoed into a validation error is cut, on a character
    /// boundary, in the message and in the field's entry alike; short
    /// texts stay whole.
    #[test]
    fn validation_texts_are_bounded() {
        let long = format!("one of a, b, got \"{}\"", "é".repeat(50_000));
        let Error::Validation { message, fields } = Error::invalid("é".repeat(500), long) else {
            panic!("not a validation error");
        };
        let (field, expected) = fields.iter().next().unwrap();
        assert!(
            field.len() <= MAX_FIELD_TEXT && field.ends_with('…'),
            "{field}"
        );
        assert!(expected.len() <= MAX_EXPECTED_TEXT && expected.ends_with('…'));
        assert!(expected.starts_with("one of a, b, got"));
        assert!(message.len() <= MAX_FIELD_TEXT + 2 + MAX_EXPECTED_TEXT);
        let Error::Validation { message, .. } = Error::invalid("page_size", "a number") else {
            panic!("not a validation error");
        };
        assert_eq!(message, "page_size: a number");
    }
}
