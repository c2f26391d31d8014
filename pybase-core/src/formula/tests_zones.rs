//! Golden tests of evaluation zones (FORMULA.md A.6): calendar functions in
//! a field's `time_zone` across DST changes in both hemispheres, month ends,
//! offsets of 30 and 45 minutes, and `SET_TIMEZONE`. Same format as
//! `tests_golden.rs`; the record is its record, now is
//! `2024-05-06T07:08:09Z`.
//!
//! The DST changes used (tzdata): Europe/Berlin 2026-03-29 02:00 → 03:00
//! (01:00Z) and 2026-10-25 03:00 → 02:00 (01:00Z); America/New_York
//! 2026-03-08 02:00 → 03:00 (07:00Z) and 2026-11-01 02:00 → 01:00 (06:00Z);
//! Australia/Sydney 2026-04-05 03:00 → 02:00 (2026-04-04 16:00Z) and
//! 2026-10-04 02:00 → 03:00 (2026-10-03 16:00Z); Asia/Kathmandu moved from
//! +05:30 to +05:45 at 1986-01-01 00:00.

use chrono_tz::Tz;

use super::tests_golden::{BL, ERR, b, check_in, date, n, t};

#[test]
fn berlin_keeps_wall_time_across_both_changes() {
    check_in(
        Tz::Europe__Berlin,
        &[
            // 12:00 local + 1 day is 12:00 local, 23 hours later.
            (
                "DATETIME_FORMAT(DATEADD('2026-03-28T11:00:00Z', 1, 'day'), 'YYYY-MM-DD HH:mm Z')",
                t("2026-03-29 12:00 +02:00"),
            ),
            (
                "DATETIME_DIFF(DATEADD('2026-03-28T11:00:00Z', 1, 'day'), '2026-03-28T11:00:00Z', 'hours')",
                n(23.0),
            ),
            (
                "DATETIME_DIFF(DATEADD('2026-03-28T11:00:00Z', 1, 'day'), '2026-03-28T11:00:00Z', 'days')",
                n(1.0),
            ),
            // Hours are exact.
            (
                "DATETIME_FORMAT(DATEADD('2026-03-28T11:00:00Z', 24, 'hours'), 'DD HH:mm')",
                t("29 13:00"),
            ),
            // Autumn: one day is 25 hours.
            (
                "DATETIME_DIFF(DATEADD('2026-10-24T10:00:00Z', 1, 'day'), '2026-10-24T10:00:00Z', 'h')",
                n(25.0),
            ),
            (
                "DATEADD('2026-10-24T10:00:00Z', 1, 'week') & ''",
                t("2026-10-31T11:00:00.000Z"),
            ),
            // A time in the spring gap moves forward by the gap.
            (
                "DATETIME_PARSE('2026-03-29 02:30') & ''",
                t("2026-03-29T01:30:00.000Z"),
            ),
            (
                "DATETIME_FORMAT(DATETIME_PARSE('2026-03-29 02:30'), 'YYYY-MM-DD HH:mm Z')",
                t("2026-03-29 03:30 +02:00"),
            ),
            // A time in the autumn fold is its first (summer) occurrence.
            (
                "DATETIME_PARSE('2026-10-25 02:30') & ''",
                t("2026-10-25T00:30:00.000Z"),
            ),
            (
                "DATETIME_PARSE('25.10.2026 02:30', 'DD.MM.YYYY HH:mm') & ''",
                t("2026-10-25T00:30:00.000Z"),
            ),
            (
                "DATETIME_FORMAT('2026-10-25T00:30:00Z', 'HH:mm ZZ')",
                t("02:30 +0200"),
            ),
            (
                "DATETIME_FORMAT('2026-10-25T01:30:00Z', 'HH:mm ZZ')",
                t("02:30 +0100"),
            ),
            // The two 02:xx hours of the fold are different hours.
            (
                "IS_SAME('2026-10-25T00:30:00Z', '2026-10-25T01:30:00Z', 'hour')",
                b(false),
            ),
            (
                "IS_SAME('2026-10-25T00:10:00Z', '2026-10-25T00:50:00Z', 'hour')",
                b(true),
            ),
            (
                "IS_SAME('2026-10-25T00:30:00Z', '2026-10-25T01:30:00Z', 'day')",
                b(true),
            ),
            // Late evening UTC is the next local day, month and year.
            ("DAY('2026-01-31T23:30:00Z')", n(1.0)),
            ("MONTH('2026-01-31T23:30:00Z')", n(2.0)),
            ("YEAR('2025-12-31T23:30:00Z')", n(2026.0)),
            ("WEEKDAY('2026-03-28T23:30:00Z')", n(0.0)),
            ("DATESTR('2026-03-28T23:30:00Z')", t("2026-03-29")),
            ("TIMESTR('2026-03-28T23:30:00Z')", t("00:30:00")),
            // A text without offset is a local time.
            ("HOUR('2026-07-01 09:15')", n(9.0)),
            (
                "DATETIME_PARSE('2026-07-01 09:15') & ''",
                t("2026-07-01T07:15:00.000Z"),
            ),
        ],
    );
}

#[test]
fn new_york_spring_forward_fall_back_and_month_ends() {
    check_in(
        Tz::America__New_York,
        &[
            (
                "DATETIME_FORMAT(DATETIME_PARSE('2026-03-08 02:30'), 'YYYY-MM-DD HH:mm Z')",
                t("2026-03-08 03:30 -04:00"),
            ),
            (
                "DATETIME_PARSE('2026-03-08 02:30') & ''",
                t("2026-03-08T07:30:00.000Z"),
            ),
            (
                "DATEADD('2026-03-07T14:00:00Z', 1, 'd') & ''",
                t("2026-03-08T13:00:00.000Z"),
            ),
            (
                "DATETIME_FORMAT(DATEADD('2026-03-07T14:00:00Z', 1, 'd'), 'YYYY-MM-DD HH:mm')",
                t("2026-03-08 09:00"),
            ),
            (
                "DATETIME_PARSE('2026-11-01 01:30') & ''",
                t("2026-11-01T05:30:00.000Z"),
            ),
            (
                "DATETIME_FORMAT('2026-11-01T06:30:00Z', 'h:mm A Z')",
                t("1:30 AM -05:00"),
            ),
            ("HOUR('2026-11-01T05:30:00Z')", n(1.0)),
            ("HOUR('2026-11-01T06:30:00Z')", n(1.0)),
            (
                "DATETIME_DIFF(DATEADD('2026-10-31T16:00:00Z', 1, 'days'), '2026-10-31T16:00:00Z', 'h')",
                n(25.0),
            ),
            // Months move the local time too: 10:00 EST + 1 month is 10:00 EDT.
            (
                "DATEADD('2026-02-28T15:00:00Z', 1, 'month') & ''",
                t("2026-03-28T14:00:00.000Z"),
            ),
            // Local 31 January + 1 month clamps to 28 February.
            (
                "DATETIME_FORMAT(DATEADD('2026-02-01T02:00:00Z', 1, 'M'), 'YYYY-MM-DD HH:mm')",
                t("2026-02-28 21:00"),
            ),
            ("MONTH('2026-03-01T04:00:00Z')", n(2.0)),
            ("DAY('2024-03-01T04:00:00Z')", n(29.0)),
            // Local Thursday 22:00 (UTC Friday): the next working day is Friday.
            ("WORKDAY('2026-03-06T03:00:00Z', 1)", date(2026, 3, 6)),
            // Local Sunday 1 March to Monday 9 March.
            (
                "WORKDAY_DIFF('2026-03-02T03:00:00Z', '2026-03-10T03:00:00Z')",
                n(6.0),
            ),
            // Local Saturday 3 January: still week 1.
            ("WEEKNUM('2026-01-04T03:00:00Z')", n(1.0)),
            // A Date is its local midnight.
            ("HOUR({Day})", n(0.0)),
            ("DAY({Day})", n(29.0)),
            (
                "DATETIME_FORMAT({Day}, 'YYYY-MM-DD HH:mm Z')",
                t("2024-02-29 00:00 -05:00"),
            ),
            ("{Day} = '2024-02-29T05:00:00Z'", b(true)),
            ("IS_SAME({Day}, '2024-02-29T05:00:00Z')", b(true)),
            ("DATEADD({Day}, 1, 'day')", date(2024, 3, 1)),
            (
                "DATEADD({Day}, 1, 'hour') & ''",
                t("2024-02-29T06:00:00.000Z"),
            ),
        ],
    );
}

#[test]
fn sydney_changes_the_other_way_round() {
    check_in(
        Tz::Australia__Sydney,
        &[
            // April: summer time ends, a day is 25 hours.
            (
                "DATETIME_DIFF(DATEADD('2026-04-04T01:00:00Z', 1, 'day'), '2026-04-04T01:00:00Z', 'hours')",
                n(25.0),
            ),
            // October: summer time starts, a day is 23 hours.
            (
                "DATETIME_DIFF(DATEADD('2026-10-03T02:00:00Z', 1, 'day'), '2026-10-03T02:00:00Z', 'hours')",
                n(23.0),
            ),
            (
                "DATETIME_FORMAT('2026-01-15T00:00:00Z', 'YYYY-MM-DD HH:mm Z')",
                t("2026-01-15 11:00 +11:00"),
            ),
            (
                "DATETIME_FORMAT('2026-07-15T00:00:00Z', 'HH:mm ZZ')",
                t("10:00 +1000"),
            ),
            (
                "DATETIME_PARSE('2026-10-04 02:30') & ''",
                t("2026-10-03T16:30:00.000Z"),
            ),
            (
                "DATETIME_FORMAT(DATETIME_PARSE('2026-10-04 02:30'), 'HH:mm Z')",
                t("03:30 +11:00"),
            ),
            (
                "DATETIME_PARSE('2026-04-05 02:30') & ''",
                t("2026-04-04T15:30:00.000Z"),
            ),
            ("YEAR('2026-12-31T13:30:00Z')", n(2027.0)),
            ("DAY('2026-12-31T13:30:00Z')", n(1.0)),
        ],
    );
}

#[test]
fn half_and_three_quarter_hour_offsets() {
    check_in(
        Tz::Asia__Kolkata,
        &[
            ("HOUR('2026-06-01T10:10:00Z')", n(15.0)),
            ("MINUTE('2026-06-01T10:10:00Z')", n(40.0)),
            // 15:40 and 16:10 local: different hours (the same UTC hour).
            (
                "IS_SAME('2026-06-01T10:10:00Z', '2026-06-01T10:40:00Z', 'hour')",
                b(false),
            ),
            (
                "DATETIME_FORMAT('2026-06-01T20:00:00Z', 'YYYY-MM-DD HH:mm Z')",
                t("2026-06-02 01:30 +05:30"),
            ),
            (
                "DATETIME_FORMAT('2026-06-01T20:00:00Z')",
                t("2026-06-02T01:30:00.000+05:30"),
            ),
            ("DATESTR('2026-06-01T20:00:00Z')", t("2026-06-02")),
            // Local 1 March 00:30 is a whole month after local 31 January
            // 01:30 (UTC: 28 February 19:00 is not after 30 January 20:00).
            (
                "DATETIME_DIFF('2026-02-28T19:00:00Z', '2026-01-30T20:00:00Z', 'months')",
                n(1.0),
            ),
        ],
    );
    check_in(
        Tz::Asia__Kathmandu,
        &[
            (
                "DATETIME_FORMAT('2026-06-01T18:15:00Z', 'YYYY-MM-DD HH:mm ZZ')",
                t("2026-06-02 00:00 +0545"),
            ),
            ("MINUTE('2026-06-01T10:00:00Z')", n(45.0)),
            ("TIMESTR('2026-06-01T10:00:00Z')", t("15:45:00")),
            // The 15 minutes skipped in 1986 are a gap like DST's.
            (
                "DATETIME_FORMAT(DATETIME_PARSE('1986-01-01 00:05'), 'HH:mm Z')",
                t("00:20 +05:45"),
            ),
        ],
    );
    // Under UTC the same instants read differently.
    check_in(
        Tz::UTC,
        &[
            (
                "IS_SAME('2026-06-01T10:10:00Z', '2026-06-01T10:40:00Z', 'hour')",
                b(true),
            ),
            (
                "DATETIME_DIFF('2026-02-28T19:00:00Z', '2026-01-30T20:00:00Z', 'months')",
                n(0.0),
            ),
        ],
    );
}

#[test]
fn today_is_the_local_day() {
    // Now is 2024-05-06T07:08:09Z: 21:08 on 5 May in Honolulu.
    check_in(
        Tz::Pacific__Honolulu,
        &[
            ("TODAY()", date(2024, 5, 5)),
            ("DATETIME_DIFF(NOW(), TODAY(), 'minutes')", n(1268.0)),
            ("NOW() & ''", t("2024-05-06T07:08:09.000Z")),
        ],
    );
    check_in(Tz::Asia__Tokyo, &[("TODAY()", date(2024, 5, 6))]);
}

#[test]
fn set_timezone_overrides_the_zone_per_value() {
    check_in(
        Tz::UTC,
        &[
            (
                "DATETIME_FORMAT(SET_TIMEZONE('2026-06-01T12:00:00Z', 'Asia/Tokyo'), 'YYYY-MM-DD HH:mm Z')",
                t("2026-06-01 21:00 +09:00"),
            ),
            (
                "HOUR(SET_TIMEZONE('2026-06-01T12:00:00Z', 'America/New_York'))",
                n(8.0),
            ),
            // The last zone wins.
            (
                "HOUR(SET_TIMEZONE(SET_TIMEZONE('2026-06-01T12:00:00Z', 'Asia/Tokyo'), 'Asia/Kolkata'))",
                n(17.0),
            ),
            // DATEADD keeps the value's zone and its wall time.
            (
                "DATETIME_FORMAT(DATEADD(SET_TIMEZONE('2026-03-28T11:00:00Z', 'Europe/Berlin'), 1, 'day'), 'YYYY-MM-DD HH:mm Z')",
                t("2026-03-29 12:00 +02:00"),
            ),
            // Days between two values are counted in the first one's zone.
            (
                "DATETIME_DIFF(SET_TIMEZONE('2026-03-29T10:00:00Z', 'Europe/Berlin'), '2026-03-28T11:00:00Z', 'days')",
                n(1.0),
            ),
            (
                "DATETIME_DIFF('2026-03-29T10:00:00Z', '2026-03-28T11:00:00Z', 'days')",
                n(0.0),
            ),
            // The instant does not change.
            (
                "SET_TIMEZONE('2026-06-01T12:00:00Z', 'Asia/Tokyo') & ''",
                t("2026-06-01T12:00:00.000Z"),
            ),
            (
                "SET_TIMEZONE('2026-06-01T12:00:00Z', 'Asia/Tokyo') = '2026-06-01T12:00:00Z'",
                b(true),
            ),
            (
                "DATETIME_FORMAT(SET_TIMEZONE('2026-06-01T12:00:00Z', 'Asia/Kathmandu'), 'ZZ')",
                t("+0545"),
            ),
            (
                "DATETIME_FORMAT(SET_TIMEZONE(NOW(), 'Pacific/Honolulu'), 'YYYY-MM-DD')",
                t("2024-05-05"),
            ),
            (
                "WEEKDAY(SET_TIMEZONE('2026-03-01T03:00:00Z', 'America/New_York'))",
                n(6.0),
            ),
            // A Date is its midnight in the evaluation zone.
            (
                "DATETIME_FORMAT(SET_TIMEZONE({Day}, 'Asia/Tokyo'), 'YYYY-MM-DD HH:mm')",
                t("2024-02-29 09:00"),
            ),
            // Bad zones are errors; blanks stay blank.
            ("SET_TIMEZONE('2026-06-01T12:00:00Z', 'Mars/Olympus')", ERR),
            ("SET_TIMEZONE('2026-06-01T12:00:00Z', 'europe/berlin')", ERR),
            ("SET_TIMEZONE('2026-06-01T12:00:00Z', ' Asia/Tokyo')", ERR),
            ("SET_TIMEZONE('2026-06-01T12:00:00Z', {Name})", ERR),
            ("SET_TIMEZONE('2026-06-01T12:00:00Z', {Empty})", ERR),
            ("SET_TIMEZONE('2026-06-01T12:00:00Z', 1)", ERR),
            ("SET_TIMEZONE('2026-06-01T12:00:00Z')", ERR),
            ("SET_TIMEZONE({Err}, 'UTC')", ERR),
            ("SET_TIMEZONE({Empty}, 'Asia/Tokyo')", BL),
            ("SET_TIMEZONE('not a date', 'Asia/Tokyo')", ERR),
        ],
    );
    // In a New York field, SET_TIMEZONE can go back to UTC.
    check_in(
        Tz::America__New_York,
        &[
            ("HOUR('2026-06-01T12:00:00Z')", n(8.0)),
            ("HOUR(SET_TIMEZONE('2026-06-01T12:00:00Z', 'UTC'))", n(12.0)),
            (
                "DATETIME_FORMAT(SET_TIMEZONE('2026-06-01T12:00:00Z', 'Europe/London'))",
                t("2026-06-01T13:00:00.000+01:00"),
            ),
        ],
    );
}
