//! What `pybase-tenants` looks at inside PostgreSQL: the plan of A's page
//! (`EXPLAIN (ANALYZE, BUFFERS)`), the planner's statistics of A's records
//! table, and what else the server is doing (autovacuum workers, other
//! active sessions) while the rounds run.

use std::fmt::Write as _;

use anyhow::Context as _;
use pybase_benches::fixture::{Bench, BenchTable};
use pybase_core::limits::Limits;
use pybase_core::query::plan::{self, PageRequest};
use pybase_core::store::SchemaStore as _;
use pybase_store_postgres::PgStore;
use serde_json::Value;
use sqlx::Row as _;

/// One PostgreSQL database of the bench, seen from inside.
#[derive(Debug, Clone)]
pub(crate) struct PgProbe {
    /// The store the facade runs on (its pool is reused for the probes).
    pub(crate) store: PgStore,
}

impl PgProbe {
    /// `EXPLAIN (ANALYZE, BUFFERS)` of A's page as the store compiles it.
    pub(crate) async fn explain_page(
        &self,
        b: &Bench,
        a: &BenchTable,
        filter: &Value,
        sort: &Value,
        page_size: usize,
    ) -> anyhow::Result<String> {
        let fields = self.store.list_fields(a.id).await?;
        let request = PageRequest {
            filter: Some(filter),
            sort: Some(sort),
            page_size: Some(page_size),
            now: b.pb.clock().now(),
            ..PageRequest::default()
        };
        let planned = plan::plan(a.id, &fields, None, &request, &Limits::default())
            .map_err(|e| anyhow::anyhow!("planning A's page: {e}"))?;
        let lines = self.store.explain(&planned.query, true).await?;
        Ok(lines.join("\n"))
    }

    /// The planner's view of A's records table: its row estimate and when
    /// (and by whom) it was last analysed.
    pub(crate) async fn table_stats(&self, a: &BenchTable) -> anyhow::Result<String> {
        let rel = format!("r_{}", a.id.as_str());
        let row = sqlx::query(
            "SELECT c.reltuples::float8 AS reltuples, c.relpages::int8 AS relpages, \
             s.n_live_tup, s.n_mod_since_analyze, s.analyze_count, s.autoanalyze_count, \
             s.last_analyze::text AS last_analyze, s.last_autoanalyze::text AS last_autoanalyze \
             FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid \
             WHERE c.relname = $1",
        )
        .bind(&rel)
        .fetch_one(self.store.pool())
        .await
        .context("statistics of A's records table")?;
        let pending: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_user_tables \
             WHERE relname LIKE 'r\\_%' AND n_mod_since_analyze > 0",
        )
        .fetch_one(self.store.pool())
        .await?;
        Ok(format!(
            "{rel}: reltuples {} (relpages {}), n_live_tup {}, modified since analyse {}, \
             analyses {} manual + {} by autovacuum (last {} / {}); records tables with \
             changes since their last analyse: {pending}",
            row.try_get::<f64, _>("reltuples")?,
            row.try_get::<i64, _>("relpages")?,
            row.try_get::<i64, _>("n_live_tup")?,
            row.try_get::<i64, _>("n_mod_since_analyze")?,
            row.try_get::<i64, _>("analyze_count")?,
            row.try_get::<i64, _>("autoanalyze_count")?,
            row.try_get::<Option<String>, _>("last_analyze")?
                .unwrap_or_else(|| "never".into()),
            row.try_get::<Option<String>, _>("last_autoanalyze")?
                .unwrap_or_else(|| "never".into()),
        ))
    }

    /// What the server is doing now: autovacuum workers (and on what) in
    /// this database, and active client sessions in all databases.
    pub(crate) async fn activity(&self) -> anyhow::Result<String> {
        let row = sqlx::query(
            "SELECT count(*) FILTER (WHERE backend_type = 'autovacuum worker' \
               AND datname = current_database()) AS workers, \
             coalesce(string_agg(left(query, 70), ' | ') FILTER (WHERE backend_type = \
               'autovacuum worker' AND datname = current_database()), '') AS doing, \
             count(*) FILTER (WHERE backend_type = 'autovacuum worker') AS all_workers, \
             count(*) FILTER (WHERE backend_type = 'client backend' AND state = 'active' \
               AND pid <> pg_backend_pid()) AS active \
             FROM pg_stat_activity",
        )
        .fetch_one(self.store.pool())
        .await?;
        let mut out = String::new();
        write!(
            out,
            "autovacuum workers here {} (server {}), active sessions {}",
            row.try_get::<i64, _>("workers")?,
            row.try_get::<i64, _>("all_workers")?,
            row.try_get::<i64, _>("active")?,
        )?;
        let doing: String = row.try_get("doing")?;
        if !doing.is_empty() {
            write!(out, ": {doing}")?;
        }
        Ok(out)
    }
}
