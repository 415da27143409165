//! Keptn, read through the cluster as Flagger's provider does: the query is
//! `<keptnmetric|analysis>/<namespace>/<name>[/<duration>[/<k=v;k=v>]]` (lower-cased).
//! A `KeptnMetric` (`metrics.keptn.sh/v1beta1`) gives its `status.value`; an `analysis`
//! creates an `Analysis` of the named AnalysisDefinition over the recent `duration` (default
//! `1m`) with the arguments, waits up to 10 s (polling each second) for `status.state:
//! Completed`, reads `status.pass` as 1 or 0, and deletes the Analysis.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::MetricError;
use crate::cluster::{Cluster, Fault};
use crate::object::ObjectRef;

const API_VERSION: &str = "metrics.keptn.sh/v1beta1";

/// Flagger's wait for an Analysis.
const ANALYSIS_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_secs(1);

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    Metric {
        namespace: String,
        name: String,
    },
    Analysis {
        namespace: String,
        definition: String,
        recent: String,
        args: Map<String, Value>,
    },
}

/// Reads a query as Flagger's `parseQuery` does.
pub fn parse(query: &str) -> Result<Query, MetricError> {
    let lower = query.to_lowercase();
    let parts: Vec<&str> = lower.trim().split('/').collect();
    if parts.len() < 3 {
        return Err(MetricError::Failed(format!(
            "keptn query {query:?} is not <keptnmetric|analysis>/<namespace>/<resourceName>/<duration>/<arguments>"
        )));
    }
    let (namespace, name) = (parts[1].to_owned(), parts[2].to_owned());
    match parts[0] {
        "keptnmetric" | "keptnmetrics" => Ok(Query::Metric { namespace, name }),
        "analysis" | "analyses" => {
            let mut args = Map::new();
            for kv in parts.get(4).map_or("", |s| s).split(';') {
                let pair: Vec<&str> = kv.split('=').collect();
                if let [k, v] = pair.as_slice() {
                    args.insert((*k).to_owned(), json!(v));
                }
            }
            Ok(Query::Analysis {
                namespace,
                definition: name,
                recent: parts.get(3).map_or("1m", |s| s).to_owned(),
                args,
            })
        }
        other => Err(MetricError::Failed(format!(
            "keptn query {query:?}: {other:?} is not one of keptnmetric, analysis"
        ))),
    }
}

/// A KeptnMetric's value.
pub fn metric_value(metric: &Value) -> Result<f64, MetricError> {
    let name = format!(
        "KeptnMetric {}/{}",
        metric["metadata"]["namespace"].as_str().unwrap_or(""),
        metric["metadata"]["name"].as_str().unwrap_or("")
    );
    let Some(raw) = metric["status"]["value"].as_str() else {
        return Err(MetricError::NoData(format!("{name} has no status.value")));
    };
    raw.parse::<f64>()
        .map_err(|e| MetricError::Failed(format!("{name}: status.value {raw:?}: {e}")))
}

/// The Analysis to create.
#[must_use]
pub fn analysis_object(
    namespace: &str,
    definition: &str,
    recent: &str,
    args: &Map<String, Value>,
    suffix: &str,
) -> Value {
    json!({"apiVersion": API_VERSION, "kind": "Analysis",
           "metadata": {"name": format!("{definition}-{suffix}"), "namespace": namespace},
           "spec": {"analysisDefinition": {"name": definition},
                    "timeframe": {"recent": recent},
                    "args": args}})
}

/// A finished Analysis's value: 1 when it passed, 0 when not; `None` while it runs.
#[must_use]
pub fn analysis_value(analysis: &Value) -> Option<f64> {
    if analysis["status"]["state"] != "Completed" {
        return None;
    }
    analysis["status"]["pass"]
        .as_bool()
        .map(|p| if p { 1.0 } else { 0.0 })
}

fn cluster_error(what: &str, e: &crate::cluster::Error) -> MetricError {
    let message = format!("{what}: {}", crate::chain::Chain(e));
    match e.fault() {
        Fault::Forbidden | Fault::Unauthorized => MetricError::Denied {
            address: "the cluster (keptn)".into(),
            message,
        },
        Fault::Unreachable => MetricError::Unreachable {
            address: "the cluster (keptn)".into(),
            message,
        },
        Fault::NoKind => MetricError::Failed(format!(
            "{message} (is Keptn's metrics-operator installed?)"
        )),
        _ => MetricError::Failed(message),
    }
}

/// Runs a query against the cluster.
pub async fn query(cluster: &impl Cluster, query: &str) -> Result<f64, MetricError> {
    match parse(query)? {
        Query::Metric { namespace, name } => {
            let what = format!("KeptnMetric {namespace}/{name}");
            let r = ObjectRef::new(API_VERSION, "KeptnMetric", &namespace, &name);
            match cluster.get(&r).await {
                Ok(Some(m)) => metric_value(&m),
                Ok(None) => Err(MetricError::Failed(format!("{what} is not in the cluster"))),
                Err(e) => Err(cluster_error(&format!("{what} cannot be read"), &e)),
            }
        }
        Query::Analysis {
            namespace,
            definition,
            recent,
            args,
        } => {
            let suffix = format!("{:06x}", rand::random::<u32>() & 0x00ff_ffff);
            let object = analysis_object(&namespace, &definition, &recent, &args, &suffix);
            let name = format!("{definition}-{suffix}");
            let what = format!("Analysis {namespace}/{name}");
            cluster
                .apply(std::slice::from_ref(&object))
                .await
                .map_err(|e| cluster_error(&format!("{what} cannot be created"), &e))?;
            let r = ObjectRef::new(API_VERSION, "Analysis", &namespace, &name);
            let result = wait(cluster, &r, &what).await;
            // As Flagger, the Analysis is deleted whatever came of it.
            if let Err(e) = cluster.delete(&r).await {
                tracing::warn!("{what} could not be deleted: {}", crate::chain::Chain(&e));
            }
            result
        }
    }
}

async fn wait(cluster: &impl Cluster, r: &ObjectRef, what: &str) -> Result<f64, MetricError> {
    let deadline = tokio::time::Instant::now() + ANALYSIS_TIMEOUT;
    loop {
        tokio::time::sleep(POLL).await;
        match cluster.get(r).await {
            Ok(Some(a)) => {
                if let Some(v) = analysis_value(&a) {
                    return Ok(v);
                }
            }
            Ok(None) => return Err(MetricError::Failed(format!("{what} disappeared"))),
            Err(e) => return Err(cluster_error(&format!("{what} cannot be read"), &e)),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(MetricError::Unreachable {
                address: "the cluster (keptn)".into(),
                message: format!(
                    "{what} was not completed within {}s: is Keptn's metrics-operator running?",
                    ANALYSIS_TIMEOUT.as_secs()
                ),
            });
        }
    }
}
