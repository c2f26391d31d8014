//! API key format and hashing.
//!
//! A key is `pbk_` followed by 48 URL-safe base64 characters (36 random
//! bytes). Its first 12 characters (`pbk_` + 8) are a non-secret prefix used
//! to find the stored row; only the SHA-256 of the whole key is stored, and
//! hashes are compared in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use subtle::ConstantTimeEq;

/// What every API key starts with.
pub const API_KEY_MARKER: &str = "pbk_";
/// Random bytes in a key.
const KEY_BYTES: usize = 36;
/// Length of the encoded random part (36 bytes are 48 characters, no padding).
const BODY_LEN: usize = KEY_BYTES / 3 * 4;
/// Length of the stored, non-secret lookup prefix (marker included).
pub const API_KEY_PREFIX_LEN: usize = API_KEY_MARKER.len() + 8;

/// A freshly generated key: the full secret and its lookup prefix.
pub(crate) struct GeneratedKey {
    /// The whole key, shown to the user once.
    pub(crate) secret: String,
    /// Its first [`API_KEY_PREFIX_LEN`] characters.
    pub(crate) prefix: String,
}

/// Generates a new random key.
pub(crate) fn generate() -> GeneratedKey {
    let mut bytes = [0u8; KEY_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{API_KEY_MARKER}{}", URL_SAFE_NO_PAD.encode(bytes));
    let prefix = secret[..API_KEY_PREFIX_LEN].to_owned();
    GeneratedKey { secret, prefix }
}

/// The lookup prefix of a well-formed key, or `None` when the string cannot
/// be a key (wrong marker, length or alphabet).
pub(crate) fn parse_prefix(key: &str) -> Option<&str> {
    let body = key.strip_prefix(API_KEY_MARKER)?;
    if body.len() != BODY_LEN
        || !body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    Some(&key[..API_KEY_PREFIX_LEN])
}

/// Lowercase hex SHA-256 of a string: how keys and tokens are stored.
pub(crate) fn sha256_hex(s: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(s.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
    }
    out
}

/// Constant-time equality of two stored hashes.
pub(crate) fn hashes_match(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let k = generate();
        assert!(k.secret.starts_with("pbk_"));
        assert_eq!(k.secret.len(), 4 + 48);
        assert_eq!(k.prefix.len(), 12);
        assert_eq!(parse_prefix(&k.secret), Some(k.prefix.as_str()));
        let decoded = URL_SAFE_NO_PAD.decode(&k.secret[4..]).unwrap();
        assert!(decoded.len() >= 32);
        assert_ne!(generate().secret, k.secret);
    }

    #[test]
    fn malformed_keys_have_no_prefix() {
        let k = generate().secret;
        assert_eq!(parse_prefix(&k[..k.len() - 1]), None);
        assert_eq!(parse_prefix(&format!("{k}A")), None);
        assert_eq!(parse_prefix(&k.replacen("pbk_", "pbx_", 1)), None);
        let bad_char = format!("{}+{}", &k[..20], &k[21..]);
        assert_eq!(parse_prefix(&bad_char), None);
        assert_eq!(parse_prefix("pbk_"), None);
        assert_eq!(parse_prefix(""), None);
        // Multi-byte characters never panic on slicing.
        assert_eq!(parse_prefix(&format!("pbk_{}", "é".repeat(24))), None);
    }

    #[test]
    fn sha256_hex_matches_known_vector() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(hashes_match(&sha256_hex("x"), &sha256_hex("x")));
        assert!(!hashes_match(&sha256_hex("x"), &sha256_hex("y")));
        assert!(!hashes_match("ab", "abc"));
    }
}
