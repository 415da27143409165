//! `linkerd`: an SMI TrafficSplit `<svc>` (`split.smi-spec.io/v1alpha1`, served by
//! linkerd-smi) with the primary and canary Services as weighted backends, as Flagger
//! generates it for `provider: linkerd` (flagger-spec §8). No header matching.

use serde_json::{Value, json};

use super::{Error, RouteInput, Router, metadata};
use crate::keys;

pub(crate) struct Linkerd;

impl Router for Linkerd {
    fn objects(&self, input: &RouteInput<'_>) -> Result<Vec<Value>, Error> {
        let spec = input.spec;
        let apex = &spec.service.name;
        let w = input.weights;
        Ok(vec![json!({
            "apiVersion": "split.smi-spec.io/v1alpha1",
            "kind": "TrafficSplit",
            "metadata": metadata(spec, apex, &spec.service.raw["apex"]),
            "spec": {
                "service": apex,
                "backends": [
                    {"service": keys::primary(apex), "weight": w.primary()},
                    {"service": keys::canary(apex), "weight": w.canary},
                ],
            },
        })])
    }
}
