//! Recorded series with their labels, for PromQL: a Prometheus `query_range`
//! response (`.json`, `.prom-json`) or a long CSV whose columns are
//! `timestamp`, `metric` (or `__name__`), `value` and any number of label
//! columns (the replay format's `version` is one). Errors name the file and
//! the line, or the series and sample.

use super::{labels, MemStorage};
use crate::io::series::{parse_timestamp, SeriesError};
use std::collections::BTreeMap;
use std::path::Path;

fn error(path: &Path, line: Option<u64>, place: Option<String>, message: impl Into<String>) -> SeriesError {
    SeriesError { file: path.to_path_buf(), line, place, message: message.into() }
}

fn value(raw: &str) -> Result<f64, String> {
    match raw.trim() {
        "NaN" | "nan" => Ok(f64::NAN),
        "+Inf" | "Inf" | "inf" => Ok(f64::INFINITY),
        "-Inf" | "-inf" => Ok(f64::NEG_INFINITY),
        s => s.parse::<f64>().map_err(|_| format!("expected a number, found {raw:?}")),
    }
}

/// Reads `path` by its extension: `.json`/`.prom-json` or CSV.
pub fn read(path: &Path) -> Result<MemStorage, SeriesError> {
    let text = std::fs::read_to_string(path).map_err(|e| error(path, None, None, format!("cannot read: {e}")))?;
    match path.extension().and_then(|e| e.to_str()) {
        Some("json" | "prom-json") => read_json(&text, path),
        Some("parquet") => Err(error(path, None, None, "PromQL reads Prometheus JSON or CSV recordings, not Parquet")),
        _ => read_csv(&text, path),
    }
}

/// A `query_range` response: every series with all its labels.
pub fn read_json(text: &str, path: &Path) -> Result<MemStorage, SeriesError> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| error(path, None, None, format!("not valid JSON: {e}")))?;
    if v["status"] != "success" || v["data"]["resultType"] != "matrix" {
        return Err(error(path, None, None, "expected a successful query_range response (resultType \"matrix\")"));
    }
    let result =
        v["data"]["result"].as_array().ok_or_else(|| error(path, None, None, "`data.result` is not a list"))?;
    let mut out = MemStorage::default();
    for (k, s) in result.iter().enumerate() {
        let place = |j: Option<usize>| {
            Some(j.map_or(format!("series {}", k + 1), |j| format!("series {} sample {}", k + 1, j + 1)))
        };
        let metric =
            s["metric"].as_object().ok_or_else(|| error(path, None, place(None), "`metric` is not an object"))?;
        let mut pairs = Vec::new();
        for (name, val) in metric {
            let val =
                val.as_str().ok_or_else(|| error(path, None, place(None), format!("label {name} is not a string")))?;
            pairs.push((name.as_str(), val));
        }
        let mut points = Vec::new();
        for (j, p) in s["values"].as_array().into_iter().flatten().enumerate() {
            let t =
                p[0].as_f64().ok_or_else(|| error(path, None, place(Some(j)), "expected [unix_time, \"value\"]"))?;
            let raw =
                p[1].as_str().ok_or_else(|| error(path, None, place(Some(j)), "expected the value as a string"))?;
            let v = value(raw).map_err(|e| error(path, None, place(Some(j)), e))?;
            points.push(((t * 1000.0).round() as i64, v));
        }
        points.sort_by_key(|p| p.0);
        out.series.push((labels(pairs), points));
    }
    Ok(out)
}

/// A long CSV: `timestamp`, `metric` or `__name__`, `value`, and label columns.
pub fn read_csv(text: &str, path: &Path) -> Result<MemStorage, SeriesError> {
    let mut rdr = csv::ReaderBuilder::new().has_headers(false).trim(csv::Trim::All).from_reader(text.as_bytes());
    let mut rows = rdr.records();
    let header = match rows.next() {
        Some(Ok(h)) => h,
        _ => return Err(error(path, Some(1), None, "expected a header: timestamp,metric,value[,label...]")),
    };
    let col = |names: &[&str]| header.iter().position(|h| names.contains(&h));
    let (Some(ts), Some(name), Some(val)) =
        (col(&["timestamp", "time"]), col(&["metric", "__name__"]), col(&["value"]))
    else {
        return Err(error(
            path,
            Some(1),
            None,
            "expected columns timestamp, metric (or __name__) and value; other columns are labels",
        ));
    };
    let label_cols: Vec<(usize, &str)> =
        header.iter().enumerate().filter(|(i, _)| ![ts, name, val].contains(i)).collect();
    type Pairs = Vec<(String, String)>;
    let mut series: BTreeMap<Pairs, Vec<(i64, f64)>> = BTreeMap::new();
    for (n, row) in rows.enumerate() {
        let line = n as u64 + 2;
        let row = row.map_err(|e| error(path, Some(line), None, format!("{e}")))?;
        let get = |i: usize| {
            row.get(i).ok_or_else(|| {
                error(path, Some(line), None, format!("expected {} columns, found {}", header.len(), row.len()))
            })
        };
        let (t, _) = parse_timestamp(get(ts)?).map_err(|e| error(path, Some(line), None, e))?;
        let v = value(get(val)?).map_err(|e| error(path, Some(line), None, e))?;
        let mut key = vec![(super::NAME.to_string(), get(name)?.to_string())];
        for (i, h) in &label_cols {
            let x = get(*i)?;
            if !x.is_empty() {
                key.push((h.to_string(), x.to_string()));
            }
        }
        key.sort();
        series.entry(key).or_default().push((t * 1000, v));
    }
    let mut out = MemStorage::default();
    for (key, mut points) in series {
        // Of samples with one timestamp the last is kept (as replay does).
        points.sort_by_key(|p| p.0);
        points.reverse();
        points.dedup_by_key(|p| p.0);
        points.reverse();
        out.series.push((labels(key.iter().map(|(k, v)| (k.as_str(), v.as_str()))), points));
    }
    Ok(out)
}
