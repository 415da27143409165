//! `appmesh`: App Mesh's v1beta1 objects (`appmesh.k8s.aws/v1beta1`), as Flagger's
//! `AppMeshRouter` writes them:
//!
//! - three VirtualNodes in `service.meshName`: `<svc>` and `<svc>-primary`, both found at the
//!   primary Service's DNS name (`<svc>-primary.<ns>`), and `<svc>-canary` at the canary's,
//!   each listening on the service port (`grpc` when the port name says so, else `http`), with
//!   `service.backends` as virtual-service backends by name, the Canary's
//!   `appmesh.flagger.app/accesslog: enabled` as an access log to stdout, and the apex
//!   Service's metadata;
//! - a VirtualService `<svc>.<ns>` with a virtual router `<svc>` whose one route sends requests
//!   under the first service match's URI prefix (`/` without one) to the canary and the primary
//!   by weight; with analysis matches, a route `<svc>-a` (priority 10) for requests with the
//!   matches' headers carries the weights and a route `<svc>-b` (priority 20) sends the rest to
//!   the primary. With `service.hosts`, it carries App Mesh gateway's annotations;
//! - a VirtualService `<svc>-canary.<ns>` with a virtual router `<svc>-canary` sending
//!   everything to the canary.
//!
//! `service.retries` is each route's retry policy (one retry on `gateway-error` within 250 ms
//! unless it says otherwise). v1beta1 routes have no timeouts (the Canary's parse reports
//! `service.timeout` unless the gateway annotations carry it).

use serde_json::{Value, json};

use super::{gateway_annotations, headers, protocol, retries, route_prefix};
use crate::keys;
use crate::release::ReleaseSpec;
use crate::release::spec::Provider;
use crate::routing::{Error, RouteInput, Router, metadata};

pub(crate) struct AppMeshV1beta1;

const API_VERSION: &str = "appmesh.k8s.aws/v1beta1";

fn mesh(spec: &ReleaseSpec) -> &str {
    spec.service.raw["meshName"].as_str().unwrap_or_default()
}

fn port_mapping(spec: &ReleaseSpec) -> Value {
    json!({"portMapping": {"port": spec.service.port, "protocol": protocol(spec)}})
}

/// The VirtualNode `name` found at `host`.
fn virtual_node(spec: &ReleaseSpec, name: &str, host: &str) -> Value {
    let mut node = json!({
        "meshName": mesh(spec),
        "listeners": [port_mapping(spec)],
        "serviceDiscovery": {"dns": {"hostName": host}},
    });
    let backends: Vec<Value> = spec.service.raw["backends"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|b| json!({"virtualService": {"virtualServiceName": b}}))
        .collect();
    if !backends.is_empty() {
        node["backends"] = Value::Array(backends);
    }
    if matches!(
        spec.provider,
        Provider::AppMesh {
            access_log: true,
            ..
        }
    ) {
        node["logging"] = json!({"accessLog": {"file": {"path": "/dev/stdout"}}});
    }
    json!({
        "apiVersion": API_VERSION,
        "kind": "VirtualNode",
        "metadata": metadata(spec, name, &spec.service.raw["apex"]),
        "spec": node,
    })
}

/// A route `name` under `prefix` sending `targets` (virtual node, weight) by weight.
fn route(
    spec: &ReleaseSpec,
    (name, priority): (&str, Option<u8>),
    (prefix, headers): (&str, Vec<Value>),
    targets: &[(&str, u8)],
) -> Value {
    let mut m = json!({"prefix": prefix});
    if !headers.is_empty() {
        m["headers"] = Value::Array(headers);
    }
    let targets: Vec<Value> = targets
        .iter()
        .map(|(node, weight)| json!({"virtualNodeName": node, "weight": weight}))
        .collect();
    let mut http = json!({"match": m, "action": {"weightedTargets": targets}});
    if let Some((per_try, attempts, events)) = retries(spec) {
        http["retryPolicy"] = json!({
            "perRetryTimeoutMillis": per_try,
            "maxRetries": attempts,
            "httpRetryEvents": events,
        });
    }
    let mut r = json!({"name": name, "http": http});
    if let Some(p) = priority {
        r["priority"] = json!(p);
    }
    r
}

/// The VirtualService `<router>.<ns>` whose virtual router `router` (the apex's, or the
/// canary's when `canary` is 100) sends `canary` percent to the canary.
fn virtual_service(spec: &ReleaseSpec, router: &str, canary: u8) -> Value {
    let apex = &spec.service.name;
    let (canary_node, primary_node) = (keys::canary(apex), keys::primary(apex));
    let prefix = route_prefix(spec);
    let weighted = [
        (canary_node.as_str(), canary),
        (primary_node.as_str(), 100 - canary),
    ];
    let routes = if spec.analysis.matches.is_empty() || router != apex {
        vec![route(spec, (router, None), (prefix, Vec::new()), &weighted)]
    } else {
        vec![
            route(
                spec,
                (&format!("{apex}-a"), Some(10)),
                (prefix, headers(spec)),
                &weighted,
            ),
            route(
                spec,
                (&format!("{apex}-b"), Some(20)),
                (prefix, Vec::new()),
                &[(primary_node.as_str(), 100)],
            ),
        ]
    };
    let annotations = if router == apex {
        gateway_annotations(spec)
    } else {
        serde_json::Map::new()
    };
    let name = format!("{router}.{}", spec.namespace);
    json!({
        "apiVersion": API_VERSION,
        "kind": "VirtualService",
        "metadata": metadata(spec, &name, &json!({"annotations": annotations})),
        "spec": {
            "meshName": mesh(spec),
            "virtualRouter": {"name": router, "listeners": [port_mapping(spec)]},
            "routes": routes,
        },
    })
}

impl Router for AppMeshV1beta1 {
    fn objects(&self, input: &RouteInput<'_>) -> Result<Vec<Value>, Error> {
        let spec = input.spec;
        if mesh(spec).is_empty() {
            return Err(Error::Invalid {
                release: spec.key(),
                message: "spec.service.meshName is required with the appmesh provider".into(),
            });
        }
        let apex = &spec.service.name;
        let (primary, canary) = (keys::primary(apex), keys::canary(apex));
        let host = |service: &str| format!("{service}.{}", spec.namespace);
        Ok(vec![
            virtual_node(spec, apex, &host(&primary)),
            virtual_node(spec, &primary, &host(&primary)),
            virtual_node(spec, &canary, &host(&canary)),
            virtual_service(spec, apex, input.weights.canary.min(100)),
            virtual_service(spec, &canary, 100),
        ])
    }
}
