use serde_json::{Value, json};

use super::{defines, refusal, update_refusal};

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

const MIB: usize = 1024 * 1024;

fn b64(bytes: usize) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(vec![b's'; bytes])
}

fn config_map(data: Value, binary: Value) -> Value {
    let mut o = obj("v1", "ConfigMap", "big");
    o["data"] = data;
    o["binaryData"] = binary;
    o
}

fn secret(data: Value, strings: Value) -> Value {
    let mut o = obj("v1", "Secret", "big");
    o["data"] = data;
    o["stringData"] = strings;
    o
}

#[test]
fn data_over_one_mebibyte_is_refused_counted_as_the_server_counts_it() {
    let none = |_: &str, _: &str| false;
    let too_long = "Too long: may not be more than 1048576 bytes";
    // A ConfigMap: data's text and binaryData's decoded bytes, together.
    let at = config_map(
        json!({"a": "x".repeat(MIB / 2)}),
        json!({"b": b64(MIB / 2)}),
    );
    assert_eq!(refusal(&at, none), None);
    let over = config_map(
        json!({"a": "x".repeat(MIB / 2 + 1)}),
        json!({"b": b64(MIB / 2)}),
    );
    let why = refusal(&over, none).unwrap();
    assert!(
        why.starts_with("ConfigMap prod/big: []: ") && why.contains(too_long),
        "{why}"
    );
    let bad = config_map(json!({}), json!({"b": "!!"}));
    assert!(
        refusal(&bad, none)
            .unwrap()
            .contains("binaryData[b]: illegal base64 data")
    );
    // A Secret: decoded data, each stringData key replacing the same key of data.
    let at = secret(json!({"a": b64(MIB - 1)}), json!({"b": "x"}));
    assert_eq!(refusal(&at, none), None);
    let over = secret(json!({"a": b64(MIB - 1)}), json!({"b": "xy"}));
    let why = refusal(&over, none).unwrap();
    assert!(
        why.starts_with("Secret prod/big: data: ") && why.contains(too_long),
        "{why}"
    );
    let replaced = secret(json!({"a": b64(MIB + 1)}), json!({"a": "small"}));
    assert_eq!(refusal(&replaced, none), None);
}

#[test]
fn annotations_over_256_kibibytes_are_refused_on_any_kind() {
    let none = |_: &str, _: &str| false;
    let mut o = obj("apps/v1", "Deployment", "web");
    o["metadata"]["annotations"] = json!({"k": "v".repeat(256 * 1024 - 1)});
    assert_eq!(refusal(&o, none), None);
    o["metadata"]["annotations"]["l"] = json!("");
    let why = refusal(&o, none).unwrap();
    assert!(
        why.starts_with("Deployment.apps prod/web: metadata.annotations: Too long: may not be more than 262144 bytes"),
        "{why}"
    );
}

#[test]
fn a_request_body_over_three_mebibytes_is_too_large() {
    let none = |_: &str, _: &str| false;
    let o = config_map(json!({"a": "x".repeat(10 * MIB)}), json!({}));
    let why = refusal(&o, none).unwrap();
    assert!(
        why.starts_with("ConfigMap prod/big: Request entity too large: limit is 3145728"),
        "{why}"
    );
}

#[test]
fn updates_of_fields_the_server_never_lets_change_are_refused() {
    let with = |mut o: Value, field: &str, v: Value| {
        o[field] = v;
        o
    };
    let job = |cmd: &str| {
        with(
            obj("batch/v1", "Job", "migrate"),
            "spec",
            json!({"template": {"spec": {"containers": [{"name": "m", "command": [cmd]}]}}}),
        )
    };
    let why = update_refusal(&job("one"), &job("two")).unwrap();
    assert!(
        why.contains("spec.template: Invalid value: field is immutable"),
        "{why}"
    );
    assert_eq!(update_refusal(&job("one"), &job("one")), None);
    // Another field of a Deployment may change; its selector may not.
    let dep = |app: &str, replicas: u32| {
        with(
            obj("apps/v1", "Deployment", "web"),
            "spec",
            json!({"replicas": replicas, "selector": {"matchLabels": {"app": app}}}),
        )
    };
    assert_eq!(update_refusal(&dep("web", 1), &dep("web", 3)), None);
    assert!(update_refusal(&dep("web", 1), &dep("api", 1)).is_some());
    // A Service's cluster IP once set; the data of an immutable ConfigMap.
    let svc = |ip: &str| {
        with(
            obj("v1", "Service", "web"),
            "spec",
            json!({"clusterIP": ip}),
        )
    };
    assert!(
        update_refusal(&svc("10.0.0.1"), &svc("10.0.0.2"))
            .unwrap()
            .contains("may not change once set")
    );
    assert_eq!(
        update_refusal(&svc("10.0.0.1"), &obj("v1", "Service", "web")),
        None
    );
    let cm = |v: &str| {
        with(
            with(obj("v1", "ConfigMap", "c"), "immutable", json!(true)),
            "data",
            json!({"k": v}),
        )
    };
    assert!(
        update_refusal(&cm("1"), &cm("2"))
            .unwrap()
            .contains("field is immutable when `immutable` is set")
    );
    assert_eq!(update_refusal(&cm("1"), &cm("1")), None);
}
