//! The experiment's data: user tables with six fields (five indexed from the
//! start, one indexed later by the index-build test), record ids and cells.

use serde_json::{Map, Value, json};

/// How many fields of every user table are indexed when it is created.
pub(crate) const INDEXED: usize = 5;

/// The field the index-build test indexes late (not among the first five).
pub(crate) const LATE: usize = 5;

/// Whether a field holds numbers or text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A number cell (indexed as a float).
    Number,
    /// A text cell (indexed in byte order).
    Text,
}

/// The kinds of the six fields: qty, price, name, kind, n, late.
pub(crate) const KINDS: [Kind; 6] = [
    Kind::Number,
    Kind::Number,
    Kind::Text,
    Kind::Text,
    Kind::Number,
    Kind::Number,
];

/// One user table: its id and its six field ids (shaped like PyBase's ids:
/// a three-letter prefix and 14 base62 digits).
#[derive(Debug, Clone)]
pub(crate) struct UserTable {
    /// `tbl` + 14 digits.
    pub(crate) id: String,
    /// `fld` + 14 digits, globally unique.
    pub(crate) fields: [String; 6],
}

impl UserTable {
    /// The `n`-th user table of a database.
    pub(crate) fn new(n: usize) -> Self {
        Self {
            id: format!("tbl{n:014}"),
            fields: std::array::from_fn(|k| format!("fld{n:011}{k:03}")),
        }
    }

    /// The number field pages filter on (`qty > 500`).
    pub(crate) fn qty(&self) -> &str {
        &self.fields[0]
    }

    /// The number field pages sort by (descending).
    pub(crate) fn price(&self) -> &str {
        &self.fields[1]
    }
}

/// The id of the `n`-th record of a database (`rec` + 14 digits).
pub(crate) fn record_id(n: u64) -> String {
    format!("rec{n:014}")
}

/// A small deterministic generator (xorshift64*), so every layout gets the
/// same cells.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator from a non-zero seed.
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// The next 64 random bits.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const KIND_NAMES: [&str; 5] = ["Bolt", "Nut", "Screw", "Washer", "Rivet"];

/// The cells of one record of `table`: qty 0..1000, price with cents,
/// a name, one of five kinds, a counter and the late field.
pub(crate) fn cells(table: &UserTable, rng: &mut Rng) -> Map<String, Value> {
    let f = &table.fields;
    let mut m = Map::new();
    m.insert(f[0].clone(), json!(rng.below(1000)));
    #[allow(clippy::cast_precision_loss)]
    let price = rng.below(1_000_000) as f64 / 100.0;
    m.insert(f[1].clone(), json!(price));
    m.insert(f[2].clone(), json!(format!("item {}", rng.below(100_000))));
    m.insert(f[3].clone(), json!(KIND_NAMES[rng.below(5) as usize]));
    m.insert(f[4].clone(), json!(rng.below(1_000_000)));
    m.insert(f[5].clone(), json!(rng.below(1_000_000)));
    m
}

/// Side-index rows of one record: (field, number) and (field, text) pairs.
pub(crate) type TypedCells = (Vec<(String, f64)>, Vec<(String, String)>);

/// The cells of the indexed fields `0..upto` of a record as (field, number)
/// and (field, text) pairs, for side-index rows.
pub(crate) fn typed_cells(
    table: &UserTable,
    cells: &Map<String, Value>,
    upto: usize,
) -> TypedCells {
    let mut nums = Vec::new();
    let mut texts = Vec::new();
    for (k, field) in table.fields.iter().enumerate().take(upto) {
        match (KINDS[k], cells.get(field)) {
            (Kind::Number, Some(v)) => {
                if let Some(x) = v.as_f64() {
                    nums.push((field.clone(), x));
                }
            }
            (Kind::Text, Some(Value::String(s))) => texts.push((field.clone(), s.clone())),
            _ => {}
        }
    }
    (nums, texts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_pybase_shapes_and_are_unique() {
        let a = UserTable::new(7);
        assert_eq!(a.id.len(), 17);
        assert!(
            a.fields
                .iter()
                .all(|f| f.len() == 17 && f.starts_with("fld"))
        );
        assert_ne!(UserTable::new(1).fields[0], UserTable::new(2).fields[0]);
        assert_eq!(record_id(42), "rec00000000000042");
    }

    #[test]
    fn cells_are_deterministic_and_typed() {
        let t = UserTable::new(1);
        let a = cells(&t, &mut Rng::new(3));
        let b = cells(&t, &mut Rng::new(3));
        assert_eq!(a, b);
        let (nums, texts) = typed_cells(&t, &a, INDEXED);
        assert_eq!(nums.len(), 3);
        assert_eq!(texts.len(), 2);
        assert!(a[t.qty()].as_u64().is_some_and(|q| q < 1000));
    }
}
