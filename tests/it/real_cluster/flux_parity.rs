//! fledge's sync held to Flux's: the same repository synced by Flux's kustomize-controller (a
//! Kustomization with `prune: true` and `targetNamespace`, its GitRepository fetched by Flux's
//! source-controller, through the support harness `flux`) into one namespace and by `fledge run`
//! into another, then compared object by object, field by field, as the API server stored them:
//! after a first commit, and after a second that drops one object, renames a generated
//! ConfigMap (its data changed) and changes the Deployment, changes by hand made in between. fledge runs on the cluster path, where
//! a Flux Kustomization names the same overlay with its own `targetNamespace` (the same input
//! to both), and on an overlay that sets the namespace itself. Server-owned metadata and the
//! namespace are left out; what only kustomize-controller adds (its labels, the defaults it
//! owns) is the documented difference (docs/flux-parity.md), checked to be exactly that.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::{daemon, install_release_crd};
use crate::support::eventually;
use crate::support::flux::{self, Flux};
use crate::support::git::Remote;
use crate::support::testcluster::{TestCluster, or_skip};

/// The labels kustomize-controller sets on everything it applies (fluxcd/pkg/ssa
/// `SetOwnerLabels`), with the Kustomization's name and namespace.
pub(super) const FLUX_LABELS: [&str; 2] = [
    "kustomize.toolkit.fluxcd.io/name",
    "kustomize.toolkit.fluxcd.io/namespace",
];

/// The fields kustomize-controller owns that Git does not set: its labels, and the defaults it
/// fills in before the apply (fluxcd/pkg/ssa `normalize`: a port's `protocol`; the typed round
/// trip's empty `strategy` and `resources`, and a Namespace's empty `spec`). Documented in
/// docs/flux-parity.md.
pub(super) const FLUX_ONLY_FIELDS: [&str; 6] = [
    "f:kustomize.toolkit.fluxcd.io/name",
    "f:kustomize.toolkit.fluxcd.io/namespace",
    "f:protocol",
    "f:strategy",
    "f:resources",
    "f:spec",
];

/// The kinds the repository declares, as kubectl names them.
const KINDS: &str = "configmaps,secrets,serviceaccounts,services,deployments.apps,roles.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io";

/// The repository: the base ([`base`]), an overlay of it, `flux` (its namespace comes from the
/// Kustomization's `targetNamespace`), a cluster path, `clusters/test`, with a Flux
/// Kustomization of the `flux` overlay whose `targetNamespace` is `ns`, as a Flux repository
/// has it, and an overlay `fledge` that sets the namespace `ns` itself.
fn repository(ns: &str, image: &str, level: &str, binding: bool) -> Vec<(String, String)> {
    let overlay = |namespace: &str| {
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n{namespace}resources: [../base]\n"
        )
    };
    let mut files = base(image, level, binding);
    files.extend([
        ("flux/kustomization.yaml".into(), overlay("")),
        (
            "fledge/kustomization.yaml".into(),
            overlay(&format!("namespace: {ns}\n")),
        ),
        (
            "clusters/test/shop.yaml".into(),
            format!(
                "apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: shop, namespace: flux-system}}
spec:
  interval: 10m
  path: ./flux
  prune: true
  targetNamespace: {ns}
  sourceRef: {{kind: GitRepository, name: flux-system}}
"
            ),
        ),
    ]);
    files
}

/// The base: a Deployment, its Service, a generated ConfigMap (`LEVEL=<level>`) and Secret, a
/// ServiceAccount, a Role and (with `binding`) its RoleBinding.
fn base(image: &str, level: &str, binding: bool) -> Vec<(String, String)> {
    let binding = if binding {
        "---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: web-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: web-reader}
subjects: [{kind: ServiceAccount, name: web}]
"
    } else {
        ""
    };
    vec![
        (
            "base/kustomization.yaml".into(),
            format!(
                "apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [deployment.yaml, service.yaml, rbac.yaml]
labels:
- pairs: {{app.kubernetes.io/part-of: shop}}
configMapGenerator:
- name: web-config
  literals: [GREETING=hello, LEVEL={level}]
secretGenerator:
- name: web-token
  literals: [token=not-a-real-secret]
"
            ),
        ),
        (
            "base/deployment.yaml".into(),
            format!(
                "apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      serviceAccountName: web
      containers:
      - name: web
        image: \"{image}\"
        ports: [{{containerPort: 8080}}]
        envFrom: [{{configMapRef: {{name: web-config}}}}]
        env: [{{name: TOKEN, valueFrom: {{secretKeyRef: {{name: web-token, key: token}}}}}}]
"
            ),
        ),
        (
            "base/service.yaml".into(),
            "apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
"
            .into(),
        ),
        (
            "base/rbac.yaml".into(),
            format!(
                "apiVersion: v1
kind: ServiceAccount
metadata: {{name: web}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: web-reader}}
rules: [{{apiGroups: [\"\"], resources: [configmaps], verbs: [get, list]}}]
{binding}"
            ),
        ),
    ]
}

/// An object's identity across the two namespaces: (group, kind, name).
type Id = (String, String, String);

/// The objects of `KINDS` in `ns`, by identity.
fn objects_in(c: &TestCluster, ns: &str) -> BTreeMap<Id, Value> {
    let list = c
        .get(&[KINDS, "-n", ns, "--show-managed-fields"])
        .expect("the namespace lists");
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let group = o["apiVersion"]
                .as_str()
                .unwrap()
                .rsplit_once('/')
                .map_or("", |(g, _)| g);
            let id = (
                group.to_owned(),
                o["kind"].as_str().unwrap().to_owned(),
                o["metadata"]["name"].as_str().unwrap().to_owned(),
            );
            (id, o.clone())
        })
        .collect()
}

/// `o` without what the server owns or allocates (uid, resourceVersion, creation time, managed
/// fields, generation, status, a Service's cluster IPs), its namespace `ns` written
/// `<namespace>` wherever it appears, and the labels in `controller` set aside: returned with
/// the object.
pub(super) fn normalised(
    o: &Value,
    ns: &str,
    controller: &[&str],
) -> (Value, BTreeMap<String, String>) {
    let mut o = o.clone();
    let meta = o["metadata"].as_object_mut().unwrap();
    for k in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "managedFields",
        "generation",
    ] {
        meta.remove(k);
    }
    let mut set_aside = BTreeMap::new();
    if let Some(labels) = meta.get_mut("labels").and_then(Value::as_object_mut) {
        for k in controller {
            if let Some(v) = labels.remove(*k) {
                set_aside.insert((*k).to_owned(), v.as_str().unwrap_or_default().to_owned());
            }
        }
        // Labels that were only the controller's (the server stores no empty map).
        if labels.is_empty() && !set_aside.is_empty() {
            meta.remove("labels");
        }
    }
    let o_map = o.as_object_mut().unwrap();
    o_map.remove("status");
    if o["kind"] == "Service" {
        let spec = o["spec"].as_object_mut().unwrap();
        spec.remove("clusterIP");
        spec.remove("clusterIPs");
    }
    (replace_namespace(o, ns), set_aside)
}

/// The managers of `o`'s fields: (manager, operation, subresource) each, `sync` written
/// `<sync>`; and the fields `sync` owns, without the leaves named in `only` (those it owns with
/// nothing below them).
pub(super) fn managers(
    o: &Value,
    sync: &str,
    only: &[&str],
) -> (Vec<(String, String, String)>, Value) {
    let mut owned = Value::Null;
    let list = o["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let mut manager = m["manager"].as_str().unwrap_or_default().to_owned();
            if manager == sync {
                manager = "<sync>".into();
                owned = without_leaves(&m["fieldsV1"], only);
            }
            let field = |k: &str| m[k].as_str().unwrap_or_default().to_owned();
            (manager, field("operation"), field("subresource"))
        })
        .collect();
    (list, owned)
}

/// `v` (a managed-fields tree) without the keys in `leaves` that have nothing below them, and
/// without what held only those (Flux's labels on an object Git gives no label).
fn without_leaves(v: &Value, leaves: &[&str]) -> Value {
    let empty = |v: &Value| v.as_object().is_some_and(serde_json::Map::is_empty);
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter_map(|(k, v)| {
                    let below = without_leaves(v, leaves);
                    let dropped = empty(&below) && (leaves.contains(&k.as_str()) || !empty(v));
                    (!dropped).then(|| (k.clone(), below))
                })
                .collect(),
        ),
        v => v.clone(),
    }
}

/// `v` with every string equal to `ns` written `<namespace>`.
fn replace_namespace(v: Value, ns: &str) -> Value {
    match v {
        Value::String(s) if s == ns => Value::String("<namespace>".into()),
        Value::Array(a) => Value::Array(a.into_iter().map(|v| replace_namespace(v, ns)).collect()),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, replace_namespace(v, ns)))
                .collect(),
        ),
        v => v,
    }
}

/// Waits (at most 60 s) until the deployment controller has seen the latest generation of every
/// Deployment in `ns`: the revision annotation it writes is there by then.
async fn settled(c: &TestCluster, ns: &str) {
    eventually(
        format!("the Deployments of {ns} observed by their controller"),
        Duration::from_secs(60),
        || async { c.get(&["deployments.apps", "-n", ns]) },
        |list| {
            list.as_ref().is_some_and(|l| {
                l["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .all(|d| d["status"]["observedGeneration"] == d["metadata"]["generation"])
            })
        },
    )
    .await;
}

/// What the two controllers applied: the same objects (by Flux's inventory, by fledge's, and by
/// what each namespace holds), field by field; each Flux object carries exactly Flux's labels
/// and fledge's no label of its own. Returns the identities compared.
async fn assert_same(
    c: &TestCluster,
    flux: &Flux,
    home: &str,
    flux_ns: &str,
    fledge_ns: &str,
) -> BTreeSet<Id> {
    let flux_inventory: BTreeSet<Id> = flux
        .inventory(home, "shop")
        .into_iter()
        .map(|(g, k, ns, n)| {
            assert_eq!(ns, flux_ns, "Flux applied {k} {n} in its target namespace");
            (g, k, n)
        })
        .collect();
    let fledge_inventory: BTreeSet<Id> = fledge_inventory(c, home)
        .into_iter()
        .map(|(g, k, ns, n)| {
            assert_eq!(
                ns, fledge_ns,
                "fledge applied {k} {n} in the overlay's namespace"
            );
            (g, k, n)
        })
        .collect();
    assert_eq!(
        flux_inventory, fledge_inventory,
        "inventories: kustomize-controller's, fledge's"
    );
    settled(c, flux_ns).await;
    settled(c, fledge_ns).await;
    let in_flux = objects_in(c, flux_ns);
    let in_fledge = objects_in(c, fledge_ns);
    assert_eq!(
        in_flux.keys().collect::<Vec<_>>(),
        in_fledge.keys().collect::<Vec<_>>(),
        "objects of the repository's kinds in each namespace (with what the server makes: the \
         default ServiceAccount, kube-root-ca.crt): Flux's, fledge's"
    );
    for (id, live) in &in_flux {
        let (flux_view, flux_labels) = normalised(live, flux_ns, &FLUX_LABELS);
        let (fledge_view, fledge_labels) = normalised(&in_fledge[id], fledge_ns, &FLUX_LABELS);
        assert_eq!(
            fledge_labels,
            BTreeMap::new(),
            "fledge sets none of Flux's labels on {id:?}"
        );
        if flux_inventory.contains(id) {
            let want: BTreeMap<String, String> = [
                (FLUX_LABELS[0].to_owned(), "shop".to_owned()),
                (FLUX_LABELS[1].to_owned(), home.to_owned()),
            ]
            .into();
            assert_eq!(flux_labels, want, "Flux's ownership labels on {id:?}");
        }
        assert_eq!(
            managers(live, "kustomize-controller", &FLUX_ONLY_FIELDS),
            managers(&in_fledge[id], "fledge", &[]),
            "{id:?}: who owns which field (server-side apply's managed fields; the sync's own \
             manager written <sync>), after Flux's sync and after fledge's"
        );
        assert!(
            flux_view == fledge_view,
            "{id:?} differs, as stored after Flux's sync and after fledge's:\n--- Flux\n{}\n--- fledge\n{}",
            serde_json::to_string_pretty(&flux_view).unwrap(),
            serde_json::to_string_pretty(&fledge_view).unwrap()
        );
    }
    flux_inventory
}

/// fledge's inventory (the ConfigMap in its `--namespace`), as (group, kind, namespace, name).
fn fledge_inventory(c: &TestCluster, home: &str) -> Vec<(String, String, String, String)> {
    // The Kustomization's inventory when fledge read it, else the root path's.
    let cm = c
        .get(&["configmap", "fledge-inventory.flux-system.shop", "-n", home])
        .or_else(|| c.get(&["configmap", "fledge-inventory", "-n", home]))
        .expect("an inventory");
    inventory_entries(&cm)
}

/// The entries of fledge's inventory ConfigMap `cm`, as (group, kind, namespace, name).
pub(super) fn inventory_entries(cm: &Value) -> Vec<(String, String, String, String)> {
    let entries = cm["data"]["objects"].as_str().unwrap_or("[]");
    let entries: Vec<String> = serde_json::from_str(entries).unwrap();
    entries
        .iter()
        .map(|e| {
            let p: Vec<&str> = e.split('|').collect();
            let group = p[0].rsplit_once('/').map_or("", |(g, _)| g);
            (group.into(), p[1].into(), p[2].into(), p[3].into())
        })
        .collect()
}

/// What a person changes by hand in `ns`: a label on the Deployment (`kubectl label`) and an
/// annotation on its pod template (`kubectl patch`).
fn by_hand(c: &TestCluster, ns: &str) {
    c.kubectl(&["label", "deployment", "web", "drift=1", "-n", ns]);
    let template = r#"{"spec":{"template":{"metadata":{"annotations":{"drift":"1"}}}}}"#;
    c.kubectl(&[
        "patch",
        "deployment",
        "web",
        "-n",
        ns,
        "--type=merge",
        "-p",
        template,
    ]);
}

/// The person's first commit, of [`repository`] for `ns`: web 1.
fn first_commit(remote: &Remote, ns: &str) -> String {
    remote.commit_owned(&repository(ns, "web:1", "info", true), "web 1")
}

/// The person's second commit: drops the RoleBinding, changes the generated ConfigMap's data
/// (so its name) and the Deployment's image.
fn second_commit(remote: &Remote, fledge_ns: &str) -> String {
    let files = repository(fledge_ns, "web:2", "debug", false);
    remote.commit_owned(&files, "drop the role binding, debug logs, web 2")
}

/// What both namespaces hold after the second commit: the RoleBinding dropped from Git and the
/// ConfigMap renamed away pruned (`before` and `after`: what was compared after each commit),
/// the new image, and nothing left of what was changed by hand.
fn second_applied(
    c: &TestCluster,
    before: &BTreeSet<Id>,
    after: &BTreeSet<Id>,
    config_before: &Id,
    namespaces: [&str; 2],
) {
    // Pruned by both: the RoleBinding dropped from Git and the ConfigMap renamed away.
    let binding = (
        "rbac.authorization.k8s.io".to_owned(),
        "RoleBinding".to_owned(),
        "web-reader".to_owned(),
    );
    assert!(before.contains(&binding) && !after.contains(&binding));
    assert!(!after.contains(config_before), "{after:?}");
    for ns in namespaces {
        assert_eq!(c.get(&["rolebinding", "web-reader", "-n", ns]), None);
        assert_eq!(c.get(&["configmap", &config_before.2, "-n", ns]), None);
    }
    for ns in namespaces {
        let web = c.get(&["deployment", "web", "-n", ns]).unwrap();
        let image = &web["spec"]["template"]["spec"]["containers"][0]["image"];
        assert_eq!(image, "web:2", "{ns}");
        assert_eq!(
            web["metadata"]["labels"]["drift"],
            Value::Null,
            "{ns}: {web}"
        );
        let template = &web["spec"]["template"]["metadata"]["annotations"];
        assert_eq!(template["drift"], Value::Null, "{ns}: {web}");
    }
}

/// fledge on the overlay that sets the namespace itself (`namespace:`, as kustomize-controller
/// sets it from `targetNamespace`).
#[tokio::test(flavor = "multi_thread")]
async fn kustomize_controller_and_fledge_apply_and_prune_the_same_objects() {
    parity("fledge").await;
}

/// fledge on the cluster path, reading a Flux Kustomization of the same overlay as
/// kustomize-controller's, with its own `targetNamespace`: the same input to both.
#[tokio::test(flavor = "multi_thread")]
async fn kustomize_controller_and_fledge_reading_the_same_flux_kustomization_agree() {
    parity("clusters/test").await;
}

/// Both controllers through both commits, fledge on `path` of the repository; see the module.
async fn parity(path: &str) {
    let Some(c) = or_skip() else { return };
    let Some(flux) = flux::or_skip(c).await else {
        return;
    };
    install_release_crd(c);
    let home = c.namespace("parity-home");
    let flux_ns = c.namespace("parity-flux");
    let fledge_ns = c.namespace("parity-fledge");
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::new();
    let first = first_commit(&remote, &fledge_ns);

    // Flux: the GitRepository (source-controller fetches it over HTTP), then the Kustomization.
    let _served = flux.git_repository(&home, "shop", &remote);
    let revision = flux.fetch(&home, "shop", &first).await;
    let start = Instant::now();
    flux.apply_kustomization(
        &home,
        "shop",
        &json!({"interval": "10m", "retryInterval": "5s", "path": "./flux", "prune": true,
               "targetNamespace": flux_ns,
               "sourceRef": {"kind": "GitRepository", "name": "shop"}}),
    );
    flux.wait_ready("shop", &home, &revision).await;
    let flux_first = start.elapsed();

    // fledge: the daemon on the same repository, at the Kustomization's interval, so that
    // neither controller corrects the changes by hand before the second commit (fledge sees a
    // push to the local repository at once, by inotify).
    let start = Instant::now();
    let d = daemon(
        c,
        &remote,
        &home,
        dir.path(),
        &["--path", path, "--write-back", "false", "--interval", "10m"],
    );
    d.until_sync("the first commit synced", |s| {
        s["appliedCommit"] == first.as_str() && s["ready"] == true
    })
    .await;
    let fledge_first = start.elapsed();
    let before = assert_same(c, flux, &home, &flux_ns, &fledge_ns).await;
    let config_before = before
        .iter()
        .find(|(_, k, n)| k == "ConfigMap" && n.starts_with("web-config-"))
        .cloned()
        .expect("the generated ConfigMap");

    // Changes by hand, in both namespaces: each controller takes over kubectl's fields and drops
    // what Git does not set.
    for ns in [&flux_ns, &fledge_ns] {
        by_hand(c, ns);
    }
    // Each hand change seen by the Deployment controller before the next commit, so that both
    // namespaces count the same rollouts (`deployment.kubernetes.io/revision`): a template
    // changed twice before the controller looks is one rollout, not two.
    for ns in [&flux_ns, &fledge_ns] {
        settled(c, ns).await;
    }

    // The second commit, to fledge first (it sees the push itself), then to Flux (a
    // reconciliation of the GitRepository asked for at once, as `flux reconcile` does), one after
    // the other so that neither slows the other.
    let start = Instant::now();
    let second = second_commit(&remote, &fledge_ns);
    d.until_sync("the second commit synced", |s| {
        s["appliedCommit"] == second.as_str() && s["ready"] == true
    })
    .await;
    let fledge_second = start.elapsed();
    let start = Instant::now();
    let revision = flux.fetch(&home, "shop", &second).await;
    flux.wait_ready("shop", &home, &revision).await;
    let flux_second = start.elapsed();
    let after = assert_same(c, flux, &home, &flux_ns, &fledge_ns).await;

    second_applied(c, &before, &after, &config_before, [&flux_ns, &fledge_ns]);
    eprintln!(
        "fledge on {path}: {} and {} objects compared (first and second commit). Ready on the same repository: first commit \
         kustomize-controller {:.2}s (Kustomization applied to Ready), fledge {:.2}s (process \
         start to synced); second commit Flux {:.2}s (source fetch asked for to Kustomization \
         Ready), fledge {:.2}s (push to synced); resident memory kustomize-controller {} MiB, \
         source-controller {} MiB",
        before.len(),
        after.len(),
        flux_first.as_secs_f64(),
        fledge_first.as_secs_f64(),
        flux_second.as_secs_f64(),
        fledge_second.as_secs_f64(),
        flux.rss_kib().0 / 1024,
        flux.rss_kib().1 / 1024
    );
}

/// A namespace Flux synced, handed over to fledge as docs/migrating.md says: Flux's
/// Kustomization suspended, fledge started on the same path. fledge takes over the fields
/// kustomize-controller owned (its labels, which Git does not set, go), restarts nothing, and
/// prunes what a later commit drops.
#[tokio::test(flavor = "multi_thread")]
async fn a_namespace_synced_by_flux_is_handed_over_to_fledge_without_a_restart() {
    let Some(c) = or_skip() else { return };
    let Some(flux) = flux::or_skip(c).await else {
        return;
    };
    install_release_crd(c);
    let home = c.namespace("handover-home");
    let ns = c.namespace("handover");
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::new();
    let first = first_commit(&remote, &ns);
    let _served = flux.git_repository(&home, "shop", &remote);
    let revision = flux.fetch(&home, "shop", &first).await;
    flux.apply_kustomization(
        &home,
        "shop",
        &json!({"interval": "10m", "path": "./flux", "prune": true, "targetNamespace": ns,
               "sourceRef": {"kind": "GitRepository", "name": "shop"}}),
    );
    flux.wait_ready("shop", &home, &revision).await;
    settled(c, &ns).await;
    let web = || {
        c.get(&["deployment", "web", "-n", &ns, "--show-managed-fields"])
            .unwrap()
    };
    let by_flux = web();
    assert_eq!(by_flux["metadata"]["labels"][FLUX_LABELS[0]], "shop");
    c.kubectl(&[
        "patch",
        "kustomization.kustomize.toolkit.fluxcd.io",
        "shop",
        "-n",
        &home,
        "--type=merge",
        "-p",
        r#"{"spec":{"suspend":true}}"#,
    ]);

    let d = daemon(
        c,
        &remote,
        &home,
        dir.path(),
        &["--path", "clusters/test", "--write-back", "false"],
    );
    d.until_sync("taken over", |s| {
        s["appliedCommit"] == first.as_str() && s["ready"] == true
    })
    .await;
    let by_fledge = web();
    assert_eq!(
        by_fledge["metadata"]["generation"], by_flux["metadata"]["generation"],
        "the pod template is unchanged: nothing restarts"
    );
    for label in FLUX_LABELS {
        assert_eq!(
            by_fledge["metadata"]["labels"][label],
            Value::Null,
            "{by_fledge}"
        );
    }
    let managers: BTreeSet<&str> = by_fledge["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["manager"].as_str().unwrap())
        .collect();
    assert!(
        managers.contains("fledge") && !managers.contains("kustomize-controller"),
        "{managers:?}"
    );
    // What a later commit drops is pruned: fledge's inventory holds what it took over.
    let second = second_commit(&remote, &ns);
    d.until_sync("the second commit synced", |s| {
        s["appliedCommit"] == second.as_str() && s["ready"] == true
    })
    .await;
    assert_eq!(c.get(&["rolebinding", "web-reader", "-n", &ns]), None);
}
