//! One module per resource, each exposing `router()`.

pub mod api_keys;
pub mod attachments;
pub mod auth;
pub mod bases;
pub mod changes;
pub mod fields;
pub mod formula;
pub mod records;
pub mod tables;
pub mod views;
pub mod webhooks;
pub mod workspaces;

use pybase_core::query::Listed;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::state::AppState;

/// Default page size of lists.
pub const DEFAULT_PAGE_SIZE: usize = pybase_core::query::DEFAULT_LIST_PAGE_SIZE;
/// Largest page size of lists.
pub const MAX_PAGE_SIZE: usize = pybase_core::query::MAX_LIST_PAGE_SIZE;

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
        .merge(formula::routes())
        .merge(views::routes())
        .merge(records::routes())
        .merge(attachments::routes(upload_limit))
        .merge(changes::routes())
        .merge(webhooks::routes())
}

/// `?page_size=&cursor=` of a list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub page_size: Option<usize>,
    /// The previous page's `next_cursor` (`k`, the key of its last item in
    /// the list's order, `.` and that item's id: the page starts after
    /// where that item is or was; a bare `o<position>` from earlier
    /// versions is still taken); empty or absent for the first page. A
    /// cursor past the end gives an empty page.
    #[param(pattern = "^(o[0-9]{1,19}|k-?[0-9]{1,19}[.][A-Za-z0-9_-]{1,64})?$")]
    pub cursor: Option<String>,
}

/// What a list's cursor looks like (core's [`pybase_core::query::LIST_CURSOR_PATTERN`],
/// written out in [`PageParams`]' `cursor` for the OpenAPI document).
pub const PAGE_CURSOR_PATTERN: &str = pybase_core::query::LIST_CURSOR_PATTERN;

/// A page of a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Cursor of the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl PageParams {
    /// Cuts `all` (in the store's stable order) into the requested page
    /// (the rules are core's, [`pybase_core::query::page_list`]).
    pub fn page<T: Listed>(&self, all: Vec<T>) -> Result<Page<T>, ApiError> {
        let page = pybase_core::query::page_list(all, self.page_size, self.cursor.as_deref())?;
        Ok(Page {
            items: page.items,
            next_cursor: page.next_cursor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_walk_the_whole_list() {
        #[derive(Debug, Clone, PartialEq)]
        struct Item(String);
        impl Listed for Item {
            fn list_id(&self) -> &str {
                &self.0
            }
            fn list_key(&self) -> i64 {
                0
            }
        }
        let all: Vec<Item> = (0..250).map(|n| Item(format!("i{n:03}"))).collect();
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

    /// The OpenAPI document's pattern is core's.
    #[test]
    fn the_documented_cursor_pattern_is_cores() {
        use utoipa::IntoParams;
        let params = PageParams::into_params(|| None);
        let cursor = params
            .iter()
            .find(|p| p.name == "cursor")
            .expect("a cursor parameter");
        let json = serde_json::to_value(cursor).unwrap();
        assert_eq!(
            json["schema"]["pattern"],
            serde_json::json!(PAGE_CURSOR_PATTERN),
            "{json}"
        );
    }
}
