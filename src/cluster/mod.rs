//! `cluster`: the Kubernetes side. This part holds what every implementation shares — object
//! keys and the readiness rule `kubectl rollout status` applies — and the simulated cluster
//! ([`sim::SimCluster`]) that fledge's demo and end-to-end tests run on. The kube-rs adapter
//! comes with the `Cluster` trait that both will implement.

pub mod kube;
pub mod primary;
pub mod sim;

use std::fmt;

use serde_json::Value;

/// Identifies an object: API group (empty for core), kind, namespace (empty when
/// cluster-scoped), name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    /// The key of an object value; `None` when it lacks a kind or a name.
    #[must_use]
    pub fn of(obj: &Value) -> Option<Self> {
        let api = obj["apiVersion"].as_str().unwrap_or("");
        let group = api.rsplit_once('/').map_or("", |(g, _)| g);
        let kind = obj["kind"].as_str().filter(|k| !k.is_empty())?;
        let name = obj["metadata"]["name"].as_str().filter(|n| !n.is_empty())?;
        Some(Self {
            group: group.to_owned(),
            kind: kind.to_owned(),
            namespace: obj["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            name: name.to_owned(),
        })
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.group.is_empty() {
            String::new()
        } else {
            format!(".{}", self.group)
        };
        if self.namespace.is_empty() {
            write!(f, "{}{group} {}", self.kind, self.name)
        } else {
            write!(f, "{}{group} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// Where a Deployment's rollout stands, judged as `kubectl rollout status` judges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Still rolling out; the text says what it waits for.
    Progressing(String),
    /// The Deployment controller gave up (`ProgressDeadlineExceeded`).
    Failed(String),
}

/// Reads a Deployment's status as `kubectl rollout status` does.
#[must_use]
pub fn deployment_readiness(d: &Value) -> Readiness {
    let generation = d["metadata"]["generation"].as_i64().unwrap_or(0);
    let status = &d["status"];
    let observed = status["observedGeneration"].as_i64().unwrap_or(0);
    if generation > observed {
        return Readiness::Progressing(
            "waiting for the deployment spec update to be observed".into(),
        );
    }
    let deadline_exceeded = status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded");
    if deadline_exceeded {
        return Readiness::Failed("progress deadline exceeded".into());
    }
    let wanted = d["spec"]["replicas"].as_i64().unwrap_or(1);
    let updated = status["updatedReplicas"].as_i64().unwrap_or(0);
    let replicas = status["replicas"].as_i64().unwrap_or(0);
    let available = status["availableReplicas"].as_i64().unwrap_or(0);
    if updated < wanted {
        Readiness::Progressing(format!(
            "{updated} of {wanted} updated replicas are available"
        ))
    } else if replicas > updated {
        Readiness::Progressing(format!(
            "{} old replicas are pending termination",
            replicas - updated
        ))
    } else if available < updated {
        Readiness::Progressing(format!(
            "{available} of {updated} updated replicas are available"
        ))
    } else {
        Readiness::Ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys() {
        let k = ObjectKey::of(&json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w", "namespace": "p"}})).unwrap();
        assert_eq!(k.to_string(), "Deployment.apps p/w");
        assert!(ObjectKey::of(&json!({"kind": "X"})).is_none());
    }

    #[test]
    fn readiness_like_kubectl_rollout_status() {
        let d = |g: i64, status: Value| json!({"metadata": {"generation": g}, "spec": {"replicas": 2}, "status": status});
        assert!(matches!(
            deployment_readiness(&d(2, json!({"observedGeneration": 1}))),
            Readiness::Progressing(_)
        ));
        assert!(
            matches!(deployment_readiness(&d(1, json!({"observedGeneration": 1, "updatedReplicas": 1, "replicas": 1, "availableReplicas": 1}))), Readiness::Progressing(m) if m.contains("1 of 2"))
        );
        assert!(
            matches!(deployment_readiness(&d(1, json!({"observedGeneration": 1, "updatedReplicas": 2, "replicas": 3, "availableReplicas": 2}))), Readiness::Progressing(m) if m.contains("pending termination"))
        );
        assert_eq!(
            deployment_readiness(&d(
                1,
                json!({"observedGeneration": 1, "updatedReplicas": 2, "replicas": 2, "availableReplicas": 2})
            )),
            Readiness::Ready
        );
        let failed = json!({"observedGeneration": 1, "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]});
        assert!(matches!(
            deployment_readiness(&d(1, failed)),
            Readiness::Failed(_)
        ));
    }
}
