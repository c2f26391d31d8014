//! Dates as people write them, for typecast: `May 1, 2024`, `1 May 2024`,
//! `Wed, 1 May 2024`, `2024/05/01`, `13.5.2024` when day and month cannot be
//! confused. A date whose day and month could be swapped (`05/01/2024`) is
//! not guessed at: the field has no date format to decide it by.

use chrono::NaiveDate;

/// English month names; a name is read by its first three letters, and
/// only as a whole name or such a prefix (`Sept` too).
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Whether `word` (lower case) is `name` or a prefix of it of at least
/// three letters.
fn names(word: &str, name: &str) -> bool {
    word.len() >= 3 && name.starts_with(word)
}

/// The month (1..=12) a word names.
fn month_named(word: &str) -> Option<u32> {
    let word = word.to_ascii_lowercase();
    let i = MONTHS.iter().position(|m| names(&word, m))?;
    u32::try_from(i + 1).ok()
}

fn is_weekday(word: &str) -> bool {
    let word = word.to_ascii_lowercase();
    WEEKDAYS.iter().any(|d| names(&word, d))
}

/// A day of the month as written: one or two digits, an English ordinal
/// suffix allowed (`1st`, `22nd`).
fn day_number(word: &str) -> Option<u32> {
    let lower = word.to_ascii_lowercase();
    let digits = ["st", "nd", "rd", "th"]
        .iter()
        .find_map(|s| lower.strip_suffix(s))
        .unwrap_or(&lower);
    small_number(digits)
}

/// One or two ASCII digits.
fn small_number(word: &str) -> Option<u32> {
    if (1..=2).contains(&word.len()) && word.bytes().all(|b| b.is_ascii_digit()) {
        word.parse().ok()
    } else {
        None
    }
}

/// Exactly four ASCII digits.
fn year_number(word: &str) -> Option<i32> {
    if word.len() == 4 && word.bytes().all(|b| b.is_ascii_digit()) {
        word.parse().ok()
    } else {
        None
    }
}

/// Reads a date written in one of the forms of the module doc; `None` for
/// anything else, an impossible date, or one that could be read two ways.
pub(super) fn written_date(s: &str) -> Option<NaiveDate> {
    let words: Vec<&str> = s
        .split([' ', ',', '-', '/', '.'])
        .filter(|w| !w.is_empty())
        .collect();
    let words = match words.split_first() {
        Some((first, rest)) if rest.len() == 3 && is_weekday(first) => rest,
        _ => &words[..],
    };
    let [a, b, c] = words else { return None };
    if let Some(month) = month_named(a) {
        // May 1, 2024
        return NaiveDate::from_ymd_opt(year_number(c)?, month, day_number(b)?);
    }
    if let Some(month) = month_named(b) {
        // 1 May 2024, or 2024 May 1
        return match year_number(a) {
            Some(year) => NaiveDate::from_ymd_opt(year, month, day_number(c)?),
            None => NaiveDate::from_ymd_opt(year_number(c)?, month, day_number(a)?),
        };
    }
    if let Some(year) = year_number(a) {
        // 2024/05/01
        return NaiveDate::from_ymd_opt(year, small_number(b)?, small_number(c)?);
    }
    // 13/05/2024 (day first) or 05/13/2024 (month first): only when the
    // numbers say which is which.
    let (x, y, year) = (small_number(a)?, small_number(b)?, year_number(c)?);
    let (month, day) = match (x > 12, y > 12) {
        (true, false) => (y, x),
        (false, true) => (x, y),
        (false, false) if x == y => (x, y),
        _ => return None,
    };
    NaiveDate::from_ymd_opt(year, month, day)
}

/// The two dates `s` could be when its day and month could be swapped
/// (`05/01/2024`: 5 January or 1 May), for an error that says so.
pub(super) fn ambiguous_date(s: &str) -> Option<(NaiveDate, NaiveDate)> {
    let words: Vec<&str> = s
        .split(['/', '.', '-'])
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .collect();
    let [a, b, c] = words[..] else { return None };
    let (x, y, year) = (small_number(a)?, small_number(b)?, year_number(c)?);
    if x == y {
        return None;
    }
    Some((
        NaiveDate::from_ymd_opt(year, y, x)?,
        NaiveDate::from_ymd_opt(year, x, y)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(y, m, day)
    }

    #[test]
    fn the_usual_written_forms_read() {
        for s in [
            "May 1, 2024",
            "May 1 2024",
            "may 1st, 2024",
            "1 May 2024",
            "1-May-2024",
            "01 MAY 2024",
            "Wed, 1 May 2024",
            "Wednesday, May 1, 2024",
            "2024/05/01",
            "2024/5/1",
            "2024.05.01",
            "2024 May 1",
            "05/05/2024",
        ] {
            let want = if s == "05/05/2024" {
                d(2024, 5, 5)
            } else {
                d(2024, 5, 1)
            };
            assert_eq!(written_date(s), want, "{s}");
        }
        assert_eq!(written_date("Sept 3, 2024"), d(2024, 9, 3));
        assert_eq!(written_date("13/05/2024"), d(2024, 5, 13));
        assert_eq!(written_date("13.5.2024"), d(2024, 5, 13));
        assert_eq!(written_date("05/13/2024"), d(2024, 5, 13));
    }

    #[test]
    fn ambiguous_dates_name_both_readings() {
        assert_eq!(
            ambiguous_date("05/01/2024"),
            d(2024, 1, 5).zip(d(2024, 5, 1))
        );
        assert_eq!(ambiguous_date("13/05/2024"), None);
        assert_eq!(ambiguous_date("05/05/2024"), None);
        assert_eq!(ambiguous_date("May 1, 2024"), None);
    }

    #[test]
    fn ambiguous_impossible_and_other_text_does_not() {
        for s in [
            "05/01/2024",
            "1.5.2024",
            "Feb 30, 2024",
            "31/13/2024",
            "May 2024",
            "May 1, 24",
            "1 2 3",
            "Ma 1, 2024",
            "Mayo 1, 2024",
            "Fri, 1 May 2024, 10",
            "2024/13/01",
            "1 May 2024 10:00",
            "soon",
            "",
        ] {
            assert_eq!(written_date(s), None, "{s}");
        }
    }
}
