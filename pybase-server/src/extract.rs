//! Extractors whose rejections answer in the API's error shape, and the
//! authentication extractors.

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pybase_core::Principal;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON body (in) or answer (out). Malformed JSON is 400, a wrong
/// content type 415, a too-large body 413, a wrong shape 422 naming the field.
/// A body must be a JSON object: serde would otherwise read a struct from an
/// array (`[null, null]` as every member absent), which no document allows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // The usual request (`Content-Type: application/json`, a valid
        // body) is parsed by serde_json alone: axum's extractor wraps every
        // step of the parse in serde_path_to_error to name the failing
        // field, which costs a tenth of a bulk create's instructions.
        // Anything else (another content type, an unreadable or invalid
        // body) takes axum's own path, so every rejection stays exactly
        // axum's, field path included.
        if !plain_json(req.headers()) {
            let axum::Json(ObjectOnly(v)) =
                axum::Json::<ObjectOnly<T>>::from_request(req, state).await?;
            return Ok(Self(v));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(JsonRejection::from)?;
        if let Ok(ObjectOnly(v)) = serde_json::from_slice::<ObjectOnly<T>>(&bytes) {
            return Ok(Self(v));
        }
        let axum::Json(ObjectOnly(v)) = axum::Json::<ObjectOnly<T>>::from_bytes(&bytes)?;
        Ok(Self(v))
    }
}

/// Whether the content type is exactly `application/json` (any case), the
/// one every JSON client sends; other JSON types (`+json`, parameters) are
/// left to axum's own check.
fn plain_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"application/json"))
}

/// Reads `T` from a JSON object only; any other JSON value is a data error
/// ("expected a JSON object").
struct ObjectOnly<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Object<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for Object<T> {
            type Value = T;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        d.deserialize_map(Object(PhantomData)).map(ObjectOnly)
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A `200` answer whose JSON text is already written (a page of records
/// rendered straight from the stored cells), sent as [`Json`] sends its
/// value.
#[derive(Debug, Clone)]
pub struct JsonText(pub Vec<u8>);

impl IntoResponse for JsonText {
    fn into_response(self) -> Response {
        (
            [(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            )],
            self.0,
        )
            .into_response()
    }
}

/// A JSON answer with `201 Created`.
#[derive(Debug, Clone, Copy)]
pub struct Created<T>(pub T);

impl<T: Serialize> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        (StatusCode::CREATED, axum::Json(self.0)).into_response()
    }
}

/// Path parameters. A segment that is not an id of the expected kind is 404:
/// it names nothing.
#[derive(Debug, Clone, Copy)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(v) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Self(v))
    }
}

/// Query-string parameters; a malformed query string is 400.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(v) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(v))
    }
}

/// A query-string number that may be sent empty (`?cursor=` from a client
/// that always sends the parameter): empty is absent, as on every list;
/// anything else must parse as `T`.
pub fn blank_as_none<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    use serde::Deserialize as _;
    use serde::de::Error as _;
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => s.parse().map(Some).map_err(D::Error::custom),
    }
}

/// The credential a request presents: `Authorization: Bearer <token>` (a
/// JWT access token or a `pbk_` API key) or `X-API-Key: <key>`.
///
/// `Ok(None)` when neither header is present; a present but malformed header
/// is an error, never "anonymous".
pub fn presented_credential(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| {
            tracing::debug!("authorization header is not ascii");
            ApiError::unauthorized()
        })?;
        let (scheme, token) = value.trim().split_once(' ').ok_or_else(|| {
            tracing::debug!("authorization header without a scheme");
            ApiError::unauthorized()
        })?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            tracing::debug!(scheme, "authorization header is not a bearer token");
            return Err(ApiError::unauthorized());
        }
        return Ok(Some(token.trim().to_owned()));
    }
    if let Some(value) = headers.get("x-api-key") {
        let key = value.to_str().map_err(|_| ApiError::unauthorized())?.trim();
        if key.is_empty() {
            return Err(ApiError::unauthorized());
        }
        return Ok(Some(key.to_owned()));
    }
    Ok(None)
}

/// The signed-in caller. Missing or invalid credentials answer one generic
/// 401; the reason is logged at debug level.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match MaybeAuthenticated::from_request_parts(parts, state).await? {
            MaybeAuthenticated(Some(p)) => Ok(Self(p)),
            MaybeAuthenticated(None) => {
                tracing::debug!("no credentials presented");
                Err(ApiError::unauthorized())
            }
        }
    }
}

/// The caller if credentials are presented, `None` if none are. Presented
/// but invalid credentials are a 401, never anonymous access.
#[derive(Debug, Clone)]
pub struct MaybeAuthenticated(pub Option<Principal>);

impl FromRequestParts<AppState> for MaybeAuthenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = presented_credential(&parts.headers)? else {
            return Ok(Self(None));
        };
        match state.auth.authenticate(&token).await {
            Ok(p) => Ok(Self(Some(p))),
            Err(pybase_core::Error::Unauthorized(reason)) => {
                tracing::debug!(%reason, "credentials rejected");
                Err(ApiError::unauthorized())
            }
            Err(other) => Err(other.into()),
        }
    }
}

/// The client's address for per-client limits: the peer, or what a trusted
/// proxy forwarded (see [`crate::client_ip`]); `None` when the server runs
/// without connection info (an embedding calling [`crate::app`] directly).
#[derive(Debug, Clone)]
pub struct ClientAddr(pub Option<String>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let client = crate::client_ip::client_of(peer, &parts.headers, &state.trusted_proxies);
        Ok(Self(client.map(|ip| ip.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn credentials_are_read_from_either_header() {
        assert_eq!(presented_credential(&headers(&[])).unwrap(), None);
        assert_eq!(
            presented_credential(&headers(&[("authorization", "Bearer abc")])).unwrap(),
            Some("abc".into())
        );
        assert_eq!(
            presented_credential(&headers(&[("x-api-key", "pbk_x")])).unwrap(),
            Some("pbk_x".into())
        );
        assert!(presented_credential(&headers(&[("authorization", "Basic abc")])).is_err());
        assert!(presented_credential(&headers(&[("authorization", "Bearer ")])).is_err());
    }
}
