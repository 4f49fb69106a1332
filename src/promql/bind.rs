//! Binding a real policy's PromQL to the simulated fleet: every vector
//! selector is renamed to the profile's series for the signal it reads, and
//! its identity matchers (service, pod, ingress, workload names) are replaced
//! by the labels that select the candidate's (or the stable group's) series.
//! Status matchers keep their meaning: they are moved to the profile's status
//! label (`status!~"5.*"` still selects successes, since simulated requests
//! are answered 200 or 500); `le` is kept.

use super::profile::{Profile, CPU, DB_POOL, MEMORY, RESTARTS};
use promql_parser::label::{MatchOp, Matcher, Matchers};
use promql_parser::parser::{self, Expr};

/// A simulated signal a foreign metric name can be bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// The request counter (with a status label).
    Requests,
    /// Latency histogram buckets (`le`).
    LatencyBucket,
    Cpu,
    Memory,
    DbPool,
    Restarts,
}

impl Signal {
    pub const NAMES: &'static str = "requests, latency_bucket, cpu, memory, db_pool, restarts";

    pub fn from_name(s: &str) -> Option<Signal> {
        Some(match s {
            "requests" => Signal::Requests,
            "latency_bucket" | "latency" => Signal::LatencyBucket,
            "cpu" => Signal::Cpu,
            "memory" => Signal::Memory,
            "db_pool" => Signal::DbPool,
            "restarts" => Signal::Restarts,
            _ => return None,
        })
    }

    /// The profile's series name for this signal.
    fn series(self, p: Profile) -> String {
        match self {
            Signal::Requests => p.requests().to_string(),
            Signal::LatencyBucket => format!("{}_bucket", p.histogram()),
            Signal::Cpu => CPU.into(),
            Signal::Memory => MEMORY.into(),
            Signal::DbPool => DB_POOL.into(),
            Signal::Restarts => RESTARTS.into(),
        }
    }
}

/// Labels that carry a response status in the meshes and exporters rollsim knows.
const STATUS_LABELS: [&str; 6] = ["status", "code", "response_code", "status_code", "http_status", "status_class"];

/// The signal a metric name reads, by the profiles' names, then by naming
/// conventions; `None` when only `--bind` can tell.
pub fn signal_of(name: &str, explicit: &[(String, Signal)]) -> Option<(Signal, &'static str)> {
    if let Some((_, s)) = explicit.iter().find(|(n, _)| n == name) {
        return Some((*s, "--bind"));
    }
    for p in Profile::ALL {
        if name == p.requests() || name == format!("{}_count", p.histogram()) {
            return Some((Signal::Requests, "a profile's name"));
        }
        if name == format!("{}_bucket", p.histogram()) {
            return Some((Signal::LatencyBucket, "a profile's name"));
        }
    }
    let exact = [(CPU, Signal::Cpu), (MEMORY, Signal::Memory), (DB_POOL, Signal::DbPool), (RESTARTS, Signal::Restarts)];
    if let Some((_, s)) = exact.iter().find(|(n, _)| *n == name) {
        return Some((*s, "a profile's name"));
    }
    if name.ends_with("_requests_total") || name.ends_with("_requests") || name.ends_with("_count") {
        return Some((Signal::Requests, "the naming convention *_requests_total / *_count"));
    }
    if name.ends_with("_bucket") {
        return Some((Signal::LatencyBucket, "the naming convention *_bucket"));
    }
    None
}

/// True when a histogram's name says its `le` bounds are in seconds.
fn seconds_name(name: &str) -> bool {
    name.contains("seconds")
}

/// The profile a query's metric names come from, if any.
pub fn profile_of(text: &str) -> Option<Profile> {
    let expr = parser::parse(text).ok()?;
    let mut found = None;
    visit(&mut expr.clone(), &mut |vs| {
        if found.is_none() {
            let name = vs.name.clone().unwrap_or_default();
            found = Profile::ALL
                .into_iter()
                .filter(|p| *p != Profile::Generic)
                .find(|p| name == p.requests() || name.starts_with(p.histogram()));
        }
        Ok(())
    })
    .ok()?;
    found
}

/// What binding did, for the import report.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    pub text: String,
    pub notes: Vec<String>,
}

fn matcher(op: &MatchOp, name: &str, value: &str) -> Result<Matcher, String> {
    // A matcher with the parser's own regex, by parsing it.
    let sym = op.to_string();
    let text = format!("x{{{name}{sym}{}}}", serde_json_escape(value));
    match parser::parse(&text) {
        Ok(Expr::VectorSelector(vs)) => vs
            .matchers
            .matchers
            .into_iter()
            .find(|m| m.name == name)
            .ok_or_else(|| "internal: matcher lost".to_string()),
        Ok(_) => Err("internal: not a selector".into()),
        Err(e) => Err(format!("{name}{sym}{value:?}: {e}")),
    }
}

fn serde_json_escape(v: &str) -> String {
    let mut o = String::from("\"");
    for c in v.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn show(name: &str, ms: &[Matcher]) -> String {
    let inner: Vec<String> = ms.iter().map(|m| format!("{}{}{}", m.name, m.op, serde_json_escape(&m.value))).collect();
    format!("{name}{{{}}}", inner.join(","))
}

/// Rewrites every selector of `text` for `profile`; `explicit` are `--bind`
/// pairs. Errors name the selector that cannot be bound.
pub fn bind(text: &str, profile: Profile, explicit: &[(String, Signal)]) -> Result<Bound, String> {
    let mut expr = parser::parse(text).map_err(|e| format!("not valid PromQL: {e}"))?;
    let mut notes = Vec::new();
    visit(&mut expr, &mut |vs| {
        let Some(name) = vs.name.clone() else {
            return Err("a selector without a metric name cannot be bound; name the metric".into());
        };
        let Some((signal, how)) = signal_of(&name, explicit) else {
            return Err(format!(
                "cannot bind `{name}` to a simulated signal; name it with --bind '{name}=SIGNAL' (SIGNAL: {})",
                Signal::NAMES
            ));
        };
        let old: Vec<Matcher> = vs.matchers.matchers.iter().filter(|m| m.name != "__name__").cloned().collect();
        let stable = old.iter().any(|m| {
            !STATUS_LABELS.contains(&m.name.as_str()) && (m.value.contains("stable") || m.value.contains("primary"))
        });
        let mut kept = Vec::new();
        let mut dropped = Vec::new();
        for m in &old {
            let n = m.name.as_str();
            if n == "le" {
                if signal == Signal::LatencyBucket && seconds_name(&name) != profile.seconds() {
                    notes.push(format!(
                        "`le` of `{name}` is in {} but the {} profile's histogram is in {}: bucket bounds and latency thresholds must be converted",
                        if seconds_name(&name) { "seconds" } else { "milliseconds" },
                        profile.name(),
                        if profile.seconds() { "seconds" } else { "milliseconds" }
                    ));
                }
                kept.push(m.clone());
            } else if STATUS_LABELS.contains(&n) && signal == Signal::Requests {
                let target = profile.status_labels(true).last().map_or("code", |l| l.0);
                kept.push(matcher(&m.op, target, &m.value)?);
            } else if n == "classification" && signal == Signal::Requests {
                if profile == Profile::Linkerd {
                    kept.push(m.clone());
                } else {
                    // Linkerd's classification as a status match.
                    let target = profile.status_labels(true).last().map_or("code", |l| l.0);
                    let failure = m.value == "failure";
                    let op = match (&m.op, failure) {
                        (MatchOp::Equal, true) | (MatchOp::NotEqual, false) => "=~",
                        _ => "!~",
                    };
                    let op = if op == "=~" { matcher_op_re(true) } else { matcher_op_re(false) };
                    kept.push(matcher(&op, target, "5..")?);
                }
            } else if n == "canary" && profile == Profile::Nginx {
                kept.push(m.clone());
            } else {
                dropped.push(m.clone());
            }
        }
        for (k, v) in profile.version_labels(!stable) {
            if !kept.iter().any(|m| m.name == k) {
                kept.push(matcher(&MatchOp::Equal, k, v)?);
            }
        }
        if profile == Profile::Nginx && stable && !kept.iter().any(|m| m.name == "canary") {
            kept.push(matcher(&MatchOp::Equal, "canary", "")?);
        }
        let new_name = signal.series(profile);
        let before = show(&name, &old);
        let after = show(&new_name, &kept);
        if before != after {
            notes.push(format!(
                "`{before}` → `{after}` ({} series, bound by {how}; {})",
                if stable { "stable" } else { "candidate" },
                if dropped.is_empty() {
                    "no matcher dropped".to_string()
                } else {
                    format!("identity matchers replaced: {}", show("", &dropped))
                }
            ));
        }
        // Printed and parsed again by the scenario: the name before the braces.
        vs.name = Some(new_name);
        vs.matchers = Matchers::new(kept);
        Ok(())
    })?;
    notes.dedup();
    Ok(Bound { text: expr.to_string(), notes })
}

fn matcher_op_re(positive: bool) -> MatchOp {
    // A regex op, taken from a parsed matcher (the op carries the compiled regex).
    let text = if positive { "x{a=~\"5..\"}" } else { "x{a!~\"5..\"}" };
    match parser::parse(text) {
        Ok(Expr::VectorSelector(vs)) => vs.matchers.matchers[0].op.clone(),
        _ => MatchOp::Equal,
    }
}

/// Calls `f` on every vector selector (inside range selectors too).
fn visit(e: &mut Expr, f: &mut dyn FnMut(&mut parser::VectorSelector) -> Result<(), String>) -> Result<(), String> {
    match e {
        Expr::Aggregate(a) => {
            visit(&mut a.expr, f)?;
            if let Some(p) = a.param.as_mut() {
                visit(p, f)?;
            }
        }
        Expr::Unary(u) => visit(&mut u.expr, f)?,
        Expr::Binary(b) => {
            visit(&mut b.lhs, f)?;
            visit(&mut b.rhs, f)?;
        }
        Expr::Paren(p) => visit(&mut p.expr, f)?,
        Expr::Subquery(s) => visit(&mut s.expr, f)?,
        Expr::VectorSelector(vs) => f(vs)?,
        Expr::MatrixSelector(ms) => f(&mut ms.vs)?,
        Expr::Call(c) => {
            for a in c.args.args.iter_mut() {
                visit(a, f)?;
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn istio_template_binds_to_the_candidate_and_keeps_status() {
        let q = r#"sum(irate(istio_requests_total{reporter="source",destination_service=~"canary.default.svc.cluster.local",response_code!~"5.*"}[40s]))"#;
        let b = bind(q, Profile::Istio, &[]).unwrap();
        assert!(b.text.contains(r#"response_code!~"5.*""#), "{}", b.text);
        assert!(b.text.contains(r#"destination_workload="app""#), "{}", b.text);
        assert!(b.text.contains(r#"reporter="destination""#), "{}", b.text);
        assert!(!b.text.contains("destination_service"), "{}", b.text);
        super::super::parse(&b.text).unwrap();
    }

    #[test]
    fn stable_names_bind_to_the_stable_group_and_unknown_names_ask_for_bind() {
        let b = bind(r#"sum(rate(http_requests_total{service="app-stable"}[1m]))"#, Profile::Generic, &[]).unwrap();
        assert!(b.text.contains(r#"version="stable""#), "{}", b.text);
        let e = bind("sum(rate(container_cpu_usage_seconds_total[1m]))", Profile::Generic, &[]).unwrap_err();
        assert!(e.contains("--bind 'container_cpu_usage_seconds_total=SIGNAL'"), "{e}");
        let b = bind(
            "max(container_cpu_usage_seconds_total)",
            Profile::Generic,
            &[("container_cpu_usage_seconds_total".into(), Signal::Cpu)],
        )
        .unwrap();
        assert!(b.text.contains(CPU), "{}", b.text);
    }

    #[test]
    fn status_labels_move_to_the_profile_and_nginx_keeps_canary() {
        let b = bind(r#"sum(rate(scores_api_requests_total{status="200"}[1m]))"#, Profile::Istio, &[]).unwrap();
        assert!(b.text.contains(r#"response_code="200""#), "{}", b.text);
        let b = bind(
            r#"sum(rate(nginx_ingress_controller_requests{namespace="test",ingress="podinfo",canary!="",status!~"5.*"}[1m]))"#,
            Profile::Nginx,
            &[],
        )
        .unwrap();
        assert!(b.text.contains(r#"canary!="""#) && b.text.contains(r#"ingress="app""#), "{}", b.text);
        let b = bind(r#"sum(rate(response_total{classification!="failure"}[1m]))"#, Profile::Generic, &[]).unwrap();
        assert!(b.text.contains(r#"code!~"5..""#), "{}", b.text);
    }
}
