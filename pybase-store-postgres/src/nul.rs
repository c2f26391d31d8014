//! Storing NUL characters in JSONB strings.
//!
//! PostgreSQL's text and JSONB cannot hold U+0000, which core accepts in
//! cells. Strings in cells are therefore stored with an escape: U+0000 as
//! U+0001 U+0001 and U+0001 as U+0001 U+0002. The code is injective and
//! prefix-free and keeps byte order (an escape starts with the smallest byte
//! left), so equality, byte-order comparisons and `starts_with` work on the
//! stored form unchanged. Only `contains` with a needle that begins with
//! U+0000 or U+0001 can see a false match straddling an escape.

use std::borrow::Cow;

use serde_json::Value;

const ESC: char = '\u{1}';

fn needs_escape(s: &str) -> bool {
    s.bytes().any(|b| b <= 1)
}

/// The stored form of a string.
pub(crate) fn encode_str(s: &str) -> Cow<'_, str> {
    if !needs_escape(s) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        match c {
            '\u{0}' => out.push_str("\u{1}\u{1}"),
            ESC => out.push_str("\u{1}\u{2}"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn decode_str(s: &str) -> Option<String> {
    if !s.contains(ESC) {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == ESC {
            match chars.next() {
                Some('\u{1}') => out.push('\u{0}'),
                Some('\u{2}') => out.push(ESC),
                // Not written by this crate: keep as is.
                Some(other) => {
                    out.push(ESC);
                    out.push(other);
                }
                None => out.push(ESC),
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// Escapes every string inside `value` (keys are field ids and need none).
pub(crate) fn encode_value(value: &mut Value) {
    match value {
        Value::String(s) => {
            if let Cow::Owned(e) = encode_str(s) {
                *s = e;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(encode_value),
        Value::Object(map) => map.values_mut().for_each(encode_value),
        _ => {}
    }
}

/// Undoes [`encode_value`].
pub(crate) fn decode_value(value: &mut Value) {
    match value {
        Value::String(s) => {
            if let Some(d) = decode_str(s) {
                *s = d;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(decode_value),
        Value::Object(map) => map.values_mut().for_each(decode_value),
        _ => {}
    }
}

/// An encoded copy of `value`.
pub(crate) fn encoded(value: &Value) -> Value {
    let mut v = value.clone();
    encode_value(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn alphabet() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just('\u{0}'),
                Just('\u{1}'),
                Just('\u{2}'),
                Just('a'),
                Just('B'),
                Just('é')
            ],
            0..8,
        )
        .prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #[test]
        fn round_trips(s in alphabet()) {
            let mut v = Value::String(s.clone());
            encode_value(&mut v);
            let has_nul = v.as_str().unwrap_or_default().contains('\u{0}');
            prop_assert!(!has_nul, "NUL left in the stored form");
            decode_value(&mut v);
            prop_assert_eq!(v, Value::String(s));
        }

        #[test]
        fn keeps_byte_order_and_prefixes(a in alphabet(), b in alphabet()) {
            let (ea, eb) = (encode_str(&a), encode_str(&b));
            prop_assert_eq!(a.as_bytes().cmp(b.as_bytes()), ea.as_bytes().cmp(eb.as_bytes()));
            prop_assert_eq!(a.starts_with(b.as_str()), ea.starts_with(eb.as_ref()));
        }
    }
}
