//! The policy part of a scenario: phases, steps, gates, check rules, alert
//! rules and rollback triggers, each field validated with its path.

use super::build::DEFAULT_CONSECUTIVE_ERROR_LIMIT;
use super::check::*;
use super::raw::*;
use super::*;
use crate::engine::{
    Agg, AlertRule, CheckRules, Cmp, Condition, EvalMode, FailureAction, Gate, Group, Limit, Metric, Phase, Policy,
    Query, Severity, Step, StepAction, Trigger, Unit, Window,
};
use crate::units::{parse_duration, parse_latency_ms, parse_percent, parse_share};
use std::ops::Range;

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
pub(super) fn no_target_fields(cx: &mut Ctx, prefix: &str, f: &TargetFields) {
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

pub(super) fn build_checks(cx: &mut Ctx, c: &RawChecks, base: &CheckRules, prefix: &str, scrape: SimDur) -> CheckRules {
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

pub(super) fn default_checks() -> CheckRules {
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
pub(super) struct Target {
    metric: Metric,
    group: Group,
    class: Option<crate::engine::ClassId>,
    agg: Agg,
}

/// The target fields that gates, alerts and triggers share.
pub(super) struct TargetFields<'a> {
    metric: &'a Option<Text>,
    scope: &'a Option<Text>,
    class: &'a Option<Text>,
    agg: &'a Option<Text>,
}

pub(super) fn build_target(
    cx: &mut Ctx,
    name: &str,
    f: TargetFields,
    traffic: &Traffic,
    prefix: &str,
) -> Option<Target> {
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

/// Engine durations must be whole multiples of the scrape interval.
pub(super) fn on_grid(cx: &mut Ctx, d: SimDur, scrape: SimDur, span: Option<Range<usize>>, field: &str) {
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

pub(super) fn build_policy(cx: &mut Ctx, p: &RawPolicy, traffic: &Traffic, scrape: SimDur) -> Policy {
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
