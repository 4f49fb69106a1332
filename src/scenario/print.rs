//! Writing scenarios back out: canonical TOML (parse → print → parse gives the
//! same scenario) and a one-screen description of the policy for humans.

use super::*;
use crate::engine::{Agg, Cmp, FailureAction, Gate, Limit, Metric, Window};
use crate::units::{format_latency_ms, format_percent};
use std::fmt::Write;
use toml::{Table, Value};

fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

use crate::units::format_value as value_text;

/// A limit as written in scenario files.
pub fn limit_text(metric: Metric, limit: &Limit) -> String {
    let unit = metric.unit();
    let signed = |v: f64, f: &dyn Fn(f64) -> String| {
        if v < 0.0 {
            format!("baseline - {}", f(-v))
        } else {
            format!("baseline + {}", f(v))
        }
    };
    match *limit {
        Limit::Absolute(v) => value_text(unit, v),
        Limit::BaselineRelative(f) => signed(f, &format_percent),
        Limit::BaselinePlus(a) => signed(a, &|x| value_text(unit, x)),
    }
}

fn dist_text(d: &Dist, f: impl Fn(f64) -> String) -> String {
    if d.lo == d.hi {
        f(d.lo)
    } else {
        format!("{}..{}", f(d.lo), f(d.hi))
    }
}

fn dur(d: SimDur) -> Value {
    s(d.to_string())
}

fn action_text(a: FailureAction) -> &'static str {
    match a {
        FailureAction::Rollback => "rollback",
        FailureAction::Hold => "hold",
        FailureAction::Extend { .. } => "extend",
    }
}

fn checks_table(c: &crate::engine::CheckRules) -> Table {
    let mut t = Table::new();
    t.insert("every".into(), dur(c.every));
    t.insert("mode".into(), s(c.mode.name()));
    t.insert("failure_limit".into(), Value::Integer(c.failure_limit as i64));
    if let Some(l) = c.consecutive_failure_limit {
        t.insert("consecutive_failure_limit".into(), Value::Integer(l as i64));
    }
    t.insert("inconclusive_limit".into(), Value::Integer(c.inconclusive_limit as i64));
    // Written only when set: a query error cannot happen in a simulated world, and
    // leaving the default out keeps the canonical text (and scenario hashes) of
    // earlier scenarios unchanged.
    if c.consecutive_error_limit != super::build::DEFAULT_CONSECUTIVE_ERROR_LIMIT {
        t.insert("consecutive_error_limit".into(), Value::Integer(c.consecutive_error_limit as i64));
    }
    t.insert("min_requests".into(), Value::Integer(c.min_requests as i64));
    t.insert("on_failure".into(), s(action_text(c.on_failure)));
    t.insert("on_inconclusive".into(), s(action_text(c.on_inconclusive)));
    for a in [c.on_failure, c.on_inconclusive] {
        if let FailureAction::Extend { by, max } = a {
            t.insert("extend_by".into(), dur(by));
            t.insert("max_extensions".into(), Value::Integer(max as i64));
        }
    }
    t
}

fn target(t: &mut Table, sc: &Scenario, metric: Metric, group: crate::engine::Group, class: Option<u8>, agg: Agg) {
    if let Metric::Query(i) = metric {
        t.insert("query".into(), s(sc.queries[i as usize].template.clone()));
        return;
    }
    t.insert("metric".into(), s(metric.name()));
    t.insert("scope".into(), s(group.name()));
    if let Some(c) = class {
        t.insert("class".into(), s(sc.traffic.classes[c as usize].name.clone()));
    }
    t.insert("agg".into(), s(agg.name()));
}

fn cond_table(sc: &Scenario, c: &crate::engine::Condition) -> Table {
    let mut t = Table::new();
    let q = &c.query;
    target(&mut t, sc, q.metric, q.group, q.class, q.agg);
    t.insert("window".into(), dur(q.window));
    t.insert("op".into(), s(c.op.symbol()));
    t.insert("threshold".into(), s(value_text(q.metric.unit(), c.threshold)));
    t.insert("min_requests".into(), Value::Integer(c.min_requests as i64));
    t
}

fn gate_table(sc: &Scenario, g: &Gate) -> Table {
    let mut t = Table::new();
    target(&mut t, sc, g.metric, g.group, g.class, g.agg);
    t.insert(
        "window".into(),
        match g.window {
            Window::Fixed(d) => dur(d),
            Window::Phase => s("phase"),
        },
    );
    t.insert("op".into(), s(g.op.symbol()));
    t.insert("limit".into(), s(limit_text(g.metric, &g.limit)));
    t.insert("dry_run".into(), Value::Boolean(g.dry_run));
    t
}

fn fault_table(sc: &Scenario, f: &FaultSpec) -> Table {
    let mut t = Table::new();
    let pct = |d: &Dist| s(dist_text(d, format_percent));
    let ms = |d: &Dist| s(dist_text(d, format_latency_ms));
    let num = |d: &Dist| s(dist_text(d, |v| format!("{v}")));
    t.insert("name".into(), s(f.name.clone()));
    t.insert("kind".into(), s(f.kind.name()));
    t.insert("weight".into(), Value::Float(f.weight));
    t.insert(
        "onset".into(),
        s(if f.onset_lo == f.onset_hi { f.onset_lo.to_string() } else { format!("{}..{}", f.onset_lo, f.onset_hi) }),
    );
    if let Some(c) = f.class {
        t.insert("class".into(), s(sc.traffic.classes[c as usize].name.clone()));
    }
    match &f.kind {
        FaultKind::None => {}
        FaultKind::ErrorRate { added, factor } => {
            if let Some(a) = added {
                t.insert("error_rate".into(), pct(a));
            }
            if let Some(x) = factor {
                t.insert("error_factor".into(), num(x));
            }
        }
        FaultKind::Latency { shift_ms, scale, slow_share, slow_ms } => {
            if let Some(x) = shift_ms {
                t.insert("latency_shift".into(), ms(x));
            }
            if let Some(x) = scale {
                t.insert("latency_scale".into(), num(x));
            }
            if let Some(x) = slow_share {
                t.insert("slow_share".into(), pct(x));
            }
            t.insert("slow_latency".into(), s(format_latency_ms(*slow_ms)));
        }
        FaultKind::MemoryLeak { per_hour } => {
            t.insert("leak_per_hour".into(), pct(per_hour));
        }
        FaultKind::CrashLoop { per_hour } => {
            t.insert("crashes_per_hour".into(), num(per_hour));
        }
        FaultKind::Cpu { added } => {
            t.insert("cpu_added".into(), pct(added));
        }
        FaultKind::LoadDependent { added, min_weight } => {
            t.insert("error_rate".into(), pct(added));
            t.insert("min_weight".into(), s(format_percent(*min_weight)));
        }
        FaultKind::Intermittent { added, every, length } => {
            t.insert("error_rate".into(), pct(added));
            t.insert("burst_every".into(), dur(*every));
            t.insert("burst_length".into(), dur(*length));
        }
        FaultKind::Drift { per_hour } => {
            t.insert("drift_per_hour".into(), pct(per_hour));
        }
        FaultKind::Recorded { data, metric, scale, .. } => {
            t.insert("data".into(), s(data.clone()));
            t.insert("metric".into(), s(metric.name()));
            t.insert("scale".into(), num(scale));
        }
        FaultKind::SharedDependency { added, shift_ms, duration } => {
            t.insert("error_rate".into(), pct(added));
            if let Some(x) = shift_ms {
                t.insert("latency_shift".into(), ms(x));
            }
            t.insert("duration".into(), s(dist_text(duration, |v| SimDur(v as u64).to_string())));
        }
    }
    t
}

/// The scenario as canonical TOML with every default written out.
pub fn to_toml(sc: &Scenario) -> String {
    let mut root = Table::new();
    root.insert("name".into(), s(sc.name.clone()));
    root.insert("description".into(), s(sc.description.clone()));

    let mut fleet = Table::new();
    fleet.insert("instances".into(), Value::Integer(sc.fleet.instances as i64));
    fleet.insert("scrape_interval".into(), dur(sc.fleet.scrape_interval));
    fleet.insert("restart_time".into(), dur(sc.fleet.restart_time));
    fleet.insert("metrics".into(), s(sc.fleet.metrics.name().to_string()));
    root.insert("fleet".into(), Value::Table(fleet));

    let tr = &sc.traffic;
    let mut traffic = Table::new();
    traffic.insert("requests_per_second".into(), Value::Float(tr.requests_per_second));
    traffic.insert("diurnal_amplitude".into(), s(format_percent(tr.diurnal_amplitude)));
    traffic.insert("peak_hour".into(), Value::Float(tr.peak_hour));
    traffic.insert("start_hour".into(), Value::Float(tr.start_hour));
    traffic.insert("noise".into(), s(format_percent(tr.noise)));
    let classes = tr.classes[..tr.classes.len() - 1]
        .iter()
        .map(|c| {
            let mut t = Table::new();
            t.insert("name".into(), s(c.name.clone()));
            t.insert("share".into(), s(format_percent(c.share)));
            Value::Table(t)
        })
        .collect();
    traffic.insert("classes".into(), Value::Array(classes));
    root.insert("traffic".into(), Value::Table(traffic));

    let h = &sc.health;
    let mut health = Table::new();
    for (k, v) in [
        ("error_rate", format_percent(h.error_rate)),
        ("latency_p50", format_latency_ms(h.latency_p50_ms)),
        ("latency_p99", format_latency_ms(h.latency_p99_ms)),
        ("cpu", format_percent(h.cpu)),
        ("cpu_spread", format_percent(h.cpu_spread)),
        ("memory", format_percent(h.memory)),
        ("memory_spread", format_percent(h.memory_spread)),
        ("db_pool", format_percent(h.db_pool)),
        ("cache_hit_ratio", format_percent(h.cache_hit_ratio)),
        ("user_report_probability", format_percent(h.user_report_probability)),
        ("user_report_delay", h.user_report_delay.to_string()),
        ("slo_latency", format_latency_ms(h.slo_latency_ms)),
        ("slo_target", format_percent(h.slo_target)),
    ] {
        health.insert(k.into(), s(v));
    }
    root.insert("health".into(), Value::Table(health));

    let p = &sc.policy;
    let mut policy = Table::new();
    policy.insert("alert_every".into(), dur(p.alert_every));
    let mut alerts = Table::new();
    for a in &p.alerts {
        let mut t = cond_table(sc, &a.condition);
        t.insert("for".into(), dur(a.for_));
        t.insert("severity".into(), s(a.severity.name()));
        t.insert("rollback".into(), Value::Boolean(a.rollback));
        alerts.insert(a.name.clone(), Value::Table(t));
    }
    policy.insert("alerts".into(), Value::Table(alerts));
    let mut rollback = Table::new();
    rollback.insert("duration".into(), dur(p.rollback_duration));
    let mut triggers = Table::new();
    for tr in &p.triggers {
        let mut t = cond_table(sc, &tr.condition);
        t.insert("every".into(), dur(tr.every));
        triggers.insert(tr.name.clone(), Value::Table(t));
    }
    rollback.insert("triggers".into(), Value::Table(triggers));
    policy.insert("rollback".into(), Value::Table(rollback));
    let phases = p
        .phases
        .iter()
        .map(|ph| {
            let mut t = Table::new();
            t.insert("name".into(), s(ph.name.clone()));
            t.insert("weight".into(), s(format_percent(ph.weight)));
            t.insert("bake".into(), dur(ph.bake));
            if let Some(a) = ph.approval {
                t.insert("approval".into(), dur(a));
            }
            t.insert("checks".into(), Value::Table(checks_table(&ph.checks)));
            let steps = ph
                .steps
                .iter()
                .map(|st| {
                    let mut x = Table::new();
                    x.insert("at".into(), dur(st.at));
                    x.insert("action".into(), s(st.action.name()));
                    x.insert("label".into(), s(st.label.clone()));
                    Value::Table(x)
                })
                .collect();
            t.insert("steps".into(), Value::Array(steps));
            let mut gates = Table::new();
            for g in &ph.gates {
                gates.insert(g.name.clone(), Value::Table(gate_table(sc, g)));
            }
            t.insert("gates".into(), Value::Table(gates));
            Value::Table(t)
        })
        .collect();
    match &p.controller {
        crate::engine::Controller::Runbook => {
            policy.insert("phases".into(), Value::Array(phases));
        }
        crate::engine::Controller::Argo(a) => {
            policy.insert("argo".into(), Value::Table(super::controller::argo_table(sc, a)));
        }
        crate::engine::Controller::Flagger(f) => {
            policy.insert("flagger".into(), Value::Table(super::controller::flagger_table(sc, f)));
        }
    }
    if !sc.query_vars.is_empty() {
        let vars: Table = sc.query_vars.iter().map(|(k, v)| (k.clone(), s(v.clone()))).collect();
        policy.insert("query_vars".into(), Value::Table(vars));
    }
    root.insert("policy".into(), Value::Table(policy));

    let faults = sc.faults.iter().map(|f| Value::Table(fault_table(sc, f))).collect();
    root.insert("faults".into(), Value::Array(faults));

    let sim = &sc.simulation;
    let mut simulation = Table::new();
    simulation.insert("tick".into(), dur(sim.tick));
    simulation.insert("time_limit".into(), dur(sim.time_limit));
    simulation.insert("max_events".into(), Value::Integer(sim.max_events as i64));
    simulation.insert("trials".into(), Value::Integer(sim.trials as i64));
    simulation.insert("seed".into(), Value::Integer(sim.seed as i64));
    root.insert("simulation".into(), Value::Table(simulation));

    toml::to_string(&root).expect("a TOML table always serialises")
}

fn cmp_text(op: Cmp) -> &'static str {
    op.symbol()
}

/// A metric's name, or a PromQL rule's query as written.
fn what(sc: &Scenario, m: Metric) -> String {
    match m {
        Metric::Query(i) => format!("query `{}`", sc.queries[i as usize].template),
        m => m.name().to_string(),
    }
}

/// A one-screen description of the policy: phases, gates, triggers, alerts.
pub fn describe(sc: &Scenario) -> String {
    let mut o = String::new();
    let p = &sc.policy;
    let _ = writeln!(o, "scenario {:?}: {}", sc.name, sc.description);
    let _ = writeln!(
        o,
        "fleet {} instances, {} rps (±{} daily), scrape every {}; planned rollout {}",
        sc.fleet.instances,
        sc.traffic.requests_per_second,
        format_percent(sc.traffic.diurnal_amplitude),
        sc.fleet.scrape_interval,
        p.planned_duration()
    );
    describe_controller(&mut o, sc);
    let runbook = matches!(p.controller, crate::engine::Controller::Runbook);
    for (i, ph) in p.phases.iter().enumerate().filter(|_| runbook) {
        let c = &ph.checks;
        let cadence = if c.every == SimDur::ZERO { "at steps only".to_string() } else { format!("every {}", c.every) };
        let _ = writeln!(
            o,
            "phase {} {:?}: {} for {}; checks {cadence}, {} mode, on failure {}{}",
            i + 1,
            ph.name,
            format_percent(ph.weight),
            ph.bake,
            c.mode.name(),
            action_text(c.on_failure),
            ph.approval.map(|a| format!(", approval after {a}")).unwrap_or_default()
        );
        for st in &ph.steps {
            let _ = writeln!(o, "    +{:<6} {:<6} {}", st.at.to_string(), st.action.name(), st.label);
        }
        for g in &ph.gates {
            let scope = match g.class {
                Some(k) => format!("{}/{}", g.group.name(), sc.traffic.classes[k as usize].name),
                None => g.group.name().to_string(),
            };
            let window = match g.window {
                Window::Fixed(d) => d.to_string(),
                Window::Phase => "phase".into(),
            };
            let _ = writeln!(
                o,
                "    gate {:<20} {}({}) over {window} {} {}{}",
                g.name,
                what(sc, g.metric),
                scope,
                cmp_text(g.op),
                limit_text(g.metric, &g.limit),
                if g.dry_run { "  [dry run]" } else { "" }
            );
        }
    }
    for t in &p.triggers {
        let q = &t.condition.query;
        let _ = writeln!(
            o,
            "trigger {:<18} rollback if {}({}) over {} {} {}, every {}",
            t.name,
            what(sc, q.metric),
            q.group.name(),
            q.window,
            cmp_text(t.condition.op),
            value_text(q.metric.unit(), t.condition.threshold),
            t.every
        );
    }
    for a in &p.alerts {
        let q = &a.condition.query;
        let _ = writeln!(
            o,
            "alert {:<20} {} if {}({}) over {} {} {} for {}{}",
            a.name,
            a.severity.name(),
            what(sc, q.metric),
            q.group.name(),
            q.window,
            cmp_text(a.condition.op),
            value_text(q.metric.unit(), a.condition.threshold),
            a.for_,
            if a.rollback { ", rolls back" } else { "" }
        );
    }
    let _ = writeln!(o, "rollback takes {}", p.rollback_duration);
    let total: f64 = sc.faults.iter().map(|f| f.weight).sum();
    let mix: Vec<String> = sc.faults.iter().map(|f| format!("{} {:.0}%", f.name, 100.0 * f.weight / total)).collect();
    let _ = writeln!(o, "fault mix: {}", mix.join(", "));
    o
}

/// Argo Rollouts' steps or Flagger's schedule, one line each.
fn describe_controller(o: &mut String, sc: &Scenario) {
    use crate::engine::argo::{ArgoStep, MeasureBy};
    let by = |b: &MeasureBy| match b {
        MeasureBy::Query(m) => what(sc, *m),
        MeasureBy::Assume(v) => format!("not simulated, assumed {}", v.name()),
    };
    match &sc.policy.controller {
        crate::engine::Controller::Runbook => {}
        crate::engine::Controller::Argo(a) => {
            let _ = writeln!(
                o,
                "Argo Rollouts canary: manual promotions arrive after {}; inconclusive: {} after it",
                a.manual_delay,
                a.on_inconclusive.name()
            );
            let names = |m: &[usize]| m.iter().map(|&i| a.metrics[i].name.clone()).collect::<Vec<_>>().join(", ");
            for (i, st) in a.steps.iter().enumerate() {
                let text = match st {
                    ArgoStep::SetWeight(w) => format!("setWeight {}", format_percent(*w)),
                    ArgoStep::Pause(None) => "pause (until promoted)".into(),
                    ArgoStep::Pause(Some(d)) => format!("pause {d}"),
                    ArgoStep::Analysis(m) => format!("analysis [{}]", names(m)),
                    ArgoStep::SetCanaryScale => "setCanaryScale (instances only)".into(),
                };
                let _ = writeln!(o, "step {i}: {text}");
            }
            if let Some(b) = &a.background {
                let _ = writeln!(o, "background analysis from step {}: [{}]", b.starting_step, names(&b.metrics));
            }
            for m in &a.metrics {
                let cond = |e: &Option<crate::engine::expr::Expr>| {
                    e.as_ref().map_or("-".to_string(), |e| e.source().to_string())
                };
                let _ = writeln!(
                    o,
                    "metric {:<20} {}; success {}, failure {}; first after {}, every {}, count {}, failureLimit {}{}",
                    m.name,
                    by(&m.by),
                    cond(&m.success),
                    cond(&m.failure),
                    m.initial_delay,
                    m.interval.map_or("-".to_string(), |i| i.to_string()),
                    m.effective_count().map_or("until the run ends".to_string(), |c| c.to_string()),
                    m.failure_limit.map_or("-1".to_string(), |l| l.to_string()),
                    if m.dry_run { "  [dry run]" } else { "" }
                );
            }
        }
        crate::engine::Controller::Flagger(f) => {
            let w: Vec<String> = f.weights().iter().map(|w| format!("{w}%")).collect();
            let _ = writeln!(
                o,
                "Flagger canary: every {}, roll back at {} failed checks; weights {}{}",
                f.interval,
                f.threshold,
                w.join(" -> "),
                if f.iterations > 0 { format!(" ({} iterations)", f.iterations) } else { String::new() }
            );
            for m in &f.metrics {
                let range = m.range_text();
                let _ = writeln!(o, "metric {:<20} {} {range}", m.name, by(&m.by));
            }
        }
    }
}
