//! Cell values between PyBase's JSON and Airtable's (AIRTABLE.md §6).
//!
//! Most values are the same in both; attachments, collaborators and the
//! `cellFormat=string` rendering differ. Records are rendered by core keyed
//! by field id, then keyed here by name or id as the request asks.

use std::collections::HashMap;

use pybase_core::Pybase;
use pybase_core::facade::{FieldKey, RecordOut, SignedAttachment};
use pybase_core::ids::{AttachmentId, RecordId};
use pybase_core::model::{Field, User};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::error::V0Error;
use crate::public_url::PublicUrl;

/// How a request wants its records.
#[derive(Debug, Clone, Default)]
pub struct RecordShape {
    /// Key `fields` by field id (`returnFieldsByFieldId`).
    pub by_id: bool,
    /// `cellFormat=string`.
    pub as_text: bool,
    /// `timeZone` of `cellFormat=string`: dates and times are written in it.
    pub time_zone: Option<chrono_tz::Tz>,
    /// Add `"commentCount": 0` (`recordMetadata[]=commentCount`).
    pub comment_count: bool,
}

impl RecordShape {
    /// How core should key the cells it renders.
    pub fn key(&self) -> FieldKey {
        if self.by_id {
            FieldKey::Id
        } else {
            FieldKey::Name
        }
    }
}

/// Turns core's records (rendered with [`RecordShape::key`]) into Airtable's.
pub struct Renderer<'a> {
    /// The table's fields in order.
    pub fields: &'a [Field],
    /// What the request asked for.
    pub shape: RecordShape,
    /// Users that collaborator cells name.
    pub users: HashMap<String, User>,
    /// For `cellFormat=string`: the text of the primary field of the
    /// records that link cells name, by record id (an id not here prints
    /// as itself).
    pub link_text: HashMap<String, String>,
    /// Signs attachment links (AIRTABLE.md §6: they download without
    /// credentials); without it, the `url` core gives is kept.
    pub signer: Option<Signer<'a>>,
}

/// What signs attachment links: the facade (with the key) and the server's
/// public base URL, as Airtable's links are absolute and clients download
/// them as given.
#[derive(Debug, Clone, Copy)]
pub struct Signer<'a> {
    /// Signs.
    pub pybase: &'a Pybase,
    /// Where clients reach this server (`PUBLIC_URL`).
    pub public_url: &'a PublicUrl,
}

/// `2024-05-01T09:30:00.000Z`.
pub fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A record as Airtable shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AirtableRecord {
    /// `rec…`.
    pub id: RecordId,
    /// Creation time, UTC with milliseconds.
    #[serde(rename = "createdTime")]
    pub created_time: String,
    /// Non-empty cells keyed by field name or id.
    pub fields: Map<String, Value>,
    /// Always 0 (no comments yet), when `recordMetadata` asks for it.
    #[serde(rename = "commentCount", skip_serializing_if = "Option::is_none")]
    pub comment_count: Option<u32>,
}

/// Whether cells of `f` differ between PyBase's JSON and Airtable's.
fn converted(f: &Field) -> bool {
    matches!(
        f.field_type.type_name(),
        "attachment" | "created_by" | "updated_by" | "formula" | "rollup" | "lookup"
    )
}

impl Renderer<'_> {
    /// Whether any field shows users (so the caller loads them).
    pub fn needs_users(fields: &[Field]) -> bool {
        fields
            .iter()
            .any(|f| matches!(f.field_type.type_name(), "created_by" | "updated_by"))
    }

    /// One record: `{"id","createdTime","fields"}`. Cells are converted in
    /// place: most are the same in both APIs.
    pub fn record(&self, r: RecordOut) -> AirtableRecord {
        let mut cells = r.fields;
        for f in self.fields {
            if !(self.shape.as_text || converted(f)) {
                continue;
            }
            let key = match self.shape.key() {
                FieldKey::Id => f.id.as_str(),
                FieldKey::Name => f.name.as_str(),
            };
            if let Some(v) = cells.get_mut(key) {
                let new = self.cell(f, v);
                *v = new;
            }
        }
        cells.retain(|_, v| !is_empty(v));
        AirtableRecord {
            id: r.id,
            created_time: time(&r.created_time),
            fields: cells,
            comment_count: self.shape.comment_count.then_some(0),
        }
    }

    /// Cells keyed by field id as the change log keeps them, in Airtable's
    /// shapes; empty cells are left out, cells of fields not in
    /// [`Self::fields`] (deleted since) are kept as they are.
    pub fn logged_cells(&self, cells: &Map<String, Value>) -> Map<String, Value> {
        cells
            .iter()
            .filter(|(_, v)| !is_empty(v))
            .map(|(k, v)| {
                let value = match self.fields.iter().find(|f| f.id.as_str() == k) {
                    Some(f) if self.shape.as_text || converted(f) => self.cell(f, v),
                    _ => v.clone(),
                };
                (k.clone(), value)
            })
            .collect()
    }

    /// Many records.
    pub fn records(&self, rs: Vec<RecordOut>) -> Vec<AirtableRecord> {
        rs.into_iter().map(|r| self.record(r)).collect()
    }

    fn cell(&self, f: &Field, v: &Value) -> Value {
        let json = match f.field_type.type_name() {
            "attachment" => match v {
                Value::Array(items) => {
                    Value::Array(items.iter().map(|a| attachment(a, self.signer)).collect())
                }
                other => other.clone(),
            },
            // A lookup of attachments holds attachment objects (core
            // shows them so): each in Airtable's shape too.
            "lookup" => match v {
                Value::Array(items) => Value::Array(
                    items
                        .iter()
                        .map(|i| {
                            if is_attachment_object(i) {
                                attachment(i, self.signer)
                            } else {
                                i.clone()
                            }
                        })
                        .collect(),
                ),
                other => other.clone(),
            },
            "created_by" | "updated_by" => match v.as_str() {
                Some(id) => match self.users.get(id) {
                    Some(u) => json!({"id": u.id, "email": u.email, "name": u.name}),
                    None => json!({"id": id}),
                },
                None => v.clone(),
            },
            "link" if self.shape.as_text => match v {
                Value::Array(items) => Value::Array(
                    items
                        .iter()
                        .map(|i| {
                            i.as_str()
                                .and_then(|id| self.link_text.get(id))
                                .map_or_else(|| i.clone(), |t| Value::String(t.clone()))
                        })
                        .collect(),
                ),
                other => other.clone(),
            },
            // Error cells of computed fields in Airtable's shape
            // (`{"specialValue": "NaN"}`; `{"error": "#ERROR!"}` as is).
            "formula" | "rollup" => match v.get("special_value") {
                Some(kind) => json!({ "specialValue": kind }),
                None => v.clone(),
            },
            _ => v.clone(),
        };
        if self.shape.as_text {
            Value::String(text(f, &json, self.shape.time_zone))
        } else {
            json
        }
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Where a signed link serves an attachment's bytes without credentials:
/// an absolute URL under `public_url`.
pub fn signed_url(public_url: &PublicUrl, id: &str, signed: &SignedAttachment) -> String {
    public_url.join(&format!(
        "/api/v1/attachments/{id}/signed?expires={}&signature={}",
        signed.expires, signed.signature
    ))
}

/// Whether `v` is an attachment object as core renders one (only
/// attachments have both `content_type` and `sha256`).
fn is_attachment_object(v: &Value) -> bool {
    v.get("content_type").is_some() && v.get("sha256").is_some() && v.get("id").is_some()
}

/// Airtable's attachment object: `type` is the content type, `url` a
/// signed link when `signer` is given.
fn attachment(a: &Value, signer: Option<Signer<'_>>) -> Value {
    let get = |k: &str| a.get(k).cloned().unwrap_or(Value::Null);
    let signed = a
        .get("id")
        .and_then(Value::as_str)
        .and_then(|id| Some((id, AttachmentId::parse(id).ok()?)))
        .and_then(|(raw, id)| {
            let signer = signer?;
            let s = signer.pybase.sign_attachment(id).ok()?;
            Some(Value::String(signed_url(signer.public_url, raw, &s)))
        });
    json!({
        "id": get("id"),
        "url": signed.unwrap_or_else(|| get("url")),
        "filename": get("filename"),
        "size": get("size"),
        "type": get("content_type"),
    })
}

/// Whether `f`'s cells are dates with a time (shown in the request's
/// `timeZone` as text).
fn holds_date_times(f: &Field, options: &Value) -> bool {
    match f.field_type.type_name() {
        "datetime" | "created_time" | "updated_time" => true,
        "formula" | "rollup" | "lookup" => {
            options.get("result_type").and_then(Value::as_str) == Some("datetime")
        }
        _ => false,
    }
}

/// A stored date and time (RFC 3339) as `2024-05-01 05:30` in `zone`;
/// `None` if it does not read as one.
fn local_time(s: &str, zone: chrono_tz::Tz) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    Some(t.with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string())
}

/// A duration of `seconds` in its field's `format` (`h:mm`, `h:mm:ss`,
/// `h:mm:ss.s` to `h:mm:ss.sss`), as Airtable shows it: rounded to the
/// format's last digit, hours unbounded (`3661.5` in `h:mm:ss.s` is
/// `1:01:01.5`, in `h:mm` `1:01`).
fn duration_text(seconds: f64, format: &str) -> String {
    let decimals: u32 = match format {
        "h:mm:ss.s" => 1,
        "h:mm:ss.ss" => 2,
        "h:mm:ss.sss" => 3,
        _ => 0,
    };
    let sign = if seconds < 0.0 { "-" } else { "" };
    // The float-to-integer cast saturates; durations are far below it.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    if format == "h:mm" {
        let minutes = (seconds.abs() / 60.0).round() as u64;
        let sign = if minutes == 0 { "" } else { sign };
        return format!("{sign}{}:{:02}", minutes / 60, minutes % 60);
    }
    let per_second = 10_u64.pow(decimals);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let units = (seconds.abs() * per_second as f64).round() as u64;
    let sign = if units == 0 { "" } else { sign };
    let whole = units / per_second;
    let (h, m, s) = (whole / 3600, (whole / 60) % 60, whole % 60);
    if decimals == 0 {
        format!("{sign}{h}:{m:02}:{s:02}")
    } else {
        let frac = units % per_second;
        let width = decimals as usize;
        format!("{sign}{h}:{m:02}:{s:02}.{frac:0width$}")
    }
}

/// `cellFormat=string`: best-effort text of a cell (AIRTABLE.md §6), dates
/// with a time in `zone` (UTC without one).
pub fn text(f: &Field, v: &Value, zone: Option<chrono_tz::Tz>) -> String {
    let options = f.field_type.options_json();
    if holds_date_times(f, &options) {
        let zone = zone.unwrap_or(chrono_tz::UTC);
        let at = |v: &Value| v.as_str().and_then(|s| local_time(s, zone));
        match v {
            Value::String(_) => {
                if let Some(t) = at(v) {
                    return t;
                }
            }
            Value::Array(items) if items.iter().all(|i| at(i).is_some()) => {
                return items.iter().filter_map(at).collect::<Vec<_>>().join(", ");
            }
            _ => {}
        }
    }
    let precision = options
        .get("precision")
        .and_then(Value::as_u64)
        .and_then(|p| usize::try_from(p).ok());
    match (f.field_type.type_name(), v) {
        ("currency", Value::Number(n)) => {
            let symbol = options.get("symbol").and_then(Value::as_str).unwrap_or("$");
            format!(
                "{symbol}{:.*}",
                precision.unwrap_or(2),
                n.as_f64().unwrap_or(0.0)
            )
        }
        ("percent", Value::Number(n)) => {
            format!(
                "{:.*}%",
                precision.unwrap_or(0),
                n.as_f64().unwrap_or(0.0) * 100.0
            )
        }
        ("duration", Value::Number(n)) => duration_text(
            n.as_f64().unwrap_or(0.0),
            options
                .get("format")
                .and_then(Value::as_str)
                .unwrap_or("h:mm"),
        ),
        ("number", Value::Number(n)) if precision.is_some() => {
            format!("{:.*}", precision.unwrap_or(0), n.as_f64().unwrap_or(0.0))
        }
        (_, Value::String(s)) => s.clone(),
        (_, Value::Bool(b)) => if *b { "checked" } else { "" }.to_owned(),
        (_, Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                // An attachment as Airtable writes it: `name.pdf (url)`.
                Value::Object(m) if m.contains_key("filename") && m.contains_key("url") => {
                    format!(
                        "{} ({})",
                        m["filename"].as_str().unwrap_or_default(),
                        m["url"].as_str().unwrap_or_default()
                    )
                }
                Value::Object(m) => m
                    .get("filename")
                    .or_else(|| m.get("name"))
                    .or_else(|| m.get("id"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        // A collaborator by name, email or id; a formula's error value as
        // Airtable shows it (`#ERROR!`, `NaN`, `Infinity`).
        (_, Value::Object(m)) => m
            .get("name")
            .or_else(|| m.get("email"))
            .or_else(|| m.get("id"))
            .or_else(|| m.get("error"))
            .or_else(|| m.get("specialValue"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        (_, other) => other.to_string(),
    }
}

/// Finds a field by id, exact name, then unique case-insensitive name.
pub fn find_field<'a>(fields: &'a [Field], key: &str) -> Option<&'a Field> {
    if let Some(f) = fields
        .iter()
        .find(|f| f.id.as_str() == key || f.name == key)
    {
        return Some(f);
    }
    let lower = key.to_lowercase();
    let mut matches = fields.iter().filter(|f| f.name.to_lowercase() == lower);
    match (matches.next(), matches.next()) {
        (Some(f), None) => Some(f),
        _ => None,
    }
}

/// Airtable's cells of a write, as core takes them: attachment objects
/// become `{"id"}` (a `{"url"}` must be one of this server's attachment
/// URLs: no server-side fetch, AIRTABLE.md §10.3). Unknown field names are
/// passed on for core to name.
pub fn write_cells(
    fields: &[Field],
    cells: Map<String, Value>,
) -> Result<Map<String, Value>, V0Error> {
    let mut out = Map::with_capacity(cells.len());
    for (key, value) in cells {
        let value = match find_field(fields, &key) {
            Some(f) if f.field_type.type_name() == "attachment" => {
                attachment_input(&f.name, value)?
            }
            Some(f) if f.field_type.type_name() == "datetime" => local_date_time_input(f, value),
            _ => value,
        };
        out.insert(key, value);
    }
    Ok(out)
}

/// A date and time written without an offset (`2024-05-01T10:00:00`, or a
/// bare date), which Airtable reads in the field's time zone (AIRTABLE.md
/// §6), as the instant core's typecast reads it; anything else is left
/// for core to check.
fn local_date_time_input(f: &Field, value: Value) -> Value {
    let Some(s) = value.as_str() else {
        return value;
    };
    let local = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
        || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").is_ok()
        || chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok();
    if !local {
        return value;
    }
    match f.field_type.validate_cell(&value, true) {
        Ok(Some(instant)) => instant,
        _ => value,
    }
}

fn attachment_input(field: &str, value: Value) -> Result<Value, V0Error> {
    let Value::Array(items) = value else {
        return Ok(value);
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(m) = &item else {
            out.push(item);
            continue;
        };
        if let Some(id) = m.get("id") {
            out.push(json!({"id": id}));
            continue;
        }
        let id = m
            .get("url")
            .and_then(Value::as_str)
            .and_then(attachment_id_of_url);
        match id {
            // A filename given names the copy when the URL is another
            // table's attachment (core copies it).
            Some(id) => out.push(match m.get("filename") {
                Some(name) => json!({"id": id, "filename": name}),
                None => json!({"id": id}),
            }),
            None => {
                return Err(V0Error::new(
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    "INVALID_VALUE_FOR_COLUMN",
                    format!(
                        "Field \"{field}\" cannot accept the provided value: attachments by \
                         \"url\" must be attachment URLs of this server (it does not download \
                         other URLs); upload the file through /api/v1 and give its id"
                    ),
                ));
            }
        }
    }
    Ok(Value::Array(out))
}

/// The attachment id in one of this server's attachment content URLs
/// (absolute or not).
fn attachment_id_of_url(url: &str) -> Option<&str> {
    let path = url.split(['?', '#']).next()?;
    let rest = path.split("/api/v1/attachments/").nth(1)?;
    let id = rest
        .strip_suffix("/content")
        .or_else(|| rest.strip_suffix("/signed"))?;
    pybase_core::ids::AttachmentId::parse(id).ok()?;
    Some(id)
}

/// For a `PUT`: every writable field not named in `cells` is cleared.
pub fn replace_cells(fields: &[Field], mut cells: Map<String, Value>) -> Map<String, Value> {
    let named: Vec<&str> = cells
        .keys()
        .filter_map(|k| find_field(fields, k))
        .map(|f| f.id.as_str())
        .collect();
    let missing: Vec<String> = fields
        .iter()
        .filter(|f| !f.field_type.is_computed() && !named.contains(&f.id.as_str()))
        .map(|f| f.id.to_string())
        .collect();
    for id in missing {
        cells.insert(id, Value::Null);
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reviewer's case (`3661.5` in `h:mm:ss.s` read `"3661.5"`) and the
    /// other formats, as their patterns spell them.
    #[test]
    fn durations_read_in_their_format() {
        assert_eq!(duration_text(3661.5, "h:mm:ss.s"), "1:01:01.5");
        assert_eq!(duration_text(3661.5, "h:mm"), "1:01");
        assert_eq!(duration_text(3661.5, "h:mm:ss"), "1:01:02");
        assert_eq!(duration_text(3661.5, "h:mm:ss.sss"), "1:01:01.500");
        assert_eq!(duration_text(0.05, "h:mm:ss.ss"), "0:00:00.05");
        assert_eq!(duration_text(90_000.0, "h:mm"), "25:00");
        assert_eq!(duration_text(-90.0, "h:mm:ss"), "-0:01:30");
        assert_eq!(duration_text(-10.0, "h:mm"), "0:00");
        assert_eq!(duration_text(0.0, "h:mm"), "0:00");
    }

    #[test]
    fn error_values_read_as_text() {
        let f = pybase_core::model::Field {
            id: pybase_core::ids::FieldId::new(),
            table_id: pybase_core::ids::TableId::new(),
            name: "R".into(),
            description: None,
            field_type: pybase_core::fields::FieldType::from_parts(
                "formula",
                &json!({ "formula": "1/0" }),
            )
            .expect("formula type"),
            position: 0,
            indexed: false,
            index_origin: pybase_core::model::IndexOrigin::Manual,
            status: pybase_core::model::FieldStatus::Ready,
            created_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: chrono::DateTime::UNIX_EPOCH,
        };
        assert_eq!(
            text(&f, &json!({ "specialValue": "Infinity" }), None),
            "Infinity"
        );
        assert_eq!(text(&f, &json!({ "error": "#ERROR!" }), None), "#ERROR!");
        // Attachments as Airtable writes them: name and link.
        let files = json!([
            {"id": "att1", "filename": "a.pdf", "url": "https://h/a"},
            {"id": "att2", "filename": "b.png", "url": "https://h/b"},
        ]);
        assert_eq!(
            text(&f, &files, None),
            "a.pdf (https://h/a), b.png (https://h/b)"
        );
    }

    #[test]
    fn attachment_urls_of_this_server_name_their_attachment() {
        let id = pybase_core::ids::AttachmentId::new().to_string();
        let url = format!("http://h:1/api/v1/attachments/{id}/content?x=1");
        assert_eq!(attachment_id_of_url(&url), Some(id.as_str()));
        assert_eq!(attachment_id_of_url("https://example.com/a.png"), None);
        let signed = format!("/api/v1/attachments/{id}/signed?expires=1700000000&signature=ab");
        assert_eq!(attachment_id_of_url(&signed), Some(id.as_str()));
        assert_eq!(
            attachment_id_of_url("/api/v1/attachments/nope/content"),
            None
        );
        let out =
            attachment_input("F", json!([{"url": url}, {"id": id, "filename": "x"}])).unwrap();
        assert_eq!(out, json!([{"id": id}, {"id": id}]));
        let e = attachment_input("F", json!([{"url": "https://example.com/a"}])).unwrap_err();
        assert_eq!(e.kind, "INVALID_VALUE_FOR_COLUMN");
    }
}
