//! `rollsim sweep`: policy variants on the same trials, trade-offs and a recommendation.

use super::run::utc_stamp;
use rollsim::scenario::{SEED_NAME, SEED_TOML};
use rollsim::sweep::{self, Objective, Vary};
use std::path::PathBuf;
use std::time::Instant;

pub struct Args {
    pub scenario: Option<PathBuf>,
    pub vary: Vec<Vary>,
    pub trials: Option<u64>,
    pub seed: Option<u64>,
    pub threads: usize,
    pub objective: Option<Objective>,
    pub out: Option<PathBuf>,
    pub force: bool,
    pub shard: Option<rollsim::shard::Shard>,
}

pub fn sweep(a: Args) -> i32 {
    let (text, file) = match &a.scenario {
        None => (SEED_TOML.to_string(), format!("<built-in {SEED_NAME}.toml>")),
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => (t, p.display().to_string()),
            Err(e) => {
                eprintln!("error: {}: cannot read the file: {e}", p.display());
                return 2;
            }
        },
    };
    let variants = match sweep::variants(&text, &file, &a.vary) {
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
    let dir = a.out.clone().unwrap_or_else(|| match a.shard {
        Some(sh) => {
            PathBuf::from("reports").join(&name).join(format!("sweep-{}-shard{}of{}", utc_stamp(), sh.index, sh.count))
        }
        None => PathBuf::from("reports").join(&name).join(format!("sweep-{}", utc_stamp())),
    });
    let out = match super::out_dir(&dir, a.force) {
        Ok(o) => o,
        Err(code) => return code,
    };
    if let Some(sh) = a.shard {
        let range = sh.range(trials);
        let bar = super::progress((range.end - range.start) * variants.len() as u64, true);
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
                    dir.display(),
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
    let bar = super::progress(total, true);
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
    let md = result.markdown(seed, trials);
    print!("{md}");
    println!(
        "throughput: {} variants × {trials} trials in {wall:.1} s ({:.0} trials/s)",
        result.variants.len(),
        total as f64 / wall
    );
    match result.write(&out, seed, trials) {
        Ok(()) => {
            println!("report: {}", dir.display());
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}
