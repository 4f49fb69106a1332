//! Random streams and the few samplers the simulator needs beyond rand_distr.
//!
//! Trial `k` of a run with master seed `S` is seeded from a SplitMix64 hash of
//! `(S, k)`, and each trial splits into named streams (fault draw, fleet noise)
//! so that policy variants can share the same trials (common random numbers).
//! The generator is xoshiro256++ from `rand_xoshiro`: named and portable, unlike
//! `StdRng`/`SmallRng`, whose algorithms may change between releases.

use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Poisson};
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
    /// Traffic noise, request outcomes, crashes, memory of leaking instances.
    Fleet = 2,
    /// User reports of failed requests: drawn only when a rule reads them, so
    /// from a stream of their own (drawing them or not never shifts another
    /// series). Cache hits and gauges have streams per series and row
    /// ([`cache_stream`], [`gauge_stream`]).
    Reports = 4,
}

/// `SimRng::seed_from_u64(seed)`, computed directly: the state is the first
/// four outputs of SplitMix64 started at `seed`, as rand_xoshiro fills it
/// (through `from_rng`, byte by byte, which cost a lazily drawn row more than
/// its draws). `seeded_equals_seed_from_u64` holds the two equal.
#[inline(always)]
pub fn seeded(seed: u64) -> SimRng {
    const PHI: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut bytes = [0u8; 32];
    for (i, chunk) in bytes.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&splitmix64(seed.wrapping_add(PHI.wrapping_mul(i as u64))).to_le_bytes());
    }
    // An all-zero state is impossible here (SplitMix64 is a bijection and
    // four outputs of it are never all 0), and `from_seed` checks anyway.
    SimRng::from_seed(bytes)
}

pub fn stream(trial_seed: u64, s: Stream) -> SimRng {
    seeded(splitmix64(trial_seed ^ (s as u64).wrapping_mul(0xA076_1D64_78BD_642F)))
}

/// The generator of gauge column `col` of group `g`'s row `row` (see
/// `store::LazyGauges`): one per series and row, so that a value no rule
/// reads is never drawn and which one is read first does not matter.
pub fn gauge_stream(trial_seed: u64, g: usize, col: usize, row: u64) -> SimRng {
    let id = ((16 + 8 * g as u64 + col as u64) << 40) ^ 0x6A_0C3E_0000;
    seeded(splitmix64(trial_seed ^ splitmix64(row ^ id)))
}

/// The generator of the cache hits of group `g`'s row `row` (see `store::LazyCache`).
pub fn cache_stream(trial_seed: u64, g: usize, row: u64) -> SimRng {
    seeded(splitmix64(trial_seed ^ splitmix64(row ^ 0xCAC4_E000_0000 ^ ((g as u64) << 40))))
}

/// The generator of group `g`'s latency histogram row `row` (see `lazy::LazyHistogram`).
pub fn hist_stream(trial_seed: u64, g: u64, row: u64) -> SimRng {
    seeded(splitmix64(trial_seed ^ splitmix64(row ^ 0x005E_ED0F_1A7E ^ (g << 40))))
}

/// The generator of group `g`'s split by request class of row `row` (see `lazy::ClassSplit`).
pub fn class_stream(trial_seed: u64, g: u64, row: u64) -> SimRng {
    seeded(splitmix64(trial_seed ^ splitmix64(row ^ 0xC1A5_5000_0000 ^ (g << 40))))
}

/// The generator of group `g`'s errors of row `row`, when drawn on demand (see `lazy::ClassSplit`).
pub fn error_stream(trial_seed: u64, g: u64, row: u64) -> SimRng {
    seeded(splitmix64(trial_seed ^ splitmix64(row ^ 0xE440_2000_0000 ^ (g << 40))))
}

/// The generator that spreads one row's count of series `key` over its
/// scrapes (see `sim::prom`): its own stream per (series, row), so reading one
/// series never shifts another, nor anything the simulation draws.
pub fn scrape_stream(trial_seed: u64, key: u64, row: u64) -> SimRng {
    seeded(splitmix64(trial_seed ^ splitmix64(key ^ 0x5C2A_9E00_0000)) ^ splitmix64(row))
}

/// A uniform draw in [0, 1).
#[inline]
pub fn uniform(rng: &mut SimRng) -> f64 {
    rng.random::<f64>()
}

/// Poisson(mean) as a count. Small means use inversion (cheap, exact);
/// larger ones rand_distr 0.5's sampler (Ahrens and Dieter's normal-based
/// rejection; faster here than Hörmann's PTRS, whose squeeze accepts only
/// about half the draws at the candidate's small class means), as
/// [`poisson_normal`] computes it.
#[inline]
pub fn poisson(rng: &mut SimRng, mean: f64) -> u64 {
    if mean <= 0.0 || !mean.is_finite() {
        return 0;
    }
    if mean < 12.0 {
        let u = uniform(rng);
        // P(0) = e^−mean ≥ 1 − mean: below that, 0 without the exponential.
        if u < 1.0 - mean {
            return 0;
        }
        let mut k = 0u64;
        let mut p = (-mean).exp();
        let mut cdf = p;
        while u > cdf && k < 1000 {
            k += 1;
            p *= mean / k as f64;
            cdf += p;
        }
        return k;
    }
    poisson_normal(rng, mean)
}

/// rand_distr 0.5's Poisson sampler for means of at least 12 (Ahrens and
/// Dieter, "Computer generation of Poisson deviates from modified normal
/// distributions", ACM TOMS 8(2), 1982), operation for operation and draw for
/// draw — the same values from the same generator — but with its set-up done
/// only as far as a draw needs: most draws are a normal rounded down and
/// accepted at step I, which needs √mean and ⌊mean − 1.1484⌋, where the
/// library computes the ten constants of every step, two of them with a
/// software `floor`, for each new mean (the traffic's mean changes every tick).
fn poisson_normal(rng: &mut SimRng, lambda: f64) -> u64 {
    use std::f64::consts::PI;
    // Beyond 2⁵² (no traffic asks as much), the library itself, whose
    // values may exceed what the truncation below can hold.
    if !(12.0..=4.5e15).contains(&lambda) {
        return Poisson::new(lambda).map(|d| d.sample(rng) as u64).unwrap_or(0);
    }
    // Truncation is floor for the positive values here.
    let floor = |x: f64| (x as i64) as f64;
    let s = lambda.sqrt();
    let l = floor(lambda - 1.1484);
    // Step N.
    let g = lambda + s * rng.sample::<f64, _>(rand_distr::StandardNormal);
    // A non-negative draw, rounded down, and the uniform step S drew for it.
    let mut first = None;
    if g >= 0.0 {
        let k1 = floor(g);
        // Step I.
        if k1 >= l {
            return k1 as u64;
        }
        // Step S.
        let u = rng.random::<f64>();
        if 6.0 * lambda.powi(2) * u >= (lambda - k1).powi(3) {
            return k1 as u64;
        }
        first = Some((k1, u));
    }
    // Steps F and beyond (rare): the rest of the constants.
    let b1 = (1.0 / 24.0) / lambda;
    let b2 = 0.3 * b1 * b1;
    let c3 = (1.0 / 7.0) * b1 * b2;
    let c2 = b2 - 15.0 * c3;
    let c1 = b1 - 6.0 * b2 + 45.0 * c3;
    let c0 = 1.0 - b1 + 3.0 * b2 - 15.0 * c3;
    let c = 0.1069 / lambda;
    let omega = 1.0 / (2.0 * PI).sqrt() / s;
    let f = |k: f64| {
        const FACT: [f64; 10] = [1.0, 1.0, 2.0, 6.0, 24.0, 120.0, 720.0, 5040.0, 40320.0, 362880.0];
        const A: [f64; 10] = [
            -0.5000000002,
            0.3333333343,
            -0.2499998565,
            0.1999997049,
            -0.1666848753,
            0.1428833286,
            -0.1241963125,
            0.1101687109,
            -0.1142650302,
            0.1055093006,
        ];
        let (px, py) = if k < 10.0 {
            (-lambda, lambda.powf(k) / FACT[k as usize])
        } else {
            let delta = (12.0 * k).recip();
            let delta = delta - 4.8 * delta.powi(3);
            let v = (lambda - k) / k;
            let px = if v.abs() <= 0.25 {
                k * v.powi(2) * A.iter().rev().fold(0.0, |acc, &a| acc * v + a) - delta
            } else {
                k * (1.0 + v).ln() - (lambda - k) - delta
            };
            (px, 1.0 / (2.0 * PI).sqrt() / k.sqrt())
        };
        let x = (k - lambda + 0.5) / s;
        let fx = -0.5 * x * x;
        let fy = omega * (((c3 * x * x + c2) * x * x + c1) * x * x + c0);
        (px, py, fx, fy)
    };
    if let Some((k1, u)) = first {
        let (px, py, fx, fy) = f(k1);
        if fy * (1.0 - u) <= py * (px - fx).exp() {
            return k1 as u64;
        }
    }
    loop {
        // Step E.
        let e = rng.sample::<f64, _>(rand_distr::Exp1);
        let u = rng.random::<f64>() * 2.0 - 1.0;
        let t = 1.8 + e * u.signum();
        if t > -0.6744 {
            let k2 = (lambda + s * t).floor();
            let (px, py, fx, fy) = f(k2);
            // Step H.
            if c * u.abs() <= py * (px + e).exp() - fy * (fx + e).exp() {
                return k2 as u64;
            }
        }
    }
}

/// A binomial success probability with the constants its samplers need,
/// computed once per probability rather than once per draw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BinomialP {
    p: f64,
    /// min(p, 1 − p), and whether that is 1 − p.
    q: f64,
    flip: bool,
    /// ln(1 − q), q/(1 − q) and its log.
    ln_1mq: f64,
    r: f64,
    ln_r: f64,
}

impl BinomialP {
    /// `p` clamped to [0, 1] (NaN: 0).
    pub fn new(p: f64) -> BinomialP {
        let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        let flip = p > 0.5;
        let q = if flip { 1.0 - p } else { p };
        let r = q / (1.0 - q);
        BinomialP { p, q, flip, ln_1mq: (-q).ln_1p(), r, ln_r: r.ln() }
    }

    pub fn p(&self) -> f64 {
        self.p
    }
}

/// Binomial(n, p) as a count (see [`binomial_with`]).
#[inline]
pub fn binomial(rng: &mut SimRng, n: u64, p: f64) -> u64 {
    if n == 0 || p.is_nan() || p <= 0.0 {
        return 0;
    }
    binomial_with(rng, n, &BinomialP::new(p))
}

/// Binomial(n, p) as a count. With `q = min(p, 1 − p)`: inversion when
/// `n·q < 10` (an expected ≤ 10 steps), else Hörmann's BTRS (transformed
/// rejection with squeeze, 1993), whose set-up is a square root and a few
/// divisions. Both are exact samplers; BTRS's acceptance test uses ln k!
/// from [`ln_factorial`] (error below 1e-16).
#[inline]
pub fn binomial_with(rng: &mut SimRng, n: u64, bp: &BinomialP) -> u64 {
    if n == 0 {
        return 0;
    }
    if bp.q <= 0.0 {
        return if bp.flip { n } else { 0 };
    }
    let k = if n as f64 * bp.q < 10.0 { binomial_inversion(rng, n, bp) } else { btrs(rng, n as f64, bp) };
    if bp.flip {
        n - k
    } else {
        k
    }
}

/// Sequential search from 0: P(0) = (1 − q)^n, P(k + 1) = P(k)·(n − k)/(k + 1)·q/(1 − q).
#[inline]
fn binomial_inversion(rng: &mut SimRng, n: u64, bp: &BinomialP) -> u64 {
    let ln_p0 = n as f64 * bp.ln_1mq;
    let u = uniform(rng);
    // P(0) = e^ln_p0 ≥ 1 + ln_p0: a draw below that bound is 0 without computing
    // the exponential (most draws, for the histogram's near-empty buckets).
    if u < 1.0 + ln_p0 {
        return 0;
    }
    let mut pk = ln_p0.exp();
    let mut cdf = pk;
    let mut k = 0u64;
    while u > cdf && k < n {
        pk *= bp.r * (n - k) as f64 / (k + 1) as f64;
        k += 1;
        cdf += pk;
        if pk < 1e-300 && cdf >= 1.0 - 1e-15 {
            break;
        }
    }
    k
}

/// BTRS for `n·p ≥ 10`, `p ≤ 0.5` (W. Hörmann, "The generation of binomial
/// random variates", J. Statist. Comput. Simul. 46, 1993): a uniform pair is
/// mapped through a transformed-rejection hat; about 80% are accepted by the
/// squeeze without evaluating the density.
fn btrs(rng: &mut SimRng, n: f64, bp: &BinomialP) -> u64 {
    let p = bp.q;
    let spq = (n * p * (1.0 - p)).sqrt();
    let b = 1.15 + 2.53 * spq;
    let a = -0.0873 + 0.0248 * b + 0.01 * p;
    let c = n * p + 0.5;
    let v_r = 0.92 - 4.2 / b;
    let alpha = (2.83 + 5.1 / b) * spq;
    // Truncation is floor for the non-negative values here (and needs no libm
    // call); through i64, a single instruction without AVX-512's unsigned one.
    let m = (((n + 1.0) * p) as i64) as f64;
    // ln f(m), up to the constant that cancels: needed only past the squeeze.
    let mut h = f64::NAN;
    loop {
        let u = uniform(rng) - 0.5;
        let v = uniform(rng);
        let us = 0.5 - u.abs();
        let x = (2.0 * a / us + b) * u + c;
        if !(0.0..n + 1.0).contains(&x) {
            continue;
        }
        let k = (x as i64) as f64;
        if us >= 0.07 && v <= v_r {
            return k as u64;
        }
        // Accept when v·hat(u) ≤ f(k)/f(m), in logs.
        let lv = (v * alpha / (a / (us * us) + b)).ln();
        if h.is_nan() {
            h = ln_factorial(m) + ln_factorial(n - m);
        }
        if lv <= h - ln_factorial(k) - ln_factorial(n - k) + (k - m) * bp.ln_r {
            return k as u64;
        }
    }
}

/// At most this many drawn or marked items, [`hypergeometric`] takes them one by one.
pub const SEQUENTIAL_MAX: u64 = 32;

/// Hypergeometric: how many of `draws` items taken without replacement from
/// `pool` items fall among its `marked` ones. Exact: when at most
/// [`SEQUENTIAL_MAX`] items are drawn or marked, by taking them one at a time
/// (the distribution is symmetric in the two); otherwise by inversion
/// searching outwards from the mode (P(mode) from [`ln_factorial`], neighbours
/// by the ratio of successive probabilities), so a draw takes about one
/// standard deviation of steps. (rand_distr 0.5's sampler was tried and
/// returns 0 for, e.g., 160 of 9,000 with 270 marked: its starting probability
/// underflows.)
pub fn hypergeometric(rng: &mut SimRng, pool: u64, marked: u64, draws: u64) -> u64 {
    let (big, k, n) = (pool, marked.min(pool), draws.min(pool));
    if n == 0 || k == 0 {
        return 0;
    }
    if k == big {
        return n;
    }
    if n == big {
        return k;
    }
    if n.min(k) <= SEQUENTIAL_MAX {
        // Each of the fewer items is among the others with the chance the
        // others left have in the pool left (a request class's few failed
        // requests: about 15 instructions an item, against some 800 for the
        // mode's six logarithms).
        let (few, mut others) = (n.min(k), n.max(k));
        let (mut left, mut hits) = (big, 0);
        for _ in 0..few {
            if uniform(rng) * (left as f64) < others as f64 {
                hits += 1;
                others -= 1;
            }
            left -= 1;
        }
        return hits;
    }
    let lo = (n + k).saturating_sub(big);
    let hi = n.min(k);
    let mode = (((n + 1) as f64 * (k + 1) as f64 / (big + 2) as f64) as u64).clamp(lo, hi);
    let (bf, kf, nf) = (big as f64, k as f64, n as f64);
    let ln_choose = |a: f64, b: f64| ln_factorial(a) - ln_factorial(b) - ln_factorial(a - b);
    let m = mode as f64;
    let p_mode = (ln_choose(kf, m) + ln_choose(bf - kf, nf - m) - ln_choose(bf, nf)).exp();
    let mut u = uniform(rng) - p_mode;
    if u <= 0.0 {
        return mode;
    }
    let (mut xl, mut pl, mut xh, mut ph) = (mode, p_mode, mode, p_mode);
    let rest = bf - kf - nf;
    loop {
        if xl > lo {
            let x = xl as f64;
            pl *= x * (rest + x) / ((kf - x + 1.0) * (nf - x + 1.0));
            xl -= 1;
            u -= pl;
            if u <= 0.0 {
                return xl;
            }
        }
        if xh < hi {
            let x = xh as f64;
            ph *= (kf - x) * (nf - x) / ((x + 1.0) * (rest + x + 1.0));
            xh += 1;
            u -= ph;
            if u <= 0.0 {
                return xh;
            }
        }
        if xl <= lo && xh >= hi {
            // Rounding left a sliver of probability unassigned: the mode takes it.
            return mode;
        }
    }
}

/// ln k! for a whole number `k ≥ 0`: exact values below 16, Stirling's
/// series to the 1/k⁹ term from there (truncation error below 1e-16 for
/// k ≥ 16); below [`LN_FACTORIAL_TABLE`] read from a table of those values.
fn ln_factorial(k: f64) -> f64 {
    if k < LN_FACTORIAL_TABLE as f64 {
        return LN_FACTORIALS[k as usize];
    }
    ln_factorial_series(k)
}

/// ln k! for k < 16.
const SMALL_LN_FACTORIALS: [f64; 16] = [
    0.0,
    0.0,
    std::f64::consts::LN_2,
    1.791_759_469_228_055,
    3.178_053_830_347_945_8,
    4.787_491_742_782_046,
    6.579_251_212_010_101,
    8.525_161_361_065_415,
    10.604_602_902_745_25,
    12.801_827_480_081_469,
    15.104_412_573_075_516,
    17.502_307_845_873_887,
    19.987_214_495_661_885,
    22.552_163_853_123_425,
    25.191_221_182_738_68,
    27.899_271_383_840_89,
];

/// Below this, [`ln_factorial`] reads [`LN_FACTORIALS`]: BTRS's acceptance
/// test asks for ln k! of its draw (and once of the mode) at about one
/// proposal in four, and a lookup costs less than the series' logarithm.
const LN_FACTORIAL_TABLE: usize = 1024;

/// ln k! for k < [`LN_FACTORIAL_TABLE`], built once from the values
/// [`ln_factorial`] would compute: the same bits as computing them at each call.
static LN_FACTORIALS: std::sync::LazyLock<Box<[f64]>> = std::sync::LazyLock::new(|| {
    (0..LN_FACTORIAL_TABLE)
        .map(|k| SMALL_LN_FACTORIALS.get(k).copied().unwrap_or_else(|| ln_factorial_series(k as f64)))
        .collect()
});

/// Stirling's series for ln k! (k ≥ 16; see [`ln_factorial`]).
fn ln_factorial_series(k: f64) -> f64 {
    let x = k + 1.0;
    let x2 = 1.0 / (x * x);
    let series = (1.0 / 12.0 - x2 * (1.0 / 360.0 - x2 * (1.0 / 1260.0 - x2 * (1.0 / 1680.0 - x2 / 1188.0)))) / x;
    (x - 0.5) * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI).ln() + series
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

/// The maximum of `n` iid N(mean, sd) values in one draw: its CDF is Φ(x)ⁿ,
/// so it is Φ⁻¹(U^(1/n)). U^(1/n) = exp(ln U / n) without `powf`; above ½ the
/// quantile is taken of the upper tail 1 − U^(1/n) = −expm1(ln U / n), which
/// keeps its precision for large `n`.
#[inline]
pub fn max_of_normals(rng: &mut SimRng, n: u64, mean: f64, sd: f64) -> f64 {
    if n == 0 {
        return f64::NAN;
    }
    mean + sd * max_z(uniform(rng), n)
}

/// The z of `max_of_normals` for the uniform draw `u`.
#[inline]
fn max_z(u: f64, n: u64) -> f64 {
    let l = u.max(f64::MIN_POSITIVE).ln() / n as f64;
    if l < -std::f64::consts::LN_2 {
        normal_quantile(l.exp())
    } else {
        -normal_quantile(-l.exp_m1())
    }
}

/// At least the largest z (value − mean, over sd) `max_of_normals` returns
/// for `n` draws: its z at the largest uniform draw, 1 − 2⁻⁵³, with a margin
/// for the rounding of the quantile function.
pub fn max_of_normals_top(n: u64) -> f64 {
    max_z(1.0 - f64::EPSILON / 2.0, n.max(1)) + 1e-9
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn seeded_equals_seed_from_u64() {
        let mut seeds = vec![0, 1, u64::MAX, 0x9E37_79B9_7F4A_7C15, 0u64.wrapping_sub(0x9E37_79B9_7F4A_7C15)];
        seeds.extend((0..1000).map(splitmix64));
        for seed in seeds {
            let (mut a, mut b) = (seeded(seed), SimRng::seed_from_u64(seed));
            assert_eq!(a, b, "seed {seed:#x}");
            for _ in 0..4 {
                assert_eq!(a.random::<u64>(), b.random::<u64>(), "seed {seed:#x}");
            }
        }
    }

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

    /// ln C(n, k) p^k (1 − p)^(n − k), by `statrs`' ln Γ (independent of [`ln_factorial`]).
    pub(crate) fn binomial_ln_pmf(n: u64, p: f64, k: u64) -> f64 {
        use statrs::function::gamma::ln_gamma;
        ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
            + k as f64 * p.ln()
            + (n - k) as f64 * (-p).ln_1p()
    }

    /// Pearson's chi-square of `draws` against `pmf` on 0..=n, neighbouring values
    /// pooled from the left until each cell expects at least 5 (the rest joins
    /// the last cell); fails when it reaches the 0.1% critical value (Wilson–Hilferty).
    pub(crate) fn chi_square_passes(draws: &[u64], n: u64, pmf: impl Fn(u64) -> f64, what: &str) {
        let total = draws.len() as f64;
        let mut observed = std::collections::BTreeMap::new();
        for &d in draws {
            assert!(d <= n, "{what}: drew {d} > {n}");
            *observed.entry(d).or_insert(0u64) += 1;
        }
        let (mut cells, mut cell_e, mut cell_o) = (Vec::new(), 0.0, 0u64);
        for k in 0..=n {
            cell_e += total * pmf(k);
            cell_o += observed.get(&k).copied().unwrap_or(0);
            if cell_e >= 5.0 {
                cells.push((cell_e, cell_o));
                cell_e = 0.0;
                cell_o = 0;
            }
        }
        if let Some(last) = cells.last_mut() {
            last.0 += cell_e;
            last.1 += cell_o;
        }
        let stat: f64 = cells.iter().map(|&(e, o)| (o as f64 - e).powi(2) / e).sum();
        let df = (cells.len() - 1) as f64;
        let z = 3.090_232_306; // the standard normal's 99.9% quantile
        let critical = df * (1.0 - 2.0 / (9.0 * df) + z * (2.0 / (9.0 * df)).sqrt()).powi(3);
        assert!(stat < critical, "{what}: chi-square {stat:.1} on {df} degrees of freedom >= {critical:.1}");
    }

    #[test]
    fn binomial_draws_fit_the_binomial_distribution() {
        // Both samplers, the switch between them (n·q = 10), flipped p > ½,
        // the sizes the fleet draws (histogram buckets, errors, cache hits).
        let cases: [(u64, f64); 11] = [
            (5, 0.3),
            (19, 0.5),
            (20, 0.5),
            (50, 0.3),
            (999, 0.01),
            (1000, 0.01),
            (900, 0.95),
            (17_000, 0.001),
            (4_500, 0.12),
            (200_000, 0.4),
            (60, 0.83),
        ];
        let mut rng = stream(trial_seed(3, 1), Stream::Fleet);
        for (n, p) in cases {
            let draws: Vec<u64> = (0..200_000).map(|_| binomial(&mut rng, n, p)).collect();
            chi_square_passes(&draws, n, |k| binomial_ln_pmf(n, p, k).exp(), &format!("binomial({n}, {p})"));
        }
        // A wrong sampler fails the same test: BTRS with p off by 1%.
        let draws: Vec<u64> = (0..200_000).map(|_| binomial(&mut rng, 4_500, 0.1212)).collect();
        let result = std::panic::catch_unwind(|| {
            chi_square_passes(&draws, 4_500, |k| binomial_ln_pmf(4_500, 0.12, k).exp(), "shifted")
        });
        assert!(result.is_err(), "the chi-square test does not see a 1% shift in p");
    }

    #[test]
    fn the_large_mean_poisson_sampler_is_rand_distrs_draw_for_draw() {
        // Small means reach the rare steps (S, F, E) often; the others cover
        // the traffic's means, a fraction above 12 and the library's limit.
        for (i, mean) in
            [12.0, 12.3, 13.7, 20.0, 44.4, 100.0, 909.0, 17_100.5, 1e6, 3.3e12, 1.844e19, 2e19].into_iter().enumerate()
        {
            let mut ours = stream(trial_seed(11, i as u64), Stream::Fleet);
            let mut theirs = ours.clone();
            let d = Poisson::new(mean).ok();
            for _ in 0..20_000 {
                let want = d.map_or(0, |d| d.sample(&mut theirs) as u64);
                assert_eq!(poisson_normal(&mut ours, mean), want, "mean {mean}");
            }
            assert_eq!(ours.random::<u64>(), theirs.random::<u64>(), "mean {mean}: the generators parted");
        }
    }

    #[test]
    fn hypergeometric_draws_fit_the_hypergeometric_distribution() {
        let pmf = |big: u64, k: u64, n: u64, x: u64| {
            let c = |a: u64, b: u64| ln_factorial(a as f64) - ln_factorial(b as f64) - ln_factorial((a - b) as f64);
            if x > k || x > n || n - x > big - k {
                return 0.0;
            }
            (c(k, x) + c(big - k, n - x) - c(big, n)).exp()
        };
        let mut rng = stream(trial_seed(3, 6), Stream::Fleet);
        // Small and large samples, either tail, the bounds, and the case rand_distr 0.5 gets wrong.
        // One by one (either of the two few), at the switch, and by the mode.
        for (big, k, n) in [
            (9_000, 270, 9),
            (9_000, 3, 5_000),
            (100, 32, 60),
            (100, 60, 33),
            (900, 27, 40),
            (9_000, 270, 160),
            (18_000, 540, 300),
            (20_000, 6_000, 3_000),
            (50, 45, 48),
            (10, 3, 6),
        ] {
            let draws: Vec<u64> = (0..100_000).map(|_| hypergeometric(&mut rng, big, k, n)).collect();
            chi_square_passes(&draws, n.min(k), |x| pmf(big, k, n, x), &format!("hypergeometric({big}, {k}, {n})"));
        }
        assert_eq!(hypergeometric(&mut rng, 100, 0, 50), 0);
        assert_eq!(hypergeometric(&mut rng, 100, 100, 50), 50);
        assert_eq!(hypergeometric(&mut rng, 100, 30, 100), 30);
        // A wrong sampler fails the same test: 1% more marked items.
        let draws: Vec<u64> = (0..100_000).map(|_| hypergeometric(&mut rng, 18_000, 546, 300)).collect();
        let wrong =
            std::panic::catch_unwind(|| chi_square_passes(&draws, 300, |x| pmf(18_000, 540, 300, x), "shifted"));
        assert!(wrong.is_err(), "the chi-square test does not see 1% more marked items");
        // And one by one: 28 marked items drawn against a pmf of 27.
        let draws: Vec<u64> = (0..100_000).map(|_| hypergeometric(&mut rng, 900, 28, 30)).collect();
        let wrong = std::panic::catch_unwind(|| chi_square_passes(&draws, 30, |x| pmf(900, 27, 30, x), "one more"));
        assert!(wrong.is_err(), "the chi-square test does not see one more marked item");
    }

    #[test]
    fn binomial_edges() {
        let mut rng = stream(trial_seed(3, 2), Stream::Fleet);
        assert_eq!(binomial(&mut rng, 0, 0.5), 0);
        assert_eq!(binomial(&mut rng, 10, 0.0), 0);
        assert_eq!(binomial(&mut rng, 10, f64::NAN), 0);
        assert_eq!(binomial(&mut rng, 10, 1.0), 10);
        assert!((0..1000).all(|_| binomial(&mut rng, u32::MAX as u64, 0.5) <= u32::MAX as u64));
        assert!(ln_factorial(16.0) - (1..=16).map(|i| (i as f64).ln()).sum::<f64>() < 1e-13);
        assert!(ln_factorial(15.0) - (1..=15).map(|i| (i as f64).ln()).sum::<f64>() < 1e-13);
        // The table holds what the series computes, bit for bit, up to where the series takes over.
        for k in 16..LN_FACTORIAL_TABLE + 4 {
            assert_eq!(ln_factorial(k as f64).to_bits(), ln_factorial_series(k as f64).to_bits(), "ln {k}!");
        }
        for k in [LN_FACTORIAL_TABLE - 1, LN_FACTORIAL_TABLE] {
            let exact: f64 = (1..=k).map(|i| (i as f64).ln()).sum();
            assert!((ln_factorial(k as f64) - exact).abs() < 1e-12 * exact, "ln {k}!");
        }
    }

    /// Kolmogorov–Smirnov: the largest gap between the empirical CDF of
    /// `draws` and `cdf`, against the 0.1% critical value 1.95/√N.
    fn ks_passes(mut draws: Vec<f64>, cdf: impl Fn(f64) -> f64, what: &str) {
        draws.sort_by(f64::total_cmp);
        let n = draws.len() as f64;
        let d = draws
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let f = cdf(x);
                (f - i as f64 / n).abs().max(((i + 1) as f64 / n - f).abs())
            })
            .fold(0.0, f64::max);
        assert!(d < 1.95 / n.sqrt(), "{what}: KS distance {d:.5} >= {:.5}", 1.95 / n.sqrt());
    }

    #[test]
    fn max_of_normals_fits_the_distribution_of_a_maximum() {
        // The maximum of n iid N(μ, σ) has CDF Φ((x − μ)/σ)ⁿ; n = 1 is a normal.
        let mut rng = stream(trial_seed(3, 4), Stream::Fleet);
        for n in [1u64, 2, 4, 20, 380, 100_000] {
            let draws: Vec<f64> = (0..100_000).map(|_| max_of_normals(&mut rng, n, 0.4, 0.03)).collect();
            ks_passes(draws, |x| normal_cdf((x - 0.4) / 0.03).powf(n as f64), &format!("max of {n}"));
        }
        // And a wrong one fails: the maximum of 20 judged as the maximum of 19.
        let draws: Vec<f64> = (0..100_000).map(|_| max_of_normals(&mut rng, 20, 0.0, 1.0)).collect();
        let wrong = std::panic::catch_unwind(|| ks_passes(draws, |x| normal_cdf(x).powi(19), "max of 19"));
        assert!(wrong.is_err(), "KS does not tell a maximum of 20 from one of 19");
    }

    #[test]
    fn no_uniform_draw_gives_a_maximum_above_its_top() {
        // `uniform` is a 53-bit fraction: its largest value is 1 − 2⁻⁵³.
        for n in [1u64, 2, 3, 20, 380, 4_000, 100_000, 1 << 40] {
            let top = max_of_normals_top(n);
            assert!(top > 8.0 && top < 12.0, "{n}: {top}");
            for k in 1..2_000u64 {
                let u = 1.0 - k as f64 * f64::EPSILON / 2.0;
                assert!(max_z(u, n) <= top, "n = {n}, u = 1 - {k} * 2^-53");
            }
            for k in 1..2_000u64 {
                let u = k as f64 / 2_000.0;
                assert!(max_z(u, n) < top);
            }
        }
    }

    #[test]
    fn poisson_draws_fit_the_poisson_distribution() {
        use statrs::function::gamma::ln_gamma;
        let mut rng = stream(trial_seed(3, 5), Stream::Fleet);
        for mean in [0.4, 5.0, 11.9, 12.0, 45.0, 900.0, 15_400.0] {
            let draws: Vec<u64> = (0..200_000).map(|_| poisson(&mut rng, mean)).collect();
            let top = (mean + 20.0 * mean.sqrt() + 30.0) as u64;
            let pmf = |k: u64| (k as f64 * f64::ln(mean) - mean - ln_gamma(k as f64 + 1.0)).exp();
            chi_square_passes(&draws, top, pmf, &format!("poisson({mean})"));
        }
        // A wrong sampler fails the same test: the mean off by 1%.
        let draws: Vec<u64> = (0..200_000).map(|_| poisson(&mut rng, 909.0)).collect();
        let pmf = |k: u64| (k as f64 * f64::ln(900.0) - 900.0 - ln_gamma(k as f64 + 1.0)).exp();
        let wrong = std::panic::catch_unwind(|| chi_square_passes(&draws, 1500, pmf, "shifted"));
        assert!(wrong.is_err(), "the chi-square test does not see a 1% shift in the mean");
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
