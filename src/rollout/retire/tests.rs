use serde_json::json;

use super::*;

fn target(replicas: i64, ready: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "namespace": "shop", "generation": 2},
           "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}},
           "status": {"observedGeneration": 2, "replicas": ready, "updatedReplicas": ready,
                      "availableReplicas": ready, "readyReplicas": ready}})
}

fn web() -> ObjectRef {
    ObjectRef::new("apps/v1", "Deployment", "shop", "web")
}

#[test]
fn a_release_records_its_objects_and_reads_them_back_in_its_namespace() {
    let refs = vec![
        ObjectRef::new("apps/v1", "Deployment", "shop", "web-primary"),
        ObjectRef::new("v1", "Service", "shop", "web"),
    ];
    let release = json!({"metadata": {"name": "web", "namespace": "shop"},
                         "spec": {"objects": record(&refs)}});
    assert_eq!(recorded(&release), refs);
    assert!(recorded(&json!({"metadata": {"namespace": "shop"}, "spec": {}})).is_empty());
}

#[test]
fn traffic_moves_only_to_a_target_that_is_scaled_up_and_ready() {
    let t = web();
    assert!(
        not_ready(&t, None, None)
            .unwrap()
            .contains("does not exist")
    );
    // Still at the rollout's zero: Git's replicas are not applied yet.
    let zero = not_ready(&t, Some(&target(0, 0)), Some(&target(2, 0))).unwrap();
    assert!(zero.contains("still scaled to zero"), "{zero}");
    // Git itself says zero: nothing to wait for.
    assert_eq!(
        not_ready(&t, Some(&target(0, 0)), Some(&target(0, 0))),
        None
    );
    let starting = not_ready(&t, Some(&target(2, 1)), None).unwrap();
    assert!(starting.contains("not ready"), "{starting}");
    assert_eq!(not_ready(&t, Some(&target(2, 2)), None), None);
    let mut ds = target(2, 2);
    ds["kind"] = json!("DaemonSet");
    ds["spec"]["template"]["spec"]["nodeSelector"][keys::SCALE_TO_ZERO] = json!("true");
    let d = ObjectRef::new("apps/v1", "DaemonSet", "shop", "web");
    assert!(
        not_ready(&d, Some(&ds), None)
            .unwrap()
            .contains("still scaled to zero")
    );
}

#[test]
fn the_apex_selects_the_targets_pods_and_is_no_longer_the_releases() {
    let live = json!({"apiVersion": "v1", "kind": "Service",
                      "metadata": {"name": "web", "namespace": "shop", "uid": "u", "resourceVersion": "7",
                                   "labels": {"app": "web", keys::RELEASE_LABEL: "web"}},
                      "spec": {"type": "ClusterIP", "selector": {"app": "web-primary"},
                               "ports": [{"name": "http", "port": 80}], "clusterIP": "10.0.0.1"}});
    let svc = repointed(&live, "app", "web");
    assert_eq!(svc["spec"]["selector"], json!({"app": "web"}));
    assert_eq!(svc["metadata"]["labels"], json!({"app": "web"}));
    assert_eq!(svc["spec"]["ports"], live["spec"]["ports"]);
    assert!(svc["metadata"]["resourceVersion"].is_null());
}

#[test]
fn routes_go_before_the_services_they_send_to_and_workloads_before_their_configs() {
    let mut kinds = vec![
        "ConfigMap",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "VirtualService",
        "Secret",
        "Ingress",
    ];
    kinds.sort_by_key(|k| deletion_rank(k));
    assert_eq!(
        kinds,
        [
            "VirtualService",
            "Ingress",
            "Service",
            "HorizontalPodAutoscaler",
            "Deployment",
            "ConfigMap",
            "Secret"
        ]
    );
}

#[test]
fn a_retiring_release_says_why_in_its_ready_condition() {
    let live = json!({"apiVersion": "fledge.dev/v1alpha1", "kind": "Release",
                      "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "3"},
                      "status": {"phase": "Succeeded", "conditions": [{"type": "Ready", "status": "True"}]}});
    let o = retiring_status(&live, "waiting", 0);
    assert_eq!(o["status"]["phase"], "Succeeded");
    assert_eq!(
        o["status"]["conditions"][0],
        json!({"type": "Ready", "status": "False", "reason": REASON, "message": "waiting",
               "lastTransitionTime": "1970-01-01T00:00:00Z"})
    );
}
