//! `rollsim sweep`: policy variants on the same trials, trade-offs and a recommendation.

use super::run::utc_stamp;
use rollsim::scenario::{SEED_NAME, SEED_TOML};
use rollsim::sweep::{self, Objective, Vary};
use std::path::PathBuf;
use std::time::Instant;

/// `rollsim sweep`'s arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Scenario file; the built-in seed scenario when omitted.
    pub scenario: Option<PathBuf>,
    /// PATH=v1,v2,...: a scenario field and the values to try (repeatable; every combination
    /// runs). `[*]` addresses every element: 'policy.phases[*].gates.error_rate.limit=1%,2%'.
    #[arg(long, required = true, value_name = "PATH=VALUES")]
    pub vary: Vec<Vary>,
    /// Move the --vary axes together (the i-th values of each form variant i) instead of
    /// running every combination; every --vary needs as many values.
    #[arg(long)]
    pub zip: bool,
    /// Save the recommended variant (needs --objective) as a scenario file ready to commit;
    /// refused if FILE exists, unless --force.
    #[arg(long, value_name = "FILE", requires = "objective")]
    pub write_best: Option<PathBuf>,
    /// Trials per variant (default: the scenario's simulation.trials).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub trials: Option<u64>,
    /// Master seed shared by all variants (default: the scenario's simulation.seed).
    #[arg(long, allow_hyphen_values = true)]
    pub seed: Option<u64>,
    /// Worker threads, at most 1024 (default: all cores).
    #[arg(long, default_value_t = 0, value_parser = super::threads_arg)]
    pub threads: usize,
    /// e.g. 'min p90_detection where false_rollback <= 1%'.
    #[arg(long)]
    pub objective: Option<Objective>,
    /// Output folder (default: reports/<scenario>/sweep-<UTC time>/); must not exist or be empty.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace the output folder if it is one rollsim wrote (never a folder of yours).
    #[arg(long)]
    pub force: bool,
    /// Run only shard i of n (0-based) of every variant, for `rollsim merge`.
    #[arg(long, value_name = "i/n")]
    pub shard: Option<rollsim::shard::Shard>,
    /// No progress bar and no tables: print only where the report (and a --write-best file) is.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn sweep(mut a: Args) -> i32 {
    // Manifests: imported with the defaults; `Kind/spec...` paths vary the manifest field.
    if let Some(p) = a.scenario.as_ref().filter(|p| rollsim::import::is_manifest(p)) {
        let imported = match rollsim::import::import(std::slice::from_ref(p), &Default::default()) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        };
        for v in &mut a.vary {
            match imported.translate(&v.path, &v.values) {
                Ok(Some((path, values))) => *v = Vary { path, values },
                Ok(None) => {}
                Err(e) => {
                    eprintln!("error: {e}");
                    return 2;
                }
            }
        }
    }
    let (text, file) = match &a.scenario {
        None => (SEED_TOML.to_string(), format!("<built-in {SEED_NAME}.toml>")),
        Some(p) => match super::import::scenario_text(p) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        },
    };
    // Outputs are checked before any work: a file of yours is never overwritten.
    let best_file = match a.write_best.as_deref().map(|p| rollsim::outdir::OutFile::check(p, a.force)) {
        None => None,
        Some(Ok(f)) => Some(f),
        Some(Err(e)) => {
            eprintln!("error: --write-best: {e}");
            return 2;
        }
    };
    if best_file.is_some() && a.shard.is_some() {
        eprintln!("error: --write-best applies to a whole sweep; with --shard, merge the shards first");
        return 2;
    }
    let variants = match sweep::variants(&text, &file, &a.vary, a.zip) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let base = &variants[0].scenario;
    if let Some(Err(e)) = a.objective.as_ref().map(|o| o.check_groups(base)) {
        eprintln!("error: {e}");
        return 2;
    }
    let trials = a.trials.unwrap_or(base.simulation.trials);
    let seed = a.seed.unwrap_or(base.simulation.seed);
    let name = base.name.clone();
    let dir = a.out.clone().unwrap_or_else(|| {
        rollsim::outdir::unused_dir(match a.shard {
            Some(sh) => PathBuf::from("reports").join(&name).join(format!(
                "sweep-{}-shard{}of{}",
                utc_stamp(),
                sh.index,
                sh.count
            )),
            None => PathBuf::from("reports").join(&name).join(format!("sweep-{}", utc_stamp())),
        })
    });
    let out = match super::out_dir(&dir, a.force) {
        Ok(o) => o,
        Err(code) => return code,
    };
    if let Some(sh) = a.shard {
        let range = sh.range(trials);
        let bar = super::progress((range.end - range.start) * variants.len() as u64, !a.quiet);
        let records = match sweep::run_records(&variants, seed, range.clone(), a.threads, &|| bar.inc(1)) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        };
        bar.finish_and_clear();
        let objective = a.objective.as_ref().map(|o| o.text.as_str());
        return match rollsim::shard::write_sweep(&out, &variants, &records, sh, seed, trials, objective) {
            Ok(()) => {
                println!(
                    "sweep shard {}/{}: trials {}..{} of {} variants in {} (combine all {} with `rollsim merge`)",
                    sh.index,
                    sh.count,
                    range.start,
                    range.end,
                    variants.len(),
                    super::shown(&dir).display(),
                    sh.count
                );
                0
            }
            Err(e) => {
                eprintln!("error: {e}");
                1
            }
        };
    }
    let total = trials * variants.len() as u64;
    let bar = super::progress(total, !a.quiet);
    let started = Instant::now();
    let result = match sweep::run(variants, seed, trials, a.threads, a.objective, &|| bar.inc(1)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let wall = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    if !a.quiet {
        print!("{}", result.markdown(seed, trials));
        // Variants that share a world count their hours each: this is the work judged, not drawn.
        let variant_hours: f64 = result.rows.iter().flatten().map(|r| r.end_h).sum();
        println!(
            "throughput: {} variants × {trials} trials in {wall:.1} s: {:.0} variant-trials/s, {:.0} variant-hours/s ({})",
            result.variants.len(),
            total as f64 / wall,
            variant_hours / wall,
            super::run::thread_count(super::run::rayon_threads(a.threads))
        );
    }
    match result.write(&out, seed, trials) {
        Ok(()) => {
            let shown = super::shown(&dir);
            println!("report: {}", shown.display());
            match (best_file, result.recommended) {
                (None, _) => 0,
                (Some(f), Some(i)) => {
                    let v = &result.variants[i];
                    let header = format!(
                        "# Recommended by `rollsim sweep` ({}) from {file}: {} ({}).\n# Seed {seed}, {trials} trials per variant; the sweep's report: {}\n",
                        result.objective.as_ref().map_or("", |o| o.text.as_str()),
                        v.id,
                        v.label(),
                        shown.display()
                    );
                    let text = format!("{header}{}", rollsim::scenario::print::to_toml(&v.scenario));
                    match f.write(|tmp| {
                        std::fs::write(tmp, &text)
                            .map_err(|e| rollsim::outdir::OutError::Io { path: tmp.to_path_buf(), source: e })
                    }) {
                        Ok(()) => {
                            println!(
                                "recommended variant {} ({}) written to {}",
                                v.id,
                                v.label(),
                                super::shown(f.path()).display()
                            );
                            0
                        }
                        Err(e) => {
                            eprintln!("error: {e}");
                            1
                        }
                    }
                }
                (Some(f), None) => {
                    eprintln!("error: no variant meets the objective; {} not written", f.path().display());
                    1
                }
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}
