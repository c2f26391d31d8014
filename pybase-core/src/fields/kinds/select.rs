//! The select family: single and multiple select, whose cells hold choice
//! names out of the field's choices.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::fields::cell::{CellError, expected};
use crate::fields::decimal::number_text;
use crate::fields::kind::{
    Kind, KindInfo, Options, OptionsError, Storage, ValueKind, check_keys, opt_err,
};
use crate::fields::options_schema as os;
use crate::fields::registry::FieldType;
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

/// Choice lists that probe ordering and matching: case, accents, digits,
/// a comma inside a name; the narrowest last.
fn example_choices() -> Vec<Vec<Choice>> {
    let list = |names: &[&str]| {
        names
            .iter()
            .map(|n| Choice {
                id: ChoiceId::default(),
                name: (*n).to_owned(),
                color: None,
            })
            .collect()
    };
    vec![
        list(&["a", "B", "ü", "é x", "Zeta", "10"]),
        list(&["a", "b", "c, d"]),
        list(&["a"]),
    ]
}

/// Implements [`KindInfo`] for a select type (its only option is
/// `choices`).
macro_rules! select_kind_info {
    ($ty:ident, $name:literal) => {
        impl KindInfo for $ty {
            const NAME: &'static str = $name;
            const OPTION_KEYS: &'static [&'static str] = &["choices"];

            fn parse(options: &Options<'_>) -> Result<Self, OptionsError> {
                Ok(Self {
                    choices: parse_choices(options.map())?,
                })
            }

            fn examples(_: TableId) -> Vec<Self> {
                example_choices()
                    .into_iter()
                    .map(|choices| Self { choices })
                    .collect()
            }

            fn options_schema() -> Value {
                os::choices()
            }
        }
    };
}

/// Choice names, known and unknown, and values only typecast reads.
fn choice_samples() -> Vec<Value> {
    vec![
        json!("a"),
        json!("B"),
        json!("b"),
        json!("é x"),
        json!(" Zeta "),
        json!("c, d"),
        json!("zz"),
        json!(10),
        json!(""),
    ]
}

/// One choice name out of the field's choices.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SingleSelect {
    /// The allowed choices.
    pub choices: Vec<Choice>,
}

select_kind_info!(SingleSelect, "single_select");

impl Kind for SingleSelect {
    fn options_json(&self) -> Value {
        json!({ "choices": self.choices })
    }

    fn storage(&self) -> Storage {
        Storage::Cell(ValueKind::Text)
    }

    fn validate(&self, value: &Value, typecast: bool) -> Result<Option<Value>, CellError> {
        single(value, typecast, &self.choices)
    }

    fn sample_inputs(&self) -> Vec<Value> {
        choice_samples()
    }

    fn text_operand(&self, text: &str, given: &Value, partial: bool) -> Result<String, String> {
        if partial || is_choice(&self.choices, text) {
            Ok(text.to_owned())
        } else {
            Err(format!("one of the field's choices, got {given}"))
        }
    }

    fn choices(&self) -> &[Choice] {
        &self.choices
    }

    fn choices_mut(&mut self) -> Option<&mut Vec<Choice>> {
        Some(&mut self.choices)
    }

    fn new_choice_names(&self, cell: &Value) -> Vec<String> {
        match cell {
            Value::String(s) if !is_choice(&self.choices, s) => vec![s.clone()],
            _ => Vec::new(),
        }
    }
}

/// A list of choice names out of the field's choices.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MultiSelect {
    /// The allowed choices.
    pub choices: Vec<Choice>,
}

select_kind_info!(MultiSelect, "multi_select");

impl Kind for MultiSelect {
    fn options_json(&self) -> Value {
        json!({ "choices": self.choices })
    }

    fn storage(&self) -> Storage {
        Storage::Cell(ValueKind::List)
    }

    fn validate(&self, value: &Value, typecast: bool) -> Result<Option<Value>, CellError> {
        multi(value, typecast, &self.choices)
    }

    fn sample_inputs(&self) -> Vec<Value> {
        let mut out: Vec<Value> = choice_samples().into_iter().map(|c| json!([c])).collect();
        out.extend([
            json!(["a", "B"]),
            json!(["a", "a", " "]),
            json!("a,B"),
            json!("c, d"),
            json!([1, 2]),
        ]);
        out
    }

    fn conversion_input(&self, from: &FieldType, value: &Value) -> Result<Value, String> {
        Ok(match (from, value) {
            // A choice name may contain commas: wrap it instead of splitting.
            (FieldType::SingleSelect(_), Value::String(s)) => {
                Value::Array(vec![Value::String(s.clone())])
            }
            _ => value.clone(),
        })
    }

    fn list_operand(&self, item: &str, given: &Value) -> Result<String, String> {
        if is_choice(&self.choices, item) {
            Ok(item.to_owned())
        } else {
            Err(format!("one of the field's choices, got {given}"))
        }
    }

    fn raw_items(&self, value: &Value) -> Option<usize> {
        match value {
            Value::Array(items) => Some(items.len()),
            // A typecast string is split on commas.
            Value::String(s) => Some(s.bytes().filter(|b| *b == b',').count() + 1),
            _ => Some(0),
        }
    }

    fn choices(&self) -> &[Choice] {
        &self.choices
    }

    fn choices_mut(&mut self) -> Option<&mut Vec<Choice>> {
        Some(&mut self.choices)
    }

    fn new_choice_names(&self, cell: &Value) -> Vec<String> {
        let Value::Array(items) = cell else {
            return Vec::new();
        };
        let mut out: Vec<String> = Vec::new();
        for name in items.iter().filter_map(Value::as_str) {
            if !is_choice(&self.choices, name) && !out.iter().any(|n| n == name) {
                out.push(name.to_owned());
            }
        }
        out
    }
}

/// Whether `name` is one of `choices`.
fn is_choice(choices: &[Choice], name: &str) -> bool {
    choices.iter().any(|c| c.name == name)
}

/// Parses the `choices` option: names or `{id, name, color}` objects,
/// trimmed, non-empty and unique.
fn parse_choices(m: &Map<String, Value>) -> Result<Vec<Choice>, OptionsError> {
    let list = match m.get("choices") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(v) => return Err(opt_err(format!("option choices must be a list, got {v}"))),
    };
    let mut out: Vec<Choice> = Vec::with_capacity(list.len());
    let mut names: HashSet<String> = HashSet::with_capacity(list.len());
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

/// Most choice names an error message lists.
const LISTED_CHOICES: usize = 10;

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

fn single(value: &Value, typecast: bool, choices: &[Choice]) -> Result<Option<Value>, CellError> {
    let Some(text) = name_text(value, typecast) else {
        return Err(expected("a choice name", value));
    };
    let mut name = text.trim();
    if name.is_empty() {
        return Ok(None);
    }
    // With typecast, a name between double quotes that is not a choice as
    // written is the name inside them (a one-choice list as text:
    // `"y, z"`).
    let unquoted;
    if typecast
        && name.starts_with('"')
        && !choices.iter().any(|c| c.name == name)
        && let [one] = crate::fields::split_names(name).as_slice()
    {
        unquoted = one.clone();
        name = unquoted.as_str();
    }
    check_name(name, typecast, choices)?;
    Ok(Some(Value::String(name.to_owned())))
}

fn multi(value: &Value, typecast: bool, choices: &[Choice]) -> Result<Option<Value>, CellError> {
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
            // A known name that contains a comma is one name, not several;
            // otherwise the names between commas, a quoted one whole.
            if choices.iter().any(|c| c.name == whole) {
                vec![whole.to_owned()]
            } else {
                crate::fields::split_names(s)
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
