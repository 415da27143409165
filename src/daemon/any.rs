//! The cluster and metric source chosen at start-up, behind the traits the executor uses.

use serde_json::Value;

use crate::analysis::prometheus::Prometheus;
use crate::analysis::sim::SimMetrics;
use crate::analysis::{MetricError, MetricRequest, MetricSource};
use crate::cluster::kube::KubeCluster;
use crate::cluster::{self, Cluster, SimHandle};

/// `--cluster kube` or `--cluster sim[:DIR]`.
#[derive(Debug)]
pub enum AnyCluster {
    Kube(KubeCluster),
    Sim(SimHandle),
}

impl Cluster for AnyCluster {
    async fn apply(&self, objects: &[Value]) -> Result<Vec<Value>, cluster::Error> {
        match self {
            Self::Kube(c) => Cluster::apply(c, objects).await,
            Self::Sim(c) => c.apply(objects).await,
        }
    }

    async fn apply_status(&self, object: &Value) -> Result<Value, cluster::Error> {
        match self {
            Self::Kube(c) => Cluster::apply_status(c, object).await,
            Self::Sim(c) => c.apply_status(object).await,
        }
    }

    async fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Value>, cluster::Error> {
        match self {
            Self::Kube(c) => Cluster::get(c, api_version, kind, namespace, name).await,
            Self::Sim(c) => c.get(api_version, kind, namespace, name).await,
        }
    }

    async fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
    ) -> Result<Vec<Value>, cluster::Error> {
        match self {
            Self::Kube(c) => Cluster::list(c, api_version, kind, namespace).await,
            Self::Sim(c) => c.list(api_version, kind, namespace).await,
        }
    }

    async fn delete(&self, object: &Value) -> Result<(), cluster::Error> {
        match self {
            Self::Kube(c) => Cluster::delete(c, object).await,
            Self::Sim(c) => c.delete(object).await,
        }
    }
}

/// `--metrics-provider prometheus` or `sim`.
#[derive(Debug, Clone)]
pub enum AnyMetrics {
    Prometheus(Prometheus),
    Sim(SimMetrics),
}

impl MetricSource for AnyMetrics {
    async fn query(&self, request: &MetricRequest<'_>) -> Result<f64, MetricError> {
        match self {
            Self::Prometheus(p) => p.query(request).await,
            Self::Sim(s) => s.query(request).await,
        }
    }
}
