//! Table names, unique in a base ignoring case (issue 11): each table row
//! keeps its name's key (`tables.name_key`, [`pybase_core::model::name_key`])
//! under a unique index with its base, so checking a name is an index
//! lookup however many tables a base holds, and two concurrent creates of
//! one name end with one table (migration `20261129400000_table_name_key`).

use pybase_core::ids::{BaseId, TableId};
use pybase_core::model::name_key;
use pybase_core::{StoreError, StoreResult};
use sqlx::PgPool;

use crate::error::{ResultExt, sqlstate};

/// How many times [`key_remaining`] goes over the tables still without a
/// key: a pass only repeats when another process keyed a table of the same
/// key at the same moment (a unique violation), so the next pass sees it.
const PASSES: usize = 3;

/// Keys the tables the migration's SQL could not (names with characters
/// beyond ASCII, which only Rust lowercases by core's rules): each gets its
/// name's key, or the key suffixed with U+001F and its id when another
/// table of its base already has it (a database written before the rule).
/// Run by [`crate::PgStore::migrate`]; finds nothing to do (one lookup in a
/// partial index) once every table is keyed.
pub(crate) async fn key_remaining(pool: &PgPool) -> StoreResult<()> {
    for _ in 0..PASSES {
        let unkeyed: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, name FROM tables WHERE name_key IS NULL ORDER BY base_id, position, id",
        )
        .fetch_all(pool)
        .await
        .db()?;
        if unkeyed.is_empty() {
            return Ok(());
        }
        let mut raced = false;
        for (id, name) in unkeyed {
            let done = sqlx::query(
                "UPDATE tables t SET name_key = CASE WHEN EXISTS (SELECT 1 FROM tables o \
                 WHERE o.base_id = t.base_id AND o.name_key = $2) \
                 THEN $2 || chr(31) || t.id ELSE $2 END \
                 WHERE t.id = $1 AND t.name_key IS NULL",
            )
            .bind(&id)
            .bind(name_key(&name))
            .execute(pool)
            .await;
            match done {
                Ok(_) => {}
                // Another process keyed a table of this key meanwhile.
                Err(e) if sqlstate(&e).as_deref() == Some("23505") => raced = true,
                Err(e) => return Err(crate::error::PgError::from(e).into()),
            }
        }
        if !raced {
            return Ok(());
        }
    }
    Err(StoreError::backend(
        crate::error::BACKEND,
        "tables without a name key remain after the migration's passes",
    ))
}

/// Whether a table of `base` other than `except` has `name`'s key.
pub(crate) async fn taken(
    pool: &PgPool,
    base: BaseId,
    name: &str,
    except: Option<TableId>,
) -> StoreResult<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM tables WHERE base_id = $1 AND name_key = $2 \
         AND id <> $3)",
    )
    .bind(base.as_str())
    .bind(name_key(name))
    .bind(except.as_ref().map_or("", TableId::as_str))
    .fetch_one(pool)
    .await
    .db()
}

/// One more than the highest position of `base`'s tables, 0 for none: the
/// last entry of the `(base_id, position, id)` index.
pub(crate) async fn next_position(pool: &PgPool, base: BaseId) -> StoreResult<i64> {
    let last: Option<i64> = sqlx::query_scalar(
        "SELECT position FROM tables WHERE base_id = $1 ORDER BY position DESC LIMIT 1",
    )
    .bind(base.as_str())
    .fetch_optional(pool)
    .await
    .db()?;
    Ok(last.map_or(0, |p| p.saturating_add(1)))
}
