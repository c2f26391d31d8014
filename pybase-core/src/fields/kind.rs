//! What every field type is: the [`Kind`] behaviour each type module
//! implements, the [`KindInfo`] the registry reads, and the shared
//! vocabulary ([`Storage`], [`ValueKind`], [`MetaColumn`], [`Reference`]).
//!
//! A type lives in one module under `kinds/` and implements both traits;
//! `registry.rs` lists it once. Methods without a default are the ones
//! every type must answer; the defaults are the plain behaviour of a type
//! that has no choices, references nothing and renders its cell as stored.

use serde_json::{Map, Value};

use super::cell::CellError;
use super::kinds::Choice;
use super::registry::FieldType;
use crate::ids::{AttachmentId, TableId};

/// How a field's cells are stored and compared by the backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueKind {
    /// A JSON string, compared by bytes (dates and datetimes are normalised so
    /// that byte order is time order).
    Text,
    /// A JSON number.
    Number,
    /// A JSON boolean; absent means false.
    Bool,
    /// A JSON array of strings (choice names, record ids, attachment ids).
    List,
}

/// A record column kept by the store rather than in the cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetaColumn {
    /// The record's autonumber (a number).
    Autonumber,
    /// The record's creation time (RFC 3339 text).
    CreatedTime,
    /// The record's last change time (RFC 3339 text).
    UpdatedTime,
    /// The creating user's id (text).
    CreatedBy,
    /// The last changing user's id (text).
    UpdatedBy,
}

impl MetaColumn {
    /// How this column compares.
    pub fn kind(self) -> ValueKind {
        match self {
            Self::Autonumber => ValueKind::Number,
            Self::CreatedTime | Self::UpdatedTime | Self::CreatedBy | Self::UpdatedBy => {
                ValueKind::Text
            }
        }
    }
}

/// Where a type's values come from.
///
/// Computed types are split by who computes them: the store keeps
/// [`Storage::Column`] values on every record as it writes it; derived
/// values (formulas, lookups, rollups, counts) are computed in Rust from
/// other cells and stored in the record's cells ([`Storage::Derived`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Storage {
    /// Written by clients and kept in the record's cells.
    Cell(ValueKind),
    /// Kept by the store on every record; clients cannot write it.
    Column(MetaColumn),
    /// Computed from other cells (formula, lookup, rollup, count) and
    /// stored in the record's cells; clients cannot write it.
    Derived(ValueKind),
}

impl Storage {
    /// How the values compare.
    pub fn value_kind(self) -> ValueKind {
        match self {
            Self::Cell(kind) | Self::Derived(kind) => kind,
            Self::Column(column) => column.kind(),
        }
    }
}

/// Rows of other tables a type's cells point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reference {
    /// Records of this table (link fields).
    Records(TableId),
    /// Attachments of the field's own table.
    Attachments,
}

/// What rendering a cell may need from the caller.
pub trait RenderContext {
    /// The output form of an attachment the page loaded (`None` if it is
    /// gone).
    fn attachment(&self, id: AttachmentId) -> Option<Value>;

    /// Whether a linked record is soft-deleted (its link is not shown).
    /// The default knows of none.
    fn record_gone(&self, id: crate::ids::RecordId) -> bool {
        let _ = id;
        false
    }
}

/// A field type or its options were not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct OptionsError {
    /// What was wrong and what was expected.
    pub message: String,
}

/// An [`OptionsError`] saying `message`.
pub(crate) fn opt_err(message: impl Into<String>) -> OptionsError {
    OptionsError {
        message: message.into(),
    }
}

/// The registry's view of a type: its name, its option keys and how its
/// options parse. One implementation per type, next to its [`Kind`].
pub trait KindInfo: Kind + Sized {
    /// The API name (`single_select`, ...).
    const NAME: &'static str;
    /// The option keys the type accepts; any other key is refused before
    /// [`KindInfo::parse`] runs.
    const OPTION_KEYS: &'static [&'static str];
    /// Builds the type from its options (keys already checked).
    fn parse(options: &Options<'_>) -> Result<Self, OptionsError>;

    /// Option sets that exercise the type's rules, the narrowest last (a
    /// change to it may fail where the others keep every cell); links point
    /// at `linked_table`. Tests and generators take every type from here.
    fn examples(linked_table: TableId) -> Vec<Self>;

    /// The JSON Schema of the options object (the API document's
    /// `options` for this type; see `options_schema.rs` for the builders).
    fn options_schema() -> Value;
}

/// Implements [`KindInfo`] for a unit struct type without options: no
/// option keys, one example, the empty options schema.
macro_rules! optionless_kind_info {
    ($ty:ty, $name:expr) => {
        impl $crate::fields::kind::KindInfo for $ty {
            const NAME: &'static str = $name;
            const OPTION_KEYS: &'static [&'static str] = &[];

            fn parse(
                _: &$crate::fields::kind::Options<'_>,
            ) -> Result<Self, $crate::fields::kind::OptionsError> {
                Ok(Self)
            }

            fn examples(_: $crate::ids::TableId) -> Vec<Self> {
                vec![Self]
            }

            fn options_schema() -> serde_json::Value {
                $crate::fields::options_schema::none()
            }
        }
    };
}
pub(crate) use optionless_kind_info;

/// The behaviour of one field type (implemented by the structs in `kinds`,
/// reached through [`FieldType::kind`]).
pub trait Kind: std::fmt::Debug + Send + Sync {
    /// The options as the API shows them (an object, possibly empty).
    fn options_json(&self) -> Value;

    /// Where the values live and how they compare.
    fn storage(&self) -> Storage;

    /// Checks and normalises a non-empty client value (see
    /// [`FieldType::validate_cell`], which handles empties and computed
    /// types first).
    fn validate(&self, value: &Value, typecast: bool) -> Result<Option<Value>, CellError>;

    /// Client inputs that probe this type's rules, valid and invalid, with
    /// and without typecast (edge dates, over-precise numbers, unknown
    /// choices, ...). Tests and generators draw cells and filter operands
    /// from them, beside generic values of the type's storage kind. Types
    /// whose cells are ids of other rows give none (tests make those rows).
    fn sample_inputs(&self) -> Vec<Value>;

    /// Whether an absent cell is itself a value (an unchecked box), so a
    /// conversion that empties a cell loses nothing.
    fn absent_is_a_value(&self) -> bool {
        false
    }

    /// Whether any value can be written into it as text (lists joined), the
    /// target every type converts to.
    fn is_free_text(&self) -> bool {
        false
    }

    /// Whether cells of other types may convert into this type.
    fn accepts_other_types(&self) -> bool {
        true
    }

    /// Whether this type's cells convert only into free text.
    fn converts_only_to_text(&self) -> bool {
        false
    }

    /// The value to validate (with `typecast`) for a stored cell of `from`,
    /// another type; `Err` says why it cannot convert.
    fn conversion_input(&self, from: &FieldType, value: &Value) -> Result<Value, String> {
        let _ = from;
        plain_conversion_input(self.is_free_text(), value)
    }

    /// Whether cells kept under `old` (the same type, other options) may be
    /// revalidated under these options at all.
    fn keeps_cells_of(&self, old: &FieldType) -> Result<(), String> {
        let _ = old;
        Ok(())
    }

    /// Normalises the operand of a text comparison (`eq`, `lt`, `in`
    /// items, ...; `partial` for `contains` and `starts_with`). `text` is
    /// the operand's string, `given` the JSON it came from; `Err` says what
    /// was expected.
    fn text_operand(&self, text: &str, given: &Value, partial: bool) -> Result<String, String> {
        let _ = (given, partial);
        Ok(text.to_owned())
    }

    /// Normalises one item of a `has_any` / `has_all` operand.
    fn list_operand(&self, item: &str, given: &Value) -> Result<String, String> {
        let _ = given;
        Ok(item.to_owned())
    }

    /// The rows of other tables its cells point at.
    fn references(&self) -> Option<Reference> {
        None
    }

    /// How many items a raw client value holds, for the per-cell limit
    /// (`None` for types whose cells are not lists).
    fn raw_items(&self, value: &Value) -> Option<usize> {
        let _ = value;
        None
    }

    /// The choices of a select type (empty for other types).
    fn choices(&self) -> &[Choice] {
        &[]
    }

    /// The choices of a select type, to add or rename them.
    fn choices_mut(&mut self) -> Option<&mut Vec<Choice>> {
        None
    }

    /// The names in a normalised cell that are not yet choices, in cell
    /// order (see [`crate::fields::new_choice_names`]).
    fn new_choice_names(&self, cell: &Value) -> Vec<String> {
        let _ = cell;
        Vec::new()
    }

    /// The output form of a stored cell.
    fn render(&self, cell: &Value, ctx: &dyn RenderContext) -> Value {
        self.render_owned(cell.clone(), ctx)
    }

    /// The output form of a stored cell its caller gives up: the cell
    /// itself, moved, for the types shown as stored (no copy of a page's
    /// cells). A type shown otherwise overrides this method (not
    /// [`Kind::render`], which calls it) and [`Kind::renders_as_stored`].
    fn render_owned(&self, cell: Value, ctx: &dyn RenderContext) -> Value {
        let _ = ctx;
        cell
    }

    /// Whether [`Kind::render_owned`] answers every cell unchanged, so a
    /// page may copy the stored JSON text of the cell to its output
    /// without parsing it. A type that overrides `render_owned` answers
    /// `false`.
    fn renders_as_stored(&self) -> bool {
        true
    }
}

/// The default conversion input: lists become text for free-text targets,
/// a one-item list becomes its item, other values pass unchanged.
pub(crate) fn plain_conversion_input(free_text: bool, value: &Value) -> Result<Value, String> {
    Ok(match value {
        Value::Array(_) if free_text => Value::String(super::convert::render_text(value)),
        Value::Array(items) => match items.as_slice() {
            [one] => one.clone(),
            _ => return Err("it holds several values".into()),
        },
        _ => value.clone(),
    })
}

/// A text operand normalised by validating it as a cell of `kind` (with
/// typecast), so `2024-1-2`-style input compares like stored cells; partial
/// matches (`contains`, `starts_with`) keep the text as given.
pub(crate) fn operand_as_cell(
    kind: &dyn Kind,
    text: &str,
    given: &Value,
    partial: bool,
) -> Result<String, String> {
    if partial {
        return Ok(text.to_owned());
    }
    match kind.validate(given, true) {
        Ok(Some(Value::String(n))) => Ok(n),
        Ok(_) => Err("a non-empty value".into()),
        Err(e) => Err(e.expected),
    }
}

/// A type's options as given: an object (or `null` for none).
#[derive(Debug)]
pub struct Options<'a> {
    map: &'a Map<String, Value>,
}

impl<'a> Options<'a> {
    /// Reads `options` of a `type_name` field: `null` or an object.
    pub(crate) fn of(options: &'a Value, type_name: &str) -> Result<Self, OptionsError> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        match options {
            Value::Null => Ok(Self {
                map: EMPTY.get_or_init(Map::new),
            }),
            Value::Object(map) => Ok(Self { map }),
            _ => Err(opt_err(format!(
                "options of a {type_name} field must be an object"
            ))),
        }
    }

    /// The underlying object.
    pub(crate) fn map(&self) -> &'a Map<String, Value> {
        self.map
    }

    /// The value of `key`, `None` when absent or `null`.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// Refuses keys outside `allowed`.
    pub(crate) fn check_keys(&self, allowed: &[&str], type_name: &str) -> Result<(), OptionsError> {
        check_keys(self.map, allowed, type_name)
    }

    /// A whole number option in `range`, `default` when absent.
    pub(crate) fn whole_in(
        &self,
        key: &str,
        range: std::ops::RangeInclusive<u64>,
        default: u64,
    ) -> Result<u64, OptionsError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => match whole(v) {
                Some(n) if range.contains(&n) => Ok(n),
                _ => Err(opt_err(format!(
                    "option {key} must be an integer from {} to {}, got {v}",
                    range.start(),
                    range.end()
                ))),
            },
        }
    }

    /// Decimal places (0..=8), `default` when absent.
    pub(crate) fn precision(&self, default: u8) -> Result<u8, OptionsError> {
        let p = self.whole_in("precision", 0..=8, u64::from(default))?;
        Ok(u8::try_from(p).unwrap_or(default))
    }

    /// A text option without NUL characters, `default` when absent.
    pub(crate) fn string(&self, key: &str, default: &str) -> Result<String, OptionsError> {
        match self.get(key) {
            None => Ok(default.to_owned()),
            Some(Value::String(s)) if s.contains('\0') => Err(opt_err(format!(
                "option {key} must be text without NUL characters"
            ))),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v) => Err(opt_err(format!("option {key} must be a string, got {v}"))),
        }
    }

    /// A boolean option, `default` when absent.
    pub(crate) fn boolean(&self, key: &str, default: bool) -> Result<bool, OptionsError> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(opt_err(format!("option {key} must be a boolean, got {v}"))),
        }
    }
}

/// Refuses keys of `m` outside `allowed`, naming what was expected.
pub(crate) fn check_keys(
    m: &Map<String, Value>,
    allowed: &[&str],
    type_name: &str,
) -> Result<(), OptionsError> {
    for k in m.keys() {
        if !allowed.contains(&k.as_str()) {
            let expected = if allowed.is_empty() {
                "no options".to_owned()
            } else {
                allowed.join(", ")
            };
            return Err(opt_err(format!(
                "unknown option {k:?} for a {type_name} field (expected {expected})"
            )));
        }
    }
    Ok(())
}

/// A whole number, written `2` or `2.0` (JSON does not tell them apart).
fn whole(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1e15)
            .map(|f| f as u64)
    })
}
