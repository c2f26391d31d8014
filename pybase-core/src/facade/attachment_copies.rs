//! Attachments written into another table, as Airtable re-hosts them: an
//! attachment cell may name an attachment uploaded to another table the
//! caller can read (by id, or on `/v0` by its URL), and the write stores a
//! copy of it for this table: new metadata and a copy of the bytes, so
//! each table's attachments stand alone (and go with it). The copies are
//! made only once the whole write validated. Ids of attachments the caller
//! cannot read are left as they are, and validation refuses them as it
//! refuses unknown ids (their existence is not told).

use std::collections::HashMap;

use object_store::ObjectStoreExt as _;
use object_store::path::Path;
use serde_json::Value;

use super::Pybase;
use super::attachments::internal;
use super::authz::TableScope;
use super::inputs::CellsInput;
use crate::error::{Error, Result};
use crate::fields::Reference;
use crate::ids::{AttachmentId, TableId};
use crate::model::{Attachment, Field};
use crate::principal::Principal;
use crate::query::FieldIndex;
use crate::role::Action;

/// The attachment id one cell item names (as the attachment kind reads
/// items: a string, or an object's `id`).
fn item_id(item: &Value) -> Option<AttachmentId> {
    crate::fields::item_id(item).and_then(|text| AttachmentId::parse(text).ok())
}

/// The attachment cells of `inputs`, each as its list of items.
fn attachment_cells<'i>(
    index: &FieldIndex<'_>,
    inputs: &'i mut [&mut CellsInput],
) -> impl Iterator<Item = &'i mut Vec<Value>> {
    inputs.iter_mut().flat_map(move |input| {
        input
            .iter_mut()
            .filter(|(key, _)| {
                index
                    .find(key)
                    .and_then(|f| f.field_type.references())
                    .is_some_and(|r| r == Reference::Attachments)
            })
            .filter_map(|(_, v)| v.as_array_mut())
    })
}

/// An attachment a write will copy into its table.
pub(super) struct Copy {
    /// The attachment of another table.
    source: Attachment,
    /// The id of its copy, which the write's cells already name.
    pub(super) id: AttachmentId,
    /// The copy's file name, when the cell gave one (`{"id", "filename"}`,
    /// as Airtable names an attachment added by URL).
    filename: Option<String>,
}

/// The `filename` an item gives, if a usable one.
fn item_filename(item: &Value) -> Option<String> {
    let name = item.get("filename")?.as_str()?.trim();
    (!name.is_empty() && name.chars().count() <= 255 && !name.chars().any(char::is_control))
        .then(|| name.to_owned())
}

impl Pybase {
    /// Rewrites the items of the attachment cells of `inputs` that name
    /// attachments of other tables `principal` can read to the ids their
    /// copies will have, and answers the copies to make once the write
    /// validated ([`Self::copy_attachments`]). A write naming only this
    /// table's attachments costs one read.
    pub(super) async fn plan_attachment_copies(
        &self,
        principal: &Principal,
        table: &TableScope,
        fields: &[Field],
        inputs: &mut [&mut CellsInput],
    ) -> Result<Vec<Copy>> {
        let index = FieldIndex::new(fields);
        let mut ids: Vec<AttachmentId> = attachment_cells(&index, inputs)
            .flat_map(|items| items.iter().filter_map(item_id).collect::<Vec<_>>())
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        ids.sort();
        ids.dedup();
        let foreign: Vec<Attachment> = self
            .store
            .get_attachments(&ids)
            .await?
            .into_iter()
            .filter(|a| a.table_id != table.id())
            .collect();
        if foreign.is_empty() {
            return Ok(Vec::new());
        }
        let mut readable: HashMap<TableId, bool> = HashMap::new();
        let mut copies = Vec::new();
        for a in foreign {
            let can_read = match readable.get(&a.table_id) {
                Some(yes) => *yes,
                None => {
                    let yes = match self.table_for(principal, a.table_id, Action::Read).await {
                        Ok(_) => true,
                        Err(Error::NotFound { .. } | Error::Forbidden(_)) => false,
                        Err(e) => return Err(e),
                    };
                    readable.insert(a.table_id, yes);
                    yes
                }
            };
            if can_read {
                copies.push(Copy {
                    source: a,
                    id: AttachmentId::new(),
                    filename: None,
                });
            }
        }
        for items in attachment_cells(&index, inputs) {
            for item in items.iter() {
                let Some(source) = item_id(item) else {
                    continue;
                };
                if let Some(c) = copies
                    .iter_mut()
                    .find(|c| c.source.id == source && c.filename.is_none())
                {
                    c.filename = item_filename(item);
                }
            }
        }
        let by_source: HashMap<AttachmentId, AttachmentId> =
            copies.iter().map(|c| (c.source.id, c.id)).collect();
        for items in attachment_cells(&index, inputs) {
            for item in items.iter_mut() {
                if let Some(copy) = item_id(item).and_then(|id| by_source.get(&id)) {
                    *item = Value::String(copy.to_string());
                }
            }
        }
        Ok(copies)
    }

    /// Makes the copies `copies` planned: bytes and metadata, uploaded to
    /// `table` by `principal` now.
    pub(super) async fn copy_attachments(
        &self,
        principal: &Principal,
        table: &TableScope,
        copies: &[Copy],
    ) -> Result<()> {
        for c in copies {
            let key = format!("attachments/{}/{}", table.id(), c.id);
            let path = Path::from(key.as_str());
            self.objects
                .copy(&Path::from(c.source.storage_key.as_str()), &path)
                .await
                .map_err(internal)?;
            let copy = Attachment {
                id: c.id,
                filename: c
                    .filename
                    .clone()
                    .unwrap_or_else(|| c.source.filename.clone()),
                table_id: table.id(),
                storage_key: key,
                created_by: Some(principal.user_id()),
                created_at: self.clock.now(),
                ..c.source.clone()
            };
            if let Err(e) = self.store.create_attachment(&copy).await {
                // No bytes left behind a failed metadata write.
                let _ = self.objects.delete(&path).await;
                return Err(e.into());
            }
        }
        Ok(())
    }
}
