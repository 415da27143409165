//! The edges of a running daemon, built from its [`Config`] by [`connect`] for both `fledge run`
//! and `fledge demo`: the cluster and the metric source (behind the traits the executor uses),
//! the forge for commit statuses and the alert notifier.

use std::time::Duration;

use serde_json::Value;

use super::config::{ClusterChoice, Config, MetricsChoice};
use crate::analysis::mirror::MirroredTraffic;
use crate::analysis::prometheus::Prometheus;
use crate::analysis::sim::SimMetrics;
use crate::analysis::{MetricError, MetricRequest, MetricSource};
use crate::cluster::kube::KubeCluster;
use crate::cluster::sim::SimCluster;
use crate::cluster::{self, Cluster, SimHandle};
use crate::object::ObjectRef;
use crate::report::alerts::Notifier;
use crate::report::forge::Forge;

/// What the daemon talks to.
#[derive(Debug)]
pub struct Edges {
    pub cluster: AnyCluster,
    pub metrics: AnyMetrics,
    /// Commit statuses, when a forge is configured.
    pub forge: Option<Forge>,
    pub notifier: Notifier,
}

/// How often the simulated cluster's controllers run: once a simulated second.
const SIM_STEP: Duration = Duration::from_secs(1);

/// Connects to what `config` names: the cluster (kubeconfig, in-cluster, or the simulated
/// cluster opened from its directory), the metric source, the forge. An error names the flag.
pub async fn connect(config: &Config) -> Result<Edges, String> {
    let cluster = match &config.cluster {
        ClusterChoice::Kube {
            kubeconfig,
            context,
        } => AnyCluster::Kube(
            // Read through watch caches, and apply only what changed: a release at rest sends
            // nothing (docs/daemon.md#watch-caches).
            KubeCluster::connect(kubeconfig.as_deref(), context.as_deref())
                .await
                .map_err(|e| format!("--cluster kube: {e}"))?
                .cached(),
        ),
        ClusterChoice::Sim { dir: None } => {
            AnyCluster::Sim(SimHandle::new(SimCluster::new(SIM_STEP)))
        }
        ClusterChoice::Sim { dir: Some(d) } => AnyCluster::Sim(SimHandle::new(
            SimCluster::open(d, SIM_STEP)
                .map_err(|e| format!("--cluster sim:{}: {e}", d.display()))?,
        )),
    };
    let metrics = match (&config.metrics, &cluster) {
        (MetricsChoice::Prometheus { url, auth }, _) => {
            AnyMetrics::Prometheus(Prometheus::new(url, auth.clone(), Prometheus::TIMEOUT))
        }
        (MetricsChoice::Sim, AnyCluster::Sim(s)) => AnyMetrics::Sim(SimMetrics::new(s.sim.clone())),
        (MetricsChoice::Sim, AnyCluster::Kube(k)) => {
            AnyMetrics::Mirrored(MirroredTraffic::new(k.clone()))
        }
    };
    Ok(Edges {
        cluster,
        metrics,
        forge: config.forge.clone().map(Forge::new),
        notifier: Notifier::default(),
    })
}

/// `--cluster kube` or `--cluster sim[:DIR]`. Clones share the connection (or the simulation).
#[derive(Debug, Clone)]
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

    async fn apply_from_git(&self, objects: &[Value]) -> Result<Vec<Value>, cluster::Error> {
        match self {
            Self::Kube(c) => Cluster::apply_from_git(c, objects).await,
            Self::Sim(c) => c.apply_from_git(objects).await,
        }
    }

    async fn allowed(
        &self,
        verb: &str,
        group: &str,
        resource: &str,
        namespace: &str,
    ) -> Result<bool, cluster::Error> {
        match self {
            Self::Kube(c) => Cluster::allowed(c, verb, group, resource, namespace).await,
            Self::Sim(c) => c.allowed(verb, group, resource, namespace).await,
        }
    }

    async fn dry_run(&self, objects: &[Value]) -> Result<(), cluster::Error> {
        match self {
            Self::Kube(c) => Cluster::dry_run(c, objects).await,
            Self::Sim(c) => c.dry_run(objects).await,
        }
    }

    async fn apply_status(&self, object: &Value) -> Result<Value, cluster::Error> {
        match self {
            Self::Kube(c) => Cluster::apply_status(c, object).await,
            Self::Sim(c) => c.apply_status(object).await,
        }
    }

    async fn get(&self, object: &ObjectRef) -> Result<Option<Value>, cluster::Error> {
        match self {
            Self::Kube(c) => Cluster::get(c, object).await,
            Self::Sim(c) => c.get(object).await,
        }
    }

    async fn get_raw(&self, path: &str) -> Result<Value, cluster::Error> {
        match self {
            Self::Kube(c) => Cluster::get_raw(c, path).await,
            Self::Sim(c) => c.get_raw(path).await,
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

    async fn delete(&self, object: &ObjectRef) -> Result<(), cluster::Error> {
        match self {
            Self::Kube(c) => Cluster::delete(c, object).await,
            Self::Sim(c) => c.delete(object).await,
        }
    }

    async fn kinds(&self) -> Result<Vec<(String, String)>, cluster::Error> {
        match self {
            Self::Kube(c) => Cluster::kinds(c).await,
            Self::Sim(c) => c.kinds().await,
        }
    }
}

/// `--metrics-provider prometheus` or `sim`.
#[derive(Debug, Clone)]
pub enum AnyMetrics {
    Prometheus(Prometheus),
    Sim(SimMetrics),
    /// Modelled traffic over a real cluster's routing.
    Mirrored(MirroredTraffic),
}

impl MetricSource for AnyMetrics {
    async fn query(&self, request: &MetricRequest<'_>) -> Result<f64, MetricError> {
        match self {
            Self::Prometheus(p) => p.query(request).await,
            Self::Sim(s) => s.query(request).await,
            Self::Mirrored(m) => m.query(request).await,
        }
    }
}

impl AnyCluster {
    /// Helm's `lookup` (see [`KubeCluster::lookup`]). The simulated cluster, which keeps no
    /// kinds' scopes, finds a named object in the namespace given, else among cluster-wide ones.
    pub async fn lookup(&self, query: &crate::helm::Lookup) -> Result<Value, cluster::Error> {
        let crate::helm::Lookup {
            api_version,
            kind,
            namespace,
            name,
        } = query;
        let sim = match self {
            Self::Kube(c) => return Ok(c.lookup(api_version, kind, namespace, name).await?),
            Self::Sim(s) => s,
        };
        if name.is_empty() {
            let items = sim.list(api_version, kind, namespace).await?;
            return Ok(cluster::lookup_list(api_version, kind, "", items));
        }
        for ns in [namespace.as_str(), ""] {
            if let Some(found) = sim
                .get(&ObjectRef::new(api_version, kind, ns, name))
                .await?
            {
                return Ok(found);
            }
        }
        Ok(serde_json::json!({}))
    }

    /// The same cluster as the ServiceAccount `<namespace>/<name>` (impersonated). The
    /// simulated cluster keeps no RBAC: there it is the same cluster.
    pub fn impersonating(&self, account: &str) -> Result<Self, cluster::Error> {
        let (namespace, name) = account.split_once('/').unwrap_or(("default", account));
        match self {
            Self::Kube(c) => Ok(Self::Kube(c.impersonating(namespace, name)?)),
            Self::Sim(s) => Ok(Self::Sim(s.clone())),
        }
    }
}

/// The cluster as a build reads it: the ConfigMaps and Secrets Flux Kustomizations name, read
/// from the build's blocking thread.
pub struct BlockingCluster {
    cluster: AnyCluster,
    runtime: tokio::runtime::Handle,
    /// The cluster as each ServiceAccount a HelmRelease acts as, made once.
    tenants: std::sync::Mutex<std::collections::BTreeMap<String, AnyCluster>>,
}

impl BlockingCluster {
    /// Reads `cluster` on the current runtime; call from within it.
    #[must_use]
    pub fn new(cluster: AnyCluster) -> Self {
        Self {
            cluster,
            runtime: tokio::runtime::Handle::current(),
            tenants: std::sync::Mutex::default(),
        }
    }
}

impl BlockingCluster {
    /// The cluster as `account` (`namespace/name`) acts, or as fledge does for `None`.
    fn acting(&self, account: Option<&str>) -> Result<AnyCluster, cluster::Error> {
        let Some(account) = account else {
            return Ok(self.cluster.clone());
        };
        let mut tenants = super::shared::lock(&self.tenants);
        if let Some(c) = tenants.get(account) {
            return Ok(c.clone());
        }
        let made = self.cluster.impersonating(account)?;
        tenants.insert(account.to_owned(), made.clone());
        Ok(made)
    }
}

impl crate::rollout::targets::ClusterData for BlockingCluster {
    fn lookup(
        &self,
        account: Option<&str>,
        query: &crate::helm::Lookup,
    ) -> Result<Option<Value>, String> {
        let read = self
            .acting(account)
            .and_then(|c| self.runtime.block_on(c.lookup(query)));
        read.map(Some).map_err(|e| {
            let by = account.map_or_else(String::new, |a| format!(" as ServiceAccount {a}"));
            format!("{query}: cannot be read{by}: {}", crate::chain::Chain(&e))
        })
    }

    fn object(&self, kind: &str, namespace: &str, name: &str) -> Result<Option<Value>, String> {
        let r = ObjectRef::new("v1", kind, namespace, name);
        self.runtime.block_on(self.cluster.get(&r)).map_err(|e| {
            format!(
                "{kind} {namespace}/{name} cannot be read: {}",
                crate::chain::Chain(&e)
            )
        })
    }
}
