//! Flagger's canary analysis, as its scheduler (v1.x,
//! `pkg/controller/scheduler.go`, `scheduler_metrics.go`) runs it.
//!
//! Every `interval` from the start (tick 0 finds the new revision and scales
//! the canary up):
//! 1. when the failed checks so far reach `threshold` (≥, counted over the
//!    whole canary, never reset), roll back: traffic to 0 at once;
//! 2. while the canary has no traffic and no iteration ran, start the analysis
//!    (pre-rollout hooks) without checking metrics; otherwise check the
//!    metrics in order (built-in ones first, then templates, as Flagger
//!    does): the first failed check counts one failure and ends the tick
//!    without advancing. A value out of `thresholdRange`, no value, NaN or a
//!    query error is a failed check; a vector's last series is its value;
//! 3. advance: progressive canary: the weight grows by `stepWeight` (or to the
//!    next `stepWeights` entry) up to `maxWeight`; a tick that passes at
//!    `maxWeight` promotes. With `iterations` (A/B testing with `match`, or
//!    blue/green), each passing tick counts an iteration at the matched share;
//!    a passing tick after the last iteration promotes.
//!
//! The policy's phases are the weights in order (phase 0: no traffic yet), or
//! the iterations; a gate index in events is a metric index.

use super::argo::MeasureBy;
use super::{Answer, Cause, DecisionKind, Engine, EngineEvent, EventSink, MetricSource, Status, Verdict};
use crate::time::{SimDur, SimTime};

#[derive(Debug, Clone, PartialEq)]
pub struct FlaggerPolicy {
    pub interval: SimDur,
    pub threshold: u32,
    /// Percent, as Flagger's integers.
    pub max_weight: u32,
    pub step_weight: u32,
    pub step_weights: Vec<u32>,
    /// Non-zero: A/B testing or blue/green, this many iterations.
    pub iterations: u32,
    /// The share of traffic the canary gets during iterations (the requests
    /// `match` selects), percent.
    pub iteration_weight: u32,
    pub metrics: Vec<FlaggerMetric>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FlaggerMetric {
    pub name: String,
    pub by: MeasureBy,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl FlaggerMetric {
    /// What passes, as people read it: `>= 99`, `<= 500`, `within [a, b]`.
    pub fn range_text(&self) -> String {
        match (self.min, self.max) {
            (Some(a), Some(b)) => format!("within [{a}, {b}]"),
            (Some(a), None) => format!(">= {a}"),
            (None, Some(b)) => format!("<= {b}"),
            (None, None) => "any value".into(),
        }
    }
}

impl FlaggerPolicy {
    /// `nextStepWeight`.
    fn next_step_weight(&self, canary: u32) -> u32 {
        if self.step_weight > 0 || self.step_weights.is_empty() {
            return self.step_weight;
        }
        let max_step = 100 - canary.min(100);
        if max_step == 0 {
            return 1;
        }
        if canary == 0 {
            return max_step.min(self.step_weights[0]);
        }
        for w in self.step_weights.windows(2) {
            if w[0] == canary {
                return max_step.min(w[1].saturating_sub(canary));
            }
        }
        max_step
    }

    /// `maxWeight`.
    pub fn effective_max_weight(&self) -> u32 {
        if let Some(&last) = self.step_weights.last() {
            return last.min(100);
        }
        if self.max_weight > 0 {
            self.max_weight
        } else {
            100
        }
    }

    /// The canary weights in order, from 0 (the policy's phases).
    pub fn weights(&self) -> Vec<u32> {
        if self.iterations > 0 {
            let mut w = vec![0];
            w.extend(std::iter::repeat_n(self.iteration_weight, self.iterations as usize));
            return w;
        }
        let max = self.effective_max_weight();
        let mut out = vec![0];
        let mut w = 0;
        while w < max && out.len() <= 100 {
            let step = self.next_step_weight(w);
            if step == 0 {
                break;
            }
            w = (w + step).min(100);
            out.push(w);
        }
        out
    }

    /// One check of metric `i`.
    fn check(&self, i: usize, answer: Result<Answer, ()>) -> (Option<f64>, Verdict) {
        let m = &self.metrics[i];
        let value = match answer {
            Err(()) => return (None, Verdict::Error),
            Ok(Answer::Scalar(x)) => Some(x),
            Ok(Answer::Vector(v)) => v.last().copied(),
        };
        let Some(x) = value.filter(|x| !x.is_nan()) else { return (value, Verdict::Fail) };
        let fail = m.min.is_some_and(|lo| x < lo) || m.max.is_some_and(|hi| x > hi);
        (Some(x), if fail { Verdict::Fail } else { Verdict::Pass })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct FlaggerState {
    next_tick: SimTime,
    /// Index into [`FlaggerPolicy::weights`].
    stage: usize,
    iterations: u32,
    failed: u32,
    last_failed: usize,
}

impl Engine {
    fn flagger(&self) -> &FlaggerPolicy {
        match &self.policy.controller {
            super::Controller::Flagger(f) => f,
            _ => unreachable!("a Flagger state with another controller"),
        }
    }

    pub(super) fn flagger_start<K: EventSink + ?Sized>(&mut self, sink: &mut K) {
        let next_tick = SimTime::ZERO + self.flagger().interval;
        self.ctl = super::Ctl::Flagger(FlaggerState { next_tick, stage: 0, iterations: 0, failed: 0, last_failed: 0 });
        self.status = Status::InPhase { phase: 0 };
        sink.event(EngineEvent::PhaseStarted { at: SimTime::ZERO, phase: 0 });
    }

    pub(super) fn flagger_next_wakeup(&self) -> SimTime {
        match (&self.ctl, self.status) {
            (super::Ctl::Flagger(st), Status::InPhase { .. }) => st.next_tick,
            _ => SimTime::NEVER,
        }
    }

    pub(super) fn flagger_step<S, K>(&mut self, policy: &super::Policy, now: SimTime, source: &mut S, sink: &mut K)
    where
        S: MetricSource + ?Sized,
        K: EventSink + ?Sized,
    {
        let super::Controller::Flagger(f) = &policy.controller else { return };
        let super::Ctl::Flagger(st) = &mut self.ctl else { return };
        if now < st.next_tick {
            return;
        }
        while st.next_tick <= now {
            st.next_tick += f.interval;
        }
        let phase = st.stage;
        if st.failed >= f.threshold {
            let gate = st.last_failed;
            self.start_rollback(now, Cause::GateFailed { phase, gate }, sink);
            return;
        }
        let weights = f.weights();
        let canary_weight = weights[st.stage];
        if canary_weight > 0 || st.iterations > 0 {
            for i in 0..f.metrics.len() {
                let (value, verdict) = match &f.metrics[i].by {
                    MeasureBy::Assume(v) => (None, *v),
                    MeasureBy::Query(metric) => {
                        f.check(i, super::argo::candidate_answer(*metric, now, source).map_err(|_| ()))
                    }
                };
                let limit = f.metrics[i].min.or(f.metrics[i].max);
                sink.event(EngineEvent::Check { at: now, phase, gate: i, value, limit, requests: None, verdict });
                if verdict != Verdict::Pass {
                    let super::Ctl::Flagger(st) = &mut self.ctl else { return };
                    st.failed += 1;
                    st.last_failed = i;
                    return;
                }
            }
        }
        let super::Ctl::Flagger(st) = &mut self.ctl else { return };
        let next = st.stage + 1;
        let advance =
            if f.iterations > 0 { st.iterations < f.iterations } else { canary_weight < f.effective_max_weight() };
        if !advance || next >= weights.len() {
            self.status = Status::Completed;
            self.weight = 1.0;
            self.decide(now, DecisionKind::Complete, Cause::CriteriaMet { phase }, sink);
            return;
        }
        st.stage = next;
        if f.iterations > 0 {
            st.iterations += 1;
        }
        self.decide(now, DecisionKind::Promote { to: next }, Cause::CriteriaMet { phase }, sink);
        self.status = Status::InPhase { phase: next };
        sink.event(EngineEvent::PhaseStarted { at: now, phase: next });
        self.set_weight(f64::from(weights[next]) / 100.0, now, sink);
    }
}
