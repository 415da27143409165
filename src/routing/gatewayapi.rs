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

/// An Istio-style `HTTPMatchRequest` (`at` is its field) as a Gateway API `HTTPRouteMatch`,
/// as Flagger's `mapRouteMatches` converts it: the path by regex, exact or prefix; the method
/// by exact; headers and query parameters by exact or regex. Anything else is refused, naming
/// the field, where Flagger's router fails (a header `prefix` has no Gateway API match type).
fn convert_match(m: &Value, at: &str) -> Result<Value, String> {
    let mut out = Map::new();
    let uri = &m["uri"];
    if !uri.is_null() {
        let (t, v) = [
            ("regex", "RegularExpression"),
            ("exact", "Exact"),
            ("prefix", "PathPrefix"),
        ]
        .into_iter()
        .find_map(|(field, t)| {
            uri[field]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(|s| (t, s))
        })
        .ok_or_else(|| {
            format!("{at}.uri: the Gateway API matches a path by exact, prefix or regex")
        })?;
        out.insert("path".into(), json!({"type": t, "value": v}));
    }
    if !m["method"].is_null() {
        let method = m["method"]["exact"].as_str().ok_or_else(|| {
            format!("{at}.method: the Gateway API matches a method by exact only")
        })?;
        out.insert("method".into(), json!(method));
    }
    for (field, to) in [("headers", "headers"), ("queryParams", "queryParams")] {
        let mut list = Vec::new();
        for (name, cond) in m[field].as_object().into_iter().flatten() {
            let (t, v) = [("exact", "Exact"), ("regex", "RegularExpression")]
                .into_iter()
                .find_map(|(f, t)| cond[f].as_str().filter(|s| !s.is_empty()).map(|s| (t, s)))
                .ok_or_else(|| {
                    format!("{at}.{field}.{name}: the Gateway API matches by exact or regex only, not {}", 
                        cond.as_object().and_then(|c| c.keys().next().cloned()).unwrap_or_default())
                })?;
            list.push(json!({"name": name, "type": t, "value": v}));
        }
        if !list.is_empty() {
            out.insert(to.into(), Value::Array(list));
        }
    }
    Ok(Value::Object(out))
}

fn default_matches(raw: &Value) -> Result<Vec<Value>, String> {
    let ms = raw["match"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, m)| convert_match(m, &format!("spec.service.match[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(if ms.is_empty() {
        vec![json!({"path": {"type": "PathPrefix", "value": "/"}})]
    } else {
        ms
    })
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
fn ab_matches(
    spec: &crate::release::ReleaseSpec,
    defaults: &[Value],
) -> Result<Vec<Value>, String> {
    let mut ab = Vec::new();
    for (i, a) in spec.analysis.matches.iter().enumerate() {
        let a = convert_match(a, &format!("spec.analysis.match[{i}]"))?;
        for d in defaults {
            let mut m = d.clone();
            for (k, v) in a.as_object().into_iter().flatten() {
                m[k] = v.clone();
            }
            ab.push(m);
        }
    }
    Ok(ab)
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
        let invalid = |message| Error::Invalid {
            release: spec.key(),
            message,
        };
        let defaults = default_matches(raw).map_err(invalid)?;
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
            let ab = ab_matches(spec, &defaults).map_err(invalid)?;
            rules.push(rule(ab, weighted, &mirror));
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
