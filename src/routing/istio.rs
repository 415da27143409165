//! `istio`: a VirtualService `<svc>` whose first HTTP route splits traffic between
//! `<svc>-primary` and `<svc>-canary` by weight, and DestinationRules for both carrying
//! `service.trafficPolicy` (flagger-spec §8). The route takes `service.match`, `rewrite`,
//! `retries`, `headers`, `corsPolicy` and `timeout`; A/B testing puts the analysis match on
//! the first route and a default route to the primary after it; mirroring sets `mirror` and
//! `mirrorPercentage` on the first route. `appProtocol: tcp` routes on `tcp` instead.

use serde_json::{Map, Value, json};

use super::affinity::{self, Cookie, Pinning, max_age, set_cookie};
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

/// The VirtualService's hosts (the apex Service's name added) and gateways (`mesh` by
/// default); none with delegation, which refuses both.
fn hosts_and_gateways(input: &RouteInput<'_>) -> Result<(Vec<Value>, Vec<Value>), Error> {
    let spec = input.spec;
    let raw = &spec.service.raw;
    let apex = &spec.service.name;
    let list = |f: &str| raw[f].as_array().cloned().unwrap_or_default();
    let mut hosts = list("hosts");
    let mut gateways = list("gateways");
    if raw["delegation"] == true {
        if !hosts.is_empty() || !gateways.is_empty() {
            return Err(Error::Invalid {
                release: spec.key(),
                message: "spec.service.delegation cannot be combined with hosts or gateways".into(),
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
    Ok((hosts, gateways))
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
        let (hosts, gateways) = hosts_and_gateways(input)?;
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
            let mut http = if is_ab(spec) {
                // Flagger gives the default route the primary's weight of the split (0 while
                // the analysis routes matching requests to the canary); Istio sends all of a
                // route's traffic to its only destination whatever its weight.
                vec![
                    route(
                        merge_matches(&spec.analysis.matches, &service_match),
                        weighted,
                    ),
                    route(service_match, json!([dest(&primary, w.primary())])),
                ]
            } else if let Some(pinning) = affinity::pinning(input) {
                pinned(
                    &pinning,
                    &route(service_match.clone(), weighted),
                    &service_match,
                    &dest,
                    (&primary, &canary),
                )
            } else {
                vec![route(service_match, weighted)]
            };
            if w.mirror {
                http[0]["mirror"] = json!({"host": canary});
                if spec.analysis.mirror_weight > 0 {
                    http[0]["mirrorPercentage"] = json!({"value": spec.analysis.mirror_weight});
                }
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

/// The HTTP routes of a release with session affinity, before the `weighted` route (the
/// split, as without affinity), as Flagger 1.44 writes them: while the canary has traffic, a
/// route sending requests with the canary's cookie to the canary, one sending those with the
/// primary's (when named) to the primary, and the split setting each cookie on the responses
/// of its side; with no traffic on the canary, a copy of the split that expires the cookie of
/// the run before, on the requests carrying it.
fn pinned(
    pinning: &Pinning<'_>,
    weighted: &Value,
    service_match: &[Value],
    dest: &dyn Fn(&str, u8) -> Value,
    (primary, canary): (&str, &str),
) -> Vec<Value> {
    let cookie_match = |c: &Cookie| {
        merge_matches(
            &[json!({"headers": {"Cookie": {"regex": c.pattern()}}})],
            service_match,
        )
    };
    let sticky = |c: &Cookie, to_canary: bool| {
        let mut r = weighted.clone();
        r["match"] = Value::Array(cookie_match(c));
        let (p, k) = if to_canary { (0, 100) } else { (100, 0) };
        r["route"] = json!([dest(primary, p), dest(canary, k)]);
        r
    };
    match pinning {
        Pinning::Active {
            affinity,
            canary: canary_cookie,
            primary: primary_cookie,
            interval,
        } => {
            let mut split = weighted.clone();
            let set = |c: &Cookie, age: i64| json!({"response": {"add": {"Set-Cookie": set_cookie(affinity, c, age)}}});
            split["route"][1]["headers"] = set(canary_cookie, max_age(affinity));
            let mut out = vec![sticky(canary_cookie, true)];
            if let Some(pc) = primary_cookie {
                split["route"][0]["headers"] =
                    set(pc, i64::try_from(*interval).unwrap_or(i64::MAX));
                out.push(sticky(pc, false));
            }
            out.push(split);
            out
        }
        Pinning::Idle { expire } => {
            let mut first = weighted.clone();
            first["match"] = Value::Array(cookie_match(expire));
            if !first["headers"].is_object() {
                first["headers"] = json!({});
            }
            first["headers"]["response"]["add"]["Set-Cookie"] = json!(expire.expired());
            vec![first, weighted.clone()]
        }
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
