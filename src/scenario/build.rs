//! Validation: the raw file format into domain types, with every error naming
//! the file, line, column and field path, and saying what was expected.
//!
//! Errors are collected rather than returned at the first one, so a user fixes
//! a file in one pass.

use super::check::*;
use super::fields::{friendly_message, user_path};
use super::policy::build_policy;
use super::raw::*;
use super::*;
use crate::engine::{Metric, Policy, Query, Window};
use crate::promql::profile::Profile;
use crate::units::{parse_duration, parse_latency_ms, parse_share};

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
            "a rate from 0.001 to below 1e9 requests per second",
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
