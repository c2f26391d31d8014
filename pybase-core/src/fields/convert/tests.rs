//! Conversion matrix cases and properties.

#![allow(
    clippy::needless_pass_by_value,
    reason = "helpers take json! values by value to keep the cases short"
)]

use crate::fields::kinds::Checkbox;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::convert_cell;
use crate::fields::cell::tests::{all_types, arb_json, ft};
use crate::fields::{FieldType, new_choice_names};
use crate::ids::{AttachmentId, RecordId, TableId};

fn conv(from: &FieldType, to: &FieldType, v: Value) -> Option<Value> {
    match convert_cell(from, to, &v) {
        Ok(out) => out,
        Err(e) => panic!(
            "{} -> {} refused {v}: {e}",
            from.type_name(),
            to.type_name()
        ),
    }
}

fn fails(from: &FieldType, to: &FieldType, v: Value) -> String {
    match convert_cell(from, to, &v) {
        Ok(out) => panic!(
            "{} -> {} converted {v} to {out:?}",
            from.type_name(),
            to.type_name()
        ),
        Err(e) => {
            assert_eq!(e.to, to.type_name());
            assert_eq!(e.value, v.to_string());
            e.reason
        }
    }
}

fn text() -> FieldType {
    ft("text", Value::Null)
}

fn number(precision: u8) -> FieldType {
    ft("number", json!({ "precision": precision }))
}

fn single(choices: &[&str]) -> FieldType {
    ft("single_select", json!({ "choices": choices }))
}

fn multi(choices: &[&str]) -> FieldType {
    ft("multi_select", json!({ "choices": choices }))
}

fn link(table: TableId, allow_multiple: bool) -> FieldType {
    ft(
        "link",
        json!({ "linked_table_id": table, "allow_multiple": allow_multiple }),
    )
}

#[test]
fn anything_renders_as_text() {
    let t = text();
    let lt = ft("long_text", Value::Null);
    assert_eq!(conv(&number(2), &t, json!(12.5)), Some(json!("12.5")));
    assert_eq!(conv(&number(0), &t, json!(12)), Some(json!("12")));
    assert_eq!(
        conv(&number(0), &t, json!(1e20)),
        Some(json!("100000000000000000000"))
    );
    assert_eq!(
        conv(&ft("percent", Value::Null), &t, json!(0.125)),
        Some(json!("0.125"))
    );
    assert_eq!(
        conv(&ft("checkbox", Value::Null), &t, json!(true)),
        Some(json!("true"))
    );
    assert_eq!(
        conv(&multi(&["a", "b"]), &t, json!(["a", "b"])),
        Some(json!("a, b"))
    );
    let (r1, r2) = (RecordId::new().to_string(), RecordId::new().to_string());
    assert_eq!(
        conv(&link(TableId::new(), true), &lt, json!([r1, r2])),
        Some(json!(format!("{r1}, {r2}")))
    );
    assert_eq!(
        conv(
            &ft("datetime", Value::Null),
            &t,
            json!("2024-01-05T08:00:00.000Z")
        ),
        Some(json!("2024-01-05T08:00:00.000Z"))
    );
    // A single line cannot hold line breaks: they become spaces.
    assert_eq!(conv(&lt, &t, json!("a\nb")), Some(json!("a b")));
    let short = ft("text", json!({ "max_length": 3 }));
    assert!(fails(&lt, &short, json!("abcd")).contains("at most 3 characters"));
}

#[test]
fn text_becomes_numbers_when_it_reads_as_one() {
    let t = text();
    assert_eq!(conv(&t, &number(1), json!(" 12.55 ")), Some(json!(12.6)));
    assert_eq!(
        conv(&t, &ft("percent", Value::Null), json!("50%")),
        Some(json!(0.5))
    );
    assert_eq!(
        conv(&t, &ft("currency", Value::Null), json!("$1,234.50")),
        Some(json!(1234.5))
    );
    assert_eq!(
        conv(&t, &ft("duration", Value::Null), json!("1:30")),
        Some(json!(5400))
    );
    let reason = fails(&t, &number(0), json!("abc"));
    assert_eq!(reason, r#"expected a number, got "abc""#);
    let e = convert_cell(&t, &number(0), &json!("abc")).unwrap_err();
    assert_eq!(
        e.to_string(),
        r#""abc" cannot become number: expected a number, got "abc""#
    );
}

#[test]
fn number_types_convert_among_themselves() {
    let rating = ft("rating", json!({ "max": 5 }));
    assert_eq!(conv(&number(2), &number(0), json!(2.5)), Some(json!(3)));
    assert_eq!(
        conv(&ft("percent", Value::Null), &number(2), json!(0.5)),
        Some(json!(0.5))
    );
    assert_eq!(
        conv(&number(2), &ft("currency", Value::Null), json!(19.999)),
        Some(json!(20))
    );
    assert_eq!(conv(&number(0), &rating, json!(3)), Some(json!(3)));
    assert!(fails(&number(1), &rating, json!(3.5)).contains("whole number from 1 to 5"));
    assert!(fails(&number(0), &rating, json!(7)).contains("whole number from 1 to 5"));
    // A 0 would silently vanish as an empty rating.
    assert!(fails(&number(0), &rating, json!(0)).contains("would be lost"));
    assert_eq!(
        conv(&rating, &ft("duration", Value::Null), json!(4)),
        Some(json!(4))
    );
    assert_eq!(
        conv(&ft("checkbox", Value::Null), &number(0), json!(true)),
        Some(json!(1))
    );
}

#[test]
fn choices_wrap_and_unwrap() {
    let s = single(&["a", "b, c"]);
    let m = multi(&["a", "b, c"]);
    assert_eq!(conv(&s, &m, json!("b, c")), Some(json!(["b, c"])));
    assert_eq!(conv(&m, &s, json!(["a"])), Some(json!("a")));
    assert!(fails(&m, &s, json!(["a", "b, c"])).contains("several values"));
    // Text and numbers become choices; unknown names are for the caller to add.
    let out = conv(&text(), &s, json!("New")).unwrap();
    assert_eq!(out, json!("New"));
    assert_eq!(new_choice_names(&s, &out), vec!["New".to_owned()]);
    assert_eq!(conv(&text(), &m, json!("a, x")), Some(json!(["a", "x"])));
    assert_eq!(conv(&number(0), &s, json!(3)), Some(json!("3")));
    assert_eq!(conv(&s, &number(0), json!("12")), Some(json!(12)));
    assert!(fails(&s, &number(0), json!("a")).contains("expected a number"));
}

#[test]
fn dates_and_datetimes_convert_both_ways() {
    let d = ft("date", Value::Null);
    let dt = ft("datetime", Value::Null);
    assert_eq!(
        conv(&dt, &d, json!("2024-01-05T23:30:00.000Z")),
        Some(json!("2024-01-05"))
    );
    assert_eq!(
        conv(&d, &dt, json!("2024-01-05")),
        Some(json!("2024-01-05T00:00:00.000Z"))
    );
    assert_eq!(
        conv(&text(), &d, json!("2024-01-05")),
        Some(json!("2024-01-05"))
    );
    assert!(fails(&text(), &d, json!("soon")).starts_with("expected a date"));
    assert!(fails(&number(0), &d, json!(20240105)).starts_with("expected a date"));
    // A date and time becomes its date in the field's zone, as the
    // reverse conversion reads a date at midnight in that zone.
    let ny = ft("datetime", json!({ "timezone": "America/New_York" }));
    assert_eq!(
        conv(&ny, &d, json!("2026-01-01T03:00:00.000Z")),
        Some(json!("2025-12-31"))
    );
    assert_eq!(
        conv(&d, &ny, json!("2025-12-31")),
        Some(json!("2025-12-31T05:00:00.000Z"))
    );
}

#[test]
fn text_becomes_a_checkbox_through_the_typecast_words() {
    let c = ft("checkbox", Value::Null);
    assert_eq!(conv(&text(), &c, json!("Yes")), Some(json!(true)));
    // An unchecked box is a value, not a loss.
    assert_eq!(conv(&text(), &c, json!("no")), None);
    assert_eq!(conv(&number(0), &c, json!(1)), Some(json!(true)));
    assert_eq!(conv(&number(0), &c, json!(0)), None);
    assert!(fails(&text(), &c, json!("maybe")).starts_with("expected true or false"));
    assert!(fails(&number(0), &c, json!(2)).starts_with("expected true or false"));
}

#[test]
fn blank_text_may_become_empty_but_values_may_not_vanish() {
    assert_eq!(conv(&text(), &ft("email", Value::Null), json!("   ")), None);
    assert_eq!(
        conv(&text(), &ft("email", Value::Null), json!(" A@B.CO ")),
        Some(json!("A@b.co"))
    );
    assert!(fails(&text(), &ft("url", Value::Null), json!("not a url")).contains("http"));
    assert_eq!(conv(&text(), &number(0), json!("")), None);
    assert_eq!(conv(&number(0), &text(), Value::Null), None);
}

#[test]
fn links_and_attachments_only_come_from_their_own_type() {
    let table = TableId::new();
    let r = RecordId::new().to_string();
    let a = AttachmentId::new().to_string();
    let many = link(table, true);
    let one = link(table, false);
    let other_table = link(TableId::new(), true);
    assert_eq!(
        fails(&text(), &many, json!(r)),
        "only link cells convert to link"
    );
    assert_eq!(
        fails(&ft("attachment", Value::Null), &many, json!([a])),
        "only link cells convert to link"
    );
    assert_eq!(
        fails(&many, &ft("attachment", Value::Null), json!([r])),
        "only attachment cells convert to attachment"
    );
    assert_eq!(
        fails(&many, &number(0), json!([r])),
        "link ids only convert to text"
    );
    assert!(fails(&many, &other_table, json!([r])).contains("another table"));
    assert_eq!(conv(&many, &one, json!([r])), Some(json!([r])));
    let r2 = RecordId::new().to_string();
    assert!(fails(&many, &one, json!([r, r2])).contains("at most one linked record"));
    assert_eq!(conv(&text(), &many, Value::Null), None);
    assert_eq!(
        conv(
            &ft("attachment", Value::Null),
            &ft("attachment", Value::Null),
            json!([a])
        ),
        Some(json!([a]))
    );
}

#[test]
fn computed_types_would_discard_values() {
    for to in [
        "autonumber",
        "created_time",
        "updated_time",
        "created_by",
        "updated_by",
    ] {
        let to = ft(to, Value::Null);
        assert!(fails(&text(), &to, json!("x")).contains("would be discarded"));
        assert_eq!(conv(&text(), &to, Value::Null), None);
    }
}

#[test]
fn same_type_changes_revalidate_with_the_new_options() {
    assert_eq!(conv(&number(2), &number(0), json!(2.45)), Some(json!(2)));
    assert_eq!(conv(&number(0), &number(2), json!(7)), Some(json!(7)));
    let long = ft("text", json!({ "max_length": 10 }));
    let short = ft("text", json!({ "max_length": 3 }));
    assert_eq!(conv(&long, &short, json!("abc")), Some(json!("abc")));
    assert!(fails(&long, &short, json!("abcd")).contains("at most 3"));
    // A removed choice is not recreated.
    let before = single(&["a", "b"]);
    let after = single(&["a"]);
    assert_eq!(conv(&before, &after, json!("a")), Some(json!("a")));
    assert!(fails(&before, &after, json!("b")).starts_with(r#"expected one of "a", got "b""#));
    let before = multi(&["a", "b"]);
    let after = multi(&["a"]);
    assert!(fails(&before, &after, json!(["a", "b"])).contains(r#"got "b""#));
    let r5 = ft("rating", json!({ "max": 5 }));
    let r3 = ft("rating", json!({ "max": 3 }));
    assert!(fails(&r5, &r3, json!(4)).contains("from 1 to 3"));
    assert_eq!(conv(&r5, &r3, json!(2)), Some(json!(2)));
}

#[test]
fn failures_cut_long_values() {
    let v = json!("x".repeat(500));
    let e = convert_cell(&text(), &number(0), &v).unwrap_err();
    assert!(e.value.chars().count() <= 61, "{}", e.value);
}

/// Stored cells: arbitrary JSON validated as `from`.
fn stored_cells() -> impl Strategy<Value = (usize, Value)> {
    let n = all_types().len();
    (0..n, arb_json(), any::<bool>()).prop_filter_map("not a valid cell", |(i, v, tc)| {
        let types = all_types();
        match types[i].validate_cell(&v, tc) {
            Ok(Some(cell)) if new_choice_names(&types[i], &cell).is_empty() => Some((i, cell)),
            _ => None,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn conversions_give_valid_cells_or_fail((i, cell) in stored_cells()) {
        let types = all_types();
        let from = &types[i];
        for to in &types {
            match convert_cell(from, to, &cell) {
                Ok(Some(out)) => {
                    // The result is a normalised cell of the new type.
                    prop_assert_eq!(to.validate_cell(&out, true), Ok(Some(out.clone())), "{:?} -> {:?}: {}", from, to, cell);
                }
                Ok(None) => prop_assert!(
                    matches!(to, FieldType::Checkbox(Checkbox)) || cell.as_str().is_some_and(|s| s.trim().is_empty()),
                    "{:?} -> {:?} dropped {}", from, to, cell
                ),
                Err(e) => {
                    prop_assert_eq!(e.to, to.type_name());
                    prop_assert!(!e.reason.is_empty());
                }
            }
        }
        // Converting to the same type with the same options changes nothing.
        prop_assert_eq!(convert_cell(from, from, &cell), Ok(Some(cell.clone())));
    }
}
