//! Typed, Airtable-style identifiers.
//!
//! Every id is 17 ASCII characters: a three-letter prefix naming its kind
//! (`rec`, `tbl`, ...) followed by 14 base62 characters. The first 7 of those
//! encode the creation time in milliseconds since 2020-01-01 UTC, so ids sort
//! by creation under byte order (B-tree locality, stable tie-breaks); the last
//! 7 are random. One newtype per kind means a table id can never be passed
//! where a record id is expected.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Base62 digits in ASCII order, so byte order equals numeric order.
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Milliseconds from the Unix epoch to 2020-01-01T00:00:00Z.
const EPOCH_MS: i64 = 1_577_836_800_000;
/// Characters given to the timestamp (62^7 ms is about 111 years).
const TIME_CHARS: usize = 7;
/// Total length of an id, prefix included.
pub const ID_LEN: usize = 17;

/// Why a string is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a {kind} id ({prefix} followed by 14 letters or digits)")]
pub struct IdParseError {
    /// The kind that was expected, e.g. "record".
    pub kind: &'static str,
    /// The prefix that was expected, e.g. "rec".
    pub prefix: &'static str,
}

fn encode_body(now_ms: i64, rng: &mut impl Rng) -> [u8; 14] {
    let mut body = [b'0'; 14];
    let mut t = (now_ms - EPOCH_MS).max(0) as u64;
    for i in (0..TIME_CHARS).rev() {
        body[i] = ALPHABET[(t % 62) as usize];
        t /= 62;
    }
    for b in body.iter_mut().skip(TIME_CHARS) {
        *b = ALPHABET[rng.random_range(0..62)];
    }
    body
}

fn is_base62(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name([u8; ID_LEN]);

        impl $name {
            /// The three-letter prefix of this kind of id.
            pub const PREFIX: &'static str = $prefix;
            /// The human name of this kind of id, used in errors.
            pub const KIND: &'static str = $kind;

            /// A new id for something created now.
            pub fn new() -> Self {
                Self::at(chrono::Utc::now().timestamp_millis())
            }

            /// A new id whose time part encodes `unix_ms`.
            pub fn at(unix_ms: i64) -> Self {
                let mut out = [0u8; ID_LEN];
                out[..3].copy_from_slice($prefix.as_bytes());
                out[3..].copy_from_slice(&encode_body(unix_ms, &mut rand::rng()));
                Self(out)
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                // Only ASCII is ever stored (checked in `parse` and `at`).
                std::str::from_utf8(&self.0).unwrap_or_default()
            }

            /// Parses an id, checking the prefix, length and alphabet.
            pub fn parse(s: &str) -> Result<Self, IdParseError> {
                let bytes = s.as_bytes();
                if bytes.len() != ID_LEN
                    || !s.starts_with($prefix)
                    || !bytes[3..].iter().all(|b| is_base62(*b))
                {
                    return Err(IdParseError { kind: $kind, prefix: $prefix });
                }
                let mut out = [0u8; ID_LEN];
                out.copy_from_slice(bytes);
                Ok(Self(out))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

typed_id!(/// Identifies a user.
    UserId, "usr", "user");
typed_id!(/// Identifies a workspace.
    WorkspaceId, "wsp", "workspace");
typed_id!(/// Identifies a base (Airtable calls them apps).
    BaseId, "app", "base");
typed_id!(/// Identifies a table.
    TableId, "tbl", "table");
typed_id!(/// Identifies a field of a table.
    FieldId, "fld", "field");
typed_id!(/// Identifies a view of a table.
    ViewId, "viw", "view");
typed_id!(/// Identifies a record of a table.
    RecordId, "rec", "record");
typed_id!(/// Identifies an uploaded attachment.
    AttachmentId, "att", "attachment");
typed_id!(/// Identifies an API key.
    ApiKeyId, "key", "API key");
typed_id!(/// Identifies a webhook (Airtable's prefix for webhooks).
    WebhookId, "ach", "webhook");

typed_id!(/// Identifies a choice of a select field.
    ChoiceId, "sel", "choice");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_prefix_length_and_round_trip() {
        let id = RecordId::new();
        assert_eq!(id.as_str().len(), ID_LEN);
        assert!(id.as_str().starts_with("rec"));
        assert_eq!(RecordId::parse(id.as_str()), Ok(id));
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<RecordId>(&json).unwrap(), id);
    }

    #[test]
    fn ids_of_another_kind_or_shape_are_rejected() {
        let t = TableId::new();
        assert!(RecordId::parse(t.as_str()).is_err());
        assert!(RecordId::parse("rec123").is_err());
        assert!(RecordId::parse("recAAAAAAAAAAAAA!").is_err());
        assert!(RecordId::parse("recAAAAAAAAAAAAAé").is_err());
    }

    #[test]
    fn ids_sort_by_creation_time() {
        let a = RecordId::at(1_700_000_000_000);
        let b = RecordId::at(1_700_000_000_001);
        let c = RecordId::at(1_800_000_000_000);
        assert!(a < b && b < c);
        assert!(a.as_str() < b.as_str() && b.as_str() < c.as_str());
    }
}
