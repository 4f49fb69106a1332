//! The evaluator: one instant at a time, as Prometheus 2.x's engine defines
//! each node (a range query is the instant evaluation at every step). Each
//! function below names the Prometheus function it follows.

mod binop;
pub(super) mod functions;

use super::{label, Labels, Query, Selector, Storage, NAME};
use binop::*;
use functions::*;
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
                return Err(format!("Scalar value {} overflows int64", functions::go_format_v(f)));
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
