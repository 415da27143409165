use super::*;
use crate::cluster::SimHandle;
use crate::cluster::sim::SimCluster;
use crate::object::ObjectRef;

#[tokio::test]
async fn prunes_only_what_it_applied_and_may_prune() {
    let sim = SimHandle::new(SimCluster::new(std::time::Duration::ZERO));
    let cm = |name: &str, ann: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "prod", "annotations": ann}});
    let theirs = cm("theirs", json!({}));
    sim.apply(std::slice::from_ref(&theirs)).await.unwrap();
    let first = [
        cm("a", json!({})),
        cm("b", json!({})),
        cm(
            "kept",
            json!({"kustomize.toolkit.fluxcd.io/prune": "disabled"}),
        ),
        cm("owned", json!({})),
    ];
    sync(
        &sim,
        "fledge-system",
        &first,
        &BTreeSet::new(),
        PruneGuard::default(),
    )
    .await
    .unwrap();
    let owned = ObjectKey::of(&first[3]).unwrap();
    let r = sync(
        &sim,
        "fledge-system",
        &[cm("a", json!({}))],
        &BTreeSet::from([owned]),
        PruneGuard::default(),
    )
    .await
    .unwrap();
    assert_eq!(r.pruned, ["ConfigMap prod/b"]);
    for (name, present) in [
        ("a", true),
        ("b", false),
        ("kept", true),
        ("owned", true),
        ("theirs", true),
    ] {
        assert_eq!(
            sim.get(&ObjectRef::new("v1", "ConfigMap", "prod", name))
                .await
                .unwrap()
                .is_some(),
            present,
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_commit_that_would_prune_most_of_the_inventory_is_refused_whole() {
    let sim = SimHandle::new(SimCluster::new(std::time::Duration::ZERO));
    let cm = |name: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "prod"}});
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}});
    let all = [ns.clone(), cm("a"), cm("b"), cm("c")];
    let guard = PruneGuard::default();
    sync(&sim, "fledge-system", &all, &BTreeSet::new(), guard.clone())
        .await
        .unwrap();
    let present = async |name: &str| {
        sim.get(&ObjectRef::new("v1", "ConfigMap", "prod", name))
            .await
            .unwrap()
            .is_some()
    };
    // Three of four would go, and a new object would come: neither happens.
    let e = sync(
        &sim,
        "fledge-system",
        &[ns.clone(), cm("new")],
        &BTreeSet::new(),
        guard.clone(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("would prune 3 of the 4 objects")
            && e.contains("--max-prune-share 0.5")
            && e.contains("ConfigMap prod/a"),
        "{e}"
    );
    assert!(present("a").await && !present("new").await);
    // A render with nothing in it prunes nothing, even one object.
    let e = sync(&sim, "fledge-system", &[], &BTreeSet::new(), guard.clone())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("declares no object at all"), "{e}");
    assert!(
        sim.get(&ObjectRef::new("v1", "Namespace", "", "prod"))
            .await
            .unwrap()
            .is_some()
    );
    // Half, or the explicit opt-in, is pruned.
    let r = sync(
        &sim,
        "fledge-system",
        &[ns.clone(), cm("a")],
        &BTreeSet::new(),
        guard,
    )
    .await
    .unwrap();
    assert_eq!(r.pruned.len(), 2);
    let everything = PruneGuard {
        max_share: 1.0,
        destructive: true,
        ..PruneGuard::default()
    };
    let r = sync(&sim, "fledge-system", &[], &BTreeSet::new(), everything)
        .await
        .unwrap();
    assert_eq!(r.pruned.len(), 2);
}

/// A sync with the default guard and nothing kept.
async fn sync_plain(sim: &SimHandle, objects: &[Value]) -> Result<Synced, SyncError> {
    sync(
        sim,
        "fledge-system",
        objects,
        &BTreeSet::new(),
        PruneGuard::default(),
    )
    .await
}

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

fn config_map(ns: &str, name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}})
}

#[tokio::test]
async fn a_namespace_is_pruned_only_when_allowed_and_the_refusal_names_what_would_go() {
    let sim = SimHandle::new(SimCluster::new(std::time::Duration::ZERO));
    let mut all: Vec<Value> = (0..9)
        .map(|i| config_map("keep", &format!("c{i}")))
        .collect();
    all.push(namespace("team-a"));
    sim.apply(&[namespace("keep")]).await.unwrap();
    sync_plain(&sim, &all).await.unwrap();
    // Something in team-a that fledge did not apply (a person's, or a controller's).
    let theirs = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "db", "namespace": "team-a"}, "spec": {}});
    sim.apply(&[theirs]).await.unwrap();
    // One line dropped from a kustomization: one object of ten, far under the share.
    all.pop();
    let e = sync_plain(&sim, &all).await.unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, SyncError::DestructivePrune { .. }), "{text}");
    assert!(
        text.contains("Namespace team-a and everything in it (Deployment db")
            && text.contains("Fledge-Allow-Prune: Namespace/team-a")
            && text.contains("--allow-destructive-prune"),
        "{text}"
    );
    assert!(
        sim.get(&ObjectRef::new("v1", "Namespace", "", "team-a"))
            .await
            .unwrap()
            .is_some()
    );
    // Allowed by a commit's trailer, it goes.
    let guard = PruneGuard {
        allowed: allowances(["Drop team-a\n\nFledge-Allow-Prune: Namespace/team-a\n"]),
        ..PruneGuard::default()
    };
    let r = sync(&sim, "fledge-system", &all, &BTreeSet::new(), guard)
        .await
        .unwrap();
    assert_eq!(r.pruned, ["Namespace team-a"]);
}

#[tokio::test]
async fn objects_the_server_never_took_are_not_counted_against_the_guard() {
    let sim = SimHandle::new(SimCluster::new(std::time::Duration::ZERO));
    sim.apply(&[namespace("prod")]).await.unwrap();
    let good: Vec<Value> = (0..5)
        .map(|i| config_map("prod", &format!("ok{i}")))
        .collect();
    sync_plain(&sim, &good).await.unwrap();
    // A batch the cluster refused (one bad name among eight): recorded, never applied.
    let mut refused = good.clone();
    refused.extend((0..7).map(|i| config_map("prod", &format!("new{i}"))));
    refused.push(config_map("prod", "Bad_Name"));
    assert!(sync_plain(&sim, &refused).await.is_err());
    // The person removes them again: nothing existing is pruned, so the guard has no say.
    let r = sync_plain(&sim, &good).await.unwrap();
    assert!(r.pruned.is_empty(), "{:?}", r.pruned);
    assert_eq!(r.inventory.len(), 5);
}

#[tokio::test]
async fn a_deleted_inventory_is_stood_in_for_by_the_one_last_written() {
    let sim = SimHandle::new(SimCluster::new(std::time::Duration::ZERO));
    sim.apply(&[namespace("prod")]).await.unwrap();
    let all: Vec<Value> = (0..4)
        .map(|i| config_map("prod", &format!("c{i}")))
        .collect();
    let first = sync_plain(&sim, &all).await.unwrap();
    sim.delete(&ObjectRef::new(
        "v1",
        "ConfigMap",
        "fledge-system",
        INVENTORY,
    ))
    .await
    .unwrap();
    // In the same interval, the repository drops c3.
    let r = sync_with(
        &sim,
        &Home::root("fledge-system"),
        &all[..3],
        &BTreeSet::new(),
        &PruneGuard::default(),
        Some(&first.inventory),
    )
    .await
    .unwrap();
    assert!(r.inventory_restored);
    assert_eq!(r.pruned, ["ConfigMap prod/c3"]);
    assert!(
        sim.get(&ObjectRef::new(
            "v1",
            "ConfigMap",
            "fledge-system",
            INVENTORY
        ))
        .await
        .unwrap()
        .is_some()
    );
}

#[tokio::test]
async fn fluxs_ssa_annotations_skip_what_is_ignored_and_create_what_is_not_present_once() {
    let sim = SimHandle::new(SimCluster::new(std::time::Duration::ZERO));
    let cm = |name: &str, ann: Value, v: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "prod", "annotations": ann}, "data": {"v": v}});
    let objects = |v: &str| {
        [
            cm("plain", json!({}), v),
            cm(
                "ignored",
                json!({"kustomize.toolkit.fluxcd.io/ssa": "Ignore"}),
                v,
            ),
            cm(
                "legacy",
                json!({"kustomize.toolkit.fluxcd.io/reconcile": "disabled"}),
                v,
            ),
            cm(
                "seed",
                json!({"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"}),
                v,
            ),
            // As a label too, and whatever the case, as fluxcd/pkg reads them.
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "labelled", "namespace": "prod", "labels": {"kustomize.toolkit.fluxcd.io/ssa": "ignore"}}, "data": {"v": v}}),
        ]
    };
    let value = |name: &str| {
        let sim = sim.clone();
        let name = name.to_owned();
        async move {
            sim.get(&ObjectRef::new("v1", "ConfigMap", "prod", &name))
                .await
                .unwrap()
                .map(|o| o["data"]["v"].as_str().unwrap_or("").to_owned())
        }
    };
    for v in ["1", "2"] {
        let r = sync(
            &sim,
            "fledge-system",
            &objects(v),
            &BTreeSet::new(),
            PruneGuard::default(),
        )
        .await
        .unwrap();
        assert_eq!(r.inventory.len(), 5, "all in the inventory: none is pruned");
    }
    assert_eq!(value("plain").await.as_deref(), Some("2"));
    assert_eq!(value("ignored").await, None);
    assert_eq!(value("legacy").await, None);
    assert_eq!(value("labelled").await, None);
    assert_eq!(
        value("seed").await.as_deref(),
        Some("1"),
        "created once, then left"
    );
}
