//! `gloo`: two Upstreams (`gloo.solo.io/v1`), `<ns>-<svc>-primaryupstream-<port>` and
//! `<ns>-<svc>-canaryupstream-<port>`, each a Kubernetes upstream of the primary's or the
//! canary's Service with that Service's selector, and a RouteTable `<svc>`
//! (`gateway.solo.io/v1`) whose one route splits traffic between them by weight, inheriting the
//! path matchers of the VirtualService that delegates to it, as Flagger's Gloo router writes
//! them. A/B testing puts the analysis's header matches (exact or regex) on that route, merged
//! into one matcher as Flagger does. With `spec.upstreamRef`, both upstreams copy the settings
//! of that Upstream (read from the cluster) that Flagger copies: its `labels`, `sslConfig`,
//! `circuitBreakers`, `connectionConfig`, `loadBalancerConfig`, `useHttp2`, window sizes and
//! `httpProxyHostname`. (Flagger copies them once, when it creates an upstream, and later only
//! `loadBalancerConfig`; fledge keeps all of them in step with the referenced Upstream.)

use serde_json::{Map, Value, json};

use super::{Error, RouteInput, Router, metadata};
use crate::keys;
use crate::release::ReleaseSpec;

pub(crate) struct Gloo;

/// The name of the upstream of the primary (`which` = `primary`) or the canary.
fn upstream_name(spec: &ReleaseSpec, which: &str) -> String {
    format!(
        "{}-{}-{which}upstream-{}",
        spec.namespace, spec.service.name, spec.service.port
    )
}

/// The route's matchers: every header of the analysis's matches in one matcher. (Flagger also
/// reads a match's `method`, which its CRD does not have, so the API server drops it.)
fn matchers(spec: &ReleaseSpec) -> Result<Vec<Value>, String> {
    let mut headers = Vec::new();
    for (i, m) in spec.analysis.matches.iter().enumerate() {
        for (name, cond) in m["headers"].as_object().into_iter().flatten() {
            if let Some(regex) = cond["regex"].as_str() {
                headers.push(json!({"name": name, "value": regex, "regex": true}));
            } else if let Some(exact) = cond["exact"].as_str() {
                headers.push(json!({"name": name, "value": exact}));
            } else {
                return Err(format!(
                    "spec.analysis.match[{i}].headers.{name}: Gloo matches a header by exact value or regex, not by prefix or suffix"
                ));
            }
        }
    }
    if headers.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![json!({"headers": headers})])
}

/// The settings of a config Upstream's spec that Flagger's `getGlooUpstreamKubeService` copies
/// into the upstreams it generates (empty values left out, as its `omitempty` fields are).
fn copied_settings(config: &Value) -> Map<String, Value> {
    // `httpProxyHostName` is the key Flagger's Go type reads and writes; Gloo's own field is
    // `httpProxyHostname` (Gloo ignores the other): both are copied.
    const COPIED: [&str; 10] = [
        "labels",
        "sslConfig",
        "circuitBreakers",
        "connectionConfig",
        "loadBalancerConfig",
        "useHttp2",
        "initialStreamWindowSize",
        "initialConnectionWindowSize",
        "httpProxyHostname",
        "httpProxyHostName",
    ];
    // `labels` is a map, left out when empty; the settings are pointers, kept even when empty.
    let empty = |k: &str, v: &Value| match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_u64() == Some(0),
        Value::String(s) => s.is_empty(),
        Value::Array(_) => false,
        Value::Object(o) => o.is_empty() && k == "labels",
    };
    COPIED
        .iter()
        .filter(|k| !empty(k, &config[**k]))
        .map(|k| ((*k).to_owned(), config[*k].clone()))
        .collect()
}

impl Router for Gloo {
    fn objects(&self, input: &RouteInput<'_>) -> Result<Vec<Value>, Error> {
        let spec = input.spec;
        let invalid = |message: String| Error::Invalid {
            release: spec.key(),
            message,
        };
        let config = match (&spec.upstream, input.upstream) {
            (Some(u), None) => {
                return Err(invalid(format!(
                    "spec.upstreamRef: Upstream {}/{} is not in the cluster; create it (its settings go into the generated upstreams) or remove upstreamRef",
                    u.namespace.as_deref().unwrap_or(&spec.namespace),
                    u.name
                )));
            }
            (Some(_), Some(u)) => copied_settings(&u["spec"]),
            (None, _) => Map::new(),
        };
        let (label, value) = input
            .selector
            .ok_or_else(|| invalid("the Gloo upstreams need the target's selector label".into()))?;
        let apex = &spec.service.name;
        let upstream = |which: &str, service: String, selected: String| {
            let mut upstream_spec = config.clone();
            upstream_spec.insert(
                "kube".into(),
                json!({
                    "serviceName": service,
                    "serviceNamespace": spec.namespace,
                    "servicePort": spec.service.port,
                    "selector": {label: selected},
                }),
            );
            json!({
                "apiVersion": "gloo.solo.io/v1",
                "kind": "Upstream",
                "metadata": metadata(spec, &upstream_name(spec, which), &Value::Null),
                "spec": upstream_spec,
            })
        };
        let w = input.weights;
        let destination = |which: &str, weight: u8| {
            let mut d = json!({"destination": {"upstream": {
                "name": upstream_name(spec, which), "namespace": spec.namespace}}});
            // Flagger's weight is `omitempty`: a weight of 0 is left out.
            if weight > 0 {
                d["weight"] = json!(weight);
            }
            d
        };
        let mut route = json!({
            "inheritablePathMatchers": true,
            "routeAction": {"multi": {"destinations": [
                destination("primary", w.primary()), destination("canary", w.canary)]}},
        });
        let matchers = matchers(spec).map_err(invalid)?;
        if !matchers.is_empty() {
            route["matchers"] = Value::Array(matchers);
        }
        Ok(vec![
            upstream("primary", keys::primary(apex), keys::primary(value)),
            upstream("canary", keys::canary(apex), value.to_owned()),
            json!({
                "apiVersion": "gateway.solo.io/v1",
                "kind": "RouteTable",
                "metadata": metadata(spec, apex, &spec.service.raw["apex"]),
                "spec": {"routes": [route]},
            }),
        ])
    }
}
