//! `gatewayapi`: an HTTPRoute `<svc>` attached to `service.gatewayRefs`, whose first rule
//! splits traffic between `<svc>-primary` and `<svc>-canary` by backendRef weight
//! (flagger-spec §8). Matches come from `service.match` (default: path prefix `/`); A/B
//! testing adds the analysis match to the first rule and a default rule to the primary after
//! it; blue/green mirroring adds a RequestMirror filter; session affinity makes the canary
//! backend set a cookie and puts a rule first that sends requests carrying it to the canary.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use super::{Error, RouteInput, Router, cookie_value, is_ab, metadata};
use crate::keys;
use crate::release::spec::{Provider, Strategy};

pub(crate) struct GatewayApi;

/// An Istio-style `HTTPMatchRequest` as Gateway API `HTTPRouteMatch`.
fn convert_match(m: &Value) -> Value {
    let mut out = Map::new();
    let string_match = |v: &Value| -> Option<(&'static str, Value)> {
        if let Some(s) = v["exact"].as_str() {
            Some(("Exact", json!(s)))
        } else if let Some(s) = v["prefix"].as_str() {
            Some(("PathPrefix", json!(s)))
        } else {
            v["regex"].as_str().map(|s| ("RegularExpression", json!(s)))
        }
    };
    if let Some((t, v)) = string_match(&m["uri"]) {
        out.insert("path".into(), json!({"type": t, "value": v}));
    }
    let pairs = |field: &str| -> Vec<Value> {
        m[field]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(name, cond)| {
                let (t, v) = string_match(cond)?;
                let t = if t == "PathPrefix" { "Exact" } else { t };
                Some(json!({"name": name, "type": t, "value": v}))
            })
            .collect()
    };
    let headers = pairs("headers");
    if !headers.is_empty() {
        out.insert("headers".into(), Value::Array(headers));
    }
    let query = pairs("queryParams");
    if !query.is_empty() {
        out.insert("queryParams".into(), Value::Array(query));
    }
    if let Some(method) = m["method"]["exact"].as_str() {
        out.insert("method".into(), json!(method));
    }
    Value::Object(out)
}

fn default_matches(raw: &Value) -> Vec<Value> {
    let ms: Vec<Value> = raw["match"]
        .as_array()
        .into_iter()
        .flatten()
        .map(convert_match)
        .collect();
    if ms.is_empty() {
        vec![json!({"path": {"type": "PathPrefix", "value": "/"}})]
    } else {
        ms
    }
}

fn header_filter(kind: &str, h: &Value) -> Option<Value> {
    if !h.is_object() {
        return None;
    }
    let mut m = Map::new();
    for op in ["set", "add"] {
        let list: Vec<Value> = h[op]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| json!({"name": k, "value": v}))
            .collect();
        if !list.is_empty() {
            m.insert(op.into(), Value::Array(list));
        }
    }
    if let Some(r) = h["remove"].as_array().filter(|r| !r.is_empty()) {
        m.insert("remove".into(), Value::Array(r.clone()));
    }
    let field = if kind == "RequestHeaderModifier" {
        "requestHeaderModifier"
    } else {
        "responseHeaderModifier"
    };
    (!m.is_empty()).then(|| json!({"type": kind, field: m}))
}

/// The filters and timeouts every rule of the route carries (`spec.service` headers, rewrite,
/// mirrors, timeouts).
fn shared_filters(raw: &Value) -> (Vec<Value>, Map<String, Value>) {
    let mut filters: Vec<Value> = Vec::new();
    filters.extend(header_filter(
        "RequestHeaderModifier",
        &raw["headers"]["request"],
    ));
    filters.extend(header_filter(
        "ResponseHeaderModifier",
        &raw["headers"]["response"],
    ));
    if let Some(uri) = raw["rewrite"]["uri"].as_str() {
        let path = if raw["rewrite"]["type"] == "ReplacePrefixMatch" {
            json!({"type": "ReplacePrefixMatch", "replacePrefixMatch": uri})
        } else {
            json!({"type": "ReplaceFullPath", "replaceFullPath": uri})
        };
        filters.push(json!({"type": "URLRewrite", "urlRewrite": {"path": path}}));
    }
    for m in raw["mirror"].as_array().into_iter().flatten() {
        filters.push(json!({"type": "RequestMirror", "requestMirror": m}));
    }
    let mut timeouts = Map::new();
    if let Some(t) = raw["timeout"].as_str() {
        timeouts.insert("request".into(), json!(t));
    }
    if let Some(t) = raw["backendTimeout"].as_str() {
        timeouts.insert("backendRequest".into(), json!(t));
    }
    (filters, timeouts)
}

/// The `Set-Cookie` value that pins a client to the canary (`sessionAffinity`).
fn affinity_cookie(sa: &Value, name: &str, value: &str) -> String {
    let mut cookie = format!(
        "{name}={value}; Max-Age={}",
        sa["maxAge"].as_i64().unwrap_or(86400)
    );
    for (field, attr) in [
        ("domain", "Domain"),
        ("path", "Path"),
        ("sameSite", "SameSite"),
    ] {
        if let Some(v) = sa[field].as_str() {
            let _ = write!(cookie, "; {attr}={v}");
        }
    }
    for (field, attr) in [
        ("httpOnly", "HttpOnly"),
        ("partitioned", "Partitioned"),
        ("secure", "Secure"),
    ] {
        if sa[field] == true {
            let _ = write!(cookie, "; {attr}");
        }
    }
    cookie
}

/// `matches` with a header match on the affinity cookie added to each.
fn sticky(matches: &[Value], name: &str, value: &str) -> Vec<Value> {
    matches
        .iter()
        .map(|m| {
            let mut m = m.clone();
            let mut headers = m["headers"].as_array().cloned().unwrap_or_default();
            headers.push(json!({"name": "Cookie", "type": "RegularExpression",
                                "value": format!(".*{name}.*{value}.*")}));
            m["headers"] = Value::Array(headers);
            m
        })
        .collect()
}

/// The A/B matches: each of `spec.analysis.match`, converted, over each default match.
fn ab_matches(spec: &crate::release::ReleaseSpec, defaults: &[Value]) -> Vec<Value> {
    let mut ab = Vec::new();
    for a in &spec.analysis.matches {
        let a = convert_match(a);
        for d in defaults {
            let mut m = d.clone();
            for (k, v) in a.as_object().into_iter().flatten() {
                m[k] = v.clone();
            }
            ab.push(m);
        }
    }
    ab
}

impl Router for GatewayApi {
    fn objects(&self, input: &RouteInput<'_>) -> Result<Vec<Value>, Error> {
        let spec = input.spec;
        let raw = &spec.service.raw;
        let apex = &spec.service.name;
        let port = spec.service.port;
        let version = match &spec.provider {
            Provider::GatewayApi(v) => v.as_str(),
            _ => "v1",
        };
        let backend = |name: String, weight: u8| json!({"group": "", "kind": "Service", "name": name, "port": port, "weight": weight});
        let w = input.weights;
        let (filters, timeouts) = shared_filters(raw);
        let rule = |matches: Vec<Value>, backends: Vec<Value>, extra_filters: &[Value]| {
            let mut r = json!({"matches": matches, "backendRefs": backends});
            let all: Vec<Value> = filters.iter().chain(extra_filters).cloned().collect();
            if !all.is_empty() {
                r["filters"] = Value::Array(all);
            }
            if !timeouts.is_empty() {
                r["timeouts"] = Value::Object(timeouts.clone());
            }
            r
        };
        let defaults = default_matches(raw);
        let mut canary_backend = backend(keys::canary(apex), w.canary);
        let mut rules = Vec::new();
        if let Some(sa) = spec.analysis.session_affinity.as_ref()
            && spec.strategy() == Strategy::Canary
            && w.canary > 0
        {
            let name = sa["cookieName"].as_str().unwrap_or("flagger-cookie");
            let value = cookie_value(input.canary_revision);
            canary_backend["filters"] = json!([{"type": "ResponseHeaderModifier",
                "responseHeaderModifier": {"add": [{"name": "Set-Cookie", "value": affinity_cookie(sa, name, &value)}]}}]);
            rules.push(rule(
                sticky(&defaults, name, &value),
                vec![backend(keys::canary(apex), 100)],
                &[],
            ));
        }
        let mut mirror = Vec::new();
        if w.mirror {
            let mut f = json!({"type": "RequestMirror", "requestMirror": {
                "backendRef": {"group": "", "kind": "Service", "name": keys::canary(apex), "port": port}}});
            if spec.analysis.mirror_weight > 0 {
                f["requestMirror"]["percent"] = json!(spec.analysis.mirror_weight);
            }
            mirror.push(f);
        }
        let weighted = vec![backend(keys::primary(apex), w.primary()), canary_backend];
        if is_ab(spec) {
            rules.push(rule(ab_matches(spec, &defaults), weighted, &mirror));
            rules.push(rule(defaults, vec![backend(keys::primary(apex), 100)], &[]));
        } else {
            rules.push(rule(defaults, weighted, &mirror));
        }
        let mut route_spec = json!({"parentRefs": raw["gatewayRefs"], "rules": rules});
        if let Some(hosts) = raw["hosts"].as_array().filter(|h| !h.is_empty()) {
            route_spec["hostnames"] = Value::Array(hosts.clone());
        }
        Ok(vec![json!({
            "apiVersion": format!("gateway.networking.k8s.io/{version}"),
            "kind": "HTTPRoute",
            "metadata": metadata(spec, apex, &raw["apex"]),
            "spec": route_spec,
        })])
    }
}
