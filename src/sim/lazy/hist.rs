//! Latency histogram rows drawn on demand, and Prometheus' `histogram_quantile`.

use super::{BUCKETS_MS, NB};
use crate::engine::Cmp;
use crate::sim::rng::{binomial_with, hist_stream, BinomialP, SimRng};

///
/// A row keeps its request count and latency state; its buckets are drawn by
/// conditional binomials in a fixed order from a generator seeded by (trial
/// seed, group, row): first the count in the state's rare tail (the top
/// buckets, together less likely than [`TAIL_MASS`]), split among them only
/// when it is not zero; then each lower bucket k, P(bucket k | bucket ≤ k),
/// downwards. A query draws a row only as far down as it needs:
/// `histogram_quantile(0.99)` stops at the bucket holding the rank (the top
/// 1% of requests), and the slow-request count at the SLO bucket. A later,
/// deeper read continues the same sequence, so a row's counts do not depend
/// on which query came first, and rows no query reads are never drawn.
#[derive(Debug, Clone, Default)]
pub struct LazyHistogram {
    seed: u64,
    group: u64,
    /// The draw plan of each latency state seen this trial.
    states: Vec<HistPlan>,
    /// Rows `0..len` are this trial's; those above are a past trial's,
    /// kept so that recording a row writes its header only.
    rows: Rows,
    len: usize,
    /// Running sums of the rows (`cum[r]`: rows 1..=r), for Prometheus views.
    cum: Vec<[u64; NB]>,
}

/// The rows, column by column: recording a row and scanning a window touch
/// only the small headers, not each row's generator and bucket counts.
#[derive(Debug, Clone, Default)]
struct Rows {
    head: Vec<HistRow>,
    /// A row's generator, valid once its header says `seeded`.
    rng: Vec<SimRng>,
    hist: Vec<[u64; NB]>,
}

/// The most probability the tail drawn as one count may hold.
pub const TAIL_MASS: f64 = 1e-4;

/// How one latency state's histogram rows are drawn (see [`LazyHistogram`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistPlan {
    /// The lowest bucket of the tail (`1..NB`).
    tail: usize,
    /// P(bucket ≥ tail).
    tail_p: BinomialP,
    /// Above the tail, P(bucket k | tail ≤ bucket ≤ k); below it, P(bucket k | bucket ≤ k).
    cond: [BinomialP; NB],
}

impl HistPlan {
    /// The plan for the survival function `sf(k)` = P(latency above bucket
    /// k's upper bound): non-increasing in k, 0 for the +Inf bucket (values
    /// out of order are raised to keep it so).
    pub fn new(sf: impl Fn(usize) -> f64) -> HistPlan {
        // s[k + 1] = P(bucket > k); s[0] = 1.
        let mut s = [0.0f64; NB + 1];
        s[0] = 1.0;
        for k in (0..NB - 1).rev() {
            let v = sf(k);
            s[k + 1] = if v.is_nan() { s[k + 2] } else { v.clamp(s[k + 2], 1.0) };
        }
        let tail = (1..NB).find(|&k| s[k] <= TAIL_MASS).unwrap_or(NB - 1);
        let ratio = |num: f64, den: f64| BinomialP::new(if den <= 0.0 { 1.0 } else { num / den });
        let mut cond = [BinomialP::new(1.0); NB];
        for (k, c) in cond.iter_mut().enumerate().skip(1) {
            let p_k = s[k] - s[k + 1];
            *c = if k >= tail { ratio(p_k, s[tail] - s[k + 1]) } else { ratio(p_k, 1.0 - s[k + 1]) };
        }
        HistPlan { tail, tail_p: BinomialP::new(s[tail]), cond }
    }
}

#[derive(Debug, Clone, Copy)]
struct HistRow {
    total: u64,
    /// Requests in the buckets below `next`.
    left: u64,
    /// The requests in the row's tail and above (set when the tail is drawn).
    tail_count: u64,
    state: u32,
    /// Buckets `next..NB` are drawn (`NB`: none yet).
    next: u8,
    /// The lowest bucket of the row's tail.
    tail: u8,
    /// Whether the row's generator is seeded (at its first draw).
    seeded: bool,
}

impl HistRow {
    const EMPTY: HistRow =
        HistRow { total: 0, left: 0, tail_count: 0, state: 0, next: 0, tail: NB as u8 - 1, seeded: false };
}

impl Rows {
    fn resize(&mut self, len: usize) {
        self.head.resize(len, HistRow::EMPTY);
        self.rng.resize(len, hist_stream(0, 0, 0));
        self.hist.resize(len, [0; NB]);
    }

    /// Draws row `row` (of group `group`) down to bucket `b`.
    #[inline(always)]
    fn draw_to(&mut self, row: usize, b: usize, plans: &[HistPlan], seed: u64, group: u64) {
        self.head[row].draw_to(&mut self.rng[row], &mut self.hist[row], b, plans, seed, group, row);
    }
}

impl HistRow {
    /// Draws the row down to bucket `b`, if it is not drawn that far yet (see [`HistRow::draw_more`]).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn draw_to(
        &mut self,
        gen: &mut SimRng,
        hist: &mut [u64; NB],
        b: usize,
        plans: &[HistPlan],
        seed: u64,
        group: u64,
        row: usize,
    ) {
        let next = self.next as usize;
        if next == b + 1 && next < NB && (self.seeded || self.left == 0) {
            // One more bucket below the tail, the generator live: `draw_more`'s
            // loop for one step, inline (a query steps every row of its window
            // down bucket by bucket, and the call cost more than the draw).
            hist[b] = if b == 0 || self.left == 0 {
                self.left
            } else {
                binomial_with(gen, self.left, &plans[self.state as usize].cond[b])
            };
            self.left -= hist[b];
            self.next = b as u8;
        } else if next > b {
            self.draw_more(gen, hist, b, plans, seed, group, row);
        }
    }

    /// Draws the row (number `row` of group `group`, its generator `gen`,
    /// its counts `hist`) down to bucket `b`.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn draw_more(
        &mut self,
        gen: &mut SimRng,
        hist: &mut [u64; NB],
        b: usize,
        plans: &[HistPlan],
        seed: u64,
        group: u64,
        row: usize,
    ) {
        let plan = &plans[self.state as usize];
        // The row's generator, seeded at its first draw.
        let mut draw = |seeded: &mut bool, n: u64, p: &BinomialP| {
            if !*seeded {
                *gen = hist_stream(seed, group, row as u64);
                *seeded = true;
            }
            binomial_with(gen, n, p)
        };
        if self.next as usize == NB {
            let tail = plan.tail;
            let mut t = if self.left == 0 { 0 } else { draw(&mut self.seeded, self.left, &plan.tail_p) };
            self.left -= t;
            (self.tail, self.tail_count) = (tail as u8, t);
            for k in (tail..NB).rev() {
                if t == 0 {
                    // The rest of the tail is empty (most rows' whole tail): nothing to split.
                    hist[tail..=k].fill(0);
                    break;
                }
                hist[k] = if k == tail { t } else { draw(&mut self.seeded, t, &plan.cond[k]) };
                t -= hist[k];
            }
            self.next = tail as u8;
        }
        while self.next as usize > b {
            let k = self.next as usize - 1;
            hist[k] =
                if k == 0 || self.left == 0 { self.left } else { draw(&mut self.seeded, self.left, &plan.cond[k]) };
            self.left -= hist[k];
            self.next = k as u8;
        }
    }
}

impl LazyHistogram {
    /// Starts a trial of group `group` (0 candidate, 1 stable) whose rows are
    /// drawn from streams of `seed`, in latency state `healthy`.
    pub fn reset(&mut self, seed: u64, group: usize, healthy: HistPlan) {
        self.seed = seed;
        self.group = group as u64;
        self.states.clear();
        self.states.push(healthy);
        self.len = 0;
        self.cum.clear();
    }

    /// The trial seed its rows' streams derive from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Makes `plan` the state of the rows recorded from now on.
    pub fn set_state(&mut self, plan: HistPlan) {
        self.states.push(plan);
    }

    /// Records row `row`: `total` requests in the current latency state.
    pub fn record(&mut self, row: usize, total: u64) {
        let state = self.states.len().saturating_sub(1) as u32;
        self.make_row(row);
        // Buckets below `next` are never read: the bucket counts need no reset.
        self.rows.head[row] =
            HistRow { total, left: total, tail_count: 0, state, next: NB as u8, tail: NB as u8 - 1, seeded: false };
    }

    /// Makes row `row` one of this trial's, the rows up to it empty rows of it first.
    fn make_row(&mut self, row: usize) {
        for r in self.len..row.min(self.rows.head.len()) {
            self.rows.head[r] = HistRow::EMPTY;
            self.rows.hist[r] = [0; NB];
        }
        if self.rows.head.len() <= row {
            self.rows.resize(row + 1);
        }
        self.len = self.len.max(row + 1);
    }

    /// Draws row `row` down to bucket `b`; its counts (`None`: never recorded, an empty row).
    fn draw_to(&mut self, row: usize, b: usize) -> Option<&[u64; NB]> {
        if row >= self.len {
            return None;
        }
        self.rows.draw_to(row, b, &self.states, self.seed, self.group);
        Some(&self.rows.hist[row])
    }

    /// Requests of row `row` in bucket `b`.
    pub fn bucket(&mut self, row: usize, b: usize) -> u64 {
        self.draw_to(row, b).map_or(0, |h| h[b])
    }

    /// Requests of row `row` in buckets `b..NB` (at or above bucket `b`'s lower bound).
    pub fn above(&mut self, row: usize, b: usize) -> u64 {
        self.draw_to(row, b).map_or(0, |h| h[b..].iter().sum())
    }

    /// Row `row`'s histogram, drawn in full.
    pub fn row(&mut self, row: usize) -> [u64; NB] {
        self.draw_to(row, 0).copied().unwrap_or([0; NB])
    }

    /// Sets row `row`'s histogram as already drawn (loading a recorded trial).
    pub fn set_row(&mut self, row: usize, hist: [u64; NB]) {
        self.make_row(row);
        self.rows.head[row] = HistRow { total: hist.iter().sum(), tail_count: hist[NB - 1], ..HistRow::EMPTY };
        self.rows.hist[row] = hist;
    }

    /// Requests of rows 1..=`row` in bucket `b` (drawing the rows in full).
    pub fn through(&mut self, row: usize, b: usize) -> u64 {
        let row = row.min(self.len.saturating_sub(1));
        if self.cum.is_empty() {
            self.cum.push([0; NB]);
        }
        while self.cum.len() <= row {
            let r = self.cum.len();
            let mut next = self.cum[r - 1];
            for (n, x) in next.iter_mut().zip(self.row(r)) {
                *n += x;
            }
            self.cum.push(next);
        }
        self.cum[row][b]
    }

    /// Requests in rows `(from, to]`.
    pub fn total(&self, from: usize, to: usize) -> u64 {
        let to = to.min(self.len.saturating_sub(1));
        self.rows.head[..self.len].get(from + 1..=to).map_or(0, |rows| rows.iter().map(|r| r.total).sum())
    }

    /// Prometheus `histogram_quantile(q)` of the summed rows `(from, to]`
    /// (exactly [`histogram_quantile`] of their sum), drawing each row only
    /// down to the bucket that holds the rank.
    pub fn quantile(&mut self, q: f64, from: usize, to: usize) -> Option<f64> {
        self.quantile_and_total(q, from, to).0
    }

    /// [`LazyHistogram::quantile`] and [`LazyHistogram::total`] in one pass over the rows.
    pub fn quantile_and_total(&mut self, q: f64, from: usize, to: usize) -> (Option<f64>, u64) {
        match self.find(q, from, to, |_| false) {
            (Found::Value(v), total) => (v, total),
            (Found::AtMost(_), _) => unreachable!("the search stops only at the value"),
        }
    }

    /// `quantile(q, from, to)` compared as `cmp limit` (`None`: no requests),
    /// drawing each row only as far down as the answer needs: while the rank
    /// lies below a bucket, the quantile is at most that bucket's lower bound,
    /// which often decides the comparison (a p99 > 2 s is false once the
    /// buckets above 2 s hold less than 1% of the requests).
    /// Also returns the requests in the rows (as [`LazyHistogram::total`]).
    pub fn quantile_holds(&mut self, q: f64, from: usize, to: usize, cmp: Cmp, limit: f64) -> (Option<bool>, u64) {
        if !(q > 0.0 && q <= 1.0) {
            let (v, total) = self.quantile_and_total(q, from, to);
            return (v.map(|v| cmp.holds(v, limit)), total);
        }
        match self.find(q, from, to, |bound| decided_at_most(bound, cmp, limit).is_some()) {
            (Found::Value(v), total) => (v.map(|v| cmp.holds(v, limit)), total),
            (Found::AtMost(bound), total) => (decided_at_most(bound, cmp, limit), total),
        }
    }

    /// The search behind [`LazyHistogram::quantile`]: from the top bucket
    /// down, until the bucket holding the rank, or until the quantile is
    /// known to be at most a bound for which `enough` says so; with the
    /// requests in the rows.
    fn find(&mut self, q: f64, from: usize, to: usize, enough: impl Fn(f64) -> bool) -> (Found, u64) {
        let to = to.min(self.len.saturating_sub(1));
        if to <= from {
            return (Found::Value(None), 0);
        }
        let (seed, group, states, rows) = (self.seed, self.group, &self.states, &mut self.rows);
        let window = from + 1..to + 1;
        // One pass: the total, and every row's tail drawn (a row's counts
        // are the same whenever drawn). When the rank lies below the highest
        // tail, the buckets above it are passed over as one sum (every row is
        // drawn at least that far): the rows' tail counts when they all share
        // that tail, as they do while the rows' latency state does not change.
        let (mut total, mut top, mut low, mut tails) = (0u64, 0, NB, 0u64);
        let (head, gens, hists) =
            (&mut rows.head[window.clone()], &mut rows.rng[window.clone()], &mut rows.hist[window]);
        for (i, r) in head.iter_mut().enumerate() {
            // Headers only: a row's generator and counts are touched when it is drawn.
            if r.next as usize == NB {
                r.draw_more(&mut gens[i], &mut hists[i], NB - 1, states, seed, group, from + 1 + i);
            }
            total += r.total;
            top = top.max(r.tail as usize);
            low = low.min(r.tail as usize);
            tails += r.tail_count;
        }
        if total == 0 {
            return (Found::Value(None), 0);
        }
        // Every quantile of a non-empty histogram is at most the highest finite bound.
        let mut bound = BUCKETS_MS[NB - 2];
        if enough(bound) {
            return (Found::AtMost(bound), total);
        }
        let rank = q * total as f64;
        // cum = requests in buckets ≤ b; the answer is the lowest bucket with
        // cum ≥ rank, found from the top as the first whose lower buckets hold less.
        let mut cum = total;
        let above: u64 = if low == top {
            tails
        } else {
            let tail = |(r, h): (&HistRow, &[u64; NB])| {
                if r.tail as usize == top {
                    r.tail_count
                } else {
                    h[top..].iter().sum()
                }
            };
            head.iter().zip(hists.iter()).map(tail).sum()
        };
        let start = if top > 0 && ((cum - above) as f64) >= rank {
            cum -= above;
            bound = BUCKETS_MS[top - 1];
            if enough(bound) {
                return (Found::AtMost(bound), total);
            }
            top
        } else {
            NB
        };
        for b in (0..start).rev() {
            let mut c = 0;
            for (i, ((r, gen), hist)) in head.iter_mut().zip(gens.iter_mut()).zip(hists.iter_mut()).enumerate() {
                r.draw_to(gen, hist, b, states, seed, group, from + 1 + i);
                c += hist[b];
            }
            let below = cum - c;
            if (below as f64) < rank {
                return (Found::Value(Some(interpolate(b, rank, below, c))), total);
            }
            cum = below;
            // The rank lies in a bucket below b: at most b's lower bound.
            if b > 0 {
                bound = BUCKETS_MS[b - 1];
                if enough(bound) {
                    return (Found::AtMost(bound), total);
                }
            }
        }
        // rank ≤ 0 (q ≤ 0): the lowest non-empty bucket, as Prometheus has it.
        let mut sum = [0u64; NB];
        for row in from + 1..=to {
            for (s, h) in sum.iter_mut().zip(self.row(row)) {
                *s += h;
            }
        }
        (Found::Value(histogram_quantile(q, &sum)), total)
    }
}

/// Where [`LazyHistogram::find`] stopped.
enum Found {
    /// The quantile (`None`: no requests).
    Value(Option<f64>),
    /// The quantile is at most this.
    AtMost(f64),
}

/// `cmp.holds(v, limit)` for every `v ≤ bound`, when it is the same for all of them.
fn decided_at_most(bound: f64, cmp: Cmp, limit: f64) -> Option<bool> {
    match cmp {
        Cmp::Gt if bound <= limit => Some(false),
        Cmp::Ge if bound < limit => Some(false),
        Cmp::Lt if bound < limit => Some(true),
        Cmp::Le if bound <= limit => Some(true),
        _ => None,
    }
}

/// The value of rank `rank` in bucket `b`, which holds `c` requests above
/// `below` in lower buckets: linear inside the bucket, the lowest starting at
/// 0, and the +Inf bucket's the highest finite bound.
fn interpolate(b: usize, rank: f64, below: u64, c: u64) -> f64 {
    if b == NB - 1 {
        return BUCKETS_MS[NB - 2];
    }
    let lo = if b == 0 { 0.0 } else { BUCKETS_MS[b - 1] };
    lo + (BUCKETS_MS[b] - lo) * (rank - below as f64) / c as f64
}

/// Prometheus `histogram_quantile`: linear interpolation inside the bucket
/// that holds rank `q × total`; the lowest bucket starts at 0; a rank in the
/// +Inf bucket returns the highest finite bound.
pub fn histogram_quantile(q: f64, counts: &[u64; NB]) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut cum = 0u64;
    for (b, &c) in counts.iter().enumerate() {
        let next = cum + c;
        if next as f64 >= rank && c > 0 {
            return Some(interpolate(b, rank, cum, c));
        }
        cum = next;
    }
    Some(BUCKETS_MS[NB - 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantile_interpolates_like_prometheus() {
        let mut c = [0u64; NB];
        c[5] = 50; // (75, 100]
        c[6] = 50; // (100, 150]
        assert_eq!(histogram_quantile(0.5, &c), Some(100.0));
        assert_eq!(histogram_quantile(0.75, &c), Some(125.0));
        assert_eq!(histogram_quantile(0.25, &c), Some(87.5));
        let mut inf = [0u64; NB];
        inf[NB - 1] = 10;
        assert_eq!(histogram_quantile(0.99, &inf), Some(10000.0));
        assert_eq!(histogram_quantile(0.99, &[0; NB]), None);
    }

    use crate::sim::rng::normal_cdf;

    /// The plan of a lognormal latency (median `median_ms`, log-sd `sigma`)
    /// with `slow` of the requests at 20× the median.
    fn plan(median_ms: f64, sigma: f64, slow: f64) -> (HistPlan, [f64; NB]) {
        let sf = |b: f64| {
            let z = |m: f64| -((b / m).ln() / sigma);
            (1.0 - slow) * normal_cdf(z(median_ms)) + slow * normal_cdf(z(20.0 * median_ms))
        };
        let mut p = [0.0; NB];
        let mut above = 1.0;
        for (k, pk) in p.iter_mut().enumerate() {
            let s = if k == NB - 1 { 0.0 } else { sf(BUCKETS_MS[k]) };
            *pk = above - s;
            above = s;
        }
        (HistPlan::new(|k| sf(BUCKETS_MS[k])), p)
    }

    fn histogram(rows: &[(u64, usize)], plans: &[HistPlan], seed: u64) -> LazyHistogram {
        let mut h = LazyHistogram::default();
        h.reset(seed, 0, plans[0]);
        let mut current = 0;
        for (i, &(total, state)) in rows.iter().enumerate() {
            if state != current {
                h.set_state(plans[state]);
                current = state;
            }
            h.record(i + 1, total);
        }
        h
    }

    /// 20 rows of (requests, state) for test case `case`: request counts
    /// from none to 250,000 in a pattern set by `stride`; the state changes
    /// (to 1 or 2) from row `first + case % spread` on.
    fn test_rows(case: u64, stride: usize, first: usize, spread: usize) -> Vec<(u64, usize)> {
        let case = case as usize;
        (0..20)
            .map(|i| {
                let total = [0, 1, 3, 900, 15_000, 250_000][(case + i * stride) % 6];
                (total, usize::from(i >= first + case % spread) * (1 + case % 2))
            })
            .collect()
    }

    #[test]
    fn lazy_quantiles_equal_prometheus_on_the_full_rows_whatever_was_drawn_first() {
        let plans = [plan(80.0, 0.39, 0.0).0, plan(200.0, 0.6, 0.02).0, plan(30.0, 1.5, 0.2).0];
        let mut rng = crate::sim::rng::stream(7, crate::sim::rng::Stream::Fleet);
        for case in 0..300u64 {
            let rows = test_rows(case, 7, 8, 5);
            let mut lazy = histogram(&rows, &plans, case);
            let mut full = histogram(&rows, &plans, case);
            // Some rows partly drawn beforehand, in an order that must not matter.
            for _ in 0..5 {
                let row = 1 + (crate::sim::rng::uniform(&mut rng) * 20.0) as usize;
                lazy.bucket(row, (crate::sim::rng::uniform(&mut rng) * NB as f64) as usize);
            }
            let full_rows: Vec<[u64; NB]> = (0..=20).map(|r| full.row(r)).collect();
            for (from, to) in [(0, 20), (3, 5), (7, 12), (10, 11), (19, 20), (20, 20)] {
                for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
                    let mut sum = [0u64; NB];
                    for row in &full_rows[from + 1..=to] {
                        sum.iter_mut().zip(row).for_each(|(s, c)| *s += c);
                    }
                    let want = histogram_quantile(q, &sum);
                    let (value, total) = lazy.quantile_and_total(q, from, to);
                    assert_eq!(value, want, "case {case} rows ({from}, {to}] q {q}");
                    assert_eq!(total, sum.iter().sum::<u64>());
                    assert_eq!(lazy.total(from, to), total);
                }
            }
            // Whatever each query drew, the rows are the rows of a full draw.
            for (r, row) in full_rows.iter().enumerate() {
                assert_eq!(lazy.row(r), *row, "case {case} row {r}");
            }
        }
    }

    #[test]
    fn quantile_comparisons_equal_the_compared_quantile_and_draw_no_deeper() {
        let plans = [plan(80.0, 0.39, 0.0).0, plan(200.0, 0.6, 0.02).0, plan(30.0, 1.5, 0.2).0];
        let cmps = [Cmp::Lt, Cmp::Le, Cmp::Gt, Cmp::Ge];
        // Limits on bucket bounds, between them, beyond them and not a number.
        let mut limits: Vec<f64> = BUCKETS_MS[..NB - 1].to_vec();
        limits.extend([0.0, -1.0, 3.0, 180.0, 499.9, 500.1, 1999.0, 2000.5, 1e9, f64::INFINITY, f64::NAN]);
        let mut deeper = 0;
        for case in 0..36u64 {
            let rows = test_rows(case, 5, 6, 7);
            let mut exact = histogram(&rows, &plans, case);
            for (from, to) in [(0, 20), (3, 5), (7, 12), (10, 11), (19, 20), (20, 20)] {
                for q in [0.0, 0.5, 0.9, 0.99, 1.0] {
                    let value = exact.quantile(q, from, to);
                    for cmp in cmps {
                        for &limit in &limits {
                            let mut lazy = histogram(&rows, &plans, case);
                            let (got, total) = lazy.quantile_holds(q, from, to, cmp, limit);
                            assert_eq!(total, exact.total(from, to));
                            let want = value.map(|v| cmp.holds(v, limit));
                            assert_eq!(
                                got,
                                want,
                                "case {case} ({from}, {to}] q {q}: {value:?} {} {limit}",
                                cmp.symbol()
                            );
                            // Never deeper than the quantile itself draws; often shallower.
                            let mut quantile = histogram(&rows, &plans, case);
                            quantile.quantile(q, from, to);
                            for r in from + 1..=to.min(20) {
                                assert!(lazy.rows.head[r].next >= quantile.rows.head[r].next, "case {case} row {r}");
                                deeper += usize::from(lazy.rows.head[r].next > quantile.rows.head[r].next);
                            }
                            // And what it drew is what a full draw has.
                            for r in 0..=20 {
                                assert_eq!(lazy.row(r), exact.row(r), "case {case} row {r}");
                            }
                        }
                    }
                }
            }
        }
        assert!(deeper > 3_000, "comparisons should often stop above the quantile's bucket: {deeper}");
    }

    /// Pooled counts of `rows` draws of `n` requests against `p`; also the
    /// variance of bucket `v` and the covariance of buckets `k` and `j`
    /// against the multinomial's n·p(1 − p) and −n·p·p'.
    fn assert_multinomial(plan: &HistPlan, p: &[f64; NB], n: u64, rows: usize, v: usize, (k, j): (usize, usize)) {
        let mut h = LazyHistogram::default();
        h.reset(11, 1, *plan);
        let mut pooled = [0f64; NB];
        let (mut sk, mut sj, mut skj, mut sv, mut svv) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for row in 1..=rows {
            h.record(row, n);
            // Half the rows are read from the top first, as queries do.
            if row % 2 == 0 {
                h.quantile(0.99, row - 1, row);
            }
            let c = h.row(row);
            assert_eq!(c.iter().sum::<u64>(), n);
            pooled.iter_mut().zip(c).for_each(|(t, x)| *t += x as f64);
            let (x, y, z) = (c[k] as f64, c[j] as f64, c[v] as f64);
            (sk, sj, skj, sv, svv) = (sk + x, sj + y, skj + x * y, sv + z, svv + z * z);
        }
        let (all, m) = ((rows as u64 * n) as f64, rows as f64);
        let (mut stat, mut df, mut cell) = (0.0f64, 0.0f64, (0.0f64, 0.0f64));
        for (o, pk) in pooled.iter().zip(p) {
            cell = (cell.0 + o, cell.1 + all * pk);
            if cell.1 >= 5.0 {
                stat += (cell.0 - cell.1).powi(2) / cell.1;
                df += 1.0;
                cell = (0.0, 0.0);
            }
        }
        let z = 3.090_232_306;
        let critical = (df - 1.0) * (1.0 - 2.0 / (9.0 * (df - 1.0)) + z * (2.0 / (9.0 * (df - 1.0))).sqrt()).powi(3);
        assert!(stat < critical, "pooled chi-square {stat:.1} on {} df >= {critical:.1}", df - 1.0);
        let var = svv / m - (sv / m).powi(2);
        let want_var = n as f64 * p[v] * (1.0 - p[v]);
        assert!((var / want_var - 1.0).abs() < 0.06, "variance of bucket {v}: {var:.2} vs {want_var:.2}");
        let cov = skj / m - sk / m * sj / m;
        let want_cov = -(n as f64) * p[k] * p[j];
        assert!((cov / want_cov - 1.0).abs() < 0.12, "covariance of buckets {k}, {j}: {cov:.2} vs {want_cov:.2}");
    }

    #[test]
    fn lazy_rows_are_multinomial_with_the_bucket_probabilities() {
        // The seed's healthy latency: the tail is almost always empty.
        let (healthy, p) = plan(80.0, 0.39, 0.0);
        assert_multinomial(&healthy, &p, 900, 20_000, 6, (6, 5));
        // A tail of six buckets whose count is rarely zero, so it is split among them.
        let (slow, p) = plan(300.0, 0.3, 0.0);
        assert!(slow.tail <= NB - 6 && 200_000.0 * slow.tail_p.p() > 3.0, "{slow:?}");
        assert_multinomial(&slow, &p, 200_000, 10_000, slow.tail, (9, 10));
        // A sampler drawing from 1% faster latency fails the same test.
        let (shifted, _) = plan(79.2, 0.39, 0.0);
        let (_, p) = plan(80.0, 0.39, 0.0);
        let wrong = std::panic::catch_unwind(|| assert_multinomial(&shifted, &p, 900, 20_000, 6, (6, 5)));
        assert!(wrong.is_err(), "the test does not see latencies 1% off");
    }
}
