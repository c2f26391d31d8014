//! Store-kept types: values the store writes on every record (autonumber,
//! created and updated time and user). Clients never write them; filters
//! and sorts read the record's column.

use serde_json::{Value, json};

use crate::fields::cell::CellError;
use crate::fields::kind::{Kind, MetaColumn, Storage, optionless_kind_info};
use crate::ids::UserId;
use crate::query::eval::TIME_FORMAT;

/// Why a store-kept cell cannot be written.
fn read_only() -> CellError {
    CellError {
        expected: "a computed field cannot be written".into(),
    }
}

/// A time operand as stored: RFC 3339 (any offset) or a date at midnight
/// UTC, normalised to UTC milliseconds.
fn time_operand(text: &str, given: &Value) -> Result<String, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t
            .with_timezone(&chrono::Utc)
            .format(TIME_FORMAT)
            .to_string());
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|d| format!("{}T00:00:00.000Z", d.format("%Y-%m-%d")))
        .map_err(|_| format!("an RFC 3339 date-time or YYYY-MM-DD date, got {given}"))
}

/// A user id operand.
fn user_operand(text: &str) -> Result<String, String> {
    UserId::parse(text)
        .map(|u| u.to_string())
        .map_err(|e| e.to_string())
}

/// Declares a store-kept type reading `$column`, its text operands
/// normalised by `$operand`.
macro_rules! store_kept {
    ($(#[$doc:meta])* $name:ident, $api:literal, $column:ident, |$text:ident, $given:ident| $operand:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name;

        optionless_kind_info!($name, $api);

        impl Kind for $name {
            fn options_json(&self) -> Value {
                json!({})
            }

            fn storage(&self) -> Storage {
                Storage::Column(MetaColumn::$column)
            }

            fn validate(&self, _: &Value, _: bool) -> Result<Option<Value>, CellError> {
                Err(read_only())
            }

            fn sample_inputs(&self) -> Vec<Value> {
                // Every write is refused; these probe that.
                vec![json!(1), json!("2024-02-29T12:30:00Z"), json!("usrAAAAAAAAAAAAAA")]
            }

            fn text_operand(&self, $text: &str, $given: &Value, _partial: bool) -> Result<String, String> {
                $operand
            }
        }
    };
}

store_kept!(
    /// A per-table sequence number given at creation.
    Autonumber,
    "autonumber",
    Autonumber,
    |_text, _given| Err("a number".into())
);
store_kept!(
    /// When the record was created.
    CreatedTime,
    "created_time",
    CreatedTime,
    |text, given| time_operand(text, given)
);
store_kept!(
    /// When the record was last changed.
    UpdatedTime,
    "updated_time",
    UpdatedTime,
    |text, given| time_operand(text, given)
);
store_kept!(
    /// Who created the record.
    CreatedBy,
    "created_by",
    CreatedBy,
    |text, _given| user_operand(text)
);
store_kept!(
    /// Who last changed the record.
    UpdatedBy,
    "updated_by",
    UpdatedBy,
    |text, _given| user_operand(text)
);
