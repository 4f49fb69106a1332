//! Replay: recorded metrics fed to the same engine through the same
//! [`MetricSource`] interface, and every alert rule and rollback trigger
//! evaluated over the whole recording, so a user sees when each rule would have
//! fired and, given labelled incident windows, the detection delay per window,
//! missed windows and false alarms.
//!
//! Recorded values are already aggregated (one value per sample), so a window
//! aggregates samples: `window` on a ratio is the ratio of sums (each sample
//! weighted by the recorded request rate, [`crate::engine::ratio_of_sums`]),
//! `window` on other metrics and `avg` the mean, `max`/`min`/`last` as named,
//! `increase` the sum. Without a recorded `request_rate`, ratios weigh equally
//! and minimum-sample rules do not apply (the request count is unknown).

pub mod output;

use crate::engine::{
    ratio_of_sums, Agg, AlertState, Condition, Engine, EngineEvent, FailureAction, Group, Metric, MetricSource, Policy,
    Query, QueryError, Sample, Severity, Unit, Window,
};
use crate::io::series::{self as input, Recorded};
use crate::report::charts::downsample::Downsampled;
use crate::scenario::Scenario;
use crate::time::{SimDur, SimTime};
use std::collections::BTreeMap;
use std::path::Path;

type Key = (Metric, Group);

/// Recorded samples on simulated time (seconds since the recording's start),
/// keeping only the most recent `retain` seconds of each series: enough for
/// the longest window any rule reads.
#[derive(Debug, Clone)]
pub struct RecordingSource {
    series: BTreeMap<Key, Vec<(u64, f64)>>,
    retain: u64,
}

impl RecordingSource {
    fn push(&mut self, key: Key, t: u64, v: f64) -> bool {
        let s = self.series.entry(key).or_default();
        let duplicate = s.last().is_some_and(|last| last.0 == t);
        if duplicate {
            s.pop();
        }
        s.push((t, v));
        // Drop samples no window can reach any more (amortised: only in large batches).
        let keep_from = t.saturating_sub(self.retain + 1);
        let dead = s.partition_point(|p| p.0 < keep_from);
        if dead > 1024 && dead * 2 > s.len() {
            s.drain(..dead);
        }
        duplicate
    }

    /// The samples in `(now − w, now]`, or `[now − w, now]` when `closed`
    /// (a Prometheus 2.x instant selector's lookback). `now − w` may lie
    /// before the recording's start (then every sample up to `now` is in).
    fn window(&self, key: Key, now: SimTime, w: SimDur, closed: bool) -> &[(u64, f64)] {
        let Some(s) = self.series.get(&key) else { return &[] };
        let from = now.0 as i128 - w.0 as i128;
        let lo = s.partition_point(|p| if closed { (p.0 as i128) < from } else { (p.0 as i128) <= from });
        let hi = s.partition_point(|p| p.0 <= now.0);
        &s[lo.min(hi)..hi]
    }
}

impl MetricSource for RecordingSource {
    fn query(&mut self, q: &Query, now: SimTime) -> Result<Sample, QueryError> {
        let vals = self.window((q.metric, q.group), now, q.window, q.agg == Agg::Instant);
        if vals.is_empty() {
            return Ok(Sample::NO_DATA);
        }
        let n = vals.len() as f64;
        let rate = self.window((Metric::RequestRate, q.group), now, q.window, false);
        let value = match q.agg {
            // A ratio over a window is the ratio of sums: each recorded ratio
            // weighted by the request rate recorded at its instant (equal
            // weights without one), the definition the simulator's store uses.
            Agg::Window if q.metric.unit() == Unit::Fraction => {
                let weight = |t: u64| {
                    if rate.is_empty() {
                        return 1.0;
                    }
                    let i = rate.partition_point(|p| p.0 <= t);
                    rate[i.saturating_sub(1)].1
                };
                match ratio_of_sums(vals.iter().map(|&(t, v)| (v, weight(t)))) {
                    Some(v) => v,
                    None => return Ok(Sample { value: None, requests: Some(0) }),
                }
            }
            Agg::Window | Agg::Avg => vals.iter().map(|p| p.1).sum::<f64>() / n,
            Agg::Max => vals.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max),
            Agg::Min => vals.iter().map(|p| p.1).fold(f64::INFINITY, f64::min),
            Agg::Last | Agg::Instant => vals[vals.len() - 1].1,
            Agg::Increase => vals.iter().map(|p| p.1).sum(),
        };
        let requests = (!rate.is_empty())
            .then(|| (rate.iter().map(|p| p.1).sum::<f64>() / rate.len() as f64 * q.window.as_secs_f64()) as u64);
        Ok(Sample { value: Some(value), requests })
    }
}

/// The longest stretch of the past any rule of `policy` can read.
fn retention(policy: &Policy) -> u64 {
    let mut r = 0u64;
    for q in policy.queries(false) {
        r = r.max(q.window.0);
    }
    for p in &policy.phases {
        let ext = [p.checks.on_failure, p.checks.on_inconclusive]
            .iter()
            .map(|a| match a {
                FailureAction::Extend { by, max } => by.0 * *max as u64,
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        for g in &p.gates {
            r = r.max(match g.window {
                Window::Fixed(d) => d.0,
                Window::Phase => p.bake.0 + ext,
            });
        }
    }
    r
}

/// When one rule fired over the recording.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleAlarms {
    /// `trigger:NAME` or `alert:NAME`.
    pub rule: String,
    pub metric: Metric,
    /// The group the rule reads.
    pub group: Group,
    /// The comparison that fires (`value op threshold`).
    pub op: crate::engine::Cmp,
    pub threshold: f64,
    pub severity: Option<Severity>,
    /// Firing episodes `[start, end)`.
    pub episodes: Vec<(SimTime, SimTime)>,
}

/// Per labelled window: when each rule first fired inside it.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowResult {
    pub start: SimTime,
    pub end: SimTime,
    /// Per rule (same order as the alarms): detection delay from the window's
    /// start to the first firing episode that *starts* inside it, or None if missed.
    pub delays: Vec<Option<SimDur>>,
    /// Per rule: an episode that began before the window was still firing at
    /// its start (an earlier alarm, not a detection of this window).
    pub already_firing: Vec<bool>,
}

#[derive(Debug, Clone)]
pub struct ReplayResult {
    /// Unix seconds of simulated time zero.
    pub origin: i64,
    /// The last sample's time.
    pub end: SimTime,
    /// The recorded series for the chart: at most 4,096 points each, downsampled
    /// uniformly in time keeping each bucket's first, lowest, highest and last point.
    pub chart: BTreeMap<Key, Vec<(u64, f64)>>,
    /// The engine's events over the recording, from time zero until it finished
    /// (trigger evaluations that did not fire are left out).
    pub engine: Vec<EngineEvent>,
    pub alarms: Vec<RuleAlarms>,
    pub windows: Vec<WindowResult>,
    /// True when labelled windows were given (possibly none: a clean control).
    pub labelled: bool,
    /// Per rule: episodes that started outside every window (meaningful when `labelled`).
    pub false_alarms: Vec<usize>,
    pub warnings: Vec<String>,
}

/// One trigger or alert rule being evaluated over the recording.
struct RuleRun {
    condition: Condition,
    every: SimDur,
    /// Alerts: how long the condition must hold (zero for triggers).
    for_: SimDur,
    next: SimTime,
    state: AlertState,
    open: Option<SimTime>,
    alarms: RuleAlarms,
}

impl RuleRun {
    fn evaluate<S: MetricSource>(&mut self, now: SimTime, src: &mut S) {
        // A failed query is no evaluation: the rule keeps its state.
        if let Ok((_, active)) = self.condition.evaluate(now, src) {
            self.state.observe(now, active, self.for_);
        }
        let firing = self.state.is_firing();
        match (firing, self.open) {
            (true, None) => self.open = Some(now),
            (false, Some(s)) => {
                self.alarms.episodes.push((s, now));
                self.open = None;
            }
            _ => {}
        }
        self.next += self.every;
    }
}

impl RuleRun {
    fn new(rule: String, condition: &Condition, every: SimDur, for_: SimDur, severity: Option<Severity>) -> Self {
        RuleRun {
            alarms: RuleAlarms {
                rule,
                metric: condition.query.metric,
                group: condition.query.group,
                op: condition.op,
                threshold: condition.threshold,
                severity,
                episodes: vec![],
            },
            condition: condition.clone(),
            every,
            for_,
            // Evaluated from the recording's first instant, as Prometheus evaluates
            // a rule group at its start and then every interval.
            next: SimTime::ZERO,
            state: AlertState::Inactive,
            open: None,
        }
    }
}

fn rules(policy: &Policy) -> Vec<RuleRun> {
    let triggers = policy
        .triggers
        .iter()
        .map(|t| RuleRun::new(format!("trigger:{}", t.name), &t.condition, t.every, SimDur::ZERO, None));
    let alerts = policy
        .alerts
        .iter()
        .map(|a| RuleRun::new(format!("alert:{}", a.name), &a.condition, policy.alert_every, a.for_, Some(a.severity)));
    triggers.chain(alerts).collect()
}

/// The engine and every rule, stepped together in time order over one metric source.
struct Judge {
    engine: Engine,
    events: Events,
    rules: Vec<RuleRun>,
}

impl Judge {
    fn new(policy: &std::sync::Arc<Policy>) -> Judge {
        let mut events = Events::default();
        let engine = Engine::start(policy.clone(), &mut events);
        Judge { engine, events, rules: rules(policy) }
    }

    /// Runs every engine wake-up and rule evaluation due before `limit` (or at it, if `inclusive`).
    fn run_until<S: MetricSource>(&mut self, src: &mut S, limit: SimTime, inclusive: bool) {
        loop {
            let wake = self.engine.next_wakeup();
            let rule = self.rules.iter().map(|r| r.next).min();
            let Some(t) = [wake, rule].into_iter().flatten().min() else { return };
            if t > limit || (t == limit && !inclusive) {
                return;
            }
            if wake == Some(t) {
                self.engine.step(t, src, &mut self.events);
            }
            for r in self.rules.iter_mut().filter(|r| r.next == t) {
                r.evaluate(t, src);
            }
        }
    }

    /// Evaluates the rules alone (the rollout itself ended with the data) up to `limit`, inclusive.
    fn run_rules_until<S: MetricSource>(&mut self, src: &mut S, limit: SimTime) {
        while let Some(t) = self.rules.iter().map(|r| r.next).min().filter(|t| *t <= limit) {
            for r in self.rules.iter_mut().filter(|r| r.next == t) {
                r.evaluate(t, src);
            }
        }
    }

    /// The engine's events and each rule's firings, closing episodes still open.
    fn finish(self) -> (Vec<EngineEvent>, Vec<RuleAlarms>) {
        let alarms = self
            .rules
            .into_iter()
            .map(|mut r| {
                if let Some(s) = r.open.take() {
                    r.alarms.episodes.push((s, r.next));
                }
                r.alarms
            })
            .collect();
        (self.events.0, alarms)
    }
}

/// Keeps the engine's events except trigger evaluations that did not fire
/// (one per trigger per cadence, for as long as the engine watches: they would
/// make memory grow with the recording's length).
#[derive(Debug, Default)]
struct Events(Vec<EngineEvent>);

impl crate::engine::EventSink for Events {
    fn event(&mut self, e: EngineEvent) {
        if !matches!(e, EngineEvent::TriggerEvaluated { fired: false, .. }) {
            self.0.push(e);
        }
    }
}

/// Drives the engine and every rule through samples that arrive in time
/// order, keeping only what the rules can still read.
pub struct Replayer {
    origin: i64,
    src: RecordingSource,
    /// The recording with its labels, when the policy has PromQL rules.
    prom: Option<PromRecording>,
    judge: Judge,
    chart: BTreeMap<Key, Downsampled>,
    end: SimTime,
    duplicates: u64,
}

impl Replayer {
    pub fn new(sc: &Scenario, origin: i64) -> Replayer {
        Replayer {
            origin,
            src: RecordingSource { series: BTreeMap::new(), retain: retention(&sc.policy) },
            prom: None,
            judge: Judge::new(&sc.policy),
            chart: BTreeMap::new(),
            end: SimTime::ZERO,
            duplicates: 0,
        }
    }

    /// Adds a sample at Unix time `unix`; samples must come in time order.
    pub fn push(&mut self, unix: i64, key: Key, v: f64) {
        if unix < self.origin {
            return;
        }
        let t = SimTime((unix - self.origin) as u64);
        self.run_until(t, false);
        self.end = self.end.max(t);
        if self.src.push(key, t.0, v) {
            self.duplicates += 1;
        }
        self.chart.entry(key).or_default().push(t.0, v);
    }

    /// Judges PromQL rules on `mem`, the recording with its labels (its Unix
    /// times are the replay's; the Replayer's origin is time 0).
    pub fn with_promql(mut self, sc: &Scenario, mem: crate::promql::MemStorage) -> Replayer {
        self.prom = Some(PromRecording { mem, rules: sc.queries.clone(), origin_ms: self.origin * 1000 });
        self
    }

    fn run_until(&mut self, t: SimTime, inclusive: bool) {
        match self.prom.as_mut() {
            Some(p) => self.judge.run_until(&mut PromBoth { rec: &mut self.src, prom: p }, t, inclusive),
            None => self.judge.run_until(&mut self.src, t, inclusive),
        }
    }

    /// Runs to the last sample and compares the rules' firings with `windows` (Unix seconds).
    pub fn finish(self, windows: Option<&[(i64, i64)]>, warnings: Vec<String>) -> ReplayResult {
        self.finish_at(None, windows, warnings)
    }

    /// Like [`Replayer::finish`], and then keeps evaluating the rules until Unix
    /// time `until` (the end of the recording when it ends in a gap): a rule's
    /// lookback can still see the last samples after they arrived.
    pub fn finish_at(
        mut self,
        until: Option<i64>,
        windows: Option<&[(i64, i64)]>,
        mut warnings: Vec<String>,
    ) -> ReplayResult {
        let mut end = self.end;
        if let Some(p) = &self.prom {
            // The labelled recording's own end, when it outlasts the mapped samples.
            let last = p.mem.series.iter().filter_map(|s| s.1.last()).map(|p| p.0.div_euclid(1000)).max();
            if let Some(l) = last {
                end = end.max(SimTime((l - self.origin).max(0) as u64));
            }
        }
        self.run_until(end, true);
        if let Some(u) = until {
            let horizon = SimTime((u - self.origin).max(0) as u64);
            if horizon > end {
                match self.prom.as_mut() {
                    Some(p) => self.judge.run_rules_until(&mut PromBoth { rec: &mut self.src, prom: p }, horizon),
                    None => self.judge.run_rules_until(&mut self.src, horizon),
                }
                end = horizon;
            }
        }
        if self.duplicates > 0 {
            warnings.push(format!(
                "{}; kept the last value of each",
                crate::units::count_of(self.duplicates, "duplicate timestamp", None)
            ));
        }
        let chart = self.chart.iter().map(|(k, d)| (*k, d.points())).collect();
        warnings.extend(missing_metrics(self.judge.engine.policy(), &chart));
        let (events, alarms) = self.judge.finish();
        compare_windows(self.origin, end, chart, events, alarms, windows, warnings)
    }
}

/// A recording with its labels and the policy's PromQL rules.
struct PromRecording {
    mem: crate::promql::MemStorage,
    rules: Vec<crate::scenario::PromRule>,
    origin_ms: i64,
}

/// PromQL rules judged on the labelled recording, every other query on the
/// mapped samples.
struct PromBoth<'a> {
    rec: &'a mut RecordingSource,
    prom: &'a mut PromRecording,
}

impl MetricSource for PromBoth<'_> {
    fn query(&mut self, q: &Query, now: SimTime) -> Result<Sample, QueryError> {
        let Metric::Query(i) = q.metric else { return self.rec.query(q, now) };
        let p = &mut *self.prom;
        let t = p.origin_ms + now.0 as i64 * 1000;
        p.rules[i as usize].answer(q.group, &mut p.mem, t)
    }

    fn query_answer(&mut self, q: &Query, now: SimTime) -> Result<crate::engine::Answer, QueryError> {
        let Metric::Query(i) = q.metric else {
            return Ok(crate::engine::Answer::Vector(self.rec.query(q, now)?.value.into_iter().collect()));
        };
        let p = &mut *self.prom;
        let t = p.origin_ms + now.0 as i64 * 1000;
        p.rules[i as usize].answer_all(q.group, &mut p.mem, t)
    }
}

/// One warning per (metric, group) the policy reads but the recording lacks,
/// naming the gates and rules that can therefore only be inconclusive (or never fire).
fn missing_metrics(policy: &Policy, present: &BTreeMap<Key, Vec<(u64, f64)>>) -> Vec<String> {
    let mut readers: BTreeMap<Key, Vec<String>> = BTreeMap::new();
    let mut add = |k: Key, who: String| {
        if k.0 != Metric::CriticalAlerts && !matches!(k.0, Metric::Query(_)) && !present.contains_key(&k) {
            let v = readers.entry(k).or_default();
            if !v.contains(&who) {
                v.push(who);
            }
        }
    };
    for p in &policy.phases {
        for g in &p.gates {
            add((g.metric, g.group), format!("gate {}/{}", p.name, g.name));
            if !matches!(g.limit, crate::engine::Limit::Absolute(_)) {
                add((g.metric, Group::Stable), format!("gate {}/{} (its baseline)", p.name, g.name));
            }
        }
    }
    for a in &policy.alerts {
        add((a.condition.query.metric, a.condition.query.group), format!("alert {}", a.name));
    }
    for t in &policy.triggers {
        add((t.condition.query.metric, t.condition.query.group), format!("trigger {}", t.name));
    }
    readers
        .into_iter()
        .map(|((m, g), who)| {
            format!(
                "the recording has no `{}` series for the {} group: {} can only be inconclusive or never fire",
                m.name(),
                g.name(),
                who.join(", ")
            )
        })
        .collect()
}

fn compare_windows(
    origin: i64,
    end: SimTime,
    chart: BTreeMap<Key, Vec<(u64, f64)>>,
    engine: Vec<EngineEvent>,
    alarms: Vec<RuleAlarms>,
    windows: Option<&[(i64, i64)]>,
    warnings: Vec<String>,
) -> ReplayResult {
    let labelled = windows.is_some();
    let on_sim = |u: i64| SimTime((u - origin).max(0) as u64);
    let windows: Vec<WindowResult> = windows
        .unwrap_or(&[])
        .iter()
        .map(|&(s, e)| {
            let (start, end) = (on_sim(s), on_sim(e));
            let delays = alarms
                .iter()
                .map(|a| a.episodes.iter().find(|ep| ep.0 >= start && ep.0 <= end).map(|ep| ep.0.since(start)))
                .collect();
            let already_firing =
                alarms.iter().map(|a| a.episodes.iter().any(|ep| ep.0 < start && ep.1 > start)).collect();
            WindowResult { start, end, delays, already_firing }
        })
        .collect();
    let false_alarms = alarms
        .iter()
        .map(|a| a.episodes.iter().filter(|ep| !windows.iter().any(|w| ep.0 >= w.start && ep.0 <= w.end)).count())
        .collect();
    ReplayResult { origin, end, chart, engine, alarms, windows, labelled, false_alarms, warnings }
}

/// Replays an in-memory recording against the scenario's policy. `windows` are
/// labelled incident windows in Unix seconds (`None`: no labels given). A
/// recording made by `rollsim record` is replayed from its lossless series, so
/// the engine sees exactly what it saw in the simulation.
pub fn replay(
    sc: &Scenario,
    rec: &Recorded,
    origin: Option<i64>,
    until: Option<i64>,
    windows: Option<&[(i64, i64)]>,
) -> Result<ReplayResult, String> {
    replay_with(sc, rec, None, origin, until, windows)
}

/// [`replay`], with PromQL rules judged on `mem`, the recording with its labels.
pub fn replay_with(
    sc: &Scenario,
    rec: &Recorded,
    mem: Option<crate::promql::MemStorage>,
    origin: Option<i64>,
    until: Option<i64>,
    windows: Option<&[(i64, i64)]>,
) -> Result<ReplayResult, String> {
    if !rec.trial.is_empty() {
        return replay_trial(sc, rec, windows);
    }
    let mut samples: Vec<(i64, Key, f64)> =
        rec.series.iter().flat_map(|(k, s)| s.iter().map(move |p| (p.0, *k, p.1))).collect();
    samples.sort_by_key(|s| s.0);
    let labelled_first =
        mem.as_ref().and_then(|m| m.series.iter().filter_map(|s| s.1.first()).map(|p| p.0.div_euclid(1000)).min());
    let first = [samples.first().map(|s| s.0), labelled_first].into_iter().flatten().min().unwrap_or(0);
    let mut r = Replayer::new(sc, origin.unwrap_or(first));
    if let Some(m) = mem {
        r = r.with_promql(sc, m);
    }
    for (t, k, v) in samples {
        r.push(t, k, v);
    }
    Ok(r.finish_at(until, windows, rec.warnings.clone()))
}

/// Replays a CSV file in one pass, in bounded memory, when its rows are in time
/// order; otherwise reads it whole, sorts it (with a warning) and replays that.
pub fn replay_csv(
    sc: &Scenario,
    path: &Path,
    map: &input::Mapping,
    origin: Option<i64>,
    until: Option<i64>,
    windows: Option<&[(i64, i64)]>,
) -> Result<ReplayResult, input::SeriesError> {
    let mut replayer: Option<Replayer> = None;
    let streamed = input::stream_csv(path, map, &mut |t, key, v| {
        replayer.get_or_insert_with(|| Replayer::new(sc, origin.unwrap_or(t))).push(t, key, v)
    })?;
    match streamed {
        input::Streamed::Done(rec) if rec.trial.is_empty() => match replayer {
            Some(r) => Ok(r.finish_at(until, windows, rec.warnings)),
            None => Err(input::SeriesError::new(path, "no usable rows")),
        },
        // A `rollsim record` trial, or rows out of time order: read the whole file.
        _ => replay(sc, &input::read_csv(path, map)?, origin, until, windows)
            .map_err(|e| input::SeriesError::new(path, e)),
    }
}

fn replay_trial(sc: &Scenario, rec: &Recorded, windows: Option<&[(i64, i64)]>) -> Result<ReplayResult, String> {
    let tick_name = format!("{}tick", input::DUMP_PREFIX);
    let origin =
        rec.trial.iter().find(|r| r.2 == tick_name).map(|r| r.0).ok_or("a recorded trial needs its tick series")?;
    let rows: Vec<input::DumpRow> =
        rec.trial.iter().map(|(t, g, n, v)| ((t - origin).max(0) as u64, *g, n.clone(), *v)).collect();
    let classes: Vec<String> = sc.traffic.classes.iter().map(|c| c.name.clone()).collect();
    let mut store = crate::sim::store::Store::from_dump(&classes, &rows)?;
    let end = SimTime((store.len as u64 - 1) * store.tick.0);
    let mut judge = Judge::new(&sc.policy);
    if sc.queries.is_empty() {
        judge.run_until(&mut store, end, true);
    } else {
        // PromQL rules read the recorded trial as Prometheus would have stored it.
        let mut view = crate::sim::prom::PromView::with_tick(sc, store.tick);
        view.reset(0);
        view.origin_ms = origin * 1000;
        let mut src = crate::sim::prom::PromSource { store: &mut store, view: &mut view, rules: &sc.queries };
        judge.run_until(&mut src, end, true);
    }
    let (events, alarms) = judge.finish();
    // For the timeline: the candidate's per-tick error rate, p99 and CPU.
    let mut chart = BTreeMap::new();
    for metric in [Metric::ErrorRate, Metric::LatencyP99, Metric::Cpu] {
        let mut v = Downsampled::default();
        for row in 1..store.len {
            let t = SimTime(row as u64 * store.tick.0);
            let q =
                Query { metric, group: Group::Candidate, class: None, window: store.tick, agg: metric.default_agg() };
            if let Ok(Sample { value: Some(x), .. }) = store.query(&q, t) {
                v.push(t.0, x);
            }
        }
        chart.insert((metric, Group::Candidate), v.points());
    }
    Ok(compare_windows(origin, end, chart, events, alarms, windows, rec.warnings.clone()))
}
