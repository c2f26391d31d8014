//! PyBase reference server: the HTTP API of `API.md` over `pybase-core`.
//!
//! The library holds everything; the binary only parses the command line.
//! - [`app`] builds the router for a ready [`AppState`] (tests use it with
//!   any backend);
//! - [`serve_with_listener`] builds the state from [`Settings`] and serves
//!   on a bound listener until a shutdown future completes.
//!
//! Handlers hold no business rule: they parse, call [`pybase_core`]'s facade
//! and map results to HTTP ([`error::ApiError`]).

#![forbid(unsafe_code)]

pub mod access_relay;
pub mod cache;
pub mod changes_relay;
pub mod client_ip;
pub mod compute_fills;
pub mod credential_checks;
pub mod credential_relay;
pub mod error;
pub mod extract;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod public_url;
pub mod redis_relay;
pub mod routes;
pub mod settings;
pub mod shaped_io;
pub mod state;
pub mod storage;
pub mod time_formulas;
pub mod unread_body;
pub mod v0;
pub mod webhooks;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::CompressionLevel;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub use settings::{Cli, Command, Settings};
pub use state::AppState;

/// Room for multipart framing around an upload of `MAX_UPLOAD_BYTES`.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Options of the HTTP layers that do not live in [`AppState`].
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Allowed CORS origins; `["*"]` allows any.
    pub cors_origins: Vec<String>,
    /// How long a request may take.
    pub request_timeout: Duration,
}

impl HttpOptions {
    /// The options the settings ask for.
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            cors_origins: settings
                .cors_origins
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            request_timeout: Duration::from_secs(settings.request_timeout_secs.max(1)),
        }
    }
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self::from_settings(&Settings::default())
    }
}

/// The whole HTTP application for `state`, with default [`HttpOptions`].
pub fn app(state: AppState) -> Router {
    app_with_options(state, &HttpOptions::default())
}

/// The whole HTTP application for `state`.
pub fn app_with_options(state: AppState, options: &HttpOptions) -> Router {
    let limits = state.limits;
    let upload_limit = limits.max_upload_bytes.saturating_add(MULTIPART_OVERHEAD);
    let routes = Router::new()
        .merge(Router::from(routes::declared(to_usize(upload_limit))))
        .route("/metrics", get(metrics::handler))
        .merge(openapi::router())
        .merge(v0::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Inside the router, so the matched route template is known.
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(to_usize(limits.max_json_bytes)))
        .with_state(state);
    with_http_layers(routes, options, upload_limit)
}

/// Wraps `routes` in the HTTP layers every response goes through.
///
/// The layers form one service stack around the whole router, built once.
/// Layered on the router itself (`Router::layer`), each layer is boxed
/// around every route and the nested boxes are cloned and dropped on every
/// request (15% of a GET's instructions under callgrind).
fn with_http_layers(routes: Router, options: &HttpOptions, upload_limit: u64) -> Router {
    // Outermost first: request ids, tracing, ..., the body limit last.
    let stack = ServiceBuilder::new()
        .map_request(drop_unusable_request_id)
        // Outermost but one: whatever answers before the body is read,
        // the client learns that the connection closes.
        .layer(middleware::from_fn(unread_body::close_if_body_unread))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<Body>| {
                let id = req
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                tracing::info_span!(
                    "request",
                    method = %req.method(),
                    uri = %req.uri().path(),
                    request_id = %id
                )
            }),
        )
        .layer(compression())
        // Outside the error shaper and the panic catcher: `/v0` answers
        // every error in Airtable's shape instead.
        .layer(middleware::from_fn(v0::error::shape_errors))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::map_response(ensure_error_shape))
        .layer(cors(&options.cors_origins))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            options.request_timeout,
        ))
        .map_response(IntoResponse::into_response)
        .layer(RequestBodyLimitLayer::new(to_usize(upload_limit)))
        .service(routes);
    Router::new().fallback_service(stack)
}

/// The longest client-supplied request id kept.
const MAX_REQUEST_ID: usize = 128;

/// Removes a client's `X-Request-Id` that is empty, longer than
/// [`MAX_REQUEST_ID`] or holds anything but letters, digits and `-_.:`, so
/// a fresh one is made: ids are echoed and logged, and a client must not be
/// able to forge log fields (`abc" status=200`) or flood headers with them.
fn drop_unusable_request_id(mut req: Request<Body>) -> Request<Body> {
    let usable = |v: &header::HeaderValue| {
        let b = v.as_bytes();
        !b.is_empty()
            && b.len() <= MAX_REQUEST_ID
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':'))
    };
    if req.headers().get(REQUEST_ID).is_some_and(|v| !usable(v)) {
        req.headers_mut().remove(REQUEST_ID);
    }
    req
}

/// Answers smaller than this go out uncompressed (1 KiB, the threshold of
/// Express's `compression`): a single record fits one TCP segment either
/// way, and starting a gzip stream costs more than the request itself
/// (allocating and clearing the encoder's ~300 KB of tables was 56% of a
/// GET's instructions under callgrind; see benches/ANALYSIS.md).
pub const COMPRESS_MIN_BYTES: u64 = 1024;

/// Gzip for answers of [`COMPRESS_MIN_BYTES`] or more (or of unknown
/// size), at the fastest level (a page of 100 records of the NocoDB
/// workload, 40 KB, shrinks to 22% at level 1 and to 20% at the default
/// level, for a fraction of the CPU); never for images, gRPC or event
/// streams (as tower-http's default predicate).
fn compression() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new()
        .quality(CompressionLevel::Fastest)
        .compress_when(
            SizeAbove::new(COMPRESS_MIN_BYTES)
                .and(NotForContentType::GRPC)
                .and(NotForContentType::IMAGES)
                .and(NotForContentType::SSE),
        )
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn cors(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-api-key"),
            REQUEST_ID,
            // Sent by airtable.js (AIRTABLE.md §1); browsers preflight them.
            HeaderName::from_static("x-api-version"),
            HeaderName::from_static("x-airtable-application-id"),
            HeaderName::from_static("x-airtable-user-agent"),
        ])
        .expose_headers([REQUEST_ID, header::RETRY_AFTER])
        .max_age(Duration::from_secs(600));
    if origins.iter().any(|o| o == "*") {
        layer.allow_origin(Any)
    } else {
        let list: Vec<HeaderValue> = origins
            .iter()
            .filter_map(|o| match HeaderValue::from_str(o) {
                Ok(v) => Some(v),
                Err(_) => {
                    tracing::warn!(origin = %o, "ignoring a CORS origin that is not a valid header value");
                    None
                }
            })
            .collect();
        // Bearer tokens, not cookies: browsers need no credentials mode.
        layer.allow_origin(AllowOrigin::list(list))
    }
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

// CatchPanicLayer hands the payload over by value.
#[allow(clippy::needless_pass_by_value)]
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    ApiError::internal(format!("handler panicked: {what}")).into_response()
}

/// Gives every error answer the JSON error shape, including those made by
/// layers (body limit, timeout) and by axum itself (405 from a method router).
async fn ensure_error_shape(response: Response<Body>) -> Response<Body> {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let error = match status {
        StatusCode::BAD_REQUEST => ApiError::BadRequest("bad request".into()),
        StatusCode::UNAUTHORIZED => ApiError::unauthorized(),
        StatusCode::FORBIDDEN => ApiError::Forbidden("forbidden".into()),
        StatusCode::NOT_FOUND => ApiError::NotFound("not found".into()),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge("request body is too large".into())
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::UnsupportedMediaType("unsupported content type".into())
        }
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT => {
            ApiError::Unavailable("the request took too long".into())
        }
        s if s.is_server_error() => ApiError::internal(format!("bare {s} response")),
        s => ApiError::BadRequest(s.canonical_reason().unwrap_or("bad request").to_lowercase()),
    };
    let (mut parts, _) = response.into_parts();
    let shaped = error.into_response();
    let (shaped_parts, body) = shaped.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_ENCODING);
    for (name, value) in &shaped_parts.headers {
        parts.headers.insert(name, value.clone());
    }
    parts.status = shaped_parts.status;
    Response::from_parts(parts, body)
}

/// Serves the API for `settings` on `listener` until `shutdown` completes,
/// then finishes in-flight requests.
pub async fn serve_with_listener(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let options = HttpOptions::from_settings(&settings);
    let mut state = AppState::from_settings(&settings).await?;
    let addr = listener.local_addr()?;
    if settings.public_url.is_none() {
        // The address actually bound (a port of 0 is chosen now).
        state.public_url = public_url::PublicUrl::of_listener(addr);
        if addr.ip().is_unspecified() {
            tracing::warn!(
                public_url = state.public_url.as_str(),
                "PUBLIC_URL is unset and the server listens on every address:                  the links it hands out (signed attachment URLs) name the loopback                  address; set PUBLIC_URL to the address clients use"
            );
        }
    }
    let closing = state.closing.clone();
    let webhooks = state.webhooks.clone();
    let shutdown = async move {
        shutdown.await;
        // Event streams end now; other requests finish as usual.
        closing.send_replace(true);
    };
    let router = app_with_options(state, &options);
    tracing::info!(%addr, "pybase-server listening");
    // Hyper's own empty error answers (400, 414, 431) get the JSON shape.
    let listener = axum::serve::ListenerExt::tap_io(shaped_io::ShapedListener(listener), |_| {});
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    // The webhook worker lets its deliveries finish and gives back its
    // leases (it saw `closing` turn true with the event streams).
    let worker = webhooks
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    if let Some(worker) = worker {
        let wait = webhooks::STOP_GRACE + std::time::Duration::from_secs(5);
        if tokio::time::timeout(wait, worker).await.is_err() {
            tracing::warn!("the webhook worker did not stop in time; its leases expire");
        }
    }
    tracing::info!("pybase-server stopped");
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "could not listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "could not listen for sigterm");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received");
}

/// Sets up logging: `RUST_LOG` filters (default `info`), JSON lines with
/// `json = true`.
pub fn init_tracing(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    // A second initialisation (tests) is harmless; ignore it.
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

/// Runs the command line: `serve` (default), `migrate`, `openapi` or
/// `openapi-v0`.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi | Command::OpenapiV0 => {
            use std::io::Write as _;
            let doc = if cli.command == Some(Command::OpenapiV0) {
                serde_json::to_string_pretty(&v0::openapi::document())?
            } else {
                openapi::document_json()?
            };
            match writeln!(std::io::stdout().lock(), "{doc}") {
                // `pybase-server openapi | head` closes the pipe early; fine.
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(()),
            }
        }
        Command::Migrate => {
            init_tracing(cli.settings.json_logs);
            state::migrate(&cli.settings).await
        }
        Command::Serve => {
            init_tracing(cli.settings.json_logs);
            let settings = cli.settings;
            let addr = std::net::SocketAddr::new(settings.host, settings.port);
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("could not listen on {addr}: {e}"))?;
            serve_with_listener(settings, listener, shutdown_signal()).await
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;
    use tower::ServiceExt as _;

    use super::*;

    #[tokio::test]
    async fn a_usable_request_id_is_echoed_and_a_forged_one_replaced() {
        let app = with_http_layers(
            Router::new().route("/ok", get(|| async { "ok" })),
            &HttpOptions::default(),
            1024,
        );
        let long = "a".repeat(MAX_REQUEST_ID + 1);
        for (sent, kept) in [
            ("req-42_a.b:c", true),
            ("abc\" injected=1 status=200", false),
            ("", false),
            (long.as_str(), false),
        ] {
            let req = Request::builder()
                .uri("/ok")
                .header("x-request-id", sent)
                .body(Body::empty())
                .unwrap();
            let res = app.clone().oneshot(req).await.unwrap();
            let got = res.headers()["x-request-id"].to_str().unwrap().to_owned();
            assert_eq!(got == sent, kept, "sent {sent:?}, got {got:?}");
            assert!(!got.is_empty() && got.len() <= MAX_REQUEST_ID, "{got}");
        }
    }

    #[tokio::test]
    async fn panics_answer_500_in_the_error_shape_without_the_message() {
        async fn boom() -> &'static str {
            panic!("secret detail in a panic")
        }
        let app = with_http_layers(
            Router::new().route("/boom", get(boom)),
            &HttpOptions::default(),
            1024,
        );
        let req = Request::builder().uri("/boom").body(Body::empty()).unwrap();
        let res = app.oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(res.headers().contains_key("x-request-id"));
        let body = to_bytes(res.into_body(), 1 << 20).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "internal");
        assert!(!String::from_utf8_lossy(&body).contains("secret detail"));
    }

    #[tokio::test]
    async fn v0_answers_panics_and_timeouts_in_airtables_shape() {
        async fn boom() -> &'static str {
            panic!("secret detail in a panic")
        }
        async fn slow() -> &'static str {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }
        let options = HttpOptions {
            request_timeout: Duration::from_millis(50),
            ..HttpOptions::default()
        };
        let app = with_http_layers(
            Router::new()
                .route("/v0/boom", get(boom))
                .route("/v0/slow", get(slow)),
            &options,
            1024,
        );
        for (path, status, kind) in [
            (
                "/v0/boom",
                StatusCode::INTERNAL_SERVER_ERROR,
                "SERVER_ERROR",
            ),
            (
                "/v0/slow",
                StatusCode::SERVICE_UNAVAILABLE,
                "RETRIABLE_ERROR",
            ),
        ] {
            let req = Request::builder().uri(path).body(Body::empty()).unwrap();
            let res = app.clone().oneshot(req).await.unwrap();
            assert_eq!(res.status(), status);
            let body = to_bytes(res.into_body(), 1 << 20).await.unwrap();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["error"]["type"], kind, "{v}");
            assert!(!String::from_utf8_lossy(&body).contains("secret detail"));
        }
    }

    #[tokio::test]
    async fn timeouts_answer_503_in_the_error_shape() {
        async fn slow() -> &'static str {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }
        let options = HttpOptions {
            request_timeout: Duration::from_millis(50),
            ..HttpOptions::default()
        };
        let app = with_http_layers(Router::new().route("/slow", get(slow)), &options, 1024);
        let req = Request::builder().uri("/slow").body(Body::empty()).unwrap();
        let res = app.oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = to_bytes(res.into_body(), 1 << 20).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "unavailable");
    }
}
