//! Retrying a whole transaction that lost to a concurrent one.
//!
//! PostgreSQL resolves a deadlock (SQLSTATE 40P01) or a serialization
//! failure (40001) by aborting one of the transactions involved; that one
//! is rolled back whole, so running it again from its `BEGIN` is safe and
//! usually succeeds once the winner has committed. The schema-changing
//! paths (a retype racing a background fill of computed fields can
//! deadlock on the table's field and record rows) run through [`whole`]: a
//! few attempts with a growing, jittered wait, after which the caller gets
//! [`StoreError::Contention`] (503 `unavailable` over HTTP).

use std::future::Future;
use std::time::Duration;

use pybase_core::{StoreError, StoreResult};

/// Attempts of one write before its contention reaches the caller.
pub(crate) const ATTEMPTS: u32 = 4;
/// The longest wait before the first retry; each later one may wait twice
/// as long as the one before.
const FIRST_WAIT: Duration = Duration::from_millis(20);

/// Runs `attempt` (one whole transaction, begun and committed inside it)
/// until it does not fail with [`StoreError::Contention`], at most
/// [`ATTEMPTS`] times, waiting a jittered while between attempts so two
/// writers that deadlocked do not meet again in step. Any other outcome,
/// success or error, is returned as it is.
pub(crate) async fn whole<T, F, Fut>(mut attempt: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = StoreResult<T>>,
{
    let mut tried = 1;
    loop {
        match attempt().await {
            Err(StoreError::Contention { source, .. }) if tried < ATTEMPTS => {
                tracing::debug!(error = %source, tried, "a concurrent change conflicted; retrying");
                tokio::time::sleep(wait(tried)).await;
                tried += 1;
            }
            other => return other,
        }
    }
}

/// The wait after attempt `tried` (from 1): between half and all of
/// `FIRST_WAIT * 2^(tried - 1)`.
fn wait(tried: u32) -> Duration {
    let ceiling = FIRST_WAIT.saturating_mul(1 << tried.saturating_sub(1).min(8));
    let half = ceiling / 2;
    let spread = u64::try_from(half.as_micros()).unwrap_or(u64::MAX).max(1);
    half + Duration::from_micros(random() % spread)
}

/// A random number from the standard library's per-process hasher keys
/// and the clock: jitter, not secrets.
fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn lost() -> StoreError {
        StoreError::Contention {
            backend: "postgres",
            source: "deadlock detected".into(),
        }
    }

    #[tokio::test]
    async fn a_lost_transaction_runs_again_until_it_commits() {
        let calls = AtomicU32::new(0);
        let out = whole(|| async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(lost())
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(out.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn retries_run_out_with_the_contention() {
        let calls = AtomicU32::new(0);
        let out: StoreResult<()> = whole(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(lost())
        })
        .await;
        assert!(matches!(out, Err(StoreError::Contention { .. })), "{out:?}");
        assert_eq!(calls.load(Ordering::SeqCst), ATTEMPTS);
    }

    #[tokio::test]
    async fn other_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let out: StoreResult<()> = whole(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(StoreError::conflict("table", "name"))
        })
        .await;
        assert!(matches!(out, Err(StoreError::Conflict { .. })), "{out:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn waits_grow_and_stay_within_their_bounds() {
        for tried in 1..=ATTEMPTS {
            let ceiling = FIRST_WAIT * (1 << (tried - 1));
            for _ in 0..50 {
                let w = wait(tried);
                assert!(w >= ceiling / 2 && w <= ceiling, "{tried}: {w:?}");
            }
        }
    }
}
