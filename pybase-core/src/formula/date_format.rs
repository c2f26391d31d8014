//! `DATETIME_FORMAT` tokens (A.6, moment style, English names) on a local
//! time with its offset, `DATETIME_PARSE` with a format, `WORKDAY` and
//! `WORKDAY_DIFF`.

use chrono::format::{Parsed, StrftimeItems};
use chrono::{DateTime, Datelike, Days, FixedOffset, NaiveDate, NaiveTime, Timelike, Utc, Weekday};
use chrono_tz::Tz;

use crate::fields::kinds::local_in;

use super::value::ErrorKind;

const TOKENS: [&str; 27] = [
    "YYYY", "MMMM", "dddd", "MMM", "ddd", "SSS", "YY", "MM", "DD", "Do", "HH", "hh", "mm", "ss",
    "ZZ", "M", "D", "d", "H", "h", "m", "s", "A", "a", "Z", "X", "x",
];

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// The offset as `+HH:MM` (`Z`) or `+HHMM` (`ZZ`).
fn offset_text(t: &DateTime<FixedOffset>, colon: bool) -> String {
    let secs = t.offset().local_minus_utc();
    let sign = if secs < 0 { '-' } else { '+' };
    let minutes = secs.unsigned_abs() / 60;
    let (h, m) = (minutes / 60, minutes % 60);
    if colon {
        format!("{sign}{h:02}:{m:02}")
    } else {
        format!("{sign}{h:02}{m:02}")
    }
}

fn token(t: &DateTime<FixedOffset>, tok: &str) -> String {
    let month = MONTHS[t.month0() as usize];
    let day = DAYS[t.weekday().num_days_from_sunday() as usize];
    let h12 = match t.hour() % 12 {
        0 => 12,
        h => h,
    };
    match tok {
        "YYYY" => format!("{:04}", t.year()),
        "YY" => format!("{:02}", t.year().rem_euclid(100)),
        "MMMM" => month.to_string(),
        "MMM" => month[..3].to_string(),
        "MM" => format!("{:02}", t.month()),
        "M" => t.month().to_string(),
        "DD" => format!("{:02}", t.day()),
        "D" => t.day().to_string(),
        "Do" => ordinal(t.day()),
        "dddd" => day.to_string(),
        "ddd" => day[..3].to_string(),
        "d" => t.weekday().num_days_from_sunday().to_string(),
        "HH" => format!("{:02}", t.hour()),
        "H" => t.hour().to_string(),
        "hh" => format!("{h12:02}"),
        "h" => h12.to_string(),
        "mm" => format!("{:02}", t.minute()),
        "m" => t.minute().to_string(),
        "ss" => format!("{:02}", t.second()),
        "s" => t.second().to_string(),
        "SSS" => format!("{:03}", t.timestamp_subsec_millis()),
        "A" => if t.hour() < 12 { "AM" } else { "PM" }.to_string(),
        "a" => if t.hour() < 12 { "am" } else { "pm" }.to_string(),
        "Z" => offset_text(t, true),
        "ZZ" => offset_text(t, false),
        "X" => t.timestamp().to_string(),
        _ => t.timestamp_millis().to_string(),
    }
}

/// Renders `t` (a local time and its offset) with moment-style `fmt`;
/// `[text]` is literal.
pub(crate) fn format(t: &DateTime<FixedOffset>, fmt: &str) -> String {
    let mut out = String::new();
    let mut rest = fmt;
    'outer: while let Some(c) = rest.chars().next() {
        if c == '['
            && let Some(close) = rest.find(']')
        {
            out.push_str(&rest[1..close]);
            rest = &rest[close + 1..];
            continue;
        }
        for tok in TOKENS {
            if let Some(after) = rest.strip_prefix(tok) {
                out.push_str(&token(t, tok));
                rest = after;
                continue 'outer;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn is_workday(d: NaiveDate, holidays: &[NaiveDate]) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !holidays.contains(&d)
}

/// Parses `"YYYY-MM-DD, …"`.
pub(crate) fn holidays(list: &str) -> Result<Vec<NaiveDate>, ErrorKind> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| ErrorKind::Error))
        .collect()
}

/// Largest `n` accepted by `WORKDAY` and span accepted by `WORKDAY_DIFF`.
const MAX_WORKDAY_STEPS: i64 = 1_000_000;

/// The date `n` working days after (or before) `start`.
pub(crate) fn workday(start: NaiveDate, n: i64, hol: &[NaiveDate]) -> Result<NaiveDate, ErrorKind> {
    if n.abs() > MAX_WORKDAY_STEPS {
        return Err(ErrorKind::Error);
    }
    let mut d = start;
    let mut left = n.abs();
    while left > 0 {
        d = if n > 0 {
            d.checked_add_days(Days::new(1))
        } else {
            d.checked_sub_days(Days::new(1))
        }
        .ok_or(ErrorKind::Error)?;
        if is_workday(d, hol) {
            left -= 1;
        }
    }
    Ok(d)
}

/// Working days from `a` to `b`, both ends counted; negative when `b < a`.
pub(crate) fn workday_diff(
    a: NaiveDate,
    b: NaiveDate,
    hol: &[NaiveDate],
) -> Result<i64, ErrorKind> {
    let (lo, hi, sign) = if a <= b { (a, b, 1) } else { (b, a, -1) };
    if (hi - lo).num_days() > MAX_WORKDAY_STEPS {
        return Err(ErrorKind::Error);
    }
    let mut count = 0;
    let mut d = lo;
    while d <= hi {
        if is_workday(d, hol) {
            count += 1;
        }
        d = d.checked_add_days(Days::new(1)).ok_or(ErrorKind::Error)?;
    }
    Ok(count * sign)
}

fn strftime(tok: &str) -> Option<&'static str> {
    Some(match tok {
        "YYYY" => "%Y",
        "YY" => "%y",
        "MMMM" => "%B",
        "MMM" => "%b",
        "MM" | "M" => "%m",
        "DD" | "D" => "%d",
        "dddd" => "%A",
        "ddd" => "%a",
        "HH" | "H" => "%H",
        "hh" | "h" => "%I",
        "mm" | "m" => "%M",
        "ss" | "s" => "%S",
        "SSS" => "%3f",
        "A" | "a" => "%p",
        "Z" => "%:z",
        "ZZ" => "%z",
        "X" => "%s",
        _ => return None,
    })
}

/// Parses `text` with moment-style `fmt` (`DATETIME_PARSE(t, fmt)`); a
/// missing time is midnight, a missing offset the local time of `zone`
/// (a time in a DST gap or fold as [`local_in`] reads it).
pub(crate) fn parse_with(text: &str, fmt: &str, zone: Tz) -> Result<DateTime<Utc>, ErrorKind> {
    let mut pattern = String::new();
    let mut rest = fmt;
    'outer: while let Some(c) = rest.chars().next() {
        if c == '['
            && let Some(close) = rest.find(']')
        {
            pattern.push_str(&rest[1..close].replace('%', "%%"));
            rest = &rest[close + 1..];
            continue;
        }
        for tok in TOKENS {
            if let Some(after) = rest.strip_prefix(tok) {
                pattern.push_str(strftime(tok).ok_or(ErrorKind::Error)?);
                rest = after;
                continue 'outer;
            }
        }
        if c == '%' {
            pattern.push_str("%%");
        } else {
            pattern.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    let mut parsed = Parsed::new();
    chrono::format::parse(&mut parsed, text.trim(), StrftimeItems::new(&pattern))
        .map_err(|_| ErrorKind::Error)?;
    if parsed.timestamp().is_some() {
        return parsed
            .to_datetime_with_timezone(&Utc)
            .map_err(|_| ErrorKind::Error);
    }
    let date = parsed.to_naive_date().map_err(|_| ErrorKind::Error)?;
    let time = parsed.to_naive_time().unwrap_or(NaiveTime::MIN);
    let local = date.and_time(time);
    match parsed.offset() {
        Some(offset) => local
            .and_utc()
            .checked_sub_signed(chrono::TimeDelta::seconds(i64::from(offset)))
            .ok_or(ErrorKind::Error),
        None => local_in(zone, local).ok_or(ErrorKind::Error),
    }
}
