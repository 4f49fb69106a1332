//! Run reports: the trial table (Parquet and CSV via polars), a versioned
//! machine-readable summary (JSON) and a human summary (Markdown), written to
//! a temporary folder that is renamed into place only when complete, so an
//! interrupted run never leaves a report that looks finished.

pub mod charts;
pub mod html;
mod table;

use crate::scenario::{print, Scenario};
use crate::sim::TrialRecord;
use crate::stats::{Quantile, Rate};
use crate::summary::{minutes, pct, Summary};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub use table::{read_records, trial_table};

/// Version of the `summary.json` schema.
pub const SUMMARY_SCHEMA: u32 = 2;

/// How any trial of a report is re-run: from inside the report folder, with the
/// canonical copy of the scenario it ran (`{seed}` is filled in by the run).
pub const REPRODUCE_TEMPLATE: &str = "rollsim trace scenario.toml --trial {trial} --seed {seed}";

/// What identifies a run: enough to reproduce it.
#[derive(Debug, Clone)]
pub struct RunMeta {
    pub scenario: String,
    /// SHA-256 of the scenario's canonical TOML.
    pub scenario_hash: String,
    pub seed: u64,
    pub trials: u64,
    pub program_version: String,
    /// The command that reproduces any trial, with `{trial}` to fill in.
    pub reproduce: String,
}

/// SHA-256 (hex) of the scenario's canonical form — the same policy written
/// differently hashes the same — and of the *content* of every recording a
/// `recorded` fault replays (the canonical form names only its path).
pub fn scenario_hash(sc: &Scenario) -> String {
    let mut h = Sha256::new();
    // Where a recording lives does not matter, only what it holds.
    let mut unplaced = sc.clone();
    for f in &mut unplaced.faults {
        if let crate::scenario::FaultKind::Recorded { data, .. } = &mut f.kind {
            data.clear();
        }
    }
    h.update(print::to_toml(&unplaced).as_bytes());
    for f in &sc.faults {
        if let crate::scenario::FaultKind::Recorded { shape, .. } = &f.kind {
            h.update(b"\0recorded shape\0");
            for (t, v) in &shape.points {
                h.update(t.to_le_bytes());
                h.update(v.to_bits().to_le_bytes());
            }
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Table { path: PathBuf, source: polars::error::PolarsError },
    #[error("cannot draw chart {stem}: {message}")]
    Chart { stem: String, message: String },
    #[error(transparent)]
    Data(#[from] crate::io::IoError),
    #[error(transparent)]
    Out(#[from] crate::outdir::OutError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io { path: path.to_path_buf(), source }
}

/// A rate with its 95% interval, as `summary.json` writes it. Fields are
/// declared in alphabetical order: the order the format has always had.
#[derive(serde::Serialize)]
struct RateDoc {
    ci95: [Option<f64>; 2],
    count: u64,
    n: u64,
    value: Option<f64>,
}

impl From<&Rate> for RateDoc {
    fn from(r: &Rate) -> RateDoc {
        RateDoc { ci95: [finite(r.lo), finite(r.hi)], count: r.hits, n: r.n, value: finite(r.value) }
    }
}

#[derive(serde::Serialize)]
struct QuantileDoc {
    ci95: [Option<f64>; 2],
    n: usize,
    q: f64,
    value: Option<f64>,
}

impl From<&Quantile> for QuantileDoc {
    fn from(q: &Quantile) -> QuantileDoc {
        QuantileDoc { ci95: [finite(q.lo), finite(q.hi)], n: q.n, q: q.q, value: finite(q.value) }
    }
}

#[derive(serde::Serialize)]
struct GroupDoc<'a> {
    bad: bool,
    detected: RateDoc,
    detection_p50_min: QuantileDoc,
    detection_p90_min: QuantileDoc,
    duration_p50_h: QuantileDoc,
    escape: RateDoc,
    excess_failed_mean: Option<f64>,
    excess_failed_p90: QuantileDoc,
    false_rollback: RateDoc,
    false_rollback_time_p50_h: QuantileDoc,
    held: RateDoc,
    kind: &'a str,
    name: &'a str,
    peak_share_mean: Option<f64>,
    peak_share_p90: QuantileDoc,
    population: Option<&'static str>,
    trials: u64,
}

/// `summary.json` (schema [`SUMMARY_SCHEMA`]).
#[derive(serde::Serialize)]
struct SummaryDoc<'a> {
    groups: Vec<GroupDoc<'a>>,
    program: &'static str,
    program_version: &'a str,
    reproduce: &'a str,
    scenario: &'a str,
    scenario_hash: &'a str,
    schema: u32,
    seed: u64,
    trials: u64,
}

/// JSON has no infinity: censored values (never detected) are `null`.
pub(crate) fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// `summary.json`: versioned schema, run identity, per-fault aggregates.
pub fn summary_json(meta: &RunMeta, s: &Summary) -> String {
    let groups = s
        .groups
        .iter()
        .map(|g| GroupDoc {
            bad: g.bad,
            detected: (&g.detected).into(),
            detection_p50_min: (&g.detection_p50_min).into(),
            detection_p90_min: (&g.detection_p90_min).into(),
            duration_p50_h: (&g.duration_p50_h).into(),
            escape: (&g.escape).into(),
            excess_failed_mean: finite(g.excess_failed_mean),
            excess_failed_p90: (&g.excess_failed_p90).into(),
            false_rollback: (&g.false_rollback).into(),
            false_rollback_time_p50_h: (&g.false_rollback_time_p50_h).into(),
            held: (&g.held).into(),
            kind: &g.kind,
            name: &g.name,
            peak_share_mean: finite(g.peak_share_mean),
            peak_share_p90: (&g.peak_share_p90).into(),
            population: g.population.map(|p| p.key()),
            trials: g.trials,
        })
        .collect();
    let doc = SummaryDoc {
        groups,
        program: "rollsim",
        program_version: &meta.program_version,
        reproduce: &meta.reproduce,
        scenario: &meta.scenario,
        scenario_hash: &meta.scenario_hash,
        schema: SUMMARY_SCHEMA,
        seed: meta.seed,
        trials: meta.trials,
    };
    let mut text = serde_json::to_string_pretty(&doc).expect("the summary serialises");
    text.push('\n');
    text
}

/// `summary.md`: tables fit for a CI step summary or a pull-request comment.
pub fn summary_md(meta: &RunMeta, s: &Summary) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# rollsim: {}\n", meta.scenario);
    let _ = writeln!(
        o,
        "{} trials, seed {}, scenario hash `{}`, rollsim {}.\n",
        meta.trials,
        meta.seed,
        &meta.scenario_hash[..12],
        meta.program_version
    );
    let bad = s.overall_bad();
    let good = s.overall_good();
    let _ = writeln!(o, "- Bad versions detected: {}; escaped to 100%: {}", pct(&bad.detected), pct(&bad.escape));
    let _ = writeln!(
        o,
        "- Detection time (minutes from onset) p50 {}, p90 {}",
        minutes(&bad.detection_p50_min),
        minutes(&bad.detection_p90_min)
    );
    let _ = writeln!(
        o,
        "- Good versions rolled back under noise alone (false rollbacks): {}, p50 {} after the start",
        pct(&good.false_rollback),
        crate::summary::hours(&good.false_rollback_time_p50_h)
    );
    if let Some(inc) = s.overall_incident() {
        let _ = writeln!(
            o,
            "- Good versions rolled back during an outside incident (shared dependency): {}",
            pct(&inc.false_rollback)
        );
    }
    let _ = writeln!(
        o,
        "- Completed rollouts of good versions (noise only) took p50 {}\n",
        crate::summary::hours(&good.duration_p50_h)
    );
    let _ = writeln!(o, "Values are estimates with 95% confidence intervals in brackets; ∞ = not detected.\n");
    let _ = writeln!(
        o,
        "| fault | kind | trials | detected | detection p50 (min) | detection p90 (min) | mean peak share | mean excess failed | escaped | false rollback |"
    );
    let _ = writeln!(o, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for g in &s.groups {
        let dash = || "—".to_string();
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {:.1}% | {} | {} | {} |",
            g.name,
            g.kind,
            g.trials,
            if g.bad { pct(&g.detected) } else { dash() },
            if g.bad { minutes(&g.detection_p50_min) } else { dash() },
            if g.bad { minutes(&g.detection_p90_min) } else { dash() },
            100.0 * g.peak_share_mean,
            crate::units::format_count(g.excess_failed_mean, f64::INFINITY),
            if g.bad { pct(&g.escape) } else { dash() },
            if g.bad { dash() } else { pct(&g.false_rollback) },
        );
    }
    let _ = writeln!(o, "\nReproduce any trial, from this folder (it holds the scenario it ran): `{}`", meta.reproduce);
    o
}

fn chart<C: charts::Chart>(c: &C, dir: &Path, out: &mut Vec<(String, String)>) -> Result<(), ReportError> {
    charts::render(c, dir).map_err(|message| ReportError::Chart { stem: c.stem(), message })?;
    out.push((c.stem(), c.title()));
    Ok(())
}

/// A trial drawn as a timeline: why it was chosen, its row and its trace (the
/// caller re-runs it with [`crate::runner::trace`]; bit for bit the row of the run).
pub struct Traced {
    pub why: &'static str,
    pub record: TrialRecord,
    pub trace: crate::sim::Trace,
}

/// Representative trials for timelines: the slowest detection, the largest
/// excess failures, and a false rollback (each if any).
pub fn representative(records: &[TrialRecord]) -> Vec<(&'static str, u64)> {
    let mut out = Vec::new();
    if let Some(r) =
        records.iter().filter(|r| r.detection.is_some()).max_by_key(|r| (r.detection, std::cmp::Reverse(r.trial)))
    {
        out.push(("slowest detection", r.trial));
    }
    if let Some(r) = records
        .iter()
        .filter(|r| r.bad)
        .max_by(|a, b| a.excess_failed.total_cmp(&b.excess_failed).then(b.trial.cmp(&a.trial)))
    {
        out.push(("largest excess failures", r.trial));
    }
    if let Some(r) = records.iter().find(|r| r.false_rollback()) {
        out.push(("a false rollback", r.trial));
    }
    out
}

/// Stage labels such as `5% (canary)`, one per phase.
pub fn stage_names(sc: &Scenario) -> Vec<String> {
    sc.policy.phases.iter().map(|p| format!("{}% ({})", p.weight * 100.0, p.name)).collect()
}

fn write_charts(
    dir: &Path,
    sc: &Scenario,
    records: &[TrialRecord],
    traced: &[Traced],
) -> Result<Vec<(String, String)>, ReportError> {
    let mut out = Vec::new();
    chart(&charts::DetectionCdf { scenario: sc, records }, dir, &mut out)?;
    let rows: Vec<crate::rows::Row> = records.iter().map(|r| crate::rows::Row::from_record(sc, r)).collect();
    chart(&charts::Spread { rows: &rows, stages: stage_names(sc) }, dir, &mut out)?;
    chart(&charts::PeakShare { scenario: sc, records }, dir, &mut out)?;
    chart(&charts::ExcessFailed { scenario: sc, records }, dir, &mut out)?;
    chart(&charts::GoodVersions { scenario: sc, records }, dir, &mut out)?;
    for (i, t) in traced.iter().enumerate() {
        let t = charts::Timeline {
            scenario: sc,
            record: &t.record,
            trace: &t.trace,
            why: t.why.to_string(),
            stem: format!("timeline_{}", i + 1),
        };
        chart(&t, dir, &mut out)?;
    }
    Ok(out)
}

/// Writes the report folder atomically (see [`crate::outdir`]): everything goes
/// to a hidden sibling folder first, renamed into place once every file is written.
pub fn write(
    out: &crate::outdir::OutDir,
    sc: &Scenario,
    meta: &RunMeta,
    records: &[TrialRecord],
    s: &Summary,
    traced: &[Traced],
) -> Result<(), ReportError> {
    out.write(|tmp| fill(tmp, sc, meta, records, s, traced))
}

/// Writes `dir/scenario.toml`, the canonical scenario, with a copy of every
/// recording a `recorded` fault replays under `dir/recordings/`, so the folder
/// is self-contained: `rollsim trace scenario.toml` and `merge` work from it.
pub fn write_scenario(dir: &Path, sc: &Scenario) -> Result<(), ReportError> {
    let mut placed = sc.clone();
    for f in placed.faults.iter_mut() {
        // Named after the fault entry (names are unique), keeping the reader's extension:
        // the same name however often the folder is re-written (merge of shards).
        let stem: String =
            f.name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
        if let crate::scenario::FaultKind::Recorded { data, source, .. } = &mut f.kind {
            let ext = source.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
            let rel = format!("recordings/{stem}{ext}");
            let to = dir.join(&rel);
            std::fs::create_dir_all(dir.join("recordings")).map_err(io(dir))?;
            std::fs::copy(&*source, &to).map_err(io(&to))?;
            *data = rel;
        }
    }
    let toml = dir.join("scenario.toml");
    std::fs::write(&toml, print::to_toml(&placed)).map_err(io(&toml))
}

fn fill(
    tmp: &Path,
    sc: &Scenario,
    meta: &RunMeta,
    records: &[TrialRecord],
    s: &Summary,
    traced: &[Traced],
) -> Result<(), ReportError> {
    write_scenario(tmp, sc)?;
    let mut df = trial_table(sc, records).map_err(|source| ReportError::Table { path: tmp.join("trials"), source })?;
    crate::io::trials::write_parquet(&tmp.join("trials.parquet"), &mut df)?;
    crate::io::trials::write_csv(&tmp.join("trials.csv"), &mut df)?;
    let json = tmp.join("summary.json");
    std::fs::write(&json, summary_json(meta, s)).map_err(io(&json))?;
    let md = tmp.join("summary.md");
    std::fs::write(&md, summary_md(meta, s)).map_err(io(&md))?;
    let charts = write_charts(tmp, sc, records, traced)?;
    let index = tmp.join("index.html");
    let mut embedded = Vec::with_capacity(charts.len());
    for (stem, title) in &charts {
        let svg = tmp.join(format!("{stem}.svg"));
        embedded.push((title.clone(), std::fs::read_to_string(&svg).map_err(io(&svg))?));
    }
    std::fs::write(&index, html::page(meta, s, &embedded)).map_err(io(&index))?;
    Ok(())
}
