use serde_json::json;

use super::*;

#[test]
fn keys() {
    let k = ObjectKey::of(&json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w", "namespace": "p"}})).unwrap();
    assert_eq!(k.to_string(), "Deployment.apps p/w");
    assert!(ObjectKey::of(&json!({"kind": "X"})).is_none());
}

#[test]
fn secret_problems_name_the_field_and_never_the_value() {
    let bad = json!({"kind": "Secret", "data": {"token": ["hunter2-value"], "key": "not base64!", "ok": "aGVs\nbG8="},
                     "stringData": {"port": 8080, "fine": "x", "bad key": "v"}});
    let problems = secret_problems(&bad);
    assert_eq!(
        problems,
        [
            "data.key: not valid base64 (put plain text under stringData instead)",
            "data.token: not a string (a Secret's data values are base64 strings)",
            "stringData: key `bad key` is not a valid key (letters, digits, `-`, `_` and `.`)",
            "stringData.port: not a string (quote it)",
        ]
    );
    assert!(!problems.iter().any(|p| p.contains("hunter2")));
    let good = json!({"kind": "Secret", "data": {"a": "aGVsbG8="}, "stringData": {"b": "plain"}});
    assert!(secret_problems(&good).is_empty());
    assert_eq!(
        secret_problems(&json!({"data": "x"})),
        ["data: not a map of keys to values"]
    );
}
