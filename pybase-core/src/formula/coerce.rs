//! Coercions between value types (A.4).

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;

use crate::fields::kinds::local_in;

use super::value::{ErrorKind, Value};

/// A number's shortest round-trip text as JavaScript and Airtable write it
/// (ECMAScript `Number::toString`): plain digits from 1e-6 up to below
/// 1e21 (`3`, `0.1`, `0.000001`, `123456789012345680000`), exponential
/// beyond (`1e+21`, `1.5e-7`, `1e+300`), so a huge or tiny number joined
/// to text stays short. `NaN` and the infinities as JavaScript names them.
pub(crate) fn number_text(n: f64) -> String {
    if !n.is_finite() {
        return if n.is_nan() {
            "NaN".to_owned()
        } else if n > 0.0 {
            "Infinity".to_owned()
        } else {
            "-Infinity".to_owned()
        };
    }
    if n == 0.0 {
        return "0".to_owned();
    }
    // The shortest round-trip digits and their exponent: `d.ddde±x`.
    let sci = format!("{:e}", n.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    let k = digits.len() as i32;
    // The value is 0.<digits> x 10^point.
    let point = exp + 1;
    let sign = if n < 0.0 { "-" } else { "" };
    let body = if k <= point && point <= 21 {
        format!("{digits}{}", "0".repeat((point - k) as usize))
    } else if 0 < point && point <= 21 {
        let (int, frac) = digits.split_at(point as usize);
        format!("{int}.{frac}")
    } else if -6 < point && point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else {
        let (first, rest) = digits.split_at(1);
        let e = point - 1;
        let e = if e < 0 {
            format!("-{}", -e)
        } else {
            format!("+{e}")
        };
        if rest.is_empty() {
            format!("{first}e{e}")
        } else {
            format!("{first}.{rest}e{e}")
        }
    };
    format!("{sign}{body}")
}

/// Reads a value as a number: Blank 0, Bool 1/0; text, dates and arrays of
/// more than one item are `#ERROR!`.
pub(crate) fn to_number(v: &Value) -> Result<f64, ErrorKind> {
    match v {
        Value::Blank => Ok(0.0),
        Value::Number(n) => Ok(*n),
        Value::Bool(b) => Ok(if *b { 1.0 } else { 0.0 }),
        Value::Error(e) => Err(*e),
        Value::Array(items) if items.len() == 1 => to_number(&items[0]),
        Value::Array(items) if items.is_empty() => Ok(0.0),
        _ => Err(ErrorKind::Error),
    }
}

/// Reads a value as text (A.4).
pub(crate) fn to_text(v: &Value) -> Result<String, ErrorKind> {
    Ok(match v {
        Value::Blank => String::new(),
        Value::Number(n) => number_text(*n),
        Value::Text(t) => t.clone(),
        Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
        Value::Date(d) => d.format("%Y-%m-%d").to_string(),
        Value::DateTime(t, _) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Value::Array(items) => {
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                parts.push(to_text(item)?);
            }
            parts.join(", ")
        }
        Value::Error(e) => return Err(*e),
    })
}

/// Reads a value as a condition (A.4).
pub(crate) fn to_bool(v: &Value) -> Result<bool, ErrorKind> {
    Ok(match v {
        Value::Blank => false,
        Value::Number(n) => *n != 0.0,
        Value::Text(t) => !t.is_empty(),
        Value::Bool(b) => *b,
        Value::Date(_) | Value::DateTime(..) => true,
        Value::Array(items) => !items.is_empty(),
        Value::Error(e) => return Err(*e),
    })
}

/// Parses a plain decimal (`12`, `-3.5`, `1e3`), as comparisons read text
/// against numbers.
pub(crate) fn plain_decimal(t: &str) -> Option<f64> {
    let t = t.trim();
    if t.is_empty()
        || !t
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
    {
        return None;
    }
    t.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// The instant a value names: a Date is its midnight in `zone` (A.4), a
/// text RFC 3339 or `YYYY-MM-DD` (midnight in `zone`); `None` otherwise.
pub(crate) fn instant(v: &Value, zone: Tz) -> Option<DateTime<Utc>> {
    match v {
        Value::DateTime(t, _) => Some(*t),
        Value::Date(d) => local_in(zone, d.and_time(NaiveTime::MIN)),
        Value::Text(t) => DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|t| t.with_timezone(&Utc))
            .or_else(|| {
                NaiveDate::parse_from_str(t, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| local_in(zone, d.and_time(NaiveTime::MIN)))
            }),
        _ => None,
    }
}

fn numeric(v: &Value) -> Option<f64> {
    match v {
        Value::Blank => Some(0.0),
        Value::Number(n) => Some(*n),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

/// Compares two values (A.4), a Date as its midnight in `zone`; `None`
/// means incomparable (`=` false, `!=` true, orderings false). Errors are
/// handled by the caller.
pub(crate) fn compare(a: &Value, b: &Value, zone: Tz) -> Result<Option<Ordering>, ErrorKind> {
    if let Value::Error(e) = a {
        return Err(*e);
    }
    if let Value::Error(e) = b {
        return Err(*e);
    }
    if let (Some(x), Some(y)) = (numeric(a), numeric(b)) {
        return Ok(x.partial_cmp(&y));
    }
    if let (Value::Date(x), Value::Date(y)) = (a, b) {
        return Ok(Some(x.cmp(y)));
    }
    let is_time = |v: &Value| matches!(v, Value::Date(_) | Value::DateTime(..));
    if is_time(a) || is_time(b) {
        return Ok(match (instant(a, zone), instant(b, zone)) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => None,
        });
    }
    match (a, b) {
        (Value::Text(t), other) | (other, Value::Text(t)) if numeric(other).is_some() => {
            let flipped = matches!(b, Value::Text(_)) && !matches!(a, Value::Text(_));
            if matches!(other, Value::Blank) {
                let ord = if flipped {
                    "".cmp(t.as_str())
                } else {
                    t.as_str().cmp("")
                };
                return Ok(Some(ord));
            }
            let Some(x) = plain_decimal(t) else {
                return Ok(None);
            };
            let y = numeric(other).unwrap_or(0.0);
            Ok(if flipped {
                y.partial_cmp(&x)
            } else {
                x.partial_cmp(&y)
            })
        }
        _ => {
            let x = to_text(a)?;
            let y = to_text(b)?;
            Ok(Some(x.as_str().cmp(y.as_str())))
        }
    }
}

/// A.4 equality, as `=`, `SWITCH` and `ARRAYUNIQUE` use it.
pub(crate) fn equal(a: &Value, b: &Value, zone: Tz) -> Result<bool, ErrorKind> {
    Ok(compare(a, b, zone)? == Some(Ordering::Equal))
}

#[cfg(test)]
mod tests {
    use super::number_text;

    /// The texts JavaScript's `String(n)` gives (checked in Node 20).
    #[test]
    fn numbers_read_as_javascript_writes_them() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "0"),
            (3.0, "3"),
            (-3.0, "-3"),
            (0.1, "0.1"),
            (1.5, "1.5"),
            (-1234.5678, "-1234.5678"),
            (0.000001, "0.000001"),
            (0.0000001, "1e-7"),
            (-0.00000015, "-1.5e-7"),
            (123456789012345680000.0, "123456789012345680000"),
            (1e21, "1e+21"),
            (1.25e21, "1.25e+21"),
            (1e300, "1e+300"),
            (-1e300, "-1e+300"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (100.0, "100"),
            (1e16, "10000000000000000"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for (n, want) in cases {
            assert_eq!(number_text(*n), *want, "{n:e}");
        }
    }
}
