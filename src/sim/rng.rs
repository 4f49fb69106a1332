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

/// The generator that spreads one row's count of series `key` over its
/// scrapes (see `sim::prom`): its own stream per (series, row), so reading one
/// series never shifts another, nor anything the simulation draws.
pub fn scrape_stream(trial_seed: u64, key: u64, row: u64) -> SimRng {
    SimRng::seed_from_u64(splitmix64(trial_seed ^ splitmix64(key ^ 0x5C2A_9E00_0000)) ^ splitmix64(row))
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

/// Φ⁻¹(p): the standard normal quantile, by `statrs`' inverse complementary
/// error function; ±∞ at 0 and 1.
pub fn normal_quantile(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    -std::f64::consts::SQRT_2 * statrs::function::erf::erfc_inv(2.0 * p)
}

/// Φ(x), the standard normal CDF.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * statrs::function::erf::erfc(-x / std::f64::consts::SQRT_2)
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
            assert!((normal_cdf(x) - p).abs() < 1e-14 + 1e-10 * p, "{p} -> {x}: {}", normal_cdf(x) - p);
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
