//! Per-tick metric series of one trial, stored as Prometheus does: cumulative
//! counters (so a window is a difference of two rows) and per-tick gauges.
//! Implements [`MetricSource`] for the engine; latency histograms and the
//! split by request class are drawn on demand (`sim::lazy`).
//!
//! The buffers are reused across trials by one worker; nothing is allocated
//! per tick.

pub use super::lazy::{histogram_quantile, BUCKETS_MS, NB};
use super::lazy::{ClassSplit, LazyHistogram};
use crate::engine::{Agg, Cmp, Compared, Group, Metric, MetricSource, Query, QueryError, Sample};
use crate::time::{SimDur, SimTime};

/// Gauge columns.
pub const CPU_MEAN: usize = 0;
pub const CPU_MAX: usize = 1;
pub const MEM_MEAN: usize = 2;
pub const MEM_MAX: usize = 3;
pub const DB_MEAN: usize = 4;
pub const DB_MAX: usize = 5;
pub const NG: usize = 6;

/// Counters per group and row ([`Layout::width`]).
pub const WIDTH: usize = 5;

/// Counter layout of one group: its requests and errors, then scalars.
/// (Per-class counts and latency histograms are kept apart, drawn on demand:
/// [`ClassSplit`], [`LazyHistogram`].)
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub classes: usize,
}

impl Layout {
    pub fn requests(&self) -> usize {
        0
    }
    pub fn errors(&self) -> usize {
        1
    }
    pub fn restarts(&self) -> usize {
        2
    }
    pub fn reports(&self) -> usize {
        3
    }
    pub fn cache_hits(&self) -> usize {
        4
    }
    pub fn width(&self) -> usize {
        WIDTH
    }
}

/// The series of both groups for one trial.
#[derive(Debug, Clone)]
pub struct Store {
    pub layout: Layout,
    pub tick: SimDur,
    /// Divides by the tick's seconds.
    per_tick: Divider,
    /// Ticks written so far (row 0 is the zero row at time 0).
    pub len: usize,
    counters: [Vec<u64>; 2],
    /// Gauges, drawn for the rows queries read.
    pub gauges: LazyGauges,
    /// Most rows this store may hold (the time limit in ticks); buffers start
    /// small and grow with the rows actually written, up to this.
    max_rows: usize,
    /// Each group's latency histogram (0 candidate, 1 stable), drawn as far as queries read.
    pub hist: [LazyHistogram; 2],
    /// Each group's requests and errors by class, split for the rows queries read.
    pub classes: [ClassSplit; 2],
    /// Cache hits, drawn only for rows a query reads.
    pub cache: LazyCache,
    /// Per group, whether its errors are counted from its rows in `classes`
    /// (drawn on demand, see `ClassSplit::record_lazy`) rather than kept in
    /// the errors counter.
    pub lazy_errors: [bool; 2],
}

/// Cache hits drawn on demand.
///
/// A row's hits are Binomial(the row's requests, hit ratio), drawn from a
/// generator seeded by (trial seed, group, row) the first time a query reads
/// the row: rules read the cache hit ratio in few phases, so most rows are
/// never drawn, and which query comes first does not matter. When `p` is
/// `None` (a recorded trial), the hits are the counter column's.
#[derive(Debug, Clone, Default)]
pub struct LazyCache {
    pub seed: u64,
    pub p: Option<super::rng::BinomialP>,
    /// Hits per group and row; `u64::MAX` = not drawn yet.
    hits: [Vec<u64>; 2],
}

impl LazyCache {
    /// Starts a trial: rows are drawn with hit ratio `p` from streams of `seed`.
    pub fn reset(&mut self, seed: u64, p: Option<super::rng::BinomialP>) {
        self.seed = seed;
        self.p = p;
        for h in &mut self.hits {
            h.clear();
        }
    }
}

/// The gauges of one group at one row: the levels they are drawn around,
/// and the values drawn so far.
#[derive(Debug, Clone, Copy)]
pub struct GaugeRow {
    /// The level of CPU, memory and DB pool (columns `2k` and `2k + 1`).
    pub level: [f64; 3],
    /// Instance scrapes in the tick: a maximum is over this many draws, a
    /// mean has 1/√draws of the spread (0: no instance up, no value).
    draws: u64,
    /// Columns drawn (bit `col`).
    drawn: u8,
    /// A drawn column's value; until then, a maximum column holds the
    /// largest value its draw can take (NaN: no value).
    values: [f64; NG],
}

impl GaugeRow {
    /// No gauge at this row (no instance up).
    pub const NONE: GaugeRow = GaugeRow { level: [f64::NAN; 3], draws: 0, drawn: 0, values: [f64::NAN; NG] };

    /// Values already known (a recorded trial); NaN is no value.
    pub fn drawn(values: [f64; NG]) -> GaugeRow {
        GaugeRow { drawn: (1 << NG) - 1, values, ..GaugeRow::NONE }
    }

    /// Sets column `col` as drawn.
    pub fn set(&mut self, col: usize, v: f64) {
        self.drawn |= 1 << col;
        self.values[col] = v;
    }
}

/// Gauges drawn on demand.
///
/// A tick keeps each group's gauge levels and instance-scrape count. A value
/// is drawn the first time a query reads it, from a generator seeded by
/// (trial seed, group, column, row) — a mean as one normal draw with the
/// spread over √draws, a maximum as `rng::max_of_normals` — so which query
/// comes first does not matter and rows no query reads are never drawn.
/// A maximum compared with a limit is drawn only when the largest value the
/// sampler can return for that row would pass the limit
/// ([`LazyGauges::max_holds`]).
#[derive(Debug, Clone, Default)]
pub struct LazyGauges {
    seed: u64,
    /// The spread of CPU, memory and DB pool around their levels.
    spread: [f64; 3],
    rows: [Vec<GaugeRow>; 2],
    /// Per group, the largest z `max_of_normals` returns for `draws` (the last asked).
    top: [(u64, f64); 2],
}

impl LazyGauges {
    /// Starts a trial: values are drawn with `spread` (CPU, memory, DB pool) from streams of `seed`.
    pub fn reset(&mut self, seed: u64, spread: [f64; 3]) {
        self.seed = seed;
        self.spread = spread;
        for r in &mut self.rows {
            r.clear();
        }
    }

    /// The trial seed the rows' streams derive from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Sets group `g`'s gauges at row `row` to be drawn when read, around
    /// `level` (CPU, memory, DB pool) over `draws` instance scrapes (0: no
    /// instance up, no value); returns the row.
    pub fn plan(&mut self, g: usize, row: usize, level: [f64; 3], draws: u64) -> &mut GaugeRow {
        if self.top[g].0 != draws && draws > 0 {
            self.top[g] = (draws, super::rng::max_of_normals_top(draws));
        }
        let z = self.top[g].1;
        let bound = |k: usize| if draws == 0 { f64::NAN } else { (level[k] + self.spread[k] * z).clamp(0.0, 1.0) };
        let r =
            GaugeRow { level, draws, drawn: 0, values: [f64::NAN, bound(0), f64::NAN, bound(1), f64::NAN, bound(2)] };
        self.set_row(g, row, r);
        &mut self.rows[g][row]
    }

    fn set_row(&mut self, g: usize, row: usize, r: GaugeRow) {
        let rows = &mut self.rows[g];
        if rows.len() < row {
            rows.resize(row, GaugeRow::NONE);
        }
        if rows.len() == row {
            rows.push(r);
        } else {
            rows[row] = r;
        }
    }

    /// Column `col` of group `g` at row `row`, drawn now if not yet (NaN: no value).
    pub fn value(&mut self, g: usize, row: usize, col: usize) -> f64 {
        let Some(r) = self.rows[g].get_mut(row) else { return f64::NAN };
        if r.drawn & (1 << col) == 0 {
            let (level, spread) = (r.level[col / 2], self.spread[col / 2]);
            let v = if r.draws == 0 || level.is_nan() {
                f64::NAN
            } else {
                let mut rng = super::rng::gauge_stream(self.seed, g, col, row as u64);
                if col % 2 == 1 {
                    super::rng::max_of_normals(&mut rng, r.draws, level, spread).clamp(0.0, 1.0)
                } else {
                    let sd = spread / (r.draws as f64).sqrt();
                    (level + sd * super::rng::normal(&mut rng)).clamp(0.0, 1.0)
                }
            };
            r.set(col, v);
        }
        r.values[col]
    }

    /// The values of column `col` of group `g` at `rows` that exist, each drawn when reached.
    fn values<'a>(
        &'a mut self,
        g: usize,
        col: usize,
        rows: impl Iterator<Item = usize> + 'a,
    ) -> impl Iterator<Item = f64> + 'a {
        rows.map(move |r| self.value(g, r, col)).filter(|v| !v.is_nan())
    }

    /// Whether the maximum of maximum column `col` of group `g` over rows
    /// `first..=last` holds `cmp limit` (`None`: no value in them), drawing
    /// only the rows whose largest possible value would pass the limit: the
    /// maximum is `> limit` when one row is, and `<= limit` when all are.
    pub fn max_holds(&mut self, g: usize, first: usize, last: usize, col: usize, cmp: Cmp, limit: f64) -> Option<bool> {
        debug_assert!(col % 2 == 1, "column {col} is not a maximum");
        let any_row = matches!(cmp, Cmp::Gt | Cmp::Ge);
        let last = last.min(self.rows[g].len().saturating_sub(1));
        if first > last {
            return None;
        }
        // Most often no row's bound passes: one pass over the bounds decides,
        // else the rows from the first whose bound passes are drawn in turn.
        let (mut any, mut start) = (false, None);
        for (i, r) in self.rows[g][first..=last].iter().enumerate() {
            let bound = r.values[col];
            if bound.is_nan() {
                continue;
            }
            any = true;
            if cmp.holds(bound, limit) == any_row {
                start = Some(first + i);
                break;
            }
        }
        let Some(start) = start else { return any.then_some(!any_row) };
        for row in start..=last {
            // The row's value, or the largest it can take when not drawn yet.
            let bound = self.rows[g][row].values[col];
            if bound.is_nan() {
                continue;
            }
            any = true;
            // A row at most `bound` passes `cmp limit` like its bound, except
            // when the bound itself passes a `>` or fails a `<=`: then draw.
            if cmp.holds(bound, limit) == any_row {
                let v = self.value(g, row, col);
                if !v.is_nan() && cmp.holds(v, limit) == any_row {
                    return Some(any_row);
                }
            }
        }
        any.then_some(!any_row)
    }
}

/// Division by a fixed number of seconds (the tick) without a hardware
/// divide, which costs more than the rest of a cheap query: for 32-bit
/// numerators, `n / d` = the high 64 bits of `n · (⌊(2⁶⁴ − 1) / d⌋ + 1)`
/// exactly (Lemire, Kaser and Kurz, "Faster remainder by direct
/// computation", 2019); larger numerators and `d = 1` divide as usual.
#[derive(Debug, Clone, Copy)]
pub(super) struct Divider {
    d: u64,
    /// ⌈2⁶⁴ / d⌉ when `d` fits in 32 bits and exceeds 1, else 0.
    m: u64,
}

impl Divider {
    pub(super) fn new(d: u64) -> Divider {
        let d = d.max(1);
        let m = if d > 1 && d <= u32::MAX as u64 { u64::MAX / d + 1 } else { 0 };
        Divider { d, m }
    }

    /// `n / d`, rounded down.
    #[inline(always)]
    pub(super) fn div(&self, n: u64) -> u64 {
        if n <= u32::MAX as u64 && self.m != 0 {
            ((self.m as u128 * n as u128) >> 64) as u64
        } else {
            n / self.d
        }
    }

    /// `n mod d`.
    #[inline(always)]
    pub(super) fn rem(&self, n: u64) -> u64 {
        n - self.d * self.div(n)
    }
}

/// A group's index in per-group arrays: 0 candidate, 1 stable.
pub(super) fn gi(g: Group) -> usize {
    match g {
        Group::Candidate => 0,
        Group::Stable => 1,
    }
}

impl Store {
    pub fn new(classes: usize, tick: SimDur, max_ticks: usize) -> Store {
        let layout = Layout { classes };
        let w = layout.width();
        Store {
            layout,
            tick,
            per_tick: Divider::new(tick.0),
            len: 0,
            counters: [vec![0; w], vec![0; w]],
            gauges: LazyGauges::default(),
            max_rows: max_ticks.saturating_add(1),
            hist: [LazyHistogram::default(), LazyHistogram::default()],
            classes: [ClassSplit::new(classes), ClassSplit::new(classes)],
            cache: LazyCache::default(),
            lazy_errors: [false; 2],
        }
    }

    /// Starts a new trial (row 0 = zeros).
    pub fn reset(&mut self) {
        let w = self.layout.width();
        for g in 0..2 {
            self.counters[g][..w].fill(0);
            self.gauges.rows[g].clear();
        }
        self.len = 1;
    }

    /// The seed of the trial whose series these are (0 for a recorded trial):
    /// the streams of whatever is drawn on demand derive from it.
    pub fn trial_seed(&self) -> u64 {
        self.hist[0].seed()
    }

    /// The most ticks this store may hold (row 0 is the zero row).
    pub fn capacity(&self) -> usize {
        self.max_rows - 1
    }

    /// Appends a row per group: counters are `previous + delta` (the row's
    /// gauges are set apart, [`LazyGauges::plan`]).
    pub fn push(&mut self, delta: [&[u64; WIDTH]; 2]) {
        let w = WIDTH;
        let row = self.len;
        if self.counters[0].len() < (row + 1) * w {
            // Grow by doubling (reused across trials by a worker): amortised, not per tick.
            let rows = (row + 1).max(2 * self.counters[0].len() / w).min(self.max_rows.max(row + 1));
            for g in 0..2 {
                self.counters[g].resize(rows * w, 0);
            }
        }
        for (c, delta) in self.counters.iter_mut().zip(delta) {
            let (prev, cur) = c.split_at_mut(row * w);
            let (Some(prev), Some(cur)) = (prev.last_chunk::<WIDTH>(), cur.first_chunk_mut::<WIDTH>()) else {
                unreachable!("row {row} was allocated above")
            };
            for i in 0..WIDTH {
                cur[i] = prev[i] + delta[i];
            }
        }
        self.len += 1;
    }

    /// Adds to a counter of the latest row (used for delayed signals landing now).
    pub fn counter(&self, g: Group, row: usize, col: usize) -> u64 {
        self.counters[gi(g)][row * self.layout.width() + col]
    }

    /// Gauge column `col` of group `g` at row `row` (drawn now if not yet; NaN: no value).
    pub fn gauge(&mut self, g: Group, row: usize, col: usize) -> f64 {
        self.gauges.value(gi(g), row, col)
    }

    /// Cache hits of group `g` in rows `(from, to]`.
    fn cache_hits(&mut self, g: Group, from: usize, to: usize) -> u64 {
        let Some(p) = self.cache.p else { return self.delta(g, from, to, self.layout.cache_hits()) };
        let gi = gi(g);
        if self.cache.hits[gi].len() <= to {
            self.cache.hits[gi].resize(to + 1, u64::MAX);
        }
        let mut sum = 0;
        for row in from + 1..=to {
            if self.cache.hits[gi][row] == u64::MAX {
                let requests = self.delta(g, row - 1, row, self.layout.requests());
                let mut rng = super::rng::cache_stream(self.cache.seed, gi, row as u64);
                self.cache.hits[gi][row] = super::rng::binomial_with(&mut rng, requests, &p);
            }
            sum += self.cache.hits[gi][row];
        }
        sum
    }

    /// Row index of time `t` (rows are tick ends).
    fn row_of(&self, t: SimTime) -> usize {
        (self.per_tick.div(t.0) as usize).min(self.len - 1)
    }

    /// The rows `(from, to]` of `q`'s window ending at `now` (at least one tick).
    fn window_rows(&self, q: &Query, now: SimTime) -> (usize, usize) {
        let to = self.row_of(now);
        (to.saturating_sub(self.per_tick.div(q.window.0).max(1) as usize), to)
    }

    fn delta(&self, g: Group, from: usize, to: usize, col: usize) -> u64 {
        self.counter(g, to, col) - self.counter(g, from, col)
    }

    /// Requests and errors of `q`'s group and class in rows `(from, to]`.
    fn counts(&mut self, q: &Query, from: usize, to: usize) -> (u64, u64) {
        match q.class {
            Some(c) => self.classes[gi(q.group)].between(c as usize, from, to),
            None => {
                let (l, g) = (self.layout, gi(q.group));
                let errors = if self.lazy_errors[g] {
                    self.classes[g].errors_between(from, to)
                } else {
                    self.delta(q.group, from, to, l.errors())
                };
                (self.delta(q.group, from, to, l.requests()), errors)
            }
        }
    }

    fn gauge_agg(&mut self, g: Group, from: usize, to: usize, metric: Metric, agg: Agg) -> Option<f64> {
        let (mean_col, max_col) = gauge_columns(metric);
        // Rows are tick ends; an instant selector's lookback is closed on the left.
        let first = if agg == Agg::Instant { from } else { from + 1 };
        let rows = first.max(1)..=to;
        let gauges = &mut self.gauges;
        let g = gi(g);
        match agg {
            Agg::Max | Agg::Window => gauges.values(g, max_col, rows).reduce(f64::max),
            Agg::Min => gauges.values(g, mean_col, rows).reduce(f64::min),
            Agg::Last | Agg::Instant => gauges.values(g, max_col, rows.rev()).next(),
            Agg::Avg | Agg::Increase => {
                let (s, n) = gauges.values(g, mean_col, rows).fold((0.0, 0u32), |(s, n), v| (s + v, n + 1));
                (n > 0).then(|| s / n as f64)
            }
        }
    }
}

/// The (mean, maximum) gauge columns of a gauge metric.
fn gauge_columns(metric: Metric) -> (usize, usize) {
    match metric {
        Metric::Cpu => (CPU_MEAN, CPU_MAX),
        Metric::Memory => (MEM_MEAN, MEM_MAX),
        _ => (DB_MEAN, DB_MAX),
    }
}

pub use crate::io::series::{DumpRow, DUMP_PREFIX};

fn gauge_name(col: usize) -> &'static str {
    ["cpu_mean", "cpu_max", "memory_mean", "memory_max", "db_pool_mean", "db_pool_max"][col]
}

fn bucket_name(b: usize) -> String {
    if b == NB - 1 {
        "latency_bucket:inf".into()
    } else {
        format!("latency_bucket:{}", BUCKETS_MS[b])
    }
}

impl Store {
    /// Every value the engine could read, tick by tick, as named series (zero
    /// counters and missing gauges are left out). With [`Store::from_dump`]
    /// this round-trips exactly: a replay of it makes the same decisions.
    pub fn dump(&mut self, classes: &[String]) -> Vec<DumpRow> {
        let l = self.layout;
        let mut out = vec![(0, Group::Candidate, format!("{DUMP_PREFIX}tick"), self.tick.0 as f64)];
        enum Col {
            Requests(usize),
            Errors(usize),
            Bucket(usize),
            Counter(usize),
        }
        let mut names: Vec<(Col, String)> = Vec::new();
        for (c, name) in classes.iter().enumerate() {
            names.push((Col::Requests(c), format!("{DUMP_PREFIX}requests:{name}")));
            names.push((Col::Errors(c), format!("{DUMP_PREFIX}errors:{name}")));
        }
        for b in 0..NB {
            names.push((Col::Bucket(b), format!("{DUMP_PREFIX}{}", bucket_name(b))));
        }
        names.push((Col::Counter(l.restarts()), format!("{DUMP_PREFIX}restarts")));
        names.push((Col::Counter(l.reports()), format!("{DUMP_PREFIX}user_reports")));
        names.push((Col::Counter(l.cache_hits()), format!("{DUMP_PREFIX}cache_hits")));
        for row in 1..self.len {
            let t = row as u64 * self.tick.0;
            for g in [Group::Candidate, Group::Stable] {
                let hist = self.hist[gi(g)].row(row);
                for (col, name) in &names {
                    let v = match *col {
                        Col::Requests(c) => self.classes[gi(g)].class(row, c).0,
                        Col::Errors(c) => self.classes[gi(g)].class(row, c).1,
                        Col::Bucket(b) => hist[b],
                        Col::Counter(c) if c == l.cache_hits() => self.cache_hits(g, row - 1, row),
                        Col::Counter(c) => self.counter(g, row, c) - self.counter(g, row - 1, c),
                    };
                    if v != 0 {
                        out.push((t, g, name.clone(), v as f64));
                    }
                }
                for col in 0..NG {
                    let v = self.gauge(g, row, col);
                    if !v.is_nan() {
                        out.push((t, g, format!("{DUMP_PREFIX}{}", gauge_name(col)), v));
                    }
                }
            }
        }
        out
    }

    /// Rebuilds a trial's series from [`Store::dump`] rows. Errors name the series.
    pub fn from_dump(classes: &[String], rows: &[DumpRow]) -> Result<Store, String> {
        let tick_name = format!("{DUMP_PREFIX}tick");
        let tick = rows
            .iter()
            .find(|r| r.2 == tick_name)
            .map(|r| r.3 as u64)
            .filter(|t| *t > 0)
            .ok_or_else(|| format!("a recorded trial needs its `{tick_name}` series"))?;
        let last = rows.iter().map(|r| r.0 / tick).max().unwrap_or(0);
        // A recording made by `rollsim record` has values at every tick (the
        // stable group's gauges at least), so its span in ticks is bounded by its
        // row count: buffers grow with the data read, never with a timestamp.
        if last > rows.len() as u64 + 1 {
            return Err(format!(
                "the recorded trial's timestamps span {last} ticks of {tick} s but it holds only {} values: \
                 not a complete `rollsim record` recording",
                rows.len()
            ));
        }
        let last = last as usize;
        let mut store = Store::new(classes.len(), SimDur(tick), last + 1);
        store.reset();
        let l = store.layout;
        let mut deltas = vec![[[0u64; WIDTH]; 2]; last + 1];
        let mut gauges = vec![[[f64::NAN; NG]; 2]; last + 1];
        let mut hists = vec![[[0u64; NB]; 2]; last + 1];
        let mut split = vec![[vec![(0u64, 0u64); classes.len()], vec![(0u64, 0u64); classes.len()]]; last + 1];
        for (t, g, name, v) in rows {
            if *name == tick_name {
                continue;
            }
            let row = (*t / tick) as usize;
            let gi = usize::from(*g == Group::Stable);
            let key = name
                .strip_prefix(DUMP_PREFIX)
                .ok_or_else(|| format!("series {name:?} is not a recorded-trial series"))?;
            let class = |n: &str| {
                classes.iter().position(|c| c == n).ok_or_else(|| format!("series {name:?}: unknown request class"))
            };
            let col = if let Some(c) = key.strip_prefix("requests:") {
                split[row][gi][class(c)?].0 = *v as u64;
                Some(l.requests())
            } else if let Some(c) = key.strip_prefix("errors:") {
                split[row][gi][class(c)?].1 = *v as u64;
                Some(l.errors())
            } else if let Some(b) = key.strip_prefix("latency_bucket:") {
                let idx = (0..NB)
                    .find(|&i| bucket_name(i) == format!("latency_bucket:{b}"))
                    .ok_or_else(|| format!("series {name:?}: unknown bucket"))?;
                hists[row][gi][idx] = *v as u64;
                None
            } else {
                match key {
                    "restarts" => Some(l.restarts()),
                    "user_reports" => Some(l.reports()),
                    "cache_hits" => Some(l.cache_hits()),
                    _ => {
                        let gcol = (0..NG)
                            .find(|&c| gauge_name(c) == key)
                            .ok_or_else(|| format!("unknown recorded-trial series {name:?}"))?;
                        gauges[row][gi][gcol] = *v;
                        None
                    }
                }
            };
            if let Some(col) = col {
                deltas[row][gi][col] += *v as u64;
            }
        }
        for row in 1..=last {
            for (g, values) in gauges[row].into_iter().enumerate() {
                store.gauges.set_row(g, row, GaugeRow::drawn(values));
            }
            store.push([&deltas[row][0], &deltas[row][1]]);
            for (g, hist) in store.hist.iter_mut().zip(hists[row]) {
                g.set_row(row, hist);
            }
            for (g, per_class) in store.classes.iter_mut().zip(&split[row]) {
                g.set_row(row, per_class);
            }
        }
        Ok(store)
    }
}

impl MetricSource for Store {
    fn query(&mut self, q: &Query, now: SimTime) -> Result<Sample, QueryError> {
        if let Metric::Query(_) = q.metric {
            return Err(QueryError("PromQL is answered through the fleet's Prometheus view (sim::prom)".into()));
        }
        let (from, to) = self.window_rows(q, now);
        Ok(self.sample(q, from, to))
    }

    /// A latency quantile is decided from the buckets down to the limit (see
    /// [`LazyHistogram::quantile_holds`]), a gauge's maximum from the rows
    /// whose largest possible value would pass ([`LazyGauges::max_holds`]);
    /// other values are exact and cheap.
    fn compare(&mut self, q: &Query, now: SimTime, cmp: Cmp, limit: f64) -> Result<Compared, QueryError> {
        if let Metric::Query(_) = q.metric {
            return self.query(q, now).map(|s| s.compared(cmp, limit));
        }
        let (from, to) = self.window_rows(q, now);
        let g = gi(q.group);
        match q.metric {
            Metric::Cpu | Metric::Memory | Metric::DbPool if matches!(q.agg, Agg::Max | Agg::Window) => {
                let holds = self.gauges.max_holds(g, (from + 1).max(1), to, gauge_columns(q.metric).1, cmp, limit);
                Ok(Compared { holds, requests: None })
            }
            Metric::LatencyP50 | Metric::LatencyP90 | Metric::LatencyP99 => {
                let quantile = q.metric.latency_quantile().unwrap_or(0.99);
                let (holds, requests) = self.hist[g].quantile_holds(quantile, from, to, cmp, limit);
                Ok(Compared { holds, requests: Some(requests) })
            }
            // Not through `sample`'s call and second match: most rules read an error rate.
            Metric::ErrorRate => Ok(self.error_rate(q, from, to).compared(cmp, limit)),
            _ => Ok(self.sample(q, from, to).compared(cmp, limit)),
        }
    }
}

impl Store {
    /// The error rate of `q`'s group and class over rows `(from, to]`.
    #[inline(always)]
    fn error_rate(&mut self, q: &Query, from: usize, to: usize) -> Sample {
        let (req, err) = self.counts(q, from, to);
        Sample { value: (req > 0).then(|| err as f64 / req as f64), requests: Some(req) }
    }

    /// `q`'s value over rows `(from, to]`. The store never fails a query:
    /// every tick it holds was simulated.
    fn sample(&mut self, q: &Query, from: usize, to: usize) -> Sample {
        let g = q.group;
        let l = self.layout;
        match q.metric {
            Metric::ErrorRate => self.error_rate(q, from, to),
            Metric::LatencyP50 | Metric::LatencyP90 | Metric::LatencyP99 => {
                let hist = &mut self.hist[gi(g)];
                let quantile = q.metric.latency_quantile().unwrap_or(0.99);
                let (value, requests) = hist.quantile_and_total(quantile, from, to);
                Sample { value, requests: Some(requests) }
            }
            Metric::RequestRate => {
                let (req, _) = self.counts(q, from, to);
                let secs = ((to - from) as u64 * self.tick.0) as f64;
                Sample { value: (secs > 0.0).then(|| req as f64 / secs), requests: Some(req) }
            }
            Metric::CacheHitRatio => {
                let req = self.delta(g, from, to, l.requests());
                let hits = self.cache_hits(g, from, to);
                Sample { value: (req > 0).then(|| hits as f64 / req as f64), requests: Some(req) }
            }
            Metric::Restarts => Sample { value: Some(self.delta(g, from, to, l.restarts()) as f64), requests: None },
            Metric::UserReports => Sample { value: Some(self.delta(g, from, to, l.reports()) as f64), requests: None },
            Metric::Cpu | Metric::Memory | Metric::DbPool => {
                Sample { value: self.gauge_agg(g, from, to, q.metric, q.agg), requests: None }
            }
            Metric::CriticalAlerts | Metric::Query(_) => Sample::NO_DATA,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::rng::{stream, trial_seed, uniform, Stream};

    /// Gauges of one group over `rows` ticks with random levels, instance
    /// counts and missing rows, as the fleet plans them.
    fn gauges(seed: u64, rows: usize) -> LazyGauges {
        let mut rng = stream(trial_seed(seed, 0), Stream::Fleet);
        let mut g = LazyGauges::default();
        g.reset(seed, [0.03, 0.02, 0.02]);
        g.set_row(0, 0, GaugeRow::NONE);
        for row in 1..=rows {
            if uniform(&mut rng) < 0.1 {
                g.plan(0, row, [f64::NAN; 3], 0);
            } else {
                let level = [0.3 + 0.5 * uniform(&mut rng), 0.5 + 0.4 * uniform(&mut rng), 0.9 * uniform(&mut rng)];
                let draws = [1, 4, 20, 380][(uniform(&mut rng) * 4.0) as usize];
                g.plan(0, row, level, draws);
            }
        }
        g
    }

    fn drawn(g: &LazyGauges, row: usize, col: usize) -> bool {
        g.rows[0][row].drawn & (1 << col) != 0
    }

    #[test]
    fn a_maximum_compared_equals_the_compared_maximum_and_draws_only_rows_that_could_pass() {
        let mut cases = 0;
        for seed in 0..40u64 {
            let mut rng = stream(trial_seed(seed, 1), Stream::Fleet);
            for _ in 0..20 {
                let first = 1 + (uniform(&mut rng) * 30.0) as usize;
                let last = first + (uniform(&mut rng) * 8.0) as usize;
                let col = [CPU_MAX, MEM_MAX, DB_MAX][(uniform(&mut rng) * 3.0) as usize];
                let cmp = [Cmp::Lt, Cmp::Le, Cmp::Gt, Cmp::Ge][(uniform(&mut rng) * 4.0) as usize];
                let limit = [0.0, 1.0, f64::NAN, uniform(&mut rng), 0.5 + 0.3 * uniform(&mut rng)]
                    [(uniform(&mut rng) * 5.0) as usize];
                let mut lazy = gauges(seed, 40);
                let mut full = gauges(seed, 40);
                let holds = lazy.max_holds(0, first, last, col, cmp, limit);
                let max = full.values(0, col, first..=last).reduce(f64::max);
                assert_eq!(holds, max.map(|m| cmp.holds(m, limit)), "rows {first}..={last}, {cmp:?} {limit}");
                // Only rows whose largest possible value passes were drawn,
                // and they hold the same values as when all are drawn.
                for row in first..=last.min(40) {
                    if drawn(&lazy, row, col) {
                        let bound = gauges(seed, 40).rows[0][row].values[col];
                        let any_row = matches!(cmp, Cmp::Gt | Cmp::Ge);
                        assert_eq!(cmp.holds(bound, limit), any_row, "row {row} drawn needlessly");
                        assert_eq!(lazy.value(0, row, col).to_bits(), full.value(0, row, col).to_bits());
                    }
                }
                cases += 1;
            }
        }
        assert_eq!(cases, 800);
    }

    #[test]
    fn the_divider_divides_exactly_at_every_boundary() {
        let mut rng = stream(7, Stream::Fleet);
        let u32m = u32::MAX as u64;
        let divisors = [1, 2, 3, 7, 10, 15, 60, 61, 3600, 86_400, 1 << 31, u32m - 1, u32m, u32m + 1, u64::MAX];
        let random: Vec<u64> = (0..200).map(|_| 1 + (uniform(&mut rng) * 1e6) as u64).collect();
        for d in divisors.into_iter().chain(random) {
            let div = Divider::new(d);
            let mut ns = vec![0, 1, d - 1, d, d.saturating_add(1), u32m - 1, u32m, u32m + 1, u64::MAX - 1, u64::MAX];
            for k in [1u64, 2, 3, 1000, u32m / d, u32m / d + 1] {
                let m = k.saturating_mul(d);
                ns.extend([m.saturating_sub(1), m, m.saturating_add(1)]);
            }
            ns.extend((0..500).map(|_| (uniform(&mut rng) * u32m as f64) as u64));
            for n in ns {
                assert_eq!(div.div(n), n / d, "{n} / {d}");
                assert_eq!(div.rem(n), n % d, "{n} % {d}");
            }
        }
        // A zero tick divides as one second (the model's tick is at least that).
        assert_eq!(Divider::new(0).div(90), 90);
    }

    #[test]
    fn a_maximum_never_exceeds_its_bound_and_values_do_not_depend_on_the_order_read() {
        let rows = 400;
        let mut forward = gauges(7, rows);
        let mut backward = gauges(7, rows);
        let bounds: Vec<[f64; NG]> = forward.rows[0].iter().map(|r| r.values).collect();
        #[allow(clippy::needless_range_loop)]
        for col in 0..NG {
            let a: Vec<u64> = (1..=rows).map(|r| forward.value(0, r, col).to_bits()).collect();
            let mut b: Vec<u64> = (1..=rows).rev().map(|r| backward.value(0, r, col).to_bits()).collect();
            b.reverse();
            assert_eq!(a, b, "column {col}");
            if col % 2 == 1 {
                for (row, bits) in (1..=rows).zip(&a) {
                    let v = f64::from_bits(*bits);
                    let bound = bounds[row][col];
                    assert_eq!(v.is_nan(), bound.is_nan(), "row {row}");
                    assert!(v.is_nan() || v <= bound, "row {row}: {v} above {bound}");
                }
            }
        }
    }
}
