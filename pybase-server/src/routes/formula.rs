//! The formula checker, for editors: `POST /tables/{id}/formula/check`.

use axum::extract::State;
use pybase_core::facade::FormulaCheck;
use pybase_core::ids::TableId;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::extract::{Authenticated, Json, Path};
use crate::openapi::responses::{Invalid, Malformed, ReadErrors};
use crate::state::AppState;

/// Formula routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(check))
}

/// `POST /tables/{id}/formula/check` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormulaCheckBody {
    /// The formula, fields by name (`{Qty} * {Price}`) or id.
    #[schema(example = "{Qty} * {Price}")]
    pub formula: String,
}

#[utoipa::path(post, path = "/api/v1/tables/{id}/formula/check", tag = "tables", operation_id = "check_formula",
    params(("id" = pybase_core::ids::TableId, Path, description = "table id")),
    request_body = FormulaCheckBody,
    responses(
        (status = 200, description = "the formula checks against the table's fields (viewer and above): its result type and the fields it reads; a formula that does not is 422 with `details.formula` = `{\"message\",\"start\",\"end\"}` (characters from 0, `end` exclusive)", body = FormulaCheck),
        ReadErrors, Malformed, Invalid,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn check(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(table): Path<TableId>,
    Json(body): Json<FormulaCheckBody>,
) -> Result<Json<FormulaCheck>, ApiError> {
    Ok(Json(
        state.pybase.check_formula(&p, table, &body.formula).await?,
    ))
}
