//! The figures rollsim prints can be bet on: paired worlds that a policy edit
//! cannot move, onsets where the fault shows in the data, outcome populations
//! that are never mixed, and a sweep recommendation confirmed on fresh trials.

use rollsim::compare::{self, Row};
use rollsim::runner;
use rollsim::scenario::{Scenario, SEED_TOML};
use rollsim::sim::{Outcome, Population, TrialRecord};
use rollsim::summary::Summary;
use rollsim::sweep::{self, Objective, Vary};
use rollsim::time::SimDur;

fn seed_edited(edits: &[(&str, &str)]) -> Scenario {
    let mut text = SEED_TOML.to_string();
    for (from, to) in edits {
        assert!(text.contains(from), "{from}");
        text = text.replacen(from, to, 1);
    }
    Scenario::from_toml(&text, "edited.toml").unwrap_or_else(|e| panic!("{e}"))
}

const TRIALS: u64 = 400;

fn runs(edits: &[(&str, &str)]) -> (Vec<TrialRecord>, Vec<TrialRecord>) {
    let base = runner::run(&Scenario::seed(), 11, 0..TRIALS, 2, &|| {}).unwrap();
    let sc = seed_edited(edits);
    let new = runner::run(&sc, 11, 0..TRIALS, 2, &|| {}).unwrap();
    (base, new)
}

#[test]
fn a_longer_rollback_changes_nothing_before_the_rollback() {
    // 5m → 5m15s used to change the simulation tick, hence every draw (false
    // rollbacks moved from 15.6% to 18.8%).
    let (base, new) = runs(&[("[policy.rollback]\nduration = \"5m\"", "[policy.rollback]\nduration = \"5m15s\"")]);
    let mut rolled_back = 0;
    for (a, b) in base.iter().zip(&new) {
        if a.outcome == Outcome::RolledBack {
            rolled_back += 1;
            assert_eq!(b.outcome, Outcome::RolledBack, "trial {}", a.trial);
            assert_eq!((a.rollback_at, a.rollback_cause, a.detection), (b.rollback_at, b.rollback_cause, b.detection));
            assert_eq!((a.first_alert, &a.phase_times, a.peak_weight), (b.first_alert, &b.phase_times, b.peak_weight));
            // The rollback itself takes 15 s longer.
            assert_eq!(b.end.0, a.end.0 + 15, "trial {}", a.trial);
        } else {
            assert_eq!(a, b, "trial {} did not roll back: its row must not change", a.trial);
        }
    }
    assert!(rolled_back > 50 && rolled_back < TRIALS as usize - 50, "{rolled_back}");
    let false_rate = |rs: &[TrialRecord]| rs.iter().filter(|r| r.false_rollback()).count();
    assert_eq!(false_rate(&base), false_rate(&new));
}

#[test]
fn a_dry_run_gate_on_a_signal_nothing_read_changes_no_row_and_compare_says_no_change() {
    // Reading the cache hit ratio used to draw it from the fleet's stream, shifting every later draw.
    // Base: the seed without its one cache gate, so nothing reads cache hits;
    // new: the same with a dry-run cache gate appended as phase 0's last gate
    // (the other gates keep their indices).
    let cache_gate = "[policy.phases.gates.cache_hit_ratio]\nop = \">=\"\nlimit = \"baseline - 2%\"\n\n";
    assert!(SEED_TOML.contains(cache_gate));
    let base_text = SEED_TOML.replacen(cache_gate, "", 1);
    let phase1 = base_text.match_indices("[[policy.phases]]").nth(1).unwrap().0;
    let gate = "[policy.phases.gates.cache_watch]\nmetric = \"cache_hit_ratio\"\nop = \">\"\nlimit = \"99.9%\"\ndry_run = true\n\n";
    let text = format!("{}{gate}{}", &base_text[..phase1], &base_text[phase1..]);
    let seed = Scenario::from_toml(&base_text, "base.toml").unwrap();
    let sc = Scenario::from_toml(&text, "dry-run.toml").unwrap();
    assert!(!seed.policy.queries(true).iter().any(|q| q.metric == rollsim::engine::Metric::CacheHitRatio));
    let base = runner::run(&seed, 11, 0..TRIALS, 2, &|| {}).unwrap();
    let new = runner::run(&sc, 11, 0..TRIALS, 2, &|| {}).unwrap();
    assert!(sc.policy.phases[0].gates.last().is_some_and(|g| g.name == "cache_watch" && g.dry_run));
    for (a, b) in base.iter().zip(&new) {
        assert_eq!(a, b, "trial {}", a.trial);
    }
    let rows = |sc: &Scenario, rs: &[TrialRecord]| rs.iter().map(|r| Row::from_record(sc, r)).collect::<Vec<_>>();
    let c = compare::compare(&rows(&seed, &base), &rows(&sc, &new), &compare::default_tolerances(), 300);
    assert!(c.paired && !c.regressed());
    for g in &c.groups {
        for d in &g.deltas {
            assert_eq!(d.verdict, compare::Verdict::NoSignificantChange, "{} {:?}", g.name, d);
            assert_eq!(d.change, 0.0, "{} {:?}", g.name, d);
            assert!((d.lo == 0.0 && d.hi == 0.0) || (d.lo.is_nan() && d.hi.is_nan()), "{} {:?}", g.name, d);
        }
    }
}

#[test]
fn a_denser_check_cadence_leaves_trials_that_never_fail_unchanged() {
    // 15m → 5m (divides it): more checks, the same world. Trials that complete
    // under both policies made the same decisions and must have the same row
    // (but for the event count: more check instants).
    let (base, new) = runs(&[("[policy.checks]\nevery = \"15m\"", "[policy.checks]\nevery = \"5m\"")]);
    let mut same = 0;
    for (a, b) in base.iter().zip(&new) {
        if a.outcome == Outcome::Completed && b.outcome == Outcome::Completed {
            same += 1;
            assert_eq!(
                TrialRecord { events: 0, ..a.clone() },
                TrialRecord { events: 0, ..b.clone() },
                "trial {}",
                a.trial
            );
        }
    }
    assert!(same > 100, "{same}");
}

#[test]
fn onsets_lie_on_the_tick_grid_where_the_fault_first_shows() {
    let start = SEED_TOML.find("# The fault mix").unwrap();
    let end = SEED_TOML.find("[simulation]").unwrap();
    let text = format!(
        "{}[[faults]]\nname = \"big\"\nkind = \"error-rate\"\nweight = 1\nonset = \"7s..3h\"\nerror_rate = \"50%\"\n\n{}",
        &SEED_TOML[..start],
        &SEED_TOML[end..]
    );
    let sc = Scenario::from_toml(&text, "onset.toml").unwrap();
    let tick = sc.simulation.tick;
    assert_eq!(tick, SimDur::mins(1));
    for k in 0..40 {
        let (r, trace) = runner::trace(&sc, 5, k);
        assert_eq!(r.onset.0 % tick.0, 0, "trial {k}: onset {} is not on the 1m grid", r.onset.0);
        // The tick ending at the onset is healthy; the next one carries the fault.
        let before = trace.ticks.iter().find(|t| t.t == r.onset).unwrap();
        let after = trace.ticks.iter().find(|t| t.t.0 == r.onset.0 + tick.0).unwrap();
        if before.candidate_requests > 0 {
            assert!(
                (before.candidate_errors as f64) < 0.05 * before.candidate_requests as f64,
                "trial {k}: {before:?}"
            );
        }
        assert!(after.candidate_requests > 100, "trial {k}: {after:?}");
        let share = after.candidate_errors as f64 / after.candidate_requests as f64;
        assert!(share > 0.4, "trial {k}: the fault must show from its onset: {after:?}");
        assert_eq!(r.detection.map(|d| d.0), r.rollback_at.map(|t| t.0 - r.onset.0), "trial {k}");
    }
}

#[test]
fn good_versions_under_noise_and_during_incidents_are_reported_apart() {
    let sc = Scenario::seed();
    let records = runner::run(&sc, 3, 0..600, 2, &|| {}).unwrap();
    let s = Summary::new(&sc, 3, &records);
    let of = |p: Population| records.iter().filter(|r| r.population(&sc) == p).collect::<Vec<_>>();
    let (noise, incident) = (of(Population::Noise), of(Population::Incident));
    assert!(!noise.is_empty() && !incident.is_empty());
    let good = s.overall_good();
    assert_eq!(good.name, "good, noise only");
    assert_eq!(good.trials as usize, noise.len());
    assert_eq!(good.false_rollback.hits as usize, noise.iter().filter(|r| r.false_rollback()).count());
    let inc = s.overall_incident().expect("the seed mix has a shared-dependency entry");
    assert_eq!(inc.trials as usize, incident.len());
    assert_eq!(inc.false_rollback.hits as usize, incident.iter().filter(|r| r.false_rollback()).count());
    // Duration counts completed rollouts only: a rolled-back good version is not a fast one.
    let completed = noise.iter().filter(|r| r.outcome == Outcome::Completed).count();
    assert_eq!(good.duration_p50_h.n, completed);
    assert!(completed < noise.len(), "some good versions are rolled back under noise");
    let fr_times = noise.iter().filter(|r| r.false_rollback()).count();
    assert_eq!(good.false_rollback_time_p50_h.n, fr_times);
    // A policy that rolls back every good version early does not look faster.
    let trigger_happy = seed_edited(&[("threshold = \"5%\"\nwindow = \"2m\"", "threshold = \"0%\"\nwindow = \"2m\"")]);
    let rs = runner::run(&trigger_happy, 3, 0..200, 2, &|| {}).unwrap();
    let s2 = Summary::new(&trigger_happy, 3, &rs);
    assert!(s2.overall_good().false_rollback.value > 0.9, "{:?}", s2.overall_good().false_rollback);
    let d = s2.overall_good().duration_p50_h;
    assert!(d.n == 0 || d.value >= good.duration_p50_h.value, "{d:?}");
}

#[test]
fn objectives_address_groups_and_the_recommendation_is_confirmed_on_fresh_trials() {
    let vs = sweep::variants(
        SEED_TOML,
        "seed",
        &["policy.phases[0].gates.error_rate.limit=0.5%,2%".parse::<Vary>().unwrap()],
        false,
    )
    .unwrap();
    let objective: Objective = "min excess_failed where false_rollback[good] <= 30%".parse().unwrap();
    objective.check_groups(&vs[0].scenario).unwrap();
    let wrong: Objective = "min p90_detection where false_rollback[nope] <= 30%".parse().unwrap();
    assert!(wrong.check_groups(&vs[0].scenario).unwrap_err().contains("unknown group \"nope\""));
    let r = sweep::run(vs, 4, 150, 2, Some(objective), &|| {}).unwrap();
    let rec = r.recommended.expect("a variant meets the constraint");
    let md = r.markdown(4, 150);
    assert_ne!(rec, 0, "the stricter limit lets fewer requests fail within the constraint:\n{md}");
    let cf = r.confirmation.as_ref().expect("a recommendation other than the current policy is confirmed");
    assert_eq!(cf.seed, sweep::confirmation_seed(4));
    assert_ne!(cf.seed, 4);
    assert_eq!(cf.trials, 150);
    assert!(md.contains("Confirmation on fresh trials"), "{md}");
    // The confirmation is a fresh run: its base rows are not the sweep's.
    assert!(cf.comparison.paired);
    assert!(md.contains(&format!("seed {}", cf.seed)), "{md}");
}
