//! The functions of A.7: logical, numeric, text, array, regex and
//! `RECORD_ID` here, dates and the clock in `dates.rs`. An unknown name or a
//! wrong argument count evaluates to `#ERROR!` (the checker refuses them
//! earlier).

use super::ast::Expr;
use super::coerce::{equal, plain_decimal, to_bool, to_number, to_text};
use super::dates::date_call;
use super::eval::{EvalContext, evaluate, ok};
use super::numeric::{Rounding, round};
use super::regex_fns::regex_call;
use super::value::{ErrorKind, Value};

/// Longest text `REPT` may build, in characters.
const MAX_REPT_CHARS: usize = 100_000;

type R = Result<Value, ErrorKind>;

/// Calls function `name` (upper-case) on `args`.
pub(crate) fn call(name: &str, args: &[Expr], ctx: &EvalContext<'_>) -> Value {
    let result = match name {
        "IF" => lazy_if(args, ctx),
        "SWITCH" => switch(args, ctx),
        "ISERROR" | "IS_ERROR" => {
            if args.len() != 1 {
                Err(ErrorKind::Error)
            } else {
                Ok(Value::Bool(evaluate(&args[0], ctx).is_error()))
            }
        }
        _ => {
            let values: Vec<Value> = args.iter().map(|a| evaluate(a, ctx)).collect();
            eager(name, &values, ctx)
        }
    };
    match result {
        Ok(v) => v,
        Err(e) => Value::Error(e),
    }
}

fn arity(values: &[Value], min: usize, max: usize) -> Result<(), ErrorKind> {
    if values.len() < min || values.len() > max {
        Err(ErrorKind::Error)
    } else {
        Ok(())
    }
}

fn lazy_if(args: &[Expr], ctx: &EvalContext<'_>) -> R {
    if args.len() < 2 || args.len() > 3 {
        return Err(ErrorKind::Error);
    }
    if to_bool(&evaluate(&args[0], ctx))? {
        ok(evaluate(&args[1], ctx))
    } else if let Some(b) = args.get(2) {
        ok(evaluate(b, ctx))
    } else {
        Ok(Value::Blank)
    }
}

fn switch(args: &[Expr], ctx: &EvalContext<'_>) -> R {
    if args.len() < 3 {
        return Err(ErrorKind::Error);
    }
    let x = ok(evaluate(&args[0], ctx))?;
    let rest = &args[1..];
    for pair in rest.chunks(2) {
        match pair {
            [pattern, result] if equal(&x, &ok(evaluate(pattern, ctx))?, ctx.zone)? => {
                return ok(evaluate(result, ctx));
            }
            [default] => return ok(evaluate(default, ctx)),
            _ => {}
        }
    }
    Ok(Value::Blank)
}

fn first_error(values: &[Value]) -> Result<(), ErrorKind> {
    for v in values {
        if let Value::Error(e) = v {
            return Err(*e);
        }
    }
    Ok(())
}

fn flatten(values: &[Value], out: &mut Vec<Value>) {
    for v in values {
        match v {
            Value::Array(items) => flatten(items, out),
            other => out.push(other.clone()),
        }
    }
}

fn flat(values: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    flatten(values, &mut out);
    out
}

fn num(v: &Value) -> Result<f64, ErrorKind> {
    to_number(v)
}

fn text(v: &Value) -> Result<String, ErrorKind> {
    to_text(v)
}

/// An integer count or position argument; `NaN`-free by construction.
fn int(v: &Value) -> Result<i64, ErrorKind> {
    let n = num(v)?.trunc();
    if n.abs() > 1e15 {
        return Err(ErrorKind::Error);
    }
    Ok(n as i64)
}

fn n(x: f64) -> R {
    ok(Value::number(x))
}

fn eager(name: &str, v: &[Value], ctx: &EvalContext<'_>) -> R {
    match name {
        // Logical.
        "AND" | "OR" | "XOR" => logical(name, v),
        "NOT" => {
            arity(v, 1, 1)?;
            Ok(Value::Bool(!to_bool(&v[0])?))
        }
        "TRUE" | "FALSE" => {
            arity(v, 0, 0)?;
            Ok(Value::Bool(name == "TRUE"))
        }
        "BLANK" => {
            arity(v, 0, 0)?;
            Ok(Value::Blank)
        }
        "ERROR" => Err(ErrorKind::Error),
        // Numeric aggregates.
        "SUM" | "AVERAGE" | "MAX" | "MIN" => aggregate(name, v, ctx.zone),
        "COUNT" => Ok(Value::Number(
            flat(v)
                .iter()
                .filter(|x| matches!(x, Value::Number(_)))
                .count() as f64,
        )),
        // An empty text is blank here too (it equals BLANK()).
        "COUNTA" => Ok(Value::Number(
            flat(v)
                .iter()
                .filter(|x| !x.is_blank() && !matches!(x, Value::Text(t) if t.is_empty()))
                .count() as f64,
        )),
        "COUNTALL" => Ok(Value::Number(flat(v).len() as f64)),
        // Numeric.
        "ABS" | "SQRT" | "EXP" | "INT" | "EVEN" | "ODD" => unary_numeric(name, v),
        "POWER" => {
            arity(v, 2, 2)?;
            first_error(v)?;
            if v[0].is_blank() {
                return Ok(Value::Blank);
            }
            n(num(&v[0])?.powf(num(&v[1])?))
        }
        "LOG" => {
            arity(v, 1, 2)?;
            first_error(v)?;
            if v[0].is_blank() {
                return Ok(Value::Blank);
            }
            let x = num(&v[0])?;
            let base = match v.get(1) {
                Some(b) => num(b)?,
                None => 10.0,
            };
            n(log(x, base))
        }
        "MOD" => {
            arity(v, 2, 2)?;
            first_error(v)?;
            if v[0].is_blank() {
                return Ok(Value::Blank);
            }
            n(num(&v[0])? % num(&v[1])?)
        }
        "ROUND" | "ROUNDUP" | "ROUNDDOWN" => {
            arity(v, 1, 2)?;
            first_error(v)?;
            if v[0].is_blank() {
                return Ok(Value::Blank);
            }
            let places = match v.get(1) {
                Some(p) => num(p)?,
                None => 0.0,
            };
            let mode = match name {
                "ROUND" => Rounding::HalfUp,
                "ROUNDUP" => Rounding::AwayFromZero,
                _ => Rounding::TowardZero,
            };
            n(round(num(&v[0])?, places, mode))
        }
        "CEILING" | "FLOOR" => {
            arity(v, 1, 2)?;
            first_error(v)?;
            if v[0].is_blank() {
                return Ok(Value::Blank);
            }
            let x = num(&v[0])?;
            let sig = match v.get(1) {
                Some(s) if !s.is_blank() => num(s)?.abs(),
                _ => 1.0,
            };
            if sig == 0.0 {
                return Ok(Value::Number(0.0));
            }
            let q = x / sig;
            n(if name == "CEILING" {
                q.ceil()
            } else {
                q.floor()
            } * sig)
        }
        // Text.
        "CONCATENATE" => {
            let mut out = String::new();
            for x in v {
                out.push_str(&text(x)?);
                if out.len() > super::limits::MAX_TEXT_BYTES {
                    return Err(ErrorKind::Error);
                }
            }
            Ok(Value::Text(out))
        }
        "LEFT" | "RIGHT" => {
            arity(v, 1, 2)?;
            first_error(v)?;
            if v[0].is_blank() {
                return Ok(Value::Blank);
            }
            let t = text(&v[0])?;
            let count = match v.get(1) {
                Some(c) => int(c)?,
                None => 1,
            };
            if count < 0 {
                return Err(ErrorKind::Error);
            }
            let chars: Vec<char> = t.chars().collect();
            let count = (count as usize).min(chars.len());
            let slice = if name == "LEFT" {
                &chars[..count]
            } else {
                &chars[chars.len() - count..]
            };
            Ok(Value::Text(slice.iter().collect()))
        }
        "MID" => {
            arity(v, 3, 3)?;
            first_error(v)?;
            if v[0].is_blank() {
                return Ok(Value::Blank);
            }
            let chars: Vec<char> = text(&v[0])?.chars().collect();
            let start = int(&v[1])?;
            let count = int(&v[2])?;
            if start < 1 || count < 0 {
                return Err(ErrorKind::Error);
            }
            let from = ((start - 1) as usize).min(chars.len());
            let to = from.saturating_add(count as usize).min(chars.len());
            Ok(Value::Text(chars[from..to].iter().collect()))
        }
        "LEN" => {
            arity(v, 1, 1)?;
            Ok(Value::Number(text(&v[0])?.chars().count() as f64))
        }
        "LOWER" | "UPPER" | "TRIM" => {
            arity(v, 1, 1)?;
            if v[0].is_blank() {
                return Ok(Value::Blank);
            }
            let t = text(&v[0])?;
            Ok(Value::Text(match name {
                "LOWER" => t.to_lowercase(),
                "UPPER" => t.to_uppercase(),
                _ => t.trim().to_string(),
            }))
        }
        "FIND" | "SEARCH" => find(name, v),
        "SUBSTITUTE" => substitute(v),
        "REPLACE" => {
            arity(v, 4, 4)?;
            first_error(v)?;
            if v[0].is_blank() {
                return Ok(Value::Blank);
            }
            let chars: Vec<char> = text(&v[0])?.chars().collect();
            let start = int(&v[1])?;
            let count = int(&v[2])?;
            if start < 1 || count < 0 {
                return Err(ErrorKind::Error);
            }
            let from = ((start - 1) as usize).min(chars.len());
            let to = from.saturating_add(count as usize).min(chars.len());
            let mut out: String = chars[..from].iter().collect();
            out.push_str(&text(&v[3])?);
            out.extend(chars[to..].iter());
            Ok(Value::Text(out))
        }
        "REPT" => {
            arity(v, 2, 2)?;
            first_error(v)?;
            if v[0].is_blank() {
                return Ok(Value::Blank);
            }
            let t = text(&v[0])?;
            let times = int(&v[1])?;
            if times < 0 {
                return Err(ErrorKind::Error);
            }
            let total = (t.chars().count() as u128).saturating_mul(times as u128);
            if total > MAX_REPT_CHARS as u128 {
                return Err(ErrorKind::Error);
            }
            Ok(Value::Text(t.repeat(times as usize)))
        }
        "T" => {
            arity(v, 1, 1)?;
            match &v[0] {
                Value::Text(t) => Ok(Value::Text(t.clone())),
                Value::Error(e) => Err(*e),
                _ => Ok(Value::Blank),
            }
        }
        "VALUE" => {
            arity(v, 1, 1)?;
            value_of(&v[0])
        }
        "ENCODE_URL_COMPONENT" => {
            arity(v, 1, 1)?;
            if v[0].is_blank() {
                return Ok(Value::Blank);
            }
            Ok(Value::Text(encode_url_component(&text(&v[0])?)))
        }
        // Array.
        "ARRAYCOMPACT" => Ok(Value::Array(
            flat(v)
                .into_iter()
                .filter(|x| !x.is_blank() && *x != Value::Text(String::new()))
                .collect(),
        )),
        "ARRAYFLATTEN" => Ok(Value::Array(flat(v))),
        "ARRAYJOIN" => {
            arity(v, 1, 2)?;
            let sep = match v.get(1) {
                Some(s) => text(s)?,
                None => ", ".to_string(),
            };
            let mut parts = Vec::new();
            let mut bytes = 0usize;
            for x in flat(&v[..1]) {
                let t = text(&x)?;
                bytes = bytes.saturating_add(t.len() + sep.len());
                if bytes > super::limits::MAX_TEXT_BYTES {
                    return Err(ErrorKind::Error);
                }
                parts.push(t);
            }
            Ok(Value::Text(parts.join(&sep)))
        }
        "ARRAYUNIQUE" => {
            let mut out: Vec<Value> = Vec::new();
            for x in flat(v) {
                let mut seen = false;
                for y in &out {
                    if x.is_error() || y.is_error() {
                        seen = x == *y;
                    } else {
                        seen = equal(&x, y, ctx.zone)? && same_kind(&x, y);
                    }
                    if seen {
                        break;
                    }
                }
                if !seen {
                    out.push(x);
                }
            }
            Ok(Value::Array(out))
        }
        "ARRAYSLICE" => array_slice(v),
        "REGEX_MATCH" | "REGEX_EXTRACT" | "REGEX_REPLACE" => regex_call(name, v),
        // Record and clock.
        "RECORD_ID" => {
            arity(v, 0, 0)?;
            Ok(ctx
                .record_id
                .map_or(Value::Blank, |id| Value::Text(id.to_string())))
        }
        _ => date_call(name, v, ctx).unwrap_or(Err(ErrorKind::Error)),
    }
}

fn same_kind(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn logical(name: &str, v: &[Value]) -> R {
    let items = flat(v);
    if items.is_empty() {
        return Err(ErrorKind::Error);
    }
    let mut trues = 0usize;
    for x in &items {
        if to_bool(x)? {
            trues += 1;
        }
    }
    Ok(Value::Bool(match name {
        "AND" => trues == items.len(),
        "OR" => trues > 0,
        _ => trues % 2 == 1,
    }))
}

fn aggregate(name: &str, v: &[Value], zone: chrono_tz::Tz) -> R {
    let items = flat(v);
    first_error(&items)?;
    // Booleans count as 1 and 0, as in arithmetic (A.3): `SUM(values)` of
    // a checkbox rollup counts the checked boxes.
    let nums: Vec<f64> = items
        .iter()
        .filter_map(|x| match x {
            Value::Number(n) => Some(*n),
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            _ => None,
        })
        .collect();
    if name == "MAX" || name == "MIN" {
        let dates: Vec<&Value> = items
            .iter()
            .filter(|x| matches!(x, Value::Date(_) | Value::DateTime(..)))
            .collect();
        if nums.is_empty() && !dates.is_empty() {
            let mut best = dates[0];
            for d in &dates[1..] {
                let ord = super::coerce::compare(d, best, zone)?;
                let better = if name == "MAX" {
                    ord == Some(std::cmp::Ordering::Greater)
                } else {
                    ord == Some(std::cmp::Ordering::Less)
                };
                if better {
                    best = d;
                }
            }
            return Ok(best.clone());
        }
    }
    if nums.is_empty() {
        return Ok(if name == "SUM" {
            Value::Number(0.0)
        } else {
            Value::Blank
        });
    }
    let sum: f64 = nums.iter().sum();
    n(match name {
        "SUM" => sum,
        "AVERAGE" => sum / nums.len() as f64,
        "MAX" => nums.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        _ => nums.iter().copied().fold(f64::INFINITY, f64::min),
    })
}

fn unary_numeric(name: &str, v: &[Value]) -> R {
    arity(v, 1, 1)?;
    if v[0].is_blank() {
        return Ok(Value::Blank);
    }
    let x = num(&v[0])?;
    n(match name {
        "ABS" => x.abs(),
        "SQRT" => x.sqrt(),
        "EXP" => x.exp(),
        "INT" => x.floor(),
        "EVEN" => {
            let up = x.abs().ceil();
            let even = if up % 2.0 == 0.0 { up } else { up + 1.0 };
            even.copysign(x)
        }
        _ => {
            let up = x.abs().ceil();
            let odd = if up % 2.0 == 1.0 { up } else { up + 1.0 };
            if x < 0.0 { -odd } else { odd }
        }
    })
}

fn find(name: &str, v: &[Value]) -> R {
    arity(v, 2, 3)?;
    first_error(v)?;
    let needle = text(&v[0])?;
    let hay = text(&v[1])?;
    let from = match v.get(2) {
        Some(f) if !f.is_blank() => int(f)?.max(1) as usize,
        _ => 1,
    };
    let (needle, hay) = if name == "SEARCH" {
        (needle.to_lowercase(), hay.to_lowercase())
    } else {
        (needle, hay)
    };
    let hay_chars: Vec<char> = hay.chars().collect();
    let not_found = if name == "SEARCH" {
        Value::Blank
    } else {
        Value::Number(0.0)
    };
    if from > hay_chars.len() + 1 {
        return Ok(not_found);
    }
    let tail: String = hay_chars[from - 1..].iter().collect();
    Ok(match tail.find(&needle) {
        Some(byte) => Value::Number((tail[..byte].chars().count() + from) as f64),
        None => not_found,
    })
}

fn substitute(v: &[Value]) -> R {
    arity(v, 3, 4)?;
    first_error(v)?;
    if v[0].is_blank() {
        return Ok(Value::Blank);
    }
    let t = text(&v[0])?;
    let old = text(&v[1])?;
    let new = text(&v[2])?;
    if old.is_empty() {
        return Ok(Value::Text(t));
    }
    match v.get(3) {
        None => Ok(Value::Text(t.replace(&old, &new))),
        Some(nth) => {
            let nth = int(nth)?;
            if nth < 1 {
                return Err(ErrorKind::Error);
            }
            match t.match_indices(&old).nth((nth - 1) as usize) {
                Some((at, _)) => {
                    let mut out = String::with_capacity(t.len());
                    out.push_str(&t[..at]);
                    out.push_str(&new);
                    out.push_str(&t[at + old.len()..]);
                    Ok(Value::Text(out))
                }
                None => Ok(Value::Text(t)),
            }
        }
    }
}

fn value_of(v: &Value) -> R {
    match v {
        Value::Blank => Ok(Value::Blank),
        Value::Number(x) => Ok(Value::Number(*x)),
        Value::Error(e) => Err(*e),
        other => {
            let t = text(other)?;
            let mut cleaned: String = t
                .chars()
                .filter(|c| !c.is_whitespace() && *c != ',')
                .collect();
            let negative = cleaned.starts_with('-');
            if negative {
                cleaned.remove(0);
            }
            if let Some(first) = cleaned.chars().next()
                && matches!(first, '$' | '€' | '£' | '¥')
            {
                cleaned.remove(0);
            }
            let percent = cleaned.ends_with('%');
            if percent {
                cleaned.pop();
            }
            let mut x = plain_decimal(&cleaned).ok_or(ErrorKind::Error)?;
            if percent {
                x /= 100.0;
            }
            n(if negative { -x } else { x })
        }
    }
}

fn encode_url_component(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    for b in t.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn array_slice(v: &[Value]) -> R {
    arity(v, 2, 3)?;
    let items = match &v[0] {
        Value::Array(items) => items.clone(),
        Value::Blank => Vec::new(),
        Value::Error(e) => return Err(*e),
        other => vec![other.clone()],
    };
    let len = items.len() as i64;
    let resolve = |p: i64| if p < 0 { len + p + 1 } else { p };
    let start = resolve(int(&v[1])?).max(1);
    let end = match v.get(2) {
        Some(e) => resolve(int(e)?),
        None => len,
    }
    .min(len);
    if start > end {
        return Ok(Value::Array(Vec::new()));
    }
    Ok(Value::Array(
        items[(start - 1) as usize..end as usize].to_vec(),
    ))
}

/// `log_base(x)`, exact where the answer is: base 10 and 2 use their own
/// functions (`ln(1000) / ln(10)` is 2.9999999999999996), and another
/// base snaps to the integer k when `base^k` is exactly `x`.
fn log(x: f64, base: f64) -> f64 {
    if base == 10.0 {
        return x.log10();
    }
    if base == 2.0 {
        return x.log2();
    }
    let r = x.ln() / base.ln();
    let k = r.round();
    if r.is_finite() && (r - k).abs() < 1e-9 && base.powf(k) == x {
        k
    } else {
        r
    }
}
