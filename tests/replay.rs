//! Replay: recorded series through the same engine and rules; bad input has a
//! defined behaviour; the NAB sample (where present) gives per-window results.

use rollsim::io::series as input;
use rollsim::replay;
use rollsim::scenario::Scenario;
use rollsim::time::{SimDur, SimTime};
use std::io::Write;
use std::path::{Path, PathBuf};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::File::create(&p).unwrap().write_all(text.as_bytes()).unwrap();
    p
}

/// A long CSV: candidate error rate `rate` every minute for `hours`, from Unix time 1_700_000_000.
fn steady(rate: f64, hours: u64) -> String {
    let mut s = String::from("timestamp,metric,version,value,host\n");
    for m in 0..=hours * 60 {
        let t = 1_700_000_000 + m * 60;
        s.push_str(&format!("{t},error_rate,candidate,{rate},a\n{t},error_rate,stable,0.001,b\n"));
    }
    s
}

fn decisions(r: &replay::ReplayResult, sc: &Scenario) -> Vec<(u64, String)> {
    r.engine
        .iter()
        .filter_map(|e| match e {
            rollsim::engine::EngineEvent::Decision(d) => Some((d.at.0, d.cause.describe(&sc.policy))),
            _ => None,
        })
        .collect()
}

#[test]
fn replayed_series_drive_the_same_engine() {
    let dir = tempfile::tempdir().unwrap();
    let sc = Scenario::seed();
    // 3%: between the 1% gate and the 5% trigger, stopped by the 12 h decision gate.
    let rec = input::read_csv(&write(dir.path(), "a.csv", &steady(0.03, 13)), &Default::default()).unwrap();
    let r = replay::replay(&sc, &rec, None, None, None).unwrap();
    assert_eq!(decisions(&r, &sc)[0], (12 * 3600, "gate:canary/error_rate".to_string()));
    let trig = r.alarms.iter().find(|a| a.rule == "trigger:error_rate").unwrap();
    assert!(trig.episodes.is_empty());
    // 6%: the trigger fires at its first evaluation with data in its window.
    let rec = input::read_csv(&write(dir.path(), "b.csv", &steady(0.06, 2)), &Default::default()).unwrap();
    let r = replay::replay(&sc, &rec, None, None, None).unwrap();
    assert_eq!(decisions(&r, &sc)[0], (6 * 60, "trigger:error_rate".to_string()));
}

#[test]
fn bad_input_has_defined_behaviour() {
    let dir = tempfile::tempdir().unwrap();
    let map = Default::default();
    let read =
        |name: &str, text: &str| input::read_csv(&write(dir.path(), name, text), &map).map_err(|e| e.to_string());
    // Unsorted rows are sorted, duplicates keep the last value, NaN and empty are gaps, unknown metrics skipped.
    let ok = read(
        "ok.csv",
        "timestamp,metric,version,value\n120,cpu,candidate,0.5\n60,cpu,candidate,0.4\n120,cpu,candidate,0.6\n180,cpu,candidate,NaN\n240,cpu,candidate,\n60,disk_io,candidate,7\n",
    )
    .unwrap();
    let cpu = &ok.series[&(rollsim::engine::Metric::Cpu, rollsim::engine::Group::Candidate)];
    assert_eq!(cpu, &vec![(60, 0.4), (120, 0.6)]);
    let w = ok.warnings.join("\n");
    assert!(w.contains("sorted") && w.contains("duplicate") && w.contains("NaN") && w.contains("disk_io"), "{w}");
    // A broken row, a bad value, mixed timestamp formats, an unknown version: errors naming file and row.
    let e = read("short.csv", "timestamp,metric,version,value\n60,cpu,candidate\n").unwrap_err();
    assert!(e.contains("short.csv:2: expected 4 fields"), "{e}");
    let e = read("val.csv", "timestamp,metric,version,value\n60,cpu,candidate,high\n").unwrap_err();
    assert!(e.contains("val.csv:2: expected a number"), "{e}");
    let e =
        read("mixed.csv", "timestamp,metric,version,value\n60,cpu,candidate,1\n2024-01-01 00:00:00,cpu,candidate,1\n")
            .unwrap_err();
    assert!(e.contains("mixed.csv:3") && e.contains("another format"), "{e}");
    let e = read("ver.csv", "timestamp,metric,version,value\n60,cpu,canary,1\n").unwrap_err();
    assert!(e.contains("unknown version \"canary\"") && e.contains("--map 'version:canary=candidate'"), "{e}");
    let e = read("nab.csv", "timestamp,value\n2014-02-14 14:27:00,51.8\n").unwrap_err();
    assert!(e.contains("--map 'value=METRIC'"), "{e}");
    let e = read("empty.csv", "").unwrap_err();
    assert!(e.contains("empty"), "{e}");
    // Nothing left after skipping: the error says what was skipped and how to map it.
    let e = read("unknown.csv", "timestamp,metric,version,value\n60,http_errors,candidate,1\n").unwrap_err();
    assert!(e.contains("unknown.csv: no usable rows: 1 sample of unknown metric \"http_errors\""), "{e}");
    assert!(e.contains("--map 'http_errors=METRIC'"), "{e}");
    let e =
        read("gaps.csv", "timestamp,metric,version,value\n60,cpu,candidate,NaN\n120,cpu,candidate,+Inf\n").unwrap_err();
    assert!(e.contains("no usable rows: 2 empty, NaN or infinite values skipped"), "{e}");
}

#[test]
fn labelled_windows_give_delays_misses_and_false_alarms() {
    let dir = tempfile::tempdir().unwrap();
    let sc = Scenario::from_toml(&std::fs::read_to_string("scenarios/replay-ec2-cpu.toml").unwrap(), "cpu").unwrap();
    // CPU 40%, with spikes to 70% at minute 100 (inside window 1) and minute 400 (outside any window).
    let mut s = String::from("timestamp,value\n");
    for m in 0..600u64 {
        let v = if m == 100 || m == 400 { 70.0 } else { 40.0 };
        s.push_str(&format!("{},{v}\n", 1_700_000_000 + m * 60));
    }
    let map: input::Mapping = "value=cpu*0.01".parse().unwrap();
    let rec = input::read_csv(&write(dir.path(), "c.csv", &s), &map).unwrap();
    let windows =
        [(1_700_000_000 + 90 * 60, 1_700_000_000 + 130 * 60), (1_700_000_000 + 200 * 60, 1_700_000_000 + 250 * 60)];
    let r = replay::replay(&sc, &rec, None, None, Some(&windows)).unwrap();
    let alert = r.alarms.iter().position(|a| a.rule == "alert:CpuHigh").unwrap();
    // Alerts are evaluated every 5 minutes: the spike at minute 100 is seen at minute 100.
    assert_eq!(r.windows[0].delays[alert], Some(SimDur::mins(10)));
    assert_eq!(r.windows[1].delays[alert], None);
    assert_eq!(r.false_alarms[alert], 1);
    assert_eq!(r.alarms[alert].episodes[0].0, SimTime(100 * 60));
}

#[test]
fn nab_sample_per_window_results() {
    let nab = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/nab");
    if !nab.join("combined_windows.json").is_file() {
        eprintln!("skipping: {} is absent (the NAB sample lives in ../shared/datasets)", nab.display());
        return;
    }
    let sc = Scenario::from_toml(&std::fs::read_to_string("scenarios/replay-ec2-cpu.toml").unwrap(), "cpu").unwrap();
    let map: input::Mapping = "value=cpu*0.01".parse().unwrap();
    let run = |file: &str| {
        let data = nab.join("realAWSCloudwatch").join(file);
        let rec = input::read_csv(&data, &map).unwrap();
        let w = input::read_windows(&nab.join("combined_windows.json"), &data).unwrap();
        replay::replay(&sc, &rec, None, None, Some(&w)).unwrap()
    };
    let r = run("ec2_cpu_utilization_5f5533.csv");
    let alert = r.alarms.iter().position(|a| a.rule == "alert:CpuHigh").unwrap();
    assert_eq!(r.windows.len(), 2);
    assert!(r.windows.iter().all(|w| w.delays[alert].is_some()), "both labelled anomalies are caught");
    assert_eq!(r.false_alarms[alert], 0);
    // The clean control never alarms; the RDS series (CPU around 6%) is out of this policy's reach.
    let control = run("ec2_cpu_utilization_c6585a.csv");
    assert!(control.labelled && control.windows.is_empty());
    assert!(control.alarms.iter().all(|a| a.episodes.is_empty()));
    let rds = run("rds_cpu_utilization_cc0c53.csv");
    assert!(rds.windows.iter().all(|w| w.delays.iter().all(|d| d.is_none())));
}

#[test]
fn prometheus_query_range_from_a_real_server() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prometheus-query-range.json");
    let rec = input::read(&path, &Default::default()).unwrap();
    use rollsim::engine::{Group, Metric};
    assert_eq!(rec.series.len(), 3);
    let cand = &rec.series[&(Metric::ErrorRate, Group::Candidate)];
    assert_eq!(cand.len(), 31);
    assert!(cand.iter().all(|p| p.1 == 0.002));
    assert!(rec.series[&(Metric::ErrorRate, Group::Stable)].iter().all(|p| p.1 == 0.001));
    assert!(rec.series[&(Metric::LatencyP99, Group::Candidate)].iter().all(|p| (180.0..300.0).contains(&p.1)));
    assert!(rec.warnings.iter().any(|w| w.contains("scrape_duration_seconds")), "{:?}", rec.warnings);
    let sc = Scenario::seed();
    let r = replay::replay(&sc, &rec, None, None, None).unwrap();
    assert!(r.alarms.iter().all(|a| a.episodes.is_empty()));
    // Not a query_range matrix: a clear error naming the file.
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "instant.json", r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#);
    let e = input::read(&bad, &Default::default()).unwrap_err();
    assert_eq!((e.file.as_path(), e.line, e.place.as_deref()), (bad.as_path(), None, None));
    let e = e.to_string();
    assert!(e.contains("instant.json") && e.contains("matrix"), "{e}");
}

#[test]
fn parquet_with_the_long_csv_columns_reads_like_the_csv() {
    use polars::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let csv = "timestamp,metric,version,value\n2024-01-01 00:00:00,cpu,candidate,0.5\n2024-01-01 00:01:00,cpu,stable,0.4\n2024-01-01 00:02:00,error_rate,candidate,0.01\n";
    let from_csv = input::read(&write(dir.path(), "a.csv", csv), &Default::default()).unwrap();
    let mut df = df!(
        "timestamp" => ["2024-01-01 00:00:00", "2024-01-01 00:01:00", "2024-01-01 00:02:00"],
        "metric" => ["cpu", "cpu", "error_rate"],
        "version" => ["candidate", "stable", "candidate"],
        "value" => [0.5, 0.4, 0.01],
    )
    .unwrap();
    let pq = dir.path().join("a.parquet");
    ParquetWriter::new(std::fs::File::create(&pq).unwrap()).finish(&mut df).unwrap();
    let from_pq = input::read(&pq, &Default::default()).unwrap();
    assert_eq!(from_pq.series, from_csv.series);
}

#[test]
fn a_recorded_trial_replays_to_the_same_decisions_in_every_format() {
    use rollsim::engine::{Decision, EngineEvent};
    use rollsim::io::record::{self, Format};
    let sc = Scenario::seed();
    let dir = tempfile::tempdir().unwrap();
    let classes: Vec<String> = sc.traffic.classes.iter().map(|c| c.name.clone()).collect();
    let decisions = |events: &[EngineEvent]| -> Vec<Decision> {
        events.iter().filter_map(|e| if let EngineEvent::Decision(d) = e { Some(*d) } else { None }).collect()
    };
    let mut outcomes = std::collections::BTreeSet::new();
    for k in [0u64, 1, 2, 3, 4, 13, 29] {
        let (r, trace, mut store) = rollsim::runner::record(&sc, 1, k);
        outcomes.insert(r.outcome.name());
        let want = decisions(&trace.engine);
        let rows = store.dump(&classes);
        for (format, ext) in [(Format::Csv, "csv"), (Format::Parquet, "parquet"), (Format::PromJson, "prom-json")] {
            let path = dir.path().join(format!("t{k}.{ext}"));
            record::write(&path, &rows, format).unwrap();
            let rec = input::read(&path, &Default::default()).unwrap();
            let got = replay::replay(&sc, &rec, None, None, None).unwrap();
            assert_eq!(decisions(&got.engine), want, "trial {k}, {ext}");
        }
    }
    assert!(outcomes.contains("completed") && outcomes.contains("rolled-back"), "{outcomes:?}");
}

#[test]
fn shipped_incidents_replay_to_their_documented_decisions() {
    let sc = Scenario::seed();
    let cases = [
        ("error-step-6pct.csv", 8 * 60, "trigger:error_rate"),
        ("heavy-tail-latency.csv", 7 * 60, "trigger:latency_p99"),
        ("intermittent-burst.csv", 6 * 60, "trigger:error_rate"),
        ("crash-loop.csv", (2 * 60 + 42) * 60, "trigger:error_rate"),
    ];
    for (file, at, rule) in cases {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets").join(file);
        let rec = input::read(&path, &Default::default()).unwrap();
        let r = replay::replay(&sc, &rec, None, None, None).unwrap();
        assert_eq!(decisions(&r, &sc)[0], (at, rule.to_string()), "{file}");
    }
}

#[test]
fn streaming_a_sorted_csv_equals_reading_it_whole_and_unsorted_files_fall_back() {
    let dir = tempfile::tempdir().unwrap();
    let sc = Scenario::seed();
    let sorted = write(dir.path(), "s.csv", &steady(0.03, 13));
    let map = Default::default();
    let whole = replay::replay(&sc, &input::read_csv(&sorted, &map).unwrap(), None, None, None).unwrap();
    let streamed = replay::replay_csv(&sc, &sorted, &map, None, None, None).unwrap();
    assert_eq!(streamed.engine, whole.engine);
    assert_eq!(streamed.alarms, whole.alarms);
    assert_eq!(streamed.end, whole.end);
    // Swap two rows: the stream stops, the file is read whole and sorted, with a warning.
    let mut lines: Vec<String> = steady(0.03, 13).lines().map(String::from).collect();
    lines.swap(5, 9);
    let unsorted = write(dir.path(), "u.csv", &(lines.join("\n") + "\n"));
    let r = replay::replay_csv(&sc, &unsorted, &map, None, None, None).unwrap();
    assert!(r.warnings.iter().any(|w| w.contains("sorted")), "{:?}", r.warnings);
    assert_eq!(r.engine, whole.engine);
}

#[test]
fn a_firing_that_began_before_a_window_is_not_a_detection_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let sc = Scenario::from_toml(&std::fs::read_to_string("scenarios/replay-ec2-cpu.toml").unwrap(), "cpu").unwrap();
    // CPU high from minute 60 to minute 300: one long episode; the window opens at minute 200.
    let mut s = String::from("timestamp,value\n");
    for m in 0..400u64 {
        let v = if (60..300).contains(&m) { 70.0 } else { 40.0 };
        s.push_str(&format!("{},{v}\n", 1_700_000_000 + m * 60));
    }
    let map: input::Mapping = "value=cpu*0.01".parse().unwrap();
    let rec = input::read_csv(&write(dir.path(), "d.csv", &s), &map).unwrap();
    let windows = [(1_700_000_000 + 200 * 60, 1_700_000_000 + 260 * 60)];
    let r = replay::replay(&sc, &rec, None, None, Some(&windows)).unwrap();
    let alert = r.alarms.iter().position(|a| a.rule == "alert:CpuHigh").unwrap();
    assert_eq!(r.alarms[alert].episodes.len(), 1, "{:?}", r.alarms[alert]);
    assert_eq!(r.windows[0].delays[alert], None, "an episode from minute 60 is not a 0h00m detection");
    assert!(r.windows[0].already_firing[alert]);
    let md = replay::output::markdown(&r, &sc.policy, "d.csv", &r.warnings);
    assert!(md.contains("already firing (no new firing)"), "{md}");
}

#[test]
fn replay_reports_state_operators_exact_thresholds_missing_metrics_and_inconclusive_checks() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string("scenarios/replay-ec2-cpu.toml")
        .unwrap()
        .replace("threshold = \"58%\"", "threshold = \"49.72%\"\nop = \"<\"")
        .replace("[policy.rollback.triggers.cpu]", "[policy.rollback.triggers.errors]\nmetric = \"error_rate\"\nthreshold = \"5%\"\nwindow = \"15m\"\nevery = \"5m\"\n\n[policy.rollback.triggers.cpu]");
    let sc = Scenario::from_toml(&text, "cpu").unwrap();
    // CPU only, with a gap of an hour: the cpu gate's checks in the gap are inconclusive.
    let mut s = String::from("timestamp,value\n");
    for m in (0..300u64).filter(|m| !(60..120).contains(m)) {
        s.push_str(&format!("{},40\n", 1_700_000_000 + m * 60));
    }
    let map: input::Mapping = "value=cpu*0.01".parse().unwrap();
    let rec = input::read_csv(&write(dir.path(), "e.csv", &s), &map).unwrap();
    let r = replay::replay(&sc, &rec, None, None, None).unwrap();
    let w = r.warnings.join("\n");
    assert!(w.contains("no `error_rate` series for the candidate group: trigger errors"), "{w}");
    let md = replay::output::markdown(&r, &sc.policy, "e.csv", &r.warnings);
    assert!(md.contains("| alert:CpuHigh | cpu < 49.72% |"), "{md}");
    assert!(md.contains("| trigger:cpu | cpu > 65% |"), "{md}");
    assert!(md.contains("| gate | checks | failed | inconclusive | first failure |"), "{md}");
    let gate_row = md.lines().find(|l| l.starts_with("| canary/cpu |")).unwrap();
    let cells: Vec<&str> = gate_row.split('|').map(str::trim).collect();
    assert!(cells[4].parse::<u32>().unwrap() >= 1, "a check in the gap is inconclusive: {gate_row}");
    let json: serde_json::Value =
        serde_json::from_str(&replay::output::json(&r, &sc.policy, "e.csv", &r.warnings)).unwrap();
    let cpu_high = json["rules"].as_array().unwrap().iter().find(|x| x["rule"] == "alert:CpuHigh").unwrap();
    assert_eq!(cpu_high["op"], "<");
    assert_eq!(cpu_high["threshold"], 0.4972);
}

#[test]
fn timestamps_are_parsed_strictly_and_never_panic() {
    use input::parse_timestamp;
    assert_eq!(parse_timestamp("2014-02-14T14:27:00Z").unwrap().0, 1_392_388_020);
    assert_eq!(parse_timestamp("2014-02-14 14:27:00").unwrap().0, 1_392_388_020);
    assert_eq!(parse_timestamp("2014-02-14 14:27:00.250").unwrap().0, 1_392_388_020);
    assert_eq!(parse_timestamp("2014-02-14T16:27:00+02:00").unwrap().0, 1_392_388_020);
    assert_eq!(parse_timestamp("1392388020").unwrap().0, 1_392_388_020);
    // Impossible dates, hostile offsets and far-out numbers are errors, not panics.
    for bad in [
        "2014-02-31 14:27:00",
        "2014-13-01T00:00:00Z",
        "2014-02-14T14:27:00+0é:0",
        "2014-02-14T14:27:00+99:00",
        "é014-02-14 14:27:00",
        "1e300",
        "",
        "2014-02-14X14:27:00",
    ] {
        let e = parse_timestamp(bad).unwrap_err();
        assert!(e.contains("expected a timestamp"), "{bad}: {e}");
    }
}

#[test]
fn a_recorded_trial_with_a_far_future_timestamp_is_an_error_not_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    // Two rows: the tick series, and one value ~4e12 s later. Buffers sized from the
    // timestamp would need terabytes.
    let csv = "timestamp,metric,version,value\n1700000000,rollsim:tick,candidate,60\n248000000000,rollsim:cpu_max,candidate,0.5\n";
    let p = write(dir.path(), "far.csv", csv);
    let sc = Scenario::seed();
    let e = replay::replay_csv(&sc, &p, &Default::default(), None, None, None).unwrap_err().to_string();
    assert!(e.contains("far.csv") && e.contains("ticks"), "{e}");
}

#[test]
fn quoted_fields_may_hold_commas() {
    let dir = tempfile::tempdir().unwrap();
    let csv =
        "timestamp,metric,version,value,labels\n60,cpu,candidate,0.5,\"host=a,zone=b\"\n120,cpu,candidate,0.6,\"x\"\n";
    let rec = input::read_csv(&write(dir.path(), "q.csv", csv), &Default::default()).unwrap();
    let cpu = &rec.series[&(rollsim::engine::Metric::Cpu, rollsim::engine::Group::Candidate)];
    assert_eq!(cpu, &vec![(60, 0.5), (120, 0.6)]);
    // A broken row still names its line.
    let e = input::read_csv(
        &write(dir.path(), "b.csv", "timestamp,metric,version,value\n60,cpu,candidate,0.5\n120,cpu\n"),
        &Default::default(),
    )
    .unwrap_err();
    // Typed: the file and the line, and the message apart.
    assert_eq!((e.line, e.message.as_str()), (Some(3), "expected 4 fields like the header, found 2"));
    assert!(e.to_string().ends_with("b.csv:3: expected 4 fields like the header, found 2"), "{e}");
}

/// Candidate error rate alternating per minute between 2% and 10%, with the
/// request rate behind each (if `rates` is given) recorded beside it.
fn alternating(rates: Option<(f64, f64)>) -> String {
    let mut s = String::from("timestamp,metric,version,value\n");
    for m in 0..=120u64 {
        let t = 1_700_000_000 + m * 60;
        let (v, r) = if m % 2 == 1 { (0.10, rates.map(|r| r.0)) } else { (0.02, rates.map(|r| r.1)) };
        s.push_str(&format!("{t},error_rate,candidate,{v}\n{t},error_rate,stable,0.001\n"));
        if let Some(r) = r {
            s.push_str(&format!("{t},request_rate,candidate,{r}\n{t},request_rate,stable,{r}\n"));
        }
    }
    s
}

#[test]
fn a_windowed_ratio_is_the_ratio_of_sums_as_in_the_simulator() {
    // The seed's trigger: candidate error rate over 5 minutes above 5%.
    let dir = tempfile::tempdir().unwrap();
    let sc = Scenario::seed();
    let fired = |name: &str, text: String| {
        let rec = input::read_csv(&write(dir.path(), name, &text), &Default::default()).unwrap();
        let r = replay::replay(&sc, &rec, None, None, None).unwrap();
        !r.alarms.iter().find(|a| a.rule == "trigger:error_rate").unwrap().episodes.is_empty()
    };
    // Few requests at 10%, many at 2%: 2.8% to 3.1% of requests failed in any window.
    assert!(!fired("light.csv", alternating(Some((100.0, 900.0)))));
    // Many requests at 10%: 9.4% or more failed.
    assert!(fired("heavy.csv", alternating(Some((900.0, 100.0)))));
    // No request rate recorded: equal weights, 5.2% to 6.8%.
    assert!(fired("none.csv", alternating(None)));
}

#[test]
fn a_recording_too_short_for_any_decision_says_where_the_rollout_stood() {
    let dir = tempfile::tempdir().unwrap();
    let sc = Scenario::seed();
    let rec = input::read_csv(&write(dir.path(), "short.csv", &steady(0.001, 1)), &Default::default()).unwrap();
    let r = replay::replay(&sc, &rec, None, None, None).unwrap();
    assert!(decisions(&r, &sc).is_empty());
    let md = replay::output::markdown(&r, &sc.policy, "short.csv", &r.warnings);
    assert!(md.contains("- none: the recording (T+01:00:00) ended with the rollout still in phase 1 `canary`"), "{md}");
    assert!(md.contains("Charted series: error_rate (candidate), error_rate (stable)."), "{md}");
    // Counts agree with their nouns.
    let one = "timestamp,metric,version,value\n60,cpu,candidate,0.5\n60,cpu,candidate,0.6\n120,disk,candidate,1\n";
    let rec = input::read_csv(&write(dir.path(), "one.csv", one), &Default::default()).unwrap();
    let w = rec.warnings.join("\n");
    assert!(w.contains("1 duplicate timestamp;") && w.contains("1 sample of unknown metric \"disk\""), "{w}");
}

/// The replay timeline draws a gate that failed: its limit at each check and
/// each failed check, on the panel of the series it reads.
#[test]
fn the_replay_timeline_draws_failed_gates() {
    let dir = tempfile::tempdir().unwrap();
    let sc = Scenario::seed();
    let rec = input::read_csv(&write(dir.path(), "a.csv", &steady(0.03, 13)), &Default::default()).unwrap();
    let r = replay::replay(&sc, &rec, None, None, None).unwrap();
    let t = rollsim::replay::output::timeline(&r, &sc.policy, "t".into());
    let g = t.gates.iter().find(|g| g.name == "gate:canary/error_rate").expect("the failed gate is drawn");
    assert_eq!((g.metric, g.group), (rollsim::engine::Metric::ErrorRate, rollsim::engine::Group::Candidate));
    assert!(g.failed_h.len() >= 40 && g.failed_h.iter().all(|p| (p.1 - 0.03).abs() < 1e-9), "{:?}", g.failed_h);
    assert!(g.limits_h.iter().all(|l| l.1 == 0.01));
    // Gates that never failed are not drawn; rules are drawn for the group they read.
    assert!(t.gates.iter().all(|g| !g.failed_h.is_empty()));
    let trigger = t.rules.iter().find(|r| r.name == "trigger:error_rate").unwrap();
    assert_eq!(trigger.group, rollsim::engine::Group::Candidate);
    rollsim::report::charts::render(&t, dir.path()).unwrap();
    assert!(std::fs::read_to_string(dir.path().join("replay_timeline.svg")).unwrap().contains("failed checks"));
}
