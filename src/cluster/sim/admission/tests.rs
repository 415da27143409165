use serde_json::{Value, json};

use super::{defines, refusal};

fn obj(api: &str, kind: &str, name: &str) -> Value {
    json!({"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": "prod"}})
}

#[test]
fn names_the_real_server_refuses_are_refused() {
    let none = |_: &str, _: &str| false;
    assert_eq!(refusal(&obj("v1", "ConfigMap", "web.config-1"), none), None);
    for bad in ["Web", "web_1", "-web", "web.", &"a".repeat(254)] {
        let why = refusal(&obj("v1", "ConfigMap", bad), none).unwrap();
        assert!(why.contains("metadata.name") && why.contains(bad), "{why}");
    }
    // Services and Namespaces take labels: no dots, at most 63 characters.
    assert!(refusal(&obj("v1", "Service", "web.x"), none).is_some());
    assert!(refusal(&obj("v1", "Service", &"a".repeat(64)), none).is_some());
    assert_eq!(
        refusal(&obj("v1", "ConfigMap", &"a".repeat(64)), none),
        None
    );
    // RBAC names are path segments.
    let role = obj(
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
        "system:fledge",
    );
    assert_eq!(refusal(&role, none), None);
}

#[test]
fn unknown_kinds_are_refused_until_their_definition_is_there() {
    let widget = obj("example.com/v1", "Widget", "w");
    let none = |_: &str, _: &str| false;
    let why = refusal(&widget, none).unwrap();
    assert!(why.contains("no matches for kind \"Widget\""), "{why}");
    let crd = json!({"kind": "CustomResourceDefinition",
        "spec": {"group": "example.com", "names": {"kind": "Widget"}}});
    assert_eq!(refusal(&widget, |g, k| defines(&crd, g, k)), None);
    let routed = obj("networking.istio.io/v1beta1", "VirtualService", "v");
    assert_eq!(refusal(&routed, none), None);
    // Every built-in group is served, as by a real server.
    let event = obj("events.k8s.io/v1", "Event", "e");
    assert_eq!(refusal(&event, none), None);
}

#[test]
fn secret_data_must_be_base64() {
    let mut s = obj("v1", "Secret", "s");
    s["data"] = json!({"ok": "aGk=", "bad": "not base64!"});
    assert_eq!(
        refusal(&s, |_, _| false).unwrap(),
        "Secret prod/s: data[bad]: illegal base64 data"
    );
}
