//! Parallel runs: trials spread over a rayon pool, results in trial order.
//!
//! Each trial depends only on (scenario, master seed, trial index), and
//! results are collected in index order, so the trial table is identical for
//! any thread count and any split into shards.

use crate::scenario::Scenario;
use crate::sim::{run_trial, Model, Trace, TrialRecord, Worker};
use rayon::prelude::*;
use std::ops::Range;

/// The worker pool could not be started.
pub use rayon::ThreadPoolBuildError as ThreadsError;

/// Runs trials `range` of `scenario` under `seed` on `threads` threads
/// (0 = all cores). `progress` is called once per finished trial, from any thread.
pub fn run(
    scenario: &Scenario,
    seed: u64,
    range: Range<u64>,
    threads: usize,
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<TrialRecord>, ThreadsError> {
    let model = Model::new(scenario);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    Ok(pool.install(|| {
        range
            .into_par_iter()
            .map_init(
                || Worker::new(&model),
                |worker, k| {
                    let r = run_trial(&model, worker, seed, k, None);
                    progress();
                    r
                },
            )
            .collect()
    }))
}

/// Re-runs trial `k` alone with its full trace.
pub fn trace(scenario: &Scenario, seed: u64, k: u64) -> (TrialRecord, Trace) {
    let model = Model::new(scenario);
    let mut worker = Worker::new(&model);
    let mut trace = Trace::default();
    let record = run_trial(&model, &mut worker, seed, k, Some(&mut trace));
    (record, trace)
}

/// Re-runs trial `k` alone and returns its series, as `rollsim record` writes them.
pub fn record(scenario: &Scenario, seed: u64, k: u64) -> (TrialRecord, Trace, crate::sim::store::Store) {
    let model = Model::new(scenario);
    let mut worker = Worker::new(&model);
    let mut trace = Trace::default();
    let record = run_trial(&model, &mut worker, seed, k, Some(&mut trace));
    (record, trace, worker.into_store())
}
