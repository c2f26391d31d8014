//! Latency samples and their summaries (median, p99, ratios).

use std::time::{Duration, Instant};

/// The latencies of one operation, in the order they were taken.
#[derive(Debug, Clone, Default)]
pub(crate) struct Samples(Vec<Duration>);

impl Samples {
    /// An empty set.
    pub(crate) fn new() -> Self {
        Self(Vec::new())
    }

    /// Adds one latency.
    pub(crate) fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    /// How many latencies were taken.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The `q` quantile (0.0 to 1.0, nearest rank), zero when empty.
    pub(crate) fn quantile(&self, q: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let last = sorted.len() - 1;
        // Nearest rank: a float index rounded to the closest sample.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let i = ((last as f64) * q).round() as usize;
        sorted[i.min(last)]
    }

    /// The median.
    pub(crate) fn p50(&self) -> Duration {
        self.quantile(0.5)
    }

    /// The 99th percentile.
    pub(crate) fn p99(&self) -> Duration {
        self.quantile(0.99)
    }

    /// The largest latency.
    pub(crate) fn max(&self) -> Duration {
        self.0.iter().copied().max().unwrap_or_default()
    }
}

/// Runs `f` `n` times after `warm` untimed runs and returns the timings.
pub(crate) fn measure<E>(
    warm: usize,
    n: usize,
    mut f: impl FnMut(usize) -> Result<(), E>,
) -> Result<Samples, E> {
    for i in 0..warm {
        f(i)?;
    }
    let mut s = Samples::new();
    for i in warm..warm + n {
        let t = Instant::now();
        f(i)?;
        s.push(t.elapsed());
    }
    Ok(s)
}

/// A duration for the tables: µs below 10 ms, ms below 10 s, else s.
pub(crate) fn show(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 10_000.0 {
        format!("{us:.0} µs")
    } else if us < 10_000_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{:.1} s", us / 1e6)
    }
}

/// `large / base` as `1.23×`, or `–` when the base is zero.
pub(crate) fn ratio(large: Duration, base: Duration) -> String {
    if base.is_zero() {
        "–".to_owned()
    } else {
        format!("{:.2}×", large.as_secs_f64() / base.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_take_the_nearest_rank() {
        let mut s = Samples::new();
        for ms in (1..=100).rev() {
            s.push(Duration::from_millis(ms));
        }
        assert_eq!(s.p50(), Duration::from_millis(51));
        assert_eq!(s.p99(), Duration::from_millis(99));
        assert_eq!(s.max(), Duration::from_millis(100));
        assert_eq!(Samples::new().p99(), Duration::ZERO);
    }

    #[test]
    fn ratios_and_durations_print_in_readable_units() {
        assert_eq!(
            ratio(Duration::from_millis(3), Duration::from_millis(2)),
            "1.50×"
        );
        assert_eq!(ratio(Duration::from_millis(3), Duration::ZERO), "–");
        assert_eq!(show(Duration::from_micros(250)), "250 µs");
        assert_eq!(show(Duration::from_millis(25)), "25.0 ms");
        assert_eq!(show(Duration::from_secs(25)), "25.0 s");
    }
}
