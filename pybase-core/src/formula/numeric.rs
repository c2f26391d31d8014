//! Rounding on the shortest decimal form (A.7 ROUND, ROUNDUP, ROUNDDOWN).

use std::str::FromStr;

use rust_decimal::Decimal;

/// How a scaled value is brought to an integer.
#[derive(Clone, Copy)]
pub(crate) enum Rounding {
    /// Ties toward +∞ (`ROUND`).
    HalfUp,
    /// Away from zero (`ROUNDUP`).
    AwayFromZero,
    /// Toward zero (`ROUNDDOWN`).
    TowardZero,
}

fn apply_f64(x: f64, mode: Rounding) -> f64 {
    match mode {
        Rounding::HalfUp => (x + 0.5).floor(),
        Rounding::AwayFromZero => {
            if x < 0.0 {
                x.floor()
            } else {
                x.ceil()
            }
        }
        Rounding::TowardZero => x.trunc(),
    }
}

fn apply_decimal(x: Decimal, mode: Rounding) -> Decimal {
    match mode {
        Rounding::HalfUp => (x + Decimal::new(5, 1)).floor(),
        Rounding::AwayFromZero => {
            if x.is_sign_negative() {
                x.floor()
            } else {
                x.ceil()
            }
        }
        Rounding::TowardZero => x.trunc(),
    }
}

/// Rounds `n` to `places` decimals (negative: tens, hundreds…), reading `n`
/// by its shortest decimal form so `ROUND(1.005, 2)` is 1.01.
pub(crate) fn round(n: f64, places: f64, mode: Rounding) -> f64 {
    let places = places.trunc().clamp(-300.0, 300.0) as i32;
    if let Some(r) = round_decimal(n, places, mode) {
        return r;
    }
    let factor = 10f64.powi(places);
    apply_f64(n * factor, mode) / factor
}

fn round_decimal(n: f64, places: i32, mode: Rounding) -> Option<f64> {
    if !(-20..=20).contains(&places) {
        return None;
    }
    let d = Decimal::from_str(&format!("{n}")).ok()?;
    let factor = Decimal::from_i128_with_scale(10i128.pow(places.unsigned_abs()), 0);
    let scaled = if places >= 0 {
        d.checked_mul(factor)?
    } else {
        d.checked_div(factor)?
    };
    let rounded = apply_decimal(scaled, mode);
    let back = if places >= 0 {
        rounded.checked_div(factor)?
    } else {
        rounded.checked_mul(factor)?
    };
    back.to_string().parse::<f64>().ok()
}
