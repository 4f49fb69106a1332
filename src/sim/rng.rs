//! Random streams and the few samplers the simulator needs beyond rand_distr.
//!
//! Trial `k` of a run with master seed `S` is seeded from a SplitMix64 hash of
//! `(S, k)`, and each trial splits into named streams (fault draw, fleet noise)
//! so that policy variants can share the same trials (common random numbers).
//! The generator is xoshiro256++ from `rand_xoshiro`: named and portable, unlike
//! `StdRng`/`SmallRng`, whose algorithms may change between releases.

use rand::{Rng, SeedableRng};
use rand_distr::{Binomial, Distribution, Poisson};
use rand_xoshiro::Xoshiro256PlusPlus;

pub type SimRng = Xoshiro256PlusPlus;

/// SplitMix64 finaliser: a bijective 64-bit mix.
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of trial `k` under master seed `master`.
pub fn trial_seed(master: u64, k: u64) -> u64 {
    splitmix64(splitmix64(master) ^ k.wrapping_mul(0xD1B5_4A32_D192_ED03))
}

/// Named streams of one trial.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    /// Which fault, its magnitudes and onset.
    Fault = 1,
    /// Traffic noise, request outcomes, gauges, crashes.
    Fleet = 2,
    /// Cache hits: drawn only when a rule reads them, so from a stream of their own
    /// (drawing them or not never shifts another series).
    Cache = 3,
    /// User reports of failed requests: likewise optional, likewise their own stream.
    Reports = 4,
}

pub fn stream(trial_seed: u64, s: Stream) -> SimRng {
    SimRng::seed_from_u64(splitmix64(trial_seed ^ (s as u64).wrapping_mul(0xA076_1D64_78BD_642F)))
}

/// The generator of one row's lazily drawn values (see `store::LazyHistogram`).
pub fn row_stream(trial_seed: u64, row: u64) -> SimRng {
    SimRng::seed_from_u64(splitmix64(trial_seed ^ splitmix64(row ^ 0x005E_ED0F_1A7E)))
}

/// A multinomial draw of `n` over buckets given conditional probabilities
/// `cond[k]` = P(bucket k | not in a lower bucket); the last bucket takes the rest.
#[inline]
pub fn multinomial(rng: &mut SimRng, n: u64, cond: &[f64], out: &mut [u64]) {
    let mut left = n;
    let last = out.len() - 1;
    for (k, o) in out.iter_mut().enumerate() {
        if left == 0 {
            *o = 0;
            continue;
        }
        let x = if k == last { left } else { binomial(rng, left, cond[k]) };
        *o = x;
        left -= x;
    }
}

/// A uniform draw in [0, 1).
#[inline]
pub fn uniform(rng: &mut SimRng) -> f64 {
    rng.random::<f64>()
}

/// Poisson(mean) as a count. Small means use inversion (cheap, exact);
/// larger ones rand_distr's PTRS sampler.
#[inline]
pub fn poisson(rng: &mut SimRng, mean: f64) -> u64 {
    if mean <= 0.0 || !mean.is_finite() {
        return 0;
    }
    if mean < 12.0 {
        let mut k = 0u64;
        let mut p = (-mean).exp();
        let mut cdf = p;
        let u = uniform(rng);
        while u > cdf && k < 1000 {
            k += 1;
            p *= mean / k as f64;
            cdf += p;
        }
        return k;
    }
    Poisson::new(mean).map(|d| d.sample(rng) as u64).unwrap_or(0)
}

/// Binomial(n, p) as a count.
#[inline]
pub fn binomial(rng: &mut SimRng, n: u64, p: f64) -> u64 {
    if n == 0 || p <= 0.0 {
        return 0;
    }
    if p >= 1.0 {
        return n;
    }
    // For a small expected count inversion is exact and cheaper than BTPE setup.
    let mean = n as f64 * p;
    if mean < 8.0 && n > 16 {
        let q = 1.0 - p;
        let mut k = 0u64;
        let mut pk = q.powf(n as f64);
        let mut cdf = pk;
        let u = uniform(rng);
        let r = p / q;
        while u > cdf && k < n {
            pk *= r * (n - k) as f64 / (k + 1) as f64;
            k += 1;
            cdf += pk;
            if pk < 1e-300 && cdf >= 1.0 - 1e-15 {
                break;
            }
        }
        return k;
    }
    Binomial::new(n, p).map(|d| d.sample(rng)).unwrap_or(0)
}

/// A standard normal draw.
#[inline]
pub fn normal(rng: &mut SimRng) -> f64 {
    rand_distr::StandardNormal.sample(rng)
}

/// Φ⁻¹(p): the standard normal quantile (Acklam's rational approximation,
/// relative error below 1.15e-9 on (0, 1)).
pub fn normal_quantile(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969683028665376e+01,
        2.209460984245205e+02,
        -2.759285104469687e+02,
        1.383_577_518_672_69e2,
        -3.066479806614716e+01,
        2.506628277459239e+00,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e+01,
        1.615858368580409e+02,
        -1.556989798598866e+02,
        6.680131188771972e+01,
        -1.328068155288572e+01,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-03,
        -3.223964580411365e-01,
        -2.400758277161838e+00,
        -2.549732539343734e+00,
        4.374664141464968e+00,
        2.938163982698783e+00,
    ];
    const D: [f64; 4] = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00];
    let plow = 0.02425;
    if p < plow {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - plow {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    }
}

/// Φ(x), the standard normal CDF.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// Complementary error function (Numerical Recipes' erfcc, |rel. err| < 1.2e-7):
/// used for bucket probabilities, computed once per latency state.
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.26551223
            + t * (1.00002368
                + t * (0.37409196
                    + t * (0.09678418
                        + t * (-0.18628806
                            + t * (0.27886807
                                + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// The maximum of `n` iid N(mean, sd) values in one draw: Φ⁻¹(U^(1/n)).
#[inline]
pub fn max_of_normals(rng: &mut SimRng, n: u64, mean: f64, sd: f64) -> f64 {
    if n == 0 {
        return f64::NAN;
    }
    let u = uniform(rng).max(f64::MIN_POSITIVE);
    mean + sd * normal_quantile(u.powf(1.0 / n as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantile_inverts_the_cdf() {
        for p in [1e-6, 0.01, 0.025, 0.5, 0.9, 0.99, 0.999_999] {
            let x = normal_quantile(p);
            assert!((normal_cdf(x) - p).abs() < 2e-7 * p.max(1e-3), "{p} -> {x}");
        }
        assert!((normal_quantile(0.975) - 1.959964).abs() < 1e-5);
    }

    #[test]
    fn samplers_have_the_right_means() {
        let mut rng = stream(trial_seed(7, 0), Stream::Fleet);
        for mean in [0.3, 5.0, 40.0, 900.0] {
            let n = 20_000;
            let total: u64 = (0..n).map(|_| poisson(&mut rng, mean)).sum();
            let m = total as f64 / n as f64;
            assert!((m - mean).abs() < 4.0 * (mean / n as f64).sqrt(), "poisson {mean}: {m}");
        }
        for (trials, p) in [(900u64, 0.001), (17_000, 0.001), (50, 0.3)] {
            let n = 20_000;
            let total: u64 = (0..n).map(|_| binomial(&mut rng, trials, p)).sum();
            let m = total as f64 / n as f64;
            let mean = trials as f64 * p;
            assert!((m - mean).abs() < 4.0 * (mean * (1.0 - p) / n as f64).sqrt(), "binomial {trials},{p}: {m}");
        }
        // Max of 5 standard normals has mean 1.16296.
        let n = 40_000;
        let m: f64 = (0..n).map(|_| max_of_normals(&mut rng, 5, 0.0, 1.0)).sum::<f64>() / n as f64;
        assert!((m - 1.16296).abs() < 0.02, "{m}");
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..3).map(|k| trial_seed(1, k)).collect();
        assert_eq!(a, (0..3).map(|k| trial_seed(1, k)).collect::<Vec<_>>());
        assert_ne!(a[0], a[1]);
        let mut f = stream(a[0], Stream::Fault);
        let mut g = stream(a[0], Stream::Fleet);
        assert_ne!(f.random::<u64>(), g.random::<u64>());
    }
}
