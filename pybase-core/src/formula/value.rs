//! Run-time values of the formula language (A.3).

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

/// The error kinds of A.5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// `#ERROR!`: a bad argument, unparsable input or `ERROR()`.
    Error,
    /// Not a number (`0/0`, `SQRT(-1)`).
    NaN,
    /// Positive infinity (`1/0`).
    Infinity,
    /// Negative infinity (`-1/0`).
    NegInfinity,
}

impl ErrorKind {
    /// The text Airtable's API shows for the error.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "#ERROR!",
            Self::NaN => "NaN",
            Self::Infinity => "Infinity",
            Self::NegInfinity => "-Infinity",
        }
    }
}

/// A value computed by a formula.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Empty.
    Blank,
    /// A finite number; build it with [`Value::number`] so that non-finite
    /// results become errors.
    Number(f64),
    /// Text.
    Text(String),
    /// A checkbox or comparison result.
    Bool(bool),
    /// A calendar day.
    Date(NaiveDate),
    /// A UTC instant, and the zone `SET_TIMEZONE` gave it for later
    /// calendar functions (`None`: the evaluation zone, A.6).
    DateTime(DateTime<Utc>, Option<Tz>),
    /// An ordered list.
    Array(Vec<Self>),
    /// An error (A.5).
    Error(ErrorKind),
}

impl Value {
    /// A number, or the error it stands for when not finite; `-0` is `0`.
    pub fn number(n: f64) -> Self {
        if n.is_nan() {
            Self::Error(ErrorKind::NaN)
        } else if n == f64::INFINITY {
            Self::Error(ErrorKind::Infinity)
        } else if n == f64::NEG_INFINITY {
            Self::Error(ErrorKind::NegInfinity)
        } else if n == 0.0 {
            Self::Number(0.0)
        } else {
            Self::Number(n)
        }
    }

    /// An instant read in the evaluation zone.
    pub fn instant(t: DateTime<Utc>) -> Self {
        Self::DateTime(t, None)
    }

    /// A text value.
    pub fn text(t: impl Into<String>) -> Self {
        Self::Text(t.into())
    }

    /// The `#ERROR!` value.
    pub fn error() -> Self {
        Self::Error(ErrorKind::Error)
    }

    /// Whether this is Blank.
    pub fn is_blank(&self) -> bool {
        matches!(self, Self::Blank)
    }

    /// Whether this is an error of any kind.
    pub fn is_error(&self) -> bool {
        matches!(self, Self::Error(_))
    }
}
