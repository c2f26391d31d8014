//! The bounded cache of parsed fields that backends keep, keyed by a
//! version each backend reads in the same statement or transaction as the
//! data it serves (so a stale entry is never used, whoever changed the
//! fields). Backends supply only the version key ([`FieldsVersion`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::records::{CachedFields, FieldsVersion};
use crate::ids::{TableId, WorkspaceId};
use crate::model::Field;

/// Most tables whose fields a [`FieldsCache`] keeps; past it, it starts over.
pub const FIELDS_CACHE_TABLES: usize = 4096;

/// Parsed fields by table, each with the version they were read at.
#[derive(Debug, Default)]
pub struct FieldsCache {
    tables: Mutex<HashMap<TableId, CachedFields>>,
}

impl FieldsCache {
    /// The fields of `table` if they were read at `version`.
    pub fn get(&self, table: TableId, version: &FieldsVersion) -> Option<Arc<[Field]>> {
        self.get_where(table, |v| v == version)
    }

    /// The fields of `table` if the version they were read at satisfies
    /// `current` (for a backend whose key is cheaper to compare than to
    /// build, such as [`FieldsVersion::is_counter`]).
    pub fn get_where(
        &self,
        table: TableId,
        current: impl FnOnce(&FieldsVersion) -> bool,
    ) -> Option<Arc<[Field]>> {
        self.tables
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&table)
            .filter(|c| current(&c.version))
            .map(|c| Arc::clone(&c.fields))
    }

    /// Keeps `fields` of `table` (in `workspace`) as read at `version`,
    /// replacing any older entry; a full cache starts over.
    pub fn put(
        &self,
        workspace: WorkspaceId,
        table: TableId,
        version: FieldsVersion,
        fields: Arc<[Field]>,
    ) {
        let mut tables = self.tables.lock().unwrap_or_else(PoisonError::into_inner);
        if tables.len() >= FIELDS_CACHE_TABLES && !tables.contains_key(&table) {
            tables.clear();
        }
        tables.insert(
            table,
            CachedFields {
                workspace_id: workspace,
                fields,
                version,
            },
        );
    }

    /// The entry of `table`, whatever its version (for
    /// [`super::RecordsStore::cached_fields`]).
    pub fn cached(&self, table: TableId) -> Option<CachedFields> {
        self.tables
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&table)
            .cloned()
    }

    /// How many tables it holds.
    pub fn len(&self) -> usize {
        self.tables
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether it holds no table.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Arc<[Field]> {
        Arc::from(Vec::<Field>::new())
    }

    #[test]
    fn an_entry_serves_only_its_version() {
        let cache = FieldsCache::default();
        let (ws, t) = (WorkspaceId::new(), TableId::new());
        assert!(cache.get(t, &FieldsVersion::counter(1)).is_none());
        assert!(cache.cached(t).is_none());
        cache.put(ws, t, FieldsVersion::counter(1), fields());
        assert!(cache.get(t, &FieldsVersion::counter(1)).is_some());
        assert!(cache.get(t, &FieldsVersion::counter(2)).is_none());
        assert!(
            cache
                .get(TableId::new(), &FieldsVersion::counter(1))
                .is_none()
        );
        let entry = cache.cached(t).expect("the entry");
        assert_eq!(entry.workspace_id, ws);
        assert_eq!(entry.version, FieldsVersion::counter(1));
        cache.put(ws, t, FieldsVersion::counter(2), fields());
        assert!(cache.get(t, &FieldsVersion::counter(1)).is_none());
        assert!(cache.get(t, &FieldsVersion::counter(2)).is_some());
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = FieldsCache::default();
        let ws = WorkspaceId::new();
        let first = TableId::new();
        cache.put(ws, first, FieldsVersion::counter(0), fields());
        for _ in 1..FIELDS_CACHE_TABLES {
            cache.put(ws, TableId::new(), FieldsVersion::counter(0), fields());
        }
        assert_eq!(cache.len(), FIELDS_CACHE_TABLES);
        // Refreshing a table it holds keeps the rest.
        cache.put(ws, first, FieldsVersion::counter(1), fields());
        assert_eq!(cache.len(), FIELDS_CACHE_TABLES);
        let newcomer = TableId::new();
        cache.put(ws, newcomer, FieldsVersion::counter(0), fields());
        assert_eq!(cache.len(), 1);
        assert!(cache.get(newcomer, &FieldsVersion::counter(0)).is_some());
        assert!(cache.cached(first).is_none());
    }
}
