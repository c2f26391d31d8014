//! Sort keys and the stored configuration of views.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::filter::Target;
use crate::ids::FieldId;

/// A sort key as a client writes it: a field name or id and a direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SortSpec {
    /// Field name or id.
    pub field: String,
    /// `true` for descending.
    pub desc: bool,
}

/// A resolved sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    /// What is compared (never a [`crate::fields::ValueKind::List`]).
    pub target: Target,
    /// `true` for descending. Empty cells come last either way.
    pub desc: bool,
}

/// A view's stored configuration. Fields are referenced by id so renames
/// never break a view.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = StoredViewConfig))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ViewConfig {
    /// Filter in the API's JSON shape, with field ids in place of names.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Filter>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Value>,
    /// Sort keys by field id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sort: Vec<StoredSort>,
    /// Fields the view hides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hidden_fields: Vec<FieldId>,
    /// Display order of fields (those not listed follow in table order).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub field_order: Vec<FieldId>,
}

/// One stored sort key of a view.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSort {
    /// The field sorted by.
    pub field: FieldId,
    /// `asc` or `desc`.
    pub direction: SortDirection,
}

/// A sort direction.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortDirection {
    /// Smallest first.
    Asc,
    /// Largest first.
    Desc,
}
