//! Flagger: a `Canary`'s analysis, with the `MetricTemplate`s it references
//! and the built-in metrics' queries per provider (Flagger's observers), into
//! `[policy.flagger]`. Templates given without a `Canary` become the canary's
//! metrics with Flagger's defaults.

use super::yaml::{Doc, Node};
use super::{dur_text, duration, placeholder, substitute, Conv, ImportError, Options, RawQuery, Report};
use crate::engine::Verdict;
use crate::scenario::Scenario;
use crate::time::SimDur;
use toml::{Table, Value};

/// Flagger's built-in `request-success-rate` and `request-duration` queries
/// (pkg/metrics/observers), by provider.
fn builtin(provider: &str, metric: &str) -> Option<&'static str> {
    Some(match (provider, metric) {
        ("istio", "request-success-rate") => {
            r#"sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}",response_code!~"5.*"}[{{ interval }}])) / sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}"}[{{ interval }}])) * 100"#
        }
        ("istio", "request-duration") => {
            r#"histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}"}[{{ interval }}])) by (le))"#
        }
        ("linkerd", "request-success-rate") => {
            r#"sum(rate(response_total{namespace="{{ namespace }}",deployment=~"{{ target }}",classification!="failure",direction="inbound"}[{{ interval }}])) / sum(rate(response_total{namespace="{{ namespace }}",deployment=~"{{ target }}",direction="inbound"}[{{ interval }}])) * 100"#
        }
        ("linkerd", "request-duration") => {
            r#"histogram_quantile(0.99, sum(rate(response_latency_ms_bucket{namespace="{{ namespace }}",deployment=~"{{ target }}",direction="inbound"}[{{ interval }}])) by (le))"#
        }
        ("nginx", "request-success-rate") => {
            r#"sum(rate(nginx_ingress_controller_requests{namespace="{{ namespace }}",ingress="{{ ingress }}",canary!="",status!~"5.*"}[{{ interval }}])) / sum(rate(nginx_ingress_controller_requests{namespace="{{ namespace }}",ingress="{{ ingress }}",canary!=""}[{{ interval }}])) * 100"#
        }
        ("kubernetes" | "http", "request-success-rate") => {
            r#"sum(rate(http_request_duration_seconds_count{kubernetes_namespace="{{ namespace }}",kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)",status!~"5.*"}[{{ interval }}])) / sum(rate(http_request_duration_seconds_count{kubernetes_namespace="{{ namespace }}",kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}[{{ interval }}])) * 100"#
        }
        ("kubernetes" | "http", "request-duration") => {
            r#"histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket{kubernetes_namespace="{{ namespace }}",kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}[{{ interval }}])) by (le))"#
        }
        _ => return None,
    })
}

fn number(doc: &Doc, n: &Node, field: &str) -> Result<f64, ImportError> {
    n.text().and_then(|t| t.trim().parse::<f64>().ok()).ok_or_else(|| doc.err(Some(n), field, "expected a number"))
}

fn template_query<'a>(docs: &'a [Doc], c: &Doc, r: &Node, field: &str) -> Result<(&'a Doc, &'a Node), ImportError> {
    let name = r.get("name").and_then(Node::text).ok_or_else(|| c.err(Some(r), field, "expected templateRef.name"))?;
    let d = docs.iter().find(|d| d.kind() == "MetricTemplate" && d.name() == name).ok_or_else(|| {
        c.err(
            Some(r),
            field,
            format!("no MetricTemplate named {name:?} in the files given: add the file that defines it"),
        )
    })?;
    let spec = d.root.get("spec").ok_or_else(|| d.err(None, "spec", "expected a spec"))?;
    let ptype =
        spec.get("provider").and_then(|p| p.get("type")).and_then(Node::text).unwrap_or_else(|| "prometheus".into());
    if ptype != "prometheus" {
        return Err(d.err(
            spec.get("provider"),
            "spec.provider.type",
            format!("the {ptype} provider is not simulated; rollsim evaluates PromQL"),
        ));
    }
    let q = spec.get("query").ok_or_else(|| d.err(Some(spec), "spec.query", "expected a query"))?;
    Ok((d, q))
}

pub(super) fn import<'a>(
    docs: &'a [Doc],
    base: &Scenario,
    opts: &Options,
    report: &mut Report,
    queries: &mut Vec<RawQuery<'a>>,
    durations: &mut Vec<SimDur>,
) -> Result<Table, ImportError> {
    let canaries: Vec<&Doc> = docs.iter().filter(|d| d.kind() == "Canary").collect();
    if canaries.len() > 1 {
        return Err(canaries[1].err(None, "kind", "more than one Canary: import one at a time"));
    }
    let mut t = Table::new();
    let mut metrics = Table::new();
    let Some(c) = canaries.first() else {
        // Templates alone: the canary's metrics, with Flagger's defaults.
        for d in docs.iter().filter(|d| d.kind() == "MetricTemplate") {
            let spec = d.root.get("spec").ok_or_else(|| d.err(None, "spec", "expected a spec"))?;
            let q = spec.get("query").ok_or_else(|| d.err(Some(spec), "spec.query", "expected a query"))?;
            let vars = vec![
                ("namespace".to_string(), d.namespace().unwrap_or_else(|| "default".into())),
                ("target".to_string(), "app".to_string()),
                ("interval".to_string(), "1m".to_string()),
            ];
            let text = substitute(&q.text().unwrap_or_default(), &vars).map_err(|e| d.err(Some(q), "spec.query", e))?;
            queries.push(RawQuery { doc: d, field: "spec.query".into(), line: q.line, text });
            let mut x = Table::new();
            x.insert("query".into(), placeholder());
            metrics.insert(d.name(), Value::Table(x));
            report.resources.push(format!("{} document {} `{}`: a metric of the canary", d.file, d.index, d.label()));
            report.warnings.push(format!("{}: no Canary gives its thresholdRange: the metric passes on any value until you set policy.flagger.metrics.{}.min or .max", d.label(), d.name()));
        }
        let first = base.policy.phases.first().map_or(10, |p| (p.weight * 100.0).round() as i64).max(1);
        t.insert("interval".into(), dur_text(SimDur::mins(1)));
        t.insert("threshold".into(), Value::Integer(1));
        t.insert("step_weight".into(), Value::String(format!("{first}%")));
        t.insert("max_weight".into(), Value::String("50%".into()));
        t.insert("metrics".into(), Value::Table(metrics));
        durations.push(SimDur::mins(1));
        report.assumed.push(format!("no Canary: Flagger's defaults (interval 1m, threshold 1), step weight {first}% (the base's first phase) up to 50%"));
        return Ok(t);
    };
    report.resources.push(format!("{} document {} `{}`: the analysis", c.file, c.index, c.label()));
    let spec = c.root.get("spec").ok_or_else(|| c.err(None, "spec", "expected a spec"))?;
    let a = spec
        .get("analysis")
        .or_else(|| spec.get("canaryAnalysis"))
        .ok_or_else(|| c.err(Some(spec), "spec.analysis", "expected an analysis"))?;
    let provider = spec.get("provider").and_then(Node::text).unwrap_or_else(|| "istio".into());
    if spec.get("provider").is_none() {
        report.assumed.push(format!("{}: no spec.provider: Flagger's default mesh provider, istio", c.label()));
    }
    let target = spec.get("targetRef").and_then(|r| r.get("name")).and_then(Node::text).unwrap_or_else(|| c.name());
    let namespace = c.namespace().unwrap_or_else(|| "default".into());
    let ingress =
        spec.get("ingressRef").and_then(|r| r.get("name")).and_then(Node::text).unwrap_or_else(|| target.clone());

    let analysis = if spec.get("analysis").is_some() { "analysis" } else { "canaryAnalysis" };
    for (key, to, conv) in [
        ("interval", "interval", Conv::Duration),
        ("threshold", "threshold", Conv::Same),
        ("maxWeight", "max_weight", Conv::Percent),
        ("stepWeight", "step_weight", Conv::Percent),
        ("iterations", "iterations", Conv::Same),
    ] {
        if a.get(key).is_some() {
            report.path(format!("Canary/spec.{analysis}.{key}"), format!("policy.flagger.{to}"), conv);
        }
    }
    let interval = match a.get("interval") {
        Some(n) => duration(c, n, "spec.analysis.interval")?.max(SimDur::secs(10)),
        None => SimDur::mins(1),
    };
    durations.push(interval);
    t.insert("interval".into(), dur_text(interval));
    let int = |k: &str| -> Result<Option<i64>, ImportError> {
        a.get(k).map(|n| number(c, n, &format!("spec.analysis.{k}")).map(|v| v as i64)).transpose()
    };
    t.insert("threshold".into(), Value::Integer(int("threshold")?.filter(|v| *v > 0).unwrap_or(1)));
    for (k, to) in [("maxWeight", "max_weight"), ("stepWeight", "step_weight")] {
        if let Some(v) = int(k)? {
            t.insert(to.into(), Value::String(format!("{v}%")));
        }
    }
    if let Some(sw) = a.get("stepWeights") {
        let mut v = Vec::new();
        for (i, n) in sw.seq().iter().enumerate() {
            v.push(Value::String(format!("{}%", number(c, n, &format!("spec.analysis.stepWeights[{i}]"))? as i64)));
        }
        t.insert("step_weights".into(), Value::Array(v));
    }
    if let Some(it) = int("iterations")? {
        t.insert("iterations".into(), Value::Integer(it));
        let share = base.policy.phases.first().map_or(10, |p| (p.weight * 100.0).round() as i64).max(1);
        t.insert("iteration_weight".into(), Value::String(format!("{share}%")));
        let what = if a.get("match").is_some() {
            "A/B testing: the requests `match` selects"
        } else {
            "blue/green: the test traffic"
        };
        report.assumed.push(format!(
            "{}: {what} are {share}% of all traffic (the base scenario's first phase; policy.flagger.iteration_weight)",
            c.label()
        ));
    }
    // Read but not simulated: listed in the report.
    const NOT_SIMULATED: [&str; 7] = [
        "mirror",
        "mirrorWeight",
        "primaryReadyThreshold",
        "canaryReadyThreshold",
        "alerts",
        "sessionAffinity",
        "stepWeightPromotion",
    ];
    let read = [
        "interval",
        "threshold",
        "maxWeight",
        "stepWeight",
        "stepWeights",
        "iterations",
        "match",
        "metrics",
        "webhooks",
    ];
    let known: Vec<&str> = read.iter().chain(&NOT_SIMULATED).copied().collect();
    super::unknown_fields(c, a, "spec.analysis", &known, report);
    for k in NOT_SIMULATED {
        if a.get(k).is_some() {
            report.not_simulated.push(format!("{}: spec.analysis.{k}", c.label()));
        }
    }
    if spec.get("progressDeadlineSeconds").is_some() {
        report
            .not_simulated
            .push(format!("{}: progressDeadlineSeconds (deployments are assumed to become ready in time)", c.label()));
    }
    // Rollout webhooks gate every tick before the metrics; others run once or around promotion.
    let verdict = opts.unsupported.unwrap_or(Verdict::Pass);
    let v = if verdict == Verdict::Fail { "fail" } else { "pass" };
    for (i, w) in a.get("webhooks").map(Node::seq).unwrap_or(&[]).iter().enumerate() {
        let name = w.get("name").and_then(Node::text).unwrap_or_else(|| format!("webhook{i}"));
        let kind = w.get("type").and_then(Node::text).unwrap_or_else(|| "rollout".into());
        if kind == "rollout" {
            let mut x = Table::new();
            x.insert("assume".into(), Value::String(v.into()));
            metrics.insert(format!("webhook-{name}"), Value::Table(x));
            report.not_simulated.push(format!("{}: rollout webhook `{name}` (every call assumed to {v}{}; a load test's traffic is the simulated traffic)", c.label(), if opts.unsupported.is_some() { ", --unsupported" } else { "; --unsupported fail to fail it" }));
        } else {
            report.not_simulated.push(format!("{}: {kind} webhook `{name}` (assumed to succeed)", c.label()));
        }
    }
    let list = a.get("metrics").map(Node::seq).unwrap_or(&[]);
    // Flagger checks the built-in metrics first, then the templated ones.
    let mut ordered: Vec<(usize, &Node)> =
        list.iter().enumerate().filter(|(_, m)| m.get("templateRef").is_none()).collect();
    ordered.extend(list.iter().enumerate().filter(|(_, m)| m.get("templateRef").is_some()));
    for (i, m) in ordered {
        let f = |k: &str| format!("spec.analysis.metrics[{i}].{k}");
        super::unknown_fields(
            c,
            m,
            &format!("spec.analysis.metrics[{i}]"),
            &["name", "interval", "thresholdRange", "threshold", "templateRef", "templateVariables", "query"],
            report,
        );
        let name = m.get("name").and_then(Node::text).ok_or_else(|| c.err(Some(m), &f("name"), "expected a name"))?;
        let mi = match m.get("interval") {
            Some(n) => duration(c, n, &f("interval"))?,
            None => SimDur::mins(1),
        };
        let mut vars = vec![
            ("namespace".to_string(), namespace.clone()),
            ("target".to_string(), target.clone()),
            ("ingress".to_string(), ingress.clone()),
            ("interval".to_string(), mi.to_string()),
            ("service".to_string(), target.clone()),
        ];
        for (k, v) in m.get("templateVariables").map(Node::map).unwrap_or(&[]) {
            vars.push((format!("variables.{k}"), v.text().unwrap_or_default()));
        }
        let mut x = Table::new();
        let (doc, node, raw) = if let Some(r) = m.get("templateRef") {
            let (d, q) = template_query(docs, c, r, &f("templateRef"))?;
            report.resources.push(format!(
                "{} document {} `{}`: the query of metric `{name}`",
                d.file,
                d.index,
                d.label()
            ));
            (d, q, q.text().unwrap_or_default())
        } else if let Some(q) = m.get("query") {
            (*c, q, q.text().unwrap_or_default())
        } else {
            let Some(q) = builtin(&provider, &name) else {
                return Err(c.err(
                    Some(m),
                    &f("name"),
                    format!("the built-in metric {name:?} of provider {provider:?} is not simulated (rollsim has Flagger's istio, linkerd, nginx success rate, and istio, linkerd, kubernetes durations): use a MetricTemplate"),
                ));
            };
            report.mapping.push(format!("{}: built-in `{name}` → Flagger's {provider} query, window {mi}", c.label()));
            (*c, m, q.to_string())
        };
        let text = substitute(&raw, &vars).map_err(|e| doc.err(Some(node), &f("query"), e))?;
        queries.push(RawQuery {
            doc,
            field: if doc.kind() == "MetricTemplate" { "spec.query".into() } else { f("name") },
            line: node.line,
            text,
        });
        x.insert("query".into(), placeholder());
        let range = m.get("thresholdRange");
        if let Some(v) = range.and_then(|r| r.get("min")) {
            x.insert("min".into(), Value::Float(number(c, v, &f("thresholdRange.min"))?));
        }
        if let Some(v) = range.and_then(|r| r.get("max")) {
            x.insert("max".into(), Value::Float(number(c, v, &f("thresholdRange.max"))?));
        } else if let Some(v) = m.get("threshold") {
            x.insert("max".into(), Value::Float(number(c, v, &f("threshold"))?));
        }
        report
            .mapping
            .push(format!("{}: spec.analysis.metrics[{i}] `{name}` → policy.flagger.metrics.{name}", c.label()));
        metrics.insert(name, Value::Table(x));
    }
    t.insert("metrics".into(), Value::Table(metrics));
    report.mapping.push(format!(
        "{}: interval, threshold, maxWeight, stepWeight(s), iterations → policy.flagger (threshold counts failed checks over the whole canary, ≥)",
        c.label()
    ));
    Ok(t)
}
