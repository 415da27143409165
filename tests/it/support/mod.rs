//! What the integration tests and the benchmarks share, so that no test writes it again: real
//! Git as a person uses it ([`git`]), `fledge run` as a process or in-process ([`daemon`]),
//! waiting for what a test cannot be told about ([`eventually`]), the real control plane
//! ([`testcluster`]), a metric source that answers one value ([`Fixed`]), a cluster that
//! records what fledge does to it ([`Recording`]), ticking a release on the simulated cluster
//! ([`tick_until`]), and running a command that must succeed ([`ok`]).

pub(crate) mod artifactgen;
pub(crate) mod cosign;
pub(crate) mod daemon;
pub(crate) mod eventually;
pub(crate) mod flagger;
pub(crate) mod flux;
pub(crate) mod fluxgen;
pub(crate) mod git;
pub(crate) mod gpg;
pub(crate) mod helm;
pub(crate) mod kstatus;
pub(crate) mod loadtester;
pub(crate) mod ncnotify;
pub(crate) mod ocipush;
pub(crate) mod peer;
pub(crate) mod proxy;
pub(crate) mod registry;
pub(crate) mod sops;
pub(crate) mod testcluster;

pub(crate) use eventually::{eventually, within};

use std::collections::BTreeSet;
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fledge::analysis::{MetricError, MetricRequest, MetricSource};
use fledge::cluster::{self, Cluster, SimHandle};
use fledge::object::ObjectRef;
use fledge::release::{ReleaseState, ReleaseTarget};
use fledge::rollout::executor::Executor;
use serde_json::Value;

/// Every query answers the same value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fixed(pub(crate) f64);

impl MetricSource for Fixed {
    async fn query(&self, _: &MetricRequest<'_>) -> Result<f64, MetricError> {
        Ok(self.0)
    }
}

/// Calls as RBAC sees them: (verb, API group, resource).
pub(crate) type Calls = Arc<Mutex<BTreeSet<(String, String, String)>>>;

/// A cluster that records every call as RBAC sees it and the last batch applied, and fails its
/// `fail_at`-th write (counted from 1; 0: never) as if the daemon died there.
pub(crate) struct Recording<C> {
    pub(crate) inner: C,
    pub(crate) calls: Calls,
    applied: Mutex<Vec<Value>>,
    writes: AtomicUsize,
    fail_at: usize,
}

impl<C: Cluster> Recording<C> {
    pub(crate) fn new(inner: C) -> Self {
        Self::failing_at(inner, 0)
    }

    /// Records into `calls`, shared with other recorders.
    pub(crate) fn sharing(inner: C, calls: Calls) -> Self {
        Self {
            calls,
            ..Self::new(inner)
        }
    }

    pub(crate) fn failing_at(inner: C, fail_at: usize) -> Self {
        Self {
            inner,
            calls: Calls::default(),
            applied: Mutex::default(),
            writes: AtomicUsize::new(0),
            fail_at,
        }
    }

    /// How many writes (apply, status, delete) were tried.
    pub(crate) fn writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }

    /// The last batch applied.
    pub(crate) fn last_applied(&self) -> Vec<Value> {
        self.applied.lock().unwrap().clone()
    }

    fn record(&self, verbs: &[&str], api_version: &str, kind: &str) {
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        for v in verbs {
            self.calls
                .lock()
                .unwrap()
                .insert(((*v).to_owned(), group.to_owned(), resource(kind)));
        }
    }

    fn write(&self) -> Result<(), cluster::Error> {
        if self.writes.fetch_add(1, Ordering::SeqCst) + 1 == self.fail_at {
            return Err(cluster::sim::Error::Invalid("injected crash".into()).into());
        }
        Ok(())
    }
}

/// The resource name RBAC uses for a kind (`Ingress` → `ingresses`, `Release/status` →
/// `releases/status`).
pub(crate) fn resource(kind: &str) -> String {
    if let Some(k) = kind.strip_suffix("/status") {
        return format!("{}/status", resource(k));
    }
    let k = kind.to_lowercase();
    if k.ends_with('s') {
        format!("{k}es")
    } else if let Some(stem) = k.strip_suffix('y') {
        // HTTPProxy → httpproxies, as the CRD's plural says.
        format!("{stem}ies")
    } else {
        format!("{k}s")
    }
}

fn str_of<'a>(o: &'a Value, field: &str) -> &'a str {
    o[field].as_str().unwrap_or_default()
}

impl<C: Cluster> Cluster for Recording<C> {
    async fn apply(&self, objects: &[Value]) -> Result<Vec<Value>, cluster::Error> {
        self.write()?;
        for o in objects {
            // Server-side apply creates what does not exist and patches what does.
            self.record(
                &["create", "patch"],
                str_of(o, "apiVersion"),
                str_of(o, "kind"),
            );
        }
        *self.applied.lock().unwrap() = objects.to_vec();
        self.inner.apply(objects).await
    }

    async fn dry_run(&self, objects: &[Value]) -> Result<(), cluster::Error> {
        self.inner.dry_run(objects).await
    }

    async fn apply_status(&self, o: &Value) -> Result<Value, cluster::Error> {
        self.write()?;
        self.record(
            &["patch"],
            str_of(o, "apiVersion"),
            &format!("{}/status", str_of(o, "kind")),
        );
        self.inner.apply_status(o).await
    }

    async fn get(&self, o: &ObjectRef) -> Result<Option<Value>, cluster::Error> {
        self.record(&["get"], &o.api_version, &o.kind);
        self.inner.get(o).await
    }

    async fn list(&self, a: &str, k: &str, ns: &str) -> Result<Vec<Value>, cluster::Error> {
        self.record(&["list"], a, k);
        self.inner.list(a, k, ns).await
    }

    async fn delete(&self, o: &ObjectRef) -> Result<(), cluster::Error> {
        self.write()?;
        self.record(&["delete"], &o.api_version, &o.kind);
        self.inner.delete(o).await
    }

    async fn get_raw(&self, path: &str) -> Result<Value, cluster::Error> {
        // As the API server's authorizer reads `/apis/<group>/<version>/namespaces/<ns>/<r>`
        // without a name: `list` of the resource `<r>` (for external metrics, the metric).
        let route = path.split_once('?').map_or(path, |(r, _)| r);
        let parts: Vec<&str> = route.trim_start_matches('/').split('/').collect();
        if let ["apis", group, _, "namespaces", _, resource] = parts.as_slice() {
            self.calls.lock().unwrap().insert((
                "list".to_owned(),
                (*group).to_owned(),
                (*resource).to_owned(),
            ));
        }
        self.inner.get_raw(path).await
    }
}

/// Ticks a release on the simulated cluster every 10 simulated seconds (its controllers run
/// between ticks) until `done`, at most `max` ticks; `None` when it never got there.
pub(crate) async fn tick_until<C: Cluster, M: MetricSource>(
    sim: &SimHandle,
    exec: &Executor<C, M>,
    t: &ReleaseTarget,
    clock: &mut i64,
    max: usize,
    done: impl Fn(&ReleaseState) -> bool,
) -> Option<ReleaseState> {
    for _ in 0..max {
        *clock += 10;
        sim.sim
            .lock()
            .unwrap()
            .tick(Duration::from_secs(clock.unsigned_abs()))
            .unwrap();
        let state = exec.tick(t, *clock).await.unwrap().state;
        if done(&state) {
            return Some(state);
        }
    }
    None
}

/// The stdout of a command that must have succeeded (its stderr in the panic otherwise).
pub(crate) fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a [`recorder`] received: `"<METHOD> <path> <authorization>"` and the JSON body.
pub(crate) type Received = Arc<Mutex<Vec<(String, Value)>>>;

/// A local forge (GitHub's API) and alert endpoint, recording every request it receives; GETs
/// answer `[]`, the rest `201 {}`. Returns its base URL.
pub(crate) async fn recorder() -> (String, Received) {
    let received: Received = Arc::default();
    let r = received.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let r = r.clone();
        async move {
            let (parts, body) = req.into_parts();
            let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            let auth = parts
                .headers
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            r.lock().unwrap().push((
                format!("{} {} {auth}", parts.method, parts.uri.path()),
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            ));
            if parts.method == "GET" {
                (axum::http::StatusCode::OK, "[]")
            } else {
                (axum::http::StatusCode::CREATED, "{}")
            }
        }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(axum::serve(l, app).into_future());
    (base, received)
}

/// web (Deployment, Ingress, Canary) in `shop`, routed by nginx, its canary failing
/// `error_rate` of the simulated requests; the analysis fails after `threshold` failed checks
/// and, with a `gate` URL, waits for that confirm-rollout webhook first.
pub(crate) fn erring_app(
    image: &str,
    error_rate: &str,
    threshold: u32,
    gate: Option<&str>,
) -> String {
    let hooks = gate.map_or(String::new(), |url| {
        format!("    webhooks: [{{name: gate, type: confirm-rollout, url: \"{url}\"}}]\n")
    });
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: shop}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata:\n      labels: {{app: web}}\n      annotations: {{sim.fledge.dev/error-rate: \"{error_rate}\"}}\n    spec: {{containers: [{{name: web, image: \"{image}\"}}]}}\n---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: web, namespace: shop}}\nspec: {{rules: [{{http: {{paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: web, port: {{number: 80}}}}}}}}]}}}}]}}\n---\napiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {{name: web, namespace: shop}}\nspec:\n  provider: nginx\n  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}\n  ingressRef: {{apiVersion: networking.k8s.io/v1, kind: Ingress, name: web}}\n  service: {{port: 80}}\n  analysis:\n    interval: 10s\n    threshold: {threshold}\n    stepWeight: 20\n    maxWeight: 60\n    metrics: [{{name: request-success-rate, thresholdRange: {{min: 99}}}}]\n{hooks}"
    )
}

/// A Flagger gate webhook: answers 403 until the flag is set, then 200. Returns its URL.
pub(crate) async fn gate() -> (String, Arc<std::sync::atomic::AtomicBool>) {
    let open = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let o = open.clone();
    let app = axum::Router::new().fallback(move || {
        let o = o.clone();
        async move {
            if o.load(Ordering::SeqCst) {
                axum::http::StatusCode::OK
            } else {
                axum::http::StatusCode::FORBIDDEN
            }
        }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/gate", l.local_addr().unwrap());
    tokio::spawn(axum::serve(l, app).into_future());
    (url, open)
}
