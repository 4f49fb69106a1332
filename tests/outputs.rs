//! Never lose a user's files: every command that writes a folder refuses a
//! non-empty folder before any work, replaces only rollsim's own folders with
//! `--force`, and leaves nothing half-written behind.

use assert_cmd::Command;
use std::path::Path;

fn rollsim() -> Command {
    Command::cargo_bin("rollsim").unwrap()
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn a_folder_with_a_users_file_is_never_written_over() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("mine");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "keep me").unwrap();
    for force in [false, true] {
        let mut cmd = rollsim();
        cmd.args(["run", "--trials", "20", "--out"]).arg(&dir);
        if force {
            cmd.arg("--force");
        }
        let o = cmd.output().unwrap();
        assert_eq!(o.status.code(), Some(2), "force={force}");
        let err = String::from_utf8_lossy(&o.stderr);
        let want = if force { "was not written by rollsim" } else { "already exists and is not empty" };
        assert!(err.contains(want), "{err}");
        // Refused before any simulation: no table was printed.
        assert!(!String::from_utf8_lossy(&o.stdout).contains("throughput"), "force={force}");
        assert_eq!(std::fs::read_to_string(dir.join("notes.txt")).unwrap(), "keep me");
        assert_eq!(listing(&dir), vec!["notes.txt"]);
        assert_eq!(listing(root.path()), vec!["mine"], "nothing half-written beside it");
    }
    // The same for every other command that writes a folder.
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/seed-canary.toml");
    let cases: Vec<Vec<&str>> = vec![
        vec!["sweep", "--trials", "5", "--vary", "policy.checks.every=15m,30m"],
        vec!["compare", seed, seed, "--trials", "5"],
        vec!["merge", "/nonexistent-shard"],
    ];
    for args in cases {
        let o = rollsim().args(&args).arg("--out").arg(&dir).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("already exists and is not empty"), "{args:?}");
        assert_eq!(listing(&dir), vec!["notes.txt"]);
    }
}

#[test]
fn the_working_folder_a_file_and_the_root_are_refused_before_any_work() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("data.csv"), "x").unwrap();
    let o =
        rollsim().current_dir(root.path()).args(["run", "--trials", "20", "--out", ".", "--force"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is the working folder"), "{:?}", o);
    let o = rollsim().current_dir(root.path()).args(["run", "--trials", "20", "--out", "data.csv"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is a file, not a folder"));
    let o = rollsim().args(["run", "--trials", "20", "--out", "/", "--force"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(listing(root.path()), vec!["data.csv"]);
    assert_eq!(std::fs::read_to_string(root.path().join("data.csv")).unwrap(), "x");
}

#[test]
fn force_replaces_a_folder_rollsim_wrote_and_an_empty_folder_is_fine() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("report");
    std::fs::create_dir(&dir).unwrap();
    let run = |force: bool| {
        let mut cmd = rollsim();
        cmd.args(["run", "--trials", "20", "--seed", "3", "--out"]).arg(&dir);
        if force {
            cmd.arg("--force");
        }
        cmd.output().unwrap()
    };
    assert!(run(false).status.success(), "an empty folder is written into");
    for f in ["scenario.toml", "trials.parquet", "summary.json", ".rollsim-output"] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    let again = run(false);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert!(run(true).status.success());
    assert_eq!(listing(root.path()), vec!["report"], "no temporary folder left behind");
    // The report's reproduce command points at its own scenario copy.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(json["reproduce"], "rollsim trace scenario.toml --trial {trial} --seed 3");
    let o =
        rollsim().current_dir(&dir).args(["trace", "scenario.toml", "--trial", "4", "--seed", "3"]).output().unwrap();
    assert!(o.status.success());
}

#[test]
fn record_never_overwrites_a_file_without_force() {
    let root = tempfile::tempdir().unwrap();
    let f = root.path().join("t.csv");
    std::fs::write(&f, "precious").unwrap();
    let o = rollsim().args(["record", "--trial", "1", "--out"]).arg(&f).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "precious");
    let o = rollsim().args(["record", "--trial", "1", "--out"]).arg(root.path()).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is a folder"));
    let o = rollsim().args(["record", "--trial", "1", "--force", "--out"]).arg(&f).output().unwrap();
    assert!(o.status.success());
    assert!(std::fs::read_to_string(&f).unwrap().starts_with("timestamp"));
    assert_eq!(listing(root.path()), vec!["t.csv"]);
}

#[test]
fn folders_carry_their_recordings_so_recorded_faults_merge_and_trace() {
    let root = tempfile::tempdir().unwrap();
    let src = root.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let mut csv = String::from("timestamp,value\n");
    for m in 0..180u64 {
        let v = if (60..90).contains(&m) { 0.08 } else { 0.001 };
        csv.push_str(&format!("{},{v}\n", 1_600_000_000 + m * 60));
    }
    std::fs::write(src.join("incident.csv"), &csv).unwrap();
    let seed = rollsim::scenario::SEED_TOML;
    let start = seed.find("# The fault mix").unwrap();
    let end = seed.find("[simulation]").unwrap();
    let faults = "[[faults]]\nname = \"good\"\nkind = \"none\"\nweight = 1\n\n[[faults]]\nname = \"replayed\"\nkind = \"recorded\"\nweight = 1\ndata = \"incident.csv\"\n";
    let scenario = src.join("s.toml");
    std::fs::write(&scenario, format!("{}{faults}\n{}", &seed[..start], &seed[end..])).unwrap();
    let run = |args: &[&str], out: &Path| {
        let o = rollsim().arg("run").arg(&scenario).args(args).arg("--out").arg(out).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let whole = root.path().join("whole");
    run(&["--trials", "12", "--seed", "4"], &whole);
    let (s0, s1) = (root.path().join("s0"), root.path().join("s1"));
    run(&["--trials", "12", "--seed", "4", "--shard", "0/2"], &s0);
    run(&["--trials", "12", "--seed", "4", "--shard", "1/2"], &s1);
    assert!(s0.join("recordings/replayed.csv").is_file());
    // The original recording may move away: the folders hold their own copies.
    std::fs::rename(&src, root.path().join("moved")).unwrap();
    let merged = root.path().join("merged");
    let o = rollsim().arg("merge").arg(&s0).arg(&s1).arg("--out").arg(&merged).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in ["summary.json", "trials.csv", "scenario.toml"] {
        assert_eq!(std::fs::read(whole.join(f)).unwrap(), std::fs::read(merged.join(f)).unwrap(), "{f}");
    }
    assert_eq!(std::fs::read_to_string(whole.join("recordings/replayed.csv")).unwrap(), csv);
    let o =
        rollsim().current_dir(&whole).args(["trace", "scenario.toml", "--trial", "1", "--seed", "4"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A changed recording is another scenario: merging it with the others is refused.
    std::fs::write(s1.join("recordings/replayed.csv"), csv.replace("0.08", "0.09")).unwrap();
    let o = rollsim().arg("merge").arg(&s0).arg(&s1).arg("--out").arg(root.path().join("m2")).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("scenario hash"), "{}", String::from_utf8_lossy(&o.stderr));
}
