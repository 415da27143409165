//! `cluster`: the Kubernetes side, behind the [`Cluster`] trait with two implementations: the
//! real cluster through kube-rs ([`kube::KubeCluster`]) and the simulated cluster that is fledge's
//! embedded default ([`SimHandle`] over [`sim::SimCluster`]). Sync and pruning by inventory
//! ([`inventory`]) work on either through the trait.
//!
//! Invariants: an apply is all or nothing (the real cluster dry-runs the batch first; the
//! simulated one checks every object first); only objects fledge applied are ever pruned.

pub mod cache;
pub mod drift;
pub mod inventory;
pub mod kube;
pub mod sim;
pub mod takeover;

use serde_json::Value;

use crate::object::{ObjectRef, split_api_version};

/// Why a cluster operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Sim(#[from] sim::Error),
}

/// What kind of failure a cluster operation met, for those who must tell a passing fault from
/// a refusal or a missing permission (the reason people see beside the message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Fault {
    /// The object, or the namespace it belongs in, does not exist.
    NotFound,
    /// RBAC denies the request: a permission is missing.
    Forbidden,
    /// The API server refused the credentials.
    Unauthorized,
    /// The API server refused the object (validation, conflict, size).
    Refused,
    /// The cluster does not serve the kind: its CustomResourceDefinition is not installed.
    NoKind,
    /// The API server could not be reached, or did not answer in time.
    Unreachable,
    /// Anything else.
    Other,
}

impl Fault {
    /// The name people and programs read (`Forbidden`, `Unreachable`, …).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "NotFound",
            Self::Forbidden => "Forbidden",
            Self::Unauthorized => "Unauthorized",
            Self::Refused => "Refused",
            Self::NoKind => "NoKind",
            Self::Unreachable => "Unreachable",
            Self::Other => "Failed",
        }
    }
}

impl Error {
    /// Whether trying again soon may help: only when the API server did not answer.
    #[must_use]
    pub fn disposition(&self) -> crate::chain::Disposition {
        match self.fault() {
            Fault::Unreachable => crate::chain::Disposition::Retry,
            _ => crate::chain::Disposition::Stalled,
        }
    }

    /// What kind of failure this is.
    #[must_use]
    pub fn fault(&self) -> Fault {
        match self {
            Self::Kube(e) => e.fault(),
            Self::Sim(sim::Error::NotFound(_)) => Fault::NotFound,
            Self::Sim(sim::Error::Refused(_) | sim::Error::Invalid(_)) => Fault::Refused,
            Self::Sim(sim::Error::Io { .. }) => Fault::Other,
        }
    }
}

/// The answer of Helm's `lookup` without a name: the objects of a kind as a list object
/// (`<Kind>List`), as Helm's dynamic client gives it.
#[must_use]
pub fn lookup_list(
    api_version: &str,
    kind: &str,
    resource_version: &str,
    items: Vec<Value>,
) -> Value {
    serde_json::json!({
        "apiVersion": api_version,
        "kind": format!("{kind}List"),
        "metadata": {"resourceVersion": resource_version},
        "items": Value::Array(items),
    })
}

/// What fledge needs from a cluster.
pub trait Cluster: Send + Sync {
    /// Applies objects (server-side apply, field manager `fledge`), all or nothing; returns them
    /// as the cluster stored them.
    fn apply(
        &self,
        objects: &[Value],
    ) -> impl std::future::Future<Output = Result<Vec<Value>, Error>> + Send;
    /// [`Cluster::apply`] of objects from Git, as the sync applies them: on a real API server,
    /// what was set on them by hand is taken over first, as kustomize-controller does (see
    /// [`takeover`]).
    fn apply_from_git(
        &self,
        objects: &[Value],
    ) -> impl std::future::Future<Output = Result<Vec<Value>, Error>> + Send {
        self.apply(objects)
    }
    /// Whether the cluster would accept `objects` as [`Cluster::apply`] sends them: every
    /// refusal, or nothing. Nothing is changed.
    fn dry_run(
        &self,
        objects: &[Value],
    ) -> impl std::future::Future<Output = Result<(), Error>> + Send;
    /// Writes `object.status` through the status subresource; the object must exist.
    fn apply_status(
        &self,
        object: &Value,
    ) -> impl std::future::Future<Output = Result<Value, Error>> + Send;
    /// The live object, if any.
    fn get(
        &self,
        object: &ObjectRef,
    ) -> impl std::future::Future<Output = Result<Option<Value>, Error>> + Send;
    /// Objects of a kind in a namespace (every namespace for `""`).
    fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
    ) -> impl std::future::Future<Output = Result<Vec<Value>, Error>> + Send;
    /// Deletes an object (no error when it is already gone).
    fn delete(
        &self,
        object: &ObjectRef,
    ) -> impl std::future::Future<Output = Result<(), Error>> + Send;
    /// Whether the cluster's user may `verb` the `resource` (plural) of `group` in
    /// `namespace`; a cluster that keeps no RBAC (the simulated one) allows everything.
    fn allowed(
        &self,
        verb: &str,
        group: &str,
        resource: &str,
        namespace: &str,
    ) -> impl std::future::Future<Output = Result<bool, Error>> + Send {
        let _ = (verb, group, resource, namespace);
        async { Ok(true) }
    }
    /// The kinds the cluster serves that can be listed, as (apiVersion, kind); none when the
    /// cluster cannot tell.
    fn kinds(
        &self,
    ) -> impl std::future::Future<Output = Result<Vec<(String, String)>, Error>> + Send {
        async { Ok(Vec::new()) }
    }
    /// A GET of `path` (with its query string) beyond objects, such as an aggregated API's
    /// (the external metrics API): the answer as JSON. A cluster that serves no such path
    /// answers `NotFound`.
    fn get_raw(
        &self,
        path: &str,
    ) -> impl std::future::Future<Output = Result<Value, Error>> + Send {
        let missing = sim::Error::NotFound(format!("GET {path}"));
        async { Err(missing.into()) }
    }
}

impl Cluster for kube::KubeCluster {
    async fn apply(&self, objects: &[Value]) -> Result<Vec<Value>, Error> {
        Ok(kube::KubeCluster::apply(self, objects).await?)
    }

    async fn apply_from_git(&self, objects: &[Value]) -> Result<Vec<Value>, Error> {
        Ok(kube::KubeCluster::apply_from_git(self, objects).await?)
    }

    async fn dry_run(&self, objects: &[Value]) -> Result<(), Error> {
        let objects: Vec<&Value> = objects.iter().collect();
        Ok(kube::KubeCluster::dry_run(self, &objects).await?)
    }

    async fn allowed(
        &self,
        verb: &str,
        group: &str,
        resource: &str,
        namespace: &str,
    ) -> Result<bool, Error> {
        Ok(kube::KubeCluster::allowed(self, verb, group, resource, namespace).await?)
    }

    async fn apply_status(&self, object: &Value) -> Result<Value, Error> {
        Ok(kube::KubeCluster::apply_status(self, object).await?)
    }

    async fn get(&self, object: &ObjectRef) -> Result<Option<Value>, Error> {
        Ok(kube::KubeCluster::get(self, object).await?)
    }

    async fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
    ) -> Result<Vec<Value>, Error> {
        Ok(kube::KubeCluster::list_labelled(self, api_version, kind, namespace, None).await?)
    }

    async fn delete(&self, object: &ObjectRef) -> Result<(), Error> {
        Ok(kube::KubeCluster::delete(self, object).await?)
    }

    async fn kinds(&self) -> Result<Vec<(String, String)>, Error> {
        Ok(kube::KubeCluster::kinds(self).await?)
    }

    async fn get_raw(&self, path: &str) -> Result<Value, Error> {
        Ok(kube::KubeCluster::get_raw(self, path).await?)
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

/// Every refusal of `objects` (as a dry run of the whole batch on a real server), or their
/// keys. CRDs in the batch count.
fn check(sim: &sim::SimCluster, objects: &[Value]) -> Result<Vec<crate::object::ObjectKey>, Error> {
    let keys = objects
        .iter()
        .map(sim::key)
        .collect::<Result<Vec<_>, _>>()?;
    let has_crd = |group: &str, kind: &str| {
        objects
            .iter()
            .any(|o| sim::admission::defines(o, group, kind))
            || sim.has_crd(group, kind)
    };
    let refused: Vec<String> = objects
        .iter()
        .zip(&keys)
        .filter_map(|(o, key)| {
            sim::admission::refusal(o, has_crd)
                .or_else(|| sim::admission::update_refusal(&sim.get(key)?, o))
        })
        .collect();
    if !refused.is_empty() {
        return Err(sim::Error::Refused(refused.join("; ")).into());
    }
    Ok(keys)
}

impl Cluster for SimHandle {
    async fn apply(&self, objects: &[Value]) -> Result<Vec<Value>, Error> {
        // All or nothing: every object must be well-formed and acceptable before any is
        // applied.
        let now = self.now();
        let mut sim = self.lock();
        let keys = check(&sim, objects)?;
        let mut out = Vec::with_capacity(objects.len());
        for (o, key) in objects.iter().zip(&keys) {
            sim.apply(o.clone(), now)?;
            out.push(sim.get(key).unwrap_or(Value::Null));
        }
        Ok(out)
    }

    async fn dry_run(&self, objects: &[Value]) -> Result<(), Error> {
        let sim = self.lock();
        check(&sim, objects).map(drop)
    }

    async fn apply_status(&self, object: &Value) -> Result<Value, Error> {
        let key = sim::key(object)?;
        let mut sim = self.lock();
        sim.write_status(&key, object["status"].clone())?;
        Ok(sim.get(&key).unwrap_or(Value::Null))
    }

    async fn get(&self, object: &ObjectRef) -> Result<Option<Value>, Error> {
        Ok(self.lock().get(&object.key()))
    }

    async fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
    ) -> Result<Vec<Value>, Error> {
        let (group, _) = split_api_version(api_version);
        let namespace = Some(namespace).filter(|n| !n.is_empty());
        Ok(self.lock().list(group, kind, namespace))
    }

    async fn delete(&self, object: &ObjectRef) -> Result<(), Error> {
        self.lock().delete(&object.key())?;
        Ok(())
    }

    async fn kinds(&self) -> Result<Vec<(String, String)>, Error> {
        let kinds: std::collections::BTreeSet<(String, String)> = self
            .lock()
            .objects()
            .filter_map(|(k, v)| Some((v["apiVersion"].as_str()?.to_owned(), k.kind.clone())))
            .collect();
        Ok(kinds.into_iter().collect())
    }

    async fn get_raw(&self, path: &str) -> Result<Value, Error> {
        let now = self.now();
        Ok(self.lock().get_raw(path, now)?)
    }
}

#[cfg(test)]
mod tests;
