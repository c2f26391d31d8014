//! One event of the log as the shared reader of its base hands it to every
//! live subscription: read once, encoded once.

use std::sync::OnceLock;

use bytes::Bytes;

use crate::store::ChangeEvent;

/// An event read from a base's log, shared (behind an `Arc`) by every
/// subscription of the base in this process, with its Server-Sent Events
/// frame encoded by the first subscription that asks for it and reused by
/// the others: a commit seen by a thousand event streams is serialised
/// once, not a thousand times.
#[derive(Debug)]
pub struct SharedEvent {
    event: ChangeEvent,
    sse: OnceLock<Bytes>,
}

impl SharedEvent {
    /// Wraps an event read from the log.
    pub fn new(event: ChangeEvent) -> Self {
        Self {
            event,
            sse: OnceLock::new(),
        }
    }

    /// The event.
    pub fn event(&self) -> &ChangeEvent {
        &self.event
    }

    /// The event's seq.
    pub fn seq(&self) -> i64 {
        self.event.seq
    }

    /// The event as one Server-Sent Events frame: `id: <seq>`,
    /// `event: <kind>`, `data: <the event as JSON>` and the blank line that
    /// ends it. Encoded once, then shared (cloning [`Bytes`] copies no
    /// data).
    pub fn sse_frame(&self) -> Bytes {
        self.sse.get_or_init(|| encode_sse(&self.event)).clone()
    }
}

/// The SSE frame of `e` (see [`SharedEvent::sse_frame`]). Compact JSON
/// holds no raw line break (one inside a string is escaped as `\n`), so the
/// event fits the one `data:` line the format requires.
fn encode_sse(e: &ChangeEvent) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"id: ");
    out.extend_from_slice(e.seq.to_string().as_bytes());
    out.extend_from_slice(b"\nevent: ");
    out.extend_from_slice(e.kind.as_str().as_bytes());
    out.extend_from_slice(b"\ndata: ");
    if serde_json::to_writer(&mut out, e).is_err() {
        // Not reachable for an event (string keys, no failing
        // serialiser); an empty object keeps the frame well-formed.
        out.extend_from_slice(b"{}");
    }
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{RecordId, TableId};
    use crate::store::NewChange;
    use serde_json::json;

    #[test]
    fn the_sse_frame_is_one_event_of_three_fields_and_encoded_once() {
        let change = NewChange::record_deleted(
            TableId::new(),
            RecordId::new(),
            serde_json::from_value(json!({"fld": "two\nlines"})).unwrap(),
        );
        let e = change.into_event(7, crate::model::Timestamp::default(), None);
        let shared = SharedEvent::new(e.clone());
        let frame = shared.sse_frame();
        let text = std::str::from_utf8(&frame).unwrap();
        assert!(text.ends_with("\n\n"), "{text:?}");
        let lines: Vec<&str> = text.trim_end_matches('\n').split('\n').collect();
        assert_eq!(lines.len(), 3, "{text:?}");
        assert_eq!(lines[0], "id: 7");
        assert_eq!(lines[1], "event: record.deleted");
        let data = lines[2].strip_prefix("data: ").unwrap();
        let back: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(back, serde_json::to_value(&e).unwrap());
        // The second call shares the first one's bytes.
        assert_eq!(shared.sse_frame().as_ptr(), frame.as_ptr());
    }
}
