//! `rollsim record`: a simulated trial's series in the replay formats, lossless
//! (per-tick counters and gauges named `rollsim:...`), so replaying a recorded
//! trial makes exactly the decisions the simulation made.

use super::series::DumpRow;
use super::{write_err, IoError};
use crate::engine::Group;
use std::fmt::Write as _;
use std::path::Path;

/// Unix time of simulated time zero in recordings: 2026-01-01T00:00:00Z.
pub const RECORD_ORIGIN: i64 = 1_767_225_600;

/// The formats `record` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Parquet,
    PromJson,
    /// Every series a Prometheus would scrape, named by the scenario's profile
    /// (written by the CLI through `sim::prom`, not from dump rows).
    OpenMetrics,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "csv" => Ok(Format::Csv),
            "parquet" => Ok(Format::Parquet),
            "prom-json" => Ok(Format::PromJson),
            "openmetrics" => Ok(Format::OpenMetrics),
            _ => Err(format!("expected csv, parquet, prom-json or openmetrics, found {s:?}")),
        }
    }
}

fn version(g: Group) -> &'static str {
    g.name()
}

/// A Prometheus `query_range` response, as the HTTP API writes it (fields in
/// the API's order, which is also alphabetical).
#[derive(serde::Serialize)]
struct QueryRange<'a> {
    data: Matrix<'a>,
    status: &'static str,
}

#[derive(serde::Serialize)]
struct Matrix<'a> {
    result: Vec<Series<'a>>,
    #[serde(rename = "resultType")]
    result_type: &'static str,
}

#[derive(serde::Serialize)]
struct Series<'a> {
    metric: Labels<'a>,
    /// `[unix_seconds, "value"]` pairs.
    values: Vec<(i64, String)>,
}

#[derive(serde::Serialize)]
struct Labels<'a> {
    __name__: &'a str,
    version: &'static str,
}

/// Writes `rows` in `format` to `path`.
pub fn write(path: &Path, rows: &[DumpRow], format: Format) -> Result<(), IoError> {
    let io = write_err(path);
    match format {
        Format::Csv => {
            let mut s = String::from("timestamp,metric,version,value\n");
            for (t, g, name, v) in rows {
                let _ = writeln!(s, "{},{name},{},{v}", RECORD_ORIGIN + *t as i64, version(*g));
            }
            std::fs::write(path, s).map_err(io)
        }
        Format::Parquet => {
            use polars::prelude::*;
            let table = |source| IoError::Table { path: path.to_path_buf(), source };
            let mut df = df!(
                "timestamp" => rows.iter().map(|r| RECORD_ORIGIN + r.0 as i64).collect::<Vec<_>>(),
                "metric" => rows.iter().map(|r| r.2.as_str()).collect::<Vec<_>>(),
                "version" => rows.iter().map(|r| version(r.1)).collect::<Vec<_>>(),
                "value" => rows.iter().map(|r| r.3).collect::<Vec<_>>(),
            )
            .map_err(table)?;
            let file = std::fs::File::create(path).map_err(io)?;
            ParquetWriter::new(file).finish(&mut df).map(|_| ()).map_err(table)
        }
        Format::PromJson => {
            // One series per (name, version), as a Prometheus query_range matrix.
            let mut series: std::collections::BTreeMap<(&str, &'static str), Vec<(i64, String)>> = Default::default();
            for (t, g, name, v) in rows {
                series
                    .entry((name.as_str(), version(*g)))
                    .or_default()
                    .push((RECORD_ORIGIN + *t as i64, format!("{v}")));
            }
            let result = series
                .into_iter()
                .map(|((name, ver), values)| Series { metric: Labels { __name__: name, version: ver }, values })
                .collect();
            let doc = QueryRange { data: Matrix { result, result_type: "matrix" }, status: "success" };
            std::fs::write(path, serde_json::to_string(&doc).expect("the response serialises")).map_err(io)
        }
        Format::OpenMetrics => Err(IoError::Write {
            path: path.to_path_buf(),
            source: std::io::Error::other(
                "OpenMetrics is written from the fleet's Prometheus view, not from dump rows",
            ),
        }),
    }
}
