//! Hyper answers a few malformed requests itself, before any handler (or
//! middleware) runs, with an empty body: a request line it cannot parse
//! (400), a URI of 64 KiB or more (414) and a head larger than its read
//! buffer (431). API.md wants every error in the JSON error shape, so the
//! server's connections pass through [`ShapedIo`], which recognises such an
//! automatic answer as hyper writes it (the connection then closes) and
//! writes the same status with the JSON body instead.
//!
//! A request under `/v0` (its request line read on the connection says so)
//! gets the Airtable-compatible shape instead, `{"error":{"type",
//! "message"}}`, as every other `/v0` error.
//!
//! Only a connection's first write is looked at: it is always the head of
//! the first answer, whereas a later write may be a body (an attachment's
//! bytes, say) that a user crafted to look like such a head, and replacing
//! it would inject a second answer into the stream. An automatic answer to
//! a later request on a kept-alive connection therefore keeps hyper's empty
//! body; clients send their first request on a new connection, which is
//! where these errors are met in practice.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// One automatic answer hyper writes: the start of its head, its status and
/// reason, and the JSON error that replaces it (the `/api/v1` code, the
/// `/v0` type, the message).
struct Automatic {
    head: &'static [u8],
    status: u16,
    reason: &'static str,
    code: &'static str,
    v0_type: &'static str,
    message: &'static str,
}

/// The automatic answers hyper writes.
const AUTOMATIC: &[Automatic] = &[
    Automatic {
        head: b"HTTP/1.1 400 Bad Request\r\n",
        status: 400,
        reason: "Bad Request",
        code: "bad_request",
        v0_type: "INVALID_REQUEST_UNKNOWN",
        message: "the request line or a header could not be parsed",
    },
    Automatic {
        head: b"HTTP/1.1 414 URI Too Long\r\n",
        status: 414,
        reason: "URI Too Long",
        code: "uri_too_long",
        v0_type: "URI_TOO_LONG",
        message: "the URI is too long: at most 65,533 bytes (send a long query as a POST body)",
    },
    Automatic {
        head: b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
        status: 431,
        reason: "Request Header Fields Too Large",
        code: "headers_too_large",
        v0_type: "REQUEST_HEADERS_TOO_LARGE",
        message: "the request's headers are too large",
    },
];

/// The JSON answer replacing hyper's empty `head`, if `head` is one of the
/// automatic answers: a whole head (ending in a blank line) with an empty
/// body; in `/v0`'s shape when the request was under `/v0`.
fn replacement(head: &[u8], v0: bool) -> Option<Vec<u8>> {
    let a = AUTOMATIC.iter().find(|a| head.starts_with(a.head))?;
    let (status, reason) = (a.status, a.reason);
    let text = std::str::from_utf8(head).ok()?.to_ascii_lowercase();
    if !text.ends_with("\r\n\r\n") || !text.contains("\r\ncontent-length: 0\r\n") {
        return None;
    }
    let body = if v0 {
        serde_json::json!({"error": {"type": a.v0_type, "message": a.message}})
    } else {
        serde_json::json!({"error": {"code": a.code, "message": a.message, "details": {}}})
    }
    .to_string();
    let request_id = format!("{:032x}", rand::random::<u128>());
    Some(
        format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nx-request-id: {request_id}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

/// A connection whose automatic error answers are rewritten (see the
/// module's documentation); everything else passes through unchanged.
#[derive(Debug)]
pub struct ShapedIo<IO> {
    inner: IO,
    /// A replacement being written, how much of it is written, and the
    /// length of the write it stands for (reported once it is all out).
    pending: Option<(Vec<u8>, usize, usize)>,
    /// Whether anything was written yet (only the first write is looked at).
    written: bool,
    /// The start of what the client sent first (its request line's method
    /// and target), up to [`HEAD_PREFIX`] bytes.
    prefix: Vec<u8>,
}

/// Bytes of the first request kept to tell a `/v0` request.
const HEAD_PREFIX: usize = 16;

/// Whether a request line starting with `prefix` targets `/v0` (`/v0`,
/// `/v0/...` or `/v0?...`).
fn targets_v0(prefix: &[u8]) -> bool {
    let Some(space) = prefix.iter().position(|b| *b == b' ') else {
        return false;
    };
    let target = &prefix[space + 1..];
    target.starts_with(b"/v0/") || target.starts_with(b"/v0?") || target.starts_with(b"/v0 ")
}

impl<IO> ShapedIo<IO> {
    /// Wraps a connection.
    pub fn new(inner: IO) -> Self {
        Self {
            inner,
            pending: None,
            written: false,
            prefix: Vec::new(),
        }
    }
}

impl<IO: AsyncWrite + Unpin> ShapedIo<IO> {
    /// Writes what is left of the replacement; `Ready(n)` (the replaced
    /// write's length) once it is all out.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        while let Some((bytes, done, stands_for)) = self.pending.as_mut() {
            if *done == bytes.len() {
                let n = *stands_for;
                self.pending = None;
                return Poll::Ready(Ok(n));
            }
            match Pin::new(&mut self.inner).poll_write(cx, &bytes[*done..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *done += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(0))
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for ShapedIo<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        if self.prefix.len() < HEAD_PREFIX {
            let new = &buf.filled()[before..];
            let take = new.len().min(HEAD_PREFIX - self.prefix.len());
            let head = new[..take].to_vec();
            self.prefix.extend_from_slice(&head);
        }
        read
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for ShapedIo<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if !self.written && !buf.is_empty() {
            self.written = true;
            if let Some(bytes) = replacement(buf, targets_v0(&self.prefix)) {
                self.pending = Some((bytes, 0, buf.len()));
            }
        }
        if self.pending.is_some() {
            return self.drain(cx);
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // An automatic answer is one slice (a head without body).
        if !self.written && bufs.iter().any(|b| !b.is_empty()) {
            self.written = true;
            if let [only] = bufs
                && let Some(bytes) = replacement(only, targets_v0(&self.prefix))
            {
                self.pending = Some((bytes, 0, only.len()));
            }
        }
        if self.pending.is_some() {
            return self.drain(cx);
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.pending.is_some() {
            match self.drain(cx) {
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The server's listener: TCP connections wrapped in [`ShapedIo`].
#[derive(Debug)]
pub struct ShapedListener(pub TcpListener);

impl axum::serve::Listener for ShapedListener {
    type Io = ShapedIo<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = axum::serve::Listener::accept(&mut self.0).await;
        (ShapedIo::new(io), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hyper_s_empty_automatic_answers_are_replaced() {
        let head = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let out = String::from_utf8(replacement(head, false).unwrap()).unwrap();
        assert!(out.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{out}");
        let body = out.split("\r\n\r\n").nth(1).unwrap();
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["code"], "uri_too_long");
        assert!(out.contains(&format!("content-length: {}\r\n", body.len())));
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\r\n";
        let out = String::from_utf8(replacement(head, false).unwrap()).unwrap();
        assert!(out.contains("\"code\":\"headers_too_large\""), "{out}");
        // A handler's 400 has a body (and a JSON content type): kept.
        let handler = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 57\r\n\r\n";
        assert!(replacement(handler, false).is_none());
        // Not a head, or a body that merely starts like one: kept.
        assert!(
            replacement(b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n", false).is_none()
        );
        assert!(replacement(b"{\"a\":1}", false).is_none());
        // Under /v0: Airtable's shape.
        let head = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\n";
        let out = String::from_utf8(replacement(head, true).unwrap()).unwrap();
        let body = out.split("\r\n\r\n").nth(1).unwrap();
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["type"], "URI_TOO_LONG");
        assert!(v["error"].get("code").is_none());
    }

    #[test]
    fn v0_requests_are_told_by_their_request_line() {
        assert!(targets_v0(b"GET /v0/appX/tbl"));
        assert!(targets_v0(b"GET /v0?x=1 HTT"));
        assert!(targets_v0(b"GET /v0 HTTP/1.1"));
        assert!(!targets_v0(b"GET /v0x/ HTTP/1"));
        assert!(!targets_v0(b"GET /api/v1/tabl"));
        assert!(!targets_v0(b"GET"));
    }

    /// Only the connection's first write can be replaced: a later write
    /// that looks like an automatic answer (a crafted body) passes as is.
    #[tokio::test]
    async fn only_the_first_write_is_looked_at() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let head = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        let (client, server) = tokio::io::duplex(4096);
        let mut io = ShapedIo::new(server);
        io.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 47\r\n\r\n")
            .await
            .unwrap();
        io.write_all(head).await.unwrap();
        io.shutdown().await.unwrap();
        drop(io);
        let mut out = Vec::new();
        let mut client = client;
        client.read_to_end(&mut out).await.unwrap();
        assert!(out.ends_with(head), "{}", String::from_utf8_lossy(&out));
        // The same head as a first write is replaced.
        let (client, server) = tokio::io::duplex(4096);
        let mut io = ShapedIo::new(server);
        io.write_all(head).await.unwrap();
        io.shutdown().await.unwrap();
        drop(io);
        let mut out = Vec::new();
        let mut client = client;
        client.read_to_end(&mut out).await.unwrap();
        assert!(String::from_utf8_lossy(&out).contains("\"code\":\"bad_request\""));
    }
}
