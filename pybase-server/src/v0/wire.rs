//! Airtable's wire conventions (AIRTABLE.md §1, §5.1): query strings with
//! bracketed keys in any order (`fields[]=A`, `fields[0]=A`,
//! `sort[0][field]=Qty`), `+` as a space, bodies that must be JSON objects
//! whatever the content type says, and the opaque `offset` of record lists.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::error::V0Error;

/// A query string as (key, value) pairs, decoded as form data.
#[derive(Debug, Clone, Default)]
pub struct QueryPairs(pub Vec<(String, String)>);

impl QueryPairs {
    /// Decodes `query` (`None` or empty: no pairs).
    pub fn parse(query: Option<&str>) -> Self {
        Self(
            form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The last value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a list parameter: `name[]=a`, `name[0]=a` (by index)
    /// or `name=a`, in that order of preference; `None` if absent.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        let mut indexed: Vec<(usize, String)> = Vec::new();
        let mut plain = Vec::new();
        let mut found = false;
        for (k, v) in &self.0 {
            if k == name {
                plain.push(v.clone());
                found = true;
            } else if let Some(rest) = k.strip_prefix(name).and_then(|r| r.strip_prefix('[')) {
                let Some(inner) = rest.strip_suffix(']') else {
                    continue;
                };
                found = true;
                if inner.is_empty() {
                    indexed.push((usize::MAX, v.clone()));
                } else if let Ok(i) = inner.parse::<usize>() {
                    indexed.push((i, v.clone()));
                }
            }
        }
        if !found {
            return None;
        }
        // A stable sort keeps `name[]` values in the order sent.
        indexed.sort_by_key(|(i, _)| *i);
        let mut out: Vec<String> = indexed.into_iter().map(|(_, v)| v).collect();
        out.extend(plain);
        Some(out)
    }

    /// `sort[i][field]` and `sort[i][direction]`, in index order, as the
    /// body form's `[{"field","direction"}]`.
    pub fn sort(&self) -> Option<Value> {
        let mut keys: std::collections::BTreeMap<usize, Map<String, Value>> =
            std::collections::BTreeMap::new();
        for (k, v) in &self.0 {
            let Some(rest) = k.strip_prefix("sort[") else {
                continue;
            };
            let Some((index, member)) = rest.split_once("][") else {
                continue;
            };
            let (Ok(index), Some(member)) = (index.parse::<usize>(), member.strip_suffix(']'))
            else {
                continue;
            };
            keys.entry(index)
                .or_default()
                .insert(member.to_owned(), Value::String(v.clone()));
        }
        (!keys.is_empty()).then(|| Value::Array(keys.into_values().map(Value::Object).collect()))
    }
}

/// Reads a body as a JSON object, whatever the content type says (an empty
/// body is an empty object: airtable.js sends `Content-Type:
/// application/json` without a body).
pub fn object_body(bytes: &[u8]) -> Result<Map<String, Value>, V0Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(V0Error::bad_body("the request body must be a JSON object")),
        Err(e) => Err(V0Error::bad_body(format!(
            "the request body is not valid JSON: {e}"
        ))),
    }
}

/// A boolean parameter: `true`/`false`, `1`/`0` (query) or a JSON boolean.
pub fn flag(name: &str, v: Option<&Value>) -> Result<bool, V0Error> {
    match v {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) => match s.as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" | "" => Ok(false),
            other => Err(V0Error::invalid_request(format!(
                "{name}: expected true or false, got {other:?}"
            ))),
        },
        Some(Value::Number(n)) if n.as_u64() == Some(1) => Ok(true),
        Some(Value::Number(n)) if n.as_u64() == Some(0) => Ok(false),
        Some(other) => Err(V0Error::invalid_request(format!(
            "{name}: expected true or false, got {other}"
        ))),
    }
}

/// A whole-number parameter from a query string or a JSON body.
pub fn whole(name: &str, v: Option<&Value>) -> Result<Option<u64>, V0Error> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s.trim().parse::<u64>().map(Some).map_err(|_| {
            V0Error::invalid_request(format!("{name}: expected a whole number, got {s:?}"))
        }),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| {
            V0Error::invalid_request(format!("{name}: expected a whole number, got {n}"))
        }),
        Some(other) => Err(V0Error::invalid_request(format!(
            "{name}: expected a whole number, got {other}"
        ))),
    }
}

/// What a list's `offset` carries: core's cursor of the next page, how
/// many records were served so far (so `maxRecords` holds across pages) and
/// a hash of the parameters it was minted for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offset {
    /// Core's cursor.
    pub cursor: String,
    /// Records served before the page it starts.
    pub served: u64,
    /// Hash of the list parameters.
    pub params: String,
}

impl Offset {
    /// `itr` and base64url of `served.params.cursor` sealed by `pb`
    /// ([`pybase_core::Pybase::seal_token`]: the count served cannot be
    /// edited either).
    pub fn encode(&self, pb: &pybase_core::Pybase) -> String {
        let raw = format!("{}.{}.{}", self.served, self.params, self.cursor);
        format!("itr{}", URL_SAFE_NO_PAD.encode(pb.seal_token(raw)))
    }

    /// Reads a token `pb` sealed, minted for `params`; anything else is 422
    /// `LIST_RECORDS_ITERATOR_NOT_AVAILABLE`.
    pub fn decode(pb: &pybase_core::Pybase, token: &str, params: &str) -> Result<Self, V0Error> {
        let bad = || {
            V0Error::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "LIST_RECORDS_ITERATOR_NOT_AVAILABLE",
                "the offset is not valid for these list parameters",
            )
        };
        let raw = token
            .strip_prefix("itr")
            .and_then(|b| URL_SAFE_NO_PAD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(bad)?;
        let raw = pb.open_token(&raw).ok_or_else(bad)?;
        let mut parts = raw.splitn(3, '.');
        let (Some(served), Some(hash), Some(cursor)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let served = served.parse::<u64>().map_err(|_| bad())?;
        if hash != params || cursor.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            cursor: cursor.to_owned(),
            served,
            params: hash.to_owned(),
        })
    }
}

/// A short stable hash of the list parameters an offset belongs to.
pub fn params_hash(parts: &[&Value]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.to_string().as_bytes());
        h.update([0]);
    }
    URL_SAFE_NO_PAD.encode(&h.finalize()[..12])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn list_parameters_come_in_every_form() {
        let q = QueryPairs::parse(Some("fields%5B%5D=A+b&fields%5B%5D=C&x=1"));
        assert_eq!(q.list("fields"), Some(vec!["A b".into(), "C".into()]));
        let q = QueryPairs::parse(Some("fields[1]=B&fields[0]=A"));
        assert_eq!(q.list("fields"), Some(vec!["A".into(), "B".into()]));
        let q = QueryPairs::parse(Some("fields=A"));
        assert_eq!(q.list("fields"), Some(vec!["A".into()]));
        assert_eq!(QueryPairs::parse(Some("")).list("fields"), None);
        assert_eq!(QueryPairs::parse(None).get("view"), None);
    }

    #[test]
    fn sort_keys_come_in_any_order() {
        let q = QueryPairs::parse(Some(
            "sort%5B1%5D%5Bfield%5D=Name&sort%5B0%5D%5Bdirection%5D=desc&sort%5B0%5D%5Bfield%5D=Qty",
        ));
        assert_eq!(
            q.sort(),
            Some(json!([{"field": "Qty", "direction": "desc"}, {"field": "Name"}]))
        );
        assert_eq!(QueryPairs::parse(Some("a=1")).sort(), None);
    }

    #[test]
    fn bodies_must_be_objects() {
        assert!(object_body(b"").unwrap().is_empty());
        assert!(object_body(b"{\"a\":1}").unwrap().contains_key("a"));
        assert_eq!(
            object_body(b"[1]").unwrap_err().kind,
            "INVALID_REQUEST_BODY"
        );
        assert_eq!(object_body(b"{").unwrap_err().status.as_u16(), 400);
    }

    #[test]
    fn offsets_round_trip_only_for_their_parameters() {
        let h = params_hash(&[&json!("a"), &json!(null)]);
        let o = Offset {
            cursor: "abc.def".into(),
            served: 100,
            params: h.clone(),
        };
        let store = pybase_store_sqlite::SqliteStore::open_in_memory().unwrap();
        let pb = pybase_core::Pybase::new(std::sync::Arc::new(store)).with_webhook_key(b"k");
        let token = o.encode(&pb);
        assert!(token.starts_with("itr"));
        assert_eq!(Offset::decode(&pb, &token, &h).unwrap(), o);
        let other = params_hash(&[&json!("b"), &json!(null)]);
        assert_eq!(
            Offset::decode(&pb, &token, &other).unwrap_err().kind,
            "LIST_RECORDS_ITERATOR_NOT_AVAILABLE"
        );
        assert!(Offset::decode(&pb, "itr!!!", &h).is_err());
        assert!(Offset::decode(&pb, "garbage", &h).is_err());
        // The count served is sealed with the rest: an edited one is not
        // read, nor is one sealed under another secret.
        let raw = format!("0.{h}.abc.def");
        let forged = format!(
            "itr{}",
            URL_SAFE_NO_PAD.encode(format!("{raw}.AAAAAAAAAAAAAAAAAAAAAA"))
        );
        assert!(Offset::decode(&pb, &forged, &h).is_err());
        let elsewhere = pybase_core::Pybase::new(std::sync::Arc::new(
            pybase_store_sqlite::SqliteStore::open_in_memory().unwrap(),
        ))
        .with_webhook_key(b"another");
        assert!(Offset::decode(&elsewhere, &token, &h).is_err());
        // A facade without a key seals nothing, and reads its own offsets.
        let keyless = pybase_core::Pybase::new(std::sync::Arc::new(
            pybase_store_sqlite::SqliteStore::open_in_memory().unwrap(),
        ));
        let plain = o.encode(&keyless);
        assert_eq!(Offset::decode(&keyless, &plain, &h).unwrap(), o);
    }

    #[test]
    fn flags_and_numbers_read_both_forms() {
        assert!(flag("x", Some(&json!("1"))).unwrap());
        assert!(flag("x", Some(&json!(true))).unwrap());
        assert!(!flag("x", Some(&json!("false"))).unwrap());
        assert!(flag("x", Some(&json!("yes"))).is_err());
        assert_eq!(whole("n", Some(&json!("12"))).unwrap(), Some(12));
        assert_eq!(whole("n", Some(&json!(3))).unwrap(), Some(3));
        assert!(whole("n", Some(&json!("-1"))).is_err());
    }
}
