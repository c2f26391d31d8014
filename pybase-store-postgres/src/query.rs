//! Compilation of core's resolved filters and sorts to parameterised SQL.
//!
//! Every compiled condition is two-valued (never SQL `NULL`), so `NOT`
//! agrees with [`pybase_core::query::eval`]. Field ids and operands are bound
//! as parameters; the SQL text holds only fixed fragments and placeholders.
//!
//! Expressions, per target:
//! - text cell: `(data ->> $f) COLLATE "C"` (byte order);
//! - number cell: `CASE WHEN jsonb_typeof(data -> $f) = 'number' THEN
//!   (data ->> $f)::float8 END` (PostgreSQL parses the stored decimal to the
//!   same f64 core wrote, so comparisons agree with the evaluator's `f64`s);
//! - bool cell: `data @> {"fld": true}` (absent is false);
//! - equality, `in`, `has_any` and `has_all` use containment
//!   (`data @> $j`), which the GIN index (`jsonb_path_ops`) serves. Stored
//!   numbers and operands are both printed from `f64`s, so numeric equality
//!   of the decimals is `f64` equality; a list's wanted text is looked for
//!   as a string item and also as the number or boolean it spells;
//! - `is_empty` / `is_not_empty` on a list look for an item that is not
//!   null;
//! - meta columns read the record's columns.

use chrono::{DateTime, Utc};
use pybase_core::StoreError;
use pybase_core::fields::{MetaColumn, ValueKind};
use pybase_core::ids::FieldId;
use pybase_core::query::eval::{ListWanted, TIME_FORMAT};
use pybase_core::query::{Condition, Cursor, Filter, Op, Operand, SortKey, SortValue, Target};
use serde_json::{Value, json};

use crate::nul::encode_str;
use crate::sql::Sql;

const UPPER: &str = "'ABCDEFGHIJKLMNOPQRSTUVWXYZ'";
const LOWER: &str = "'abcdefghijklmnopqrstuvwxyz'";

/// ASCII-only lowercasing in SQL, like Rust's `to_ascii_lowercase` (never
/// locale-dependent `lower()`).
fn ascii_lower(expr: &str) -> String {
    format!("translate({expr}, {UPPER}, {LOWER})")
}

/// The meta time columns as text in [`TIME_FORMAT`].
fn time_text(column: &str) -> String {
    format!(
        "to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') COLLATE \"C\""
    )
}

/// The column of a meta target.
fn meta_column(m: MetaColumn) -> &'static str {
    match m {
        MetaColumn::Autonumber => "autonumber",
        MetaColumn::CreatedTime => "created_time",
        MetaColumn::UpdatedTime => "updated_time",
        MetaColumn::CreatedBy => "created_by",
        MetaColumn::UpdatedBy => "updated_by",
    }
}

/// A time operand that is exactly a [`TIME_FORMAT`] string, parsed, so it
/// can be compared with a `timestamptz` column with the same result as the
/// evaluator's byte comparison.
fn exact_time(s: &str) -> Option<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(s).ok()?.with_timezone(&Utc);
    (t.format(TIME_FORMAT).to_string() == s).then_some(t)
}

/// SQL comparison operator of an ordering op.
fn cmp_sql(op: Op) -> &'static str {
    match op {
        Op::Lt => "<",
        Op::Lte => "<=",
        Op::Gt => ">",
        Op::Gte => ">=",
        _ => "=",
    }
}

/// `{"fld": value}` for containment.
fn cell_object(field: FieldId, value: Value) -> Value {
    let mut m = serde_json::Map::new();
    m.insert(field.as_str().to_owned(), value);
    Value::Object(m)
}

/// The one-item lists a list cell contains when it holds an item whose
/// text form is `wanted` (see [`ListWanted`]): `["10"]` and `[10]` for
/// `"10"`, `["true"]` and `[true]` for `"true"`.
fn list_items_spelling(wanted: &str) -> Vec<Value> {
    let also = ListWanted::of(wanted);
    let mut out = vec![json!([wanted])];
    if let Some(n) = also.number {
        out.push(json!([number_json(n)]));
    }
    if let Some(b) = also.boolean {
        out.push(json!([b]));
    }
    out
}

fn number_json(n: f64) -> Value {
    serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
}

/// Compiles filters and sorts, binding into one [`Sql`].
pub(crate) struct Compiler<'a> {
    sql: &'a mut Sql,
    /// How many `NOT`s enclose the condition being compiled.
    negations: usize,
}

impl<'a> Compiler<'a> {
    /// A compiler binding its parameters into `sql`.
    pub(crate) fn new(sql: &'a mut Sql) -> Self {
        Self { sql, negations: 0 }
    }

    /// A boolean SQL expression true exactly when `filter` matches.
    pub(crate) fn filter(&mut self, filter: &Filter) -> String {
        match filter {
            Filter::And(parts) if parts.is_empty() => "TRUE".to_owned(),
            Filter::Or(parts) if parts.is_empty() => "FALSE".to_owned(),
            Filter::And(parts) => self.join(parts, " AND "),
            Filter::Or(parts) => self.join(parts, " OR "),
            Filter::Not(inner) => {
                self.negations += 1;
                let inner = self.filter(inner);
                self.negations -= 1;
                format!("(NOT {inner})")
            }
            Filter::Cond(c) => self.condition(c),
        }
    }

    fn join(&mut self, parts: &[Filter], sep: &str) -> String {
        let parts: Vec<String> = parts.iter().map(|p| self.filter(p)).collect();
        format!("({})", parts.join(sep))
    }

    fn field(&mut self, field: FieldId) -> String {
        self.sql.arg(field.as_str().to_owned())
    }

    fn contains(&mut self, field: FieldId, value: Value) -> String {
        let j = self.sql.arg(cell_object(field, value));
        format!("(data @> {j})")
    }

    fn contains_any(&mut self, field: FieldId, values: Vec<Value>) -> String {
        let objects: Vec<Value> = values.into_iter().map(|v| cell_object(field, v)).collect();
        let j = self.sql.arg(objects);
        format!("(data @> ANY({j}::jsonb[]))")
    }

    /// `expr op param`, false when `expr` is NULL.
    ///
    /// A filter is only ever a WHERE clause, where NULL rejects a row as
    /// false does through every AND and OR: outside any `NOT` the comparison
    /// is written bare, so `expr` is computed once per row and an
    /// expression index on it can serve the term. Under a `NOT`, and for
    /// `neq` (which its callers negate), it must be false, not NULL, for an
    /// empty cell.
    fn compare(&self, expr: &str, op: Op, param: &str) -> String {
        if self.negations > 0 || op == Op::Neq {
            format!("coalesce({expr} {} {param}, FALSE)", cmp_sql(op))
        } else {
            format!("({expr} {} {param})", cmp_sql(op))
        }
    }

    /// Partial text matches on a nullable text expression, ASCII case folded.
    fn partial(&mut self, expr: &str, op: Op, needle: &str) -> String {
        let p = self.sql.arg(needle.to_ascii_lowercase());
        let hit = match op {
            Op::StartsWith => format!(
                "coalesce(left({}, length({p})) = {p}, false)",
                ascii_lower(expr)
            ),
            _ => format!("coalesce(strpos({}, {p}) > 0, false)", ascii_lower(expr)),
        };
        if op == Op::NotContains {
            format!("(NOT {hit})")
        } else {
            format!("({hit})")
        }
    }

    /// Whether a condition holds; mirrors `eval::condition_matches` case by case.
    fn condition(&mut self, c: &Condition) -> String {
        // Text operands in their stored form (see `crate::nul`).
        let c = &Condition {
            target: c.target,
            op: c.op,
            operand: match &c.operand {
                Operand::Text(s) => Operand::Text(encode_str(s).into_owned()),
                Operand::TextList(l) => {
                    Operand::TextList(l.iter().map(|s| encode_str(s).into_owned()).collect())
                }
                other => other.clone(),
            },
        };
        let negated = matches!(c.op, Op::Neq | Op::NotContains);
        // Ops that never hold for this kind and operand (e.g. `contains` on a
        // number): false, or true for the negated ones.
        let never = if negated { "TRUE" } else { "FALSE" }.to_owned();
        match c.target {
            Target::Cell { field, kind } => match kind {
                ValueKind::List => self.list_condition(field, c),
                ValueKind::Bool => self.bool_condition(field, c),
                ValueKind::Text => self.text_condition(field, c).unwrap_or(never),
                ValueKind::Number => self.number_condition(field, c).unwrap_or(never),
            },
            Target::Meta(m) => self.meta_condition(m, c).unwrap_or(never),
            // A sort key only: filters read every item of a list.
            Target::FirstNumber(_) => never,
        }
    }

    fn is_empty_cell(&mut self, field: FieldId, op: Op) -> String {
        let f = self.field(field);
        let empty = format!("(coalesce(jsonb_typeof(data -> {f}), 'null') = 'null')");
        if op == Op::IsEmpty {
            empty
        } else {
            format!("(NOT {empty})")
        }
    }

    /// Conditions on list cells, as [`pybase_core::query::eval`] reads
    /// them: an array is non-empty when it holds an item that is not null;
    /// `has_any` / `has_all` look for each wanted text by containment as a
    /// string item, and also as the number it is the canonical text of and
    /// the boolean it spells (see [`ListWanted`]): jsonb compares numbers
    /// numerically, so `30.0` stored is found as `30`.
    fn list_condition(&mut self, field: FieldId, c: &Condition) -> String {
        let wanted: &[String] = match &c.operand {
            Operand::TextList(l) => l,
            _ => &[],
        };
        match c.op {
            Op::IsEmpty | Op::IsNotEmpty => {
                let f = self.field(field);
                let has_items = format!(
                    "(CASE WHEN jsonb_typeof(data -> {f}) = 'array' THEN EXISTS \
                     (SELECT 1 FROM jsonb_array_elements(data -> {f}) AS e(v) \
                     WHERE jsonb_typeof(e.v) <> 'null') ELSE FALSE END)"
                );
                if c.op == Op::IsEmpty {
                    format!("(NOT {has_items})")
                } else {
                    has_items
                }
            }
            Op::HasAny if !wanted.is_empty() => {
                let values = wanted.iter().flat_map(|w| list_items_spelling(w)).collect();
                self.contains_any(field, values)
            }
            Op::HasAll if !wanted.is_empty() => {
                // Texts only a string item can match are found by one
                // containment; each of the others by any of its forms.
                let (text_only, others): (Vec<&String>, Vec<&String>) =
                    wanted.iter().partition(|w| ListWanted::of(w).text_only());
                let mut parts = Vec::new();
                if !text_only.is_empty() {
                    parts.push(self.contains(field, json!(text_only)));
                }
                for w in others {
                    let values = list_items_spelling(w);
                    parts.push(self.contains_any(field, values));
                }
                format!("({})", parts.join(" AND "))
            }
            _ => "FALSE".to_owned(),
        }
    }

    fn bool_condition(&mut self, field: FieldId, c: &Condition) -> String {
        let value = self.contains(field, Value::Bool(true));
        match (c.op, &c.operand) {
            (Op::Eq | Op::Neq | Op::Lt | Op::Lte | Op::Gt | Op::Gte, Operand::Bool(b)) => {
                let p = self.sql.arg(*b);
                let hit = format!("({value} {} {p})", cmp_sql(c.op));
                if c.op == Op::Neq {
                    format!("(NOT {hit})")
                } else {
                    hit
                }
            }
            (Op::IsEmpty, _) => "FALSE".to_owned(),
            (Op::IsNotEmpty | Op::Neq | Op::NotContains, _) => "TRUE".to_owned(),
            _ => "FALSE".to_owned(),
        }
    }

    fn text_condition(&mut self, field: FieldId, c: &Condition) -> Option<String> {
        Some(match (c.op, &c.operand) {
            (Op::IsEmpty | Op::IsNotEmpty, _) => self.is_empty_cell(field, c.op),
            (Op::Eq, Operand::Text(s)) => self.contains(field, json!(s)),
            (Op::Neq, Operand::Text(s)) => format!("(NOT {})", self.contains(field, json!(s))),
            (Op::Lt | Op::Lte | Op::Gt | Op::Gte, Operand::Text(s)) => {
                let f = self.field(field);
                let p = self.sql.arg(s.clone());
                self.compare(&format!("(data ->> {f}) COLLATE \"C\""), c.op, &p)
            }
            (Op::Contains | Op::NotContains | Op::StartsWith, Operand::Text(s)) => {
                let f = self.field(field);
                self.partial(&format!("(data ->> {f})"), c.op, s)
            }
            (Op::In, Operand::TextList(l)) => {
                self.contains_any(field, l.iter().map(|s| json!(s)).collect())
            }
            _ => return None,
        })
    }

    fn number_condition(&mut self, field: FieldId, c: &Condition) -> Option<String> {
        Some(match (c.op, &c.operand) {
            (Op::IsEmpty | Op::IsNotEmpty, _) => self.is_empty_cell(field, c.op),
            (Op::Eq, Operand::Number(n)) => self.contains(field, number_json(*n)),
            (Op::Neq, Operand::Number(n)) => {
                format!("(NOT {})", self.contains(field, number_json(*n)))
            }
            (Op::Lt | Op::Lte | Op::Gt | Op::Gte, Operand::Number(n)) => {
                let f = self.field(field);
                let p = self.sql.arg(*n);
                self.compare(&number_expr(&f), c.op, &format!("{p}::float8"))
            }
            (Op::In, Operand::NumberList(l)) => {
                self.contains_any(field, l.iter().map(|n| number_json(*n)).collect())
            }
            _ => return None,
        })
    }

    fn meta_condition(&mut self, m: MetaColumn, c: &Condition) -> Option<String> {
        let col = meta_column(m);
        let negate = |hit: String| {
            if c.op == Op::Neq {
                format!("(NOT {hit})")
            } else {
                hit
            }
        };
        match m {
            MetaColumn::Autonumber => Some(match (c.op, &c.operand) {
                (Op::IsEmpty, _) => "FALSE".to_owned(),
                (Op::IsNotEmpty, _) => "TRUE".to_owned(),
                (Op::Eq | Op::Neq | Op::Lt | Op::Lte | Op::Gt | Op::Gte, Operand::Number(n)) => {
                    let p = self.sql.arg(*n);
                    negate(format!("({col}::float8 {} {p}::float8)", cmp_sql(c.op)))
                }
                (Op::In, Operand::NumberList(l)) => {
                    let p = self.sql.arg(l.clone());
                    format!("({col}::float8 = ANY({p}::float8[]))")
                }
                _ => return None,
            }),
            MetaColumn::CreatedTime | MetaColumn::UpdatedTime => Some(match (c.op, &c.operand) {
                (Op::IsEmpty, _) => "FALSE".to_owned(),
                (Op::IsNotEmpty, _) => "TRUE".to_owned(),
                (Op::Eq | Op::Neq | Op::Lt | Op::Lte | Op::Gt | Op::Gte, Operand::Text(s)) => {
                    let hit = match exact_time(s) {
                        Some(t) => {
                            let p = self.sql.arg(t);
                            format!("({col} {} {p})", cmp_sql(c.op))
                        }
                        None => {
                            let p = self.sql.arg(s.clone());
                            format!("({} {} {p})", time_text(col), cmp_sql(c.op))
                        }
                    };
                    negate(hit)
                }
                (Op::Contains | Op::NotContains | Op::StartsWith, Operand::Text(s)) => {
                    self.partial(&time_text(col), c.op, s)
                }
                (Op::In, Operand::TextList(l)) => {
                    let p = self.sql.arg(l.clone());
                    format!("({} = ANY({p}::text[]))", time_text(col))
                }
                _ => return None,
            }),
            MetaColumn::CreatedBy | MetaColumn::UpdatedBy => Some(match (c.op, &c.operand) {
                (Op::IsEmpty, _) => format!("({col} IS NULL)"),
                (Op::IsNotEmpty, _) => format!("({col} IS NOT NULL)"),
                (Op::Eq | Op::Neq | Op::Lt | Op::Lte | Op::Gt | Op::Gte, Operand::Text(s)) => {
                    let p = self.sql.arg(s.clone());
                    negate(self.compare(col, c.op, &p))
                }
                (Op::Contains | Op::NotContains | Op::StartsWith, Operand::Text(s)) => {
                    self.partial(col, c.op, s)
                }
                (Op::In, Operand::TextList(l)) => {
                    let p = self.sql.arg(l.clone());
                    format!("coalesce({col} = ANY({p}::text[]), false)")
                }
                _ => return None,
            }),
        }
    }

    /// The SQL expression a sort key orders by (NULL for empty cells) and
    /// the kind of value a cursor must carry for it.
    pub(crate) fn sort_expr(&mut self, key: &SortKey) -> Result<(String, CursorKind), StoreError> {
        Ok(match key.target {
            Target::Cell { field, kind } => {
                let f = self.field(field);
                match kind {
                    ValueKind::Text => {
                        (format!("((data ->> {f}) COLLATE \"C\")"), CursorKind::Text)
                    }
                    ValueKind::Number => (number_expr(&f), CursorKind::Number),
                    ValueKind::Bool => (
                        format!("((data -> {f}) IS NOT DISTINCT FROM 'true'::jsonb)"),
                        CursorKind::Bool,
                    ),
                    // A list sorts by its first item when that is text
                    // (as `eval::target_value`).
                    ValueKind::List => (
                        format!(
                            "((CASE WHEN jsonb_typeof(data -> {f} -> 0) = 'string' \
                             THEN data -> {f} ->> 0 END) COLLATE \"C\")"
                        ),
                        CursorKind::Text,
                    ),
                }
            }
            // A lookup of numbers sorts by its first item when that is a
            // number (as `eval::target_value`).
            Target::FirstNumber(field) => {
                let f = self.field(field);
                (
                    format!(
                        "(CASE WHEN jsonb_typeof(data -> {f} -> 0) = 'number' \
                         THEN (data -> {f} ->> 0)::float8 END)"
                    ),
                    CursorKind::Number,
                )
            }
            Target::Meta(m) => {
                let col = meta_column(m);
                let kind = match m {
                    MetaColumn::Autonumber => CursorKind::Number,
                    MetaColumn::CreatedTime | MetaColumn::UpdatedTime => CursorKind::Time,
                    MetaColumn::CreatedBy | MetaColumn::UpdatedBy => CursorKind::Text,
                };
                (col.to_owned(), kind)
            }
        })
    }

    /// `ORDER BY` keys (empty last either way, then id) and, with a cursor,
    /// the condition "strictly after the cursor" in that order.
    pub(crate) fn order(
        &mut self,
        sort: &[SortKey],
        after: Option<&Cursor>,
    ) -> Result<(String, Option<String>), StoreError> {
        let mut keys = Vec::with_capacity(sort.len());
        for key in sort {
            keys.push((self.sort_expr(key)?, key.desc));
        }
        let mut order: Vec<String> = keys
            .iter()
            .map(|((e, _), desc)| format!("{e} {} NULLS LAST", if *desc { "DESC" } else { "ASC" }))
            .collect();
        order.push("id ASC".to_owned());
        let Some(cursor) = after else {
            return Ok((order.join(", "), None));
        };
        if cursor.values.len() != keys.len() {
            return Err(bad_cursor("one value per sort key"));
        }
        let id = self.sql.arg(cursor.id.as_str().to_owned());
        let mut cond = format!("(id > {id})");
        for (((expr, kind), desc), value) in keys.iter().zip(&cursor.values).rev() {
            cond = match self.cursor_param(*kind, value)? {
                CursorParam::Null => format!("({expr} IS NULL AND {cond})"),
                // As in eval: a value of another type ties with every
                // non-empty cell, and empty cells come after it.
                CursorParam::Mistyped => format!("({expr} IS NULL OR {cond})"),
                CursorParam::Value(p) => format!(
                    "({expr} IS NULL OR {expr} {} {p} OR ({expr} = {p} AND {cond}))",
                    if *desc { "<" } else { ">" }
                ),
            };
        }
        Ok((order.join(", "), Some(cond)))
    }

    fn cursor_param(
        &mut self,
        kind: CursorKind,
        value: &SortValue,
    ) -> Result<CursorParam, StoreError> {
        Ok(CursorParam::Value(match (kind, value) {
            (_, SortValue::Null) => return Ok(CursorParam::Null),
            (CursorKind::Text, SortValue::Text(s)) => self.sql.arg(encode_str(s).into_owned()),
            (CursorKind::Number, SortValue::Number(n)) => {
                format!("{}::float8", self.sql.arg(*n))
            }
            (CursorKind::Bool, SortValue::Bool(b)) => self.sql.arg(*b),
            (CursorKind::Time, SortValue::Text(s)) => {
                let t = DateTime::parse_from_rfc3339(s)
                    .map_err(|_| bad_cursor("an RFC 3339 time for a time key"))?
                    .with_timezone(&Utc);
                self.sql.arg(t)
            }
            _ => return Ok(CursorParam::Mistyped),
        }))
    }
}

/// A cursor value as the keyset condition uses it.
enum CursorParam {
    /// An empty cell.
    Null,
    /// A value of the key's type, as a bound parameter.
    Value(String),
    /// A value of another type (a cursor of a field since converted).
    Mistyped,
}

/// What kind of cursor value a sort key takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CursorKind {
    Text,
    Number,
    Bool,
    Time,
}

/// The typed number of a cell whose field id is bound at `f` (NULL when the
/// cell is absent or not a number). Cell indexes on number fields keep the
/// same expression.
fn number_expr(f: &str) -> String {
    format!("(CASE WHEN jsonb_typeof(data -> {f}) = 'number' THEN (data ->> {f})::float8 END)")
}

fn bad_cursor(expected: &str) -> StoreError {
    StoreError::Invalid {
        field: "cursor".to_owned(),
        expected: expected.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operands_are_bound_never_spliced() {
        let mut sql = Sql::new("");
        let field = FieldId::new();
        let f = Filter::Cond(Condition {
            target: Target::Cell {
                field,
                kind: ValueKind::Text,
            },
            op: Op::Contains,
            operand: Operand::Text("x'); DROP TABLE records; --".to_owned()),
        });
        let text = Compiler::new(&mut sql).filter(&f);
        assert!(!text.contains("DROP"));
        assert!(!text.contains(field.as_str()));
        assert!(text.contains("strpos"));
    }

    #[test]
    fn exact_times_only_when_they_round_trip() {
        assert!(exact_time("2024-01-02T03:04:05.678Z").is_some());
        assert!(exact_time("2024-01-02T03:04:05Z").is_none());
        assert!(exact_time("2024-01-02T03:04:05.678+01:00").is_none());
    }
}
