//! Sync on the real API server: one commit brings a Namespace, a CRD and a custom resource of it
//! in the right order, applied server-side as `fledge`; what the repository drops is pruned by
//! the inventory, even what a refused sync half applied; and a person's edits and an HPA keep
//! the fields they own while fledge restores its own.

use std::collections::BTreeSet;
use std::time::Duration;

use fledge::object::ObjectRef;
use serde_json::{Value, json};

use super::{app, daemon, scene};
use crate::support::eventually;
use crate::support::git::{Remote, git};
use crate::support::testcluster::{TestCluster, or_skip};

/// Waits until `done` holds of `kubectl get <args> -o json` (`None`: no such object), at most
/// 60 s.
async fn until_object(c: &TestCluster, args: &[&str], done: impl Fn(Option<&Value>) -> bool) {
    eventually(
        format!("kubectl get {args:?}"),
        Duration::from_secs(60),
        || async { c.get(args) },
        |v| done(v.as_ref()),
    )
    .await;
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
    let Some(c) = or_skip() else { return };
    let ns = c.namespace("sync");
    let app_ns = format!("{ns}-app");
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::new();
    remote.commit_owned(
        &sync_files(&app_ns, true),
        "namespace, CRD, widget and config",
    );
    let daemon = daemon(c, &remote, &ns, dir.path(), &[]);
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
    let inventory = c.jsonpath("configmap/fledge-inventory", &ns, "{.data.objects}");
    assert!(
        inventory.contains(&format!("v1|ConfigMap|{app_ns}|keep")) && !inventory.contains("|drop"),
        "{inventory}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn what_a_sync_refused_half_way_applied_is_in_the_inventory_and_pruned_later() {
    use fledge::cluster::inventory::{self, PruneGuard};
    let Some(c) = or_skip() else { return };
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

#[tokio::test(flavor = "multi_thread")]
async fn a_persons_edits_and_an_hpa_own_what_they_own_and_sync_does_not_fight_them() {
    let Some((c, ns, dir)) = scene("owners") else {
        return;
    };
    let remote = Remote::new();
    let hpa = format!(
        "---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {{name: web, namespace: {ns}}}\nspec:\n  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}\n  minReplicas: 2\n  maxReplicas: 4\n"
    );
    let with_hpa = app(&ns, "web:1", false).replace(
        "  service: {port: 80}",
        "  autoscalerRef: {apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, name: web}\n  service: {port: 80}",
    ) + &hpa;
    remote.commit(&[("app.yaml", &with_hpa)], "web 1 with an HPA");
    let daemon = daemon(c, &remote, &ns, dir.path(), &[]);
    daemon
        .until("web", "initialized", |v| v["phase"] == "Initialized")
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
    tokio::time::sleep(Duration::from_secs(12)).await;
    let replicas = c.jsonpath("deployment/web-primary", &ns, "{.spec.replicas}");
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
