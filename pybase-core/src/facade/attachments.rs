//! Attachments: bytes streamed to object storage, metadata in the store.

use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};

use serde_json::Value;

use super::render::{FieldKey, RecordOut};
use super::{Pybase, not_found_as};
use crate::error::{Error, Result};
use crate::fields::Reference;
use crate::ids::{AttachmentId, FieldId, RecordId, TableId};
use crate::model::{Attachment, Cells};
use crate::principal::Principal;
use crate::role::{Action, Role};
use crate::store::{CachedFields, FieldsVersion, RecordPatch, UpdateGuard};

/// Uploads smaller than this go in one request; larger ones are multipart.
const SINGLE_PUT_LIMIT: usize = 5 * 1024 * 1024;

/// Most rounds of read, append and compare-and-set one
/// [`Pybase::append_attachment`] makes before giving up with a conflict:
/// each round some writer of the cell succeeds, so this many appenders of
/// one cell at once all land.
pub const APPEND_ATTEMPTS: u32 = 32;

fn clean_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base.chars().filter(|c| !c.is_control()).take(255).collect();
    if cleaned.trim().is_empty() {
        "file".to_owned()
    } else {
        cleaned
    }
}

fn clean_content_type(ct: Option<&str>) -> String {
    match ct.map(str::trim) {
        Some(ct)
            if ct.len() <= 255
                && ct.contains('/')
                && ct.bytes().all(|b| b.is_ascii_graphic() || b == b' ') =>
        {
            ct.to_owned()
        }
        _ => "application/octet-stream".to_owned(),
    }
}

/// An object store failure, as an internal error.
pub(super) fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Internal(Box::new(e))
}

impl Pybase {
    /// Streams an upload into object storage (editor and above), hashing as
    /// it goes; never buffers more than 5 MiB. Over `max_bytes` the upload is
    /// aborted and [`Error::PayloadTooLarge`] returned.
    pub async fn upload_attachment<S, E>(
        &self,
        principal: &Principal,
        table: TableId,
        filename: &str,
        content_type: Option<&str>,
        body: S,
        max_bytes: u64,
    ) -> Result<Attachment>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: std::error::Error + Send + Sync + 'static,
    {
        let table = self
            .table_for(principal, table, Action::WriteRecords)
            .await?;
        let id = AttachmentId::new();
        let key = format!("attachments/{}/{}", table.id(), id);
        let path = Path::from(key.as_str());
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let mut buffer = BytesMut::new();
        let mut multipart: Option<WriteMultipart> = None;
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    if let Some(w) = multipart.take() {
                        let _ = w.abort().await;
                    }
                    return Err(Error::BadRequest(format!("upload interrupted: {e}")));
                }
            };
            size += chunk.len() as u64;
            if size > max_bytes {
                if let Some(w) = multipart.take() {
                    let _ = w.abort().await;
                }
                return Err(Error::PayloadTooLarge { limit: max_bytes });
            }
            hasher.update(&chunk);
            match multipart.as_mut() {
                Some(w) => {
                    w.wait_for_capacity(4).await.map_err(internal)?;
                    w.put(chunk);
                }
                None => {
                    buffer.extend_from_slice(&chunk);
                    if buffer.len() > SINGLE_PUT_LIMIT {
                        let upload = self.objects.put_multipart(&path).await.map_err(internal)?;
                        let mut w = WriteMultipart::new(upload);
                        w.put(buffer.split().freeze());
                        multipart = Some(w);
                    }
                }
            }
        }
        match multipart {
            Some(w) => {
                w.finish().await.map_err(internal)?;
            }
            None => {
                self.objects
                    .put(&path, PutPayload::from_bytes(buffer.freeze()))
                    .await
                    .map_err(internal)?;
            }
        }
        let attachment = Attachment {
            id,
            table_id: table.id(),
            filename: clean_filename(filename),
            content_type: clean_content_type(content_type),
            size,
            sha256: format!("{:x}", hasher.finalize()),
            storage_key: key,
            created_by: Some(principal.user_id()),
            created_at: self.clock.now(),
        };
        if let Err(e) = self.store.create_attachment(&attachment).await {
            // Do not leave orphaned bytes behind a failed metadata write.
            let _ = self.objects.delete(&path).await;
            return Err(e.into());
        }
        Ok(attachment)
    }

    /// Appends `attachment` (uploaded to `table`) to the attachment cell
    /// of `field` in live record `record` (editor and above) and answers
    /// the record as written, keyed by `key`.
    ///
    /// Atomic across processes without a lock: it reads the cell, appends,
    /// and writes only if the cell still holds what was read (the store's
    /// guarded update with [`UpdateGuard::cells`], checked under its row
    /// lock or write transaction); when another writer changed the cell
    /// meanwhile it reads again, up to [`APPEND_ATTEMPTS`] rounds, so
    /// concurrent appenders (several server instances included) all land.
    /// Each round re-checks the caller's role and the record. A cell that
    /// keeps changing past that is a `Conflict` on the field, nothing
    /// appended.
    #[allow(clippy::too_many_arguments)] // the cell's coordinates and the answer's key
    pub async fn append_attachment(
        &self,
        principal: &Principal,
        table: TableId,
        record: RecordId,
        field: FieldId,
        attachment: AttachmentId,
        key: FieldKey,
    ) -> Result<RecordOut> {
        for round in 0..APPEND_ATTEMPTS {
            let (scope, fields, current) = self
                .record_for(principal, table, record, Action::WriteRecords)
                .await?;
            let f = fields
                .iter()
                .find(|f| f.id == field)
                .ok_or_else(|| Error::invalid("field", "a field of this table"))?;
            if f.field_type.is_computed()
                || !matches!(f.field_type.references(), Some(Reference::Attachments))
            {
                return Err(Error::invalid(
                    f.name.clone(),
                    format!(
                        "an attachment field to append to, got a {} field",
                        f.field_type.type_name()
                    ),
                ));
            }
            if round == 0 {
                let found = self.store.get_attachments(&[attachment]).await?;
                if found.first().is_none_or(|a| a.table_id != scope.id()) {
                    return Err(Error::invalid(
                        f.name.clone(),
                        format!("attachments uploaded to this table, {attachment} is not one"),
                    ));
                }
            }
            let before = current
                .cells
                .get(field.as_str())
                .cloned()
                .unwrap_or(Value::Null);
            let mut items = before.as_array().cloned().unwrap_or_default();
            items.push(Value::String(attachment.to_string()));
            let after = Value::Array(items);
            self.limits
                .check_cell(&f.field_type, &after)
                .map_err(|e| Error::invalid(f.name.clone(), e))?;
            let after = f
                .field_type
                .validate_cell(&after, false)
                .map_err(|e| Error::invalid(f.name.clone(), e.expected))?
                .unwrap_or(after);
            let roles: Vec<Role> = Role::ALL
                .into_iter()
                .filter(|r| principal.allows(*r, Action::WriteRecords))
                .collect();
            // The fields as validated, with the version the store keys them
            // by when it holds them (a store without a cache compares the
            // fields themselves).
            let cached = self
                .store
                .cached_fields(table)
                .filter(|c| c.fields == fields)
                .unwrap_or_else(|| CachedFields {
                    workspace_id: scope.table().workspace_id,
                    fields: std::sync::Arc::clone(&fields),
                    version: FieldsVersion(std::sync::Arc::from([])),
                });
            let mut set = Cells::new();
            set.insert(field.to_string(), after);
            let mut expected = Cells::new();
            expected.insert(field.to_string(), before);
            let patch = RecordPatch {
                id: record,
                set,
                unset: Vec::new(),
                replace: false,
            };
            let guard = UpdateGuard {
                user: principal.user_id(),
                roles,
                fields: cached,
                cells: expected,
            };
            let written = self
                .store
                .update_record_guarded(
                    table,
                    &patch,
                    &guard,
                    self.clock.now(),
                    Some(principal.user_id()),
                )
                .await?;
            if let Some(written) = written {
                let mut out = self
                    .render_all(&fields, key, std::slice::from_ref(&written))
                    .await?;
                return out
                    .pop()
                    .ok_or_else(|| Error::Internal("render returned no record".into()));
            }
            // Another writer won this round: wait a little, at random, so
            // the appenders of one cell spread out, and read again.
            let jitter = rand::random_range(1..=(4_u64 << round.min(4)));
            tokio::time::sleep(std::time::Duration::from_millis(jitter)).await;
        }
        Err(Error::Conflict {
            field: field.to_string(),
            message: format!(
                "the cell kept changing during {APPEND_ATTEMPTS} attempts to append to it; try again"
            ),
        })
    }

    /// Deletes the bytes of every attachment of `tables`, once their rows
    /// are gone (the table, base or workspace was deleted). A failure is
    /// logged, not returned: the delete itself has committed, and what is
    /// left is unreachable bytes under `attachments/<table>/`, which a later
    /// delete of the same prefix removes.
    pub(crate) async fn purge_attachment_bytes(&self, tables: &[TableId]) {
        for table in tables {
            let prefix = Path::from(format!("attachments/{table}"));
            let mut listed = self.objects.list(Some(&prefix));
            while let Some(item) = listed.next().await {
                let outcome = match item {
                    Ok(meta) => self.objects.delete(&meta.location).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = outcome {
                    tracing::warn!(%table, error = %e, "could not delete attachment bytes");
                }
            }
        }
    }

    /// Attachment metadata; readable by whoever can read its table.
    pub async fn get_attachment(
        &self,
        principal: &Principal,
        id: AttachmentId,
    ) -> Result<Attachment> {
        let attachment = self
            .store
            .get_attachment(id)
            .await
            .map_err(|e| not_found_as(e, "attachment"))?;
        self.attachment_table_for(principal, attachment.table_id, Action::Read)
            .await?;
        Ok(attachment)
    }

    /// Attachment metadata and a stream of its bytes.
    pub async fn attachment_content(
        &self,
        principal: &Principal,
        id: AttachmentId,
    ) -> Result<(Attachment, BoxStream<'static, Result<Bytes>>)> {
        let attachment = self.get_attachment(principal, id).await?;
        self.stream_attachment(attachment).await
    }

    /// An attachment and its bytes without a caller's check (for signed
    /// links, checked by their signature).
    pub(super) async fn attachment_content_unchecked(
        &self,
        id: AttachmentId,
    ) -> Result<(Attachment, BoxStream<'static, Result<Bytes>>)> {
        let attachment = self
            .store
            .get_attachment(id)
            .await
            .map_err(|e| not_found_as(e, "attachment"))?;
        self.stream_attachment(attachment).await
    }

    /// The bytes of `attachment` from object storage.
    async fn stream_attachment(
        &self,
        attachment: Attachment,
    ) -> Result<(Attachment, BoxStream<'static, Result<Bytes>>)> {
        let got = self
            .objects
            .get(&Path::from(attachment.storage_key.as_str()))
            .await
            .map_err(internal)?;
        let stream = got.into_stream().map_err(internal).boxed();
        Ok((attachment, stream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_and_content_types_are_cleaned() {
        assert_eq!(clean_filename("../../etc/passwd"), "passwd");
        assert_eq!(clean_filename("a\\b\\c.txt"), "c.txt");
        assert_eq!(clean_filename(""), "file");
        assert_eq!(clean_content_type(Some("image/png")), "image/png");
        assert_eq!(
            clean_content_type(Some("nonsense")),
            "application/octet-stream"
        );
        assert_eq!(clean_content_type(None), "application/octet-stream");
    }
}
