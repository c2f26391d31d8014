//! The lexer (A.1): formula text to tokens with byte offsets.

use super::error::FormulaError;

/// The kinds of token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Number(f64),
    Text(String),
    Field(String),
    Ident(String),
    LParen,
    RParen,
    Comma,
    Plus,
    Minus,
    Star,
    Slash,
    Amp,
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Number(n) => format!("number {n}"),
            Self::Text(_) => "a text literal".to_string(),
            Self::Field(name) => format!("field {{{name}}}"),
            Self::Ident(name) => format!("name {name}"),
            Self::LParen => "'('".to_string(),
            Self::RParen => "')'".to_string(),
            Self::Comma => "','".to_string(),
            Self::Plus => "'+'".to_string(),
            Self::Minus => "'-'".to_string(),
            Self::Star => "'*'".to_string(),
            Self::Slash => "'/'".to_string(),
            Self::Amp => "'&'".to_string(),
            Self::Eq => "'='".to_string(),
            Self::Ne => "'!='".to_string(),
            Self::Lt => "'<'".to_string(),
            Self::Gt => "'>'".to_string(),
            Self::Le => "'<='".to_string(),
            Self::Ge => "'>='".to_string(),
            Self::Eof => "end of the formula".to_string(),
        }
    }
}

/// A token and its byte range.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Splits `src` into tokens, ending with [`Tok::Eof`].
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, FormulaError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let tok = match c {
            b'(' => single(&mut i, Tok::LParen),
            b')' => single(&mut i, Tok::RParen),
            b',' => single(&mut i, Tok::Comma),
            b'+' => single(&mut i, Tok::Plus),
            b'-' => single(&mut i, Tok::Minus),
            b'*' => single(&mut i, Tok::Star),
            b'/' => single(&mut i, Tok::Slash),
            b'&' => {
                if bytes.get(i + 1) == Some(&b'&') {
                    return Err(FormulaError::new(
                        i,
                        "'&&' is not an operator: use AND(a, b), or '&' to join text",
                    ));
                }
                single(&mut i, Tok::Amp)
            }
            b'=' => single(&mut i, Tok::Eq),
            b'!' => {
                if bytes.get(i + 1) == Some(&b'=') {
                    i += 2;
                    Tok::Ne
                } else {
                    return Err(FormulaError::new(i, "expected '!=' after '!'"));
                }
            }
            b'<' => match bytes.get(i + 1) {
                Some(b'=') => {
                    i += 2;
                    Tok::Le
                }
                Some(b'>') => {
                    i += 2;
                    Tok::Ne
                }
                _ => single(&mut i, Tok::Lt),
            },
            b'>' => {
                if bytes.get(i + 1) == Some(&b'=') {
                    i += 2;
                    Tok::Ge
                } else {
                    single(&mut i, Tok::Gt)
                }
            }
            b'\'' | b'"' => lex_text(src, &mut i)?,
            b'{' => lex_field(src, &mut i)?,
            b'0'..=b'9' | b'.' => lex_number(src, &mut i)?,
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                Tok::Ident(src[start..i].to_string())
            }
            b'%' | b'|' | b'^' => {
                return Err(FormulaError::new(
                    i,
                    format!(
                        "'{}' is not an operator: expected one of + - * / & = != < > <= >=",
                        c as char
                    ),
                ));
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(FormulaError::new(
                    i,
                    format!(
                        "unexpected character '{ch}': expected a value, a field, a function or an operator"
                    ),
                ));
            }
        };
        out.push(Token { tok, start, end: i });
    }
    out.push(Token {
        tok: Tok::Eof,
        start: src.len(),
        end: src.len(),
    });
    Ok(out)
}

fn single(i: &mut usize, tok: Tok) -> Tok {
    *i += 1;
    tok
}

fn lex_number(src: &str, i: &mut usize) -> Result<Tok, FormulaError> {
    let bytes = src.as_bytes();
    let start = *i;
    let digits = |i: &mut usize| {
        let from = *i;
        while *i < bytes.len() && bytes[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - from
    };
    let mut count = digits(i);
    if *i < bytes.len() && bytes[*i] == b'.' {
        *i += 1;
        count += digits(i);
    }
    if count == 0 {
        return Err(FormulaError::new(start, "expected digits in the number"));
    }
    if *i < bytes.len() && (bytes[*i] == b'e' || bytes[*i] == b'E') {
        *i += 1;
        if *i < bytes.len() && (bytes[*i] == b'+' || bytes[*i] == b'-') {
            *i += 1;
        }
        if digits(i) == 0 {
            return Err(FormulaError::new(
                *i,
                "expected digits in the number's exponent",
            ));
        }
    }
    let text = &src[start..*i];
    match text.parse::<f64>() {
        Ok(n) if n.is_finite() => Ok(Tok::Number(n)),
        _ => Err(FormulaError::new(
            start,
            format!("number {text} is out of range"),
        )),
    }
}

fn lex_text(src: &str, i: &mut usize) -> Result<Tok, FormulaError> {
    let start = *i;
    let mut chars = src[start..].char_indices();
    let quote = chars.next().map(|(_, c)| c).unwrap_or('"');
    let mut out = String::new();
    while let Some((off, c)) = chars.next() {
        if c == quote {
            *i = start + off + c.len_utf8();
            return Ok(Tok::Text(out));
        }
        if c == '\\' {
            match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, other)) => out.push(other),
                None => break,
            }
        } else {
            out.push(c);
        }
    }
    Err(FormulaError::new(
        start,
        format!("unterminated text: expected a closing {quote}"),
    ))
}

fn lex_field(src: &str, i: &mut usize) -> Result<Tok, FormulaError> {
    let start = *i;
    let mut chars = src[start + 1..].char_indices();
    let mut out = String::new();
    while let Some((off, c)) = chars.next() {
        match c {
            '}' => {
                if out.is_empty() {
                    return Err(FormulaError::new(
                        start,
                        "empty field reference: expected a field name between { and }",
                    ));
                }
                *i = start + 1 + off + 1;
                return Ok(Tok::Field(out));
            }
            '\\' => match chars.next() {
                Some((_, other)) => out.push(other),
                None => break,
            },
            _ => out.push(c),
        }
    }
    Err(FormulaError::new(
        start,
        "unterminated field reference: expected a closing }",
    ))
}
