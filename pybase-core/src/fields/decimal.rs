//! Exact decimal reading and rounding of number cells.
//!
//! Numbers keep exactly what was entered: a value is rounded on its shortest
//! decimal representation (the digits a person typed, not the binary
//! expansion of the f64), half away from zero, and refused when the rounded
//! form has more significant digits than an f64 holds exactly. Integral
//! results are emitted as JSON integers so `12` stays `12`, not `12.0`.

use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Number, Value};

use super::cell::{CellError, expected};

/// Most significant digits a stored number may have: every decimal with at
/// most 15 significant digits survives a trip through an f64 unchanged.
const MAX_SIGNIFICANT_DIGITS: u32 = 15;

/// Largest integer an f64 holds exactly, 2^53.
const MAX_EXACT_INT: f64 = 9_007_199_254_740_992.0;

/// Why a number cannot be stored.
pub(crate) enum Unstorable {
    /// The rounded number has more significant digits than an f64 keeps.
    TooPrecise,
    /// The number is beyond the range of an f64.
    OutOfRange,
}

/// A finite decimal as `±d.ddd × 10^exp`, with no leading or trailing zeros
/// in `digits`; zero has no digits.
pub(crate) struct Scientific {
    negative: bool,
    digits: String,
    exp: i32,
}

/// Exponents are clamped to this size; anything near it is out of range or
/// rounds to zero anyway.
const EXP_CLAMP: i64 = 100_000;

impl Scientific {
    /// The shortest decimal representation of a finite `v` (what `{:e}`
    /// prints: the fewest digits that parse back to the same f64).
    fn of(v: f64) -> Option<Self> {
        if !v.is_finite() {
            return None;
        }
        // Ryū prints the shortest round-trip digits without the formatting
        // machinery. With at most 15 digits they are the only shortest ones
        // (two decimals of 15 digits never share an f64), so they are what
        // `{:e}` prints; with 16 or 17 the two may break a tie differently,
        // and `{:e}` decides, as it always has.
        let mut buffer = ryu::Buffer::new();
        if let Some(s) = Self::parse(buffer.format_finite(v))
            && s.digits.len() <= MAX_SIGNIFICANT_DIGITS as usize
        {
            return Some(s);
        }
        let text = format!("{v:e}");
        let (mantissa, exp) = text.split_once('e')?;
        let exp = exp.parse::<i32>().ok()?;
        let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
        Some(Self::from_parts(v < 0.0, &digits, i64::from(exp)))
    }

    /// Builds `±d.ddd × 10^exp` from digits (leading and trailing zeros
    /// allowed) whose first digit sits at `10^exp`.
    fn from_parts(negative: bool, digits: &str, exp: i64) -> Self {
        let leading = digits.len() - digits.trim_start_matches('0').len();
        let digits = digits.trim_matches('0');
        let exp = (exp - leading as i64).clamp(-EXP_CLAMP, EXP_CLAMP);
        Self {
            negative: negative && !digits.is_empty(),
            digits: digits.to_owned(),
            exp: i32::try_from(exp).unwrap_or(0),
        }
    }

    /// Parses a plain decimal exactly: an optional sign, digits with an
    /// optional decimal point, an optional exponent. No `inf`, `nan` or hex.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let (negative, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (mantissa, exp_text) = match body.find(['e', 'E']) {
            Some(i) => (&body[..i], Some(&body[i + 1..])),
            None => (body, None),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let is_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if int.len() + frac.len() == 0 || !is_digits(int) || !is_digits(frac) {
            return None;
        }
        let exp = match exp_text {
            None => 0,
            Some(e) => {
                let (neg, digits) = match e.strip_prefix('-') {
                    Some(rest) => (true, rest),
                    None => (false, e.strip_prefix('+').unwrap_or(e)),
                };
                if digits.is_empty() || !is_digits(digits) {
                    return None;
                }
                let magnitude = digits.bytes().fold(0i64, |acc, b| {
                    (acc * 10 + i64::from(b - b'0')).min(EXP_CLAMP * 10)
                });
                if neg { -magnitude } else { magnitude }
            }
        };
        let mut digits = String::with_capacity(int.len() + frac.len());
        digits.push_str(int);
        digits.push_str(frac);
        // The first digit of `int` sits at 10^(len(int) - 1).
        Some(Self::from_parts(
            negative,
            &digits,
            exp + int.len() as i64 - 1,
        ))
    }

    /// Number of significant digits (0 for zero).
    fn len(&self) -> i32 {
        i32::try_from(self.digits.len()).unwrap_or(i32::MAX)
    }

    /// Whether the value is a whole number.
    pub(crate) fn is_integer(&self) -> bool {
        self.digits.is_empty() || self.len() - 1 - self.exp <= 0
    }

    /// The nearest f64.
    pub(crate) fn to_f64(&self) -> Result<f64, Unstorable> {
        if self.digits.is_empty() {
            return Ok(0.0);
        }
        if let Some(v) = self.to_f64_exact() {
            return Ok(v);
        }
        let sign = if self.negative { "-" } else { "" };
        let text = format!("{sign}{}e{}", self.digits, self.exp - (self.len() - 1));
        text.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .ok_or(Unstorable::OutOfRange)
    }

    /// [`Scientific::to_f64`] without parsing text, when one IEEE operation
    /// gives the correctly rounded result (Clinger's fast path): at most 15
    /// digits (an integer below 2^53, exact) times or divided by a power of
    /// ten up to 10^22 (exact too). `None` otherwise.
    fn to_f64_exact(&self) -> Option<f64> {
        const POW10: [f64; 23] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
            1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
        ];
        if self.digits.len() > MAX_SIGNIFICANT_DIGITS as usize {
            return None;
        }
        let mantissa = self
            .digits
            .bytes()
            .fold(0u64, |acc, b| acc * 10 + u64::from(b - b'0'));
        // Below 10^15, so exactly an f64.
        #[allow(clippy::cast_precision_loss)]
        let m = mantissa as f64;
        let e = self.exp - (self.len() - 1);
        let power = POW10.get(usize::try_from(e.unsigned_abs()).ok()?)?;
        let v = if e >= 0 { m * power } else { m / power };
        v.is_finite().then_some(if self.negative { -v } else { v })
    }
}

/// Rounds `sci × 10^shift` to `dp` decimal places, half away from zero, and
/// checks that the result keeps at most 15 significant digits.
fn round_shifted(mut sci: Scientific, shift: i32, dp: u32) -> Result<f64, Unstorable> {
    if sci.digits.is_empty() {
        return Ok(0.0);
    }
    sci.exp += shift;
    let dp_i = i32::try_from(dp).map_err(|_| Unstorable::TooPrecise)?;
    let decimals = sci.len() - 1 - sci.exp;
    if decimals <= dp_i {
        // Nothing to round: the value is kept as it is.
        if sci.len() > MAX_SIGNIFICANT_DIGITS as i32 {
            return Err(Unstorable::TooPrecise);
        }
        return sci.to_f64();
    }
    if sci.exp < -dp_i - 1 {
        // |v| < 10^(-dp-1), less than half of the last kept place.
        return Ok(0.0);
    }
    // Half away from zero only looks at the first dropped digit, so the
    // digits after it can go; what is left has exp + dp + 2 digits and dp + 1
    // decimals.
    let keep = usize::try_from(sci.exp + dp_i + 2).map_err(|_| Unstorable::TooPrecise)?;
    sci.digits.truncate(keep);
    if sci.digits.len() > 28 {
        // More than a Decimal holds, so far more than 15 significant digits.
        return Err(Unstorable::TooPrecise);
    }
    let mantissa: i128 = sci.digits.parse().map_err(|_| Unstorable::TooPrecise)?;
    let mantissa = if sci.negative { -mantissa } else { mantissa };
    let scale = u32::try_from(sci.len() - 1 - sci.exp).map_err(|_| Unstorable::TooPrecise)?;
    let exact =
        Decimal::try_from_i128_with_scale(mantissa, scale).map_err(|_| Unstorable::TooPrecise)?;
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
        return Err(Unstorable::TooPrecise);
    }
    rounded
        .to_string()
        .parse::<f64>()
        .map_err(|_| Unstorable::OutOfRange)
}

fn unstorable(why: &Unstorable, given: &Value) -> CellError {
    match why {
        Unstorable::TooPrecise => expected(
            &format!("a number with at most {MAX_SIGNIFICANT_DIGITS} significant digits"),
            given,
        ),
        Unstorable::OutOfRange => expected("a finite number", given),
    }
}

/// Rounds a number to `precision` decimal places (half away from zero) and
/// checks that it round-trips exactly.
///
/// The rounding works on the shortest decimal representation of `value`, so
/// `2.675` (stored as 2.67499999...) rounds to `2.68`. A result with more than
/// 15 significant digits, or a value that is not finite, is an error.
pub fn normalize_number(value: f64, precision: u8) -> Result<f64, CellError> {
    let given = Number::from_f64(value).map_or(Value::Null, Value::Number);
    let sci = Scientific::of(value).ok_or_else(|| unstorable(&Unstorable::OutOfRange, &given))?;
    round_shifted(sci, 0, u32::from(precision)).map_err(|why| unstorable(&why, &given))
}

/// The JSON form of a stored number: an integer when it is one (and exact),
/// otherwise the f64. `-0` becomes `0`.
pub(crate) fn number_value(v: f64) -> Value {
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

/// Reads a JSON number: integers exactly (serde_json keeps them as i64 or
/// u64), others through their shortest decimal representation.
fn json_number(n: &Number) -> Option<Scientific> {
    let integer = n
        .as_i64()
        .map(|i| (i < 0, i.unsigned_abs()))
        .or_else(|| n.as_u64().map(|u| (false, u)));
    if let Some((negative, magnitude)) = integer {
        let digits = magnitude.to_string();
        let exp = digits.len() as i64 - 1;
        Some(Scientific::from_parts(negative, &digits, exp))
    } else {
        n.as_f64().and_then(Scientific::of)
    }
}

/// Reads a number cell: a JSON number, or with `typecast` a string that
/// `parse_text` understands. Returns the value and a power of ten to apply
/// (`-2` for "50%").
pub(crate) fn read(
    value: &Value,
    typecast: bool,
    what: &str,
    parse_text: impl Fn(&str) -> Option<(Scientific, i32)>,
) -> Result<(Scientific, i32), CellError> {
    match value {
        Value::Number(n) => json_number(n)
            .map(|sci| (sci, 0))
            .ok_or_else(|| unstorable(&Unstorable::OutOfRange, value)),
        Value::String(s) if typecast => parse_text(s.trim()).ok_or_else(|| expected(what, value)),
        _ => Err(expected(what, value)),
    }
}

/// Rounds what [`read`] gave and emits the stored value.
pub(crate) fn finish(
    sci: Scientific,
    shift: i32,
    dp: u32,
    given: &Value,
) -> Result<Option<Value>, CellError> {
    round_shifted(sci, shift, dp)
        .map(|r| Some(number_value(r)))
        .map_err(|why| unstorable(&why, given))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The digits and exponent of `{:e}`: what [`Scientific::of`] read
    /// before it used Ryū.
    fn by_format(v: f64) -> (bool, String, i32) {
        let text = format!("{v:e}");
        let (mantissa, exp) = text.split_once('e').expect("an exponent");
        let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
        let exp: i64 = exp.parse().expect("an integer exponent");
        let s = Scientific::from_parts(v < 0.0, &digits, exp);
        (s.negative, s.digits, s.exp)
    }

    fn parts(s: &Scientific) -> (bool, String, i32) {
        (s.negative, s.digits.clone(), s.exp)
    }

    /// [`Scientific::to_f64`] by parsing text, with no fast path.
    fn by_parsing(s: &Scientific) -> f64 {
        let sign = if s.negative { "-" } else { "" };
        format!("{sign}{}e{}", s.digits, s.exp - (s.len() - 1))
            .parse()
            .expect("a float")
    }

    #[test]
    fn shortest_digits_match_the_formatter_on_edge_values() {
        for v in [
            0.1,
            -0.1,
            1.0,
            12.5,
            2.675,
            1e16,
            1e22,
            1e23,
            123_456_789_012_345.0,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            9_007_199_254_740_993.0,
            0.3,
            -1234.5678,
        ] {
            let s = Scientific::of(v).expect("finite");
            assert_eq!(parts(&s), by_format(v), "{v}");
        }
        assert!(Scientific::of(f64::NAN).is_none());
        assert!(Scientific::of(f64::INFINITY).is_none());
    }

    #[test]
    fn integers_read_like_their_text() {
        for n in [
            Number::from(0),
            Number::from(-120),
            Number::from(7),
            Number::from(u64::MAX),
            Number::from(i64::MIN),
            Number::from(1_000_000_000_000_000_i64),
        ] {
            let s = json_number(&n).expect("a number");
            let t = Scientific::parse(&n.to_string()).expect("a number");
            assert_eq!(parts(&s), parts(&t), "{n}");
        }
        let s = json_number(&Number::from(-120)).expect("a number");
        assert_eq!(parts(&s), (true, "12".to_owned(), 2));
    }

    proptest! {
        #[test]
        fn shortest_digits_match_the_formatter(bits in any::<u64>()) {
            let v = f64::from_bits(bits);
            prop_assume!(v.is_finite());
            let s = Scientific::of(v).expect("finite");
            prop_assert_eq!(parts(&s), by_format(v));
        }

        #[test]
        fn short_decimals_match_the_formatter(
            m in -1_000_000_000_000i64..1_000_000_000_000,
            k in 0i32..30,
        ) {
            #[allow(clippy::cast_precision_loss)]
            let v = m as f64 / 10f64.powi(k);
            let s = Scientific::of(v).expect("finite");
            prop_assert_eq!(parts(&s), by_format(v));
        }

        #[test]
        fn the_fast_conversion_is_correctly_rounded(
            mantissa in 0u64..1_000_000_000_000_000,
            exp in -40i32..40,
            negative in any::<bool>(),
        ) {
            let digits = mantissa.to_string();
            let s = Scientific::from_parts(negative, &digits, i64::from(exp));
            let Ok(fast) = s.to_f64() else {
                return Err(TestCaseError::fail("out of range"));
            };
            if s.digits.is_empty() {
                prop_assert_eq!(fast, 0.0);
            } else {
                prop_assert_eq!(fast.to_bits(), by_parsing(&s).to_bits());
            }
        }

        #[test]
        fn decimal_text_reads_like_the_float_parser(
            int in 0u64..10_000_000,
            frac in 0u64..10_000_000,
        ) {
            let text = format!("{int}.{frac:07}");
            let s = Scientific::parse(&text).expect("a decimal");
            prop_assert_eq!(s.to_f64().ok(), text.parse::<f64>().ok());
        }
    }
}
