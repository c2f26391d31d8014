//! The change log over HTTP: catch-up pages, the Server-Sent Events
//! stream, a record's history and revert.

use std::convert::Infallible;
use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse as _, Response};
use bytes::Bytes;
use futures::Stream;
use pybase_core::facade::{ChangeSubscription, RecordOut};
use pybase_core::ids::{BaseId, RecordId, TableId};
use pybase_core::store::ChangeEvent;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::credential_checks::Confirmed;
use crate::error::ApiError;
use crate::extract::{Authenticated, Json, Path, Query, presented_credential};
use crate::openapi::responses::{Invalid, ReadErrors, WriteErrors};
use crate::routes::records::KeyParams;
use crate::state::AppState;

/// How often an idle event stream sends a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Change-log routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(changes))
        .routes(routes!(events))
        .routes(routes!(history))
        .routes(routes!(revert))
}

/// `?after=&cursor=&page_size=` of the catch-up endpoint.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesParams {
    /// Events after this seq (0, the default: from the start).
    #[param(minimum = 0)]
    #[serde(default, deserialize_with = "crate::extract::blank_as_none")]
    pub after: Option<i64>,
    /// A previous page's `next_cursor` (the same as `after`; wins over it).
    #[param(minimum = 0)]
    #[serde(default, deserialize_with = "crate::extract::blank_as_none")]
    pub cursor: Option<i64>,
    /// Events per page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub page_size: Option<usize>,
}

/// A page of a base's change log.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChangesPage {
    /// Events after the cursor, in order.
    pub items: Vec<ChangeEvent>,
    /// Pass as `cursor` for the next page; `null` when no more events exist yet.
    pub next_cursor: Option<i64>,
    /// The newest seq of the base.
    pub last_seq: i64,
}

/// A page of a record's history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryPage {
    /// The record's events, newest first.
    pub items: Vec<ChangeEvent>,
    /// Pass as `cursor` for older events; `null` on the last page.
    pub next_cursor: Option<i64>,
}

/// `?cursor=&page_size=` of a record's history.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// A previous page's `next_cursor`: events older than this seq.
    #[param(minimum = 0)]
    #[serde(default, deserialize_with = "crate::extract::blank_as_none")]
    pub cursor: Option<i64>,
    /// Events per page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub page_size: Option<usize>,
}

/// `POST .../revert` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevertInput {
    /// The event of this record whose resulting cells to put back.
    #[schema(minimum = 0)]
    #[serde(deserialize_with = "whole_number")]
    pub seq: i64,
}

/// An integer from JSON, also when written with a zero fraction (`44748.0`
/// is an integer to JSON Schema, so clients may send it).
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    use serde::de::Error as _;
    let n = serde_json::Number::deserialize(d)?;
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    n.as_f64()
        .filter(|f| f.fract() == 0.0)
        .and_then(|f| format!("{f:.0}").parse::<i64>().ok())
        .ok_or_else(|| D::Error::custom(format!("a whole number from 0 to {}, got {n}", i64::MAX)))
}

/// One Server-Sent Event of the stream, as a client's SSE parser reads it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SseFrame {
    /// The event's seq.
    pub id: Option<String>,
    /// The event's kind (`record.updated`, ...), or `error` before the
    /// stream ends on an error.
    pub event: Option<String>,
    /// The event as JSON text (a change event, or the error body).
    pub data: String,
}

/// `?after=` of the event stream.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsParams {
    /// Stream the events after this seq (`Last-Event-ID` wins over it, so
    /// this is read only without one); without either, only events
    /// committed from now on.
    #[param(minimum = 0, value_type = Option<i64>)]
    #[serde(default)]
    pub after: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/bases/{id}/changes", tag = "changes", operation_id = "list_changes",
    params(("id" = pybase_core::ids::BaseId, Path, description = "base id"), ChangesParams),
    responses(
        (status = 200, description = "events after the cursor, in order (viewer and above)", body = ChangesPage),
        ReadErrors,
        Invalid,
        (status = 410, description = "the cursor is older than the oldest kept event (`gone`)", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn changes(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(base): Path<BaseId>,
    Query(q): Query<ChangesParams>,
) -> Result<Json<ChangesPage>, ApiError> {
    let after = q.cursor.or(q.after).unwrap_or(0);
    let page = state
        .pybase
        .changes_since(&p, base, after, q.page_size)
        .await
        .map_err(|e| match e {
            // The seq came as `cursor`: name it so.
            pybase_core::Error::Validation { mut fields, .. }
                if q.cursor.is_some() && fields.contains_key("after") =>
            {
                let said = fields.remove("after").unwrap_or_default();
                ApiError::invalid("cursor", said)
            }
            e => ApiError::from(e),
        })?;
    Ok(Json(ChangesPage {
        items: page.items,
        next_cursor: page.next_cursor,
        last_seq: page.last_seq,
    }))
}

/// The cursor a stream resumes after: `Last-Event-ID`, else `?after=`,
/// else the newest event now (only what commits from now on). An empty
/// `Last-Event-ID` is no id (the SSE standard's "no last event ID"; a
/// browser leaves the header out instead).
fn resume_cursor(headers: &HeaderMap, q: &EventsParams) -> Result<Option<i64>, ApiError> {
    let header = headers
        .get("last-event-id")
        .filter(|v| !v.as_bytes().trim_ascii().is_empty());
    match header {
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .filter(|n| *n >= 0)
            .map(Some)
            .ok_or_else(|| {
                ApiError::invalid("Last-Event-ID", "the id (seq) of an event of this stream")
            }),
        None => match q.after.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(text) => text
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ApiError::BadQuery {
                    message: format!(
                        "invalid query string: after: expected a whole number, got {text:?}"
                    ),
                    fields: std::collections::BTreeMap::from([(
                        "after".to_owned(),
                        "a whole number".to_owned(),
                    )]),
                }),
        },
    }
}

/// How long a stream delivers on one check of its credential: before an
/// event goes out, a credential last checked longer ago than this is
/// checked again (an expired token, or a revocation made where this
/// server does not hear of it, ends the stream instead of the event going
/// out). A revocation applied by this server (a deleted API key, a logout
/// or a password change, made here or relayed from another instance)
/// calls for a new check at once, also of an idle stream.
const CREDENTIAL_RECHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// What a stream needs to check its caller's credential again.
struct Credential {
    auth: std::sync::Arc<pybase_core::auth::Auth>,
    presented: String,
    /// The last confirmation (`None`: only the request's own check, at a
    /// revocation count not known).
    checked: Option<Confirmed>,
    /// The checks shared with the server's other streams.
    shared: crate::credential_checks::CredentialChecks,
    /// Wakes the stream when a revocation is applied.
    revocations: watch::Receiver<u64>,
    /// Whether `revocations` is still open.
    hears_revocations: bool,
}

impl Credential {
    /// Checks the credential again unless the last confirmation holds
    /// (recent, and no revocation applied since); the `error` frame that
    /// ends the stream when it no longer works.
    async fn confirm(&mut self) -> Result<(), Bytes> {
        if self
            .checked
            .is_some_and(|c| c.holds(&self.auth, CREDENTIAL_RECHECK))
        {
            return Ok(());
        }
        match self
            .shared
            .confirm(&self.auth, &self.presented, CREDENTIAL_RECHECK)
            .await
        {
            Ok(c) => {
                self.checked = Some(c);
                Ok(())
            }
            Err(why) => {
                tracing::debug!(error = %why, "change stream: the credential stopped working");
                Err(error_frame(&ApiError::unauthorized()))
            }
        }
    }
}

/// The `error` event that ends a stream.
fn error_frame(e: &ApiError) -> Bytes {
    let mut out = b"event: error\ndata: ".to_vec();
    if serde_json::to_writer(&mut out, &e.body()).is_err() {
        out.extend_from_slice(b"{}");
    }
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// The keep-alive comment (an empty one, as axum's `KeepAlive` sends).
const KEEP_ALIVE_FRAME: &[u8] = b": \n\n";

/// The SSE frames of a subscription; ends (after an `error` event) if the
/// subscription fails, e.g. when the caller lost access or its credential
/// stopped working, and when the server shuts down (`closing` turns true).
///
/// Each event's frame is the one its base's shared reader encoded for
/// every stream of the process ([`pybase_core::facade::SharedEvent`]): a
/// commit seen by a thousand streams is serialised once, and each stream
/// hands the same bytes to its connection.
fn frames(
    sub: ChangeSubscription,
    credential: Credential,
    closing: watch::Receiver<bool>,
) -> impl Stream<Item = Result<Bytes, Infallible>> {
    futures::stream::unfold(Some((sub, credential, closing)), |state| async move {
        let (mut sub, mut credential, mut closing) = state?;
        loop {
            let next = tokio::select! {
                next = sub.next_shared() => next,
                // (The guard `wait_for` answers is dropped at once.)
                () = async { drop(closing.wait_for(|c| *c).await) } => return None,
                // A revocation was applied: an idle stream whose credential
                // it concerns ends now rather than at its next event.
                changed = credential.revocations.changed(), if credential.hears_revocations => {
                    // Closed is not expected (the service holds the
                    // sender): then only events call for checks.
                    credential.hears_revocations = changed.is_ok();
                    if let Err(frame) = credential.confirm().await {
                        return Some((Ok(frame), None));
                    }
                    continue;
                }
            };
            return match next {
                Ok(e) => {
                    if let Err(frame) = credential.confirm().await {
                        return Some((Ok(frame), None));
                    }
                    Some((Ok(e.sse_frame()), Some((sub, credential, closing))))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "change stream ended by an error");
                    Some((Ok(error_frame(&ApiError::from(e))), None))
                }
            };
        }
    })
}

/// `frames` with a keep-alive comment whenever nothing was sent for
/// `every`. The frame being awaited is kept (not cancelled) while a
/// keep-alive goes out.
struct KeepAlive<S> {
    frames: Pin<Box<S>>,
    timer: Pin<Box<tokio::time::Sleep>>,
    every: Duration,
}

impl<S> KeepAlive<S> {
    fn new(frames: S, every: Duration) -> Self {
        Self {
            frames: Box::pin(frames),
            timer: Box::pin(tokio::time::sleep(every)),
            every,
        }
    }

    fn restart_timer(&mut self) {
        let at = tokio::time::Instant::now() + self.every;
        self.timer.as_mut().reset(at);
    }
}

impl<S: Stream<Item = Result<Bytes, Infallible>>> Stream for KeepAlive<S> {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match this.frames.as_mut().poll_next(cx) {
            Poll::Ready(Some(frame)) => {
                this.restart_timer();
                Poll::Ready(Some(frame))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                ready!(this.timer.as_mut().poll(cx));
                this.restart_timer();
                Poll::Ready(Some(Ok(Bytes::from_static(KEEP_ALIVE_FRAME))))
            }
        }
    }
}

#[utoipa::path(get, path = "/api/v1/bases/{id}/events", tag = "changes", operation_id = "stream_changes",
    description = "Server-Sent Events. A client resumes with the standard `Last-Event-ID` \
        request header (the `id`, a seq of 0 or more, of the last event it received), which \
        wins over `?after=`; an id that is not such a number is 422.",
    params(("id" = pybase_core::ids::BaseId, Path, description = "base id"), EventsParams),
    responses(
        (status = 200, description = "Server-Sent Events (viewer and above): each event `id: <seq>`, `event: <kind>`, `data: <event JSON>`; keep-alive comments every 15 s", content_type = "text/event-stream", body = SseFrame),
        ReadErrors,
        Invalid,
        (status = 410, description = "the cursor is older than the oldest kept event (`gone`)", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn events(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(base): Path<BaseId>,
    Query(q): Query<EventsParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let after = resume_cursor(&headers, &q)?;
    // Checks access and the cursor (410 when it is too old, 422 when it is
    // beyond the log's end) before the stream starts; without a cursor the
    // stream starts at the newest.
    let page = state
        .pybase
        .changes_since(&p, base, after.unwrap_or(0), Some(1))
        .await
        .map_err(|e| match e {
            // The cursor came from the header: name it.
            pybase_core::Error::Validation { mut fields, .. }
                if headers.contains_key("last-event-id") && fields.contains_key("after") =>
            {
                let said = fields.remove("after").unwrap_or_default();
                ApiError::invalid("Last-Event-ID", said)
            }
            e => ApiError::from(e),
        })?;
    let after = after.unwrap_or(page.last_seq);
    let sub = state.pybase.subscribe_changes(&p, base, after).await?;
    let credential = Credential {
        auth: std::sync::Arc::clone(&state.auth),
        presented: presented_credential(&headers)?.ok_or_else(ApiError::unauthorized)?,
        checked: None,
        shared: state.stream_credentials.clone(),
        revocations: state.auth.revocations_applied(),
        hears_revocations: true,
    };
    let closing = state.closing.subscribe();
    let body = Body::from_stream(KeepAlive::new(frames(sub, credential, closing), KEEP_ALIVE));
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/tables/{id}/records/{record_id}/history", tag = "changes", operation_id = "record_history",
    params(("id" = pybase_core::ids::TableId, Path, description = "table id"), ("record_id" = pybase_core::ids::RecordId, Path, description = "record id"), HistoryParams),
    responses(
        (status = 200, description = "the record's events, newest first (viewer and above)", body = HistoryPage),
        ReadErrors,
        Invalid,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn history(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path((table, id)): Path<(TableId, RecordId)>,
    Query(q): Query<HistoryParams>,
) -> Result<Json<HistoryPage>, ApiError> {
    let page = state
        .pybase
        .record_history(&p, table, id, q.cursor, q.page_size)
        .await?;
    Ok(Json(HistoryPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(post, path = "/api/v1/tables/{id}/records/{record_id}/revert", tag = "changes", operation_id = "revert_record",
    params(("id" = pybase_core::ids::TableId, Path, description = "table id"), ("record_id" = pybase_core::ids::RecordId, Path, description = "record id"), KeyParams),
    request_body = RevertInput,
    responses(
        (status = 200, description = "the record with its cells as they were after event `seq`, written as a new update (editor and above)", body = RecordOut),
        WriteErrors,
        (status = 410, description = "the event `seq` is no longer kept (`gone`)", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn revert(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path((table, id)): Path<(TableId, RecordId)>,
    Query(k): Query<KeyParams>,
    Json(input): Json<RevertInput>,
) -> Result<Json<RecordOut>, ApiError> {
    let key = k.key()?;
    Ok(Json(
        state
            .pybase
            .revert_record(&p, table, id, input.seq, key)
            .await?,
    ))
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    use super::{EventsParams, RevertInput, resume_cursor};

    #[test]
    fn a_stream_resumes_after_the_header_then_the_query_and_an_empty_header_is_none() {
        let at = |header: Option<&'static str>, after: Option<&str>| {
            let mut h = HeaderMap::new();
            if let Some(v) = header {
                h.insert("last-event-id", HeaderValue::from_static(v));
            }
            resume_cursor(
                &h,
                &EventsParams {
                    after: after.map(str::to_owned),
                },
            )
        };
        assert_eq!(at(Some("7"), Some("3")).unwrap(), Some(7));
        assert_eq!(at(Some(" 7 "), None).unwrap(), Some(7));
        assert_eq!(at(None, Some("3")).unwrap(), Some(3));
        assert_eq!(at(None, None).unwrap(), None);
        assert_eq!(at(None, Some("")).unwrap(), None);
        assert_eq!(at(Some(""), Some("3")).unwrap(), Some(3));
        assert_eq!(at(Some("  "), None).unwrap(), None);
        assert!(at(Some("-1"), None).is_err());
        assert!(at(Some("x"), Some("3")).is_err());
        // The header wins: a query it makes unused is not read.
        assert_eq!(at(Some("7"), Some("abc")).unwrap(), Some(7));
        assert!(matches!(
            at(None, Some("abc")),
            Err(crate::error::ApiError::BadQuery { .. })
        ));
    }

    #[test]
    fn revert_seq_takes_whole_numbers_in_any_json_form() {
        let seq = |body: &str| serde_json::from_str::<RevertInput>(body).map(|r| r.seq);
        assert_eq!(seq(r#"{"seq": 44748}"#).unwrap(), 44748);
        assert_eq!(seq(r#"{"seq": 44748.0}"#).unwrap(), 44748);
        assert_eq!(seq(r#"{"seq": 4.4748e4}"#).unwrap(), 44748);
        assert!(seq(r#"{"seq": 1.5}"#).is_err());
        assert!(seq(r#"{"seq": 1e300}"#).is_err());
        assert!(seq(r#"{"seq": "3"}"#).is_err());
        // Too large for a seq: the error says the range.
        let e = seq(r#"{"seq": 18446744073709551615}"#).unwrap_err();
        assert!(
            e.to_string().contains("from 0 to 9223372036854775807"),
            "{e}"
        );
    }
}
