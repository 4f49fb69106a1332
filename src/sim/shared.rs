//! Policy variants judged against one simulated world: sweeps and paired
//! compares simulate each trial's world once and step every variant's engine
//! against it while their traffic weights agree.
//!
//! A trial's world (fault, traffic, requests, gauges) is a function of the
//! scenario without its policy, the seed and the trial index, plus the
//! candidate's weight at each tick: the only thing a policy feeds back into the
//! world. So variants whose engines asked for the same weight so far have seen
//! the same draws. At a tick where their weights differ, the world forks: each
//! distinct weight continues on a copy of the state (series, generators,
//! instances, accumulators) as it was, so every variant's record is the one a
//! run of that variant alone gives, byte for byte (tested in `tests/sweep.rs`).
//!
//! Variants share a world only when [`same_world`] holds; the runner runs the
//! others alone.

use super::fleet::{Accum, Fleet, Observed};
use super::prom::{PromSource, PromView};
use super::queue::{Event, Queue};
use super::rng::{stream, trial_seed, SimRng, Stream};
use super::store::Store;
use super::{finish, Model, Outcome, Recorder, TrialRecord};
use crate::engine::{Answer, Cmp, Compared, Engine, MetricSource, Policy, Query, QueryError, Sample, Status};
use crate::time::{SimDur, SimTime};
use std::sync::Arc;

/// True when `a` and `b` simulate the same world: their scenarios differ at
/// most in the policy (and in name and description, which nothing simulated
/// reads), and the policy's deploy time (which places fault onsets) is the same.
pub fn same_world(a: &Model, b: &Model) -> bool {
    if a.tick != b.tick || a.deploy != b.deploy || a.max_ticks != b.max_ticks {
        return false;
    }
    let mut b_sc = b.scenario.clone();
    b_sc.policy = Arc::clone(&a.scenario.policy);
    b_sc.name.clone_from(&a.scenario.name);
    b_sc.description.clone_from(&a.scenario.description);
    b_sc == *a.scenario
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    #[test]
    fn a_world_is_everything_but_the_policy_and_the_names() {
        let seed = Scenario::seed();
        let edit = |from: &str, to: &str| {
            let text = crate::scenario::SEED_TOML.replacen(from, to, 1);
            assert_ne!(text, crate::scenario::SEED_TOML, "{from} is in the seed");
            Scenario::from_toml(&text, "edited").unwrap()
        };
        let same = |other: &Scenario| same_world(&Model::new(&seed), &Model::new(other));
        assert!(same(&seed));
        assert!(same(&edit("name = \"seed-canary\"", "name = \"renamed\"")));
        assert!(same(&edit("limit = \"1%\"", "limit = \"3%\"")));
        assert!(!same(&edit("requests_per_second = 300", "requests_per_second = 301")));
        assert!(!same(&edit("weight = 40", "weight = 41")));
        // The first deploy step places fault onsets: moving it moves the world.
        assert!(!same(&edit("at = \"5m\"\naction = \"deploy\"", "at = \"6m\"\naction = \"deploy\"")));
    }
}

/// The state of one world line: everything a tick reads or writes.
#[derive(Clone)]
struct Branch {
    fleet: Fleet,
    rng: SimRng,
    store: Store,
    prom: Option<PromView>,
    acc: Accum,
    /// Answers given since the line's last tick (see [`Memo`]).
    memo: Memo,
    /// Indices of the variants on this line, in variant order.
    members: Vec<usize>,
}

/// The answers a line's series gave since its last tick. Every variant on a
/// line reads the same series, and between ticks they do not change (rows
/// drawn lazily are drawn from their own streams, whichever query comes
/// first), so an answer to (query, time) is the same for every engine that asks.
#[derive(Clone, Default)]
struct Memo {
    samples: Vec<(Query, SimTime, Result<Sample, QueryError>)>,
    answers: Vec<(Query, SimTime, Result<Answer, QueryError>)>,
    /// Comparisons, by (query, time, comparison, the limit's bits).
    compared: Vec<Comparison>,
}

type Comparison = (Query, SimTime, Cmp, u64, Result<Compared, QueryError>);

impl Memo {
    fn clear(&mut self) {
        self.samples.clear();
        self.answers.clear();
        self.compared.clear();
    }
}

/// A line's metric source with its [`Memo`], for one engine's step.
struct Memoized<'a, S: MetricSource + ?Sized> {
    source: &'a mut S,
    memo: &'a mut Memo,
    /// Where in `memo.compared` this engine's next comparison likely is:
    /// engines of a line evaluate their rules in the same order.
    next: usize,
}

impl<S: MetricSource + ?Sized> MetricSource for Memoized<'_, S> {
    fn query(&mut self, query: &Query, now: SimTime) -> Result<Sample, QueryError> {
        if let Some((_, _, r)) = self.memo.samples.iter().find(|(q, t, _)| q == query && *t == now) {
            return r.clone();
        }
        let r = self.source.query(query, now);
        self.memo.samples.push((*query, now, r.clone()));
        r
    }

    fn query_answer(&mut self, query: &Query, now: SimTime) -> Result<Answer, QueryError> {
        if let Some((_, _, r)) = self.memo.answers.iter().find(|(q, t, _)| q == query && *t == now) {
            return r.clone();
        }
        let r = self.source.query_answer(query, now);
        self.memo.answers.push((*query, now, r.clone()));
        r
    }

    /// As another engine's same comparison, else from a value another engine
    /// asked for, else from the source.
    fn compare(&mut self, query: &Query, now: SimTime, cmp: Cmp, limit: f64) -> Result<Compared, QueryError> {
        // The cheapest test first: rules mostly differ in their limits.
        let bits = limit.to_bits();
        let same = |(q, t, c, l, _): &Comparison| *l == bits && *c == cmp && *t == now && q == query;
        let found = match self.memo.compared.get(self.next) {
            Some(e) if same(e) => Some(self.next),
            _ => self.memo.compared.iter().position(same),
        };
        if let Some(i) = found {
            self.next = i + 1;
            return self.memo.compared[i].4.clone();
        }
        if let Some((_, _, r)) = self.memo.samples.iter().find(|(q, t, _)| *t == now && q == query) {
            return Ok(r.clone()?.compared(cmp, limit));
        }
        let r = self.source.compare(query, now, cmp, limit);
        self.memo.compared.push((*query, now, cmp, bits, r.clone()));
        self.next = self.memo.compared.len();
        r
    }
}

/// One variant's engine and its own wake-up queue within a trial.
struct Var {
    engine: Engine,
    rec: Recorder<'static>,
    queue: Queue,
    events: u64,
    scheduled_wake: Option<SimTime>,
    /// Set when the variant's trial has ended: outcome, end, and its accumulators then.
    done: Option<(Outcome, SimTime, Accum)>,
}

/// Per-worker scratch for trials shared by several variants.
pub struct SharedWorker {
    proto: Branch,
    /// Lines no longer in use, kept for their buffers (a trial's first line reuses one).
    spare: Vec<Branch>,
    /// Each model's policy, copied for this worker (see `super::worker_policy`).
    policies: Vec<Arc<Policy>>,
}

impl SharedWorker {
    /// Scratch for `models`, which must all be [`same_world`] as the first.
    pub fn new(models: &[Model]) -> SharedWorker {
        let m0 = &models[0];
        let sc = m0.scenario;
        let mut fleet = Fleet::new(sc, m0.tick);
        for m in &models[1..] {
            fleet.observe(Observed::of(&m.scenario.policy));
        }
        let proto = Branch {
            fleet,
            rng: stream(0, Stream::Fleet),
            store: Store::new(sc.traffic.classes.len(), m0.tick, m0.max_ticks),
            prom: (!sc.queries.is_empty()).then(|| PromView::for_scenario(sc)),
            acc: Accum::default(),
            memo: Memo::default(),
            members: Vec::new(),
        };
        let policies = models.iter().map(|m| super::worker_policy(m.scenario)).collect();
        SharedWorker { proto, spare: Vec::new(), policies }
    }

    fn take(&mut self) -> Branch {
        self.spare.pop().unwrap_or_else(|| self.proto.clone())
    }
}

/// Runs trial `k` under master seed `master` for every model (all
/// [`same_world`] as the first); the records are in model order, each equal to
/// what [`super::run_trial`] gives for that model alone.
pub fn run_trial_shared(models: &[Model], worker: &mut SharedWorker, master: u64, k: u64) -> Vec<TrialRecord> {
    let m0 = &models[0];
    let sc0 = m0.scenario;
    let tick = m0.tick;
    let seed = trial_seed(master, k);
    let mut fault_rng = stream(seed, Stream::Fault);
    let fault = super::fault::DrawnFault::draw(sc0, m0.deploy, tick, &mut fault_rng);

    let mut first = worker.take();
    first.store.reset();
    first.fleet.reset_for(&mut first.store, seed);
    if let Some(view) = first.prom.as_mut() {
        view.reset(seed);
    }
    first.rng = stream(seed, Stream::Fleet);
    first.acc = Accum::default();
    first.memo.clear();
    first.members.clear();
    first.members.extend(0..models.len());

    let mut vars: Vec<Var> = models
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let mut rec = Recorder {
                rollback: None,
                rollback_complete: None,
                first_alert: None,
                phase_times: vec![None; m.scenario.policy.phases.len()],
                phase: 0,
                trace: None,
            };
            let engine = Engine::start(Arc::clone(&worker.policies[i]), &mut rec);
            let mut queue = Queue::default();
            let scheduled_wake = engine.next_wakeup();
            if let Some(w) = scheduled_wake {
                queue.push(w, Event::EngineWake);
            }
            queue.push(fault.onset, Event::FaultOnset);
            Var { engine, rec, queue, events: 0, scheduled_wake, done: None }
        })
        .collect();

    let limit = SimTime::ZERO + sc0.simulation.time_limit;
    let max_events = sc0.simulation.max_events;
    let mut branches = vec![first];
    let mut t = SimTime::ZERO + tick;
    let mut weights: Vec<(u64, Vec<usize>)> = Vec::new();
    while !branches.is_empty() {
        // Each variant's own events before the tick at `t` (the same order as
        // alone: at equal times a tick comes first).
        for b in &mut branches {
            for &v in &b.members {
                let var = &mut vars[v];
                let sc = models[v].scenario;
                while let Some((et, ev)) = var.queue.peek() {
                    if et >= t {
                        break;
                    }
                    var.queue.pop();
                    if et > limit {
                        var.done = Some((Outcome::HeldAtTimeLimit, limit, b.acc));
                        break;
                    }
                    var.events += 1;
                    if var.events > max_events {
                        var.done = Some((Outcome::EventCap, et, b.acc));
                        break;
                    }
                    // Stale wake-ups skipped as in `run_trial`: `scheduled_wake` is the engine's `next_wakeup`.
                    if ev != Event::EngineWake || var.scheduled_wake != Some(et) {
                        continue;
                    }
                    match b.prom.as_mut() {
                        Some(view) => var.engine.step(
                            et,
                            &mut Memoized {
                                source: &mut PromSource { store: &mut b.store, view, rules: &sc.queries },
                                memo: &mut b.memo,
                                next: 0,
                            },
                            &mut var.rec,
                        ),
                        None => {
                            let source = &mut Memoized { source: &mut b.store, memo: &mut b.memo, next: 0 };
                            var.engine.step(et, source, &mut var.rec)
                        }
                    }
                    match var.engine.status() {
                        Status::Completed => {
                            var.done = Some((Outcome::Completed, et, b.acc));
                            break;
                        }
                        Status::RolledBack => {
                            var.done = Some((Outcome::RolledBack, et, b.acc));
                            break;
                        }
                        _ => {}
                    }
                    let next = var.engine.next_wakeup();
                    if next != var.scheduled_wake || next == Some(et) {
                        if let Some(n) = next {
                            var.queue.push(n, Event::EngineWake);
                        }
                        var.scheduled_wake = next;
                    }
                }
            }
        }
        // The tick at `t`, as each variant's loop would pop it.
        for b in &mut branches {
            for &v in &b.members {
                let var = &mut vars[v];
                if var.done.is_some() {
                    continue;
                }
                if t > limit {
                    var.done = Some((Outcome::HeldAtTimeLimit, limit, b.acc));
                    continue;
                }
                var.events += 1;
                if var.events > max_events {
                    var.done = Some((Outcome::EventCap, t, b.acc));
                } else if b.store.len > b.store.capacity() {
                    var.done = Some((Outcome::HeldAtTimeLimit, limit, b.acc));
                }
            }
            b.members.retain(|&v| vars[v].done.is_none());
        }
        let mut i = 0;
        while i < branches.len() {
            if branches[i].members.is_empty() {
                let b = branches.swap_remove(i);
                worker.spare.push(b);
            } else {
                i += 1;
            }
        }
        // Fork a line whose variants ask for different weights, then draw each line's tick.
        let t0 = SimTime(t.0 - tick.0);
        let mid = t0 + SimDur(tick.0 / 2);
        let lines = branches.len();
        for bi in 0..lines {
            let weight_of = |v: &usize| vars[*v].engine.weight_at(mid).to_bits();
            let members = &branches[bi].members;
            let first = weight_of(&members[0]);
            if members.iter().all(|v| weight_of(v) == first) {
                continue; // the usual case: nothing parts, nothing is allocated
            }
            weights.clear();
            for &v in members {
                let w = weight_of(&v);
                match weights.iter_mut().find(|(x, _)| *x == w) {
                    Some((_, vs)) => vs.push(v),
                    None => weights.push((w, vec![v])),
                }
            }
            for (_, vs) in weights.drain(..).skip(1) {
                // A copy of the line as it is: taking a spare first would only discard its buffers.
                let mut fork = branches[bi].clone();
                branches[bi].members.retain(|v| !vs.contains(v));
                fork.members = vs;
                branches.push(fork);
            }
        }
        for b in &mut branches {
            let weight = vars[b.members[0]].engine.weight_at(mid);
            b.fleet.tick(t0, weight, &fault, &mut b.rng, &mut b.store, &mut b.acc, None);
            b.memo.clear();
        }
        t += tick;
    }

    vars.into_iter()
        .zip(models)
        .map(|(var, m)| {
            let (outcome, end, acc) = var.done.expect("every variant's trial ends before its line is dropped");
            finish(m.scenario, k, seed, &fault, var.rec, &acc, outcome, end, var.events)
        })
        .collect()
}
