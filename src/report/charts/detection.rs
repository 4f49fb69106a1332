//! Detection-time CDF per fault: the fraction of bad versions detected by time t.

use super::*;
use crate::scenario::Scenario;
use crate::sim::TrialRecord;

pub struct DetectionCdf<'a> {
    pub scenario: &'a Scenario,
    pub records: &'a [TrialRecord],
}

impl DetectionCdf<'_> {
    /// Per bad fault entry: (name, sorted detection times in hours, trials).
    fn series(&self) -> Vec<(String, Vec<f64>, usize)> {
        let mut out = Vec::new();
        for (i, f) in self.scenario.faults.iter().enumerate() {
            if !f.kind.candidate_is_bad() {
                continue;
            }
            let rs: Vec<&TrialRecord> = self.records.iter().filter(|r| r.fault == i).collect();
            if rs.is_empty() {
                continue;
            }
            let mut t: Vec<f64> = rs.iter().filter_map(|r| r.detection.map(|d| d.as_secs_f64() / 3600.0)).collect();
            t.sort_by(f64::total_cmp);
            out.push((f.name.clone(), t, rs.len()));
        }
        out
    }
}

/// Panels per row of the small multiples.
const COLUMNS: usize = 3;

impl Chart for DetectionCdf<'_> {
    fn stem(&self) -> String {
        "detection_cdf".into()
    }
    fn title(&self) -> String {
        "How soon are bad versions caught? Fraction detected by minutes since onset, one panel per fault".into()
    }
    fn size(&self) -> (u32, u32) {
        let rows = self.series().len().div_ceil(COLUMNS).max(1) as u32;
        (1200, 70 + 230 * rows)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        // Small multiples on one time axis: faults detected at the same moment
        // (e.g. at a phase end) would hide each other on one panel.
        let series = self.series();
        let horizon = series.iter().flat_map(|s| s.1.last().copied()).fold(1.0f64, f64::max).ceil() + 1.0;
        let horizon_min = horizon * 60.0;
        let area = root.titled(&self.title(), (FONT, TITLE_PX)).map_err(err)?;
        let rows = series.len().div_ceil(COLUMNS).max(1);
        let panels = area.split_evenly((rows, COLUMNS));
        for (i, ((name, times, n), panel)) in series.iter().zip(panels.iter()).enumerate() {
            let c = color(i);
            let detected = times.len() as f64 / (*n).max(1) as f64;
            let median = (!times.is_empty() && detected >= 0.5).then(|| times[(*n - 1) / 2] * 60.0);
            let caption = match median {
                Some(m) => format!("{name}: {:.0}% detected, median {m:.0} min (n={n})", 100.0 * detected),
                None => format!("{name}: {:.0}% detected (n={n})", 100.0 * detected),
            };
            let mut chart = ChartBuilder::on(panel)
                .caption(caption, (FONT, LABEL_PX))
                .margin(8)
                .x_label_area_size(30)
                .y_label_area_size(40)
                .build_cartesian_2d(0.0..horizon_min, 0.0..1.0)
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_labels(6)
                .y_labels(3)
                .x_label_formatter(&|v| format!("{v:.0}"))
                .y_label_formatter(&|v| format!("{:.0}%", 100.0 * v))
                .x_desc(if i / COLUMNS == rows - 1 { "minutes since onset" } else { "" })
                .label_style((FONT, 12))
                .draw()
                .map_err(err)?;
            let pts: Vec<(f64, f64)> = step_cdf(times, *n, horizon).into_iter().map(|(t, y)| (t * 60.0, y)).collect();
            chart.draw_series(LineSeries::new(pts, c.stroke_width(2))).map_err(err)?;
            if let Some(m) = median {
                let dashed = DashedLineSeries::new(vec![(m, 0.0), (m, 0.5)], 4, 4, BLACK.mix(0.6).stroke_width(1));
                chart.draw_series(dashed).map_err(err)?;
            }
        }
        Ok(())
    }
}
