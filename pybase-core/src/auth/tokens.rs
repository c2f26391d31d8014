//! JWT access and refresh tokens.
//!
//! Both kinds are HMAC-signed JWTs with the claims `sub` (user id), `iat`,
//! `exp`, `jti`, `type` (`access` or `refresh`), `fam` (the session family)
//! and `iat_ms` (issue time in milliseconds, so revocation cut-offs are exact
//! within a second). Decoding pins the one configured algorithm, requires
//! every claim, checks the type, and checks `exp` against the injected clock
//! with no leeway.

use std::fmt;

use chrono::TimeZone;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::ids::UserId;
use crate::model::Timestamp;

/// The HMAC algorithm that signs tokens. Only HMAC is offered: one shared
/// secret, no key distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JwtAlgorithm {
    /// HMAC with SHA-256 (the default).
    #[default]
    Hs256,
    /// HMAC with SHA-384.
    Hs384,
    /// HMAC with SHA-512.
    Hs512,
}

impl JwtAlgorithm {
    fn to_jwt(self) -> Algorithm {
        match self {
            Self::Hs256 => Algorithm::HS256,
            Self::Hs384 => Algorithm::HS384,
            Self::Hs512 => Algorithm::HS512,
        }
    }
}

/// Which kind of token a JWT is; one is never accepted as the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TokenKind {
    /// Short-lived bearer token for API calls.
    Access,
    /// Long-lived token exchanged for a new pair at `/auth/refresh`.
    Refresh,
}

/// The claims PyBase puts into (and requires from) every JWT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Claims {
    /// The user id.
    pub(crate) sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub(crate) exp: i64,
    /// Issue time, seconds since the Unix epoch.
    pub(crate) iat: i64,
    /// Issue time in milliseconds, for exact revocation cut-offs.
    pub(crate) iat_ms: i64,
    /// Unique token id (for refresh tokens, the stored row's id).
    pub(crate) jti: String,
    /// Access or refresh.
    #[serde(rename = "type")]
    pub(crate) kind: TokenKind,
    /// Session family: every token issued from one login by rotation.
    pub(crate) fam: String,
}

impl Claims {
    /// Claims for a token of `kind` issued at `now`, living `ttl`.
    pub(crate) fn new(
        kind: TokenKind,
        user: UserId,
        family: &str,
        now: Timestamp,
        ttl: chrono::TimeDelta,
    ) -> Self {
        Self {
            sub: user.to_string(),
            exp: (now + ttl).timestamp(),
            iat: now.timestamp(),
            iat_ms: now.timestamp_millis(),
            jti: super::random_token(16),
            kind,
            fam: family.to_owned(),
        }
    }

    /// The user the token was issued to.
    pub(crate) fn user_id(&self) -> Option<UserId> {
        UserId::parse(&self.sub).ok()
    }

    /// The issue time.
    pub(crate) fn issued_at(&self) -> Option<Timestamp> {
        chrono::Utc.timestamp_millis_opt(self.iat_ms).single()
    }
}

/// Why a token was refused; never shown to clients (they get one generic
/// message), logged at debug level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenError {
    /// Not a JWT, bad signature, wrong algorithm, or missing/odd claims.
    Malformed,
    /// A valid token of the other kind.
    WrongKind,
    /// Past its `exp`.
    Expired,
}

/// Signs and verifies tokens with one secret and one pinned algorithm.
#[derive(Clone)]
pub(crate) struct TokenCodec {
    algorithm: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for TokenCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCodec")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl TokenCodec {
    /// A codec signing with `secret` under `algorithm`.
    pub(crate) fn new(secret: &[u8], algorithm: JwtAlgorithm) -> Self {
        let algorithm = algorithm.to_jwt();
        let mut validation = Validation::new(algorithm);
        validation.algorithms = vec![algorithm];
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 0;
        // `exp` is checked against the injected clock in `decode`.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        Self {
            algorithm,
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Signs `claims`.
    pub(crate) fn encode(&self, claims: &Claims) -> crate::Result<String> {
        jsonwebtoken::encode(&Header::new(self.algorithm), claims, &self.encoding)
            .map_err(|e| crate::Error::Internal(Box::new(e)))
    }

    /// Verifies `token` as a token of `kind` valid at `now`. With
    /// `allow_expired`, an authentic but expired token is accepted (logout).
    pub(crate) fn decode(
        &self,
        token: &str,
        kind: TokenKind,
        now: Timestamp,
        allow_expired: bool,
    ) -> Result<Claims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenError::Malformed)?;
        let claims = data.claims;
        if claims.user_id().is_none() || claims.issued_at().is_none() {
            return Err(TokenError::Malformed);
        }
        if claims.kind != kind {
            return Err(TokenError::WrongKind);
        }
        // RFC 7519: the token must not be accepted on or after `exp`.
        if !allow_expired && now.timestamp() >= claims.exp {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use chrono::TimeDelta;
    use proptest::prelude::*;

    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn codec() -> TokenCodec {
        TokenCodec::new(SECRET, JwtAlgorithm::Hs256)
    }

    fn now() -> Timestamp {
        chrono::Utc::now()
    }

    fn access(now: Timestamp) -> (Claims, String) {
        let c = Claims::new(
            TokenKind::Access,
            UserId::new(),
            "fam1",
            now,
            TimeDelta::minutes(30),
        );
        let t = codec().encode(&c).unwrap();
        (c, t)
    }

    #[test]
    fn roundtrip_checks_kind() {
        let now = now();
        let (claims, token) = access(now);
        assert_eq!(
            codec().decode(&token, TokenKind::Access, now, false),
            Ok(claims.clone())
        );
        assert_eq!(
            codec().decode(&token, TokenKind::Refresh, now, false),
            Err(TokenError::WrongKind)
        );
        let refresh = Claims::new(
            TokenKind::Refresh,
            UserId::new(),
            "fam1",
            now,
            TimeDelta::days(7),
        );
        let rt = codec().encode(&refresh).unwrap();
        assert_eq!(
            codec().decode(&rt, TokenKind::Access, now, false),
            Err(TokenError::WrongKind)
        );
        assert!(codec().decode(&rt, TokenKind::Refresh, now, false).is_ok());
    }

    #[test]
    fn expiry_is_checked_against_the_given_time_without_leeway() {
        let now = now();
        let (_, token) = access(now);
        let c = codec();
        let almost = now + TimeDelta::minutes(30) - TimeDelta::seconds(1);
        assert!(c.decode(&token, TokenKind::Access, almost, false).is_ok());
        let at_exp = now + TimeDelta::minutes(30);
        assert_eq!(
            c.decode(&token, TokenKind::Access, at_exp, false),
            Err(TokenError::Expired)
        );
        assert!(c.decode(&token, TokenKind::Access, at_exp, true).is_ok());
    }

    #[test]
    fn alg_none_is_rejected() {
        let now = now();
        let (claims, _) = access(now);
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}"),
        ] {
            assert_eq!(
                codec().decode(&token, TokenKind::Access, now, false),
                Err(TokenError::Malformed)
            );
        }
        // `alg: None` spelled the other way too.
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"None"}"#);
        let token = format!("{header}.{payload}.");
        assert!(
            codec()
                .decode(&token, TokenKind::Access, now, false)
                .is_err()
        );
    }

    #[test]
    fn wrong_signature_and_other_algorithms_are_rejected() {
        let now = now();
        let (claims, token) = access(now);
        let other = TokenCodec::new(
            b"another secret of at least 32 bytes!!",
            JwtAlgorithm::Hs256,
        );
        assert_eq!(
            other.decode(&token, TokenKind::Access, now, false),
            Err(TokenError::Malformed)
        );
        // Same secret, HS512: the pinned HS256 validation refuses it.
        let hs512 = TokenCodec::new(SECRET, JwtAlgorithm::Hs512);
        let t512 = hs512.encode(&claims).unwrap();
        assert!(hs512.decode(&t512, TokenKind::Access, now, false).is_ok());
        assert_eq!(
            codec().decode(&t512, TokenKind::Access, now, false),
            Err(TokenError::Malformed)
        );
        // Payload swapped under the original signature.
        let mut forged = claims.clone();
        forged.sub = UserId::new().to_string();
        let parts: Vec<&str> = token.split('.').collect();
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let token = format!("{}.{payload}.{}", parts[0], parts[2]);
        assert_eq!(
            codec().decode(&token, TokenKind::Access, now, false),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn missing_or_extra_claims_are_rejected() {
        let now = now();
        let header = Header::new(Algorithm::HS256);
        let key = EncodingKey::from_secret(SECRET);
        let exp = (now + TimeDelta::minutes(5)).timestamp();
        let sub = UserId::new().to_string();
        let no_type = serde_json::json!({
            "sub": sub, "exp": exp, "iat": 1, "iat_ms": 1000, "jti": "j", "fam": "f"
        });
        let no_exp = serde_json::json!({
            "sub": sub, "iat": 1, "iat_ms": 1000, "jti": "j", "fam": "f", "type": "access"
        });
        let bad_sub = serde_json::json!({
            "sub": "admin", "exp": exp, "iat": 1, "iat_ms": 1000, "jti": "j", "fam": "f", "type": "access"
        });
        let extra = serde_json::json!({
            "sub": sub, "exp": exp, "iat": 1, "iat_ms": 1000, "jti": "j", "fam": "f", "type": "access", "admin": true
        });
        for claims in [no_type, no_exp, bad_sub, extra] {
            let token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
            assert_eq!(
                codec().decode(&token, TokenKind::Access, now, false),
                Err(TokenError::Malformed),
                "{claims}"
            );
        }
    }

    proptest! {
        #[test]
        fn any_mutated_token_is_rejected(pos in any::<prop::sample::Index>(), replacement in any::<char>(), truncate in any::<bool>()) {
            let now = now();
            let (_, token) = access(now);
            let i = pos.index(token.len());
            let mutated = if truncate {
                token[..i].to_owned()
            } else {
                let mut s = token[..i].to_owned();
                s.push(replacement);
                s.push_str(&token[i + 1..]);
                s
            };
            prop_assume!(mutated != token);
            prop_assert!(codec().decode(&mutated, TokenKind::Access, now, false).is_err());
        }

        #[test]
        fn arbitrary_strings_never_decode(s in ".{0,300}") {
            prop_assert!(codec().decode(&s, TokenKind::Access, now(), false).is_err());
        }
    }
}
