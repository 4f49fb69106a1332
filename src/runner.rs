//! Parallel runs: trials spread over a rayon pool, results in trial order.
//!
//! Each trial depends only on (scenario, master seed, trial index), and
//! results are collected in index order, so the trial table is identical for
//! any thread count and any split into shards.

use crate::scenario::Scenario;
use crate::sim::fleet::Observed;
use crate::sim::shared::{run_trial_shared, same_world, SharedWorker};
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

/// Runs trials `range` of `seed` for each of `scenarios` (records in scenario
/// order, each in trial order). Scenarios that differ only in their policy
/// share each trial's world (`sim::shared`): the records are the ones
/// [`run`] gives for each alone, at a fraction of the cost. `progress` is
/// called once per finished (scenario, trial).
pub fn run_many(
    scenarios: &[&Scenario],
    seed: u64,
    range: Range<u64>,
    threads: usize,
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<Vec<TrialRecord>>, ThreadsError> {
    let models: Vec<Model> = scenarios.iter().map(|s| Model::new(s)).collect();
    // Group the scenarios by world, in order of first appearance.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, m) in models.iter().enumerate() {
        match groups.iter_mut().find(|g| same_world(&models[g[0]], m)) {
            Some(g) => g.push(i),
            None => groups.push(vec![i]),
        }
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    let mut out: Vec<Vec<TrialRecord>> = vec![Vec::new(); scenarios.len()];
    for g in groups {
        if let [i] = g[..] {
            out[i] = run(scenarios[i], seed, range.clone(), threads, progress)?;
            continue;
        }
        let group: Vec<Model> = g.iter().map(|&i| Model::new(scenarios[i])).collect();
        let per_trial: Vec<Vec<TrialRecord>> = pool.install(|| {
            range
                .clone()
                .into_par_iter()
                .map_init(
                    || SharedWorker::new(&group),
                    |worker, k| {
                        let rs = run_trial_shared(&group, worker, seed, k);
                        rs.iter().for_each(|_| progress());
                        rs
                    },
                )
                .collect()
        });
        for (j, &i) in g.iter().enumerate() {
            out[i] = per_trial.iter().map(|rs| rs[j].clone()).collect();
        }
    }
    Ok(out)
}

/// Re-runs trial `k` alone with its full trace.
pub fn trace(scenario: &Scenario, seed: u64, k: u64) -> (TrialRecord, Trace) {
    let model = Model::new(scenario);
    let mut worker = Worker::new(&model);
    worker.observe(Observed::every_gauge());
    let mut trace = Trace::default();
    let record = run_trial(&model, &mut worker, seed, k, Some(&mut trace));
    (record, trace)
}

/// Re-runs trial `k` alone and returns its series, as `rollsim record` writes them.
pub fn record(scenario: &Scenario, seed: u64, k: u64) -> (TrialRecord, Trace, crate::sim::store::Store) {
    let model = Model::new(scenario);
    let mut worker = Worker::new(&model);
    worker.observe(Observed::every_gauge());
    let mut trace = Trace::default();
    let record = run_trial(&model, &mut worker, seed, k, Some(&mut trace));
    (record, trace, worker.into_store())
}
