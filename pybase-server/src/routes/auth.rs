//! Sign-up, sign-in, tokens, the caller's profile and password resets.

use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use pybase_core::auth::{NewUser, Session};
use pybase_core::model::User;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::extract::{Authenticated, ClientAddr, Created, Json};
use crate::openapi::responses::{
    Conflict, Forbidden, Invalid, Malformed, TooManyAttempts, Unauthorized, WrongContentType,
};
use crate::state::AppState;

/// Auth routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me, update_me))
        .routes(routes!(change_password))
        .routes(routes!(reset_request))
        .routes(routes!(reset_confirm))
}

#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", operation_id = "register",
    request_body = NewUser,
    responses(
        (status = 201, description = "account created and signed in", body = Session),
        Malformed, Conflict, WrongContentType, Invalid, TooManyAttempts,
    ))]
pub(crate) async fn register(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Json(new): Json<NewUser>,
) -> Result<Created<Session>, ApiError> {
    Ok(Created(state.auth.register(new, client.as_deref()).await?))
}

/// JSON sign-in body. Other members are ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginJson {
    /// Email (any case).
    #[schema(max_length = 254)]
    pub email: String,
    /// Password.
    #[schema(max_length = 256)]
    pub password: String,
}

/// OAuth2 password-flow form (what Swagger UI's Authorize sends).
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginForm {
    /// The email (any case).
    #[schema(max_length = 254)]
    pub username: String,
    /// The password.
    #[schema(max_length = 256)]
    pub password: String,
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", operation_id = "login",
    request_body(content(
        (LoginJson = "application/json"),
        (LoginForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "signed in", body = Session),
        (status = 401, description = "wrong email or password (same answer for both)", body = crate::error::ErrorBody),
        Malformed, WrongContentType, Invalid, TooManyAttempts,
    ))]
pub(crate) async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    req: Request,
) -> Result<axum::Json<Session>, ApiError> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let (email, password) = if is_form {
        let axum::Form(f) = axum::Form::<LoginForm>::from_request(req, &state).await?;
        (f.username, f.password)
    } else {
        let Json(j) = Json::<LoginJson>::from_request(req, &state).await?;
        (j.email, j.password)
    };
    let session = state
        .auth
        .login(&email, &password, client.as_deref())
        .await?;
    Ok(axum::Json(session))
}

/// A refresh token in a body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    /// The refresh token.
    pub refresh_token: String,
}

#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", operation_id = "refresh_tokens",
    request_body = RefreshBody,
    responses(
        (status = 200, description = "a new access and refresh token; the old refresh token is spent", body = Session),
        (status = 401, description = "invalid, expired or spent refresh token (a spent one revokes its family)", body = crate::error::ErrorBody),
        Malformed, Invalid,
    ))]
pub(crate) async fn refresh(
    State(state): State<AppState>,
    Json(body): Json<RefreshBody>,
) -> Result<axum::Json<Session>, ApiError> {
    Ok(axum::Json(state.auth.refresh(&body.refresh_token).await?))
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", operation_id = "logout",
    request_body = RefreshBody,
    responses(
        (status = 204, description = "the token's whole family is revoked"),
        Malformed, Unauthorized, Invalid,
    ))]
pub(crate) async fn logout(
    State(state): State<AppState>,
    Json(body): Json<RefreshBody>,
) -> Result<StatusCode, ApiError> {
    state.auth.logout(&body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", operation_id = "get_me",
    responses(
        (status = 200, description = "the signed-in user", body = User),
        Unauthorized, Forbidden,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn me(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
) -> Result<Json<User>, ApiError> {
    Ok(Json(state.auth.me(&p).await?))
}

/// `PATCH /auth/me` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    /// New display name; absent or `null` changes nothing.
    #[schema(value_type = Option<pybase_core::openapi::UserName>)]
    pub name: Option<String>,
}

#[utoipa::path(patch, path = "/api/v1/auth/me", tag = "auth", operation_id = "update_me",
    request_body = UpdateMe,
    responses(
        (status = 200, description = "the updated user", body = User),
        Unauthorized, Forbidden, Invalid,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn update_me(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Json(body): Json<UpdateMe>,
) -> Result<Json<User>, ApiError> {
    match body.name {
        Some(name) => Ok(Json(state.auth.update_me(&p, &name).await?)),
        None => Ok(Json(state.auth.me(&p).await?)),
    }
}

/// `POST /auth/change-password` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    /// The password in use; 403 when it does not match.
    #[schema(max_length = 256)]
    pub current_password: String,
    /// The new password, different from the current one.
    #[schema(value_type = pybase_core::openapi::NewPassword)]
    pub new_password: String,
}

#[utoipa::path(post, path = "/api/v1/auth/change-password", tag = "auth", operation_id = "change_password",
    request_body = ChangePassword,
    responses(
        (status = 204, description = "changed; every session of the user is revoked"),
        (status = 403, description = "the current password does not match, or an API key without the admin scope or with a workspace limit", body = crate::error::ErrorBody),
        Unauthorized, Invalid, TooManyAttempts,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn change_password(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Json(body): Json<ChangePassword>,
) -> Result<StatusCode, ApiError> {
    state
        .auth
        .change_password(&p, &body.current_password, &body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /auth/password-reset/request` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    /// The account's email (any case).
    #[schema(max_length = 254)]
    pub email: String,
}

#[utoipa::path(post, path = "/api/v1/auth/password-reset/request", tag = "auth", operation_id = "request_password_reset",
    request_body = ResetRequest,
    responses(
        (status = 202, description = "accepted, whether or not the email exists"),
        Malformed, Invalid, TooManyAttempts,
    ))]
pub(crate) async fn reset_request(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Json(body): Json<ResetRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .auth
        .request_password_reset(&body.email, client.as_deref())
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// `POST /auth/password-reset/confirm` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirm {
    /// The token from the reset message.
    pub token: String,
    /// The new password.
    #[schema(value_type = pybase_core::openapi::NewPassword)]
    pub new_password: String,
}

#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "auth", operation_id = "confirm_password_reset",
    request_body = ResetConfirm,
    responses(
        (status = 204, description = "password set; the token is spent"),
        (status = 401, description = "unknown, spent or expired token", body = crate::error::ErrorBody),
        Malformed, Invalid, TooManyAttempts,
    ))]
pub(crate) async fn reset_confirm(
    State(state): State<AppState>,
    Json(body): Json<ResetConfirm>,
) -> Result<StatusCode, ApiError> {
    state
        .auth
        .confirm_password_reset(&body.token, &body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
