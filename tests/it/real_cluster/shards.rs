//! Shards on the real API server (`--watch-label-selector`, Flux's convention): the default
//! shard (`!sharding.fluxcd.io/key`) and shard1 split one repository's Kustomizations and
//! releases, no object in two inventories; each shard elects its own leader, and when
//! shard1's leader is killed mid-rollout its second replica takes over and finishes the
//! rollout, nothing of either shard pruned.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::{app, daemon, scene};
use crate::support::daemon::Daemon;
use crate::support::git::Remote;
use crate::support::testcluster::TestCluster;

const SHARD1: &str = "sharding.fluxcd.io/key: shard1";

fn kustomization(name: &str, labels: &str) -> String {
    format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {{name: {name}, namespace: flux-system, labels: {{{labels}}}}}\nspec:\n  interval: 10m\n  path: ./{name}\n  prune: true\n  sourceRef: {{kind: GitRepository, name: flux-system}}\n"
    )
}

/// [`app`] named `api` (its Deployment and Canary), the Canary labelled for shard1.
fn api(ns: &str, image: &str) -> String {
    let yaml = app(ns, image, false).replace("web", "api");
    let canary = format!("kind: Canary\nmetadata: {{name: api, namespace: {ns}}}");
    assert!(yaml.contains(&canary), "{yaml}");
    yaml.replace(
        &canary,
        &format!("kind: Canary\nmetadata: {{name: api, namespace: {ns}, labels: {{{SHARD1}}}}}"),
    )
}

/// The ConfigMap `name` in `ns`.
fn config_map(ns: &str, name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {ns}}}\n")
}

/// Kustomization `a` (no shard label) applies `web` and the ConfigMap `a`, `b` (shard1) applies
/// `api` and the ConfigMap `b`; the root declares them and the ConfigMap `root`.
fn commit(remote: &Remote, ns: &str, api_image: &str) -> String {
    remote.commit(
        &[
            ("clusters/test/a.yaml", &kustomization("a", "team: x")),
            ("clusters/test/b.yaml", &kustomization("b", SHARD1)),
            (
                "clusters/test/root.yaml",
                &format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: root, namespace: {ns}}}\n"
                ),
            ),
            ("a/web.yaml", &app(ns, "web:1", false)),
            ("a/config.yaml", &config_map(ns, "a")),
            ("b/api.yaml", &api(ns, api_image)),
            ("b/config.yaml", &config_map(ns, "b")),
        ],
        &format!("api {api_image}"),
    )
}

/// The entries of each of fledge's inventories in `ns`, by ConfigMap name.
fn inventories(c: &TestCluster, ns: &str) -> BTreeMap<String, Vec<String>> {
    let list: Value =
        serde_json::from_str(&c.kubectl(&["get", "configmaps", "-n", ns, "-o", "json"])).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|cm| {
            let name = cm["metadata"]["name"].as_str().unwrap();
            name.starts_with("fledge-inventory")
        })
        .map(|cm| {
            let entries: Vec<String> =
                serde_json::from_str(cm["data"]["objects"].as_str().unwrap_or("[]")).unwrap();
            (cm["metadata"]["name"].as_str().unwrap().to_owned(), entries)
        })
        .collect()
}

fn shard(
    c: &TestCluster,
    remote: &Remote,
    ns: &str,
    dir: &std::path::Path,
    selector: &str,
) -> Daemon {
    std::fs::create_dir_all(dir).unwrap();
    daemon(
        c,
        remote,
        ns,
        dir,
        &[
            "--path",
            "clusters/test",
            "--leader-election",
            "true",
            "--lease-duration",
            "4s",
            "--write-back",
            "true",
            "--watch-label-selector",
            selector,
        ],
    )
}

/// No object is in two of fledge's inventories in `ns`: the root's and `a`'s are the default
/// shard's, `b`'s shard1's (which applies no root).
fn assert_owned_once(c: &TestCluster, ns: &str) {
    // No object is in two inventories: the root's and `a`'s are the default shard's, `b`'s
    // shard1's (which applies no root).
    let inv = inventories(c, ns);
    let mut owners: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (cm, entries) in &inv {
        for e in entries {
            owners.entry(e.as_str()).or_default().push(cm.as_str());
        }
    }
    let twice: Vec<_> = owners.iter().filter(|(_, o)| o.len() > 1).collect();
    assert!(twice.is_empty(), "owned twice: {twice:?}");
    let holder = |what: &str| -> Vec<&str> {
        owners
            .iter()
            .filter(|(e, _)| e.ends_with(what))
            .flat_map(|(_, o)| o.clone())
            .collect()
    };
    assert_eq!(
        holder(&format!("|ConfigMap|{ns}|root")),
        ["fledge-inventory"],
        "{inv:?}"
    );
    assert_eq!(
        holder(&format!("|ConfigMap|{ns}|a")),
        ["fledge-inventory.flux-system.a"],
        "{inv:?}"
    );
    assert_eq!(
        holder(&format!("|ConfigMap|{ns}|b")),
        ["fledge-inventory.flux-system.b"],
        "{inv:?}"
    );
    assert!(!inv.contains_key("fledge-inventory-shard1"), "{inv:?}");
    // Each shard's Releases carry its own owner label, so that neither hands back the other's.
    let owner = |name: &str| {
        c.jsonpath(
            &format!("releases.fledge.dev/{name}"),
            ns,
            "{.metadata.labels.fledge\\.dev/owner}",
        )
    };
    assert_eq!(owner("web"), ns);
    assert_eq!(owner("api"), format!("{ns}.shard1"));
}

/// The default shard went on alone and took nothing of shard1's; nothing was pruned, and both
/// shards' release status is on the one status branch.
async fn assert_nothing_lost(c: &TestCluster, remote: &Remote, ns: &str, default: &Daemon) {
    let names = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(default.releases().await), ["web"]);
    for object in [
        "deployment/web",
        "deployment/web-primary",
        "deployment/api",
        "deployment/api-primary",
        "configmap/root",
        "configmap/a",
        "configmap/b",
    ] {
        let name = c.jsonpath(object, ns, "{.metadata.name}");
        assert!(!name.is_empty(), "{object} is gone");
    }
    let image = c.jsonpath(
        "deployment/api-primary",
        ns,
        "{.spec.template.spec.containers[0].image}",
    );
    assert_eq!(image, "api:2");
    // Both shards' release status is on the one status branch.
    for name in ["web", "api"] {
        crate::support::eventually(
            format!("{name}'s status on fledge/status"),
            Duration::from_secs(20),
            || async { remote.show("fledge/status", &format!("releases/{ns}/{name}.yaml")) },
            Option::is_some,
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_shards_split_a_repository_and_a_shards_second_replica_takes_over() {
    let Some((c, ns, dir)) = scene("shards") else {
        return;
    };
    let remote = Remote::new();
    commit(&remote, &ns, "api:1");
    let default = shard(
        c,
        &remote,
        &ns,
        &dir.path().join("0"),
        "!sharding.fluxcd.io/key",
    );
    let first = shard(
        c,
        &remote,
        &ns,
        &dir.path().join("1a"),
        "sharding.fluxcd.io/key=shard1",
    );
    default
        .until("web", "the default shard runs web", |v| {
            v["phase"] == "Initialized"
        })
        .await;
    first
        .until("api", "shard1 runs api", |v| v["phase"] == "Initialized")
        .await;
    let second = shard(
        c,
        &remote,
        &ns,
        &dir.path().join("1b"),
        "sharding.fluxcd.io/key=shard1",
    );
    let names = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(default.releases().await), ["web"]);
    assert_eq!(names(first.releases().await), ["api"]);
    let units = |s: Value| -> Vec<String> {
        s["units"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        units(default.get("/api/sync").await),
        ["root", "flux-system/a"]
    );
    assert_eq!(units(first.get("/api/sync").await), ["flux-system/b"]);
    // Each shard has its own Lease; shard1's second replica waits on it.
    for lease in ["fledge-leader", "fledge-leader-shard1"] {
        let holder = c.jsonpath(&format!("lease/{lease}"), &ns, "{.spec.holderIdentity}");
        assert!(!holder.is_empty(), "{lease} has no holder");
    }
    assert_eq!(
        second.releases().await,
        serde_json::json!([]),
        "the follower does nothing"
    );
    assert_owned_once(c, &ns);
    // shard1's leader dies mid-rollout of api; its second replica takes over and promotes.
    let bump = commit(&remote, &ns, "api:2");
    first
        .until("api", "progressing on shard1's leader", |v| {
            v["phase"] == "Progressing" && v["sourceCommit"] == bump.as_str()
        })
        .await;
    let killed = std::time::SystemTime::now();
    drop(first);
    second
        .eventually(
            "shard1's second replica leads",
            Duration::from_secs(30),
            || async { second.log().contains("leading") },
            |l| *l,
        )
        .await;
    second
        .until("api", "promoted by shard1's new leader", |v| {
            v["phase"] == "Succeeded" && v["sourceCommit"] == bump.as_str()
        })
        .await;
    eprintln!(
        "shard1's second replica promoted {:.1}s after its leader was killed",
        killed.elapsed().unwrap().as_secs_f64()
    );
    assert_nothing_lost(c, &remote, &ns, &default).await;
    drop(second);
    drop(default);
}

/// An installation without shards becomes the default shard: its record names `b`'s inventory
/// (it applied `b` before), yet `b` is shard1's now and still in the repository, so the default
/// shard neither prunes `b`'s objects nor retires `api`, and drops `b` from its record.
#[tokio::test(flavor = "multi_thread")]
async fn an_unsharded_installation_becomes_the_default_shard_without_pruning_the_other_shards() {
    let Some((c, ns, dir)) = scene("unsharded") else {
        return;
    };
    let remote = Remote::new();
    commit(&remote, &ns, "api:1");
    std::fs::create_dir_all(dir.path().join("all")).unwrap();
    let all = daemon(
        c,
        &remote,
        &ns,
        &dir.path().join("all"),
        &["--path", "clusters/test"],
    );
    all.until("api", "one daemon runs api", |v| {
        v["phase"] == "Initialized"
    })
    .await;
    all.until("web", "and web", |v| v["phase"] == "Initialized")
        .await;
    drop(all);
    let record = || c.jsonpath("configmap/fledge-units", &ns, "{.data.objects}");
    assert!(
        record().contains("fledge-inventory.flux-system.b"),
        "{}",
        record()
    );
    let default = shard(
        c,
        &remote,
        &ns,
        &dir.path().join("0"),
        "!sharding.fluxcd.io/key",
    );
    default
        .until("web", "the default shard runs web", |v| {
            v["phase"] == "Initialized"
        })
        .await;
    default
        .eventually(
            "b dropped from the default shard's record",
            Duration::from_secs(30),
            || async { record() },
            |r| r.contains("fledge-inventory.flux-system.a") && !r.contains("flux-system.b"),
        )
        .await;
    // Some rounds later, nothing of b or api went.
    tokio::time::sleep(Duration::from_secs(5)).await;
    for object in [
        "configmap/b",
        "deployment/api-primary",
        "releases.fledge.dev/api",
    ] {
        let name = c.jsonpath(object, &ns, "{.metadata.name}");
        assert!(!name.is_empty(), "{object} is gone:\n{}", default.log());
    }
    assert!(
        !default.log().contains("handing its app back"),
        "{}",
        default.log()
    );
    // It says nothing of b: not a unit of its own, not one removed from the repository.
    let sync = default.get("/api/sync").await;
    let units: Vec<&str> = sync["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(units, ["root", "flux-system/a"], "{sync}");
    assert!(
        !c.jsonpath(
            "configmap/fledge-inventory.flux-system.b",
            &ns,
            "{.data.objects}"
        )
        .is_empty()
    );
}
