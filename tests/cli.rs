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
    // As every command's errors: prefixed, so a log search for "error:" finds it.
    assert!(stderr.starts_with("error: invalid scenario\n"), "{stderr}");

    let out = rollsim().args(["validate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = rollsim().args(["validate", "/nonexistent/x.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().contains("/nonexistent/x.toml: cannot read the file"));
}

#[test]
fn help_gives_every_command_its_own_summary() {
    let out = rollsim().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let commands: Vec<(&str, &str)> = text
        .split("Commands:\n")
        .nth(1)
        .expect("a Commands section")
        .lines()
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.trim().split_once(char::is_whitespace).map_or((l.trim(), ""), |(n, d)| (n, d.trim())))
        .collect();
    assert!(commands.len() >= 12, "{text}");
    for (name, summary) in &commands {
        assert!(!summary.is_empty(), "`{name}` has no summary in --help:\n{text}");
    }
    let summary = |name: &str| commands.iter().find(|(n, _)| *n == name).map(|(_, d)| *d).unwrap();
    assert!(summary("scenario").starts_with("Print a scenario as canonical TOML"), "{text}");
    assert!(summary("import").starts_with("Import an Argo Rollouts or Flagger policy"), "{text}");
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
    // --explain documents every field; a FILE beside it was silently ignored.
    let out = rollsim().args(["scenario", "--explain", "traffic.noise"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("'--explain' cannot be used with '[FILE]'"), "{e}");
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
    let out = rollsim()
        .args(["run", "--trials", "300", "--seed", "1", "--threads", "1", "--out"])
        .arg(dir.path().join("t"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("detection") && text.contains("p90 (min)") && text.contains("all bad"), "{text}");
    // Throughput per thread, and the thread count in words a reader expects.
    let tp = text.lines().find(|l| l.starts_with("throughput: ")).expect("a throughput line");
    assert!(tp.contains(" per thread)") && tp.ends_with(", 1 thread)"), "{tp}");
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

/// The trace says what was measured, against which limit, what the verdict
/// means and when it is acted on; `--only` and `--around` filter it.
#[test]
fn trace_reads_as_true_statements_and_filters() {
    let trace = |extra: &[&str]| {
        let out = rollsim().args(["trace", "--trial", "263", "--seed", "1"]).args(extra).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let all = trace(&[]);
    // A payment-only fault: a gate failing from 18:05, decided at the phase end.
    assert!(all.contains("candidate: payment-only (bad), +12.886% error rate"), "{all}");
    assert!(
        all.contains("check payment_workflow     13.992% vs limit < 2%, 2630 requests → FAIL (1st failure; acted on at the phase end, T+24:00:00)"),
        "{all}"
    );
    assert!(all.contains("(25th failure; acted on at the phase end, T+24:00:00)"), "{all}");
    // Gauges carry no request count.
    assert!(all.lines().filter(|l| l.contains("check cpu")).all(|l| !l.contains("requests")));
    let failures = trace(&["--only", "failures"]);
    assert!(failures.lines().filter(|l| l.contains(" check ")).all(|l| !l.contains("→ pass")), "{failures}");
    assert!(failures.contains("DECISION rollback (cause: gate:majority/payment_workflow)"));
    let decisions = trace(&["--only", "decisions"]);
    assert!(!decisions.contains(" check ") && decisions.contains("DECISION promote"), "{decisions}");
    let around = trace(&["--around", "24h"]);
    assert!(around.contains("showing T+23:30:00 to T+24:30:00"), "{around}");
    assert!(!around.contains("T+18:05:00  check"), "{around}");
    assert!(around.contains("T+24:00:00  DECISION rollback"), "{around}");
    // A window after the trial's end says so instead of showing nothing.
    let after = trace(&["--around", "30h"]);
    assert!(
        after.contains("showing T+29:30:00 to T+30:30:00: after the trial ended at T+24:05:00, nothing happens there"),
        "{after}"
    );
    // A trigger names its window, threshold and the stable group's value.
    let out = rollsim().args(["trace", "--trial", "4", "--seed", "1", "--only", "failures"]).output().unwrap();
    let t = String::from_utf8(out.stdout).unwrap();
    assert!(t.contains("trigger error_rate FIRED: error_rate over 2m 6.221% vs threshold > 5%; stable 0.107%"), "{t}");
    let out = rollsim().args(["trace", "--trial", "4", "--around", "noon"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--around: expected a time"));
}

/// `--threads 100000` (a typo for `--trials`) is refused before any work,
/// with the bound; it used to start threads until memory ran out and abort.
#[test]
fn an_impossible_thread_count_is_refused_with_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in [&["run"][..], &["sweep", "--vary", "policy.checks.every=5m"], &["compare", "a.toml", "b.toml"]] {
        let out =
            rollsim().args(cmd).args(["--threads", "100000", "--out"]).arg(dir.path().join("o")).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd:?}");
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(e.contains("--threads") && e.contains("at most 1024 threads") && e.contains("found 100000"), "{e}");
        assert!(!dir.path().join("o").exists(), "{cmd:?}: refused before any output");
    }
    // A count within the bound runs (more threads than trials included).
    let out = rollsim()
        .args(["run", "--trials", "3", "--threads", "4", "--quiet", "--out"])
        .arg(dir.path().join("r"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Runs a script starts within one second get folders of their own by default.
#[test]
fn quick_runs_with_default_folders_never_collide() {
    let dir = tempfile::tempdir().unwrap();
    let folders: Vec<String> = (0..3)
        .map(|_| {
            let out = rollsim().current_dir(dir.path()).args(["run", "--trials", "3", "--quiet"]).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let stdout = String::from_utf8(out.stdout).unwrap();
            stdout.lines().find_map(|l| l.strip_prefix("report: ")).unwrap().to_string()
        })
        .collect();
    assert!(folders[0] != folders[1] && folders[1] != folders[2] && folders[0] != folders[2], "{folders:?}");
    assert!(folders.iter().all(|f| std::path::Path::new(f).join("summary.json").is_file()), "{folders:?}");
}

#[test]
fn every_command_prints_the_absolute_path_of_what_it_wrote() {
    // Relative `--out` paths, from a folder of their own: what each command
    // prints must name the same files from any other folder.
    let dir = tempfile::tempdir().unwrap();
    let cwd = std::fs::canonicalize(dir.path()).unwrap();
    let scenario = std::fs::canonicalize("scenarios/seed-canary.toml").unwrap();
    let seed = scenario.to_str().unwrap();
    let vary = "policy.phases[0].gates.error_rate.limit=1%,2%";
    let commands: [(&[&str], &str, &str); 8] = [
        (&["run", seed, "--trials", "10", "--quiet", "--out", "r"], "report: ", "r"),
        (&["run", seed, "--trials", "10", "--shard", "0/2", "--out", "s0"], "shard: ", "s0"),
        (&["run", seed, "--trials", "10", "--shard", "1/2", "--out", "s1"], "shard: ", "s1"),
        (&["merge", "s0", "s1", "--out", "m"], "report: ", "m"),
        (&["sweep", seed, "--trials", "10", "--quiet", "--vary", vary, "--out", "s"], "report: ", "s"),
        (&["compare", seed, seed, "--trials", "10", "--out", "c"], "report: ", "c"),
        (&["record", seed, "--trial", "1", "--out", "t.csv"], "written to ", "t.csv"),
        (&["replay", seed, "--data", "t.csv", "--out", "p"], "report: ", "p"),
    ];
    for (args, marker, wrote) in commands {
        let out = rollsim().current_dir(&cwd).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).unwrap();
        let line = stdout.lines().find(|l| l.contains(marker)).unwrap_or_else(|| panic!("{args:?}: {stdout}"));
        let printed = line.split(marker).nth(1).unwrap().split(' ').next().unwrap();
        assert_eq!(printed, cwd.join(wrote).to_str().unwrap(), "{args:?}: {line}");
        assert!(std::path::Path::new(printed).exists(), "{args:?}: {printed}");
    }
}
