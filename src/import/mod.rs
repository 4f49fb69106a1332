//! `rollsim import`: Argo Rollouts (`Rollout`, `AnalysisTemplate`,
//! `ClusterAnalysisTemplate`), Flagger (`Canary`, `MetricTemplate`) and
//! Prometheus rule files (plain or `PrometheusRule`) into a scenario whose
//! fleet, traffic, health and fault mix come from a base scenario and whose
//! policy is the imported one, moved by its controller's own semantics
//! (`[policy.argo]`, `[policy.flagger]`). Queries are bound to the simulated
//! fleet by `promql::bind`. Every resource and field read, every assumption
//! and everything not simulated goes into the import report.

mod argo;
mod flagger;
mod rules;
pub mod yaml;

use crate::engine::Verdict;
use crate::promql::bind::{self, Signal};
use crate::promql::profile::Profile;
use crate::scenario::{print, Scenario};
use crate::time::SimDur;
use std::fmt;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use toml::{Table, Value};
use yaml::Doc;

/// An import error: file, document, line and field.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportError {
    pub file: String,
    /// (1-based index, `Kind/name`).
    pub document: Option<(usize, String)>,
    pub line: usize,
    pub field: String,
    pub message: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if let Some((i, label)) = &self.document {
            write!(f, ": document {i} ({label})")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ImportError {}

impl ImportError {
    /// Whether the error names one of `rollsim import`'s options
    /// (`--unsupported`, `--bind`, `--arg`, `--rollback-on`) as the way past
    /// it; a command that imports with the defaults then says where they go.
    pub fn names_an_import_option(&self) -> bool {
        ["--unsupported", "--bind", "--arg ", "--rollback-on"]
            .iter()
            .any(|o| self.message.contains(o) || self.field == *o)
    }
}

/// What the user decides at import.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Fleet, traffic, health and faults from this scenario (default: the built-in one).
    pub base: Option<PathBuf>,
    /// What a measurement rollsim cannot simulate (a Job, web or Datadog
    /// provider, a webhook) returns; `None`: such a provider is an error.
    pub unsupported: Option<Verdict>,
    /// `--bind NAME=SIGNAL`.
    pub binds: Vec<(String, Signal)>,
    /// `--arg NAME=VALUE`: Argo args given by `valueFrom`, or overridden.
    pub args: Vec<(String, String)>,
    /// Alerts (by name) whose firing rolls back; `*` for all.
    pub rollback_on: Vec<String>,
}

/// An imported scenario.
#[derive(Debug)]
pub struct Imported {
    /// The scenario file's text (commented TOML).
    pub toml: String,
    /// The import report (Markdown).
    pub report: String,
    pub scenario: Scenario,
    /// Manifest fields a sweep can vary, with the scenario path each maps to.
    pub paths: Vec<FieldPath>,
}

/// How a manifest value is written in the scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conv {
    /// As it is (integers, numbers, conditions).
    Same,
    /// A whole percent (`5` → `5%`).
    Percent,
    /// A duration (`30` → `30s`, `5m` as it is).
    Duration,
}

/// `Kind/spec.path` (templates: `Kind/name/spec.path`) → a scenario path.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldPath {
    pub manifest: String,
    pub scenario: String,
    pub conv: Conv,
}

impl Imported {
    /// A `--vary` over a manifest path as the scenario path and values it maps
    /// to; `Ok(None)` when `path` is not a manifest path (it has no `Kind/`).
    pub fn translate(&self, path: &str, values: &[String]) -> Result<Option<(String, Vec<String>)>, String> {
        let Some((head, _)) = path.split_once('/') else { return Ok(None) };
        if head.contains('.') {
            return Ok(None);
        }
        let Some(f) = self.paths.iter().find(|f| f.manifest == path) else {
            let known: Vec<&str> = self.paths.iter().map(|f| f.manifest.as_str()).collect();
            return Err(format!(
                "--vary: {path:?} is not a field rollsim imported; manifest paths: {}",
                known.join(", ")
            ));
        };
        let conv = |v: &String| match f.conv {
            Conv::Same => v.clone(),
            Conv::Percent if !v.ends_with('%') => format!("{v}%"),
            Conv::Duration if v.chars().all(|c| c.is_ascii_digit()) => format!("{v}s"),
            _ => v.clone(),
        };
        Ok(Some((f.scenario.clone(), values.iter().map(conv).collect())))
    }
}

/// What one importer found, for the report.
#[derive(Default)]
pub(crate) struct Report {
    pub resources: Vec<String>,
    pub mapping: Vec<String>,
    pub assumed: Vec<String>,
    pub not_simulated: Vec<String>,
    pub warnings: Vec<String>,
    pub bindings: Vec<String>,
    pub paths: Vec<FieldPath>,
    pub varyable: Vec<String>,
}

impl Report {
    pub(crate) fn path(&mut self, manifest: String, scenario: String, conv: Conv) {
        self.paths.push(FieldPath { manifest, scenario, conv });
    }
}

/// A query as the manifest wrote it (variables substituted), bound later.
pub(crate) struct RawQuery<'a> {
    pub doc: &'a Doc,
    pub field: String,
    pub line: usize,
    pub text: String,
}

/// Warns about fields of `node` that are not in `known`: a misspelt limit
/// must not silently fall back to its default.
pub(crate) fn unknown_fields(doc: &Doc, node: &yaml::Node, field: &str, known: &[&str], report: &mut Report) {
    for (k, v) in node.map() {
        if !known.contains(&k.as_str()) {
            report.warnings.push(format!(
                "{}:{} {} {field}.{k}: not a field rollsim reads here (known: {}); ignored",
                doc.file,
                v.line,
                doc.label(),
                known.join(", ")
            ));
        }
    }
}

/// True for files `run`, `sweep`, `compare` and `validate` import first (YAML or JSON manifests).
pub fn is_manifest(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
}

pub(crate) fn dur_text(d: SimDur) -> Value {
    Value::String(d.to_string())
}

/// A Kubernetes/Go duration (`30s`, `5m`, `1h30m`) or an integer of seconds.
pub(crate) fn duration(doc: &Doc, node: &yaml::Node, field: &str) -> Result<SimDur, ImportError> {
    let t = node.text().ok_or_else(|| doc.err(Some(node), field, "expected a duration"))?;
    if node.is_number() {
        return t.parse::<u64>().map(SimDur::secs).map_err(|_| doc.err(Some(node), field, "expected whole seconds"));
    }
    crate::units::parse_duration(&t).map_err(|e| doc.err(Some(node), field, e))
}

fn read_docs(paths: &[PathBuf]) -> Result<Vec<Doc>, ImportError> {
    let mut docs = Vec::new();
    for p in paths {
        let file = p.display().to_string();
        let text = std::fs::read_to_string(p).map_err(|e| ImportError {
            file: file.clone(),
            document: None,
            line: 0,
            field: String::new(),
            message: format!("cannot read the file: {e}"),
        })?;
        docs.extend(yaml::load(&text, &file)?);
    }
    Ok(docs)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The error for input that holds no policy: what was read instead, and
/// which format it seems to be when rollsim knows it (a Kayenta canary config).
fn nothing_to_import(docs: &[Doc], paths: &[PathBuf]) -> ImportError {
    let wanted = "no Rollout, AnalysisTemplate, Canary, MetricTemplate or Prometheus rules found";
    let first = paths.first().map(|p| p.display().to_string()).unwrap_or_default();
    // Kayenta (Spinnaker's canary analysis) configs: a judge, metrics and a classifier, no `kind`.
    let kayenta = docs
        .iter()
        .find(|d| d.kind().is_empty() && ["judge", "metrics", "classifier"].iter().all(|k| d.root.get(k).is_some()));
    if let Some(d) = kayenta {
        return ImportError {
            file: d.file.clone(),
            document: None,
            line: 0,
            field: String::new(),
            message: format!(
                "{wanted}: this is a Kayenta canary config, which rollsim does not import (its judge, group \
                 weights and score thresholds are not simulated); import the Argo Rollouts or Flagger resources \
                 that run the rollout, or write its metrics as gates in a scenario (README: Limitations)"
            ),
        };
    }
    let read: Vec<String> = docs
        .iter()
        .map(|d| {
            let at = if paths.len() > 1 {
                format!("{} document {}", d.file, d.index)
            } else {
                format!("document {}", d.index)
            };
            match d.kind().as_str() {
                "" => format!("{at} (no `kind`)"),
                _ => format!("{at} `{}`", d.label()),
            }
        })
        .collect();
    let message = if read.is_empty() {
        format!("{wanted}: the input holds no YAML or JSON documents")
    } else {
        format!("{wanted}; read: {}", read.join(", "))
    };
    ImportError { file: first, document: None, line: 0, field: String::new(), message }
}

/// Reads the manifests and writes the scenario.
pub fn import(paths: &[PathBuf], opts: &Options) -> Result<Imported, ImportError> {
    let docs = read_docs(paths)?;
    import_docs(docs, paths, opts)
}

/// [`import`] of manifest text (`label` names it in errors); what the fuzzer drives.
pub fn import_str(text: &str, label: &str, opts: &Options) -> Result<Imported, ImportError> {
    import_docs(yaml::load(text, label)?, &[PathBuf::from(label)], opts)
}

fn import_docs(docs: Vec<Doc>, paths: &[PathBuf], opts: &Options) -> Result<Imported, ImportError> {
    let base = match &opts.base {
        Some(p) => Scenario::load(p).map_err(|e| ImportError {
            file: p.display().to_string(),
            document: None,
            line: 0,
            field: String::new(),
            message: format!("the base scenario is not valid:\n{e}"),
        })?,
        None => Scenario::seed(),
    };
    let base_label =
        opts.base.as_ref().map_or("the built-in seed-canary scenario".to_string(), |p| p.display().to_string());
    let mut report = Report::default();
    let mut queries: Vec<RawQuery> = Vec::new();
    let mut durations: Vec<SimDur> = Vec::new();

    let has = |k: &str| docs.iter().any(|d| d.kind() == k);
    let mut rule_docs = Vec::new();
    for d in &docs {
        match d.kind().as_str() {
            "Rollout" | "AnalysisTemplate" | "ClusterAnalysisTemplate" | "Canary" | "MetricTemplate" => {}
            "PrometheusRule" => rule_docs.push(d),
            "" if d.root.get("groups").is_some() => rule_docs.push(d),
            "" => report
                .resources
                .push(format!("{} document {} (no `kind`): not a policy resource, ignored", d.file, d.index)),
            _ => report.resources.push(format!(
                "{} document {} `{}` ({}): not a policy resource, ignored",
                d.file,
                d.index,
                d.label(),
                d.api_version()
            )),
        }
    }
    if has("Rollout") && has("Canary") {
        let d = docs.iter().find(|d| d.kind() == "Canary").expect("has a Canary");
        return Err(d.err(None, "kind", "a Rollout and a Canary together: import one controller's policy at a time"));
    }
    let controller = if has("Rollout") || has("AnalysisTemplate") || has("ClusterAnalysisTemplate") {
        Some(("argo", argo::import(&docs, &base, opts, &mut report, &mut queries, &mut durations)?))
    } else if has("Canary") || has("MetricTemplate") {
        Some(("flagger", flagger::import(&docs, &base, opts, &mut report, &mut queries, &mut durations)?))
    } else {
        None
    };
    let alerts = rules::import(&rule_docs, opts, &mut report, &mut queries, &mut durations)?;
    if controller.is_none() && alerts.is_none() {
        return Err(nothing_to_import(&docs, paths));
    }

    // One profile names the fleet's series: the first mesh or ingress the queries name.
    let profile = queries.iter().find_map(|q| bind::profile_of(&q.text)).unwrap_or(Profile::Generic);
    report.assumed.push(format!(
        "the simulated fleet's series are named as the {} profile names them (from the queries' metric names; README: PromQL)",
        profile.name()
    ));
    let mut bound = Vec::new();
    for q in &queries {
        let b = bind::bind(&q.text, profile, &opts.binds).map_err(|e| ImportError {
            file: q.doc.file.clone(),
            document: Some((q.doc.index, q.doc.label())),
            line: q.line,
            field: q.field.clone(),
            message: e,
        })?;
        for n in &b.notes {
            report.bindings.push(format!("{} {}: {n}", q.doc.label(), q.field));
        }
        bound.push(b.text);
    }

    // The base scenario, with the imported policy in place of its own.
    let mut root: Table = toml::from_str(&print::to_toml(&base)).expect("canonical TOML parses");
    let policy = root.get_mut("policy").and_then(Value::as_table_mut).expect("a policy table");
    let mut next = bound.into_iter();
    let has_controller = controller.is_some();
    if let Some((key, mut table)) = controller {
        replace_queries(&mut table, &mut next);
        for k in ["phases", "checks", "argo", "flagger"] {
            policy.remove(k);
        }
        policy.insert(key.into(), Value::Table(table));
        let mut rollback = Table::new();
        rollback.insert("duration".into(), Value::String("0s".into()));
        rollback.insert("triggers".into(), Value::Table(Table::new()));
        policy.insert("rollback".into(), Value::Table(rollback));
        policy.insert("alerts".into(), Value::Table(Table::new()));
        report.assumed.push(format!(
            "an abort or rollback takes the candidate's traffic to 0 at once (policy.rollback.duration = \"0s\"); the base scenario's own alert rules and rollback triggers ({}) are not part of the imported policy",
            base.policy.alerts.len() + base.policy.triggers.len()
        ));
    }
    if !has_controller && alerts.is_some() {
        report.assumed.push(format!(
            "no Rollout or Canary: the base scenario's phases, gates and rollback triggers stay; its {} alert rules are replaced by the imported ones",
            base.policy.alerts.len()
        ));
    }
    if let Some((every, mut table)) = alerts {
        replace_queries(&mut table, &mut next);
        policy.insert("alerts".into(), Value::Table(table));
        policy.insert("alert_every".into(), dur_text(every));
        durations.push(every);
    }
    // Every controller instant on the scrape grid, and the tick no longer than a scrape.
    // Every controller instant on the tick grid (the engine then reads
    // complete ticks), and the scrapes dividing the tick.
    let grid = |start: u64| durations.iter().filter(|d| d.0 > 0).fold(start, |g, d| gcd(g, d.0)).max(1);
    let scrape = grid(base.fleet.scrape_interval.0);
    let tick = grid(base.simulation.tick.0);
    let fleet = root.get_mut("fleet").and_then(Value::as_table_mut).expect("a fleet table");
    fleet.insert("metrics".into(), Value::String(profile.name().into()));
    fleet.insert("scrape_interval".into(), dur_text(SimDur::secs(scrape)));
    let sim = root.get_mut("simulation").and_then(Value::as_table_mut).expect("a simulation table");
    sim.insert("tick".into(), dur_text(SimDur::secs(tick)));
    if (scrape, tick) != (base.fleet.scrape_interval.0, base.simulation.tick.0) {
        report.assumed.push(format!(
            "scrape interval {} and simulation tick {} (the base scenario's {} and {}): every interval and delay of the policy falls on them",
            SimDur::secs(scrape),
            SimDur::secs(tick),
            base.fleet.scrape_interval,
            base.simulation.tick
        ));
    }
    report.assumed.push(format!(
        "fleet ({} instances), traffic ({} requests/s, {} request classes), health and fault mix from {base_label}",
        base.fleet.instances,
        base.traffic.requests_per_second,
        base.traffic.classes.len()
    ));
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    root.insert("name".into(), Value::String(format!("imported-{}", stem(paths))));
    root.insert("description".into(), Value::String(format!("imported by rollsim import from {}", names.join(", "))));

    let body = toml::to_string(&root).expect("a TOML table serialises");
    for p in &report.paths {
        report.varyable.push(format!("`{}` → `{}`", p.manifest, p.scenario));
    }
    let report_text = report.markdown(&names, &base_label);
    let mut text = String::new();
    let _ = writeln!(text, "# Imported by `rollsim import {}`.", names.join(" "));
    let _ = writeln!(
        text,
        "# The policy below follows its controller's semantics (README: Simulate your Argo Rollouts / Flagger policy);"
    );
    let _ =
        writeln!(text, "# fleet, traffic, health and faults come from {base_label}. What was assumed and what is not");
    let _ = writeln!(text, "# simulated is in the import report written beside this file; in short:");
    for line in report.assumed.iter().chain(&report.not_simulated) {
        let _ = writeln!(text, "#  - {line}");
    }
    text.push('\n');
    text.push_str(&body);
    let label = names.first().cloned().unwrap_or_default();
    let dir = paths.first().map(|p| Scenario::folder_of(p).to_path_buf()).unwrap_or_default();
    let scenario = Scenario::from_toml_in(&text, &format!("{label} (imported)"), &dir).map_err(|e| ImportError {
        file: label,
        document: None,
        line: 0,
        field: String::new(),
        message: format!("the imported policy is not a valid scenario:\n{e}"),
    })?;
    Ok(Imported { toml: text, report: report_text, scenario, paths: report.paths })
}

fn stem(paths: &[PathBuf]) -> String {
    paths.first().and_then(|p| p.file_stem()).map_or("policy".into(), |s| s.to_string_lossy().into_owned())
}

/// Replaces, in order, every `query = "\u{0}k"` placeholder with the k-th bound query.
fn replace_queries(t: &mut Table, bound: &mut impl Iterator<Item = String>) {
    for (_, v) in t.iter_mut() {
        match v {
            Value::Table(x) => replace_queries(x, bound),
            Value::String(s) if s.starts_with('\u{0}') => {
                if let Some(b) = bound.next() {
                    *s = b;
                }
            }
            _ => {}
        }
    }
}

/// The placeholder a table holds for the next query until it is bound.
pub(crate) fn placeholder() -> Value {
    Value::String("\u{0}query".into())
}

impl Report {
    fn markdown(&self, files: &[String], base: &str) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "# Import report\n\nFrom {}; fleet, traffic, health and faults from {base}.\n",
            files.join(", ")
        );
        for (title, items) in [
            ("Resources read", &self.resources),
            ("How each field maps", &self.mapping),
            ("Query bindings to the simulated fleet", &self.bindings),
            ("Assumed", &self.assumed),
            ("Not simulated", &self.not_simulated),
            ("Warnings", &self.warnings),
            (
                "Fields a sweep can vary (`--vary 'MANIFEST PATH=v1,v2'` on the manifest, or the scenario path)",
                &self.varyable,
            ),
        ] {
            let _ = writeln!(o, "## {title}\n");
            if items.is_empty() {
                let _ = writeln!(o, "(none)\n");
                continue;
            }
            for i in items {
                let _ = writeln!(o, "- {i}");
            }
            o.push('\n');
        }
        o
    }
}

/// `{{ name }}` template variables (Go templates, Argo's `{{args.x}}`).
pub(crate) fn substitute(text: &str, vars: &[(String, String)]) -> Result<String, String> {
    let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    crate::scenario::substitute(text, &pairs, "")
}
