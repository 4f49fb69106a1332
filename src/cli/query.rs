//! `rollsim query`: PromQL over one simulated trial, answered in the JSON of
//! Prometheus's `/api/v1/query` and `/api/v1/query_range`.

use rollsim::promql::{self, Evaluator};
use rollsim::sim::prom::{FleetStorage, PromView};
use rollsim::time::SimTime;
use std::path::PathBuf;

pub struct Args {
    pub scenario: Option<PathBuf>,
    pub trial: Option<u64>,
    pub seed: Option<u64>,
    pub expr: String,
    pub time: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub step: Option<String>,
    /// A recording to query instead of a simulated trial.
    pub data: Option<PathBuf>,
}

/// A time: a duration since the trial's start (`2h30m`), Unix seconds, or RFC 3339.
fn parse_time(s: &str, origin_ms: i64) -> Result<i64, String> {
    if let Ok(d) = rollsim::units::parse_duration(s) {
        return Ok(origin_ms + d.0 as i64 * 1000);
    }
    let t = s.trim();
    if let Ok(v) = t.parse::<f64>() {
        if v.is_finite() && v.abs() < 1e11 {
            return Ok((v * 1000.0).round() as i64);
        }
    }
    rollsim::io::series::parse_timestamp(t).map(|(secs, _)| secs * 1000).map_err(|_| {
        format!(
            "expected a time: a duration since the trial's start (\"2h30m\"), Unix seconds or RFC 3339, found {s:?}"
        )
    })
}

fn error_json(kind: &str, message: &str) -> String {
    format!("{{\"status\":\"error\",\"errorType\":\"{kind}\",\"error\":{}}}", serde_json::Value::from(message))
}

pub fn query(a: Args) -> i32 {
    let q = match promql::parse(&a.expr) {
        Ok(q) => q,
        Err(e) => {
            let sep = if e.column.is_some() { " " } else { ": " };
            eprintln!("error: the query is refused{sep}{e}\n  {}", a.expr);
            if let Some(c) = e.column {
                eprintln!("  {}^", " ".repeat(c - 1));
            }
            println!("{}", error_json("bad_data", &e.to_string()));
            return 1;
        }
    };
    if let Some(path) = &a.data {
        let mut mem = match promql::recorded::read(path) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        };
        let first = mem.series.iter().filter_map(|s| s.1.first()).map(|p| p.0).min().unwrap_or(0);
        let last = mem.series.iter().filter_map(|s| s.1.last()).map(|p| p.0).max().unwrap_or(0);
        return answer(&a, &q, &mut Evaluator::new(&mut mem), first, last);
    }
    let Some(trial) = a.trial else {
        eprintln!("error: name a simulated trial with --trial K, or a recording with --data FILE");
        return 2;
    };
    let sc = match super::load(&a.scenario) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let seed = a.seed.unwrap_or(sc.simulation.seed);
    let (_, _, mut store) = rollsim::runner::record(&sc, seed, trial);
    let mut view = PromView::for_scenario(&sc);
    view.reset(store.trial_seed());
    let origin = view.origin_ms;
    let end_of_trial = view.ms_of(SimTime((store.len.saturating_sub(1) as u64) * store.tick.0));
    let mut st = FleetStorage { view: &mut view, store: &mut store };
    answer(&a, &q, &mut Evaluator::new(&mut st), origin, end_of_trial)
}

/// Evaluates `q` as the arguments ask; `origin` is where durations count
/// from, `end` the default instant.
fn answer<S: promql::Storage + ?Sized>(
    a: &Args,
    q: &promql::Query,
    ev: &mut Evaluator<S>,
    origin: i64,
    end_of_trial: i64,
) -> i32 {
    let t = |s: &Option<String>, default: i64| s.as_deref().map_or(Ok(default), |s| parse_time(s, origin));
    let out = if a.start.is_some() || a.end.is_some() || a.step.is_some() {
        let step = match a.step.as_deref().map(rollsim::units::parse_duration).unwrap_or(Ok(rollsim::time::SimDur(60)))
        {
            Ok(d) if d.0 > 0 => d.0 as i64 * 1000,
            Ok(_) | Err(_) => {
                eprintln!(
                    "error: --step: expected a duration longer than zero such as \"1m\", found {:?}",
                    a.step.clone().unwrap_or_default()
                );
                return 2;
            }
        };
        let (start, end) = match (t(&a.start, origin), t(&a.end, end_of_trial)) {
            (Ok(s), Ok(e)) => (s, e),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("error: {e}");
                return 2;
            }
        };
        if (end - start) / step > 11_000 {
            eprintln!("error: exceeded maximum resolution of 11,000 points per timeseries; use a larger --step");
            return 2;
        }
        ev.range(q, start, end, step).map(|m| promql::range_json(&m))
    } else {
        let at = match t(&a.time, end_of_trial) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("error: --time: {e}");
                return 2;
            }
        };
        ev.instant(q, at).map(|v| promql::instant_json(&v, at))
    };
    match out {
        Ok(json) => {
            println!("{json}");
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            println!("{}", error_json("execution", &e));
            1
        }
    }
}

/// `record --format openmetrics`: every series of the trial's Prometheus view.
pub fn write_openmetrics(
    sc: &rollsim::scenario::Scenario,
    store: &mut rollsim::sim::store::Store,
    path: &std::path::Path,
) -> Result<usize, String> {
    let mut view = PromView::for_scenario(sc);
    view.reset(store.trial_seed());
    let n = view.len();
    let end = view.ms_of(SimTime((store.len.saturating_sub(1) as u64) * store.tick.0));
    let mut st = FleetStorage { view: &mut view, store };
    let mut all = Vec::with_capacity(n);
    for id in 0..n {
        let mut pts = Vec::new();
        promql::Storage::points(&mut st, id, i64::MIN / 2, end, &mut pts);
        all.push((promql::Storage::labels(&st, id), st.view.is_gauge(id), pts));
    }
    let exposed: Vec<promql::openmetrics::Exposed> =
        all.iter().map(|(l, g, p)| promql::openmetrics::Exposed { labels: l, gauge: *g, points: p }).collect();
    let file = std::fs::File::create(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    promql::openmetrics::write(&mut w, &exposed)
        .and_then(|()| std::io::Write::flush(&mut w))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(all.iter().map(|s| s.2.len()).sum())
}
