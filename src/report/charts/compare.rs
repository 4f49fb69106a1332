//! Comparison charts: the two detection-time CDFs and the two spread charts overlaid.

use super::spread::{horizon, spread_shares};
use super::*;
use crate::rows::Row;

/// Sorted detection times (hours) of the bad versions in `rows`, and their count.
fn detections(rows: &[Row]) -> (Vec<f64>, usize) {
    let bad: Vec<&Row> = rows.iter().filter(|r| r.bad).collect();
    let mut t: Vec<f64> = bad.iter().filter_map(|r| r.detection_min.map(|m| m / 60.0)).collect();
    t.sort_by(f64::total_cmp);
    (t, bad.len())
}

pub struct DetectionCompare<'a> {
    pub base: &'a [Row],
    pub new: &'a [Row],
}

impl Chart for DetectionCompare<'_> {
    fn stem(&self) -> String {
        "compare_detection_cdf".into()
    }
    fn title(&self) -> String {
        "Does the new policy catch bad versions sooner? (fraction detected by time since onset)".into()
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let (b, nb) = detections(self.base);
        let (n, nn) = detections(self.new);
        let h = b.iter().chain(&n).copied().fold(1.0f64, f64::max).ceil() + 1.0;
        let mut chart = axes(
            root,
            &self.title(),
            0.0..h,
            0.0..1.0,
            ("hours since fault onset", "fraction of bad versions detected"),
        )?;
        for (times, count, label, c) in [(b, nb, "base", color(0)), (n, nn, "new", color(1))] {
            chart
                .draw_series(LineSeries::new(step_cdf(&times, count, h), c.stroke_width(2)))
                .map_err(err)?
                .label(format!("{label} (n={count})"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    }
}

pub struct SpreadCompare<'a> {
    pub base: &'a [Row],
    pub new: &'a [Row],
    pub stages: Vec<String>,
}

impl Chart for SpreadCompare<'_> {
    fn stem(&self) -> String {
        "compare_spread".into()
    }
    fn title(&self) -> String {
        "Where are bad versions over time? base (solid) vs new (thin)".into()
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let phases = self.stages.len();
        let h = horizon(self.base).max(horizon(self.new));
        let (times, b) = spread_shares(self.base, phases, h);
        let (_, n) = spread_shares(self.new, phases, h);
        let mut chart = axes(
            root,
            &self.title(),
            0.0..h,
            0.0..1.0,
            ("hours since the rollout started", "fraction of bad versions"),
        )?;
        for cat in 1..phases + 2 {
            let name =
                if cat == phases + 1 { "rolled back".to_string() } else { format!("at {}", self.stages[cat - 1]) };
            let c = if cat == phases + 1 { RGBColor(44, 160, 44) } else { color(cat + 2) };
            let pb: Vec<(f64, f64)> = times.iter().copied().zip(b[cat].iter().copied()).collect();
            let pn: Vec<(f64, f64)> = times.iter().copied().zip(n[cat].iter().copied()).collect();
            chart
                .draw_series(LineSeries::new(pb, c.stroke_width(3)))
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)));
            chart.draw_series(LineSeries::new(pn, c.mix(0.8).stroke_width(1))).map_err(err)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    }
}
