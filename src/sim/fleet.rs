//! The fleet and traffic model: for each tick, the requests, errors, latency
//! histogram, gauges, restarts and user reports of the candidate and stable
//! groups, drawn exactly at the granularity the engine can observe.
//!
//! Exactness notes (see DESIGN.md "The simulator"):
//! * requests per (group, class, tick) are Poisson: the sum of the per-scrape,
//!   per-instance Poisson counts of identical instances. A tick draws the
//!   group's total; its split by class (a multinomial by share, which makes
//!   the classes independent Poissons) is drawn when a class is read
//!   (`lazy::ClassSplit`);
//! * errors are Binomial given requests (per group when every class fails
//!   at the same rate, split as a uniform subset when a class is read; per
//!   class otherwise; the stable group's drawn only when read, from each
//!   row's own stream); the histogram is a multinomial draw
//!   of the group's requests by conditional binomials from the top bucket
//!   down, drawn only as far as queries read it (`lazy::LazyHistogram`);
//! * a group's CPU/memory/DB-pool maximum over its instances and the tick's
//!   scrapes is one draw, Φ⁻¹(U^(1/n)); its mean is one normal draw. Each is
//!   exact in distribution; their dependence within a tick is not modelled.
//!   The tick keeps their levels; values are drawn when read (`store::LazyGauges`);
//! * leaking or crashing candidate instances are tracked one by one, since
//!   restarts and OOM kills are per pod.

use super::fault::{DrawnFault, Effect, GroupState};
use super::lazy::HistPlan;
use super::rng::{
    binomial_with, gauge_stream, normal, normal_cdf, poisson, stream, uniform, BinomialP, SimRng, Stream,
};
use super::store::{Divider, Store, BUCKETS_MS, CPU_MAX, MEM_MAX, NB, WIDTH};
use crate::engine::{Group, Metric, Policy};
use crate::scenario::Scenario;
use crate::time::{SimDur, SimTime};

const Z99: f64 = 2.326_347_874_040_841;
/// The spread of the DB pool's usage across instances and scrapes.
const DB_SPREAD: f64 = 0.02;

/// Which optional signals some rule reads: cache hits, user reports, the
/// candidate's memory. What nothing reads is not drawn; each has a stream of
/// its own, so that never shifts another. (Every other gauge is drawn when a
/// query reads it, see `store::LazyGauges`; a leaking candidate's memory
/// depends on each instance's, so it is drawn at its tick when read at all.)
#[derive(Debug, Clone, Copy, Default)]
pub struct Observed {
    pub cache: bool,
    /// User reports of each group (0 candidate).
    pub reports: [bool; 2],
    pub memory: bool,
}

impl Observed {
    pub fn of(policy: &Policy) -> Observed {
        let mut o = Observed::default();
        for q in policy.queries(true) {
            match q.metric {
                Metric::CacheHitRatio => o.cache = true,
                Metric::UserReports => o.reports[super::store::gi(q.group)] = true,
                Metric::Memory if q.group == Group::Candidate => o.memory = true,
                _ => {}
            }
        }
        o
    }

    /// What `sc`'s rules read: its policy's, and every gauge when it has PromQL rules.
    pub fn of_scenario(sc: &Scenario) -> Observed {
        let o = Observed::of(&sc.policy);
        if sc.queries.is_empty() {
            o
        } else {
            o.union(Observed::every_gauge())
        }
    }

    /// Every gauge series (traces and recordings show them all).
    pub fn every_gauge() -> Observed {
        Observed { memory: true, ..Observed::default() }
    }

    /// What either `self` or `other` reads.
    pub fn union(self, other: Observed) -> Observed {
        Observed {
            cache: self.cache || other.cache,
            reports: [self.reports[0] || other.reports[0], self.reports[1] || other.reports[1]],
            memory: self.memory || other.memory,
        }
    }
}

/// Outcome accumulators of the candidate over a trial.
#[derive(Debug, Clone, Copy, Default)]
pub struct Accum {
    pub requests: u64,
    pub errors: u64,
    pub expected_errors: f64,
    pub slow: u64,
    pub expected_slow: f64,
    pub instance_seconds: f64,
    pub peak_weight: f64,
}

/// One tick of the candidate, for traces and timelines.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TickSample {
    pub t: SimTime,
    pub weight: f64,
    pub candidate_instances: u32,
    pub candidate_requests: u64,
    pub candidate_errors: u64,
    pub stable_requests: u64,
    pub stable_errors: u64,
    pub candidate_p99_ms: Option<f64>,
    pub candidate_cpu_max: f64,
    pub candidate_mem_max: f64,
    pub candidate_restarts: u64,
}

#[derive(Debug, Clone)]
struct Instance {
    up_at: SimTime,
    /// When the current process started (memory resets on restart).
    born: SimTime,
    mem0: f64,
    next_fail: SimTime,
}

/// What a group's error probabilities derive from: the error added, its
/// factor, the class it is restricted to, and whether no candidate instance is up.
type ErrorKey = (f64, f64, Option<u8>, bool);

/// Per-worker model state; reused across trials. Cloned when policy variants
/// that shared a world part (see `sim::shared`).
#[derive(Clone)]
pub struct Fleet {
    n: u32,
    classes: Vec<f64>,
    tick: SimDur,
    per_tick: Divider,
    /// Divides by the user-report ring's length (`reports_due`).
    per_ring: Divider,
    scrapes_per_tick: u64,
    rps: f64,
    amp: f64,
    peak_hour: f64,
    start_hour: f64,
    noise: f64,
    base_error: f64,
    mu: f64,
    sigma: f64,
    cpu: f64,
    cpu_spread: f64,
    mem: f64,
    mem_spread: f64,
    db: f64,
    restart_time: SimDur,
    /// The last traffic weight asked for and its candidate instances (`candidate_instances`).
    instances_at: (u64, usize),
    slo_bucket: usize,
    p_slow_base: f64,
    observed: Observed,
    /// The error probability last used per group and class, cache hits' and reports'.
    error_bp: [Vec<BinomialP>; 2],
    /// What each group's `error_bp` were computed from (error added, factor,
    /// class, no candidate instance up), and whether all classes' are equal.
    error_key: [Option<ErrorKey>; 2],
    error_uniform: [bool; 2],
    cache_bp: BinomialP,
    report_bp: BinomialP,
    /// `rate_at` the middle of each tick from the start, as far as trials
    /// have gone (the same for every trial: computed once per worker).
    rates: Vec<f64>,
    /// How healthy rows' histograms are drawn (every trial starts healthy).
    healthy_plan: HistPlan,
    // Per-trial state.
    /// The latency state of each group's histogram rows.
    latency_state: [GroupState; 2],
    instances: Vec<Instance>,
    active: usize,
    reports_due: [Vec<u64>; 2],
    /// Each group's counter increments this tick (an array: no call to clear it).
    delta: [[u64; WIDTH]; 2],
    /// Streams of the optional signals (see `rng::Stream`).
    report_rng: SimRng,
}

impl Fleet {
    pub fn new(sc: &Scenario, tick: SimDur) -> Fleet {
        let h = &sc.health;
        let tr = &sc.traffic;
        let mu = h.latency_p50_ms.ln();
        let sigma = (h.latency_p99_ms / h.latency_p50_ms).ln() / Z99;
        // Requests slower than the SLO latency: buckets whose lower bound is at or above it.
        let slo_bucket = (1..NB).find(|&b| BUCKETS_MS[b - 1] >= h.slo_latency_ms).unwrap_or(NB - 1);
        let p_slow_base = 1.0 - normal_cdf((BUCKETS_MS[slo_bucket - 1].ln() - mu) / sigma);
        let delay_ticks = (h.user_report_delay.0 / tick.0.max(1)) as usize;
        let mut f = Fleet {
            n: sc.fleet.instances,
            classes: tr.classes.iter().map(|c| c.share).collect(),
            tick,
            per_tick: Divider::new(tick.0),
            per_ring: Divider::new(delay_ticks as u64 + 1),
            scrapes_per_tick: (tick.0 / sc.fleet.scrape_interval.0.max(1)).max(1),
            rps: tr.requests_per_second,
            amp: tr.diurnal_amplitude,
            peak_hour: tr.peak_hour,
            start_hour: tr.start_hour,
            noise: tr.noise,
            base_error: h.error_rate,
            mu,
            sigma,
            cpu: h.cpu,
            cpu_spread: h.cpu_spread,
            mem: h.memory,
            mem_spread: h.memory_spread,
            db: h.db_pool,
            restart_time: sc.fleet.restart_time,
            instances_at: (f64::NAN.to_bits(), 0),
            slo_bucket,
            p_slow_base,
            observed: Observed::of_scenario(sc),
            rates: Vec::new(),
            healthy_plan: HistPlan::new(|_| 0.0),
            error_bp: [vec![BinomialP::new(0.0); tr.classes.len()], vec![BinomialP::new(0.0); tr.classes.len()]],
            error_key: [None; 2],
            error_uniform: [true; 2],
            cache_bp: BinomialP::new(h.cache_hit_ratio),
            report_bp: BinomialP::new(h.user_report_probability),
            latency_state: [GroupState::HEALTHY; 2],
            instances: Vec::with_capacity(sc.fleet.instances as usize),
            active: 0,
            reports_due: [vec![0; delay_ticks + 1], vec![0; delay_ticks + 1]],
            delta: [[0; WIDTH]; 2],
            report_rng: stream(0, Stream::Reports),
        };
        f.healthy_plan = f.hist_plan(&GroupState::HEALTHY);
        f
    }

    /// Draws the optional signals `o` names as well (for policy variants that
    /// share one world: each draws from its own stream, so drawing one more
    /// never shifts another series).
    pub fn observe(&mut self, o: Observed) {
        self.observed = self.observed.union(o);
    }

    /// Starts a new trial whose lazily drawn rows derive from `seed`.
    pub fn reset_for(&mut self, store: &mut Store, seed: u64) {
        self.reset();
        self.latency_state = [GroupState::HEALTHY; 2];
        for (g, hist) in store.hist.iter_mut().enumerate() {
            hist.reset(seed, g, self.healthy_plan);
        }
        for (g, split) in store.classes.iter_mut().enumerate() {
            split.reset(seed, g, &self.classes);
        }
        store.cache.reset(seed, self.observed.cache.then_some(self.cache_bp));
        store.gauges.reset(seed, [self.cpu_spread, self.mem_spread, DB_SPREAD]);
        // The candidate's errors feed the outcome every tick; the stable group's are drawn when read.
        store.lazy_errors = [false, true];
        self.report_rng = stream(seed, Stream::Reports);
    }

    /// Starts a new trial.
    pub fn reset(&mut self) {
        self.instances.clear();
        self.active = 0;
        for r in &mut self.reports_due {
            r.fill(0);
        }
    }

    /// The candidate's instances at traffic weight `weight`: ⌈weight · n⌉, at
    /// least one while it has traffic; kept for the last weight, which changes
    /// only at a shift (a ceiling is a library call on baseline x86-64).
    fn candidate_instances(&mut self, weight: f64) -> usize {
        if self.instances_at.0 != weight.to_bits() {
            let n_c = if weight > 0.0 { ((weight * self.n as f64) - 1e-9).ceil().max(1.0) as usize } else { 0 };
            self.instances_at = (weight.to_bits(), n_c.min(self.n as usize));
        }
        self.instances_at.1
    }

    /// Mean request rate (per second) at `t`, before noise.
    pub fn rate_at(&self, t: SimTime) -> f64 {
        let hour = (self.start_hour + t.0 as f64 / 3600.0) % 24.0;
        let phase = 2.0 * std::f64::consts::PI * (hour - self.peak_hour) / 24.0;
        self.rps * (1.0 + self.amp * phase.cos())
    }

    /// `rate_at` the middle of the tick starting at `t0`.
    fn rate_of_tick(&mut self, t0: SimTime) -> f64 {
        let i = self.per_tick.div(t0.0) as usize;
        while self.rates.len() <= i {
            let start = SimTime(self.rates.len() as u64 * self.tick.0);
            self.rates.push(self.rate_at(start + SimDur(self.tick.0 / 2)));
        }
        self.rates[i]
    }

    /// P(latency > `b` ms) in state `s` (the survival function, computed as
    /// upper tails so that the small probabilities of high buckets keep their digits).
    fn latency_sf(&self, s: &GroupState, b: f64) -> f64 {
        let main = if b <= s.latency_shift_ms {
            1.0
        } else {
            normal_cdf(-((((b - s.latency_shift_ms) / s.latency_scale).ln() - self.mu) / self.sigma))
        };
        if s.slow_share > 0.0 {
            let slow = normal_cdf(-((b / s.slow_ms).ln()) / self.sigma);
            (1.0 - s.slow_share) * main + s.slow_share * slow
        } else {
            main
        }
    }

    /// How histogram rows in latency state `s` are drawn.
    fn hist_plan(&self, s: &GroupState) -> HistPlan {
        HistPlan::new(|k| self.latency_sf(s, BUCKETS_MS[k]))
    }

    fn ensure_instances(&mut self, want: usize, t: SimTime, fault: &DrawnFault, rng: &mut SimRng) {
        while self.instances.len() < want {
            self.instances.push(Instance { up_at: t, born: t, mem0: 0.0, next_fail: SimTime::NEVER });
        }
        for i in self.active..want {
            self.start_process(i, t, fault, rng);
        }
        self.active = want;
    }

    fn start_process(&mut self, i: usize, t: SimTime, fault: &DrawnFault, rng: &mut SimRng) {
        let mem0 = (self.mem + self.mem_spread * normal(rng)).clamp(0.0, 0.99);
        let from = t.max(fault.onset);
        let next_fail = match fault.effect {
            Effect::Leak { per_hour } if per_hour > 0.0 => {
                from + SimDur(((1.0 - mem0) / per_hour * 3600.0).ceil() as u64)
            }
            Effect::Crash { per_hour } if per_hour > 0.0 => {
                let u = uniform(rng).max(f64::MIN_POSITIVE);
                from + SimDur((-u.ln() / per_hour * 3600.0).ceil() as u64)
            }
            _ => SimTime::NEVER,
        };
        self.instances[i] = Instance { up_at: t, born: t, mem0, next_fail };
    }

    /// Generates the tick `(t0, t0 + tick]` at candidate weight `weight` and appends it to `store`.
    #[allow(clippy::too_many_arguments)]
    pub fn tick(
        &mut self,
        t0: SimTime,
        weight: f64,
        fault: &DrawnFault,
        rng: &mut SimRng,
        store: &mut Store,
        acc: &mut Accum,
        trace: Option<&mut Vec<TickSample>>,
    ) {
        let t1 = t0 + self.tick;
        let dt = self.tick.as_secs_f64();
        let row = store.len;
        let per_instance = matches!(fault.effect, Effect::Leak { .. } | Effect::Crash { .. });
        let n_c = self.candidate_instances(weight);
        let n_s = self.n as usize - n_c;

        // Candidate instances: restarts and availability.
        let mut restarts = 0u64;
        let mut avail_c = n_c as f64;
        if per_instance {
            if n_c < self.active {
                self.active = n_c;
            }
            self.ensure_instances(n_c, t0, fault, rng);
            avail_c = 0.0;
            for i in 0..n_c {
                while self.instances[i].next_fail <= t1 {
                    let fail = self.instances[i].next_fail;
                    restarts += 1;
                    let up = fail + self.restart_time;
                    self.start_process(i, up, fault, rng);
                }
                let inst = &self.instances[i];
                let up_from = inst.up_at.max(t0);
                avail_c += if up_from >= t1 { 0.0 } else { t1.since(up_from).as_secs_f64() / dt };
            }
        }

        // Traffic.
        let z = normal(rng);
        let noise = (self.noise * z - 0.5 * self.noise * self.noise).exp();
        let lambda = self.rate_of_tick(t0) * noise * dt;
        let mean_per_instance = self.rps * dt / self.n as f64;

        let mut sample = TickSample {
            t: t1,
            weight,
            candidate_instances: n_c as u32,
            candidate_requests: 0,
            candidate_errors: 0,
            stable_requests: 0,
            stable_errors: 0,
            candidate_p99_ms: None,
            candidate_cpu_max: f64::NAN,
            candidate_mem_max: f64::NAN,
            candidate_restarts: restarts,
        };
        let layout = store.layout;
        for g in 0..2 {
            let candidate = g == 0;
            let share = if candidate { weight } else { 1.0 - weight };
            let instances = if candidate { n_c } else { n_s };
            let avail = if candidate { avail_c } else { n_s as f64 };
            let state = fault.state(t0, candidate, weight);
            if !self.latency_state[g].same_latency(&state) {
                self.latency_state[g] = state;
                store.hist[g].set_state(self.hist_plan(&state));
            }
            let d = &mut self.delta[g];
            *d = [0; WIDTH];
            // Requests and errors: the group's, split by class when a query
            // reads a class (or at once when the classes' error rates differ).
            let mut total = 0u64;
            let mut errors = 0u64;
            if share > 0.0 {
                // The classes' error probabilities change only with what they derive from.
                let down = candidate && avail <= 0.0;
                let key = (state.error_added, state.error_factor, state.error_class, down);
                if self.error_key[g] != Some(key) {
                    let mut uniform = true;
                    for c in 0..self.classes.len() {
                        let p = if down { 1.0 } else { state.error_p(c as u8, self.base_error) };
                        let bp = &mut self.error_bp[g][c];
                        if bp.p() != p {
                            *bp = BinomialP::new(p);
                        }
                        uniform &= p == self.error_bp[g][0].p();
                    }
                    self.error_key[g] = Some(key);
                    self.error_uniform[g] = uniform;
                }
                let uniform = self.error_uniform[g];
                total = poisson(rng, lambda * share);
                let bps = &self.error_bp[g];
                errors = if uniform && store.lazy_errors[g] {
                    // Drawn when read, from the row's own stream (the same
                    // values whenever drawn): the stable group's (`reset_for`).
                    store.classes[g].record_lazy(row, total, &bps[0]);
                    if self.observed.reports[g] || trace.is_some() {
                        store.classes[g].errors(row)
                    } else {
                        0
                    }
                } else if uniform {
                    let e = binomial_with(rng, total, &bps[0]);
                    store.classes[g].record(row, total, e);
                    e
                } else {
                    store.classes[g].record_split(row, total, |c, n| binomial_with(rng, n, &bps[c]))
                };
            } else {
                store.classes[g].record(row, 0, 0);
            }
            d[layout.requests()] = total;
            // Errors drawn on demand are counted from their rows instead (`Store::lazy_errors`).
            d[layout.errors()] = if store.lazy_errors[g] { 0 } else { errors };
            // Latency histogram: recording draws nothing; queries draw as far as they read.
            store.hist[g].record(row, total);
            // User reports: failures now, reported after the delay.
            if self.observed.reports[g] {
                // A ring of delay + 1 slots: a report due `delay` ticks on
                // lands in the slot just before this tick's.
                let ring = &mut self.reports_due[g];
                let len = ring.len();
                let now_slot = self.per_ring.rem(row as u64) as usize;
                d[layout.reports()] = ring[now_slot];
                ring[now_slot] = 0;
                if errors > 0 {
                    let later = binomial_with(&mut self.report_rng, errors, &self.report_bp);
                    ring[if now_slot == 0 { len - 1 } else { now_slot - 1 }] += later;
                }
            }
            if candidate {
                d[layout.restarts()] = restarts;
            }
            // Gauges: their levels now, values drawn when read (see `store::LazyGauges`).
            if instances == 0 || avail <= 0.0 {
                store.gauges.plan(g, row, [f64::NAN; 3], 0);
            } else {
                let load = (lambda * share / avail) / mean_per_instance;
                let draws = self.scrapes_per_tick * instances as u64;
                let cpu = (self.cpu * load * state.cpu_factor + state.cpu_added).min(1.0);
                let db = (self.db * load).min(1.0);
                let leaking = candidate && matches!(fault.effect, Effect::Leak { .. }) && t1 > fault.onset;
                let mem = if leaking { f64::NAN } else { self.mem };
                let seed = store.gauges.seed();
                let gauge = store.gauges.plan(g, row, [cpu, mem, db], draws);
                if let (true, Effect::Leak { per_hour }) = (leaking, fault.effect) {
                    // Each instance's memory grows from its own start: the
                    // maximum is over instances at different levels, drawn
                    // now (from the row's stream) if a rule reads memory.
                    if self.observed.memory {
                        let mut rng = gauge_stream(seed, g, MEM_MAX, row as u64);
                        let mut mem_levels_sum = 0.0;
                        let mut mem_max = f64::NEG_INFINITY;
                        for inst in &self.instances[..n_c] {
                            let since = t1.since(inst.born.max(fault.onset)).as_secs_f64() / 3600.0;
                            let level = (inst.mem0 + per_hour * since).min(1.0);
                            mem_levels_sum += level;
                            let mut zmax = f64::NEG_INFINITY;
                            for _ in 0..self.scrapes_per_tick {
                                zmax = zmax.max(normal(&mut rng));
                            }
                            mem_max = mem_max.max(level + self.mem_spread * zmax);
                        }
                        gauge.level[1] = mem_levels_sum / n_c as f64;
                        gauge.set(MEM_MAX, mem_max.clamp(0.0, 1.0));
                    }
                }
            }
            if candidate {
                let slow = store.hist[0].above(row, self.slo_bucket);
                acc.requests += total;
                acc.errors += errors;
                acc.expected_errors += total as f64 * self.base_error;
                acc.slow += slow;
                acc.expected_slow += total as f64 * self.p_slow_base;
                acc.instance_seconds += n_c as f64 * dt;
                if n_c > 0 {
                    acc.peak_weight = acc.peak_weight.max(weight);
                }
                sample.candidate_requests = total;
                sample.candidate_errors = errors;
                if trace.is_some() {
                    sample.candidate_p99_ms = store.hist[0].quantile(0.99, row - 1, row);
                }
            } else {
                sample.stable_requests = total;
                sample.stable_errors = errors;
            }
        }
        store.push([&self.delta[0], &self.delta[1]]);
        if let Some(tr) = trace {
            sample.candidate_cpu_max = store.gauge(Group::Candidate, row, CPU_MAX);
            sample.candidate_mem_max = store.gauge(Group::Candidate, row, MEM_MAX);
            tr.push(sample);
        }
    }
}
