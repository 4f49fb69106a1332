//! Replay: recorded metrics fed to the same engine through the same
//! [`MetricSource`] interface, and every alert rule and rollback trigger
//! evaluated over the whole recording, so a user sees when each rule would have
//! fired and, given labelled incident windows, the detection delay per window,
//! missed windows and false alarms.
//!
//! Recorded values are already aggregated (one value per sample), so a window
//! aggregates samples: `window`/`avg` take the mean, `max`/`min`/`last` as
//! named, `increase` the sum. Without a recorded `request_rate`, minimum-sample
//! rules treat every window as having enough requests.

pub mod input;
pub mod output;
pub mod record;

use crate::engine::{Agg, Engine, EngineEvent, Group, Metric, MetricSource, Policy, Query, Sample, Severity};
use crate::scenario::Scenario;
use crate::time::{SimDur, SimTime};
use input::Recorded;
use std::collections::BTreeMap;

/// Recorded series on simulated time: seconds since the recording's start.
#[derive(Debug, Clone)]
pub struct RecordingSource {
    /// Unix seconds of simulated time zero.
    pub origin: i64,
    pub series: BTreeMap<(Metric, Group), Vec<(u64, f64)>>,
    /// The last sample's time.
    pub end: SimTime,
}

impl RecordingSource {
    /// Places `rec` on simulated time starting at `origin` (default: its first sample).
    pub fn new(rec: &Recorded, origin: Option<i64>) -> RecordingSource {
        let first = rec.series.values().filter_map(|s| s.first().map(|p| p.0)).min().unwrap_or(0);
        let origin = origin.unwrap_or(first);
        let mut series = BTreeMap::new();
        let mut end = 0u64;
        for (k, s) in &rec.series {
            let v: Vec<(u64, f64)> = s.iter().filter(|p| p.0 >= origin).map(|p| ((p.0 - origin) as u64, p.1)).collect();
            end = end.max(v.last().map_or(0, |p| p.0));
            series.insert(*k, v);
        }
        RecordingSource { origin, series, end: SimTime(end) }
    }

    fn window(&self, key: (Metric, Group), now: SimTime, w: SimDur) -> &[(u64, f64)] {
        let Some(s) = self.series.get(&key) else { return &[] };
        let from = now.0.saturating_sub(w.0);
        let lo = s.partition_point(|p| p.0 <= from && !(from == 0 && p.0 == 0));
        let hi = s.partition_point(|p| p.0 <= now.0);
        &s[lo.min(hi)..hi]
    }
}

impl MetricSource for RecordingSource {
    fn query(&mut self, q: &Query, now: SimTime) -> Sample {
        let vals = self.window((q.metric, q.group), now, q.window);
        if vals.is_empty() {
            return Sample::NO_DATA;
        }
        let n = vals.len() as f64;
        let value = match q.agg {
            Agg::Window | Agg::Avg => vals.iter().map(|p| p.1).sum::<f64>() / n,
            Agg::Max => vals.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max),
            Agg::Min => vals.iter().map(|p| p.1).fold(f64::INFINITY, f64::min),
            Agg::Last => vals[vals.len() - 1].1,
            Agg::Increase => vals.iter().map(|p| p.1).sum(),
        };
        let rate = self.window((Metric::RequestRate, q.group), now, q.window);
        let requests = if rate.is_empty() {
            u64::MAX
        } else {
            (rate.iter().map(|p| p.1).sum::<f64>() / rate.len() as f64 * q.window.as_secs_f64()) as u64
        };
        Sample { value: Some(value), requests }
    }
}

/// When one rule fired over the recording.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleAlarms {
    /// `trigger:NAME` or `alert:NAME`.
    pub rule: String,
    pub metric: Metric,
    pub threshold: f64,
    pub severity: Option<Severity>,
    /// Firing episodes `[start, end)` (end = last evaluation that fired + cadence).
    pub episodes: Vec<(SimTime, SimTime)>,
}

/// Per labelled window: when each rule first fired inside it.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowResult {
    pub start: SimTime,
    pub end: SimTime,
    /// Per rule (same order as the alarms): detection delay from the window's start, or None if missed.
    pub delays: Vec<Option<SimDur>>,
}

#[derive(Debug, Clone)]
pub struct ReplayResult {
    pub source: RecordingSource,
    /// The engine's events over the recording, from time zero until it finished.
    pub engine: Vec<EngineEvent>,
    pub alarms: Vec<RuleAlarms>,
    pub windows: Vec<WindowResult>,
    /// True when labelled windows were given (possibly none: a clean control).
    pub labelled: bool,
    /// Per rule: episodes that started outside every window (meaningful when `labelled`).
    pub false_alarms: Vec<usize>,
}

fn episodes(fired: &[(SimTime, bool)], every: SimDur) -> Vec<(SimTime, SimTime)> {
    let mut out: Vec<(SimTime, SimTime)> = Vec::new();
    let mut open: Option<SimTime> = None;
    let mut last = SimTime::ZERO;
    for &(t, f) in fired {
        match (f, open) {
            (true, None) => open = Some(t),
            (false, Some(s)) => {
                out.push((s, t));
                open = None;
            }
            _ => {}
        }
        last = t;
    }
    if let Some(s) = open {
        out.push((s, last + every));
    }
    out
}

/// Evaluates every trigger (on its cadence) and alert rule (pending → firing
/// after `for`) over the whole recording.
pub fn rule_alarms<S: MetricSource>(policy: &Policy, src: &mut S, end: SimTime) -> Vec<RuleAlarms> {
    let mut out = Vec::new();
    for t in &policy.triggers {
        let mut fired = Vec::new();
        let mut now = SimTime::ZERO + t.every;
        while now <= end {
            fired.push((now, t.condition.evaluate(now, src).1));
            now += t.every;
        }
        out.push(RuleAlarms {
            rule: format!("trigger:{}", t.name),
            metric: t.condition.query.metric,
            threshold: t.condition.threshold,
            severity: None,
            episodes: episodes(&fired, t.every),
        });
    }
    for a in &policy.alerts {
        let mut fired = Vec::new();
        let mut pending_since: Option<SimTime> = None;
        let mut now = SimTime::ZERO + policy.alert_every;
        while now <= end {
            let active = a.condition.evaluate(now, src).1;
            let since = if active { *pending_since.get_or_insert(now) } else { now };
            if !active {
                pending_since = None;
            }
            fired.push((now, active && now.since(since) >= a.for_));
            now += policy.alert_every;
        }
        out.push(RuleAlarms {
            rule: format!("alert:{}", a.name),
            metric: a.condition.query.metric,
            threshold: a.condition.threshold,
            severity: Some(a.severity),
            episodes: episodes(&fired, policy.alert_every),
        });
    }
    out
}

/// Replays `rec` against the scenario's policy. `windows` are labelled
/// incident windows in Unix seconds (`None`: no labels given). A recording
/// made by `rollsim record` is replayed from its lossless series, so the
/// engine sees exactly what it saw in the simulation.
pub fn replay(
    sc: &Scenario,
    rec: &Recorded,
    origin: Option<i64>,
    windows: Option<&[(i64, i64)]>,
) -> Result<ReplayResult, String> {
    if !rec.trial.is_empty() {
        return replay_trial(sc, rec, windows);
    }
    let mut src = RecordingSource::new(rec, origin);
    let end = src.end;
    let events = run_engine(sc, &mut src, end);
    let alarms = rule_alarms(&sc.policy, &mut src, end);
    Ok(finish(src, events, alarms, windows))
}

fn run_engine<S: MetricSource>(sc: &Scenario, src: &mut S, end: SimTime) -> Vec<EngineEvent> {
    let mut engine = Engine::new(sc.policy.clone());
    let mut events = Vec::new();
    while let Some(t) = engine.next_wakeup() {
        if t > end {
            break;
        }
        engine.step(t, src, &mut events);
    }
    events
}

fn replay_trial(sc: &Scenario, rec: &Recorded, windows: Option<&[(i64, i64)]>) -> Result<ReplayResult, String> {
    let tick_name = format!("{}tick", crate::sim::store::DUMP_PREFIX);
    let origin =
        rec.trial.iter().find(|r| r.2 == tick_name).map(|r| r.0).ok_or("a recorded trial needs its tick series")?;
    let rows: Vec<crate::sim::store::DumpRow> =
        rec.trial.iter().map(|(t, g, n, v)| ((t - origin).max(0) as u64, *g, n.clone(), *v)).collect();
    let classes: Vec<String> = sc.traffic.classes.iter().map(|c| c.name.clone()).collect();
    let mut store = crate::sim::store::Store::from_dump(&classes, &rows)?;
    let end = SimTime((store.len as u64 - 1) * store.tick.0);
    let events = run_engine(sc, &mut store, end);
    let alarms = rule_alarms(&sc.policy, &mut store, end);
    // For the timeline: the candidate's per-tick error rate, p99 and CPU.
    let mut series = BTreeMap::new();
    for metric in [Metric::ErrorRate, Metric::LatencyP99, Metric::Cpu] {
        let mut v = Vec::new();
        for row in 1..store.len {
            let t = SimTime(row as u64 * store.tick.0);
            let q =
                Query { metric, group: Group::Candidate, class: None, window: store.tick, agg: metric.default_agg() };
            if let Some(x) = store.query(&q, t).value {
                v.push((t.0, x));
            }
        }
        series.insert((metric, Group::Candidate), v);
    }
    let src = RecordingSource { origin, series, end };
    Ok(finish(src, events, alarms, windows))
}

fn finish(
    src: RecordingSource,
    engine: Vec<EngineEvent>,
    alarms: Vec<RuleAlarms>,
    windows: Option<&[(i64, i64)]>,
) -> ReplayResult {
    let labelled = windows.is_some();
    let windows = windows.unwrap_or(&[]);
    let on_sim = |u: i64| SimTime((u - src.origin).max(0) as u64);
    let windows: Vec<WindowResult> = windows
        .iter()
        .map(|&(s, e)| {
            let (start, end) = (on_sim(s), on_sim(e));
            let delays = alarms
                .iter()
                .map(|a| {
                    a.episodes.iter().find(|ep| ep.1 > start && ep.0 <= end).map(|ep| ep.0.max(start).since(start))
                })
                .collect();
            WindowResult { start, end, delays }
        })
        .collect();
    let false_alarms = alarms
        .iter()
        .map(|a| a.episodes.iter().filter(|ep| !windows.iter().any(|w| ep.0 >= w.start && ep.0 <= w.end)).count())
        .collect();
    ReplayResult { source: src, engine, alarms, windows, labelled, false_alarms }
}
