//! A mutation fuzzer for every input rollsim parses, on the stable toolchain.
//!
//! ```sh
//! cargo run --release --example fuzz -- all 60          # every target, 60 s each
//! cargo run --release --example fuzz -- scenario 300    # one target
//! ```
//!
//! Each target starts from real inputs (the seed scenario, replay files, the
//! test fixture, report folders written by rollsim) and mutates them: bit
//! flips, byte insertions and deletions, repeated chunks, splices, and tokens
//! that parsers get wrong (quotes, separators, huge and negative numbers,
//! non-ASCII bytes). A panic is caught, reported with the input that caused it
//! (written to `fuzz-crashes/`), and makes the run fail; an abort ends the
//! process with a non-zero status. It prints executions per target.

use rollsim::io::series::{self as input, Mapping};
use rollsim::scenario::{Scenario, SEED_TOML};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// xorshift64*: a small, fast, seeded generator for mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const TOKENS: &[&str] = &[
    ",",
    "\"",
    "\n",
    "\r\n",
    "=",
    "[",
    "]",
    "{",
    "}",
    ":",
    ".",
    "-",
    "+",
    "%",
    "..",
    "ms",
    "s",
    "m",
    "h",
    "d",
    "years",
    "-1",
    "0",
    "1e308",
    "-1e308",
    "NaN",
    "inf",
    "18446744073709551615",
    "9223372036854775807",
    "99999999999999",
    "é",
    "\u{feff}",
    "\0",
    "\\",
    "'",
    "true",
    "null",
    "[[",
    "]]",
    "baseline + ",
    "candidate",
    "stable",
    "rollsim:",
    "T",
    "Z",
    "+0é:0",
    "2014-02-31 00:00:00",
    "1000years",
    "999999h",
    "\t",
];

fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(7) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => v.insert(at, rng.next() as u8),
            2 if !v.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(v.len());
                v.drain(at.min(end)..end);
            }
            3 => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                v.splice(at..at, t.iter().copied());
            }
            4 if !v.is_empty() => {
                // Repeat a chunk (long lines, many rows).
                let s = rng.below(v.len());
                let e = (s + 1 + rng.below(64)).min(v.len());
                let chunk = v[s..e].to_vec();
                for _ in 0..=rng.below(8) {
                    v.splice(at..at, chunk.iter().copied());
                }
            }
            5 if !corpus.is_empty() => {
                // Splice a piece of another input.
                let other = &corpus[rng.below(corpus.len())];
                if !other.is_empty() {
                    let s = rng.below(other.len());
                    let e = (s + 1 + rng.below(128)).min(other.len());
                    v.splice(at..at, other[s..e].iter().copied());
                }
            }
            _ if !v.is_empty() => {
                // Replace a digit run by an extreme number.
                let i = rng.below(v.len());
                if v[i].is_ascii_digit() {
                    let t = ["0", "-5", "1e400", "4294967296", "18446744073709551616"][rng.below(5)];
                    v.splice(i..i + 1, t.bytes());
                }
            }
            _ => {}
        }
    }
    v.truncate(1 << 16);
    v
}

type Exec = Box<dyn Fn(&[u8])>;

struct Target {
    name: &'static str,
    corpus: Vec<Vec<u8>>,
    exec: Exec,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn long_csv() -> Vec<u8> {
    let mut s = String::from("timestamp,metric,version,value,host\n");
    for m in 0..40u64 {
        let t = 1_700_000_000 + m * 60;
        s.push_str(&format!("{t},error_rate,candidate,0.0{m},a\n{t},cpu,stable,0.4,\"b,c\"\n"));
    }
    s.into_bytes()
}

/// Series for the PromQL target: a counter with a reset, a gauge with a gap
/// and a NaN, and histogram buckets.
fn promql_fixture() -> rollsim::promql::MemStorage {
    use rollsim::promql::labels;
    let pts =
        |f: &dyn Fn(i64) -> Option<f64>| (0..60).filter_map(|i| f(i).map(|v| (i * 15_000, v))).collect::<Vec<_>>();
    let mut st = rollsim::promql::MemStorage::default();
    st.series.push((labels([("__name__", "x"), ("a", "1")]), pts(&|i| Some(((i * 7) % 40) as f64))));
    st.series.push((
        labels([("__name__", "g"), ("b", "2")]),
        pts(&|i| (i % 9 != 0).then_some(if i == 20 { f64::NAN } else { i as f64 / 3.0 })),
    ));
    for le in ["0.1", "0.5", "+Inf"] {
        st.series.push((labels([("__name__", "x_bucket"), ("le", le)]), pts(&|i| Some(i as f64))));
    }
    st
}

fn targets(scratch: &Path) -> Vec<Target> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |p: &str| std::fs::read(root.join(p)).unwrap_or_default();
    let nab: Mapping = "value=cpu*0.01".parse().expect("a valid mapping");
    let mut out = vec![
        Target {
            name: "scenario",
            corpus: vec![SEED_TOML.as_bytes().to_vec(), read("scenarios/replay-ec2-cpu.toml")],
            exec: Box::new(|b| {
                if let Ok(sc) = Scenario::from_toml(&text(b), "fuzz.toml") {
                    // A scenario that validates must also print and re-read.
                    let again = rollsim::scenario::print::to_toml(&sc);
                    Scenario::from_toml(&again, "fuzz-again.toml").expect("a printed scenario reads back");
                }
            }),
        },
        Target {
            name: "long-csv",
            corpus: vec![long_csv()],
            exec: Box::new(|b| {
                let _ = input::read_csv_bytes(b, "fuzz.csv", &Mapping::default());
            }),
        },
        Target {
            name: "nab-csv",
            corpus: vec![
                b"timestamp,value\n2014-02-14 14:27:00,51.8\n2014-02-14 14:32:00,52.1\n2014-02-14 14:37:00,\n".to_vec(),
            ],
            exec: Box::new(move |b| {
                let _ = input::read_csv_bytes(b, "fuzz.csv", &nab);
            }),
        },
        Target {
            name: "prom-json",
            corpus: vec![read("tests/fixtures/prometheus-query-range.json")],
            exec: Box::new(|b| {
                let _ = input::read_prometheus_text(&text(b), Path::new("fuzz.json"), &Mapping::default());
            }),
        },
        Target {
            name: "labels-json",
            corpus: vec![
                br#"[["2014-02-14 14:27:00", "2014-02-15 14:27:00"]]"#.to_vec(),
                br#"{"realAWSCloudwatch/x.csv": [["2014-02-14 14:27:00.000000", "2014-02-15 14:27:00.000000"]]}"#
                    .to_vec(),
            ],
            exec: Box::new(|b| {
                let _ =
                    input::parse_windows(&text(b), Path::new("labels.json"), Path::new("data/realAWSCloudwatch/x.csv"));
            }),
        },
        Target {
            name: "vary",
            corpus: vec![
                b"policy.phases[0].gates.error_rate.limit=0.5%,1%,2%".to_vec(),
                b"policy.checks.mode=phase-end,continuous".to_vec(),
                b"fleet.instances=10,100".to_vec(),
            ],
            exec: Box::new(|b| {
                if let Ok(v) = text(b).parse::<rollsim::sweep::Vary>() {
                    let _ = rollsim::sweep::variants(SEED_TOML, "seed", &[v], false);
                }
            }),
        },
        Target {
            name: "promql",
            corpus: vec![
                br#"sum by (le) (rate(http_request_duration_seconds_bucket{version="canary",code!~"5.."}[5m] offset 1m))"#.to_vec(),
                br#"histogram_quantile(0.99, sum(rate(x_bucket[1m])) by (le)) / on(a) group_left(b) (y > bool 2) or vector(1)"#.to_vec(),
                br#"topk(2, clamp(abs(delta(g[10m])), -1, 1e3)) unless absent(z{q="1"}) and quantile_over_time(0.5, g[5m])"#.to_vec(),
            ],
            exec: Box::new(|b| {
                // Whatever parses must evaluate without a panic, on series with gaps, NaN and resets.
                if let Ok(q) = rollsim::promql::parse(&text(b)) {
                    let mut st = promql_fixture();
                    let mut ev = rollsim::promql::Evaluator::new(&mut st);
                    let _ = ev.instant(&q, 600_000);
                    let _ = ev.range(&q, 0, 900_000, 150_000);
                }
            }),
        },
        Target {
            name: "labelled-csv",
            corpus: vec![b"timestamp,metric,value,version,code
1700000000,http_requests_total,5,canary,200
1700000015,http_requests_total,9,canary,200
".to_vec()],
            exec: Box::new(|b| {
                let _ = rollsim::promql::recorded::read_csv(&text(b), Path::new("fuzz.csv"));
                let _ = rollsim::promql::recorded::read_json(&text(b), Path::new("fuzz.json"));
            }),
        },
        Target {
            name: "manifest",
            corpus: vec![
                include_bytes!("../scenarios/import/argo-rollout.yaml").to_vec(),
                include_bytes!("../scenarios/import/flagger-canary.yaml").to_vec(),
                include_bytes!("../scenarios/import/slo-burn-rate.yaml").to_vec(),
            ],
            exec: Box::new(|b| {
                let _ = rollsim::import::import_str(&text(b), "fuzz.yaml", &Default::default());
            }),
        },
        Target {
            name: "map",
            corpus: vec![b"value=cpu*0.01,p99=latency_p99@stable,version:v2=candidate".to_vec()],
            exec: Box::new(|b| {
                let _ = text(b).parse::<Mapping>();
            }),
        },
        Target {
            name: "fail-on",
            corpus: vec![b"p90_detection:+20%,false_rollback[incident]:+0.5pp,excess_failed:100".to_vec()],
            exec: Box::new(|b| {
                let _ = rollsim::compare::parse_tolerances(&text(b));
            }),
        },
        Target {
            name: "objective",
            corpus: vec![b"min p90_detection where false_rollback[good] <= 1% and detection_rate >= 95%".to_vec()],
            exec: Box::new(|b| {
                let _ = text(b).parse::<rollsim::sweep::Objective>();
            }),
        },
    ];
    // Files read back from folders rollsim wrote: a report's trial table
    // (compare) and a shard folder (merge), damaged on disk.
    let sc = Scenario::seed();
    let records = rollsim::runner::run(&sc, 1, 0..40, 1, &|| {}).expect("a small run");
    let report = scratch.join("report");
    let meta = rollsim::report::RunMeta {
        scenario: sc.name.clone(),
        scenario_hash: rollsim::report::scenario_hash(&sc),
        seed: 1,
        trials: 40,
        program_version: "fuzz".into(),
        reproduce: rollsim::report::REPRODUCE_TEMPLATE.into(),
    };
    let shard = scratch.join("shard");
    let dest = rollsim::outdir::OutDir::check(&shard, true).expect("a fresh folder");
    rollsim::shard::write(&dest, &sc, &meta, "0/1".parse().expect("a shard"), &records).expect("a shard folder");
    let parquet = std::fs::read(shard.join("trials.parquet")).unwrap_or_default();
    let shard_json = std::fs::read(shard.join("shard.json")).unwrap_or_default();
    // The checksum of the undamaged table: a damaged copy must be refused by it.
    std::fs::create_dir_all(&report).expect("scratch");
    std::fs::copy(shard.join("trials.sha256"), report.join("trials.sha256")).expect("a checksum file");
    let (r1, r2) = (report.clone(), shard.clone());
    out.push(Target {
        name: "report-parquet",
        corpus: vec![parquet],
        exec: Box::new(move |b| {
            std::fs::create_dir_all(&r1).expect("scratch");
            std::fs::write(r1.join("trials.parquet"), b).expect("scratch");
            let _ = rollsim::compare::read_report(&r1);
        }),
    });
    out.push(Target {
        name: "shard-json",
        corpus: vec![shard_json],
        exec: Box::new(move |b| {
            std::fs::write(r2.join("shard.json"), b).expect("scratch");
            let _ = rollsim::shard::merge(std::slice::from_ref(&r2));
        }),
    });
    out
}

fn run(t: &Target, secs: f64, seed: u64, crashes: &Path) -> (u64, u64) {
    let mut rng = Rng(seed | 1);
    let mut corpus = t.corpus.clone();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let (mut execs, mut panics) = (0u64, 0u64);
    while Instant::now() < deadline {
        for _ in 0..64 {
            let base = &corpus[rng.below(corpus.len())];
            let input = mutate(&mut rng, base, &t.corpus);
            let ok = catch_unwind(AssertUnwindSafe(|| (t.exec)(&input))).is_ok();
            execs += 1;
            if !ok {
                panics += 1;
                std::fs::create_dir_all(crashes).expect("crash folder");
                let p = crashes.join(format!("{}-{panics}", t.name));
                std::fs::write(&p, &input).expect("crash file");
                eprintln!("PANIC in {}: input saved to {}", t.name, p.display());
            } else if corpus.len() < 256 && rng.below(64) == 0 {
                // Keep some mutants as new starting points.
                corpus.push(input);
            }
        }
    }
    (execs, panics)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let which = args.first().map_or("all", String::as_str).to_string();
    let secs: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10.0);
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0x5EED);
    // Panics are counted and reported, not printed one by one.
    std::panic::set_hook(Box::new(|_| {}));
    let scratch = std::env::temp_dir().join(format!("rollsim-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).expect("scratch folder");
    let crashes = PathBuf::from("fuzz-crashes");
    let all = targets(&scratch);
    let chosen: Vec<&Target> = all.iter().filter(|t| which == "all" || t.name == which).collect();
    if chosen.is_empty() {
        let names: Vec<&str> = all.iter().map(|t| t.name).collect();
        eprintln!("unknown target {which:?}; expected all or one of {}", names.join(", "));
        std::process::exit(2);
    }
    let mut failed = false;
    for t in chosen {
        let (execs, panics) = run(t, secs, seed, &crashes);
        println!(
            "{:<15} {execs:>10} executions in {secs:.0} s ({:.0}/s), {panics} panics",
            t.name,
            execs as f64 / secs
        );
        failed |= panics > 0;
    }
    let _ = std::fs::remove_dir_all(&scratch);
    if failed {
        std::process::exit(1);
    }
}
