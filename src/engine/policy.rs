//! The rollout policy as validated domain data: phases, gates, checks, alert
//! rules, rollback triggers and rollback mechanics. The engine interprets it.
//!
//! These types are not `Serialize`: the scenario file format lives in
//! `crate::scenario` and is converted into these at the edge, after validation.

use super::metrics::{Agg, ClassId, Group, Metric, Query};
use crate::time::SimDur;

/// A complete rollout policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Phases in order; traffic weights never decrease.
    pub phases: Vec<Phase>,
    /// Alert rules, evaluated every `alert_every`.
    pub alerts: Vec<AlertRule>,
    /// How often alert rules are evaluated.
    pub alert_every: SimDur,
    /// Automatic rollback triggers, each on its own cadence.
    pub triggers: Vec<Trigger>,
    /// How long a rollback takes; candidate traffic drains linearly to 0.
    pub rollback_duration: SimDur,
    /// Whose semantics move the rollout through its phases.
    pub controller: Controller,
}

/// The state machine that moves a rollout: rollsim's runbook engine (phases
/// with bake times, cadenced checks and decision gates), or the semantics of
/// Argo Rollouts or Flagger, for policies imported from their manifests. For
/// the latter the phases are the controller's steps or weights, named for
/// reports, and a gate index is a metric index.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Controller {
    #[default]
    Runbook,
    Argo(super::argo::ArgoPolicy),
    Flagger(super::flagger::FlaggerPolicy),
}

impl Controller {
    pub fn name(&self) -> &'static str {
        match self {
            Controller::Runbook => "runbook",
            Controller::Argo(_) => "argo-rollouts",
            Controller::Flagger(_) => "flagger",
        }
    }
}

/// One phase: a traffic weight held for a bake time while checks run.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    pub name: String,
    /// Share of traffic (and instances) on the candidate, 0..=1.
    pub weight: f64,
    /// How long the phase lasts before its decision gate.
    pub bake: SimDur,
    /// Deployment steps at offsets from the phase start.
    pub steps: Vec<Step>,
    /// Success criteria checked during the phase.
    pub gates: Vec<Gate>,
    /// Cadence and counting of checks.
    pub checks: CheckRules,
    /// Pause for manual approval (simulated delay) before promoting.
    pub approval: Option<SimDur>,
}

/// A deployment step inside a phase.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Offset from the phase start.
    pub at: SimDur,
    pub action: StepAction,
    /// Free text shown in traces (e.g. "Verify pod health and readiness").
    pub label: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepAction {
    /// The phase's candidate instances are deployed and take the phase's traffic weight.
    Deploy,
    /// Traffic shifts to the phase's weight.
    Shift,
    /// One check of every gate of the phase, outside the cadence.
    Check,
    /// A marker with no effect, for traces.
    Mark,
}

impl StepAction {
    pub fn name(self) -> &'static str {
        match self {
            StepAction::Deploy => "deploy",
            StepAction::Shift => "shift",
            StepAction::Check => "check",
            StepAction::Mark => "mark",
        }
    }
    pub fn from_name(s: &str) -> Option<StepAction> {
        [StepAction::Deploy, StepAction::Shift, StepAction::Check, StepAction::Mark].into_iter().find(|a| a.name() == s)
    }
    /// True when the step moves traffic to the phase weight.
    pub fn moves_traffic(self) -> bool {
        matches!(self, StepAction::Deploy | StepAction::Shift)
    }
}

/// How and how often a phase's gates are checked, and what failures do.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRules {
    /// Check cadence from the phase start (0 = only at steps and phase end).
    pub every: SimDur,
    pub mode: EvalMode,
    /// A gate fails when its failed checks exceed this (Argo `failureLimit`).
    pub failure_limit: u32,
    /// A gate fails when its consecutive failed checks exceed this.
    pub consecutive_failure_limit: Option<u32>,
    /// A gate is inconclusive when its inconclusive checks exceed this.
    pub inconclusive_limit: u32,
    /// A gate errs when more consecutive checks than this could not query their
    /// metric (Argo `consecutiveErrorLimit`, default 4); an error is acted on
    /// like a failure (`on_failure`).
    pub consecutive_error_limit: u32,
    /// Requests a window needs before a request-based value counts.
    pub min_requests: u64,
    /// What a failed gate does.
    pub on_failure: FailureAction,
    /// What an inconclusive gate does.
    pub on_inconclusive: FailureAction,
}

/// When the verdicts of a phase's checks are acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalMode {
    /// At the phase's end (the decision gate): every check must have passed.
    PhaseEnd,
    /// As soon as a gate exceeds its failure limits.
    Continuous,
}

impl EvalMode {
    pub fn name(self) -> &'static str {
        match self {
            EvalMode::PhaseEnd => "phase-end",
            EvalMode::Continuous => "continuous",
        }
    }
}

/// What to do when a phase's criteria fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureAction {
    /// Start a rollback.
    Rollback,
    /// Stop the rollout where it is until someone intervenes (held at the time limit).
    Hold,
    /// Extend the phase by this long and judge again; roll back after `max` extensions.
    Extend { by: SimDur, max: u32 },
}

/// A success criterion: `metric (agg over window) op limit`.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    pub name: String,
    pub metric: Metric,
    pub group: Group,
    pub class: Option<ClassId>,
    pub agg: Agg,
    pub window: Window,
    /// Comparison that must hold for the check to pass.
    pub op: Cmp,
    pub limit: Limit,
    /// Verdicts are recorded but never acted on.
    pub dry_run: bool,
}

/// The window a gate aggregates over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Fixed(SimDur),
    /// From the phase start (or the traffic shift) until the check.
    Phase,
}

/// A comparison between a measured value and a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    pub fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Cmp::Lt => value < limit,
            Cmp::Le => value <= limit,
            Cmp::Gt => value > limit,
            Cmp::Ge => value >= limit,
        }
    }
    pub fn symbol(self) -> &'static str {
        match self {
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }
    pub fn from_symbol(s: &str) -> Option<Cmp> {
        [Cmp::Lt, Cmp::Le, Cmp::Gt, Cmp::Ge].into_iter().find(|c| c.symbol() == s)
    }
}

/// A gate's limit: absolute, or relative to the same query on the stable group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    /// In the metric's unit (fraction, milliseconds or count).
    Absolute(f64),
    /// Stable value × (1 + fraction), e.g. `baseline + 10%`.
    BaselineRelative(f64),
    /// Stable value + an amount in the metric's unit, e.g. `baseline + 50ms`.
    BaselinePlus(f64),
}

/// A condition that fires: `metric (agg over window) op threshold`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub query: Query,
    pub op: Cmp,
    pub threshold: f64,
    /// Fewer requests than this in the window: the condition does not fire.
    pub min_requests: u64,
}

impl Condition {
    /// The measured value and whether the condition fires at `now`; too little
    /// data (no value, or fewer requests than `min_requests`) never fires. A
    /// query the source could not answer is an error.
    pub fn evaluate<S: super::MetricSource + ?Sized>(
        &self,
        now: crate::time::SimTime,
        source: &mut S,
    ) -> Result<(Option<f64>, bool), super::QueryError> {
        let s = source.query(&self.query, now)?;
        let enough = s.enough(self.query.metric, self.min_requests);
        let fired = s.value.is_some_and(|v| enough && self.op.holds(v, self.threshold));
        Ok((s.value, fired))
    }

    /// Whether the condition fires at `now`, as [`Condition::evaluate`] tells
    /// it, through [`super::MetricSource::compare`]: the value is not asked for.
    pub fn fires<S: super::MetricSource + ?Sized>(
        &self,
        now: crate::time::SimTime,
        source: &mut S,
    ) -> Result<bool, super::QueryError> {
        let c = source.compare(&self.query, now, self.op, self.threshold)?;
        Ok(c.holds == Some(true) && c.enough(self.query.metric, self.min_requests))
    }

    /// [`Condition::evaluate`] when `values`, else [`Condition::fires`] with no value.
    pub fn judge<S: super::MetricSource + ?Sized>(
        &self,
        now: crate::time::SimTime,
        source: &mut S,
        values: bool,
    ) -> Result<(Option<f64>, bool), super::QueryError> {
        if values {
            self.evaluate(now, source)
        } else {
            Ok((None, self.fires(now, source)?))
        }
    }
}

/// A Prometheus-style alert rule.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    pub name: String,
    pub condition: Condition,
    /// How long the condition must hold before the alert fires (pending → firing).
    pub for_: SimDur,
    pub severity: Severity,
    /// A firing alert starts a rollback at once.
    pub rollback: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// An automatic rollback trigger, evaluated on its own cadence.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub name: String,
    pub condition: Condition,
    pub every: SimDur,
}

impl Policy {
    /// Every query the engine may send to a metric source, so that a source
    /// can prepare (and a simulator can skip metrics nobody reads).
    pub fn queries(&self, stable_needed_for_relative: bool) -> Vec<Query> {
        let mut out = Vec::new();
        for p in &self.phases {
            for g in &p.gates {
                let q = Query { metric: g.metric, group: g.group, class: g.class, window: SimDur::ZERO, agg: g.agg };
                out.push(q);
                if stable_needed_for_relative && !matches!(g.limit, Limit::Absolute(_)) {
                    out.push(Query { group: Group::Stable, ..q });
                }
            }
        }
        let by = |b: &super::argo::MeasureBy| match b {
            super::argo::MeasureBy::Query(m) => Some(*m),
            super::argo::MeasureBy::Assume(_) => None,
        };
        let controller_metrics: Vec<Metric> = match &self.controller {
            Controller::Runbook => Vec::new(),
            Controller::Argo(a) => a.metrics.iter().filter_map(|m| by(&m.by)).collect(),
            Controller::Flagger(f) => f.metrics.iter().filter_map(|m| by(&m.by)).collect(),
        };
        out.extend(controller_metrics.into_iter().map(|metric| Query {
            metric,
            group: Group::Candidate,
            class: None,
            window: SimDur::ZERO,
            agg: Agg::Window,
        }));
        out.extend(self.alerts.iter().map(|a| a.condition.query));
        out.extend(self.triggers.iter().map(|t| t.condition.query));
        out
    }

    /// Total planned duration of the rollout if every phase passes at once.
    pub fn planned_duration(&self) -> SimDur {
        self.phases.iter().fold(SimDur::ZERO, |acc, p| acc + p.bake + p.approval.unwrap_or(SimDur::ZERO))
    }
}
