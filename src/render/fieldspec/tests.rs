use super::*;
use serde_json::json;

#[test]
fn paths_split_with_escapes() {
    assert_eq!(
        split_path("metadata/annotations/a.io\\/b"),
        vec!["metadata", "annotations", "a.io/b"]
    );
    // A list mark stays: `visit` walks the list but never creates it.
    assert_eq!(
        split_path("spec/containers[]/image"),
        vec!["spec", "containers[]", "image"]
    );
}

#[test]
fn visit_creates_no_list_and_refuses_a_scalar_on_the_way() {
    let mut v = json!({"spec": {"name": "x"}});
    let mut seen = 0;
    visit(
        &mut v,
        &split_path("spec/templates[]/metadata/labels"),
        Some(Create::Map),
        &mut |_| {
            seen += 1;
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(seen, 0);
    assert_eq!(v, json!({"spec": {"name": "x"}}));
    let e = visit(&mut v, &split_path("spec/name/labels"), None, &mut |_| {
        Ok(())
    })
    .unwrap_err();
    assert!(e.contains("`labels`"), "{e}");
}

#[test]
fn visit_walks_sequences_and_creates() {
    let mut v = json!({"spec": {"containers": [{"image": "a"}, {"image": "b"}]}});
    let mut seen = Vec::new();
    visit(
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
    visit(
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
