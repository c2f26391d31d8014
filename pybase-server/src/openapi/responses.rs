//! Error responses shared by the operations' `#[utoipa::path]` annotations.
//!
//! Each status has one description for the whole API. An operation lists
//! its success row and then these types in `responses(...)`: a set such as
//! `WriteErrors`, plus single statuses where no set fits. An operation
//! whose answer for a status says more (login's 401) writes its own row and
//! lists no type covering that status.

use std::collections::BTreeMap;

use utoipa::IntoResponses;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

/// A response with `description` whose body is the error shape.
pub(crate) fn error_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

/// Declares one documented error status per type.
macro_rules! error_status {
    ($($(#[$doc:meta])* $name:ident = $status:literal, $description:literal;)+) => {$(
        $(#[$doc])*
        pub(crate) struct $name;

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                BTreeMap::from([(
                    $status.to_owned(),
                    RefOr::T(error_response($description)),
                )])
            }
        }
    )+};
}

/// Declares sets made of the statuses (or sets) they name.
macro_rules! error_set {
    ($($(#[$doc:meta])* $name:ident = $($part:ident)|+;)+) => {$(
        $(#[$doc])*
        pub(crate) struct $name;

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                let mut all = BTreeMap::new();
                $(all.append(&mut $part::responses());)+
                all
            }
        }
    )+};
}

error_status! {
    /// 400: the request cannot be read.
    Malformed = "400", "malformed request";
    /// 401: no caller.
    Unauthorized = "401", "missing or invalid credentials";
    /// 403: the caller may not do this.
    Forbidden = "403", "the role or key scope is too low";
    /// 403: a signed link whose signature does not match, or expired.
    SignedLinkRefused = "403", "the link's signature does not match, or it expired";
    /// 404: nothing the caller can see.
    NotFound = "404", "missing, or not visible to the caller";
    /// 409: a uniqueness or integrity rule says no.
    Conflict = "409", "would break a uniqueness or integrity rule";
    /// 413: the body is too large.
    TooLarge = "413", "body larger than allowed";
    /// 415: the body's content type is not accepted.
    WrongContentType = "415", "wrong content type";
    /// 422: a value is invalid.
    Invalid = "422", "validation failed; `details.fields` names each field";
    /// 429: rate limited.
    TooManyAttempts = "429", "too many attempts; see `Retry-After`";
    /// 503: object storage is unreachable.
    StorageUnavailable = "503", "object storage is unavailable; retry later";
}

error_set! {
    /// Reading something by id: 401, 404.
    ReadErrors = Unauthorized | NotFound;
    /// Acting on something by id without a body (delete, restore): 401,
    /// 403, 404.
    DeleteErrors = Unauthorized | Forbidden | NotFound;
    /// Writing to something by id: 401, 403, 404, 422.
    WriteErrors = DeleteErrors | Invalid;
    /// A write that a name, slug or membership rule can refuse: 401, 403,
    /// 404, 409, 422.
    ConflictWriteErrors = WriteErrors | Conflict;
    /// A delete that an integrity rule can refuse (the primary field, the
    /// last owner): 401, 403, 404, 409.
    ConflictDeleteErrors = DeleteErrors | Conflict;
}
