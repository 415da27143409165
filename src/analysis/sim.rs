//! The `sim` metric source, for `fledge demo` and tests without Prometheus: the built-in
//! checks computed straight from the simulated cluster's counters for the canary's pods
//! (the app-level `http_request_duration_seconds` every simulated app exposes; for a Knative
//! Service, its latest created revision's requests as Knative's Envoy ingress counts them). Each query
//! covers the requests since the previous query of the same check, as a `rate()` over the
//! analysis interval would. The duration is the mean (the simulated latency is constant, so
//! the mean is also the p99). MetricTemplates and inline PromQL need Prometheus and fail here
//! with a message saying so.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::{MetricError, MetricRequest, MetricSource};
use crate::cluster::sim::SimCluster;
use crate::cluster::sim::traffic::pod_name;
use crate::object::ObjectKey;
use crate::release::spec::{Builtin, Provider};

/// Successful requests, all requests and the sum of their latencies.
type Counts = (f64, f64, f64);

/// The counts of a Knative Service's latest created revision (Flagger's `{{ route }}`), as
/// Knative's Envoy ingress meters them (the latency sum in seconds), and that cluster's name.
fn knative_counts(sim: &SimCluster, ns: &str, service: &str) -> (f64, f64, f64, String) {
    let at = ObjectKey {
        group: crate::cluster::sim::knative::GROUP.into(),
        kind: "Service".into(),
        namespace: ns.into(),
        name: service.into(),
    };
    let revision = sim
        .get(&at)
        .and_then(|s| {
            s["status"]["latestCreatedRevisionName"]
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let cluster = format!("{ns}/{revision}");
    let t = sim.traffic();
    let all = [("envoy_cluster_name", cluster.as_str())];
    let ok = [all[0], ("envoy_response_code", "200")];
    (
        t.total("envoy_cluster_upstream_rq", &ok),
        t.total("envoy_cluster_upstream_rq", &all),
        t.sum("envoy_cluster_upstream_rq_time", &all) / 1000.0,
        cluster,
    )
}

/// Reads metrics from a shared simulated cluster.
#[derive(Debug, Clone)]
pub struct SimMetrics {
    sim: Arc<Mutex<SimCluster>>,
    /// (ok, total, latency sum) at the previous query, per release and metric.
    seen: Arc<Mutex<BTreeMap<String, Counts>>>,
}

impl SimMetrics {
    #[must_use]
    pub fn new(sim: Arc<Mutex<SimCluster>>) -> Self {
        Self {
            sim,
            seen: Arc::default(),
        }
    }
}

impl MetricSource for SimMetrics {
    async fn query(&self, r: &MetricRequest<'_>) -> Result<f64, MetricError> {
        let Some(which) = r.builtin else {
            return Err(MetricError::Failed(format!(
                "the sim metric source answers the built-in checks only; run {} against Prometheus (--metrics-provider prometheus)",
                r.metric.name
            )));
        };
        let ns = r.spec.namespace.as_str();
        let (ok, total, sum, series) = {
            let sim = self.sim.lock().unwrap_or_else(PoisonError::into_inner);
            if r.spec.provider == Provider::Knative {
                knative_counts(&sim, ns, &r.spec.target.name)
            } else {
                let pod = pod_name(&r.spec.target.name);
                let t = sim.traffic();
                let base = [
                    ("kubernetes_namespace", ns),
                    ("kubernetes_pod_name", pod.as_str()),
                ];
                let ok_filter = [base[0], base[1], ("status", "200")];
                (
                    t.total("http_request_duration_seconds_count", &ok_filter),
                    t.total("http_request_duration_seconds_count", &base),
                    t.sum("http_request_duration_seconds", &base),
                    pod,
                )
            }
        };
        let key = format!(
            "{}/{}/{}/{series}",
            r.spec.namespace, r.spec.name, r.metric.name
        );
        let (ok0, total0, sum0) = self
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, (ok, total, sum))
            .unwrap_or_default();
        let (dok, dtotal, dsum) = (ok - ok0, total - total0, sum - sum0);
        if dtotal <= 0.0 {
            return Err(MetricError::NoData(format!(
                "no requests reached {}.{} since the last check",
                r.spec.target.name, ns
            )));
        }
        Ok(match which {
            Builtin::SuccessRate => dok / dtotal * 100.0,
            Builtin::Duration => dsum / dtotal * 1000.0,
        })
    }
}
