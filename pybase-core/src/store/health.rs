//! Liveness of a storage backend.

use async_trait::async_trait;

use crate::error::StoreResult;

/// Lets a server report whether its database answers.
#[async_trait]
pub trait StoreHealth: Send + Sync {
    /// A cheap round trip to the database (e.g. `SELECT 1`).
    async fn ping(&self) -> StoreResult<()>;
    /// The backend's name, e.g. "sqlite" or "postgres".
    fn backend_name(&self) -> &'static str;
}
