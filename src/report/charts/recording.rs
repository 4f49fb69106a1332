//! The replay timeline: recorded series against the rules that read them.

use super::{color, err, legend, Chart, FONT};
use crate::engine::{Group, Metric};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::BTreeMap;

/// A rule drawn on the recording: its threshold and when it fired (hours).
pub struct RuleLine {
    pub name: String,
    pub metric: Metric,
    pub group: Group,
    pub threshold: f64,
    pub episodes_h: Vec<(f64, f64)>,
}

/// A gate that failed on the recording: its limit at each check and the
/// measured value of each failed check (hours, metric units).
pub struct GateLine {
    pub name: String,
    pub metric: Metric,
    pub group: Group,
    pub limits_h: Vec<(f64, f64)>,
    pub failed_h: Vec<(f64, f64)>,
}

/// Recorded series (at most three panels) against the rules that read them,
/// labelled incident windows shaded, the policy's decisions as vertical lines.
pub struct RecordingTimeline<'a> {
    pub title: String,
    pub end_h: f64,
    pub series: &'a BTreeMap<(Metric, Group), Vec<(u64, f64)>>,
    pub rules: Vec<RuleLine>,
    /// Gates with at least one failed check.
    pub gates: Vec<GateLine>,
    pub windows_h: Vec<(f64, f64)>,
    /// (hours, true for a rollback decision).
    pub decisions_h: Vec<(f64, bool)>,
}

impl Chart for RecordingTimeline<'_> {
    fn stem(&self) -> String {
        "replay_timeline".into()
    }
    fn title(&self) -> String {
        self.title.clone()
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let keys: Vec<_> = self.series.keys().copied().take(3).collect();
        let root = root.titled(&self.title(), (FONT, 18)).map_err(err)?;
        let panels = root.split_evenly((keys.len().max(1), 1));
        let hours = self.end_h.max(0.1);
        for (area, key) in panels.iter().zip(&keys) {
            let s = &self.series[key];
            // A rule is drawn on the panel of the series it reads: its metric and group.
            let rules: Vec<_> = self.rules.iter().filter(|a| (a.metric, a.group) == *key).collect();
            let top =
                s.iter().map(|p| p.1).chain(rules.iter().map(|a| a.threshold)).fold(f64::MIN_POSITIVE, f64::max) * 1.1;
            let bottom = s.iter().map(|p| p.1).fold(0.0f64, f64::min);
            let mut chart = ChartBuilder::on(area)
                .margin(8)
                .x_label_area_size(35)
                .y_label_area_size(60)
                .build_cartesian_2d(0.0..hours, bottom..top)
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc("hours since the recording started")
                .y_desc(format!("{} ({})", key.0.name(), key.1.name()))
                .y_label_formatter(&|v| match key.0.unit() {
                    // Thresholds are written in %, so the axis is too, with as many
                    // decimals as the axis' span needs (0.1% must not read 0%).
                    crate::engine::Unit::Fraction => {
                        let span = (top - bottom) * 100.0;
                        let d = if span >= 5.0 {
                            0
                        } else if span >= 0.5 {
                            1
                        } else if span >= 0.05 {
                            2
                        } else {
                            3
                        };
                        format!("{:.d$}%", v * 100.0)
                    }
                    crate::engine::Unit::Millis => format!("{v:.0}ms"),
                    crate::engine::Unit::Number => crate::units::format_count(*v, 1e5),
                })
                .label_style((FONT, 12))
                .draw()
                .map_err(err)?;
            let shade = RGBColor(255, 200, 200);
            for (i, w) in self.windows_h.iter().enumerate() {
                let rect = Rectangle::new([(w.0, bottom), (w.1, top)], shade.mix(0.6).filled());
                let series = chart.draw_series(std::iter::once(rect)).map_err(err)?;
                if i == 0 {
                    series
                        .label("labelled incident window")
                        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], shade.filled()));
                }
            }
            let c = color(0);
            chart
                .draw_series(LineSeries::new(s.iter().map(|p| (p.0 as f64 / 3600.0, p.1)), c.stroke_width(1)))
                .map_err(err)?
                .label(format!("recorded {}", key.0.name()))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c));
            for (k, a) in rules.iter().enumerate() {
                // Not red (3): red marks rollbacks.
                let lc = color(4 + k);
                let line = vec![(0.0, a.threshold), (hours, a.threshold)];
                // Triggers solid, alert rules dashed: two rules at one level stay apart.
                let drawn = if a.name.starts_with("alert:") {
                    chart.draw_series(DashedLineSeries::new(line, 6, 4, lc.stroke_width(2))).map_err(err)?
                } else {
                    chart.draw_series(LineSeries::new(line, lc.stroke_width(1))).map_err(err)?
                };
                drawn
                    .label(format!("{} threshold", a.name))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], lc));
                let marks = a.episodes_h.iter().map(|e| {
                    Rectangle::new(
                        [(e.0, bottom), (e.1.max(e.0 + hours / 400.0), bottom + (top - bottom) * 0.04)],
                        lc.filled(),
                    )
                });
                chart.draw_series(marks).map_err(err)?;
            }
            // Gates that failed: their limit at each check (dotted) and each failed check (×).
            for (k, g) in self.gates.iter().filter(|g| (g.metric, g.group) == *key).enumerate() {
                let gc = color(8 + k);
                chart
                    .draw_series(DashedLineSeries::new(g.limits_h.clone(), 2, 3, gc.stroke_width(2)))
                    .map_err(err)?
                    .label(format!("{} limit ({} failed checks ×)", g.name, g.failed_h.len()))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], gc.stroke_width(2)));
                chart.draw_series(g.failed_h.iter().map(|&p| Cross::new(p, 4, gc.stroke_width(2)))).map_err(err)?;
            }
            // The policy's decisions as vertical lines: rollbacks red, others green.
            let (go, back) = (RGBColor(44, 160, 44), RGBColor(214, 39, 40));
            let mut labelled = [false, false];
            for &(x, rollback) in &self.decisions_h {
                let dc = if rollback { back } else { go };
                let line =
                    chart.draw_series(LineSeries::new(vec![(x, bottom), (x, top)], dc.stroke_width(2))).map_err(err)?;
                if !labelled[rollback as usize] {
                    labelled[rollback as usize] = true;
                    line.label(if rollback { "rollback decision" } else { "promotion decision" })
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], dc.stroke_width(2)));
                }
            }
            legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        }
        Ok(())
    }
}
