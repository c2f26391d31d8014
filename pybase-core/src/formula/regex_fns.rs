//! `REGEX_MATCH`, `REGEX_EXTRACT`, `REGEX_REPLACE` (A.7) through the
//! `regex` crate: linear time, compiled size bounded, patterns cached per
//! thread.

use std::cell::RefCell;
use std::collections::HashMap;

use regex::{Regex, RegexBuilder};

use super::coerce::to_text;
use super::value::{ErrorKind, Value};

/// Longest accepted pattern, in bytes.
const MAX_PATTERN_BYTES: usize = 4 * 1024;
/// Compiled program size limit, in bytes.
const MAX_COMPILED_BYTES: usize = 1 << 20;
/// Patterns kept per thread before the cache is emptied.
const CACHE_ENTRIES: usize = 128;

thread_local! {
    static CACHE: RefCell<HashMap<String, Regex>> = RefCell::new(HashMap::new());
}

pub(crate) fn compile(pattern: &str) -> Result<Regex, ErrorKind> {
    if pattern.len() > MAX_PATTERN_BYTES {
        return Err(ErrorKind::Error);
    }
    if let Some(re) = CACHE.with(|c| c.borrow().get(pattern).cloned()) {
        return Ok(re);
    }
    let re = RegexBuilder::new(pattern)
        .size_limit(MAX_COMPILED_BYTES)
        .dfa_size_limit(MAX_COMPILED_BYTES)
        .build()
        .map_err(|_| ErrorKind::Error)?;
    CACHE.with(|c| {
        let mut cache = c.borrow_mut();
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(pattern.to_string(), re.clone());
    });
    Ok(re)
}

/// Evaluates one of the regex functions on evaluated arguments; `name` is
/// upper-case and known to be a regex function.
pub(crate) fn regex_call(name: &str, v: &[Value]) -> Result<Value, ErrorKind> {
    let want = if name == "REGEX_REPLACE" { 3 } else { 2 };
    if v.len() != want {
        return Err(ErrorKind::Error);
    }
    for x in v {
        if let Value::Error(e) = x {
            return Err(*e);
        }
    }
    let re = compile(&to_text(&v[1])?)?;
    if v[0].is_blank() && name != "REGEX_MATCH" {
        return Ok(Value::Blank);
    }
    let text = to_text(&v[0])?;
    Ok(match name {
        "REGEX_MATCH" => Value::Bool(re.is_match(&text)),
        "REGEX_EXTRACT" => re
            .find(&text)
            .map_or(Value::Blank, |m| Value::Text(m.as_str().to_string())),
        _ => {
            let replacement = to_text(&v[2])?;
            Value::Text(re.replace_all(&text, replacement.as_str()).into_owned())
        }
    })
}
