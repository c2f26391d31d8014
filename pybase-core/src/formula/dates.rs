//! Date and time functions (A.6, A.7). Instants are UTC; calendar views
//! (parts, weekdays, formatting, days and coarser units, working days,
//! `TODAY`) read the local wall time of a zone: the value's own zone from
//! `SET_TIMEZONE`, else the evaluation zone ([`EvalContext::zone`]).
//!
//! Local times that do not exist or happen twice (DST gaps and folds) are
//! read as [`local_in`] does for datetime fields: a time in a gap with the
//! offset before the gap (so it moves forward by the gap's length), a time
//! in a fold as its first (earlier) occurrence.

use chrono::{
    DateTime, Datelike, FixedOffset, Months, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta,
    Timelike, Utc,
};
use chrono_tz::Tz;

use super::coerce::{to_number, to_text};
use super::date_format::{format, holidays, parse_with, workday, workday_diff};
use super::eval::EvalContext;
use super::value::{ErrorKind, Value};
use crate::fields::kinds::local_in;

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

/// A date argument: its instant and the zone its calendar is read in.
#[derive(Clone, Copy)]
struct Moment {
    /// The instant (a calendar day's is its local midnight).
    at: DateTime<Utc>,
    /// The zone of its calendar views: `own`, else the evaluation zone.
    zone: Tz,
    /// The zone `SET_TIMEZONE` gave it, kept by functions that return it.
    own: Option<Tz>,
    /// The calendar day, when the value was a date without a time.
    day: Option<NaiveDate>,
}

impl Moment {
    /// The local date and time in the moment's zone (a calendar day's
    /// midnight, even when midnight falls in a DST gap).
    fn local(&self) -> NaiveDateTime {
        match self.day {
            Some(d) => d.and_time(NaiveTime::MIN),
            None => self.at.with_timezone(&self.zone).naive_local(),
        }
    }

    /// The local time with its offset, for formatting.
    fn zoned(&self) -> DateTime<FixedOffset> {
        self.at.with_timezone(&self.zone).fixed_offset()
    }

    /// The calendar day: the date's own, or the local date.
    fn date(&self) -> NaiveDate {
        self.day.unwrap_or_else(|| self.local().date())
    }

    /// The same instant seen in `zone` (a calendar day of another zone
    /// becomes its instant there).
    fn seen_in(self, zone: Tz) -> Self {
        if zone == self.zone {
            return self;
        }
        Self {
            zone,
            day: None,
            ..self
        }
    }

    /// A datetime value of `at` keeping this moment's own zone.
    fn value_at(&self, at: DateTime<Utc>) -> Value {
        Value::DateTime(at, self.own)
    }
}

/// The day `d` as a moment of `zone`: its local midnight.
fn day_moment(d: NaiveDate, zone: Tz) -> Result<Moment, ErrorKind> {
    Ok(Moment {
        at: local_in(zone, d.and_time(NaiveTime::MIN)).ok_or(ErrorKind::Error)?,
        zone,
        own: None,
        day: Some(d),
    })
}

/// A date argument read in `zone` (texts without offset are local times
/// there); `None` for Blank and `""`.
fn moment(v: &Value, zone: Tz) -> Result<Option<Moment>, ErrorKind> {
    Ok(match v {
        Value::Blank => None,
        Value::Date(d) => Some(day_moment(*d, zone)?),
        Value::DateTime(t, own) => Some(Moment {
            at: *t,
            zone: own.unwrap_or(zone),
            own: *own,
            day: None,
        }),
        Value::Error(e) => return Err(*e),
        Value::Text(t) if t.is_empty() => None,
        Value::Text(t) => Some(parse_iso(t, zone)?),
        _ => return Err(ErrorKind::Error),
    })
}

/// ISO 8601 text: with an offset an instant, without one a local time of
/// `zone`, a bare `YYYY-MM-DD` a calendar day.
fn parse_iso(t: &str, zone: Tz) -> Result<Moment, ErrorKind> {
    let t = t.trim();
    let at = |at| Moment {
        at,
        zone,
        own: None,
        day: None,
    };
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(at(dt.with_timezone(&Utc)));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, fmt) {
            return local_in(zone, n).map(at).ok_or(ErrorKind::Error);
        }
    }
    let d = NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| ErrorKind::Error)?;
    day_moment(d, zone)
}

/// Parses an IANA zone name (`Europe/Berlin`, `UTC`), exactly as spelt.
pub(crate) fn zone_named(name: &str) -> Option<Tz> {
    name.parse().ok()
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

/// Exact milliseconds of one unit up to weeks; `None` for months and
/// coarser.
fn unit_ms(u: Unit) -> Option<i64> {
    Some(match u {
        Unit::Ms => 1,
        Unit::Second => 1_000,
        Unit::Minute => 60_000,
        Unit::Hour => 3_600_000,
        Unit::Day => 86_400_000,
        Unit::Week => 604_800_000,
        Unit::Month | Unit::Quarter | Unit::Year => return None,
    })
}

/// Months in one unit of months or coarser.
fn unit_months(u: Unit) -> i64 {
    match u {
        Unit::Quarter => 3,
        Unit::Year => 12,
        _ => 1,
    }
}

/// `t` plus whole `months` (clamped to the month's end).
fn add_months<T>(t: T, months: i64) -> Option<T>
where
    T: MonthArithmetic,
{
    let m = Months::new(u32::try_from(months.unsigned_abs()).ok()?);
    if months >= 0 { t.plus(m) } else { t.minus(m) }
}

/// Month arithmetic shared by local times and calendar days.
trait MonthArithmetic: Sized {
    fn plus(self, m: Months) -> Option<Self>;
    fn minus(self, m: Months) -> Option<Self>;
}

impl MonthArithmetic for NaiveDateTime {
    fn plus(self, m: Months) -> Option<Self> {
        self.checked_add_months(m)
    }
    fn minus(self, m: Months) -> Option<Self> {
        self.checked_sub_months(m)
    }
}

impl MonthArithmetic for NaiveDate {
    fn plus(self, m: Months) -> Option<Self> {
        self.checked_add_months(m)
    }
    fn minus(self, m: Months) -> Option<Self> {
        self.checked_sub_months(m)
    }
}

/// `DATEADD`: days or coarser move the local wall time (a calendar day
/// stays a day), hours or finer add exact milliseconds to the instant.
fn add(m: &Moment, n: f64, u: Unit) -> Result<Value, ErrorKind> {
    if u.is_calendar() {
        let n = n.trunc().clamp(-1e7, 1e7) as i64;
        let (days, months) = match u {
            Unit::Day => (n, 0),
            Unit::Week => (n * 7, 0),
            _ => (0, n * unit_months(u)),
        };
        if let Some(d) = m.day {
            let d = add_months(d, months)
                .and_then(|d| d.checked_add_signed(TimeDelta::try_days(days)?))
                .ok_or(ErrorKind::Error)?;
            return Ok(Value::Date(d));
        }
        let local = add_months(m.local(), months)
            .and_then(|l| l.checked_add_signed(TimeDelta::try_days(days)?))
            .ok_or(ErrorKind::Error)?;
        let at = local_in(m.zone, local).ok_or(ErrorKind::Error)?;
        return Ok(m.value_at(at));
    }
    let per = unit_ms(u).unwrap_or(1) as f64;
    let ms = (n * per).round();
    if !ms.is_finite() || ms.abs() > 1e17 {
        return Err(ErrorKind::Error);
    }
    let at = TimeDelta::try_milliseconds(ms as i64)
        .and_then(|d| m.at.checked_add_signed(d))
        .ok_or(ErrorKind::Error)?;
    Ok(m.value_at(at))
}

fn month_index(t: NaiveDateTime) -> i64 {
    i64::from(t.year()) * 12 + i64::from(t.month0())
}

/// Whole months from local time `b` to `a`, truncated toward zero.
fn months_between(a: NaiveDateTime, b: NaiveDateTime) -> i64 {
    let mut months = month_index(a) - month_index(b);
    if months > 0 && add_months(b, months).is_some_and(|x| x > a) {
        months -= 1;
    } else if months < 0 && add_months(b, months).is_some_and(|x| x < a) {
        months += 1;
    }
    months
}

/// `a − b` in `u`, truncated toward zero: hours and finer between the
/// instants, days and coarser between the local wall times of `a`'s zone.
fn diff(a: &Moment, b: &Moment, u: Unit) -> f64 {
    if !u.is_calendar() {
        let per = unit_ms(u).unwrap_or(1);
        return ((a.at - b.at).num_milliseconds() / per) as f64;
    }
    let (la, lb) = (a.local(), b.seen_in(a.zone).local());
    match unit_ms(u) {
        Some(per) => ((la - lb).num_milliseconds() / per) as f64,
        None => (months_between(la, lb) / unit_months(u)) as f64,
    }
}

/// The bucket of `m` for `IS_SAME`: the start of its local unit (as an
/// instant for hours and finer, so the two 01:30s of a fold differ).
fn bucket(m: &Moment, u: Unit) -> (i64, i64) {
    let local = m.local();
    let offset = i64::from(m.zoned().offset().local_minus_utc());
    let day = i64::from(local.date().num_days_from_ce());
    let secs = local.and_utc().timestamp();
    match u {
        Unit::Ms => (m.at.timestamp_millis(), 0),
        Unit::Second => (m.at.timestamp(), 0),
        Unit::Minute => (secs.div_euclid(60) * 60 - offset, 0),
        Unit::Hour => (secs.div_euclid(3600) * 3600 - offset, 0),
        Unit::Day => (day, 0),
        // Weeks start on Sunday; day 7 of the common era was a Sunday.
        Unit::Week => ((day - 7).div_euclid(7), 0),
        Unit::Month => (month_index(local), 0),
        Unit::Quarter => (i64::from(local.year()), i64::from(local.month0() / 3)),
        Unit::Year => (i64::from(local.year()), 0),
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

/// Both sides of a two-date function, or `None` when one is Blank.
fn pair(v: &[Value], zone: Tz) -> Result<Option<(Moment, Moment)>, ErrorKind> {
    Ok(match (moment(&v[0], zone)?, moment(&v[1], zone)?) {
        (Some(a), Some(b)) => Some((a, b)),
        _ => None,
    })
}

/// Evaluates date or clock function `name` (upper-case) on evaluated
/// arguments in `ctx`'s zone, with its clock and record times; `None` when
/// `name` is not one.
pub(crate) fn date_call(name: &str, v: &[Value], ctx: &EvalContext<'_>) -> Option<R> {
    let zone = ctx.zone;
    let one = |v: &[Value]| -> Result<Option<Moment>, ErrorKind> {
        arity(v, 1, 2)?;
        moment(&v[0], zone)
    };
    Some(match name {
        "NOW" | "CREATED_TIME" | "LAST_MODIFIED_TIME" => arity(v, 0, 0).map(|()| {
            let t = match name {
                "NOW" => ctx.now,
                "CREATED_TIME" => ctx.created_time,
                _ => ctx.updated_time,
            };
            t.map_or(Value::Blank, Value::instant)
        }),
        "TODAY" => arity(v, 0, 0).map(|()| {
            ctx.now.map_or(Value::Blank, |t| {
                Value::Date(t.with_timezone(&zone).date_naive())
            })
        }),
        "YEAR" | "MONTH" | "DAY" | "HOUR" | "MINUTE" | "SECOND" => part(name, v, zone),
        "WEEKDAY" => one(v).and_then(|m| {
            let Some(m) = m else {
                return Ok(Value::Blank);
            };
            let wd = m.date().weekday();
            let n = if starts_monday(v.get(1))? {
                wd.num_days_from_monday()
            } else {
                wd.num_days_from_sunday()
            };
            Ok(Value::Number(f64::from(n)))
        }),
        "WEEKNUM" => one(v).and_then(|m| {
            let Some(m) = m else {
                return Ok(Value::Blank);
            };
            let d = m.date();
            let jan1 = NaiveDate::from_ymd_opt(d.year(), 1, 1).ok_or(ErrorKind::Error)?;
            let offset = if starts_monday(v.get(1))? {
                jan1.weekday().num_days_from_monday()
            } else {
                jan1.weekday().num_days_from_sunday()
            };
            Ok(Value::Number(f64::from((d.ordinal0() + offset) / 7 + 1)))
        }),
        "DATESTR" | "TIMESTR" => arity(v, 1, 1).and_then(|()| {
            let Some(m) = moment(&v[0], zone)? else {
                return Ok(Value::Blank);
            };
            let fmt = if name == "DATESTR" {
                "%Y-%m-%d"
            } else {
                "%H:%M:%S"
            };
            Ok(Value::Text(m.local().format(fmt).to_string()))
        }),
        "DATETIME_PARSE" => arity(v, 1, 2).and_then(|()| match v.get(1) {
            Some(f) if !f.is_blank() => {
                if v[0].is_blank() {
                    return Ok(Value::Blank);
                }
                let at = parse_with(&to_text(&v[0])?, &to_text(f)?, zone)?;
                Ok(Value::instant(at))
            }
            _ => Ok(moment(&v[0], zone)?.map_or(Value::Blank, |m| m.value_at(m.at))),
        }),
        "SET_TIMEZONE" => arity(v, 2, 2).and_then(|()| {
            let Some(m) = moment(&v[0], zone)? else {
                return Ok(Value::Blank);
            };
            let tz = zone_named(&to_text(&v[1])?).ok_or(ErrorKind::Error)?;
            Ok(Value::DateTime(m.at, Some(tz)))
        }),
        "DATEADD" => arity(v, 3, 3).and_then(|()| {
            let Some(m) = moment(&v[0], zone)? else {
                return Ok(Value::Blank);
            };
            let u = unit(&v[2])?;
            add(&m, to_number(&v[1])?, u)
        }),
        "DATETIME_DIFF" => arity(v, 2, 3).and_then(|()| {
            let Some((a, b)) = pair(v, zone)? else {
                return Ok(Value::Blank);
            };
            let u = match v.get(2) {
                Some(u) => unit(u)?,
                None => Unit::Second,
            };
            Ok(Value::number(diff(&a, &b, u)))
        }),
        "IS_BEFORE" | "IS_AFTER" => arity(v, 2, 2).and_then(|()| {
            let Some((a, b)) = pair(v, zone)? else {
                return Ok(Value::Bool(false));
            };
            Ok(Value::Bool(if name == "IS_BEFORE" {
                a.at < b.at
            } else {
                a.at > b.at
            }))
        }),
        "IS_SAME" => arity(v, 2, 3).and_then(|()| {
            let Some((a, b)) = pair(v, zone)? else {
                return Ok(Value::Bool(false));
            };
            Ok(Value::Bool(match v.get(2) {
                None => a.at == b.at,
                Some(u) => {
                    let u = unit(u)?;
                    bucket(&a, u) == bucket(&b.seen_in(a.zone), u)
                }
            }))
        }),
        "FROMNOW" | "TONOW" => arity(v, 1, 1).and_then(|()| {
            let (Some(m), Some(now)) = (moment(&v[0], zone)?, ctx.now) else {
                return Ok(Value::Blank);
            };
            let now = Moment {
                at: now,
                zone: m.zone,
                own: None,
                day: None,
            };
            let days = if name == "TONOW" {
                diff(&now, &m, Unit::Day)
            } else {
                diff(&m, &now, Unit::Day)
            };
            Ok(Value::number(days))
        }),
        "DATETIME_FORMAT" => one(v).and_then(|m| {
            let Some(m) = m else {
                return Ok(Value::Blank);
            };
            Ok(Value::Text(match v.get(1) {
                Some(f) if !f.is_blank() => format(&m.zoned(), &to_text(f)?),
                // ISO 8601 in local time: `Z` when the offset is 0.
                _ => {
                    let t = m.zoned();
                    let fmt = if t.offset().local_minus_utc() == 0 {
                        "YYYY-MM-DD[T]HH:mm:ss.SSS[Z]"
                    } else {
                        "YYYY-MM-DD[T]HH:mm:ss.SSSZ"
                    };
                    format(&t, fmt)
                }
            }))
        }),
        "WORKDAY" => arity(v, 2, 3).and_then(|()| {
            let Some(m) = moment(&v[0], zone)? else {
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
            Ok(Value::Date(workday(m.date(), n as i64, &hol)?))
        }),
        "WORKDAY_DIFF" => arity(v, 2, 3).and_then(|()| {
            let Some((a, b)) = pair(v, zone)? else {
                return Ok(Value::Blank);
            };
            let hol = match v.get(2) {
                Some(h) => holidays(&to_text(h)?)?,
                None => Vec::new(),
            };
            let days = workday_diff(a.date(), b.seen_in(a.zone).date(), &hol)?;
            Ok(Value::number(days as f64))
        }),
        _ => return None,
    })
}

fn part(name: &str, v: &[Value], zone: Tz) -> R {
    arity(v, 1, 1)?;
    let Some(m) = moment(&v[0], zone)? else {
        return Ok(Value::Blank);
    };
    let t = m.local();
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
