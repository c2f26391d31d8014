//! One module per resource, each exposing `router()`.

pub mod api_keys;
pub mod attachments;
pub mod auth;
pub mod bases;
pub mod fields;
pub mod records;
pub mod tables;
pub mod views;
pub mod workspaces;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::state::AppState;

/// Default page size of lists.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Largest page size of lists.
pub const MAX_PAGE_SIZE: usize = 1000;

/// Every route of the API, each declared once: a handler with its
/// `#[utoipa::path]` annotation, registered by one `routes!(...)` line in
/// its module's `routes()`. The axum router and the OpenAPI paths (and so
/// the route matrix and the docs test, which read the document) both come
/// from this table. Uploads accept bodies up to `upload_limit` bytes.
pub(crate) fn declared(upload_limit: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(crate::health::handler))
        .merge(auth::routes())
        .merge(api_keys::routes())
        .merge(workspaces::routes())
        .merge(bases::routes())
        .merge(tables::routes())
        .merge(fields::routes())
        .merge(views::routes())
        .merge(records::routes())
        .merge(attachments::routes(upload_limit))
}

/// `?page_size=&cursor=` of a list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub page_size: Option<usize>,
    /// The previous page's `next_cursor` (`o` and the position of the
    /// page's first item); empty or absent for the first page. A position
    /// past the end gives an empty page.
    #[param(pattern = "^(o[0-9]{1,19})?$")]
    pub cursor: Option<String>,
}

/// What a list's cursor looks like: `o` and a position, at most 19 digits
/// (so every one fits a `usize`).
pub const PAGE_CURSOR_PATTERN: &str = "^(o[0-9]{1,19})?$";

/// A page of a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Cursor of the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl PageParams {
    /// Cuts `all` (in the store's stable order) into the requested page.
    pub fn page<T>(&self, all: Vec<T>) -> Result<Page<T>, ApiError> {
        let size = self.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&size) {
            return Err(ApiError::invalid(
                "page_size",
                format!("a number from 1 to {MAX_PAGE_SIZE}, got {size}"),
            ));
        }
        // `?cursor=` (empty) asks for the first page, as no cursor does.
        let start = match self.cursor.as_deref() {
            None | Some("") => 0,
            Some(c) => decode_cursor(c).ok_or_else(|| {
                ApiError::invalid(
                    "cursor",
                    "a next_cursor returned by this list: o and at most 19 digits",
                )
            })?,
        };
        let total = all.len();
        let items: Vec<T> = all.into_iter().skip(start).take(size).collect();
        let end = start + items.len();
        let next_cursor = (end < total).then(|| format!("o{end}"));
        Ok(Page { items, next_cursor })
    }
}

/// The position of a cursor matching [`PAGE_CURSOR_PATTERN`].
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

    #[test]
    fn pages_walk_the_whole_list() {
        let all: Vec<u32> = (0..250).collect();
        let mut params = PageParams {
            page_size: Some(100),
            cursor: None,
        };
        let mut seen = Vec::new();
        loop {
            let page = params.page(all.clone()).unwrap();
            seen.extend(page.items);
            match page.next_cursor {
                Some(c) => params.cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, all);
        params.cursor = Some("garbage".into());
        assert!(params.page(all.clone()).is_err());
        params.cursor = Some(format!("o{}", "9".repeat(19)));
        assert!(params.page(all.clone()).unwrap().items.is_empty());
        params.cursor = Some(format!("o{}", "9".repeat(20)));
        assert!(params.page(all.clone()).is_err());
        params.cursor = None;
        params.page_size = Some(0);
        assert!(params.page(all).is_err());
    }
}
