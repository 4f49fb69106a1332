//! `rollsim run` and `rollsim trace`.

use super::load;
use rollsim::engine::{Controller, EngineEvent};
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
    let dir = out.unwrap_or_else(|| {
        rollsim::outdir::unused_dir(match shard {
            Some(sh) => {
                PathBuf::from("reports").join(&sc.name).join(format!("{run_id}-shard{}of{}", sh.index, sh.count))
            }
            None => PathBuf::from("reports").join(&sc.name).join(&run_id),
        })
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
                println!("shard: {} (combine all {} with `rollsim merge`)", super::shown(&dir).display(), sh.count);
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
        let n = rayon_threads(threads);
        println!(
            "throughput: {:.0} trials/s ({:.0} per thread), {:.0} simulated hours/s ({wall:.2} s wall, {})",
            trials as f64 / wall,
            trials as f64 / wall / n as f64,
            sim_hours / wall,
            thread_count(n)
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
            let shown = super::shown(out.path());
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
        rollsim::outdir::unused_dir(PathBuf::from("reports").join(&m.scenario.name).join(format!(
            "{}-s{}-n{}",
            utc_stamp(),
            m.meta.seed,
            m.meta.trials
        )))
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
    let dir = out.unwrap_or_else(|| {
        rollsim::outdir::unused_dir(PathBuf::from("reports").join(name).join(format!("sweep-{}", utc_stamp())))
    });
    let out = match super::out_dir(&dir, force) {
        Ok(o) => o,
        Err(code) => return code,
    };
    match m.result.write(&out, m.seed, m.trials) {
        Ok(()) => {
            println!("report: {}", super::shown(&dir).display());
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

/// "1 thread", "2 threads": for the throughput lines.
pub(super) fn thread_count(n: usize) -> String {
    if n == 1 {
        "1 thread".to_string()
    } else {
        format!("{n} threads")
    }
}

pub(super) fn rayon_threads(threads: usize) -> usize {
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

/// What `trace --only` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TraceOnly {
    /// Decisions and the phase starts they lead to.
    Decisions,
    /// Failed, erroneous and inconclusive checks, rules that fired, and decisions.
    Failures,
}

/// The trace's running context: how many times each gate failed this phase,
/// and when each phase started (to say when a phase-end gate decides).
struct TraceState<'a> {
    sc: &'a Scenario,
    store: rollsim::sim::store::Store,
    failures: std::collections::HashMap<(usize, usize), u32>,
    phase_start: Vec<Option<rollsim::time::SimTime>>,
}

/// A check of an Argo Rollouts or Flagger metric, in the controller's terms.
fn controller_check(
    p: &rollsim::engine::Policy,
    at: rollsim::time::SimTime,
    gate: usize,
    value: Option<f64>,
    verdict: rollsim::engine::Verdict,
    nth: u32,
) -> String {
    use rollsim::engine::argo::MeasureBy;
    use rollsim::engine::Verdict;
    let shown = |v: Option<f64>| {
        v.map_or("no data".to_string(), |x| rollsim::units::format_measured(rollsim::engine::Unit::Number, x))
    };
    let (name, rule, by) = match &p.controller {
        Controller::Argo(a) => {
            let m = &a.metrics[gate];
            let cond = [("success", &m.success), ("failure", &m.failure)]
                .iter()
                .filter_map(|(k, e)| e.as_ref().map(|e| format!("{k} {}", e.source())))
                .collect::<Vec<_>>()
                .join(", ");
            let rule = match verdict {
                Verdict::Pass => String::new(),
                Verdict::Fail => format!(
                    "; {} failure, the metric fails beyond failureLimit {}",
                    ordinal(nth),
                    m.failure_limit.map_or("-1 (never)".to_string(), |l| l.to_string())
                ),
                Verdict::Inconclusive => {
                    format!("; the run is inconclusive beyond inconclusiveLimit {}", m.inconclusive_limit)
                }
                Verdict::Error => {
                    format!("; retried after 10 s, not counted; errs beyond {} in a row", m.consecutive_error_limit)
                }
            };
            (m.name.as_str(), format!(" ({}{rule})", if cond.is_empty() { "no condition".into() } else { cond }), &m.by)
        }
        Controller::Flagger(f) => {
            let m = &f.metrics[gate];
            let range = m.range_text();
            let rule = if verdict == Verdict::Pass {
                String::new()
            } else {
                format!("; {} failed check of the canary, rolls back at the tick after {}", ordinal(nth), f.threshold)
            };
            (m.name.as_str(), format!(" (passes when {range}{rule})"), &m.by)
        }
        Controller::Runbook => unreachable!("runbook checks are worded by the caller"),
    };
    if matches!(by, MeasureBy::Assume(_)) {
        let v = if verdict == Verdict::Pass { "pass" } else { "FAIL" };
        return format!("{at}  check {name:<20} not simulated → {v} (assumed at import)");
    }
    let v = match verdict {
        Verdict::Pass => "pass",
        Verdict::Fail => "FAIL",
        Verdict::Inconclusive => "INCONCLUSIVE",
        Verdict::Error => "ERROR",
    };
    let dry = match &p.controller {
        Controller::Argo(a) if a.metrics[gate].dry_run => " [dry run: not acted on]",
        _ => "",
    };
    format!("{at}  check {name:<20} {} → {v}{rule}{dry}", shown(value))
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// What a rule measures, for people: the metric's name, or the PromQL query.
fn rule_subject(sc: &Scenario, q: &rollsim::engine::Query) -> String {
    match q.metric {
        rollsim::engine::Metric::Query(i) => format!("`{}`", sc.queries[i as usize].template),
        m => format!("{m} over {}", q.window),
    }
}

/// The fault's headline magnitude in its own unit.
fn magnitude_text(kind: &rollsim::scenario::FaultKind, m: f64) -> String {
    use rollsim::scenario::FaultKind as K;
    let pct = |v: f64| rollsim::units::format_measured(rollsim::engine::Unit::Fraction, v);
    match kind {
        K::None => "none".into(),
        K::ErrorRate { added: Some(_), .. } => format!("+{} error rate", pct(m)),
        K::ErrorRate { .. } => format!("error rate ×{m:.2}"),
        K::Latency { shift_ms: Some(_), .. } => format!("+{m:.0} ms latency"),
        K::Latency { slow_share: Some(_), slow_ms, .. } => format!("{} of requests slow ({slow_ms:.0} ms)", pct(m)),
        K::Latency { .. } => format!("latency ×{m:.2}"),
        K::MemoryLeak { .. } => format!("memory leak {} per hour", pct(m)),
        K::CrashLoop { .. } => format!("{m:.1} crashes per instance-hour"),
        K::Cpu { .. } => format!("+{} CPU", pct(m)),
        K::LoadDependent { min_weight, .. } => format!("+{} error rate from {} traffic", pct(m), pct(*min_weight)),
        K::Intermittent { every, length, .. } => format!("+{} error rate for {length} every {every}", pct(m)),
        K::Drift { .. } => format!("error rate drifting up {} per hour", pct(m)),
        K::SharedDependency { .. } => format!("outside incident: +{} error rate on both versions", pct(m)),
        K::Recorded { metric, .. } => format!("recorded {metric} shape ×{m:.2}"),
    }
}

impl TraceState<'_> {
    /// One event as a line, or `None` for what a trace does not show.
    fn line(&mut self, e: &EngineEvent) -> Option<String> {
        let p = &*self.sc.policy;
        let val = |metric: rollsim::engine::Metric, v: Option<f64>| match v {
            None => "no data".to_string(),
            Some(v) => rollsim::units::format_measured(metric.unit(), v),
        };
        Some(match *e {
            EngineEvent::PhaseStarted { at, phase } => {
                if self.phase_start.len() <= phase {
                    self.phase_start.resize(phase + 1, None);
                }
                self.phase_start[phase] = Some(at);
                self.failures.retain(|k, _| k.0 != phase);
                format!("{at}  phase {} {:?} starts", phase + 1, p.phases[phase].name)
            }
            EngineEvent::Step { at, phase, step, action } => {
                format!("{at}  step {:<6} {}", action.name(), p.phases[phase].steps[step].label)
            }
            EngineEvent::WeightChanged { at, weight } => {
                format!("{at}  candidate traffic → {}", format_percent(weight))
            }
            EngineEvent::Check { at, gate, value, verdict, .. } if p.controller != Controller::Runbook => {
                // Argo and Flagger count per metric over the run or the canary, not per phase.
                let n = self.failures.entry((0, gate)).or_default();
                if verdict != rollsim::engine::Verdict::Pass {
                    *n += 1;
                }
                controller_check(p, at, gate, value, verdict, *n)
            }
            EngineEvent::Check { at, phase, gate, value, limit, requests, verdict } => {
                use rollsim::engine::{EvalMode, Verdict};
                let ph = &p.phases[phase];
                let g = &ph.gates[gate];
                let requests = requests
                    .filter(|_| g.metric.needs_requests())
                    .map(|r| format!(", {r} requests"))
                    .unwrap_or_default();
                let verdict = match verdict {
                    Verdict::Pass => "pass".to_string(),
                    Verdict::Inconclusive => "inconclusive".to_string(),
                    Verdict::Fail | Verdict::Error => {
                        let n = self.failures.entry((phase, gate)).or_default();
                        *n += 1;
                        let what = if verdict == Verdict::Fail { "FAIL" } else { "ERROR" };
                        let when = match ph.checks.mode {
                            EvalMode::PhaseEnd => {
                                let end = self.phase_start.get(phase).copied().flatten().map(|s| s + ph.bake);
                                end.map_or("acted on at the phase end".into(), |e| {
                                    format!("acted on at the phase end, {e}")
                                })
                            }
                            EvalMode::Continuous => {
                                format!("acted on beyond {} failures", ph.checks.failure_limit)
                            }
                        };
                        format!(
                            "{what} ({} {}; {when})",
                            ordinal(*n),
                            if verdict == Verdict::Fail { "failure" } else { "error" }
                        )
                    }
                };
                format!(
                    "{at}  check {:<20} {} vs limit {} {}{requests} → {verdict}{}",
                    g.name,
                    val(g.metric, value),
                    g.op.symbol(),
                    val(g.metric, limit),
                    if g.dry_run { " [dry run: not acted on]" } else { "" }
                )
            }
            EngineEvent::Alert { at, alert, transition, value } => {
                let a = &p.alerts[alert];
                let c = &a.condition;
                format!(
                    "{at}  alert {} {}: {} {} vs threshold {} {}{} ({})",
                    a.name,
                    format!("{transition:?}").to_lowercase(),
                    rule_subject(self.sc, &c.query),
                    val(c.query.metric, value),
                    c.op.symbol(),
                    val(c.query.metric, Some(c.threshold)),
                    if a.for_.0 > 0 { format!(" for {}", a.for_) } else { String::new() },
                    a.severity.name()
                )
            }
            EngineEvent::TriggerEvaluated { at, trigger, value, fired } => {
                if !fired {
                    return None;
                }
                let t = &p.triggers[trigger];
                let q = &t.condition.query;
                // What the stable group showed at the same instant, for scale.
                let stable = match (q.metric, q.group) {
                    (rollsim::engine::Metric::Query(_), _) | (_, rollsim::engine::Group::Stable) => String::new(),
                    _ => {
                        let sq = rollsim::engine::Query { group: rollsim::engine::Group::Stable, ..*q };
                        match rollsim::engine::MetricSource::query(&mut self.store, &sq, at) {
                            Ok(s) => format!("; stable {}", val(q.metric, s.value)),
                            Err(_) => String::new(),
                        }
                    }
                };
                format!(
                    "{at}  trigger {} FIRED: {} {} vs threshold {} {}{stable}",
                    t.name,
                    rule_subject(self.sc, q),
                    val(q.metric, value),
                    t.condition.op.symbol(),
                    val(q.metric, Some(t.condition.threshold)),
                )
            }
            EngineEvent::QueryFailed { at, rule } => {
                let name = match rule {
                    rollsim::engine::RuleRef::Trigger(i) => format!("trigger {}", p.triggers[i].name),
                    rollsim::engine::RuleRef::Alert(i) => format!("alert {}", p.alerts[i].name),
                };
                format!("{at}  {name}: its query failed, not evaluated")
            }
            EngineEvent::Decision(d) => {
                format!("{}  DECISION {} (cause: {})", d.at, d.kind.name(), d.cause.describe(p))
            }
        })
    }
}

/// True when `e` passes `--only`.
fn kept(e: &EngineEvent, only: Option<TraceOnly>) -> bool {
    use rollsim::engine::Verdict;
    match only {
        None => true,
        Some(TraceOnly::Decisions) => matches!(e, EngineEvent::Decision(_) | EngineEvent::PhaseStarted { .. }),
        Some(TraceOnly::Failures) => match e {
            EngineEvent::Check { verdict, .. } => *verdict != Verdict::Pass,
            EngineEvent::Alert { transition, .. } => *transition == rollsim::engine::AlertTransition::Firing,
            EngineEvent::TriggerEvaluated { fired, .. } => *fired,
            EngineEvent::QueryFailed { .. } | EngineEvent::Decision(_) => true,
            _ => false,
        },
    }
}

fn event_time(e: &EngineEvent) -> rollsim::time::SimTime {
    match *e {
        EngineEvent::PhaseStarted { at, .. }
        | EngineEvent::Step { at, .. }
        | EngineEvent::WeightChanged { at, .. }
        | EngineEvent::Check { at, .. }
        | EngineEvent::Alert { at, .. }
        | EngineEvent::TriggerEvaluated { at, .. }
        | EngineEvent::QueryFailed { at, .. } => at,
        EngineEvent::Decision(d) => d.at,
    }
}

/// `--around`: `T+18:05[:00]`, `18:05`, or a duration such as `18h5m`.
fn parse_around(s: &str) -> Result<rollsim::time::SimTime, String> {
    let t = s.trim().trim_start_matches("T+");
    let err = || format!("--around: expected a time since the start such as 18h05m, 18:05 or T+18:05:00, found {s:?}");
    if t.contains(':') {
        let parts: Vec<u64> = t.split(':').map(|x| x.parse::<u64>()).collect::<Result<_, _>>().map_err(|_| err())?;
        let secs = match parts.as_slice() {
            [h, m] if *m < 60 => h * 3600 + m * 60,
            [h, m, s] if *m < 60 && *s < 60 => h * 3600 + m * 60 + s,
            _ => return Err(err()),
        };
        return Ok(rollsim::time::SimTime(secs));
    }
    rollsim::units::parse_duration(t).map(|d| rollsim::time::SimTime(d.0)).map_err(|_| err())
}

/// How far around `--around` the trace shows events.
const AROUND: rollsim::time::SimDur = rollsim::time::SimDur(30 * 60);

pub fn trace(
    path: Option<PathBuf>,
    trial: u64,
    seed: Option<u64>,
    only: Option<TraceOnly>,
    around: Option<String>,
) -> i32 {
    let sc = match load(&path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let around = match around.as_deref().map(parse_around) {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    if path.is_none() {
        eprintln!(
            "note: no scenario given: tracing the built-in scenario {} (a report folder's trials are traced with its scenario.toml)",
            sc.name
        );
    }
    let seed = seed.unwrap_or(sc.simulation.seed);
    let (r, tr, store) = runner::record(&sc, seed, trial);
    let f = &sc.faults[r.fault];
    println!("scenario {} trial {trial} seed {seed} (trial seed {:#018x})", sc.name, r.seed);
    println!(
        "candidate: {} ({}), {}, onset {}",
        f.name,
        if r.bad { "bad" } else { "good" },
        magnitude_text(&f.kind, r.magnitude),
        r.onset
    );
    if let Some(t) = around {
        let from = rollsim::time::SimTime(t.0.saturating_sub(AROUND.0));
        if from > r.end {
            // Nothing to show: say so rather than print an empty window.
            println!("showing {from} to {}: after the trial ended at {}, nothing happens there", t + AROUND, r.end);
        } else {
            println!("showing {from} to {}", t + AROUND);
        }
    }
    let mut state = TraceState { sc: &sc, store, failures: Default::default(), phase_start: Vec::new() };
    for e in &tr.engine {
        // Every event updates the counts; only the ones asked for are shown.
        let line = state.line(e);
        let at = event_time(e);
        let near = around.is_none_or(|t| at.0 + AROUND.0 >= t.0 && at.0 <= t.0 + AROUND.0);
        if let Some(line) = line.filter(|_| near && kept(e, only)) {
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
