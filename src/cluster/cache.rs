//! Watch caches for [`super::kube::KubeCluster`]: what the daemon reads every tick is read from
//! kube-rs reflectors (one list and one watch per kind, cluster-wide, started on the kind's first
//! use), and an apply whose object is the one fledge last applied, and which the live object
//! still holds, is not sent. A release at rest then costs the API server nothing, as Flagger's
//! and Flux's informer caches make theirs cost nothing.
//!
//! The rules that keep it safe:
//! - A kind is served from its cache only while the watch is up (listed, no error since). A
//!   watch that fails (the API server gone, the list forbidden) hands every read back to plain
//!   requests, which say what is wrong as they did; it is started again after a pause.
//! - Reads see fledge's own writes at once: the object an apply, a status write or a delete
//!   answered is kept beside the cache until the watch has brought an event of the same
//!   resourceVersion or a newer one (resourceVersions compared as numbers, as etcd issues
//!   them); from then on the cache holds the write and whatever came after it.
//! - Only the kinds a rollout reads and writes every tick are watched ([`WATCHED`], which
//!   deploy/rbac.yaml's ClusterRole `fledge` grants `list` and `watch` of); what sync applies
//!   from Git of other kinds is read and applied with plain requests, as before. Secrets in
//!   which Helm keeps its releases are not watched (large, and never read by a rollout): a
//!   Secret the cache does not hold is asked of the API server, and Secrets are never listed
//!   from it.
//! - An apply is skipped only when the object is byte for byte what fledge last applied through
//!   this client *and* the live object holds every field of it ([`holds`]): a field changed by
//!   hand, an object deleted, a restart of the daemon (nothing applied yet) all send it again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;

use crate::object::ObjectRef;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::time::Instant;

/// The kinds watched, by API group and kind: what a release tick reads (its Release, the
/// targets, their ConfigMaps and Secrets, Services, routes) and applies (autoscalers and every
/// router's objects). A kind's watch starts on its first use, so a router no Canary uses is
/// never watched.
pub const WATCHED: [(&str, &str); 22] = [
    ("", "ConfigMap"),
    ("", "Secret"),
    ("", "Service"),
    ("apps", "Deployment"),
    ("apps", "DaemonSet"),
    ("fledge.dev", "Release"),
    ("autoscaling", "HorizontalPodAutoscaler"),
    ("keda.sh", "ScaledObject"),
    ("networking.k8s.io", "Ingress"),
    ("networking.istio.io", "DestinationRule"),
    ("networking.istio.io", "VirtualService"),
    ("gateway.networking.k8s.io", "HTTPRoute"),
    ("split.smi-spec.io", "TrafficSplit"),
    ("traefik.io", "TraefikService"),
    ("projectcontour.io", "HTTPProxy"),
    ("kuma.io", "TrafficRoute"),
    ("gateway.solo.io", "RouteTable"),
    ("gloo.solo.io", "Upstream"),
    ("apisix.apache.org", "ApisixRoute"),
    ("appmesh.k8s.aws", "VirtualNode"),
    ("appmesh.k8s.aws", "VirtualRouter"),
    ("appmesh.k8s.aws", "VirtualService"),
];

/// The Secrets watched: all but Helm's release records, which hold every revision of every
/// chart installed with Helm, compressed, and which no rollout reads.
const SECRETS_WATCHED: &str = "type!=helm.sh/release.v1";

/// The field selector of a kind's watch, when it watches only some of the kind's objects.
fn selector(ar: &ApiResource) -> Option<&'static str> {
    (ar.group.is_empty() && ar.kind == "Secret").then_some(SECRETS_WATCHED)
}

/// How long a read waits for a kind's first list before it asks the API server itself.
const FIRST_LIST: Duration = Duration::from_secs(20);
/// How long after a watch failed it is started again.
const RESTART_AFTER: Duration = Duration::from_secs(5);
/// How long after the API server refused a watch (the list forbidden, the kind not served) it
/// is tried again: permissions may be granted, a CRD installed.
const RETRY_REFUSED: Duration = Duration::from_secs(300);

/// Where a kind's watch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Listing for the first time.
    Starting,
    /// Listed, and no error since: the cache may be read.
    Ready,
    /// Failed (at `since`): reads go to the API server until the watch is started again, `wait`
    /// after.
    Down { since: Instant, wait: Duration },
}

/// What fledge last wrote of an object, kept until the watch shows it.
#[derive(Debug, Clone)]
enum Written {
    /// The object as the API server answered the write.
    Object(Value, u64),
    /// Deleted, when the cache held it at `resourceVersion`.
    Gone(u64),
}

/// One kind's watch.
struct Kind {
    ar: ApiResource,
    namespaced: bool,
    /// Whether the watch holds every object of the kind: else an object it does not hold may
    /// still exist, and the kind is never listed from it.
    complete: bool,
    status: watch::Sender<Status>,
    running: Mutex<(Store<DynamicObject>, tokio::task::JoinHandle<()>)>,
    written: Mutex<HashMap<(String, String), Written>>,
    /// The highest resourceVersion the watch has brought: the store holds every change up to
    /// it.
    latest: Arc<AtomicU64>,
}

impl Drop for Kind {
    fn drop(&mut self) {
        lock(&self.running).1.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain data: a panic elsewhere while holding it leaves nothing half-written that matters.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sets the status `Down` when the watch's task ends for any reason (its runtime shut down, it
/// was aborted), unless it already said why.
struct Ending(watch::Sender<Status>);

impl Drop for Ending {
    fn drop(&mut self) {
        self.0.send_if_modified(|s| {
            if matches!(s, Status::Down { .. }) {
                return false;
            }
            *s = Status::Down {
                since: Instant::now(),
                wait: RESTART_AFTER,
            };
            true
        });
    }
}

/// Runs a watch of `api` (of `ar`'s kind) into `writer`, saying how it goes on `status`.
async fn run(
    ar: ApiResource,
    api: Api<DynamicObject>,
    config: watcher::Config,
    writer: reflector::store::Writer<DynamicObject>,
    status: watch::Sender<Status>,
    latest: Arc<AtomicU64>,
) {
    let ending = Ending(status);
    let stream = watcher(api, config).default_backoff().reflect(writer);
    let mut stream = std::pin::pin!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::InitDone) => {
                ending.0.send_replace(Status::Ready);
            }
            Ok(
                watcher::Event::Apply(o) | watcher::Event::Delete(o) | watcher::Event::InitApply(o),
            ) => seen(&latest, &o),
            Ok(watcher::Event::Init) => {}
            Err(watcher::Error::InitialListFailed(kube::Error::Api(s)))
                if matches!(s.code, 403..=405) =>
            {
                // 404 and 405: the kind is not served (a CRD not installed), which the reads
                // that follow report themselves.
                if s.code == 403 {
                    tracing::warn!(
                        "the watch of {kind} ({api_version}) is refused ({message}): reads of it \
                         go to the API server one by one; grant list and watch of it (the \
                         ClusterRole fledge in deploy/rbac.yaml)",
                        kind = ar.kind,
                        api_version = ar.api_version,
                        message = s.message
                    );
                }
                ending.0.send_replace(Status::Down {
                    since: Instant::now(),
                    wait: RETRY_REFUSED,
                });
                return;
            }
            Err(e) => {
                tracing::debug!("a watch cache failed: {e}");
                ending.0.send_replace(Status::Down {
                    since: Instant::now(),
                    wait: RESTART_AFTER,
                });
                return;
            }
        }
    }
}

/// The watch brought `o`: the store holds every change up to its resourceVersion.
fn seen(latest: &AtomicU64, o: &DynamicObject) {
    let v = o
        .metadata
        .resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    latest.fetch_max(v, Ordering::Relaxed);
}

fn start(
    client: &kube::Client,
    ar: &ApiResource,
    status: &watch::Sender<Status>,
    latest: &Arc<AtomicU64>,
) -> Running {
    let writer = reflector::store::Writer::new(ar.clone());
    let store = writer.as_reader();
    let api = Api::<DynamicObject>::all_with(client.clone(), ar);
    status.send_replace(Status::Starting);
    let mut config = watcher::Config::default();
    if let Some(fields) = selector(ar) {
        config = config.fields(fields);
    }
    let task = tokio::spawn(run(
        ar.clone(),
        api,
        config,
        writer,
        status.clone(),
        latest.clone(),
    ));
    (store, task)
}

type Running = (Store<DynamicObject>, tokio::task::JoinHandle<()>);

/// The resourceVersion of an object as a number; 0 when it has none that is one.
fn version(obj: &Value) -> u64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl Kind {
    /// The store, when it may be read now; starts the watch again when it is due.
    async fn ready(&self, client: &kube::Client) -> Option<Store<DynamicObject>> {
        let mut rx = self.status.subscribe();
        let now = *rx.borrow_and_update();
        match now {
            Status::Ready => {}
            Status::Starting => {
                let waited = tokio::time::timeout(
                    FIRST_LIST,
                    rx.wait_for(|s| !matches!(s, Status::Starting)),
                )
                .await;
                if !matches!(waited, Ok(Ok(s)) if *s == Status::Ready) {
                    return None;
                }
            }
            Status::Down { since, wait } => {
                if since.elapsed() >= wait {
                    let mut running = lock(&self.running);
                    running.1.abort();
                    *running = start(client, &self.ar, &self.status, &self.latest);
                }
                return None;
            }
        }
        Some(lock(&self.running).0.clone())
    }

    /// The live object `namespace/name` as the cache and fledge's own writes know it.
    fn get(&self, store: &Store<DynamicObject>, namespace: &str, name: &str) -> Option<Value> {
        let mut key = reflector::ObjectRef::new_with(name, self.ar.clone());
        if self.namespaced {
            key = key.within(namespace);
        }
        let cached = store.get(&key).map(|o| self.value(&o));
        let ident = (self.scope(namespace).to_owned(), name.to_owned());
        let mut written = lock(&self.written);
        let seen = cached.as_ref().map_or(0, version);
        match written.get(&ident) {
            // The watch has caught up with the write (or gone past it: the object may have
            // been changed or deleted since).
            Some(Written::Object(_, v)) if self.latest.load(Ordering::Relaxed) >= *v => {
                written.remove(&ident);
                cached
            }
            Some(Written::Object(o, _)) => Some(o.clone()),
            Some(Written::Gone(v)) if cached.is_some() && seen <= *v => None,
            Some(Written::Gone(_)) => {
                written.remove(&ident);
                cached
            }
            None => cached,
        }
    }

    /// Every object in `namespace` (every namespace for `""`), fledge's own writes included.
    fn list(&self, store: &Store<DynamicObject>, namespace: &str) -> Vec<Value> {
        let in_scope = |o: &DynamicObject| {
            namespace.is_empty()
                || !self.namespaced
                || o.metadata.namespace.as_deref() == Some(namespace)
        };
        let mut names: Vec<(String, String)> = store
            .state()
            .iter()
            .filter(|o| in_scope(o))
            .map(|o| {
                (
                    o.metadata.namespace.clone().unwrap_or_default(),
                    o.metadata.name.clone().unwrap_or_default(),
                )
            })
            .collect();
        names.extend(
            lock(&self.written)
                .keys()
                .filter(|(ns, _)| namespace.is_empty() || !self.namespaced || ns == namespace)
                .cloned(),
        );
        names.sort();
        names.dedup();
        names
            .iter()
            .filter_map(|(ns, name)| self.get(store, ns, name))
            .collect()
    }

    fn scope<'a>(&self, namespace: &'a str) -> &'a str {
        if self.namespaced { namespace } else { "" }
    }

    /// A cached object as fledge reads objects: naming its kind (the API server leaves the kind
    /// out of a list's items).
    fn value(&self, o: &DynamicObject) -> Value {
        let mut v = serde_json::to_value(o).unwrap_or(Value::Null);
        v["apiVersion"] = Value::String(self.ar.api_version.clone());
        v["kind"] = Value::String(self.ar.kind.clone());
        v
    }

    fn wrote(&self, obj: &Value) {
        let ns = obj["metadata"]["namespace"].as_str().unwrap_or("");
        let name = obj["metadata"]["name"].as_str().unwrap_or("");
        lock(&self.written).insert(
            (self.scope(ns).to_owned(), name.to_owned()),
            Written::Object(obj.clone(), version(obj)),
        );
    }

    fn deleted(&self, store: &Store<DynamicObject>, namespace: &str, name: &str) {
        let seen = self.get(store, namespace, name).as_ref().map_or(0, version);
        lock(&self.written).insert(
            (self.scope(namespace).to_owned(), name.to_owned()),
            Written::Gone(seen),
        );
    }
}

/// The caches of one client (fledge's own account; an impersonating client has none).
pub struct Cache {
    client: kube::Client,
    kinds: Mutex<HashMap<(String, String), Arc<Kind>>>,
    /// The digest of what fledge last applied of each object, by apiVersion, kind, namespace
    /// and name.
    applied: Mutex<HashMap<ObjectRef, [u8; 32]>>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").finish_non_exhaustive()
    }
}

fn digest(obj: &Value) -> [u8; 32] {
    Sha256::digest(serde_json::to_vec(obj).unwrap_or_default()).into()
}

impl Cache {
    #[must_use]
    pub fn new(client: kube::Client) -> Self {
        Self {
            client,
            kinds: Mutex::default(),
            applied: Mutex::default(),
        }
    }

    /// The cache of `ar`'s kind, started on first use; `None` for a kind not [`WATCHED`].
    fn kind(&self, ar: &ApiResource, namespaced: bool) -> Option<Arc<Kind>> {
        if !WATCHED.contains(&(ar.group.as_str(), ar.kind.as_str())) {
            return None;
        }
        let key = (ar.api_version.clone(), ar.kind.clone());
        let kind = lock(&self.kinds)
            .entry(key)
            .or_insert_with(|| {
                let (status, _) = watch::channel(Status::Starting);
                let latest = Arc::new(AtomicU64::new(0));
                let running = start(&self.client, ar, &status, &latest);
                Arc::new(Kind {
                    ar: ar.clone(),
                    namespaced,
                    complete: selector(ar).is_none(),
                    status,
                    running: Mutex::new(running),
                    written: Mutex::default(),
                    latest,
                })
            })
            .clone();
        Some(kind)
    }

    /// The live object, when the kind's cache can say: `None` when the API server must be asked.
    pub async fn get(
        &self,
        ar: &ApiResource,
        namespaced: bool,
        namespace: &str,
        name: &str,
    ) -> Option<Option<Value>> {
        let kind = self.kind(ar, namespaced)?;
        let store = kind.ready(&self.client).await?;
        let found = kind.get(&store, namespace, name);
        // Not held by a watch of some of the kind: the API server knows.
        if found.is_none() && !kind.complete {
            return None;
        }
        Some(found)
    }

    /// Every object of a kind in `namespace` (`""`: every namespace), when the cache can say.
    /// A list starts no watch: a search through every kind the cluster serves (the inventory's
    /// search for objects applied elsewhere) reads the kinds that are watched already, and asks
    /// the API server for the rest.
    pub async fn list(&self, ar: &ApiResource, namespace: &str) -> Option<Vec<Value>> {
        let kind = lock(&self.kinds)
            .get(&(ar.api_version.clone(), ar.kind.clone()))
            .cloned()?;
        if !kind.complete {
            return None;
        }
        let store = kind.ready(&self.client).await?;
        Some(kind.list(&store, namespace))
    }

    /// The live object, when `obj` is what fledge last applied and the live object still holds
    /// it: the apply would change nothing.
    pub async fn unchanged(
        &self,
        ar: &ApiResource,
        namespaced: bool,
        obj: &Value,
    ) -> Option<Value> {
        let last = lock(&self.applied).get(&ObjectRef::of(obj)?).copied()?;
        if last != digest(obj) {
            return None;
        }
        let ns = obj["metadata"]["namespace"].as_str().unwrap_or("default");
        let name = obj["metadata"]["name"].as_str()?;
        let live = self.get(ar, namespaced, ns, name).await??;
        holds(&live, &comparable(obj)).then_some(live)
    }

    /// Records an apply of `obj` that the API server answered with `stored`.
    pub fn applied(&self, ar: &ApiResource, namespaced: bool, obj: &Value, stored: &Value) {
        let Some(kind) = self.kind(ar, namespaced) else {
            return;
        };
        if let Some(r) = ObjectRef::of(obj) {
            lock(&self.applied).insert(r, digest(obj));
        }
        kind.wrote(stored);
    }

    /// Records a write that was not an apply of what Git holds (a status).
    pub fn wrote(&self, ar: &ApiResource, namespaced: bool, stored: &Value) {
        if let Some(kind) = self.kind(ar, namespaced) {
            kind.wrote(stored);
        }
    }

    /// Records a delete.
    pub fn deleted(&self, ar: &ApiResource, namespaced: bool, namespace: &str, name: &str) {
        let Some(kind) = self.kind(ar, namespaced) else {
            return;
        };
        let store = lock(&kind.running).0.clone();
        kind.deleted(&store, namespace, name);
        let ns = if namespaced { namespace } else { "" };
        lock(&self.applied).remove(&ObjectRef::new(&ar.api_version, &ar.kind, ns, name));
    }
}

/// `obj` as the API server keeps it, for [`holds`]: a Secret's `stringData` is kept in `data`,
/// base64-encoded.
fn comparable(obj: &Value) -> std::borrow::Cow<'_, Value> {
    use base64::Engine as _;
    let Some(string_data) = obj["stringData"]
        .as_object()
        .filter(|_| obj["kind"] == "Secret")
    else {
        return std::borrow::Cow::Borrowed(obj);
    };
    let mut out = obj.clone();
    for (k, v) in string_data {
        let text = v.as_str().unwrap_or("");
        out["data"][k] = Value::String(base64::engine::general_purpose::STANDARD.encode(text));
    }
    if let Some(m) = out.as_object_mut() {
        m.remove("stringData");
    }
    std::borrow::Cow::Owned(out)
}

/// Whether `live` holds every field of `desired`: each key with a value that holds it, lists
/// item by item (lists of named items by name, others of the same length in order), numbers
/// by value. An empty or null desired value is held by a missing one, as the API server drops
/// them. What cannot be told (a quantity written another way, a list another writer added to)
/// counts as not held: the apply is sent, which is always safe.
#[must_use]
pub fn holds(live: &Value, desired: &Value) -> bool {
    match (live, desired) {
        (_, Value::Null) => true,
        (Value::Object(l), Value::Object(d)) => d.iter().all(|(k, dv)| match l.get(k) {
            Some(lv) => holds(lv, dv),
            None => empty(dv),
        }),
        (Value::Null, d) => empty(d),
        (Value::Array(l), Value::Array(d)) => holds_list(l, d),
        (Value::Number(l), Value::Number(d)) => l.as_f64() == d.as_f64(),
        (l, d) => l == d,
    }
}

fn empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn holds_list(live: &[Value], desired: &[Value]) -> bool {
    let named = |v: &Value| v["name"].as_str().map(str::to_owned);
    let names: Option<Vec<String>> = desired.iter().map(named).collect();
    match names {
        Some(names) if !names.is_empty() && live.len() == desired.len() => {
            desired.iter().zip(&names).all(|(d, n)| {
                live.iter()
                    .find(|l| l["name"].as_str() == Some(n))
                    .is_some_and(|l| holds(l, d))
            })
        }
        _ => live.len() == desired.len() && live.iter().zip(desired).all(|(l, d)| holds(l, d)),
    }
}

#[cfg(test)]
mod tests;
