//! `[policy.argo]` and `[policy.flagger]`: policies moved by Argo Rollouts'
//! or Flagger's semantics (usually written by `rollsim import`), validated
//! into [`crate::engine::Controller`], and printed back. The policy's phases
//! are derived here: one per Argo step, one per Flagger weight or iteration,
//! each listing every metric as a gate so that events name them.

use super::check::*;
use super::policy::{build_query, one_of};
use super::raw::*;
use super::Scenario;
use crate::engine::argo::{ArgoMetric, ArgoPolicy, ArgoStep, Background, ManualDecision, MeasureBy};
use crate::engine::expr::Expr;
use crate::engine::flagger::{FlaggerMetric, FlaggerPolicy};
use crate::engine::{Agg, CheckRules, Cmp, Controller, Gate, Group, Limit, Metric, Phase, Verdict, Window};
use crate::time::SimDur;
use crate::units::{format_percent, parse_duration, parse_share};
use toml::{Table, Value};

const ASSUME: &[(&str, Verdict)] = &[("pass", Verdict::Pass), ("fail", Verdict::Fail)];
const DECISIONS: &[(&str, ManualDecision)] = &[("abort", ManualDecision::Abort), ("promote", ManualDecision::Promote)];

/// `query` or `assume`, exactly one.
fn measure_by(cx: &mut Ctx, query: &Option<Text>, assume: &Option<Text>, prefix: &str, interval: SimDur) -> MeasureBy {
    match (query, assume) {
        (Some(q), None) => match build_query(cx, q, &format!("{prefix}.query"), interval) {
            Some(m) => MeasureBy::Query(m),
            None => MeasureBy::Assume(Verdict::Error),
        },
        (None, Some(a)) => {
            MeasureBy::Assume(cx.req(a, &format!("{prefix}.assume"), one_of(ASSUME)).unwrap_or(Verdict::Pass))
        }
        _ => {
            cx.err_at(None, prefix, "expected exactly one of `query` (PromQL) or `assume` (\"pass\" or \"fail\")");
            MeasureBy::Assume(Verdict::Error)
        }
    }
}

fn gate(name: &str, by: &MeasureBy, op: Cmp, limit: Option<f64>, dry_run: bool) -> Gate {
    let metric = match by {
        MeasureBy::Query(m) => *m,
        // Never queried: the engine decides an assumed measurement itself.
        MeasureBy::Assume(_) => Metric::CriticalAlerts,
    };
    Gate {
        name: name.to_string(),
        metric,
        group: Group::Candidate,
        class: None,
        agg: Agg::Window,
        window: Window::Fixed(SimDur::ZERO),
        op,
        // A condition that is not `value op number` has no one limit to draw:
        // infinity (never NaN, so that equal policies compare equal).
        limit: Limit::Absolute(limit.unwrap_or(f64::INFINITY)),
        dry_run,
    }
}

fn count(cx: &mut Ctx, v: &Option<toml::Spanned<i64>>, field: &str, default: i64, min: i64) -> i64 {
    cx.int(v, field, default, min, 1_000_000)
}

pub(super) fn build_argo(cx: &mut Ctx, a: &RawArgo, checks: &CheckRules) -> (Controller, Vec<Phase>) {
    let mut metrics = Vec::new();
    let mut gates = Vec::new();
    for (name, m) in &a.metrics {
        let p = format!("policy.argo.metrics.{name}");
        let interval = m.interval.as_ref().and_then(|i| cx.req(i, &format!("{p}.interval"), positive_duration));
        let by = measure_by(cx, &m.query, &m.assume, &p, interval.unwrap_or(SimDur::mins(1)));
        let mut cond = |t: &Option<Text>, what: &str| {
            t.as_ref().and_then(|t| {
                cx.req(t, &format!("{p}.{what}"), |s| Expr::parse(s).map_err(|e| format!("{e} (in {s:?})")))
            })
        };
        let success = cond(&m.success, "success");
        let failure = cond(&m.failure, "failure");
        let failure_limit = count(cx, &m.failure_limit, &format!("{p}.failure_limit"), 0, -1);
        let metric = ArgoMetric {
            name: name.clone(),
            by,
            success,
            failure,
            initial_delay: cx.opt(&m.initial_delay, &format!("{p}.initial_delay"), SimDur::ZERO, parse_duration),
            interval,
            count: Some(count(cx, &m.count, &format!("{p}.count"), 0, 0) as u32).filter(|c| *c > 0),
            failure_limit: (failure_limit >= 0).then_some(failure_limit as u32),
            inconclusive_limit: count(cx, &m.inconclusive_limit, &format!("{p}.inconclusive_limit"), 0, 0) as u32,
            consecutive_error_limit: count(
                cx,
                &m.consecutive_error_limit,
                &format!("{p}.consecutive_error_limit"),
                4,
                0,
            ) as u32,
            consecutive_success_limit: count(
                cx,
                &m.consecutive_success_limit,
                &format!("{p}.consecutive_success_limit"),
                0,
                0,
            ) as u32,
            dry_run: m.dry_run,
        };
        if metric.failure_limit.is_none() && metric.consecutive_success_limit == 0 {
            cx.err_at(
                None,
                format!("{p}.failure_limit"),
                "failure_limit -1 needs a consecutive_success_limit (as Argo requires)",
            );
        }
        let threshold = metric.success.as_ref().and_then(Expr::simple_threshold);
        let op = threshold.and_then(|(sym, _)| Cmp::from_symbol(sym)).unwrap_or(Cmp::Ge);
        gates.push(gate(name, &metric.by, op, threshold.map(|t| t.1), metric.dry_run));
        metrics.push(metric);
    }
    let index = |cx: &mut Ctx, names: &[String], field: &str| -> Vec<usize> {
        let mut out = Vec::new();
        for n in names {
            match a.metrics.get_index_of(n) {
                Some(i) => out.push(i),
                None => cx.err_at(None, field, format!("no metric {n:?} under [policy.argo.metrics]")),
            }
        }
        out
    };
    let manual_delay = cx.opt(&a.manual_delay, "policy.argo.manual_delay", SimDur::mins(30), parse_duration);
    let mut steps = Vec::new();
    let mut phases = Vec::new();
    let mut weight = 0.0;
    if a.steps.is_empty() {
        cx.err_at(None, "policy.argo.steps", "expected at least one step");
    }
    for (i, s) in a.steps.iter().enumerate() {
        let p = format!("policy.argo.steps[{i}]");
        let given = [s.set_weight.is_some(), s.pause.is_some(), s.analysis.is_some(), s.set_canary_scale.is_some()];
        if given.iter().filter(|g| **g).count() != 1 {
            cx.err_at(None, &p, "expected exactly one of set_weight, pause, analysis, set_canary_scale");
            continue;
        }
        let (step, kind, bake, approval) = if let Some(w) = &s.set_weight {
            weight = cx.req(w, &format!("{p}.set_weight"), parse_share).unwrap_or(0.0);
            (
                ArgoStep::SetWeight(weight),
                format!("w{}", format_percent(weight).trim_end_matches('%')),
                SimDur::ZERO,
                None,
            )
        } else if let Some(d) = &s.pause {
            if d.get_ref().trim() == "manual" {
                (ArgoStep::Pause(None), "pause".into(), SimDur::ZERO, Some(manual_delay))
            } else {
                let d =
                    cx.req(d, &format!("{p}.pause"), |t| parse_duration(t).map_err(|e| format!("{e}, or \"manual\"")));
                let d = d.unwrap_or(SimDur::ZERO);
                (ArgoStep::Pause(Some(d)), "pause".into(), d, None)
            }
        } else if let Some(names) = &s.analysis {
            (ArgoStep::Analysis(index(cx, names, &format!("{p}.analysis"))), "analysis".into(), SimDur::ZERO, None)
        } else {
            (ArgoStep::SetCanaryScale, "scale".into(), SimDur::ZERO, None)
        };
        steps.push(step);
        phases.push(Phase {
            name: format!("step{i}-{kind}"),
            weight,
            bake,
            steps: vec![],
            gates: gates.clone(),
            checks: checks.clone(),
            approval,
        });
    }
    let background = a.background.as_ref().map(|b| Background {
        starting_step: count(cx, &b.starting_step, "policy.argo.background.starting_step", 0, 0) as usize,
        metrics: index(cx, &b.metrics, "policy.argo.background.metrics"),
    });
    let on_inconclusive =
        cx.opt(&a.on_inconclusive, "policy.argo.on_inconclusive", ManualDecision::Abort, one_of(DECISIONS));
    let policy = ArgoPolicy { steps, metrics, background, manual_delay, on_inconclusive };
    (Controller::Argo(policy), phases)
}

fn percent(cx: &mut Ctx, t: &Option<Text>, field: &str, default: u32) -> u32 {
    let Some(t) = t else { return default };
    match cx.req(t, field, parse_share) {
        Some(f) if (f * 100.0).fract().abs() < 1e-9 => (f * 100.0).round() as u32,
        Some(_) => {
            cx.err_at(Some(t.span()), field, "Flagger weights are whole percents");
            default
        }
        None => default,
    }
}

pub(super) fn build_flagger(cx: &mut Ctx, f: &RawFlagger, checks: &CheckRules) -> (Controller, Vec<Phase>) {
    // GetAnalysisInterval: 60 s by default, never under 10 s.
    let interval =
        cx.opt(&f.interval, "policy.flagger.interval", SimDur::mins(1), positive_duration).max(SimDur::secs(10));
    let mut metrics = Vec::new();
    let mut gates = Vec::new();
    for (name, m) in &f.metrics {
        let p = format!("policy.flagger.metrics.{name}");
        let by = measure_by(cx, &m.query, &m.assume, &p, SimDur::mins(1));
        let (min, max) = (m.min.as_ref().map(|v| *v.get_ref()), m.max.as_ref().map(|v| *v.get_ref()));
        let (op, limit) = if min.is_some() { (Cmp::Ge, min) } else { (Cmp::Le, max) };
        gates.push(gate(name, &by, op, limit, false));
        metrics.push(FlaggerMetric { name: name.clone(), by, min, max });
    }
    let step_weights: Vec<u32> = f
        .step_weights
        .iter()
        .enumerate()
        .map(|(i, w)| percent(cx, &Some(w.clone()), &format!("policy.flagger.step_weights[{i}]"), 0))
        .collect();
    let policy = FlaggerPolicy {
        interval,
        threshold: count(cx, &f.threshold, "policy.flagger.threshold", 1, 0).max(1) as u32,
        max_weight: percent(cx, &f.max_weight, "policy.flagger.max_weight", 0),
        step_weight: percent(cx, &f.step_weight, "policy.flagger.step_weight", 0),
        step_weights,
        iterations: count(cx, &f.iterations, "policy.flagger.iterations", 0, 0) as u32,
        iteration_weight: percent(cx, &f.iteration_weight, "policy.flagger.iteration_weight", 10),
        metrics,
    };
    if policy.iterations == 0 && policy.step_weight == 0 && policy.step_weights.is_empty() {
        cx.err_at(
            None,
            "policy.flagger.step_weight",
            "expected step_weight, step_weights or iterations: the canary would never advance",
        );
    }
    let weights = policy.weights();
    let phases = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| Phase {
            name: if i == 0 {
                "init".into()
            } else if policy.iterations > 0 {
                format!("iteration{i}")
            } else {
                format!("w{w}")
            },
            weight: f64::from(w) / 100.0,
            bake: interval,
            steps: vec![],
            gates: gates.clone(),
            checks: checks.clone(),
            approval: None,
        })
        .collect();
    (Controller::Flagger(policy), phases)
}

fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

fn query_or_assume(t: &mut Table, sc: &Scenario, by: &MeasureBy) {
    match by {
        MeasureBy::Query(Metric::Query(i)) => t.insert("query".into(), s(sc.queries[*i as usize].template.clone())),
        MeasureBy::Query(m) => t.insert("query".into(), s(m.name())),
        MeasureBy::Assume(v) => t.insert("assume".into(), s(if *v == Verdict::Fail { "fail" } else { "pass" })),
    };
}

/// `[policy.argo]` as written in scenario files.
pub fn argo_table(sc: &Scenario, a: &ArgoPolicy) -> Table {
    let mut t = Table::new();
    t.insert("manual_delay".into(), s(a.manual_delay.to_string()));
    t.insert("on_inconclusive".into(), s(a.on_inconclusive.name()));
    let name = |i: &usize| s(a.metrics[*i].name.clone());
    let steps = a
        .steps
        .iter()
        .map(|st| {
            let mut x = Table::new();
            match st {
                ArgoStep::SetWeight(w) => x.insert("set_weight".into(), s(format_percent(*w))),
                ArgoStep::Pause(None) => x.insert("pause".into(), s("manual")),
                ArgoStep::Pause(Some(d)) => x.insert("pause".into(), s(d.to_string())),
                ArgoStep::Analysis(m) => x.insert("analysis".into(), Value::Array(m.iter().map(name).collect())),
                ArgoStep::SetCanaryScale => x.insert("set_canary_scale".into(), s("instances only")),
            };
            Value::Table(x)
        })
        .collect();
    t.insert("steps".into(), Value::Array(steps));
    if let Some(b) = &a.background {
        let mut x = Table::new();
        x.insert("starting_step".into(), Value::Integer(b.starting_step as i64));
        x.insert("metrics".into(), Value::Array(b.metrics.iter().map(name).collect()));
        t.insert("background".into(), Value::Table(x));
    }
    let mut metrics = Table::new();
    for m in &a.metrics {
        let mut x = Table::new();
        query_or_assume(&mut x, sc, &m.by);
        if let Some(e) = &m.success {
            x.insert("success".into(), s(e.source()));
        }
        if let Some(e) = &m.failure {
            x.insert("failure".into(), s(e.source()));
        }
        x.insert("initial_delay".into(), s(m.initial_delay.to_string()));
        if let Some(i) = m.interval {
            x.insert("interval".into(), s(i.to_string()));
        }
        x.insert("count".into(), Value::Integer(m.count.map_or(0, i64::from)));
        x.insert("failure_limit".into(), Value::Integer(m.failure_limit.map_or(-1, i64::from)));
        x.insert("inconclusive_limit".into(), Value::Integer(i64::from(m.inconclusive_limit)));
        x.insert("consecutive_error_limit".into(), Value::Integer(i64::from(m.consecutive_error_limit)));
        x.insert("consecutive_success_limit".into(), Value::Integer(i64::from(m.consecutive_success_limit)));
        x.insert("dry_run".into(), Value::Boolean(m.dry_run));
        metrics.insert(m.name.clone(), Value::Table(x));
    }
    t.insert("metrics".into(), Value::Table(metrics));
    t
}

/// `[policy.flagger]` as written in scenario files.
pub fn flagger_table(sc: &Scenario, f: &FlaggerPolicy) -> Table {
    let pct = |w: u32| s(format!("{w}%"));
    let mut t = Table::new();
    t.insert("interval".into(), s(f.interval.to_string()));
    t.insert("threshold".into(), Value::Integer(i64::from(f.threshold)));
    t.insert("max_weight".into(), pct(f.max_weight));
    t.insert("step_weight".into(), pct(f.step_weight));
    t.insert("step_weights".into(), Value::Array(f.step_weights.iter().map(|w| pct(*w)).collect()));
    t.insert("iterations".into(), Value::Integer(i64::from(f.iterations)));
    t.insert("iteration_weight".into(), pct(f.iteration_weight));
    let mut metrics = Table::new();
    for m in &f.metrics {
        let mut x = Table::new();
        query_or_assume(&mut x, sc, &m.by);
        if let Some(v) = m.min {
            x.insert("min".into(), Value::Float(v));
        }
        if let Some(v) = m.max {
            x.insert("max".into(), Value::Float(v));
        }
        metrics.insert(m.name.clone(), Value::Table(x));
    }
    t.insert("metrics".into(), Value::Table(metrics));
    t
}
