//! The command line as a user runs it: exit codes and messages.

use assert_cmd::Command;

fn rollsim() -> Command {
    Command::cargo_bin("rollsim").unwrap()
}

#[test]
fn validate_exit_codes() {
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/seed-canary.toml");
    let out = rollsim().args(["validate", seed]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("valid") && stdout.contains("phase 1 \"canary\": 5% for 12h"), "{stdout}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "name = \"x\"\n[[policy.phases]]\nname = \"a\"\nweight = \"5 parsecs\"\nbake = \"1h\"\n")
        .unwrap();
    let out = rollsim().arg("validate").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("bad.toml:4:10: policy.phases[0].weight: expected a percentage"), "{stderr}");

    let out = rollsim().args(["validate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = rollsim().args(["validate", "/nonexistent/x.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().contains("/nonexistent/x.toml: cannot read the file"));
}

#[test]
fn scenario_prints_the_builtin_seed_and_explains_fields() {
    let out = rollsim().arg("scenario").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("name = \"seed-canary\""));
    let out = rollsim().args(["scenario", "--explain"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("policy.checks.failure_limit") && text.contains("simulation.time_limit"));
}

#[test]
fn run_rejects_absurd_input_and_trace_reproduces_a_row() {
    let out = rollsim().args(["run", "--trials", "0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("--trials"));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("never.toml");
    std::fs::write(&bad, "name = \"x\"\n[[policy.phases]]\nname = \"a\"\nweight = \"100%\"\nbake = \"48h\"\n[simulation]\ntime_limit = \"1h\"\n").unwrap();
    let out = rollsim().arg("run").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().contains("no trial could complete"));

    // `trace` prints the same outcome as the run's table row.
    let run_dir = dir.path().join("r");
    let out = rollsim().args(["run", "--trials", "40", "--seed", "8", "--out"]).arg(&run_dir).output().unwrap();
    assert!(out.status.success());
    let csv = std::fs::read_to_string(run_dir.join("trials.csv")).unwrap();
    let row = csv.lines().nth(1 + 13).unwrap();
    let outcome = row.split(',').nth(7).unwrap();
    let out = rollsim().args(["trace", "--trial", "13", "--seed", "8"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&format!("outcome: {outcome} at")), "{outcome}\n{text}");
}

#[test]
fn run_output_fits_100_columns_and_scripts_get_json_or_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        rollsim().args(["run", "--trials", "300", "--seed", "1", "--out"]).arg(dir.path().join("t")).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("detection") && text.contains("p90 (min)") && text.contains("all bad"), "{text}");
    for line in text.lines() {
        assert!(line.chars().count() <= 100, "{} columns: {line}", line.chars().count());
    }

    // --format json: stdout is exactly the summary document the folder holds.
    let j = dir.path().join("j");
    let out = rollsim().args(["run", "--trials", "60", "--format", "json", "--out"]).arg(&j).output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout, std::fs::read_to_string(j.join("summary.json")).unwrap());
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["trials"], 60);
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));

    // --quiet: no tables, only where the report is.
    let q = dir.path().join("q");
    let out = rollsim().args(["run", "--trials", "60", "--quiet", "--out"]).arg(&q).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.lines().all(|l| l.starts_with("report: ") || l.starts_with("reproduce a trial: ")), "{stdout}");
    assert!(q.join("summary.json").is_file());
}
