//! The scenario file format (TOML), exactly as written by users.
//!
//! Every value with a unit is a string (`"15m"`, `"1%"`, `"500ms"`) kept with
//! its byte span, so that validation in `super::build` can name the line and
//! column of a bad value. Unknown fields are errors everywhere.

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

pub type Text = Spanned<String>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub fleet: RawFleet,
    #[serde(default)]
    pub traffic: RawTraffic,
    #[serde(default)]
    pub health: RawHealth,
    pub policy: RawPolicy,
    #[serde(default)]
    pub faults: Vec<RawFault>,
    #[serde(default)]
    pub simulation: RawSimulation,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawFleet {
    pub instances: Option<Spanned<i64>>,
    pub scrape_interval: Option<Text>,
    pub restart_time: Option<Text>,
    pub metrics: Option<Text>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawTraffic {
    pub requests_per_second: Option<Spanned<f64>>,
    pub diurnal_amplitude: Option<Text>,
    pub peak_hour: Option<Spanned<f64>>,
    pub start_hour: Option<Spanned<f64>>,
    pub noise: Option<Text>,
    #[serde(default)]
    pub classes: Vec<RawClass>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClass {
    pub name: String,
    pub share: Text,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawHealth {
    pub error_rate: Option<Text>,
    pub latency_p50: Option<Text>,
    pub latency_p99: Option<Text>,
    pub cpu: Option<Text>,
    pub cpu_spread: Option<Text>,
    pub memory: Option<Text>,
    pub memory_spread: Option<Text>,
    pub db_pool: Option<Text>,
    pub cache_hit_ratio: Option<Text>,
    pub user_report_probability: Option<Text>,
    pub user_report_delay: Option<Text>,
    pub slo_latency: Option<Text>,
    pub slo_target: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    #[serde(default)]
    pub checks: RawChecks,
    pub alert_every: Option<Text>,
    #[serde(default)]
    pub alerts: IndexMap<String, RawRule>,
    #[serde(default)]
    pub rollback: RawRollback,
    /// The runbook engine's phases; absent under `argo` or `flagger`.
    #[serde(default)]
    pub phases: Vec<RawPhase>,
    /// A policy moved by Argo Rollouts' semantics (imported from a `Rollout`).
    pub argo: Option<RawArgo>,
    /// A policy moved by Flagger's semantics (imported from a `Canary`).
    pub flagger: Option<RawFlagger>,
    /// Template variables of PromQL rules (`{{name}}` in `query`).
    #[serde(default)]
    pub query_vars: IndexMap<String, String>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawChecks {
    pub every: Option<Text>,
    pub mode: Option<Text>,
    pub failure_limit: Option<Spanned<i64>>,
    pub consecutive_failure_limit: Option<Spanned<i64>>,
    pub consecutive_error_limit: Option<Spanned<i64>>,
    pub inconclusive_limit: Option<Spanned<i64>>,
    pub min_requests: Option<Spanned<i64>>,
    pub on_failure: Option<Text>,
    pub on_inconclusive: Option<Text>,
    pub extend_by: Option<Text>,
    pub max_extensions: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawRollback {
    pub duration: Option<Text>,
    #[serde(default)]
    pub triggers: IndexMap<String, RawRule>,
}

/// An alert rule or a rollback trigger: `metric op threshold` over a window.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub metric: Option<Text>,
    /// PromQL instead of `metric` (README: PromQL).
    pub query: Option<Text>,
    pub scope: Option<Text>,
    pub class: Option<Text>,
    pub agg: Option<Text>,
    pub window: Option<Text>,
    pub op: Option<Text>,
    pub threshold: Text,
    pub min_requests: Option<Spanned<i64>>,
    /// Triggers only: evaluation cadence.
    pub every: Option<Text>,
    /// Alerts only: how long the condition must hold.
    #[serde(rename = "for")]
    pub for_: Option<Text>,
    /// Alerts only.
    pub severity: Option<Text>,
    /// Alerts only: a firing alert rolls back at once.
    pub rollback: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPhase {
    pub name: String,
    pub weight: Text,
    pub bake: Text,
    pub approval: Option<Text>,
    #[serde(default)]
    pub checks: RawChecks,
    #[serde(default)]
    pub steps: Vec<RawStep>,
    #[serde(default)]
    pub gates: IndexMap<String, RawGate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub at: Text,
    pub action: Text,
    #[serde(default)]
    pub label: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGate {
    pub metric: Option<Text>,
    /// PromQL instead of `metric` (README: PromQL).
    pub query: Option<Text>,
    pub scope: Option<Text>,
    pub class: Option<Text>,
    pub agg: Option<Text>,
    pub window: Option<Text>,
    pub op: Option<Text>,
    pub limit: Text,
    #[serde(default)]
    pub dry_run: bool,
}

/// One entry of the fault mix. Which magnitude fields apply depends on `kind`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    pub name: Option<String>,
    pub kind: Text,
    pub weight: Spanned<f64>,
    pub onset: Option<Text>,
    pub class: Option<Text>,
    pub error_rate: Option<Text>,
    pub error_factor: Option<Text>,
    pub latency_shift: Option<Text>,
    pub latency_scale: Option<Text>,
    pub slow_share: Option<Text>,
    pub slow_latency: Option<Text>,
    pub leak_per_hour: Option<Text>,
    pub crashes_per_hour: Option<Text>,
    pub cpu_added: Option<Text>,
    pub min_weight: Option<Text>,
    pub burst_every: Option<Text>,
    pub burst_length: Option<Text>,
    pub drift_per_hour: Option<Text>,
    pub duration: Option<Text>,
    /// `recorded` only: the recording (path relative to the scenario file).
    pub data: Option<Text>,
    /// `recorded` only: which recorded metric gives the shape.
    pub metric: Option<Text>,
    /// `recorded` only: how strongly the shape's deviation from its median is applied.
    pub scale: Option<Text>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawSimulation {
    pub tick: Option<Text>,
    pub time_limit: Option<Text>,
    pub max_events: Option<Spanned<i64>>,
    pub trials: Option<Spanned<i64>>,
    pub seed: Option<Spanned<i64>>,
}

/// `[policy.argo]`: a `Rollout`'s canary steps and analysis (README: Import).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawArgo {
    pub steps: Vec<RawArgoStep>,
    pub background: Option<RawBackground>,
    pub manual_delay: Option<Text>,
    pub on_inconclusive: Option<Text>,
    #[serde(default)]
    pub metrics: IndexMap<String, RawArgoMetric>,
}

/// One step: exactly one of its fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawArgoStep {
    pub set_weight: Option<Text>,
    /// A duration, or `"manual"` (`pause: {}`).
    pub pause: Option<Text>,
    pub analysis: Option<Vec<String>>,
    pub set_canary_scale: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackground {
    pub starting_step: Option<Spanned<i64>>,
    pub metrics: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawArgoMetric {
    pub query: Option<Text>,
    /// `"pass"` or `"fail"`: a provider that cannot be simulated.
    pub assume: Option<Text>,
    pub success: Option<Text>,
    pub failure: Option<Text>,
    pub initial_delay: Option<Text>,
    pub interval: Option<Text>,
    pub count: Option<Spanned<i64>>,
    pub failure_limit: Option<Spanned<i64>>,
    pub inconclusive_limit: Option<Spanned<i64>>,
    pub consecutive_error_limit: Option<Spanned<i64>>,
    pub consecutive_success_limit: Option<Spanned<i64>>,
    #[serde(default)]
    pub dry_run: bool,
}

/// `[policy.flagger]`: a `Canary`'s analysis (README: Import).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFlagger {
    pub interval: Option<Text>,
    pub threshold: Option<Spanned<i64>>,
    pub max_weight: Option<Text>,
    pub step_weight: Option<Text>,
    #[serde(default)]
    pub step_weights: Vec<Text>,
    pub iterations: Option<Spanned<i64>>,
    pub iteration_weight: Option<Text>,
    #[serde(default)]
    pub metrics: IndexMap<String, RawFlaggerMetric>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFlaggerMetric {
    pub query: Option<Text>,
    pub assume: Option<Text>,
    pub min: Option<Spanned<f64>>,
    pub max: Option<Spanned<f64>>,
}
