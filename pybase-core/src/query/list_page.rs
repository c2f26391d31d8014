//! Paging of short lists (workspaces, members, bases, tables, fields, views,
//! API keys, webhooks), read whole in the store's stable order: by a key
//! (a position, or a creation time) and then by id. A cursor holds the
//! key and id of the previous page's last item, and the next page starts
//! at the first item after it in that order, whether or not it still
//! exists: items added or deleted between two pages neither skip nor
//! repeat another (an item moved to another position between two pages is
//! listed where it is when its page is read). Records page by keyset too
//! (see [`super::plan`]).

use crate::error::{Error, Result};
use crate::model::{ApiKey, Base, Field, Member, Table, View, Workspace};
use crate::store::Webhook;

/// Default number of items in a page of a list.
pub const DEFAULT_LIST_PAGE_SIZE: usize = 100;
/// Largest page of a list a client may ask for.
pub const MAX_LIST_PAGE_SIZE: usize = 1000;
/// What a list's cursor looks like: `k`, the previous page's last item's
/// key (an integer) and, after a `.`, its id; or, as earlier versions gave,
/// `o` and a position (at most 19 digits); empty means the first page.
pub const LIST_CURSOR_PATTERN: &str = "^(o[0-9]{1,19}|k-?[0-9]{1,19}[.][A-Za-z0-9_-]{1,64})?$";

/// An item of a short list, which the store lists by [`Self::list_key`],
/// then by id.
pub trait Listed {
    /// The item's id.
    fn list_id(&self) -> &str;
    /// What the list is ordered by first: a position, or a creation time
    /// in microseconds.
    fn list_key(&self) -> i64;
}

macro_rules! listed {
    ($($ty:ty => |$item:ident| $key:expr),* $(,)?) => {$(
        impl Listed for $ty {
            fn list_id(&self) -> &str {
                self.id.as_str()
            }
            fn list_key(&self) -> i64 {
                let $item = self;
                $key
            }
        }
    )*};
}

listed!(
    ApiKey => |k| k.created_at.timestamp_micros(),
    Base => |b| b.created_at.timestamp_micros(),
    Workspace => |w| w.created_at.timestamp_micros(),
    Webhook => |w| w.created_at.timestamp_micros(),
    Field => |f| f.position,
    Table => |t| t.position,
    View => |v| v.position,
);

impl Listed for Member {
    fn list_id(&self) -> &str {
        self.user.id.as_str()
    }
    fn list_key(&self) -> i64 {
        self.created_at.timestamp_micros()
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

/// A decoded cursor.
enum ListCursor<'a> {
    /// After the item of this key and id.
    After(i64, &'a str),
    /// At a position (earlier versions' cursors).
    At(usize),
}

/// Cuts `all` (in the store's order, see [`Listed`]) into the page of
/// `page_size` items (1 to [`MAX_LIST_PAGE_SIZE`], default
/// [`DEFAULT_LIST_PAGE_SIZE`]) that follows `cursor` (a previous page's
/// `next_cursor`; absent or empty for the first page), as the module's
/// documentation says. A cursor past the end gives an empty page.
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
        Some(c) => match decode_cursor(c) {
            Some(ListCursor::At(position)) => position,
            Some(ListCursor::After(key, id)) => all
                .iter()
                .position(|item| (item.list_key(), item.list_id()) > (key, id))
                .unwrap_or(all.len()),
            None => {
                return Err(Error::invalid(
                    "cursor",
                    "a next_cursor returned by this list: k, an integer, a dot and an id",
                ));
            }
        },
    };
    let total = all.len();
    let items: Vec<T> = all.into_iter().skip(start).take(size).collect();
    let end = start + items.len();
    let next_cursor = match items.last() {
        Some(last) if end < total => Some(encode_cursor(last, end)),
        _ => None,
    };
    Ok(ListPage { items, next_cursor })
}

/// The cursor of the page after `last` (at `position`: the cursor names
/// only the position if the id does not fit the pattern).
fn encode_cursor<T: Listed>(last: &T, position: usize) -> String {
    let id = last.list_id();
    if valid_id(id) {
        format!("k{}.{id}", last.list_key())
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

/// Whether `digits` is 1 to 19 ASCII digits.
fn valid_digits(digits: &str) -> bool {
    (1..=19).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A cursor matching [`LIST_CURSOR_PATTERN`].
fn decode_cursor(c: &str) -> Option<ListCursor<'_>> {
    if let Some(digits) = c.strip_prefix('o') {
        return valid_digits(digits)
            .then(|| digits.parse().ok().map(ListCursor::At))
            .flatten();
    }
    let (key, id) = c.strip_prefix('k')?.split_once('.')?;
    let digits = key.strip_prefix('-').unwrap_or(key);
    if !valid_digits(digits) || !valid_id(id) {
        return None;
    }
    Some(ListCursor::After(key.parse().ok()?, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A list item: key `n`, id `i<n>` (three digits, so ids sort as keys).
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Item(i64, String);

    impl Listed for Item {
        fn list_id(&self) -> &str {
            &self.1
        }
        fn list_key(&self) -> i64 {
            self.0
        }
    }

    fn item(n: i64) -> Item {
        Item(n, format!("i{n:03}"))
    }

    fn items(range: std::ops::Range<i64>) -> Vec<Item> {
        range.map(item).collect()
    }

    fn key(e: Error) -> String {
        match e {
            Error::Validation { fields, .. } => fields.into_keys().collect::<Vec<_>>().join(","),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    /// Every page of `all` of `size`, each read after `change` (what other
    /// writers did in between) made to the list.
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

    /// `all` without the items numbered in `gone`.
    fn without(all: Vec<Item>, gone: &[i64]) -> Vec<Item> {
        all.into_iter().filter(|i| !gone.contains(&i.0)).collect()
    }

    #[test]
    fn pages_walk_the_whole_list_once() {
        let all = items(0..250);
        let first = page_list(all.clone(), Some(100), None).unwrap();
        assert_eq!(first.next_cursor.as_deref(), Some("k99.i099"));
        assert_eq!(walk(all.clone(), 100, |_, _| {}), all);
    }

    #[test]
    fn items_added_or_deleted_between_pages_neither_skip_nor_repeat() {
        // An item of the first page deleted: the second page still starts
        // right after the first page's last.
        let seen = walk(items(0..10), 4, |page, all| {
            if page == 1 {
                all.remove(1);
            }
        });
        assert_eq!(seen, items(0..10), "i004 is not skipped");
        // An item added before the cursor is not listed, nor is the first
        // page's last repeated; one added after it is listed.
        let seen = walk(items(1..10), 4, |page, all| {
            if page == 1 {
                all.insert(0, item(0));
                all.push(item(10));
            }
        });
        assert_eq!(seen, items(1..11));
    }

    #[test]
    fn a_deleted_last_item_skips_nothing() {
        // The first page's last item goes, and one before it.
        let seen = walk(items(0..10), 4, |page, all| {
            if page == 1 {
                all.retain(|i| i.0 != 3 && i.0 != 1);
            }
        });
        assert_eq!(seen, items(0..10));
        // The first page's last and the next page's first go.
        let seen = walk(items(0..10), 4, |page, all| {
            if page == 1 {
                all.retain(|i| i.0 != 3 && i.0 != 4);
            }
        });
        assert_eq!(seen, without(items(0..10), &[4]));
    }

    #[test]
    fn ties_on_the_key_are_ordered_by_id() {
        let all: Vec<Item> = ["a", "b", "c", "d"]
            .iter()
            .map(|id| Item(7, (*id).to_owned()))
            .collect();
        let first = page_list(all.clone(), Some(2), None).unwrap();
        assert_eq!(first.next_cursor.as_deref(), Some("k7.b"));
        let seen = walk(all.clone(), 2, |page, all| {
            if page == 1 {
                all.remove(1);
            }
        });
        assert_eq!(seen, all);
    }

    #[test]
    fn size_defaults_and_is_bounded() {
        let all = items(0..150);
        let first = page_list(all.clone(), None, None).unwrap();
        assert_eq!(first.items.len(), DEFAULT_LIST_PAGE_SIZE);
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
            page_list(all.clone(), Some(2), Some("k2.i002"))
                .unwrap()
                .items,
            items(3..5)
        );
        assert_eq!(
            page_list(all.clone(), Some(2), Some("k-5.x"))
                .unwrap()
                .items,
            items(0..2)
        );
        for past in [format!("o{}", "9".repeat(19)), "k99.a".to_owned()] {
            let page = page_list(all.clone(), None, Some(&past)).unwrap();
            assert!(page.items.is_empty());
            assert_eq!(page.next_cursor, None);
        }
        let long_id = format!("k1.{}", "a".repeat(65));
        let long_key = format!("k{}.a", "9".repeat(20));
        for bad in [
            "garbage", "o", "o-1", "o1a", "x12", "o1.i1", "k1", "k1.", "k.i1", "k1.i 1", "k1.i.1",
            "k--1.a", "k+1.a", &long_id, &long_key,
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
        for good in ["o0", "o12", "k12.tbl3q9Rlsn6G7AM9m", "k-1.a_b-c"] {
            assert!(re.is_match(good), "{good}");
            assert!(decode_cursor(good).is_some(), "{good}");
        }
        assert!(re.is_match(""));
        for bad in ["o", "o1.a", "k1", "k1.", "k1.a.b", "x1", "k-.a"] {
            assert!(!re.is_match(bad), "{bad}");
            assert!(decode_cursor(bad).is_none(), "{bad}");
        }
    }
}
