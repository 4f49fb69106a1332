//! The phase-and-rollback engine: a pure, deterministic state machine that
//! interprets a [`Policy`].
//!
//! It has no clock, no I/O and no randomness. A driver (the simulator, the
//! replayer, a live controller) asks [`Engine::next_wakeup`] when the engine
//! next needs to look at the world, advances its own notion of time there and
//! calls [`Engine::step`], which reads metrics through a [`MetricSource`] and
//! reports decisions and observations to an [`EventSink`]. Between wake-ups the
//! candidate's traffic weight is [`Engine::weight_at`].
//!
//! Within one instant the engine works in a fixed order: rollback triggers,
//! alert rules, deployment steps, checks, and finally the phase's decision gate,
//! so a trigger always wins over a gate at the same time and a check at the
//! phase's end is counted before the decision.

pub mod alert;
pub mod argo;
pub mod events;
pub mod expr;
pub mod flagger;
pub mod metrics;
pub mod policy;
pub mod snapshot;

pub use alert::AlertState;
pub use events::{AlertTransition, Cause, Decision, DecisionKind, EngineEvent, EventSink, RuleRef, Verdict};
pub use metrics::{
    ratio_of_sums, Agg, Answer, ClassId, Compared, Group, Metric, MetricSource, Query, QueryError, Sample, Unit,
};
pub use policy::{
    AlertRule, CheckRules, Cmp, Condition, Controller, EvalMode, FailureAction, Gate, Limit, Phase, Policy, Severity,
    Step, StepAction, Trigger, Window,
};
pub use snapshot::{EngineSnapshot, SnapshotError};

use crate::time::{SimDur, SimTime};
use std::sync::Arc;

/// Where a rollout stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Status {
    /// Phase `phase` is baking.
    InPhase { phase: usize },
    /// Phase `phase` passed and waits for manual approval until `until`.
    AwaitingApproval { phase: usize, until: SimTime },
    /// Criteria failed and the policy said hold: nothing moves any more.
    Held { phase: usize },
    /// Candidate traffic drains from `from_weight` at `start` to 0 at `end`.
    RollingBack { start: SimTime, end: SimTime, from_weight: f64 },
    /// Terminal: candidate traffic is 0.
    RolledBack,
    /// Terminal: the candidate serves all traffic.
    Completed,
}

impl Status {
    pub fn is_terminal(&self) -> bool {
        matches!(self, Status::RolledBack | Status::Completed)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct GateCount {
    failures: u32,
    consecutive_failures: u32,
    inconclusive: u32,
    consecutive_errors: u32,
    /// The longest runs so far: a run beyond its limit fails the gate even if
    /// a later check passed (the decision gate looks back over the phase).
    worst_failure_run: u32,
    worst_error_run: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct AlertRuntime {
    state: AlertState,
    /// When the last firing interval ended (`None`: never resolved).
    last_resolved: Option<SimTime>,
    ever_fired: bool,
}

/// The engine for one rollout. Cheap to create; one per trial.
#[derive(Debug, Clone)]
pub struct Engine {
    policy: Arc<Policy>,
    status: Status,
    /// Current candidate weight (outside of rollback drains).
    weight: f64,
    phase_start: SimTime,
    /// When the phase's traffic took effect (window start for `Window::Phase`).
    traffic_start: SimTime,
    phase_end: SimTime,
    extensions: u32,
    next_step: usize,
    next_check: SimTime,
    /// When the last check round ran: a check step and a cadence check at the
    /// same instant make one round, not two.
    last_round: Option<SimTime>,
    gates: Vec<GateCount>,
    alerts: Vec<AlertRuntime>,
    next_alert_eval: SimTime,
    next_trigger: Vec<SimTime>,
    /// The state of an Argo Rollouts or Flagger controller (`policy.controller`).
    ctl: Ctl,
}

#[derive(Debug, Clone, PartialEq)]
enum Ctl {
    Runbook,
    Argo(argo::ArgoState),
    Flagger(flagger::FlaggerState),
}

impl Engine {
    /// A rollout that starts phase 0 at time zero; the phase start (and the
    /// traffic shift of a phase without steps) are reported to `sink`.
    pub fn start<K: EventSink + ?Sized>(policy: Arc<Policy>, sink: &mut K) -> Engine {
        let alerts = vec![
            AlertRuntime { state: AlertState::Inactive, last_resolved: None, ever_fired: false };
            policy.alerts.len()
        ];
        let next_trigger = policy.triggers.iter().map(|t| SimTime::ZERO + t.every).collect();
        // Alert rules are evaluated from the start, then every `alert_every`,
        // as Prometheus evaluates a rule group.
        let next_alert_eval = SimTime::ZERO;
        let mut engine = Engine {
            status: Status::InPhase { phase: 0 },
            weight: 0.0,
            phase_start: SimTime::ZERO,
            traffic_start: SimTime::ZERO,
            phase_end: SimTime::ZERO,
            extensions: 0,
            next_step: 0,
            next_check: SimTime::NEVER,
            last_round: None,
            gates: Vec::new(),
            alerts,
            next_alert_eval,
            next_trigger,
            ctl: Ctl::Runbook,
            policy,
        };
        match engine.policy.controller {
            Controller::Runbook => engine.enter_phase(0, SimTime::ZERO, sink),
            Controller::Argo(_) => engine.argo_start(sink),
            Controller::Flagger(_) => engine.flagger_start(sink),
        }
        engine
    }

    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    pub fn status(&self) -> Status {
        self.status
    }

    /// The candidate's share of traffic at `now` (linear drain during a rollback).
    pub fn weight_at(&self, now: SimTime) -> f64 {
        match self.status {
            Status::RollingBack { start, end, from_weight } => {
                if now >= end {
                    0.0
                } else {
                    let total = (end - start).as_secs_f64();
                    from_weight * (1.0 - now.since(start).as_secs_f64() / total)
                }
            }
            Status::RolledBack => 0.0,
            Status::Completed => 1.0,
            _ => self.weight,
        }
    }

    /// The index of the phase the rollout is in (or stopped in), if any.
    pub fn phase(&self) -> Option<usize> {
        match self.status {
            Status::InPhase { phase } | Status::AwaitingApproval { phase, .. } | Status::Held { phase } => Some(phase),
            _ => None,
        }
    }

    /// When the engine next needs [`Engine::step`]; `None` once terminal.
    pub fn next_wakeup(&self) -> Option<SimTime> {
        let watching = self.watching();
        let mut t = SimTime::NEVER;
        if watching {
            t = t.min(self.next_alert_eval);
            if self.weight > 0.0 {
                for &n in &self.next_trigger {
                    t = t.min(n);
                }
            }
        }
        match self.ctl {
            Ctl::Runbook => {}
            Ctl::Argo(_) if self.status.is_terminal() => return None,
            Ctl::Flagger(_) if self.status.is_terminal() => return None,
            Ctl::Argo(_) | Ctl::Flagger(_) => {
                if let Status::RollingBack { end, .. } = self.status {
                    t = t.min(end);
                }
                t = t.min(self.argo_next_wakeup()).min(self.flagger_next_wakeup());
                return (t != SimTime::NEVER).then_some(t);
            }
        }
        match self.status {
            Status::InPhase { phase } => t = t.min(self.phase_next_due(phase)),
            Status::AwaitingApproval { until, .. } => t = t.min(until),
            Status::RollingBack { end, .. } => t = t.min(end),
            Status::Held { .. } => {}
            Status::RolledBack | Status::Completed => return None,
        }
        (t != SimTime::NEVER).then_some(t)
    }

    /// Does everything that is due at or before `now`, reading metrics as of `now`.
    /// Drivers call it at the instants [`Engine::next_wakeup`] names.
    pub fn step<S, K>(&mut self, now: SimTime, source: &mut S, sink: &mut K)
    where
        S: MetricSource + ?Sized,
        K: EventSink + ?Sized,
    {
        if let Status::RollingBack { end, .. } = self.status {
            if now >= end {
                self.status = Status::RolledBack;
                self.weight = 0.0;
                self.decide(end, DecisionKind::RollbackComplete, Cause::RollbackFinished, sink);
            }
            return;
        }
        if self.status.is_terminal() {
            return;
        }
        // Triggers and alerts read the policy beside the state they drive
        // (disjoint fields), so most steps never clone the `Arc`: cloning it
        // is an atomic write, a measurable share of a trial's time.
        if self.run_triggers(now, source, sink) || self.run_alerts(now, source, sink) {
            return;
        }
        match self.ctl {
            Ctl::Runbook => {}
            Ctl::Argo(_) => return self.argo_step(&Arc::clone(&self.policy), now, source, sink),
            Ctl::Flagger(_) => return self.flagger_step(&Arc::clone(&self.policy), now, source, sink),
        }
        match self.status {
            Status::InPhase { phase } if self.phase_next_due(phase) <= now => {
                self.run_phase(&Arc::clone(&self.policy), phase, now, source, sink)
            }
            Status::AwaitingApproval { phase, until } if now >= until => {
                self.promote(phase, now, Cause::Approved { phase }, sink)
            }
            _ => {}
        }
    }

    /// When [`Engine::run_phase`] next has something to do: the next step,
    /// check or the decision gate, whichever comes first.
    fn phase_next_due(&self, phase: usize) -> SimTime {
        let step =
            self.policy.phases[phase].steps.get(self.next_step).map_or(SimTime::NEVER, |s| self.phase_start + s.at);
        step.min(self.next_check).min(self.phase_end)
    }

    /// Triggers and alerts watch the candidate until the rollout is decided.
    fn watching(&self) -> bool {
        matches!(self.status, Status::InPhase { .. } | Status::AwaitingApproval { .. } | Status::Held { .. })
    }

    fn run_triggers<S, K>(&mut self, now: SimTime, source: &mut S, sink: &mut K) -> bool
    where
        S: MetricSource + ?Sized,
        K: EventSink + ?Sized,
    {
        let (policy, next_trigger) = (&*self.policy, &mut self.next_trigger);
        let mut fired_trigger = None;
        for (i, trig) in policy.triggers.iter().enumerate() {
            if next_trigger[i] > now {
                continue;
            }
            while next_trigger[i] <= now {
                next_trigger[i] += trig.every;
            }
            if self.weight <= 0.0 {
                continue;
            }
            let Ok((value, fired)) = trig.condition.judge(now, source, sink.needs_values()) else {
                sink.event(EngineEvent::QueryFailed { at: now, rule: RuleRef::Trigger(i) });
                continue;
            };
            sink.event(EngineEvent::TriggerEvaluated { at: now, trigger: i, value, fired });
            if fired {
                fired_trigger = Some(i);
                break;
            }
        }
        let Some(i) = fired_trigger else { return false };
        self.start_rollback(now, Cause::Trigger(i), sink);
        true
    }

    fn run_alerts<S, K>(&mut self, now: SimTime, source: &mut S, sink: &mut K) -> bool
    where
        S: MetricSource + ?Sized,
        K: EventSink + ?Sized,
    {
        let policy = &*self.policy;
        if self.next_alert_eval > now {
            return false;
        }
        while self.next_alert_eval <= now {
            self.next_alert_eval += policy.alert_every;
        }
        let mut rollback = None;
        for (i, rule) in policy.alerts.iter().enumerate() {
            let Ok((value, active)) = rule.condition.judge(now, source, sink.needs_values()) else {
                sink.event(EngineEvent::QueryFailed { at: now, rule: RuleRef::Alert(i) });
                continue;
            };
            let rt = &mut self.alerts[i];
            let transition = rt.state.observe(now, active, rule.for_);
            match transition {
                Some(AlertTransition::Firing) => {
                    rt.ever_fired = true;
                    if rule.rollback && rollback.is_none() {
                        rollback = Some(i);
                    }
                }
                Some(AlertTransition::Resolved) => rt.last_resolved = Some(now),
                Some(AlertTransition::Pending) | None => {}
            }
            if let Some(transition) = transition {
                sink.event(EngineEvent::Alert { at: now, alert: i, transition, value });
            }
        }
        if let Some(i) = rollback {
            self.start_rollback(now, Cause::Alert(i), sink);
            return true;
        }
        false
    }

    /// Number of critical alerts firing at some point in `[now - window, now]`.
    fn critical_alerts_in(&self, now: SimTime, window: SimDur) -> u64 {
        let from = SimTime(now.0.saturating_sub(window.0));
        self.policy
            .alerts
            .iter()
            .zip(&self.alerts)
            .filter(|(rule, rt)| {
                rule.severity == Severity::Critical
                    && rt.ever_fired
                    && (rt.state.is_firing() || rt.last_resolved.is_some_and(|r| r >= from))
            })
            .count() as u64
    }

    fn run_phase<S, K>(&mut self, policy: &Policy, phase: usize, now: SimTime, source: &mut S, sink: &mut K)
    where
        S: MetricSource + ?Sized,
        K: EventSink + ?Sized,
    {
        let p = &policy.phases[phase];
        // Steps due now, in order.
        while let Some(step) = p.steps.get(self.next_step) {
            if self.phase_start + step.at > now {
                break;
            }
            let idx = self.next_step;
            self.next_step += 1;
            sink.event(EngineEvent::Step { at: now, phase, step: idx, action: step.action });
            match step.action {
                StepAction::Deploy | StepAction::Shift => self.set_weight(p.weight, now, sink),
                StepAction::Check => {
                    if self.check_round(policy, phase, now, source, sink) {
                        return;
                    }
                }
                StepAction::Mark => {}
            }
        }
        // Checks on the cadence.
        if self.next_check <= now {
            while self.next_check <= now {
                self.next_check += p.checks.every;
            }
            if self.next_check > self.phase_end {
                self.next_check = SimTime::NEVER;
            }
            if self.check_round(policy, phase, now, source, sink) {
                return;
            }
        }
        // The decision gate.
        if now >= self.phase_end {
            self.decision_gate(phase, now, sink);
        }
    }

    /// One check of every gate; in continuous mode acts on limits at once.
    /// Returns true when it ended the phase.
    fn check_round<S, K>(&mut self, policy: &Policy, phase: usize, now: SimTime, source: &mut S, sink: &mut K) -> bool
    where
        S: MetricSource + ?Sized,
        K: EventSink + ?Sized,
    {
        if self.last_round == Some(now) {
            return false;
        }
        self.last_round = Some(now);
        let p = &policy.phases[phase];
        for (gi, gate) in p.gates.iter().enumerate() {
            let (value, limit, requests, verdict) = self.check_gate(gate, &p.checks, now, source, sink.needs_values());
            sink.event(EngineEvent::Check { at: now, phase, gate: gi, value, limit, requests, verdict });
            if gate.dry_run {
                continue;
            }
            let c = &mut self.gates[gi];
            if verdict != Verdict::Error {
                c.consecutive_errors = 0;
            }
            match verdict {
                Verdict::Pass => c.consecutive_failures = 0,
                Verdict::Fail => {
                    c.failures += 1;
                    c.consecutive_failures += 1;
                    c.worst_failure_run = c.worst_failure_run.max(c.consecutive_failures);
                }
                Verdict::Inconclusive => c.inconclusive += 1,
                Verdict::Error => {
                    c.consecutive_errors += 1;
                    c.worst_error_run = c.worst_error_run.max(c.consecutive_errors);
                }
            }
        }
        if p.checks.mode == EvalMode::Continuous {
            if let Some((cause, action)) = self.judge(phase) {
                self.on_failure(phase, now, cause, action, sink);
                return true;
            }
        }
        false
    }

    fn check_gate<S>(
        &self,
        gate: &Gate,
        rules: &CheckRules,
        now: SimTime,
        source: &mut S,
        values: bool,
    ) -> (Option<f64>, Option<f64>, Option<u64>, Verdict)
    where
        S: MetricSource + ?Sized,
    {
        let window = match gate.window {
            Window::Fixed(d) => d,
            Window::Phase => now.since(self.traffic_start),
        };
        if window == SimDur::ZERO {
            return (None, None, None, Verdict::Inconclusive);
        }
        let query = Query { metric: gate.metric, group: gate.group, class: gate.class, window, agg: gate.agg };
        if let (false, Limit::Absolute(limit), false) = (values, gate.limit, gate.metric == Metric::CriticalAlerts) {
            // The same verdict as below, without the value.
            let Ok(c) = source.compare(&query, now, gate.op, limit) else {
                return (None, None, None, Verdict::Error);
            };
            return match c.holds {
                Some(holds) if c.enough(gate.metric, rules.min_requests) => {
                    (None, Some(limit), c.requests, if holds { Verdict::Pass } else { Verdict::Fail })
                }
                _ => (None, None, c.requests, Verdict::Inconclusive),
            };
        }
        let sample = if gate.metric == Metric::CriticalAlerts {
            Sample { value: Some(self.critical_alerts_in(now, window) as f64), requests: None }
        } else {
            match source.query(&query, now) {
                Ok(s) => s,
                Err(_) => return (None, None, None, Verdict::Error),
            }
        };
        let enough = |s: &Sample| s.enough(gate.metric, rules.min_requests);
        let Some(value) = sample.value.filter(|_| enough(&sample)) else {
            return (sample.value, None, sample.requests, Verdict::Inconclusive);
        };
        let limit = match gate.limit {
            Limit::Absolute(v) => Some(v),
            Limit::BaselineRelative(_) | Limit::BaselinePlus(_) => {
                let Ok(base) = source.query(&Query { group: Group::Stable, ..query }, now) else {
                    return (Some(value), None, sample.requests, Verdict::Error);
                };
                base.value.filter(|_| enough(&base)).map(|b| match gate.limit {
                    Limit::BaselineRelative(f) => b * (1.0 + f),
                    Limit::BaselinePlus(a) => b + a,
                    Limit::Absolute(v) => v,
                })
            }
        };
        let Some(limit) = limit else {
            return (Some(value), None, sample.requests, Verdict::Inconclusive);
        };
        let verdict = if gate.op.holds(value, limit) { Verdict::Pass } else { Verdict::Fail };
        (Some(value), Some(limit), sample.requests, verdict)
    }

    /// The first gate (in policy order) whose counts exceed the phase's limits.
    fn judge(&self, phase: usize) -> Option<(Cause, FailureAction)> {
        let p = &self.policy.phases[phase];
        let rules = &p.checks;
        for (gate, c) in self.gates.iter().enumerate() {
            let consecutive = rules.consecutive_failure_limit.is_some_and(|l| c.worst_failure_run > l);
            if c.failures > rules.failure_limit || consecutive {
                return Some((Cause::GateFailed { phase, gate }, rules.on_failure));
            }
            if c.worst_error_run > rules.consecutive_error_limit {
                return Some((Cause::GateErrored { phase, gate }, rules.on_failure));
            }
        }
        for (gate, c) in self.gates.iter().enumerate() {
            if c.inconclusive > rules.inconclusive_limit {
                return Some((Cause::GateInconclusive { phase, gate }, rules.on_inconclusive));
            }
        }
        None
    }

    fn decision_gate<K: EventSink + ?Sized>(&mut self, phase: usize, now: SimTime, sink: &mut K) {
        if let Some((cause, action)) = self.judge(phase) {
            self.on_failure(phase, now, cause, action, sink);
            return;
        }
        let cause = Cause::CriteriaMet { phase };
        match self.policy.phases[phase].approval {
            Some(delay) if delay > SimDur::ZERO => {
                let until = now + delay;
                self.status = Status::AwaitingApproval { phase, until };
                self.decide(now, DecisionKind::AwaitApproval { until }, cause, sink);
            }
            _ => self.promote(phase, now, cause, sink),
        }
    }

    fn on_failure<K: EventSink + ?Sized>(
        &mut self,
        phase: usize,
        now: SimTime,
        cause: Cause,
        action: FailureAction,
        sink: &mut K,
    ) {
        match action {
            FailureAction::Rollback => self.start_rollback(now, cause, sink),
            FailureAction::Hold => {
                self.status = Status::Held { phase };
                self.decide(now, DecisionKind::Hold, cause, sink);
            }
            FailureAction::Extend { by, max } => {
                if self.extensions >= max {
                    self.start_rollback(now, cause, sink);
                    return;
                }
                self.extensions += 1;
                // An extension is a fresh observation period: counts restart.
                self.gates.iter_mut().for_each(|g| *g = GateCount::default());
                self.phase_end = now + by;
                let every = self.policy.phases[phase].checks.every;
                self.next_check = if every == SimDur::ZERO { SimTime::NEVER } else { now + every };
                self.decide(now, DecisionKind::Extend { until: self.phase_end }, cause, sink);
            }
        }
    }

    fn promote<K: EventSink + ?Sized>(&mut self, phase: usize, now: SimTime, cause: Cause, sink: &mut K) {
        let next = phase + 1;
        if next >= self.policy.phases.len() {
            self.status = Status::Completed;
            self.weight = 1.0;
            self.decide(now, DecisionKind::Complete, cause, sink);
            return;
        }
        self.decide(now, DecisionKind::Promote { to: next }, cause, sink);
        self.enter_phase(next, now, sink);
    }

    fn enter_phase<K: EventSink + ?Sized>(&mut self, phase: usize, now: SimTime, sink: &mut K) {
        let p = &self.policy.phases[phase];
        self.status = Status::InPhase { phase };
        self.phase_start = now;
        self.traffic_start = now;
        self.phase_end = now + p.bake;
        self.extensions = 0;
        self.next_step = 0;
        self.next_check = if p.checks.every == SimDur::ZERO || p.checks.every > p.bake {
            SimTime::NEVER
        } else {
            now + p.checks.every
        };
        self.gates = vec![GateCount::default(); p.gates.len()];
        sink.event(EngineEvent::PhaseStarted { at: now, phase });
        // A phase without a deploy/shift step moves traffic as it starts.
        if !p.steps.iter().any(|s| s.action.moves_traffic()) {
            let w = p.weight;
            self.set_weight(w, now, sink);
        }
    }

    fn set_weight<K: EventSink + ?Sized>(&mut self, weight: f64, now: SimTime, sink: &mut K) {
        if weight != self.weight {
            self.weight = weight;
            self.traffic_start = now;
            sink.event(EngineEvent::WeightChanged { at: now, weight });
        }
    }

    fn start_rollback<K: EventSink + ?Sized>(&mut self, now: SimTime, cause: Cause, sink: &mut K) {
        let from_weight = self.weight;
        let end = now + self.policy.rollback_duration;
        self.decide(now, DecisionKind::Rollback, cause, sink);
        if end == now || from_weight == 0.0 {
            self.status = Status::RolledBack;
            self.weight = 0.0;
            self.decide(now, DecisionKind::RollbackComplete, Cause::RollbackFinished, sink);
        } else {
            self.status = Status::RollingBack { start: now, end, from_weight };
        }
    }

    fn decide<K: EventSink + ?Sized>(&mut self, at: SimTime, kind: DecisionKind, cause: Cause, sink: &mut K) {
        sink.event(EngineEvent::Decision(Decision { at, kind, cause }));
    }
}

#[cfg(test)]
mod controller_tests;
#[cfg(test)]
mod tests;
