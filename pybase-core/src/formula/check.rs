//! The checker (FORMULA.md C.2): resolves field references against a
//! table's fields, checks function names, argument counts and the argument
//! types the evaluator would refuse, and infers the result type.
//!
//! A checked formula holds its references as field ids ([`Checked::stored`]
//! is the text to keep), so renames never break it; [`display`] prints a
//! stored formula with the fields' current names.
//!
//! Cycles are not this module's business: a formula read by a filter cannot
//! make one. Computed fields (issue 12, part 3) run their dependency graph's
//! cycle search over [`Checked::referenced_field_ids`] after [`check`]
//! succeeds, and report the path with the same [`CheckError`] shape.

use std::fmt;

use super::ast::{BinaryOp, Expr, ExprKind, Span};
use super::dates::{unit, zone_named};
use super::parser::parse;
use super::printer::print;
use super::regex_fns::compile;
use super::value::Value;
use crate::fields::FieldType;
use crate::ids::FieldId;
use crate::model::Field;

/// What a formula computes (API.md: `result_type`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultType {
    /// A number.
    Number,
    /// Text (also a formula that can only be blank).
    Text,
    /// A boolean.
    Bool,
    /// A calendar day.
    Date,
    /// An instant.
    #[serde(rename = "datetime")]
    DateTime,
    /// A list.
    List,
}

impl ResultType {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Number => "number",
            Self::Text => "text",
            Self::Bool => "bool",
            Self::Date => "date",
            Self::DateTime => "datetime",
            Self::List => "list",
        }
    }
}

/// A formula the checker refused: the message and where, in characters
/// from 0 (`end` exclusive), as API.md's `details.formula` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckError {
    /// What is wrong, e.g. `Unknown field names: qtty`.
    pub message: String,
    /// First character of the culprit.
    pub start: usize,
    /// One past its last character.
    pub end: usize,
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (characters {}..{})",
            self.message, self.start, self.end
        )
    }
}

impl std::error::Error for CheckError {}

impl From<CheckError> for crate::Error {
    fn from(e: CheckError) -> Self {
        Self::InvalidFormula {
            message: e.message,
            start: e.start,
            end: e.end,
        }
    }
}

/// A formula that passed the checker.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// The tree, every field reference rewritten to its field id.
    pub expr: Expr,
    /// What it computes.
    pub result_type: ResultType,
    /// Every field it reads, in order of first appearance.
    pub referenced_field_ids: Vec<FieldId>,
    /// Whether it reads the clock (`NOW`, `TODAY`, `FROMNOW`, `TONOW`).
    pub volatile: bool,
}

impl Checked {
    /// The canonical text with field ids, as formulas are stored.
    pub fn stored(&self) -> String {
        print(&self.expr)
    }
}

/// The static type of a subexpression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Blank,
    Number,
    Text,
    Bool,
    Date,
    DateTime,
    /// A list, with what is known of its items.
    List(Items),
}

/// What a list's items are known to be: a rollup's `values` over a date
/// field holds dates, so `MAX(values)` is a date (not a number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Items {
    /// Anything.
    Any,
    /// Calendar days.
    Date,
    /// Instants.
    DateTime,
}

impl Items {
    /// The items of a list of `item` values.
    fn of(item: ResultType) -> Self {
        match item {
            ResultType::Date => Self::Date,
            ResultType::DateTime => Self::DateTime,
            _ => Self::Any,
        }
    }
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Self::Blank => "a blank",
            Self::Number => "a number",
            Self::Text => "a text",
            Self::Bool => "a boolean",
            Self::Date => "a date",
            Self::DateTime => "a date and time",
            Self::List(_) => "a list",
        }
    }

    fn is_numeric(self) -> bool {
        matches!(self, Self::Blank | Self::Number | Self::Bool)
    }

    fn result(self) -> ResultType {
        match self {
            Self::Blank | Self::Text => ResultType::Text,
            Self::Number => ResultType::Number,
            Self::Bool => ResultType::Bool,
            Self::Date => ResultType::Date,
            Self::DateTime => ResultType::DateTime,
            Self::List(_) => ResultType::List,
        }
    }

    /// The type of a value that is one of `self` or `other` (A.3).
    fn unify(self, other: Self) -> Self {
        match (self, other) {
            (a, b) if a == b => a,
            (Self::Blank, x) | (x, Self::Blank) => x,
            (Self::Date | Self::DateTime, Self::Date | Self::DateTime) => Self::DateTime,
            (Self::Number | Self::Bool, Self::Number | Self::Bool) => Self::Number,
            (Self::List(_), Self::List(_)) => Self::List(Items::Any),
            _ => Self::Text,
        }
    }
}

/// The type a field's cells have in a formula (A.3).
pub fn field_result_type(field_type: &FieldType) -> ResultType {
    field_ty(field_type).result()
}

fn field_ty(field_type: &FieldType) -> Ty {
    match field_type {
        FieldType::Number(_)
        | FieldType::Currency(_)
        | FieldType::Percent(_)
        | FieldType::Rating(_)
        | FieldType::Duration(_)
        | FieldType::Autonumber(_) => Ty::Number,
        FieldType::Text(_)
        | FieldType::LongText(_)
        | FieldType::Email(_)
        | FieldType::Url(_)
        | FieldType::Phone(_)
        | FieldType::SingleSelect(_)
        | FieldType::CreatedBy(_)
        | FieldType::UpdatedBy(_) => Ty::Text,
        FieldType::Checkbox(_) => Ty::Bool,
        FieldType::Date(_) => Ty::Date,
        FieldType::DateTime(_) | FieldType::CreatedTime(_) | FieldType::UpdatedTime(_) => {
            Ty::DateTime
        }
        FieldType::MultiSelect(_) | FieldType::Attachment(_) | FieldType::Link(_) => {
            Ty::List(Items::Any)
        }
        FieldType::Formula(_)
        | FieldType::Lookup(_)
        | FieldType::Rollup(_)
        | FieldType::Count(_) => match field_type.derived().map(|d| d.result_type) {
            Some(ResultType::Number) => Ty::Number,
            Some(ResultType::Bool) => Ty::Bool,
            Some(ResultType::Date) => Ty::Date,
            Some(ResultType::DateTime) => Ty::DateTime,
            Some(ResultType::List) => Ty::List(Items::Any),
            Some(ResultType::Text) | None => Ty::Text,
        },
    }
}

/// Unbounded argument count.
const MANY: usize = usize::MAX;

/// Argument counts of every function the evaluator knows (A.7).
fn arity(name: &str) -> Option<(usize, usize)> {
    Some(match name {
        "TRUE" | "FALSE" | "BLANK" | "ERROR" | "RECORD_ID" | "NOW" | "TODAY" | "CREATED_TIME"
        | "LAST_MODIFIED_TIME" => (0, 0),
        "NOT"
        | "ISERROR"
        | "IS_ERROR"
        | "ABS"
        | "SQRT"
        | "EXP"
        | "INT"
        | "EVEN"
        | "ODD"
        | "LEN"
        | "LOWER"
        | "UPPER"
        | "TRIM"
        | "T"
        | "VALUE"
        | "ENCODE_URL_COMPONENT"
        | "ARRAYCOMPACT"
        | "ARRAYFLATTEN"
        | "ARRAYUNIQUE"
        | "YEAR"
        | "MONTH"
        | "DAY"
        | "HOUR"
        | "MINUTE"
        | "SECOND"
        | "DATESTR"
        | "TIMESTR"
        | "FROMNOW"
        | "TONOW" => (1, 1),
        "LOG" | "ROUND" | "ROUNDUP" | "ROUNDDOWN" | "CEILING" | "FLOOR" | "LEFT" | "RIGHT"
        | "ARRAYJOIN" | "WEEKDAY" | "WEEKNUM" | "DATETIME_PARSE" | "DATETIME_FORMAT" => (1, 2),
        "POWER" | "MOD" | "REPT" | "REGEX_MATCH" | "REGEX_EXTRACT" | "IS_BEFORE" | "IS_AFTER"
        | "SET_TIMEZONE" => (2, 2),
        "IF" => (2, 3),
        "FIND" | "SEARCH" | "ARRAYSLICE" | "DATETIME_DIFF" | "IS_SAME" | "WORKDAY"
        | "WORKDAY_DIFF" => (2, 3),
        "MID" | "REGEX_REPLACE" | "DATEADD" => (3, 3),
        "SUBSTITUTE" => (3, 4),
        "REPLACE" => (4, 4),
        "SWITCH" => (3, MANY),
        "AND" | "OR" | "XOR" | "SUM" | "AVERAGE" | "MAX" | "MIN" | "COUNT" | "COUNTA"
        | "COUNTALL" | "CONCATENATE" => (1, MANY),
        _ => return None,
    })
}

/// Positions (0-based) of the arguments the function reads as numbers.
fn numeric_args(name: &str) -> &'static [usize] {
    match name {
        "ABS" | "SQRT" | "EXP" | "INT" | "EVEN" | "ODD" => &[0],
        "POWER" | "LOG" | "MOD" | "ROUND" | "ROUNDUP" | "ROUNDDOWN" | "CEILING" | "FLOOR" => {
            &[0, 1]
        }
        "LEFT" | "RIGHT" | "REPT" | "DATEADD" | "WORKDAY" | "ARRAYSLICE" => &[1],
        "MID" | "REPLACE" => &[1, 2],
        "FIND" | "SEARCH" => &[2],
        "SUBSTITUTE" => &[3],
        _ => &[],
    }
}

/// The arguments of `name` that must be dates or date-times: a number or a
/// boolean there is never one (the evaluator answers `#ERROR!` for every
/// record), so the checker refuses it. Text passes (it may parse).
fn date_args(name: &str) -> &'static [usize] {
    match name {
        "YEAR" | "MONTH" | "DAY" | "HOUR" | "MINUTE" | "SECOND" | "WEEKDAY" | "WEEKNUM"
        | "DATEADD" | "DATETIME_FORMAT" | "WORKDAY" | "SET_TIMEZONE" | "DATESTR" | "TIMESTR"
        | "FROMNOW" | "TONOW" => &[0],
        "DATETIME_DIFF" | "IS_BEFORE" | "IS_AFTER" | "IS_SAME" | "WORKDAY_DIFF" => &[0, 1],
        _ => &[],
    }
}

/// Checks `source` against a table's `fields`; see the module docs.
pub fn check(source: &str, fields: &[Field]) -> Result<Checked, CheckError> {
    check_with(source, fields, None)
}

/// Checks a rollup's formula, which reads one field, `values`: the list of
/// the linked records' values of a field whose cells are `item`s (so that
/// `MAX(values)` over dates is a date).
pub fn check_rollup(source: &str, values: &Field, item: ResultType) -> Result<Checked, CheckError> {
    check_with(
        source,
        std::slice::from_ref(values),
        Some((values.id, Items::of(item))),
    )
}

fn check_with(
    source: &str,
    fields: &[Field],
    list_items: Option<(FieldId, Items)>,
) -> Result<Checked, CheckError> {
    let mut expr = parse_positioned(source)?;
    let mut checker = Checker {
        source,
        fields,
        list_items,
        referenced: Vec::new(),
        unknown: Vec::new(),
        volatile: false,
    };
    checker.resolve(&mut expr);
    if let Some((_, span)) = checker.unknown.first() {
        let names: Vec<&str> = checker.unknown.iter().map(|(n, _)| n.as_str()).collect();
        return Err(checker.error(*span, format!("Unknown field names: {}", names.join(", "))));
    }
    let ty = checker.walk(&expr)?;
    Ok(Checked {
        expr,
        result_type: ty.result(),
        referenced_field_ids: checker.referenced,
        volatile: checker.volatile,
    })
}

/// Parses `source`; a formula that does not parse is refused like one that
/// does not check: `Invalid formula: ...` with the character where parsing
/// stopped (API.md `details.formula`).
pub fn parse_positioned(source: &str) -> Result<Expr, CheckError> {
    parse(source).map_err(|e| {
        let start = char_pos(source, e.position);
        CheckError {
            message: format!("Invalid formula: {}", e.message),
            start,
            end: (start + 1).min(source.chars().count()).max(start),
        }
    })
}

/// A stored formula (fields by id) with the references to `gone` (a field
/// being deleted) written as `name`, its last known name: the formula is
/// then `is_valid: false` and shows that name rather than an id nobody can
/// resolve (API.md; docs/FORMULA.md "Deleted references").
pub fn name_deleted_reference(
    stored: &str,
    gone: FieldId,
    name: &str,
) -> Result<String, super::FormulaError> {
    let mut expr = parse(stored)?;
    rename(&mut expr, &|key| {
        (FieldId::parse(key).ok() == Some(gone)).then(|| name.to_owned())
    });
    Ok(print(&expr))
}

/// A stored formula (fields by id) printed with the fields' current names;
/// ids of fields that no longer exist stay as they are (a deleted field's
/// references were written as its name when it was deleted,
/// [`name_deleted_reference`]).
pub fn display(stored: &str, fields: &[Field]) -> Result<String, super::FormulaError> {
    let mut expr = parse(stored)?;
    rename(&mut expr, &|key| {
        FieldId::parse(key)
            .ok()
            .and_then(|id| fields.iter().find(|f| f.id == id))
            .map(|f| f.name.clone())
    });
    Ok(print(&expr))
}

/// A formula as callers see it ([`display`]: fields by name) written with
/// field ids, as Airtable's API shows formulas: each reference to a field
/// of `fields` by its exact name becomes its id; other references (an id
/// already, a deleted field's last name) stay as they are.
pub fn by_ids(shown: &str, fields: &[Field]) -> Result<String, super::FormulaError> {
    let mut expr = parse(shown)?;
    rename(&mut expr, &|key| {
        fields
            .iter()
            .find(|f| f.name == key)
            .map(|f| f.id.to_string())
    });
    Ok(print(&expr))
}

fn rename(expr: &mut Expr, f: &impl Fn(&str) -> Option<String>) {
    match &mut expr.kind {
        ExprKind::Field(name) => {
            if let Some(new) = f(name) {
                *name = new;
            }
        }
        ExprKind::Call { args, .. } => args.iter_mut().for_each(|a| rename(a, f)),
        ExprKind::Unary { operand, .. } => rename(operand, f),
        ExprKind::Binary { lhs, rhs, .. } => {
            rename(lhs, f);
            rename(rhs, f);
        }
        ExprKind::Number(_) | ExprKind::Text(_) | ExprKind::Bool(_) => {}
    }
}

/// The character position of byte offset `byte` in `source`.
fn char_pos(source: &str, byte: usize) -> usize {
    source.char_indices().take_while(|(i, _)| *i < byte).count()
}

struct Checker<'a> {
    source: &'a str,
    fields: &'a [Field],
    /// A list field whose items' type is known (a rollup's `values`).
    list_items: Option<(FieldId, Items)>,
    referenced: Vec<FieldId>,
    unknown: Vec<(String, Span)>,
    volatile: bool,
}

impl Checker<'_> {
    fn error(&self, span: Span, message: String) -> CheckError {
        CheckError {
            message,
            start: char_pos(self.source, span.start),
            end: char_pos(self.source, span.end),
        }
    }

    /// The field `key` names: its exact name (Airtable), else its id, else
    /// its name ignoring case (as the rest of PyBase finds fields).
    fn find(&self, key: &str) -> Option<&Field> {
        self.fields
            .iter()
            .find(|f| f.name == key)
            .or_else(|| {
                FieldId::parse(key)
                    .ok()
                    .and_then(|id| self.fields.iter().find(|f| f.id == id))
            })
            .or_else(|| {
                let folded = key.to_lowercase();
                self.fields.iter().find(|f| f.name.to_lowercase() == folded)
            })
    }

    /// Rewrites references to field ids, collecting unknown names.
    fn resolve(&mut self, expr: &mut Expr) {
        match &mut expr.kind {
            ExprKind::Field(name) => match self.find(name).map(|f| f.id) {
                Some(id) => {
                    if !self.referenced.contains(&id) {
                        self.referenced.push(id);
                    }
                    *name = id.to_string();
                }
                None => {
                    if !self.unknown.iter().any(|(n, _)| n == name) {
                        self.unknown.push((name.clone(), expr.span));
                    }
                }
            },
            ExprKind::Call { args, .. } => args.iter_mut().for_each(|a| self.resolve(a)),
            ExprKind::Unary { operand, .. } => self.resolve(operand),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.resolve(lhs);
                self.resolve(rhs);
            }
            ExprKind::Number(_) | ExprKind::Text(_) | ExprKind::Bool(_) => {}
        }
    }

    fn numeric(&self, expr: &Expr, ty: Ty, what: &str) -> Result<(), CheckError> {
        if ty.is_numeric() {
            Ok(())
        } else {
            Err(self.error(
                expr.span,
                format!("{what} needs a number, got {}", ty.name()),
            ))
        }
    }

    fn walk(&mut self, expr: &Expr) -> Result<Ty, CheckError> {
        match &expr.kind {
            ExprKind::Number(_) => Ok(Ty::Number),
            ExprKind::Text(_) => Ok(Ty::Text),
            ExprKind::Bool(_) => Ok(Ty::Bool),
            ExprKind::Field(id) => {
                let field = FieldId::parse(id)
                    .ok()
                    .and_then(|id| self.fields.iter().find(|f| f.id == id));
                Ok(match (field, self.list_items) {
                    (Some(f), Some((list, items))) if f.id == list => Ty::List(items),
                    (Some(f), _) => field_ty(&f.field_type),
                    (None, _) => Ty::Blank,
                })
            }
            ExprKind::Unary { operand, .. } => {
                let ty = self.walk(operand)?;
                self.numeric(operand, ty, "A sign")?;
                Ok(Ty::Number)
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let a = self.walk(lhs)?;
                let b = self.walk(rhs)?;
                match op {
                    BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div => {
                        let what = format!("'{}'", op.symbol());
                        self.numeric(lhs, a, &what)?;
                        self.numeric(rhs, b, &what)?;
                        Ok(Ty::Number)
                    }
                    BinaryOp::Concat => Ok(Ty::Text),
                    _ => Ok(Ty::Bool),
                }
            }
            ExprKind::Call { name, args } => self.call(expr.span, name, args),
        }
    }

    fn call(&mut self, span: Span, name: &str, args: &[Expr]) -> Result<Ty, CheckError> {
        let name_span = Span {
            start: span.start,
            end: (span.start + name.len()).min(span.end),
        };
        let Some((min, max)) = arity(name) else {
            return Err(self.error(name_span, format!("Unknown function names: {name}")));
        };
        if args.len() < min || args.len() > max {
            let wanted = match (min, max) {
                (a, b) if a == b => format!("{a}"),
                (a, MANY) => format!("at least {a}"),
                (a, b) => format!("{a} to {b}"),
            };
            let plural = if min == 1 && (max == 1 || max == MANY) {
                ""
            } else {
                "s"
            };
            return Err(self.error(
                span,
                format!("{name} takes {wanted} argument{plural}, got {}", args.len()),
            ));
        }
        let mut tys = Vec::with_capacity(args.len());
        for a in args {
            tys.push(self.walk(a)?);
        }
        for &i in numeric_args(name) {
            if let (Some(a), Some(t)) = (args.get(i), tys.get(i)) {
                self.numeric(a, *t, &format!("Argument {} of {name}", i + 1))?;
            }
        }
        for &i in date_args(name) {
            if let (Some(a), Some(t)) = (args.get(i), tys.get(i))
                && matches!(t, Ty::Number | Ty::Bool)
            {
                return Err(self.error(
                    a.span,
                    format!(
                        "Argument {} of {name} needs a date, got {}",
                        i + 1,
                        t.name()
                    ),
                ));
            }
        }
        self.literals(name, args)?;
        if matches!(name, "NOW" | "TODAY" | "FROMNOW" | "TONOW") {
            self.volatile = true;
        }
        Ok(result_of(name, args, &tys))
    }

    /// Literal units, time zones and regular expressions are checked now
    /// (A.6, A.7); computed ones give `#ERROR!` when evaluated.
    fn literals(&self, name: &str, args: &[Expr]) -> Result<(), CheckError> {
        let unit_arg = match name {
            "DATEADD" | "DATETIME_DIFF" | "IS_SAME" => args.get(2),
            _ => None,
        };
        if let Some(a) = unit_arg
            && let ExprKind::Text(t) = &a.kind
            && unit(&Value::Text(t.clone())).is_err()
        {
            return Err(self.error(
                a.span,
                format!(
                    "Unknown unit {t:?} (expected milliseconds/ms, seconds/s, minutes/m, hours/h, days/d, weeks/w, months/M, quarters/Q or years/y)"
                ),
            ));
        }
        if name == "SET_TIMEZONE"
            && let Some(a) = args.get(1)
            && let ExprKind::Text(t) = &a.kind
            && zone_named(t).is_none()
        {
            return Err(self.error(
                a.span,
                format!(
                    "Unknown time zone {t:?} (expected an IANA time zone name such as \"Europe/Berlin\" or \"UTC\")"
                ),
            ));
        }
        if name.starts_with("REGEX_")
            && let Some(a) = args.get(1)
            && let ExprKind::Text(t) = &a.kind
            && compile(t).is_err()
        {
            return Err(self.error(
                a.span,
                format!("Invalid regular expression {t:?} (or larger than the limits)"),
            ));
        }
        Ok(())
    }
}

/// The result type of a call whose arguments have types `tys`.
fn result_of(name: &str, args: &[Expr], tys: &[Ty]) -> Ty {
    match name {
        "IF" => tys[1].unify(tys.get(2).copied().unwrap_or(Ty::Blank)),
        "SWITCH" => {
            let rest = &tys[1..];
            let mut out = Ty::Blank;
            for (i, t) in rest.iter().enumerate() {
                let is_result = i % 2 == 1;
                let is_default = i == rest.len() - 1 && rest.len() % 2 == 1;
                if is_result || is_default {
                    out = out.unify(*t);
                }
            }
            out
        }
        "ISERROR" | "IS_ERROR" | "AND" | "OR" | "XOR" | "NOT" | "TRUE" | "FALSE" | "IS_BEFORE"
        | "IS_AFTER" | "IS_SAME" | "REGEX_MATCH" => Ty::Bool,
        "BLANK" | "ERROR" => Ty::Blank,
        "MAX" | "MIN" => {
            // A list of dates counts as its items.
            let tys: Vec<Ty> = tys
                .iter()
                .map(|t| match t {
                    Ty::List(Items::Date) => Ty::Date,
                    Ty::List(Items::DateTime) => Ty::DateTime,
                    other => *other,
                })
                .collect();
            let dates = tys
                .iter()
                .all(|t| matches!(t, Ty::Date | Ty::DateTime | Ty::Blank))
                && tys.iter().any(|t| matches!(t, Ty::Date | Ty::DateTime));
            if dates {
                tys.iter().fold(Ty::Blank, |a, b| a.unify(*b))
            } else {
                Ty::Number
            }
        }
        "CONCATENATE"
        | "LEFT"
        | "RIGHT"
        | "MID"
        | "LOWER"
        | "UPPER"
        | "TRIM"
        | "SUBSTITUTE"
        | "REPLACE"
        | "REPT"
        | "T"
        | "ENCODE_URL_COMPONENT"
        | "ARRAYJOIN"
        | "REGEX_EXTRACT"
        | "REGEX_REPLACE"
        | "RECORD_ID"
        | "DATESTR"
        | "TIMESTR"
        | "DATETIME_FORMAT" => Ty::Text,
        "ARRAYCOMPACT" | "ARRAYFLATTEN" | "ARRAYUNIQUE" | "ARRAYSLICE" => match tys.first() {
            Some(Ty::List(items)) => Ty::List(*items),
            _ => Ty::List(Items::Any),
        },
        "NOW" | "CREATED_TIME" | "LAST_MODIFIED_TIME" | "DATETIME_PARSE" | "SET_TIMEZONE" => {
            Ty::DateTime
        }
        "TODAY" | "WORKDAY" => Ty::Date,
        "DATEADD" => {
            let coarse = match args.get(2).map(|a| &a.kind) {
                Some(ExprKind::Text(t)) => matches!(
                    unit(&Value::Text(t.clone())),
                    Ok(u) if u.is_calendar()
                ),
                _ => false,
            };
            if tys[0] == Ty::Date && coarse {
                Ty::Date
            } else {
                Ty::DateTime
            }
        }
        _ => Ty::Number,
    }
}

#[cfg(test)]
mod tests;
