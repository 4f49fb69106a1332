//! Validation: the raw file format into domain types, with every error naming
//! the file, line, column and field path, and saying what was expected.
//!
//! Errors are collected rather than returned at the first one, so a user fixes
//! a file in one pass.

use super::check::*;
use super::raw::*;
use super::*;
use crate::engine::{
    Agg, AlertRule, CheckRules, Cmp, Condition, EvalMode, FailureAction, Gate, Group, Limit, Metric, Phase, Policy,
    Query, Severity, Step, StepAction, Trigger, Unit, Window,
};
use crate::promql::profile::Profile;
use crate::units::{parse_duration, parse_latency_ms, parse_percent, parse_share};
use std::ops::Range;

/// Documented defaults of every optional field, as (field, default, meaning).
/// `rollsim scenario --explain` prints this table; README.md shows it too.
pub const FIELD_DOCS: &[(&str, &str, &str)] = &[
    ("name", "(required)", "scenario name, used in report paths"),
    ("description", "\"\"", "free text"),
    ("fleet.instances", "100", "instances in the fleet; the candidate gets ceil(weight × instances)"),
    ("fleet.metrics", "generic", "how the fleet's series are named for PromQL: `generic`, `istio`, `linkerd` or `nginx` (README: PromQL)"),
    ("fleet.scrape_interval", "15s", "metric scrape interval; every engine duration must be a multiple of it"),
    ("fleet.restart_time", "2m", "how long a restarted instance is unavailable"),
    ("traffic.requests_per_second", "200", "mean total request rate over a day"),
    ("traffic.diurnal_amplitude", "30%", "relative amplitude of the daily cycle"),
    ("traffic.peak_hour", "14", "hour of day (0-24) of peak traffic"),
    ("traffic.start_hour", "13.55", "hour of day at which the rollout starts"),
    ("traffic.noise", "5%", "relative s.d. of per-minute rate noise"),
    ("traffic.classes", "[]", "request classes {name, share}; the rest of traffic is class `other`"),
    ("health.error_rate", "0.1%", "stable error rate"),
    ("health.latency_p50", "80ms", "stable median latency (log-normal latency model)"),
    ("health.latency_p99", "200ms", "stable p99 latency"),
    ("health.cpu", "40%", "mean CPU utilisation per instance"),
    ("health.cpu_spread", "4%", "s.d. of CPU utilisation across instances and scrapes"),
    ("health.memory", "50%", "mean memory utilisation per instance"),
    ("health.memory_spread", "2%", "s.d. of memory utilisation"),
    ("health.db_pool", "40%", "DB connection-pool utilisation at mean load"),
    ("health.cache_hit_ratio", "95%", "cache hit ratio"),
    ("health.user_report_probability", "0.1%", "chance that a failed request leads to a user report"),
    ("health.user_report_delay", "30m", "delay from failure to user report"),
    ("health.slo_latency", "1s", "requests slower than this are slow (excess-slow counts)"),
    ("health.slo_target", "99.9%", "30-day availability SLO (error-budget burn)"),
    ("policy.alert_every", "1m", "evaluation interval of alert rules"),
    ("policy.checks.every", "15m", "check cadence (0 = only at check steps and phase end)"),
    ("policy.checks.mode", "phase-end", "`phase-end` (decision gate) or `continuous`"),
    ("policy.checks.failure_limit", "0", "a gate fails when its failed checks exceed this"),
    ("policy.checks.consecutive_failure_limit", "(none)", "a gate fails when consecutive failures exceed this"),
    (
        "policy.checks.consecutive_error_limit",
        "4",
        "a gate errs (acted on like a failure) when more consecutive checks than this cannot query their metric",
    ),
    ("policy.checks.inconclusive_limit", "0", "a gate is inconclusive when inconclusive checks exceed this"),
    ("policy.checks.min_requests", "100", "fewer requests in a window = inconclusive"),
    ("policy.checks.on_failure", "rollback", "`rollback`, `hold` or `extend`"),
    ("policy.checks.on_inconclusive", "hold", "`rollback`, `hold` or `extend`"),
    ("policy.checks.extend_by", "1h", "extension length for `extend`"),
    ("policy.checks.max_extensions", "1", "extensions before `extend` rolls back"),
    ("policy.phases[].name", "(required)", "phase name, unique; used in rule names such as `gate:canary/error_rate`"),
    ("policy.phases[].weight", "(required)", "the candidate's traffic share in this phase (`5%`); never decreasing"),
    ("policy.phases[].bake", "(required)", "how long the phase runs before its decision gate"),
    ("policy.phases[].checks.*", "policy.checks.*", "per-phase overrides of the check rules"),
    ("policy.phases[].approval", "(none)", "simulated manual-approval delay before promotion"),
    ("policy.phases[].steps[].at", "(required)", "when the step runs, from the phase start"),
    ("policy.phases[].steps[].action", "(required)", "`deploy`, `shift`, `check` or `mark`"),
    ("policy.phases[].steps[].label", "\"\"", "free text shown in traces"),
    ("policy.phases[].gates.NAME.metric", "NAME", "metric the gate reads"),
    ("policy.phases[].gates.NAME.query", "(none)", "PromQL instead of `metric`: its scalar or single-series result is judged; `{{version}}`, `{{target}}`, `{{namespace}}`, `{{interval}}` (the window) and policy.query_vars are substituted per group (README: PromQL)"),
    ("policy.phases[].gates.NAME.scope", "candidate", "`candidate` or `stable`"),
    ("policy.phases[].gates.NAME.class", "(all)", "restrict to one request class"),
    ("policy.phases[].gates.NAME.agg", "per metric", "`window`, `avg`, `max`, `min`, `last`, `increase`"),
    ("policy.phases[].gates.NAME.window", "check cadence", "a duration, or `phase` (since traffic moved)"),
    ("policy.phases[].gates.NAME.op", "<", "comparison that must hold to pass"),
    ("policy.phases[].gates.NAME.limit", "(required)", "`1%`, `500ms`, `0`, `baseline + 10%`, `baseline + 50ms`"),
    ("policy.phases[].gates.NAME.dry_run", "false", "record verdicts without acting on them"),
    ("policy.alerts.NAME.*", "see triggers", "metric or query, scope, class, agg, window, op, threshold, min_requests"),
    ("policy.alerts.NAME.for", "0s", "how long the condition holds before firing"),
    ("policy.alerts.NAME.severity", "warning", "`info`, `warning` or `critical`"),
    ("policy.alerts.NAME.rollback", "false", "a firing alert rolls back at once"),
    ("policy.query_vars.NAME", "(none)", "a template variable of PromQL rules: `{{NAME}}` in a query becomes this text"),
    ("policy.rollback.duration", "5m", "rollback time; candidate traffic drains linearly to 0"),
    ("policy.rollback.triggers.NAME.metric", "NAME", "metric the trigger reads"),
    ("policy.rollback.triggers.NAME.query", "(none)", "PromQL instead of `metric` (as for gates; `{{interval}}` is the window)"),
    ("policy.rollback.triggers.NAME.scope", "candidate", "`candidate` or `stable`"),
    ("policy.rollback.triggers.NAME.class", "(all)", "restrict to one request class"),
    ("policy.rollback.triggers.NAME.agg", "per metric", "`window`, `avg`, `max`, `min`, `last`, `instant`, `increase`"),
    ("policy.rollback.triggers.NAME.op", ">", "comparison that fires"),
    ("policy.rollback.triggers.NAME.threshold", "(required)", "the value the comparison is against (`5%`, `2000ms`, `3`)"),
    ("policy.rollback.triggers.NAME.min_requests", "policy.checks.min_requests", "fewer requests in the window = never fires"),
    ("policy.rollback.triggers.NAME.window", "5m", "window of the trigger's query"),
    ("policy.rollback.triggers.NAME.every", "1m", "evaluation cadence"),
    ("faults[].name", "the kind", "label in reports; unique"),
    ("faults[].class", "(all)", "error-rate faults: hit only this request class (a partial fault)"),
    ("faults[].error_rate", "per kind", "added error rate (`2%`): error-rate, load-dependent, intermittent, shared-dependency"),
    ("faults[].error_factor", "(none)", "error-rate: multiplies the stable error rate"),
    ("faults[].latency_shift", "(none)", "latency, shared-dependency: added latency (`50ms`)"),
    ("faults[].latency_scale", "(none)", "latency: multiplies every latency"),
    ("faults[].slow_share", "(none)", "latency: share of requests made slow (a heavier tail)"),
    ("faults[].slow_latency", "2500ms", "latency: median latency of the slow requests"),
    ("faults[].leak_per_hour", "(required)", "memory-leak: memory growth per hour; OOM-kill and restart at 100%"),
    ("faults[].crashes_per_hour", "(required)", "crash-loop: crashes per candidate instance per hour"),
    ("faults[].cpu_added", "(required)", "cpu: added CPU utilisation"),
    ("faults[].min_weight", "25%", "load-dependent: errors only while the candidate's share is at least this"),
    ("faults[].burst_every", "1h", "intermittent: time between error bursts"),
    ("faults[].burst_length", "5m", "intermittent: length of a burst"),
    ("faults[].drift_per_hour", "(required)", "drift: error-rate growth per hour after onset"),
    ("faults[].duration", "1h", "shared-dependency: how long the outside incident lasts"),
    ("faults[].kind", "(required)", "none, error-rate, latency, memory-leak, crash-loop, cpu, load-dependent, intermittent, drift, shared-dependency, recorded"),
    ("faults[].weight", "(required)", "relative weight in the mix"),
    ("faults[].onset", "0s", "delay after the first deployment, `a..b` uniform"),
    ("faults[].<magnitude>", "per kind", "every magnitude is a value or `lo..hi` (drawn uniformly per trial)"),
    ("faults[].data", "(recorded)", "recording whose shape the fault replays, relative to the scenario file"),
    ("faults[].metric", "error_rate", "recorded metric: error_rate, latency_p99 or cpu"),
    ("faults[].scale", "1", "share of the recorded deviation from its median to apply, `lo..hi` allowed"),
    ("simulation.tick", "1m", "the simulated world's time grid (a multiple of fleet.scrape_interval); traffic noise, counts and gauges are drawn per tick, so every query window must be a multiple of it; policy instants between ticks see the last completed tick"),
    ("simulation.time_limit", "72h", "simulated time cap per trial (outcome: held)"),
    ("simulation.max_events", "10000000", "event cap per trial"),
    ("simulation.trials", "1000", "default trial count"),
    ("simulation.seed", "1", "default master seed"),
];

/// Argo Rollouts' default `consecutiveErrorLimit`.
pub const DEFAULT_CONSECUTIVE_ERROR_LIMIT: u32 = 4;

/// Caps on what one scenario may ask for: each names itself in its error.
pub const MAX_CLASSES: usize = 64;
pub const MAX_PHASES: usize = 100;
pub const MAX_FAULTS: usize = 1000;
/// A trial's simulated time (memory grows with the ticks a trial actually runs).
pub const MAX_TIME_LIMIT: SimDur = SimDur::hours(366 * 24);

/// Scalar defaults used by the builder (kept next to [`FIELD_DOCS`]).
pub struct Defaults {
    pub instances: u32,
    pub scrape_interval: SimDur,
    pub restart_time: SimDur,
}

pub const DEFAULTS: Defaults =
    Defaults { instances: 100, scrape_interval: SimDur::secs(15), restart_time: SimDur::mins(2) };

fn value_in(unit: Unit) -> impl Fn(&str) -> Result<f64, String> {
    move |s| match unit {
        Unit::Fraction => parse_percent(s),
        Unit::Millis => parse_latency_ms(s),
        Unit::Number => number(s),
    }
}

fn parse_limit(unit: Unit, s: &str) -> Result<Limit, String> {
    let t = s.trim();
    let Some(rest) = t.strip_prefix("baseline") else {
        return value_in(unit)(t).map(Limit::Absolute).map_err(|e| {
            format!(
                "{e}; a limit is a value in the metric's unit or `baseline + N%` / `baseline + N{}`",
                unit_hint(unit)
            )
        });
    };
    let rest = rest.trim();
    if rest.is_empty() {
        return Ok(Limit::BaselineRelative(0.0));
    }
    let (sign, amount) = if let Some(a) = rest.strip_prefix('+') {
        (1.0, a)
    } else if let Some(a) = rest.strip_prefix('-') {
        (-1.0, a)
    } else {
        return Err(format!("expected `baseline + N%` or `baseline + N{}`, found {s:?}", unit_hint(unit)));
    };
    let amount = amount.trim();
    if amount.ends_with('%') {
        return parse_percent(amount).map(|v| Limit::BaselineRelative(sign * v));
    }
    match unit {
        Unit::Millis => parse_latency_ms(amount).map(|v| Limit::BaselinePlus(sign * v)),
        Unit::Number => number(amount).map(|v| Limit::BaselinePlus(sign * v)),
        Unit::Fraction => Err(format!("expected `baseline + N%` or `baseline - N%`, found {s:?}")),
    }
}

fn unit_hint(unit: Unit) -> &'static str {
    match unit {
        Unit::Fraction => "%",
        Unit::Millis => "ms",
        Unit::Number => "",
    }
}

pub(super) fn one_of<T: Copy>(options: &'static [(&'static str, T)]) -> impl Fn(&str) -> Result<T, String> {
    move |s| {
        options.iter().find(|(n, _)| *n == s.trim()).map(|(_, v)| *v).ok_or_else(|| {
            let names: Vec<String> = options.iter().map(|(n, _)| format!("`{n}`")).collect();
            format!("expected one of {}, found {s:?}", names.join(", "))
        })
    }
}

const MODES: &[(&str, EvalMode)] = &[("phase-end", EvalMode::PhaseEnd), ("continuous", EvalMode::Continuous)];
const GROUPS: &[(&str, Group)] = &[("candidate", Group::Candidate), ("stable", Group::Stable)];
const OPS: &[(&str, Cmp)] = &[("<", Cmp::Lt), ("<=", Cmp::Le), (">", Cmp::Gt), (">=", Cmp::Ge)];
const SEVERITIES: &[(&str, Severity)] =
    &[("info", Severity::Info), ("warning", Severity::Warning), ("critical", Severity::Critical)];
const ACTIONS: &[(&str, u8)] = &[("rollback", 0), ("hold", 1), ("extend", 2)];

/// The field path as the user wrote it (serde's span wrapper removed).
fn user_path(path: &str) -> String {
    let p = path.replace(".$__serde_spanned_private_value", "").replace("$__serde_spanned_private_value", "");
    if p == "." {
        String::new()
    } else {
        p
    }
}

/// What a field's value looks like, by the field's name.
fn example_for(field: &str) -> Option<(&'static str, &'static str)> {
    let last = field.rsplit('.').next().unwrap_or(field);
    let last = last.split('[').next().unwrap_or(last);
    const PERCENT: &[&str] = &[
        "weight",
        "threshold",
        "limit",
        "error_rate",
        "cpu",
        "memory",
        "share",
        "noise",
        "diurnal_amplitude",
        "cpu_spread",
        "memory_spread",
        "db_pool",
        "cache_hit_ratio",
        "user_report_probability",
        "slo_target",
        "cpu_added",
        "min_weight",
        "slow_share",
        "leak_per_hour",
        "drift_per_hour",
    ];
    const DURATION: &[&str] = &[
        "every",
        "window",
        "bake",
        "duration",
        "time_limit",
        "onset",
        "for",
        "at",
        "approval",
        "extend_by",
        "tick",
        "scrape_interval",
        "restart_time",
        "user_report_delay",
        "alert_every",
        "burst_every",
        "burst_length",
    ];
    const LATENCY: &[&str] = &["latency_p50", "latency_p99", "slo_latency", "latency_shift", "slow_latency"];
    if PERCENT.contains(&last) {
        Some(("a percentage", "\"1%\""))
    } else if DURATION.contains(&last) {
        Some(("a duration", "\"15m\""))
    } else if LATENCY.contains(&last) {
        Some(("a latency", "\"500ms\""))
    } else {
        None
    }
}

/// Rewrites serde's type errors in the user's terms: what was expected, with an
/// example, what was found, and how to write it.
fn friendly_message(field: &str, msg: &str) -> String {
    let Some(rest) = msg.strip_prefix("invalid type: ") else { return msg.to_string() };
    let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
    let value = found.split('`').nth(1).unwrap_or("");
    let found_text = if found.starts_with("floating point") || found.starts_with("integer") {
        format!("the number {value}")
    } else if found.starts_with("boolean") {
        format!("the boolean {value}")
    } else {
        found.to_string()
    };
    match (expected, example_for(field)) {
        ("a string", Some((what, example))) => {
            let hint = match (what, value.parse::<f64>()) {
                ("a percentage", Ok(v)) if v <= 1.0 => {
                    format!(" — write \"{}\"", crate::units::format_percent(v))
                }
                ("a percentage", Ok(v)) => format!(" — write \"{v}%\""),
                ("a duration", Ok(v)) => format!(" — write it with a unit, e.g. \"{v}s\" or \"{v}m\""),
                ("a latency", Ok(v)) => format!(" — write \"{v}ms\""),
                _ => String::new(),
            };
            format!("expected {what} such as {example} (in quotes, with its unit), found {found_text}{hint}")
        }
        ("a string", None) => format!("expected text in quotes, found {found_text}"),
        (e, _) if e.starts_with('i') || e.starts_with('u') || e == "an integer" => {
            format!("expected a whole number such as 100, found {found_text}")
        }
        (e, _) => format!("expected {e}, found {found_text}"),
    }
}

pub fn build(text: &str, file: &str, base_dir: &std::path::Path) -> Result<Scenario, ScenarioErrors> {
    let mut cx = Ctx {
        text,
        file,
        base_dir,
        errors: Vec::new(),
        queries: Vec::new(),
        profile: Profile::Generic,
        vars: Vec::new(),
    };
    let de = toml::Deserializer::new(text);
    let raw: RawScenario = match serde_path_to_error::deserialize(de) {
        Ok(r) => r,
        Err(e) => {
            let field = user_path(&e.path().to_string());
            let inner = e.into_inner();
            let message = friendly_message(&field, inner.message().trim());
            cx.err_at(inner.span(), field, message);
            return Err(ScenarioErrors(cx.errors));
        }
    };
    let scenario = build_raw(&mut cx, raw);
    if cx.errors.is_empty() {
        Ok(scenario)
    } else {
        Err(ScenarioErrors(cx.errors))
    }
}

fn build_raw(cx: &mut Ctx, raw: RawScenario) -> Scenario {
    let fleet = Fleet {
        instances: cx.int(&raw.fleet.instances, "fleet.instances", DEFAULTS.instances as i64, 1, 100_000) as u32,
        scrape_interval: cx.opt(
            &raw.fleet.scrape_interval,
            "fleet.scrape_interval",
            DEFAULTS.scrape_interval,
            positive_duration,
        ),
        restart_time: cx.opt(&raw.fleet.restart_time, "fleet.restart_time", DEFAULTS.restart_time, parse_duration),
        metrics: cx.opt(&raw.fleet.metrics, "fleet.metrics", Profile::Generic, |s| {
            Profile::from_name(s).ok_or_else(|| {
                let names: Vec<&str> = Profile::ALL.iter().map(|p| p.name()).collect();
                format!("expected one of {}, found {s:?}", names.join(", "))
            })
        }),
    };
    cx.profile = fleet.metrics;
    cx.vars = raw.policy.query_vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let traffic = build_traffic(cx, &raw.traffic);
    let health = build_health(cx, &raw.health);
    let policy = build_policy(cx, &raw.policy, &traffic, fleet.scrape_interval);
    // Recordings named by faults are found next to the scenario file.
    let base_dir = cx.base_dir;
    let faults = super::faults::build_faults(cx, &raw.faults, &traffic, base_dir);
    let s = &raw.simulation;
    let simulation = SimSettings {
        tick: cx.opt(&s.tick, "simulation.tick", SimDur::mins(1), positive_duration),
        time_limit: cx.opt(&s.time_limit, "simulation.time_limit", SimDur::hours(72), positive_duration),
        max_events: cx.int(&s.max_events, "simulation.max_events", 10_000_000, 1, i64::MAX) as u64,
        trials: cx.int(&s.trials, "simulation.trials", 1000, 1, 100_000_000) as u64,
        seed: cx.int(&s.seed, "simulation.seed", 1, 0, i64::MAX) as u64,
    };
    check_tick(cx, s, &fleet, &policy, simulation.tick);
    if simulation.time_limit > MAX_TIME_LIMIT {
        cx.err_at(
            s.time_limit.as_ref().map(|t| t.span()),
            "simulation.time_limit",
            format!("{} is more than the cap of {MAX_TIME_LIMIT} of simulated time per trial", simulation.time_limit),
        );
    }
    if raw.faults.len() > MAX_FAULTS {
        cx.err_at(None, "faults", format!("{} fault entries, more than the cap of {MAX_FAULTS}", raw.faults.len()));
    }
    if raw.policy.phases.len() > MAX_PHASES {
        cx.err_at(
            None,
            "policy.phases",
            format!("{} phases, more than the cap of {MAX_PHASES}", raw.policy.phases.len()),
        );
    }
    let planned = policy.planned_duration();
    if cx.errors.is_empty() && simulation.time_limit < planned {
        let span = s.time_limit.as_ref().map(|t| t.span());
        cx.err_at(
            span,
            "simulation.time_limit",
            format!(
                "the time limit {} is shorter than the policy's planned duration {}: no trial could complete",
                simulation.time_limit, planned
            ),
        );
    }
    Scenario {
        name: raw.name,
        description: raw.description,
        fleet,
        traffic,
        health,
        policy: Arc::new(policy),
        faults,
        simulation,
        queries: std::mem::take(&mut cx.queries),
        query_vars: cx.vars.clone(),
    }
}

/// Substitutes `{{name}}` template variables (spaces inside the braces and a
/// Go template's leading `.` allowed); an unknown name is an error listing the
/// known ones, then `hint`. Scenario queries and imported manifests share it.
pub fn substitute(template: &str, vars: &[(&str, &str)], hint: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else { return Err("a `{{` is never closed by `}}`".into()) };
        let name = after[..j].trim().trim_start_matches('.');
        match vars.iter().find(|(k, _)| *k == name) {
            Some((_, v)) => out.push_str(v),
            None => {
                let known: Vec<&str> = vars.iter().map(|(k, _)| *k).collect();
                return Err(format!("unknown template variable `{{{{{name}}}}}`; known: {}{hint}", known.join(", ")));
            }
        }
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A `query =` rule: substitutes its variables for each group, parses both
/// and returns the metric that refers to it. `interval` is `{{interval}}`.
pub(super) fn build_query(cx: &mut Ctx, q: &Text, field: &str, interval: SimDur) -> Option<Metric> {
    let mut parsed = Vec::new();
    for candidate in [true, false] {
        let mut vars: Vec<(&str, String)> = vec![
            ("version", (if candidate { "canary" } else { "stable" }).to_string()),
            ("target", (if candidate { "app" } else { "app-primary" }).to_string()),
            ("namespace", "default".to_string()),
            ("interval", format!("{}s", interval.0)),
        ];
        vars.extend(cx.vars.iter().map(|(k, v)| (k.as_str(), v.clone())));
        let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let text = match substitute(q.get_ref(), &pairs, " (add your own under [policy.query_vars])") {
            Ok(t) => t,
            Err(e) => {
                cx.err_at(Some(q.span()), field, e);
                return None;
            }
        };
        match crate::promql::parse(&text) {
            Ok(p) if !p.is_instant() => {
                cx.err_at(
                    Some(q.span()),
                    field,
                    "the query returns a range vector; a rule judges one number: apply a function such as rate() or max_over_time()",
                );
                return None;
            }
            Ok(p) => parsed.push(p),
            Err(e) => {
                let shown = if text == *q.get_ref() { String::new() } else { format!(" (after substitution: {text})") };
                cx.err_at(Some(q.span()), field, format!("{e}{shown}"));
                return None;
            }
        }
    }
    if cx.queries.len() >= u16::MAX as usize {
        cx.err_at(Some(q.span()), field, "too many PromQL rules");
        return None;
    }
    let stable = parsed.pop()?;
    let candidate = parsed.pop()?;
    cx.queries.push(PromRule { template: q.get_ref().clone(), parsed: [candidate, stable] });
    Some(Metric::Query((cx.queries.len() - 1) as u16))
}

/// A `query =` rule names no metric, scope, class or aggregation.
fn no_target_fields(cx: &mut Ctx, prefix: &str, f: &TargetFields) {
    for (set, what) in [(f.metric, "metric"), (f.scope, "scope"), (f.class, "class"), (f.agg, "agg")] {
        if let Some(t) = set {
            cx.err_at(
                Some(t.span()),
                format!("{prefix}.{what}"),
                format!("`{what}` does not apply to a `query` rule: the query selects its own series"),
            );
        }
    }
}

fn build_traffic(cx: &mut Ctx, t: &RawTraffic) -> Traffic {
    let mut classes = Vec::new();
    let mut total = 0.0;
    for (i, c) in t.classes.iter().enumerate() {
        let field = format!("traffic.classes[{i}].share");
        let share = cx.req(&c.share, &field, parse_share).unwrap_or(0.0);
        if c.name == "other" || classes.iter().any(|k: &RequestClass| k.name == c.name) {
            cx.err_at(
                Some(c.share.span()),
                format!("traffic.classes[{i}].name"),
                format!("class name {:?} is reserved or used twice", c.name),
            );
        }
        total += share;
        classes.push(RequestClass { name: c.name.clone(), share });
    }
    if total > 1.0 + 1e-9 {
        cx.err_at(None, "traffic.classes", format!("class shares add up to {:.2}%, more than 100%", total * 100.0));
    }
    if t.classes.len() >= MAX_CLASSES {
        cx.err_at(
            None,
            "traffic.classes",
            format!("{} request classes, more than the cap of {} (plus `other`)", t.classes.len(), MAX_CLASSES - 1),
        );
    }
    classes.push(RequestClass { name: "other".into(), share: (1.0 - total).max(0.0) });
    Traffic {
        requests_per_second: cx.float(
            &t.requests_per_second,
            "traffic.requests_per_second",
            200.0,
            0.001..1e9,
            "a rate above 0",
        ),
        diurnal_amplitude: cx.opt(&t.diurnal_amplitude, "traffic.diurnal_amplitude", 0.3, |s| {
            parse_share(s).and_then(|v| if v < 1.0 { Ok(v) } else { Err("expected less than 100%".into()) })
        }),
        peak_hour: cx.float(&t.peak_hour, "traffic.peak_hour", 14.0, 0.0..24.0, "an hour of day from 0 to 24"),
        start_hour: cx.float(&t.start_hour, "traffic.start_hour", 13.55, 0.0..24.0, "an hour of day from 0 to 24"),
        noise: cx.opt(&t.noise, "traffic.noise", 0.05, parse_share),
        classes,
    }
}

fn build_health(cx: &mut Ctx, h: &RawHealth) -> Health {
    let health = Health {
        error_rate: cx.opt(&h.error_rate, "health.error_rate", 0.001, parse_share),
        latency_p50_ms: cx.opt(&h.latency_p50, "health.latency_p50", 80.0, parse_latency_ms),
        latency_p99_ms: cx.opt(&h.latency_p99, "health.latency_p99", 200.0, parse_latency_ms),
        cpu: cx.opt(&h.cpu, "health.cpu", 0.40, parse_share),
        cpu_spread: cx.opt(&h.cpu_spread, "health.cpu_spread", 0.04, parse_share),
        memory: cx.opt(&h.memory, "health.memory", 0.50, parse_share),
        memory_spread: cx.opt(&h.memory_spread, "health.memory_spread", 0.02, parse_share),
        db_pool: cx.opt(&h.db_pool, "health.db_pool", 0.40, parse_share),
        cache_hit_ratio: cx.opt(&h.cache_hit_ratio, "health.cache_hit_ratio", 0.95, parse_share),
        user_report_probability: cx.opt(
            &h.user_report_probability,
            "health.user_report_probability",
            0.001,
            parse_share,
        ),
        user_report_delay: cx.opt(&h.user_report_delay, "health.user_report_delay", SimDur::mins(30), parse_duration),
        slo_latency_ms: cx.opt(&h.slo_latency, "health.slo_latency", 1000.0, parse_latency_ms),
        slo_target: cx.opt(&h.slo_target, "health.slo_target", 0.999, parse_share),
    };
    if health.latency_p50_ms <= 0.0 || health.latency_p99_ms <= health.latency_p50_ms {
        let span = h.latency_p99.as_ref().map(|t| t.span());
        cx.err_at(span, "health.latency_p99", "expected latency_p99 above latency_p50 and both above 0ms");
    }
    if health.slo_target >= 1.0 {
        cx.err_at(h.slo_target.as_ref().map(|t| t.span()), "health.slo_target", "expected an SLO target below 100%");
    }
    health
}

fn build_checks(cx: &mut Ctx, c: &RawChecks, base: &CheckRules, prefix: &str, scrape: SimDur) -> CheckRules {
    let f = |n: &str| format!("{prefix}.{n}");
    let action = |cx: &mut Ctx, v: &Option<Text>, field: &str, default: FailureAction| -> (bool, FailureAction) {
        match v {
            None => (false, default),
            Some(t) => match cx.req(t, field, one_of(ACTIONS)) {
                Some(0) => (true, FailureAction::Rollback),
                Some(1) => (true, FailureAction::Hold),
                Some(_) => (true, FailureAction::Extend { by: SimDur::hours(1), max: 1 }),
                None => (true, default),
            },
        }
    };
    let (_, mut on_failure) = action(cx, &c.on_failure, &f("on_failure"), base.on_failure);
    let (_, mut on_inconclusive) = action(cx, &c.on_inconclusive, &f("on_inconclusive"), base.on_inconclusive);
    let (base_by, base_max) = [base.on_failure, base.on_inconclusive]
        .into_iter()
        .find_map(|a| match a {
            FailureAction::Extend { by, max } => Some((by, max)),
            _ => None,
        })
        .unwrap_or((SimDur::hours(1), 1));
    let by = cx.opt(&c.extend_by, &f("extend_by"), base_by, positive_duration);
    if let Some(t) = &c.extend_by {
        on_grid(cx, by, scrape, Some(t.span()), &f("extend_by"));
    }
    let max = cx.int(&c.max_extensions, &f("max_extensions"), base_max as i64, 0, 1000) as u32;
    for a in [&mut on_failure, &mut on_inconclusive] {
        if let FailureAction::Extend { .. } = a {
            *a = FailureAction::Extend { by, max };
        }
    }
    CheckRules {
        every: cx.opt(&c.every, &f("every"), base.every, parse_duration),
        mode: cx.opt(&c.mode, &f("mode"), base.mode, one_of(MODES)),
        failure_limit: cx.int(&c.failure_limit, &f("failure_limit"), base.failure_limit as i64, 0, 1_000_000) as u32,
        consecutive_failure_limit: match &c.consecutive_failure_limit {
            None => base.consecutive_failure_limit,
            v => Some(cx.int(v, &f("consecutive_failure_limit"), 0, 0, 1_000_000) as u32),
        },
        inconclusive_limit: cx.int(
            &c.inconclusive_limit,
            &f("inconclusive_limit"),
            base.inconclusive_limit as i64,
            0,
            1_000_000,
        ) as u32,
        consecutive_error_limit: cx.int(
            &c.consecutive_error_limit,
            &f("consecutive_error_limit"),
            base.consecutive_error_limit as i64,
            0,
            1_000_000,
        ) as u32,
        min_requests: cx.int(&c.min_requests, &f("min_requests"), base.min_requests as i64, 0, i64::MAX) as u64,
        on_failure,
        on_inconclusive,
    }
}

fn default_checks() -> CheckRules {
    CheckRules {
        every: SimDur::mins(15),
        mode: EvalMode::PhaseEnd,
        failure_limit: 0,
        consecutive_failure_limit: None,
        inconclusive_limit: 0,
        consecutive_error_limit: DEFAULT_CONSECUTIVE_ERROR_LIMIT,
        min_requests: 100,
        on_failure: FailureAction::Rollback,
        on_inconclusive: FailureAction::Hold,
    }
}

/// Metric, group, class and aggregation of a gate or rule.
struct Target {
    metric: Metric,
    group: Group,
    class: Option<crate::engine::ClassId>,
    agg: Agg,
}

/// The target fields that gates, alerts and triggers share.
struct TargetFields<'a> {
    metric: &'a Option<Text>,
    scope: &'a Option<Text>,
    class: &'a Option<Text>,
    agg: &'a Option<Text>,
}

fn build_target(cx: &mut Ctx, name: &str, f: TargetFields, traffic: &Traffic, prefix: &str) -> Option<Target> {
    let TargetFields { metric, scope, class, agg } = f;
    let known = || Metric::ALL.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ");
    let metric = match metric {
        Some(m) => match Metric::from_name(m.get_ref().trim()) {
            Some(x) => x,
            None => {
                cx.err_at(
                    Some(m.span()),
                    format!("{prefix}.metric"),
                    format!("unknown metric {:?}; expected one of {}", m.get_ref(), known()),
                );
                return None;
            }
        },
        None => match Metric::from_name(name) {
            Some(x) => x,
            None => {
                cx.err_at(
                    None,
                    format!("{prefix}.metric"),
                    format!("`{name}` is not a metric name, so `metric` is required; expected one of {}", known()),
                );
                return None;
            }
        },
    };
    let group = cx.opt(scope, &format!("{prefix}.scope"), Group::Candidate, one_of(GROUPS));
    let class = class.as_ref().and_then(|c| {
        let id = traffic.classes.iter().position(|k| k.name == c.get_ref().trim());
        if id.is_none() {
            let names: Vec<&str> = traffic.classes.iter().map(|k| k.name.as_str()).collect();
            cx.err_at(
                Some(c.span()),
                format!("{prefix}.class"),
                format!("unknown request class {:?}; traffic.classes has {}", c.get_ref(), names.join(", ")),
            );
        }
        id.map(|i| i as u8)
    });
    if class.is_some() && !matches!(metric, Metric::ErrorRate | Metric::RequestRate) {
        cx.err_at(
            None,
            format!("{prefix}.class"),
            format!("metric `{metric}` has no per-class values; classes apply to error_rate and request_rate"),
        );
    }
    let agg = match agg {
        None => metric.default_agg(),
        Some(a) => {
            let parsed = Agg::from_name(a.get_ref().trim()).filter(|x| metric.allowed_aggs().contains(x));
            match parsed {
                Some(x) => x,
                None => {
                    let allowed: Vec<&str> = metric.allowed_aggs().iter().map(|a| a.name()).collect();
                    cx.err_at(
                        Some(a.span()),
                        format!("{prefix}.agg"),
                        format!(
                            "expected one of {} for metric `{metric}`, found {:?}",
                            allowed.join(", "),
                            a.get_ref()
                        ),
                    );
                    metric.default_agg()
                }
            }
        }
    };
    Some(Target { metric, group, class, agg })
}

/// The tick is a whole number of scrapes, and every query window is a whole
/// number of ticks (a window that is not would silently read fewer ticks).
fn check_tick(cx: &mut Ctx, s: &RawSimulation, fleet: &Fleet, policy: &Policy, tick: SimDur) {
    let span = s.tick.as_ref().map(|t| t.span());
    if fleet.scrape_interval.0 > 0 && tick.0 % fleet.scrape_interval.0 != 0 {
        cx.err_at(
            span,
            "simulation.tick",
            format!("expected a multiple of fleet.scrape_interval ({}), found {tick}", fleet.scrape_interval),
        );
        return;
    }
    let mut windows: Vec<(String, SimDur)> = Vec::new();
    for (i, p) in policy.phases.iter().enumerate() {
        for g in p.gates.iter().filter(|g| !matches!(g.metric, Metric::Query(_))) {
            if let Window::Fixed(w) = g.window {
                windows.push((format!("policy.phases[{i}].gates.{}.window", g.name), w));
            }
        }
    }
    let metric_based = |q: &Query| !matches!(q.metric, Metric::Query(_));
    windows.extend(
        policy
            .alerts
            .iter()
            .filter(|a| metric_based(&a.condition.query))
            .map(|a| (format!("policy.alerts.{}.window", a.name), a.condition.query.window)),
    );
    windows.extend(
        policy
            .triggers
            .iter()
            .filter(|t| metric_based(&t.condition.query))
            .map(|t| (format!("policy.rollback.triggers.{}.window", t.name), t.condition.query.window)),
    );
    for (field, w) in windows {
        if w.0 % tick.0 != 0 {
            cx.err_at(
                span.clone(),
                field,
                format!(
                    "the window {w} is not a whole number of simulation ticks ({tick}); use a multiple of {tick} or set simulation.tick to a divisor of {w}, e.g. simulation.tick = \"{}\"",
                    fleet.scrape_interval
                ),
            );
        }
    }
}

/// Engine durations must be whole multiples of the scrape interval.
fn on_grid(cx: &mut Ctx, d: SimDur, scrape: SimDur, span: Option<Range<usize>>, field: &str) {
    if scrape.0 > 0 && d.0 % scrape.0 != 0 {
        cx.err_at(span, field, format!("expected a multiple of fleet.scrape_interval ({scrape}), found {d}"));
    }
}

fn build_rule(
    cx: &mut Ctx,
    name: &str,
    r: &RawRule,
    traffic: &Traffic,
    checks: &CheckRules,
    scrape: SimDur,
    prefix: &str,
) -> Option<Condition> {
    let window = cx.opt(&r.window, &format!("{prefix}.window"), SimDur::mins(5), positive_duration);
    on_grid(cx, window, scrape, r.window.as_ref().map(|w| w.span()), &format!("{prefix}.window"));
    let fields = TargetFields { metric: &r.metric, scope: &r.scope, class: &r.class, agg: &r.agg };
    let target = match &r.query {
        Some(q) => {
            no_target_fields(cx, prefix, &fields);
            let metric = build_query(cx, q, &format!("{prefix}.query"), window)?;
            Target { metric, group: Group::Candidate, class: None, agg: Agg::Window }
        }
        None => build_target(cx, name, fields, traffic, prefix)?,
    };
    let op = cx.opt(&r.op, &format!("{prefix}.op"), Cmp::Gt, one_of(OPS));
    let threshold = cx.req(&r.threshold, &format!("{prefix}.threshold"), value_in(target.metric.unit()))?;
    let min_requests =
        cx.int(&r.min_requests, &format!("{prefix}.min_requests"), checks.min_requests as i64, 0, i64::MAX) as u64;
    Some(Condition {
        query: Query { metric: target.metric, group: target.group, class: target.class, window, agg: target.agg },
        op,
        threshold,
        min_requests,
    })
}

fn build_policy(cx: &mut Ctx, p: &RawPolicy, traffic: &Traffic, scrape: SimDur) -> Policy {
    let base = build_checks(cx, &p.checks, &default_checks(), "policy.checks", scrape);
    let alert_every = cx.opt(&p.alert_every, "policy.alert_every", SimDur::mins(1), positive_duration);
    on_grid(cx, alert_every, scrape, p.alert_every.as_ref().map(|t| t.span()), "policy.alert_every");

    let mut alerts = Vec::new();
    for (name, r) in &p.alerts {
        let prefix = format!("policy.alerts.{name}");
        if r.every.is_some() {
            cx.err_at(
                None,
                format!("{prefix}.every"),
                "alerts are evaluated every policy.alert_every; `every` applies to rollback triggers",
            );
        }
        let for_ = cx.opt(&r.for_, &format!("{prefix}.for"), SimDur::ZERO, parse_duration);
        let severity = cx.opt(&r.severity, &format!("{prefix}.severity"), Severity::Warning, one_of(SEVERITIES));
        if let Some(condition) = build_rule(cx, name, r, traffic, &base, scrape, &prefix) {
            alerts.push(AlertRule {
                name: name.clone(),
                condition,
                for_,
                severity,
                rollback: r.rollback.unwrap_or(false),
            });
        }
    }

    let mut triggers = Vec::new();
    for (name, r) in &p.rollback.triggers {
        let prefix = format!("policy.rollback.triggers.{name}");
        for (set, what) in
            [(r.for_.is_some(), "for"), (r.severity.is_some(), "severity"), (r.rollback.is_some(), "rollback")]
        {
            if set {
                cx.err_at(
                    None,
                    format!("{prefix}.{what}"),
                    format!("`{what}` applies to alert rules, not to rollback triggers"),
                );
            }
        }
        let every = cx.opt(&r.every, &format!("{prefix}.every"), SimDur::mins(1), positive_duration);
        on_grid(cx, every, scrape, r.every.as_ref().map(|t| t.span()), &format!("{prefix}.every"));
        if let Some(condition) = build_rule(cx, name, r, traffic, &base, scrape, &prefix) {
            triggers.push(Trigger { name: name.clone(), condition, every });
        }
    }
    let rollback_duration = cx.opt(&p.rollback.duration, "policy.rollback.duration", SimDur::mins(5), parse_duration);
    on_grid(cx, rollback_duration, scrape, p.rollback.duration.as_ref().map(|t| t.span()), "policy.rollback.duration");

    let given = [!p.phases.is_empty(), p.argo.is_some(), p.flagger.is_some()];
    if given.iter().filter(|g| **g).count() > 1 {
        cx.err_at(None, "policy", "give one of `phases`, `[policy.argo]` or `[policy.flagger]`, not several");
    }
    let controller = if let Some(a) = &p.argo {
        Some(super::controller::build_argo(cx, a, &base))
    } else {
        p.flagger.as_ref().map(|f| super::controller::build_flagger(cx, f, &base))
    };
    if let Some((controller, phases)) = controller {
        return Policy { phases, alerts, alert_every, triggers, rollback_duration, controller };
    }
    if p.phases.is_empty() {
        cx.err_at(None, "policy.phases", "expected at least one phase (or `[policy.argo]`, `[policy.flagger]`)");
    }
    let mut phases: Vec<Phase> = Vec::new();
    for (i, rp) in p.phases.iter().enumerate() {
        let prefix = format!("policy.phases[{i}]");
        // An unreadable weight is reported once; NaN keeps it out of the ordering checks.
        let weight = cx.req(&rp.weight, &format!("{prefix}.weight"), parse_share).unwrap_or(f64::NAN);
        if weight <= 0.0 {
            cx.err_at(Some(rp.weight.span()), format!("{prefix}.weight"), "expected a traffic weight above 0%");
        }
        if let Some(prev) = phases.last() {
            if weight < prev.weight {
                cx.err_at(
                    Some(rp.weight.span()),
                    format!("{prefix}.weight"),
                    format!(
                        "traffic decreases from {} in phase {:?} to {}: weights must not decrease",
                        crate::units::format_percent(prev.weight),
                        prev.name,
                        rp.weight.get_ref()
                    ),
                );
            }
        }
        if phases.iter().any(|q| q.name == rp.name) {
            cx.err_at(None, format!("{prefix}.name"), format!("phase name {:?} is used twice", rp.name));
        }
        let bake = cx.req(&rp.bake, &format!("{prefix}.bake"), positive_duration).unwrap_or(SimDur::hours(1));
        on_grid(cx, bake, scrape, Some(rp.bake.span()), &format!("{prefix}.bake"));
        let approval = rp.approval.as_ref().and_then(|a| cx.req(a, &format!("{prefix}.approval"), parse_duration));
        if let (Some(d), Some(a)) = (approval, &rp.approval) {
            on_grid(cx, d, scrape, Some(a.span()), &format!("{prefix}.approval"));
        }
        let checks = build_checks(cx, &rp.checks, &base, &format!("{prefix}.checks"), scrape);
        if let Some(e) = &rp.checks.every {
            on_grid(cx, checks.every, scrape, Some(e.span()), &format!("{prefix}.checks.every"));
        } else {
            on_grid(cx, checks.every, scrape, p.checks.every.as_ref().map(|t| t.span()), "policy.checks.every");
        }
        let mut steps = Vec::new();
        for (j, s) in rp.steps.iter().enumerate() {
            let sp = format!("{prefix}.steps[{j}]");
            let at = cx.req(&s.at, &format!("{sp}.at"), parse_duration).unwrap_or(SimDur::ZERO);
            on_grid(cx, at, scrape, Some(s.at.span()), &format!("{sp}.at"));
            if at > bake {
                cx.err_at(
                    Some(s.at.span()),
                    format!("{sp}.at"),
                    format!("step at {at} is after the phase's bake time {bake}"),
                );
            }
            if steps.last().is_some_and(|p: &Step| p.at > at) {
                cx.err_at(Some(s.at.span()), format!("{sp}.at"), "steps must be listed in time order");
            }
            let action = cx.req(&s.action, &format!("{sp}.action"), |a| {
                StepAction::from_name(a.trim())
                    .ok_or_else(|| format!("expected one of `deploy`, `shift`, `check`, `mark`, found {a:?}"))
            });
            if let Some(action) = action {
                steps.push(Step { at, action, label: s.label.clone() });
            }
        }
        let mut gates = Vec::new();
        for (name, g) in &rp.gates {
            let gp = format!("{prefix}.gates.{name}");
            let fields = TargetFields { metric: &g.metric, scope: &g.scope, class: &g.class, agg: &g.agg };
            let t = if g.query.is_some() {
                no_target_fields(cx, &gp, &fields);
                None
            } else {
                match build_target(cx, name, fields, traffic, &gp) {
                    Some(t) => Some(t),
                    None => continue,
                }
            };
            let window = match &g.window {
                None if checks.every == SimDur::ZERO => Window::Phase,
                None => Window::Fixed(checks.every),
                Some(w) if w.get_ref().trim() == "phase" => Window::Phase,
                Some(w) => {
                    let d = cx.req(w, &format!("{gp}.window"), |s| {
                        positive_duration(s).map_err(|e| format!("{e}, or `phase`"))
                    });
                    if let Some(d) = d {
                        on_grid(cx, d, scrape, Some(w.span()), &format!("{gp}.window"));
                    }
                    Window::Fixed(d.unwrap_or(SimDur::mins(1)))
                }
            };
            let t = match (t, &g.query) {
                (Some(t), _) => t,
                (None, Some(q)) => {
                    let Window::Fixed(interval) = window else {
                        let span = g.window.as_ref().map(|w| w.span());
                        cx.err_at(
                            span,
                            format!("{gp}.window"),
                            "a `query` gate reads the ranges its query names; `window` may only set {{interval}} (a duration)",
                        );
                        continue;
                    };
                    let Some(metric) = build_query(cx, q, &format!("{gp}.query"), interval) else { continue };
                    Target { metric, group: Group::Candidate, class: None, agg: Agg::Window }
                }
                (None, None) => continue,
            };
            let op = cx.opt(&g.op, &format!("{gp}.op"), Cmp::Lt, one_of(OPS));
            let Some(limit) = cx.req(&g.limit, &format!("{gp}.limit"), |s| parse_limit(t.metric.unit(), s)) else {
                continue;
            };
            if t.metric == crate::engine::Metric::CriticalAlerts && !matches!(limit, Limit::Absolute(_)) {
                cx.err_at(
                    Some(g.limit.span()),
                    format!("{gp}.limit"),
                    "critical_alerts has no baseline; expected a count",
                );
            }
            gates.push(Gate {
                name: name.clone(),
                metric: t.metric,
                group: t.group,
                class: t.class,
                agg: t.agg,
                window,
                op,
                limit,
                dry_run: g.dry_run,
            });
        }
        phases.push(Phase { name: rp.name.clone(), weight, bake, steps, gates, checks, approval });
    }
    if let Some(last) = phases.last() {
        if last.weight < 1.0 {
            cx.err_at(
                Some(p.phases[phases.len() - 1].weight.span()),
                format!("policy.phases[{}].weight", phases.len() - 1),
                "the last phase must take 100% of traffic, or the rollout can never complete",
            );
        }
    }
    Policy { phases, alerts, alert_every, triggers, rollback_duration, controller: crate::engine::Controller::Runbook }
}
