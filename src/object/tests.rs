use serde_json::json;

use super::*;

#[test]
fn keys() {
    let k = ObjectKey::of(&json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w", "namespace": "p"}})).unwrap();
    assert_eq!(k.to_string(), "Deployment.apps p/w");
    assert!(ObjectKey::of(&json!({"kind": "X"})).is_none());
}
