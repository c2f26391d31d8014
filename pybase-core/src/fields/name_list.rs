//! Lists of names as one text, as spreadsheets and Airtable write them: the
//! names between commas, a name holding a comma or a double quote written
//! between double quotes (a quote inside doubled). A list of choices or
//! linked records that becomes text and then a list again keeps its names
//! (`Beta, Inc` stays one name).

/// `names` as one text: joined with ", ", each name holding a comma or a
/// double quote, or starting or ending with white space, between double
/// quotes.
pub(crate) fn join_names<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for name in names {
        if !out.is_empty() {
            out.push_str(", ");
        }
        if name.contains([',', '"']) || name.trim() != name {
            out.push('"');
            out.push_str(&name.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(name);
        }
    }
    out
}

/// The names `text` lists (see the module doc), each trimmed, empty ones
/// left out. A name that starts with a double quote runs to the quote that
/// closes it (`""` inside is one quote); text after it, up to the next
/// comma, is kept with it. A quote that never closes is kept as written.
pub(crate) fn split_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    loop {
        let trimmed = rest.trim_start();
        let (name, after) = match trimmed.strip_prefix('"').and_then(quoted) {
            Some((inner, after)) => {
                // Anything between the closing quote and the next comma
                // belongs to the name.
                let end = after.find(',').unwrap_or(after.len());
                (format!("{inner}{}", after[..end].trim_end()), &after[end..])
            }
            None => {
                let end = trimmed.find(',').unwrap_or(trimmed.len());
                (trimmed[..end].trim().to_owned(), &trimmed[end..])
            }
        };
        if !name.is_empty() {
            names.push(name);
        }
        match after.strip_prefix(',') {
            Some(next) => rest = next,
            None => return names,
        }
    }
}

/// The text up to the quote that closes a quoted name (`s` is what follows
/// the opening quote), with doubled quotes as one, and what follows the
/// closing quote; `None` if no quote closes it.
fn quoted(s: &str) -> Option<(String, &str)> {
    let mut inner = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '"' {
            inner.push(c);
            continue;
        }
        if s[i + 1..].starts_with('"') {
            inner.push('"');
            chars.next();
        } else {
            return Some((inner, &s[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_split_at_commas_and_trim() {
        assert_eq!(
            split_names(" Acme,Beta ,, Gamma "),
            ["Acme", "Beta", "Gamma"]
        );
        assert!(split_names("").is_empty());
        assert!(split_names(" , ").is_empty());
    }

    #[test]
    fn quoted_names_keep_commas_and_quotes() {
        assert_eq!(
            split_names(r#""Beta, Inc", Acme, "say ""hi""""#),
            ["Beta, Inc", "Acme", r#"say "hi""#]
        );
        // Text after the closing quote stays with the name.
        assert_eq!(split_names(r#""a, b" c, d"#), ["a, b c", "d"]);
        // A quote inside a name, or one never closed, is kept.
        assert_eq!(split_names(r#"5" pipe, x"#), [r#"5" pipe"#, "x"]);
        assert_eq!(split_names(r#""open, end"#), [r#""open"#, "end"]);
    }

    #[test]
    fn joined_names_split_back_into_the_same_names() {
        let names = ["Beta, Inc", "Acme", r#"The "Best""#, "a,b,c", "Ünï, cødé"];
        let text = join_names(names);
        assert_eq!(
            text,
            r#""Beta, Inc", Acme, "The ""Best""", "a,b,c", "Ünï, cødé""#
        );
        assert_eq!(split_names(&text), names);
        assert_eq!(join_names(["x", "y"]), "x, y");
        let spaced = [" lead", "trail ", "\ttab"];
        assert_eq!(join_names(spaced), "\" lead\", \"trail \", \"\ttab\"");
        assert_eq!(split_names(&join_names(spaced)), spaced);
    }
}
