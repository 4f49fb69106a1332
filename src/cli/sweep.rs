//! `rollsim sweep`: policy variants on the same trials, trade-offs and a recommendation.

use super::run::utc_stamp;
use indicatif::{ProgressBar, ProgressDrawTarget};
use rollsim::report::charts::{self, Tradeoff};
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
    let trials = a.trials.unwrap_or(base.simulation.trials);
    let seed = a.seed.unwrap_or(base.simulation.seed);
    let name = base.name.clone();
    let total = trials * variants.len() as u64;
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
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
    let dir = a.out.unwrap_or_else(|| PathBuf::from("reports").join(&name).join(format!("sweep-{}", utc_stamp())));
    let write = || -> Result<(), String> {
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let put = |f: &str, t: &str| {
            std::fs::write(dir.join(f), t).map_err(|e| format!("cannot write {}: {e}", dir.join(f).display()))
        };
        put("sweep.md", &md)?;
        put("sweep.json", &result.json(seed, trials))?;
        let fr = |i: usize| sweep::value(rollsim::compare::MetricId::FalseRollback, &result.rows[i]);
        let pts = |m| {
            (0..result.variants.len())
                .map(|i| (result.variants[i].id.clone(), fr(i), sweep::value(m, &result.rows[i])))
                .collect::<Vec<_>>()
        };
        charts::render(
            &Tradeoff {
                stem: "tradeoff_detection".into(),
                y_label: "p90 detection time (min)".into(),
                points: pts(rollsim::compare::MetricId::P90Detection),
                frontier: result.frontier_detection.clone(),
                recommended: result.recommended,
            },
            &dir,
        )?;
        charts::render(
            &Tradeoff {
                stem: "tradeoff_blast".into(),
                y_label: "mean excess failed requests".into(),
                points: pts(rollsim::compare::MetricId::ExcessFailed),
                frontier: result.frontier_blast.clone(),
                recommended: result.recommended,
            },
            &dir,
        )
    };
    match write() {
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
