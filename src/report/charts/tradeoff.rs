//! Sweep trade-off: each variant's false-rollback rate against a cost of bad
//! versions (detection time or blast radius), with the Pareto frontier marked.

use super::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One variant on the chart.
pub struct TradeoffPoint {
    /// What the variant is: its id and what it changes (`v2 error_rate.limit=2%`).
    pub label: String,
    /// False-rollback rate and the cost.
    pub x: f64,
    pub y: f64,
    /// 95% intervals, where the summary has them.
    pub x_ci: Option<(f64, f64)>,
    pub y_ci: Option<(f64, f64)>,
}

pub struct Tradeoff {
    pub stem: String,
    pub y_label: String,
    pub points: Vec<TradeoffPoint>,
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
        format!("Trade-off: false rollbacks vs {} (95% intervals; Pareto frontier in red)", self.y_label)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let finite: Vec<&TradeoffPoint> = self.points.iter().filter(|p| p.y.is_finite()).collect();
        // Zoom on the variants and their intervals, with a margin so labels stay inside.
        let span = |v: Vec<f64>, min_pad: f64| {
            let lo = v.iter().copied().filter(|x| x.is_finite()).fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().filter(|x| x.is_finite()).fold(f64::NEG_INFINITY, f64::max);
            if !lo.is_finite() {
                return (0.0, 1.0);
            }
            let pad = ((hi - lo) * 0.15).max(min_pad);
            ((lo - pad).max(0.0), hi + pad)
        };
        let xs = finite.iter().flat_map(|p| [Some(p.x), p.x_ci.map(|c| c.0), p.x_ci.map(|c| c.1)]).flatten().collect();
        let ys = finite.iter().flat_map(|p| [Some(p.y), p.y_ci.map(|c| c.0), p.y_ci.map(|c| c.1)]).flatten().collect();
        let (xmin, xmax) = span(xs, 0.005);
        let (ymin, ymax) = span(ys, 1.0);
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
        let whisker = c.mix(0.45).stroke_width(1);
        for p in &finite {
            if let Some((lo, hi)) = p.x_ci {
                chart
                    .draw_series(std::iter::once(PathElement::new(vec![(lo, p.y), (hi, p.y)], whisker)))
                    .map_err(err)?;
            }
            if let Some((lo, hi)) = p.y_ci.filter(|c| c.0.is_finite() && c.1.is_finite()) {
                chart
                    .draw_series(std::iter::once(PathElement::new(vec![(p.x, lo), (p.x, hi)], whisker)))
                    .map_err(err)?;
            }
        }
        chart
            .draw_series(finite.iter().map(|p| Circle::new((p.x, p.y), 5, c.filled())))
            .map_err(err)?
            .label("policy variant (95% intervals)")
            .legend(move |(x, y)| Circle::new((x + 8, y), 5, c.filled()));
        // Variants at the same point share one label ("current = v1"), and
        // labels that would overprint are moved down: ties never garble. The
        // points carry ids; the key (top left) says what each variant changes.
        let id = |l: &str| l.split(' ').next().unwrap_or("").to_string();
        let mut labels: Vec<((f64, f64), Vec<String>)> = Vec::new();
        for p in &finite {
            match labels.iter_mut().find(|(at, _)| *at == (p.x, p.y)) {
                Some((_, l)) => l.push(id(&p.label)),
                None => labels.push(((p.x, p.y), vec![id(&p.label)])),
            }
        }
        labels.sort_by(|a, b| b.0 .1.total_cmp(&a.0 .1));
        let mut placed: Vec<(i32, i32, i32)> = Vec::new(); // (x, y, width) in pixels
        for (at, l) in &labels {
            let text = l.join(" = ");
            let (px, mut py) = chart.backend_coord(at);
            let w = 8 * text.chars().count() as i32;
            while placed.iter().any(|&(x, y, pw)| (py - y).abs() < 15 && px < x + pw && x < px + w) {
                py += 15;
            }
            placed.push((px, py, w));
            root.draw(&Text::new(
                text,
                (px + 8, py - 2),
                (FONT, 13).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Bottom)),
            ))
            .map_err(err)?;
        }
        let key: Vec<&TradeoffPoint> = self.points.iter().filter(|p| p.label.contains(' ')).collect();
        for (n, p) in key.iter().take(12).enumerate() {
            let line = if n == 11 && key.len() > 12 {
                format!("… and {} more (sweep.md)", key.len() - 11)
            } else {
                p.label.clone()
            };
            root.draw(&Text::new(line, (100, 62 + 15 * n as i32), (FONT, 12).into_font().color(&BLACK.mix(0.75))))
                .map_err(err)?;
        }
        let mut front: Vec<(f64, f64)> =
            self.frontier.iter().map(|&i| &self.points[i]).filter(|p| p.y.is_finite()).map(|p| (p.x, p.y)).collect();
        front.sort_by(|a, b| a.0.total_cmp(&b.0));
        let red = RGBColor(214, 39, 40);
        chart
            .draw_series(LineSeries::new(front, red.stroke_width(2)))
            .map_err(err)?
            .label("Pareto frontier")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], red.stroke_width(2)));
        if let Some(p) = self.recommended.map(|i| &self.points[i]).filter(|p| p.y.is_finite()) {
            let g = RGBColor(44, 160, 44);
            chart
                .draw_series(std::iter::once(Circle::new((p.x, p.y), 10, g.stroke_width(3))))
                .map_err(err)?
                .label("recommended")
                .legend(move |(x, y)| Circle::new((x + 8, y), 6, g.stroke_width(2)));
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    }
}
