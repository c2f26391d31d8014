//! The evaluator: an [`Expr`] and field values to a [`Value`].

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::ast::{BinaryOp, Expr, ExprKind, UnaryOp};
use super::coerce::{compare, to_number, to_text};
use super::functions::call;
use super::value::{ErrorKind, Value};

/// Where field references get their values; the caller decides whether a
/// name is a field name or a field id.
pub trait FieldSource {
    /// The value of the field named (or with id) `name`; `None` when no such
    /// field exists, which evaluates to `#ERROR!`.
    fn field(&self, name: &str) -> Option<Value>;
}

impl<F> FieldSource for F
where
    F: Fn(&str) -> Option<Value>,
{
    fn field(&self, name: &str) -> Option<Value> {
        self(name)
    }
}

/// What an evaluation may read besides fields.
pub struct EvalContext<'a> {
    /// The record's fields.
    pub fields: &'a dyn FieldSource,
    /// The record's id, for `RECORD_ID()`; Blank when `None`.
    pub record_id: Option<&'a str>,
    /// The current instant, for `NOW()` and `TODAY()`; Blank when `None`.
    pub now: Option<DateTime<Utc>>,
    /// The record's creation time, for `CREATED_TIME()`.
    pub created_time: Option<DateTime<Utc>>,
    /// The record's last update time, for `LAST_MODIFIED_TIME()`.
    pub updated_time: Option<DateTime<Utc>>,
    /// The evaluation zone (A.6): the formula or rollup field's
    /// `time_zone`, UTC for filters. Calendar functions read instants in
    /// it unless `SET_TIMEZONE` gave a value its own zone.
    pub zone: Tz,
}

impl<'a> EvalContext<'a> {
    /// A context reading only `fields`, in UTC.
    pub fn new(fields: &'a dyn FieldSource) -> Self {
        Self {
            fields,
            record_id: None,
            now: None,
            created_time: None,
            updated_time: None,
            zone: Tz::UTC,
        }
    }

    /// The same context evaluating in `zone`.
    pub fn in_zone(mut self, zone: Tz) -> Self {
        self.zone = zone;
        self
    }
}

/// Evaluates `expr`; never panics, errors are values (A.5).
pub fn evaluate(expr: &Expr, ctx: &EvalContext<'_>) -> Value {
    match &expr.kind {
        ExprKind::Number(n) => Value::number(*n),
        ExprKind::Text(t) => Value::Text(t.clone()),
        ExprKind::Bool(b) => Value::Bool(*b),
        ExprKind::Field(name) => match ctx.fields.field(name) {
            // A caller's non-finite number is its error value, as computed ones are.
            Some(Value::Number(n)) => Value::number(n),
            Some(v) => v,
            None => Value::error(),
        },
        ExprKind::Call { name, args } => within_years(call(name, args, ctx)),
        ExprKind::Unary { op, operand } => {
            let v = evaluate(operand, ctx);
            match to_number(&v) {
                Ok(n) => Value::number(match op {
                    UnaryOp::Neg => -n,
                    UnaryOp::Plus => n,
                }),
                Err(e) => Value::Error(e),
            }
        }
        ExprKind::Binary { op, lhs, rhs } => {
            let a = evaluate(lhs, ctx);
            let b = evaluate(rhs, ctx);
            binary(*op, &a, &b, ctx.zone)
        }
    }
}

/// A date or instant outside the years 1 to 9999 (`DATEADD` past
/// 9999-12-31) as `#ERROR!`: stored cells and their text are RFC 3339,
/// which has four-digit years, and order as text. Functions are the only
/// source of dates that are not stored cells.
fn within_years(v: Value) -> Value {
    use chrono::Datelike as _;
    let year = match &v {
        Value::Date(d) => d.year(),
        Value::DateTime(t, _) => t.year(),
        _ => return v,
    };
    if (1..=9999).contains(&year) {
        v
    } else {
        Value::Error(super::value::ErrorKind::Error)
    }
}

fn binary(op: BinaryOp, a: &Value, b: &Value, zone: Tz) -> Value {
    match op {
        BinaryOp::Concat => match (to_text(a), to_text(b)) {
            (Ok(x), Ok(y)) if x.len() + y.len() > super::limits::MAX_TEXT_BYTES => {
                Value::Error(super::value::ErrorKind::Error)
            }
            (Ok(x), Ok(y)) => Value::Text(x + &y),
            (Err(e), _) | (_, Err(e)) => Value::Error(e),
        },
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div => {
            let (x, y) = match (to_number(a), to_number(b)) {
                (Ok(x), Ok(y)) => (x, y),
                (Err(e), _) | (_, Err(e)) => return Value::Error(e),
            };
            Value::number(match op {
                BinaryOp::Add => x + y,
                BinaryOp::Sub => x - y,
                BinaryOp::Mul => x * y,
                _ => x / y,
            })
        }
        _ => match compare(a, b, zone) {
            Err(e) => Value::Error(e),
            Ok(ord) => Value::Bool(match op {
                BinaryOp::Eq => ord == Some(Ordering::Equal),
                BinaryOp::Ne => ord != Some(Ordering::Equal),
                BinaryOp::Lt => ord == Some(Ordering::Less),
                BinaryOp::Gt => ord == Some(Ordering::Greater),
                BinaryOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
                _ => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
            }),
        },
    }
}

/// Propagates an error value as `Err`.
pub(crate) fn ok(v: Value) -> Result<Value, ErrorKind> {
    match v {
        Value::Error(e) => Err(e),
        v => Ok(v),
    }
}
