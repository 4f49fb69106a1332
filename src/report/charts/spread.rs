//! The spread chart: over time since the rollout started, the share of bad
//! versions at each traffic stage, or already rolled back.

use super::*;
use crate::rows::Row;

/// The spread of bad versions in `rows` over phases named `stages` (e.g. "5% (canary)").
pub struct Spread<'a> {
    pub rows: &'a [Row],
    pub stages: Vec<String>,
}

/// Stage of one trial at `t` hours: `None` not deployed yet, `Some(i)` phase i,
/// `Some(phases)` rolled back.
fn stage_at(r: &Row, t: f64, phases: usize) -> Option<usize> {
    if r.rollback_h.is_some_and(|at| at <= t) {
        return Some(phases);
    }
    r.phase_h.iter().rposition(|p| p.is_some_and(|at| at <= t))
}

/// Time grid (hours, every 10 minutes up to `horizon_h`) and, per category
/// (0 = not deployed, 1..=phases = phase i-1, phases+1 = rolled back), the
/// fraction of the bad versions of `rows` in it.
pub fn spread_shares(rows: &[Row], phases: usize, horizon_h: f64) -> (Vec<f64>, Vec<Vec<f64>>) {
    let bad: Vec<&Row> = rows.iter().filter(|r| r.bad).collect();
    let steps = (horizon_h * 6.0).ceil() as usize + 1;
    let times: Vec<f64> = (0..=steps).map(|i| i as f64 / 6.0).collect();
    let n = bad.len().max(1) as f64;
    let mut out = vec![vec![0.0; times.len()]; phases + 2];
    for (ti, &t) in times.iter().enumerate() {
        for r in &bad {
            let cat = match stage_at(r, t, phases) {
                None => 0,
                Some(i) if i == phases => phases + 1,
                Some(i) => i + 1,
            };
            out[cat][ti] += 1.0 / n;
        }
    }
    (times, out)
}

/// The latest end of a bad version's rollout, in hours (at least one).
pub fn horizon(rows: &[Row]) -> f64 {
    rows.iter().filter(|r| r.bad).map(|r| r.end_h).fold(1.0, f64::max)
}

impl Spread<'_> {
    pub fn shares(&self) -> (Vec<f64>, Vec<Vec<f64>>) {
        spread_shares(self.rows, self.stages.len(), horizon(self.rows))
    }
}

impl Chart for Spread<'_> {
    fn stem(&self) -> String {
        "spread".into()
    }
    fn title(&self) -> String {
        "Where are bad versions over time? (share at each traffic stage, or rolled back)".into()
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let (hours, shares) = self.shares();
        let phases = &self.stages;
        let horizon = hours.last().copied().unwrap_or(1.0);
        let mut chart = axes(
            root,
            &self.title(),
            0.0..horizon,
            0.0..1.0,
            ("hours since the rollout started", "fraction of bad versions"),
        )?;
        // Stack from the bottom: rolled back, then the highest stage down to "not deployed".
        let mut order: Vec<usize> = vec![phases.len() + 1];
        order.extend((1..=phases.len()).rev());
        order.push(0);
        let mut base = vec![0.0; hours.len()];
        for (k, &cat) in order.iter().enumerate() {
            let top: Vec<f64> = base.iter().zip(&shares[cat]).map(|(b, s)| b + s).collect();
            let name = match cat {
                0 => "not deployed yet".to_string(),
                c if c == phases.len() + 1 => "rolled back".to_string(),
                c => format!("at {}", phases[c - 1]),
            };
            let c = if cat == phases.len() + 1 { RGBColor(44, 160, 44) } else { color(k + 2) };
            let upper: Vec<(f64, f64)> = hours.iter().copied().zip(top.iter().copied()).collect();
            let lower: Vec<(f64, f64)> = hours.iter().copied().zip(base.iter().copied()).rev().collect();
            let poly: Vec<(f64, f64)> = upper.into_iter().chain(lower).collect();
            chart
                .draw_series(std::iter::once(Polygon::new(poly, c.mix(0.75).filled())))
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], c.mix(0.75).filled()));
            base = top;
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    }
}
