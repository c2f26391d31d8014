//! Records cursors sealed by the server: a `next_cursor` is its position
//! (base64url JSON, [`crate::query::Cursor`]) followed by `.` and a
//! signature, base64url of the first 16 bytes of HMAC-SHA256 over the
//! position under a key derived from `SECRET_KEY` (the one
//! [`Pybase::with_webhook_key`] takes). So a client cannot edit what a
//! cursor says (its position, its snapshot in the log, its query's
//! fingerprint) and still have it read; every instance sharing the secret
//! reads every cursor. A facade without a key (an embedder that set none)
//! writes positions alone and reads either form. Other tokens that wrap a
//! cursor are sealed the same way ([`Pybase::seal_token`]).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::Pybase;
use super::signed_urls::same;
use super::webhooks::hmac_bytes;
use crate::error::{Error, Result};

/// Bytes of the HMAC a cursor carries (128 bits).
const SIGNATURE_BYTES: usize = 16;

/// The key cursors are sealed with.
#[derive(Clone)]
pub(crate) struct CursorKey(std::sync::Arc<[u8]>);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

impl CursorKey {
    /// The cursors' key derived from the webhooks' (itself from the
    /// server's secret).
    pub(crate) fn derive(webhook_key: &[u8]) -> Self {
        Self(hmac_bytes(webhook_key, b"pybase records cursors v1").into())
    }

    fn signature(&self, position: &str) -> String {
        let mac = hmac_bytes(&self.0, position.as_bytes());
        URL_SAFE_NO_PAD.encode(&mac[..SIGNATURE_BYTES])
    }
}

/// The error of a cursor that is not one this server wrote.
fn not_ours() -> Error {
    Error::invalid(
        "cursor",
        "a next_cursor returned by this same query, as it was returned (start again from \
         the first page)",
    )
}

impl Pybase {
    /// `position` (an encoded [`crate::query::Cursor`]) sealed as a
    /// `next_cursor`.
    pub(super) fn seal_cursor(&self, position: String) -> String {
        seal(self.cursor_key.as_ref(), position)
    }

    /// The position a client's `cursor` carries, if this server sealed it
    /// (any cursor's position, when the facade has no key); 422 on
    /// `cursor` otherwise.
    pub(super) fn open_cursor<'c>(&self, cursor: Option<&'c str>) -> Result<Option<&'c str>> {
        cursor
            .map(|c| open(self.cursor_key.as_ref(), c))
            .transpose()
    }

    /// `token` (any text) sealed as cursors are: for a token a client
    /// hands back that wraps a cursor with more (the `/v0` list `offset`,
    /// which also counts the records served).
    pub fn seal_token(&self, token: String) -> String {
        seal(self.cursor_key.as_ref(), token)
    }

    /// The token [`Pybase::seal_token`] sealed; `None` for one this server
    /// did not seal (any token as it is, when the facade has no key: it
    /// seals nothing).
    pub fn open_token<'t>(&self, sealed: &'t str) -> Option<&'t str> {
        match &self.cursor_key {
            Some(key) => open(Some(key), sealed).ok(),
            None => Some(sealed),
        }
    }
}

/// [`Pybase::seal_cursor`] with `key`.
fn seal(key: Option<&CursorKey>, position: String) -> String {
    match key {
        Some(key) => {
            let signature = key.signature(&position);
            format!("{position}.{signature}")
        }
        None => position,
    }
}

/// [`Pybase::open_cursor`] with `key`.
fn open<'c>(key: Option<&CursorKey>, cursor: &'c str) -> Result<&'c str> {
    // The signature follows the last `.` (base64url has none).
    let (position, signature) = match cursor.rsplit_once('.') {
        Some((position, signature)) => (position, Some(signature)),
        None => (cursor, None),
    };
    match (key, signature) {
        (None, _) => Ok(position),
        (Some(key), Some(signature)) if same(&key.signature(position), signature) => Ok(position),
        (Some(_), _) => Err(not_ours()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{Cursor, Snapshot};

    fn position(snapshot: i64) -> String {
        Cursor {
            values: vec![],
            id: crate::ids::RecordId::new(),
            query: 7,
            snapshot: Some(Snapshot::Seq(snapshot)),
        }
        .encode()
    }

    #[test]
    fn a_sealed_cursor_opens_to_its_position_and_only_under_its_key() {
        let key = CursorKey::derive(b"one secret");
        let p = position(12);
        let sealed = seal(Some(&key), p.clone());
        assert_ne!(sealed, p);
        assert_eq!(open(Some(&key), &sealed).unwrap(), p);
        // Another instance sharing the secret reads it.
        assert_eq!(
            open(Some(&CursorKey::derive(b"one secret")), &sealed).unwrap(),
            p
        );
        // Another secret, an unsealed cursor, a bare signature: refused.
        let other = CursorKey::derive(b"another secret");
        for bad in [
            open(Some(&other), &sealed),
            open(Some(&key), &p),
            open(Some(&key), ".x"),
        ] {
            assert!(matches!(bad, Err(Error::Validation { .. })), "{bad:?}");
        }
        // Without a key, positions are written and read as they are.
        assert_eq!(seal(None, p.clone()), p);
        assert_eq!(open(None, &p).unwrap(), p);
        assert_eq!(open(None, &sealed).unwrap(), p);
    }

    #[test]
    fn a_token_with_dots_is_sealed_whole() {
        let key = CursorKey::derive(b"secret");
        let token = format!("12.abcdef.{}", seal(Some(&key), position(5)));
        let sealed = seal(Some(&key), token.clone());
        assert_eq!(open(Some(&key), &sealed).unwrap(), token);
        let edited = sealed.replacen("12.", "0.", 1);
        assert!(open(Some(&key), &edited).is_err());
    }

    #[test]
    fn an_edited_position_or_signature_is_refused() {
        let key = CursorKey::derive(b"secret");
        let p = position(3);
        let sealed = seal(Some(&key), p.clone());
        // The same position at another snapshot, under the old signature.
        let (_, signature) = sealed.split_once('.').unwrap();
        let forged = format!("{}.{signature}", position(1));
        assert!(open(Some(&key), &forged).is_err());
        // Each character of the signature changed in turn.
        for i in p.len() + 1..sealed.len() {
            let mut bytes = sealed.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let edited = String::from_utf8(bytes).unwrap();
            assert!(open(Some(&key), &edited).is_err(), "{edited}");
        }
    }
}
