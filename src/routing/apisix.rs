//! `apisix`: a canary ApisixRoute `<routeRef>-<svc>-canary` (`apisix.apache.org/v2`), a copy of
//! the user's route (`spec.routeRef`, read from the repository) keeping its labels and
//! annotations and only the HTTP route whose one backend is the apex Service, raised to
//! priority 10000 so that it wins over the user's, its backend pointed at `<svc>-primary` and
//! a second backend to `<svc>-canary` on the same port, weighted, as Flagger's APISIX router
//! writes it. The user's route is not touched. No header matching.

use serde_json::{Value, json};

use super::{Error, RouteInput, Router, kept_annotations, metadata};
use crate::keys;

pub(crate) struct Apisix;

/// APISIX's priority for the canary route, above any the user's route sets (Flagger's).
const PRIORITY: i64 = 10_000;

impl Router for Apisix {
    fn objects(&self, input: &RouteInput<'_>) -> Result<Vec<Value>, Error> {
        let spec = input.spec;
        let invalid = |message: String| Error::Invalid {
            release: spec.key(),
            message,
        };
        let name =
            spec.route.as_ref().map(|r| r.name.clone()).ok_or_else(|| {
                invalid("spec.routeRef is required with the apisix provider".into())
            })?;
        let route = input.route.ok_or_else(|| {
            invalid(format!(
                "ApisixRoute {}/{name} (spec.routeRef) is not in the repository",
                spec.namespace
            ))
        })?;
        let apex = &spec.service.name;
        let mut http = route["spec"]["http"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|h| {
                h["backends"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|b| b["serviceName"] == apex.as_str())
            })
            .cloned()
            .ok_or_else(|| {
                invalid(format!(
                    "ApisixRoute {}/{name} (spec.routeRef) has no HTTP route with a backend {apex}",
                    spec.namespace
                ))
            })?;
        let backends = http["backends"].as_array().map_or(0, Vec::len);
        if backends != 1 {
            return Err(invalid(format!(
                "ApisixRoute {}/{name}: HTTP route {} has {backends} backends; the canary copy needs exactly one, the apex Service {apex}",
                spec.namespace, http["name"]
            )));
        }
        let w = input.weights;
        let primary = &mut http["backends"][0];
        primary["serviceName"] = json!(keys::primary(apex));
        primary["weight"] = json!(w.primary());
        let mut canary = json!({"serviceName": keys::canary(apex),
            "servicePort": primary["servicePort"], "weight": w.canary});
        for copied in ["resolveGranularity", "subset"] {
            if let Some(v) = primary.get(copied).filter(|v| v.as_str() != Some("")) {
                canary[copied] = v.clone();
            }
        }
        if let Some(b) = http["backends"].as_array_mut() {
            b.push(canary);
        }
        http["priority"] = json!(PRIORITY);
        // Flagger's typed copy always writes `websocket`, and a timeout's unset durations as
        // `0s` (which APISIX's controller reads as unset).
        if http.get("websocket").is_none() {
            http["websocket"] = json!(false);
        }
        if let Some(timeout) = http.get_mut("timeout").and_then(Value::as_object_mut) {
            for d in ["connect", "send", "read"] {
                timeout.entry(d).or_insert_with(|| json!("0s"));
            }
        }
        let mut body = route["spec"].clone();
        body["http"] = json!([http]);
        let annotations = kept_annotations(route, |_| false);
        let extra = json!({"labels": route["metadata"]["labels"], "annotations": annotations});
        Ok(vec![json!({
            "apiVersion": "apisix.apache.org/v2",
            "kind": "ApisixRoute",
            "metadata": metadata(spec, &format!("{name}-{apex}-canary"), &extra),
            "spec": body,
        })])
    }
}
