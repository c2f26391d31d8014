//! Attachments: multipart uploads streamed to object storage.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt as _;
use pybase_core::facade::attachment_json;
use pybase_core::ids::{AttachmentId, TableId};
use pybase_core::openapi::AttachmentJson;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::extract::{Authenticated, Created, Json, Path, Query};
use crate::openapi::responses::{
    Malformed, NotFound, ReadErrors, SignedLinkRefused, StorageUnavailable, TooLarge, WriteErrors,
    WrongContentType,
};
use crate::state::AppState;

/// Attachment routes; uploads accept bodies up to `upload_limit` bytes.
pub(crate) fn routes(upload_limit: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload).layer(DefaultBodyLimit::max(upload_limit)))
        .routes(routes!(metadata))
        .routes(routes!(content))
        .routes(routes!(signed_content))
}

/// A multipart upload (documentation of the form the handler reads).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Upload {
    /// The file.
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    file: String,
}

/// The bytes of a stored file, served with the content type it was
/// uploaded with (documentation of the streamed body).
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
pub struct FileBytes(Vec<u8>);

#[utoipa::path(post, path = "/api/v1/tables/{id}/attachments", tag = "attachments", operation_id = "upload_attachment",
    params(("id" = pybase_core::ids::TableId, Path, description = "table id")),
    request_body(content = Upload, content_type = "multipart/form-data",
        description = "one `file` part; other parts are read and ignored"),
    responses(
        (status = 201, description = "stored (editor and above); put `{\"id\"}` into an attachment cell", body = AttachmentJson),
        WriteErrors, Malformed, TooLarge, WrongContentType, StorageUnavailable,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn upload(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(table): Path<TableId>,
    req: Request,
) -> Result<Created<Value>, ApiError> {
    // Extracted here so a wrong content type answers 415 in the error shape.
    let mut multipart = Multipart::from_request(req, &state).await?;
    while let Some(field) = multipart.next_field().await? {
        if field.name() != Some("file") {
            // Other parts are ignored, as browsers may send extra form fields.
            continue;
        }
        let filename = field.file_name().unwrap_or("file").to_owned();
        let content_type = field.content_type().map(str::to_owned);
        // A body error (too large, broken framing) reaches the facade as a
        // stream error; keep it so the client gets 413/400, not 500.
        let body_error: Arc<Mutex<Option<ApiError>>> = Arc::default();
        let seen = body_error.clone();
        let stream = field.map_err(move |e| {
            let text = e.body_text();
            let status = e.status();
            if let Ok(mut slot) = seen.lock() {
                *slot = Some(ApiError::from(e));
            }
            std::io::Error::other(format!("{status}: {text}"))
        });
        let result = state
            .pybase
            .upload_attachment(
                &p,
                table,
                &filename,
                content_type.as_deref(),
                stream,
                state.limits.max_upload_bytes,
            )
            .await;
        let a = match result {
            Ok(a) => a,
            Err(e) => {
                let kept = body_error.lock().ok().and_then(|mut s| s.take());
                return Err(kept.unwrap_or_else(|| e.into()));
            }
        };
        // The rest of the body must be well-formed too (other parts are
        // ignored, a second file is refused rather than dropped); on an
        // error the stored file stays, unreferenced, like any upload whose
        // id no cell takes.
        while let Some(rest) = multipart.next_field().await? {
            if rest.name() == Some("file") {
                return Err(ApiError::invalid(
                    "file",
                    "one part named \"file\" per upload (upload each file on its own)",
                ));
            }
            rest.bytes().await?;
        }
        return Ok(Created(attachment_json(&a, state.pybase.attachment_url())));
    }
    Err(ApiError::invalid("file", "a multipart part named \"file\""))
}

#[utoipa::path(get, path = "/api/v1/attachments/{id}", tag = "attachments", operation_id = "get_attachment",
    params(("id" = pybase_core::ids::AttachmentId, Path, description = "attachment id")),
    responses(
        (status = 200, description = "metadata (anyone who can read the table)", body = AttachmentJson),
        ReadErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn metadata(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(id): Path<AttachmentId>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(attachment_json(
        &state.pybase.get_attachment(&p, id).await?,
        state.pybase.attachment_url(),
    )))
}

/// Where this server serves an attachment's bytes: the URL every
/// attachment's JSON shows.
pub(crate) fn content_url(id: AttachmentId) -> String {
    format!("/api/v1/attachments/{id}/content")
}

/// Whether a browser would treat `content_type` as an active document
/// (markup or script) if shown inline.
fn renders_actively(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "text/html"
            | "application/xhtml+xml"
            | "image/svg+xml"
            | "application/xml"
            | "text/xml"
            | "text/javascript"
            | "application/javascript"
    ) || essence.ends_with("+xml")
}

#[utoipa::path(get, path = "/api/v1/attachments/{id}/content", tag = "attachments", operation_id = "get_attachment_content",
    params(("id" = pybase_core::ids::AttachmentId, Path, description = "attachment id")),
    responses(
        (status = 200, description = "the bytes, with the stored content type", content_type = "*/*", body = FileBytes),
        ReadErrors, StorageUnavailable,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn content(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(id): Path<AttachmentId>,
) -> Result<Response, ApiError> {
    let (a, stream) = state.pybase.attachment_content(&p, id).await?;
    Ok(file_response(&a, stream))
}

/// `?expires=&signature=` of a signed attachment link. A link without
/// them is refused as a wrong one is (403), not as a malformed request.
#[derive(Debug, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SignedLink {
    /// When the link stops working, in Unix seconds.
    #[param(required = true)]
    pub expires: Option<i64>,
    /// The link's signature (hex).
    #[param(max_length = 128, required = true)]
    pub signature: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/attachments/{id}/signed", tag = "attachments", operation_id = "get_signed_attachment_content",
    params(
        ("id" = pybase_core::ids::AttachmentId, Path, description = "attachment id"),
        SignedLink,
    ),
    responses(
        (status = 200, description = "the bytes, with the stored content type; no credentials needed", content_type = "*/*", body = FileBytes),
        Malformed, SignedLinkRefused, NotFound, StorageUnavailable,
    ))]
pub(crate) async fn signed_content(
    State(state): State<AppState>,
    Path(id): Path<AttachmentId>,
    Query(link): Query<SignedLink>,
) -> Result<Response, ApiError> {
    let (a, stream) = state
        .pybase
        .signed_attachment_content(
            id,
            link.expires.unwrap_or(0),
            link.signature.as_deref().unwrap_or(""),
        )
        .await?;
    Ok(file_response(&a, stream))
}

/// A stored file's bytes as a download: its content type, length and a
/// disposition that keeps active content from running as this origin.
fn file_response(
    a: &pybase_core::model::Attachment,
    stream: futures::stream::BoxStream<'static, pybase_core::Result<axum::body::Bytes>>,
) -> Response {
    let content_type = HeaderValue::from_str(&a.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    let safe_name: String = a
        .filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    // Types a browser would run or render as a document are downloaded,
    // never shown inline; images, text, PDF and the like stay inline.
    let kind = if renders_actively(&a.content_type) {
        "attachment"
    } else {
        "inline"
    };
    // `filename*` (RFC 6266) carries the name as uploaded; `filename` is
    // the ASCII fallback for clients without it.
    let disposition = HeaderValue::from_str(&format!(
        "{kind}; filename=\"{safe_name}\"; filename*=UTF-8''{}",
        rfc5987(&a.filename)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_LENGTH, HeaderValue::from(a.size)),
            (header::CONTENT_DISPOSITION, disposition),
            // Uploaded HTML or SVG must not run as this origin's script.
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("sandbox"),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// `name` as an RFC 5987 `ext-value`'s characters: its UTF-8 bytes, those
/// outside `attr-char` percent-encoded.
fn rfc5987(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod disposition_tests {
    #[test]
    fn names_keep_every_character_in_filename_star() {
        assert_eq!(
            super::rfc5987("hello, \"world\".txt"),
            "hello%2C%20%22world%22.txt"
        );
        assert_eq!(super::rfc5987("été.pdf"), "%C3%A9t%C3%A9.pdf");
        assert_eq!(super::rfc5987("a-b_c.d"), "a-b_c.d");
    }
}
