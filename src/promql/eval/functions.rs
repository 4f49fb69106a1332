//! Prometheus' numeric functions: Go's float semantics, Kahan sums, quantiles,
//! `histogram_quantile`'s bucket interpolation, and the extrapolation of
//! `rate`/`increase`/`delta` and the `*_over_time` family.

/// A float as Go's `%v` prints it (Prometheus' error messages): the shortest
/// digits, in exponent form when the exponent is below -4 or at least 6
/// (`1e+300`, `1.234567e+06`, `123456`, `NaN`, `+Inf`).
pub(crate) fn go_format_v(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let e = format!("{f:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if f != 0.0 && !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

/// Go's `math.Max` (NaN wins, +Inf wins, +0 over −0).
pub(super) fn go_max(a: f64, b: f64) -> f64 {
    if a == f64::INFINITY || b == f64::INFINITY {
        f64::INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() {
            b
        } else {
            a
        }
    } else if a > b {
        a
    } else {
        b
    }
}

/// Go's `math.Min` (NaN wins, −Inf wins, −0 over +0).
pub(super) fn go_min(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY || b == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() {
            a
        } else {
            b
        }
    } else if a < b {
        a
    } else {
        b
    }
}

/// Neumaier-compensated addition, Prometheus's `kahanSumInc`.
pub(super) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if sum.abs() >= inc.abs() { c + ((sum - t) + inc) } else { c + ((inc - t) + sum) };
    (t, c)
}

/// Prometheus's `quantile` (aggregation and `quantile_over_time`).
pub(super) fn quantile(q: f64, mut values: Vec<f64>) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // Go's sort with Less = "a is NaN or a < b": NaN first.
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Prometheus's `bucketQuantile` over (upper bound, cumulative count) pairs.
pub fn bucket_quantile(q: f64, mut buckets: Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return f64::NAN;
    }
    // coalesceBuckets: equal upper bounds add up.
    let mut co: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for b in buckets {
        match co.last_mut() {
            Some(last) if last.0 == b.0 => last.1 += b.1,
            _ => co.push(b),
        }
    }
    // ensureMonotonic
    let mut max = co[0].1;
    for b in co.iter_mut().skip(1) {
        if b.1 > max {
            max = b.1;
        } else if b.1 < max {
            b.1 = max;
        }
    }
    if co.len() < 2 {
        return f64::NAN;
    }
    let observations = co[co.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = co[..co.len() - 1].iter().position(|x| x.1 >= rank).unwrap_or(co.len() - 1);
    if b == co.len() - 1 {
        return co[co.len() - 2].0;
    }
    if b == 0 && co[0].0 <= 0.0 {
        return co[0].0;
    }
    let mut start = 0.0;
    let end = co[b].0;
    let mut count = co[b].1;
    if b > 0 {
        start = co[b - 1].0;
        count -= co[b - 1].1;
        rank -= co[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

/// Prometheus's `extrapolatedRate` (rate, increase, delta) over the points of one series.
pub(super) fn extrapolated(
    points: &[(i64, f64)],
    range_start: i64,
    range_end: i64,
    range_ms: i64,
    counter: bool,
    rate: bool,
) -> Option<f64> {
    let (first, last) = (points.first()?, points.last()?);
    let mut result = last.1 - first.1;
    if counter {
        let mut prev = first.1;
        for p in &points[1..] {
            if p.1 < prev {
                result += prev;
            }
            prev = p.1;
        }
    }
    let span = crate::promql::CounterSpan {
        first_t: first.0,
        last_t: last.0,
        count: points.len(),
        increase: result,
        prev_t: 0,
        last_step: f64::NAN,
    };
    extrapolate(&span, range_start, range_end, range_ms, counter, rate, || first.1)
}

/// Prometheus's `instantValue` (irate, idelta).
pub(super) fn instant_value(points: &[(i64, f64)], rate: bool) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let last = points[points.len() - 1];
    let prev = points[points.len() - 2];
    let mut v = if rate && last.1 < prev.1 { last.1 } else { last.1 - prev.1 };
    let dt = last.0 - prev.0;
    if dt == 0 {
        return None;
    }
    if rate {
        v /= dt as f64 / 1000.0;
    }
    Some(v)
}

/// The arithmetic of Prometheus's `extrapolatedRate` on a summary of the
/// range's points (`increase` already counts resets): extrapolate to the
/// range's ends unless a sample is missing there, never below the counter's
/// zero. `counter_first` (the first value) is read only when that zero point
/// could bound the extrapolation: durationToZero ≥ 0 is never below a zero
/// durationToStart.
pub(super) fn extrapolate(
    s: &crate::promql::CounterSpan,
    range_start: i64,
    range_end: i64,
    range_ms: i64,
    counter: bool,
    rate: bool,
    counter_first: impl FnOnce() -> f64,
) -> Option<f64> {
    if s.count < 2 {
        return None;
    }
    let result = s.increase;
    let mut to_start = (s.first_t - range_start) as f64 / 1000.0;
    let to_end = (range_end - s.last_t) as f64 / 1000.0;
    let sampled = (s.last_t - s.first_t) as f64 / 1000.0;
    let avg = sampled / (s.count - 1) as f64;
    if counter && result > 0.0 && to_start > 0.0 {
        let first = counter_first();
        if first >= 0.0 {
            let to_zero = sampled * (first / result);
            if to_zero < to_start {
                to_start = to_zero;
            }
        }
    }
    let threshold = avg * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold { to_start } else { avg / 2.0 };
    interval += if to_end < threshold { to_end } else { avg / 2.0 };
    let mut factor = interval / sampled;
    if rate {
        factor /= range_ms as f64 / 1000.0;
    }
    Some(result * factor)
}

/// [`instant_value`] for a never-decreasing series summarised by its span.
pub(super) fn instant_span(s: &crate::promql::CounterSpan, rate: bool) -> Option<f64> {
    if s.count < 2 {
        return None;
    }
    let dt = s.last_t - s.prev_t;
    if dt == 0 {
        return None;
    }
    Some(if rate { s.last_step / (dt as f64 / 1000.0) } else { s.last_step })
}

pub(super) fn over_time(name: &str, param: f64, pts: &[(i64, f64)]) -> f64 {
    let vals = || pts.iter().map(|p| p.1);
    match name {
        "avg_over_time" => {
            let (mut mean, mut count, mut c) = (0.0f64, 0.0f64, 0.0f64);
            for v in vals() {
                count += 1.0;
                if mean.is_infinite() {
                    if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                        continue;
                    }
                    if !v.is_infinite() && !v.is_nan() {
                        continue;
                    }
                }
                (mean, c) = kahan_inc(v / count - mean / count, mean, c);
            }
            if mean.is_infinite() {
                mean
            } else {
                mean + c
            }
        }
        "sum_over_time" => {
            let (mut sum, mut c) = (0.0, 0.0);
            for v in vals() {
                (sum, c) = kahan_inc(v, sum, c);
            }
            if f64::is_infinite(sum) {
                sum
            } else {
                sum + c
            }
        }
        "min_over_time" => vals().fold(pts[0].1, |m, v| if v < m || m.is_nan() { v } else { m }),
        "max_over_time" => vals().fold(pts[0].1, |m, v| if v > m || m.is_nan() { v } else { m }),
        "count_over_time" => pts.len() as f64,
        "last_over_time" => pts[pts.len() - 1].1,
        "present_over_time" => 1.0,
        "quantile_over_time" => quantile(param, vals().collect()),
        "stddev_over_time" | "stdvar_over_time" => {
            let (mut count, mut mean, mut cm, mut aux, mut ca) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for v in vals() {
                count += 1.0;
                let delta = v - (mean + cm);
                (mean, cm) = kahan_inc(delta / count, mean, cm);
                (aux, ca) = kahan_inc(delta * (v - (mean + cm)), aux, ca);
            }
            let var = (aux + ca) / count;
            if name == "stddev_over_time" {
                var.sqrt()
            } else {
                var
            }
        }
        _ => unreachable!("checked by parse"),
    }
}

/// Go's `strconv.ParseFloat` for a bucket bound (`+Inf`, `Inf`, `1e3`, ...).
pub(super) fn parse_go_float(s: &str) -> Result<f64, ()> {
    match s.to_ascii_lowercase().as_str() {
        "+inf" | "inf" | "+infinity" | "infinity" => Ok(f64::INFINITY),
        "-inf" | "-infinity" => Ok(f64::NEG_INFINITY),
        "nan" => Ok(f64::NAN),
        "" => Err(()),
        _ => s.parse::<f64>().map_err(|_| ()),
    }
}
