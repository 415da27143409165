//! `smi:<version>[:<mesh>]`, `linkerd` and `osm`: an SMI TrafficSplit `<svc>` of that version
//! (`split.smi-spec.io/v1alpha1`–`v1alpha3`; Linkerd's linkerd-smi reads `v1alpha1`, OSM
//! `v1alpha2`) with the canary and primary
//! Services as weighted backends, in Flagger's order (flagger-spec §8). `spec.service` is the
//! first of `service.hosts` or the apex Service. With the `istio` mesh, the Canary's gateways go
//! into Istio's SMI adapter annotation. No header matching.

use serde_json::{Value, json};

use super::{Error, RouteInput, Router, metadata};
use crate::keys;

pub(crate) struct Smi {
    version: &'static str,
    istio_mesh: bool,
}

const fn smi(version: &'static str, istio_mesh: bool) -> Smi {
    Smi {
        version,
        istio_mesh,
    }
}

/// One router per version, with and without the Istio mesh.
static ROUTERS: [Smi; 6] = [
    smi("v1alpha1", false),
    smi("v1alpha1", true),
    smi("v1alpha2", false),
    smi("v1alpha2", true),
    smi("v1alpha3", false),
    smi("v1alpha3", true),
];

/// The router for a TrafficSplit version; `None` for versions Flagger does not generate.
pub(crate) fn router(version: &str, istio_mesh: bool) -> Option<&'static Smi> {
    ROUTERS
        .iter()
        .find(|r| r.version == version && r.istio_mesh == istio_mesh)
}

impl Router for Smi {
    fn objects(&self, input: &RouteInput<'_>) -> Result<Vec<Value>, Error> {
        let spec = input.spec;
        let apex = &spec.service.name;
        let w = input.weights;
        let mut extra = spec.service.raw["apex"].clone();
        let gateways = &spec.service.raw["gateways"];
        if self.istio_mesh && gateways.as_array().is_some_and(|g| !g.is_empty()) {
            if !extra.is_object() {
                extra = json!({});
            }
            extra["annotations"]["VirtualService.v1alpha3.networking.istio.io/spec.gateways"] =
                json!(gateways.to_string());
        }
        let host = spec.service.raw["hosts"][0].as_str().unwrap_or(apex);
        // v1alpha1's weights are Kubernetes quantities, written as strings; later versions'
        // are integers.
        let weight = |w: u8| {
            if self.version == "v1alpha1" {
                json!(w.to_string())
            } else {
                json!(w)
            }
        };
        Ok(vec![json!({
            "apiVersion": format!("split.smi-spec.io/{}", self.version),
            "kind": "TrafficSplit",
            "metadata": metadata(spec, apex, &extra),
            "spec": {
                "service": host,
                "backends": [
                    {"service": keys::canary(apex), "weight": weight(w.canary)},
                    {"service": keys::primary(apex), "weight": weight(w.primary())},
                ],
            },
        })])
    }
}
