//! The simulated cluster: fledge's embedded default when no Kubernetes API is at hand.
//!
//! Objects live in memory as compact JSON (a parsed `serde_json::Value` takes about ten times the
//! space, and a thousand releases make eleven thousand objects), keyed by group, kind, namespace
//! and name, with a resourceVersion and
//! a generation; `apply` behaves like server-side apply for a single manager (the applied fields
//! replace the old ones, `status` is kept, a spec change bumps the generation, an unchanged apply
//! changes nothing). Given a directory, every object is also a JSON file at
//! `DIR/objects/<namespace or _cluster>/<group or core>/<kind>/<name>.json`, written atomically
//! (temporary file, fsync, rename, fsync of the directory) and read back on start, so a killed
//! and restarted daemon finds the cluster as it was. A deployment controller marks rollouts
//! complete after a configurable delay (never, for pod templates annotated
//! `sim.fledge.dev/ready: "false"`), and HPAs keep their targets' replicas within bounds.
//! Time is passed in (`now`, since the simulation started): nothing here reads a clock.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::keys;
use crate::object::ObjectKey;

pub mod admission;
pub mod knative;
pub mod traffic;

use traffic::Traffic;

/// What an apply did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Created,
    Configured,
    Unchanged,
}

/// An external metric's series: each its labels and its value (a quantity).
pub type ExternalSeries = Vec<(BTreeMap<String, String>, String)>;

/// Why a simulated-cluster operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("object without kind or metadata.name: {0}")]
    Invalid(String),
    #[error("{0} not found")]
    NotFound(String),
    /// What a real API server would refuse.
    #[error("{0}")]
    Refused(String),
    #[error("cannot persist {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The key of an object; `Invalid`, naming it, when it has no kind or name (which includes
/// anything that is not a JSON object).
pub fn key(obj: &Value) -> Result<ObjectKey, Error> {
    ObjectKey::of(obj).ok_or_else(|| Error::Invalid(crate::object::describe(obj)))
}

/// One stored object: its compact JSON.
#[derive(Debug, Clone)]
struct Stored(Box<[u8]>);

impl Stored {
    fn new(obj: &Value) -> Self {
        Self(
            serde_json::to_vec(obj)
                .expect("JSON values serialise")
                .into_boxed_slice(),
        )
    }

    fn value(&self) -> Value {
        serde_json::from_slice(&self.0).expect("stored objects are JSON")
    }
}

/// The labels of the simulated cluster's nodes, which DaemonSets' node selectors pick from.
const SIM_NODES: &[&[(&str, &str)]] = &[
    &[
        ("kubernetes.io/hostname", "sim-node-1"),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
    ],
    &[
        ("kubernetes.io/hostname", "sim-node-2"),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
    ],
];

/// The simulated cluster.
#[derive(Debug)]
pub struct SimCluster {
    objects: BTreeMap<ObjectKey, Stored>,
    dir: Option<PathBuf>,
    resource_version: u64,
    ready_delay: Duration,
    /// When each Deployment's current generation was applied.
    changed_at: HashMap<ObjectKey, Duration>,
    traffic: Traffic,
    /// Requests per second each Service receives.
    request_rate: f64,
    last_tick: Option<Duration>,
    /// The external metrics API's series (`external.metrics.k8s.io`), by namespace and metric
    /// name: each its labels and its value (a quantity), as an adapter would serve them.
    external_metrics: BTreeMap<(String, String), ExternalSeries>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A file-name-safe form of a key part (`/` cannot appear in a file name).
fn segment(s: &str, empty: &str) -> String {
    if s.is_empty() {
        empty.to_owned()
    } else {
        s.replace('/', "%2F")
    }
}

impl SimCluster {
    /// An empty, in-memory cluster.
    #[must_use]
    pub fn new(ready_delay: Duration) -> Self {
        Self {
            objects: BTreeMap::new(),
            dir: None,
            resource_version: 0,
            ready_delay,
            changed_at: HashMap::new(),
            traffic: Traffic::default(),
            request_rate: 10.0,
            last_tick: None,
            external_metrics: BTreeMap::new(),
        }
    }

    /// Sets the series the external metrics API serves for `metric` in `namespace` (none:
    /// an empty list), as a metrics adapter would.
    pub fn set_external_metric(&mut self, namespace: &str, metric: &str, series: ExternalSeries) {
        self.external_metrics
            .insert((namespace.to_owned(), metric.to_owned()), series);
    }

    /// A GET beyond objects: the external metrics API
    /// (`/apis/external.metrics.k8s.io/v1beta1/namespaces/<ns>/<metric>?labelSelector=…`),
    /// its series filtered by the selector; any other path is not found.
    pub fn get_raw(&self, path: &str, now: Duration) -> Result<Value, Error> {
        const PREFIX: &str = "/apis/external.metrics.k8s.io/v1beta1/namespaces/";
        let not_found = || Error::NotFound(format!("GET {path}"));
        let (route, query) = path.split_once('?').unwrap_or((path, ""));
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let rest = route.strip_prefix(PREFIX).ok_or_else(not_found)?;
        let Some((namespace, metric)) = rest.split_once('/') else {
            return Err(not_found());
        };
        let (namespace, metric) = (decode(namespace), decode(metric));
        let selector = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "labelSelector")
            .map(|(_, v)| decode(&v.replace('+', " ")))
            .unwrap_or_default();
        let selector =
            crate::render::ObjectSelector::new(&crate::render::kustomization::Selector {
                label_selector: selector.clone(),
                ..Default::default()
            })
            .map_err(|e| Error::Refused(format!("labelSelector {selector:?}: {e}")))?;
        let timestamp = jiff::Timestamp::UNIX_EPOCH
            .checked_add(jiff::SignedDuration::try_from(now).unwrap_or_default())
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let items: Vec<Value> = self
            .external_metrics
            .get(&(namespace, metric.clone()))
            .into_iter()
            .flatten()
            .filter(|(labels, _)| selector.matches(&json!({"metadata": {"labels": labels}})))
            .map(|(labels, value)| {
                json!({"metricName": metric, "metricLabels": labels, "timestamp": timestamp, "value": value})
            })
            .collect();
        Ok(
            json!({"kind": "ExternalMetricValueList", "apiVersion": "external.metrics.k8s.io/v1beta1",
                  "metadata": {}, "items": items}),
        )
    }

    /// Sets the requests per second every Service receives (10 by default).
    pub fn set_request_rate(&mut self, rps: f64) {
        self.request_rate = rps.max(0.0);
    }

    /// The simulated traffic so far, as Prometheus text.
    #[must_use]
    pub fn metrics(&self) -> String {
        self.traffic.render()
    }

    /// The simulated traffic counters.
    #[must_use]
    pub fn traffic(&self) -> &Traffic {
        &self.traffic
    }

    /// A cluster persisted below `dir`, loaded from it when it already holds objects. Temporary
    /// files left by a crash between write and rename are discarded: the previous version of
    /// the object stands.
    pub fn open(dir: &Path, ready_delay: Duration) -> Result<Self, Error> {
        let mut sim = Self::new(ready_delay);
        let root = dir.join("objects");
        fs::create_dir_all(&root).map_err(io(&root))?;
        let mut stack = vec![root];
        while let Some(d) = stack.pop() {
            for entry in fs::read_dir(&d).map_err(io(&d))? {
                let path = entry.map_err(io(&d))?.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "json") {
                    let bytes = fs::read(&path).map_err(io(&path))?;
                    let obj: Value = serde_json::from_slice(&bytes).map_err(|e| Error::Io {
                        path: path.clone(),
                        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                    })?;
                    let rv = obj["metadata"]["resourceVersion"]
                        .as_str()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    sim.resource_version = sim.resource_version.max(rv);
                    if let Some(key) = ObjectKey::of(&obj) {
                        sim.objects.insert(key, Stored::new(&obj));
                    }
                } else {
                    // An interrupted write: the rename never happened.
                    let _ = fs::remove_file(&path);
                }
            }
        }
        sim.dir = Some(dir.to_path_buf());
        Ok(sim)
    }

    fn path_of(&self, key: &ObjectKey) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| {
            d.join("objects")
                .join(segment(&key.namespace, "_cluster"))
                .join(segment(&key.group, "core"))
                .join(segment(&key.kind, "_"))
                .join(format!("{}.json", segment(&key.name, "_")))
        })
    }

    /// Stores an object, written to the directory first if there is one (a failed write leaves
    /// the object as it was, in memory and on disk).
    fn store(&mut self, key: ObjectKey, obj: &Value) -> Result<(), Error> {
        self.persist(&key, Some(obj))?;
        self.objects.insert(key, Stored::new(obj));
        Ok(())
    }

    /// Writes one object (`None`: removes it) atomically: temporary file, fsync, rename, fsync
    /// of the directory.
    fn persist(&self, key: &ObjectKey, obj: Option<&Value>) -> Result<(), Error> {
        let Some(path) = self.path_of(key) else {
            return Ok(());
        };
        let dir = path.parent().expect("object paths have a parent");
        fs::create_dir_all(dir).map_err(io(dir))?;
        match obj {
            Some(obj) => {
                let tmp = path.with_extension(format!("json.tmp{}", self.resource_version));
                // Owner-only, as Secrets are among them (and a cluster's state is nobody else's).
                let mut options = fs::OpenOptions::new();
                options.write(true).create(true).truncate(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut f = options.open(&tmp).map_err(io(&tmp))?;
                f.write_all(&serde_json::to_vec_pretty(obj).expect("JSON values serialise"))
                    .map_err(io(&tmp))?;
                f.sync_all().map_err(io(&tmp))?;
                fs::rename(&tmp, &path).map_err(io(&path))?;
            }
            None => match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&path)(e)),
            },
        }
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))
    }

    fn next_rv(&mut self) -> String {
        self.resource_version += 1;
        self.resource_version.to_string()
    }

    /// Why a real API server would refuse `obj` (a name invalid for its kind, Secret data
    /// that is not base64, a kind it does not serve), if it would.
    #[must_use]
    pub fn refusal(&self, obj: &Value) -> Option<String> {
        admission::refusal(obj, |group, kind| self.has_crd(group, kind))
    }

    /// Whether the cluster holds a CRD for `kind` in `group`.
    #[must_use]
    pub fn has_crd(&self, group: &str, kind: &str) -> bool {
        self.list("apiextensions.k8s.io", "CustomResourceDefinition", None)
            .iter()
            .any(|c| admission::defines(c, group, kind))
    }

    /// Server-side apply for one field manager.
    pub fn apply(&mut self, mut obj: Value, now: Duration) -> Result<Applied, Error> {
        let key = key(&obj)?;
        if let Some(why) = self.refusal(&obj) {
            return Err(Error::Refused(why));
        }
        // The server folds a Secret's stringData into its data.
        if key.group.is_empty() && key.kind == "Secret" && obj.get("stringData").is_some() {
            if let Some(data) = crate::object::secret_data(&obj) {
                obj["data"] = data;
            }
            if let Some(m) = obj.as_object_mut() {
                m.remove("stringData");
            }
        }
        crate::object::strip_server_fields(&mut obj);
        let old = self.objects.get(&key).map(Stored::value);
        let (applied, generation, status, uid) = match &old {
            None => (
                Applied::Created,
                1,
                None,
                format!("sim-{}", self.resource_version + 1),
            ),
            Some(old) => {
                let mut old_desired = old.clone();
                crate::object::strip_server_fields(&mut old_desired);
                if old_desired == obj {
                    return Ok(Applied::Unchanged);
                }
                let current = old["metadata"]["generation"].as_i64().unwrap_or(1);
                let next = if old.get("spec") == obj.get("spec") {
                    current
                } else {
                    current + 1
                };
                (
                    Applied::Configured,
                    next,
                    old.get("status").cloned(),
                    old["metadata"]["uid"].as_str().unwrap_or("").to_owned(),
                )
            }
        };
        let previous_generation = old.and_then(|o| o["metadata"]["generation"].as_i64());
        let rv = self.next_rv();
        let meta = obj
            .as_object_mut()
            .expect("objects with a key are JSON objects")
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = meta {
            m.insert("resourceVersion".into(), json!(rv));
            m.insert("generation".into(), json!(generation));
            m.insert("uid".into(), json!(uid));
        }
        if let (Some(s), Some(m)) = (status, obj.as_object_mut()) {
            m.insert("status".into(), s);
        }
        if previous_generation != Some(generation) {
            self.changed_at.insert(key.clone(), now);
        }
        self.store(key, &obj)?;
        Ok(applied)
    }

    #[must_use]
    pub fn get(&self, key: &ObjectKey) -> Option<Value> {
        self.objects.get(key).map(Stored::value)
    }

    /// Objects of a group and kind, in one namespace or all.
    #[must_use]
    pub fn list(&self, group: &str, kind: &str, namespace: Option<&str>) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|(k, _)| {
                k.group == group && k.kind == kind && namespace.is_none_or(|n| n == k.namespace)
            })
            .map(|(_, v)| v.value())
            .collect()
    }

    /// Deletes an object; false when there was none.
    pub fn delete(&mut self, key: &ObjectKey) -> Result<bool, Error> {
        let existed = self.objects.remove(key).is_some();
        self.changed_at.remove(key);
        if existed {
            self.persist(key, None)?;
        }
        Ok(existed)
    }

    /// Every object, in key order.
    pub fn objects(&self) -> impl Iterator<Item = (&ObjectKey, Value)> {
        self.objects.iter().map(|(k, v)| (k, v.value()))
    }

    /// How many objects there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether there are no objects.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Writes an object's status, as the status subresource does; `NotFound` when the object
    /// does not exist.
    pub fn write_status(&mut self, key: &ObjectKey, status: Value) -> Result<(), Error> {
        if !self.objects.contains_key(key) {
            return Err(Error::NotFound(key.to_string()));
        }
        self.set_status(key, status)
    }

    fn set_status(&mut self, key: &ObjectKey, status: Value) -> Result<(), Error> {
        let Some(mut obj) = self.get(key) else {
            return Ok(());
        };
        if obj.get("status") == Some(&status) {
            return Ok(());
        }
        obj["status"] = status;
        obj["metadata"]["resourceVersion"] = json!(self.next_rv());
        self.store(key.clone(), &obj)
    }

    /// Runs the simulated controllers once at time `now`, and the traffic since the last tick.
    pub fn tick(&mut self, now: Duration) -> Result<(), Error> {
        if let Some(last) = self.last_tick {
            self.step_traffic(now.saturating_sub(last));
        }
        self.last_tick = Some(now);
        self.scale_by_hpas(now)?;
        self.establish_crds()?;
        self.run_daemonsets(now)?;
        self.run_knative(now)?;
        self.run_jobs(now)?;
        self.run_deployments(now)
    }

    /// The Job controller with the kubelet: once the ready delay has passed since a Job's last
    /// change, its pod has run to its end: `Complete`, or `Failed` when a container runs an
    /// image its template's [`keys::SIM_FAILING_IMAGES`] lists (a bad build), as on the test
    /// API server.
    fn run_jobs(&mut self, now: Duration) -> Result<(), Error> {
        let jobs: Vec<ObjectKey> = self
            .objects
            .keys()
            .filter(|k| k.group == "batch" && k.kind == "Job")
            .cloned()
            .collect();
        for key in jobs {
            let job = self.objects[&key].value();
            let since = now.saturating_sub(self.changed_at.get(&key).copied().unwrap_or_default());
            if since < self.ready_delay || !job["status"]["conditions"].is_null() {
                continue;
            }
            let template = &job["spec"]["template"];
            let failing = template["metadata"]["annotations"][keys::SIM_FAILING_IMAGES]
                .as_str()
                .unwrap_or_default();
            let bad = template["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["image"].as_str())
                .any(|image| failing.split(',').any(|f| f.trim() == image));
            let status = if bad {
                json!({"failed": 1, "conditions": [{"type": "Failed", "status": "True",
                    "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]})
            } else {
                json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]})
            };
            self.set_status(&key, status)?;
        }
        Ok(())
    }

    /// The Deployment controller: each Deployment observed, its replicas updated and, once the
    /// ready delay has passed since its last change, available (never, with [`keys::SIM_READY`]
    /// `false`, which ends in `ProgressDeadlineExceeded`).
    fn run_deployments(&mut self, now: Duration) -> Result<(), Error> {
        let deployments: Vec<ObjectKey> = self
            .objects
            .keys()
            .filter(|k| k.group == "apps" && k.kind == "Deployment")
            .cloned()
            .collect();
        for key in deployments {
            let d = self.objects[&key].value();
            let generation = d["metadata"]["generation"].as_i64().unwrap_or(1);
            let replicas = d["spec"]["replicas"].as_i64().unwrap_or(1);
            let never_ready =
                d["spec"]["template"]["metadata"]["annotations"][keys::SIM_READY] == "false";
            let deadline =
                Duration::from_secs(d["spec"]["progressDeadlineSeconds"].as_u64().unwrap_or(600));
            let since = now.saturating_sub(self.changed_at.get(&key).copied().unwrap_or_default());
            let status = if never_ready {
                let mut s = json!({"observedGeneration": generation, "replicas": replicas,
                    "updatedReplicas": replicas, "readyReplicas": 0, "availableReplicas": 0});
                if since >= deadline {
                    s["conditions"] = json!([{"type": "Progressing", "status": "False",
                        "reason": "ProgressDeadlineExceeded"}]);
                }
                s
            } else if since >= self.ready_delay {
                // The conditions the deployment controller sets once a rollout completed, which
                // kstatus (and so Flux's health checks) reads.
                json!({"observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
                       "readyReplicas": replicas, "availableReplicas": replicas,
                       "conditions": [
                           {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                           {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]})
            } else {
                continue;
            };
            self.set_status(&key, status)?;
        }
        Ok(())
    }

    /// The DaemonSet controller on [`SIM_NODES`]: a daemon on each node the pod template's node
    /// selector picks, updated at once and available once the ready delay has passed since the
    /// DaemonSet's last change (never, with [`keys::SIM_READY`] `false`).
    fn run_daemonsets(&mut self, now: Duration) -> Result<(), Error> {
        let daemonsets: Vec<ObjectKey> = self
            .objects
            .keys()
            .filter(|k| k.group == "apps" && k.kind == "DaemonSet")
            .cloned()
            .collect();
        for key in daemonsets {
            let d = self.objects[&key].value();
            let template = &d["spec"]["template"];
            let selector = template["spec"]["nodeSelector"].as_object();
            let nodes = SIM_NODES
                .iter()
                .filter(|labels| {
                    selector.into_iter().flatten().all(|(k, v)| {
                        labels
                            .iter()
                            .any(|(lk, lv)| lk == k && v.as_str() == Some(*lv))
                    })
                })
                .count();
            let never_ready = template["metadata"]["annotations"][keys::SIM_READY] == "false";
            let since = now.saturating_sub(self.changed_at.get(&key).copied().unwrap_or_default());
            let available = if never_ready || since < self.ready_delay {
                0
            } else {
                nodes
            };
            let status = json!({
                "observedGeneration": d["metadata"]["generation"].as_i64().unwrap_or(1),
                "desiredNumberScheduled": nodes, "currentNumberScheduled": nodes,
                "updatedNumberScheduled": nodes, "numberMisscheduled": 0,
                "numberReady": available, "numberAvailable": available,
            });
            self.set_status(&key, status)?;
        }
        Ok(())
    }

    /// CustomResourceDefinitions get the status the API server gives one whose names do not
    /// conflict (`NamesAccepted`, then `Established`), which kstatus reads.
    fn establish_crds(&mut self) -> Result<(), Error> {
        let crds: Vec<(ObjectKey, Value)> = self
            .objects
            .iter()
            .filter(|(k, _)| {
                k.group == "apiextensions.k8s.io" && k.kind == "CustomResourceDefinition"
            })
            .map(|(k, v)| (k.clone(), v.value()))
            .collect();
        for (key, crd) in crds {
            // Every version objects were ever stored as, as the API server keeps them.
            let mut stored: Vec<&Value> = crd["status"]["storedVersions"]
                .as_array()
                .into_iter()
                .flatten()
                .collect();
            let storage = crd["spec"]["versions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|v| v["storage"] == true)
                .map(|v| &v["name"]);
            for v in storage {
                if !stored.contains(&v) {
                    stored.push(v);
                }
            }
            let status = json!({
                "acceptedNames": crd["spec"]["names"],
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                     "message": "no conflicts found"},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                     "message": "the initial names have been accepted"}],
                "storedVersions": stored,
            });
            self.set_status(&key, status)?;
        }
        Ok(())
    }

    /// Runs the traffic model one namespace at a time, on the objects it reads, parsed.
    fn step_traffic(&mut self, dt: Duration) {
        let mut by_namespace: BTreeMap<&str, Vec<(&ObjectKey, &Stored)>> = BTreeMap::new();
        for (k, v) in &self.objects {
            if traffic::KINDS
                .iter()
                .any(|(g, kind)| k.group == *g && k.kind == *kind)
            {
                by_namespace.entry(&k.namespace).or_default().push((k, v));
            }
        }
        // Cluster-scoped routing objects (Kuma's TrafficRoutes) are read with every namespace.
        let cluster_scoped = by_namespace.remove("").unwrap_or_default();
        for stored in by_namespace.into_values() {
            let objects: BTreeMap<ObjectKey, Value> = stored
                .into_iter()
                .chain(cluster_scoped.iter().copied())
                .map(|(k, v)| (k.clone(), v.value()))
                .collect();
            self.traffic.step(&objects, self.request_rate, dt);
        }
    }

    /// HPAs keep their target Deployment's replicas within `minReplicas..=maxReplicas`.
    fn scale_by_hpas(&mut self, now: Duration) -> Result<(), Error> {
        let targets: Vec<(ObjectKey, i64, i64)> = self
            .objects
            .iter()
            .filter(|(k, _)| k.group == "autoscaling" && k.kind == "HorizontalPodAutoscaler")
            .map(|(k, h)| (k, h.value()))
            .filter(|(_, h)| h["spec"]["scaleTargetRef"]["kind"] == "Deployment")
            .filter_map(|(k, h)| {
                let name = h["spec"]["scaleTargetRef"]["name"].as_str()?;
                let key = ObjectKey {
                    group: "apps".into(),
                    kind: "Deployment".into(),
                    namespace: k.namespace.clone(),
                    name: name.to_owned(),
                };
                let min = h["spec"]["minReplicas"].as_i64().unwrap_or(1);
                let max = h["spec"]["maxReplicas"].as_i64().unwrap_or(min).max(min);
                Some((key, min, max))
            })
            .collect();
        for (key, min, max) in targets {
            let Some(mut d) = self.get(&key) else {
                continue;
            };
            let replicas = d["spec"]["replicas"].as_i64().unwrap_or(1);
            // A Deployment scaled to zero is idle (a canary at rest): HPAs leave it alone.
            if replicas == 0 {
                continue;
            }
            let clamped = replicas.clamp(min, max);
            if clamped != replicas {
                d["spec"]["replicas"] = json!(clamped);
                self.apply(d, now)?;
            }
        }
        Ok(())
    }
}

/// `GET /metrics`: the simulated traffic for Prometheus to scrape.
pub fn metrics_router(sim: std::sync::Arc<std::sync::Mutex<SimCluster>>) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let sim = sim.clone();
            async move {
                let text = sim.lock().map(|s| s.metrics()).unwrap_or_default();
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4",
                    )],
                    text,
                )
            }
        }),
    )
}

#[cfg(test)]
mod tests;
