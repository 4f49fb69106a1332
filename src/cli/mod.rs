//! Command-line glue: clap definitions and one function per command. All
//! reusable logic lives in the library; this module only reads arguments,
//! loads inputs, calls the library and prints.

use clap::{Parser, Subcommand};
use rollsim::scenario::{print, Scenario, FIELD_DOCS, SEED_NAME};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "rollsim", version, about = "Simulate and replay progressive-rollout policies")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Parse and validate scenario files, then describe each policy.
    Validate {
        /// Scenario files (TOML), or Argo Rollouts / Flagger manifests (YAML, imported with the defaults).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run many trials of a scenario in parallel and summarise the outcomes.
    Run {
        /// Scenario file; the built-in seed scenario when omitted.
        scenario: Option<PathBuf>,
        /// Number of trials (default: the scenario's simulation.trials).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
        trials: Option<u64>,
        /// Master seed (default: the scenario's simulation.seed).
        #[arg(long, allow_hyphen_values = true)]
        seed: Option<u64>,
        /// Worker threads, at most 1024 (default: all cores).
        #[arg(long, default_value_t = 0, value_parser = threads_arg)]
        threads: usize,
        /// Report folder (default: reports/<scenario>/<run-id>/); must not exist or be empty.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace the output folder if it is one rollsim wrote (never a folder of yours).
        #[arg(long)]
        force: bool,
        /// Run only shard i of n (0-based) and write a partial result for `rollsim merge`.
        #[arg(long, value_name = "i/n")]
        shard: Option<rollsim::shard::Shard>,
        /// What to print: `text` (tables for people) or `json` (only the summary document, for scripts).
        #[arg(long, value_enum, default_value_t = run::Format::Text)]
        format: run::Format,
        /// No progress bar and no tables: print only where the report is.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Run policy variants on the same trials and show their trade-offs.
    Sweep(sweep::Args),
    /// Merge shard folders (of a run or a sweep) into the report one machine would have written.
    Merge {
        /// Shard folders written by `run --shard i/n`, all n of them.
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// Report folder (default: reports/<scenario>/<run-id>/); must not exist or be empty.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace the output folder if it is one rollsim wrote (never a folder of yours).
        #[arg(long)]
        force: bool,
    },
    /// Re-run one trial alone and print its full event log.
    Trace {
        /// Scenario file; the built-in seed scenario when omitted.
        scenario: Option<PathBuf>,
        /// The trial index, as listed by `run`.
        #[arg(long)]
        trial: u64,
        /// Master seed (default: the scenario's simulation.seed).
        #[arg(long, allow_hyphen_values = true)]
        seed: Option<u64>,
        /// Show only `decisions` (and phase starts), or `failures` (failed, erroneous and
        /// inconclusive checks, rules that fired, decisions).
        #[arg(long, value_enum)]
        only: Option<run::TraceOnly>,
        /// Show only the 30 minutes either side of this time since the start (18h05m, 18:05, T+18:05:00).
        #[arg(long, value_name = "T")]
        around: Option<String>,
    },
    /// Replay recorded metrics through the policy: decisions, rule firings, labelled windows.
    Replay {
        /// Scenario whose policy judges the recording (default: the built-in seed), as for every other command.
        #[arg(value_name = "SCENARIO", conflicts_with = "scenario")]
        scenario_file: Option<PathBuf>,
        /// The same as the positional SCENARIO.
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Recorded metrics: long CSV (timestamp,metric,version,value), NAB-style CSV (timestamp,value),
        /// Parquet with the long CSV's columns (.parquet), or a Prometheus query_range response (.json).
        #[arg(long)]
        data: PathBuf,
        /// Labelled incident windows: NAB's combined_windows.json, or a JSON list of [start, end].
        #[arg(long)]
        labels: Option<PathBuf>,
        /// Series and version mapping, e.g. 'value=cpu*0.01' or 'http_errors=error_rate,version:v2=candidate'.
        #[arg(long)]
        map: Option<rollsim::io::series::Mapping>,
        /// End of the recording (default: the last sample), as a timestamp: rules keep
        /// being evaluated until then, so a recording that ends in a gap is judged to its end.
        #[arg(long)]
        until: Option<String>,
        /// Rollout start (default: the first sample), as a timestamp.
        #[arg(long)]
        start: Option<String>,
        /// Output folder (default: reports/replay/<data>-<UTC time>/); must not exist or be empty.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace the output folder if it is one rollsim wrote (never a folder of yours).
        #[arg(long)]
        force: bool,
    },
    /// Write one simulated trial's series in a replay format (replaying it reproduces its decisions).
    Record {
        /// Scenario file; the built-in seed scenario when omitted.
        scenario: Option<PathBuf>,
        /// The trial index, as listed by `run`.
        #[arg(long)]
        trial: u64,
        /// Master seed (default: the scenario's simulation.seed).
        #[arg(long, allow_hyphen_values = true)]
        seed: Option<u64>,
        /// Output format: csv, parquet or prom-json (replayable), or openmetrics (every series a
        /// Prometheus would scrape, for `promtool tsdb create-blocks-from openmetrics`).
        #[arg(long, default_value = "csv")]
        format: rollsim::io::record::Format,
        /// Output file; must not exist.
        #[arg(long)]
        out: PathBuf,
        /// Overwrite the output file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Evaluate PromQL over one simulated trial; prints Prometheus's /api/v1/query (or query_range) JSON.
    Query {
        /// [SCENARIO] EXPR: the scenario file (default: the built-in seed) and the PromQL
        /// expression (series named by the scenario's fleet.metrics profile; README: PromQL).
        #[arg(value_name = "[SCENARIO] EXPR")]
        args: Vec<String>,
        /// The expression as an option (then a positional is the scenario); needed when it starts with `-`.
        #[arg(long, short = 'e', value_name = "EXPR", allow_hyphen_values = true)]
        expr: Option<String>,
        /// The trial index, as listed by `run` (or query a recording with --data).
        #[arg(long)]
        trial: Option<u64>,
        /// Master seed (default: the scenario's simulation.seed).
        #[arg(long, allow_hyphen_values = true)]
        seed: Option<u64>,
        /// Query a recording instead: Prometheus query_range JSON (.json) or a long CSV
        /// (timestamp,metric,value and label columns); durations count from its first sample.
        #[arg(long, conflicts_with_all = ["trial", "seed"])]
        data: Option<PathBuf>,
        /// Evaluation time of an instant query (default: the trial's end): a duration since the
        /// trial's start ("2h30m"), Unix seconds, or RFC 3339. The trial starts at 2026-01-01T00:00:00Z.
        #[arg(long, conflicts_with_all = ["start", "end", "step"])]
        time: Option<String>,
        /// Start of a range query (default: the trial's start); same forms as --time.
        #[arg(long)]
        start: Option<String>,
        /// End of a range query (default: the trial's end).
        #[arg(long)]
        end: Option<String>,
        /// Step of a range query (default: 1m).
        #[arg(long)]
        step: Option<String>,
    },
    /// Compare two policies (paired, same trials) or two runs; exit 1 on a regression.
    Compare {
        /// BASE and NEW: two scenario files, or two report folders; one scenario with --git-base.
        #[arg(required = true, num_args = 1..=2)]
        inputs: Vec<PathBuf>,
        /// Compare the scenario against its own version at this git revision.
        #[arg(long, value_name = "REV")]
        git_base: Option<String>,
        /// Trials per side when running scenarios (default: NEW's simulation.trials).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
        trials: Option<u64>,
        /// Master seed shared by both sides (default: NEW's simulation.seed).
        #[arg(long, allow_hyphen_values = true)]
        seed: Option<u64>,
        /// Worker threads, at most 1024 (default: all cores).
        #[arg(long, default_value_t = 0, value_parser = threads_arg)]
        threads: usize,
        /// Tolerances, e.g. 'p90_detection:+10%,false_rollback:+0.5pp' (see README for defaults).
        #[arg(long, value_name = "SPEC")]
        fail_on: Option<String>,
        /// Bootstrap resamples for the intervals.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(100..=100_000))]
        resamples: u64,
        /// Output folder (default: reports/compare/<UTC time>/); must not exist or be empty.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace the output folder if it is one rollsim wrote (never a folder of yours).
        #[arg(long)]
        force: bool,
    },
    /// Import an Argo Rollouts or Flagger policy (and Prometheus rule files) into a scenario.
    ///
    /// Reads multi-document YAML: Rollout, AnalysisTemplate, ClusterAnalysisTemplate, Canary,
    /// MetricTemplate, PrometheusRule and plain rule files. The policy follows its controller's
    /// semantics; fleet, traffic, health and faults come from --base. Prints the scenario and
    /// the import report, or writes both with --out.
    Import {
        /// Manifest files (YAML; Helm charts must be rendered first).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Scenario whose fleet, traffic, health and fault mix to use (default: the built-in one).
        #[arg(long)]
        base: Option<PathBuf>,
        /// Write the scenario here and the report beside it (NAME.import.md); never over a file of yours.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace --out files that exist.
        #[arg(long)]
        force: bool,
        /// Measurements rollsim cannot simulate (Job, web, Datadog providers; Flagger rollout
        /// webhooks): `pass` or `fail` every time. Without it such a provider is an error.
        #[arg(long, value_name = "pass|fail")]
        unsupported: Option<String>,
        /// NAME=SIGNAL: bind a metric name the queries use to a simulated signal
        /// (requests, latency_bucket, cpu, memory, db_pool, restarts). Repeatable.
        #[arg(long, value_name = "NAME=SIGNAL")]
        bind: Vec<String>,
        /// NAME=VALUE: an Argo analysis arg (for `valueFrom`, or to override). Repeatable.
        #[arg(long, value_name = "NAME=VALUE")]
        arg: Vec<String>,
        /// An alert rule (by name; `*` for all) whose firing rolls back. Repeatable.
        #[arg(long, value_name = "ALERT")]
        rollback_on: Vec<String>,
    },
    /// Print a scenario as canonical TOML, or document every scenario field.
    Scenario {
        /// Scenario file; the built-in seed scenario when omitted.
        file: Option<PathBuf>,
        /// Print every field with its default and meaning instead (of every scenario: no FILE).
        #[arg(long, conflicts_with = "file")]
        explain: bool,
    },
}

/// Runs the command line; returns the process exit code
/// (0 success, 1 invalid input or failed run, 2 usage error).
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match cli.command {
        Command::Validate { files } => validate(&files),
        Command::Import { files, base, out, force, unsupported, bind, arg, rollback_on } => {
            import::import(import::Args { files, base, out, force, unsupported, bind, arg, rollback_on })
        }
        Command::Scenario { file, explain } => scenario(file, explain),
        Command::Run { scenario, trials, seed, threads, out, force, shard, format, quiet } => {
            run::run(scenario, trials, seed, threads, out, force, shard, format, quiet)
        }
        Command::Merge { shards, out, force } => run::merge(&shards, out, force),
        Command::Record { scenario, trial, seed, format, out, force } => {
            replay::record(scenario, trial, seed, format, &out, force)
        }
        Command::Replay { scenario_file, scenario, data, labels, map, start, until, out, force } => {
            let scenario = scenario_file.or(scenario);
            replay::replay(replay::Args { scenario, data, labels, map, start, until, out, force })
        }
        Command::Sweep(args) => sweep::sweep(args),
        Command::Query { args, expr, trial, seed, data, time, start, end, step } => {
            let (scenario, expr) = match (args.as_slice(), expr) {
                ([], Some(e)) => (None, e),
                ([s], Some(e)) => (Some(PathBuf::from(s)), e),
                ([e], None) => (None, e.clone()),
                ([s, e], None) => (Some(PathBuf::from(s)), e.clone()),
                _ => {
                    eprintln!("error: expected `rollsim query [SCENARIO] EXPR` (or the expression with -e EXPR)");
                    return 2;
                }
            };
            query::query(query::Args { scenario, trial, seed, expr, time, start, end, step, data })
        }
        Command::Trace { scenario, trial, seed, only, around } => run::trace(scenario, trial, seed, only, around),
        Command::Compare { inputs, git_base, trials, seed, threads, fail_on, resamples, out, force } => {
            compare::compare(compare::Args {
                inputs,
                git_base,
                trials,
                seed,
                threads,
                fail_on,
                out,
                force,
                resamples: resamples as usize,
            })
        }
    }
}

mod compare;
mod import;
mod query;
mod replay;
mod run;
mod sweep;

/// A written file or folder as every command prints it: absolute, so that
/// the paths printed (and the commands built from them) work from any folder.
pub fn shown(path: &std::path::Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Checks an output folder before any work; prints the error and returns exit code 2.
pub fn out_dir(dir: &std::path::Path, force: bool) -> Result<rollsim::outdir::OutDir, i32> {
    rollsim::outdir::OutDir::check(dir, force).map_err(|e| {
        eprintln!("error: {e}");
        2
    })
}

fn load(file: &Option<PathBuf>) -> Result<Scenario, i32> {
    match file {
        None => Ok(Scenario::seed()),
        Some(path) => import::load(path).map_err(|e| {
            eprintln!("error: {e}");
            1
        }),
    }
}

fn validate(files: &[PathBuf]) -> i32 {
    let mut code = 0;
    for path in files {
        match import::load(path) {
            Ok(sc) => {
                println!("{}: valid", path.display());
                print!("{}", print::describe(&sc));
            }
            Err(e) => {
                eprintln!("error: {e}");
                code = 1;
            }
        }
    }
    code
}

fn scenario(file: Option<PathBuf>, explain: bool) -> i32 {
    if explain {
        println!("{:<42} {:<16} meaning", "field", "default");
        for (field, default, meaning) in FIELD_DOCS {
            println!("{field:<42} {default:<16} {meaning}");
        }
        println!();
        print!("{}", rollsim::summary::DEFINITIONS);
        return 0;
    }
    match load(&file) {
        Ok(sc) => {
            if file.is_none() {
                println!("# built-in scenario {SEED_NAME}");
            }
            print!("{}", print::to_toml(&sc));
            0
        }
        Err(code) => code,
    }
}

/// The most worker threads `--threads` accepts: more than any machine's cores,
/// few enough that a typo (`--threads 100000` for `--trials`) is refused
/// rather than exhausting memory on thread stacks.
pub const MAX_THREADS: usize = 1024;

fn threads_arg(s: &str) -> Result<usize, String> {
    let n: usize = s.parse().map_err(|_| format!("expected a whole number of threads (0: all cores), found `{s}`"))?;
    if n > MAX_THREADS {
        return Err(format!(
            "at most {MAX_THREADS} threads (0: all cores; this machine has {}), found {n}",
            run::rayon_threads(0)
        ));
    }
    Ok(n)
}

/// The one progress bar of every long command, on stderr: `done/total trials`,
/// a rounded rate and the time left. Hidden when `show` is false.
pub fn progress(total: u64, show: bool) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
    let target = if show { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    let style = ProgressStyle::with_template("{bar:40} {pos}/{len} trials  {rate}  eta {eta}")
        .map(|s| {
            s.with_key("rate", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}/s", state.per_sec());
            })
        })
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}
