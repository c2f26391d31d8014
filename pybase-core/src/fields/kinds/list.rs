//! The id-list family: attachments and links, whose cells are lists of ids
//! of other rows.
//!
//! Only the shape and the id syntax are checked here; whether the attachments
//! and records exist is the facade's business (it reads
//! [`Kind::references`]).

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::fields::cell::{CellError, expected};
use crate::fields::kind::{
    Kind, KindInfo, Options, OptionsError, Reference, RenderContext, Storage, ValueKind, opt_err,
    optionless_kind_info,
};
use crate::fields::options_schema as os;
use crate::fields::registry::FieldType;
use crate::ids::{AttachmentId, FieldId, IdParseError, RecordId, TableId};

/// An id operand as its canonical text, or what was wrong with it.
fn id_operand<T: std::fmt::Display>(parsed: Result<T, IdParseError>) -> Result<String, String> {
    parsed.map(|id| id.to_string()).map_err(|e| e.to_string())
}

/// The items of a raw list value (0 for anything else).
#[expect(
    clippy::unnecessary_wraps,
    reason = "the shape of Kind::raw_items, shared by both id-list types"
)]
fn list_len(value: &Value) -> Option<usize> {
    Some(value.as_array().map_or(0, Vec::len))
}

/// A list of uploaded attachments of the field's table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attachment;

optionless_kind_info!(Attachment, "attachment");

impl Kind for Attachment {
    fn options_json(&self) -> Value {
        json!({})
    }

    fn storage(&self) -> Storage {
        Storage::Cell(ValueKind::List)
    }

    fn validate(&self, value: &Value, _typecast: bool) -> Result<Option<Value>, CellError> {
        attachments(value)
    }

    fn sample_inputs(&self) -> Vec<Value> {
        Vec::new()
    }

    fn accepts_other_types(&self) -> bool {
        false
    }

    fn converts_only_to_text(&self) -> bool {
        true
    }

    fn list_operand(&self, item: &str, _: &Value) -> Result<String, String> {
        id_operand(AttachmentId::parse(item))
    }

    fn references(&self) -> Option<Reference> {
        Some(Reference::Attachments)
    }

    fn raw_items(&self, value: &Value) -> Option<usize> {
        list_len(value)
    }

    fn renders_as_stored(&self) -> bool {
        false
    }

    fn render_owned(&self, cell: Value, ctx: &dyn RenderContext) -> Value {
        match cell {
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .filter_map(|s| AttachmentId::parse(s).ok())
                    .filter_map(|id| ctx.attachment(id))
                    .collect(),
            ),
            other => other,
        }
    }
}

/// Links to records of another (or the same) table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The table whose records this field links to.
    pub linked_table_id: TableId,
    /// Whether more than one record may be linked.
    pub allow_multiple: bool,
    /// The field of the linked table kept in step with this one (a
    /// two-way link), if any. Set by the facade, never by clients.
    pub inverse_field_id: Option<FieldId>,
    /// Whether creating this field should create its inverse (the write
    /// option `two_way`, default `true`); not stored or shown.
    pub two_way: bool,
}

impl Link {
    /// A link to `table` without an inverse (yet).
    pub fn to(table: TableId, allow_multiple: bool) -> Self {
        Self {
            linked_table_id: table,
            allow_multiple,
            inverse_field_id: None,
            two_way: true,
        }
    }
}

impl KindInfo for Link {
    const NAME: &'static str = "link";
    const OPTION_KEYS: &'static [&'static str] = &[
        "linked_table_id",
        "allow_multiple",
        "inverse_field_id",
        "two_way",
    ];

    fn parse(options: &Options<'_>) -> Result<Self, OptionsError> {
        let linked_table_id = match options.map().get("linked_table_id") {
            Some(Value::String(s)) => {
                TableId::parse(s).map_err(|e| opt_err(format!("option linked_table_id: {e}")))?
            }
            _ => return Err(opt_err("option linked_table_id (a table id) is required")),
        };
        let inverse_field_id = match options.map().get("inverse_field_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(
                FieldId::parse(s).map_err(|e| opt_err(format!("option inverse_field_id: {e}")))?,
            ),
            Some(_) => return Err(opt_err("option inverse_field_id: expected a field id")),
        };
        Ok(Self {
            linked_table_id,
            allow_multiple: options.boolean("allow_multiple", true)?,
            inverse_field_id,
            two_way: options.boolean("two_way", true)?,
        })
    }

    fn examples(linked_table: TableId) -> Vec<Self> {
        vec![Self::to(linked_table, true), Self::to(linked_table, false)]
    }

    fn options_schema() -> Value {
        os::object_requiring(
            json!({
                "linked_table_id": {
                    "type": "string",
                    "pattern": crate::patterns::id_pattern("tbl"),
                    "description": "A table of the same base (404 otherwise).",
                },
                "allow_multiple": { "type": ["boolean", "null"] },
                "inverse_field_id": {
                    "type": ["string", "null"],
                    "pattern": crate::patterns::id_pattern("fld"),
                    "description": "Read only: the field of the linked table kept in step with this one (ignored on writes).",
                },
                "two_way": {
                    "type": ["boolean", "null"],
                    "description": "Write only, on creation: false makes a one-way link (no inverse field).",
                },
            }),
            &["linked_table_id"],
        )
    }
}

impl Kind for Link {
    fn options_json(&self) -> Value {
        let mut out = json!({ "linked_table_id": self.linked_table_id, "allow_multiple": self.allow_multiple });
        if let (Some(id), Value::Object(m)) = (self.inverse_field_id, &mut out) {
            m.insert("inverse_field_id".into(), json!(id));
        }
        out
    }

    fn storage(&self) -> Storage {
        Storage::Cell(ValueKind::List)
    }

    fn validate(&self, value: &Value, typecast: bool) -> Result<Option<Value>, CellError> {
        links(value, typecast, self.allow_multiple)
    }

    fn sample_inputs(&self) -> Vec<Value> {
        Vec::new()
    }

    fn accepts_other_types(&self) -> bool {
        false
    }

    fn converts_only_to_text(&self) -> bool {
        true
    }

    fn keeps_cells_of(&self, old: &FieldType) -> Result<(), String> {
        match old.references() {
            Some(Reference::Records(table)) if table != self.linked_table_id => {
                Err("the linked records belong to another table".into())
            }
            _ => Ok(()),
        }
    }

    fn list_operand(&self, item: &str, _: &Value) -> Result<String, String> {
        id_operand(RecordId::parse(item))
    }

    fn references(&self) -> Option<Reference> {
        Some(Reference::Records(self.linked_table_id))
    }

    fn raw_items(&self, value: &Value) -> Option<usize> {
        list_len(value)
    }

    /// Links to soft-deleted records are left out (they come back when the
    /// record is restored: the stored cell keeps them).
    fn renders_as_stored(&self) -> bool {
        false
    }

    fn render_owned(&self, cell: Value, ctx: &dyn RenderContext) -> Value {
        match cell {
            Value::Array(mut items) => {
                items.retain(|item| {
                    item.as_str()
                        .and_then(|s| RecordId::parse(s).ok())
                        .is_none_or(|id| !ctx.record_gone(id))
                });
                Value::Array(items)
            }
            other => other,
        }
    }
}

/// The id text of one list item: a string, or an object with a string `id`
/// (what a client read back from a record, other keys ignored).
pub(crate) fn item_id(item: &Value) -> Option<&str> {
    match item {
        Value::String(s) => Some(s),
        Value::Object(o) => o.get("id").and_then(Value::as_str),
        _ => None,
    }
}

/// Parses every item of `items` with `parse`, deduplicating in first-seen
/// order. `what` names the expected list in errors.
fn id_list(
    items: &[Value],
    given: &Value,
    what: &str,
    parse: impl Fn(&str) -> Result<String, IdParseError>,
) -> Result<Vec<String>, CellError> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    let mut seen: HashSet<String> = HashSet::with_capacity(items.len());
    for item in items {
        let id = item_id(item)
            .ok_or_else(|| expected(what, given))
            .and_then(|s| {
                parse(s).map_err(|e| {
                    let article = if e.kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
                        "an"
                    } else {
                        "a"
                    };
                    let what = format!(
                        "{article} {} id ({} followed by 14 letters or digits)",
                        e.kind, e.prefix
                    );
                    expected(&what, item)
                })
            })?;
        if seen.insert(id.clone()) {
            out.push(id);
        }
    }
    Ok(out)
}

fn stored(ids: Vec<String>) -> Option<Value> {
    (!ids.is_empty()).then(|| Value::Array(ids.into_iter().map(Value::String).collect()))
}

fn attachments(value: &Value) -> Result<Option<Value>, CellError> {
    const WHAT: &str = "a list of attachments ({\"id\": \"att...\"} or \"att...\")";
    let Value::Array(items) = value else {
        return Err(expected(WHAT, value));
    };
    let ids = id_list(items, value, WHAT, |s| {
        AttachmentId::parse(s).map(|id| id.to_string())
    })?;
    Ok(stored(ids))
}

fn links(value: &Value, typecast: bool, allow_multiple: bool) -> Result<Option<Value>, CellError> {
    const WHAT: &str = "a list of record ids";
    let single;
    let items: &[Value] = match value {
        Value::Array(items) => items,
        Value::String(_) if typecast => {
            single = [value.clone()];
            &single
        }
        _ => return Err(expected(WHAT, value)),
    };
    let ids = id_list(items, value, WHAT, |s| {
        RecordId::parse(s).map(|id| id.to_string())
    })?;
    if !allow_multiple && ids.len() > 1 {
        return Err(expected("at most one linked record", value));
    }
    Ok(stored(ids))
}
