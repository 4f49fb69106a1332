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

const Z95: f64 = 1.959_963_984_540_054;

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

/// `sorted` must be in ascending order (with `+inf` last).
pub fn quantile(sorted: &[f64], q: f64) -> Quantile {
    let n = sorted.len();
    if n == 0 {
        return Quantile { q, n, value: f64::NAN, lo: f64::NAN, hi: f64::NAN };
    }
    let nf = n as f64;
    // Nearest-rank estimate; interval ranks from the normal approximation to Binomial(n, q).
    let rank = ((q * nf).ceil() as usize).clamp(1, n) - 1;
    let half = Z95 * (nf * q * (1.0 - q)).sqrt();
    let lo = ((q * nf - half).floor().max(1.0) as usize).min(n) - 1;
    let hi = ((q * nf + half).ceil().max(1.0) as usize).min(n) - 1;
    Quantile { q, n, value: sorted[rank], lo: sorted[lo], hi: sorted[hi] }
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
}
