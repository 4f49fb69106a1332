//! Comparing two policies or two runs: per metric and fault kind, the change
//! with a 95% bootstrap interval and a verdict (better / worse / no significant
//! change), and whether a change is a regression beyond the user's tolerance.
//!
//! Two scenarios run on the same trials (same seed and indices: the same
//! candidates, faults and onsets) are compared pairwise, trial by trial; so are
//! two report folders whose trials carry the same faults in the same order.
//! Otherwise the two sets are resampled independently. The bootstrap uses a
//! fixed seed: the same inputs give the same report.

pub mod output;

pub use crate::rows::{read_report, InputError, Row};
use crate::sim::rng::{splitmix64, SimRng};
use crate::sim::Population;
use crate::stats::{quantile, sorted};
use rand::{Rng, SeedableRng};

/// The metrics a comparison reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MetricId {
    DetectionRate,
    P50Detection,
    P90Detection,
    ExcessFailed,
    PeakSpread,
    FalseRollback,
    FalseRollbackTime,
    Duration,
}

impl MetricId {
    pub const ALL: [MetricId; 8] = [
        MetricId::DetectionRate,
        MetricId::P50Detection,
        MetricId::P90Detection,
        MetricId::ExcessFailed,
        MetricId::PeakSpread,
        MetricId::FalseRollback,
        MetricId::FalseRollbackTime,
        MetricId::Duration,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MetricId::DetectionRate => "detection_rate",
            MetricId::P50Detection => "p50_detection",
            MetricId::P90Detection => "p90_detection",
            MetricId::ExcessFailed => "excess_failed",
            MetricId::PeakSpread => "peak_spread",
            MetricId::FalseRollback => "false_rollback",
            MetricId::FalseRollbackTime => "false_rollback_time",
            MetricId::Duration => "duration",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            MetricId::DetectionRate => "detection rate",
            MetricId::P50Detection => "detection time p50 (min)",
            MetricId::P90Detection => "detection time p90 (min)",
            MetricId::ExcessFailed => "mean excess failed requests",
            MetricId::PeakSpread => "mean peak traffic share",
            MetricId::FalseRollback => "good versions rolled back",
            MetricId::FalseRollbackTime => "time to a false rollback p50 (h)",
            MetricId::Duration => "completed rollout p50 (h)",
        }
    }

    /// True when the metric is a rate or share (tolerances in `pp`, shown in %).
    pub fn is_share(self) -> bool {
        matches!(self, MetricId::DetectionRate | MetricId::PeakSpread | MetricId::FalseRollback)
    }

    /// True when a larger value is better (only the detection rate).
    pub fn higher_is_better(self) -> bool {
        self == MetricId::DetectionRate
    }

    /// +1 when larger is worse, -1 when larger is better.
    pub fn worse_sign(self) -> f64 {
        if self.higher_is_better() {
            -1.0
        } else {
            1.0
        }
    }

    /// Which trials the metric reads: bad versions, or good ones.
    pub fn on_bad(self) -> bool {
        !matches!(self, MetricId::FalseRollback | MetricId::FalseRollbackTime | MetricId::Duration)
    }

    pub fn from_name(s: &str) -> Option<MetricId> {
        MetricId::ALL.into_iter().find(|m| m.name() == s)
    }

    /// The population a bare metric name addresses: bad versions, or good
    /// versions under noise alone.
    pub fn default_population(self) -> Population {
        if self.on_bad() {
            Population::Bad
        } else {
            Population::Noise
        }
    }

    /// The statistic over a set of rows (already restricted to bad or good).
    pub fn stat(self, rows: &[&Row]) -> f64 {
        let n = rows.len() as f64;
        if rows.is_empty() {
            return f64::NAN;
        }
        let share = |f: &dyn Fn(&Row) -> bool| rows.iter().filter(|r| f(r)).count() as f64 / n;
        let mean = |f: &dyn Fn(&Row) -> f64| rows.iter().map(|r| f(r)).sum::<f64>() / n;
        let det = || sorted(rows.iter().map(|r| r.detection_min.unwrap_or(f64::INFINITY)).collect());
        match self {
            MetricId::DetectionRate => share(&|r| r.detection_min.is_some()),
            MetricId::P50Detection => quantile(&det(), 0.5).value,
            MetricId::P90Detection => quantile(&det(), 0.9).value,
            MetricId::ExcessFailed => mean(&|r| r.excess_failed),
            MetricId::PeakSpread => mean(&|r| r.peak_share),
            MetricId::FalseRollback => share(&|r| r.false_rollback),
            // The median of no values is NaN (quantile of an empty set).
            MetricId::FalseRollbackTime => {
                quantile(&sorted(rows.iter().filter_map(|r| r.rollback_h.filter(|_| r.false_rollback)).collect()), 0.5)
                    .value
            }
            MetricId::Duration => {
                quantile(&sorted(rows.iter().filter(|r| r.completed).map(|r| r.end_h).collect()), 0.5).value
            }
        }
    }
}

/// A metric of one group of trials: `false_rollback` (the metric's default
/// population), `false_rollback[incident]`, `p90_detection[payment-only]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRef {
    pub metric: MetricId,
    /// A population key (`bad`, `noise`, `incident`) or a fault entry's name;
    /// `None` is the metric's default population.
    pub group: Option<String>,
}

impl MetricRef {
    pub fn bare(metric: MetricId) -> MetricRef {
        MetricRef { metric, group: None }
    }

    /// Parses `METRIC` or `METRIC[GROUP]`; `what` names the option in errors.
    pub fn parse(s: &str, what: &str) -> Result<MetricRef, String> {
        let s = s.trim();
        let (name, group) = match s.split_once('[') {
            Some((n, rest)) => {
                let g = rest.strip_suffix(']').ok_or_else(|| {
                    format!("{what}: expected METRIC[GROUP] such as `false_rollback[incident]`, found {s:?}")
                })?;
                if g.trim().is_empty() {
                    return Err(format!("{what}: empty group in {s:?}; expected e.g. `false_rollback[noise]`"));
                }
                (n.trim(), Some(g.trim().to_string()))
            }
            None => (s, None),
        };
        let metric = MetricId::from_name(name).ok_or_else(|| {
            let names: Vec<&str> = MetricId::ALL.iter().map(|m| m.name()).collect();
            format!("{what}: unknown metric {name:?}; expected one of {}", names.join(", "))
        })?;
        Ok(MetricRef { metric, group })
    }

    /// Whether `row` belongs to the addressed group (ignoring the bad/good side).
    pub fn selects(&self, row: &Row) -> bool {
        match &self.group {
            None => row.population == self.metric.default_population(),
            Some(g) => in_group(row, g),
        }
    }

    /// The value over `rows`: the addressed group, on the metric's side (bad or good).
    pub fn value(&self, rows: &[Row]) -> f64 {
        let sel: Vec<&Row> = rows.iter().filter(|r| r.bad == self.metric.on_bad() && self.selects(r)).collect();
        self.metric.stat(&sel)
    }

    /// Checks that the group exists among `rows` (a fault entry name or a population key).
    pub fn check_group(&self, rows: &[Row], what: &str) -> Result<(), String> {
        match &self.group {
            Some(g) if !rows.iter().any(|r| in_group(r, g)) => {
                let mut names: Vec<String> = Population::ALL.iter().map(|p| p.key().to_string()).collect();
                for r in rows {
                    if !names.contains(&r.fault) {
                        names.push(r.fault.clone());
                    }
                }
                Err(format!("{what}: no trials in group {g:?}; expected one of {}", names.join(", ")))
            }
            _ => Ok(()),
        }
    }

    pub fn name(&self) -> String {
        match &self.group {
            None => self.metric.name().to_string(),
            Some(g) => format!("{}[{g}]", self.metric.name()),
        }
    }
}

/// True when `row` is in group `g`: a population key or label, or a fault entry name.
fn in_group(row: &Row, g: &str) -> bool {
    row.fault == g || row.population.is_named(g)
}

/// How far a metric may get worse before it counts as a regression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tolerance {
    /// Relative to the base value (0.1 = 10%).
    Relative(f64),
    /// In the metric's unit (a fraction for rates and shares).
    Absolute(f64),
}

/// Default tolerances (they apply to the overall rows), documented in README.md.
pub fn default_tolerances() -> Vec<(MetricRef, Tolerance)> {
    vec![
        (MetricRef::bare(MetricId::DetectionRate), Tolerance::Absolute(0.01)),
        (MetricRef::bare(MetricId::P50Detection), Tolerance::Relative(0.10)),
        (MetricRef::bare(MetricId::P90Detection), Tolerance::Relative(0.10)),
        (MetricRef::bare(MetricId::ExcessFailed), Tolerance::Relative(0.10)),
        (MetricRef::bare(MetricId::PeakSpread), Tolerance::Absolute(0.01)),
        (MetricRef::bare(MetricId::FalseRollback), Tolerance::Absolute(0.005)),
        (MetricRef::bare(MetricId::FalseRollbackTime), Tolerance::Relative(0.10)),
        (MetricRef::bare(MetricId::Duration), Tolerance::Relative(0.10)),
    ]
}

/// Parses `--fail-on 'p90_detection:+10%,false_rollback[incident]:+5pp'` over the defaults.
/// A bare metric sets the tolerance of the overall rows; `METRIC[GROUP]` makes
/// that group's row decide the exit code too.
pub fn parse_tolerances(spec: &str) -> Result<Vec<(MetricRef, Tolerance)>, String> {
    let mut out = default_tolerances();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = part.rsplit_once(':').ok_or_else(|| {
            format!("--fail-on: expected METRIC:TOLERANCE such as `p90_detection:+10%`, found {part:?}")
        })?;
        let mref = MetricRef::parse(name, "--fail-on")?;
        let metric = mref.metric;
        let v = value.trim().trim_start_matches(['+', '-']);
        let num = |s: &str| s.trim().parse::<f64>().ok().filter(|x| x.is_finite() && *x >= 0.0);
        let tol = if let Some(p) = v.strip_suffix("pp") {
            if !metric.is_share() {
                return Err(format!("--fail-on: `pp` applies to rates and shares, not to {}", metric.name()));
            }
            num(p).map(|x| Tolerance::Absolute(x / 100.0))
        } else if let Some(p) = v.strip_suffix('%') {
            num(p).map(|x| Tolerance::Relative(x / 100.0))
        } else {
            num(v).map(Tolerance::Absolute)
        }
        .ok_or_else(|| format!("--fail-on: expected a tolerance such as `+10%`, `+0.5pp` or `+5`, found {value:?}"))?;
        match out.iter_mut().find(|(m, _)| *m == mref) {
            Some(slot) => slot.1 = tol,
            None => out.push((mref, tol)),
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Better,
    Worse,
    NoSignificantChange,
    /// Fewer than [`MIN_TRIALS`] trials on a side: no verdict either way.
    TooFewTrials,
}

/// The fewest trials on each side of a row that get a verdict. Below it even
/// the expanded bootstrap interval (`stats::expanded_alpha`) is far too
/// narrow: on two equal policies (paired, skewed values, 400 comparisons
/// each; `examples/verdict_calibration.rs`) it excluded zero for a mean's
/// change in 53% of comparisons at 2 trials, 22% at 3, 10% at 5, and 5.8–9.2%
/// from 10 to 50 trials, against the 5% a 95% interval promises.
pub const MIN_TRIALS: usize = 10;

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::NoSignificantChange => "no significant change",
            Verdict::TooFewTrials => "too few trials",
        }
    }
}

/// The verdict on a change `new − base` with interval `[lo, hi]`, for a metric
/// where larger is worse (`higher_is_better = false`) or better. *Worse* only
/// when the estimate and the whole interval lie on the bad side of zero,
/// *better* only when wholly on the good side; changes within float noise of
/// zero (relative to `scale`, the magnitude of the values compared) count as zero.
pub fn verdict(change: f64, lo: f64, hi: f64, higher_is_better: bool, scale: f64) -> Verdict {
    let eps = 1e-9 * scale.abs().max(1.0);
    let w = if higher_is_better { -1.0 } else { 1.0 };
    // Oriented so that positive = worse.
    let (c, a, b) = (w * change, w * lo, w * hi);
    let (a, b) = (a.min(b), a.max(b));
    if c.is_nan() || a.is_nan() || b.is_nan() {
        Verdict::NoSignificantChange
    } else if c > eps && a > eps {
        Verdict::Worse
    } else if c < -eps && b < -eps {
        Verdict::Better
    } else {
        Verdict::NoSignificantChange
    }
}

/// True when a change (new − base) goes beyond the tolerance in the bad direction.
pub fn beyond(metric: MetricId, change: f64, base: f64, tol: Tolerance) -> bool {
    let worse_by = metric.worse_sign() * change;
    match tol {
        Tolerance::Relative(f) => worse_by > f * base.abs(),
        Tolerance::Absolute(a) => worse_by > a,
    }
}

/// One metric of one group, compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Delta {
    pub metric: MetricId,
    pub base: f64,
    pub new: f64,
    /// new − base, and its 95% bootstrap interval.
    pub change: f64,
    pub lo: f64,
    pub hi: f64,
    pub verdict: Verdict,
    /// The tolerance that applies to this row, if any (overall rows, and groups named in `--fail-on`).
    pub tolerance: Option<Tolerance>,
    /// For rows with a tolerance: the interval at the Bonferroni-corrected level
    /// `1 − 5%/m` over the `m` rows with a tolerance, so that the chance of a
    /// false regression anywhere in a comparison stays within 5%.
    pub adjusted: Option<(f64, f64)>,
    /// Worse on the corrected interval, and beyond the tolerance.
    pub regression: bool,
}

/// All metrics of one group of trials (a population or a fault name).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupDeltas {
    pub name: String,
    /// An overall row (a population), as opposed to one fault entry.
    pub overall: bool,
    pub base_n: usize,
    pub new_n: usize,
    pub deltas: Vec<Delta>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub paired: bool,
    pub resamples: usize,
    /// Overall rows first (the populations present), then each fault name.
    pub groups: Vec<GroupDeltas>,
    pub tolerances: Vec<(MetricRef, Tolerance)>,
}

impl Comparison {
    /// True when some metric with a tolerance got worse beyond it.
    pub fn regressed(&self) -> bool {
        self.groups.iter().any(|g| g.deltas.iter().any(|d| d.regression))
    }
}

/// Difference that treats equal infinities (both undetected) as no change.
fn diff(new: f64, base: f64) -> f64 {
    if new == base || (new.is_nan() && base.is_nan()) {
        0.0
    } else {
        new - base
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1);
    sorted[i]
}

const BOOTSTRAP_SEED: u64 = 0x726F_6C6C_7369_6D21;

/// Compares `new` against `base`. Pairs trials by index when both have the
/// same faults in the same order.
pub fn compare(base: &[Row], new: &[Row], tolerances: &[(MetricRef, Tolerance)], resamples: usize) -> Comparison {
    let paired = base.len() == new.len() && base.iter().zip(new).all(|(a, b)| a.fault == b.fault && a.bad == b.bad);
    let mut names: Vec<String> = Vec::new();
    for r in base.iter().chain(new) {
        if !names.contains(&r.fault) {
            names.push(r.fault.clone());
        }
    }
    // (row name, population for overall rows, fault name for per-fault rows)
    let mut groups: Vec<(String, Option<Population>, Option<String>)> =
        Population::ALL.iter().map(|p| (p.label().to_string(), Some(*p), None)).collect();
    groups.extend(names.into_iter().map(|n| (n.clone(), None, Some(n))));
    let mut out: Vec<GroupDeltas> = Vec::new();
    // Rows with a tolerance: (group, delta, sorted bootstrap draws, scale, trials on the smaller side).
    let mut gated: Vec<(usize, usize, Vec<f64>, f64, usize)> = Vec::new();
    for (gi, (name, population, fault)) in groups.iter().enumerate() {
        let member = |r: &Row| match (population, fault) {
            (Some(p), _) => r.population == *p,
            (None, Some(f)) => &r.fault == f,
            _ => false,
        };
        let mut deltas = Vec::new();
        let (mut base_n, mut new_n) = (0, 0);
        for &metric in &MetricId::ALL {
            let keep = |r: &Row| member(r) && r.bad == metric.on_bad();
            let bi: Vec<usize> = (0..base.len()).filter(|&i| keep(&base[i])).collect();
            let ni: Vec<usize> = (0..new.len()).filter(|&i| keep(&new[i])).collect();
            if bi.is_empty() || ni.is_empty() {
                continue;
            }
            base_n = bi.len();
            new_n = ni.len();
            let stat = |rows: &[Row], idx: &[usize]| metric.stat(&idx.iter().map(|&i| &rows[i]).collect::<Vec<_>>());
            let b = stat(base, &bi);
            let n = stat(new, &ni);
            let mut rng = SimRng::seed_from_u64(splitmix64(BOOTSTRAP_SEED ^ (gi as u64) << 8 ^ metric as u64));
            let mut draws = Vec::with_capacity(resamples);
            let mut sb = vec![0usize; bi.len()];
            let mut sn = vec![0usize; ni.len()];
            for _ in 0..resamples {
                for s in sb.iter_mut() {
                    *s = bi[rng.random_range(0..bi.len())];
                }
                if paired {
                    // In paired mode both index sets are the same trials.
                    sn.clone_from(&sb);
                } else {
                    for s in sn.iter_mut() {
                        *s = ni[rng.random_range(0..ni.len())];
                    }
                }
                draws.push(diff(stat(new, &sn), stat(base, &sb)));
            }
            // A statistic undefined in some resamples (no false rollback drawn) has no interval.
            let draws = if draws.iter().any(|d| d.is_nan()) { Vec::new() } else { sorted(draws) };
            let n_min = bi.len().min(ni.len());
            let a = crate::stats::expanded_alpha(0.05, n_min);
            let (lo, hi) = (percentile(&draws, a / 2.0), percentile(&draws, 1.0 - a / 2.0));
            let change = diff(n, b);
            let scale = Some(b.abs().max(n.abs())).filter(|s| s.is_finite()).unwrap_or(1.0);
            let enough = n_min >= MIN_TRIALS;
            let verdict =
                if enough { verdict(change, lo, hi, metric.higher_is_better(), scale) } else { Verdict::TooFewTrials };
            let group_tol = tolerances.iter().find(|(m, _)| {
                m.metric == metric
                    && m.group
                        .as_deref()
                        .is_some_and(|g| fault.as_deref() == Some(g) || population.is_some_and(|p| p.is_named(g)))
            });
            let overall_tol = || {
                tolerances.iter().find(|(m, _)| {
                    m.metric == metric && m.group.is_none() && *population == Some(metric.default_population())
                })
            };
            let tolerance = group_tol.or_else(overall_tol).map(|t| t.1);
            if tolerance.is_some() {
                gated.push((out.len(), deltas.len(), draws, scale, n_min));
            }
            deltas.push(Delta {
                metric,
                base: b,
                new: n,
                change,
                lo,
                hi,
                verdict,
                tolerance,
                adjusted: None,
                regression: false,
            });
        }
        if !deltas.is_empty() {
            out.push(GroupDeltas { name: name.clone(), overall: population.is_some(), base_n, new_n, deltas });
        } else {
            gated.retain(|g| g.0 != out.len());
        }
    }
    // Regressions decide the exit code: correct for testing many metrics at once.
    let alpha = 0.05 / gated.len().max(1) as f64;
    for (g, d, draws, scale, n) in gated {
        let delta = &mut out[g].deltas[d];
        let a = crate::stats::expanded_alpha(alpha, n);
        let (lo, hi) = (percentile(&draws, a / 2.0), percentile(&draws, 1.0 - a / 2.0));
        let v = verdict(delta.change, lo, hi, delta.metric.higher_is_better(), scale);
        delta.adjusted = Some((lo, hi));
        delta.regression = delta.verdict != Verdict::TooFewTrials
            && v == Verdict::Worse
            && delta.tolerance.is_some_and(|t| beyond(delta.metric, delta.change, delta.base, t));
    }
    Comparison { paired, resamples, groups: out, tolerances: tolerances.to_vec() }
}
