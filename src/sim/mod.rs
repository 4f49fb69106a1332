//! The discrete-event simulator: one trial is one rollout of one candidate,
//! judged by the real engine against the fleet model's metrics.
//!
//! Pure: no files, no clock, no environment. A trial is a function of the
//! scenario, the master seed and the trial index.

pub mod fault;
pub mod fleet;
pub mod lazy;
pub mod prom;
pub mod queue;
pub mod rng;
pub mod shared;
pub mod store;

use crate::engine::{Cause, DecisionKind, Engine, EngineEvent, EventSink, Policy, Status};
use crate::scenario::Scenario;
use crate::time::{SimDur, SimTime};
use fault::DrawnFault;
use fleet::{Accum, Fleet, TickSample};
use queue::{Event, Queue};
use rng::{stream, trial_seed, Stream};
use std::sync::Arc;
use store::Store;

/// How a trial ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// The candidate reached 100% and the last phase passed.
    Completed,
    /// The candidate was rolled back (traffic back to 0).
    RolledBack,
    /// Neither by the time limit (held, or still in progress).
    HeldAtTimeLimit,
    /// The event cap was reached.
    EventCap,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::RolledBack => "rolled-back",
            Outcome::HeldAtTimeLimit => "held",
            Outcome::EventCap => "event-cap",
        }
    }
}

/// One trial's record: what was drawn and what happened.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialRecord {
    pub trial: u64,
    pub seed: u64,
    /// Index into `scenario.faults`.
    pub fault: usize,
    /// True when the candidate version is bad.
    pub bad: bool,
    pub magnitude: f64,
    pub onset: SimTime,
    pub outcome: Outcome,
    /// When the rollback decision was taken.
    pub rollback_at: Option<SimTime>,
    pub rollback_cause: Option<Cause>,
    /// Rollback decision minus onset (bad versions detected after onset).
    pub detection: Option<SimDur>,
    pub first_alert: Option<SimTime>,
    /// From onset until candidate traffic was back to 0.
    pub mitigation: Option<SimDur>,
    pub peak_weight: f64,
    pub candidate_requests: u64,
    pub excess_failed: f64,
    pub excess_slow: f64,
    /// Excess failed requests as a share of the 30-day error budget.
    pub budget_burn: f64,
    pub instance_hours: f64,
    /// When the rollout ended (completed, rolled back, or the time limit).
    pub end: SimTime,
    /// When the candidate's traffic moved to each phase's weight (None: never).
    pub phase_times: Vec<Option<SimTime>>,
    pub events: u64,
}

/// The three populations every outcome figure is reported for, never mixed:
/// bad candidates; good candidates under noise alone (false rollbacks here are
/// the policy's false-alarm rate); good candidates during an outside incident
/// that hurts stable and candidate alike (`shared-dependency`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Population {
    Bad,
    Noise,
    Incident,
}

impl Population {
    pub const ALL: [Population; 3] = [Population::Bad, Population::Noise, Population::Incident];

    /// The row name in tables and reports.
    pub fn label(self) -> &'static str {
        match self {
            Population::Bad => "all bad",
            Population::Noise => "good, noise only",
            Population::Incident => "good, outside incident",
        }
    }

    /// The name that addresses it in `METRIC[GROUP]` (`--objective`, `--fail-on`).
    pub fn key(self) -> &'static str {
        match self {
            Population::Bad => "bad",
            Population::Noise => "noise",
            Population::Incident => "incident",
        }
    }

    /// True when `name` addresses this population (its key or its label).
    pub fn is_named(self, name: &str) -> bool {
        self.key() == name || self.label() == name
    }

    pub fn of(kind: &crate::scenario::FaultKind) -> Population {
        if kind.candidate_is_bad() {
            Population::Bad
        } else if kind.is_outside_incident() {
            Population::Incident
        } else {
            Population::Noise
        }
    }
}

impl TrialRecord {
    pub fn population(&self, sc: &Scenario) -> Population {
        Population::of(&sc.faults[self.fault].kind)
    }

    /// A good version rolled back (under noise or during an outside incident;
    /// see [`Population`] for which).
    pub fn false_rollback(&self) -> bool {
        !self.bad && self.outcome == Outcome::RolledBack
    }
    pub fn escape(&self) -> bool {
        self.bad && self.outcome == Outcome::Completed
    }
    pub fn detected(&self) -> bool {
        self.detection.is_some()
    }
}

/// A full trace of one trial, for `rollsim trace` and timeline charts.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    pub engine: Vec<EngineEvent>,
    pub ticks: Vec<TickSample>,
    pub fault: Option<DrawnFault>,
}

/// Everything shared by the trials of one run (read-only).
pub struct Model<'a> {
    pub scenario: &'a Scenario,
    pub tick: SimDur,
    pub deploy: SimTime,
    pub max_ticks: usize,
}

/// The simulation tick: the model's own time grid (`simulation.tick`), never
/// derived from the policy, so that policy variants judge the same world.
pub fn tick_of(sc: &Scenario) -> SimDur {
    SimDur(sc.simulation.tick.0.max(1))
}

impl<'a> Model<'a> {
    pub fn new(scenario: &'a Scenario) -> Model<'a> {
        let tick = tick_of(scenario);
        let first = &scenario.policy.phases[0];
        let deploy =
            first.steps.iter().find(|s| s.action.moves_traffic()).map_or(SimTime::ZERO, |s| SimTime::ZERO + s.at);
        let max_ticks = (scenario.simulation.time_limit.0 / tick.0) as usize + 2;
        Model { scenario, tick, deploy, max_ticks }
    }
}

/// Per-worker scratch, reused across trials.
pub struct Worker {
    store: Store,
    fleet: Fleet,
    queue: Queue,
    /// The Prometheus view PromQL rules read (only when the policy has some).
    prom: Option<prom::PromView>,
    /// This worker's own copy of the policy (see [`worker_policy`]).
    policy: Arc<Policy>,
}

impl Worker {
    pub fn new(model: &Model) -> Worker {
        Worker {
            store: Store::new(model.scenario.traffic.classes.len(), model.tick, model.max_ticks),
            fleet: Fleet::new(model.scenario, model.tick),
            queue: Queue::default(),
            prom: (!model.scenario.queries.is_empty()).then(|| prom::PromView::for_scenario(model.scenario)),
            policy: worker_policy(model.scenario),
        }
    }
}

/// A copy of `sc`'s policy for one worker thread. The engine holds its policy
/// in an `Arc` and clones it at every step (to read the policy while it
/// updates itself); one `Arc` shared by every thread made each clone and drop
/// an atomic write to a cache line the other threads write too, which cost
/// the 2-thread run about a tenth of its speed and a 13-variant sweep far more.
pub(crate) fn worker_policy(sc: &Scenario) -> Arc<Policy> {
    Arc::new(Policy::clone(&sc.policy))
}

impl Worker {
    /// Also draws the signals `o` names, which the policy may not read (traces
    /// and recordings show every gauge). Each has its own stream, so the trial's
    /// record does not change.
    pub fn observe(&mut self, o: fleet::Observed) {
        self.fleet.observe(o);
    }

    /// The series of the last trial this worker ran.
    pub fn into_store(self) -> Store {
        self.store
    }
}

/// Collects what the trial record needs from the engine.
struct Recorder<'t> {
    rollback: Option<(SimTime, Cause)>,
    rollback_complete: Option<SimTime>,
    first_alert: Option<SimTime>,
    phase_times: Vec<Option<SimTime>>,
    phase: usize,
    trace: Option<&'t mut Vec<EngineEvent>>,
}

impl EventSink for Recorder<'_> {
    fn event(&mut self, e: EngineEvent) {
        match e {
            EngineEvent::Decision(d) => match d.kind {
                DecisionKind::Rollback if self.rollback.is_none() => self.rollback = Some((d.at, d.cause)),
                DecisionKind::RollbackComplete => self.rollback_complete = Some(d.at),
                DecisionKind::Promote { to } => self.phase = to,
                _ => {}
            },
            EngineEvent::Alert { at, transition: crate::engine::AlertTransition::Firing, .. } => {
                self.first_alert.get_or_insert(at);
            }
            EngineEvent::WeightChanged { at, weight } if weight > 0.0 => {
                if let Some(slot) = self.phase_times.get_mut(self.phase) {
                    slot.get_or_insert(at);
                }
            }
            _ => {}
        }
        if let Some(t) = self.trace.as_deref_mut() {
            t.push(e);
        }
    }

    /// The record reads no measured value; a trace shows them.
    fn needs_values(&self) -> bool {
        self.trace.is_some()
    }
}

/// Runs trial `k` of `model` under master seed `master`.
pub fn run_trial(model: &Model, worker: &mut Worker, master: u64, k: u64, trace: Option<&mut Trace>) -> TrialRecord {
    let sc = model.scenario;
    let seed = trial_seed(master, k);
    let mut fault_rng = stream(seed, Stream::Fault);
    let mut rng = stream(seed, Stream::Fleet);
    let fault = DrawnFault::draw(sc, model.deploy, model.tick, &mut fault_rng);

    let Worker { store, fleet, queue, prom, policy } = worker;
    store.reset();
    fleet.reset_for(store, seed);
    if let Some(view) = prom.as_mut() {
        view.reset(seed);
    }
    queue.clear();
    let (engine_trace, mut tick_trace) = match trace {
        Some(t) => {
            t.fault = Some(fault.clone());
            (Some(&mut t.engine), Some(&mut t.ticks))
        }
        None => (None, None),
    };
    let mut rec = Recorder {
        rollback: None,
        rollback_complete: None,
        first_alert: None,
        phase_times: vec![None; sc.policy.phases.len()],
        phase: 0,
        trace: engine_trace,
    };
    // The first phase's start (and its traffic, if it moves at once) is recorded like any other.
    let mut engine = Engine::start(Arc::clone(policy), &mut rec);
    let mut acc = Accum::default();
    let limit = SimTime::ZERO + sc.simulation.time_limit;
    let max_events = sc.simulation.max_events;
    let mut events = 0u64;
    let mut scheduled_wake = engine.next_wakeup();
    queue.push(SimTime::ZERO + model.tick, Event::Tick);
    if let Some(w) = scheduled_wake {
        queue.push(w, Event::EngineWake);
    }
    queue.push(fault.onset, Event::FaultOnset);
    let mut outcome = Outcome::HeldAtTimeLimit;
    let mut end = limit;
    while let Some((t, ev)) = queue.pop() {
        if t > limit {
            break;
        }
        events += 1;
        if events > max_events {
            outcome = Outcome::EventCap;
            end = t;
            break;
        }
        match ev {
            Event::Tick => {
                if store.len > store.capacity() {
                    break;
                }
                let t0 = SimTime(t.0 - model.tick.0);
                let weight = engine.weight_at(t0 + SimDur(model.tick.0 / 2));
                fleet.tick(t0, weight, &fault, &mut rng, store, &mut acc, tick_trace.as_deref_mut());
                queue.push(t + model.tick, Event::Tick);
            }
            Event::FaultOnset => {}
            Event::EngineWake => {
                // A stale wake-up: the engine has moved its next one since
                // (`scheduled_wake` is its `next_wakeup`, which only a step changes).
                if scheduled_wake != Some(t) {
                    continue;
                }
                match prom.as_mut() {
                    Some(view) => engine.step(t, &mut prom::PromSource { store, view, rules: &sc.queries }, &mut rec),
                    None => engine.step(t, store, &mut rec),
                }
                match engine.status() {
                    Status::Completed => {
                        outcome = Outcome::Completed;
                        end = t;
                        break;
                    }
                    Status::RolledBack => {
                        outcome = Outcome::RolledBack;
                        end = t;
                        break;
                    }
                    _ => {}
                }
                let next = engine.next_wakeup();
                if next != scheduled_wake || next == Some(t) {
                    if let Some(n) = next {
                        queue.push(n, Event::EngineWake);
                    }
                    scheduled_wake = next;
                }
            }
        }
    }

    finish(sc, k, seed, &fault, rec, &acc, outcome, end, events)
}

/// The trial record of a finished trial.
#[allow(clippy::too_many_arguments)]
fn finish(
    sc: &Scenario,
    k: u64,
    seed: u64,
    fault: &DrawnFault,
    rec: Recorder,
    acc: &Accum,
    outcome: Outcome,
    end: SimTime,
    events: u64,
) -> TrialRecord {
    let bad = sc.faults[fault.spec].kind.candidate_is_bad();
    let onset = fault.onset;
    let detection = match rec.rollback {
        Some((at, _)) if bad && at >= onset => Some(at.since(onset)),
        _ => None,
    };
    let mitigation = match rec.rollback_complete {
        Some(at) if bad && at >= onset => Some(at.since(onset)),
        _ => None,
    };
    let h = &sc.health;
    let monthly_requests = sc.traffic.requests_per_second * 30.0 * 86_400.0;
    let excess_failed = acc.errors as f64 - acc.expected_errors;
    TrialRecord {
        trial: k,
        seed,
        fault: fault.spec,
        bad,
        magnitude: fault.magnitude,
        onset,
        outcome,
        rollback_at: rec.rollback.map(|r| r.0),
        rollback_cause: rec.rollback.map(|r| r.1),
        detection,
        first_alert: rec.first_alert,
        mitigation,
        // A completed rollout serves all traffic (`Engine::weight_at`), even
        // when it completes at the instant of its last weight change, before
        // any tick ran at that weight (an Argo rollout ending on `setWeight`).
        peak_weight: if outcome == Outcome::Completed { 1.0 } else { acc.peak_weight },
        candidate_requests: acc.requests,
        excess_failed,
        excess_slow: acc.slow as f64 - acc.expected_slow,
        budget_burn: excess_failed / (monthly_requests * (1.0 - h.slo_target)),
        instance_hours: acc.instance_seconds / 3600.0,
        end,
        phase_times: rec.phase_times,
        events,
    }
}
