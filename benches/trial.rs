//! Criterion benchmarks: one trial of the seed scenario, metric generation
//! (one tick of the fleet model), and one engine step against a stored series.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use rollsim::engine::{Decision, Engine};
use rollsim::scenario::Scenario;
use rollsim::sim::fault::{DrawnFault, Effect};
use rollsim::sim::fleet::{Accum, Fleet};
use rollsim::sim::rng::{stream, Stream};
use rollsim::sim::store::Store;
use rollsim::sim::{run_trial, Model, Worker};
use rollsim::time::SimTime;

fn benches(c: &mut Criterion) {
    let sc = Scenario::seed();
    let model = Model::new(&sc);
    let mut worker = Worker::new(&model);
    let mut k = 0u64;
    c.bench_function("trial (seed scenario, mixed candidates)", |b| {
        b.iter(|| {
            k += 1;
            black_box(run_trial(&model, &mut worker, 1, k, None))
        })
    });

    // The same 20 trials under the seed policy and under the seed with its
    // error-rate and latency gates in PromQL (scenarios/seed-canary-promql.toml,
    // which decides identically): what evaluating PromQL gates costs.
    let promql_text = include_str!("../scenarios/seed-canary-promql.toml");
    let promql = Scenario::from_toml(promql_text, "seed-canary-promql.toml").expect("the PromQL seed is valid");
    for (name, scenario) in [("metric gates", &sc), ("PromQL gates", &promql)] {
        let model = Model::new(scenario);
        let mut worker = Worker::new(&model);
        c.bench_function(&format!("20 trials (seed policy, {name})"), |b| {
            b.iter(|| {
                for k in 0..20 {
                    black_box(run_trial(&model, &mut worker, 1, k, None));
                }
            })
        });
    }

    let none = DrawnFault { spec: 0, onset: SimTime::NEVER, effect: Effect::None, magnitude: 0.0, shape: None };
    let ticks = 1500usize;
    let mut store = Store::new(sc.traffic.classes.len(), model.tick, ticks + 2);
    let mut fleet = Fleet::new(&sc, model.tick);
    let mut rng = stream(5, Stream::Fleet);
    let mut acc = Accum::default();
    c.bench_function("metric generation (one 1-minute tick, both groups, 5% canary)", |b| {
        let mut i = ticks;
        b.iter(|| {
            if i == ticks {
                store.reset();
                fleet.reset_for(&mut store, 5);
                i = 0;
            }
            fleet.tick(SimTime(i as u64 * 60), 0.05, &none, &mut rng, &mut store, &mut acc, None);
            i += 1;
        })
    });

    // A day of stored metrics, then the engine stepped through its wake-ups.
    store.reset();
    fleet.reset_for(&mut store, 5);
    for i in 0..ticks as u64 {
        fleet.tick(SimTime(i * 60), 0.05, &none, &mut rng, &mut store, &mut acc, None);
    }
    c.bench_function("engine step (seed policy, first 24 h of wake-ups)", |b| {
        b.iter(|| {
            let mut sink: Vec<Decision> = Vec::new();
            let mut engine = Engine::start(sc.policy.clone(), &mut sink);
            let mut steps = 0u32;
            while let Some(t) = engine.next_wakeup() {
                if t.0 >= (ticks as u64 - 1) * 60 {
                    break;
                }
                engine.step(t, &mut store, &mut sink);
                steps += 1;
            }
            black_box(steps)
        })
    });
}

criterion_group!(name = trial; config = Criterion::default().sample_size(30); targets = benches);
criterion_main!(trial);
