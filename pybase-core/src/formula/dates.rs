//! Date and time functions (A.6, A.7), evaluated in UTC: the default
//! evaluation zone. Per-field IANA zones and `SET_TIMEZONE` come later.

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveDateTime, TimeDelta, Timelike, Utc};

use super::coerce::{to_number, to_text};
use super::date_format::{format, holidays, parse_with, workday, workday_diff};
use super::value::{ErrorKind, Value};

type R = Result<Value, ErrorKind>;

/// A unit of A.6.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    Ms,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl Unit {
    /// Days or coarser: a Date plus such a unit stays a Date.
    pub(crate) fn is_calendar(self) -> bool {
        matches!(
            self,
            Self::Day | Self::Week | Self::Month | Self::Quarter | Self::Year
        )
    }
}

pub(crate) fn unit(v: &Value) -> Result<Unit, ErrorKind> {
    let t = to_text(v)?;
    // Short forms are case-sensitive (`m` minutes, `M` months).
    let short = match t.as_str() {
        "ms" => Some(Unit::Ms),
        "s" => Some(Unit::Second),
        "m" => Some(Unit::Minute),
        "h" => Some(Unit::Hour),
        "d" => Some(Unit::Day),
        "w" => Some(Unit::Week),
        "M" => Some(Unit::Month),
        "Q" => Some(Unit::Quarter),
        "y" => Some(Unit::Year),
        _ => None,
    };
    if let Some(u) = short {
        return Ok(u);
    }
    let lower = t.to_lowercase();
    let singular = lower.strip_suffix('s').unwrap_or(&lower);
    Ok(match singular {
        "millisecond" => Unit::Ms,
        "second" => Unit::Second,
        "minute" => Unit::Minute,
        "hour" => Unit::Hour,
        "day" => Unit::Day,
        "week" => Unit::Week,
        "month" => Unit::Month,
        "quarter" => Unit::Quarter,
        "year" => Unit::Year,
        _ => return Err(ErrorKind::Error),
    })
}

/// A point in time and whether it was a calendar day; `None` for Blank.
fn instant(v: &Value) -> Result<Option<(DateTime<Utc>, bool)>, ErrorKind> {
    Ok(match v {
        Value::Blank => None,
        Value::Date(d) => Some((midnight(*d), true)),
        Value::DateTime(t) => Some((*t, false)),
        Value::Error(e) => return Err(*e),
        Value::Text(t) if t.is_empty() => None,
        Value::Text(t) => Some(parse_iso(t).ok_or(ErrorKind::Error)?),
        _ => return Err(ErrorKind::Error),
    })
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_time(chrono::NaiveTime::MIN).and_utc()
}

fn parse_iso(t: &str) -> Option<(DateTime<Utc>, bool)> {
    let t = t.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some((dt.with_timezone(&Utc), false));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, fmt) {
            return Some((n.and_utc(), false));
        }
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .ok()
        .map(|d| (midnight(d), true))
}

fn arity(v: &[Value], min: usize, max: usize) -> Result<(), ErrorKind> {
    if v.len() < min || v.len() > max {
        return Err(ErrorKind::Error);
    }
    for x in v {
        if let Value::Error(e) = x {
            return Err(*e);
        }
    }
    Ok(())
}

fn back(t: DateTime<Utc>, as_date: bool) -> Value {
    if as_date {
        Value::Date(t.date_naive())
    } else {
        Value::DateTime(t)
    }
}

fn add(t: DateTime<Utc>, n: f64, u: Unit) -> Option<DateTime<Utc>> {
    let ms_per = match u {
        Unit::Ms => 1.0,
        Unit::Second => 1e3,
        Unit::Minute => 6e4,
        Unit::Hour => 3.6e6,
        Unit::Day => 8.64e7,
        Unit::Week => 6.048e8,
        Unit::Month | Unit::Quarter | Unit::Year => {
            let per = match u {
                Unit::Month => 1.0,
                Unit::Quarter => 3.0,
                _ => 12.0,
            };
            let months = (n.trunc() * per).clamp(-1e6, 1e6) as i64;
            return if months >= 0 {
                t.checked_add_months(Months::new(months.unsigned_abs().try_into().ok()?))
            } else {
                t.checked_sub_months(Months::new(months.unsigned_abs().try_into().ok()?))
            };
        }
    };
    let n = if matches!(u, Unit::Day | Unit::Week) {
        n.trunc()
    } else {
        n
    };
    let ms = (n * ms_per).round();
    if !ms.is_finite() || ms.abs() > 1e17 {
        return None;
    }
    t.checked_add_signed(TimeDelta::try_milliseconds(ms as i64)?)
}

fn month_index(t: DateTime<Utc>) -> i64 {
    i64::from(t.year()) * 12 + i64::from(t.month0())
}

/// Whole months from `b` to `a`, truncated toward zero.
fn months_between(a: DateTime<Utc>, b: DateTime<Utc>) -> i64 {
    let mut months = month_index(a) - month_index(b);
    if months > 0
        && b.checked_add_months(Months::new(months as u32))
            .is_some_and(|x| x > a)
    {
        months -= 1;
    } else if months < 0
        && b.checked_sub_months(Months::new(months.unsigned_abs() as u32))
            .is_some_and(|x| x < a)
    {
        months += 1;
    }
    months
}

fn diff(a: DateTime<Utc>, b: DateTime<Utc>, u: Unit) -> f64 {
    let ms = (a - b).num_milliseconds();
    let per: i64 = match u {
        Unit::Ms => 1,
        Unit::Second => 1_000,
        Unit::Minute => 60_000,
        Unit::Hour => 3_600_000,
        Unit::Day => 86_400_000,
        Unit::Week => 604_800_000,
        Unit::Month => return months_between(a, b) as f64,
        Unit::Quarter => return (months_between(a, b) / 3) as f64,
        Unit::Year => return (months_between(a, b) / 12) as f64,
    };
    (ms / per) as f64
}

fn bucket(t: DateTime<Utc>, u: Unit) -> (i64, i64) {
    let day = i64::from(t.date_naive().num_days_from_ce());
    match u {
        Unit::Ms => (t.timestamp_millis(), 0),
        Unit::Second => (t.timestamp(), 0),
        Unit::Minute => (t.timestamp().div_euclid(60), 0),
        Unit::Hour => (t.timestamp().div_euclid(3600), 0),
        Unit::Day => (day, 0),
        // Weeks start on Sunday; day 7 of the common era was a Sunday.
        Unit::Week => ((day - 7).div_euclid(7), 0),
        Unit::Month => (month_index(t), 0),
        Unit::Quarter => (i64::from(t.year()), i64::from(t.month0() / 3)),
        Unit::Year => (i64::from(t.year()), 0),
    }
}

fn starts_monday(v: Option<&Value>) -> Result<bool, ErrorKind> {
    match v {
        None | Some(Value::Blank) => Ok(false),
        Some(x) => match to_text(x)?.to_lowercase().as_str() {
            "monday" => Ok(true),
            "sunday" => Ok(false),
            _ => Err(ErrorKind::Error),
        },
    }
}

/// Evaluates date function `name` (upper-case) on evaluated arguments, with
/// `now` for `FROMNOW`/`TONOW` and the record's created and updated times;
/// `None` when `name` is not a date function.
pub(crate) fn date_call(
    name: &str,
    v: &[Value],
    now: Option<DateTime<Utc>>,
    record: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
) -> Option<R> {
    Some(match name {
        "YEAR" | "MONTH" | "DAY" | "HOUR" | "MINUTE" | "SECOND" => part(name, v),
        "WEEKDAY" => arity(v, 1, 2).and_then(|()| {
            let Some((t, _)) = instant(&v[0])? else {
                return Ok(Value::Blank);
            };
            let wd = t.weekday();
            let n = if starts_monday(v.get(1))? {
                wd.num_days_from_monday()
            } else {
                wd.num_days_from_sunday()
            };
            Ok(Value::Number(f64::from(n)))
        }),
        "WEEKNUM" => arity(v, 1, 2).and_then(|()| {
            let Some((t, _)) = instant(&v[0])? else {
                return Ok(Value::Blank);
            };
            let d = t.date_naive();
            let jan1 = NaiveDate::from_ymd_opt(d.year(), 1, 1).ok_or(ErrorKind::Error)?;
            let offset = if starts_monday(v.get(1))? {
                jan1.weekday().num_days_from_monday()
            } else {
                jan1.weekday().num_days_from_sunday()
            };
            Ok(Value::Number(f64::from((d.ordinal0() + offset) / 7 + 1)))
        }),
        "DATESTR" | "TIMESTR" => arity(v, 1, 1).and_then(|()| {
            let Some((t, _)) = instant(&v[0])? else {
                return Ok(Value::Blank);
            };
            let fmt = if name == "DATESTR" {
                "%Y-%m-%d"
            } else {
                "%H:%M:%S"
            };
            Ok(Value::Text(t.format(fmt).to_string()))
        }),
        "DATETIME_PARSE" => arity(v, 1, 2).and_then(|()| match v.get(1) {
            Some(f) if !f.is_blank() => {
                if v[0].is_blank() {
                    return Ok(Value::Blank);
                }
                Ok(Value::DateTime(parse_with(&to_text(&v[0])?, &to_text(f)?)?))
            }
            _ => Ok(instant(&v[0])?.map_or(Value::Blank, |(t, _)| Value::DateTime(t))),
        }),
        "DATEADD" => arity(v, 3, 3).and_then(|()| {
            let Some((t, is_date)) = instant(&v[0])? else {
                return Ok(Value::Blank);
            };
            let u = unit(&v[2])?;
            let n = to_number(&v[1])?;
            let out = add(t, n, u).ok_or(ErrorKind::Error)?;
            let coarse = matches!(
                u,
                Unit::Day | Unit::Week | Unit::Month | Unit::Quarter | Unit::Year
            );
            Ok(back(out, is_date && coarse))
        }),
        "DATETIME_DIFF" => arity(v, 2, 3).and_then(|()| {
            let (Some((a, _)), Some((b, _))) = (instant(&v[0])?, instant(&v[1])?) else {
                return Ok(Value::Blank);
            };
            let u = match v.get(2) {
                Some(u) => unit(u)?,
                None => Unit::Second,
            };
            Ok(Value::number(diff(a, b, u)))
        }),
        "IS_BEFORE" | "IS_AFTER" => arity(v, 2, 2).and_then(|()| {
            let (Some((a, _)), Some((b, _))) = (instant(&v[0])?, instant(&v[1])?) else {
                return Ok(Value::Bool(false));
            };
            Ok(Value::Bool(if name == "IS_BEFORE" { a < b } else { a > b }))
        }),
        "IS_SAME" => arity(v, 2, 3).and_then(|()| {
            let (Some((a, _)), Some((b, _))) = (instant(&v[0])?, instant(&v[1])?) else {
                return Ok(Value::Bool(false));
            };
            Ok(Value::Bool(match v.get(2) {
                None => a == b,
                Some(u) => {
                    let u = unit(u)?;
                    bucket(a, u) == bucket(b, u)
                }
            }))
        }),
        "FROMNOW" | "TONOW" => arity(v, 1, 1).and_then(|()| {
            let (Some((t, _)), Some(now)) = (instant(&v[0])?, now) else {
                return Ok(Value::Blank);
            };
            let days = if name == "TONOW" {
                diff(now, t, Unit::Day)
            } else {
                diff(t, now, Unit::Day)
            };
            Ok(Value::number(days))
        }),
        "DATETIME_FORMAT" => arity(v, 1, 2).and_then(|()| {
            let Some((t, _)) = instant(&v[0])? else {
                return Ok(Value::Blank);
            };
            Ok(Value::Text(match v.get(1) {
                Some(f) if !f.is_blank() => format(t, &to_text(f)?),
                _ => format(t, "YYYY-MM-DD[T]HH:mm:ss.SSS[Z]"),
            }))
        }),
        "WORKDAY" => arity(v, 2, 3).and_then(|()| {
            let Some((t, _)) = instant(&v[0])? else {
                return Ok(Value::Blank);
            };
            let hol = match v.get(2) {
                Some(h) => holidays(&to_text(h)?)?,
                None => Vec::new(),
            };
            let n = to_number(&v[1])?.trunc();
            if n.abs() > 1e9 {
                return Err(ErrorKind::Error);
            }
            Ok(Value::Date(workday(t.date_naive(), n as i64, &hol)?))
        }),
        "WORKDAY_DIFF" => arity(v, 2, 3).and_then(|()| {
            let (Some((a, _)), Some((b, _))) = (instant(&v[0])?, instant(&v[1])?) else {
                return Ok(Value::Blank);
            };
            let hol = match v.get(2) {
                Some(h) => holidays(&to_text(h)?)?,
                None => Vec::new(),
            };
            let days = workday_diff(a.date_naive(), b.date_naive(), &hol)?;
            Ok(Value::number(days as f64))
        }),
        "CREATED_TIME" | "LAST_MODIFIED_TIME" => arity(v, 0, 0).map(|()| {
            let t = if name == "CREATED_TIME" {
                record.0
            } else {
                record.1
            };
            t.map_or(Value::Blank, Value::DateTime)
        }),
        _ => return None,
    })
}

fn part(name: &str, v: &[Value]) -> R {
    arity(v, 1, 1)?;
    let Some((t, _)) = instant(&v[0])? else {
        return Ok(Value::Blank);
    };
    let n = match name {
        "YEAR" => t.year(),
        "MONTH" => t.month() as i32,
        "DAY" => t.day() as i32,
        "HOUR" => t.hour() as i32,
        "MINUTE" => t.minute() as i32,
        _ => t.second() as i32,
    };
    Ok(Value::Number(f64::from(n)))
}
