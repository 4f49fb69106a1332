//! PromQL over series a Prometheus server would store: the simulated fleet
//! exposed under a metric-naming [`profile`], or recorded series.
//!
//! Queries are parsed by the `promql-parser` crate and evaluated here with the
//! semantics of Prometheus 2.x (the version CI checks against, byte for byte
//! on values): instant selectors with a 5-minute lookback closed at both ends,
//! range selectors closed at both ends, `offset`, `rate`/`increase`/`delta`
//! with Prometheus's extrapolation, aggregations with `by`/`without`, vector
//! matching with `on`/`ignoring`/`group_left`/`group_right`, set operators and
//! `histogram_quantile`. Anything else is refused by [`parse`] with its name
//! and position, never evaluated approximately.

pub mod bind;
mod eval;
pub mod openmetrics;
pub mod profile;
pub mod recorded;

pub use eval::{Evaluator, Sample, Series, Value};

use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr};
use std::fmt;
use std::sync::Arc;

/// A series' labels, sorted by name, the metric name as `__name__`, no empty values.
pub type Labels = Arc<[(String, String)]>;

/// The label that holds the metric name.
pub const NAME: &str = "__name__";

/// Builds sorted [`Labels`] from pairs (empty values dropped, as Prometheus does).
pub fn labels<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Labels {
    let mut v: Vec<(String, String)> =
        pairs.into_iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    v.sort();
    v.dedup_by(|a, b| a.0 == b.0);
    v.into()
}

/// The value of label `name`, `""` when absent.
pub fn label<'a>(l: &'a Labels, name: &str) -> &'a str {
    l.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

/// A series selector: the metric name, if written before the braces, and
/// label matchers (`=`, `!=`, `=~`, `!~`; regular expressions fully anchored,
/// an absent label matching as `""`).
#[derive(Debug, Clone, Copy)]
pub struct Selector<'a> {
    name: Option<&'a str>,
    matchers: &'a [promql_parser::label::Matcher],
}

impl<'a> Selector<'a> {
    pub(crate) fn of(vs: &'a parser::VectorSelector) -> Selector<'a> {
        Selector { name: vs.name.as_deref(), matchers: &vs.matchers.matchers }
    }

    /// The metric name the selector requires, if it names one.
    pub fn name(&self) -> Option<&'a str> {
        self.name.or_else(|| {
            self.matchers.iter().find(|m| m.name == NAME && matches!(m.op, MatchOp::Equal)).map(|m| m.value.as_str())
        })
    }

    /// True when the series' labels satisfy the selector.
    pub fn matches(&self, l: &Labels) -> bool {
        self.name.is_none_or(|n| label(l, NAME) == n) && self.matchers.iter().all(|m| m.is_match(label(l, &m.name)))
    }

    /// The equality matchers other than the name (what `absent()` reports).
    pub fn equalities(&self) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.matchers
            .iter()
            .filter(|m| m.name != NAME && matches!(m.op, MatchOp::Equal))
            .map(|m| (m.name.as_str(), m.value.as_str()))
    }
}

/// Where an evaluator reads series from. Series are numbered by the storage;
/// points are `(milliseconds, value)` in time order.
pub trait Storage {
    /// The series the selector selects.
    fn select(&mut self, sel: &Selector) -> Vec<usize>;
    fn labels(&self, id: usize) -> Labels;
    /// The labels without `__name__` (what a function's result carries); a
    /// storage may keep them ready instead of building them per evaluation.
    fn labels_without_name(&self, id: usize) -> Labels {
        let l = self.labels(id);
        l.iter().filter(|(k, _)| k != NAME).cloned().collect::<Vec<_>>().into()
    }
    /// Appends to `out` the points of series `id` with `mint <= t <= maxt`.
    fn points(&mut self, id: usize, mint: i64, maxt: i64, out: &mut Vec<(i64, f64)>);

    /// The last point with `mint <= t <= maxt` (an instant selector's sample).
    fn last_point(&mut self, id: usize, mint: i64, maxt: i64) -> Option<(i64, f64)> {
        let mut v = Vec::new();
        self.points(id, mint, maxt, &mut v);
        v.pop()
    }

    /// For a series the storage knows never decreases (a counter without
    /// resets): its points in `[mint, maxt]` summarised, so that rates need
    /// not read every point; `last_step` asks for the last two points' step
    /// too. `None`: not such a series (read the points).
    fn counter_span(&mut self, _id: usize, _mint: i64, _maxt: i64, _last_step: bool) -> Option<Option<CounterSpan>> {
        None
    }

    /// The value at `t` of a series [`Storage::counter_span`] summarised (`t`
    /// one of its points' times).
    fn counter_value(&mut self, _id: usize, _t: i64) -> f64 {
        f64::NAN
    }
}

/// A never-decreasing series' points in a range, summarised: what
/// `rate`, `increase`, `delta`, `irate` and `idelta` read of them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CounterSpan {
    pub first_t: i64,
    pub last_t: i64,
    /// Points in the range (at least 1).
    pub count: usize,
    /// Last value minus first value.
    pub increase: f64,
    /// The second-to-last point's time and the last step's increase (count ≥ 2;
    /// NaN unless asked for).
    pub prev_t: i64,
    pub last_step: f64,
}

/// A query refused before evaluation: what is wrong and where (1-based column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
    pub column: Option<usize>,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(c) => write!(f, "at column {c}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// A parsed, supported query.
#[derive(Debug, Clone)]
pub struct Query {
    pub text: String,
    pub(crate) expr: Expr,
}

impl Query {
    /// True when the query yields one number per instant (a scalar or an
    /// instant vector), as a rule's condition needs; false for a range vector
    /// or a string.
    pub fn is_instant(&self) -> bool {
        matches!(self.expr.value_type(), parser::value::ValueType::Scalar | parser::value::ValueType::Vector)
    }
}

/// Functions evaluated with Prometheus's semantics.
pub const FUNCTIONS: &[&str] = &[
    "rate",
    "irate",
    "increase",
    "delta",
    "idelta",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "last_over_time",
    "present_over_time",
    "quantile_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "histogram_quantile",
    "vector",
    "scalar",
    "abs",
    "clamp",
    "clamp_min",
    "clamp_max",
    "absent",
    "time",
];

/// Aggregation operators evaluated with Prometheus's semantics.
pub const AGGREGATIONS: &[&str] =
    &["sum", "avg", "min", "max", "count", "topk", "bottomk", "quantile", "stddev", "stdvar", "group"];

/// Parses `text` and checks that every construct in it is supported.
pub fn parse(text: &str) -> Result<Query, ParseError> {
    let expr = parser::parse(text).map_err(|e| {
        // The parser names an unknown function without its place: find it.
        let column = e
            .split_once("unknown function with name '")
            .and_then(|(_, rest)| rest.split_once('\''))
            .and_then(|(name, _)| column_of(text, name));
        ParseError { message: format!("not valid PromQL: {e}"), column }
    })?;
    check(&expr, text)?;
    Ok(Query { text: text.to_string(), expr })
}

fn unsupported(text: &str, what: &str, needle: &str) -> ParseError {
    ParseError {
        message: format!(
            "{what} is not supported (supported functions: {}; aggregations: {})",
            FUNCTIONS.join(", "),
            AGGREGATIONS.join(", ")
        ),
        column: column_of(text, needle),
    }
}

/// The 1-based column of the first `needle` followed by `(` (or of `needle` itself).
fn column_of(text: &str, needle: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find(needle) {
        let at = from + i;
        let before_ok = at == 0 || !text.as_bytes()[at - 1].is_ascii_alphanumeric() && text.as_bytes()[at - 1] != b'_';
        let rest = text[at + needle.len()..].trim_start();
        if before_ok && (rest.starts_with('(') || !needle.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')) {
            return Some(text[..at].chars().count() + 1);
        }
        from = at + needle.len();
    }
    None
}

fn check(e: &Expr, text: &str) -> Result<(), ParseError> {
    match e {
        Expr::Aggregate(a) => {
            let op = a.op.to_string();
            if !AGGREGATIONS.contains(&op.as_str()) {
                return Err(unsupported(text, &format!("aggregation `{op}`"), &op));
            }
            check(&a.expr, text)?;
            if let Some(p) = &a.param {
                check(p, text)?;
            }
            Ok(())
        }
        Expr::Unary(u) => check(&u.expr, text),
        Expr::Binary(b) => {
            let op = b.op.to_string();
            if op == "atan2" {
                return Err(unsupported(text, "operator `atan2`", "atan2"));
            }
            if let Some(m) = &b.modifier {
                if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
                    return Err(unsupported(text, "`fill` modifiers", "fill"));
                }
            }
            check(&b.lhs, text)?;
            check(&b.rhs, text)
        }
        Expr::Paren(p) => check(&p.expr, text),
        Expr::Subquery(_) => Err(ParseError {
            message: "subqueries (`expr[range:step]`) are not supported".into(),
            column: column_of(text, ":"),
        }),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
        Expr::VectorSelector(v) => check_selector(v, text),
        Expr::MatrixSelector(m) => check_selector(&m.vs, text),
        Expr::Call(c) => {
            if !FUNCTIONS.contains(&c.func.name) {
                return Err(unsupported(text, &format!("function `{}`", c.func.name), c.func.name));
            }
            c.args.args.iter().try_for_each(|a| check(a, text))
        }
        Expr::Extension(_) => {
            Err(ParseError { message: "extension expressions are not supported".into(), column: None })
        }
    }
}

fn check_selector(v: &parser::VectorSelector, text: &str) -> Result<(), ParseError> {
    if v.at.is_some() {
        return Err(ParseError { message: "the `@` modifier is not supported".into(), column: column_of(text, "@") });
    }
    if !v.matchers.or_matchers.is_empty() {
        return Err(ParseError { message: "`or` inside a selector's braces is not supported".into(), column: None });
    }
    Ok(())
}

/// The one number a rule judges: a scalar, or the only element of an instant
/// vector; an empty vector or NaN is no data. Several series are an error
/// (a condition would have to pick one); so is a range vector.
pub fn judged(v: Result<Value, String>) -> Result<Option<f64>, String> {
    let x = match v? {
        Value::Scalar(x) => x,
        Value::Vector(s) if s.is_empty() => return Ok(None),
        Value::Vector(s) if s.len() == 1 => s[0].value,
        Value::Vector(s) => {
            return Err(format!(
                "the query returned {} series; a rule judges one value: aggregate them (sum, max, ...)",
                s.len()
            ))
        }
        Value::Matrix(_) | Value::String(_) => return Err("the query does not return a number".into()),
    };
    Ok((!x.is_nan()).then_some(x))
}

/// Milliseconds as Prometheus's API writes a timestamp: seconds with up to
/// three decimals, trailing zeros kept (`1.500`), none for whole seconds.
pub fn format_timestamp(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let a = ms.unsigned_abs();
    if a % 1000 == 0 {
        format!("{sign}{}", a / 1000)
    } else {
        format!("{sign}{}.{:03}", a / 1000, a % 1000)
    }
}

/// A value as Prometheus's API writes it (Go's `FormatFloat(v, 'f', -1, 64)`).
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else if v == 0.0 && v.is_sign_negative() {
        "-0".into()
    } else {
        format!("{v}")
    }
}

fn json_labels(l: &Labels) -> String {
    let fields: Vec<String> = l
        .iter()
        .map(|(k, v)| format!("{}:{}", serde_json::Value::from(k.as_str()), serde_json::Value::from(v.as_str())))
        .collect();
    format!("{{{}}}", fields.join(","))
}

fn json_point(t: i64, v: f64) -> String {
    format!("[{},\"{}\"]", format_timestamp(t), format_value(v))
}

/// The body of Prometheus's `/api/v1/query` response for `value` at `t`.
pub fn instant_json(value: &Value, t: i64) -> String {
    let (kind, result) = match value {
        Value::Scalar(v) => ("scalar", json_point(t, *v)),
        Value::String(s) => ("string", format!("[{},{}]", format_timestamp(t), serde_json::Value::from(s.as_str()))),
        Value::Vector(samples) => {
            let mut s: Vec<&Sample> = samples.iter().collect();
            s.sort_by(|a, b| a.labels.cmp(&b.labels));
            let items: Vec<String> = s
                .iter()
                .map(|s| format!("{{\"metric\":{},\"value\":{}}}", json_labels(&s.labels), json_point(t, s.value)))
                .collect();
            ("vector", format!("[{}]", items.join(",")))
        }
        Value::Matrix(m) => ("matrix", matrix_json(m)),
    };
    format!("{{\"status\":\"success\",\"data\":{{\"resultType\":\"{kind}\",\"result\":{result}}}}}")
}

fn matrix_json(m: &[Series]) -> String {
    let items: Vec<String> = m
        .iter()
        .map(|s| {
            let pts: Vec<String> = s.points.iter().map(|&(t, v)| json_point(t, v)).collect();
            format!("{{\"metric\":{},\"values\":[{}]}}", json_labels(&s.labels), pts.join(","))
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// The body of Prometheus's `/api/v1/query_range` response.
pub fn range_json(m: &[Series]) -> String {
    format!("{{\"status\":\"success\",\"data\":{{\"resultType\":\"matrix\",\"result\":{}}}}}", matrix_json(m))
}

/// An in-memory storage: recorded series, or series built by a test.
#[derive(Debug, Clone, Default)]
pub struct MemStorage {
    pub series: Vec<(Labels, Vec<(i64, f64)>)>,
}

impl Storage for MemStorage {
    fn select(&mut self, sel: &Selector) -> Vec<usize> {
        (0..self.series.len()).filter(|&i| sel.matches(&self.series[i].0)).collect()
    }
    fn labels(&self, id: usize) -> Labels {
        self.series[id].0.clone()
    }
    fn points(&mut self, id: usize, mint: i64, maxt: i64, out: &mut Vec<(i64, f64)>) {
        let pts = &self.series[id].1;
        let lo = pts.partition_point(|p| p.0 < mint);
        let hi = pts.partition_point(|p| p.0 <= maxt);
        out.extend_from_slice(&pts[lo..hi]);
    }
}

#[cfg(test)]
mod tests;
