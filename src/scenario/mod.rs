//! Scenarios: fleet + traffic + health model + policy + fault mix + simulation
//! settings, loaded from TOML files under `scenarios/` or the built-in seed.
//!
//! [`raw`] is the file format; [`build`] validates it into the domain types
//! below (errors name file, line, column and field path); [`print`] writes a
//! scenario back as canonical TOML and describes its policy for humans.

mod build;
pub use build::substitute;
mod check;
pub mod controller;
mod faults;
mod fields;
mod policy;
pub mod print;
pub mod raw;

use crate::engine::{ClassId, Policy};
use crate::time::SimDur;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

pub use build::DEFAULTS;
pub use fields::FIELD_DOCS;

/// The reference runbook's policy (../shared/seed), built into the binary.
pub const SEED_TOML: &str = include_str!("../../scenarios/seed-canary.toml");
/// The name under which the built-in scenario is reported.
pub const SEED_NAME: &str = "seed-canary";

/// A validated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub fleet: Fleet,
    pub traffic: Traffic,
    pub health: Health,
    pub policy: Arc<Policy>,
    pub faults: Vec<FaultSpec>,
    pub simulation: SimSettings,
    /// The PromQL of `query =` rules; the policy refers to them as `Metric::Query(i)`.
    pub queries: Vec<PromRule>,
    /// `[policy.query_vars]`: the user's template variables, as written.
    pub query_vars: Vec<(String, String)>,
}

/// A PromQL rule's query: as written, and parsed for each group after its
/// template variables were substituted (`{{version}}`, `{{target}}`, ...).
#[derive(Debug, Clone)]
pub struct PromRule {
    pub template: String,
    /// Candidate, stable.
    pub parsed: [crate::promql::Query; 2],
}

impl PromRule {
    /// The rule's answer for `group` at `t` (Unix ms) over `storage`: the one
    /// number it judges ([`crate::promql::judged`]); no request count.
    pub fn answer<S: crate::promql::Storage + ?Sized>(
        &self,
        group: crate::engine::Group,
        storage: &mut S,
        t: i64,
    ) -> Result<crate::engine::Sample, crate::engine::QueryError> {
        let query = &self.parsed[usize::from(group == crate::engine::Group::Stable)];
        crate::promql::judged(crate::promql::Evaluator::new(storage).instant(query, t))
            .map(|v| crate::engine::Sample { value: v, requests: None })
            .map_err(crate::engine::QueryError)
    }
}

impl PromRule {
    /// The rule's whole answer (a scalar, or every sample of the vector in
    /// result order), as Argo Rollouts and Flagger receive it.
    pub fn answer_all<S: crate::promql::Storage + ?Sized>(
        &self,
        group: crate::engine::Group,
        storage: &mut S,
        t: i64,
    ) -> Result<crate::engine::Answer, crate::engine::QueryError> {
        let query = &self.parsed[usize::from(group == crate::engine::Group::Stable)];
        match crate::promql::Evaluator::new(storage).instant(query, t) {
            Ok(crate::promql::Value::Scalar(x)) => Ok(crate::engine::Answer::Scalar(x)),
            Ok(crate::promql::Value::Vector(v)) => {
                Ok(crate::engine::Answer::Vector(v.iter().map(|s| s.value).collect()))
            }
            Ok(_) => Err(crate::engine::QueryError("the query does not return a number".into())),
            Err(e) => Err(crate::engine::QueryError(e)),
        }
    }
}

impl PartialEq for PromRule {
    fn eq(&self, other: &PromRule) -> bool {
        self.template == other.template
    }
}

/// The service's instances.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    /// Instances in the fleet; the candidate gets `ceil(weight × instances)`.
    pub instances: u32,
    /// How often metrics are scraped.
    pub scrape_interval: SimDur,
    /// How long a restarted instance is unavailable.
    pub restart_time: SimDur,
    /// How the fleet's series are named for PromQL (`rollsim query`, `query =` rules).
    pub metrics: crate::promql::profile::Profile,
}

/// The request load and its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Traffic {
    /// Mean total requests per second over a day.
    pub requests_per_second: f64,
    /// Relative amplitude of the daily cycle (0.3 = ±30%).
    pub diurnal_amplitude: f64,
    /// Hour of day (0–24) of peak traffic.
    pub peak_hour: f64,
    /// Hour of day at which the rollout starts.
    pub start_hour: f64,
    /// Relative standard deviation of per-minute rate noise (shared by both versions).
    pub noise: f64,
    /// Request classes; the last one is always the remainder, `other`.
    pub classes: Vec<RequestClass>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RequestClass {
    pub name: String,
    /// Share of all requests, 0..=1.
    pub share: f64,
}

/// The stable version's health: what a good candidate also looks like.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub error_rate: f64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub cpu: f64,
    /// Standard deviation of CPU utilisation across instances.
    pub cpu_spread: f64,
    pub memory: f64,
    pub memory_spread: f64,
    pub db_pool: f64,
    pub cache_hit_ratio: f64,
    /// Probability that a failed request produces a user report.
    pub user_report_probability: f64,
    /// Delay between a failure and its user report.
    pub user_report_delay: SimDur,
    /// Requests slower than this count as slow (for excess-slow and SLO burn).
    pub slo_latency_ms: f64,
    /// Availability SLO target over 30 days (0.999 = 99.9%).
    pub slo_target: f64,
}

/// A magnitude drawn uniformly from `[lo, hi]` per trial (fixed when equal).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dist {
    pub lo: f64,
    pub hi: f64,
}

impl Dist {
    pub fn fixed(v: f64) -> Dist {
        Dist { lo: v, hi: v }
    }
    /// The value at `u` in [0, 1).
    pub fn at(&self, u: f64) -> f64 {
        self.lo + (self.hi - self.lo) * u
    }
}

/// What is wrong with a candidate version (or with the world).
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// A good version.
    None,
    /// Error rate raised by an absolute amount and/or multiplied by a factor.
    ErrorRate { added: Option<Dist>, factor: Option<Dist> },
    /// Latency shifted, scaled, and/or a share of requests made slow (heavier tail).
    Latency { shift_ms: Option<Dist>, scale: Option<Dist>, slow_share: Option<Dist>, slow_ms: f64 },
    /// Memory grows per hour until the instance is OOM-killed at 100% and restarts.
    MemoryLeak { per_hour: Dist },
    /// Each candidate instance crashes this often per hour.
    CrashLoop { per_hour: Dist },
    /// CPU utilisation raised by an absolute amount.
    Cpu { added: Dist },
    /// Errors appear only while the candidate's traffic share is at least `min_weight`.
    LoadDependent { added: Dist, min_weight: f64 },
    /// Error bursts of `length` every `every`.
    Intermittent { added: Dist, every: SimDur, length: SimDur },
    /// Error rate grows linearly after onset.
    Drift { per_hour: Dist },
    /// A dependency incident that hurts stable and candidate alike (the candidate is good).
    SharedDependency { added: Dist, shift_ms: Option<Dist>, duration: Dist },
    /// A recorded incident's shape, scaled onto the candidate's baseline: the
    /// recorded `metric` divided by its median gives a factor over time from the
    /// onset, applied to the candidate's error rate, latency or CPU.
    Recorded {
        /// The path as written in the scenario (relative to the scenario file).
        data: String,
        /// Where the recording was read from.
        source: std::path::PathBuf,
        metric: crate::engine::Metric,
        shape: Arc<Shape>,
        scale: Dist,
    },
}

/// A recorded shape: (seconds since the recording started, factor), sorted.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    pub points: Vec<(u64, f64)>,
}

impl Shape {
    /// The factor at `secs` after the start (1 after the recording ends).
    pub fn at(&self, secs: u64) -> f64 {
        match self.points.partition_point(|p| p.0 <= secs) {
            0 => 1.0,
            i if i == self.points.len() && secs > self.points[i - 1].0 + 3600 => 1.0,
            i => self.points[i - 1].1,
        }
    }
}

/// The kind of a fault without its magnitudes: how fault kinds are named in
/// scenario files and trial tables (the one list of names; parsing and printing
/// go through [`FaultType::from_str`](std::str::FromStr) and `Display`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultType {
    None,
    ErrorRate,
    Latency,
    MemoryLeak,
    CrashLoop,
    Cpu,
    LoadDependent,
    Intermittent,
    Drift,
    SharedDependency,
    Recorded,
}

impl FaultType {
    pub const ALL: [FaultType; 11] = [
        FaultType::None,
        FaultType::ErrorRate,
        FaultType::Latency,
        FaultType::MemoryLeak,
        FaultType::CrashLoop,
        FaultType::Cpu,
        FaultType::LoadDependent,
        FaultType::Intermittent,
        FaultType::Drift,
        FaultType::SharedDependency,
        FaultType::Recorded,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultType::None => "none",
            FaultType::ErrorRate => "error-rate",
            FaultType::Latency => "latency",
            FaultType::MemoryLeak => "memory-leak",
            FaultType::CrashLoop => "crash-loop",
            FaultType::Cpu => "cpu",
            FaultType::LoadDependent => "load-dependent",
            FaultType::Intermittent => "intermittent",
            FaultType::Drift => "drift",
            FaultType::SharedDependency => "shared-dependency",
            FaultType::Recorded => "recorded",
        }
    }

    /// The magnitude fields a fault of this kind reads; any other is an error.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            FaultType::None => &[],
            FaultType::ErrorRate => &["error_rate", "error_factor"],
            FaultType::Latency => &["latency_shift", "latency_scale", "slow_share", "slow_latency"],
            FaultType::MemoryLeak => &["leak_per_hour"],
            FaultType::CrashLoop => &["crashes_per_hour"],
            FaultType::Cpu => &["cpu_added"],
            FaultType::LoadDependent => &["error_rate", "min_weight"],
            FaultType::Intermittent => &["error_rate", "burst_every", "burst_length"],
            FaultType::Drift => &["drift_per_hour"],
            FaultType::SharedDependency => &["error_rate", "latency_shift", "duration"],
            FaultType::Recorded => &["data", "metric", "scale"],
        }
    }

    /// True for an outside incident that hurts stable and candidate alike:
    /// a rollback during it is not a noise-induced false rollback.
    pub fn is_outside_incident(self) -> bool {
        self == FaultType::SharedDependency
    }

    /// True when the candidate version itself is bad.
    pub fn candidate_is_bad(self) -> bool {
        !matches!(self, FaultType::None | FaultType::SharedDependency)
    }
}

impl std::fmt::Display for FaultType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for FaultType {
    type Err = String;
    fn from_str(s: &str) -> Result<FaultType, String> {
        FaultType::ALL.into_iter().find(|t| t.name() == s.trim()).ok_or_else(|| {
            let names: Vec<&str> = FaultType::ALL.iter().map(|t| t.name()).collect();
            format!("unknown fault kind {s:?}; expected one of {}", names.join(", "))
        })
    }
}

impl FaultKind {
    pub fn fault_type(&self) -> FaultType {
        match self {
            FaultKind::None => FaultType::None,
            FaultKind::ErrorRate { .. } => FaultType::ErrorRate,
            FaultKind::Latency { .. } => FaultType::Latency,
            FaultKind::MemoryLeak { .. } => FaultType::MemoryLeak,
            FaultKind::CrashLoop { .. } => FaultType::CrashLoop,
            FaultKind::Cpu { .. } => FaultType::Cpu,
            FaultKind::LoadDependent { .. } => FaultType::LoadDependent,
            FaultKind::Intermittent { .. } => FaultType::Intermittent,
            FaultKind::Drift { .. } => FaultType::Drift,
            FaultKind::SharedDependency { .. } => FaultType::SharedDependency,
            FaultKind::Recorded { .. } => FaultType::Recorded,
        }
    }

    pub fn name(&self) -> &'static str {
        self.fault_type().name()
    }

    /// True for an outside incident that hurts stable and candidate alike:
    /// a rollback during it is not a noise-induced false rollback.
    pub fn is_outside_incident(&self) -> bool {
        self.fault_type().is_outside_incident()
    }

    /// True when the candidate version itself is bad.
    pub fn candidate_is_bad(&self) -> bool {
        self.fault_type().candidate_is_bad()
    }
}

/// One entry of the fault mix.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    /// Label in reports (defaults to the kind).
    pub name: String,
    pub kind: FaultKind,
    /// Relative weight in the mix.
    pub weight: f64,
    /// Delay from the first candidate deployment to the fault's onset, drawn uniformly.
    pub onset_lo: SimDur,
    pub onset_hi: SimDur,
    /// Restrict request-level effects to one class (a partial fault).
    pub class: Option<ClassId>,
}

/// Limits and defaults for runs.
#[derive(Debug, Clone, PartialEq)]
pub struct SimSettings {
    /// The simulated world's time grid: traffic noise, request counts, gauges
    /// and pod events are drawn per tick. It belongs to the model, never to the
    /// policy, so a policy edit cannot change the world it is judged against.
    pub tick: SimDur,
    /// Simulated time after which a trial stops (outcome: held at the time limit).
    pub time_limit: SimDur,
    /// Cap on simulated events per trial.
    pub max_events: u64,
    /// Default trial count for `rollsim run`.
    pub trials: u64,
    /// Default master seed.
    pub seed: u64,
}

/// An error in a scenario file, pointing at the offending value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    /// 1-based; 0 when unknown.
    pub line: usize,
    pub column: usize,
    /// Field path, e.g. `policy.phases[1].gates.error_rate.limit`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// All errors found in one scenario file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ScenarioErrors(pub Vec<ScenarioError>);

impl fmt::Display for ScenarioErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl Scenario {
    /// Parses and validates scenario text; `file` names it in errors.
    /// Parses and validates scenario text; `file` names it in errors and its
    /// folder is where referenced recordings are found.
    pub fn from_toml(text: &str, file: &str) -> Result<Scenario, ScenarioErrors> {
        build::build(text, file, Scenario::folder_of(Path::new(file)))
    }

    /// The folder whose files (recordings) a scenario file at `file` names.
    pub fn folder_of(file: &Path) -> &Path {
        file.parent().filter(|d| d.is_dir()).unwrap_or(Path::new("."))
    }

    /// Like [`Scenario::from_toml`], with `label` naming the text in errors and
    /// recordings found in `base_dir` (sweep variants, a revision from git).
    pub fn from_toml_in(text: &str, label: &str, base_dir: &Path) -> Result<Scenario, ScenarioErrors> {
        build::build(text, label, base_dir)
    }

    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioErrors> {
        let file = path.display().to_string();
        let fail = |message: String| {
            ScenarioErrors(vec![ScenarioError {
                file: file.clone(),
                line: 0,
                column: 0,
                field: String::new(),
                message,
            }])
        };
        if path.is_dir() {
            return Err(fail("is a folder: expected a scenario file in TOML".into()));
        }
        let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read the file: {e}")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| fail("is not a text file (not UTF-8): expected a scenario in TOML".into()))?;
        if text.trim().is_empty() {
            return Err(fail(
                "the file is empty: expected a scenario in TOML (`rollsim scenario` prints a complete example)".into(),
            ));
        }
        Scenario::from_toml(&text, &file)
    }

    /// The built-in seed scenario (the reference runbook).
    pub fn seed() -> Scenario {
        Scenario::from_toml(SEED_TOML, "<built-in seed-canary.toml>").expect("the built-in scenario is valid")
    }

    /// Index of a request class by name.
    pub fn class_id(&self, name: &str) -> Option<ClassId> {
        self.traffic.classes.iter().position(|c| c.name == name).map(|i| i as ClassId)
    }
}
