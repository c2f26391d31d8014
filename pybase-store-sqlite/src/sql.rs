//! Compiles resolved queries ([`Filter`], [`SortKey`], [`Cursor`]) to
//! parameterised SQL over the `records` table.
//!
//! Nothing a client wrote is spliced into SQL text: operands are bound
//! parameters (numbered, so one value can be used twice), and so are the
//! JSON paths and ids of fields. A comparison on a field whose side index
//! is ready (see [`crate::layout`]) reads the side index instead of every
//! row's cell: `records.rowid IN (SELECT rec FROM cell_index WHERE
//! field_id = ? AND value > ?)`, where `value` holds exactly the
//! `json_extract` the bare comparison would read, so answers are the same;
//! a sorted page may walk the side index of its first key in order (see
//! [`Sql::walk`]), reading that key as `ci.value`. A filter is
//! only ever a WHERE clause, where NULL rejects a row as 0 does: outside
//! any `NOT` a comparison is written bare (one read of its cell, and a term
//! an index can serve); under a `NOT` every condition is two-valued (0 or 1,
//! never NULL), so `NOT` behaves exactly like [`pybase_core::query::eval`].

use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;

use pybase_core::fields::{MetaColumn, ValueKind};
use pybase_core::ids::FieldId;
use pybase_core::query::eval::ListWanted;
use pybase_core::query::{Condition, Cursor, Filter, Op, Operand, SortKey, SortValue, Target};
use rusqlite::types::Value as SqlValue;

use crate::layout::cell_path;

/// SQL text with its positional parameters (`?1` is `params[0]`).
#[derive(Debug, Default)]
pub(crate) struct Sql {
    /// The parameters, in order.
    pub(crate) params: Vec<SqlValue>,
    /// Fields whose side index of cells is ready.
    indexed: HashSet<FieldId>,
    /// Indexed fields whose side index a page must not walk (see
    /// `records::unwalkable`).
    unwalkable: HashSet<FieldId>,
    /// The field whose side index the query walks as `ci` (its cells are
    /// read as `ci.value`).
    walked: Option<FieldId>,
    /// How many `NOT`s enclose the condition being compiled.
    negations: usize,
}

impl Sql {
    /// A compiler that reads the side index of the `indexed` fields.
    pub(crate) fn with_indexed(indexed: HashSet<FieldId>) -> Self {
        Self {
            params: Vec::new(),
            indexed,
            unwalkable: HashSet::new(),
            walked: None,
            negations: 0,
        }
    }

    /// The bound JSON path of `field`'s cell.
    pub(crate) fn path(&mut self, field: FieldId) -> String {
        self.bind(cell_path(field.as_str()))
    }

    /// Never walks the side index of `fields` (their pages sort instead).
    pub(crate) fn never_walk(&mut self, fields: &HashSet<FieldId>) {
        self.unwalkable.extend(fields.iter().copied());
    }

    /// The indexed field a page sorted by `key` first can walk in order:
    /// a descending key on a cell with a ready side index (the index
    /// orders empty cells, NULL, first, so only a descending walk puts them
    /// last as pages must; ascending pages sort their matches instead).
    pub(crate) fn walkable(&self, key: &SortKey) -> Option<FieldId> {
        match key.target {
            Target::Cell { field, kind }
                if key.desc
                    && indexable(kind)
                    && self.indexed.contains(&field)
                    && !self.unwalkable.contains(&field) =>
            {
                Some(field)
            }
            _ => None,
        }
    }

    /// Reads `field`'s cells from the walked side index (`ci.value`) from
    /// now on.
    pub(crate) fn walk(&mut self, field: FieldId) {
        self.walked = Some(field);
    }

    /// The field whose side index can answer a comparison on `target` in
    /// place of reading every row's cell: a ready index of a text or
    /// number cell, outside any `NOT` (the subquery is two-valued, where a
    /// bare comparison with an empty cell is NULL: the same outside a
    /// `NOT`, not under one), and only when no side index is walked (a
    /// walk visits rows in sort order and stops after a page: reading the
    /// few visited rows' cells beats collecting every match first).
    fn side_index(&self, target: Target) -> Option<FieldId> {
        match target {
            Target::Cell { field, kind }
                if !self.exact()
                    && self.walked.is_none()
                    && indexable(kind)
                    && self.indexed.contains(&field) =>
            {
                Some(field)
            }
            _ => None,
        }
    }

    /// [`Self::in_side_index`] if `field`'s side index is ready.
    pub(crate) fn lookup(&mut self, field: FieldId, test: &str) -> Option<String> {
        self.indexed
            .contains(&field)
            .then(|| self.in_side_index(field, test))
    }

    /// `records.rowid IN (the records whose indexed cell of `field`
    /// satisfies `value {test}`)`.
    fn in_side_index(&mut self, field: FieldId, test: &str) -> String {
        let f = self.bind(field.as_str().to_owned());
        format!(
            "records.rowid IN (SELECT rec FROM cell_index WHERE field_id = {f} AND value {test})"
        )
    }

    /// Whether the condition being compiled must be exactly two-valued.
    ///
    /// Outside any `NOT`, SQL's NULL (an empty cell) rejects a row exactly
    /// as false does, through every AND and OR, so a comparison is written
    /// bare (`v > p`): one read of the cell per row, and a range term the
    /// planner can match to a cell index. Under a `NOT` the empty case must
    /// be false before it is negated: `coalesce(v > p, 0)`.
    fn exact(&self) -> bool {
        self.negations > 0
    }

    /// Binds `value` and returns its placeholder (`?N`).
    pub(crate) fn bind(&mut self, value: impl Into<SqlValue>) -> String {
        self.params.push(value.into());
        format!("?{}", self.params.len())
    }

    /// A comma-separated list of placeholders for `values`.
    fn bind_list<V: Into<SqlValue>>(&mut self, values: impl IntoIterator<Item = V>) -> String {
        let mut out = String::new();
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&self.bind(v));
        }
        out
    }

    /// The value a sort key orders by: [`Self::target`], except that a
    /// number cell holding anything but a number (a derived field's error
    /// object, which `json_extract` reads as text) orders as empty, as in
    /// the reference evaluator and PostgreSQL, so that a cursor taken on
    /// such a cell (an empty value) continues where the order does.
    fn key_target(&mut self, target: Target) -> String {
        match target {
            // A lookup of numbers sorts by its first item when that is a
            // number (as `eval::target_value`).
            Target::FirstNumber(field) => {
                let first = self.bind(format!("{}[0]", cell_path(field.as_str())));
                format!(
                    "(CASE WHEN json_type(records.data, {first}) IN ('integer', 'real') \
                     THEN json_extract(records.data, {first}) END)"
                )
            }
            // A list sorts by its first item when that is text (as
            // `eval::target_value`).
            Target::Cell {
                field,
                kind: ValueKind::List,
            } => {
                let first = self.bind(format!("{}[0]", cell_path(field.as_str())));
                format!(
                    "(CASE WHEN json_type(records.data, {first}) = 'text' \
                     THEN json_extract(records.data, {first}) END)"
                )
            }
            Target::Cell {
                field,
                kind: ValueKind::Number,
            } if self.walked != Some(field) => {
                let path = self.path(field);
                format!(
                    "(CASE WHEN json_type(records.data, {path}) IN ('integer', 'real') \
                     THEN json_extract(records.data, {path}) END)"
                )
            }
            _ => self.target(target),
        }
    }

    /// The value a target reads, as an SQL expression. Only bool cells are
    /// never NULL (absent is false).
    fn target(&mut self, target: Target) -> String {
        match target {
            Target::Meta(m) => match m {
                MetaColumn::Autonumber => "records.autonumber",
                MetaColumn::CreatedTime => "records.created_time",
                MetaColumn::UpdatedTime => "records.updated_time",
                MetaColumn::CreatedBy => "records.created_by",
                MetaColumn::UpdatedBy => "records.updated_by",
            }
            .to_owned(),
            Target::Cell { field, kind } if self.walked == Some(field) && indexable(kind) => {
                "ci.value".to_owned()
            }
            Target::Cell { field, kind } => {
                let path = self.path(field);
                match kind {
                    ValueKind::Bool => format!("(json_type(records.data, {path}) IS 'true')"),
                    _ => format!("json_extract(records.data, {path})"),
                }
            }
            Target::FirstNumber(_) => self.key_target(target),
        }
    }

    /// Compiles a filter to a 0/1 expression.
    pub(crate) fn filter(&mut self, filter: &Filter) -> String {
        match filter {
            Filter::And(parts) if parts.is_empty() => "1".to_owned(),
            Filter::Or(parts) if parts.is_empty() => "0".to_owned(),
            Filter::And(parts) => self.join(parts, " AND "),
            Filter::Or(parts) => self.join(parts, " OR "),
            Filter::Not(inner) => {
                self.negations += 1;
                let inner = self.filter(inner);
                self.negations -= 1;
                format!("(NOT {inner})")
            }
            Filter::Cond(c) => {
                // A condition that compiles to a constant binds nothing the
                // text refers to: drop what it bound (the page's limit is
                // written into the SQL, so a trailing parameter nobody
                // names would be one too many for the statement).
                let mark = self.params.len();
                let sql = self.condition(c);
                if sql == "0" || sql == "1" {
                    self.params.truncate(mark);
                }
                sql
            }
        }
    }

    fn join(&mut self, parts: &[Filter], sep: &str) -> String {
        let compiled: Vec<String> = parts.iter().map(|p| self.filter(p)).collect();
        format!("({})", compiled.join(sep))
    }

    fn condition(&mut self, c: &Condition) -> String {
        let kind = c.target.kind();
        if kind == ValueKind::List {
            return self.list_condition(c);
        }
        if let Some(field) = self.side_index(c.target)
            && let Some(sql) = self.side_condition(field, kind, c)
        {
            return sql;
        }
        let v = self.target(c.target);
        match c.op {
            // A bool target is never empty (absent is false).
            Op::IsEmpty if kind == ValueKind::Bool => "0".to_owned(),
            Op::IsNotEmpty if kind == ValueKind::Bool => "1".to_owned(),
            Op::IsEmpty => format!("({v} IS NULL)"),
            Op::IsNotEmpty => format!("({v} IS NOT NULL)"),
            Op::Gt | Op::Gte if let Some(range) = self.numbers_above(c) => {
                if self.exact() {
                    format!("coalesce({v} {range}, 0)")
                } else {
                    format!("({v} {range})")
                }
            }
            Op::Eq | Op::Neq | Op::Lt | Op::Lte | Op::Gt | Op::Gte => {
                let Some(p) = self.scalar_operand(kind, &c.operand) else {
                    // Incomparable operand: never a hit (so `neq` is always true).
                    return if c.op == Op::Neq { "1" } else { "0" }.to_owned();
                };
                let cmp = match c.op {
                    Op::Eq => "=",
                    Op::Neq => "<>",
                    Op::Lt => "<",
                    Op::Lte => "<=",
                    Op::Gt => ">",
                    _ => ">=",
                };
                if c.op == Op::Neq {
                    // An empty cell is "not equal" to anything.
                    format!("coalesce({v} <> {p}, 1)")
                } else if self.exact() {
                    format!("coalesce({v} {cmp} {p}, 0)")
                } else {
                    format!("({v} {cmp} {p})")
                }
            }
            Op::Contains | Op::NotContains | Op::StartsWith => {
                let needle = match (&c.operand, kind) {
                    (Operand::Text(n), ValueKind::Text) => Some(self.bind(n.clone())),
                    _ => None,
                };
                let Some(n) = needle else {
                    return if c.op == Op::NotContains { "1" } else { "0" }.to_owned();
                };
                // lower() of the bundled SQLite folds ASCII only, exactly like
                // eval's to_ascii_lowercase. "Starts with" is "first found at 1".
                let pos = format!("instr(lower({v}), lower({n}))");
                let hit = if c.op == Op::StartsWith { "= 1" } else { "> 0" };
                match c.op {
                    Op::NotContains => format!("coalesce({pos} = 0, 1)"),
                    _ if self.exact() => format!("coalesce({pos} {hit}, 0)"),
                    _ => format!("({pos} {hit})"),
                }
            }
            Op::In => {
                let list = match (&c.operand, kind) {
                    (Operand::TextList(l), ValueKind::Text) if !l.is_empty() => {
                        Some(self.bind_list(l.iter().cloned()))
                    }
                    (Operand::NumberList(l), ValueKind::Number) if !l.is_empty() => {
                        Some(self.bind_list(l.iter().copied()))
                    }
                    _ => None,
                };
                match list {
                    Some(list) if self.exact() => format!("coalesce({v} IN ({list}), 0)"),
                    Some(list) => format!("({v} IN ({list}))"),
                    None => "0".to_owned(),
                }
            }
            Op::HasAny | Op::HasAll => "0".to_owned(),
        }
    }

    /// `c` answered from `field`'s side index, for the operators it can
    /// serve (equality, ranges and `in`); `None` for the others.
    fn side_condition(&mut self, field: FieldId, kind: ValueKind, c: &Condition) -> Option<String> {
        if let Some(range) = self.numbers_above(c) {
            return Some(self.in_side_index(field, &range));
        }
        let cmp = match c.op {
            Op::Eq => "=",
            Op::Lt => "<",
            Op::Lte => "<=",
            Op::Gt => ">",
            Op::Gte => ">=",
            Op::In => {
                let list = match (&c.operand, kind) {
                    (Operand::TextList(l), ValueKind::Text) if !l.is_empty() => {
                        self.bind_list(l.iter().cloned())
                    }
                    (Operand::NumberList(l), ValueKind::Number) if !l.is_empty() => {
                        self.bind_list(l.iter().copied())
                    }
                    _ => return Some("0".to_owned()),
                };
                return Some(self.in_side_index(field, &format!("IN ({list})")));
            }
            _ => return None,
        };
        let Some(p) = self.scalar_operand(kind, &c.operand) else {
            return Some("0".to_owned());
        };
        Some(self.in_side_index(field, &format!("{cmp} {p}")))
    }

    /// Conditions on list cells, as [`pybase_core::query::eval`] reads
    /// them: an array is non-empty when it holds an item that is not null;
    /// `has_any` / `has_all` match a wanted text against string items as
    /// they are, number items numerically against the number it is the
    /// canonical text of, and boolean items against `true` / `false` (see
    /// [`ListWanted`]).
    fn list_condition(&mut self, c: &Condition) -> String {
        let Target::Cell { field, .. } = c.target else {
            return "0".to_owned();
        };
        let path = self.path(field);
        let is_array = format!("json_type(records.data, {path}) IS 'array'");
        let items = format!("json_each(records.data, {path})");
        let wanted: &[String] = match &c.operand {
            Operand::TextList(l) => l,
            _ => &[],
        };
        match c.op {
            Op::IsEmpty => format!(
                "(NOT ({is_array} AND EXISTS (SELECT 1 FROM {items} WHERE type <> 'null')))"
            ),
            Op::IsNotEmpty => {
                format!("({is_array} AND EXISTS (SELECT 1 FROM {items} WHERE type <> 'null'))")
            }
            Op::HasAny if !wanted.is_empty() => {
                let distinct: BTreeSet<&String> = wanted.iter().collect();
                let hit = self.item_matches(distinct);
                format!("({is_array} AND EXISTS (SELECT 1 FROM {items} WHERE {hit}))")
            }
            Op::HasAll if !wanted.is_empty() => {
                // Wanted texts only a string item can match are counted in
                // one pass over the items; each of the others (a number's
                // or a boolean's text) needs an item of its own.
                let (text_only, others): (BTreeSet<&String>, BTreeSet<&String>) =
                    wanted.iter().partition(|w| ListWanted::of(w).text_only());
                let mut parts = Vec::new();
                if !text_only.is_empty() {
                    let n = text_only.len();
                    let list = self.bind_list(text_only.into_iter().cloned());
                    parts.push(format!(
                        "(SELECT count(DISTINCT value) FROM {items} \
                         WHERE type = 'text' AND value IN ({list})) = {n}"
                    ));
                }
                for w in others {
                    let hit = self.item_matches([w]);
                    parts.push(format!("EXISTS (SELECT 1 FROM {items} WHERE {hit})"));
                }
                format!("({is_array} AND {})", parts.join(" AND "))
            }
            _ => "0".to_owned(),
        }
    }

    /// Whether the `json_each` row in scope matches one of `wanted`: a
    /// string item equal to it, a number item equal to the number it is
    /// the canonical text of, a boolean item it spells.
    fn item_matches<'w>(&mut self, wanted: impl IntoIterator<Item = &'w String>) -> String {
        let mut texts = Vec::new();
        let mut numbers = Vec::new();
        let mut booleans = BTreeSet::new();
        for w in wanted {
            let also = ListWanted::of(w);
            texts.push(w.clone());
            numbers.extend(also.number);
            booleans.extend(also.boolean);
        }
        let list = self.bind_list(texts);
        let mut alternatives = vec![format!("(type = 'text' AND value IN ({list}))")];
        if !numbers.is_empty() {
            let list = self.bind_list(numbers);
            alternatives.push(format!(
                "(type IN ('integer', 'real') AND value IN ({list}))"
            ));
        }
        // json_each names a boolean item's type 'true' or 'false'.
        let types: Vec<&str> = booleans
            .into_iter()
            .map(|b| if b { "'true'" } else { "'false'" })
            .collect();
        if !types.is_empty() {
            alternatives.push(format!("type IN ({})", types.join(", ")));
        }
        format!("({})", alternatives.join(" OR "))
    }

    /// Binds a comparison operand if it compares with values of `kind`.
    /// `BETWEEN lo AND +Infinity` for `gt` / `gte` on a number cell, `None`
    /// for other conditions. A derived number field stores an error as an
    /// object, which `json_extract` reads as text, and SQLite orders text
    /// above every number: a plain `>` would match errors (the reference
    /// and PostgreSQL never compare them). Text is never at most infinity,
    /// and `BETWEEN` reads the cell once (a second comparison would extract
    /// it twice). `gt` starts at the next number above the operand.
    fn numbers_above(&mut self, c: &Condition) -> Option<String> {
        let (
            Target::Cell {
                kind: ValueKind::Number,
                ..
            },
            Operand::Number(n),
        ) = (c.target, &c.operand)
        else {
            return None;
        };
        let lo = match c.op {
            Op::Gt => n.next_up(),
            Op::Gte => *n,
            _ => return None,
        };
        let lo = self.bind(lo);
        Some(format!("BETWEEN {lo} AND 9e999"))
    }

    fn scalar_operand(&mut self, kind: ValueKind, operand: &Operand) -> Option<String> {
        match (kind, operand) {
            (ValueKind::Text, Operand::Text(s)) => Some(self.bind(s.clone())),
            (ValueKind::Number, Operand::Number(n)) => Some(self.bind(*n)),
            (ValueKind::Bool, Operand::Bool(b)) => Some(self.bind(i64::from(*b))),
            _ => None,
        }
    }

    /// Binds a cursor value if it compares with values of `kind`.
    fn sort_value(&mut self, kind: ValueKind, value: &SortValue) -> Option<String> {
        match (kind, value) {
            (ValueKind::Text | ValueKind::List, SortValue::Text(s)) => Some(self.bind(s.clone())),
            (ValueKind::Number, SortValue::Number(n)) => Some(self.bind(*n)),
            (ValueKind::Bool, SortValue::Bool(b)) => Some(self.bind(i64::from(*b))),
            _ => None,
        }
    }

    /// The ORDER BY clause of a query: each key with empty cells last in
    /// either direction, then the record id.
    ///
    /// SQLite orders NULL below every value, so a descending key already
    /// puts empty cells last and is written bare: that is what lets the
    /// expression index of an indexed field deliver rows in order, so a
    /// page stops after `limit` rows instead of sorting the whole table.
    pub(crate) fn order_by(&mut self, sort: &[SortKey]) -> String {
        let mut out = String::from("ORDER BY ");
        for key in sort {
            let v = self.key_target(key.target);
            if key.desc {
                let _ = write!(out, "{v} DESC, ");
            } else {
                let _ = write!(out, "({v} IS NULL), {v} ASC, ");
            }
        }
        out.push_str("records.id ASC");
        out
    }

    /// The value a sort key orders by, as an SQL expression.
    pub(crate) fn sort_target(&mut self, key: &SortKey) -> String {
        self.key_target(key.target)
    }

    /// The ORDER BY clause of [`Self::order_by`] over columns that already
    /// hold the sort keys: `{prefix}k0`, `{prefix}k1`, ... and `{prefix}kid`
    /// (an empty prefix names a result column of the same SELECT).
    pub(crate) fn order_by_columns(sort: &[SortKey], prefix: &str) -> String {
        let mut out = String::from("ORDER BY ");
        for (i, key) in sort.iter().enumerate() {
            if key.desc {
                let _ = write!(out, "{prefix}k{i} DESC, ");
            } else {
                let _ = write!(out, "({prefix}k{i} IS NULL), {prefix}k{i} ASC, ");
            }
        }
        let _ = write!(out, "{prefix}kid ASC");
        out
    }

    /// The condition "strictly after `cursor`" in the order of `sort`,
    /// matching [`pybase_core::query::eval::is_after`].
    pub(crate) fn after(&mut self, sort: &[SortKey], cursor: &Cursor) -> String {
        // Lexicographic: some key is greater with all earlier keys equal, or
        // all keys equal and the id greater.
        let mut equal_so_far: Vec<String> = Vec::new();
        let mut alternatives: Vec<String> = Vec::new();
        for (key, at) in sort.iter().zip(&cursor.values) {
            let v = self.key_target(key.target);
            let (eq, gt) = if *at == SortValue::Null {
                // Empty sorts last: only empties tie with it, nothing is after.
                (format!("({v} IS NULL)"), None)
            } else if let Some(p) = self.sort_value(key.target.kind(), at) {
                let cmp = if key.desc { "<" } else { ">" };
                (
                    format!("({v} IS NOT NULL AND {v} = {p})"),
                    Some(format!("({v} IS NULL OR {v} {cmp} {p})")),
                )
            } else {
                // A value of another type compares equal to any non-empty
                // value (as in eval); empties still come after it.
                (format!("({v} IS NOT NULL)"), Some(format!("({v} IS NULL)")))
            };
            if let Some(gt) = gt {
                alternatives.push(conjunction(&equal_so_far, &gt));
            }
            equal_so_far.push(eq);
        }
        let id = self.bind(cursor.id.to_string());
        alternatives.push(conjunction(&equal_so_far, &format!("records.id > {id}")));
        format!("({})", alternatives.join(" OR "))
    }
}

/// Whether cells of `kind` can be read from a side index: text and
/// numbers (a bool's empty cell means false, not NULL; lists are arrays).
fn indexable(kind: ValueKind) -> bool {
    matches!(kind, ValueKind::Text | ValueKind::Number)
}

fn conjunction(prefix: &[String], last: &str) -> String {
    if prefix.is_empty() {
        last.to_owned()
    } else {
        format!("({} AND {last})", prefix.join(" AND "))
    }
}

/// The statement for `n` rows or items (1 to `max`) from a cache of one
/// statement per count, each built once by `build`: statements whose text
/// depends only on a count, so a hot path neither formats nor joins SQL.
pub(crate) fn by_count(
    cache: &'static std::sync::OnceLock<Vec<String>>,
    max: usize,
    n: usize,
    build: fn(usize) -> String,
) -> &'static str {
    let all = cache.get_or_init(|| (1..=max).map(build).collect());
    &all[n.clamp(1, max) - 1]
}
