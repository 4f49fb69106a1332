//! PromQL is evaluated exactly as Prometheus does. Trials of several fault
//! kinds, one per metric-naming profile, are recorded as OpenMetrics, turned
//! into TSDB blocks by the real `promtool`, and served by the real
//! `prometheus` on 127.0.0.1; a corpus of queries is then asked of both
//! `rollsim query` and Prometheus's HTTP API, instant and range, at many
//! times. Values must agree to 1e-9 relative (NaN and empty results included)
//! with identical label sets, and errors must be errors on both sides.
//!
//! Without the Debian package `prometheus` the test is skipped, except under
//! CI (`CI` set), where it is a failure. The server is stopped by its process
//! id when the test ends, also when it fails.

use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

const ORIGIN: i64 = 1_767_225_600;

fn binaries() -> Option<(PathBuf, PathBuf)> {
    let find =
        |name: &str| ["/usr/bin", "/usr/local/bin"].into_iter().map(|d| Path::new(d).join(name)).find(|p| p.is_file());
    match (find("prometheus"), find("promtool")) {
        (Some(p), Some(t)) => Some((p, t)),
        _ if std::env::var_os("CI").is_some() => {
            panic!("prometheus and promtool are required under CI (.ci/run installs the Debian package `prometheus`)")
        }
        _ => None,
    }
}

fn rollsim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rollsim"))
}

/// A running Prometheus, killed by its process id when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn get(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, body)| body.to_string())
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn start(prometheus: &Path, data: &Path, dir: &Path) -> Server {
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, "global:\n  evaluation_interval: 1m\n").unwrap();
    let port = free_port();
    let child = Command::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--storage.tsdb.retention.time=100y")
        .stdout(std::fs::File::create(dir.join("prometheus.log")).unwrap())
        .stderr(std::fs::File::create(dir.join("prometheus.err")).unwrap())
        .spawn()
        .expect("prometheus starts");
    let server = Server { child, port };
    for _ in 0..300 {
        if get(port, "/-/ready").is_some_and(|b| b.contains("Ready")) {
            return server;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "prometheus did not become ready: {}",
        std::fs::read_to_string(dir.join("prometheus.err")).unwrap_or_default()
    );
}

fn parse_value(v: &Value) -> f64 {
    match v.as_str().unwrap() {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        s => s.parse().unwrap(),
    }
}

fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

fn point(p: &Value) -> (String, f64) {
    (p[0].to_string(), parse_value(&p[1]))
}

/// Compares two API responses; returns the number of values compared.
fn compare(ours: &Value, theirs: &Value) -> Result<usize, String> {
    if theirs["status"] != "success" || ours["status"] != "success" {
        return if ours["status"] == theirs["status"] {
            Ok(1)
        } else {
            Err(format!("status differs: rollsim {ours} vs prometheus {theirs}"))
        };
    }
    let (o, t) = (&ours["data"], &theirs["data"]);
    if o["resultType"] != t["resultType"] {
        return Err(format!("result types differ: {o} vs {t}"));
    }
    match t["resultType"].as_str().unwrap() {
        "scalar" => {
            let (a, b) = (point(&o["result"]), point(&t["result"]));
            if a.0 == b.0 && same(a.1, b.1) {
                Ok(1)
            } else {
                Err(format!("scalar differs: {a:?} vs {b:?}"))
            }
        }
        kind => {
            let key = |r: &Value| r["metric"].to_string();
            let mut a: Vec<&Value> = o["result"].as_array().unwrap().iter().collect();
            let mut b: Vec<&Value> = t["result"].as_array().unwrap().iter().collect();
            a.sort_by_key(|r| key(r));
            b.sort_by_key(|r| key(r));
            let ka: Vec<String> = a.iter().map(|r| key(r)).collect();
            let kb: Vec<String> = b.iter().map(|r| key(r)).collect();
            if ka != kb {
                return Err(format!("label sets differ:\n  rollsim    {ka:?}\n  prometheus {kb:?}"));
            }
            let mut n = 0;
            for (x, y) in a.iter().zip(&b) {
                type Points = Vec<(String, f64)>;
                let (px, py): (Points, Points) = if kind == "vector" {
                    (vec![point(&x["value"])], vec![point(&y["value"])])
                } else {
                    let f = |r: &Value| r["values"].as_array().unwrap().iter().map(point).collect();
                    (f(x), f(y))
                };
                if px.len() != py.len() || px.iter().zip(&py).any(|(p, q)| p.0 != q.0 || !same(p.1, q.1)) {
                    return Err(format!("values of {} differ:\n  rollsim    {px:?}\n  prometheus {py:?}", key(x)));
                }
                n += px.len().max(1);
            }
            Ok(n.max(1))
        }
    }
}

/// How a profile names things, for the query templates.
struct Names {
    profile: &'static str,
    req: &'static str,
    canary: &'static str,
    stable: &'static str,
    ok: &'static str,
    err: &'static str,
    hist: &'static str,
    /// Matches only this profile's gauges (all four profiles share one TSDB).
    scope: &'static str,
}

const PROFILES: [Names; 4] = [
    Names {
        profile: "generic",
        req: "http_requests_total",
        canary: r#"version="canary""#,
        stable: r#"version="stable""#,
        ok: r#"code!~"5..""#,
        err: r#"code=~"5..""#,
        hist: "http_request_duration_seconds",
        scope: r#"version=~".+""#,
    },
    Names {
        profile: "istio",
        req: "istio_requests_total",
        canary: r#"reporter="destination",destination_workload=~"app""#,
        stable: r#"reporter="destination",destination_workload="app-primary""#,
        ok: r#"response_code!~"5.*""#,
        err: r#"response_code=~"5.*""#,
        hist: "istio_request_duration_milliseconds",
        scope: r#"reporter="destination""#,
    },
    Names {
        profile: "linkerd",
        req: "response_total",
        canary: r#"namespace="default",deployment=~"app",direction="inbound""#,
        stable: r#"deployment="app-primary""#,
        ok: r#"classification!="failure""#,
        err: r#"classification="failure""#,
        hist: "response_latency_ms",
        scope: r#"direction="inbound""#,
    },
    Names {
        profile: "nginx",
        req: "nginx_ingress_controller_requests",
        canary: r#"namespace="default",ingress="app",canary!="""#,
        stable: r#"ingress="app",canary="""#,
        ok: r#"status!~"5.*""#,
        err: r#"status=~"5.*""#,
        hist: "nginx_ingress_controller_request_duration_seconds",
        scope: r#"ingress="app""#,
    },
];

/// The corpus: every supported function and operator, each profile's
/// real-world success-rate and latency queries, and edge cases.
const QUERIES: &[&str] = &[
    // Flagger's request-success-rate and request-duration shapes.
    "sum(rate(REQ{CANARY,OK}[1m])) / sum(rate(REQ{CANARY}[1m])) * 100",
    "histogram_quantile(0.99, sum(rate(HIST_bucket{CANARY}[1m])) by (le))",
    // Argo Rollouts' error-ratio shapes.
    "sum(irate(REQ{CANARY,ERR}[5m])) / sum(irate(REQ{CANARY}[5m]))",
    "scalar(sum(rate(REQ{CANARY,ERR}[2m])) / sum(rate(REQ{CANARY}[2m])))",
    "(sum(rate(REQ{CANARY,ERR}[5m])) or vector(0)) / sum(rate(REQ{CANARY}[5m]))",
    "histogram_quantile(0.5, sum by (le) (increase(HIST_bucket{STABLE}[10m])))",
    "histogram_quantile(0.9, rate(HIST_bucket{CANARY}[3m]))",
    "REQ{CANARY}",
    "REQ{STABLE,ERR} offset 5m",
    "increase(REQ{STABLE,ERR}[15m])",
    "rate(REQ{CANARY}[20s])",
    "rate(REQ{CANARY}[30s] offset 1m)",
    "delta(rollsim_cpu_utilization_ratio{CANARY}[10m])",
    "idelta(rollsim_memory_utilization_ratio{STABLE}[5m])",
    "rate(rollsim_cpu_utilization_ratio[5m])",
    "irate(rollsim_db_pool_utilization_ratio[2m])",
    "avg_over_time(rollsim_memory_utilization_ratio{CANARY}[5m])",
    "max_over_time(rollsim_cpu_utilization_ratio[7m]) - min_over_time(rollsim_cpu_utilization_ratio[7m])",
    "sum_over_time(rollsim_cpu_utilization_ratio{STABLE}[3m]) / count_over_time(rollsim_cpu_utilization_ratio{STABLE}[3m])",
    "last_over_time(rollsim_db_pool_utilization_ratio[10m])",
    "quantile_over_time(0.9, rollsim_cpu_utilization_ratio[10m])",
    "stddev_over_time(rollsim_cpu_utilization_ratio{CANARY}[10m]) + stdvar_over_time(rollsim_cpu_utilization_ratio{CANARY}[10m])",
    "present_over_time(kube_pod_container_status_restarts_total[5m])",
    "sum by (class) (rate(REQ[5m]))",
    "sum without (class) (rate(REQ{CANARY}[5m]))",
    "avg(rollsim_cpu_utilization_ratio) + min(rollsim_cpu_utilization_ratio) + max by (stat) (rollsim_cpu_utilization_ratio)",
    "count(REQ) - count(rollsim_cpu_utilization_ratio > 0.5)",
    "topk(2, sum by (class) (rate(REQ{STABLE}[5m])))",
    "bottomk(1, sum by (class) (rate(REQ{STABLE}[5m])))",
    "quantile(0.5, rate(REQ[5m]))",
    "sum by (class) (rate(REQ{CANARY,ERR}[5m])) / on(class) sum by (class) (rate(REQ{CANARY}[5m]))",
    "rate(REQ{CANARY}[5m]) / on(class) group_left sum by (class) (rate(REQ{CANARY}[5m]))",
    "sum by (class) (rate(REQ{STABLE}[5m])) / ignoring(unused) group_right rate(REQ{STABLE}[5m])",
    "rate(REQ[5m]) > 1",
    "rate(REQ[5m]) > bool 1",
    "1 < rate(REQ{CANARY}[5m])",
    "sum(rate(REQ{CANARY,ERR}[5m])) > bool sum(rate(REQ{STABLE,ERR}[5m]))",
    "rate(REQ{ERR}[5m]) and on(class) rate(REQ{OK}[5m]) > 100",
    "rate(REQ[5m]) unless on(class) rate(REQ{class=\"payment\"}[5m])",
    "abs(delta(rollsim_memory_utilization_ratio[5m]))",
    "clamp_min(rate(REQ{CANARY}[5m]), 1) + clamp_max(rate(REQ{CANARY}[5m]), 0.5)",
    "clamp(rollsim_cpu_utilization_ratio, 0.3, 0.5)",
    "absent(REQ{CANARY,class=\"nope\"})",
    "absent(REQ{CANARY})",
    "-rollsim_cpu_utilization_ratio{STABLE} % 0.1",
    "2 ^ 3 * time() - 1",
    "sum(rate(HIST_count{CANARY}[5m])) - sum(rate(REQ{CANARY}[5m]))",
    "sum(increase(kube_pod_container_status_restarts_total{CANARY}[30m]))",
    "rate(REQ[5m]) + REQ",
    "idelta(REQ{CANARY}[1m]) + delta(REQ{STABLE}[2m] offset 30s)",
    "HIST_count{STABLE} - HIST_count{STABLE} offset 1m",
    "REQ / ignoring(code) REQ",
];

/// Ranges as (query index, step seconds).
const RANGES: &[(usize, i64)] = &[(0, 60), (1, 420), (2, 37), (12, 300), (23, 600), (33, 90)];

fn fill(q: &str, n: &Names) -> String {
    let fill_sel = |q: String, key: &str, with: &str| -> String {
        // `{KEY,` and `{KEY}` both become the profile's matchers.
        q.replace(&format!("{{{key},"), &format!("{{{with},")).replace(&format!("{{{key}}}"), &format!("{{{with}}}"))
    };
    let mut s = q.replace("REQ", n.req).replace("HIST", n.hist);
    for (k, v) in [("CANARY", n.canary), ("STABLE", n.stable)] {
        s = fill_sel(s, k, v);
    }
    for gauge in [
        "rollsim_cpu_utilization_ratio",
        "rollsim_memory_utilization_ratio",
        "rollsim_db_pool_utilization_ratio",
        "kube_pod_container_status_restarts_total",
    ] {
        let parts: Vec<&str> = s.split(gauge).collect();
        let mut out = parts[0].to_string();
        for p in &parts[1..] {
            out.push_str(gauge);
            if !p.starts_with('{') {
                out.push_str(&format!("{{{}}}", n.scope));
            }
            out.push_str(p);
        }
        s = out;
    }
    s.replace(",OK}", &format!(",{}}}", n.ok))
        .replace(",ERR}", &format!(",{}}}", n.err))
        .replace("{OK}", &format!("{{{}}}", n.ok))
        .replace("{ERR}", &format!("{{{}}}", n.err))
}

fn scenario(dir: &Path, profile: &str) -> PathBuf {
    let seed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/seed-canary.toml")).unwrap();
    let text = seed
        .replacen("[fleet]\n", &format!("[fleet]\nmetrics = \"{profile}\"\n"), 1)
        .replacen("bake = \"12h\"", "bake = \"1h\"", 1)
        .replace("bake = \"6h\"", "bake = \"45m\"");
    assert!(text.contains("metrics = ") && text.contains("bake = \"1h\""));
    let path = dir.join(format!("{profile}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn queries_agree_with_a_real_prometheus() {
    let Some((prometheus, promtool)) = binaries() else {
        eprintln!("skipped: prometheus/promtool not installed (Debian package `prometheus`)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("tsdb");
    // One trial per profile, each of another fault kind; the profiles' series
    // have distinct names or labels, so all four share one TSDB.
    let trials =
        [(PROFILES[0].profile, 14), (PROFILES[1].profile, 4), (PROFILES[2].profile, 13), (PROFILES[3].profile, 18)];
    let mut ends = Vec::new();
    let mut faults = Vec::new();
    for (profile, trial) in trials {
        let sc = scenario(dir.path(), profile);
        let om = dir.path().join(format!("{profile}.om"));
        let out = rollsim()
            .args([
                "record",
                sc.to_str().unwrap(),
                "--trial",
                &trial.to_string(),
                "--seed",
                "1",
                "--format",
                "openmetrics",
            ])
            .arg("--out")
            .arg(&om)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let said = String::from_utf8_lossy(&out.stdout).to_string();
        faults.push(said.split(['(', ',']).nth(1).unwrap_or("").to_string());
        let text = std::fs::read_to_string(&om).unwrap();
        assert!(text.ends_with("# EOF\n"));
        let end = text.lines().filter_map(|l| l.rsplit(' ').next()?.parse::<i64>().ok()).max().unwrap();
        ends.push(end);
        let built = Command::new(&promtool)
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&om)
            .arg(&data)
            .output()
            .unwrap();
        assert!(built.status.success(), "promtool: {}", String::from_utf8_lossy(&built.stderr));
    }
    faults.sort();
    faults.dedup();
    assert!(faults.len() >= 3, "the trials should cover several fault kinds: {faults:?}");

    let server = start(&prometheus, &data, dir.path());
    let mut failures = Vec::new();
    let mut total_pairs = 0;
    let mut total_values = 0;
    for ((n, (profile, trial)), end) in PROFILES.iter().zip(trials).zip(&ends) {
        let sc = scenario(dir.path(), profile);
        let times: Vec<f64> = [0.0, 7.0, 15.0, 30.0, 60.0, 180.0, 300.0, 322.5, 600.0, 1050.0, 1800.0, 3600.0]
            .into_iter()
            .map(|s| (ORIGIN as f64) + s)
            .chain([-60.0, 0.0, 240.0, 300.0, 301.0, 900.0].map(|s| *end as f64 + s))
            .collect();
        let mut pairs = 0;
        let ask = |expr: &str, extra: &[String]| -> Value {
            let out = rollsim()
                .args(["query", sc.to_str().unwrap(), "--trial", &trial.to_string(), "--seed", "1", "-e", expr])
                .args(extra)
                .output()
                .unwrap();
            serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("rollsim query {expr}: {e}: {}", String::from_utf8_lossy(&out.stderr)))
        };
        for q in QUERIES {
            let expr = fill(q, n);
            for &t in &times {
                let ours = ask(&expr, &["--time".into(), format!("{t}")]);
                let body = get(server.port, &format!("/api/v1/query?query={}&time={t}", encode(&expr))).unwrap();
                let theirs: Value = serde_json::from_str(&body).unwrap();
                match compare(&ours, &theirs) {
                    Ok(k) => total_values += k,
                    Err(e) => failures.push(format!("[{profile}] {expr} @ {t}: {e}")),
                }
                pairs += 1;
            }
        }
        for &(i, step) in RANGES {
            let expr = fill(QUERIES[i], n);
            let (start, stop) = (ORIGIN - 120, end + 400);
            let ours = ask(
                &expr,
                &[
                    "--start".into(),
                    start.to_string(),
                    "--end".into(),
                    stop.to_string(),
                    "--step".into(),
                    format!("{step}s"),
                ],
            );
            let path = format!("/api/v1/query_range?query={}&start={start}&end={stop}&step={step}", encode(&expr));
            let theirs: Value = serde_json::from_str(&get(server.port, &path).unwrap()).unwrap();
            match compare(&ours, &theirs) {
                Ok(k) => total_values += k,
                Err(e) => failures.push(format!("[{profile}] range {expr} step {step}s: {e}")),
            }
            pairs += ((stop - start) / step + 1) as usize;
        }
        eprintln!("{profile}: {pairs} (query, time) pairs compared");
        assert!(pairs >= 200, "{profile}: only {pairs} pairs");
        total_pairs += pairs;
    }
    drop(server);
    eprintln!(
        "{} queries × 4 profiles, {total_pairs} (query, time) pairs, {total_values} values compared; {} differ",
        QUERIES.len() + RANGES.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of the evaluations differ from Prometheus:\n{}",
        failures.len(),
        failures[..failures.len().min(25)].join("\n")
    );
}

/// The seed scenario with its error-rate and latency gates written in PromQL
/// against the generic profile, each the same question as the metric gate it
/// replaces (the ratio of increases over the gate's window, the p99 of the
/// window's summed buckets, in seconds).
fn seed_in_promql() -> String {
    let err = |extra: &str| {
        format!(
            "query = 'sum(increase(http_requests_total{{version=\"{{{{version}}}}\",code=\"500\"{extra}}}[{{{{interval}}}}])) / sum(increase(http_requests_total{{version=\"{{{{version}}}}\"{extra}}}[{{{{interval}}}}]))'"
        )
    };
    let p99 = "query = 'histogram_quantile(0.99, sum by (le) (increase(http_request_duration_seconds_bucket{version=\"{{version}}\"}[{{interval}}])))'";
    let seed = rollsim::scenario::SEED_TOML;
    let mut text = seed
        .replacen(
            "# The reference runbook (shared/seed/canary-deployment-report.md) as a scenario.",
            "# The seed scenario with its error-rate and latency gates written in PromQL over the\n\
             # generic profile's series (README: PromQL). It decides exactly as the seed does\n\
             # (tests/promql.rs). Generated from scenarios/seed-canary.toml by that test.\n\
             # The reference runbook (shared/seed/canary-deployment-report.md) as a scenario.",
            1,
        )
        .replacen("name = \"seed-canary\"", "name = \"seed-canary-promql\"", 1);
    let swaps: Vec<(String, String)> = vec![
        (
            "[policy.phases.gates.error_rate]\nlimit = \"1%\"".into(),
            format!("[policy.phases.gates.error_rate]\n{}\nlimit = \"0.01\"", err("")),
        ),
        (
            "[policy.phases.gates.error_rate]\nlimit = \"2%\"".into(),
            format!("[policy.phases.gates.error_rate]\n{}\nlimit = \"0.02\"", err("")),
        ),
        (
            "[policy.phases.gates.error_rate]\nwindow = \"10m\"\nlimit = \"2%\"".into(),
            format!("[policy.phases.gates.error_rate]\nwindow = \"10m\"\n{}\nlimit = \"0.02\"", err("")),
        ),
        (
            "[policy.phases.gates.latency_p99]\nlimit = \"500ms\"".into(),
            format!("[policy.phases.gates.latency_p99]\n{p99}\nlimit = \"0.5\""),
        ),
        (
            "[policy.phases.gates.latency_p99]\nlimit = \"600ms\"".into(),
            format!("[policy.phases.gates.latency_p99]\n{p99}\nlimit = \"0.6\""),
        ),
        (
            "[policy.phases.gates.latency_p99]\nlimit = \"700ms\"".into(),
            format!("[policy.phases.gates.latency_p99]\n{p99}\nlimit = \"0.7\""),
        ),
        (
            "[policy.phases.gates.latency_p99]\nwindow = \"10m\"\nlimit = \"700ms\"".into(),
            format!("[policy.phases.gates.latency_p99]\nwindow = \"10m\"\n{p99}\nlimit = \"0.7\""),
        ),
        (
            "metric = \"latency_p99\"\nop = \"<=\"\nlimit = \"baseline + 10%\"".into(),
            format!("{p99}\nop = \"<=\"\nlimit = \"baseline + 10%\""),
        ),
        (
            "metric = \"error_rate\"\nclass = \"payment\"\nlimit = \"2%\"".into(),
            format!("{}\nlimit = \"0.02\"", err(",class=\"payment\"")),
        ),
        (
            "metric = \"error_rate\"\nclass = \"auth\"\nlimit = \"2%\"".into(),
            format!("{}\nlimit = \"0.02\"", err(",class=\"auth\"")),
        ),
    ];
    for (from, to) in swaps {
        assert!(text.contains(&from), "the seed scenario no longer has {from:?}");
        text = text.replace(&from, &to);
    }
    // min_requests does not apply to a query (it has no request count); the
    // windows here always hold more than the seed's 100 requests.
    text
}

#[test]
fn promql_gates_decide_as_the_metric_gates_they_replace() {
    use rollsim::scenario::Scenario;
    // The committed example is this transformation of the seed, kept in step.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/seed-canary-promql.toml");
    let committed = std::fs::read_to_string(path).unwrap();
    let generated = seed_in_promql();
    if std::env::var_os("UPDATE_PROMQL_SEED").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    assert!(
        committed == generated,
        "scenarios/seed-canary-promql.toml is not the seed in PromQL; run with UPDATE_PROMQL_SEED=1"
    );
    let sc = Scenario::from_toml(&generated, "seed-canary-promql.toml").unwrap();
    // error_rate and latency_p99 in four phases, degradation, payment and auth.
    assert_eq!(sc.queries.len(), 11, "every swapped gate is a PromQL rule");
    let base = rollsim::runner::run(&Scenario::seed(), 3, 0..300, 2, &|| {}).unwrap();
    let promql = rollsim::runner::run(&sc, 3, 0..300, 2, &|| {}).unwrap();
    let rolled_back = base.iter().filter(|r| r.rollback_cause.is_some()).count();
    assert!(rolled_back > 50, "the comparison needs decisions: {rolled_back}");
    use rollsim::engine::{Cause, Metric};
    let gate_decided = promql
        .iter()
        .filter(|r| match r.rollback_cause {
            Some(Cause::GateFailed { phase, gate }) => {
                matches!(sc.policy.phases[phase].gates[gate].metric, Metric::Query(_))
            }
            _ => false,
        })
        .count();
    eprintln!("{rolled_back} of 300 trials rolled back, {gate_decided} by a PromQL gate; all records identical");
    assert!(gate_decided > 10, "some rollbacks must come from the swapped gates: {gate_decided}");
    for (a, b) in base.iter().zip(&promql) {
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "trial {} decides differently", a.trial);
    }
}

/// A policy with PromQL rules, the printed canonical TOML, and the errors a
/// user gets for rules that cannot work.
#[test]
fn promql_rules_validate_print_and_refuse_clearly() {
    use rollsim::scenario::{print, Scenario};
    let base = "name = \"p\"\ndescription = \"\"\n[fleet]\nmetrics = \"istio\"\n[policy]\n[policy.query_vars]\nns = \"default\"\n[policy.rollback.triggers.errors]\nquery = 'sum(rate(istio_requests_total{destination_workload=\"{{target}}\",destination_workload_namespace=\"{{ns}}\",response_code=~\"5.*\"}[{{interval}}]))'\nwindow = \"2m\"\nthreshold = \"3\"\n[[policy.phases]]\nname = \"all\"\nweight = \"100%\"\nbake = \"1h\"\n[policy.phases.gates.p99]\nquery = 'histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{destination_workload=\"{{target}}\"}[5m])))'\nlimit = \"baseline + 20%\"\n";
    let sc = Scenario::from_toml(base, "p.toml").unwrap();
    assert_eq!(sc.queries.len(), 2);
    assert!(sc.queries[0].parsed[0].text.contains("destination_workload=\"app\""));
    assert!(sc.queries[0].parsed[1].text.contains("destination_workload=\"app-primary\""));
    assert!(sc.queries[0].parsed[0].text.contains("[120s]"), "{{interval}} is the window");
    let printed = print::to_toml(&sc);
    assert!(printed.contains("query_vars") && printed.contains("{{target}}"), "{printed}");
    let again = Scenario::from_toml(&printed, "printed.toml").unwrap();
    assert_eq!(print::to_toml(&again), printed, "canonical TOML round-trips");
    let described = print::describe(&sc);
    assert!(described.contains("query `histogram_quantile"), "{described}");

    let refuse = |from: &str, to: &str, expect: &[&str]| {
        let text = base.replace(from, to);
        assert_ne!(text, base, "{from:?} is in the base scenario");
        let e = Scenario::from_toml(&text, "p.toml").unwrap_err().to_string();
        for x in expect {
            assert!(e.contains(x), "expected {x:?} in:\n{e}");
        }
    };
    refuse(
        "{{ns}}",
        "{{nope}}",
        &["p.toml:9:", "policy.rollback.triggers.errors.query", "unknown template variable `{{nope}}`", "ns"],
    );
    refuse("sum(rate(", "sum(irate_(", &["policy.rollback.triggers.errors.query", "not valid PromQL"]);
    refuse(
        "histogram_quantile(0.99,",
        "sort_desc(",
        &["policy.phases[0].gates.p99.query", "column 1: function `sort_desc` is not supported"],
    );
    refuse(
        "histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{destination_workload=\"{{target}}\"}[5m])))",
        "istio_requests_total[5m]",
        &["policy.phases[0].gates.p99.query", "range vector"],
    );
    refuse(
        "window = \"2m\"\n",
        "window = \"2m\"\nmetric = \"error_rate\"\n",
        &["policy.rollback.triggers.errors.metric", "does not apply to a `query` rule"],
    );
    refuse(
        "limit = \"baseline + 20%\"\n",
        "limit = \"baseline + 20%\"\nwindow = \"phase\"\n",
        &["policy.phases[0].gates.p99.window", "a duration"],
    );
    refuse("metrics = \"istio\"", "metrics = \"envoy\"", &["fleet.metrics", "generic, istio, linkerd, nginx"]);
}

/// A rule whose query returns several series cannot be judged: an error
/// measurement (as a failing backend), never a silent pick of one series.
#[test]
fn a_query_of_several_series_is_an_error_measurement() {
    use rollsim::engine::{Cause, Metric};
    use rollsim::scenario::Scenario;
    let text = rollsim::scenario::SEED_TOML.replacen(
        "[policy.phases.gates.error_rate]\nlimit = \"1%\"",
        "[policy.phases.gates.error_rate]\nquery = 'sum by (class) (rate(http_requests_total{version=\"{{version}}\"}[5m]))'\nlimit = \"1000000\"",
        1,
    );
    let sc = Scenario::from_toml(&text, "several.toml").unwrap();
    assert!(matches!(sc.policy.phases[0].gates[0].metric, Metric::Query(0)));
    let (r, _) = rollsim::runner::trace(&sc, 1, 0);
    assert_eq!(r.rollback_cause, Some(Cause::GateErrored { phase: 0, gate: 0 }), "{r:?}");
}

fn promql_seed() -> rollsim::scenario::Scenario {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/seed-canary-promql.toml");
    rollsim::scenario::Scenario::load(std::path::Path::new(path)).unwrap()
}

/// A trial recorded with `rollsim record` replays through the PromQL seed to
/// the decisions the simulation made (the queries read the recorded trial as
/// Prometheus would have stored it).
#[test]
fn a_recorded_trial_replays_its_promql_decisions() {
    use rollsim::engine::{Decision, EngineEvent};
    use rollsim::io::record::{self, Format};
    use rollsim::io::series as input;
    let sc = promql_seed();
    let dir = tempfile::tempdir().unwrap();
    let classes: Vec<String> = sc.traffic.classes.iter().map(|c| c.name.clone()).collect();
    let decisions = |events: &[EngineEvent]| -> Vec<Decision> {
        events.iter().filter_map(|e| if let EngineEvent::Decision(d) = e { Some(*d) } else { None }).collect()
    };
    let mut by_promql = 0;
    for k in [0u64, 4, 6, 7, 14, 15] {
        let (r, trace, mut store) = rollsim::runner::record(&sc, 1, k);
        if let Some(rollsim::engine::Cause::GateFailed { phase, gate }) = r.rollback_cause {
            by_promql +=
                usize::from(matches!(sc.policy.phases[phase].gates[gate].metric, rollsim::engine::Metric::Query(_)));
        }
        let path = dir.path().join(format!("t{k}.csv"));
        record::write(&path, &store.dump(&classes), Format::Csv).unwrap();
        let rec = input::read(&path, &Default::default()).unwrap();
        let got = rollsim::replay::replay(&sc, &rec, None, None, None).unwrap();
        assert_eq!(decisions(&got.engine), decisions(&trace.engine), "trial {k}");
    }
    assert!(by_promql >= 2, "some of these trials must be decided by a PromQL gate: {by_promql}");
}

/// PromQL rules replay on a recording with its labels (Prometheus JSON or a
/// long CSV with label columns), and `rollsim query --data` answers on it.
#[test]
fn promql_rules_judge_a_labelled_recording() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = 1_700_000_000i64;
    // Counters scraped every 15 s for 40 minutes: the canary fails 4% of its
    // requests from minute 20, the stable version 0.1%.
    let mut csv = String::from("timestamp,metric,value,version,code\n");
    let (mut c_ok, mut c_err, mut s_ok, mut s_err) = (0u64, 0u64, 0u64, 0u64);
    for i in 0..=160 {
        let t = t0 + i * 15;
        if i > 0 {
            let bad = i > 80;
            c_ok += if bad { 96 } else { 100 };
            c_err += if bad { 4 } else { 0 };
            s_ok += 999;
            s_err += 1;
        }
        for (v, code, x) in
            [("canary", "200", c_ok), ("canary", "500", c_err), ("stable", "200", s_ok), ("stable", "500", s_err)]
        {
            csv.push_str(&format!("{t},http_requests_total,{x},{v},{code}\n"));
        }
    }
    let data = dir.path().join("incident.csv");
    std::fs::write(&data, &csv).unwrap();
    let scenario = dir.path().join("p.toml");
    std::fs::write(
        &scenario,
        "name = \"p\"\ndescription = \"\"\n[policy]\n[policy.rollback.triggers.errors]\n\
         query = 'sum(rate(http_requests_total{version=\"{{version}}\",code=\"500\"}[{{interval}}])) / sum(rate(http_requests_total{version=\"{{version}}\"}[{{interval}}]))'\n\
         window = \"2m\"\nthreshold = \"0.02\"\n[[policy.phases]]\nname = \"all\"\nweight = \"100%\"\nbake = \"1h\"\n",
    )
    .unwrap();
    let out = rollsim()
        .args(["replay", scenario.to_str().unwrap(), "--data", data.to_str().unwrap(), "--out"])
        .arg(dir.path().join("report"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    // The trigger is evaluated every minute. At 21:00 its window [19:00, 21:00]
    // spans 8 scrape intervals, 4 of them failing: 16 / 800 = 0.02, not above;
    // at 22:00 all 8 fail: 32 / 800 = 0.04 > 0.02.
    assert!(text.contains("(T+00:22:00): rollback (trigger:errors)"), "{text}");

    // The same recording, asked directly.
    let ask = |extra: &[&str]| -> Value {
        let out = rollsim()
            .args(["query", "--data", data.to_str().unwrap(), "-e"])
            .arg("sum by (version) (increase(http_requests_total{code=\"500\"}[5m]))")
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let v = ask(&["--time", "40m"]);
    let result = v["data"]["result"].as_array().unwrap();
    let canary = result.iter().find(|r| r["metric"]["version"] == "canary").unwrap();
    assert_eq!(canary["value"][1], "80", "{v}");
    let stable = result.iter().find(|r| r["metric"]["version"] == "stable").unwrap();
    assert_eq!(stable["value"][1], "20", "{v}");
    // The same series as a Prometheus query_range response answer the same.
    let mut series: std::collections::BTreeMap<(String, String), Vec<String>> = Default::default();
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        series.entry((f[3].to_string(), f[4].to_string())).or_default().push(format!("[{},\"{}\"]", f[0], f[2]));
    }
    let result: Vec<String> = series
        .iter()
        .map(|((v, c), pts)| format!("{{\"metric\":{{\"__name__\":\"http_requests_total\",\"version\":\"{v}\",\"code\":\"{c}\"}},\"values\":[{}]}}", pts.join(",")))
        .collect();
    let json = dir.path().join("incident.json");
    std::fs::write(
        &json,
        format!("{{\"status\":\"success\",\"data\":{{\"resultType\":\"matrix\",\"result\":[{}]}}}}", result.join(",")),
    )
    .unwrap();
    let out = rollsim()
        .args([
            "query",
            "--data",
            json.to_str().unwrap(),
            "-e",
            "sum by (version) (increase(http_requests_total{code=\"500\"}[5m]))",
            "--time",
            "40m",
        ])
        .output()
        .unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap(), v, "JSON and CSV recordings agree");
    // The expression may also come positionally, after the scenario or alone.
    let out = rollsim()
        .args(["query", "--data", data.to_str().unwrap(), "sum(http_requests_total)", "--time", "0s"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["data"]["result"][0]["value"][1], "0", "{v}");
    // Neither a trial nor a recording: the error names both ways.
    let out = rollsim().args(["query", "up"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--trial K") && err.contains("--data FILE"), "{err}");
    // Bad recordings are errors naming the file and line.
    let broken = dir.path().join("broken.csv");
    std::fs::write(&broken, "timestamp,metric,value\n1700000000,x,oops\n").unwrap();
    let out = rollsim().args(["query", "--data", broken.to_str().unwrap(), "-e", "x"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("broken.csv:2") && err.contains("oops"), "{err}");
    // A refused query reads as a sentence, with or without a column to point at.
    for (expr, want) in [
        ("rate(x[0s])", "error: the query is refused: not valid PromQL: "),
        ("label_replace(x, \"a\", \"$1\", \"b\", \"(\")", "error: the query is refused at column 1: "),
    ] {
        let out = rollsim().args(["query", "--data", data.to_str().unwrap(), "-e", expr]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.code() == Some(1) && err.starts_with(want), "{expr}: {err}");
    }
}
