//! `traefik`: a weighted TraefikService `<svc>` (`traefik.io/v1alpha1`) that the user's
//! IngressRoute references, with the primary Service and, while it receives traffic, the canary
//! Service (flagger-spec §8: Flagger leaves the canary entry out at weight 0). No header
//! matching.

use serde_json::{Value, json};

use super::{RouteInput, Router, metadata};
use crate::keys;

pub(crate) struct Traefik;

impl Router for Traefik {
    fn objects(&self, input: &RouteInput<'_>) -> Result<Vec<Value>, super::Error> {
        let spec = input.spec;
        let apex = &spec.service.name;
        let w = input.weights;
        let backend = |name: String, weight: u8| {
            json!({"name": name, "namespace": spec.namespace, "port": spec.service.port,
                   "weight": weight})
        };
        let mut services = vec![backend(keys::primary(apex), w.primary())];
        if w.canary > 0 {
            services.push(backend(keys::canary(apex), w.canary));
        }
        Ok(vec![json!({
            "apiVersion": "traefik.io/v1alpha1",
            "kind": "TraefikService",
            "metadata": metadata(spec, apex, &spec.service.raw["apex"]),
            "spec": {"weighted": {"services": services}},
        })])
    }
}
