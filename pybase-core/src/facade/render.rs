//! Output shapes of the facade, serialised as the API's JSON.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};

use crate::fields::{FieldType, MetaColumn, Reference, RenderContext};
use crate::ids::{AttachmentId, FieldId, RecordId, TableId, UserId};
use crate::model::{Attachment, Field, Record, Table, Timestamp, View};
use crate::query::eval::TIME_FORMAT;

/// How output cells are keyed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(rename_all = "snake_case"))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FieldKey {
    /// By field name (the default).
    #[default]
    Name,
    /// By field id (`?field_key=id`).
    Id,
}

/// A record as the API shows it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Record))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordOut {
    /// Id.
    pub id: RecordId,
    /// Creation time.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    #[serde(serialize_with = "serialize_time")]
    pub created_time: Timestamp,
    /// Last change time.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    #[serde(serialize_with = "serialize_time")]
    pub updated_time: Timestamp,
    /// Creator.
    pub created_by: Option<UserId>,
    /// Non-empty cells keyed by field name (or id), computed fields included.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub fields: Map<String, Value>,
    /// Set for soft-deleted records (only listed with `include_deleted`).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_opt_time"
    )]
    pub deleted_time: Option<Timestamp>,
}

/// Writes `t` as chrono's `Serialize` does (RFC 3339 in UTC with `Z`, the
/// fraction as 0, 3, 6 or 9 digits as needed) into `buf`; the length, or
/// `None` outside years 0 to 9999 and for leap seconds (chrono writes
/// those).
fn rfc3339(t: &Timestamp, buf: &mut [u8; 30]) -> Option<usize> {
    use chrono::{Datelike as _, Timelike as _};
    let (year, nanos) = (t.year(), t.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return None;
    }
    let year = u32::try_from(year).ok()?;
    let mut put = |at: usize, value: u32, digits: usize| {
        let mut v = value;
        for i in (at..at + digits).rev() {
            // A single decimal digit: always fits.
            #[allow(clippy::cast_possible_truncation)]
            let d = (v % 10) as u8;
            buf[i] = b'0' + d;
            v /= 10;
        }
    };
    put(0, year, 4);
    put(5, t.month(), 2);
    put(8, t.day(), 2);
    put(11, t.hour(), 2);
    put(14, t.minute(), 2);
    put(17, t.second(), 2);
    let mut len = 19;
    let (value, digits) = if nanos == 0 {
        (0, 0)
    } else if nanos % 1_000_000 == 0 {
        (nanos / 1_000_000, 3)
    } else if nanos % 1_000 == 0 {
        (nanos / 1_000, 6)
    } else {
        (nanos, 9)
    };
    if digits > 0 {
        put(20, value, digits);
        buf[19] = b'.';
        len = 20 + digits;
    }
    buf[4] = b'-';
    buf[7] = b'-';
    buf[10] = b'T';
    buf[13] = b':';
    buf[16] = b':';
    buf[len] = b'Z';
    Some(len + 1)
}

/// Serialises a time exactly as chrono's `Serialize` would, without its
/// formatter machinery (each record carries two or three times, and
/// chrono's `collect_str` path cost more than the rest of the record's
/// fixed fields).
pub(super) fn serialize_time<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0_u8; 30];
    match rfc3339(t, &mut buf) {
        Some(n) => {
            s.serialize_str(std::str::from_utf8(&buf[..n]).map_err(serde::ser::Error::custom)?)
        }
        None => t.serialize(s),
    }
}

/// [`serialize_time`] for an optional time (`None` as `null`).
#[allow(clippy::ref_option)] // serde's `serialize_with` passes `&Option<T>`
pub(super) fn serialize_opt_time<S: Serializer>(
    t: &Option<Timestamp>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => serialize_time(t, s),
        None => s.serialize_none(),
    }
}

/// A page of records.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordsPage {
    /// The records.
    pub records: Vec<RecordOut>,
    /// Cursor of the next page, `None` on the last.
    pub next_cursor: Option<String>,
}

/// What an upsert did.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpsertResult {
    /// Every input record as stored, in input order.
    pub records: Vec<RecordOut>,
    /// Ids of the records created.
    pub created_records: Vec<RecordId>,
    /// Ids of the records updated.
    pub updated_records: Vec<RecordId>,
}

/// A table with its fields and views.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq)]
pub struct TableSchema {
    /// The table.
    #[cfg_attr(feature = "openapi", serde(flatten))]
    pub table: Table,
    /// Its fields by position.
    pub fields: Vec<Field>,
    /// Its views by position.
    pub views: Vec<View>,
}

impl Serialize for Field {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Field", 12)?;
        st.serialize_field("id", &self.id)?;
        st.serialize_field("table_id", &self.table_id)?;
        st.serialize_field("name", &self.name)?;
        st.serialize_field("type", self.field_type.type_name())?;
        st.serialize_field("options", &self.field_type.options_json())?;
        st.serialize_field("description", &self.description)?;
        st.serialize_field("position", &self.position)?;
        st.serialize_field("indexed", &self.indexed)?;
        st.serialize_field("index_origin", &self.index_origin)?;
        st.serialize_field("status", &self.status)?;
        st.serialize_field("created_at", &self.created_at)?;
        st.serialize_field("updated_at", &self.updated_at)?;
        st.end()
    }
}

impl Serialize for View {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("View", 8)?;
        st.serialize_field("id", &self.id)?;
        st.serialize_field("table_id", &self.table_id)?;
        st.serialize_field("name", &self.name)?;
        st.serialize_field("type", &self.view_type)?;
        st.serialize_field("config", &self.config)?;
        st.serialize_field("position", &self.position)?;
        st.serialize_field("created_at", &self.created_at)?;
        st.serialize_field("updated_at", &self.updated_at)?;
        st.end()
    }
}

impl Serialize for TableSchema {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut v = serde_json::to_value(&self.table).map_err(serde::ser::Error::custom)?;
        if let Value::Object(m) = &mut v {
            m.insert(
                "fields".into(),
                serde_json::to_value(&self.fields).map_err(serde::ser::Error::custom)?,
            );
            m.insert(
                "views".into(),
                serde_json::to_value(&self.views).map_err(serde::ser::Error::custom)?,
            );
        }
        v.serialize(s)
    }
}

/// Where a program serves an attachment's bytes: given the attachment id,
/// the URL its JSON shows (the server supplies its route, see
/// [`super::Pybase::with_attachment_url`]).
pub type AttachmentUrl = Arc<dyn Fn(AttachmentId) -> String + Send + Sync>;

/// The JSON of an attachment, with `"url"` when `url` gives one.
pub fn attachment_json(a: &Attachment, url: Option<&AttachmentUrl>) -> Value {
    let mut out = json!({
        "id": a.id,
        "filename": a.filename,
        "content_type": a.content_type,
        "size": a.size,
        "sha256": a.sha256,
    });
    if let (Some(url), Value::Object(m)) = (url, &mut out) {
        m.insert("url".into(), Value::String(url(a.id)));
    }
    out
}

/// Renders records for output.
pub(crate) struct Renderer<'a> {
    pub(crate) fields: &'a [Field],
    pub(crate) key: FieldKey,
    /// Only these fields (all when `None`).
    pub(crate) only: Option<Vec<crate::ids::FieldId>>,
    pub(crate) attachments: HashMap<AttachmentId, Attachment>,
    /// The URL of an attachment's bytes, if the program serves them.
    pub(crate) attachment_url: Option<&'a AttachmentUrl>,
    /// Linked records of the page that are soft-deleted (left out of link
    /// cells).
    pub(crate) gone: HashSet<RecordId>,
    /// Lookup fields whose values are attachments (of an attachment field
    /// of the linked table, directly or through further lookups): their
    /// items show as attachment objects, as attachment cells do.
    pub(crate) attachment_lookups: HashSet<FieldId>,
}

impl Renderer<'_> {
    /// Attachment ids referenced by `records` in attachment fields and in
    /// the lookups of `attachment_lookups`.
    pub(crate) fn attachment_ids(
        fields: &[Field],
        attachment_lookups: &HashSet<FieldId>,
        records: &[Record],
    ) -> Vec<AttachmentId> {
        let mut out = Vec::new();
        for f in fields.iter().filter(|f| {
            f.field_type.references() == Some(Reference::Attachments)
                || attachment_lookups.contains(&f.id)
        }) {
            for r in records {
                if let Some(Value::Array(items)) = r.cells.get(f.id.as_str()) {
                    out.extend(
                        items
                            .iter()
                            .filter_map(Value::as_str)
                            .filter_map(|s| AttachmentId::parse(s).ok()),
                    );
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// The lookup fields whose cells in `records` hold an item that reads
    /// as an attachment id: those whose source field decides how they show
    /// (a text value that happens to read as one is not an attachment).
    pub(crate) fn lookups_with_attachment_ids<'f>(
        fields: &'f [Field],
        records: &[Record],
    ) -> Vec<&'f Field> {
        fields
            .iter()
            .filter(|f| matches!(&f.field_type, FieldType::Lookup(l) if l.derived.is_valid))
            .filter(|f| {
                records.iter().any(|r| {
                    r.cells
                        .get(f.id.as_str())
                        .and_then(Value::as_array)
                        .is_some_and(|items| {
                            items
                                .iter()
                                .filter_map(Value::as_str)
                                .any(|s| AttachmentId::parse(s).is_ok())
                        })
                })
            })
            .collect()
    }

    /// The record ids that `records`' link cells hold, by linked table.
    pub(crate) fn linked_ids(
        fields: &[Field],
        records: &[Record],
    ) -> Vec<(TableId, Vec<RecordId>)> {
        let mut out: Vec<(TableId, Vec<RecordId>)> = Vec::new();
        for f in fields {
            let Some(Reference::Records(table)) = f.field_type.references() else {
                continue;
            };
            let mut ids: Vec<RecordId> = records
                .iter()
                .filter_map(|r| r.cells.get(f.id.as_str()).and_then(Value::as_array))
                .flatten()
                .filter_map(Value::as_str)
                .filter_map(|s| RecordId::parse(s).ok())
                .collect();
            if ids.is_empty() {
                continue;
            }
            match out.iter_mut().find(|(t, _)| *t == table) {
                Some((_, all)) => all.append(&mut ids),
                None => out.push((table, ids)),
            }
        }
        for (_, ids) in &mut out {
            ids.sort();
            ids.dedup();
        }
        out
    }

    /// `r` as the API shows it (a copy; see [`Self::render_owned`]).
    pub(crate) fn render(&self, r: &Record) -> RecordOut {
        self.render_owned(r.clone())
    }

    /// [`Self::render`] of a record the caller gives up: its cells are
    /// moved into the output rather than copied.
    pub(crate) fn render_owned(&self, mut r: Record) -> RecordOut {
        let mut out = Map::new();
        for f in self.fields {
            if let Some(only) = &self.only
                && !only.contains(&f.id)
            {
                continue;
            }
            if f.status == crate::model::FieldStatus::Computing {
                continue;
            }
            let value = match f.field_type.meta_column() {
                Some(_) => Self::meta_value(f, &r),
                None if self.attachment_lookups.contains(&f.id) => r
                    .cells
                    .remove(f.id.as_str())
                    .map(|v| self.attachment_items(v))
                    .filter(|v| v.as_array().is_none_or(|a| !a.is_empty())),
                None => r
                    .cells
                    .remove(f.id.as_str())
                    .map(|v| f.field_type.kind().render_owned(v, self))
                    .filter(|v| v.as_array().is_none_or(|a| !a.is_empty())),
            };
            if let Some(v) = value {
                out.insert(self.key_of(f), v);
            }
        }
        RecordOut {
            id: r.id,
            created_time: r.created_time,
            updated_time: r.updated_time,
            created_by: r.created_by,
            fields: out,
            deleted_time: r.deleted_time,
        }
    }

    /// A lookup cell of attachment ids with each id that names a known
    /// attachment shown as its object (others as they are).
    fn attachment_items(&self, cell: Value) -> Value {
        match cell {
            Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|item| {
                        item.as_str()
                            .and_then(|s| AttachmentId::parse(s).ok())
                            .and_then(|id| self.attachment(id))
                            .unwrap_or(item)
                    })
                    .collect(),
            ),
            other => other,
        }
    }

    /// The value of a field kept by the store as a record column.
    pub(super) fn meta_value(f: &Field, r: &Record) -> Option<Value> {
        match f.field_type.meta_column()? {
            MetaColumn::Autonumber => Some(json!(r.autonumber)),
            MetaColumn::CreatedTime => Some(json!(r.created_time.format(TIME_FORMAT).to_string())),
            MetaColumn::UpdatedTime => Some(json!(r.updated_time.format(TIME_FORMAT).to_string())),
            MetaColumn::CreatedBy => r.created_by.map(|u| json!(u)),
            MetaColumn::UpdatedBy => r.updated_by.map(|u| json!(u)),
        }
    }

    /// The output key of `f`: its name or its id.
    fn key_of(&self, f: &Field) -> String {
        match self.key {
            FieldKey::Name => f.name.clone(),
            FieldKey::Id => f.id.to_string(),
        }
    }
}

impl RenderContext for Renderer<'_> {
    fn attachment(&self, id: AttachmentId) -> Option<Value> {
        self.attachments
            .get(&id)
            .map(|a| attachment_json(a, self.attachment_url))
    }

    fn record_gone(&self, id: RecordId) -> bool {
        self.gone.contains(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TableId;

    fn attachment() -> Attachment {
        Attachment {
            id: AttachmentId::new(),
            table_id: TableId::new(),
            filename: "a.txt".into(),
            content_type: "text/plain".into(),
            size: 3,
            sha256: "ab".into(),
            storage_key: "attachments/t/a".into(),
            created_by: None,
            created_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn times_serialise_exactly_as_chrono_does() {
        use chrono::{TimeZone as _, Utc};
        let base = Utc.with_ymd_and_hms(2026, 11, 28, 7, 5, 9).unwrap();
        let mut times = vec![
            base,
            Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 6, 1, 0, 0, 0).unwrap(),
            chrono::DateTime::UNIX_EPOCH,
        ];
        for nanos in [
            1,
            999,
            1_000,
            120_000,
            1_000_000,
            7_000_000,
            123_456_789,
            999_999_999,
        ] {
            times.push(base + chrono::Duration::nanoseconds(nanos));
        }
        // A leap second (nanos past 1e9): chrono's own path.
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap()
            .and_utc();
        times.push(leap);
        for t in times {
            let mut fast = Vec::new();
            serialize_time(&t, &mut serde_json::Serializer::new(&mut fast)).unwrap();
            assert_eq!(
                String::from_utf8(fast).unwrap(),
                serde_json::to_string(&t).unwrap(),
                "{t:?}"
            );
        }
        let mut none = Vec::new();
        serialize_opt_time(&None, &mut serde_json::Serializer::new(&mut none)).unwrap();
        assert_eq!(none, b"null");
    }

    #[test]
    fn attachment_json_has_a_url_only_when_the_program_serves_one() {
        let a = attachment();
        let bare = attachment_json(&a, None);
        assert_eq!(bare["filename"], "a.txt");
        assert!(bare.get("url").is_none());
        assert!(bare.get("storage_key").is_none());
        let url: AttachmentUrl = Arc::new(|id| format!("/files/{id}"));
        let served = attachment_json(&a, Some(&url));
        assert_eq!(served["url"], format!("/files/{}", a.id));
        assert_eq!(served["size"], 3);
    }
}
