//! Series drawn on demand: each group's latency histogram rows and its split
//! of requests and errors by request class. Each row is drawn from a stream of
//! its own (trial seed, group, row), in a fixed order, only as far as a read
//! needs, so the values never depend on which read came first and rows no
//! rule reads are never drawn.
//!
//! `class.rs`: [`ClassSplit`], requests and errors by request class (and a
//! group's errors drawn on demand); `hist.rs`: [`LazyHistogram`], latency
//! histogram rows from the top bucket down, and `histogram_quantile`.

mod class;
mod hist;

pub use class::ClassSplit;
pub use hist::{histogram_quantile, HistPlan, LazyHistogram, TAIL_MASS};

/// Upper bounds (ms) of the latency histogram buckets; the last is +Inf.
pub const BUCKETS_MS: [f64; 22] = [
    5.0,
    10.0,
    25.0,
    50.0,
    75.0,
    100.0,
    150.0,
    200.0,
    250.0,
    300.0,
    400.0,
    500.0,
    600.0,
    700.0,
    800.0,
    1000.0,
    1500.0,
    2000.0,
    2500.0,
    5000.0,
    10000.0,
    f64::INFINITY,
];
pub const NB: usize = BUCKETS_MS.len();
