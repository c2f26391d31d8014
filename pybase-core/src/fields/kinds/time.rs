//! The time family: date and datetime.
//!
//! Both are stored as text whose byte order is time order: dates as
//! `YYYY-MM-DD`, datetimes as UTC with milliseconds (the query model's
//! [`TIME_FORMAT`]), so years are limited to 0000..=9999.

use chrono::{DateTime as Instant, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde_json::{Value, json};

use super::written_dates::{ambiguous_date, written_date};
use crate::fields::FieldType;
use crate::fields::cell::{CellError, expected};
use crate::fields::kind::{
    Kind, KindInfo, Options, OptionsError, Storage, ValueKind, operand_as_cell, opt_err,
    optionless_kind_info,
};
use crate::fields::options_schema as os;
use crate::ids::TableId;
use crate::query::eval::TIME_FORMAT;

/// A calendar date, `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Date;

optionless_kind_info!(Date, "date");

impl Kind for Date {
    fn options_json(&self) -> Value {
        json!({})
    }

    fn storage(&self) -> Storage {
        Storage::Cell(ValueKind::Text)
    }

    fn validate(&self, value: &Value, typecast: bool) -> Result<Option<Value>, CellError> {
        date(value, typecast)
    }

    fn sample_inputs(&self) -> Vec<Value> {
        [
            "2024-02-29",
            "2023-02-29",
            "2024-2-3",
            "0001-01-01",
            "9999-12-31",
            "2024-02-29T23:30:00-02:00",
            "2024-13-01",
            "yesterday",
        ]
        .iter()
        .map(|s| Value::from(*s))
        .collect()
    }

    fn text_operand(&self, text: &str, given: &Value, partial: bool) -> Result<String, String> {
        operand_as_cell(self, text, given, partial)
    }

    /// A date and time becomes its date in the field's time zone (as its
    /// cell shows it there, and as a date becomes a date and time: at
    /// midnight in that zone); anything else as plain text.
    fn conversion_input(&self, from: &FieldType, value: &Value) -> Result<Value, String> {
        if let FieldType::DateTime(dt) = from
            && let Some(t) = value
                .as_str()
                .and_then(|s| Instant::parse_from_rfc3339(s).ok())
        {
            let zone = dt.zone().unwrap_or(chrono_tz::UTC);
            return Ok(Value::String(
                t.with_timezone(&zone).format("%Y-%m-%d").to_string(),
            ));
        }
        crate::fields::kind::plain_conversion_input(self.is_free_text(), value)
    }
}

/// An instant, stored as RFC 3339 UTC with milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateTime {
    /// IANA time zone clients display it in, and in which typecast reads
    /// a date and time written without an offset.
    pub timezone: String,
}

impl DateTime {
    /// The option's zone; `None` when it names no IANA zone (only a field
    /// stored before zones were checked: writes of the option are checked
    /// by [`DateTime::check_zone`], and such a field reads as UTC).
    pub fn zone(&self) -> Option<chrono_tz::Tz> {
        self.timezone.parse().ok()
    }

    /// Refuses a `timezone` that names no IANA zone (`Europe/Berlin`,
    /// `UTC`, ...), naming the option. Checked when a field is created or
    /// changed, not when a stored one is read.
    pub fn check_zone(&self) -> Result<(), String> {
        match self.zone() {
            Some(_) => Ok(()),
            None => Err(format!(
                "option timezone: an IANA time zone name such as \"Europe/Berlin\" or \"UTC\", got {:?}",
                self.timezone
            )),
        }
    }
}

impl KindInfo for DateTime {
    const NAME: &'static str = "datetime";
    const OPTION_KEYS: &'static [&'static str] = &["timezone"];

    fn parse(options: &Options<'_>) -> Result<Self, OptionsError> {
        let timezone = options.string("timezone", "UTC")?;
        if timezone.is_empty() || timezone.chars().count() > 64 {
            return Err(opt_err("option timezone must be an IANA time zone name"));
        }
        Ok(Self { timezone })
    }

    fn examples(_: TableId) -> Vec<Self> {
        vec![
            Self {
                timezone: "UTC".into(),
            },
            Self {
                timezone: "Europe/Berlin".into(),
            },
        ]
    }

    fn options_schema() -> Value {
        os::object(json!({
            "timezone": { "type": ["string", "null"], "minLength": 1, "maxLength": 64, "pattern": crate::patterns::NO_NUL },
        }))
    }
}

impl Kind for DateTime {
    fn options_json(&self) -> Value {
        json!({ "timezone": self.timezone })
    }

    fn storage(&self) -> Storage {
        Storage::Cell(ValueKind::Text)
    }

    fn validate(&self, value: &Value, typecast: bool) -> Result<Option<Value>, CellError> {
        datetime(value, typecast, self.zone().unwrap_or(chrono_tz::UTC))
    }

    fn sample_inputs(&self) -> Vec<Value> {
        [
            "2024-02-29T12:30:00Z",
            "2024-02-29T12:30:00.123+02:00",
            "2024-02-29T23:59:59.999-11:00",
            "1970-01-01T00:00:00Z",
            "2024-02-29",
            "2024-02-29 12:30",
            "2024-02-29T25:00:00Z",
            "T",
        ]
        .iter()
        .map(|s| Value::from(*s))
        .collect()
    }

    fn text_operand(&self, text: &str, given: &Value, partial: bool) -> Result<String, String> {
        operand_as_cell(self, text, given, partial)
    }
}

/// Parses exactly `YYYY-MM-DD` as a real calendar date.
fn strict_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let year = i32::try_from(num(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, num(5..7)?, num(8..10)?)
}

/// Parses `HH:MM`, `HH:MM:SS` or `HH:MM:SS.fff` (up to nanoseconds).
fn strict_time(s: &str) -> Option<NaiveTime> {
    let two = |t: &str| -> Option<u32> {
        if t.len() == 2 && t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let mut parts = s.splitn(3, ':');
    let h = two(parts.next()?)?;
    let m = two(parts.next()?)?;
    let (sec, nanos) = match parts.next() {
        None => (0, 0),
        Some(rest) => {
            let (whole, frac) = match rest.split_once('.') {
                Some((w, f)) => (w, Some(f)),
                None => (rest, None),
            };
            let sec = two(whole)?;
            let nanos = match frac {
                None => 0,
                Some(f)
                    if !f.is_empty() && f.len() <= 9 && f.bytes().all(|c| c.is_ascii_digit()) =>
                {
                    format!("{f:0<9}").parse().ok()?
                }
                Some(_) => return None,
            };
            (sec, nanos)
        }
    };
    NaiveTime::from_hms_nano_opt(h, m, sec, nanos)
}

/// Reads an instant: RFC 3339 with an offset, or with `typecast` a date
/// (midnight) or a date and time without offset, both local times of
/// `zone` ([`local_in`]).
fn parse_instant(s: &str, typecast: bool, zone: chrono_tz::Tz) -> Option<Instant<Utc>> {
    if let Ok(t) = Instant::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if !typecast {
        return None;
    }
    if let Some(d) = strict_date(s).or_else(|| written_date(s)) {
        return local_in(zone, d.and_time(NaiveTime::MIN));
    }
    let date = strict_date(s.get(..10)?)?;
    let rest = s.get(10..)?;
    let time = rest.strip_prefix([' ', 'T', 't'])?;
    local_in(zone, NaiveDateTime::new(date, strict_time(time)?))
}

/// The instant a wall-clock time of `zone` names. Across a change of
/// offset: a time that happens twice (clocks going back) is the first of
/// the two; a time that never happens (clocks going forward) is read with
/// the offset before the change, so it lands as far after the change as it
/// is after the gap's start (02:30 on a spring-forward night at 02:00 in
/// Europe/Berlin is 03:30 local, 01:30 UTC).
pub(crate) fn local_in(zone: chrono_tz::Tz, local: NaiveDateTime) -> Option<Instant<Utc>> {
    use chrono::{LocalResult, Offset as _, TimeZone as _};
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
        LocalResult::None => {
            // The offset in force just before the gap.
            let before = local.checked_sub_signed(chrono::TimeDelta::days(1))?;
            let offset = zone.offset_from_local_datetime(&before).earliest()?;
            let seconds = offset.fix().local_minus_utc();
            let utc = local.checked_sub_signed(chrono::TimeDelta::seconds(i64::from(seconds)))?;
            Some(utc.and_utc())
        }
    }
}

/// Years whose text keeps byte order equal to time order.
fn storable(t: &Instant<Utc>) -> bool {
    (0..=9999).contains(&t.year())
}

fn datetime(
    value: &Value,
    typecast: bool,
    zone: chrono_tz::Tz,
) -> Result<Option<Value>, CellError> {
    let what = if typecast {
        format!(
            "a date and time (RFC 3339, or YYYY-MM-DD[ HH:MM[:SS]] in the field's time zone, {zone})"
        )
    } else {
        "an RFC 3339 date and time with an offset".to_owned()
    };
    let Value::String(s) = value else {
        return Err(expected(&what, value));
    };
    match parse_instant(s.trim(), typecast, zone) {
        Some(t) if storable(&t) => Ok(Some(Value::String(t.format(TIME_FORMAT).to_string()))),
        _ if typecast => Err(expected(&ambiguity(s.trim()).unwrap_or(what), value)),
        _ => Err(expected(&what, value)),
    }
}

fn date(value: &Value, typecast: bool) -> Result<Option<Value>, CellError> {
    let what = if typecast {
        "a date (YYYY-MM-DD, a date and time, or a date such as May 1, 2024 or 2024/05/01)"
    } else {
        "a date (YYYY-MM-DD)"
    };
    let Value::String(s) = value else {
        return Err(expected(what, value));
    };
    let s = s.trim();
    let day = match strict_date(s) {
        Some(d) => Some(d),
        None if typecast => written_date(s).or_else(|| {
            parse_instant(s, true, chrono_tz::UTC)
                .filter(storable)
                .map(|t| t.date_naive())
        }),
        None => None,
    };
    match day {
        Some(d) => Ok(Some(Value::String(d.format("%Y-%m-%d").to_string()))),
        None if typecast => Err(expected(&ambiguity(s).unwrap_or(what.to_owned()), value)),
        None => Err(expected(what, value)),
    }
}

/// What to expect instead of `s` when its day and month could be swapped.
fn ambiguity(s: &str) -> Option<String> {
    let (day_first, month_first) = ambiguous_date(s)?;
    Some(format!(
        "an unambiguous date ({s:?} could be {day_first} or {month_first}: write it as \
         YYYY-MM-DD)"
    ))
}
