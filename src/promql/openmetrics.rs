//! The OpenMetrics text format with timestamps, as `promtool tsdb
//! create-blocks-from openmetrics` reads it: one family after another, each
//! with `# TYPE` and `# HELP`, each series' samples in time order, `# EOF`.

use super::{Labels, NAME};
use std::io::{self, Write};

/// One series to write: labels (with `__name__`), whether it is a gauge, points.
pub struct Exposed<'a> {
    pub labels: &'a Labels,
    pub gauge: bool,
    pub points: &'a [(i64, f64)],
}

/// The family a sample name belongs to and its OpenMetrics type.
fn family(name: &str, gauge: bool) -> (&str, &'static str) {
    if gauge {
        return (name, "gauge");
    }
    if let Some(base) = name.strip_suffix("_bucket") {
        return (base, "histogram");
    }
    if let Some(base) = name.strip_suffix("_count") {
        return (base, "histogram");
    }
    match name.strip_suffix("_total") {
        Some(base) => (base, "counter"),
        // A counter named without `_total` (nginx's) cannot be an OpenMetrics counter.
        None => (name, "unknown"),
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Writes `series` (grouped by family, in the order first seen) and `# EOF`.
pub fn write(w: &mut dyn Write, series: &[Exposed]) -> io::Result<()> {
    let mut families: Vec<(&str, &'static str, Vec<&Exposed>)> = Vec::new();
    for s in series {
        let name = super::label(s.labels, NAME);
        let (fam, kind) = family(name, s.gauge);
        match families.iter_mut().find(|f| f.0 == fam) {
            Some(f) => f.2.push(s),
            None => families.push((fam, kind, vec![s])),
        }
    }
    for (fam, kind, members) in families {
        writeln!(w, "# TYPE {fam} {kind}")?;
        writeln!(w, "# HELP {fam} Simulated by rollsim.")?;
        for s in members {
            let name = super::label(s.labels, NAME);
            let ls: Vec<String> =
                s.labels.iter().filter(|(k, _)| k != NAME).map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
            let head = if ls.is_empty() { name.to_string() } else { format!("{name}{{{}}}", ls.join(",")) };
            for &(t, v) in s.points {
                writeln!(w, "{head} {} {}", super::format_value(v), super::format_timestamp(t))?;
            }
        }
    }
    writeln!(w, "# EOF")
}
