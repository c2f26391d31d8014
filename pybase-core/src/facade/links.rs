//! Two-way links: the inverse field made beside a new link field.
//!
//! A link from table A to another table B is two-way unless its options say
//! `"two_way": false`: B gains an ordinary link field back to A, named after
//! A (`Tasks`, then `Tasks 2`, ... if taken), and each names the other in
//! `inverse_field_id`. The stores keep the pair's cells in step
//! (`crate::store::links`). A link to its own table is one-way.

use super::Pybase;
use super::authz::TableScope;
use super::workspaces::MAX_NAME_CHARS;
use crate::error::Result;
use crate::fields::FieldType;
use crate::fields::kinds::Link;
use crate::ids::{FieldId, TableId};
use crate::model::{Field, IndexOrigin};

/// A name based on `base` that no field of `taken` has (ignoring case).
pub(crate) fn unique_name(base: &str, taken: &[Field]) -> String {
    let free = |name: &str| {
        let folded = name.to_lowercase();
        !taken.iter().any(|f| f.name.to_lowercase() == folded)
    };
    if free(base) {
        return base.to_owned();
    }
    (2..)
        .map(|n| {
            let suffix = format!(" {n}");
            let room = MAX_NAME_CHARS.saturating_sub(suffix.chars().count());
            let stem: String = base.chars().take(room).collect();
            format!("{}{suffix}", stem.trim_end())
        })
        .find(|name| free(name))
        .unwrap_or_else(|| FieldId::new().to_string())
}

/// The link options of `ft`, to set or read the pairing.
fn link_mut(ft: &mut FieldType) -> Option<&mut Link> {
    match ft {
        FieldType::Link(link) => Some(link),
        _ => None,
    }
}

/// `field` without any pairing (as a new table's links are first stored).
pub(crate) fn one_way(field: &Field) -> Field {
    let mut out = field.clone();
    if let Some(link) = link_mut(&mut out.field_type) {
        link.inverse_field_id = None;
        link.two_way = true;
    }
    out
}

impl Pybase {
    /// The inverse of the new link field `field` of `table`, if it is to be
    /// two-way; `field` then names it in `inverse_field_id`. A client's own
    /// `inverse_field_id` is never kept. Refused when the linked table has
    /// no room for another field.
    pub(crate) async fn inverse_for(
        &self,
        table: &TableScope,
        field: &mut Field,
    ) -> Result<Option<Field>> {
        self.inverse_beside(table, field, &[]).await
    }

    /// [`Self::inverse_for`], with `pending` inverses (not stored yet) taken
    /// into account for names, positions and the field limit.
    async fn inverse_beside(
        &self,
        table: &TableScope,
        field: &mut Field,
        pending: &[Field],
    ) -> Result<Option<Field>> {
        let Some(link) = link_mut(&mut field.field_type) else {
            return Ok(None);
        };
        link.inverse_field_id = None;
        let two_way = std::mem::replace(&mut link.two_way, true);
        let linked: TableId = link.linked_table_id;
        if !two_way || linked == table.id() {
            return Ok(None);
        }
        let mut siblings = self.store.list_fields(linked).await?;
        siblings.extend(pending.iter().filter(|f| f.table_id == linked).cloned());
        self.limits
            .check_field_count("linked table fields", siblings.len() + 1)?;
        let id = FieldId::new();
        link.inverse_field_id = Some(id);
        let mut back = Link::to(table.id(), true);
        back.inverse_field_id = Some(field.id);
        Ok(Some(Field {
            id,
            table_id: linked,
            name: unique_name(&table.table().name, &siblings),
            description: None,
            field_type: FieldType::Link(back),
            position: siblings.iter().map(|f| f.position + 1).max().unwrap_or(0),
            indexed: false,
            index_origin: IndexOrigin::Manual,
            status: crate::model::FieldStatus::Ready,
            created_at: field.created_at,
            updated_at: field.updated_at,
        }))
    }

    /// The inverses of the link fields of a table about to be created
    /// (validated before anything is stored); each link names its inverse.
    pub(crate) async fn plan_inverses(
        &self,
        table: &TableScope,
        fields: &mut [Field],
    ) -> Result<Vec<Field>> {
        let mut planned: Vec<Field> = Vec::new();
        for field in fields.iter_mut() {
            if let Some(inverse) = self.inverse_beside(table, field, &planned).await? {
                planned.push(inverse);
            }
        }
        Ok(planned)
    }

    /// Stores the planned inverses of a table just created and saves its
    /// links naming them (each inverse first; a failure to save its link
    /// removes that inverse again).
    pub(crate) async fn store_inverses(&self, fields: &[Field], inverses: &[Field]) -> Result<()> {
        for inverse in inverses {
            let Some(link) = inverse
                .field_type
                .inverse_field_id()
                .and_then(|id| fields.iter().find(|f| f.id == id))
            else {
                continue;
            };
            self.store.create_field(inverse).await?;
            if let Err(e) = self.store.update_field(link).await {
                let _ = self.store.delete_field(inverse.id).await;
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// A re-typed or re-optioned field keeps its partner while it still
    /// links to the same table (unless the new options say `"two_way":
    /// false`); otherwise it loses it, and the store turns the partner
    /// into a one-way link.
    pub(crate) fn keep_pairing(old: &Field, field: &mut Field) {
        let old_link = match &old.field_type {
            FieldType::Link(l) => Some((l.linked_table_id, l.inverse_field_id)),
            _ => None,
        };
        if let Some(link) = link_mut(&mut field.field_type) {
            let two_way = std::mem::replace(&mut link.two_way, true);
            link.inverse_field_id = match old_link {
                Some((t, inverse)) if t == link.linked_table_id && two_way => inverse,
                _ => None,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TableId;

    fn named(name: &str) -> Field {
        let now = chrono::DateTime::UNIX_EPOCH;
        Field {
            id: FieldId::new(),
            table_id: TableId::new(),
            name: name.into(),
            description: None,
            field_type: FieldType::Link(Link::to(TableId::new(), true)),
            position: 0,
            indexed: false,
            index_origin: IndexOrigin::Manual,
            status: crate::model::FieldStatus::Ready,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn inverse_names_are_made_unique_ignoring_case() {
        assert_eq!(unique_name("Tasks", &[named("Name")]), "Tasks");
        assert_eq!(unique_name("Tasks", &[named("tasks")]), "Tasks 2");
        assert_eq!(
            unique_name("Tasks", &[named("TASKS"), named("Tasks 2")]),
            "Tasks 3"
        );
        let long = "x".repeat(MAX_NAME_CHARS);
        let name = unique_name(&long, &[named(&long)]);
        assert_eq!(name.chars().count(), MAX_NAME_CHARS);
        assert!(name.ends_with(" 2"));
    }
}
