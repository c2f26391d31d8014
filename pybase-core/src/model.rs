//! The domain model: users, workspaces, bases, tables, fields, records, views,
//! API keys and attachments.
//!
//! These are plain data; rules live in [`crate::facade`] and storage in
//! [`crate::store`]. Timestamps are UTC.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::fields::FieldType;
use crate::ids::{
    ApiKeyId, AttachmentId, BaseId, FieldId, RecordId, TableId, UserId, ViewId, WorkspaceId,
};
use crate::query::ViewConfig;
use crate::role::{Role, Scope};

/// Time in UTC.
pub type Timestamp = DateTime<Utc>;

/// Cells of a record keyed by field id (as a string). Empty cells are absent.
pub type Cells = Map<String, Value>;

/// A person who can sign in. Never carries the password hash.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Email, stored lowercased; unique.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Creation time.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// Last change time.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

/// A workspace: the unit of membership and permissions.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workspace {
    /// Id.
    pub id: WorkspaceId,
    /// Display name.
    pub name: String,
    /// URL-friendly unique name.
    pub slug: String,
    /// Optional description.
    pub description: Option<String>,
    /// Creation time.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// Last change time.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

/// A user's membership in a workspace.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// The member.
    pub user: User,
    /// Their role.
    pub role: Role,
    /// When they joined.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
}

/// A base: a group of related tables inside a workspace.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Base {
    /// Id.
    pub id: BaseId,
    /// Owning workspace.
    pub workspace_id: WorkspaceId,
    /// Display name.
    pub name: String,
    /// Optional description.
    pub description: Option<String>,
    /// Creation time.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// Last change time.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

/// The key under which table (and field) names are unique ignoring case:
/// the name lowercased by Rust's rules (`str::to_lowercase`), so the
/// comparison does not depend on a database's locale. Stores keep it with
/// each table (`tables.name_key`) and look names up by it.
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// A table of a base.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// Id.
    pub id: TableId,
    /// Owning base.
    pub base_id: BaseId,
    /// Workspace of the base (denormalised: tables never move).
    pub workspace_id: WorkspaceId,
    /// Display name, unique in the base ignoring case ([`name_key`]).
    pub name: String,
    /// Optional description.
    pub description: Option<String>,
    /// The field that names records; `None` only while a table has no fields.
    pub primary_field_id: Option<FieldId>,
    /// Order among the base's tables.
    pub position: i64,
    /// Creation time.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// Last change time.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

/// A typed column of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Id; cells are keyed by it so renames never lose data.
    pub id: FieldId,
    /// Owning table.
    pub table_id: TableId,
    /// Name, unique in the table ignoring case.
    pub name: String,
    /// Optional description.
    pub description: Option<String>,
    /// Type and options.
    pub field_type: FieldType,
    /// Order among the table's fields.
    pub position: i64,
    /// Whether the backends keep an index on this field's cells.
    pub indexed: bool,
    /// Who decided `indexed`: the schema's author, or PyBase from the
    /// queries actually run; `Declined` keeps PyBase from indexing again.
    pub index_origin: IndexOrigin,
    /// Whether the cells are current (`Ready`), or a computed field is
    /// being filled in the background (`Computing`: its cells read as
    /// empty until the fill is done). Stores write it when a field is
    /// created and through the fill's own methods, never on a field update.
    pub status: FieldStatus,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change time.
    pub updated_at: Timestamp,
}

/// Whether a field's cells are current (API.md: `status` on the field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FieldStatus {
    /// The cells are current.
    #[default]
    Ready,
    /// A background fill is computing the cells of this computed field;
    /// they read as empty until it is done.
    Computing,
}

impl FieldStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Computing => "computing",
        }
    }

    /// The status of a stored name (unknown names read as `Ready`).
    pub fn parse(name: &str) -> Self {
        match name {
            "computing" => Self::Computing,
            _ => Self::Ready,
        }
    }
}

/// Who decided whether a field is indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum IndexOrigin {
    /// As declared by whoever wrote the schema (`indexed` set or left false).
    #[default]
    Manual,
    /// Indexed by PyBase because queries or views filter or sort by it;
    /// `indexed: false` reverses it for good.
    Automatic,
    /// The index was turned off with `indexed: false`: PyBase does not add
    /// it again on its own (`indexed: true` turns it back on).
    Declined,
}

impl IndexOrigin {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Automatic => "automatic",
            Self::Declined => "declined",
        }
    }

    /// The origin of a stored name (unknown names read as `Manual`).
    pub fn parse(name: &str) -> Self {
        match name {
            "automatic" => Self::Automatic,
            "declined" => Self::Declined,
            _ => Self::Manual,
        }
    }
}

/// A row of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Id.
    pub id: RecordId,
    /// Owning table.
    pub table_id: TableId,
    /// Cells keyed by field id; computed fields are not stored here.
    pub cells: Cells,
    /// Per-table sequence number, given at creation.
    pub autonumber: i64,
    /// Creator, if a user created it.
    pub created_by: Option<UserId>,
    /// Last writer, if a user changed it.
    pub updated_by: Option<UserId>,
    /// Creation time.
    pub created_time: Timestamp,
    /// Last change time.
    pub updated_time: Timestamp,
    /// Set when the record is soft-deleted.
    pub deleted_time: Option<Timestamp>,
}

impl Record {
    /// A record of `table` holding only `cells`: no autonumber, users or
    /// deletion, its times the epoch (for code that reads only its cells,
    /// such as the link partners of a new record or a snapshot's cells).
    pub fn bare(table: TableId, id: RecordId, cells: Cells) -> Self {
        Self {
            id,
            table_id: table,
            cells,
            autonumber: 0,
            created_by: None,
            updated_by: None,
            created_time: chrono::DateTime::UNIX_EPOCH,
            updated_time: chrono::DateTime::UNIX_EPOCH,
            deleted_time: None,
        }
    }
}

/// The kind of a view. Only grids exist so far.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViewType {
    /// A spreadsheet-like grid.
    Grid,
}

/// A saved way of looking at a table.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    /// Id.
    pub id: ViewId,
    /// Owning table.
    pub table_id: TableId,
    /// Display name.
    pub name: String,
    /// Kind of view.
    #[cfg_attr(feature = "openapi", schema(rename = "type"))]
    pub view_type: ViewType,
    /// Stored filter, sort, hidden fields and field order (by field id).
    pub config: ViewConfig,
    /// Order among the table's views.
    pub position: i64,
    /// Creation time.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// Last change time.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

/// An API key's metadata; the secret itself is never stored.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Id.
    pub id: ApiKeyId,
    /// Owner; the key can never do more than this user.
    pub user_id: UserId,
    /// Display name.
    pub name: String,
    /// Non-secret leading characters of the key, used to find it.
    pub prefix: String,
    /// What the key may do (intersected with the owner's role).
    pub scopes: Vec<Scope>,
    /// Workspaces the key is limited to; `None` means all of the user's.
    pub workspaces: Option<Vec<WorkspaceId>>,
    /// Creation time.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// Expiry, if any.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expires_at: Option<Timestamp>,
    /// Last successful use (updated at most once a minute).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub last_used_at: Option<Timestamp>,
}

/// An uploaded file's metadata; the bytes live in object storage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// Id.
    pub id: AttachmentId,
    /// Table it was uploaded to (reading it needs read access to that table).
    pub table_id: TableId,
    /// Original file name.
    pub filename: String,
    /// MIME type.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    /// Key of the bytes in the object store.
    pub storage_key: String,
    /// Uploader.
    pub created_by: Option<UserId>,
    /// Upload time.
    pub created_at: Timestamp,
}
