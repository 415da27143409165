//! The `sim` metric source on a real cluster (`--cluster kube --metrics-provider sim`), for
//! `fledge demo --cluster kube` and trials without a mesh or Prometheus: before each query it
//! copies what carries traffic in the release's namespace (Deployments, Services, Ingresses and
//! the routers' objects, as the real API server holds them) into a private simulated cluster,
//! runs that cluster's traffic model up to now, and answers as [`SimMetrics`] does. The routing
//! and the pods are real; the requests are modelled (pods fail the share of requests their
//! template's `sim.fledge.dev/error-rate` annotation says).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::sim::SimMetrics;
use super::{MetricError, MetricRequest, MetricSource};
use crate::cluster::Fault;
use crate::cluster::kube::KubeCluster;
use crate::cluster::sim::SimCluster;
use crate::object::{ObjectKey, applyable};

/// What the traffic model reads, at a version the API server serves for each.
pub const MIRRORED: &[(&str, &str)] = &[
    ("v1", "Service"),
    ("apps/v1", "Deployment"),
    ("networking.k8s.io/v1", "Ingress"),
    ("networking.istio.io/v1beta1", "VirtualService"),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    ("split.smi-spec.io/v1alpha2", "TrafficSplit"),
    ("traefik.io/v1alpha1", "TraefikService"),
    ("projectcontour.io/v1", "HTTPProxy"),
    ("gateway.solo.io/v1", "RouteTable"),
    ("gloo.solo.io/v1", "Upstream"),
    ("apisix.apache.org/v2", "ApisixRoute"),
    ("appmesh.k8s.aws/v1beta2", "VirtualRouter"),
    ("appmesh.k8s.aws/v1beta2", "VirtualNode"),
    // Plain `appmesh`'s objects, where App Mesh's v1beta1 API is served (read after v1beta2's,
    // whose schema would prune v1beta1's fields from the same objects).
    ("appmesh.k8s.aws/v1beta1", "VirtualService"),
    ("appmesh.k8s.aws/v1beta1", "VirtualNode"),
];

/// Modelled traffic over a real cluster's routing.
#[derive(Debug, Clone)]
pub struct MirroredTraffic {
    kube: KubeCluster,
    sim: Arc<Mutex<SimCluster>>,
    metrics: SimMetrics,
    started: tokio::time::Instant,
}

impl MirroredTraffic {
    /// Requests per second the model sends to each namespace's apex Services.
    pub const REQUEST_RATE: f64 = 50.0;

    #[must_use]
    pub fn new(kube: KubeCluster) -> Self {
        let mut sim = SimCluster::new(Duration::ZERO);
        sim.set_request_rate(Self::REQUEST_RATE);
        // The model's clock starts now: the first query counts the requests since, over the
        // routing it then reads (as every later query counts those since the one before).
        let _ = sim.tick(Duration::ZERO);
        let sim = Arc::new(Mutex::new(sim));
        Self {
            kube,
            metrics: SimMetrics::new(sim.clone()),
            sim,
            started: tokio::time::Instant::now(),
        }
    }

    /// Copies the namespace's traffic objects from the real cluster (kinds it does not serve
    /// hold nothing) and runs the model up to now.
    async fn mirror(&self, namespace: &str) -> Result<(), MetricError> {
        let mut listed = Vec::new();
        for (api_version, kind) in MIRRORED {
            match self
                .kube
                .list_labelled(api_version, kind, namespace, None)
                .await
            {
                Ok(objects) => listed.push((*kind, objects)),
                Err(e) if matches!(*kind, "Service" | "Deployment") => {
                    let message =
                        format!("reading {kind}s in {namespace} for the modelled traffic: {e}");
                    let address = "the Kubernetes API".to_owned();
                    return Err(match e.fault() {
                        Fault::Forbidden | Fault::Unauthorized => {
                            MetricError::Denied { address, message }
                        }
                        Fault::Unreachable => MetricError::Unreachable { address, message },
                        _ => MetricError::Failed(message),
                    });
                }
                Err(_) => {}
            }
        }
        let now = self.started.elapsed();
        let mut sim = self.sim.lock().unwrap_or_else(PoisonError::into_inner);
        for (kind, objects) in listed {
            let group = MIRRORED
                .iter()
                .find(|(_, k)| *k == kind)
                .map_or("", |(v, _)| v.rsplit_once('/').map_or("", |(g, _)| g));
            let gone: Vec<ObjectKey> = sim
                .list(group, kind, Some(namespace))
                .iter()
                .filter_map(ObjectKey::of)
                .filter(|k| {
                    !objects
                        .iter()
                        .any(|o| o["metadata"]["name"] == k.name.as_str())
                })
                .collect();
            for key in gone {
                let _ = sim.delete(&key);
            }
            for o in objects {
                sim.apply(applyable(&o), now)
                    .map_err(|e| MetricError::Failed(format!("modelled traffic: {e}")))?;
            }
        }
        sim.tick(now)
            .map_err(|e| MetricError::Failed(format!("modelled traffic: {e}")))
    }
}

impl MetricSource for MirroredTraffic {
    async fn query(&self, r: &MetricRequest<'_>) -> Result<f64, MetricError> {
        self.mirror(&r.spec.namespace).await?;
        self.metrics.query(r).await
    }
}
