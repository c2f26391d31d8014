//! The worker of background fills of computed fields (issue 12): at start
//! and every 10 seconds (`POLL`) it calls `Pybase::run_compute_fills`, so fills a
//! previous run left unfinished resume, and fills whose instance stopped
//! are taken over once their lease in the database expires. A fill queued
//! by a request of this instance starts at once (the facade starts it).

use std::sync::{Arc, Weak};
use std::time::Duration;

use pybase_core::Pybase;

/// How often the worker looks for fills it may take.
const POLL: Duration = Duration::from_secs(10);

/// Starts the worker.
pub fn spawn(pybase: &Arc<Pybase>) {
    tokio::spawn(run(Arc::downgrade(pybase)));
}

async fn run(pybase: Weak<Pybase>) {
    loop {
        let Some(pb) = pybase.upgrade() else { return };
        match pb.run_compute_fills().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(fills = n, "finished background fills of computed fields"),
            Err(e) => tracing::warn!(error = %e, "background fill of computed fields failed"),
        }
        drop(pb);
        tokio::time::sleep(POLL).await;
    }
}
