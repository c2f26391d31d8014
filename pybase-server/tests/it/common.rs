//! Test harness: a real server on 127.0.0.1:0 driven over HTTP.

use std::panic::Location;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use pybase_server::Settings;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// Returns the variable's value, or skips the test loudly; panics instead
/// when `PYBASE_REQUIRE_SERVICES=1` (`pybase_core::testkit::services`).
#[macro_export]
macro_rules! require_service {
    ($var:literal) => {
        pybase_core::require_service!($var)
    };
}

/// A unique suffix for emails, slugs and names.
pub(crate) fn unique() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}{nanos:x}{n}", std::process::id())
}

/// A fresh email address.
pub(crate) fn email() -> String {
    format!("user-{}@example.com", unique())
}

/// Settings for a test server whose data lives in `dir`.
///
/// The database is a SQLite file in `dir`, unless
/// `PYBASE_TEST_SERVER_DATABASE_URL` names another (scripts/test.sh runs the
/// whole suite a second time with it pointing at PostgreSQL; tests isolate
/// themselves by unique emails and slugs, so they can share one database).
pub(crate) fn settings_in(dir: &std::path::Path) -> Settings {
    let database_url = std::env::var("PYBASE_TEST_SERVER_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| format!("sqlite://{}", dir.join("pybase.db").display()));
    Settings {
        database_url,
        data_dir: dir.join("data"),
        mail_outbox: Some(dir.join("outbox")),
        // Rate-limit counts of one test never meet another's in a shared Redis.
        redis_key_prefix: format!("pybase-test-{}:", unique()),
        secret_key: Some(pybase_server::settings::Secret::new(
            "test-secret-key-that-is-long-enough-0123456789",
        )),
        ..Settings::default()
    }
}

/// A running server; stops when dropped.
pub(crate) struct TestServer {
    /// `http://127.0.0.1:<port>`.
    pub(crate) base: String,
    /// A client without default headers.
    pub(crate) client: reqwest::Client,
    /// Where mail is written.
    pub(crate) outbox: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// A server on SQLite and local files in a temporary folder.
    pub(crate) async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = settings_in(dir.path());
        let mut server = Self::start_with(settings).await;
        server._dir = Some(dir);
        server
    }

    /// A server with the given settings.
    pub(crate) async fn start_with(settings: Settings) -> Self {
        let outbox = settings
            .mail_outbox
            .clone()
            .unwrap_or_else(|| settings.data_dir.join("outbox"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            if let Err(e) = pybase_server::serve_with_listener(settings, listener, shutdown).await {
                panic!("server failed: {e:#}");
            }
        });
        let server = Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            outbox,
            shutdown: Some(tx),
            _dir: None,
        };
        // The state is built after the listener is handed over: wait until
        // the server answers.
        for _ in 0..200 {
            if let Ok(r) = server.client.get(server.url("/health")).send().await {
                let _ = r.status();
                return server;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("server did not start");
    }

    /// Absolute URL of `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request without credentials.
    pub(crate) fn anon(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// A request with `Authorization: Bearer <token>`.
    pub(crate) fn req(&self, token: &str, method: Method, path: &str) -> RequestBuilder {
        self.anon(method, path).bearer_auth(token)
    }

    /// Registers a user; answers (access token, the whole session JSON).
    pub(crate) async fn register(&self) -> (String, Value) {
        self.register_as(&email(), "correct horse battery").await
    }

    /// Registers `email` with `password`.
    pub(crate) async fn register_as(&self, email: &str, password: &str) -> (String, Value) {
        let body = self
            .anon(Method::POST, "/api/v1/auth/register")
            .json(&json!({"email": email, "password": password, "name": "Test User"}))
            .send_expect(StatusCode::CREATED)
            .await;
        let token = body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned();
        (token, body)
    }

    /// A workspace owned by the holder of `token`.
    pub(crate) async fn workspace(&self, token: &str) -> String {
        self.req(token, Method::POST, "/api/v1/workspaces")
            .json(&json!({"name": "Workspace", "slug": format!("ws-{}", unique())}))
            .send_created_id()
            .await
    }

    /// A base and a table with Name (text), Qty (number) and Tags
    /// (multi_select), answering (base id, table id).
    pub(crate) async fn table(&self, token: &str, ws: &str) -> (String, String) {
        let base = self
            .req(
                token,
                Method::POST,
                &format!("/api/v1/workspaces/{ws}/bases"),
            )
            .json(&json!({"name": "Base"}))
            .send_created_id()
            .await;
        let table = self
            .req(token, Method::POST, &format!("/api/v1/bases/{base}/tables"))
            .json(&json!({"name": "Items", "fields": [
                {"name": "Name", "type": "text"},
                {"name": "Qty", "type": "number", "options": {"precision": 2}},
                {"name": "Tags", "type": "multi_select", "options": {"choices": [{"name": "a"}, {"name": "b"}]}},
            ]}))
            .send_created_id()
            .await;
        (base, table)
    }

    /// Adds the user of `email` to `ws` with `role`, acting as `owner`.
    pub(crate) async fn add_member(&self, owner: &str, ws: &str, email: &str, role: &str) {
        self.req(
            owner,
            Method::POST,
            &format!("/api/v1/workspaces/{ws}/members"),
        )
        .json(&json!({"email": email, "role": role}))
        .send_expect(StatusCode::CREATED)
        .await;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The `id` of a JSON object.
pub(crate) fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

/// Asserts an error answer: status, the error shape and its `code`.
#[track_caller]
pub(crate) fn expect_error(
    r: Response,
    status: StatusCode,
    code: &'static str,
) -> impl Future<Output = Value> {
    check_error(r, status, code, Location::caller())
}

/// Sends a request and checks its answer (the status, and for errors the
/// shape and `code`, as [`expect_error`] does); failures name the caller's
/// line.
pub(crate) trait SendExpect {
    /// Sends, asserts the status and answers the JSON body.
    fn send_expect(self, status: StatusCode) -> impl Future<Output = Value>;

    /// Sends, asserts the status, the error shape and its `code`.
    fn send_expect_error(
        self,
        status: StatusCode,
        code: &'static str,
    ) -> impl Future<Output = Value>;

    /// Sends, asserts 201 Created and answers the new object's `id`.
    fn send_created_id(self) -> impl Future<Output = String>;
}

impl SendExpect for RequestBuilder {
    #[track_caller]
    fn send_expect(self, status: StatusCode) -> impl Future<Output = Value> {
        let caller = Location::caller();
        async move { check(self.send().await.expect("send"), status, caller).await }
    }

    #[track_caller]
    fn send_expect_error(
        self,
        status: StatusCode,
        code: &'static str,
    ) -> impl Future<Output = Value> {
        let caller = Location::caller();
        async move {
            let r = self.send().await.expect("send");
            check_error(r, status, code, caller).await
        }
    }

    #[track_caller]
    fn send_created_id(self) -> impl Future<Output = String> {
        let caller = Location::caller();
        async move {
            let r = self.send().await.expect("send");
            id_of(&check(r, StatusCode::CREATED, caller).await)
        }
    }
}

/// Asserts the status and answers the JSON body (`null` when empty).
async fn check(r: Response, status: StatusCode, caller: &Location<'_>) -> Value {
    let got = r.status();
    let text = r.text().await.expect("body");
    assert_eq!(got, status, "at {caller}: unexpected status, body: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }
}

/// Asserts an error answer: status, the error shape and its `code`.
async fn check_error(r: Response, status: StatusCode, code: &str, caller: &Location<'_>) -> Value {
    let got = r.status();
    assert!(
        r.headers().contains_key("x-request-id"),
        "at {caller}: no x-request-id"
    );
    let text = r.text().await.expect("body");
    assert_eq!(got, status, "at {caller}: unexpected status, body: {text}");
    let v: Value = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("at {caller}: error body is not JSON: {text}"));
    assert_eq!(v["error"]["code"], code, "at {caller}: body {v}");
    assert!(v["error"]["message"].is_string(), "at {caller}: body {v}");
    assert!(v["error"]["details"].is_object(), "at {caller}: body {v}");
    v
}
