//! One trial's outcome figures as compare, sweep and the charts read them:
//! from a simulated [`TrialRecord`], or from the trial table of a report
//! folder (the one reader of that table for these figures).

use crate::scenario::Scenario;
use crate::sim::{Outcome, Population, TrialRecord};
use std::path::{Path, PathBuf};

/// One trial, as far as a comparison, a sweep or a chart needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub fault: String,
    pub bad: bool,
    pub population: Population,
    /// The rollout completed (reached 100% and passed).
    pub completed: bool,
    /// Minutes from onset to the rollback decision (bad versions detected after onset).
    pub detection_min: Option<f64>,
    pub peak_share: f64,
    pub excess_failed: f64,
    pub false_rollback: bool,
    /// Hours from the start to the end of the rollout.
    pub end_h: f64,
    /// Hours to the rollback decision, if any.
    pub rollback_h: Option<f64>,
    /// Hours at which each phase's traffic was reached.
    pub phase_h: Vec<Option<f64>>,
}

impl Row {
    pub fn from_record(sc: &Scenario, r: &TrialRecord) -> Row {
        Row {
            fault: sc.faults[r.fault].name.clone(),
            bad: r.bad,
            population: r.population(sc),
            completed: r.outcome == Outcome::Completed,
            detection_min: r.detection.map(|d| d.as_mins_f64()),
            peak_share: r.peak_weight,
            excess_failed: r.excess_failed,
            false_rollback: r.false_rollback(),
            end_h: r.end.hours(),
            rollback_h: r.rollback_at.map(|t| t.hours()),
            phase_h: r.phase_times.iter().map(|t| t.map(|t| t.hours())).collect(),
        }
    }
}

/// An error reading a report folder; names the file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct InputError {
    pub path: PathBuf,
    pub message: String,
}

/// Reads the trial rows of a report folder written by `rollsim run`.
pub fn read_report(dir: &Path) -> Result<Vec<Row>, InputError> {
    let path = dir.join("trials.parquet");
    crate::io::guard_with(|| read_report_unguarded(dir), |message| InputError { path, message: message.into() })
}

fn read_report_unguarded(dir: &Path) -> Result<Vec<Row>, InputError> {
    let path = dir.join("trials.parquet");
    let bad = |message: String| InputError { path: path.clone(), message };
    if !dir.is_dir() {
        return Err(InputError { path: dir.to_path_buf(), message: "not a report folder (no such directory)".into() });
    }
    let df = crate::io::trials::read(&path).map_err(bad)?;
    let col = |name: &str| df.column(name).map_err(|_| bad(format!("the trial table has no column `{name}`")));
    let wrong = |name: &str| bad(format!("column `{name}` has an unexpected type"));
    let fault = col("fault")?.str().map_err(|_| wrong("fault"))?.clone();
    let kind = col("fault_kind")?.str().map_err(|_| wrong("fault_kind"))?.clone();
    let outcome = col("outcome")?.str().map_err(|_| wrong("outcome"))?.clone();
    let is_bad = col("bad")?.bool().map_err(|_| wrong("bad"))?.clone();
    let det = col("detection_s")?.u64().map_err(|_| wrong("detection_s"))?.clone();
    let peak = col("peak_share")?.f64().map_err(|_| wrong("peak_share"))?.clone();
    let excess = col("excess_failed")?.f64().map_err(|_| wrong("excess_failed"))?.clone();
    let fr = col("false_rollback")?.bool().map_err(|_| wrong("false_rollback"))?.clone();
    let end = col("end_s")?.u64().map_err(|_| wrong("end_s"))?.clone();
    let rb = col("rollback_s")?.u64().map_err(|_| wrong("rollback_s"))?.clone();
    let stage_cols: Vec<String> = df
        .get_column_names()
        .iter()
        .filter(|n| n.starts_with("reached_") && n.ends_with("_s"))
        .map(|n| n.to_string())
        .collect();
    let mut stages = Vec::new();
    for c in &stage_cols {
        stages.push(col(c)?.u64().map_err(|_| wrong(c))?.clone());
    }
    let mut rows = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let missing = |name: &str| bad(format!("row {}: `{name}` is empty", i + 1));
        let bad_version = is_bad.get(i).ok_or_else(|| missing("bad"))?;
        let kind_text = kind.get(i).ok_or_else(|| missing("fault_kind"))?;
        let kind: crate::scenario::FaultType =
            kind_text.parse().map_err(|e| bad(format!("row {}: `fault_kind`: {e}", i + 1)))?;
        let population = match (bad_version, kind.is_outside_incident()) {
            (true, _) => Population::Bad,
            (false, true) => Population::Incident,
            (false, false) => Population::Noise,
        };
        rows.push(Row {
            fault: fault.get(i).ok_or_else(|| missing("fault"))?.to_string(),
            bad: bad_version,
            population,
            completed: outcome.get(i).ok_or_else(|| missing("outcome"))? == Outcome::Completed.name(),
            detection_min: det.get(i).map(|s| s as f64 / 60.0),
            peak_share: peak.get(i).ok_or_else(|| missing("peak_share"))?,
            excess_failed: excess.get(i).ok_or_else(|| missing("excess_failed"))?,
            false_rollback: fr.get(i).ok_or_else(|| missing("false_rollback"))?,
            end_h: end.get(i).ok_or_else(|| missing("end_s"))? as f64 / 3600.0,
            rollback_h: rb.get(i).map(|s| s as f64 / 3600.0),
            phase_h: stages.iter().map(|s| s.get(i).map(|v| v as f64 / 3600.0)).collect(),
        });
    }
    if rows.is_empty() {
        return Err(bad("the trial table is empty".into()));
    }
    Ok(rows)
}
