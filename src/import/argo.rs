//! Argo Rollouts: a `Rollout`'s canary steps and analysis, with the
//! `AnalysisTemplate`s and `ClusterAnalysisTemplate`s they name, into
//! `[policy.argo]`. Templates given without a `Rollout` run as background
//! analysis over the base scenario's phases.

use super::yaml::{Doc, Node};
use super::{dur_text, duration, placeholder, substitute, Conv, ImportError, Options, RawQuery, Report};
use crate::engine::Verdict;
use crate::scenario::Scenario;
use crate::time::SimDur;
use toml::{Table, Value};

fn int(doc: &Doc, n: &Node, field: &str) -> Result<i64, ImportError> {
    n.text().and_then(|t| t.trim().parse::<i64>().ok()).ok_or_else(|| doc.err(Some(n), field, "expected an integer"))
}

/// `n` with the template's `{{args.x}}` substituted (Argo allows args in
/// counts, limits and durations: `count: "{{args.count}}"`).
fn with_args(t: &Doc, n: &Node, vars: &[(String, String)], field: &str) -> Result<Node, ImportError> {
    match n.text() {
        Some(text) if text.contains("{{") => {
            let v = substitute(&text, vars).map_err(|e| t.err(Some(n), field, e))?;
            let number = v.trim().parse::<f64>().is_ok();
            Ok(Node { line: n.line, kind: super::yaml::Kind::Scalar(v, number) })
        }
        _ => Ok(n.clone()),
    }
}

/// The template a reference names.
fn template<'a>(docs: &'a [Doc], from: &Doc, r: &Node, field: &str) -> Result<&'a Doc, ImportError> {
    let name =
        r.get("templateName").and_then(Node::text).ok_or_else(|| from.err(Some(r), field, "expected templateName"))?;
    let cluster = r.get("clusterScope").and_then(Node::text).is_some_and(|t| t == "true");
    let kinds: &[&str] =
        if cluster { &["ClusterAnalysisTemplate"] } else { &["AnalysisTemplate", "ClusterAnalysisTemplate"] };
    docs.iter().find(|d| kinds.contains(&d.kind().as_str()) && d.name() == name).ok_or_else(|| {
        from.err(
            Some(r),
            field,
            format!("no {} named {name:?} in the files given: add the file that defines it", kinds[0]),
        )
    })
}

/// Argo args: the Rollout's `args` over the template's defaults; `valueFrom` only with `--arg`.
fn args(
    t: &Doc,
    given: Option<&Node>,
    from: &Doc,
    opts: &Options,
    report: &mut Report,
) -> Result<Vec<(String, String)>, ImportError> {
    let mut out: Vec<(String, String)> = Vec::new();
    let spec = t.root.get("spec");
    for a in spec.and_then(|s| s.get("args")).map(Node::seq).unwrap_or(&[]) {
        if let (Some(n), Some(v)) = (a.get("name").and_then(Node::text), a.get("value").and_then(Node::text)) {
            out.push((format!("args.{n}"), v));
        }
    }
    for a in given.map(Node::seq).unwrap_or(&[]) {
        let Some(n) = a.get("name").and_then(Node::text) else { continue };
        let value = if let Some(v) = opts.args.iter().find(|(k, _)| *k == n) {
            v.1.clone()
        } else if let Some(v) = a.get("value").and_then(Node::text) {
            v
        } else if let Some(vf) = a.get("valueFrom") {
            let path = vf.get("fieldRef").and_then(|f| f.get("fieldPath")).and_then(Node::text);
            if path.as_deref() == Some("metadata.namespace") {
                let ns = from.namespace().unwrap_or_else(|| "default".into());
                report.assumed.push(format!(
                    "{}: arg `{n}` (valueFrom fieldRef metadata.namespace) = {ns:?}, the Rollout's namespace (set it with --arg {n}=VALUE)",
                    from.label()
                ));
                ns
            } else {
                return Err(from.err(
                    Some(vf),
                    &format!("spec.strategy.canary.analysis.args[{n}].valueFrom"),
                    format!("valueFrom is read from the cluster, which rollsim does not simulate: give the value with --arg {n}=VALUE"),
                ));
            }
        } else {
            continue;
        };
        out.retain(|(k, _)| *k != format!("args.{n}"));
        out.push((format!("args.{n}"), value));
    }
    for (k, v) in &opts.args {
        if !out.iter().any(|(x, _)| *x == format!("args.{k}")) {
            out.push((format!("args.{k}"), v.clone()));
        }
    }
    Ok(out)
}

/// Imports the metrics of template `t` into `metrics`; returns their names.
#[allow(clippy::too_many_arguments)]
fn template_metrics<'a>(
    t: &'a Doc,
    vars: &[(String, String)],
    opts: &Options,
    metrics: &mut Table,
    report: &mut Report,
    queries: &mut Vec<RawQuery<'a>>,
    durations: &mut Vec<SimDur>,
) -> Result<Vec<String>, ImportError> {
    let spec = t.root.get("spec").ok_or_else(|| t.err(None, "spec", "expected a spec"))?;
    let mut dry: Vec<regex_automata::meta::Regex> = Vec::new();
    for d in spec.get("dryRun").map(Node::seq).unwrap_or(&[]) {
        let Some(p) = d.get("metricName").and_then(Node::text) else { continue };
        let re = regex_automata::meta::Regex::new(&p)
            .map_err(|e| t.err(Some(d), "spec.dryRun.metricName", format!("not a regular expression: {e}")))?;
        dry.push(re);
    }
    let mut names = Vec::new();
    let list = spec.get("metrics").map(Node::seq).unwrap_or(&[]);
    if list.is_empty() {
        return Err(t.err(Some(spec), "spec.metrics", "expected at least one metric"));
    }
    for (i, m) in list.iter().enumerate() {
        let f = |k: &str| format!("spec.metrics[{i}].{k}");
        super::unknown_fields(
            t,
            m,
            &format!("spec.metrics[{i}]"),
            &[
                "name",
                "interval",
                "initialDelay",
                "count",
                "successCondition",
                "failureCondition",
                "failureLimit",
                "inconclusiveLimit",
                "consecutiveErrorLimit",
                "consecutiveSuccessLimit",
                "provider",
            ],
            report,
        );
        let name = m.get("name").and_then(Node::text).ok_or_else(|| t.err(Some(m), &f("name"), "expected a name"))?;
        let mut x = Table::new();
        let provider = m.get("provider").ok_or_else(|| t.err(Some(m), &f("provider"), "expected a provider"))?;
        let arg = |k: &str| m.get(k).map(|n| with_args(t, n, vars, &f(k))).transpose();
        let interval = arg("interval")?.map(|n| duration(t, &n, &f("interval"))).transpose()?;
        match provider.get("prometheus") {
            Some(p) => {
                let q = p
                    .get("query")
                    .ok_or_else(|| t.err(Some(p), &f("provider.prometheus.query"), "expected a query"))?;
                let text = substitute(&q.text().unwrap_or_default(), vars)
                    .map_err(|e| t.err(Some(q), &f("provider.prometheus.query"), e))?;
                queries.push(RawQuery { doc: t, field: f("provider.prometheus.query"), line: q.line, text });
                x.insert("query".into(), placeholder());
            }
            None => {
                let kind = provider.map().first().map_or("unknown".to_string(), |(k, _)| k.clone());
                let Some(v) = opts.unsupported else {
                    return Err(t.err(
                        Some(provider),
                        &f("provider"),
                        format!("the {kind} provider cannot be simulated: import with --unsupported pass or --unsupported fail to assume every measurement's result"),
                    ));
                };
                let v = if v == Verdict::Fail { "fail" } else { "pass" };
                report.not_simulated.push(format!(
                    "{} metric `{name}`: {kind} provider, every measurement assumed to {v} (--unsupported)",
                    t.label()
                ));
                x.insert("assume".into(), Value::String(v.into()));
            }
        }
        for (key, to) in [("successCondition", "success"), ("failureCondition", "failure")] {
            if let Some(c) = m.get(key) {
                let text = substitute(&c.text().unwrap_or_default(), vars).map_err(|e| t.err(Some(c), &f(key), e))?;
                let e = crate::engine::expr::Expr::parse(&text).map_err(|e| {
                    t.err(Some(c), &f(key), format!("{e} (rollsim evaluates a subset of expr-lang: README)"))
                })?;
                if e.compares_bare_result() && provider.get("prometheus").is_some() {
                    report.warnings.push(format!(
                        "{} metric `{name}` {key} `{text}` compares the whole `result`: Argo hands a vector query's result as an array, so every measurement is an *error* (use `result[0]`); reproduced as Argo does it",
                        t.label()
                    ));
                }
                x.insert(to.into(), Value::String(text));
            }
        }
        let base = format!("{}/{}/spec.metrics[{i}]", t.kind(), t.name());
        for (key, to, conv) in [
            ("interval", "interval", Conv::Duration),
            ("initialDelay", "initial_delay", Conv::Duration),
            ("count", "count", Conv::Same),
            ("failureLimit", "failure_limit", Conv::Same),
            ("inconclusiveLimit", "inconclusive_limit", Conv::Same),
            ("consecutiveErrorLimit", "consecutive_error_limit", Conv::Same),
            ("consecutiveSuccessLimit", "consecutive_success_limit", Conv::Same),
            ("successCondition", "success", Conv::Same),
            ("failureCondition", "failure", Conv::Same),
        ] {
            if m.get(key).is_some() {
                report.path(format!("{base}.{key}"), format!("policy.argo.metrics.{name}.{to}"), conv);
            }
        }
        if let Some(d) = arg("initialDelay")? {
            let d = duration(t, &d, &f("initialDelay"))?;
            durations.push(d);
            x.insert("initial_delay".into(), dur_text(d));
        }
        if let Some(d) = interval {
            durations.push(d);
            x.insert("interval".into(), dur_text(d));
        }
        for (key, to) in [
            ("count", "count"),
            ("failureLimit", "failure_limit"),
            ("inconclusiveLimit", "inconclusive_limit"),
            ("consecutiveErrorLimit", "consecutive_error_limit"),
            ("consecutiveSuccessLimit", "consecutive_success_limit"),
        ] {
            if let Some(n) = arg(key)? {
                x.insert(to.into(), Value::Integer(int(t, &n, &f(key))?));
            }
        }
        let is_dry = dry.iter().any(|r| r.is_match(&name));
        if is_dry {
            report.mapping.push(format!("{} metric `{name}`: dry run (matches a spec.dryRun metricName)", t.label()));
        }
        x.insert("dry_run".into(), Value::Boolean(is_dry));
        for key in ["measurementRetention", "provider.prometheus.address", "provider.prometheus.timeout"] {
            if m.get(key).is_some() {
                report.not_simulated.push(format!("{} metric `{name}`: `{key}` (no effect on decisions)", t.label()));
            }
        }
        report.mapping.push(format!("{} spec.metrics[{i}] `{name}` → policy.argo.metrics.{name}", t.label()));
        if metrics.contains_key(&name) && metrics.get(&name) != Some(&Value::Table(x.clone())) {
            return Err(t.err(Some(m), &f("name"), format!("two different metrics named {name:?}: rename one")));
        }
        metrics.insert(name.clone(), Value::Table(x));
        names.push(name);
    }
    report.resources.push(format!("{} document {} `{}`: {} metric(s)", t.file, t.index, t.label(), names.len()));
    Ok(names)
}

fn names_value(v: &[String]) -> Value {
    Value::Array(v.iter().map(|s| Value::String(s.clone())).collect())
}

pub(super) fn import<'a>(
    docs: &'a [Doc],
    base: &Scenario,
    opts: &Options,
    report: &mut Report,
    queries: &mut Vec<RawQuery<'a>>,
    durations: &mut Vec<SimDur>,
) -> Result<Table, ImportError> {
    let manual = base.policy.phases.iter().find_map(|p| p.approval).unwrap_or(SimDur::mins(30));
    let on_inc = "abort";
    let mut t = Table::new();
    t.insert("manual_delay".into(), dur_text(manual));
    t.insert("on_inconclusive".into(), Value::String(on_inc.into()));
    report.assumed.push(format!(
        "a manual promotion (`pause: {{}}`, or after an inconclusive analysis) arrives {manual} later (the base scenario's approval delay; policy.argo.manual_delay); after an inconclusive analysis the person decides to {on_inc} (policy.argo.on_inconclusive, or `promote`)"
    ));
    let mut metrics = Table::new();
    let mut steps = Vec::new();
    let rollouts: Vec<&Doc> = docs.iter().filter(|d| d.kind() == "Rollout").collect();
    if rollouts.len() > 1 {
        return Err(rollouts[1].err(None, "kind", "more than one Rollout: import one at a time"));
    }
    let Some(r) = rollouts.first() else {
        // Templates alone: background analysis over the base scenario's phases.
        let mut all = Vec::new();
        for d in docs.iter().filter(|d| d.kind().ends_with("AnalysisTemplate")) {
            let vars = args(d, None, d, opts, report)?;
            all.extend(template_metrics(d, &vars, opts, &mut metrics, report, queries, durations)?);
        }
        for p in &base.policy.phases {
            let mut w = Table::new();
            w.insert("set_weight".into(), Value::String(crate::units::format_percent(p.weight)));
            steps.push(Value::Table(w));
            if p.weight < 1.0 {
                let mut x = Table::new();
                x.insert("pause".into(), dur_text(p.bake));
                durations.push(p.bake);
                steps.push(Value::Table(x));
            }
        }
        report.assumed.push(format!(
            "no Rollout: the templates run as background analysis from step 0 over the base scenario's phases ({})",
            base.policy
                .phases
                .iter()
                .map(|p| format!("{} for {}", crate::units::format_percent(p.weight), p.bake))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let mut bg = Table::new();
        bg.insert("starting_step".into(), Value::Integer(0));
        bg.insert("metrics".into(), names_value(&all));
        t.insert("steps".into(), Value::Array(steps));
        t.insert("background".into(), Value::Table(bg));
        t.insert("metrics".into(), Value::Table(metrics));
        return Ok(t);
    };
    let spec = r.root.get("spec").ok_or_else(|| r.err(None, "spec", "expected a spec"))?;
    let strategy = spec.get("strategy").ok_or_else(|| r.err(Some(spec), "spec.strategy", "expected a strategy"))?;
    if strategy.get("blueGreen").is_some() {
        return Err(r.err(
            strategy.get("blueGreen"),
            "spec.strategy.blueGreen",
            "the blueGreen strategy is not simulated; rollsim simulates the canary strategy",
        ));
    }
    let canary = strategy
        .get("canary")
        .ok_or_else(|| r.err(Some(strategy), "spec.strategy.canary", "expected a canary strategy"))?;
    report.resources.push(format!("{} document {} `{}`: the canary strategy", r.file, r.index, r.label()));
    for (k, v) in canary.map() {
        match k.as_str() {
            "steps" | "analysis" => {}
            "abortScaleDownDelaySeconds" => report.not_simulated.push(format!(
                "{}: abortScaleDownDelaySeconds {} (after an abort the canary's pods stay up with no traffic: no effect on requests)",
                r.label(),
                v.text().unwrap_or_default()
            )),
            "trafficRouting" => report.mapping.push(format!(
                "{}: trafficRouting ({}) → setWeight moves the traffic share at once",
                r.label(),
                v.map().iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", ")
            )),
            other => report.not_simulated.push(format!("{}: spec.strategy.canary.{other} (no effect on the simulated traffic share)", r.label())),
        }
    }
    if canary.get("trafficRouting").is_none() {
        report.assumed.push(format!("{}: no trafficRouting: the canary's traffic share is its setWeight (Argo approximates it with replica counts)", r.label()));
    }
    for (i, s) in canary.get("steps").map(Node::seq).unwrap_or(&[]).iter().enumerate() {
        let f = |k: &str| format!("spec.strategy.canary.steps[{i}].{k}");
        let mut x = Table::new();
        let (key, v) = s
            .map()
            .first()
            .ok_or_else(|| r.err(Some(s), &format!("spec.strategy.canary.steps[{i}]"), "expected a step"))?;
        match key.as_str() {
            "setWeight" => {
                let w = int(r, v, &f("setWeight"))?;
                if !(0..=100).contains(&w) {
                    return Err(r.err(Some(v), &f("setWeight"), "expected a percentage from 0 to 100"));
                }
                x.insert("set_weight".into(), Value::String(format!("{w}%")));
                report.path(
                    format!("Rollout/{}", f("setWeight")),
                    format!("policy.argo.steps[{i}].set_weight"),
                    Conv::Percent,
                );
            }
            "pause" => match v.get("duration") {
                Some(d) => {
                    let d = duration(r, d, &f("pause.duration"))?;
                    durations.push(d);
                    report.path(
                        format!("Rollout/{}", f("pause.duration")),
                        format!("policy.argo.steps[{i}].pause"),
                        Conv::Duration,
                    );
                    x.insert("pause".into(), dur_text(d));
                }
                None => {
                    x.insert("pause".into(), Value::String("manual".into()));
                }
            },
            "analysis" => {
                let mut names = Vec::new();
                for tr in v.get("templates").map(Node::seq).unwrap_or(&[]) {
                    let td = match template(docs, r, tr, &f("analysis.templates")) {
                        Ok(td) => td,
                        // A template that lives only in the cluster: one assumed measurement.
                        Err(e) => {
                            let Some(verdict) = opts.unsupported else {
                                return Err(ImportError {
                                    message: format!(
                                        "{} (or pass --unsupported pass|fail to assume its result)",
                                        e.message
                                    ),
                                    ..e
                                });
                            };
                            let name = tr.get("templateName").and_then(Node::text).unwrap_or_default();
                            let v = if verdict == Verdict::Fail { "fail" } else { "pass" };
                            report.not_simulated.push(format!("{}: template `{name}` is not in the files given: one measurement assumed to {v} (--unsupported)", r.label()));
                            let mut x = Table::new();
                            x.insert("assume".into(), Value::String(v.into()));
                            x.insert("dry_run".into(), Value::Boolean(false));
                            metrics.insert(name.clone(), Value::Table(x));
                            names.push(name);
                            continue;
                        }
                    };
                    let vars = args(td, v.get("args"), r, opts, report)?;
                    names.extend(template_metrics(td, &vars, opts, &mut metrics, report, queries, durations)?);
                }
                x.insert("analysis".into(), names_value(&names));
            }
            "setCanaryScale" | "setHeaderRoute" | "setMirrorRoute" => {
                report
                    .not_simulated
                    .push(format!("{}: step {i} {key} (no effect on the simulated traffic share)", r.label()));
                x.insert("set_canary_scale".into(), Value::String(key.clone()));
            }
            other => {
                return Err(r.err(
                    Some(s),
                    &f(other),
                    format!(
                        "the {other} step is not simulated (supported: setWeight, pause, analysis, setCanaryScale)"
                    ),
                ));
            }
        }
        steps.push(Value::Table(x));
    }
    if steps.is_empty() {
        return Err(r.err(Some(canary), "spec.strategy.canary.steps", "expected at least one step"));
    }
    t.insert("steps".into(), Value::Array(steps));
    if let Some(a) = canary.get("analysis") {
        let mut refs: Vec<&Node> = a.get("templates").map(|t| t.seq().iter().collect()).unwrap_or_default();
        if a.get("templateName").is_some() {
            report.mapping.push(format!("{}: the legacy analysis.templateName form, read as templates[0]", r.label()));
            refs.push(a);
        }
        let mut names = Vec::new();
        for tr in refs {
            let td = template(docs, r, tr, "spec.strategy.canary.analysis.templates")?;
            let vars = args(td, a.get("args"), r, opts, report)?;
            names.extend(template_metrics(td, &vars, opts, &mut metrics, report, queries, durations)?);
        }
        let start = a
            .get("startingStep")
            .map(|n| int(r, n, "spec.strategy.canary.analysis.startingStep"))
            .transpose()?
            .unwrap_or(0);
        let mut bg = Table::new();
        bg.insert("starting_step".into(), Value::Integer(start));
        bg.insert("metrics".into(), names_value(&names));
        t.insert("background".into(), Value::Table(bg));
        report.path(
            "Rollout/spec.strategy.canary.analysis.startingStep".into(),
            "policy.argo.background.starting_step".into(),
            Conv::Same,
        );
        report.mapping.push(format!("{}: background analysis from step {start} → policy.argo.background", r.label()));
    }
    report.mapping.push(format!("{}: spec.strategy.canary.steps → policy.argo.steps (one phase per step)", r.label()));
    // A measurement that errs is retried after Argo's 10 s: on the grid only
    // when there is something to measure (a finer grid costs every tick).
    if !metrics.is_empty() {
        durations.push(crate::engine::argo::ERROR_RETRY);
    }
    t.insert("metrics".into(), Value::Table(metrics));
    Ok(t)
}
