//! Field documentation and the wording of field errors: the documented
//! defaults (`rollsim scenario --explain`, README.md) and, for a value of the
//! wrong shape, a message that names the field and shows an example.

/// Documented defaults of every optional field, as (field, default, meaning).
/// `rollsim scenario --explain` prints this table; README.md shows it too.
pub const FIELD_DOCS: &[(&str, &str, &str)] = &[
    ("name", "(required)", "scenario name, used in report paths"),
    ("description", "\"\"", "free text"),
    ("fleet.instances", "100", "instances in the fleet; the candidate gets ceil(weight × instances)"),
    ("fleet.metrics", "generic", "how the fleet's series are named for PromQL: `generic`, `istio`, `linkerd` or `nginx` (README: PromQL)"),
    ("fleet.scrape_interval", "15s", "metric scrape interval; every engine duration must be a multiple of it"),
    ("fleet.restart_time", "2m", "how long a restarted instance is unavailable"),
    ("traffic.requests_per_second", "200", "mean total request rate over a day"),
    ("traffic.diurnal_amplitude", "30%", "relative amplitude of the daily cycle"),
    ("traffic.peak_hour", "14", "hour of day (0-24) of peak traffic"),
    ("traffic.start_hour", "13.55", "hour of day at which the rollout starts"),
    ("traffic.noise", "5%", "relative s.d. of per-minute rate noise"),
    ("traffic.classes", "[]", "request classes {name, share}; the rest of traffic is class `other`"),
    ("health.error_rate", "0.1%", "stable error rate"),
    ("health.latency_p50", "80ms", "stable median latency (log-normal latency model)"),
    ("health.latency_p99", "200ms", "stable p99 latency"),
    ("health.cpu", "40%", "mean CPU utilisation per instance"),
    ("health.cpu_spread", "4%", "s.d. of CPU utilisation across instances and scrapes"),
    ("health.memory", "50%", "mean memory utilisation per instance"),
    ("health.memory_spread", "2%", "s.d. of memory utilisation"),
    ("health.db_pool", "40%", "DB connection-pool utilisation at mean load"),
    ("health.cache_hit_ratio", "95%", "cache hit ratio"),
    ("health.user_report_probability", "0.1%", "chance that a failed request leads to a user report"),
    ("health.user_report_delay", "30m", "delay from failure to user report"),
    ("health.slo_latency", "1s", "requests slower than this are slow (excess-slow counts)"),
    ("health.slo_target", "99.9%", "30-day availability SLO (error-budget burn)"),
    ("policy.alert_every", "1m", "evaluation interval of alert rules"),
    ("policy.checks.every", "15m", "check cadence (0 = only at check steps and phase end)"),
    ("policy.checks.mode", "phase-end", "`phase-end` (decision gate) or `continuous`"),
    ("policy.checks.failure_limit", "0", "a gate fails when its failed checks exceed this"),
    ("policy.checks.consecutive_failure_limit", "(none)", "a gate fails when consecutive failures exceed this"),
    (
        "policy.checks.consecutive_error_limit",
        "4",
        "a gate errs (acted on like a failure) when more consecutive checks than this cannot query their metric",
    ),
    ("policy.checks.inconclusive_limit", "0", "a gate is inconclusive when inconclusive checks exceed this"),
    ("policy.checks.min_requests", "100", "fewer requests in a window = inconclusive"),
    ("policy.checks.on_failure", "rollback", "`rollback`, `hold` or `extend`"),
    ("policy.checks.on_inconclusive", "hold", "`rollback`, `hold` or `extend`"),
    ("policy.checks.extend_by", "1h", "extension length for `extend`"),
    ("policy.checks.max_extensions", "1", "extensions before `extend` rolls back"),
    ("policy.phases[].name", "(required)", "phase name, unique; used in rule names such as `gate:canary/error_rate`"),
    ("policy.phases[].weight", "(required)", "the candidate's traffic share in this phase (`5%`); never decreasing"),
    ("policy.phases[].bake", "(required)", "how long the phase runs before its decision gate"),
    ("policy.phases[].checks.*", "policy.checks.*", "per-phase overrides of the check rules"),
    ("policy.phases[].approval", "(none)", "simulated manual-approval delay before promotion"),
    ("policy.phases[].steps[].at", "(required)", "when the step runs, from the phase start"),
    ("policy.phases[].steps[].action", "(required)", "`deploy`, `shift`, `check` or `mark`"),
    ("policy.phases[].steps[].label", "\"\"", "free text shown in traces"),
    ("policy.phases[].gates.NAME.metric", "NAME", "metric the gate reads"),
    ("policy.phases[].gates.NAME.query", "(none)", "PromQL instead of `metric`: its scalar or single-series result is judged; `{{version}}`, `{{target}}`, `{{namespace}}`, `{{interval}}` (the window) and policy.query_vars are substituted per group (README: PromQL)"),
    ("policy.phases[].gates.NAME.scope", "candidate", "`candidate` or `stable`"),
    ("policy.phases[].gates.NAME.class", "(all)", "restrict to one request class"),
    ("policy.phases[].gates.NAME.agg", "per metric", "`window`, `avg`, `max`, `min`, `last`, `increase`"),
    ("policy.phases[].gates.NAME.window", "check cadence", "a duration, or `phase` (since traffic moved)"),
    ("policy.phases[].gates.NAME.op", "<", "comparison that must hold to pass"),
    ("policy.phases[].gates.NAME.limit", "(required)", "`1%`, `500ms`, `0`, `baseline + 10%`, `baseline + 50ms`"),
    ("policy.phases[].gates.NAME.dry_run", "false", "record verdicts without acting on them"),
    ("policy.alerts.NAME.*", "see triggers", "metric or query, scope, class, agg, window, op, threshold, min_requests"),
    ("policy.alerts.NAME.for", "0s", "how long the condition holds before firing"),
    ("policy.alerts.NAME.severity", "warning", "`info`, `warning` or `critical`"),
    ("policy.alerts.NAME.rollback", "false", "a firing alert rolls back at once"),
    ("policy.query_vars.NAME", "(none)", "a template variable of PromQL rules: `{{NAME}}` in a query becomes this text"),
    ("policy.rollback.duration", "5m", "rollback time; candidate traffic drains linearly to 0"),
    ("policy.rollback.triggers.NAME.metric", "NAME", "metric the trigger reads"),
    ("policy.rollback.triggers.NAME.query", "(none)", "PromQL instead of `metric` (as for gates; `{{interval}}` is the window)"),
    ("policy.rollback.triggers.NAME.scope", "candidate", "`candidate` or `stable`"),
    ("policy.rollback.triggers.NAME.class", "(all)", "restrict to one request class"),
    ("policy.rollback.triggers.NAME.agg", "per metric", "`window`, `avg`, `max`, `min`, `last`, `instant`, `increase`"),
    ("policy.rollback.triggers.NAME.op", ">", "comparison that fires"),
    ("policy.rollback.triggers.NAME.threshold", "(required)", "the value the comparison is against (`5%`, `2000ms`, `3`)"),
    ("policy.rollback.triggers.NAME.min_requests", "policy.checks.min_requests", "fewer requests in the window = never fires"),
    ("policy.rollback.triggers.NAME.window", "5m", "window of the trigger's query"),
    ("policy.rollback.triggers.NAME.every", "1m", "evaluation cadence"),
    ("faults[].name", "the kind", "label in reports; unique"),
    ("faults[].class", "(all)", "error-rate faults: hit only this request class (a partial fault)"),
    ("faults[].error_rate", "per kind", "added error rate (`2%`): error-rate, load-dependent, intermittent, shared-dependency"),
    ("faults[].error_factor", "(none)", "error-rate: multiplies the stable error rate"),
    ("faults[].latency_shift", "(none)", "latency, shared-dependency: added latency (`50ms`)"),
    ("faults[].latency_scale", "(none)", "latency: multiplies every latency"),
    ("faults[].slow_share", "(none)", "latency: share of requests made slow (a heavier tail)"),
    ("faults[].slow_latency", "2500ms", "latency: median latency of the slow requests"),
    ("faults[].leak_per_hour", "(required)", "memory-leak: memory growth per hour; OOM-kill and restart at 100%"),
    ("faults[].crashes_per_hour", "(required)", "crash-loop: crashes per candidate instance per hour"),
    ("faults[].cpu_added", "(required)", "cpu: added CPU utilisation"),
    ("faults[].min_weight", "25%", "load-dependent: errors only while the candidate's share is at least this"),
    ("faults[].burst_every", "1h", "intermittent: time between error bursts"),
    ("faults[].burst_length", "5m", "intermittent: length of a burst"),
    ("faults[].drift_per_hour", "(required)", "drift: error-rate growth per hour after onset"),
    ("faults[].duration", "1h", "shared-dependency: how long the outside incident lasts"),
    ("faults[].kind", "(required)", "none, error-rate, latency, memory-leak, crash-loop, cpu, load-dependent, intermittent, drift, shared-dependency, recorded"),
    ("faults[].weight", "(required)", "relative weight in the mix"),
    ("faults[].onset", "0s", "delay after the first deployment, `a..b` uniform"),
    ("faults[].<magnitude>", "per kind", "every magnitude is a value or `lo..hi` (drawn uniformly per trial)"),
    ("faults[].data", "(recorded)", "recording whose shape the fault replays, relative to the scenario file"),
    ("faults[].metric", "error_rate", "recorded metric: error_rate, latency_p99 or cpu"),
    ("faults[].scale", "1", "share of the recorded deviation from its median to apply, `lo..hi` allowed"),
    ("simulation.tick", "1m", "the simulated world's time grid (a multiple of fleet.scrape_interval); traffic noise, counts and gauges are drawn per tick, so every query window must be a multiple of it; policy instants between ticks see the last completed tick"),
    ("simulation.time_limit", "72h", "simulated time cap per trial (outcome: held)"),
    ("simulation.max_events", "10000000", "event cap per trial"),
    ("simulation.trials", "1000", "default trial count"),
    ("simulation.seed", "1", "default master seed"),
];

/// The field path as the user wrote it (serde's span wrapper removed).
pub(super) fn user_path(path: &str) -> String {
    let p = path.replace(".$__serde_spanned_private_value", "").replace("$__serde_spanned_private_value", "");
    if p == "." {
        String::new()
    } else {
        p
    }
}

/// What a field's value looks like, by the field's name.
fn example_for(field: &str) -> Option<(&'static str, &'static str)> {
    let last = field.rsplit('.').next().unwrap_or(field);
    let last = last.split('[').next().unwrap_or(last);
    const PERCENT: &[&str] = &[
        "weight",
        "threshold",
        "limit",
        "error_rate",
        "cpu",
        "memory",
        "share",
        "noise",
        "diurnal_amplitude",
        "cpu_spread",
        "memory_spread",
        "db_pool",
        "cache_hit_ratio",
        "user_report_probability",
        "slo_target",
        "cpu_added",
        "min_weight",
        "slow_share",
        "leak_per_hour",
        "drift_per_hour",
    ];
    const DURATION: &[&str] = &[
        "every",
        "window",
        "bake",
        "duration",
        "time_limit",
        "onset",
        "for",
        "at",
        "approval",
        "extend_by",
        "tick",
        "scrape_interval",
        "restart_time",
        "user_report_delay",
        "alert_every",
        "burst_every",
        "burst_length",
    ];
    const LATENCY: &[&str] = &["latency_p50", "latency_p99", "slo_latency", "latency_shift", "slow_latency"];
    if PERCENT.contains(&last) {
        Some(("a percentage", "\"1%\""))
    } else if DURATION.contains(&last) {
        Some(("a duration", "\"15m\""))
    } else if LATENCY.contains(&last) {
        Some(("a latency", "\"500ms\""))
    } else {
        None
    }
}

/// Rewrites serde's type errors in the user's terms: what was expected, with an
/// example, what was found, and how to write it.
pub(super) fn friendly_message(field: &str, msg: &str) -> String {
    let Some(rest) = msg.strip_prefix("invalid type: ") else { return msg.to_string() };
    let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
    let value = found.split('`').nth(1).unwrap_or("");
    let found_text = if found.starts_with("floating point") || found.starts_with("integer") {
        format!("the number {value}")
    } else if found.starts_with("boolean") {
        format!("the boolean {value}")
    } else {
        found.to_string()
    };
    match (expected, example_for(field)) {
        ("a string", Some((what, example))) => {
            let hint = match (what, value.parse::<f64>()) {
                ("a percentage", Ok(v)) if v <= 1.0 => {
                    format!(" — write \"{}\"", crate::units::format_percent(v))
                }
                ("a percentage", Ok(v)) => format!(" — write \"{v}%\""),
                ("a duration", Ok(v)) => format!(" — write it with a unit, e.g. \"{v}s\" or \"{v}m\""),
                ("a latency", Ok(v)) => format!(" — write \"{v}ms\""),
                _ => String::new(),
            };
            format!("expected {what} such as {example} (in quotes, with its unit), found {found_text}{hint}")
        }
        ("a string", None) => format!("expected text in quotes, found {found_text}"),
        (e, _) if e.starts_with('i') || e.starts_with('u') || e == "an integer" => {
            format!("expected a whole number such as 100, found {found_text}")
        }
        (e, _) => format!("expected {e}, found {found_text}"),
    }
}
