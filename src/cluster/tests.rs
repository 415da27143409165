use super::*;
use crate::object::ObjectRef;
use serde_json::json;

/// The same sequence against any implementation.
async fn round_trip(c: &impl Cluster) {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "prod"}, "data": {"k": "v"}});
    let stored = c.apply(std::slice::from_ref(&cm)).await.unwrap();
    assert_eq!(stored[0]["data"]["k"], "v");
    assert!(
        c.get(&ObjectRef::new("v1", "ConfigMap", "prod", "a"))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(c.list("v1", "ConfigMap", "prod").await.unwrap().len(), 1);
    let r = ObjectRef::of(&cm).unwrap();
    c.delete(&r).await.unwrap();
    c.delete(&r).await.unwrap();
    assert!(
        c.get(&ObjectRef::new("v1", "ConfigMap", "prod", "a"))
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
        c.get(&ObjectRef::new("v1", "ConfigMap", "prod", "a"))
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

#[test]
fn a_servers_message_about_a_secret_is_passed_on_only_when_it_cannot_hold_a_value() {
    let size = "Secret \"creds\" is invalid: data: Too long: may not be more than 1048576 bytes";
    assert_eq!(kube::withheld(size, "Invalid"), size);
    let typed = "failed to create typed patch object (prod/creds; /v1, Kind=Secret): .data.token: expected string, got &value.valueUnstructured{Value:[]interface {}{\"hunter2\"}}";
    let said = kube::withheld(typed, "InternalError");
    assert!(
        said.contains("data.token") && !said.contains("hunter2"),
        "{said}"
    );
    let quoted = "Secret \"creds\" is invalid: data[token]: Invalid value: \"hunter2\": bad";
    assert!(!kube::withheld(quoted, "Invalid").contains("hunter2"));
}
