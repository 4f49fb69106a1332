//! Confidence intervals: Wilson for rates, order statistics for quantiles.

/// A rate with its 95% Wilson score interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub hits: u64,
    pub n: u64,
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
}

pub const Z95: f64 = 1.959_963_984_540_054;

/// The level to read a percentile bootstrap interval at so that it covers
/// about as often as a two-sided interval at level `alpha` should, for a
/// statistic of `n` values: Hesterberg's expanded percentile interval,
/// α' = 2Φ(−√(n/(n−1)) · t₍ₙ₋₁₎(1 − α/2)). The plain percentile interval is
/// too narrow for small samples (a z quantile where a t belongs, and a
/// variance divided by n); α' tends to α as n grows.
pub fn expanded_alpha(alpha: f64, n: usize) -> f64 {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    if n < 2 {
        return alpha;
    }
    let nf = n as f64;
    let t = StudentsT::new(0.0, 1.0, nf - 1.0).map_or(Z95, |d| d.inverse_cdf(1.0 - alpha / 2.0));
    // 2Φ(−x) = erfc(x/√2).
    statrs::function::erf::erfc((nf / (nf - 1.0)).sqrt() * t / std::f64::consts::SQRT_2)
}

pub fn wilson(hits: u64, n: u64) -> Rate {
    if n == 0 {
        return Rate { hits, n, value: f64::NAN, lo: f64::NAN, hi: f64::NAN };
    }
    let nf = n as f64;
    let p = hits as f64 / nf;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / nf;
    let centre = (p + z2 / (2.0 * nf)) / denom;
    let half = Z95 * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt() / denom;
    // At the bounds the interval touches 0 or 1 exactly.
    let lo = if hits == 0 { 0.0 } else { (centre - half).max(0.0) };
    let hi = if hits == n { 1.0 } else { (centre + half).min(1.0) };
    Rate { hits, n, value: p, lo, hi }
}

/// A quantile with a distribution-free 95% interval from order statistics.
/// Values may be `+inf` (censored: never happened); then the estimate may be infinite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantile {
    pub q: f64,
    pub n: usize,
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
}

/// Cumulative probabilities `P(B <= k)` for `k = 0..=n`, `B ~ Binomial(n, q)`,
/// computed in log space so that large `n` neither underflows nor overflows.
fn binomial_cdf(n: usize, q: f64) -> Vec<f64> {
    if q <= 0.0 {
        return vec![1.0; n + 1];
    }
    if q >= 1.0 {
        let mut v = vec![0.0; n + 1];
        v[n] = 1.0;
        return v;
    }
    let (lq, lp) = (q.ln(), (1.0 - q).ln());
    let mut log_pmf = Vec::with_capacity(n + 1);
    // log C(n, k) by the recurrence C(n, k+1) = C(n, k) (n-k)/(k+1).
    let mut log_c = 0.0f64;
    for k in 0..=n {
        log_pmf.push(log_c + k as f64 * lq + (n - k) as f64 * lp);
        log_c += ((n - k) as f64).ln() - ((k + 1) as f64).ln();
    }
    let top = log_pmf.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = log_pmf.iter().map(|l| (l - top).exp()).collect();
    let total: f64 = weights.iter().sum();
    let mut acc = 0.0;
    weights
        .iter()
        .map(|w| {
            acc += w / total;
            acc.min(1.0)
        })
        .collect()
}

/// The 1-based ranks `(l, u)` of the order statistics that bound the
/// `q`-quantile with at least 95% coverage, exactly: with `B ~ Binomial(n, q)`
/// the number of observations below the true quantile, `P(B < l) <= 2.5%` and
/// `P(B >= u) <= 2.5%`. `l = 0` means no order statistic is low enough (the
/// lower bound is unbounded, -inf); `u = n + 1` means none is high enough (+inf).
pub fn quantile_ranks(n: usize, q: f64) -> (usize, usize) {
    let cdf = binomial_cdf(n, q);
    // Largest l >= 1 with P(B <= l-1) <= 0.025.
    let l = (1..=n).rev().find(|&l| cdf[l - 1] <= 0.025).unwrap_or(0);
    // Smallest u <= n with P(B <= u-1) >= 0.975.
    let u = (1..=n).find(|&u| cdf[u - 1] >= 0.975).unwrap_or(n + 1);
    (l, u)
}

/// `sorted` must be in ascending order (with `+inf` last). The estimate is the
/// nearest-rank order statistic; the interval uses exact binomial
/// order-statistic ranks ([`quantile_ranks`]). A bound no order statistic
/// reaches at this sample size is infinite (-inf or +inf): "unbounded".
pub fn quantile(sorted: &[f64], q: f64) -> Quantile {
    let n = sorted.len();
    if n == 0 {
        return Quantile { q, n, value: f64::NAN, lo: f64::NAN, hi: f64::NAN };
    }
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
    let (l, u) = quantile_ranks(n, q);
    let lo = if l == 0 { f64::NEG_INFINITY } else { sorted[l - 1] };
    let hi = if u > n { f64::INFINITY } else { sorted[u - 1] };
    Quantile { q, n, value: sorted[rank], lo, hi }
}

/// Sorts with NaN-free total order (`+inf` last).
pub fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

/// Mean in the given order (callers pass trial order, so results are reproducible).
pub fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.iter().sum::<f64>() / v.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expanded_alpha_widens_small_samples_and_tends_to_alpha() {
        // n = 10: t(9) at 0.975 is 2.2622, times √(10/9) is 2.3846; 2Φ(−2.3846) = 0.0171.
        assert!((expanded_alpha(0.05, 10) - 0.0171).abs() < 2e-4, "{}", expanded_alpha(0.05, 10));
        // n = 2: t(1) at 0.975 is 12.706, times √2 is 17.97: far in the tail.
        assert!(expanded_alpha(0.05, 2) < 1e-60);
        // Monotone towards α, and α itself where no t correction applies.
        let levels: Vec<f64> = [3, 5, 10, 30, 100, 1000, 100_000].iter().map(|&n| expanded_alpha(0.05, n)).collect();
        assert!(levels.windows(2).all(|w| w[0] < w[1]), "{levels:?}");
        assert!((expanded_alpha(0.05, 100_000) - 0.05).abs() < 1e-4);
        assert_eq!(expanded_alpha(0.05, 1), 0.05);
        // A Bonferroni level is expanded the same way: smaller than the 5% one.
        assert!(expanded_alpha(0.05 / 8.0, 50) < expanded_alpha(0.05, 50) / 8.0);
    }

    #[test]
    fn wilson_matches_known_values() {
        // 10 of 100: Wilson 95% = [0.0552, 0.1744].
        let r = wilson(10, 100);
        assert!((r.lo - 0.0552).abs() < 5e-4 && (r.hi - 0.1744).abs() < 5e-4, "{r:?}");
        let z = wilson(0, 50);
        assert_eq!(z.lo, 0.0);
        assert!(z.hi > 0.05 && z.hi < 0.08);
    }

    #[test]
    fn quantiles_use_order_statistics() {
        let v: Vec<f64> = (1..=100).map(|x| x as f64).collect();
        let q = quantile(&v, 0.5);
        assert_eq!(q.value, 50.0);
        assert!(q.lo <= 50.0 && q.hi >= 50.0 && q.lo >= 38.0 && q.hi <= 62.0, "{q:?}");
        let mut c = v.clone();
        c[95..].iter_mut().for_each(|x| *x = f64::INFINITY);
        assert_eq!(quantile(&c, 0.9).value, 90.0);
        assert!(quantile(&c, 0.99).value.is_infinite());
    }

    /// The exact coverage of the order-statistic interval [X_(l), X_(u)]:
    /// P(l <= B < u) for B ~ Binomial(n, q), with unbounded ends always covering.
    fn coverage(n: usize, q: f64) -> f64 {
        let (l, u) = quantile_ranks(n, q);
        let cdf = binomial_cdf(n, q);
        let below_l = if l == 0 { 0.0 } else { cdf[l - 1] };
        let below_u = if u > n { 1.0 } else { cdf[u - 1] };
        below_u - below_l
    }

    #[test]
    fn quantile_intervals_cover_at_least_95_percent_exactly() {
        // The normal approximation under-covered small groups (n=20, q=0.9: ~88%).
        for n in [1usize, 2, 5, 10, 20, 37, 50, 100, 333, 1000, 5000] {
            for q in [0.1, 0.5, 0.9, 0.99] {
                let c = coverage(n, q);
                assert!(c >= 0.95 - 1e-12, "n={n} q={q}: coverage {c}");
            }
        }
        // Small samples: unreachable bounds are infinite, said so.
        let v: Vec<f64> = (1..=20).map(|x| x as f64).collect();
        let q = quantile(&v, 0.9);
        assert_eq!(q.value, 18.0);
        assert_eq!(q.hi, f64::INFINITY, "no order statistic of 20 bounds p90 from above at 97.5%: {q:?}");
        assert_eq!(q.lo, 15.0);
        let one = quantile(&[5.0], 0.5);
        assert_eq!((one.lo, one.hi), (f64::NEG_INFINITY, f64::INFINITY));
        // Large n: ranks match the textbook values (n=100, median: 40th and 61st).
        assert_eq!(quantile_ranks(100, 0.5), (40, 61));
    }

    #[test]
    fn binomial_cdf_is_exact_for_small_cases_and_stable_for_large_n() {
        let c = binomial_cdf(3, 0.5);
        for (a, b) in c.iter().zip([0.125, 0.5, 0.875, 1.0]) {
            assert!((a - b).abs() < 1e-12, "{c:?}");
        }
        let big = binomial_cdf(200_000, 0.9);
        assert!(big.iter().all(|x| x.is_finite()) && (big[200_000] - 1.0).abs() < 1e-12);
    }
}
