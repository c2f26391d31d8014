//! `Connection: close` on a response sent before its request's body was
//! read to the end.
//!
//! A handler may answer without reading the body: a bad token (401), a
//! record id that does not parse (404), a body over the limit (413). hyper
//! then cannot reuse the connection (the rest of the body is still on it)
//! and closes it after the response, but without saying so, and a client
//! that pools connections (Python's `requests`, pyairtable) sends its next
//! request, often the token refresh, into the closed socket and sees a
//! broken pipe or a dropped connection. With the header the client knows
//! to open a new connection, as RFC 9112 §9.6 asks of a server that closes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

use axum::body::Body;
use axum::http::{HeaderValue, Request, header};
use axum::middleware::Next;
use axum::response::Response;
use futures::StreamExt as _;

/// Whether `req` carries a body (a non-zero `Content-Length`, or a
/// `Transfer-Encoding`): only such a body can be left unread.
fn has_body(req: &Request<Body>) -> bool {
    let headers = req.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// The middleware: passes the request on with its body watched, and marks
/// the response `Connection: close` if the body did not reach its end.
pub async fn close_if_body_unread(req: Request<Body>, next: Next) -> Response {
    if !has_body(&req) {
        return next.run(req).await;
    }
    let read = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&read);
    let (parts, body) = req.into_parts();
    // The second stream is polled only once the body has ended.
    let watched = body
        .into_data_stream()
        .chain(futures::stream::poll_fn(move |_| {
            flag.store(true, Ordering::Relaxed);
            Poll::Ready(None)
        }));
    let mut response = next
        .run(Request::from_parts(parts, Body::from_stream(watched)))
        .await;
    if !read.load(Ordering::Relaxed) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
