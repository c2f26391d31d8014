//! The workload's rows: deterministic, so every backend and every run
//! stores the same bytes.

use serde_json::{Map, Value, json};

/// The choices of the single-select field.
pub const KINDS: [&str; 5] = ["Bolt", "Nut", "Washer", "Screw", "Rivet"];

/// Characters the 200-character long text is cut from.
const PROSE: &str = "Stainless fasteners are stored dry and counted weekly; \
    torque values follow the drawing, and any part with a damaged thread is \
    set aside for inspection before it goes back to the line. Batches that \
    arrive without a certificate wait in quarantine until purchasing has it. ";

/// The names of the six fields, in table order.
pub const FIELD_NAMES: [&str; 6] = ["Part", "Qty", "Price", "In stock", "Kind", "Notes"];

/// One row of the workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Text.
    pub part: String,
    /// Number, 0 to 1000 (so `Qty > 500` matches about half the rows).
    pub qty: i64,
    /// Currency with two decimals, 0.00 to 999.99.
    pub price: f64,
    /// Checkbox.
    pub in_stock: bool,
    /// Single select, one of [`KINDS`].
    pub kind: &'static str,
    /// Long text of exactly 200 characters.
    pub notes: String,
}

/// SplitMix64: a cheap, well-mixed hash of the row number (also the
/// benches' deterministic choice of which record or table to write).
pub fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Row number `i`.
pub fn row(i: u64) -> Row {
    let h = mix(i);
    let start = usize::try_from(h % 97).unwrap_or(0);
    let prose = PROSE.repeat(2);
    Row {
        part: format!("Part {i:07}"),
        qty: i64::try_from(h % 1001).unwrap_or(0),
        #[allow(clippy::cast_precision_loss)]
        price: ((h >> 12) % 100_000) as f64 / 100.0,
        in_stock: (h >> 40) & 1 == 1,
        kind: KINDS[usize::try_from((h >> 41) % 5).unwrap_or(0)],
        notes: prose[start..start + 200].to_owned(),
    }
}

impl Row {
    /// The cells as a client sends them: keyed by field name.
    pub fn named(&self) -> Map<String, Value> {
        self.keyed(&FIELD_NAMES)
    }

    /// The cells keyed by `keys` (six keys in [`FIELD_NAMES`] order), as
    /// PyBase stores them when `keys` are the field ids. A false checkbox
    /// is left out, as PyBase stores it.
    pub fn keyed<K: AsRef<str>>(&self, keys: &[K]) -> Map<String, Value> {
        let mut m = Map::with_capacity(6);
        m.insert(keys[0].as_ref().to_owned(), json!(self.part));
        m.insert(keys[1].as_ref().to_owned(), json!(self.qty));
        m.insert(keys[2].as_ref().to_owned(), json!(self.price));
        if self.in_stock {
            m.insert(keys[3].as_ref().to_owned(), json!(true));
        }
        m.insert(keys[4].as_ref().to_owned(), json!(self.kind));
        m.insert(keys[5].as_ref().to_owned(), json!(self.notes));
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_deterministic_and_shaped_as_promised() {
        assert_eq!(row(7), row(7));
        let mut over = 0;
        for i in 0..2000 {
            let r = row(i);
            assert_eq!(r.notes.chars().count(), 200);
            assert!((0..=1000).contains(&r.qty));
            assert!((0.0..1000.0).contains(&r.price));
            over += usize::from(r.qty > 500);
        }
        assert!((800..1200).contains(&over), "{over}");
    }
}
