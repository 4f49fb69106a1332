//! A versioned, serializable copy of an engine's state, so that a controller
//! that restarts resumes exactly where it stopped: gate counts, alert timers,
//! the phase clock. It is a DTO at the edge (the engine's own types stay
//! private); any serde format works, JSON is the obvious one.
//!
//! The policy is not part of the snapshot: the controller owns it. The
//! snapshot records the policy's shape (phases, gates per phase, alerts,
//! triggers) and [`Engine::restore`] refuses a snapshot taken under another.

use super::{AlertRuntime, AlertState, Engine, GateCount, Policy, Status};
use crate::time::SimTime;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The snapshot format this build writes and reads.
pub const SNAPSHOT_VERSION: u32 = 1;

/// Times are seconds since the rollout started; `None` is "never".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSnapshot {
    pub version: u32,
    pub shape: PolicyShape,
    pub status: StatusDto,
    pub weight: f64,
    pub phase_start_s: u64,
    pub traffic_start_s: u64,
    pub phase_end_s: u64,
    pub extensions: u32,
    pub next_step: usize,
    pub next_check_s: Option<u64>,
    pub last_round_s: Option<u64>,
    pub gates: Vec<GateDto>,
    pub alerts: Vec<AlertDto>,
    pub next_alert_eval_s: Option<u64>,
    pub next_trigger_s: Vec<Option<u64>>,
}

/// Enough of a policy to tell that a snapshot belongs to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyShape {
    /// Gates per phase.
    pub gates: Vec<usize>,
    pub alerts: usize,
    pub triggers: usize,
}

impl PolicyShape {
    pub fn of(policy: &Policy) -> PolicyShape {
        PolicyShape {
            gates: policy.phases.iter().map(|p| p.gates.len()).collect(),
            alerts: policy.alerts.len(),
            triggers: policy.triggers.len(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case", deny_unknown_fields)]
pub enum StatusDto {
    InPhase { phase: usize },
    AwaitingApproval { phase: usize, until_s: u64 },
    Held { phase: usize },
    RollingBack { start_s: u64, end_s: u64, from_weight: f64 },
    RolledBack,
    Completed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateDto {
    pub failures: u32,
    pub consecutive_failures: u32,
    pub inconclusive: u32,
    pub consecutive_errors: u32,
    pub worst_failure_run: u32,
    pub worst_error_run: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertDto {
    /// `inactive`, `pending` or `firing`.
    pub state: AlertStateDto,
    /// When a pending alert's condition started to hold.
    pub pending_since_s: Option<u64>,
    pub last_resolved_s: Option<u64>,
    pub ever_fired: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertStateDto {
    Inactive,
    Pending,
    Firing,
}

/// A snapshot that does not fit the policy or this build.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot format version {found} is not supported (this build reads version {SNAPSHOT_VERSION})")]
    Version { found: u32 },
    #[error("the snapshot was taken under another policy: {0}")]
    Policy(String),
    #[error("the snapshot is inconsistent: {0}")]
    Invalid(String),
}

fn opt(t: SimTime) -> Option<u64> {
    (t != SimTime::NEVER).then_some(t.0)
}

fn time(t: Option<u64>) -> SimTime {
    t.map_or(SimTime::NEVER, SimTime)
}

impl Engine {
    /// The engine's state, to be restored with [`Engine::restore`].
    pub fn snapshot(&self) -> EngineSnapshot {
        let status = match self.status {
            Status::InPhase { phase } => StatusDto::InPhase { phase },
            Status::AwaitingApproval { phase, until } => StatusDto::AwaitingApproval { phase, until_s: until.0 },
            Status::Held { phase } => StatusDto::Held { phase },
            Status::RollingBack { start, end, from_weight } => {
                StatusDto::RollingBack { start_s: start.0, end_s: end.0, from_weight }
            }
            Status::RolledBack => StatusDto::RolledBack,
            Status::Completed => StatusDto::Completed,
        };
        EngineSnapshot {
            version: SNAPSHOT_VERSION,
            shape: PolicyShape::of(&self.policy),
            status,
            weight: self.weight,
            phase_start_s: self.phase_start.0,
            traffic_start_s: self.traffic_start.0,
            phase_end_s: self.phase_end.0,
            extensions: self.extensions,
            next_step: self.next_step,
            next_check_s: opt(self.next_check),
            last_round_s: self.last_round.map(|t| t.0),
            gates: self
                .gates
                .iter()
                .map(|g| GateDto {
                    failures: g.failures,
                    consecutive_failures: g.consecutive_failures,
                    inconclusive: g.inconclusive,
                    consecutive_errors: g.consecutive_errors,
                    worst_failure_run: g.worst_failure_run,
                    worst_error_run: g.worst_error_run,
                })
                .collect(),
            alerts: self
                .alerts
                .iter()
                .map(|a| {
                    let (state, pending_since_s) = match a.state {
                        AlertState::Inactive => (AlertStateDto::Inactive, None),
                        AlertState::Pending { since } => (AlertStateDto::Pending, Some(since.0)),
                        AlertState::Firing => (AlertStateDto::Firing, None),
                    };
                    AlertDto {
                        state,
                        pending_since_s,
                        last_resolved_s: a.last_resolved.map(|t| t.0),
                        ever_fired: a.ever_fired,
                    }
                })
                .collect(),
            next_alert_eval_s: opt(self.next_alert_eval),
            next_trigger_s: self.next_trigger.iter().map(|&t| opt(t)).collect(),
        }
    }

    /// An engine in exactly the state `s` was taken in, for `policy` (the
    /// same policy; its shape is checked). Stepping it continues as the
    /// original would have.
    pub fn restore(policy: Arc<Policy>, s: &EngineSnapshot) -> Result<Engine, SnapshotError> {
        if s.version != SNAPSHOT_VERSION {
            return Err(SnapshotError::Version { found: s.version });
        }
        if policy.controller != super::Controller::Runbook {
            return Err(SnapshotError::Policy(format!(
                "snapshots hold the runbook engine's state; this policy runs under {}",
                policy.controller.name()
            )));
        }
        let shape = PolicyShape::of(&policy);
        if s.shape != shape {
            return Err(SnapshotError::Policy(format!(
                "it has {} phases with {:?} gates, {} alerts and {} triggers; the policy has {} phases with {:?} gates, {} alerts and {} triggers",
                s.shape.gates.len(),
                s.shape.gates,
                s.shape.alerts,
                s.shape.triggers,
                shape.gates.len(),
                shape.gates,
                shape.alerts,
                shape.triggers
            )));
        }
        let bad = |m: &str| Err(SnapshotError::Invalid(m.to_string()));
        let phases = policy.phases.len();
        let status = match s.status {
            StatusDto::InPhase { phase } => Status::InPhase { phase },
            StatusDto::AwaitingApproval { phase, until_s } => {
                Status::AwaitingApproval { phase, until: SimTime(until_s) }
            }
            StatusDto::Held { phase } => Status::Held { phase },
            StatusDto::RollingBack { start_s, end_s, from_weight } => {
                if end_s <= start_s || !(0.0..=1.0).contains(&from_weight) {
                    return bad("a rollback must end after it starts and drain a weight in [0, 1]");
                }
                Status::RollingBack { start: SimTime(start_s), end: SimTime(end_s), from_weight }
            }
            StatusDto::RolledBack => Status::RolledBack,
            StatusDto::Completed => Status::Completed,
        };
        let phase = match status {
            Status::InPhase { phase } | Status::AwaitingApproval { phase, .. } | Status::Held { phase } => Some(phase),
            _ => None,
        };
        if phase.is_some_and(|p| p >= phases) {
            return bad("its phase is not in the policy");
        }
        // Gate counts belong to the phase the rollout is (or last was) in.
        if let Some(p) = phase {
            if s.gates.len() != policy.phases[p].gates.len() {
                return bad("its gate counts do not match the phase's gates");
            }
            if s.next_step > policy.phases[p].steps.len() {
                return bad("its next step is past the phase's steps");
            }
        }
        if !(0.0..=1.0).contains(&s.weight) {
            return bad("the candidate weight is outside [0, 1]");
        }
        if s.alerts.len() != policy.alerts.len() || s.next_trigger_s.len() != policy.triggers.len() {
            return bad("its alert or trigger states do not match the policy");
        }
        let mut alerts = Vec::with_capacity(s.alerts.len());
        for a in &s.alerts {
            let state = match (a.state, a.pending_since_s) {
                (AlertStateDto::Inactive, None) => AlertState::Inactive,
                (AlertStateDto::Pending, Some(t)) => AlertState::Pending { since: SimTime(t) },
                (AlertStateDto::Firing, None) => AlertState::Firing,
                _ => return bad("`pending_since_s` is set exactly when an alert is pending"),
            };
            alerts.push(AlertRuntime {
                state,
                last_resolved: a.last_resolved_s.map(SimTime),
                ever_fired: a.ever_fired,
            });
        }
        Ok(Engine {
            ctl: super::Ctl::Runbook,
            policy,
            status,
            weight: s.weight,
            phase_start: SimTime(s.phase_start_s),
            traffic_start: SimTime(s.traffic_start_s),
            phase_end: SimTime(s.phase_end_s),
            extensions: s.extensions,
            next_step: s.next_step,
            next_check: time(s.next_check_s),
            last_round: s.last_round_s.map(SimTime),
            gates: s
                .gates
                .iter()
                .map(|g| GateCount {
                    failures: g.failures,
                    consecutive_failures: g.consecutive_failures,
                    inconclusive: g.inconclusive,
                    consecutive_errors: g.consecutive_errors,
                    worst_failure_run: g.worst_failure_run,
                    worst_error_run: g.worst_error_run,
                })
                .collect(),
            alerts,
            next_alert_eval: time(s.next_alert_eval_s),
            next_trigger: s.next_trigger_s.iter().map(|&t| time(t)).collect(),
        })
    }
}
