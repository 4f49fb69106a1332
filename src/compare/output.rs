//! Comparison outputs: Markdown for a CI step summary or a pull-request
//! comment, JSON for machines, JUnit XML so CI systems list each regression as
//! a failed test case.

use super::{Comparison, Delta, MetricId, Tolerance, Verdict};
use std::fmt::Write;

fn value(m: MetricId, v: f64) -> String {
    if v.is_infinite() {
        return "∞".into();
    }
    if v.is_nan() {
        return "—".into();
    }
    if m.is_share() {
        format!("{:.2}%", 100.0 * v)
    } else if matches!(m, MetricId::Duration | MetricId::FalseRollbackTime) {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    }
}

fn change(m: MetricId, v: f64) -> String {
    if v.is_nan() {
        return "—".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+∞".into() } else { "−∞".into() };
    }
    if m.is_share() {
        format!("{:+.2}pp", 100.0 * v)
    } else if matches!(m, MetricId::Duration | MetricId::FalseRollbackTime) {
        format!("{v:+.2}")
    } else {
        format!("{v:+.1}")
    }
}

pub fn tolerance_text(m: MetricId, t: Tolerance) -> String {
    match t {
        Tolerance::Relative(f) => format!("+{}%", f * 100.0),
        Tolerance::Absolute(a) if m.is_share() => format!("+{}pp", a * 100.0),
        Tolerance::Absolute(a) => format!("+{a}"),
    }
}

// The wording below says "< 10".
const _: () = assert!(super::MIN_TRIALS == 10);

fn mark(d: &Delta) -> &'static str {
    let within = |d: &Delta| d.tolerance.is_some_and(|t| !super::beyond(d.metric, d.change, d.base, t));
    match (d.verdict, d.regression) {
        (Verdict::Worse, true) => "❌ worse (regression)",
        (Verdict::Worse, false) if d.tolerance.is_none() => "⚠️ worse (no tolerance set)",
        (Verdict::Worse, false) if within(d) => "⚠️ worse (within tolerance)",
        (Verdict::Worse, false) => "⚠️ worse (not significant once corrected for the metrics tested)",
        (Verdict::Better, _) => "✅ better",
        (Verdict::TooFewTrials, _) => "too few trials (< 10 a side)",
        _ => "no significant change",
    }
}

/// The Markdown report.
pub fn markdown(c: &Comparison, base: &str, new: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# rollsim compare\n");
    let _ = writeln!(o, "Base: `{base}`  \nNew: `{new}`\n");
    let _ = writeln!(
        o,
        "{} comparison; changes are new − base with 95% bootstrap intervals ({} resamples). **{}**\n",
        if c.paired { "Paired (same trials)" } else { "Unpaired" },
        c.resamples,
        if c.regressed() { "Regression beyond tolerance." } else { "No regression beyond tolerance." }
    );
    let _ = writeln!(o, "| group | metric | base | new | change [95% CI] | verdict | tolerance |");
    let _ = writeln!(o, "|---|---|---:|---:|---:|---|---:|");
    for g in &c.groups {
        for d in &g.deltas {
            let tol = d.tolerance.map(|t| tolerance_text(d.metric, t)).unwrap_or_default();
            let _ = writeln!(
                o,
                "| {} (n={}/{}) | {} | {} | {} | {} [{}, {}] | {} | {} |",
                g.name,
                g.base_n,
                g.new_n,
                d.metric.label(),
                value(d.metric, d.base),
                value(d.metric, d.new),
                change(d.metric, d.change),
                change(d.metric, d.lo),
                change(d.metric, d.hi),
                mark(d),
                tol
            );
        }
    }
    let _ = writeln!(
        o,
        "\nRows with a tolerance decide the exit code: `all bad` and `good, noise only` by default, and any group named in `--fail-on METRIC[GROUP]:TOL`. A change is worse (or better) only when its estimate and whole interval lie on that side of zero, and only in a row with at least 10 trials on each side. A regression is worse beyond its tolerance on an interval corrected for the number of rows with a tolerance (Bonferroni), so two equally good policies fail a comparison in at most about 1 run in 20."
    );
    o
}

/// A number in the compare JSON: finite as is, ±∞ as `"inf"`/`"-inf"`, NaN as null.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Num {
    Finite(f64),
    Infinite(&'static str),
    Missing(Option<()>),
}

fn num(v: f64) -> Num {
    if v.is_finite() {
        Num::Finite(v)
    } else if v.is_nan() {
        Num::Missing(None)
    } else {
        Num::Infinite(if v > 0.0 { "inf" } else { "-inf" })
    }
}

/// One metric row of the compare JSON (fields in alphabetical order, as the
/// format has always had them).
#[derive(serde::Serialize)]
struct DeltaDoc {
    base: Num,
    change: Num,
    ci95: [Num; 2],
    ci_corrected: Option<[Num; 2]>,
    metric: &'static str,
    new: Num,
    regression: bool,
    tolerance: Option<String>,
    verdict: &'static str,
}

#[derive(serde::Serialize)]
struct GroupDoc<'a> {
    base_n: usize,
    metrics: Vec<DeltaDoc>,
    name: &'a str,
    new_n: usize,
    overall: bool,
}

/// The compare JSON (schema 1).
#[derive(serde::Serialize)]
struct ComparisonDoc<'a> {
    base: &'a str,
    groups: Vec<GroupDoc<'a>>,
    new: &'a str,
    paired: bool,
    regression: bool,
    resamples: usize,
    schema: u32,
    tolerances: std::collections::BTreeMap<String, String>,
}

/// The JSON report (schema 1).
pub fn json(c: &Comparison, base: &str, new: &str) -> String {
    let groups = c
        .groups
        .iter()
        .map(|g| GroupDoc {
            base_n: g.base_n,
            metrics: g
                .deltas
                .iter()
                .map(|d| DeltaDoc {
                    base: num(d.base),
                    change: num(d.change),
                    ci95: [num(d.lo), num(d.hi)],
                    ci_corrected: d.adjusted.map(|(lo, hi)| [num(lo), num(hi)]),
                    metric: d.metric.name(),
                    new: num(d.new),
                    regression: d.regression,
                    tolerance: d.tolerance.map(|t| tolerance_text(d.metric, t)),
                    verdict: d.verdict.name(),
                })
                .collect(),
            name: &g.name,
            new_n: g.new_n,
            overall: g.overall,
        })
        .collect();
    let v = ComparisonDoc {
        base,
        groups,
        new,
        paired: c.paired,
        regression: c.regressed(),
        resamples: c.resamples,
        schema: 1,
        tolerances: c.tolerances.iter().map(|(m, t)| (m.name(), tolerance_text(m.metric, *t))).collect(),
    };
    let mut s = serde_json::to_string_pretty(&v).expect("the comparison serialises");
    s.push('\n');
    s
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// JUnit XML: one test case per metric with a tolerance; a regression is a failure.
pub fn junit(c: &Comparison) -> String {
    let cases: Vec<(&str, &Delta)> = c
        .groups
        .iter()
        .flat_map(|g| g.deltas.iter().filter(|d| d.tolerance.is_some()).map(move |d| (g.name.as_str(), d)))
        .collect();
    let failures = cases.iter().filter(|(_, d)| d.regression).count();
    let skipped = cases.iter().filter(|(_, d)| d.verdict == Verdict::TooFewTrials).count();
    let mut o = String::new();
    let _ = writeln!(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    let _ = writeln!(
        o,
        "<testsuites name=\"rollsim compare\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\">",
        cases.len()
    );
    let _ = writeln!(
        o,
        "  <testsuite name=\"rollsim compare\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\">",
        cases.len()
    );
    for (group, d) in cases {
        let name = xml(&format!("{group}: {}", d.metric.label()));
        if d.regression {
            let msg = xml(&format!(
                "{} went from {} to {} ({} [{}, {}])",
                d.metric.label(),
                value(d.metric, d.base),
                value(d.metric, d.new),
                change(d.metric, d.change),
                change(d.metric, d.lo),
                change(d.metric, d.hi)
            ));
            let _ = writeln!(o, "    <testcase classname=\"rollsim.compare\" name=\"{name}\">");
            let _ = writeln!(o, "      <failure message=\"{msg}\">{msg}</failure>");
            let _ = writeln!(o, "    </testcase>");
        } else if d.verdict == Verdict::TooFewTrials {
            let _ = writeln!(o, "    <testcase classname=\"rollsim.compare\" name=\"{name}\">");
            let _ = writeln!(o, "      <skipped message=\"{}\"/>", xml(mark(d)));
            let _ = writeln!(o, "    </testcase>");
        } else {
            let _ = writeln!(o, "    <testcase classname=\"rollsim.compare\" name=\"{name}\"/>");
        }
    }
    let _ = writeln!(o, "  </testsuite>\n</testsuites>");
    o
}
