//! Metric-naming profiles: how a Prometheus scraping the simulated fleet
//! would name its series, after the service mesh or ingress in front of it.
//!
//! | profile | requests (counter) | status label | latency histogram (unit) | version labels |
//! |---|---|---|---|---|
//! | generic | `http_requests_total` | `code` | `http_request_duration_seconds` (s) | `version="canary"` / `"stable"` |
//! | istio | `istio_requests_total` | `response_code` | `istio_request_duration_milliseconds` (ms) | `destination_workload="app"` / `"app-primary"` |
//! | linkerd | `response_total` | `classification`, `status_code` | `response_latency_ms` (ms) | `deployment="app"` / `"app-primary"` |
//! | nginx | `nginx_ingress_controller_requests` | `status` | `nginx_ingress_controller_request_duration_seconds` (s) | `canary="default-app-canary-80"` / none |
//!
//! The canary/primary workload names follow Flagger's convention (`app` and
//! `app-primary`, namespace `default`). Every profile adds the request class
//! as `class`, and exposes the same gauges and restart counter.

/// How the simulated fleet's series are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    #[default]
    Generic,
    Istio,
    Linkerd,
    Nginx,
}

/// Requests answered with an error get this status code; the rest 200.
pub const ERROR_CODE: &str = "500";

/// Gauge names: fraction of the limit, one series per statistic over the
/// group's instances (`stat="mean"` or `"max"`).
pub const CPU: &str = "rollsim_cpu_utilization_ratio";
pub const MEMORY: &str = "rollsim_memory_utilization_ratio";
pub const DB_POOL: &str = "rollsim_db_pool_utilization_ratio";
/// Container restarts of the group (a counter, kube-state-metrics' name).
pub const RESTARTS: &str = "kube_pod_container_status_restarts_total";

impl Profile {
    pub const ALL: [Profile; 4] = [Profile::Generic, Profile::Istio, Profile::Linkerd, Profile::Nginx];

    pub fn name(self) -> &'static str {
        match self {
            Profile::Generic => "generic",
            Profile::Istio => "istio",
            Profile::Linkerd => "linkerd",
            Profile::Nginx => "nginx",
        }
    }

    pub fn from_name(s: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.name() == s)
    }

    /// The labels that tell the candidate's series from the stable ones.
    pub fn version_labels(self, candidate: bool) -> Vec<(&'static str, &'static str)> {
        match (self, candidate) {
            (Profile::Generic, true) => vec![("version", "canary")],
            (Profile::Generic, false) => vec![("version", "stable")],
            (Profile::Istio, c) => vec![
                ("reporter", "destination"),
                ("destination_workload", if c { "app" } else { "app-primary" }),
                ("destination_workload_namespace", "default"),
            ],
            (Profile::Linkerd, c) => vec![
                ("direction", "inbound"),
                ("deployment", if c { "app" } else { "app-primary" }),
                ("namespace", "default"),
            ],
            (Profile::Nginx, c) => {
                let mut v = vec![("ingress", "app"), ("namespace", "default")];
                if c {
                    v.push(("canary", "default-app-canary-80"));
                }
                v
            }
        }
    }

    /// The request counter's name.
    pub fn requests(self) -> &'static str {
        match self {
            Profile::Generic => "http_requests_total",
            Profile::Istio => "istio_requests_total",
            Profile::Linkerd => "response_total",
            Profile::Nginx => "nginx_ingress_controller_requests",
        }
    }

    /// The status labels of a successful (`error = false`) or failed request.
    pub fn status_labels(self, error: bool) -> Vec<(&'static str, &'static str)> {
        let code = if error { ERROR_CODE } else { "200" };
        match self {
            Profile::Generic => vec![("code", code)],
            Profile::Istio => vec![("response_code", code)],
            Profile::Linkerd => {
                vec![("classification", if error { "failure" } else { "success" }), ("status_code", code)]
            }
            Profile::Nginx => vec![("status", code)],
        }
    }

    /// The latency histogram's base name (series `_bucket` and `_count`).
    pub fn histogram(self) -> &'static str {
        match self {
            Profile::Generic => "http_request_duration_seconds",
            Profile::Istio => "istio_request_duration_milliseconds",
            Profile::Linkerd => "response_latency_ms",
            Profile::Nginx => "nginx_ingress_controller_request_duration_seconds",
        }
    }

    /// True when the histogram's `le` bounds are in seconds (else milliseconds).
    pub fn seconds(self) -> bool {
        matches!(self, Profile::Generic | Profile::Nginx)
    }

    /// A bucket bound in milliseconds as this profile's `le` label value.
    pub fn le(self, bound_ms: f64) -> String {
        if bound_ms.is_infinite() {
            "+Inf".into()
        } else if self.seconds() {
            format!("{}", bound_ms / 1000.0)
        } else {
            format!("{bound_ms}")
        }
    }
}
