//! The simulated cluster refuses what the real API server refuses for size, and takes what it
//! takes: each object is applied to both, through `SimHandle` and `KubeCluster`, and both must
//! agree — refused with the same words of the server, naming the object, or accepted.

use std::time::Duration;

use base64::Engine as _;
use fledge::cluster::sim::SimCluster;
use fledge::cluster::{Cluster, SimHandle};
use fledge::object::ObjectRef;
use serde_json::{Value, json};

use crate::support::testcluster::or_skip;

const MIB: usize = 1024 * 1024;
const TOO_LONG_DATA: &str = "Too long: may not be more than 1048576 bytes";
const TOO_LARGE: &str = "Request entity too large: limit is 3145728";
const TOO_LONG_ANNOTATIONS: &str =
    "metadata.annotations: Too long: may not be more than 262144 bytes";

fn b64(bytes: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(vec![b's'; bytes])
}

fn object(kind: &str, ns: &str, name: &str, fields: &Value) -> Value {
    let mut o = json!({"apiVersion": "v1", "kind": kind,
        "metadata": {"name": name, "namespace": ns}});
    for (k, v) in fields.as_object().unwrap() {
        o[k] = v.clone();
    }
    o
}

/// A ConfigMap whose compact JSON (the body fledge sends) is exactly `body` bytes.
fn config_map_of_body(ns: &str, name: &str, body: usize) -> Value {
    let mut o = object("ConfigMap", ns, name, &json!({"data": {"a": ""}}));
    let empty = serde_json::to_vec(&o).unwrap().len();
    o["data"]["a"] = json!("x".repeat(body - empty));
    assert_eq!(serde_json::to_vec(&o).unwrap().len(), body);
    o
}

/// Each object, and the words both refusals must carry (`None`: both accept it).
fn cases(ns: &str) -> Vec<(Value, Option<&'static str>)> {
    let cm = |name: &str, fields: Value| object("ConfigMap", ns, name, &fields);
    let secret = |name: &str, fields: Value| object("Secret", ns, name, &fields);
    let annotated = |name: &str, bytes: usize| {
        let mut o = object("ServiceAccount", ns, name, &json!({}));
        o["metadata"]["annotations"] = json!({"k": "v".repeat(bytes - 1)});
        o
    };
    vec![
        (
            cm(
                "data-at-limit",
                json!({"data": {"a": "x".repeat(MIB - 1), "b": "y"}}),
            ),
            None,
        ),
        (
            cm(
                "data-over",
                json!({"data": {"a": "x".repeat(MIB), "b": "y"}}),
            ),
            Some(TOO_LONG_DATA),
        ),
        // binaryData counts decoded: its base64 is longer than the limit, its bytes are not.
        (
            cm(
                "binary-at-limit",
                json!({"data": {"a": "x".repeat(MIB / 2)}, "binaryData": {"b": b64(MIB / 2)}}),
            ),
            None,
        ),
        (
            cm(
                "binary-over",
                json!({"data": {"a": "x".repeat(MIB / 2)}, "binaryData": {"b": b64(MIB / 2 + 1)}}),
            ),
            Some(TOO_LONG_DATA),
        ),
        (
            cm(
                "ten-mebibytes",
                json!({"data": {"a": "x".repeat(10 * MIB)}}),
            ),
            Some(TOO_LARGE),
        ),
        // The body limit is exact: at 3 MiB the body is read and the data refused; one byte
        // more and the body is not read at all.
        (
            config_map_of_body(ns, "body-at-limit", 3 * MIB),
            Some(TOO_LONG_DATA),
        ),
        (
            config_map_of_body(ns, "body-over", 3 * MIB + 1),
            Some(TOO_LARGE),
        ),
        (
            secret(
                "secret-at-limit",
                json!({"data": {"a": b64(MIB - 1)}, "stringData": {"b": "x"}}),
            ),
            None,
        ),
        (
            secret(
                "secret-over",
                json!({"data": {"a": b64(MIB - 1)}, "stringData": {"b": "xy"}}),
            ),
            Some(TOO_LONG_DATA),
        ),
        // stringData replaces the same key of data before the size is checked.
        (
            secret(
                "secret-replaced",
                json!({"data": {"a": b64(MIB + 1)}, "stringData": {"a": "small"}}),
            ),
            None,
        ),
        (annotated("annotations-at-limit", 256 * 1024), None),
        (
            annotated("annotations-over", 256 * 1024 + 1),
            Some(TOO_LONG_ANNOTATIONS),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn the_simulator_refuses_what_the_real_server_refuses_for_size() {
    let Some(c) = or_skip() else { return };
    let ns = c.namespace("admission");
    let kube = c.kube().await;
    let sim = SimHandle::new(SimCluster::new(Duration::ZERO));
    let mut wrong = Vec::new();
    for (obj, words) in cases(&ns) {
        let name = obj["metadata"]["name"].as_str().unwrap().to_owned();
        let real = Cluster::apply(&kube, std::slice::from_ref(&obj)).await;
        let simulated = sim.apply(std::slice::from_ref(&obj)).await;
        let agree = match (&real, &simulated, words) {
            (Ok(_), Ok(_), None) => true,
            (Err(r), Err(s), Some(words)) => {
                let (r, s) = (r.to_string(), s.to_string());
                [&r, &s]
                    .iter()
                    .all(|m| m.contains(words) && m.contains(&format!("{ns}/{name}")))
            }
            _ => false,
        };
        if !agree {
            let show = |r: &Result<Vec<Value>, fledge::cluster::Error>| match r {
                Ok(_) => "accepted".to_owned(),
                Err(e) => e.to_string().chars().take(400).collect(),
            };
            wrong.push(format!(
                "{name} (expected: {}):\n  real:      {}\n  simulated: {}",
                words.unwrap_or("accepted"),
                show(&real),
                show(&simulated)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_over_a_limit_refuses_its_whole_batch_on_both() {
    let Some(c) = or_skip() else { return };
    let ns = c.namespace("admission-batch");
    let kube = c.kube().await;
    let sim = SimHandle::new(SimCluster::new(Duration::ZERO));
    let small = object("ConfigMap", &ns, "small", &json!({"data": {"a": "b"}}));
    for over in [
        object(
            "ConfigMap",
            &ns,
            "over",
            &json!({"data": {"a": "x".repeat(MIB + 1)}}),
        ),
        object(
            "ConfigMap",
            &ns,
            "huge",
            &json!({"data": {"a": "x".repeat(10 * MIB)}}),
        ),
    ] {
        let batch = [small.clone(), over];
        let real = Cluster::apply(&kube, &batch).await.unwrap_err().to_string();
        let simulated = sim.apply(&batch).await.unwrap_err().to_string();
        let name = batch[1]["metadata"]["name"].as_str().unwrap();
        for e in [&real, &simulated] {
            assert!(e.contains(&format!("{ns}/{name}")), "{e}");
        }
        assert!(
            kube.get(&ObjectRef::new("v1", "ConfigMap", &ns, "small"))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            sim.get(&ObjectRef::new("v1", "ConfigMap", &ns, "small"))
                .await
                .unwrap()
                .is_none()
        );
    }
}
