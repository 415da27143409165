//! `istio`: a VirtualService `<svc>` whose first HTTP route splits traffic between
//! `<svc>-primary` and `<svc>-canary` by weight, and DestinationRules for both carrying
//! `service.trafficPolicy` (flagger-spec §8). The route takes `service.match`, `rewrite`,
//! `retries`, `headers`, `corsPolicy` and `timeout`; A/B testing puts the analysis match on
//! the first route and a default route to the primary after it; mirroring sets `mirror` and
//! `mirrorPercentage` on the first route. `appProtocol: tcp` routes on `tcp` instead.

use serde_json::{Map, Value, json};

use super::{Error, RouteInput, Router, is_ab, metadata};
use crate::keys;

pub(crate) struct Istio;

const API: &str = "networking.istio.io/v1beta1";

/// The analysis match combined with the service match: each analysis condition gets the
/// service conditions it does not override (Flagger's mergeMatchConditions).
fn merge_matches(analysis: &[Value], service: &[Value]) -> Vec<Value> {
    if service.is_empty() {
        return analysis.to_vec();
    }
    let mut out = Vec::new();
    for a in analysis {
        for s in service {
            let mut m: Map<String, Value> = s.as_object().cloned().unwrap_or_default();
            for (k, v) in a.as_object().into_iter().flatten() {
                if k == "headers" {
                    let mut h = m
                        .get("headers")
                        .and_then(Value::as_object)
                        .cloned()
                        .unwrap_or_default();
                    h.extend(v.as_object().cloned().unwrap_or_default());
                    m.insert(k.clone(), Value::Object(h));
                } else {
                    m.insert(k.clone(), v.clone());
                }
            }
            out.push(Value::Object(m));
        }
    }
    out
}

impl Router for Istio {
    fn objects(&self, input: &RouteInput<'_>) -> Result<Vec<Value>, Error> {
        let spec = input.spec;
        let svc = &spec.service;
        let raw = &svc.raw;
        let apex = &svc.name;
        let primary = keys::primary(apex);
        let canary = keys::canary(apex);
        let list = |f: &str| raw[f].as_array().cloned().unwrap_or_default();
        let delegation = raw["delegation"] == true;
        let mut hosts = list("hosts");
        let mut gateways = list("gateways");
        if delegation {
            if !hosts.is_empty() || !gateways.is_empty() {
                return Err(Error::Invalid {
                    release: spec.key(),
                    message: "spec.service.delegation cannot be combined with hosts or gateways"
                        .into(),
                });
            }
        } else {
            if !hosts.iter().any(|h| h == apex.as_str() || h == "*") {
                hosts.push(json!(apex));
            }
            if gateways.is_empty() {
                gateways.push(json!("mesh"));
            }
        }
        // The destination names its port only where Flagger's does: with port discovery and
        // an ingress gateway (or delegation).
        let gateway = raw["gateways"][0].as_str().is_some_and(|g| g != "mesh");
        let port = raw["portDiscovery"] == true && (gateway || delegation);
        let dest = |host: &str, weight: u8| {
            let mut d = json!({"destination": {"host": host}, "weight": weight});
            if port {
                d["destination"]["port"] = json!({"number": svc.port});
            }
            d
        };
        let w = input.weights;
        let weighted = json!([dest(&primary, w.primary()), dest(&canary, w.canary)]);
        let tcp = svc
            .app_protocol
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case("tcp"));
        let mut vs_spec = json!({"hosts": hosts, "gateways": gateways});
        if tcp {
            vs_spec["tcp"] = json!([{"route": weighted}]);
        } else {
            let route = |matches: Vec<Value>, route: Value| {
                let mut r = Map::new();
                if !matches.is_empty() {
                    r.insert("match".into(), Value::Array(matches));
                }
                for f in ["rewrite", "timeout", "retries", "corsPolicy", "headers"] {
                    if !raw[f].is_null() {
                        r.insert(f.into(), raw[f].clone());
                    }
                }
                // Flagger's `rewrite.type` is the Gateway API's; Istio's HTTPRewrite has no such
                // field (the API server refuses it), so it is left out, as Flagger does.
                if let Some(Value::Object(rw)) = r.get_mut("rewrite") {
                    rw.remove("type");
                }
                r.insert("route".into(), route);
                Value::Object(r)
            };
            let service_match = list("match");
            let mut first = if is_ab(spec) {
                route(
                    merge_matches(&spec.analysis.matches, &service_match),
                    weighted,
                )
            } else {
                route(service_match.clone(), weighted)
            };
            if w.mirror {
                first["mirror"] = json!({"host": canary});
                if spec.analysis.mirror_weight > 0 {
                    first["mirrorPercentage"] = json!({"value": spec.analysis.mirror_weight});
                }
            }
            let mut http = vec![first];
            if is_ab(spec) {
                // Flagger gives the default route the primary's weight of the split (0 while
                // the analysis routes matching requests to the canary); Istio sends all of a
                // route's traffic to its only destination whatever its weight.
                http.push(route(service_match, json!([dest(&primary, w.primary())])));
            }
            vs_spec["http"] = Value::Array(http);
        }
        if delegation {
            vs_spec.as_object_mut().map(|m| {
                m.remove("hosts");
                m.remove("gateways")
            });
        }
        let mut out = vec![json!({
            "apiVersion": API, "kind": "VirtualService",
            "metadata": metadata(spec, apex, &raw["apex"]),
            "spec": vs_spec,
        })];
        out.extend(destination_rules(spec));
        Ok(out)
    }
}

/// The DestinationRules of the primary and canary Services, with `service.trafficPolicy`.
fn destination_rules(spec: &crate::release::ReleaseSpec) -> Vec<Value> {
    let apex = &spec.service.name;
    let policy = &spec.service.raw["trafficPolicy"];
    [keys::primary(apex), keys::canary(apex)]
        .into_iter()
        .map(|host| {
            let mut dr = json!({"host": host});
            if !policy.is_null() {
                dr["trafficPolicy"] = policy.clone();
            }
            json!({
                "apiVersion": API, "kind": "DestinationRule",
                "metadata": metadata(spec, &host, &Value::Null),
                "spec": dr,
            })
        })
        .collect()
}
