use serde_json::json;

use super::applied_by;

/// A Deployment as the API server returns it after `fledge` applied name, replicas, one
/// container (name, image, a port) and a label, and the HPA's controller set the replicas.
fn live() -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web", "namespace": "prod", "uid": "u", "resourceVersion": "7",
            "labels": {"app": "web", "team": "x"},
            "managedFields": [
                {"manager": "fledge", "operation": "Apply", "fieldsV1": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {
                        "f:selector": {},
                        "f:template": {"f:spec": {"f:containers": {
                            "k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {},
                                "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}}
                        }}}
                    }
                }},
                {"manager": "kube-controller-manager", "operation": "Update", "subresource": "scale",
                 "fieldsV1": {"f:spec": {"f:replicas": {}}}},
                {"manager": "kubectl-label", "operation": "Update",
                 "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}}}}
            ]
        },
        "spec": {
            "replicas": 4,
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"spec": {
                "dnsPolicy": "ClusterFirst",
                "containers": [
                    {"name": "web", "image": "web:2", "terminationMessagePath": "/dev/termination-log",
                     "ports": [{"containerPort": 80, "protocol": "TCP"}]},
                    {"name": "sidecar", "image": "injected:1"}
                ]
            }}
        },
        "status": {"replicas": 4}
    })
}

#[test]
fn a_live_object_cut_down_to_what_the_manager_applied_keeps_no_defaults_and_nothing_of_others() {
    assert_eq!(
        applied_by(&live(), "fledge").unwrap(),
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "prod", "labels": {"app": "web"}},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"spec": {"containers": [
                    {"name": "web", "image": "web:2", "ports": [{"containerPort": 80}]}
                ]}}
            }
        })
    );
}

#[test]
fn an_object_the_manager_never_applied_has_nothing_to_cut_down() {
    assert_eq!(applied_by(&live(), "someone-else"), None);
    let mut no_fields = live();
    no_fields["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    assert_eq!(applied_by(&no_fields, "fledge"), None);
}

#[test]
fn set_items_and_indexed_items_are_matched_by_value_and_position() {
    let o = json!({
        "apiVersion": "v1", "kind": "X", "metadata": {"name": "x", "managedFields": [
            {"manager": "m", "operation": "Apply", "fieldsV1": {
                "f:finalizers": {"v:\"a\"": {}}, "f:list": {"i:1": {}}}}
        ]},
        "finalizers": ["a", "b"], "list": [1, 2, 3]
    });
    let cut = applied_by(&o, "m").unwrap();
    assert_eq!(cut["finalizers"], json!(["a"]));
    assert_eq!(cut["list"], json!([2]));
}
