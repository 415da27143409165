use super::*;
use serde_json::json;

#[test]
fn unsupported_and_unknown_fields_are_named() {
    let e = Kustomization::from_value(json!({"helmCharts": []})).unwrap_err();
    assert!(matches!(e, FieldError::Unsupported { ref field, .. } if field == "helmCharts"));
    let e = Kustomization::from_value(json!({"resourcez": []})).unwrap_err();
    assert_eq!(
        e,
        FieldError::Unknown {
            field: "resourcez".into()
        }
    );
}

#[test]
fn strings_must_be_strings() {
    // kustomize's Go types refuse a number where they take a string ("cannot unmarshal number").
    assert!(Kustomization::from_value(json!({"images": [{"name": "a", "newTag": 1.5}]})).is_err());
    assert!(Kustomization::from_value(json!({"commonAnnotations": {"a": 1}})).is_err());
    assert!(Kustomization::from_value(json!({"labels": [{"pairs": {"a": true}}]})).is_err());
    let k = Kustomization::from_value(json!({"commonLabels": {"a": null, "b": "01"}})).unwrap();
    assert_eq!(k.common_labels["a"], "");
}

#[test]
fn field_names_fold_case_as_go_does() {
    let k = Kustomization::from_value(json!({
        "nameprefix": "p-",
        "ConfigMapGenerator": [{"Name": "c", "LITERALS": ["a=b"]}],
        "patchesJSON6902": [{"target": {"Kind": "Service"}, "path": "p.yaml"}],
    }))
    .unwrap();
    assert_eq!(k.name_prefix, "p-");
    assert_eq!(k.config_map_generator[0].name, "c");
    assert_eq!(k.config_map_generator[0].literals, ["a=b"]);
    assert_eq!(
        k.patches_json6902[0].target.as_ref().unwrap().kind,
        "Service"
    );
}

#[test]
fn a_list_field_that_is_not_a_list_is_named() {
    for field in [
        "resources",
        "bases",
        "components",
        "patches",
        "patchesStrategicMerge",
        "patchesJson6902",
        "configMapGenerator",
        "secretGenerator",
        "images",
        "imageTags",
        "replicas",
        "replacements",
        "vars",
        "labels",
        "configurations",
        "generators",
        "transformers",
        "buildMetadata",
    ] {
        let e = Kustomization::from_value(json!({field: "deployment.yaml"})).unwrap_err();
        let FieldError::Invalid { message } = e else {
            panic!("{field}: {e:?}")
        };
        assert!(
            message.starts_with(&format!("field `{field}`: "))
                && message.contains("expected a sequence"),
            "{message}"
        );
    }
}

#[test]
fn a_nested_field_of_the_wrong_shape_is_named_with_its_path() {
    for (k, path) in [
        (
            json!({"configMapGenerator": [{"name": "x", "literals": "a=b"}]}),
            "configMapGenerator[0].literals",
        ),
        (
            json!({"patches": [{"path": "p.yaml", "target": "Deployment"}]}),
            "patches[0].target",
        ),
        (
            json!({"images": [{"name": "a"}, {"name": "b", "newTag": [1]}]}),
            "images[1].newTag",
        ),
        (json!({"commonLabels": ["a"]}), "commonLabels"),
    ] {
        let e = Kustomization::from_value(k).unwrap_err();
        let FieldError::Invalid { message } = e else {
            panic!("{path}: {e:?}")
        };
        assert!(
            message.starts_with(&format!("field `{path}`: ")),
            "{message}"
        );
    }
}
