//! The timer that keeps `NOW()`/`TODAY()` formulas current: every
//! `TIME_FORMULAS_REFRESH_SECS` seconds it calls
//! `Pybase::refresh_time_formulas` (0 turns it off).

use std::sync::{Arc, Weak};
use std::time::Duration;

use pybase_core::Pybase;

/// How often the task checks that its server still runs.
const ALIVE_CHECK: Duration = Duration::from_secs(5);

/// Starts the refresh every `every` (none when zero).
pub fn spawn(pybase: &Arc<Pybase>, every: Duration) {
    if every.is_zero() {
        return;
    }
    tokio::spawn(refresh(Arc::downgrade(pybase), every));
}

async fn refresh(pybase: Weak<Pybase>, every: Duration) {
    loop {
        let mut waited = Duration::ZERO;
        while waited < every {
            let step = ALIVE_CHECK.min(every - waited);
            tokio::time::sleep(step).await;
            waited += step;
            if pybase.strong_count() == 0 {
                return;
            }
        }
        let Some(pb) = pybase.upgrade() else { return };
        match pb.refresh_time_formulas().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(tables = n, "refreshed time formulas"),
            Err(e) => tracing::warn!(error = %e, "could not refresh time formulas"),
        }
    }
}
