//! Reading recorded metrics: long CSV (`timestamp,metric,version,value`, extra
//! columns ignored), NAB-style CSV (`timestamp,value`) and labelled windows
//! (NAB's `combined_windows.json` layout, or a plain list of `[start, end]`).
//!
//! Files are read line by line; only the mapped series are kept. Defined
//! behaviour for bad input: a malformed row is an error naming the file and
//! row; empty or NaN values are skipped (a gap is no data); unsorted rows are
//! sorted and duplicate timestamps keep the last value, each with a warning;
//! unknown metric names are skipped with a warning; mixing timestamp formats
//! in one file is an error.

use crate::engine::{Group, Metric};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

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
        if v.is_finite() {
            return Ok((v.floor() as i64, TsFormat::UnixSeconds));
        }
    }
    let err = || format!("expected a timestamp (RFC 3339, `YYYY-MM-DD HH:MM:SS` or Unix seconds), found {s:?}");
    if t.len() < 19 {
        return Err(err());
    }
    let b = t.as_bytes();
    let sep = b[10];
    let num = |r: std::ops::Range<usize>| t.get(r).and_then(|x| x.parse::<i64>().ok()).ok_or_else(err);
    if b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return Err(err());
    }
    let (y, mo, d, h, mi, se) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return Err(err());
    }
    let mut rest = &t[19..];
    if let Some(r) = rest.strip_prefix('.') {
        rest = r.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let base = crate::calendar::unix_from_civil(y, mo, d, h, mi, se);
    match (sep, rest) {
        (b' ', "") => Ok((base, TsFormat::DateTime)),
        (b'T' | b't', "Z" | "z") => Ok((base, TsFormat::Rfc3339)),
        (b'T' | b't', off) if off.len() == 6 && (off.starts_with('+') || off.starts_with('-')) => {
            let sign = if off.starts_with('-') { -1 } else { 1 };
            let oh: i64 = off[1..3].parse().map_err(|_| err())?;
            let om: i64 = off[4..6].parse().map_err(|_| err())?;
            Ok((base - sign * (oh * 3600 + om * 60), TsFormat::Rfc3339))
        }
        _ => Err(err()),
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
    pub warnings: Vec<String>,
    pub rows: u64,
}

fn split(line: &str) -> Vec<&str> {
    line.split(',').map(str::trim).collect()
}

/// Reads a long CSV or a NAB CSV (detected from the header).
pub fn read_csv(path: &Path, map: &Mapping) -> Result<Recorded, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: cannot open: {e}", path.display()))?;
    let reader = std::io::BufReader::with_capacity(1 << 16, file);
    let mut lines = reader.lines();
    let at = |row: u64, m: String| format!("{}:{row}: {m}", path.display());
    let header = match lines.next() {
        Some(l) => l.map_err(|e| at(1, format!("cannot read: {e}")))?,
        None => return Err(at(1, "the file is empty; expected a header".into())),
    };
    let cols = split(header.trim_start_matches('\u{feff}'));
    let idx = |name: &str| cols.iter().position(|c| c.eq_ignore_ascii_case(name));
    let (ts, value) = match (idx("timestamp"), idx("value")) {
        (Some(t), Some(v)) => (t, v),
        _ => return Err(at(1, format!("expected a header with `timestamp` and `value` columns, found {header:?}"))),
    };
    let (metric_col, version_col) = (idx("metric"), idx("version"));
    let nab = metric_col.is_none();
    if nab && !map.series.contains_key("value") {
        return Err(format!(
            "{}: a `timestamp,value` file has one series; map it with --map 'value=METRIC' (e.g. value=cpu*0.01 for percentages)",
            path.display()
        ));
    }
    let mut out = Recorded::default();
    let mut format: Option<TsFormat> = None;
    let (mut skipped_values, mut unknown): (u64, BTreeMap<String, u64>) = (0, BTreeMap::new());
    let mut sorted = true;
    for (i, line) in lines.enumerate() {
        let row = i as u64 + 2;
        let line = line.map_err(|e| at(row, format!("cannot read: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        if line.contains('"') && line.matches('"').count() % 2 == 1 {
            return Err(at(row, "unbalanced quote".into()));
        }
        let f = split(&line);
        if f.len() != cols.len() {
            return Err(at(row, format!("expected {} fields like the header, found {}", cols.len(), f.len())));
        }
        let (t, fmt) = parse_timestamp(f[ts]).map_err(|e| at(row, e))?;
        match format {
            None => format = Some(fmt),
            Some(prev) if prev != fmt => {
                return Err(at(row, format!("timestamp {:?} is in another format than the rows before it", f[ts])))
            }
            _ => {}
        }
        let target = if nab {
            map.series["value"]
        } else {
            let name = f[metric_col.unwrap_or(0)];
            let group = match version_col.map(|c| f[c]) {
                None | Some("candidate") => Group::Candidate,
                Some("stable") => Group::Stable,
                Some(v) => match map.versions.get(v) {
                    Some(g) => *g,
                    None => return Err(at(row, format!("unknown version {v:?}; expected candidate or stable, or map it with --map 'version:{v}=candidate'"))),
                },
            };
            match map.series.get(name) {
                Some(t) => Target { group, ..*t },
                None => match Metric::from_name(name).filter(|m| *m != Metric::CriticalAlerts) {
                    Some(metric) => Target { metric, group, scale: 1.0 },
                    None => {
                        *unknown.entry(name.to_string()).or_default() += 1;
                        continue;
                    }
                },
            }
        };
        let raw = f[value];
        let v = if raw.is_empty() || raw.eq_ignore_ascii_case("nan") {
            None
        } else {
            Some(raw.parse::<f64>().map_err(|_| at(row, format!("expected a number in `value`, found {raw:?}")))?)
        };
        let Some(v) = v.filter(|x| x.is_finite()) else {
            skipped_values += 1;
            continue;
        };
        let s = out.series.entry((target.metric, target.group)).or_default();
        if s.last().is_some_and(|last| last.0 > t) {
            sorted = false;
        }
        s.push((t, v * target.scale));
        out.rows += 1;
    }
    if !sorted {
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
            out.warnings.push(format!("{} duplicate timestamps; kept the last value of each", before - dedup.len()));
        }
        *s = dedup;
    }
    if skipped_values > 0 {
        out.warnings.push(format!("{skipped_values} empty or NaN values skipped (gaps are no data)"));
    }
    for (name, n) in unknown {
        out.warnings.push(format!("{n} rows of unknown metric {name:?} skipped; map it with --map '{name}=METRIC'"));
    }
    if out.series.is_empty() {
        return Err(format!("{}: no usable rows", path.display()));
    }
    Ok(out)
}

/// Labelled windows (Unix seconds) for `data`: NAB's layout (file → windows,
/// matched by the end of the data path) or a plain JSON list of `[start, end]`.
pub fn read_windows(path: &Path, data: &Path) -> Result<Vec<(i64, i64)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not valid JSON: {e}", path.display()))?;
    let list = match &v {
        serde_json::Value::Array(_) => v.clone(),
        serde_json::Value::Object(files) => {
            let data = data.to_string_lossy().replace('\\', "/");
            files
                .iter()
                .find(|(k, _)| data.ends_with(k.as_str()))
                .map(|(_, w)| w.clone())
                .ok_or_else(|| format!("{}: no entry for {data}", path.display()))?
        }
        _ => return Err(format!("{}: expected a list of [start, end] or NAB's file → windows map", path.display())),
    };
    let mut out = Vec::new();
    for (i, w) in list.as_array().into_iter().flatten().enumerate() {
        let bad = || format!("{}: window {} is not [start, end]", path.display(), i + 1);
        let s = w.get(0).and_then(|x| x.as_str()).ok_or_else(bad)?;
        let e = w.get(1).and_then(|x| x.as_str()).ok_or_else(bad)?;
        let (s, _) = parse_timestamp(s).map_err(|m| format!("{}: window {}: {m}", path.display(), i + 1))?;
        let (e, _) = parse_timestamp(e).map_err(|m| format!("{}: window {}: {m}", path.display(), i + 1))?;
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
