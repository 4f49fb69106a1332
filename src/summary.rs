//! Run-level aggregates per fault entry and overall, with 95% confidence
//! intervals (Wilson for rates, order statistics for quantiles). Everything is
//! reduced in trial order, so the summary is identical for any thread count.

use crate::scenario::Scenario;
use crate::sim::{Outcome, Population, TrialRecord};
use crate::stats::{mean, quantile, sorted, wilson, Quantile, Rate};
use std::fmt::Write;

/// What the figures mean, in a user's words (`rollsim scenario --explain`; README says the same).
pub const DEFINITIONS: &str = "\
Outcome figures (per fault entry and per population; rates with 95% Wilson intervals,
quantiles with exact order-statistic intervals, an unreachable end printed as ∞/-∞):
  onset               first instant the fault is in the data: the drawn delay after the
                      first deployment, rounded up to simulation.tick
  detection time      onset → the decision that starts the rollback (bad versions
                      rolled back after onset; otherwise not detected, ∞)
  escape              a bad version that reached 100% and completed
  peak share          the highest traffic share the candidate reached; 100% for a
                      completed rollout, which serves all traffic
  false_rollback      good versions under noise alone (kind none) rolled back
  false_rollback[incident]
                      good versions rolled back during an outside incident
                      (shared-dependency): reported apart, never mixed with noise
  false_rollback_time hours from the start to a false rollback decision
  duration            hours to completion, over good versions that completed only
  excess failed       candidate failures minus what the stable error rate would give
Groups in METRIC[GROUP] (--objective, --fail-on): bad, noise, incident, or a fault name.

Alert rules are evaluated as Prometheus evaluates a rule group: at the start, then every
policy.alert_every; pending from the first evaluation where the condition holds, firing
at the first evaluation at least `for` later, resolved when it no longer holds.
agg = \"instant\" is a Prometheus 2.x instant selector: the latest sample in
[now - window, now] (window = the lookback, e.g. \"5m\").

Paired worlds: a trial's traffic, noise, faults and pod events are drawn on the model's
own grid (simulation.tick) from (fleet, traffic, health, faults, seed, trial index) only.
The policy decides when it looks and what it does; it never changes what happens before
its first decision that differs, so policy variants and compare sides are paired.
";

/// Aggregates of one group of trials (one fault entry, or all bad / all good).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSummary {
    /// Fault entry name, or `all bad` / `all good`.
    pub name: String,
    /// Fault kind (`none` for good versions; `*` for the overall rows).
    pub kind: String,
    pub trials: u64,
    /// True when the candidates of this group are bad versions.
    pub bad: bool,
    /// Bad versions rolled back after onset.
    pub detected: Rate,
    /// Detection time in minutes (undetected = +inf).
    pub detection_p50_min: Quantile,
    pub detection_p90_min: Quantile,
    /// Peak traffic share reached by the candidate.
    pub peak_share_mean: f64,
    pub peak_share_p90: Quantile,
    /// Excess failed requests attributable to the candidate.
    pub excess_failed_mean: f64,
    pub excess_failed_p90: Quantile,
    /// Bad versions that completed the rollout.
    pub escape: Rate,
    /// Good versions rolled back.
    pub false_rollback: Rate,
    /// Trials held at the time limit.
    pub held: Rate,
    /// Rollout duration in hours, over the group's *completed* rollouts only
    /// (the time a policy costs a good version; rollbacks are not faster rollouts).
    pub duration_p50_h: Quantile,
    /// Hours from the start to the rollback decision, over good versions rolled back.
    pub false_rollback_time_p50_h: Quantile,
    /// The population of an overall row; `None` for a fault entry's row.
    pub population: Option<Population>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub scenario: String,
    pub seed: u64,
    pub trials: u64,
    /// One row per fault entry, in scenario order, then `all bad` and `all good`.
    pub groups: Vec<GroupSummary>,
}

fn group(name: &str, kind: &str, bad: bool, rs: &[&TrialRecord]) -> GroupSummary {
    let n = rs.len() as u64;
    let count = |f: &dyn Fn(&TrialRecord) -> bool| rs.iter().filter(|r| f(r)).count() as u64;
    let det: Vec<f64> = sorted(rs.iter().map(|r| r.detection.map_or(f64::INFINITY, |d| d.as_mins_f64())).collect());
    let peak: Vec<f64> = rs.iter().map(|r| r.peak_weight).collect();
    let excess: Vec<f64> = rs.iter().map(|r| r.excess_failed).collect();
    let dur: Vec<f64> = sorted(rs.iter().filter(|r| r.outcome == Outcome::Completed).map(|r| r.end.hours()).collect());
    let fr_time: Vec<f64> =
        sorted(rs.iter().filter(|r| r.false_rollback()).filter_map(|r| r.rollback_at.map(|t| t.hours())).collect());
    GroupSummary {
        name: name.to_string(),
        kind: kind.to_string(),
        trials: n,
        bad,
        detected: wilson(count(&|r| r.detected()), n),
        detection_p50_min: quantile(&det, 0.5),
        detection_p90_min: quantile(&det, 0.9),
        peak_share_mean: mean(&peak),
        peak_share_p90: quantile(&sorted(peak.clone()), 0.9),
        excess_failed_mean: mean(&excess),
        excess_failed_p90: quantile(&sorted(excess.clone()), 0.9),
        escape: wilson(count(&|r| r.escape()), n),
        false_rollback: wilson(count(&|r| r.false_rollback()), n),
        held: wilson(count(&|r| r.outcome == Outcome::HeldAtTimeLimit), n),
        duration_p50_h: quantile(&dur, 0.5),
        false_rollback_time_p50_h: quantile(&fr_time, 0.5),
        population: None,
    }
}

impl Summary {
    pub fn new(sc: &Scenario, seed: u64, records: &[TrialRecord]) -> Summary {
        let mut groups = Vec::new();
        for (i, f) in sc.faults.iter().enumerate() {
            let rs: Vec<&TrialRecord> = records.iter().filter(|r| r.fault == i).collect();
            groups.push(group(&f.name, f.kind.name(), f.kind.candidate_is_bad(), &rs));
        }
        // Overall rows: bad versions, and good versions apart by population;
        // the outside-incident row only when the mix has such an entry.
        for p in Population::ALL {
            if p == Population::Incident && !sc.faults.iter().any(|f| Population::of(&f.kind) == p) {
                continue;
            }
            let rs: Vec<&TrialRecord> = records.iter().filter(|r| r.population(sc) == p).collect();
            let mut g = group(p.label(), "*", p == Population::Bad, &rs);
            g.population = Some(p);
            groups.push(g);
        }
        Summary { scenario: sc.name.clone(), seed, trials: records.len() as u64, groups }
    }

    fn overall(&self, p: Population) -> Option<&GroupSummary> {
        self.groups.iter().find(|g| g.population == Some(p))
    }

    pub fn overall_bad(&self) -> &GroupSummary {
        self.overall(Population::Bad).expect("Summary::new always adds the bad row")
    }

    /// Good versions under noise alone: the false-alarm rate to tune.
    pub fn overall_good(&self) -> &GroupSummary {
        self.overall(Population::Noise).expect("Summary::new always adds the noise row")
    }

    /// Good versions during an outside incident, when the mix has one.
    pub fn overall_incident(&self) -> Option<&GroupSummary> {
        self.overall(Population::Incident)
    }
}

pub fn pct(r: &Rate) -> String {
    if r.n == 0 {
        return "—".into();
    }
    format!("{:.1}% [{:.1}, {:.1}]", 100.0 * r.value, 100.0 * r.lo, 100.0 * r.hi)
}

/// An unbounded interval end (too few trials for an exact bound) or a
/// censored value (never detected) prints as ∞ or -∞.
fn inf_or(v: f64, digits: usize) -> String {
    if v == f64::INFINITY {
        "∞".to_string()
    } else if v == f64::NEG_INFINITY {
        "-∞".to_string()
    } else {
        format!("{v:.digits$}")
    }
}

pub fn minutes(q: &Quantile) -> String {
    let f = |v: f64| inf_or(v, 0);
    if q.n == 0 || q.value.is_nan() {
        return "—".into();
    }
    format!("{} [{}, {}]", f(q.value), f(q.lo), f(q.hi))
}

/// Hours with the interval, `—` when the group has none.
pub fn hours(q: &Quantile) -> String {
    let f = |v: f64| inf_or(v, 1);
    if q.n == 0 || q.value.is_nan() {
        return "—".into();
    }
    format!("{} h [{}, {}]", f(q.value), f(q.lo), f(q.hi))
}

/// `label: a, b, c` wrapped at [`TEXT_WIDTH`] columns, continuation lines
/// indented by two spaces.
pub fn wrap_list(label: &str, parts: &[String]) -> String {
    let mut out = format!("{label}:");
    let mut width = out.chars().count();
    for (i, p) in parts.iter().enumerate() {
        let piece = if i + 1 < parts.len() { format!("{p},") } else { p.clone() };
        let n = piece.chars().count();
        if width + 1 + n > TEXT_WIDTH && width > 2 {
            out.push_str("\n ");
            width = 1;
        }
        out.push(' ');
        out.push_str(&piece);
        width += 1 + n;
    }
    out
}

/// The widest line [`render_text`] writes (fault names up to 22 characters).
pub const TEXT_WIDTH: usize = 100;

/// A count in at most six characters: `14198`, `250k`, `1.2M`.
fn compact(v: f64) -> String {
    crate::units::format_count(v, 100_000.0)
}

/// A rate as a bare percentage; the interval is in `summary.md`.
fn pct_short(r: &Rate) -> String {
    if r.n == 0 {
        return "—".into();
    }
    format!("{:.1}%", 100.0 * r.value)
}

fn minutes_short(q: &Quantile) -> String {
    if q.n == 0 || q.value.is_nan() {
        return "—".into();
    }
    inf_or(q.value, 0)
}

/// Cuts `name` to `width` characters, marking the cut with `…`.
fn fit(name: &str, width: usize) -> String {
    if name.chars().count() <= width {
        return name.to_string();
    }
    name.chars().take(width - 1).chain(std::iter::once('…')).collect()
}

/// The per-fault table as plain text for the terminal, at most
/// [`TEXT_WIDTH`] columns: point estimates with units in the headers (the 95%
/// intervals are in `summary.md` and `summary.json`).
pub fn render_text(s: &Summary) -> String {
    let mut o = String::new();
    let line = |o: &mut String, c: [&str; 9]| {
        let _ = writeln!(
            o,
            "{:<22}  {:>6} {:>8} {:>10} {:>10} {:>8} {:>9} {:>8} {:>9}",
            c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]
        );
    };
    line(&mut o, ["", "", "", "detection", "detection", "peak", "excess", "", "false"]);
    line(&mut o, ["fault", "trials", "detected", "p50 (min)", "p90 (min)", "share", "failed", "escaped", "rollback"]);
    for g in &s.groups {
        let (det, p50, p90, esc, fr) = if g.bad {
            (
                pct_short(&g.detected),
                minutes_short(&g.detection_p50_min),
                minutes_short(&g.detection_p90_min),
                pct_short(&g.escape),
                "—".into(),
            )
        } else {
            ("—".into(), "—".into(), "—".into(), "—".into(), pct_short(&g.false_rollback))
        };
        let peak = format!("{:.1}%", 100.0 * g.peak_share_mean);
        let cells =
            [fit(&g.name, 22), g.trials.to_string(), det, p50, p90, peak, compact(g.excess_failed_mean), esc, fr];
        line(&mut o, cells.each_ref().map(String::as_str));
    }
    let _ = writeln!(o, "(peak share and excess failed requests: means per trial; 95% intervals in summary.md)");
    let good = s.overall_good();
    let _ = writeln!(o, "good versions, noise only: completed rollout p50 {}", hours(&good.duration_p50_h));
    let _ = writeln!(
        o,
        "  false rollbacks {} at p50 {} after the start",
        pct(&good.false_rollback),
        hours(&good.false_rollback_time_p50_h)
    );
    if let Some(inc) = s.overall_incident() {
        let _ = writeln!(o, "good versions during an outside incident: rolled back {}", pct(&inc.false_rollback));
    }
    o
}
