//! Sweeps: paired variants, monotone limits, rejected paths, recommendations.

use assert_cmd::Command;
use rollsim::compare::MetricId;
use rollsim::scenario::SEED_TOML;
use rollsim::sweep::{self, Objective, Vary};

fn vary(s: &str) -> Vary {
    s.parse().unwrap()
}

#[test]
fn identical_variants_give_identical_results() {
    let vs =
        sweep::variants(SEED_TOML, "seed", &[vary("policy.phases[0].gates.error_rate.limit=1%,1%")], false).unwrap();
    assert_eq!(vs.len(), 3);
    let r = sweep::run(vs, 3, 150, 2, None, &|| {}).unwrap();
    assert_eq!(r.rows[1], r.rows[2]);
    // 1% is the seed's own limit: the variants equal the current policy.
    assert_eq!(r.rows[0], r.rows[1]);
}

#[test]
fn a_stricter_limit_never_rolls_back_later_on_the_same_trial() {
    let start = SEED_TOML.find("# The fault mix").unwrap();
    let end = SEED_TOML.find("[simulation]").unwrap();
    let text = format!(
        "{}[[faults]]\nkind = \"error-rate\"\nweight = 1\nonset = \"0s..6h\"\nerror_rate = \"0.2%..3%\"\n\n{}",
        &SEED_TOML[..start],
        &SEED_TOML[end..]
    );
    let vs = sweep::variants(&text, "t", &[vary("policy.phases[0].gates.error_rate.limit=0.5%,2%")], false).unwrap();
    let r = sweep::run(vs, 17, 200, 2, None, &|| {}).unwrap();
    let (strict, loose) = (&r.rows[1], &r.rows[2]);
    let mut earlier = 0;
    for (k, (s, l)) in strict.iter().zip(loose).enumerate() {
        match (s.rollback_h, l.rollback_h) {
            (Some(st), Some(lt)) => {
                assert!(st <= lt, "trial {k}: strict at {st} h, loose at {lt} h");
                earlier += usize::from(st < lt);
            }
            (None, Some(_)) => panic!("trial {k}: loose rolled back, strict did not"),
            (Some(_), None) => earlier += 1,
            (None, None) => {}
        }
    }
    assert!(earlier > 20, "the stricter limit should matter on this mix ({earlier} trials earlier)");
}

#[test]
fn the_recommendation_satisfies_the_constraint_and_lies_on_the_frontier() {
    let vs = sweep::variants(
        SEED_TOML,
        "seed",
        &[vary("policy.phases[0].gates.error_rate.limit=0.5%,2%"), vary("policy.checks.mode=phase-end,continuous")],
        false,
    )
    .unwrap();
    let objective: Objective = "min p90_detection where false_rollback <= 25%".parse().unwrap();
    let r = sweep::run(vs, 2, 200, 2, Some(objective.clone()), &|| {}).unwrap();
    let rec = r.recommended.expect("a variant satisfies the constraint");
    assert!(objective.satisfied(&r.rows[rec]));
    assert!(r.frontier_detection.contains(&rec), "{rec} not in {:?}", r.frontier_detection);
    let best = sweep::value(MetricId::P90Detection, &r.rows[rec]);
    for (i, rows) in r.rows.iter().enumerate() {
        if objective.satisfied(rows) {
            assert!(best <= sweep::value(MetricId::P90Detection, rows), "variant {i} beats the recommendation");
        }
    }
    assert!(r.evidence.is_some());
    let md = r.markdown(2, 200);
    assert!(md.contains("**recommended**") && md.contains("Paired evidence"));
}

#[test]
fn bad_paths_and_values_are_rejected_before_running() {
    let cases = [
        ("policy.phases[7].bake=1h", "no `policy.phases[7]`"),
        ("fleet.instances=many", "expects an integer"),
        ("policy.checks.every=5 parsecs", "policy.checks.every: expected a duration"),
        ("policy.checks.colour=red", "unknown field `colour`"),
        ("nonsense", "expected PATH=v1,v2"),
    ];
    for (v, want) in cases {
        let o = Command::cargo_bin("rollsim").unwrap().args(["sweep", "--trials", "10", "--vary", v]).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{v}");
        let err = String::from_utf8(o.stderr).unwrap();
        assert!(err.contains(want), "{v}: {err}");
    }
}

#[test]
fn variants_find_recordings_next_to_the_scenario_file() {
    // A recording varied by path (values with `/`) is found next to the scenario,
    // whatever the working folder and however the variant is labelled.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rec")).unwrap();
    for (name, peak) in [("a.csv", 0.08), ("b.csv", 0.02)] {
        let mut csv = String::from("timestamp,value\n");
        for m in 0..120u64 {
            let v = if (30..60).contains(&m) { peak } else { 0.001 };
            csv.push_str(&format!("{},{v}\n", 1_600_000_000 + m * 60));
        }
        std::fs::write(dir.path().join("rec").join(name), csv).unwrap();
    }
    let start = SEED_TOML.find("# The fault mix").unwrap();
    let end = SEED_TOML.find("[simulation]").unwrap();
    let faults = "[[faults]]\nname = \"replayed\"\nkind = \"recorded\"\nweight = 1\ndata = \"rec/a.csv\"\n";
    let scenario = dir.path().join("s.toml");
    std::fs::write(&scenario, format!("{}{faults}\n{}", &SEED_TOML[..start], &SEED_TOML[end..])).unwrap();
    let o = Command::cargo_bin("rollsim")
        .unwrap()
        .current_dir("/")
        .arg("sweep")
        .arg(&scenario)
        .args(["--trials", "4", "--vary", "faults[0].data=rec/a.csv,rec/b.csv", "--out"])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("faults[0].data=rec/b.csv"));
}

/// `[*]` sets a field in every element that has it; `--zip` moves axes
/// together; `--write-best` saves the recommendation as a scenario file,
/// checked before any work and never over a file of yours.
#[test]
fn wildcards_zip_and_write_best() {
    // Every phase with an error_rate gate gets the value; the others are skipped.
    let vs = sweep::variants(SEED_TOML, "seed", &[vary("policy.phases[*].gates.error_rate.limit=3%")], false).unwrap();
    let limits: Vec<String> = vs[1]
        .scenario
        .policy
        .phases
        .iter()
        .flat_map(|p| p.gates.iter().filter(|g| g.name == "error_rate"))
        .map(|g| rollsim::scenario::print::limit_text(g.metric, &g.limit))
        .collect();
    assert_eq!(limits, vec!["3%"; 4]);
    let e = sweep::variants(SEED_TOML, "seed", &[vary("policy.phases[*].gates.nope.limit=3%")], false).unwrap_err();
    assert!(e.to_string().contains("no element of `[*]` has it"), "{e}");
    // Zipped axes: as many variants as values, the i-th of each together.
    let axes = [vary("policy.phases[0].gates.error_rate.limit=1%,2%,3%"), vary("policy.checks.every=5m,10m,15m")];
    let zipped = sweep::variants(SEED_TOML, "seed", &axes, true).unwrap();
    assert_eq!(zipped.len(), 1 + 3);
    assert_eq!(zipped[2].label(), "policy.phases[0].gates.error_rate.limit=2%, policy.checks.every=10m");
    assert_eq!(sweep::variants(SEED_TOML, "seed", &axes, false).unwrap().len(), 1 + 9);
    // A variant equal to the current policy says so (the seed's limit is 1%, checks every 15m).
    assert_eq!(zipped[1].label(), "policy.phases[0].gates.error_rate.limit=1%, policy.checks.every=5m");
    assert!(!zipped[1].same_as_current);
    let same =
        sweep::variants(SEED_TOML, "seed", &[vary("policy.phases[0].gates.error_rate.limit=1%,2%")], false).unwrap();
    assert_eq!(same[1].label(), "policy.phases[0].gates.error_rate.limit=1% (= current policy)");
    assert!(!same[2].same_as_current);
    let e = sweep::variants(SEED_TOML, "seed", &[axes[0].clone(), vary("policy.checks.every=5m")], true).unwrap_err();
    assert!(e.to_string().contains("--zip: every --vary needs as many values"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let best = dir.path().join("best.toml");
    std::fs::write(&best, "mine").unwrap();
    let run = |extra: &[&str]| {
        assert_cmd::Command::cargo_bin("rollsim")
            .unwrap()
            .args([
                "sweep",
                "--vary",
                "policy.phases[0].gates.error_rate.limit=0.5%,2%",
                "--trials",
                "60",
                "--seed",
                "3",
            ])
            .args(["--objective", "min p90_detection where false_rollback <= 100%", "--write-best"])
            .arg(&best)
            .arg("--out")
            .arg(dir.path().join("sweep"))
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&best).unwrap(), "mine", "a file of yours is never overwritten");
    assert!(!dir.path().join("sweep").exists(), "refused before any work");
    std::fs::remove_file(&best).unwrap();
    let out = run(&[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&best).unwrap();
    assert!(text.starts_with("# Recommended by `rollsim sweep`"), "{text}");
    // The sweep's page: its tables as HTML and both trade-off charts embedded.
    let page = std::fs::read_to_string(dir.path().join("sweep").join("index.html")).unwrap();
    assert!(page.contains("<table>") && page.contains("<strong>recommended</strong>"), "{page}");
    assert_eq!(page.matches("src=\"data:image/svg+xml").count(), 2);
    let saved = rollsim::scenario::Scenario::from_toml(&text, "best.toml").unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let id = stdout.lines().find_map(|l| l.strip_prefix("recommended variant ")).unwrap().split(' ').next().unwrap();
    let limit = &saved.policy.phases[0].gates[0].limit;
    let want = match id {
        "v1" => "0.5%",
        "v2" => "2%",
        _ => "1%",
    };
    assert_eq!(rollsim::scenario::print::limit_text(saved.policy.phases[0].gates[0].metric, limit), want, "{stdout}");
    // An objective no variant meets: the report, an error, exit 1, and no file.
    let none = dir.path().join("none.toml");
    let out = assert_cmd::Command::cargo_bin("rollsim")
        .unwrap()
        .args(["sweep", "--vary", "policy.phases[0].gates.error_rate.limit=0.5%,2%", "--trials", "20", "--quiet"])
        .args(["--objective", "min p90_detection where false_rollback < 0%", "--write-best"])
        .arg(&none)
        .arg("--out")
        .arg(dir.path().join("sweep-none"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: no variant meets the objective;"), "{stderr}");
    assert!(!none.exists() && dir.path().join("sweep-none").join("index.html").is_file());
}

#[test]
fn equal_variants_reuse_records_that_equal_a_fresh_simulation() {
    // 1% is the seed's own limit: v1 and v2 equal the current policy and reuse
    // its records; v3 differs and is simulated. Every variant's records equal
    // a run of its scenario on its own, and the progress bar still counts
    // every variant's trials.
    let vs =
        sweep::variants(SEED_TOML, "seed", &[vary("policy.phases[0].gates.error_rate.limit=1%,1%,3%")], false).unwrap();
    let ticks = std::sync::atomic::AtomicU64::new(0);
    let tick = || {
        ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    };
    let records = sweep::run_records(&vs, 5, 0..120, 2, &tick).unwrap();
    assert_eq!(ticks.into_inner(), 4 * 120);
    for (v, r) in vs.iter().zip(&records) {
        assert_eq!(r, &rollsim::runner::run(&v.scenario, 5, 0..120, 1, &|| {}).unwrap(), "{}", v.id);
    }
    assert_eq!(records[0], records[1]);
    assert_ne!(records[0], records[3]);
}

/// Every variant's records from `run_records` equal a run of its scenario
/// alone (one thread), for 1 and 2 threads; returns the records.
fn assert_shared_equals_alone(vs: &[sweep::Variant], seed: u64, trials: u64) -> Vec<Vec<rollsim::sim::TrialRecord>> {
    let alone: Vec<_> =
        vs.iter().map(|v| rollsim::runner::run(&v.scenario, seed, 0..trials, 1, &|| {}).unwrap()).collect();
    for threads in [1, 2] {
        let shared = sweep::run_records(vs, seed, 0..trials, threads, &|| {}).unwrap();
        for ((v, s), a) in vs.iter().zip(&shared).zip(&alone) {
            assert_eq!(s, a, "variant {} ({threads} threads)", v.id);
        }
    }
    alone
}

#[test]
fn variants_that_share_a_world_get_the_records_of_their_runs_alone() {
    // Policy-only variants (one world, forked where their weights part: other
    // phase weights, earlier or later rollbacks, longer bakes) and one that
    // changes the world (more traffic: simulated on its own).
    let vs = sweep::variants(
        SEED_TOML,
        "seed",
        &[
            vary("policy.phases[0].gates.error_rate.limit=0.3%,4%"),
            vary("policy.phases[0].weight=10%"),
            vary("policy.phases[0].bake=2h"),
            vary("policy.rollback.triggers.error_rate.threshold=0.5%"),
            vary("policy.checks.every=5m"),
            vary("traffic.requests_per_second=400"),
        ],
        false,
    )
    .unwrap();
    let alone = assert_shared_equals_alone(&vs, 11, 150);
    // The variants decide differently on some trials, so the world did fork.
    let ends = |i: usize| alone[i].iter().map(|r| (r.outcome, r.end)).collect::<Vec<_>>();
    for (i, v) in vs.iter().enumerate().skip(1) {
        assert_ne!(ends(0), ends(i), "variant {} decides like the current policy on every trial", v.id);
    }
}

#[test]
fn promql_variants_share_a_world_and_match_their_runs_alone() {
    let text = std::fs::read_to_string("scenarios/seed-canary-promql.toml").unwrap();
    let vs = sweep::variants(
        &text,
        "scenarios/seed-canary-promql.toml",
        &[vary("policy.phases[0].gates.error_rate.limit=0.002,0.03"), vary("policy.phases[1].bake=1h")],
        false,
    )
    .unwrap();
    assert_shared_equals_alone(&vs, 4, 60);
}

#[test]
fn imported_argo_variants_share_a_world_and_match_their_runs_alone() {
    let path = std::path::PathBuf::from("scenarios/import/argo-rollout.yaml");
    let imported = rollsim::import::import(&[path], &Default::default()).unwrap();
    let vs = sweep::variants(
        &imported.toml,
        "argo-rollout (imported)",
        &[vary("policy.argo.metrics.success-rate.failure_limit=0,5"), vary("policy.argo.steps[0].set_weight=10%")],
        false,
    )
    .unwrap();
    let alone = assert_shared_equals_alone(&vs, 8, 40);
    for (i, v) in vs.iter().enumerate().skip(1) {
        assert_ne!(alone[0], alone[i], "variant {} runs like the current policy", v.id);
    }
}

/// `--quiet`, as for `run`: no tables, no throughput, only where the report is.
#[test]
fn a_quiet_sweep_prints_only_where_its_report_is() {
    let dir = tempfile::tempdir().unwrap();
    let out = assert_cmd::Command::cargo_bin("rollsim")
        .unwrap()
        .args(["sweep", "--vary", "policy.phases[0].gates.error_rate.limit=2%", "--trials", "20", "--seed", "3"])
        .arg("--quiet")
        .arg("--out")
        .arg(dir.path().join("s"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let shown = std::fs::canonicalize(dir.path().join("s")).unwrap();
    assert_eq!(stdout, format!("report: {}\n", shown.display()));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.path().join("s").join("index.html").is_file());
}
