//! `kuma`: a TrafficRoute `<svc>` (`kuma.io/v1alpha1`, cluster-scoped, in the mesh the Canary's
//! `kuma.io/mesh` annotation names, else `default`) sending every source's traffic for the
//! apex Service to the primary and the canary by weight, each named by Kuma's service tag
//! `<svc>_<namespace>_svc_<port>`, as Flagger's Kuma router writes it. No header matching.

use serde_json::{Value, json};

use super::{RouteInput, Router, metadata};
use crate::keys;
use crate::release::spec::Provider;

pub(crate) struct Kuma;

/// Kuma's `kuma.io/service` tag of a Service.
fn tag(service: &str, namespace: &str, port: i64) -> Value {
    json!({"kuma.io/service": format!("{service}_{namespace}_svc_{port}")})
}

impl Router for Kuma {
    fn objects(&self, input: &RouteInput<'_>) -> Result<Vec<Value>, super::Error> {
        let spec = input.spec;
        let apex = &spec.service.name;
        let (ns, port) = (&spec.namespace, spec.service.port);
        let w = input.weights;
        let mesh = match &spec.provider {
            Provider::Kuma { mesh } => mesh.clone(),
            _ => "default".to_owned(),
        };
        let mut meta = metadata(spec, apex, &spec.service.raw["apex"]);
        // Cluster-scoped: a TrafficRoute has no namespace.
        if let Some(m) = meta.as_object_mut() {
            m.remove("namespace");
        }
        Ok(vec![json!({
            "apiVersion": "kuma.io/v1alpha1",
            "kind": "TrafficRoute",
            "metadata": meta,
            "mesh": mesh,
            "spec": {
                "sources": [{"match": {"kuma.io/service": "*"}}],
                "destinations": [{"match": tag(apex, ns, port)}],
                "conf": {"split": [
                    {"weight": w.primary(), "destination": tag(&keys::primary(apex), ns, port)},
                    {"weight": w.canary, "destination": tag(&keys::canary(apex), ns, port)},
                ]},
            },
        })])
    }
}
