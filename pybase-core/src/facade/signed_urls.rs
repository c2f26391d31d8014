//! Signed, expiring attachment links: what `/v0` shows as an attachment's
//! `url`, so that scripts download it without credentials, as they do from
//! Airtable (AIRTABLE.md §6; Airtable's links expire after two hours).
//!
//! A link names the attachment, its expiry (Unix seconds) and a signature:
//! hex HMAC-SHA256 of `"<id>.<expires>"` under a key derived from the
//! server's `SECRET_KEY` (the one [`Pybase::with_webhook_key`] takes), so
//! nothing is stored and every instance can check every link. Changing the
//! id or the expiry breaks the signature; an expired link is refused.

use bytes::Bytes;
use chrono::TimeDelta;
use futures::stream::BoxStream;

use super::Pybase;
use super::webhooks::{hmac_bytes, hmac_hex};
use crate::error::{Error, Result};
use crate::ids::AttachmentId;
use crate::model::Attachment;

/// How long a signed link works.
pub const SIGNED_URL_LIFETIME: TimeDelta = TimeDelta::hours(2);

/// A signed link's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedAttachment {
    /// When it stops working, in Unix seconds.
    pub expires: i64,
    /// Hex HMAC-SHA256 of `"<id>.<expires>"`.
    pub signature: String,
}

/// Whether two strings are equal, in time that depends on their lengths
/// only.
pub(super) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0_u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Pybase {
    /// The key of signed links (derived from the webhook key, itself from
    /// `SECRET_KEY`).
    fn link_key(&self) -> Result<Vec<u8>> {
        Ok(hmac_bytes(
            self.webhook_key()?.bytes(),
            b"pybase attachment links v1",
        ))
    }

    fn link_signature(&self, id: AttachmentId, expires: i64) -> Result<String> {
        Ok(hmac_hex(
            &self.link_key()?,
            format!("{id}.{expires}").as_bytes(),
        ))
    }

    /// Signs a link to attachment `id`, working for
    /// [`SIGNED_URL_LIFETIME`] from now. The caller has read it already
    /// (it shows the attachment's cell).
    pub fn sign_attachment(&self, id: AttachmentId) -> Result<SignedAttachment> {
        let expires = (self.clock.now() + SIGNED_URL_LIFETIME).timestamp();
        Ok(SignedAttachment {
            expires,
            signature: self.link_signature(id, expires)?,
        })
    }

    /// An attachment and its bytes through a signed link, without a
    /// caller: 403 when the signature does not match or the link expired,
    /// 404 when the attachment is gone.
    pub async fn signed_attachment_content(
        &self,
        id: AttachmentId,
        expires: i64,
        signature: &str,
    ) -> Result<(Attachment, BoxStream<'static, Result<Bytes>>)> {
        if !same(&self.link_signature(id, expires)?, signature) {
            return Err(Error::Forbidden(
                "this link's signature does not match: use the url a record shows".into(),
            ));
        }
        if expires <= self.clock.now().timestamp() {
            return Err(Error::Forbidden(
                "this link expired: read the record again for a fresh url".into(),
            ));
        }
        self.attachment_content_unchecked(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn signatures_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
        assert!(!same("", "a"));
    }
}
