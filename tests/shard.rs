//! Shards: shard-then-merge equals a single run, byte for byte; broken sets
//! of shards are rejected with the folder named; the example manifests parse
//! and run the documented commands.

use assert_cmd::Command;
use std::path::Path;

fn rollsim() -> Command {
    Command::cargo_bin("rollsim").unwrap()
}

fn ok(args: &[&str]) {
    let o = rollsim().args(args).output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn shard_then_merge_equals_a_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = |s: &str| dir.path().join(s).to_str().unwrap().to_string();
    for i in 0..3 {
        ok(&["run", "--trials", "90", "--seed", "4", "--shard", &format!("{i}/3"), "--out", &d(&format!("s{i}"))]);
    }
    ok(&["merge", &d("s1"), &d("s2"), &d("s0"), "--out", &d("merged")]);
    ok(&["run", "--trials", "90", "--seed", "4", "--out", &d("single"), "--threads", "1"]);
    for f in ["trials.parquet", "trials.csv", "summary.json", "summary.md", "index.html", "spread.svg"] {
        let a = std::fs::read(Path::new(&d("merged")).join(f)).unwrap();
        let b = std::fs::read(Path::new(&d("single")).join(f)).unwrap();
        assert!(a == b, "{f} differs between merge and single run");
    }

    // A missing shard, a duplicate, and a shard of another run are rejected.
    let err = |args: &[&str]| {
        let o = rollsim().args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        String::from_utf8(o.stderr).unwrap()
    };
    assert!(err(&["merge", &d("s0"), &d("s1"), "--out", &d("x")]).contains("missing shards: 2/3"));
    assert!(err(&["merge", &d("s0"), &d("s0"), &d("s1"), "--out", &d("x")]).contains("given twice"));
    ok(&["run", "--trials", "90", "--seed", "5", "--shard", "2/3", "--out", &d("other")]);
    let e = err(&["merge", &d("s0"), &d("s1"), &d("other"), "--out", &d("x")]);
    assert!(e.contains("other/shard.json") && e.contains("belongs to another run"), "{e}");
    let e = err(&["merge", &d("single"), "--out", &d("x")]);
    assert!(e.contains("single: not a shard folder (it has no shard.json)") && e.contains("--shard i/n"), "{e}");
    let e = err(&["merge", &d("nowhere"), "--out", &d("x")]);
    assert!(e.contains("nowhere/shard.json: cannot read"), "{e}");
    // A field of the wrong type, or one rollsim does not know, is named.
    let info = Path::new(&d("s2")).join("shard.json");
    let good = std::fs::read_to_string(&info).unwrap();
    std::fs::write(&info, good.replace("\"seed\": 4", "\"seed\": \"four\"")).unwrap();
    let e = err(&["merge", &d("s0"), &d("s1"), &d("s2"), "--out", &d("x")]);
    assert!(e.contains("s2/shard.json: `seed`: invalid type"), "{e}");
    std::fs::write(&info, good.replace("\"seed\": 4", "\"seed\": 4, \"sed\": 4")).unwrap();
    let e = err(&["merge", &d("s0"), &d("s1"), &d("s2"), "--out", &d("x")]);
    assert!(e.contains("unknown field `sed`"), "{e}");
    // A malformed shard spec is a usage error.
    let o = rollsim().args(["run", "--trials", "10", "--shard", "3/3"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

fn example(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/examples").join(name)).unwrap()
}

#[test]
fn example_manifests_parse_and_pass_their_shard_to_rollsim() {
    use yaml_rust2::YamlLoader;
    let job = &YamlLoader::load_from_str(&example("shards/kubernetes-indexed-job.yaml")).unwrap()[0];
    assert_eq!(job["kind"].as_str(), Some("Job"));
    assert_eq!(job["spec"]["completionMode"].as_str(), Some("Indexed"));
    let n = job["spec"]["completions"].as_i64().unwrap();
    let args = job["spec"]["template"]["spec"]["containers"][0]["args"][0].as_str().unwrap();
    assert!(args.contains(&format!("--shard \"${{JOB_COMPLETION_INDEX}}/{n}\"")), "{args}");

    let gh = &YamlLoader::load_from_str(&example("shards/github-matrix.yml")).unwrap()[0];
    let shards = gh["jobs"]["shard"]["strategy"]["matrix"]["shard"].as_vec().unwrap().len();
    let merge_steps = gh["jobs"]["merge"]["steps"].as_vec().unwrap();
    assert!(merge_steps.iter().any(|s| s["run"].as_str().is_some_and(|r| r.contains("rollsim merge"))));
    assert_eq!(shards, 4);

    for f in ["github-compare.yml", "gitlab-compare.yml"] {
        let doc = YamlLoader::load_from_str(&example(f)).unwrap();
        assert!(example(f).contains("rollsim compare --git-base"), "{f}");
        assert_eq!(doc.len(), 1, "{f}");
    }

    let slurm = example("shards/slurm-array.sh");
    assert!(slurm.contains("#SBATCH --array=0-7") && slurm.contains("--shard \"${SLURM_ARRAY_TASK_ID}/${shards}\""));
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/examples/shards/slurm-array.sh"))
        .status()
        .unwrap();
    assert!(syntax.success());
}

#[test]
fn sweep_shards_merge_into_the_single_machine_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let d = |s: &str| dir.path().join(s).to_str().unwrap().to_string();
    let common = [
        "sweep",
        "--vary",
        "policy.checks.mode=phase-end,continuous",
        "--trials",
        "80",
        "--seed",
        "6",
        "--objective",
        "min p90_detection",
    ];
    for i in 0..2 {
        let mut args: Vec<String> = common.iter().map(|s| s.to_string()).collect();
        args.extend(["--shard".into(), format!("{i}/2"), "--out".into(), d(&format!("w{i}"))]);
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&a);
    }
    ok(&["merge", &d("w0"), &d("w1"), "--out", &d("merged")]);
    let mut single: Vec<&str> = common.to_vec();
    let out = d("single");
    single.extend(["--out", &out]);
    ok(&single);
    for f in ["sweep.md", "sweep.json", "tradeoff_detection.svg"] {
        let a = std::fs::read(Path::new(&d("merged")).join(f)).unwrap();
        let b = std::fs::read(Path::new(&d("single")).join(f)).unwrap();
        assert!(a == b, "{f} differs between merged shards and a single sweep");
    }
    let o = rollsim().args(["merge", &d("w0"), "--out", &d("x")]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8(o.stderr).unwrap().contains("missing shards: 1/2"));
}
