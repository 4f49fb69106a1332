//! The trial table: one row per trial with every outcome field, via polars.

use super::ReportError;
use crate::scenario::Scenario;
use crate::sim::TrialRecord;
use polars::prelude::*;
use std::path::Path;

fn secs(t: Option<crate::time::SimTime>) -> Option<u64> {
    t.map(|t| t.0)
}

/// Builds the table in trial order. Times are seconds since the rollout
/// started; durations are seconds; null means "did not happen".
pub fn trial_table(sc: &Scenario, rs: &[TrialRecord]) -> PolarsResult<DataFrame> {
    let col = |name: &str, c: Column| c.with_name(name.into());
    let mut cols = vec![
        col("trial", Column::new("".into(), rs.iter().map(|r| r.trial).collect::<Vec<_>>())),
        // Hex text: 64-bit seeds overflow the signed integers most CSV readers infer.
        col("trial_seed", Column::new("".into(), rs.iter().map(|r| format!("{:#018x}", r.seed)).collect::<Vec<_>>())),
        col("fault", Column::new("".into(), rs.iter().map(|r| sc.faults[r.fault].name.clone()).collect::<Vec<_>>())),
        col(
            "fault_kind",
            Column::new("".into(), rs.iter().map(|r| sc.faults[r.fault].kind.name()).collect::<Vec<_>>()),
        ),
        col("bad", Column::new("".into(), rs.iter().map(|r| r.bad).collect::<Vec<_>>())),
        col("magnitude", Column::new("".into(), rs.iter().map(|r| r.magnitude).collect::<Vec<_>>())),
        col("onset_s", Column::new("".into(), rs.iter().map(|r| r.onset.0).collect::<Vec<_>>())),
        col("outcome", Column::new("".into(), rs.iter().map(|r| r.outcome.name()).collect::<Vec<_>>())),
        col("rollback_s", Column::new("".into(), rs.iter().map(|r| secs(r.rollback_at)).collect::<Vec<_>>())),
        col(
            "rollback_rule",
            Column::new(
                "".into(),
                rs.iter().map(|r| r.rollback_cause.map(|c| c.describe(&sc.policy))).collect::<Vec<_>>(),
            ),
        ),
        col("detection_s", Column::new("".into(), rs.iter().map(|r| r.detection.map(|d| d.0)).collect::<Vec<_>>())),
        col("first_alert_s", Column::new("".into(), rs.iter().map(|r| secs(r.first_alert)).collect::<Vec<_>>())),
        col("mitigation_s", Column::new("".into(), rs.iter().map(|r| r.mitigation.map(|d| d.0)).collect::<Vec<_>>())),
        col("peak_share", Column::new("".into(), rs.iter().map(|r| r.peak_weight).collect::<Vec<_>>())),
        col("candidate_requests", Column::new("".into(), rs.iter().map(|r| r.candidate_requests).collect::<Vec<_>>())),
        col("excess_failed", Column::new("".into(), rs.iter().map(|r| r.excess_failed).collect::<Vec<_>>())),
        col("excess_slow", Column::new("".into(), rs.iter().map(|r| r.excess_slow).collect::<Vec<_>>())),
        col("error_budget_burn", Column::new("".into(), rs.iter().map(|r| r.budget_burn).collect::<Vec<_>>())),
        col("instance_hours", Column::new("".into(), rs.iter().map(|r| r.instance_hours).collect::<Vec<_>>())),
        col("false_rollback", Column::new("".into(), rs.iter().map(|r| r.false_rollback()).collect::<Vec<_>>())),
        col("escape", Column::new("".into(), rs.iter().map(|r| r.escape()).collect::<Vec<_>>())),
        col("end_s", Column::new("".into(), rs.iter().map(|r| r.end.0).collect::<Vec<_>>())),
    ];
    for (i, p) in sc.policy.phases.iter().enumerate() {
        let name = format!("reached_{}_s", p.name);
        cols.push(col(&name, Column::new("".into(), rs.iter().map(|r| secs(r.phase_times[i])).collect::<Vec<_>>())));
    }
    DataFrame::new(rs.len(), cols)
}

pub fn write_parquet(path: &Path, df: &mut DataFrame) -> Result<(), ReportError> {
    let file = std::fs::File::create(path).map_err(super::io(path))?;
    ParquetWriter::new(file).finish(df).map_err(|source| ReportError::Table { path: path.to_path_buf(), source })?;
    Ok(())
}

pub fn write_csv(path: &Path, df: &mut DataFrame) -> Result<(), ReportError> {
    let mut file = std::fs::File::create(path).map_err(super::io(path))?;
    CsvWriter::new(&mut file).finish(df).map_err(|source| ReportError::Table { path: path.to_path_buf(), source })?;
    Ok(())
}
