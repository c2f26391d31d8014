//! The text family: single-line text, long text, email, URL and phone.
//! All are stored as JSON strings; text and long text take any value
//! converted to text.

use serde_json::{Value, json};

use crate::fields::cell::{CellError, expected};
use crate::fields::decimal::number_text;
use crate::fields::kind::{
    Kind, KindInfo, Options, OptionsError, Storage, ValueKind, operand_as_cell,
    optionless_kind_info,
};
use crate::fields::options_schema as os;
use crate::ids::TableId;

/// Single-line text, optionally limited in length.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text {
    /// Maximum length in characters.
    pub max_length: Option<u32>,
}

impl KindInfo for Text {
    const NAME: &'static str = "text";
    const OPTION_KEYS: &'static [&'static str] = &["max_length"];

    fn parse(options: &Options<'_>) -> Result<Self, OptionsError> {
        let max_length = match options.get("max_length") {
            None => None,
            Some(_) => Some(options.whole_in("max_length", 1..=100_000, 1)?),
        };
        Ok(Self {
            max_length: max_length.and_then(|n| u32::try_from(n).ok()),
        })
    }

    fn examples(_: TableId) -> Vec<Self> {
        vec![
            Self { max_length: None },
            Self {
                max_length: Some(5),
            },
            Self {
                max_length: Some(1),
            },
        ]
    }

    fn options_schema() -> Value {
        os::object(json!({ "max_length": os::integer(1, 100_000) }))
    }
}

impl Kind for Text {
    fn options_json(&self) -> Value {
        match self.max_length {
            Some(n) => json!({ "max_length": n }),
            None => json!({}),
        }
    }

    fn storage(&self) -> Storage {
        Storage::Cell(ValueKind::Text)
    }

    fn validate(&self, value: &Value, typecast: bool) -> Result<Option<Value>, CellError> {
        single_line(value, typecast, self.max_length)
    }

    fn sample_inputs(&self) -> Vec<Value> {
        let texts = [
            "a",
            "Apple pie",
            "  padded  ",
            "line\nbreak",
            "crlf\r\nend",
            "nul\u{0}inside",
            "日本語",
            "%",
            "a\\b",
            "'; DROP TABLE records; --",
        ];
        let mut out: Vec<Value> = texts.iter().map(|s| Value::from(*s)).collect();
        out.extend([json!(12), json!(true)]);
        out
    }

    fn is_free_text(&self) -> bool {
        true
    }
}

/// Multi-line text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LongText;

optionless_kind_info!(LongText, "long_text");

impl Kind for LongText {
    fn options_json(&self) -> Value {
        json!({})
    }

    fn storage(&self) -> Storage {
        Storage::Cell(ValueKind::Text)
    }

    fn validate(&self, value: &Value, typecast: bool) -> Result<Option<Value>, CellError> {
        long_text(value, typecast)
    }

    fn sample_inputs(&self) -> Vec<Value> {
        vec![
            json!("line one\nline two"),
            json!("long é ".repeat(700)),
            json!("x".repeat(LONG_TEXT_MAX_CHARS + 1)),
            json!(2.5),
        ]
    }

    fn is_free_text(&self) -> bool {
        true
    }
}

/// Declares a text type without options whose cells are validated by
/// `$validate` and whose exact-match operands are normalised like cells.
macro_rules! checked_text {
    ($(#[$doc:meta])* $name:ident, $api:literal, $validate:ident, $samples:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name;

        optionless_kind_info!($name, $api);

        impl Kind for $name {
            fn options_json(&self) -> Value {
                json!({})
            }

            fn storage(&self) -> Storage {
                Storage::Cell(ValueKind::Text)
            }

            fn validate(&self, value: &Value, typecast: bool) -> Result<Option<Value>, CellError> {
                $validate(value, typecast)
            }

            fn sample_inputs(&self) -> Vec<Value> {
                $samples.iter().map(|s: &&str| Value::from(*s)).collect()
            }

            fn text_operand(&self, text: &str, given: &Value, partial: bool) -> Result<String, String> {
                operand_as_cell(self, text, given, partial)
            }
        }
    };
}

checked_text!(
    /// An email address (domain lowercased).
    Email,
    "email",
    email,
    ["bob@example.com", "Bob@Example.COM", " a@b.co ", "x@y", "not an email", "a@@b.c"]
);
checked_text!(
    /// An http(s) URL.
    Url,
    "url",
    url,
    ["https://example.com/a?b=c", "HTTP://Example.com", "http://ü.example/ä", "example.com", "ftp://x.y", "https://"]
);
checked_text!(
    /// A phone number: digits and `+ - ( ) .` and spaces.
    Phone,
    "phone",
    phone,
    ["+1 (555) 010-9999", "555-0100", "+49 30 1234567", "12", "call me"]
);

/// Longest long-text cell, in characters.
const LONG_TEXT_MAX_CHARS: usize = 100_000;
/// Longest email address (RFC 5321 path limit).
const EMAIL_MAX_CHARS: usize = 254;
/// Longest phone number, in characters.
const PHONE_MAX_CHARS: usize = 32;
/// Fewest digits in a phone number.
const PHONE_MIN_DIGITS: usize = 3;

/// The string of a text-like cell: a string, or with `typecast` a number or
/// boolean as its text.
fn string_of(value: &Value, typecast: bool, what: &str) -> Result<String, CellError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) if typecast => Ok(number_text(n)),
        Value::Bool(b) if typecast => Ok(b.to_string()),
        _ => Err(expected(what, value)),
    }
}

fn is_line_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}')
}

fn single_line(
    value: &Value,
    typecast: bool,
    max_length: Option<u32>,
) -> Result<Option<Value>, CellError> {
    let mut s = string_of(value, typecast, "text")?;
    if s.contains(is_line_break) {
        if !typecast {
            return Err(expected("a single line of text", value));
        }
        // A Windows line end is one break, so it becomes one space.
        s = s.replace("\r\n", " ").replace(is_line_break, " ");
    }
    if let Some(max) = max_length {
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        if s.chars().count() > max {
            return Err(expected(
                &format!("text of at most {max} characters"),
                value,
            ));
        }
    }
    Ok(Some(Value::String(s)))
}

fn long_text(value: &Value, typecast: bool) -> Result<Option<Value>, CellError> {
    let s = string_of(value, typecast, "text")?;
    if s.chars().count() > LONG_TEXT_MAX_CHARS {
        return Err(expected(
            &format!("text of at most {LONG_TEXT_MAX_CHARS} characters"),
            value,
        ));
    }
    Ok(Some(Value::String(s)))
}

/// The trimmed string of a cell whose surrounding whitespace means nothing;
/// `None` when nothing is left.
fn trimmed(value: &Value, typecast: bool, what: &str) -> Result<Option<String>, CellError> {
    let s = string_of(value, typecast, what)?;
    let t = s.trim();
    Ok((!t.is_empty()).then(|| t.to_owned()))
}

fn email(value: &Value, typecast: bool) -> Result<Option<Value>, CellError> {
    const WHAT: &str = "an email address";
    let Some(s) = trimmed(value, typecast, WHAT)? else {
        return Ok(None);
    };
    let bad = || expected(WHAT, value);
    if s.chars().count() > EMAIL_MAX_CHARS || s.contains(char::is_whitespace) {
        return Err(bad());
    }
    let Some((local, domain)) = s.split_once('@') else {
        return Err(bad());
    };
    if local.is_empty() || domain.contains('@') || !domain.contains('.') {
        return Err(bad());
    }
    if domain.split('.').any(str::is_empty) {
        return Err(bad());
    }
    Ok(Some(Value::String(format!(
        "{local}@{}",
        domain.to_lowercase()
    ))))
}

/// Splits `scheme://rest` when the scheme is http or https (any case) and
/// returns the lowercase scheme and the rest.
fn split_http(s: &str) -> Option<(&'static str, &str)> {
    let (scheme, rest) = s.split_once("://")?;
    if scheme.eq_ignore_ascii_case("http") {
        Some(("http", rest))
    } else if scheme.eq_ignore_ascii_case("https") {
        Some(("https", rest))
    } else {
        None
    }
}

/// The host of a URL's remainder after `scheme://`: the authority without
/// user info and port.
fn host_of(rest: &str) -> &str {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    if host_port.starts_with('[') {
        // An IPv6 literal keeps its colons.
        return host_port.split(']').next().unwrap_or("");
    }
    host_port.split(':').next().unwrap_or("")
}

/// Whether a bare `example.com/x` looks like a host name worth prefixing
/// with `https://`. A name's last label is never all digits (RFC 3696), so
/// a decimal number (`3.142`, a number cell typecast or converted) is not
/// one; a dotted IPv4 address (`10.0.0.1`) is.
fn looks_like_bare_host(s: &str) -> bool {
    let host = host_of(s);
    let numeric_tld = host
        .rsplit('.')
        .next()
        .is_some_and(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_digit()));
    host.contains('.')
        && !host.starts_with('.')
        && !host.ends_with('.')
        && host
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-'))
        && (!numeric_tld || host.parse::<std::net::Ipv4Addr>().is_ok())
        && !s.split(['/', '?', '#']).next().unwrap_or("").contains('@')
}

fn url(value: &Value, typecast: bool) -> Result<Option<Value>, CellError> {
    const WHAT: &str = "an http or https URL";
    let Some(s) = trimmed(value, typecast, WHAT)? else {
        return Ok(None);
    };
    if s.contains(char::is_whitespace) {
        return Err(expected(WHAT, value));
    }
    let (scheme, rest) = match split_http(&s) {
        Some(parts) => parts,
        None if typecast && !s.contains("://") && looks_like_bare_host(&s) => ("https", s.as_str()),
        None => return Err(expected(WHAT, value)),
    };
    if host_of(rest).is_empty() {
        return Err(expected(WHAT, value));
    }
    Ok(Some(Value::String(format!("{scheme}://{rest}"))))
}

fn phone(value: &Value, typecast: bool) -> Result<Option<Value>, CellError> {
    const WHAT: &str = "a phone number";
    let Some(s) = trimmed(value, typecast, WHAT)? else {
        return Ok(None);
    };
    let allowed = |c: char| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '(' | ')' | '.');
    let digits = s.chars().filter(char::is_ascii_digit).count();
    if !s.chars().all(allowed) || digits < PHONE_MIN_DIGITS || s.chars().count() > PHONE_MAX_CHARS {
        return Err(expected(WHAT, value));
    }
    Ok(Some(Value::String(s)))
}
