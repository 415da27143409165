//! Faults injected on the real API server while fledge runs (as `fledge run --cluster kube`, in
//! real time, with real Git): the Release deleted and the primary deleted mid-rollout, RBAC
//! narrowed, the API server stopped and stalled for 30 s (through a proxy in front of it, so the
//! other tests sharing the control plane are not touched), a one-line commit that would delete a
//! Namespace, objects the server refused, and an upgrade from the previous revision hashing. In
//! each, nothing is promoted unanalysed, nothing is deleted that was not asked for, no good commit
//! is reverted, and what went wrong is visible where people look until it clears.

use std::time::Duration;

use tokio::time::Instant;

use serde_json::{Value, json};

use super::{
    BlueGreen, account_with, daemon, daemon_as, fledge_rules, install_release_crd, on_kube,
    primary_image, provider_app, scene,
};
use crate::support::daemon::Daemon;
use crate::support::git::{Remote, git};
use crate::support::proxy::{Mode, Proxy};
use crate::support::testcluster::{TestCluster, or_skip};
use crate::support::{Received, eventually};

/// A Deployment `web` and its Canary in `ns`: blue/green on the kubernetes provider, one
/// iteration per 10 s interval, no metrics; `annotations` go on the pod template, `deadline` is
/// the Deployment's and the Canary's progress deadline.
fn bluegreen(ns: &str, image: &str, iterations: u32, annotations: &str, deadline: u32) -> String {
    BlueGreen {
        image,
        annotations,
        deadline: Some(deadline),
        canary_deadline: Some(deadline),
        threshold: 2,
        iterations,
    }
    .yaml(ns)
}

/// `kubectl get <args> -o json`, parsed.
fn get_json(c: &TestCluster, args: &[&str]) -> Value {
    let mut all = vec!["get"];
    all.extend(args);
    all.extend(["-o", "json"]);
    serde_json::from_str(&c.kubectl(&all)).unwrap()
}

/// `fledge status` against the daemon.
fn status_table(d: &Daemon) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fledge"))
        .args([
            "status",
            "--server",
            &format!("http://127.0.0.1:{}", d.port),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits (at most 20 s) until the recorder received a request `what` whose body satisfies
/// `pred`.
async fn until_received(received: &Received, what: &str, pred: impl Fn(&Value) -> bool) {
    eventually(
        what,
        Duration::from_secs(20),
        || async { received.lock().unwrap().clone() },
        |all| all.iter().any(|(w, v)| w.starts_with(what) && pred(v)),
    )
    .await;
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
    let Some(c) = or_skip() else { return };
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
    let d = daemon(c, &remote, &good, dir.path(), &["--write-back", "true"]);
    for ns in [&good, &bad] {
        d.until_in(ns, "initialized", 60, |v| v["phase"] == "Initialized")
            .await;
    }
    // A good revision, two iterations into its analysis: `kubectl delete release web`.
    let bump = remote.commit(
        &[("good.yaml", &bluegreen(&good, "web:2", 3, "", 600))],
        "good 2",
    );
    d.until_in(&good, "two iterations", 60, |v| {
        v["phase"] == "Progressing" && v["iterations"].as_u64() >= Some(2)
    })
    .await;
    c.kubectl(&["delete", "release", "web", "-n", &good]);
    let restarted = d
        .until_in(&good, "the analysis restarted", 30, |v| {
            v["phase"] == "Progressing" && v["iterations"].as_u64() < Some(2)
        })
        .await;
    assert_eq!(primary_image(c, &good), "web:1", "promoted unanalysed");
    assert!(d.log().contains("was lost"), "{restarted}");
    // It is analysed to the end again: three more iterations before the promotion.
    let mut seen = 0;
    let v = d
        .eventually(
            "promoted",
            Duration::from_secs(120),
            || async { d.release_in(&good).await.unwrap_or_default() },
            |v| {
                seen = seen.max(v["iterations"].as_u64().unwrap_or(0));
                assert_ne!(v["phase"], "Failed", "{v}");
                v["phase"] == "Succeeded"
            },
        )
        .await;
    assert_eq!(v["sourceCommit"], bump.as_str());
    assert_eq!(seen, 3, "every iteration ran after the restart");
    assert_eq!(primary_image(c, &good), "web:2");

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
    d.until_in(&bad, "progressing", 60, |v| v["phase"] == "Progressing")
        .await;
    c.kubectl(&["delete", "release", "web", "-n", &bad]);
    d.until_in(&bad, "rolled back", 120, |v| v["phase"] == "Failed")
        .await;
    assert_eq!(primary_image(c, &bad), "web:1");
    eventually(
        "the revert of bad 2",
        Duration::from_secs(30),
        || async { reverts(&remote) },
        |r| r.iter().any(|s| s == "Revert \"bad 2\""),
    )
    .await;
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
    let Some((c, ns, dir)) = scene("primary-lost") else {
        return;
    };
    let remote = Remote::new();
    remote.commit(
        &[("app.yaml", &bluegreen(&ns, "web:1", 4, "", 600))],
        "web 1",
    );
    let d = daemon(c, &remote, &ns, dir.path(), &["--write-back", "true"]);
    d.until_in(&ns, "initialized", 60, |v| v["phase"] == "Initialized")
        .await;
    let bump = remote.commit(
        &[("app.yaml", &bluegreen(&ns, "web:2", 4, "", 600))],
        "web 2",
    );
    d.until_in(&ns, "an iteration", 60, |v| {
        v["phase"] == "Progressing" && v["iterations"].as_u64() >= Some(1)
    })
    .await;
    let deleted = Instant::now();
    c.kubectl(&["delete", "deployment", "web-primary", "-n", &ns]);
    // Rebuilt from the revision it served, and serving again, within an interval or two.
    let p = d
        .eventually(
            "the primary rebuilt and serving",
            Duration::from_secs(40),
            || async { c.get(&["deployment", "web-primary", "-n", &ns]) },
            |p| {
                p.as_ref()
                    .is_some_and(|p| p["status"]["availableReplicas"] == 1)
            },
        )
        .await
        .expect("done holds of an object");
    let img = &p["spec"]["template"]["spec"]["containers"][0]["image"];
    assert_eq!(img, "web:1");
    eprintln!("primary serving again after {:?}", deleted.elapsed());
    let selector = c.jsonpath("service/web", &ns, "{.spec.selector.app}");
    assert_eq!(selector, "web-primary");
    // The canary was not blamed: the rollout goes on and promotes.
    d.eventually(
        "promoted",
        Duration::from_secs(120),
        || async { d.release_in(&ns).await.unwrap_or_default() },
        |v| {
            assert_ne!(v["phase"], "Failed", "{v}\n{}", d.log());
            v["phase"] == "Succeeded" && v["sourceCommit"] == bump.as_str()
        },
    )
    .await;
    assert_eq!(primary_image(c, &ns), "web:2");
    assert!(reverts(&remote).is_empty(), "{:?}", reverts(&remote));
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_rbac_refuses_halt_the_rollout_without_a_revert_until_it_is_granted() {
    let Some((c, ns, dir)) = scene("metrics-rbac") else {
        return;
    };
    let kube = c.kube().await;
    // fledge's own role without listing and watching Services: the modelled traffic may not
    // list them (nor the cache watch them).
    let account = "fledge-no-list";
    let services =
        json!({"apiGroups": [""], "resources": ["services"], "verbs": ["list", "watch"]});
    let rules: Vec<Value> = fledge_rules()
        .into_iter()
        .map(|mut r| {
            if r["resources"] == json!(["services"]) {
                r["verbs"] = json!(["create", "delete", "get", "patch"]);
            }
            r
        })
        .collect();
    assert_ne!(rules, fledge_rules(), "the role lists Services");
    let kubeconfig = account_with(c, &kube, &ns, account, rules, dir.path()).await;
    let remote = Remote::new();
    // nginx: the modelled traffic reaches the canary through its Ingress.
    remote.commit(
        &[("app.yaml", &provider_app(&ns, "nginx", "web:1", "0"))],
        "web 1",
    );
    let extra = ["--metrics-provider", "sim", "--write-back", "true"];
    let d = daemon_as(&kubeconfig, &remote, &ns, dir.path(), &extra);
    d.until_in(&ns, "initialized", 60, |v| v["phase"] == "Initialized")
        .await;
    remote.commit(
        &[("app.yaml", &provider_app(&ns, "nginx", "web:2", "0"))],
        "web 2",
    );
    let halted = d
        .until_in(&ns, "halted", 60, |v| v["halted"].is_string())
        .await;
    let why = halted["halted"].as_str().unwrap();
    assert!(
        why.contains("forbidden") && why.contains("services"),
        "{halted}"
    );
    // Two more intervals: still halted, nothing counted, nothing rolled back or reverted.
    tokio::time::sleep(Duration::from_secs(25)).await;
    let v = d.release_in(&ns).await.unwrap();
    assert_eq!(v["phase"], "Progressing", "{v}");
    assert_eq!(v["failedChecks"], 0, "{v}");
    assert!(v["halted"].is_string(), "{v}");
    assert!(reverts(&remote).is_empty());
    let metrics = d.metrics().await;
    assert!(
        metrics.contains(&format!(
            "fledge_release_halted{{name=\"web\",namespace=\"{ns}\"}} 1"
        )),
        "{metrics}"
    );
    // Listing Services granted, as deploy/'s role grants it: the analysis goes on.
    let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": format!("{account}-traffic")}, "rules": [services]});
    let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": format!("{account}-traffic")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": format!("{account}-traffic")},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": ns}]});
    kube.apply(&[role, binding]).await.unwrap();
    let done = d
        .until_in(&ns, "promoted", 90, |v| v["phase"] == "Succeeded")
        .await;
    assert!(done["halted"].is_null(), "{done}");
    assert_eq!(primary_image(c, &ns), "web:2");
    assert!(reverts(&remote).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_one_line_commit_that_would_delete_a_namespace_is_refused_until_a_commit_allows_it() {
    let Some(c) = or_skip() else { return };
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
    let d = daemon(c, &remote, &home, dir.path(), &[]);
    d.until_sync("synced", |s| s["ready"] == true).await;
    // One line of one file: far under the prune share, but a whole Namespace.
    remote.commit(&[("kustomization.yaml", &kustomization(false))], "Tidy up");
    let refused = d
        .until_sync("refused", |s| s["reason"] == "PruneRefused")
        .await;
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("Namespace {doomed} and everything in it"))
            && message.contains("ConfigMap app-settings")
            && message.contains(&format!("Fledge-Allow-Prune: Namespace/{doomed}")),
        "{message}"
    );
    d.rounds(2).await;
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
    d.eventually(
        "pruned",
        Duration::from_secs(60),
        || async { c.get(&["namespace", &doomed]) },
        |ns| {
            ns.as_ref()
                .is_none_or(|ns| ns["metadata"]["deletionTimestamp"].is_string())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn objects_the_server_refused_do_not_count_when_they_are_removed_again() {
    let Some(c) = or_skip() else { return };
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
    let d = daemon(c, &remote, &home, dir.path(), &[]);
    d.until_sync("synced", |s| s["ready"] == true).await;
    // Eight more, one with a name the server refuses: the dry run refuses the batch.
    let mut more: Vec<(String, String)> = (0..7)
        .map(|i| (format!("new{i}.yaml"), cm(&format!("new{i}"))))
        .collect();
    more.push(("bad.yaml".into(), cm("Bad_Name")));
    commit(&more, "eight more");
    let refused = d.until_sync("refused", |s| s["ready"] == false).await;
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
    let s = d
        .until_sync("synced again", |s| {
            s["ready"] == true && s["appliedCommit"] == head.as_str()
        })
        .await;
    assert_eq!(s["reason"], "Ready");
    assert!(!d.log().contains("would prune"), "{}", d.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tick_rbac_refuses_is_seen_in_every_place_people_look_until_it_clears() {
    let Some((c, ns, dir)) = scene("tick-rbac") else {
        return;
    };
    let (base, received) = crate::support::recorder().await;
    let kube = c.kube().await;
    let account = "fledge-tick";
    let rules = fledge_rules();
    let kubeconfig = account_with(c, &kube, &ns, account, rules.clone(), dir.path()).await;
    let remote = Remote::new();
    let first = remote.commit(
        &[("app.yaml", &bluegreen(&ns, "web:1", 1, "", 600))],
        "web 1",
    );
    let d = on_kube(&kubeconfig, &remote, &ns, dir.path(), &[])
        .reporting_to(&base)
        .spawn();
    d.until_in(&ns, "initialized", 60, |v| v["phase"] == "Initialized")
        .await;
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
    let failing = d
        .until_in(&ns, "the tick fails", 60, |v| v["error"].is_object())
        .await;
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
    let metrics = d.metrics().await;
    assert!(
        metrics.contains(&format!(
            "fledge_release_failing{{name=\"web\",namespace=\"{ns}\",reason=\"Forbidden\"}} 1"
        )),
        "{metrics}"
    );
    let table = status_table(&d);
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
    let cleared = d
        .until_in(&ns, "cleared", 60, |v| v["error"].is_null())
        .await;
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
    eventually(
        "the commit status back to success",
        Duration::from_secs(20),
        || async { last_state() },
        |state| *state == Some(json!("success")),
    )
    .await;
    assert_eq!(alerts, 1, "alerted once, not every tick");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_api_server_stopped_then_stalled_for_30_s_is_said_and_every_iteration_observes_a_full_interval()
 {
    let Some((c, ns, dir)) = scene("api-outage") else {
        return;
    };
    let proxy = Proxy::new(&c.kubeconfig(), dir.path()).await;
    let remote = Remote::new();
    remote.commit(
        &[("app.yaml", &bluegreen(&ns, "web:1", 6, "", 600))],
        "web 1",
    );
    let d = daemon_as(
        proxy.kubeconfig(),
        &remote,
        &ns,
        dir.path(),
        &["--write-back", "true"],
    );
    d.until_in(&ns, "initialized", 60, |v| v["phase"] == "Initialized")
        .await;
    remote.commit(
        &[("app.yaml", &bluegreen(&ns, "web:2", 6, "", 600))],
        "web 2",
    );
    d.until_in(&ns, "an iteration", 60, |v| {
        v["iterations"].as_u64() >= Some(1)
    })
    .await;
    // Watch the release: when each iteration shows, and what the API says meanwhile, until
    // the rollout ends (at most 180 s after the faults, which take 90 s).
    let mut seen: Vec<(Instant, Value)> = Vec::new();
    let watch = d.eventually(
        "the rollout ends",
        Duration::from_secs(90 + 180),
        || d.release_in(&ns),
        |v| {
            let Some(v) = v else { return false };
            seen.push((Instant::now(), v.clone()));
            v["phase"] == "Succeeded" || v["phase"] == "Failed"
        },
    );
    let faults = async {
        for mode in [Mode::Down, Mode::Stall] {
            let start = Instant::now();
            proxy.set(mode);
            // The fault lasts 30 s, then the daemon has 15 s to recover before the next.
            tokio::time::sleep(Duration::from_secs(30)).await;
            proxy.set(Mode::Pass);
            eprintln!("{mode:?} for {:?}", start.elapsed());
            tokio::time::sleep(Duration::from_secs(15)).await;
        }
    };
    tokio::join!(watch, faults);
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
    let Some((c, ns, dir)) = scene("upgrade") else {
        return;
    };
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
    let d = daemon(c, &remote, &ns, dir.path(), &[]);
    d.until_in(&ns, "initialized", 60, |v| v["phase"] == "Initialized")
        .await;
    drop(d);
    let (new, old) = previous_ids(c, &ns, &format!("{app}---\n{secret}"));
    assert_eq!(
        get_json(c, &["release", "web", "-n", &ns])["status"]["primaryRevision"],
        new.as_str()
    );
    write_as_the_previous_version(c, &ns, &old);
    let before = get_json(c, &["deployment", "web-primary", "-n", &ns]);
    // The upgraded daemon, for three intervals.
    let d = daemon(c, &remote, &ns, dir.path(), &[]);
    d.until_in(&ns, "migrated", 60, |v| v["canaryRevision"] == new.as_str())
        .await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    let v = d.release_in(&ns).await.unwrap();
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
        c.jsonpath("deployment/web", &ns, "{.spec.replicas}"),
        "0",
        "the canary scaled up"
    );
}

/// The current and previous scheme's revision ids of the release `web` in `manifests`, hashed
/// with the installation's key (in `ns`).
fn previous_ids(c: &TestCluster, ns: &str, manifests: &str) -> (String, String) {
    let key = c.jsonpath("secret/fledge-revision-key", ns, "{.data.key}");
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
    let Some(c) = or_skip() else { return };
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
    let d = daemon(c, &remote, &home, dir.path(), &[]);
    d.until_sync("synced", |s| s["ready"] == true).await;
    // While fledge runs: the inventory deleted by hand, and b dropped in the same interval.
    c.kubectl(&["delete", "configmap", "fledge-inventory", "-n", &home]);
    let p = remote.person();
    git(&p, &["pull", "-q", "--rebase", "origin", "main"]);
    git(&p, &["rm", "-q", "b.yaml"]);
    git(&p, &["commit", "-qm", "drop b"]);
    git(&p, &["push", "-q", "origin", "HEAD:main"]);
    d.eventually(
        "b pruned, not orphaned",
        Duration::from_secs(30),
        || async { exists("b") },
        |b| !b,
    )
    .await;
    assert!(exists("a") && exists("x"));
    // While fledge is stopped: the inventory deleted again, and x dropped.
    drop(d);
    c.kubectl(&["delete", "configmap", "fledge-inventory", "-n", &home]);
    git(&p, &["rm", "-q", "x.yaml"]);
    git(&p, &["commit", "-qm", "drop x"]);
    git(&p, &["push", "-q", "origin", "HEAD:main"]);
    let d = daemon(c, &remote, &home, dir.path(), &[]);
    let s = d
        .until_sync("the orphan named", |s| {
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
        status_table(&d).contains(&format!("ConfigMap {home}/x")),
        "{}",
        status_table(&d)
    );
}
