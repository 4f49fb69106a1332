//! Series for charts in bounded memory, downsampled uniformly in time (M4):
//! the time axis is cut into equal buckets and each keeps its first, lowest,
//! highest and last point, so a line through them shows every peak and every
//! dip wherever they are in the series. A stream of unknown length starts with
//! one-second buckets and doubles their width (merging neighbours) whenever it
//! would need more than [`MAX_BUCKETS`], so early and late data are always
//! compressed alike.

/// At most this many buckets, so at most four times as many points.
pub const MAX_BUCKETS: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Bucket {
    first: (u64, f64),
    min: (u64, f64),
    max: (u64, f64),
    last: (u64, f64),
}

impl Bucket {
    fn new(p: (u64, f64)) -> Bucket {
        Bucket { first: p, min: p, max: p, last: p }
    }

    fn add(&mut self, p: (u64, f64)) {
        if p.0 < self.first.0 {
            self.first = p;
        }
        if p.0 >= self.last.0 {
            self.last = p;
        }
        if p.1 < self.min.1 {
            self.min = p;
        }
        if p.1 > self.max.1 {
            self.max = p;
        }
    }

    fn merge(mut self, later: Bucket) -> Bucket {
        for p in [later.first, later.min, later.max, later.last] {
            self.add(p);
        }
        self
    }
}

/// A downsampled series; push points in any order of time within a bucket,
/// in time order across the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Downsampled {
    origin: Option<u64>,
    /// Bucket width in seconds (a power of two).
    width: u64,
    buckets: Vec<Option<Bucket>>,
}

impl Default for Downsampled {
    fn default() -> Downsampled {
        Downsampled { origin: None, width: 1, buckets: Vec::new() }
    }
}

impl Downsampled {
    pub fn push(&mut self, t: u64, v: f64) {
        if v.is_nan() {
            return;
        }
        let origin = *self.origin.get_or_insert(t);
        let mut idx = (t.saturating_sub(origin) / self.width) as usize;
        while idx >= MAX_BUCKETS {
            self.widen();
            idx = (t.saturating_sub(origin) / self.width) as usize;
        }
        if self.buckets.len() <= idx {
            self.buckets.resize(idx + 1, None);
        }
        match &mut self.buckets[idx] {
            Some(b) => b.add((t, v)),
            slot => *slot = Some(Bucket::new((t, v))),
        }
    }

    /// Doubles the bucket width: buckets 2k and 2k+1 become bucket k.
    fn widen(&mut self) {
        self.width *= 2;
        self.buckets = self
            .buckets
            .chunks(2)
            .map(|pair| match (pair[0], pair.get(1).copied().flatten()) {
                (Some(a), Some(b)) => Some(a.merge(b)),
                (a, b) => a.or(b),
            })
            .collect();
    }

    /// The kept points in time order (each bucket's first, extremes and last,
    /// without repeats).
    pub fn points(&self) -> Vec<(u64, f64)> {
        let mut out = Vec::with_capacity(self.buckets.len() * 4);
        for b in self.buckets.iter().flatten() {
            let mut four = [b.first, b.min, b.max, b.last];
            four.sort_by_key(|p| p.0);
            for p in four {
                if out.last() != Some(&p) {
                    out.push(p);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_series_is_kept_whole() {
        let mut d = Downsampled::default();
        let pts: Vec<(u64, f64)> = (0..500).map(|i| (i * 60, (i % 7) as f64)).collect();
        for &(t, v) in &pts {
            d.push(t, v);
        }
        assert_eq!(d.points(), pts);
    }

    #[test]
    fn a_long_series_keeps_its_dips_and_peaks_at_both_ends_and_is_compressed_uniformly() {
        // A million samples a minute apart around 20, with a dip and a peak
        // near the start and near the end.
        let n: u64 = 1_000_000;
        let extremes = [(10, -5.0), (20, 45.0), (n - 30, -7.0), (n - 20, 47.0)];
        let mut d = Downsampled::default();
        for i in 0..n {
            let v = extremes.iter().find(|e| e.0 == i).map_or(20.0 + (i % 3) as f64, |e| e.1);
            d.push(i * 60, v);
        }
        let pts = d.points();
        assert!(pts.len() <= 4 * MAX_BUCKETS, "{}", pts.len());
        for (i, v) in extremes {
            assert!(pts.contains(&(i * 60, v)), "sample {i} ({v}) was lost");
        }
        // Uniform in time: each half of the time span keeps about half the points.
        let mid = n * 60 / 2;
        let early = pts.iter().filter(|p| p.0 < mid).count() as f64;
        let late = pts.len() as f64 - early;
        assert!((early / late - 1.0).abs() < 0.02, "{early} early vs {late} late points");
    }
}
