//! `cluster`: the Kubernetes side, behind the [`Cluster`] trait with two implementations: the
//! real cluster through kube-rs ([`kube::KubeCluster`]) and the simulated cluster that is fledge's
//! embedded default ([`SimHandle`] over [`sim::SimCluster`]). Also what both share: object keys,
//! the readiness rule `kubectl rollout status` applies, and the primary Deployment Flagger builds.
//!
//! Invariants: an apply is all or nothing (the real cluster dry-runs the batch first; the
//! simulated one checks every object first); only objects fledge applied are ever pruned.

pub mod kube;
pub mod primary;
pub mod sim;

use std::fmt;

use serde_json::Value;

use crate::render::object::split_api_version;

/// Why a cluster operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Sim(#[from] sim::Error),
}

/// What fledge needs from a cluster.
pub trait Cluster: Send + Sync {
    /// Applies objects (server-side apply, field manager `fledge`), all or nothing; returns them
    /// as the cluster stored them.
    fn apply(
        &self,
        objects: &[Value],
    ) -> impl std::future::Future<Output = Result<Vec<Value>, Error>> + Send;
    /// Writes `object.status` through the status subresource; the object must exist.
    fn apply_status(
        &self,
        object: &Value,
    ) -> impl std::future::Future<Output = Result<Value, Error>> + Send;
    /// The live object, if any.
    fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> impl std::future::Future<Output = Result<Option<Value>, Error>> + Send;
    /// Objects of a kind in a namespace.
    fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
    ) -> impl std::future::Future<Output = Result<Vec<Value>, Error>> + Send;
    /// Deletes an object (no error when it is already gone).
    fn delete(&self, object: &Value)
    -> impl std::future::Future<Output = Result<(), Error>> + Send;
}

impl Cluster for kube::KubeCluster {
    async fn apply(&self, objects: &[Value]) -> Result<Vec<Value>, Error> {
        Ok(kube::KubeCluster::apply(self, objects).await?)
    }

    async fn apply_status(&self, object: &Value) -> Result<Value, Error> {
        Ok(kube::KubeCluster::apply_status(self, object).await?)
    }

    async fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Value>, Error> {
        Ok(kube::KubeCluster::get(self, api_version, kind, namespace, name).await?)
    }

    async fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
    ) -> Result<Vec<Value>, Error> {
        Ok(kube::KubeCluster::list(self, api_version, kind, namespace, None).await?)
    }

    async fn delete(&self, object: &Value) -> Result<(), Error> {
        Ok(kube::KubeCluster::delete(self, object).await?)
    }
}

/// A shared simulated cluster whose clock is real time since the handle was made.
#[derive(Debug, Clone)]
pub struct SimHandle {
    pub sim: std::sync::Arc<std::sync::Mutex<sim::SimCluster>>,
    start: tokio::time::Instant,
}

impl SimHandle {
    #[must_use]
    pub fn new(sim: sim::SimCluster) -> Self {
        Self {
            sim: std::sync::Arc::new(std::sync::Mutex::new(sim)),
            start: tokio::time::Instant::now(),
        }
    }

    /// Simulated time: how long the handle has existed.
    #[must_use]
    pub fn now(&self) -> std::time::Duration {
        self.start.elapsed()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, sim::SimCluster> {
        // A panic while holding the lock leaves plain data behind; keep using it.
        self.sim
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn key_of(api_version: &str, kind: &str, namespace: &str, name: &str) -> ObjectKey {
    ObjectKey {
        group: split_api_version(api_version).0.to_owned(),
        kind: kind.to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}

impl Cluster for SimHandle {
    async fn apply(&self, objects: &[Value]) -> Result<Vec<Value>, Error> {
        // All or nothing: every object must be well-formed before any is applied.
        let keys = objects
            .iter()
            .map(sim::key)
            .collect::<Result<Vec<_>, _>>()?;
        let now = self.now();
        let mut sim = self.lock();
        let mut out = Vec::with_capacity(objects.len());
        for (o, key) in objects.iter().zip(&keys) {
            sim.apply(o.clone(), now)?;
            out.push(sim.get(key).unwrap_or(Value::Null));
        }
        Ok(out)
    }

    async fn apply_status(&self, object: &Value) -> Result<Value, Error> {
        let key = sim::key(object)?;
        let mut sim = self.lock();
        sim.write_status(&key, object["status"].clone())?;
        Ok(sim.get(&key).unwrap_or(Value::Null))
    }

    async fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Value>, Error> {
        Ok(self.lock().get(&key_of(api_version, kind, namespace, name)))
    }

    async fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
    ) -> Result<Vec<Value>, Error> {
        let (group, _) = split_api_version(api_version);
        Ok(self.lock().list(group, kind, Some(namespace)))
    }

    async fn delete(&self, object: &Value) -> Result<(), Error> {
        let key = sim::key(object)?;
        self.lock().delete(&key)?;
        Ok(())
    }
}

/// Metadata the server owns: never taken from an applied object.
const SERVER_METADATA: &[&str] = &[
    "resourceVersion",
    "generation",
    "uid",
    "creationTimestamp",
    "managedFields",
];

/// Removes what the server writes (`status`, server-owned metadata), leaving what an apply
/// may send.
pub fn strip_server_fields(obj: &mut Value) {
    if let Some(m) = obj.as_object_mut() {
        m.remove("status");
        if let Some(Value::Object(meta)) = m.get_mut("metadata") {
            for f in SERVER_METADATA {
                meta.remove(*f);
            }
        }
    }
}

/// A Secret's `data[key]`, decoded as UTF-8 text.
#[must_use]
pub fn secret_field(secret: &Value, key: &str) -> Option<String> {
    use base64::Engine as _;
    secret["data"][key]
        .as_str()
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .and_then(|b| String::from_utf8(b).ok())
}

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
        let (group, _) = split_api_version(api);
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

    /// The same sequence against any implementation.
    async fn round_trip(c: &impl Cluster) {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "prod"}, "data": {"k": "v"}});
        let stored = c.apply(std::slice::from_ref(&cm)).await.unwrap();
        assert_eq!(stored[0]["data"]["k"], "v");
        assert!(
            c.get("v1", "ConfigMap", "prod", "a")
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(c.list("v1", "ConfigMap", "prod").await.unwrap().len(), 1);
        c.delete(&cm).await.unwrap();
        c.delete(&cm).await.unwrap();
        assert!(
            c.get("v1", "ConfigMap", "prod", "a")
                .await
                .unwrap()
                .is_none()
        );
        // All or nothing: a malformed object in the batch means nothing is applied.
        assert!(
            c.apply(&[cm.clone(), json!({"kind": "ConfigMap"})])
                .await
                .is_err()
        );
        assert!(
            c.get("v1", "ConfigMap", "prod", "a")
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn the_simulated_cluster_behind_the_trait() {
        round_trip(&SimHandle::new(sim::SimCluster::new(
            std::time::Duration::ZERO,
        )))
        .await;
    }

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
