//! Inputs of facade operations, shaped like the API's JSON bodies.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::role::Role;

/// A new workspace.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWorkspace {
    /// Display name (1 to 255 characters).
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::Name))]
    pub name: String,
    /// URL-friendly unique name; derived from the name when absent.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Slug>))]
    #[serde(default)]
    pub slug: Option<String>,
    /// Optional description.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Description>))]
    #[serde(default)]
    pub description: Option<String>,
}

/// Changes to a workspace; absent members stay as they are.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "`PATCH /workspaces/{id}` body; absent (or `null`) members stay.")
)]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspacePatch {
    /// New name.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Name>))]
    #[serde(default)]
    pub name: Option<String>,
    /// New slug.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Slug>))]
    #[serde(default)]
    pub slug: Option<String>,
    /// New description (`null` clears it).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Description>))]
    #[serde(default, deserialize_with = "double_option")]
    pub description: Option<Option<String>>,
}

/// A new base.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBase {
    /// Display name.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::Name))]
    pub name: String,
    /// Optional description.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Description>))]
    #[serde(default)]
    pub description: Option<String>,
}

/// Changes to a base.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "`PATCH /bases/{id}` body; absent (or `null`) members stay.")
)]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasePatch {
    /// New name.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Name>))]
    #[serde(default)]
    pub name: Option<String>,
    /// New description (`null` clears it).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Description>))]
    #[serde(default, deserialize_with = "double_option")]
    pub description: Option<Option<String>>,
}

/// A new field.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(
        description = "`POST /tables/{id}/fields` body. The options a type takes are stated per type (see `FieldOptions`)."
    )
)]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewField {
    /// Name, unique in the table ignoring case.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::Name))]
    pub name: String,
    /// Type name, e.g. `number`.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::FieldTypeName, example = "number"))]
    #[serde(rename = "type")]
    pub field_type: String,
    /// Type options.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::FieldOptions>))]
    #[serde(default)]
    pub options: Value,
    /// Optional description.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Description>))]
    #[serde(default)]
    pub description: Option<String>,
    /// Keep an index on the field's cells.
    #[serde(default)]
    pub indexed: bool,
}

/// Changes to a field. A new `type` converts every cell or fails as a whole.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(
        description = "`PATCH /fields/{id}` body; absent (or `null`) members stay. A new type takes the options stated for it (see `FieldOptions`)."
    )
)]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldPatch {
    /// New name (data is kept: cells are stored by field id).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Name>))]
    #[serde(default)]
    pub name: Option<String>,
    /// New type.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::FieldTypeName>))]
    #[serde(default, rename = "type")]
    pub field_type: Option<String>,
    /// New options (for the new type, if it changes).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::FieldOptions>))]
    #[serde(default)]
    pub options: Option<Value>,
    /// New description (`null` clears it).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Description>))]
    #[serde(default, deserialize_with = "double_option")]
    pub description: Option<Option<String>>,
    /// Keep an index on the field's cells.
    #[serde(default)]
    pub indexed: Option<bool>,
}

/// A new table, optionally with its fields.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(
        description = "`POST /bases/{id}/tables` body. `primary_field` and `primary_field_id` are one member under two names: give at most one."
    )
)]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTable {
    /// Display name.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::Name))]
    pub name: String,
    /// Optional description.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Description>))]
    #[serde(default)]
    pub description: Option<String>,
    /// Initial fields; a text field "Name" is created when empty.
    #[serde(default)]
    pub fields: Vec<NewField>,
    /// Name of the primary field among `fields` (default: the first).
    #[serde(default, alias = "primary_field_id")]
    pub primary_field: Option<String>,
}

/// Changes to a table.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(
        description = "`PATCH /tables/{id}` body; absent (or `null`) members stay. `primary_field_id` and `primary_field` are one member under two names: give at most one."
    )
)]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TablePatch {
    /// New name.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Name>))]
    #[serde(default)]
    pub name: Option<String>,
    /// New description (`null` clears it).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Description>))]
    #[serde(default, deserialize_with = "double_option")]
    pub description: Option<Option<String>>,
    /// New primary field (id or name).
    #[serde(default, alias = "primary_field")]
    pub primary_field_id: Option<String>,
}

/// A new view.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewView {
    /// Display name.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::Name))]
    pub name: String,
    /// View type; only `grid` exists.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::model::ViewType>))]
    #[serde(default, rename = "type")]
    pub view_type: Option<String>,
    /// `{"filter"?, "sort"?, "hidden_fields"?, "field_order"?}` with field
    /// names or ids.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::ViewConfigInput>))]
    #[serde(default)]
    pub config: Value,
}

/// Changes to a view.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "`PATCH /views/{id}` body; absent (or `null`) members stay.")
)]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewPatch {
    /// New name.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Name>))]
    #[serde(default)]
    pub name: Option<String>,
    /// New configuration (replaces the old one).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::ViewConfigInput>))]
    #[serde(default)]
    pub config: Option<Value>,
}

/// How record writes treat their input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Convert strings where it makes sense and create missing select choices.
    pub typecast: bool,
    /// How the returned records key their cells.
    pub field_key: super::render::FieldKey,
}

/// A records query, as the list and query endpoints take it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(
        description = "`POST /tables/{id}/records/query` body. Field references are names or ids of the table's fields (422 naming the one that is not)."
    )
)]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryInput {
    /// Filter JSON (`{"and":[..]}`, `{"field","op","value"}`, ...).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Filter>))]
    #[serde(default)]
    pub filter: Option<Value>,
    /// `"-Price,Name"` or `[{"field","direction"}]`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Sort>))]
    #[serde(default)]
    pub sort: Option<Value>,
    /// Only these fields in the output (names or ids).
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// Records per page (1 to 1000, default 100).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    #[serde(default)]
    pub page_size: Option<usize>,
    /// Cursor from the previous page.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_-]+$"))]
    #[serde(default)]
    pub cursor: Option<String>,
    /// A view whose filter (ANDed) and sort (unless `sort` is given) apply.
    #[serde(default)]
    pub view: Option<String>,
    /// Include soft-deleted records.
    #[serde(default)]
    pub include_deleted: bool,
    /// A filter in the formula language (`AND({Status}='doing', {Qty}>=21)`),
    /// ANDed with `filter` and the view's filter: a record is kept unless
    /// the formula gives 0, false, `""`, blank, an empty list or an error.
    #[serde(default)]
    pub formula: Option<String>,
}

/// A member to add by email.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    /// The user's email.
    pub email: String,
    /// The role to grant.
    pub role: Role,
}

/// Cells written by a client, keyed by field name or id.
pub type CellsInput = Map<String, Value>;

fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}
