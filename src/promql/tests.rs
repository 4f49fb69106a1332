//! The evaluator's semantics at their edges, without a Prometheus server
//! (`tests/promql.rs` checks the same code against a real one).

use super::*;

type Pairs<'a> = &'a [(&'a str, &'a str)];

fn store(series: &[(Pairs, &[(i64, f64)])]) -> MemStorage {
    MemStorage { series: series.iter().map(|(l, p)| (labels(l.iter().copied()), p.to_vec())).collect() }
}

fn eval(st: &mut MemStorage, q: &str, t: i64) -> Value {
    Evaluator::new(st).instant(&parse(q).unwrap(), t).unwrap()
}

fn one(v: Value) -> f64 {
    match v {
        Value::Scalar(x) => x,
        Value::Vector(s) if s.len() == 1 => s[0].value,
        other => panic!("expected one value, got {other:?}"),
    }
}

const S: i64 = 15_000;

fn counter(values: &[f64]) -> Vec<(i64, f64)> {
    values.iter().enumerate().map(|(i, v)| (i as i64 * S, *v)).collect()
}

#[test]
fn rate_and_increase_extrapolate_like_prometheus() {
    // Samples at 0, 15, 30, 45, 60 s: the window [0, 60] is covered exactly.
    let c = counter(&[0.0, 10.0, 20.0, 30.0, 40.0]);
    let mut st = store(&[(&[(NAME, "x")], &c)]);
    assert_eq!(one(eval(&mut st, "increase(x[1m])", 60_000)), 40.0);
    assert!((one(eval(&mut st, "rate(x[1m])", 60_000)) - 40.0 / 60.0).abs() < 1e-12);
    // Window (10 s, 70 s]: samples 15..60; 5 s to the start (< 1.1 × 15 s) and
    // 10 s to the end are extrapolated, but never below the counter's zero:
    // the first sample is 10 after 15 s of 10 per 15 s, so 15 s to zero.
    let v = one(eval(&mut st, "increase(x[1m])", 70_000));
    assert!((v - 30.0 * (45.0 + 5.0 + 10.0) / 45.0).abs() < 1e-12, "{v}");
    // A window with one sample has no rate; a gauge's delta is not a counter.
    assert_eq!(eval(&mut st, "rate(x[10s])", 60_000), Value::Vector(vec![]));
    let g = counter(&[5.0, 3.0, 4.0, 1.0, 2.0]);
    let mut st = store(&[(&[(NAME, "g")], &g)]);
    assert_eq!(one(eval(&mut st, "delta(g[1m])", 60_000)), -3.0);
    // rate() takes every decrease for a counter reset.
    assert_eq!(one(eval(&mut st, "increase(g[1m])", 60_000)), 2.0 - 5.0 + 5.0 + 4.0);
    assert_eq!(one(eval(&mut st, "irate(g[1m])", 60_000)), 1.0 / 15.0);
    assert_eq!(one(eval(&mut st, "idelta(g[1m])", 60_000)), 1.0);
}

#[test]
fn instant_selectors_look_back_five_minutes_closed_at_both_ends() {
    let mut st = store(&[(&[(NAME, "x"), ("a", "1")], &[(0, 7.0)])]);
    assert_eq!(one(eval(&mut st, "x", 300_000)), 7.0);
    assert_eq!(eval(&mut st, "x", 300_001), Value::Vector(vec![]));
    assert_eq!(eval(&mut st, "x", -1), Value::Vector(vec![]));
    assert_eq!(one(eval(&mut st, "x offset 5m", 600_000)), 7.0);
    // The metric name stays on a selector and goes with arithmetic.
    let Value::Vector(v) = eval(&mut st, "x * 2", 0) else { panic!() };
    assert_eq!(v[0].labels, labels([("a", "1")]));
    // Matchers are fully anchored; an absent label matches "".
    assert_eq!(eval(&mut st, "x{a=~\"\"}", 0), Value::Vector(vec![]));
    assert_eq!(one(eval(&mut st, "x{b=\"\"}", 0)), 7.0);
    assert_eq!(eval(&mut st, "x{a=~\"1.+\"}", 0), Value::Vector(vec![]));
}

#[test]
fn histogram_quantile_follows_bucket_quantile() {
    let b = |le: &str, v: f64| (labels([(NAME, "h_bucket"), ("le", le)]), vec![(0, v)]);
    let mut st = MemStorage { series: vec![b("0.1", 50.0), b("0.2", 100.0), b("+Inf", 100.0)] };
    assert!((one(eval(&mut st, "histogram_quantile(0.75, h_bucket)", 0)) - 0.15).abs() < 1e-12);
    assert!((one(eval(&mut st, "histogram_quantile(0.25, h_bucket)", 0)) - 0.05).abs() < 1e-12);
    assert_eq!(one(eval(&mut st, "histogram_quantile(2, h_bucket)", 0)), f64::INFINITY);
    assert_eq!(one(eval(&mut st, "histogram_quantile(-1, h_bucket)", 0)), f64::NEG_INFINITY);
    // A rank in the +Inf bucket is the highest finite bound; no +Inf bucket is NaN.
    assert_eq!(eval::functions::bucket_quantile(0.99, vec![(1.0, 1.0), (f64::INFINITY, 10.0)]), 1.0);
    assert!(eval::functions::bucket_quantile(0.5, vec![(1.0, 1.0), (2.0, 2.0)]).is_nan());
    assert!(eval::functions::bucket_quantile(0.5, vec![(1.0, 0.0), (f64::INFINITY, 0.0)]).is_nan());
    // Non-monotonic buckets are made monotonic first.
    assert_eq!(eval::functions::bucket_quantile(0.5, vec![(1.0, 4.0), (2.0, 3.0), (f64::INFINITY, 4.0)]), 0.5);
}

#[test]
fn vector_matching_and_its_errors() {
    let mut st = store(&[
        (&[(NAME, "a"), ("class", "x"), ("code", "200")], &[(0, 6.0)]),
        (&[(NAME, "a"), ("class", "x"), ("code", "500")], &[(0, 2.0)]),
        (&[(NAME, "b"), ("class", "x")], &[(0, 8.0)]),
    ]);
    let Value::Vector(mut v) = eval(&mut st, "a / on(class) group_left b", 0) else { panic!() };
    v.sort_by(|x, y| x.labels.cmp(&y.labels));
    assert_eq!(v.iter().map(|s| s.value).collect::<Vec<_>>(), vec![0.75, 0.25]);
    assert_eq!(v[0].labels, labels([("class", "x"), ("code", "200")]));
    let q = parse("a / on(class) b").unwrap();
    let err = Evaluator::new(&mut st).instant(&q, 0).unwrap_err();
    assert!(err.contains("many-to-one matching must be explicit"), "{err}");
    let q = parse("b / on(class) a").unwrap();
    let err = Evaluator::new(&mut st).instant(&q, 0).unwrap_err();
    assert!(err.contains("duplicate series"), "{err}");
    // Comparisons filter, `bool` returns 0/1 without the name; set operators keep labels.
    assert_eq!(eval(&mut st, "a > 100", 0), Value::Vector(vec![]));
    let Value::Vector(v) = eval(&mut st, "a > bool 3", 0) else { panic!() };
    assert_eq!(v.iter().map(|s| s.value).sum::<f64>(), 1.0);
    assert!(v.iter().all(|s| label(&s.labels, NAME).is_empty()));
    let Value::Vector(v) = eval(&mut st, "a unless on(code) a{code=\"500\"}", 0) else { panic!() };
    assert_eq!(v.len(), 1);
    assert_eq!(label(&v[0].labels, NAME), "a");
    assert_eq!(one(eval(&mut st, "sum(a{code=\"404\"}) or vector(0)", 0)), 0.0);
    assert!(one(eval(&mut st, "scalar(a)", 0)).is_nan());
}

#[test]
fn nan_follows_go_semantics() {
    let mut st = store(&[(&[(NAME, "n")], &[(0, f64::NAN)]), (&[(NAME, "m")], &[(0, 3.0)])]);
    // Go's math.Max keeps NaN (Rust's f64::max would drop it).
    assert!(one(eval(&mut st, "clamp_min(n, 1)", 0)).is_nan());
    assert!(one(eval(&mut st, "clamp_max(n, 1)", 0)).is_nan());
    assert_eq!(eval(&mut st, "clamp(m, 2, 1)", 0), Value::Vector(vec![]));
    assert_eq!(one(eval(&mut st, "clamp(m, 1, 2)", 0)), 2.0);
    // max keeps replacing a NaN, so the order of series decides; NaN never compares.
    assert_eq!(one(eval(&mut st, "max({__name__=~\"m|n\"})", 0)), 3.0);
    assert_eq!(eval(&mut st, "n == n", 0), Value::Vector(vec![]));
}

#[test]
fn aggregations_group_by_and_without() {
    let mut st = store(&[
        (&[(NAME, "r"), ("v", "c"), ("k", "1")], &[(0, 1.0)]),
        (&[(NAME, "r"), ("v", "c"), ("k", "2")], &[(0, 3.0)]),
        (&[(NAME, "r"), ("v", "s"), ("k", "1")], &[(0, 10.0)]),
    ]);
    let Value::Vector(mut v) = eval(&mut st, "sum by (v) (r)", 0) else { panic!() };
    v.sort_by(|a, b| a.labels.cmp(&b.labels));
    assert_eq!(
        v,
        vec![Sample { labels: labels([("v", "c")]), value: 4.0 }, Sample { labels: labels([("v", "s")]), value: 10.0 }]
    );
    let Value::Vector(v) = eval(&mut st, "sum without (k) (r)", 0) else { panic!() };
    assert!(v.iter().all(|s| label(&s.labels, NAME).is_empty() && label(&s.labels, "k").is_empty()));
    assert_eq!(one(eval(&mut st, "avg(r)", 0)), 14.0 / 3.0);
    assert_eq!(one(eval(&mut st, "count(r)", 0)), 3.0);
    assert_eq!(one(eval(&mut st, "quantile(0.5, r)", 0)), 3.0);
    let Value::Vector(v) = eval(&mut st, "topk(2, r)", 0) else { panic!() };
    assert_eq!(v.iter().map(|s| s.value).collect::<Vec<_>>(), vec![10.0, 3.0]);
    assert_eq!(label(&v[0].labels, NAME), "r", "topk keeps the series' own labels");
    assert_eq!(eval(&mut st, "bottomk(0, r)", 0), Value::Vector(vec![]));
    let Value::Vector(v) = eval(&mut st, "absent(r{v=\"x\",k=~\"1\"})", 0) else { panic!() };
    assert_eq!(v, vec![Sample { labels: labels([("v", "x")]), value: 1.0 }]);
}

#[test]
fn unsupported_constructs_are_refused_with_their_name_and_column() {
    let e = parse("sum(rate(x[5m])) / label_replace(y, \"a\", \"$1\", \"b\", \"(.*)\")").unwrap_err();
    assert!(e.message.contains("`label_replace`") && e.message.contains("supported functions"), "{e}");
    assert_eq!(e.column, Some(20));
    let e = parse("max_over_time(rate(x[1m])[5m:1m])").unwrap_err();
    assert!(e.message.contains("subqueries"), "{e}");
    let e = parse("x @ 100").unwrap_err();
    assert!(e.message.contains("`@`"), "{e}");
    assert_eq!(e.column, Some(3));
    let e = parse("count_values(\"v\", x)").unwrap_err();
    assert!(e.message.contains("`count_values`"), "{e}");
    assert_eq!(e.column, Some(1));
    let e = parse("frobnicate(x)").unwrap_err();
    assert_eq!(e.column, Some(1), "{e}");
    assert!(parse("sum(rate(x{a!~\"5..\"}[1m])) by (le)").is_ok());
}

#[test]
fn range_queries_are_instant_queries_at_every_step() {
    let c = counter(&[0.0, 10.0, 20.0, 30.0, 40.0]);
    let mut st = store(&[(&[(NAME, "x")], &c)]);
    let q = parse("x").unwrap();
    let m = Evaluator::new(&mut st).range(&q, 0, 60_000, 30_000).unwrap();
    assert_eq!(
        m,
        vec![Series { labels: labels([(NAME, "x")]), points: vec![(0, 0.0), (30_000, 20.0), (60_000, 40.0)] }]
    );
    let s = Evaluator::new(&mut st).range(&parse("1 + 1").unwrap(), 0, 30_000, 15_000).unwrap();
    assert_eq!(s[0].labels.len(), 0);
    assert_eq!(s[0].points.len(), 3);
    assert!(Evaluator::new(&mut st).range(&parse("x[1m]").unwrap(), 0, 1, 1).is_err());
}

#[test]
fn values_and_timestamps_print_as_the_http_api_does() {
    assert_eq!(format_timestamp(1_500), "1.500");
    assert_eq!(format_timestamp(1_767_225_600_000), "1767225600");
    assert_eq!(format_timestamp(-1_005), "-1.005");
    assert_eq!(format_value(f64::NAN), "NaN");
    assert_eq!(format_value(f64::INFINITY), "+Inf");
    assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
    assert_eq!(format_value(1e-7), "0.0000001");
    assert_eq!(format_value(2.0), "2");
    assert_eq!(
        instant_json(&Value::Scalar(0.5), 1_000),
        r#"{"status":"success","data":{"resultType":"scalar","result":[1,"0.5"]}}"#
    );
}

/// Error messages print floats as Prometheus (Go's `%v`) does.
#[test]
fn floats_in_errors_print_as_go_does() {
    use super::eval::functions::go_format_v;
    let cases = [
        (1e300, "1e+300"),
        (1_234_567.0, "1.234567e+06"),
        (123_456.0, "123456"),
        (9.3e18, "9.3e+18"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-2.5e-7, "-2.5e-07"),
        (0.0, "0"),
        (f64::NAN, "NaN"),
        (f64::NEG_INFINITY, "-Inf"),
    ];
    for (f, want) in cases {
        assert_eq!(go_format_v(f), want, "{f}");
    }
    let mut st = store(&[(&[(NAME, "up")], &[(0, 1.0)])]);
    let err = Evaluator::new(&mut st).instant(&parse("topk(1e300, up)").unwrap(), 0).unwrap_err();
    assert_eq!(err, "Scalar value 1e+300 overflows int64");
}
