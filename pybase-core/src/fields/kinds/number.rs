//! The number family: number, currency, percent, rating and duration, all
//! stored as JSON numbers read exactly (see [`crate::fields::decimal`]).

use serde_json::{Value, json};

use crate::fields::cell::{CellError, expected};
use crate::fields::decimal::{Scientific, finish, read};
use crate::fields::kind::{Kind, KindInfo, Options, OptionsError, Storage, ValueKind};
use crate::fields::options_schema as os;
use crate::fields::registry::FieldType;
use crate::ids::TableId;

/// Decimal places kept by duration cells (milliseconds).
const DURATION_DECIMALS: u32 = 3;

/// Display formats a duration accepts.
const DURATION_FORMATS: [&str; 5] = ["h:mm", "h:mm:ss", "h:mm:ss.s", "h:mm:ss.ss", "h:mm:ss.sss"];

/// The conversion input of a number type: a checkbox gives 1 or 0, the
/// rest as for any type.
fn numeric_input(value: &Value) -> Result<Value, String> {
    match value {
        Value::Bool(b) => Ok(Value::from(u8::from(*b))),
        _ => crate::fields::kind::plain_conversion_input(false, value),
    }
}

/// Numbers that probe exact reading and rounding: halves, extremes, more
/// than 15 significant digits, and text only typecast reads.
fn number_samples() -> Vec<Value> {
    vec![
        json!(0),
        json!(-0.0),
        json!(1),
        json!(-1),
        json!(0.1),
        json!(2.675),
        json!(-2.5),
        json!(123_456_789.123_456),
        json!(999_999_999_999_999_i64),
        json!(1e20),
        json!(1e308),
        json!(5e-324),
        json!(0.1 + 0.2),
        json!(9_007_199_254_740_993_i64),
        json!(u64::MAX),
        json!("12"),
        json!(" -3.5 "),
        json!("1,234.5"),
        json!("1e308"),
        json!("abc"),
        json!(true),
    ]
}

/// A number with 0..=8 decimal places.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number {
    /// Decimal places kept.
    pub precision: u8,
}

impl KindInfo for Number {
    const NAME: &'static str = "number";
    const OPTION_KEYS: &'static [&'static str] = &["precision"];

    fn parse(options: &Options<'_>) -> Result<Self, OptionsError> {
        Ok(Self {
            precision: options.precision(0)?,
        })
    }

    fn examples(_: TableId) -> Vec<Self> {
        vec![
            Self { precision: 2 },
            Self { precision: 8 },
            Self { precision: 0 },
        ]
    }

    fn options_schema() -> Value {
        os::object(json!({ "precision": os::precision() }))
    }
}

impl Kind for Number {
    fn options_json(&self) -> Value {
        json!({ "precision": self.precision })
    }

    fn storage(&self) -> Storage {
        Storage::Cell(ValueKind::Number)
    }

    fn validate(&self, value: &Value, typecast: bool) -> Result<Option<Value>, CellError> {
        number(value, typecast, self.precision)
    }

    fn sample_inputs(&self) -> Vec<Value> {
        number_samples()
    }

    fn conversion_input(&self, _: &FieldType, value: &Value) -> Result<Value, String> {
        numeric_input(value)
    }
}

/// An amount of money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Currency {
    /// Currency symbol shown by clients.
    pub symbol: String,
    /// Decimal places kept.
    pub precision: u8,
}

impl KindInfo for Currency {
    const NAME: &'static str = "currency";
    const OPTION_KEYS: &'static [&'static str] = &["precision", "symbol"];

    fn parse(options: &Options<'_>) -> Result<Self, OptionsError> {
        Ok(Self {
            symbol: options.string("symbol", "$")?,
            precision: options.precision(2)?,
        })
    }

    fn examples(_: TableId) -> Vec<Self> {
        vec![
            Self {
                symbol: "CHF".into(),
                precision: 2,
            },
            Self {
                symbol: "€".into(),
                precision: 0,
            },
        ]
    }

    fn options_schema() -> Value {
        os::object(json!({ "precision": os::precision(), "symbol": os::text() }))
    }
}

impl Kind for Currency {
    fn options_json(&self) -> Value {
        json!({ "symbol": self.symbol, "precision": self.precision })
    }

    fn storage(&self) -> Storage {
        Storage::Cell(ValueKind::Number)
    }

    fn validate(&self, value: &Value, typecast: bool) -> Result<Option<Value>, CellError> {
        currency(value, typecast, &self.symbol, self.precision)
    }

    fn sample_inputs(&self) -> Vec<Value> {
        let mut out = number_samples();
        out.extend([json!("$1,000.50"), json!("- € 3"), json!("CHF 12")]);
        out
    }

    fn conversion_input(&self, _: &FieldType, value: &Value) -> Result<Value, String> {
        numeric_input(value)
    }
}

/// A fraction, 0.5 meaning 50 %.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Percent {
    /// Decimal places of the displayed percentage (the stored fraction keeps
    /// two more).
    pub precision: u8,
}

impl KindInfo for Percent {
    const NAME: &'static str = "percent";
    const OPTION_KEYS: &'static [&'static str] = &["precision"];

    fn parse(options: &Options<'_>) -> Result<Self, OptionsError> {
        Ok(Self {
            precision: options.precision(2)?,
        })
    }

    fn examples(_: TableId) -> Vec<Self> {
        vec![Self { precision: 2 }, Self { precision: 0 }]
    }

    fn options_schema() -> Value {
        os::object(json!({ "precision": os::precision() }))
    }
}

impl Kind for Percent {
    fn options_json(&self) -> Value {
        json!({ "precision": self.precision })
    }

    fn storage(&self) -> Storage {
        Storage::Cell(ValueKind::Number)
    }

    fn validate(&self, value: &Value, typecast: bool) -> Result<Option<Value>, CellError> {
        percent(value, typecast, self.precision)
    }

    fn sample_inputs(&self) -> Vec<Value> {
        let mut out = number_samples();
        out.extend([json!("50%"), json!("12.5 %"), json!("%")]);
        out
    }

    fn conversion_input(&self, _: &FieldType, value: &Value) -> Result<Value, String> {
        numeric_input(value)
    }
}

/// An integer rating 1..=max.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rating {
    /// Highest rating, 1..=10.
    pub max: u8,
}

impl KindInfo for Rating {
    const NAME: &'static str = "rating";
    const OPTION_KEYS: &'static [&'static str] = &["max"];

    fn parse(options: &Options<'_>) -> Result<Self, OptionsError> {
        let max = options.whole_in("max", 1..=10, 5)?;
        Ok(Self {
            max: u8::try_from(max).unwrap_or(5),
        })
    }

    fn examples(_: TableId) -> Vec<Self> {
        vec![Self { max: 5 }, Self { max: 10 }, Self { max: 2 }]
    }

    fn options_schema() -> Value {
        os::object(json!({ "max": os::integer(1, 10) }))
    }
}

impl Kind for Rating {
    fn options_json(&self) -> Value {
        json!({ "max": self.max })
    }

    fn storage(&self) -> Storage {
        Storage::Cell(ValueKind::Number)
    }

    fn validate(&self, value: &Value, typecast: bool) -> Result<Option<Value>, CellError> {
        rating(value, typecast, self.max)
    }

    fn sample_inputs(&self) -> Vec<Value> {
        (0..12)
            .map(Value::from)
            .chain([json!(2.5), json!("3"), json!(-1)])
            .collect()
    }

    fn conversion_input(&self, _: &FieldType, value: &Value) -> Result<Value, String> {
        numeric_input(value)
    }
}

/// A duration in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duration {
    /// Display format, e.g. `h:mm`.
    pub format: String,
}

impl KindInfo for Duration {
    const NAME: &'static str = "duration";
    const OPTION_KEYS: &'static [&'static str] = &["format"];

    fn parse(options: &Options<'_>) -> Result<Self, OptionsError> {
        let format = options.string("format", "h:mm")?;
        if !DURATION_FORMATS.contains(&format.as_str()) {
            return Err(crate::fields::kind::opt_err(format!(
                "option format must be one of {}, got {format:?}",
                DURATION_FORMATS.join(", ")
            )));
        }
        Ok(Self { format })
    }

    fn examples(_: TableId) -> Vec<Self> {
        vec![
            Self {
                format: "h:mm".into(),
            },
            Self {
                format: "h:mm:ss.sss".into(),
            },
        ]
    }

    fn options_schema() -> Value {
        let mut formats: Vec<Value> = DURATION_FORMATS.iter().map(|f| Value::from(*f)).collect();
        formats.push(Value::Null);
        os::object(json!({ "format": { "enum": formats } }))
    }
}

impl Kind for Duration {
    fn options_json(&self) -> Value {
        json!({ "format": self.format })
    }

    fn storage(&self) -> Storage {
        Storage::Cell(ValueKind::Number)
    }

    fn validate(&self, value: &Value, typecast: bool) -> Result<Option<Value>, CellError> {
        duration(value, typecast)
    }

    fn sample_inputs(&self) -> Vec<Value> {
        let mut out = number_samples();
        out.extend([
            json!("1:30"),
            json!("01:02:03.5"),
            json!("90"),
            json!("-1:00"),
            json!("1:60"),
            json!("x"),
        ]);
        out
    }

    fn conversion_input(&self, _: &FieldType, value: &Value) -> Result<Value, String> {
        numeric_input(value)
    }
}

/// A plain decimal string, unshifted; thousands commas are allowed where
/// they group three digits ("1,234.5", as Airtable's typecast reads it).
fn plain(s: &str) -> Option<(Scientific, i32)> {
    Scientific::parse(&strip_thousands(s)?).map(|sci| (sci, 0))
}

fn number(value: &Value, typecast: bool, precision: u8) -> Result<Option<Value>, CellError> {
    let (sci, shift) = read(value, typecast, "a number", plain)?;
    finish(sci, shift, u32::from(precision), value)
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
    // A leading zero before a comma is a decimal comma ("0,125"), not a
    // thousands separator.
    if first.is_empty()
        || first.len() > 3
        || first.starts_with('0')
        || !first.bytes().all(|b| b.is_ascii_digit())
    {
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
fn parse_amount(s: &str, symbol: &str) -> Option<Scientific> {
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
    Scientific::parse(&strip_thousands(&text)?)
}

fn currency(
    value: &Value,
    typecast: bool,
    symbol: &str,
    precision: u8,
) -> Result<Option<Value>, CellError> {
    let (sci, shift) = read(value, typecast, "a number", |s| {
        parse_amount(s, symbol).map(|sci| (sci, 0))
    })?;
    finish(sci, shift, u32::from(precision), value)
}

fn percent(value: &Value, typecast: bool, precision: u8) -> Result<Option<Value>, CellError> {
    let (sci, shift) = read(value, typecast, "a number", |s| match s.strip_suffix('%') {
        Some(pct) => Scientific::parse(&strip_thousands(pct.trim_end())?).map(|sci| (sci, -2)),
        None => plain(s),
    })?;
    // The precision is of the displayed percentage, so the fraction keeps two
    // more places.
    finish(sci, shift, u32::from(precision) + 2, value)
}

fn rating(value: &Value, typecast: bool, max: u8) -> Result<Option<Value>, CellError> {
    let what = format!("a whole number from 1 to {max}");
    let bad = || expected(&what, value);
    let (sci, _) = read(value, typecast, &what, plain).map_err(|_| bad())?;
    if !sci.is_integer() {
        return Err(bad());
    }
    let v = sci.to_f64().map_err(|_| bad())?;
    if v == 0.0 {
        return Ok(None);
    }
    if v < 1.0 || v > f64::from(max) {
        return Err(bad());
    }
    Ok(Some(Value::from(v as u8)))
}

/// Parses `h:mm`, `h:mm:ss` or `h:mm:ss.sss` (optionally negative) into
/// seconds.
fn parse_clock(s: &str) -> Option<Scientific> {
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
    Scientific::parse(&format!("{sign}{total}.{frac}"))
}

fn duration(value: &Value, typecast: bool) -> Result<Option<Value>, CellError> {
    let what = if typecast {
        "a number of seconds or h:mm[:ss[.sss]]"
    } else {
        "a number of seconds"
    };
    let (sci, shift) = read(value, typecast, what, |s| {
        plain(s).or_else(|| parse_clock(s).map(|sci| (sci, 0)))
    })?;
    finish(sci, shift, DURATION_DECIMALS, value)
}
