//! Faults injected on the real API server while fledge runs (as `fledge run --cluster kube`, in
//! real time, with real Git): the Release deleted and the primary deleted mid-rollout, RBAC
//! narrowed, the API server stopped and stalled for 30 s (through a proxy in front of it, so the
//! other tests sharing the control plane are not touched), a one-line commit that would delete a
//! Namespace, objects the server refused, and an upgrade from the previous revision hashing. In
//! each, nothing is promoted unanalysed, nothing is deleted that was not asked for, no good commit
//! is reverted, and what went wrong is visible where people look until it clears.

use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use serde_json::{Value, json};

use super::super::support::Received;
use super::super::support::git::{Remote, git};
use super::super::support::proxy::{Mode, Proxy};
use super::super::support::testcluster::{TestCluster, cluster};
use super::{Daemon, account_with, documents, fledge_rules, install_release_crd, provider_app};
use crate::repo_dir;

/// A Deployment `web` and its Canary in `ns`: blue/green on the kubernetes provider, one
/// iteration per 10 s interval, no metrics; `annotations` go on the pod template, `deadline` is
/// the Deployment's and the Canary's progress deadline.
fn bluegreen(ns: &str, image: &str, iterations: u32, annotations: &str, deadline: u32) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  replicas: 1
  progressDeadlineSeconds: {deadline}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata:
      labels: {{app: web}}
      annotations: {{{annotations}}}
    spec:
      containers: [{{name: web, image: \"{image}\"}}]
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {{name: web, namespace: {ns}}}
spec:
  provider: kubernetes
  progressDeadlineSeconds: {deadline}
  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}
  service: {{port: 80}}
  analysis:
    interval: 10s
    threshold: 2
    iterations: {iterations}
"
    )
}

/// The control plane with fledge's Release CRD, a new namespace `<prefix>-<n>` and a
/// directory for the daemon.
fn scene(prefix: &str) -> (&'static TestCluster, String, tempfile::TempDir) {
    let c = cluster();
    install_release_crd(c);
    (c, c.namespace(prefix), tempfile::tempdir().unwrap())
}

/// A GET of the daemon's API.
async fn api(port: u16, path: &str) -> Value {
    let client = fledge::net::http_client(Duration::from_secs(5), false);
    match client
        .get(format!("http://127.0.0.1:{port}{path}"))
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

/// The view of the release `web` in `ns`.
async fn release(port: u16, ns: &str) -> Option<Value> {
    api(port, "/api/releases")
        .await
        .as_array()
        .and_then(|l| l.iter().find(|v| v["namespace"] == ns).cloned())
}

/// Polls until the release `web` of `ns` satisfies `done`, for at most `secs` seconds.
async fn until_in(
    d: &Daemon,
    ns: &str,
    what: &str,
    secs: u64,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if let Some(v) = release(d.port, ns).await
            && done(&v)
        {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "never, in {secs} s: {what}: {:?}\n{}",
        release(d.port, ns).await,
        d.log()
    );
}

/// Polls `/api/sync` until `done` holds, for at most 60 s.
async fn until_sync(d: &Daemon, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..300 {
        let s = api(d.port, "/api/sync").await;
        if done(&s) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "never: {what}: {}\n{}",
        api(d.port, "/api/sync").await,
        d.log()
    );
}

/// The image a Deployment of `ns` runs.
fn image(c: &TestCluster, ns: &str, name: &str) -> String {
    c.kubectl(&[
        "get",
        "deployment",
        name,
        "-n",
        ns,
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ])
}

/// `kubectl get <args> -o json`, parsed.
fn get_json(c: &TestCluster, args: &[&str]) -> Value {
    let mut all = vec!["get"];
    all.extend(args);
    all.extend(["-o", "json"]);
    serde_json::from_str(&c.kubectl(&all)).unwrap()
}

/// The daemon's `/metrics` text.
async fn metrics(port: u16) -> String {
    reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// `fledge status` against the daemon on `port`.
fn status_table(port: u16) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fledge"))
        .args(["status", "--server", &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits (at most 20 s) until the recorder received a request `what` whose body satisfies
/// `pred`.
async fn until_received(received: &Received, what: &str, pred: impl Fn(&Value) -> bool) {
    let end = Instant::now() + Duration::from_secs(20);
    while !received
        .lock()
        .unwrap()
        .iter()
        .any(|(w, v)| w.starts_with(what) && pred(v))
    {
        assert!(
            Instant::now() < end,
            "{what}: {:?}",
            received.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Subjects of the commits on main that fledge wrote as reverts.
fn reverts(remote: &Remote) -> Vec<String> {
    git(
        &remote.bare(),
        &["log", "--format=%s", "--grep=Fledge-Release:", "main"],
    )
    .lines()
    .map(str::to_owned)
    .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_deleted_mid_rollout_restarts_its_analysis_and_a_revert_reaches_no_further_than_its_commits()
 {
    let c = cluster();
    install_release_crd(c);
    let (good, bad) = (c.namespace("lost"), c.namespace("lost-unready"));
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::new();
    remote.commit(
        &[
            ("good.yaml", &bluegreen(&good, "web:1", 3, "", 600)),
            ("bad.yaml", &bluegreen(&bad, "web:1", 3, "", 30)),
        ],
        "web 1",
    );
    let d = Daemon::start(c, &remote, &good, dir.path(), &["--write-back", "true"]);
    for ns in [&good, &bad] {
        until_in(&d, ns, "initialized", 60, |v| v["phase"] == "Initialized").await;
    }
    // A good revision, two iterations into its analysis: `kubectl delete release web`.
    let bump = remote.commit(
        &[("good.yaml", &bluegreen(&good, "web:2", 3, "", 600))],
        "good 2",
    );
    until_in(&d, &good, "two iterations", 60, |v| {
        v["phase"] == "Progressing" && v["iterations"].as_u64() >= Some(2)
    })
    .await;
    c.kubectl(&["delete", "release", "web", "-n", &good]);
    let restarted = until_in(&d, &good, "the analysis restarted", 30, |v| {
        v["phase"] == "Progressing" && v["iterations"].as_u64() < Some(2)
    })
    .await;
    assert_eq!(
        image(c, &good, "web-primary"),
        "web:1",
        "promoted unanalysed"
    );
    assert!(d.log().contains("was lost"), "{restarted}");
    // It is analysed to the end again: three more iterations before the promotion.
    let mut seen = 0;
    let end = Instant::now() + Duration::from_secs(120);
    loop {
        let v = release(d.port, &good).await.unwrap_or_default();
        seen = seen.max(v["iterations"].as_u64().unwrap_or(0));
        assert_ne!(v["phase"], "Failed", "{v}");
        if v["phase"] == "Succeeded" {
            assert_eq!(v["sourceCommit"], bump.as_str());
            break;
        }
        assert!(Instant::now() < end, "never promoted: {v}\n{}", d.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(seen, 3, "every iteration ran after the restart");
    assert_eq!(image(c, &good, "web-primary"), "web:2");

    // A canary that never gets ready, its Release deleted while it waits: it is rolled back,
    // and the revert takes back its commit alone (before, it walked back to the commit that
    // brought the app and deleted bad.yaml).
    remote.commit(
        &[(
            "bad.yaml",
            &bluegreen(&bad, "web:2", 3, "sim.fledge.dev/ready: \"false\"", 30),
        )],
        "bad 2",
    );
    until_in(&d, &bad, "progressing", 60, |v| v["phase"] == "Progressing").await;
    c.kubectl(&["delete", "release", "web", "-n", &bad]);
    until_in(&d, &bad, "rolled back", 120, |v| v["phase"] == "Failed").await;
    assert_eq!(image(c, &bad, "web-primary"), "web:1");
    let end = Instant::now() + Duration::from_secs(30);
    while !reverts(&remote).iter().any(|s| s == "Revert \"bad 2\"") {
        assert!(Instant::now() < end, "no revert: {:?}", reverts(&remote));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(reverts(&remote), ["Revert \"bad 2\""]);
    let app = remote
        .show("main", "bad.yaml")
        .expect("bad.yaml is still in Git");
    assert!(app.contains("web:1"), "{app}");
    assert!(
        remote
            .show("main", "good.yaml")
            .is_some_and(|a| a.contains("web:2"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_primary_deleted_mid_rollout_is_rebuilt_and_the_rollout_goes_on() {
    let (c, ns, dir) = scene("primary-lost");
    let remote = Remote::new();
    remote.commit(
        &[("app.yaml", &bluegreen(&ns, "web:1", 4, "", 600))],
        "web 1",
    );
    let d = Daemon::start(c, &remote, &ns, dir.path(), &["--write-back", "true"]);
    until_in(&d, &ns, "initialized", 60, |v| v["phase"] == "Initialized").await;
    let bump = remote.commit(
        &[("app.yaml", &bluegreen(&ns, "web:2", 4, "", 600))],
        "web 2",
    );
    until_in(&d, &ns, "an iteration", 60, |v| {
        v["phase"] == "Progressing" && v["iterations"].as_u64() >= Some(1)
    })
    .await;
    let deleted = Instant::now();
    c.kubectl(&["delete", "deployment", "web-primary", "-n", &ns]);
    // Rebuilt from the revision it served, and serving again, within an interval or two.
    let end = Instant::now() + Duration::from_secs(40);
    loop {
        let out = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(c.kubeconfig())
            .args(["get", "deployment", "web-primary", "-n", &ns, "-o", "json"])
            .output()
            .unwrap();
        if out.status.success() {
            let p: Value = serde_json::from_slice(&out.stdout).unwrap();
            if p["status"]["availableReplicas"] == 1 {
                let img = &p["spec"]["template"]["spec"]["containers"][0]["image"];
                assert_eq!(img, "web:1");
                break;
            }
        }
        assert!(
            Instant::now() < end,
            "the primary was not rebuilt\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("primary serving again after {:?}", deleted.elapsed());
    let selector = c.kubectl(&[
        "get",
        "service",
        "web",
        "-n",
        &ns,
        "-o",
        "jsonpath={.spec.selector.app}",
    ]);
    assert_eq!(selector, "web-primary");
    // The canary was not blamed: the rollout goes on and promotes.
    let end = Instant::now() + Duration::from_secs(120);
    loop {
        let v = release(d.port, &ns).await.unwrap_or_default();
        assert_ne!(v["phase"], "Failed", "{v}\n{}", d.log());
        if v["phase"] == "Succeeded" && v["sourceCommit"] == bump.as_str() {
            break;
        }
        assert!(Instant::now() < end, "never promoted: {v}\n{}", d.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(image(c, &ns, "web-primary"), "web:2");
    assert!(reverts(&remote).is_empty(), "{:?}", reverts(&remote));
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_rbac_refuses_halt_the_rollout_without_a_revert_until_it_is_granted() {
    let (c, ns, dir) = scene("metrics-rbac");
    let kube = c.kube().await;
    // fledge's own role and nothing else: the modelled traffic may not list Services.
    let account = "fledge-no-list";
    let kubeconfig = account_with(c, &kube, &ns, account, fledge_rules(), dir.path()).await;
    let remote = Remote::new();
    // nginx: the modelled traffic reaches the canary through its Ingress.
    remote.commit(
        &[("app.yaml", &provider_app(&ns, "nginx", "web:1", "0"))],
        "web 1",
    );
    let extra = ["--metrics-provider", "sim", "--write-back", "true"];
    let d = Daemon::as_account(&kubeconfig, &remote, &ns, dir.path(), &extra);
    until_in(&d, &ns, "initialized", 60, |v| v["phase"] == "Initialized").await;
    remote.commit(
        &[("app.yaml", &provider_app(&ns, "nginx", "web:2", "0"))],
        "web 2",
    );
    let halted = until_in(&d, &ns, "halted", 60, |v| v["halted"].is_string()).await;
    let why = halted["halted"].as_str().unwrap();
    assert!(
        why.contains("forbidden") && why.contains("services"),
        "{halted}"
    );
    // Two more intervals: still halted, nothing counted, nothing rolled back or reverted.
    tokio::time::sleep(Duration::from_secs(25)).await;
    let v = release(d.port, &ns).await.unwrap();
    assert_eq!(v["phase"], "Progressing", "{v}");
    assert_eq!(v["failedChecks"], 0, "{v}");
    assert!(v["halted"].is_string(), "{v}");
    assert!(reverts(&remote).is_empty());
    let metrics = metrics(d.port).await;
    assert!(
        metrics.contains(&format!(
            "fledge_release_halted{{name=\"web\",namespace=\"{ns}\"}} 1"
        )),
        "{metrics}"
    );
    // The role deploy/ ships for this mode, bound to the account: the analysis goes on.
    let mut role = documents(&repo_dir().join("deploy/rbac.yaml"))
        .into_iter()
        .find(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == "fledge-modelled-traffic")
        .unwrap();
    role["metadata"]["name"] = json!(format!("{account}-traffic"));
    let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": format!("{account}-traffic")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": format!("{account}-traffic")},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": ns}]});
    kube.apply(&[role, binding]).await.unwrap();
    let done = until_in(&d, &ns, "promoted", 90, |v| v["phase"] == "Succeeded").await;
    assert!(done["halted"].is_null(), "{done}");
    assert_eq!(image(c, &ns, "web-primary"), "web:2");
    assert!(reverts(&remote).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_one_line_commit_that_would_delete_a_namespace_is_refused_until_a_commit_allows_it() {
    let c = cluster();
    let home = c.namespace("prune-home");
    let doomed = format!("{home}-app");
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::new();
    // The rest of the repository: six objects, so that one Namespace is far under the share.
    let others = (0..6)
        .map(|i| format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: other{i}, namespace: {home}}}\ndata: {{a: '1'}}\n"))
        .collect::<Vec<_>>()
        .join("---\n");
    let kustomization = |with_namespace: bool| {
        format!(
            "resources:\n{}  - app.yaml\n  - other.yaml\n",
            if with_namespace {
                "  - namespace.yaml\n"
            } else {
                ""
            }
        )
    };
    remote.commit(
        &[
            ("kustomization.yaml", &kustomization(true)),
            ("namespace.yaml", &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {doomed}}}\n")),
            ("app.yaml", &format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: app-settings, namespace: {doomed}}}\ndata: {{a: '1'}}\n")),
            ("other.yaml", &others),
        ],
        "app",
    );
    let d = Daemon::start(c, &remote, &home, dir.path(), &[]);
    until_sync(&d, "synced", |s| s["ready"] == true).await;
    // One line of one file: far under the prune share, but a whole Namespace.
    remote.commit(&[("kustomization.yaml", &kustomization(false))], "Tidy up");
    let refused = until_sync(&d, "refused", |s| s["reason"] == "PruneRefused").await;
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("Namespace {doomed} and everything in it"))
            && message.contains("ConfigMap app-settings")
            && message.contains(&format!("Fledge-Allow-Prune: Namespace/{doomed}")),
        "{message}"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let ns: Value = get_json(c, &["namespace", &doomed]);
    assert!(ns["metadata"]["deletionTimestamp"].is_null(), "{ns}");
    // The person means it: an empty commit says so.
    let p = remote.person();
    git(&p, &["pull", "-q", "--rebase", "origin", "main"]);
    git(
        &p,
        &[
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "Retire the app",
            "-m",
            &format!("Fledge-Allow-Prune: Namespace/{doomed}"),
        ],
    );
    git(&p, &["push", "-q", "origin", "HEAD:main"]);
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let out = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(c.kubeconfig())
            .args(["get", "namespace", &doomed, "-o", "json"])
            .output()
            .unwrap();
        let gone = !out.status.success()
            || serde_json::from_slice::<Value>(&out.stdout).unwrap()["metadata"]["deletionTimestamp"]
                .is_string();
        if gone {
            break;
        }
        assert!(Instant::now() < end, "not pruned\n{}", d.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn objects_the_server_refused_do_not_count_when_they_are_removed_again() {
    let c = cluster();
    let home = c.namespace("refused-inventory");
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::new();
    let cm = |name: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {home}}}\ndata: {{a: '1'}}\n"
        )
    };
    let good: Vec<(String, String)> = (0..5)
        .map(|i| (format!("ok{i}.yaml"), cm(&format!("ok{i}"))))
        .collect();
    let commit = |files: &[(String, String)], message: &str| {
        let pairs: Vec<(&str, &str)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        remote.commit(&pairs, message)
    };
    commit(&good, "five");
    let d = Daemon::start(c, &remote, &home, dir.path(), &[]);
    until_sync(&d, "synced", |s| s["ready"] == true).await;
    // Eight more, one with a name the server refuses: the dry run refuses the batch.
    let mut more: Vec<(String, String)> = (0..7)
        .map(|i| (format!("new{i}.yaml"), cm(&format!("new{i}"))))
        .collect();
    more.push(("bad.yaml".into(), cm("Bad_Name")));
    commit(&more, "eight more");
    let refused = until_sync(&d, "refused", |s| s["ready"] == false).await;
    assert!(
        refused["message"].as_str().unwrap().contains("Bad_Name"),
        "{refused}"
    );
    // The person takes them out again: nothing that exists is pruned, so nothing is refused.
    let p = remote.person();
    git(&p, &["pull", "-q", "--rebase", "origin", "main"]);
    let mut args = vec!["rm", "-q"];
    args.extend(more.iter().map(|(f, _)| f.as_str()));
    git(&p, &args);
    git(&p, &["commit", "-qm", "take them out"]);
    git(&p, &["push", "-q", "origin", "HEAD:main"]);
    let head = remote.head();
    let s = until_sync(&d, "synced again", |s| {
        s["ready"] == true && s["appliedCommit"] == head.as_str()
    })
    .await;
    assert_eq!(s["reason"], "Ready");
    assert!(!d.log().contains("would prune"), "{}", d.log());
}

/// The forge token and alert URL files of a daemon reporting to `base` (a recorder).
fn reporting(dir: &Path, base: &str) -> Vec<String> {
    let token = dir.join("forge-token");
    std::fs::write(&token, "forge-t0ken\n").unwrap();
    let hook = dir.join("alert-url");
    std::fs::write(&hook, format!("{base}/alerts")).unwrap();
    [
        "--forge",
        "github",
        "--forge-api",
        base,
        "--forge-repo",
        "org/config",
        "--forge-token-file",
        token.to_str().unwrap(),
        "--alert-webhook-url-file",
        hook.to_str().unwrap(),
        "--cluster-name",
        "prod",
    ]
    .map(str::to_owned)
    .to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tick_rbac_refuses_is_seen_in_every_place_people_look_until_it_clears() {
    let (base, received) = super::super::support::recorder().await;
    let (c, ns, dir) = scene("tick-rbac");
    let kube = c.kube().await;
    let account = "fledge-tick";
    let rules = fledge_rules();
    let kubeconfig = account_with(c, &kube, &ns, account, rules.clone(), dir.path()).await;
    let remote = Remote::new();
    let first = remote.commit(
        &[("app.yaml", &bluegreen(&ns, "web:1", 1, "", 600))],
        "web 1",
    );
    let extra = reporting(dir.path(), &base);
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let d = Daemon::as_account(&kubeconfig, &remote, &ns, dir.path(), &extra);
    until_in(&d, &ns, "initialized", 60, |v| v["phase"] == "Initialized").await;
    // Someone narrows the role: Services may no longer be patched.
    let without: Vec<Value> = rules
        .iter()
        .filter(|r| r["resources"] != json!(["services"]))
        .cloned()
        .collect();
    assert_eq!(without.len() + 1, rules.len());
    let role = |rules: Vec<Value>| {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": account}, "rules": rules})
    };
    kube.apply(&[role(without)]).await.unwrap();
    let failing = until_in(&d, &ns, "the tick fails", 60, |v| v["error"].is_object()).await;
    let error = &failing["error"];
    assert_eq!(error["reason"], "Forbidden", "{failing}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("cannot patch resource \"services\"")
            && !message.contains("ErrorResponse"),
        "{message}"
    );
    // The Release status, the metric, `fledge status`, the commit status and an alert.
    let status = get_json(c, &["release", "web", "-n", &ns]);
    assert_eq!(status["status"]["error"]["reason"], "Forbidden", "{status}");
    let metrics = metrics(d.port).await;
    assert!(
        metrics.contains(&format!(
            "fledge_release_failing{{name=\"web\",namespace=\"{ns}\",reason=\"Forbidden\"}} 1"
        )),
        "{metrics}"
    );
    let table = status_table(d.port);
    assert!(
        table.contains("tick failing since") && table.contains("Forbidden"),
        "{table}"
    );
    let statuses = format!("POST /repos/org/config/statuses/{first}");
    until_received(&received, &statuses, |v| v["state"] == "error").await;
    until_received(&received, "POST /alerts", |v| {
        v.to_string().contains("Forbidden")
    })
    .await;
    let alerts = received
        .lock()
        .unwrap()
        .iter()
        .filter(|(w, v)| w.starts_with("POST /alerts") && v.to_string().contains("Forbidden"))
        .count();
    // The role restored: the next tick clears it everywhere.
    kube.apply(&[role(rules)]).await.unwrap();
    let cleared = until_in(&d, &ns, "cleared", 60, |v| v["error"].is_null()).await;
    assert_eq!(cleared["phase"], "Initialized");
    let status = get_json(c, &["release", "web", "-n", &ns]);
    assert!(status["status"]["error"].is_null(), "{status}");
    let last_state = || {
        received
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|(w, v)| {
                w.starts_with(&statuses) && v["context"] == format!("fledge/prod/{ns}/web")
            })
            .map(|(_, v)| v["state"].clone())
    };
    let end = Instant::now() + Duration::from_secs(20);
    while last_state() != Some(json!("success")) {
        assert!(Instant::now() < end, "{:?}", received.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(alerts, 1, "alerted once, not every tick");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_api_server_stopped_then_stalled_for_30_s_is_said_and_every_iteration_observes_a_full_interval()
 {
    let (c, ns, dir) = scene("api-outage");
    let proxy = Proxy::new(&c.kubeconfig(), dir.path()).await;
    let remote = Remote::new();
    remote.commit(
        &[("app.yaml", &bluegreen(&ns, "web:1", 6, "", 600))],
        "web 1",
    );
    let d = Daemon::as_account(
        proxy.kubeconfig(),
        &remote,
        &ns,
        dir.path(),
        &["--write-back", "true"],
    );
    until_in(&d, &ns, "initialized", 60, |v| v["phase"] == "Initialized").await;
    remote.commit(
        &[("app.yaml", &bluegreen(&ns, "web:2", 6, "", 600))],
        "web 2",
    );
    until_in(&d, &ns, "an iteration", 60, |v| {
        v["iterations"].as_u64() >= Some(1)
    })
    .await;
    // Watch the release: when each iteration shows, and what the API says meanwhile.
    let port = d.port;
    let ns2 = ns.clone();
    let watcher = tokio::spawn(async move {
        let mut seen: Vec<(Instant, Value)> = Vec::new();
        loop {
            if let Some(v) = release(port, &ns2).await {
                let done = v["phase"] == "Succeeded" || v["phase"] == "Failed";
                seen.push((Instant::now(), v));
                if done {
                    return seen;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    for mode in [Mode::Down, Mode::Stall] {
        let start = Instant::now();
        proxy.set(mode);
        tokio::time::sleep(Duration::from_secs(30)).await;
        proxy.set(Mode::Pass);
        eprintln!("{mode:?} for {:?}", start.elapsed());
        tokio::time::sleep(Duration::from_secs(15)).await;
    }
    let seen = tokio::time::timeout(Duration::from_secs(180), watcher)
        .await
        .expect("the rollout ends")
        .unwrap();
    let last = &seen.last().unwrap().1;
    assert_eq!(last["phase"], "Succeeded", "{last}\n{}", d.log());
    // The outage was said, with its reason, while it lasted.
    assert!(
        seen.iter()
            .any(|(_, v)| v["error"]["reason"] == "Unreachable"),
        "{}",
        d.log()
    );
    // No two iterations closer than the interval (less the watcher's slack).
    let mut changes: Vec<(Instant, u64)> = Vec::new();
    for (t, v) in &seen {
        let n = v["iterations"].as_u64().unwrap_or(0);
        if changes.last().is_none_or(|(_, last)| n > *last) {
            changes.push((*t, n));
        }
    }
    for w in changes.windows(2) {
        let gap = w[1].0.duration_since(w[0].0);
        assert!(
            gap >= Duration::from_secs(8),
            "iterations {} and {} only {gap:?} apart: {changes:?}",
            w[0].1,
            w[1].1
        );
    }
    assert!(reverts(&remote).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upgrade_from_the_previous_revision_hashing_moves_no_release() {
    let (c, ns, dir) = scene("upgrade");
    let remote = Remote::new();
    // A Deployment that tracks a Secret written with stringData: the hashing of such a
    // revision changed between the last two versions.
    let secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: creds, namespace: {ns}}}\ntype: Opaque\nstringData: {{password: hunter2}}\n"
    );
    let app = bluegreen(&ns, "web:1", 1, "", 600).replace(
        "containers: [{name: web, image: \"web:1\"}]",
        "containers: [{name: web, image: \"web:1\", envFrom: [{secretRef: {name: creds}}]}]",
    );
    assert!(app.contains("secretRef"));
    remote.commit(&[("app.yaml", &app), ("secret.yaml", &secret)], "web 1");
    let d = Daemon::start(c, &remote, &ns, dir.path(), &[]);
    until_in(&d, &ns, "initialized", 60, |v| v["phase"] == "Initialized").await;
    drop(d);
    let (new, old) = previous_ids(c, &ns, &format!("{app}---\n{secret}"));
    assert_eq!(
        get_json(c, &["release", "web", "-n", &ns])["status"]["primaryRevision"],
        new.as_str()
    );
    write_as_the_previous_version(c, &ns, &old);
    let before = get_json(c, &["deployment", "web-primary", "-n", &ns]);
    // The upgraded daemon, for three intervals.
    let d = Daemon::start(c, &remote, &ns, dir.path(), &[]);
    until_in(&d, &ns, "migrated", 60, |v| {
        v["canaryRevision"] == new.as_str()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    let v = release(d.port, &ns).await.unwrap();
    assert_eq!(v["phase"], "Initialized", "{v}\n{}", d.log());
    assert_eq!(v["primaryRevision"], new.as_str());
    let status = get_json(c, &["release", "web", "-n", &ns]);
    assert_eq!(
        status["status"]["revisionScheme"],
        fledge::revision::SCHEME,
        "{status}"
    );
    assert!(
        status["status"]["history"]
            .as_array()
            .is_none_or(|h| !h.iter().any(|t| t["phase"] == "Progressing")),
        "{status}"
    );
    let after = get_json(c, &["deployment", "web-primary", "-n", &ns]);
    // The pods did not roll: the same template, no new ReplicaSet. (The generation moves:
    // a Deployment's counts its annotations too, and fledge renames the revision on it.)
    assert_eq!(after["spec"]["template"], before["spec"]["template"]);
    let rollout =
        |d: &Value| d["metadata"]["annotations"]["deployment.kubernetes.io/revision"].clone();
    assert_eq!(rollout(&after), rollout(&before), "the primary rolled");
    assert_eq!(
        after["metadata"]["annotations"]["fledge.dev/revision"],
        new.as_str()
    );
    assert_eq!(
        c.kubectl(&[
            "get",
            "deployment",
            "web",
            "-n",
            &ns,
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "0",
        "the canary scaled up"
    );
}

/// The current and previous scheme's revision ids of the release `web` in `manifests`, hashed
/// with the installation's key (in `ns`).
fn previous_ids(c: &TestCluster, ns: &str, manifests: &str) -> (String, String) {
    let key = c.kubectl(&[
        "get",
        "secret",
        "fledge-revision-key",
        "-n",
        ns,
        "-o",
        "jsonpath={.data.key}",
    ]);
    let key = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .unwrap()
    };
    let objects: Vec<Value> = serde_yaml::Deserializer::from_str(manifests)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let split = fledge::rollout::targets::split(
        &objects,
        "c",
        &fledge::release::spec::Provider::Kubernetes,
        &fledge::revision::HashKey::new(key),
    );
    let revision = &split.releases[format!("{ns}/web").as_str()].revision;
    (revision.id.0.clone(), revision.legacy.clone().unwrap().0)
}

/// The Release status and primary of `ns/web` as the previous version wrote them: its
/// revision id (`old`), no hashing scheme recorded, no commit on the primary.
fn write_as_the_previous_version(c: &TestCluster, ns: &str, old: &str) {
    let patch = json!([
        {"op": "replace", "path": "/status/canaryRevision", "value": old},
        {"op": "replace", "path": "/status/primaryRevision", "value": old},
        {"op": "replace", "path": "/status/promoted", "value": [old]},
        {"op": "remove", "path": "/status/revisionScheme"},
    ]);
    c.kubectl(&[
        "patch",
        "release",
        "web",
        "-n",
        ns,
        "--subresource=status",
        "--type=json",
        "-p",
        &patch.to_string(),
    ]);
    let patch = json!([
        {"op": "replace", "path": "/metadata/annotations/fledge.dev~1revision", "value": old},
        {"op": "remove", "path": "/metadata/annotations/fledge.dev~1commit"},
        {"op": "replace", "path": "/spec/template/metadata/annotations/flagger-id", "value": &old[..12]},
    ]);
    c.kubectl(&[
        "patch",
        "deployment",
        "web-primary",
        "-n",
        ns,
        "--type=json",
        "-p",
        &patch.to_string(),
    ]);
    c.kubectl(&[
        "rollout",
        "status",
        "deployment/web-primary",
        "-n",
        ns,
        "--timeout=60s",
    ]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_inventory_deleted_by_hand_loses_no_prune_and_one_missing_at_start_is_said() {
    let c = cluster();
    let home = c.namespace("inventory-lost");
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::new();
    let cm = |name: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {home}}}\ndata: {{a: '1'}}\n"
        )
    };
    remote.commit(
        &[
            ("a.yaml", &cm("a")),
            ("b.yaml", &cm("b")),
            ("x.yaml", &cm("x")),
        ],
        "three",
    );
    let exists = |name: &str| {
        std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(c.kubeconfig())
            .args(["get", "configmap", name, "-n", &home])
            .output()
            .unwrap()
            .status
            .success()
    };
    let d = Daemon::start(c, &remote, &home, dir.path(), &[]);
    until_sync(&d, "synced", |s| s["ready"] == true).await;
    // While fledge runs: the inventory deleted by hand, and b dropped in the same interval.
    c.kubectl(&["delete", "configmap", "fledge-inventory", "-n", &home]);
    let p = remote.person();
    git(&p, &["pull", "-q", "--rebase", "origin", "main"]);
    git(&p, &["rm", "-q", "b.yaml"]);
    git(&p, &["commit", "-qm", "drop b"]);
    git(&p, &["push", "-q", "origin", "HEAD:main"]);
    let end = Instant::now() + Duration::from_secs(30);
    while exists("b") {
        assert!(Instant::now() < end, "b was orphaned\n{}", d.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(exists("a") && exists("x"));
    // While fledge is stopped: the inventory deleted again, and x dropped.
    drop(d);
    c.kubectl(&["delete", "configmap", "fledge-inventory", "-n", &home]);
    git(&p, &["rm", "-q", "x.yaml"]);
    git(&p, &["commit", "-qm", "drop x"]);
    git(&p, &["push", "-q", "origin", "HEAD:main"]);
    let d = Daemon::start(c, &remote, &home, dir.path(), &[]);
    let s = until_sync(&d, "the orphan named", |s| {
        s["warnings"]
            .to_string()
            .contains(&format!("ConfigMap {home}/x"))
    })
    .await;
    assert_eq!(s["ready"], true, "{s}");
    assert!(
        exists("x"),
        "pruned without an inventory to say it was fledge's"
    );
    assert!(
        status_table(d.port).contains(&format!("ConfigMap {home}/x")),
        "{}",
        status_table(d.port)
    );
}
