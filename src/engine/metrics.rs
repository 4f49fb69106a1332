//! What the engine can ask about the world: metric queries and the
//! [`MetricSource`] trait that the simulator, the replayer and a live backend
//! implement.

use super::policy::Cmp;
use crate::time::{SimDur, SimTime};
use std::fmt;

/// A golden signal or application metric that gates, alerts and triggers read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// Failed requests / requests over the window (fraction).
    ErrorRate,
    /// Latency quantiles over the window from histogram buckets (milliseconds).
    LatencyP50,
    LatencyP90,
    LatencyP99,
    /// Requests per second over the window.
    RequestRate,
    /// CPU utilisation of the group's instances (fraction of a core limit).
    Cpu,
    /// Memory utilisation of the group's instances (fraction of the limit).
    Memory,
    /// Instance restarts (crashes, OOM kills) within the window (count).
    Restarts,
    /// Database connection-pool utilisation (fraction).
    DbPool,
    /// Cache hit ratio (fraction).
    CacheHitRatio,
    /// User-reported issues received within the window (count).
    UserReports,
    /// Critical alerts that were firing at some point in the window (count).
    /// Answered by the engine itself from its alert states, never by a source.
    CriticalAlerts,
    /// A PromQL query of the scenario (`query = "..."`), by its index: the
    /// source evaluates it for the query's group. Its value is the scalar, or
    /// the single element of the vector, it returns (a plain number).
    Query(u16),
}

/// What a metric's values are measured in; decides how limits are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A fraction, written as a percentage (`1%`).
    Fraction,
    /// Milliseconds, written as a latency (`500ms`).
    Millis,
    /// A plain number (counts, requests per second).
    Number,
}

/// How values are aggregated over a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Agg {
    /// Ratio of sums (error rate) or quantile of the summed histogram (latency).
    Window,
    /// Mean of the per-scrape group means.
    Avg,
    /// Largest per-scrape value of any instance in the group.
    Max,
    /// Smallest per-scrape group mean.
    Min,
    /// The latest per-scrape value (the group maximum for gauges).
    Last,
    /// A Prometheus instant selector: the latest sample whose timestamp lies in
    /// `[now − window, now]` (the window is the lookback, 5m by default, closed
    /// at both ends as in Prometheus 2.x); no such sample = no data.
    Instant,
    /// Increase of a counter over the window.
    Increase,
}

impl Metric {
    pub const ALL: [Metric; 12] = [
        Metric::ErrorRate,
        Metric::LatencyP50,
        Metric::LatencyP90,
        Metric::LatencyP99,
        Metric::RequestRate,
        Metric::Cpu,
        Metric::Memory,
        Metric::Restarts,
        Metric::DbPool,
        Metric::CacheHitRatio,
        Metric::UserReports,
        Metric::CriticalAlerts,
    ];

    /// The name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Metric::ErrorRate => "error_rate",
            Metric::LatencyP50 => "latency_p50",
            Metric::LatencyP90 => "latency_p90",
            Metric::LatencyP99 => "latency_p99",
            Metric::RequestRate => "request_rate",
            Metric::Cpu => "cpu",
            Metric::Memory => "memory",
            Metric::Restarts => "restarts",
            Metric::DbPool => "db_pool",
            Metric::CacheHitRatio => "cache_hit_ratio",
            Metric::UserReports => "user_reports",
            Metric::CriticalAlerts => "critical_alerts",
            Metric::Query(_) => "query",
        }
    }

    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    pub fn unit(self) -> Unit {
        match self {
            Metric::ErrorRate | Metric::Cpu | Metric::Memory | Metric::DbPool | Metric::CacheHitRatio => Unit::Fraction,
            Metric::LatencyP50 | Metric::LatencyP90 | Metric::LatencyP99 => Unit::Millis,
            Metric::RequestRate
            | Metric::Restarts
            | Metric::UserReports
            | Metric::CriticalAlerts
            | Metric::Query(_) => Unit::Number,
        }
    }

    /// The aggregation used when a scenario names none.
    pub fn default_agg(self) -> Agg {
        match self {
            Metric::ErrorRate
            | Metric::LatencyP50
            | Metric::LatencyP90
            | Metric::LatencyP99
            | Metric::RequestRate
            | Metric::CacheHitRatio
            | Metric::Query(_) => Agg::Window,
            Metric::Cpu | Metric::Memory | Metric::DbPool => Agg::Max,
            Metric::Restarts | Metric::UserReports | Metric::CriticalAlerts => Agg::Increase,
        }
    }

    /// Aggregations that make sense for this metric.
    pub fn allowed_aggs(self) -> &'static [Agg] {
        match self.default_agg() {
            Agg::Window => &[Agg::Window],
            Agg::Increase => &[Agg::Increase],
            _ => &[Agg::Max, Agg::Avg, Agg::Min, Agg::Last, Agg::Instant],
        }
    }

    /// True when the value is computed from requests, so that a minimum
    /// sample size applies (too few requests = inconclusive).
    pub fn needs_requests(self) -> bool {
        matches!(
            self,
            Metric::ErrorRate | Metric::LatencyP50 | Metric::LatencyP90 | Metric::LatencyP99 | Metric::CacheHitRatio
        )
    }

    /// The quantile a latency metric reports.
    pub fn latency_quantile(self) -> Option<f64> {
        match self {
            Metric::LatencyP50 => Some(0.50),
            Metric::LatencyP90 => Some(0.90),
            Metric::LatencyP99 => Some(0.99),
            _ => None,
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Agg {
    pub fn name(self) -> &'static str {
        match self {
            Agg::Window => "window",
            Agg::Avg => "avg",
            Agg::Max => "max",
            Agg::Min => "min",
            Agg::Last => "last",
            Agg::Instant => "instant",
            Agg::Increase => "increase",
        }
    }
    pub fn from_name(name: &str) -> Option<Agg> {
        [Agg::Window, Agg::Avg, Agg::Max, Agg::Min, Agg::Last, Agg::Instant, Agg::Increase]
            .into_iter()
            .find(|a| a.name() == name)
    }
}

/// Which instances a query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Group {
    /// Instances running the candidate version.
    Candidate,
    /// Instances running the stable version.
    Stable,
}

impl Group {
    pub fn name(self) -> &'static str {
        match self {
            Group::Candidate => "candidate",
            Group::Stable => "stable",
        }
    }
}

/// A request class (endpoint) by its index in the scenario's class list.
pub type ClassId = u8;

/// One metric question: "what was `metric` of `group` (restricted to request
/// class `class`) over the `window` seconds up to now, aggregated by `agg`?"
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Query {
    pub metric: Metric,
    pub group: Group,
    pub class: Option<ClassId>,
    pub window: SimDur,
    pub agg: Agg,
}

/// The answer to a [`Query`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sample {
    /// The value, or `None` when there was no data in the window.
    pub value: Option<f64>,
    /// Requests the value was computed from (for minimum-sample rules); `None`
    /// when the value is not request-based or the source does not know the count
    /// (then no minimum applies).
    pub requests: Option<u64>,
}

impl Sample {
    pub const NO_DATA: Sample = Sample { value: None, requests: None };

    /// True when a minimum of `min` requests is met (or cannot be judged).
    pub fn enough(&self, metric: Metric, min: u64) -> bool {
        enough(metric, self.requests, min)
    }

    /// This sample's value compared as `cmp limit`.
    pub fn compared(&self, cmp: Cmp, limit: f64) -> Compared {
        Compared { holds: self.value.map(|v| cmp.holds(v, limit)), requests: self.requests }
    }
}

fn enough(metric: Metric, requests: Option<u64>, min: u64) -> bool {
    !metric.needs_requests() || requests.is_none_or(|r| r >= min)
}

/// A [`Sample`] reduced to whether its value satisfies a comparison
/// ([`MetricSource::compare`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compared {
    /// `cmp.holds(value, limit)`, or `None` when there was no data in the window.
    pub holds: Option<bool>,
    /// As [`Sample::requests`].
    pub requests: Option<u64>,
}

impl Compared {
    /// As [`Sample::enough`].
    pub fn enough(&self, metric: Metric, min: u64) -> bool {
        enough(metric, self.requests, min)
    }
}

/// Why a source could not answer a query (a metrics backend that timed out, a
/// query it rejected). The engine counts it as an *error* measurement: gates
/// give the phase an error after more consecutive errors than
/// `consecutive_error_limit` (Argo Rollouts' semantics); a trigger or an alert
/// rule whose query fails is not evaluated at that instant (as Prometheus keeps
/// a rule's state when its evaluation fails).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

/// Where the engine reads metrics from. The simulator, the replayer and a live
/// metrics backend each implement it; the engine never reads anything else.
pub trait MetricSource {
    /// Answers `query` for the window ending at `now`.
    fn query(&mut self, query: &Query, now: SimTime) -> Result<Sample, QueryError>;

    /// The whole answer, as a metrics backend returns it: a scalar, or every
    /// sample of a vector in result order (Argo Rollouts' conditions index it,
    /// Flagger reads its last element). By default the one value of
    /// [`MetricSource::query`], or an empty vector when there is none.
    fn query_answer(&mut self, query: &Query, now: SimTime) -> Result<Answer, QueryError> {
        Ok(Answer::Vector(self.query(query, now)?.value.into_iter().collect()))
    }

    /// Whether `query`'s value at `now` satisfies `cmp limit`: always exactly
    /// `query(query, now)` compared, but a source may tell it without
    /// computing the value to the last digit (the simulator decides a latency
    /// quantile from the buckets above the limit). The engine asks this
    /// instead of [`MetricSource::query`] when its sink needs no values
    /// ([`super::EventSink::needs_values`]).
    fn compare(&mut self, query: &Query, now: SimTime, cmp: Cmp, limit: f64) -> Result<Compared, QueryError> {
        Ok(self.query(query, now)?.compared(cmp, limit))
    }
}

/// A backend's whole answer to a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Scalar(f64),
    /// Sample values in result order (empty: no series).
    Vector(Vec<f64>),
}

impl Answer {
    /// The value shown in traces: the scalar, or the first sample.
    pub fn first(&self) -> Option<f64> {
        match self {
            Answer::Scalar(x) => Some(*x),
            Answer::Vector(v) => v.first().copied(),
        }
    }
}

/// The one definition of [`Agg::Window`] for a ratio (error rate, cache hit
/// ratio): the ratio of sums over the window, i.e. each per-scrape ratio weighted
/// by the requests behind it. The simulator's store holds the counts and divides
/// their sums directly; the replayer holds recorded ratios and, when the request
/// rate is recorded too, weights each ratio by it (equal weights when it is not,
/// which is exact for a constant request rate). No weight, no value.
pub fn ratio_of_sums(points: impl IntoIterator<Item = (f64, f64)>) -> Option<f64> {
    let (mut num, mut den) = (0.0, 0.0);
    for (ratio, weight) in points {
        num += ratio * weight;
        den += weight;
    }
    (den > 0.0).then(|| num / den)
}
