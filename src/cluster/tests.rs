use super::*;
use serde_json::json;

/// The same sequence against any implementation.
async fn round_trip(c: &impl Cluster) {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "prod"}, "data": {"k": "v"}});
    let stored = c.apply(std::slice::from_ref(&cm)).await.unwrap();
    assert_eq!(stored[0]["data"]["k"], "v");
    assert!(
        c.get("v1", "ConfigMap", "prod", "a")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(c.list("v1", "ConfigMap", "prod").await.unwrap().len(), 1);
    c.delete(&cm).await.unwrap();
    c.delete(&cm).await.unwrap();
    assert!(
        c.get("v1", "ConfigMap", "prod", "a")
            .await
            .unwrap()
            .is_none()
    );
    // All or nothing: a malformed object in the batch means nothing is applied.
    assert!(
        c.apply(&[cm.clone(), json!({"kind": "ConfigMap"})])
            .await
            .is_err()
    );
    assert!(
        c.get("v1", "ConfigMap", "prod", "a")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn the_simulated_cluster_behind_the_trait() {
    round_trip(&SimHandle::new(sim::SimCluster::new(
        std::time::Duration::ZERO,
    )))
    .await;
}
