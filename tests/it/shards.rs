//! Shards (`--watch-label-selector`, Flux's convention) against daemons on the simulated
//! cluster, one per shard on one repository: each syncs only the Kustomizations and ticks only
//! the releases whose labels it selects (the default shard also the root path), and both write
//! their releases' status to the same status branch without losing the other's.

use std::process::Command;

use super::safety::{WRITE_BACK, daemon};
use super::support::daemon::InProcess;
use super::support::erring_app;
use super::support::git::Remote;

/// A Kustomization of `flux-system` applying `./<name>`, with `labels` (a flow map's entries).
fn kustomization(name: &str, labels: &str) -> String {
    format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {{name: {name}, namespace: flux-system, labels: {{{labels}}}}}\nspec:\n  interval: 10m\n  path: ./{name}\n  prune: true\n  sourceRef: {{kind: GitRepository, name: flux-system}}\n"
    )
}

/// `erring_app` in namespace `ns`, its Canary labelled `labels`, with its Namespace.
fn app(ns: &str, labels: &str) -> String {
    app_at(ns, labels, "web:1")
}

fn app_at(ns: &str, labels: &str, image: &str) -> String {
    let app =
        erring_app(image, "0", 2, None).replace("namespace: shop", &format!("namespace: {ns}"));
    let app = app.replace(
        &format!("kind: Canary\nmetadata: {{name: web, namespace: {ns}}}"),
        &format!("kind: Canary\nmetadata: {{name: web, namespace: {ns}, labels: {{{labels}}}}}"),
    );
    assert!(app.contains("labels: {") || labels.is_empty(), "{app}");
    format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n---\n{app}")
}

/// The repository: the root path declares Kustomization `a` (no shard label) and `b`
/// (shard1), and a ConfigMap; `a` holds the app `a` and the app `c`, whose Canary is labelled
/// shard1; `b` holds the app `b`.
fn repository() -> Remote {
    let remote = Remote::new();
    let shard1 = "sharding.fluxcd.io/key: shard1";
    remote.commit(
        &[
            ("clusters/test/a.yaml", &kustomization("a", "team: x")),
            ("clusters/test/b.yaml", &kustomization("b", shard1)),
            (
                "clusters/test/root.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: root, namespace: default}\n",
            ),
            ("a/app.yaml", &app("a", "")),
            ("a/c.yaml", &app("c", shard1)),
            ("b/app.yaml", &app("b", shard1)),
        ],
        "two shards",
    );
    remote
}

async fn shard(remote: &Remote, dir: &std::path::Path, selector: &str) -> InProcess {
    daemon(remote, dir, "clusters/test")
        .args(["--time-scale", "10", "--watch-label-selector", selector])
        .args(WRITE_BACK)
        .in_process()
        .await
}

fn units(d: &InProcess) -> Vec<String> {
    d.shared
        .sync()
        .units
        .iter()
        .map(|u| u.name.clone())
        .collect()
}

fn releases(d: &InProcess) -> Vec<String> {
    d.shared
        .releases()
        .keys()
        .map(ToString::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_shard_syncs_and_ticks_only_what_its_selector_selects_and_both_write_status() {
    let remote = repository();
    let (dir0, dir1) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let default = shard(&remote, dir0.path(), "!sharding.fluxcd.io/key").await;
    let shard1 = shard(&remote, dir1.path(), "sharding.fluxcd.io/key=shard1").await;
    for (d, want) in [
        (&default, ["a/web"].as_slice()),
        (&shard1, &["b/web", "c/web"]),
    ] {
        d.until("its releases initialized", |d| {
            let r = d.shared.releases();
            r.len() == want.len() && r.values().all(|v| v.phase == "Initialized")
        })
        .await;
        assert_eq!(releases(d), want);
    }
    assert_eq!(units(&default), ["root", "flux-system/a"]);
    assert_eq!(units(&shard1), ["flux-system/b"]);
    // The default shard applied the root and `a` (app `c`'s Deployment too: `a` declares it),
    // shard1 only `b`; each cluster holds a Release only for the shard's own Canaries.
    let has = |d: &InProcess, g: &str, k: &str, ns: &str, n: &str| d.get(g, k, ns, n).is_some();
    assert!(has(&default, "", "ConfigMap", "default", "root"));
    assert!(!has(&shard1, "", "ConfigMap", "default", "root"));
    assert!(has(&default, "apps", "Deployment", "a", "web-primary"));
    assert!(!has(&default, "apps", "Deployment", "b", "web"));
    assert!(has(&shard1, "apps", "Deployment", "b", "web-primary"));
    assert!(!has(&shard1, "apps", "Deployment", "a", "web"));
    assert!(has(&shard1, "apps", "Deployment", "c", "web-primary"));
    assert!(!has(&default, "fledge.dev", "Release", "c", "web"));
    assert!(has(&shard1, "fledge.dev", "Release", "c", "web"));
    // Each shard's root inventory is its own; shard1's selector does not select the root.
    assert!(has(
        &default,
        "",
        "ConfigMap",
        "fledge-system",
        "fledge-inventory"
    ));
    assert!(!has(
        &shard1,
        "",
        "ConfigMap",
        "fledge-system",
        "fledge-inventory-shard1"
    ));
    // Both wrote their releases' status to the one status branch, neither losing the other's.
    d_until_status(&remote, &["a", "b", "c"]).await;
    // One commit bumps every app: each shard promotes its own, and the commit's note keeps
    // both shards' lines.
    let shard1_label = "sharding.fluxcd.io/key: shard1";
    let bump = remote.commit_owned(
        &[
            ("a/app.yaml".into(), app_at("a", "", "web:2")),
            ("a/c.yaml".into(), app_at("c", shard1_label, "web:2")),
            ("b/app.yaml".into(), app_at("b", shard1_label, "web:2")),
        ],
        "web:2 everywhere",
    );
    let note = || {
        let out = Command::new("git")
            .current_dir(remote.bare())
            .args(["notes", "--ref=fledge", "show", &bump])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    crate::support::eventually::eventually(
        "both shards' promotions in the bump's note",
        std::time::Duration::from_secs(60),
        || async { note() },
        |n| {
            ["a/web", "b/web", "c/web"].iter().all(|r| {
                n.lines().any(|l| {
                    l.starts_with(&format!("fledge: {r} revision ")) && l.contains(" promoted at ")
                })
            })
        },
    )
    .await;
    default.stop().await;
    shard1.stop().await;
}

async fn d_until_status(remote: &Remote, namespaces: &[&str]) {
    crate::support::eventually::eventually(
        "every shard's release status on fledge/status",
        std::time::Duration::from_secs(30),
        || async {
            namespaces
                .iter()
                .filter(|ns| {
                    remote
                        .show("fledge/status", &format!("releases/{ns}/web.yaml"))
                        .is_none()
                })
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        },
        Vec::is_empty,
    )
    .await;
}

#[test]
fn a_bad_selector_stops_fledge_run_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fledge"))
        .args(["run", "--cluster", "sim", "--repo"])
        .arg(dir.path())
        .args(["--watch-label-selector", "sharding.fluxcd.io/key in (a"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--watch-label-selector \"sharding.fluxcd.io/key in (a\": '(' without ')'"),
        "{err}"
    );
}
