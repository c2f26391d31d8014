//! Derived types (issue 12): `formula`, `lookup`, `rollup` and `count`.
//! Their cells are computed in Rust from other cells and stored in the
//! record like written cells (`Storage::Derived`), so filters, sorts and
//! indexes read them as fields of their result type. Clients never write
//! them.
//!
//! Options name fields as given by the client until the facade resolves
//! them (`crate::facade::computed`): references become field ids, the
//! result type is inferred by the formula checker and `is_valid` is set.
//! What is stored is the resolved form.

use serde_json::{Map, Value, json};

use crate::fields::cell::CellError;
use crate::fields::kind::{Kind, KindInfo, Options, OptionsError, Storage, ValueKind, opt_err};
use crate::fields::options_schema as os;
use crate::formula::ResultType;
use crate::ids::{FieldId, TableId};

/// Why a derived cell cannot be written.
fn read_only() -> CellError {
    CellError {
        expected: "a computed field cannot be written".into(),
    }
}

/// How cells of a result type are stored and compared.
pub fn result_value_kind(result: ResultType) -> ValueKind {
    match result {
        ResultType::Number => ValueKind::Number,
        ResultType::Bool => ValueKind::Bool,
        ResultType::Text | ResultType::Date | ResultType::DateTime => ValueKind::Text,
        ResultType::List => ValueKind::List,
    }
}

/// What every derived type carries beside its own options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    /// What the cells hold (set by the facade's resolution).
    pub result_type: ResultType,
    /// Every field the value depends on (set by the facade's resolution).
    pub referenced_field_ids: Vec<FieldId>,
    /// False once a referenced field was deleted or retyped; cells keep
    /// their last values and are not recomputed until the field is fixed.
    pub is_valid: bool,
}

impl Derived {
    /// Reads the read-only part of the options. They are ignored on
    /// writes (the facade derives all three from the definition when a
    /// field is saved), so a client echoing them back, or sending `null`
    /// or anything else in them, is never refused; stored options always
    /// hold well-formed values.
    fn parse(options: &Options<'_>, default: ResultType) -> Result<Self, OptionsError> {
        let bad = |key: &str, want: &str, v: &Value| {
            opt_err(format!("option {key} must be {want}, got {v}"))
        };
        let result_type = match options.get("result_type") {
            None | Some(Value::Null) => default,
            Some(v) => serde_json::from_value(v.clone()).map_err(|_| {
                bad(
                    "result_type",
                    "one of number, text, bool, date, datetime, list",
                    v,
                )
            })?,
        };
        let referenced_field_ids = match options.get("referenced_field_ids") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => {
                let mut ids = Vec::with_capacity(items.len());
                for v in items.iter().filter(|v| !v.is_null()) {
                    let id = v.as_str().and_then(|s| FieldId::parse(s).ok());
                    ids.push(id.ok_or_else(|| bad("referenced_field_ids", "field ids", v))?);
                }
                ids
            }
            Some(v) => return Err(bad("referenced_field_ids", "a list of field ids", v)),
        };
        let is_valid = match options.get("is_valid") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(v) => return Err(bad("is_valid", "true or false", v)),
        };
        Ok(Self {
            result_type,
            referenced_field_ids,
            is_valid,
        })
    }

    fn write(&self, m: &mut Map<String, Value>) {
        m.insert("result_type".into(), json!(self.result_type.as_str()));
        m.insert(
            "referenced_field_ids".into(),
            json!(self.referenced_field_ids),
        );
        m.insert("is_valid".into(), json!(self.is_valid));
    }

    fn fresh(result_type: ResultType) -> Self {
        Self {
            result_type,
            referenced_field_ids: Vec::new(),
            is_valid: true,
        }
    }
}

/// A required text option that is not blank.
fn required_text(options: &Options<'_>, key: &str) -> Result<String, OptionsError> {
    let s = options.string(key, "")?;
    if s.trim().is_empty() {
        return Err(opt_err(format!("option {key} is required")));
    }
    Ok(s)
}

/// The optional `time_zone` of a formula or rollup (FORMULA.md A.6): an
/// IANA zone name, spelt exactly (`Europe/Berlin`, `UTC`); absent is UTC.
fn time_zone(options: &Options<'_>) -> Result<Option<String>, OptionsError> {
    if options.get("time_zone").is_none() {
        return Ok(None);
    }
    let tz = options.string("time_zone", "UTC")?;
    if crate::formula::zone_named(&tz).is_none() {
        return Err(opt_err(format!(
            "option time_zone: an IANA time zone name such as \"Europe/Berlin\" or \"UTC\", got {tz:?}"
        )));
    }
    Ok(Some(tz))
}

/// The zone a `time_zone` option names, UTC when absent.
fn zone_of(time_zone: Option<&str>) -> chrono_tz::Tz {
    time_zone
        .and_then(crate::formula::zone_named)
        .unwrap_or(chrono_tz::Tz::UTC)
}

/// The options schema of `time_zone`.
fn time_zone_schema() -> Value {
    json!({
        "type": ["string", "null"],
        "minLength": 1,
        "maxLength": 64,
        "pattern": crate::patterns::NO_NUL,
        "description": "IANA time zone the date functions read local times in, e.g. Europe/Berlin (default UTC).",
    })
}

/// The read-only part of every derived type's options schema.
fn derived_properties(m: &mut Map<String, Value>) {
    m.insert(
        "result_type".into(),
        json!({
            "type": ["string", "null"],
            "enum": ["number", "text", "bool", "date", "datetime", "list", null],
            "description": "Read only: what the cells hold (ignored on writes).",
        }),
    );
    m.insert(
        "referenced_field_ids".into(),
        json!({
            "type": ["array", "null"],
            "items": os::id("fld"),
            "description": "Read only: every field the value depends on (ignored on writes).",
        }),
    );
    m.insert(
        "is_valid".into(),
        json!({
            "type": ["boolean", "null"],
            "description": "Read only: false when a referenced field was deleted or retyped.",
        }),
    );
}

fn schema_with(own: Value, required: &[&str]) -> Value {
    let Value::Object(mut props) = own else {
        unreachable!("the callers pass object literals")
    };
    derived_properties(&mut props);
    os::object_requiring(Value::Object(props), required)
}

/// Implements the [`Kind`] methods every derived type shares.
macro_rules! derived_kind {
    () => {
        fn storage(&self) -> Storage {
            Storage::Derived(result_value_kind(self.derived.result_type))
        }

        fn validate(&self, _: &Value, _: bool) -> Result<Option<Value>, CellError> {
            Err(read_only())
        }

        fn sample_inputs(&self) -> Vec<Value> {
            vec![json!("text"), json!(1), json!(true)]
        }

        fn accepts_other_types(&self) -> bool {
            false
        }

        fn renders_as_stored(&self) -> bool {
            false
        }

        fn render_owned(&self, cell: Value, _: &dyn crate::fields::RenderContext) -> Value {
            crate::formula::canonical_cell(&cell)
        }
    };
}

/// `{"formula": "{Qty} * {Price}", "time_zone"?: "Europe/Berlin"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formula {
    /// The formula text: field names as given, field ids once resolved.
    pub formula: String,
    /// The IANA time zone date functions use (UTC when absent).
    pub time_zone: Option<String>,
    /// Result type, references, validity.
    pub derived: Derived,
}

impl Formula {
    /// The evaluation zone: `time_zone`, UTC when absent.
    pub fn zone(&self) -> chrono_tz::Tz {
        zone_of(self.time_zone.as_deref())
    }
}

impl KindInfo for Formula {
    const NAME: &'static str = "formula";
    const OPTION_KEYS: &'static [&'static str] = &[
        "formula",
        "time_zone",
        "result_type",
        "referenced_field_ids",
        "is_valid",
    ];

    fn parse(options: &Options<'_>) -> Result<Self, OptionsError> {
        let formula = required_text(options, "formula")?;
        crate::formula::parse(&formula)
            .map_err(|e| opt_err(format!("option formula: {}", e.message)))?;
        Ok(Self {
            formula,
            time_zone: time_zone(options)?,
            derived: Derived::parse(options, ResultType::Text)?,
        })
    }

    fn examples(_: TableId) -> Vec<Self> {
        vec![
            Self {
                formula: "1 + 2".into(),
                time_zone: None,
                derived: Derived::fresh(ResultType::Number),
            },
            Self {
                formula: "DATETIME_FORMAT(CREATED_TIME(), 'YYYY-MM-DD HH:mm')".into(),
                time_zone: Some("America/New_York".into()),
                derived: Derived::fresh(ResultType::Text),
            },
        ]
    }

    fn options_schema() -> Value {
        schema_with(
            json!({
                "formula": { "type": "string", "minLength": 1, "description": "A formula (docs/FORMULA.md); fields by {name} or id." },
                "time_zone": time_zone_schema(),
            }),
            &["formula"],
        )
    }
}

impl Kind for Formula {
    fn options_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("formula".into(), json!(self.formula));
        if let Some(tz) = &self.time_zone {
            m.insert("time_zone".into(), json!(tz));
        }
        self.derived.write(&mut m);
        Value::Object(m)
    }

    derived_kind!();
}

/// `{"link_field", "field"}`: the linked records' values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// The link field of this table (name as given, id once resolved).
    pub link_field: String,
    /// The field of the linked table (name as given, id once resolved).
    pub field: String,
    /// What that field's cells are in a formula, so what the list's items
    /// are (set by the facade's resolution; `None` in a lookup saved
    /// before it was kept): a lookup of numbers sorts by its first number.
    pub item_type: Option<ResultType>,
    /// Result type, references, validity.
    pub derived: Derived,
}

/// The read-only `item_type` of a lookup: absent or `null` is unknown.
fn item_type(options: &Options<'_>) -> Result<Option<ResultType>, OptionsError> {
    match options.get("item_type") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone()).map(Some).map_err(|_| {
            opt_err(format!(
                "option item_type must be one of number, text, bool, date, datetime, list, got {v}"
            ))
        }),
    }
}

fn link_and_field(options: &Options<'_>) -> Result<(String, String), OptionsError> {
    Ok((
        required_text(options, "link_field")?,
        required_text(options, "field")?,
    ))
}

fn link_schema() -> Value {
    json!({ "type": "string", "minLength": 1, "description": "A link field of this table, by name or id (read: id)." })
}

fn field_schema() -> Value {
    json!({ "type": "string", "minLength": 1, "description": "A field of the linked table, by name or id (read: id)." })
}

impl KindInfo for Lookup {
    const NAME: &'static str = "lookup";
    const OPTION_KEYS: &'static [&'static str] = &[
        "link_field",
        "field",
        "item_type",
        "result_type",
        "referenced_field_ids",
        "is_valid",
    ];

    fn parse(options: &Options<'_>) -> Result<Self, OptionsError> {
        let (link_field, field) = link_and_field(options)?;
        Ok(Self {
            link_field,
            field,
            item_type: item_type(options)?,
            derived: Derived::parse(options, ResultType::List)?,
        })
    }

    fn examples(_: TableId) -> Vec<Self> {
        vec![Self {
            link_field: "Link".into(),
            field: "Name".into(),
            item_type: Some(ResultType::Text),
            derived: Derived::fresh(ResultType::List),
        }]
    }

    fn options_schema() -> Value {
        schema_with(
            json!({
                "link_field": link_schema(),
                "field": field_schema(),
                "item_type": {
                    "type": ["string", "null"],
                    "enum": ["number", "text", "bool", "date", "datetime", "list", null],
                    "description": "Read only: what the looked-up field's values are in a formula, so what the items are (ignored on writes).",
                },
            }),
            &["link_field", "field"],
        )
    }
}

impl Kind for Lookup {
    fn options_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("link_field".into(), json!(self.link_field));
        m.insert("field".into(), json!(self.field));
        if let Some(t) = self.item_type {
            m.insert("item_type".into(), json!(t.as_str()));
        }
        self.derived.write(&mut m);
        Value::Object(m)
    }

    derived_kind!();
}

/// `{"link_field", "field", "formula": "SUM(values)", "time_zone"?}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollup {
    /// The link field of this table (name as given, id once resolved).
    pub link_field: String,
    /// The field of the linked table (name as given, id once resolved).
    pub field: String,
    /// A formula over `values` (one entry per linked record).
    pub formula: String,
    /// The IANA time zone date functions use (UTC when absent).
    pub time_zone: Option<String>,
    /// Result type, references, validity.
    pub derived: Derived,
}

impl Rollup {
    /// The evaluation zone: `time_zone`, UTC when absent.
    pub fn zone(&self) -> chrono_tz::Tz {
        zone_of(self.time_zone.as_deref())
    }
}

impl KindInfo for Rollup {
    const NAME: &'static str = "rollup";
    const OPTION_KEYS: &'static [&'static str] = &[
        "link_field",
        "field",
        "formula",
        "time_zone",
        "result_type",
        "referenced_field_ids",
        "is_valid",
    ];

    fn parse(options: &Options<'_>) -> Result<Self, OptionsError> {
        let (link_field, field) = link_and_field(options)?;
        let formula = required_text(options, "formula")?;
        crate::formula::parse(&formula)
            .map_err(|e| opt_err(format!("option formula: {}", e.message)))?;
        Ok(Self {
            link_field,
            field,
            formula,
            time_zone: time_zone(options)?,
            derived: Derived::parse(options, ResultType::Number)?,
        })
    }

    fn examples(_: TableId) -> Vec<Self> {
        vec![Self {
            link_field: "Link".into(),
            field: "Name".into(),
            formula: "SUM(values)".into(),
            time_zone: None,
            derived: Derived::fresh(ResultType::Number),
        }]
    }

    fn options_schema() -> Value {
        schema_with(
            json!({
                "link_field": link_schema(),
                "field": field_schema(),
                "formula": { "type": "string", "minLength": 1, "description": "A formula over `values`, e.g. SUM(values)." },
                "time_zone": time_zone_schema(),
            }),
            &["link_field", "field", "formula"],
        )
    }
}

impl Kind for Rollup {
    fn options_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("link_field".into(), json!(self.link_field));
        m.insert("field".into(), json!(self.field));
        m.insert("formula".into(), json!(self.formula));
        if let Some(tz) = &self.time_zone {
            m.insert("time_zone".into(), json!(tz));
        }
        self.derived.write(&mut m);
        Value::Object(m)
    }

    derived_kind!();
}

/// `{"link_field"}`: how many live records are linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    /// The link field of this table (name as given, id once resolved).
    pub link_field: String,
    /// Result type (always number), references, validity.
    pub derived: Derived,
}

impl KindInfo for Count {
    const NAME: &'static str = "count";
    const OPTION_KEYS: &'static [&'static str] = &[
        "link_field",
        "result_type",
        "referenced_field_ids",
        "is_valid",
    ];

    fn parse(options: &Options<'_>) -> Result<Self, OptionsError> {
        let mut derived = Derived::parse(options, ResultType::Number)?;
        derived.result_type = ResultType::Number;
        Ok(Self {
            link_field: required_text(options, "link_field")?,
            derived,
        })
    }

    fn examples(_: TableId) -> Vec<Self> {
        vec![Self {
            link_field: "Link".into(),
            derived: Derived::fresh(ResultType::Number),
        }]
    }

    fn options_schema() -> Value {
        schema_with(json!({ "link_field": link_schema() }), &["link_field"])
    }
}

impl Kind for Count {
    fn options_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("link_field".into(), json!(self.link_field));
        self.derived.write(&mut m);
        Value::Object(m)
    }

    derived_kind!();
}
