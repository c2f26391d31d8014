//! Number, currency, percent, rating and duration cells.
//!
//! Numbers keep exactly what was entered: a value is rounded on its shortest
//! decimal representation (the digits a person typed, not the binary
//! expansion of the f64), half away from zero, and refused when the rounded
//! form has more significant digits than an f64 holds exactly. Integral
//! results are emitted as JSON integers so `12` stays `12`, not `12.0`.

use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Number, Value};

use super::{CellError, expected};

/// Most significant digits a stored number may have: every decimal with at
/// most 15 significant digits survives a trip through an f64 unchanged.
const MAX_SIGNIFICANT_DIGITS: u32 = 15;

/// Decimal places kept by duration cells (milliseconds).
const DURATION_DECIMALS: u32 = 3;

/// Largest integer an f64 holds exactly, 2^53.
const MAX_EXACT_INT: f64 = 9_007_199_254_740_992.0;

/// The rounded number has more significant digits than an f64 keeps.
struct TooPrecise;

/// A finite non-zero decimal as `±d.ddd × 10^exp`, with no leading or
/// trailing zeros in `digits`.
struct Scientific {
    negative: bool,
    digits: String,
    exp: i32,
}

impl Scientific {
    /// The shortest decimal representation of `v` (what `{:e}` prints: the
    /// fewest digits that parse back to the same f64).
    fn of(v: f64) -> Option<Self> {
        if !v.is_finite() || v == 0.0 {
            return None;
        }
        let text = format!("{v:e}");
        let (mantissa, exp) = text.split_once('e')?;
        let exp = exp.parse::<i32>().ok()?;
        let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
        while digits.len() > 1 && digits.ends_with('0') {
            digits.pop();
        }
        Some(Self {
            negative: v < 0.0,
            digits,
            exp,
        })
    }

    /// Number of significant digits.
    fn len(&self) -> i32 {
        i32::try_from(self.digits.len()).unwrap_or(i32::MAX)
    }

    /// The value as decimal text an f64 parser reads exactly.
    fn to_text(&self) -> String {
        let sign = if self.negative { "-" } else { "" };
        format!("{sign}{}e{}", self.digits, self.exp - (self.len() - 1))
    }
}

/// Rounds `v × 10^shift` to `dp` decimal places, half away from zero, on its
/// shortest decimal representation.
fn round_shifted(v: f64, shift: i32, dp: u32) -> Result<f64, TooPrecise> {
    let Some(mut sci) = Scientific::of(v) else {
        return if v.is_finite() {
            Ok(0.0)
        } else {
            Err(TooPrecise)
        };
    };
    sci.exp += shift;
    let n = sci.len();
    let dp_i = i32::try_from(dp).map_err(|_| TooPrecise)?;
    let decimals = n - 1 - sci.exp;
    if decimals <= dp_i {
        // Nothing to round: the value is kept as it is.
        if n > MAX_SIGNIFICANT_DIGITS as i32 {
            return Err(TooPrecise);
        }
        if shift == 0 {
            return Ok(v);
        }
        return sci.to_text().parse::<f64>().map_err(|_| TooPrecise);
    }
    if sci.exp < -dp_i - 1 {
        // |v| < 10^(-dp-1), less than half of the last kept place.
        return Ok(0.0);
    }
    // Here n <= 17 (the most an f64 needs) and decimals <= n + dp <= 27, so
    // the value fits a Decimal exactly.
    let mantissa: i128 = sci.digits.parse().map_err(|_| TooPrecise)?;
    let mantissa = if sci.negative { -mantissa } else { mantissa };
    let scale = u32::try_from(decimals).map_err(|_| TooPrecise)?;
    let exact = Decimal::try_from_i128_with_scale(mantissa, scale).map_err(|_| TooPrecise)?;
    let rounded = exact
        .round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
        .normalize();
    let mut m = rounded.mantissa().unsigned_abs();
    if m == 0 {
        return Ok(0.0);
    }
    while m % 10 == 0 {
        m /= 10;
    }
    if m.ilog10() + 1 > MAX_SIGNIFICANT_DIGITS {
        return Err(TooPrecise);
    }
    rounded.to_string().parse::<f64>().map_err(|_| TooPrecise)
}

fn too_precise(given: &Value) -> CellError {
    expected(
        &format!("a number with at most {MAX_SIGNIFICANT_DIGITS} significant digits"),
        given,
    )
}

/// Rounds a number to `precision` decimal places (half away from zero) and
/// checks that it round-trips exactly.
///
/// The rounding works on the shortest decimal representation of `value`, so
/// `2.675` (stored as 2.67499999...) rounds to `2.68`. A result with more than
/// 15 significant digits, or a value that is not finite, is an error.
pub fn normalize_number(value: f64, precision: u8) -> Result<f64, CellError> {
    if !value.is_finite() {
        return Err(CellError {
            expected: "expected a finite number".into(),
        });
    }
    round_shifted(value, 0, u32::from(precision))
        .map_err(|_| too_precise(&Number::from_f64(value).map_or(Value::Null, Value::Number)))
}

/// The JSON form of a stored number: an integer when it is one (and exact),
/// otherwise the f64. `-0` becomes `0`.
pub(super) fn number_value(v: f64) -> Value {
    if v == 0.0 {
        return Value::from(0);
    }
    if v.fract() == 0.0 && v.abs() < MAX_EXACT_INT {
        // Integral and below 2^53: the conversion is exact.
        return Value::from(v as i64);
    }
    Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// A number as plain decimal text (no exponent), the shortest that reads back
/// as the same value: `12`, `0.5`, `100000000000000000000`.
pub(crate) fn number_text(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        n.as_f64().map_or_else(|| n.to_string(), |f| f.to_string())
    }
}

/// Reads a JSON number as an f64, refusing integers an f64 would not hold
/// exactly and non-finite values.
fn json_number(n: &Number, given: &Value) -> Result<f64, CellError> {
    if let Some(mut i) = n.as_i64().map(i64::unsigned_abs).or_else(|| n.as_u64())
        && i != 0
    {
        while i % 10 == 0 {
            i /= 10;
        }
        if i.ilog10() + 1 > MAX_SIGNIFICANT_DIGITS {
            return Err(too_precise(given));
        }
    }
    n.as_f64()
        .filter(|f| f.is_finite())
        .ok_or_else(|| expected("a finite number", given))
}

/// Parses a plain decimal number: an optional sign, digits with an optional
/// decimal point, an optional exponent. No `inf`, `nan` or hex.
pub(super) fn parse_decimal(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let mut digits = 0;
    let mut dot = false;
    while let Some(&c) = b.get(i) {
        match c {
            b'0'..=b'9' => digits += 1,
            b'.' if !dot => dot = true,
            _ => break,
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Reads a number cell: a JSON number, or with `typecast` a string that
/// `parse_text` understands. Returns the value and a power of ten to apply
/// (`-2` for "50%").
fn read(
    value: &Value,
    typecast: bool,
    what: &str,
    parse_text: impl Fn(&str) -> Option<(f64, i32)>,
) -> Result<(f64, i32), CellError> {
    match value {
        Value::Number(n) => Ok((json_number(n, value)?, 0)),
        Value::String(s) if typecast => parse_text(s.trim()).ok_or_else(|| expected(what, value)),
        _ => Err(expected(what, value)),
    }
}

/// Rounds what [`read`] gave and emits the stored value.
fn finish(v: f64, shift: i32, dp: u32, given: &Value) -> Result<Option<Value>, CellError> {
    round_shifted(v, shift, dp)
        .map(|r| Some(number_value(r)))
        .map_err(|_| too_precise(given))
}

pub(super) fn number(
    value: &Value,
    typecast: bool,
    precision: u8,
) -> Result<Option<Value>, CellError> {
    let (v, shift) = read(value, typecast, "a number", |s| {
        parse_decimal(s).map(|v| (v, 0))
    })?;
    finish(v, shift, u32::from(precision), value)
}

/// Removes thousands separators from the integer part of `s` when they are
/// placed every three digits ("1,234,567.5"); `None` when commas are
/// elsewhere.
fn strip_thousands(s: &str) -> Option<String> {
    if !s.contains(',') {
        return Some(s.to_owned());
    }
    let (sign, body) = match s.strip_prefix(['+', '-']) {
        Some(rest) => (&s[..1], rest),
        None => ("", s),
    };
    let (int, rest) = match body.find('.') {
        Some(i) => body.split_at(i),
        None => (body, ""),
    };
    if rest.contains(',') {
        return None;
    }
    let mut groups = int.split(',');
    let first = groups.next()?;
    if first.is_empty() || first.len() > 3 || !first.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut out = format!("{sign}{first}");
    for g in groups {
        if g.len() != 3 || !g.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        out.push_str(g);
    }
    out.push_str(rest);
    Some(out)
}

/// Parses an amount: the field's symbol and `$`, `€`, `£` anywhere, thousands
/// commas, and spaces after a leading sign are allowed.
fn parse_amount(s: &str, symbol: &str) -> Option<f64> {
    let mut text = s.to_owned();
    if !symbol.is_empty() {
        text = text.replace(symbol, "");
    }
    text.retain(|c| !matches!(c, '$' | '€' | '£'));
    let text = text.trim();
    let text = match text.strip_prefix(['+', '-']) {
        Some(rest) => format!("{}{}", &text[..1], rest.trim_start()),
        None => text.to_owned(),
    };
    parse_decimal(&strip_thousands(&text)?)
}

pub(super) fn currency(
    value: &Value,
    typecast: bool,
    symbol: &str,
    precision: u8,
) -> Result<Option<Value>, CellError> {
    let (v, shift) = read(value, typecast, "a number", |s| {
        parse_amount(s, symbol).map(|v| (v, 0))
    })?;
    finish(v, shift, u32::from(precision), value)
}

pub(super) fn percent(
    value: &Value,
    typecast: bool,
    precision: u8,
) -> Result<Option<Value>, CellError> {
    let (v, shift) = read(value, typecast, "a number", |s| match s.strip_suffix('%') {
        Some(pct) => parse_decimal(pct.trim_end()).map(|v| (v, -2)),
        None => parse_decimal(s).map(|v| (v, 0)),
    })?;
    // The precision is of the displayed percentage, so the fraction keeps two
    // more places.
    finish(v, shift, u32::from(precision) + 2, value)
}

pub(super) fn rating(value: &Value, typecast: bool, max: u8) -> Result<Option<Value>, CellError> {
    let what = format!("a whole number from 1 to {max}");
    let (v, _) = read(value, typecast, &what, |s| parse_decimal(s).map(|v| (v, 0)))
        .map_err(|_| expected(&what, value))?;
    if v == 0.0 {
        return Ok(None);
    }
    if v.fract() != 0.0 || v < 1.0 || v > f64::from(max) {
        return Err(expected(&what, value));
    }
    Ok(Some(Value::from(v as u8)))
}

/// Parses `h:mm`, `h:mm:ss` or `h:mm:ss.sss` (optionally negative) into
/// seconds.
fn parse_clock(s: &str) -> Option<f64> {
    let (sign, body) = match s.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", s.strip_prefix('+').unwrap_or(s)),
    };
    let mut parts = body.split(':');
    let hours = parts.next()?;
    let minutes = parts.next()?;
    let seconds = parts.next();
    if parts.next().is_some() {
        return None;
    }
    let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(hours) || hours.len() > 12 || minutes.len() != 2 || !all_digits(minutes) {
        return None;
    }
    let h: u64 = hours.parse().ok()?;
    let m: u64 = minutes.parse().ok()?;
    if m >= 60 {
        return None;
    }
    let (secs, frac) = match seconds {
        None => (0, ""),
        Some(sec) => {
            let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
            if whole.len() != 2 || !all_digits(whole) {
                return None;
            }
            if sec.contains('.') && (!all_digits(frac) || frac.len() > 9) {
                return None;
            }
            let s: u64 = whole.parse().ok()?;
            if s >= 60 {
                return None;
            }
            (s, frac)
        }
    };
    let total = h * 3600 + m * 60 + secs;
    let text = if frac.is_empty() {
        format!("{sign}{total}")
    } else {
        format!("{sign}{total}.{frac}")
    };
    text.parse::<f64>().ok()
}

pub(super) fn duration(value: &Value, typecast: bool) -> Result<Option<Value>, CellError> {
    let what = if typecast {
        "a number of seconds or h:mm[:ss[.sss]]"
    } else {
        "a number of seconds"
    };
    let (v, shift) = read(value, typecast, what, |s| {
        parse_decimal(s).or_else(|| parse_clock(s)).map(|v| (v, 0))
    })?;
    finish(v, shift, DURATION_DECIMALS, value)
}
