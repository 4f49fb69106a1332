//! Sweep trade-off: each variant's false-rollback rate against a cost of bad
//! versions (detection time or blast radius), with the Pareto frontier marked.

use super::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub struct Tradeoff {
    pub stem: String,
    pub y_label: String,
    /// (variant id, false-rollback rate, y value)
    pub points: Vec<(String, f64, f64)>,
    /// Indices of frontier points.
    pub frontier: Vec<usize>,
    /// Index of the recommended variant, if any.
    pub recommended: Option<usize>,
}

impl Chart for Tradeoff {
    fn stem(&self) -> String {
        self.stem.clone()
    }
    fn title(&self) -> String {
        format!("Trade-off: false rollbacks vs {} (Pareto frontier in red)", self.y_label)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let finite: Vec<&(String, f64, f64)> = self.points.iter().filter(|p| p.2.is_finite()).collect();
        // Zoom on the variants, with a margin so labels stay inside.
        let span = |v: Vec<f64>, min_pad: f64| {
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if !lo.is_finite() {
                return (0.0, 1.0);
            }
            let pad = ((hi - lo) * 0.15).max(min_pad);
            ((lo - pad).max(0.0), hi + pad)
        };
        let (xmin, xmax) = span(finite.iter().map(|p| p.1).collect(), 0.005);
        let (ymin, ymax) = span(finite.iter().map(|p| p.2).collect(), 1.0);
        let mut chart = ChartBuilder::on(root)
            .caption(self.title(), (FONT, TITLE_PX))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(xmin..xmax, ymin..ymax)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("false-rollback rate of good versions")
            .x_label_formatter(&|x| format!("{:.1}%", x * 100.0))
            .y_desc(self.y_label.clone())
            .label_style((FONT, LABEL_PX))
            .draw()
            .map_err(err)?;
        let c = color(0);
        chart
            .draw_series(finite.iter().map(|p| Circle::new((p.1, p.2), 5, c.filled())))
            .map_err(err)?
            .label("policy variant")
            .legend(move |(x, y)| Circle::new((x + 8, y), 5, c.filled()));
        chart
            .draw_series(finite.iter().map(|p| {
                Text::new(
                    p.0.clone(),
                    (p.1, p.2),
                    (FONT, 13).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Bottom)),
                )
            }))
            .map_err(err)?;
        let mut front: Vec<(f64, f64)> =
            self.frontier.iter().map(|&i| &self.points[i]).filter(|p| p.2.is_finite()).map(|p| (p.1, p.2)).collect();
        front.sort_by(|a, b| a.0.total_cmp(&b.0));
        let red = RGBColor(214, 39, 40);
        chart
            .draw_series(LineSeries::new(front, red.stroke_width(2)))
            .map_err(err)?
            .label("Pareto frontier")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], red.stroke_width(2)));
        if let Some(p) = self.recommended.map(|i| &self.points[i]).filter(|p| p.2.is_finite()) {
            let g = RGBColor(44, 160, 44);
            chart
                .draw_series(std::iter::once(Circle::new((p.1, p.2), 10, g.stroke_width(3))))
                .map_err(err)?
                .label("recommended")
                .legend(move |(x, y)| Circle::new((x + 8, y), 6, g.stroke_width(2)));
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    }
}
