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
use super::store::{gi, Store, BUCKETS_MS, CPU_MAX, CPU_MEAN, DB_MAX, DB_MEAN, MEM_MAX, MEM_MEAN, NB};
use crate::engine::{Group, Metric, MetricSource, Query, QueryError, Sample};
use crate::promql::profile::{self, Profile};
use crate::promql::{labels, CounterSpan, Labels, Selector, Storage, NAME};

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

/// The series a profile exposes, and what was drawn of the stable group's
/// lazily drawn latency rows (their running sums).
#[derive(Debug, Clone)]
pub struct PromView {
    series: Vec<(Labels, Src)>,
    raws: Vec<Raw>,
    scrape_ms: i64,
    per_tick: usize,
    seed: u64,
    /// Unix milliseconds of the trial's time 0 (the recordings' origin).
    pub origin_ms: i64,
    /// The last increase computed per raw count: (from, to, rows held, value).
    /// A histogram's buckets share their lower buckets' counts.
    memo: Vec<(i64, i64, usize, u64)>,
    /// Each series' labels without `__name__`, ready for function results.
    nameless: Vec<Labels>,
    /// Series by metric name, and all of them.
    by_name: Vec<(String, Vec<usize>)>,
    all: Vec<usize>,
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
        let origin_ms = crate::io::record::RECORD_ORIGIN * 1000;
        let mut by_name: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, (l, _)) in series.iter().enumerate() {
            let n = crate::promql::label(l, NAME);
            match by_name.iter_mut().find(|(name, _)| name == n) {
                Some((_, ids)) => ids.push(i),
                None => by_name.push((n.to_string(), vec![i])),
            }
        }
        let all = (0..series.len()).collect();
        let nameless = series
            .iter()
            .map(|(l, _)| l.iter().filter(|(k, _)| k != NAME).cloned().collect::<Vec<_>>().into())
            .collect();
        PromView {
            series,
            raws,
            scrape_ms,
            per_tick: per_tick.max(1),
            seed: 0,
            origin_ms,
            memo: Vec::new(),
            nameless,
            by_name,
            all,
        }
    }

    /// The view of `sc`'s fleet: its profile, classes, scrape interval and tick.
    pub fn for_scenario(sc: &crate::scenario::Scenario) -> PromView {
        PromView::with_tick(sc, super::tick_of(sc))
    }

    /// The view of `sc`'s fleet over a store whose tick is `tick` (a recorded trial's own).
    pub fn with_tick(sc: &crate::scenario::Scenario, tick: crate::time::SimDur) -> PromView {
        let classes: Vec<String> = sc.traffic.classes.iter().map(|c| c.name.clone()).collect();
        let scrape = sc.fleet.scrape_interval.0.max(1);
        let per_tick = (tick.0 / scrape).max(1) as usize;
        PromView::new(sc.fleet.metrics, &classes, (scrape * 1000) as i64, per_tick)
    }

    /// Unix milliseconds of simulated time `t`.
    pub fn ms_of(&self, t: crate::time::SimTime) -> i64 {
        self.origin_ms + t.0 as i64 * 1000
    }

    /// Forgets what was drawn: the next trial (seeded `seed`) starts.
    pub fn reset(&mut self, seed: u64) {
        self.seed = seed;
        self.memo.clear();
        self.memo.resize(self.raws.len(), (0, -1, 0, 0));
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
}

/// A [`Storage`] over one trial's store through a [`PromView`].
///
/// Scrape `i` (at `i × scrape`) lies in tick row `ceil(i / m)` at position
/// `j = i − (row − 1) m` (1..=m; scrape 0 is the end of row 0). A raw count's
/// value there is its total through the row minus what the row's last
/// `m − j` scrape intervals got of the row's count: so a value on a tick end
/// needs no draw, and an increase over whole ticks is a difference of the
/// simulator's own counters.
pub struct FleetStorage<'a> {
    pub view: &'a mut PromView,
    pub store: &'a mut Store,
}

impl FleetStorage<'_> {
    fn row_of(&self, i: i64) -> (usize, usize) {
        let m = self.view.per_tick as i64;
        if i <= 0 {
            return (0, m as usize);
        }
        let row = (i + m - 1) / m;
        (row as usize, (i - (row - 1) * m) as usize)
    }

    /// Raw count `k` drawn in row `row`.
    fn delta(&mut self, k: usize, row: usize) -> u64 {
        if row == 0 {
            return 0;
        }
        let l = self.store.layout;
        let st = &mut *self.store;
        let d = |st: &Store, g: Group, col: usize| st.counter(g, row, col) - st.counter(g, row - 1, col);
        match self.view.raws[k] {
            Raw::Ok(g, c) => {
                let (req, err) = st.classes[gi(g)].class(row, c);
                req - err
            }
            Raw::Err(g, c) => st.classes[gi(g)].class(row, c).1,
            Raw::Bucket(g, b) => st.hist[gi(g)].bucket(row, b),
            Raw::Restarts(g) => d(st, g, l.restarts()),
        }
    }

    /// Raw count `k` in total through row `row`.
    fn through(&mut self, k: usize, row: usize) -> u64 {
        let st = &mut *self.store;
        let l = st.layout;
        match self.view.raws[k] {
            Raw::Ok(g, c) => {
                let (req, err) = st.classes[gi(g)].through(c, row);
                req - err
            }
            Raw::Err(g, c) => st.classes[gi(g)].through(c, row).1,
            Raw::Bucket(g, b) => st.hist[gi(g)].through(row, b),
            Raw::Restarts(g) => st.counter(g, row, l.restarts()),
        }
    }

    /// Raw count `k` summed over rows `(from, to]`.
    fn between(&mut self, k: usize, from: usize, to: usize) -> u64 {
        match self.view.raws[k] {
            // Only the rows in between are drawn.
            Raw::Bucket(g, b) => (from + 1..=to).map(|r| self.store.hist[gi(g)].bucket(r, b)).sum(),
            _ => self.through(k, to) - self.through(k, from),
        }
    }

    /// What the last `m − j` scrape intervals of row `row` got of its count
    /// `delta`: a multinomial split with equal shares, from the row's own stream.
    fn rest(&self, k: usize, row: usize, j: usize, delta: u64) -> u64 {
        let m = self.view.per_tick;
        if j >= m || delta == 0 {
            return 0;
        }
        let mut rng = scrape_stream(self.view.seed, self.view.raws[k].key(), row as u64);
        let mut left = delta;
        for part in 0..j {
            left -= binomial(&mut rng, left, 1.0 / (m - part) as f64);
        }
        left
    }

    /// Raw count `k` at scrape `i`.
    fn raw_value(&mut self, k: usize, i: i64) -> u64 {
        let (row, j) = self.row_of(i);
        let d = if j < self.view.per_tick { self.delta(k, row) } else { 0 };
        self.through(k, row) - self.rest(k, row, j, d)
    }

    /// Raw count `k` from scrape `a` to scrape `b` (a ≤ b).
    fn raw_increase(&mut self, k: usize, a: i64, b: i64) -> u64 {
        let len = self.store.len;
        if let Some(&(ma, mb, ml, v)) = self.view.memo.get(k) {
            if (ma, mb, ml) == (a, b, len) {
                return v;
            }
        }
        let v = self.raw_increase_uncached(k, a, b);
        if let Some(m) = self.view.memo.get_mut(k) {
            *m = (a, b, len, v);
        }
        v
    }

    fn raw_increase_uncached(&mut self, k: usize, a: i64, b: i64) -> u64 {
        let ((ra, ja), (rb, jb)) = (self.row_of(a), self.row_of(b));
        let m = self.view.per_tick;
        let rest_a = if ja < m {
            let d = self.delta(k, ra);
            self.rest(k, ra, ja, d)
        } else {
            0
        };
        let rest_b = if jb < m {
            let d = self.delta(k, rb);
            self.rest(k, rb, jb, d)
        } else {
            0
        };
        self.between(k, ra, rb) + rest_a - rest_b
    }

    /// The scrape indices with points in `[mint, maxt]` (empty when lo > hi).
    fn indices(&self, mint: i64, maxt: i64) -> (i64, i64) {
        let s = self.view.scrape_ms;
        let origin = self.view.origin_ms;
        let (mint, maxt) = (mint.saturating_sub(origin), maxt.saturating_sub(origin));
        let last = (self.store.len.saturating_sub(1) * self.view.per_tick) as i64;
        let lo = if mint <= 0 { 0 } else { (mint + s - 1) / s };
        let hi = if maxt < 0 { -1 } else { (maxt / s).min(last) };
        (lo, hi)
    }

    fn counter_raws(&self, id: usize) -> Option<Vec<usize>> {
        match &self.view.series[id].1 {
            Src::Counter(raws) => Some(raws.clone()),
            Src::Gauge(..) => None,
        }
    }
}

impl Storage for FleetStorage<'_> {
    fn select(&mut self, sel: &Selector) -> Vec<usize> {
        let view = &*self.view;
        let candidates: &[usize] = match sel.name() {
            Some(n) => view.by_name.iter().find(|(name, _)| name == n).map_or(&[], |(_, ids)| ids.as_slice()),
            None => &view.all,
        };
        candidates.iter().copied().filter(|&i| sel.matches(&view.series[i].0)).collect()
    }

    fn labels(&self, id: usize) -> Labels {
        self.view.series[id].0.clone()
    }

    fn labels_without_name(&self, id: usize) -> Labels {
        self.view.nameless[id].clone()
    }

    fn points(&mut self, id: usize, mint: i64, maxt: i64, out: &mut Vec<(i64, f64)>) {
        let (lo, hi) = self.indices(mint, maxt);
        if lo > hi {
            return;
        }
        let s = self.view.scrape_ms;
        let origin = self.view.origin_ms;
        match self.view.series[id].1.clone() {
            Src::Gauge(g, col) => {
                let m = self.view.per_tick;
                for i in lo.max(1)..=hi {
                    let v = self.store.gauge(g, (i as usize).div_ceil(m), col);
                    if !v.is_nan() {
                        out.push((origin + i * s, v));
                    }
                }
            }
            Src::Counter(raws) => {
                let mut vals = vec![0u64; (hi - lo + 1) as usize];
                for &k in &raws {
                    let mut v = self.raw_value(k, lo);
                    vals[0] += v;
                    for i in lo + 1..=hi {
                        v += self.raw_increase(k, i - 1, i);
                        vals[(i - lo) as usize] += v;
                    }
                }
                out.extend(vals.iter().enumerate().map(|(n, v)| (origin + (lo + n as i64) * s, *v as f64)));
            }
        }
    }

    fn last_point(&mut self, id: usize, mint: i64, maxt: i64) -> Option<(i64, f64)> {
        let (lo, hi) = self.indices(mint, maxt);
        if lo > hi {
            return None;
        }
        let (s, origin) = (self.view.scrape_ms, self.view.origin_ms);
        match self.view.series[id].1.clone() {
            Src::Gauge(g, col) => {
                let m = self.view.per_tick;
                (lo.max(1)..=hi).rev().find_map(|i| {
                    let v = self.store.gauge(g, (i as usize).div_ceil(m), col);
                    (!v.is_nan()).then_some((origin + i * s, v))
                })
            }
            Src::Counter(raws) => {
                let v: u64 = raws.iter().map(|&k| self.raw_value(k, hi)).sum();
                Some((origin + hi * s, v as f64))
            }
        }
    }

    fn counter_span(&mut self, id: usize, mint: i64, maxt: i64, last_step: bool) -> Option<Option<CounterSpan>> {
        let raws = self.counter_raws(id)?;
        let (lo, hi) = self.indices(mint, maxt);
        if lo > hi {
            return Some(None);
        }
        let (s, origin) = (self.view.scrape_ms, self.view.origin_ms);
        let increase: u64 = raws.iter().map(|&k| self.raw_increase(k, lo, hi)).sum();
        // The last step splits a tick's count unless both scrapes end ticks: only irate/idelta ask.
        let last_step = if last_step && hi > lo {
            raws.iter().map(|&k| self.raw_increase(k, hi - 1, hi)).sum::<u64>() as f64
        } else {
            f64::NAN
        };
        Some(Some(CounterSpan {
            first_t: origin + lo * s,
            last_t: origin + hi * s,
            count: (hi - lo + 1) as usize,
            increase: increase as f64,
            prev_t: origin + (hi - 1) * s,
            last_step,
        }))
    }

    fn counter_value(&mut self, id: usize, t: i64) -> f64 {
        let Some(raws) = self.counter_raws(id) else { return f64::NAN };
        let i = (t - self.view.origin_ms) / self.view.scrape_ms;
        raws.iter().map(|&k| self.raw_value(k, i)).sum::<u64>() as f64
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
        let t = self.view.ms_of(now);
        self.rules[i as usize].answer(q.group, &mut FleetStorage { view: self.view, store: self.store }, t)
    }

    fn query_answer(&mut self, q: &Query, now: crate::time::SimTime) -> Result<crate::engine::Answer, QueryError> {
        let Metric::Query(i) = q.metric else {
            return Ok(crate::engine::Answer::Vector(self.store.query(q, now)?.value.into_iter().collect()));
        };
        let t = self.view.ms_of(now);
        self.rules[i as usize].answer_all(q.group, &mut FleetStorage { view: self.view, store: self.store }, t)
    }
}
