//! A page of records written as the API's JSON straight from the stored
//! cells' text: no cell is parsed into a [`Value`], no output map is built
//! (the work that dominated a page's CPU after the query itself). Only for
//! fields whose type shows cells as stored ([`Kind::renders_as_stored`]
//! and no references to resolve) and record-column fields; any other page
//! takes the [`super::render::Renderer`] path. The text is the one
//! [`super::render::RecordsPage`]'s `Serialize` gives for the same page, up
//! to the stored text's own spelling of each cell (the same JSON value).
//!
//! [`Kind::renders_as_stored`]: crate::fields::Kind::renders_as_stored

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::render::{FieldKey, Renderer, serialize_opt_time, serialize_time};
use crate::error::{Error, Result};
use crate::ids::FieldId;
use crate::model::{Cells, Field, FieldStatus, Record};
use crate::query::plan::QueryPlan;
use crate::query::{RawRecord, RawRecordPage, RecordPage};

/// Whether a page of `fields` (only `projection`'s, when given) can be
/// written from the stored text: every field shown is a record column or
/// shows its cells as stored.
pub(super) fn renders_raw(fields: &[Field], projection: Option<&[FieldId]>) -> bool {
    shown(fields, projection).all(|f| {
        f.field_type.meta_column().is_some()
            || (f.field_type.kind().renders_as_stored() && f.field_type.references().is_none())
    })
}

/// The fields a page shows, as [`Renderer::render_owned`] picks them.
fn shown<'f>(
    fields: &'f [Field],
    projection: Option<&'f [FieldId]>,
) -> impl Iterator<Item = &'f Field> {
    fields.iter().filter(move |f| {
        projection.is_none_or(|only| only.contains(&f.id)) && f.status != FieldStatus::Computing
    })
}

/// One output key: the field shown under it, its key as JSON text with the
/// colon, and the other fields of the same key (kept for the rule below).
struct Column<'f> {
    /// `"name":`, escaped once per page.
    prefix: String,
    /// The fields under this key in position order; a later one's cell
    /// wins, as a later insert into the rendered map does.
    fields: Vec<&'f Field>,
}

/// The page's output keys in the order the rendered map writes them
/// (byte order of the key).
fn columns<'f>(
    fields: &'f [Field],
    projection: Option<&'f [FieldId]>,
    key: FieldKey,
) -> Result<Vec<Column<'f>>> {
    let mut keyed: Vec<(String, &Field)> = shown(fields, projection)
        .map(|f| {
            let k = match key {
                FieldKey::Name => f.name.clone(),
                FieldKey::Id => f.id.to_string(),
            };
            (k, f)
        })
        .collect();
    // Stable: fields of one key stay in position order.
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<Column<'f>> = Vec::with_capacity(keyed.len());
    let mut last: Option<String> = None;
    for (k, f) in keyed {
        if last.as_deref() == Some(k.as_str())
            && let Some(col) = out.last_mut()
        {
            col.fields.push(f);
            continue;
        }
        let mut prefix = serde_json::to_string(&k).map_err(internal)?;
        prefix.push(':');
        out.push(Column {
            prefix,
            fields: vec![f],
        });
        last = Some(k);
    }
    Ok(out)
}

/// The JSON text of `page` as `GET /tables/{id}/records` answers it.
pub(super) fn write_page(
    fields: &[Field],
    key: FieldKey,
    plan: &QueryPlan,
    page: &RawRecordPage,
    seal: &dyn Fn(String) -> String,
) -> Result<Vec<u8>> {
    let columns = columns(fields, plan.projection.as_deref(), key)?;
    let next_cursor = match page.records.last().filter(|_| page.has_more) {
        Some(last) => plan
            .next_cursor(&RecordPage {
                records: vec![parsed(last)?],
                has_more: true,
                log_seq: None,
            })
            .map(seal),
        None => None,
    };
    let mut out = Vec::with_capacity(page.records.iter().map(|r| r.cells.len() + 200).sum());
    out.extend_from_slice(b"{\"records\":[");
    for (i, r) in page.records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_record(&mut out, &columns, r)?;
    }
    out.extend_from_slice(b"],\"next_cursor\":");
    serde_json::to_writer(&mut out, &next_cursor).map_err(internal)?;
    out.push(b'}');
    Ok(out)
}

/// `r` with its cells parsed (for the cursor, read from the last record).
fn parsed(r: &RawRecord) -> Result<Record> {
    let mut record = r.record.clone();
    record.cells = serde_json::from_str::<Cells>(&r.cells).map_err(internal)?;
    Ok(record)
}

/// One record, as [`super::render::RecordOut`] serialises.
fn write_record(out: &mut Vec<u8>, columns: &[Column<'_>], raw: &RawRecord) -> Result<()> {
    let r = &raw.record;
    let cells = RawCells::parse(&raw.cells)?;
    out.extend_from_slice(b"{\"id\":");
    serde_json::to_writer(&mut *out, &r.id).map_err(internal)?;
    out.extend_from_slice(b",\"created_time\":");
    serialize_time(&r.created_time, &mut serde_json::Serializer::new(&mut *out))
        .map_err(internal)?;
    out.extend_from_slice(b",\"updated_time\":");
    serialize_time(&r.updated_time, &mut serde_json::Serializer::new(&mut *out))
        .map_err(internal)?;
    out.extend_from_slice(b",\"created_by\":");
    serde_json::to_writer(&mut *out, &r.created_by).map_err(internal)?;
    out.extend_from_slice(b",\"fields\":{");
    let mut first = true;
    for col in columns {
        let Some(cell) = col.fields.iter().rev().find_map(|f| cell_of(f, r, &cells)) else {
            continue;
        };
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(col.prefix.as_bytes());
        match cell {
            Cell::Raw(text) => out.extend_from_slice(text.as_bytes()),
            Cell::Value(v) => serde_json::to_writer(&mut *out, &v).map_err(internal)?,
        }
    }
    out.push(b'}');
    if r.deleted_time.is_some() {
        out.extend_from_slice(b",\"deleted_time\":");
        serialize_opt_time(&r.deleted_time, &mut serde_json::Serializer::new(&mut *out))
            .map_err(internal)?;
    }
    out.push(b'}');
    Ok(())
}

/// A shown cell: the stored text, or a record column's value.
enum Cell<'a> {
    Raw(&'a str),
    Value(Value),
}

/// The cell of `f` in `r` as the rendered map would hold it; `None` when it
/// leaves the key out (no cell, or an empty list).
fn cell_of<'a>(f: &Field, r: &Record, cells: &RawCells<'a>) -> Option<Cell<'a>> {
    if f.field_type.meta_column().is_some() {
        return Renderer::meta_value(f, r).map(Cell::Value);
    }
    let text = cells.get(f.id.as_str())?.get();
    let empty_list = text
        .strip_prefix('[')
        .is_some_and(|rest| rest.trim_start().starts_with(']'));
    (!empty_list).then_some(Cell::Raw(text))
}

/// The stored cells object as (key, unparsed value) pairs.
struct RawCells<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'a> RawCells<'a> {
    fn parse(text: &'a str) -> Result<Self> {
        let mut de = serde_json::Deserializer::from_str(text);
        let cells = de.deserialize_map(CellsVisitor).map_err(internal)?;
        de.end().map_err(internal)?;
        Ok(cells)
    }

    /// The last value under `key` (a JSON object's duplicate keys: the
    /// last wins, as when parsed into a map).
    fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| *v)
    }
}

struct CellsVisitor;

impl<'de> Visitor<'de> for CellsVisitor {
    type Value = RawCells<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of cells")
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(k) = map.next_key::<Key<'de>>()? {
            out.push((k.0, map.next_value::<&'de RawValue>()?));
        }
        Ok(RawCells(out))
    }
}

/// A key borrowed from the text unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field id")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> std::result::Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Internal(Box::new(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_borrow_plain_keys_and_keep_the_last_duplicate() {
        let text = r#"{"fa":[ ],"f\"b":{"x":[1,2]},"fa":"two"}"#;
        let cells = RawCells::parse(text).unwrap();
        assert!(matches!(cells.0[0].0, Cow::Borrowed("fa")));
        assert_eq!(cells.get("f\"b").unwrap().get(), r#"{"x":[1,2]}"#);
        assert_eq!(cells.get("fa").unwrap().get(), r#""two""#);
        assert!(cells.get("fc").is_none());
        assert!(RawCells::parse("[1]").is_err());
        assert!(RawCells::parse(r#"{"a":1} x"#).is_err());
    }
}
