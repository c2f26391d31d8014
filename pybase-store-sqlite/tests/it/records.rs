//! Record writes on a file database: the writer thread and the readers are
//! separate connections there, so the store-layer case of concurrent
//! patches runs on a file too (the conformance suite runs it in memory).

use std::sync::Arc;

use pybase_core::testkit::store_layer::concurrent_patches_of_different_cells_both_survive;
use pybase_store_sqlite::SqliteStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_of_different_cells_both_survive_on_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("c.db")).unwrap());
    concurrent_patches_of_different_cells_both_survive(store).await;
}
