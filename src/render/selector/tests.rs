use super::*;
use serde_json::json;

fn res(labels: &Value) -> Resource {
    Resource::new(json!({"apiVersion": "apps/v1", "kind": "Deployment",
                         "metadata": {"name": "web-1", "labels": labels}}))
}

#[test]
fn regex_is_anchored() {
    let m = Matcher::new(&Selector {
        name: "web".into(),
        ..Selector::default()
    })
    .unwrap();
    assert!(!m.matches(&res(&json!({}))));
    let m = Matcher::new(&Selector {
        name: "web-.*".into(),
        kind: "Deploy.*".into(),
        ..Selector::default()
    })
    .unwrap();
    assert!(m.matches(&res(&json!({}))));
}

#[test]
fn label_selectors() {
    let sel = |s: &str| {
        Matcher::new(&Selector {
            label_selector: s.into(),
            ..Selector::default()
        })
        .unwrap()
    };
    let r = res(&json!({"app": "a", "tier": "web"}));
    assert!(sel("app=a,tier in (web, db)").matches(&r));
    assert!(!sel("app!=a").matches(&r));
    assert!(sel("!missing,app").matches(&r));
    assert!(!sel("tier notin (web)").matches(&r));
    assert!(
        Matcher::new(&Selector {
            label_selector: "a in b".into(),
            ..Selector::default()
        })
        .is_err()
    );
}
