//! Simulated time: integer seconds since the rollout started.
//!
//! Simulated time is its own type, never `f64` seconds or `std::time::Instant`:
//! the engine and the simulator compare and order instants exactly, and nothing
//! here can read the wall clock.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// An instant of simulated time, in whole seconds since the rollout started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SimTime(pub u64);

/// A span of simulated time, in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SimDur(pub u64);

impl SimTime {
    /// The start of the rollout.
    pub const ZERO: SimTime = SimTime(0);
    /// An instant later than any real one; used for "never".
    pub const NEVER: SimTime = SimTime(u64::MAX);

    /// Seconds since the start.
    pub fn secs(self) -> u64 {
        self.0
    }

    /// Hours since the start, for charts and summaries.
    pub fn hours(self) -> f64 {
        self.0 as f64 / 3600.0
    }

    /// Time elapsed since `earlier`, zero if `earlier` is later.
    pub fn since(self, earlier: SimTime) -> SimDur {
        SimDur(self.0.saturating_sub(earlier.0))
    }
}

impl SimDur {
    pub const ZERO: SimDur = SimDur(0);

    pub const fn secs(s: u64) -> SimDur {
        SimDur(s)
    }
    pub const fn mins(m: u64) -> SimDur {
        SimDur(m * 60)
    }
    pub const fn hours(h: u64) -> SimDur {
        SimDur(h * 3600)
    }
    pub fn as_secs(self) -> u64 {
        self.0
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64
    }
    pub fn as_mins_f64(self) -> f64 {
        self.0 as f64 / 60.0
    }
}

impl Add<SimDur> for SimTime {
    type Output = SimTime;
    fn add(self, d: SimDur) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }
}

impl AddAssign<SimDur> for SimTime {
    fn add_assign(&mut self, d: SimDur) {
        self.0 = self.0.saturating_add(d.0);
    }
}

impl Add for SimDur {
    type Output = SimDur;
    fn add(self, d: SimDur) -> SimDur {
        SimDur(self.0.saturating_add(d.0))
    }
}

impl Sub for SimTime {
    type Output = SimDur;
    fn sub(self, earlier: SimTime) -> SimDur {
        self.since(earlier)
    }
}

impl fmt::Display for SimDur {
    /// Compact human form: `12h`, `1h30m`, `15m`, `90s` → `1m30s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        if s == 0 {
            return write!(f, "0s");
        }
        let (d, h, m, sec) = (s / 86_400, (s / 3600) % 24, (s / 60) % 60, s % 60);
        let mut out = String::new();
        if d > 0 {
            out.push_str(&format!("{d}d"));
        }
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if m > 0 {
            out.push_str(&format!("{m}m"));
        }
        if sec > 0 {
            out.push_str(&format!("{sec}s"));
        }
        f.write_str(&out)
    }
}

impl fmt::Display for SimTime {
    /// `T+hh:mm:ss` since the rollout started.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        write!(f, "T+{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_compactly() {
        for (secs, text) in [(0, "0s"), (90, "1m30s"), (900, "15m"), (43_200, "12h"), (93_600, "1d2h")] {
            assert_eq!(SimDur(secs).to_string(), text);
        }
        assert_eq!(SimTime(3_723).to_string(), "T+01:02:03");
    }
}
