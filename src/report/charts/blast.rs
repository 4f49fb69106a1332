//! Blast radius: how far bad versions spread (peak traffic share) and how many
//! requests failed because of them (excess failed requests).

use super::*;
use crate::scenario::Scenario;
use crate::sim::TrialRecord;

pub struct PeakShare<'a> {
    pub scenario: &'a Scenario,
    pub records: &'a [TrialRecord],
}

impl Chart for PeakShare<'_> {
    fn stem(&self) -> String {
        "blast_peak_share".into()
    }
    fn title(&self) -> String {
        "How far do bad versions spread? (peak traffic share reached)".into()
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let mut stages: Vec<f64> = vec![0.0];
        stages.extend(self.scenario.policy.phases.iter().map(|p| p.weight));
        stages.dedup();
        let bad: Vec<&TrialRecord> = self.records.iter().filter(|r| r.bad).collect();
        let n = bad.len().max(1) as f64;
        let shares: Vec<f64> = stages
            .iter()
            .map(|&s| bad.iter().filter(|r| (r.peak_weight - s).abs() < 1e-9).count() as f64 / n)
            .collect();
        let labels: Vec<String> = stages.iter().map(|s| format!("{:.0}%", s * 100.0)).collect();
        let mut chart = ChartBuilder::on(root)
            .caption(self.title(), (FONT, TITLE_PX))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..stages.len() as f64, 0.0..1.0)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(stages.len() * 2 + 1)
            .x_label_formatter(&|x| {
                let i = (*x - 0.5).round();
                if (x - 0.5 - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .x_desc("peak traffic share of the bad version")
            .y_desc(format!("fraction of bad versions (n={})", bad.len()))
            .label_style((FONT, LABEL_PX))
            .draw()
            .map_err(err)?;
        let c = color(3);
        chart
            .draw_series(
                shares
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| Rectangle::new([(i as f64 + 0.15, 0.0), (i as f64 + 0.85, v)], c.filled())),
            )
            .map_err(err)?
            .label("bad versions")
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], c.filled()));
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    }
}

pub struct ExcessFailed<'a> {
    pub scenario: &'a Scenario,
    pub records: &'a [TrialRecord],
}

impl Chart for ExcessFailed<'_> {
    fn stem(&self) -> String {
        "blast_excess_failed".into()
    }
    fn title(&self) -> String {
        "How many requests fail because of a bad version? (excess failed requests)".into()
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        // Complementary CDF on a log axis: fraction of bad versions with more than x excess failures.
        let mut v: Vec<f64> = self.records.iter().filter(|r| r.bad).map(|r| r.excess_failed.max(1.0)).collect();
        v.sort_by(f64::total_cmp);
        let n = v.len().max(1) as f64;
        let top = v.last().copied().unwrap_or(10.0).max(10.0) * 1.5;
        let mut chart = ChartBuilder::on(root)
            .caption(self.title(), (FONT, TITLE_PX))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d((1.0..top).log_scale(), 0.0..1.0)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("excess failed requests (observed minus stable baseline), log scale")
            .x_label_formatter(&|x| crate::units::format_count(*x, 1000.0))
            .y_desc("fraction of bad versions above x")
            .label_style((FONT, LABEL_PX))
            .draw()
            .map_err(err)?;
        let c = color(0);
        let pts: Vec<(f64, f64)> = v.iter().enumerate().map(|(i, &x)| (x, 1.0 - i as f64 / n)).collect();
        chart
            .draw_series(LineSeries::new(pts, c.stroke_width(2)))
            .map_err(err)?
            .label(format!("all bad versions (n={})", v.len()))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    }
}
