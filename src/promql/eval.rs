//! The evaluator: one instant at a time, as Prometheus 2.x's engine defines
//! each node (a range query is the instant evaluation at every step). Each
//! function below names the Prometheus function it follows.

use super::{label, Labels, Query, Selector, Storage, NAME};
use promql_parser::label::MatchOp;
use promql_parser::parser::{
    AggregateExpr, BinaryExpr, Call, Expr, LabelModifier, MatrixSelector, Offset, VectorMatchCardinality,
    VectorSelector,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub value: f64,
}

/// One series of a range vector (or of a range query's result).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub points: Vec<(i64, f64)>,
}

/// What an expression evaluates to.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(f64),
    String(String),
    Vector(Vec<Sample>),
    Matrix(Vec<Series>),
}

type R<T> = Result<T, String>;

/// Prometheus's default lookback of instant selectors (5 minutes).
pub const LOOKBACK_MS: i64 = 5 * 60 * 1000;

/// Evaluates queries against one storage.
pub struct Evaluator<'a, S: Storage + ?Sized> {
    st: &'a mut S,
    buf: Vec<(i64, f64)>,
}

fn ms(d: std::time::Duration) -> i64 {
    d.as_millis() as i64
}

fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => ms(*d),
        Some(Offset::Neg(d)) => -ms(*d),
    }
}

fn drop_name(l: &Labels) -> Labels {
    if l.iter().any(|(k, _)| k == NAME) {
        l.iter().filter(|(k, _)| k != NAME).cloned().collect::<Vec<_>>().into()
    } else {
        l.clone()
    }
}

/// Go's `math.Max` (NaN wins, +Inf wins, +0 over −0).
fn go_max(a: f64, b: f64) -> f64 {
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
fn go_min(a: f64, b: f64) -> f64 {
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
fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if sum.abs() >= inc.abs() { c + ((sum - t) + inc) } else { c + ((inc - t) + sum) };
    (t, c)
}

/// Prometheus's `quantile` (aggregation and `quantile_over_time`).
fn quantile(q: f64, mut values: Vec<f64>) -> f64 {
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
fn extrapolated(
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
    let span = super::CounterSpan {
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
fn instant_value(points: &[(i64, f64)], rate: bool) -> Option<f64> {
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
fn extrapolate(
    s: &super::CounterSpan,
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
fn instant_span(s: &super::CounterSpan, rate: bool) -> Option<f64> {
    if s.count < 2 {
        return None;
    }
    let dt = s.last_t - s.prev_t;
    if dt == 0 {
        return None;
    }
    Some(if rate { s.last_step / (dt as f64 / 1000.0) } else { s.last_step })
}

fn over_time(name: &str, param: f64, pts: &[(i64, f64)]) -> f64 {
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

/// Matching of a vector–vector operation.
struct Matching {
    on: bool,
    names: Vec<String>,
    card: Card,
    include: Vec<String>,
}

#[derive(PartialEq, Clone, Copy)]
enum Card {
    OneToOne,
    ManyToOne,
    OneToMany,
    ManyToMany,
}

fn signature(l: &Labels, on: bool, names: &[String]) -> String {
    let mut s = String::new();
    for (k, v) in l.iter() {
        let listed = names.iter().any(|n| n == k);
        if (on && listed) || (!on && !listed && k != NAME) {
            s.push_str(k);
            s.push('\u{ff}');
            s.push_str(v);
            s.push('\u{ff}');
        }
    }
    s
}

fn no_duplicates(v: &[Sample]) -> R<()> {
    if v.len() > 1 {
        let mut l: Vec<&Labels> = v.iter().map(|s| &s.labels).collect();
        l.sort_unstable();
        if l.windows(2).any(|w| w[0] == w[1]) {
            return Err("vector cannot contain metrics with the same labelset".into());
        }
    }
    Ok(())
}

fn arith(op: &str, l: f64, r: f64) -> (f64, bool) {
    match op {
        "+" => (l + r, true),
        "-" => (l - r, true),
        "*" => (l * r, true),
        "/" => (l / r, true),
        "^" => (l.powf(r), true),
        "%" => (l % r, true),
        "==" => (l, l == r),
        "!=" => (l, l != r),
        ">" => (l, l > r),
        "<" => (l, l < r),
        ">=" => (l, l >= r),
        "<=" => (l, l <= r),
        _ => unreachable!("checked by parse"),
    }
}

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

fn drops_name(op: &str) -> bool {
    matches!(op, "+" | "-" | "*" | "/" | "^" | "%")
}

impl<'a, S: Storage + ?Sized> Evaluator<'a, S> {
    pub fn new(st: &'a mut S) -> Self {
        Evaluator { st, buf: Vec::new() }
    }

    /// The value of `q` at `t` (milliseconds), as `/api/v1/query` computes it.
    pub fn instant(&mut self, q: &Query, t: i64) -> R<Value> {
        self.eval(&q.expr, t)
    }

    /// `q` at every step from `start` to `end`, as `/api/v1/query_range`:
    /// one series per label set, sorted by labels.
    pub fn range(&mut self, q: &Query, start: i64, end: i64, step: i64) -> R<Vec<Series>> {
        if step <= 0 {
            return Err("zero or negative query resolution step widths are not accepted".into());
        }
        if end < start {
            return Err("end timestamp must not be before start time".into());
        }
        let mut out: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
        let mut t = start;
        while t <= end {
            match self.eval(&q.expr, t)? {
                Value::Scalar(v) => out.entry(Arc::from(Vec::new())).or_default().push((t, v)),
                Value::Vector(v) => {
                    for s in v {
                        out.entry(s.labels).or_default().push((t, s.value));
                    }
                }
                Value::Matrix(_) => {
                    return Err(
                        "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector"
                            .into(),
                    )
                }
                Value::String(_) => {
                    return Err(
                        "invalid expression type \"string\" for range query, must be Scalar or instant Vector".into()
                    )
                }
            }
            t += step;
        }
        Ok(out.into_iter().map(|(labels, points)| Series { labels, points }).collect())
    }

    fn select(&mut self, vs: &VectorSelector) -> Vec<(usize, Labels)> {
        let sel = Selector::of(vs);
        let mut ids: Vec<(usize, Labels)> = self.st.select(&sel).into_iter().map(|i| (i, self.st.labels(i))).collect();
        ids.sort_by(|a, b| a.1.cmp(&b.1));
        ids
    }

    fn vector_selector(&mut self, vs: &VectorSelector, t: i64) -> Vec<Sample> {
        let reft = t - offset_ms(&vs.offset);
        let mut out = Vec::new();
        for (id, labels) in self.select(vs) {
            if let Some((_, v)) = self.st.last_point(id, reft - LOOKBACK_MS, reft) {
                out.push(Sample { labels, value: v });
            }
        }
        out
    }

    /// Each selected series' points in `[t − offset − range, t − offset]`, those with any.
    fn matrix_selector(&mut self, m: &MatrixSelector, t: i64) -> Vec<Series> {
        let end = t - offset_ms(&m.vs.offset);
        let start = end - ms(m.range);
        let mut out = Vec::new();
        for (id, labels) in self.select(&m.vs) {
            let mut points = Vec::new();
            self.st.points(id, start, end, &mut points);
            if !points.is_empty() {
                out.push(Series { labels, points });
            }
        }
        out
    }

    fn scalar(&mut self, e: &Expr, t: i64) -> R<f64> {
        match self.eval(e, t)? {
            Value::Scalar(v) => Ok(v),
            _ => Err("expected a scalar argument".into()),
        }
    }

    fn vector(&mut self, e: &Expr, t: i64) -> R<Vec<Sample>> {
        match self.eval(e, t)? {
            Value::Vector(v) => Ok(v),
            _ => Err("expected an instant vector argument".into()),
        }
    }

    fn eval(&mut self, e: &Expr, t: i64) -> R<Value> {
        Ok(match e {
            Expr::NumberLiteral(n) => Value::Scalar(n.val),
            Expr::StringLiteral(s) => Value::String(s.val.clone()),
            Expr::Paren(p) => self.eval(&p.expr, t)?,
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                Value::Scalar(v) => Value::Scalar(-v),
                Value::Vector(v) => {
                    let out: Vec<Sample> =
                        v.into_iter().map(|s| Sample { labels: drop_name(&s.labels), value: -s.value }).collect();
                    no_duplicates(&out)?;
                    Value::Vector(out)
                }
                _ => return Err("unary minus needs a scalar or an instant vector".into()),
            },
            Expr::VectorSelector(vs) => Value::Vector(self.vector_selector(vs, t)),
            Expr::MatrixSelector(m) => Value::Matrix(self.matrix_selector(m, t)),
            Expr::Call(c) => self.call(c, t)?,
            Expr::Aggregate(a) => Value::Vector(self.aggregate(a, t)?),
            Expr::Binary(b) => self.binary(b, t)?,
            Expr::Subquery(_) | Expr::Extension(_) => return Err("not supported (refused by parse)".into()),
        })
    }

    fn matrix_arg(e: &Expr) -> R<&MatrixSelector> {
        match e {
            Expr::MatrixSelector(m) => Ok(m),
            Expr::Paren(p) => Self::matrix_arg(&p.expr),
            _ => Err("expected a range vector selector".into()),
        }
    }

    fn call(&mut self, c: &Call, t: i64) -> R<Value> {
        let name = c.func.name;
        let args = &c.args.args;
        let out = match name {
            "rate" | "increase" | "delta" | "irate" | "idelta" => {
                let m = Self::matrix_arg(&args[0])?;
                let end = t - offset_ms(&m.vs.offset);
                let range = ms(m.range);
                let mut out = Vec::new();
                for (id, _) in self.select(&m.vs) {
                    let instant = matches!(name, "irate" | "idelta");
                    let v = match self.st.counter_span(id, end - range, end, instant) {
                        // A never-decreasing series: its span is enough.
                        Some(None) => None,
                        Some(Some(span)) => {
                            let st = &mut *self.st;
                            let first = || st.counter_value(id, span.first_t);
                            match name {
                                "rate" => extrapolate(&span, end - range, end, range, true, true, first),
                                "increase" => extrapolate(&span, end - range, end, range, true, false, first),
                                "delta" => extrapolate(&span, end - range, end, range, false, false, first),
                                "irate" => instant_span(&span, true),
                                _ => instant_span(&span, false),
                            }
                        }
                        None => {
                            self.buf.clear();
                            self.st.points(id, end - range, end, &mut self.buf);
                            let p = &self.buf;
                            match name {
                                "rate" => extrapolated(p, end - range, end, range, true, true),
                                "increase" => extrapolated(p, end - range, end, range, true, false),
                                "delta" => extrapolated(p, end - range, end, range, false, false),
                                "irate" => instant_value(p, true),
                                _ => instant_value(p, false),
                            }
                        }
                    };
                    if let Some(value) = v {
                        out.push(Sample { labels: self.st.labels_without_name(id), value });
                    }
                }
                out
            }
            n if n.ends_with("_over_time") => {
                let (param, marg) =
                    if n == "quantile_over_time" { (self.scalar(&args[0], t)?, &args[1]) } else { (0.0, &args[0]) };
                let m = Self::matrix_arg(marg)?;
                self.matrix_selector(m, t)
                    .into_iter()
                    .map(|s| Sample {
                        labels: if n == "last_over_time" { s.labels.clone() } else { drop_name(&s.labels) },
                        value: over_time(n, param, &s.points),
                    })
                    .collect()
            }
            "histogram_quantile" => {
                let q = self.scalar(&args[0], t)?;
                let v = self.vector(&args[1], t)?;
                let mut groups: Vec<(Labels, Vec<(f64, f64)>)> = Vec::new();
                let mut index: HashMap<Labels, usize> = HashMap::new();
                for s in v {
                    let Ok(le) = parse_go_float(label(&s.labels, "le")) else { continue };
                    let key: Labels = s.labels.iter().filter(|(k, _)| k != "le").cloned().collect::<Vec<_>>().into();
                    let i = *index.entry(key.clone()).or_insert_with(|| {
                        groups.push((drop_name(&key), Vec::new()));
                        groups.len() - 1
                    });
                    groups[i].1.push((le, s.value));
                }
                groups.into_iter().map(|(labels, b)| Sample { labels, value: bucket_quantile(q, b) }).collect()
            }
            "vector" => vec![Sample { labels: Arc::from(Vec::new()), value: self.scalar(&args[0], t)? }],
            "scalar" => {
                let v = self.vector(&args[0], t)?;
                return Ok(Value::Scalar(if v.len() == 1 { v[0].value } else { f64::NAN }));
            }
            "time" => return Ok(Value::Scalar(t as f64 / 1000.0)),
            "abs" => self
                .vector(&args[0], t)?
                .into_iter()
                .map(|s| Sample { labels: drop_name(&s.labels), value: s.value.abs() })
                .collect(),
            "clamp" | "clamp_min" | "clamp_max" => {
                let v = self.vector(&args[0], t)?;
                let (lo, hi) = match name {
                    "clamp" => (self.scalar(&args[1], t)?, self.scalar(&args[2], t)?),
                    "clamp_min" => (self.scalar(&args[1], t)?, f64::NAN),
                    _ => (f64::NAN, self.scalar(&args[1], t)?),
                };
                if name == "clamp" && hi < lo {
                    Vec::new()
                } else {
                    v.into_iter()
                        .map(|s| Sample {
                            labels: drop_name(&s.labels),
                            value: match name {
                                "clamp" => go_max(lo, go_min(hi, s.value)),
                                "clamp_min" => go_max(lo, s.value),
                                _ => go_min(hi, s.value),
                            },
                        })
                        .collect()
                }
            }
            "absent" => {
                if !self.vector(&args[0], t)?.is_empty() {
                    Vec::new()
                } else {
                    vec![Sample { labels: absent_labels(&args[0]), value: 1.0 }]
                }
            }
            other => return Err(format!("function `{other}` is not supported")),
        };
        no_duplicates(&out)?;
        Ok(Value::Vector(out))
    }

    fn aggregate(&mut self, a: &AggregateExpr, t: i64) -> R<Vec<Sample>> {
        let op = a.op.to_string();
        let param = match &a.param {
            Some(p) if op != "count_values" => Some(self.scalar(p, t)?),
            _ => None,
        };
        let v = self.vector(&a.expr, t)?;
        let (without, mut grouping): (bool, Vec<String>) = match &a.modifier {
            None => (false, Vec::new()),
            Some(LabelModifier::Include(l)) => (false, l.labels.clone()),
            Some(LabelModifier::Exclude(l)) => (true, l.labels.clone()),
        };
        grouping.sort();
        let mut k = 0usize;
        if op == "topk" || op == "bottomk" {
            let f = param.unwrap_or(0.0);
            if !(f.is_finite() && f.abs() < 9.2e18) {
                return Err(format!("Scalar value {f} overflows int64"));
            }
            let ki = f as i64;
            if ki < 1 {
                return Ok(Vec::new());
            }
            k = ki as usize;
        }
        struct Group {
            labels: Labels,
            value: f64,
            mean: f64,
            count: usize,
            members: Vec<Sample>,
        }
        let mut groups: Vec<Group> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let one_group = !without && grouping.is_empty();
        let mut skip = grouping.clone();
        skip.push(NAME.into());
        for s in v {
            // `sum(x)` has one group: no signature to build or hash.
            let key = if one_group {
                String::new()
            } else if without {
                signature(&s.labels, false, &skip)
            } else {
                signature(&s.labels, true, &grouping)
            };
            let found = if one_group { (!groups.is_empty()).then_some(0) } else { index.get(&key).copied() };
            let Some(i) = found else {
                let labels: Labels = if without {
                    s.labels
                        .iter()
                        .filter(|(k, _)| k != NAME && !grouping.contains(k))
                        .cloned()
                        .collect::<Vec<_>>()
                        .into()
                } else {
                    s.labels.iter().filter(|(k, _)| grouping.contains(k)).cloned().collect::<Vec<_>>().into()
                };
                index.insert(key, groups.len());
                let value = match op.as_str() {
                    "stddev" | "stdvar" => 0.0,
                    "group" => 1.0,
                    _ => s.value,
                };
                groups.push(Group { labels, value, mean: s.value, count: 1, members: vec![s] });
                continue;
            };
            let g = &mut groups[i];
            match op.as_str() {
                "sum" => g.value += s.value,
                "avg" => {
                    g.count += 1;
                    let skip = g.mean.is_infinite()
                        && ((s.value.is_infinite() && (g.mean > 0.0) == (s.value > 0.0))
                            || (!s.value.is_infinite() && !s.value.is_nan()));
                    if !skip {
                        let n = g.count as f64;
                        g.mean += s.value / n - g.mean / n;
                    }
                }
                "max" => {
                    if g.value < s.value || g.value.is_nan() {
                        g.value = s.value
                    }
                }
                "min" => {
                    if g.value > s.value || g.value.is_nan() {
                        g.value = s.value
                    }
                }
                "count" => g.count += 1,
                "group" => {}
                "stddev" | "stdvar" => {
                    g.count += 1;
                    let delta = s.value - g.mean;
                    g.mean += delta / g.count as f64;
                    g.value += delta * (s.value - g.mean);
                }
                _ => g.members.push(s),
            }
        }
        let mut out = Vec::with_capacity(groups.len());
        for g in groups {
            let value = match op.as_str() {
                "avg" => g.mean,
                "count" => g.count as f64,
                "stdvar" => g.value / g.count as f64,
                "stddev" => (g.value / g.count as f64).sqrt(),
                "quantile" => quantile(param.unwrap_or(f64::NAN), g.members.iter().map(|s| s.value).collect()),
                "topk" | "bottomk" => {
                    let mut m = g.members;
                    let top = op == "topk";
                    // Prometheus's heaps treat NaN as the smallest value; ties keep the earlier series.
                    m.sort_by(|a, b| match (a.value.is_nan(), b.value.is_nan()) {
                        (true, true) => std::cmp::Ordering::Equal,
                        (true, false) => std::cmp::Ordering::Greater,
                        (false, true) => std::cmp::Ordering::Less,
                        _ if top => b.value.partial_cmp(&a.value).unwrap_or(std::cmp::Ordering::Equal),
                        _ => a.value.partial_cmp(&b.value).unwrap_or(std::cmp::Ordering::Equal),
                    });
                    m.truncate(k);
                    out.extend(m);
                    continue;
                }
                _ => g.value,
            };
            out.push(Sample { labels: g.labels, value });
        }
        no_duplicates(&out)?;
        Ok(out)
    }

    fn binary(&mut self, b: &BinaryExpr, t: i64) -> R<Value> {
        let op = b.op.to_string();
        let lhs = self.eval(&b.lhs, t)?;
        let rhs = self.eval(&b.rhs, t)?;
        let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
        let out = match (lhs, rhs) {
            (Value::Scalar(l), Value::Scalar(r)) => {
                let (v, keep) = arith(&op, l, r);
                return Ok(Value::Scalar(if is_comparison(&op) { f64::from(u8::from(keep)) } else { v }));
            }
            (Value::Vector(v), Value::Scalar(s)) => vector_scalar(&op, v, s, false, return_bool),
            (Value::Scalar(s), Value::Vector(v)) => vector_scalar(&op, v, s, true, return_bool),
            (Value::Vector(l), Value::Vector(r)) => {
                let m = matching(b, &op);
                match op.as_str() {
                    "and" => and_unless(l, r, &m, true),
                    "unless" => and_unless(l, r, &m, false),
                    "or" => or(l, r, &m),
                    _ => vector_binop(&op, l, r, &m, return_bool)?,
                }
            }
            _ => return Err(format!("operator `{op}` needs scalars or instant vectors")),
        };
        no_duplicates(&out)?;
        Ok(Value::Vector(out))
    }
}

fn matching(b: &BinaryExpr, op: &str) -> Matching {
    let set = matches!(op, "and" | "or" | "unless");
    let Some(m) = &b.modifier else {
        return Matching {
            on: false,
            names: Vec::new(),
            card: if set { Card::ManyToMany } else { Card::OneToOne },
            include: Vec::new(),
        };
    };
    let (on, names) = match &m.matching {
        None => (false, Vec::new()),
        Some(LabelModifier::Include(l)) => (true, l.labels.clone()),
        Some(LabelModifier::Exclude(l)) => (false, l.labels.clone()),
    };
    let (card, include) = match &m.card {
        _ if set => (Card::ManyToMany, Vec::new()),
        VectorMatchCardinality::OneToOne => (Card::OneToOne, Vec::new()),
        VectorMatchCardinality::ManyToOne(l) => (Card::ManyToOne, l.labels.clone()),
        VectorMatchCardinality::OneToMany(l) => (Card::OneToMany, l.labels.clone()),
        VectorMatchCardinality::ManyToMany => (Card::ManyToMany, Vec::new()),
    };
    Matching { on, names, card, include }
}

/// Prometheus's `VectorscalarBinop`.
fn vector_scalar(op: &str, v: Vec<Sample>, s: f64, swap: bool, return_bool: bool) -> Vec<Sample> {
    let mut out = Vec::with_capacity(v.len());
    for mut x in v {
        let (l, r) = if swap { (s, x.value) } else { (x.value, s) };
        let (mut value, mut keep) = arith(op, l, r);
        if is_comparison(op) && swap {
            value = r;
        }
        if return_bool {
            value = f64::from(u8::from(keep));
            keep = true;
        }
        if keep {
            x.value = value;
            if drops_name(op) || return_bool {
                x.labels = drop_name(&x.labels);
            }
            out.push(x);
        }
    }
    out
}

fn and_unless(l: Vec<Sample>, r: Vec<Sample>, m: &Matching, and: bool) -> Vec<Sample> {
    if and && (l.is_empty() || r.is_empty()) {
        return Vec::new();
    }
    let right: HashSet<String> = r.iter().map(|s| signature(&s.labels, m.on, &m.names)).collect();
    l.into_iter().filter(|s| right.contains(&signature(&s.labels, m.on, &m.names)) == and).collect()
}

fn or(l: Vec<Sample>, r: Vec<Sample>, m: &Matching) -> Vec<Sample> {
    let left: HashSet<String> = l.iter().map(|s| signature(&s.labels, m.on, &m.names)).collect();
    let mut out = l;
    out.extend(r.into_iter().filter(|s| !left.contains(&signature(&s.labels, m.on, &m.names))));
    out
}

/// Prometheus's `VectorBinop` with its `resultMetric`.
fn vector_binop(op: &str, lhs: Vec<Sample>, rhs: Vec<Sample>, m: &Matching, return_bool: bool) -> R<Vec<Sample>> {
    if lhs.is_empty() || rhs.is_empty() {
        return Ok(Vec::new());
    }
    let (lhs, rhs) = if m.card == Card::OneToMany { (rhs, lhs) } else { (lhs, rhs) };
    let mut right: HashMap<String, &Sample> = HashMap::with_capacity(rhs.len());
    for rs in &rhs {
        let sig = signature(&rs.labels, m.on, &m.names);
        if right.insert(sig, rs).is_some() {
            let side = if m.card == Card::OneToMany { "left" } else { "right" };
            return Err(format!(
                "found duplicate series for the match group on the {side} hand-side of the operation; \
                 many-to-many matching not allowed: matching labels must be unique on one side"
            ));
        }
    }
    let mut matched: HashMap<String, HashSet<Labels>> = HashMap::new();
    let mut out = Vec::new();
    for ls in &lhs {
        let sig = signature(&ls.labels, m.on, &m.names);
        let Some(rs) = right.get(&sig) else { continue };
        let (vl, vr) = if m.card == Card::OneToMany { (rs.value, ls.value) } else { (ls.value, rs.value) };
        let (mut value, keep) = arith(op, vl, vr);
        if return_bool {
            value = f64::from(u8::from(keep));
        } else if !keep {
            continue;
        }
        let mut metric = result_metric(&ls.labels, &rs.labels, op, m);
        if return_bool {
            metric = drop_name(&metric);
        }
        let exists = matched.contains_key(&sig);
        if m.card == Card::OneToOne {
            if exists {
                return Err(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
                        .into(),
                );
            }
            matched.insert(sig, HashSet::new());
        } else {
            let set = matched.entry(sig).or_default();
            if !set.insert(metric.clone()) {
                return Err("multiple matches for labels: grouping labels must ensure unique matches".into());
            }
        }
        out.push(Sample { labels: metric, value });
    }
    Ok(out)
}

fn result_metric(lhs: &Labels, rhs: &Labels, op: &str, m: &Matching) -> Labels {
    let mut l: Vec<(String, String)> = lhs.to_vec();
    if drops_name(op) {
        l.retain(|(k, _)| k != NAME);
    }
    if m.card == Card::OneToOne {
        if m.on {
            l.retain(|(k, _)| m.names.contains(k));
        } else {
            l.retain(|(k, _)| !m.names.contains(k));
        }
    }
    for name in &m.include {
        l.retain(|(k, _)| k != name);
        let v = label(rhs, name);
        if !v.is_empty() {
            l.push((name.clone(), v.to_string()));
        }
    }
    l.sort();
    l.into()
}

/// Prometheus's `createLabelsForAbsentFunction`.
fn absent_labels(e: &Expr) -> Labels {
    let vs = match e {
        Expr::VectorSelector(v) => v,
        Expr::MatrixSelector(m) => &m.vs,
        _ => return Arc::from(Vec::new()),
    };
    let mut set: Vec<(String, String)> = Vec::new();
    let mut empty: Vec<String> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == NAME {
            continue;
        }
        if matches!(m.op, MatchOp::Equal) && !set.iter().any(|(k, _)| *k == m.name) {
            if !m.value.is_empty() {
                set.push((m.name.clone(), m.value.clone()));
            }
        } else {
            empty.push(m.name.clone());
        }
    }
    set.retain(|(k, _)| !empty.contains(k));
    set.sort();
    set.into()
}

/// Go's `strconv.ParseFloat` for a bucket bound (`+Inf`, `Inf`, `1e3`, ...).
fn parse_go_float(s: &str) -> Result<f64, ()> {
    match s.to_ascii_lowercase().as_str() {
        "+inf" | "inf" | "+infinity" | "infinity" => Ok(f64::INFINITY),
        "-inf" | "-infinity" => Ok(f64::NEG_INFINITY),
        "nan" => Ok(f64::NAN),
        "" => Err(()),
        _ => s.parse::<f64>().map_err(|_| ()),
    }
}
