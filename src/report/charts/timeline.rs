//! A single-trial timeline: traffic weight, candidate error rate and p99
//! against their limits, with decisions and alerts marked.

use super::*;
use crate::engine::{DecisionKind, EngineEvent, Limit, Metric};
use crate::scenario::Scenario;
use crate::sim::{Trace, TrialRecord};

type Series = Vec<(f64, f64)>;

pub struct Timeline<'a> {
    pub scenario: &'a Scenario,
    pub record: &'a TrialRecord,
    pub trace: &'a Trace,
    /// Why this trial was chosen ("slowest detection", ...).
    pub why: String,
    pub stem: String,
}

const RED: RGBColor = RGBColor(214, 39, 40);
const GREEN: RGBColor = RGBColor(44, 160, 44);
const GREY: RGBColor = RGBColor(127, 127, 127);
const PURPLE: RGBColor = RGBColor(148, 103, 189);
const ORANGE: RGBColor = RGBColor(255, 127, 14);

/// The rule that decided the rollback, as the engine saw it: its name, the
/// values it measured (hours, value in axis units), its limit at each
/// evaluation, and the axis unit.
struct Deciding {
    name: String,
    values: Series,
    limits: Series,
    unit: &'static str,
    scale: f64,
}

fn unit_of(m: Metric) -> (&'static str, f64) {
    match m.unit() {
        crate::engine::Unit::Fraction => ("%", 100.0),
        crate::engine::Unit::Millis => ("ms", 1.0),
        crate::engine::Unit::Number => ("", 1.0),
    }
}

impl Timeline<'_> {
    /// Phase spans in hours: (phase, start, end).
    fn spans(&self, horizon: f64) -> Vec<(usize, f64, f64)> {
        let starts: Vec<(usize, f64)> = self
            .trace
            .engine
            .iter()
            .filter_map(|e| match e {
                EngineEvent::PhaseStarted { at, phase } => Some((*phase, at.hours())),
                _ => None,
            })
            .collect();
        starts.iter().enumerate().map(|(k, &(p, s))| (p, s, starts.get(k + 1).map_or(horizon, |n| n.1))).collect()
    }

    /// Each phase's absolute limit on `metric` (all classes) as a step, one segment per phase.
    fn limit_steps(&self, spans: &[(usize, f64, f64)], metric: Metric, scale: f64) -> Vec<Series> {
        spans
            .iter()
            .filter_map(|&(p, s, e)| {
                let g =
                    self.scenario.policy.phases[p].gates.iter().find(|g| g.metric == metric && g.class.is_none())?;
                match g.limit {
                    Limit::Absolute(v) => Some(vec![(s, v * scale), (e, v * scale)]),
                    _ => None,
                }
            })
            .collect()
    }

    fn deciding(&self) -> Option<Deciding> {
        use crate::engine::Cause;
        let p = &self.scenario.policy;
        match self.record.rollback_cause? {
            Cause::GateFailed { phase, gate }
            | Cause::GateErrored { phase, gate }
            | Cause::GateInconclusive { phase, gate } => {
                let g = &p.phases[phase].gates[gate];
                let (unit, scale) = unit_of(g.metric);
                let mut values = Vec::new();
                let mut limits = Vec::new();
                for e in &self.trace.engine {
                    if let EngineEvent::Check { at, phase: ph, gate: gt, value, limit, .. } = *e {
                        if (ph, gt) == (phase, gate) {
                            if let Some(v) = value {
                                values.push((at.hours(), v * scale));
                            }
                            if let Some(l) = limit {
                                limits.push((at.hours(), l * scale));
                            }
                        }
                    }
                }
                let class = g
                    .class
                    .map(|c| format!(", class {}", self.scenario.traffic.classes[c as usize].name))
                    .unwrap_or_default();
                let name = format!(
                    "gate {}/{} ({}{class}, {} {})",
                    p.phases[phase].name,
                    g.name,
                    g.metric,
                    g.group.name(),
                    g.op.symbol()
                );
                Some(Deciding { name, values, limits, unit, scale })
            }
            Cause::Trigger(i) => {
                let t = &p.triggers[i];
                let (unit, scale) = unit_of(t.condition.query.metric);
                let values: Series = self
                    .trace
                    .engine
                    .iter()
                    .filter_map(|e| match *e {
                        EngineEvent::TriggerEvaluated { at, trigger, value: Some(v), .. } if trigger == i => {
                            Some((at.hours(), v * scale))
                        }
                        _ => None,
                    })
                    .collect();
                let limits = values.iter().map(|&(x, _)| (x, t.condition.threshold * scale)).collect();
                let name = format!(
                    "trigger {} ({} over {}, {})",
                    t.name,
                    t.condition.query.metric,
                    t.condition.query.window,
                    t.condition.op.symbol()
                );
                Some(Deciding { name, values, limits, unit, scale })
            }
            _ => None,
        }
    }
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
    fn size(&self) -> (u32, u32) {
        (1000, 900)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let ticks = &self.trace.ticks;
        let horizon = ticks.last().map_or(1.0, |t| t.t.hours()).max(0.1);
        let root = root.titled(&self.title(), (FONT, 18)).map_err(err)?;
        let deciding = self.deciding();
        let rows = if deciding.is_some() { 4 } else { 3 };
        let panels = root.split_evenly((rows, 1));
        let marks: Vec<(f64, RGBColor)> = self
            .trace
            .engine
            .iter()
            .filter_map(|e| match e {
                EngineEvent::Decision(d) => Some((
                    d.at.hours(),
                    match d.kind {
                        DecisionKind::Rollback => RED,
                        DecisionKind::RollbackComplete => RGBColor(140, 86, 75),
                        _ => GREEN,
                    },
                )),
                EngineEvent::Alert { at, transition: crate::engine::AlertTransition::Firing, .. } => {
                    Some((at.hours(), ORANGE))
                }
                _ => None,
            })
            .collect();
        let onset = self.record.onset.hours();
        let spans = self.spans(horizon);
        let rate = |e: u64, n: u64| (n > 0).then(|| 100.0 * e as f64 / n as f64);
        let weight: Series = ticks.iter().map(|t| (t.t.hours(), t.weight * 100.0)).collect();
        let cand_err: Series = ticks
            .iter()
            .filter_map(|t| rate(t.candidate_errors, t.candidate_requests).map(|v| (t.t.hours(), v)))
            .collect();
        let stable_err: Series =
            ticks.iter().filter_map(|t| rate(t.stable_errors, t.stable_requests).map(|v| (t.t.hours(), v))).collect();
        let p99: Series = ticks.iter().filter_map(|t| t.candidate_p99_ms.map(|v| (t.t.hours(), v))).collect();
        let trigger = |m: Metric, scale: f64| {
            self.scenario
                .policy
                .triggers
                .iter()
                .find(|t| t.condition.query.metric == m)
                .map(|t| t.condition.threshold * scale)
        };
        struct Panel<'s> {
            caption: String,
            unit: &'static str,
            lines: Vec<(&'s Series, RGBColor)>,
            steps: Vec<Series>,
            flat: Option<f64>,
            x: (f64, f64),
            dots: bool,
        }
        let mut specs = vec![
            Panel {
                caption: "candidate traffic (%); decisions: green promote, red rollback; orange: alert firing; purple: fault onset".into(),
                unit: "%",
                lines: vec![(&weight, color(0))],
                steps: vec![],
                flat: None,
                x: (0.0, horizon),
                dots: false,
            },
            Panel {
                caption: "error rate per minute (%): candidate blue, stable grey; red steps: each phase's gate limit; purple: rollback trigger".into(),
                unit: "%",
                lines: vec![(&stable_err, GREY), (&cand_err, color(0))],
                steps: self.limit_steps(&spans, Metric::ErrorRate, 100.0),
                flat: trigger(Metric::ErrorRate, 100.0),
                x: (0.0, horizon),
                dots: false,
            },
            Panel {
                caption: "candidate p99 latency per minute (ms); red steps: each phase's gate limit; purple: rollback trigger".into(),
                unit: "ms",
                lines: vec![(&p99, color(0))],
                steps: self.limit_steps(&spans, Metric::LatencyP99, 1.0),
                flat: trigger(Metric::LatencyP99, 1.0),
                x: (0.0, horizon),
                dots: false,
            },
        ];
        let decided_at = self.record.rollback_at.map_or(horizon, |t| t.hours());
        if let Some(d) = &deciding {
            // Zoom: the decision's phase (at most 6 h of it) to 15 minutes after.
            let phase_start = spans.iter().rev().find(|s| s.1 <= decided_at).map_or(0.0, |s| s.1);
            let from = phase_start.max(decided_at - 6.0).max(0.0);
            let to = (decided_at + 0.25).min(horizon.max(decided_at + 0.25));
            specs.push(Panel {
                caption: format!("zoom on the deciding rule: {} — measured (blue) against its limit (red)", d.name),
                unit: d.unit,
                lines: vec![(&d.values, color(0)), (&d.limits, RED)],
                steps: vec![],
                flat: None,
                x: (from, to.max(from + 0.1)),
                dots: true,
            });
            let _ = d.scale;
        }
        for (i, (area, p)) in panels.iter().zip(specs.iter()).enumerate() {
            let (x0, x1) = p.x;
            let visible =
                |s: &Series| s.iter().filter(move |q| q.0 >= x0 && q.0 <= x1).map(|q| q.1).collect::<Vec<_>>();
            let top = p
                .lines
                .iter()
                .flat_map(|(s, _)| visible(s))
                .chain(p.steps.iter().flat_map(|s| s.iter().map(|q| q.1)))
                .chain(p.flat)
                .fold(0.0f64, f64::max)
                .max(if p.unit == "%" { 0.5 } else { 1.0 })
                * 1.12;
            let last = i == specs.len() - 1;
            let mut chart = ChartBuilder::on(area)
                .caption(&p.caption, (FONT, 13))
                .margin(6)
                .x_label_area_size(if last || p.dots { 32 } else { 18 })
                .y_label_area_size(55)
                .build_cartesian_2d(x0..x1, 0.0..top)
                .map_err(err)?;
            chart
                .configure_mesh()
                .y_labels(4)
                .y_label_formatter(&|v| {
                    // Small spans (a success ratio near 1) get the decimals they need.
                    if top < 10.0 {
                        let decimals = ((40.0 / top).log10().ceil().max(1.0)) as usize;
                        format!(
                            "{}{}",
                            crate::units::trim_float(format!("{v:.decimals$}").parse().unwrap_or(*v)),
                            p.unit
                        )
                    } else {
                        format!("{}{}", crate::units::format_count(*v, 1e6), p.unit)
                    }
                })
                .x_desc(if last { "hours since the rollout started" } else { "" })
                .label_style((FONT, 12))
                .draw()
                .map_err(err)?;
            for (s, c) in &p.lines {
                let pts: Series = s.iter().copied().filter(|q| q.0 >= x0 && q.0 <= x1).collect();
                if p.dots {
                    chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(1))).map_err(err)?;
                    chart.draw_series(pts.iter().map(|&q| Circle::new(q, 3, c.filled()))).map_err(err)?;
                } else {
                    chart.draw_series(LineSeries::new(pts, c.stroke_width(1))).map_err(err)?;
                }
            }
            for step in &p.steps {
                chart.draw_series(LineSeries::new(step.clone(), RED.stroke_width(2))).map_err(err)?;
            }
            if let Some(y) = p.flat {
                chart
                    .draw_series(DashedLineSeries::new(vec![(x0, y), (x1, y)], 6, 4, PURPLE.stroke_width(1)))
                    .map_err(err)?;
            }
            for &(x, mc) in marks.iter().filter(|m| m.0 >= x0 && m.0 <= x1) {
                chart.draw_series(LineSeries::new(vec![(x, 0.0), (x, top)], mc.stroke_width(2))).map_err(err)?;
            }
            if onset >= x0 && onset < x1 {
                chart
                    .draw_series(LineSeries::new(vec![(onset, 0.0), (onset, top)], PURPLE.stroke_width(1)))
                    .map_err(err)?;
            }
        }
        Ok(())
    }
}
