//! A single-trial timeline: traffic weight, candidate error rate and p99
//! against their limits, with decisions and alerts marked.

use super::*;
use crate::engine::{DecisionKind, EngineEvent, Limit, Metric};
use crate::scenario::Scenario;
use crate::sim::{Trace, TrialRecord};

type Series = Vec<(f64, f64)>;
/// One panel: y label, series, limit lines (name, value), and the scale from value to axis units.
type Panel<'s> = (&'static str, &'s Series, Vec<(String, f64)>, f64);

pub struct Timeline<'a> {
    pub scenario: &'a Scenario,
    pub record: &'a TrialRecord,
    pub trace: &'a Trace,
    /// Why this trial was chosen ("slowest detection", ...).
    pub why: String,
    pub stem: String,
}

/// The lowest absolute limit on `metric` for the candidate among gates and triggers.
fn limits(sc: &Scenario, metric: Metric) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    if let Some(g) = sc.policy.phases[0].gates.iter().find(|g| g.metric == metric && g.class.is_none()) {
        if let Limit::Absolute(v) = g.limit {
            out.push((format!("gate {} ({})", g.name, sc.policy.phases[0].name), v));
        }
    }
    for t in sc.policy.triggers.iter().filter(|t| t.condition.query.metric == metric) {
        out.push((format!("trigger {}", t.name), t.condition.threshold));
    }
    out
}

impl Chart for Timeline<'_> {
    fn stem(&self) -> String {
        self.stem.clone()
    }
    fn title(&self) -> String {
        let r = self.record;
        format!(
            "Trial {} ({}, {}): {} — {} at {}",
            r.trial,
            self.scenario.faults[r.fault].name,
            self.why,
            if r.bad { "bad" } else { "good" },
            r.outcome.name(),
            r.end
        )
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let ticks = &self.trace.ticks;
        let horizon = ticks.last().map_or(1.0, |t| t.t.hours()).max(0.1);
        let root = root.titled(&self.title(), (FONT, 18)).map_err(err)?;
        let panels = root.split_evenly((3, 1));
        let marks: Vec<(f64, RGBColor)> = self
            .trace
            .engine
            .iter()
            .filter_map(|e| match e {
                EngineEvent::Decision(d) => Some((
                    d.at.hours(),
                    match d.kind {
                        DecisionKind::Rollback => RGBColor(214, 39, 40),
                        DecisionKind::RollbackComplete => RGBColor(140, 86, 75),
                        _ => RGBColor(44, 160, 44),
                    },
                )),
                EngineEvent::Alert { at, transition: crate::engine::AlertTransition::Firing, .. } => {
                    Some((at.hours(), RGBColor(255, 127, 14)))
                }
                _ => None,
            })
            .collect();
        let onset = self.record.onset.hours();
        let weight: Series = ticks.iter().map(|t| (t.t.hours(), t.weight * 100.0)).collect();
        let errors: Series = ticks
            .iter()
            .filter(|t| t.candidate_requests > 0)
            .map(|t| (t.t.hours(), 100.0 * t.candidate_errors as f64 / t.candidate_requests as f64))
            .collect();
        let p99: Series = ticks.iter().filter_map(|t| t.candidate_p99_ms.map(|v| (t.t.hours(), v))).collect();
        let panels_spec: [Panel; 3] = [
            ("candidate traffic (%)", &weight, vec![], 1.0),
            ("candidate error rate per minute (%)", &errors, limits(self.scenario, Metric::ErrorRate), 100.0),
            ("candidate p99 per minute (ms)", &p99, limits(self.scenario, Metric::LatencyP99), 1.0),
        ];
        for (i, (area, (label, series, lims, scale))) in panels.iter().zip(panels_spec.iter()).enumerate() {
            let top = series.iter().map(|p| p.1).chain(lims.iter().map(|l| l.1 * scale)).fold(1.0f64, f64::max) * 1.1;
            let mut chart = ChartBuilder::on(area)
                .margin(8)
                .x_label_area_size(if i == 2 { 35 } else { 20 })
                .y_label_area_size(60)
                .build_cartesian_2d(0.0..horizon, 0.0..top)
                .map_err(err)?;
            chart
                .configure_mesh()
                .y_desc(*label)
                .x_desc(if i == 2 { "hours since the rollout started" } else { "" })
                .label_style((FONT, 12))
                .draw()
                .map_err(err)?;
            let c = color(0);
            chart
                .draw_series(LineSeries::new(series.iter().copied(), c.stroke_width(1)))
                .map_err(err)?
                .label(label.to_string())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c));
            for (k, (name, v)) in lims.iter().enumerate() {
                let lc = color(3 + k);
                let y = v * scale;
                chart
                    .draw_series(LineSeries::new(vec![(0.0, y), (horizon, y)], lc.stroke_width(1)))
                    .map_err(err)?
                    .label(name.clone())
                    .legend(move |(x, yy)| PathElement::new(vec![(x, yy), (x + 20, yy)], lc));
            }
            for &(x, mc) in &marks {
                chart.draw_series(LineSeries::new(vec![(x, 0.0), (x, top)], mc.stroke_width(2))).map_err(err)?;
            }
            if onset < horizon {
                let oc = RGBColor(148, 103, 189);
                chart
                    .draw_series(LineSeries::new(vec![(onset, 0.0), (onset, top)], oc.stroke_width(1)))
                    .map_err(err)?
                    .label(if i == 0 { "fault onset; decisions green/red; alerts orange" } else { "fault onset" })
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], oc));
            }
            legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        }
        Ok(())
    }
}
