//! Reading recorded metrics: long CSV (`timestamp,metric,version,value`, extra
//! columns ignored), NAB-style CSV (`timestamp,value`) and labelled windows
//! (NAB's `combined_windows.json` layout, or a plain list of `[start, end]`).
//!
//! Files are read line by line; only the mapped series are kept. Defined
//! behaviour for bad input: a malformed row is an error naming the file and
//! row; empty, NaN or infinite values are skipped (a gap is no data); unsorted rows are
//! sorted and duplicate timestamps keep the last value, each with a warning;
//! unknown metric names are skipped with a warning; mixing timestamp formats
//! in one file is an error.

use crate::engine::{Group, Metric};
use crate::units::count_of;
use std::collections::BTreeMap;

use std::path::Path;

/// Name prefix of the lossless per-tick series of a recorded trial.
pub const DUMP_PREFIX: &str = "rollsim:";

/// One value of a recorded trial: (seconds since the start, group, series name, value).
pub type DumpRow = (u64, Group, String, f64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsFormat {
    Rfc3339,
    DateTime,
    UnixSeconds,
}

/// Parses RFC 3339 (`2014-02-14T14:27:00Z`, offsets allowed), `YYYY-MM-DD HH:MM:SS[.fff]`
/// (UTC) or Unix seconds, into Unix seconds (fractions truncated).
pub fn parse_timestamp(s: &str) -> Result<(i64, TsFormat), String> {
    let t = s.trim().trim_matches('"');
    if let Ok(v) = t.parse::<f64>() {
        // Unix seconds within jiff's range (years -9999..=9999).
        if v.is_finite() && v.abs() < 253_402_300_800.0 {
            return Ok((v.floor() as i64, TsFormat::UnixSeconds));
        }
    }
    let err = |why: &dyn std::fmt::Display| {
        format!("expected a timestamp (RFC 3339, `YYYY-MM-DD HH:MM:SS` in UTC, or Unix seconds), found {s:?} ({why})")
    };
    // Dates are parsed by jiff: impossible dates (Feb 31) and malformed offsets are errors.
    match t.as_bytes().get(10) {
        Some(b' ') => {
            let dt: jiff::civil::DateTime = t.parse().map_err(|e| err(&e))?;
            let ts = dt.to_zoned(jiff::tz::TimeZone::UTC).map_err(|e| err(&e))?.timestamp();
            Ok((ts.as_second(), TsFormat::DateTime))
        }
        Some(b'T' | b't') => {
            let ts: jiff::Timestamp = t.parse().map_err(|e| err(&e))?;
            Ok((ts.as_second(), TsFormat::Rfc3339))
        }
        _ => Err(err(&"not a date and time")),
    }
}

/// A recording that cannot be read: the file, where in it (a CSV line; a
/// Parquet row, a Prometheus series and sample, a labelled window), and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{}: {}{message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default(), place.as_ref().map(|p| format!("{p}: ")).unwrap_or_default())]
pub struct SeriesError {
    pub file: std::path::PathBuf,
    /// The line of a text file (1 = the header).
    pub line: Option<u64>,
    /// Where else: `row 7`, `series 2 sample 5`, `window 3`.
    pub place: Option<String>,
    pub message: String,
}

impl SeriesError {
    pub fn new(file: &Path, message: impl Into<String>) -> SeriesError {
        SeriesError { file: file.to_path_buf(), line: None, place: None, message: message.into() }
    }
    fn at_line(file: &Path, line: u64, message: impl Into<String>) -> SeriesError {
        SeriesError { line: Some(line), ..SeriesError::new(file, message) }
    }
    fn at(file: &Path, place: String, message: impl Into<String>) -> SeriesError {
        SeriesError { place: Some(place), ..SeriesError::new(file, message) }
    }
}

/// Where one recorded series goes: a metric of a group, scaled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    pub metric: Metric,
    pub group: Group,
    pub scale: f64,
}

/// `--map` entries: `NAME=metric[@group][*factor]` for series, `version:NAME=candidate|stable` for versions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mapping {
    pub series: BTreeMap<String, Target>,
    pub versions: BTreeMap<String, Group>,
}

impl std::str::FromStr for Mapping {
    type Err = String;
    fn from_str(spec: &str) -> Result<Mapping, String> {
        let mut m = Mapping::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, target) =
                part.split_once('=').ok_or_else(|| format!("--map: expected NAME=metric, found {part:?}"))?;
            let group_of = |g: &str| match g.trim() {
                "candidate" => Ok(Group::Candidate),
                "stable" => Ok(Group::Stable),
                other => Err(format!("--map: expected `candidate` or `stable`, found {other:?}")),
            };
            if let Some(v) = name.trim().strip_prefix("version:") {
                m.versions.insert(v.to_string(), group_of(target)?);
                continue;
            }
            let (target, scale) = match target.split_once('*') {
                Some((t, f)) => (
                    t,
                    f.trim().parse::<f64>().map_err(|_| format!("--map: expected a number after `*` in {part:?}"))?,
                ),
                None => (target, 1.0),
            };
            let (metric, group) = match target.split_once('@') {
                Some((mm, g)) => (mm, group_of(g)?),
                None => (target, Group::Candidate),
            };
            let metric = Metric::from_name(metric.trim())
                .filter(|x| *x != Metric::CriticalAlerts)
                .ok_or_else(|| format!("--map: unknown metric {:?} in {part:?}", metric.trim()))?;
            m.series.insert(name.trim().to_string(), Target { metric, group, scale });
        }
        Ok(m)
    }
}

/// Recorded series keyed by (metric, group): (Unix seconds, value), sorted.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    pub series: BTreeMap<(Metric, Group), Vec<(i64, f64)>>,
    /// A recorded simulated trial (`rollsim record`): lossless per-tick series named
    /// `rollsim:...`, as (Unix seconds, group, name, value).
    pub trial: Vec<(i64, Group, String, f64)>,
    pub warnings: Vec<String>,
    pub rows: u64,
}

/// Reads a long CSV or a NAB CSV (detected from the header).
/// Receives samples in file order when a file is streamed.
pub type Sink<'s> = &'s mut dyn FnMut(i64, (Metric, Group), f64);

/// Accumulates samples from any input format with the same rules, or hands
/// them on in file order (streaming).
struct Collector<'m, 's> {
    map: &'m Mapping,
    out: Recorded,
    format: Option<TsFormat>,
    skipped: u64,
    unknown: BTreeMap<String, u64>,
    sorted: bool,
    stream: Option<Sink<'s>>,
    last: Option<i64>,
}

/// How streaming a file ended.
pub enum Streamed {
    /// Every sample went to the sink; warnings and any `rollsim record` rows are here.
    Done(Recorded),
    /// A row went back in time: the file must be read whole and sorted.
    Unsorted,
}

impl<'m, 's> Collector<'m, 's> {
    fn new(map: &'m Mapping) -> Self {
        Collector {
            map,
            out: Recorded::default(),
            format: None,
            skipped: 0,
            unknown: BTreeMap::new(),
            sorted: true,
            stream: None,
            last: None,
        }
    }

    /// Parses a timestamp; every row of one input must use the same format.
    fn timestamp(&mut self, text: &str) -> Result<i64, String> {
        let (t, fmt) = parse_timestamp(text)?;
        match self.format {
            None => self.format = Some(fmt),
            Some(prev) if prev != fmt => {
                return Err(format!("timestamp {text:?} is in another format than the rows before it"))
            }
            _ => {}
        }
        Ok(t)
    }

    /// Keeps a `rollsim record` series; true when `name` is one.
    fn trial_series(&mut self, name: &str, version: Option<&str>, t: i64, value: Option<f64>) -> Result<bool, String> {
        if !name.starts_with(DUMP_PREFIX) {
            return Ok(false);
        }
        let group = self.group(version)?;
        let v = value.ok_or_else(|| format!("recorded-trial series {name:?} has an empty value"))?;
        self.out.trial.push((t, group, name.to_string(), v));
        Ok(true)
    }

    fn group(&self, version: Option<&str>) -> Result<Group, String> {
        Ok(match version {
            None | Some("candidate") => Group::Candidate,
            Some("stable") => Group::Stable,
            Some(v) => match self.map.versions.get(v) {
                Some(g) => *g,
                None => {
                    return Err(format!(
                    "unknown version {v:?}; expected candidate or stable, or map it with --map 'version:{v}=candidate'"
                ))
                }
            },
        })
    }

    /// Where a named series of a version goes; `None` for an unknown metric (skipped, counted).
    fn target(&mut self, name: &str, version: Option<&str>) -> Result<Option<Target>, String> {
        let group = self.group(version)?;
        Ok(match self.map.series.get(name) {
            // Without a version in the data, the mapping says which group.
            Some(t) if version.is_none() => Some(*t),
            Some(t) => Some(Target { group, ..*t }),
            None => match Metric::from_name(name).filter(|m| *m != Metric::CriticalAlerts) {
                Some(metric) => Some(Target { metric, group, scale: 1.0 }),
                None => {
                    *self.unknown.entry(name.to_string()).or_default() += 1;
                    None
                }
            },
        })
    }

    /// Adds one sample; `None` or NaN values are gaps. When streaming, returns
    /// false as soon as a sample goes back in time.
    fn push(&mut self, target: Target, t: i64, value: Option<f64>) -> bool {
        let Some(v) = value.filter(|x| x.is_finite()) else {
            self.skipped += 1;
            return true;
        };
        if let Some(sink) = self.stream.as_mut() {
            if self.last.is_some_and(|l| t < l) {
                return false;
            }
            self.last = Some(t);
            sink(t, (target.metric, target.group), v * target.scale);
            self.out.rows += 1;
            return true;
        }
        let s = self.out.series.entry((target.metric, target.group)).or_default();
        if s.last().is_some_and(|last| last.0 > t) {
            self.sorted = false;
        }
        s.push((t, v * target.scale));
        self.out.rows += 1;
        true
    }

    fn finish(mut self, path: &Path) -> Result<Recorded, SeriesError> {
        let out = &mut self.out;
        if !self.sorted {
            out.warnings.push("rows were not in time order; sorted them".into());
        }
        for s in out.series.values_mut() {
            s.sort_by_key(|p| p.0);
            let before = s.len();
            // Duplicate timestamps keep the last value.
            let mut dedup: Vec<(i64, f64)> = Vec::with_capacity(s.len());
            for &p in s.iter() {
                match dedup.last_mut() {
                    Some(last) if last.0 == p.0 => *last = p,
                    _ => dedup.push(p),
                }
            }
            if dedup.len() < before {
                out.warnings.push(format!(
                    "{}; kept the last value of each",
                    count_of((before - dedup.len()) as u64, "duplicate timestamp", None)
                ));
            }
            *s = dedup;
        }
        if self.skipped > 0 {
            out.warnings.push(format!(
                "{} skipped (gaps are no data)",
                count_of(self.skipped, "empty, NaN or infinite value", None)
            ));
        }
        for (name, n) in &self.unknown {
            out.warnings.push(format!(
                "{} of unknown metric {name:?} skipped; map it with --map '{name}=METRIC'",
                count_of(*n, "sample", None)
            ));
        }
        if out.rows == 0 && out.trial.is_empty() {
            // What was skipped is why: say it, not only that nothing is left.
            let why = if out.warnings.is_empty() { String::new() } else { format!(": {}", out.warnings.join("; ")) };
            return Err(SeriesError::new(path, format!("no usable rows{why}")));
        }
        Ok(self.out)
    }
}

fn parse_value(raw: &str) -> Result<Option<f64>, String> {
    if raw.is_empty() || raw.eq_ignore_ascii_case("nan") {
        return Ok(None);
    }
    raw.parse::<f64>().map(Some).map_err(|_| format!("expected a number in `value`, found {raw:?}"))
}

const NAB_HINT: &str = "has one series; map it with --map 'value=METRIC' (e.g. value=cpu*0.01 for percentages)";

/// Reads recorded metrics, choosing the reader by extension: `.parquet`, `.json` or
/// `.prom-json` (Prometheus `query_range`), anything else CSV.
pub fn read(path: &Path, map: &Mapping) -> Result<Recorded, SeriesError> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("parquet") => read_parquet(path, map),
        Some(e) if e.ends_with("json") => read_prometheus(path, map),
        _ => read_csv(path, map),
    }
}

/// Reads a long CSV or a NAB CSV (detected from the header), line by line.
pub fn read_csv(path: &Path, map: &Mapping) -> Result<Recorded, SeriesError> {
    let mut c = Collector::new(map);
    scan_csv(path, &mut c)?;
    c.finish(path)
}

/// Streams a CSV file's samples to `sink` in file order, keeping nothing but
/// warnings; stops with [`Streamed::Unsorted`] when a row goes back in time.
pub fn stream_csv(path: &Path, map: &Mapping, sink: Sink) -> Result<Streamed, SeriesError> {
    let mut c = Collector::new(map);
    c.stream = Some(sink);
    if !scan_csv(path, &mut c)? {
        return Ok(Streamed::Unsorted);
    }
    c.stream = None;
    c.finish(path).map(Streamed::Done)
}

/// Feeds a CSV file's rows to `c`; false when streaming stopped at an unsorted row.
fn scan_csv(path: &Path, c: &mut Collector) -> Result<bool, SeriesError> {
    let file = std::fs::File::open(path).map_err(|e| SeriesError::new(path, format!("cannot open: {e}")))?;
    scan_csv_from(&path.display().to_string(), std::io::BufReader::with_capacity(1 << 16, file), c)
}

/// Reads a long or NAB CSV held in memory (`name` is used in messages), as
/// [`read_csv`] reads a file.
pub fn read_csv_bytes(bytes: &[u8], name: &str, map: &Mapping) -> Result<Recorded, SeriesError> {
    let mut c = Collector::new(map);
    scan_csv_from(name, bytes, &mut c)?;
    c.finish(Path::new(name))
}

/// The CSV reader proper (the `csv` crate: RFC 4180 quoting, so a quoted field may
/// hold commas); errors name the source and the line.
fn scan_csv_from<R: std::io::Read>(name: &str, reader: R, c: &mut Collector) -> Result<bool, SeriesError> {
    let map = c.map;
    let file = Path::new(name);
    let at = |row: u64, m: String| SeriesError::at_line(file, row, m);
    let mut rdr = csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(reader);
    let mut records = rdr.records();
    let header = match records.next() {
        Some(Ok(h)) => h,
        Some(Err(e)) => return Err(at(1, format!("cannot read the header: {}", csv_error(&e)))),
        None => return Err(at(1, "the file is empty; expected a header".into())),
    };
    let cols: Vec<String> = header
        .iter()
        .enumerate()
        .map(|(i, h)| if i == 0 { h.trim_start_matches('\u{feff}') } else { h }.to_string())
        .collect();
    let idx = |name: &str| cols.iter().position(|c| c.eq_ignore_ascii_case(name));
    let (ts, value) = match (idx("timestamp"), idx("value")) {
        (Some(t), Some(v)) => (t, v),
        _ => {
            return Err(at(
                1,
                format!("expected a header with `timestamp` and `value` columns, found {:?}", cols.join(",")),
            ))
        }
    };
    let (metric_col, version_col) = (idx("metric"), idx("version"));
    if metric_col.is_none() && !map.series.contains_key("value") {
        return Err(SeriesError::new(file, format!("a `timestamp,value` file {NAB_HINT}")));
    }
    for rec in records {
        let f = match rec {
            Ok(f) => f,
            Err(e) => {
                let row = e.position().map_or(0, |p| p.line());
                return Err(at(row, csv_error(&e)));
            }
        };
        let row = f.position().map_or(0, |p| p.line());
        if f.len() == 1 && f.get(0).is_some_and(str::is_empty) {
            continue;
        }
        if f.len() != cols.len() {
            return Err(at(row, format!("expected {} fields like the header, found {}", cols.len(), f.len())));
        }
        let field = |i: usize| f.get(i).unwrap_or("");
        let t = c.timestamp(field(ts)).map_err(|e| at(row, e))?;
        let name = metric_col.map_or("value", field);
        let version = version_col.map(field);
        let v = parse_value(field(value)).map_err(|e| at(row, e))?;
        if c.trial_series(name, version, t, v).map_err(|e| at(row, e))? {
            continue;
        }
        let Some(target) = c.target(name, version).map_err(|e| at(row, e))? else {
            continue;
        };
        if !c.push(target, t, v) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A CSV reading error in the user's terms.
fn csv_error(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "not UTF-8 text".into(),
        csv::ErrorKind::Io(io) => format!("cannot read: {io}"),
        _ => e.to_string(),
    }
}

/// Reads a Parquet file with the long CSV's columns (`timestamp` as text or
/// Unix seconds, `metric`, optional `version`, `value`).
pub fn read_parquet(path: &Path, map: &Mapping) -> Result<Recorded, SeriesError> {
    super::guard_with(|| read_parquet_unguarded(path, map), |m| SeriesError::new(path, m))
}

fn read_parquet_unguarded(path: &Path, map: &Mapping) -> Result<Recorded, SeriesError> {
    use polars::prelude::*;
    let df = super::read_parquet(path).map_err(|e| SeriesError::new(path, e))?;
    let at = |row: usize, m: String| SeriesError::at(path, format!("row {}", row + 1), m);
    let col = |name: &str| df.column(name).ok();
    let need = |name: &str| col(name).ok_or_else(|| SeriesError::new(path, format!("no column `{name}`")));
    let ts =
        need("timestamp")?.cast(&DataType::String).map_err(|e| SeriesError::new(path, format!("`timestamp`: {e}")))?;
    let ts = ts.str().map_err(|e| SeriesError::new(path, format!("`timestamp`: {e}")))?.clone();
    let values =
        need("value")?.cast(&DataType::Float64).map_err(|e| SeriesError::new(path, format!("`value`: {e}")))?;
    let values = values.f64().map_err(|e| SeriesError::new(path, format!("`value`: {e}")))?.clone();
    let text = |name: &str| -> Result<Option<StringChunked>, SeriesError> {
        col(name)
            .map(|c| c.str().cloned().map_err(|_| SeriesError::new(path, format!("column `{name}` is not text"))))
            .transpose()
    };
    let (metric, version) = (text("metric")?, text("version")?);
    if metric.is_none() && !map.series.contains_key("value") {
        return Err(SeriesError::new(path, format!("a file without `metric` {NAB_HINT}")));
    }
    let mut c = Collector::new(map);
    for i in 0..df.height() {
        let t = c.timestamp(ts.get(i).unwrap_or("")).map_err(|e| at(i, e))?;
        let name =
            metric.as_ref().map_or(Some("value"), |m| m.get(i)).ok_or_else(|| at(i, "`metric` is empty".into()))?;
        let ver = version.as_ref().and_then(|v| v.get(i));
        if c.trial_series(name, ver, t, values.get(i)).map_err(|e| at(i, e))? {
            continue;
        }
        let Some(target) = c.target(name, ver).map_err(|e| at(i, e))? else {
            continue;
        };
        c.push(target, t, values.get(i));
    }
    c.finish(path)
}

/// Reads a Prometheus `query_range` response (`resultType` `matrix`), as the
/// HTTP API returns it. A series is named by its `__name__` label (else its
/// `metric` label) and its version by its `version` label.
pub fn read_prometheus(path: &Path, map: &Mapping) -> Result<Recorded, SeriesError> {
    let text = std::fs::read_to_string(path).map_err(|e| SeriesError::new(path, format!("cannot read: {e}")))?;
    read_prometheus_text(&text, path, map)
}

/// [`read_prometheus`] of a response held in memory; `path` names it in messages.
pub fn read_prometheus_text(text: &str, path: &Path, map: &Mapping) -> Result<Recorded, SeriesError> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| SeriesError::new(path, format!("not valid JSON: {e}")))?;
    let bad = |m: String| SeriesError::new(path, m);
    if v["status"] != "success" {
        return Err(bad(format!("expected a successful query_range response, found status {}", v["status"])));
    }
    if v["data"]["resultType"] != "matrix" {
        return Err(bad(format!("expected resultType \"matrix\" (a range query), found {}", v["data"]["resultType"])));
    }
    let result = v["data"]["result"].as_array().ok_or_else(|| bad("`data.result` is not a list".into()))?;
    let mut c = Collector::new(map);
    for (k, series) in result.iter().enumerate() {
        let labels = &series["metric"];
        let name = labels["__name__"]
            .as_str()
            .or_else(|| labels["metric"].as_str())
            .or_else(|| map.series.contains_key("value").then_some("value"))
            .ok_or_else(|| bad(format!("series {} has no __name__ or metric label; name it in the query or map it with --map 'value=METRIC'", k + 1)))?;
        let version = labels["version"].as_str();
        // A `rollsim record` series keeps its name; any other is mapped to a metric.
        let target = if name.starts_with(DUMP_PREFIX) {
            None
        } else {
            match c.target(name, version).map_err(|e| SeriesError::at(path, format!("series {}", k + 1), e))? {
                Some(t) => Some(t),
                None => continue,
            }
        };
        for (j, p) in series["values"].as_array().into_iter().flatten().enumerate() {
            let at = |m: String| SeriesError::at(path, format!("series {} sample {}", k + 1, j + 1), m);
            let t = p[0].as_f64().ok_or_else(|| at("expected [unix_time, \"value\"]".into()))?;
            let t = c.timestamp(&format!("{}", t.floor() as i64)).map_err(at)?;
            let raw = p[1].as_str().ok_or_else(|| at("expected the value as a string".into()))?;
            let v = parse_value(raw).map_err(at)?;
            match target {
                Some(target) => {
                    c.push(target, t, v);
                }
                None => {
                    c.trial_series(name, version, t, v).map_err(at)?;
                }
            }
        }
    }
    c.finish(path)
}

/// Labelled windows (Unix seconds) for `data`: NAB's layout (file → windows,
/// matched by the end of the data path) or a plain JSON list of `[start, end]`.
pub fn read_windows(path: &Path, data: &Path) -> Result<Vec<(i64, i64)>, SeriesError> {
    let text = std::fs::read_to_string(path).map_err(|e| SeriesError::new(path, format!("cannot read: {e}")))?;
    parse_windows(&text, path, data)
}

/// [`read_windows`] of labels held in memory; `path` names them in messages.
pub fn parse_windows(text: &str, path: &Path, data: &Path) -> Result<Vec<(i64, i64)>, SeriesError> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| SeriesError::new(path, format!("not valid JSON: {e}")))?;
    let list = match &v {
        serde_json::Value::Array(_) => v.clone(),
        serde_json::Value::Object(files) => {
            let data = data.to_string_lossy().replace('\\', "/");
            files
                .iter()
                .find(|(k, _)| data.ends_with(k.as_str()))
                .map(|(_, w)| w.clone())
                .ok_or_else(|| SeriesError::new(path, format!("no entry for {data}")))?
        }
        _ => return Err(SeriesError::new(path, "expected a list of [start, end] or NAB's file → windows map")),
    };
    let mut out = Vec::new();
    for (i, w) in list.as_array().into_iter().flatten().enumerate() {
        let bad = || SeriesError::at(path, format!("window {}", i + 1), "not [start, end]");
        let s = w.get(0).and_then(|x| x.as_str()).ok_or_else(bad)?;
        let e = w.get(1).and_then(|x| x.as_str()).ok_or_else(bad)?;
        let (s, _) = parse_timestamp(s).map_err(|m| SeriesError::at(path, format!("window {}", i + 1), m))?;
        let (e, _) = parse_timestamp(e).map_err(|m| SeriesError::at(path, format!("window {}", i + 1), m))?;
        out.push((s, e));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_three_formats() {
        let want = 1_392_388_020; // 2014-02-14 14:27:00 UTC
        assert_eq!(parse_timestamp("2014-02-14 14:27:00"), Ok((want, TsFormat::DateTime)));
        assert_eq!(parse_timestamp("2014-02-14 14:27:00.000000"), Ok((want, TsFormat::DateTime)));
        assert_eq!(parse_timestamp("2014-02-14T14:27:00Z"), Ok((want, TsFormat::Rfc3339)));
        assert_eq!(parse_timestamp("2014-02-14T15:27:00+01:00"), Ok((want, TsFormat::Rfc3339)));
        assert_eq!(parse_timestamp("1392388020"), Ok((want, TsFormat::UnixSeconds)));
        assert!(parse_timestamp("yesterday").is_err());
        assert!(parse_timestamp("2014-13-14 14:27:00").is_err());
    }

    #[test]
    fn mappings_parse() {
        let m: Mapping = "value=cpu*0.01,p99=latency_p99@stable,version:v2=candidate".parse().unwrap();
        assert_eq!(m.series["value"], Target { metric: Metric::Cpu, group: Group::Candidate, scale: 0.01 });
        assert_eq!(m.series["p99"].group, Group::Stable);
        assert_eq!(m.versions["v2"], Group::Candidate);
        assert!("value=cpux".parse::<Mapping>().is_err());
    }
}
