//! Drawing a trial's candidate from the fault mix, and what the drawn fault
//! does to each group at a given time.

use super::rng::{uniform, SimRng};
use crate::scenario::{Dist, FaultKind, Scenario};
use crate::time::{SimDur, SimTime};

/// A fault with its magnitudes drawn for one trial.
#[derive(Debug, Clone, PartialEq)]
pub struct DrawnFault {
    /// Index into `scenario.faults`.
    pub spec: usize,
    /// Absolute onset time: first deployment + drawn delay, rounded up to the
    /// simulation tick, the first instant from which the fault is in the data.
    pub onset: SimTime,
    pub effect: Effect,
    /// The headline magnitude (added error rate, latency shift in ms, leak per hour, ...).
    pub magnitude: f64,
    /// The shape of a `recorded` fault.
    pub shape: Option<std::sync::Arc<crate::scenario::Shape>>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Effect {
    None,
    Error {
        added: f64,
        factor: f64,
        class: Option<u8>,
    },
    Latency {
        shift_ms: f64,
        scale: f64,
        slow_share: f64,
        slow_ms: f64,
    },
    Leak {
        per_hour: f64,
    },
    Crash {
        per_hour: f64,
    },
    Cpu {
        added: f64,
    },
    LoadDependent {
        added: f64,
        min_weight: f64,
    },
    Intermittent {
        added: f64,
        every: SimDur,
        length: SimDur,
    },
    Drift {
        per_hour: f64,
    },
    Shared {
        added: f64,
        shift_ms: f64,
        until: SimTime,
    },
    /// A recorded shape (in `DrawnFault::shape`) on `metric`, its deviation scaled by `k`.
    Recorded {
        metric: crate::engine::Metric,
        k: f64,
    },
}

/// What a group looks like at one instant, relative to baseline health.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupState {
    /// Added error probability, and multiplier of the base error rate.
    pub error_added: f64,
    pub error_factor: f64,
    /// Restrict the error change to one class.
    pub error_class: Option<u8>,
    pub latency_shift_ms: f64,
    pub latency_scale: f64,
    pub slow_share: f64,
    pub slow_ms: f64,
    pub cpu_added: f64,
    /// Multiplier of the CPU level (recorded shapes).
    pub cpu_factor: f64,
}

impl GroupState {
    pub const HEALTHY: GroupState = GroupState {
        error_added: 0.0,
        error_factor: 1.0,
        error_class: None,
        latency_shift_ms: 0.0,
        latency_scale: 1.0,
        slow_share: 0.0,
        slow_ms: 0.0,
        cpu_added: 0.0,
        cpu_factor: 1.0,
    };

    /// The error probability of class `c` given the base rate.
    pub fn error_p(&self, c: u8, base: f64) -> f64 {
        if self.error_class.is_some_and(|k| k != c) {
            return base;
        }
        (base * self.error_factor + self.error_added).clamp(0.0, 1.0)
    }

    pub fn same_latency(&self, o: &GroupState) -> bool {
        self.latency_shift_ms == o.latency_shift_ms
            && self.latency_scale == o.latency_scale
            && self.slow_share == o.slow_share
            && self.slow_ms == o.slow_ms
    }
}

fn draw(d: &Dist, rng: &mut SimRng) -> f64 {
    d.at(uniform(rng))
}

fn opt(d: &Option<Dist>, rng: &mut SimRng, none: f64) -> f64 {
    d.as_ref().map_or(none, |d| draw(d, rng))
}

impl DrawnFault {
    /// Picks a fault entry by weight and draws its magnitudes and onset.
    /// `deploy` is when the candidate first receives traffic; the onset is
    /// rounded up to the `tick` grid, where the fault first shows in the data
    /// (detection time is measured from it).
    pub fn draw(sc: &Scenario, deploy: SimTime, tick: SimDur, rng: &mut SimRng) -> DrawnFault {
        let total: f64 = sc.faults.iter().map(|f| f.weight).sum();
        let mut u = uniform(rng) * total;
        let mut spec = sc.faults.len() - 1;
        for (i, f) in sc.faults.iter().enumerate() {
            if u < f.weight {
                spec = i;
                break;
            }
            u -= f.weight;
        }
        let f = &sc.faults[spec];
        let span = f.onset_hi.0 - f.onset_lo.0;
        let delay = f.onset_lo.0 + (uniform(rng) * (span as f64 + 1.0)).floor().min(span as f64) as u64;
        let drawn = (deploy + SimDur(delay)).0;
        let tick = tick.0.max(1);
        let onset = SimTime(drawn.div_ceil(tick).saturating_mul(tick));
        let (effect, magnitude) = match &f.kind {
            FaultKind::None => (Effect::None, 0.0),
            FaultKind::ErrorRate { added, factor } => {
                let a = opt(added, rng, 0.0);
                let x = opt(factor, rng, 1.0);
                (Effect::Error { added: a, factor: x, class: f.class }, if added.is_some() { a } else { x })
            }
            FaultKind::Latency { shift_ms, scale, slow_share, slow_ms } => {
                let s = opt(shift_ms, rng, 0.0);
                let k = opt(scale, rng, 1.0);
                let share = opt(slow_share, rng, 0.0);
                let headline = if shift_ms.is_some() {
                    s
                } else if slow_share.is_some() {
                    share
                } else {
                    k
                };
                (Effect::Latency { shift_ms: s, scale: k, slow_share: share, slow_ms: *slow_ms }, headline)
            }
            FaultKind::MemoryLeak { per_hour } => {
                let v = draw(per_hour, rng);
                (Effect::Leak { per_hour: v }, v)
            }
            FaultKind::CrashLoop { per_hour } => {
                let v = draw(per_hour, rng);
                (Effect::Crash { per_hour: v }, v)
            }
            FaultKind::Cpu { added } => {
                let v = draw(added, rng);
                (Effect::Cpu { added: v }, v)
            }
            FaultKind::LoadDependent { added, min_weight } => {
                let v = draw(added, rng);
                (Effect::LoadDependent { added: v, min_weight: *min_weight }, v)
            }
            FaultKind::Intermittent { added, every, length } => {
                let v = draw(added, rng);
                (Effect::Intermittent { added: v, every: *every, length: *length }, v)
            }
            FaultKind::Drift { per_hour } => {
                let v = draw(per_hour, rng);
                (Effect::Drift { per_hour: v }, v)
            }
            FaultKind::Recorded { metric, scale, .. } => {
                let k = draw(scale, rng);
                (Effect::Recorded { metric: *metric, k }, k)
            }
            FaultKind::SharedDependency { added, shift_ms, duration } => {
                let v = draw(added, rng);
                let s = opt(shift_ms, rng, 0.0);
                let d = draw(duration, rng).round() as u64;
                (Effect::Shared { added: v, shift_ms: s, until: onset + SimDur(d) }, v)
            }
        };
        let shape = match &f.kind {
            FaultKind::Recorded { shape, .. } => Some(shape.clone()),
            _ => None,
        };
        DrawnFault { spec, onset, effect, magnitude, shape }
    }

    /// The state of the candidate (`candidate = true`) or stable group at `t`,
    /// with the candidate's current traffic weight.
    pub fn state(&self, t: SimTime, candidate: bool, weight: f64) -> GroupState {
        let mut s = GroupState::HEALTHY;
        if t < self.onset {
            return s;
        }
        let hours = t.since(self.onset).as_secs_f64() / 3600.0;
        match self.effect {
            Effect::Shared { added, shift_ms, until } => {
                if t < until {
                    s.error_added = added;
                    s.latency_shift_ms = shift_ms;
                }
            }
            _ if !candidate => {}
            Effect::None | Effect::Leak { .. } | Effect::Crash { .. } => {}
            Effect::Error { added, factor, class } => {
                s.error_added = added;
                s.error_factor = factor;
                s.error_class = class;
            }
            Effect::Latency { shift_ms, scale, slow_share, slow_ms } => {
                s.latency_shift_ms = shift_ms;
                s.latency_scale = scale;
                s.slow_share = slow_share;
                s.slow_ms = slow_ms;
            }
            Effect::Cpu { added } => s.cpu_added = added,
            Effect::LoadDependent { added, min_weight } => {
                if weight >= min_weight {
                    s.error_added = added;
                }
            }
            Effect::Intermittent { added, every, length } => {
                if t.since(self.onset).0 % every.0.max(1) < length.0 {
                    s.error_added = added;
                }
            }
            Effect::Drift { per_hour } => s.error_added = per_hour * hours,
            Effect::Recorded { metric, k } => {
                let f = self.shape.as_ref().map_or(1.0, |sh| sh.at(t.since(self.onset).0));
                let factor = (1.0 + k * (f - 1.0)).max(0.0);
                match metric {
                    crate::engine::Metric::LatencyP99 => s.latency_scale = factor,
                    crate::engine::Metric::Cpu => s.cpu_factor = factor,
                    _ => s.error_factor = factor,
                }
            }
        }
        s
    }
}
