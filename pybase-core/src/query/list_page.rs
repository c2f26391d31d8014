//! Paging of short lists (workspaces, members, bases, tables, fields, views,
//! API keys): offset cursors over a list read whole in the store's stable
//! order. Records page by keyset instead (see [`super::plan`]).

use crate::error::{Error, Result};

/// Default number of items in a page of a list.
pub const DEFAULT_LIST_PAGE_SIZE: usize = 100;
/// Largest page of a list a client may ask for.
pub const MAX_LIST_PAGE_SIZE: usize = 1000;
/// What a list's cursor looks like: `o` and a position, at most 19 digits
/// (so every one fits a `usize`); empty means the first page.
pub const LIST_CURSOR_PATTERN: &str = "^(o[0-9]{1,19})?$";

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Cursor of the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Cuts `all` (in a stable order) into the page of `page_size` items (1 to
/// [`MAX_LIST_PAGE_SIZE`], default [`DEFAULT_LIST_PAGE_SIZE`]) starting at
/// `cursor` (a previous page's `next_cursor`; absent or empty for the first
/// page). A position past the end gives an empty page.
pub fn page_list<T>(
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
        Some(c) => decode_cursor(c).ok_or_else(|| {
            Error::invalid(
                "cursor",
                "a next_cursor returned by this list: o and at most 19 digits",
            )
        })?,
    };
    let total = all.len();
    let items: Vec<T> = all.into_iter().skip(start).take(size).collect();
    let end = start + items.len();
    let next_cursor = (end < total).then(|| format!("o{end}"));
    Ok(ListPage { items, next_cursor })
}

/// The position of a cursor matching [`LIST_CURSOR_PATTERN`].
fn decode_cursor(c: &str) -> Option<usize> {
    let digits = c.strip_prefix('o')?;
    if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(e: Error) -> String {
        match e {
            Error::Validation { fields, .. } => fields.into_keys().collect::<Vec<_>>().join(","),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn pages_walk_the_whole_list_once() {
        let all: Vec<u32> = (0..250).collect();
        let mut cursor: Option<String> = None;
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let page = page_list(all.clone(), Some(100), cursor.as_deref()).unwrap();
            pages += 1;
            seen.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, all);
        assert_eq!(pages, 3);
    }

    #[test]
    fn size_defaults_and_is_bounded() {
        let all: Vec<u32> = (0..150).collect();
        let first = page_list(all.clone(), None, None).unwrap();
        assert_eq!(first.items.len(), DEFAULT_LIST_PAGE_SIZE);
        assert_eq!(first.next_cursor.as_deref(), Some("o100"));
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
        let all: Vec<u32> = (0..5).collect();
        // Empty asks for the first page; the last page has no next cursor.
        let whole = page_list(all.clone(), None, Some("")).unwrap();
        assert_eq!(whole.items, all);
        assert_eq!(whole.next_cursor, None);
        assert_eq!(
            page_list(all.clone(), Some(2), Some("o3")).unwrap().items,
            vec![3, 4]
        );
        let past = page_list(all.clone(), None, Some(&format!("o{}", "9".repeat(19)))).unwrap();
        assert!(past.items.is_empty());
        assert_eq!(past.next_cursor, None);
        for bad in ["garbage", "o", "o-1", "o1a", "x12"] {
            assert_eq!(
                key(page_list(all.clone(), None, Some(bad)).unwrap_err()),
                "cursor"
            );
        }
        let too_long = format!("o{}", "9".repeat(20));
        assert_eq!(
            key(page_list(all, None, Some(&too_long)).unwrap_err()),
            "cursor"
        );
    }
}
