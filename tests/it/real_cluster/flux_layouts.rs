//! Flux's own example layouts synced by Flux's controllers and by fledge, each on a control plane
//! of its own (the example's namespaces and cluster-wide objects are fixed), then compared: each
//! Kustomization's readiness and `dependsOn` order, each one's inventory, and every object it
//! applied, field by field as the API server stored it; then a commit that drops an object,
//! pruned by both.
//!
//! The layout is `fluxcd/flux2-multi-tenancy` (`tests/data/flux`) on `clusters/staging`, with
//! what a cluster of the example has and a test cannot fetch written in: `gotk-sync.yaml` as
//! `flux bootstrap` writes it, naming the test's repository; the tenant's GitRepository naming a
//! local copy of its `dev-team` branch; Kyverno's CRD from Git where the example installs Kyverno
//! from an OCI artifact on ghcr.io; and, on each cluster, the `kustomize-controller`
//! ServiceAccount with cluster-admin, as `gotk-components.yaml` makes it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::flux_parity::{FLUX_LABELS, FLUX_ONLY_FIELDS, inventory_entries, managers, normalised};
use super::{commit_files as commit, daemon, install_release_crd, unit};
use crate::flux_repo::{example, kyverno_from_git, multi_tenancy};
use crate::support::flux::{self, GitServer};
use crate::support::git::{self, Remote};
use crate::support::testcluster::{TestCluster, another, or_skip};

/// An object: (group, kind, namespace, name).
type Id = (String, String, String, String);

/// The Kustomizations of the layout with the tenant's, dependencies first.
const KUSTOMIZATIONS: [&str; 5] = [
    "flux-system/flux-system",
    "flux-system/kyverno",
    "flux-system/kyverno-policies",
    "flux-system/tenants",
    "apps/dev-team",
];

/// `gotk-sync.yaml` as `flux bootstrap` writes it, for the repository at `url` (its token in
/// the Secret `flux-system-auth`, as the test harness gives it to source-controller).
fn gotk_sync(url: &str) -> String {
    format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {{name: flux-system, namespace: flux-system}}\nspec:\n  interval: 10m\n  ref: {{branch: main}}\n  secretRef: {{name: flux-system-auth}}\n  url: {url}\n---\n{}",
        serde_yaml::to_string(&flux_system()).unwrap()
    )
}

/// The root Kustomization, `flux-system`.
fn flux_system() -> Value {
    json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
           "metadata": {"name": "flux-system", "namespace": "flux-system"},
           "spec": {"interval": "10m", "path": "./clusters/staging", "prune": true,
                    "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}})
}

/// The layout's files: the example with `gotk-sync.yaml` for `url`, the tenant's repository at
/// `tenant` and Kyverno's CRD from Git; without the policy `verify-flux-images` when `pruned`.
fn layout(url: &str, tenant: &str, pruned: bool) -> Vec<(String, String)> {
    let mut files = kyverno_from_git(multi_tenancy(tenant));
    for (path, content) in &mut files {
        if path == "clusters/staging/flux-system/gotk-sync.yaml" {
            *content = gotk_sync(url);
        }
        if pruned && path == "infrastructure/kyverno-policies/kustomization.yaml" {
            *content = content.replace("  - verify-flux-images.yaml\n", "");
        }
    }
    files
}

/// What `gotk-components.yaml` makes that the layout relies on: the namespace `flux-system` and
/// the ServiceAccount `kustomize-controller` its Kustomizations are applied as, cluster-admin.
fn flux_installed(c: &TestCluster) {
    c.kubectl(&["create", "namespace", "flux-system"]);
    c.kubectl(&[
        "create",
        "serviceaccount",
        "kustomize-controller",
        "-n",
        "flux-system",
    ]);
    c.kubectl(&[
        "create",
        "clusterrolebinding",
        "layouts-kustomize-controller",
        "--clusterrole=cluster-admin",
        "--serviceaccount=flux-system:kustomize-controller",
    ]);
}

/// Whether an inventory entry is one of Flux's own objects, which fledge never applies (they
/// are its configuration).
fn fluxs_own(id: &Id) -> bool {
    id.0.ends_with(".toolkit.fluxcd.io")
}

/// What the Kustomization `name` (`<namespace>/<name>`) applied on Flux's cluster, but Flux's
/// own objects.
fn flux_inventory(flux: &flux::Flux, name: &str) -> BTreeSet<Id> {
    let (ns, n) = name.split_once('/').unwrap();
    flux.inventory(ns, n)
        .into_iter()
        .filter(|id| !fluxs_own(id))
        .collect()
}

/// What fledge's unit `name` applied: its inventory ConfigMap in `home` (the root path's,
/// `flux-system`'s, is `fledge-inventory`).
fn fledge_inventory(c: &TestCluster, home: &str, name: &str) -> BTreeSet<Id> {
    let cm = match name {
        "flux-system/flux-system" => "fledge-inventory".to_owned(),
        name => format!("fledge-inventory.{}", name.replace('/', ".")),
    };
    let cm = c.get(&["configmap", &cm, "-n", home]).unwrap_or_else(|| {
        panic!(
            "no inventory {cm}: {}",
            c.kubectl(&["get", "configmaps", "-n", home])
        )
    });
    inventory_entries(&cm).into_iter().collect()
}

/// The object `id` as `c` stores it, with its managed fields.
fn live(c: &TestCluster, id: &Id) -> Option<Value> {
    let (group, kind, ns, name) = id;
    let resource = if group.is_empty() {
        kind.to_lowercase()
    } else {
        format!("{}.{group}", kind.to_lowercase())
    };
    let mut args = vec![resource.as_str(), name.as_str(), "--show-managed-fields"];
    if !ns.is_empty() {
        args.extend(["-n", ns.as_str()]);
    }
    c.get(&args)
}

/// Each Kustomization's inventory the same on both clusters (Flux's controllers on `c`), and
/// every object in it the same, field by field (as `flux_parity` compares them); returns the
/// objects compared.
fn assert_same(
    c: &TestCluster,
    flux: &flux::Flux,
    fledge: &TestCluster,
    home: &str,
) -> BTreeSet<Id> {
    let mut all = BTreeSet::new();
    for name in KUSTOMIZATIONS {
        let applied = flux_inventory(flux, name);
        assert_eq!(
            applied,
            fledge_inventory(fledge, home, name),
            "{name}'s inventory: kustomize-controller's (but Flux's own objects), fledge's"
        );
        all.extend(applied);
    }
    for id in &all {
        let by_flux = live(c, id).unwrap_or_else(|| panic!("{id:?} on Flux's cluster"));
        let by_fledge = live(fledge, id).unwrap_or_else(|| panic!("{id:?} on fledge's cluster"));
        let (flux_view, _) = normalised(&by_flux, "", &FLUX_LABELS);
        let (fledge_view, fledge_labels) = normalised(&by_fledge, "", &FLUX_LABELS);
        assert_eq!(fledge_labels, BTreeMap::new(), "{id:?}: fledge's labels");
        assert_eq!(
            managers(&by_flux, "kustomize-controller", &FLUX_ONLY_FIELDS),
            managers(&by_fledge, "fledge", &[]),
            "{id:?}: who owns which field, after Flux's sync and after fledge's"
        );
        assert!(
            flux_view == fledge_view,
            "{id:?} differs:\n--- Flux\n{flux_view:#}\n--- fledge\n{fledge_view:#}"
        );
    }
    all
}

/// Each Kustomization's (ready, reason-or-"", Ready's last transition) on Flux's cluster.
fn flux_states(c: &TestCluster) -> BTreeMap<String, (bool, String)> {
    KUSTOMIZATIONS
        .iter()
        .map(|name| {
            let (ns, n) = name.split_once('/').unwrap();
            let k = c
                .get(&["kustomization.kustomize.toolkit.fluxcd.io", n, "-n", ns])
                .expect("the Kustomization exists");
            let ready = k["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "Ready")
                .cloned()
                .unwrap_or(Value::Null);
            let at = ready["lastTransitionTime"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            ((*name).to_owned(), (ready["status"] == "True", at))
        })
        .collect()
}

/// Waits until Flux's Kustomizations are Ready at `revision` (the tenant's at its own) and
/// `dev-team` tried `tenant_revision`; returns each one's (ready, Ready's last transition).
async fn flux_synced(
    c: &TestCluster,
    flux: &flux::Flux,
    revision: &str,
    tenant_revision: &str,
) -> BTreeMap<String, (bool, String)> {
    for name in &KUSTOMIZATIONS[..4] {
        let (ns, n) = name.split_once('/').unwrap();
        flux.wait_ready(n, ns, revision).await;
    }
    crate::support::eventually(
        "Flux's dev-team tried the tenant's commit",
        std::time::Duration::from_secs(120),
        || async {
            c.get(&[
                "kustomization.kustomize.toolkit.fluxcd.io",
                "dev-team",
                "-n",
                "apps",
            ])
        },
        |k| {
            k.as_ref()
                .is_some_and(|k| k["status"]["lastAttemptedRevision"] == tenant_revision)
        },
    )
    .await;
    flux_states(c)
}

/// Waits until fledge applied `commit` on every unit of the platform repository and the
/// tenant's; returns each unit's (ready, last transition).
async fn fledge_synced(
    d: &crate::support::daemon::Daemon,
    commit: &str,
) -> (BTreeMap<String, (bool, String)>, Value) {
    let sync = d
        .until_sync("fledge synced every Kustomization", |s| {
            KUSTOMIZATIONS[..4]
                .iter()
                .all(|n| unit(s, n).is_some_and(|u| u["lastAppliedRevision"] == commit))
                && unit(s, "apps/dev-team").is_some_and(|u| u["ready"] == true)
        })
        .await;
    let states = KUSTOMIZATIONS
        .iter()
        .map(|n| {
            let u = unit(&sync, n).unwrap();
            let at = u["lastTransitionTime"].as_str().unwrap_or("").to_owned();
            ((*n).to_owned(), (u["ready"] == true, at))
        })
        .collect();
    (states, sync)
}

/// Each side's readiness agrees but where the tenant's HelmRelease is concerned, and each side
/// became ready in `dependsOn` order.
fn assert_same_states(
    flux: &BTreeMap<String, (bool, String)>,
    fledge: &BTreeMap<String, (bool, String)>,
    sync: &Value,
) {
    for (name, (ready, _)) in flux {
        // Without helm-controller's CRDs Flux cannot apply the tenant's HelmRelease and its
        // dev-team fails; fledge reads the HelmRelease as a unit of its own, which fails alone
        // (it is written at `v2beta1`, which Flux no longer serves), and dev-team, which does
        // not wait for it, is ready (docs/flux-parity.md).
        let want = *ready || name == "apps/dev-team";
        assert_eq!(fledge[name].0, want, "{name} ready: Flux {ready}");
    }
    assert!(!flux["apps/dev-team"].0, "{flux:?}");
    let podinfo = unit(sync, "HelmRelease/apps/podinfo").unwrap_or_else(|| panic!("{sync}"));
    assert_eq!(podinfo["ready"], false, "{podinfo}");
    assert!(
        podinfo["message"]
            .as_str()
            .unwrap_or_default()
            .contains("`helm.toolkit.fluxcd.io/v2beta1` is not read"),
        "{podinfo}"
    );
    for states in [flux, fledge] {
        let at = |n: &str| states[n].1.clone();
        assert!(
            at("flux-system/kyverno") <= at("flux-system/kyverno-policies")
                && at("flux-system/kyverno-policies") <= at("flux-system/tenants"),
            "{states:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fluxs_multi_tenancy_layout_syncs_as_kustomize_controller_syncs_it() {
    let Some(c) = or_skip() else { return };
    let Some(flux) = flux::or_skip(c).await else {
        return;
    };
    let tenant = Remote::new();
    let tenant_commit = tenant.commit_owned(&example("flux2-multi-tenancy-dev-team"), "dev-team");
    git::git(
        &tenant.person(),
        &["push", "--quiet", "origin", "HEAD:dev-team"],
    );
    let tenant_served = GitServer::public(&tenant);
    let tenant_revision = format!("dev-team@sha1:{tenant_commit}");

    // Flux, on the tests' control plane: bootstrapped as `flux bootstrap` does (the GitRepository
    // and the root Kustomization applied once, then managed from Git).
    flux_installed(c);
    let remote = Remote::new();
    let served = flux.git_repository("flux-system", "flux-system", &remote);
    let files = layout(&served.url(), &tenant_served.url(), false);
    let first = commit(&remote, &files, "the example");
    let revision = flux.fetch("flux-system", "flux-system", &first).await;
    let root = flux_system();
    flux.apply_kustomization("flux-system", "flux-system", &root["spec"]);
    let flux_first = flux_synced(c, flux, &revision, &tenant_revision).await;

    // fledge, on a control plane of its own, on the same repository.
    let Some(c2) = another("layouts") else { return };
    flux_installed(&c2);
    install_release_crd(&c2);
    let home = c2.namespace("layouts-home");
    let dir = tempfile::tempdir().unwrap();
    let args = ["--path", "clusters/staging", "--write-back", "false"];
    let d = daemon(&c2, &remote, &home, dir.path(), &args);
    let (fledge_first, sync) = fledge_synced(&d, &first).await;
    assert_same_states(&flux_first, &fledge_first, &sync);
    let before = assert_same(c, flux, &c2, &home);

    // A commit that drops a policy: pruned by both.
    let second = commit(
        &remote,
        &layout(&served.url(), &tenant_served.url(), true),
        "drop verify-flux-images",
    );
    let revision = flux.fetch("flux-system", "flux-system", &second).await;
    flux_synced(c, flux, &revision, &tenant_revision).await;
    fledge_synced(&d, &second).await;
    let after = assert_same(c, flux, &c2, &home);
    let policy = |name: &str| {
        (
            "kyverno.io".to_owned(),
            "ClusterPolicy".to_owned(),
            String::new(),
            name.to_owned(),
        )
    };
    assert!(before.contains(&policy("verify-flux-images")), "{before:?}");
    assert_eq!(
        before.difference(&after).collect::<Vec<_>>(),
        [&policy("verify-flux-images")]
    );
    for cluster in [c, &c2] {
        assert_eq!(live(cluster, &policy("verify-flux-images")), None);
    }
    eprintln!(
        "Flux's multi-tenancy layout: {} and {} objects compared, {} Kustomizations",
        before.len(),
        after.len(),
        KUSTOMIZATIONS.len()
    );
}
