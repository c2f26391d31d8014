//! Checkbox, single select and multiple select cells.

use std::collections::HashSet;

use serde_json::Value;

use super::number::number_text;
use super::{CellError, expected};
use crate::fields::types::Choice;

/// Words `typecast` reads as a checked box (compared case-insensitively).
const TRUE_WORDS: [&str; 5] = ["true", "yes", "1", "on", "checked"];
/// Words `typecast` reads as an unchecked box (compared case-insensitively).
const FALSE_WORDS: [&str; 5] = ["false", "no", "0", "off", ""];
/// Most choice names an error message lists.
const LISTED_CHOICES: usize = 10;

pub(super) fn checkbox(value: &Value, typecast: bool) -> Result<Option<Value>, CellError> {
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

/// What a select cell expects, naming up to [`LISTED_CHOICES`] choices.
fn one_of(choices: &[Choice]) -> String {
    if choices.is_empty() {
        return "a choice name (the field has no choices)".into();
    }
    let mut names: Vec<String> = choices
        .iter()
        .take(LISTED_CHOICES)
        .map(|c| Value::String(c.name.clone()).to_string())
        .collect();
    if choices.len() > LISTED_CHOICES {
        names.push(format!("and {} more", choices.len() - LISTED_CHOICES));
    }
    format!("one of {}", names.join(", "))
}

/// The text of one choice name: a string, or with `typecast` a number or
/// boolean as its text.
fn name_text(value: &Value, typecast: bool) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if typecast => Some(number_text(n)),
        Value::Bool(b) if typecast => Some(b.to_string()),
        _ => None,
    }
}

/// Checks one trimmed, non-empty name against the choices.
fn check_name(name: &str, typecast: bool, choices: &[Choice]) -> Result<(), CellError> {
    if typecast || choices.iter().any(|c| c.name == name) {
        Ok(())
    } else {
        Err(expected(&one_of(choices), &Value::String(name.to_owned())))
    }
}

pub(super) fn single(
    value: &Value,
    typecast: bool,
    choices: &[Choice],
) -> Result<Option<Value>, CellError> {
    let Some(text) = name_text(value, typecast) else {
        return Err(expected("a choice name", value));
    };
    let name = text.trim();
    if name.is_empty() {
        return Ok(None);
    }
    check_name(name, typecast, choices)?;
    Ok(Some(Value::String(name.to_owned())))
}

pub(super) fn multi(
    value: &Value,
    typecast: bool,
    choices: &[Choice],
) -> Result<Option<Value>, CellError> {
    let raw: Vec<String> = match value {
        Value::Array(items) => {
            let mut names = Vec::with_capacity(items.len());
            for item in items {
                match name_text(item, typecast) {
                    Some(n) => names.push(n),
                    None => return Err(expected("a list of choice names", value)),
                }
            }
            names
        }
        Value::String(s) if typecast => {
            let whole = s.trim();
            // A known name that contains a comma is one name, not several.
            if choices.iter().any(|c| c.name == whole) {
                vec![whole.to_owned()]
            } else {
                s.split(',').map(str::to_owned).collect()
            }
        }
        _ => return Err(expected("a list of choice names", value)),
    };
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    let mut seen: HashSet<&str> = HashSet::with_capacity(raw.len());
    for name in &raw {
        let name = name.trim();
        if name.is_empty() {
            if typecast {
                continue;
            }
            return Err(expected("a list of non-empty choice names", value));
        }
        check_name(name, typecast, choices)?;
        if seen.insert(name) {
            out.push(name.to_owned());
        }
    }
    if out.is_empty() {
        return Ok(None);
    }
    Ok(Some(Value::Array(
        out.into_iter().map(Value::String).collect(),
    )))
}
