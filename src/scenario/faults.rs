//! Validation of the fault mix: which magnitude fields each fault kind reads,
//! their units, and the weights. Errors name the entry (`faults[3].error_rate`).

use super::check::{dist, duration_range, number, positive_duration, Ctx};
use super::raw::{RawFault, Text};
use super::*;
use crate::units::{parse_latency_ms, parse_percent, parse_share};

pub(super) fn build_faults(
    cx: &mut Ctx,
    faults: &[RawFault],
    traffic: &Traffic,
    base_dir: &std::path::Path,
) -> Vec<FaultSpec> {
    let mut out = Vec::new();
    let mut total = 0.0;
    for (i, f) in faults.iter().enumerate() {
        let prefix = format!("faults[{i}]");
        let p = |n: &str| format!("{prefix}.{n}");
        let weight = *f.weight.get_ref();
        if !(weight.is_finite() && weight >= 0.0) {
            cx.err_at(Some(f.weight.span()), p("weight"), format!("expected a weight of at least 0, found {weight}"));
        } else {
            total += weight;
        }
        let (onset_lo, onset_hi) = cx.opt(&f.onset, &p("onset"), (SimDur::ZERO, SimDur::ZERO), duration_range);
        let class = f.class.as_ref().and_then(|c| {
            let id = traffic.classes.iter().position(|k| k.name == c.get_ref().trim());
            if id.is_none() {
                cx.err_at(Some(c.span()), p("class"), format!("unknown request class {:?}", c.get_ref()));
            }
            id.map(|i| i as u8)
        });
        let pct = dist(parse_percent);
        let ms = dist(parse_latency_ms);
        let num = dist(number);
        let kind_type: FaultType = match f.kind.get_ref().parse() {
            Ok(t) => t,
            Err(message) => {
                cx.err_at(Some(f.kind.span()), p("kind"), message);
                continue;
            }
        };
        // Which magnitude fields each kind reads; any other set field is an error.
        let allowed = kind_type.fields();
        let fields: [(&str, &Option<Text>); 13] = [
            ("error_rate", &f.error_rate),
            ("error_factor", &f.error_factor),
            ("latency_shift", &f.latency_shift),
            ("latency_scale", &f.latency_scale),
            ("slow_share", &f.slow_share),
            ("slow_latency", &f.slow_latency),
            ("leak_per_hour", &f.leak_per_hour),
            ("crashes_per_hour", &f.crashes_per_hour),
            ("cpu_added", &f.cpu_added),
            ("min_weight", &f.min_weight),
            ("burst_every", &f.burst_every),
            ("burst_length", &f.burst_length),
            ("drift_per_hour", &f.drift_per_hour),
        ];
        let extra = [("duration", &f.duration), ("data", &f.data), ("metric", &f.metric), ("scale", &f.scale)];
        for (n, v) in fields.iter().chain(extra.iter()) {
            if let Some(v) = v {
                if !allowed.contains(n) {
                    cx.err_at(
                        Some(v.span()),
                        p(n),
                        format!(
                            "`{n}` does not apply to fault kind `{kind_type}` (it reads: {})",
                            if allowed.is_empty() { "nothing".to_string() } else { allowed.join(", ") }
                        ),
                    );
                }
            }
        }
        if class.is_some() && kind_type != FaultType::ErrorRate {
            cx.err_at(None, p("class"), "only error-rate faults can be restricted to a request class");
        }
        let need = |cx: &mut Ctx, v: &Option<Text>, n: &str, parse: &dyn Fn(&str) -> Result<Dist, String>| -> Dist {
            match v {
                Some(t) => cx.req(t, &p(n), parse).unwrap_or(Dist::fixed(0.0)),
                None => {
                    cx.err_at(Some(f.kind.span()), p(n), format!("fault kind `{kind_type}` needs `{n}`"));
                    Dist::fixed(0.0)
                }
            }
        };
        let optional = |cx: &mut Ctx, v: &Option<Text>, n: &str, parse: &dyn Fn(&str) -> Result<Dist, String>| {
            v.as_ref().and_then(|t| cx.req(t, &p(n), parse))
        };
        let kind = match kind_type {
            FaultType::None => FaultKind::None,
            FaultType::ErrorRate => {
                let added = optional(cx, &f.error_rate, "error_rate", &pct);
                let factor = optional(cx, &f.error_factor, "error_factor", &num);
                if added.is_none() && factor.is_none() {
                    cx.err_at(
                        Some(f.kind.span()),
                        p("error_rate"),
                        "fault kind `error-rate` needs `error_rate` (added) or `error_factor`",
                    );
                }
                FaultKind::ErrorRate { added, factor }
            }
            FaultType::Latency => {
                let shift_ms = optional(cx, &f.latency_shift, "latency_shift", &ms);
                let scale = optional(cx, &f.latency_scale, "latency_scale", &num);
                let slow_share = optional(cx, &f.slow_share, "slow_share", &pct);
                let slow_ms = cx.opt(&f.slow_latency, &p("slow_latency"), 2500.0, parse_latency_ms);
                if shift_ms.is_none() && scale.is_none() && slow_share.is_none() {
                    cx.err_at(
                        Some(f.kind.span()),
                        p("latency_shift"),
                        "fault kind `latency` needs `latency_shift`, `latency_scale` or `slow_share`",
                    );
                }
                FaultKind::Latency { shift_ms, scale, slow_share, slow_ms }
            }
            FaultType::MemoryLeak => {
                FaultKind::MemoryLeak { per_hour: need(cx, &f.leak_per_hour, "leak_per_hour", &pct) }
            }
            FaultType::CrashLoop => {
                FaultKind::CrashLoop { per_hour: need(cx, &f.crashes_per_hour, "crashes_per_hour", &num) }
            }
            FaultType::Cpu => FaultKind::Cpu { added: need(cx, &f.cpu_added, "cpu_added", &pct) },
            FaultType::LoadDependent => FaultKind::LoadDependent {
                added: need(cx, &f.error_rate, "error_rate", &pct),
                min_weight: cx.opt(&f.min_weight, &p("min_weight"), 0.25, parse_share),
            },
            FaultType::Intermittent => FaultKind::Intermittent {
                added: need(cx, &f.error_rate, "error_rate", &pct),
                every: cx.opt(&f.burst_every, &p("burst_every"), SimDur::hours(1), positive_duration),
                length: cx.opt(&f.burst_length, &p("burst_length"), SimDur::mins(5), positive_duration),
            },
            FaultType::Drift => FaultKind::Drift { per_hour: need(cx, &f.drift_per_hour, "drift_per_hour", &pct) },
            FaultType::Recorded => recorded(cx, f, &prefix, base_dir),
            FaultType::SharedDependency => FaultKind::SharedDependency {
                added: need(cx, &f.error_rate, "error_rate", &pct),
                shift_ms: optional(cx, &f.latency_shift, "latency_shift", &ms),
                duration: cx.opt(&f.duration, &p("duration"), Dist::fixed(3600.0), |s| {
                    duration_range(s).map(|(a, b)| Dist { lo: a.0 as f64, hi: b.0 as f64 })
                }),
            },
        };
        out.push(FaultSpec {
            name: f.name.clone().unwrap_or_else(|| kind_type.to_string()),
            kind,
            weight,
            onset_lo,
            onset_hi,
            class,
        });
    }
    if !faults.is_empty() && total <= 0.0 {
        cx.err_at(None, "faults", "fault-mix weights are all zero: expected at least one positive weight");
    }
    if faults.is_empty() {
        out.push(FaultSpec {
            name: "none".into(),
            kind: FaultKind::None,
            weight: 1.0,
            onset_lo: SimDur::ZERO,
            onset_hi: SimDur::ZERO,
            class: None,
        });
    }
    let mut names = std::collections::BTreeSet::new();
    for f in &out {
        if !names.insert(f.name.clone()) {
            cx.err_at(None, "faults", format!("fault name {:?} is used twice; give entries distinct `name`s", f.name));
        }
    }
    out
}

/// Loads a `recorded` fault's shape: the recorded metric over its median.
fn recorded(cx: &mut Ctx, f: &RawFault, prefix: &str, base_dir: &std::path::Path) -> FaultKind {
    use crate::engine::{Group, Metric};
    let p = |n: &str| format!("{prefix}.{n}");
    let empty = || FaultKind::Recorded {
        data: String::new(),
        source: std::path::PathBuf::new(),
        metric: Metric::ErrorRate,
        shape: Arc::new(Shape { points: vec![] }),
        scale: Dist::fixed(1.0),
    };
    let scale = cx.opt(&f.scale, &p("scale"), Dist::fixed(1.0), dist(number));
    let metric = match &f.metric {
        None => Metric::ErrorRate,
        Some(m) => match Metric::from_name(m.get_ref().trim())
            .filter(|m| matches!(m, Metric::ErrorRate | Metric::LatencyP99 | Metric::Cpu))
        {
            Some(x) => x,
            None => {
                cx.err_at(
                    Some(m.span()),
                    p("metric"),
                    format!("expected error_rate, latency_p99 or cpu, found {:?}", m.get_ref()),
                );
                return empty();
            }
        },
    };
    let Some(data) = &f.data else {
        cx.err_at(
            Some(f.kind.span()),
            p("data"),
            "fault kind `recorded` needs `data`, the recording to take the shape from",
        );
        return empty();
    };
    let path = base_dir.join(data.get_ref());
    let map = crate::io::series::Mapping {
        series: [("value".to_string(), crate::io::series::Target { metric, group: Group::Candidate, scale: 1.0 })]
            .into(),
        versions: Default::default(),
    };
    let rec = match crate::io::series::read(&path, &map) {
        Ok(r) => r,
        Err(e) => {
            cx.err_at(Some(data.span()), p("data"), e.to_string());
            return empty();
        }
    };
    let Some(series) = rec.series.get(&(metric, Group::Candidate)).filter(|s| !s.is_empty()) else {
        cx.err_at(
            Some(data.span()),
            p("data"),
            format!("{} has no `{metric}` series of the candidate", path.display()),
        );
        return empty();
    };
    let mut values: Vec<f64> = series.iter().map(|s| s.1).collect();
    values.sort_by(f64::total_cmp);
    let median = values[values.len() / 2];
    if median <= 0.0 {
        cx.err_at(
            Some(data.span()),
            p("data"),
            format!("the median of `{metric}` in {} is not above 0, so it has no shape to scale", path.display()),
        );
        return empty();
    }
    let start = series[0].0;
    let points = series.iter().map(|s| ((s.0 - start) as u64, s.1 / median)).collect();
    FaultKind::Recorded { data: data.get_ref().clone(), source: path, metric, shape: Arc::new(Shape { points }), scale }
}
