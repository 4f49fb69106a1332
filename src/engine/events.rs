//! What the engine reports: decisions with their time and cause, and the
//! observations (checks, alert transitions, steps) that led to them.
//!
//! Events refer to rules by index into the [`Policy`], so recording them
//! allocates nothing; [`Cause::describe`] turns them into names.

use super::policy::{Policy, StepAction};
use crate::time::SimTime;

/// A decision the engine took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub at: SimTime,
    pub kind: DecisionKind,
    pub cause: Cause,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DecisionKind {
    /// Move to phase `to` (its traffic applies at its first deploy/shift step).
    Promote { to: usize },
    /// Stop where it is; the rollout is held until the time limit.
    Hold,
    /// Extend the current phase until `until`.
    Extend { until: SimTime },
    /// Wait for manual approval until `until`.
    AwaitApproval { until: SimTime },
    /// Start a rollback; candidate traffic drains to 0.
    Rollback,
    /// Candidate traffic is back to 0.
    RollbackComplete,
    /// The last phase passed: the candidate serves all traffic.
    Complete,
}

impl DecisionKind {
    pub fn name(self) -> &'static str {
        match self {
            DecisionKind::Promote { .. } => "promote",
            DecisionKind::Hold => "hold",
            DecisionKind::Extend { .. } => "extend",
            DecisionKind::AwaitApproval { .. } => "await-approval",
            DecisionKind::Rollback => "rollback",
            DecisionKind::RollbackComplete => "rollback-complete",
            DecisionKind::Complete => "complete",
        }
    }
}

/// Why a decision was taken: the rule that fired, by index into the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Rollback trigger `policy.triggers[i]` fired.
    Trigger(usize),
    /// Alert rule `policy.alerts[i]` is firing and is set to roll back.
    Alert(usize),
    /// Gate `gate` of phase `phase` exceeded its failure limits.
    GateFailed { phase: usize, gate: usize },
    /// Gate `gate` of phase `phase` exceeded its inconclusive limit.
    GateInconclusive { phase: usize, gate: usize },
    /// Gate `gate` of phase `phase` could not query its metric more times in a
    /// row than its consecutive-error limit.
    GateErrored { phase: usize, gate: usize },
    /// Every criterion of phase `phase` was met at its decision gate.
    CriteriaMet { phase: usize },
    /// The simulated manual approval of phase `phase` arrived.
    Approved { phase: usize },
    /// The rollback's configured duration elapsed.
    RollbackFinished,
}

impl Cause {
    /// A stable, human name of the rule: `trigger:error_rate`, `gate:canary/error_rate`, ...
    pub fn describe(&self, policy: &Policy) -> String {
        match *self {
            Cause::Trigger(i) => format!("trigger:{}", policy.triggers[i].name),
            Cause::Alert(i) => format!("alert:{}", policy.alerts[i].name),
            Cause::GateFailed { phase, gate } => {
                format!("gate:{}/{}", policy.phases[phase].name, policy.phases[phase].gates[gate].name)
            }
            Cause::GateInconclusive { phase, gate } => {
                format!("inconclusive:{}/{}", policy.phases[phase].name, policy.phases[phase].gates[gate].name)
            }
            Cause::GateErrored { phase, gate } => {
                format!("error:{}/{}", policy.phases[phase].name, policy.phases[phase].gates[gate].name)
            }
            Cause::CriteriaMet { phase } => format!("criteria-met:{}", policy.phases[phase].name),
            Cause::Approved { phase } => format!("approved:{}", policy.phases[phase].name),
            Cause::RollbackFinished => "rollback-finished".to_string(),
        }
    }

    /// Every cause the policy can produce, for reading a described cause back.
    pub fn all(policy: &Policy) -> Vec<Cause> {
        let mut out: Vec<Cause> = (0..policy.triggers.len()).map(Cause::Trigger).collect();
        out.extend((0..policy.alerts.len()).map(Cause::Alert));
        for (phase, p) in policy.phases.iter().enumerate() {
            for gate in 0..p.gates.len() {
                out.push(Cause::GateFailed { phase, gate });
                out.push(Cause::GateInconclusive { phase, gate });
                out.push(Cause::GateErrored { phase, gate });
            }
            out.push(Cause::CriteriaMet { phase });
            out.push(Cause::Approved { phase });
        }
        out.push(Cause::RollbackFinished);
        out
    }

    /// The cause whose [`Cause::describe`] is `text`.
    pub fn parse(policy: &Policy, text: &str) -> Option<Cause> {
        Cause::all(policy).into_iter().find(|c| c.describe(policy) == text)
    }
}

/// The verdict of one check of one gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    /// No data, or too few requests in the window.
    Inconclusive,
    /// The metric source could not answer the query.
    Error,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Error => "error",
        }
    }
}

/// A trigger or an alert rule, by index into the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleRef {
    Trigger(usize),
    Alert(usize),
}

/// Alert states, as Prometheus alerting has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertTransition {
    Pending,
    Firing,
    Resolved,
}

/// Everything the engine reports, in the order it happened.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EngineEvent {
    PhaseStarted {
        at: SimTime,
        phase: usize,
    },
    Step {
        at: SimTime,
        phase: usize,
        step: usize,
        action: StepAction,
    },
    WeightChanged {
        at: SimTime,
        weight: f64,
    },
    Check {
        at: SimTime,
        phase: usize,
        gate: usize,
        value: Option<f64>,
        limit: Option<f64>,
        requests: Option<u64>,
        verdict: Verdict,
    },
    Alert {
        at: SimTime,
        alert: usize,
        transition: AlertTransition,
        value: Option<f64>,
    },
    TriggerEvaluated {
        at: SimTime,
        trigger: usize,
        value: Option<f64>,
        fired: bool,
    },
    /// The query of a trigger or an alert rule failed: it was not evaluated at
    /// `at` (the alert keeps its state). Gates report errors as [`Verdict::Error`].
    QueryFailed {
        at: SimTime,
        rule: RuleRef,
    },
    Decision(Decision),
}

/// Receives engine events. A simulator that only needs decisions ignores the rest.
pub trait EventSink {
    fn event(&mut self, event: EngineEvent);

    /// Whether this sink reads the measured values of checks, alerts and
    /// trigger evaluations. When it does not, the engine decides comparisons
    /// through [`super::MetricSource::compare`] and those events carry
    /// `value: None`; every decision, verdict and transition is the same.
    fn needs_values(&self) -> bool {
        true
    }
}

impl EventSink for Vec<EngineEvent> {
    fn event(&mut self, event: EngineEvent) {
        self.push(event);
    }
}

/// Keeps decisions only.
impl EventSink for Vec<Decision> {
    fn event(&mut self, event: EngineEvent) {
        if let EngineEvent::Decision(d) = event {
            self.push(d);
        }
    }
}
