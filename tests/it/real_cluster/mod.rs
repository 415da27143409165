//! fledge against a real Kubernetes API server (etcd, kube-apiserver with RBAC and
//! kube-controller-manager, built from Go modules: `scripts/testcluster.sh`), through the same
//! `KubeCluster` code and the same `fledge run --cluster kube --kubeconfig …` users run, with
//! real Git and real write-back.
//!
//! The tests of one capability may live in a submodule of this one (sharing its helpers).

mod admission;
mod conditions;
mod faults;
mod install;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fledge::cluster::kube::KubeCluster;
use fledge::cluster::sim::{SimCluster, metrics_router};
use fledge::object::ObjectRef;
use serde_json::{Value, json};

use fledge::release::Phase;
use fledge::release::spec::Provider;
use fledge::revision::HashKey;

use super::support::git::{Remote, git};
use super::support::testcluster::{TestCluster, cluster};
use super::support::until;
use super::support::{Fixed, Recording};
use super::{data_dir, repo_dir};

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
    let schemas = data_dir().join("schemas");
    [
        "istio/networking.istio.io_virtualservices.yaml",
        "istio/networking.istio.io_destinationrules.yaml",
        "gatewayapi/gateway.networking.k8s.io_httproutes.yaml",
        "linkerd/split.smi-spec.io_trafficsplits.yaml",
        "traefik/traefik.io_traefikservices.yaml",
    ]
    .iter()
    .flat_map(|f| documents(&schemas.join(f)))
    .collect()
}

/// The image `web-primary` in `ns` runs.
fn primary_image(c: &TestCluster, ns: &str) -> String {
    c.kubectl(&[
        "get",
        "deployment",
        "web-primary",
        "-n",
        ns,
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ])
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

/// `fledge run` on the real cluster, stopped when dropped.
struct Daemon {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Daemon {
    fn start(c: &TestCluster, remote: &Remote, ns: &str, dir: &Path, extra: &[&str]) -> Self {
        Self::as_account(&c.kubeconfig(), remote, ns, dir, extra)
    }

    /// fledge with the credentials of `kubeconfig`; its inventory and key in `ns`.
    fn as_account(
        kubeconfig: &Path,
        remote: &Remote,
        ns: &str,
        dir: &Path,
        extra: &[&str],
    ) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.join("fledge.log");
        let child = Command::new(env!("CARGO_BIN_EXE_fledge"))
            .args(["run", "--repo", &remote.url(), "--cluster", "kube"])
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--namespace", ns, "--interval", "2s"])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(if extra.contains(&"--metrics-server") {
                &[][..]
            } else {
                &["--metrics-server", "http://127.0.0.1:1"][..]
            })
            .arg("--cache-dir")
            .arg(dir.join("cache"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Self { child, port, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `kubectl get` until `done` holds of the object (at most 60 s).
async fn until_object(c: &TestCluster, args: &[&str], done: impl Fn(Option<&Value>) -> bool) {
    for _ in 0..600 {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(c.kubeconfig())
            .args(["get", "-o", "json"])
            .args(args)
            .output()
            .unwrap();
        let v: Option<Value> = out
            .status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).unwrap());
        if done(v.as_ref()) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("never: kubectl get {args:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_generated_object_passes_strict_validation_on_the_real_api_server() {
    let c = cluster();
    let kube = c.kube().await;
    // The upstream CRDs of the routing kinds, installed through fledge itself.
    let mut crds = routing_crds();
    crds.extend(documents(
        &repo_dir().join("deploy/crds/releases.fledge.dev.yaml"),
    ));
    kube.apply(&crds).await.unwrap();
    // The SMI TrafficSplit CRD that serves v1alpha1 and v1alpha2 (Linkerd's) serves no
    // v1alpha3; only one CRD of that name can be installed.
    let objects: Vec<Value> = super::routing_schemas::generated_objects()
        .into_iter()
        .filter(|o| o["apiVersion"] != "split.smi-spec.io/v1alpha3")
        .collect();
    let namespaces: BTreeSet<&str> = objects
        .iter()
        .filter_map(|o| o["metadata"]["namespace"].as_str())
        .collect();
    for ns in namespaces {
        let _ = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(c.kubeconfig())
            .args(["create", "namespace", ns])
            .output();
    }
    let refs: Vec<&Value> = objects.iter().collect();
    eprintln!(
        "{} generated objects dry-run with fieldValidation=Strict",
        refs.len()
    );
    kube.dry_run(&refs)
        .await
        .unwrap_or_else(|e| panic!("the API server refused generated objects: {e}"));
}

/// Manifests of the first sync: a Namespace, a CRD and a custom resource of it, ConfigMaps.
fn sync_files(app_ns: &str, with_drop: bool) -> Vec<(String, String)> {
    let mut files = vec![
        (
            "namespace.yaml".into(),
            format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {app_ns}}}\n"),
        ),
        (
            "crd.yaml".into(),
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.fledge-test.example.com}\nspec:\n  group: fledge-test.example.com\n  names: {kind: Widget, plural: widgets, singular: widget}\n  scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        properties:\n          spec:\n            type: object\n            properties:\n              size: {type: integer}\n".into(),
        ),
        (
            "widget.yaml".into(),
            format!("apiVersion: fledge-test.example.com/v1\nkind: Widget\nmetadata: {{name: w1, namespace: {app_ns}}}\nspec: {{size: 3}}\n"),
        ),
        (
            "keep.yaml".into(),
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: keep, namespace: {app_ns}}}\ndata: {{a: '1'}}\n"),
        ),
    ];
    if with_drop {
        files.push((
            "drop.yaml".into(),
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: drop, namespace: {app_ns}}}\ndata: {{b: '2'}}\n"),
        ));
    }
    files
}

#[tokio::test(flavor = "multi_thread")]
async fn first_sync_applies_server_side_with_definitions_first_and_prunes_by_inventory() {
    let c = cluster();
    let ns = c.namespace("sync");
    let app_ns = format!("{ns}-app");
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::new();
    let files = sync_files(&app_ns, true);
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    remote.commit(&refs, "namespace, CRD, widget and config");
    let daemon = Daemon::start(c, &remote, &ns, dir.path(), &[]);
    // One commit creates the Namespace, the CRD, then the widget of that CRD in that Namespace.
    until_object(c, &["widget", "w1", "-n", &app_ns], |w| w.is_some()).await;
    until_object(c, &["configmap", "drop", "-n", &app_ns], |w| w.is_some()).await;
    let keep: Value = serde_json::from_str(&c.kubectl(&[
        "get",
        "configmap",
        "keep",
        "-n",
        &app_ns,
        "-o",
        "json",
        "--show-managed-fields",
    ]))
    .unwrap();
    let managers: Vec<(&str, &str)> = keep["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["manager"].as_str().unwrap(),
                m["operation"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        managers,
        [("fledge", "Apply")],
        "server-side apply as fledge"
    );
    // A commit that drops an object prunes it, and only it.
    let person = remote.person();
    git(&person, &["rm", "-q", "drop.yaml"]);
    git(&person, &["commit", "-q", "-m", "drop the config"]);
    git(&person, &["push", "-q", "origin", "HEAD:main"]);
    until_object(c, &["configmap", "drop", "-n", &app_ns], |w| w.is_none()).await;
    c.kubectl(&["get", "configmap", "keep", "-n", &app_ns]);
    c.kubectl(&["get", "widget", "w1", "-n", &app_ns]);
    let log = daemon.log();
    assert!(log.contains("pruned=1"), "{log}");
    let inventory = c.kubectl(&[
        "get",
        "configmap",
        "fledge-inventory",
        "-n",
        &ns,
        "-o",
        "jsonpath={.data.objects}",
    ]);
    assert!(
        inventory.contains(&format!("v1|ConfigMap|{app_ns}|keep")) && !inventory.contains("|drop"),
        "{inventory}"
    );
}

/// A Deployment and its Canary (kubernetes provider, blue/green, one iteration, no metrics).
fn app(ns: &str, image: &str, unready: bool) -> String {
    let template_annotations = if unready {
        "\n      annotations: {sim.fledge.dev/ready: \"false\"}"
    } else {
        ""
    };
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  replicas: 1
  progressDeadlineSeconds: 5
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata:
      labels: {{app: web}}{template_annotations}
    spec:
      containers: [{{name: web, image: \"{image}\"}}]
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {{name: web, namespace: {ns}}}
spec:
  provider: kubernetes
  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}
  service: {{port: 80}}
  analysis: {{interval: 10s, threshold: 1, iterations: 1}}
"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rollout_promotes_and_a_canary_that_never_gets_ready_rolls_back_on_the_deployment_controllers_deadline()
 {
    let c = cluster();
    install_release_crd(c);
    let ns = c.namespace("rollout");
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::new();
    remote.commit(&[("app.yaml", &app(&ns, "web:1", false))], "web 1");
    let daemon = Daemon::start(c, &remote, &ns, dir.path(), &["--write-back", "true"]);
    let port = daemon.port;
    until(port, "web", "initialized", |v| v["phase"] == "Initialized").await;
    let primary: Value = serde_json::from_str(&c.kubectl(&[
        "get",
        "deployment",
        "web-primary",
        "-n",
        &ns,
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(primary["status"]["availableReplicas"], 1, "{primary}");
    let bump = remote.commit(&[("app.yaml", &app(&ns, "web:2", false))], "web 2");
    until(port, "web", "promoted", |v| {
        v["phase"] == "Succeeded" && v["sourceCommit"] == bump.as_str()
    })
    .await;
    let image = primary_image(c, &ns);
    assert_eq!(image, "web:2");
    // Pods that never become ready: the Deployment controller marks the canary past its
    // progress deadline, and fledge rolls back on that condition.
    let bad = remote.commit(&[("app.yaml", &app(&ns, "web:3", true))], "web 3");
    let failed = until(port, "web", "rolled back", |v| {
        v["phase"] == "Failed" && v["sourceCommit"] == bad.as_str()
    })
    .await;
    let message = failed["message"].as_str().unwrap_or_default();
    // The Deployment controller's condition (fledge's own deadline, 600 s, says "progress
    // deadline of 600s exceeded").
    assert!(
        message.contains("not ready: progress deadline exceeded"),
        "{failed}\n{}",
        daemon.log()
    );
    let image = primary_image(c, &ns);
    assert_eq!(image, "web:2", "the primary keeps serving");
    // The revert lands in Git.
    for _ in 0..100 {
        if remote
            .show("main", "app.yaml")
            .is_some_and(|a| a.contains("web:2"))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let log = git(&remote.bare(), &["log", "-1", "--format=%B", "main"]);
    assert!(
        log.starts_with("Revert \"web 3\"") && log.contains("Fledge-Release:"),
        "{log}"
    );
}

/// A kubeconfig for the cluster that authenticates as `namespace/account` (a token from the
/// TokenRequest API), written into `dir`.
fn service_account_kubeconfig(
    c: &TestCluster,
    namespace: &str,
    account: &str,
    dir: &Path,
) -> std::path::PathBuf {
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

#[tokio::test(flavor = "multi_thread")]
async fn deploy_is_accepted_and_fledge_runs_a_release_as_its_service_account_with_exactly_its_rbac()
{
    let c = cluster();
    // The whole of deploy/, as `kubectl apply -k deploy` sends it, accepted by the server
    // (for real: kubectl cannot dry-run objects of a Namespace it has not created yet).
    let deploy = repo_dir().join("deploy");
    c.kubectl(&["apply", "--server-side", "-k", deploy.to_str().unwrap()]);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = service_account_kubeconfig(c, "fledge-system", "fledge", dir.path());
    let ns = c.namespace("rbac");
    let remote = Remote::new();
    remote.commit(&[("app.yaml", &app(&ns, "web:1", false))], "web 1");
    let daemon = Daemon::as_account(&kubeconfig, &remote, "fledge-system", dir.path(), &[]);
    let init = until(
        daemon.port,
        "web",
        "initialized as the service account",
        |v| v["phase"] == "Initialized",
    )
    .await;
    let text = daemon.log();
    drop(daemon);
    assert!(!text.contains("forbidden"), "{text}");
    assert_eq!(init["canaryWeight"], 0);
    // The inventory and revision key live in fledge-system, written as the service account.
    c.kubectl(&[
        "get",
        "configmap",
        "fledge-inventory",
        "-n",
        "fledge-system",
    ]);
    c.kubectl(&[
        "get",
        "secret",
        "fledge-revision-key",
        "-n",
        "fledge-system",
    ]);
}

/// The promotion record of `ns/web` is committed once, and every update of main was a
/// fast-forward: no Git write happened twice and none was forced.
async fn assert_promoted_once(remote: &Remote, ns: &str) {
    let record = format!(".fledge/promoted/{ns}/web.yaml");
    for _ in 0..100 {
        if remote.show("main", &record).is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Writes are coalesced: give a duplicate, if any, the time to appear.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let promotions = git(
        &remote.bare(),
        &["log", "--format=%s", "main", "--", &record],
    );
    assert_eq!(promotions.lines().count(), 1, "{promotions}");
    super::support::git::assert_fast_forwards_only(&remote.bare(), "main");
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_mid_rollout_a_new_daemon_resumes_from_the_release_status_and_writes_git_once() {
    let c = cluster();
    install_release_crd(c);
    let ns = c.namespace("restart");
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::new();
    git(
        &remote.bare(),
        &["config", "core.logAllRefUpdates", "always"],
    );
    remote.commit(&[("app.yaml", &app(&ns, "web:1", false))], "web 1");
    let first = Daemon::start(c, &remote, &ns, dir.path(), &["--write-back", "true"]);
    until(first.port, "web", "initialized", |v| {
        v["phase"] == "Initialized"
    })
    .await;
    let bump = remote.commit(&[("app.yaml", &app(&ns, "web:2", false))], "web 2");
    until(first.port, "web", "progressing", |v| {
        v["phase"] == "Progressing" && v["sourceCommit"] == bump.as_str()
    })
    .await;
    // SIGKILL: no shutdown, no chance to write anything more.
    drop(first);
    let stored = c.kubectl(&[
        "get",
        "release",
        "web",
        "-n",
        &ns,
        "-o",
        "jsonpath={.status.phase}",
    ]);
    assert!(
        ["Progressing", "Promoting", "Finalising"].contains(&stored.as_str()),
        "{stored}"
    );
    let second = Daemon::start(c, &remote, &ns, dir.path(), &["--write-back", "true"]);
    let done = until(second.port, "web", "promoted after the restart", |v| {
        v["phase"] == "Succeeded" && v["sourceCommit"] == bump.as_str()
    })
    .await;
    assert_eq!(done["fastRollback"], false);
    assert_promoted_once(&remote, &ns).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_persons_edits_and_an_hpa_own_what_they_own_and_sync_does_not_fight_them() {
    let c = cluster();
    install_release_crd(c);
    let ns = c.namespace("owners");
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::new();
    let hpa = format!(
        "---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {{name: web, namespace: {ns}}}\nspec:\n  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}\n  minReplicas: 2\n  maxReplicas: 4\n"
    );
    let with_hpa = app(&ns, "web:1", false).replace(
        "  service: {port: 80}",
        "  autoscalerRef: {apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, name: web}\n  service: {port: 80}",
    ) + &hpa;
    remote.commit(&[("app.yaml", &with_hpa)], "web 1 with an HPA");
    let daemon = Daemon::start(c, &remote, &ns, dir.path(), &[]);
    until(daemon.port, "web", "initialized", |v| {
        v["phase"] == "Initialized"
    })
    .await;
    // The primary HPA (made by fledge) raises the primary to its minimum; fledge keeps what
    // the HPA set instead of Git's replicas: 1.
    until_object(c, &["deployment", "web-primary", "-n", &ns], |d| {
        d.is_some_and(|d| d["spec"]["replicas"] == 2)
    })
    .await;
    // A person scales the primary past what the HPA chose; the HPA brings it back within
    // bounds, and fledge's ticks leave the field to it.
    c.kubectl(&[
        "scale",
        "deployment",
        "web-primary",
        "-n",
        &ns,
        "--replicas=3",
    ]);
    tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    let replicas = c.kubectl(&[
        "get",
        "deployment",
        "web-primary",
        "-n",
        &ns,
        "-o",
        "jsonpath={.spec.replicas}",
    ]);
    assert_eq!(
        replicas, "3",
        "within the HPA's bounds, a person's scale stands"
    );
    // A person edits a field of a generated object fledge owns: the next tick restores it.
    c.kubectl(&[
        "patch",
        "service",
        "web",
        "-n",
        &ns,
        "--type=merge",
        "-p",
        r#"{"spec":{"selector":{"app":"web"}}}"#,
    ]);
    until_object(c, &["service", "web", "-n", &ns], |s| {
        s.is_some_and(|s| s["spec"]["selector"]["app"] == "web-primary")
    })
    .await;
    assert!(!daemon.log().contains("conflict"), "{}", daemon.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_elect_one_leader_and_the_other_takes_over_when_it_dies() {
    let c = cluster();
    install_release_crd(c);
    let ns = c.namespace("ha");
    let dir = tempfile::tempdir().unwrap();
    let (dir_a, dir_b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let remote = Remote::new();
    git(
        &remote.bare(),
        &["config", "core.logAllRefUpdates", "always"],
    );
    remote.commit(&[("app.yaml", &app(&ns, "web:1", false))], "web 1");
    let ha = [
        "--leader-election",
        "true",
        "--lease-duration",
        "4s",
        "--write-back",
        "true",
    ];
    let a = Daemon::start(c, &remote, &ns, &dir_a, &ha);
    until(a.port, "web", "the first replica leads", |v| {
        v["phase"] == "Initialized"
    })
    .await;
    let b = Daemon::start(c, &remote, &ns, &dir_b, &ha);
    for _ in 0..100 {
        if b.log().contains("waiting to lead") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let client = fledge::net::http_client(std::time::Duration::from_secs(2), false);
    let api = |port: u16| format!("http://127.0.0.1:{port}/api/releases");
    let standby: Value = client
        .get(api(b.port))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(standby, serde_json::json!([]), "the follower does nothing");
    let ready = client
        .get(format!("http://127.0.0.1:{}/readyz", b.port))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.text().await.unwrap(), "standby\n");
    let bump = remote.commit(&[("app.yaml", &app(&ns, "web:2", false))], "web 2");
    until(a.port, "web", "progressing on the leader", |v| {
        v["phase"] == "Progressing" && v["sourceCommit"] == bump.as_str()
    })
    .await;
    // The leader dies without a word; the follower takes the Lease once it expires.
    let killed = std::time::SystemTime::now();
    drop(a);
    while !b.log().contains("leading") {
        assert!(
            killed.elapsed().unwrap() < std::time::Duration::from_secs(30),
            "no takeover: {}",
            b.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    eprintln!(
        "the follower leads {:.1}s after the leader was killed (lease 4s)",
        killed.elapsed().unwrap().as_secs_f64()
    );
    until(b.port, "web", "promoted by the new leader", |v| {
        v["phase"] == "Succeeded" && v["sourceCommit"] == bump.as_str()
    })
    .await;
    let log = b.log();
    assert!(log.contains("leading"), "{log}");
    eprintln!(
        "the follower promoted {:.1}s after the leader was killed",
        killed.elapsed().unwrap().as_secs_f64()
    );
    assert_promoted_once(&remote, &ns).await;
    let holder = c.kubectl(&[
        "get",
        "lease",
        "fledge-leader",
        "-n",
        &ns,
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    assert!(!holder.is_empty(), "the Lease has a holder");
}

/// Mirrors the workloads, Services and routing objects of `namespaces` from the real cluster
/// into a simulated one twice a second; the simulated traffic meters them as each data plane
/// would and serves the series on `/metrics`, which a real Prometheus scrapes: the query path is
/// real, only the traffic is not. Returns the exporter's port.
async fn traffic_exporter(kube: KubeCluster, namespaces: Vec<String>) -> u16 {
    let sim = Arc::new(Mutex::new(SimCluster::new(Duration::ZERO)));
    sim.lock().unwrap().set_request_rate(100.0);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(axum::serve(listener, metrics_router(sim.clone())).into_future());
    tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        loop {
            for ns in &namespaces {
                for (api, kind) in [
                    ("apps/v1", "Deployment"),
                    ("v1", "Service"),
                    ("networking.k8s.io/v1", "Ingress"),
                    ("networking.istio.io/v1beta1", "VirtualService"),
                    ("gateway.networking.k8s.io/v1", "HTTPRoute"),
                ] {
                    // Kinds whose CRD is not installed yet list nothing.
                    for o in kube
                        .list_labelled(api, kind, ns, None)
                        .await
                        .unwrap_or_default()
                    {
                        let mut s = sim.lock().unwrap();
                        s.apply(fledge::object::applyable(&o), started.elapsed())
                            .expect("listed objects name their kind");
                    }
                }
            }
            let _ = sim.lock().unwrap().tick(started.elapsed());
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    port
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
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata:
      labels: {{app: web}}
      annotations: {{sim.fledge.dev/error-rate: \"{errors}\"}}
    spec:
      containers: [{{name: web, image: \"{image}\"}}]
---
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
{extra}"
    )
}

/// Polls the daemon's API until the release `web` of every namespace is in phase `want` (at
/// most three minutes); returns the releases.
async fn all_reach(port: u16, namespaces: &[String], want: &str) -> Value {
    let client = fledge::net::http_client(Duration::from_secs(2), false);
    let mut list = Value::Null;
    for _ in 0..1800 {
        list = match client
            .get(format!("http://127.0.0.1:{port}/api/releases"))
            .send()
            .await
        {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        let done = namespaces.iter().all(|ns| {
            list.as_array()
                .into_iter()
                .flatten()
                .any(|v| v["namespace"] == ns.as_str() && v["phase"] == want)
        });
        if done {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not every release reached {want}: {list:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn nginx_istio_and_gateway_api_canaries_promote_and_roll_back_on_a_real_prometheus() {
    let c = cluster();
    install_release_crd(c);
    let providers = ["nginx", "istio", "gatewayapi:v1"];
    let namespaces: Vec<String> = providers.iter().map(|_| c.namespace("provider")).collect();
    let dir = tempfile::tempdir().unwrap();
    let exporter = traffic_exporter(c.kube().await, namespaces.clone()).await;
    let (_prometheus, prom_port) = super::prometheus::start(dir.path(), exporter);
    // The upstream CRDs come from the repository, installed by fledge's own sync.
    let schemas = data_dir().join("schemas");
    let mut files: Vec<(String, String)> = [
        "istio/networking.istio.io_virtualservices.yaml",
        "istio/networking.istio.io_destinationrules.yaml",
        "gatewayapi/gateway.networking.k8s.io_httproutes.yaml",
    ]
    .iter()
    .map(|f| {
        (
            format!("crds/{}", f.rsplit('/').next().unwrap()),
            std::fs::read_to_string(schemas.join(f)).unwrap(),
        )
    })
    .collect();
    let version = |files: &mut Vec<(String, String)>, image: &str, errors: &str| {
        files.retain(|(p, _)| p.starts_with("crds/"));
        for (p, ns) in providers.iter().zip(&namespaces) {
            files.push((format!("{ns}/app.yaml"), provider_app(ns, p, image, errors)));
        }
        files
            .iter()
            .map(|(p, t)| (p.clone(), t.clone()))
            .collect::<Vec<_>>()
    };
    let remote = Remote::new();
    let commit = |files: Vec<(String, String)>, message: &str| {
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        remote.commit(&refs, message)
    };
    commit(
        version(&mut files, "web:1", "0"),
        "web 1 on three providers",
    );
    let prometheus = format!("http://127.0.0.1:{prom_port}");
    let daemon = Daemon::start(
        c,
        &remote,
        &namespaces[0],
        dir.path(),
        &["--metrics-server", &prometheus],
    );
    all_reach(daemon.port, &namespaces, "Initialized").await;
    let bump = commit(version(&mut files, "web:2", "0"), "web 2");
    let promoted = tokio::select! {
        l = all_reach(daemon.port, &namespaces, "Succeeded") => l,
        () = tokio::time::sleep(Duration::from_secs(170)) => panic!("{}", daemon.log()),
    };
    for v in promoted.as_array().unwrap() {
        assert_eq!(v["sourceCommit"], bump.as_str(), "{v}");
    }
    commit(
        version(&mut files, "web:3", "0.5"),
        "web 3 fails half its requests",
    );
    let failed = all_reach(daemon.port, &namespaces, "Failed").await;
    for v in failed.as_array().unwrap() {
        assert!(
            v["failedChecks"].as_u64().unwrap() >= 2,
            "{v}\n{}",
            daemon.log()
        );
    }
    for ns in &namespaces {
        let image = primary_image(c, ns);
        assert_eq!(image, "web:2", "{ns}: the primary keeps serving web:2");
        // Why it failed, as the real API server holds it in the Release's status.
        let release: Value = serde_json::from_str(&c.kubectl(&[
            "get",
            "releases.fledge.dev",
            "web",
            "-n",
            ns,
            "-o",
            "json",
        ]))
        .unwrap();
        let check = &release["status"]["lastFailedCheck"];
        assert_eq!(check["check"], "metric request-success-rate", "{release}");
        assert_eq!(check["threshold"], ">= 99%", "{release}");
        let value = check["value"].as_str().unwrap_or_default();
        let rate: f64 = value.trim_end_matches('%').parse().unwrap_or(100.0);
        assert!(rate < 99.0, "{release}");
        assert!(check["time"].as_i64().is_some(), "{release}");
    }
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
) -> std::path::PathBuf {
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

/// fledge, as the account of `kubeconfig`, on a repository with one release of every supported
/// provider (each with an HPA, an Ingress, tracked configs and a MetricTemplate with a Secret),
/// until its log says `forbidden` or every release is Initialized; returns the log.
async fn run_as(c: &TestCluster, kubeconfig: &Path, base: &str, dir: &Path) -> (String, bool) {
    let providers = [
        "kubernetes",
        "nginx",
        "istio",
        "gatewayapi:v1",
        "linkerd",
        "traefik",
    ];
    let mut objects = Vec::new();
    for (i, p) in providers.iter().enumerate() {
        let ns = format!("{base}-{i}");
        c.kubectl(&["create", "namespace", &ns]);
        for mut o in super::rbac::repo(p, "web:1") {
            o["metadata"]["namespace"] = Value::from(ns.clone());
            objects.push(o);
        }
    }
    let remote = Remote::new();
    let text = fledge::render::yaml::emit_stream(&objects);
    remote.commit(&[("apps.yaml", &text)], "one release per provider");
    let daemon = Daemon::as_account(kubeconfig, &remote, &format!("{base}-0"), dir, &[]);
    let namespaces: Vec<String> = (0..providers.len())
        .map(|i| format!("{base}-{i}"))
        .collect();
    let initialized = tokio::select! {
        _ = all_reach(daemon.port, &namespaces, "Initialized") => true,
        () = async {
            while !daemon.log().contains("forbidden") {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        } => false,
        () = tokio::time::sleep(Duration::from_secs(60)) => false,
    };
    // Routes are applied right after the phase that allows them: one more tick.
    if initialized {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    (daemon.log(), initialized)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cluster_role_fledge_is_enough_and_every_rule_of_it_is_needed() {
    let c = cluster();
    install_release_crd(c);
    let kube = c.kube().await;
    kube.apply(&routing_crds()).await.unwrap();
    let rules = fledge_rules();
    let ns = c.namespace("rbac-accounts");
    let dir = tempfile::tempdir().unwrap();
    // Every rule: enough for a release of every provider, without the wildcard sync role.
    let all = dir.path().join("all");
    std::fs::create_dir_all(&all).unwrap();
    let kubeconfig = account_with(c, &kube, &ns, "fledge-all-rules", rules.clone(), &all).await;
    let (log, initialized) = run_as(c, &kubeconfig, &c.namespace("rbac-all"), &all).await;
    assert!(initialized && !log.contains("forbidden"), "{log}");
    // Without any one rule, a named step fails with the verb and resource it lacks.
    let mut runs = tokio::task::JoinSet::new();
    for (i, rule) in rules.iter().enumerate() {
        let (rule, mut fewer) = (rule.clone(), rules.clone());
        fewer.remove(i);
        let (ns, dir) = (ns.clone(), dir.path().join(format!("r{i}")));
        runs.spawn(async move {
            std::fs::create_dir_all(&dir).unwrap();
            let kube = c.kube().await;
            let name = format!("fledge-without-{i}");
            let kubeconfig = account_with(c, &kube, &ns, &name, fewer, &dir).await;
            let (log, initialized) =
                run_as(c, &kubeconfig, &c.namespace(&format!("rbac-{i}")), &dir).await;
            (rule, log, initialized)
        });
    }
    while let Some(done) = runs.join_next().await {
        let (rule, log, initialized) = done.unwrap();
        let words = |field: &str| -> Vec<String> {
            rule[field]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        };
        let (verbs, resources) = (words("verbs"), words("resources"));
        // Kubernetes says: `... cannot patch resource "services" in API group ""`.
        let named = log.lines().any(|l| {
            l.contains("forbidden")
                && verbs
                    .iter()
                    .any(|v| l.contains(&format!("cannot {v} resource")))
                && resources.iter().any(|r| {
                    l.contains(&format!("resource \\\"{r}\\\""))
                        || l.contains(&format!("resource \"{r}\""))
                })
        });
        assert!(
            !initialized || named,
            "rule {rule} seems unneeded: every release initialized without it"
        );
        assert!(
            named,
            "without {rule}, no error names its verb and resource:\n{log}"
        );
        eprintln!("needed: {rule}");
    }
}

/// The phases a release goes through (each once, in order) and the objects fledge applied to
/// reach them, driving the executor on `cluster` through three commits: web:1 initialized,
/// web:2 promoted, web:3 (never ready) rolled back. `settle` lets the cluster's controllers run
/// between ticks.
async fn scenario<C: fledge::cluster::Cluster>(
    cluster: Recording<C>,
    ns: &str,
    settle: impl AsyncFn(i64),
) -> (Vec<Phase>, BTreeMap<String, BTreeSet<String>>) {
    let exec = fledge::rollout::executor::Executor {
        cluster,
        metrics: Fixed(100.0),
        webhooks: fledge::analysis::webhooks::Webhooks::default(),
        templates: std::collections::BTreeMap::new(),
        promoted_window: 10,
    };
    let mut phases: Vec<Phase> = Vec::new();
    let mut applied: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut clock = 0i64;
    for (image, unready, want) in [
        ("web:1", false, Phase::Initialized),
        ("web:2", false, Phase::Succeeded),
        ("web:3", true, Phase::Failed),
    ] {
        let objects: Vec<Value> = serde_yaml::Deserializer::from_str(&app(ns, image, unready))
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
        let d = fledge::rollout::targets::split(
            &objects,
            image,
            &Provider::Kubernetes,
            &HashKey::offline(),
        );
        let t = &d.releases[format!("{ns}/web").as_str()];
        for _ in 0..60 {
            clock += 10;
            settle(clock).await;
            let state = exec.tick(t, clock).await.unwrap().state;
            for o in exec.cluster.last_applied() {
                applied
                    .entry(format!(
                        "{} {}",
                        o["kind"].as_str().unwrap(),
                        o["metadata"]["name"].as_str().unwrap()
                    ))
                    .or_default()
                    .insert(serde_json::to_string_pretty(&o).unwrap());
            }
            if phases.last() != Some(&state.phase) {
                phases.push(state.phase);
            }
            if state.phase == want {
                break;
            }
        }
        assert_eq!(phases.last(), Some(&want), "{phases:?}");
    }
    (phases, applied)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_simulator_and_the_real_server_take_a_release_through_the_same_phases_and_objects() {
    let c = cluster();
    install_release_crd(c);
    let ns = c.namespace("honest");
    let sim = fledge::cluster::SimHandle::new(SimCluster::new(Duration::ZERO));
    let sim_clock = sim.clone();
    let on_sim = scenario(Recording::new(sim), &ns, async move |clock: i64| {
        sim_clock
            .sim
            .lock()
            .unwrap()
            .tick(Duration::from_secs(clock.unsigned_abs()))
            .unwrap();
    })
    .await;
    // The real controllers run in real time: a short pause between ticks, and the progress
    // deadline (5 s) passes in real seconds.
    let on_kube = scenario(Recording::new(c.kube().await), &ns, async |_| {
        tokio::time::sleep(Duration::from_millis(700)).await;
    })
    .await;
    assert_eq!(on_sim.0, on_kube.0, "phases: simulated, real");
    assert_eq!(
        on_sim.1.keys().collect::<Vec<_>>(),
        on_kube.1.keys().collect::<Vec<_>>(),
        "objects applied: simulated, real"
    );
    // What fledge sent for each object, every distinct version of it over the scenario.
    for (object, sent) in &on_sim.1 {
        let real = &on_kube.1[object];
        let only_sim: Vec<_> = sent.difference(real).collect();
        let only_real: Vec<_> = real.difference(sent).collect();
        assert!(
            only_sim.is_empty() && only_real.is_empty(),
            "{object}: sent only to the simulator:\n{}\nsent only to the real server:\n{}",
            only_sim
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            only_real
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_plays_its_scenes_on_a_real_cluster_in_a_namespace_of_its_own() {
    let c = cluster();
    let kubeconfig = c.kubeconfig();
    let on_kube = move |a: &mut fledge::daemon::config::RunArgs| {
        a.cluster = Some("kube".into());
        a.kubeconfig = Some(kubeconfig.clone());
    };
    let dir = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    let report = fledge::cli::demo::play(&dir.path().join("one"), &mut out, &on_kube)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&out)));
    let text = String::from_utf8_lossy(&out).into_owned();
    super::demo::assert_four_scenes(&report, &text);
    assert!(report.scenes.iter().all(|v| v.namespace == "fledge-demo"));
    assert!(
        text.contains("kubectl delete namespace fledge-demo"),
        "{text}"
    );
    // What the real cluster holds: podinfo's primary serves 6.5.0 again, its canary is scaled
    // to zero, and the nginx canary Ingress sends it nothing.
    let get = |what: &str, path: &str| {
        c.kubectl(&[
            "-n",
            "fledge-demo",
            "get",
            what,
            "-o",
            &format!("jsonpath={path}"),
        ])
    };
    assert_eq!(
        get(
            "deployment/podinfo-primary",
            "{.spec.template.spec.containers[0].image}"
        ),
        "ghcr.io/stefanprodan/podinfo:6.5.0"
    );
    assert_eq!(get("deployment/podinfo", "{.spec.replicas}"), "0");
    assert_eq!(
        get(
            "ingress/podinfo-canary",
            "{.metadata.annotations.nginx\\.ingress\\.kubernetes\\.io/canary-weight}"
        ),
        "0"
    );
    assert_eq!(get("release/podinfo", "{.status.phase}"), "Succeeded");

    // A second demo on the same cluster is refused before it touches anything.
    let mut again = Vec::new();
    let refused = fledge::cli::demo::play(&dir.path().join("two"), &mut again, &on_kube)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("Namespace fledge-demo exists")
            && refused.contains("kubectl delete namespace fledge-demo"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn what_a_sync_refused_half_way_applied_is_in_the_inventory_and_pruned_later() {
    use fledge::cluster::inventory::{self, PruneGuard};
    let c = cluster();
    let kube = c.kube().await;
    let home = c.namespace("inventory");
    let half = format!("{home}-half");
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": half}});
    // Strict field validation refuses the ConfigMap after the Namespace (first stage) is in.
    let refused = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": half}, "dataa": {"x": "1"}});
    let keep = BTreeSet::new();
    let e = inventory::sync(
        &kube,
        &home,
        &[namespace, refused],
        &keep,
        PruneGuard::default(),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("dataa"), "{e}");
    assert!(
        kube.get(&ObjectRef::new("v1", "Namespace", "", &half))
            .await
            .unwrap()
            .is_some()
    );
    // The repository drops both: the Namespace the failed sync left behind is pruned.
    let other = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "other", "namespace": home}, "data": {"x": "1"}});
    // A Namespace is pruned only when allowed (here by the flag's setting).
    let all = PruneGuard {
        max_share: 1.0,
        destructive: true,
        ..Default::default()
    };
    let synced = inventory::sync(&kube, &home, &[other], &keep, all)
        .await
        .unwrap();
    assert_eq!(synced.pruned, [format!("Namespace {half}")]);
}
