//! Regular-expression classes and patterns of what core accepts, written
//! so every regex dialect (ECMA, Python, Rust) reads them alike: the API
//! schemas (the `openapi` feature, field options) describe inputs with them.

/// Characters Rust's `char::is_whitespace` (Unicode White_Space) and
/// `str::trim` treat as whitespace, spelled out so every regex dialect
/// (ECMA, Python, Rust) reads the class alike (`\s` differs between them).
pub const WHITESPACE: &str =
    r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// Control characters (`char::is_control`, Unicode Cc).
pub const CONTROL: &str = r"\x00-\x1f\x7f-\x9f";
/// Whitespace and control characters, as one class body.
pub const BLANK_OR_CONTROL: &str =
    r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// Text PostgreSQL can store: no NUL (refused on every backend alike).
pub const NO_NUL: &str = r"^[^\x00]*$";

/// An id of the kind with `prefix`: the prefix and 14 letters or digits.
pub fn id_pattern(prefix: &str) -> String {
    format!("^{prefix}[0-9A-Za-z]{{14}}$")
}
