//! The one rule for tests that need an outside service (PostgreSQL, Redis,
//! an S3 server, a tool such as `pg_ctlcluster`): without it they skip
//! loudly, and under `PYBASE_REQUIRE_SERVICES=1` (CI) they fail instead, so
//! nothing is skipped silently where every service is meant to be present.
//!
//! It lives here, in core's testkit, because every test crate already
//! depends on core and no store may depend on the other: the PostgreSQL
//! crate's own tests, the server's and the cross-backend test suite all use
//! it. It is plain `std`, so it costs them nothing.
//!
//! ```ignore
//! #[tokio::test]
//! async fn talks_to_redis() {
//!     let redis = pybase_core::require_service!(pybase_core::testkit::services::REDIS_URL);
//!     // ...
//! }
//! ```

/// When set to `1`, a missing service fails the test instead of skipping it.
pub const REQUIRE: &str = "PYBASE_REQUIRE_SERVICES";
/// A PostgreSQL server the tests may create databases on.
pub const POSTGRES_URL: &str = "PYBASE_TEST_POSTGRES_URL";
/// A Redis server the tests may use (keys are prefixed per test).
pub const REDIS_URL: &str = "PYBASE_TEST_REDIS_URL";

/// Whether missing services fail tests (`PYBASE_REQUIRE_SERVICES=1`).
pub fn required() -> bool {
    std::env::var(REQUIRE).as_deref() == Ok("1")
}

/// Says loudly that the calling test skips, and why; panics instead when
/// services are [`required`].
#[track_caller]
pub fn skip(why: &str) {
    if required() {
        panic!("{REQUIRE}=1 but this test cannot run: {why}");
    }
    eprintln!("\n*** SKIPPED: {why} ***\n");
}

/// The non-blank value of the environment variable `var`, or `None` after
/// [`skip`] (which panics when services are [`required`]).
#[track_caller]
pub fn service_var(var: &str) -> Option<String> {
    let value = non_blank(std::env::var(var).ok());
    if value.is_none() {
        skip(&format!("set {var} to run it against a real service"));
    }
    value
}

/// A set, non-blank value.
fn non_blank(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// [`service_var`] of [`POSTGRES_URL`].
#[track_caller]
pub fn postgres_url() -> Option<String> {
    service_var(POSTGRES_URL)
}

/// Evaluates to the value of a service variable, or returns from the
/// calling test after [`service_var`] said why (it panics instead under
/// `PYBASE_REQUIRE_SERVICES=1`).
#[macro_export]
macro_rules! require_service {
    ($var:expr) => {
        match $crate::testkit::services::service_var($var) {
            Some(value) => value,
            None => return,
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_non_blank_value_counts() {
        assert_eq!(
            non_blank(Some("postgres://x".into())).as_deref(),
            Some("postgres://x")
        );
        assert_eq!(non_blank(Some("  ".into())), None);
        assert_eq!(non_blank(None), None);
    }

    /// Reads a variable no one sets (environment writes are process-wide
    /// and unsafe among threads, so none are made).
    #[test]
    fn a_missing_service_skips_or_fails_when_services_are_required() {
        let outcome = std::panic::catch_unwind(|| service_var("PYBASE_TEST_SERVICES_NEVER_SET"));
        match outcome {
            Ok(value) => {
                assert!(!required());
                assert_eq!(value, None);
            }
            Err(_) => assert!(required()),
        }
    }
}
