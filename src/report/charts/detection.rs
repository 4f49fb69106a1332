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

impl Chart for DetectionCdf<'_> {
    fn stem(&self) -> String {
        "detection_cdf".into()
    }
    fn title(&self) -> String {
        "How soon are bad versions caught? (fraction detected by time since onset)".into()
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let series = self.series();
        let horizon = series.iter().flat_map(|s| s.1.last().copied()).fold(1.0f64, f64::max).ceil() + 1.0;
        let mut chart = axes(
            root,
            &self.title(),
            0.0..horizon,
            0.0..1.0,
            ("hours since fault onset", "fraction of bad versions detected"),
        )?;
        for (i, (name, times, n)) in series.iter().enumerate() {
            let c = color(i);
            let pts = step_cdf(times, *n, horizon);
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                .map_err(err)?
                .label(format!("{name} (n={n})"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    }
}
