//! How often `compare` calls a change better or worse between two equal
//! policies, by the number of trials in a row: the measurement behind
//! `compare::MIN_TRIALS` (README: Comparing policies in CI).
//!
//! ```sh
//! cargo run --release --example verdict_calibration
//! ```
//!
//! Each comparison pairs n trials of bad versions whose excess failed requests
//! and detection times are drawn from one skewed (exponential) distribution on
//! both sides, so every verdict other than "no significant change" is a false
//! one; a 95% interval promises about 5%. Rows below `MIN_TRIALS` get no
//! verdict; the first column shows what the bootstrap interval alone would say.

use rand::{Rng, SeedableRng};
use rollsim::compare::{compare, MetricId, Row, Verdict, MIN_TRIALS};
use rollsim::sim::Population;

fn row(excess_failed: f64, detection_min: f64) -> Row {
    Row {
        fault: "f".into(),
        bad: true,
        population: Population::Bad,
        completed: false,
        detection_min: Some(detection_min),
        peak_share: 0.05,
        excess_failed,
        false_rollback: false,
        end_h: 1.0,
        rollback_h: Some(1.0),
        phase_h: vec![Some(0.0)],
    }
}

fn main() {
    const COMPARISONS: usize = 400;
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5);
    let mut exp = move |mean: f64| -(1.0 - rng.random::<f64>()).ln() * mean;
    println!("trials per side | interval excludes 0 (mean excess failed) | verdict given (mean) | verdict given (p50 detection)");
    for n in [2usize, 3, 5, 8, 10, 15, 20, 30, 50] {
        let (mut excludes, mut mean_verdicts, mut p50_verdicts) = (0, 0, 0);
        for _ in 0..COMPARISONS {
            let mut side = || (0..n).map(|_| row(exp(100.0), exp(30.0))).collect::<Vec<_>>();
            let (base, new) = (side(), side());
            let c = compare(&base, &new, &[], 300);
            for d in &c.groups[0].deltas {
                let given = !matches!(d.verdict, Verdict::NoSignificantChange | Verdict::TooFewTrials);
                match d.metric {
                    MetricId::ExcessFailed => {
                        excludes += usize::from(d.lo * d.hi > 0.0);
                        mean_verdicts += usize::from(given);
                    }
                    MetricId::P50Detection => p50_verdicts += usize::from(given),
                    _ => {}
                }
            }
        }
        let pct = |k: usize| 100.0 * k as f64 / COMPARISONS as f64;
        println!(
            "{n:>15} | {:>40.1}% | {:>19.1}% | {:>28.1}%{}",
            pct(excludes),
            pct(mean_verdicts),
            pct(p50_verdicts),
            if n < MIN_TRIALS { "  (below MIN_TRIALS)" } else { "" }
        );
    }
}
