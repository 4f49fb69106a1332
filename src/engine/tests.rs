//! Table-driven engine tests: a scripted metric series in, the expected
//! decisions with their times out.

use super::*;

const MIN: u64 = 60;

/// A metric source driven by a function of (query, time).
struct Script<F: Fn(&Query, SimTime) -> Option<f64>>(F);

impl<F: Fn(&Query, SimTime) -> Option<f64>> MetricSource for Script<F> {
    fn query(&mut self, q: &Query, now: SimTime) -> Result<Sample, QueryError> {
        Ok(Sample { value: (self.0)(q, now), requests: Some(10_000) })
    }
}

fn rules(mode: EvalMode) -> CheckRules {
    CheckRules {
        every: SimDur::mins(15),
        mode,
        failure_limit: 0,
        consecutive_failure_limit: None,
        inconclusive_limit: 100,
        consecutive_error_limit: 4,
        min_requests: 100,
        on_failure: FailureAction::Rollback,
        on_inconclusive: FailureAction::Hold,
    }
}

fn gate(name: &str, metric: Metric, op: Cmp, limit: Limit) -> Gate {
    Gate {
        name: name.into(),
        metric,
        group: Group::Candidate,
        class: None,
        agg: metric.default_agg(),
        window: Window::Fixed(SimDur::mins(15)),
        op,
        limit,
        dry_run: false,
    }
}

fn error_gate(limit: f64) -> Gate {
    gate("error_rate", Metric::ErrorRate, Cmp::Lt, Limit::Absolute(limit))
}

fn phase(name: &str, weight: f64, bake_min: u64, gates: Vec<Gate>, mode: EvalMode) -> Phase {
    Phase {
        name: name.into(),
        weight,
        bake: SimDur::mins(bake_min),
        steps: vec![],
        gates,
        checks: rules(mode),
        approval: None,
    }
}

fn policy(phases: Vec<Phase>) -> Policy {
    Policy {
        phases,
        alerts: vec![],
        alert_every: SimDur::mins(1),
        triggers: vec![],
        rollback_duration: SimDur::mins(5),
        controller: Controller::Runbook,
    }
}

fn cond(metric: Metric, threshold: f64, window_min: u64) -> Condition {
    Condition {
        query: Query {
            metric,
            group: Group::Candidate,
            class: None,
            window: SimDur::mins(window_min),
            agg: metric.default_agg(),
        },
        op: Cmp::Gt,
        threshold,
        min_requests: 100,
    }
}

/// Drives the engine to the end (or 48 h) and returns every event.
fn drive<F: Fn(&Query, SimTime) -> Option<f64>>(policy: Policy, f: F) -> (Engine, Vec<EngineEvent>) {
    let mut events: Vec<EngineEvent> = Vec::new();
    let mut engine = Engine::start(Arc::new(policy), &mut events);
    let mut source = Script(f);
    while let Some(t) = engine.next_wakeup() {
        if t > SimTime(48 * 3600) {
            break;
        }
        engine.step(t, &mut source, &mut events);
    }
    (engine, events)
}

/// Decisions as (minutes, kind name, cause) for compact expectations.
fn decisions(engine: &Engine, events: &[EngineEvent]) -> Vec<(u64, &'static str, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Decision(d) => Some((d.at.0 / MIN, d.kind.name(), d.cause.describe(engine.policy()))),
            _ => None,
        })
        .collect()
}

fn check(policy: Policy, f: impl Fn(&Query, SimTime) -> Option<f64>, expected: &[(u64, &str, &str)]) {
    let (engine, events) = drive(policy, f);
    let got = decisions(&engine, &events);
    let want: Vec<(u64, &str, String)> = expected.iter().map(|(m, k, c)| (*m, *k, c.to_string())).collect();
    let got_ref: Vec<(u64, &str, String)> = got.iter().map(|(m, k, c)| (*m, *k, c.clone())).collect();
    assert_eq!(got_ref, want);
}

fn after(min: u64, before: f64, then: f64) -> impl Fn(&Query, SimTime) -> Option<f64> {
    move |_, t| Some(if t.0 >= min * MIN { then } else { before })
}

#[test]
fn healthy_candidate_is_promoted_through_every_phase() {
    let p = policy(vec![
        phase("a", 0.05, 60, vec![error_gate(0.01)], EvalMode::PhaseEnd),
        phase("b", 0.5, 30, vec![error_gate(0.01)], EvalMode::PhaseEnd),
    ]);
    check(p, after(0, 0.005, 0.005), &[(60, "promote", "criteria-met:a"), (90, "complete", "criteria-met:b")]);
}

#[test]
fn phase_end_mode_waits_for_the_decision_gate() {
    let p = policy(vec![phase("a", 0.05, 60, vec![error_gate(0.01)], EvalMode::PhaseEnd)]);
    check(
        p,
        after(30, 0.005, 0.02),
        &[(60, "rollback", "gate:a/error_rate"), (65, "rollback-complete", "rollback-finished")],
    );
}

#[test]
fn continuous_mode_fails_at_the_first_check_over_the_limit() {
    let p = policy(vec![phase("a", 0.05, 60, vec![error_gate(0.01)], EvalMode::Continuous)]);
    check(
        p,
        after(30, 0.005, 0.02),
        &[(30, "rollback", "gate:a/error_rate"), (35, "rollback-complete", "rollback-finished")],
    );
}

#[test]
fn failure_limit_is_strictly_exceeded() {
    let mut ph = phase("a", 0.05, 120, vec![error_gate(0.01)], EvalMode::Continuous);
    ph.checks.failure_limit = 2;
    // Failures at 30, 45, 60: the third exceeds a limit of 2.
    check(
        policy(vec![ph]),
        after(30, 0.0, 0.02),
        &[(60, "rollback", "gate:a/error_rate"), (65, "rollback-complete", "rollback-finished")],
    );
}

#[test]
fn consecutive_failure_limit_counts_runs_only() {
    let mut ph = phase("a", 0.05, 120, vec![error_gate(0.01)], EvalMode::Continuous);
    ph.checks.failure_limit = 100;
    ph.checks.consecutive_failure_limit = Some(1);
    // Alternating fail/pass every check never makes two in a row.
    let alternating = |_: &Query, t: SimTime| Some(if (t.0 / (15 * MIN)) % 2 == 1 { 0.02 } else { 0.0 });
    check(policy(vec![ph.clone()]), alternating, &[(120, "complete", "criteria-met:a")]);
    // Two in a row (at 60 and 75) exceed the limit of 1.
    check(
        policy(vec![ph]),
        after(60, 0.0, 0.02),
        &[(75, "rollback", "gate:a/error_rate"), (80, "rollback-complete", "rollback-finished")],
    );
}

#[test]
fn too_few_requests_is_inconclusive_never_pass() {
    struct Thin;
    impl MetricSource for Thin {
        fn query(&mut self, _: &Query, _: SimTime) -> Result<Sample, QueryError> {
            Ok(Sample { value: Some(0.0), requests: Some(10) })
        }
    }
    let mut ph = phase("a", 0.05, 60, vec![error_gate(0.01)], EvalMode::PhaseEnd);
    ph.checks.inconclusive_limit = 2;
    let mut events: Vec<EngineEvent> = Vec::new();
    let mut engine = Engine::start(Arc::new(policy(vec![ph])), &mut events);
    while let Some(t) = engine.next_wakeup() {
        engine.step(t, &mut Thin, &mut events);
        if matches!(engine.status(), Status::Held { .. }) {
            break;
        }
    }
    let verdicts: Vec<Verdict> = events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Check { verdict, .. } => Some(*verdict),
            _ => None,
        })
        .collect();
    assert_eq!(verdicts, vec![Verdict::Inconclusive; 4]);
    assert_eq!(decisions(&engine, &events), vec![(60, "hold", "inconclusive:a/error_rate".to_string())]);
    // Held: nothing but alerts and triggers would wake the engine again.
    assert_eq!(engine.next_wakeup(), Some(SimTime(61 * MIN)));
}

#[test]
fn dry_run_gates_are_recorded_but_never_acted_on() {
    let mut g = error_gate(0.01);
    g.dry_run = true;
    let p = policy(vec![phase("a", 0.05, 60, vec![g], EvalMode::Continuous)]);
    let (engine, events) = drive(p, after(0, 0.5, 0.5));
    let fails = events.iter().filter(|e| matches!(e, EngineEvent::Check { verdict: Verdict::Fail, .. })).count();
    assert_eq!(fails, 4);
    assert_eq!(decisions(&engine, &events), vec![(60, "complete", "criteria-met:a".to_string())]);
}

#[test]
fn relative_limits_compare_against_the_stable_group() {
    let g = gate("p99_vs_baseline", Metric::LatencyP99, Cmp::Le, Limit::BaselineRelative(0.10));
    let source = |cand: f64| move |q: &Query, _: SimTime| Some(if q.group == Group::Stable { 200.0 } else { cand });
    let p = || policy(vec![phase("a", 0.25, 30, vec![g.clone()], EvalMode::Continuous)]);
    check(p(), source(219.0), &[(30, "complete", "criteria-met:a")]);
    check(
        p(),
        source(221.0),
        &[(15, "rollback", "gate:a/p99_vs_baseline"), (20, "rollback-complete", "rollback-finished")],
    );
    // A shared-dependency incident raises both groups: the relative gate does not blame the candidate.
    let both = |_: &Query, t: SimTime| Some(if t.0 >= 10 * MIN { 900.0 } else { 200.0 });
    check(p(), both, &[(30, "complete", "criteria-met:a")]);
}

#[test]
fn trigger_rolls_back_within_one_interval_and_traffic_drains() {
    let mut p = policy(vec![phase("a", 0.05, 600, vec![error_gate(0.01)], EvalMode::PhaseEnd)]);
    p.triggers.push(Trigger {
        name: "error_rate".into(),
        condition: cond(Metric::ErrorRate, 0.05, 5),
        every: SimDur::mins(1),
    });
    let (engine, events) = drive(p, |_, t| Some(if t.0 >= 7 * MIN + 30 { 0.06 } else { 0.001 }));
    assert_eq!(
        decisions(&engine, &events),
        vec![
            (8, "rollback", "trigger:error_rate".to_string()),
            (13, "rollback-complete", "rollback-finished".to_string())
        ]
    );
    // Linear drain from 5% over 5 minutes, from the rollback at 8 min.
    let mut sink = Vec::<Decision>::new();
    let mut e = Engine::start(Arc::clone(engine.policy()), &mut sink);
    let mut src = Script(|_: &Query, t: SimTime| Some(if t.0 >= 8 * MIN { 0.06 } else { 0.0 }));
    while let Some(t) = e.next_wakeup() {
        e.step(t, &mut src, &mut sink);
        if matches!(e.status(), Status::RollingBack { .. }) {
            break;
        }
    }
    assert!((e.weight_at(SimTime(8 * MIN)) - 0.05).abs() < 1e-12);
    assert!((e.weight_at(SimTime(8 * MIN + 150)) - 0.025).abs() < 1e-12);
    assert_eq!(e.weight_at(SimTime(13 * MIN)), 0.0);
}

#[test]
fn alerts_go_pending_then_firing_then_resolved_and_critical_ones_fail_the_phase() {
    let mut p = policy(vec![phase(
        "a",
        0.05,
        60,
        vec![gate("critical_alerts", Metric::CriticalAlerts, Cmp::Le, Limit::Absolute(0.0))],
        EvalMode::PhaseEnd,
    )]);
    p.phases[0].gates[0].window = Window::Phase;
    p.alerts.push(AlertRule {
        name: "HighErrorRate".into(),
        condition: cond(Metric::ErrorRate, 0.05, 5),
        for_: SimDur::mins(5),
        severity: Severity::Critical,
        rollback: false,
    });
    // Bad between minute 10 and 20 only.
    let (engine, events) = drive(p, |_, t| Some(if (10 * MIN..20 * MIN).contains(&t.0) { 0.1 } else { 0.0 }));
    let alerts: Vec<(u64, AlertTransition)> = events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Alert { at, transition, .. } => Some((at.0 / MIN, *transition)),
            _ => None,
        })
        .collect();
    assert_eq!(
        alerts,
        vec![(10, AlertTransition::Pending), (15, AlertTransition::Firing), (20, AlertTransition::Resolved)]
    );
    assert_eq!(decisions(&engine, &events)[0], (60, "rollback", "gate:a/critical_alerts".to_string()));
}

#[test]
fn an_alert_set_to_roll_back_does_so_when_it_fires() {
    let mut p = policy(vec![phase("a", 0.05, 600, vec![], EvalMode::PhaseEnd)]);
    p.alerts.push(AlertRule {
        name: "RestartLoop".into(),
        condition: cond(Metric::Restarts, 5.0, 5),
        for_: SimDur::ZERO,
        severity: Severity::Critical,
        rollback: true,
    });
    check(
        p,
        after(42, 0.0, 6.0),
        &[(42, "rollback", "alert:RestartLoop"), (47, "rollback-complete", "rollback-finished")],
    );
}

#[test]
fn approval_delay_pauses_before_promotion() {
    let mut a = phase("a", 0.05, 60, vec![error_gate(0.01)], EvalMode::PhaseEnd);
    a.approval = Some(SimDur::mins(30));
    let p = policy(vec![a, phase("b", 1.0, 60, vec![], EvalMode::PhaseEnd)]);
    check(
        p,
        after(0, 0.0, 0.0),
        &[(60, "await-approval", "criteria-met:a"), (90, "promote", "approved:a"), (150, "complete", "criteria-met:b")],
    );
}

#[test]
fn extend_judges_again_then_rolls_back() {
    let mut a = phase("a", 0.05, 60, vec![error_gate(0.01)], EvalMode::PhaseEnd);
    a.checks.on_failure = FailureAction::Extend { by: SimDur::mins(30), max: 1 };
    // Bad throughout: extended once at 60, rolled back at 90.
    check(
        policy(vec![a.clone()]),
        after(0, 0.02, 0.02),
        &[
            (60, "extend", "gate:a/error_rate"),
            (90, "rollback", "gate:a/error_rate"),
            (95, "rollback-complete", "rollback-finished"),
        ],
    );
    // Bad only before 50 min: the extension's fresh checks pass.
    check(
        policy(vec![a]),
        |_, t| Some(if t.0 < 50 * MIN { 0.02 } else { 0.0 }),
        &[(60, "extend", "gate:a/error_rate"), (90, "complete", "criteria-met:a")],
    );
}

#[test]
fn deploy_step_moves_traffic_and_check_steps_count() {
    let mut a = phase("a", 0.05, 60, vec![error_gate(0.01)], EvalMode::Continuous);
    a.steps = vec![
        Step { at: SimDur::mins(5), action: StepAction::Deploy, label: "deploy".into() },
        Step { at: SimDur::mins(10), action: StepAction::Check, label: "verify".into() },
    ];
    let p = Arc::new(policy(vec![a]));
    let mut events: Vec<EngineEvent> = Vec::new();
    let mut e = Engine::start(Arc::clone(&p), &mut events);
    let mut src = Script(|_: &Query, t: SimTime| Some(if t.0 >= 10 * MIN { 0.02 } else { 0.0 }));
    assert_eq!(e.weight_at(SimTime(0)), 0.0);
    e.step(SimTime(5 * MIN), &mut src, &mut events);
    assert_eq!(e.weight_at(SimTime(5 * MIN)), 0.05);
    assert_eq!(e.next_wakeup(), Some(SimTime(6 * MIN)));
    while let Some(t) = e.next_wakeup() {
        e.step(t, &mut src, &mut events);
    }
    // The check step at 10 min fails before the first cadence check at 15.
    assert_eq!(decisions(&e, &events)[0], (10, "rollback", "gate:a/error_rate".to_string()));
}

#[test]
fn a_rollout_never_wakes_after_it_is_terminal() {
    let p = policy(vec![phase("a", 1.0, 15, vec![], EvalMode::PhaseEnd)]);
    let (engine, _) = drive(p, after(0, 0.0, 0.0));
    assert_eq!(engine.status(), Status::Completed);
    assert_eq!(engine.next_wakeup(), None);
    assert_eq!(engine.weight_at(SimTime(10_000)), 1.0);
}

#[test]
fn a_check_step_at_a_cadence_instant_is_one_check() {
    let mut a = phase("a", 0.05, 30, vec![error_gate(0.01)], EvalMode::PhaseEnd);
    a.steps = vec![Step { at: SimDur::mins(15), action: StepAction::Check, label: "verify".into() }];
    let (_, events) = drive(policy(vec![a]), after(0, 0.0, 0.0));
    let checks = events.iter().filter(|e| matches!(e, EngineEvent::Check { .. })).count();
    assert_eq!(checks, 2); // at 15 and 30 minutes
}

/// A source that fails every query whose metric is `failing` at the instants
/// `fails(t)` says, and otherwise answers like [`Script`].
struct Flaky<F: Fn(&Query, SimTime) -> Option<f64>, G: Fn(SimTime) -> bool> {
    script: Script<F>,
    failing: Metric,
    fails: G,
}

impl<F: Fn(&Query, SimTime) -> Option<f64>, G: Fn(SimTime) -> bool> MetricSource for Flaky<F, G> {
    fn query(&mut self, q: &Query, now: SimTime) -> Result<Sample, QueryError> {
        if q.metric == self.failing && (self.fails)(now) {
            return Err(QueryError("backend timed out".into()));
        }
        self.script.query(q, now)
    }
}

fn drive_flaky(policy: Policy, fails: impl Fn(SimTime) -> bool) -> (Engine, Vec<EngineEvent>) {
    let mut events: Vec<EngineEvent> = Vec::new();
    let mut engine = Engine::start(Arc::new(policy), &mut events);
    let mut source = Flaky { script: Script(|_: &Query, _: SimTime| Some(0.0)), failing: Metric::ErrorRate, fails };
    while let Some(t) = engine.next_wakeup() {
        if t > SimTime(48 * 3600) {
            break;
        }
        engine.step(t, &mut source, &mut events);
    }
    (engine, events)
}

#[test]
fn start_reports_the_first_phase_and_its_traffic() {
    let mut events: Vec<EngineEvent> = Vec::new();
    let p = policy(vec![phase("a", 0.05, 60, vec![error_gate(0.01)], EvalMode::PhaseEnd)]);
    let engine = Engine::start(Arc::new(p), &mut events);
    assert_eq!(
        events,
        vec![
            EngineEvent::PhaseStarted { at: SimTime::ZERO, phase: 0 },
            EngineEvent::WeightChanged { at: SimTime::ZERO, weight: 0.05 }
        ]
    );
    assert_eq!(engine.weight_at(SimTime::ZERO), 0.05);
}

#[test]
fn gate_errors_act_after_more_consecutive_errors_than_the_limit() {
    // Checks every 5 minutes; the error-rate query fails from minute 20 on.
    let mut a = phase("a", 0.05, 120, vec![error_gate(0.01)], EvalMode::Continuous);
    a.checks.every = SimDur::mins(5);
    let (engine, events) = drive_flaky(policy(vec![a.clone()]), |t| t.0 >= 20 * MIN);
    // Errors at 20, 25, 30, 35 are the limit (4); the fifth, at 40, exceeds it.
    assert_eq!(
        decisions(&engine, &events),
        vec![
            (40, "rollback", "error:a/error_rate".to_string()),
            (45, "rollback-complete", "rollback-finished".to_string())
        ]
    );
    let errors = events.iter().filter(|e| matches!(e, EngineEvent::Check { verdict: Verdict::Error, .. })).count();
    assert_eq!(errors, 5);

    // Four errors, one answered query, four errors: the count restarts, nothing acts.
    let (engine, _) = drive_flaky(policy(vec![a.clone()]), |t| {
        let m = t.0 / MIN;
        (20..=35).contains(&m) || (45..=60).contains(&m)
    });
    assert_eq!(engine.status(), Status::Completed);

    // A limit of 0: the first error acts. Errors neither pass nor fail: the
    // phase-end gate of a policy that never saw an error would have passed.
    a.checks.consecutive_error_limit = 0;
    a.checks.mode = EvalMode::PhaseEnd;
    let (engine, events) = drive_flaky(policy(vec![a]), |t| t.0 == 20 * MIN);
    assert_eq!(decisions(&engine, &events)[0], (120, "rollback", "error:a/error_rate".to_string()));
}

#[test]
fn a_failed_rule_query_is_no_evaluation_and_an_alert_keeps_its_state() {
    let mut p = policy(vec![phase("a", 0.05, 240, vec![], EvalMode::PhaseEnd)]);
    p.alerts.push(AlertRule {
        name: "errors".into(),
        condition: cond(Metric::ErrorRate, 0.01, 5),
        for_: SimDur::mins(10),
        severity: Severity::Critical,
        rollback: true,
    });
    p.triggers.push(Trigger {
        name: "errors".into(),
        condition: cond(Metric::ErrorRate, 0.5, 5),
        every: SimDur::mins(1),
    });
    let mut events: Vec<EngineEvent> = Vec::new();
    let mut engine = Engine::start(Arc::new(p), &mut events);
    // Above the alert's threshold from minute 30; every query fails in minutes 35..=38.
    let mut source = Flaky {
        script: Script(|_: &Query, t: SimTime| Some(if t.0 >= 30 * MIN { 0.02 } else { 0.0 })),
        failing: Metric::ErrorRate,
        fails: |t: SimTime| (35 * MIN..=38 * MIN).contains(&t.0),
    };
    while let Some(t) = engine.next_wakeup() {
        engine.step(t, &mut source, &mut events);
    }
    // Pending at 30 survives the failed evaluations: firing at 40, as without them.
    assert_eq!(decisions(&engine, &events)[0], (40, "rollback", "alert:errors".to_string()));
    let failed: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::QueryFailed { at, rule } => Some((at.0 / MIN, *rule)),
            _ => None,
        })
        .collect();
    let expected: Vec<_> = (35..=38).flat_map(|m| [(m, RuleRef::Trigger(0)), (m, RuleRef::Alert(0))]).collect();
    assert_eq!(failed, expected);
}

/// A policy that exercises every piece of state: steps, cadence checks,
/// extensions, alerts pending and firing, triggers, approval.
fn stateful_policy() -> Policy {
    let mut a = phase(
        "a",
        0.05,
        60,
        vec![error_gate(0.01), gate("p99", Metric::LatencyP99, Cmp::Lt, Limit::Absolute(500.0))],
        EvalMode::PhaseEnd,
    );
    a.steps = vec![
        Step { at: SimDur::mins(5), action: StepAction::Deploy, label: "deploy".into() },
        Step { at: SimDur::mins(20), action: StepAction::Check, label: "verify".into() },
    ];
    a.checks.failure_limit = 1;
    a.checks.on_failure = FailureAction::Extend { by: SimDur::mins(30), max: 2 };
    a.approval = Some(SimDur::mins(7));
    let b = phase("b", 0.5, 90, vec![error_gate(0.02)], EvalMode::Continuous);
    let mut p = policy(vec![a, b]);
    p.alerts.push(AlertRule {
        name: "slow".into(),
        condition: cond(Metric::LatencyP99, 450.0, 5),
        for_: SimDur::mins(4),
        severity: Severity::Warning,
        rollback: false,
    });
    p.triggers.push(Trigger {
        name: "errors".into(),
        condition: cond(Metric::ErrorRate, 0.2, 5),
        every: SimDur::mins(2),
    });
    p
}

/// Noisy but deterministic values: failures in phase a (extensions), slow spells.
fn stateful_script(q: &Query, t: SimTime) -> Option<f64> {
    let m = t.0 / MIN;
    match q.metric {
        Metric::ErrorRate => Some(if (15..=25).contains(&m) || (50..=52).contains(&m) { 0.015 } else { 0.004 }),
        _ => Some(if m % 23 < 6 { 480.0 } else { 300.0 }),
    }
}

#[test]
fn a_restored_snapshot_continues_exactly_as_the_original() {
    let p = Arc::new(stateful_policy());
    let mut all: Vec<EngineEvent> = Vec::new();
    let mut whole = Engine::start(Arc::clone(&p), &mut all);
    let mut times = Vec::new();
    while let Some(t) = whole.next_wakeup() {
        times.push(t);
        whole.step(t, &mut Script(stateful_script), &mut all);
    }
    assert!(all.iter().any(|e| matches!(e, EngineEvent::Decision(Decision { kind: DecisionKind::Extend { .. }, .. }))));
    assert!(all.iter().any(|e| matches!(e, EngineEvent::Alert { transition: AlertTransition::Firing, .. })));
    // Stop after every wake-up in turn, save through JSON, restore, continue.
    for k in 0..times.len() {
        let mut events: Vec<EngineEvent> = Vec::new();
        let mut e = Engine::start(Arc::clone(&p), &mut events);
        for &t in &times[..k] {
            e.step(t, &mut Script(stateful_script), &mut events);
        }
        let json = serde_json::to_string(&e.snapshot()).unwrap();
        let snap: EngineSnapshot = serde_json::from_str(&json).unwrap();
        let mut r = Engine::restore(Arc::clone(&p), &snap).unwrap();
        assert_eq!(r.snapshot(), e.snapshot(), "split {k}");
        while let Some(t) = r.next_wakeup() {
            r.step(t, &mut Script(stateful_script), &mut events);
        }
        assert_eq!(events, all, "split after wake-up {k}");
        assert_eq!(r.status(), whole.status());
    }
}

#[test]
fn a_snapshot_is_refused_under_another_policy_or_version() {
    let p = Arc::new(stateful_policy());
    let e = Engine::start(Arc::clone(&p), &mut Vec::<EngineEvent>::new());
    let mut snap = e.snapshot();
    let mut other = stateful_policy();
    other.phases[1].gates.push(error_gate(0.5));
    assert!(matches!(Engine::restore(Arc::new(other), &snap), Err(SnapshotError::Policy(_))));
    snap.version = 2;
    assert_eq!(Engine::restore(Arc::clone(&p), &snap).unwrap_err(), SnapshotError::Version { found: 2 });
    let mut snap = e.snapshot();
    snap.status = snapshot::StatusDto::InPhase { phase: 7 };
    assert!(matches!(Engine::restore(p, &snap), Err(SnapshotError::Invalid(_))));
    // Unknown fields are refused, not ignored.
    let mut json: serde_json::Value = serde_json::to_value(e.snapshot()).unwrap();
    json["surprise"] = 1.into();
    assert!(serde_json::from_value::<EngineSnapshot>(json).is_err());
}

#[test]
fn a_run_of_failures_beyond_its_limit_fails_the_phase_end_gate_even_after_passes() {
    let mut a = phase("a", 0.05, 60, vec![error_gate(0.01)], EvalMode::PhaseEnd);
    a.checks.failure_limit = 100;
    a.checks.consecutive_failure_limit = Some(1);
    // Failed checks at 15 and 30 (a run of 2 > 1), passes at 45 and 60.
    check(
        policy(vec![a]),
        |_, t| Some(if t.0 <= 30 * MIN { 0.02 } else { 0.0 }),
        &[(60, "rollback", "gate:a/error_rate"), (65, "rollback-complete", "rollback-finished")],
    );
}

/// A scripted source that counts how it is asked, and fails a query now and then.
struct Counting<F: Fn(&Query, SimTime) -> Option<f64>> {
    f: F,
    queries: usize,
    compares: usize,
}

impl<F: Fn(&Query, SimTime) -> Option<f64>> MetricSource for Counting<F> {
    fn query(&mut self, q: &Query, now: SimTime) -> Result<Sample, QueryError> {
        self.queries += 1;
        if (now.0 / MIN) % 45 == 30 {
            return Err(QueryError("backend timed out".into()));
        }
        // Thin data in the first quarter hour of every third hour.
        let requests = if (now.0 / MIN) % 180 < 15 { 40 } else { 10_000 };
        Ok(Sample { value: (self.f)(q, now), requests: Some(requests) })
    }

    fn compare(&mut self, q: &Query, now: SimTime, cmp: Cmp, limit: f64) -> Result<Compared, QueryError> {
        self.compares += 1;
        self.queries -= 1; // the default asks `query`: counted as a comparison only
        Ok(self.query(q, now)?.compared(cmp, limit))
    }
}

/// Every event, and whether measured values are asked for.
struct Sink(Vec<EngineEvent>, bool);

impl EventSink for Sink {
    fn event(&mut self, e: EngineEvent) {
        self.0.push(e);
    }
    fn needs_values(&self) -> bool {
        self.1
    }
}

#[test]
fn a_sink_that_needs_no_values_gets_the_same_decisions_from_comparisons() {
    let mut a = phase(
        "a",
        0.05,
        6 * 60,
        vec![
            error_gate(0.01),
            gate("p99", Metric::LatencyP99, Cmp::Le, Limit::Absolute(500.0)),
            gate("degradation", Metric::LatencyP99, Cmp::Le, Limit::BaselineRelative(0.1)),
        ],
        EvalMode::Continuous,
    );
    a.checks.failure_limit = 6;
    a.checks.inconclusive_limit = 1000;
    a.checks.consecutive_error_limit = 1000;
    let mut p = policy(vec![a]);
    p.triggers.push(Trigger {
        name: "p99".into(),
        condition: cond(Metric::LatencyP99, 2000.0, 2),
        every: SimDur::mins(1),
    });
    p.alerts.push(AlertRule {
        name: "HighLatency".into(),
        condition: cond(Metric::LatencyP99, 450.0, 5),
        for_: SimDur::mins(3),
        severity: Severity::Critical,
        rollback: false,
    });
    // Latency that wanders across the limits, candidate above stable, and a spike.
    let f = |q: &Query, t: SimTime| {
        let m = (t.0 / MIN) as f64;
        let base = 300.0 + 250.0 * (m / 23.0).sin();
        Some(match (q.metric, q.group) {
            (Metric::LatencyP99, Group::Candidate) if (200.0..203.0).contains(&m) => 2500.0,
            (Metric::LatencyP99, Group::Candidate) => base * 1.05,
            (Metric::LatencyP99, _) => base,
            _ => 0.002 + 0.01 * (m / 31.0).sin().max(0.0),
        })
    };
    let mut runs = Vec::new();
    for needs_values in [true, false] {
        let mut sink = Sink(Vec::new(), needs_values);
        let mut engine = Engine::start(Arc::new(p.clone()), &mut sink);
        let mut source = Counting { f, queries: 0, compares: 0 };
        while let Some(t) = engine.next_wakeup() {
            if t > SimTime(48 * 3600) {
                break;
            }
            engine.step(t, &mut source, &mut sink);
        }
        runs.push((engine, sink.0, source.queries, source.compares));
    }
    let (with, without) = (&runs[0], &runs[1]);
    assert_eq!((with.3, without.2 > 0), (0, true), "values: only queries; none: comparisons, and baselines by query");
    assert!(without.3 > 400, "{} comparisons", without.3);
    // Stripped of values, the events are the same, decisions first.
    assert_eq!(decisions(&with.0, &with.1), decisions(&without.0, &without.1));
    assert!(decisions(&with.0, &with.1).iter().any(|d| d.1 == "rollback"), "{:?}", decisions(&with.0, &with.1));
    let strip = |events: &[EngineEvent]| -> Vec<EngineEvent> {
        events
            .iter()
            .map(|e| match *e {
                EngineEvent::Check { at, phase, gate, requests, verdict, .. } => {
                    EngineEvent::Check { at, phase, gate, value: None, limit: None, requests, verdict }
                }
                EngineEvent::Alert { at, alert, transition, .. } => {
                    EngineEvent::Alert { at, alert, transition, value: None }
                }
                EngineEvent::TriggerEvaluated { at, trigger, fired, .. } => {
                    EngineEvent::TriggerEvaluated { at, trigger, value: None, fired }
                }
                e => e,
            })
            .collect()
    };
    assert_eq!(strip(&with.1), strip(&without.1));
    let verdicts =
        |v: Verdict| with.1.iter().filter(|e| matches!(e, EngineEvent::Check { verdict, .. } if *verdict == v)).count();
    assert!(verdicts(Verdict::Pass) > 0 && verdicts(Verdict::Fail) > 0, "both verdicts");
    assert!(verdicts(Verdict::Inconclusive) > 0 && verdicts(Verdict::Error) > 0, "thin data and failed queries");
    // Without values, an absolute limit's check carries none; a baseline's is measured.
    for e in &without.1 {
        if let EngineEvent::Check { gate, value, verdict: Verdict::Pass | Verdict::Fail, .. } = e {
            assert_eq!(value.is_some(), *gate == 2, "{e:?}");
        }
    }
}
