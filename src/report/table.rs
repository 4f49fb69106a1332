//! The trial table: one row per trial with every outcome field, via polars.

use crate::scenario::Scenario;
use crate::sim::TrialRecord;
use polars::prelude::*;

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
        col("events", Column::new("".into(), rs.iter().map(|r| r.events).collect::<Vec<_>>())),
    ];
    for (i, p) in sc.policy.phases.iter().enumerate() {
        let name = format!("reached_{}_s", p.name);
        cols.push(col(&name, Column::new("".into(), rs.iter().map(|r| secs(r.phase_times[i])).collect::<Vec<_>>())));
    }
    DataFrame::new(rs.len(), cols)
}

/// Reads trial records back from a table written by [`trial_table`] for the
/// same scenario (used to merge shards). Errors name the column and row.
pub fn read_records(sc: &Scenario, df: &DataFrame) -> Result<Vec<TrialRecord>, String> {
    use crate::engine::Cause;
    use crate::sim::Outcome;
    use crate::time::{SimDur, SimTime};
    let col = |name: &str| df.column(name).map_err(|_| format!("the trial table has no column `{name}`"));
    let u64s = |name: &str| -> Result<UInt64Chunked, String> {
        Ok(col(name)?.u64().map_err(|_| format!("column `{name}` is not an unsigned integer"))?.clone())
    };
    let f64s = |name: &str| -> Result<Float64Chunked, String> {
        Ok(col(name)?.f64().map_err(|_| format!("column `{name}` is not a float"))?.clone())
    };
    let strs = |name: &str| -> Result<StringChunked, String> {
        Ok(col(name)?.str().map_err(|_| format!("column `{name}` is not text"))?.clone())
    };
    let bools = |name: &str| -> Result<BooleanChunked, String> {
        Ok(col(name)?.bool().map_err(|_| format!("column `{name}` is not boolean"))?.clone())
    };
    let (trial, seed, fault, bad, magnitude) =
        (u64s("trial")?, strs("trial_seed")?, strs("fault")?, bools("bad")?, f64s("magnitude")?);
    let (onset, outcome, rollback, rule) =
        (u64s("onset_s")?, strs("outcome")?, u64s("rollback_s")?, strs("rollback_rule")?);
    let (detection, alert, mitigation) = (u64s("detection_s")?, u64s("first_alert_s")?, u64s("mitigation_s")?);
    let (peak, requests, excess, slow) =
        (f64s("peak_share")?, u64s("candidate_requests")?, f64s("excess_failed")?, f64s("excess_slow")?);
    let (burn, hours, end, events) =
        (f64s("error_budget_burn")?, f64s("instance_hours")?, u64s("end_s")?, u64s("events")?);
    let stages: Vec<UInt64Chunked> =
        sc.policy.phases.iter().map(|p| u64s(&format!("reached_{}_s", p.name))).collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let row = i + 1;
        let need = |v: Option<u64>, name: &str| v.ok_or_else(|| format!("row {row}: `{name}` is empty"));
        let needf = |v: Option<f64>, name: &str| v.ok_or_else(|| format!("row {row}: `{name}` is empty"));
        let fault_name = fault.get(i).ok_or_else(|| format!("row {row}: `fault` is empty"))?;
        let fault_idx = sc
            .faults
            .iter()
            .position(|f| f.name == fault_name)
            .ok_or_else(|| format!("row {row}: fault {fault_name:?} is not in the scenario's fault mix"))?;
        let seed_text = seed.get(i).unwrap_or("");
        let seed_val = u64::from_str_radix(seed_text.trim_start_matches("0x"), 16)
            .map_err(|_| format!("row {row}: `trial_seed` {seed_text:?} is not a hex seed"))?;
        let outcome = match outcome.get(i) {
            Some("completed") => Outcome::Completed,
            Some("rolled-back") => Outcome::RolledBack,
            Some("held") => Outcome::HeldAtTimeLimit,
            Some("event-cap") => Outcome::EventCap,
            other => return Err(format!("row {row}: unknown outcome {other:?}")),
        };
        let cause = match rule.get(i) {
            None => None,
            Some(t) => Some(Cause::parse(&sc.policy, t).ok_or_else(|| format!("row {row}: unknown rule {t:?}"))?),
        };
        out.push(TrialRecord {
            trial: need(trial.get(i), "trial")?,
            seed: seed_val,
            fault: fault_idx,
            bad: bad.get(i).ok_or_else(|| format!("row {row}: `bad` is empty"))?,
            magnitude: needf(magnitude.get(i), "magnitude")?,
            onset: SimTime(need(onset.get(i), "onset_s")?),
            outcome,
            rollback_at: rollback.get(i).map(SimTime),
            rollback_cause: cause,
            detection: detection.get(i).map(SimDur),
            first_alert: alert.get(i).map(SimTime),
            mitigation: mitigation.get(i).map(SimDur),
            peak_weight: needf(peak.get(i), "peak_share")?,
            candidate_requests: need(requests.get(i), "candidate_requests")?,
            excess_failed: needf(excess.get(i), "excess_failed")?,
            excess_slow: needf(slow.get(i), "excess_slow")?,
            budget_burn: needf(burn.get(i), "error_budget_burn")?,
            instance_hours: needf(hours.get(i), "instance_hours")?,
            end: SimTime(need(end.get(i), "end_s")?),
            phase_times: stages.iter().map(|s| s.get(i).map(SimTime)).collect(),
            events: need(events.get(i), "events")?,
        });
    }
    Ok(out)
}
