//! Paging of short lists (workspaces, members, bases, tables, fields, views,
//! API keys, webhooks), read whole in the store's stable order. A cursor
//! holds the position where the next page starts and the id of the item
//! before it (the previous page's last): the next page starts after that
//! item wherever it now is, so items added or deleted before it between
//! two pages neither skip nor repeat one. Should that item itself be gone,
//! the page starts one before the position, so an item may be repeated,
//! never skipped. Records page by keyset instead (see [`super::plan`]).

use crate::error::{Error, Result};
use crate::model::{ApiKey, Base, Field, Member, Table, View, Workspace};
use crate::store::Webhook;

/// Default number of items in a page of a list.
pub const DEFAULT_LIST_PAGE_SIZE: usize = 100;
/// Largest page of a list a client may ask for.
pub const MAX_LIST_PAGE_SIZE: usize = 1000;
/// What a list's cursor looks like: `o`, a position (at most 19 digits, so
/// every one fits a `usize`) and, after a `.`, the id of the item before
/// it; empty means the first page. A bare position (what earlier versions
/// gave) is still taken.
pub const LIST_CURSOR_PATTERN: &str = "^(o[0-9]{1,19}([.][A-Za-z0-9_-]{1,64})?)?$";

/// An item of a short list: its id, which a cursor names.
pub trait Listed {
    /// The item's id.
    fn list_id(&self) -> &str;
}

macro_rules! listed_by_id {
    ($($ty:ty),*) => {$(
        impl Listed for $ty {
            fn list_id(&self) -> &str {
                self.id.as_str()
            }
        }
    )*};
}

listed_by_id!(ApiKey, Base, Field, Table, View, Workspace, Webhook);

impl Listed for Member {
    fn list_id(&self) -> &str {
        self.user.id.as_str()
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Cursor of the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// A decoded cursor: where the page starts, and the id of the item before.
struct ListCursor<'a> {
    position: usize,
    after: Option<&'a str>,
}

/// Cuts `all` (in a stable order) into the page of `page_size` items (1 to
/// [`MAX_LIST_PAGE_SIZE`], default [`DEFAULT_LIST_PAGE_SIZE`]) that follows
/// `cursor` (a previous page's `next_cursor`; absent or empty for the first
/// page), as the module's documentation says. A position past the end
/// gives an empty page.
pub fn page_list<T: Listed>(
    all: Vec<T>,
    page_size: Option<usize>,
    cursor: Option<&str>,
) -> Result<ListPage<T>> {
    let size = page_size.unwrap_or(DEFAULT_LIST_PAGE_SIZE);
    if !(1..=MAX_LIST_PAGE_SIZE).contains(&size) {
        return Err(Error::invalid(
            "page_size",
            format!("a number from 1 to {MAX_LIST_PAGE_SIZE}, got {size}"),
        ));
    }
    let start = match cursor {
        None | Some("") => 0,
        Some(c) => {
            let c = decode_cursor(c).ok_or_else(|| {
                Error::invalid(
                    "cursor",
                    "a next_cursor returned by this list: o, at most 19 digits, and an id after a dot",
                )
            })?;
            match c.after {
                None => c.position,
                Some(id) => match all.iter().position(|item| item.list_id() == id) {
                    Some(i) => i + 1,
                    None => c.position.saturating_sub(1),
                },
            }
        }
    };
    let total = all.len();
    let items: Vec<T> = all.into_iter().skip(start).take(size).collect();
    let end = start + items.len();
    let next_cursor = match items.last() {
        Some(last) if end < total => Some(encode_cursor(end, last.list_id())),
        _ => None,
    };
    Ok(ListPage { items, next_cursor })
}

/// The cursor of the page at `position`, after the item `id` (an id the
/// pattern does not take leaves it out: the position alone).
fn encode_cursor(position: usize, id: &str) -> String {
    if valid_id(id) {
        format!("o{position}.{id}")
    } else {
        format!("o{position}")
    }
}

/// Whether `id` fits the cursor's pattern.
fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A cursor matching [`LIST_CURSOR_PATTERN`].
fn decode_cursor(c: &str) -> Option<ListCursor<'_>> {
    let rest = c.strip_prefix('o')?;
    let (digits, after) = match rest.split_once('.') {
        Some((digits, id)) => (digits, Some(id)),
        None => (rest, None),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if after.is_some_and(|id| !valid_id(id)) {
        return None;
    }
    Some(ListCursor {
        position: digits.parse().ok()?,
        after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A list item: its id is its number, written `i<n>`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Item(String);

    impl Listed for Item {
        fn list_id(&self) -> &str {
            &self.0
        }
    }

    fn items(range: std::ops::Range<u32>) -> Vec<Item> {
        range.map(|n| Item(format!("i{n}"))).collect()
    }

    fn key(e: Error) -> String {
        match e {
            Error::Validation { fields, .. } => fields.into_keys().collect::<Vec<_>>().join(","),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    /// Every page of `all` of `size`, from `cursor` on, each read through
    /// `change` of the list first (what other writers did in between).
    fn walk(mut all: Vec<Item>, size: usize, change: impl Fn(usize, &mut Vec<Item>)) -> Vec<Item> {
        let mut cursor: Option<String> = None;
        let mut seen = Vec::new();
        for page_no in 0.. {
            change(page_no, &mut all);
            let page = page_list(all.clone(), Some(size), cursor.as_deref()).unwrap();
            seen.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        seen
    }

    #[test]
    fn pages_walk_the_whole_list_once() {
        let all = items(0..250);
        let first = page_list(all.clone(), Some(100), None).unwrap();
        assert_eq!(first.next_cursor.as_deref(), Some("o100.i99"));
        assert_eq!(walk(all.clone(), 100, |_, _| {}), all);
    }

    #[test]
    fn items_added_or_deleted_before_the_cursor_neither_skip_nor_repeat() {
        // Before the second page, an item of the first page is deleted:
        // the second page still starts right after the first page's last.
        let seen = walk(items(0..10), 4, |page, all| {
            if page == 1 {
                all.remove(1);
            }
        });
        assert_eq!(seen, items(0..10), "i4 is not skipped");
        // An item added at the front before the second page is not
        // repeated as the first page's last.
        let seen = walk(items(0..10), 4, |page, all| {
            if page == 1 {
                all.insert(0, Item("new".into()));
            }
        });
        assert_eq!(seen, items(0..10));
    }

    #[test]
    fn a_deleted_last_item_repeats_one_item_rather_than_skipping() {
        // The first page's last item goes: the next starts at its
        // successor, which took its place.
        let seen = walk(items(0..10), 4, |page, all| {
            if page == 1 {
                all.retain(|i| i.0 != "i3");
            }
        });
        assert_eq!(seen, items(0..10));
        // It goes and an item is added before it: one item (i2) is seen
        // twice, none missed.
        let seen = walk(items(0..10), 4, |page, all| {
            if page == 1 {
                all.retain(|i| i.0 != "i3");
                all.insert(0, Item("new".into()));
            }
        });
        let mut want = items(0..4);
        want.extend(items(2..10).into_iter().filter(|i| i.0 != "i3"));
        assert_eq!(seen, want);
    }

    #[test]
    fn size_defaults_and_is_bounded() {
        let all = items(0..150);
        let first = page_list(all.clone(), None, None).unwrap();
        assert_eq!(first.items.len(), DEFAULT_LIST_PAGE_SIZE);
        assert_eq!(first.next_cursor.as_deref(), Some("o100.i99"));
        assert_eq!(
            page_list(all.clone(), Some(MAX_LIST_PAGE_SIZE), None)
                .unwrap()
                .items
                .len(),
            150
        );
        assert_eq!(
            key(page_list(all.clone(), Some(0), None).unwrap_err()),
            "page_size"
        );
        assert_eq!(
            key(page_list(all, Some(MAX_LIST_PAGE_SIZE + 1), None).unwrap_err()),
            "page_size"
        );
    }

    #[test]
    fn cursors_are_checked() {
        let all = items(0..5);
        // Empty asks for the first page; the last page has no next cursor.
        let whole = page_list(all.clone(), None, Some("")).unwrap();
        assert_eq!(whole.items, all);
        assert_eq!(whole.next_cursor, None);
        // A bare position, as earlier versions gave, is taken.
        assert_eq!(
            page_list(all.clone(), Some(2), Some("o3")).unwrap().items,
            items(3..5)
        );
        assert_eq!(
            page_list(all.clone(), Some(2), Some("o1.i2"))
                .unwrap()
                .items,
            items(3..5)
        );
        let past = page_list(all.clone(), None, Some(&format!("o{}", "9".repeat(19)))).unwrap();
        assert!(past.items.is_empty());
        assert_eq!(past.next_cursor, None);
        let long_id = format!("o1.{}", "a".repeat(65));
        for bad in [
            "garbage", "o", "o-1", "o1a", "x12", "o1.", "o.i1", "o1.i 1", "o1.i.1", &long_id,
        ] {
            assert_eq!(
                key(page_list(all.clone(), None, Some(bad)).unwrap_err()),
                "cursor",
                "{bad}"
            );
        }
        let too_long = format!("o{}", "9".repeat(20));
        assert_eq!(
            key(page_list(all, None, Some(&too_long)).unwrap_err()),
            "cursor"
        );
    }

    #[test]
    fn the_pattern_takes_what_the_decoder_takes() {
        let re = regex::Regex::new(LIST_CURSOR_PATTERN).unwrap();
        for good in ["", "o0", "o12.tbl3q9Rlsn6G7AM9m", "o1.a_b-c"] {
            assert!(re.is_match(good), "{good}");
            assert!(good.is_empty() || decode_cursor(good).is_some(), "{good}");
        }
        for bad in ["o", "o1.", "o1.a.b", "x1"] {
            assert!(!re.is_match(bad), "{bad}");
            assert!(decode_cursor(bad).is_none(), "{bad}");
        }
    }
}
