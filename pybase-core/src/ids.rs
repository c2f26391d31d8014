//! Typed, Airtable-style identifiers.
//!
//! Every id is 17 ASCII characters: a three-letter prefix naming its kind
//! (`rec`, `tbl`, ...) followed by 14 base62 characters. The first 7 of those
//! encode the creation time in milliseconds since 2020-01-01 UTC, so ids sort
//! by creation under byte order (B-tree locality, stable tie-breaks); the last
//! 7 are random, stepped up from the previous id's within one millisecond, so
//! the ids one process makes sort in the order it made them. One newtype per kind means a table id can never be passed
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

/// 62^7: the number of values of the random part.
const RANDOM_SPACE: u64 = 3_521_614_606_208;
/// The largest step between two ids made in the same millisecond.
const MAX_STEP: u64 = 1 << 20;

/// The last (time, random part) [`next_body`] gave out, process-wide.
static LAST: std::sync::Mutex<(u64, u64)> = std::sync::Mutex::new((0, 0));

/// The body of a new id made at `now_ms`: ids made by this process sort
/// in the order they were made, also within one millisecond (a batch of
/// records lists in the order it was written). An id made in the
/// millisecond of the previous one, or at an earlier time (the clock
/// stepped back, or a test's clock was moved ahead and back), gets the
/// previous one's time and random part plus a random step, carrying into
/// the time part when it overflows; so the time part is the creation time
/// or slightly after it, never before.
fn next_body(now_ms: i64, rng: &mut impl Rng) -> [u8; 14] {
    let now = (now_ms - EPOCH_MS).max(0) as u64;
    let fresh = rng.random_range(0..RANDOM_SPACE / 2);
    let step = rng.random_range(1..=MAX_STEP);
    let (t, r) = match LAST.lock() {
        Ok(mut last) => {
            *last = advance(*last, now, fresh, step);
            *last
        }
        // A poisoned lock only loses the ordering, never uniqueness.
        Err(_) => (now, rng.random_range(0..RANDOM_SPACE)),
    };
    let mut body = [b'0'; 14];
    let (mut t, mut r) = (t, r);
    for i in (0..TIME_CHARS).rev() {
        body[i] = ALPHABET[(t % 62) as usize];
        t /= 62;
    }
    for i in (TIME_CHARS..14).rev() {
        body[i] = ALPHABET[(r % 62) as usize];
        r /= 62;
    }
    body
}

/// The (time, random part) after `last`, at `now`: a fresh random part in
/// a later millisecond, else `last`'s plus `step`, carrying into the next
/// millisecond when the random part would overflow.
fn advance(last: (u64, u64), now: u64, fresh: u64, step: u64) -> (u64, u64) {
    if now > last.0 {
        (now, fresh)
    } else if last.1 + step < RANDOM_SPACE {
        (last.0, last.1 + step)
    } else {
        (last.0 + 1, fresh)
    }
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

            /// A new id made at `unix_ms` (its time part, or slightly
            /// later: ids this process makes sort in the order they were
            /// made, see `next_body`).
            pub fn at(unix_ms: i64) -> Self {
                let mut out = [0u8; ID_LEN];
                out[..3].copy_from_slice($prefix.as_bytes());
                out[3..].copy_from_slice(&next_body(unix_ms, &mut rand::rng()));
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
    fn ids_made_in_one_millisecond_still_sort_in_making_order() {
        let ids: Vec<RecordId> = (0..10_000).map(|_| RecordId::new()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids out of order");
        // Across threads too: each thread's ids increase, none repeats.
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..2_000).map(|_| TableId::new()).collect::<Vec<_>>()))
            .collect();
        let mut all = std::collections::HashSet::new();
        for t in threads {
            let ids = t.join().unwrap();
            assert!(ids.windows(2).all(|w| w[0] < w[1]));
            all.extend(ids);
        }
        assert_eq!(all.len(), 8_000);
    }

    #[test]
    fn the_random_part_steps_within_a_millisecond_and_carries_over() {
        assert_eq!(
            advance((5, 100), 6, 7, 3),
            (6, 7),
            "a later millisecond starts fresh"
        );
        assert_eq!(
            advance((5, 100), 5, 7, 3),
            (5, 103),
            "same millisecond: a step"
        );
        assert_eq!(
            advance((5, 100), 4, 7, 3),
            (5, 103),
            "the clock stepped back"
        );
        assert_eq!(
            advance((5, RANDOM_SPACE - 2), 5, 7, 3),
            (6, 7),
            "overflow carries into the time part"
        );
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
