//! The registry: every field type, listed once.
//!
//! [`FieldType`], its name list, option parsing and the dispatch to each
//! type's [`Kind`] are generated from the one list below, so a new type is a
//! module under `kinds/` plus one line here; every `match` over the types is
//! generated and exhaustive.

use serde_json::Value;

use super::kind::{
    Kind, KindInfo, MetaColumn, Options, OptionsError, Reference, Storage, ValueKind, opt_err,
};
use super::kinds::{
    Attachment, Autonumber, Checkbox, Choice, Count, CreatedBy, CreatedTime, Currency, Date,
    DateTime, Derived, Duration, Email, Formula, Link, LongText, Lookup, MultiSelect, Number,
    Percent, Phone, Rating, Rollup, SingleSelect, Text, UpdatedBy, UpdatedTime, Url,
};

/// Declares [`FieldType`] from `Variant(KindStruct)` lines.
macro_rules! field_types {
    ($( $(#[$doc:meta])* $variant:ident($kind:ty), )*) => {
        /// A field's type with its typed options (DESIGN.md, "Field types").
        ///
        /// Each variant holds its type's options struct from
        /// [`crate::fields::kinds`]; the behaviour is reached through
        /// [`FieldType::kind`].
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum FieldType {
            $( $(#[$doc])* $variant($kind), )*
        }

        impl FieldType {
            /// The API name of every field type, in registry order.
            pub const NAMES: &'static [&'static str] = &[$( <$kind as KindInfo>::NAME ),*];

            /// Builds a type from its API name and options, validating the
            /// options.
            ///
            /// `options` may be `null` for types without required options.
            /// Unknown option keys are rejected so typos do not pass
            /// silently.
            pub fn from_parts(type_name: &str, options: &Value) -> Result<Self, OptionsError> {
                let opts = Options::of(options, type_name)?;
                $(
                    if type_name == <$kind as KindInfo>::NAME {
                        opts.check_keys(<$kind as KindInfo>::OPTION_KEYS, type_name)?;
                        return Ok(Self::$variant(<$kind as KindInfo>::parse(&opts)?));
                    }
                )*
                Err(opt_err(format!(
                    "unknown field type {type_name:?} (expected one of {})",
                    Self::NAMES.join(", ")
                )))
            }

            /// The API name of this type (`single_select`, ...).
            pub fn type_name(&self) -> &'static str {
                match self {
                    $( Self::$variant(_) => <$kind as KindInfo>::NAME, )*
                }
            }

            /// Every type with each of its example option sets
            /// ([`KindInfo::examples`]), in registry order; links point at
            /// `linked_table`.
            pub fn examples(linked_table: crate::ids::TableId) -> Vec<Self> {
                let mut out = Vec::new();
                $( out.extend(<$kind as KindInfo>::examples(linked_table).into_iter().map(Self::$variant)); )*
                out
            }

            /// Each type's name with the JSON Schema of its options, in
            /// registry order.
            pub fn options_schemas() -> Vec<(&'static str, Value)> {
                vec![$( (<$kind as KindInfo>::NAME, <$kind as KindInfo>::options_schema()) ),*]
            }

            /// The type's behaviour.
            pub fn kind(&self) -> &dyn Kind {
                match self {
                    $( Self::$variant(k) => k, )*
                }
            }

            /// The type's behaviour, to change its options in place.
            pub(crate) fn kind_mut(&mut self) -> &mut dyn Kind {
                match self {
                    $( Self::$variant(k) => k, )*
                }
            }
        }
    };
}

field_types! {
    /// Single-line text, optionally limited in length (characters).
    Text(Text),
    /// Multi-line text.
    LongText(LongText),
    /// An email address.
    Email(Email),
    /// An http(s) URL.
    Url(Url),
    /// A phone number.
    Phone(Phone),
    /// A number with 0..=8 decimal places.
    Number(Number),
    /// An amount of money.
    Currency(Currency),
    /// A fraction, 0.5 meaning 50 %.
    Percent(Percent),
    /// An integer rating 1..=max.
    Rating(Rating),
    /// A duration in seconds.
    Duration(Duration),
    /// A boolean; absent means false.
    Checkbox(Checkbox),
    /// One choice name out of the field's choices.
    SingleSelect(SingleSelect),
    /// A list of choice names out of the field's choices.
    MultiSelect(MultiSelect),
    /// A calendar date, `YYYY-MM-DD`.
    Date(Date),
    /// An instant, stored as RFC 3339 UTC with milliseconds.
    DateTime(DateTime),
    /// A list of uploaded attachments.
    Attachment(Attachment),
    /// Links to records of another (or the same) table.
    Link(Link),
    /// Store-kept: a per-table sequence number given at creation.
    Autonumber(Autonumber),
    /// Store-kept: when the record was created.
    CreatedTime(CreatedTime),
    /// Store-kept: when the record was last changed.
    UpdatedTime(UpdatedTime),
    /// Store-kept: who created the record.
    CreatedBy(CreatedBy),
    /// Store-kept: who last changed the record.
    UpdatedBy(UpdatedBy),
    /// Derived: a formula over the record's fields.
    Formula(Formula),
    /// Derived: the values of a field of the linked records.
    Lookup(Lookup),
    /// Derived: a formula over the values of the linked records.
    Rollup(Rollup),
    /// Derived: how many live records are linked.
    Count(Count),
}

impl FieldType {
    /// The options as the API shows them (an object, possibly empty).
    pub fn options_json(&self) -> Value {
        self.kind().options_json()
    }

    /// Where the values live and how they compare.
    pub fn storage(&self) -> Storage {
        self.kind().storage()
    }

    /// Whether cells of this type are computed rather than written by
    /// clients (writes rejected).
    pub fn is_computed(&self) -> bool {
        match self.storage() {
            Storage::Cell(_) => false,
            Storage::Column(_) | Storage::Derived(_) => true,
        }
    }

    /// The result type, references and validity of a derived type
    /// (formula, lookup, rollup, count).
    pub fn derived(&self) -> Option<&Derived> {
        match self {
            Self::Formula(k) => Some(&k.derived),
            Self::Lookup(k) => Some(&k.derived),
            Self::Rollup(k) => Some(&k.derived),
            Self::Count(k) => Some(&k.derived),
            _ => None,
        }
    }

    /// [`FieldType::derived`], to change it.
    pub(crate) fn derived_mut(&mut self) -> Option<&mut Derived> {
        match self {
            Self::Formula(k) => Some(&mut k.derived),
            Self::Lookup(k) => Some(&mut k.derived),
            Self::Rollup(k) => Some(&mut k.derived),
            Self::Count(k) => Some(&mut k.derived),
            _ => None,
        }
    }

    /// The record column a store-kept type reads, if it is one.
    pub fn meta_column(&self) -> Option<MetaColumn> {
        match self.storage() {
            Storage::Cell(_) | Storage::Derived(_) => None,
            Storage::Column(column) => Some(column),
        }
    }

    /// How stored cells of this type compare. Store-kept types answer for
    /// their column.
    pub fn value_kind(&self) -> ValueKind {
        self.storage().value_kind()
    }

    /// The rows of other tables its cells point at.
    pub fn references(&self) -> Option<Reference> {
        self.kind().references()
    }

    /// The partner of a two-way link field (`None` for other types and
    /// one-way links).
    pub fn inverse_field_id(&self) -> Option<crate::ids::FieldId> {
        match self {
            Self::Link(link) => link.inverse_field_id,
            _ => None,
        }
    }

    /// The choices of a select field (empty for other types).
    pub fn choices(&self) -> &[Choice] {
        self.kind().choices()
    }

    /// The choices of a select field, to add or rename them (`None` for
    /// other types).
    pub(crate) fn choices_mut(&mut self) -> Option<&mut Vec<Choice>> {
        self.kind_mut().choices_mut()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ids::TableId;

    #[test]
    fn every_type_round_trips_through_its_parts() {
        for &name in FieldType::NAMES {
            let opts = match name {
                "link" => json!({ "linked_table_id": TableId::new() }),
                "formula" => json!({ "formula": "1 + 2" }),
                "lookup" => json!({ "link_field": "L", "field": "F" }),
                "rollup" => json!({ "link_field": "L", "field": "F", "formula": "SUM(values)" }),
                "count" => json!({ "link_field": "L" }),
                _ => Value::Null,
            };
            let ft = FieldType::from_parts(name, &opts).unwrap();
            assert_eq!(ft.type_name(), name);
            let again = FieldType::from_parts(name, &ft.options_json()).unwrap();
            assert_eq!(again, ft);
        }
    }

    #[test]
    fn every_type_is_documented_in_the_api_contract() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/API.md");
        let doc = std::fs::read_to_string(path).unwrap();
        for name in FieldType::NAMES {
            assert!(
                doc.lines()
                    .any(|l| l.starts_with('|') && l.contains(&format!("`{name}`"))),
                "docs/API.md's field type table does not list `{name}`"
            );
        }
    }

    #[test]
    fn options_schemas_describe_every_example() {
        for example in FieldType::examples(TableId::new()) {
            let (_, schema) = FieldType::options_schemas()
                .into_iter()
                .find(|(name, _)| *name == example.type_name())
                .unwrap();
            assert_eq!(schema["additionalProperties"], json!(false), "{example:?}");
            let options = example.options_json();
            for key in options.as_object().unwrap().keys() {
                assert!(
                    schema["properties"].get(key).is_some(),
                    "{}: option {key} is not in its schema",
                    example.type_name()
                );
            }
            let allowed: Vec<String> = schema["properties"]
                .as_object()
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            let refused =
                FieldType::from_parts(example.type_name(), &json!({ "no_such_option": 1 }));
            assert!(refused.is_err(), "{}", example.type_name());
            for key in &allowed {
                // Every documented option is one the type parses.
                let probe = json!({ key: options.get(key).cloned().unwrap_or(Value::Null) });
                let err = FieldType::from_parts(example.type_name(), &probe).err();
                assert!(
                    err.as_ref()
                        .is_none_or(|e| !e.message.contains("unknown option")),
                    "{}: {key}: {err:?}",
                    example.type_name()
                );
            }
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names = FieldType::NAMES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FieldType::NAMES.len());
    }

    #[test]
    fn bad_options_are_rejected_with_what_was_expected() {
        let e = FieldType::from_parts("number", &json!({ "precision": 9 })).unwrap_err();
        assert!(e.message.contains("0 to 8"), "{e}");
        let e = FieldType::from_parts("text", &json!({ "colour": 1 })).unwrap_err();
        assert!(e.message.contains("colour"), "{e}");
        let e = FieldType::from_parts("blob", &Value::Null).unwrap_err();
        assert!(e.message.contains("unknown field type"), "{e}");
        assert!(e.message.contains("created_by"), "{e}");
        assert!(FieldType::from_parts("link", &Value::Null).is_err());
        assert!(FieldType::from_parts("rating", &json!({ "max": 11 })).is_err());
        assert!(FieldType::from_parts("single_select", &json!({ "choices": ["a", "a"] })).is_err());
        let e = FieldType::from_parts("text", &json!([1])).unwrap_err();
        assert!(e.message.contains("must be an object"), "{e}");
    }
}
