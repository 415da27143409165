use super::*;
use crate::cluster::SimHandle;
use crate::cluster::sim::SimCluster;

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
            sim.get("v1", "ConfigMap", "prod", name)
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
    sync(&sim, "fledge-system", &all, &BTreeSet::new(), guard)
        .await
        .unwrap();
    let present = async |name: &str| {
        sim.get("v1", "ConfigMap", "prod", name)
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
        guard,
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
    let e = sync(&sim, "fledge-system", &[], &BTreeSet::new(), guard)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("declares no object at all"), "{e}");
    assert!(
        sim.get("v1", "Namespace", "", "prod")
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
    let everything = PruneGuard { max_share: 1.0 };
    let r = sync(&sim, "fledge-system", &[], &BTreeSet::new(), everything)
        .await
        .unwrap();
    assert_eq!(r.pruned.len(), 2);
}
