//! Criterion benchmarks, each measuring one thing on fixed inputs: 20 fixed
//! trials of the seed policy (with metric gates, and with the same gates in
//! PromQL), a sweep of 3 variants over 20 fixed trials, replay throughput
//! (rows/s of a long CSV), metric generation (one tick of the fleet model),
//! and the engine through a day of stored series.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
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

    // A sweep: the current policy and two variants on the same 20 fixed trials, one thread.
    let vary: rollsim::sweep::Vary = "policy.phases[0].gates.error_rate.limit=0.5%,2%".parse().expect("a valid --vary");
    let variants =
        rollsim::sweep::variants(rollsim::scenario::SEED_TOML, "seed", &[vary], false).expect("valid variants");
    let mut group = c.benchmark_group("sweep");
    group.sample_size(10);
    group.bench_function("3 variants × 20 trials (seed policy, 1 thread)", |b| {
        b.iter(|| black_box(rollsim::sweep::run_records(&variants, 1, 0..20, 1, &|| {}).expect("a sweep")))
    });
    group.finish();

    // Replay throughput: a 14-hour long CSV of 4 series at one sample a second.
    let dir = std::env::temp_dir().join(format!("rollsim-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let csv = dir.join("replay.csv");
    let mut text = String::from("timestamp,metric,version,value\n");
    let seconds = 14 * 3600;
    for s in 0..seconds {
        let t = 1_700_000_000 + s;
        let e = if s > 3600 { 0.012 } else { 0.004 };
        text.push_str(&format!("{t},error_rate,candidate,{e}\n{t},error_rate,stable,0.001\n{t},latency_p99,candidate,210\n{t},cpu,candidate,0.41\n"));
    }
    std::fs::write(&csv, text).expect("the benchmark's CSV");
    let mut group = c.benchmark_group("replay");
    group.sample_size(10);
    group.throughput(Throughput::Elements(4 * seconds));
    group.bench_function("long CSV, 201,600 rows (seed policy)", |b| {
        b.iter(|| {
            black_box(rollsim::replay::replay_csv(&sc, &csv, &Default::default(), None, None, None).expect("a replay"))
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);

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
