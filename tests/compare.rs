//! `rollsim compare`: identical inputs, a looser policy, broken inputs.

use assert_cmd::Command;
use rollsim::compare::{
    beyond, compare as compare_rows, parse_tolerances, verdict, MetricId, MetricRef, Row, Tolerance, Verdict,
    MIN_TRIALS,
};
use rollsim::sim::Population;
use sha2::Digest;
use std::path::Path;

const SEED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/seed-canary.toml");

fn rollsim() -> Command {
    Command::cargo_bin("rollsim").unwrap()
}

fn compare(args: &[&str], out: &Path) -> (i32, String, String) {
    let o = rollsim().arg("compare").args(args).arg("--out").arg(out).output().unwrap();
    (o.status.code().unwrap(), String::from_utf8(o.stdout).unwrap(), String::from_utf8(o.stderr).unwrap())
}

#[test]
fn identical_scenarios_show_no_change() {
    let dir = tempfile::tempdir().unwrap();
    let (code, md, _) = compare(&[SEED, SEED, "--trials", "150", "--resamples", "200"], &dir.path().join("c"));
    assert_eq!(code, 0, "{md}");
    assert!(md.contains("Paired (same trials)") && md.contains("No regression beyond tolerance."));
    assert!(!md.contains("❌") && !md.contains("⚠️") && !md.contains("✅"), "{md}");
    // Rows of rare faults (fewer than 10 trials at 150) get no verdict at all.
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| ")).skip(1).collect();
    assert!(rows.iter().all(|l| l.contains("no significant change") || l.contains("too few trials")), "{md}");
    assert!(rows.iter().any(|l| l.contains("too few trials")) && rows.iter().any(|l| l.contains("no significant")));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("c/compare.json")).unwrap()).unwrap();
    assert_eq!(json["regression"], false);
    assert!(json["groups"].as_array().unwrap().iter().all(|g| g["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["change"] == 0.0)));
    for f in ["compare.md", "junit.xml", "compare_detection_cdf.svg", "compare_spread.png", "index.html"] {
        assert!(dir.path().join("c").join(f).is_file(), "{f}");
    }
    // One self-contained page: the comparison table as HTML, both charts embedded.
    let page = std::fs::read_to_string(dir.path().join("c/index.html")).unwrap();
    assert!(page.contains("<table>") && page.contains("no significant change"), "{page}");
    assert_eq!(page.matches("src=\"data:image/svg+xml").count(), 2);
}

#[test]
fn a_looser_limit_is_reported_as_worse_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let loose = dir.path().join("loose.toml");
    let text = std::fs::read_to_string(SEED).unwrap().replace("limit = \"1%\"\n", "limit = \"3%\"\n");
    std::fs::write(&loose, text).unwrap();
    let out = dir.path().join("c");
    let (code, md, _) = compare(&[SEED, loose.to_str().unwrap(), "--trials", "400", "--resamples", "300"], &out);
    assert_eq!(code, 1, "{md}");
    assert!(md.contains("❌ worse (regression)"), "{md}");
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(junit.contains("<failure") && junit.contains("all bad: mean excess failed requests"), "{junit}");
    // A generous tolerance on every metric that regressed turns it into a pass.
    let lenient =
        "excess_failed:+1000%,peak_spread:+50pp,p90_detection:+1000%,p50_detection:+1000%,detection_rate:+50pp";
    let (code, md, _) = compare(
        &[SEED, loose.to_str().unwrap(), "--trials", "400", "--resamples", "300", "--fail-on", lenient],
        &dir.path().join("c2"),
    );
    assert_eq!(code, 0, "{md}");
}

#[test]
fn report_folders_compare_and_broken_ones_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    for d in [&a, &b] {
        let o = rollsim().args(["run", "--trials", "120", "--seed", "5", "--out"]).arg(d).output().unwrap();
        assert!(o.status.success());
    }
    let (code, md, _) =
        compare(&[a.to_str().unwrap(), b.to_str().unwrap(), "--resamples", "200"], &dir.path().join("c"));
    assert_eq!(code, 0, "{md}");
    assert!(md.contains("Paired"), "{md}");

    std::fs::write(b.join("trials.parquet"), b"not parquet").unwrap();
    let (code, _, err) = compare(&[a.to_str().unwrap(), b.to_str().unwrap()], &dir.path().join("d"));
    assert_eq!(code, 2);
    assert!(err.contains("trials.parquet") && err.contains("does not match its checksum"), "{err}");
    // A damaged table whose checksum file was updated too still gets a clear error.
    let sum = format!("{:x}  trials.parquet\n", sha2::Sha256::digest(b"not parquet"));
    std::fs::write(b.join("trials.sha256"), sum).unwrap();
    let (code, _, err) = compare(&[a.to_str().unwrap(), b.to_str().unwrap()], &dir.path().join("d2"));
    assert_eq!(code, 2);
    assert!(err.contains("trials.parquet") && err.contains("not a readable trial table"), "{err}");

    let missing = dir.path().join("nope");
    std::fs::create_dir(&missing).unwrap();
    let (code, _, err) = compare(&[a.to_str().unwrap(), missing.to_str().unwrap()], &dir.path().join("e"));
    assert_eq!(code, 2);
    assert!(err.contains("nope/trials.parquet: cannot open"), "{err}");

    let (code, _, err) = compare(&[SEED, a.to_str().unwrap()], &dir.path().join("f"));
    assert_eq!(code, 2);
    assert!(err.contains("not one of each"), "{err}");
}

#[test]
fn tolerance_specs() {
    let t = parse_tolerances("p90_detection:+20%,false_rollback:+0.5pp,excess_failed:100").unwrap();
    let get = |m| t.iter().find(|x| x.0 == MetricRef::bare(m)).unwrap().1;
    assert_eq!(get(MetricId::P90Detection), Tolerance::Relative(0.2));
    assert_eq!(get(MetricId::FalseRollback), Tolerance::Absolute(0.005));
    assert_eq!(get(MetricId::ExcessFailed), Tolerance::Absolute(100.0));
    assert_eq!(get(MetricId::P50Detection), Tolerance::Relative(0.1));
    assert!(parse_tolerances("p99:+1%").unwrap_err().contains("unknown metric"));
    assert!(parse_tolerances("duration:+1pp").unwrap_err().contains("`pp` applies to rates"));
    assert!(parse_tolerances("duration").unwrap_err().contains("METRIC:TOLERANCE"));
    // A group named in brackets gets its own tolerance, beside the overall one.
    let t = parse_tolerances("false_rollback[incident]:+5pp").unwrap();
    let inc = MetricRef { metric: MetricId::FalseRollback, group: Some("incident".into()) };
    assert_eq!(t.iter().find(|x| x.0 == inc).unwrap().1, Tolerance::Absolute(0.05));
    assert_eq!(get(MetricId::FalseRollback), Tolerance::Absolute(0.005));
    assert!(parse_tolerances("false_rollback[incident:+5pp").unwrap_err().contains("METRIC[GROUP]"));
}

#[test]
fn verdicts_follow_the_metric_direction_in_both_directions_and_at_the_boundaries() {
    // Higher is better (detection rate): the reproductions.
    assert_eq!(verdict(-0.0093, -0.0246, 0.0052, true, 1.0), Verdict::NoSignificantChange);
    assert_eq!(verdict(-0.035, -0.0989, 0.0317, true, 1.0), Verdict::NoSignificantChange);
    assert_eq!(verdict(0.004, 0.001, 0.008, true, 1.0), Verdict::Better);
    assert_eq!(verdict(-0.004, -0.008, -0.001, true, 1.0), Verdict::Worse);
    // Lower is better (detection time, false rollbacks, ...).
    assert_eq!(verdict(3.0, 1.0, 5.0, false, 100.0), Verdict::Worse);
    assert_eq!(verdict(-3.0, -5.0, -1.0, false, 100.0), Verdict::Better);
    assert_eq!(verdict(0.5, -1.0, 2.0, false, 100.0), Verdict::NoSignificantChange);
    // Intervals touching zero are not significant, in either direction.
    for hib in [true, false] {
        assert_eq!(verdict(1.0, 0.0, 2.0, hib, 10.0), Verdict::NoSignificantChange);
        assert_eq!(verdict(-1.0, -2.0, 0.0, hib, 10.0), Verdict::NoSignificantChange);
        // Float noise is no change (-0.00pp [-0.00pp, -0.00pp] was "better").
        assert_eq!(verdict(-1e-17, -1e-17, -1e-17, hib, 0.07), Verdict::NoSignificantChange);
        assert_eq!(verdict(0.0, 0.0, 0.0, hib, 0.07), Verdict::NoSignificantChange);
        // An undefined interval is no verdict.
        assert_eq!(verdict(1.0, f64::NAN, f64::NAN, hib, 1.0), Verdict::NoSignificantChange);
    }
    // The estimate must be on the same side as the interval.
    assert_eq!(verdict(0.0, 0.5, 1.0, false, 1.0), Verdict::NoSignificantChange);
    // Beyond tolerance, in the metric's bad direction only.
    assert!(beyond(MetricId::DetectionRate, -0.02, 0.9, Tolerance::Absolute(0.01)));
    assert!(!beyond(MetricId::DetectionRate, 0.02, 0.9, Tolerance::Absolute(0.01)));
    assert!(beyond(MetricId::P90Detection, 120.0, 1000.0, Tolerance::Relative(0.1)));
    assert!(!beyond(MetricId::P90Detection, -120.0, 1000.0, Tolerance::Relative(0.1)));
    assert!(!beyond(MetricId::P90Detection, 100.0, 1000.0, Tolerance::Relative(0.1)));
}

fn bad_row(excess_failed: f64, detection_min: Option<f64>) -> Row {
    Row {
        fault: "f".into(),
        bad: true,
        population: Population::Bad,
        completed: detection_min.is_none(),
        detection_min,
        peak_share: 0.05,
        excess_failed,
        false_rollback: false,
        end_h: 1.0,
        rollback_h: detection_min.map(|m| m / 60.0),
        phase_h: vec![Some(0.0)],
    }
}

#[test]
fn rows_with_fewer_than_10_trials_a_side_get_no_verdict() {
    // Every paired trial better (or worse) on both a lower-is-better metric
    // (excess failed) and the higher-is-better detection rate. At 9 trials
    // the bootstrap interval excludes zero, but that is no evidence: no verdict,
    // and no regression even with a tolerance. At 10 the verdicts are given.
    for n in [2, 9, 10] {
        let base: Vec<Row> = (0..n).map(|k| bad_row(100.0 + k as f64, None)).collect();
        let good: Vec<Row> = (0..n).map(|k| bad_row(50.0 + k as f64, Some(5.0 + k as f64))).collect();
        let tol = parse_tolerances("excess_failed:+1%,detection_rate:+1pp").unwrap();
        for (from, to, want) in [(&base, &good, Verdict::Better), (&good, &base, Verdict::Worse)] {
            let c = compare_rows(from, to, &tol, 400);
            assert!(c.paired);
            let all_bad = &c.groups[0];
            assert_eq!((all_bad.name.as_str(), all_bad.base_n), ("all bad", n));
            for m in [MetricId::ExcessFailed, MetricId::DetectionRate] {
                let d = all_bad.deltas.iter().find(|d| d.metric == m).unwrap();
                let expect = if n < MIN_TRIALS { Verdict::TooFewTrials } else { want };
                assert_eq!(d.verdict, expect, "n={n} {m:?} {d:?}");
                assert_eq!(d.regression, n >= MIN_TRIALS && want == Verdict::Worse, "n={n} {m:?}");
                // The interval itself is still reported, wholly on one side of zero.
                assert!(d.lo * d.hi > 0.0, "n={n} {m:?} {d:?}");
            }
            let junit = rollsim::compare::output::junit(&c);
            assert_eq!(junit.contains("<skipped"), n < MIN_TRIALS, "{junit}");
        }
    }
}

#[test]
fn git_base_compares_a_scenario_or_a_manifest_with_its_committed_version() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    let git = |args: &[&str]| {
        let o = std::process::Command::new("git")
            .args(["-c", "user.email=ci@example.com", "-c", "user.name=ci"])
            .args(args)
            .current_dir(repo)
            .output()
            .unwrap();
        assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    let rollout = |weight: u32| {
        format!(
            "kind: Rollout\nmetadata: {{name: web}}\nspec:\n  strategy:\n    canary:\n      steps:\n      - setWeight: {weight}\n      - analysis:\n          templates:\n          - templateName: sr\n      - setWeight: 60\n---\nkind: AnalysisTemplate\nmetadata: {{name: sr}}\nspec:\n  metrics:\n  - name: success\n    interval: 1m\n    count: 5\n    successCondition: result[0] >= 0.99\n    provider:\n      prometheus:\n        query: sum(rate(http_requests_total{{code!~\"5..\"}}[1m])) / sum(rate(http_requests_total[1m]))\n"
        )
    };
    std::fs::write(repo.join("rollout.yaml"), rollout(20)).unwrap();
    std::fs::copy(SEED, repo.join("seed.toml")).unwrap();
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "base"]);
    let run = |file: &str, out: &str| {
        let o = rollsim()
            .current_dir(repo)
            .args(["compare", file, "--git-base", "HEAD", "--trials", "60", "--resamples", "200", "--out", out])
            .output()
            .unwrap();
        let json = std::fs::read_to_string(repo.join(out).join("compare.json")).unwrap_or_default();
        (
            o.status.code().unwrap(),
            String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr),
            json,
        )
    };
    let changes = |json: &str| -> Vec<f64> {
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        v["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["metrics"].as_array().unwrap().iter().map(|m| m["change"].as_f64().unwrap_or(0.0)))
            .collect()
    };
    // Unchanged files: the committed version is the same policy, trial for trial.
    for (file, out) in [("rollout.yaml", "c1"), ("seed.toml", "c2")] {
        let (code, text, json) = run(file, out);
        assert_eq!(code, 0, "{text}");
        assert!(text.contains(&format!("Base: `{file}@HEAD`")) && text.contains("Paired (same trials)"), "{text}");
        assert!(changes(&json).iter().all(|&c| c == 0.0), "{json}");
    }
    // A changed manifest is imported at both revisions and compared on the same trials.
    std::fs::write(repo.join("rollout.yaml"), rollout(40)).unwrap();
    let (code, text, json) = run("rollout.yaml", "c3");
    assert!(code == 0 || code == 1, "{text}");
    assert!(text.contains("Paired (same trials)"), "{text}");
    assert!(changes(&json).iter().any(|&c| c != 0.0), "{json}");
}

fn run_folder(dir: &Path, trials: &str, seed: &str) {
    let o = rollsim().args(["run", "--trials", trials, "--seed", seed, "--out"]).arg(dir).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn the_same_policy_under_other_seeds_or_trial_counts_is_no_regression() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, small, big) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("s"), dir.path().join("g"));
    // 2,000 trials each: at 1,000, seed 1 happens to miss only 2 of 569 bad
    // versions (about 8 expected), a base in the 1% tail that any fair draw fails.
    run_folder(&a, "2000", "1");
    run_folder(&b, "2000", "2");
    // 100 trials: with 50, seed 1's first 21 good versions hold 5 false
    // rollbacks (about 1.7 expected), again a sample in the tail.
    run_folder(&small, "100", "1");
    run_folder(&big, "200", "3");
    for (x, y, name) in [(&a, &b, "c1"), (&small, &big, "c2"), (&big, &small, "c3")] {
        let (code, md, err) =
            compare(&[x.to_str().unwrap(), y.to_str().unwrap(), "--resamples", "500"], &dir.path().join(name));
        assert_eq!(code, 0, "{md}{err}");
        assert!(md.contains("Unpaired"), "{md}");
        assert!(!md.contains("regression)"), "{md}");
    }
}

#[test]
fn a_group_named_in_fail_on_decides_the_exit_code() {
    // New: the seed without its 5% error-rate trigger. Intermittent bursts are then
    // caught only at the phase-end decision gate: far slower, for that fault alone.
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("new.toml");
    let text = std::fs::read_to_string(SEED).unwrap();
    let text = text.replacen("threshold = \"5%\"\nwindow = \"2m\"", "threshold = \"99%\"\nwindow = \"2m\"", 1);
    std::fs::write(&new, &text).unwrap();
    let lenient = "detection_rate:+100pp,p50_detection:+1000%,p90_detection:+1000%,excess_failed:+1000%,peak_spread:+100pp,false_rollback:+100pp,false_rollback_time:+1000%,duration:+1000%";
    let run = |extra: &str, out: &str| {
        let spec = format!("{lenient}{extra}");
        compare(
            &[SEED, new.to_str().unwrap(), "--trials", "400", "--resamples", "300", "--fail-on", &spec],
            &dir.path().join(out),
        )
    };
    let (code, md, _) = run("", "c1");
    assert_eq!(code, 0, "{md}");
    let row = |md: &str| {
        md.lines()
            .find(|l| l.starts_with("| intermittent") && l.contains("detection time p50"))
            .unwrap_or_else(|| panic!("{md}"))
            .to_string()
    };
    assert!(row(&md).contains("⚠️ worse (no tolerance set)"), "{}", row(&md));
    let (code, md, _) = run(",p50_detection[intermittent]:+10%", "c2");
    assert_eq!(code, 1, "{md}");
    assert!(row(&md).contains("❌ worse (regression)"), "{}", row(&md));
    let junit = std::fs::read_to_string(dir.path().join("c2/junit.xml")).unwrap();
    assert!(junit.contains("intermittent: detection time p50 (min)") && junit.contains("<failure"), "{junit}");
}
