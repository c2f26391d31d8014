//! The field type enum and its options.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::ids::{ChoiceId, TableId};

/// One choice of a single or multiple select field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// Stable id of the choice.
    pub id: ChoiceId,
    /// Display name; cells store this name.
    pub name: String,
    /// Optional colour name or hex code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
}

/// A field's type with its typed options (DESIGN.md, "Field types").
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FieldType {
    /// Single-line text, optionally limited in length (characters).
    Text {
        /// Maximum length in characters.
        max_length: Option<u32>,
    },
    /// Multi-line text.
    LongText,
    /// An email address.
    Email,
    /// An http(s) URL.
    Url,
    /// A phone number.
    Phone,
    /// A number with 0..=8 decimal places.
    Number {
        /// Decimal places kept.
        precision: u8,
    },
    /// An amount of money.
    Currency {
        /// Currency symbol shown by clients.
        symbol: String,
        /// Decimal places kept.
        precision: u8,
    },
    /// A fraction, 0.5 meaning 50 %.
    Percent {
        /// Decimal places of the displayed percentage (the stored fraction keeps two more).
        precision: u8,
    },
    /// An integer rating 1..=max.
    Rating {
        /// Highest rating, 1..=10.
        max: u8,
    },
    /// A duration in seconds.
    Duration {
        /// Display format, e.g. `h:mm`.
        format: String,
    },
    /// A boolean; absent means false.
    Checkbox,
    /// One choice name out of `choices`.
    SingleSelect {
        /// The allowed choices.
        choices: Vec<Choice>,
    },
    /// A list of choice names out of `choices`.
    MultiSelect {
        /// The allowed choices.
        choices: Vec<Choice>,
    },
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// An instant, stored as RFC 3339 UTC with milliseconds.
    DateTime {
        /// IANA time zone clients display it in.
        timezone: String,
    },
    /// A list of uploaded attachments.
    Attachment,
    /// Links to records of another (or the same) table.
    Link {
        /// The table whose records this field links to.
        linked_table_id: TableId,
        /// Whether more than one record may be linked.
        allow_multiple: bool,
    },
    /// Computed: a per-table sequence number given at creation.
    Autonumber,
    /// Computed: when the record was created.
    CreatedTime,
    /// Computed: when the record was last changed.
    UpdatedTime,
    /// Computed: who created the record.
    CreatedBy,
    /// Computed: who last changed the record.
    UpdatedBy,
}

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

/// A record column computed by the store rather than kept in the cells.
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
            _ => ValueKind::Text,
        }
    }
}

/// A field type or its options were not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct OptionsError {
    /// What was wrong and what was expected.
    pub message: String,
}

fn opt_err(message: impl Into<String>) -> OptionsError {
    OptionsError {
        message: message.into(),
    }
}

impl FieldType {
    /// The API name of every field type, in registry order.
    pub const NAMES: &'static [&'static str] = &[
        "text",
        "long_text",
        "email",
        "url",
        "phone",
        "number",
        "currency",
        "percent",
        "rating",
        "duration",
        "checkbox",
        "single_select",
        "multi_select",
        "date",
        "datetime",
        "attachment",
        "link",
        "autonumber",
        "created_time",
        "updated_time",
        "created_by",
        "updated_by",
    ];
}

/// Names of every field type, for error messages.
fn type_names() -> String {
    FieldType::NAMES.join(", ")
}

fn options_map<'a>(
    options: &'a Value,
    type_name: &str,
) -> Result<&'a Map<String, Value>, OptionsError> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    match options {
        Value::Null => Ok(EMPTY.get_or_init(Map::new)),
        Value::Object(m) => Ok(m),
        _ => Err(opt_err(format!(
            "options of a {type_name} field must be an object"
        ))),
    }
}

fn check_keys(
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

fn precision(m: &Map<String, Value>, default: u8) -> Result<u8, OptionsError> {
    match m.get("precision") {
        None | Some(Value::Null) => Ok(default),
        Some(v) => match whole(v) {
            Some(p) if p <= 8 => Ok(p as u8),
            _ => Err(opt_err(format!(
                "option precision must be an integer from 0 to 8, got {v}"
            ))),
        },
    }
}

fn string_opt(m: &Map<String, Value>, key: &str, default: &str) -> Result<String, OptionsError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(default.to_owned()),
        Some(Value::String(s)) if s.contains('\0') => Err(opt_err(format!(
            "option {key} must be text without NUL characters"
        ))),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v) => Err(opt_err(format!("option {key} must be a string, got {v}"))),
    }
}

fn choices(m: &Map<String, Value>) -> Result<Vec<Choice>, OptionsError> {
    let list = match m.get("choices") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(v) => return Err(opt_err(format!("option choices must be a list, got {v}"))),
    };
    let mut out: Vec<Choice> = Vec::with_capacity(list.len());
    let mut names: std::collections::HashSet<String> =
        std::collections::HashSet::with_capacity(list.len());
    for (i, c) in list.iter().enumerate() {
        let (id, name, color) = match c {
            Value::String(name) => (None, name.clone(), None),
            Value::Object(o) => {
                check_keys(o, &["id", "name", "color"], "choice")?;
                let name = match o.get("name") {
                    Some(Value::String(s)) => s.clone(),
                    _ => return Err(opt_err(format!("choices[{i}] needs a string name"))),
                };
                let id = match o.get("id") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(
                        ChoiceId::parse(s).map_err(|e| opt_err(format!("choices[{i}].id: {e}")))?,
                    ),
                    Some(v) => {
                        return Err(opt_err(format!(
                            "choices[{i}].id must be a string, got {v}"
                        )));
                    }
                };
                let color = match o.get("color") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(v) => {
                        return Err(opt_err(format!(
                            "choices[{i}].color must be a string, got {v}"
                        )));
                    }
                };
                (id, name, color)
            }
            v => {
                return Err(opt_err(format!(
                    "choices[{i}] must be a name or an object, got {v}"
                )));
            }
        };
        let name = name.trim().to_owned();
        if name.is_empty() {
            return Err(opt_err(format!("choices[{i}] has an empty name")));
        }
        // PostgreSQL text cannot hold NUL; refused on every backend alike.
        if name.contains('\0') || color.as_deref().is_some_and(|c| c.contains('\0')) {
            return Err(opt_err(format!(
                "choices[{i}] must be text without NUL characters"
            )));
        }
        if !names.insert(name.clone()) {
            return Err(opt_err(format!("choice {name:?} is listed twice")));
        }
        out.push(Choice {
            id: id.unwrap_or_default(),
            name,
            color,
        });
    }
    Ok(out)
}

impl FieldType {
    /// Builds a type from its API name and options, validating the options.
    ///
    /// `options` may be `null` for types without required options. Unknown
    /// option keys are rejected so typos do not pass silently.
    pub fn from_parts(type_name: &str, options: &Value) -> Result<Self, OptionsError> {
        let m = options_map(options, type_name)?;
        let none = |m: &Map<String, Value>| check_keys(m, &[], type_name);
        let ft = match type_name {
            "text" => {
                check_keys(m, &["max_length"], type_name)?;
                let max_length = match m.get("max_length") {
                    None | Some(Value::Null) => None,
                    Some(v) => match whole(v) {
                        Some(n) if (1..=100_000).contains(&n) => Some(n as u32),
                        _ => {
                            return Err(opt_err(format!(
                                "option max_length must be an integer from 1 to 100000, got {v}"
                            )));
                        }
                    },
                };
                Self::Text { max_length }
            }
            "long_text" => {
                none(m)?;
                Self::LongText
            }
            "email" => {
                none(m)?;
                Self::Email
            }
            "url" => {
                none(m)?;
                Self::Url
            }
            "phone" => {
                none(m)?;
                Self::Phone
            }
            "number" => {
                check_keys(m, &["precision"], type_name)?;
                Self::Number {
                    precision: precision(m, 0)?,
                }
            }
            "currency" => {
                check_keys(m, &["precision", "symbol"], type_name)?;
                Self::Currency {
                    symbol: string_opt(m, "symbol", "$")?,
                    precision: precision(m, 2)?,
                }
            }
            "percent" => {
                check_keys(m, &["precision"], type_name)?;
                Self::Percent {
                    precision: precision(m, 2)?,
                }
            }
            "rating" => {
                check_keys(m, &["max"], type_name)?;
                let max = match m.get("max") {
                    None | Some(Value::Null) => 5,
                    Some(v) => match whole(v) {
                        Some(n) if (1..=10).contains(&n) => n as u8,
                        _ => {
                            return Err(opt_err(format!(
                                "option max must be an integer from 1 to 10, got {v}"
                            )));
                        }
                    },
                };
                Self::Rating { max }
            }
            "duration" => {
                check_keys(m, &["format"], type_name)?;
                let format = string_opt(m, "format", "h:mm")?;
                const FORMATS: [&str; 5] =
                    ["h:mm", "h:mm:ss", "h:mm:ss.s", "h:mm:ss.ss", "h:mm:ss.sss"];
                if !FORMATS.contains(&format.as_str()) {
                    return Err(opt_err(format!(
                        "option format must be one of {}, got {format:?}",
                        FORMATS.join(", ")
                    )));
                }
                Self::Duration { format }
            }
            "checkbox" => {
                none(m)?;
                Self::Checkbox
            }
            "single_select" => {
                check_keys(m, &["choices"], type_name)?;
                Self::SingleSelect {
                    choices: choices(m)?,
                }
            }
            "multi_select" => {
                check_keys(m, &["choices"], type_name)?;
                Self::MultiSelect {
                    choices: choices(m)?,
                }
            }
            "date" => {
                none(m)?;
                Self::Date
            }
            "datetime" => {
                check_keys(m, &["timezone"], type_name)?;
                let timezone = string_opt(m, "timezone", "UTC")?;
                if timezone.is_empty() || timezone.chars().count() > 64 {
                    return Err(opt_err("option timezone must be an IANA time zone name"));
                }
                Self::DateTime { timezone }
            }
            "attachment" => {
                none(m)?;
                Self::Attachment
            }
            "link" => {
                check_keys(m, &["linked_table_id", "allow_multiple"], type_name)?;
                let linked_table_id = match m.get("linked_table_id") {
                    Some(Value::String(s)) => TableId::parse(s)
                        .map_err(|e| opt_err(format!("option linked_table_id: {e}")))?,
                    _ => return Err(opt_err("option linked_table_id (a table id) is required")),
                };
                let allow_multiple = match m.get("allow_multiple") {
                    None | Some(Value::Null) => true,
                    Some(Value::Bool(b)) => *b,
                    Some(v) => {
                        return Err(opt_err(format!(
                            "option allow_multiple must be a boolean, got {v}"
                        )));
                    }
                };
                Self::Link {
                    linked_table_id,
                    allow_multiple,
                }
            }
            "autonumber" => {
                none(m)?;
                Self::Autonumber
            }
            "created_time" => {
                none(m)?;
                Self::CreatedTime
            }
            "updated_time" => {
                none(m)?;
                Self::UpdatedTime
            }
            "created_by" => {
                none(m)?;
                Self::CreatedBy
            }
            "updated_by" => {
                none(m)?;
                Self::UpdatedBy
            }
            other => {
                return Err(opt_err(format!(
                    "unknown field type {other:?} (expected one of {})",
                    type_names()
                )));
            }
        };
        Ok(ft)
    }

    /// The API name of this type (`single_select`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Text { .. } => "text",
            Self::LongText => "long_text",
            Self::Email => "email",
            Self::Url => "url",
            Self::Phone => "phone",
            Self::Number { .. } => "number",
            Self::Currency { .. } => "currency",
            Self::Percent { .. } => "percent",
            Self::Rating { .. } => "rating",
            Self::Duration { .. } => "duration",
            Self::Checkbox => "checkbox",
            Self::SingleSelect { .. } => "single_select",
            Self::MultiSelect { .. } => "multi_select",
            Self::Date => "date",
            Self::DateTime { .. } => "datetime",
            Self::Attachment => "attachment",
            Self::Link { .. } => "link",
            Self::Autonumber => "autonumber",
            Self::CreatedTime => "created_time",
            Self::UpdatedTime => "updated_time",
            Self::CreatedBy => "created_by",
            Self::UpdatedBy => "updated_by",
        }
    }

    /// The options as the API shows them (an object, possibly empty).
    pub fn options_json(&self) -> Value {
        match self {
            Self::Text {
                max_length: Some(n),
            } => json!({ "max_length": n }),
            Self::Number { precision } | Self::Percent { precision } => {
                json!({ "precision": precision })
            }
            Self::Currency { symbol, precision } => {
                json!({ "symbol": symbol, "precision": precision })
            }
            Self::Rating { max } => json!({ "max": max }),
            Self::Duration { format } => json!({ "format": format }),
            Self::SingleSelect { choices } | Self::MultiSelect { choices } => {
                json!({ "choices": choices })
            }
            Self::DateTime { timezone } => json!({ "timezone": timezone }),
            Self::Link {
                linked_table_id,
                allow_multiple,
            } => json!({ "linked_table_id": linked_table_id, "allow_multiple": allow_multiple }),
            _ => json!({}),
        }
    }

    /// Whether cells of this type are computed by the store (writes rejected).
    pub fn is_computed(&self) -> bool {
        self.meta_column().is_some()
    }

    /// The record column a computed type reads, if it is computed.
    pub fn meta_column(&self) -> Option<MetaColumn> {
        match self {
            Self::Autonumber => Some(MetaColumn::Autonumber),
            Self::CreatedTime => Some(MetaColumn::CreatedTime),
            Self::UpdatedTime => Some(MetaColumn::UpdatedTime),
            Self::CreatedBy => Some(MetaColumn::CreatedBy),
            Self::UpdatedBy => Some(MetaColumn::UpdatedBy),
            _ => None,
        }
    }

    /// How stored cells of this type compare. Computed types answer for their
    /// meta column.
    pub fn value_kind(&self) -> ValueKind {
        match self {
            Self::Text { .. }
            | Self::LongText
            | Self::Email
            | Self::Url
            | Self::Phone
            | Self::SingleSelect { .. }
            | Self::Date
            | Self::DateTime { .. }
            | Self::CreatedTime
            | Self::UpdatedTime
            | Self::CreatedBy
            | Self::UpdatedBy => ValueKind::Text,
            Self::Number { .. }
            | Self::Currency { .. }
            | Self::Percent { .. }
            | Self::Rating { .. }
            | Self::Duration { .. }
            | Self::Autonumber => ValueKind::Number,
            Self::Checkbox => ValueKind::Bool,
            Self::MultiSelect { .. } | Self::Attachment | Self::Link { .. } => ValueKind::List,
        }
    }

    /// The choices of a select field (empty for other types).
    pub fn choices(&self) -> &[Choice] {
        match self {
            Self::SingleSelect { choices } | Self::MultiSelect { choices } => choices,
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_its_parts() {
        for &name in FieldType::NAMES {
            let opts = if name == "link" {
                json!({ "linked_table_id": TableId::new() })
            } else {
                Value::Null
            };
            let ft = FieldType::from_parts(name, &opts).unwrap();
            assert_eq!(ft.type_name(), name);
            let again = FieldType::from_parts(name, &ft.options_json()).unwrap();
            assert_eq!(again, ft);
        }
    }

    #[test]
    fn bad_options_are_rejected_with_what_was_expected() {
        let e = FieldType::from_parts("number", &json!({ "precision": 9 })).unwrap_err();
        assert!(e.message.contains("0 to 8"), "{e}");
        let e = FieldType::from_parts("text", &json!({ "colour": 1 })).unwrap_err();
        assert!(e.message.contains("colour"), "{e}");
        let e = FieldType::from_parts("blob", &Value::Null).unwrap_err();
        assert!(e.message.contains("unknown field type"), "{e}");
        assert!(FieldType::from_parts("link", &Value::Null).is_err());
        assert!(FieldType::from_parts("rating", &json!({ "max": 11 })).is_err());
        assert!(FieldType::from_parts("single_select", &json!({ "choices": ["a", "a"] })).is_err());
    }
}
