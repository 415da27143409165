use super::*;
use serde_json::json;

#[test]
fn paths_parse() {
    assert_eq!(
        parse_path("spec.containers.[name=app].image").unwrap(),
        vec![
            Step::Field("spec".into()),
            Step::Field("containers".into()),
            Step::Match("name".into(), "app".into()),
            Step::Field("image".into())
        ]
    );
    assert_eq!(
        parse_path("data.[a.b]").unwrap(),
        vec![Step::Field("data".into()), Step::Field("a.b".into())]
    );
    assert_eq!(
        parse_path("ports[0].port").unwrap(),
        vec![
            Step::Field("ports".into()),
            Step::Index(0),
            Step::Field("port".into())
        ]
    );
}

#[test]
fn expansion() {
    let vars = vec![("A".to_owned(), json!("x")), ("N".to_owned(), json!(3))];
    assert_eq!(expand("$(A)-$(B)-$$(A)", &vars), "x-$(B)-$(A)");
    let mut v = json!("$(N)");
    expand_node(&mut v, &vars).unwrap();
    assert_eq!(v, json!(3));
    let mut list = json!(["$(A)", 5]);
    assert!(expand_node(&mut list, &vars).is_err());
}

#[test]
fn replacement_keeps_target_type_and_delimits() {
    let mut rs = vec![
        Resource::new(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "src"},
                             "data": {"port": "9090", "img": "reg/app:1.2"}}),
        ),
        Resource::new(
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"},
                             "spec": {"ports": [{"port": 80}]}}),
        ),
    ];
    replacement(
        &mut rs,
        &json!({"source": {"kind": "ConfigMap", "name": "src", "fieldPath": "data.port"},
        "targets": [{"select": {"kind": "Service"}, "fieldPaths": ["spec.ports.0.port"]}]}),
    )
    .unwrap();
    assert_eq!(rs[1].value["spec"]["ports"][0]["port"], json!(9090));
    replacement(
        &mut rs,
        &json!({"source": {"kind": "ConfigMap", "name": "src", "fieldPath": "data.img",
            "options": {"delimiter": ":", "index": 1}},
        "targets": [{"select": {"kind": "Service"}, "fieldPaths": ["metadata.annotations.tag"],
                     "options": {"create": true}}]}),
    )
    .unwrap();
    assert_eq!(rs[1].value["metadata"]["annotations"]["tag"], "1.2");
    let missing = replacement(
        &mut rs,
        &json!({"source": {"kind": "ConfigMap", "name": "nope"},
        "targets": [{"select": {"kind": "Service"}}]}),
    );
    assert!(missing.unwrap_err().contains("not found"));
}

#[test]
fn a_replacement_field_of_the_wrong_shape_is_named() {
    let e = replacement(
        &mut [],
        &json!({"source": {"kind": "ConfigMap"}, "targets": "x"}),
    )
    .unwrap_err();
    assert!(
        e.starts_with("invalid replacement: field `targets`: ")
            && e.contains("expected a sequence"),
        "{e}"
    );
}
