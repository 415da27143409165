use super::*;
use serde_json::json;

#[test]
fn merges_containers_by_name_and_env_by_name() {
    let mut t = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "a", "image": "x", "env": [{"name": "A", "value": "1"}]},
        {"name": "b", "image": "y"}]}}}});
    let p = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "a", "env": [{"name": "B", "value": "2"}, {"name": "A", "value": "3"}]},
        {"name": "c", "image": "z"}]}}}});
    apply(&mut t, &p, "apps", "Deployment");
    let cs = &t["spec"]["template"]["spec"]["containers"];
    assert_eq!(cs[0]["image"], "x");
    assert_eq!(
        cs[0]["env"],
        json!([{"name": "B", "value": "2"}, {"name": "A", "value": "3"}])
    );
    assert_eq!(cs[1]["name"], "c");
    assert_eq!(cs[2]["name"], "b");
}

#[test]
fn lists_without_keys_are_replaced_and_nulls_delete() {
    let mut t = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "args": ["1", "2"]}],
                                                     "tolerations": [{"key": "x"}]}}, "paused": true}});
    let p = json!({"spec": {"paused": null, "template": {"spec": {"containers": [{"name": "a", "args": ["3"]}],
                                                          "tolerations": [{"key": "y"}]}}}});
    apply(&mut t, &p, "apps", "Deployment");
    assert_eq!(
        t["spec"]["template"]["spec"]["containers"][0]["args"],
        json!(["3"])
    );
    assert_eq!(
        t["spec"]["template"]["spec"]["tolerations"],
        json!([{"key": "y"}])
    );
    assert!(t["spec"].get("paused").is_none());
}

#[test]
fn delete_and_replace_directives() {
    let mut t = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}], "sel": {"x": "1", "y": "2"}}});
    let p = json!({"spec": {"containers": [{"name": "a", "$patch": "delete"}],
                            "sel": {"$patch": "replace", "z": "3"}}});
    apply(&mut t, &p, "", "Pod");
    assert_eq!(t["spec"]["containers"], json!([{"name": "b"}]));
    assert_eq!(t["spec"]["sel"], json!({"z": "3"}));
    assert_eq!(
        apply(&mut t, &json!({"$patch": "delete"}), "", "Pod"),
        Outcome::Delete
    );
}

#[test]
fn custom_resources_replace_lists() {
    // Checked against kubectl kustomize: without a schema every list is replaced, even
    // lists of maps that all carry a `name`.
    let mut t = json!({"spec": {"items": [{"name": "a", "v": 1}, {"name": "b", "v": 2}],
                                "nested": {"containers": [{"name": "a"}, {"name": "b"}]}}});
    let p = json!({"spec": {"items": [{"name": "b", "v": 3}],
                            "nested": {"containers": [{"name": "b", "image": "z"}]}}});
    apply(&mut t, &p, "example.com", "Thing");
    assert_eq!(t["spec"]["items"], json!([{"name": "b", "v": 3}]));
    assert_eq!(
        t["spec"]["nested"]["containers"],
        json!([{"name": "b", "image": "z"}])
    );
}
