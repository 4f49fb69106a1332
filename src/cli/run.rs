//! `rollsim run` and `rollsim trace`.

use super::load;
use rollsim::engine::{EngineEvent, Policy};
use rollsim::report::{self, RunMeta};
use rollsim::runner;
use rollsim::scenario::Scenario;
use rollsim::shard::Shard;
use rollsim::sim::TrialRecord;
use rollsim::summary::{render_text, Summary};
use rollsim::units::format_percent;
use std::path::PathBuf;
use std::time::Instant;

/// The command that re-runs trial `k` alone.
pub fn reproduce(scenario: &Option<PathBuf>, seed: u64, k: u64) -> String {
    match scenario {
        Some(p) => format!("rollsim trace {} --trial {k} --seed {seed}", p.display()),
        None => format!("rollsim trace --trial {k} --seed {seed}"),
    }
}

/// What `run` prints on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// The summary table, throughput, rules and notable trials.
    #[default]
    Text,
    /// Only `summary.json`'s document, for scripts.
    Json,
}

#[allow(clippy::too_many_arguments)]
pub fn run(
    path: Option<PathBuf>,
    trials: Option<u64>,
    seed: Option<u64>,
    threads: usize,
    out: Option<PathBuf>,
    force: bool,
    shard: Option<Shard>,
    format: Format,
    quiet: bool,
) -> i32 {
    // Text for people unless asked otherwise; a progress bar only then.
    let chatty = format == Format::Text && !quiet;
    let sc = match load(&path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let trials = trials.unwrap_or(sc.simulation.trials);
    let seed = seed.unwrap_or(sc.simulation.seed);
    // The output folder is checked before any simulation.
    let run_id = format!("{}-s{seed}-n{trials}", utc_stamp());
    let dir = out.unwrap_or_else(|| match shard {
        Some(sh) => PathBuf::from("reports").join(&sc.name).join(format!("{run_id}-shard{}of{}", sh.index, sh.count)),
        None => PathBuf::from("reports").join(&sc.name).join(&run_id),
    });
    let out = match super::out_dir(&dir, force) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let range = shard.map_or(0..trials, |s| s.range(trials));
    let bar = super::progress(range.end - range.start, chatty);
    let started = Instant::now();
    let records = match runner::run(&sc, seed, range.clone(), threads, &|| bar.inc(1)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start {threads} worker threads: {e}");
            return 1;
        }
    };
    let wall = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let meta = RunMeta {
        scenario: sc.name.clone(),
        scenario_hash: report::scenario_hash(&sc),
        seed,
        trials,
        program_version: env!("CARGO_PKG_VERSION").to_string(),
        reproduce: report::REPRODUCE_TEMPLATE.replace("{seed}", &seed.to_string()),
    };
    if let Some(sh) = shard {
        println!(
            "shard {}/{}: trials {}..{} of {trials} in {wall:.2} s ({:.0} trials/s)",
            sh.index,
            sh.count,
            range.start,
            range.end,
            (range.end - range.start) as f64 / wall
        );
        return match rollsim::shard::write(&out, &sc, &meta, sh, &records) {
            Ok(()) => {
                println!("shard: {} (combine all {} with `rollsim merge`)", dir.display(), sh.count);
                0
            }
            Err(e) => {
                eprintln!("error: {e}");
                1
            }
        };
    }
    let summary = Summary::new(&sc, seed, &records);
    if chatty {
        println!("scenario {} — {trials} trials, seed {seed}", sc.name);
        print!("{}", render_text(&summary));
        let sim_hours: f64 = records.iter().map(|r| r.end.hours()).sum();
        println!(
            "throughput: {:.0} trials/s, {:.0} simulated hours per wall second ({wall:.2} s wall, {} threads)",
            trials as f64 / wall,
            sim_hours / wall,
            rayon_threads(threads)
        );
        print_rules(&records, &sc);
    }
    let code = write_report(&out, &sc, &meta, &records, &summary, format == Format::Text);
    if format == Format::Json && code == 0 {
        print!("{}", report::summary_json(&meta, &summary));
    }
    if chatty && code == 0 {
        // Notable trials, re-run from the report's own copy of the scenario.
        let copy = std::fs::canonicalize(out.path()).map(|d| d.join("scenario.toml")).ok();
        print_examples(&copy.or(path), seed, &records, &sc);
    }
    code
}

fn write_report(
    out: &rollsim::outdir::OutDir,
    sc: &Scenario,
    meta: &RunMeta,
    records: &[TrialRecord],
    summary: &Summary,
    say_where: bool,
) -> i32 {
    let traced: Vec<report::Traced> = report::representative(records)
        .into_iter()
        .map(|(why, k)| {
            let (record, trace) = rollsim::runner::trace(sc, meta.seed, k);
            report::Traced { why, record, trace }
        })
        .collect();
    match report::write(out, sc, meta, records, summary, &traced) {
        Ok(()) if !say_where => 0,
        Ok(()) => {
            let shown = std::fs::canonicalize(out.path()).unwrap_or_else(|_| out.path().to_path_buf());
            println!("report: {}", shown.display());
            println!(
                "reproduce a trial: rollsim trace {} --trial K --seed {}",
                shown.join("scenario.toml").display(),
                meta.seed
            );
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

pub fn merge(shards: &[PathBuf], out: Option<PathBuf>, force: bool) -> i32 {
    if let Some(dir) = &out {
        if let Err(code) = super::out_dir(dir, force) {
            return code;
        }
    }
    if shards.first().is_some_and(|d| rollsim::shard::is_sweep_shard(d)) {
        return merge_sweep(shards, out, force);
    }
    let m = match rollsim::shard::merge(shards) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let summary = Summary::new(&m.scenario, m.meta.seed, &m.records);
    println!(
        "scenario {} — {} trials, seed {} (merged from {} shards)",
        m.scenario.name,
        m.meta.trials,
        m.meta.seed,
        shards.len()
    );
    print!("{}", render_text(&summary));
    let dir = out.unwrap_or_else(|| {
        PathBuf::from("reports").join(&m.scenario.name).join(format!(
            "{}-s{}-n{}",
            utc_stamp(),
            m.meta.seed,
            m.meta.trials
        ))
    });
    let out = match super::out_dir(&dir, force) {
        Ok(o) => o,
        Err(code) => return code,
    };
    write_report(&out, &m.scenario, &m.meta, &m.records, &summary, true)
}

fn merge_sweep(shards: &[PathBuf], out: Option<PathBuf>, force: bool) -> i32 {
    let mut m = match rollsim::shard::merge_sweep(shards) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    // The confirmation on fresh trials is part of a sweep's result (as in `rollsim sweep`).
    if let Err(e) = m.result.confirm(m.seed, m.trials, 0) {
        eprintln!("error: {e}");
        return 1;
    }
    print!("{}", m.result.markdown(m.seed, m.trials));
    let name = m.result.variants[0].scenario.name.clone();
    let dir = out.unwrap_or_else(|| PathBuf::from("reports").join(name).join(format!("sweep-{}", utc_stamp())));
    let out = match super::out_dir(&dir, force) {
        Ok(o) => o,
        Err(code) => return code,
    };
    match m.result.write(&out, m.seed, m.trials) {
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

/// `YYYYMMDD-HHMMSSZ` in UTC: run ids sort by start time.
pub fn utc_stamp() -> String {
    jiff::Timestamp::now().strftime("%Y%m%d-%H%M%SZ").to_string()
}

/// Which rules rolled back good versions, and which caught bad ones.
fn print_rules(records: &[TrialRecord], sc: &Scenario) {
    use rollsim::sim::Population;
    for (label, pop) in [
        ("false rollbacks (noise only) by rule", Population::Noise),
        ("rollbacks during outside incidents by rule", Population::Incident),
        ("detections by rule", Population::Bad),
    ] {
        let bad = pop == Population::Bad;
        let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
        for r in records.iter().filter(|r| r.population(sc) == pop) {
            if let (Some(c), true) = (r.rollback_cause, !bad || r.detected()) {
                *counts.entry(c.describe(&sc.policy)).or_default() += 1;
            }
        }
        let mut v: Vec<_> = counts.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let parts: Vec<String> = v.iter().map(|(k, n)| format!("{k} {n}")).collect();
        if !parts.is_empty() {
            println!("{}", rollsim::summary::wrap_list(label, &parts));
        }
    }
}

fn rayon_threads(threads: usize) -> usize {
    if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    }
}

fn print_examples(path: &Option<PathBuf>, seed: u64, records: &[TrialRecord], sc: &Scenario) {
    let mut notable = report::representative(records);
    if let Some(r) = records.iter().find(|r| r.escape()) {
        notable.push(("an escape", r.trial));
    }
    for (what, k) in notable {
        let Some(r) = records.iter().find(|r| r.trial == k) else { continue };
        println!("{what}: trial {k} ({})\n  {}", sc.faults[r.fault].name, reproduce(path, seed, k));
    }
}

fn describe_event(e: &EngineEvent, p: &Policy, sc: &Scenario) -> Option<String> {
    let fmt_val = |metric: rollsim::engine::Metric, v: Option<f64>| match v {
        None => "no data".to_string(),
        Some(v) => rollsim::units::format_measured(metric.unit(), v),
    };
    Some(match *e {
        EngineEvent::PhaseStarted { at, phase } => {
            format!("{at}  phase {} {:?} starts", phase + 1, p.phases[phase].name)
        }
        EngineEvent::Step { at, phase, step, action } => {
            format!("{at}  step {:<6} {}", action.name(), p.phases[phase].steps[step].label)
        }
        EngineEvent::WeightChanged { at, weight } => format!("{at}  candidate traffic → {}", format_percent(weight)),
        EngineEvent::Check { at, phase, gate, value, limit, requests, verdict } => {
            let g = &p.phases[phase].gates[gate];
            format!(
                "{at}  check {:<20} {} {} {}{} → {}{}",
                g.name,
                fmt_val(g.metric, value),
                g.op.symbol(),
                fmt_val(g.metric, limit),
                requests.map(|r| format!(" ({r} requests)")).unwrap_or_default(),
                verdict.name(),
                if g.dry_run { " [dry run]" } else { "" }
            )
        }
        EngineEvent::Alert { at, alert, transition, value } => {
            let a = &p.alerts[alert];
            format!(
                "{at}  alert {} {:?} ({}, {})",
                a.name,
                transition,
                a.severity.name(),
                fmt_val(a.condition.query.metric, value)
            )
        }
        EngineEvent::TriggerEvaluated { at, trigger, value, fired } => {
            if !fired {
                return None;
            }
            let t = &p.triggers[trigger];
            format!("{at}  trigger {} fired at {}", t.name, fmt_val(t.condition.query.metric, value))
        }
        EngineEvent::QueryFailed { at, rule } => {
            let name = match rule {
                rollsim::engine::RuleRef::Trigger(i) => format!("trigger {}", p.triggers[i].name),
                rollsim::engine::RuleRef::Alert(i) => format!("alert {}", p.alerts[i].name),
            };
            format!("{at}  {name}: its query failed, not evaluated")
        }
        EngineEvent::Decision(d) => {
            let _ = sc;
            format!("{}  DECISION {} (cause: {})", d.at, d.kind.name(), d.cause.describe(p))
        }
    })
}

pub fn trace(path: Option<PathBuf>, trial: u64, seed: Option<u64>) -> i32 {
    let sc = match load(&path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if path.is_none() {
        eprintln!(
            "note: no scenario given: tracing the built-in scenario {} (a report folder's trials are traced with its scenario.toml)",
            sc.name
        );
    }
    let seed = seed.unwrap_or(sc.simulation.seed);
    let (r, tr) = runner::trace(&sc, seed, trial);
    let f = &sc.faults[r.fault];
    println!("scenario {} trial {trial} seed {seed} (trial seed {:#018x})", sc.name, r.seed);
    println!(
        "candidate: {} ({}), magnitude {}, onset {}",
        f.name,
        if r.bad { "bad" } else { "good" },
        r.magnitude,
        r.onset
    );
    for e in &tr.engine {
        if let Some(line) = describe_event(e, &sc.policy, &sc) {
            println!("{line}");
        }
    }
    println!(
        "outcome: {} at {}; detection {}; peak share {}; candidate requests {}; excess failed {:.0}; reproduce: {}",
        r.outcome.name(),
        r.end,
        r.detection.map_or("—".into(), |d| d.to_string()),
        format_percent(r.peak_weight),
        r.candidate_requests,
        r.excess_failed,
        reproduce(&path, seed, trial)
    );
    0
}
