//! `gatewayapi`: an HTTPRoute `<svc>` attached to `service.gatewayRefs`, whose first rule
//! splits traffic between `<svc>-primary` and `<svc>-canary` by backendRef weight
//! (flagger-spec §8). Matches come from `service.match` (default: path prefix `/`); A/B
//! testing adds the analysis match to the first rule and a default rule to the primary after
//! it; blue/green mirroring adds a RequestMirror filter; session affinity makes the canary
//! backend set a cookie and puts a rule first that sends requests carrying it to the canary.

use serde_json::{Map, Value, json};

use super::affinity::{self, Cookie, Pinning, max_age, set_cookie};
use super::{Error, RouteInput, Router, is_ab, metadata};
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

/// Istio's `service.corsPolicy` as the Gateway API's CORS filter, mapped as Flagger 1.44 maps
/// it: `allowOrigin` (plain origins; `allowOrigins`, Istio's origin patterns, has no Gateway
/// API form and is left out, with a warning when the Canary is read), the allowed methods and
/// headers, the exposed headers, `allowCredentials`, and `maxAge` in seconds.
fn cors(policy: &Value) -> Value {
    let mut out = Map::new();
    for (from, to) in [
        ("allowOrigin", "allowOrigins"),
        ("allowMethods", "allowMethods"),
        ("allowHeaders", "allowHeaders"),
        ("exposeHeaders", "exposeHeaders"),
    ] {
        if let Some(list) = policy[from].as_array().filter(|l| !l.is_empty()) {
            out.insert(to.into(), Value::Array(list.clone()));
        }
    }
    if policy["allowCredentials"] == true {
        out.insert("allowCredentials".into(), json!(true));
    }
    if let Some(age) = policy["maxAge"]
        .as_str()
        .and_then(crate::release::spec::parse_duration)
    {
        out.insert("maxAge".into(), json!(age.as_secs()));
    }
    Value::Object(out)
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
    if raw["rewrite"].is_object() {
        let mut rewrite = Map::new();
        if let Some(host) = raw["rewrite"]["authority"]
            .as_str()
            .filter(|a| !a.is_empty())
        {
            rewrite.insert("hostname".into(), json!(host));
        }
        if let Some(uri) = raw["rewrite"]["uri"].as_str().filter(|u| !u.is_empty()) {
            let path = if raw["rewrite"]["type"] == "ReplacePrefixMatch" {
                json!({"type": "ReplacePrefixMatch", "replacePrefixMatch": uri})
            } else {
                json!({"type": "ReplaceFullPath", "replaceFullPath": uri})
            };
            rewrite.insert("path".into(), path);
        }
        filters.push(json!({"type": "URLRewrite", "urlRewrite": rewrite}));
    }
    for m in raw["mirror"].as_array().into_iter().flatten() {
        filters.push(json!({"type": "RequestMirror", "requestMirror": m}));
    }
    if raw["corsPolicy"].is_object() {
        filters.push(json!({"type": "CORS", "cors": cors(&raw["corsPolicy"])}));
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

/// `matches` with their header conditions replaced by one on `cookie` (Flagger's
/// mergeMatchConditions: the cookie match's headers take the place of the service match's).
fn sticky(matches: &[Value], cookie: &Cookie) -> Vec<Value> {
    matches
        .iter()
        .map(|m| {
            let mut m = m.clone();
            m["headers"] = json!([{"name": "Cookie", "type": "RegularExpression",
                                   "value": cookie.pattern()}]);
            m
        })
        .collect()
}

/// A filter adding `Set-Cookie: value` to the responses.
fn set_cookie_filter(value: &str) -> Value {
    json!({"type": "ResponseHeaderModifier",
           "responseHeaderModifier": {"add": [{"name": "Set-Cookie", "value": value}]}})
}

/// The filter mirroring requests to the canary (with `mirrorWeight`, that share of them).
fn mirror_filter(spec: &crate::release::ReleaseSpec) -> Value {
    let mut f = json!({"type": "RequestMirror", "requestMirror": {"backendRef": {
        "group": "", "kind": "Service", "name": keys::canary(&spec.service.name),
        "port": spec.service.port}}});
    if spec.analysis.mirror_weight > 0 {
        f["requestMirror"]["percent"] = json!(spec.analysis.mirror_weight);
    }
    f
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
        let (primary, canary) = (keys::primary(apex), keys::canary(apex));
        let mut canary_backend = backend(canary.clone(), w.canary);
        let mut primary_backend = backend(primary.clone(), w.primary());
        let mut rules = Vec::new();
        // Session affinity (Flagger 1.44): the sticky rules come first, before the split.
        let pinning = (spec.strategy() == Strategy::Canary)
            .then(|| affinity::pinning(input))
            .flatten();
        let mut idle = None;
        match &pinning {
            Some(Pinning::Active {
                affinity,
                canary: canary_cookie,
                primary: primary_cookie,
                interval,
            }) => {
                canary_backend["filters"] = json!([set_cookie_filter(&set_cookie(
                    affinity,
                    canary_cookie,
                    max_age(affinity)
                ))]);
                rules.push(rule(
                    sticky(&defaults, canary_cookie),
                    vec![backend(primary.clone(), 0), backend(canary.clone(), 100)],
                    &[],
                ));
                if let Some(pc) = primary_cookie {
                    let age = i64::try_from(*interval).unwrap_or(i64::MAX);
                    primary_backend["filters"] =
                        json!([set_cookie_filter(&set_cookie(affinity, pc, age))]);
                    rules.push(rule(
                        sticky(&defaults, pc),
                        vec![backend(primary.clone(), 100), backend(canary.clone(), 0)],
                        &[],
                    ));
                }
            }
            Some(Pinning::Idle { expire }) => idle = Some(expire.clone()),
            None => {}
        }
        let mirror: Vec<Value> = w.mirror.then(|| mirror_filter(spec)).into_iter().collect();
        let weighted = vec![primary_backend, canary_backend];
        if is_ab(spec) {
            let ab = ab_matches(spec, &defaults).map_err(invalid)?;
            rules.push(rule(ab, weighted, &mirror));
            rules.push(rule(defaults, vec![backend(keys::primary(apex), 100)], &[]));
        } else {
            // With no traffic on the canary, a copy of the split first, expiring the cookie of
            // the run before on the requests that carry it.
            if let Some(cookie) = idle {
                rules.push(rule(
                    sticky(&defaults, &cookie),
                    weighted.clone(),
                    &[set_cookie_filter(&cookie.expired())],
                ));
            }
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

/// Why an HTTPRoute's traffic cannot be shifted yet, as Flagger's `GetRoutes` judges it: a
/// parent (a Gateway the route names) whose status says the route is not `Accepted`, or was
/// accepted at an older generation. `None` when every parent that reported accepted it, or none
/// reported.
#[must_use]
pub fn not_accepted(route: &Value) -> Option<String> {
    let generation = route["metadata"]["generation"].as_i64().unwrap_or(0);
    let name = route["metadata"]["name"].as_str().unwrap_or("");
    let ns = route["metadata"]["namespace"].as_str().unwrap_or("");
    for parent in route["spec"]["parentRefs"].as_array().into_iter().flatten() {
        let reported = route["status"]["parents"].as_array().into_iter().flatten();
        for status in reported.filter(|s| s["parentRef"] == *parent) {
            for c in status["conditions"].as_array().into_iter().flatten() {
                let observed = c["observedGeneration"].as_i64().unwrap_or(0);
                if c["type"] == "Accepted" && (c["status"] != "True" || observed < generation) {
                    return Some(format!(
                        "HTTPRoute {ns}/{name}: its parent {} has not accepted it (Accepted {}, observed generation {observed}, generation {generation}{}); traffic stays where it is until it does",
                        parent["name"].as_str().unwrap_or(""),
                        c["status"].as_str().unwrap_or("Unknown"),
                        c["message"]
                            .as_str()
                            .filter(|m| !m.is_empty())
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default(),
                    ));
                }
            }
        }
    }
    None
}
