use super::*;
use serde_json::json;

#[test]
fn paths_split_with_escapes() {
    assert_eq!(
        split_path("metadata/annotations/a.io\\/b"),
        vec!["metadata", "annotations", "a.io/b"]
    );
    assert_eq!(
        split_path("spec/containers[]/image"),
        vec!["spec", "containers", "image"]
    );
}

#[test]
fn visit_walks_sequences_and_creates() {
    let mut v = json!({"spec": {"containers": [{"image": "a"}, {"image": "b"}]}});
    let mut seen = Vec::new();
    visit::<()>(
        &mut v,
        &split_path("spec/containers/image"),
        None,
        &mut |x| {
            seen.push(x.as_str().unwrap().to_owned());
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(seen, ["a", "b"]);
    visit::<()>(
        &mut v,
        &split_path("metadata/labels"),
        Some(Create::Map),
        &mut |x| {
            x.as_object_mut().unwrap().insert("k".into(), json!("v"));
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(v["metadata"]["labels"]["k"], "v");
}
