//! `skipper`: a canary Ingress `<ingressRef>-canary`, a clone of the user's Ingress in which
//! each path to `<svc>` goes to `<svc>-primary` and a copy of it, added after the rule's
//! paths, to `<svc>-canary`; Skipper splits between them by the `zalando.org/backend-weights`
//! annotation, and the predicate `Weight(100)` put first in `zalando.org/skipper-predicate`
//! makes the canary Ingress's routes win over the user's (`False()` instead while the canary
//! gets nothing, which turns them off), as Flagger's Skipper router writes it (flagger-spec
//! §8). The user's Ingress is not touched. No header matching.

use serde_json::{Value, json};

use super::{Error, RouteInput, Router, kept_annotations, metadata, user_ingress};
use crate::keys;

pub(crate) struct Skipper;

const WEIGHTS: &str = "zalando.org/backend-weights";
const PREDICATE: &str = "zalando.org/skipper-predicate";

/// `raw`'s `&&`-joined predicates with `first` put first, and Flagger's own dropped.
fn predicates(raw: &str, first: &str) -> String {
    std::iter::once(first)
        .chain(
            raw.split("&&")
                .map(str::trim)
                .filter(|p| !p.is_empty() && *p != "Weight(100)" && *p != "False()"),
        )
        .collect::<Vec<_>>()
        .join(" && ")
}

/// The rules of `spec` with each path to `apex` sent to `primary`, and a copy of it to
/// `canary` added after the rule's paths; how many paths were found.
fn split_paths(spec: &mut Value, apex: &str, primary: &str, canary: &str) -> usize {
    let mut found = 0;
    for rule in spec["rules"].as_array_mut().into_iter().flatten() {
        let Some(paths) = rule["http"]["paths"].as_array_mut() else {
            continue;
        };
        let mut copies = Vec::new();
        for path in paths.iter_mut() {
            if path["backend"]["service"]["name"] == apex {
                path["backend"]["service"]["name"] = json!(primary);
                let mut copy = path.clone();
                copy["backend"]["service"]["name"] = json!(canary);
                copies.push(copy);
                found += 1;
            }
        }
        paths.extend(copies);
    }
    found
}

impl Router for Skipper {
    fn objects(&self, input: &RouteInput<'_>) -> Result<Vec<Value>, Error> {
        let spec = input.spec;
        let invalid = |message: String| Error::Invalid {
            release: spec.key(),
            message,
        };
        let (name, ingress) = user_ingress(input)?;
        let apex = &spec.service.name;
        let (primary, canary) = (keys::primary(apex), keys::canary(apex));
        let mut body = ingress["spec"].clone();
        if split_paths(&mut body, apex, &primary, &canary) == 0 {
            return Err(invalid(format!(
                "Ingress {}/{name} has no path to service {apex}; the canary Ingress needs one to split",
                spec.namespace
            )));
        }
        let mut annotations = kept_annotations(ingress, |_| false);
        let w = input.weights;
        // Go's JSON encoding of Flagger's map: keys sorted, the canary's first.
        let mut weights = std::collections::BTreeMap::new();
        weights.insert(primary, w.primary());
        weights.insert(canary, w.canary);
        annotations.insert(
            WEIGHTS.into(),
            json!(serde_json::to_string(&weights).unwrap_or_default()),
        );
        let first = if w.canary == 0 {
            "False()"
        } else {
            "Weight(100)"
        };
        let raw = annotations
            .get(PREDICATE)
            .and_then(Value::as_str)
            .unwrap_or("");
        annotations.insert(PREDICATE.into(), json!(predicates(raw, first)));
        let extra = json!({"labels": ingress["metadata"]["labels"], "annotations": annotations});
        Ok(vec![json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": metadata(spec, &keys::canary(&name), &extra),
            "spec": body,
        })])
    }
}
