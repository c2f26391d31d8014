//! A small builder of parameterised SQL: text plus positional arguments.

use pybase_core::StoreError;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{Arguments, AssertSqlSafe, Encode, Postgres, Type};

use crate::error::BACKEND;

/// SQL text with its bound arguments. Values only ever reach the database as
/// `$n` parameters; the text holds nothing but fixed SQL and placeholders.
#[derive(Default)]
pub(crate) struct Sql {
    text: String,
    args: PgArguments,
    error: Option<sqlx::error::BoxDynError>,
}

impl Sql {
    /// Starts with fixed SQL.
    pub(crate) fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            ..Self::default()
        }
    }

    /// Appends fixed SQL.
    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Binds a value and returns its placeholder (`$n`).
    pub(crate) fn arg<'t, T>(&mut self, value: T) -> String
    where
        T: Encode<'t, Postgres> + Type<Postgres>,
    {
        if let Err(e) = self.args.add(value) {
            self.error.get_or_insert(e);
        }
        format!("${}", self.args.len())
    }

    /// A query ready to run, or the error of a value that did not encode.
    pub(crate) fn build(self) -> Result<Query<'static, Postgres, PgArguments>, StoreError> {
        match self.error {
            Some(e) => Err(StoreError::backend(BACKEND, e)),
            None => Ok(sqlx::query_with(AssertSqlSafe(self.text), self.args)),
        }
    }
}

/// Fixed SQL with a fixed column list put where `{}` stands. Both are
/// constants of this crate, so the result is safe to run.
pub(crate) fn cols(columns: &'static str, sql: &'static str) -> AssertSqlSafe<String> {
    AssertSqlSafe(sql.replacen("{}", columns, 1))
}
