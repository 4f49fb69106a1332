//! Parsing and printing of the human units used in scenario files:
//! durations (`15m`, `12h`), percentages (`1%`, `0.1%`), latencies (`500ms`, `2s`).
//!
//! Every parser returns a message that says what was expected, so the scenario
//! loader can attach the file, line and field to it.

use crate::engine::Unit;
use crate::time::SimDur;

/// Parses a human duration such as `15s`, `15m`, `12h`, `1h 30m` into whole seconds.
pub fn parse_duration(text: &str) -> Result<SimDur, String> {
    let t = text.trim();
    if t == "0" {
        return Ok(SimDur::ZERO);
    }
    if t.starts_with('-') {
        return Err(format!(
            "expected a duration such as \"15s\", \"15m\" or \"12h\", found {text:?}: durations cannot be negative"
        ));
    }
    let d = humantime::parse_duration(t).map_err(|e| {
        let why = match e {
            humantime::DurationError::InvalidCharacter(_) | humantime::DurationError::NumberExpected(_) => {
                "a number followed by a unit (s, m, h, d) is expected".to_string()
            }
            humantime::DurationError::UnknownUnit { unit, .. } => format!("unknown unit {unit:?}; use s, m, h or d"),
            other => other.to_string(),
        };
        format!("expected a duration such as \"15s\", \"15m\" or \"12h\", found {text:?} ({why})")
    })?;
    if d.subsec_nanos() != 0 {
        return Err(format!("expected a whole number of seconds, found {text:?}"));
    }
    Ok(SimDur(d.as_secs()))
}

/// Prints a duration so that [`parse_duration`] reads it back unchanged.
pub fn format_duration(d: SimDur) -> String {
    d.to_string()
}

/// Parses a percentage written with `%` (`1%`, `0.1%`, `+10%`) into a fraction (0.01).
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let Some(num) = t.strip_suffix('%') else {
        return Err(format!("expected a percentage such as \"1%\", found {text:?}"));
    };
    let v: f64 = num.trim().parse().map_err(|_| format!("expected a percentage such as \"1%\", found {text:?}"))?;
    if !v.is_finite() {
        return Err(format!("expected a finite percentage, found {text:?}"));
    }
    Ok(v / 100.0)
}

/// Parses a percentage that must lie in 0%..=100%.
pub fn parse_share(text: &str) -> Result<f64, String> {
    let v = parse_percent(text)?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("expected a percentage between 0% and 100%, found {text:?}"));
    }
    Ok(v)
}

/// Prints a fraction as a percentage that [`parse_percent`] reads back exactly.
pub fn format_percent(fraction: f64) -> String {
    format!("{}%", trim_float(fraction * 100.0))
}

/// Parses a latency (`500ms`, `2s`, `1.5s`) into milliseconds.
pub fn parse_latency_ms(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let err = || format!("expected a latency such as \"500ms\" or \"2s\", found {text:?}");
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return Err(err());
    };
    let v: f64 = num.trim().parse().map_err(|_| err())?;
    if !v.is_finite() || v < 0.0 {
        return Err(err());
    }
    Ok(v * scale)
}

/// Prints milliseconds so that [`parse_latency_ms`] reads them back exactly.
pub fn format_latency_ms(ms: f64) -> String {
    format!("{}ms", trim_float(ms))
}

/// A value of a metric in its unit, exactly as scenario files write it
/// (`1.25%`, `49.72ms`, `3`): the text parses back to the same number.
pub fn format_value(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Fraction => format_percent(v),
        Unit::Millis => format_latency_ms(v),
        Unit::Number => format!("{v}"),
    }
}

/// A measured value for people, rounded: `17.85%`, `312.4ms`, `3`.
pub fn format_measured(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Fraction => format!("{}%", trim_float((v * 100.0 * 1000.0).round() / 1000.0)),
        Unit::Millis => format!("{}ms", trim_float((v * 10.0).round() / 10.0)),
        Unit::Number => trim_float((v * 1000.0).round() / 1000.0),
    }
}

/// `1 sample`, `3 samples`: a count with its noun in the right number
/// (`plural` for irregular plurals, else `noun` + `s`).
pub fn count_of(n: u64, noun: &str, plural: Option<&str>) -> String {
    match (n, plural) {
        (1, _) => format!("1 {noun}"),
        (_, Some(p)) => format!("{n} {p}"),
        (_, None) => format!("{n} {noun}s"),
    }
}

/// A count for people: exact below `exact_below`, else with a k/M/G suffix
/// (`14198`, `250k`, `1.2M`); axis labels pass 1000 (`100k`, not `100000.0`).
pub fn format_count(v: f64, exact_below: f64) -> String {
    let a = v.abs();
    let short = |x: f64, unit: &str| {
        let digits = if x.abs() < 9.95 { 1 } else { 0 };
        format!("{}{unit}", trim_float(format!("{x:.digits$}").parse().unwrap_or(x)))
    };
    if !v.is_finite() {
        "—".into()
    } else if a < exact_below.max(1.0) - 0.5 {
        // −0.4 rounds to 0, not "-0".
        let r = v.round();
        format!("{}", if r == 0.0 { 0.0 } else { r })
    } else if a < 999_500.0 {
        short(v / 1e3, "k")
    } else if a < 999_500_000.0 {
        short(v / 1e6, "M")
    } else {
        short(v / 1e9, "G")
    }
}

/// Shortest decimal text for `v` (Rust's `Display` already round-trips f64),
/// after removing binary noise from the percent/ms scaling (1e-12 relative).
pub fn trim_float(v: f64) -> String {
    let rounded = (v * 1e9).round() / 1e9;
    let r = if (rounded - v).abs() <= 1e-12 * v.abs().max(1.0) { rounded } else { v };
    format!("{r}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_that_round_to_zero_have_no_sign() {
        assert_eq!(super::format_count(-0.4, 100.0), "0");
        assert_eq!(super::format_count(0.4, 100.0), "0");
        assert_eq!(super::format_count(-0.6, 100.0), "-1");
        assert_eq!(super::format_count(-12_345.0, 100.0), "-12k");
    }

    use super::*;

    #[test]
    fn values_print_exactly_for_files_and_rounded_for_people() {
        for (unit, v) in [(Unit::Fraction, 0.0125), (Unit::Millis, 49.72), (Unit::Number, 3.0), (Unit::Fraction, 1e-5)]
        {
            let text = format_value(unit, v);
            let back = match unit {
                Unit::Fraction => parse_percent(&text).unwrap(),
                Unit::Millis => parse_latency_ms(&text).unwrap(),
                Unit::Number => text.parse().unwrap(),
            };
            assert_eq!(back, v, "{text}");
        }
        assert_eq!(format_measured(Unit::Fraction, 0.178_504_2), "17.85%");
        assert_eq!(format_measured(Unit::Millis, 312.449), "312.4ms");
        assert_eq!(format_measured(Unit::Number, 294.441_805_861_456_4), "294.442");
        assert_eq!(format_measured(Unit::Fraction, 0.0), "0%");
        let axis: Vec<String> = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 2.5e6].map(|v| format_count(v, 1000.0)).into();
        assert_eq!(axis, ["1", "10", "100", "1k", "10k", "100k", "1M", "2.5M"]);
        assert_eq!(format_count(14_198.0, 100_000.0), "14198");
        assert_eq!(format_count(250_400.0, 100_000.0), "250k");
        assert_eq!(format_count(-1.0, 100_000.0), "-1");
        assert_eq!(format_count(f64::NAN, 1000.0), "—");
        assert_eq!(count_of(1, "sample", None), "1 sample");
        assert_eq!(count_of(51, "series", Some("series")), "51 series");
        assert_eq!(count_of(0, "value", None), "0 values");
    }

    #[test]
    fn durations() {
        let cases = [("15s", 15), ("15m", 900), ("12h", 43_200), ("1h 30m", 5_400), ("0", 0)];
        for (text, secs) in cases {
            assert_eq!(parse_duration(text), Ok(SimDur(secs)), "{text}");
            assert_eq!(parse_duration(&format_duration(SimDur(secs))), Ok(SimDur(secs)));
        }
        for bad in ["5 parsecs", "", "12", "1.5ms", "-3m"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains("expected"), "{bad}: {e}");
        }
    }

    #[test]
    fn percentages() {
        assert_eq!(parse_percent("1%"), Ok(0.01));
        assert_eq!(parse_percent("0.1%"), Ok(0.001));
        assert_eq!(parse_percent("+10%"), Ok(0.1));
        assert!(parse_percent("1").is_err());
        assert!(parse_share("150%").unwrap_err().contains("between 0% and 100%"));
        for v in [0.001, 0.01, 0.05, 0.7, 0.0003, 1.0] {
            assert_eq!(parse_percent(&format_percent(v)), Ok(v), "{v}");
        }
    }

    #[test]
    fn latencies() {
        assert_eq!(parse_latency_ms("500ms"), Ok(500.0));
        assert_eq!(parse_latency_ms("2s"), Ok(2000.0));
        assert_eq!(parse_latency_ms("1.5s"), Ok(1500.0));
        assert!(parse_latency_ms("5 parsecs").is_err());
        assert!(parse_latency_ms("500").is_err());
        assert_eq!(parse_latency_ms(&format_latency_ms(212.5)), Ok(212.5));
    }
}
