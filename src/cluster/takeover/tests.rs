use serde_json::{Value, json};

use super::{folded, managed_fields, patch};

fn entry(manager: &str, operation: &str, fields: &Value) -> Value {
    json!({"manager": manager, "operation": operation, "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": fields})
}

fn stored(entries: &[Value], annotations: &Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "n", "resourceVersion": "7",
            "annotations": annotations, "managedFields": entries},
        "data": {"k": "v", "extra": "x"}})
}

fn desired() -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}, "data": {"k": "v"}})
}

#[test]
fn kubectls_fields_become_fledges_and_its_annotation_goes() {
    let ours = entry("fledge", "Apply", &json!({"f:data": {"f:k": {}}}));
    let edit = entry(
        "kubectl-edit",
        "Update",
        &json!({"f:data": {"f:extra": {}}}),
    );
    let hpa = entry(
        "kube-controller-manager",
        "Update",
        &json!({"f:data": {"f:z": {}}}),
    );
    let status = json!({"manager": "kubectl-edit", "operation": "Update", "subresource": "status", "fieldsV1": {}});
    let last = json!({"kubectl.kubernetes.io/last-applied-configuration": "{}", "keep": "1"});
    let o = stored(&[ours, edit, hpa.clone(), status.clone()], &last);
    let p = patch(&desired(), &o, "fledge").unwrap();
    assert_eq!(
        p,
        json!({"metadata": {
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": null},
            "managedFields": [hpa, status,
                entry("fledge", "Apply", &json!({"f:data": {"f:k": {}, "f:extra": {}}}))],
            "resourceVersion": "7"}})
    );
}

#[test]
fn the_first_manager_taken_over_becomes_fledges_apply_entry_when_it_has_none() {
    let flux = entry(
        "kustomize-controller",
        "Apply",
        &json!({"f:data": {"f:k": {}}}),
    );
    let kubectl = entry("kubectl", "Apply", &json!({"f:data": {"f:extra": {}}}));
    let o = stored(&[flux, kubectl], &json!({}));
    let entries = managed_fields(&desired(), &o, "fledge").unwrap();
    assert_eq!(
        entries,
        [entry(
            "fledge",
            "Apply",
            &json!({"f:data": {"f:k": {}, "f:extra": {}}})
        )]
    );
    // keep_live sees the object as the apply will.
    assert_eq!(
        folded(&desired(), &o, "fledge")["metadata"]["managedFields"],
        json!(entries)
    );
}

#[test]
fn nothing_is_taken_over_from_an_object_that_asks_merge_or_has_nothing_to_give() {
    let edit = entry(
        "kubectl-edit",
        "Update",
        &json!({"f:data": {"f:extra": {}}}),
    );
    let last = json!({"kubectl.kubernetes.io/last-applied-configuration": "{}"});
    let o = stored(std::slice::from_ref(&edit), &last.clone());
    let mut merge = desired();
    merge["metadata"]["annotations"] = json!({"kustomize.toolkit.fluxcd.io/ssa": "merge"});
    assert_eq!(patch(&merge, &o, "fledge"), None);
    let mut live_merge = o.clone();
    live_merge["metadata"]["labels"] = json!({"kustomize.toolkit.fluxcd.io/ssa": "Merge"});
    assert_eq!(patch(&desired(), &live_merge, "fledge"), None);
    assert_eq!(folded(&merge, &o, "fledge"), o);
    // Only fledge's own apply and other controllers: nothing to do.
    let ours = entry("fledge", "Apply", &json!({"f:data": {"f:k": {}}}));
    let other = entry("flagger", "Apply", &json!({"f:data": {"f:extra": {}}}));
    assert_eq!(
        patch(&desired(), &stored(&[ours, other], &json!({})), "fledge"),
        None
    );
    // An annotation Git sets itself stays.
    let mut kept = desired();
    kept["metadata"]["annotations"] = last.clone();
    assert_eq!(patch(&kept, &stored(&[], &last), "fledge"), None);
}
