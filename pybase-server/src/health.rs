//! `GET /health`: real round trips to the database, the cache and the
//! object store.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// How long each check may take before it counts as down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// The answer of `/health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthReport {
    /// `healthy` or `unhealthy`.
    #[schema(example = "healthy")]
    pub status: &'static str,
    /// Server version.
    #[schema(example = "0.1.0")]
    pub version: &'static str,
    /// Each dependency: `ok` or `down`.
    #[schema(example = json!({"database": "ok", "cache": "ok", "object_store": "ok"}))]
    pub checks: BTreeMap<&'static str, &'static str>,
    /// Which backend serves each dependency, e.g. `sqlite`, `redis`, `s3`.
    pub backends: BTreeMap<&'static str, &'static str>,
}

async fn timed<E: std::fmt::Display>(
    name: &'static str,
    check: impl Future<Output = Result<(), E>>,
) -> &'static str {
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(())) => "ok",
        Ok(Err(e)) => {
            tracing::warn!(check = name, error = %e, "health check failed");
            "down"
        }
        Err(_) => {
            tracing::warn!(check = name, "health check timed out");
            "down"
        }
    }
}

/// Runs every check.
pub async fn report(state: &AppState) -> HealthReport {
    let (database, cache, object_store) = tokio::join!(
        timed("database", state.store_health.ping()),
        timed("cache", state.cache.ping()),
        timed(
            "object_store",
            crate::storage::check(state.objects.as_ref())
        ),
    );
    let checks = BTreeMap::from([
        ("database", database),
        ("cache", cache),
        ("object_store", object_store),
    ]);
    let healthy = checks.values().all(|v| *v == "ok");
    HealthReport {
        status: if healthy { "healthy" } else { "unhealthy" },
        version: env!("CARGO_PKG_VERSION"),
        checks,
        backends: BTreeMap::from([
            ("database", state.store_health.backend_name()),
            ("cache", state.cache.backend_name()),
            ("object_store", state.storage_kind.name()),
        ]),
    }
}

/// `GET /health`.
#[utoipa::path(
    get,
    path = "/health",
    tag = "health",
    operation_id = "health",
    responses(
        (status = 200, description = "every dependency answers", body = HealthReport),
        (status = 503, description = "a dependency is down; its check says `down`", body = HealthReport),
    )
)]
pub(crate) async fn handler(State(state): State<AppState>) -> Response {
    let report = report(&state).await;
    let status = if report.status == "healthy" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report)).into_response()
}
