//! `contour`: an HTTPProxy `<svc>` (`projectcontour.io/v1`) whose first route splits traffic
//! between `<svc>-primary` and `<svc>-canary` by service weight, each backend setting Linkerd's
//! `l5d-dst-override` header to its Service, as Flagger's Contour router writes it
//! (flagger-spec §8): the route's prefix is the first `service.match` URI prefix (else `/`),
//! `service.timeout` becomes a response timeout with a 5 m idle timeout, `service.retries` a
//! retry policy. A/B testing puts one condition per analysis header match on the first route
//! (`exact`, or `contains` for a prefix or suffix) and a default route to the primary after it.
//! The daemon's `--ingress-class`, as Flagger's `-ingress-class`, sets the proxy's
//! `ingressClassName`.

use serde_json::{Value, json};

use super::{Error, RouteInput, Router, is_ab, metadata};
use crate::keys;

pub(crate) struct Contour;

/// The route's path prefix.
fn prefix(raw: &Value) -> String {
    raw["match"][0]["uri"]["prefix"]
        .as_str()
        .filter(|p| !p.is_empty())
        .unwrap_or("/")
        .to_owned()
}

/// The A/B conditions: one per header of each analysis match, on the route's prefix.
fn conditions(spec: &crate::release::ReleaseSpec, prefix: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for (i, m) in spec.analysis.matches.iter().enumerate() {
        for (name, cond) in m["headers"].as_object().into_iter().flatten() {
            let header = if let Some(v) = cond["prefix"].as_str().or(cond["suffix"].as_str()) {
                json!({"name": name, "contains": v})
            } else if let Some(v) = cond["exact"].as_str() {
                json!({"name": name, "exact": v})
            } else {
                return Err(format!(
                    "spec.analysis.match[{i}].headers.{name}: Contour matches a header by exact, prefix or suffix, not by regex"
                ));
            };
            out.push(json!({"prefix": prefix, "header": header}));
        }
    }
    Ok(out)
}

impl Router for Contour {
    fn objects(&self, input: &RouteInput<'_>) -> Result<Vec<Value>, Error> {
        let spec = input.spec;
        let raw = &spec.service.raw;
        let apex = &spec.service.name;
        let port = spec.service.port;
        let prefix = prefix(raw);
        let backend = |name: String, weight: u8| {
            let target = format!("{name}.{}.svc.cluster.local:{port}", spec.namespace);
            let mut b = json!({"name": name, "port": port,
                   "requestHeadersPolicy": {"set": [{"name": "l5d-dst-override", "value": target}]}});
            // Flagger's weight is `omitempty`: a weight of 0 is left out.
            if weight > 0 {
                b["weight"] = json!(weight);
            }
            b
        };
        let route = |conditions: Vec<Value>, primary: u8| {
            let mut r = json!({"conditions": conditions, "services": [
                backend(keys::primary(apex), primary), backend(keys::canary(apex), 100 - primary)]});
            if let Some(t) = raw["timeout"].as_str().filter(|t| !t.is_empty()) {
                r["timeoutPolicy"] = json!({"response": t, "idle": "5m"});
            }
            let retries = &raw["retries"];
            if retries.is_object() {
                let mut policy = json!({"count": retries["attempts"].as_i64().unwrap_or(0)});
                if let Some(t) = retries["perTryTimeout"].as_str() {
                    policy["perTryTimeout"] = json!(t);
                }
                if let Some(on) = retries["retryOn"].as_str().filter(|o| !o.is_empty()) {
                    policy["retryOn"] = json!(on.split(',').collect::<Vec<_>>());
                }
                r["retryPolicy"] = policy;
            }
            r
        };
        let w = input.weights;
        let plain = vec![json!({"prefix": prefix})];
        let routes = if is_ab(spec) {
            let matched = conditions(spec, &prefix).map_err(|message| Error::Invalid {
                release: spec.key(),
                message,
            })?;
            vec![route(matched, w.primary()), route(plain, 100)]
        } else {
            vec![route(plain, w.primary())]
        };
        let mut proxy_spec = json!({"routes": routes});
        if let Some(class) = spec.ingress_class.as_deref().filter(|c| !c.is_empty()) {
            proxy_spec["ingressClassName"] = json!(class);
        }
        Ok(vec![json!({
            "apiVersion": "projectcontour.io/v1",
            "kind": "HTTPProxy",
            "metadata": metadata(spec, apex, &raw["apex"]),
            "spec": proxy_spec,
        })])
    }
}
