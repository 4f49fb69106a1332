//! Replay outputs: Markdown and JSON summaries and the data of the timeline chart of the
//! recorded series against the rules' thresholds, with labelled windows shaded
//! and alarms and decisions marked.

use super::ReplayResult;
use crate::engine::{DecisionKind, EngineEvent, Metric, Policy};
use crate::time::SimTime;
use std::fmt::Write;

/// A threshold exactly as the policy holds it (no rounding: 49.72 ms stays 49.72ms).
fn fmt_value(m: Metric, v: f64) -> String {
    crate::units::format_value(m.unit(), v)
}

fn clock(origin: i64, t: SimTime) -> String {
    let secs = origin.saturating_add(i64::try_from(t.0).unwrap_or(i64::MAX));
    match jiff::Timestamp::from_second(secs) {
        Ok(ts) => ts.strftime("%Y-%m-%d %H:%M").to_string(),
        Err(_) => format!("{secs} s (Unix)"),
    }
}

fn decisions(r: &ReplayResult, p: &Policy) -> Vec<(SimTime, String)> {
    r.engine
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Decision(d) => Some((d.at, format!("{} ({})", d.kind.name(), d.cause.describe(p)))),
            _ => None,
        })
        .collect()
}

/// One gate's checks over a replay.
#[derive(Debug, Default, Clone, Copy)]
struct GateCount {
    checks: u32,
    failed: u32,
    inconclusive: u32,
    first_failure: Option<SimTime>,
}

fn gate_counts(r: &ReplayResult) -> std::collections::BTreeMap<(usize, usize), GateCount> {
    let mut gates: std::collections::BTreeMap<(usize, usize), GateCount> = Default::default();
    for e in &r.engine {
        if let EngineEvent::Check { at, phase, gate, verdict, .. } = e {
            let g = gates.entry((*phase, *gate)).or_default();
            g.checks += 1;
            match verdict {
                crate::engine::Verdict::Fail => {
                    g.failed += 1;
                    g.first_failure.get_or_insert(*at);
                }
                crate::engine::Verdict::Inconclusive => g.inconclusive += 1,
                _ => {}
            }
        }
    }
    gates
}

/// The Markdown summary.
pub fn markdown(r: &ReplayResult, p: &Policy, data: &str, warnings: &[String]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# rollsim replay: {data}\n");
    let charted: Vec<String> = r.chart.keys().map(|(m, g)| format!("{m} ({})", g.name())).collect();
    let _ = writeln!(
        o,
        "Recording from {} to {} (UTC). Charted series: {}.\n",
        clock(r.origin, SimTime::ZERO),
        clock(r.origin, r.end),
        if charted.is_empty() { "none".to_string() } else { charted.join(", ") }
    );
    for w in warnings {
        let _ = writeln!(o, "- warning: {w}");
    }
    let _ = writeln!(o, "\n## The policy's decisions (rollout starting with the recording)\n");
    let made = decisions(r, p);
    for (t, d) in &made {
        let _ = writeln!(o, "- {} ({t}): {d}", clock(r.origin, *t));
    }
    if made.is_empty() {
        // No decision yet: say where the rollout stood when the recording ended.
        let phase = r.engine.iter().rev().find_map(|e| match e {
            EngineEvent::PhaseStarted { phase, .. } => Some(*phase),
            _ => None,
        });
        let where_ = phase.map_or("before its first phase".to_string(), |i| {
            let ph = &p.phases[i];
            format!(
                "in phase {} `{}` ({} of traffic, {} bake)",
                i + 1,
                ph.name,
                crate::units::format_percent(ph.weight),
                ph.bake
            )
        });
        let _ = writeln!(
            o,
            "- none: the recording ({}) ended with the rollout still {where_}; no gate, trigger or alert had decided.",
            r.end
        );
    }
    // Gate checks while the rollout ran: how often each gate failed, and when first.
    let gates = gate_counts(r);
    if !gates.is_empty() {
        let _ = writeln!(o, "\n## Gate checks while the rollout ran\n");
        let _ = writeln!(o, "| gate | checks | failed | inconclusive | first failure |");
        let _ = writeln!(o, "|---|---:|---:|---:|---|");
        for ((phase, gate), g) in gates {
            let name = format!("{}/{}", p.phases[phase].name, p.phases[phase].gates[gate].name);
            let first = g.first_failure.map_or("—".to_string(), |t| clock(r.origin, t));
            let _ = writeln!(o, "| {name} | {} | {} | {} | {first} |", g.checks, g.failed, g.inconclusive);
        }
    }
    let _ = writeln!(o, "\n## When each rule fires over the whole recording\n");
    let _ = writeln!(
        o,
        "| rule | condition | firing episodes | first firing |{}",
        if r.labelled { " false alarms |" } else { "" }
    );
    let _ = writeln!(o, "|---|---|---:|---|{}", if r.labelled { "---:|" } else { "" });
    for (i, a) in r.alarms.iter().enumerate() {
        let first = a.episodes.first().map_or("never".to_string(), |e| clock(r.origin, e.0));
        let fa = if r.labelled { format!(" {} |", r.false_alarms[i]) } else { String::new() };
        let _ = writeln!(
            o,
            "| {} | {} {} {} | {} | {first} |{fa}",
            a.rule,
            a.metric,
            a.op.symbol(),
            fmt_value(a.metric, a.threshold),
            a.episodes.len()
        );
    }
    if !r.windows.is_empty() {
        let _ = writeln!(o, "\n## Labelled incident windows\n");
        let _ = writeln!(
            o,
            "Detection delay from the window's start to the first firing that began inside it; `missed` = no firing began inside the window; `already firing` = an alarm that began before the window was still on at its start (not a detection of this window).\n"
        );
        let head: Vec<&str> = r.alarms.iter().map(|a| a.rule.as_str()).collect();
        let _ = writeln!(o, "| window | {} |", head.join(" | "));
        let _ = writeln!(o, "|---|{}", "---|".repeat(head.len()));
        for w in &r.windows {
            let cells: Vec<String> = w
                .delays
                .iter()
                .zip(&w.already_firing)
                .map(|(d, already)| match (d, already) {
                    (Some(d), false) => d.to_string(),
                    (Some(d), true) => format!("{d} (already firing at the start)"),
                    (None, true) => "already firing (no new firing)".to_string(),
                    (None, false) => "missed".to_string(),
                })
                .collect();
            let _ =
                writeln!(o, "| {} → {} | {} |", clock(r.origin, w.start), clock(r.origin, w.end), cells.join(" | "));
        }
    }
    o
}

/// The replay JSON (schema 1); fields in alphabetical order, as the format has
/// always had them. Times are seconds since the recording's start.
#[derive(serde::Serialize)]
struct ReplayDoc<'a> {
    data: &'a str,
    decisions: Vec<DecisionDoc>,
    end_s: u64,
    gates: Vec<GateDoc>,
    origin_unix: i64,
    rules: Vec<RuleDoc<'a>>,
    schema: u32,
    warnings: &'a [String],
    windows: Vec<WindowDoc<'a>>,
}

#[derive(serde::Serialize)]
struct DecisionDoc {
    at_s: u64,
    decision: String,
}

#[derive(serde::Serialize)]
struct GateDoc {
    checks: u64,
    failed: u64,
    first_failure_s: Option<u64>,
    gate: String,
    inconclusive: u64,
}

#[derive(serde::Serialize)]
struct RuleDoc<'a> {
    episodes: Vec<[u64; 2]>,
    false_alarms: Option<usize>,
    metric: &'static str,
    op: &'static str,
    rule: &'a str,
    threshold: f64,
}

#[derive(serde::Serialize)]
struct WindowDoc<'a> {
    already_firing: &'a [bool],
    delays_s: Vec<Option<u64>>,
    end_s: u64,
    start_s: u64,
}

/// The JSON summary (schema 1); times are seconds since the recording's start.
pub fn json(r: &ReplayResult, p: &Policy, data: &str, warnings: &[String]) -> String {
    let doc = ReplayDoc {
        data,
        decisions: decisions(r, p).into_iter().map(|(t, decision)| DecisionDoc { at_s: t.0, decision }).collect(),
        end_s: r.end.0,
        gates: gate_counts(r)
            .iter()
            .map(|((ph, g), c)| GateDoc {
                checks: c.checks as u64,
                failed: c.failed as u64,
                first_failure_s: c.first_failure.map(|t| t.0),
                gate: format!("{}/{}", p.phases[*ph].name, p.phases[*ph].gates[*g].name),
                inconclusive: c.inconclusive as u64,
            })
            .collect(),
        origin_unix: r.origin,
        rules: r
            .alarms
            .iter()
            .enumerate()
            .map(|(i, a)| RuleDoc {
                episodes: a.episodes.iter().map(|e| [e.0 .0, e.1 .0]).collect(),
                false_alarms: if r.labelled { r.false_alarms.get(i).copied() } else { None },
                metric: a.metric.name(),
                op: a.op.symbol(),
                rule: &a.rule,
                threshold: a.threshold,
            })
            .collect(),
        schema: 1,
        warnings,
        windows: r
            .windows
            .iter()
            .map(|w| WindowDoc {
                already_firing: &w.already_firing,
                delays_s: w.delays.iter().map(|d| d.map(|d| d.0)).collect(),
                end_s: w.end.0,
                start_s: w.start.0,
            })
            .collect(),
    };
    serde_json::to_string_pretty(&doc).expect("the replay summary serialises") + "\n"
}

/// The replay timeline chart's data: the recorded series against the rules,
/// windows shaded, decisions marked (drawn by `report::charts::recording`).
pub fn timeline<'a>(
    r: &'a ReplayResult,
    policy: &crate::engine::Policy,
    title: String,
) -> crate::report::charts::RecordingTimeline<'a> {
    use crate::report::charts::{GateLine, RecordingTimeline, RuleLine};
    // Gates with a failed check: their limit at every check, their failed values.
    let mut gates: Vec<((usize, usize), GateLine)> = Vec::new();
    for e in &r.engine {
        if let EngineEvent::Check { at, phase, gate, value, limit, verdict, .. } = *e {
            let g = &policy.phases[phase].gates[gate];
            let entry = match gates.iter_mut().find(|x| x.0 == (phase, gate)) {
                Some(x) => &mut x.1,
                None => {
                    gates.push((
                        (phase, gate),
                        GateLine {
                            name: format!("gate:{}/{}", policy.phases[phase].name, g.name),
                            metric: g.metric,
                            group: g.group,
                            limits_h: Vec::new(),
                            failed_h: Vec::new(),
                        },
                    ));
                    &mut gates.last_mut().expect("just pushed").1
                }
            };
            if let Some(l) = limit {
                entry.limits_h.push((at.hours(), l));
            }
            if let (crate::engine::Verdict::Fail, Some(v)) = (verdict, value) {
                entry.failed_h.push((at.hours(), v));
            }
        }
    }
    RecordingTimeline {
        gates: gates.into_iter().map(|g| g.1).filter(|g| !g.failed_h.is_empty()).collect(),
        title,
        end_h: r.end.hours(),
        series: &r.chart,
        rules: r
            .alarms
            .iter()
            .map(|a| RuleLine {
                name: a.rule.clone(),
                metric: a.metric,
                group: a.group,
                threshold: a.threshold,
                episodes_h: a.episodes.iter().map(|e| (e.0.hours(), e.1.hours())).collect(),
            })
            .collect(),
        windows_h: r.windows.iter().map(|w| (w.start.hours(), w.end.hours())).collect(),
        decisions_h: r
            .engine
            .iter()
            .filter_map(|e| match e {
                EngineEvent::Decision(d) => {
                    Some((d.at.hours(), matches!(d.kind, DecisionKind::Rollback | DecisionKind::RollbackComplete)))
                }
                _ => None,
            })
            .collect(),
    }
}
