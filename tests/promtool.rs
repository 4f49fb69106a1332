//! Alert rules evaluate exactly as Prometheus does: random series with gaps and
//! random rules are replayed through rollsim, and rollsim's firing times are
//! written as the expected alerts of a `promtool test rules` file, which the
//! real promtool (Debian package `prometheus`, installed by `.ci/run`) checks.
//!
//! Without promtool the test is skipped, except under CI (`CI` set), where a
//! missing promtool is a failure.

use rand::{Rng, SeedableRng};
use rollsim::engine::{Group, Metric};
use rollsim::io::series::Recorded;
use rollsim::replay;
use rollsim::scenario::Scenario;
use rollsim::sim::rng::SimRng;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::PathBuf;
use std::process::Command;

fn promtool() -> Option<PathBuf> {
    let found = ["/usr/bin/promtool", "/usr/local/bin/promtool"].into_iter().map(PathBuf::from).find(|p| p.is_file());
    if found.is_none() && std::env::var_os("CI").is_some() {
        panic!("promtool is required under CI (.ci/run installs the Debian package `prometheus`)");
    }
    found
}

/// One random case: a series with gaps and one alert rule on it.
struct Case {
    /// Sample spacing of the series, seconds.
    step: u64,
    /// `None` is a gap (no sample).
    values: Vec<Option<f64>>,
    op: &'static str,
    threshold_pct: u32,
    for_s: u64,
}

const BASE: i64 = 1_700_000_000;
const LOOKBACK_S: u64 = 300;

fn random_case(rng: &mut SimRng) -> Case {
    let step = [30u64, 60, 120][rng.random_range(0..3)];
    let len = rng.random_range(4..30);
    let gap = [0.0, 0.2, 0.5][rng.random_range(0..3)];
    let mut values: Vec<Option<f64>> = (0..len)
        .map(|_| (rng.random::<f64>() >= gap).then(|| [1.0, 3.0, 5.0, 7.0, 9.0][rng.random_range(0..5)] / 100.0))
        .collect();
    // Trailing gaps: evaluation must go on to the end of the recording.
    let trailing = rng.random_range(0..6).min(len - 1);
    for v in values.iter_mut().rev().take(trailing) {
        *v = None;
    }
    if values.iter().all(Option::is_none) {
        values[0] = Some(0.07);
    }
    Case {
        step,
        values,
        op: [">", ">=", "<", "<="][rng.random_range(0..4)],
        threshold_pct: 5,
        for_s: [0u64, 60, 120, 180, 300][rng.random_range(0..5)],
    }
}

fn scenario(c: &Case, every_s: u64) -> Scenario {
    let text = format!(
        r#"name = "promtool-case"
[policy]
alert_every = "{every_s}s"
[policy.checks]
every = "15m"
mode = "continuous"
min_requests = 0
[policy.alerts.Case]
metric = "cpu"
agg = "instant"
window = "5m"
op = "{op}"
threshold = "{th}%"
for = "{for_s}s"
[[policy.phases]]
name = "full"
weight = "100%"
bake = "12h"
[policy.phases.gates.cpu]
limit = "99%"
[simulation]
time_limit = "24h"
"#,
        op = c.op,
        th = c.threshold_pct,
        for_s = c.for_s
    );
    Scenario::from_toml(&text, "promtool-case.toml").unwrap()
}

/// rollsim's firing state of the case's alert at each evaluation instant (seconds).
fn rollsim_firing(c: &Case, every_s: u64, horizon: u64) -> Vec<(u64, bool)> {
    let sc = scenario(c, every_s);
    let mut series = BTreeMap::new();
    let samples: Vec<(i64, f64)> =
        c.values.iter().enumerate().filter_map(|(i, v)| v.map(|v| (BASE + (i as u64 * c.step) as i64, v))).collect();
    let rows = samples.len() as u64;
    series.insert((Metric::Cpu, Group::Candidate), samples);
    let rec = Recorded { series, trial: vec![], warnings: vec![], rows };
    let r = replay::replay(&sc, &rec, Some(BASE), Some(BASE + horizon as i64), None).unwrap();
    let alarm = r.alarms.iter().find(|a| a.rule == "alert:Case").expect("the case's alert is evaluated");
    (0..=horizon / every_s)
        .map(|k| {
            let t = k * every_s;
            (t, alarm.episodes.iter().any(|e| e.0 .0 <= t && t < e.1 .0))
        })
        .collect()
}

/// Writes the rule file and the test file for `cases` evaluated every `every_s`, runs promtool.
fn check_with_promtool(promtool: &std::path::Path, cases: &[Case], every_s: u64, dir: &std::path::Path) -> usize {
    let mut rules = String::from("groups:\n");
    let mut tests = format!("rule_files:\n  - rules.yml\nevaluation_interval: {every_s}s\ntests:\n");
    let mut firing_instants = 0;
    for (i, c) in cases.iter().enumerate() {
        let _ = writeln!(
            rules,
            "  - name: case{i}\n    rules:\n      - alert: Case{i}\n        expr: cpu_c{i}{{version=\"candidate\"}} {} {}\n        for: {}s\n        labels:\n          severity: warning",
            c.op,
            c.threshold_pct as f64 / 100.0,
            c.for_s
        );
        let last = (c.values.len() as u64 - 1) * c.step + LOOKBACK_S + every_s;
        let horizon = last.div_ceil(every_s) * every_s;
        let values: Vec<String> = c.values.iter().map(|v| v.map_or("_".to_string(), |v| format!("{v}"))).collect();
        let _ = writeln!(
            tests,
            "  - interval: {}s\n    input_series:\n      - series: 'cpu_c{i}{{version=\"candidate\"}}'\n        values: '{}'\n    alert_rule_test:",
            c.step,
            values.join(" ")
        );
        for (t, firing) in rollsim_firing(c, every_s, horizon) {
            if firing {
                firing_instants += 1;
                let _ = writeln!(
                    tests,
                    "      - eval_time: {t}s\n        alertname: Case{i}\n        exp_alerts:\n          - exp_labels:\n              severity: warning\n              version: candidate"
                );
            } else {
                let _ = writeln!(tests, "      - eval_time: {t}s\n        alertname: Case{i}\n        exp_alerts: []");
            }
        }
    }
    std::fs::write(dir.join("rules.yml"), rules).unwrap();
    let test_file = dir.join("tests.yml");
    std::fs::write(&test_file, tests).unwrap();
    let out = Command::new(promtool).arg("test").arg("rules").arg(&test_file).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let text = format!("{stdout}{stderr}");
    assert!(
        out.status.success(),
        "promtool disagrees with rollsim's firing times:\n{}",
        &text[..text.len().min(20_000)]
    );
    assert!(text.contains("SUCCESS"), "{text}");
    firing_instants
}

#[test]
fn alert_rules_fire_exactly_when_promtool_says() {
    let Some(promtool) = promtool() else {
        eprintln!("skipped: promtool not installed (Debian package `prometheus`)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut rng = SimRng::seed_from_u64(20261128);
    let mut total = 0;
    let mut firing = 0;
    for every_s in [60u64, 120] {
        let cases: Vec<Case> = (0..200).map(|_| random_case(&mut rng)).collect();
        let sub = dir.path().join(format!("every{every_s}"));
        std::fs::create_dir(&sub).unwrap();
        firing += check_with_promtool(&promtool, &cases, every_s, &sub);
        total += cases.len();
    }
    // The cases exercise both states, not only silence.
    assert!(firing > 100, "only {firing} firing instants over {total} cases");
    eprintln!("{total} random cases agree with promtool ({firing} firing instants)");
}

#[test]
fn a_series_that_starts_above_the_threshold_fires_at_the_first_instant() {
    // `for 0` on `7 1 1 1` (percent): Prometheus fires at 0 and resolves at 1m.
    let c = Case {
        step: 60,
        values: vec![Some(0.07), Some(0.01), Some(0.01), Some(0.01)],
        op: ">",
        threshold_pct: 5,
        for_s: 0,
    };
    let f = rollsim_firing(&c, 60, 600);
    assert_eq!(&f[..3], &[(0, true), (60, false), (120, false)]);
    // A trailing gap: the last sample (at 3m) is still seen by the 5m lookback until 8m.
    let c = Case { step: 60, values: vec![Some(0.01), Some(0.01), Some(0.01), Some(0.07)], ..c };
    let f = rollsim_firing(&c, 60, 900);
    let on: Vec<u64> = f.iter().filter(|x| x.1).map(|x| x.0).collect();
    assert_eq!(on, vec![180, 240, 300, 360, 420, 480], "Prometheus 2.x lookback is [t-5m, t]");
}
