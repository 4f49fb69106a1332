//! One group's requests and errors by request class, split on demand.

use crate::sim::rng::{binomial_with, class_stream, error_stream, hypergeometric, BinomialP, SimRng};

/// One group's requests and errors per request class, split on demand.
///
/// A tick draws the group's requests (Poisson) and, when every class has
/// the same error probability, its errors (binomial); the split by class is
/// drawn only for rows a class-scoped query reads, from a generator seeded
/// by (trial seed, group, row): requests by conditional binomials over the
/// class shares (with Poisson requests this is exactly independent Poisson
/// counts per class), then errors as a multivariate hypergeometric draw
/// given the class counts (exact: each request fails independently with the
/// same probability, so the failed ones are a uniform subset). When the
/// classes' error probabilities differ (a class-specific fault), the split
/// of requests is drawn at once from the same row stream and each class's
/// errors from its own probability.
///
/// A group's errors may themselves be drawn on demand ([`ClassSplit::record_lazy`]):
/// the tick keeps the row's requests and error probability, and the first
/// read draws the errors, Binomial(requests, p), from the row's own error
/// stream, so the stable group's errors cost nothing in the phases no rule
/// reads them.
#[derive(Debug, Clone, Default)]
pub struct ClassSplit {
    seed: u64,
    group: u64,
    classes: usize,
    /// P(class c | not an earlier class).
    cond: Vec<BinomialP>,
    /// Per row: total requests, total errors ([`PENDING`]: not drawn yet), whether split.
    rows: Vec<(u64, u64, bool)>,
    /// The error probability of each row whose errors are pending (by index into `probs`).
    prob_of: Vec<u32>,
    /// The error probabilities of pending rows this trial.
    probs: Vec<BinomialP>,
    /// Per row and class: (requests, errors); valid once the row is split.
    split: Vec<(u64, u64)>,
    /// Running sums of the split rows (`prefix[r]`: rows 1..=r), for Prometheus views.
    prefix: Vec<(u64, u64)>,
}

impl ClassSplit {
    pub fn new(classes: usize) -> ClassSplit {
        ClassSplit { classes, ..ClassSplit::default() }
    }

    /// Starts a trial of group `group` whose rows are split by the class
    /// `shares` (one per class, summing to 1) from streams of `seed`.
    pub fn reset(&mut self, seed: u64, group: usize, shares: &[f64]) {
        debug_assert_eq!(shares.len(), self.classes);
        self.seed = seed;
        self.group = group as u64;
        self.cond.clear();
        let mut left = 1.0;
        for (i, &s) in shares.iter().enumerate() {
            let last = i + 1 == shares.len();
            self.cond.push(BinomialP::new(if last || left <= 0.0 { 1.0 } else { s / left }));
            left -= s;
        }
        self.rows.clear();
        self.prefix.clear();
        self.probs.clear();
    }

    fn ensure(&mut self, row: usize) {
        let old = self.rows.len();
        if old <= row {
            // Rows come one after another: a push, most often.
            if old == row {
                self.rows.push((0, 0, true));
            } else {
                self.rows.resize(row + 1, (0, 0, true));
            }
            // The split buffer outlives trials (a row's cells are valid once
            // it is split); rows skipped over are empty and split into zeros.
            let need = (row + 1) * self.classes;
            if self.split.len() < need {
                self.split.resize(need, (0, 0));
            }
            self.split[old * self.classes..row * self.classes].fill((0, 0));
        }
    }

    /// Records row `row` with `requests` whose errors, Binomial(requests, `p`),
    /// are drawn when first read.
    pub fn record_lazy(&mut self, row: usize, requests: u64, p: &BinomialP) {
        self.ensure(row);
        // A probability's constants derive from it: comparing it compares them.
        if self.probs.last().map(BinomialP::p) != Some(p.p()) {
            self.probs.push(*p);
        }
        let state = (self.probs.len() - 1) as u32;
        if self.prob_of.len() == row {
            self.prob_of.push(state);
        } else {
            if self.prob_of.len() < row {
                self.prob_of.resize(row + 1, 0);
            }
            self.prob_of[row] = state;
        }
        self.rows[row] = (requests, PENDING, false);
    }

    /// Row `row`'s errors, drawn now if pending.
    pub fn errors(&mut self, row: usize) -> u64 {
        let Some(r) = self.rows.get_mut(row) else { return 0 };
        if r.1 == PENDING {
            let mut rng = error_stream(self.seed, self.group, row as u64);
            r.1 = binomial_with(&mut rng, r.0, &self.probs[self.prob_of[row] as usize]);
        }
        r.1
    }

    /// Errors in rows `(from, to]`.
    pub fn errors_between(&mut self, from: usize, to: usize) -> u64 {
        let to = to.min(self.rows.len().saturating_sub(1));
        (from + 1..=to).map(|r| self.errors(r)).sum()
    }

    /// Records row `row` with `requests` and `errors`, to be split when read.
    pub fn record(&mut self, row: usize, requests: u64, errors: u64) {
        self.ensure(row);
        self.rows[row] = (requests, errors, false);
    }

    /// Records row `row` with `requests` split by class now, and each class's
    /// errors from `errors(class, requests)`; returns the row's errors.
    pub fn record_split(&mut self, row: usize, requests: u64, mut errors: impl FnMut(usize, u64) -> u64) -> u64 {
        self.ensure(row);
        self.rows[row] = (requests, 0, false);
        self.split_requests(row);
        let mut total = 0;
        for c in 0..self.classes {
            let cell = &mut self.split[row * self.classes + c];
            cell.1 = errors(c, cell.0);
            total += cell.1;
        }
        self.rows[row] = (requests, total, true);
        total
    }

    /// Sets row `row` as already split (loading a recorded trial).
    pub fn set_row(&mut self, row: usize, per_class: &[(u64, u64)]) {
        self.ensure(row);
        let (req, err) = per_class.iter().fold((0, 0), |(r, e), c| (r + c.0, e + c.1));
        self.rows[row] = (req, err, true);
        self.split[row * self.classes..(row + 1) * self.classes].copy_from_slice(per_class);
    }

    /// Draws row `row`'s requests by class into `split` (errors left as they are).
    fn split_requests(&mut self, row: usize) -> SimRng {
        let mut rng = class_stream(self.seed, self.group, row as u64);
        let mut left = self.rows[row].0;
        for c in 0..self.classes {
            let n = if left == 0 { 0 } else { binomial_with(&mut rng, left, &self.cond[c]) };
            self.split[row * self.classes + c].0 = n;
            left -= n;
        }
        rng
    }

    /// Row `row`'s (requests, errors) of class `c`, split now if not yet.
    pub fn class(&mut self, row: usize, c: usize) -> (u64, u64) {
        let Some(&(_, _, split)) = self.rows.get(row) else { return (0, 0) };
        if !split {
            let errors = self.errors(row);
            let mut rng = self.split_requests(row);
            // The failed requests: a uniform subset of `errors` of them.
            let (mut pool, mut left) = (self.rows[row].0, errors);
            for k in 0..self.classes {
                let cell = &mut self.split[row * self.classes + k];
                let e = if left == 0 || pool == cell.0 { left } else { hypergeometric(&mut rng, pool, cell.0, left) };
                cell.1 = e;
                pool -= cell.0;
                left -= e;
            }
            self.rows[row].2 = true;
        }
        self.split[row * self.classes + c]
    }

    /// Class `c`'s (requests, errors) in rows `(from, to]`.
    pub fn between(&mut self, c: usize, from: usize, to: usize) -> (u64, u64) {
        let to = to.min(self.rows.len().saturating_sub(1));
        (from + 1..=to).map(|r| self.class(r, c)).fold((0, 0), |(a, b), (x, y)| (a + x, b + y))
    }

    /// Class `c`'s (requests, errors) in rows 1..=`row`.
    pub fn through(&mut self, c: usize, row: usize) -> (u64, u64) {
        let row = row.min(self.rows.len().saturating_sub(1));
        let k = self.classes;
        if self.prefix.is_empty() {
            self.prefix.resize(k, (0, 0));
        }
        while self.prefix.len() <= row * k + c {
            let r = self.prefix.len() / k;
            for j in 0..k {
                let (req, err) = self.class(r, j);
                let prev = self.prefix[(r - 1) * k + j];
                self.prefix.push((prev.0 + req, prev.1 + err));
            }
        }
        self.prefix[row * k + c]
    }
}

/// Errors of a row not drawn yet (see [`ClassSplit::record_lazy`]).
const PENDING: u64 = u64::MAX;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_drawn_on_demand_are_binomial_whatever_is_read_first() {
        use crate::sim::rng::tests::{binomial_ln_pmf, chi_square_passes};
        // The seed's stable group: 17,000 requests a tick failing at 0.1%,
        // then a state with 2%: each row draws with its own probability.
        let shares = [0.03, 0.07, 0.9];
        let (n, rows) = (17_000u64, 40_000usize);
        let (p1, p2) = (BinomialP::new(0.001), BinomialP::new(0.02));
        let mut a = ClassSplit::new(3);
        let mut b = ClassSplit::new(3);
        a.reset(11, 1, &shares);
        b.reset(11, 1, &shares);
        for row in 1..=2 * rows {
            let p = if row <= rows { &p1 } else { &p2 };
            a.record_lazy(row, n, p);
            b.record_lazy(row, n, p);
        }
        // b is read class by class first (which draws the errors), a by its errors.
        for row in (1..=2 * rows).rev() {
            let split: Vec<(u64, u64)> = (0..3).map(|c| b.class(row, c)).collect();
            let e = a.errors(row);
            assert_eq!(split.iter().map(|c| c.1).sum::<u64>(), e, "row {row}");
            assert_eq!(split.iter().map(|c| c.0).sum::<u64>(), n);
            assert_eq!((0..3).map(|c| a.class(row, c)).collect::<Vec<_>>(), split);
        }
        assert_eq!(a.errors_between(10, 20), (11..=20).map(|r| b.errors(r)).sum::<u64>());
        for (p, range) in [(0.001, 1..=rows), (0.02, rows + 1..=2 * rows)] {
            let draws: Vec<u64> = range.map(|r| a.errors(r)).collect();
            chi_square_passes(&draws, n, |k| binomial_ln_pmf(n, p, k).exp(), &format!("errors at p = {p}"));
        }
        // The same test tells a wrong probability: the second state's rows judged at 1.9%.
        let draws: Vec<u64> = (rows + 1..=2 * rows).map(|r| a.errors(r)).collect();
        let wrong = std::panic::catch_unwind(|| {
            chi_square_passes(&draws, n, |k| binomial_ln_pmf(n, 0.019, k).exp(), "wrong p");
        });
        assert!(wrong.is_err(), "a 5% error in p passes the chi-square test");
    }

    #[test]
    fn class_splits_are_independent_poisson_classes_whatever_is_read_first() {
        // Rows of Poisson(μ) requests with Binomial(·, p) errors, split lazily:
        // each class must be Poisson(μ·share) with Poisson(μ·share·p) errors,
        // the classes uncorrelated, and the split independent of read order.
        use crate::sim::rng::{binomial, poisson, stream, Stream};
        let (shares, mu, p, rows) = ([0.03, 0.07, 0.9], 900.0, 0.02, 40_000usize);
        let mut rng = stream(9, Stream::Fleet);
        let mut a = ClassSplit::new(3);
        let mut b = ClassSplit::new(3);
        a.reset(4, 0, &shares);
        b.reset(4, 0, &shares);
        let mut sums = [[0f64; 2]; 3];
        let mut sq = [[0f64; 2]; 3];
        let mut cross = 0.0;
        let mut counts = vec![0u64; 200];
        for row in 1..=rows {
            let n = poisson(&mut rng, mu);
            let e = binomial(&mut rng, n, p);
            a.record(row, n, e);
            b.record(row, n, e);
            let cells: Vec<(u64, u64)> = (0..3).map(|c| a.class(row, c)).collect();
            // Read in the other order: the same split.
            assert_eq!(
                (0..3).rev().map(|c| b.class(row, c)).collect::<Vec<_>>(),
                cells.iter().rev().copied().collect::<Vec<_>>()
            );
            assert_eq!(cells.iter().map(|c| c.0).sum::<u64>(), n);
            assert_eq!(cells.iter().map(|c| c.1).sum::<u64>(), e);
            for (c, &(req, err)) in cells.iter().enumerate() {
                assert!(err <= req);
                for (k, v) in [req, err].into_iter().enumerate() {
                    sums[c][k] += v as f64;
                    sq[c][k] += (v * v) as f64;
                }
            }
            cross += (cells[0].0 * cells[1].0) as f64;
            counts[(cells[0].0 as usize).min(199)] += 1;
        }
        let m = rows as f64;
        for (c, share) in shares.iter().enumerate() {
            for (k, want) in [mu * share, mu * share * p].into_iter().enumerate() {
                let mean = sums[c][k] / m;
                let var = sq[c][k] / m - mean * mean;
                // Poisson: mean and variance both μ·share (·p), within 4 standard errors.
                assert!((mean - want).abs() < 4.0 * (want / m).sqrt(), "class {c} {k}: mean {mean} vs {want}");
                assert!((var / want - 1.0).abs() < 0.06, "class {c} {k}: variance {var} vs {want}");
            }
        }
        let cov = cross / m - sums[0][0] / m * sums[1][0] / m;
        let sd = (mu * shares[0] * mu * shares[1] / m).sqrt();
        assert!(cov.abs() < 4.0 * sd, "classes 0 and 1 correlate: covariance {cov}");
        // The payment class against Poisson(27) cell by cell (chi-square, cells of ≥ 5 expected).
        let lambda: f64 = mu * shares[0];
        let (mut stat, mut df, mut cell, mut pk) = (0.0, 0.0, (0.0, 0.0), (-lambda).exp());
        for (k, &o) in counts.iter().enumerate() {
            if k > 0 {
                pk *= lambda / k as f64;
            }
            cell = (cell.0 + o as f64, cell.1 + m * pk);
            if cell.1 >= 5.0 && k < 199 {
                stat += (cell.0 - cell.1) * (cell.0 - cell.1) / cell.1;
                df += 1.0;
                cell = (0.0, 0.0);
            }
        }
        assert!(stat < 2.0 * df + 30.0, "chi-square {stat:.1} on {df} cells");
        // Running sums agree with the rows.
        let (mut req, mut err) = (0, 0);
        for row in 1..=50 {
            let (r, e) = a.class(row, 1);
            req += r;
            err += e;
            assert_eq!(a.through(1, row), (req, err));
        }
        assert_eq!(a.between(1, 0, 50), (req, err));

        // Many errors per row (a bad version at a large weight): each class's
        // errors are still Poisson(μ·share·p).
        let (mu, p, rows) = (9_000.0, 0.018, 10_000usize);
        let mut big = ClassSplit::new(3);
        big.reset(5, 0, &shares);
        let mut stats = [(0f64, 0f64); 3];
        for row in 1..=rows {
            let n = poisson(&mut rng, mu);
            big.record(row, n, binomial(&mut rng, n, p));
            for (c, st) in stats.iter_mut().enumerate() {
                let e = big.class(row, c).1 as f64;
                *st = (st.0 + e, st.1 + e * e);
            }
        }
        for (c, (sum, sq)) in stats.iter().enumerate() {
            let want = mu * shares[c] * p;
            let (mean, var) = (sum / rows as f64, sq / rows as f64 - (sum / rows as f64).powi(2));
            assert!((mean - want).abs() < 4.0 * (want / rows as f64).sqrt(), "class {c}: mean errors {mean} vs {want}");
            assert!((var / want - 1.0).abs() < 0.08, "class {c}: variance of errors {var} vs {want}");
        }
    }
}
