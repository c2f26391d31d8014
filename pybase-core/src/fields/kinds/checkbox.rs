//! The checkbox type: `true` or absent.

use serde_json::{Value, json};

use crate::fields::cell::{CellError, expected};
use crate::fields::kind::{Kind, Storage, ValueKind, optionless_kind_info};

/// A boolean; absent means false.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Checkbox;

optionless_kind_info!(Checkbox, "checkbox");

impl Kind for Checkbox {
    fn options_json(&self) -> Value {
        json!({})
    }

    fn storage(&self) -> Storage {
        Storage::Cell(ValueKind::Bool)
    }

    fn validate(&self, value: &Value, typecast: bool) -> Result<Option<Value>, CellError> {
        checkbox(value, typecast)
    }

    fn sample_inputs(&self) -> Vec<Value> {
        vec![
            json!(true),
            json!(false),
            json!("true"),
            json!("Yes"),
            json!(" off "),
            json!(1),
            json!(0),
            json!(2),
            json!("no"),
            json!("maybe"),
        ]
    }

    fn absent_is_a_value(&self) -> bool {
        true
    }
}

/// Words `typecast` reads as a checked box (compared case-insensitively).
const TRUE_WORDS: [&str; 5] = ["true", "yes", "1", "on", "checked"];
/// Words `typecast` reads as an unchecked box (compared case-insensitively).
const FALSE_WORDS: [&str; 5] = ["false", "no", "0", "off", ""];
fn checkbox(value: &Value, typecast: bool) -> Result<Option<Value>, CellError> {
    let what = if typecast {
        "true or false (or yes/no, on/off, 1/0)"
    } else {
        "true or false"
    };
    let checked = match value {
        Value::Bool(b) => *b,
        Value::String(s) if typecast => {
            let word = s.trim().to_lowercase();
            if TRUE_WORDS.contains(&word.as_str()) {
                true
            } else if FALSE_WORDS.contains(&word.as_str()) {
                false
            } else {
                return Err(expected(what, value));
            }
        }
        Value::Number(n) if typecast => match n.as_f64() {
            Some(1.0) => true,
            Some(0.0) => false,
            _ => return Err(expected(what, value)),
        },
        _ => return Err(expected(what, value)),
    };
    Ok(checked.then_some(Value::Bool(true)))
}
