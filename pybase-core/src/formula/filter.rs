//! A checked formula used as a record filter (FORMULA.md C.7): split into
//! the part that translates exactly into the [`Filter`] tree (run by the
//! stores as SQL, through their indexes), the record ids it allows
//! (`RECORD_ID() = '…'`, alone or ORed: read by id), and the residual,
//! evaluated in Rust by [`super::keeps`] over the records the rest selects.
//!
//! "Exactly" means: for every record, the filter matches if and only if the
//! formula keeps the record (its value is truthy and not an error), with
//! the cell values of [`super::record_value`] and the filter semantics of
//! [`crate::query::eval`]. Only top-level `AND` conjuncts are split; each
//! conjunct is lowered whole or left whole to the residual. Lowered:
//! - `AND`, `OR`, `NOT` of lowered parts (never over list values, which
//!   `AND`/`OR` flatten into their items);
//! - a field compared with a constant (any subexpression without fields or
//!   record functions, evaluated once with the request's `NOW()`), keeping
//!   the formula's blank rules: `{Qty} < 5` is `lt 5 OR is_empty`,
//!   `{Qty} = 0` is `eq 0 OR is_empty`, `{Name} = ''` is `is_empty`;
//!   numbers with numbers, texts with texts, checkboxes with anything,
//!   dates and datetimes with instants;
//! - a field alone as a condition (`{Done}`, `{Qty}`, `{Tags}`);
//! - `IS_BEFORE` / `IS_AFTER` of a date or datetime field and an instant;
//! - a multi select or attachment field compared with `''` or `BLANK()`;
//! - a constant (`TRUE()`), and `OR`s of equalities on one field as `in`.
//!
//! A lowered conjunct larger than the [`Limits`] of a client filter stays
//! in the residual, so no formula makes an unbounded SQL statement.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, Timelike};

use super::ast::{BinaryOp, Expr, ExprKind};
use super::check::{Checked, ResultType, field_result_type};
use super::coerce::{compare, instant, plain_decimal, to_bool};
use super::eval::{EvalContext, evaluate};
use super::value::Value;
use crate::fields::{MetaColumn, Reference, Storage};
use crate::ids::{FieldId, RecordId};
use crate::limits::Limits;
use crate::model::{Field, Timestamp};
use crate::query::eval::TIME_FORMAT;
use crate::query::{Condition, Filter, Op, Operand, Target, target_of};

/// A formula filter, planned.
#[derive(Debug, Clone, PartialEq)]
pub struct FormulaFilter {
    /// The checked formula (fields by id).
    pub checked: Checked,
    /// The part the stores run; `None` when nothing lowered.
    pub sql: Option<Filter>,
    /// Only these records can be kept (deduplicated, in formula order);
    /// `None` when the formula does not limit record ids.
    pub ids: Option<Vec<RecordId>>,
    /// Conjuncts evaluated in Rust: a record is kept only if each keeps it.
    pub residual: Vec<Expr>,
    /// The instant `NOW()` and `TODAY()` read, once per request.
    pub now: Timestamp,
}

impl FormulaFilter {
    /// Whether the stores' SQL does all the work (no ids, no residual).
    pub fn is_pure_sql(&self) -> bool {
        self.ids.is_none() && self.residual.is_empty()
    }
}

/// Plans `checked` as a filter over `fields`, folding constants at `now`.
pub fn plan_filter(
    checked: Checked,
    fields: &[Field],
    now: Timestamp,
    limits: &Limits,
) -> FormulaFilter {
    let lower = Lowering {
        by_id: fields.iter().map(|f| (f.id, f)).collect(),
        now,
    };
    let mut conjuncts = Vec::new();
    lower.conjuncts(&checked.expr, &mut conjuncts);
    let mut sql = Vec::new();
    let mut ids: Option<Vec<RecordId>> = None;
    let mut residual = Vec::new();
    let mut used = (0, 0);
    for c in conjuncts {
        if let Some(set) = lower.id_set(c) {
            ids = Some(match ids {
                None => dedup(set),
                Some(prev) => {
                    let keep: HashSet<RecordId> = set.into_iter().collect();
                    prev.into_iter().filter(|id| keep.contains(id)).collect()
                }
            });
        } else if let Some(f) = lower.lower(c).filter(|f| within(f, limits, &mut used)) {
            sql.push(f);
        } else {
            residual.push(c.clone());
        }
    }
    let sql = match sql.len() {
        0 => None,
        1 => sql.pop(),
        _ => Some(Filter::And(sql)),
    };
    FormulaFilter {
        checked,
        sql,
        ids,
        residual,
        now,
    }
}

fn dedup(ids: Vec<RecordId>) -> Vec<RecordId> {
    let mut seen = HashSet::with_capacity(ids.len());
    ids.into_iter().filter(|id| seen.insert(*id)).collect()
}

/// Whether a lowered filter, with the parts already lowered (`used`:
/// nodes and list values), fits the limits of a client's filter; if so it
/// is counted in `used`.
fn within(f: &Filter, limits: &Limits, used: &mut (usize, usize)) -> bool {
    fn count(f: &Filter, nodes: &mut usize, values: &mut usize) {
        *nodes += 1;
        match f {
            Filter::And(p) | Filter::Or(p) => p.iter().for_each(|x| count(x, nodes, values)),
            Filter::Not(i) => count(i, nodes, values),
            Filter::Cond(c) => {
                *values += match &c.operand {
                    Operand::TextList(l) => l.len(),
                    Operand::NumberList(l) => l.len(),
                    _ => 0,
                }
            }
        }
    }
    let (mut nodes, mut values) = *used;
    count(f, &mut nodes, &mut values);
    let fits = nodes <= limits.filter_nodes && values <= limits.filter_values;
    if fits {
        *used = (nodes, values);
    }
    fits
}

/// What the lowering reads.
struct Lowering<'a> {
    by_id: HashMap<FieldId, &'a Field>,
    now: Timestamp,
}

const TRUE: Filter = Filter::And(Vec::new());
const FALSE: Filter = Filter::Or(Vec::new());

fn constant_filter(b: bool) -> Filter {
    if b { TRUE } else { FALSE }
}

fn cond(target: Target, op: Op, operand: Operand) -> Filter {
    Filter::Cond(Condition {
        target,
        op,
        operand,
    })
}

/// The filter's value on a record whose cell is absent.
fn on_absent(f: &Filter) -> bool {
    match f {
        Filter::And(p) => p.iter().all(on_absent),
        Filter::Or(p) => p.iter().any(on_absent),
        Filter::Not(i) => !on_absent(i),
        Filter::Cond(c) => matches!(c.op, Op::Neq | Op::NotContains | Op::IsEmpty),
    }
}

fn is_empty(target: Target) -> Filter {
    cond(target, Op::IsEmpty, Operand::None)
}

fn is_not_empty(target: Target) -> Filter {
    cond(target, Op::IsNotEmpty, Operand::None)
}

/// `present` decides every record whose cell is set; the result also
/// decides records whose cell is absent as `absent` says.
fn with_blank(target: Target, can_be_absent: bool, present: Filter, absent: bool) -> Filter {
    if !can_be_absent || on_absent(&present) == absent {
        return present;
    }
    match (present, absent) {
        (Filter::And(p), true) if p.is_empty() => TRUE,
        (Filter::Or(p), false) if p.is_empty() => FALSE,
        (Filter::Or(p), true) if p.is_empty() => is_empty(target),
        (Filter::And(p), false) if p.is_empty() => is_not_empty(target),
        (present, true) => Filter::Or(vec![present, is_empty(target)]),
        (present, false) => Filter::And(vec![present, is_not_empty(target)]),
    }
}

fn op_of(op: BinaryOp) -> Option<Op> {
    Some(match op {
        BinaryOp::Eq => Op::Eq,
        BinaryOp::Ne => Op::Neq,
        BinaryOp::Lt => Op::Lt,
        BinaryOp::Le => Op::Lte,
        BinaryOp::Gt => Op::Gt,
        BinaryOp::Ge => Op::Gte,
        _ => return None,
    })
}

/// `b op a` as `a op' b`.
fn flip(op: BinaryOp) -> BinaryOp {
    match op {
        BinaryOp::Lt => BinaryOp::Gt,
        BinaryOp::Gt => BinaryOp::Lt,
        BinaryOp::Le => BinaryOp::Ge,
        BinaryOp::Ge => BinaryOp::Le,
        other => other,
    }
}

/// The formula's comparison `a op b`, `None` for an error.
fn holds(op: BinaryOp, a: &Value, b: &Value) -> Option<bool> {
    let ord = compare(a, b, chrono_tz::Tz::UTC).ok()?;
    Some(match op {
        BinaryOp::Eq => ord == Some(Ordering::Equal),
        BinaryOp::Ne => ord != Some(Ordering::Equal),
        BinaryOp::Lt => ord == Some(Ordering::Less),
        BinaryOp::Gt => ord == Some(Ordering::Greater),
        BinaryOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
        BinaryOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
        _ => return None,
    })
}

/// A comparison that is never true with this constant on a present cell
/// except for `!=`.
fn incomparable(op: BinaryOp) -> Filter {
    constant_filter(op == BinaryOp::Ne)
}

impl Lowering<'_> {
    fn field(&self, expr: &Expr) -> Option<&Field> {
        match &expr.kind {
            // Derived cells may hold error values (`{"error": ...}`), which
            // SQL comparisons do not read as a formula does: the residual
            // evaluates them exactly.
            ExprKind::Field(key) => FieldId::parse(key)
                .ok()
                .and_then(|id| self.by_id.get(&id).copied())
                .filter(|f| !matches!(f.field_type.storage(), Storage::Derived(_))),
            _ => None,
        }
    }

    /// Whether `expr` reads nothing of the record.
    fn is_constant(expr: &Expr) -> bool {
        match &expr.kind {
            ExprKind::Field(_) => false,
            ExprKind::Call { name, args } => {
                !matches!(
                    name.as_str(),
                    "RECORD_ID" | "CREATED_TIME" | "LAST_MODIFIED_TIME"
                ) && args.iter().all(Self::is_constant)
            }
            ExprKind::Unary { operand, .. } => Self::is_constant(operand),
            ExprKind::Binary { lhs, rhs, .. } => Self::is_constant(lhs) && Self::is_constant(rhs),
            ExprKind::Number(_) | ExprKind::Text(_) | ExprKind::Bool(_) => true,
        }
    }

    /// The value of a constant expression.
    fn constant(&self, expr: &Expr) -> Option<Value> {
        if !Self::is_constant(expr) {
            return None;
        }
        let none = |_: &str| -> Option<Value> { None };
        let mut ctx = EvalContext::new(&none);
        ctx.now = Some(self.now);
        Some(evaluate(expr, &ctx))
    }

    /// Whether `expr` may be a list, which `AND` and `OR` flatten.
    fn may_be_list(&self, expr: &Expr) -> bool {
        match &expr.kind {
            ExprKind::Field(_) => self
                .field(expr)
                .is_some_and(|f| field_result_type(&f.field_type) == ResultType::List),
            ExprKind::Number(_)
            | ExprKind::Text(_)
            | ExprKind::Bool(_)
            | ExprKind::Unary { .. }
            | ExprKind::Binary { .. } => false,
            ExprKind::Call { name, .. } => {
                matches!(
                    name.as_str(),
                    "ARRAYCOMPACT"
                        | "ARRAYFLATTEN"
                        | "ARRAYUNIQUE"
                        | "ARRAYSLICE"
                        | "IF"
                        | "SWITCH"
                ) && !matches!(self.constant(expr), Some(v) if !matches!(v, Value::Array(_)))
            }
        }
    }

    /// Top-level conjuncts of `expr`.
    fn conjuncts<'e>(&self, expr: &'e Expr, out: &mut Vec<&'e Expr>) {
        if let ExprKind::Call { name, args } = &expr.kind
            && name == "AND"
            && !args.is_empty()
            && args.iter().all(|a| !self.may_be_list(a))
        {
            for a in args {
                self.conjuncts(a, out);
            }
            return;
        }
        out.push(expr);
    }

    /// `RECORD_ID() = '…'` or an `OR` of such: the ids it allows.
    fn id_set(&self, expr: &Expr) -> Option<Vec<RecordId>> {
        match &expr.kind {
            ExprKind::Binary {
                op: BinaryOp::Eq,
                lhs,
                rhs,
            } => {
                let constant = if is_record_id(lhs) {
                    rhs
                } else if is_record_id(rhs) {
                    lhs
                } else {
                    return None;
                };
                match self.constant(constant)? {
                    Value::Text(t) => Some(
                        RecordId::parse(&t)
                            .ok()
                            .filter(|id| id.to_string() == t)
                            .into_iter()
                            .collect(),
                    ),
                    _ => None,
                }
            }
            ExprKind::Call { name, args } if name == "OR" && !args.is_empty() => {
                let mut all = Vec::new();
                for a in args {
                    all.extend(self.id_set(a)?);
                }
                Some(all)
            }
            _ => None,
        }
    }

    /// The exact filter of `expr`, if there is one; a lowered expression
    /// never evaluates to an error.
    fn lower(&self, expr: &Expr) -> Option<Filter> {
        if let Some(v) = self.constant(expr) {
            return to_bool(&v).ok().map(constant_filter);
        }
        if let Some(f) = self.field(expr) {
            // A link reads as its live linked records' primary values,
            // which may be blank (or the records soft-deleted): the ids
            // its cell stores do not decide it, so it stays a residual.
            if matches!(f.field_type.references(), Some(Reference::Records(_))) {
                return None;
            }
            return Some(self.truthy(f));
        }
        match &expr.kind {
            ExprKind::Call { name, args } => match name.as_str() {
                "AND" | "OR" if !args.is_empty() => {
                    let mut parts = Vec::with_capacity(args.len());
                    for a in args {
                        if self.may_be_list(a) {
                            return None;
                        }
                        parts.push(self.lower(a)?);
                    }
                    Some(if name == "AND" {
                        Filter::And(parts)
                    } else {
                        merge_in(parts)
                    })
                }
                "NOT" if args.len() == 1 && !self.may_be_list(&args[0]) => {
                    Some(Filter::Not(Box::new(self.lower(&args[0])?)))
                }
                "IS_BEFORE" | "IS_AFTER" if args.len() == 2 => {
                    let op = if name == "IS_BEFORE" {
                        BinaryOp::Lt
                    } else {
                        BinaryOp::Gt
                    };
                    let (f, c, op) = match (self.field(&args[0]), self.field(&args[1])) {
                        (Some(f), None) => (f, self.constant(&args[1])?, op),
                        (None, Some(f)) => (f, self.constant(&args[0])?, flip(op)),
                        _ => return None,
                    };
                    // Only instants: then both compare instants, and a
                    // blank side is false for both.
                    let dated = matches!(
                        field_result_type(&f.field_type),
                        ResultType::Date | ResultType::DateTime
                    );
                    if !dated || !matches!(c, Value::Date(_) | Value::DateTime(..)) {
                        return None;
                    }
                    self.compare_field(f, op, &c)
                }
                _ => None,
            },
            ExprKind::Binary { op, lhs, rhs } => {
                op_of(*op)?;
                if let (Some(f), Some(c)) = (self.field(lhs), self.constant(rhs)) {
                    self.compare_field(f, *op, &c)
                } else if let (Some(c), Some(f)) = (self.constant(lhs), self.field(rhs)) {
                    self.compare_field(f, flip(*op), &c)
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// A field alone as a condition.
    fn truthy(&self, field: &Field) -> Filter {
        let target = target_of(field);
        let absent = can_be_absent(field);
        match field_result_type(&field.field_type) {
            ResultType::Bool => cond(target, Op::Eq, Operand::Bool(true)),
            ResultType::Number => with_blank(
                target,
                absent,
                cond(target, Op::Neq, Operand::Number(0.0)),
                false,
            ),
            _ => with_blank(target, absent, TRUE, false),
        }
    }

    /// `field op c` for a constant `c`.
    fn compare_field(&self, field: &Field, op: BinaryOp, c: &Value) -> Option<Filter> {
        if c.is_error() {
            return None;
        }
        let target = target_of(field);
        let absent_can = can_be_absent(field);
        let ty = field_result_type(&field.field_type);
        if ty == ResultType::Bool {
            let t = holds(op, &Value::Bool(true), c)?;
            let f = holds(op, &Value::Bool(false), c)?;
            return Some(match (t, f) {
                (true, true) => TRUE,
                (false, false) => FALSE,
                (b, _) => cond(target, Op::Eq, Operand::Bool(b)),
            });
        }
        let absent = holds(op, &Value::Blank, c)?;
        let sql_op = op_of(op)?;
        let present = match ty {
            ResultType::Number => match c {
                Value::Number(_) | Value::Bool(_) | Value::Blank => {
                    let k = match c {
                        Value::Number(n) => *n,
                        Value::Bool(b) => f64::from(u8::from(*b)),
                        _ => 0.0,
                    };
                    cond(target, sql_op, Operand::Number(k))
                }
                Value::Text(t) => match plain_decimal(t) {
                    Some(y) => cond(target, sql_op, Operand::Number(y)),
                    None => incomparable(op),
                },
                Value::Date(_) | Value::DateTime(..) => incomparable(op),
                _ => return None,
            },
            ResultType::Text => {
                let t = match c {
                    Value::Text(t) => t.as_str(),
                    Value::Blank => "",
                    _ => return None,
                };
                if t.is_empty() {
                    // Every present text is non-empty, so greater than "".
                    constant_filter(matches!(op, BinaryOp::Ne | BinaryOp::Gt | BinaryOp::Ge))
                } else {
                    cond(target, sql_op, Operand::Text(t.to_string()))
                }
            }
            ResultType::Date | ResultType::DateTime => {
                let at = match c {
                    Value::Number(_) | Value::Bool(_) | Value::Blank => None,
                    other => Some(instant(other, chrono_tz::Tz::UTC)),
                };
                match at {
                    None => incomparable(op),
                    Some(None) => incomparable(op),
                    Some(Some(t)) => {
                        if ty == ResultType::Date {
                            date_condition(target, op, t)?
                        } else {
                            datetime_condition(target, op, t)?
                        }
                    }
                }
            }
            // Items are never empty (choice names, attachment ids), so a
            // present list's text is never "". Links show primary values,
            // which may be blank: not lowered.
            ResultType::List
                if !matches!(field.field_type.references(), Some(Reference::Records(_)))
                    && (matches!(c, Value::Blank)
                        || matches!(c, Value::Text(t) if t.is_empty())) =>
            {
                constant_filter(matches!(op, BinaryOp::Ne | BinaryOp::Gt | BinaryOp::Ge))
            }
            ResultType::List | ResultType::Bool => return None,
        };
        Some(with_blank(target, absent_can, present, absent))
    }
}

fn is_record_id(expr: &Expr) -> bool {
    matches!(&expr.kind, ExprKind::Call { name, args } if name == "RECORD_ID" && args.is_empty())
}

/// Whether a field's value can be Blank (an absent cell, no creator).
fn can_be_absent(field: &Field) -> bool {
    match field.field_type.storage() {
        Storage::Cell(_) | Storage::Derived(_) => true,
        Storage::Column(m) => matches!(m, MetaColumn::CreatedBy | MetaColumn::UpdatedBy),
    }
}

/// A date cell (`YYYY-MM-DD`, midnight UTC in formulas) against instant `t`.
fn date_condition(target: Target, op: BinaryOp, t: Timestamp) -> Option<Filter> {
    let day: NaiveDate = t.date_naive();
    if !(1..=9999).contains(&chrono::Datelike::year(&day)) {
        return None;
    }
    let text = Operand::Text(day.format("%Y-%m-%d").to_string());
    let midnight = t.time() == chrono::NaiveTime::MIN;
    if midnight {
        return Some(cond(target, op_of(op)?, text));
    }
    // Midnight of a day is never `t`; before `t` means on or before its day.
    Some(match op {
        BinaryOp::Eq => FALSE,
        BinaryOp::Ne => TRUE,
        BinaryOp::Lt | BinaryOp::Le => cond(target, Op::Lte, text),
        BinaryOp::Gt | BinaryOp::Ge => cond(target, Op::Gt, text),
        _ => return None,
    })
}

/// A datetime cell (RFC 3339 UTC with milliseconds) against instant `t`.
fn datetime_condition(target: Target, op: BinaryOp, t: Timestamp) -> Option<Filter> {
    if !(1..=9999).contains(&chrono::Datelike::year(&t))
        || !t.nanosecond().is_multiple_of(1_000_000)
    {
        return None;
    }
    Some(cond(
        target,
        op_of(op)?,
        Operand::Text(t.format(TIME_FORMAT).to_string()),
    ))
}

/// `OR`s of equalities on one target as one `in`.
fn merge_in(parts: Vec<Filter>) -> Filter {
    let mut target = None;
    let mut texts = Vec::new();
    let mut numbers = Vec::new();
    for p in &parts {
        let Filter::Cond(Condition {
            target: t,
            op: Op::Eq,
            operand,
        }) = p
        else {
            return Filter::Or(parts);
        };
        if *target.get_or_insert(*t) != *t {
            return Filter::Or(parts);
        }
        match operand {
            Operand::Text(s) => texts.push(s.clone()),
            Operand::Number(n) => numbers.push(*n),
            _ => return Filter::Or(parts),
        }
    }
    match target {
        Some(t) if parts.len() > 1 && numbers.is_empty() => {
            cond(t, Op::In, Operand::TextList(texts))
        }
        Some(t) if parts.len() > 1 && texts.is_empty() => {
            cond(t, Op::In, Operand::NumberList(numbers))
        }
        _ => Filter::Or(parts),
    }
}

#[cfg(test)]
mod tests;
