//! A HelmRelease's hooks on the real API server, against the real `helm` v4.3.2 installing the
//! same chart beside it: on install, upgrade and a failed upgrade, the same hooks are left in
//! the cluster, created in the same order (relative to the release's own objects, read from
//! resourceVersions), the same ones deleted by their policies; a failed `pre-upgrade` hook
//! leaves the release's objects as they were; a restart of fledge runs no hook again. The
//! chart's `.Capabilities` are the cluster's, as Helm reads them.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::{chart_remote, helm_daemon, scene, unit};
use crate::support::helm;
use crate::support::testcluster::TestCluster;

/// The test chart's HelmRelease in `ns` at revision `tag`, its hook Jobs failing when `fail`.
fn release(ns: &str, tag: &str, fail: bool) -> String {
    let failing = if fail {
        "registry.example/migrate:1"
    } else {
        ""
    };
    format!(
        "apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {{name: hooks, namespace: {ns}}}
spec:
  interval: 1m
  timeout: 60s
  chart:
    spec:
      chart: ./charts/hooks
      sourceRef: {{kind: GitRepository, name: flux-system, namespace: flux-system}}
  values: {{tag: \"{tag}\", failingImages: \"{failing}\"}}
"
    )
}

/// `helm install` (or `upgrade`) of the test chart in `ns` at `tag`; whether it succeeded.
fn helm_cli(helm: &Path, c: &TestCluster, verb: &str, ns: &str, tag: &str, fail: bool) -> bool {
    let chart = crate::repo_dir().join("tests/charts/hooks");
    let failing = if fail {
        "registry.example/migrate:1"
    } else {
        ""
    };
    let out = Command::new(helm)
        .args([verb, "hooks"])
        .arg(&chart)
        .args(["--namespace", ns, "--timeout", "60s"])
        .arg("--kubeconfig")
        .arg(c.kubeconfig())
        .args(["--set-string", &format!("tag={tag}")])
        .args(["--set-string", &format!("failingImages={failing}")])
        .output()
        .unwrap();
    out.status.success()
}

/// What is left of the release in `ns`: its ConfigMaps in the order they were last written
/// (resourceVersion), each with its `tag`, and its Jobs with whether each completed. The
/// release's own ConfigMaps are applied together, in an order of no consequence (Helm sorts
/// them by name, fledge applies them as one batch): each run of them counts as one entry,
/// `release`, with their tags joined.
fn left(c: &TestCluster, ns: &str) -> (Vec<(String, String)>, BTreeMap<String, bool>) {
    let list = |kind: &str| -> Vec<Value> {
        let l = c.get(&[kind, "-n", ns]).unwrap();
        l["items"].as_array().unwrap().clone()
    };
    let mut maps: Vec<(u64, String, String)> = list("configmaps")
        .iter()
        .filter(|o| o["metadata"]["name"] != "kube-root-ca.crt")
        .filter(|o| {
            !o["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with("fledge")
        })
        .map(|o| {
            (
                o["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap(),
                o["metadata"]["name"].as_str().unwrap().to_owned(),
                o["data"]["tag"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    maps.sort();
    let jobs = list("jobs")
        .iter()
        .map(|j| {
            let complete = j["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Complete"));
            (j["metadata"]["name"].as_str().unwrap().to_owned(), complete)
        })
        .collect();
    let mut out: Vec<(String, String)> = Vec::new();
    let mut tags = BTreeMap::new();
    for (_, name, tag) in maps {
        if !matches!(name.as_str(), "main" | "capabilities") {
            out.push((name, tag));
            continue;
        }
        if out.last().is_none_or(|(n, _)| n != "release") {
            tags.clear();
            out.push(("release".to_owned(), String::new()));
        }
        tags.insert(name, tag);
        if let Some(last) = out.last_mut() {
            last.1 = format!("{tags:?}");
        }
    }
    (out, jobs)
}

fn uid(c: &TestCluster, ns: &str, name: &str) -> String {
    c.jsonpath(&format!("configmap/{name}"), ns, "{.metadata.uid}")
}

/// The chart's `.Capabilities` read the same in `ns` as in `theirs` (installed by Helm): the
/// cluster's, as Helm reads them from the cluster it installs into.
fn same_capabilities(c: &TestCluster, ns: &str, theirs: &str) {
    let read = |ns: &str| c.get(&["configmap", "capabilities", "-n", ns]).unwrap()["data"].clone();
    assert_eq!(read(ns), read(theirs));
    assert_eq!(
        read(ns)["releases"],
        "true",
        "fledge's Release CRD is served"
    );
    assert_eq!(read(ns)["releaseGroup"], "true");
    let server: Value = serde_json::from_str(&c.kubectl(&["version", "-o", "json"])).unwrap();
    assert_eq!(
        read(ns)["kubeVersion"],
        server["serverVersion"]["gitVersion"]
    );
}

/// No hook is in an inventory of `ns`, and the release's own objects are.
fn no_hook_in_an_inventory(c: &TestCluster, ns: &str) {
    let maps = c.get(&["configmaps", "-n", ns]).unwrap();
    let inventories: Vec<&str> = maps["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["data"]["objects"].as_str())
        .collect();
    assert!(
        inventories.iter().any(|i| i.contains("|main")),
        "{inventories:?}"
    );
    assert!(
        inventories
            .iter()
            .all(|i| !i.contains("pre-") && !i.contains("post-")),
        "hooks are in no inventory: {inventories:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hooks_run_as_helm_runs_them_on_install_upgrade_and_a_failed_upgrade() {
    let Some(helm) = helm::or_skip() else { return };
    let Some((c, ns, dir)) = scene("hooks") else {
        return;
    };
    let theirs = c.namespace("hooks-helm");
    let first = release(&ns, "1", false);
    let remote = chart_remote("hooks", &[("apps/hooks.yaml", &first)]);
    let mut d = helm_daemon(c, &remote, &ns, dir.path(), helm);
    let name = format!("HelmRelease/{ns}/hooks");
    let ready_at = |commit: String| {
        let name = name.clone();
        move |s: &Value| {
            unit(s, &name)
                .is_some_and(|u| u["ready"] == true && u["lastAppliedRevision"] == commit.as_str())
        }
    };

    // Install.
    assert!(helm_cli(&helm.cli, c, "install", &theirs, "1", false));
    let head = remote.head();
    d.until_sync("installed", ready_at(head)).await;
    let installed = left(c, &theirs);
    assert_eq!(left(c, &ns), installed, "install");
    assert!(installed.0.iter().all(|(n, _)| n != "pre-gone"));
    assert_eq!(installed.1.get("pre-job"), Some(&true), "{installed:?}");
    let names: Vec<&str> = installed.0.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "pre-b",
            "pre-c",
            "install-only",
            "pre-a",
            "release",
            "post-x"
        ],
        "Helm's order"
    );
    same_capabilities(c, &ns, &theirs);
    no_hook_in_an_inventory(c, &ns);

    // A restart runs no hook again: the release is recorded in its inventory.
    let before = uid(c, &ns, "pre-b");
    d.kill();
    let d2 = helm_daemon(c, &remote, &ns, dir.path(), helm);
    d2.until_sync("ready again", ready_at(remote.head())).await;
    d2.rounds(3).await;
    assert_eq!(uid(c, &ns, "pre-b"), before, "no hook ran again");
    d = d2;

    // Upgrade.
    assert!(helm_cli(&helm.cli, c, "upgrade", &theirs, "2", false));
    let two = remote.commit(&[("apps/hooks.yaml", &release(&ns, "2", false))], "2");
    d.until_sync("upgraded", ready_at(two)).await;
    let upgraded = left(c, &theirs);
    assert_eq!(left(c, &ns), upgraded, "upgrade");
    assert_ne!(uid(c, &ns, "pre-b"), before, "the pre-upgrade hooks ran");

    // A failed pre-upgrade hook: the release's objects stay as they were.
    assert!(!helm_cli(&helm.cli, c, "upgrade", &theirs, "3", true));
    let three = remote.commit(&[("apps/hooks.yaml", &release(&ns, "3", true))], "3");
    let failed = d
        .until_sync("the hook failed", |s| {
            unit(s, &name).is_some_and(|u| {
                u["ready"] == false
                    && u["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("pre-upgrade hook Job"))
            }) && unit(s, &name).is_some_and(|u| u["lastAttemptedRevision"] == three.as_str())
        })
        .await;
    let message = unit(&failed, &name).unwrap()["message"].to_string();
    assert!(
        message.contains(&format!("Job {ns}/pre-job failed")),
        "{message}"
    );
    let broken = left(c, &theirs);
    assert_eq!(left(c, &ns), broken, "failed upgrade");
    assert_eq!(broken.1.get("pre-job"), Some(&false));
    assert_eq!(c.jsonpath("configmap/main", &ns, "{.data.tag}"), "2");
}
