//! The simulated fleet as a Prometheus scraping it every
//! `fleet.scrape_interval` would store it, named by the scenario's profile
//! (`fleet.metrics`): cumulative counters per series, one sample per scrape,
//! from time 0 (every series exists from the trial's start).
//!
//! The simulator draws counts per tick (`simulation.tick`, a whole number of
//! scrapes). A count is spread over the tick's scrapes only when a query reads
//! its series: each of the tick's `m` scrape intervals gets a multinomial
//! share with equal probabilities, drawn from a stream of its own per (series,
//! tick). Within a tick the rates are constant, so arrivals are a Poisson
//! process given their count, and this split is exact. Successful and failed
//! requests, and each latency bucket, are split separately (independent
//! Poisson processes), so bucket series stay cumulative in `le` at every
//! scrape and agree with the tick's counts at every tick end. Gauges hold
//! their tick's value at each of its scrapes; a tick without a value (no
//! instance of the group) has no sample.
//!
//! Not exposed: latency sums (`_sum`), cache hits and user reports.

use super::rng::{binomial, scrape_stream};
use super::store::{Store, BUCKETS_MS, CPU_MAX, CPU_MEAN, DB_MAX, DB_MEAN, MEM_MAX, MEM_MEAN, NB};
use crate::engine::{Group, Metric, MetricSource, Query, QueryError, Sample};
use crate::promql::profile::{self, Profile};
use crate::promql::{labels, Labels, Matcher, Storage, NAME};

/// A count the simulator draws per tick, spread over scrapes when read.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Raw {
    Ok(Group, usize),
    Err(Group, usize),
    Bucket(Group, usize),
    Restarts(Group),
}

impl Raw {
    /// A stable number for the stream (independent of the profile and of the order of series).
    fn key(self) -> u64 {
        let g = |g: Group| u64::from(g == Group::Stable) << 32;
        match self {
            Raw::Ok(gr, c) => (1 << 40) | g(gr) | c as u64,
            Raw::Err(gr, c) => (2 << 40) | g(gr) | c as u64,
            Raw::Bucket(gr, b) => (3 << 40) | g(gr) | b as u64,
            Raw::Restarts(gr) => (4 << 40) | g(gr),
        }
    }
}

#[derive(Debug, Clone)]
enum Src {
    /// The sum of these raw counts (a bucket sums all buckets up to its bound).
    Counter(Vec<usize>),
    Gauge(Group, usize),
}

/// The series a profile exposes, and the counts spread over scrapes so far.
#[derive(Debug, Clone)]
pub struct PromView {
    series: Vec<(Labels, Src)>,
    raws: Vec<Raw>,
    /// Per raw count: its cumulative value at each scrape index materialised so far.
    cum: Vec<Vec<u64>>,
    scrape_ms: i64,
    per_tick: usize,
    seed: u64,
    /// Unix milliseconds of the trial's time 0 (the recordings' origin).
    pub origin_ms: i64,
}

impl PromView {
    /// The series of `profile` for request classes `classes`, read from a
    /// store whose tick is `per_tick` scrapes of `scrape_ms`.
    pub fn new(profile: Profile, classes: &[String], scrape_ms: i64, per_tick: usize) -> PromView {
        let mut raws: Vec<Raw> = Vec::new();
        let mut raw = |r: Raw| {
            raws.iter().position(|x| *x == r).unwrap_or_else(|| {
                raws.push(r);
                raws.len() - 1
            })
        };
        let mut series = Vec::new();
        for g in [Group::Candidate, Group::Stable] {
            let vl = profile.version_labels(g == Group::Candidate);
            let with = |extra: &[(&str, &str)], name: &str| {
                let mut l: Vec<(&str, &str)> = vl.clone();
                l.extend_from_slice(extra);
                l.push((NAME, name));
                labels(l)
            };
            for (c, class) in classes.iter().enumerate() {
                for error in [false, true] {
                    let mut extra = profile.status_labels(error);
                    extra.push(("class", class));
                    let r = raw(if error { Raw::Err(g, c) } else { Raw::Ok(g, c) });
                    series.push((with(&extra, profile.requests()), Src::Counter(vec![r])));
                }
            }
            let hist = profile.histogram();
            let buckets: Vec<usize> = (0..NB).map(|b| raw(Raw::Bucket(g, b))).collect();
            for b in 0..NB {
                let le = profile.le(BUCKETS_MS[b]);
                series.push((with(&[("le", &le)], &format!("{hist}_bucket")), Src::Counter(buckets[..=b].to_vec())));
            }
            series.push((with(&[], &format!("{hist}_count")), Src::Counter(buckets.clone())));
            for (name, mean, max) in [
                (profile::CPU, CPU_MEAN, CPU_MAX),
                (profile::MEMORY, MEM_MEAN, MEM_MAX),
                (profile::DB_POOL, DB_MEAN, DB_MAX),
            ] {
                series.push((with(&[("stat", "mean")], name), Src::Gauge(g, mean)));
                series.push((with(&[("stat", "max")], name), Src::Gauge(g, max)));
            }
            series.push((with(&[], profile::RESTARTS), Src::Counter(vec![raw(Raw::Restarts(g))])));
        }
        let cum = vec![Vec::new(); raws.len()];
        let origin_ms = crate::io::record::RECORD_ORIGIN * 1000;
        PromView { series, raws, cum, scrape_ms, per_tick: per_tick.max(1), seed: 0, origin_ms }
    }

    /// The view of `sc`'s fleet: its profile, classes, scrape interval and tick.
    pub fn for_scenario(sc: &crate::scenario::Scenario) -> PromView {
        let classes: Vec<String> = sc.traffic.classes.iter().map(|c| c.name.clone()).collect();
        let scrape = sc.fleet.scrape_interval.0.max(1);
        let per_tick = (super::tick_of(sc).0 / scrape).max(1) as usize;
        PromView::new(sc.fleet.metrics, &classes, (scrape * 1000) as i64, per_tick)
    }

    /// Unix milliseconds of simulated time `t`.
    pub fn ms_of(&self, t: crate::time::SimTime) -> i64 {
        self.origin_ms + t.0 as i64 * 1000
    }

    /// Forgets what was materialised: the next trial (seeded `seed`) starts.
    pub fn reset(&mut self, seed: u64) {
        self.seed = seed;
        for c in &mut self.cum {
            c.clear();
        }
    }

    /// How many series the profile exposes.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// The kind of series `id` is, for OpenMetrics `# TYPE` lines.
    pub fn is_gauge(&self, id: usize) -> bool {
        matches!(self.series[id].1, Src::Gauge(..))
    }

    /// Spreads raw count `k` over the scrapes of every tick the store holds.
    fn materialise(&mut self, store: &mut Store, k: usize) {
        let m = self.per_tick;
        let last_row = store.len.saturating_sub(1);
        let cum = &mut self.cum[k];
        if cum.is_empty() {
            cum.push(0);
        }
        let done = (cum.len() - 1) / m;
        let l = store.layout;
        for row in done + 1..=last_row {
            let d = |store: &Store, g: Group, col: usize| store.counter(g, row, col) - store.counter(g, row - 1, col);
            let delta = match self.raws[k] {
                Raw::Ok(g, c) => d(store, g, l.req(c)) - d(store, g, l.err(c)),
                Raw::Err(g, c) => d(store, g, l.err(c)),
                Raw::Bucket(Group::Stable, b) => store.lazy.row(row)[b],
                Raw::Bucket(g, b) => d(store, g, l.hist(b)),
                Raw::Restarts(g) => d(store, g, l.restarts()),
            };
            let mut base = *cum.last().unwrap_or(&0);
            if m == 1 || delta == 0 {
                for j in 1..=m {
                    cum.push(base + if j == m { delta } else { 0 });
                }
                continue;
            }
            let mut rng = scrape_stream(self.seed, self.raws[k].key(), row as u64);
            let mut left = delta;
            for j in 0..m {
                let x = if j == m - 1 { left } else { binomial(&mut rng, left, 1.0 / (m - j) as f64) };
                left -= x;
                base += x;
                cum.push(base);
            }
        }
    }
}

/// A [`Storage`] over one trial's store through a [`PromView`].
pub struct FleetStorage<'a> {
    pub view: &'a mut PromView,
    pub store: &'a mut Store,
}

impl Storage for FleetStorage<'_> {
    fn select(&mut self, matchers: &[Matcher]) -> Vec<usize> {
        (0..self.view.series.len()).filter(|&i| matchers.iter().all(|m| m.matches(&self.view.series[i].0))).collect()
    }

    fn labels(&self, id: usize) -> Labels {
        self.view.series[id].0.clone()
    }

    fn points(&mut self, id: usize, mint: i64, maxt: i64, out: &mut Vec<(i64, f64)>) {
        let s = self.view.scrape_ms;
        let m = self.view.per_tick;
        let origin = self.view.origin_ms;
        let (mint, maxt) = (mint.saturating_sub(origin), maxt.saturating_sub(origin));
        let last = (self.store.len.saturating_sub(1) * m) as i64;
        let lo = if mint <= 0 { 0 } else { (mint + s - 1) / s };
        let hi = if maxt < 0 { -1 } else { (maxt / s).min(last) };
        if lo > hi {
            return;
        }
        match self.view.series[id].1.clone() {
            Src::Gauge(g, col) => {
                for i in lo.max(1)..=hi {
                    let row = (i as usize).div_ceil(m);
                    let v = self.store.gauge(g, row, col);
                    if !v.is_nan() {
                        out.push((origin + i * s, v));
                    }
                }
            }
            Src::Counter(raws) => {
                for &k in &raws {
                    self.view.materialise(self.store, k);
                }
                for i in lo..=hi {
                    let v: u64 = raws.iter().map(|&k| self.view.cum[k][i as usize]).sum();
                    out.push((origin + i * s, v as f64));
                }
            }
        }
    }
}

/// The engine's metric source when a policy has PromQL rules: `query =`
/// rules are evaluated over the trial's Prometheus view at the engine's
/// instant, every other query goes to the store.
pub struct PromSource<'a> {
    pub store: &'a mut Store,
    pub view: &'a mut PromView,
    pub rules: &'a [crate::scenario::PromRule],
}

impl MetricSource for PromSource<'_> {
    fn query(&mut self, q: &Query, now: crate::time::SimTime) -> Result<Sample, QueryError> {
        let Metric::Query(i) = q.metric else { return self.store.query(q, now) };
        let query = &self.rules[i as usize].parsed[usize::from(q.group == Group::Stable)];
        let t = self.view.ms_of(now);
        let mut st = FleetStorage { view: self.view, store: self.store };
        crate::promql::judged(crate::promql::Evaluator::new(&mut st).instant(query, t))
            .map(|v| Sample { value: v, requests: None })
            .map_err(QueryError)
    }
}
