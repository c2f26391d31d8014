//! Each planning rule, checked without a store.

use serde_json::{Value, json};

use super::*;
use crate::fields::FieldType;
use crate::ids::RecordId;
use crate::model::{Cells, Record, ViewType};
use crate::query::{StoredSort, Target};

fn field(table: TableId, name: &str, ty: &str, position: i64) -> Field {
    Field {
        id: FieldId::new(),
        table_id: table,
        name: name.into(),
        description: None,
        field_type: FieldType::from_parts(ty, &Value::Null).expect("a valid type"),
        position,
        indexed: false,
        index_origin: crate::model::IndexOrigin::Manual,
        status: crate::model::FieldStatus::Ready,
        created_at: chrono::DateTime::UNIX_EPOCH,
        updated_at: chrono::DateTime::UNIX_EPOCH,
    }
}

struct Table {
    id: TableId,
    fields: Vec<Field>,
}

impl Table {
    fn new() -> Self {
        let id = TableId::new();
        Self {
            id,
            fields: vec![
                field(id, "Name", "text", 0),
                field(id, "Qty", "number", 1),
                field(id, "Notes", "long_text", 2),
            ],
        }
    }

    fn id_of(&self, name: &str) -> FieldId {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.id)
            .expect("a field of the test table")
    }

    fn plan(&self, view: Option<&ViewConfig>, req: &PageRequest<'_>) -> Result<QueryPlan> {
        plan(self.id, &self.fields, view, req, &Limits::default())
    }
}

/// The one input an error names.
fn error_key(e: Error) -> String {
    match e {
        Error::Validation { fields, .. } if fields.len() == 1 => {
            fields.into_keys().next().unwrap_or_default()
        }
        other => panic!("expected an error naming one input, got {other:?}"),
    }
}

fn invalid_key(r: Result<QueryPlan>) -> String {
    match r {
        Err(e) => error_key(e),
        Ok(p) => panic!("expected an error, got {p:?}"),
    }
}

fn cell_targets(f: &Filter) -> Vec<FieldId> {
    match f {
        Filter::And(parts) | Filter::Or(parts) => parts.iter().flat_map(cell_targets).collect(),
        Filter::Not(inner) => cell_targets(inner),
        Filter::Cond(c) => match c.target {
            Target::Cell { field, .. } | Target::FirstNumber(field) => vec![field],
            Target::Meta(_) => Vec::new(),
        },
    }
}

fn view_filtering(t: &Table, field: &str) -> ViewConfig {
    ViewConfig {
        filter: Some(json!({"field": t.id_of(field).to_string(), "op": "eq", "value": "x"})),
        ..ViewConfig::default()
    }
}

#[test]
fn no_filter_without_view_or_request_and_null_is_none() {
    let t = Table::new();
    assert_eq!(
        t.plan(None, &PageRequest::default()).unwrap().query.filter,
        None
    );
    let null = Value::Null;
    let req = PageRequest {
        filter: Some(&null),
        ..PageRequest::default()
    };
    assert_eq!(t.plan(None, &req).unwrap().query.filter, None);
}

#[test]
fn view_filter_and_request_filter_are_anded() {
    let t = Table::new();
    let view = view_filtering(&t, "Name");
    let only_view = t.plan(Some(&view), &PageRequest::default()).unwrap();
    assert!(matches!(only_view.query.filter, Some(Filter::Cond(_))));
    let q = json!({"field": "Qty", "op": "gt", "value": 3});
    let req = PageRequest {
        filter: Some(&q),
        ..PageRequest::default()
    };
    let only_request = t.plan(None, &req).unwrap();
    assert_eq!(
        cell_targets(only_request.query.filter.as_ref().unwrap()),
        vec![t.id_of("Qty")]
    );
    let both = t.plan(Some(&view), &req).unwrap();
    match both.query.filter {
        Some(Filter::And(parts)) => {
            assert_eq!(parts.len(), 2);
            assert_eq!(cell_targets(&parts[0]), vec![t.id_of("Name")]);
            assert_eq!(cell_targets(&parts[1]), vec![t.id_of("Qty")]);
        }
        other => panic!("expected view AND request, got {other:?}"),
    }
}

#[test]
fn a_view_filter_that_no_longer_fits_is_an_error_on_view() {
    let t = Table::new();
    let view = ViewConfig {
        filter: Some(json!({"field": FieldId::new().to_string(), "op": "eq", "value": "x"})),
        ..ViewConfig::default()
    };
    assert_eq!(
        invalid_key(t.plan(Some(&view), &PageRequest::default())),
        "view"
    );
}

#[test]
fn request_sort_wins_over_the_view_sort_and_null_falls_back() {
    let t = Table::new();
    let view = ViewConfig {
        sort: vec![StoredSort {
            field: t.id_of("Qty"),
            direction: SortDirection::Desc,
        }],
        ..ViewConfig::default()
    };
    let target = |k: &SortKey| match k.target {
        Target::Cell { field, .. } | Target::FirstNumber(field) => field,
        Target::Meta(_) => panic!("a cell sort"),
    };
    let from_view = t.plan(Some(&view), &PageRequest::default()).unwrap();
    assert_eq!(from_view.query.sort.len(), 1);
    assert_eq!(target(&from_view.query.sort[0]), t.id_of("Qty"));
    assert!(from_view.query.sort[0].desc);
    let null = Value::Null;
    let with_null = PageRequest {
        sort: Some(&null),
        ..PageRequest::default()
    };
    assert_eq!(
        t.plan(Some(&view), &with_null).unwrap().query.sort,
        from_view.query.sort
    );
    let by_name = json!("Name");
    let req = PageRequest {
        sort: Some(&by_name),
        ..PageRequest::default()
    };
    let requested = t.plan(Some(&view), &req).unwrap();
    assert_eq!(requested.query.sort.len(), 1);
    assert_eq!(target(&requested.query.sort[0]), t.id_of("Name"));
    assert!(!requested.query.sort[0].desc);
    // No sort at all: the store's id order alone.
    assert!(
        t.plan(None, &PageRequest::default())
            .unwrap()
            .query
            .sort
            .is_empty()
    );
}

#[test]
fn page_size_defaults_and_is_bounded() {
    let t = Table::new();
    let size = |n: Option<usize>| {
        t.plan(
            None,
            &PageRequest {
                page_size: n,
                ..PageRequest::default()
            },
        )
    };
    assert_eq!(size(None).unwrap().query.limit, DEFAULT_PAGE_SIZE);
    assert_eq!(size(Some(1)).unwrap().query.limit, 1);
    assert_eq!(
        size(Some(MAX_PAGE_SIZE)).unwrap().query.limit,
        MAX_PAGE_SIZE
    );
    assert_eq!(invalid_key(size(Some(0))), "page_size");
    assert_eq!(invalid_key(size(Some(MAX_PAGE_SIZE + 1))), "page_size");
}

fn record(t: &Table, qty: i64) -> Record {
    let mut cells = Cells::new();
    cells.insert(t.id_of("Qty").to_string(), json!(qty));
    Record {
        id: RecordId::new(),
        table_id: t.id,
        cells,
        autonumber: 1,
        created_by: None,
        updated_by: None,
        created_time: chrono::DateTime::UNIX_EPOCH,
        updated_time: chrono::DateTime::UNIX_EPOCH,
        deleted_time: None,
    }
}

#[test]
fn a_cursor_is_good_only_for_the_query_that_made_it() {
    let t = Table::new();
    let sort = json!("-Qty");
    let req = PageRequest {
        sort: Some(&sort),
        page_size: Some(1),
        ..PageRequest::default()
    };
    let first = t.plan(None, &req).unwrap();
    let last = record(&t, 7);
    let page = RecordPage {
        records: vec![last.clone()],
        has_more: true,
        log_seq: None,
    };
    let cursor = first.next_cursor(&page).expect("a next page");
    let next = t
        .plan(
            None,
            &PageRequest {
                cursor: Some(&cursor),
                ..req
            },
        )
        .unwrap();
    let after = next.query.after.expect("the cursor's position");
    assert_eq!(after.id, last.id);
    assert_eq!(after.values.len(), 1);
    assert_eq!(next.shape, first.shape);
    // Another sort, filter, table or include_deleted: refused.
    let other_sort = json!("Qty");
    let deleted = PageRequest {
        include_deleted: true,
        cursor: Some(&cursor),
        ..req
    };
    assert_eq!(invalid_key(t.plan(None, &deleted)), "cursor");
    let resorted = PageRequest {
        sort: Some(&other_sort),
        cursor: Some(&cursor),
        ..req
    };
    assert_eq!(invalid_key(t.plan(None, &resorted)), "cursor");
    let view = view_filtering(&t, "Name");
    let refiltered = PageRequest {
        cursor: Some(&cursor),
        ..req
    };
    assert_eq!(invalid_key(t.plan(Some(&view), &refiltered)), "cursor");
    let elsewhere = Table::new();
    assert_eq!(
        invalid_key(plan(
            elsewhere.id,
            &t.fields,
            None,
            &refiltered,
            &Limits::default()
        )),
        "cursor"
    );
    let garbage = PageRequest {
        cursor: Some("not-a-cursor"),
        ..req
    };
    assert_eq!(invalid_key(t.plan(None, &garbage)), "cursor");
    // The sorted field changed type since: the cursor ended, and the error
    // says so rather than suggest it came from another query.
    let mut retyped = Table::new();
    retyped.id = t.id;
    retyped.fields = t.fields.clone();
    retyped.fields[1].field_type =
        FieldType::from_parts("text", &Value::Null).expect("a valid type");
    let again = PageRequest {
        cursor: Some(&cursor),
        ..req
    };
    match retyped.plan(None, &again) {
        Err(Error::Validation { fields, .. }) => {
            let said = fields.get("cursor").map(String::as_str).unwrap_or_default();
            assert!(said.contains("start again from the first page"), "{said}");
        }
        other => panic!("expected a cursor error, got {other:?}"),
    }
    // The last page has no next cursor.
    let done = RecordPage {
        records: vec![last],
        has_more: false,
        log_seq: None,
    };
    assert_eq!(first.next_cursor(&done), None);
    let empty = RecordPage {
        records: Vec::new(),
        has_more: true,
        log_seq: None,
    };
    assert_eq!(first.next_cursor(&empty), None);
}

#[test]
fn projection_is_the_requested_fields_else_the_views_visible_ones() {
    let t = Table::new();
    assert_eq!(
        t.plan(None, &PageRequest::default()).unwrap().projection,
        None
    );
    let hide = ViewConfig {
        hidden_fields: vec![t.id_of("Notes")],
        ..ViewConfig::default()
    };
    assert_eq!(
        t.plan(Some(&hide), &PageRequest::default())
            .unwrap()
            .projection,
        Some(vec![t.id_of("Name"), t.id_of("Qty")])
    );
    // A view hiding nothing shows everything.
    assert_eq!(
        t.plan(Some(&ViewConfig::default()), &PageRequest::default())
            .unwrap()
            .projection,
        None
    );
    let names = vec!["Notes".to_owned(), t.id_of("Name").to_string()];
    let req = PageRequest {
        fields: Some(&names),
        ..PageRequest::default()
    };
    assert_eq!(
        t.plan(Some(&hide), &req).unwrap().projection,
        Some(vec![t.id_of("Notes"), t.id_of("Name")])
    );
    let unknown = vec!["Nope".to_owned()];
    let bad = PageRequest {
        fields: Some(&unknown),
        ..PageRequest::default()
    };
    assert_eq!(invalid_key(t.plan(None, &bad)), "fields");
}

#[test]
fn views_are_found_by_id_or_name() {
    let t = Table::new();
    let view = View {
        id: ViewId::new(),
        table_id: t.id,
        name: "Grid".into(),
        view_type: ViewType::Grid,
        config: ViewConfig::default(),
        position: 0,
        created_at: chrono::DateTime::UNIX_EPOCH,
        updated_at: chrono::DateTime::UNIX_EPOCH,
    };
    let views = vec![view.clone()];
    assert_eq!(find_view(&views, "Grid").unwrap().id, view.id);
    assert_eq!(find_view(&views, view.id.as_str()).unwrap().id, view.id);
    let missing = find_view(&views, "Other").map(|v| v.id);
    assert_eq!(error_key(missing.expect_err("no such view")), "view");
}

#[test]
fn a_lowered_formula_plans_the_same_store_query_as_the_native_filter() {
    let t = Table::new();
    let native = json!({"field": "Qty", "op": "gt", "value": 500});
    let by_filter = t
        .plan(
            None,
            &PageRequest {
                filter: Some(&native),
                ..PageRequest::default()
            },
        )
        .unwrap();
    let by_formula = t
        .plan(
            None,
            &PageRequest {
                formula: Some("{Qty} > 500"),
                ..PageRequest::default()
            },
        )
        .unwrap();
    // The same filter reaches the store, so the same index serves it.
    assert_eq!(by_formula.query.filter, by_filter.query.filter);
    assert!(by_formula.formula.as_ref().unwrap().is_pure_sql());
    // ANDed with the view's filter and the request's.
    let view = view_filtering(&t, "Name");
    let both = t
        .plan(
            Some(&view),
            &PageRequest {
                filter: Some(&native),
                formula: Some("{Qty} < 900"),
                ..PageRequest::default()
            },
        )
        .unwrap();
    match both.query.filter {
        Some(Filter::And(parts)) => assert_eq!(parts.len(), 3, "{parts:?}"),
        other => panic!("expected three parts ANDed, got {other:?}"),
    }
}

#[test]
fn formula_errors_come_after_the_filters_and_cursors_bind_to_the_formula() {
    let t = Table::new();
    let bad_filter = json!({"field": "Nope", "op": "eq", "value": 1});
    let e = t
        .plan(
            None,
            &PageRequest {
                filter: Some(&bad_filter),
                formula: Some("{nope}"),
                ..PageRequest::default()
            },
        )
        .unwrap_err();
    assert_eq!(error_key(e), "Nope");
    let e = t
        .plan(
            None,
            &PageRequest {
                formula: Some("  {nope} = 1"),
                ..PageRequest::default()
            },
        )
        .unwrap_err();
    match e {
        Error::InvalidFormula {
            message,
            start,
            end,
        } => {
            assert_eq!(message, "Unknown field names: nope");
            assert_eq!((start, end), (2, 8));
        }
        other => panic!("expected a formula error, got {other:?}"),
    }
    // A cursor made under one formula is refused under another.
    let plan_a = t
        .plan(
            None,
            &PageRequest {
                formula: Some("LEN({Name}) > 1"),
                page_size: Some(1),
                ..PageRequest::default()
            },
        )
        .unwrap();
    let page = RecordPage {
        records: vec![record(&t, 1)],
        has_more: true,
        log_seq: None,
    };
    let cursor = plan_a.next_cursor(&page).unwrap();
    for (formula, ok) in [("LEN({Name}) > 1", true), ("LEN({Name}) > 2", false)] {
        let r = t.plan(
            None,
            &PageRequest {
                formula: Some(formula),
                cursor: Some(&cursor),
                page_size: Some(1),
                ..PageRequest::default()
            },
        );
        assert_eq!(r.is_ok(), ok, "{formula}");
    }
}
