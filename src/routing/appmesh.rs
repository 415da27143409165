//! `appmesh:v1beta2`: App Mesh's v1beta2 objects (`appmesh.k8s.aws/v1beta2`), as Flagger's
//! `AppMeshv1beta2Router` writes them:
//!
//! - two VirtualNodes, `<svc>-primary` and `<svc>-canary`, each selecting its pods by the
//!   target's selector label (`<target>-primary`, `<target>`), listening on the target port
//!   (`grpc` when the port name says so, else `http`), found by the DNS name of its Service
//!   (`<svc>-primary.<ns>.svc.cluster.local.`), with `service.backends` as virtual-service
//!   backends (an `arn:aws…` by ARN, anything else by name), the Canary's
//!   `appmesh.flagger.app/accesslog: enabled` as an access log to stdout, and the apex
//!   Service's metadata;
//! - a VirtualRouter and a VirtualService `<svc>` whose one route sends requests under the
//!   first service match's URI prefix (`/` without one) to the canary and the primary by
//!   weight; with analysis matches, a route `<svc>-a` (priority 10) for requests with the
//!   matches' headers carries the weights and a route `<svc>-b` (priority 20) sends the rest
//!   to the primary. With `service.hosts`, the VirtualService carries App Mesh gateway's
//!   annotations (`gateway.appmesh.k8s.aws/expose`, `domain`, `timeout`, `retries`);
//! - a VirtualRouter and a VirtualService `<svc>-canary` sending everything to the canary.
//!
//! `service.timeout` is each route's and listener's per-request timeout, `service.retries` each
//! route's retry policy (one retry on `gateway-error` within 250 ms unless it says otherwise).
//! The mesh is not named: App Mesh's controller joins the objects to the mesh selecting their
//! namespace (`service.meshName`, which only Flagger's v1beta1 router reads, is reported as
//! unused by the Canary's parse).

mod v1beta1;

use serde_json::{Map, Value, json};

use super::{Error, RouteInput, Router, metadata};
use crate::keys;
use crate::release::ReleaseSpec;
use crate::release::spec::{Provider, parse_duration};

pub(crate) struct AppMesh;

pub(crate) use v1beta1::AppMeshV1beta1;

const API_VERSION: &str = "appmesh.k8s.aws/v1beta2";

/// The suffix of a Service's DNS name as Flagger writes it in a VirtualNode.
const DNS_SUFFIX: &str = "svc.cluster.local.";

/// `service.timeout` as App Mesh's duration in milliseconds, when Go parses it.
fn timeout(spec: &ReleaseSpec) -> Option<Value> {
    let t = spec.service.raw["timeout"].as_str()?;
    let d = parse_duration(t)?;
    Some(json!({"unit": "ms", "value": millis(d)}))
}

/// Whole milliseconds, as Go's `Duration.Milliseconds` truncates them.
fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `grpc` when the service's port name contains it, else `http` (Flagger's `getProtocol`).
pub(super) fn protocol(spec: &ReleaseSpec) -> &'static str {
    if spec.service.port_name.contains("grpc") {
        "grpc"
    } else {
        "http"
    }
}

/// The port the listeners map: the numeric target port, else the service port.
fn container_port(spec: &ReleaseSpec) -> i64 {
    spec.service
        .target_port
        .as_i64()
        .filter(|p| *p > 0)
        .unwrap_or(spec.service.port)
}

/// `service.retries` as Flagger's `makeRetryPolicy` reads it: the per-retry timeout in
/// milliseconds (250 unless Go parses one), the attempts (1 unless positive) and the events
/// (`gateway-error` unless `retryOn` lists some).
pub(super) fn retries(spec: &ReleaseSpec) -> Option<(u64, i64, Vec<&str>)> {
    let retries = &spec.service.raw["retries"];
    if !retries.is_object() {
        return None;
    }
    let per_try = retries["perTryTimeout"]
        .as_str()
        .and_then(parse_duration)
        .map_or(250, millis);
    let attempts = retries["attempts"].as_i64().filter(|a| *a > 0).unwrap_or(1);
    let events: Vec<&str> = match retries["retryOn"].as_str().filter(|o| !o.is_empty()) {
        Some(on) => on.split(',').collect(),
        None => vec!["gateway-error"],
    };
    Some((per_try, attempts, events))
}

/// `service.retries` as a v1beta2 route's retry policy.
fn retry_policy(spec: &ReleaseSpec) -> Option<Value> {
    let (per_try, attempts, events) = retries(spec)?;
    Some(json!({
        "perRetryTimeout": {"unit": "ms", "value": per_try},
        "maxRetries": attempts,
        "httpRetryEvents": events,
    }))
}

/// The analysis matches' headers, each with the conditions it sets (Flagger's `makeHeaders`).
pub(super) fn headers(spec: &ReleaseSpec) -> Vec<Value> {
    let mut out = Vec::new();
    for m in &spec.analysis.matches {
        for (name, cond) in m["headers"].as_object().into_iter().flatten() {
            let mut method = Map::new();
            for c in ["exact", "prefix", "regex", "suffix"] {
                if let Some(v) = cond[c].as_str().filter(|v| !v.is_empty()) {
                    method.insert(c.to_owned(), json!(v));
                }
            }
            out.push(json!({"name": name, "match": method}));
        }
    }
    out
}

/// The VirtualNode `name`, selecting the pods whose `label` is `selected`, found at `host`.
fn virtual_node(
    spec: &ReleaseSpec,
    name: &str,
    (label, selected): (&str, String),
    host: &str,
) -> Value {
    let mut listener =
        json!({"portMapping": {"port": container_port(spec), "protocol": protocol(spec)}});
    if let Some(t) = timeout(spec) {
        listener["timeout"] = json!({"http": {"perRequest": t}});
    }
    let mut node = json!({
        "listeners": [listener],
        "serviceDiscovery": {"dns": {"hostname": host}},
        "podSelector": {"matchLabels": {label: selected}},
    });
    if matches!(
        spec.provider,
        Provider::AppMesh {
            access_log: true,
            ..
        }
    ) {
        node["logging"] = json!({"accessLog": {"file": {"path": "/dev/stdout"}}});
    }
    let backends: Vec<Value> = spec.service.raw["backends"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|b| {
            if b.starts_with("arn:aws") {
                json!({"virtualService": {"virtualServiceARN": b}})
            } else {
                json!({"virtualService": {"virtualServiceRef": {"name": b}}})
            }
        })
        .collect();
    if !backends.is_empty() {
        node["backends"] = Value::Array(backends);
    }
    json!({
        "apiVersion": API_VERSION,
        "kind": "VirtualNode",
        "metadata": metadata(spec, name, &spec.service.raw["apex"]),
        "spec": node,
    })
}

/// An HTTP route under `prefix` sending `targets` (virtual node, weight) by weight.
fn http_route(
    spec: &ReleaseSpec,
    prefix: &str,
    headers: Vec<Value>,
    targets: &[(&str, u8)],
) -> Value {
    let mut m = json!({"prefix": prefix});
    if !headers.is_empty() {
        m["headers"] = Value::Array(headers);
    }
    let targets: Vec<Value> = targets
        .iter()
        .map(|(node, weight)| json!({"virtualNodeRef": {"name": node}, "weight": weight}))
        .collect();
    let mut route = json!({"match": m, "action": {"weightedTargets": targets}});
    if let Some(t) = timeout(spec) {
        route["timeout"] = json!({"perRequest": t});
    }
    if let Some(p) = retry_policy(spec) {
        route["retryPolicy"] = p;
    }
    route
}

/// The routes' URI prefix: the first `service.match`'s, else `/` (App Mesh matches a URI
/// prefix only, in both its APIs).
pub(super) fn route_prefix(spec: &ReleaseSpec) -> &str {
    spec.service.raw["match"][0]["uri"]["prefix"]
        .as_str()
        .filter(|p| !p.is_empty())
        .unwrap_or("/")
}

/// The VirtualRouter `name` (the apex's, or the canary's when `canary` is 100) and the
/// VirtualService fronting it.
fn virtual_router(spec: &ReleaseSpec, name: &str, canary: u8) -> [Value; 2] {
    let apex = &spec.service.name;
    let (canary_node, primary_node) = (keys::canary(apex), keys::primary(apex));
    let prefix = route_prefix(spec);
    let weighted = [
        (canary_node.as_str(), canary),
        (primary_node.as_str(), 100 - canary),
    ];
    let routes = if spec.analysis.matches.is_empty() || name != apex {
        vec![json!({"name": name, "httpRoute": http_route(spec, prefix, Vec::new(), &weighted)})]
    } else {
        vec![
            json!({"name": format!("{apex}-a"), "priority": 10,
                   "httpRoute": http_route(spec, prefix, headers(spec), &weighted)}),
            json!({"name": format!("{apex}-b"), "priority": 20,
                   "httpRoute": http_route(spec, prefix, Vec::new(), &[(primary_node.as_str(), 100)])}),
        ]
    };
    let router = json!({
        "apiVersion": API_VERSION,
        "kind": "VirtualRouter",
        "metadata": metadata(spec, name, &Value::Null),
        "spec": {
            "listeners": [{"portMapping": {"port": container_port(spec), "protocol": protocol(spec)}}],
            "routes": routes,
        },
    });
    let annotations = if name == apex {
        gateway_annotations(spec)
    } else {
        Map::new()
    };
    let service = json!({
        "apiVersion": API_VERSION,
        "kind": "VirtualService",
        "metadata": metadata(spec, name, &json!({"annotations": annotations})),
        "spec": {"provider": {"virtualRouter": {"virtualRouterRef": {"name": name}}}},
    });
    [router, service]
}

/// App Mesh gateway's annotations for the apex VirtualService when `service.hosts` is set
/// (Flagger's `gatewayAnnotations`: the hosts each followed by a comma).
pub(super) fn gateway_annotations(spec: &ReleaseSpec) -> Map<String, Value> {
    let raw = &spec.service.raw;
    let domains: String = raw["hosts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .flat_map(|h| [h, ","])
        .collect();
    let mut a = Map::new();
    if domains.is_empty() {
        return a;
    }
    a.insert("gateway.appmesh.k8s.aws/expose".into(), json!("true"));
    a.insert("gateway.appmesh.k8s.aws/domain".into(), json!(domains));
    if let Some(t) = raw["timeout"].as_str().filter(|t| !t.is_empty()) {
        a.insert("gateway.appmesh.k8s.aws/timeout".into(), json!(t));
    }
    if let Some(n) = raw["retries"]["attempts"].as_i64().filter(|n| *n > 0) {
        a.insert(
            "gateway.appmesh.k8s.aws/retries".into(),
            json!(n.to_string()),
        );
    }
    a
}

impl Router for AppMesh {
    fn objects(&self, input: &RouteInput<'_>) -> Result<Vec<Value>, Error> {
        let spec = input.spec;
        let (label, _) = input.selector.ok_or_else(|| Error::Invalid {
            release: spec.key(),
            message: "the App Mesh VirtualNodes need the target's selector label".into(),
        })?;
        let apex = &spec.service.name;
        let (primary, canary) = (keys::primary(apex), keys::canary(apex));
        let host = |service: &str| format!("{service}.{}.{DNS_SUFFIX}", spec.namespace);
        // Flagger selects the pods by the target's name, whatever its selector label's value.
        let target = &spec.target.name;
        let mut out = vec![
            virtual_node(
                spec,
                &primary,
                (label, keys::primary(target)),
                &host(&primary),
            ),
            virtual_node(spec, &canary, (label, target.clone()), &host(&canary)),
        ];
        out.extend(virtual_router(spec, apex, input.weights.canary.min(100)));
        out.extend(virtual_router(spec, &canary, 100));
        Ok(out)
    }
}
