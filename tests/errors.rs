//! Every class of mistake in a scenario gets one clear error: file:line:col, the
//! field as the user wrote it, what was found and what is expected.

use rollsim::scenario::{Scenario, SEED_TOML};

fn err_of(text: &str) -> String {
    Scenario::from_toml(text, "s.toml").map(|_| ()).unwrap_err().to_string()
}

fn seed_with(from: &str, to: &str) -> String {
    assert!(SEED_TOML.contains(from), "{from}");
    SEED_TOML.replacen(from, to, 1)
}

#[test]
fn wrong_type_names_the_field_without_parser_internals_and_says_how_to_write_it() {
    let e = err_of(&seed_with("limit = \"1%\"", "limit = 0.01"));
    assert!(!e.contains("serde") && !e.contains("$__"), "{e}");
    assert!(e.contains("policy.phases[0].gates.error_rate.limit"), "{e}");
    assert!(e.contains("expected a percentage such as \"1%\"") && e.contains("found the number 0.01"), "{e}");
    assert!(e.contains("write \"1%\""), "{e}");
    assert!(e.starts_with("s.toml:"), "{e}");
    let e = err_of(&seed_with("every = \"15m\"", "every = 15"));
    assert!(e.contains("policy.checks.every") && e.contains("expected a duration") && e.contains("\"15m\""), "{e}");
    let e = err_of(&seed_with("instances = 100", "instances = \"many\""));
    assert!(e.contains("fleet.instances") && e.contains("expected a whole number"), "{e}");
}

#[test]
fn wrong_units_and_negative_durations() {
    let e = err_of(&seed_with("every = \"15m\"", "every = \"15 parsecs\""));
    assert!(e.contains("policy.checks.every") && e.contains("unknown unit \"parsecs\""), "{e}");
    let e = err_of(&seed_with("[policy.rollback]\nduration = \"5m\"", "[policy.rollback]\nduration = \"-5m\""));
    assert!(e.contains("policy.rollback.duration") && e.contains("durations cannot be negative"), "{e}");
    assert!(!e.contains("at 0"), "{e}");
}

#[test]
fn one_bad_weight_is_one_error() {
    let e = err_of(&seed_with("weight = \"5%\"", "weight = \"five\""));
    assert_eq!(e.lines().filter(|l| l.contains("s.toml:")).count(), 1, "{e}");
    assert!(e.contains("policy.phases[0].weight") && !e.contains("decrease"), "{e}");
}

#[test]
fn unknown_fields_and_metrics_are_named() {
    let e = err_of(&seed_with("[policy.checks]", "[policy.checks]\ncolour = \"red\""));
    assert!(e.contains("unknown field `colour`") && e.contains("policy.checks"), "{e}");
    let e = err_of(&seed_with("[policy.phases.gates.db_pool]", "[policy.phases.gates.disk_io]"));
    assert!(e.contains("disk_io") && e.contains("metric"), "{e}");
}

#[test]
fn caps_name_themselves() {
    let e = err_of(&seed_with("time_limit = \"72h\"", "time_limit = \"1000years\""));
    assert!(e.contains("simulation.time_limit") && e.contains("cap"), "{e}");
    let classes: String = (0..70).map(|i| format!("{{ name = \"c{i}\", share = \"0.5%\" }},\n")).collect();
    let e = err_of(&seed_with("classes = [", &format!("classes = [\n{classes}")));
    assert!(e.contains("traffic.classes") && e.contains("cap of 63"), "{e}");
    // Out of range on either side, the message gives the range (not "above 0" for 1e9).
    for rate in ["1000000000", "0.0001"] {
        let e = err_of(&seed_with("requests_per_second = 300", &format!("requests_per_second = {rate}")));
        assert!(e.contains("traffic.requests_per_second") && e.contains("from 0.001 to below 1e9"), "{e}");
    }
}

#[test]
fn files_that_are_empty_binary_missing_or_folders() {
    let dir = tempfile::tempdir().unwrap();
    let load = |p: &std::path::Path| Scenario::load(p).map(|_| ()).unwrap_err().to_string();
    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, "\n  \n").unwrap();
    assert!(load(&empty).contains("empty.toml") && load(&empty).contains("the file is empty"));
    let bin = dir.path().join("bin.toml");
    std::fs::write(&bin, [0xff, 0xfe, 0x00, 0x9f, 0x92, 0x96]).unwrap();
    assert!(load(&bin).contains("not a text file"), "{}", load(&bin));
    let missing = dir.path().join("missing.toml");
    assert!(load(&missing).contains("missing.toml") && load(&missing).contains("cannot read the file"));
    assert!(load(dir.path()).contains("is a folder"), "{}", load(dir.path()));
    // Garbage that is text.
    let junk = dir.path().join("junk.toml");
    std::fs::write(&junk, "this is = = not toml [").unwrap();
    assert!(load(&junk).contains("junk.toml:1:"), "{}", load(&junk));
}

#[test]
fn a_corrupt_trial_table_is_an_error_never_a_panic() {
    // Every byte of a real trial table, inverted in turn: the reader answers with
    // a table or an error (polars' decoder panics on some of these; fuzzing found it).
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r");
    let o = assert_cmd::Command::cargo_bin("rollsim")
        .unwrap()
        .args(["run", "--trials", "5", "--out"])
        .arg(&report)
        .output()
        .unwrap();
    assert!(o.status.success());
    let good = std::fs::read(report.join("trials.parquet")).unwrap();
    let mut errors = 0;
    for i in (0..good.len()).step_by(3) {
        let mut bad = good.clone();
        bad[i] ^= 0xff;
        std::fs::write(report.join("trials.parquet"), &bad).unwrap();
        let r = std::panic::catch_unwind(|| rollsim::compare::read_report(&report));
        let r = r.unwrap_or_else(|_| panic!("reading the table with byte {i} inverted panicked"));
        if let Err(e) = r {
            assert!(e.to_string().contains("trials.parquet"), "{e}");
            errors += 1;
        }
    }
    assert!(errors > 0);
}

#[test]
fn every_engine_duration_is_on_the_scrape_grid() {
    // The seed scrapes every 15 s.
    let e = err_of(&seed_with("[policy.rollback]\nduration = \"5m\"", "[policy.rollback]\nduration = \"5m10s\""));
    assert!(e.contains("policy.rollback.duration") && e.contains("multiple of fleet.scrape_interval (15s)"), "{e}");
    let e = err_of(&seed_with("on_failure = \"rollback\"", "on_failure = \"extend\"\nextend_by = \"61s\""));
    assert!(e.contains("policy.checks.extend_by") && e.contains("found 1m1s"), "{e}");
    let e = err_of(&seed_with("[[policy.phases]]\n", "[[policy.phases]]\napproval = \"7s\"\n"));
    assert!(e.contains("policy.phases[0].approval") && e.contains("multiple of fleet.scrape_interval"), "{e}");
    // On the grid: accepted.
    let ok = seed_with("[policy.rollback]\nduration = \"5m\"", "[policy.rollback]\nduration = \"5m15s\"");
    assert!(Scenario::from_toml(&ok, "s.toml").is_ok());
}
