//! Argo Rollouts' canary strategy and analysis runs, as its controller (v1.x,
//! `rollout/canary.go`, `analysis/analysis.go`, `utils/evaluate`) runs them.
//!
//! - Steps in order: `setWeight` (traffic moves at once), `pause` (a duration,
//!   or none: a manual promotion, simulated as arriving `manual_delay` later),
//!   `analysis` (an inline run: the step ends when the run is Successful),
//!   `setCanaryScale` (instances only: no effect on the traffic share).
//! - A background run starts when the rollout reaches `starting_step` and is
//!   terminated (Successful) when the last step completes.
//! - Measurements: the first at run start + `initialDelay`, then every
//!   `interval` after the previous one; after an *error* the next one comes
//!   10 s later, and errors do not count toward `count`. Without `count` and
//!   `interval` a metric is measured once; with `interval` only, until the run
//!   ends.
//! - A measurement's phase from its conditions (`EvaluateResult`); a metric's
//!   status from its counters (`assessMetricStatus`: failed > `failureLimit`,
//!   inconclusive > `inconclusiveLimit`, consecutive errors >
//!   `consecutiveErrorLimit`, the later check winning, then
//!   `consecutiveSuccessLimit` and `count`); the run takes the worst non-dry-run
//!   metric (Successful < Running < Inconclusive < Error < Failed) and ends as
//!   soon as one of them is Failed, Error or Inconclusive.
//! - Failed or Error aborts: traffic to 0 at once. Inconclusive pauses for a
//!   manual decision, simulated as arriving `manual_delay` later
//!   (`on_inconclusive`: abort, or promote past the pause).
//!
//! The policy's phases are the steps, one to one; a gate index in events is a
//! metric index into [`ArgoPolicy::metrics`].

use super::expr::{Expr, Value};
use super::{
    Agg, Answer, Cause, DecisionKind, Engine, EngineEvent, EventSink, Group, Metric, MetricSource, Query, Status,
    Verdict,
};
use crate::time::{SimDur, SimTime};

/// Argo's `DefaultErrorRetryInterval`.
pub const ERROR_RETRY: SimDur = SimDur::secs(10);

#[derive(Debug, Clone, PartialEq)]
pub struct ArgoPolicy {
    pub steps: Vec<ArgoStep>,
    /// Every metric of every run; steps and the background run name them by index.
    pub metrics: Vec<ArgoMetric>,
    pub background: Option<Background>,
    /// When a manual promotion arrives after a `pause: {}` or an inconclusive run.
    pub manual_delay: SimDur,
    /// What the person decides after an inconclusive run.
    pub on_inconclusive: ManualDecision,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Background {
    pub starting_step: usize,
    pub metrics: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManualDecision {
    Abort,
    Promote,
}

impl ManualDecision {
    pub fn name(self) -> &'static str {
        match self {
            ManualDecision::Abort => "abort",
            ManualDecision::Promote => "promote",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ArgoStep {
    /// Candidate traffic share, 0..=1.
    SetWeight(f64),
    /// `None`: until a manual promotion.
    Pause(Option<SimDur>),
    /// An inline analysis run over these metrics.
    Analysis(Vec<usize>),
    /// Scales the canary's instances; the traffic share is unchanged.
    SetCanaryScale,
}

/// Where a measurement comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum MeasureBy {
    /// A query of the scenario (`Metric::Query`) against the candidate.
    Query(Metric),
    /// A provider rollsim cannot simulate (job, web, Datadog, a webhook): every
    /// measurement has this verdict, as the user chose at import.
    Assume(Verdict),
}

/// The candidate's whole answer to `metric` at `now`, as a controller's
/// provider asks it.
pub(super) fn candidate_answer<S: MetricSource + ?Sized>(
    metric: Metric,
    now: SimTime,
    source: &mut S,
) -> Result<Answer, super::QueryError> {
    let q = Query { metric, group: Group::Candidate, class: None, window: SimDur::ZERO, agg: Agg::Window };
    source.query_answer(&q, now)
}

#[derive(Debug, Clone, PartialEq)]
pub struct ArgoMetric {
    pub name: String,
    pub by: MeasureBy,
    pub success: Option<Expr>,
    pub failure: Option<Expr>,
    pub initial_delay: SimDur,
    pub interval: Option<SimDur>,
    /// `None` or 0: see [`ArgoMetric::effective_count`].
    pub count: Option<u32>,
    /// `None`: not applicable (Argo's `failureLimit: -1`).
    pub failure_limit: Option<u32>,
    pub inconclusive_limit: u32,
    pub consecutive_error_limit: u32,
    /// 0: not set.
    pub consecutive_success_limit: u32,
    pub dry_run: bool,
}

impl ArgoMetric {
    /// Argo's `EffectiveCount`: no count and no interval is one measurement;
    /// an interval without a count runs until the run ends.
    pub fn effective_count(&self) -> Option<u32> {
        match self.count.filter(|&c| c > 0) {
            Some(c) => Some(c),
            None if self.interval.is_none() => Some(1),
            None => None,
        }
    }

    /// The phase of one measurement given the provider's answer (`EvaluateResult`).
    pub fn evaluate(&self, answer: &Answer) -> Verdict {
        let result = match answer {
            Answer::Scalar(x) => Value::Num(*x),
            Answer::Vector(v) => Value::Array(v.clone()),
        };
        let eval = |e: &Option<Expr>| e.as_ref().map(|e| e.eval(&result)).transpose();
        let (Ok(success), Ok(failure)) = (eval(&self.success), eval(&self.failure)) else {
            return Verdict::Error;
        };
        let (success, failure) = match (success, failure) {
            (None, None) => return Verdict::Pass,
            (Some(s), None) => (s, !s),
            (None, Some(f)) => (!f, f),
            (Some(s), Some(f)) => (s, f),
        };
        if failure {
            Verdict::Fail
        } else if !success {
            Verdict::Inconclusive
        } else {
            Verdict::Pass
        }
    }
}

/// A metric's or a run's status, in Argo's order of badness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RunPhase {
    Successful,
    Running,
    Inconclusive,
    Error,
    Failed,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct MetricRun {
    next: Option<SimTime>,
    measured: bool,
    count: u32,
    failed: u32,
    inconclusive: u32,
    consecutive_error: u32,
    consecutive_success: u32,
    /// Completed status, once there is one.
    done: Option<RunPhase>,
}

impl MetricRun {
    /// `assessMetricStatus`.
    fn assess(&self, m: &ArgoMetric, terminating: bool) -> RunPhase {
        if let Some(p) = self.done {
            return p;
        }
        if !self.measured {
            return if terminating { RunPhase::Successful } else { RunPhase::Running };
        }
        let mut phase = None;
        if m.failure_limit.is_some_and(|l| self.failed > l) {
            phase = Some(RunPhase::Failed);
        }
        if self.inconclusive > m.inconclusive_limit {
            phase = Some(RunPhase::Inconclusive);
        }
        if self.consecutive_error > m.consecutive_error_limit {
            phase = Some(RunPhase::Error);
        }
        if let Some(p) = phase {
            return p;
        }
        let csl = m.consecutive_success_limit;
        if csl > 0 && self.consecutive_success >= csl {
            return RunPhase::Successful;
        }
        if m.effective_count().is_some_and(|c| self.count >= c) {
            return match (m.failure_limit.is_some(), csl > 0) {
                (true, true) => RunPhase::Inconclusive,
                (false, true) => RunPhase::Failed,
                _ => RunPhase::Successful,
            };
        }
        if terminating {
            RunPhase::Successful
        } else {
            RunPhase::Running
        }
    }
}

/// One analysis run.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Run {
    metrics: Vec<usize>,
    state: Vec<MetricRun>,
    /// The run's result and the metric that decided it, once completed.
    done: Option<(RunPhase, usize)>,
}

impl Run {
    fn start(policy: &ArgoPolicy, metrics: &[usize], now: SimTime) -> Run {
        let state = metrics
            .iter()
            .map(|&i| MetricRun { next: Some(now + policy.metrics[i].initial_delay), ..MetricRun::default() })
            .collect();
        Run { metrics: metrics.to_vec(), state, done: None }
    }

    fn next_measurement(&self) -> Option<SimTime> {
        if self.done.is_some() {
            return None;
        }
        self.state.iter().filter(|s| s.done.is_none()).filter_map(|s| s.next).min()
    }

    /// Takes every measurement due at `now`, then assesses the run.
    fn measure<S, K>(&mut self, policy: &ArgoPolicy, phase: usize, now: SimTime, source: &mut S, sink: &mut K)
    where
        S: MetricSource + ?Sized,
        K: EventSink + ?Sized,
    {
        if self.done.is_some() {
            return;
        }
        for (k, &mi) in self.metrics.iter().enumerate() {
            let m = &policy.metrics[mi];
            let st = &mut self.state[k];
            if st.done.is_some() || st.next.is_none_or(|t| t > now) {
                continue;
            }
            let (value, verdict) = match &m.by {
                MeasureBy::Assume(v) => (None, *v),
                MeasureBy::Query(metric) => match candidate_answer(*metric, now, source) {
                    Ok(a) => (a.first(), m.evaluate(&a)),
                    Err(_) => (None, Verdict::Error),
                },
            };
            let limit = m.success.as_ref().and_then(Expr::simple_threshold).map(|(_, v)| v);
            sink.event(EngineEvent::Check { at: now, phase, gate: mi, value, limit, requests: None, verdict });
            st.measured = true;
            match verdict {
                Verdict::Pass => {
                    st.count += 1;
                    st.consecutive_error = 0;
                    st.consecutive_success += 1;
                }
                Verdict::Fail | Verdict::Inconclusive => {
                    st.count += 1;
                    st.consecutive_error = 0;
                    st.consecutive_success = 0;
                    if verdict == Verdict::Fail {
                        st.failed += 1;
                    } else {
                        st.inconclusive += 1;
                    }
                }
                Verdict::Error => {
                    st.consecutive_error += 1;
                    st.consecutive_success = 0;
                }
            }
            st.next = if verdict == Verdict::Error {
                Some(now + ERROR_RETRY)
            } else if m.effective_count().is_some_and(|c| st.count >= c) {
                None
            } else {
                m.interval.map(|i| now + i)
            };
            let status = st.assess(m, false);
            if status != RunPhase::Running {
                st.done = Some(status);
            }
        }
        self.assess(policy, false);
    }

    /// `assessRunStatus`: the worst non-dry-run metric once all are complete,
    /// or at once when one of them failed, erred or was inconclusive.
    fn assess(&mut self, policy: &ArgoPolicy, terminated: bool) {
        let terminating = terminated
            || self
                .metrics
                .iter()
                .zip(&self.state)
                .any(|(&mi, st)| !policy.metrics[mi].dry_run && st.done.is_some_and(|p| p > RunPhase::Running));
        let mut worst: Option<(RunPhase, usize)> = None;
        let mut complete = true;
        for (&mi, st) in self.metrics.iter().zip(&mut self.state) {
            let m = &policy.metrics[mi];
            let status = st.assess(m, terminating);
            if status == RunPhase::Running {
                complete = false;
                continue;
            }
            st.done = Some(status);
            if !m.dry_run && worst.is_none_or(|(w, _)| status > w) {
                worst = Some((status, mi));
            }
        }
        if complete || terminating {
            let first = self.metrics.first().copied().unwrap_or(0);
            self.done = Some(worst.unwrap_or((RunPhase::Successful, first)));
        }
    }
}

/// The Argo controller's state inside an [`Engine`].
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ArgoState {
    step: usize,
    step_start: SimTime,
    step_run: Option<Run>,
    background: Option<Run>,
    /// A manual promotion (`pause: {}`) or decision (inconclusive) arrives then.
    manual_until: Option<SimTime>,
    /// The inconclusive run waiting for its decision: (metric).
    inconclusive: Option<usize>,
}

impl Engine {
    fn argo(&self) -> &ArgoPolicy {
        match &self.policy.controller {
            super::Controller::Argo(a) => a,
            _ => unreachable!("an Argo state with another controller"),
        }
    }

    pub(super) fn argo_start<K: EventSink + ?Sized>(&mut self, sink: &mut K) {
        self.ctl = super::Ctl::Argo(ArgoState {
            step: 0,
            step_start: SimTime::ZERO,
            step_run: None,
            background: None,
            manual_until: None,
            inconclusive: None,
        });
        self.status = Status::InPhase { phase: 0 };
        sink.event(EngineEvent::PhaseStarted { at: SimTime::ZERO, phase: 0 });
        self.argo_background_start(SimTime::ZERO);
    }

    fn argo_state(&mut self) -> &mut ArgoState {
        match &mut self.ctl {
            super::Ctl::Argo(s) => s,
            _ => unreachable!("not an Argo engine"),
        }
    }

    fn argo_background_start(&mut self, now: SimTime) {
        let policy = std::sync::Arc::clone(&self.policy);
        let a = match &policy.controller {
            super::Controller::Argo(a) => a,
            _ => return,
        };
        let st = self.argo_state();
        if let Some(bg) = &a.background {
            if st.background.is_none() && st.step >= bg.starting_step && st.step < a.steps.len() {
                st.background = Some(Run::start(a, &bg.metrics, now));
            }
        }
    }

    pub(super) fn argo_next_wakeup(&self) -> SimTime {
        let super::Ctl::Argo(st) = &self.ctl else { return SimTime::NEVER };
        let mut t = SimTime::NEVER;
        if !self.watching() {
            return t;
        }
        if let Some(run) = &st.background {
            t = t.min(run.next_measurement().unwrap_or(SimTime::NEVER));
        }
        if let Some(u) = st.manual_until {
            return t.min(u);
        }
        if let Some(run) = &st.step_run {
            t = t.min(run.next_measurement().unwrap_or(SimTime::NEVER));
        }
        if matches!(self.status, Status::InPhase { .. }) {
            match self.argo().steps.get(st.step) {
                Some(ArgoStep::Pause(Some(d))) => t = t.min(st.step_start + *d),
                // A step that acts as soon as it is reached (only the first
                // step can be waiting: later ones run in the step that reached them).
                Some(ArgoStep::SetWeight(_) | ArgoStep::SetCanaryScale | ArgoStep::Pause(None)) => {
                    t = t.min(st.step_start)
                }
                Some(ArgoStep::Analysis(_)) if st.step_run.is_none() => t = t.min(st.step_start),
                _ => {}
            }
        }
        t
    }

    pub(super) fn argo_step<S, K>(&mut self, policy: &super::Policy, now: SimTime, source: &mut S, sink: &mut K)
    where
        S: MetricSource + ?Sized,
        K: EventSink + ?Sized,
    {
        let super::Controller::Argo(a) = &policy.controller else { return };
        let step = self.argo_state().step;
        // A manual decision that has arrived.
        if let Some(until) = self.argo_state().manual_until {
            if now < until {
                // The background run keeps measuring during a pause.
                self.argo_background(a, step, now, source, sink);
                return;
            }
            let st = self.argo_state();
            st.manual_until = None;
            if let Some(gate) = st.inconclusive.take() {
                let cause = Cause::GateInconclusive { phase: step, gate };
                if a.on_inconclusive == ManualDecision::Abort {
                    self.start_rollback(now, cause, sink);
                    return;
                }
                // Promoted past the inconclusive run: the background run starts afresh.
                if self.argo_state().background.take().is_some() {
                    self.argo_background_start(now);
                }
            }
            self.status = Status::InPhase { phase: step };
            self.argo_next_step(a, now, Cause::Approved { phase: step }, sink);
        }
        let step = self.argo_state().step;
        if self.argo_background(a, step, now, source, sink) {
            return;
        }
        self.argo_run_steps(a, now, source, sink);
    }

    /// Measures the background run; true when it ended the rollout or paused it.
    fn argo_background<S, K>(
        &mut self,
        a: &ArgoPolicy,
        phase: usize,
        now: SimTime,
        source: &mut S,
        sink: &mut K,
    ) -> bool
    where
        S: MetricSource + ?Sized,
        K: EventSink + ?Sized,
    {
        let Some(mut run) = self.argo_state().background.take() else { return false };
        let was_done = run.done.is_some();
        run.measure(a, phase, now, source, sink);
        let done = run.done;
        self.argo_state().background = Some(run);
        match done {
            Some((result, gate)) if !was_done => self.argo_run_result(phase, now, result, gate, sink),
            _ => false,
        }
    }

    /// Acts on a completed run: true when the rollout stopped progressing.
    fn argo_run_result<K: EventSink + ?Sized>(
        &mut self,
        phase: usize,
        now: SimTime,
        result: RunPhase,
        gate: usize,
        sink: &mut K,
    ) -> bool {
        match result {
            RunPhase::Failed => self.start_rollback(now, Cause::GateFailed { phase, gate }, sink),
            RunPhase::Error => self.start_rollback(now, Cause::GateErrored { phase, gate }, sink),
            RunPhase::Inconclusive => {
                let until = now + self.argo().manual_delay;
                let st = self.argo_state();
                st.manual_until = Some(until);
                st.inconclusive = Some(gate);
                self.status = Status::AwaitingApproval { phase, until };
                self.decide(now, DecisionKind::AwaitApproval { until }, Cause::GateInconclusive { phase, gate }, sink);
            }
            RunPhase::Successful | RunPhase::Running => return false,
        }
        true
    }

    fn argo_run_steps<S, K>(&mut self, a: &ArgoPolicy, now: SimTime, source: &mut S, sink: &mut K)
    where
        S: MetricSource + ?Sized,
        K: EventSink + ?Sized,
    {
        while matches!(self.status, Status::InPhase { .. }) {
            let st = self.argo_state();
            let (step, start) = (st.step, st.step_start);
            let Some(s) = a.steps.get(step) else { return };
            match s {
                ArgoStep::SetWeight(w) => self.set_weight(*w, now, sink),
                ArgoStep::SetCanaryScale => {}
                ArgoStep::Pause(Some(d)) => {
                    if now < start + *d {
                        return;
                    }
                }
                ArgoStep::Pause(None) => {
                    let until = now + a.manual_delay;
                    self.argo_state().manual_until = Some(until);
                    self.status = Status::AwaitingApproval { phase: step, until };
                    self.decide(now, DecisionKind::AwaitApproval { until }, Cause::CriteriaMet { phase: step }, sink);
                    return;
                }
                ArgoStep::Analysis(metrics) => {
                    let mut run = self.argo_state().step_run.take().unwrap_or_else(|| Run::start(a, metrics, now));
                    run.measure(a, step, now, source, sink);
                    let done = run.done;
                    self.argo_state().step_run = Some(run);
                    match done {
                        None => return,
                        Some((result, gate)) => {
                            if self.argo_run_result(step, now, result, gate, sink) {
                                return;
                            }
                        }
                    }
                }
            }
            self.argo_next_step(a, now, Cause::CriteriaMet { phase: step }, sink);
        }
    }

    fn argo_next_step<K: EventSink + ?Sized>(&mut self, a: &ArgoPolicy, now: SimTime, cause: Cause, sink: &mut K) {
        let st = self.argo_state();
        st.step += 1;
        st.step_start = now;
        st.step_run = None;
        let step = st.step;
        if step >= a.steps.len() {
            // The background run is terminated: Successful.
            self.status = Status::Completed;
            self.weight = 1.0;
            self.decide(now, DecisionKind::Complete, cause, sink);
            return;
        }
        self.decide(now, DecisionKind::Promote { to: step }, cause, sink);
        self.status = Status::InPhase { phase: step };
        sink.event(EngineEvent::PhaseStarted { at: now, phase: step });
        self.argo_background_start(now);
    }
}
