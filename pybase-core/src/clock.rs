//! Time as a dependency, so expiry is tested without sleeping.

use std::fmt::Debug;
use std::sync::Mutex;

use chrono::{DurationRound, TimeDelta, Utc};

use crate::model::Timestamp;

/// A source of the current time.
pub trait Clock: Send + Sync + Debug + 'static {
    /// The current time, truncated to milliseconds (what every store keeps).
    fn now(&self) -> Timestamp;
}

fn truncate(t: Timestamp) -> Timestamp {
    t.duration_trunc(TimeDelta::milliseconds(1)).unwrap_or(t)
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        truncate(Utc::now())
    }
}

/// A clock that only moves when told; for tests.
#[derive(Debug)]
pub struct ManualClock(Mutex<Timestamp>);

impl ManualClock {
    /// A clock reading the current system time until advanced.
    pub fn new() -> Self {
        Self(Mutex::new(truncate(Utc::now())))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: TimeDelta) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t += by;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
