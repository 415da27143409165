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
    sync(&sim, "fledge-system", &first, &BTreeSet::new())
        .await
        .unwrap();
    let owned = ObjectKey::of(&first[3]).unwrap();
    let r = sync(
        &sim,
        "fledge-system",
        &[cm("a", json!({}))],
        &BTreeSet::from([owned]),
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
