//! Argo Rollouts and Flagger semantics, one rule a test, against scripted
//! answers (a function of the metric and the time).

use super::argo::{ArgoMetric, ArgoPolicy, ArgoStep, Background, ManualDecision, MeasureBy};
use super::expr::Expr;
use super::flagger::{FlaggerMetric, FlaggerPolicy};
use super::*;

type Script = Box<dyn FnMut(u16, u64) -> Result<Answer, QueryError>>;

struct Scripted(Script);

impl MetricSource for Scripted {
    fn query(&mut self, _: &Query, _: SimTime) -> Result<Sample, QueryError> {
        unreachable!("controllers ask for whole answers")
    }
    fn query_answer(&mut self, q: &Query, now: SimTime) -> Result<Answer, QueryError> {
        let Metric::Query(i) = q.metric else { panic!("not a query metric") };
        (self.0)(i, now.0)
    }
}

fn vector(x: f64) -> Result<Answer, QueryError> {
    Ok(Answer::Vector(vec![x]))
}

fn shell(controller: Controller, phases: usize) -> Policy {
    let phases = (0..phases)
        .map(|i| Phase {
            name: format!("p{i}"),
            weight: 0.0,
            bake: SimDur::ZERO,
            steps: vec![],
            gates: vec![],
            checks: CheckRules {
                every: SimDur::ZERO,
                mode: EvalMode::Continuous,
                failure_limit: 0,
                consecutive_failure_limit: None,
                inconclusive_limit: 0,
                consecutive_error_limit: 4,
                min_requests: 0,
                on_failure: FailureAction::Rollback,
                on_inconclusive: FailureAction::Rollback,
            },
            approval: None,
        })
        .collect();
    Policy {
        phases,
        alerts: vec![],
        alert_every: SimDur::mins(1),
        triggers: vec![],
        rollback_duration: SimDur::ZERO,
        controller,
    }
}

fn metric(name: &str, q: u16, success: Option<&str>, failure: Option<&str>) -> ArgoMetric {
    ArgoMetric {
        name: name.into(),
        by: MeasureBy::Query(Metric::Query(q)),
        success: success.map(|s| Expr::parse(s).unwrap()),
        failure: failure.map(|s| Expr::parse(s).unwrap()),
        initial_delay: SimDur::ZERO,
        interval: None,
        count: None,
        failure_limit: Some(0),
        inconclusive_limit: 0,
        consecutive_error_limit: 4,
        consecutive_success_limit: 0,
        dry_run: false,
    }
}

fn argo(steps: Vec<ArgoStep>, metrics: Vec<ArgoMetric>, background: Option<Background>) -> Policy {
    let n = steps.len();
    shell(
        Controller::Argo(ArgoPolicy {
            steps,
            metrics,
            background,
            manual_delay: SimDur::mins(30),
            on_inconclusive: ManualDecision::Abort,
        }),
        n,
    )
}

/// Runs to the end (or `limit` seconds); returns every event.
fn drive(policy: Policy, script: Script, limit: u64) -> Vec<EngineEvent> {
    let mut events = Vec::new();
    let mut src = Scripted(script);
    let mut e = Engine::start(Arc::new(policy), &mut events);
    while let Some(t) = e.next_wakeup() {
        if t.0 > limit {
            break;
        }
        e.step(t, &mut src, &mut events);
    }
    events
}

fn checks(ev: &[EngineEvent]) -> Vec<(u64, usize, Verdict)> {
    ev.iter()
        .filter_map(|e| match e {
            EngineEvent::Check { at, gate, verdict, .. } => Some((at.0, *gate, *verdict)),
            _ => None,
        })
        .collect()
}

fn decisions(ev: &[EngineEvent]) -> Vec<(u64, &'static str, Cause)> {
    ev.iter()
        .filter_map(|e| match e {
            EngineEvent::Decision(d) => Some((d.at.0, d.kind.name(), d.cause)),
            _ => None,
        })
        .collect()
}

fn last(ev: &[EngineEvent]) -> (u64, &'static str, Cause) {
    *decisions(ev).iter().rfind(|d| d.1 != "rollback-complete").unwrap()
}

fn analysis_step(m: ArgoMetric) -> Policy {
    argo(vec![ArgoStep::SetWeight(0.2), ArgoStep::Analysis(vec![0]), ArgoStep::SetWeight(0.5)], vec![m], None)
}

#[test]
fn argo_measures_at_initial_delay_then_every_interval_until_count() {
    let mut m = metric("sr", 0, Some("result[0] > 0.9"), None);
    m.initial_delay = SimDur::secs(60);
    m.interval = Some(SimDur::secs(20));
    m.count = Some(3);
    let ev = drive(analysis_step(m), Box::new(|_, _| vector(0.95)), 10_000);
    let at: Vec<u64> = checks(&ev).iter().map(|c| c.0).collect();
    assert_eq!(at, [60, 80, 100]);
    // The step ends when the run is Successful; the next step then runs at once.
    assert_eq!(last(&ev), (100, "complete", Cause::CriteriaMet { phase: 2 }));
}

#[test]
fn argo_without_count_or_interval_measures_once() {
    let m = metric("sr", 0, Some("result[0] > 0.9"), None);
    let ev = drive(analysis_step(m), Box::new(|_, _| vector(0.95)), 10_000);
    assert_eq!(checks(&ev), [(0, 0, Verdict::Pass)]);
    assert_eq!(last(&ev).1, "complete");
}

#[test]
fn argo_interval_without_count_runs_until_the_rollout_ends() {
    let mut m = metric("sr", 0, Some("result[0] > 0.9"), None);
    m.interval = Some(SimDur::secs(60));
    let steps = vec![ArgoStep::SetWeight(0.1), ArgoStep::Pause(Some(SimDur::mins(5))), ArgoStep::SetWeight(0.5)];
    let bg = Background { starting_step: 1, metrics: vec![0] };
    let ev = drive(argo(steps, vec![m], Some(bg)), Box::new(|_, _| vector(0.95)), 10_000);
    // Started at step 1 (t = 0, right after setWeight), measured every minute
    // until the pause ended at 5 min and the rollout completed.
    let at: Vec<u64> = checks(&ev).iter().map(|c| c.0).collect();
    assert_eq!(at, [0, 60, 120, 180, 240, 300]);
    assert_eq!(last(&ev), (300, "complete", Cause::CriteriaMet { phase: 2 }));
}

#[test]
fn argo_background_analysis_waits_for_its_starting_step() {
    let mut m = metric("sr", 0, Some("result[0] > 0.9"), None);
    m.interval = Some(SimDur::secs(60));
    let steps = vec![
        ArgoStep::SetWeight(0.1),
        ArgoStep::Pause(Some(SimDur::mins(10))),
        ArgoStep::SetWeight(0.2),
        ArgoStep::Pause(Some(SimDur::mins(2))),
    ];
    let bg = Background { starting_step: 2, metrics: vec![0] };
    let ev = drive(argo(steps, vec![m], Some(bg)), Box::new(|_, _| vector(0.95)), 10_000);
    assert_eq!(checks(&ev).first().unwrap().0, 600);
}

#[test]
fn argo_error_retries_after_10s_and_does_not_count() {
    let mut m = metric("sr", 0, Some("result[0] > 0.9"), None);
    m.interval = Some(SimDur::secs(30));
    m.count = Some(2);
    let ev = drive(
        analysis_step(m),
        Box::new(|_, t| if t == 0 { Err(QueryError("timeout".into())) } else { vector(0.95) }),
        10_000,
    );
    assert_eq!(checks(&ev), [(0, 0, Verdict::Error), (10, 0, Verdict::Pass), (40, 0, Verdict::Pass)]);
    assert_eq!(last(&ev).0, 40);
}

#[test]
fn argo_consecutive_errors_beyond_the_limit_abort() {
    let mut m = metric("sr", 0, Some("result[0] > 0.9"), None);
    m.interval = Some(SimDur::mins(5));
    let ev = drive(analysis_step(m), Box::new(|_, _| Err(QueryError("down".into()))), 10_000);
    // Default limit 4: the 5th consecutive error, 10 s apart, is one too many.
    assert_eq!(checks(&ev).len(), 5);
    assert_eq!(last(&ev), (40, "rollback", Cause::GateErrored { phase: 1, gate: 0 }));
}

#[test]
fn argo_failure_limit_counts_failures_beyond_it() {
    for (limit, abort_at) in [(Some(0), Some(0)), (Some(2), Some(120)), (None, None)] {
        let mut m = metric("sr", 0, Some("result[0] > 0.9"), None);
        m.interval = Some(SimDur::secs(60));
        m.count = Some(5);
        m.failure_limit = limit;
        let ev = drive(analysis_step(m), Box::new(|_, _| vector(0.5)), 10_000);
        match abort_at {
            Some(t) => assert_eq!(last(&ev), (t, "rollback", Cause::GateFailed { phase: 1, gate: 0 }), "{limit:?}"),
            // failureLimit -1: failures never fail the metric; the count completes it.
            None => assert_eq!(last(&ev), (240, "complete", Cause::CriteriaMet { phase: 2 })),
        }
    }
}

#[test]
fn argo_conditions_decide_each_measurement() {
    let answer = |x: f64| Answer::Vector(vec![x]);
    let only_success = metric("a", 0, Some("result[0] > 0.9"), None);
    assert_eq!(only_success.evaluate(&answer(0.5)), Verdict::Fail);
    let only_failure = metric("a", 0, None, Some("result[0] > 0.9"));
    assert_eq!(only_failure.evaluate(&answer(0.5)), Verdict::Pass);
    assert_eq!(only_failure.evaluate(&answer(0.95)), Verdict::Fail);
    let both = metric("a", 0, Some("result[0] > 0.9"), Some("result[0] < 0.5"));
    assert_eq!(both.evaluate(&answer(0.7)), Verdict::Inconclusive);
    assert_eq!(both.evaluate(&answer(0.3)), Verdict::Fail);
    assert_eq!(both.evaluate(&answer(0.95)), Verdict::Pass);
    let neither = metric("a", 0, None, None);
    assert_eq!(neither.evaluate(&answer(f64::NAN)), Verdict::Pass);
    // An empty vector: result[0] is an error.
    assert_eq!(only_success.evaluate(&Answer::Vector(vec![])), Verdict::Error);
    // A bare comparison of a vector is an error on every measurement; of a scalar it works.
    let bare = metric("a", 0, Some("result >= 0.95"), None);
    assert_eq!(bare.evaluate(&answer(0.99)), Verdict::Error);
    assert_eq!(bare.evaluate(&Answer::Scalar(0.99)), Verdict::Pass);
    // NaN compares false: a success condition fails.
    assert_eq!(only_success.evaluate(&answer(f64::NAN)), Verdict::Fail);
}

#[test]
fn argo_inconclusive_pauses_for_a_manual_decision() {
    for (decision, expect) in [(ManualDecision::Abort, "rollback"), (ManualDecision::Promote, "complete")] {
        let m = metric("sr", 0, Some("result[0] > 0.9"), Some("result[0] < 0.5"));
        let mut p = analysis_step(m);
        if let Controller::Argo(a) = &mut p.controller {
            a.on_inconclusive = decision;
        }
        let ev = drive(p, Box::new(|_, _| vector(0.7)), 100_000);
        let d = decisions(&ev);
        assert_eq!(d[0].1, "promote");
        assert_eq!((d[1].0, d[1].1), (0, "await-approval"));
        assert_eq!((last(&ev).0, last(&ev).1), (1800, expect));
    }
}

#[test]
fn argo_inconclusive_limit_counts_apart_from_failures() {
    let mut m = metric("sr", 0, Some("result[0] > 0.9"), Some("result[0] < 0.5"));
    m.interval = Some(SimDur::secs(60));
    m.failure_limit = Some(1);
    m.inconclusive_limit = 0;
    let ev = drive(analysis_step(m), Box::new(|_, t| vector(if t == 0 { 0.1 } else { 0.7 })), 10_000);
    // The failure at 0 s is within failureLimit 1; the inconclusive at 60 s is beyond 0.
    assert_eq!(decisions(&ev)[1], (60, "await-approval", Cause::GateInconclusive { phase: 1, gate: 0 }));
}

#[test]
fn argo_dry_run_metrics_never_decide() {
    let mut good = metric("sr", 0, Some("result[0] > 0.9"), None);
    good.interval = Some(SimDur::secs(60));
    good.count = Some(3);
    let mut dry = metric("errors", 1, Some("result[0] < 10"), None);
    dry.dry_run = true;
    dry.interval = Some(SimDur::secs(60));
    dry.count = Some(3);
    let ev = drive(
        argo(vec![ArgoStep::SetWeight(0.2), ArgoStep::Analysis(vec![0, 1])], vec![good, dry], None),
        Box::new(|q, _| vector(if q == 0 { 0.95 } else { 50.0 })),
        10_000,
    );
    assert!(checks(&ev).iter().any(|c| c.1 == 1 && c.2 == Verdict::Fail));
    assert_eq!(last(&ev), (120, "complete", Cause::CriteriaMet { phase: 1 }));
}

#[test]
fn argo_failed_metric_ends_the_run_early() {
    let mut slow = metric("slow", 0, Some("result[0] > 0.9"), None);
    slow.interval = Some(SimDur::mins(10));
    slow.count = Some(10);
    let fast = metric("fast", 1, Some("result[0] > 0.9"), None);
    let ev = drive(
        argo(vec![ArgoStep::SetWeight(0.2), ArgoStep::Analysis(vec![0, 1])], vec![slow, fast], None),
        Box::new(|q, _| vector(if q == 0 { 0.95 } else { 0.1 })),
        100_000,
    );
    assert_eq!(last(&ev), (0, "rollback", Cause::GateFailed { phase: 1, gate: 1 }));
    assert_eq!(checks(&ev).len(), 2);
}

#[test]
fn argo_consecutive_success_limit() {
    let mut m = metric("sr", 0, Some("result[0] > 0.9"), None);
    m.interval = Some(SimDur::secs(60));
    m.consecutive_success_limit = 2;
    m.failure_limit = None;
    let ev = drive(analysis_step(m.clone()), Box::new(|_, t| vector(if t == 60 { 0.5 } else { 0.95 })), 10_000);
    // pass, fail, pass, pass: two in a row at 180 s.
    assert_eq!(last(&ev), (180, "complete", Cause::CriteriaMet { phase: 2 }));
    // With a count that is reached first and no failureLimit, the metric fails.
    m.count = Some(2);
    let ev = drive(analysis_step(m), Box::new(|_, t| vector(if t == 60 { 0.5 } else { 0.95 })), 10_000);
    assert_eq!(last(&ev), (60, "rollback", Cause::GateFailed { phase: 1, gate: 0 }));
}

#[test]
fn argo_indefinite_pause_waits_for_the_manual_promotion() {
    let steps = vec![ArgoStep::SetWeight(0.1), ArgoStep::Pause(None), ArgoStep::SetWeight(0.5)];
    let ev = drive(argo(steps, vec![], None), Box::new(|_, _| vector(1.0)), 100_000);
    let d = decisions(&ev);
    assert_eq!((d[1].0, d[1].1), (0, "await-approval"));
    assert_eq!((d[2].0, d[2].1, d[2].2), (1800, "promote", Cause::Approved { phase: 1 }));
    assert_eq!(last(&ev).1, "complete");
}

#[test]
fn argo_abort_takes_traffic_to_zero_at_once() {
    let m = metric("sr", 0, Some("result[0] > 0.9"), None);
    let mut events: Vec<EngineEvent> = Vec::new();
    let mut src = Scripted(Box::new(|_, _| vector(0.1)));
    let mut e = Engine::start(Arc::new(analysis_step(m)), &mut events);
    e.step(SimTime::ZERO, &mut src, &mut events);
    assert_eq!(e.weight_at(SimTime::ZERO), 0.0);
    assert_eq!(e.status(), Status::RolledBack);
}

fn flagger(mut f: FlaggerPolicy) -> Policy {
    if f.metrics.is_empty() {
        f.metrics = vec![FlaggerMetric {
            name: "request-success-rate".into(),
            by: MeasureBy::Query(Metric::Query(0)),
            min: Some(99.0),
            max: None,
        }];
    }
    let n = f.weights().len();
    shell(Controller::Flagger(f), n)
}

fn canary(threshold: u32, step: u32, max: u32) -> FlaggerPolicy {
    FlaggerPolicy {
        interval: SimDur::secs(60),
        threshold,
        max_weight: max,
        step_weight: step,
        step_weights: vec![],
        iterations: 0,
        iteration_weight: 0,
        metrics: vec![],
    }
}

fn weights(ev: &[EngineEvent]) -> Vec<(u64, f64)> {
    ev.iter()
        .filter_map(|e| match e {
            EngineEvent::WeightChanged { at, weight } => Some((at.0, (weight * 100.0).round())),
            _ => None,
        })
        .collect()
}

#[test]
fn flagger_steps_the_weight_each_passing_tick_then_promotes() {
    let ev = drive(flagger(canary(1, 10, 30)), Box::new(|_, _| vector(100.0)), 100_000);
    assert_eq!(weights(&ev), [(60, 10.0), (120, 20.0), (180, 30.0)]);
    // No check while the canary had no traffic (tick 1); one per later tick.
    assert_eq!(checks(&ev).iter().map(|c| c.0).collect::<Vec<_>>(), [120, 180, 240]);
    assert_eq!(last(&ev), (240, "complete", Cause::CriteriaMet { phase: 3 }));
}

#[test]
fn flagger_threshold_counts_cumulative_failures_and_acts_on_the_next_tick() {
    // Fails at 120 s and 240 s with a pass between: the count never resets,
    // reaches threshold 2 at 240 s, and the rollback comes at the next tick.
    let ev = drive(
        flagger(canary(2, 10, 50)),
        Box::new(|_, t| vector(if t == 120 || t == 240 { 90.0 } else { 100.0 })),
        100_000,
    );
    assert_eq!(last(&ev), (300, "rollback", Cause::GateFailed { phase: 2, gate: 0 }));
    // A failed tick does not advance: 10% at 60, 20% at 180, nothing after.
    assert_eq!(weights(&ev)[..2], [(60, 10.0), (180, 20.0)]);
}

#[test]
fn flagger_threshold_one_rolls_back_one_tick_after_the_first_failure() {
    let ev = drive(flagger(canary(1, 10, 50)), Box::new(|_, _| vector(50.0)), 100_000);
    assert_eq!(last(&ev).0, 180);
}

#[test]
fn flagger_first_failed_metric_ends_the_tick() {
    let mut f = canary(5, 10, 20);
    f.metrics = ["a", "b"]
        .iter()
        .enumerate()
        .map(|(i, n)| FlaggerMetric {
            name: (*n).into(),
            by: MeasureBy::Query(Metric::Query(i as u16)),
            min: None,
            max: Some(1.0),
        })
        .collect();
    let ev = drive(flagger(f), Box::new(|q, t| vector(if q == 0 && t == 120 { 5.0 } else { 0.5 })), 100_000);
    let c = checks(&ev);
    assert_eq!(c[0], (120, 0, Verdict::Fail));
    assert_eq!(c[1], (180, 0, Verdict::Pass));
    assert_eq!(c[2], (180, 1, Verdict::Pass));
}

#[test]
fn flagger_empty_nan_and_errors_are_failed_checks_and_vectors_read_their_last_series() {
    for (answer, verdict) in [
        (Ok(Answer::Vector(vec![])), Verdict::Fail),
        (Ok(Answer::Vector(vec![f64::NAN])), Verdict::Fail),
        (Ok(Answer::Scalar(f64::NAN)), Verdict::Fail),
        (Err(QueryError("down".into())), Verdict::Error),
        (Ok(Answer::Vector(vec![50.0, 99.5])), Verdict::Pass),
        (Ok(Answer::Vector(vec![99.5, 50.0])), Verdict::Fail),
        (Ok(Answer::Vector(vec![99.0])), Verdict::Pass),
    ] {
        let a = answer.clone();
        let ev = drive(flagger(canary(1, 50, 50)), Box::new(move |_, _| a.clone()), 130);
        assert_eq!(checks(&ev)[0].2, verdict, "{answer:?}");
    }
}

#[test]
fn flagger_step_weights_and_iterations() {
    let mut f = canary(1, 0, 0);
    f.step_weights = vec![1, 5, 25, 60];
    let ev = drive(flagger(f), Box::new(|_, _| vector(100.0)), 100_000);
    assert_eq!(weights(&ev), [(60, 1.0), (120, 5.0), (180, 25.0), (240, 60.0)]);
    assert_eq!(last(&ev).0, 300);

    let mut ab = canary(2, 0, 0);
    ab.iterations = 3;
    ab.iteration_weight = 10;
    let ev = drive(flagger(ab), Box::new(|_, _| vector(100.0)), 100_000);
    // Tick 1 starts the first iteration without a check; three checked ticks follow.
    assert_eq!(checks(&ev).iter().map(|c| c.0).collect::<Vec<_>>(), [120, 180, 240]);
    assert_eq!(last(&ev).0, 240);
    assert_eq!(weights(&ev), [(60, 10.0)]);
}
