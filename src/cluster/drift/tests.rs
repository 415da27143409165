use serde_json::{Value, json};

use super::{compile, keep_live};

/// A Deployment with `replicas` and an `fields` entry per manager: (manager, operation, the
/// fields it owns as FieldsV1).
fn live(replicas: u32, managers: &[(&str, &str, Value)]) -> Value {
    let managed: Vec<Value> = managers
        .iter()
        .map(|(m, op, f)| json!({"manager": m, "operation": op, "apiVersion": "apps/v1", "fieldsType": "FieldsV1", "fieldsV1": f}))
        .collect();
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"tier": "web"}, "managedFields": managed},
        "spec": {"replicas": replicas, "paused": false, "template": {"metadata": {"labels": {"app": "web"}}}},
    })
}

fn desired(replicas: Option<u32>) -> Value {
    let mut d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"template": {"metadata": {"labels": {"app": "web"}}}},
    });
    if let Some(r) = replicas {
        d["spec"]["replicas"] = r.into();
    }
    d
}

fn replicas_owned() -> Value {
    json!({"f:spec": {"f:replicas": {}}})
}

#[test]
fn an_ignored_field_keeps_the_clusters_value_or_is_left_to_its_other_owner() {
    let rules = compile(&[json!({"paths": ["/spec/replicas"]})]).unwrap();
    // Scaled by an HPA (an update, not an apply): fledge keeps owning it, at the live value.
    let mut d = desired(Some(2));
    keep_live(
        &mut d,
        &live(
            5,
            &[
                ("fledge", "Apply", replicas_owned()),
                ("kube-controller-manager", "Update", replicas_owned()),
            ],
        ),
        &rules,
        "fledge",
    );
    assert_eq!(d["spec"]["replicas"], 5);
    // Owned by another apply manager: left out, so fledge stops claiming it.
    let mut d = desired(Some(2));
    keep_live(
        &mut d,
        &live(5, &[("platform", "Apply", replicas_owned())]),
        &rules,
        "fledge",
    );
    assert!(d["spec"].get("replicas").is_none(), "{d}");
    // Unchanged: nothing to do.
    let mut d = desired(Some(5));
    keep_live(&mut d, &live(5, &[]), &rules, "fledge");
    assert_eq!(d["spec"]["replicas"], 5);
    // Left out of Git: kept where fledge owns it (leaving it out would remove it) ...
    let mut d = desired(None);
    keep_live(
        &mut d,
        &live(5, &[("fledge", "Apply", replicas_owned())]),
        &rules,
        "fledge",
    );
    assert_eq!(d["spec"]["replicas"], 5);
    // ... and not taken over where it does not.
    let mut d = desired(None);
    keep_live(&mut d, &live(5, &[]), &rules, "fledge");
    assert!(d["spec"].get("replicas").is_none(), "{d}");
}

#[test]
fn a_rule_is_for_the_objects_its_target_selects() {
    let rules = compile(&[json!({
        "paths": ["/spec/replicas", "/metadata/annotations/a~1b"],
        "target": {"kind": "Deploy.*", "labelSelector": "tier=db"},
    })])
    .unwrap();
    let mut d = desired(Some(2));
    keep_live(&mut d, &live(5, &[]), &rules, "fledge");
    assert_eq!(d["spec"]["replicas"], 2, "labelled tier=web: not selected");
    let mut l = live(5, &[]);
    l["metadata"]["labels"]["tier"] = "db".into();
    l["metadata"]["annotations"] = json!({"a/b": "set by hand"});
    let mut d = desired(Some(2));
    keep_live(&mut d, &l, &rules, "fledge");
    assert_eq!(d["spec"]["replicas"], 5);
    // Set by hand and not fledge's: not taken over (the apply leaves it alone).
    assert!(d["metadata"].get("annotations").is_none(), "{d}");
    // Git sets it too: the cluster's value is kept (`~1` is `/` in a pointer).
    let mut d = desired(Some(2));
    d["metadata"]["annotations"] = json!({"a/b": "from Git"});
    keep_live(&mut d, &l, &rules, "fledge");
    assert_eq!(d["metadata"]["annotations"]["a/b"], "set by hand", "{d}");
}

#[test]
fn malformed_rules_are_refused_naming_the_entry() {
    let e = compile(&[
        json!({"paths": ["/spec/replicas"]}),
        json!({"paths": ["spec"]}),
    ])
    .unwrap_err();
    assert!(
        e.starts_with("spec.ignore[1].paths: \"spec\" is not a JSON pointer"),
        "{e}"
    );
    let e = compile(&[json!({})]).unwrap_err();
    assert!(e.contains("spec.ignore[0].paths"), "{e}");
    let e = compile(&[json!({"paths": ["/a"], "target": {"name": "(unclosed"}})]).unwrap_err();
    assert!(
        e.starts_with("spec.ignore[0].target: invalid regular expression"),
        "{e}"
    );
}
