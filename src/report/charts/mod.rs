//! Charts (plotters), one file per chart behind the small [`Chart`] trait, each
//! rendered to SVG and PNG. The font is embedded (DejaVu Sans), so charts render
//! on machines without system fonts.

mod blast;
mod compare;
mod detection;
pub mod downsample;
mod good;
mod recording;
mod spread;
mod timeline;
mod tradeoff;

pub use blast::{ExcessFailed, PeakShare};
pub use compare::{DetectionCompare, SpreadCompare};
pub use detection::DetectionCdf;
pub use good::GoodVersions;
pub use recording::{GateLine, RecordingTimeline, RuleLine};
pub use spread::{spread_shares, Spread};
pub use timeline::Timeline;
pub use tradeoff::{Tradeoff, TradeoffPoint};

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

/// Chart size in pixels (SVG and PNG).
pub const SIZE: (u32, u32) = (1000, 560);
pub const FONT: &str = "sans-serif";
pub const TITLE_PX: u32 = 22;
pub const LABEL_PX: u32 = 15;

static FONT_BYTES: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

fn register_font() {
    REGISTER.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // The bytes are a valid TrueType font compiled into the binary.
            let _ = plotters::style::register_font(FONT, style, FONT_BYTES);
        }
    });
}

/// A chart that can draw itself on any plotters backend.
pub trait Chart {
    /// File stem: `detection_cdf` → `detection_cdf.svg`, `detection_cdf.png`.
    fn stem(&self) -> String;
    /// The title, which says what the chart answers.
    fn title(&self) -> String;
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
    /// Pixels (SVG and PNG).
    fn size(&self) -> (u32, u32) {
        SIZE
    }
}

/// Error text from any plotters drawing error.
pub fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

/// Renders `chart` to `<dir>/<stem>.svg` and `<dir>/<stem>.png`.
pub fn render<C: Chart>(chart: &C, dir: &Path) -> Result<(), String> {
    register_font();
    let stem = chart.stem();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, chart.size()).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        chart.draw(&root)?;
        root.present().map_err(err)?;
    }
    let svg_path = dir.join(format!("{stem}.svg"));
    std::fs::write(&svg_path, svg).map_err(|e| format!("{}: {e}", svg_path.display()))?;
    let png_path = dir.join(format!("{stem}.png"));
    {
        let root = BitMapBackend::new(&png_path, chart.size()).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        chart.draw(&root)?;
        root.present().map_err(|e| format!("{}: {e:?}", png_path.display()))?;
    }
    Ok(())
}

/// A titled chart with plain f64 axes and a labelled mesh: the layout most charts share.
pub fn axes<'a, DB: DrawingBackend + 'a>(
    root: &'a DrawingArea<DB, Shift>,
    title: &str,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
    (x_desc, y_desc): (&str, &str),
) -> Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>, String> {
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, TITLE_PX))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(x, y)
        .map_err(err)?;
    chart.configure_mesh().x_desc(x_desc).y_desc(y_desc).label_style((FONT, LABEL_PX)).draw().map_err(err)?;
    Ok(chart)
}

/// An empirical CDF as steps: `sorted` event times among `n` trials, held flat to `horizon`.
pub fn step_cdf(sorted: &[f64], n: usize, horizon: f64) -> Vec<(f64, f64)> {
    let n = n.max(1) as f64;
    let mut pts = vec![(0.0, 0.0)];
    for (k, &t) in sorted.iter().enumerate() {
        pts.push((t, k as f64 / n));
        pts.push((t, (k + 1) as f64 / n));
    }
    pts.push((horizon, sorted.len() as f64 / n));
    pts
}

/// A distinct colour per series.
pub fn color(i: usize) -> RGBColor {
    const C: [RGBColor; 12] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
        RGBColor(0, 0, 128),
        RGBColor(128, 0, 0),
    ];
    C[i % C.len()]
}

/// Standard legend box, upper left.
pub fn legend<
    'a,
    DB: DrawingBackend + 'a,
    X: plotters::coord::ranged1d::Ranged,
    Y: plotters::coord::ranged1d::Ranged,
>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    pos: SeriesLabelPosition,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(pos)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, LABEL_PX))
        .draw()
        .map_err(err)
}
