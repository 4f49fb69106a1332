//! Prometheus rule files (`groups:`) and `PrometheusRule` resources: alerting
//! rules become rollsim alert rules (`count(EXPR) > 0`: an alert is active
//! while its expression returns any series), evaluated at the group's
//! interval with `for`; recording rules are inlined where later rules read
//! them (instant selectors), which is exact for rules of one group, evaluated
//! in order at one instant, and for other groups evaluated at the same
//! instants; a recorded series read over a range is refused by the parser.

use super::yaml::{Doc, Node};
use super::{duration, placeholder, ImportError, Options, RawQuery, Report};
use crate::time::SimDur;
use toml::{Table, Value};

/// Replaces every use of the recorded series `name` (with any matchers) by `(expr)`.
fn inline(text: &str, name: &str, expr: &str) -> (String, bool) {
    let mut out = String::new();
    let mut rest = text;
    let mut dropped = false;
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    while let Some(i) = rest.find(name) {
        let before_ok = rest[..i].chars().next_back().is_none_or(|c| !ident(c));
        let after = &rest[i + name.len()..];
        let after_ok = after.chars().next().is_none_or(|c| !ident(c));
        if !(before_ok && after_ok) {
            out.push_str(&rest[..i + name.len()]);
            rest = after;
            continue;
        }
        out.push_str(&rest[..i]);
        out.push('(');
        out.push_str(expr.trim());
        out.push(')');
        rest = after;
        if let Some(stripped) = rest.strip_prefix('{') {
            if let Some(j) = stripped.find('}') {
                dropped |= !stripped[..j].trim().is_empty();
                rest = &stripped[j + 1..];
            }
        }
    }
    out.push_str(rest);
    (out, dropped)
}

/// The alert rules table and the evaluation interval, or `None` without rules.
pub(super) fn import<'a>(
    docs: &[&'a Doc],
    opts: &Options,
    report: &mut Report,
    queries: &mut Vec<RawQuery<'a>>,
    durations: &mut Vec<SimDur>,
) -> Result<Option<(SimDur, Table)>, ImportError> {
    let mut alerts = Table::new();
    let mut every: Option<SimDur> = None;
    // Recorded series by name, from every group read so far (Sloth and Pyrra
    // put recording rules and alerts in separate groups).
    let mut recorded: Vec<(String, String)> = Vec::new();
    for d in docs {
        let groups = if d.kind() == "PrometheusRule" {
            d.root.get("spec").and_then(|s| s.get("groups"))
        } else {
            d.root.get("groups")
        };
        let Some(groups) = groups else { return Err(d.err(None, "groups", "expected rule groups")) };
        let prefix = if d.kind() == "PrometheusRule" { "spec.groups" } else { "groups" };
        for (gi, g) in groups.seq().iter().enumerate() {
            let gname = g.get("name").and_then(Node::text).unwrap_or_default();
            let interval = match g.get("interval") {
                Some(n) => duration(d, n, &format!("{prefix}[{gi}].interval"))?,
                None => SimDur::mins(1),
            };
            if every.is_some_and(|e| e != interval) {
                report.warnings.push(format!(
                    "rule group `{gname}` is evaluated every {interval}, another every {}: all alert rules are evaluated every {} (policy.alert_every)",
                    every.unwrap_or(interval),
                    every.unwrap_or(interval)
                ));
            }
            let every = *every.get_or_insert(interval);
            durations.push(every);
            for (ri, r) in g.get("rules").map(Node::seq).unwrap_or(&[]).iter().enumerate() {
                let f = |k: &str| format!("{prefix}[{gi}].rules[{ri}].{k}");
                let e = r.get("expr").ok_or_else(|| d.err(Some(r), &f("expr"), "expected expr"))?;
                let mut text = e.text().unwrap_or_default();
                for (name, expr) in recorded.iter().rev() {
                    let (t, dropped) = inline(&text, name, expr);
                    if dropped {
                        report.assumed.push(format!(
                            "{}: the matchers on recorded series `{name}` in rule {ri} are dropped when its recording rule is inlined (its labels are fixed)",
                            d.label()
                        ));
                    }
                    text = t;
                }
                if let Some(rec) = r.get("record").and_then(Node::text) {
                    report.mapping.push(format!(
                        "{} group `{gname}`: recording rule `{rec}` → inlined where later rules read it",
                        d.label()
                    ));
                    recorded.push((rec, text));
                    continue;
                }
                let Some(name) = r.get("alert").and_then(Node::text) else {
                    return Err(d.err(Some(r), &f("alert"), "expected `alert` or `record`"));
                };
                let mut x = Table::new();
                queries.push(RawQuery {
                    doc: d,
                    field: f("expr"),
                    line: e.line,
                    text: format!("count({})", text.trim()),
                });
                x.insert("query".into(), placeholder());
                x.insert("op".into(), Value::String(">".into()));
                x.insert("threshold".into(), Value::String("0".into()));
                if let Some(fd) = r.get("for") {
                    x.insert("for".into(), Value::String(duration(d, fd, &f("for"))?.to_string()));
                }
                let sev = r
                    .get("labels")
                    .and_then(|l| l.get("severity"))
                    .and_then(Node::text)
                    .unwrap_or_else(|| "warning".into());
                let sev = match sev.as_str() {
                    "critical" | "page" => "critical",
                    "info" | "none" => "info",
                    _ => "warning",
                };
                x.insert("severity".into(), Value::String(sev.into()));
                let rollback = opts.rollback_on.iter().any(|n| n == "*" || *n == name);
                x.insert("rollback".into(), Value::Boolean(rollback));
                if r.get("keep_firing_for").is_some() {
                    report.not_simulated.push(format!("{} alert `{name}`: keep_firing_for", d.label()));
                }
                report.mapping.push(format!(
                    "{} group `{gname}` alert `{name}` → policy.alerts.{name} (active while `{}` returns a series; severity {sev}{})",
                    d.label(),
                    e.text().unwrap_or_default().trim(),
                    if rollback { ", rolls back when firing" } else { "; --rollback-on NAME makes it roll back" }
                ));
                if alerts.contains_key(&name) {
                    return Err(d.err(Some(r), &f("alert"), format!("two alert rules named {name:?}")));
                }
                alerts.insert(name, Value::Table(x));
            }
        }
        report.resources.push(format!(
            "{} document {} `{}`: Prometheus rules",
            d.file,
            d.index,
            if d.kind().is_empty() { "rule file".to_string() } else { d.label() }
        ));
    }
    for n in &opts.rollback_on {
        if n != "*" && !alerts.contains_key(n) {
            return Err(ImportError {
                file: docs.first().map(|d| d.file.clone()).unwrap_or_default(),
                document: None,
                line: 0,
                field: "--rollback-on".into(),
                message: format!("no alert rule named {n:?} in the rule files given"),
            });
        }
    }
    Ok(every.filter(|_| !alerts.is_empty()).map(|e| (e, alerts)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn recorded_series_are_inlined_whole_words_only() {
        let (t, dropped) =
            super::inline("job:err:rate5m{job=\"a\"} > 0.1 and job:err:rate5mx", "job:err:rate5m", "sum(rate(x[5m]))");
        assert_eq!(t, "(sum(rate(x[5m]))) > 0.1 and job:err:rate5mx");
        assert!(dropped);
    }
}
