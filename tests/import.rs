//! `rollsim import`: the real Argo Rollouts and Flagger manifests in
//! ../shared/manifests import, validate and run; errors name file, document,
//! line and field; outputs never replace a user's file; a multiwindow
//! burn-rate rule file fires when the SRE workbook says it should.

use assert_cmd::Command;
use rollsim::engine::{
    Answer, Cause, DecisionKind, Engine, EngineEvent, Metric, MetricSource, Query, QueryError, Sample,
};
use rollsim::import::{import, Options};
use rollsim::promql::{labels, MemStorage};
use rollsim::scenario::{print, Scenario};
use rollsim::time::SimTime;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn rollsim() -> Command {
    Command::cargo_bin("rollsim").unwrap()
}

fn manifests() -> Option<Vec<PathBuf>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/manifests");
    if !root.is_dir() {
        eprintln!("skipping: {} is absent", root.display());
        return None;
    }
    let mut v = Vec::new();
    for sub in ["argo", "flagger"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        v.extend(files);
    }
    Some(v)
}

#[test]
fn every_shared_manifest_imports_validates_and_runs() {
    let Some(files) = manifests() else { return };
    assert_eq!(files.len(), 8, "{files:?}");
    let tmp = tempfile::tempdir().unwrap();
    for (i, f) in files.iter().enumerate() {
        let job = f.to_string_lossy().contains("job");
        let out = tmp.path().join(format!("s{i}.toml"));
        let mut cmd = rollsim();
        cmd.arg("import").arg(f).arg("--out").arg(&out);
        if job {
            cmd.args(["--unsupported", "pass"]);
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}: {}", f.display(), String::from_utf8_lossy(&o.stderr));
        let report = std::fs::read_to_string(out.with_extension("import.md")).unwrap();
        assert!(report.contains("## Assumed") && report.contains("## Not simulated"), "{report}");
        // The written scenario is canonical: it parses, and prints back to an equal scenario.
        let sc = Scenario::load(&out).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let again = Scenario::from_toml(&print::to_toml(&sc), "again").unwrap();
        assert_eq!(print::to_toml(&again), print::to_toml(&sc));
        rollsim().arg("validate").arg(&out).assert().success();
        let run = rollsim()
            .arg("run")
            .arg(&out)
            .args(["--trials", "4", "--seed", "3", "--quiet", "--out"])
            .arg(tmp.path().join(format!("r{i}")))
            .output()
            .unwrap();
        assert!(run.status.success(), "{}: {}", f.display(), String::from_utf8_lossy(&run.stderr));
    }
    // Manifests run directly too (the Job one needs --unsupported, and says so).
    let direct = rollsim().arg("validate").arg(&files[0]).output().unwrap();
    assert!(direct.status.success(), "{}", String::from_utf8_lossy(&direct.stderr));
    let job = files.iter().find(|f| f.to_string_lossy().contains("job")).unwrap();
    let e = rollsim().arg("validate").arg(job).output().unwrap();
    assert!(!e.status.success());
    let err = String::from_utf8_lossy(&e.stderr);
    assert!(err.contains("document 2 (AnalysisTemplate/random-fail)") && err.contains("--unsupported"), "{err}");
    assert!(err.contains("(import it with options: rollsim import"), "{err}");
}

#[test]
fn shared_manifests_keep_their_semantics() {
    let Some(files) = manifests() else { return };
    let get = |needle: &str| files.iter().find(|f| f.to_string_lossy().contains(needle)).unwrap().clone();
    let sc = import(&[get("01-istio-background")], &Options::default()).unwrap().scenario;
    let rollsim::engine::Controller::Argo(a) = &sc.policy.controller else { panic!("not argo") };
    assert_eq!(a.steps.len(), 18);
    assert_eq!(a.background.as_ref().unwrap().starting_step, 1);
    let m = &a.metrics[0];
    assert_eq!((m.initial_delay.0, m.interval.map(|i| i.0), m.effective_count()), (60, Some(20), None));
    assert_eq!(sc.fleet.metrics.name(), "istio");

    let sc = import(&[get("04-docs-prometheus")], &Options::default()).unwrap().scenario;
    let rollsim::engine::Controller::Argo(a) = &sc.policy.controller else { panic!("not argo") };
    let dry: Vec<(&str, bool, Option<u32>)> =
        a.metrics.iter().map(|m| (m.name.as_str(), m.dry_run, m.failure_limit)).collect();
    assert_eq!(dry, [("success-rate", false, Some(3)), ("total-5xx-errors", true, Some(3))]);

    let sc = import(&[get("01-istio-progressive")], &Options::default()).unwrap().scenario;
    let rollsim::engine::Controller::Flagger(f) = &sc.policy.controller else { panic!("not flagger") };
    assert_eq!((f.interval.0, f.threshold, f.weights()), (60, 5, vec![0, 10, 20, 30, 40, 50]));
    // The webhooks gate each tick before the metrics; built-ins keep Flagger's order.
    let names: Vec<&str> = f.metrics.iter().map(|m| m.name.as_str()).collect();
    // acceptance-test is a pre-rollout webhook: in the report, not a tick gate.
    assert_eq!(names, ["webhook-load-test", "request-success-rate", "request-duration"]);

    let sc = import(&[get("02-istio-ab")], &Options::default()).unwrap().scenario;
    let rollsim::engine::Controller::Flagger(f) = &sc.policy.controller else { panic!("not flagger") };
    assert_eq!((f.iterations, f.threshold), (10, 2));
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn errors_name_file_document_line_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = write(
        tmp.path(),
        "bad.yaml",
        "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: r\nspec:\n  strategy:\n    canary:\n      steps:\n      - setWeight: lots\n",
    );
    let e = import(std::slice::from_ref(&bad), &Options::default()).unwrap_err().to_string();
    assert!(
        e.contains("bad.yaml:9: document 1 (Rollout/r): spec.strategy.canary.steps[0].setWeight: expected an integer"),
        "{e}"
    );

    let missing = write(
        tmp.path(),
        "missing.yaml",
        "kind: Rollout\nmetadata: {name: r}\nspec:\n  strategy:\n    canary:\n      steps:\n      - analysis:\n          templates:\n          - templateName: nowhere\n",
    );
    let e = import(&[missing], &Options::default()).unwrap_err().to_string();
    assert!(e.contains("no AnalysisTemplate named \"nowhere\""), "{e}");

    let unbound = write(
        tmp.path(),
        "unbound.yaml",
        "kind: AnalysisTemplate\nmetadata: {name: t}\nspec:\n  metrics:\n  - name: cpu\n    successCondition: result[0] < 0.8\n    provider:\n      prometheus:\n        query: sum(rate(container_cpu_usage_seconds_total[1m]))\n",
    );
    let e = import(std::slice::from_ref(&unbound), &Options::default()).unwrap_err().to_string();
    assert!(e.contains("unbound.yaml:9") && e.contains("--bind 'container_cpu_usage_seconds_total=SIGNAL'"), "{e}");
    let opts = Options {
        binds: vec![("container_cpu_usage_seconds_total".into(), rollsim::promql::bind::Signal::Cpu)],
        ..Options::default()
    };
    import(&[unbound], &opts).unwrap();

    let cond = write(
        tmp.path(),
        "cond.yaml",
        "kind: AnalysisTemplate\nmetadata: {name: t}\nspec:\n  metrics:\n  - name: sr\n    successCondition: result[0] matches 'x'\n    provider:\n      prometheus:\n        query: sum(rate(http_requests_total[1m]))\n",
    );
    let e = import(&[cond], &Options::default()).unwrap_err().to_string();
    assert!(e.contains("cond.yaml:6") && e.contains("successCondition") && e.contains("not supported"), "{e}");

    let helm = write(tmp.path(), "chart.yaml", "kind: Rollout\nspec:\n  replicas: {{ .Values.replicas }}\n");
    let e = import(&[helm], &Options::default()).unwrap_err().to_string();
    assert!(e.contains("helm template"), "{e}");
}

#[test]
fn input_without_a_policy_says_what_it_read() {
    let tmp = tempfile::tempdir().unwrap();
    let deploy = write(
        tmp.path(),
        "deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n",
    );
    let e = import(std::slice::from_ref(&deploy), &Options::default()).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}: no Rollout", deploy.display())), "{e}");
    assert!(e.contains("read: document 1 `Deployment/web`, document 2 `Service/web`"), "{e}");

    // A Kayenta canary config is JSON without a `kind`: named as such, not as an unknown file.
    let kayenta = write(
        tmp.path(),
        "canary-config.json",
        r#"{"name": "c", "judge": {"name": "NetflixACAJudge-v1.0"}, "metrics": [{"name": "cpu", "groups": ["system"]}],
            "classifier": {"groupWeights": {"system": 100}, "scoreThresholds": {"pass": 95, "marginal": 75}}}"#,
    );
    let e = import(std::slice::from_ref(&kayenta), &Options::default()).unwrap_err().to_string();
    assert!(e.contains("canary-config.json") && e.contains("Kayenta canary config"), "{e}");
    // Beside a policy it is an ignored document, reported as one.
    let rules = write(
        tmp.path(),
        "rules.yaml",
        "groups:\n- name: g\n  rules:\n  - alert: HighErrors\n    expr: sum(rate(http_requests_total{code=~\"5..\"}[5m])) > 1\n",
    );
    let imported = import(&[rules, kayenta], &Options::default()).unwrap();
    assert!(
        imported.report.contains("canary-config.json document 1 (no `kind`): not a policy resource, ignored"),
        "{}",
        imported.report
    );

    let e = rollsim().args(["import", deploy.to_str().unwrap()]).assert().failure().get_output().stderr.clone();
    assert!(String::from_utf8_lossy(&e).contains("`Deployment/web`"));
    // Run directly, no option of `rollsim import` would help: no hint to try them.
    let e = rollsim().arg("validate").arg(&deploy).assert().failure().get_output().stderr.clone();
    let e = String::from_utf8_lossy(&e);
    assert!(e.contains("`Deployment/web`") && !e.contains("import it with options"), "{e}");
    // Nor where the manifest asks for what is not simulated, which no option changes.
    let bg = write(
        tmp.path(),
        "bg.yaml",
        "kind: Rollout\nmetadata: {name: web}\nspec:\n  strategy:\n    blueGreen: {activeService: web}\n",
    );
    let e = rollsim().arg("validate").arg(&bg).assert().failure().get_output().stderr.clone();
    let e = String::from_utf8_lossy(&e);
    assert!(e.contains("blueGreen strategy is not simulated") && !e.contains("import it with options"), "{e}");
}

#[test]
fn kubectl_output_imports_as_json_and_as_a_list() {
    // What `kubectl get rollout,analysistemplate -o yaml` (or `-o json`) prints:
    // one v1 `List` whose items are the resources, with their status.
    let rollout = r#"{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "web", "namespace": "shop"},
      "spec": {"strategy": {"canary": {"steps": [{"setWeight": 20}, {"analysis": {"templates": [{"templateName": "sr"}]}}, {"setWeight": 60}]}}},
      "status": {"phase": "Healthy", "currentStepIndex": 3}}"#;
    let template = r#"{"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate", "metadata": {"name": "sr", "namespace": "shop"},
      "spec": {"metrics": [{"name": "success", "interval": "1m", "count": 5, "failureLimit": 1,
        "successCondition": "result[0] >= 0.99",
        "provider": {"prometheus": {"query": "sum(rate(http_requests_total{job=\"web\",code!~\"5..\"}[1m])) / sum(rate(http_requests_total{job=\"web\"}[1m]))"}}}]}}"#;
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("c"));
    for d in [&a, &b, &c] {
        std::fs::create_dir(d).unwrap();
    }
    let json = write(
        &a,
        "web.json",
        &format!("{{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [{rollout}, {template}]}}"),
    );
    let list_yaml = write(
        &b,
        "web.yaml",
        &format!(
            "apiVersion: v1\nkind: List\nitems:\n- {}\n- {}\n",
            rollout.replace('\n', " "),
            template.replace('\n', " ")
        ),
    );
    let docs =
        write(&c, "web.yaml", &format!("{}\n---\n{}\n", rollout.replace('\n', " "), template.replace('\n', " ")));
    let policy = |p: &PathBuf| import(std::slice::from_ref(p), &Options::default()).unwrap().scenario.policy;
    let want = policy(&docs);
    assert_eq!(want.phases.len(), 3, "{want:?}");
    assert_eq!(policy(&json), want);
    assert_eq!(policy(&list_yaml), want);
    // A JSON manifest is accepted wherever a scenario is.
    rollsim().args(["validate", json.to_str().unwrap()]).assert().success();
}

#[test]
fn a_rollout_completing_on_its_last_set_weight_reached_all_traffic() {
    // No analysis: every version completes at T+1h, the instant it is set to
    // 60%, before any tick runs at 60%. A completed rollout serves everyone, so
    // each bad version's peak share is 100% (an escape), not the 20% it served.
    let tmp = tempfile::tempdir().unwrap();
    let f = write(
        tmp.path(),
        "rollout.yaml",
        "kind: Rollout\nmetadata: {name: web}\nspec:\n  strategy:\n    canary:\n      steps:\n      - setWeight: 20\n      - pause: {duration: 1h}\n      - setWeight: 60\n",
    );
    let sc = import(&[f], &Options::default()).unwrap().scenario;
    let records = rollsim::runner::run(&sc, 7, 0..40, 1, &|| {}).unwrap();
    assert!(records.iter().any(|r| r.bad));
    for r in &records {
        assert_eq!(r.outcome, rollsim::sim::Outcome::Completed, "{r:?}");
        assert_eq!(r.end, SimTime(3600));
        assert_eq!(r.peak_weight, 1.0, "{r:?}");
    }
}

#[test]
fn a_bare_result_comparison_is_warned_and_errs_like_argo() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write(
        tmp.path(),
        "bare.yaml",
        "kind: AnalysisTemplate\nmetadata: {name: t}\nspec:\n  metrics:\n  - name: sr\n    successCondition: result >= 0.95\n    provider:\n      prometheus:\n        query: sum(rate(http_requests_total{code!~\"5..\"}[1m])) / sum(rate(http_requests_total[1m]))\n",
    );
    let i = import(&[f], &Options::default()).unwrap();
    assert!(i.report.contains("compares the whole `result`"), "{}", i.report);
    let rollsim::engine::Controller::Argo(a) = &i.scenario.policy.controller else { panic!() };
    assert_eq!(a.metrics[0].evaluate(&Answer::Vector(vec![0.99])), rollsim::engine::Verdict::Error);
}

#[test]
fn import_out_never_replaces_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write(
        tmp.path(),
        "t.yaml",
        "kind: MetricTemplate\nmetadata: {name: sr}\nspec:\n  provider: {type: prometheus}\n  query: sum(rate(http_requests_total[{{ interval }}]))\n",
    );
    let mine = write(tmp.path(), "mine.toml", "my notes\n");
    let o = rollsim().arg("import").arg(&f).arg("--out").arg(&mine).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "my notes\n");
}

/// Answers the imported alert rules' queries from scripted series.
struct Mem(MemStorage, Vec<rollsim::scenario::PromRule>);

impl MetricSource for Mem {
    fn query(&mut self, q: &Query, now: SimTime) -> Result<Sample, QueryError> {
        match q.metric {
            Metric::Query(i) => {
                self.1[i as usize].answer(q.group, &mut self.0, 1_767_225_600_000 + now.0 as i64 * 1000)
            }
            _ => Ok(Sample::NO_DATA),
        }
    }
}

#[test]
fn a_multiwindow_burn_rate_alert_fires_when_the_sre_workbook_says() {
    // The SRE workbook's multiwindow, multi-burn-rate alert for a 99.9% SLO
    // (chapter 5, "Alerting on SLOs", recommendation 6), as recording rules
    // and one alert, evaluated every minute.
    let rules = r#"
groups:
- name: slo
  interval: 1m
  rules:
  - record: job:slo_errors_per_request:ratio_rate1h
    expr: sum(rate(http_requests_total{job="myjob",code=~"5.."}[1h])) / sum(rate(http_requests_total{job="myjob"}[1h]))
  - record: job:slo_errors_per_request:ratio_rate5m
    expr: sum(rate(http_requests_total{job="myjob",code=~"5.."}[5m])) / sum(rate(http_requests_total{job="myjob"}[5m]))
  - record: job:slo_errors_per_request:ratio_rate6h
    expr: sum(rate(http_requests_total{job="myjob",code=~"5.."}[6h])) / sum(rate(http_requests_total{job="myjob"}[6h]))
  - record: job:slo_errors_per_request:ratio_rate30m
    expr: sum(rate(http_requests_total{job="myjob",code=~"5.."}[30m])) / sum(rate(http_requests_total{job="myjob"}[30m]))
  - alert: ErrorBudgetBurn
    expr: |
      (job:slo_errors_per_request:ratio_rate1h{job="myjob"} > (14.4*0.001)
        and job:slo_errors_per_request:ratio_rate5m{job="myjob"} > (14.4*0.001))
      or
      (job:slo_errors_per_request:ratio_rate6h{job="myjob"} > (6*0.001)
        and job:slo_errors_per_request:ratio_rate30m{job="myjob"} > (6*0.001))
    labels:
      severity: page
"#;
    let tmp = tempfile::tempdir().unwrap();
    let f = write(tmp.path(), "slo.yaml", rules);
    let opts = Options { rollback_on: vec!["ErrorBudgetBurn".into()], ..Options::default() };
    let sc = import(&[f], &opts).unwrap().scenario;
    let alert = &sc.policy.alerts[0];
    assert_eq!((alert.name.as_str(), alert.rollback, sc.policy.alert_every.0), ("ErrorBudgetBurn", true, 60));

    // 10 requests/s on the candidate, scraped every 15 s; all of them fail
    // from T0 = 6 h (a 100% outage).
    let t0 = 6 * 3600;
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    let (mut n_ok, mut n_bad) = (0.0, 0.0);
    for t in (0..=t0 + 3600).step_by(15) {
        if t > 0 {
            if t <= t0 {
                n_ok += 150.0;
            } else {
                n_bad += 150.0;
            }
        }
        let ms = 1_767_225_600_000 + t as i64 * 1000;
        ok.push((ms, n_ok));
        bad.push((ms, n_bad));
    }
    let series = |code: &str| labels([("__name__", "http_requests_total"), ("code", code), ("version", "canary")]);
    let mem = MemStorage { series: vec![(series("200"), ok), (series("500"), bad)] };
    let mut src = Mem(mem, sc.queries.clone());
    let mut events: Vec<EngineEvent> = Vec::new();
    let mut e = Engine::start(Arc::new((*sc.policy).clone()), &mut events);
    while let Some(t) = e.next_wakeup() {
        if t.0 > t0 + 3600 {
            break;
        }
        e.step(t, &mut src, &mut events);
    }
    let rollback = events.iter().find_map(|ev| match ev {
        EngineEvent::Decision(d) if d.kind == DecisionKind::Rollback => Some((d.at.0, d.cause)),
        _ => None,
    });
    // Expected: the 1h window's error ratio passes 14.4 × 0.1% once the
    // outage covers 1h × 14.4 × 0.001 = 51.84 s of it (the workbook's
    // detection time for a 100% outage); with scrapes every 15 s the ratio is
    // 600/36000 = 1.67% at T0+60 s and 450/36000 = 1.25% at T0+45 s, and the
    // 5m window is far past the threshold by then. Rules are evaluated every
    // minute, so the first evaluation at or after T0+51.84 s is T0+60 s: within
    // one evaluation interval of the workbook's figure.
    assert_eq!(rollback, Some((t0 + 60, Cause::Alert(0))));
}

impl Mem {
    fn at(now: SimTime) -> i64 {
        1_767_225_600_000 + now.0 as i64 * 1000
    }
}

/// The whole answers of the imported queries (Argo and Flagger read them).
struct MemAnswers(Mem);

impl MetricSource for MemAnswers {
    fn query(&mut self, q: &Query, now: SimTime) -> Result<Sample, QueryError> {
        self.0.query(q, now)
    }
    fn query_answer(&mut self, q: &Query, now: SimTime) -> Result<Answer, QueryError> {
        let Metric::Query(i) = q.metric else { return Ok(Answer::Vector(vec![])) };
        self.0 .1[i as usize].answer_all(q.group, &mut self.0 .0, Mem::at(now))
    }
}

/// 10 requests/s on the candidate, scraped every 15 s; half of them fail from `bad_from` seconds.
fn scripted(bad_from: u64, until: u64) -> MemStorage {
    let (mut ok, mut bad, mut n_ok, mut n_bad) = (Vec::new(), Vec::new(), 0.0, 0.0);
    for t in (0..=until).step_by(15) {
        if t > 0 {
            if t <= bad_from {
                n_ok += 150.0;
            } else {
                n_ok += 75.0;
                n_bad += 75.0;
            }
        }
        ok.push((Mem::at(SimTime(t)), n_ok));
        bad.push((Mem::at(SimTime(t)), n_bad));
    }
    let series = |code: &str| labels([("__name__", "http_requests_total"), ("code", code), ("version", "canary")]);
    MemStorage { series: vec![(series("200"), ok), (series("500"), bad)] }
}

fn drive(sc: &Scenario, mem: MemStorage, until: u64) -> Vec<EngineEvent> {
    let mut src = MemAnswers(Mem(mem, sc.queries.clone()));
    let mut events: Vec<EngineEvent> = Vec::new();
    let mut e = Engine::start(Arc::new((*sc.policy).clone()), &mut events);
    while let Some(t) = e.next_wakeup() {
        if t.0 > until {
            break;
        }
        e.step(t, &mut src, &mut events);
    }
    events
}

fn checks_and_rollback(events: &[EngineEvent]) -> (Vec<(u64, rollsim::engine::Verdict)>, Option<u64>) {
    let checks = events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Check { at, verdict, .. } => Some((at.0, *verdict)),
            _ => None,
        })
        .collect();
    let rollback = events.iter().find_map(|e| match e {
        EngineEvent::Decision(d) if d.kind == DecisionKind::Rollback => Some(d.at.0),
        _ => None,
    });
    (checks, rollback)
}

#[test]
fn a_hand_written_rollout_aborts_as_argo_would_on_scripted_series() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write(
        tmp.path(),
        "rollout.yaml",
        r#"
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  strategy:
    canary:
      steps:
      - setWeight: 20
      - analysis:
          templates:
          - templateName: sr
      - setWeight: 60
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: sr}
spec:
  metrics:
  - name: success
    initialDelay: 1m
    interval: 1m
    count: 5
    failureLimit: 1
    successCondition: result[0] >= 0.99
    provider:
      prometheus:
        query: sum(rate(http_requests_total{job="web",code!~"5.."}[1m])) / sum(rate(http_requests_total{job="web"}[1m]))
"#,
    );
    let sc = import(&[f], &Options::default()).unwrap().scenario;
    use rollsim::engine::Verdict::{Fail, Pass};
    // Half the requests fail from 100 s: the measurement at 60 s passes, those
    // at 120 s and 180 s fail, and the second failure is beyond failureLimit 1.
    let (checks, rollback) = checks_and_rollback(&drive(&sc, scripted(100, 3600), 3600));
    assert_eq!(checks, [(60, Pass), (120, Fail), (180, Fail)]);
    assert_eq!(rollback, Some(180));
    // Healthy series: five passing measurements complete the step at 300 s.
    let events = drive(&sc, scripted(100_000, 3600), 3600);
    let (checks, rollback) = checks_and_rollback(&events);
    assert_eq!((checks.len(), rollback), (5, None));
    assert!(events
        .iter()
        .any(|e| matches!(e, EngineEvent::Decision(d) if d.kind == DecisionKind::Complete && d.at.0 == 300)));
}

#[test]
fn a_hand_written_canary_rolls_back_as_flagger_would_on_scripted_series() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write(
        tmp.path(),
        "canary.yaml",
        r#"
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: web, namespace: shop}
spec:
  provider: kubernetes
  targetRef: {kind: Deployment, name: web}
  analysis:
    interval: 1m
    threshold: 2
    stepWeight: 10
    maxWeight: 50
    metrics:
    - name: success
      templateRef: {name: sr}
      thresholdRange: {min: 99}
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: sr, namespace: shop}
spec:
  provider: {type: prometheus}
  query: sum(rate(http_requests_total{namespace="{{ namespace }}",app="{{ target }}",code!~"5.."}[{{ interval }}])) / sum(rate(http_requests_total{namespace="{{ namespace }}",app="{{ target }}"}[{{ interval }}])) * 100
"#,
    );
    let sc = import(&[f], &Options::default()).unwrap().scenario;
    use rollsim::engine::Verdict::{Fail, Pass};
    // Ticks every minute: 60 s starts at 10% without a check; 120 s passes
    // (20%); half the requests fail from 150 s, so 180 s and 240 s fail; the
    // count reaches threshold 2 at 240 s and the tick at 300 s rolls back.
    let (checks, rollback) = checks_and_rollback(&drive(&sc, scripted(150, 3600), 3600));
    assert_eq!(checks, [(120, Pass), (180, Fail), (240, Fail)]);
    assert_eq!(rollback, Some(300));
}

#[test]
fn sloth_generated_rules_work_unchanged() {
    // The shape Sloth (v0.11) generates for a 99.9% availability SLO:
    // recording rules in one group, the multiwindow alerts in another, with
    // Sloth's labels, matchers and `max(...) without (sloth_window)`.
    let sel =
        r#"{sloth_id="myservice-requests-availability", sloth_service="myservice", sloth_slo="requests-availability"}"#;
    let rec = |w: &str| {
        format!(
            "  - record: slo:sli_error:ratio_rate{w}\n    expr: |\n      (sum(rate(http_request_duration_seconds_count{{job=\"myservice\",code=~\"(5..|429)\"}}[{w}])))\n      /\n      (sum(rate(http_request_duration_seconds_count{{job=\"myservice\"}}[{w}])))\n    labels:\n      sloth_id: myservice-requests-availability\n      sloth_service: myservice\n      sloth_slo: requests-availability\n      sloth_window: {w}\n"
        )
    };
    let mut text = String::from("---\n# Code generated by Sloth (v0.11.0): https://github.com/slok/sloth.\n# DO NOT EDIT.\n\ngroups:\n- name: sloth-slo-sli-recordings-myservice-requests-availability\n  rules:\n");
    for w in ["5m", "30m", "1h", "2h", "6h", "1d", "3d"] {
        text.push_str(&rec(w));
    }
    text.push_str(&format!(
        "  - record: slo:sli_error:ratio_rate30d\n    expr: |\n      sum_over_time(slo:sli_error:ratio_rate5m{sel}[30d])\n      / ignoring (sloth_window)\n      count_over_time(slo:sli_error:ratio_rate5m{sel}[30d])\n"
    ));
    text.push_str("- name: sloth-slo-alerts-myservice-requests-availability\n  rules:\n");
    for (name, (a, b, c, d), (f1, f2), sev) in [
        ("MyServiceHighErrorRate", ("5m", "1h", "30m", "6h"), ("14.4", "6"), "page"),
        ("MyServiceLowErrorRate", ("2h", "1d", "6h", "3d"), ("3", "1"), "ticket"),
    ] {
        text.push_str(&format!(
            "  - alert: {name}\n    expr: |\n      (\n          max(slo:sli_error:ratio_rate{a}{sel} > ({f1} * 0.0009999999999999432)) without (sloth_window)\n          and\n          max(slo:sli_error:ratio_rate{b}{sel} > ({f1} * 0.0009999999999999432)) without (sloth_window)\n      )\n      or\n      (\n          max(slo:sli_error:ratio_rate{c}{sel} > ({f2} * 0.0009999999999999432)) without (sloth_window)\n          and\n          max(slo:sli_error:ratio_rate{d}{sel} > ({f2} * 0.0009999999999999432)) without (sloth_window)\n      )\n    labels:\n      category: availability\n      severity: {sev}\n      sloth_severity: {sev}\n    annotations:\n      summary: High error rate on 'myservice' requests responses\n"
        ));
    }
    let tmp = tempfile::tempdir().unwrap();
    let f = write(tmp.path(), "sloth.yaml", &text);
    let opts = Options { rollback_on: vec!["MyServiceHighErrorRate".into()], ..Options::default() };
    let sc = import(&[f], &opts).unwrap_or_else(|e| panic!("{e}")).scenario;
    assert_eq!(sc.policy.alerts.len(), 2);
    // The same 100% outage as the workbook test: the page alert (5m and 1h
    // windows at 14.4x) fires at T0+60 s, the first evaluation after 51.8 s.
    let t0 = 6 * 3600;
    let mut mem = scripted(100_000_000, t0 + 3600);
    for (ms, v) in mem.series[1].1.iter_mut() {
        let t = (*ms - 1_767_225_600_000) / 1000;
        *v = if t > t0 as i64 { ((t - t0 as i64) / 15 * 150) as f64 } else { 0.0 };
    }
    for (ms, v) in mem.series[0].1.iter_mut() {
        let t = (*ms - 1_767_225_600_000) / 1000;
        *v = (t.min(t0 as i64) / 15 * 150) as f64;
    }
    let events = drive(&sc, mem, t0 + 3600);
    let rollback = events.iter().find_map(|ev| match ev {
        EngineEvent::Decision(d) if d.kind == DecisionKind::Rollback => Some((d.at.0, d.cause)),
        _ => None,
    });
    assert_eq!(rollback, Some((t0 + 60, Cause::Alert(0))));
}

#[test]
fn templates_alone_attach_to_the_base_scenarios_phases() {
    let tmp = tempfile::tempdir().unwrap();
    let argo = write(
        tmp.path(),
        "at.yaml",
        "kind: AnalysisTemplate\nmetadata: {name: t}\nspec:\n  metrics:\n  - name: sr\n    interval: 5m\n    successCondition: result[0] >= 0.99\n    provider:\n      prometheus:\n        query: sum(rate(http_requests_total{code!~\"5..\"}[5m])) / sum(rate(http_requests_total[5m]))\n",
    );
    let sc = import(&[argo], &Options::default()).unwrap().scenario;
    let rollsim::engine::Controller::Argo(a) = &sc.policy.controller else { panic!("not argo") };
    // The seed's 5% / 25% / 50% / 100% phases: setWeight and pause each, 100% without a pause.
    assert_eq!(a.steps.len(), 7);
    assert_eq!(a.background.as_ref().map(|b| (b.starting_step, b.metrics.clone())), Some((0, vec![0])));

    let flagger = write(
        tmp.path(),
        "mt.yaml",
        "kind: MetricTemplate\nmetadata: {name: sr}\nspec:\n  provider: {type: prometheus}\n  query: sum(rate(http_requests_total{code!~\"5..\"}[{{ interval }}])) / sum(rate(http_requests_total[{{ interval }}]))\n",
    );
    let i = import(&[flagger], &Options::default()).unwrap();
    let rollsim::engine::Controller::Flagger(f) = &i.scenario.policy.controller else { panic!("not flagger") };
    assert_eq!((f.interval.0, f.threshold, f.metrics.len()), (60, 1, 1));
    assert!(i.report.contains("no Canary gives its thresholdRange"), "{}", i.report);
}

#[test]
fn trace_words_checks_in_the_controllers_terms() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/import");
    let o = rollsim()
        .arg("trace")
        .arg(root.join("flagger-canary.yaml"))
        .args(["--trial", "0", "--seed", "1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("check request-success-rate") && text.contains("→ pass (passes when >= 99)"), "{text}");
    assert!(text.contains("phase 2 \"w5\" starts"), "{text}");
    let o = rollsim()
        .arg("trace")
        .arg(root.join("argo-rollout.yaml"))
        .args(["--trial", "0", "--seed", "1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    // The 5m latency metric is measured at once: no samples yet, an error retried 10 s later.
    assert!(
        text.contains("check p99-latency          no data → ERROR (failure result[0] > 500; retried after 10 s"),
        "{text}"
    );
    assert!(text.contains("T+00:00:10  check p99-latency"), "{text}");
}

#[test]
fn a_misspelt_field_is_warned_about_not_silently_defaulted() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write(
        tmp.path(),
        "typo.yaml",
        "kind: AnalysisTemplate\nmetadata: {name: t}\nspec:\n  metrics:\n  - name: sr\n    interval: 1m\n    failurLimit: 3\n    successCondition: result[0] >= 0.99\n    provider:\n      prometheus:\n        query: sum(rate(http_requests_total[1m]))\n",
    );
    let i = import(&[f], &Options::default()).unwrap();
    assert!(
        i.report.contains("typo.yaml:7 AnalysisTemplate/t spec.metrics[0].failurLimit: not a field rollsim reads here"),
        "{}",
        i.report
    );
}

/// Argo retries a measurement that errs after 10 s, so a Rollout with
/// analysis gets a grid that holds it; one without any keeps the base
/// scenario's scrape interval and tick (a 10 s tick is six times the work).
#[test]
fn only_a_rollout_that_measures_gets_the_error_retry_grid() {
    let tmp = tempfile::tempdir().unwrap();
    let steps = "kind: Rollout\nmetadata: {name: web}\nspec:\n  strategy:\n    canary:\n      steps:\n      - setWeight: 20\n      - pause: {}\n      - setWeight: 50\n      - pause: {duration: 10m}\n";
    let plain = write(tmp.path(), "plain.yaml", steps);
    let sc = import(&[plain], &Options::default()).unwrap().scenario;
    assert_eq!((sc.fleet.scrape_interval.0, sc.simulation.tick.0), (15, 60));
    let analysed = write(
        tmp.path(),
        "analysed.yaml",
        &format!(
            "{steps}      - analysis:\n          templates: [{{templateName: sr}}]\n---\nkind: AnalysisTemplate\nmetadata: {{name: sr}}\nspec:\n  metrics:\n  - name: sr\n    interval: 1m\n    successCondition: result[0] < 0.05\n    provider:\n      prometheus:\n        query: sum(rate(http_requests_total{{code=~\"5..\"}}[1m])) / sum(rate(http_requests_total[1m]))\n"
        ),
    );
    let sc = import(&[analysed], &Options::default()).unwrap().scenario;
    assert_eq!(10 % sc.simulation.tick.0, 0, "the 10 s retry falls on the tick ({})", sc.simulation.tick);
}
