//! `rollsim compare`: identical inputs, a looser policy, broken inputs.

use assert_cmd::Command;
use rollsim::compare::{parse_tolerances, MetricId, Tolerance};
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
    assert!(!md.contains("worse") && !md.contains("better"), "{md}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("c/compare.json")).unwrap()).unwrap();
    assert_eq!(json["regression"], false);
    assert!(json["groups"].as_array().unwrap().iter().all(|g| g["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["change"] == 0.0)));
    for f in ["compare.md", "junit.xml", "compare_detection_cdf.svg", "compare_spread.png"] {
        assert!(dir.path().join("c").join(f).is_file(), "{f}");
    }
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
    let get = |m| t.iter().find(|x| x.0 == m).unwrap().1;
    assert_eq!(get(MetricId::P90Detection), Tolerance::Relative(0.2));
    assert_eq!(get(MetricId::FalseRollback), Tolerance::Absolute(0.005));
    assert_eq!(get(MetricId::ExcessFailed), Tolerance::Absolute(100.0));
    assert_eq!(get(MetricId::P50Detection), Tolerance::Relative(0.1));
    assert!(parse_tolerances("p99:+1%").unwrap_err().contains("unknown metric"));
    assert!(parse_tolerances("duration:+1pp").unwrap_err().contains("`pp` applies to rates"));
    assert!(parse_tolerances("duration").unwrap_err().contains("METRIC:TOLERANCE"));
}

#[test]
fn git_base_compares_a_scenario_with_its_committed_version() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    let git = |args: &[&str]| {
        let o = std::process::Command::new("git").arg("-C").arg(repo).args(args).output().unwrap();
        assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    git(&["init", "-q"]);
    let file = repo.join("policy.toml");
    std::fs::copy(SEED, &file).unwrap();
    git(&["add", "policy.toml"]);
    git(&["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "base"]);
    let text = std::fs::read_to_string(SEED).unwrap().replace("limit = \"1%\"\n", "limit = \"3%\"\n");
    std::fs::write(&file, text).unwrap();
    let (code, md, err) = compare(
        &["--git-base", "HEAD", file.to_str().unwrap(), "--trials", "300", "--resamples", "200"],
        &repo.join("c"),
    );
    assert_eq!(code, 1, "{md}{err}");
    assert!(md.contains("policy.toml@HEAD") && md.contains("Paired"), "{md}");
    let (code, _, err) = compare(&["--git-base", "no-such-rev", file.to_str().unwrap()], &repo.join("d"));
    assert_eq!(code, 2);
    assert!(err.contains("git show no-such-rev"), "{err}");
}
