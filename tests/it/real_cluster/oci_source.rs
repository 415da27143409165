//! Kustomizations built from an OCIRepository, on the real API server beside source-controller and kustomize-controller.
//!
//! The same manifests pushed as `flux push artifact` pushes them (fluxcd/pkg/oci's own push) to
//! a registry on loopback; the same OCIRepository (a semver range) and Kustomization (`prune`,
//! `targetNamespace`) applied for Flux's controllers into one namespace and synced by `fledge
//! run` into another; then both namespaces compared object by object, as the API server stored
//! them: after the first artifact, and after a higher version that changes an object and drops
//! another, followed by both at their next poll. The artifact holds what source-controller's
//! extraction treats with care: a `.sourceignore`, a nested directory, no kustomization.yaml
//! (both generate one).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::flux_parity::{FLUX_LABELS, normalised};
use super::{commit_files, daemon, install_release_crd, unit};
use crate::support::eventually::within;
use crate::support::flux;
use crate::support::git::Remote;
use crate::support::testcluster::{TestCluster, or_skip};
use crate::support::{ocipush, registry};

/// The kinds the artifact holds, as kubectl names them.
const KINDS: &str = "configmaps,secrets,services,deployments.apps";

/// The artifact of `version`: a Deployment and its Service, a ConfigMap holding `version`, a
/// Secret, and (before `2`) a ConfigMap the next version drops; a manifest `.sourceignore`
/// leaves out.
fn artifact(version: &str) -> Vec<(&'static str, String)> {
    let mut files = vec![
        (
            "deploy/app/deployment.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, labels: {app: web}}\nspec:\n  replicas: 0\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: registry.example/web:1, ports: [{containerPort: 8080}]}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n".to_owned(),
        ),
        (
            "deploy/settings.yaml",
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings, annotations: {{note: pushed}}}}\ndata: {{version: \"{version}\"}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: token}}\nstringData: {{token: t-{version}}}\n"
            ),
        ),
        (
            "deploy/ignored.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ignored}\n".to_owned(),
        ),
        (".sourceignore", "deploy/ignored.yaml\n".to_owned()),
    ];
    if version == "1" {
        files.push((
            "deploy/old.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: old}\ndata: {a: b}\n".to_owned(),
        ));
    }
    files
}

fn push(binary: &std::path::Path, url: &str, version: &str) -> String {
    let files = artifact(version);
    let files: Vec<(&str, &str)> = files.iter().map(|(p, c)| (*p, c.as_str())).collect();
    ocipush::push(binary, url, &files)
}

/// The OCIRepository `ns/name` of `url`, following `>=1.0.0`, polled every 2 s.
fn oci_repository(ns: &str, name: &str, url: &str) -> Value {
    json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
           "metadata": {"name": name, "namespace": ns},
           "spec": {"interval": "2s", "url": url, "insecure": true, "ref": {"semver": ">=1.0.0"}}})
}

/// The Kustomization `ns/name` of the OCIRepository `name`'s `./deploy`, into `target`.
fn kustomization(ns: &str, name: &str, target: &str) -> Value {
    json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
           "metadata": {"name": name, "namespace": ns},
           "spec": {"interval": "10m", "retryInterval": "2s", "path": "./deploy", "prune": true,
                    "targetNamespace": target,
                    "sourceRef": {"kind": "OCIRepository", "name": name}}})
}

/// The objects of `KINDS` in `ns` that a sync applied (not the server's own), by (kind, name).
fn objects_in(c: &TestCluster, ns: &str) -> BTreeMap<(String, String), Value> {
    let list = c.get(&[KINDS, "-n", ns]).expect("the namespace lists");
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["metadata"]["name"] != "kube-root-ca.crt")
        .map(|o| {
            let id = (
                o["kind"].as_str().unwrap().to_owned(),
                o["metadata"]["name"].as_str().unwrap().to_owned(),
            );
            (id, o.clone())
        })
        .collect()
}

/// Both namespaces hold the same objects, equal as stored but for Flux's ownership labels;
/// returns their names.
fn assert_same(c: &TestCluster, flux_ns: &str, fledge_ns: &str) -> BTreeSet<(String, String)> {
    let in_flux = objects_in(c, flux_ns);
    let in_fledge = objects_in(c, fledge_ns);
    assert_eq!(
        in_flux.keys().collect::<Vec<_>>(),
        in_fledge.keys().collect::<Vec<_>>(),
        "objects in each namespace: Flux's, fledge's"
    );
    for (id, live) in &in_flux {
        let (flux_view, _) = normalised(live, flux_ns, &FLUX_LABELS);
        let (fledge_view, fledge_labels) = normalised(&in_fledge[id], fledge_ns, &FLUX_LABELS);
        assert!(fledge_labels.is_empty(), "{id:?}: {fledge_labels:?}");
        assert!(
            flux_view == fledge_view,
            "{id:?} differs:\n--- Flux\n{}\n--- fledge\n{}",
            serde_json::to_string_pretty(&flux_view).unwrap(),
            serde_json::to_string_pretty(&fledge_view).unwrap()
        );
    }
    in_flux.into_keys().collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn kustomize_controller_and_fledge_apply_the_same_objects_from_the_same_oci_artifact() {
    let Some(c) = or_skip() else { return };
    let Some(flux) = flux::or_skip(c).await else {
        return;
    };
    let Some(pusher) = ocipush::or_skip() else {
        return;
    };
    let Some(reg) = registry::or_skip().await else {
        return;
    };
    install_release_crd(c);
    let home = c.namespace("oci-home");
    let flux_ns = c.namespace("oci-flux");
    let fledge_ns = c.namespace("oci-fledge");
    let repo = format!("{}/fleet/app", reg.addr());
    let one = push(pusher, &format!("{repo}:1.0.0"), "1");
    let url = format!("oci://{repo}");

    // Flux: the OCIRepository fetched by source-controller, the Kustomization applied by
    // kustomize-controller.
    flux.apply(&oci_repository(&home, "app", &url));
    flux.apply(&kustomization(&home, "app", &flux_ns));
    flux.wait_ready("app", &home, &format!("1.0.0@{one}")).await;

    // fledge: the same two objects in its repository (in a namespace of their own, so that
    // nothing of fledge's touches Flux's objects).
    let src = "oci-fledge-source";
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::new();
    let yaml = |v: &Value| serde_yaml::to_string(v).unwrap();
    let files = vec![
        (
            "clusters/test/source.yaml".to_owned(),
            yaml(&oci_repository(src, "app", &url)),
        ),
        (
            "clusters/test/app.yaml".to_owned(),
            yaml(&kustomization(src, "app", &fledge_ns)),
        ),
    ];
    commit_files(&remote, &files, "the app from its OCI artifact");
    let d = daemon(
        c,
        &remote,
        &home,
        dir.path(),
        &["--path", "clusters/test", "--write-back", "false"],
    );
    let name = format!("{src}/app");
    let applied = |revision: String| {
        let name = name.clone();
        move |s: &Value| {
            unit(s, &name).is_some_and(|u| {
                u["ready"] == true && u["lastAppliedRevision"] == revision.as_str()
            })
        }
    };
    d.until_sync("the first artifact synced", applied(format!("1.0.0@{one}")))
        .await;
    let first = assert_same(c, &flux_ns, &fledge_ns);
    assert!(
        first.contains(&("ConfigMap".to_owned(), "old".to_owned()))
            && !first.contains(&("ConfigMap".to_owned(), "ignored".to_owned())),
        "{first:?}"
    );

    // A higher version: both follow it at their next poll, prune what it dropped.
    let two = push(pusher, &format!("{repo}:1.1.0"), "2");
    flux.wait_ready("app", &home, &format!("1.1.0@{two}")).await;
    d.until_sync(
        "the second artifact synced",
        applied(format!("1.1.0@{two}")),
    )
    .await;
    let gone = within(
        std::time::Duration::from_secs(30),
        || async { c.get(&["configmap", "old", "-n", &fledge_ns]) },
        Option::is_none,
    )
    .await;
    assert!(gone.is_ok(), "fledge pruned what the new artifact dropped");
    let second = assert_same(c, &flux_ns, &fledge_ns);
    assert!(
        !second.contains(&("ConfigMap".to_owned(), "old".to_owned())),
        "{second:?}"
    );
    let settings = c.get(&["configmap", "settings", "-n", &fledge_ns]).unwrap();
    assert_eq!(settings["data"]["version"], "2");
    drop(d);
}
