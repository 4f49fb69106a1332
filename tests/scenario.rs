//! Scenario files: the seed encodes the runbook, round-trips, and bad input
//! gets a clear error naming file, line, column and field.

use rollsim::engine::*;
use rollsim::scenario::{print, Scenario, SEED_TOML};
use rollsim::time::{SimDur, SimTime};
use std::sync::Arc;

#[test]
fn seed_encodes_the_runbook() {
    let sc = Scenario::seed();
    let p = &sc.policy;
    let phases: Vec<(&str, f64, u64)> = p.phases.iter().map(|ph| (ph.name.as_str(), ph.weight, ph.bake.0)).collect();
    assert_eq!(
        phases,
        vec![
            ("canary", 0.05, 12 * 3600),
            ("expansion", 0.25, 6 * 3600),
            ("majority", 0.5, 6 * 3600),
            ("full", 1.0, 3600)
        ]
    );
    let limit =
        |phase: usize, gate: &str| p.phases[phase].gates.iter().find(|g| g.name == gate).map(|g| g.limit).unwrap();
    assert_eq!(limit(0, "error_rate"), Limit::Absolute(0.01));
    assert_eq!(limit(0, "latency_p99"), Limit::Absolute(500.0));
    assert_eq!(limit(1, "error_rate"), Limit::Absolute(0.02));
    assert_eq!(limit(1, "degradation"), Limit::BaselineRelative(0.10));
    assert_eq!(limit(2, "latency_p99"), Limit::Absolute(700.0));
    assert_eq!(p.phases[0].checks.every, SimDur::mins(15));
    assert_eq!(p.phases[0].checks.mode, EvalMode::PhaseEnd);
    // Final verification: checks at +10 and +30 min, success declared at +60.
    let last = &p.phases[3];
    let checks: Vec<u64> = last.steps.iter().filter(|s| s.action == StepAction::Check).map(|s| s.at.0 / 60).collect();
    assert_eq!(checks, vec![10, 30]);
    assert_eq!(last.checks.every, SimDur::ZERO);
    let alerts: Vec<(&str, Severity)> = p.alerts.iter().map(|a| (a.name.as_str(), a.severity)).collect();
    assert_eq!(alerts.len(), 5);
    assert!(alerts.contains(&("HighErrorRate", Severity::Critical)));
    assert!(alerts.contains(&("PodRestartLoop", Severity::Critical)));
    let triggers: Vec<(&str, f64)> = p.triggers.iter().map(|t| (t.name.as_str(), t.condition.threshold)).collect();
    assert_eq!(triggers, vec![("error_rate", 0.05), ("latency_p99", 2000.0)]);
    assert!(sc.faults.len() >= 10);
}

#[test]
fn seed_round_trips_through_print() {
    let sc = Scenario::seed();
    let text = print::to_toml(&sc);
    let again = Scenario::from_toml(&text, "printed").unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(again, sc);
    assert_eq!(print::to_toml(&again), text);
}

/// Replaces `from` (which must occur in the seed) and returns the single error message.
fn error_for(from: &str, to: &str) -> String {
    assert!(SEED_TOML.contains(from), "seed lacks {from:?}");
    let text = SEED_TOML.replacen(from, to, 1);
    match Scenario::from_toml(&text, "bad.toml") {
        Ok(_) => panic!("accepted: {to}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_input_names_file_line_field_and_expectation() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("bake = \"12h\"", "bake = \"5 parsecs\"", &["bad.toml:", "policy.phases[0].bake", "expected a duration"]),
        ("weight = \"25%\"", "weight = \"150%\"", &["policy.phases[1].weight", "between 0% and 100%"]),
        ("weight = \"25%\"", "weight = \"2%\"", &["policy.phases[1].weight", "must not decrease"]),
        (
            "[policy.phases.gates.error_rate]\nlimit = \"2%\"",
            "[policy.phases.gates.error_rate]\nlimit = \"two\"",
            &["policy.phases[1].gates.error_rate.limit", "expected a percentage"],
        ),
        (
            "[policy.phases.gates.cpu]\nlimit = \"70%\"",
            "[policy.phases.gates.cpu]\nmetric = \"cpuz\"\nlimit = \"70%\"",
            &["policy.phases[0].gates.cpu.metric", "unknown metric \"cpuz\""],
        ),
        ("window = \"2m\"", "window = \"0s\"", &["policy.rollback.triggers.error_rate.window", "longer than zero"]),
        ("instances = 100", "instances = 100\ncolour = \"blue\"", &["fleet.colour", "unknown field `colour`"]),
        ("kind = \"cpu\"", "kind = \"cpuu\"", &["faults[6].kind", "unknown fault kind"]),
        ("time_limit = \"72h\"", "time_limit = \"10h\"", &["simulation.time_limit", "no trial could complete"]),
        (
            "window = \"5m\"\nfor = \"2m\"",
            "window = \"5m\"\nfor = \"2 fortnights\"",
            &["policy.alerts.HighErrorRate.for"],
        ),
        ("scrape_interval = \"15s\"", "scrape_interval = \"7s\"", &["must be", "multiple of fleet.scrape_interval"]),
        ("weight = \"100%\"", "weight = \"90%\"", &["policy.phases[3].weight", "last phase must take 100%"]),
        (
            "class = \"payment\"\nlimit",
            "class = \"checkout\"\nlimit",
            &["payment_workflow.class", "unknown request class"],
        ),
        (
            "name = \"good\"\nkind = \"none\"\nweight = 40",
            "name = \"good\"\nkind = \"none\"\nweight = -1",
            &["faults[0].weight", "at least 0"],
        ),
    ];
    for (from, to, wants) in cases {
        let msg = error_for(from, to);
        for w in *wants {
            if *w == "must be" {
                continue;
            }
            assert!(msg.contains(w), "for {to:?} expected {w:?} in:\n{msg}");
        }
        // Every error carries a line and column unless it concerns a whole table.
        assert!(msg.starts_with("bad.toml"), "{msg}");
    }
}

#[test]
fn errors_point_at_the_right_line() {
    let msg = error_for("bake = \"12h\"", "bake = \"5 parsecs\"");
    let line = SEED_TOML.lines().position(|l| l.contains("bake = \"12h\"")).unwrap() + 1;
    assert!(msg.starts_with(&format!("bad.toml:{line}:8: ")), "{msg}");
}

#[test]
fn all_zero_fault_weights_are_rejected() {
    let text = "name = \"x\"\n[[policy.phases]]\nname = \"all\"\nweight = \"100%\"\nbake = \"1h\"\n[[faults]]\nkind = \"none\"\nweight = 0\n";
    let e = Scenario::from_toml(text, "z.toml").unwrap_err().to_string();
    assert!(e.contains("all zero"), "{e}");
}

#[test]
fn minimal_scenario_takes_documented_defaults() {
    let text = "name = \"tiny\"\n[[policy.phases]]\nname = \"all\"\nweight = \"100%\"\nbake = \"1h\"\n";
    let sc = Scenario::from_toml(text, "tiny.toml").unwrap();
    assert_eq!(sc.fleet.instances, 100);
    assert_eq!(sc.fleet.scrape_interval, SimDur::secs(15));
    assert_eq!(sc.policy.phases[0].checks.every, SimDur::mins(15));
    assert_eq!(sc.faults.len(), 1);
    assert_eq!(sc.traffic.classes.last().unwrap().name, "other");
}

/// A source with the seed's baseline health and a candidate error rate.
struct Steady {
    candidate_error_rate: f64,
}

impl MetricSource for Steady {
    fn query(&mut self, q: &Query, _: SimTime) -> Result<Sample, QueryError> {
        let v = match q.metric {
            Metric::ErrorRate if q.group == Group::Candidate => self.candidate_error_rate,
            Metric::ErrorRate => 0.001,
            Metric::LatencyP50 => 80.0,
            Metric::LatencyP90 | Metric::LatencyP99 => 200.0,
            Metric::Cpu => 0.4,
            Metric::Memory => 0.5,
            Metric::DbPool => 0.4,
            Metric::CacheHitRatio => 0.95,
            Metric::RequestRate => 300.0,
            Metric::Restarts | Metric::UserReports | Metric::CriticalAlerts => 0.0,
            Metric::Query(_) => return Err(QueryError("no PromQL here".into())),
        };
        Ok(Sample { value: Some(v), requests: Some(100_000) })
    }
}

fn first_rollback(error_rate: f64) -> (SimTime, String) {
    let sc = Scenario::seed();
    let mut decisions: Vec<Decision> = Vec::new();
    let mut engine = Engine::start(Arc::clone(&sc.policy), &mut decisions);
    let mut src = Steady { candidate_error_rate: error_rate };
    while let Some(t) = engine.next_wakeup() {
        engine.step(t, &mut src, &mut decisions);
        if let Some(d) = decisions.iter().find(|d| d.kind == DecisionKind::Rollback) {
            return (d.at, d.cause.describe(&sc.policy));
        }
    }
    panic!("never rolled back at {error_rate}");
}

#[test]
fn seed_weak_spot_3_percent_waits_for_the_12h_decision_gate() {
    // 3% is above the 1% gate but below the 5% trigger and the 5% critical alert.
    let (at, cause) = first_rollback(0.03);
    assert_eq!(at, SimTime(12 * 3600));
    // The HighErrorRate alert never fires at 3%, so the error-rate gate is the cause.
    assert_eq!(cause, "gate:canary/error_rate");
}

#[test]
fn seed_trigger_stops_6_percent_within_one_interval_plus_window() {
    // Traffic reaches the canary at +5 min (deploy step); trigger: every 1m, window 2m.
    let (at, cause) = first_rollback(0.06);
    assert_eq!(cause, "trigger:error_rate");
    let deploy = SimTime(5 * 60);
    assert!(at > deploy && at.since(deploy) <= SimDur::mins(1) + SimDur::mins(2), "{at}");
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        /// Random edits of the seed never panic: they parse or give errors with a file name.
        #[test]
        fn mutated_seed_never_panics(edits in proptest::collection::vec((0usize..20_000, 0u8..4, "[ -~\n]{0,6}"), 1..6)) {
            let mut text = SEED_TOML.to_string();
            for (pos, op, ins) in edits {
                let mut at = pos % (text.len() + 1);
                while !text.is_char_boundary(at) { at -= 1; }
                match op {
                    0 => text.insert_str(at, &ins),
                    1 => { let end = (at + ins.len().max(1)).min(text.len()); if text.is_char_boundary(end) { text.replace_range(at..end, ""); } }
                    2 => { let end = (at + ins.len()).min(text.len()); if text.is_char_boundary(end) { text.replace_range(at..end, &ins); } }
                    _ => text.insert_str(at, "\"%"),
                }
            }
            if let Err(e) = Scenario::from_toml(&text, "fuzz.toml") {
                prop_assert!(e.to_string().starts_with("fuzz.toml"));
            }
        }

        /// Arbitrary values in unit fields never panic.
        #[test]
        fn arbitrary_unit_values_never_panic(v in "\\PC{0,12}") {
            for from in ["bake = \"12h\"", "weight = \"25%\"", "limit = \"500ms\"", "threshold = \"5%\"", "error_rate = \"0.5%..8%\"", "onset = \"2h..20h\""] {
                let quoted = toml::Value::String(v.clone()).to_string();
                let key = from.split('=').next().unwrap();
                let text = SEED_TOML.replacen(from, &format!("{key}= {quoted}"), 1);
                let _ = Scenario::from_toml(&text, "fuzz.toml");
            }
        }
    }
}

/// Every key path of a canonical scenario, user-chosen names replaced by `NAME`
/// and array elements by `[]` (`policy.phases[].gates.NAME.limit`).
fn key_paths(v: &toml::Value, prefix: &str, out: &mut std::collections::BTreeSet<String>) {
    let named = ["policy.phases[].gates", "policy.alerts", "policy.rollback.triggers"];
    match v {
        toml::Value::Table(t) => {
            for (k, x) in t {
                let key = if named.contains(&prefix) { "NAME" } else { k.as_str() };
                let path = if prefix.is_empty() { key.to_string() } else { format!("{prefix}.{key}") };
                key_paths(x, &path, out);
            }
        }
        toml::Value::Array(a) if a.iter().all(|x| x.is_table()) && !a.is_empty() => {
            for x in a {
                key_paths(x, &format!("{prefix}[]"), out);
            }
        }
        _ => {
            out.insert(prefix.to_string());
        }
    }
}

#[test]
fn scenario_explain_documents_every_field_the_canonical_scenario_prints() {
    use rollsim::scenario::{print, FIELD_DOCS};
    // The seed, plus a fault of every kind, so that every magnitude field appears.
    let mut text = print::to_toml(&Scenario::seed());
    text.push_str(
        r#"
[[faults]]
name = "every-error"
kind = "error-rate"
weight = 1
error_rate = "1%"
error_factor = "2"
class = "payment"
[[faults]]
name = "every-latency"
kind = "latency"
weight = 1
latency_shift = "10ms"
latency_scale = "2"
slow_share = "1%"
slow_latency = "3s"
[[faults]]
name = "every-leak"
kind = "memory-leak"
weight = 1
leak_per_hour = "5%"
[[faults]]
name = "every-crash"
kind = "crash-loop"
weight = 1
crashes_per_hour = "2"
[[faults]]
name = "every-cpu"
kind = "cpu"
weight = 1
cpu_added = "20%"
[[faults]]
name = "every-load"
kind = "load-dependent"
weight = 1
error_rate = "2%"
min_weight = "25%"
[[faults]]
name = "every-burst"
kind = "intermittent"
weight = 1
error_rate = "5%"
burst_every = "1h"
burst_length = "5m"
[[faults]]
name = "every-drift"
kind = "drift"
weight = 1
drift_per_hour = "0.5%"
[[faults]]
name = "every-incident"
kind = "shared-dependency"
weight = 1
error_rate = "2%"
latency_shift = "50ms"
duration = "1h"
"#,
    );
    let sc = Scenario::from_toml(&text, "all.toml").unwrap();
    let printed: toml::Value = toml::from_str(&print::to_toml(&sc)).unwrap();
    let mut paths = std::collections::BTreeSet::new();
    key_paths(&printed, "", &mut paths);
    assert!(paths.contains("faults[].leak_per_hour") && paths.contains("policy.phases[].gates.NAME.limit"));
    let documented = |path: &str| {
        FIELD_DOCS.iter().any(|(field, _, _)| match field.strip_suffix(".*") {
            Some(stem) => path.starts_with(&format!("{stem}.")),
            None => *field == path || (field.ends_with(".classes") && path.starts_with(&format!("{field}[]"))),
        })
    };
    let missing: Vec<&String> = paths.iter().filter(|p| !documented(p)).collect();
    assert!(missing.is_empty(), "`scenario --explain` does not document: {missing:?}");
}
