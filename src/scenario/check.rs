//! The validation context shared by the scenario builder and the fault-mix
//! validation: errors collected with file, line, column and field path, and the
//! value parsers both use.

use super::raw::Text;
use super::{Dist, ScenarioError};
use crate::time::SimDur;
use crate::units::parse_duration;
use std::ops::Range;
use toml::Spanned;

pub(super) struct Ctx<'a> {
    pub(super) text: &'a str,
    pub(super) file: &'a str,
    /// Where files the scenario names (recordings) are found.
    pub(super) base_dir: &'a std::path::Path,
    pub(super) errors: Vec<ScenarioError>,
    /// PromQL rules met so far; `Metric::Query(i)` is the i-th.
    pub(super) queries: Vec<super::PromRule>,
    /// The naming profile and template variables PromQL rules are read with.
    pub(super) profile: crate::promql::profile::Profile,
    pub(super) vars: Vec<(String, String)>,
}

impl<'a> Ctx<'a> {
    pub(super) fn err_at(&mut self, span: Option<Range<usize>>, field: impl Into<String>, message: impl Into<String>) {
        let (line, column) = span.map(|s| line_col(self.text, s.start)).unwrap_or((0, 0));
        self.errors.push(ScenarioError {
            file: self.file.to_string(),
            line,
            column,
            field: field.into(),
            message: message.into(),
        });
    }

    /// Parses an optional spanned string with `parse`, or returns `default`.
    pub(super) fn opt<T>(
        &mut self,
        v: &Option<Text>,
        field: &str,
        default: T,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> T {
        match v {
            None => default,
            Some(s) => self.req(s, field, parse).unwrap_or(default),
        }
    }

    pub(super) fn req<T>(&mut self, v: &Text, field: &str, parse: impl Fn(&str) -> Result<T, String>) -> Option<T> {
        match parse(v.get_ref()) {
            Ok(x) => Some(x),
            Err(m) => {
                self.err_at(Some(v.span()), field, m);
                None
            }
        }
    }

    pub(super) fn int(&mut self, v: &Option<Spanned<i64>>, field: &str, default: i64, min: i64, max: i64) -> i64 {
        match v {
            None => default,
            Some(s) if (min..=max).contains(s.get_ref()) => *s.get_ref(),
            Some(s) => {
                self.err_at(
                    Some(s.span()),
                    field,
                    format!("expected an integer from {min} to {max}, found {}", s.get_ref()),
                );
                default
            }
        }
    }

    pub(super) fn float(
        &mut self,
        v: &Option<Spanned<f64>>,
        field: &str,
        default: f64,
        ok: Range<f64>,
        what: &str,
    ) -> f64 {
        match v {
            None => default,
            Some(s) if s.get_ref().is_finite() && ok.contains(s.get_ref()) => *s.get_ref(),
            Some(s) => {
                self.err_at(Some(s.span()), field, format!("expected {what}, found {}", s.get_ref()));
                default
            }
        }
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

pub(super) fn positive_duration(s: &str) -> Result<SimDur, String> {
    let d = parse_duration(s)?;
    if d == SimDur::ZERO {
        return Err(format!("expected a duration longer than zero, found {s:?}"));
    }
    Ok(d)
}

pub(super) fn number(s: &str) -> Result<f64, String> {
    s.trim().parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| format!("expected a number, found {s:?}"))
}

/// Parses a value in a metric's unit.
/// A magnitude: `v` or `lo..hi`, each parsed with `parse`.
pub(super) fn dist(parse: impl Fn(&str) -> Result<f64, String>) -> impl Fn(&str) -> Result<Dist, String> {
    move |s| {
        let (lo, hi) = match s.split_once("..") {
            Some((a, b)) => (parse(a)?, parse(b)?),
            None => {
                let v = parse(s)?;
                (v, v)
            }
        };
        if lo > hi {
            return Err(format!("expected `lo..hi` with lo <= hi, found {s:?}"));
        }
        if lo < 0.0 {
            return Err(format!("expected a magnitude of at least 0, found {s:?}"));
        }
        Ok(Dist { lo, hi })
    }
}

pub(super) fn duration_range(s: &str) -> Result<(SimDur, SimDur), String> {
    let (lo, hi) = match s.split_once("..") {
        Some((a, b)) => (parse_duration(a)?, parse_duration(b)?),
        None => {
            let d = parse_duration(s)?;
            (d, d)
        }
    };
    if lo > hi {
        return Err(format!("expected `lo..hi` with lo <= hi, found {s:?}"));
    }
    Ok((lo, hi))
}
