//! The HTTP ceiling: the smallest server that answers the load benchmark's
//! "GET one record by id" as JSON, with axum and the raw driver (sqlx on
//! PostgreSQL, rusqlite on SQLite) and nothing of PyBase (no token, no
//! table or role lookup, no field rendering).
//!
//! `pybase-load --ceiling-url` seeds it with the same rows it gives
//! `pybase-server` (`POST /records`, batches as the API takes them) and then
//! measures `GET /records/{id}` in the same run as PyBase's GET, so the report
//! can give PyBase's rate as a share of this ceiling.
//!
//! The rows live in a table of their own (`ceiling_records`: id, cells as
//! JSON keyed by field name, created and updated times, creator) in the same
//! database server as PyBase's (a separate SQLite file beside PyBase's). The
//! answer has PyBase's record shape: `id`, `created_time`, `updated_time`,
//! `created_by`, `fields`. The PostgreSQL pool has PyBase's default size
//! (10); SQLite reads run on the request's thread, as PyBase's point reads
//! do, on pooled reader connections (four to start, one more opened when all
//! are busy, so a read never waits for another).
//!
//! Usage: `pybase-ceiling --database-url postgres://...|sqlite://path
//! [--port 18766] [--max-connections 10]`

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context as _, bail};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, SecondsFormat, Utc};
use pybase_core::ids::RecordId;
use rusqlite::{Connection, OptionalExtension as _, params};
use serde_json::{Map, Value, json};
use sqlx::postgres::{PgPool, PgPoolOptions};

/// Where the rows are.
#[derive(Clone)]
enum Db {
    /// PostgreSQL through a sqlx pool.
    Pg(PgPool),
    /// SQLite: one writer and a few readers.
    Sqlite(Arc<SqlitePool>),
}

/// A minimal rusqlite pool: a writer and reader connections.
struct SqlitePool {
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    path: String,
}

impl SqlitePool {
    fn open(path: &str) -> anyhow::Result<Self> {
        let writer = sqlite_conn(path)?;
        writer.execute_batch(
            "CREATE TABLE IF NOT EXISTS ceiling_records (
                id TEXT PRIMARY KEY NOT NULL,
                data BLOB NOT NULL,
                created_time TEXT NOT NULL,
                updated_time TEXT NOT NULL,
                created_by TEXT
            );",
        )?;
        let readers = (0..4)
            .map(|_| sqlite_conn(path))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            writer: Mutex::new(writer),
            readers: Mutex::new(readers),
            path: path.to_owned(),
        })
    }

    /// Runs `f` on a pooled reader (a new one when all are busy).
    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> anyhow::Result<T> {
        let pooled = self
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match pooled {
            Some(c) => c,
            None => sqlite_conn(&self.path)?,
        };
        let out = f(&conn);
        self.readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(conn);
        Ok(out?)
    }
}

fn sqlite_conn(path: &str) -> anyhow::Result<Connection> {
    let conn = Connection::open(path).with_context(|| format!("opening {path}"))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.set_prepared_statement_cache_capacity(16);
    Ok(conn)
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An error answer (`{"error": ...}`) with a status.
struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": { "message": self.1 } }))).into_response()
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Self(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))
    }
}

/// A record in PyBase's answer shape.
fn record_json(
    id: String,
    data: Map<String, Value>,
    created: String,
    updated: String,
    by: Option<String>,
) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), Value::String(id));
    out.insert("created_time".into(), Value::String(created));
    out.insert("updated_time".into(), Value::String(updated));
    out.insert("created_by".into(), by.map_or(Value::Null, Value::String));
    out.insert("fields".into(), Value::Object(data));
    Value::Object(out)
}

/// A `ceiling_records` row as sqlx reads it.
type PgRow = (
    sqlx::types::Json<Map<String, Value>>,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<String>,
);

/// `GET /records/{id}`: one primary-key lookup, the cells decoded, the
/// record serialised.
async fn get_record(State(db): State<Db>, Path(id): Path<String>) -> Result<Response, Failure> {
    let found = match db {
        Db::Pg(pool) => {
            let row: Option<PgRow> = sqlx::query_as(
                "SELECT data, created_time, updated_time, created_by \
                 FROM ceiling_records WHERE id = $1",
            )
            .bind(&id)
            .fetch_optional(&pool)
            .await
            .map_err(anyhow::Error::from)?;
            row.map(|(data, c, u, by)| record_json(id, data.0, time_text(c), time_text(u), by))
        }
        Db::Sqlite(pool) => {
            let row = pool.read(|conn| {
                conn.prepare_cached(
                    "SELECT json(data), created_time, updated_time, created_by \
                     FROM ceiling_records WHERE id = ?1",
                )?
                .query_row(params![id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                    ))
                })
                .optional()
            })?;
            match row {
                Some((data, c, u, by)) => {
                    let data: Map<String, Value> =
                        serde_json::from_str(&data).map_err(anyhow::Error::from)?;
                    Some(record_json(id, data, c, u, by))
                }
                None => None,
            }
        }
    };
    match found {
        Some(v) => Ok(Json(v).into_response()),
        None => Err(Failure(StatusCode::NOT_FOUND, "record not found".into())),
    }
}

/// `POST /records` with `{"records": [{"fields": {...}}, ...]}`: inserts the
/// batch in one transaction and answers the ids (seeding only; not timed).
async fn create_records(
    State(db): State<Db>,
    Json(body): Json<Value>,
) -> Result<Response, Failure> {
    let Some(records) = body["records"].as_array() else {
        return Err(Failure(
            StatusCode::UNPROCESSABLE_ENTITY,
            "records: expected an array of {\"fields\": {...}}".into(),
        ));
    };
    let rows: Vec<(String, String)> = records
        .iter()
        .map(|r| (RecordId::new().to_string(), r["fields"].to_string()))
        .collect();
    let t = now();
    match db {
        Db::Pg(pool) => {
            let mut tx = pool.begin().await.map_err(anyhow::Error::from)?;
            for (id, data) in &rows {
                sqlx::query(
                    "INSERT INTO ceiling_records (id, data, created_time, updated_time) \
                     VALUES ($1, $2::jsonb, $3, $3)",
                )
                .bind(id)
                .bind(data)
                .bind(t)
                .execute(&mut *tx)
                .await
                .map_err(anyhow::Error::from)?;
            }
            tx.commit().await.map_err(anyhow::Error::from)?;
        }
        Db::Sqlite(pool) => {
            let text = time_text(t);
            let rows = rows.clone();
            let pool = Arc::clone(&pool);
            tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                let mut conn = pool.writer.lock().unwrap_or_else(PoisonError::into_inner);
                let tx = conn.transaction()?;
                {
                    let mut stmt = tx.prepare_cached(
                        "INSERT INTO ceiling_records (id, data, created_time, updated_time) \
                         VALUES (?1, jsonb(?2), ?3, ?3)",
                    )?;
                    for (id, data) in &rows {
                        stmt.execute(params![id, data, text])?;
                    }
                }
                tx.commit()?;
                Ok(())
            })
            .await
            .map_err(anyhow::Error::from)??;
        }
    }
    let ids: Vec<Value> = rows
        .into_iter()
        .map(|(id, _)| json!({ "id": id }))
        .collect();
    Ok((StatusCode::CREATED, Json(json!({ "records": ids }))).into_response())
}

async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Db> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        return Ok(Db::Sqlite(Arc::new(SqlitePool::open(path)?)));
    }
    if !url.starts_with("postgres") {
        bail!("--database-url: expected postgres://... or sqlite://path, got {url}");
    }
    let pool = PgPoolOptions::new()
        .max_connections(max_connections.max(1))
        .connect(url)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS ceiling_records (
            id TEXT COLLATE \"C\" PRIMARY KEY,
            data JSONB NOT NULL,
            created_time TIMESTAMPTZ NOT NULL,
            updated_time TIMESTAMPTZ NOT NULL,
            created_by TEXT
        )",
    )
    .execute(&pool)
    .await?;
    Ok(Db::Pg(pool))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut url = None;
    let mut port: u16 = 18766;
    let mut max_connections: u32 = 10;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--database-url" => url = Some(value),
            "--port" => port = value.parse().context("--port: expected a number")?,
            "--max-connections" => {
                max_connections = value
                    .parse()
                    .context("--max-connections: expected a number")?;
            }
            other => bail!("unknown flag {other}"),
        }
    }
    let url = url.context("--database-url is required")?;
    let db = connect(&url, max_connections).await?;
    let app = axum::Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/records", post(create_records))
        .route("/records/{id}", get(get_record))
        .with_state(db);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    axum::serve(listener, app).await?;
    Ok(())
}
