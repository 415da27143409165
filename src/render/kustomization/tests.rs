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
