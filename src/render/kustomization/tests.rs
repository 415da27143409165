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
fn tags_may_be_numbers() {
    let k = Kustomization::from_value(json!({"images": [{"name": "a", "newTag": 1.5}]})).unwrap();
    assert_eq!(k.images[0].new_tag, "1.5");
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
