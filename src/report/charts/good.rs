//! What a policy costs good versions under noise alone: how often they are
//! rolled back (and by which rule), and how long their completed rollouts take.
//! Good versions during an outside incident are left out (reported apart).

use super::*;
use crate::scenario::Scenario;
use crate::sim::{Outcome, Population, TrialRecord};
use std::collections::BTreeMap;

pub struct GoodVersions<'a> {
    pub scenario: &'a Scenario,
    pub records: &'a [TrialRecord],
}

impl Chart for GoodVersions<'_> {
    fn stem(&self) -> String {
        "good_versions".into()
    }
    fn title(&self) -> String {
        "What does the policy cost good versions under noise alone? (false rollbacks by rule; completed rollouts)"
            .into()
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let good: Vec<&TrialRecord> =
            self.records.iter().filter(|r| r.population(self.scenario) == Population::Noise).collect();
        let n = good.len().max(1) as f64;
        let mut by_rule: BTreeMap<String, u64> = BTreeMap::new();
        for r in good.iter().filter(|r| r.false_rollback()) {
            if let Some(c) = r.rollback_cause {
                *by_rule.entry(c.describe(&self.scenario.policy)).or_default() += 1;
            }
        }
        let mut rules: Vec<(String, f64)> = by_rule.into_iter().map(|(k, v)| (k, v as f64 / n)).collect();
        rules.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        rules.truncate(8);
        let root = root.titled(&self.title(), (FONT, TITLE_PX)).map_err(err)?;
        let (left, right) = root.split_horizontally(SIZE.0 / 2);

        let top = rules.iter().map(|r| r.1).fold(0.01f64, f64::max) * 1.15;
        let mut bars = ChartBuilder::on(&left)
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(200)
            .build_cartesian_2d(0.0..top, 0.0..rules.len().max(1) as f64)
            .map_err(err)?;
        let names: Vec<String> = rules.iter().map(|r| r.0.clone()).collect();
        bars.configure_mesh()
            .disable_y_mesh()
            .y_labels(rules.len().max(1) * 2 + 1)
            .y_label_formatter(&|y| {
                let i = (*y - 0.5).round();
                if (y - 0.5 - i).abs() < 1e-6 && i >= 0.0 {
                    names.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .x_label_formatter(&|x| format!("{:.1}%", x * 100.0))
            .x_desc(format!("share of good versions rolled back (n={})", good.len()))
            .label_style((FONT, 13))
            .draw()
            .map_err(err)?;
        let c = color(3);
        bars.draw_series(
            rules
                .iter()
                .enumerate()
                .map(|(i, r)| Rectangle::new([(0.0, i as f64 + 0.2), (r.1, i as f64 + 0.8)], c.filled())),
        )
        .map_err(err)?
        .label("false rollbacks by rule")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], c.filled()));
        legend(&mut bars, SeriesLabelPosition::LowerRight)?;

        // Rollout duration of good versions that completed, in hours.
        let mut d: Vec<f64> = good.iter().filter(|r| r.outcome == Outcome::Completed).map(|r| r.end.hours()).collect();
        d.sort_by(f64::total_cmp);
        let hi = d.last().copied().unwrap_or(1.0).ceil() + 1.0;
        let lo = (d.first().copied().unwrap_or(0.0).floor() - 1.0).max(0.0);
        let mut cdf = ChartBuilder::on(&right)
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(lo..hi, 0.0..1.0)
            .map_err(err)?;
        cdf.configure_mesh()
            .x_desc("rollout duration of completed good versions (hours)")
            .y_desc("fraction completed by then")
            .label_style((FONT, 13))
            .draw()
            .map_err(err)?;
        let m = d.len().max(1) as f64;
        let c = color(0);
        let mut pts = vec![(lo, 0.0)];
        for (i, &x) in d.iter().enumerate() {
            pts.push((x, i as f64 / m));
            pts.push((x, (i + 1) as f64 / m));
        }
        cdf.draw_series(LineSeries::new(pts, c.stroke_width(2)))
            .map_err(err)?
            .label(format!("completed good versions (n={})", d.len()))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        legend(&mut cdf, SeriesLabelPosition::UpperLeft)
    }
}
