//! fledge against a real Kubernetes API server (etcd, kube-apiserver with RBAC and
//! kube-controller-manager, built from Go modules: `scripts/testcluster.sh`), through the same
//! `KubeCluster` code and the same `fledge run --cluster kube --kubeconfig …` users run, with
//! real Git and real write-back. One file per subject; this module holds what several of them
//! share. Each test starts with `testcluster::or_skip()`: without Go (and outside CI) they are
//! skipped, said once per test binary.

mod admission;
mod conditions;
mod demo;
mod external_metrics;
mod faults;
mod flagger_parity;
mod flux_apply;
mod flux_image;
mod flux_layouts;
mod flux_parity;
mod helm;
mod helm_hooks;
mod helm_lookup;
mod image_automation;
mod image_parity;
mod install;
mod knative;
mod leadership;
mod oci_parity;
mod oci_source;
mod oci_verify;
mod parity;
mod providers;
mod rbac;
mod retire;
mod rollout;
mod shards;
mod sync;
mod tenancy;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fledge::cluster::kube::KubeCluster;
use serde_json::Value;

use super::repo_dir;
use super::support::daemon::{Builder, Daemon};
use super::support::eventually;
use super::support::git::{Remote, git};
use super::support::testcluster::{TestCluster, or_skip};

/// The objects of a YAML file.
fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect()
}

/// The upstream CRDs of the routing kinds fledge writes (those that can be installed together:
/// Linkerd's TrafficSplit CRD serves v1alpha1 and v1alpha2).
fn routing_crds() -> Vec<Value> {
    let schemas = super::data_dir().join("schemas");
    [
        "istio/networking.istio.io_virtualservices.yaml",
        "istio/networking.istio.io_destinationrules.yaml",
        "gatewayapi/gateway.networking.k8s.io_httproutes.yaml",
        "linkerd/split.smi-spec.io_trafficsplits.yaml",
        "traefik/traefik.io_traefikservices.yaml",
        "contour/projectcontour.io_httpproxies.yaml",
        "kuma/kuma.io_trafficroutes.yaml",
        "gloo/gateway.solo.io_v1_RouteTable.yaml",
        "gloo/gloo.solo.io_v1_Upstream.yaml",
        "apisix/apisix.apache.org_apisixroutes.yaml",
        "appmesh/appmesh.k8s.aws_virtualnodes.yaml",
        "appmesh/appmesh.k8s.aws_virtualrouters.yaml",
        "appmesh/appmesh.k8s.aws_virtualservices.yaml",
    ]
    .iter()
    .flat_map(|f| documents(&schemas.join(f)))
    .map(with_appmesh_v1beta1)
    .collect()
}

/// App Mesh's VirtualNode and VirtualService CRDs serving v1beta1 (plain `appmesh`'s API)
/// besides v1beta2, as one CRD per kind must. v1beta1's own CRDs predate structural schemas
/// and, with no conversion webhook, the storage version holds both versions' objects as they
/// were written: so v1beta1 is stored and keeps every field
/// (`x-kubernetes-preserve-unknown-fields`), while v1beta2 requests are still validated and
/// pruned by v1beta2's schema. (What the v1beta1 objects hold is checked against a schema
/// from Flagger's Go types in `routing_schemas`.)
fn with_appmesh_v1beta1(mut crd: Value) -> Value {
    let name = crd["metadata"]["name"].as_str().unwrap_or_default();
    if !matches!(
        name,
        "virtualnodes.appmesh.k8s.aws" | "virtualservices.appmesh.k8s.aws"
    ) {
        return crd;
    }
    let versions = crd["spec"]["versions"].as_array_mut().unwrap();
    for v in versions.iter_mut() {
        v["storage"] = Value::Bool(false);
    }
    versions.push(serde_json::json!({
        "name": "v1beta1", "served": true, "storage": true,
        "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
        "subresources": {"status": {}},
    }));
    crd
}

/// The image `web-primary` in `ns` runs.
fn primary_image(c: &TestCluster, ns: &str) -> String {
    c.jsonpath(
        "deployment/web-primary",
        ns,
        "{.spec.template.spec.containers[0].image}",
    )
}

/// fledge's Release CRD, installed once for every test that runs releases.
fn install_release_crd(c: &TestCluster) {
    c.kubectl(&[
        "apply",
        "--server-side",
        "-f",
        repo_dir()
            .join("deploy/crds/releases.fledge.dev.yaml")
            .to_str()
            .unwrap(),
    ]);
}

/// `fledge run` on the real cluster as its admin; see [`on_kube`].
fn daemon(c: &TestCluster, remote: &Remote, ns: &str, dir: &Path, extra: &[&str]) -> Daemon {
    on_kube(&c.kubeconfig(), remote, ns, dir, extra).spawn()
}

/// A repository holding tests/charts/`chart` under `charts/` beside `documents` (path, text),
/// committed once.
fn chart_remote(chart: &str, documents: &[(&str, &str)]) -> Remote {
    let remote = Remote::new();
    let files = crate::helm::chart_files(chart, &format!("charts/{chart}"));
    let mut all: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    all.extend_from_slice(documents);
    remote.commit(&all, chart);
    remote
}

/// [`daemon`] syncing `apps/`, its charts rendered by `helm`'s engine.
fn helm_daemon(
    c: &TestCluster,
    remote: &Remote,
    ns: &str,
    dir: &Path,
    helm: &crate::support::helm::Helm,
) -> Daemon {
    let engine = helm.engine.to_str().unwrap();
    daemon(
        c,
        remote,
        ns,
        dir,
        &["--path", "apps", "--helm-engine", engine],
    )
}

/// `fledge run` on the real cluster as the account of `kubeconfig`; see [`on_kube`].
fn daemon_as(kubeconfig: &Path, remote: &Remote, ns: &str, dir: &Path, extra: &[&str]) -> Daemon {
    on_kube(kubeconfig, remote, ns, dir, extra).spawn()
}

/// `fledge run` on the real cluster with the credentials of `kubeconfig`, polling `remote`
/// every 2 s unless `extra` names an `--interval`, its inventory and key in `ns`, and no metrics
/// server unless `extra` names one.
fn on_kube(kubeconfig: &Path, remote: &Remote, ns: &str, dir: &Path, extra: &[&str]) -> Builder {
    let default = |flag: &'static str, value: &'static str| -> Vec<&'static str> {
        if extra.contains(&flag) {
            Vec::new()
        } else {
            vec![flag, value]
        }
    };
    Builder::new(&remote.url(), dir)
        .args(["--cluster", "kube"])
        .args([OsStr::new("--kubeconfig"), kubeconfig.as_os_str()])
        .args(["--namespace", ns])
        .args(default("--interval", "2s"))
        .args(default("--metrics-server", "http://127.0.0.1:1"))
        .args(extra)
}

/// The control plane with fledge's Release CRD, a new namespace `<prefix>-<n>` and a
/// directory for the daemon; `None` where the real-cluster tests are skipped.
fn scene(prefix: &str) -> Option<(&'static TestCluster, String, tempfile::TempDir)> {
    let c = or_skip()?;
    install_release_crd(c);
    Some((c, c.namespace(prefix), tempfile::tempdir().unwrap()))
}

/// The Deployment `web` in `ns`, one replica of `image`; `annotations` (flow-map entries) go on
/// its pod template, `deadline` is its progress deadline (the server's default: 600 s).
fn deployment(ns: &str, image: &str, annotations: &str, deadline: Option<u32>) -> String {
    let deadline = deadline.map_or(String::new(), |d| {
        format!("\n  progressDeadlineSeconds: {d}")
    });
    let annotations = if annotations.is_empty() {
        String::new()
    } else {
        format!("\n      annotations: {{{annotations}}}")
    };
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  replicas: 1{deadline}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata:
      labels: {{app: web}}{annotations}
    spec:
      containers: [{{name: web, image: \"{image}\"}}]
"
    )
}

/// [`deployment`] and its blue/green Canary on the kubernetes provider, without metrics: one
/// check per 10 s interval, `iterations` of them, rolled back after `threshold` failed checks
/// or the Canary's progress deadline (`canary_deadline`, Flagger's default: 600 s).
struct BlueGreen<'a> {
    image: &'a str,
    annotations: &'a str,
    deadline: Option<u32>,
    canary_deadline: Option<u32>,
    threshold: u32,
    iterations: u32,
}

impl BlueGreen<'_> {
    fn yaml(&self, ns: &str) -> String {
        let canary_deadline = self.canary_deadline.map_or(String::new(), |d| {
            format!("\n  progressDeadlineSeconds: {d}")
        });
        let (threshold, iterations) = (self.threshold, self.iterations);
        format!(
            "{}---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {{name: web, namespace: {ns}}}
spec:
  provider: kubernetes{canary_deadline}
  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}
  service: {{port: 80}}
  analysis: {{interval: 10s, threshold: {threshold}, iterations: {iterations}}}
",
            deployment(ns, self.image, self.annotations, self.deadline)
        )
    }
}

/// A Deployment and its Canary (kubernetes provider, blue/green, one iteration, no metrics);
/// an `unready` one's pods never get ready, and its Deployment's progress deadline is 5 s (a
/// ready one keeps the server's default, so that a loaded control plane is not taken for a
/// stuck rollout).
fn app(ns: &str, image: &str, unready: bool) -> String {
    BlueGreen {
        image,
        annotations: if unready {
            "sim.fledge.dev/ready: \"false\""
        } else {
            ""
        },
        deadline: unready.then_some(5),
        canary_deadline: None,
        threshold: 1,
        iterations: 1,
    }
    .yaml(ns)
}

/// A kubeconfig for the cluster that authenticates as `namespace/account` (a token from the
/// TokenRequest API), written into `dir`.
fn service_account_kubeconfig(
    c: &TestCluster,
    namespace: &str,
    account: &str,
    dir: &Path,
) -> PathBuf {
    let token = c.kubectl(&[
        "create",
        "token",
        account,
        "-n",
        namespace,
        "--duration",
        "1h",
    ]);
    let admin = std::fs::read_to_string(c.kubeconfig()).unwrap();
    assert!(admin.contains("token: fledge-testcluster-admin"), "{admin}");
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        admin.replace(
            "token: fledge-testcluster-admin",
            &format!("token: {}", token.trim()),
        ),
    )
    .unwrap();
    path
}

/// The rules of the ClusterRole `fledge` in deploy/rbac.yaml.
fn fledge_rules() -> Vec<Value> {
    documents(&repo_dir().join("deploy/rbac.yaml"))
        .into_iter()
        .find(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == "fledge")
        .and_then(|r| r["rules"].as_array().cloned())
        .unwrap()
}

/// A ServiceAccount `name` in `ns` bound to a ClusterRole of just `rules`, and a kubeconfig
/// that authenticates as it.
async fn account_with(
    c: &TestCluster,
    kube: &KubeCluster,
    ns: &str,
    name: &str,
    rules: Vec<Value>,
    dir: &Path,
) -> PathBuf {
    let objects = [
        serde_json::json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": ns}}),
        serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": name}, "rules": rules}),
        serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}]}),
    ];
    kube.apply(&objects).await.unwrap();
    service_account_kubeconfig(c, ns, name, dir)
}

/// The promotion record of `ns/web` is committed once, and every update of main was a
/// fast-forward: no Git write happened twice and none was forced.
async fn assert_promoted_once(remote: &Remote, ns: &str) {
    let record = format!(".fledge/promoted/{ns}/web.yaml");
    eventually(
        "the promotion record on main",
        Duration::from_secs(10),
        || async { remote.show("main", &record) },
        Option::is_some,
    )
    .await;
    // Writes are coalesced: give a duplicate, if any, the time to appear.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let promotions = git(
        &remote.bare(),
        &["log", "--format=%s", "main", "--", &record],
    );
    assert_eq!(promotions.lines().count(), 1, "{promotions}");
    super::support::git::assert_fast_forwards_only(&remote.bare(), "main");
}

/// A Deployment, its apex Service, the provider's routing input and a Canary checked by the
/// provider's built-in success rate; the new pods fail `errors` of their requests.
fn provider_app(ns: &str, provider: &str, image: &str, errors: &str) -> String {
    let (refs, extra) = match provider {
        "nginx" => (
            "  ingressRef: {apiVersion: networking.k8s.io/v1, kind: Ingress, name: web}\n"
                .to_owned(),
            format!(
                "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: web, namespace: {ns}}}\nspec:\n  rules:\n  - http:\n      paths:\n      - {{path: /, pathType: Prefix, backend: {{service: {{name: web, port: {{number: 80}}}}}}}}\n"
            ),
        ),
        _ => (String::new(), String::new()),
    };
    let gateway = if provider.starts_with("gatewayapi") {
        format!(", gatewayRefs: [{{name: gw, namespace: {ns}}}]")
    } else {
        String::new()
    };
    let annotations = format!("sim.fledge.dev/error-rate: \"{errors}\"");
    format!(
        "{}---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {{name: web, namespace: {ns}}}
spec:
  provider: \"{provider}\"
  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}
{refs}  service: {{port: 80{gateway}}}
  analysis:
    interval: 10s
    threshold: 2
    stepWeight: 50
    maxWeight: 50
    metrics:
    - {{name: request-success-rate, interval: 10s, thresholdRange: {{min: 99}}}}
{extra}",
        deployment(ns, image, &annotations, None)
    )
}

/// Waits until the daemon's release `web` of every namespace is in phase `want` (at most three
/// minutes); returns the releases.
async fn all_reach(d: &Daemon, namespaces: &[String], want: &str) -> Value {
    d.eventually(
        &format!("every release {want}"),
        Duration::from_secs(180),
        || d.releases(),
        |list| {
            namespaces.iter().all(|ns| {
                list.as_array()
                    .into_iter()
                    .flatten()
                    .any(|v| v["namespace"] == ns.as_str() && v["phase"] == want)
            })
        },
    )
    .await
}

/// Commits `files` (path, contents) to `remote`; the commit id.
fn commit_files(remote: &Remote, files: &[(String, String)], message: &str) -> String {
    remote.commit_owned(files, message)
}

/// The status of the sync unit `name` in `/api/sync`.
fn unit<'a>(sync: &'a Value, name: &str) -> Option<&'a Value> {
    sync["units"].as_array()?.iter().find(|u| u["name"] == name)
}
